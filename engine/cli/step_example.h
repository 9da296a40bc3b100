/*
 * step_example.h — an example of a step type from a real bundled runbook
 * (step_example.c), for `rune steps TYPE`: bundled runbooks are validated
 * and tested by the suite, so the example is known to work.
 */
#ifndef RUNE_STEP_EXAMPLE_H
#define RUNE_STEP_EXAMPLE_H

#include <stddef.h>

/* The first step using type in the bundled runbooks (runbooks/, then
 * runbooks/examples/, in name order), as its lines of YAML (malloc'd),
 * with where it is in where ("runbooks/sqlite-restore.yaml:58"); NULL
 * when no bundled runbook uses it. */
char *rune_step_example(const char *type, char *where, size_t len);

#endif
