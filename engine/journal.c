/*
 * journal.c — the incident log: one SQLite file in WAL mode, written as
 * things happen (synchronous=FULL, one transaction per event) so a crash
 * loses nothing that finished, and hash-chained per incident so later
 * edits are detectable.
 *
 * The schema is schemas/incident-log.sql, embedded at build time; writers
 * apply it on every open (it is idempotent), readers never do. One
 * connection is shared by the run's threads: SQLite serialises calls
 * (FULLMUTEX) and our own mutex makes each read-modify-write (next seq,
 * previous hash, insert) atomic within the process; BEGIN IMMEDIATE makes
 * it atomic against other processes using the same file.
 *
 * This file stores what it is given; redaction is the caller's job.
 */
#include "journal.h"

#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef RUNE_VERSION
#define RUNE_VERSION "unknown"
#endif

/* Generated from schemas/incident-log.sql by cmake/embed.cmake. */
extern const char rune_incident_log_sql[];

/* The newest schema this code reads and writes (meta.schema_version). */
#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 10000
#define HASH_HEX 64
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

#define INCIDENT_COLS                                                                              \
    "id, runbook, title, runbook_path, runbook_sha256, mode, operator, host, inputs_json, "        \
    "severity, outcome, exit_code, started_at, ended_at, rto_target_s, rpo_target_s, "             \
    "resumed_from, rune_version"
#define EVENT_COLS                                                                                 \
    "seq, at, stage, step, attempt, kind, status, duration_ms, detail_json, prev_hash, hash"

/* How every JSON value the log stores, and every canonical event, is
 * serialised. Part of the hash chain's definition: never change it. */
#define STORE_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
#define LOAD_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

struct rune_journal {
    sqlite3 *db;
    pthread_mutex_t mu; /* held around every call that touches db or err */
    char *path;
    size_t detail_max; /* largest detail_json kept whole (RUNE_JOURNAL_DETAIL_MAX) */
    char err[1024];    /* the last failing call's message, from any thread */
};

/* How much of an oversized detail's JSON text its truncation marker keeps. */
#define TRUNCATED_HEAD 65536

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct rune_journal *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int fail(struct rune_journal *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, ap);
    va_end(ap);
    return -1;
}

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
        return "the file is damaged or not a rune incident log; move it aside, or pass --log PATH";
    case SQLITE_CONSTRAINT:
        return "this is a bug in the caller; please report it";
    case SQLITE_TOOBIG:
        return "a value is larger than this SQLite accepts (SQLITE_LIMIT_LENGTH); nothing was "
               "recorded in its place; please report it";
    default:
        return "check the file and its directory exist and are writable, or pass --log PATH";
    }
}

/* Records the connection's last error, naming the log and what we tried. */
static int db_fail(struct rune_journal *j, const char *what)
{
    return fail(j, "cannot %s in incident log %s: %s; %s", what, j->path, sqlite3_errmsg(j->db),
                hint(sqlite3_extended_errcode(j->db)));
}

static int exec(struct rune_journal *j, const char *sql, const char *what)
{
    if (sqlite3_exec(j->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(j, what);
    return 0;
}

/* Binds text, NULL as SQL NULL. A bind that fails (a value over SQLite's
 * length limit) leaves the parameter NULL, and a statement stepped anyway
 * stores NULL where the caller gave a value: every write checks the
 * result, and stops there. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* ---- Where the log lives ---- */

/* dir + "/" + rest into buf (rest alone when dir is NULL), without
 * doubling a trailing slash. Returns -1 if it does not fit. */
static int join(char *buf, size_t len, const char *dir, const char *rest)
{
    size_t n = dir ? strlen(dir) : 0;
    const char *sep = (!dir || (n > 0 && dir[n - 1] == '/')) ? "" : "/";
    int w = snprintf(buf, len, "%s%s%s", dir ? dir : "", sep, rest);
    return (w < 0 || (size_t)w >= len) ? -1 : 0;
}

/* $HOME, or the password database's home for our uid. */
static int home_path(char *buf, size_t len, const char *rest)
{
    const char *home = getenv("HOME");
    struct passwd pw, *res = NULL;
    char pwbuf[4096];

    if (home && *home)
        return join(buf, len, home, rest);
    if (getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &res) != 0 || !res || !res->pw_dir ||
        !*res->pw_dir)
        return -1;
    return join(buf, len, res->pw_dir, rest);
}

/* An empty result means there is nowhere to put the log (no HOME at all, or
 * a path too long); rune_journal_open then says so. */
const char *rune_journal_default_path(const char *flag, char *buf, size_t len)
{
    const char *e;
    int rc;

    if (len == 0)
        return buf;
    if (flag && *flag)
        rc = join(buf, len, NULL, flag);
    else if ((e = getenv("RUNE_LOG")) && *e)
        rc = join(buf, len, NULL, e);
    else if ((e = getenv("RUNE_HOME")) && *e)
        rc = join(buf, len, e, "incidents.db");
    else if ((e = getenv("XDG_STATE_HOME")) && e[0] == '/') /* relative values are invalid */
        rc = join(buf, len, e, "rune/incidents.db");
    else
        rc = home_path(buf, len, ".local/state/rune/incidents.db");
    if (rc != 0)
        buf[0] = '\0';
    return buf;
}

/* ---- Opening ---- */

/* mkdir -p of the directories above the file at path, mode 0700 (the log
 * records what operators did to production; it is nobody else's business). */
static int make_parents(const char *path, char *err, size_t errlen)
{
    char *dir = strdup(path);
    int rc = 0;

    if (!dir) {
        seterr(err, errlen, "no memory to create the directories of incident log %s; free "
                            "memory on this host and run again", path);
        return -1;
    }
    for (char *p = strchr(dir + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            seterr(err, errlen,
                   "cannot create directory %s for incident log %s: %s; create it, or pass "
                   "--log PATH",
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
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        seterr(err, errlen,
               "cannot open incident log %s for writing: %s; check the directory exists and is "
               "writable, or pass --log PATH",
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
    int rc = sqlite3_prepare_v2(j->db, sql, -1, &st, NULL);
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
        if (strstr(sqlite3_errmsg(j->db), "no such table"))
            return fail(j,
                        "%s is not a rune incident log (it has no meta table); pass --log "
                        "with the right file",
                        j->path);
        return db_fail(j, "read the schema version");
    }
    if (v[0] == '\0')
        return fail(j,
                    "%s is not a rune incident log (no schema_version); pass --log with the "
                    "right file",
                    j->path);
    if (atoi(v) > SCHEMA_VERSION)
        return fail(j,
                    "incident log %s has schema version %s, newer than this rune (%s) "
                    "understands (%d); upgrade rune",
                    j->path, v, RUNE_VERSION, SCHEMA_VERSION);
    return 0;
}

/* Settings for a writer: durable commits, WAL so readers (rune log, a
 * report) never block the run, and the schema. */
static int setup_writer(struct rune_journal *j)
{
    char mode[16];

    if (query_text(j, "PRAGMA journal_mode=WAL", mode, sizeof mode) != 0)
        return db_fail(j, "switch to WAL mode");
    if (strcmp(mode, "wal") != 0)
        return fail(j,
                    "cannot switch incident log %s to WAL mode (it stays in %s mode); put the "
                    "log on a local filesystem with --log PATH",
                    j->path, mode);
    if (exec(j, "PRAGMA synchronous=FULL", "set synchronous=FULL") != 0)
        return -1;
    if (exec(j, "BEGIN IMMEDIATE", "start the schema transaction") != 0)
        return -1;
    if (sqlite3_exec(j->db, rune_incident_log_sql, NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(j, "create the schema");
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (exec(j, "COMMIT", "commit the schema") != 0) {
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static int open_db(const char *path, int flags, bool writer, struct rune_journal **out, char *err,
                   size_t errlen)
{
    struct rune_journal *j = calloc(1, sizeof *j);
    int rc;

    if (!j || !(j->path = strdup(path))) {
        free(j);
        seterr(err, errlen, "no memory to open incident log %s; free memory on this host and "
                            "run again", path);
        return -1;
    }
    pthread_mutex_init(&j->mu, NULL);
    rc = sqlite3_open_v2(path, &j->db, flags | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        seterr(err, errlen,
               "cannot open incident log %s: %s; check the directory exists and is writable, "
               "or pass --log PATH",
               path, j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc));
        rune_journal_close(j);
        return -1;
    }
    sqlite3_extended_result_codes(j->db, 1);
    sqlite3_busy_timeout(j->db, BUSY_TIMEOUT_MS);
    /* A detail at the cap must still fit SQLite's own limit with the rest
     * of its row; a SQLite built with a lower limit lowers the cap. */
    int limit = sqlite3_limit(j->db, SQLITE_LIMIT_LENGTH, -1);
    j->detail_max = RUNE_JOURNAL_DETAIL_MAX;
    if (limit > 0 && (size_t)limit / 2 < j->detail_max)
        j->detail_max = (size_t)limit / 2;
    if (exec(j, "PRAGMA foreign_keys=ON", "enable foreign keys") != 0 ||
        (writer && setup_writer(j) != 0) || check_version(j) != 0) {
        seterr(err, errlen, "%s", j->err);
        rune_journal_close(j);
        return -1;
    }
    *out = j;
    return 0;
}

int rune_journal_open(const char *path, struct rune_journal **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!path || !*path) {
        seterr(err, errlen,
               "no place for the incident log (HOME is not set, or the path is too long); pass "
               "--log PATH or set RUNE_HOME");
        return -1;
    }
    if (make_parents(path, err, errlen) != 0 || create_private(path, err, errlen) != 0)
        return -1;
    return open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, true, out, err, errlen);
}

int rune_journal_open_read(const char *path, struct rune_journal **out, char *err, size_t errlen)
{
    struct stat sb;

    *out = NULL;
    if (!path || !*path) {
        seterr(err, errlen,
               "no place for the incident log (HOME is not set, or the path is too long); pass "
               "--log PATH or set RUNE_HOME");
        return -1;
    }
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) {
            seterr(err, errlen, "no incidents recorded yet in %s", path);
            return RUNE_JOURNAL_ABSENT;
        }
        seterr(err, errlen,
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

void rune_journal_close(struct rune_journal *j)
{
    if (!j)
        return;
    sqlite3_close(j->db);
    pthread_mutex_destroy(&j->mu);
    free(j->path);
    free(j);
}

const char *rune_journal_path(struct rune_journal *j)
{
    return j->path;
}

const char *rune_journal_error(struct rune_journal *j)
{
    return j->err;
}

void rune_journal_set_limits(struct rune_journal *j, size_t detail_max, int sqlite_length)
{
    pthread_mutex_lock(&j->mu);
    if (detail_max > 0)
        j->detail_max = detail_max;
    if (sqlite_length > 0)
        sqlite3_limit(j->db, SQLITE_LIMIT_LENGTH, sqlite_length);
    pthread_mutex_unlock(&j->mu);
}

/* ---- Writing ---- */

void rune_journal_new_id(char buf[32])
{
    long long ms = rune_clock_wall_ms();
    time_t secs = (time_t)(ms / 1000);
    unsigned char r[2] = {0, 0};
    struct tm tm;

    gmtime_r(&secs, &tm);
    /* A collision (same second, same 16 bits) is refused by the primary
     * key and rune_journal_begin() says so, so the caller draws again; the
     * clock-and-pid value is a last resort where no random source works. */
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r && RAND_bytes(r, 2) != 1) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        unsigned long long m = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)getpid() << 3);
        r[0] = (unsigned char)(m ^ (m >> 16));
        r[1] = (unsigned char)((m >> 8) ^ (m >> 24));
    }
    snprintf(buf, 32, "%04d%02d%02d-%02d%02d%02d-%02x%02x", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, r[0], r[1]);
}

int rune_journal_begin(struct rune_journal *j, const struct rune_incident_rec *rec)
{
    static const char sql[] =
        "INSERT INTO incidents (id, runbook, title, runbook_path, runbook_sha256, mode, "
        "operator, host, inputs_json, started_at, rto_target_s, rpo_target_s, rune_version) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
    char started[RUNE_ISO_LEN];
    char *inputs = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;

    pthread_mutex_lock(&j->mu);
    if (!rec->id || !rec->runbook || !rec->mode) {
        fail(j, "cannot record incident in %s: id, runbook and mode are required", j->path);
        goto out;
    }
    if (rec->inputs && !(inputs = json_dumps(rec->inputs, STORE_FLAGS))) {
        fail(j, "cannot record incident %s: its inputs cannot be encoded as JSON", rec->id);
        goto out;
    }
    rune_clock_iso(started, rec->started_ms > 0 ? rec->started_ms : rune_clock_wall_ms());
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(j, "prepare to record an incident");
        goto out;
    }
    if (bind_text(st, 1, rec->id) || bind_text(st, 2, rec->runbook) ||
        bind_text(st, 3, rec->title) || bind_text(st, 4, rec->runbook_path) ||
        bind_text(st, 5, rec->runbook_sha256) || bind_text(st, 6, rec->mode) ||
        bind_text(st, 7, rec->operator_name) || bind_text(st, 8, rec->host) ||
        bind_text(st, 9, inputs) || bind_text(st, 10, started) ||
        (rec->rto_target_s > 0 && sqlite3_bind_int64(st, 11, rec->rto_target_s)) ||
        (rec->rpo_target_s > 0 && sqlite3_bind_int64(st, 12, rec->rpo_target_s)) ||
        bind_text(st, 13, RUNE_VERSION)) {
        db_fail(j, "record the incident");
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(j->db) == SQLITE_CONSTRAINT_PRIMARYKEY) {
            fail(j, "cannot record incident %s in %s: an incident with that id already exists",
                 rec->id, j->path);
            rc = 1;
        } else {
            db_fail(j, "record the incident");
        }
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&j->mu);
    free(inputs);
    return rc;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/*
 * The canonical form of an event, which the hash chain covers:
 *
 *   hash = lowercase hex SHA-256( prev_hash || canonical )
 *
 * where prev_hash is the previous event's hash as 64 ASCII hex digits (64
 * '0's for seq 1), and canonical is the JSON object
 *
 *   {"at","attempt","detail","duration_ms","incident_id","kind","seq",
 *    "stage","status","step"}
 *
 * built from the stored row: text columns as strings (null when NULL),
 * attempt/seq as integers, duration_ms an integer or null, detail the value
 * parsed from detail_json (JSON_DECODE_ANY|JSON_ALLOW_NUL) or null; dumped
 * with jansson's json_dumps(JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY):
 * no whitespace, keys in byte order at every depth, UTF-8 unescaped.
 * The writer builds it from what it stores, exactly as a verifier reading
 * the row will, so the two cannot drift apart. Returns malloc'd text.
 */
static char *canonical_event(const char *incident_id, long long seq, const char *at,
                             const char *stage, const char *step, long long attempt,
                             const char *kind, const char *status, long long duration_ms,
                             const char *detail_json)
{
    json_t *o = json_object();
    json_t *detail = detail_json ? json_loads(detail_json, LOAD_FLAGS, NULL) : json_null();
    char *s = NULL;
    int bad = !o || !detail;

    bad |= json_object_set_new(o, "incident_id", str_or_null(incident_id));
    bad |= json_object_set_new(o, "seq", json_integer(seq));
    bad |= json_object_set_new(o, "at", str_or_null(at));
    bad |= json_object_set_new(o, "stage", str_or_null(stage));
    bad |= json_object_set_new(o, "step", str_or_null(step));
    bad |= json_object_set_new(o, "attempt", json_integer(attempt));
    bad |= json_object_set_new(o, "kind", str_or_null(kind));
    bad |= json_object_set_new(o, "status", str_or_null(status));
    bad |= json_object_set_new(o, "duration_ms",
                               duration_ms < 0 ? json_null() : json_integer(duration_ms));
    bad |= json_object_set(o, "detail", detail);
    if (!bad)
        s = json_dumps(o, STORE_FLAGS);
    json_decref(detail);
    json_decref(o);
    return s;
}

static void sha256_hex(const char *prev, const char *canon, char out[HASH_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    out[0] = '\0';
    if (!ctx)
        return;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, prev, strlen(prev)) == 1 &&
        EVP_DigestUpdate(ctx, canon, strlen(canon)) == 1 && EVP_DigestFinal_ex(ctx, md, &n) == 1) {
        for (size_t i = 0; i < n && i < HASH_HEX / 2; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
    EVP_MD_CTX_free(ctx);
}

/* The last event of an incident: its seq (0 if none) and hash. Called
 * inside the write transaction. */
static int last_event(struct rune_journal *j, const char *incident_id, long long *seq,
                      char prev[HASH_HEX + 1])
{
    static const char sql[] =
        "SELECT seq, hash FROM events WHERE incident_id = ?1 ORDER BY seq DESC LIMIT 1";
    sqlite3_stmt *st = NULL;
    int rc;

    *seq = 0;
    snprintf(prev, HASH_HEX + 1, "%s", ZERO_HASH);
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(j, "read the previous event");
    if (bind_text(st, 1, incident_id) != SQLITE_OK) {
        db_fail(j, "read the previous event");
        sqlite3_finalize(st);
        return -1;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *h = sqlite3_column_text(st, 1);
        *seq = sqlite3_column_int64(st, 0);
        snprintf(prev, HASH_HEX + 1, "%s", h ? (const char *)h : "");
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(j, "read the previous event");
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
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(j, "prepare to record an event");
    if (bind_text(st, 1, incident_id) || sqlite3_bind_int64(st, 2, seq) || bind_text(st, 3, at) ||
        bind_text(st, 4, ev->stage) || bind_text(st, 5, ev->step) ||
        sqlite3_bind_int(st, 6, ev->attempt) || bind_text(st, 7, ev->kind) ||
        bind_text(st, 8, ev->status) ||
        (ev->duration_ms >= 0 && sqlite3_bind_int64(st, 9, ev->duration_ms)) ||
        bind_text(st, 10, detail) || bind_text(st, 11, prev) || bind_text(st, 12, hash)) {
        char what[128];
        snprintf(what, sizeof what, "record event %s of incident %s", ev->kind, incident_id);
        db_fail(j, what);
        sqlite3_finalize(st);
        return -1;
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (sqlite3_extended_errcode(j->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
        return fail(j,
                    "cannot record event %s in incident log %s: no incident %s (call "
                    "rune_journal_begin first)",
                    ev->kind, j->path, incident_id);
    return db_fail(j, "record an event");
}

/* Inside BEGIN IMMEDIATE: next seq, previous hash, canonical form, insert. */
static long long append(struct rune_journal *j, const char *incident_id,
                        const struct rune_event *ev, const char *detail)
{
    char prev[HASH_HEX + 1], hash[HASH_HEX + 1], at[RUNE_ISO_LEN];
    long long seq;
    char *canon;

    if (last_event(j, incident_id, &seq, prev) != 0)
        return -1;
    seq++;
    rune_clock_iso(at, rune_clock_wall_ms());
    canon = canonical_event(incident_id, seq, at, ev->stage, ev->step, ev->attempt, ev->kind,
                            ev->status, ev->duration_ms, detail);
    if (!canon)
        return fail(j,
                    "cannot record event %s of incident %s: a field is not valid UTF-8 or "
                    "memory ran out",
                    ev->kind, incident_id);
    sha256_hex(prev, canon, hash);
    free(canon);
    if (strlen(hash) != HASH_HEX)
        return fail(j, "cannot record event %s of incident %s: SHA-256 failed (OpenSSL)", ev->kind,
                    incident_id);
    if (insert_event(j, incident_id, seq, at, ev, detail, prev, hash) != 0)
        return -1;
    return seq;
}

/* A JSON text being written, its first `max` bytes kept; `total` counts
 * every byte, kept or not. */
struct capped {
    char *buf;
    size_t len, size, max, total;
};

static int capped_write(const char *data, size_t size, void *ud)
{
    struct capped *c = ud;
    c->total += size;
    if (c->len + size > c->max) /* over the cap: keep what fits, count the rest */
        size = c->max - c->len;
    if (size == 0)
        return 0;
    if (c->len + size + 1 > c->size) {
        size_t want = c->size ? c->size : 256;
        while (want < c->len + size + 1)
            want *= 2;
        char *b = realloc(c->buf, want);
        if (!b)
            return -1;
        c->buf = b;
        c->size = want;
    }
    memcpy(c->buf + c->len, data, size);
    c->len += size;
    c->buf[c->len] = '\0';
    return 0;
}

/*
 * The detail as the log stores it: the compact JSON text, or, when that is
 * longer than j->detail_max, a marker in its place,
 *
 *   {"head": "<the first 64 KiB of the text>", "original_bytes": N, "truncated": true}
 *
 * made before anything is hashed, so the chain covers what is stored and
 * `rune log verify` stays intact, and the log says what happened. A value
 * larger than SQLite accepts used to be stored as NULL under a hash of the
 * real text, which verify then reported as tampering. Only the head is
 * ever held in memory beyond the cap. Returns malloc'd text, or NULL.
 */
static char *detail_text(struct rune_journal *j, json_t *detail)
{
    struct capped c = {NULL, 0, 0, j->detail_max, 0};
    if (json_dump_callback(detail, capped_write, &c, STORE_FLAGS) != 0) {
        free(c.buf);
        return NULL;
    }
    if (c.total <= c.max)
        return c.buf ? c.buf : strdup("");
    size_t head = c.len < TRUNCATED_HEAD ? c.len : TRUNCATED_HEAD;
    while (head > 0 && ((unsigned char)c.buf[head] & 0xC0) == 0x80)
        head--; /* never split a UTF-8 sequence */
    json_t *m = json_pack("{s:b, s:I, s:s%}", "truncated", 1, "original_bytes", (json_int_t)c.total,
                          "head", c.buf ? c.buf : "", head);
    free(c.buf);
    char *text = m ? json_dumps(m, STORE_FLAGS) : NULL;
    json_decref(m);
    return text;
}

long long rune_journal_event(struct rune_journal *j, const char *incident_id,
                             const struct rune_event *ev)
{
    char *detail = NULL;
    long long seq = -1;

    pthread_mutex_lock(&j->mu);
    if (!incident_id || !ev->kind) {
        fail(j, "cannot record an event in %s: incident id and kind are required", j->path);
        goto out;
    }
    if (ev->detail && !(detail = detail_text(j, ev->detail))) {
        fail(j, "cannot record event %s of incident %s: its detail cannot be encoded as JSON",
             ev->kind, incident_id);
        goto out;
    }
    if (exec(j, "BEGIN IMMEDIATE", "start an event transaction") != 0)
        goto out;
    seq = append(j, incident_id, ev, detail);
    if (seq > 0 && exec(j, "COMMIT", "commit an event") != 0)
        seq = -1;
    if (seq < 0 && !sqlite3_get_autocommit(j->db) &&
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) {
        size_t n = strlen(j->err);
        snprintf(j->err + n, sizeof j->err - n, " (and undoing the half-written event failed: %s)",
                 sqlite3_errmsg(j->db));
    }
out:
    pthread_mutex_unlock(&j->mu);
    free(detail);
    return seq;
}

/* Runs an UPDATE of one incident; an unknown id is an error. */
static int update_incident(struct rune_journal *j, sqlite3_stmt *st, const char *incident_id,
                           const char *what)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return db_fail(j, what);
    if (sqlite3_changes(j->db) == 0)
        return fail(j, "cannot %s: no incident %s in %s", what, incident_id, j->path);
    return 0;
}

int rune_journal_set_severity(struct rune_journal *j, const char *incident_id, const char *severity)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;

    pthread_mutex_lock(&j->mu);
    if (sqlite3_prepare_v2(j->db, "UPDATE incidents SET severity = ?1 WHERE id = ?2", -1, &st,
                           NULL) != SQLITE_OK) {
        db_fail(j, "prepare to set the severity");
        goto out;
    }
    if (bind_text(st, 1, severity) || bind_text(st, 2, incident_id)) {
        db_fail(j, "set the severity");
        goto out;
    }
    rc = update_incident(j, st, incident_id, "set the severity");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int rune_journal_artifact(struct rune_journal *j, const char *incident_id, const char *step,
                          const char *path, const char *sha256, long long bytes,
                          const char *kind)
{
    /* once per file and content: a Lua step that returns what its
     * rune.run call made names the same file again */
    static const char sql[] =
        "INSERT INTO artifacts (incident_id, step, path, sha256, bytes, kind) "
        "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM artifacts "
        "WHERE incident_id = ?1 AND path = ?3 AND sha256 IS ?4)";
    sqlite3_stmt *st = NULL;
    int rc = -1;

    pthread_mutex_lock(&j->mu);
    if (!incident_id || !path) {
        fail(j, "cannot record an artifact in %s: incident id and path are required", j->path);
        goto out;
    }
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(j, "prepare to record an artifact");
        goto out;
    }
    if (bind_text(st, 1, incident_id) || bind_text(st, 2, step) || bind_text(st, 3, path) ||
        bind_text(st, 4, sha256) || (bytes >= 0 && sqlite3_bind_int64(st, 5, bytes)) ||
        bind_text(st, 6, kind)) {
        db_fail(j, "record an artifact");
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        db_fail(j, "record an artifact");
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int rune_journal_end(struct rune_journal *j, const char *incident_id, const char *outcome,
                     int exit_code, long long ended_ms)
{
    static const char sql[] =
        "UPDATE incidents SET outcome = ?1, exit_code = ?2, ended_at = ?3 WHERE id = ?4";
    char ended[RUNE_ISO_LEN];
    sqlite3_stmt *st = NULL;
    int rc = -1;

    rune_clock_iso(ended, ended_ms > 0 ? ended_ms : rune_clock_wall_ms());
    pthread_mutex_lock(&j->mu);
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(j, "prepare to end the incident");
        goto out;
    }
    if (bind_text(st, 1, outcome) || sqlite3_bind_int(st, 2, exit_code) ||
        bind_text(st, 3, ended) || bind_text(st, 4, incident_id)) {
        db_fail(j, "record the incident's end");
        goto out;
    }
    rc = update_incident(j, st, incident_id, "record the incident's end");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* ---- Reading ---- */

/* A result row as an object keyed by column name; "x_json" columns become
 * "x" holding the parsed value. NULL on out of memory. */
static json_t *row_json(sqlite3_stmt *st)
{
    json_t *o = json_object();
    int n = sqlite3_column_count(st);

    for (int i = 0; o && i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        size_t nlen = strlen(name);
        const char *text = (const char *)sqlite3_column_text(st, i);
        json_t *v;

        if (nlen > 5 && strcmp(name + nlen - 5, "_json") == 0) {
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)(nlen - 5), name);
            v = text ? json_loads(text, LOAD_FLAGS, NULL) : json_null();
            if (!v) /* not ours, or damaged: show it as it is */
                v = json_string(text);
            json_object_set_new(o, key, v ? v : json_null());
            continue;
        }
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            v = json_integer(sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            v = json_real(sqlite3_column_double(st, i));
            break;
        case SQLITE_TEXT:
            v = json_stringn(text, (size_t)sqlite3_column_bytes(st, i));
            break;
        default:
            v = NULL;
        }
        json_object_set_new(o, name, v ? v : json_null());
    }
    return o;
}

/* All rows of a prepared statement as an array; NULL (error in j) on
 * failure. Finalizes st. */
static json_t *rows_json(struct rune_journal *j, sqlite3_stmt *st, const char *what)
{
    json_t *arr = json_array();
    int rc = SQLITE_DONE;

    while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (json_array_append_new(arr, row_json(st)) != 0) {
            json_decref(arr);
            arr = NULL;
            fail(j, "cannot %s in incident log %s: no memory for the rows; free memory on this "
                    "host and run the command again", what, j->path);
        }
    }
    if (arr && rc != SQLITE_DONE) {
        db_fail(j, what);
        json_decref(arr);
        arr = NULL;
    }
    sqlite3_finalize(st);
    return arr;
}

json_t *rune_journal_find(struct rune_journal *j, const struct rune_journal_filter *f)
{
    static const char sql[] =
        "SELECT " INCIDENT_COLS " FROM incidents "
        "WHERE (?1 IS NULL OR runbook = ?1) "
        "AND (?2 IS NULL OR outcome = ?2 OR (?2 = 'unfinished' AND outcome IS NULL)) "
        "AND (?3 IS NULL OR started_at >= ?3) "
        "ORDER BY started_at DESC, id DESC LIMIT ?4";
    sqlite3_stmt *st = NULL;
    json_t *arr = NULL;

    pthread_mutex_lock(&j->mu);
    j->err[0] = '\0';
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(j, "list incidents");
        goto out;
    }
    bind_text(st, 1, f->runbook);
    bind_text(st, 2, f->outcome);
    bind_text(st, 3, f->since);
    sqlite3_bind_int(st, 4, f->limit > 0 ? f->limit : -1);
    arr = rows_json(j, st, "list incidents");
out:
    pthread_mutex_unlock(&j->mu);
    return arr;
}

json_t *rune_journal_list(struct rune_journal *j, const char *runbook, int limit)
{
    struct rune_journal_filter f = {.runbook = runbook, .limit = limit};
    return rune_journal_find(j, &f);
}

/* The incident's row, or NULL: unknown (err empty) or failure (err set). */
static json_t *incident_row(struct rune_journal *j, const char *incident_id)
{
    sqlite3_stmt *st = NULL;
    json_t *o = NULL;
    int rc;

    if (sqlite3_prepare_v2(j->db, "SELECT " INCIDENT_COLS " FROM incidents WHERE id = ?1", -1, &st,
                           NULL) != SQLITE_OK) {
        db_fail(j, "read the incident");
        return NULL;
    }
    bind_text(st, 1, incident_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        o = row_json(st);
    else if (rc != SQLITE_DONE)
        db_fail(j, "read the incident");
    sqlite3_finalize(st);
    return o;
}

/* Adds the rows of `sql` (bound to the incident id) to o as member key. */
static int add_rows(struct rune_journal *j, json_t *o, const char *key, const char *sql,
                    const char *incident_id)
{
    sqlite3_stmt *st = NULL;
    char what[64];
    json_t *arr;

    snprintf(what, sizeof what, "read the %s", key);
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(j, what);
    bind_text(st, 1, incident_id);
    arr = rows_json(j, st, what);
    if (!arr)
        return -1;
    return json_object_set_new(o, key, arr) == 0
               ? 0
               : fail(j, "no memory to %s of incident %s in %s; free memory on this host and "
                         "run the command again",
                      what, incident_id, j->path);
}

json_t *rune_journal_get(struct rune_journal *j, const char *incident_id)
{
    json_t *o = NULL;

    pthread_mutex_lock(&j->mu);
    j->err[0] = '\0';
    /* One read transaction: the incident and its events as of one moment,
     * even while a run in another process is still appending. */
    if (exec(j, "BEGIN", "start a read transaction") != 0)
        goto out;
    o = incident_row(j, incident_id);
    if (o && (add_rows(j, o, "events",
                       "SELECT " EVENT_COLS " FROM events WHERE incident_id = ?1 ORDER BY seq",
                       incident_id) != 0 ||
              add_rows(j, o, "artifacts",
                       "SELECT step, path, sha256, bytes, kind FROM artifacts "
                       "WHERE incident_id = ?1 ORDER BY rowid",
                       incident_id) != 0)) {
        json_decref(o);
        o = NULL;
    }
    sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
out:
    pthread_mutex_unlock(&j->mu);
    return o;
}

/* ---- Tamper evidence: recomputing the chain ---- */

/* One stored event as the verifier reads it back. */
struct chain_row {
    long long seq, attempt, duration_ms; /* duration_ms -1 for NULL */
    char *at, *stage, *step, *kind, *status, *detail, *prev, *hash;
};

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static void rows_free(struct chain_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].at);
        free(rows[i].stage);
        free(rows[i].step);
        free(rows[i].kind);
        free(rows[i].status);
        free(rows[i].detail);
        free(rows[i].prev);
        free(rows[i].hash);
    }
    free(rows);
}

/* Every event of the incident in seq order, inside the caller's read
 * transaction. Returns 0 with *out (caller frees with rows_free), or -1. */
static int chain_rows(struct rune_journal *j, const char *incident_id, struct chain_row **out,
                      size_t *n)
{
    static const char sql[] = "SELECT " EVENT_COLS " FROM events WHERE incident_id = ?1 "
                              "ORDER BY seq";
    sqlite3_stmt *st = NULL;
    struct chain_row *rows = NULL;
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(j, "read the events");
    bind_text(st, 1, incident_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct chain_row *nr = realloc(rows, ncap * sizeof *nr);
            if (!nr) {
                rows_free(rows, *n);
                *n = 0;
                sqlite3_finalize(st);
                return fail(j, "cannot verify incident %s: no memory for its events; free memory "
                               "on this host and run rune log verify again", incident_id);
            }
            rows = nr;
            cap = ncap;
        }
        struct chain_row *r = &rows[(*n)++];
        r->seq = sqlite3_column_int64(st, 0);
        r->at = col_dup(st, 1);
        r->stage = col_dup(st, 2);
        r->step = col_dup(st, 3);
        r->attempt = sqlite3_column_int64(st, 4);
        r->kind = col_dup(st, 5);
        r->status = col_dup(st, 6);
        r->duration_ms =
            sqlite3_column_type(st, 7) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 7);
        r->detail = col_dup(st, 8);
        r->prev = col_dup(st, 9);
        r->hash = col_dup(st, 10);
    }
    sqlite3_finalize(st);
    *out = rows;
    if (rc != SQLITE_DONE) {
        rows_free(rows, *n);
        *out = NULL;
        *n = 0;
        return db_fail(j, "read the events");
    }
    return 0;
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Does the row's stored hash match SHA-256(its prev_hash || its canonical
 * form)? Exactly the writer's computation (append), over what is stored. */
static bool content_ok(const char *incident_id, const struct chain_row *r)
{
    char hash[HASH_HEX + 1] = "";
    char *canon = canonical_event(incident_id, r->seq, r->at, r->stage, r->step, r->attempt,
                                  r->kind, r->status, r->duration_ms, r->detail);
    /* no canonical form (detail edited into invalid JSON): cannot match */
    if (canon && r->prev)
        sha256_hex(r->prev, canon, hash);
    free(canon);
    return hash[0] && same(hash, r->hash);
}

static int problem(struct rune_chain_result *res, enum rune_chain_problem p, long long seq,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int problem(struct rune_chain_result *res, enum rune_chain_problem p, long long seq,
                   const char *fmt, ...)
{
    va_list ap;
    res->problem = p;
    res->seq = seq;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    return 1;
}

/* The seq a renumbered row was chained with: its content matches its hash
 * under a nearby seq (events deleted or inserted before it, the later ones
 * renumbered to hide the gap). 0 when none within reach matches. */
static long long chained_seq(const char *incident_id, const struct chain_row *r)
{
    struct chain_row moved = *r;
    for (long long d = 1; d <= 64; d++) {
        moved.seq = r->seq + d;
        if (content_ok(incident_id, &moved))
            return moved.seq;
        moved.seq = r->seq - d;
        if (moved.seq >= 1 && content_ok(incident_id, &moved))
            return moved.seq;
    }
    return 0;
}

/* Where the row whose stored hash is h sits, or -1. */
static long long find_hash(const struct chain_row *rows, size_t n, const char *h)
{
    for (size_t i = 0; h && i < n; i++)
        if (same(rows[i].hash, h))
            return (long long)i;
    return -1;
}

/*
 * Row i against the chain so far (rows before it are intact). Order
 * matters: a seq gap is a deletion; anything after the incident's end was
 * inserted; a link to a hash further down is a reordering. For an intact
 * row with a broken link, a link further up means what lies between was
 * inserted, a link to nothing that its predecessor was deleted. A row
 * whose content matches its hash under another seq was renumbered (or is
 * a copy of another row); otherwise it was changed or forged. A good link
 * with a bad hash is a change. Returns 1 and fills res when row i is wrong.
 */
static int check_row(const char *id, const struct chain_row *rows, size_t n, size_t i,
                     struct rune_chain_result *res)
{
    const struct chain_row *r = &rows[i];
    long long want = i ? rows[i - 1].seq + 1 : 1;
    const char *link = i ? rows[i - 1].hash : ZERO_HASH;
    bool intact = content_ok(id, r);

    if (r->seq > want)
        return r->seq - 1 == want
                   ? problem(res, RUNE_CHAIN_DELETED, want,
                             "event %lld was deleted (seq jumps from %lld to %lld)", want, want - 1,
                             r->seq)
                   : problem(res, RUNE_CHAIN_DELETED, want,
                             "events %lld to %lld were deleted (seq jumps from %lld to %lld)", want,
                             r->seq - 1, want - 1, r->seq);
    if (i && same(rows[i - 1].kind, "incident.end"))
        return problem(res, RUNE_CHAIN_INSERTED, r->seq,
                       "event %lld (%s) was inserted: it comes after the incident's end", r->seq,
                       r->kind ? r->kind : "?");
    if (!same(r->prev, link)) {
        long long q = find_hash(rows, n, r->prev);
        if (q > (long long)i)
            return problem(res, RUNE_CHAIN_REORDERED, r->seq,
                           "events were reordered: event %lld (%s) was recorded after the event "
                           "now at seq %lld",
                           r->seq, r->kind ? r->kind : "?", rows[q].seq);
        if (intact && q >= 0 && q < (long long)i - 1)
            return problem(res, RUNE_CHAIN_INSERTED, rows[q + 1].seq,
                           "event %lld (%s) was inserted: event %lld is chained to event %lld",
                           rows[q + 1].seq, rows[q + 1].kind ? rows[q + 1].kind : "?", r->seq,
                           rows[q].seq);
        if (intact)
            return problem(res, RUNE_CHAIN_DELETED, r->seq,
                           "an event before event %lld was deleted (its link to the previous "
                           "event is broken)",
                           r->seq);
        long long was = chained_seq(id, r), twin = find_hash(rows, n, r->hash);
        if (was > 0 && twin >= 0 && twin != (long long)i)
            return problem(res, RUNE_CHAIN_INSERTED, r->seq,
                           "event %lld (%s) was inserted: it is a copy of event %lld", r->seq,
                           r->kind ? r->kind : "?", rows[twin].seq);
        if (was > r->seq)
            return problem(res, RUNE_CHAIN_DELETED, r->seq,
                           "%lld event%s before event %lld %s deleted and the later events "
                           "renumbered (it was recorded as seq %lld)",
                           was - r->seq, was - r->seq == 1 ? "" : "s", r->seq,
                           was - r->seq == 1 ? "was" : "were", was);
        if (was > 0)
            return problem(res, RUNE_CHAIN_INSERTED, r->seq,
                           "%lld event%s inserted before event %lld and the later events "
                           "renumbered (it was recorded as seq %lld)",
                           r->seq - was, r->seq - was == 1 ? " was" : "s were", r->seq, was);
        return problem(res, RUNE_CHAIN_CHANGED, r->seq,
                       "event %lld (%s) was changed or inserted: neither its hash nor its link "
                       "to event %lld matches",
                       r->seq, r->kind ? r->kind : "?", r->seq - 1);
    }
    if (!intact)
        return problem(res, RUNE_CHAIN_CHANGED, r->seq,
                       "event %lld (%s) was changed: its content no longer matches its hash",
                       r->seq, r->kind ? r->kind : "?");
    return 0;
}

/* The incident row is not chained, but its outcome and exit code must be
 * what the chained incident.end event says. */
static void check_record(json_t *inc, const struct chain_row *end, struct rune_chain_result *res)
{
    json_t *d = end->detail ? json_loads(end->detail, LOAD_FLAGS, NULL) : NULL;
    const char *outcome = json_string_value(json_object_get(inc, "outcome"));
    json_t *code = json_object_get(inc, "exit_code");
    json_t *dcode = json_object_get(d, "exit_code");

    if (!same(outcome, end->status))
        problem(res, RUNE_CHAIN_RECORD, 0,
                "the incident row says outcome %s but its chained end event (seq %lld) says %s",
                outcome ? outcome : "(none)", end->seq, end->status ? end->status : "(none)");
    else if (json_is_integer(dcode) &&
             (!json_is_integer(code) || json_integer_value(code) != json_integer_value(dcode)))
        problem(res, RUNE_CHAIN_RECORD, 0,
                "the incident row says exit code %s%lld but its chained end event (seq %lld) "
                "says %lld",
                json_is_integer(code) ? "" : "(none) ",
                json_is_integer(code) ? (long long)json_integer_value(code) : 0LL, end->seq,
                (long long)json_integer_value(dcode));
    json_decref(d);
}

static int verify_rows(const char *id, json_t *inc, const struct chain_row *rows, size_t n,
                       struct rune_chain_result *res)
{
    for (size_t i = 0; i < n; i++)
        if (check_row(id, rows, n, i, res))
            return 0;
    if (!json_is_string(json_object_get(inc, "outcome")))
        return 0; /* still running, or rune died: nothing says where it ends */
    if (n == 0 || !same(rows[n - 1].kind, "incident.end")) {
        long long next = n ? rows[n - 1].seq + 1 : 1;
        problem(res, RUNE_CHAIN_DELETED, next,
                "the events from seq %lld on were deleted: the incident ended but its chain "
                "stops at %s",
                next, n ? "an event that is not its end" : "nothing (no events)");
        return 0;
    }
    check_record(inc, &rows[n - 1], res);
    return 0;
}

int rune_journal_verify(struct rune_journal *j, const char *incident_id,
                        struct rune_chain_result *res)
{
    struct chain_row *rows = NULL;
    size_t n = 0;
    json_t *inc = NULL;
    int rc = -1;

    memset(res, 0, sizeof *res);
    pthread_mutex_lock(&j->mu);
    j->err[0] = '\0';
    if (exec(j, "BEGIN", "start a read transaction") != 0)
        goto out;
    inc = incident_row(j, incident_id);
    if (!inc) {
        rc = j->err[0] ? -1 : RUNE_JOURNAL_UNKNOWN;
        if (rc == RUNE_JOURNAL_UNKNOWN)
            fail(j, "no incident %s in %s", incident_id, j->path);
    } else if (chain_rows(j, incident_id, &rows, &n) == 0) {
        res->events = (long long)n;
        if (n)
            snprintf(res->head_hash, sizeof res->head_hash, "%s",
                     rows[n - 1].hash ? rows[n - 1].hash : "");
        rc = verify_rows(incident_id, inc, rows, n, res);
    }
    sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
out:
    pthread_mutex_unlock(&j->mu);
    rows_free(rows, n);
    json_decref(inc);
    return rc;
}

const char *rune_chain_problem_name(enum rune_chain_problem p)
{
    static const char *const names[] = {"intact",  "changed",   "inserted",
                                        "deleted", "reordered", "record"};
    return (unsigned)p < sizeof names / sizeof names[0] ? names[p] : "unknown";
}

/* ---- History for dry-runs: what real runs of a step did ---- */

json_t *rune_journal_last_outputs(struct rune_journal *j, const char *runbook, const char *step)
{
    json_t *out = NULL;
    sqlite3_stmt *st;
    pthread_mutex_lock(&j->mu);
    if (sqlite3_prepare_v2(j->db,
                           "SELECT json_extract(e.detail_json, '$.outputs') FROM events e "
                           "JOIN incidents i ON i.id = e.incident_id "
                           "WHERE i.runbook = ?1 AND i.mode = 'run' AND e.step = ?2 "
                           "AND e.kind = 'step.end' AND e.status = 'ok' "
                           "ORDER BY e.at DESC, e.rowid DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, runbook, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, step, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            out = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&j->mu);
    return out;
}

json_t *rune_journal_durations(struct rune_journal *j, const char *runbook, const char *step,
                               int limit)
{
    json_t *out = json_array();
    sqlite3_stmt *st;
    pthread_mutex_lock(&j->mu);
    if (sqlite3_prepare_v2(j->db,
                           "SELECT e.duration_ms FROM events e "
                           "JOIN incidents i ON i.id = e.incident_id "
                           "WHERE i.runbook = ?1 AND i.mode = 'run' AND e.step = ?2 "
                           "AND e.kind = 'step.end' AND e.status = 'ok' "
                           "AND e.duration_ms IS NOT NULL "
                           "ORDER BY e.at DESC, e.rowid DESC LIMIT ?3",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, runbook, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, step, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, limit);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(out, json_integer(sqlite3_column_int64(st, 0)));
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&j->mu);
    return out;
}
