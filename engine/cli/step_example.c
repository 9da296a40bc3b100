/*
 * step_example.c — finding an example of a step type in the bundled
 * runbooks: the step's own lines, cut from the file as written (comments
 * and layout kept), so `rune steps TYPE` shows what a real runbook says.
 */
#include "step_example.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datadir.h"
#include "model.h"

/* The step's lines: from its first line, every following line indented
 * deeper than its "- " (or blank), trailing blank lines dropped. */
static char *step_lines(const char *text, int line, int col)
{
    const char *p = text;
    for (int l = 1; l < line && p; l++)
        if ((p = strchr(p, '\n')))
            p++;
    if (!p)
        return NULL;
    const char *start = p, *end = strchr(p, '\n');
    end = end ? end + 1 : p + strlen(p);
    int dash = col - 2; /* the "- " before the step's first key */
    for (const char *q = end; *q;) {
        const char *e = strchr(q, '\n');
        e = e ? e + 1 : q + strlen(q);
        int indent = 0;
        while (q[indent] == ' ')
            indent++;
        bool blank = q[indent] == '\n' || q[indent] == '\0';
        if (!blank && indent <= dash - 1)
            break;
        if (!blank)
            end = e;
        q = e;
    }
    /* drop the indentation the step has in its file */
    size_t cut = (size_t)(dash > 1 ? dash - 1 : 0);
    char *out = malloc((size_t)(end - start) + 1), *w = out;
    if (!out)
        return NULL;
    for (const char *q = start; q < end;) {
        const char *e = memchr(q, '\n', (size_t)(end - q));
        e = e ? e + 1 : end;
        size_t skip = 0;
        while (skip < cut && q + skip < e && q[skip] == ' ')
            skip++;
        memcpy(w, q + skip, (size_t)(e - q - (long)skip));
        w += e - q - (long)skip;
        q = e;
    }
    *w = '\0';
    return out;
}

static char *in_file(const char *path, const char *type, char *where, size_t len)
{
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_runbook *rb = rune_runbook_parse(path, &d);
    rune_diags_free(&d);
    char *out = NULL;
    for (int s = 0; rb && s < RUNE_NSTAGES && !out; s++)
        for (size_t i = 0; i < rb->stages[s].n && !out; i++) {
            const struct rune_stepdef *st = &rb->stages[s].steps[i];
            if (!st->uses || strcmp(st->uses, type) || !st->node)
                continue;
            out = step_lines(rb->text, st->node->mark.line, st->node->mark.col);
            snprintf(where, len, "%s:%d", path, st->node->mark.line);
        }
    rune_runbook_free(rb);
    return out;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *in_dir(const char *dir, const char *type, char *where, size_t len)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return NULL;
    char *names[256] = {0};
    size_t n = 0;
    for (struct dirent *e; (e = readdir(dp)) && n < 256;) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".yaml") && !strstr(e->d_name, ".test."))
            names[n++] = strdup(e->d_name);
    }
    closedir(dp);
    qsort(names, n, sizeof *names, by_name);
    char *out = NULL;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (!out && names[i])
            out = in_file(path, type, where, len);
        free(names[i]);
    }
    return out;
}

char *rune_step_example(const char *type, char *where, size_t len)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/runbooks", rune_datadir());
    char *out = in_dir(dir, type, where, len);
    if (!out) {
        snprintf(dir, sizeof dir, "%s/runbooks/examples", rune_datadir());
        out = in_dir(dir, type, where, len);
    }
    return out;
}
