/*
 * resume.h — continuing a run whose rune died (`rune resume ID`).
 *
 * The resumed run is the ordinary run (run.c, sched.c) over the same
 * incident, with a replay of what the log says happened: steps that ended
 * are not run again — their recorded outcome and outputs are published as
 * if they had just finished, and no event is written for them; stages
 * already started, ended or skipped are not recorded twice; the incident
 * decision and the severity are the recorded ones. A step that was
 * running when rune died gets a step.end `abandoned` for that attempt and
 * runs again as its next attempt (asked first unless it only reads or
 * computes or is idempotent). Policies, rollback, approvals and the lock
 * then work as in any run.
 */
#ifndef RUNE_RESUME_H
#define RUNE_RESUME_H

#include <jansson.h>
#include <stdbool.h>

#include "model.h"
#include "record.h"

struct rune_run;

/* What the log says of one step. */
struct rune_replay_step {
    const struct rune_stepdef *st;
    bool ended;                    /* finished for good: not run again */
    enum rune_event_status status; /* ended: ok, failed, timeout, declined, cancelled,
                                      skipped or not_run */
    json_t *outputs;               /* ended: its outputs (owned) */
    char *error;                   /* ended: its error (owned) */
    long long duration_ms;
    int last_attempt; /* the last attempt that started (0: none) */
    bool open;        /* that attempt has no end: it was running when rune died */
    int abandoned;    /* attempts that ended abandoned (rune died during them) */
};

struct rune_replay {
    struct rune_replay_step *steps; /* one per step of the runbook, in stage order */
    size_t n;
    bool stage_started[RUNE_NSTAGES], stage_ended[RUNE_NSTAGES], stage_skipped[RUNE_NSTAGES];
    int decision;     /* incident.decision: 1 incident, 0 not, -1 none recorded */
    char *severity;   /* recorded severity, or NULL */
    char *workdir;    /* incident.start's work directory, or NULL */
    char last_at[32]; /* the dead run's last event */
    long long dead_pid;
};

/* Reads the incident's events (inc as rune_journal_get gives it) against
 * rb. 0, or -1 with a message in err. */
int rune_replay_load(struct rune_replay *rp, const struct rune_runbook *rb, json_t *inc, char *err,
                     size_t errlen);
void rune_replay_free(struct rune_replay *rp);
/* The replay of step st, or NULL (not resuming). */
struct rune_replay_step *rune_replay_find(struct rune_replay *rp, const struct rune_stepdef *st);

/* Before anything runs again: asks about each step that was running when
 * rune died (unless it only reads, computes or is idempotent; --yes
 * approves), ends the dead run's children still alive (SIGTERM to each
 * process group, SIGKILL after 2 s; none may survive), and records
 * incident.resume and a step.end `abandoned` for each dead attempt.
 * Returns an exit code: 0 to go on. */
int rune_resume_begin(struct rune_run *r);

#endif
