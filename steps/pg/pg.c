/*
 * pg.c — PostgreSQL primitives that read or act on a live server:
 * reachability (pg.ping, pg.wait_ready), queries and assertions
 * (pg.query, pg.exec, pg.assert) and sessions (pg.connections,
 * pg.terminate_connections) here; proving the data (pg.verify_counts,
 * pg.fingerprint, pg.compare) in pg_data.c; what they share (pg.h) and, at
 * the end, the family's table. Backups are pg_backup.c, integrity and
 * maintenance pg_check.c; all connect through pgconn.c.
 */
#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counts.h"

#define TARGET_PARAM                                                                               \
    {                                                                                              \
        "target", RUNE_T_TARGET, false, NULL,                                                      \
            "a postgres target (without one: PGHOST, PGPORT, PGUSER, PGDATABASE)", "postgres"      \
    }
#define DATABASE_PARAM                                                                             \
    {                                                                                              \
        "database", RUNE_T_STRING, false, NULL, "database (overrides the target's)"                \
    }

/* ---- shared by the family (pg.h) ---- */

/* Which server a plan talks about, without connecting. */
const char *rune_pg_plan_where(struct rune_call *c, char *buf, size_t len)
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

PGconn *rune_pg_connect_or_fail(struct rune_call *c, const char *dbname)
{
    char err[1024];
    PGconn *conn =
        rune_pg_connect(c, dbname ? dbname : rune_call_str(c, "database"), err, sizeof err);
    if (!conn) {
        if (rune_call_cancelled(c))
            return NULL;
        rune_call_fail(c, "%s", err);
    }
    return conn;
}

/* A failed call's status: cancelled, or the failure already recorded. */
int rune_pg_failed_status(struct rune_call *c)
{
    return rune_call_cancelled(c) ? rune_pg_cancelled(c) : RUNE_STEP_FAILED;
}

/* ---- pg.ping / pg.wait_ready ---- */

static const char *ping_name(PGPing p)
{
    switch (p) {
    case PQPING_OK:
        return "ok";
    case PQPING_REJECT:
        return "rejecting";
    case PQPING_NO_RESPONSE:
        return "no_response";
    default:
        return "bad_parameters";
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
    snprintf(buf, len, "%s (host %s, port %s)",
             named ? rune_pg_plan_where(c, w, sizeof w) : "the server",
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
        PGconn *conn = rune_pg_connect_or_fail(c, NULL);
        if (!conn)
            return rune_pg_failed_status(c);
        server_facts(c, conn, o);
        PQfinish(conn);
    }
    return RUNE_STEP_OK;
}

static int ping_plan(struct rune_call *c)
{
    char w[256];
    rune_call_plan(c, "check that %s answers", rune_pg_plan_where(c, w, sizeof w));
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
                   rune_call_int(c, "timeout") / 1000, rune_pg_plan_where(c, w, sizeof w));
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
    case 20:
    case 21:
    case 23:
    case 26: /* int8, int2, int4, oid */
        return json_integer(strtoll(v, NULL, 10));
    case 700:
    case 701:
    case 1700: { /* float4, float8, numeric */
        char *end;
        double d = strtod(v, &end);
        return *end ? json_string(v) : json_real(d);
    }
    case 114:
    case 3802: { /* json, jsonb */
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
    PGconn *conn = rune_pg_connect_or_fail(c, NULL);
    if (!conn)
        return rune_pg_failed_status(c);
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

static int query_run(struct rune_call *c)
{
    return query_common(c, false);
}
static int exec_run(struct rune_call *c)
{
    return query_common(c, true);
}

static int query_plan(struct rune_call *c)
{
    char w[256];
    rune_call_plan(c, "run on %s: %s", rune_pg_plan_where(c, w, sizeof w), rune_call_str(c, "sql"));
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
    PGconn *conn = rune_pg_connect_or_fail(c, NULL);
    if (!conn)
        return rune_pg_failed_status(c);
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
        return rune_call_fail(c,
                              "the assertion must return one row with one column; it "
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
                   rune_pg_plan_where(c, w, sizeof w), rune_call_str(c, "sql"));
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

static json_t *sessions(struct rune_call *c, PGconn *conn, const char *db, char *err, size_t errlen)
{
    const char *p[1] = {db};
    PGresult *r = rune_pg_exec(c, conn, sessions_sql, 1, p, err, errlen);
    if (!r)
        return NULL;
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        char *q = rune_call_redact(c, PQgetvalue(r, i, 6));
        json_array_append_new(list,
                              json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "pid",
                                        (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "user",
                                        PQgetvalue(r, i, 1), "application", PQgetvalue(r, i, 2),
                                        "client", PQgetvalue(r, i, 3), "state", PQgetvalue(r, i, 4),
                                        "since", PQgetvalue(r, i, 5), "query", q));
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
    PGconn *conn = rune_pg_connect_or_fail(c, NULL);
    if (!conn)
        return rune_pg_failed_status(c);
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
                   rune_call_str(c, "of") ? rune_call_str(c, "of")
                                          : rune_pg_plan_where(c, w, sizeof w));
    return RUNE_STEP_OK;
}

static int terminate_run(struct rune_call *c)
{
    /* connect to the maintenance database: the one being emptied may be
     * about to be dropped, and we must not count as one of its sessions */
    const char *of = rune_call_str(c, "of");
    PGconn *conn = rune_pg_connect_or_fail(c, of ? rune_call_str(c, "via") : NULL);
    if (!conn)
        return rune_pg_failed_status(c);
    char err[1024];
    const char *db = target_db(c, conn);
    char *dbcopy = strdup(db);
    json_t *o = rune_call_outputs(c);
    json_t *before = sessions(c, conn, dbcopy, err, sizeof err);
    int st = RUNE_STEP_OK;
    if (!before) {
        st = rune_pg_failed_status(c) == RUNE_STEP_FAILED ? rune_call_fail(c, "%s", err)
                                                          : rune_pg_failed_status(c);
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
        st = rune_pg_failed_status(c) == RUNE_STEP_FAILED ? rune_call_fail(c, "%s", err)
                                                          : rune_pg_failed_status(c);
        goto out;
    }
    size_t left = json_array_size(after);
    json_object_set_new(o, "after", json_integer((json_int_t)left));
    if (left) {
        json_t *first = json_array_get(after, 0);
        st = rune_call_fail(c,
                            "%zu session%s still connected to %s after %.1fs (first: pid %lld, "
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
                   rune_call_str(c, "of") ? rune_call_str(c, "of")
                                          : rune_pg_plan_where(c, w, sizeof w));
    return RUNE_STEP_OK;
}

/* ---- the table ---- */

static const struct rune_param ping_params[] = {
    TARGET_PARAM,
    DATABASE_PARAM,
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
    TARGET_PARAM,
    DATABASE_PARAM,
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
    TARGET_PARAM,
    DATABASE_PARAM,
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
    TARGET_PARAM,
    DATABASE_PARAM,
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
    TARGET_PARAM,
    DATABASE_PARAM,
    {"of", RUNE_T_STRING, false, NULL,
     "the database whose sessions to list (default: connected one)"},
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
    TARGET_PARAM,
    DATABASE_PARAM,
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
    TARGET_PARAM,
    DATABASE_PARAM,
    RUNE_COUNTS_PARAMS,
    {0},
};

static const struct rune_param fingerprint_params[] = {
    TARGET_PARAM,
    DATABASE_PARAM,
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
    TARGET_PARAM,
    DATABASE_PARAM,
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
    {"pg.ping", "Is the server up and accepting connections (PQping), and its version", ping_params,
     ping_outputs, RUNE_READS, ping_run, ping_plan},
    {"pg.wait_ready", "Wait, with backoff, until the server accepts a login", wait_params,
     wait_outputs, RUNE_READS, wait_run, wait_plan},
    {"pg.query", "Run a query in a read-only transaction; rows as outputs (capped)", query_params,
     query_outputs, RUNE_READS, query_run, query_plan},
    {"pg.exec", "Run SQL that changes things (DDL, UPDATE ...); affected rows as outputs",
     query_params, query_outputs, RUNE_WRITES, exec_run, query_plan},
    {"pg.assert", "A query that must return true (or an expected value)", assert_params,
     assert_outputs, RUNE_READS, assert_run, assert_plan},
    {"pg.connections", "Sessions connected to a database, by state and application",
     connections_params, connections_outputs, RUNE_READS, connections_run, connections_plan},
    {"pg.terminate_connections", "Terminate every other session on a database; counts before/after",
     terminate_params, terminate_outputs, RUNE_WRITES, terminate_run, terminate_plan},
    {"pg.verify_counts", "Compare per-table row counts with expected ones or a backup's manifest",
     counts_params, rune_counts_outputs, RUNE_READS, rune_pg_counts_run, rune_pg_counts_plan},
    {"pg.fingerprint", "Per-table row count and order-independent content hash, in one snapshot",
     fingerprint_params, fingerprint_outputs, RUNE_READS, rune_pg_fingerprint_run,
     rune_pg_fingerprint_plan},
    {"pg.compare", "Diff the database against a fingerprint or a backup's manifest, naming tables",
     compare_params, compare_outputs, RUNE_READS, rune_pg_compare_run, rune_pg_compare_plan},
    {0},
};
