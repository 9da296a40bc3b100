/*
 * pool.h — the worker threads of the backup format (artifact.h): chunks
 * go through a pool of workers that compress them, or read, check and
 * decompress them, and come back strictly in the order they were queued,
 * so what the writer writes and the reader hands out never depends on
 * timing or on the number of threads.
 *
 * The owner (the writer's or the reader's calling thread) queues chunks
 * into a ring of slots; workers take them in the order they were queued and
 * mark each done; the owner takes results back in that same order. The
 * ring bounds the memory: a slot is reused only after the owner released
 * the chunk it held.
 *
 * Counters are chunk sequence numbers: released <= taken <= queued and
 * queued - released <= nslots. A slot belongs to the owner until it is
 * queued, to one worker until it is done, and to the owner again after;
 * the hand-overs happen under the lock, which orders the accesses.
 *
 * Internal to the artifact format's files (artifact_write.c,
 * artifact_read.c); includes no engine header.
 */
#ifndef RUNE_POOL_H
#define RUNE_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "codec.h"
#include "digest.h"

/* One chunk on its way through a worker. Writing: in is raw input, out its
 * compressed frame (a gzip member, a zstd frame) and sha its SHA-256.
 * Reading: in is a frame read from the file, out what it decompresses to. */
struct rune_pool_slot {
    unsigned char *in, *out;
    size_t in_len, in_cap, out_len, out_cap;
    size_t index; /* chunk number, 0-based */
    bool done;    /* set by the worker, under the lock */
    int rc;       /* 0, or -1 with err */
    char sha[RUNE_SHA256_HEX];
    char err[256];
};

struct rune_pool;

/* A worker owns its (de)compressors (codec.h), made on its first chunk by
 * the job and freed when the pool ends. */
struct rune_pool_worker {
    struct rune_pool *pool;
    pthread_t thread;
    struct rune_codec_state codec;
};

/* What a worker does to one chunk: 0, or -1 with s->err filled. */
typedef int (*rune_pool_job)(struct rune_pool_worker *wk, struct rune_pool_slot *s);

struct rune_pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a chunk was queued, or stop */
    pthread_cond_t done; /* a chunk was finished */
    bool sync_ready;     /* mu and the conditions are initialised */
    struct rune_pool_slot *slots;
    size_t nslots;
    unsigned long long queued, taken, released;
    bool stop;
    rune_pool_job job;
    const void *ctx; /* for the job, read-only while workers run */
    struct rune_pool_worker *workers;
    int nworkers; /* started */
};

/* How many threads to run for a request (0 = one per usable CPU, at most
 * RUNE_ARTIFACT_THREADS_AUTO_MAX). */
int rune_pool_threads(int requested);

/* How many slots for chunks of `chunk` bytes: two per worker, fewer when
 * chunks are large. Lowers *threads when there are fewer slots than
 * workers. */
size_t rune_pool_slots(int *threads, size_t chunk);

/* Starts `threads` workers running `job` over `nslots` slots; `path` names
 * the backup in messages. 0, or -1 with err filled (nothing left running). */
int rune_pool_start(struct rune_pool *p, int threads, size_t nslots, rune_pool_job job,
                    const void *ctx, const char *path, char *err, size_t errlen);

/* Stops the workers (each finishes the chunk it holds; queued ones are
 * dropped), joins them and frees everything. Safe on a zeroed pool. */
void rune_pool_end(struct rune_pool *p);

/* The slot the next chunk goes into. The caller made sure it is free
 * (!rune_pool_full). */
struct rune_pool_slot *rune_pool_free_slot(struct rune_pool *p);
bool rune_pool_full(const struct rune_pool *p);

/* Hands the next slot (filled by the owner) to the workers. */
void rune_pool_queue(struct rune_pool *p, size_t index);

/* The oldest queued chunk, once done; NULL when nothing is queued, or,
 * with wait false, when the oldest is not done yet. */
struct rune_pool_slot *rune_pool_oldest(struct rune_pool *p, bool wait);

/* The owner is finished with the oldest chunk: its slot can be reused. */
void rune_pool_release(struct rune_pool *p);

/* Makes *buf hold at least `want` bytes (at least 1). 0, or -1 when out of
 * memory (*buf unchanged). */
int rune_pool_grow(unsigned char **buf, size_t *cap, size_t want);

#endif
