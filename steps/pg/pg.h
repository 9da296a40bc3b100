/*
 * pg.h — what the parts of the pg family (live-server reads and actions)
 * share: pg.c (reachability, queries, sessions, and the family's table)
 * and pg_data.c (row counts, fingerprints, comparisons).
 *
 * Internal to the family: only those two files include it.
 */
#ifndef RUNE_PG_H
#define RUNE_PG_H

#include <libpq-fe.h>
#include <stddef.h>

#include "pgconn.h"
#include "step.h"

/* ---- the steps (pg_data.c) ---- */

int rune_pg_counts_run(struct rune_call *c);
int rune_pg_counts_plan(struct rune_call *c);
int rune_pg_fingerprint_run(struct rune_call *c);
int rune_pg_fingerprint_plan(struct rune_call *c);
int rune_pg_compare_run(struct rune_call *c);
int rune_pg_compare_plan(struct rune_call *c);

/* ---- shared by the family (pg.c) ---- */

/* Which server a plan talks about, without connecting: "database app of
 * target db", into buf. */
const char *rune_pg_plan_where(struct rune_call *c, char *buf, size_t len);

/* A connection to `dbname` (NULL: the call's database), or NULL after the
 * call failed (or was cancelled: see rune_pg_failed_status). */
PGconn *rune_pg_connect_or_fail(struct rune_call *c, const char *dbname);

/* A failed call's status: cancelled, or the failure already recorded. */
int rune_pg_failed_status(struct rune_call *c);

#endif
