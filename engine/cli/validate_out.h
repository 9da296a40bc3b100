/*
 * validate_out.h — what `rune validate` found, per file, and how it is
 * printed: text for people, JSON for tools, SARIF 2.1.0 for code review
 * (GitHub code scanning, GitLab, reviewdog).
 */
#ifndef RUNE_VALIDATE_OUT_H
#define RUNE_VALIDATE_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "diag.h"
#include "lint.h"

enum rune_vformat { RUNE_VFORMAT_TEXT = 0, RUNE_VFORMAT_JSON, RUNE_VFORMAT_SARIF };

struct rune_vfile {
    char *path;
    bool valid;
    bool tests; /* a runbook's tests (NAME.test.yaml): steps counts scenarios */
    char *name; /* the runbook's name when valid (tests: the runbook's path) */
    size_t steps;
    struct rune_diags errors;
    struct rune_lints warnings;
};

/* "text", "json", "sarif" → *f; -1 for anything else. */
int rune_vformat_parse(const char *s, enum rune_vformat *f);
/* Prints every file's result; returns how many files fail (invalid, or
 * with warnings under strict). */
int rune_vfiles_print(struct rune_vfile *files, size_t n, enum rune_vformat f, bool quiet,
                      bool strict);
/* "file:line:col: warning: message [rule]" per warning. */
void rune_lints_print(const struct rune_lints *l, FILE *out);
void rune_vfile_free(struct rune_vfile *f);

#endif
