/*
 * run.h — executing a validated runbook end to end.
 */
#ifndef RUNE_RUN_H
#define RUNE_RUN_H

#include "model.h"
#include "runstate.h"

/* Runs rb: inputs and secrets resolved and checked first (nothing runs if
 * they are wrong), the lock taken, the incident recorded, the five stages
 * executed in order. Returns the exit code (exitcode.h). */
int rune_run_runbook(struct rune_runbook *rb, const struct rune_run_opts *o);

#endif
