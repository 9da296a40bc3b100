/*
 * progress.h — a running step's progress on the engine's side: the meter
 * its call writes (rune_call_progress → call.c), and the sparse samples
 * the stage's thread records from it into the incident log (progress.c).
 * Not part of the step API: step families see only rune_call_progress.
 */
#ifndef RUNE_PROGRESS_H
#define RUNE_PROGRESS_H

#include <stdbool.h>

#include "meter.h"
#include "runstate.h"

/* When the last sample was recorded, and when the next is due. */
struct rune_sample_state {
    unsigned gen;     /* the count it was of */
    long long rec_ms; /* monotonic ms; 0: none yet */
    double next_pct;  /* the percent at which the next is due */
    char phase[RUNE_METER_PHASE];
};

/* The rule, on its own so that it can be tested: a sample is due at each
 * 5% the count crosses, at least once a minute (from start_ms, the
 * attempt's start, until the first), and when the phase changes (at most
 * once a second); a new count (a new unit) starts the percents over.
 * Updates st when it says yes. */
bool rune_progress_due(struct rune_sample_state *st, const struct rune_meter_snap *s,
                       long long start_ms, long long now_ms);

/* One step slot's progress: owned by the scheduler's slot, from the
 * stage's start to its end. The record side is touched only with the
 * run's mu held. */
struct rune_progress {
    struct rune_meter meter;
    const char *stage, *step, *uses; /* borrowed from the runbook */
    int attempt;
    long long start_ms; /* the attempt's start (monotonic) */
    bool running;
    struct rune_sample_state st;
};

void rune_progress_init(struct rune_progress *p);
void rune_progress_free(struct rune_progress *p);
/* An attempt starts (its worker, before it runs): nothing reported yet. */
void rune_progress_start(struct rune_run *r, struct rune_progress *p, const char *stage,
                         const char *step, const char *uses, int attempt);
/* The stage's thread, now and then, with r->mu held: a sample into the
 * incident log when one is due. */
void rune_progress_tick(struct rune_run *r, struct rune_progress *p, long long now_ms);
/* The attempt has returned (its worker, before its end is recorded): the
 * last sample, marked final, if it reported anything. */
void rune_progress_finish(struct rune_run *r, struct rune_progress *p);

#endif
