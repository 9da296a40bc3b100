/*
 * testrun.c — one scenario of a runbook's tests, run the way an operator
 * would run it and checked the way an operator would read the log.
 *
 * The parent makes a private directory (mkdtemp, 0700) holding the
 * fixtures (files, directories, SQLite databases built from SQL) and a
 * throwaway incident log, and spawns `rune test --scenario-run SPEC`
 * there through proc.c, with the fixtures' environment. The child is an
 * ordinary run of the runbook (rune_run_runbook): dry by default, as
 * `rune plan` (steps that write are planned; the scenario's simulated
 * outputs stand for theirs), real when the scenario says so; failures are
 * injected as with --fail. A child keeps each scenario apart (environment,
 * working directory, signals, the Lua types loaded) and can never touch the
 * user's incident log: its log path is given, and RUNE_LOG and RUNE_HOME
 * point into the private directory too.
 *
 * The parent then reads the throwaway log (the incident's outcome, exit
 * code, and each step's last status and outputs) and lists every way it
 * differs from the scenario's expect:.
 */
#include "testrun.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "console.h"
#include "exitcode.h"
#include "journal.h"
#include "model.h"
#include "proc.h"
#include "run.h"
#include "workdir.h"

/* ---- problems, one per line ---- */

struct text {
    char *s;
    size_t len;
};

static void addf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void addf(struct text *t, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t w = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    char *more = realloc(t->s, t->len + w + 2);
    if (!more)
        return;
    t->s = more;
    memcpy(t->s + t->len, buf, w);
    t->len += w;
    t->s[t->len++] = '\n';
    t->s[t->len] = '\0';
}

/* ---- fixtures ---- */

/* mkdir -p of the directories above (and, with self, of) rel under root. */
static int make_dirs(const char *root, const char *rel, bool self, struct text *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    size_t start = strlen(root) + 1;
    for (size_t i = start; path[i]; i++) {
        if (path[i] != '/')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            addf(err, "fixture: cannot make directory %s: %s", path, strerror(errno));
            return -1;
        }
        path[i] = '/';
    }
    if (self && mkdir(path, 0700) != 0 && errno != EEXIST) {
        addf(err, "fixture: cannot make directory %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_file(const char *root, const char *rel, const char *text, struct text *err)
{
    if (make_dirs(root, rel, false, err) != 0)
        return -1;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    ssize_t w = fd >= 0 ? write(fd, text, len) : -1;
    if (fd < 0 || w != (ssize_t)len || close(fd) != 0) {
        addf(err, "fixture: cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int build_sqlite(const char *root, const char *rel, const char *sql, struct text *err)
{
    if (make_dirs(root, rel, false, err) != 0)
        return -1;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    sqlite3 *db = NULL;
    char *msg = NULL;
    int rc = sqlite3_open_v2(
        path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        addf(err, "fixture: building SQLite database %s failed: %s", rel,
             msg  ? msg
             : db ? sqlite3_errmsg(db)
                  : sqlite3_errstr(rc));
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static int make_fixtures(const struct rune_scenario *sc, const char *root, struct text *err)
{
    size_t i;
    json_t *v;
    const char *k;
    json_array_foreach(sc->dirs, i,
                       v) if (make_dirs(root, json_string_value(v), true, err) != 0) return -1;
    json_object_foreach(sc->files, k,
                        v) if (write_file(root, k, json_string_value(v), err) != 0) return -1;
    json_object_foreach(sc->sqlite, k,
                        v) if (build_sqlite(root, k, json_string_value(v), err) != 0) return -1;
    return 0;
}

/* ---- the child ---- */

int rune_scenario_child(const char *spec_path)
{
    json_error_t je;
    json_t *spec = json_load_file(spec_path, 0, &je);
    if (!json_is_object(spec)) {
        fprintf(stderr, "rune test: cannot read the scenario %s: %s\n", spec_path, je.text);
        json_decref(spec);
        return RUNE_EXIT_INTERNAL;
    }
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_runbook *rb =
        rune_runbook_load(json_string_value(json_object_get(spec, "runbook")), &d);
    if (!rb) {
        rune_diags_print(&d, stderr);
        rune_diags_free(&d);
        json_decref(spec);
        return RUNE_EXIT_INVALID;
    }
    struct rune_run_opts o = {
        .jobs = 4,
        .yes = json_is_true(json_object_get(spec, "yes")),
        .quiet = true,
        .log_path = json_string_value(json_object_get(spec, "log")),
        .log_flag = json_string_value(json_object_get(spec, "log")),
        .operator_name = "rune test",
        .sets = json_object_get(spec, "sets"),
        .dry_run = !json_is_true(json_object_get(spec, "real")),
        .fails = json_object_get(spec, "fails"),
        .fail_attempts = json_object_get(spec, "fail_attempts"),
        .simulate = json_object_get(spec, "simulate"),
        .progress = RUNE_PROGRESS_NONE,
        .progress_interval_ms = RUNE_PROGRESS_INTERVAL_MS,
    };
    int rc = rune_run_runbook(rb, &o);
    rune_runbook_free(rb);
    json_decref(spec);
    return rc;
}

/* ---- comparing ---- */

/* Each step's last record: {status, stage, ended (step.end: it ran), outputs}. */
static json_t *last_records(json_t *events)
{
    json_t *steps = json_object(), *e;
    size_t i;
    json_array_foreach(events, i, e)
    {
        const char *kind = json_string_value(json_object_get(e, "kind"));
        const char *step = json_string_value(json_object_get(e, "step"));
        if (!kind || !step || (strcmp(kind, "step.end") && strcmp(kind, "step.skip")))
            continue;
        json_t *detail = json_object_get(e, "detail");
        json_t *outputs = json_object_get(detail, "outputs");
        json_object_set_new(
            steps, step,
            json_pack("{s:O, s:O, s:b, s:O}", "status", json_object_get(e, "status"), "stage",
                      json_object_get(e, "stage"), "ended", !strcmp(kind, "step.end"), "outputs",
                      outputs ? outputs : json_null()));
    }
    return steps;
}

/* The steps of a kind: ran (ended outside rollback), rolled_back (ended in
 * rollback), skipped, not_run; sorted names as a JSON array. */
static json_t *steps_that(json_t *recs, const char *which)
{
    json_t *out = json_array(), *r;
    const char *id;
    json_object_foreach(recs, id, r)
    {
        bool ended = json_is_true(json_object_get(r, "ended"));
        const char *stage = json_string_value(json_object_get(r, "stage"));
        const char *status = json_string_value(json_object_get(r, "status"));
        bool rb = stage && !strcmp(stage, "rollback");
        bool in = !strcmp(which, "ran")           ? ended && !rb
                  : !strcmp(which, "rolled_back") ? ended && rb
                  : !strcmp(which, "skipped")     ? !ended && status && !strcmp(status, "skipped")
                                                  : !ended && status && !strcmp(status, "not_run");
        if (in)
            json_array_append_new(out, json_string(id));
    }
    return out;
}

static char *names(json_t *list)
{
    char *s = json_dumps(list, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : strdup("?");
}

/* expect.LIST against the steps that did so: exactly the same set. */
static void compare_set(struct text *t, const char *what, json_t *want, json_t *got)
{
    json_t *missing = json_array(), *extra = json_array(), *x;
    size_t i, j;
    json_array_foreach(want, i, x)
    {
        bool found = false;
        json_t *y;
        json_array_foreach(got, j, y) found |= json_equal(x, y);
        if (!found)
            json_array_append(missing, x);
    }
    json_array_foreach(got, i, x)
    {
        bool found = false;
        json_t *y;
        json_array_foreach(want, j, y) found |= json_equal(x, y);
        if (!found)
            json_array_append(extra, x);
    }
    if (json_array_size(missing) || json_array_size(extra)) {
        char *m = names(missing), *e = names(extra), *g = names(got);
        addf(t, "%s: expected but not: %s; not expected: %s (got %s)", what, m, e, g);
        free(m), free(e), free(g);
    }
    json_decref(missing);
    json_decref(extra);
}

/* Equal as a person reads them: 0 and 0.0 are the same number (a runbook
 * writes one, a step may record the other). */
static bool same(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v) if (!same(v, json_object_get(b, k))) return false;
        return true;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    return json_equal(a, b);
}

static void compare(json_t *expect, json_t *incident, json_t *recs, int child_rc, struct text *t)
{
    const char *outcome = json_string_value(json_object_get(incident, "outcome"));
    json_t *code = json_object_get(incident, "exit_code");
    json_t *v = json_object_get(expect, "outcome");
    if (v && (!outcome || strcmp(outcome, json_string_value(v))))
        addf(t, "outcome: expected %s, got %s", json_string_value(v),
             outcome    ? outcome
             : incident ? "none (the run did not finish)"
                        : "none (nothing was run: see the output)");
    long long got_code = json_is_integer(code) ? json_integer_value(code) : child_rc;
    if ((v = json_object_get(expect, "exit_code")) && json_integer_value(v) != got_code)
        addf(t, "exit_code: expected %lld, got %lld", (long long)json_integer_value(v), got_code);
    static const char *const lists[] = {"ran", "skipped", "not_run", "rolled_back"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        if (!(v = json_object_get(expect, lists[i])))
            continue;
        json_t *got = steps_that(recs, lists[i]);
        compare_set(t, lists[i], v, got);
        json_decref(got);
    }
    const char *id;
    json_t *want;
    json_object_foreach(json_object_get(expect, "status"), id, want)
    {
        const char *got = json_string_value(json_object_get(json_object_get(recs, id), "status"));
        if (!got || !json_is_string(want) || strcmp(got, json_string_value(want)))
            addf(t, "status of %s: expected %s, got %s", id,
                 json_is_string(want) ? json_string_value(want) : "?",
                 got ? got : "no record (pending: its stage never ran)");
    }
    json_object_foreach(json_object_get(expect, "outputs"), id, want)
    {
        json_t *outs = json_object_get(json_object_get(recs, id), "outputs");
        const char *key;
        json_t *w;
        json_object_foreach(want, key, w)
        {
            json_t *g = json_object_get(outs, key);
            if (g && same(g, w))
                continue;
            char *ws = json_dumps(w, JSON_COMPACT | JSON_ENCODE_ANY);
            char *gs = g ? json_dumps(g, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            addf(t, "outputs of %s: %s: expected %s, got %s", id, key, ws ? ws : "?",
                 gs     ? gs
                 : outs ? "nothing (not set)"
                        : "nothing (the step has no outputs)");
            free(ws);
            free(gs);
        }
    }
}

/* ---- the parent ---- */

/* The last n lines of text[0..len) (malloc'd): enough to see why a run
 * went another way, not a whole plan. */
static char *last_lines(const char *text, size_t len, int n)
{
    while (len && text[len - 1] == '\n')
        len--;
    size_t start = len;
    for (int lines = 0; start > 0; start--)
        if (text[start - 1] == '\n' && ++lines == n)
            break;
    return strndup(text + start, len - start);
}

static char *spec_text(const struct rune_testfile *tf, const struct rune_scenario *sc,
                       const struct rune_test_opts *o, const char *log)
{
    json_t *sets = json_object(), *v;
    const char *k;
    json_object_foreach(sc->inputs, k, v)
    {
        if (json_is_null(v))
            continue; /* not given: its default applies */
        /* --set text: lists and mappings as flow YAML (JSON is that) */
        char *s = json_is_string(v) ? strdup(json_string_value(v))
                                    : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        json_object_set_new(sets, k, json_string(s ? s : ""));
        free(s);
    }
    json_t *spec =
        json_pack("{s:s, s:b, s:b, s:s, s:o, s:O, s:O, s:O}", "runbook", tf->runbook, "real",
                  sc->real || o->real_all, "yes", sc->yes, "log", log, "sets", sets, "fails",
                  sc->fails, "fail_attempts", sc->fail_attempts, "simulate", sc->simulate);
    char *text = json_dumps(spec, JSON_INDENT(2));
    json_decref(spec);
    return text;
}

static void read_log(const char *log, json_t **incident, json_t **events)
{
    *incident = NULL;
    *events = NULL;
    struct stat sb;
    struct rune_journal *j = NULL;
    char err[512];
    if (stat(log, &sb) != 0 || rune_journal_open_read(log, &j, err, sizeof err) != 0)
        return;
    json_t *list = rune_journal_list(j, NULL, 0);
    const char *id = json_string_value(json_object_get(json_array_get(list, 0), "id"));
    json_t *inc = id ? rune_journal_get(j, id) : NULL;
    if (inc) {
        *events = json_incref(json_object_get(inc, "events"));
        json_object_del(inc, "events");
        *incident = inc;
    }
    json_decref(list);
    rune_journal_close(j);
}

void rune_scenario_run(const struct rune_testfile *tf, const struct rune_scenario *sc,
                       const struct rune_test_opts *o, struct rune_scenario_result *res)
{
    memset(res, 0, sizeof *res);
    struct text t = {NULL, 0};
    long long t0 = rune_clock_mono_ms();
    const char *tmp = getenv("TMPDIR");
    char root[PATH_MAX], fixture[PATH_MAX + 16], state[PATH_MAX + 16], log[PATH_MAX + 64],
        spec[PATH_MAX + 32];
    snprintf(root, sizeof root, "%s/rune-test.XXXXXX", tmp && *tmp == '/' ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        addf(&t, "cannot make the scenario's private directory in %s: %s",
             tmp && *tmp == '/' ? tmp : "/tmp", strerror(errno));
        goto done;
    }
    snprintf(fixture, sizeof fixture, "%s/fixture", root);
    snprintf(state, sizeof state, "%s/state", root);
    snprintf(log, sizeof log, "%s/incidents.db", state);
    snprintf(spec, sizeof spec, "%s/scenario.json", root);
    if (mkdir(fixture, 0700) != 0 || mkdir(state, 0700) != 0) {
        addf(&t, "cannot make %s: %s", fixture, strerror(errno));
        goto cleanup;
    }
    if (make_fixtures(sc, fixture, &t) != 0)
        goto cleanup;
    char *text = spec_text(tf, sc, o, log);
    int wr = text ? write_file(root, "scenario.json", text, &t) : -1;
    free(text);
    if (wr != 0)
        goto cleanup;

    /* the child's environment: the fixtures', and every default that could
     * lead to the user's log pointing into the private directory */
    size_t nenv = json_object_size(sc->env) + 3, at = 0;
    char **env = calloc(nenv + 1, sizeof *env);
    const char *k;
    json_t *v;
    json_object_foreach(sc->env, k, v)
    {
        size_t n = strlen(k) + strlen(json_string_value(v)) + 2;
        if ((env[at] = malloc(n)))
            snprintf(env[at++], n, "%s=%s", k, json_string_value(v));
    }
    char e_log[PATH_MAX + 80], e_home[PATH_MAX + 80], e_rep[PATH_MAX + 80];
    snprintf(e_log, sizeof e_log, "RUNE_LOG=%s", log);
    snprintf(e_home, sizeof e_home, "RUNE_HOME=%s", state);
    snprintf(e_rep, sizeof e_rep, "RUNE_REPORTS=%s/reports", state);
    env[at++] = strdup(e_log);
    env[at++] = strdup(e_home);
    env[at++] = strdup(e_rep);
    char *argv[] = {(char *)o->self, "test", "--scenario-run", spec, NULL};
    struct rune_proc p = {.argv = argv,
                          .env = env,
                          .cwd = fixture,
                          .capture_max = 1 << 20,
                          .deadline_ms = rune_clock_mono_ms() + o->timeout_ms};
    char err[1024];
    int started = rune_proc_run(&p, err, sizeof err);
    for (size_t i = 0; i < at; i++)
        free(env[i]);
    free(env);
    if (started != 0) {
        addf(&t, "cannot start %s: %s", o->self, err);
        goto cleanup;
    }
    if (p.timed_out)
        addf(&t, "the scenario ran past its %llds and was stopped", o->timeout_ms / 1000);
    json_t *incident, *events;
    read_log(log, &incident, &events);
    json_t *recs = last_records(events);
    compare(sc->expect, incident, recs, p.exit_code, &t);
    if (t.s && p.tail_len)
        res->output = last_lines(p.tail, p.tail_len, 12);
    json_decref(recs);
    json_decref(events);
    json_decref(incident);
    rune_proc_release(&p);
cleanup:
    if (o->keep) {
        res->kept = strdup(root);
    } else {
        char rerr[512];
        if (rune_workdir_remove(root, rerr, sizeof rerr) != 0)
            addf(&t, "the scenario's directory %s was not removed: %s", root, rerr);
    }
done:
    res->ms = rune_clock_mono_ms() - t0;
    res->passed = t.s == NULL;
    res->problems = t.s;
}

void rune_scenario_result_free(struct rune_scenario_result *res)
{
    free(res->problems);
    free(res->output);
    free(res->kept);
    memset(res, 0, sizeof *res);
}
