/*
 * sqlite.c — the sqlite.* family for SQLite databases (the first seed's
 * procedures for a file-based database): the checks in sqlite_check.c,
 * backups in sqlite_backup.c; here what they share (sqlite.h: opening a
 * database under the call's deadline, table names, content hashes) and,
 * at the end, the family's table.
 *
 * Databases are opened without SQLITE_OPEN_CREATE: a check never creates
 * the file it is checking. Read-only primitives open read-only.
 */
#include "sqlite.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "counts.h"
#include "shareddir.h"
#include "trust.h"
#include "worksize.h"

/* ---- shared by the family (sqlite.h) ---- */

void rune_sqlite_resolve(struct rune_call *c, const char *path, char *out, size_t len)
{
    if (path[0] == '/')
        snprintf(out, len, "%s", path);
    else
        snprintf(out, len, "%s/%s", rune_call_cwd(c), path);
}

void rune_sqlite_dir_part(const char *path, char *out, size_t len)
{
    const char *sl = strrchr(path, '/');
    if (!sl || sl == path)
        snprintf(out, len, "/");
    else
        snprintf(out, len, "%.*s", (int)(sl - path), path);
}

/* SQLite's progress handler: a statement stops (SQLITE_INTERRUPT) once the
 * step's deadline has passed or the run is being cancelled, so a slow query
 * or check cannot outlive its timeout. */
static int progress(void *c)
{
    return rune_call_cancelled(c);
}

/* Every statement on db stops when the call is cancelled (see progress). */
void rune_sqlite_watch(sqlite3 *db, struct rune_call *c)
{
    sqlite3_progress_handler(db, 1000, progress, c);
}

/* The status of a step whose work was stopped by a timeout or Ctrl-C, with
 * a message saying what was left undone. */
int rune_sqlite_stopped(struct rune_call *c, const char *fmt, const char *arg)
{
    int st = rune_call_cancel_status(c);
    char what[PATH_MAX + 256];
    snprintf(what, sizeof what, fmt, arg);
    rune_call_fail(c, "%s %s", st == RUNE_STEP_TIMEOUT ? "timed out" : "cancelled", what);
    return st;
}

int rune_sqlite_open_file(const char *path, int flags, struct stat *opened, sqlite3 **db, char *why,
                          size_t whylen)
{
    struct stat st;
    *db = NULL;
    int fd = rune_open_identity(path, &st, why, whylen);
    if (fd < 0)
        return -1;
    if (!rune_path_trusted(path))
        flags |= SQLITE_OPEN_NOFOLLOW;
    int rc = sqlite3_open_v2(path, db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(
            why, whylen, "cannot open %s: %s", path,
            *db ? sqlite3_errmsg(*db)
                : "no memory for a connection (free memory on this host and run the step again)");
        sqlite3_close(*db);
        *db = NULL;
        close(fd);
        return -1;
    }
    if (rune_opened_is(path, &st, why, whylen) != 0) {
        sqlite3_close(*db);
        *db = NULL;
        close(fd);
        return -1;
    }
    close(fd);
    if (opened)
        *opened = st;
    return 0;
}

/* Opens path without creating it. On failure returns NULL with a reason.
 * Its statements stop on the call's timeout or cancellation. */
sqlite3 *rune_sqlite_open_id(struct rune_call *c, const char *path, bool readonly,
                             struct stat *opened, char *why, size_t whylen)
{
    /* a primitive that writes is not led into another database by a link
     * another user planted (reads only read what the runbook asked for) */
    if (!readonly && rune_link_check(path, why, whylen) != 0)
        return NULL;
    sqlite3 *db = NULL;
    int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
    if (rune_sqlite_open_file(path, flags, opened, &db, why, whylen) != 0)
        return NULL;
    long long busy = rune_call_int(c, "busy_timeout");
    sqlite3_busy_timeout(db, busy > 0 ? (int)busy : 5000);
    rune_sqlite_watch(db, c);
    return db;
}

sqlite3 *rune_sqlite_open(struct rune_call *c, const char *path, bool readonly, char *why,
                          size_t whylen)
{
    return rune_sqlite_open_id(c, path, readonly, NULL, why, whylen);
}

sqlite3 *rune_sqlite_open_path(struct rune_call *c, bool readonly, char *path, size_t len)
{
    char why[512];
    rune_sqlite_resolve(c, rune_call_str(c, "path"), path, len);
    sqlite3 *db = rune_sqlite_open(c, path, readonly, why, sizeof why);
    if (!db)
        rune_call_fail(c, "%s", why);
    return db;
}

/* User tables, in name order (sqlite_% internal tables excluded). */
json_t *rune_sqlite_table_names(sqlite3 *db, char *why, size_t whylen)
{
    sqlite3_stmt *s;
    /* '_' is a wildcard in LIKE: escaped, so a table "sqlite1" is a user's */
    if (sqlite3_prepare_v2(db,
                           "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE "
                           "'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                           -1, &s, NULL) != SQLITE_OK) {
        snprintf(why, whylen, "cannot read the schema: %s", sqlite3_errmsg(db));
        return NULL;
    }
    json_t *names = json_array();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        json_array_append_new(names, json_string((const char *)sqlite3_column_text(s, 0)));
    if (rc != SQLITE_DONE) {
        snprintf(why, whylen, "cannot read the schema: %s", sqlite3_errmsg(db));
        json_decref(names);
        names = NULL;
    }
    sqlite3_finalize(s);
    return names;
}

/* SQL text `fmt` with the table name put in as a quoted identifier
 * (sqlite3_mprintf's %w doubles the quotes inside it): any name — mixed
 * case, spaces, dots, quotes, non-ASCII — reaches SQL as exactly itself.
 * fmt holds one "%w" inside double quotes. Free with sqlite3_free; NULL
 * when out of memory. */
char *rune_sqlite_sql_for(const char *fmt, const char *table)
{
    return sqlite3_mprintf(fmt, table);
}

int rune_sqlite_plan_path(struct rune_call *c, const char *verb)
{
    rune_call_plan(c, "would %s %s", verb, rune_call_str(c, "path"));
    return RUNE_STEP_OK;
}

long long rune_sqlite_pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Order-independent content hash (rowhash.h): a row's encoding is its
 * columns, each a type tag then the value (integers big-endian, floats as
 * stored, text and blobs length-prefixed). Values are read once each
 * through sqlite3_column_value: hashing every row of a database is
 * mostly these calls. */
void rune_sqlite_hash_row(sqlite3_stmt *s, struct rune_rowhash *h)
{
    rune_rowhash_begin(h);
    int n = sqlite3_column_count(s);
    for (int i = 0; i < n; i++) {
        sqlite3_value *v = sqlite3_column_value(s, i);
        unsigned char tag = (unsigned char)sqlite3_value_type(v);
        if (tag == SQLITE_INTEGER) {
            unsigned long long x = (unsigned long long)sqlite3_value_int64(v);
            unsigned char b[9] = {tag};
            for (int k = 0; k < 8; k++)
                b[1 + k] = (unsigned char)(x >> (56 - 8 * k));
            rune_rowhash_feed(h, b, sizeof b);
        } else if (tag == SQLITE_FLOAT) {
            double x = sqlite3_value_double(v);
            unsigned char b[1 + sizeof x] = {tag};
            memcpy(b + 1, &x, sizeof x);
            rune_rowhash_feed(h, b, sizeof b);
        } else if (tag == SQLITE_NULL) {
            rune_rowhash_feed(h, &tag, 1);
        } else {
            /* the pointer first, then its length (SQLite's rule) */
            const void *p =
                tag == SQLITE_BLOB ? sqlite3_value_blob(v) : (const void *)sqlite3_value_text(v);
            unsigned int len = (unsigned int)sqlite3_value_bytes(v);
            unsigned char b[5] = {tag, (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                                  (unsigned char)(len >> 8), (unsigned char)len};
            rune_rowhash_feed(h, b, sizeof b);
            rune_rowhash_feed(h, p, len);
        }
    }
    rune_rowhash_end(h);
}

/* ---- the table ---- */

#define PATH_PARAM                                                                                 \
    {                                                                                              \
        "path", RUNE_T_PATH, true, NULL, "the SQLite database file"                                \
    }
#define BUSY_PARAM                                                                                 \
    {                                                                                              \
        "busy_timeout", RUNE_T_DURATION, false, "5s", "how long to wait for a lock"                \
    }

static const struct rune_param health_params[] = {PATH_PARAM, BUSY_PARAM, {0}};
static const struct rune_output health_outputs[] = {
    {"healthy", RUNE_T_BOOL, "exists, opens and its schema reads"},
    {"exists", RUNE_T_BOOL, "the file exists"},
    {"opens", RUNE_T_BOOL, "SQLite opens it and reads its schema"},
    {"bytes", RUNE_T_INT, "file size"},
    {"table_count", RUNE_T_INT, "user tables"},
    {"tables", RUNE_T_LIST, "their names"},
    {"errors", RUNE_T_LIST, "what is wrong"},
    {"path", RUNE_T_PATH, "the absolute path checked"},
    {0},
};
static const struct rune_param integrity_params[] = {
    PATH_PARAM,
    BUSY_PARAM,
    {"mode", RUNE_T_STRING, false, "full", "full (integrity_check) or quick (quick_check)",
     .choices = "full|quick"},
    {"foreign_keys", RUNE_T_BOOL, false, "true", "also run foreign_key_check"},
    {"max_problems", RUNE_T_INT, false, "100", "stop listing after this many"},
    {0},
};
static const struct rune_output integrity_outputs[] = {
    {"ok", RUNE_T_BOOL, "no problem found"},
    {"problem_count", RUNE_T_INT, "integrity problems plus foreign-key violations"},
    {"problems", RUNE_T_LIST, "integrity_check lines"},
    {"foreign_key_violations", RUNE_T_LIST, "{table, rowid, parent}"},
    {0},
};
static const struct rune_param query_params[] = {
    PATH_PARAM,
    BUSY_PARAM,
    {"sql", RUNE_T_STRING, true, NULL, "a read-only query"},
    {"params", RUNE_T_LIST, false, NULL, "values for ? placeholders"},
    {"max_rows", RUNE_T_INT, false, "1000", "rows kept as outputs"},
    {0},
};
static const struct rune_output query_outputs[] = {
    {"rows", RUNE_T_LIST, "one mapping per row, column → value"},
    {"row_count", RUNE_T_INT, "rows returned (up to max_rows)"},
    {"truncated", RUNE_T_BOOL, "more rows existed"},
    {"columns", RUNE_T_LIST, "column names"},
    {"value", RUNE_T_ANY, "the first row's first column (null if none)"},
    {0},
};
static const struct rune_param fingerprint_params[] = {
    PATH_PARAM,
    BUSY_PARAM,
    {"tables", RUNE_T_STRLIST, false, NULL, "only these tables (default: all)"},
    {0},
};
static const struct rune_output fingerprint_outputs[] = {
    {"tables", RUNE_T_MAP, "table → {rows, hash}: count and order-independent content hash"},
    {"fingerprint", RUNE_T_STRING, "one hash over every table's"},
    {0},
};
static const struct rune_param counts_params[] = {
    PATH_PARAM,
    BUSY_PARAM,
    RUNE_COUNTS_PARAMS,
    {0},
};
static const struct rune_param locks_params[] = {
    PATH_PARAM,
    {"samples", RUNE_T_INT, false, "10", "lock probes to take"},
    {"window", RUNE_T_DURATION, false, "1s", "spread over this long"},
    {0},
};
static const struct rune_output locks_outputs[] = {
    {"locked", RUNE_T_BOOL, "any probe found the database locked"},
    {"lock", RUNE_T_STRING, "none, write (a writer holds it) or exclusive (readers blocked too)"},
    {"lock_wait_rate", RUNE_T_NUMBER,
     "percent of probes that found it busy (the seed: > 10% is contention)"},
    {"busy_samples", RUNE_T_INT, "probes that found it busy"},
    {"samples", RUNE_T_INT, "probes taken"},
    {"journal_mode", RUNE_T_STRING, "wal, delete, ..."},
    {"holders", RUNE_T_LIST,
     "{pid, command} of processes with the file open (as far as /proc shows)"},
    {0},
};
static const struct rune_param stress_params[] = {
    PATH_PARAM,
    {"threads", RUNE_T_INT, false, "4", "concurrent writers"},
    {"writes", RUNE_T_INT, false, "100", "rows each writer inserts"},
    {"busy_timeout", RUNE_T_DURATION, false, "5s", "how long a writer waits for the lock"},
    {"table", RUNE_T_STRING, false, "rune_stress", "scratch table (created, then dropped)"},
    {"keep_table", RUNE_T_BOOL, false, "false", "keep the scratch table afterwards"},
    {"min_success_rate", RUNE_T_NUMBER, false, "99", "percent of writes that must succeed"},
    {"max_lock_timeouts", RUNE_T_INT, false, "20", "lock timeouts tolerated"},
    {0},
};
static const struct rune_output stress_outputs[] = {
    {"success_rate", RUNE_T_NUMBER, "percent of writes that succeeded"},
    {"ops_per_s", RUNE_T_NUMBER, "successful writes per second"},
    {"lock_timeouts", RUNE_T_INT, "writes that gave up waiting for a lock"},
    {"corruption", RUNE_T_BOOL, "quick_check failed afterwards"},
    {"level", RUNE_T_STRING, "acceptable, warning or critical (the seed's thresholds)"},
    {"operations", RUNE_T_INT, "writes attempted"},
    {"succeeded", RUNE_T_INT, "writes that succeeded"},
    {"failed", RUNE_T_INT, "writes that failed"},
    {0},
};

static const struct rune_param backup_params[] = {
    PATH_PARAM,
    BUSY_PARAM,
    {"dir", RUNE_T_PATH, false, ".",
     "directory for NAME-YYYYMMDD-HHMMSS.db.gz (.db.zst with zstd; when `to` is not given)"},
    {"to", RUNE_T_PATH, false, NULL, "the backup file to write (never overwritten)"},
    RUNE_ARTIFACT_COMPRESSION_PARAM,
    RUNE_ARTIFACT_LEVEL_PARAM,
    {"threads", RUNE_T_INT, false, "0", "compression threads; 0 = one per CPU (at most 8)"},
    {0},
};
static const struct rune_output backup_outputs[] = {
    {"path", RUNE_T_PATH, "the backup data file"},
    {"manifest", RUNE_T_PATH, "its manifest"},
    {"bytes", RUNE_T_INT, "compressed size"},
    {"raw_bytes", RUNE_T_INT, "database size"},
    {"sha256", RUNE_T_STRING, "whole-file SHA-256"},
    {"tables", RUNE_T_MAP, "table → rows, in the backed-up snapshot"},
    {"recovery_point", RUNE_T_STRING, "when the snapshot was taken (UTC)"},
    {"read_with", RUNE_T_STRING,
     "the command that reads it without rune: \"gzip -dc\" or \"zstd -dc\""},
    {0},
};
static const struct rune_param restore_params[] = {
    PATH_PARAM,
    BUSY_PARAM,
    {"from", RUNE_T_PATH, true, NULL, "the backup (.gz or .zst with its manifest)"},
    {0},
};
static const struct rune_output restore_outputs[] = {
    {"path", RUNE_T_PATH, "the restored database"},
    {"safety_copy", RUNE_T_PATH, "where the replaced database was kept (null if there was none)"},
    {"tables", RUNE_T_MAP, "table → rows after the restore"},
    {"recovery_point", RUNE_T_STRING, "the backup's recovery point"},
    {"backup", RUNE_T_PATH, "the backup restored from"},
    {0},
};
static const struct rune_param compact_params[] = {
    PATH_PARAM,
    BUSY_PARAM,
    {"backup", RUNE_T_BOOL, false, "true", "take a verified-format backup first"},
    {"backup_dir", RUNE_T_PATH, false, NULL, "where (default: beside the database)"},
    {"level", RUNE_T_INT, false, "6", "gzip level of that backup"},
    {0},
};
static const struct rune_output compact_outputs[] = {
    {"bytes_before", RUNE_T_INT, "size before"},
    {"bytes_after", RUNE_T_INT, "size after"},
    {"reduction_percent", RUNE_T_NUMBER, "how much smaller"},
    {"backup", RUNE_T_PATH, "the backup taken first (null with backup: false)"},
    {0},
};

const struct rune_step_type rune_sqlite_steps[] = {
    {"sqlite.backup",
     "Online backup (consistent while writers run) into a gzip (or zstd) artifact + manifest",
     backup_params, backup_outputs, RUNE_WRITES, rune_sqlite_backup_run, rune_sqlite_backup_plan,
     false, rune_worksize_path},
    {"sqlite.restore",
     "Verify a backup, restore into a copy, check it, swap it in; keep a safety copy",
     restore_params, restore_outputs, RUNE_WRITES, rune_sqlite_restore_run,
     rune_sqlite_restore_plan, false, rune_worksize_backup_from},
    {"sqlite.compact",
     "Back up, VACUUM INTO a copy, integrity-check it, swap it in (original kept on failure)",
     compact_params, compact_outputs, RUNE_WRITES, rune_sqlite_compact_run,
     rune_sqlite_compact_plan, false, rune_worksize_path},
    {"sqlite.health", "Does the database exist, open and read its schema; size and tables",
     health_params, health_outputs, RUNE_READS, rune_sqlite_health_run, rune_sqlite_health_plan},
    {"sqlite.integrity",
     "integrity_check (or quick_check) and foreign_key_check; problems as outputs",
     integrity_params, integrity_outputs, RUNE_READS, rune_sqlite_integrity_run,
     rune_sqlite_integrity_plan},
    {"sqlite.query", "Run a read-only query; rows as outputs (capped)", query_params, query_outputs,
     RUNE_READS, rune_sqlite_query_run, rune_sqlite_query_plan},
    {"sqlite.fingerprint",
     "Per-table row count and order-independent content hash, in one snapshot", fingerprint_params,
     fingerprint_outputs, RUNE_READS, rune_sqlite_fingerprint_run, rune_sqlite_fingerprint_plan},
    {"sqlite.verify_counts", "Compare per-table row counts with expected ones (with tolerance)",
     counts_params, rune_counts_outputs, RUNE_READS, rune_sqlite_counts_run,
     rune_sqlite_counts_plan},
    {"sqlite.locks", "Is the database locked, by whom, and how often (lock wait rate)",
     locks_params, locks_outputs, RUNE_READS, rune_sqlite_locks_run, rune_sqlite_locks_plan},
    {"sqlite.stress", "Concurrent-write stress test: N threads × M writes, then a corruption check",
     stress_params, stress_outputs, RUNE_WRITES, rune_sqlite_stress_run, rune_sqlite_stress_plan},
    {0},
};
