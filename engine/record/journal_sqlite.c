/*
 * journal_sqlite.c — the incident log in one SQLite file (WAL), the first
 * backend behind journal_store.h: the connection and its settings, the
 * schema, and every write. Reads are in journal_sqlite_read.c (a
 * runbook's history for dry-runs in journal_sqlite_history.c).
 *
 * Written as things happen (one transaction per event) so a killed rune
 * loses nothing that finished. Group commit: the connection runs with
 * synchronous=NORMAL, where a WAL commit is not fsynced, and after the
 * commit of an event the caller marks durable the WAL is fsynced (what
 * synchronous=FULL would do inside the commit: force_wal), which makes it
 * and every event before it safe from a power cut. The setting is never
 * switched: a PRAGMA is parsed again each time it runs, twice a step. The schema is
 * schemas/incident-log.sql, embedded at build time; writers apply it on
 * every open (it is idempotent), readers never do.
 *
 * This file stores what it is given; redaction is the caller's job, the
 * hash is journal_chain.c's.
 */
#include "journal_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"

#ifndef RUNE_VERSION
#define RUNE_VERSION "unknown"
#endif

/* Generated from schemas/incident-log.sql by cmake/embed.cmake. */
extern const char rune_incident_log_sql[];

/* The newest schema this code reads and writes (meta.schema_version). */
#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 10000

/* What an operator can do about an SQLite failure. */
static const char *hint(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "another process has held the log locked for over 10s; retry when it finishes, "
               "or pass --log PATH";
    case SQLITE_FULL:
        return "the disk is full; free space, or pass --log PATH";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return "the file is damaged or not a rune incident log; move it aside with its -wal and "
               "-shm files, or pass --log PATH";
    case SQLITE_CONSTRAINT:
        return "this is a bug in the caller; please report it";
    case SQLITE_TOOBIG:
        return "a value is larger than this SQLite accepts (SQLITE_LIMIT_LENGTH); nothing was "
               "recorded in its place; please report it";
    default:
        return "check the file and its directory exist and are writable, or pass --log PATH";
    }
}

int rune_sqlite_fail(struct rune_journal *j, const char *what)
{
    sqlite3 *db = rune_sqlite_db(j);
    return rune_journal_fail(j, "cannot %s in incident log %s: %s; %s", what, j->path,
                             sqlite3_errmsg(db), hint(sqlite3_extended_errcode(db)));
}

int rune_sqlite_exec(struct rune_journal *j, const char *sql, const char *what)
{
    if (sqlite3_exec(rune_sqlite_db(j), sql, NULL, NULL, NULL) != SQLITE_OK)
        return rune_sqlite_fail(j, what);
    return 0;
}

sqlite3_stmt *rune_sqlite_stmt(struct rune_journal *j, enum rune_sqlite_stmt_id id, const char *sql)
{
    struct sqlite_journal *s = (struct sqlite_journal *)j;

    if (!s->stmts[id] && sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                            &s->stmts[id], NULL) != SQLITE_OK)
        return NULL;
    return s->stmts[id];
}

void rune_sqlite_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

int rune_sqlite_run(struct rune_journal *j, enum rune_sqlite_stmt_id id, const char *sql,
                    const char *what)
{
    sqlite3_stmt *st = rune_sqlite_stmt(j, id, sql);
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

    if (st)
        rune_sqlite_done(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return rune_sqlite_fail(j, what);
    return 0;
}

int rune_sqlite_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* ---- Opening ---- */

/* mkdir -p of the directories above the file at path, mode 0700 (the log
 * records what operators did to production; it is nobody else's business). */
static int make_parents(const char *path, char *err, size_t errlen)
{
    char *dir = strdup(path);
    int rc = 0;

    if (!dir) {
        rune_journal_seterr(err, errlen,
                            "no memory to create the directories of incident log %s; free "
                            "memory on this host and run again",
                            path);
        return -1;
    }
    for (char *p = strchr(dir + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            rune_journal_seterr(err, errlen,
                                "cannot create directory %s for incident log %s: %s; create "
                                "it, or pass --log PATH",
                                dir, path, strerror(errno));
            rc = -1;
            break;
        }
        *p = '/';
    }
    free(dir);
    return rc;
}

/* Creates the file owner-only before SQLite sees it (SQLite would use 0644;
 * its -wal and -shm files copy the database file's mode). */
static int create_private(const char *path, char *err, size_t errlen)
{
    /* A WAL with no log beside it belongs to a log moved or deleted
     * without it: a new log made here would take its frames for its own
     * (the WAL is kept between runs, setup_writer). Refused, not removed:
     * it may be all someone has of that log. */
    char wal[PATH_MAX + 8];
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT &&
        snprintf(wal, sizeof wal, "%s-wal", path) < (int)sizeof wal && lstat(wal, &st) == 0) {
        rune_journal_seterr(err, errlen,
                            "incident log %s does not exist but its write-ahead log %s does: the "
                            "log was moved or deleted without it. Put it back beside its log, "
                            "or move %s and %s-shm away too, then run again",
                            path, wal, wal, path);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        rune_journal_seterr(err, errlen,
                            "cannot open incident log %s for writing: %s; check the directory "
                            "exists and is writable, or pass --log PATH",
                            path, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/* Runs a one-value query (a pragma, a meta lookup) and copies the text. */
static int query_text(struct rune_journal *j, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(rune_sqlite_db(j), sql, -1, &st, NULL);
    out[0] = '\0';
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, outlen, "%s", t ? (const char *)t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

static int check_version(struct rune_journal *j)
{
    char v[32];
    if (query_text(j, "SELECT value FROM meta WHERE key = 'schema_version'", v, sizeof v) != 0) {
        if (strstr(sqlite3_errmsg(rune_sqlite_db(j)), "no such table"))
            return rune_journal_fail(j,
                                     "%s is not a rune incident log (it has no meta table); "
                                     "pass --log with the right file",
                                     j->path);
        return rune_sqlite_fail(j, "read the schema version");
    }
    if (v[0] == '\0')
        return rune_journal_fail(j,
                                 "%s is not a rune incident log (no schema_version); pass "
                                 "--log with the right file",
                                 j->path);
    if (atoi(v) > SCHEMA_VERSION)
        return rune_journal_fail(j,
                                 "incident log %s has schema version %s, newer than this rune "
                                 "(%s) understands (%d); upgrade rune",
                                 j->path, v, RUNE_VERSION, SCHEMA_VERSION);
    return 0;
}

/* Settings for a writer: durable commits, WAL so readers (rune log, a
 * report) never block the run, and the schema. */
static int setup_writer(struct rune_journal *j)
{
    char mode[16];

    if (query_text(j, "PRAGMA journal_mode=WAL", mode, sizeof mode) != 0)
        return rune_sqlite_fail(j, "switch to WAL mode");
    if (strcmp(mode, "wal") != 0)
        return rune_journal_fail(j,
                                 "cannot switch incident log %s to WAL mode (it stays in %s "
                                 "mode); put the log on a local filesystem with --log PATH",
                                 j->path, mode);
    if (rune_sqlite_exec(j, "PRAGMA synchronous=NORMAL", "set synchronous=NORMAL") != 0)
        return -1;
    /* The WAL file is kept when the last connection closes (after its
     * checkpoint, so the database file alone still holds everything):
     * the next run writes over its blocks instead of growing a new file,
     * so a durable commit's fsync writes the data, not the file's size
     * (and, for a new file, the directory) too. A kept WAL still holds
     * its frames, which the next open reads back: the run's end starts
     * it over first (sqlite_end). */
    int persist = 1;
    sqlite3_file_control(rune_sqlite_db(j), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    if (rune_sqlite_exec(j, "BEGIN IMMEDIATE", "start the schema transaction") != 0)
        return -1;
    if (sqlite3_exec(rune_sqlite_db(j), rune_incident_log_sql, NULL, NULL, NULL) != SQLITE_OK) {
        rune_sqlite_fail(j, "create the schema");
        sqlite3_exec(rune_sqlite_db(j), "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (rune_sqlite_exec(j, "COMMIT", "commit the schema") != 0) {
        sqlite3_exec(rune_sqlite_db(j), "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static const struct rune_journal_store sqlite_store;

/* The connection, its settings, and (writer) the schema. */
static int open_db(const char *path, int flags, bool writer, struct rune_journal **out, char *err,
                   size_t errlen)
{
    struct rune_journal *j =
        rune_journal_alloc(&sqlite_store, sizeof(struct sqlite_journal), path, err, errlen);
    struct sqlite_journal *s = (struct sqlite_journal *)j;
    int rc;

    if (!j)
        return -1;
    rc = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rune_journal_seterr(err, errlen,
                            "cannot open incident log %s: %s; check the directory exists and is "
                            "writable, or pass --log PATH",
                            path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        rune_journal_close(j);
        return -1;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* A detail at the cap must still fit SQLite's own limit with the rest
     * of its row; a SQLite built with a lower limit lowers the cap. */
    int limit = sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, -1);
    if (limit > 0 && (size_t)limit / 2 < j->detail_max)
        j->detail_max = (size_t)limit / 2;
    if (rune_sqlite_exec(j, "PRAGMA foreign_keys=ON", "enable foreign keys") != 0 ||
        (writer && setup_writer(j) != 0) || check_version(j) != 0) {
        rune_journal_seterr(err, errlen, "%s", j->err);
        rune_journal_close(j);
        return -1;
    }
    *out = j;
    return 0;
}

int rune_journal_sqlite_open(const char *path, bool writer, struct rune_journal **out, char *err,
                             size_t errlen)
{
    struct stat sb;

    if (writer) {
        if (make_parents(path, err, errlen) != 0 || create_private(path, err, errlen) != 0)
            return -1;
        return open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, true, out, err, errlen);
    }
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) {
            rune_journal_seterr(err, errlen, "no incidents recorded yet in %s", path);
            return RUNE_JOURNAL_ABSENT;
        }
        rune_journal_seterr(err, errlen,
                            "cannot read incident log %s: %s; check its permissions, or pass "
                            "--log PATH",
                            path, strerror(errno));
        return -1;
    }
    /* READWRITE without CREATE: never makes the file, yet lets SQLite create
     * the -shm it needs to read a WAL database (it falls back to read-only
     * by itself when the file is write-protected). */
    return open_db(path, SQLITE_OPEN_READWRITE, false, out, err, errlen);
}

static void sqlite_flush(struct rune_journal *j);

/* A simulation's connection never checkpoints (sqlite_set_lazy), so each
 * plan left its frames in the WAL for the next real run: plans in a row
 * (CI, `rune test`) grew it without bound — 12 MB a 1,000-step plan — and
 * every later open read all of it again to rebuild the WAL's index. Past
 * the size at which SQLite's own autocheckpoint would have run (1,000
 * pages), the closing plan checkpoints like a real run does: with
 * synchronous=FULL, whose fsyncs of the WAL and then the database file
 * keep other runs' events safe before the WAL is reset. Small plans still
 * force nothing to disk. The frames are counted by SQLite's WAL hook (the
 * file's size says nothing: it is kept, at its largest, between runs). */
#define LAZY_WAL_MAX 1000

static int count_frames(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((struct sqlite_journal *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

static void lazy_checkpoint(struct sqlite_journal *s)
{
    if (s->wal_frames <= LAZY_WAL_MAX)
        return;
    if (sqlite3_exec(s->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
        return;
    /* the last connection to close checkpoints and removes the WAL; when a
     * real run still has the log open, its own autocheckpoint will */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
    sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

static void sqlite_close(struct rune_journal *j)
{
    struct sqlite_journal *s = (struct sqlite_journal *)j;

    sqlite_flush(j);
    rune_sqlite_write_ended(j); /* (a run ends with an event: none are left) */
    free(s->ended);
    if (s->lazy)
        lazy_checkpoint(s);
    rune_sqlite_history_drop(j);
    for (int i = 0; i < RUNE_SQ_N; i++)
        sqlite3_finalize(s->stmts[i]);
    sqlite3_close(rune_sqlite_db(j));
}

static void sqlite_set_length_limit(struct rune_journal *j, int length)
{
    sqlite3_limit(rune_sqlite_db(j), SQLITE_LIMIT_LENGTH, length);
}

/* ---- Writing ---- */

static int sqlite_begin(struct rune_journal *j, const struct rune_incident_rec *rec)
{
    static const char sql[] =
        "INSERT INTO incidents (id, runbook, title, runbook_path, runbook_sha256, mode, "
        "operator, host, inputs_json, started_at, rto_target_s, rpo_target_s, rune_version) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
    sqlite3 *db = rune_sqlite_db(j);
    char started[RUNE_ISO_LEN];
    char *inputs = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (rec->inputs && !(inputs = json_dumps(rec->inputs, RUNE_JOURNAL_STORE_FLAGS))) {
        rune_journal_fail(j, "cannot record incident %s: its inputs cannot be encoded as JSON",
                          rec->id);
        goto out;
    }
    rune_clock_iso(started, rec->started_ms > 0 ? rec->started_ms : rune_clock_wall_ms());
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rune_sqlite_fail(j, "prepare to record an incident");
        goto out;
    }
    if (rune_sqlite_bind_text(st, 1, rec->id) || rune_sqlite_bind_text(st, 2, rec->runbook) ||
        rune_sqlite_bind_text(st, 3, rec->title) ||
        rune_sqlite_bind_text(st, 4, rec->runbook_path) ||
        rune_sqlite_bind_text(st, 5, rec->runbook_sha256) ||
        rune_sqlite_bind_text(st, 6, rec->mode) ||
        rune_sqlite_bind_text(st, 7, rec->operator_name) ||
        rune_sqlite_bind_text(st, 8, rec->host) || rune_sqlite_bind_text(st, 9, inputs) ||
        rune_sqlite_bind_text(st, 10, started) ||
        (rec->rto_target_s > 0 && sqlite3_bind_int64(st, 11, rec->rto_target_s)) ||
        (rec->rpo_target_s > 0 && sqlite3_bind_int64(st, 12, rec->rpo_target_s)) ||
        rune_sqlite_bind_text(st, 13, RUNE_VERSION)) {
        rune_sqlite_fail(j, "record the incident");
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_PRIMARYKEY) {
            rune_journal_fail(j,
                              "cannot record incident %s in %s: an incident with that id "
                              "already exists",
                              rec->id, j->path);
            rc = 1;
        } else {
            rune_sqlite_fail(j, "record the incident");
        }
        goto out;
    }
    rc = rec->runner_pid > 0
             ? rune_sqlite_set_runner(j, rec->id, rec->runner_pid, rec->runner_start)
             : 0;
out:
    sqlite3_finalize(st);
    free(inputs);
    return rc;
}

/* One row of `sql` bound to incident_id: its seq (if want_seq) and hash.
 * Leaves *seq and prev alone when there is no row. */
static int one_hash(struct rune_journal *j, enum rune_sqlite_stmt_id id, const char *sql,
                    const char *incident_id, long long *seq, char prev[RUNE_HASH_HEX + 1])
{
    sqlite3_stmt *st = rune_sqlite_stmt(j, id, sql);
    int rc;

    if (!st)
        return rune_sqlite_fail(j, "read the previous event");
    if (rune_sqlite_bind_text(st, 1, incident_id) != SQLITE_OK) {
        rune_sqlite_fail(j, "read the previous event");
        rune_sqlite_done(st);
        return -1;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *h = sqlite3_column_text(st, 1);
        if (seq)
            *seq = sqlite3_column_int64(st, 0);
        snprintf(prev, RUNE_HASH_HEX + 1, "%s", h ? (const char *)h : "");
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rune_sqlite_fail(j, "read the previous event");
        rune_sqlite_done(st);
        return -1;
    }
    rune_sqlite_done(st);
    return 0;
}

/* The last event of an incident: its seq (0 if none) and hash. An
 * incident's first event links to the head of the incident begun before
 * it (its last event now), so deleting, inserting or reordering a whole
 * incident breaks the chain; the first incident of a log links to 64
 * zeros. Called inside the write transaction. */
static int last_event(struct rune_journal *j, const char *incident_id, long long *seq,
                      char prev[RUNE_HASH_HEX + 1])
{
    static const char mine[] =
        "SELECT seq, hash FROM events WHERE incident_id = ?1 ORDER BY seq DESC LIMIT 1";
    static const char before[] =
        "SELECT seq, hash FROM events WHERE incident_id = (SELECT incident_id FROM events "
        "WHERE seq = 1 AND incident_id <> ?1 ORDER BY rowid DESC LIMIT 1) "
        "ORDER BY seq DESC LIMIT 1";

    struct sqlite_journal *s = (struct sqlite_journal *)j;
    /* (an I/O error or a full disk rolls the whole batch back by itself) */
    if (s->batch_open && s->last.seq > 0 && !sqlite3_get_autocommit(s->db) &&
        !strcmp(s->last.incident_id, incident_id)) {
        *seq = s->last.seq;
        memcpy(prev, s->last.hash, RUNE_HASH_HEX + 1);
        return 0;
    }
    *seq = 0;
    snprintf(prev, RUNE_HASH_HEX + 1, "%s", RUNE_ZERO_HASH);
    if (one_hash(j, RUNE_SQ_LAST_MINE, mine, incident_id, seq, prev) != 0)
        return -1;
    if (*seq == 0 && one_hash(j, RUNE_SQ_LAST_BEFORE, before, incident_id, NULL, prev) != 0)
        return -1;
    return 0;
}

static int insert_event(struct rune_journal *j, const char *incident_id, long long seq,
                        const char *at, const struct rune_event *ev, const char *detail,
                        const char *prev, const char *hash)
{
    static const char sql[] =
        "INSERT INTO events (incident_id, seq, at, stage, step, attempt, kind, status, "
        "duration_ms, detail_json, prev_hash, hash) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
    sqlite3_stmt *st = rune_sqlite_stmt(j, RUNE_SQ_INSERT_EVENT, sql);
    int rc;

    if (!st)
        return rune_sqlite_fail(j, "prepare to record an event");
    if (rune_sqlite_bind_text(st, 1, incident_id) || sqlite3_bind_int64(st, 2, seq) ||
        rune_sqlite_bind_text(st, 3, at) || rune_sqlite_bind_text(st, 4, ev->stage) ||
        rune_sqlite_bind_text(st, 5, ev->step) || sqlite3_bind_int(st, 6, ev->attempt) ||
        rune_sqlite_bind_text(st, 7, ev->kind) || rune_sqlite_bind_text(st, 8, ev->status) ||
        (ev->duration_ms >= 0 && sqlite3_bind_int64(st, 9, ev->duration_ms)) ||
        rune_sqlite_bind_text(st, 10, detail) || rune_sqlite_bind_text(st, 11, prev) ||
        rune_sqlite_bind_text(st, 12, hash)) {
        char what[128];
        snprintf(what, sizeof what, "record event %s of incident %s", ev->kind, incident_id);
        rune_sqlite_fail(j, what);
        rune_sqlite_done(st);
        return -1;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rune_sqlite_done(st);
        return 0;
    }
    /* the error read before the reset, which would replace it */
    bool fk = sqlite3_extended_errcode(rune_sqlite_db(j)) == SQLITE_CONSTRAINT_FOREIGNKEY;
    if (!fk)
        rc = rune_sqlite_fail(j, "record an event");
    rune_sqlite_done(st);
    if (fk)
        return rune_journal_fail(j,
                                 "cannot record event %s in incident log %s: no incident %s "
                                 "(call rune_journal_begin first)",
                                 ev->kind, j->path, incident_id);
    return rc;
}

/* Inside BEGIN IMMEDIATE: next seq, previous hash, the new hash, insert. */
static long long append_locked(struct rune_journal *j, const char *incident_id,
                               const struct rune_event *ev, const char *detail)
{
    char prev[RUNE_HASH_HEX + 1], hash[RUNE_HASH_HEX + 1], at[RUNE_ISO_LEN];
    long long seq;

    if (last_event(j, incident_id, &seq, prev) != 0)
        return -1;
    seq++;
    rune_clock_iso(at, rune_clock_wall_ms());
    if (rune_chain_event_hash(j, prev, incident_id, seq, at, ev, detail, true, hash) != 0)
        return -1;
    if (insert_event(j, incident_id, seq, at, ev, detail, prev, hash) != 0)
        return -1;
    struct sqlite_journal *s = (struct sqlite_journal *)j;
    if (s->batch_open && snprintf(s->last.incident_id, sizeof s->last.incident_id, "%s",
                                  incident_id) < (int)sizeof s->last.incident_id) {
        s->last.seq = seq;
        memcpy(s->last.hash, hash, RUNE_HASH_HEX + 1);
    }
    return seq;
}

/* The WAL to disk through SQLite's own file (its VFS's xSync): what a
 * commit with synchronous=FULL does after writing its frames, so every
 * frame committed before is safe too. Nothing is written for it. */
static int force_wal(struct rune_journal *j)
{
    struct sqlite_journal *s = (struct sqlite_journal *)j;
    sqlite3_file *wal = NULL;

    if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
        !wal || !wal->pMethods)
        return rune_journal_fail(j,
                                 "cannot force incident log %s to disk: SQLite does not show its "
                                 "write-ahead log; check the log is in WAL mode (rune log verify)",
                                 j->path);
    int rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
    if (rc != SQLITE_OK)
        return rune_journal_fail(j,
                                 "cannot force incident log %s to disk: %s; check the disk it "
                                 "is on (space, errors in dmesg)",
                                 j->path, sqlite3_errstr(rc));
    s->owed = false;
    return 0;
}

static void sqlite_set_lazy(struct rune_journal *j)
{
    struct sqlite_journal *s = (struct sqlite_journal *)j;

    /* OFF, not NORMAL: NORMAL still fsyncs the WAL's header when a commit
     * starts it over. Nothing of other runs is put at risk: the WAL only
     * starts over once every frame is in the (synced) database file, and
     * this connection never checkpoints — the next real run's does. */
    rune_sqlite_exec(j, "PRAGMA synchronous=OFF", "stop forcing a simulation to disk");
    s->lazy = true;
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    /* (this replaces the autocheckpoint, itself a WAL hook) */
    sqlite3_wal_hook(s->db, count_frames, s);
}

/* A simulation's events at most this many to a transaction. */
#define LAZY_BATCH 256

/* Commits a simulation's open batch of events (the front calls it before
 * any other use of the log, and the run's stage thread at least every
 * 200 ms, so other writers never wait long for the log). */
static void sqlite_flush(struct rune_journal *j)
{
    struct sqlite_journal *s = (struct sqlite_journal *)j;

    if (!s->batch_open)
        return;
    s->batch_open = false;
    s->last.seq = 0;
    s->batch_n = 0;
    if (rune_sqlite_run(j, RUNE_SQ_COMMIT, "COMMIT", "commit a simulation's events") != 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* A simulation (lazy): events go into one open transaction, each in a
 * savepoint (a failed one is undone alone), committed by sqlite_flush or
 * every LAZY_BATCH events: a plan of 1,000 steps costs a few commits,
 * not 2,000. */
static long long lazy_append(struct rune_journal *j, const char *incident_id,
                             const struct rune_event *ev, const char *detail)
{
    struct sqlite_journal *s = (struct sqlite_journal *)j;
    long long seq;

    if (!s->batch_open) {
        if (rune_sqlite_run(j, RUNE_SQ_BEGIN, "BEGIN IMMEDIATE",
                            "start a simulation's transaction") != 0)
            return -1;
        s->batch_open = true;
    }
    if (rune_sqlite_run(j, RUNE_SQ_SAVEPOINT, "SAVEPOINT ev", "start an event") != 0)
        return -1;
    seq = append_locked(j, incident_id, ev, detail);
    if (seq < 0) {
        sqlite3_exec(s->db, "ROLLBACK TO ev", NULL, NULL, NULL);
        s->last.seq = 0;
    }
    if (rune_sqlite_run(j, RUNE_SQ_RELEASE, "RELEASE ev", "end an event") != 0)
        sqlite3_exec(s->db, "RELEASE ev", NULL, NULL, NULL);
    if (++s->batch_n >= LAZY_BATCH)
        sqlite_flush(j);
    return seq;
}

/* One event, one transaction: committed when it happens, or not at all;
 * fsynced with everything before it when the event is durable. */
static long long sqlite_append(struct rune_journal *j, const char *incident_id,
                               const struct rune_event *ev, const char *detail)
{
    sqlite3 *db = rune_sqlite_db(j);
    long long seq;

    if (((struct sqlite_journal *)j)->lazy)
        return lazy_append(j, incident_id, ev, detail);
    rune_sqlite_history_drop(j); /* a real run's event: history read before is old */
    if (rune_sqlite_run(j, RUNE_SQ_BEGIN, "BEGIN IMMEDIATE", "start an event transaction") != 0)
        return -1;
    seq = rune_sqlite_write_ended(j) == 0 ? append_locked(j, incident_id, ev, detail) : -1;
    if (seq > 0 && rune_sqlite_run(j, RUNE_SQ_COMMIT, "COMMIT", "commit an event") != 0)
        seq = -1;
    if (seq > 0) {
        struct sqlite_journal *s = (struct sqlite_journal *)j;
        s->owed = s->owed || ev->owed;
        /* committed either way: a failed fsync is an error the caller
         * sees, and the event is still there for the next one's */
        if (ev->durable && force_wal(j) != 0)
            return -1;
    }
    if (seq < 0 && !sqlite3_get_autocommit(db) &&
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) {
        size_t n = strlen(j->err);
        snprintf(j->err + n, sizeof j->err - n, " (and undoing the half-written event failed: %s)",
                 sqlite3_errmsg(db));
    }
    return seq;
}

/* What owed events left unforced, to disk (force_wal). */
static int sqlite_sync(struct rune_journal *j)
{
    struct sqlite_journal *s = (struct sqlite_journal *)j;

    if (!s->owed || s->lazy)
        return 0;
    return force_wal(j);
}

/* Runs an UPDATE of one incident; an unknown id is an error. */
static int update_incident(struct rune_journal *j, sqlite3_stmt *st, const char *incident_id,
                           const char *what)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return rune_sqlite_fail(j, what);
    if (sqlite3_changes(rune_sqlite_db(j)) == 0)
        return rune_journal_fail(j, "cannot %s: no incident %s in %s", what, incident_id, j->path);
    return 0;
}

static int sqlite_set_severity(struct rune_journal *j, const char *incident_id,
                               const char *severity)
{
    static const char sql[] = "UPDATE incidents SET severity = ?1 WHERE id = ?2";
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (sqlite3_prepare_v2(rune_sqlite_db(j), sql, -1, &st, NULL) != SQLITE_OK) {
        rune_sqlite_fail(j, "prepare to set the severity");
        goto out;
    }
    if (rune_sqlite_bind_text(st, 1, severity) || rune_sqlite_bind_text(st, 2, incident_id)) {
        rune_sqlite_fail(j, "set the severity");
        goto out;
    }
    rc = update_incident(j, st, incident_id, "set the severity");
out:
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_artifact(struct rune_journal *j, const char *incident_id, const char *step,
                           const char *path, const char *sha256, long long bytes, const char *kind)
{
    /* once per file and content: a Lua step that returns what its
     * rune.run call made names the same file again */
    static const char sql[] =
        "INSERT INTO artifacts (incident_id, step, path, sha256, bytes, kind) "
        "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM artifacts "
        "WHERE incident_id = ?1 AND path = ?3 AND sha256 IS ?4)";
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (sqlite3_prepare_v2(rune_sqlite_db(j), sql, -1, &st, NULL) != SQLITE_OK) {
        rune_sqlite_fail(j, "prepare to record an artifact");
        goto out;
    }
    if (rune_sqlite_bind_text(st, 1, incident_id) || rune_sqlite_bind_text(st, 2, step) ||
        rune_sqlite_bind_text(st, 3, path) || rune_sqlite_bind_text(st, 4, sha256) ||
        (bytes >= 0 && sqlite3_bind_int64(st, 5, bytes)) || rune_sqlite_bind_text(st, 6, kind)) {
        rune_sqlite_fail(j, "record an artifact");
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        rune_sqlite_fail(j, "record an artifact");
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_end(struct rune_journal *j, const char *incident_id, const char *outcome,
                      int exit_code, const char *ended_at)
{
    static const char sql[] =
        "UPDATE incidents SET outcome = ?1, exit_code = ?2, ended_at = ?3 WHERE id = ?4";
    sqlite3_stmt *st = NULL;
    int rc = -1;

    /* The run's frames into the database file now, so that this last
     * write starts the kept WAL over from its beginning (setup_writer):
     * the next open then finds one valid frame to read back, not the
     * run's thousand. Without a reader on an older snapshot only (one
     * makes this a no-op: the WAL is then read back in full, as before). */
    if (!((struct sqlite_journal *)j)->lazy)
        sqlite3_wal_checkpoint_v2(rune_sqlite_db(j), "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (sqlite3_prepare_v2(rune_sqlite_db(j), sql, -1, &st, NULL) != SQLITE_OK) {
        rune_sqlite_fail(j, "prepare to end the incident");
        goto out;
    }
    if (rune_sqlite_bind_text(st, 1, outcome) || sqlite3_bind_int(st, 2, exit_code) ||
        rune_sqlite_bind_text(st, 3, ended_at) || rune_sqlite_bind_text(st, 4, incident_id)) {
        rune_sqlite_fail(j, "record the incident's end");
        goto out;
    }
    rc = update_incident(j, st, incident_id, "record the incident's end");
    /* the outcome is on disk when rune says it; the end event (owed) is,
     * even when the row could not be updated */
    if (!((struct sqlite_journal *)j)->lazy) {
        int forced = force_wal(j);
        rc = rc == 0 ? forced : rc;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

static const struct rune_journal_store sqlite_store = {
    .name = "sqlite",
    .begin = sqlite_begin,
    .append = sqlite_append,
    .set_severity = sqlite_set_severity,
    .artifact = sqlite_artifact,
    .end = sqlite_end,
    .find = rune_sqlite_find,
    .get = rune_sqlite_get,
    .chain_rows = rune_sqlite_chain_rows,
    .link = rune_sqlite_link,
    .head = rune_sqlite_head,
    .last_outputs = rune_sqlite_last_outputs,
    .durations = rune_sqlite_durations,
    .work = rune_sqlite_work,
    .runner = rune_sqlite_runner,
    .set_runner = rune_sqlite_set_runner,
    .child = rune_sqlite_child,
    .children = rune_sqlite_children,
    .set_lazy = sqlite_set_lazy,
    .flush = sqlite_flush,
    .sync = sqlite_sync,
    .set_length_limit = sqlite_set_length_limit,
    .close = sqlite_close,
};
