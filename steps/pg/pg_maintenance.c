/*
 * pg_maintenance.c — pg.maintenance: VACUUM (plain, FULL or FREEZE),
 * ANALYZE and REINDEX on a database or some of its tables, measuring what
 * they reclaimed. The locking ones ask the operator first.
 */
#include "pg_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pg.maintenance ---- */

/* What each action runs: on the whole database, or on one table (%s). */
struct action {
    const char *name;
    const char *database_sql; /* %s: the database, quoted */
    const char *table_sql;    /* %s: the table, quoted */
    bool locks;               /* blocks the application: needs an approval */
};

static const struct action actions[] = {
    {"vacuum", "VACUUM", "VACUUM %s", false},
    {"vacuum_full", "VACUUM (FULL)", "VACUUM (FULL) %s", true},
    {"vacuum_freeze", "VACUUM (FREEZE)", "VACUUM (FREEZE) %s", false},
    {"analyze", "ANALYZE", "ANALYZE %s", false},
    {"reindex", "REINDEX DATABASE %s", "REINDEX TABLE %s", true},
    {NULL},
};

static const struct action *find_action(const char *name)
{
    for (const struct action *a = actions; a->name; a++)
        if (!strcmp(a->name, name))
            return a;
    return NULL;
}

/* The actions asked for, checked before anything connects. */
static int check_actions(struct rune_call *c, json_t *list)
{
    size_t i;
    json_t *v;
    if (!json_array_size(list))
        return rune_call_fail(c, "actions is empty: give one or more of vacuum, vacuum_full, "
                                 "vacuum_freeze, analyze, reindex");
    json_array_foreach(list, i, v)
    {
        if (!find_action(json_string_value(v)))
            return rune_call_fail(c,
                                  "unknown action \"%s\": use vacuum, vacuum_full, "
                                  "vacuum_freeze, analyze or reindex",
                                  json_string_value(v));
    }
    return RUNE_STEP_OK;
}

/* "VACUUM (FULL) and REINDEX" for the approval question; empty if none lock. */
static void locking_actions(json_t *list, char *buf, size_t len)
{
    size_t i, at = 0;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(list, i, v)
    {
        const struct action *a = find_action(json_string_value(v));
        if (a->locks && !strstr(buf, a->name) && at < len)
            at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? " and " : "", a->name);
    }
}

/* One table of `tables`: its quoted name and its size before and after. */
struct table {
    const char *name; /* as given (borrowed from the params) */
    char *quoted;     /* malloc'd */
    long long before, after;
};

static long long size_of(struct rune_call *c, PGconn *conn, const char *quoted, char *err,
                         size_t errlen)
{
    const char *sql = quoted ? "SELECT pg_total_relation_size($1::regclass)"
                             : "SELECT pg_database_size(current_database())";
    bool isnull;
    char *v =
        rune_pg_value(c, conn, sql, quoted ? 1 : 0, quoted ? &quoted : NULL, &isnull, err, errlen);
    long long n = v ? atoll(v) : -1;
    free(v);
    return n;
}

static void free_tables(struct table *t)
{
    for (size_t i = 0; t && t[i].name; i++)
        free(t[i].quoted);
    free(t);
}

/* Quotes table `name` and checks it is a table or materialized view of this
 * database; false with the step failed. */
static bool resolve_table(struct rune_call *c, PGconn *conn, struct table *t, const char *name)
{
    char err[512];
    t->name = name;
    t->quoted = rune_pg_resolve_table(c, conn, name, err, sizeof err);
    if (!t->quoted) {
        rune_call_fail(c, "table %s: %s", name, err);
        return false;
    }
    const char *p = t->quoted;
    char *kind = rune_pg_value(c, conn,
                               "SELECT coalesce((SELECT relkind::text FROM pg_class "
                               "WHERE oid = to_regclass($1)), '-')",
                               1, &p, NULL, err, sizeof err);
    bool ok = kind && kind[0] && strchr("rmp", kind[0]);
    if (!kind)
        rune_call_fail(c, "table %s: %s", name, err);
    else if (!strcmp(kind, "-"))
        rune_call_fail(c,
                       "table %s: no such table in database %s (name it as schema.table "
                       "outside public)",
                       name, PQdb(conn));
    else if (!ok)
        rune_call_fail(c, "table %s: not a table or materialized view", name);
    free(kind);
    return ok;
}

/* The tables of `list`, terminated by a NULL name; NULL with the step
 * failed. */
static struct table *resolve_tables(struct rune_call *c, PGconn *conn, json_t *list)
{
    size_t n = json_array_size(list);
    struct table *t = calloc(n + 1, sizeof *t);
    if (!t) {
        rune_call_fail(c,
                       "no memory for the list of %zu tables to work on in database %s: free "
                       "memory on this host and run the step again",
                       n, PQdb(conn));
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!resolve_table(c, conn, &t[i], json_string_value(json_array_get(list, i)))) {
            free_tables(t);
            return NULL;
        }
    return t;
}

/* Sizes of the tables (or the database when there are none) into *total. */
static bool measure(struct rune_call *c, PGconn *conn, struct table *t, bool after,
                    long long *total, long long *db, char *err, size_t errlen)
{
    *total = 0;
    for (size_t i = 0; t && t[i].name; i++) {
        long long n = size_of(c, conn, t[i].quoted, err, errlen);
        if (n < 0)
            return false;
        *(after ? &t[i].after : &t[i].before) = n;
        *total += n;
    }
    *db = size_of(c, conn, NULL, err, errlen);
    if (!t)
        *total = *db;
    return *db >= 0;
}

/* Runs one action on the database or on each table; {action, statements,
 * ms} into done. Returns a rune status (the step failed if not OK). */
static int run_action(struct rune_call *c, PGconn *conn, const struct action *a, struct table *t,
                      json_t *done)
{
    json_t *stmts = json_array();
    long long t0 = rune_clock_mono_ms();
    char err[1024];
    int st = RUNE_STEP_OK;
    char *dbq = PQescapeIdentifier(conn, PQdb(conn), strlen(PQdb(conn)));
    for (size_t i = 0; st == RUNE_STEP_OK && (t ? t[i].name != NULL : i == 0); i++) {
        char *sql =
            t ? rune_pg_sqlf(a->table_sql, t[i].quoted) : rune_pg_sqlf(a->database_sql, dbq);
        if (!sql) {
            st = rune_call_fail(c,
                                "no memory for the %s statement%s%s in database %s: free memory on "
                                "this host and run the step again",
                                a->name, t ? " on " : "", t ? t[i].name : "", PQdb(conn));
            break;
        }
        rune_call_log(c, "%s", sql);
        long long s0 = rune_clock_mono_ms();
        if (rune_pg_run(c, conn, sql, err, sizeof err) != 0) {
            st = rune_call_fail(c, "%s failed after %.1fs: %s", sql,
                                (rune_clock_mono_ms() - s0) / 1000.0, err);
            if (rune_call_cancelled(c))
                st = rune_pg_cancelled(c);
        }
        json_array_append_new(stmts, json_string(sql));
        free(sql);
    }
    PQfreemem(dbq);
    json_array_append_new(done, json_pack("{s:s, s:o, s:I, s:b}", "action", a->name, "statements",
                                          stmts, "ms", (json_int_t)(rune_clock_mono_ms() - t0),
                                          "ok", st == RUNE_STEP_OK));
    return st;
}

static void size_outputs(struct rune_call *c, struct table *t, long long before, long long after)
{
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "size_before", json_integer(before));
    json_object_set_new(o, "size_after", json_integer(after));
    json_object_set_new(o, "reclaimed_bytes", json_integer(before - after));
    json_t *list = json_array();
    for (size_t i = 0; t && t[i].name; i++)
        json_array_append_new(list, json_pack("{s:s, s:I, s:I}", "table", t[i].name, "size_before",
                                              (json_int_t)t[i].before, "size_after",
                                              (json_int_t)t[i].after));
    json_object_set_new(o, "tables", list);
}

/* Asks once, before anything runs, for every action that locks tables:
 * a refusal leaves the database as it was. */
static int approve(struct rune_call *c, const char *db, json_t *list, bool listed_tables)
{
    char locking[128], what[512];
    locking_actions(list, locking, sizeof locking);
    if (!*locking)
        return RUNE_STEP_OK;
    snprintf(what, sizeof what,
             "Run %s on %s of database %s? Each table is locked while it is rebuilt "
             "(vacuum_full blocks reads and writes and needs free space for a copy; reindex "
             "blocks writes and the reads that use the index)",
             locking, listed_tables ? "the listed tables" : "every table", db);
    if (rune_call_confirm(c, what))
        return RUNE_STEP_OK;
    rune_call_fail(c,
                   "declined: the operator did not approve %s on database %s; nothing was "
                   "changed",
                   locking, db);
    return RUNE_STEP_DECLINED;
}

static int maintain(struct rune_call *c, PGconn *conn, json_t *list, struct table *t)
{
    char err[512];
    long long before, after, db_before, db_after;
    if (!measure(c, conn, t, false, &before, &db_before, err, sizeof err))
        return rune_call_fail(c, "cannot measure sizes: %s", err);
    json_t *done = json_array();
    json_object_set_new(rune_call_outputs(c), "actions", done);
    json_object_set_new(rune_call_outputs(c), "database", json_string(PQdb(conn)));
    size_t i;
    json_t *v;
    int st = RUNE_STEP_OK;
    json_array_foreach(list, i, v)
    {
        st = run_action(c, conn, find_action(json_string_value(v)), t, done);
        if (st != RUNE_STEP_OK)
            break;
    }
    if (!measure(c, conn, t, true, &after, &db_after, err, sizeof err)) {
        if (st == RUNE_STEP_OK)
            st = rune_call_fail(c, "cannot measure sizes: %s", err);
        return st;
    }
    size_outputs(c, t, before, after);
    json_object_set_new(rune_call_outputs(c), "database_size_before", json_integer(db_before));
    json_object_set_new(rune_call_outputs(c), "database_size_after", json_integer(db_after));
    rune_call_log(c, "%s: %lld bytes before, %lld after (%lld reclaimed)",
                  t ? "tables" : "database", before, after, before - after);
    return st;
}

int rune_pg_maintenance_run(struct rune_call *c)
{
    json_t *list = json_object_get(rune_call_params(c), "actions");
    json_t *tables = json_object_get(rune_call_params(c), "tables");
    if (!json_array_size(tables))
        tables = NULL; /* absent, null or empty: the whole database */
    int st = check_actions(c, list);
    if (st != RUNE_STEP_OK)
        return st;
    PGconn *conn = rune_pg_check_connect(c);
    if (!conn)
        return rune_call_cancelled(c) ? rune_pg_cancelled(c) : RUNE_STEP_FAILED;
    struct table *t = NULL;
    if (tables && !(t = resolve_tables(c, conn, tables))) {
        PQfinish(conn);
        return RUNE_STEP_FAILED;
    }
    st = approve(c, PQdb(conn), list, tables != NULL);
    if (st == RUNE_STEP_OK)
        st = maintain(c, conn, list, t);
    free_tables(t);
    PQfinish(conn);
    return st;
}

int rune_pg_maintenance_plan(struct rune_call *c)
{
    json_t *list = json_object_get(rune_call_params(c), "actions");
    json_t *tables = json_object_get(rune_call_params(c), "tables");
    char where[256], names[256] = "", locking[128];
    size_t i, at = 0;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (at < sizeof names)
            at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", i ? ", " : "",
                                   json_string_value(v));
    }
    rune_pg_check_where(c, where, sizeof where);
    locking_actions(list, locking, sizeof locking);
    rune_call_plan(c, "would run %s on %s of %s and report the space reclaimed%s%s%s", names,
                   json_array_size(tables) ? "the listed tables" : "every table", where,
                   *locking ? " (after the operator approves " : "", locking,
                   *locking ? ", which lock tables)" : "");
    return RUNE_STEP_OK;
}
