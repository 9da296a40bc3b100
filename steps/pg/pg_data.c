/*
 * pg_data.c — proving what a PostgreSQL database holds: row counts against
 * an expectation or a backup's manifest (pg.verify_counts), per-table
 * content hashes (pg.fingerprint), and a diff against a fingerprint or a
 * manifest that names the tables (pg.compare). Everything a step reads is
 * read in one snapshot; hashes are pgcopy.h's, so they compare with the
 * ones pg.dump records.
 */
#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "counts.h"
#include "digest.h"
#include "pgcopy.h"
#include "rowhash.h"

/* ---- pg.verify_counts ---- */

struct counter {
    struct rune_call *c;
    PGconn *conn;
};

static long long count_table(void *ctx, const char *table, char *why, size_t len)
{
    struct counter *k = ctx;
    char *q = rune_pg_resolve_table(k->c, k->conn, table, why, len);
    if (!q)
        return -1;
    char sql[1200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", q);
    free(q);
    char *v = rune_pg_value(k->c, k->conn, sql, 0, NULL, NULL, why, len);
    long long n = v ? strtoll(v, NULL, 10) : -1;
    free(v);
    return n;
}

/* One snapshot for everything a step reads. */
static bool snapshot(struct rune_call *c, PGconn *conn, char *err, size_t errlen)
{
    char ignored[512];
    PGresult *r = rune_pg_exec(c, conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
                               err ? err : ignored, err ? errlen : sizeof ignored);
    PQclear(r);
    return r != NULL;
}

int rune_pg_counts_run(struct rune_call *c)
{
    json_t *expected = rune_counts_expected(c);
    if (!expected)
        return RUNE_STEP_FAILED;
    PGconn *conn = rune_pg_connect_or_fail(c, NULL);
    if (!conn) {
        json_decref(expected);
        return rune_pg_failed_status(c);
    }
    snapshot(c, conn, NULL, 0);
    struct counter k = {c, conn};
    char where[512];
    int st =
        rune_counts_check(c, expected, rune_pg_where(conn, where, sizeof where), count_table, &k);
    PQfinish(conn);
    json_decref(expected);
    return st;
}

int rune_pg_counts_plan(struct rune_call *c)
{
    char w[256];
    const char *m = rune_call_str(c, "manifest");
    rune_call_plan(c, "compare row counts of %s with %s%s", rune_pg_plan_where(c, w, sizeof w),
                   m ? "the manifest of " : "the expected counts", m ? m : "");
    return RUNE_STEP_OK;
}

/* ---- pg.fingerprint / pg.compare ---- */

/* table → {rows, hash} of every table (or the listed ones), in one
 * snapshot; *all gets one hash over them all. NULL after a failure. */
static json_t *fingerprint(struct rune_call *c, PGconn *conn, json_t *only, char all[65])
{
    char err[1024];
    if (!snapshot(c, conn, err, sizeof err)) {
        char w[512];
        if (!rune_call_cancelled(c))
            rune_call_fail(c, "cannot start a read-only snapshot on %s to hash its tables: %s",
                           rune_pg_where(conn, w, sizeof w), err);
        return NULL;
    }
    json_t *names = only ? json_incref(only) : rune_pg_tables(c, conn, err, sizeof err);
    if (!names) {
        rune_call_fail(c, "%s", err);
        return NULL;
    }
    json_t *tables = json_object();
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_DigestInit_ex(m, EVP_sha256(), NULL);
    size_t i;
    json_t *nv;
    json_array_foreach(names, i, nv)
    {
        const char *t = json_string_value(nv);
        char *q = t ? rune_pg_resolve_table(c, conn, t, err, sizeof err) : NULL;
        struct rune_rowhash h;
        rune_rowhash_init(&h);
        int rc = q ? rune_pg_copy_out(c, conn, q, NULL, NULL, &h, err, sizeof err) : -1;
        free(q);
        char hex[65];
        rune_rowhash_hex(&h, hex);
        long long rows = h.rows;
        rune_rowhash_free(&h);
        if (rc != 0) {
            if (!rune_call_cancelled(c))
                rune_call_fail(c, "%s", t ? err : "table names must be strings");
            json_decref(tables);
            tables = NULL;
            break;
        }
        json_object_set_new(tables, t,
                            json_pack("{s:I, s:s}", "rows", (json_int_t)rows, "hash", hex));
        EVP_DigestUpdate(m, t, strlen(t) + 1);
        EVP_DigestUpdate(m, hex, 64);
    }
    rune_digest_hex(m, all);
    EVP_MD_CTX_free(m);
    json_decref(names);
    return tables;
}

int rune_pg_fingerprint_run(struct rune_call *c)
{
    PGconn *conn = rune_pg_connect_or_fail(c, NULL);
    if (!conn)
        return rune_pg_failed_status(c);
    char all[65];
    json_t *tables = fingerprint(c, conn, json_object_get(rune_call_params(c), "tables"), all);
    PQfinish(conn);
    if (!tables)
        return rune_pg_failed_status(c);
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "table_count", json_integer((json_int_t)json_object_size(tables)));
    json_object_set_new(o, "tables", tables);
    json_object_set_new(o, "fingerprint", json_string(all));
    return RUNE_STEP_OK;
}

int rune_pg_fingerprint_plan(struct rune_call *c)
{
    char w[256];
    rune_call_plan(c, "count and hash every row of %s (reads every table)",
                   rune_pg_plan_where(c, w, sizeof w));
    return RUNE_STEP_OK;
}

/* The reference: a fingerprint's `tables` ({t: {rows, hash}}), or a
 * backup manifest's tables + table_hashes turned into the same shape. */
static json_t *reference(struct rune_call *c)
{
    json_t *base = json_object_get(rune_call_params(c), "baseline");
    if (base)
        return json_incref(base);
    const char *mpath = rune_call_str(c, "manifest"); /* one_of: baseline or this */
    char why[512];
    json_t *m = rune_counts_manifest(c, mpath, why, sizeof why);
    if (!m) {
        rune_call_fail(c, "%s", why);
        return NULL;
    }
    json_t *out = json_object(), *hashes = json_object_get(m, "table_hashes");
    const char *t;
    json_t *rows;
    json_object_foreach(json_object_get(m, "tables"), t, rows)
    {
        json_t *h = json_object_get(hashes, t);
        json_object_set_new(out, t, json_pack("{s:O, s:O?}", "rows", rows, "hash", h));
    }
    json_decref(m);
    return out;
}

int rune_pg_compare_run(struct rune_call *c)
{
    json_t *ref = reference(c);
    if (!ref)
        return RUNE_STEP_FAILED;
    PGconn *conn = rune_pg_connect_or_fail(c, NULL);
    if (!conn) {
        json_decref(ref);
        return rune_pg_failed_status(c);
    }
    char all[65];
    json_t *now = fingerprint(c, conn, NULL, all);
    PQfinish(conn);
    if (!now) {
        json_decref(ref);
        return rune_pg_failed_status(c);
    }
    json_t *diff = json_array(), *differ = json_array(), *extra = json_array();
    const char *t;
    json_t *want;
    json_object_foreach(ref, t, want)
    {
        json_t *have = json_object_get(now, t);
        long long exp = json_integer_value(json_object_get(want, "rows"));
        long long got = have ? json_integer_value(json_object_get(have, "rows")) : -1;
        const char *wh = json_string_value(json_object_get(want, "hash"));
        const char *gh = json_string_value(json_object_get(have, "hash"));
        bool same = have && wh && gh && !strcmp(wh, gh);
        long long allowed = rune_counts_allowed(c, exp);
        /* identical content, or (when a tolerance was given) close enough */
        bool ok =
            have && (same || (allowed > 0 && llabs(got - exp) <= allowed) || (!wh && got == exp));
        if (!ok)
            json_array_append_new(differ, json_string(t));
        json_array_append_new(diff, json_pack("{s:s, s:I, s:I, s:b, s:b}", "table", t,
                                              "expected_rows", (json_int_t)exp, "actual_rows",
                                              (json_int_t)got, "same_content", same, "ok", ok));
    }
    json_t *v;
    json_object_foreach(now, t, v) if (!json_object_get(ref, t))
        json_array_append_new(extra, json_string(t));
    json_t *o = rune_call_outputs(c);
    size_t nd = json_array_size(differ);
    json_object_set_new(o, "ok", json_boolean(nd == 0));
    json_object_set_new(o, "diff", diff);
    json_object_set_new(o, "extra", extra);
    json_object_set_new(o, "fingerprint", json_string(all));
    json_object_set_new(o, "differ", differ);
    int st = RUNE_STEP_OK;
    if (nd) {
        char names[512] = "";
        size_t i, at = 0;
        json_array_foreach(differ, i, v)
        {
            if (i == 5)
                break;
            at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", i ? ", " : "",
                                   json_string_value(v));
            if (at >= sizeof names)
                break;
        }
        st = rune_call_fail(c, "%zu table%s differ%s from the reference: %s%s", nd,
                            nd == 1 ? "" : "s", nd == 1 ? "s" : "", names, nd > 5 ? ", ..." : "");
    }
    json_decref(ref);
    json_decref(now);
    return st;
}

int rune_pg_compare_plan(struct rune_call *c)
{
    char w[256];
    const char *m = rune_call_str(c, "manifest");
    rune_call_plan(c, "hash every table of %s and compare with %s%s",
                   rune_pg_plan_where(c, w, sizeof w), m ? "the manifest of " : "the baseline",
                   m ? m : "");
    return RUNE_STEP_OK;
}
