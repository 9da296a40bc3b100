/*
 * journal_sqlite.h — the SQLite backend of the incident log, shared by
 * its two files: journal_sqlite.c (the connection, the schema and every
 * write) and journal_sqlite_read.c (every read). Only they include it.
 */
#ifndef RUNE_JOURNAL_SQLITE_H
#define RUNE_JOURNAL_SQLITE_H

#include <sqlite3.h>

#include "clock.h"
#include "journal_store.h"
#include "procinfo.h"

/* The statements kept prepared (struct sqlite_journal's stmts). */
enum rune_sqlite_stmt_id {
    RUNE_SQ_BEGIN,
    RUNE_SQ_COMMIT,
    RUNE_SQ_SAVEPOINT,
    RUNE_SQ_RELEASE,
    RUNE_SQ_LAST_MINE,
    RUNE_SQ_LAST_BEFORE,
    RUNE_SQ_INSERT_EVENT,
    RUNE_SQ_HISTORY,
    RUNE_SQ_DURATIONS,
    RUNE_SQ_WORK,
    RUNE_SQ_RUNNER,
    RUNE_SQ_CHILD_ADD,
    RUNE_SQ_CHILD_END,
    RUNE_SQ_N
};

/* An open SQLite log: the shared part first, then the connection. One
 * connection serves the run's threads: SQLite serialises calls
 * (FULLMUTEX) and the front's j->mu makes each read-modify-write atomic
 * within the process; BEGIN IMMEDIATE makes it atomic against others. */
struct sqlite_journal {
    struct rune_journal base;
    sqlite3 *db;
    /* group commit: the connection runs with synchronous=NORMAL (a WAL
     * commit is not synced); a durable event's commit is followed by an
     * fsync of the WAL, which covers every frame before it */
    bool lazy;       /* a simulation's log: never forced, events batched */
    bool batch_open; /* lazy: a transaction of events is open */
    int batch_n;     /* ... holding this many */
    int wal_frames;  /* lazy: frames in the WAL after the last commit */
    /* lazy: the last event written in the open batch, whose write lock
     * no one else can take: the next event of the same incident follows
     * it without reading it back (seq 0: none known) */
    struct {
        char incident_id[64];
        long long seq;
        char hash[RUNE_HASH_HEX + 1];
    } last;
    bool owed; /* an owed event is committed, not yet forced to disk */
    /* a runbook's real runs, read once for a dry-run's questions
     * (journal_sqlite_history.c); dropped when this connection records
     * a real run's event */
    char *hist_runbook;
    json_t *hist;
    /* statements used once or twice an event, prepared once for the
     * connection's life (rune_sqlite_stmt): parsing them again for each of
     * a plan's 2,000 events was a third of its time */
    sqlite3_stmt *stmts[RUNE_SQ_N];
    /* children that ended, written in the next event's transaction
     * (rune_sqlite_child): a step's child ends just before the step does,
     * so its row and the step's end commit together, one transaction
     * instead of two */
    struct rune_sqlite_ended *ended;
    size_t n_ended, cap_ended;
};

/* A child's end waiting for the next transaction. */
struct rune_sqlite_ended {
    char incident_id[64];
    long long pid;
    char start[RUNE_START_LEN];
    bool no_start; /* start was NULL (unknown), not "" */
    char at[RUNE_ISO_LEN];
};

/* Writes the children's ends waiting in s->ended, inside the caller's
 * transaction (or on their own when none is open). 0 or -1. */
int rune_sqlite_write_ended(struct rune_journal *j);

static inline sqlite3 *rune_sqlite_db(struct rune_journal *j)
{
    return ((struct sqlite_journal *)j)->db;
}

#define RUNE_SQLITE_INCIDENT_COLS                                                                  \
    "id, runbook, title, runbook_path, runbook_sha256, mode, operator, host, inputs_json, "        \
    "severity, outcome, exit_code, started_at, ended_at, rto_target_s, rpo_target_s, "             \
    "resumed_from, rune_version"
#define RUNE_SQLITE_EVENT_COLS                                                                     \
    "seq, at, stage, step, attempt, kind, status, duration_ms, detail_json, prev_hash, hash"

/* Records the connection's last error in j->err, naming the log, what was
 * tried and what an operator can do. Returns -1. */
int rune_sqlite_fail(struct rune_journal *j, const char *what);
/* sqlite3_exec, its failure recorded as rune_sqlite_fail(what). 0 or -1. */
int rune_sqlite_exec(struct rune_journal *j, const char *sql, const char *what);
/* The statement `id` (whose text is always `sql`), prepared on first use
 * and kept until the log is closed; NULL when it cannot be prepared (the
 * connection's error says why). Call under the log's lock, and hand it
 * back with rune_sqlite_done before the lock is let go: never finalize it. */
sqlite3_stmt *rune_sqlite_stmt(struct rune_journal *j, enum rune_sqlite_stmt_id id,
                               const char *sql);
/* Resets a kept statement and clears its bindings (a SELECT left
 * unreset would hold its read transaction open). */
void rune_sqlite_done(sqlite3_stmt *st);
/* Steps a kept statement that returns no row (BEGIN, COMMIT, a PRAGMA
 * that sets), its failure recorded as rune_sqlite_fail(what). 0 or -1. */
int rune_sqlite_run(struct rune_journal *j, enum rune_sqlite_stmt_id id, const char *sql,
                    const char *what);
/* Binds text, NULL as SQL NULL. A bind that fails (a value over SQLite's
 * length limit) leaves the parameter NULL, and a statement stepped anyway
 * stores NULL where the caller gave a value: every write checks the
 * result, and stops there. */
int rune_sqlite_bind_text(sqlite3_stmt *st, int i, const char *s);

/* The reading half of the store (journal_sqlite_read.c). */
json_t *rune_sqlite_find(struct rune_journal *j, const struct rune_journal_filter *f);
json_t *rune_sqlite_get(struct rune_journal *j, const char *incident_id);
int rune_sqlite_chain_rows(struct rune_journal *j, const char *incident_id, json_t **inc,
                           struct rune_chain_row **rows, size_t *n);
int rune_sqlite_link(struct rune_journal *j, const char *incident_id, struct rune_chain_link *out);
int rune_sqlite_head(struct rune_journal *j, const char *hash, struct rune_log_head *out);
/* The processes of a run (journal_sqlite_proc.c). */
int rune_sqlite_runner(struct rune_journal *j, const char *incident_id, struct rune_runner *out);
int rune_sqlite_set_runner(struct rune_journal *j, const char *incident_id, long long pid,
                           const char *start);
int rune_sqlite_child(struct rune_journal *j, const char *incident_id, const char *step,
                      int attempt, long long pid, const char *start, const char *program,
                      bool ended);
json_t *rune_sqlite_children(struct rune_journal *j, const char *incident_id);
/* Forgets the history read for dry-runs (journal_sqlite_history.c). */
void rune_sqlite_history_drop(struct rune_journal *j);
json_t *rune_sqlite_last_outputs(struct rune_journal *j, const char *runbook, const char *step);
json_t *rune_sqlite_durations(struct rune_journal *j, const char *runbook, const char *step,
                              int limit);
json_t *rune_sqlite_work(struct rune_journal *j, const char *uses, const char *host,
                         const char *unit, int limit);

#endif
