/*
 * registry.h — every step type rune knows: the native families listed in
 * steps/registry.c (later also step types written in Lua).
 */
#ifndef RUNE_REGISTRY_H
#define RUNE_REGISTRY_H

#include <stddef.h>

#include "step.h"

const struct rune_step_type *rune_registry_find(const char *name);
/* All step types in a stable order (by name); *n set. The array is static. */
const struct rune_step_type *const *rune_registry_all(size_t *n);
/* Adds a step type defined at run time (Lua). The type must outlive the
 * process's use of the registry. Returns 0, or -1 when the name is taken.
 * Not thread-safe: call while loading, before steps run. */
int rune_registry_add(const struct rune_step_type *t);
const struct rune_param *rune_registry_param(const struct rune_step_type *t, const char *name);

/* Target kinds (steps/registry.c). NULL if unknown. */
const struct rune_target_kind *rune_registry_target_kind(const char *name);
/* "postgres, service" — every kind, for messages. */
const char *rune_registry_target_kinds(char *buf, size_t len);

#endif
