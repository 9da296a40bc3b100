/*
 * pg.c — PostgreSQL primitives that read or act on a live server:
 * reachability (pg.ping, pg.wait_ready), queries and assertions
 * (pg.query, pg.exec, pg.assert), sessions (pg.connections,
 * pg.terminate_connections), and proving the data (pg.verify_counts,
 * pg.fingerprint, pg.compare). Backups are pg_backup.c, integrity and
 * maintenance pg_check.c; all connect through pgconn.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "counts.h"
#include "pgconn.h"
#include "pgcopy.h"
#include "rowhash.h"
#include "step.h"

#define TARGET_PARAM                                                                               \
    {"target", RUNE_T_TARGET, false, NULL,                                                         \
     "a postgres target (without one: PGHOST, PGPORT, PGUSER, PGDATABASE)", "postgres"}
#define DATABASE_PARAM {"database", RUNE_T_STRING, false, NULL, "database (overrides the target's)"}

/* Which server a plan talks about, without connecting. */
static const char *plan_where(struct rune_call *c, char *buf, size_t len)
{
    const char *db = rune_call_str(c, "database");
    json_t *t = rune_call_target(c, "target");
    const char *tdb = json_string_value(json_object_get(t, "database"));
    if (db || tdb)
        snprintf(buf, len, "database %s%s%s", db ? db : tdb, t ? " of target " : "",
                 t ? json_string_value(json_object_get(t, "name")) : "");
    else if (t)
        snprintf(buf, len, "target %s", json_string_value(json_object_get(t, "name")));
    else
        snprintf(buf, len, "the server PGHOST/PGDATABASE name");
    return buf;
}

static PGconn *connect_or_fail(struct rune_call *c, const char *dbname)
{
    char err[1024];
    PGconn *conn = rune_pg_connect(c, dbname ? dbname : rune_call_str(c, "database"), err,
                                   sizeof err);
    if (!conn) {
        if (rune_call_cancelled(c))
            return NULL;
        rune_call_fail(c, "%s", err);
    }
    return conn;
}

/* A failed call's status: cancelled, or the failure already recorded. */
static int failed(struct rune_call *c)
{
    return rune_call_cancelled(c) ? rune_pg_cancelled(c) : RUNE_STEP_FAILED;
}

/* ---- pg.ping / pg.wait_ready ---- */

static const char *ping_name(PGPing p)
{
    switch (p) {
    case PQPING_OK: return "ok";
    case PQPING_REJECT: return "rejecting";
    case PQPING_NO_RESPONSE: return "no_response";
    default: return "bad_parameters";
    }
}

static const char *ping_hint(PGPing p)
{
    switch (p) {
    case PQPING_REJECT:
        return "the server is up but refuses connections (starting, shutting down or in "
               "recovery); wait or check its log";
    case PQPING_NO_RESPONSE:
        return "nothing answers; is the server running, and are host and port right?";
    default:
        return "the connection parameters are invalid; check the target's conninfo";
    }
}

/* Which server a failure is about, without connecting: the database or
 * target (plan_where) and the host and port libpq is given, from the
 * target's fields, its conninfo or PGHOST/PGPORT, as libpq chooses them. */
static const char *server_where(struct rune_call *c, char *buf, size_t len)
{
    char w[256];
    json_t *t = rune_call_target(c, "target");
    const char *host = json_string_value(json_object_get(t, "host"));
    const char *port = json_string_value(json_object_get(t, "port"));
    const char *conninfo = json_string_value(json_object_get(t, "conninfo"));
    PQconninfoOption *opts = conninfo ? PQconninfoParse(conninfo, NULL) : NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!host && !strcmp(o->keyword, "host") && o->val && *o->val)
            host = o->val;
        if (!port && !strcmp(o->keyword, "port") && o->val && *o->val)
            port = o->val;
    }
    if (!host || !*host)
        host = getenv("PGHOST");
    if (!port || !*port)
        port = getenv("PGPORT");
    bool named = t || rune_call_str(c, "database");
    snprintf(buf, len, "%s (host %s, port %s)", named ? plan_where(c, w, sizeof w) : "the server",
             host && *host ? host : "the default socket", port && *port ? port : "5432");
    PQconninfoFree(opts);
    return buf;
}

/* Server facts once it answers: version, recovery, round trip. */
static void server_facts(struct rune_call *c, PGconn *conn, json_t *o)
{
    char err[512];
    PGresult *r = rune_pg_exec(c, conn,
                               "SELECT current_setting('server_version'), pg_is_in_recovery(), "
                               "current_database()",
                               0, NULL, err, sizeof err);
    if (!r)
        return;
    json_object_set_new(o, "server_version", json_string(PQgetvalue(r, 0, 0)));
    json_object_set_new(o, "in_recovery", json_boolean(PQgetvalue(r, 0, 1)[0] == 't'));
    json_object_set_new(o, "database", json_string(PQgetvalue(r, 0, 2)));
    PQclear(r);
}

static int ping_run(struct rune_call *c)
{
    long long t0 = rune_clock_mono_ms();
    PGPing p = rune_pg_ping(c, rune_call_str(c, "database"), rune_call_int(c, "timeout"));
    long long took = rune_clock_mono_ms() - t0;
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "status", json_string(ping_name(p)));
    json_object_set_new(o, "reachable", json_boolean(p == PQPING_OK));
    if (p != PQPING_OK) {
        char w[512];
        return rune_call_fail(c, "PostgreSQL ping of %s: %s after %.1fs (timeout %.1fs) — %s",
                              server_where(c, w, sizeof w), ping_name(p), took / 1000.0,
                              rune_call_int(c, "timeout") / 1000.0, ping_hint(p));
    }
    if (rune_call_bool(c, "login")) {
        PGconn *conn = connect_or_fail(c, NULL);
        if (!conn)
            return failed(c);
        server_facts(c, conn, o);
        PQfinish(conn);
    }
    return RUNE_STEP_OK;
}

static int ping_plan(struct rune_call *c)
{
    char w[256];
    rune_call_plan(c, "check that %s answers", plan_where(c, w, sizeof w));
    return RUNE_STEP_OK;
}

static int wait_run(struct rune_call *c)
{
    long long limit = rune_call_int(c, "timeout");
    long long delay = rune_call_int(c, "interval");
    long long waited = 0;
    int attempts = 0;
    PGPing p = PQPING_NO_RESPONSE;
    char err[1024] = "";
    json_t *o = rune_call_outputs(c);
    for (;;) {
        attempts++;
        p = rune_pg_ping(c, rune_call_str(c, "database"), delay > 5000 ? delay : 5000);
        if (p == PQPING_OK) {
            /* accepting connections is not enough: log in and ask */
            PGconn *conn = rune_pg_connect(c, rune_call_str(c, "database"), err, sizeof err);
            if (conn) {
                server_facts(c, conn, o);
                PQfinish(conn);
                break;
            }
        } else {
            snprintf(err, sizeof err, "%s", ping_hint(p));
        }
        if (waited >= limit) {
            char w[512];
            return rune_call_fail(c,
                                  "PostgreSQL not ready after %lld attempts in %.1fs (timeout "
                                  "%.1fs): %s: %s",
                                  (long long)attempts, waited / 1000.0, limit / 1000.0,
                                  server_where(c, w, sizeof w), err);
        }
        long long nap = delay < limit - waited ? delay : limit - waited;
        int st = rune_call_sleep(c, nap);
        if (st != RUNE_STEP_OK)
            return st;
        waited += nap;
        delay = delay * 3 / 2 > 5000 ? 5000 : delay * 3 / 2; /* back off, up to 5 s */
    }
    json_object_set_new(o, "attempts", json_integer(attempts));
    json_object_set_new(o, "waited_ms", json_integer(waited));
    rune_call_log(c, "ready after %d attempt%s", attempts, attempts == 1 ? "" : "s");
    return RUNE_STEP_OK;
}

static int wait_plan(struct rune_call *c)
{
    char w[256];
    rune_call_plan(c, "wait up to %llds for %s to accept connections",
                   rune_call_int(c, "timeout") / 1000, plan_where(c, w, sizeof w));
    return RUNE_STEP_OK;
}

/* ---- pg.query / pg.exec / pg.assert ---- */

/* A result value as JSON by its type: numbers, booleans and JSON stay
 * typed so conditions can compare them; everything else is text. */
static json_t *cell(PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    const char *v = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case 16: /* bool */
        return json_boolean(v[0] == 't');
    case 20: case 21: case 23: case 26: /* int8, int2, int4, oid */
        return json_integer(strtoll(v, NULL, 10));
    case 700: case 701: case 1700: { /* float4, float8, numeric */
        char *end;
        double d = strtod(v, &end);
        return *end ? json_string(v) : json_real(d);
    }
    case 114: case 3802: { /* json, jsonb */
        json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
        return j ? j : json_string(v);
    }
    default:
        return json_string(v);
    }
}

static json_t *text_params(struct rune_call *c, const char ***out, int *n)
{
    json_t *list = json_object_get(rune_call_params(c), "params");
    *n = (int)json_array_size(list);
    *out = calloc((size_t)(*n ? *n : 1), sizeof **out);
    json_t *keep = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (json_is_null(v)) {
            (*out)[i] = NULL;
            continue;
        }
        json_t *s = json_is_string(v) ? json_incref(v) : NULL;
        if (!s) {
            char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            s = json_string(d);
            free(d);
        }
        json_array_append_new(keep, s);
        (*out)[i] = json_string_value(s);
    }
    return keep; /* owns the strings *out points into */
}

static int query_common(struct rune_call *c, bool writes)
{
    PGconn *conn = connect_or_fail(c, NULL);
    if (!conn)
        return failed(c);
    char err[1024];
    const char **params;
    int n;
    json_t *keep = text_params(c, &params, &n);
    /* pg.query reads: the server refuses any write inside a read-only
     * transaction, so a typo cannot change data */
    if (!writes) {
        PGresult *b = rune_pg_exec(c, conn, "BEGIN READ ONLY", 0, NULL, err, sizeof err);
        PQclear(b);
    }
    PGresult *r = rune_pg_exec(c, conn, rune_call_str(c, "sql"), n, params, err, sizeof err);
    free(params);
    json_decref(keep);
    if (!r) {
        PQfinish(conn);
        return rune_call_cancelled(c) ? rune_pg_cancelled(c) : rune_call_fail(c, "%s", err);
    }
    json_t *o = rune_call_outputs(c);
    long long cap = rune_call_int(c, "max_rows");
    int rows = PQntuples(r), cols = PQnfields(r);
    json_t *list = json_array(), *names = json_array();
    for (int j = 0; j < cols; j++)
        json_array_append_new(names, json_string(PQfname(r, j)));
    for (int i = 0; i < rows && i < cap; i++) {
        json_t *row = json_object();
        for (int j = 0; j < cols; j++)
            json_object_set_new(row, PQfname(r, j), cell(r, i, j));
        json_array_append_new(list, row);
    }
    json_object_set_new(o, "rows", list);
    json_object_set_new(o, "columns", names);
    json_object_set_new(o, "row_count", json_integer(rows));
    json_object_set_new(o, "truncated", json_boolean(rows > cap));
    if (rows > 0 && cols > 0)
        json_object_set_new(o, "value", cell(r, 0, 0));
    const char *affected = PQcmdTuples(r);
    if (affected && *affected)
        json_object_set_new(o, "affected", json_integer(strtoll(affected, NULL, 10)));
    PQclear(r);
    if (!writes)
        PQclear(rune_pg_exec(c, conn, "COMMIT", 0, NULL, err, sizeof err));
    PQfinish(conn);
    return RUNE_STEP_OK;
}

static int query_run(struct rune_call *c) { return query_common(c, false); }
static int exec_run(struct rune_call *c) { return query_common(c, true); }

static int query_plan(struct rune_call *c)
{
    char w[256];
    rune_call_plan(c, "run on %s: %s", plan_where(c, w, sizeof w), rune_call_str(c, "sql"));
    return RUNE_STEP_OK;
}

/* The text PostgreSQL would print for an expected value. */
static char *expected_text(json_t *v)
{
    if (json_is_true(v))
        return strdup("t");
    if (json_is_false(v))
        return strdup("f");
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static int assert_run(struct rune_call *c)
{
    PGconn *conn = connect_or_fail(c, NULL);
    if (!conn)
        return failed(c);
    char err[1024];
    PGresult *b = rune_pg_exec(c, conn, "BEGIN READ ONLY", 0, NULL, err, sizeof err);
    PQclear(b);
    PGresult *r = rune_pg_exec(c, conn, rune_call_str(c, "sql"), 0, NULL, err, sizeof err);
    PQfinish(conn);
    if (!r)
        return rune_call_cancelled(c) ? rune_pg_cancelled(c) : rune_call_fail(c, "%s", err);
    if (PQntuples(r) != 1 || PQnfields(r) != 1) {
        int rows = PQntuples(r), cols = PQnfields(r);
        PQclear(r);
        return rune_call_fail(c, "the assertion must return one row with one column; it "
                                 "returned %d row%s × %d column%s",
                              rows, rows == 1 ? "" : "s", cols, cols == 1 ? "" : "s");
    }
    json_t *want = json_object_get(rune_call_params(c), "expect");
    char *exp = expected_text(want ? want : json_true());
    const char *got = PQgetisnull(r, 0, 0) ? NULL : PQgetvalue(r, 0, 0);
    bool ok = got && !strcmp(got, exp);
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "value", cell(r, 0, 0));
    json_object_set_new(o, "ok", json_boolean(ok));
    int st = RUNE_STEP_OK;
    if (!ok) {
        const char *msg = rune_call_str(c, "message");
        st = rune_call_fail(c, "%s%sexpected %s, got %s", msg ? msg : "", msg ? ": " : "", exp,
                            got ? got : "NULL");
    }
    free(exp);
    PQclear(r);
    return st;
}

static int assert_plan(struct rune_call *c)
{
    char w[256];
    rune_call_plan(c, "check on %s that `%s` returns the expected value",
                   plan_where(c, w, sizeof w), rune_call_str(c, "sql"));
    return RUNE_STEP_OK;
}

/* ---- pg.connections / pg.terminate_connections ---- */

/* Sessions on database `db` other than ours (and other than rune's own
 * helpers in this call), as listed by pg_stat_activity. */
static const char *const sessions_sql =
    "SELECT pid, usename, application_name, coalesce(client_addr::text, 'local'), "
    "coalesce(state, ''), to_char(backend_start AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), left(coalesce(query, ''), 200) "
    "FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() "
    "AND backend_type = 'client backend' ORDER BY backend_start";

static const char *target_db(struct rune_call *c, PGconn *conn)
{
    const char *db = rune_call_str(c, "of");
    return db ? db : PQdb(conn);
}

static json_t *sessions(struct rune_call *c, PGconn *conn, const char *db, char *err,
                        size_t errlen)
{
    const char *p[1] = {db};
    PGresult *r = rune_pg_exec(c, conn, sessions_sql, 1, p, err, errlen);
    if (!r)
        return NULL;
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        char *q = rune_call_redact(c, PQgetvalue(r, i, 6));
        json_array_append_new(
            list, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "pid",
                            (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "user",
                            PQgetvalue(r, i, 1), "application", PQgetvalue(r, i, 2), "client",
                            PQgetvalue(r, i, 3), "state", PQgetvalue(r, i, 4), "since",
                            PQgetvalue(r, i, 5), "query", q));
        free(q);
    }
    PQclear(r);
    return list;
}

static void summarise(json_t *o, json_t *list, long long cap)
{
    json_t *by_state = json_object(), *by_app = json_object();
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        const char *st = json_string_value(json_object_get(s, "state"));
        const char *app = json_string_value(json_object_get(s, "application"));
        st = *st ? st : "unknown";
        app = *app ? app : "(none)";
        json_object_set_new(by_state, st,
                            json_integer(json_integer_value(json_object_get(by_state, st)) + 1));
        json_object_set_new(by_app, app,
                            json_integer(json_integer_value(json_object_get(by_app, app)) + 1));
    }
    json_object_set_new(o, "total", json_integer((json_int_t)json_array_size(list)));
    json_object_set_new(o, "by_state", by_state);
    json_object_set_new(o, "by_application", by_app);
    while ((long long)json_array_size(list) > cap)
        json_array_remove(list, json_array_size(list) - 1);
    json_object_set(o, "sessions", list);
}

static int connections_run(struct rune_call *c)
{
    PGconn *conn = connect_or_fail(c, NULL);
    if (!conn)
        return failed(c);
    char err[1024];
    json_t *list = sessions(c, conn, target_db(c, conn), err, sizeof err);
    PQfinish(conn);
    if (!list)
        return rune_call_cancelled(c) ? rune_pg_cancelled(c) : rune_call_fail(c, "%s", err);
    summarise(rune_call_outputs(c), list, rune_call_int(c, "max_sessions"));
    json_decref(list);
    return RUNE_STEP_OK;
}

static int connections_plan(struct rune_call *c)
{
    char w[256];
    rune_call_plan(c, "list the sessions connected to %s",
                   rune_call_str(c, "of") ? rune_call_str(c, "of") : plan_where(c, w, sizeof w));
    return RUNE_STEP_OK;
}

static int terminate_run(struct rune_call *c)
{
    /* connect to the maintenance database: the one being emptied may be
     * about to be dropped, and we must not count as one of its sessions */
    const char *of = rune_call_str(c, "of");
    PGconn *conn = connect_or_fail(c, of ? rune_call_str(c, "via") : NULL);
    if (!conn)
        return failed(c);
    char err[1024];
    const char *db = target_db(c, conn);
    char *dbcopy = strdup(db);
    json_t *o = rune_call_outputs(c);
    json_t *before = sessions(c, conn, dbcopy, err, sizeof err);
    int st = RUNE_STEP_OK;
    if (!before) {
        st = failed(c) == RUNE_STEP_FAILED ? rune_call_fail(c, "%s", err) : failed(c);
        goto out;
    }
    json_object_set_new(o, "before", json_integer((json_int_t)json_array_size(before)));
    json_decref(before);
    const char *p[1] = {dbcopy};
    PGresult *r = rune_pg_exec(c, conn,
                               "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                               "FROM pg_stat_activity WHERE datname = $1 "
                               "AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                               1, p, err, sizeof err);
    if (!r) {
        st = rune_call_cancelled(c) ? rune_pg_cancelled(c) : rune_call_fail(c, "%s", err);
        goto out;
    }
    long long killed = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    json_object_set_new(o, "terminated", json_integer(killed));
    rune_call_log(c, "terminated %lld session%s on %s", killed, killed == 1 ? "" : "s", dbcopy);
    /* terminated backends take a moment to go; clients may reconnect */
    long long wait = rune_call_int(c, "wait"), waited = 0;
    json_t *after = NULL;
    for (;;) {
        json_decref(after);
        after = sessions(c, conn, dbcopy, err, sizeof err);
        if (!after || !json_array_size(after) || waited >= wait)
            break;
        if (rune_call_sleep(c, 200) != RUNE_STEP_OK)
            break;
        waited += 200;
    }
    if (!after) {
        st = failed(c) == RUNE_STEP_FAILED ? rune_call_fail(c, "%s", err) : failed(c);
        goto out;
    }
    size_t left = json_array_size(after);
    json_object_set_new(o, "after", json_integer((json_int_t)left));
    if (left) {
        json_t *first = json_array_get(after, 0);
        st = rune_call_fail(c, "%zu session%s still connected to %s after %.1fs (first: pid %lld, "
                               "application \"%s\"); stop the application that reconnects",
                            left, left == 1 ? "" : "s", dbcopy, waited / 1000.0,
                            (long long)json_integer_value(json_object_get(first, "pid")),
                            json_string_value(json_object_get(first, "application")));
    }
    json_decref(after);
out:
    free(dbcopy);
    PQfinish(conn);
    return st;
}

static int terminate_plan(struct rune_call *c)
{
    char w[256];
    rune_call_plan(c, "terminate every other session connected to %s",
                   rune_call_str(c, "of") ? rune_call_str(c, "of") : plan_where(c, w, sizeof w));
    return RUNE_STEP_OK;
}

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

static int counts_run(struct rune_call *c)
{
    json_t *expected = rune_counts_expected(c);
    if (!expected)
        return RUNE_STEP_FAILED;
    PGconn *conn = connect_or_fail(c, NULL);
    if (!conn) {
        json_decref(expected);
        return failed(c);
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

static int counts_plan(struct rune_call *c)
{
    char w[256];
    const char *m = rune_call_str(c, "manifest");
    rune_call_plan(c, "compare row counts of %s with %s%s", plan_where(c, w, sizeof w),
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
        json_object_set_new(tables, t, json_pack("{s:I, s:s}", "rows", (json_int_t)rows, "hash",
                                                 hex));
        EVP_DigestUpdate(m, t, strlen(t) + 1);
        EVP_DigestUpdate(m, hex, 64);
    }
    unsigned char md[32];
    EVP_DigestFinal_ex(m, md, NULL);
    EVP_MD_CTX_free(m);
    for (int k = 0; k < 32; k++)
        snprintf(all + 2 * k, 3, "%02x", md[k]);
    json_decref(names);
    return tables;
}

static int fingerprint_run(struct rune_call *c)
{
    PGconn *conn = connect_or_fail(c, NULL);
    if (!conn)
        return failed(c);
    char all[65];
    json_t *tables = fingerprint(c, conn, json_object_get(rune_call_params(c), "tables"), all);
    PQfinish(conn);
    if (!tables)
        return failed(c);
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "table_count", json_integer((json_int_t)json_object_size(tables)));
    json_object_set_new(o, "tables", tables);
    json_object_set_new(o, "fingerprint", json_string(all));
    return RUNE_STEP_OK;
}

static int fingerprint_plan(struct rune_call *c)
{
    char w[256];
    rune_call_plan(c, "count and hash every row of %s (reads every table)",
                   plan_where(c, w, sizeof w));
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

static int compare_run(struct rune_call *c)
{
    json_t *ref = reference(c);
    if (!ref)
        return RUNE_STEP_FAILED;
    PGconn *conn = connect_or_fail(c, NULL);
    if (!conn) {
        json_decref(ref);
        return failed(c);
    }
    char all[65];
    json_t *now = fingerprint(c, conn, NULL, all);
    PQfinish(conn);
    if (!now) {
        json_decref(ref);
        return failed(c);
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
        bool ok = have && (same || (allowed > 0 && llabs(got - exp) <= allowed) ||
                           (!wh && got == exp));
        if (!ok)
            json_array_append_new(differ, json_string(t));
        json_array_append_new(diff, json_pack("{s:s, s:I, s:I, s:b, s:b}", "table", t,
                                              "expected_rows", (json_int_t)exp, "actual_rows",
                                              (json_int_t)got, "same_content", same, "ok", ok));
    }
    json_t *v;
    json_object_foreach(now, t, v) if (!json_object_get(ref, t)) json_array_append_new(extra, json_string(t));
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

static int compare_plan(struct rune_call *c)
{
    char w[256];
    const char *m = rune_call_str(c, "manifest");
    rune_call_plan(c, "hash every table of %s and compare with %s%s",
                   plan_where(c, w, sizeof w), m ? "the manifest of " : "the baseline",
                   m ? m : "");
    return RUNE_STEP_OK;
}

/* ---- the table ---- */

static const struct rune_param ping_params[] = {
    TARGET_PARAM, DATABASE_PARAM,
    {"timeout", RUNE_T_DURATION, false, "5s", "how long to wait for an answer"},
    {"login", RUNE_T_BOOL, false, "true", "also log in and read the server's version"},
    {0},
};
static const struct rune_output ping_outputs[] = {
    {"reachable", RUNE_T_BOOL, "the server accepts connections"},
    {"status", RUNE_T_STRING, "ok, rejecting, no_response or bad_parameters"},
    {"server_version", RUNE_T_STRING, "when logged in"},
    {"in_recovery", RUNE_T_BOOL, "a standby (or recovering)"},
    {"database", RUNE_T_STRING, "the database connected to"},
    {0},
};

static const struct rune_param wait_params[] = {
    TARGET_PARAM, DATABASE_PARAM,
    {"timeout", RUNE_T_DURATION, false, "60s", "give up after this long"},
    {"interval", RUNE_T_DURATION, false, "500ms", "first pause between tries (backs off to 5s)"},
    {0},
};
static const struct rune_output wait_outputs[] = {
    {"attempts", RUNE_T_INT, "tries made"},
    {"waited_ms", RUNE_T_INT, "time spent waiting"},
    {"server_version", RUNE_T_STRING, "the server's version"},
    {"in_recovery", RUNE_T_BOOL, "a standby (or recovering)"},
    {0},
};

static const struct rune_param query_params[] = {
    TARGET_PARAM, DATABASE_PARAM,
    {"sql", RUNE_T_STRING, true, NULL, "the SQL ($1, $2 ... for params)"},
    {"params", RUNE_T_LIST, false, NULL, "values for $1, $2 ..."},
    {"max_rows", RUNE_T_INT, false, "100", "rows kept in the outputs"},
    {0},
};
static const struct rune_output query_outputs[] = {
    {"rows", RUNE_T_LIST, "column → value per row (numbers, booleans and JSON typed)"},
    {"columns", RUNE_T_LIST, "column names"},
    {"row_count", RUNE_T_INT, "rows returned (before the cap)"},
    {"truncated", RUNE_T_BOOL, "more rows than max_rows"},
    {"value", RUNE_T_ANY, "first column of the first row"},
    {"affected", RUNE_T_INT, "rows changed (pg.exec)"},
    {0},
};

static const struct rune_param assert_params[] = {
    TARGET_PARAM, DATABASE_PARAM,
    {"sql", RUNE_T_STRING, true, NULL, "a query returning one value"},
    {"expect", RUNE_T_ANY, false, "true", "the value it must return"},
    {"message", RUNE_T_STRING, false, NULL, "what it means when it does not"},
    {0},
};
static const struct rune_output assert_outputs[] = {
    {"ok", RUNE_T_BOOL, "the value was the expected one"},
    {"value", RUNE_T_ANY, "what the query returned"},
    {0},
};

static const struct rune_param connections_params[] = {
    TARGET_PARAM, DATABASE_PARAM,
    {"of", RUNE_T_STRING, false, NULL, "the database whose sessions to list (default: connected one)"},
    {"max_sessions", RUNE_T_INT, false, "50", "sessions kept in the outputs"},
    {0},
};
static const struct rune_output connections_outputs[] = {
    {"total", RUNE_T_INT, "client sessions, not counting rune's"},
    {"by_state", RUNE_T_MAP, "state → sessions (active, idle, idle in transaction ...)"},
    {"by_application", RUNE_T_MAP, "application_name → sessions"},
    {"sessions", RUNE_T_LIST, "{pid, user, application, client, state, since, query}"},
    {0},
};

static const struct rune_param terminate_params[] = {
    TARGET_PARAM, DATABASE_PARAM,
    {"of", RUNE_T_STRING, false, NULL, "the database to empty (default: the connected one)"},
    {"via", RUNE_T_STRING, false, "postgres", "database to connect to when `of` is given"},
    {"wait", RUNE_T_DURATION, false, "5s", "how long to wait for sessions to go"},
    {0},
};
static const struct rune_output terminate_outputs[] = {
    {"before", RUNE_T_INT, "sessions before"},
    {"terminated", RUNE_T_INT, "sessions terminated"},
    {"after", RUNE_T_INT, "sessions left (the step fails if any)"},
    {0},
};

static const struct rune_param counts_params[] = {
    TARGET_PARAM, DATABASE_PARAM, RUNE_COUNTS_PARAMS, {0},
};

static const struct rune_param fingerprint_params[] = {
    TARGET_PARAM, DATABASE_PARAM,
    {"tables", RUNE_T_STRLIST, false, NULL, "only these tables (schema.table or table)"},
    {0},
};
static const struct rune_output fingerprint_outputs[] = {
    {"tables", RUNE_T_MAP, "table → {rows, hash}: count and order-independent content hash"},
    {"table_count", RUNE_T_INT, "tables hashed"},
    {"fingerprint", RUNE_T_STRING, "one hash over every table's"},
    {0},
};

static const struct rune_param compare_params[] = {
    TARGET_PARAM, DATABASE_PARAM,
    {"baseline", RUNE_T_MAP, false, NULL, "a pg.fingerprint's outputs.tables", NULL, "reference"},
    {"manifest", RUNE_T_PATH, false, NULL, "or a pg.dump backup: compare with its manifest", NULL,
     "reference"},
    {"tolerance", RUNE_T_INT, false, "0", "rows a table may differ by (then content may differ)"},
    {"tolerance_percent", RUNE_T_NUMBER, false, "0", "or this percent of the reference count"},
    {0},
};
static const struct rune_output compare_outputs[] = {
    {"ok", RUNE_T_BOOL, "every table matches"},
    {"differ", RUNE_T_LIST, "names of the tables that differ"},
    {"diff", RUNE_T_LIST, "{table, expected_rows, actual_rows, same_content, ok} per table"},
    {"extra", RUNE_T_LIST, "tables present now but not in the reference"},
    {"fingerprint", RUNE_T_STRING, "the current fingerprint"},
    {0},
};

const struct rune_step_type rune_pg_steps[] = {
    {"pg.ping", "Is the server up and accepting connections (PQping), and its version",
     ping_params, ping_outputs, RUNE_READS, ping_run, ping_plan},
    {"pg.wait_ready", "Wait, with backoff, until the server accepts a login",
     wait_params, wait_outputs, RUNE_READS, wait_run, wait_plan},
    {"pg.query", "Run a query in a read-only transaction; rows as outputs (capped)",
     query_params, query_outputs, RUNE_READS, query_run, query_plan},
    {"pg.exec", "Run SQL that changes things (DDL, UPDATE ...); affected rows as outputs",
     query_params, query_outputs, RUNE_WRITES, exec_run, query_plan},
    {"pg.assert", "A query that must return true (or an expected value)",
     assert_params, assert_outputs, RUNE_READS, assert_run, assert_plan},
    {"pg.connections", "Sessions connected to a database, by state and application",
     connections_params, connections_outputs, RUNE_READS, connections_run, connections_plan},
    {"pg.terminate_connections", "Terminate every other session on a database; counts before/after",
     terminate_params, terminate_outputs, RUNE_WRITES, terminate_run, terminate_plan},
    {"pg.verify_counts", "Compare per-table row counts with expected ones or a backup's manifest",
     counts_params, rune_counts_outputs, RUNE_READS, counts_run, counts_plan},
    {"pg.fingerprint", "Per-table row count and order-independent content hash, in one snapshot",
     fingerprint_params, fingerprint_outputs, RUNE_READS, fingerprint_run, fingerprint_plan},
    {"pg.compare", "Diff the database against a fingerprint or a backup's manifest, naming tables",
     compare_params, compare_outputs, RUNE_READS, compare_run, compare_plan},
    {0},
};
