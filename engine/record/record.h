/*
 * record.h — the incident record: what a run writes into the incident log,
 * in one place.
 *
 * The record layer owns the event kinds and statuses (one name table,
 * record_names.c), the one definition of "failed", one writer per event
 * kind (record.c) and the reader that turns stored events back into typed
 * structs (record_read.h). The run machinery (run.c, sched.c, call.c,
 * approve.c) calls the writers with plain values; `rune log`, `rune
 * report` and `rune plan` read through record_read.h. Nothing else builds
 * an event's detail or reads one by key. docs/architecture.md ("The
 * incident log") lists every kind with its detail.
 *
 * Below it sits the journal (journal.h: storage and the hash chain);
 * step families never see any of it (step.h's rune_call_* functions lead
 * here through call.c).
 */
#ifndef RUNE_RECORD_H
#define RUNE_RECORD_H

#include <jansson.h>
#include <stdbool.h>

#include "journal.h"
#include "step.h"

/* ---- Names: kinds and statuses (record_names.c) ---- */

enum rune_event_kind {
    RUNE_EV_UNKNOWN = 0, /* a kind this rune does not know (a newer log) */
    RUNE_EV_INCIDENT_START,
    RUNE_EV_STAGE_START,
    RUNE_EV_STAGE_END,
    RUNE_EV_STAGE_SKIP,
    RUNE_EV_STEP_START,
    RUNE_EV_STEP_END,
    RUNE_EV_STEP_SKIP,
    RUNE_EV_APPROVAL,
    RUNE_EV_NOTE,
    RUNE_EV_LOG,
    RUNE_EV_CALL_START,
    RUNE_EV_CALL_END,
    RUNE_EV_SEVERITY,
    RUNE_EV_INCIDENT_DECISION,
    RUNE_EV_INCIDENT_END,
    RUNE_EV_PROGRESS,
    RUNE_EV_INCIDENT_RESUME, /* rune resume took over an abandoned run */
    RUNE_EV_INCIDENT_NOTE,   /* rune log note: post-incident notes, after the end */
    RUNE_EV_NKINDS
};

/* Every status an event, a step in ${steps.<id>.status}, or an incident
 * may have. Which kinds use which: docs/architecture.md. */
enum rune_event_status {
    RUNE_ST_NONE = 0, /* no status (NULL in the log) */
    RUNE_ST_UNKNOWN,  /* a name this rune does not know (a newer log) */
    /* a step attempt or a rune.run call (step.end, call.end) */
    RUNE_ST_OK,
    RUNE_ST_FAILED,
    RUNE_ST_TIMEOUT,
    RUNE_ST_DECLINED,
    RUNE_ST_CANCELLED,
    RUNE_ST_UNDECIDED, /* dry-run: whether it runs depends on unknown outputs */
    /* steps and stages that did not run */
    RUNE_ST_SKIPPED,
    RUNE_ST_NOT_RUN,
    RUNE_ST_PENDING, /* ${steps.<id>.status} before the step's turn; never logged */
    /* stage.end */
    RUNE_ST_OK_WITH_FAILURES,
    RUNE_ST_ABORTED,
    RUNE_ST_ROLLBACK,
    RUNE_ST_INTERRUPTED,
    /* approval (and RUNE_ST_DECLINED) */
    RUNE_ST_APPROVED,
    /* incident.decision (and RUNE_ST_UNDECIDED) */
    RUNE_ST_INCIDENT,
    RUNE_ST_NO_INCIDENT,
    /* severity */
    RUNE_ST_P0,
    RUNE_ST_P1,
    RUNE_ST_P2,
    RUNE_ST_P3,
    /* incident.end: the outcome (and NO_INCIDENT, FAILED, ABORTED, UNDECIDED) */
    RUNE_ST_RESOLVED,
    RUNE_ST_ROLLED_BACK,
    /* step.end of an attempt whose rune died during it (written by rune
     * resume); a failure: it did not finish what it was asked */
    RUNE_ST_ABANDONED,
    RUNE_ST_NSTATUSES
};

/* "step.end" for RUNE_EV_STEP_END; NULL for RUNE_EV_UNKNOWN. */
const char *rune_event_kind_name(enum rune_event_kind k);
/* The kind called name; RUNE_EV_UNKNOWN when none is (or name is NULL). */
enum rune_event_kind rune_event_kind_parse(const char *name);
/* "ok" for RUNE_ST_OK; NULL for RUNE_ST_NONE and RUNE_ST_UNKNOWN. */
const char *rune_event_status_name(enum rune_event_status s);
/* The status called name: RUNE_ST_NONE for NULL, RUNE_ST_UNKNOWN when no
 * status has that name. */
enum rune_event_status rune_event_status_parse(const char *name);

/*
 * The one definition of "failed": a step attempt or rune.run call that did
 * not do what it was asked — failed, timeout, cancelled, declined (an
 * operator refused it: it did not run, and what depends on it must know),
 * and abandoned (its rune died during it; rune resume runs it again).
 * It is ${steps.<id>.failed}, the report's list of failures, and the
 * attempts `rune log show` prints the kept output of. Not failed: ok,
 * skipped, not_run, pending, undecided, and the stage and incident
 * statuses (an incident's outcome "failed" is its own thing, never asked
 * through this predicate).
 */
bool rune_event_status_failed(enum rune_event_status s);

/* What a primitive's run() returned (enum rune_status, step.h) as an
 * event status, and its name: "ok", "failed", "timeout", "declined",
 * "cancelled" (anything else is "failed"). */
enum rune_event_status rune_status_event(int step_status);
const char *rune_status_name(int step_status);

/* ---- Writing (record.c) ---- */

struct rune_console;
struct rune_redactor;

/* What the writers need of a run, and no more. */
struct rune_recorder {
    struct rune_journal *j;    /* where events go (borrowed) */
    const char *incident;      /* the incident id (borrowed: the run's buffer) */
    struct rune_redactor *red; /* every detail is masked again before it is stored */
    struct rune_console *con;  /* where a write that failed is warned about (NULL: stderr) */
    bool dry_run;              /* a dry-run records no artifacts */
};

/* The incident's row (rune_journal_begin): 0; 1 when the id is taken
 * (draw another, call again); -1 with rune_journal_error. */
int rune_record_begin(const struct rune_recorder *rec, const struct rune_incident_rec *row);

/* When the outage began, as the operator or an alerting tool said
 * (--detected-at, $RUNE_DETECTED_AT): the moment RTO, RPO and downtime
 * are measured from instead of rune's start. at NULL: not given. */
struct rune_detected {
    const char *at; /* ISO-8601 UTC, as rune_clock_iso writes it */
    const char *by; /* where it came from: "--detected-at", "$RUNE_DETECTED_AT" */
};

/* incident.start. workdir NULL: none (a dry-run makes none); detected
 * NULL or its at NULL: the outage's start was not given. */
void rune_record_incident_start(const struct rune_recorder *rec, const char *cwd, int jobs,
                                const char *operator_name, const char *workdir,
                                const struct rune_detected *detected);
/* incident.decision: incident_if's verdict (forced: --force), or, with
 * undecided_on set, a dry-run that could not decide (it plans as an
 * incident) because that step's outputs are unknown. */
void rune_record_decision(const struct rune_recorder *rec, bool incident, bool forced,
                          const char *undecided_on);
/* severity: the event, and the incident row's severity ("P0".."P3"). */
void rune_record_severity(const struct rune_recorder *rec, const char *severity);
/* incident.end, then the incident row's outcome, exit code and end time.
 * workdir_kept: 0/1, or -1 when there was none to keep (a dry-run). */
void rune_record_incident_end(const struct rune_recorder *rec, enum rune_event_status outcome,
                              const char *reason, int exit_code, int workdir_kept,
                              long long duration_ms);

void rune_record_stage_start(const struct rune_recorder *rec, const char *stage);
/* stage.end: ok, ok_with_failures, aborted, rollback, declined, interrupted. */
void rune_record_stage_end(const struct rune_recorder *rec, const char *stage,
                           enum rune_event_status status, long long duration_ms, int failed_steps);
void rune_record_stage_skip(const struct rune_recorder *rec, const char *stage, const char *reason);

/* step.start of an attempt. uses NULL: the step failed before it could
 * start (recorded without a detail). */
void rune_record_step_start(const struct rune_recorder *rec, const char *stage, const char *step,
                            int attempt, const char *uses, long long timeout_ms);

/* How a step attempt or a rune.run call ended. Strings and JSON are
 * borrowed; a NULL member is left out of the event. */
struct rune_attempt_end {
    const char *stage, *step;
    int attempt;
    enum rune_event_status status;
    long long duration_ms;
    /* the type: recorded in call.end; for both, whether the event must be
     * on disk before rune goes on (a type that writes; NULL counts as one) */
    const char *uses;
    int call; /* call.end: its number within the attempt */
    json_t *outputs;
    const char *error;
    const char *tail; /* "" is left out too */
    const char *plan; /* dry-run: what it would do */
    /* declared with rune_call_artifact / rune_call_recovery_point */
    json_t *artifacts; /* [{path, sha256, bytes}]; empty is left out */
    const char *recovery_point;
    /* dry-run step.end: simulated and outputs_source are recorded */
    bool dry;
    bool simulated;
    const char *outputs_source; /* run, simulate, history, unknown, injected */
    const char *undecided;      /* why whether it runs is undecided */
    /* the size of its work (its type's size hook): recorded as `work`
     * when work_uses is set, for the throughput `rune plan` estimates from */
    const char *work_uses;
    long long work_size;
    const char *work_unit;
};
/* A writing step's end is committed at once but left for what follows to
 * force to disk (record.c, durable()): the next writing step's start, or
 * rune_record_sync. */
void rune_record_step_end(const struct rune_recorder *rec, const struct rune_attempt_end *e);
/* Whether a step of type uses starts with a durable event (its start's
 * fsync then covers a step end still owed). */
bool rune_record_step_durable(const struct rune_recorder *rec, const char *uses);
/* Forces an owed step end to disk (nothing when none is owed). */
void rune_record_sync(const struct rune_recorder *rec);
void rune_record_call_end(const struct rune_recorder *rec, const struct rune_attempt_end *e);

/* step.skip: status RUNE_ST_SKIPPED (its when: was false) or RUNE_ST_NOT_RUN. */
void rune_record_step_skip(const struct rune_recorder *rec, const char *stage, const char *step,
                           enum rune_event_status status, const char *reason);
/* call.start: a rune.run call (number call within the attempt) with its
 * parameters. */
void rune_record_call_start(const struct rune_recorder *rec, const char *stage, const char *step,
                            int attempt, const char *uses, int call, json_t *params);

/* An operator's decision on a question (approval). covered_by: the step's
 * confirm: question that approved it already (NULL: asked itself). */
struct rune_approval {
    const char *question;
    const char *who;
    const char *how; /* --yes, terminal, no-terminal, dry-run, step confirm */
    const char *at;  /* when it was decided (ISO-8601 UTC) */
    bool approved;
    const char *covered_by;
};
void rune_record_approval(const struct rune_recorder *rec, const char *stage, const char *step,
                          const struct rune_approval *a);

/* note (rune_call_note) and log (rune_call_log) of an attempt. */
void rune_record_note(const struct rune_recorder *rec, const char *stage, const char *step,
                      int attempt, const char *text);
void rune_record_log(const struct rune_recorder *rec, const char *stage, const char *step,
                     int attempt, const char *message);

/* progress: how far a step attempt was at one moment (the engine's
 * sample of what it reported with rune_call_progress). */
struct rune_progress_sample {
    const char *uses;     /* the step's type */
    long long done;       /* in unit */
    long long total;      /* < 0: not known */
    const char *unit;     /* "bytes", "rows", ... */
    const char *phase;    /* NULL: none */
    long long elapsed_ms; /* since the attempt started */
    long long rate;       /* units per second since its first report; < 0: not known */
    bool final;           /* the last, taken when the attempt returned */
};
void rune_record_progress(const struct rune_recorder *rec, const char *stage, const char *step,
                          int attempt, const struct rune_progress_sample *s);

/* Adds a file a call declared it made (rune_call_artifact) to *list
 * (made on first use; the caller owns it and passes it on as a
 * rune_attempt_end's artifacts). 0, or -1 (no path, no memory). */
int rune_record_declare_artifact(json_t **list, const char *path, const char *sha256,
                                 long long bytes);

/* The files a step (or a rune.run call of type t inside it) made, into
 * the log's artifacts: those it declared with rune_call_artifact
 * (declared: [{path, sha256, bytes}]), or, for a step not yet converted,
 * what its outputs say by the old convention. Call once it succeeded; a
 * dry-run records none. */
void rune_record_artifacts(const struct rune_recorder *rec, const char *step,
                           const struct rune_step_type *t, json_t *declared, json_t *outputs);

/* incident.resume: `rune resume` took over an abandoned run — who, the
 * rune that now runs it, when the dead one's last event was and how long
 * the gap was, the children it ended and the steps it runs again.
 * Borrowed; durable. */
struct rune_resume_rec {
    const char *who;
    long long pid;
    const char *host;
    const char *after;     /* the dead run's last event (ISO time) */
    long long gap_ms;      /* from then until now */
    long long dead_pid;    /* the rune that died */
    json_t *orphans_ended; /* [{step, pid, program}] */
    json_t *rerun;         /* [step ids] */
};
void rune_record_resume(const struct rune_recorder *rec, const struct rune_resume_rec *r);

/* incident.note: what people learned after the incident (rune log note),
 * chained after its end like every event, so `rune log verify` proves
 * the notes too. note: {root_cause, contributing, impact, text (strings),
 * participants: [names], actions: [{text, owner, due, status}]}, each
 * member optional (borrowed); who: its author. A later note supersedes
 * the members it gives (an action by its text); the earlier ones stay
 * in the chain. Returns the event's seq, or -1 with a message in err. */
long long rune_record_postmortem(struct rune_journal *j, const char *incident_id, const char *who,
                                 json_t *note, char *err, size_t errlen);

/* ---- Is an unfinished incident still running? (record_runner.c) ---- */

enum rune_run_state {
    RUNE_RUN_ENDED = 0, /* an outcome is recorded */
    RUNE_RUN_RUNNING,   /* no outcome; its rune is alive on this host */
    RUNE_RUN_ABANDONED, /* no outcome; it ran on this host and its rune is gone */
    RUNE_RUN_UNKNOWN,   /* no outcome; no rune recorded (an older log) or another host */
};

/* The state of incident inc (a row as rune_journal_get/find give it), its
 * runner in *runner when one is recorded (may be NULL). */
enum rune_run_state rune_record_run_state(struct rune_journal *j, json_t *inc,
                                          struct rune_runner *runner);
/* "ended", "running", "abandoned", "unfinished". */
const char *rune_run_state_name(enum rune_run_state s);
/* The children an abandoned run left that are still alive: its recorded
 * children not marked ended whose process group still has members, as
 * [{step, attempt, pid, program, alive: [pids]}]. Caller owns it; NULL on
 * error. */
json_t *rune_record_orphans(struct rune_journal *j, const char *incident_id);

#endif
