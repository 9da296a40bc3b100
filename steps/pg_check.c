/*
 * pg_check.c — the third seed's corruption detection and first aid for
 * PostgreSQL: pg.integrity and pg.maintenance.
 *
 * pg.integrity looks for what the seed's "transaction-level" queries look
 * for, on every constraint instead of a hand-picked few: orphaned rows under
 * each foreign key, rows violating CHECK constraints, duplicated keys under
 * unique indexes. It asks amcheck about every btree index and reads the
 * server's checksum-failure counters. It changes nothing: when amcheck is
 * not installed it is created inside a transaction that is rolled back.
 *
 * pg.maintenance runs VACUUM (plain, FULL or FREEZE), ANALYZE and REINDEX and
 * measures what they reclaimed. The locking ones ask the operator first.
 *
 * Identifiers in generated SQL are quoted by the server (format('%I')) or by
 * libpq, never pasted. docs/pg-integrity.md describes each check and its
 * limits; keep the two in step.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgconn.h"
#include "step.h"

/* Rows of evidence kept per problem (orphan keys, duplicated keys, ctids). */
#define SAMPLE_ROWS 5
/* Problems named in the failure message. */
#define NAMED_PROBLEMS 3

/* ---- shared helpers ---- */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* printf into a malloc'd string the caller frees (NULL when out of memory). */
static char *sqlf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sqlf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* The value of column `name` in row i of r (never NULL: "" for SQL NULL). */
static const char *col(PGresult *r, int i, const char *name)
{
    int f = PQfnumber(r, name);
    return f < 0 ? "" : PQgetvalue(r, i, f);
}

static bool col_true(PGresult *r, int i, const char *name)
{
    return !strcmp(col(r, i, name), "t");
}

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

/* A connection with server notices sent to the step's log; NULL with the
 * step failed (or cancelled: see rune_pg_cancelled). */
static PGconn *connect_for(struct rune_call *c)
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

/* Runs a statement whose result does not matter; false with err set. */
static bool run_sql(struct rune_call *c, PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = rune_pg_exec(c, conn, sql, 0, NULL, err, errlen);
    bool ok = r != NULL;
    PQclear(r);
    return ok;
}

/* "database app (target db)" — what a plan talks about, without connecting. */
static void describe_target(struct rune_call *c, char *buf, size_t len)
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

/* ---- pg.integrity ---- */

/* One run of pg.integrity: where it looks and what it found so far. */
struct scan {
    struct rune_call *c;
    PGconn *conn;
    json_t *problems;  /* listed problems, at most `max` (owned) */
    json_t *not_valid; /* NOT VALID constraints and what they hide (owned) */
    json_t *notes;     /* what the operator should know (owned) */
    json_t *checks;    /* what ran (owned) */
    long long found;   /* problems found, listed or not */
    long long max;
};

/* Records a problem (steals p); the list stops at max_problems, the count
 * does not. */
static void add_problem(struct scan *s, json_t *p)
{
    s->found++;
    if ((long long)json_array_size(s->problems) < s->max)
        json_array_append_new(s->problems, p);
    else
        json_decref(p);
}

/* {check, object, table, detail, count, sample}: count < 0 is null (the
 * check could not count), sample (stolen) may be NULL. */
static json_t *problem(const char *check, const char *object, const char *table, const char *detail,
                       long long count, json_t *sample)
{
    json_t *p = json_pack("{s:s, s:s}", "check", check, "object", object);
    json_object_set_new(p, "table", table && *table ? json_string(table) : json_null());
    json_object_set_new(p, "detail", json_string(detail));
    json_object_set_new(p, "count", count >= 0 ? json_integer(count) : json_null());
    if (sample)
        json_object_set_new(p, "sample", sample);
    return p;
}

static void add_note(struct scan *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(struct scan *s, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_array_append_new(s->notes, json_string(text));
    rune_call_note(s->c, text);
}

/* count(*)-style query: the first value as a number, -1 with err set. */
static long long count_of(struct scan *s, const char *sql, char *err, size_t errlen)
{
    if (!sql) {
        snprintf(err, errlen,
                 "no memory for the query that counts the rows (free memory on this host and run "
                 "the step again)");
        return -1;
    }
    PGresult *r = rune_pg_exec(s->c, s->conn, sql, 0, NULL, err, errlen);
    if (!r)
        return -1;
    long long n = PQntuples(r) > 0 ? atoll(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return n;
}

/* Up to SAMPLE_ROWS rows of evidence, each a mapping column → text value.
 * Evidence is a courtesy: a query that fails gives an empty list. */
static json_t *sample_of(struct scan *s, const char *sql)
{
    json_t *rows = json_array();
    char err[256];
    PGresult *r = sql ? rune_pg_exec(s->c, s->conn, sql, 0, NULL, err, sizeof err) : NULL;
    for (int i = 0; r && i < PQntuples(r); i++) {
        json_t *row = json_object();
        for (int f = 0; f < PQnfields(r); f++)
            json_object_set_new(row, PQfname(r, f),
                                PQgetisnull(r, i, f) ? json_null()
                                                     : json_string(PQgetvalue(r, i, f)));
        json_array_append_new(rows, row);
    }
    PQclear(r);
    return rows;
}

/* A NOT VALID constraint: listed with what it hides, whether or not rows
 * violate it (violations are problems of their own). */
static void add_not_valid(struct scan *s, const char *kind, const char *name, const char *table,
                          long long violations)
{
    json_array_append_new(s->not_valid,
                          json_pack("{s:s, s:s, s:s, s:o}", "constraint", name, "table", table,
                                    "type", kind, "violations",
                                    violations >= 0 ? json_integer(violations) : json_null()));
}

/* In the queries below, tables are named as rune_pg_tables names them
 * ("schema.table", schema left out for public: concat skips the NULL), and
 * only the schemas people own are looked at: not the catalogs, not the toast
 * or other sessions' temporary schemas. */

/* Every foreign key declared on a table (not the copies PostgreSQL makes for
 * partitions), with the SQL fragments that find its orphans, quoted by the
 * server: c is the referencing row, p the referenced one. */
static const char FK_SQL[] =
    "SELECT con.conname, format('%I.%I', cn.nspname, cc.relname) AS child,"
    " concat(nullif(cn.nspname, 'public') || '.', cc.relname) AS child_name,"
    " cc.relkind <> 'p' AS child_only,"
    " format('%I.%I', pn.nspname, pc.relname) AS parent,"
    " concat(nullif(pn.nspname, 'public') || '.', pc.relname) AS parent_name,"
    " pc.relkind <> 'p' AS parent_only, con.convalidated,"
    " con.confmatchtype = 'f' AS match_full, k.notnull, k.match, k.keys, k.ckeys, k.pkeys, k.n "
    "FROM pg_constraint con "
    "JOIN pg_class cc ON cc.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace "
    "JOIN pg_class pc ON pc.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace "
    "CROSS JOIN LATERAL ("
    " SELECT string_agg(format('c.%I IS NOT NULL', ca.attname), ' AND ' ORDER BY u.i) AS notnull,"
    " string_agg(format('p.%I = c.%I', pa.attname, ca.attname), ' AND ' ORDER BY u.i) AS match,"
    " string_agg(format('c.%I', ca.attname), ', ' ORDER BY u.i) AS keys,"
    " string_agg(ca.attname, ', ' ORDER BY u.i) AS ckeys,"
    " string_agg(pa.attname, ', ' ORDER BY u.i) AS pkeys, count(*) AS n"
    " FROM unnest(con.conkey, con.confkey) WITH ORDINALITY AS u(ck, pk, i)"
    " JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = u.ck"
    " JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = u.pk) k "
    "WHERE con.contype = 'f' AND con.conparentid = 0 AND cc.relpersistence <> 't'"
    " AND cn.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND cn.nspname !~ '^pg_(toast|temp)' "
    "ORDER BY 3, 1";

/* The WHERE clause that selects one foreign key's orphans (malloc'd): every
 * key column set and no referenced row; under MATCH FULL also rows with some
 * key columns null and others not. */
static char *orphan_where(PGresult *r, int i)
{
    int n = atoi(col(r, i, "n"));
    char full[256] = "";
    if (col_true(r, i, "match_full") && n > 1)
        snprintf(full, sizeof full, " OR num_nonnulls(%.200s) BETWEEN 1 AND %d", col(r, i, "keys"),
                 n - 1);
    return sqlf("(%s AND NOT EXISTS (SELECT 1 FROM %s%s p WHERE %s))%s", col(r, i, "notnull"),
                col_true(r, i, "parent_only") ? "ONLY " : "", col(r, i, "parent"),
                col(r, i, "match"), full);
}

static void check_one_fk(struct scan *s, PGresult *r, int i)
{
    const char *name = col(r, i, "conname"), *table = col(r, i, "child_name");
    const char *from = col_true(r, i, "child_only") ? "ONLY " : "";
    char *where = orphan_where(r, i);
    char *sql = where
                    ? sqlf("SELECT count(*) FROM %s%s c WHERE %s", from, col(r, i, "child"), where)
                    : NULL;
    char err[512], detail[1024];
    long long n = count_of(s, sql, err, sizeof err);
    free(sql);
    if (n < 0 && !rune_call_cancelled(s->c)) {
        snprintf(detail, sizeof detail, "could not check: %s", err);
        add_problem(s, problem("foreign_key", name, table, detail, -1, NULL));
    } else if (n > 0) {
        sql = sqlf("SELECT %s FROM %s%s c WHERE %s LIMIT %d", col(r, i, "keys"), from,
                   col(r, i, "child"), where, SAMPLE_ROWS);
        snprintf(detail, sizeof detail, "%lld row%s of %s (%s) with no match in %s (%s)%s", n,
                 n == 1 ? "" : "s", table, col(r, i, "ckeys"), col(r, i, "parent_name"),
                 col(r, i, "pkeys"),
                 col_true(r, i, "convalidated") ? "" : "; the constraint is NOT VALID");
        add_problem(s, problem("foreign_key", name, table, detail, n, sample_of(s, sql)));
        free(sql);
    }
    if (!col_true(r, i, "convalidated"))
        add_not_valid(s, "foreign_key", name, table, n);
    free(where);
}

static int check_foreign_keys(struct scan *s)
{
    char err[512];
    PGresult *r = rune_pg_exec(s->c, s->conn, FK_SQL, 0, NULL, err, sizeof err);
    if (!r)
        return rune_call_fail(s->c, "cannot list the foreign keys: %s", err);
    int n = PQntuples(r);
    for (int i = 0; i < n && !rune_call_cancelled(s->c); i++)
        check_one_fk(s, r, i);
    PQclear(r);
    json_object_set_new(s->checks, "foreign_keys", json_integer(n));
    return RUNE_STEP_OK;
}

/* CHECK constraints of plain tables, grouped by table so that each table is
 * scanned once. ONLY: each table (parent or child) answers for its own rows
 * against its own copy of an inherited constraint. */
static const char CHECK_SQL[] =
    "SELECT con.conname, format('%I.%I', n.nspname, t.relname) AS rel,"
    " concat(nullif(n.nspname, 'public') || '.', t.relname) AS tbl,"
    " pg_get_expr(con.conbin, con.conrelid) AS expr, con.convalidated "
    "FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid "
    "JOIN pg_namespace n ON n.oid = t.relnamespace "
    "WHERE con.contype = 'c' AND t.relkind = 'r' AND t.relpersistence <> 't'"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname !~ '^pg_(toast|temp)' "
    "ORDER BY 3, 1";

/* Rows violating constraint i: NOT (expr) is true. A CHECK whose expression
 * is NULL passes, as it does on INSERT. */
static void report_check(struct scan *s, PGresult *r, int i, long long n, const char *err)
{
    const char *name = col(r, i, "conname"), *table = col(r, i, "tbl");
    char detail[1024];
    if (n < 0) {
        snprintf(detail, sizeof detail, "could not check: %s", err);
        add_problem(s, problem("check_constraint", name, table, detail, -1, NULL));
    } else if (n > 0) {
        char *sql = sqlf("SELECT ctid FROM ONLY %s WHERE NOT (%s) LIMIT %d", col(r, i, "rel"),
                         col(r, i, "expr"), SAMPLE_ROWS);
        snprintf(detail, sizeof detail, "%lld row%s of %s violate CHECK %.400s%s", n,
                 n == 1 ? "" : "s", table, col(r, i, "expr"),
                 col_true(r, i, "convalidated") ? "" : "; the constraint is NOT VALID");
        add_problem(s, problem("check_constraint", name, table, detail, n, sample_of(s, sql)));
        free(sql);
    }
    if (!col_true(r, i, "convalidated"))
        add_not_valid(s, "check_constraint", name, table, n);
}

/* One scan of a table for its constraints [from, to); when that query fails
 * (an expression that errors on some row), each constraint on its own, so
 * the failure is pinned to the constraint that caused it. */
static void check_table_constraints(struct scan *s, PGresult *r, int from, int to)
{
    char *sql = NULL, err[512];
    size_t len;
    FILE *f = open_memstream(&sql, &len);
    if (!f)
        return;
    fputs("SELECT ", f);
    for (int i = from; i < to; i++)
        fprintf(f, "%scount(*) FILTER (WHERE NOT (%s))", i > from ? ", " : "", col(r, i, "expr"));
    fprintf(f, " FROM ONLY %s", col(r, from, "rel"));
    fclose(f);
    PGresult *res = rune_pg_exec(s->c, s->conn, sql, 0, NULL, err, sizeof err);
    free(sql);
    if (res) {
        for (int i = from; i < to; i++)
            report_check(s, r, i, atoll(PQgetvalue(res, 0, i - from)), "");
        PQclear(res);
        return;
    }
    for (int i = from; i < to && !rune_call_cancelled(s->c); i++) {
        sql = sqlf("SELECT count(*) FROM ONLY %s WHERE NOT (%s)", col(r, i, "rel"),
                   col(r, i, "expr"));
        long long n = count_of(s, sql, err, sizeof err);
        free(sql);
        if (!rune_call_cancelled(s->c))
            report_check(s, r, i, n, err);
    }
}

static int check_constraints(struct scan *s)
{
    char err[512];
    PGresult *r = rune_pg_exec(s->c, s->conn, CHECK_SQL, 0, NULL, err, sizeof err);
    if (!r)
        return rune_call_fail(s->c, "cannot list the CHECK constraints: %s", err);
    int n = PQntuples(r);
    for (int from = 0, to; from < n && !rune_call_cancelled(s->c); from = to) {
        for (to = from + 1; to < n && !strcmp(col(r, to, "rel"), col(r, from, "rel")); to++)
            ;
        check_table_constraints(s, r, from, to);
    }
    PQclear(r);
    json_object_set_new(s->checks, "check_constraints", json_integer(n));
    return RUNE_STEP_OK;
}

/* Unique indexes (those behind PRIMARY KEY and UNIQUE constraints and the
 * plain CREATE UNIQUE INDEX ones) with their key expressions as the server
 * prints them, and their predicate when partial. A partition's index is
 * covered by its partitioned parent's, scanned through the parent.
 * indnullsnotdistinct (PostgreSQL 15) is read through to_jsonb so that older
 * servers, which lack the column, read false. */
static const char UNIQUE_SQL[] =
    "SELECT coalesce(con.conname, ic.relname) AS name,"
    " format('%I.%I', n.nspname, t.relname) AS rel,"
    " concat(nullif(n.nspname, 'public') || '.', t.relname) AS tbl,"
    " t.relkind <> 'p' AS only, k.keys, k.notnull,"
    " pg_get_expr(i.indpred, i.indrelid) AS pred,"
    " coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct "
    "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
    "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
    "LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u') "
    "CROSS JOIN LATERAL ("
    " SELECT string_agg(pg_get_indexdef(i.indexrelid, a, false), ', ' ORDER BY a) AS keys,"
    " string_agg('(' || pg_get_indexdef(i.indexrelid, a, false) || ') IS NOT NULL', ' AND '"
    " ORDER BY a) AS notnull FROM generate_series(1, i.indnkeyatts) a) k "
    "WHERE i.indisunique AND i.indisvalid AND i.indisready AND NOT ic.relispartition"
    " AND t.relkind IN ('r', 'm', 'p') AND t.relpersistence <> 't'"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname !~ '^pg_(toast|temp)' "
    "ORDER BY 3, 1";

static void check_one_unique(struct scan *s, PGresult *r, int i)
{
    const char *name = col(r, i, "name"), *table = col(r, i, "tbl"), *pred = col(r, i, "pred");
    bool nulls = col_true(r, i, "nulls_not_distinct");
    char *where = sqlf("%s%s%s%s", nulls ? "true" : col(r, i, "notnull"), *pred ? " AND (" : "",
                       pred, *pred ? ")" : "");
    char *groups = where ? sqlf("FROM %s%s WHERE %s GROUP BY %s HAVING count(*) > 1",
                                col_true(r, i, "only") ? "ONLY " : "", col(r, i, "rel"), where,
                                col(r, i, "keys"))
                         : NULL;
    char *sql = groups ? sqlf("SELECT count(*) FROM (SELECT 1 %s) d", groups) : NULL;
    char err[512], detail[1024];
    long long n = count_of(s, sql, err, sizeof err);
    free(sql);
    if (n < 0 && !rune_call_cancelled(s->c)) {
        snprintf(detail, sizeof detail, "could not check: %s", err);
        add_problem(s, problem("unique", name, table, detail, -1, NULL));
    } else if (n > 0) {
        sql =
            sqlf("SELECT %s, count(*) AS rows %s LIMIT %d", col(r, i, "keys"), groups, SAMPLE_ROWS);
        snprintf(detail, sizeof detail,
                 "%lld key value%s of %s (%s) appear%s more than once under a unique index", n,
                 n == 1 ? "" : "s", table, col(r, i, "keys"), n == 1 ? "s" : "");
        add_problem(s, problem("unique", name, table, detail, n, sample_of(s, sql)));
        free(sql);
    }
    free(groups);
    free(where);
}

static int check_unique(struct scan *s)
{
    char err[512];
    PGresult *r = rune_pg_exec(s->c, s->conn, UNIQUE_SQL, 0, NULL, err, sizeof err);
    if (!r)
        return rune_call_fail(s->c, "cannot list the unique indexes: %s", err);
    int n = PQntuples(r);
    for (int i = 0; i < n && !rune_call_cancelled(s->c); i++)
        check_one_unique(s, r, i);
    PQclear(r);
    json_object_set_new(s->checks, "unique_indexes", json_integer(n));
    return RUNE_STEP_OK;
}

/* Every index with storage, the catalogs' too (amcheck reads them as well).
 * Other sessions' temporary indexes cannot be read; unlogged ones have no
 * data on a standby; one being dropped concurrently (not live) is skipped.
 * An index being built concurrently is invalid until the build ends: it is
 * not a problem yet. User schemas first. */
static const char INDEX_SQL[] =
    "SELECT format('%I.%I', n.nspname, ic.relname) AS idx,"
    " concat(nullif(n.nspname, 'public') || '.', ic.relname) AS name,"
    " concat(nullif(tn.nspname, 'public') || '.', t.relname) AS tbl,"
    " am.amname = 'btree' AS btree, i.indisvalid AND i.indisready AS valid "
    "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
    "JOIN pg_namespace n ON n.oid = ic.relnamespace JOIN pg_am am ON am.oid = ic.relam "
    "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace "
    "WHERE ic.relkind = 'i' AND i.indislive AND ic.relpersistence <> 't'"
    " AND NOT (ic.relpersistence = 'u' AND pg_is_in_recovery())"
    " AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index pr"
    " WHERE pr.index_relid = i.indexrelid) "
    "ORDER BY n.nspname IN ('pg_catalog', 'pg_toast'), 2";

/* amcheck's schema, quoted, when bt_index_check(regclass, boolean) can be
 * called; otherwise NULL with why. When amcheck is not installed it is
 * created inside a transaction (*temporary) that the caller rolls back. */
static char *amcheck_schema(struct scan *s, bool *temporary, char *why, size_t whylen)
{
    static const char find[] =
        "SELECT format('%I', n.nspname), e.extversion, "
        "has_function_privilege(to_regprocedure(format('%I.bt_index_check(regclass,boolean)', "
        "n.nspname)), 'EXECUTE') FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'";
    char err[512];
    *temporary = false;
    PGresult *r = rune_pg_exec(s->c, s->conn, find, 0, NULL, err, sizeof err);
    if (r && PQntuples(r) == 0) {
        PQclear(r);
        if (!run_sql(s->c, s->conn, "BEGIN", err, sizeof err))
            r = NULL;
        else if (!run_sql(s->c, s->conn, "CREATE EXTENSION IF NOT EXISTS amcheck", err,
                          sizeof err)) {
            char ignored[64];
            run_sql(s->c, s->conn, "ROLLBACK", ignored, sizeof ignored);
            snprintf(why, whylen, "cannot create the extension: %s", err);
            return NULL;
        } else {
            *temporary = true;
            r = rune_pg_exec(s->c, s->conn, find, 0, NULL, err, sizeof err);
        }
    }
    if (!r || PQntuples(r) == 0) {
        snprintf(why, whylen, "cannot find it: %s", r ? "not in pg_extension" : err);
        PQclear(r);
        return NULL;
    }
    char *schema = NULL;
    if (PQgetisnull(r, 0, 2))
        snprintf(why, whylen,
                 "amcheck %s has no bt_index_check(regclass, boolean); ALTER EXTENSION amcheck "
                 "UPDATE",
                 PQgetvalue(r, 0, 1));
    else if (strcmp(PQgetvalue(r, 0, 2), "t"))
        snprintf(why, whylen,
                 "role %s may not execute %s.bt_index_check; run as a superuser or GRANT EXECUTE "
                 "on it",
                 PQuser(s->conn), PQgetvalue(r, 0, 0));
    else
        schema = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return schema;
}

/* bt_index_check on one index. Corruption shows as an ERROR (invalid page,
 * wrong item order, a heap tuple missing from the index): a problem of that
 * index. Inside the temporary-amcheck transaction each check runs under a
 * savepoint, always rolled back, so that one corrupt index does not end the
 * transaction and with it the other indexes' checks. (amcheck releases its
 * own locks when it returns, in a transaction or not.) */
static void amcheck_one(struct scan *s, const char *schema, bool in_tx, PGresult *r, int i,
                        bool heapall)
{
    char sql[256], err[1024], ignored[128];
    snprintf(sql, sizeof sql, "SELECT %s.bt_index_check($1::regclass, $2::boolean)", schema);
    const char *params[2] = {col(r, i, "idx"), heapall ? "true" : "false"};
    if (in_tx)
        run_sql(s->c, s->conn, "SAVEPOINT rune_amcheck", ignored, sizeof ignored);
    PGresult *res = rune_pg_exec(s->c, s->conn, sql, 2, params, err, sizeof err);
    bool sound = res != NULL;
    PQclear(res);
    if (in_tx)
        run_sql(s->c, s->conn, "ROLLBACK TO rune_amcheck", ignored, sizeof ignored);
    if (sound || rune_call_cancelled(s->c))
        return;
    /* dropped since it was listed: nothing to check */
    char *v = rune_pg_value(s->c, s->conn, "SELECT to_regclass($1) IS NULL", 1, params, NULL,
                            ignored, sizeof ignored);
    bool gone = v && !strcmp(v, "t");
    free(v);
    if (gone) {
        rune_call_log(s->c, "index %s was dropped while the check ran", col(r, i, "name"));
        return;
    }
    add_problem(s, problem("index", col(r, i, "name"), col(r, i, "tbl"), err, -1, NULL));
}

static int check_indexes(struct scan *s, bool use_amcheck, bool heapall)
{
    char err[512], why[768];
    PGresult *r = rune_pg_exec(s->c, s->conn, INDEX_SQL, 0, NULL, err, sizeof err);
    if (!r)
        return rune_call_fail(s->c, "cannot list the indexes: %s", err);
    int n = PQntuples(r), invalid = 0;
    for (int i = 0; i < n; i++)
        if (!col_true(r, i, "valid")) {
            add_problem(s, problem("invalid_index", col(r, i, "name"), col(r, i, "tbl"),
                                   "the index is marked invalid (a failed CREATE INDEX "
                                   "CONCURRENTLY or REINDEX CONCURRENTLY): it is not used and, "
                                   "if unique, enforces nothing; REINDEX or drop it",
                                   -1, NULL));
            invalid++;
        }
    bool temporary = false;
    char *schema = use_amcheck ? amcheck_schema(s, &temporary, why, sizeof why) : NULL;
    if (use_amcheck && !schema && !rune_call_cancelled(s->c))
        add_note(s, "amcheck unavailable: %s; the btree indexes were not checked", why);
    int checked = 0;
    for (int i = 0; schema && i < n && !rune_call_cancelled(s->c); i++)
        if (col_true(r, i, "btree") && col_true(r, i, "valid")) {
            amcheck_one(s, schema, temporary, r, i, heapall);
            checked++;
        }
    if (temporary) {
        run_sql(s->c, s->conn, "ROLLBACK", err, sizeof err);
        rune_call_log(s->c, "amcheck was not installed: it was created for this check and "
                            "rolled back (CREATE EXTENSION amcheck keeps it and spares the open "
                            "transaction)");
    }
    PQclear(r);
    json_object_set_new(s->checks, "amcheck", json_boolean(schema != NULL));
    json_object_set_new(s->checks, "indexes", json_integer(checked));
    json_object_set_new(s->checks, "invalid_indexes", json_integer(invalid));
    json_object_set_new(s->checks, "heapallindexed", json_boolean(schema && heapall));
    free(schema);
    return RUNE_STEP_OK;
}

/* Data checksums and the pages that failed them since the statistics were
 * last reset, in this database and in the shared catalogs (datid 0). */
static int check_checksums(struct scan *s)
{
    static const char sql[] =
        "SELECT current_setting('data_checksums') = 'on', coalesce(sum(checksum_failures), 0), "
        "max(checksum_last_failure) FROM pg_stat_database "
        "WHERE datname = current_database() OR datid = 0";
    char err[512];
    PGresult *r = rune_pg_exec(s->c, s->conn, sql, 0, NULL, err, sizeof err);
    if (!r)
        return rune_call_fail(s->c, "cannot read the checksum counters: %s", err);
    bool on = !strcmp(PQgetvalue(r, 0, 0), "t");
    long long failures = atoll(PQgetvalue(r, 0, 1));
    json_object_set_new(s->checks, "data_checksums", json_boolean(on));
    json_object_set_new(rune_call_outputs(s->c), "checksum_failures", json_integer(failures));
    if (!on)
        add_note(s, "data checksums are off: a damaged page is only noticed when it breaks a "
                    "query (pg_checksums --enable with the server stopped turns them on)");
    if (failures > 0) {
        char detail[512];
        snprintf(detail, sizeof detail,
                 "%lld page%s failed %s checksum (last at %s); the server log names the files: "
                 "restore them from a backup, then SELECT pg_stat_reset() clears the counter",
                 failures, failures == 1 ? "" : "s", failures == 1 ? "its" : "their",
                 PQgetvalue(r, 0, 2));
        add_problem(s, problem("checksum", PQdb(s->conn), NULL, detail, failures, NULL));
    }
    PQclear(r);
    return RUNE_STEP_OK;
}

/* A problem's check as words: "foreign_key" → "foreign key". */
static const char *check_label(const char *check)
{
    static const char *const labels[][2] = {
        {"foreign_key", "foreign key"},     {"check_constraint", "CHECK constraint"},
        {"unique", "unique index"},         {"index", "index"},
        {"invalid_index", "invalid index"}, {"checksum", "checksums of database"},
    };
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        if (!strcmp(labels[i][0], check))
            return labels[i][1];
    return check;
}

/* "foreign key orders_customer_fk: 1 row of orders ...; ..." */
static void name_problems(struct scan *s, char *buf, size_t len)
{
    size_t at = 0, i;
    buf[0] = '\0';
    for (i = 0; i < json_array_size(s->problems) && i < NAMED_PROBLEMS && at < len; i++) {
        json_t *p = json_array_get(s->problems, i);
        at += (size_t)snprintf(buf + at, len - at, "%s%s %s: %.300s", i ? "; " : "",
                               check_label(json_string_value(json_object_get(p, "check"))),
                               json_string_value(json_object_get(p, "object")),
                               json_string_value(json_object_get(p, "detail")));
    }
    if (s->found > (long long)i && at < len)
        snprintf(buf + at, len - at, "; and %lld more", s->found - (long long)i);
}

/* Turns off index scans for this session so that the constraint checks read
 * the tables themselves, not indexes that may be the damaged part. */
static bool read_heaps(struct scan *s, char *err, size_t errlen)
{
    return run_sql(s->c, s->conn,
                   "SELECT set_config('enable_indexscan', 'off', false), "
                   "set_config('enable_indexonlyscan', 'off', false), "
                   "set_config('enable_bitmapscan', 'off', false)",
                   err, errlen);
}

/* The checks in order, each when enabled; a phase that cannot even list
 * what it checks fails the step. A cancellation, noticed in any phase, is
 * the step's status in the end. */
static int run_checks(struct scan *s)
{
    struct rune_call *c = s->c;
    char err[512];
    int st = RUNE_STEP_OK;
    if (!read_heaps(s, err, sizeof err))
        st = rune_call_fail(c, "cannot set up the session: %s", err);
    if (st == RUNE_STEP_OK)
        st = check_checksums(s);
    if (st == RUNE_STEP_OK && !rune_call_cancelled(c) && rune_call_bool(c, "foreign_keys"))
        st = check_foreign_keys(s);
    if (st == RUNE_STEP_OK && !rune_call_cancelled(c) && rune_call_bool(c, "check_constraints"))
        st = check_constraints(s);
    if (st == RUNE_STEP_OK && !rune_call_cancelled(c) && rune_call_bool(c, "unique"))
        st = check_unique(s);
    if (st == RUNE_STEP_OK && !rune_call_cancelled(c))
        st = check_indexes(s, rune_call_bool(c, "amcheck"), rune_call_bool(c, "heapallindexed"));
    if (rune_call_cancelled(c)) {
        rune_call_fail(c,
                       "the integrity check of %s was cancelled (%s); it found %lld problem%s "
                       "before that",
                       PQdb(s->conn),
                       rune_pg_cancelled(c) == RUNE_STEP_TIMEOUT ? "the step's timeout passed"
                                                                 : "the run is stopping",
                       s->found, s->found == 1 ? "" : "s");
        return rune_pg_cancelled(c);
    }
    return st;
}

static int integrity_run(struct rune_call *c)
{
    PGconn *conn = connect_for(c);
    if (!conn)
        return rune_call_cancelled(c) ? rune_pg_cancelled(c) : RUNE_STEP_FAILED;
    char where[256];
    rune_call_log(c, "checking %s", rune_pg_where(conn, where, sizeof where));
    struct scan s = {c, conn, json_array(), json_array(), json_array(), json_object(), 0, 0};
    long long max = rune_call_int(c, "max_problems");
    s.max = max > 0 ? max : 100;
    int st = run_checks(&s);
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "database", json_string(PQdb(conn)));
    json_object_set_new(o, "ok", json_boolean(st == RUNE_STEP_OK && s.found == 0));
    json_object_set_new(o, "problem_count", json_integer(s.found));
    json_object_set_new(o, "problems", s.problems);
    json_object_set_new(o, "not_valid", s.not_valid);
    json_object_set_new(o, "checks", s.checks);
    json_object_set_new(o, "notes", s.notes);
    if (st == RUNE_STEP_OK && json_array_size(s.not_valid))
        rune_call_log(c,
                      "%zu constraint%s NOT VALID (see not_valid): ALTER TABLE ... VALIDATE "
                      "CONSTRAINT once no row violates them",
                      json_array_size(s.not_valid),
                      json_array_size(s.not_valid) == 1 ? " is" : "s are");
    if (st == RUNE_STEP_OK && s.found > 0) {
        char named[2048];
        name_problems(&s, named, sizeof named);
        st = rune_call_fail(c,
                            "database %s has %lld integrity problem%s: %s; repair or restore what "
                            "they name (see the problems output and docs/pg-integrity.md), then "
                            "run pg.integrity again",
                            PQdb(conn), s.found, s.found == 1 ? "" : "s", named);
    }
    PQfinish(conn);
    return st;
}

static int integrity_plan(struct rune_call *c)
{
    static const char *const checks[][2] = {
        {"foreign_keys", "orphaned rows under every foreign key"},
        {"check_constraints", "rows violating CHECK constraints"},
        {"unique", "duplicated keys under unique indexes"},
        {"amcheck", "btree indexes with amcheck"},
    };
    char where[256], what[512] = "";
    size_t at = 0;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (rune_call_bool(c, checks[i][0]) && at < sizeof what)
            at += (size_t)snprintf(what + at, sizeof what - at, "%s, ", checks[i][1]);
    describe_target(c, where, sizeof where);
    rune_call_plan(c,
                   "would check %s for %sinvalid indexes and checksum failures, changing nothing "
                   "(amcheck, when not installed, is created in a transaction rolled back)",
                   where, what);
    return RUNE_STEP_OK;
}

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
    long long t0 = mono_ms();
    char err[1024];
    int st = RUNE_STEP_OK;
    char *dbq = PQescapeIdentifier(conn, PQdb(conn), strlen(PQdb(conn)));
    for (size_t i = 0; st == RUNE_STEP_OK && (t ? t[i].name != NULL : i == 0); i++) {
        char *sql = t ? sqlf(a->table_sql, t[i].quoted) : sqlf(a->database_sql, dbq);
        if (!sql) {
            st = rune_call_fail(c,
                                "no memory for the %s statement%s%s in database %s: free memory on "
                                "this host and run the step again",
                                a->name, t ? " on " : "", t ? t[i].name : "", PQdb(conn));
            break;
        }
        rune_call_log(c, "%s", sql);
        long long s0 = mono_ms();
        if (!run_sql(c, conn, sql, err, sizeof err)) {
            st =
                rune_call_fail(c, "%s failed after %.1fs: %s", sql, (mono_ms() - s0) / 1000.0, err);
            if (rune_call_cancelled(c))
                st = rune_pg_cancelled(c);
        }
        json_array_append_new(stmts, json_string(sql));
        free(sql);
    }
    PQfreemem(dbq);
    json_array_append_new(done,
                          json_pack("{s:s, s:o, s:I, s:b}", "action", a->name, "statements", stmts,
                                    "ms", (json_int_t)(mono_ms() - t0), "ok", st == RUNE_STEP_OK));
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

static int maintenance_run(struct rune_call *c)
{
    json_t *list = json_object_get(rune_call_params(c), "actions");
    json_t *tables = json_object_get(rune_call_params(c), "tables");
    if (!json_array_size(tables))
        tables = NULL; /* absent, null or empty: the whole database */
    int st = check_actions(c, list);
    if (st != RUNE_STEP_OK)
        return st;
    PGconn *conn = connect_for(c);
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

static int maintenance_plan(struct rune_call *c)
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
    describe_target(c, where, sizeof where);
    locking_actions(list, locking, sizeof locking);
    rune_call_plan(c, "would run %s on %s of %s and report the space reclaimed%s%s%s", names,
                   json_array_size(tables) ? "the listed tables" : "every table", where,
                   *locking ? " (after the operator approves " : "", locking,
                   *locking ? ", which lock tables)" : "");
    return RUNE_STEP_OK;
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
     integrity_params, integrity_outputs, RUNE_READS, integrity_run, integrity_plan},
    {"pg.maintenance",
     "VACUUM (FULL, FREEZE), ANALYZE, REINDEX on a database or tables; bytes reclaimed",
     maintenance_params, maintenance_outputs, RUNE_WRITES, maintenance_run, maintenance_plan},
    {0},
};
