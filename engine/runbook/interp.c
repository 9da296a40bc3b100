/*
 * interp.c — finding and resolving `${...}` in runbook values.
 */
#include "interp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rune_interp_has(const char *s)
{
    return s && strstr(s, "${") != NULL;
}

/* Finds the `}` closing an expression that starts at p, skipping over
 * quoted strings and nested braces (Lua table constructors). */
static const char *closing(const char *p)
{
    int depth = 0;
    char quote = 0;
    for (; *p; p++) {
        if (quote) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == quote)
                quote = 0;
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}') {
            if (depth == 0)
                return p;
            depth--;
        }
    }
    return NULL;
}

static void trim(const char **a, const char **b)
{
    while (*a < *b && isspace((unsigned char)**a))
        (*a)++;
    while (*b > *a && isspace((unsigned char)(*b)[-1]))
        (*b)--;
}

int rune_interp_scan(const char *s, rune_expr_fn fn, void *ud, char *err, size_t errlen)
{
    for (const char *p = s; (p = strstr(p, "${"));) {
        if (p > s && p[-1] == '$') { /* $${ escape */
            p += 2;
            continue;
        }
        const char *end = closing(p + 2);
        if (!end) {
            snprintf(err, errlen, "unterminated ${ (expected a closing })");
            return -1;
        }
        const char *a = p + 2, *b = end;
        trim(&a, &b);
        if (a == b) {
            snprintf(err, errlen, "empty ${} (expected an expression inside)");
            return -1;
        }
        if (fn)
            fn(ud, a, (size_t)(b - a), (size_t)(a - s));
        p = end + 1;
    }
    return 0;
}

/* Text of a value inside a larger string. */
static int append_text(char **buf, size_t *len, size_t *cap, json_t *v, char *err, size_t errlen)
{
    char *own = NULL;
    const char *t;
    if (json_is_string(v))
        t = json_string_value(v);
    else if (json_is_null(v)) {
        snprintf(err, errlen,
                 "the value is null (a step that did not run, or an output it "
                 "did not set)");
        return -1;
    } else
        t = own = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t tl = strlen(t);
    if (*len + tl + 1 > *cap) {
        *cap = (*len + tl + 1) * 2;
        *buf = realloc(*buf, *cap);
        if (!*buf)
            abort();
    }
    memcpy(*buf + *len, t, tl);
    *len += tl;
    (*buf)[*len] = '\0';
    free(own);
    return 0;
}

static void append_raw(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        if (!*buf)
            abort();
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

struct rune_mark rune_interp_mark(const struct rune_node *n, const char *s, size_t off)
{
    struct rune_mark m = n ? n->mark : (struct rune_mark){"?", 0, 0};
    int lines = 0;
    for (size_t i = 0; i < off && s[i]; i++)
        lines += s[i] == '\n';
    if (n && n->block) {
        m.line += 1 + lines;
        m.col = 1;
    } else if (lines) {
        m.line += lines;
        m.col = 1;
    } else {
        m.col += (int)off + (n && n->quoted ? 1 : 0);
    }
    return m;
}

static json_t *eval_span(const struct rune_eval *ev, const char *a, const char *b,
                         struct rune_mark at, char *err, size_t errlen)
{
    trim(&a, &b);
    char *expr = strndup(a, (size_t)(b - a));
    if (!expr)
        abort();
    json_t *v = ev->eval(ev->ud, expr, at, err, errlen);
    if (!v) {
        /* name the expression, after the "file:line: " the evaluator gave */
        char inner[1024];
        snprintf(inner, sizeof inner, "%s", err);
        size_t fl = at.file ? strlen(at.file) : 0;
        const char *rest = inner;
        if (fl && !strncmp(inner, at.file, fl) && inner[fl] == ':') {
            const char *p = inner + fl + 1;
            while (isdigit((unsigned char)*p))
                p++;
            if (*p == ':' && p[1] == ' ')
                rest = p + 2;
        }
        snprintf(err, errlen, "%.*s${%s}: %s", (int)(rest - inner), inner, expr, rest);
    }
    free(expr);
    return v;
}

/* The mark of the expression at q inside s: same line counting as
 * rune_interp_mark, from the string's start mark. */
static struct rune_mark expr_mark(struct rune_mark at, const char *s, const char *q)
{
    struct rune_node fake = {0};
    fake.mark = at;
    return rune_interp_mark(&fake, s, (size_t)(q - s));
}

json_t *rune_interp_string(const char *s, struct rune_mark at, const struct rune_eval *ev,
                           char *err, size_t errlen)
{
    if (!rune_interp_has(s))
        return json_string(s);
    /* exactly one expression spanning the whole string keeps its type */
    if (s[0] == '$' && s[1] == '{') {
        const char *end = closing(s + 2);
        if (end && end[1] == '\0')
            return eval_span(ev, s + 2, end, at, err, errlen);
    }
    size_t len = 0, cap = strlen(s) + 64;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    buf[0] = '\0';
    const char *p = s;
    while (*p) {
        const char *q = strstr(p, "${");
        if (!q) {
            append_raw(&buf, &len, &cap, p, strlen(p));
            break;
        }
        if (q > s && q[-1] == '$') { /* "$${" → "${" (drop one $) */
            append_raw(&buf, &len, &cap, p, (size_t)(q - p) - 1);
            append_raw(&buf, &len, &cap, "${", 2);
            p = q + 2;
            continue;
        }
        append_raw(&buf, &len, &cap, p, (size_t)(q - p));
        const char *end = closing(q + 2);
        if (!end) {
            snprintf(err, errlen, "unterminated ${ (expected a closing })");
            free(buf);
            return NULL;
        }
        json_t *v = eval_span(ev, q + 2, end, expr_mark(at, s, q), err, errlen);
        if (!v || append_text(&buf, &len, &cap, v, err, errlen) != 0) {
            if (v) {
                char inner[512];
                snprintf(inner, sizeof inner, "%s", err);
                snprintf(err, errlen, "${%.*s}: %s", (int)(end - q - 2), q + 2, inner);
            }
            json_decref(v);
            free(buf);
            return NULL;
        }
        json_decref(v);
        p = end + 1;
    }
    json_t *out = json_string(buf);
    free(buf);
    if (!out)
        snprintf(err, errlen, "the result is not valid UTF-8");
    return out;
}

json_t *rune_interp_node(const struct rune_node *n, const struct rune_eval *ev,
                         struct rune_mark *where, char *err, size_t errlen)
{
    if (!n)
        return json_null();
    if (n->kind == RUNE_NODE_SCALAR) {
        json_t *v = rune_scalar_json(n);
        if (!json_is_string(v) || !rune_interp_has(n->str))
            return v;
        json_decref(v);
        /* line arithmetic for blocks is done here; columns past the first
         * line are unknown, so the string's own mark is passed for quoted */
        struct rune_mark at = n->mark;
        if (n->block) {
            at.line++;
            at.col = 1;
        } else if (n->quoted) {
            at.col++;
        }
        v = rune_interp_string(n->str, at, ev, err, errlen);
        if (!v && where)
            *where = n->mark;
        return v;
    }
    json_t *out = n->kind == RUNE_NODE_SEQ ? json_array() : json_object();
    for (size_t i = 0; i < n->n; i++) {
        json_t *v = rune_interp_node(n->items[i], ev, where, err, errlen);
        if (!v) {
            json_decref(out);
            return NULL;
        }
        if (n->kind == RUNE_NODE_SEQ)
            json_array_append_new(out, v);
        else
            json_object_set_new(out, n->keys[i]->str, v);
    }
    return out;
}

static int ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

void rune_interp_refs(const char *expr, size_t len, rune_ref_fn fn, void *ud)
{
    static const char *const roots[] = {"inputs", "steps", "secrets", "run"};
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && (ident_char(expr[i - 1]) || expr[i - 1] == '.'))
            continue;
        for (size_t r = 0; r < sizeof roots / sizeof roots[0]; r++) {
            size_t rl = strlen(roots[r]);
            if (i + rl + 1 < len && strncmp(expr + i, roots[r], rl) == 0 && expr[i + rl] == '.') {
                size_t a = i + rl + 1, b = a;
                while (b < len && ident_char(expr[b]))
                    b++;
                if (b > a)
                    fn(ud, roots[r], expr + a, b - a);
                i = b;
                break;
            }
        }
    }
}
