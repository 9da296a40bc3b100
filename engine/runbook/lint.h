/*
 * lint.h — warnings about a valid runbook: what rune can run but what is
 * probably a mistake that hurts at 3 a.m. (lint.c). Kept apart from the
 * errors of validation: a runbook with warnings still runs, and `rune
 * validate --strict` makes them fail it.
 */
#ifndef RUNE_LINT_H
#define RUNE_LINT_H

#include <stddef.h>

#include "model.h"

struct rune_lint_rule {
    const char *id;      /* "write-without-rollback" */
    const char *summary; /* one line, for SARIF's rule list and docs */
};

/* Every rule, terminated by {NULL}. */
extern const struct rune_lint_rule rune_lint_rules[];

struct rune_lint {
    char *file;
    int line;
    int col;
    const char *rule; /* an id of rune_lint_rules */
    char *msg;
};

struct rune_lints {
    struct rune_lint *v;
    size_t n;
    size_t cap;
};

#define RUNE_LINTS_INIT                                                                            \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Adds every warning about rb (loaded and valid: types and deps filled)
 * to out, sorted by position. */
void rune_runbook_lint(const struct rune_runbook *rb, struct rune_lints *out);
void rune_lints_free(struct rune_lints *l);

#endif
