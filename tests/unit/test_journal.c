/*
 * test_journal.c — the incident log: schema creation, the round trip of an
 * incident through rune_journal_get, the hash chain (recomputed here from
 * the documented canonical form, not through journal.c), concurrent
 * appends, listing, default path resolution and the errors an operator
 * sees.
 */
#include <errno.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka needs these first */

/* cmocka.h needs stdarg, stddef, setjmp and stdint first, in this order */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include "clock.h"
#include "journal.h"

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

/* ---- Fixtures: a temporary directory per test ---- */

struct fixture {
    char dir[64];
    char path[256]; /* dir/incidents.db */
};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/rune-journal-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/incidents.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    chmod(f->dir, 0700);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static struct rune_journal *open_ok(const char *path)
{
    struct rune_journal *j = NULL;
    char err[512] = "";
    int rc = rune_journal_open(path, &j, err, sizeof err);
    if (rc != 0)
        fail_msg("rune_journal_open(%s): %s", path, err);
    assert_non_null(j);
    return j;
}

static void begin(struct rune_journal *j, const char *id, const char *runbook, long long started)
{
    struct rune_incident_rec rec = {
        .id = id,
        .runbook = runbook,
        .title = "Restore the orders database",
        .runbook_path = "runbooks/pg-restore.yaml",
        .runbook_sha256 = "ab12",
        .mode = "run",
        .operator_name = "alice",
        .host = "db1",
        .inputs = NULL,
        .rto_target_s = 600,
        .rpo_target_s = 0,
        .started_ms = started,
    };
    json_t *inputs = json_pack("{s:s, s:i}", "database", "orders", "jobs", 2);
    rec.inputs = inputs;
    if (rune_journal_begin(j, &rec) != 0)
        fail_msg("rune_journal_begin: %s", rune_journal_error(j));
    json_decref(inputs);
}

static long long event(struct rune_journal *j, const char *id, const char *kind, const char *stage,
                       const char *step, int attempt, const char *status, long long duration_ms,
                       json_t *detail)
{
    struct rune_event ev = {stage, step, attempt, kind, status, duration_ms, detail};
    long long seq = rune_journal_event(j, id, &ev);
    if (seq < 1)
        fail_msg("rune_journal_event(%s): %s", kind, rune_journal_error(j));
    return seq;
}

/* One SQL query returning text, straight through SQLite (not journal.c). */
static void sql_text(const char *path, const char *sql, char *out, size_t len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* ---- The canonical form, recomputed independently ---- */

static void sha256_hex(const char *a, const char *b, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    size_t alen = strlen(a), blen = strlen(b);
    char *both = malloc(alen + blen + 1);

    assert_non_null(both);
    memcpy(both, a, alen);
    memcpy(both + alen, b, blen + 1);
    assert_int_equal(EVP_Digest(both, alen + blen, md, &n, EVP_sha256(), NULL), 1);
    assert_int_equal(n, 32);
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    free(both);
}

static json_t *str_or_null(json_t *v)
{
    return json_incref(v ? v : json_null());
}

/* What `rune log verify` will do: rebuild the canonical object from an
 * event as rune_journal_get returns it, then hash prev_hash || canonical. */
static void recompute(const char *incident_id, json_t *ev, char out[65])
{
    json_t *c = json_object();
    char *canon;
    json_object_set_new(c, "incident_id", json_string(incident_id));
    json_object_set_new(c, "seq", json_incref(json_object_get(ev, "seq")));
    json_object_set_new(c, "at", str_or_null(json_object_get(ev, "at")));
    json_object_set_new(c, "stage", str_or_null(json_object_get(ev, "stage")));
    json_object_set_new(c, "step", str_or_null(json_object_get(ev, "step")));
    json_object_set_new(c, "attempt", json_incref(json_object_get(ev, "attempt")));
    json_object_set_new(c, "kind", str_or_null(json_object_get(ev, "kind")));
    json_object_set_new(c, "status", str_or_null(json_object_get(ev, "status")));
    json_object_set_new(c, "duration_ms", str_or_null(json_object_get(ev, "duration_ms")));
    json_object_set_new(c, "detail", str_or_null(json_object_get(ev, "detail")));
    canon = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(canon);
    sha256_hex(json_string_value(json_object_get(ev, "prev_hash")), canon, out);
    free(canon);
    json_decref(c);
}

static const char *ev_str(json_t *ev, const char *key)
{
    return json_string_value(json_object_get(ev, key));
}

static long long ev_int(json_t *ev, const char *key)
{
    return json_integer_value(json_object_get(ev, key));
}

/* ---- Tests ---- */

static void test_open_creates_file_and_schema(void **state)
{
    struct fixture *f = *state;
    char path[400], parent[300], buf[64];
    struct stat sb;
    struct rune_journal *j;

    snprintf(parent, sizeof parent, "%s/state/rune", f->dir);
    snprintf(path, sizeof path, "%s/incidents.db", parent);
    j = open_ok(path);
    assert_string_equal(rune_journal_path(j), path);
    rune_journal_close(j);

    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(parent, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    sql_text(path, "SELECT value FROM meta WHERE key = 'schema_version'", buf, sizeof buf);
    assert_string_equal(buf, "1");
    sql_text(path, "PRAGMA journal_mode", buf, sizeof buf);
    assert_string_equal(buf, "wal");
    sql_text(path,
             "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
             "name IN ('meta', 'incidents', 'events', 'artifacts')",
             buf, sizeof buf);
    assert_string_equal(buf, "4");

    /* Reopening applies the schema again: no error, nothing duplicated. */
    j = open_ok(path);
    begin(j, "20260101-000000-0001", "pg-restore", 0);
    rune_journal_close(j);
    j = open_ok(path);
    rune_journal_close(j);
    sql_text(path, "SELECT count(*) FROM meta", buf, sizeof buf);
    assert_string_equal(buf, "1");
    sql_text(path, "SELECT count(*) FROM incidents", buf, sizeof buf);
    assert_string_equal(buf, "1");
}

static void test_open_read_never_creates(void **state)
{
    struct fixture *f = *state;
    struct rune_journal *j = (struct rune_journal *)1;
    char err[512] = "", other[300];
    struct stat sb;

    assert_int_equal(rune_journal_open_read(f->path, &j, err, sizeof err), RUNE_JOURNAL_ABSENT);
    assert_null(j);
    assert_non_null(strstr(err, f->path));
    assert_int_equal(stat(f->path, &sb), -1);

    /* An SQLite file that is not ours is named as such. */
    snprintf(other, sizeof other, "%s/other.db", f->dir);
    sql_exec(other, "CREATE TABLE t (x)");
    assert_int_equal(rune_journal_open_read(other, &j, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a rune incident log"));
    assert_non_null(strstr(err, other));

    /* A log written by a writer reads back. */
    j = open_ok(f->path);
    begin(j, "20260101-000000-0002", "pg-restore", 0);
    rune_journal_close(j);
    assert_int_equal(rune_journal_open_read(f->path, &j, err, sizeof err), 0);
    json_t *list = rune_journal_list(j, NULL, 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    rune_journal_close(j);
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    const char *id = "20261123-111600-ab12";
    struct rune_journal *j = open_ok(f->path);
    json_t *detail = json_pack("{s:s, s:s}", "error", "exit status 3", "tail", "boom\n");
    json_t *inc, *events, *ev;

    begin(j, id, "pg-restore", 1795000000123LL);
    assert_int_equal(event(j, id, "incident.start", NULL, NULL, 0, NULL, -1, NULL), 1);
    assert_int_equal(event(j, id, "stage.start", "mitigation", NULL, 0, NULL, -1, NULL), 2);
    assert_int_equal(
        event(j, id, "step.attempt", "mitigation", "restore", 1, "failed", 1234, detail), 3);
    assert_int_equal(event(j, id, "incident.end", NULL, NULL, 0, "rolled_back", 5000, NULL), 4);
    assert_int_equal(rune_journal_set_severity(j, id, "sev2"), 0);
    assert_int_equal(rune_journal_end(j, id, "rolled_back", 3, 1795000005123LL), 0);
    json_decref(detail);

    inc = rune_journal_get(j, id);
    assert_non_null(inc);
    assert_string_equal(ev_str(inc, "id"), id);
    assert_string_equal(ev_str(inc, "runbook"), "pg-restore");
    assert_string_equal(ev_str(inc, "title"), "Restore the orders database");
    assert_string_equal(ev_str(inc, "mode"), "run");
    assert_string_equal(ev_str(inc, "operator"), "alice");
    assert_string_equal(ev_str(inc, "severity"), "sev2");
    assert_string_equal(ev_str(inc, "outcome"), "rolled_back");
    assert_int_equal(ev_int(inc, "exit_code"), 3);
    assert_int_equal(ev_int(inc, "rto_target_s"), 600);
    assert_true(json_is_null(json_object_get(inc, "rpo_target_s")));
    assert_string_equal(ev_str(inc, "started_at"), "2026-11-18T11:06:40.123Z");
    assert_string_equal(ev_str(inc, "ended_at"), "2026-11-18T11:06:45.123Z");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(inc, "inputs"), "database")), "orders");
    assert_true(json_is_array(json_object_get(inc, "artifacts")));

    events = json_object_get(inc, "events");
    assert_int_equal(json_array_size(events), 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(ev_int(json_array_get(events, i), "seq"), (long long)i + 1);
    assert_string_equal(ev_str(json_array_get(events, 0), "kind"), "incident.start");
    assert_true(json_is_null(json_object_get(json_array_get(events, 0), "stage")));
    assert_true(json_is_null(json_object_get(json_array_get(events, 0), "duration_ms")));
    assert_true(json_is_null(json_object_get(json_array_get(events, 0), "detail")));
    ev = json_array_get(events, 2);
    assert_string_equal(ev_str(ev, "kind"), "step.attempt");
    assert_string_equal(ev_str(ev, "stage"), "mitigation");
    assert_string_equal(ev_str(ev, "step"), "restore");
    assert_int_equal(ev_int(ev, "attempt"), 1);
    assert_string_equal(ev_str(ev, "status"), "failed");
    assert_int_equal(ev_int(ev, "duration_ms"), 1234);
    assert_string_equal(ev_str(json_object_get(ev, "detail"), "error"), "exit status 3");
    assert_string_equal(ev_str(json_array_get(events, 3), "kind"), "incident.end");
    json_decref(inc);

    /* Unknown id: NULL and no error; so does an event for it fail. */
    assert_null(rune_journal_get(j, "nope"));
    assert_string_equal(rune_journal_error(j), "");
    struct rune_event orphan = {NULL, NULL, 0, "note", NULL, -1, NULL};
    assert_int_equal(rune_journal_event(j, "nope", &orphan), -1);
    assert_non_null(strstr(rune_journal_error(j), "no incident nope"));
    assert_int_equal(rune_journal_end(j, "nope", "resolved", 0, 0), -1);
    assert_non_null(strstr(rune_journal_error(j), "no incident nope"));
    rune_journal_close(j);
}

static void test_hash_chain(void **state)
{
    struct fixture *f = *state;
    const char *id = "20261123-111600-c0de";
    struct rune_journal *j = open_ok(f->path);
    json_t *detail = json_pack("{s:s, s:i}", "b", "x", "a", 1);
    json_t *inc, *events, *e1, *e2;
    char expect[1024], hash[65];

    begin(j, id, "pg-restore", 0);
    event(j, id, "incident.start", NULL, NULL, 0, NULL, -1, NULL);
    event(j, id, "step.attempt", "mitigation", "restart", 1, "ok", 42, detail);
    json_decref(detail);
    inc = rune_journal_get(j, id);
    events = json_object_get(inc, "events");
    e1 = json_array_get(events, 0);
    e2 = json_array_get(events, 1);

    assert_string_equal(ev_str(e1, "prev_hash"), ZEROS);
    assert_string_equal(ev_str(e2, "prev_hash"), ev_str(e1, "hash"));
    assert_int_equal(strlen(ev_str(e2, "hash")), 64);

    /* The canonical form spelled out byte for byte, as documented. */
    snprintf(expect, sizeof expect,
             "%s{\"at\":\"%s\",\"attempt\":1,\"detail\":{\"a\":1,\"b\":\"x\"},"
             "\"duration_ms\":42,\"incident_id\":\"%s\",\"kind\":\"step.attempt\",\"seq\":2,"
             "\"stage\":\"mitigation\",\"status\":\"ok\",\"step\":\"restart\"}",
             ev_str(e2, "prev_hash"), ev_str(e2, "at"), id);
    sha256_hex(expect, "", hash);
    assert_string_equal(hash, ev_str(e2, "hash"));
    snprintf(expect, sizeof expect,
             "%s{\"at\":\"%s\",\"attempt\":0,\"detail\":null,\"duration_ms\":null,"
             "\"incident_id\":\"%s\",\"kind\":\"incident.start\",\"seq\":1,\"stage\":null,"
             "\"status\":null,\"step\":null}",
             ZEROS, ev_str(e1, "at"), id);
    sha256_hex(expect, "", hash);
    assert_string_equal(hash, ev_str(e1, "hash"));

    /* An edit made afterwards no longer matches. */
    json_decref(inc);
    rune_journal_close(j);
    sql_exec(f->path, "UPDATE events SET detail_json = '{\"a\":2,\"b\":\"x\"}' WHERE seq = 2");
    j = open_ok(f->path);
    inc = rune_journal_get(j, id);
    e2 = json_array_get(json_object_get(inc, "events"), 1);
    recompute(id, e2, hash);
    assert_string_not_equal(hash, ev_str(e2, "hash"));
    json_decref(inc);
    rune_journal_close(j);
}

#define THREADS 8
#define PER_THREAD 50

struct writer {
    struct rune_journal *j;
    const char *id;
    int n;
    int failures;
};

static void *write_events(void *arg)
{
    struct writer *w = arg;
    char step[32];
    snprintf(step, sizeof step, "step-%d", w->n);
    for (int i = 0; i < PER_THREAD; i++) {
        json_t *detail = json_pack("{s:i, s:i}", "thread", w->n, "i", i);
        struct rune_event ev = {"mitigation", step, 1, "step.log", NULL, i, detail};
        if (rune_journal_event(w->j, w->id, &ev) < 1)
            w->failures++;
        json_decref(detail);
    }
    return NULL;
}

static void test_concurrent_appends(void **state)
{
    struct fixture *f = *state;
    const char *id = "20261123-111600-7777";
    struct rune_journal *j = open_ok(f->path);
    struct writer w[THREADS];
    pthread_t t[THREADS];
    int next_i[THREADS] = {0};
    const char *prev = ZEROS;
    json_t *inc, *events;

    begin(j, id, "pg-restore", 0);
    for (int n = 0; n < THREADS; n++) {
        w[n] = (struct writer){j, id, n, 0};
        assert_int_equal(pthread_create(&t[n], NULL, write_events, &w[n]), 0);
    }
    for (int n = 0; n < THREADS; n++) {
        pthread_join(t[n], NULL);
        assert_int_equal(w[n].failures, 0);
    }

    inc = rune_journal_get(j, id);
    assert_non_null(inc);
    events = json_object_get(inc, "events");
    assert_int_equal(json_array_size(events), THREADS * PER_THREAD);
    for (size_t k = 0; k < json_array_size(events); k++) {
        json_t *ev = json_array_get(events, k);
        json_t *d = json_object_get(ev, "detail");
        int n = (int)ev_int(d, "thread");
        char hash[65];

        assert_int_equal(ev_int(ev, "seq"), (long long)k + 1);
        assert_string_equal(ev_str(ev, "prev_hash"), prev);
        recompute(id, ev, hash);
        assert_string_equal(hash, ev_str(ev, "hash"));
        /* Each thread's events keep that thread's order. */
        assert_int_equal(ev_int(d, "i"), next_i[n]);
        next_i[n]++;
        prev = ev_str(ev, "hash");
    }
    json_decref(inc);
    rune_journal_close(j);
}

/* Several processes (two runs, or a run and its resume) share one file:
 * BEGIN IMMEDIATE keeps seq and the chain whole across connections. */
static void test_concurrent_processes(void **state)
{
    struct fixture *f = *state;
    const char *id = "20261123-111600-8888";
    struct rune_journal *j = open_ok(f->path);
    const char *prev = ZEROS;
    pid_t pids[4];
    json_t *inc, *events;

    begin(j, id, "pg-restore", 0);
    rune_journal_close(j);
    for (int p = 0; p < 4; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            struct rune_journal *cj = NULL;
            char err[512];
            int bad = rune_journal_open(f->path, &cj, err, sizeof err) != 0;
            for (int i = 0; !bad && i < PER_THREAD; i++) {
                struct rune_event ev = {"mitigation", "step", p, "step.log", NULL, i, NULL};
                bad = rune_journal_event(cj, id, &ev) < 1;
            }
            rune_journal_close(cj);
            _exit(bad);
        }
    }
    for (int p = 0; p < 4; p++) {
        int status = -1;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    j = open_ok(f->path);
    inc = rune_journal_get(j, id);
    events = json_object_get(inc, "events");
    assert_int_equal(json_array_size(events), 4 * PER_THREAD);
    for (size_t k = 0; k < json_array_size(events); k++) {
        json_t *ev = json_array_get(events, k);
        assert_int_equal(ev_int(ev, "seq"), (long long)k + 1);
        assert_string_equal(ev_str(ev, "prev_hash"), prev);
        prev = ev_str(ev, "hash");
    }
    json_decref(inc);
    rune_journal_close(j);
}

static void test_list_order_and_filter(void **state)
{
    struct fixture *f = *state;
    struct rune_journal *j = open_ok(f->path);
    long long t = 1795000000000LL;
    json_t *all, *a, *one;

    begin(j, "20260101-000000-000a", "pg-restore", t);
    begin(j, "20260101-000001-000b", "cache-flush", t + 1000);
    begin(j, "20260101-000002-000c", "pg-restore", t + 2000);

    all = rune_journal_list(j, NULL, 0);
    assert_int_equal(json_array_size(all), 3);
    assert_string_equal(ev_str(json_array_get(all, 0), "id"), "20260101-000002-000c");
    assert_string_equal(ev_str(json_array_get(all, 1), "id"), "20260101-000001-000b");
    assert_string_equal(ev_str(json_array_get(all, 2), "id"), "20260101-000000-000a");
    assert_true(json_is_object(json_object_get(json_array_get(all, 0), "inputs")));
    assert_null(json_object_get(json_array_get(all, 0), "events"));

    a = rune_journal_list(j, "pg-restore", 0);
    assert_int_equal(json_array_size(a), 2);
    assert_string_equal(ev_str(json_array_get(a, 0), "id"), "20260101-000002-000c");
    assert_string_equal(ev_str(json_array_get(a, 1), "id"), "20260101-000000-000a");

    one = rune_journal_list(j, NULL, 1);
    assert_int_equal(json_array_size(one), 1);
    assert_string_equal(ev_str(json_array_get(one, 0), "id"), "20260101-000002-000c");

    json_decref(all);
    json_decref(a);
    json_decref(one);
    rune_journal_close(j);
}

/* Sets or unsets (value NULL) an environment variable. */
static void env(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static void test_default_path(void **state)
{
    static const char *const names[] = {"RUNE_LOG", "RUNE_HOME", "XDG_STATE_HOME", "HOME"};
    char *saved[4];
    char buf[512];

    for (int i = 0; i < 4; i++) {
        const char *v = getenv(names[i]);
        saved[i] = v ? strdup(v) : NULL;
    }
    env("RUNE_LOG", "/env/log.db");
    env("RUNE_HOME", "/rune/home");
    env("XDG_STATE_HOME", "/xdg/state");
    env("HOME", "/home/op");

    assert_string_equal(rune_journal_default_path("/flag.db", buf, sizeof buf), "/flag.db");
    assert_string_equal(rune_journal_default_path(NULL, buf, sizeof buf), "/env/log.db");
    assert_string_equal(rune_journal_default_path("", buf, sizeof buf), "/env/log.db");
    env("RUNE_LOG", NULL);
    assert_string_equal(rune_journal_default_path(NULL, buf, sizeof buf),
                        "/rune/home/incidents.db");
    env("RUNE_HOME", "/rune/home/");
    assert_string_equal(rune_journal_default_path(NULL, buf, sizeof buf),
                        "/rune/home/incidents.db");
    env("RUNE_HOME", NULL);
    assert_string_equal(rune_journal_default_path(NULL, buf, sizeof buf),
                        "/xdg/state/rune/incidents.db");
    env("XDG_STATE_HOME", "relative/is/ignored");
    assert_string_equal(rune_journal_default_path(NULL, buf, sizeof buf),
                        "/home/op/.local/state/rune/incidents.db");
    /* Too long for the buffer: empty, never truncated into another path. */
    assert_string_equal(rune_journal_default_path(NULL, buf, 10), "");

    for (int i = 0; i < 4; i++) {
        env(names[i], saved[i]);
        free(saved[i]);
    }
}

static void test_unwritable_location(void **state)
{
    struct fixture *f = *state;
    struct rune_journal *j = NULL;
    char file[300], path[400], err[1024] = "";
    FILE *fp;

    /* A directory that cannot be made (a file is in the way): fails even
     * for root. */
    snprintf(file, sizeof file, "%s/plain-file", f->dir);
    fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/sub/incidents.db", file);
    assert_int_equal(rune_journal_open(path, &j, err, sizeof err), -1);
    assert_null(j);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "--log PATH"));

    /* A directory without write permission (root ignores the bits). */
    if (geteuid() != 0) {
        char ro[300];
        snprintf(ro, sizeof ro, "%s/ro", f->dir);
        assert_int_equal(mkdir(ro, 0500), 0);
        snprintf(path, sizeof path, "%s/incidents.db", ro);
        assert_int_equal(rune_journal_open(path, &j, err, sizeof err), -1);
        assert_non_null(strstr(err, path));
        chmod(ro, 0700);
    }

    /* Nowhere at all. */
    assert_int_equal(rune_journal_open("", &j, err, sizeof err), -1);
    assert_non_null(strstr(err, "--log PATH"));
}

static void test_new_id(void **state)
{
    char a[32], b[32];
    int distinct = 0;

    rune_journal_new_id(a);
    assert_int_equal(strlen(a), 20);
    for (int i = 0; i < 20; i++) {
        if (i == 8 || i == 15)
            assert_int_equal(a[i], '-');
        else if (i < 15)
            assert_true(a[i] >= '0' && a[i] <= '9');
        else
            assert_non_null(strchr("0123456789abcdef", a[i]));
    }
    /* 16 random bits: a handful of draws is practically never all equal. */
    for (int i = 0; i < 8; i++) {
        rune_journal_new_id(b);
        distinct += strcmp(a + 16, b + 16) != 0;
    }
    assert_true(distinct > 0);
}

/* A second incident with the same id is told apart from other failures,
 * so `rune run` can draw a new id instead of failing the run. */
static void test_duplicate_id(void **state)
{
    struct fixture *f = *state;
    struct rune_journal *j = open_ok(f->path);
    struct rune_incident_rec rec = {.id = "20261123-111600-dddd", .runbook = "r", .mode = "run"};

    assert_int_equal(rune_journal_begin(j, &rec), 0);
    assert_int_equal(rune_journal_begin(j, &rec), 1);
    assert_non_null(strstr(rune_journal_error(j), "already exists"));
    rec.id = "20261123-111600-ddde";
    assert_int_equal(rune_journal_begin(j, &rec), 0);
    rec.mode = NULL;
    rec.id = "20261123-111600-dddf";
    assert_int_equal(rune_journal_begin(j, &rec), -1);
    rune_journal_close(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_file_and_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_read_never_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_order_and_filter, setup, teardown),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test_setup_teardown(test_unwritable_location, setup, teardown),
        cmocka_unit_test(test_new_id),
        cmocka_unit_test_setup_teardown(test_duplicate_id, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
