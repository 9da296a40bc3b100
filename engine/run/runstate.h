/*
 * runstate.h — the state of one run, shared by run.c (the lifecycle),
 * sched.c (a stage's graph), call.c (one step attempt), approve.c and
 * run_expr.c (expressions over ctx). What they record goes through the
 * run's recorder (record.h), never through run.c.
 * Not part of the step API: step families never see it.
 */
#ifndef RUNE_RUNSTATE_H
#define RUNE_RUNSTATE_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "console.h"
#include "interp.h"
#include "journal.h"
#include "lock.h"
#include "lua.h"
#include "luacall.h"
#include "meter.h"
#include "model.h"
#include "record.h"
#include "redact.h"

struct rune_run_opts {
    int jobs; /* parallel steps per stage, >= 1 */
    bool yes; /* approve every confirmation */
    bool quiet;
    bool force; /* run mitigation even when incident_if is false */
    bool live;  /* redraw running steps (stdout is a terminal) */
    bool color;
    const char *log_path;      /* resolved incident log path, or a shared log's URL */
    const char *state_path;    /* the local log beside which work dirs and locks live */
    bool offline;              /* a shared log out of reach: record in state_path */
    const char *log_flag;      /* --log as given (NULL: default), for hints */
    const char *operator_name; /* who is running this */
    /* when the outage began (--detected-at, $RUNE_DETECTED_AT; at NULL:
     * not given), recorded in incident.start for the report */
    struct rune_detected detected;
    json_t *sets;            /* --set name → string (borrowed) */
    const char *reports_dir; /* where the run's Markdown report goes; NULL: none (--no-report) */
    /* dry-run (rune plan): writes are simulated, nothing is changed */
    bool dry_run;
    bool probe;            /* ... but steps that only read do run */
    bool json;             /* print the plan as JSON on stdout */
    json_t *fails;         /* --fail: step id → message (borrowed) */
    json_t *fail_attempts; /* --fail-attempts: step id → attempts that fail */
    /* step id → the outputs a planned step is taken to produce, before its
     * simulate: block (rune test's scenarios; borrowed, NULL: none). fails
     * and fail_attempts also apply to real runs, for rune test only. */
    json_t *simulate;
    bool keep_workdir; /* keep the run's work directory even when it resolves */
    /* how running steps' progress is shown (enum rune_progress_mode,
     * resolved: never AUTO) and how often a plain line or JSON object is
     * written per running step */
    int progress;
    long long progress_interval_ms;
    /* rune resume: the incident to continue, as read (borrowed) */
    const char *resume_id;
    json_t *resume_inc;
};

struct rune_run {
    struct rune_runbook *rb;
    const struct rune_run_opts *o;
    struct rune_journal *j;
    struct rune_console *con;
    struct rune_redactor red;
    /* what the run writes into the incident log (j, incident, &red, con) */
    struct rune_recorder rec;
    char incident[32];
    char cwd[PATH_MAX];
    char host[256];
    /* ${run.workdir}: the run's private directory (workdir.c); in a
     * dry-run only the path a run would get. workdir_made: it exists and
     * is still to be removed or kept. */
    char workdir[PATH_MAX];
    bool workdir_made;
    /* ctx: {inputs, secrets, steps: {id: {status, failed, outputs, error,
     * duration, attempts}}, incident: {id, severity, started_at}, targets,
     * runbook: {name, path, dir}, run: {workdir}} — what ${...} sees.
     * Guarded by mu. */
    json_t *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* a step finished (with mu) */
    pthread_mutex_t prompt; /* one operator prompt at a time */
    struct rune_lua *lua;   /* expressions the scheduler thread evaluates (with mu) */
    json_t *plan;           /* dry-run: what each step would do, in end order (with mu) */
    /* dry-run: steps whose running is undecided and which would fail if
     * they ran, [{step, on}] (`on`: the step whose unknown outputs decide),
     * with mu. Not empty: the predicted outcome is undecided. */
    json_t *undecided;
    long long expr_deadline_ms; /* when the expression being evaluated must stop */
    /* rune resume: what the log says already happened (resume.h); NULL
     * in any other run */
    struct rune_replay *replay;
    /* the runbook's lock and, resuming, the incident's (lock.h; NULL:
     * none): a step that writes checks them first (sched.c, call.c) */
    struct rune_lock *lock, *resume_lock;
    /* dry-run: when the simulation's batch of events was last committed
     * (stage thread only) */
    long long flushed_ms;
    /* the shared connections to ssh targets (ssh.h), made by the first
     * remote step (with mu), closed when the run ends; NULL until then */
    struct rune_ssh *ssh;
};

/* The evaluator for ${...} over r->ctx (call with mu held or before
 * threads); run_expr.c. */
struct rune_eval rune_run_evaluator(struct rune_run *r);
/* A condition or value node: true/false, P0-P3, a string with ${...}, or a
 * bare Lua expression. New reference, or NULL with "file:line: why". */
json_t *rune_run_eval_node(struct rune_run *r, const struct rune_node *n, char *err, size_t errlen);

/* Operator approval gate (approve.c). Records an `approval` event. */
bool rune_approve(struct rune_run *r, const char *stage, const char *step, const char *question);
/* Records `question` as approved by the step's own confirm: `covering`,
 * already answered, without asking again; true. */
bool rune_approve_covered(struct rune_run *r, const char *stage, const char *step,
                          const char *question, const char *covering);

/* Set by the SIGINT handler (run.c). */

/* The outcome of a stage's graph (sched.c). */
enum rune_stage_result {
    RUNE_STAGE_OK = 0,      /* every step ok, skipped, or failed under `continue` */
    RUNE_STAGE_ABORT,       /* a step failed under `abort` */
    RUNE_STAGE_ROLLBACK,    /* a step failed under `rollback` */
    RUNE_STAGE_DECLINED,    /* an approval was refused */
    RUNE_STAGE_INTERRUPTED, /* the operator pressed Ctrl-C */
};

/* Runs one stage's steps; *failed counts steps that ended failed. */
enum rune_stage_result rune_sched_stage(struct rune_run *r, enum rune_stage_id s, int *failed);

/* One attempt of a step (call.c): resolved params in, outputs out. */
struct rune_attempt {
    const struct rune_stepdef *st;
    json_t *params; /* borrowed */
    int attempt;
    long long deadline_ms;
    /* the step's confirm: question, approved before the first attempt
     * (borrowed; NULL without confirm:): it covers the primitive's own
     * questions, so one destructive action is approved once */
    const char *approved;
    /* where rune_call_progress goes (borrowed from the scheduler's slot;
     * NULL: nowhere) — rune.run calls inside the step report to it too */
    struct rune_meter *meter;
    /* results */
    int status;      /* enum rune_status */
    json_t *outputs; /* owned */
    char *error;     /* owned, redacted */
    char *tail;      /* owned, redacted */
    /* what the primitive declared (rune_call_artifact, _recovery_point):
     * [{path, sha256, bytes}] and an ISO time; owned, NULL when none */
    json_t *artifacts;
    char *recovery_point;
    /* the size of its work, from its type's size hook (work_known false:
     * no hook, or it could not tell) */
    bool work_known;
    long long work_size;
    enum rune_unit work_unit;
    /* dry-run */
    bool params_unknown; /* in: parameters need outputs a dry-run does not have */
    bool run_undecided;  /* in: whether the step runs at all is undecided */
    bool would_fail;     /* out: run undecided, and it would fail if it ran */
    bool simulated;      /* not run: planned */
    bool unknown;        /* outputs unknown (no simulate:, no history) */
    char *plan;          /* owned, redacted: what run would do */
    const char *source;  /* outputs from: run, simulate, history, unknown, injected */
};
void rune_attempt_run(struct rune_run *r, struct rune_attempt *a);

void rune_attempt_release(struct rune_attempt *a);

#endif
