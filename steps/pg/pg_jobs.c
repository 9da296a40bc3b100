/*
 * pg_jobs.c — the pool of connections pg.restore loads a pg.dump backup
 * over: jobs (a table's COPY, an index, a foreign key, a count or a hash)
 * run on up to `jobs` connections to the database being loaded, each job
 * once what it waits for is done and no running job works on a table it
 * locks, as pg_restore -j does; of the jobs ready, the one with the
 * longest chain of work behind it first.
 */
#include "pg_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const rune_pg_load_session[] = {
    "SET statement_timeout = 0",
    "SET lock_timeout = 0",
    "SET idle_in_transaction_session_timeout = 0",
    NULL,
};

/* A job that waits for others (an index for its table's load, a foreign
 * key for its two tables) rather than for nothing. */
static bool waits(const struct rune_pg_job *j)
{
    return j->deps[0] >= 0 || j->nmore > 0;
}

static bool deps_done(const struct rune_pg_pool *p, const struct rune_pg_job *j)
{
    for (int k = 0; k < 3; k++)
        if (j->deps[k] >= 0 && p->jobs[j->deps[k]].state != 2)
            return false;
    for (size_t k = 0; k < j->nmore; k++)
        if (p->jobs[j->more[k]].state != 2)
            return false;
    return true;
}

/* A job that locks tables (a foreign key: both of its tables) runs only
 * when no running job works on one of them, so that two foreign keys never
 * deadlock and none waits behind an index build. */
static bool conflicts(const struct rune_pg_pool *p, const struct rune_pg_job *j)
{
    if (!j->locks[0] && !j->locks[1])
        return false;
    for (size_t i = 0; i < p->n; i++) {
        const struct rune_pg_job *k = &p->jobs[i];
        if (k->state != 1)
            continue;
        for (int a = 0; a < 2; a++) {
            const char *mine = j->locks[a];
            if (mine && ((k->table && !strcmp(mine, k->table)) ||
                         (k->locks[0] && !strcmp(mine, k->locks[0])) ||
                         (k->locks[1] && !strcmp(mine, k->locks[1]))))
                return true;
        }
    }
    return false;
}

/* The next job to run (under mu): of those ready, the one with the
 * longest chain of work behind it (prio; the first in array order among
 * equals) — the biggest table's load before the others, whose indexes
 * and keys then fill the gaps, so that the connections finish together
 * rather than one waiting for the last big table alone. -1 when nothing
 * is ready. */
static long pick(struct rune_pg_pool *p)
{
    for (size_t o = 0; o < p->n; o++) {
        long i = p->order[o];
        struct rune_pg_job *j = &p->jobs[i];
        if (j->state != 0 || !deps_done(p, j) || (j->last && p->firsts > 0) || conflicts(p, j))
            continue;
        return i;
    }
    return -1;
}

/* For qsort_r: job indexes by prio, highest first, then in array order. */
static int by_prio(const void *a, const void *b, void *jobs)
{
    const struct rune_pg_job *x = &((struct rune_pg_job *)jobs)[*(const long *)a];
    const struct rune_pg_job *y = &((struct rune_pg_job *)jobs)[*(const long *)b];
    if (x->prio != y->prio)
        return x->prio < y->prio ? 1 : -1;
    return *(const long *)a < *(const long *)b ? -1 : 1;
}

void rune_pg_jobs_rank(struct rune_pg_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jobs[i].prio = jobs[i].cost;
    for (size_t i = n; i-- > 0;) { /* every job waiting for i is after it: done */
        struct rune_pg_job *j = &jobs[i];
        for (int k = 0; k < 3; k++)
            if (j->deps[k] >= 0 && jobs[j->deps[k]].prio < jobs[j->deps[k]].cost + j->prio)
                jobs[j->deps[k]].prio = jobs[j->deps[k]].cost + j->prio;
        for (size_t k = 0; k < j->nmore; k++)
            if (jobs[j->more[k]].prio < jobs[j->more[k]].cost + j->prio)
                jobs[j->more[k]].prio = jobs[j->more[k]].cost + j->prio;
    }
}

void rune_pg_job_progress(struct rune_call *c, struct rune_pg_job *j, long long part,
                          long long whole)
{
    long long upto = whole > 0 && part < whole
                         ? (long long)((double)j->share * (double)part / (double)whole)
                         : j->share;
    if (upto > j->shown) {
        rune_call_progress_add(c, upto - j->shown);
        j->shown = upto;
    }
}

/* The restore's phase (under mu): the earliest stage some job of which is
 * not done, shown when it changes. A pool of counts or hashes has none. */
static void show_stage(struct rune_pg_pool *p)
{
    static const char *const names[RUNE_PG_STAGE_COUNT] = {
        [RUNE_PG_STAGE_LOAD] = "loading tables",
        [RUNE_PG_STAGE_INDEX] = "building indexes and keys",
        [RUNE_PG_STAGE_FK] = "adding foreign keys",
    };
    enum rune_pg_stage s = RUNE_PG_STAGE_LOAD;
    while (s < RUNE_PG_STAGE_COUNT && p->left_in[s] == 0)
        s++;
    if (s < RUNE_PG_STAGE_COUNT && s != p->shown) {
        p->shown = s;
        rune_call_progress_phase(p->r->c, names[s]);
    }
}

static void *pool_main(void *arg)
{
    struct rune_pg_pool *p = arg;
    char err[1024] = "";
    PGconn *conn = rune_pg_connect(p->r->c, p->r->load, err, sizeof err);
    if (conn &&
        (rune_pg_run_all(p->r->c, conn, rune_pg_load_session, err, sizeof err) != 0 ||
         (p->session && rune_pg_run_all(p->r->c, conn, p->session, err, sizeof err) != 0))) {
        PQfinish(conn);
        conn = NULL;
    }
    pthread_mutex_lock(&p->mu);
    while (conn && !atomic_load(&p->stop) && p->left > 0) {
        long i = pick(p);
        if (i < 0) { /* what is left waits for jobs still running */
            if (rune_call_cancelled(p->r->c)) {
                snprintf(err, sizeof err, "stopped");
                break;
            }
            struct timespec until = rune_clock_cond_deadline(100);
            pthread_cond_timedwait(&p->change, &p->mu, &until);
            continue;
        }
        struct rune_pg_job *j = &p->jobs[i];
        j->state = 1;
        pthread_mutex_unlock(&p->mu);
        int rc = (j->fn ? j->fn : p->fn)(p, conn, j, err, sizeof err);
        pthread_mutex_lock(&p->mu);
        if (rc != 0)
            break;
        err[0] = '\0';
        rune_pg_job_progress(p->r->c, j, 1, 1);
        j->state = 2;
        p->left--;
        p->left_in[j->stage]--;
        show_stage(p);
        if (!waits(j) && !j->last)
            p->firsts--;
        pthread_cond_broadcast(&p->change);
    }
    if (err[0] || !conn) {
        if (!p->failure[0])
            snprintf(p->failure, sizeof p->failure, "%s", err[0] ? err : "cannot connect");
        atomic_store(&p->stop, true);
        pthread_cond_broadcast(&p->change);
    }
    pthread_mutex_unlock(&p->mu);
    if (conn)
        PQfinish(conn);
    return NULL;
}

int rune_pg_jobs_run(struct rune_pg_restore *r, struct rune_pg_job *jobs, size_t n,
                     rune_pg_job_fn fn, const char *const *session, char *err, size_t errlen)
{
    struct rune_pg_pool p = {.r = r, .jobs = jobs, .n = n, .left = n, .fn = fn, .session = session};
    p.order = malloc((n ? n : 1) * sizeof *p.order);
    if (!p.order)
        abort();
    for (size_t i = 0; i < n; i++)
        p.order[i] = (long)i;
    qsort_r(p.order, n, sizeof *p.order, by_prio, jobs);
    for (size_t i = 0; i < n; i++) {
        jobs[i].state = 0; /* the same jobs may go through several pools */
        if (!waits(&jobs[i]) && !jobs[i].last)
            p.firsts++;
        p.left_in[jobs[i].stage]++;
    }
    show_stage(&p);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.change, NULL);
    pthread_t th[RUNE_PG_JOBS_MAX];
    int started = 0;
    for (int i = 0; i < r->jobs && (size_t)i < n; i++)
        if (pthread_create(&th[started], NULL, pool_main, &p) == 0)
            started++;
    if (n > 0 && started == 0)
        snprintf(p.failure, sizeof p.failure, "cannot start a worker thread");
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_cond_destroy(&p.change);
    pthread_mutex_destroy(&p.mu);
    free(p.order);
    if (p.failure[0]) {
        snprintf(err, errlen, "%s", p.failure);
        return -1;
    }
    return 0;
}

struct rune_pg_job *rune_pg_jobs_for(json_t *secs, size_t *n)
{
    *n = json_array_size(secs);
    struct rune_pg_job *jobs = calloc(*n ? *n : 1, sizeof *jobs);
    if (!jobs)
        abort();
    size_t i;
    json_t *s;
    json_array_foreach(secs, i, s)
    {
        jobs[i].sec = s;
        jobs[i].name = rune_pg_str(s, "table");
        jobs[i].deps[0] = jobs[i].deps[1] = jobs[i].deps[2] = -1;
    }
    return jobs;
}

void rune_pg_jobs_add(struct rune_pg_job **jobs, size_t *n, size_t *cap, struct rune_pg_job j)
{
    if (*n == *cap) {
        struct rune_pg_job *grown = realloc(*jobs, (*cap = *cap * 2 + 16) * sizeof **jobs);
        if (!grown)
            abort();
        *jobs = grown;
    }
    (*jobs)[(*n)++] = j;
}

void rune_pg_jobs_free(struct rune_pg_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].sql);
        free(jobs[i].own);
        free(jobs[i].more);
        free(jobs[i].table);
        free(jobs[i].cols);
        free(jobs[i].locks[0]);
        free(jobs[i].locks[1]);
    }
    free(jobs);
}
