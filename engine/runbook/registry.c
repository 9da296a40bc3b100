/*
 * registry.c — lookup over every step type: the native families, built
 * once from rune_native_families (steps/registry.c), plus the step types
 * written in Lua that luatype.c adds while a runbook is loaded.
 */
#include "registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TYPES 512

static const struct rune_step_type *all[MAX_TYPES];
static size_t nall;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int by_name(const void *a, const void *b)
{
    const struct rune_step_type *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static void build(void)
{
    for (size_t f = 0; rune_native_families[f]; f++)
        for (const struct rune_step_type *t = rune_native_families[f]; t->name; t++)
            if (nall < MAX_TYPES)
                all[nall++] = t;
    qsort(all, nall, sizeof all[0], by_name);
}

const struct rune_step_type *const *rune_registry_all(size_t *n)
{
    pthread_once(&once, build);
    *n = nall;
    return all;
}

int rune_registry_add(const struct rune_step_type *t)
{
    pthread_once(&once, build);
    if (rune_registry_find(t->name) || nall >= MAX_TYPES)
        return -1;
    all[nall++] = t;
    qsort(all, nall, sizeof all[0], by_name);
    return 0;
}

/* The table is kept sorted by name (build, rune_registry_add): a binary
 * search. Every event a run records asks its step's type (record.c: does
 * it write?), two thousand times in a 1,000-step plan. */
const struct rune_step_type *rune_registry_find(const char *name)
{
    size_t n;
    const struct rune_step_type *const *v = rune_registry_all(&n);
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid]->name, name);
        if (c == 0)
            return v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct rune_param *rune_registry_param(const struct rune_step_type *t, const char *name)
{
    for (const struct rune_param *p = t->params; p && p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

const struct rune_target_kind *rune_registry_target_kind(const char *name)
{
    for (size_t i = 0; rune_native_target_kinds[i]; i++)
        if (strcmp(rune_native_target_kinds[i]->name, name) == 0)
            return rune_native_target_kinds[i];
    return NULL;
}

const char *rune_registry_target_kinds(char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; rune_native_target_kinds[i] && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "",
                               rune_native_target_kinds[i]->name);
    return buf;
}
