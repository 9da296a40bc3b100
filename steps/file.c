/*
 * file.c — the file.* family: checksums, compression into the backup
 * artifact format and back, verified copies, and authenticated encryption.
 *
 * Every file a step produces is written under a temp name beside its
 * target, fsynced and renamed into place (safefile.h), so a
 * failure or a crash never leaves a half-written file under the final
 * name, and nothing is replaced unless the runbook says `overwrite: true`.
 *
 * Encrypted files (file.encrypt / file.decrypt) have their own small
 * format, described above enc_header_build and in docs/backups.md:
 * PBKDF2-HMAC-SHA256 from the key, AES-256-GCM in 64 KiB chunks, each with
 * its own tag, the header authenticated with every chunk, and the last
 * chunk marked, so any change, reordering or truncation is detected and
 * decrypt writes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <zlib.h>

#include "artifact.h"
#include "digest.h"
#include "pathparam.h"
#include "safefile.h"
#include "shareddir.h"
#include "step.h"

#define IO_BUF ((size_t)1 << 20)

/* ---- shared by the family ---- */

static char *with_suffix(const char *p, const char *suffix)
{
    size_t len = strlen(p) + strlen(suffix) + 1;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s%s", p, suffix);
    return s;
}

/* p without `suffix`, or NULL when p does not end with it (or is only it). */
static char *without_suffix(const char *p, const char *suffix)
{
    size_t lp = strlen(p), ls = strlen(suffix);
    if (lp <= ls || strcmp(p + lp - ls, suffix) != 0 || p[lp - ls - 1] == '/')
        return NULL;
    return strndup(p, lp - ls);
}

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* Opens a regular file for reading, or fails with what to check. */
static int open_input(struct rune_call *c, const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            rune_call_fail(c, "%s does not exist: check the path", path);
        else
            rune_call_fail(c, "cannot open %s: %s", path, strerror(e));
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        rune_call_fail(c, "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    return fd;
}

static int read_error(struct rune_call *c, const char *path)
{
    return rune_call_fail(c, "cannot read %s: %s", path, strerror(errno));
}

/* Stops a long loop: the failure says what was left behind. */
static int cancelled(struct rune_call *c, const char *what)
{
    int st = rune_call_cancel_status(c);
    rune_call_fail(c, "%s: %s", st == RUNE_STEP_TIMEOUT ? "timed out" : "cancelled", what);
    return st;
}

static bool cancel_cb(void *ctx)
{
    return rune_call_cancelled(ctx);
}

static void set_str(json_t *o, const char *key, const char *v)
{
    json_object_set_new(o, key, v ? json_string(v) : json_null());
}

static void set_int(json_t *o, const char *key, long long v)
{
    json_object_set_new(o, key, json_integer((json_int_t)v));
}

/* ---- file.checksum ---- */

static const EVP_MD *digest_named(const char *name)
{
    if (!strcmp(name, "sha256"))
        return EVP_sha256();
    if (!strcmp(name, "sha512"))
        return EVP_sha512();
    return NULL;
}

/* The expected digest as lowercase hex without spaces; NULL if it is not
 * hex of the right length. Malloc'd. */
static char *normalise_hex(const char *s, size_t want)
{
    char *out = malloc(strlen(s) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (const char *p = s; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n')
            continue;
        char ch = *p >= 'A' && *p <= 'F' ? (char)(*p - 'A' + 'a') : *p;
        if (!strchr("0123456789abcdef", ch) || !ch) {
            free(out);
            return NULL;
        }
        out[n++] = ch;
    }
    out[n] = '\0';
    if (n != want) {
        free(out);
        return NULL;
    }
    return out;
}

static int checksum_run(struct rune_call *c)
{
    const char *algo = rune_call_str(c, "algorithm");
    const EVP_MD *md = digest_named(algo);
    if (!md)
        return rune_call_fail(c, "algorithm \"%s\" is not supported: use sha256 or sha512", algo);
    size_t hexlen = 2 * (size_t)EVP_MD_get_size(md);
    const char *expect_text = rune_call_str(c, "expect");
    char *expect = NULL;
    if (expect_text && *expect_text) {
        expect = normalise_hex(expect_text, hexlen);
        if (!expect)
            return rune_call_fail(c, "expect: \"%.80s\" is not a %s digest (%zu hex digits)",
                                  expect_text, algo, hexlen);
    }
    char *path = rune_path_param(c, rune_call_str(c, "path"));
    struct stat st;
    int fd = path ? open_input(c, path, &st) : -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(IO_BUF);
    int rc = RUNE_STEP_FAILED;
    if (fd < 0 && path)
        goto out; /* open_input said why */
    if (!path || !ctx || !buf || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
        rc = rune_call_fail(c,
                            "no memory to start the %s of %s (a %zu-byte buffer): free memory on "
                            "this host and run the step again",
                            algo, rune_call_str(c, "path"), IO_BUF);
        goto out;
    }
    long long bytes = 0;
    for (;;) {
        if (rune_call_cancelled(c)) {
            rc = cancelled(c, "the checksum was not finished");
            goto out;
        }
        ssize_t n = rune_read_full(fd, buf, IO_BUF);
        if (n < 0) {
            rc = read_error(c, path);
            goto out;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        bytes += n;
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    EVP_DigestFinal_ex(ctx, d, &dn);
    char digest[2 * EVP_MAX_MD_SIZE + 1];
    rune_hex(d, dn, digest);
    json_t *o = rune_call_outputs(c);
    set_str(o, "path", path);
    set_str(o, "algorithm", algo);
    set_str(o, "digest", digest);
    set_str(o, algo, digest);
    set_int(o, "bytes", bytes);
    json_object_set_new(o, "matched", expect ? json_boolean(!strcmp(expect, digest)) : json_null());
    if (expect && strcmp(expect, digest) != 0) {
        rc = rune_call_fail(c,
                            "checksum mismatch for %s: %s is %s, expected %s — the file is not "
                            "the one the checksum was taken of; fetch it again, or check where "
                            "the expected value came from",
                            path, algo, digest, expect);
        goto out;
    }
    rc = RUNE_STEP_OK;
out:
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(ctx);
    free(buf);
    free(expect);
    free(path);
    return rc;
}

static int checksum_plan(struct rune_call *c)
{
    const char *expect = rune_call_str(c, "expect");
    rune_call_plan(c, "would compute the %s of %s%s%s", rune_call_str(c, "algorithm"),
                   rune_call_str(c, "path"), expect ? " and compare it with " : "",
                   expect ? expect : "");
    return RUNE_STEP_OK;
}

/* ---- file.compress ---- */

static int compress_run(struct rune_call *c)
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
    char *dst = to ? rune_path_param(c, to) : src ? with_suffix(src, ".gz") : NULL;
    unsigned char *buf = malloc(IO_BUF);
    struct rune_artifact_writer *w = NULL;
    json_t *manifest = NULL;
    int rc = RUNE_STEP_FAILED, fd = -1;
    char err[512];
    struct stat st;
    if (!src || !dst || !buf) {
        rc = rune_call_fail(c,
                            "no memory to start compressing %s (paths and a %zu-byte buffer): free "
                            "memory on this host and run the step again",
                            rune_call_str(c, "path"), IO_BUF);
        goto out;
    }
    if ((fd = open_input(c, src, &st)) < 0)
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
        if (rune_call_cancelled(c)) {
            rc = cancelled(c, "the partial backup was removed");
            goto out;
        }
        ssize_t n = rune_read_full(fd, buf, IO_BUF);
        if (n < 0) {
            rc = read_error(c, src);
            goto out;
        }
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
        int v = rune_artifact_verify(dst, cancel_cb, c, &chk);
        bool stopped = chk.cancelled;
        rune_artifact_check_release(&chk);
        if (v != 0 && stopped) {
            rc = cancelled(c, "the new backup was not verified; it and the original were kept");
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
    set_str(o, "path", dst);
    set_str(o, "manifest", mpath);
    set_int(o, "bytes", bytes);
    set_int(o, "raw_bytes", raw);
    json_object_set(o, "sha256", json_object_get(manifest, "sha256"));
    set_int(o, "chunks", (long long)json_array_size(json_object_get(manifest, "chunks")));
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

static int compress_plan(struct rune_call *c)
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

static int decompress_run(struct rune_call *c)
{
    char *src = rune_path_param(c, rune_call_str(c, "path"));
    const char *to = rune_call_str(c, "to");
    char *dst = to ? rune_path_param(c, to) : src ? without_suffix(src, ".gz") : NULL;
    bool overwrite = rune_call_bool(c, "overwrite");
    unsigned char *buf = malloc(IO_BUF);
    struct rune_artifact_reader *r = NULL;
    struct plain_gz *g = NULL;
    struct rune_safe_file out = {.fd = -1};
    int rc = RUNE_STEP_FAILED;
    char err[512];
    struct stat st;
    if (!src || !buf) {
        rc = rune_call_fail(c,
                            "no memory to start decompressing %s (paths and a %zu-byte buffer): "
                            "free memory on this host and run the step again",
                            rune_call_str(c, "path"), IO_BUF);
        goto out;
    }
    if (!dst) {
        rc = rune_call_fail(c, "%s does not end in .gz: say where to write it with `to`", src);
        goto out;
    }
    if (stat(src, &st) != 0) {
        rc = rune_call_fail(c, "%s does not exist: check the path", src);
        goto out;
    }
    if (!overwrite && exists(dst)) {
        rc = rune_call_fail(c,
                            "%s already exists: remove it, choose another `to`, or set "
                            "overwrite: true",
                            dst);
        goto out;
    }
    char *mpath = rune_artifact_manifest_path(src);
    bool has_manifest = mpath && exists(mpath);
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
        g->fd = open(src, O_RDONLY | O_CLOEXEC);
        if (g->fd < 0) {
            rc = rune_call_fail(c, "cannot open %s: %s", src, strerror(errno));
            goto out;
        }
    }
    if (rune_safe_file_open(&out, dst, overwrite, st.st_mode & 0777, err, sizeof err) != 0) {
        rc = rune_call_fail(c, "%s", err);
        goto out;
    }
    long long bytes = 0;
    for (;;) {
        if (rune_call_cancelled(c)) {
            rc = cancelled(c, "the partial output was removed");
            goto out;
        }
        ssize_t n = r ? rune_artifact_read(r, buf, IO_BUF, err, sizeof err)
                      : plain_read(g, buf, IO_BUF, err, sizeof err);
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
    if (rune_safe_file_commit(&out, overwrite, err, sizeof err) != 0) {
        rc = rune_call_fail(c, "%s", err);
        goto out;
    }
    json_t *o = rune_call_outputs(c);
    set_str(o, "path", dst);
    set_int(o, "bytes", bytes);
    set_str(o, "verified", r ? "manifest" : "gzip-crc");
    rc = RUNE_STEP_OK;
out:
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

static int decompress_plan(struct rune_call *c)
{
    const char *path = rune_call_str(c, "path"), *to = rune_call_str(c, "to");
    rune_call_plan(c, "would verify %s against its manifest and decompress it to %s", path,
                   to ? to : "the same name without .gz");
    return RUNE_STEP_OK;
}

/* ---- file.copy ---- */

/* SHA-256 of what is in fd from the start, read back. */
static int sha_of_fd(struct rune_call *c, int fd, unsigned char *buf, char out[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return -1;
    }
    off_t off = 0;
    int rc = 0;
    for (;;) {
        if (rune_call_cancelled(c)) {
            rc = -1;
            break;
        }
        ssize_t n = pread(fd, buf, IO_BUF, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        off += n;
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    EVP_DigestFinal_ex(ctx, d, &dn);
    rune_hex(d, dn, out);
    EVP_MD_CTX_free(ctx);
    return rc;
}

static int copy_run(struct rune_call *c)
{
    char *src = rune_path_param(c, rune_call_str(c, "from"));
    char *dst = rune_path_param(c, rune_call_str(c, "to"));
    bool overwrite = rune_call_bool(c, "overwrite");
    unsigned char *buf = malloc(IO_BUF);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    struct rune_safe_file out = {.fd = -1};
    int rc = RUNE_STEP_FAILED, fd = -1;
    char err[512];
    struct stat st, dst_st;
    if (!src || !dst || !buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = rune_call_fail(c,
                            "no memory to start copying %s to %s (paths, a %zu-byte buffer and a "
                            "SHA-256): free memory on this host and run the step again",
                            rune_call_str(c, "from"), rune_call_str(c, "to"), IO_BUF);
        goto out;
    }
    if ((fd = open_input(c, src, &st)) < 0)
        goto out;
    if (stat(dst, &dst_st) == 0 && S_ISDIR(dst_st.st_mode)) {
        /* a directory may be reached through a symlink, unless another
         * user planted that link in a shared directory (a link to a file
         * is never followed: the copy replaces it, or is refused) */
        if (rune_link_check(dst, err, sizeof err) != 0) {
            rc = rune_call_fail(c, "%s; nothing was copied", err);
            goto out;
        }
        const char *slash = strrchr(src, '/');
        size_t len = strlen(dst) + strlen(slash) + 1;
        char *inside = malloc(len);
        if (!inside) {
            rc = rune_call_fail(c,
                                "no memory for the name of %s inside %s: free memory on this host "
                                "and run the step again",
                                slash + 1, dst);
            goto out;
        }
        snprintf(inside, len, "%s%s", dst, slash);
        free(dst);
        dst = inside;
    }
    if (stat(dst, &dst_st) == 0 && dst_st.st_dev == st.st_dev && dst_st.st_ino == st.st_ino) {
        rc = rune_call_fail(c, "%s and %s are the same file", src, dst);
        goto out;
    }
    if (!overwrite && exists(dst)) {
        rc = rune_call_fail(c,
                            "%s already exists: remove it, choose another `to`, or set "
                            "overwrite: true",
                            dst);
        goto out;
    }
    if (rune_safe_file_open(&out, dst, overwrite, st.st_mode & 0777, err, sizeof err) != 0) {
        rc = rune_call_fail(c, "%s", err);
        goto out;
    }
    long long bytes = 0;
    for (;;) {
        if (rune_call_cancelled(c)) {
            rc = cancelled(c, "the partial copy was removed");
            goto out;
        }
        ssize_t n = rune_read_full(fd, buf, IO_BUF);
        if (n < 0) {
            rc = read_error(c, src);
            goto out;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        if (rune_write_all(out.fd, buf, (size_t)n) != 0) {
            rc = rune_call_fail(c, "cannot write %s: %s; the partial copy was removed", dst,
                                strerror(errno));
            goto out;
        }
        bytes += n;
    }
    struct stat after;
    if (fstat(fd, &after) == 0 &&
        (after.st_size != st.st_size || after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
         after.st_mtim.tv_nsec != st.st_mtim.tv_nsec || bytes != (long long)st.st_size)) {
        rc = rune_call_fail(c,
                            "%s changed while it was being copied; the copy was removed — "
                            "stop what writes to it, or copy a snapshot",
                            src);
        goto out;
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    char sha[65], back[65];
    EVP_DigestFinal_ex(ctx, d, &dn);
    rune_hex(d, dn, sha);
    if (rune_call_bool(c, "verify")) {
        if (fsync(out.fd) != 0 || sha_of_fd(c, out.fd, buf, back) != 0) {
            if (rune_call_cancelled(c))
                rc = cancelled(c, "the copy was removed");
            else
                rc = rune_call_fail(c, "cannot read back %s: %s; the copy was removed", dst,
                                    strerror(errno));
            goto out;
        }
        if (strcmp(sha, back) != 0) {
            rc = rune_call_fail(c,
                                "the copy does not match %s (SHA-256 %s, read back %s); it was "
                                "removed — check the disk under %s",
                                src, sha, back, dst);
            goto out;
        }
    }
    if (rune_safe_file_commit(&out, overwrite, err, sizeof err) != 0) {
        rc = rune_call_fail(c, "%s", err);
        goto out;
    }
    json_t *o = rune_call_outputs(c);
    set_str(o, "path", dst);
    set_int(o, "bytes", bytes);
    set_str(o, "sha256", sha);
    rc = RUNE_STEP_OK;
out:
    rune_safe_file_abort(&out);
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(ctx);
    free(buf);
    free(src);
    free(dst);
    return rc;
}

static int copy_plan(struct rune_call *c)
{
    rune_call_plan(c, "would copy %s to %s%s%s", rune_call_str(c, "from"), rune_call_str(c, "to"),
                   rune_call_bool(c, "verify") ? " and compare SHA-256 of both" : "",
                   rune_call_bool(c, "overwrite") ? ", replacing it if it exists" : "");
    return RUNE_STEP_OK;
}

/* ---- file.encrypt / file.decrypt ----
 *
 * The encrypted file:
 *
 *   offset size  field
 *   0      8     magic "RUNEAEAD"
 *   8      1     version (1)
 *   9      1     KDF (1 = PBKDF2-HMAC-SHA256)
 *   10     1     cipher (1 = AES-256-GCM)
 *   11     1     reserved (0)
 *   12     4     KDF iterations, big-endian (600000)
 *   16     4     plaintext bytes per chunk, big-endian (65536)
 *   20     16    salt (random)
 *   36     7     nonce prefix (random)
 *   43     1     reserved (0)
 *   44     16    key check: HMAC-SHA256(check key, bytes 0..43), first 16 bytes
 *   60     ...   chunks: ciphertext then its 16-byte GCM tag
 *
 * PBKDF2 turns the key and salt into 64 bytes: the AES key and the check
 * key. Chunk i (from 0) uses the 12-byte nonce prefix || i (4 bytes,
 * big-endian) || last (1 byte: 1 for the final chunk, else 0), and the
 * 60-byte header as additional authenticated data. Every chunk but the
 * last holds exactly the chunk size; the last holds less (possibly 0
 * bytes), so a reader knows which is last and a cut at any point fails.
 * The key check only tells a wrong key from a damaged file; the tags are
 * what protect the data.
 */

#define ENC_MAGIC "RUNEAEAD"
#define ENC_VERSION 1
#define ENC_KDF_PBKDF2_SHA256 1
#define ENC_CIPHER_AES256GCM 1
#define ENC_ITERATIONS 600000u
#define ENC_ITERATIONS_MAX 10000000u
#define ENC_CHUNK 65536u
#define ENC_CHUNK_MAX (16u << 20)
#define ENC_SALT 16
#define ENC_PREFIX 7
#define ENC_CHECK 16
#define ENC_TAG 16
#define ENC_HEAD 44 /* bytes covered by the key check */
#define ENC_HEADER (ENC_HEAD + ENC_CHECK)

struct enc_keys {
    unsigned char aes[32];
    unsigned char check[32];
};

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int derive(const char *key, const unsigned char *salt, uint32_t iterations,
                  struct enc_keys *k)
{
    unsigned char out[64];
    if (PKCS5_PBKDF2_HMAC(key, (int)strlen(key), salt, ENC_SALT, (int)iterations, EVP_sha256(),
                          sizeof out, out) != 1)
        return -1;
    memcpy(k->aes, out, 32);
    memcpy(k->check, out + 32, 32);
    OPENSSL_cleanse(out, sizeof out);
    return 0;
}

static void key_check(const struct enc_keys *k, const unsigned char *head, unsigned char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), k->check, 32, head, ENC_HEAD, mac, &n);
    memcpy(out, mac, ENC_CHECK);
}

static void chunk_nonce(const unsigned char *header, uint32_t i, bool last, unsigned char *nonce)
{
    memcpy(nonce, header + 36, ENC_PREFIX);
    put32(nonce + ENC_PREFIX, i);
    nonce[11] = last ? 1 : 0;
}

/* Encrypts or decrypts one chunk. For decryption `tag` is checked and a
 * mismatch returns -1 (the output must then be thrown away). */
static int crypt_chunk(EVP_CIPHER_CTX *ctx, bool enc, const struct enc_keys *k,
                       const unsigned char *header, uint32_t i, bool last, const unsigned char *in,
                       size_t n, unsigned char *out, unsigned char *tag)
{
    unsigned char nonce[12];
    chunk_nonce(header, i, last, nonce);
    int len = 0;
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, k->aes, nonce, enc) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &len, header, ENC_HEADER) != 1)
        return -1;
    if (n > 0 && EVP_CipherUpdate(ctx, out, &len, in, (int)n) != 1)
        return -1;
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ENC_TAG, tag) != 1)
        return -1;
    int fin = 0;
    if (EVP_CipherFinal_ex(ctx, out + (n > 0 ? len : 0), &fin) != 1)
        return -1;
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ENC_TAG, tag) != 1)
        return -1;
    return 0;
}

/* Writes the fixed header for new keys and a fresh salt and nonce. */
static int enc_header_build(const char *key, unsigned char *header, struct enc_keys *k)
{
    memset(header, 0, ENC_HEADER);
    memcpy(header, ENC_MAGIC, 8);
    header[8] = ENC_VERSION;
    header[9] = ENC_KDF_PBKDF2_SHA256;
    header[10] = ENC_CIPHER_AES256GCM;
    put32(header + 12, ENC_ITERATIONS);
    put32(header + 16, ENC_CHUNK);
    if (RAND_bytes(header + 20, ENC_SALT) != 1 || RAND_bytes(header + 36, ENC_PREFIX) != 1)
        return -1;
    if (derive(key, header + 20, ENC_ITERATIONS, k) != 0)
        return -1;
    key_check(k, header, header + ENC_HEAD);
    return 0;
}

/* The key parameter, registered as a secret before anything can print it. */
static const char *secret_key(struct rune_call *c)
{
    const char *key = rune_call_str(c, "key");
    if (key && *key)
        rune_call_secret(c, key);
    return key && *key ? key : NULL;
}

static int encrypt_run(struct rune_call *c)
{
    const char *key = secret_key(c);
    if (!key)
        return rune_call_fail(c,
                              "key is empty: pass the secret, e.g. key: \"${secrets.backup_key}\"");
    char *src = rune_path_param(c, rune_call_str(c, "path"));
    const char *to = rune_call_str(c, "to");
    char *dst = to ? rune_path_param(c, to) : src ? with_suffix(src, ".enc") : NULL;
    bool overwrite = rune_call_bool(c, "overwrite");
    unsigned char *in = malloc(ENC_CHUNK), *out = malloc(ENC_CHUNK + ENC_TAG);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    struct rune_safe_file f = {.fd = -1};
    struct enc_keys k;
    unsigned char header[ENC_HEADER];
    int rc = RUNE_STEP_FAILED, fd = -1;
    char err[512];
    struct stat st;
    memset(&k, 0, sizeof k);
    if (!src || !dst || !in || !out || !ctx) {
        rc = rune_call_fail(c,
                            "no memory to start encrypting %s (paths, %u-byte buffers and a "
                            "cipher): free memory on this host and run the step again",
                            rune_call_str(c, "path"), ENC_CHUNK);
        goto out;
    }
    if ((fd = open_input(c, src, &st)) < 0)
        goto out;
    if (!overwrite && exists(dst)) {
        rc = rune_call_fail(c,
                            "%s already exists: remove it, choose another `to`, or set "
                            "overwrite: true",
                            dst);
        goto out;
    }
    if (enc_header_build(key, header, &k) != 0) {
        rc = rune_call_fail(c, "cannot derive the encryption key (OpenSSL failed)");
        goto out;
    }
    if (rune_safe_file_open(&f, dst, overwrite, 0600, err, sizeof err) != 0) {
        rc = rune_call_fail(c, "%s", err);
        goto out;
    }
    if (rune_write_all(f.fd, header, ENC_HEADER) != 0)
        goto write_failed;
    long long bytes = ENC_HEADER;
    for (uint32_t i = 0;; i++) {
        if (rune_call_cancelled(c)) {
            rc = cancelled(c, "the partial output was removed");
            goto out;
        }
        ssize_t n = rune_read_full(fd, in, ENC_CHUNK);
        if (n < 0) {
            rc = read_error(c, src);
            goto out;
        }
        bool last = (size_t)n < ENC_CHUNK;
        if (i == UINT32_MAX) {
            rc = rune_call_fail(c, "%s is too large to encrypt in one file", src);
            goto out;
        }
        if (crypt_chunk(ctx, true, &k, header, i, last, in, (size_t)n, out, out + n) != 0) {
            rc = rune_call_fail(c, "encryption failed (OpenSSL error)");
            goto out;
        }
        if (rune_write_all(f.fd, out, (size_t)n + ENC_TAG) != 0)
            goto write_failed;
        bytes += n + ENC_TAG;
        if (last)
            break;
    }
    if (rune_safe_file_commit(&f, overwrite, err, sizeof err) != 0) {
        rc = rune_call_fail(c, "%s", err);
        goto out;
    }
    json_t *o = rune_call_outputs(c);
    set_str(o, "path", dst);
    set_int(o, "bytes", bytes);
    set_int(o, "raw_bytes", (long long)st.st_size);
    rc = RUNE_STEP_OK;
    goto out;
write_failed:
    rc = rune_call_fail(c, "cannot write %s: %s; the partial output was removed", dst,
                        strerror(errno));
out:
    OPENSSL_cleanse(&k, sizeof k);
    rune_safe_file_abort(&f);
    if (fd >= 0)
        close(fd);
    EVP_CIPHER_CTX_free(ctx);
    free(in);
    free(out);
    free(src);
    free(dst);
    return rc;
}

/* Reads and checks the header, derives the keys and checks them. */
static int dec_header(struct rune_call *c, int fd, const char *src, const char *key,
                      unsigned char *header, struct enc_keys *k, uint32_t *chunk)
{
    ssize_t n = rune_read_full(fd, header, ENC_HEADER);
    if (n < 0)
        return read_error(c, src);
    if (n < ENC_HEADER || memcmp(header, ENC_MAGIC, 8) != 0)
        return rune_call_fail(c, "%s is not a file made by file.encrypt (no RUNEAEAD header)", src);
    if (header[8] != ENC_VERSION || header[9] != ENC_KDF_PBKDF2_SHA256 ||
        header[10] != ENC_CIPHER_AES256GCM)
        return rune_call_fail(c,
                              "%s uses format version %d (KDF %d, cipher %d), which this rune "
                              "does not read: upgrade rune, or the header was damaged",
                              src, header[8], header[9], header[10]);
    uint32_t iterations = get32(header + 12);
    *chunk = get32(header + 16);
    if (iterations < 1000 || iterations > ENC_ITERATIONS_MAX || *chunk < 1024 ||
        *chunk > ENC_CHUNK_MAX)
        return rune_call_fail(c,
                              "%s has an implausible header (iterations %u, chunk %u): it "
                              "was damaged",
                              src, iterations, *chunk);
    if (derive(key, header + 20, iterations, k) != 0)
        return rune_call_fail(c, "cannot derive the decryption key (OpenSSL failed)");
    unsigned char check[ENC_CHECK];
    key_check(k, header, check);
    if (CRYPTO_memcmp(check, header + ENC_HEAD, ENC_CHECK) != 0)
        return rune_call_fail(c,
                              "wrong key for %s (or its header was modified); nothing was "
                              "written — check which secret encrypted it",
                              src);
    return RUNE_STEP_OK;
}

static int decrypt_run(struct rune_call *c)
{
    const char *key = secret_key(c);
    if (!key)
        return rune_call_fail(c,
                              "key is empty: pass the secret, e.g. key: \"${secrets.backup_key}\"");
    char *src = rune_path_param(c, rune_call_str(c, "path"));
    const char *to = rune_call_str(c, "to");
    char *dst = to ? rune_path_param(c, to) : src ? without_suffix(src, ".enc") : NULL;
    bool overwrite = rune_call_bool(c, "overwrite");
    unsigned char *in = NULL, *out = NULL;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    struct rune_safe_file f = {.fd = -1};
    struct enc_keys k;
    unsigned char header[ENC_HEADER];
    uint32_t chunk = 0;
    int rc = RUNE_STEP_FAILED, fd = -1;
    char err[512];
    struct stat st;
    memset(&k, 0, sizeof k);
    if (!src || !ctx) {
        rc = rune_call_fail(c,
                            "no memory to start decrypting %s (its path and a cipher): free memory "
                            "on this host and run the step again",
                            rune_call_str(c, "path"));
        goto out;
    }
    if (!dst) {
        rc = rune_call_fail(c, "%s does not end in .enc: say where to write it with `to`", src);
        goto out;
    }
    if ((fd = open_input(c, src, &st)) < 0)
        goto out;
    if (!overwrite && exists(dst)) {
        rc = rune_call_fail(c,
                            "%s already exists: remove it, choose another `to`, or set "
                            "overwrite: true",
                            dst);
        goto out;
    }
    if ((rc = dec_header(c, fd, src, key, header, &k, &chunk)) != RUNE_STEP_OK)
        goto out;
    rc = RUNE_STEP_FAILED;
    in = malloc((size_t)chunk + ENC_TAG);
    out = malloc(chunk);
    if (!in || !out) {
        rc = rune_call_fail(c,
                            "no memory for the %u-byte chunk buffers %s was encrypted with: free "
                            "memory on this host and run the step again",
                            chunk, src);
        goto out;
    }
    if (rune_safe_file_open(&f, dst, overwrite, 0600, err, sizeof err) != 0) {
        rc = rune_call_fail(c, "%s", err);
        goto out;
    }
    long long bytes = 0, offset = ENC_HEADER;
    for (uint32_t i = 0;; i++) {
        if (rune_call_cancelled(c)) {
            rc = cancelled(c, "the partial output was removed");
            goto out;
        }
        ssize_t n = rune_read_full(fd, in, (size_t)chunk + ENC_TAG);
        if (n < 0) {
            rc = read_error(c, src);
            goto out;
        }
        if (n < ENC_TAG) {
            rc = rune_call_fail(c,
                                "%s is truncated: it ends at chunk %u (offset %lld); nothing "
                                "was written",
                                src, i + 1, offset);
            goto out;
        }
        bool last = (size_t)n < (size_t)chunk + ENC_TAG;
        size_t plain = (size_t)n - ENC_TAG;
        if (crypt_chunk(ctx, false, &k, header, i, last, in, plain, out, in + plain) != 0) {
            rc = rune_call_fail(c,
                                "chunk %u (offset %lld) of %s failed authentication: the file "
                                "was modified, damaged or truncated; nothing was written",
                                i + 1, offset, src);
            goto out;
        }
        if (rune_write_all(f.fd, out, plain) != 0) {
            rc = rune_call_fail(c, "cannot write %s: %s; the partial output was removed", dst,
                                strerror(errno));
            goto out;
        }
        bytes += (long long)plain;
        offset += n;
        if (last)
            break;
    }
    if (rune_safe_file_commit(&f, overwrite, err, sizeof err) != 0) {
        rc = rune_call_fail(c, "%s", err);
        goto out;
    }
    json_t *o = rune_call_outputs(c);
    set_str(o, "path", dst);
    set_int(o, "bytes", bytes);
    rc = RUNE_STEP_OK;
out:
    OPENSSL_cleanse(&k, sizeof k);
    if (out)
        OPENSSL_cleanse(out, chunk);
    rune_safe_file_abort(&f);
    if (fd >= 0)
        close(fd);
    EVP_CIPHER_CTX_free(ctx);
    free(in);
    free(out);
    free(src);
    free(dst);
    return rc;
}

static int encrypt_plan(struct rune_call *c)
{
    const char *path = rune_call_str(c, "path"), *to = rune_call_str(c, "to");
    secret_key(c);
    rune_call_plan(c, "would encrypt %s to %s%s with AES-256-GCM", path, to ? to : path,
                   to ? "" : ".enc");
    return RUNE_STEP_OK;
}

static int decrypt_plan(struct rune_call *c)
{
    const char *path = rune_call_str(c, "path"), *to = rune_call_str(c, "to");
    secret_key(c);
    rune_call_plan(c, "would decrypt %s to %s, checking every chunk's tag", path,
                   to ? to : "the same name without .enc");
    return RUNE_STEP_OK;
}

/* ---- the table ---- */

static const struct rune_param checksum_params[] = {
    {"path", RUNE_T_PATH, true, NULL, "the file"},
    {"algorithm", RUNE_T_STRING, false, "sha256", "sha256 or sha512", .choices = "sha256|sha512"},
    {"expect", RUNE_T_STRING, false, NULL, "expected digest (hex); a mismatch fails the step"},
    {0},
};
static const struct rune_output checksum_outputs[] = {
    {"path", RUNE_T_STRING, "the file, as an absolute path"},
    {"algorithm", RUNE_T_STRING, "sha256 or sha512"},
    {"digest", RUNE_T_STRING, "the digest in lowercase hex"},
    {"sha256", RUNE_T_STRING, "the digest again, when algorithm is sha256"},
    {"sha512", RUNE_T_STRING, "the digest again, when algorithm is sha512"},
    {"bytes", RUNE_T_INT, "bytes read"},
    {"matched", RUNE_T_BOOL, "whether it equals expect (null when expect was not given)"},
    {0},
};

static const struct rune_param compress_params[] = {
    {"path", RUNE_T_PATH, true, NULL, "the file to compress"},
    {"to", RUNE_T_PATH, false, NULL,
     "the backup to write (default: path + \".gz\"); never "
     "replaced if it exists"},
    {"level", RUNE_T_INT, false, "6", "gzip level, 1 (fastest) to 9 (smallest)"},
    {"keep", RUNE_T_BOOL, false, "true",
     "keep the original; false removes it once the backup verifies"},
    {"chunk_size", RUNE_T_INT, false, "4194304",
     "input bytes per gzip member (each listed in the manifest with its SHA-256)"},
    {"threads", RUNE_T_INT, false, "0",
     "compression threads; 0 = one per CPU (at most 8); the output is the same for any number"},
    {0},
};
static const struct rune_output compress_outputs[] = {
    {"path", RUNE_T_STRING, "the compressed file (a gzip file zcat reads)"},
    {"manifest", RUNE_T_STRING, "its manifest, path + \".manifest.json\""},
    {"bytes", RUNE_T_INT, "size of the compressed file"},
    {"raw_bytes", RUNE_T_INT, "size of the original"},
    {"sha256", RUNE_T_STRING, "SHA-256 of the compressed file (as sha256sum prints it)"},
    {"chunks", RUNE_T_INT, "number of gzip members"},
    {"ratio", RUNE_T_NUMBER, "raw_bytes / bytes (3.5 means 3.5 times smaller)"},
    {0},
};

static const struct rune_param decompress_params[] = {
    {"path", RUNE_T_PATH, true, NULL, "the .gz file (a backup with its manifest, or plain gzip)"},
    {"to", RUNE_T_PATH, false, NULL, "where to write (default: path without \".gz\")"},
    {"overwrite", RUNE_T_BOOL, false, "false", "replace `to` if it exists"},
    {0},
};
static const struct rune_output decompress_outputs[] = {
    {"path", RUNE_T_STRING, "the decompressed file"},
    {"bytes", RUNE_T_INT, "its size"},
    {"verified", RUNE_T_STRING,
     "\"manifest\" (every chunk's SHA-256 and size checked) or \"gzip-crc\" (no manifest)"},
    {0},
};

static const struct rune_param copy_params[] = {
    {"from", RUNE_T_PATH, true, NULL, "the file to copy"},
    {"to", RUNE_T_PATH, true, NULL, "destination file, or an existing directory to copy into"},
    {"overwrite", RUNE_T_BOOL, false, "false", "replace the destination if it exists"},
    {"verify", RUNE_T_BOOL, false, "true",
     "read the copy back and compare its SHA-256 before putting it in place"},
    {0},
};
static const struct rune_output copy_outputs[] = {
    {"path", RUNE_T_STRING, "the copy"},
    {"bytes", RUNE_T_INT, "bytes copied"},
    {"sha256", RUNE_T_STRING, "SHA-256 of the content"},
    {0},
};

static const struct rune_param encrypt_params[] = {
    {"path", RUNE_T_PATH, true, NULL, "the file to encrypt"},
    {"to", RUNE_T_PATH, false, NULL, "where to write (default: path + \".enc\")"},
    {"key", RUNE_T_STRING, true, NULL,
     "the secret the key is derived from (pass ${secrets.NAME}; it is masked everywhere)"},
    {"overwrite", RUNE_T_BOOL, false, "false", "replace `to` if it exists"},
    {0},
};
static const struct rune_output encrypt_outputs[] = {
    {"path", RUNE_T_STRING, "the encrypted file"},
    {"bytes", RUNE_T_INT, "its size"},
    {"raw_bytes", RUNE_T_INT, "size of the plaintext"},
    {0},
};
static const struct rune_param decrypt_params[] = {
    {"path", RUNE_T_PATH, true, NULL, "a file written by file.encrypt"},
    {"to", RUNE_T_PATH, false, NULL, "where to write (default: path without \".enc\")"},
    {"key", RUNE_T_STRING, true, NULL, "the secret it was encrypted with"},
    {"overwrite", RUNE_T_BOOL, false, "false", "replace `to` if it exists"},
    {0},
};
static const struct rune_output decrypt_outputs[] = {
    {"path", RUNE_T_STRING, "the decrypted file (written only if every chunk authenticated)"},
    {"bytes", RUNE_T_INT, "its size"},
    {0},
};

const struct rune_step_type rune_file_steps[] = {
    {"file.checksum", "Compute a file's SHA-256 (or SHA-512), optionally failing on a mismatch",
     checksum_params, checksum_outputs, RUNE_READS, checksum_run, checksum_plan},
    {"file.compress",
     "Compress a file into a backup: chunked gzip plus a manifest with SHA-256 sums",
     compress_params, compress_outputs, RUNE_WRITES, compress_run, compress_plan},
    {"file.decompress", "Decompress a .gz, verifying it against its manifest while streaming",
     decompress_params, decompress_outputs, RUNE_WRITES, decompress_run, decompress_plan},
    {"file.copy", "Copy a file safely (temp file, fsync, rename) and compare SHA-256", copy_params,
     copy_outputs, RUNE_WRITES, copy_run, copy_plan},
    {"file.encrypt", "Encrypt a file with AES-256-GCM, the key derived from a secret",
     encrypt_params, encrypt_outputs, RUNE_WRITES, encrypt_run, encrypt_plan},
    {"file.decrypt", "Decrypt a file.encrypt file; any tampering fails and writes nothing",
     decrypt_params, decrypt_outputs, RUNE_WRITES, decrypt_run, decrypt_plan},
    {0},
};
