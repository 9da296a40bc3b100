/*
 * journal_pg.h — the PostgreSQL backend of the incident log (a log shared
 * by a team: --log postgresql://...), shared by its files: journal_pg.c
 * (the connection, the schema and every write), journal_pg_read.c (every
 * read) and journal_pg_push.c (rune log push). Only they include it.
 */
#ifndef RUNE_JOURNAL_PG_H
#define RUNE_JOURNAL_PG_H

#include <libpq-fe.h>

#include "journal_store.h"
#include "redact.h"

/* Advisory lock keys (pg_advisory_xact_lock(class, key)): an incident's
 * own chain (key: hashtext of its id), and the chain across incidents. */
#define RUNE_JPG_LOCK_INCIDENT 1920298597
#define RUNE_JPG_LOCK_CHAIN 1920298598

struct pg_journal {
    struct rune_journal base; /* base.path: the URL with its password masked */
    PGconn *conn;
    struct rune_redactor red; /* the URL's password, masked in every message */
    bool lazy;                /* a simulation: nothing waits for the disk */
};

static inline PGconn *rune_jpg_conn(struct rune_journal *j)
{
    return ((struct pg_journal *)j)->conn;
}

#define RUNE_JPG_INCIDENT_COLS                                                                     \
    "id, runbook, title, runbook_path, runbook_sha256, mode, operator, host, inputs_json, "        \
    "severity, outcome, exit_code, started_at, ended_at, rto_target_s, rpo_target_s, "             \
    "resumed_from, rune_version"
#define RUNE_JPG_EVENT_COLS                                                                        \
    "seq, at, stage, step, attempt, kind, status, duration_ms, detail_json, prev_hash, hash"

/* Records what went wrong (res's error, else the connection's) in j->err:
 * what was tried, on which log (password masked), and what to do. -1. */
int rune_jpg_fail(struct rune_journal *j, const PGresult *res, const char *what);
/* Runs sql with n text parameters (NULL: SQL NULL). The result when it
 * has the status wanted (PGRES_COMMAND_OK or PGRES_TUPLES_OK), else NULL
 * with rune_jpg_fail(what). The caller PQclear()s it. */
PGresult *rune_jpg_exec(struct rune_journal *j, const char *sql, int n, const char *const *params,
                        ExecStatusType want, const char *what);
/* rune_jpg_exec of a command whose result is not needed. 0 or -1. */
int rune_jpg_cmd(struct rune_journal *j, const char *sql, int n, const char *const *params,
                 const char *what);
/* The SQLSTATE of a failed result ("" when none). */
const char *rune_jpg_state(const PGresult *res);
/* The value of a cell, NULL when SQL NULL. */
const char *rune_jpg_get(const PGresult *res, int row, int col);

/* Inside an open transaction: takes the incident's advisory lock (and,
 * for its first event, the chain's), reads its last event, hashes and
 * inserts ev with time at (NULL: now). The seq; -1 on error; -2 when the
 * server refused it as a conflict and the transaction may be retried. */
long long rune_jpg_chain_event(struct rune_journal *j, const char *incident_id,
                               const struct rune_event *ev, const char *detail, const char *at);
/* COMMIT: 0, -1, or -2 (a conflict: retry). */
int rune_jpg_commit(struct rune_journal *j, const char *what);
/* ROLLBACK when a transaction is open. */
void rune_jpg_rollback(struct rune_journal *j);

/* Opens the log at url (postgresql://...): a writer creates the schema
 * when the database has none; a reader returns RUNE_JOURNAL_ABSENT then.
 * RUNE_JOURNAL_UNREACHABLE when the server cannot be reached; -1 on any
 * other error; err never holds the password. */
int rune_journal_pg_open(const char *url, bool writer, struct rune_journal **out, char *err,
                         size_t errlen);

/* The reading half (journal_pg_read.c). */
json_t *rune_jpg_find(struct rune_journal *j, const struct rune_journal_filter *f);
json_t *rune_jpg_get_incident(struct rune_journal *j, const char *incident_id);
int rune_jpg_chain_rows(struct rune_journal *j, const char *incident_id, json_t **inc,
                        struct rune_chain_row **rows, size_t *n);
int rune_jpg_link(struct rune_journal *j, const char *incident_id, struct rune_chain_link *out);
int rune_jpg_head(struct rune_journal *j, const char *hash, struct rune_log_head *out);
json_t *rune_jpg_last_outputs(struct rune_journal *j, const char *runbook, const char *step);
json_t *rune_jpg_durations(struct rune_journal *j, const char *runbook, const char *step,
                           int limit);
json_t *rune_jpg_work(struct rune_journal *j, const char *uses, const char *host, const char *unit,
                      int limit);
int rune_jpg_runner(struct rune_journal *j, const char *incident_id, struct rune_runner *out);
int rune_jpg_upload(struct rune_journal *j, const char *incident_id, char prev[RUNE_HASH_HEX + 1],
                    char head[RUNE_HASH_HEX + 1], long long *events);
json_t *rune_jpg_children(struct rune_journal *j, const char *incident_id);

#endif
