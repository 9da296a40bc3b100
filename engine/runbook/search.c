/*
 * search.c — the runbook search path.
 */
#include "search.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datadir.h"
#include "model.h"

#define MAXDIRS 32

static size_t dirs(char out[][4096], size_t max)
{
    size_t n = 0;
    snprintf(out[n++], 4096, "./runbooks");
    const char *env = getenv("RUNE_PATH");
    if (env && *env) {
        char *copy = strdup(env), *save = NULL;
        for (char *tok = strtok_r(copy, ":", &save); tok && n < max - 1;
             tok = strtok_r(NULL, ":", &save))
            snprintf(out[n++], 4096, "%s", tok);
        free(copy);
    }
    if (n < max)
        snprintf(out[n++], 4096, "%s/runbooks", rune_datadir());
    return n;
}

const char *rune_search_path_str(char *buf, size_t len)
{
    char d[MAXDIRS][4096];
    size_t n = dirs(d, MAXDIRS);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strncat(buf, i ? ":" : "", len - strlen(buf) - 1);
        strncat(buf, d[i], len - strlen(buf) - 1);
    }
    return buf;
}

static int is_yaml(const char *name)
{
    size_t l = strlen(name);
    return (l > 5 && !strcmp(name + l - 5, ".yaml")) || (l > 4 && !strcmp(name + l - 4, ".yml"));
}

/* NAME.test.yaml holds a runbook's tests (rune test), not a runbook. */
static int is_test(const char *name)
{
    size_t l = strlen(name);
    return (l > 10 && !strcmp(name + l - 10, ".test.yaml")) ||
           (l > 9 && !strcmp(name + l - 9, ".test.yml"));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Only regular files (or links to them) on the search path are runbooks:
 * anyone who can write a directory there could leave a FIFO named x.yaml,
 * and reading it would hang `rune list` and every search by name. The
 * loader refuses non-regular files too, should one be swapped in after this
 * check. */
static bool is_regular_in(DIR *dp, const char *name)
{
    struct stat st;
    return fstatat(dirfd(dp), name, &st, 0) == 0 && S_ISREG(st.st_mode);
}

static int each_in(const char *dir, rune_search_fn fn, void *ud)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return 0;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (!is_yaml(e->d_name) || is_test(e->d_name) || !is_regular_in(dp, e->d_name))
            continue;
        char **more = realloc(names, (n + 1) * sizeof *names);
        if (!more)
            abort();
        names = more;
        names[n++] = strdup(e->d_name);
    }
    closedir(dp);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    int stop = 0;
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (!stop)
            stop = fn(ud, path);
        free(names[i]);
    }
    free(names);
    return stop;
}

void rune_search_each(rune_search_fn fn, void *ud)
{
    char d[MAXDIRS][4096];
    size_t n = dirs(d, MAXDIRS);
    for (size_t i = 0; i < n; i++) {
        if (each_in(d[i], fn, ud))
            return;
        char ex[8192];
        snprintf(ex, sizeof ex, "%s/examples", d[i]);
        if (each_in(ex, fn, ud))
            return;
    }
}

/* An argument naming an existing file other than a directory is used as
 * given; the loader then refuses anything but a regular file, saying what
 * it is, where "no runbook file" would mislead. */
static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && !S_ISDIR(st.st_mode);
}

struct match {
    const char *want;
    char *out;
    size_t len;
    int found;
};

/* Matches a file by its base name, or by the `runbook:` name inside it. */
static int match(void *ud, const char *path)
{
    struct match *m = ud;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t wl = strlen(m->want);
    bool by_file =
        !strncmp(base, m->want, wl) && (!strcmp(base + wl, ".yaml") || !strcmp(base + wl, ".yml"));
    bool by_name = false;
    if (!by_file) {
        struct rune_diags d = RUNE_DIAGS_INIT;
        struct rune_runbook *rb = rune_runbook_parse(path, &d);
        by_name = rb && rb->name && !strcmp(rb->name, m->want);
        rune_runbook_free(rb);
        rune_diags_free(&d);
    }
    if (by_file || by_name) {
        snprintf(m->out, m->len, "%s", path);
        m->found = 1;
        return 1;
    }
    return 0;
}

int rune_search_resolve(const char *arg, char *out, size_t len, char *err, size_t errlen)
{
    if (is_file(arg)) {
        snprintf(out, len, "%s", arg);
        return 0;
    }
    if (strchr(arg, '/') || is_yaml(arg)) {
        snprintf(err, errlen, "no runbook file %s", arg);
        return -1;
    }
    struct match m = {arg, out, len, 0};
    rune_search_each(match, &m);
    if (m.found)
        return 0;
    char path[8192];
    snprintf(err, errlen,
             "no runbook named \"%s\" on the search path (%s); `rune list` shows "
             "what is there",
             arg, rune_search_path_str(path, sizeof path));
    return -1;
}
