/*
 * lock_pg.c — a runbook's `lock:` when the incident log is shared on
 * PostgreSQL: two hosts never run the same locked runbook at once.
 *
 * The lock is a session advisory lock (pg_try_advisory_lock(key), key the
 * first 63 bits of SHA-256 of the lock's name) on a connection of its own,
 * held for the whole run. It lasts exactly as long as that connection: a
 * host that loses it (network, server restart, pg_terminate_backend) has
 * lost its lock, and another host may take it. So each taking of a lock
 * also draws a fencing token (rune_locks.token, one more than the last),
 * and before every step that writes the holder asks, on that connection,
 * whether the token is still its own: a dead connection or a newer token
 * stops the run (exit 6) before the step starts, instead of acting on a
 * lock it no longer holds.
 *
 * rune_locks also says who holds what (host, operator, incident, pid,
 * since), for the refusal message and for `rune log`; a row counts only
 * while its backend still holds the advisory lock (pg_locks).
 */
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "dsn.h"
#include "lock.h"
#include "runstate.h"

struct rune_pglock {
    PGconn *conn;
    char key[24];   /* decimal */
    char token[24]; /* decimal */
    char *shown;    /* the lock's name, masked */
    char *url;      /* the log, masked */
};

/* The advisory key of a lock name: SHA-256's first 8 bytes, top bit
 * cleared (a positive bigint, so pg_locks' halves join back cleanly). */
static void lock_key(const char *name, char out[24])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    unsigned long long k = 0;
    if (EVP_Digest(name, strlen(name), md, &n, EVP_sha256(), NULL) == 1 && n >= 8)
        for (int i = 0; i < 8; i++)
            k = (k << 8) | md[i];
    snprintf(out, 24, "%lld", (long long)(k & 0x7fffffffffffffffULL));
}

/* A libpq message, password masked, on one line, into out. */
static void message(struct rune_redactor *red, const char *msg, char *out, size_t len)
{
    char *m = rune_redact(red, msg ? msg : "");
    char *s = m ? rune_dsn_scrub(m) : NULL;
    snprintf(out, len, "%s", s ? s : "");
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
    free(s);
    free(m);
}

static void password(void *ud, const char *value)
{
    rune_redactor_add(ud, value);
}

/* Who holds the lock now, as a phrase; "" when nobody is recorded. */
static void holder(struct rune_pglock *l, char *out, size_t len)
{
    static const char sql[] =
        "SELECT host, operator, incident, pid, taken_at FROM rune_locks WHERE key = $1";
    const char *params[] = {l->key};
    PGresult *res = PQexecParams(l->conn, sql, 1, NULL, params, NULL, NULL, 0);
    out[0] = '\0';
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        snprintf(out, len, "host %s, operator %s, incident %s, pid %s, since %s",
                 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
                 PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
    PQclear(res);
}

void rune_pglock_release(struct rune_pglock *l)
{
    if (!l)
        return;
    if (l->conn)
        PQfinish(l->conn); /* ends the session: the advisory lock goes with it */
    free(l->shown);
    free(l->url);
    free(l);
}

/* Records us as the holder and draws the next fencing token. */
static int claim(struct rune_pglock *l, const char *incident, const char *host,
                 const char *operator_name, struct rune_redactor *red, char *msg, size_t len)
{
    static const char sql[] =
        "INSERT INTO rune_locks (key, name, token, host, operator, incident, pid, backend_pid, "
        "taken_at) VALUES ($1, $2, 1, $3, $4, $5, $6, pg_backend_pid(), $7) "
        "ON CONFLICT (key) DO UPDATE SET token = rune_locks.token + 1, name = EXCLUDED.name, "
        "host = EXCLUDED.host, operator = EXCLUDED.operator, incident = EXCLUDED.incident, "
        "pid = EXCLUDED.pid, backend_pid = EXCLUDED.backend_pid, taken_at = EXCLUDED.taken_at "
        "RETURNING token";
    char pid[24], at[RUNE_ISO_LEN];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    rune_clock_iso(at, rune_clock_wall_ms());
    const char *params[] = {l->key, l->shown, host, operator_name, incident, pid, at};
    PGresult *res = PQexecParams(l->conn, sql, 7, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        snprintf(l->token, sizeof l->token, "%s", PQgetvalue(res, 0, 0));
    } else {
        char m[512];
        message(red, PQresultErrorMessage(res), m, sizeof m);
        snprintf(msg, len, "cannot record the holder of lock \"%s\" in %s: %s", l->shown, l->url,
                 m);
        rc = -1;
    }
    PQclear(res);
    return rc;
}

int rune_pglock_take(const char *url, const char *name, struct rune_redactor *red,
                     const char *incident, const char *host, const char *operator_name,
                     struct rune_pglock **out, char *msg, size_t len)
{
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"10", "rune lock", url, NULL};
    struct rune_pglock *l = calloc(1, sizeof *l);
    struct rune_redactor urlred;
    int rc = -1;

    *out = NULL;
    rune_redactor_init(&urlred);
    rune_dsn_passwords(url, password, &urlred);
    if (!l || !(l->shown = rune_redact(red, name)) || !(l->url = rune_dsn_scrub(url))) {
        snprintf(msg, len, "no memory to take lock \"%s\"", name);
        goto out;
    }
    lock_key(name, l->key);
    l->conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(l->conn) != CONNECTION_OK) {
        char m[512];
        message(&urlred, PQerrorMessage(l->conn), m, sizeof m);
        snprintf(msg, len, "cannot take lock \"%s\" in the shared log %s: %s", l->shown, l->url, m);
        goto out;
    }
    const char *params[] = {l->key};
    PGresult *res = PQexecParams(l->conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, NULL,
                                 params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        char m[512];
        message(&urlred, PQresultErrorMessage(res), m, sizeof m);
        snprintf(msg, len, "cannot take lock \"%s\" in the shared log %s: %s", l->shown, l->url, m);
        PQclear(res);
        goto out;
    }
    bool got = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!got) {
        char who[512];
        holder(l, who, sizeof who);
        snprintf(msg, len,
                 "lock \"%s\" is held by another run (%s); wait for it to finish, or see "
                 "`rune log --log %s`",
                 l->shown, who[0] ? who : "holder not recorded", l->url);
        rc = 1;
        goto out;
    }
    if (claim(l, incident, host, operator_name, &urlred, msg, len) != 0)
        goto out;
    *out = l;
    l = NULL;
    rc = 0;
out:
    rune_pglock_release(l);
    rune_redactor_free(&urlred);
    return rc;
}

void rune_pglock_holder(struct rune_pglock *l, const char *incident)
{
    if (!l)
        return;
    const char *params[] = {l->key, incident, l->token};
    PQclear(PQexecParams(l->conn,
                         "UPDATE rune_locks SET incident = $2 WHERE key = $1 AND token = $3", 3,
                         NULL, params, NULL, NULL, 0));
}

int rune_pglock_fence(struct rune_pglock *l, char *msg, size_t len)
{
    if (!l)
        return 0;
    const char *params[] = {l->key};
    PGresult *res = PQexecParams(l->conn, "SELECT token FROM rune_locks WHERE key = $1", 1, NULL,
                                 params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        snprintf(msg, len,
                 "lock \"%s\" was lost: its connection to the shared log %s is gone, and the lock "
                 "with it (another host may hold it now); stopped before a step that writes",
                 l->shown, l->url);
        rc = -1;
    } else if (strcmp(PQgetvalue(res, 0, 0), l->token) != 0) {
        snprintf(msg, len,
                 "lock \"%s\" was lost: another run took it since (fencing token %s, ours %s); "
                 "stopped before a step that writes",
                 l->shown, PQgetvalue(res, 0, 0), l->token);
        rc = -1;
    }
    PQclear(res);
    return rc;
}

int rune_lock_fence_step(struct rune_run *r, const char *uses)
{
    char why[512];
    int rc = 0;

    if (!r->pglock || !rune_record_step_durable(&r->rec, uses))
        return 0; /* no shared lock, a dry-run, or a step that only reads */
    pthread_mutex_lock(&r->mu);
    if (atomic_load(&r->lock_lost)) {
        rc = -1;
    } else if (rune_pglock_fence(r->pglock, why, sizeof why) != 0) {
        snprintf(r->lock_why, sizeof r->lock_why, "%s", why);
        atomic_store(&r->lock_lost, true);
        atomic_store(&rune_interrupted, 1); /* nothing else starts either */
        rune_console_alert(r->con, "%s", why);
        rc = -1;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}
