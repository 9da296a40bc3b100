/*
 * search.h — finding runbooks by name. The search path is ./runbooks,
 * then each directory of $RUNE_PATH (colon-separated), then the bundled
 * runbooks (rune_datadir(): the source tree for a build-tree binary, the
 * share directory beside an installed one); each directory's examples/ subdirectory is searched
 * too. A RUNBOOK argument that names an existing file is used as is.
 */
#ifndef RUNE_SEARCH_H
#define RUNE_SEARCH_H

#include <stddef.h>

/* Calls fn for every *.yaml / *.yml file on the search path (sorted per
 * directory); stops early when fn returns non-zero. */
typedef int (*rune_search_fn)(void *ud, const char *path);
void rune_search_each(rune_search_fn fn, void *ud);

/* RUNBOOK (a path or a name) to a file path. Returns 0, or -1 with a
 * message for the operator in err. */
int rune_search_resolve(const char *arg, char *out, size_t len, char *err, size_t errlen);

/* The search path as text, for messages ("./runbooks:/usr/share/rune/runbooks"). */
const char *rune_search_path_str(char *buf, size_t len);

#endif
