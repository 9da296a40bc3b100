/*
 * testfile.c — reading a runbook's tests (NAME.test.yaml). Every problem
 * is reported with its file:line:col, like a runbook's, and unknown keys
 * are refused with a "did you mean": a misspelt `expect:` that is ignored
 * is a test that proves nothing.
 */
#include "testfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suggest.h"

#define MAX_TEST_BYTES (4 << 20)

static const char *const file_keys[] = {"runbook", "description", "scenarios"};
static const char *const scenario_keys[] = {"name",     "description", "inputs", "fixtures", "fail",
                                            "simulate", "real",        "yes",    "expect"};
static const char *const fixture_keys[] = {"files", "dirs", "sqlite", "env"};
static const char *const expect_keys[] = {"outcome", "exit_code",   "ran",    "skipped",
                                          "not_run", "rolled_back", "status", "outputs"};
static const char *const outcomes[] = {"resolved", "no_incident", "rolled_back",
                                       "failed",   "aborted",     "undecided"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool keys_ok(const struct rune_node *map, const char *const *allowed, size_t n,
                    const char *where, struct rune_diags *d)
{
    bool ok = true;
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->keys[i]->str;
        bool known = false;
        for (size_t j = 0; j < n && !known; j++)
            known = !strcmp(k, allowed[j]);
        if (known)
            continue;
        char hint[128];
        rune_suggest_hint(k, allowed, n, hint, sizeof hint);
        rune_diag_add(d, map->keys[i]->mark, "unknown key \"%s\" in %s%s", k, where, hint);
        ok = false;
    }
    return ok;
}

static bool is_map(const struct rune_node *n, const char *what, struct rune_diags *d)
{
    if (n->kind == RUNE_NODE_MAP)
        return true;
    rune_diag_add(d, n->mark, "%s must be a mapping, found %s", what, rune_node_describe(n));
    return false;
}

/* A path inside the scenario's private directory: relative, no "..". */
static bool inside(const char *p)
{
    if (!*p || *p == '/')
        return false;
    for (const char *s = p; *s;) {
        size_t w = strcspn(s, "/");
        if (w == 2 && !strncmp(s, "..", 2))
            return false;
        s += w + (s[w] == '/');
    }
    return true;
}

/* A mapping of relative paths to text (files:, sqlite:). */
static json_t *path_map(const struct rune_node *n, const char *what, struct rune_diags *d)
{
    json_t *out = json_object();
    if (!is_map(n, what, d))
        return out;
    for (size_t i = 0; i < n->n; i++) {
        const struct rune_node *k = n->keys[i], *v = n->items[i];
        if (!inside(k->str))
            rune_diag_add(d, k->mark,
                          "%s: \"%s\" must be a relative path inside the scenario's directory "
                          "(no leading /, no ..)",
                          what, k->str);
        else if (v->kind != RUNE_NODE_SCALAR)
            rune_diag_add(d, v->mark, "%s: \"%s\" must be text, found %s", what, k->str,
                          rune_node_describe(v));
        else
            json_object_set_new(out, k->str, json_string(rune_node_is_null(v) ? "" : v->str));
    }
    return out;
}

static void load_fixtures(struct rune_scenario *sc, const struct rune_node *n, struct rune_diags *d)
{
    if (!is_map(n, "fixtures", d) || !keys_ok(n, fixture_keys, N(fixture_keys), "fixtures", d))
        return;
    const struct rune_node *v;
    if ((v = rune_node_get(n, "files"))) {
        json_decref(sc->files);
        sc->files = path_map(v, "fixtures.files", d);
    }
    if ((v = rune_node_get(n, "sqlite"))) {
        json_decref(sc->sqlite);
        sc->sqlite = path_map(v, "fixtures.sqlite", d);
    }
    if ((v = rune_node_get(n, "dirs"))) {
        if (v->kind != RUNE_NODE_SEQ)
            rune_diag_add(d, v->mark, "fixtures.dirs must be a list of relative paths");
        for (size_t i = 0; v->kind == RUNE_NODE_SEQ && i < v->n; i++) {
            const struct rune_node *x = v->items[i];
            if (x->kind != RUNE_NODE_SCALAR || !inside(x->str))
                rune_diag_add(d, x->mark,
                              "fixtures.dirs: give relative paths (no leading /, no ..)");
            else
                json_array_append_new(sc->dirs, json_string(x->str));
        }
    }
    if ((v = rune_node_get(n, "env")) && is_map(v, "fixtures.env", d)) {
        for (size_t i = 0; i < v->n; i++) {
            json_t *val = rune_node_json(v->items[i]);
            if (json_is_string(val) || json_is_number(val) || json_is_boolean(val)) {
                char *text = json_is_string(val) ? strdup(json_string_value(val))
                                                 : json_dumps(val, JSON_ENCODE_ANY);
                json_object_set_new(sc->env, v->keys[i]->str, json_string(text ? text : ""));
                free(text);
            } else {
                rune_diag_add(d, v->items[i]->mark, "fixtures.env: %s must be text",
                              v->keys[i]->str);
            }
            json_decref(val);
        }
    }
}

/* fail: {step: N} (the first N attempts), {step: true} or {step: "why"}
 * (every attempt). */
static void load_fail(struct rune_scenario *sc, const struct rune_node *n, struct rune_diags *d)
{
    if (!is_map(n, "fail", d))
        return;
    for (size_t i = 0; i < n->n; i++) {
        const char *id = n->keys[i]->str;
        const struct rune_node *v = n->items[i];
        long long k;
        bool b;
        if (rune_node_is_int(v, &k) && k >= 1 && k <= 1000)
            json_object_set_new(sc->fail_attempts, id, json_integer(k));
        else if (rune_node_is_bool(v, &b) && b)
            json_object_set_new(sc->fails, id, json_string("injected by rune test"));
        else if (rune_node_is_string(v) && *v->str)
            json_object_set_new(sc->fails, id, json_string(v->str));
        else
            rune_diag_add(d, v->mark,
                          "fail: %s: give the number of attempts that fail (1-1000), true (every "
                          "attempt) or the failure's message",
                          id);
    }
}

static void check_list(const struct rune_node *n, const char *what, struct rune_diags *d)
{
    if (n->kind != RUNE_NODE_SEQ) {
        rune_diag_add(d, n->mark, "expect.%s must be a list of step ids", what);
        return;
    }
    for (size_t i = 0; i < n->n; i++)
        if (n->items[i]->kind != RUNE_NODE_SCALAR)
            rune_diag_add(d, n->items[i]->mark, "expect.%s must list step ids", what);
}

static void load_expect(struct rune_scenario *sc, const struct rune_node *n, struct rune_diags *d)
{
    if (!is_map(n, "expect", d) || !keys_ok(n, expect_keys, N(expect_keys), "expect", d))
        return;
    const struct rune_node *v;
    if ((v = rune_node_get(n, "outcome"))) {
        bool known = false;
        for (size_t i = 0; i < N(outcomes) && v->kind == RUNE_NODE_SCALAR && !known; i++)
            known = !strcmp(v->str, outcomes[i]);
        if (!known) {
            char hint[128];
            rune_suggest_hint(v->kind == RUNE_NODE_SCALAR ? v->str : "", outcomes, N(outcomes),
                              hint, sizeof hint);
            rune_diag_add(d, v->mark,
                          "expect.outcome must be resolved, no_incident, rolled_back, failed, "
                          "aborted or undecided%s",
                          hint);
        }
    }
    long long code;
    if ((v = rune_node_get(n, "exit_code")) && !rune_node_is_int(v, &code))
        rune_diag_add(d, v->mark, "expect.exit_code must be an integer");
    static const char *const lists[] = {"ran", "skipped", "not_run", "rolled_back"};
    for (size_t i = 0; i < N(lists); i++)
        if ((v = rune_node_get(n, lists[i])))
            check_list(v, lists[i], d);
    if ((v = rune_node_get(n, "status")))
        is_map(v, "expect.status", d);
    if ((v = rune_node_get(n, "outputs")) && is_map(v, "expect.outputs", d))
        for (size_t i = 0; i < v->n; i++)
            is_map(v->items[i], "expect.outputs.STEP", d);
    json_decref(sc->expect);
    sc->expect = rune_node_json(n);
}

static void load_scenario(struct rune_scenario *sc, const struct rune_node *n, struct rune_diags *d)
{
    sc->mark = n->mark;
    sc->yes = true;
    sc->inputs = json_object();
    sc->env = json_object();
    sc->files = json_object();
    sc->sqlite = json_object();
    sc->dirs = json_array();
    sc->fails = json_object();
    sc->fail_attempts = json_object();
    sc->simulate = json_object();
    sc->expect = json_object();
    if (!is_map(n, "a scenario", d))
        return;
    keys_ok(n, scenario_keys, N(scenario_keys), "a scenario", d);
    const struct rune_node *v = rune_node_get(n, "name");
    if (!v || v->kind != RUNE_NODE_SCALAR || rune_node_is_null(v))
        rune_diag_add(d, v ? v->mark : n->mark, "a scenario needs a name: (what it shows)");
    else
        sc->name = v->str;
    if ((v = rune_node_get(n, "inputs")) && is_map(v, "inputs", d)) {
        json_decref(sc->inputs);
        sc->inputs = rune_node_json(v);
    }
    if ((v = rune_node_get(n, "fixtures")))
        load_fixtures(sc, v, d);
    if ((v = rune_node_get(n, "fail")))
        load_fail(sc, v, d);
    if ((v = rune_node_get(n, "simulate")) && is_map(v, "simulate", d)) {
        for (size_t i = 0; i < v->n; i++)
            is_map(v->items[i], "simulate.STEP (its outputs)", d);
        json_decref(sc->simulate);
        sc->simulate = rune_node_json(v);
    }
    if ((v = rune_node_get(n, "real")) && !rune_node_is_bool(v, &sc->real))
        rune_diag_add(d, v->mark, "real must be true or false");
    if ((v = rune_node_get(n, "yes")) && !rune_node_is_bool(v, &sc->yes))
        rune_diag_add(d, v->mark, "yes must be true or false");
    if ((v = rune_node_get(n, "expect")))
        load_expect(sc, v, d);
    else
        rune_diag_add(d, n->mark, "scenario \"%s\" has no expect: (what it must show)",
                      sc->name ? sc->name : "?");
}

static int read_text(const char *path, char **text, size_t *len, struct rune_diags *d)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > MAX_TEST_BYTES) {
        rune_diag_add(d, (struct rune_mark){path, 0, 0}, "cannot read the test file: %s",
                      fd < 0                 ? strerror(errno)
                      : !S_ISREG(sb.st_mode) ? "not a regular file"
                                             : "larger than 4 MiB");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *text = malloc((size_t)sb.st_size + 1);
    ssize_t r = *text ? read(fd, *text, (size_t)sb.st_size) : -1;
    close(fd);
    if (r < 0) {
        rune_diag_add(d, (struct rune_mark){path, 0, 0}, "cannot read the test file");
        return -1;
    }
    (*text)[r] = '\0';
    *len = (size_t)r;
    return 0;
}

char *rune_testfile_for(const char *runbook)
{
    size_t n = strlen(runbook);
    const char *ext = n > 5 && !strcmp(runbook + n - 5, ".yaml")  ? ".yaml"
                      : n > 4 && !strcmp(runbook + n - 4, ".yml") ? ".yml"
                                                                  : NULL;
    if (!ext)
        return NULL;
    size_t base = n - strlen(ext);
    char *out = malloc(base + 16);
    if (out)
        snprintf(out, base + 16, "%.*s.test%s", (int)base, runbook, ext);
    return out;
}

/* The runbook a test file names (runbook: FILE, beside it), else the one
 * its own name says (X.test.yaml → X.yaml). */
static char *runbook_of(const char *path, const struct rune_node *root, struct rune_diags *d)
{
    char dir[PATH_MAX], name[PATH_MAX], full[PATH_MAX * 2 + 2];
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(name, sizeof name, "%s", path);
    const char *base = basename(name);
    const struct rune_node *v = rune_node_get(root, "runbook");
    if (v && v->kind == RUNE_NODE_SCALAR && !rune_node_is_null(v)) {
        if (v->str[0] == '/')
            snprintf(full, sizeof full, "%s", v->str);
        else
            snprintf(full, sizeof full, "%s/%s", dirname(dir), v->str);
    } else {
        const char *t = strstr(base, ".test.");
        if (!t) {
            rune_diag_add(d, root->mark,
                          "which runbook? name the file NAME.test.yaml beside NAME.yaml, or "
                          "say runbook: FILE");
            return NULL;
        }
        snprintf(full, sizeof full, "%s/%.*s%s", dirname(dir), (int)(t - base), base, t + 5);
    }
    char real[PATH_MAX];
    if (!realpath(full, real)) {
        rune_diag_add(d, v ? v->mark : root->mark, "the runbook %s cannot be found: %s", full,
                      strerror(errno));
        return NULL;
    }
    return strdup(real);
}

int rune_testfile_load(const char *path, struct rune_testfile *tf, struct rune_diags *d)
{
    memset(tf, 0, sizeof *tf);
    size_t before = d->n, len = 0;
    tf->path = strdup(path);
    if (!tf->path || read_text(tf->path, &tf->text, &len, d) != 0)
        return -1;
    tf->root = rune_yaml_parse(tf->path, tf->text, len, d);
    if (!tf->root)
        return -1;
    if (!is_map(tf->root, "a test file", d))
        return -1;
    keys_ok(tf->root, file_keys, N(file_keys), "a test file", d);
    tf->runbook = runbook_of(tf->path, tf->root, d);
    const struct rune_node *s = rune_node_get(tf->root, "scenarios");
    if (!s || s->kind != RUNE_NODE_SEQ || !s->n) {
        rune_diag_add(d, s ? s->mark : tf->root->mark,
                      "scenarios: must list at least one scenario");
        return -1;
    }
    tf->v = calloc(s->n, sizeof *tf->v);
    if (!tf->v)
        return -1;
    tf->n = s->n;
    for (size_t i = 0; i < s->n; i++)
        load_scenario(&tf->v[i], s->items[i], d);
    for (size_t i = 0; i < tf->n; i++)
        for (size_t j = 0; j < i; j++)
            if (tf->v[i].name && tf->v[j].name && !strcmp(tf->v[i].name, tf->v[j].name))
                rune_diag_add(d, tf->v[i].mark, "two scenarios are called \"%s\"", tf->v[i].name);
    return d->n > before ? -1 : 0;
}

void rune_testfile_free(struct rune_testfile *tf)
{
    for (size_t i = 0; i < tf->n; i++) {
        struct rune_scenario *sc = &tf->v[i];
        json_t *all[] = {sc->inputs, sc->env,           sc->files,    sc->sqlite, sc->dirs,
                         sc->fails,  sc->fail_attempts, sc->simulate, sc->expect};
        for (size_t k = 0; k < N(all); k++)
            json_decref(all[k]);
    }
    free(tf->v);
    rune_node_free(tf->root);
    free(tf->text);
    free(tf->runbook);
    free(tf->path);
    memset(tf, 0, sizeof *tf);
}
