/*
 * template.c — the Mustache subset of template.h: a parser that turns the
 * text into a tree (and names the line and column of any tag it cannot
 * accept), and a renderer that walks the tree over a JSON value.
 *
 * Debian ships no C Mustache library, so this is the smallest one that
 * will do, over jansson. It must stay logic-less and bounded: no partials
 * or lambdas (a template cannot loop on itself), nesting capped at parse
 * time, output and work capped at render time.
 */
#include "template.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct rune_template_limits rune_template_default_limits = {
    .max_output = 16u * 1024 * 1024,
    .max_steps = 4u * 1000 * 1000,
};

enum kind { TEXT, VALUE, RAW, SECTION, INVERTED };

struct node {
    enum kind kind;
    char *s; /* the text, or the name */
    size_t len;
    int line, col;
    struct node *kids; /* of a section */
    size_t nkids, cap;
};

struct rune_template {
    struct node root;
};

/* ---- Parsing ---- */

struct parser {
    const char *name, *text;
    size_t len, pos;
    char *err;
    size_t errlen;
};

static void where(const struct parser *p, size_t at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at && i < p->len; i++) {
        if (p->text[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

/* An error at text offset at: "name:line:col: what". Returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(struct parser *p, size_t at, const char *fmt,
                                                      ...)
{
    char what[768];
    int line, col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    where(p, at, &line, &col);
    snprintf(p->err, p->errlen, "%s:%d:%d: %s", p->name, line, col, what);
    return -1;
}

static struct node *add(struct node *parent, enum kind kind, const char *s, size_t len)
{
    if (parent->nkids == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        struct node *k = realloc(parent->kids, cap * sizeof *k);
        if (!k)
            return NULL;
        parent->kids = k;
        parent->cap = cap;
    }
    struct node *n = &parent->kids[parent->nkids];
    memset(n, 0, sizeof *n);
    if (!(n->s = strndup(s, len)))
        return NULL;
    n->kind = kind;
    n->len = len;
    parent->nkids++;
    return n;
}

static void free_kids(struct node *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        free_kids(&n->kids[i]);
        free(n->kids[i].s);
    }
    free(n->kids);
}

/* A name: letters, digits, _ - . (and "." alone for the current element). */
static bool good_name(const char *s, size_t len)
{
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Whether the tag [start, end) stands alone on its line (only blanks
 * around it, and after the previous tag): then the whole line goes, so
 * section tags on lines of their own leave no empty lines behind. On
 * true, *from is where the line begins and *to where the next begins. */
static bool standalone(const struct parser *p, size_t start, size_t end, size_t floor, size_t *from,
                       size_t *to)
{
    size_t b = start;
    while (b > floor && blank(p->text[b - 1]))
        b--;
    if (b > 0 && p->text[b - 1] != '\n')
        return false;
    if (b < floor)
        return false;
    size_t e = end;
    while (e < p->len && blank(p->text[e]))
        e++;
    if (e < p->len && p->text[e] == '\r' && e + 1 < p->len && p->text[e + 1] == '\n')
        e++;
    if (e < p->len && p->text[e] != '\n')
        return false;
    *from = b;
    *to = e < p->len ? e + 1 : e;
    return true;
}

static int parse(struct parser *p, struct node *root)
{
    struct node *stack[RUNE_TEMPLATE_MAX_DEPTH + 1];
    size_t opened_at[RUNE_TEMPLATE_MAX_DEPTH + 1];
    size_t depth = 0, text_from = 0, floor = 0;
    stack[0] = root;
    opened_at[0] = 0;

    for (;;) {
        const char *o = p->len > p->pos ? memmem(p->text + p->pos, p->len - p->pos, "{{", 2) : NULL;
        size_t start = o ? (size_t)(o - p->text) : p->len;
        if (!o) {
            if (start > text_from &&
                !add(stack[depth], TEXT, p->text + text_from, start - text_from))
                return fail(p, start, "no memory for the template");
            break;
        }
        bool triple = start + 2 < p->len && p->text[start + 2] == '{';
        const char *close = triple ? "}}}" : "}}";
        size_t inner = start + (triple ? 3 : 2);
        const char *c = memmem(p->text + inner, p->len - inner, close, strlen(close));
        if (!c)
            return fail(p, start, "a tag opened here is never closed: add \"%s\"", close);
        size_t end = (size_t)(c - p->text) + strlen(close);
        const char *s = p->text + inner;
        size_t n = (size_t)(c - s);
        char sigil = triple ? '{' : 0;
        while (n && blank(*s))
            s++, n--;
        if (!triple && n && strchr("#^/!&>=<$", *s)) {
            sigil = *s++;
            n--;
        }
        while (n && blank(*s))
            s++, n--;
        while (n && blank(s[n - 1]))
            n--;
        if (sigil == '>' || sigil == '=' || sigil == '<' || sigil == '$')
            return fail(p, start,
                        "{{%c...}} (partials, delimiter changes, blocks) is not supported in "
                        "rune's templates; use {{name}}, {{#name}}, {{^name}}, {{/name}}, {{!...}}",
                        sigil);
        if (sigil != '!' && memchr(s, '\n', n))
            return fail(p, start, "a tag must not span lines; close it with \"%s\" on this line",
                        close);
        char name[256];
        if (sigil != '!' && (!good_name(s, n) || n >= sizeof name))
            return fail(p, start,
                        "\"%.*s\" is not a name: use letters, digits, _ and -, dotted for members "
                        "(incident.id), or . for the current element",
                        (int)(n > 80 ? 80 : n), s);
        snprintf(name, sizeof name, "%.*s", sigil == '!' ? 0 : (int)n, s);

        /* text before the tag; a standalone section or comment line goes whole */
        size_t text_to = start, next = end, from, to;
        bool alone = (sigil == '#' || sigil == '^' || sigil == '/' || sigil == '!') &&
                     standalone(p, start, end, floor, &from, &to);
        if (alone) {
            text_to = from;
            next = to;
        }
        if (text_to > text_from &&
            !add(stack[depth], TEXT, p->text + text_from, text_to - text_from))
            return fail(p, start, "no memory for the template");

        if (sigil == '#' || sigil == '^') {
            if (depth == RUNE_TEMPLATE_MAX_DEPTH)
                return fail(p, start,
                            "sections nest deeper than %d here; a template needs far fewer",
                            RUNE_TEMPLATE_MAX_DEPTH);
            struct node *k = add(stack[depth], sigil == '#' ? SECTION : INVERTED, name, n);
            if (!k)
                return fail(p, start, "no memory for the template");
            where(p, start, &k->line, &k->col);
            stack[++depth] = k;
            opened_at[depth] = start;
        } else if (sigil == '/') {
            if (!depth)
                return fail(p, start, "{{/%s}} closes no section: nothing is open here", name);
            if (strcmp(stack[depth]->s, name))
                return fail(p, start,
                            "{{/%s}} does not close the open section \"%s\" (opened at %d:%d); "
                            "close that first with {{/%s}}",
                            name, stack[depth]->s, stack[depth]->line, stack[depth]->col,
                            stack[depth]->s);
            depth--;
        } else if (sigil != '!') {
            struct node *k = add(stack[depth], sigil == '{' || sigil == '&' ? RAW : VALUE, name, n);
            if (!k)
                return fail(p, start, "no memory for the template");
            where(p, start, &k->line, &k->col);
        }
        p->pos = next;
        text_from = next;
        floor = next;
    }
    if (depth)
        return fail(p, opened_at[depth], "section \"%s\" opened here is never closed: add {{/%s}}",
                    stack[depth]->s, stack[depth]->s);
    return 0;
}

int rune_template_parse(const char *name, const char *text, size_t len, struct rune_template **out,
                        char *err, size_t errlen)
{
    struct parser p = {name, text, len, 0, err, errlen};
    *out = NULL;
    if (len > RUNE_TEMPLATE_MAX_TEXT) {
        snprintf(err, errlen, "%s: the template is %zu bytes, more than the %d a template may be",
                 name, len, RUNE_TEMPLATE_MAX_TEXT);
        return -1;
    }
    if (memchr(text, '\0', len)) {
        snprintf(err, errlen, "%s: the template holds a NUL byte: it is not a text file", name);
        return -1;
    }
    struct rune_template *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "%s: no memory for the template", name);
        return -1;
    }
    if (parse(&p, &t->root) != 0) {
        rune_template_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void rune_template_free(struct rune_template *t)
{
    if (!t)
        return;
    free_kids(&t->root);
    free(t);
}

/* ---- Rendering ---- */

struct out {
    char *buf;
    size_t len, cap, steps;
    const struct rune_template_limits *lim;
    bool html;
    json_t *ctx[RUNE_TEMPLATE_MAX_DEPTH + 2];
    size_t depth;
    char *err;
    size_t errlen;
};

static int put(struct out *o, const char *s, size_t n)
{
    if (o->len + n > o->lim->max_output) {
        snprintf(o->err, o->errlen,
                 "the template's output would pass %zu bytes: a loop over more than it should "
                 "show? Render less, or nest fewer sections",
                 o->lim->max_output);
        return -1;
    }
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            snprintf(o->err, o->errlen, "no memory to render the template");
            return -1;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
    return 0;
}

/* A value's text, escaped for HTML when asked; control characters as '?'. */
static int put_value(struct out *o, const char *s, bool escape)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *rep = NULL;
        char one = (char)c;
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            one = '?';
        else if (escape && c == '&')
            rep = "&amp;";
        else if (escape && c == '<')
            rep = "&lt;";
        else if (escape && c == '>')
            rep = "&gt;";
        else if (escape && c == '"')
            rep = "&quot;";
        else if (escape && c == '\'')
            rep = "&#39;";
        if (rep ? put(o, rep, strlen(rep)) : put(o, &one, 1))
            return -1;
    }
    return 0;
}

/* v's member (or element, for a number on an array) named seg[0..n). */
static json_t *member(json_t *v, const char *seg, size_t n)
{
    char key[256];
    if (n >= sizeof key)
        return NULL;
    memcpy(key, seg, n);
    key[n] = '\0';
    if (json_is_object(v))
        return json_object_get(v, key);
    if (json_is_array(v) && n && strspn(key, "0123456789") == n)
        return json_array_get(v, strtoul(key, NULL, 10));
    return NULL;
}

/* A name in the context: "." is the innermost; a dotted name's first part
 * is looked up from the innermost context outwards, the rest inside it. */
static json_t *lookup(struct out *o, const char *name)
{
    if (!strcmp(name, "."))
        return o->ctx[o->depth];
    const char *dot = strchr(name, '.');
    size_t n = dot ? (size_t)(dot - name) : strlen(name);
    json_t *v = NULL;
    for (size_t d = o->depth + 1; d-- > 0 && !v;)
        v = member(o->ctx[d], name, n);
    while (v && dot) {
        const char *seg = dot + 1;
        dot = strchr(seg, '.');
        v = member(v, seg, dot ? (size_t)(dot - seg) : strlen(seg));
    }
    return v;
}

static bool truthy(json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return false;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    return true;
}

static int show(struct out *o, json_t *v, bool escape)
{
    char num[64];
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return put_value(o, json_string_value(v), escape);
    if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return put_value(o, num, escape);
    }
    if (json_is_real(v)) {
        snprintf(num, sizeof num, "%.15g", json_real_value(v));
        return put_value(o, num, escape);
    }
    if (json_is_boolean(v))
        return put_value(o, json_is_true(v) ? "true" : "false", escape);
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!s) {
        snprintf(o->err, o->errlen, "no memory to render the template");
        return -1;
    }
    int rc = put_value(o, s, escape);
    free(s);
    return rc;
}

/* Counts one step of work: a tag, a text, or one pass of a section (an
 * empty section over a long list is work too). -1 when over the limit. */
static int step(struct out *o, const struct node *n)
{
    if (++o->steps <= o->lim->max_steps)
        return 0;
    snprintf(o->err, o->errlen,
             "the template took more than %zu steps (at {{%s}}, line %d:%d): loops nested "
             "over large lists; nest fewer sections",
             o->lim->max_steps, n->kind == TEXT ? "text" : n->s, n->line, n->col);
    return -1;
}

static int walk(struct out *o, const struct node *n);

static int kids(struct out *o, const struct node *n, json_t *ctx)
{
    if (step(o, n) != 0)
        return -1;
    o->ctx[++o->depth] = ctx;
    for (size_t i = 0; i < n->nkids; i++) {
        if (walk(o, &n->kids[i]) != 0) {
            o->depth--;
            return -1;
        }
    }
    o->depth--;
    return 0;
}

static int walk(struct out *o, const struct node *n)
{
    if (step(o, n) != 0)
        return -1;
    json_t *v;
    switch (n->kind) {
    case TEXT:
        return put(o, n->s, n->len);
    case VALUE:
    case RAW:
        return show(o, lookup(o, n->s), n->kind == VALUE && o->html);
    case INVERTED:
        v = lookup(o, n->s);
        return truthy(v) ? 0 : kids(o, n, o->ctx[o->depth]);
    case SECTION:
        v = lookup(o, n->s);
        if (!truthy(v))
            return 0;
        if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                if (kids(o, n, e) != 0)
                    return -1;
            }
            return 0;
        }
        return kids(o, n, v);
    }
    return 0;
}

char *rune_template_render(const struct rune_template *t, json_t *data, bool html,
                           const struct rune_template_limits *lim, char *err, size_t errlen)
{
    struct out o = {.lim = lim ? lim : &rune_template_default_limits,
                    .html = html,
                    .err = err,
                    .errlen = errlen};
    o.ctx[0] = data;
    for (size_t i = 0; i < t->root.nkids; i++) {
        if (walk(&o, &t->root.kids[i]) != 0) {
            free(o.buf);
            return NULL;
        }
    }
    if (!o.buf && put(&o, "", 0) != 0)
        return NULL;
    return o.buf;
}
