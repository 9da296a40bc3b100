/*
 * pgbouncer.c — the pgbouncer.* family and the `pgbouncer` target kind:
 * pgBouncer's admin console (the virtual database `pgbouncer`), to pause
 * and resume a pool around work that must not race the application (a
 * restore), to look at its pools, clients, servers and stats, and to make
 * it reconnect its server connections (after a failover).
 *
 * The console speaks only the simple query protocol and knows no SET, so
 * it is reached with rune_pg_open (no session setup) and plain statements
 * (rune_pg_exec without parameters). Its password is a secret: registered
 * before connecting and masked in every message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgconn.h"
#include "step.h"

#define DEFAULT_TIMEOUT_MS 10000

static const struct rune_param pgbouncer_fields[] = {
    {"host", RUNE_T_STRING, false, "127.0.0.1", "host name or socket directory of pgBouncer"},
    {"port", RUNE_T_STRING, false, "6432", "pgBouncer's listen_port"},
    {"user", RUNE_T_STRING, true, NULL, "a user listed in pgBouncer's admin_users"},
    {"password", RUNE_T_STRING, false, NULL,
     "its password, normally \"${secrets.NAME}\"; else PGPASSWORD or ~/.pgpass (never logged)"},
    {"connect_timeout", RUNE_T_DURATION, false, "10s", "give up connecting after this long"},
    {NULL},
};

const struct rune_target_kind rune_pgbouncer_target = {
    "pgbouncer",
    "pgBouncer's admin console (database pgbouncer), reached with libpq",
    pgbouncer_fields,
};

static const char *field(json_t *t, const char *name)
{
    const char *v = json_string_value(json_object_get(t, name));
    return v && *v ? v : NULL;
}

static const char *shown(const char *s)
{
    return s ? s : "?";
}

/* "pgBouncer console 127.0.0.1:6432 as admin", for messages. */
static const char *where(struct rune_call *c, char *buf, size_t len)
{
    json_t *t = rune_call_target(c, "target");
    snprintf(buf, len, "pgBouncer console %s:%s as %s (target %s)", shown(field(t, "host")),
             shown(field(t, "port")), shown(field(t, "user")), shown(field(t, "name")));
    return buf;
}

/* The target's console, or NULL after failing the call. */
static PGconn *console(struct rune_call *c)
{
    json_t *t = rune_call_target(c, "target");
    const char *password = field(t, "password");
    if (password)
        rune_call_secret(c, password);
    const char *env = getenv("PGPASSWORD");
    if (env && *env)
        rune_call_secret(c, env);
    json_t *ms = json_object_get(t, "connect_timeout");
    long long timeout = ms ? json_integer_value(ms) : DEFAULT_TIMEOUT_MS;
    char secs[32];
    snprintf(secs, sizeof secs, "%lld", timeout < 1000 ? 1 : (timeout + 999) / 1000);
    /* a NULL value leaves libpq its default (PGPASSWORD, ~/.pgpass) */
    const char *keys[] = {
        "host", "port", "user", "password", "dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {field(t, "host"), field(t, "port"),
                          field(t, "user"), password,
                          "pgbouncer",      secs,
                          "rune",           NULL};
    char err[1024], at[512];
    PGconn *conn = rune_pg_open(c, keys, vals, false, timeout, err, sizeof err);
    if (!conn && !rune_call_cancelled(c))
        rune_call_fail(c, "cannot reach the %s: %s", where(c, at, sizeof at), err);
    return conn;
}

static int failed(struct rune_call *c)
{
    return rune_call_cancelled(c) ? rune_pg_cancelled(c) : RUNE_STEP_FAILED;
}

/* A console command with an optional database name, quoted as the
 * console's parser wants it (a bare word, or "double quoted"). malloc'd;
 * NULL (call failed) for a name it cannot take. */
static char *command(struct rune_call *c, const char *verb, const char *db)
{
    if (!db || !*db)
        return rune_pg_sqlf("%s", verb);
    if (strchr(db, '"') || strchr(db, '\n') || strchr(db, ';')) {
        rune_call_fail(c,
                       "database %s: pgBouncer's console cannot take a name with '\"', ';' or a "
                       "line break; name the database as pgBouncer's [databases] section does",
                       db);
        return NULL;
    }
    return rune_pg_sqlf("%s \"%s\"", verb, db);
}

/* ---- the console's answers as JSON ---- */

/* A column's value typed by its type OID: integers and numbers as such,
 * the rest as text (pgBouncer sends timestamps and addresses as text). */
static json_t *value(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    const char *v = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
    case 26: /* oid */ {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (!errno && *v && !*end)
            return json_integer(n);
        break;
    }
    case 700: /* float4 */
    case 701: /* float8 */
    case 1700: /* numeric */ {
        char *end;
        double d = strtod(v, &end);
        if (*v && !*end)
            return json_real(d);
        break;
    }
    default:
        break;
    }
    return json_string(v);
}

/* Rows as maps; with db, only the rows of that database (its column
 * "database", or "name" in SHOW DATABASES). New reference. */
static json_t *rows(const PGresult *r, const char *db)
{
    int dbcol = PQfnumber(r, "database");
    if (dbcol < 0)
        dbcol = PQfnumber(r, "name");
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        if (db && *db && dbcol >= 0 && strcmp(PQgetvalue(r, i, dbcol), db))
            continue;
        json_t *o = json_object();
        for (int k = 0; k < PQnfields(r); k++)
            json_object_set_new(o, PQfname(r, k), value(r, i, k));
        json_array_append_new(a, o);
    }
    return a;
}

/* SHOW DATABASES' paused flag for db: 1, 0, or -1 (no such database, or
 * an error, in err). */
static int paused(struct rune_call *c, PGconn *conn, const char *db, char *err, size_t errlen)
{
    PGresult *r = rune_pg_exec(c, conn, "SHOW DATABASES", 0, NULL, err, errlen);
    if (!r)
        return -1;
    int name = PQfnumber(r, "name"), flag = PQfnumber(r, "paused"), st = -1;
    for (int i = 0; name >= 0 && flag >= 0 && i < PQntuples(r); i++)
        if (!strcmp(PQgetvalue(r, i, name), db))
            st = atoi(PQgetvalue(r, i, flag)) != 0;
    if (st < 0)
        snprintf(err, errlen, "pgBouncer has no database %s (SHOW DATABASES does not list it)", db);
    PQclear(r);
    return st;
}

/* ---- pgbouncer.pause ---- */

/* After a PAUSE that did not finish in time: RESUME on a second
 * connection (the first still waits for its answer, which pgBouncer gives
 * only once every server connection is released), so that the pool is
 * not left half paused, refusing new work, by a failed step. */
static void undo_pause(struct rune_call *c, const char *db)
{
    PGconn *conn = console(c);
    if (!conn)
        return;
    char *sql = command(c, "RESUME", db);
    char err[512];
    PGresult *r = sql ? rune_pg_exec(c, conn, sql, 0, NULL, err, sizeof err) : NULL;
    if (!r && sql)
        rune_call_log(c, "RESUME after the unfinished PAUSE failed too: %s", err);
    PQclear(r);
    free(sql);
    PQfinish(conn);
}

static int pause_run(struct rune_call *c)
{
    const char *db = rune_call_str(c, "database");
    long long wait_ms = rune_call_int(c, "wait");
    char at[512], err[1024];
    where(c, at, sizeof at);
    PGconn *conn = console(c);
    if (!conn)
        return failed(c);
    char *sql = command(c, "PAUSE", db);
    if (!sql) {
        PQfinish(conn);
        return RUNE_STEP_FAILED;
    }
    long long t0 = rune_clock_mono_ms();
    PGresult *r, *last = NULL;
    /* PAUSE answers once every server connection of the pool is released:
     * its running transactions end first. Waited for here, without the
     * query being cancelled (a cancel does not undo a pause). */
    int st = RUNE_STEP_OK;
    if (!PQsendQuery(conn, sql)) {
        st = rune_call_fail(c, "cannot send %s to the %s: %s", sql, at, PQerrorMessage(conn));
        goto out;
    }
    while (PQisBusy(conn)) {
        if (rune_call_cancelled(c) || rune_clock_mono_ms() - t0 > wait_ms) {
            bool cancelled = rune_call_cancelled(c);
            PQfinish(conn);
            conn = NULL;
            undo_pause(c, db);
            char d[32];
            rune_clock_ms_str(wait_ms, d, sizeof d);
            if (cancelled)
                st = rune_pg_cancelled(c);
            else
                st = rune_call_fail(
                    c,
                    "%s did not finish within %s: transactions of %s still ran through pgBouncer; "
                    "the pause was undone (RESUME). Find them with pgbouncer.show (what: "
                    "clients) or pg.connections, or give a longer wait",
                    sql, d, db ? db : "its pools");
            goto out;
        }
        rune_call_sleep(c, 20);
        if (!PQconsumeInput(conn))
            break;
    }
    while ((r = PQgetResult(conn))) {
        PQclear(last);
        last = r;
    }
    if (PQresultStatus(last) != PGRES_COMMAND_OK) {
        rune_pg_error(conn, last, err, sizeof err);
        PQclear(last);
        /* paused already (a rollback pausing again): what was asked for */
        if (!strstr(err, "already") || (db && paused(c, conn, db, err, sizeof err) != 1)) {
            st = rune_call_fail(c, "%s on the %s failed: %s", sql, at, err);
            goto out;
        }
        rune_call_log(c, "%s was paused already", db ? db : "pgBouncer");
        last = NULL;
    }
    PQclear(last);
    long long waited = rune_clock_mono_ms() - t0;
    if (db && paused(c, conn, db, err, sizeof err) != 1) {
        st = rune_call_fail(c, "%s returned, but SHOW DATABASES does not say %s is paused: %s", sql,
                            db, err);
        goto out;
    }
    rune_call_log(c, "%s paused on the %s after %lld ms", db ? db : "every pool", at, waited);
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "paused", json_true());
    json_object_set_new(o, "database", db ? json_string(db) : json_null());
    json_object_set_new(o, "waited_ms", json_integer(waited));
out:
    free(sql);
    if (conn)
        PQfinish(conn);
    return st;
}

static int pause_plan(struct rune_call *c)
{
    const char *db = rune_call_str(c, "database");
    char at[512], d[32];
    rune_clock_ms_str(rune_call_int(c, "wait"), d, sizeof d);
    rune_call_plan(c,
                   "would PAUSE %s%s on the %s: new transactions wait, running ones end first "
                   "(up to %s), then its server connections close",
                   db ? "database " : "every database", db ? db : "", where(c, at, sizeof at), d);
    return RUNE_STEP_OK;
}

/* ---- pgbouncer.resume / pgbouncer.reconnect ---- */

static int simple_command(struct rune_call *c, const char *verb, const char *done)
{
    const char *db = rune_call_str(c, "database");
    char at[512], err[1024];
    where(c, at, sizeof at);
    PGconn *conn = console(c);
    if (!conn)
        return failed(c);
    char *sql = command(c, verb, db);
    if (!sql) {
        PQfinish(conn);
        return RUNE_STEP_FAILED;
    }
    int st = RUNE_STEP_OK;
    bool did = true;
    PGresult *r = rune_pg_exec(c, conn, sql, 0, NULL, err, sizeof err);
    if (!r && !strcmp(verb, "RESUME") && strstr(err, "not paused")) {
        /* resuming what is not paused is what a rollback does after a
         * pause that never happened: done already */
        did = false;
        rune_call_log(c, "%s was not paused on the %s: nothing to resume", db ? db : "pgBouncer",
                      at);
    } else if (!r) {
        st = rune_call_cancelled(c) ? rune_pg_cancelled(c)
                                    : rune_call_fail(c, "%s on the %s failed: %s", sql, at, err);
    } else {
        rune_call_log(c, "%s %s on the %s", db ? db : "every pool", done, at);
    }
    PQclear(r);
    if (st == RUNE_STEP_OK) {
        json_t *o = rune_call_outputs(c);
        json_object_set_new(o, "database", db ? json_string(db) : json_null());
        json_object_set_new(o, "done", json_boolean(did));
    }
    free(sql);
    PQfinish(conn);
    return st;
}

static int resume_run(struct rune_call *c)
{
    return simple_command(c, "RESUME", "resumed");
}

static int reconnect_run(struct rune_call *c)
{
    return simple_command(c, "RECONNECT", "will reconnect its server connections");
}

static int resume_plan(struct rune_call *c)
{
    const char *db = rune_call_str(c, "database");
    char at[512];
    rune_call_plan(c, "would RESUME %s%s on the %s (nothing to do if it is not paused)",
                   db ? "database " : "every database", db ? db : "", where(c, at, sizeof at));
    return RUNE_STEP_OK;
}

static int reconnect_plan(struct rune_call *c)
{
    const char *db = rune_call_str(c, "database");
    char at[512];
    rune_call_plan(c,
                   "would RECONNECT %s%s on the %s: each server connection is closed once "
                   "released, and the next ones go to the (new) server",
                   db ? "database " : "every database", db ? db : "", where(c, at, sizeof at));
    return RUNE_STEP_OK;
}

/* ---- pgbouncer.show ---- */

static int show_run(struct rune_call *c)
{
    const char *what = rune_call_str(c, "what");
    const char *db = rune_call_str(c, "database");
    char at[512], err[1024], sql[64];
    where(c, at, sizeof at);
    PGconn *conn = console(c);
    if (!conn)
        return failed(c);
    snprintf(sql, sizeof sql, "SHOW %s", what);
    PGresult *r = rune_pg_exec(c, conn, sql, 0, NULL, err, sizeof err);
    int st = RUNE_STEP_OK;
    if (!r) {
        st = rune_call_cancelled(c) ? rune_pg_cancelled(c)
                                    : rune_call_fail(c, "%s on the %s failed: %s", sql, at, err);
    } else {
        json_t *a = rows(r, db);
        rune_call_log(c, "%s: %zu row(s)%s%s", sql, json_array_size(a), db ? " of " : "",
                      db ? db : "");
        json_t *o = rune_call_outputs(c);
        json_object_set_new(o, "count", json_integer((json_int_t)json_array_size(a)));
        json_object_set_new(o, "rows", a);
    }
    PQclear(r);
    PQfinish(conn);
    return st;
}

static int show_plan(struct rune_call *c)
{
    char at[512];
    rune_call_plan(c, "would read SHOW %s on the %s", rune_call_str(c, "what"),
                   where(c, at, sizeof at));
    return RUNE_STEP_OK;
}

/* ---- the family's table ---- */

#define TARGET_PARAM                                                                               \
    {                                                                                              \
        "target", RUNE_T_TARGET, true, NULL, "a pgbouncer target (its admin console)", "pgbouncer" \
    }

static const struct rune_param pause_params[] = {
    TARGET_PARAM,
    {"database", RUNE_T_STRING, false, NULL,
     "the database (as pgBouncer's [databases] names it) to pause; without it, every pool"},
    {"wait", RUNE_T_DURATION, false, "30s",
     "how long running transactions may take to finish; past it the pause is undone and the step "
     "fails"},
    {NULL},
};

static const struct rune_param db_params[] = {
    TARGET_PARAM,
    {"database", RUNE_T_STRING, false, NULL,
     "the database (as pgBouncer's [databases] names it); without it, every pool"},
    {NULL},
};

static const struct rune_param show_params[] = {
    TARGET_PARAM,
    {"what", RUNE_T_STRING, false, "pools", "what to show", NULL, NULL,
     "pools|clients|servers|stats|databases|lists|config|mem|dns_hosts|users"},
    {"database", RUNE_T_STRING, false, NULL, "only the rows of this database"},
    {NULL},
};

static const struct rune_output pause_outputs[] = {
    {"paused", RUNE_T_BOOL, "true once paused"},
    {"database", RUNE_T_STRING, "the database paused (null: every pool)"},
    {"waited_ms", RUNE_T_INT, "how long running transactions took to finish"},
    {NULL},
};

static const struct rune_output done_outputs[] = {
    {"database", RUNE_T_STRING, "the database (null: every pool)"},
    {"done", RUNE_T_BOOL, "false when there was nothing to do (resume: it was not paused)"},
    {NULL},
};

static const struct rune_output show_outputs[] = {
    {"rows", RUNE_T_LIST, "one map per row, column name to value (counts as integers)"},
    {"count", RUNE_T_INT, "number of rows"},
    {NULL},
};

const struct rune_step_type rune_pgbouncer_steps[] = {
    {"pgbouncer.pause",
     "Pause a pgBouncer pool (or all): new transactions wait; returns once running ones ended",
     pause_params, pause_outputs, RUNE_WRITES, pause_run, pause_plan},
    {"pgbouncer.resume", "Resume a paused pgBouncer pool (or all); nothing to do if not paused",
     db_params, done_outputs, RUNE_WRITES, resume_run, resume_plan},
    {"pgbouncer.show", "pgBouncer's pools, clients, servers or stats as a list of maps",
     show_params, show_outputs, RUNE_READS, show_run, show_plan},
    {"pgbouncer.reconnect",
     "Make pgBouncer replace its server connections as they are released (after a failover)",
     db_params, done_outputs, RUNE_WRITES, reconnect_run, reconnect_plan},
    {0},
};
