/*
 * pool.c — the worker threads of the backup format (pool.h).
 */
#include "pool.h"
#include "artifact.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Raw bytes the slots of one pool may hold at once; large chunks get fewer
 * slots (and so fewer workers) rather than more memory. */
#define IN_FLIGHT_BYTES ((size_t)256 << 20)

/* The CPUs this process may run on, as nproc counts them, else the online
 * ones. */
int rune_pool_threads(int requested)
{
    if (requested > 0)
        return requested;
    long n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n < 1)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > RUNE_ARTIFACT_THREADS_AUTO_MAX ? RUNE_ARTIFACT_THREADS_AUTO_MAX : (int)n;
}

/* Two slots per worker keep every worker busy while the owner writes out
 * or hands out the oldest chunk. */
size_t rune_pool_slots(int *threads, size_t chunk)
{
    size_t n = 2 * (size_t)*threads;
    while (n > 2 && n * chunk > IN_FLIGHT_BYTES)
        n--;
    if ((size_t)*threads > n)
        *threads = (int)n;
    return n;
}

static void *worker_main(void *arg)
{
    struct rune_pool_worker *wk = arg;
    struct rune_pool *p = wk->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->taken == p->queued)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        struct rune_pool_slot *s = &p->slots[p->taken++ % p->nslots];
        pthread_mutex_unlock(&p->mu);
        s->rc = p->job(wk, s);
        pthread_mutex_lock(&p->mu);
        s->done = true;
        pthread_cond_signal(&p->done); /* one owner waits */
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

void rune_pool_end(struct rune_pool *p)
{
    if (p->sync_ready) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
    }
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i].thread, NULL);
    for (int i = 0; p->workers && i < p->nworkers; i++)
        rune_codec_state_free(&p->workers[i].codec);
    for (size_t i = 0; p->slots && i < p->nslots; i++) {
        free(p->slots[i].in);
        free(p->slots[i].out);
    }
    if (p->sync_ready) {
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
    }
    free(p->workers);
    free(p->slots);
    memset(p, 0, sizeof *p);
}

/* Workers block every signal: signals are for the thread that runs the
 * step. */
int rune_pool_start(struct rune_pool *p, int threads, size_t nslots, rune_pool_job job,
                    const void *ctx, const char *path, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->job = job;
    p->ctx = ctx;
    p->nslots = nslots;
    p->slots = calloc(nslots, sizeof *p->slots);
    p->workers = calloc((size_t)threads, sizeof *p->workers);
    if (!p->slots || !p->workers) {
        rune_pool_end(p);
        snprintf(err, errlen,
                 "no memory for %d worker threads and %zu chunk slots for %s: free memory on this "
                 "host and run the step again",
                 threads, nslots, path);
        return -1;
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        rune_pool_end(p);
        snprintf(err, errlen, "cannot create a lock for the worker threads");
        return -1;
    }
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->sync_ready = true;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (int i = 0; i < threads && rc == 0; i++) {
        p->workers[i].pool = p;
        rc = pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]);
        if (rc == 0)
            p->nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start %d worker threads: %s", threads, strerror(rc));
        rune_pool_end(p);
        return -1;
    }
    return 0;
}

struct rune_pool_slot *rune_pool_free_slot(struct rune_pool *p)
{
    return &p->slots[p->queued % p->nslots];
}

bool rune_pool_full(const struct rune_pool *p)
{
    return p->queued - p->released == p->nslots;
}

void rune_pool_queue(struct rune_pool *p, size_t index)
{
    pthread_mutex_lock(&p->mu);
    struct rune_pool_slot *s = &p->slots[p->queued % p->nslots];
    s->index = index;
    s->done = false;
    s->rc = 0;
    s->err[0] = '\0';
    p->queued++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

struct rune_pool_slot *rune_pool_oldest(struct rune_pool *p, bool wait)
{
    if (p->released == p->queued)
        return NULL;
    struct rune_pool_slot *s = &p->slots[p->released % p->nslots];
    pthread_mutex_lock(&p->mu);
    while (wait && !s->done)
        pthread_cond_wait(&p->done, &p->mu);
    bool done = s->done;
    pthread_mutex_unlock(&p->mu);
    return done ? s : NULL;
}

void rune_pool_release(struct rune_pool *p)
{
    p->released++;
}

int rune_pool_grow(unsigned char **buf, size_t *cap, size_t want)
{
    if (*cap >= want && *buf)
        return 0;
    unsigned char *b = realloc(*buf, want ? want : 1);
    if (!b)
        return -1;
    *buf = b;
    *cap = want ? want : 1;
    return 0;
}
