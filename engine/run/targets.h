/*
 * targets.h — the targets a runbook declares (see targets.c).
 */
#ifndef RUNE_TARGETS_H
#define RUNE_TARGETS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "runstate.h"

/* Resolves every declaration into ctx.targets ({name, kind, fields...}),
 * once, before the lock and before any step: ${inputs.*} and ${secrets.*}
 * interpolated, fields checked against the kind's table. Problems are
 * added to d, at the runbook place of the field. */
void rune_targets_resolve(struct rune_run *r, struct rune_diags *d);

/* Target parameters (resolved) must name a declared target (one of
 * targets, ctx.targets) of the kind the type wants; false with err and
 * *bad (the parameter) when not. */
bool rune_targets_check(json_t *targets, const struct rune_step_type *type, json_t *params,
                        char *err, size_t errlen, const char **bad);

#endif
