/*
 * params.c — type checking and coercion of step parameters.
 */
#include "params.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "model.h"
#include "node.h"
#include "suggest.h"

static const char *describe(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static json_t *fail(char *err, size_t errlen, const char *want, json_t *v)
{
    if (json_is_string(v))
        snprintf(err, errlen, "expected %s, found \"%.80s\"", want, json_string_value(v));
    else
        snprintf(err, errlen, "expected %s, found %s", want, describe(v));
    return NULL;
}

static json_t *as_text(json_t *v)
{
    if (json_is_string(v))
        return json_incref(v);
    if (json_is_integer(v)) {
        char b[32];
        snprintf(b, sizeof b, "%lld", (long long)json_integer_value(v));
        return json_string(b);
    }
    if (json_is_real(v)) {
        char b[64];
        snprintf(b, sizeof b, "%.17g", json_real_value(v));
        return json_string(b);
    }
    if (json_is_boolean(v))
        return json_string(json_is_true(v) ? "true" : "false");
    return NULL;
}

json_t *rune_param_coerce(enum rune_type t, json_t *v, char *err, size_t errlen)
{
    switch (t) {
    case RUNE_T_ANY:
        return json_incref(v);
    case RUNE_T_STRING: {
        json_t *s = as_text(v);
        return s ? s : fail(err, errlen, "a string", v);
    }
    case RUNE_T_PATH: {
        json_t *s = as_text(v);
        if (!s || !*json_string_value(s)) {
            json_decref(s);
            return fail(err, errlen, "a path", v);
        }
        return s;
    }
    case RUNE_T_INT:
        if (json_is_integer(v))
            return json_incref(v);
        if (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v))
            return json_integer((long long)json_real_value(v));
        if (json_is_string(v)) {
            char *end;
            errno = 0;
            long long n = strtoll(json_string_value(v), &end, 10);
            if (!errno && end != json_string_value(v) && !*end)
                return json_integer(n);
        }
        return fail(err, errlen, "an integer", v);
    case RUNE_T_NUMBER:
        if (json_is_number(v))
            return json_incref(v);
        if (json_is_string(v)) {
            char *end;
            double d = strtod(json_string_value(v), &end);
            if (end != json_string_value(v) && !*end && isfinite(d))
                return json_real(d);
        }
        return fail(err, errlen, "a number", v);
    case RUNE_T_BOOL:
        if (json_is_boolean(v))
            return json_incref(v);
        if (json_is_string(v) && !strcmp(json_string_value(v), "true"))
            return json_true();
        if (json_is_string(v) && !strcmp(json_string_value(v), "false"))
            return json_false();
        return fail(err, errlen, "true or false", v);
    case RUNE_T_DURATION: {
        long long ms;
        if (json_is_number(v) && json_number_value(v) >= 0)
            return json_integer((long long)(json_number_value(v) * 1000.0 + 0.5));
        if (json_is_string(v) && rune_duration_parse(json_string_value(v), &ms) == 0)
            return json_integer(ms);
        return fail(err, errlen, "a duration like 30s, 5m or 1h30m", v);
    }
    case RUNE_T_LIST:
        if (json_is_array(v))
            return json_incref(v);
        return fail(err, errlen, "a list", v);
    case RUNE_T_STRLIST: {
        if (!json_is_array(v)) {
            json_t *s = as_text(v);
            if (!s)
                return fail(err, errlen, "a string or a list of strings", v);
            json_t *a = json_array();
            json_array_append_new(a, s);
            return a;
        }
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            json_t *s = as_text(x);
            if (!s) {
                json_decref(a);
                snprintf(err, errlen, "item %zu: expected a string, found %s", i + 1, describe(x));
                return NULL;
            }
            json_array_append_new(a, s);
        }
        return a;
    }
    case RUNE_T_MAP:
        if (json_is_object(v))
            return json_incref(v);
        return fail(err, errlen, "a mapping", v);
    case RUNE_T_TARGET:
        if (json_is_string(v) && *json_string_value(v))
            return json_incref(v);
        return fail(err, errlen, "the name of a target declared under `targets:`", v);
    }
    return fail(err, errlen, "a value", v);
}

/* Splits p->choices into at most `max` pointers into buf. */
static size_t split_choices(const struct rune_param *p, char *buf, size_t len, const char **out,
                            size_t max)
{
    snprintf(buf, len, "%s", p->choices ? p->choices : "");
    size_t n = 0;
    for (char *save = NULL, *w = strtok_r(buf, "|", &save); w && n < max;
         w = strtok_r(NULL, "|", &save))
        out[n++] = w;
    return n;
}

const char *rune_param_choices(const struct rune_param *p, char *buf, size_t len)
{
    char tmp[512];
    const char *c[32];
    size_t n = split_choices(p, tmp, sizeof tmp, c, 32), at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < len; i++) {
        int w = snprintf(buf + at, len - at, "%s%s",
                         i == 0       ? ""
                         : i + 1 == n ? " or "
                                      : ", ",
                         c[i]);
        at = w < 0 ? len : at + (size_t)w;
    }
    return buf;
}

json_t *rune_param_check(const struct rune_param *p, json_t *v, char *err, size_t errlen)
{
    json_t *c = rune_param_coerce(p->type, v, err, errlen);
    if (!c || !p->choices)
        return c;
    char tmp[512];
    const char *choice[32];
    size_t n = split_choices(p, tmp, sizeof tmp, choice, 32);
    /* a list parameter (pg.maintain's actions) has its choices per item */
    size_t count = json_is_array(c) ? json_array_size(c) : 1;
    for (size_t k = 0; k < count; k++) {
        json_t *item = json_is_array(c) ? json_array_get(c, k) : c;
        if (!json_is_string(item))
            continue;
        const char *s = json_string_value(item);
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = !strcmp(s, choice[i]);
        if (known)
            continue;
        char list[512], hint[128];
        rune_param_choices(p, list, sizeof list);
        rune_suggest_hint(s, choice, n, hint, sizeof hint);
        snprintf(err, errlen, "\"%.80s\" is not one of %s%s", s, list, hint);
        json_decref(c);
        return NULL;
    }
    return c;
}

const struct rune_param *rune_param_find(const struct rune_param *params, const char *name)
{
    for (const struct rune_param *q = params; q && q->name; q++)
        if (!strcmp(q->name, name))
            return q;
    return NULL;
}

/* Defaults parsed once, by their text: every step's parameters are
 * filled from them, and a YAML parser made for each (its buffers are
 * 16 KB) was a tenth of a 1,000-step plan. Texts are few (the step
 * tables' and Lua types'); past the cache's size they are parsed each
 * time. Kept for the process's life. */
#define DEFAULTS_MAX 512

static struct {
    pthread_mutex_t mu;
    size_t n;
    struct {
        char *text;
        json_t *value;
    } v[DEFAULTS_MAX];
} defaults = {.mu = PTHREAD_MUTEX_INITIALIZER};

static json_t *parse_default(const char *text)
{
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_node *n = rune_yaml_parse("<default>", text, strlen(text), &d);
    json_t *v = n ? rune_node_json(n) : json_string(text);
    rune_node_free(n);
    rune_diags_free(&d);
    return v;
}

json_t *rune_param_default(const struct rune_param *p)
{
    if (!p->def)
        return NULL;
    json_t *v = NULL;
    pthread_mutex_lock(&defaults.mu);
    for (size_t i = 0; i < defaults.n && !v; i++)
        if (!strcmp(defaults.v[i].text, p->def))
            v = json_deep_copy(defaults.v[i].value);
    if (!v && defaults.n < DEFAULTS_MAX) {
        json_t *parsed = parse_default(p->def);
        char *text = strdup(p->def);
        if (parsed && text) {
            defaults.v[defaults.n].text = text;
            defaults.v[defaults.n++].value = parsed;
            v = json_deep_copy(parsed);
        } else {
            json_decref(parsed);
            free(text);
        }
    }
    pthread_mutex_unlock(&defaults.mu);
    return v ? v : parse_default(p->def);
}

json_t *rune_params_prepare(const struct rune_step_type *t, json_t *with, char *err, size_t errlen,
                            const char **bad)
{
    return rune_fields_prepare(t->name, t->params, "parameter", with, err, errlen, bad);
}

int rune_param_groups(const char *tname, const struct rune_param *params,
                      enum rune_given (*given)(const char *name, void *ctx), void *ctx, char *err,
                      size_t errlen, const char **bad)
{
    for (const struct rune_param *p = params; p && p->name; p++) {
        if (!p->one_of)
            continue;
        bool first = true; /* the group is looked at from its first member */
        for (const struct rune_param *q = params; q < p; q++)
            if (q->one_of && !strcmp(q->one_of, p->one_of))
                first = false;
        if (!first)
            continue;
        size_t n = 0, known = 0, unknown = 0, at = 0;
        const char *set[2] = {NULL, NULL}; /* the first two given */
        char names[256] = "";
        for (const struct rune_param *q = p; q->name; q++) {
            if (!q->one_of || strcmp(q->one_of, p->one_of))
                continue;
            enum rune_given g = given(q->name, ctx);
            if (g == RUNE_GIVEN && known < 2)
                set[known] = q->name;
            known += g == RUNE_GIVEN;
            unknown += g == RUNE_UNKNOWN;
            if (at < sizeof names) {
                int w = snprintf(names + at, sizeof names - at, "%s%s", n ? ", " : "", q->name);
                at = w < 0 ? sizeof names : at + (size_t)w;
            }
            n++;
        }
        if (known >= 2) {
            snprintf(err, errlen, "%s takes only one of %s: %s and %s are both given", tname, names,
                     set[0], set[1]);
            *bad = set[1];
            return -1;
        }
        if (known == 0 && unknown == 0) {
            snprintf(err, errlen, "%s needs one of %s", tname, names);
            *bad = NULL;
            return -1;
        }
    }
    return 0;
}

static enum rune_given given_in(const char *name, void *ctx)
{
    json_t *v = json_object_get(ctx, name);
    return v && !json_is_null(v) ? RUNE_GIVEN : RUNE_ABSENT;
}

json_t *rune_fields_prepare(const char *tname, const struct rune_param *params, const char *word,
                            json_t *with, char *err, size_t errlen, const char **bad)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    *bad = NULL;
    json_object_foreach(with, k, v)
    {
        /* null (an optional input that was not given) means "not given":
         * the default applies, or a required one is reported missing */
        if (json_is_null(v))
            continue;
        const struct rune_param *p = rune_param_find(params, k);
        if (!p) {
            snprintf(err, errlen, "%s has no %s \"%s\"", tname, word, k);
            *bad = k;
            goto fail;
        }
        char why[512];
        json_t *c = rune_param_check(p, v, why, sizeof why);
        if (!c) {
            snprintf(err, errlen, "%s \"%s\": %s", word, k, why);
            *bad = p->name;
            goto fail;
        }
        json_object_set_new(out, k, c);
    }
    /* before defaults: an alternative is given or not by the runbook */
    if (rune_param_groups(tname, params, given_in, out, err, errlen, bad) != 0)
        goto fail;
    for (const struct rune_param *p = params; p && p->name; p++) {
        json_t *have = json_object_get(out, p->name);
        if (have && !json_is_null(have))
            continue;
        if (p->required) {
            snprintf(err, errlen, "%s needs %s \"%s\" (%s)", tname, word, p->name,
                     p->doc ? p->doc : rune_type_name(p->type));
            *bad = p->name;
            goto fail;
        }
        json_t *d = rune_param_default(p);
        if (d) {
            char why[256];
            json_t *c = rune_param_coerce(p->type, d, why, sizeof why);
            json_decref(d);
            if (c)
                json_object_set_new(out, p->name, c);
        }
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* ---- Type names ---- */

/* The type a runbook (inputs) or a Lua step type's table names. */
enum rune_type rune_type_parse(const char *name)
{
    static const struct {
        const char *name;
        enum rune_type t;
    } types[] = {{"string", RUNE_T_STRING},     {"int", RUNE_T_INT},   {"integer", RUNE_T_INT},
                 {"number", RUNE_T_NUMBER},     {"bool", RUNE_T_BOOL}, {"boolean", RUNE_T_BOOL},
                 {"duration", RUNE_T_DURATION}, {"path", RUNE_T_PATH}, {"list", RUNE_T_LIST},
                 {"map", RUNE_T_MAP},           {"any", RUNE_T_ANY}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i].name, name) == 0)
            return types[i].t;
    return (enum rune_type) - 1;
}

/* The type for people (messages, `rune steps`, `rune list`). */
const char *rune_type_name(enum rune_type t)
{
    switch (t) {
    case RUNE_T_STRING:
        return "string";
    case RUNE_T_INT:
        return "integer";
    case RUNE_T_NUMBER:
        return "number";
    case RUNE_T_BOOL:
        return "boolean";
    case RUNE_T_DURATION:
        return "duration";
    case RUNE_T_PATH:
        return "path";
    case RUNE_T_LIST:
        return "list";
    case RUNE_T_STRLIST:
        return "string or list of strings";
    case RUNE_T_MAP:
        return "mapping";
    case RUNE_T_TARGET:
        return "target";
    default:
        return "any";
    }
}
