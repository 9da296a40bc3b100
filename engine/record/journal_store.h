/*
 * journal_store.h — what a storage backend of the incident log implements.
 *
 * journal.c is the front every caller uses (journal.h); it keeps what does
 * not depend on where the log is stored: where it lives by default, new
 * incident ids, the cap on an event's detail, the lock around every call,
 * the last error, and the hash chain (journal_chain.c: the canonical form,
 * SHA-256, and verification over stored rows). A backend only stores and
 * reads rows. SQLite (journal_sqlite.c, journal_sqlite_read.c) is the
 * first; a shared log on PostgreSQL (journal_pg.c, journal_pg_read.c) the
 * second, filling in the same table of functions.
 *
 * Not for step families or commands: only journal*.c include this.
 */
#ifndef RUNE_JOURNAL_STORE_H
#define RUNE_JOURNAL_STORE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "journal.h"

/* How every JSON value the log stores, and every canonical event, is
 * serialised and read back. Part of the hash chain's definition: never
 * change them. */
#define RUNE_JOURNAL_STORE_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
#define RUNE_JOURNAL_LOAD_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* A SHA-256 in lowercase hex, and the link of an incident's first event. */
#define RUNE_HASH_HEX 64
#define RUNE_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* One stored event as the verifier reads it back (journal_chain.c). */
struct rune_chain_row {
    long long seq, attempt, duration_ms; /* duration_ms -1 for NULL */
    char *at, *stage, *step, *kind, *status, *detail, *prev, *hash;
};
void rune_chain_rows_free(struct rune_chain_row *rows, size_t n);

/* Where an incident's chain hangs in the log: its first event's link,
 * the incident begun just before it, the event that link names. */
struct rune_chain_link {
    char prev[RUNE_HASH_HEX + 1]; /* its first event's prev_hash ("" when it has none) */
    char before[64];              /* the incident begun just before it ("": none) */
    char target[64];              /* the incident holding the event named by prev ("": none) */
    long long target_seq;
    bool target_later;  /* that event was written after this incident's first */
    bool linked_before; /* an incident begun before it starts with a link */
};

/*
 * The table a backend fills in. Every function is called with j->mu held,
 * so a backend needs no lock of its own within one process; it must make
 * `append` atomic against other processes writing the same log. On error
 * a function returns -1 (or NULL) with the reason in j->err
 * (rune_journal_fail), naming the log and what to do.
 */
struct rune_journal_store {
    const char *name; /* "sqlite" */
    /* The incident's row. 0; 1 when an incident with that id exists. */
    int (*begin)(struct rune_journal *j, const struct rune_incident_rec *rec);
    /* Appends one event whose detail is the text to store (NULL: none):
     * takes the next seq and the previous event's hash, computes the new
     * hash with rune_chain_hash, inserts, commits. Returns the seq. */
    long long (*append)(struct rune_journal *j, const char *incident_id,
                        const struct rune_event *ev, const char *detail);
    int (*set_severity)(struct rune_journal *j, const char *incident_id, const char *severity);
    int (*artifact)(struct rune_journal *j, const char *incident_id, const char *step,
                    const char *path, const char *sha256, long long bytes, const char *kind);
    int (*end)(struct rune_journal *j, const char *incident_id, const char *outcome, int exit_code,
               const char *ended_at);
    /* Reading, as journal.h describes rune_journal_find and _get. */
    json_t *(*find)(struct rune_journal *j, const struct rune_journal_filter *f);
    json_t *(*get)(struct rune_journal *j, const char *incident_id);
    /* What verification reads, as of one moment: the incident's row
     * (*inc, NULL with j->err empty when unknown) and its events as stored
     * in seq order (*rows, freed with rune_chain_rows_free). 0 or -1. */
    int (*chain_rows)(struct rune_journal *j, const char *incident_id, json_t **inc,
                      struct rune_chain_row **rows, size_t *n);
    /* The link of the incident's first event (rune_chain_link). 0 or -1. */
    int (*link)(struct rune_journal *j, const char *incident_id, struct rune_chain_link *out);
    /* The log's head (journal.h), or the event with a given hash (hash
     * non-NULL). 0, 1 when there is none, -1. */
    int (*head)(struct rune_journal *j, const char *hash, struct rune_log_head *out);
    /* History for dry-runs (journal.h). */
    json_t *(*last_outputs)(struct rune_journal *j, const char *runbook, const char *step);
    json_t *(*durations)(struct rune_journal *j, const char *runbook, const char *step, int limit);
    json_t *(*work)(struct rune_journal *j, const char *uses, const char *host, const char *unit,
                    int limit);
    /* The runners and children tables (journal.h). */
    int (*runner)(struct rune_journal *j, const char *incident_id, struct rune_runner *out);
    int (*set_runner)(struct rune_journal *j, const char *incident_id, long long pid,
                      const char *start);
    int (*child)(struct rune_journal *j, const char *incident_id, const char *step, int attempt,
                 long long pid, const char *start, const char *program, bool ended);
    json_t *(*children)(struct rune_journal *j, const char *incident_id);
    /* A simulation's log: no write of this connection is forced to disk,
     * and its events may wait in an open transaction until flush. */
    void (*set_lazy)(struct rune_journal *j);
    void (*flush)(struct rune_journal *j);
    /* rune_journal_sync: what an `owed` event left unforced, to disk. */
    int (*sync)(struct rune_journal *j);
    /* For tests: the store's own limit on a value's length (0 leaves it). */
    void (*set_length_limit)(struct rune_journal *j, int length);
    /* Which database server and database hold the log (a shared log
     * only; NULL for a file). 0 or -1. */
    int (*identity)(struct rune_journal *j, struct rune_db_identity *out);
    /* An incident uploaded by rune log push: the link and head its chain
     * had in the local log, and how many events it had then. 1 with them,
     * 0 when it was not uploaded, -1. NULL: a log nothing is pushed to. */
    int (*upload)(struct rune_journal *j, const char *incident_id, char prev[RUNE_HASH_HEX + 1],
                  char head[RUNE_HASH_HEX + 1], long long *events);
    /* Frees the backend's part; the front frees the rest. */
    void (*close)(struct rune_journal *j);
};

/* The part of an open log every backend shares. A backend's own state
 * follows it (struct sqlite_journal embeds this first). */
struct rune_journal {
    const struct rune_journal_store *store;
    pthread_mutex_t mu; /* held around every store call and err */
    char *path;         /* what the operator named: a file, later a URL */
    size_t detail_max;  /* largest detail kept whole (RUNE_JOURNAL_DETAIL_MAX or lower) */
    char err[1024];     /* the last failing call's message, from any thread */
};

/* Sets j->err; returns -1. */
int rune_journal_fail(struct rune_journal *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same into a caller's buffer (no journal yet); err may be NULL. */
void rune_journal_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Makes the shared part; the backend allocates size bytes (its struct)
 * and fills in its own fields. NULL with err set when out of memory. */
struct rune_journal *rune_journal_alloc(const struct rune_journal_store *store, size_t size,
                                        const char *path, char *err, size_t errlen);

/* ---- The hash chain (journal_chain.c) ---- */

/* hash = hex SHA-256(prev || canonical form of the event) into out.
 * Returns 0; RUNE_CHAIN_NO_FORM when the canonical form cannot be made
 * (detail_json not JSON, a field not UTF-8, no memory), RUNE_CHAIN_NO_SHA
 * when SHA-256 failed (OpenSSL); out is then "". */
#define RUNE_CHAIN_NO_FORM (-1)
#define RUNE_CHAIN_NO_SHA (-2)
int rune_chain_hash(const char *prev, const char *incident_id, long long seq, const char *at,
                    const char *stage, const char *step, long long attempt, const char *kind,
                    const char *status, long long duration_ms, const char *detail_json,
                    char out[RUNE_HASH_HEX + 1]);
/* The same hash as the writer computes it: detail_dumped is the detail as
 * journal.c dumped it (jansson, RUNE_JOURNAL_STORE_FLAGS), used as it is
 * instead of parsed and dumped again. Gives rune_chain_hash's bytes. */
int rune_chain_hash_new(const char *prev, const char *incident_id, long long seq, const char *at,
                        const char *stage, const char *step, long long attempt, const char *kind,
                        const char *status, long long duration_ms, const char *detail_dumped,
                        char out[RUNE_HASH_HEX + 1]);
/* What a backend's append calls: the event's hash into out, or -1 with
 * j->err naming the event and the incident. detail_as_dumped as for
 * rune_chain_hash_new (true) or rune_chain_hash (false). */
int rune_chain_event_hash(struct rune_journal *j, const char *prev, const char *incident_id,
                          long long seq, const char *at, const struct rune_event *ev,
                          const char *detail, bool detail_as_dumped, char out[RUNE_HASH_HEX + 1]);
/* The canonical form itself (malloc'd; NULL as RUNE_CHAIN_NO_FORM), for
 * the test that the writer's and the verifier's ways agree. */
char *rune_chain_form(const char *incident_id, long long seq, const char *at, const char *stage,
                      const char *step, long long attempt, const char *kind, const char *status,
                      long long duration_ms, const char *detail_json, bool detail_as_dumped);
/* Checks rows (an incident's events in seq order) against their chain and
 * the incident row inc; fills res (events, head_hash, problem...). */
void rune_chain_verify(const char *incident_id, json_t *inc, const struct rune_chain_row *rows,
                       size_t n, struct rune_chain_result *res);
/* Checks an intact incident's link to the incident begun before it:
 * its first event names that incident's event, or (a log written before
 * incidents were linked) 64 zeros with no linked incident before it. */
void rune_chain_check_link(const char *incident_id, const struct rune_chain_link *l,
                           struct rune_chain_result *res);
/* Checks an intact uploaded incident's chain as it was in the local log:
 * its first `events` rows hashed from prev must end at head. */
void rune_chain_check_upload(const char *incident_id, const struct rune_chain_row *rows, size_t n,
                             const char *prev, const char *head, long long events,
                             struct rune_chain_result *res);

/* ---- Backends ---- */

/* SQLite: the file at path, created with its directories (writer) or
 * only opened (reader). 0, or -1 with err. */
int rune_journal_sqlite_open(const char *path, bool writer, struct rune_journal **out, char *err,
                             size_t errlen);

#endif
