/*
 * diag.c — collecting and printing runbook diagnostics.
 */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        abort(); /* out of memory: nothing sensible to report to */
    return p;
}

void rune_diag_add(struct rune_diags *d, struct rune_mark m, const char *fmt, ...)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->v = realloc(d->v, d->cap * sizeof *d->v);
        if (!d->v)
            abort();
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    struct rune_diag *g = &d->v[d->n++];
    g->file = xstrdup(m.file);
    g->line = m.line;
    g->col = m.col;
    g->msg = xstrdup(buf);
}

static int cmp(const void *a, const void *b)
{
    const struct rune_diag *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return 0;
}

/* Stable sort: insertion order breaks ties, qsort is not stable. */
void rune_diags_print(struct rune_diags *d, FILE *out)
{
    for (size_t i = 1; i < d->n; i++) {
        struct rune_diag t = d->v[i];
        size_t j = i;
        while (j > 0 && cmp(&d->v[j - 1], &t) > 0) {
            d->v[j] = d->v[j - 1];
            j--;
        }
        d->v[j] = t;
    }
    for (size_t i = 0; i < d->n; i++) {
        const struct rune_diag *g = &d->v[i];
        if (g->line > 0)
            fprintf(out, "%s:%d:%d: error: %s\n", g->file, g->line, g->col, g->msg);
        else
            fprintf(out, "%s: error: %s\n", g->file, g->msg);
    }
}

void rune_diags_free(struct rune_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].msg);
    }
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}

const char *rune_mark_str(struct rune_mark m, char *buf, size_t len)
{
    if (m.line > 0)
        snprintf(buf, len, "%s:%d:%d", m.file ? m.file : "?", m.line, m.col);
    else
        snprintf(buf, len, "%s", m.file ? m.file : "?");
    return buf;
}
