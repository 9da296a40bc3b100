/*
 * journal.h — the incident log: every run, real or simulated, and every
 * stage and step attempt of it. Stored through a table of functions
 * (journal_store.h); the first store is one SQLite file (WAL). Runs write
 * through the record layer (record.h), which builds every event; this
 * header is the storage's door.
 *
 * Each event is committed as it happens, so a killed rune loses nothing
 * that finished; events marked durable are also on disk (fsync) before
 * the append returns, with everything before them (group commit: see
 * docs/architecture.md, "Group commit"). Events are hash-chained:
 * hash = SHA-256(prev_hash || canonical JSON of the event), so an edit,
 * insertion or deletion made afterwards is detectable.
 *
 * The journal stores what it is given: callers redact secrets first.
 * All functions are safe to call from several threads at once.
 */
#ifndef RUNE_JOURNAL_H
#define RUNE_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct rune_journal;

/* Where the log lives: flag (--log) if given, else $RUNE_LOG, else
 * $RUNE_HOME/incidents.db, else $XDG_STATE_HOME/rune/incidents.db, else
 * ~/.local/state/rune/incidents.db. Writes into buf; returns buf. */
const char *rune_journal_default_path(const char *flag, char *buf, size_t len);

/* The default local log, whatever --log and $RUNE_LOG say: where an
 * offline run records, and beside which work directories, locks and
 * reports live when the log is shared. Writes into buf; returns buf. */
const char *rune_journal_local_path(char *buf, size_t len);
/* Whether path names a shared log on PostgreSQL (postgresql://... or
 * postgres://...; docs/teams.md) rather than a SQLite file. */
bool rune_journal_is_shared(const char *path);
/* path as it may be shown: a URL with its password (and user) masked.
 * malloc'd; NULL when out of memory. */
char *rune_journal_shown(const char *path);

/* Opens (creating the file, its directory and the schema if needed).
 * Returns 0, or -1 with a message for a person in err; a shared log that
 * cannot be reached returns RUNE_JOURNAL_UNREACHABLE (err names the URL,
 * its password masked, and suggests --offline). */
#define RUNE_JOURNAL_UNREACHABLE 3
int rune_journal_open(const char *path, struct rune_journal **out, char *err, size_t errlen);

/* Opens an existing log for reading (rune log): never creates the file, its
 * directory or the schema. Returns 0; RUNE_JOURNAL_ABSENT when there is no
 * file at path (nothing recorded yet; *out is NULL, err says so); or -1 with
 * a message for a person in err. */
#define RUNE_JOURNAL_ABSENT 1
int rune_journal_open_read(const char *path, struct rune_journal **out, char *err, size_t errlen);
void rune_journal_close(struct rune_journal *j);

struct rune_incident_rec {
    const char *id;      /* rune_journal_new_id() */
    const char *runbook; /* name */
    const char *title;
    const char *runbook_path;
    const char *runbook_sha256; /* hex of the file's bytes */
    const char *mode;           /* "run" or "dry-run" */
    const char *operator_name;
    const char *host;
    json_t *inputs;         /* borrowed; secrets already masked */
    long long rto_target_s; /* 0 = none */
    long long rpo_target_s;
    long long started_ms; /* wall clock */
    /* the rune running it (runners table): its pid and start
     * (procinfo.h); 0 / NULL: not recorded */
    long long runner_pid;
    const char *runner_start;
};

/* A new incident id: "YYYYMMDD-HHMMSS-xxxx" (UTC, 4 random hex). */
void rune_journal_new_id(char buf[32]);

/* Records the incident's start. 0 on success, 1 when an incident with that
 * id already exists (draw a new id and call again), -1 on any other error. */
int rune_journal_begin(struct rune_journal *j, const struct rune_incident_rec *rec);

struct rune_event {
    const char *stage;     /* NULL for run-level events */
    const char *step;      /* NULL for stage/run-level events */
    int attempt;           /* 0 when not a step attempt */
    const char *kind;      /* see docs/architecture.md: incident.start, stage.start, ... */
    const char *status;    /* NULL, or ok/failed/timeout/skipped/declined/... */
    long long duration_ms; /* -1 = not applicable */
    json_t *detail;        /* borrowed; may be NULL */
    /* on disk (fsync) before rune_journal_event returns, with everything
     * appended before it: the record layer asks it around steps that
     * write, approvals and the incident's start and end. Other events are
     * committed at once (other processes see them, and a killed rune
     * loses none) but share the next durable commit's fsync. */
    bool durable;
    /* committed, and to be on disk before rune does anything the event
     * must precede: the caller forces it with rune_journal_sync, unless a
     * durable event follows at once, whose fsync covers it (a writing
     * step's end and the next writing step's start share one fsync) */
    bool owed;
};

/* The largest event detail (its compact JSON text) the log keeps whole. A
 * larger one is replaced, before it is hashed, by {"truncated": true,
 * "original_bytes": N, "head": "<its first 64 KiB>"}. */
#define RUNE_JOURNAL_DETAIL_MAX (16u << 20)

/* A simulation's log (rune plan): nothing this connection writes is ever
 * forced to disk — no event is durable, and closing it leaves the
 * checkpoint to the next real run — so a plan costs no fsync; its events
 * are committed in batches (rune_journal_flush). */
void rune_journal_set_lazy(struct rune_journal *j);
/* A simulation's events are committed in batches: this commits what is
 * waiting (the run's stage thread calls it every 200 ms, so the log is
 * never held long). Every other call but the history reads does it too. */
void rune_journal_flush(struct rune_journal *j);
/* Forces to disk an event appended `owed` and everything before it, when
 * no durable event has done so since. Nothing when nothing is owed (no
 * fsync). 0 or -1 (rune_journal_error says why). */
int rune_journal_sync(struct rune_journal *j);

/* Appends an event (seq, timestamp and hash assigned here) and commits it.
 * A detail over RUNE_JOURNAL_DETAIL_MAX is stored truncated, as above;
 * any SQLite error fails the append and nothing is stored in its place.
 * Returns the event's seq (>= 1), or -1 on error (message in j's last error). */
long long rune_journal_event(struct rune_journal *j, const char *incident_id,
                             const struct rune_event *ev);

int rune_journal_set_severity(struct rune_journal *j, const char *incident_id,
                              const char *severity);
/* A file the run produced (a backup, a copy): its path, SHA-256, size
 * (bytes < 0: unknown) and the step type that made it. 0, or -1. */
int rune_journal_artifact(struct rune_journal *j, const char *incident_id, const char *step,
                          const char *path, const char *sha256, long long bytes, const char *kind);
int rune_journal_end(struct rune_journal *j, const char *incident_id, const char *outcome,
                     int exit_code, long long ended_ms);

/* ---- Who runs an incident, and what it started ---- */

/* The rune process running an incident, and how far the incident got. */
struct rune_runner {
    long long pid;
    char start[64]; /* procinfo.h */
    char host[256];
    char last_stage[32], last_step[128]; /* of its last step.start ("" none) */
    char last_at[32];                    /* its last event's time */
};
/* 0 with out filled, 1 when none is recorded (a log written before runners
 * were, or no such incident), -1 on error. */
int rune_journal_runner(struct rune_journal *j, const char *incident_id, struct rune_runner *out);
/* Records (or, resuming, replaces) the rune running an incident. 0 or -1. */
int rune_journal_set_runner(struct rune_journal *j, const char *incident_id, long long pid,
                            const char *start);
/* A child a step started (before it runs; ended false) or reaped (ended
 * true: the row of (pid, start) is marked). 0 or -1. */
int rune_journal_child(struct rune_journal *j, const char *incident_id, const char *step,
                       int attempt, long long pid, const char *start, const char *program,
                       bool ended);
/* The children of an incident not marked ended: [{step, attempt, pid,
 * start, program, started_at}] (empty for an old log). Caller owns it;
 * NULL on error. */
json_t *rune_journal_children(struct rune_journal *j, const char *incident_id);

/* The last error message (for the operator). */
const char *rune_journal_error(struct rune_journal *j);

/* For tests: lowers the detail cap (detail_max bytes, 0 leaves it) and
 * SQLite's own length limit on this connection (sqlite3_limit
 * SQLITE_LIMIT_LENGTH, 0 leaves it), so truncation and the handling of
 * SQLite's "too big" error can be exercised with small values. */
void rune_journal_set_limits(struct rune_journal *j, size_t detail_max, int sqlite_length);

/* ---- Reading (rune log) ---- */

/* Incidents newest first, as a JSON array of objects with the incidents
 * table's columns (inputs as an object). runbook may be NULL (no filter);
 * limit <= 0 means all. Caller owns the result. NULL on error. */
json_t *rune_journal_list(struct rune_journal *j, const char *runbook, int limit);

/* Which incidents rune_journal_find returns; a NULL field does not filter. */
struct rune_journal_filter {
    const char *runbook; /* the runbook's name */
    const char *outcome; /* an outcome, or "unfinished" (no end recorded) */
    const char *since;   /* started at or after this ISO-8601 UTC time (text order) */
    int limit;           /* at most this many, newest first; <= 0: all */
};
/* rune_journal_list with every filter. Caller owns the result; NULL on error. */
json_t *rune_journal_find(struct rune_journal *j, const struct rune_journal_filter *f);
/* One incident (object); `events` member holds its events in seq order,
 * detail parsed, and `artifacts` its files. Caller owns the result. NULL
 * both when the id is unknown (rune_journal_error is then "") and on error
 * (rune_journal_error says what went wrong). */
json_t *rune_journal_get(struct rune_journal *j, const char *incident_id);

/* Dry-runs: the outputs of the last successful real run of a runbook's
 * step (new reference, NULL if none), and up to `limit` durations in ms of
 * its successful real runs, newest first (an array, maybe empty). */
json_t *rune_journal_last_outputs(struct rune_journal *j, const char *runbook, const char *step);
json_t *rune_journal_durations(struct rune_journal *j, const char *runbook, const char *step,
                               int limit);
/* Dry-runs: the work of up to `limit` successful real runs of step type
 * `uses` (steps and rune.run calls, any runbook) on `host` whose size was
 * measured in `unit`, newest first: [[size, duration_ms], ...] (maybe
 * empty). */
json_t *rune_journal_work(struct rune_journal *j, const char *uses, const char *host,
                          const char *unit, int limit);

/* ---- Tamper evidence (rune log verify, reports) ---- */

/* What rune_journal_verify found first. */
enum rune_chain_problem {
    RUNE_CHAIN_INTACT = 0,
    RUNE_CHAIN_CHANGED,   /* an event's content no longer matches its hash */
    RUNE_CHAIN_INSERTED,  /* an event that was never chained in its place */
    RUNE_CHAIN_DELETED,   /* an event is missing (a seq gap, a broken link, a lost end) */
    RUNE_CHAIN_REORDERED, /* an event is chained after one that now follows it */
    RUNE_CHAIN_RECORD,    /* the incident row disagrees with its chained end event */
    RUNE_CHAIN_LINK,      /* its first event does not link to the incident begun before it */
};

struct rune_chain_result {
    enum rune_chain_problem problem;
    long long events;   /* events read */
    long long seq;      /* the first event found wrong (0 when intact or RECORD) */
    char head_hash[65]; /* the last event's stored hash; "" when there is none */
    char message[512];  /* what was found, for a person ("" when intact) */
    /* where its first event links to: the incident begun before it and that
     * incident's event (linked_seq); "" / 0 for an incident written before
     * incidents were linked (its first event links to 64 zeros) */
    char linked_to[64];
    long long linked_seq;
};

/* Recomputes an incident's hash chain from the stored rows with the same
 * canonical form the writer used, and names the first event that was
 * changed, inserted, deleted or reordered; then checks its first event's
 * link to the incident begun before it (RUNE_CHAIN_LINK names the gap). Returns 0 (res says whether
 * the chain is intact), RUNE_JOURNAL_UNKNOWN when there is no such incident, or -1 on error
 * (rune_journal_error says what went wrong). */
#define RUNE_JOURNAL_UNKNOWN 2
int rune_journal_verify(struct rune_journal *j, const char *incident_id,
                        struct rune_chain_result *res);
/* "intact", "changed", "inserted", "deleted", "reordered", "record", "link". */
const char *rune_chain_problem_name(enum rune_chain_problem p);

/* The head of the log: the last event of the incident begun last, which
 * the next incident's first event will link to. A team keeps it elsewhere
 * (a ticket, a chat message) and checks later that the log still holds it
 * (rune_journal_find_hash). Returns 0, 1 when the log holds no event, -1
 * on error. */
struct rune_log_head {
    char incident[64];
    long long seq;
    char hash[65];
    char at[32];
};
int rune_journal_head(struct rune_journal *j, struct rune_log_head *out);
/* The event whose hash is hash: 0 with out filled, 1 when no event has
 * it, -1 on error. */
int rune_journal_find_hash(struct rune_journal *j, const char *hash, struct rune_log_head *out);

/* Which server and database hold a shared log, to refuse a runbook whose
 * target is that database (engine/run/logtarget.c): the server's
 * system_identifier (pg_control_system(); "" when the role may not read
 * it) and current_database(), and the host, port and database the
 * connection went to. */
struct rune_db_identity {
    char sysid[32];
    char dbname[128];
    char host[256];
    char port[16];
};
/* 0 with out filled; 1 for a log in a file (no database); -1 on error. */
int rune_journal_identity(struct rune_journal *j, struct rune_db_identity *out);

/* rune log push: uploads the finished incidents of the local log at
 * local_path not yet uploaded to the shared log at url, each checked
 * intact first, chained into the shared log in local order, marked
 * uploaded locally (journal_push.c; docs/teams.md). 0 (res says what was
 * done), RUNE_JOURNAL_ABSENT (no local log), RUNE_JOURNAL_UNREACHABLE,
 * or -1; err is for a person and never holds the URL's password. */
struct rune_push_result {
    int pushed;     /* incidents uploaded now */
    int unfinished; /* still running (or abandoned): left for a later push */
    char head[65];  /* the shared log's head after the push */
};
int rune_journal_push(const char *local_path, const char *url, struct rune_push_result *res,
                      char *err, size_t errlen);

/* For tests and `rune log`: the underlying file path (a shared log's URL
 * with its password masked). */
const char *rune_journal_path(struct rune_journal *j);

#endif
