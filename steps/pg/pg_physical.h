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

#include "step.h"

/* The manifest's "kind" for a base backup: backup.list and backup.prune
 * know these backups by it. */
#define RUNE_PG_BASEBACKUP_KIND "pg.basebackup"

int rune_pg_basebackup_run(struct rune_call *c);
int rune_pg_basebackup_plan(struct rune_call *c);
long long rune_pg_basebackup_size(struct rune_call *c, enum rune_unit *unit);

#endif
