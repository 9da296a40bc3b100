/*
 * interp.h — `${ expr }` inside runbook strings.
 *
 * A string that is exactly one `${...}` takes the expression's value with
 * its type (number, boolean, list, mapping); otherwise each expression is
 * replaced by its text. `$${` writes a literal `${`. The evaluator is
 * pluggable: a run evaluates Lua (lua.c) over the run's context.
 */
#ifndef RUNE_INTERP_H
#define RUNE_INTERP_H

#include <jansson.h>
#include <stddef.h>

#include "diag.h"
#include "node.h"

struct rune_eval {
    /* New reference, or NULL with a message in err. `where` is the
     * expression's place in the runbook (its line, for error messages). */
    json_t *(*eval)(void *ud, const char *expr, struct rune_mark where, char *err, size_t errlen);
    void *ud;
};

/* Calls fn for every expression in s (trimmed text, not NUL-terminated).
 * Returns 0, or -1 with err set for an unterminated `${`. */
typedef void (*rune_expr_fn)(void *ud, const char *expr, size_t len, size_t offset);
int rune_interp_scan(const char *s, rune_expr_fn fn, void *ud, char *err, size_t errlen);
/* True if s holds at least one `${`. */
int rune_interp_has(const char *s);

/* `at` is where s starts in the runbook (a node's mark). */
json_t *rune_interp_string(const char *s, struct rune_mark at, const struct rune_eval *ev,
                           char *err, size_t errlen);
/* Where the text at offset off of scalar n is in the runbook: the line is
 * exact, the column exact for single-line plain and quoted scalars. */
struct rune_mark rune_interp_mark(const struct rune_node *n, const char *s, size_t off);
/* Resolves a whole subtree (mapping keys are not interpolated). On error
 * returns NULL, with *where set to the offending node's mark. */
json_t *rune_interp_node(const struct rune_node *n, const struct rune_eval *ev,
                         struct rune_mark *where, char *err, size_t errlen);

/* Calls fn(ud, root, name, namelen) for each `root.name` reference in an
 * expression, root being "inputs", "steps", "secrets" or "run": what
 * validation can check without running anything. */
typedef void (*rune_ref_fn)(void *ud, const char *root, const char *name, size_t len);
void rune_interp_refs(const char *expr, size_t len, rune_ref_fn fn, void *ud);

#endif
