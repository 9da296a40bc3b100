/*
 * artifact_read.c — reading a backup in the artifact format (artifact.h,
 * docs/backups.md): its manifest, checked before anything is trusted; the
 * verifying reader; full verification.
 *
 * The reader runs the writer's pool (pool.h) the other way: workers read a
 * chunk, check its SHA-256 before they decompress a byte of it, and
 * decompress it whole, ahead of the caller; so a restore never receives
 * data from a damaged chunk. The pool does not outlive its reader and
 * holds a bounded number of chunks (two per worker). A reader can also
 * read just a range of chunks: that is how pg.restore reads one table's
 * part of a pg.dump backup.
 */
#include "artifact.h"
#include "clock.h"
#include "codec.h"
#include "digest.h"
#include "pool.h"
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

/* ---- the manifest ---- */

char *rune_artifact_manifest_path(const char *path)
{
    return concat(path, RUNE_ARTIFACT_MANIFEST_SUFFIX);
}

static bool get_size(json_t *o, const char *key, long long *v)
{
    json_t *x = json_object_get(o, key);
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return false;
    *v = (long long)json_integer_value(x);
    return true;
}

/* Checks that a manifest describes a file this rune can read: version,
 * sizes, and a chunk table that tiles the file exactly. */
static int manifest_check(json_t *m, const char *mpath, char *err, size_t errlen)
{
    if (!json_is_object(m)) {
        snprintf(err, errlen, "%s is not a JSON object", mpath);
        return -1;
    }
    json_t *ver = json_object_get(m, "format_version");
    if (!json_is_integer(ver) || json_integer_value(ver) < 1) {
        snprintf(err, errlen, "%s has no valid format_version: not a rune backup manifest", mpath);
        return -1;
    }
    if (json_integer_value(ver) > RUNE_ARTIFACT_FORMAT_VERSION) {
        snprintf(err, errlen,
                 "%s is format_version %lld, newer than this rune reads (%d): upgrade rune", mpath,
                 (long long)json_integer_value(ver), RUNE_ARTIFACT_FORMAT_VERSION);
        return -1;
    }
    const struct rune_codec *codec = rune_codec_of(m);
    if (!codec) {
        char names[64];
        rune_codec_list(names, sizeof names);
        const char *comp = json_string_value(json_object_get(m, "compression"));
        snprintf(err, errlen,
                 "%s: compression \"%s\" is not one this rune reads (%s): upgrade rune, or the "
                 "manifest was edited",
                 mpath, comp ? comp : "(not a string)", names);
        return -1;
    }
    long long bytes, raw, ms;
    const char *sha = json_string_value(json_object_get(m, "sha256"));
    const char *created = json_string_value(json_object_get(m, "created_at"));
    if (!get_size(m, "bytes", &bytes) || !get_size(m, "raw_bytes", &raw) ||
        !rune_is_sha256_hex(sha) || !json_is_string(json_object_get(m, "engine")) ||
        rune_clock_parse_iso(created, &ms) != 0) {
        snprintf(err, errlen,
                 "%s lacks a valid bytes, raw_bytes, sha256, engine or created_at: the "
                 "manifest is damaged or was edited",
                 mpath);
        return -1;
    }
    json_t *chunks = json_object_get(m, "chunks");
    size_t n = json_array_size(chunks);
    if (!json_is_array(chunks) || n == 0) {
        snprintf(err, errlen, "%s has no chunk table: the manifest is damaged or was edited",
                 mpath);
        return -1;
    }
    long long off = 0, rawsum = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(chunks, i);
        long long co, cb, cr;
        if (!get_size(c, "offset", &co) || !get_size(c, "bytes", &cb) ||
            !get_size(c, "raw_bytes", &cr) ||
            !rune_is_sha256_hex(json_string_value(json_object_get(c, "sha256"))) || co != off ||
            cb < (long long)codec->min_frame || cr > (long long)RUNE_ARTIFACT_CHUNK_MAX ||
            (unsigned long long)cb > codec->max_frame((unsigned long long)cr)) {
            snprintf(err, errlen,
                     "%s: chunk %zu of %zu is not described correctly (offset, bytes, "
                     "raw_bytes, sha256): the manifest is damaged or was edited",
                     mpath, i + 1, n);
            return -1;
        }
        off += cb;
        rawsum += cr;
    }
    if (off != bytes || rawsum != raw) {
        snprintf(err, errlen,
                 "%s: the chunks add up to %lld bytes (%lld raw) but the manifest says %lld "
                 "(%lld raw): the manifest is damaged or was edited",
                 mpath, off, rawsum, bytes, raw);
        return -1;
    }
    return 0;
}

json_t *rune_artifact_manifest_load(const char *path, char *err, size_t errlen)
{
    char *mpath = rune_artifact_manifest_path(path);
    if (!mpath) {
        snprintf(err, errlen,
                 "no memory for the manifest name of %s: free memory on this host and run the step "
                 "again",
                 path);
        return NULL;
    }
    struct stat st;
    if (stat(mpath, &st) != 0 && errno == ENOENT) {
        snprintf(err, errlen,
                 "no manifest beside %s (expected %s): not a rune backup, or the backup never "
                 "finished",
                 path, mpath);
        free(mpath);
        return NULL;
    }
    json_error_t je;
    json_t *m = json_load_file(mpath, JSON_REJECT_DUPLICATES, &je);
    if (!m) {
        snprintf(err, errlen, "cannot read manifest %s: %s (line %d)", mpath, je.text, je.line);
        free(mpath);
        return NULL;
    }
    if (manifest_check(m, mpath, err, errlen) != 0) {
        json_decref(m);
        m = NULL;
    }
    free(mpath);
    return m;
}

/* ---- the reader ---- */

/* A chunk as the manifest describes it, copied out of the JSON so that the
 * workers never touch jansson values. */
struct chunk_info {
    long long offset, bytes, raw;
    char sha[RUNE_SHA256_HEX];
};

/* What the reader's workers read (read-only while they run). */
struct source {
    int fd;
    const struct chunk_info *chunks;
    const struct rune_codec *codec;
    bool sums_only; /* check SHA-256s, do not decompress (rune_artifact_verify_sums) */
};

struct rune_artifact_reader {
    struct source src;
    char *path;
    json_t *manifest;
    struct chunk_info *chunks;
    size_t nchunks, cur; /* cur: the chunk being handed out, 0-based */
    size_t first, end;   /* the chunks this reader hands out: [first, end) */
    struct rune_pool pool;
    struct rune_pool_slot *hold; /* chunk cur, checked, being handed out; or NULL */
    size_t pos;                  /* bytes of it handed out */
    bool failed;
    EVP_MD_CTX *whole;
    int bad_chunk; /* 1-based chunk of the last error, 0 if none */
};

void rune_artifact_reader_close(struct rune_artifact_reader *r)
{
    if (!r)
        return;
    rune_pool_end(&r->pool); /* first: the workers read the file and the table */
    if (r->src.fd >= 0)
        close(r->src.fd);
    EVP_MD_CTX_free(r->whole);
    json_decref(r->manifest);
    free(r->chunks);
    free(r->path);
    free(r);
}

json_t *rune_artifact_reader_manifest(struct rune_artifact_reader *r)
{
    return r->manifest;
}

/* The file's size must match the manifest: a short file names the first
 * chunk that is cut off. */
static int check_size(struct rune_artifact_reader *r, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(r->src.fd, &st) != 0) {
        snprintf(err, errlen, "cannot stat %s: %s", r->path, strerror(errno));
        return -1;
    }
    long long want = (long long)json_integer_value(json_object_get(r->manifest, "bytes"));
    long long have = (long long)st.st_size;
    if (have == want)
        return 0;
    if (have > want) {
        snprintf(err, errlen,
                 "%s is %lld bytes but its manifest says %lld: something was appended, or the "
                 "manifest belongs to another file",
                 r->path, have, want);
        return -1;
    }
    size_t first = 0;
    while (first < r->nchunks && r->chunks[first].offset + r->chunks[first].bytes <= have)
        first++;
    r->bad_chunk = (int)first + 1;
    snprintf(err, errlen,
             "%s is %lld bytes but its manifest says %lld: the file is truncated (an "
             "interrupted copy or a full disk?); chunks %zu to %zu of %zu are missing or cut "
             "short",
             r->path, have, want, first + 1, r->nchunks, r->nchunks);
    return -1;
}

/* Worker: reads chunk s->index into s->in, checks its SHA-256 before
 * decompressing a byte of it, then decompresses it whole into s->out and
 * checks that it is exactly one frame of the codec, of raw bytes. */
static int decompress_job(struct rune_pool_worker *wk, struct rune_pool_slot *s)
{
    const struct source *src = wk->pool->ctx;
    const struct chunk_info *c = &src->chunks[s->index];
    size_t len = (size_t)c->bytes, raw = (size_t)c->raw;
    /* one spare byte shows a frame that holds more than the manifest says */
    if (rune_pool_grow(&s->in, &s->in_cap, len) != 0 ||
        (!src->sums_only && rune_pool_grow(&s->out, &s->out_cap, raw + 1) != 0)) {
        snprintf(s->err, sizeof s->err,
                 "no memory to read it (%zu bytes, %zu decompressed): free memory on this host and "
                 "run the step again",
                 len, raw);
        return -1;
    }
    s->in_len = 0;
    while (s->in_len < len) {
        ssize_t n =
            pread(src->fd, s->in + s->in_len, len - s->in_len, (off_t)c->offset + (off_t)s->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(s->err, sizeof s->err, "cannot read: %s", strerror(errno));
            return -1;
        }
        if (n == 0) {
            snprintf(s->err, sizeof s->err, "the file ends inside this chunk (truncated)");
            return -1;
        }
        s->in_len += (size_t)n;
    }
    rune_sha256_hex(s->in, len, s->sha);
    if (strcmp(s->sha, c->sha) != 0) {
        snprintf(s->err, sizeof s->err, "SHA-256 mismatch — the file was modified or damaged");
        return -1;
    }
    if (src->sums_only) {
        s->out_len = 0;
        return 0;
    }
    enum rune_codec_result rc = src->codec->decompress(&wk->codec, s->in, len, s->out, raw + 1,
                                                       &s->out_len, s->err, sizeof s->err);
    if (rc == RUNE_CODEC_TOO_BIG) {
        snprintf(s->err, sizeof s->err,
                 "decompresses to more than the %lld bytes the manifest says", c->raw);
        return -1;
    }
    if (rc != RUNE_CODEC_OK)
        return -1;
    if (s->out_len != raw) {
        snprintf(s->err, sizeof s->err, "decompresses to %zu bytes but the manifest says %lld",
                 s->out_len, c->raw);
        return -1;
    }
    return 0;
}

/* Copies the manifest's chunk table (manifest_check has vouched for it)
 * and the largest raw size, which sizes the ring. */
static int chunks_copy(struct rune_artifact_reader *r, size_t *max_raw)
{
    json_t *list = json_object_get(r->manifest, "chunks");
    r->nchunks = json_array_size(list);
    r->chunks = calloc(r->nchunks, sizeof *r->chunks);
    if (!r->chunks)
        return -1;
    *max_raw = 1;
    for (size_t i = 0; i < r->nchunks; i++) {
        json_t *c = json_array_get(list, i);
        struct chunk_info *ci = &r->chunks[i];
        ci->offset = (long long)json_integer_value(json_object_get(c, "offset"));
        ci->bytes = (long long)json_integer_value(json_object_get(c, "bytes"));
        ci->raw = (long long)json_integer_value(json_object_get(c, "raw_bytes"));
        snprintf(ci->sha, sizeof ci->sha, "%s", json_string_value(json_object_get(c, "sha256")));
        if ((size_t)ci->raw > *max_raw)
            *max_raw = (size_t)ci->raw;
    }
    return 0;
}

static int reader_open(struct rune_artifact_reader **out, const char *path, json_t *manifest,
                       bool sums_only, char *err, size_t errlen)
{
    struct rune_artifact_reader *r = calloc(1, sizeof *r);
    if (!r) {
        json_decref(manifest);
        snprintf(err, errlen,
                 "no memory to open backup %s: free memory on this host and run the step again",
                 path);
        return -1;
    }
    r->src.fd = -1;
    r->manifest = manifest;
    r->path = strdup(path);
    r->whole = EVP_MD_CTX_new();
    size_t max_raw;
    if (!r->path || !r->whole || EVP_DigestInit_ex(r->whole, EVP_sha256(), NULL) != 1 ||
        chunks_copy(r, &max_raw) != 0) {
        snprintf(err, errlen,
                 "no memory for the chunk table of backup %s (%zu chunks): free memory on this "
                 "host and run the step again",
                 path, json_array_size(json_object_get(manifest, "chunks")));
        goto fail;
    }
    r->src.chunks = r->chunks;
    r->src.codec = rune_codec_of(manifest); /* manifest_check vouched for it */
    r->src.sums_only = sums_only;
    r->end = r->nchunks;
    /* no symlink followed where another user could swap one in (trust.h) */
    struct stat opened;
    r->src.fd = rune_open_input(path, &opened, err, errlen);
    if (r->src.fd < 0)
        goto fail;
    if (check_size(r, err, errlen) != 0)
        goto fail;
    int threads = rune_pool_threads(0);
    size_t nslots = rune_pool_slots(&threads, sums_only ? 0 : max_raw);
    if (rune_pool_start(&r->pool, threads, nslots, decompress_job, &r->src, path, err, errlen) != 0)
        goto fail;
    *out = r;
    return 0;
fail:
    rune_artifact_reader_close(r);
    return -1;
}

int rune_artifact_reader_open(struct rune_artifact_reader **out, const char *path, char *err,
                              size_t errlen)
{
    *out = NULL;
    json_t *m = rune_artifact_manifest_load(path, err, errlen);
    if (!m)
        return -1;
    return reader_open(out, path, m, false, err, errlen);
}

static int chunk_fail(struct rune_artifact_reader *r, char *err, size_t errlen, const char *what)
{
    r->bad_chunk = (int)r->cur + 1;
    r->failed = true;
    snprintf(err, errlen, "chunk %zu of %zu (offset %lld): %s", r->cur + 1, r->nchunks,
             r->chunks[r->cur].offset, what);
    return -1;
}

/* Keeps the workers ahead of the caller: queues chunks while slots are
 * free. */
static void read_ahead(struct rune_artifact_reader *r)
{
    while (r->first + r->pool.queued < r->end && !rune_pool_full(&r->pool))
        rune_pool_queue(&r->pool, r->first + (size_t)r->pool.queued);
}

/* Takes chunk cur from the workers once they checked it, adds it to the
 * whole-file SHA-256 and, before the last chunk is handed out, checks that
 * too. */
static int chunk_take(struct rune_artifact_reader *r, char *err, size_t errlen)
{
    read_ahead(r);
    struct rune_pool_slot *s = rune_pool_oldest(&r->pool, true);
    if (s->rc != 0)
        return chunk_fail(r, err, errlen, s->err);
    bool whole = r->first == 0 && r->end == r->nchunks; /* a range has no whole-file check */
    if (whole)
        EVP_DigestUpdate(r->whole, s->in, s->in_len);
    if (whole && r->cur + 1 == r->nchunks) {
        char sha[RUNE_SHA256_HEX];
        rune_digest_hex(r->whole, sha);
        if (strcmp(sha, json_string_value(json_object_get(r->manifest, "sha256"))) != 0) {
            r->failed = true;
            snprintf(err, errlen,
                     "%s: the whole-file SHA-256 does not match the manifest although every "
                     "chunk does: the manifest was edited",
                     r->path);
            return -1;
        }
    }
    r->hold = s;
    r->pos = 0;
    return 0;
}

/* Chunk cur is all handed out: its slot goes back to the workers. */
static void chunk_done(struct rune_artifact_reader *r)
{
    r->hold = NULL;
    r->cur++;
    rune_pool_release(&r->pool);
    read_ahead(r);
}

ssize_t rune_artifact_read(struct rune_artifact_reader *r, void *buf, size_t len, char *err,
                           size_t errlen)
{
    if (r->failed) {
        snprintf(err, errlen, "%s: reading already failed", r->path);
        return -1;
    }
    if (len == 0)
        return 0;
    for (;;) {
        if (!r->hold) {
            if (r->cur == r->end)
                return 0;
            if (chunk_take(r, err, errlen) != 0)
                return -1;
        }
        size_t left = r->hold->out_len - r->pos;
        size_t n = left < len ? left : len;
        memcpy(buf, r->hold->out + r->pos, n);
        r->pos += n;
        if (r->pos == r->hold->out_len)
            chunk_done(r);
        if (n > 0)
            return (ssize_t)n; /* never bytes of two chunks in one call */
    }
}

/* ---- verification ---- */

void rune_artifact_check_release(struct rune_artifact_check *chk)
{
    json_decref(chk->manifest);
    chk->manifest = NULL;
}

/* Tells the watcher how far verification is (raw bytes). */
static void tell(const struct rune_artifact_watch *watch, unsigned long long done,
                 unsigned long long total)
{
    if (watch && watch->progress)
        watch->progress(watch->ctx, done, total);
}

static int verify(const char *path, const struct rune_artifact_watch *watch,
                  struct rune_artifact_check *chk, bool sums_only)
{
    memset(chk, 0, sizeof *chk);
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(chk->reason, sizeof chk->reason, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    json_t *m = rune_artifact_manifest_load(path, chk->reason, sizeof chk->reason);
    if (!m)
        return -1;
    chk->manifest = json_incref(m);
    struct rune_artifact_reader *r;
    if (reader_open(&r, path, m, sums_only, chk->reason, sizeof chk->reason) != 0) {
        /* reader_open consumed m; a size mismatch names its chunk */
        long long have = (long long)st.st_size;
        json_t *chunks = json_object_get(chk->manifest, "chunks");
        for (size_t i = 0; i < json_array_size(chunks); i++) {
            json_t *c = json_array_get(chunks, i);
            if (json_integer_value(json_object_get(c, "offset")) +
                    json_integer_value(json_object_get(c, "bytes")) >
                have) {
                chk->bad_chunk = (int)i + 1;
                break;
            }
        }
        return -1;
    }
    /* manifest_check made the chunks add up to raw_bytes */
    unsigned long long done = 0, total = (unsigned long long)json_integer_value(
                                     json_object_get(chk->manifest, "raw_bytes"));
    tell(watch, done, total);
    /* the reader's checks, chunk by chunk, without copying the data out */
    int rc = 0;
    while (r->cur < r->nchunks) {
        if (watch && watch->cancelled && watch->cancelled(watch->ctx)) {
            chk->cancelled = true;
            snprintf(chk->reason, sizeof chk->reason, "verification of %s was cancelled", path);
            rc = -1;
            break;
        }
        if (chunk_take(r, chk->reason, sizeof chk->reason) != 0) {
            chk->bad_chunk = r->bad_chunk;
            rc = -1;
            break;
        }
        done += (unsigned long long)r->chunks[r->cur].raw;
        chunk_done(r);
        tell(watch, done, total);
    }
    rune_artifact_reader_close(r);
    chk->ok = rc == 0;
    if (chk->ok)
        chk->reason[0] = '\0';
    return rc;
}

int rune_artifact_verify(const char *path, const struct rune_artifact_watch *watch,
                         struct rune_artifact_check *chk)
{
    return verify(path, watch, chk, false);
}

int rune_artifact_verify_sums(const char *path, const struct rune_artifact_watch *watch,
                              struct rune_artifact_check *chk)
{
    return verify(path, watch, chk, true);
}

int rune_artifact_reader_open_range(struct rune_artifact_reader **out, const char *path,
                                    json_t *manifest, size_t first, size_t count, char *err,
                                    size_t errlen)
{
    *out = NULL;
    json_t *m = manifest ? json_incref(manifest) : rune_artifact_manifest_load(path, err, errlen);
    if (!m)
        return -1;
    size_t n = json_array_size(json_object_get(m, "chunks"));
    if (first > n || count > n - first) {
        snprintf(err, errlen, "%s has %zu chunks; chunks %zu to %zu do not exist", path, n,
                 first + 1, first + count);
        json_decref(m);
        return -1;
    }
    struct rune_artifact_reader *r;
    if (reader_open(&r, path, m, false, err, errlen) != 0)
        return -1;
    /* the workers start reading at the first queue, in read_ahead */
    r->first = r->cur = first;
    r->end = first + count;
    *out = r;
    return 0;
}
