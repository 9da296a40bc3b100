/*
 * file.c — the file.* family: checksums and verified copies here;
 * compression into the backup artifact format and back (file_compress.c) and
 * authenticated encryption (file_crypt.c) beside it; what they share
 * (file.h) and, at the end, the family's table.
 *
 * Every file a step produces is written under a temp name beside its
 * target, fsynced and renamed into place (safefile.h), so a
 * failure or a crash never leaves a half-written file under the final
 * name, and nothing is replaced unless the runbook says `overwrite: true`.
 */
#include "file.h"
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "artifact.h"
#include "digest.h"
#include "pathparam.h"
#include "safefile.h"
#include "shareddir.h"
#include "worksize.h"

/* ---- shared by the family (file.h) ---- */

char *rune_file_with_suffix(const char *p, const char *suffix)
{
    size_t len = strlen(p) + strlen(suffix) + 1;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s%s", p, suffix);
    return s;
}

char *rune_file_without_suffix(const char *p, const char *suffix)
{
    size_t lp = strlen(p), ls = strlen(suffix);
    if (lp <= ls || strcmp(p + lp - ls, suffix) != 0 || p[lp - ls - 1] == '/')
        return NULL;
    return strndup(p, lp - ls);
}

bool rune_file_exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* Through trust.h: in a directory another user can change, no symlink is
 * followed, so the file read is the file that is there (not a root-only
 * file swapped in after the path was checked), and *st is what was opened. */
int rune_file_open_input(struct rune_call *c, const char *path, struct stat *st)
{
    char err[PATH_MAX + 512];
    int fd = rune_open_input(path, st, err, sizeof err);
    if (fd < 0)
        rune_call_fail(c, "%s", err);
    return fd;
}

int rune_file_read_error(struct rune_call *c, const char *path)
{
    return rune_call_fail(c, "cannot read %s: %s", path, strerror(errno));
}

int rune_file_cancelled(struct rune_call *c, const char *what)
{
    int st = rune_call_cancel_status(c);
    rune_call_fail(c, "%s: %s", st == RUNE_STEP_TIMEOUT ? "timed out" : "cancelled", what);
    return st;
}

ssize_t rune_file_read_next(struct rune_call *c, int fd, void *buf, size_t len, const char *path,
                            const char *left, int *rc)
{
    if (rune_call_cancelled(c)) {
        *rc = rune_file_cancelled(c, left);
        return -1;
    }
    ssize_t n = rune_read_full(fd, buf, len);
    if (n < 0)
        *rc = rune_file_read_error(c, path);
    return n;
}

bool rune_file_cancel_cb(void *ctx)
{
    return rune_call_cancelled(ctx);
}

void rune_file_progress_cb(void *ctx, unsigned long long done, unsigned long long total)
{
    rune_call_progress(ctx, (long long)done, (long long)total, RUNE_UNIT_BYTES);
}

void rune_file_progress(struct rune_call *c, long long done, long long total)
{
    rune_call_progress(c, done, done > total ? done : total, RUNE_UNIT_BYTES);
}

bool rune_file_occupied(struct rune_call *c, const char *dst, bool overwrite)
{
    if (overwrite || !rune_file_exists(dst))
        return false;
    rune_call_fail(c, "%s already exists: remove it, choose another `to`, or set overwrite: true",
                   dst);
    return true;
}

bool rune_file_start(struct rune_call *c, struct rune_safe_file *f, const char *dst, bool overwrite,
                     mode_t mode)
{
    char err[512];
    if (rune_safe_file_open(f, dst, overwrite, mode, err, sizeof err) == 0)
        return true;
    rune_call_fail(c, "%s", err);
    return false;
}

bool rune_file_finish(struct rune_call *c, struct rune_safe_file *f, bool overwrite)
{
    char err[512];
    if (rune_safe_file_commit(f, overwrite, err, sizeof err) == 0)
        return true;
    rune_call_fail(c, "%s", err);
    return false;
}

void rune_file_set_str(json_t *o, const char *key, const char *v)
{
    json_object_set_new(o, key, v ? json_string(v) : json_null());
}

void rune_file_set_int(json_t *o, const char *key, long long v)
{
    json_object_set_new(o, key, json_integer((json_int_t)v));
}

void rune_file_report_artifact(struct rune_call *c, const char *path, const char *sha256,
                               long long bytes)
{
    json_t *o = rune_call_outputs(c);
    rune_file_set_str(o, "path", path);
    rune_file_set_str(o, "sha256", sha256);
    rune_file_set_int(o, "bytes", bytes);
    rune_call_artifact(c, path, sha256, bytes);
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
    const char *host = rune_call_str(c, "host");
    if (host && *host) {
        int st = rune_file_checksum_remote(c, algo, hexlen, expect);
        free(expect);
        return st;
    }
    char *path = rune_path_param(c, rune_call_str(c, "path"));
    struct stat st;
    int fd = path ? rune_file_open_input(c, path, &st) : -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(RUNE_FILE_IO_BUF);
    int rc = RUNE_STEP_FAILED;
    if (fd < 0 && path)
        goto out; /* open_input said why */
    if (!path || !ctx || !buf || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
        rc = rune_call_fail(c,
                            "no memory to start the %s of %s (a %zu-byte buffer): free memory on "
                            "this host and run the step again",
                            algo, rune_call_str(c, "path"), RUNE_FILE_IO_BUF);
        goto out;
    }
    long long bytes = 0;
    rune_file_progress(c, 0, (long long)st.st_size);
    for (;;) {
        ssize_t n = rune_file_read_next(c, fd, buf, RUNE_FILE_IO_BUF, path,
                                        "the checksum was not finished", &rc);
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        bytes += n;
        rune_file_progress(c, bytes, (long long)st.st_size);
    }
    char digest[RUNE_DIGEST_HEX_MAX];
    rune_digest_hex(ctx, digest);
    json_t *o = rune_call_outputs(c);
    rune_file_set_str(o, "path", path);
    rune_file_set_str(o, "algorithm", algo);
    rune_file_set_str(o, "digest", digest);
    rune_file_set_str(o, algo, digest);
    rune_file_set_int(o, "bytes", bytes);
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

/* The file's size for `rune plan`; a remote file's is not looked up. */
static long long checksum_size(struct rune_call *c, enum rune_unit *unit)
{
    const char *host = rune_call_str(c, "host");
    return host && *host ? -1 : rune_worksize_path(c, unit);
}

static int checksum_plan(struct rune_call *c)
{
    const char *expect = rune_call_str(c, "expect");
    const char *host = rune_call_str(c, "host");
    rune_call_plan(c, "would compute the %s of %s%s%s%s%s", rune_call_str(c, "algorithm"),
                   rune_call_str(c, "path"), host ? " on host " : "", host ? host : "",
                   expect ? " and compare it with " : "", expect ? expect : "");
    return RUNE_STEP_OK;
}

/* ---- file.copy ---- */

/* SHA-256 of what is in fd from the start, read back: `total` bytes, as
 * the call's progress. */
static int sha_of_fd(struct rune_call *c, int fd, long long total, unsigned char *buf,
                     char out[RUNE_SHA256_HEX])
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
        ssize_t n = pread(fd, buf, RUNE_FILE_IO_BUF, off);
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
        rune_file_progress(c, (long long)off, total);
    }
    rune_digest_hex(ctx, out);
    EVP_MD_CTX_free(ctx);
    return rc;
}

static int copy_run(struct rune_call *c)
{
    char *src = rune_path_param(c, rune_call_str(c, "from"));
    char *dst = rune_path_param(c, rune_call_str(c, "to"));
    bool overwrite = rune_call_bool(c, "overwrite");
    unsigned char *buf = malloc(RUNE_FILE_IO_BUF);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    struct rune_safe_file out = {.fd = -1};
    int rc = RUNE_STEP_FAILED, fd = -1;
    char err[512];
    struct stat st, dst_st;
    if (!src || !dst || !buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = rune_call_fail(c,
                            "no memory to start copying %s to %s (paths, a %zu-byte buffer and a "
                            "SHA-256): free memory on this host and run the step again",
                            rune_call_str(c, "from"), rune_call_str(c, "to"), RUNE_FILE_IO_BUF);
        goto out;
    }
    if ((fd = rune_file_open_input(c, src, &st)) < 0)
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
    if (rune_file_occupied(c, dst, overwrite))
        goto out;
    if (!rune_file_start(c, &out, dst, overwrite, st.st_mode & 0777))
        goto out;
    long long bytes = 0;
    rune_call_progress_phase(c, "copying");
    rune_file_progress(c, 0, (long long)st.st_size);
    for (;;) {
        ssize_t n = rune_file_read_next(c, fd, buf, RUNE_FILE_IO_BUF, src,
                                        "the partial copy was removed", &rc);
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        if (rune_write_all(out.fd, buf, (size_t)n) != 0) {
            rc = rune_call_fail(c, "cannot write %s: %s; the partial copy was removed", dst,
                                strerror(errno));
            goto out;
        }
        bytes += n;
        rune_file_progress(c, bytes, (long long)st.st_size);
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
    char sha[RUNE_SHA256_HEX], back[RUNE_SHA256_HEX];
    rune_digest_hex(ctx, sha);
    if (rune_call_bool(c, "verify")) {
        /* a count of its own: the bytes read back */
        rune_call_progress_phase(c, "verifying");
        rune_file_progress(c, 0, bytes);
        if (fsync(out.fd) != 0 || sha_of_fd(c, out.fd, bytes, buf, back) != 0) {
            if (rune_call_cancelled(c))
                rc = rune_file_cancelled(c, "the copy was removed");
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
    if (!rune_file_finish(c, &out, overwrite))
        goto out;
    rune_file_report_artifact(c, dst, sha, bytes);
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

/* ---- the table ---- */

static const struct rune_param checksum_params[] = {
    {"path", RUNE_T_PATH, true, NULL, "the file"},
    {"algorithm", RUNE_T_STRING, false, "sha256", "sha256 or sha512", .choices = "sha256|sha512"},
    {"expect", RUNE_T_STRING, false, NULL, "expected digest (hex); a mismatch fails the step"},
    {"host", RUNE_T_TARGET, false, NULL,
     "the file is on this ssh target (an absolute path there): the digest is computed there by "
     "sha256sum/sha512sum",
     "ssh"},
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
     "the backup to write (default: path + \".gz\", or \".zst\" with zstd); never "
     "replaced if it exists"},
    RUNE_ARTIFACT_COMPRESSION_PARAM,
    RUNE_ARTIFACT_LEVEL_PARAM,
    {"keep", RUNE_T_BOOL, false, "true",
     "keep the original; false removes it once the backup verifies"},
    {"chunk_size", RUNE_T_INT, false, "4194304",
     "input bytes per chunk, one gzip member or zstd frame each (each listed in the manifest "
     "with its SHA-256)"},
    {"threads", RUNE_T_INT, false, "0",
     "compression threads; 0 = one per CPU (at most 8); the output is the same for any number"},
    {0},
};
static const struct rune_output compress_outputs[] = {
    {"path", RUNE_T_STRING, "the compressed file (gzip -dc or zstd -dc reads it whole)"},
    {"manifest", RUNE_T_STRING, "its manifest, path + \".manifest.json\""},
    {"bytes", RUNE_T_INT, "size of the compressed file"},
    {"raw_bytes", RUNE_T_INT, "size of the original"},
    {"sha256", RUNE_T_STRING, "SHA-256 of the compressed file (as sha256sum prints it)"},
    {"chunks", RUNE_T_INT, "number of chunks (gzip members or zstd frames)"},
    {"ratio", RUNE_T_NUMBER, "raw_bytes / bytes (3.5 means 3.5 times smaller)"},
    {"compression", RUNE_T_STRING, "gzip or zstd"},
    {"read_with", RUNE_T_STRING,
     "the command that reads it without rune: \"gzip -dc\" or \"zstd -dc\""},
    {0},
};

static const struct rune_param decompress_params[] = {
    {"path", RUNE_T_PATH, true, NULL,
     "the .gz or .zst file (a backup with its manifest, or plain gzip or zstd)"},
    {"to", RUNE_T_PATH, false, NULL, "where to write (default: path without \".gz\" or \".zst\")"},
    {"overwrite", RUNE_T_BOOL, false, "false", "replace `to` if it exists"},
    {0},
};
static const struct rune_output decompress_outputs[] = {
    {"path", RUNE_T_STRING, "the decompressed file"},
    {"bytes", RUNE_T_INT, "its size"},
    {"verified", RUNE_T_STRING,
     "\"manifest\" (every chunk's SHA-256 and size checked), or without one \"gzip-crc\" or "
     "\"zstd-checksum\" (the stream's own checks)"},
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
     checksum_params, checksum_outputs, RUNE_READS, checksum_run, checksum_plan, false,
     checksum_size},
    {"file.compress",
     "Compress a file into a backup: chunked gzip (or zstd) plus a manifest with SHA-256 sums",
     compress_params, compress_outputs, RUNE_WRITES, rune_file_compress_run,
     rune_file_compress_plan, false, rune_worksize_path},
    {"file.decompress",
     "Decompress a .gz or .zst, verifying it against its manifest while streaming",
     decompress_params, decompress_outputs, RUNE_WRITES, rune_file_decompress_run,
     rune_file_decompress_plan, false, rune_worksize_backup_path},
    {"file.copy", "Copy a file safely (temp file, fsync, rename) and compare SHA-256", copy_params,
     copy_outputs, RUNE_WRITES, copy_run, copy_plan, false, rune_worksize_from},
    {"file.encrypt", "Encrypt a file with AES-256-GCM, the key derived from a secret",
     encrypt_params, encrypt_outputs, RUNE_WRITES, rune_file_encrypt_run, rune_file_encrypt_plan,
     false, rune_worksize_path},
    {"file.decrypt", "Decrypt a file.encrypt file; any tampering fails and writes nothing",
     decrypt_params, decrypt_outputs, RUNE_WRITES, rune_file_decrypt_run, rune_file_decrypt_plan,
     false, rune_worksize_path},
    {0},
};
