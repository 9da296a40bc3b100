/*
 * node.c — libyaml's document loader turned into rune_node trees.
 *
 * We load the whole document with yaml_parser_load, then copy it into our
 * own tree (so the rest of the engine never touches libyaml's index-based
 * API). Aliases are expanded by copy; a node budget stops alias bombs.
 */
#include "node.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define NODE_BUDGET 200000 /* far above any real runbook; stops "billion laughs" */

struct loader {
    const char *file;
    yaml_document_t *doc;
    struct rune_diags *d;
    size_t made;
    bool failed;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

static struct rune_mark mark_of(struct loader *L, yaml_mark_t m)
{
    return (struct rune_mark){L->file, (int)m.line + 1, (int)m.column + 1};
}

static struct rune_node *copy(struct loader *L, yaml_node_t *y, int depth)
{
    if (!y || L->failed)
        return NULL;
    if (++L->made > NODE_BUDGET || depth > 200) {
        rune_diag_add(L->d, mark_of(L, y->start_mark),
                      "document too large or too deeply nested (aliases expand to over %d "
                      "nodes); a runbook should not need this",
                      NODE_BUDGET);
        L->failed = true;
        return NULL;
    }
    struct rune_node *n = xcalloc(1, sizeof *n);
    n->mark = mark_of(L, y->start_mark);
    switch (y->type) {
    case YAML_SCALAR_NODE:
        n->kind = RUNE_NODE_SCALAR;
        if (strlen((char *)y->data.scalar.value) != y->data.scalar.length) {
            rune_diag_add(L->d, n->mark, "a NUL character inside a value is not allowed");
            L->failed = true;
        }
        n->str = strdup((char *)y->data.scalar.value);
        if (!n->str)
            abort();
        n->quoted = y->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
                    y->data.scalar.style != YAML_ANY_SCALAR_STYLE;
        n->block = y->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                   y->data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
        break;
    case YAML_SEQUENCE_NODE: {
        n->kind = RUNE_NODE_SEQ;
        size_t cnt = (size_t)(y->data.sequence.items.top - y->data.sequence.items.start);
        n->items = xcalloc(cnt, sizeof *n->items);
        for (size_t i = 0; i < cnt && !L->failed; i++) {
            yaml_node_t *c = yaml_document_get_node(L->doc, y->data.sequence.items.start[i]);
            n->items[n->n++] = copy(L, c, depth + 1);
        }
        break;
    }
    case YAML_MAPPING_NODE: {
        n->kind = RUNE_NODE_MAP;
        size_t cnt = (size_t)(y->data.mapping.pairs.top - y->data.mapping.pairs.start);
        n->keys = xcalloc(cnt, sizeof *n->keys);
        n->items = xcalloc(cnt, sizeof *n->items);
        for (size_t i = 0; i < cnt && !L->failed; i++) {
            yaml_node_pair_t *p = &y->data.mapping.pairs.start[i];
            yaml_node_t *k = yaml_document_get_node(L->doc, p->key);
            yaml_node_t *v = yaml_document_get_node(L->doc, p->value);
            if (k->type != YAML_SCALAR_NODE) {
                rune_diag_add(L->d, mark_of(L, k->start_mark),
                              "expected a plain key (a name), found a %s as a mapping key",
                              k->type == YAML_MAPPING_NODE ? "mapping" : "list");
                L->failed = true;
                break;
            }
            for (size_t j = 0; j < n->n; j++) {
                if (strcmp(n->keys[j]->str, (char *)k->data.scalar.value) == 0) {
                    char where[256];
                    rune_diag_add(L->d, mark_of(L, k->start_mark),
                                  "duplicate key \"%s\" (first given at %s); remove one of them",
                                  n->keys[j]->str, rune_mark_str(n->keys[j]->mark, where,
                                                                 sizeof where));
                }
            }
            n->keys[n->n] = copy(L, k, depth + 1);
            n->items[n->n] = copy(L, v, depth + 1);
            n->n++;
        }
        break;
    }
    default:
        n->kind = RUNE_NODE_SCALAR;
        n->str = strdup("");
        break;
    }
    return n;
}

static const char *problem_text(yaml_parser_t *p)
{
    return p->problem ? p->problem : "malformed YAML";
}

struct rune_node *rune_yaml_parse(const char *file, const char *text, size_t len,
                                  struct rune_diags *d)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    struct rune_node *root = NULL;
    size_t before = d->n;

    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_mark_t m = parser.problem_mark;
        char ctx[256] = "";
        if (parser.context)
            snprintf(ctx, sizeof ctx, " (%s that starts at line %d, column %d)", parser.context,
                     (int)parser.context_mark.line + 1, (int)parser.context_mark.column + 1);
        rune_diag_add(d, (struct rune_mark){file, (int)m.line + 1, (int)m.column + 1},
                      "invalid YAML: %s%s", problem_text(&parser), ctx);
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    if (!top) {
        rune_diag_add(d, (struct rune_mark){file, 0, 0},
                      "the file is empty; expected a runbook (a mapping starting with "
                      "`runbook: NAME`)");
        goto out;
    }
    struct loader L = {file, &doc, d, 0, false};
    root = copy(&L, top, 0);
    /* A second document in the same file would be silently ignored: refuse. */
    yaml_document_t extra;
    if (yaml_parser_load(&parser, &extra)) {
        yaml_node_t *x = yaml_document_get_root_node(&extra);
        if (x)
            rune_diag_add(d, (struct rune_mark){file, (int)x->start_mark.line + 1,
                                                (int)x->start_mark.column + 1},
                          "a second YAML document (after ---); a runbook file holds one "
                          "runbook");
        yaml_document_delete(&extra);
    }
    if (L.failed || d->n > before) {
        rune_node_free(root);
        root = NULL;
    }
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
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
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
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
