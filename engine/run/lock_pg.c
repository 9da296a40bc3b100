/*
 * lock_pg.c — a runbook's lock in the database of a log shared on
 * PostgreSQL, so that runs on different hosts exclude each other.
 *
 * The lock is a session advisory lock, pg_try_advisory_lock(key) with
 * key = rune_lock_key(name), taken on a connection of its own (named
 * "rune-lock NAME" in pg_stat_activity) held for the whole run. The
 * server releases it when that session ends, however it ends: rune
 * exits, is killed, or its connection is cut. So a lost connection is a
 * lost lock, and nothing here ever reconnects: a run that reconnected
 * would act alongside the run that took the lock meanwhile.
 *
 * Who holds a lock is a row of rune_locks in the same database (made
 * here, on first use, under a transaction advisory lock so two runs do
 * not both create it). Taking the lock bumps the row's fencing token and
 * keeps it. Before each writing step rune_lock_pg_check asks, on the lock's
 * own connection, that the connection is alive, that this session still
 * holds the advisory lock (pg_locks) and that the token is still ours:
 * a run that lost its lock stops instead of acting on a stale one.
 *
 * The URL's password never leaves this file: messages name the log with
 * it masked, and server messages pass through a redactor that knows it.
 */
#include "lock_pg.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "dsn.h"
#include "journal.h"

/* pg_advisory_xact_lock(class, 1) while rune_locks is created: the two-int
 * key space (objsubid 2), apart from the run locks' bigint keys. */
#define TABLE_LOCK_CLASS 1920298599

/* The same table as in the log's schema (schemas/incident-log-pg.sql),
 * column for column, so whichever makes it first, the other finds what
 * it expects. A row whose backend_pid is NULL was released. */
static const char create_sql[] = "CREATE TABLE IF NOT EXISTS rune_locks ("
                                 " key bigint PRIMARY KEY," /* rune_lock_key(the whole name) */
                                 " name text NOT NULL,"     /* as shown: secrets masked */
                                 " token bigint NOT NULL,"  /* fencing: one more at every take */
                                 " host text,"
                                 " operator text,"
                                 " incident text,"
                                 " pid bigint,"          /* the rune holding it, on host */
                                 " backend_pid integer," /* its lock connection's server process */
                                 " taken_at text)";      /* ISO-8601 UTC */

/* Whether the holder's session still holds the advisory lock of l.key. */
#define HELD_SQL                                                                                   \
    "EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted"                 \
    " AND k.objsubid = 1 AND k.pid = l.backend_pid"                                                \
    " AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())"           \
    " AND k.classid = ((l.key >> 32) & 4294967295)::oid"                                           \
    " AND k.objid = (l.key & 4294967295)::oid)"

static const char holders_sql[] =
    "SELECT l.name, l.key, coalesce(l.host, '-'), coalesce(l.operator, '-'), coalesce(l.pid, 0),"
    " coalesce(l.incident, '-'), coalesce(l.taken_at, '-'), l.token, " HELD_SQL
    " FROM rune_locks l WHERE l.backend_pid IS NOT NULL"
    " AND ($1::bigint IS NULL OR l.key = $1::bigint)"
    " ORDER BY l.name, l.key";

struct rune_lock_pg {
    PGconn *conn;
    pthread_mutex_t mu; /* one check at a time on the connection */
    int64_t key;
    long long token;
    char *shown;              /* the lock's name, masked */
    char *log;                /* the log's URL, password masked */
    struct rune_redactor red; /* the URL's password */
    bool lost;
    char why[1024];
};

static void add_password(void *ud, const char *value)
{
    rune_redactor_add(ud, value);
}

/* The first line of a server or libpq message, password masked. */
static void first_line(struct rune_redactor *red, const char *m, char *out, size_t len)
{
    char *clean = rune_redact(red, m ? m : "");
    char *scrub = rune_dsn_scrub(clean ? clean : "");
    const char *s = scrub ? scrub : "";
    if (!strncmp(s, "FATAL:  ", 8) || !strncmp(s, "ERROR:  ", 8))
        s += 8;
    snprintf(out, len, "%.*s", (int)strcspn(s, "\n"), s);
    free(scrub);
    free(clean);
}

/* A connection to the log's database. app: its application_name, which
 * wins over the URL's so an operator can tell the lock's connection. */
static PGconn *connect_log(const char *url, const char *app, struct rune_redactor *red,
                           const char *shown, char *msg, size_t len)
{
    /* keepalives and tcp_user_timeout: a cut network is found within a
     * minute, not after the kernel's two hours; the URL may say otherwise */
    const char *keys[] = {
        "connect_timeout",  "keepalives_idle", "keepalives_interval", "keepalives_count",
        "tcp_user_timeout", "dbname",          "application_name",    NULL};
    const char *vals[] = {"10", "10", "5", "3", "30000", url, app, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c && PQstatus(c) == CONNECTION_OK) {
        PQclear(PQexec(c, "SET client_min_messages = warning"));
        return c;
    }
    char why[512];
    first_line(red, c ? PQerrorMessage(c) : "no memory", why, sizeof why);
    snprintf(msg, len, "cannot reach the shared incident log %s to take a lock: %s", shown, why);
    PQfinish(c);
    return NULL;
}

static PGresult *exec(PGconn *c, const char *sql, int n, const char *const *params)
{
    return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
}

static bool ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return res && (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK);
}

/* rune_locks, made once per database. 0, or -1 (msg says). */
static int ensure_table(PGconn *c, struct rune_redactor *red, const char *shown, char *msg,
                        size_t len)
{
    PGresult *res = PQexec(c, "SELECT to_regclass('rune_locks') IS NOT NULL");
    bool have = ok(res) && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (have)
        return 0;
    char lock[96];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%d, 1)", TABLE_LOCK_CLASS);
    const char *steps[] = {"BEGIN", lock, create_sql, "COMMIT"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        res = PQexec(c, steps[i]);
        if (!ok(res)) {
            char why[512];
            first_line(red, PQerrorMessage(c), why, sizeof why);
            snprintf(msg, len,
                     "cannot create the table of lock holders (rune_locks) in the shared "
                     "incident log %s: %s; grant the log's role CREATE in its schema "
                     "(docs/teams.md)",
                     shown, why);
            PQclear(res);
            PQclear(PQexec(c, "ROLLBACK"));
            return -1;
        }
        PQclear(res);
    }
    return 0;
}

/* "host H, operator O, incident I, pid P, since T" of the row in res. */
static void describe(const PGresult *res, int row, char *out, size_t len)
{
    snprintf(out, len, "host %s, operator %s, incident %s, pid %s, since %s",
             PQgetvalue(res, row, 2), PQgetvalue(res, row, 3), PQgetvalue(res, row, 5),
             PQgetvalue(res, row, 4), PQgetvalue(res, row, 6));
}

/* The lock is held by another session: say by whom. */
static void held_by(PGconn *c, const struct rune_lock_pg_who *who, const char *skey, char *msg,
                    size_t len)
{
    const char *params[] = {skey};
    PGresult *res = exec(c, holders_sql, 1, params);
    char holder[768] = "holder not recorded";
    if (ok(res) && PQntuples(res) == 1)
        describe(res, 0, holder, sizeof holder);
    PQclear(res);
    snprintf(msg, len,
             "lock \"%s\" is held by another run (%s); wait for it to finish, or see `rune log "
             "locks`",
             who->shown, holder);
}

/* Records us as the holder, the token one past the last holder's. */
static int record_holder(struct rune_lock_pg *l, const struct rune_lock_pg_who *who,
                         const char *skey, char *msg, size_t len)
{
    static const char sql[] =
        "INSERT INTO rune_locks AS l (key, name, token, host, operator, incident, pid,"
        " backend_pid, taken_at) VALUES ($1, $2, 1, $3, $4, $5, $6, pg_backend_pid(), $7)"
        " ON CONFLICT (key) DO UPDATE SET token = l.token + 1, name = EXCLUDED.name,"
        " host = EXCLUDED.host, operator = EXCLUDED.operator, incident = EXCLUDED.incident,"
        " pid = EXCLUDED.pid, backend_pid = EXCLUDED.backend_pid, taken_at = EXCLUDED.taken_at"
        " RETURNING token";
    char spid[32], at[RUNE_ISO_LEN];
    snprintf(spid, sizeof spid, "%d", (int)getpid());
    rune_clock_iso(at, rune_clock_wall_ms());
    const char *params[] = {skey,
                            who->shown,
                            who->host ? who->host : "unknown",
                            who->operator_name ? who->operator_name : "unknown",
                            who->incident,
                            spid,
                            at};
    PGresult *res = exec(l->conn, sql, 7, params);
    if (!ok(res) || PQntuples(res) != 1) {
        char why[512];
        first_line(&l->red, PQerrorMessage(l->conn), why, sizeof why);
        snprintf(msg, len, "cannot record the holder of lock \"%s\" in %s: %s", who->shown, l->log,
                 why);
        PQclear(res);
        return -1;
    }
    l->token = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

static void free_lock(struct rune_lock_pg *l)
{
    if (!l)
        return;
    if (l->conn)
        PQfinish(l->conn);
    rune_redactor_free(&l->red);
    pthread_mutex_destroy(&l->mu);
    free(l->shown);
    free(l->log);
    free(l);
}

int rune_lock_pg_take(const char *url, const struct rune_lock_pg_who *who,
                      struct rune_lock_pg **out, char *msg, size_t len)
{
    *out = NULL;
    struct rune_lock_pg *l = calloc(1, sizeof *l);
    if (!l || !(l->shown = strdup(who->shown)) || !(l->log = rune_journal_shown(url))) {
        free(l ? l->shown : NULL);
        free(l);
        snprintf(msg, len, "no memory to take lock \"%s\"", who->shown);
        return -1;
    }
    pthread_mutex_init(&l->mu, NULL);
    rune_redactor_init(&l->red);
    rune_dsn_passwords(url, add_password, &l->red);
    l->key = who->key;
    char app[64];
    snprintf(app, sizeof app, "rune-lock %s", who->shown);
    l->conn = connect_log(url, app, &l->red, l->log, msg, len);
    if (!l->conn) {
        free_lock(l);
        return RUNE_LOCK_PG_UNREACHABLE;
    }
    if (ensure_table(l->conn, &l->red, l->log, msg, len) != 0) {
        free_lock(l);
        return -1;
    }
    char skey[32];
    snprintf(skey, sizeof skey, "%" PRId64, l->key);
    const char *params[] = {skey};
    PGresult *res = exec(l->conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, params);
    if (!ok(res) || PQntuples(res) != 1) {
        char why[512];
        first_line(&l->red, PQerrorMessage(l->conn), why, sizeof why);
        snprintf(msg, len, "cannot take lock \"%s\" in %s: %s", who->shown, l->log, why);
        PQclear(res);
        free_lock(l);
        return -1;
    }
    bool got = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!got) {
        held_by(l->conn, who, skey, msg, len);
        free_lock(l);
        return 1;
    }
    if (record_holder(l, who, skey, msg, len) != 0) {
        free_lock(l); /* the session ends: the advisory lock goes with it */
        return -1;
    }
    *out = l;
    return 0;
}

void rune_lock_pg_holder(struct rune_lock_pg *l, const char *incident)
{
    char skey[32], tok[32];
    snprintf(skey, sizeof skey, "%" PRId64, l->key);
    snprintf(tok, sizeof tok, "%lld", l->token);
    const char *params[] = {skey, incident, tok};
    pthread_mutex_lock(&l->mu);
    /* the holder row is for people; the advisory lock is what counts */
    if (!l->lost)
        PQclear(exec(l->conn, "UPDATE rune_locks SET incident = $2 WHERE key = $1 AND token = $3",
                     3, params));
    pthread_mutex_unlock(&l->mu);
}

/* Why the lock is lost, or "" while it is ours (mu held). */
static void ask(struct rune_lock_pg *l, char *why, size_t len)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND objsubid = 1 AND pid = pg_backend_pid()"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND classid = $1::oid AND objid = $2::oid),"
        " (SELECT token FROM rune_locks WHERE key = $3::bigint)";
    uint32_t classid, objid;
    rune_lock_key_parts(l->key, &classid, &objid);
    char scls[16], sobj[16], skey[32];
    snprintf(scls, sizeof scls, "%" PRIu32, classid);
    snprintf(sobj, sizeof sobj, "%" PRIu32, objid);
    snprintf(skey, sizeof skey, "%" PRId64, l->key);
    const char *params[] = {scls, sobj, skey};
    why[0] = '\0';
    PGresult *res = PQstatus(l->conn) == CONNECTION_OK ? exec(l->conn, sql, 3, params) : NULL;
    if (!ok(res) || PQntuples(res) != 1 || PQstatus(l->conn) != CONNECTION_OK) {
        char m[512];
        first_line(&l->red, PQerrorMessage(l->conn), m, sizeof m);
        snprintf(why, len, "its connection to the log database %s was closed (%s)", l->log,
                 m[0] ? m : "no answer");
    } else if (atoll(PQgetvalue(res, 0, 0)) == 0) {
        snprintf(why, len, "its session in the log database %s no longer holds the advisory lock",
                 l->log);
    } else if (PQgetisnull(res, 0, 1) || strtoll(PQgetvalue(res, 0, 1), NULL, 10) != l->token) {
        snprintf(why, len, "its fencing token in %s is now %s, not ours (%lld)", l->log,
                 PQgetisnull(res, 0, 1) ? "gone" : PQgetvalue(res, 0, 1), l->token);
    }
    PQclear(res);
}

int rune_lock_pg_check(struct rune_lock_pg *l, char *msg, size_t len)
{
    pthread_mutex_lock(&l->mu);
    if (!l->lost) {
        char why[768];
        ask(l, why, sizeof why);
        if (why[0]) {
            l->lost = true;
            snprintf(l->why, sizeof l->why,
                     "lost the lock \"%s\": %s; another run may hold it now; nothing further was "
                     "done",
                     l->shown, why);
        }
    }
    bool lost = l->lost;
    if (lost)
        snprintf(msg, len, "%s", l->why);
    pthread_mutex_unlock(&l->mu);
    return lost ? -1 : 0;
}

bool rune_lock_pg_lost(struct rune_lock_pg *l, char *msg, size_t len)
{
    pthread_mutex_lock(&l->mu);
    bool lost = l->lost;
    if (lost && msg)
        snprintf(msg, len, "%s", l->why);
    pthread_mutex_unlock(&l->mu);
    return lost;
}

void rune_lock_pg_release(struct rune_lock_pg *l)
{
    if (!l)
        return;
    if (!l->lost && PQstatus(l->conn) == CONNECTION_OK) {
        char skey[32], tok[32];
        snprintf(skey, sizeof skey, "%" PRId64, l->key);
        snprintf(tok, sizeof tok, "%lld", l->token);
        const char *params[] = {skey, tok};
        /* marked released (no backend) before the session ends, which
         * frees the lock: a row left unmarked by a killed rune is stale */
        PQclear(exec(l->conn,
                     "UPDATE rune_locks SET backend_pid = NULL WHERE key = $1 AND token = $2", 2,
                     params));
    }
    free_lock(l);
}

json_t *rune_lock_holders(const char *log, char *err, size_t len)
{
    struct rune_redactor red;
    rune_redactor_init(&red);
    rune_dsn_passwords(log, add_password, &red);
    char *shown = rune_journal_shown(log);
    json_t *out = NULL;
    PGconn *c = connect_log(log, "rune", &red, shown ? shown : "", err, len);
    if (!c)
        goto done;
    PGresult *res = PQexec(c, "SELECT to_regclass('rune_locks') IS NOT NULL");
    bool have = ok(res) && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!have) {
        out = json_array(); /* no run has taken a lock in this log yet */
        goto done;
    }
    const char *params[] = {NULL};
    res = exec(c, holders_sql, 1, params);
    if (!ok(res)) {
        char why[512];
        first_line(&red, PQerrorMessage(c), why, sizeof why);
        snprintf(err, len, "cannot read the lock holders in %s: %s", shown ? shown : "", why);
        PQclear(res);
        goto done;
    }
    out = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(
            out, json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:s, s:I, s:s}", "name",
                           PQgetvalue(res, i, 0), "key", (json_int_t)atoll(PQgetvalue(res, i, 1)),
                           "host", PQgetvalue(res, i, 2), "operator", PQgetvalue(res, i, 3), "pid",
                           (json_int_t)atoll(PQgetvalue(res, i, 4)), "incident",
                           PQgetvalue(res, i, 5), "taken_at", PQgetvalue(res, i, 6), "token",
                           (json_int_t)atoll(PQgetvalue(res, i, 7)), "state",
                           PQgetvalue(res, i, 8)[0] == 't' ? "held" : "stale"));
    PQclear(res);
done:
    PQfinish(c);
    free(shown);
    rune_redactor_free(&red);
    return out;
}
