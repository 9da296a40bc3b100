/*
 * sqlite.h — what the parts of the sqlite.* family share: sqlite.c (the
 * family's table and the helpers below), sqlite_check.c (the checks),
 * sqlite_backup.c (backup, restore, compact) and sqlite_swap.c (a new
 * database file put in the place of a live one).
 *
 * Internal to the family: only its files include it (also
 * sqlite_snapshot.c, one moment of a live database for a backup, and
 * sqlite_describe.c, row counts, hashes and schema of a snapshot).
 */
#ifndef RUNE_SQLITE_H
#define RUNE_SQLITE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "rowhash.h"
#include "step.h"

/* ---- the steps (sqlite_check.c, sqlite_backup.c) ---- */

int rune_sqlite_health_run(struct rune_call *c);
int rune_sqlite_health_plan(struct rune_call *c);
int rune_sqlite_integrity_run(struct rune_call *c);
int rune_sqlite_integrity_plan(struct rune_call *c);
int rune_sqlite_query_run(struct rune_call *c);
int rune_sqlite_query_plan(struct rune_call *c);
int rune_sqlite_fingerprint_run(struct rune_call *c);
int rune_sqlite_fingerprint_plan(struct rune_call *c);
int rune_sqlite_counts_run(struct rune_call *c);
int rune_sqlite_counts_plan(struct rune_call *c);
int rune_sqlite_locks_run(struct rune_call *c);
int rune_sqlite_locks_plan(struct rune_call *c);
int rune_sqlite_stress_run(struct rune_call *c);
int rune_sqlite_stress_plan(struct rune_call *c);
int rune_sqlite_backup_run(struct rune_call *c);
int rune_sqlite_backup_plan(struct rune_call *c);
int rune_sqlite_restore_run(struct rune_call *c);
int rune_sqlite_restore_plan(struct rune_call *c);
int rune_sqlite_compact_run(struct rune_call *c);
int rune_sqlite_compact_plan(struct rune_call *c);

/* ---- shared by the family (sqlite.c) ---- */

/* A path parameter's value, absolute against the directory rune was
 * started in, into out. */
void rune_sqlite_resolve(struct rune_call *c, const char *path, char *out, size_t len);

/* Every statement on db stops (SQLITE_INTERRUPT) once the call's deadline
 * has passed or the run is being cancelled. */
void rune_sqlite_watch(sqlite3 *db, struct rune_call *c);

/* Fails the call of a step whose work was stopped by a timeout or Ctrl-C,
 * saying what was left undone (fmt with one %s, arg); returns the status. */
int rune_sqlite_stopped(struct rune_call *c, const char *fmt, const char *arg);

/* sqlite3_open_v2 of an existing database, made sure to open the file that
 * is there: where another user can change the path's directories no
 * symlink is followed (SQLITE_OPEN_NOFOLLOW, trust.h), and the file SQLite
 * opened is checked to be the one rune opened itself without following
 * links (rune_opened_is). *opened (may be NULL) is that file's fstat: its
 * owner and mode, not an earlier stat's, are what copies may inherit. 0,
 * or -1 with a reason in why (*db NULL). */
int rune_sqlite_open_file(const char *path, int flags, struct stat *opened, sqlite3 **db, char *why,
                          size_t whylen);

/* Opens path without creating it, with the call's busy_timeout, watched
 * (rune_sqlite_watch). NULL with a reason in why. `opened` as above. */
sqlite3 *rune_sqlite_open_id(struct rune_call *c, const char *path, bool readonly,
                             struct stat *opened, char *why, size_t whylen);
sqlite3 *rune_sqlite_open(struct rune_call *c, const char *path, bool readonly, char *why,
                          size_t whylen);

/* rune_sqlite_open of the database the "path" parameter names (its
 * absolute path into path), or NULL after failing the call. */
sqlite3 *rune_sqlite_open_path(struct rune_call *c, bool readonly, char *path, size_t len);

/* User tables, in name order (sqlite_% internal tables excluded); a new
 * array, or NULL with why. */
json_t *rune_sqlite_table_names(sqlite3 *db, char *why, size_t whylen);

/* SQL text `fmt` (one "%w" inside double quotes) with the table name put
 * in as a quoted identifier. Free with sqlite3_free; NULL when out of
 * memory. */
char *rune_sqlite_sql_for(const char *fmt, const char *table);

/* The integer a PRAGMA returns ("PRAGMA page_size", "PRAGMA page_count"),
 * or -1. */
long long rune_sqlite_pragma_int(sqlite3 *db, const char *sql);

/* Dry-run: "would VERB PATH". */
int rune_sqlite_plan_path(struct rune_call *c, const char *verb);

/* Adds the row s stands on to an order-independent content hash. */
void rune_sqlite_hash_row(sqlite3_stmt *s, struct rune_rowhash *h);

/* The directory of an absolute path: "/a/b/c" → "/a/b", "/c" → "/". */
void rune_sqlite_dir_part(const char *path, char *out, size_t len);

/* ---- one moment of a live database, for a backup (sqlite_snapshot.c) ---- */

#define RUNE_SQLITE_READERS_MAX 9 /* connections of a snapshot: the pages' and 8 describing */

/* A snapshot being read: n read-only connections in read transactions that
 * all see the same moment. The pages are read through db[0]'s file; the
 * others describe it (rune_sqlite_describe_start). */
struct rune_sqlite_snapshot {
    sqlite3 *db[RUNE_SQLITE_READERS_MAX];
    int n;
    const char *source;        /* the live database (borrowed) */
    char *copy;                /* the private copy read instead of the live file, or NULL */
    char point[RUNE_ISO_LEN];  /* when the snapshot was taken (UTC) */
    unsigned char header[100]; /* the file's first bytes as the pages were read */
    bool header_read;
};

struct rune_artifact_writer;

/* Connections to describe a snapshot with: `requested` (the step's
 * threads), else one per CPU; at most RUNE_SQLITE_READERS_MAX - 1. */
int rune_sqlite_readers(int requested);

/* Takes a snapshot of the live database db (`src`: the file rune checked)
 * with 1 + readers connections: straight from the file when it alone holds
 * the snapshot, else through a private copy made with the backup API in
 * the scratch directory `scratch` (scratch.h; see sqlite_snapshot.c). Uses
 * the call's busy_timeout. 0; 1 when cancelled; -1 with a reason. End it
 * with rune_sqlite_snapshot_release (also after a failure). */
int rune_sqlite_snapshot_take(struct rune_call *c, const char *db, const struct stat *src,
                              const char *scratch, int readers, struct rune_sqlite_snapshot *s,
                              char *why, size_t whylen);

/* The bytes of the snapshot's pages (page_count x page_size): what
 * rune_sqlite_snapshot_stream hands over, and the backup's progress
 * counts up to. -1 when SQLite cannot tell. */
long long rune_sqlite_snapshot_bytes(struct rune_sqlite_snapshot *s);

/* Hands every page of the snapshot to w, in order, as a rollback-journal
 * database file (a WAL header's version bytes made 1). Polls the call and
 * `stop` (may be NULL) between blocks. 0; 1 when stopped; -1 with a reason
 * (w is then failed: abort it). */
int rune_sqlite_snapshot_stream(struct rune_call *c, struct rune_sqlite_snapshot *s,
                                struct rune_artifact_writer *w, bool (*stop)(void *), void *arg,
                                char *why, size_t whylen);

/* Whether the file read still starts as it did when its first page was
 * streamed. In rollback-journal mode every commit changes the header (its
 * change counter), so this catches a writer that got in although the
 * snapshot's locks should have kept it out: closing any descriptor of the
 * database elsewhere in this process drops them all. Call it once the
 * pages and the tables are read. 0, or -1 with why. */
int rune_sqlite_snapshot_unchanged(struct rune_sqlite_snapshot *s, char *why, size_t whylen);

/* Ends the transactions, closes the connections, removes the copy. Safe
 * to call twice. */
void rune_sqlite_snapshot_release(struct rune_sqlite_snapshot *s);

/* ---- what a manifest says of a database (sqlite_describe.c) ---- */

struct rune_sqlite_describe;

/* Starts describing the database the n connections dbs[0..n) read, each in
 * a read transaction of the same snapshot: the user tables are listed on
 * dbs[0], then a thread per connection (no more than there are tables)
 * takes the next table until none is left, counting its rows and, with
 * `hashes`, hashing them (rowhash.h). `what` names the database in
 * messages; dbs and what are borrowed until finish. 0, or -1 with why. */
int rune_sqlite_describe_start(struct rune_sqlite_describe **out, struct rune_call *c,
                               sqlite3 **dbs, int n, bool hashes, const char *what, char *why,
                               size_t whylen);

/* A table already failed (the others are stopping). */
bool rune_sqlite_describe_failed(struct rune_sqlite_describe *d);

/* Stops the threads at their next row (their work is no longer wanted):
 * finish then returns NULL. */
void rune_sqlite_describe_stop(struct rune_sqlite_describe *d);

/* Waits for the threads; returns {"tables": {name: rows}, "table_hashes":
 * {name: hash} (with hashes), "schema_fingerprint": hex} (new reference),
 * the schema read on dbs[0]; or NULL with why (the caller asks
 * rune_call_cancelled whether it was stopped). Frees d. */
json_t *rune_sqlite_describe_finish(struct rune_sqlite_describe *d, char *why, size_t whylen);

/* ---- replacing a live database (sqlite_swap.c) ---- */

/* The database a restore or compaction replaces: a regular file, or none
 * (*exists false). A symlink is refused (the call failed). Returns a
 * rune_status. */
int rune_sqlite_live_file(struct rune_call *c, const char *db, struct stat *st, bool *exists);

/* The new file `path` (in a scratch directory) takes the owner, group and
 * mode of `like` (the database it replaces; NULL: none) and is flushed to
 * disk. 0, or -1 with a reason. */
int rune_sqlite_finish_copy(const char *path, const struct stat *like, char *why, size_t whylen);

/* Puts `fresh` in db's place with one rename(), the live database brought
 * to rest first; with `keep`, the current file is kept as the safety copy
 * (its name in `safety`, else ""). Returns 0; 1 when the database is in use
 * (nothing changed); -1 with a reason in why. */
int rune_sqlite_swap_in(struct rune_call *c, const char *db, bool exists, const char *fresh,
                        bool keep, char *safety, size_t safety_len, char *why, size_t whylen);

/* A swap_in that failed (sw, why) as the step's error; `again` says what
 * to do once the application holding the database (sw > 0) is stopped.
 * Returns the status. */
int rune_sqlite_swap_failed(struct rune_call *c, const char *why, int sw, const char *again);

#endif
