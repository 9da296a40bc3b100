/*
 * sqlite_check.c — the sqlite.* steps that diagnose and check a database:
 * health, integrity, read-only queries, content fingerprints, row-count
 * verification, lock diagnosis and the concurrent-write stress test.
 */
#include "sqlite.h"

#include <dirent.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "counts.h"
#include "digest.h"
#include "rowhash.h"

/* ---- sqlite.health ---- */

int rune_sqlite_health_run(struct rune_call *c)
{
    char path[PATH_MAX], why[512] = "";
    rune_sqlite_resolve(c, rune_call_str(c, "path"), path, sizeof path);
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
        sqlite3 *db = rune_sqlite_open(c, path, true, why, sizeof why);
        if (db)
            tables = rune_sqlite_table_names(db, why, sizeof why); /* the first real read */
        opens = tables != NULL;
        if (!opens)
            json_array_append_new(errors, json_string(why));
        sqlite3_close(db);
    }
    json_object_set_new(o, "opens", json_boolean(opens));
    json_object_set_new(o, "table_count",
                        json_integer(tables ? (json_int_t)json_array_size(tables) : 0));
    json_object_set_new(o, "tables", tables ? tables : json_array());
    bool healthy = json_array_size(errors) == 0;
    json_object_set_new(o, "healthy", json_boolean(healthy));
    json_object_set_new(o, "errors", errors);
    if (!healthy)
        return rune_call_fail(c,
                              "%s is not healthy: %s; check the path, or run sqlite.integrity "
                              "and restore from a backup if it is damaged",
                              path, json_string_value(json_array_get(errors, 0)));
    return RUNE_STEP_OK;
}

int rune_sqlite_health_plan(struct rune_call *c)
{
    return rune_sqlite_plan_path(c, "check the health of");
}

/* ---- sqlite.integrity ---- */

int rune_sqlite_integrity_run(struct rune_call *c)
{
    const char *mode = rune_call_str(c, "mode");
    if (strcmp(mode, "full") && strcmp(mode, "quick"))
        return rune_call_fail(c, "mode must be full or quick, not \"%s\"", mode);
    char path[PATH_MAX];
    sqlite3 *db = rune_sqlite_open_path(c, true, path, sizeof path);
    if (!db)
        return RUNE_STEP_FAILED;
    long long max = rune_call_int(c, "max_problems");
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA %s_check(%lld)",
             !strcmp(mode, "full") ? "integrity" : "quick", max > 0 ? max : 100);
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
        while (sqlite3_step(s) == SQLITE_ROW &&
               json_array_size(fks) < (size_t)(max > 0 ? max : 100))
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
        return rune_sqlite_stopped(
            c,
            "while checking %s; the check did not finish, so it says nothing about "
            "the database — run it again with a longer timeout",
            path);
    }
    size_t np = json_array_size(problems), nf = json_array_size(fks);
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "ok", json_boolean(np == 0 && nf == 0));
    json_object_set_new(o, "problem_count", json_integer((json_int_t)(np + nf)));
    json_object_set_new(o, "problems", problems);
    json_object_set_new(o, "foreign_key_violations", fks);
    if (np)
        return rune_call_fail(c,
                              "%s failed its %s check (%zu problem%s, first: %s); restore from "
                              "a verified backup or run sqlite.compact",
                              path, mode, np, np == 1 ? "" : "s",
                              json_string_value(json_array_get(problems, 0)));
    if (nf)
        return rune_call_fail(c, "%s has %zu row%s violating foreign keys (first in table %s)",
                              path, nf, nf == 1 ? "" : "s",
                              json_string_value(json_object_get(json_array_get(fks, 0), "table")));
    return RUNE_STEP_OK;
}

int rune_sqlite_integrity_plan(struct rune_call *c)
{
    return rune_sqlite_plan_path(c, "check the integrity of");
}

/* ---- sqlite.query ---- */

static json_t *column_json(sqlite3_stmt *s, int i)
{
    switch (sqlite3_column_type(s, i)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(s, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(s, i));
    case SQLITE_NULL:
        return json_null();
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

int rune_sqlite_query_run(struct rune_call *c)
{
    char path[PATH_MAX];
    sqlite3 *db = rune_sqlite_open_path(c, true, path, sizeof path);
    if (!db)
        return RUNE_STEP_FAILED;
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
        st = rune_sqlite_stopped(
            c,
            "after %s rows; the query did not finish and its rows are incomplete "
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
    json_object_set(o, "value",
                    first && json_object_size(first)
                        ? json_object_iter_value(json_object_iter(first))
                        : json_null());
    json_object_set_new(o, "rows", rows);
    return st;
}

int rune_sqlite_query_plan(struct rune_call *c)
{
    rune_call_plan(c, "would query %s (read-only): %s", rune_call_str(c, "path"),
                   rune_call_str(c, "sql"));
    return RUNE_STEP_OK;
}

/* ---- sqlite.fingerprint ---- */

int rune_sqlite_fingerprint_run(struct rune_call *c)
{
    char path[PATH_MAX], why[512] = "";
    sqlite3 *db = rune_sqlite_open_path(c, true, path, sizeof path);
    if (!db)
        return RUNE_STEP_FAILED;
    /* one read transaction: every table is seen as of the same moment */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    json_t *wanted = json_object_get(rune_call_params(c), "tables");
    json_t *names = wanted ? json_incref(wanted) : rune_sqlite_table_names(db, why, sizeof why);
    int st = RUNE_STEP_OK;
    json_t *tables = json_object();
    EVP_MD_CTX *all = EVP_MD_CTX_new();
    EVP_DigestInit_ex(all, EVP_sha256(), NULL);
    size_t i;
    json_t *nv;
    json_array_foreach(names, i, nv)
    {
        const char *t = json_string_value(nv);
        char *sql = rune_sqlite_sql_for("SELECT * FROM \"%w\"", t);
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
            rune_sqlite_hash_row(s, &d);
            if ((d.rows & 4095) == 0 && rune_call_cancelled(c))
                break;
        }
        sqlite3_finalize(s);
        char hex[65];
        rune_rowhash_hex(&d, hex);
        rune_rowhash_free(&d);
        if (rc != SQLITE_DONE) {
            st = rune_call_cancelled(c)
                     ? rune_sqlite_stopped(
                           c, "while reading table %s; the fingerprint is incomplete", t)
                     : rune_call_fail(c, "reading %s failed: %s", t, sqlite3_errmsg(db));
            break;
        }
        json_object_set_new(tables, t,
                            json_pack("{s:I, s:s}", "rows", (json_int_t)d.rows, "hash", hex));
        EVP_DigestUpdate(all, t, strlen(t) + 1);
        EVP_DigestUpdate(all, hex, 64);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    json_decref(names);
    char hex[RUNE_SHA256_HEX];
    rune_digest_hex(all, hex);
    EVP_MD_CTX_free(all);
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "tables", tables);
    json_object_set_new(o, "fingerprint", json_string(hex));
    if (!names && st == RUNE_STEP_OK)
        return rune_call_fail(c, "%s", why);
    return st;
}

int rune_sqlite_fingerprint_plan(struct rune_call *c)
{
    return rune_sqlite_plan_path(c, "fingerprint the tables of");
}

/* ---- sqlite.verify_counts ---- */

static long long count_rows(sqlite3 *db, const char *table, char *why, size_t whylen)
{
    char *sql = rune_sqlite_sql_for("SELECT count(*) FROM \"%w\"", table);
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

static long long count_in(void *db, const char *table, char *why, size_t len)
{
    return count_rows(db, table, why, len);
}

int rune_sqlite_counts_run(struct rune_call *c)
{
    char path[PATH_MAX], why[512] = "";
    rune_sqlite_resolve(c, rune_call_str(c, "path"), path, sizeof path);
    json_t *expected = rune_counts_expected(c);
    if (!expected)
        return RUNE_STEP_FAILED;
    sqlite3 *db = rune_sqlite_open(c, path, true, why, sizeof why);
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
        return rune_sqlite_stopped(
            c, "while counting the rows of %s; the comparison did not finish", path);
    return st;
}

int rune_sqlite_counts_plan(struct rune_call *c)
{
    return rune_sqlite_plan_path(c, "compare row counts of");
}

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
            json_array_append_new(pids,
                                  json_pack("{s:I, s:s}", "pid", (json_int_t)pid, "command", comm));
        }
    }
    closedir(proc);
    return pids;
}

int rune_sqlite_locks_run(struct rune_call *c)
{
    char path[PATH_MAX];
    sqlite3 *db = rune_sqlite_open_path(c, false, path, sizeof path);
    if (!db)
        return RUNE_STEP_FAILED;
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
        int rc =
            sqlite3_exec(db, "BEGIN; SELECT count(*) FROM sqlite_schema; COMMIT", NULL, NULL, NULL);
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
            return rune_sqlite_stopped(
                c,
                "after %s lock probes; too few to say how busy the database is — "
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
    json_object_set_new(o, "busy_samples",
                        json_integer(write_busy > read_busy ? write_busy : read_busy));
    json_object_set_new(
        o, "lock_wait_rate",
        json_real(100.0 * (double)(write_busy > read_busy ? write_busy : read_busy) /
                  (double)samples));
    json_object_set_new(o, "holders", holders(path));
    return RUNE_STEP_OK;
}

int rune_sqlite_locks_plan(struct rune_call *c)
{
    return rune_sqlite_plan_path(c, "probe the locks of");
}

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
    char *sql =
        rune_sqlite_sql_for("INSERT INTO \"%w\"(worker, at, payload) VALUES (?, ?, ?)", w->table);
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

int rune_sqlite_stress_run(struct rune_call *c)
{
    const char *table = rune_call_str(c, "table");
    long long threads = rune_call_int(c, "threads"), writes = rune_call_int(c, "writes");
    if (threads < 1 || threads > 64 || writes < 1)
        return rune_call_fail(c, "threads must be 1-64 and writes at least 1");
    char path[PATH_MAX];
    sqlite3 *db = rune_sqlite_open_path(c, false, path, sizeof path);
    if (!db)
        return RUNE_STEP_FAILED;
    char *sql =
        rune_sqlite_sql_for("CREATE TABLE IF NOT EXISTS \"%w\"(id INTEGER PRIMARY KEY, worker "
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
        w[i] = (struct stress){path, table, writes, (int)rune_call_int(c, "busy_timeout"), c, 0,
                               0,    0,     ""};
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
        intact =
            sqlite3_step(s) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(s, 0), "ok");
        sqlite3_finalize(s);
    }
    if (!rune_call_bool(c, "keep_table")) {
        /* the scratch table goes even after a timeout: no progress handler */
        sqlite3_progress_handler(db, 0, NULL, NULL);
        sql = rune_sqlite_sql_for("DROP TABLE IF EXISTS \"%w\"", table);
        if (sql)
            sqlite3_exec(db, sql, NULL, NULL, NULL);
        sqlite3_free(sql);
    }
    sqlite3_close(db);
    if (cancelled)
        return rune_sqlite_stopped(
            c,
            "while the writers ran on %s; the test did not finish and measured "
            "nothing — give it a longer timeout or fewer writes",
            path);
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
        return rune_call_fail(c,
                              "%s failed its integrity check after the stress test: restore "
                              "from a verified backup",
                              path);
    if (rate < min_rate || timeouts > max_timeouts)
        return rune_call_fail(c,
                              "stress test %s: %.1f%% of %lld writes succeeded (need %.1f%%), "
                              "%lld lock timeouts (at most %lld)%s%s",
                              level, rate, total, min_rate, timeouts, max_timeouts,
                              err[0] ? "; first error: " : "", err);
    return RUNE_STEP_OK;
}

int rune_sqlite_stress_plan(struct rune_call *c)
{
    rune_call_plan(c,
                   "would write %lld rows from each of %lld threads into %s (table %s, dropped "
                   "afterwards)",
                   rune_call_int(c, "writes"), rune_call_int(c, "threads"),
                   rune_call_str(c, "path"), rune_call_str(c, "table"));
    return RUNE_STEP_OK;
}
