/*
 * pg_dump.h — what the two parts of pg.dump share: pg_dump.c (the leader,
 * the workers that copy tables out, assembling the backup) and
 * pg_dump_schema.c (pg_dump and pg_restore for everything else).
 *
 * Internal to pg.dump: only those two files include it.
 */
#ifndef RUNE_PG_DUMP_H
#define RUNE_PG_DUMP_H

#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "digest.h"
#include "pg_backup.h"

/* One table to dump, and what dumping it found. */
struct rune_pg_dump_table {
    char *name;   /* as pg.fingerprint names it: "orders", "sales.orders" */
    char *schema; /* raw names, for pg_dump patterns */
    char *rel;
    char *qualified; /* public.orders, quoted where needed */
    char *copy;      /* COPY public.orders (id, ...) FROM stdin; */
    char *keep;      /* per column of SELECT *: 'k' kept, 'd' dropped (generated) */
    char *ancestors; /* a partition's partitioned tables, names separated by \1 */
    char kind;       /* 'r' table, 'p' partitioned */
    bool only;       /* an inheritance parent: its own rows only */
    bool partition;
    bool extension; /* belongs to an extension: CREATE EXTENSION makes it */
    bool selected;
    long long size;     /* bytes on disk, to start the largest first */
    long long est_rows; /* the catalog's estimate of its rows (reltuples); -1: never analyzed */
    /* set by the worker that dumped it */
    char spool[PATH_MAX];
    long long rows;     /* rows in its COPY block */
    long long rows_all; /* rows as SELECT * sees them (with inheritance children) */
    char hash_all[65];  /* their content hash, as pg.fingerprint computes it */
};

/* The state shared by the calling thread and the workers. */
struct rune_pg_dump {
    struct rune_call *c;
    const char *dbname;
    char snapshot[128];
    char *work;
    const char *compression; /* the parts' and the backup's: gzip or zstd (artifact.h) */
    int level;               /* 0: the compression's default */
    struct rune_pg_dump_table *t;
    size_t nt;
    struct rune_pg_dump_table **order; /* selected tables, largest first */
    size_t nsel;
    pthread_mutex_t mu;
    size_t next;        /* next in order to hand out (mu) */
    char failure[1024]; /* the first worker failure (mu) */
    atomic_bool stop;
    atomic_llong rows_done;
    atomic_int tables_done;
    bool progress_rows; /* progress counts rows (against an estimate), else tables */
};

/* The spools of the sections pg_dump writes, and the schema fingerprint. */
struct rune_pg_dump_parts {
    char pre[PATH_MAX], data[PATH_MAX], indexes[PATH_MAX], post[PATH_MAX];
    char fingerprint[RUNE_SHA256_HEX];
};

/* pg_dump for everything but the tables' data, turned into the spools of
 * the pre-data, other-data, indexes and post-data sections (in d->work),
 * and the schema fingerprint. Returns a rune_status (the call's error
 * set). */
int rune_pg_dump_schema(struct rune_pg_dump *d, PGconn *leader, const char *point,
                        struct rune_pg_dump_parts *p);

#endif
