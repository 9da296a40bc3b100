/*
 * record_read.h — reading the incident record back: stored events and
 * artifact rows decoded into typed structs, for `rune log` (cmd_log.c),
 * `rune report` (report.c) and `rune plan` (plan.c, call.c's history).
 *
 * The decoder knows every detail member the writers (record.c) put in any
 * event, and the conventions of logs written before them; nothing else
 * reads an event by key. It never fails: what is absent, or of another
 * type than this rune writes, is left empty, and a kind or status this
 * rune does not know is kept by name (a log written by a newer rune).
 */
#ifndef RUNE_RECORD_READ_H
#define RUNE_RECORD_READ_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "journal.h"
#include "record.h"

/* An integer member that is absent (or not an integer). */
#define RUNE_REC_NONE LLONG_MIN

/* One event. Strings and JSON are borrowed from the event object given to
 * rune_record_decode and live as long as it does. */
struct rune_rec_event {
    long long seq;
    const char *at;
    const char *stage, *step; /* NULL for run-level / stage-level events */
    long long attempt;
    enum rune_event_kind kind;
    const char *kind_name; /* as stored */
    enum rune_event_status status;
    const char *status_name; /* as stored; NULL when none */
    long long duration_ms;
    json_t *detail; /* the whole detail, or NULL */

    /* The detail's members, whatever the kind (the kinds that write each
     * are named; `rune log show` reads them from any event). */
    const char *uses;      /* step.start, call.start, call.end */
    long long timeout_ms;  /* step.start */
    long long call;        /* call.start, call.end: the call's number */
    json_t *params;        /* call.start */
    json_t *outputs;       /* step.end, call.end */
    const char *error;     /* step.end, call.end */
    const char *tail;      /* step.end, call.end: what a child printed last */
    const char *plan;      /* step.end, call.end in a dry-run */
    const char *undecided; /* step.end in a dry-run; incident.decision: the step */
    const char *outputs_source;
    bool simulated;             /* step.end in a dry-run: planned, not run */
    json_t *artifacts;          /* step.end, call.end: declared files [{path, sha256, bytes}] */
    const char *recovery_point; /* step.end, call.end: as declared (see below) */
    const char *reason;         /* stage.skip, step.skip; incident.end */
    long long failed_steps;     /* stage.end */
    const char *question, *who, *how, *covered_by; /* approval */
    const char *decided_at;                        /* approval: its `at` */
    int approved;                                  /* approval: 1, 0, -1 when not a boolean */
    const char *text;                              /* note, incident.note */
    /* incident.note (who: its author) */
    const char *root_cause, *contributing, *impact;
    json_t *actions, *participants;
    const char *message;                                      /* log */
    const char *rune_version, *cwd, *operator_name, *workdir; /* incident.start */
    long long jobs;                                           /* incident.start */
    const char *detected_at, *detected_by; /* incident.start: when the outage began */
    int incident, forced;                  /* incident.decision: 1, 0, -1 when absent */
    const char *severity;                  /* severity */
    const char *outcome;                   /* incident.end */
    long long exit_code;                   /* incident.end */
    int workdir_kept;                      /* incident.end: 1, 0, -1 when absent */
    /* progress: how far the attempt was (record.h, rune_progress_sample) */
    long long done, total; /* total RUNE_REC_NONE when not known */
    const char *unit, *phase;
    long long elapsed_ms, rate;
    bool final;
    /* step.end, call.end: the size of the work, from its type's size hook */
    const char *work_uses, *work_unit;
    long long work_size;
    /* incident.resume: who (above), after (the dead run's last event),
     * the gap until the resume, the pids, what it ended and re-ran */
    const char *after;
    long long gap_ms, pid, dead_pid;
    json_t *orphans_ended, *rerun;
    /* a detail too large to keep whole was replaced by what is left of it */
    bool truncated;
    long long original_bytes;
    const char *head;
};

/* Decodes one event object (a member of rune_journal_get's `events`). */
void rune_record_decode(json_t *event, struct rune_rec_event *e);

/* The recovery point the event reports: the one its step declared
 * (rune_call_recovery_point), else, in logs and steps from before that
 * call, an output named recovery_point. NULL when none. */
const char *rune_record_recovery_point(const struct rune_rec_event *e);

/* A file the run made. Strings borrowed. */
struct rune_rec_artifact {
    const char *step; /* NULL in a file an event names (the event has it) */
    const char *path;
    const char *sha256; /* NULL when not known */
    long long bytes;    /* RUNE_REC_NONE when not known */
    const char *kind;   /* the step type that made it; NULL in an event's */
};
/* A row of rune_journal_get's `artifacts` (the log's artifacts table). */
void rune_record_artifact_decode(json_t *row, struct rune_rec_artifact *a);
/* The i-th file an event says its step made: those it declared
 * (rune_call_artifact), else, in logs and steps from before that call,
 * the one its outputs name by path and sha256 (i == 0 only). false when
 * there is no i-th. */
bool rune_record_event_artifact(const struct rune_rec_event *e, size_t i,
                                struct rune_rec_artifact *a);

/* ---- History, for dry-runs ---- */

/* The outputs of the last successful real run of a runbook's step (new
 * reference), NULL if there is none. */
json_t *rune_record_last_outputs(struct rune_journal *j, const char *runbook, const char *step);
/* Up to max durations (ms) of a step's successful real runs, newest
 * first, into out; returns how many. */
size_t rune_record_durations(struct rune_journal *j, const char *runbook, const char *step,
                             long long *out, size_t max);
/* What earlier successful real runs of step type `uses` on `host` did:
 * the size of their work (in `unit`) and how long they took, newest
 * first, from any runbook (steps and rune.run calls alike). Returns how
 * many went into size[] and ms[] (at most max). */
size_t rune_record_work(struct rune_journal *j, const char *uses, const char *host,
                        const char *unit, long long *size, long long *ms, size_t max);

#endif
