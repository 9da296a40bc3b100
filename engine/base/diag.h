/*
 * diag.h — diagnostics: errors about a runbook, each with the place it
 * comes from (file:line:col, 1-based) and what was expected.
 *
 * Loading and validation collect every problem into a rune_diags list
 * rather than stopping at the first, so an author fixes them in one pass.
 */
#ifndef RUNE_DIAG_H
#define RUNE_DIAG_H

#include <stddef.h>
#include <stdio.h>

/* A place in a runbook. line 0 means "the file as a whole". The file
 * string is owned by the runbook (or is static); marks only borrow it. */
struct rune_mark {
    const char *file;
    int line;
    int col;
};

struct rune_diag {
    char *file;
    int line;
    int col;
    char *msg;
};

struct rune_diags {
    struct rune_diag *v;
    size_t n;
    size_t cap;
};

#define RUNE_DIAGS_INIT                                                                            \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void rune_diag_add(struct rune_diags *d, struct rune_mark m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sorts by file, line, column (stable) and prints "file:line:col: error: msg". */
void rune_diags_print(struct rune_diags *d, FILE *out);
void rune_diags_free(struct rune_diags *d);

/* Formats a mark as "file:line:col" (or "file" when line is 0) into buf. */
const char *rune_mark_str(struct rune_mark m, char *buf, size_t len);

#endif
