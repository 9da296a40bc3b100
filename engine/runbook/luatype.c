/*
 * luatype.c — step types written in Lua.
 *
 * A module returns { name, summary, params, outputs, effect, run, plan,
 * size } (size: the size of the work from the parameters, for the plan's
 * estimates; optional, like plan).
 * It becomes a struct rune_step_type like any native one, so validation,
 * `rune steps` and rune.run treat both alike. Each call runs in a fresh
 * sandboxed state (the module file is loaded again), with `rune` bound to
 * the call, so a type is as thread-safe as its steps.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datadir.h"
#include "lua.h"
#include "luacall.h"
#include "luatype.h"
#include "meter.h"
#include "model.h"
#include "params.h"
#include "registry.h"

struct lua_type {
    struct rune_step_type t; /* first: the registry hands out &t */
    char *path;
    char *name, *summary;
    struct rune_param *params;
    struct rune_output *outputs;
    bool has_plan;
    bool has_size;
};

/* Loaded modules live until exit, like the native tables. */
static char **loaded;
static size_t nloaded;

static bool already(const char *path)
{
    for (size_t i = 0; i < nloaded; i++)
        if (!strcmp(loaded[i], path))
            return true;
    return false;
}

static bool call_cancelled(void *c)
{
    return rune_call_cancel_status(c) == RUNE_STEP_CANCELLED;
}

static int invoke(struct rune_call *c, const char *fn, json_t **result, char *err, size_t errlen)
{
    const struct lua_type *lt = (const struct lua_type *)rune_call_type(c);
    struct rune_lua *R = rune_lua_new();
    rune_lua_set_deadline(R, rune_call_deadline(c), call_cancelled, c);
    rune_lua_bind_call(R, c);
    int st = rune_lua_module_call(R, lt->path, fn, rune_call_params(c), result, err, errlen);
    rune_lua_free(R);
    return st;
}

/* rune validate checks steps.ID.outputs.KEY against the declared outputs
 * (lint.c); an output the module returns without declaring it would be
 * refused there while the run sets it. Said once per key, as a log line
 * (console and incident log): the module is what needs fixing. */
static void warn_undeclared(struct rune_call *c)
{
    const struct lua_type *lt = (const struct lua_type *)rune_call_type(c);
    const char *key;
    json_t *v;
    json_object_foreach(rune_call_outputs(c), key, v)
    {
        bool declared = false;
        for (const struct rune_output *o = lt->outputs; o && o->name && !declared; o++)
            declared = !strcmp(o->name, key);
        if (!declared)
            rune_call_log(c,
                          "warning: %s returned output \"%s\", which its outputs table does not "
                          "declare (%s); declare it there so rune validate can check references "
                          "to it",
                          lt->t.name, key, lt->path);
    }
}

static int lua_run(struct rune_call *c)
{
    json_t *out = NULL;
    char err[2048] = "";
    int st = invoke(c, "run", &out, err, sizeof err);
    if (st != RUNE_STEP_OK) {
        rune_call_fail(c, "%s", err);
        return st;
    }
    if (json_is_object(out))
        json_object_update(rune_call_outputs(c), out);
    else if (!json_is_null(out))
        json_object_set(rune_call_outputs(c), "value", out);
    json_decref(out);
    warn_undeclared(c);
    return RUNE_STEP_OK;
}

static int lua_plan(struct rune_call *c)
{
    const struct lua_type *lt = (const struct lua_type *)rune_call_type(c);
    if (!lt->has_plan) {
        rune_call_plan(c, "would run %s", lt->t.name);
        return RUNE_STEP_OK;
    }
    json_t *out = NULL;
    char err[2048] = "";
    int st = invoke(c, "plan", &out, err, sizeof err);
    if (st != RUNE_STEP_OK)
        return rune_call_fail(c, "%s", err);
    rune_call_plan(c, "%s", json_is_string(out) ? json_string_value(out) : lt->t.name);
    json_decref(out);
    return RUNE_STEP_OK;
}

/* The module's size(params): a number of bytes, or { size = N, unit =
 * "rows" }. -1 when it has none, fails, or says something else. */
static long long lua_size(struct rune_call *c, enum rune_unit *unit)
{
    json_t *out = NULL;
    char err[2048] = "";
    long long n = -1;
    if (invoke(c, "size", &out, err, sizeof err) != RUNE_STEP_OK)
        return -1;
    json_t *v = json_is_object(out) ? json_object_get(out, "size") : out;
    const char *u = json_is_object(out) ? json_string_value(json_object_get(out, "unit")) : NULL;
    int parsed = u ? rune_unit_parse(u) : RUNE_UNIT_BYTES;
    if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) < 9.0e18 &&
        parsed >= 0) {
        n = (long long)json_number_value(v);
        *unit = (enum rune_unit)parsed;
    }
    json_decref(out);
    return n;
}

static char *dup_text(json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* choices = { "full", "quick" } as the native tables hold them ("full|quick");
 * NULL with err when it is not a list of plain words. */
static char *choices_text(const char *param, json_t *list, char *err, size_t errlen)
{
    if (!json_is_array(list) || json_array_size(list) == 0) {
        snprintf(err, errlen,
                 "params.%s.choices: expected a list of strings, e.g. "
                 "{ \"full\", \"quick\" }",
                 param);
        return NULL;
    }
    size_t len = 1, i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        const char *w = json_string_value(c);
        if (!w || !*w || strchr(w, '|')) {
            snprintf(err, errlen,
                     "params.%s.choices[%zu]: expected a non-empty string "
                     "without '|'",
                     param, i + 1);
            return NULL;
        }
        len += strlen(w) + 1;
    }
    char *out = calloc(1, len);
    if (!out)
        abort();
    json_array_foreach(list, i, c)
    {
        if (i)
            strcat(out, "|");
        strcat(out, json_string_value(c));
    }
    return out;
}

/* params/outputs tables: { name = { type = "...", required = b, default = v, doc = "...",
 * one_of = "group", choices = { "a", "b" } } } */
static int build_specs(struct lua_type *lt, json_t *params, json_t *outputs, char *err,
                       size_t errlen)
{
    size_t np = json_object_size(params), no = json_object_size(outputs);
    lt->params = calloc(np + 1, sizeof *lt->params);
    lt->outputs = calloc(no + 1, sizeof *lt->outputs);
    const char **keys = calloc(np + no + 1, sizeof *keys);
    if (!lt->params || !lt->outputs || !keys)
        abort();
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(params, key, v) keys[k++] = key;
    qsort(keys, np, sizeof *keys, by_key);
    for (size_t i = 0; i < np; i++) {
        json_t *spec = json_object_get(params, keys[i]);
        struct rune_param *p = &lt->params[i];
        p->name = strdup(keys[i]);
        const char *tn = json_string_value(json_object_get(spec, "type"));
        enum rune_type t = tn ? rune_type_parse(tn) : RUNE_T_ANY;
        if (!json_is_object(spec) || (int)t < 0) {
            snprintf(err, errlen,
                     "params.%s: expected { type = \"string|int|number|bool|"
                     "duration|path|list|map|any\", required = true|false, "
                     "default = ..., doc = \"...\", one_of = \"group\", "
                     "choices = { \"a\", \"b\" } }",
                     keys[i]);
            free(keys);
            return -1;
        }
        p->type = t;
        p->required = json_is_true(json_object_get(spec, "required"));
        json_t *def = json_object_get(spec, "default");
        p->def = def ? json_dumps(def, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        p->doc = dup_text(json_object_get(spec, "doc"));
        p->one_of = dup_text(json_object_get(spec, "one_of"));
        json_t *choices = json_object_get(spec, "choices");
        if (choices && !(p->choices = choices_text(keys[i], choices, err, errlen))) {
            free(keys);
            return -1;
        }
    }
    k = 0;
    json_object_foreach(outputs, key, v) keys[k++] = key;
    qsort(keys, no, sizeof *keys, by_key);
    for (size_t i = 0; i < no; i++) {
        json_t *spec = json_object_get(outputs, keys[i]);
        const char *tn = json_string_value(json_object_get(spec, "type"));
        enum rune_type t = tn ? rune_type_parse(tn) : RUNE_T_ANY;
        lt->outputs[i].name = strdup(keys[i]);
        lt->outputs[i].type = (int)t < 0 ? RUNE_T_ANY : t;
        lt->outputs[i].doc = dup_text(json_object_get(spec, "doc"));
    }
    free(keys);
    return 0;
}

/* A type that was refused (bad specs, a name already taken); one that was
 * registered lives until exit, like the native tables. */
static void free_type(struct lua_type *lt)
{
    for (struct rune_param *p = lt->params; p && p->name; p++) {
        free((char *)p->name);
        free((char *)p->def);
        free((char *)p->doc);
        free((char *)p->one_of);
        free((char *)p->choices);
    }
    /* a spec refused half way: its last entry may have a name only */
    for (struct rune_output *o = lt->outputs; o && o->name; o++) {
        free((char *)o->name);
        free((char *)o->doc);
    }
    free(lt->params);
    free(lt->outputs);
    free(lt->path);
    free(lt->name);
    free(lt->summary);
    free(lt);
}

static void load_one(const char *path, struct rune_diags *d)
{
    char err[1024] = "";
    json_t *info = rune_lua_module_info(path, err, sizeof err);
    struct rune_mark m = {path, 0, 0};
    if (!info) {
        /* Lua's "path:LINE: msg" → a diagnostic at that line */
        const char *rest = err;
        size_t pl = strlen(path);
        if (!strncmp(err, path, pl) && err[pl] == ':') {
            m.line = atoi(err + pl + 1);
            m.col = 1;
            rest = strchr(err + pl + 1, ':');
            rest = rest ? rest + 2 : err;
            if (m.line <= 0)
                m.line = 0;
        }
        rune_diag_add(d, m, "Lua step type: %s", rest);
        return;
    }
    const char *name = json_string_value(json_object_get(info, "name"));
    const char *effect = json_string_value(json_object_get(info, "effect"));
    json_t *params = json_object_get(info, "params");
    json_t *outputs = json_object_get(info, "outputs");
    if (!name || !strchr(name, '.')) {
        rune_diag_add(d, m, "Lua step type: `name` must be a dotted name like team.action");
        goto out;
    }
    if (!json_is_true(json_object_get(info, "run"))) {
        rune_diag_add(d, m, "Lua step type %s: no `run` function", name);
        goto out;
    }
    if ((params && !json_is_object(params) && json_array_size(params)) ||
        (outputs && !json_is_object(outputs) && json_array_size(outputs))) {
        rune_diag_add(d, m, "Lua step type %s: params and outputs must be tables keyed by name",
                      name);
        goto out;
    }
    struct lua_type *lt = calloc(1, sizeof *lt);
    if (!lt)
        abort();
    lt->path = strdup(path);
    lt->name = strdup(name);
    lt->summary = dup_text(json_object_get(info, "summary"));
    lt->has_plan = json_is_true(json_object_get(info, "plan"));
    lt->has_size = json_is_true(json_object_get(info, "size"));
    json_t *empty = json_object();
    if (build_specs(lt, json_is_object(params) ? params : empty,
                    json_is_object(outputs) ? outputs : empty, err, sizeof err) != 0) {
        json_decref(empty);
        rune_diag_add(d, m, "Lua step type %s: %s", name, err);
        free_type(lt);
        goto out;
    }
    json_decref(empty);
    lt->t.name = lt->name;
    lt->t.summary = lt->summary ? lt->summary : "(a step type written in Lua)";
    lt->t.params = lt->params;
    lt->t.outputs = lt->outputs;
    lt->t.effect = effect && !strcmp(effect, "pure")    ? RUNE_PURE
                   : effect && !strcmp(effect, "reads") ? RUNE_READS
                                                        : RUNE_WRITES;
    lt->t.run = lua_run;
    lt->t.plan = lua_plan;
    lt->t.size = lt->has_size ? lua_size : NULL;
    if (rune_registry_add(&lt->t) != 0) {
        rune_diag_add(d, m, "Lua step type %s: the name is already taken by another step type",
                      name);
        free_type(lt);
    }
out:
    json_decref(info);
}

static void load_dir(const char *dir, struct rune_diags *d)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".lua")) {
            names = realloc(names, (n + 1) * sizeof *names);
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(dp);
    if (n)
        qsort(names, n, sizeof *names, by_key);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX], real[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        free(names[i]);
        if (!realpath(path, real) || already(real))
            continue;
        loaded = realloc(loaded, (nloaded + 1) * sizeof *loaded);
        loaded[nloaded++] = strdup(real);
        load_one(loaded[nloaded - 1], d);
    }
    free(names);
}

void rune_lua_load_types(const char *runbook_path, struct rune_diags *d)
{
    char dir[PATH_MAX];
    /* bundled: beside this binary (datadir.c) */
    snprintf(dir, sizeof dir, "%s/lua/steps", rune_datadir());
    load_dir(dir, d);
    if (runbook_path) {
        char base[PATH_MAX];
        snprintf(base, sizeof base, "%s", runbook_path);
        char *slash = strrchr(base, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(base, sizeof base, ".");
        snprintf(dir, sizeof dir, "%s/lua", base);
        load_dir(dir, d);
        snprintf(dir, sizeof dir, "%s/lua/steps", base);
        load_dir(dir, d);
    }
    const char *env = getenv("RUNE_LUA_PATH");
    if (env && *env) {
        char *copy = strdup(env), *save = NULL;
        for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save))
            load_dir(tok, d);
        free(copy);
    }
}
