/*
 * node.h — a parsed YAML document as a small tree that remembers where
 * every value came from (file:line:col), so any later error — at
 * validation or in the middle of a run — can point at the runbook text.
 *
 * Scalars are typed with the YAML 1.2 core schema (plain `true` is a
 * boolean, `"true"` is a string; `yes`/`on` are just strings).
 */
#ifndef RUNE_NODE_H
#define RUNE_NODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

enum rune_node_kind {
    RUNE_NODE_SCALAR,
    RUNE_NODE_MAP,
    RUNE_NODE_SEQ,
};

struct rune_node {
    enum rune_node_kind kind;
    struct rune_mark mark;
    char *str;                /* scalar text (NUL-terminated; may contain NULs? no: rejected) */
    bool quoted;              /* quoted or block scalar: always a string */
    bool block;               /* literal or folded block (`|`, `>`): text starts a line below */
    size_t n;                 /* map: pairs; seq: items */
    struct rune_node **keys;  /* map only: key scalars */
    struct rune_node **items; /* map: values; seq: items */
};

/* Parses text (from `file`, whose string must outlive the tree). Returns the
 * root node, or NULL after adding a diagnostic. Duplicate keys in a mapping
 * are reported (and the document rejected): a silently ignored duplicate
 * is how a typo hides a step. */
struct rune_node *rune_yaml_parse(const char *file, const char *text, size_t len,
                                  struct rune_diags *d);
void rune_node_free(struct rune_node *n);

/* Map lookup; NULL when absent or n is not a map. */
struct rune_node *rune_node_get(const struct rune_node *n, const char *key);
/* "a mapping", "a list", "a string", "a number", "a boolean", "null". */
const char *rune_node_describe(const struct rune_node *n);

/* A scalar's JSON value per the core schema (new reference). */
json_t *rune_scalar_json(const struct rune_node *n);
/* The whole subtree as JSON (new reference), no interpolation. */
json_t *rune_node_json(const struct rune_node *n);

/* Scalar predicates by core-schema type. */
bool rune_node_is_string(const struct rune_node *n);
bool rune_node_is_bool(const struct rune_node *n, bool *val);
bool rune_node_is_int(const struct rune_node *n, long long *val);
bool rune_node_is_null(const struct rune_node *n);

#endif
