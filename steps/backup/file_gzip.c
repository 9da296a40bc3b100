/*
 * file_gzip.c — file.compress and file.decompress: a file into the backup
 * artifact format (chunked gzip and a manifest, artifact.h) and back,
 * verified against the manifest while it streams; a plain .gz without one
 * is checked by its gzip CRCs only.
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

#include "artifact.h"
#include "pathparam.h"
#include "safefile.h"

/* ---- file.compress ---- */

int rune_file_compress_run(struct rune_call *c)
{
    long long level = rune_call_int(c, "level");
    long long chunk = rune_call_int(c, "chunk_size");
    if (level < 1 || level > 9)
        return rune_call_fail(c, "level %lld is out of range: use 1 (fastest) to 9 (smallest)",
                              level);
    if (chunk < (long long)RUNE_ARTIFACT_CHUNK_MIN || chunk > (long long)RUNE_ARTIFACT_CHUNK_MAX)
        return rune_call_fail(c, "chunk_size %lld is out of range (%zu to %zu bytes)", chunk,
                              RUNE_ARTIFACT_CHUNK_MIN, RUNE_ARTIFACT_CHUNK_MAX);
    char *src = rune_path_param(c, rune_call_str(c, "path"));
    const char *to = rune_call_str(c, "to");
    char *dst = to ? rune_path_param(c, to) : src ? rune_file_with_suffix(src, ".gz") : NULL;
    unsigned char *buf = malloc(RUNE_FILE_IO_BUF);
    struct rune_artifact_writer *w = NULL;
    json_t *manifest = NULL;
    int rc = RUNE_STEP_FAILED, fd = -1;
    char err[512];
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
    struct rune_artifact_meta meta = {.engine = "file",
                                      .source = src,
                                      .level = (int)level,
                                      .chunk_size = (size_t)chunk,
                                      .threads = (int)rune_call_int(c, "threads")};
    if (rune_artifact_open(&w, dst, &meta, err, sizeof err) != 0) {
        rc = rune_call_fail(c, "%s", err);
        goto out;
    }
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
    if (!rune_call_bool(c, "keep")) {
        /* the source is about to go: prove the backup reads back first */
        struct rune_artifact_check chk;
        int v = rune_artifact_verify(dst, rune_file_cancel_cb, c, &chk);
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
    long long raw = (long long)json_integer_value(json_object_get(manifest, "raw_bytes"));
    char *mpath = rune_artifact_manifest_path(dst);
    json_t *o = rune_call_outputs(c);
    rune_file_report_artifact(c, dst, json_string_value(json_object_get(manifest, "sha256")),
                              bytes);
    rune_file_set_str(o, "manifest", mpath);
    rune_file_set_int(o, "raw_bytes", raw);
    rune_file_set_int(o, "chunks", (long long)json_array_size(json_object_get(manifest, "chunks")));
    json_object_set_new(o, "ratio", json_real(bytes > 0 ? (double)raw / (double)bytes : 0));
    rune_call_log(c, "compressed %s (%lld bytes) to %s (%lld bytes, %.2fx)", src, raw, dst, bytes,
                  bytes > 0 ? (double)raw / (double)bytes : 0);
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
    rune_call_plan(c, "would compress %s to %s%s (gzip level %lld, with a manifest)%s", path,
                   to ? to : path, to ? "" : ".gz", rune_call_int(c, "level"),
                   rune_call_bool(c, "keep") ? "" : " and then remove the original");
    return RUNE_STEP_OK;
}

/* ---- file.decompress ---- */

/* A .gz without a manifest: every gzip member in turn, with zlib's CRC-32
 * and length checks (all a plain gzip file carries). */
struct plain_gz {
    int fd;
    z_stream z;
    unsigned char in[1 << 16];
    bool eof, member_done;
    int members;
};

static ssize_t plain_read(struct plain_gz *g, unsigned char *out, size_t len, char *err,
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

int rune_file_decompress_run(struct rune_call *c)
{
    char *src = rune_path_param(c, rune_call_str(c, "path"));
    const char *to = rune_call_str(c, "to");
    char *dst = to ? rune_path_param(c, to) : src ? rune_file_without_suffix(src, ".gz") : NULL;
    bool overwrite = rune_call_bool(c, "overwrite");
    unsigned char *buf = malloc(RUNE_FILE_IO_BUF);
    struct rune_artifact_reader *r = NULL;
    struct plain_gz *g = NULL;
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
        rc = rune_call_fail(c, "%s does not end in .gz: say where to write it with `to`", src);
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
        rune_call_log(c, "no manifest beside %s: checking only the gzip CRCs", src);
        g = calloc(1, sizeof *g);
        if (!g || inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
            free(g);
            g = NULL;
            rc = rune_call_fail(c,
                                "no memory for a gzip decompressor for %s: free memory on this "
                                "host and run the step again",
                                src);
            goto out;
        }
        g->fd = in;
        in = -1;
    }
    if (!rune_file_start(c, &out, dst, overwrite, st.st_mode & 0777))
        goto out;
    long long bytes = 0;
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
    }
    if (!rune_file_finish(c, &out, overwrite))
        goto out;
    json_t *o = rune_call_outputs(c);
    rune_file_set_str(o, "path", dst);
    rune_file_set_int(o, "bytes", bytes);
    rune_file_set_str(o, "verified", r ? "manifest" : "gzip-crc");
    rc = RUNE_STEP_OK;
out:
    if (in >= 0)
        close(in);
    rune_safe_file_abort(&out);
    rune_artifact_reader_close(r);
    if (g) {
        if (g->fd >= 0)
            close(g->fd);
        inflateEnd(&g->z);
        free(g);
    }
    free(buf);
    free(src);
    free(dst);
    return rc;
}

int rune_file_decompress_plan(struct rune_call *c)
{
    const char *path = rune_call_str(c, "path"), *to = rune_call_str(c, "to");
    rune_call_plan(c, "would verify %s against its manifest and decompress it to %s", path,
                   to ? to : "the same name without .gz");
    return RUNE_STEP_OK;
}
