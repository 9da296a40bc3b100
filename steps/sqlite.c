/*
 * sqlite.c — the sqlite.* family: diagnosing and checking SQLite databases
 * (the first seed's procedures for a file-based database): health,
 * integrity, read-only queries, content fingerprints, row-count
 * verification, lock diagnosis and the concurrent-write stress test.
 *
 * Databases are opened without SQLITE_OPEN_CREATE: a check never creates
 * the file it is checking. Read-only primitives open read-only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifact.h"
#include "counts.h"
#include "crash.h"
#include "names.h"
#include "rowhash.h"
#include "safefile.h"
#include "scratch.h"
#include "shareddir.h"
#include "step.h"

/* ---- shared helpers ---- */

static void resolve(struct rune_call *c, const char *path, char *out, size_t len)
{
    if (path[0] == '/')
        snprintf(out, len, "%s", path);
    else
        snprintf(out, len, "%s/%s", rune_call_cwd(c), path);
}

/* SQLite's progress handler: a statement stops (SQLITE_INTERRUPT) once the
 * step's deadline has passed or the run is being cancelled, so a slow query
 * or check cannot outlive its timeout. */
static int progress(void *c)
{
    return rune_call_cancelled(c);
}

/* Every statement on db stops when the call is cancelled (see progress). */
static void watch(sqlite3 *db, struct rune_call *c)
{
    sqlite3_progress_handler(db, 1000, progress, c);
}

/* The status of a step whose work was stopped by a timeout or Ctrl-C, with
 * a message saying what was left undone. */
static int stopped(struct rune_call *c, const char *fmt, const char *arg)
{
    int st = rune_call_cancel_status(c);
    char what[PATH_MAX + 256];
    snprintf(what, sizeof what, fmt, arg);
    rune_call_fail(c, "%s %s", st == RUNE_STEP_TIMEOUT ? "timed out" : "cancelled", what);
    return st;
}

/* Opens path without creating it. On failure returns NULL with a reason.
 * Its statements stop on the call's timeout or cancellation. */
static sqlite3 *open_db(struct rune_call *c, const char *path, bool readonly, char *why,
                        size_t whylen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, whylen, "%s does not exist: check the path", path);
        return NULL;
    }
    /* a primitive that writes is not led into another database by a link
     * another user planted (reads only read what the runbook asked for) */
    if (!readonly && rune_link_check(path, why, whylen) != 0)
        return NULL;
    sqlite3 *db = NULL;
    int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(
            why, whylen, "cannot open %s: %s", path,
            db ? sqlite3_errmsg(db)
               : "no memory for a connection (free memory on this host and run the step again)");
        sqlite3_close(db);
        return NULL;
    }
    long long busy = rune_call_int(c, "busy_timeout");
    sqlite3_busy_timeout(db, busy > 0 ? (int)busy : 5000);
    watch(db, c);
    return db;
}

static json_t *column_json(sqlite3_stmt *s, int i)
{
    switch (sqlite3_column_type(s, i)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(s, i));
    case SQLITE_FLOAT: return json_real(sqlite3_column_double(s, i));
    case SQLITE_NULL: return json_null();
    case SQLITE_BLOB: {
        char buf[64];
        snprintf(buf, sizeof buf, "<blob %d bytes>", sqlite3_column_bytes(s, i));
        return json_string(buf);
    }
    default: {
        const char *t = (const char *)sqlite3_column_text(s, i);
        json_t *v = json_stringn(t ? t : "", (size_t)sqlite3_column_bytes(s, i));
        return v ? v : json_string("<text that is not UTF-8>");
    }
    }
}

/* User tables, in name order (sqlite_% internal tables excluded). */
static json_t *table_names(sqlite3 *db, char *why, size_t whylen)
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
static char *sql_for(const char *fmt, const char *table)
{
    return sqlite3_mprintf(fmt, table);
}

static long long count_rows(sqlite3 *db, const char *table, char *why, size_t whylen)
{
    char *sql = sql_for("SELECT count(*) FROM \"%w\"", table);
    sqlite3_stmt *s = NULL;
    long long n = -1;
    if (sql && sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    else
        snprintf(why, whylen, "cannot count %s: %s", table,
                 sql ? sqlite3_errmsg(db)
                     : "no memory for the query (free memory on this host and run the step again)");
    sqlite3_finalize(s);
    sqlite3_free(sql);
    return n;
}

static int plan_path(struct rune_call *c, const char *verb)
{
    rune_call_plan(c, "would %s %s", verb, rune_call_str(c, "path"));
    return RUNE_STEP_OK;
}

/* ---- sqlite.health ---- */

static int health_run(struct rune_call *c)
{
    char path[PATH_MAX], why[512] = "";
    resolve(c, rune_call_str(c, "path"), path, sizeof path);
    json_t *o = rune_call_outputs(c);
    json_t *errors = json_array();
    struct stat st;
    bool exists = stat(path, &st) == 0;
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "exists", json_boolean(exists));
    json_object_set_new(o, "bytes", json_integer(exists ? (json_int_t)st.st_size : 0));
    bool opens = false;
    json_t *tables = NULL;
    if (!exists) {
        json_array_append_new(errors, json_string("the file does not exist"));
    } else {
        sqlite3 *db = open_db(c, path, true, why, sizeof why);
        if (db)
            tables = table_names(db, why, sizeof why); /* the first real read */
        opens = tables != NULL;
        if (!opens)
            json_array_append_new(errors, json_string(why));
        sqlite3_close(db);
    }
    json_object_set_new(o, "opens", json_boolean(opens));
    json_object_set_new(o, "table_count", json_integer(tables ? (json_int_t)json_array_size(tables) : 0));
    json_object_set_new(o, "tables", tables ? tables : json_array());
    bool healthy = json_array_size(errors) == 0;
    json_object_set_new(o, "healthy", json_boolean(healthy));
    json_object_set_new(o, "errors", errors);
    if (!healthy)
        return rune_call_fail(c, "%s is not healthy: %s; check the path, or run sqlite.integrity "
                                 "and restore from a backup if it is damaged",
                              path, json_string_value(json_array_get(errors, 0)));
    return RUNE_STEP_OK;
}

static int health_plan(struct rune_call *c) { return plan_path(c, "check the health of"); }

/* ---- sqlite.integrity ---- */

static int integrity_run(struct rune_call *c)
{
    char path[PATH_MAX], why[512];
    resolve(c, rune_call_str(c, "path"), path, sizeof path);
    const char *mode = rune_call_str(c, "mode");
    if (strcmp(mode, "full") && strcmp(mode, "quick"))
        return rune_call_fail(c, "mode must be full or quick, not \"%s\"", mode);
    sqlite3 *db = open_db(c, path, true, why, sizeof why);
    if (!db)
        return rune_call_fail(c, "%s", why);
    long long max = rune_call_int(c, "max_problems");
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA %s_check(%lld)", !strcmp(mode, "full") ? "integrity" : "quick",
             max > 0 ? max : 100);
    json_t *problems = json_array();
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            /* a row may hold several problems, one per line, under a
             * "*** in database main ***" heading */
            const char *text = (const char *)sqlite3_column_text(s, 0);
            for (const char *p = text; p && *p;) {
                size_t n = strcspn(p, "\n");
                if (n && strncmp(p, "ok", n) && strncmp(p, "*** in database", 15))
                    json_array_append_new(problems, json_stringn(p, n));
                p += n + (p[n] == '\n');
            }
        }
        sqlite3_finalize(s);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        json_array_append_new(problems, json_string(sqlite3_errmsg(db)));
    json_t *fks = json_array();
    if (rune_call_bool(c, "foreign_keys") && !rune_call_cancelled(c) &&
        sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &s, NULL) == SQLITE_OK) {
        while (sqlite3_step(s) == SQLITE_ROW && json_array_size(fks) < (size_t)(max > 0 ? max : 100))
            json_array_append_new(fks, json_pack("{s:s, s:I, s:s}", "table",
                                                 (const char *)sqlite3_column_text(s, 0), "rowid",
                                                 (json_int_t)sqlite3_column_int64(s, 1), "parent",
                                                 (const char *)sqlite3_column_text(s, 2)));
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    if (rune_call_cancelled(c)) {
        /* an interrupted check found what it found so far: no verdict */
        json_decref(problems);
        json_decref(fks);
        return stopped(c, "while checking %s; the check did not finish, so it says nothing about "
                          "the database — run it again with a longer timeout", path);
    }
    size_t np = json_array_size(problems), nf = json_array_size(fks);
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "ok", json_boolean(np == 0 && nf == 0));
    json_object_set_new(o, "problem_count", json_integer((json_int_t)(np + nf)));
    json_object_set_new(o, "problems", problems);
    json_object_set_new(o, "foreign_key_violations", fks);
    if (np)
        return rune_call_fail(c, "%s failed its %s check (%zu problem%s, first: %s); restore from "
                                 "a verified backup or run sqlite.compact",
                              path, mode, np, np == 1 ? "" : "s",
                              json_string_value(json_array_get(problems, 0)));
    if (nf)
        return rune_call_fail(c, "%s has %zu row%s violating foreign keys (first in table %s)",
                              path, nf, nf == 1 ? "" : "s",
                              json_string_value(json_object_get(json_array_get(fks, 0), "table")));
    return RUNE_STEP_OK;
}

static int integrity_plan(struct rune_call *c) { return plan_path(c, "check the integrity of"); }

/* ---- sqlite.query ---- */

static int bind_params(sqlite3_stmt *s, json_t *params)
{
    size_t i;
    json_t *v;
    json_array_foreach(params, i, v)
    {
        int k = (int)i + 1, rc;
        if (json_is_integer(v))
            rc = sqlite3_bind_int64(s, k, json_integer_value(v));
        else if (json_is_real(v))
            rc = sqlite3_bind_double(s, k, json_real_value(v));
        else if (json_is_null(v))
            rc = sqlite3_bind_null(s, k);
        else if (json_is_boolean(v))
            rc = sqlite3_bind_int(s, k, json_is_true(v));
        else if (json_is_string(v))
            rc = sqlite3_bind_text(s, k, json_string_value(v), -1, SQLITE_TRANSIENT);
        else
            return -1;
        if (rc != SQLITE_OK)
            return -1;
    }
    return 0;
}

static int query_run(struct rune_call *c)
{
    char path[PATH_MAX], why[512];
    resolve(c, rune_call_str(c, "path"), path, sizeof path);
    sqlite3 *db = open_db(c, path, true, why, sizeof why);
    if (!db)
        return rune_call_fail(c, "%s", why);
    const char *sql = rune_call_str(c, "sql");
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        rune_call_fail(c, "the query does not compile against %s: %s; fix the sql", path,
                       sqlite3_errmsg(db));
        sqlite3_close(db);
        return RUNE_STEP_FAILED;
    }
    json_t *params = json_object_get(rune_call_params(c), "params");
    if (params && bind_params(s, params) != 0) {
        sqlite3_finalize(s);
        sqlite3_close(db);
        return rune_call_fail(c, "params: each must be a number, string, boolean or null, and "
                                 "there must be as many as the query's ? placeholders");
    }
    long long max = rune_call_int(c, "max_rows");
    json_t *rows = json_array(), *cols = json_array();
    for (int i = 0; i < sqlite3_column_count(s); i++)
        json_array_append_new(cols, json_string(sqlite3_column_name(s, i)));
    bool truncated = false;
    int rc;
    long long n = 0;
    /* the progress handler stops a long sqlite3_step (SQLITE_INTERRUPT);
     * the check after each row stops a query that returns rows slowly */
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n >= max) {
            truncated = true;
            break;
        }
        json_t *row = json_object();
        for (int i = 0; i < sqlite3_column_count(s); i++)
            json_object_set_new(row, sqlite3_column_name(s, i), column_json(s, i));
        json_array_append_new(rows, row);
        n++;
        if (rune_call_cancelled(c))
            break;
    }
    int st = RUNE_STEP_OK;
    if (rune_call_cancelled(c) && !truncated) {
        /* stopped early: the rows kept are only a part of the result */
        truncated = true;
        char got[64];
        snprintf(got, sizeof got, "%lld", n);
        st = stopped(c, "after %s rows; the query did not finish and its rows are incomplete "
                        "(truncated: true) — give the step a longer timeout or a faster query",
                     got);
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        st = rune_call_fail(c, "the query on %s failed after %lld rows: %s", path, n,
                            sqlite3_errmsg(db));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "columns", cols);
    json_object_set_new(o, "row_count", json_integer(n));
    json_object_set_new(o, "truncated", json_boolean(truncated));
    /* the first row's first column, handy in conditions: ${steps.q.outputs.value} */
    json_t *first = json_array_get(rows, 0);
    json_object_set(o, "value", first && json_object_size(first)
                                    ? json_object_iter_value(json_object_iter(first))
                                    : json_null());
    json_object_set_new(o, "rows", rows);
    return st;
}

static int query_plan(struct rune_call *c)
{
    rune_call_plan(c, "would query %s (read-only): %s", rune_call_str(c, "path"),
                   rune_call_str(c, "sql"));
    return RUNE_STEP_OK;
}

/* ---- sqlite.fingerprint ---- */

/* Order-independent content hash (rowhash.h): a row's encoding is its
 * columns, each a type tag then the value (integers big-endian, floats as
 * stored, text and blobs length-prefixed). */
static void hash_row(sqlite3_stmt *s, struct rune_rowhash *h)
{
    rune_rowhash_begin(h);
    for (int i = 0; i < sqlite3_column_count(s); i++) {
        unsigned char tag = (unsigned char)sqlite3_column_type(s, i);
        rune_rowhash_feed(h, &tag, 1);
        if (tag == SQLITE_INTEGER) {
            long long v = sqlite3_column_int64(s, i);
            unsigned char b[8];
            for (int k = 0; k < 8; k++)
                b[k] = (unsigned char)((unsigned long long)v >> (56 - 8 * k));
            rune_rowhash_feed(h, b, 8);
        } else if (tag == SQLITE_FLOAT) {
            double v = sqlite3_column_double(s, i);
            rune_rowhash_feed(h, &v, sizeof v);
        } else if (tag != SQLITE_NULL) {
            const void *p = tag == SQLITE_BLOB ? sqlite3_column_blob(s, i)
                                               : (const void *)sqlite3_column_text(s, i);
            unsigned int n = (unsigned int)sqlite3_column_bytes(s, i);
            unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                                    (unsigned char)(n >> 8), (unsigned char)n};
            rune_rowhash_feed(h, len, 4);
            rune_rowhash_feed(h, p, n);
        }
    }
    rune_rowhash_end(h);
}

static int fingerprint_run(struct rune_call *c)
{
    char path[PATH_MAX], why[512] = "";
    resolve(c, rune_call_str(c, "path"), path, sizeof path);
    sqlite3 *db = open_db(c, path, true, why, sizeof why);
    if (!db)
        return rune_call_fail(c, "%s", why);
    /* one read transaction: every table is seen as of the same moment */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    json_t *wanted = json_object_get(rune_call_params(c), "tables");
    json_t *names = wanted ? json_incref(wanted) : table_names(db, why, sizeof why);
    int st = RUNE_STEP_OK;
    json_t *tables = json_object();
    EVP_MD_CTX *all = EVP_MD_CTX_new();
    EVP_DigestInit_ex(all, EVP_sha256(), NULL);
    size_t i;
    json_t *nv;
    json_array_foreach(names, i, nv)
    {
        const char *t = json_string_value(nv);
        char *sql = sql_for("SELECT * FROM \"%w\"", t);
        sqlite3_stmt *s;
        if (!sql || sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
            st = rune_call_fail(
                c, "cannot read table %s: %s", t,
                sql ? sqlite3_errmsg(db)
                    : "no memory for the query (free memory on this host and run the step again)");
            sqlite3_free(sql);
            break;
        }
        sqlite3_free(sql);
        struct rune_rowhash d;
        rune_rowhash_init(&d);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            hash_row(s, &d);
            if ((d.rows & 4095) == 0 && rune_call_cancelled(c))
                break;
        }
        sqlite3_finalize(s);
        char hex[65];
        rune_rowhash_hex(&d, hex);
        rune_rowhash_free(&d);
        if (rc != SQLITE_DONE) {
            st = rune_call_cancelled(c)
                     ? stopped(c, "while reading table %s; the fingerprint is incomplete", t)
                     : rune_call_fail(c, "reading %s failed: %s", t, sqlite3_errmsg(db));
            break;
        }
        json_object_set_new(tables, t, json_pack("{s:I, s:s}", "rows", (json_int_t)d.rows,
                                                 "hash", hex));
        EVP_DigestUpdate(all, t, strlen(t) + 1);
        EVP_DigestUpdate(all, hex, 64);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    json_decref(names);
    unsigned char md[32];
    char hex[65];
    EVP_DigestFinal_ex(all, md, NULL);
    EVP_MD_CTX_free(all);
    for (int k = 0; k < 32; k++)
        snprintf(hex + 2 * k, 3, "%02x", md[k]);
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "tables", tables);
    json_object_set_new(o, "fingerprint", json_string(hex));
    if (!names && st == RUNE_STEP_OK)
        return rune_call_fail(c, "%s", why);
    return st;
}

static int fingerprint_plan(struct rune_call *c) { return plan_path(c, "fingerprint the tables of"); }

/* ---- sqlite.verify_counts ---- */

static long long count_in(void *db, const char *table, char *why, size_t len)
{
    return count_rows(db, table, why, len);
}

static int counts_run(struct rune_call *c)
{
    char path[PATH_MAX], why[512] = "";
    resolve(c, rune_call_str(c, "path"), path, sizeof path);
    json_t *expected = rune_counts_expected(c);
    if (!expected)
        return RUNE_STEP_FAILED;
    sqlite3 *db = open_db(c, path, true, why, sizeof why);
    if (!db) {
        json_decref(expected);
        return rune_call_fail(c, "%s", why);
    }
    /* one read transaction: every count as of the same moment */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    char where[PATH_MAX + 16];
    snprintf(where, sizeof where, "database %s", path);
    int st = rune_counts_check(c, expected, where, count_in, db);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    json_decref(expected);
    /* a count interrupted by the progress handler reads as a missing table */
    if (st != RUNE_STEP_OK && rune_call_cancelled(c))
        return stopped(c, "while counting the rows of %s; the comparison did not finish", path);
    return st;
}

static int counts_plan(struct rune_call *c) { return plan_path(c, "compare row counts of"); }

/* ---- sqlite.locks ---- */

/* Processes holding the file open, from /proc/<pid>/fd: "by whom", when the
 * kernel lets us see it (other users' processes need root). */
static json_t *holders(const char *path)
{
    json_t *pids = json_array();
    char real[PATH_MAX];
    if (!realpath(path, real))
        return pids;
    size_t rl = strlen(real);
    DIR *proc = opendir("/proc");
    if (!proc)
        return pids;
    struct dirent *e;
    pid_t me = getpid();
    while ((e = readdir(proc))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == me)
            continue;
        char fddir[64];
        snprintf(fddir, sizeof fddir, "/proc/%ld/fd", pid);
        DIR *fds = opendir(fddir);
        if (!fds)
            continue;
        struct dirent *f;
        bool found = false;
        while (!found && (f = readdir(fds))) {
            char link[PATH_MAX + 64], target[PATH_MAX];
            snprintf(link, sizeof link, "%s/%s", fddir, f->d_name);
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            /* the database itself, or its -wal / -journal / -shm */
            found = !strncmp(target, real, rl) &&
                    (target[rl] == '\0' || !strcmp(target + rl, "-wal") ||
                     !strcmp(target + rl, "-journal") || !strcmp(target + rl, "-shm"));
        }
        closedir(fds);
        if (found) {
            char comm[64] = "?", cpath[64];
            snprintf(cpath, sizeof cpath, "/proc/%ld/comm", pid);
            FILE *cf = fopen(cpath, "r");
            if (cf) {
                if (fgets(comm, sizeof comm, cf))
                    comm[strcspn(comm, "\n")] = '\0';
                fclose(cf);
            }
            json_array_append_new(pids, json_pack("{s:I, s:s}", "pid", (json_int_t)pid,
                                                  "command", comm));
        }
    }
    closedir(proc);
    return pids;
}

static int locks_run(struct rune_call *c)
{
    char path[PATH_MAX], why[512];
    resolve(c, rune_call_str(c, "path"), path, sizeof path);
    sqlite3 *db = open_db(c, path, false, why, sizeof why);
    if (!db)
        return rune_call_fail(c, "%s", why);
    sqlite3_busy_timeout(db, 0); /* probe: never wait */
    long long samples = rune_call_int(c, "samples");
    long long window = rune_call_int(c, "window");
    if (samples < 1)
        samples = 1;
    int write_busy = 0, read_busy = 0;
    const char *mode = "?";
    char jm[32] = "?";
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW)
            snprintf(jm, sizeof jm, "%s", (const char *)sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
    }
    for (long long i = 0; i < samples; i++) {
        /* a read that cannot start means an exclusive lock (or a pending
         * writer in rollback-journal mode) */
        int rc = sqlite3_exec(db, "BEGIN; SELECT count(*) FROM sqlite_schema; COMMIT", NULL,
                              NULL, NULL);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
            read_busy++;
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        }
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            write_busy++;
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        if (i + 1 < samples && rune_call_sleep(c, window / samples) != RUNE_STEP_OK) {
            sqlite3_close(db);
            char took[64];
            snprintf(took, sizeof took, "%lld of %lld", i + 1, samples);
            return stopped(c, "after %s lock probes; too few to say how busy the database is — "
                              "give the step a timeout longer than its window",
                           took);
        }
    }
    sqlite3_close(db);
    mode = read_busy ? "exclusive" : write_busy ? "write" : "none";
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "locked", json_boolean(read_busy || write_busy));
    json_object_set_new(o, "lock", json_string(mode));
    json_object_set_new(o, "journal_mode", json_string(jm));
    json_object_set_new(o, "samples", json_integer(samples));
    json_object_set_new(o, "busy_samples", json_integer(write_busy > read_busy ? write_busy : read_busy));
    json_object_set_new(o, "lock_wait_rate",
                        json_real(100.0 * (double)(write_busy > read_busy ? write_busy : read_busy) /
                                  (double)samples));
    json_object_set_new(o, "holders", holders(path));
    return RUNE_STEP_OK;
}

static int locks_plan(struct rune_call *c) { return plan_path(c, "probe the locks of"); }

/* ---- sqlite.stress ---- */

struct stress {
    const char *path;
    const char *table;
    long long writes;
    int busy_ms;
    struct rune_call *c;
    long long ok, failed, timeouts;
    char error[256];
};

static void *stress_worker(void *arg)
{
    struct stress *w = arg;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(w->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(w->error, sizeof w->error, "%s", db ? sqlite3_errmsg(db) : "cannot open");
        w->failed = w->writes;
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, w->busy_ms);
    char *sql = sql_for("INSERT INTO \"%w\"(worker, at, payload) VALUES (?, ?, ?)", w->table);
    if (!sql) {
        snprintf(
            w->error, sizeof w->error,
            "no memory for the insert statement (free memory on this host and run the step again)");
        w->failed = w->writes;
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_stmt *s = NULL;
    for (long long i = 0; i < w->writes; i++) {
        if (rune_call_cancelled(w->c))
            break;
        if (!s && sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
            int rc = sqlite3_errcode(db);
            w->failed++;
            if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
                w->timeouts++;
            else
                snprintf(w->error, sizeof w->error, "%s", sqlite3_errmsg(db));
            continue;
        }
        char payload[64];
        snprintf(payload, sizeof payload, "worker %p write %lld", (void *)w, i);
        sqlite3_bind_int64(s, 1, (sqlite3_int64)(size_t)w);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)time(NULL));
        sqlite3_bind_text(s, 3, payload, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc == SQLITE_DONE) {
            w->ok++;
        } else {
            w->failed++;
            if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
                w->timeouts++;
            else
                snprintf(w->error, sizeof w->error, "%s", sqlite3_errmsg(db));
        }
    }
    sqlite3_finalize(s);
    sqlite3_free(sql);
    sqlite3_close(db);
    return NULL;
}

static int stress_run(struct rune_call *c)
{
    char path[PATH_MAX], why[512];
    resolve(c, rune_call_str(c, "path"), path, sizeof path);
    const char *table = rune_call_str(c, "table");
    long long threads = rune_call_int(c, "threads"), writes = rune_call_int(c, "writes");
    if (threads < 1 || threads > 64 || writes < 1)
        return rune_call_fail(c, "threads must be 1-64 and writes at least 1");
    sqlite3 *db = open_db(c, path, false, why, sizeof why);
    if (!db)
        return rune_call_fail(c, "%s", why);
    char *sql = sql_for("CREATE TABLE IF NOT EXISTS \"%w\"(id INTEGER PRIMARY KEY, worker "
                        "INTEGER, at INTEGER, payload TEXT)",
                        table);
    if (!sql || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        rune_call_fail(
            c, "cannot create the stress table %s: %s", table,
            sql ? sqlite3_errmsg(db)
                : "no memory for the query (free memory on this host and run the step again)");
        sqlite3_free(sql);
        sqlite3_close(db);
        return RUNE_STEP_FAILED;
    }
    sqlite3_free(sql);
    struct stress *w = calloc((size_t)threads, sizeof *w);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    if (!w || !th)
        abort();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long long i = 0; i < threads; i++) {
        w[i] = (struct stress){path, table, writes, (int)rune_call_int(c, "busy_timeout"), c, 0, 0, 0, ""};
        pthread_create(&th[i], NULL, stress_worker, &w[i]);
    }
    long long ok = 0, failed = 0, timeouts = 0;
    char err[256] = "";
    for (long long i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
        failed += w[i].failed;
        timeouts += w[i].timeouts;
        if (w[i].error[0] && !err[0])
            snprintf(err, sizeof err, "%s", w[i].error);
    }
    free(w);
    free(th);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* corruption check afterwards (not after a timeout: the writers
     * stopped early, and the check would be interrupted too) */
    bool cancelled = rune_call_cancelled(c);
    bool intact = false;
    sqlite3_stmt *s;
    if (!cancelled && sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &s, NULL) == SQLITE_OK) {
        intact = sqlite3_step(s) == SQLITE_ROW &&
                 !strcmp((const char *)sqlite3_column_text(s, 0), "ok");
        sqlite3_finalize(s);
    }
    if (!rune_call_bool(c, "keep_table")) {
        /* the scratch table goes even after a timeout: no progress handler */
        sqlite3_progress_handler(db, 0, NULL, NULL);
        sql = sql_for("DROP TABLE IF EXISTS \"%w\"", table);
        if (sql)
            sqlite3_exec(db, sql, NULL, NULL, NULL);
        sqlite3_free(sql);
    }
    sqlite3_close(db);
    if (cancelled)
        return stopped(c, "while the writers ran on %s; the test did not finish and measured "
                          "nothing — give it a longer timeout or fewer writes", path);
    long long total = threads * writes;
    double rate = total ? 100.0 * (double)ok / (double)total : 0;
    double min_rate = rune_call_num(c, "min_success_rate");
    long long max_timeouts = rune_call_int(c, "max_lock_timeouts");
    /* the seed's table: > 99% and < 5 timeouts acceptable; < 95% or > 20 critical */
    const char *level = !intact || rate < 95.0 || timeouts > 20 ? "critical"
                        : rate <= 99.0 || timeouts >= 5         ? "warning"
                                                                : "acceptable";
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "operations", json_integer(total));
    json_object_set_new(o, "succeeded", json_integer(ok));
    json_object_set_new(o, "failed", json_integer(failed));
    json_object_set_new(o, "success_rate", json_real(rate));
    json_object_set_new(o, "ops_per_s", json_real(secs > 0 ? (double)ok / secs : 0));
    json_object_set_new(o, "lock_timeouts", json_integer(timeouts));
    json_object_set_new(o, "corruption", json_boolean(!intact));
    json_object_set_new(o, "level", json_string(level));
    if (!intact)
        return rune_call_fail(c, "%s failed its integrity check after the stress test: restore "
                                 "from a verified backup", path);
    if (rate < min_rate || timeouts > max_timeouts)
        return rune_call_fail(c, "stress test %s: %.1f%% of %lld writes succeeded (need %.1f%%), "
                                 "%lld lock timeouts (at most %lld)%s%s",
                              level, rate, total, min_rate, timeouts, max_timeouts,
                              err[0] ? "; first error: " : "", err);
    return RUNE_STEP_OK;
}

static int stress_plan(struct rune_call *c)
{
    rune_call_plan(c, "would write %lld rows from each of %lld threads into %s (table %s, dropped "
                      "afterwards)",
                   rune_call_int(c, "writes"), rune_call_int(c, "threads"),
                   rune_call_str(c, "path"), rune_call_str(c, "table"));
    return RUNE_STEP_OK;
}

/* ---- backups: sqlite.backup, sqlite.restore, sqlite.compact ----
 *
 * Files. The snapshot a backup compresses, the copy a restore decompresses
 * and the copy a compaction writes are made in a private scratch directory
 * (scratch.h: mode 0700, an unpredictable name) beside their target: SQLite
 * opens them by name, and in there no other user can plant, replace or
 * read anything. A restore or compaction then replaces the live database
 * with one rename() (swap_in), so a crash at any point leaves a database
 * under the live name. A crash leaves the scratch directory behind; the
 * next of these steps in the same directory removes it (reap).
 */

static bool cancelled_cb(void *c)
{
    return rune_call_cancelled(c);
}

/* The directory of an absolute path: "/a/b/c" → "/a/b", "/c" → "/". */
static void dir_part(const char *path, char *out, size_t len)
{
    const char *sl = strrchr(path, '/');
    if (!sl || sl == path)
        snprintf(out, len, "/");
    else
        snprintf(out, len, "%.*s", (int)(sl - path), path);
}

/* Removes the scratch directories runs that died left in dir, saying so. */
static void reap(struct rune_call *c, const char *dir)
{
    char first[256];
    int n = rune_scratch_reap(dir, first, sizeof first);
    if (n > 0)
        rune_call_log(c, "removed %d scratch director%s left in %s by a run that did not finish "
                         "(%s%s)",
                      n, n == 1 ? "y" : "ies", dir, first, n > 1 ? ", ..." : "");
}

/* Makes a scratch directory in `dir` and an empty file `name` in it (mode
 * 0600: no wider than any database it will hold a copy of). `owner` owns
 * the data it will hold (scratch.h). */
static int scratch_file(const char *dir, uid_t owner, const char *name, char **scr, char **file,
                        char *why, size_t whylen)
{
    *scr = *file = NULL;
    if (rune_scratch_make(scr, dir, owner, why, whylen) != 0)
        return -1;
    int fd = rune_scratch_create(*scr, name, 0600, file, why, whylen);
    if (fd < 0) {
        rune_scratch_remove(*scr);
        *scr = NULL;
        return -1;
    }
    close(fd);
    return 0;
}

/* Copies the live database into dst (an empty file in a scratch directory)
 * with the online backup API. The source holds one read transaction for
 * the whole copy, so every page comes from the same moment: the copy is
 * consistent while writers go on (in WAL mode they are not blocked) and
 * never restarts. It goes 1024 pages at a time, so a timeout or Ctrl-C
 * stops it. Returns 0, 1 when cancelled, or -1 with a reason. */
static int snapshot(struct rune_call *c, const char *src, const char *dst, int busy_ms, char *why,
                    size_t whylen)
{
    sqlite3 *from = NULL, *to = NULL;
    sqlite3_backup *b = NULL;
    int result = -1;
    if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(why, whylen, "cannot open %s: %s", src, sqlite3_errmsg(from));
        goto out;
    }
    sqlite3_busy_timeout(from, busy_ms);
    if (sqlite3_exec(from, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) !=
        SQLITE_OK) {
        snprintf(why, whylen, "cannot read %s: %s", src, sqlite3_errmsg(from));
        goto out;
    }
    /* dst exists (made private and empty): never SQLITE_OPEN_CREATE */
    if (sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(why, whylen, "cannot open the snapshot %s: %s", dst, sqlite3_errmsg(to));
        goto out;
    }
    b = sqlite3_backup_init(to, "main", from, "main");
    if (!b) {
        snprintf(why, whylen, "cannot start the backup: %s", sqlite3_errmsg(to));
        goto out;
    }
    int rc;
    while ((rc = sqlite3_backup_step(b, 1024)) == SQLITE_OK) {
        if (rune_call_cancelled(c)) {
            result = 1;
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        snprintf(why, whylen, "backup of %s failed: %s", src, sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_backup_finish(b);
    b = NULL;
    /* a plain rollback-journal file: one self-contained database */
    sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    result = 0;
out:
    sqlite3_backup_finish(b);
    if (from)
        sqlite3_exec(from, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(from);
    sqlite3_close(to);
    return result;
}

/* Row counts, per-table content hashes and a schema fingerprint of a
 * database file (the snapshot, or a restored copy), all in one read. A
 * table that cannot be read is an error, never a count of 0. Stops on the
 * call's cancellation (the caller checks rune_call_cancelled). */
static json_t *describe_db(struct rune_call *c, const char *path, char *why, size_t whylen)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(why, whylen, "cannot open %s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    watch(db, c);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    json_t *names = table_names(db, why, whylen);
    json_t *tables = json_object(), *hashes = json_object();
    bool ok = names != NULL;
    for (size_t i = 0; ok && i < json_array_size(names); i++) {
        const char *t = json_string_value(json_array_get(names, i));
        char *sql = sql_for("SELECT * FROM \"%w\"", t);
        sqlite3_stmt *st = NULL;
        if (!sql || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
            snprintf(
                why, whylen, "cannot read table %s of %s: %s", t, path,
                sql ? sqlite3_errmsg(db)
                    : "no memory for the query (free memory on this host and run the step again)");
            sqlite3_free(sql);
            ok = false;
            break;
        }
        sqlite3_free(sql);
        struct rune_rowhash d;
        rune_rowhash_init(&d);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            hash_row(st, &d);
        sqlite3_finalize(st);
        char hex[65];
        rune_rowhash_hex(&d, hex);
        rune_rowhash_free(&d);
        if (rc != SQLITE_DONE) {
            snprintf(why, whylen, "reading table %s of %s failed: %s", t, path,
                     sqlite3_errmsg(db));
            ok = false;
            break;
        }
        json_object_set_new(tables, t, json_integer(d.rows));
        json_object_set_new(hashes, t, json_string(hex));
    }
    /* the schema: every CREATE statement, in name order */
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_DigestInit_ex(m, EVP_sha256(), NULL);
    sqlite3_stmt *st;
    if (ok && sqlite3_prepare_v2(db, "SELECT type, name, coalesce(sql,'') FROM sqlite_schema "
                                     "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                                     "ORDER BY type, name",
                                 -1, &st, NULL) == SQLITE_OK) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            for (int k = 0; k < 3; k++) {
                const char *v = (const char *)sqlite3_column_text(st, k);
                EVP_DigestUpdate(m, v, strlen(v) + 1);
            }
        if (rc != SQLITE_DONE) {
            snprintf(why, whylen, "cannot read the schema of %s: %s", path, sqlite3_errmsg(db));
            ok = false;
        }
        sqlite3_finalize(st);
    }
    unsigned char md[32];
    char schema[65];
    EVP_DigestFinal_ex(m, md, NULL);
    EVP_MD_CTX_free(m);
    for (int k = 0; k < 32; k++)
        snprintf(schema + 2 * k, 3, "%02x", md[k]);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    json_decref(names);
    if (!ok) {
        json_decref(tables);
        json_decref(hashes);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:s}", "tables", tables, "table_hashes", hashes,
                     "schema_fingerprint", schema);
}

/* "/dir/app.db" → "app" */
static void stem(const char *path, char *out, size_t len)
{
    const char *b = strrchr(path, '/');
    snprintf(out, len, "%s", b ? b + 1 : path);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

/* describe_db of the snapshot in a thread of its own, so that it runs
 * while the artifact's workers compress the same file (both only read it). */
struct describe_job {
    struct rune_call *c;
    const char *path;
    json_t *desc; /* owned by whoever joined the thread */
    char why[1024];
};

static void *describe_thread(void *arg)
{
    struct describe_job *j = arg;
    j->desc = describe_db(j->c, j->path, j->why, sizeof j->why);
    return NULL;
}

/* Writes a backup of db into the artifact `dest`; sets the usual outputs.
 * Returns a rune_status. The snapshot is a file in a scratch directory
 * beside dest; it is described (row counts, content hashes) while it is
 * compressed, and removed on every path out. */
static int write_backup(struct rune_call *c, const char *db, const char *dest, json_t *o)
{
    char *buf = NULL, *scr = NULL, *snap = NULL;
    char why[1024] = "", dir[PATH_MAX];
    struct stat st, src;
    if (lstat(dest, &st) == 0)
        return rune_call_fail(c, "backup %s already exists; choose another name or remove it",
                              dest);
    if (stat(db, &src) != 0)
        return rune_call_fail(c, "%s does not exist; nothing to back up", db);
    dir_part(dest, dir, sizeof dir);
    reap(c, dir);
    if (scratch_file(dir, src.st_uid, "snapshot.db", &scr, &snap, why, sizeof why) != 0)
        return rune_call_fail(c, "%s; no backup was written", why);
    long long busy = rune_call_int(c, "busy_timeout");
    long long t0 = rune_clock_wall_ms();
    char point[RUNE_ISO_LEN];
    rune_clock_iso(point, t0);
    int sn = snapshot(c, db, snap, busy > 0 ? (int)busy : 5000, why, sizeof why);
    if (sn != 0) {
        rune_scratch_remove(scr);
        free(snap);
        return sn > 0 ? stopped(c, "while taking the snapshot of %s; no backup was written", db)
                      : rune_call_fail(c, "%s; no backup was written", why);
    }
    rune_crash_point("sqlite.backup");
    struct describe_job dj = {.c = c, .path = snap};
    pthread_t dt;
    bool describing = pthread_create(&dt, NULL, describe_thread, &dj) == 0;
    if (!describing)
        describe_thread(&dj); /* no thread to spare: one after the other */
    struct rune_artifact_meta meta = {.engine = "sqlite",
                                      .source = db,
                                      .recovery_point = point,
                                      .level = (int)rune_call_int(c, "level"),
                                      .threads = (int)rune_call_int(c, "threads")};
    struct rune_artifact_writer *w = NULL;
    int fd = -1;
    int status = RUNE_STEP_OK;
    if (rune_artifact_open(&w, dest, &meta, why, sizeof why) != 0) {
        status = rune_call_fail(c, "%s", why);
        goto out;
    }
    fd = open(snap, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    buf = malloc(1 << 20); /* per call: steps run in parallel */
    if (!buf)
        abort();
    ssize_t n;
    while (fd >= 0 && (n = rune_read_full(fd, buf, 1 << 20)) > 0) {
        if (rune_call_cancelled(c)) {
            rune_artifact_abort(w);
            w = NULL;
            status = stopped(c, "while compressing the snapshot of %s; the partial backup was "
                                "removed", db);
            goto out;
        }
        if (rune_artifact_write(w, buf, (size_t)n, why, sizeof why) != 0) {
            rune_artifact_abort(w);
            w = NULL;
            status = rune_call_fail(c, "%s", why);
            goto out;
        }
    }
    if (fd < 0 || n < 0) {
        rune_artifact_abort(w);
        w = NULL;
        status = rune_call_fail(c, "cannot read the snapshot %s: %s", snap, strerror(errno));
        goto out;
    }
    if (describing)
        pthread_join(dt, NULL);
    describing = false;
    if (!dj.desc) {
        rune_artifact_abort(w);
        w = NULL;
        status = rune_call_cancelled(c)
                     ? stopped(c, "while counting the rows of the snapshot of %s; no backup was "
                                  "written", db)
                     : rune_call_fail(c, "the snapshot is unreadable: %s", dj.why);
        goto out;
    }
    json_t *manifest = rune_artifact_commit(w, dj.desc, why, sizeof why);
    w = NULL;
    if (!manifest) {
        status = rune_call_fail(c, "%s", why);
        goto out;
    }
    char *mpath = rune_artifact_manifest_path(dest);
    json_object_set_new(o, "path", json_string(dest));
    json_object_set_new(o, "manifest", json_string(mpath));
    json_object_set(o, "bytes", json_object_get(manifest, "bytes"));
    json_object_set(o, "raw_bytes", json_object_get(manifest, "raw_bytes"));
    json_object_set(o, "sha256", json_object_get(manifest, "sha256"));
    json_object_set(o, "tables", json_object_get(dj.desc, "tables"));
    json_object_set_new(o, "recovery_point", json_string(point));
    free(mpath);
    json_decref(manifest);
out:
    if (describing)
        pthread_join(dt, NULL);
    free(buf);
    if (fd >= 0)
        close(fd);
    json_decref(dj.desc);
    rune_scratch_remove(scr);
    free(snap);
    return status;
}

static int backup_run(struct rune_call *c)
{
    char db[PATH_MAX], dest[PATH_MAX];
    resolve(c, rune_call_str(c, "path"), db, sizeof db);
    struct stat st;
    if (stat(db, &st) != 0)
        return rune_call_fail(c, "%s does not exist; nothing to back up", db);
    const char *to = rune_call_str(c, "to");
    if (to) {
        resolve(c, to, dest, sizeof dest);
    } else {
        char dir[PATH_MAX], name[256], why[512];
        resolve(c, rune_call_str(c, "dir"), dir, sizeof dir);
        stem(db, name, sizeof name);
        if (rune_fresh_name(dest, sizeof dest, dir, name, "-", ".db.gz", why, sizeof why) != 0)
            return rune_call_fail(c, "%s", why);
    }
    return write_backup(c, db, dest, rune_call_outputs(c));
}

static int backup_plan(struct rune_call *c)
{
    rune_call_plan(c, "would back up %s (online backup API, gzip, manifest) into %s",
                   rune_call_str(c, "path"),
                   rune_call_str(c, "to") ? rune_call_str(c, "to") : rune_call_str(c, "dir"));
    return RUNE_STEP_OK;
}

/* The database a restore or compaction replaces: a regular file, or none
 * (*exists false). A symlink is refused: the rename that swaps the new
 * file in would replace the link, not the database it points to. */
static int live_file(struct rune_call *c, const char *db, struct stat *st, bool *exists)
{
    *exists = false;
    if (lstat(db, st) != 0) {
        if (errno == ENOENT)
            return RUNE_STEP_OK;
        return rune_call_fail(c, "cannot look at %s: %s; nothing was changed", db,
                              strerror(errno));
    }
    if (S_ISLNK(st->st_mode)) {
        char real[PATH_MAX];
        bool known = realpath(db, real) != NULL;
        return rune_call_fail(c,
                              "%s is a symbolic link%s%s: replacing it would replace the link, "
                              "not the database; give the database's own path; nothing was "
                              "changed",
                              db, known ? " to " : "", known ? real : "");
    }
    if (!S_ISREG(st->st_mode))
        return rune_call_fail(c, "%s is not a regular file; nothing was changed", db);
    *exists = true;
    return RUNE_STEP_OK;
}

/* The file `path` (open it here: it is in a scratch directory) takes the
 * owner, group and mode (without set-id bits) of the database it replaces,
 * so the application opens it as before; then it is flushed to disk. 0, or
 * -1 with a reason. */
static int finish_copy(const char *path, const struct stat *like, char *why, size_t whylen)
{
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    /* EPERM: not root, and the database is another user's; ours it stays */
    if (like && fchown(fd, like->st_uid, like->st_gid) != 0 && errno != EPERM) {
        snprintf(why, whylen, "cannot give %s the owner of the database: %s", path,
                 strerror(errno));
        rc = -1;
    } else if (like && fchmod(fd, like->st_mode & 0777) != 0) {
        snprintf(why, whylen, "cannot set the mode of %s: %s", path, strerror(errno));
        rc = -1;
    } else if (fsync(fd) != 0) {
        snprintf(why, whylen, "cannot flush %s to disk: %s", path, strerror(errno));
        rc = -1;
    }
    close(fd);
    return rc;
}

/* Brings the live database to rest before it is replaced. Opening it
 * recovers it as any application would (a hot journal rolled back), and a
 * TRUNCATE checkpoint copies what its WAL holds into the main file and
 * empties the WAL: the main file alone then holds every committed
 * transaction, so its -wal and -journal can be removed before the swap
 * without losing a commit (left beside the new file, SQLite would replay
 * them into it). Returns 0; 1 when another process holds the database (the
 * checkpoint could not finish within busy_timeout); -1 when SQLite cannot
 * read it (damaged — often why it is restored), which is not an error:
 * the file is replaced as it is. */
static int settle(struct rune_call *c, const char *db, char *why, size_t whylen)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        long long busy = rune_call_int(c, "busy_timeout");
        sqlite3_busy_timeout(h, busy > 0 ? (int)busy : 5000);
        rc = sqlite3_exec(h, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(h, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &s, NULL);
        if (rc == SQLITE_OK) {
            int step = sqlite3_step(s);
            if (step == SQLITE_ROW)
                rc = sqlite3_column_int(s, 0) ? SQLITE_BUSY : SQLITE_OK;
            else if (step != SQLITE_DONE)
                rc = step;
        }
        sqlite3_finalize(s);
    }
    int result = 0;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        snprintf(why, whylen,
                 "%s is in use by another process (its WAL could not be checkpointed within "
                 "busy_timeout)",
                 db);
        result = 1;
    } else if (rc != SQLITE_OK) {
        snprintf(why, whylen, "%s", h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
        result = -1;
    }
    sqlite3_close(h);
    return result;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    if (rc != 0 && (errno == EINVAL || errno == EROFS))
        rc = 0; /* a filesystem that cannot: the renames are done all the same */
    close(fd);
    return rc;
}

/* What SQLite keeps beside a database; -shm is rebuilt from the WAL. */
static const char *const sidecars[] = {"-wal", "-journal", "-shm"};

/* Puts `fresh` — a complete database file, flushed to disk, in a scratch
 * directory beside db — in db's place. With `keep`, the current file
 * (when there is one) is kept as the safety copy, its name in `safety`
 * (else safety is ""). One system call at a time, each followed by the
 * crash point "sqlite.swap":
 *
 *   1. link(db, SAFETY), then its -wal and -journal, if any, to SAFETY-wal
 *      and SAFETY-journal: the current files get second names (which never
 *      replace anything), exactly as they are;
 *   2. settle: SQLite recovers and checkpoints the live database (through
 *      the shared inodes the safety copy gets the same, equally complete);
 *   3. the live -wal, -journal and -shm are removed;
 *   4. rename(fresh, db): the one step at which db turns from the old
 *      database into the new one.
 *
 * Before 4 the live name is the old database, after it the new one: no
 * crash point leaves no database. Returns 0; 1 when the database is in use
 * (nothing changed); -1 with a reason. A failure before 4 leaves the live
 * database as it was and removes the safety names made on the way. */
static int swap_in(struct rune_call *c, const char *db, bool exists, const char *fresh, bool keep,
                   char *safety, size_t safety_len, char *why, size_t whylen)
{
    char dir[PATH_MAX];
    dir_part(db, dir, sizeof dir);
    const char *base = strrchr(db, '/') + 1;
    safety[0] = '\0';
    size_t linked = 0; /* sidecars linked to the safety name */
    int result = -1;
    if (exists && keep) {
        /* a name taken meanwhile (by anyone) only means trying the next */
        for (int tries = 0;; tries++) {
            if (rune_fresh_name(safety, safety_len, dir, base, ".before-restore-", "", why,
                                whylen) != 0)
                return -1;
            if (link(db, safety) == 0)
                break;
            if (errno != EEXIST || tries > 100) {
                snprintf(why, whylen, "cannot keep the current %s as %s: %s; nothing was changed",
                         db, safety, strerror(errno));
                safety[0] = '\0';
                return -1;
            }
        }
        rune_crash_point("sqlite.swap");
        for (; linked < 2; linked++) {
            char a[PATH_MAX + 16], b[PATH_MAX + 80];
            snprintf(a, sizeof a, "%s%s", db, sidecars[linked]);
            snprintf(b, sizeof b, "%s%s", safety, sidecars[linked]);
            if (link(a, b) == 0) {
                rune_crash_point("sqlite.swap");
            } else if (errno != ENOENT) {
                snprintf(why, whylen, "cannot keep %s as %s: %s; nothing was changed", a, b,
                         strerror(errno));
                goto undo;
            }
        }
        if (fsync_dir(dir) != 0) {
            snprintf(why, whylen, "cannot flush directory %s to disk: %s; nothing was changed",
                     dir, strerror(errno));
            goto undo;
        }
    }
    if (exists) {
        char sw[512];
        int set = settle(c, db, sw, sizeof sw);
        if (set > 0) {
            snprintf(why, whylen, "%s", sw);
            result = 1;
            goto undo;
        }
        if (set < 0)
            rune_call_log(c, "%s cannot be read (%s): it is replaced as it is%s", db, sw,
                          safety[0] ? ", and kept as the safety copy" : "");
    }
    for (size_t i = 0; i < 3; i++) {
        char a[PATH_MAX + 16];
        snprintf(a, sizeof a, "%s%s", db, sidecars[i]);
        if (unlink(a) == 0) {
            rune_crash_point("sqlite.swap");
        } else if (errno != ENOENT) {
            snprintf(why, whylen, "cannot remove %s before the swap: %s; %s was not replaced", a,
                     strerror(errno), db);
            return -1; /* the safety copy stays: it is the complete old database */
        }
    }
    if (rename(fresh, db) != 0) {
        snprintf(why, whylen, "cannot move the new database into place: %s; %s is unchanged",
                 strerror(errno), db);
        return -1;
    }
    rune_crash_point("sqlite.swap");
    if (fsync_dir(dir) != 0) {
        snprintf(why, whylen,
                 "%s was replaced, but directory %s could not be flushed to disk (%s): a power "
                 "loss now could bring the old file back",
                 db, dir, strerror(errno));
        return -1;
    }
    return 0;
undo:
    for (size_t i = 0; i < linked; i++) {
        char b[PATH_MAX + 80];
        snprintf(b, sizeof b, "%s%s", safety, sidecars[i]);
        unlink(b);
    }
    if (safety[0])
        unlink(safety);
    safety[0] = '\0';
    return result;
}

static int restore_run(struct rune_call *c)
{
    char from[PATH_MAX], db[PATH_MAX], dir[PATH_MAX], why[1024] = "";
    char *buf = NULL, *scr = NULL, *tmp = NULL;
    resolve(c, rune_call_str(c, "from"), from, sizeof from);
    resolve(c, rune_call_str(c, "path"), db, sizeof db);
    json_t *o = rune_call_outputs(c);
    /* 1. the backup must verify before anything is touched: its manifest
     * and every checksum here; gzip's own checks as step 2 decompresses it
     * (once: that copy is put in place only if all of it came out whole) */
    struct rune_artifact_check chk;
    rune_call_log(c, "verifying %s", from);
    int v = rune_artifact_verify_sums(from, cancelled_cb, c, &chk);
    if (v != 0) {
        int st = chk.cancelled
                     ? stopped(c, "while verifying %s; nothing was changed", from)
                     : rune_call_fail(c, "refusing to restore from %s: %s; nothing was "
                                         "changed — pick another backup (backup.list)",
                                      from, chk.reason);
        rune_artifact_check_release(&chk);
        return st;
    }
    json_t *manifest = json_incref(chk.manifest);
    rune_artifact_check_release(&chk);
    const char *engine = json_string_value(json_object_get(manifest, "engine"));
    if (!engine || strcmp(engine, "sqlite")) {
        json_decref(manifest);
        return rune_call_fail(c, "%s is a %s backup, not a SQLite one", from, engine ? engine : "?");
    }
    struct stat cur;
    bool exists;
    int status = live_file(c, db, &cur, &exists);
    if (status != RUNE_STEP_OK) {
        json_decref(manifest);
        return status;
    }
    /* 2. decompress into a scratch directory beside the target */
    struct rune_artifact_reader *r = NULL;
    int fd = -1;
    dir_part(db, dir, sizeof dir);
    reap(c, dir);
    if (rune_scratch_make(&scr, dir, exists ? cur.st_uid : (uid_t)-1, why, sizeof why) != 0 ||
        (fd = rune_scratch_create(scr, "restore.db", 0600, &tmp, why, sizeof why)) < 0) {
        status = rune_call_fail(c, "%s; nothing was changed", why);
        goto out;
    }
    if (rune_artifact_reader_open(&r, from, why, sizeof why) != 0) {
        status = rune_call_fail(c, "%s", why);
        goto out;
    }
    buf = malloc(1 << 20); /* per call: steps run in parallel */
    if (!buf)
        abort();
    ssize_t n;
    while ((n = rune_artifact_read(r, buf, 1 << 20, why, sizeof why)) > 0) {
        if (rune_write_all(fd, buf, (size_t)n) != 0) {
            status = rune_call_fail(c, "writing %s: %s; nothing was changed", tmp,
                                    strerror(errno));
            goto out;
        }
        if (rune_call_cancelled(c)) {
            status = stopped(c, "while decompressing %s; nothing was changed", from);
            goto out;
        }
    }
    if (n < 0) {
        status = rune_call_fail(c, "refusing to restore from %s: %s; nothing was changed — pick "
                                   "another backup (backup.list)",
                                from, why);
        goto out;
    }
    close(fd);
    fd = -1;
    if (finish_copy(tmp, exists ? &cur : NULL, why, sizeof why) != 0) {
        status = rune_call_fail(c, "%s; nothing was changed", why);
        goto out;
    }
    /* 3. check the restored copy before it replaces anything */
    json_t *desc = describe_db(c, tmp, why, sizeof why);
    if (!desc) {
        status = rune_call_cancelled(c)
                     ? stopped(c, "while checking the restored copy of %s; nothing was changed",
                               from)
                     : rune_call_fail(c, "the restored copy does not open: %s", why);
        goto out;
    }
    bool same = json_equal(json_object_get(desc, "tables"), json_object_get(manifest, "tables")) &&
                json_equal(json_object_get(desc, "schema_fingerprint"),
                           json_object_get(manifest, "schema_fingerprint"));
    json_object_set(o, "tables", json_object_get(desc, "tables"));
    json_decref(desc);
    if (!same) {
        status = rune_call_fail(c, "the restored copy differs from the backup's manifest (row "
                                   "counts or schema); the database was not replaced");
        goto out;
    }
    /* 4. swap: the current database (if any) becomes the safety copy */
    char safety[PATH_MAX + 64];
    int sw = swap_in(c, db, exists, tmp, true, safety, sizeof safety, why, sizeof why);
    if (sw != 0) {
        status = rune_call_fail(c, "%s%s", why,
                                sw > 0 ? "; stop the application that has it open, then restore "
                                         "again; nothing was changed"
                                       : "");
        goto out;
    }
    json_object_set_new(o, "safety_copy", safety[0] ? json_string(safety) : json_null());
    json_object_set_new(o, "path", json_string(db));
    json_object_set(o, "recovery_point", json_object_get(manifest, "recovery_point"));
    json_object_set_new(o, "backup", json_string(from));
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    rune_scratch_remove(scr);
    free(tmp);
    rune_artifact_reader_close(r);
    json_decref(manifest);
    return status;
}

static int restore_plan(struct rune_call *c)
{
    rune_call_plan(c, "would verify %s, restore it into a copy, check it against the manifest, "
                      "then replace %s (keeping the current file as a safety copy)",
                   rune_call_str(c, "from"), rune_call_str(c, "path"));
    return RUNE_STEP_OK;
}

/* Is the database at `path` intact? PRAGMA integrity_check under the
 * call's cancellation. */
static bool passes_integrity(struct rune_call *c, const char *path)
{
    sqlite3 *chk = NULL;
    sqlite3_stmt *s;
    bool ok = false;
    if (sqlite3_open_v2(path, &chk, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) ==
        SQLITE_OK) {
        watch(chk, c);
        if (sqlite3_prepare_v2(chk, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK) {
            ok = sqlite3_step(s) == SQLITE_ROW &&
                 !strcmp((const char *)sqlite3_column_text(s, 0), "ok");
            sqlite3_finalize(s);
        }
    }
    sqlite3_close(chk);
    return ok;
}

static int compact_run(struct rune_call *c)
{
    char db[PATH_MAX], dir[PATH_MAX], why[1024];
    resolve(c, rune_call_str(c, "path"), db, sizeof db);
    json_t *o = rune_call_outputs(c);
    struct stat st;
    bool exists;
    int status = live_file(c, db, &st, &exists);
    if (status != RUNE_STEP_OK)
        return status;
    if (!exists)
        return rune_call_fail(c, "%s does not exist", db);
    long long before = st.st_size;
    dir_part(db, dir, sizeof dir);
    /* 1. a backup first (the seed: "ALWAYS use -BackupFirst") */
    if (rune_call_bool(c, "backup")) {
        char bdir[PATH_MAX], dest[PATH_MAX], name[256];
        const char *bd = rune_call_str(c, "backup_dir");
        if (bd)
            resolve(c, bd, bdir, sizeof bdir);
        else
            snprintf(bdir, sizeof bdir, "%s", dir);
        stem(db, name, sizeof name);
        if (rune_fresh_name(dest, sizeof dest, bdir, name, "-before-compact-", ".db.gz", why,
                            sizeof why) != 0)
            return rune_call_fail(c, "%s", why);
        json_t *bo = json_object();
        int bst = write_backup(c, db, dest, bo);
        json_decref(bo);
        if (bst != RUNE_STEP_OK)
            return bst; /* the database was not touched */
        json_object_set_new(o, "backup", json_string(dest));
    } else {
        json_object_set_new(o, "backup", json_null());
    }
    /* 2. VACUUM INTO a private empty file: the original is untouched until
     * the swap (VACUUM INTO writes into an empty file, never a full one) */
    char *scr = NULL, *tmp = NULL;
    reap(c, dir);
    if (scratch_file(dir, st.st_uid, "compact.db", &scr, &tmp, why, sizeof why) != 0)
        return rune_call_fail(c, "%s; %s is unchanged", why, db);
    sqlite3 *h = open_db(c, db, false, why, sizeof why);
    if (!h) {
        status = rune_call_fail(c, "%s", why);
        goto out;
    }
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(h, "VACUUM INTO ?", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(s, 1, tmp, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(s);
        sqlite3_finalize(s);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
        status = rune_call_cancelled(c)
                     ? stopped(c, "while compacting %s (VACUUM INTO); it is unchanged", db)
                     : rune_call_fail(c, "VACUUM INTO failed: %s; %s is unchanged",
                                      sqlite3_errmsg(h), db);
        sqlite3_close(h);
        goto out;
    }
    sqlite3_close(h);
    /* 3. the compacted copy must pass integrity_check before it replaces
     * anything; on any failure the original stays where it is */
    if (!passes_integrity(c, tmp)) {
        status = rune_call_cancelled(c)
                     ? stopped(c, "while checking the compacted copy of %s; it is unchanged", db)
                     : rune_call_fail(c, "the compacted copy failed its integrity check; %s is "
                                         "unchanged (restore from the backup if it is damaged)",
                                      db);
        goto out;
    }
    if (finish_copy(tmp, &st, why, sizeof why) != 0) {
        status = rune_call_fail(c, "%s; %s is unchanged", why, db);
        goto out;
    }
    char none[8];
    int sw = swap_in(c, db, true, tmp, false, none, sizeof none, why, sizeof why);
    if (sw != 0) {
        status = rune_call_fail(c, "%s%s", why,
                                sw > 0 ? "; stop the application that has it open, then compact "
                                         "again; it is unchanged"
                                       : "");
        goto out;
    }
    stat(db, &st);
    json_object_set_new(o, "bytes_before", json_integer(before));
    json_object_set_new(o, "bytes_after", json_integer(st.st_size));
    json_object_set_new(o, "reduction_percent",
                        json_real(before ? 100.0 * (double)(before - st.st_size) / (double)before : 0));
out:
    rune_scratch_remove(scr);
    free(tmp);
    return status;
}

static int compact_plan(struct rune_call *c)
{
    rune_call_plan(c, "would %scompact %s with VACUUM INTO and swap it in after an integrity check",
                   rune_call_bool(c, "backup") ? "back up, then " : "", rune_call_str(c, "path"));
    return RUNE_STEP_OK;
}

/* ---- the table ---- */

#define PATH_PARAM {"path", RUNE_T_PATH, true, NULL, "the SQLite database file"}
#define BUSY_PARAM {"busy_timeout", RUNE_T_DURATION, false, "5s", "how long to wait for a lock"}

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
    PATH_PARAM, BUSY_PARAM,
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
    PATH_PARAM, BUSY_PARAM,
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
    PATH_PARAM, BUSY_PARAM,
    {"tables", RUNE_T_STRLIST, false, NULL, "only these tables (default: all)"},
    {0},
};
static const struct rune_output fingerprint_outputs[] = {
    {"tables", RUNE_T_MAP, "table → {rows, hash}: count and order-independent content hash"},
    {"fingerprint", RUNE_T_STRING, "one hash over every table's"},
    {0},
};
static const struct rune_param counts_params[] = {
    PATH_PARAM, BUSY_PARAM, RUNE_COUNTS_PARAMS, {0},
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
    {"lock_wait_rate", RUNE_T_NUMBER, "percent of probes that found it busy (the seed: > 10% is contention)"},
    {"busy_samples", RUNE_T_INT, "probes that found it busy"},
    {"samples", RUNE_T_INT, "probes taken"},
    {"journal_mode", RUNE_T_STRING, "wal, delete, ..."},
    {"holders", RUNE_T_LIST, "{pid, command} of processes with the file open (as far as /proc shows)"},
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
    PATH_PARAM, BUSY_PARAM,
    {"dir", RUNE_T_PATH, false, ".", "directory for NAME-YYYYMMDD-HHMMSS.db.gz (when `to` is not given)"},
    {"to", RUNE_T_PATH, false, NULL, "the backup file to write (never overwritten)"},
    {"level", RUNE_T_INT, false, "6", "gzip level, 1 (fast) to 9 (small)"},
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
    {0},
};
static const struct rune_param restore_params[] = {
    PATH_PARAM, BUSY_PARAM,
    {"from", RUNE_T_PATH, true, NULL, "the backup (.gz with its manifest)"},
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
    PATH_PARAM, BUSY_PARAM,
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
    {"sqlite.backup", "Online backup (consistent while writers run) into a gzip artifact + manifest",
     backup_params, backup_outputs, RUNE_WRITES, backup_run, backup_plan},
    {"sqlite.restore", "Verify a backup, restore into a copy, check it, swap it in; keep a safety copy",
     restore_params, restore_outputs, RUNE_WRITES, restore_run, restore_plan},
    {"sqlite.compact", "Back up, VACUUM INTO a copy, integrity-check it, swap it in (original kept on failure)",
     compact_params, compact_outputs, RUNE_WRITES, compact_run, compact_plan},
    {"sqlite.health", "Does the database exist, open and read its schema; size and tables",
     health_params, health_outputs, RUNE_READS, health_run, health_plan},
    {"sqlite.integrity", "integrity_check (or quick_check) and foreign_key_check; problems as outputs",
     integrity_params, integrity_outputs, RUNE_READS, integrity_run, integrity_plan},
    {"sqlite.query", "Run a read-only query; rows as outputs (capped)", query_params,
     query_outputs, RUNE_READS, query_run, query_plan},
    {"sqlite.fingerprint", "Per-table row count and order-independent content hash, in one snapshot",
     fingerprint_params, fingerprint_outputs, RUNE_READS, fingerprint_run, fingerprint_plan},
    {"sqlite.verify_counts", "Compare per-table row counts with expected ones (with tolerance)",
     counts_params, rune_counts_outputs, RUNE_READS, counts_run, counts_plan},
    {"sqlite.locks", "Is the database locked, by whom, and how often (lock wait rate)",
     locks_params, locks_outputs, RUNE_READS, locks_run, locks_plan},
    {"sqlite.stress", "Concurrent-write stress test: N threads × M writes, then a corruption check",
     stress_params, stress_outputs, RUNE_WRITES, stress_run, stress_plan},
    {0},
};
