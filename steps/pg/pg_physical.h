/*
 * pg_physical.h — the pg_physical family: physical backups and
 * point-in-time recovery of a PostgreSQL cluster (docs/pg-physical.md).
 * pg.basebackup (pg_basebackup.c, with pg_bbmanifest.c and pgtar.c) takes
 * a base backup into one backup artifact; pg.wal_check (pg_walcheck.c)
 * proves a WAL archive reaches a target from it; pg.recover
 * (pg_recover.c) lays it into a data directory and replays the archive
 * to the target. pg_physical.c holds the family's table.
 *
 * Internal to the family: only its files include it.
 */
#ifndef RUNE_PG_PHYSICAL_H
#define RUNE_PG_PHYSICAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "step.h"

/* The manifest's "kind" for a base backup: backup.list and backup.prune
 * know these backups by it. */
#define RUNE_PG_BASEBACKUP_KIND "pg.basebackup"

/* ---- does an archive reach a target (pg_walcheck.c) ---- */

struct rune_wal_reach {
    /* in: the archive, the base backup (rune_pg_wal_reach_from), the target */
    const char *archive;
    const char *waldump; /* pg_waldump, for time targets and the archive's end */
    uint64_t start_lsn, backup_stop_lsn;
    uint32_t start_tli;
    long long segsize;
    unsigned long long sysid; /* 0: not checked */
    char wal_end[32];
    bool has_time, has_lsn; /* neither: latest */
    long long target_us;
    uint64_t target_lsn;
    /* out */
    bool reachable;
    char reason[1024]; /* why not, for a person */
    char last_segment[32], first_gap[32];
    size_t segments;
    uint32_t timeline;   /* the timeline recovery ends on */
    long long end_us;    /* the last commit time read, -1 if none */
    long long stop_us;   /* time target: the first commit after it, where recovery stops */
    uint64_t stop_lsn;   /* its LSN */
    long long before_us; /* time target: the last commit at or before it: the point to expect */
};

/* Fills r's backup fields from a pg.basebackup manifest. 0, or -1 with err
 * (not a base backup, or a field missing). */
int rune_pg_wal_reach_from(struct rune_wal_reach *r, json_t *manifest, char *err, size_t errlen);
/* Walks the archive. 0 when it decided (r->reachable says which, and
 * r->reason why not); -1 when it could not check (stopped, pg_waldump
 * missing): r->reason says why. */
int rune_pg_wal_reach(struct rune_call *c, struct rune_wal_reach *r);
/* Sets r's findings as outputs (reachable, last_segment, first_gap, ...). */
void rune_pg_wal_reach_outputs(json_t *o, const struct rune_wal_reach *r);

/* A PostgreSQL server program (pg_waldump, pg_ctl): in the step's bindir
 * when given, else in /usr/lib/postgresql/MAJOR/bin (Debian's place, MAJOR
 * from the manifest's server_version) when it is there, else by name in
 * PATH. */
const char *rune_pg_server_tool(struct rune_call *c, json_t *manifest, const char *name, char *buf,
                                size_t len);

int rune_pg_walcheck_run(struct rune_call *c);
int rune_pg_walcheck_plan(struct rune_call *c);

/* Lays base backup `backup` (a pg.basebackup artifact, read through its
 * checks) into data_dir, which must not exist: created 0700, everything in
 * it owned by uid:gid when rune runs as root, flushed to disk. 0, or -1
 * with err (data_dir may then hold part of the backup). pg_lay.c. */
int rune_pg_lay(struct rune_call *c, const char *backup, const char *data_dir, uid_t uid, gid_t gid,
                char *err, size_t errlen);

/* The base backups of `dir` a recovery to the target can start from,
 * newest first (pg_pick.c): a JSON array of paths (new reference), or NULL
 * with err when there is none. */
json_t *rune_pg_basebackups_for(const char *dir, bool has_time, long long target_us, char *err,
                                size_t errlen);

/* The call's `backup`, or the newest of rune_pg_basebackups_for(its
 * `backups`). malloc'd, or NULL with err. */
char *rune_pg_pick_one(struct rune_call *c, bool has_time, long long target_us, char *err,
                       size_t errlen);

int rune_pg_recover_run(struct rune_call *c);
int rune_pg_recover_plan(struct rune_call *c);
int rune_pg_recover_undo_run(struct rune_call *c);
int rune_pg_recover_undo_plan(struct rune_call *c);

int rune_pg_basebackup_run(struct rune_call *c);
int rune_pg_basebackup_plan(struct rune_call *c);
long long rune_pg_basebackup_size(struct rune_call *c, enum rune_unit *unit);

#endif
