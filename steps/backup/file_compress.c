/*
 * file_compress.c — file.compress and file.decompress: a file into the
 * backup artifact format (chunks of gzip or zstd and a manifest,
 * artifact.h) and back, verified against the manifest while it streams; a
 * plain .gz or .zst without one (another tool's) is checked by its own
 * CRCs or checksums only.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "artifact.h"
#include "pathparam.h"
#include "safefile.h"

/* ---- file.compress ---- */

/* The writer's progress (the bytes in the backup so far) against the
 * file's size. */
struct compressing {
    struct rune_call *c;
    long long size;
};

static void compress_progress(void *ctx, unsigned long long done, unsigned long long given)
{
    struct compressing *p = ctx;
    (void)given;
    rune_file_progress(p->c, (long long)done, p->size);
}

int rune_file_compress_run(struct rune_call *c)
{
    const char *comp = rune_call_str(c, "compression");
    long long level = rune_call_int(c, "level");
    long long chunk = rune_call_int(c, "chunk_size");
    char err[512];
    if (rune_artifact_level_check(comp, level, err, sizeof err) != 0)
        return rune_call_fail(c, "%s", err);
    if (chunk < (long long)RUNE_ARTIFACT_CHUNK_MIN || chunk > (long long)RUNE_ARTIFACT_CHUNK_MAX)
        return rune_call_fail(c, "chunk_size %lld is out of range (%zu to %zu bytes)", chunk,
                              RUNE_ARTIFACT_CHUNK_MIN, RUNE_ARTIFACT_CHUNK_MAX);
    char *src = rune_path_param(c, rune_call_str(c, "path"));
    const char *to = rune_call_str(c, "to");
    char *dst = to    ? rune_path_param(c, to)
                : src ? rune_file_with_suffix(src, rune_artifact_suffix(comp))
                      : NULL;
    unsigned char *buf = malloc(RUNE_FILE_IO_BUF);
    struct rune_artifact_writer *w = NULL;
    json_t *manifest = NULL;
    int rc = RUNE_STEP_FAILED, fd = -1;
    struct stat st;
    if (!src || !dst || !buf) {
        rc = rune_call_fail(c,
                            "no memory to start compressing %s (paths and a %zu-byte buffer): free "
                            "memory on this host and run the step again",
                            rune_call_str(c, "path"), RUNE_FILE_IO_BUF);
        goto out;
    }
    if ((fd = rune_file_open_input(c, src, &st)) < 0)
        goto out;
    /* progress: what is compressed into the backup, not what was handed
     * over (the workers hold up to 2 chunks each) */
    struct compressing prog = {c, (long long)st.st_size};
    struct rune_artifact_meta meta = {.engine = "file",
                                      .source = src,
                                      .compression = comp,
                                      .level = (int)level,
                                      .chunk_size = (size_t)chunk,
                                      .threads = (int)rune_call_int(c, "threads"),
                                      .progress = compress_progress,
                                      .progress_ctx = &prog};
    if (rune_artifact_open(&w, dst, &meta, err, sizeof err) != 0) {
        rc = rune_call_fail(c, "%s", err);
        goto out;
    }
    rune_call_progress_phase(c, "compressing");
    rune_file_progress(c, 0, (long long)st.st_size);
    for (;;) {
        ssize_t n = rune_file_read_next(c, fd, buf, RUNE_FILE_IO_BUF, src,
                                        "the partial backup was removed", &rc);
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        if (rune_artifact_write(w, buf, (size_t)n, err, sizeof err) != 0) {
            rc = rune_call_fail(c, "%s; the partial backup was removed", err);
            goto out;
        }
    }
    manifest = rune_artifact_commit(w, NULL, err, sizeof err);
    w = NULL;
    if (!manifest) {
        rc = rune_call_fail(c, "%s; nothing was left behind", err);
        goto out;
    }
    long long raw = (long long)json_integer_value(json_object_get(manifest, "raw_bytes"));
    rune_file_progress(c, raw, raw); /* all of it, had the file changed size meanwhile */
    if (!rune_call_bool(c, "keep")) {
        /* the source is about to go: prove the backup reads back first */
        struct rune_artifact_check chk;
        struct rune_artifact_watch watch = {rune_file_cancel_cb, rune_file_progress_cb, c};
        rune_call_progress_phase(c, "verifying");
        int v = rune_artifact_verify(dst, &watch, &chk);
        bool stopped = chk.cancelled;
        rune_artifact_check_release(&chk);
        if (v != 0 && stopped) {
            rc = rune_file_cancelled(
                c, "the new backup was not verified; it and the original were kept");
            goto out;
        }
        if (v != 0) {
            rc = rune_call_fail(c, "%s was written but does not verify (%s); %s was kept", dst,
                                chk.reason, src);
            goto out;
        }
        if (unlink(src) != 0) {
            rc = rune_call_fail(c, "%s is compressed to %s but could not be removed: %s", src, dst,
                                strerror(errno));
            goto out;
        }
    }
    long long bytes = (long long)json_integer_value(json_object_get(manifest, "bytes"));
    char *mpath = rune_artifact_manifest_path(dst);
    json_t *o = rune_call_outputs(c);
    rune_file_report_artifact(c, dst, json_string_value(json_object_get(manifest, "sha256")),
                              bytes);
    rune_file_set_str(o, "manifest", mpath);
    rune_file_set_int(o, "raw_bytes", raw);
    rune_file_set_int(o, "chunks", (long long)json_array_size(json_object_get(manifest, "chunks")));
    json_object_set_new(o, "ratio", json_real(bytes > 0 ? (double)raw / (double)bytes : 0));
    const char *read_with = rune_artifact_read_with(manifest);
    json_object_set(o, "compression", json_object_get(manifest, "compression"));
    rune_file_set_str(o, "read_with", read_with);
    rune_call_log(c, "compressed %s (%lld bytes) to %s (%lld bytes, %.2fx; without rune: %s %s)",
                  src, raw, dst, bytes, bytes > 0 ? (double)raw / (double)bytes : 0, read_with,
                  dst);
    free(mpath);
    rc = RUNE_STEP_OK;
out:
    rune_artifact_abort(w);
    json_decref(manifest);
    if (fd >= 0)
        close(fd);
    free(buf);
    free(src);
    free(dst);
    return rc;
}

int rune_file_compress_plan(struct rune_call *c)
{
    const char *path = rune_call_str(c, "path"), *to = rune_call_str(c, "to");
    const char *comp = rune_call_str(c, "compression");
    const char *ext = rune_artifact_suffix(comp);
    long long level = rune_call_int(c, "level");
    char lv[32] = "default level";
    if (level)
        snprintf(lv, sizeof lv, "level %lld", level);
    rune_call_plan(c, "would compress %s to %s%s (%s %s, with a manifest)%s", path, to ? to : path,
                   to ? "" : ext, comp ? comp : "gzip", lv,
                   rune_call_bool(c, "keep") ? "" : " and then remove the original");
    return RUNE_STEP_OK;
}

/* ---- file.decompress ---- */

/* A .gz or .zst without a manifest (another tool's file): every gzip member
 * or zstd frame in turn, with the checks the stream itself carries: gzip's
 * CRC-32 and length (zlib), zstd's content checksum (libzstd; the zstd
 * command writes one into every frame unless told not to). */
struct plain {
    int fd;
    bool zstd;
    z_stream z;
    ZSTD_DCtx *zd;
    size_t zhint; /* ZSTD_decompressStream's last answer: 0 between frames */
    unsigned char in[1 << 16];
    size_t in_pos, in_len; /* zstd's view of `in` */
    bool eof, member_done;
    int members;
    long long read; /* bytes of the file read so far: the progress of a plain file */
};

static ssize_t plain_gz_read(struct plain *g, unsigned char *out, size_t len, char *err,
                             size_t errlen)
{
    g->z.next_out = out;
    g->z.avail_out = (uInt)len;
    while (g->z.avail_out > 0) {
        if (g->z.avail_in == 0 && !g->eof) {
            ssize_t n = rune_read_full(g->fd, g->in, sizeof g->in);
            if (n < 0) {
                snprintf(err, errlen, "read error: %s", strerror(errno));
                return -1;
            }
            g->eof = n == 0;
            g->read += n;
            g->z.next_in = g->in;
            g->z.avail_in = (uInt)n;
        }
        if (g->member_done) {
            if (g->z.avail_in == 0 && g->eof)
                break;
            if (g->z.avail_in == 0)
                continue;
            inflateReset(&g->z);
            g->member_done = false;
        }
        int rc = inflate(&g->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            g->member_done = true;
            g->members++;
        } else if (rc == Z_BUF_ERROR && g->z.avail_in == 0 && g->eof) {
            snprintf(err, errlen, "the file ends inside gzip member %d (truncated)",
                     g->members + 1);
            return -1;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            snprintf(err, errlen, "gzip member %d is damaged (%s)", g->members + 1,
                     g->z.msg ? g->z.msg : "zlib error");
            return -1;
        }
    }
    return (ssize_t)(len - g->z.avail_out);
}

static ssize_t plain_zstd_read(struct plain *g, unsigned char *out, size_t len, char *err,
                               size_t errlen)
{
    ZSTD_outBuffer ob = {out, len, 0};
    while (ob.pos < ob.size) {
        if (g->in_pos == g->in_len && !g->eof) {
            ssize_t n = rune_read_full(g->fd, g->in, sizeof g->in);
            if (n < 0) {
                snprintf(err, errlen, "read error: %s", strerror(errno));
                return -1;
            }
            g->eof = n == 0;
            g->read += n;
            g->in_pos = 0;
            g->in_len = (size_t)n;
        }
        if (g->in_pos == g->in_len && g->eof) {
            if (g->zhint != 0) {
                snprintf(err, errlen, "the file ends inside zstd frame %d (truncated)",
                         g->members + 1);
                return -1;
            }
            break;
        }
        ZSTD_inBuffer ib = {g->in, g->in_len, g->in_pos};
        size_t r = ZSTD_decompressStream(g->zd, &ob, &ib);
        g->in_pos = ib.pos;
        if (ZSTD_isError(r)) {
            snprintf(err, errlen, "zstd frame %d is damaged (%s)", g->members + 1,
                     ZSTD_getErrorName(r));
            return -1;
        }
        if (r == 0 && g->zhint != 0)
            g->members++;
        g->zhint = r;
    }
    return (ssize_t)ob.pos;
}

static ssize_t plain_read(struct plain *g, unsigned char *out, size_t len, char *err, size_t errlen)
{
    return g->zstd ? plain_zstd_read(g, out, len, err, errlen)
                   : plain_gz_read(g, out, len, err, errlen);
}

/* A reader of the plain file open on fd (taken over): zstd when it starts
 * with zstd's magic number, else gzip. NULL when out of memory. */
static struct plain *plain_open(int fd)
{
    struct plain *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    unsigned char head[4] = {0};
    g->zstd = pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head &&
              ((unsigned)head[0] | (unsigned)head[1] << 8 | (unsigned)head[2] << 16 |
               (unsigned)head[3] << 24) == ZSTD_MAGICNUMBER;
    g->fd = fd;
    g->zhint = 1; /* a frame is due: an empty file is cut short */
    bool ok =
        g->zstd ? (g->zd = ZSTD_createDCtx()) != NULL : inflateInit2(&g->z, 16 + MAX_WBITS) == Z_OK;
    if (!ok) {
        free(g);
        return NULL;
    }
    return g;
}

static void plain_close(struct plain *g)
{
    if (!g)
        return;
    if (g->fd >= 0)
        close(g->fd);
    if (g->zstd)
        ZSTD_freeDCtx(g->zd);
    else
        inflateEnd(&g->z);
    free(g);
}

/* p without the suffix of a backup's data file (.gz, .zst), or NULL. */
static char *without_data_suffix(const char *p)
{
    char *s = rune_file_without_suffix(p, rune_artifact_suffix("gzip"));
    return s ? s : rune_file_without_suffix(p, rune_artifact_suffix("zstd"));
}

int rune_file_decompress_run(struct rune_call *c)
{
    char *src = rune_path_param(c, rune_call_str(c, "path"));
    const char *to = rune_call_str(c, "to");
    char *dst = to ? rune_path_param(c, to) : src ? without_data_suffix(src) : NULL;
    bool overwrite = rune_call_bool(c, "overwrite");
    unsigned char *buf = malloc(RUNE_FILE_IO_BUF);
    struct rune_artifact_reader *r = NULL;
    struct plain *g = NULL;
    struct rune_safe_file out = {.fd = -1};
    int rc = RUNE_STEP_FAILED;
    char err[512];
    struct stat st;
    int in = -1; /* the source, opened once (trust.h) */
    if (!src || !buf) {
        rc = rune_call_fail(c,
                            "no memory to start decompressing %s (paths and a %zu-byte buffer): "
                            "free memory on this host and run the step again",
                            rune_call_str(c, "path"), RUNE_FILE_IO_BUF);
        goto out;
    }
    if (!dst) {
        rc = rune_call_fail(c, "%s ends in neither .gz nor .zst: say where to write it with `to`",
                            src);
        goto out;
    }
    /* the mode comes from the file opened, never from a stat before it */
    if ((in = rune_file_open_input(c, src, &st)) < 0)
        goto out;
    if (rune_file_occupied(c, dst, overwrite))
        goto out;
    char *mpath = rune_artifact_manifest_path(src);
    bool has_manifest = mpath && rune_file_exists(mpath);
    free(mpath);
    if (has_manifest) {
        if (rune_artifact_reader_open(&r, src, err, sizeof err) != 0) {
            rc = rune_call_fail(c, "%s; nothing was written", err);
            goto out;
        }
    } else {
        if (!(g = plain_open(in))) {
            rc = rune_call_fail(c,
                                "no memory for a decompressor for %s: free memory on this "
                                "host and run the step again",
                                src);
            goto out;
        }
        in = -1;
        rune_call_log(c, "no manifest beside %s: checking only the %s", src,
                      g->zstd ? "zstd checksums" : "gzip CRCs");
    }
    if (!rune_file_start(c, &out, dst, overwrite, st.st_mode & 0777))
        goto out;
    /* progress as the size hook measures the work: a backup's raw bytes
     * written, of its manifest's; a plain file's own bytes read, of its
     * size (what it decompresses to is not known before the end) */
    long long bytes = 0, total = r ? (long long)json_integer_value(json_object_get(
                                         rune_artifact_reader_manifest(r), "raw_bytes"))
                                   : (long long)st.st_size;
    rune_file_progress(c, 0, total);
    for (;;) {
        if (rune_call_cancelled(c)) {
            rc = rune_file_cancelled(c, "the partial output was removed");
            goto out;
        }
        ssize_t n = r ? rune_artifact_read(r, buf, RUNE_FILE_IO_BUF, err, sizeof err)
                      : plain_read(g, buf, RUNE_FILE_IO_BUF, err, sizeof err);
        if (n < 0) {
            rc = rune_call_fail(c, "%s: %s; nothing was written", src, err);
            goto out;
        }
        if (n == 0)
            break;
        if (rune_write_all(out.fd, buf, (size_t)n) != 0) {
            rc =
                rune_call_fail(c, "cannot write %s: %s; nothing was written", dst, strerror(errno));
            goto out;
        }
        bytes += n;
        rune_file_progress(c, r ? bytes : g->read, total);
    }
    if (!rune_file_finish(c, &out, overwrite))
        goto out;
    json_t *o = rune_call_outputs(c);
    rune_file_set_str(o, "path", dst);
    rune_file_set_int(o, "bytes", bytes);
    rune_file_set_str(o, "verified", r ? "manifest" : g->zstd ? "zstd-checksum" : "gzip-crc");
    rc = RUNE_STEP_OK;
out:
    if (in >= 0)
        close(in);
    rune_safe_file_abort(&out);
    rune_artifact_reader_close(r);
    plain_close(g);
    free(buf);
    free(src);
    free(dst);
    return rc;
}

int rune_file_decompress_plan(struct rune_call *c)
{
    const char *path = rune_call_str(c, "path"), *to = rune_call_str(c, "to");
    rune_call_plan(c, "would verify %s against its manifest and decompress it to %s", path,
                   to ? to : "the same name without .gz or .zst");
    return RUNE_STEP_OK;
}
