/*
 * pathparam.h — the path parameters of steps, made absolute against the
 * directory the operator started rune in (rune_call_cwd), as the files
 * they name are then opened, reported and recorded.
 */
#ifndef RUNE_PATHPARAM_H
#define RUNE_PATHPARAM_H

#include "step.h"

/* `p` made absolute against `base` (when p is relative and base is set),
 * without empty or "." components and trailing slashes; ".." is kept as
 * written. Malloc'd; NULL when out of memory. */
char *rune_path_resolve(const char *base, const char *p);

/* rune_path_resolve(rune_call_cwd(c), p): a path parameter's value as an
 * absolute path. Malloc'd; NULL when p is NULL (or out of memory). */
char *rune_path_param(struct rune_call *c, const char *p);

#endif
