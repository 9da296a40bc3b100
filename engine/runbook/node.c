/*
 * node.c — libyaml's event stream turned into rune_node trees.
 *
 * We read the document event by event (yaml_parser_parse) and build our own
 * tree as we go, rather than loading libyaml's document first: a runbook is
 * input we do not control, and every limit must stop the parse where it is
 * crossed, not after the whole file has been taken in. So:
 *
 * - nesting is checked as each collection opens (libyaml's scanner does
 *   work per token in proportion to the open flow levels, so a hostile
 *   `[[[[...` is quadratic if it is allowed to run to its end);
 * - aliases are expanded by copy, and every node made, copies included,
 *   is charged to a budget of nodes and of bytes (an alias of a large
 *   scalar costs its length each time), so an alias bomb stops early;
 * - duplicate keys are found by sorting each mapping's keys once and are
 *   reported once per key, so a file of one key repeated stays linear;
 * - anchors are kept in a hash table, so many anchors and aliases stay
 *   linear too.
 *
 * An anchor is usable once its node is complete: a node cannot contain an
 * alias of itself, so the tree is always a tree.
 */
#include "node.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Far above any real runbook (the bundled ones have a few hundred nodes,
 * a few levels and a few KiB); documented in docs/runbook-format.md. */
#define NODE_BUDGET 200000
#define SIZE_BUDGET (64u << 20) /* bytes of scalars and nodes, aliases expanded */
#define MAX_DEPTH 200
/* Duplicate keys listed per document; past that, one line says how many more. */
#define DUPS_LISTED 100

struct anchor {
    char *name;
    const struct rune_node *node; /* owned by the tree being built */
    struct anchor *next;
};

struct builder {
    const char *file;
    yaml_parser_t parser;
    struct rune_diags *d;
    size_t nodes, bytes; /* budget used so far */
    struct anchor **buckets;
    size_t nbuckets, nanchors;
    size_t dups; /* duplicate keys found in the document */
    struct rune_mark first_unlisted;
    bool failed;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

static struct rune_mark mark_of(const struct builder *B, yaml_mark_t m)
{
    return (struct rune_mark){B->file, (int)m.line + 1, (int)m.column + 1};
}

/* Charges one node (and its text) to the budgets; false, with the
 * diagnostic, once either is exceeded. */
static bool charge(struct builder *B, struct rune_mark at, size_t text)
{
    B->nodes++;
    B->bytes += sizeof(struct rune_node) + 2 * sizeof(void *) + text + 1;
    if (B->nodes > NODE_BUDGET) {
        rune_diag_add(B->d, at,
                      "document too large: over %d nodes (an alias counts its nodes each time it "
                      "is used); a runbook should not need this",
                      NODE_BUDGET);
    } else if (B->bytes > SIZE_BUDGET) {
        rune_diag_add(B->d, at,
                      "document too large: over %u MiB of values and nodes (an alias counts its "
                      "size each time it is used); a runbook should not need this",
                      SIZE_BUDGET >> 20);
    } else {
        return true;
    }
    B->failed = true;
    return false;
}

static bool deep_enough(struct builder *B, struct rune_mark at, int depth)
{
    if (depth <= MAX_DEPTH)
        return true;
    rune_diag_add(B->d, at, "nested more than %d levels deep; a runbook should not need this",
                  MAX_DEPTH);
    B->failed = true;
    return false;
}

/* ---- Anchors ---- */

static size_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

static struct anchor *anchor_find(const struct builder *B, const char *name)
{
    if (!B->nbuckets)
        return NULL;
    for (struct anchor *a = B->buckets[hash_name(name) % B->nbuckets]; a; a = a->next)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

static void anchor_grow(struct builder *B)
{
    size_t n = B->nbuckets ? B->nbuckets * 2 : 64;
    struct anchor **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < B->nbuckets; i++) {
        for (struct anchor *a = B->buckets[i], *next; a; a = next) {
            next = a->next;
            size_t h = hash_name(a->name) % n;
            a->next = b[h];
            b[h] = a;
        }
    }
    free(B->buckets);
    B->buckets = b;
    B->nbuckets = n;
}

/* YAML lets a later anchor of the same name replace an earlier one. */
static void anchor_set(struct builder *B, const char *name, const struct rune_node *node)
{
    struct anchor *a = anchor_find(B, name);
    if (a) {
        a->node = node;
        return;
    }
    if (B->nanchors >= B->nbuckets)
        anchor_grow(B);
    a = xcalloc(1, sizeof *a);
    a->name = xstrdup(name);
    a->node = node;
    size_t h = hash_name(name) % B->nbuckets;
    a->next = B->buckets[h];
    B->buckets[h] = a;
    B->nanchors++;
}

static void anchors_free(struct builder *B)
{
    for (size_t i = 0; i < B->nbuckets; i++) {
        for (struct anchor *a = B->buckets[i], *next; a; a = next) {
            next = a->next;
            free(a->name);
            free(a);
        }
    }
    free(B->buckets);
}

/* ---- Building ---- */

/* Appends a child (and, in a mapping, its key), growing the arrays by
 * doubling. */
static void push(struct rune_node *n, size_t *cap, struct rune_node *key, struct rune_node *item)
{
    if (n->n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        n->items = realloc(n->items, *cap * sizeof *n->items);
        if (n->kind == RUNE_NODE_MAP)
            n->keys = realloc(n->keys, *cap * sizeof *n->keys);
        if (!n->items || (n->kind == RUNE_NODE_MAP && !n->keys))
            abort();
    }
    if (n->kind == RUNE_NODE_MAP)
        n->keys[n->n] = key;
    n->items[n->n++] = item;
}

/* A copy of src at depth (the alias at `at` expanded in place), charged in
 * full; a limit crossed is reported at the alias. */
static struct rune_node *clone(struct builder *B, const struct rune_node *src, int depth,
                               struct rune_mark at)
{
    if (!deep_enough(B, at, depth) || !charge(B, at, src->str ? strlen(src->str) : 0))
        return NULL;
    struct rune_node *n = xcalloc(1, sizeof *n);
    n->kind = src->kind;
    n->mark = src->mark;
    n->quoted = src->quoted;
    n->block = src->block;
    if (src->str)
        n->str = xstrdup(src->str);
    size_t cap = 0;
    for (size_t i = 0; i < src->n; i++) {
        struct rune_node *k = NULL, *v;
        if (src->kind == RUNE_NODE_MAP && !(k = clone(B, src->keys[i], depth + 1, at)))
            break;
        if (!(v = clone(B, src->items[i], depth + 1, at))) {
            rune_node_free(k);
            break;
        }
        push(n, &cap, k, v);
    }
    if (B->failed) {
        rune_node_free(n);
        return NULL;
    }
    return n;
}

static int by_key(const void *a, const void *b)
{
    const struct rune_node *const *x = a, *const *y = b;
    int c = strcmp((*x)->str, (*y)->str);
    if (c)
        return c;
    /* equal keys keep document order (marks never tie within a file) */
    if ((*x)->mark.line != (*y)->mark.line)
        return (*x)->mark.line < (*y)->mark.line ? -1 : 1;
    return ((*x)->mark.col > (*y)->mark.col) - ((*x)->mark.col < (*y)->mark.col);
}

/*
 * Duplicate keys, each reported once, at its second occurrence: a silently
 * ignored duplicate is how a typo hides a step. Sorting a copy of the keys
 * makes this n log n where comparing every pair was quadratic in both time
 * and diagnostics.
 */
static void check_duplicates(struct builder *B, const struct rune_node *map)
{
    if (map->n < 2)
        return;
    const struct rune_node **k = xcalloc(map->n, sizeof *k);
    for (size_t i = 0; i < map->n; i++)
        k[i] = map->keys[i];
    qsort(k, map->n, sizeof *k, by_key);
    for (size_t i = 0, run; i < map->n; i += run) {
        for (run = 1; i + run < map->n && strcmp(k[i]->str, k[i + run]->str) == 0; run++)
            ;
        if (run == 1)
            continue;
        if (B->dups++ == DUPS_LISTED) {
            B->first_unlisted = k[i + 1]->mark;
            continue;
        } else if (B->dups > DUPS_LISTED) {
            continue;
        }
        char first[256], more[64] = "";
        if (run > 2)
            snprintf(more, sizeof more, ", and %zu more time%s after this", run - 2,
                     run == 3 ? "" : "s");
        rune_diag_add(B->d, k[i + 1]->mark,
                      "duplicate key \"%s\" (first given at %s%s); remove all but one", k[i]->str,
                      rune_mark_str(k[i]->mark, first, sizeof first), more);
    }
    free(k);
}

static void parse_error(struct builder *B)
{
    yaml_parser_t *p = &B->parser;
    char ctx[256] = "";
    if (p->context)
        snprintf(ctx, sizeof ctx, " (%s that starts at line %d, column %d)", p->context,
                 (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    rune_diag_add(B->d, mark_of(B, p->problem_mark), "invalid YAML: %s%s",
                  p->problem ? p->problem : "malformed YAML", ctx);
    B->failed = true;
}

/* The next event, or false after a diagnostic. */
static bool next_event(struct builder *B, yaml_event_t *ev)
{
    if (yaml_parser_parse(&B->parser, ev))
        return true;
    parse_error(B);
    return false;
}

static struct rune_node *node_from(struct builder *B, yaml_event_t *ev, int depth);

/* The children of a collection whose start event was just read, up to its
 * end event. Keys of a mapping must be scalars. */
static void children(struct builder *B, struct rune_node *n, int depth)
{
    yaml_event_type_t end =
        n->kind == RUNE_NODE_MAP ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    size_t cap = 0;
    yaml_event_t ev;
    while (!B->failed && next_event(B, &ev)) {
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return;
        }
        struct rune_mark at = mark_of(B, ev.start_mark);
        struct rune_node *key = NULL, *item = node_from(B, &ev, depth + 1);
        if (!item)
            return;
        if (n->kind == RUNE_NODE_MAP) {
            key = item;
            if (key->kind != RUNE_NODE_SCALAR) {
                rune_diag_add(B->d, at,
                              "expected a plain key (a name), found a %s as a mapping key",
                              key->kind == RUNE_NODE_MAP ? "mapping" : "list");
                B->failed = true;
                rune_node_free(key);
                return;
            }
            if (!next_event(B, &ev) || !(item = node_from(B, &ev, depth + 1))) {
                rune_node_free(key);
                return;
            }
        }
        push(n, &cap, key, item);
    }
}

/* The node that starts with ev (consumed), with everything inside it; NULL
 * after a diagnostic. */
static struct rune_node *node_from(struct builder *B, yaml_event_t *ev, int depth)
{
    struct rune_mark at = mark_of(B, ev->start_mark);
    struct rune_node *n = NULL;
    char *anchor = NULL;

    switch (ev->type) {
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        struct anchor *a = anchor_find(B, name);
        if (!a) {
            rune_diag_add(B->d, at, "alias *%s names no anchor defined before it (&%s)", name,
                          name);
            B->failed = true;
            break;
        }
        n = clone(B, a->node, depth, at);
        break;
    }
    case YAML_SCALAR_EVENT: {
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (!deep_enough(B, at, depth) || !charge(B, at, len))
            break;
        if (strlen(v) != len) {
            rune_diag_add(B->d, at, "a NUL character inside a value is not allowed");
            B->failed = true;
            break;
        }
        n = xcalloc(1, sizeof *n);
        n->kind = RUNE_NODE_SCALAR;
        n->mark = at;
        n->str = xstrdup(v);
        yaml_scalar_style_t s = ev->data.scalar.style;
        n->quoted = s != YAML_PLAIN_SCALAR_STYLE && s != YAML_ANY_SCALAR_STYLE;
        n->block = s == YAML_LITERAL_SCALAR_STYLE || s == YAML_FOLDED_SCALAR_STYLE;
        if (ev->data.scalar.anchor)
            anchor_set(B, (const char *)ev->data.scalar.anchor, n);
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool map = ev->type == YAML_MAPPING_START_EVENT;
        yaml_char_t *a = map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
        if (!deep_enough(B, at, depth) || !charge(B, at, 0))
            break;
        anchor = a ? xstrdup((const char *)a) : NULL;
        n = xcalloc(1, sizeof *n);
        n->kind = map ? RUNE_NODE_MAP : RUNE_NODE_SEQ;
        n->mark = at;
        yaml_event_delete(ev);
        children(B, n, depth);
        if (!B->failed && map)
            check_duplicates(B, n);
        if (!B->failed && anchor)
            anchor_set(B, anchor, n);
        free(anchor);
        break;
    }
    default:
        /* the parser only gives node events here; anything else is a bug */
        rune_diag_add(B->d, at, "invalid YAML: unexpected event %d", (int)ev->type);
        B->failed = true;
        break;
    }
    yaml_event_delete(ev); /* a no-op when already deleted: it zeroes the event */
    if (B->failed) {
        rune_node_free(n);
        return NULL;
    }
    return n;
}

/* After the first document: a second one would be silently ignored by
 * everything downstream, so it is refused. */
static void refuse_second_document(struct builder *B)
{
    yaml_event_t ev;
    if (!next_event(B, &ev))
        return;
    if (ev.type == YAML_DOCUMENT_START_EVENT)
        rune_diag_add(B->d, mark_of(B, ev.start_mark),
                      "a second YAML document (after ---); a runbook file holds one runbook");
    yaml_event_delete(&ev);
}

/* Reads events up to and including one of type want; false if the stream
 * ends first or fails. */
static bool expect_event(struct builder *B, yaml_event_type_t want, yaml_event_t *ev)
{
    if (!next_event(B, ev))
        return false;
    if (ev->type == want)
        return true;
    yaml_event_delete(ev);
    return false;
}

struct rune_node *rune_yaml_parse(const char *file, const char *text, size_t len,
                                  struct rune_diags *d)
{
    struct builder B = {.file = file, .d = d};
    struct rune_node *root = NULL;
    size_t before = d->n;
    yaml_event_t ev;

    if (!yaml_parser_initialize(&B.parser))
        abort();
    yaml_parser_set_input_string(&B.parser, (const unsigned char *)text, len);
    if (!expect_event(&B, YAML_STREAM_START_EVENT, &ev))
        goto out;
    yaml_event_delete(&ev);
    if (!next_event(&B, &ev))
        goto out;
    if (ev.type != YAML_DOCUMENT_START_EVENT) { /* the stream ended: nothing but comments */
        yaml_event_delete(&ev);
        rune_diag_add(d, (struct rune_mark){file, 0, 0},
                      "the file is empty; expected a runbook (a mapping starting with "
                      "`runbook: NAME`)");
        goto out;
    }
    yaml_event_delete(&ev);
    if (!next_event(&B, &ev) || !(root = node_from(&B, &ev, 0)))
        goto out;
    if (!expect_event(&B, YAML_DOCUMENT_END_EVENT, &ev))
        goto out;
    yaml_event_delete(&ev);
    refuse_second_document(&B);
out:
    if (B.dups > DUPS_LISTED)
        rune_diag_add(d, B.first_unlisted,
                      "and %zu more duplicate keys in this file, not listed one by one",
                      B.dups - DUPS_LISTED);
    if (B.failed || d->n > before) {
        rune_node_free(root);
        root = NULL;
    }
    anchors_free(&B);
    yaml_parser_delete(&B.parser);
    return root;
}

void rune_node_free(struct rune_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            rune_node_free(n->keys[i]);
        rune_node_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->str);
    free(n);
}

struct rune_node *rune_node_get(const struct rune_node *n, const char *key)
{
    if (!n || n->kind != RUNE_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < n->n; i++)
        if (strcmp(n->keys[i]->str, key) == 0)
            return n->items[i];
    return NULL;
}

bool rune_node_is_null(const struct rune_node *n)
{
    if (!n || n->kind != RUNE_NODE_SCALAR || n->quoted)
        return false;
    const char *s = n->str;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

bool rune_node_is_bool(const struct rune_node *n, bool *val)
{
    if (!n || n->kind != RUNE_NODE_SCALAR || n->quoted)
        return false;
    const char *s = n->str;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        if (val)
            *val = true;
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        if (val)
            *val = false;
        return true;
    }
    return false;
}

bool rune_node_is_int(const struct rune_node *n, long long *val)
{
    if (!n || n->kind != RUNE_NODE_SCALAR || n->quoted || !*n->str)
        return false;
    const char *s = n->str;
    int base = 10;
    const char *digits = s;
    if (s[0] == '0' && s[1] == 'x') {
        base = 16;
        digits = s + 2;
    } else if (s[0] == '0' && s[1] == 'o') {
        base = 8;
        digits = s + 2;
    }
    if (!*digits)
        return false;
    const char *p = digits;
    if (base == 10 && (*p == '-' || *p == '+'))
        p++;
    if (!*p)
        return false;
    for (; *p; p++) {
        if (base == 10 && (*p < '0' || *p > '9'))
            return false;
        if (base == 8 && (*p < '0' || *p > '7'))
            return false;
        if (base == 16 && !strchr("0123456789abcdefABCDEF", *p))
            return false;
    }
    errno = 0;
    long long v = strtoll(digits, NULL, base);
    if (errno == ERANGE)
        return false;
    if (val)
        *val = v;
    return true;
}

static bool is_float(const struct rune_node *n, double *val)
{
    if (!n || n->kind != RUNE_NODE_SCALAR || n->quoted || !*n->str)
        return false;
    const char *s = n->str;
    /* [-+]? ( \.[0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    int digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return false;
    if (val)
        *val = strtod(s, NULL);
    return true;
}

json_t *rune_scalar_json(const struct rune_node *n)
{
    bool b;
    long long i;
    double f;
    if (rune_node_is_null(n))
        return json_null();
    if (rune_node_is_bool(n, &b))
        return json_boolean(b);
    if (rune_node_is_int(n, &i))
        return json_integer(i);
    if (is_float(n, &f) && isfinite(f))
        return json_real(f);
    return json_string(n->str);
}

bool rune_node_is_string(const struct rune_node *n)
{
    if (!n || n->kind != RUNE_NODE_SCALAR)
        return false;
    json_t *j = rune_scalar_json(n);
    bool s = json_is_string(j);
    json_decref(j);
    return s;
}

const char *rune_node_describe(const struct rune_node *n)
{
    if (!n)
        return "nothing";
    if (n->kind == RUNE_NODE_MAP)
        return "a mapping";
    if (n->kind == RUNE_NODE_SEQ)
        return "a list";
    json_t *j = rune_scalar_json(n);
    const char *d = json_is_null(j)      ? "null"
                    : json_is_boolean(j) ? "a boolean"
                    : json_is_number(j)  ? "a number"
                                         : "a string";
    json_decref(j);
    return d;
}

json_t *rune_node_json(const struct rune_node *n)
{
    if (!n)
        return json_null();
    if (n->kind == RUNE_NODE_SCALAR)
        return rune_scalar_json(n);
    if (n->kind == RUNE_NODE_SEQ) {
        json_t *a = json_array();
        for (size_t i = 0; i < n->n; i++)
            json_array_append_new(a, rune_node_json(n->items[i]));
        return a;
    }
    json_t *o = json_object();
    for (size_t i = 0; i < n->n; i++)
        json_object_set_new(o, n->keys[i]->str, rune_node_json(n->items[i]));
    return o;
}
