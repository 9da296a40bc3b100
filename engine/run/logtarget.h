/*
 * logtarget.h — a run never acts on the database that holds its own
 * incident log (see logtarget.c).
 */
#ifndef RUNE_LOGTARGET_H
#define RUNE_LOGTARGET_H

#include "runstate.h"

/* RUNE_EXIT_OK, or RUNE_EXIT_INVALID (message printed) when a postgres
 * target of the runbook is the shared log's own database. Called once the
 * log is open, before the incident is recorded and before any step. */
int rune_logtarget_check(struct rune_run *r);

#endif
