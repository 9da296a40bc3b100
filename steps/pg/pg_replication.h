/*
 * pg_replication.h — what the parts of the replication family share:
 * pg_replication.c (pg.replication, the shared reading of a standby's
 * position, and the family's table), pg_promote.c (pg.promote) and
 * pg_rebuild.c (pg.rebuild_standby). Local data directories are driven
 * through pgctl.h.
 *
 * Internal to the family: only those files include it.
 */
#ifndef RUNE_PG_REPLICATION_H
#define RUNE_PG_REPLICATION_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "pgconn.h"
#include "step.h"

/* Where a server is in its WAL, read in one statement (one transaction,
 * so one now(); through a transaction pooler too). */
struct rune_pg_position {
    bool in_recovery;
    char receive_lsn[32]; /* standby: WAL received and flushed ("" if none) */
    char replay_lsn[32];  /* standby: WAL replayed ("" if none) */
    char current_lsn[32]; /* primary: pg_current_wal_lsn() */
    long long unreplayed; /* standby: received − replayed, bytes (0 when either is unknown) */
    /* standby: now − the last replayed transaction's commit time, 0 when
     * nothing received is left to replay, -1 when not known (nothing
     * replayed since the server started) */
    double lag_s;
    bool paused;                    /* standby: replay paused (pg_wal_replay_pause) */
    char last_replay[RUNE_ISO_LEN]; /* the last replayed transaction's time ("" if none) */
    int timeline;
};

/* Reads pos on conn. 0, or -1 with err. */
int rune_pg_position_read(struct rune_call *c, PGconn *conn, struct rune_pg_position *pos,
                          char *err, size_t errlen);

/* ---- the steps ---- */

int rune_pg_promote_run(struct rune_call *c);
int rune_pg_promote_plan(struct rune_call *c);
int rune_pg_rebuild_run(struct rune_call *c);
int rune_pg_rebuild_plan(struct rune_call *c);

#endif
