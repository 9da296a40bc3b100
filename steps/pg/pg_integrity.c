/*
 * pg_integrity.c — pg.integrity: looks for what the third seed's
 * "transaction-level" queries look for, on every constraint instead of a
 * hand-picked few: orphaned rows under each foreign key, rows violating
 * CHECK constraints, duplicated keys under unique indexes. It asks amcheck
 * about every btree index and reads the server's checksum-failure
 * counters. It changes nothing: when amcheck is not installed it is
 * created inside a transaction that is rolled back.
 *
 * Identifiers in generated SQL are quoted by the server (format('%I')) or by
 * libpq, never pasted. docs/pg-integrity.md describes each check and its
 * limits; keep the two in step.
 */
#include "pg_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows of evidence kept per problem (orphan keys, duplicated keys, ctids). */
#define SAMPLE_ROWS 5
/* Problems named in the failure message. */
#define NAMED_PROBLEMS 3

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
    return rune_pg_sqlf("(%s AND NOT EXISTS (SELECT 1 FROM %s%s p WHERE %s))%s",
                        col(r, i, "notnull"), col_true(r, i, "parent_only") ? "ONLY " : "",
                        col(r, i, "parent"), col(r, i, "match"), full);
}

static void check_one_fk(struct scan *s, PGresult *r, int i)
{
    const char *name = col(r, i, "conname"), *table = col(r, i, "child_name");
    const char *from = col_true(r, i, "child_only") ? "ONLY " : "";
    char *where = orphan_where(r, i);
    char *sql = where ? rune_pg_sqlf("SELECT count(*) FROM %s%s c WHERE %s", from,
                                     col(r, i, "child"), where)
                      : NULL;
    char err[512], detail[1024];
    long long n = count_of(s, sql, err, sizeof err);
    free(sql);
    if (n < 0 && !rune_call_cancelled(s->c)) {
        snprintf(detail, sizeof detail, "could not check: %s", err);
        add_problem(s, problem("foreign_key", name, table, detail, -1, NULL));
    } else if (n > 0) {
        sql = rune_pg_sqlf("SELECT %s FROM %s%s c WHERE %s LIMIT %d", col(r, i, "keys"), from,
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
        char *sql = rune_pg_sqlf("SELECT ctid FROM ONLY %s WHERE NOT (%s) LIMIT %d",
                                 col(r, i, "rel"), col(r, i, "expr"), SAMPLE_ROWS);
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
        sql = rune_pg_sqlf("SELECT count(*) FROM ONLY %s WHERE NOT (%s)", col(r, i, "rel"),
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
    char *where = rune_pg_sqlf("%s%s%s%s", nulls ? "true" : col(r, i, "notnull"),
                               *pred ? " AND (" : "", pred, *pred ? ")" : "");
    char *groups = where ? rune_pg_sqlf("FROM %s%s WHERE %s GROUP BY %s HAVING count(*) > 1",
                                        col_true(r, i, "only") ? "ONLY " : "", col(r, i, "rel"),
                                        where, col(r, i, "keys"))
                         : NULL;
    char *sql = groups ? rune_pg_sqlf("SELECT count(*) FROM (SELECT 1 %s) d", groups) : NULL;
    char err[512], detail[1024];
    long long n = count_of(s, sql, err, sizeof err);
    free(sql);
    if (n < 0 && !rune_call_cancelled(s->c)) {
        snprintf(detail, sizeof detail, "could not check: %s", err);
        add_problem(s, problem("unique", name, table, detail, -1, NULL));
    } else if (n > 0) {
        sql = rune_pg_sqlf("SELECT %s, count(*) AS rows %s LIMIT %d", col(r, i, "keys"), groups,
                           SAMPLE_ROWS);
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
        if (rune_pg_run(s->c, s->conn, "BEGIN", err, sizeof err) != 0)
            r = NULL;
        else if (rune_pg_run(s->c, s->conn, "CREATE EXTENSION IF NOT EXISTS amcheck", err,
                             sizeof err) != 0) {
            char ignored[64];
            rune_pg_run(s->c, s->conn, "ROLLBACK", ignored, sizeof ignored);
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
        rune_pg_run(s->c, s->conn, "SAVEPOINT rune_amcheck", ignored, sizeof ignored);
    PGresult *res = rune_pg_exec(s->c, s->conn, sql, 2, params, err, sizeof err);
    bool sound = res != NULL;
    PQclear(res);
    if (in_tx)
        rune_pg_run(s->c, s->conn, "ROLLBACK TO rune_amcheck", ignored, sizeof ignored);
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
        rune_pg_run(s->c, s->conn, "ROLLBACK", err, sizeof err);
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
    /* SET statements, which pgconn keeps per transaction through a pooler */
    static const char *const off[] = {"SET enable_indexscan = off",
                                      "SET enable_indexonlyscan = off",
                                      "SET enable_bitmapscan = off", NULL};
    return rune_pg_run_all(s->c, s->conn, off, err, errlen) == 0;
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

int rune_pg_integrity_run(struct rune_call *c)
{
    PGconn *conn = rune_pg_check_connect(c);
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

int rune_pg_integrity_plan(struct rune_call *c)
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
    rune_pg_check_where(c, where, sizeof where);
    rune_call_plan(c,
                   "would check %s for %sinvalid indexes and checksum failures, changing nothing "
                   "(amcheck, when not installed, is created in a transaction rolled back)",
                   where, what);
    return RUNE_STEP_OK;
}
