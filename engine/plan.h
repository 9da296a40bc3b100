/*
 * plan.h — the report of a dry-run (see plan.c).
 */
#ifndef RUNE_PLAN_H
#define RUNE_PLAN_H

#include <jansson.h>
#include <stdio.h>

#include "runstate.h"

/* The plan of a finished dry-run r (new reference): stages → waves →
 * steps, estimates, the predicted outcome and exit code. */
json_t *rune_plan_build(struct rune_run *r, const char *outcome, int exit_code, const char *why);
/* For people. */
void rune_plan_print(json_t *plan, FILE *out);

#endif
