/*
 * pg_load.h — what the parts of loading a pg.dump backup share, for
 * pg.restore: pg_load.c (sections, COPY blocks, checks, the load and merge
 * orders), pg_jobs.c (the pool of connections the jobs run on) and
 * pg_postdata.c (post-data's indexes, keys and foreign keys as jobs).
 *
 * Internal to the pg_backup family: only those three files include it.
 */
#ifndef RUNE_PG_LOAD_H
#define RUNE_PG_LOAD_H

#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "pg_backup.h"
#include "pgconn.h"

struct rune_pg_pool;
struct rune_pg_job;

/* What part of a restore a job is (its progress phase, pg_jobs.c). */
enum rune_pg_stage {
    RUNE_PG_STAGE_NONE = 0, /* a count, a hash: no phase of its own */
    RUNE_PG_STAGE_LOAD,     /* a table's COPY */
    RUNE_PG_STAGE_INDEX,    /* an index or key */
    RUNE_PG_STAGE_FK,       /* a foreign key */
    RUNE_PG_STAGE_COUNT
};
typedef int (*rune_pg_job_fn)(struct rune_pg_pool *p, PGconn *conn, struct rune_pg_job *j,
                              char *err, size_t errlen);

/* One piece of work for a pool connection. A job may wait for another
 * (an index for its table's data) or for every job that waits for nothing
 * (an index whose table is not known). */
struct rune_pg_job {
    json_t *sec;       /* the table's section (rune), or NULL */
    const char *name;  /* for messages */
    char *sql;         /* a statement to run (owned), or NULL */
    char *own;         /* the name, when the job owns it */
    rune_pg_job_fn fn; /* NULL: the pool's */
    long deps[3];      /* jobs this one waits for (-1: none) ... */
    long *more;        /* ... and more of them (owned), nmore */
    size_t nmore;
    bool last;      /* waits for every job that waits for nothing */
    char *locks[2]; /* tables it must not share with a running job (owned), or
                       NULL */
    char *table;    /* the table it works on (owned), or NULL */
    char *cols;     /* an index's or key's btree column list, as pg_dump
                       writes it ("order_id, line"; owned), or NULL */
    double cost;    /* what it is expected to take, in bytes of COPY */
    double prio;    /* cost plus the longest chain of jobs waiting for it */
    int state;      /* 0 waiting, 1 running, 2 done (under the pool's mu) */
    long long rows; /* loaded, or counted */
    bool binary;    /* loaded in COPY's binary format (pgcopy_bin.h) */
    char hash[65];
    enum rune_pg_stage stage;
    /* The bytes of the backup this job stands for in the restore's
     * progress (its cost's share, rune_pg_job_progress), and how many of
     * them are counted already: only the thread running the job counts. */
    long long share, shown;
};

struct rune_pg_pool {
    struct rune_pg_restore *r;
    struct rune_pg_job *jobs;
    long *order;    /* the jobs' indexes, highest prio first (owned) */
    size_t n, left; /* jobs not done yet (mu) */
    size_t firsts;  /* jobs with after < 0 and !last not done yet (mu) */
    rune_pg_job_fn fn;
    const char *const *session; /* more SET statements for each connection, or NULL */
    pthread_mutex_t mu;
    pthread_cond_t change; /* a job ended, or the pool is stopping */
    atomic_bool stop;
    char failure[1024];
    size_t left_in[RUNE_PG_STAGE_COUNT]; /* jobs of each stage not done (mu) */
    enum rune_pg_stage shown;            /* the phase the call shows (mu) */
};

/* The session of every loading connection: no server-side timeout cuts a
 * long load short (the step's deadline applies). NULL-terminated. */
extern const char *const rune_pg_load_session[];

/* ---- the pool (pg_jobs.c) ---- */

/* Runs the jobs (fn, unless a job has its own) on up to r->jobs
 * connections to r->load, each when what it waits for is done — of the
 * jobs ready, the one with the longest chain of work behind it (prio)
 * first. Each connection runs rune_pg_load_session, then `session` (NULL,
 * or NULL-terminated). 0, or -1 with the first failure in err. */
int rune_pg_jobs_run(struct rune_pg_restore *r, struct rune_pg_job *jobs, size_t n,
                     rune_pg_job_fn fn, const char *const *session, char *err, size_t errlen);

/* Sets each job's prio: its cost plus the largest prio among the jobs
 * that wait for it (jobs only ever wait for jobs before them). */
void rune_pg_jobs_rank(struct rune_pg_job *jobs, size_t n);

/* One job per table section of secs, waiting for nothing; *n of them.
 * Free with rune_pg_jobs_free. */
struct rune_pg_job *rune_pg_jobs_for(json_t *secs, size_t *n);

/* Counts j's share of the restore's progress (rune_call_progress_add)
 * up to part of whole of the job's work: a load as its COPY block is read
 * (bytes of the block), any job all of it once done (part == whole). From
 * the thread running the job; never counts a byte twice. */
void rune_pg_job_progress(struct rune_call *c, struct rune_pg_job *j, long long part,
                          long long whole);

/* Appends j to *jobs (*n of *cap used; grows it). */
void rune_pg_jobs_add(struct rune_pg_job **jobs, size_t *n, size_t *cap, struct rune_pg_job j);

/* Frees the jobs and what each owns. */
void rune_pg_jobs_free(struct rune_pg_job *jobs, size_t n);

/* ---- post-data as jobs (pg_postdata.c) ---- */

/* Adds post-data's indexes and keys (the section's text) to the jobs
 * (*jobs grows), each waiting for its table's load among the first nloads
 * jobs, or for all of them when its table is not loaded here. Each costs
 * in proportion to its table's rows. */
void rune_pg_index_jobs(char *text, struct rune_pg_job **jobs, size_t *n, size_t *cap,
                        size_t nloads);

/* Moves the foreign keys of post-data whose two tables are loaded here
 * (and not partitioned) into the jobs, each waiting for both loads and for
 * the referenced table's keys (among the nindexes jobs after the loads);
 * one whose columns lead a btree index of its table also waits for that
 * index, and is checked by merging the two indexes rather than hashing
 * the referenced table (see fk_by_merge). What is left of the section is
 * written into *rest (malloc'd) for psql. Returns how many were moved. */
size_t rune_pg_fk_jobs(char *text, struct rune_pg_job **jobs, size_t *n, size_t *cap, size_t nloads,
                       size_t nindexes, char **rest);

#endif
