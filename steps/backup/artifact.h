/*
 * artifact.h — the backup artifact format, shared by the step families
 * that write or read backups (file.*, backup.*, sqlite.*, pg.*).
 *
 * A backup is two files side by side:
 *
 *   NAME.gz or NAME.zst     the data: independent frames of one codec (gzip
 *                           members, or zstd frames), one per chunk of
 *                           input (4 MiB by default), so `gzip -dc` (or
 *                           `zstd -dc`) reads it whole as one stream;
 *   NAME.manifest.json      what it holds: engine, source, created_at,
 *                           recovery_point, compression, sizes, whole-file
 *                           SHA-256 and, per chunk, offset, sizes and
 *                           SHA-256; plus what the writer adds (tables,
 *                           schema_fingerprint).
 *
 * docs/backups.md describes every manifest field and how to check a backup
 * by hand. A data file without its manifest is not a valid backup: the
 * manifest is put in place only after the data is durable.
 *
 * Writing is streaming: open → write(buf, len)… → commit(extras), or
 * abort(). Nothing appears under the final names until commit; any failure
 * removes the partial files; an existing backup is never overwritten.
 *
 * Chunks are compressed (and, when reading, checked and decompressed) by a
 * small pool of worker threads, the way pigz does, while the calling
 * thread writes or hands out finished chunks strictly in order: the bytes
 * are the same whatever the number of threads. The pool lives from open to
 * commit/abort (or close); nothing is left running after those.
 *
 * Files: artifact_write.c (writing, assembling), artifact_read.c (the
 * manifest, reading, verifying), over pool.h (the worker threads), codec.h
 * (gzip and zstd) and safefile.h (how files are put in place).
 *
 * This library sits beside the step families: it includes no engine header
 * but clock.h, whose UTC times the manifest records (it takes no
 * rune_call; where a loop can be long, callers pass callbacks that ask
 * whether to stop and hear how far it is: struct rune_artifact_watch) and
 * reports errors as text for a person in a caller's buffer. What the reader
 * returns and what a writer is given, the caller counts itself.
 */
#ifndef RUNE_ARTIFACT_H
#define RUNE_ARTIFACT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RUNE_ARTIFACT_FORMAT_VERSION 1
#define RUNE_ARTIFACT_CHUNK_DEFAULT ((size_t)4 << 20) /* input bytes per chunk (frame) */
#define RUNE_ARTIFACT_CHUNK_MIN ((size_t)1024)
#define RUNE_ARTIFACT_CHUNK_MAX ((size_t)256 << 20)
#define RUNE_ARTIFACT_MANIFEST_SUFFIX ".manifest.json"
#define RUNE_ARTIFACT_THREADS_AUTO_MAX 8 /* the default: one per CPU, at most this */
#define RUNE_ARTIFACT_THREADS_MAX 64     /* what a caller may ask for */

/* Cancellation for long loops: return true to stop. */
typedef bool (*rune_artifact_cancel_fn)(void *ctx);
/* How far a long loop is: `done` of `total` bytes of the backup's data
 * (raw, uncompressed: the manifest's raw_bytes), from 0 up to total. */
typedef void (*rune_artifact_progress_fn)(void *ctx, unsigned long long done,
                                          unsigned long long total);

/* What a long operation tells its caller, and asks it, on the caller's
 * thread: whether to stop (asked between chunks) and how far it is (after
 * each chunk, and 0 before the first). Either callback may be NULL, and so
 * may the struct; ctx is passed to both (a step passes its rune_call). */
struct rune_artifact_watch {
    rune_artifact_cancel_fn cancelled;
    rune_artifact_progress_fn progress;
    void *ctx;
};

/* ---- Writing ---- */

/* What a writer knows before the first byte. Strings are borrowed for the
 * duration of rune_artifact_open (copied). */
struct rune_artifact_meta {
    const char *engine;         /* required: "file", "sqlite", "postgres" */
    const char *source;         /* required: what was backed up (a path, a database
                                 * name; never a password) */
    const char *recovery_point; /* UTC ISO-8601 the data is consistent as of; NULL =
                                 * created_at. commit's extras may set it instead. */
    const char *compression;    /* the chunks' codec: "gzip" (NULL: the default) or "zstd" */
    int level;                  /* gzip 1..9, zstd 1..19; 0 = the codec's default (gzip 6,
                                 * zstd 3; see rune_artifact_level_check) */
    size_t chunk_size;          /* input bytes per chunk; 0 = RUNE_ARTIFACT_CHUNK_DEFAULT
                                 * (tests use small ones) */
    int threads;                /* compression workers, 1..RUNE_ARTIFACT_THREADS_MAX;
                                 * 0 = one per CPU, at most RUNE_ARTIFACT_THREADS_AUTO_MAX.
                                 * The output is byte-identical whatever the number. */
    /* Told on the caller's thread (inside write, append and commit) each
     * time a chunk is in the data file: the raw bytes written out so far
     * (done) of the raw bytes given so far (total: the writer cannot know
     * what is still to come; a caller that does reports its own). That,
     * not what it has handed over, is a writer's progress: the workers
     * hold up to 2 x threads chunks, and commit writes out the last of
     * them. NULL: not told. */
    rune_artifact_progress_fn progress;
    void *progress_ctx;
};

struct rune_artifact_writer;

/* Starts the backup whose data file is `path` (the manifest goes to
 * path + ".manifest.json"). Fails if either already exists ("backup X
 * already exists; choose another name or remove it"), if the directory is
 * missing or not writable. On success *out is a writer that the caller must
 * end with rune_artifact_commit or rune_artifact_abort. Returns 0 or -1
 * with err filled. */
int rune_artifact_open(struct rune_artifact_writer **out, const char *path,
                       const struct rune_artifact_meta *meta, char *err, size_t errlen);

/* Appends len bytes of raw (uncompressed) data. Full chunks go to the
 * workers; finished ones are written out in order as they come, so a call
 * may wait for the oldest chunk in flight (at most 2 × threads chunks are
 * held). Returns 0, or -1 with err filled (a write error such as a full
 * disk, or a compression error, possibly of a chunk given in an earlier
 * call); after a failure the only call left is rune_artifact_abort. */
int rune_artifact_write(struct rune_artifact_writer *w, const void *buf, size_t len, char *err,
                        size_t errlen);

/* Finishes: flushes the last chunk, fsyncs and renames the data file into
 * place, then writes the manifest the same way. `extras` (borrowed, may be
 * NULL) is an object merged into the manifest: "tables" ({name: rows}),
 * "schema_fingerprint", "recovery_point", or any key the writer's engine
 * documents; keys the format owns (sha256, chunks, bytes, ...) are refused.
 * Always frees w. Returns the manifest as written (new reference), or NULL
 * with err filled and no file left behind. */
json_t *rune_artifact_commit(struct rune_artifact_writer *w, json_t *extras, char *err,
                             size_t errlen);

/* Gives up: stops and joins the workers (a chunk being compressed is
 * finished first), removes the partial files and frees w. NULL is fine. */
void rune_artifact_abort(struct rune_artifact_writer *w);

/* ---- Assembling a backup from others ---- */

/* Where appended data landed in the writer's backup. */
struct rune_artifact_span {
    size_t first_chunk;                       /* 0-based index of the first chunk appended */
    size_t chunks;                            /* how many */
    unsigned long long offset, bytes;         /* in the data file */
    unsigned long long raw_offset, raw_bytes; /* in the uncompressed data */
};

/* Appends the chunks of the complete backup `src` (data file and manifest)
 * to w as they are: its frames are copied, not recompressed, each
 * checked against src's manifest (SHA-256) on the way. What w holds so far
 * is written out first and its last chunk ends early, so src's data starts
 * a chunk of its own — that is how a writer puts sections on chunk
 * boundaries, and why a chunk may hold less than chunk_size. src must have
 * been written with w's compression and level (the manifest names one for
 * every chunk) and at most w's chunk size; it is not
 * changed. *span (may be NULL) says where src's data went. Returns 0, or
 * -1 with err filled; after a failure the only call left is
 * rune_artifact_abort. */
int rune_artifact_append(struct rune_artifact_writer *w, const char *src,
                         struct rune_artifact_span *span, char *err, size_t errlen);

/* ---- Compression: gzip or zstd ---- */

/* The compression and level parameters of every step that writes a backup
 * (file.compress, sqlite.backup, pg.dump), one definition so that they
 * read and validate alike: struct rune_param initialisers (step.h). */
#define RUNE_ARTIFACT_COMPRESSIONS "gzip|zstd"
#define RUNE_ARTIFACT_COMPRESSION_PARAM                                                            \
    {                                                                                              \
        "compression", RUNE_T_STRING, false, "gzip",                                               \
            "gzip (read without rune by gzip -dc) or zstd (by zstd -dc; faster for a similar or "  \
            "better ratio)",                                                                       \
            .choices = RUNE_ARTIFACT_COMPRESSIONS                                                  \
    }
#define RUNE_ARTIFACT_LEVEL_PARAM                                                                  \
    {                                                                                              \
        "level", RUNE_T_INT, false, NULL,                                                          \
            "compression level: gzip 1 (fastest) to 9 (smallest), 6 when not given; "              \
            "zstd 1 to 19, 3 when not given"                                                       \
    }

/* The data file's suffix for a compression ("gzip" or NULL: ".gz"; "zstd":
 * ".zst"; a name rune does not know: ".gz", and rune_artifact_open refuses
 * the name). Backup names are built with it (names.h):
 * NAME-YYYYMMDD-HHMMSS.db.zst. */
const char *rune_artifact_suffix(const char *compression);

/* Checks a compression name and a level for it before anything starts
 * (rune_artifact_open checks them again): gzip takes 1 (fastest) to 9
 * (smallest), zstd 1 to 19; 0 means the codec's default (gzip 6, zstd 3,
 * as the gzip and zstd commands have it). 0, or -1 with a message for a
 * person in err. */
int rune_artifact_level_check(const char *compression, long long level, char *err, size_t errlen);

/* The command that reads a backup without rune, as its manifest's
 * `compression` says: "gzip -dc" (also when the field is absent, as in the
 * first manifests) or "zstd -dc"; NULL for a compression this rune does not
 * know. The manifest records it as `read_with`. */
const char *rune_artifact_read_with(json_t *manifest);
/* The manifest's compression by name, "gzip" when absent; NULL for one this
 * rune does not know. */
const char *rune_artifact_compression(json_t *manifest);

/* ---- Reading and verifying ---- */

/* The manifest path of a data file: path + ".manifest.json". Malloc'd. */
char *rune_artifact_manifest_path(const char *path);

/* Loads and sanity-checks the manifest of the backup whose data file is
 * `path` (version, sizes, chunk table). Does not read the data. Returns a
 * new reference, or NULL with a reason in err. */
json_t *rune_artifact_manifest_load(const char *path, char *err, size_t errlen);

struct rune_artifact_reader;

/* Opens a backup for a restore: loads the manifest, checks the data file's
 * size against it, and starts the workers (one per CPU, at most
 * RUNE_ARTIFACT_THREADS_AUTO_MAX) that read, check and decompress chunks
 * ahead of the caller. Returns 0 or -1 with err filled. */
int rune_artifact_reader_open(struct rune_artifact_reader **out, const char *path, char *err,
                              size_t errlen);

/* Decompressed bytes, in order, into buf. A chunk's bytes are returned only
 * once it has been checked whole: its SHA-256, that it is one complete frame
 * of the manifest's codec (a gzip member with its CRC, a zstd frame with
 * its checksum) and nothing more, and its decompressed size; before the last chunk's bytes, the
 * whole-file SHA-256 is checked too. Returns the number of
 * bytes (> 0), 0 at the verified end, or -1 with a reason in err. One call
 * never returns bytes from two chunks, so the bytes of every good chunk
 * before a damaged one are handed out before the error. A restore should
 * keep what it wrote only once read returned 0. */
ssize_t rune_artifact_read(struct rune_artifact_reader *r, void *buf, size_t len, char *err,
                           size_t errlen);

/* Opens a reader over chunks [first, first + count) of a backup only (a
 * section a writer placed on chunk boundaries, see rune_artifact_append).
 * Each chunk is checked as by rune_artifact_read before any of its bytes
 * are returned; the whole-file SHA-256 is not (it needs every chunk): run
 * rune_artifact_verify first. `manifest` (borrowed) is the backup's, as
 * rune_artifact_verify or rune_artifact_manifest_load returned it, or NULL
 * to load it. Returns 0 or -1 with err filled. */
int rune_artifact_reader_open_range(struct rune_artifact_reader **out, const char *path,
                                    json_t *manifest, size_t first, size_t count, char *err,
                                    size_t errlen);

/* The reader's manifest (borrowed; lives as long as the reader). */
json_t *rune_artifact_reader_manifest(struct rune_artifact_reader *r);

void rune_artifact_reader_close(struct rune_artifact_reader *r);

/* The outcome of a full verification. */
struct rune_artifact_check {
    bool ok;
    bool cancelled;   /* stopped by the cancel callback; ok is false */
    int bad_chunk;    /* 1-based chunk that failed, 0 if none or not chunk-specific */
    char reason[512]; /* for a person; empty when ok */
    json_t *manifest; /* owned (decref'd by rune_artifact_check_release); NULL if unreadable */
};

/* Checks everything: manifest sanity, file size, every chunk's SHA-256
 * (locating damage to its chunk), full decompression of every frame with
 * its size, and the whole-file SHA-256. Chunks are checked in parallel as
 * by the reader; the damage reported is always the first in file order.
 * `watch` (may be NULL) is asked whether to stop between chunks and told
 * the raw bytes checked so far after each: they only grow, and reach the
 * manifest's raw_bytes when every chunk is good (a damaged chunk stops
 * them short). Returns 0 when the backup is good, -1 otherwise; `chk`
 * says why. Call rune_artifact_check_release after. */
int rune_artifact_verify(const char *path, const struct rune_artifact_watch *watch,
                         struct rune_artifact_check *chk);
/* The same checks without decompressing: manifest sanity, file size, every
 * chunk's SHA-256 and the whole file's. For a consumer that decompresses
 * (with the reader's full checks) into something it can still throw away —
 * a restore into a scratch database — so the data is read once less.
 * Progress counts the same raw bytes (those of the chunks checked). */
int rune_artifact_verify_sums(const char *path, const struct rune_artifact_watch *watch,
                              struct rune_artifact_check *chk);
void rune_artifact_check_release(struct rune_artifact_check *chk);

#endif
