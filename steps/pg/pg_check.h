/*
 * pg_check.h — what the parts of the pg_check family share: pg_check.c
 * (the family's table and the helpers below), pg_integrity.c
 * (pg.integrity) and pg_maintenance.c (pg.maintenance).
 *
 * Internal to the family: only those three files include it.
 */
#ifndef RUNE_PG_CHECK_H
#define RUNE_PG_CHECK_H

#include <libpq-fe.h>
#include <stddef.h>

#include "pgconn.h"
#include "step.h"

/* ---- the steps (pg_integrity.c, pg_maintenance.c) ---- */

int rune_pg_integrity_run(struct rune_call *c);
int rune_pg_integrity_plan(struct rune_call *c);
int rune_pg_maintenance_run(struct rune_call *c);
int rune_pg_maintenance_plan(struct rune_call *c);

/* ---- shared by the family (pg_check.c) ---- */

/* A connection to the call's database with server notices (VACUUM
 * skipping a table, ...) sent to the step's log; NULL with the step failed
 * (or cancelled: see rune_pg_cancelled). */
PGconn *rune_pg_check_connect(struct rune_call *c);

/* "database app (target db)" — what a plan talks about, without connecting. */
void rune_pg_check_where(struct rune_call *c, char *buf, size_t len);

#endif
