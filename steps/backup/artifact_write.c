/*
 * artifact_write.c — writing a backup in the artifact format (artifact.h,
 * docs/backups.md): the streaming writer, its manifest, and assembling a
 * backup from the chunks of others.
 *
 * The writer cuts its input into chunks and compresses each into a
 * complete frame of its codec (codec.h: a gzip member or a zstd frame).
 * Chunks are independent, so a pool of worker threads (pool.h) compresses
 * several at once, as pigz does, while the calling thread writes finished
 * frames out strictly in order and takes
 * the whole-file SHA-256 as it goes: the output is the same for any number
 * of threads. The pool does not outlive its writer and holds a bounded
 * number of chunks (two per worker).
 *
 * A writer can also take in another backup's chunks as they are
 * (rune_artifact_append): that is how pg.dump assembles one backup from
 * parts written in parallel. Everything lands through a safe file
 * (safefile.h): nothing appears under the final names until commit.
 */
#include "artifact.h"
#include "clock.h"
#include "codec.h"
#include "digest.h"
#include "pool.h"
#include "safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* What the workers compress with (read-only while they run). */
struct encoding {
    const struct rune_codec *codec;
    int level;
};

struct rune_artifact_writer {
    struct rune_safe_file data;
    char *path, *manifest_path, *engine, *source, *recovery_point;
    struct encoding enc;
    size_t chunk_size;
    long long created_ms;
    struct rune_pool pool;
    struct rune_pool_slot *fill; /* the slot being filled with input, or NULL */
    EVP_MD_CTX *whole;           /* SHA-256 of the compressed file, as it is written */
    json_t *chunks;
    unsigned long long bytes, raw_bytes; /* written out */
    unsigned long long given;            /* raw bytes given: written, appended */
    rune_artifact_progress_fn progress;
    void *progress_ctx;
    bool failed;
};

/* A chunk is in the data file: tell the caller, if it asked. */
static void tell(struct rune_artifact_writer *w)
{
    if (w->progress)
        w->progress(w->progress_ctx, w->raw_bytes, w->given);
}

/* Worker: compresses s->in into one complete frame of the codec in s->out,
 * and takes the frame's SHA-256. */
static int compress_job(struct rune_pool_worker *wk, struct rune_pool_slot *s)
{
    const struct encoding *enc = wk->pool->ctx;
    char why[200];
    if (enc->codec->compress(&wk->codec, enc->level, s->in, s->in_len, &s->out, &s->out_cap,
                             &s->out_len, why, sizeof why) != 0) {
        snprintf(s->err, sizeof s->err, "chunk %zu (%zu bytes): %s", s->index + 1, s->in_len, why);
        return -1;
    }
    rune_sha256_hex(s->out, s->out_len, s->sha);
    return 0;
}

/* Writes the oldest compressed chunk at the end of the data file, in order,
 * and records it. */
static int frame_append(struct rune_artifact_writer *w, struct rune_pool_slot *s, char *err,
                        size_t errlen)
{
    if (s->rc != 0) {
        snprintf(err, errlen, "cannot write backup %s: %s", w->path, s->err);
        return -1;
    }
    EVP_DigestUpdate(w->whole, s->out, s->out_len);
    if (rune_write_all(w->data.fd, s->out, s->out_len) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", w->path, strerror(errno));
        return -1;
    }
    json_t *c =
        json_pack("{s:I, s:I, s:I, s:s}", "offset", (json_int_t)w->bytes, "bytes",
                  (json_int_t)s->out_len, "raw_bytes", (json_int_t)s->in_len, "sha256", s->sha);
    if (!c || json_array_append_new(w->chunks, c) != 0) {
        snprintf(err, errlen,
                 "no memory for the chunk table of backup %s (chunk %zu): free memory on this host "
                 "and run the step again",
                 w->path, json_array_size(w->chunks) + 1);
        return -1;
    }
    w->bytes += s->out_len;
    w->raw_bytes += s->in_len;
    rune_pool_release(&w->pool);
    tell(w);
    return 0;
}

/* Writes out finished chunks in order: those already done, or with `all`
 * every queued one, waiting for each. */
static int drain(struct rune_artifact_writer *w, bool all, char *err, size_t errlen)
{
    struct rune_pool_slot *s;
    while ((s = rune_pool_oldest(&w->pool, all))) {
        if (frame_append(w, s, err, errlen) != 0) {
            w->failed = true;
            return -1;
        }
    }
    return 0;
}

/* Makes w->fill an empty slot with room for a chunk, writing out the
 * oldest chunks while the ring is full. */
static int fill_start(struct rune_artifact_writer *w, char *err, size_t errlen)
{
    while (rune_pool_full(&w->pool)) {
        struct rune_pool_slot *s = rune_pool_oldest(&w->pool, true);
        if (frame_append(w, s, err, errlen) != 0) {
            w->failed = true;
            return -1;
        }
    }
    struct rune_pool_slot *s = rune_pool_free_slot(&w->pool);
    if (rune_pool_grow(&s->in, &s->in_cap, w->chunk_size) != 0) {
        w->failed = true;
        snprintf(err, errlen,
                 "no memory for a %zu-byte chunk buffer of backup %s: free memory on this host "
                 "(or use a smaller chunk_size or fewer threads) and run the step again",
                 w->chunk_size, w->path);
        return -1;
    }
    s->in_len = 0;
    w->fill = s;
    return 0;
}

/* Queues the filled chunk and writes out whatever is already finished. */
static int fill_queue(struct rune_artifact_writer *w, char *err, size_t errlen)
{
    w->fill = NULL;
    rune_pool_queue(&w->pool, (size_t)w->pool.queued);
    return drain(w, false, err, errlen);
}

static void writer_free(struct rune_artifact_writer *w)
{
    if (!w)
        return;
    rune_pool_end(&w->pool); /* first: the workers use the slots */
    rune_safe_file_abort(&w->data);
    EVP_MD_CTX_free(w->whole);
    json_decref(w->chunks);
    free(w->path);
    free(w->manifest_path);
    free(w->engine);
    free(w->source);
    free(w->recovery_point);
    free(w);
}

static int exists_error(const char *path, char *err, size_t errlen)
{
    snprintf(err, errlen, "backup %s already exists; choose another name or remove it", path);
    return -1;
}

int rune_artifact_open(struct rune_artifact_writer **out, const char *path,
                       const struct rune_artifact_meta *meta, char *err, size_t errlen)
{
    *out = NULL;
    if (!meta || !meta->engine || !*meta->engine || !meta->source) {
        snprintf(err, errlen, "a backup needs an engine and a source");
        return -1;
    }
    if (rune_artifact_level_check(meta->compression, meta->level, err, errlen) != 0)
        return -1;
    const struct rune_codec *codec = rune_codec_find(meta->compression);
    int level = meta->level ? meta->level : codec->level_default;
    size_t chunk = meta->chunk_size ? meta->chunk_size : RUNE_ARTIFACT_CHUNK_DEFAULT;
    if (chunk < RUNE_ARTIFACT_CHUNK_MIN || chunk > RUNE_ARTIFACT_CHUNK_MAX) {
        snprintf(err, errlen, "chunk size %zu is out of range (%zu to %zu bytes)", chunk,
                 RUNE_ARTIFACT_CHUNK_MIN, RUNE_ARTIFACT_CHUNK_MAX);
        return -1;
    }
    if (meta->threads < 0 || meta->threads > RUNE_ARTIFACT_THREADS_MAX) {
        snprintf(err, errlen,
                 "%d compression threads is out of range: use 1 to %d, or 0 for one per CPU",
                 meta->threads, RUNE_ARTIFACT_THREADS_MAX);
        return -1;
    }
    long long rp;
    if (meta->recovery_point && rune_clock_parse_iso(meta->recovery_point, &rp) != 0) {
        snprintf(err, errlen, "recovery point \"%s\" is not a UTC time like 2024-05-01T02:00:00Z",
                 meta->recovery_point);
        return -1;
    }
    struct stat st;
    char *mpath = rune_artifact_manifest_path(path);
    if (!mpath) {
        snprintf(err, errlen,
                 "no memory for the manifest name of backup %s: free memory on this host and run "
                 "the step again",
                 path);
        return -1;
    }
    if (lstat(path, &st) == 0 || lstat(mpath, &st) == 0) {
        free(mpath);
        return exists_error(path, err, errlen);
    }
    struct rune_artifact_writer *w = calloc(1, sizeof *w);
    if (!w) {
        free(mpath);
        snprintf(
            err, errlen,
            "no memory to start writing backup %s: free memory on this host and run the step again",
            path);
        return -1;
    }
    w->data.fd = -1;
    w->manifest_path = mpath;
    w->path = strdup(path);
    w->engine = strdup(meta->engine);
    w->source = strdup(meta->source);
    w->recovery_point = meta->recovery_point ? strdup(meta->recovery_point) : NULL;
    w->enc.codec = codec;
    w->enc.level = level;
    w->chunk_size = chunk;
    w->progress = meta->progress;
    w->progress_ctx = meta->progress_ctx;
    w->created_ms = rune_clock_wall_ms();
    w->whole = EVP_MD_CTX_new();
    w->chunks = json_array();
    if (!w->path || !w->engine || !w->source || (meta->recovery_point && !w->recovery_point) ||
        !w->whole || !w->chunks || EVP_DigestInit_ex(w->whole, EVP_sha256(), NULL) != 1) {
        writer_free(w);
        snprintf(
            err, errlen,
            "no memory to start writing backup %s: free memory on this host and run the step again",
            path);
        return -1;
    }
    if (rune_safe_file_open(&w->data, path, false, 0600, err, errlen) != 0) {
        if (lstat(path, &st) == 0)
            exists_error(path, err, errlen);
        writer_free(w);
        return -1;
    }
    int threads = rune_pool_threads(meta->threads);
    size_t nslots = rune_pool_slots(&threads, chunk);
    if (rune_pool_start(&w->pool, threads, nslots, compress_job, &w->enc, path, err, errlen) != 0) {
        writer_free(w);
        return -1;
    }
    *out = w;
    return 0;
}

int rune_artifact_write(struct rune_artifact_writer *w, const void *buf, size_t len, char *err,
                        size_t errlen)
{
    if (w->failed) {
        snprintf(err, errlen, "the backup %s already failed; abort it", w->path);
        return -1;
    }
    const unsigned char *p = buf;
    w->given += len;
    while (len > 0) {
        if (!w->fill && fill_start(w, err, errlen) != 0)
            return -1;
        struct rune_pool_slot *s = w->fill;
        size_t room = w->chunk_size - s->in_len;
        size_t n = len < room ? len : room;
        memcpy(s->in + s->in_len, p, n);
        s->in_len += n;
        p += n;
        len -= n;
        if (s->in_len == w->chunk_size && fill_queue(w, err, errlen) != 0)
            return -1;
    }
    return 0;
}

void rune_artifact_abort(struct rune_artifact_writer *w)
{
    writer_free(w);
}

/* Keys of the manifest that belong to the format; extras may not set them. */
static const char *const owned_keys[] = {
    "format",       "format_version", "name",      "engine", "source",     "created_at",
    "completed_at", "compression",    "read_with", "level",  "chunk_size", "bytes",
    "raw_bytes",    "sha256",         "chunks",    NULL,
};

static int check_extras(json_t *extras, char *err, size_t errlen)
{
    if (!extras)
        return 0;
    if (!json_is_object(extras)) {
        snprintf(err, errlen, "manifest extras must be an object");
        return -1;
    }
    for (const char *const *k = owned_keys; *k; k++) {
        if (json_object_get(extras, *k)) {
            snprintf(err, errlen, "manifest extra \"%s\" is a field of the format itself", *k);
            return -1;
        }
    }
    json_t *rp = json_object_get(extras, "recovery_point");
    long long ms;
    if (rp && (!json_is_string(rp) || rune_clock_parse_iso(json_string_value(rp), &ms))) {
        snprintf(err, errlen,
                 "manifest extra recovery_point must be a UTC time like "
                 "2024-05-01T02:00:00.000Z");
        return -1;
    }
    json_t *tables = json_object_get(extras, "tables");
    if (tables && !json_is_object(tables)) {
        snprintf(err, errlen, "manifest extra tables must be an object {table: rows}");
        return -1;
    }
    return 0;
}

static json_t *manifest_build(struct rune_artifact_writer *w, const char *sha, json_t *extras)
{
    char created[RUNE_ISO_LEN], completed[RUNE_ISO_LEN];
    rune_clock_iso(created, w->created_ms);
    rune_clock_iso(completed, rune_clock_wall_ms());
    json_t *m = json_pack(
        "{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:s}", "format",
        "rune-backup", "format_version", RUNE_ARTIFACT_FORMAT_VERSION, "name", base_of(w->path),
        "engine", w->engine, "source", w->source, "created_at", created, "completed_at", completed,
        "recovery_point", w->recovery_point ? w->recovery_point : created, "compression",
        w->enc.codec->name, "read_with", w->enc.codec->read_with, "level", w->enc.level,
        "chunk_size", (json_int_t)w->chunk_size, "bytes", (json_int_t)w->bytes, "raw_bytes",
        (json_int_t)w->raw_bytes, "sha256", sha);
    if (!m)
        return NULL;
    const char *key;
    json_t *v;
    json_object_foreach(extras, key, v)
    {
        json_object_set(m, key, v);
    }
    json_object_set(m, "chunks", w->chunks); /* last: long, and read least by people */
    return m;
}

static int manifest_write(const char *mpath, json_t *m, char *err, size_t errlen)
{
    char *text = json_dumps(m, JSON_INDENT(2));
    if (!text) {
        snprintf(err, errlen,
                 "no memory to format manifest %s: free memory on this host and run the step again",
                 mpath);
        return -1;
    }
    struct rune_safe_file f;
    int rc = rune_safe_file_open(&f, mpath, false, 0600, err, errlen);
    if (rc == 0 &&
        (rune_write_all(f.fd, text, strlen(text)) != 0 || rune_write_all(f.fd, "\n", 1) != 0)) {
        snprintf(err, errlen, "cannot write %s: %s", mpath, strerror(errno));
        rune_safe_file_abort(&f);
        rc = -1;
    } else if (rc == 0) {
        rc = rune_safe_file_commit(&f, false, err, errlen);
    }
    free(text);
    return rc;
}

json_t *rune_artifact_commit(struct rune_artifact_writer *w, json_t *extras, char *err,
                             size_t errlen)
{
    if (w->failed) {
        snprintf(err, errlen, "the backup %s already failed", w->path);
        writer_free(w);
        return NULL;
    }
    if (check_extras(extras, err, errlen) != 0) {
        writer_free(w);
        return NULL;
    }
    /* the last, partial chunk; an empty input still gets one (empty) frame
     * so the file is a valid gzip or zstd stream; then every chunk still in
     * flight */
    if ((!w->fill && w->pool.queued == 0 && json_array_size(w->chunks) == 0 &&
         fill_start(w, err, errlen) != 0) ||
        (w->fill && fill_queue(w, err, errlen) != 0) || drain(w, true, err, errlen) != 0) {
        writer_free(w);
        return NULL;
    }
    rune_pool_end(&w->pool);
    char sha[RUNE_SHA256_HEX];
    rune_digest_hex(w->whole, sha);
    json_t *m = manifest_build(w, sha, extras);
    if (!m) {
        snprintf(err, errlen,
                 "no memory for the manifest of backup %s (%zu chunks): free memory on this host "
                 "and run the step again",
                 w->path, json_array_size(w->chunks));
        writer_free(w);
        return NULL;
    }
    if (rune_safe_file_commit(&w->data, false, err, errlen) != 0) {
        if (errno == EEXIST)
            exists_error(w->path, err, errlen);
        json_decref(m);
        writer_free(w);
        return NULL;
    }
    if (manifest_write(w->manifest_path, m, err, errlen) != 0) {
        unlink(w->path); /* ours, and invalid without its manifest */
        json_decref(m);
        writer_free(w);
        return NULL;
    }
    writer_free(w);
    return m;
}

/* ---- assembling a backup from others ---- */

/* Copies chunk i (its manifest entry c) of the backup open on fd, read in
 * order, to the end of w's data file, checking its SHA-256 on the way. */
static int append_chunk(struct rune_artifact_writer *w, int fd, const char *src, size_t i,
                        json_t *c, unsigned char **buf, size_t *cap, char *err, size_t errlen)
{
    size_t len = (size_t)json_integer_value(json_object_get(c, "bytes"));
    json_int_t raw = json_integer_value(json_object_get(c, "raw_bytes"));
    char sha[RUNE_SHA256_HEX];
    if (rune_pool_grow(buf, cap, len) != 0) {
        snprintf(err, errlen,
                 "no memory for chunk %zu of %s (%zu bytes): free memory on this host and run the "
                 "step again",
                 i + 1, src, len);
        return -1;
    }
    if (rune_read_full(fd, *buf, len) != (ssize_t)len) {
        snprintf(err, errlen, "cannot read %s: %s", src, strerror(errno));
        return -1;
    }
    rune_sha256_hex(*buf, len, sha);
    if (strcmp(sha, json_string_value(json_object_get(c, "sha256"))) != 0) {
        snprintf(err, errlen, "chunk %zu of %s: SHA-256 mismatch — the file was modified", i + 1,
                 src);
        return -1;
    }
    if (rune_write_all(w->data.fd, *buf, len) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", w->path, strerror(errno));
        return -1;
    }
    EVP_DigestUpdate(w->whole, *buf, len);
    json_t *e = json_pack("{s:I, s:I, s:I, s:s}", "offset", (json_int_t)w->bytes, "bytes",
                          (json_int_t)len, "raw_bytes", raw, "sha256", sha);
    if (!e || json_array_append_new(w->chunks, e) != 0) {
        snprintf(err, errlen,
                 "no memory for the chunk table of backup %s (appending %s): free memory on this "
                 "host and run the step again",
                 w->path, src);
        return -1;
    }
    w->bytes += len;
    w->raw_bytes += (unsigned long long)raw;
    w->given += (unsigned long long)raw;
    tell(w);
    return 0;
}

int rune_artifact_append(struct rune_artifact_writer *w, const char *src,
                         struct rune_artifact_span *span, char *err, size_t errlen)
{
    if (w->failed) {
        snprintf(err, errlen, "the backup %s already failed; abort it", w->path);
        return -1;
    }
    /* what w holds so far goes out first, ending its last chunk early */
    if ((w->fill && fill_queue(w, err, errlen) != 0) || drain(w, true, err, errlen) != 0)
        return -1;
    json_t *m = rune_artifact_manifest_load(src, err, errlen);
    if (!m)
        return -1;
    json_t *chunks = json_object_get(m, "chunks");
    long long level = (long long)json_integer_value(json_object_get(m, "level"));
    long long csize = (long long)json_integer_value(json_object_get(m, "chunk_size"));
    const char *comp = json_string_value(json_object_get(m, "compression"));
    if (rune_codec_find(comp) != w->enc.codec) {
        snprintf(err, errlen,
                 "cannot append %s to %s: its chunks are %s and this backup's are %s (one backup "
                 "holds one compression, so that %s reads it whole)",
                 src, w->path, comp ? comp : "gzip", w->enc.codec->name, w->enc.codec->read_with);
        json_decref(m);
        return -1;
    }
    if (level != w->enc.level || csize > (long long)w->chunk_size) {
        snprintf(err, errlen,
                 "cannot append %s to %s: it was written with level %lld and chunk size %lld, "
                 "not %d and at most %zu",
                 src, w->path, level, csize, w->enc.level, w->chunk_size);
        json_decref(m);
        return -1;
    }
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 ||
        st.st_size != (off_t)json_integer_value(json_object_get(m, "bytes"))) {
        snprintf(err, errlen, "cannot append %s: %s", src,
                 fd < 0 ? strerror(errno) : "its size is not its manifest's");
        if (fd >= 0)
            close(fd);
        json_decref(m);
        return -1;
    }
    struct rune_artifact_span sp = {.first_chunk = json_array_size(w->chunks),
                                    .chunks = json_array_size(chunks),
                                    .offset = w->bytes,
                                    .raw_offset = w->raw_bytes};
    unsigned char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sp.chunks; i++)
        rc = append_chunk(w, fd, src, i, json_array_get(chunks, i), &buf, &cap, err, errlen);
    free(buf);
    close(fd);
    json_decref(m);
    if (rc != 0) {
        w->failed = true;
        return -1;
    }
    sp.bytes = w->bytes - sp.offset;
    sp.raw_bytes = w->raw_bytes - sp.raw_offset;
    if (span)
        *span = sp;
    return 0;
}
