/*
 * inputs.c — resolving inputs and secrets before anything runs.
 */
#include "inputs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"
#include "node.h"
#include "params.h"
#include "safepath.h"
#include "suggest.h"

/* Kept byte for byte, even when it is not UTF-8: rune_inputs_resolve
 * refuses that with a message (jansson's checked setters would drop it
 * silently, and the input's default would be used instead). */
int rune_inputs_parse_set(json_t *sets, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return -1;
    char *name = strndup(arg, (size_t)(eq - arg));
    if (!name)
        return -1;
    json_object_set_new_nocheck(sets, name, json_string_nocheck(eq + 1));
    free(name);
    return 0;
}

/* Offset of the first byte that is not part of valid UTF-8 (overlong
 * forms, surrogates and code points past U+10FFFF included), or -1. */
static long utf8_bad_at(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (p[i]) {
        unsigned c = p[i];
        size_t n = c < 0x80             ? 0
                   : (c & 0xE0) == 0xC0 ? 1
                   : (c & 0xF0) == 0xE0 ? 2
                   : (c & 0xF8) == 0xF0 ? 3
                                        : 9;
        if (n == 9 || (n == 1 && c < 0xC2) || (n == 3 && c > 0xF4))
            return (long)i;
        unsigned cp = n ? c & (0x3F >> n) : c;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return (long)i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return (long)i;
        i += n + 1;
    }
    return -1;
}

/* A --set name or value that is not UTF-8: refused with where it breaks. */
static bool check_utf8(struct rune_diags *d, const struct rune_runbook *rb, const char *name,
                       const char *value)
{
    const char *text = value ? value : name;
    long at = utf8_bad_at(text);
    if (at < 0)
        return true;
    char what[160];
    if (value && utf8_bad_at(name) < 0)
        snprintf(what, sizeof what, "--set %s: the value", name);
    else
        snprintf(what, sizeof what, "--set: an input name");
    rune_diag_add(d, (struct rune_mark){rb->path, 0, 0},
                  "%s is not valid UTF-8 (byte 0x%02X at offset %ld); rune takes text as "
                  "UTF-8: convert it (e.g. with iconv -f latin1 -t utf-8) or check the terminal's "
                  "locale",
                  what, (unsigned char)text[at], at);
    return false;
}

static void add_secret(void *ud, const char *value)
{
    rune_redactor_add(ud, value);
}

/* Every password inside a connection string anywhere in v is a secret. */
static void register_dsn(json_t *v, struct rune_redactor *red)
{
    if (json_is_string(v)) {
        rune_dsn_passwords(json_string_value(v), add_secret, red);
        return;
    }
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_array(v))
        json_array_foreach(v, i, x) register_dsn(x, red);
    if (json_is_object(v))
        json_object_foreach(v, k, x) register_dsn(x, red);
}

/* A copy of v with connection-string passwords replaced by "***", however
 * short (the redactor only masks values of RUNE_SECRET_MIN and more). New
 * reference. */
static json_t *scrub_dsn(json_t *v)
{
    if (json_is_string(v)) {
        char *m = rune_dsn_scrub(json_string_value(v));
        json_t *o = json_string(m);
        free(m);
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(a, scrub_dsn(x));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) json_object_set_new(o, k, scrub_dsn(x));
        return o;
    }
    return json_incref(v);
}

/* A value as it may appear in a message: connection-string passwords and
 * registered secrets masked. malloc'd. */
static char *shown_text(json_t *v, struct rune_redactor *red)
{
    json_t *clean = scrub_dsn(v);
    char *txt = json_dumps(clean, JSON_ENCODE_ANY);
    json_decref(clean);
    char *m = rune_redact(red, txt ? txt : "?");
    free(txt);
    return m;
}

/* --set values arrive as text; lists and maps are written in YAML flow
 * style (--set tables='[a, b]'). */
static json_t *from_text(enum rune_type t, const char *text)
{
    if (t != RUNE_T_LIST && t != RUNE_T_MAP && t != RUNE_T_STRLIST && t != RUNE_T_ANY)
        return json_string(text);
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_node *n = rune_yaml_parse("--set", text, strlen(text), &d);
    json_t *v = n ? rune_node_json(n) : json_string(text);
    rune_node_free(n);
    rune_diags_free(&d);
    return v;
}

static bool in_choices(const struct rune_inputdef *in, json_t *v)
{
    if (!in->choices)
        return true;
    for (size_t i = 0; i < in->choices->n; i++) {
        json_t *c = rune_node_json(in->choices->items[i]);
        char why[64];
        json_t *cc = rune_param_coerce(in->type, c, why, sizeof why);
        bool eq = cc && json_equal(cc, v);
        json_decref(c);
        json_decref(cc);
        if (eq)
            return true;
    }
    return false;
}

int rune_inputs_resolve(const struct rune_runbook *rb, json_t *sets, json_t **out, json_t **shown,
                        struct rune_redactor *red, struct rune_diags *d)
{
    size_t before = d->n;
    *out = json_object();
    *shown = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(sets, k, v)
    {
        if (!check_utf8(d, rb, k, NULL))
            continue;
        bool known = false;
        for (size_t i = 0; i < rb->ninputs; i++)
            known |= !strcmp(rb->inputs[i].name, k);
        if (known)
            continue;
        const char **names = calloc(rb->ninputs + 1, sizeof *names);
        char list[512] = "";
        for (size_t i = 0; i < rb->ninputs; i++) {
            names[i] = rb->inputs[i].name;
            strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, names[i], sizeof list - strlen(list) - 1);
        }
        char hint[128];
        rune_suggest_hint(k, names, rb->ninputs, hint, sizeof hint);
        free(names);
        rune_diag_add(d, (struct rune_mark){rb->path, 0, 0},
                      "--set %s: this runbook has no input \"%s\"%s; it takes: %s", k, k, hint,
                      rb->ninputs ? list : "no inputs");
    }
    for (size_t i = 0; i < rb->ninputs; i++) {
        const struct rune_inputdef *in = &rb->inputs[i];
        json_t *given = json_object_get(sets, in->name);
        json_t *raw;
        if (given && !check_utf8(d, rb, in->name, json_string_value(given)))
            continue;
        if (given)
            raw = from_text(in->type, json_string_value(given));
        else if (in->def)
            raw = rune_node_json(in->def);
        else if (in->required) {
            char about[512] = "";
            if (in->description)
                snprintf(about, sizeof about, " (%s)", in->description);
            rune_diag_add(d, in->mark, "input \"%s\" is required: pass --set %s=VALUE%s", in->name,
                          in->name, about);
            continue;
        } else {
            json_object_set_new(*out, in->name, json_null());
            json_object_set_new(*shown, in->name, json_null());
            continue;
        }
        /* registered before anything can quote them in a message */
        if (in->secret && json_is_string(raw))
            rune_redactor_add(red, json_string_value(raw));
        register_dsn(raw, red);
        char why[256];
        json_t *val = rune_param_coerce(in->type, raw, why, sizeof why);
        if (val && in->type == RUNE_T_DURATION) {
            /* keep the text ("250ms"): as a number it would read as seconds
             * when passed on to a step's duration parameter */
            json_decref(val);
            char txt[64];
            if (json_is_number(raw))
                snprintf(txt, sizeof txt, "%gs", json_number_value(raw));
            val = json_is_string(raw) ? json_incref(raw) : json_string(txt);
        }
        json_decref(raw);
        if (!val) {
            char *clean = rune_dsn_scrub(why), *m = rune_redact(red, clean);
            rune_diag_add(d, in->mark, "input \"%s\"%s: %s", in->name, given ? " (from --set)" : "",
                          m);
            free(clean);
            free(m);
            continue;
        }
        if (!in_choices(in, val)) {
            char *txt = in->secret ? strdup("the value given") : shown_text(val, red);
            json_t *cj = rune_node_json(in->choices);
            char *ch = json_dumps(cj, JSON_ENCODE_ANY | JSON_COMPACT);
            json_decref(cj);
            rune_diag_add(d, in->mark, "input \"%s\": %s is not one of %s", in->name, txt, ch);
            free(txt);
            free(ch);
            json_decref(val);
            continue;
        }
        if (in->secret && json_is_string(val) && strlen(json_string_value(val)) < RUNE_SECRET_MIN)
            rune_diag_add(d, in->mark,
                          "input \"%s\" is secret but shorter than %d characters, too short "
                          "to be masked in logs",
                          in->name, RUNE_SECRET_MIN);
        if (in->type == RUNE_T_PATH && json_is_string(val)) {
            char *canon = NULL, why_path[PATH_MAX + 1024];
            if (rune_safepath_resolve(json_string_value(val), &canon, why_path, sizeof why_path) !=
                0) {
                rune_diag_add(d, in->mark, "input \"%s\"%s: %s", in->name,
                              given ? " (from --set)" : "", why_path);
                json_decref(val);
                continue;
            }
            json_decref(val);
            val = json_string(canon);
            free(canon);
        }
        json_object_set_new(*shown, in->name, in->secret ? json_string("***") : scrub_dsn(val));
        json_object_set_new(*out, in->name, val);
    }
    return d->n > before ? -1 : 0;
}

static char *read_first_line(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char buf[4096];
    char *line = fgets(buf, sizeof buf, f) ? buf : NULL;
    fclose(f);
    if (!line) {
        snprintf(err, errlen, "%s is empty", path);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return strdup(line);
}

int rune_secrets_resolve(const struct rune_runbook *rb, json_t **out, struct rune_redactor *red,
                         struct rune_diags *d)
{
    size_t before = d->n;
    *out = json_object();
    for (size_t i = 0; i < rb->nsecrets; i++) {
        const struct rune_secretdef *s = &rb->secrets[i];
        char *val = NULL;
        char err[512] = "";
        if (s->env) {
            const char *e = getenv(s->env);
            if (e && *e)
                val = strdup(e);
            else
                snprintf(err, sizeof err, "environment variable %s is not set", s->env);
        } else if (s->file) {
            val = read_first_line(s->file, err, sizeof err);
        }
        if (!val) {
            if (s->required)
                rune_diag_add(d, s->mark, "secret \"%s\": %s", s->name, err);
            json_object_set_new(*out, s->name, json_null());
            continue;
        }
        if (strlen(val) < RUNE_SECRET_MIN)
            rune_diag_add(d, s->mark,
                          "secret \"%s\" is shorter than %d characters, too short to be masked "
                          "in logs",
                          s->name, RUNE_SECRET_MIN);
        rune_redactor_add(red, val);
        json_object_set_new(*out, s->name, json_string(val));
        memset(val, 0, strlen(val));
        free(val);
    }
    return d->n > before ? -1 : 0;
}

/* A target field that holds a password, by its name. Target kinds come
 * from the step families; this is the one thing the engine assumes about
 * their fields, so that a password given as a plain input or literal is
 * masked from the start of the run, not only once a step connects. */
static bool password_field(const char *name)
{
    return !strcmp(name, "password") || !strcmp(name, "passwd") ||
           (strlen(name) > 9 && !strcmp(name + strlen(name) - 9, "_password"));
}

void rune_targets_register_secrets(json_t *targets, struct rune_redactor *red)
{
    const char *name, *field;
    json_t *t, *v;
    json_object_foreach(targets, name, t)
    {
        json_object_foreach(t, field, v)
        {
            if (password_field(field) && json_is_string(v))
                rune_redactor_add(red, json_string_value(v));
            register_dsn(v, red);
        }
    }
}

void rune_inputs_mask_shown(json_t **shown, struct rune_redactor *red)
{
    json_t *m = rune_redact_json(red, *shown);
    json_decref(*shown);
    *shown = m;
}
