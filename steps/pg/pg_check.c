/*
 * pg_check.c — the pg_check family: the third seed's corruption detection
 * and first aid for PostgreSQL, pg.integrity (pg_integrity.c) and
 * pg.maintenance (pg_maintenance.c); here what they share (pg_check.h)
 * and, at the end, the family's table.
 *
 * Identifiers in generated SQL are quoted by the server (format('%I')) or by
 * libpq, never pasted. docs/pg-integrity.md describes each check and its
 * limits; keep the two in step.
 */
#include "pg_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared by the family (pg_check.h) ---- */

/* Server warnings (VACUUM skipping a table it may not touch, ...) go to the
 * step's log instead of libpq's default, rune's stderr. */
static void log_notice(void *arg, const char *message)
{
    char line[1024];
    snprintf(line, sizeof line, "%s", message);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
        line[--n] = '\0';
    rune_call_log(arg, "server: %s", line);
}

PGconn *rune_pg_check_connect(struct rune_call *c)
{
    char err[512];
    PGconn *conn = rune_pg_connect(c, rune_call_str(c, "database"), err, sizeof err);
    if (!conn) {
        if (!rune_call_cancelled(c))
            rune_call_fail(c, "%s", err);
        return NULL;
    }
    PQsetNoticeProcessor(conn, log_notice, c);
    return conn;
}

void rune_pg_check_where(struct rune_call *c, char *buf, size_t len)
{
    json_t *t = rune_call_target(c, "target");
    const char *db = rune_call_str(c, "database");
    if (!db && t)
        db = json_string_value(json_object_get(t, "database"));
    const char *name = t ? json_string_value(json_object_get(t, "name")) : NULL;
    if (db && name)
        snprintf(buf, len, "database %s (target %s)", db, name);
    else if (name)
        snprintf(buf, len, "the database of target %s", name);
    else if (db)
        snprintf(buf, len, "database %s (libpq's environment for the rest)", db);
    else
        snprintf(buf, len, "the database libpq's environment names (PGDATABASE)");
}

/* ---- the table ---- */

static const struct rune_param integrity_params[] = {
    {"target", RUNE_T_TARGET, false, NULL,
     "a postgres target (without one: PGHOST, PGPORT, PGUSER, PGDATABASE)", "postgres"},
    {"database", RUNE_T_STRING, false, NULL, "database (overrides the target's)"},
    {"foreign_keys", RUNE_T_BOOL, false, "true",
     "count orphaned rows under every foreign key, NOT VALID ones included"},
    {"check_constraints", RUNE_T_BOOL, false, "true",
     "count rows violating every CHECK constraint, valid or not"},
    {"unique", RUNE_T_BOOL, false, "true",
     "count key values that appear more than once under a unique index (read from the table)"},
    {"amcheck", RUNE_T_BOOL, false, "true",
     "check every btree index with amcheck's bt_index_check (created for the check and rolled "
     "back when not installed; a note when it cannot be)"},
    {"heapallindexed", RUNE_T_BOOL, false, "false",
     "amcheck also verifies that every table row has its index entry (one table scan per "
     "index)"},
    {"max_problems", RUNE_T_INT, false, "100", "stop listing problems after this many"},
    {0},
};
static const struct rune_output integrity_outputs[] = {
    {"ok", RUNE_T_BOOL, "no problem found"},
    {"problem_count", RUNE_T_INT, "problems found (listed or not)"},
    {"problems", RUNE_T_LIST,
     "{check (foreign_key, check_constraint, unique, index, invalid_index, checksum), object, "
     "table, detail, count, sample}"},
    {"not_valid", RUNE_T_LIST, "NOT VALID constraints: {constraint, table, type, violations}"},
    {"checks", RUNE_T_MAP,
     "what ran: {foreign_keys, check_constraints, unique_indexes, indexes, invalid_indexes, "
     "amcheck, heapallindexed, data_checksums}"},
    {"checksum_failures", RUNE_T_INT,
     "pages that failed their checksum since the statistics were reset"},
    {"notes", RUNE_T_LIST, "what was not checked and why (amcheck unavailable, checksums off)"},
    {"database", RUNE_T_STRING, "the database checked"},
    {0},
};
static const struct rune_param maintenance_params[] = {
    {"target", RUNE_T_TARGET, false, NULL,
     "a postgres target (without one: PGHOST, PGPORT, PGUSER, PGDATABASE)", "postgres"},
    {"database", RUNE_T_STRING, false, NULL, "database (overrides the target's)"},
    {"actions", RUNE_T_STRLIST, false, "[vacuum, analyze]",
     "in this order: vacuum, vacuum_full, vacuum_freeze, analyze, reindex (vacuum_full and "
     "reindex lock tables and ask for approval first)",
     .choices = "vacuum|vacuum_full|vacuum_freeze|analyze|reindex"},
    {"tables", RUNE_T_STRLIST, false, NULL,
     "only these tables (\"schema.table\", or \"table\" in public); default every table"},
    {0},
};
static const struct rune_output maintenance_outputs[] = {
    {"actions", RUNE_T_LIST, "{action, statements, ms, ok} in the order run"},
    {"size_before", RUNE_T_INT, "bytes of the listed tables (or the database) before"},
    {"size_after", RUNE_T_INT, "and after"},
    {"reclaimed_bytes", RUNE_T_INT, "size_before - size_after (negative if it grew)"},
    {"tables", RUNE_T_LIST, "{table, size_before, size_after} per listed table"},
    {"database_size_before", RUNE_T_INT, "pg_database_size before"},
    {"database_size_after", RUNE_T_INT, "and after"},
    {"database", RUNE_T_STRING, "the database maintained"},
    {0},
};

const struct rune_step_type rune_pg_check_steps[] = {
    {"pg.integrity",
     "Orphaned rows under every foreign key, CHECK and unique violations, amcheck on btree "
     "indexes, checksum failures",
     integrity_params, integrity_outputs, RUNE_READS, rune_pg_integrity_run,
     rune_pg_integrity_plan},
    {"pg.maintenance",
     "VACUUM (FULL, FREEZE), ANALYZE, REINDEX on a database or tables; bytes reclaimed",
     maintenance_params, maintenance_outputs, RUNE_WRITES, rune_pg_maintenance_run,
     rune_pg_maintenance_plan},
    {0},
};
