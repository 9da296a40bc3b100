/*
 * plan.h — dry-runs (see plan.c): what a dry-run cannot decide, and its
 * report.
 */
#ifndef RUNE_PLAN_H
#define RUNE_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "runstate.h"

/* Does the expression code read outputs of a step whose outputs are
 * unknown in this dry-run? Sets *which to the first such step id (storage
 * of ctx; with r->mu held). */
bool rune_plan_undecided(struct rune_run *r, const char *code, const char **which);

/* The plan of a finished dry-run r (new reference): stages → waves →
 * steps, estimates, the predicted outcome and exit code. */
json_t *rune_plan_build(struct rune_run *r, const char *outcome, int exit_code, const char *why);
/* For people. */
void rune_plan_print(json_t *plan, FILE *out);

#endif
