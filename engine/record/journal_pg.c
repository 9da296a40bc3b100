/*
 * journal_pg.c — the incident log in a PostgreSQL database, shared by a
 * team (--log postgresql://...): the connection, the schema and every
 * write, behind the same table of functions as the SQLite log
 * (journal_store.h). Reads are in journal_pg_read.c.
 *
 * Many rune processes on many hosts append at once. Each append is one
 * transaction that first takes a transaction-level advisory lock on its
 * incident, so the incident's next seq and previous hash are read and
 * written by one process at a time; an incident's first event also takes
 * the lock of the chain across incidents, so it links to the head of the
 * incident begun just before it and no two incidents hang from one head.
 * Unique indexes (incident_id, seq), (hash) and (prev_hash of first
 * events) refuse what the locks should already prevent; a refused or
 * serialization-failed append is retried from the start.
 *
 * Group commit on PostgreSQL: an event marked durable (or owed) commits
 * with synchronous_commit on, which waits for the WAL flush of it and of
 * every earlier commit of this session; other events commit with
 * synchronous_commit off. A simulation's log (rune plan) never waits.
 *
 * The URL's password never leaves this file: base.path holds the URL with
 * it masked, and every server message passes through the redactor.
 */
#include "journal_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dsn.h"

#ifndef RUNE_VERSION
#define RUNE_VERSION "unknown"
#endif

/* Generated from schemas/incident-log-pg.sql by cmake/embed.cmake. */
extern const char rune_incident_log_pg_sql[];

#define SCHEMA_VERSION 1
/* An append refused by a unique index or a serialization failure is
 * tried again this many times before it is an error. */
#define APPEND_TRIES 8

/* ---- Errors and statements ---- */

const char *rune_jpg_state(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

const char *rune_jpg_get(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* What an operator can do, by SQLSTATE class. */
static const char *hint(const char *state, bool broken)
{
    if (broken)
        return "the connection to the log's server was lost; check the server (meanwhile "
               "`rune run --offline` records on this host, and `rune log push` uploads that "
               "later)";
    if (!strncmp(state, "42501", 5))
        return "the log's role lacks a privilege; grant it (docs/teams.md)";
    if (!strncmp(state, "53", 2))
        return "the log's server is out of a resource (disk, memory, connections); free it and "
               "run again";
    if (!strncmp(state, "23", 2))
        return "this is a bug in rune or the log was changed by hand; run rune log verify --all";
    return "check the server and the log's database (docs/teams.md)";
}

/* A server's or libpq's message as rune shows it: the password masked
 * (as given and in any URL), on one line. malloc'd; NULL: no memory. */
static char *clean_message(struct pg_journal *p, const char *msg)
{
    char *red = rune_redact(&p->red, msg ? msg : "");
    char *text = red ? rune_dsn_scrub(red) : NULL;
    free(red);
    if (!text)
        return NULL;
    size_t w = 0;
    for (size_t r = 0; text[r]; r++) {
        bool space = text[r] == '\n' || text[r] == '\t' || text[r] == ' ';
        if (space && (w == 0 || text[w - 1] == ' '))
            continue;
        text[w++] = space ? ' ' : text[r];
    }
    while (w > 0 && text[w - 1] == ' ')
        w--;
    text[w] = '\0';
    return text;
}

int rune_jpg_fail(struct rune_journal *j, const PGresult *res, const char *what)
{
    struct pg_journal *p = (struct pg_journal *)j;
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg)
        msg = p->conn ? PQerrorMessage(p->conn) : "no connection";
    char *text = clean_message(p, msg);
    bool broken = !p->conn || PQstatus(p->conn) != CONNECTION_OK;
    rune_journal_fail(j, "cannot %s in incident log %s: %s; %s", what, j->path,
                      text ? text : "(message withheld: no memory)",
                      hint(rune_jpg_state(res), broken));
    free(text);
    return -1;
}

PGresult *rune_jpg_exec(struct rune_journal *j, const char *sql, int n, const char *const *params,
                        ExecStatusType want, const char *what)
{
    PGresult *res = n > 0 ? PQexecParams(rune_jpg_conn(j), sql, n, NULL, params, NULL, NULL, 0)
                          : PQexec(rune_jpg_conn(j), sql);
    if (res && PQresultStatus(res) == want)
        return res;
    rune_jpg_fail(j, res, what);
    PQclear(res);
    return NULL;
}

int rune_jpg_cmd(struct rune_journal *j, const char *sql, int n, const char *const *params,
                 const char *what)
{
    PGresult *res = rune_jpg_exec(j, sql, n, params, PGRES_COMMAND_OK, what);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

/* Like rune_jpg_exec but keeps a failed result for its SQLSTATE: NULL only
 * when there is no result at all. */
static PGresult *try_exec(struct rune_journal *j, const char *sql, int n, const char *const *params)
{
    return PQexecParams(rune_jpg_conn(j), sql, n, NULL, params, NULL, NULL, 0);
}

void rune_jpg_rollback(struct rune_journal *j)
{
    if (PQtransactionStatus(rune_jpg_conn(j)) != PQTRANS_IDLE)
        PQclear(PQexec(rune_jpg_conn(j), "ROLLBACK"));
}

/* A conflict the server asks to retry, or a unique index refusing what
 * the locks should have kept out: the whole append is tried again. */
static bool retryable(const char *state)
{
    return !strcmp(state, "23505") || !strcmp(state, "40001") || !strcmp(state, "40P01");
}

/* ---- Opening ---- */

static void add_password(void *ud, const char *value)
{
    rune_redactor_add(ud, value);
}

/* 0 with the schema version in *v, 1 when the log has no schema yet, -1. */
static int read_version(struct rune_journal *j, int *v)
{
    PGresult *res =
        try_exec(j, "SELECT value FROM rune_meta WHERE key = 'schema_version'", 0, NULL);
    int rc;
    *v = 0;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
        *v = PQntuples(res) ? atoi(PQgetvalue(res, 0, 0)) : 0;
        rc = *v > 0 ? 0 : 1;
    } else if (!strcmp(rune_jpg_state(res), "42P01")) { /* undefined_table */
        rc = 1;
    } else {
        rc = rune_jpg_fail(j, res, "read the schema version");
    }
    PQclear(res);
    return rc;
}

/* The schema, in one transaction under an advisory lock: two rune
 * processes meeting an empty database at once must not both CREATE. */
static int apply_schema(struct rune_journal *j)
{
    static const char lock[] = "BEGIN; SELECT pg_advisory_xact_lock(1920298598, 1)";
    PGresult *res =
        rune_jpg_exec(j, lock, 0, NULL, PGRES_TUPLES_OK, "start the schema transaction");
    if (!res)
        return rune_jpg_rollback(j), -1;
    PQclear(res);
    if (rune_jpg_cmd(j, rune_incident_log_pg_sql, 0, NULL, "create the schema") != 0 ||
        rune_jpg_cmd(j, "COMMIT", 0, NULL, "commit the schema") != 0) {
        rune_jpg_rollback(j);
        return -1;
    }
    return 0;
}

static int check_schema(struct rune_journal *j, bool writer)
{
    int v = 0, rc = read_version(j, &v);
    if (rc == 1 && writer)
        rc = apply_schema(j) == 0 ? read_version(j, &v) : -1;
    if (rc == 1 && !writer) {
        rune_journal_fail(j, "no incidents recorded yet in %s", j->path);
        return RUNE_JOURNAL_ABSENT;
    }
    if (rc != 0)
        return -1;
    if (v > SCHEMA_VERSION)
        return rune_journal_fail(j,
                                 "incident log %s has schema version %d, newer than this rune "
                                 "(%s) understands (%d); upgrade rune",
                                 j->path, v, RUNE_VERSION, SCHEMA_VERSION);
    return 0;
}

/* The session's own settings, on a new connection and after a reset. */
static void session_settings(struct pg_journal *p)
{
    PQclear(PQexec(p->conn, "SET client_min_messages = warning"));
    if (p->lazy)
        PQclear(PQexec(p->conn, "SET synchronous_commit = off"));
}

static const struct rune_journal_store pg_store;

int rune_journal_pg_open(const char *url, bool writer, struct rune_journal **out, char *err,
                         size_t errlen)
{
    /* the URL's own settings win over these defaults (they come after) */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"10", "rune", url, NULL};
    char *shown = rune_dsn_scrub(url);
    struct rune_journal *j =
        shown ? rune_journal_alloc(&pg_store, sizeof(struct pg_journal), shown, err, errlen) : NULL;
    struct pg_journal *p = (struct pg_journal *)j;
    int rc;

    free(shown);
    *out = NULL;
    if (!j) {
        rune_journal_seterr(err, errlen, "no memory to open the shared incident log");
        return -1;
    }
    rune_redactor_init(&p->red);
    rune_dsn_passwords(url, add_password, &p->red);
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
        const char *raw = p->conn ? PQerrorMessage(p->conn) : "no memory";
        char *text = clean_message(p, raw);
        /* the server answered and said no (a role, password or database
         * that is wrong): not out of reach, so --offline does not hide it */
        if (strstr(raw, "FATAL") && !strstr(raw, "the database system is")) {
            rune_journal_seterr(err, errlen,
                                "the shared incident log %s refused rune: %s; check the role, "
                                "its password (~/.pgpass) and the database in the URL "
                                "(docs/teams.md)",
                                j->path, text ? text : "(no memory for the reason)");
            free(text);
            rune_journal_close(j);
            return -1;
        }
        rune_journal_seterr(err, errlen,
                            "cannot reach the shared incident log %s: %s; check the server and "
                            "the URL (meanwhile `rune run --offline` records on this host, and "
                            "`rune log push` uploads that later)",
                            j->path, text ? text : "(no memory for the reason)");
        free(text);
        rune_journal_close(j);
        return RUNE_JOURNAL_UNREACHABLE;
    }
    session_settings(p);
    rc = check_schema(j, writer);
    if (rc != 0) {
        rune_journal_seterr(err, errlen, "%s", j->err);
        rune_journal_close(j);
        return rc;
    }
    *out = j;
    return 0;
}

static void pg_close(struct rune_journal *j)
{
    struct pg_journal *p = (struct pg_journal *)j;
    if (p->conn)
        PQfinish(p->conn);
    rune_redactor_free(&p->red);
}

static void pg_set_lazy(struct rune_journal *j)
{
    struct pg_journal *p = (struct pg_journal *)j;
    p->lazy = true;
    session_settings(p);
}

/* Each event is its own transaction: nothing waits to be flushed. */
static void pg_flush(struct rune_journal *j)
{
    (void)j;
}

/* Owed events are committed synchronously already (see the top). */
static int pg_sync(struct rune_journal *j)
{
    (void)j;
    return 0;
}

static void pg_set_length_limit(struct rune_journal *j, int length)
{
    (void)j;
    (void)length;
}

/* ---- Writing ---- */

/* A connection the server or the network dropped is made again before
 * the next append: the event that met the drop is reported lost (the
 * record layer warns), and never sent twice — its COMMIT may have
 * reached the server. */
static void reconnect(struct rune_journal *j)
{
    struct pg_journal *p = (struct pg_journal *)j;
    if (PQstatus(p->conn) != CONNECTION_BAD)
        return;
    PQreset(p->conn);
    if (PQstatus(p->conn) == CONNECTION_OK)
        session_settings(p);
}

static int pg_set_runner(struct rune_journal *j, const char *incident_id, long long pid,
                         const char *start)
{
    reconnect(j);
    static const char sql[] =
        "INSERT INTO runners (incident_id, pid, start) VALUES ($1, $2, $3) "
        "ON CONFLICT (incident_id) DO UPDATE SET pid = EXCLUDED.pid, start = EXCLUDED.start";
    char spid[32];
    snprintf(spid, sizeof spid, "%lld", pid);
    const char *params[] = {incident_id, spid, start ? start : ""};
    return rune_jpg_cmd(j, sql, 3, params, "record the rune running an incident");
}

static int pg_begin(struct rune_journal *j, const struct rune_incident_rec *rec)
{
    reconnect(j);
    static const char sql[] =
        "INSERT INTO incidents (id, runbook, title, runbook_path, runbook_sha256, mode, "
        "operator, host, inputs_json, started_at, rto_target_s, rpo_target_s, rune_version) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
    char started[RUNE_ISO_LEN], rto[32], rpo[32];
    char *inputs = NULL;
    int rc = -1;

    if (rec->inputs && !(inputs = json_dumps(rec->inputs, RUNE_JOURNAL_STORE_FLAGS)))
        return rune_journal_fail(j,
                                 "cannot record incident %s: its inputs cannot be encoded as "
                                 "JSON",
                                 rec->id);
    rune_clock_iso(started, rec->started_ms > 0 ? rec->started_ms : rune_clock_wall_ms());
    snprintf(rto, sizeof rto, "%lld", rec->rto_target_s);
    snprintf(rpo, sizeof rpo, "%lld", rec->rpo_target_s);
    const char *params[] = {rec->id,
                            rec->runbook,
                            rec->title,
                            rec->runbook_path,
                            rec->runbook_sha256,
                            rec->mode,
                            rec->operator_name,
                            rec->host,
                            inputs,
                            started,
                            rec->rto_target_s > 0 ? rto : NULL,
                            rec->rpo_target_s > 0 ? rpo : NULL,
                            RUNE_VERSION};
    PGresult *res = try_exec(j, sql, 13, params);
    if (res && PQresultStatus(res) == PGRES_COMMAND_OK)
        rc = 0;
    else if (!strcmp(rune_jpg_state(res), "23505")) {
        rune_journal_fail(j,
                          "cannot record incident %s in %s: an incident with that id already "
                          "exists",
                          rec->id, j->path);
        rc = 1;
    } else
        rune_jpg_fail(j, res, "record the incident");
    PQclear(res);
    free(inputs);
    if (rc == 0 && rec->runner_pid > 0)
        rc = pg_set_runner(j, rec->id, rec->runner_pid, rec->runner_start);
    return rc;
}

/* One row's (seq, hash) of a query bound to the incident id. 1 with
 * them, 0 when there is no row, -1. */
static int one_hash(struct rune_journal *j, const char *sql, const char *incident_id,
                    long long *seq, char prev[RUNE_HASH_HEX + 1])
{
    const char *params[] = {incident_id};
    PGresult *res = rune_jpg_exec(j, sql, 1, params, PGRES_TUPLES_OK, "read the previous event");
    if (!res)
        return -1;
    int rc = PQntuples(res) > 0;
    if (rc) {
        *seq = atoll(PQgetvalue(res, 0, 0));
        snprintf(prev, RUNE_HASH_HEX + 1, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return rc;
}

/* Inside the append's transaction: the incident's lock, its last event,
 * and for its first event the chain's lock and the head it links to. */
static int last_event(struct rune_journal *j, const char *incident_id, long long *seq,
                      char prev[RUNE_HASH_HEX + 1])
{
    static const char lock_mine[] = "SELECT pg_advisory_xact_lock(1920298597, hashtext($1))";
    static const char mine[] =
        "SELECT seq, hash FROM events WHERE incident_id = $1 ORDER BY seq DESC LIMIT 1";
    static const char lock_chain[] = "SELECT pg_advisory_xact_lock(1920298598, 0)";
    static const char before[] =
        "SELECT seq, hash FROM events WHERE incident_id = (SELECT incident_id FROM events "
        "WHERE seq = 1 AND incident_id <> $1 ORDER BY pos DESC LIMIT 1) "
        "ORDER BY seq DESC LIMIT 1";
    const char *params[] = {incident_id};
    PGresult *res;
    long long ignored;
    int rc;

    *seq = 0;
    snprintf(prev, RUNE_HASH_HEX + 1, "%s", RUNE_ZERO_HASH);
    /* each its own statement: under READ COMMITTED a statement sees what
     * was committed before it started, so the read must follow the lock */
    if (!(res = rune_jpg_exec(j, lock_mine, 1, params, PGRES_TUPLES_OK, "lock the incident")))
        return -1;
    PQclear(res);
    if ((rc = one_hash(j, mine, incident_id, seq, prev)) != 0)
        return rc < 0 ? -1 : 0;
    if (!(res = rune_jpg_exec(j, lock_chain, 0, NULL, PGRES_TUPLES_OK, "lock the log's head")))
        return -1;
    PQclear(res);
    return one_hash(j, before, incident_id, &ignored, prev) < 0 ? -1 : 0;
}

long long rune_jpg_chain_event(struct rune_journal *j, const char *incident_id,
                               const struct rune_event *ev, const char *detail,
                               const char *at_given)
{
    static const char sql[] =
        "INSERT INTO events (incident_id, seq, at, stage, step, attempt, kind, status, "
        "duration_ms, detail_json, prev_hash, hash) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
    char prev[RUNE_HASH_HEX + 1], hash[RUNE_HASH_HEX + 1], at[RUNE_ISO_LEN];
    char sseq[32], sattempt[32], sdur[32];
    long long seq;

    if (last_event(j, incident_id, &seq, prev) != 0)
        return -1;
    seq++;
    if (at_given)
        snprintf(at, sizeof at, "%s", at_given);
    else
        rune_clock_iso(at, rune_clock_wall_ms());
    if (rune_chain_event_hash(j, prev, incident_id, seq, at, ev, detail, false, hash) != 0)
        return -1;
    snprintf(sseq, sizeof sseq, "%lld", seq);
    snprintf(sattempt, sizeof sattempt, "%d", ev->attempt);
    snprintf(sdur, sizeof sdur, "%lld", ev->duration_ms);
    const char *params[] = {incident_id, sseq,       at,
                            ev->stage,   ev->step,   sattempt,
                            ev->kind,    ev->status, ev->duration_ms >= 0 ? sdur : NULL,
                            detail,      prev,       hash};
    PGresult *res = try_exec(j, sql, 12, params);
    const char *state = rune_jpg_state(res);
    long long rc = seq;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = retryable(state) ? -2 : -1;
        if (!strcmp(state, "23503"))
            rune_journal_fail(j,
                              "cannot record event %s in incident log %s: no incident %s "
                              "(call rune_journal_begin first)",
                              ev->kind, j->path, incident_id);
        else
            rune_jpg_fail(j, res, "record an event");
    }
    PQclear(res);
    return rc;
}

/* One try of an append, its own transaction: 0 < seq, -1 on error, -2
 * when it may be tried again. */
static long long append_once(struct rune_journal *j, const char *incident_id,
                             const struct rune_event *ev, const char *detail, bool *committing)
{
    struct pg_journal *p = (struct pg_journal *)j;
    bool wait = (ev->durable || ev->owed) && !p->lazy;

    if (rune_jpg_cmd(j,
                     wait ? "BEGIN; SET LOCAL synchronous_commit = on"
                          : "BEGIN; SET LOCAL synchronous_commit = off",
                     0, NULL, "start an event transaction") != 0)
        return -1;
    long long seq = rune_jpg_chain_event(j, incident_id, ev, detail, NULL);
    if (seq < 0)
        return seq;
    *committing = true;
    int rc = rune_jpg_commit(j, "commit an event");
    return rc == 0 ? seq : rc;
}

int rune_jpg_commit(struct rune_journal *j, const char *what)
{
    PGresult *res = try_exec(j, "COMMIT", 0, NULL);
    int rc = 0;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = retryable(rune_jpg_state(res)) ? -2 : -1;
    if (rc)
        rune_jpg_fail(j, res, what);
    PQclear(res);
    return rc;
}

static long long pg_append(struct rune_journal *j, const char *incident_id,
                           const struct rune_event *ev, const char *detail)
{
    long long seq = -2;
    reconnect(j);
    for (int t = 0; t < APPEND_TRIES && seq == -2; t++) {
        bool committing = false;
        seq = append_once(j, incident_id, ev, detail, &committing);
        /* a dropped connection found before the COMMIT was sent: nothing
         * of the event reached the log, so it is sent again on a new one */
        if (seq == -1 && !committing && PQstatus(rune_jpg_conn(j)) == CONNECTION_BAD) {
            reconnect(j);
            if (PQstatus(rune_jpg_conn(j)) == CONNECTION_OK)
                seq = -2;
        }
        if (seq < 0)
            rune_jpg_rollback(j);
    }
    return seq < 0 ? -1 : seq;
}

/* An UPDATE of one incident; an unknown id is an error. */
static int update_incident(struct rune_journal *j, const char *sql, int n,
                           const char *const *params, const char *incident_id, const char *what)
{
    PGresult *res = rune_jpg_exec(j, sql, n, params, PGRES_COMMAND_OK, what);
    if (!res)
        return -1;
    int changed = atoi(PQcmdTuples(res));
    PQclear(res);
    if (changed == 0)
        return rune_journal_fail(j, "cannot %s: no incident %s in %s", what, incident_id, j->path);
    return 0;
}

static int pg_set_severity(struct rune_journal *j, const char *incident_id, const char *severity)
{
    reconnect(j);
    const char *params[] = {severity, incident_id};
    return update_incident(j, "UPDATE incidents SET severity = $1 WHERE id = $2", 2, params,
                           incident_id, "set the severity");
}

static int pg_end(struct rune_journal *j, const char *incident_id, const char *outcome,
                  int exit_code, const char *ended_at)
{
    reconnect(j);
    char code[16];
    snprintf(code, sizeof code, "%d", exit_code);
    const char *params[] = {outcome, code, ended_at, incident_id};
    /* on the server's disk when rune says the outcome (a plan's need not be) */
    struct pg_journal *p = (struct pg_journal *)j;
    if (rune_jpg_cmd(j, p->lazy ? "BEGIN" : "BEGIN; SET LOCAL synchronous_commit = on", 0, NULL,
                     "start the incident's end") != 0)
        return -1;
    int rc = update_incident(
        j, "UPDATE incidents SET outcome = $1, exit_code = $2, ended_at = $3 WHERE id = $4", 4,
        params, incident_id, "record the incident's end");
    if (rc == 0)
        rc = rune_jpg_commit(j, "commit the incident's end") == 0 ? 0 : -1;
    rune_jpg_rollback(j);
    return rc;
}

static int pg_artifact(struct rune_journal *j, const char *incident_id, const char *step,
                       const char *path, const char *sha256, long long bytes, const char *kind)
{
    reconnect(j);
    static const char sql[] =
        "INSERT INTO artifacts (incident_id, step, path, sha256, bytes, kind) "
        "SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM artifacts "
        "WHERE incident_id = $1 AND path = $3 AND sha256 IS NOT DISTINCT FROM $4)";
    char sbytes[32];
    snprintf(sbytes, sizeof sbytes, "%lld", bytes);
    const char *params[] = {incident_id, step, path, sha256, bytes >= 0 ? sbytes : NULL, kind};
    return rune_jpg_cmd(j, sql, 6, params, "record an artifact");
}

static int pg_child(struct rune_journal *j, const char *incident_id, const char *step, int attempt,
                    long long pid, const char *start, const char *program, bool ended)
{
    reconnect(j);
    static const char add[] =
        "INSERT INTO children (incident_id, step, attempt, pid, start, program, started_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)";
    static const char end[] =
        "UPDATE children SET ended_at = $3 WHERE incident_id = $1 AND pid = $2 AND start IS NOT "
        "DISTINCT FROM $4 AND ended_at IS NULL";
    char at[RUNE_ISO_LEN], spid[32], satt[16];
    rune_clock_iso(at, rune_clock_wall_ms());
    snprintf(spid, sizeof spid, "%lld", pid);
    snprintf(satt, sizeof satt, "%d", attempt);
    if (ended) {
        const char *params[] = {incident_id, spid, at, start};
        return rune_jpg_cmd(j, end, 4, params, "record the end of a child process");
    }
    const char *params[] = {incident_id, step, satt, spid, start, program, at};
    return rune_jpg_cmd(j, add, 7, params, "record a child process");
}

static int pg_identity(struct rune_journal *j, struct rune_db_identity *out)
{
    PGconn *c = rune_jpg_conn(j);
    PGresult *res = try_exec(j,
                             "SELECT system_identifier::text, current_database() "
                             "FROM pg_control_system()",
                             0, NULL);
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        snprintf(out->sysid, sizeof out->sysid, "%s", PQgetvalue(res, 0, 0));
        snprintf(out->dbname, sizeof out->dbname, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        rune_jpg_rollback(j);
    if (!out->dbname[0])
        snprintf(out->dbname, sizeof out->dbname, "%s", PQdb(c) ? PQdb(c) : "");
    snprintf(out->host, sizeof out->host, "%s", PQhost(c) ? PQhost(c) : "");
    snprintf(out->port, sizeof out->port, "%s", PQport(c) ? PQport(c) : "");
    return 0;
}

static const struct rune_journal_store pg_store = {
    .name = "postgresql",
    .begin = pg_begin,
    .append = pg_append,
    .set_severity = pg_set_severity,
    .artifact = pg_artifact,
    .end = pg_end,
    .find = rune_jpg_find,
    .get = rune_jpg_get_incident,
    .chain_rows = rune_jpg_chain_rows,
    .link = rune_jpg_link,
    .head = rune_jpg_head,
    .last_outputs = rune_jpg_last_outputs,
    .durations = rune_jpg_durations,
    .work = rune_jpg_work,
    .runner = rune_jpg_runner,
    .set_runner = pg_set_runner,
    .child = pg_child,
    .children = rune_jpg_children,
    .set_lazy = pg_set_lazy,
    .flush = pg_flush,
    .sync = pg_sync,
    .set_length_limit = pg_set_length_limit,
    .identity = pg_identity,
    .upload = rune_jpg_upload,
    .close = pg_close,
};
