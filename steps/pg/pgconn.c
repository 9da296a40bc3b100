/*
 * pgconn.c — connecting to PostgreSQL for a step, and running SQL under
 * the step's deadline. See pgconn.h.
 */
#include "pgconn.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgsession.h"

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct rune_param postgres_fields[] = {
    {"conninfo", RUNE_T_STRING, false, NULL,
     "libpq connection string or URI (\"host=db1 dbname=app\", \"postgresql://...\"); "
     "PGHOST, PGPORT, PGUSER, PGDATABASE fill what it leaves out"},
    {"database", RUNE_T_STRING, false, NULL, "database name (overrides the conninfo's)"},
    {"host", RUNE_T_STRING, false, NULL, "host name or socket directory"},
    {"port", RUNE_T_STRING, false, NULL, "port"},
    {"user", RUNE_T_STRING, false, NULL, "role to connect as"},
    {"password", RUNE_T_STRING, false, NULL,
     "password, normally \"${secrets.NAME}\"; else PGPASSWORD or ~/.pgpass (never logged)"},
    {"connect_timeout", RUNE_T_DURATION, false, "10s", "give up connecting after this long"},
    {NULL},
};

const struct rune_target_kind rune_postgres_target = {
    "postgres",
    "A PostgreSQL database reached with libpq",
    postgres_fields,
};

static const char *field(json_t *t, const char *name)
{
    const char *v = json_string_value(json_object_get(t, name));
    return v && *v ? v : NULL;
}

/* A password inside a conninfo or URI is a secret too: as libpq reads it
 * and, since libpq cannot read a malformed one (and then quotes it in its
 * error), as the engine finds it in the text. */
static void hide_conninfo_password(struct rune_call *c, const char *conninfo)
{
    if (!conninfo)
        return;
    rune_call_secret_dsn(c, conninfo);
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, "password") && o->val && *o->val)
            rune_call_secret(c, o->val);
    PQconninfoFree(opts);
}

int rune_pg_cancelled(struct rune_call *c)
{
    int st = rune_call_cancel_status(c);
    return st == RUNE_STEP_OK ? RUNE_STEP_CANCELLED : st;
}

/* Waits until fd is ready for `events`, at most 100 ms at a time so
 * cancellation is seen promptly. 1 ready, 0 not yet, -1 cancelled. */
static int wait_fd(struct rune_call *c, int fd, short events)
{
    if (rune_call_cancelled(c))
        return -1;
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, 100);
    return n > 0 ? 1 : 0;
}

/* libpq messages end in a newline and may span lines: one line for ours. */
static void tidy(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
    for (char *p = s; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

/* "cannot connect to PostgreSQL: " and libpq's message, which may quote
 * all or part of the connection string: its password and userinfo masked
 * however short, and masked before the message is cut to errlen (a cut
 * first could leave a piece of the password that no longer matches). */
static void connect_error(struct rune_call *c, PGconn *conn, char *err, size_t errlen)
{
    const char *pq = PQerrorMessage(conn);
    size_t n = strlen(pq) + 64;
    char *whole = malloc(n);
    if (!whole) {
        snprintf(err, errlen, "cannot connect to PostgreSQL (out of memory for its message)");
        return;
    }
    snprintf(whole, n, "cannot connect to PostgreSQL: %s", pq);
    tidy(whole);
    char *m = rune_call_redact_dsn(c, whole);
    snprintf(err, errlen, "%s", m);
    free(m);
    free(whole);
}

/* libpq keywords for the call's target; later keywords win: the conninfo
 * overrides our defaults, the named fields override the conninfo, the
 * call's dbname overrides them all. timeout_ms < 0: the target's. */
struct keywords {
    const char *keys[16], *vals[16];
    char timeout[32];
    long long timeout_ms;
    bool expand;
};

static void keywords(struct rune_call *c, const char *dbname, long long timeout_ms,
                     struct keywords *k)
{
    json_t *t = rune_call_target(c, "target");
    const char *conninfo = field(t, "conninfo");
    const char *password = field(t, "password");
    hide_conninfo_password(c, conninfo);
    if (password)
        rune_call_secret(c, password);
    const char *env = getenv("PGPASSWORD");
    if (env && *env)
        rune_call_secret(c, env);
    long long ms = timeout_ms >= 0 ? timeout_ms
                   : t && json_object_get(t, "connect_timeout")
                       ? json_integer_value(json_object_get(t, "connect_timeout"))
                       : 10000;
    k->timeout_ms = ms;
    snprintf(k->timeout, sizeof k->timeout, "%lld", ms < 1000 ? 1 : (ms + 999) / 1000);
    k->expand = conninfo != NULL;
    int n = 0;
    const char *pairs[][2] = {
        {"connect_timeout", k->timeout},
        {"application_name", "rune"},
        {"dbname", conninfo},
        {"host", field(t, "host")},
        {"port", field(t, "port")},
        {"user", field(t, "user")},
        {"password", password},
        {"dbname", field(t, "database")},
        {"dbname", dbname},
        /* a connection parameter, not a SET: poolers give it to every
         * server connection they hand this client */
        {"client_encoding", "UTF8"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i][1]) {
            k->keys[n] = pairs[i][0];
            k->vals[n] = pairs[i][1];
            n++;
        }
    k->keys[n] = NULL;
    k->vals[n] = NULL;
}

PGPing rune_pg_ping(struct rune_call *c, const char *dbname, long long timeout_ms)
{
    struct keywords k;
    keywords(c, dbname, timeout_ms, &k);
    return PQpingParams(k.keys, k.vals, k.expand);
}

/* The server's own backend pid differs from the one the connection was
 * given at login when something in between (pgBouncer, another pooler)
 * answered the login: the pooler makes up its own cancel key. */
static int pooler_between(PGconn *conn, bool *pooled, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, "SELECT pg_backend_pid()");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        snprintf(err, errlen, "cannot set up the session (SELECT pg_backend_pid()): %s",
                 PQerrorMessage(conn));
        tidy(err);
        PQclear(r);
        return -1;
    }
    *pooled = atoi(PQgetvalue(r, 0, 0)) != PQbackendPID(conn);
    PQclear(r);
    return 0;
}

/* Deterministic text output (dumps and content hashes depend on it): the
 * session's settings, or, through a pooler, rune's side of the session
 * (pgsession.h) so that they hold in every transaction and never stay
 * behind on the pool's server connections. */
static int session_setup(PGconn *conn, char *err, size_t errlen)
{
    bool pooled = false;
    if (pooler_between(conn, &pooled, err, errlen) != 0)
        return -1;
    if (pooled) {
        if (rune_pg_session_pool(conn) == 0)
            return 0;
        snprintf(err, errlen,
                 "no memory for the session of a pooled connection: free memory on "
                 "this host and run the step again");
        return -1;
    }
    PGresult *r = PQexec(conn, rune_pg_session_settings);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "cannot set up the session: %s", PQerrorMessage(conn));
        tidy(err);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

bool rune_pg_pooled(const PGconn *conn)
{
    return rune_pg_session_pooled(conn);
}

PGconn *rune_pg_open(struct rune_call *c, const char *const *keys, const char *const *vals,
                     bool expand, long long timeout_ms, char *err, size_t errlen)
{
    long long ms = timeout_ms;
    PGconn *conn = PQconnectStartParams(keys, vals, expand);
    if (!conn) {
        snprintf(err, errlen,
                 "no memory to start a connection to PostgreSQL; free memory on "
                 "this host and run the step again");
        return NULL;
    }
    long long deadline = mono_ms() + ms;
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    while (PQstatus(conn) != CONNECTION_BAD && ps != PGRES_POLLING_OK &&
           ps != PGRES_POLLING_FAILED) {
        int w = wait_fd(c, PQsocket(conn), ps == PGRES_POLLING_READING ? POLLIN : POLLOUT);
        if (w < 0) {
            snprintf(err, errlen, "cancelled while connecting to PostgreSQL");
            PQfinish(conn);
            return NULL;
        }
        if (mono_ms() > deadline) {
            snprintf(err, errlen, "PostgreSQL did not answer within %llds (connect_timeout)",
                     (ms + 999) / 1000);
            PQfinish(conn);
            return NULL;
        }
        if (w > 0)
            ps = PQconnectPoll(conn);
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        connect_error(c, conn, err, errlen);
        /* pgBouncer says "SASL authentication failed" for a wrong scram password */
        if (strstr(err, "password authentication failed") || strstr(err, "no password supplied") ||
            strstr(err, "SASL authentication failed"))
            snprintf(err + strlen(err), errlen - strlen(err),
                     "; give the target a password from a secret (password: "
                     "\"${secrets.NAME}\"), PGPASSWORD or ~/.pgpass");
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

PGconn *rune_pg_connect(struct rune_call *c, const char *dbname, char *err, size_t errlen)
{
    struct keywords k;
    keywords(c, dbname, -1, &k);
    PGconn *conn = rune_pg_open(c, k.keys, k.vals, k.expand, k.timeout_ms, err, errlen);
    if (conn && session_setup(conn, err, errlen) != 0) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

PGconn *rune_pg_connect_replication(struct rune_call *c, char *err, size_t errlen)
{
    struct keywords k;
    keywords(c, NULL, -1, &k);
    size_t n = 0;
    while (k.keys[n])
        n++;
    k.keys[n] = "replication"; /* a physical walsender: BASE_BACKUP, IDENTIFY_SYSTEM */
    k.vals[n] = "true";
    k.keys[n + 1] = k.vals[n + 1] = NULL;
    return rune_pg_open(c, k.keys, k.vals, k.expand, k.timeout_ms, err, errlen);
}

const char *rune_pg_where(PGconn *conn, char *buf, size_t len)
{
    const char *host = PQhost(conn);
    snprintf(buf, len, "database %s on %s:%s as %s", PQdb(conn), host && *host ? host : "local",
             PQport(conn), PQuser(conn));
    return buf;
}

void rune_pg_error(PGconn *conn, const PGresult *r, char *err, size_t errlen)
{
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!primary) {
        const char *msg = r ? PQresultErrorMessage(r) : NULL;
        snprintf(err, errlen, "%s", msg && *msg ? msg : PQerrorMessage(conn));
        tidy(err);
        return;
    }
    /* the server's message, its detail and hint; not the LINE/caret block
     * psql draws, which is unreadable on one line */
    const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
    const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
    snprintf(err, errlen, "%s%s%s%s%s", primary, detail ? " — " : "", detail ? detail : "",
             hint ? "; hint: " : "", hint ? hint : "");
    tidy(err);
}

void rune_pg_cancel(PGconn *conn)
{
    PGcancel *k = PQgetCancel(conn);
    char buf[256];
    if (k) {
        PQcancel(k, buf, sizeof buf);
        PQfreeCancel(k);
    }
}

PGresult *rune_pg_exec(struct rune_call *c, PGconn *conn, const char *sql, int nparams,
                       const char *const *params, char *err, size_t errlen)
{
    if (rune_pg_session_pooled(conn))
        return rune_pg_session_exec(c, conn, sql, nparams, params, err, errlen);
    return rune_pg_exec_raw(c, conn, sql, nparams, params, err, errlen);
}

PGresult *rune_pg_exec_raw(struct rune_call *c, PGconn *conn, const char *sql, int nparams,
                           const char *const *params, char *err, size_t errlen)
{
    /* without parameters, the simple protocol: a script of several
     * statements runs as one (the server stops at the first error) */
    int sent = nparams ? PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)
                       : PQsendQuery(conn, sql);
    if (!sent) {
        snprintf(err, errlen, "%s", PQerrorMessage(conn));
        tidy(err);
        return NULL;
    }
    bool cancelled = false;
    while (PQisBusy(conn)) {
        int w = wait_fd(c, PQsocket(conn), POLLIN);
        if (w < 0 && !cancelled) {
            /* ask the server to stop, then drain what it sends back */
            rune_pg_cancel(conn);
            cancelled = true;
        }
        if (w != 0 && !PQconsumeInput(conn))
            break;
    }
    PGresult *last = NULL, *r;
    while ((r = PQgetResult(conn))) {
        PQclear(last);
        last = r;
    }
    if (cancelled) {
        PQclear(last);
        snprintf(err, errlen, "the query was cancelled (%s)",
                 rune_call_cancel_status(c) == RUNE_STEP_TIMEOUT ? "the step's timeout passed"
                                                                 : "the run is stopping");
        return NULL;
    }
    ExecStatusType st = last ? PQresultStatus(last) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rune_pg_error(conn, last, err, errlen);
        PQclear(last);
        return NULL;
    }
    return last;
}

int rune_pg_run(struct rune_call *c, PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = rune_pg_exec(c, conn, sql, 0, NULL, err, errlen);
    PQclear(r);
    return r ? 0 : -1;
}

int rune_pg_run_all(struct rune_call *c, PGconn *conn, const char *const *sql, char *err,
                    size_t errlen)
{
    for (; *sql; sql++)
        if (rune_pg_run(c, conn, *sql, err, errlen) != 0)
            return -1;
    return 0;
}

char *rune_pg_value(struct rune_call *c, PGconn *conn, const char *sql, int nparams,
                    const char *const *params, bool *isnull, char *err, size_t errlen)
{
    if (isnull)
        *isnull = false;
    PGresult *r = rune_pg_exec(c, conn, sql, nparams, params, err, errlen);
    if (!r)
        return NULL;
    char *v = NULL;
    if (PQntuples(r) < 1 || PQnfields(r) < 1 || PQgetisnull(r, 0, 0)) {
        if (isnull)
            *isnull = true;
        if (PQntuples(r) < 1)
            snprintf(err, errlen, "the query returned no rows");
    } else {
        v = strdup(PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return v;
}

char *rune_pg_qualified(PGconn *conn, const char *name)
{
    const char *dot = strchr(name, '.');
    char *schema = NULL, *table;
    if (dot) {
        schema = PQescapeIdentifier(conn, name, (size_t)(dot - name));
        table = PQescapeIdentifier(conn, dot + 1, strlen(dot + 1));
    } else {
        table = PQescapeIdentifier(conn, name, strlen(name));
    }
    if (!table || (dot && !schema)) {
        PQfreemem(schema);
        PQfreemem(table);
        return NULL;
    }
    size_t n = strlen(table) + (schema ? strlen(schema) + 1 : 0) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s%s", schema ? schema : "", schema ? "." : "", table);
    PQfreemem(schema);
    PQfreemem(table);
    return out;
}

/* Names are matched against the catalog, not parsed: "a.b" may be table
 * "a.b" in public or table b in schema a, and a name may hold any
 * character. A name already written in SQL quoting ("public"."Order") is
 * left to the server's parser. */
char *rune_pg_resolve_table(struct rune_call *c, PGconn *conn, const char *name, char *err,
                            size_t errlen)
{
    const char *p[1] = {name};
    PGresult *r = rune_pg_exec(
        c, conn,
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE (n.nspname = 'public' AND c.relname = $1) OR n.nspname || '.' || c.relname = $1 "
        "OR (strpos($1, '\"') > 0 AND c.oid = to_regclass($1)) "
        "ORDER BY n.nspname = 'public' DESC",
        1, p, err, errlen);
    if (!r)
        return NULL;
    char *q = NULL;
    if (PQntuples(r) == 0)
        snprintf(err, errlen,
                 "no such table in database %s (name a table of public as it is, "
                 "e.g. Order, and others as schema.table, e.g. sales.Order, "
                 "unquoted)",
                 PQdb(conn));
    else if (PQntuples(r) > 1)
        snprintf(err, errlen,
                 "table name %s is ambiguous in database %s: it names both %s and "
                 "%s; write it in SQL quoting (e.g. \"schema\".\"table\")",
                 name, PQdb(conn), PQgetvalue(r, 0, 0), PQgetvalue(r, 1, 0));
    else if (!(q = strdup(PQgetvalue(r, 0, 0))))
        snprintf(err, errlen, "no memory for the quoted name of table %s", name);
    PQclear(r);
    return q;
}

json_t *rune_pg_tables(struct rune_call *c, PGconn *conn, char *err, size_t errlen)
{
    PGresult *r =
        rune_pg_exec(c, conn,
                     "SELECT name FROM (SELECT CASE WHEN n.nspname = 'public' THEN '' "
                     "ELSE n.nspname || '.' END || c.relname AS name "
                     "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
                     "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                     "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%') t "
                     "ORDER BY name COLLATE \"C\"",
                     0, NULL, err, errlen);
    if (!r)
        return NULL;
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(a, json_string(PQgetvalue(r, i, 0)));
    PQclear(r);
    return a;
}

char *rune_pg_sqlf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}
