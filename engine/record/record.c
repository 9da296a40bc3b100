/*
 * record.c — the writers: one function per event kind, each building its
 * kind's detail and nothing else. docs/architecture.md ("Event kinds")
 * lists what each detail holds; this file is where that is true.
 *
 * Every event goes through emit(): the detail is masked with the run's
 * redactor (a second door after call.c's, so a secret registered late or
 * a value the run itself put in a detail never reaches the log), and a
 * write that fails is a warning on the console — the run goes on.
 *
 * It does not decide anything about the run: callers pass values, and the
 * names come from record_names.c.
 */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>

#include "console.h"
#include "redact.h"
#include "registry.h"

#ifndef RUNE_VERSION
#define RUNE_VERSION "unknown"
#endif

/* A warning the operator sees ("could not record <what> <name> in the
 * incident log: why"); the run does not stop for the log. */
static void warn(const struct rune_recorder *rec, const char *what, const char *name)
{
    const char *why = rune_journal_error(rec->j);
    if (rec->con)
        rune_console_alert(rec->con, "warning: could not record %s %s in the incident log: %s",
                           what, name, why);
    else
        fprintf(stderr, "rune: warning: could not record %s %s in the incident log: %s\n", what,
                name, why);
}

/* Does a step of type `uses` change the world? Unknown (inline Lua, a
 * type this rune does not have) counts as yes. */
static bool writes(const char *uses)
{
    const struct rune_step_type *t = uses ? rune_registry_find(uses) : NULL;
    return !t || t->effect == RUNE_WRITES;
}

/*
 * Group commit: which events must be on disk before rune goes on. The
 * start and end of a step (or rune.run call) whose type writes, because a
 * resumed run must know whether it ran (docs/resume: an unfinished one is
 * asked about, a finished one is not run again); an operator's decision;
 * the incident's start and end. The events of steps that only read or
 * compute ride on the next of these fsyncs (a killed rune loses none of
 * them: they are committed; only a power cut can). A simulation forces
 * nothing to disk.
 *
 * A writing step's end is `owed` (owed()), not durable: it must be on
 * disk before rune does anything else, and what rune does next is most
 * often start the next writing step, whose durable start's fsync covers
 * it. The scheduler forces it itself (rune_record_sync) whenever that is
 * not what comes next: one fsync between two writing steps, not two.
 * The incident's start is owed the same way (no step runs before it is on
 * disk: the first one's start, or the scheduler, forces it), and so is
 * its end: the incident's row, closed at once (rune_journal_end), is
 * forced with everything before it.
 */
static bool durable(const struct rune_recorder *rec, enum rune_event_kind kind, const char *uses)
{
    if (rec->dry_run)
        return false;
    switch (kind) {
    case RUNE_EV_APPROVAL:
        return true;
    case RUNE_EV_STEP_START:
    case RUNE_EV_CALL_START:
    case RUNE_EV_CALL_END:
        return writes(uses);
    default:
        return false;
    }
}

/* A writing step's end, the incident's start and end: forced to disk by
 * what follows (see durable()). */
static bool owed(const struct rune_recorder *rec, enum rune_event_kind kind, const char *uses)
{
    if (rec->dry_run)
        return false;
    return kind == RUNE_EV_INCIDENT_START || kind == RUNE_EV_INCIDENT_RESUME ||
           kind == RUNE_EV_INCIDENT_END || (kind == RUNE_EV_STEP_END && writes(uses));
}

bool rune_record_step_durable(const struct rune_recorder *rec, const char *uses)
{
    return durable(rec, RUNE_EV_STEP_START, uses);
}

void rune_record_sync(const struct rune_recorder *rec)
{
    if (rune_journal_sync(rec->j) != 0)
        warn(rec, "the end of", "a step");
}

/* The one door into the journal for events. detail is borrowed; uses is
 * the step type, for steps and calls (durable()). */
static void emit_as(const struct rune_recorder *rec, const char *stage, const char *step,
                    int attempt, enum rune_event_kind kind, enum rune_event_status status,
                    long long duration_ms, json_t *detail, const char *uses)
{
    json_t *masked = detail ? rune_redact_json(rec->red, detail) : NULL;
    const char *name = rune_event_kind_name(kind);
    struct rune_event ev = {stage,
                            step,
                            attempt,
                            name,
                            rune_event_status_name(status),
                            duration_ms,
                            masked,
                            durable(rec, kind, uses),
                            owed(rec, kind, uses)};
    if (rune_journal_event(rec->j, rec->incident, &ev) < 0)
        warn(rec, name, "event");
    json_decref(masked);
}

static void emit(const struct rune_recorder *rec, const char *stage, const char *step, int attempt,
                 enum rune_event_kind kind, enum rune_event_status status, long long duration_ms,
                 json_t *detail)
{
    emit_as(rec, stage, step, attempt, kind, status, duration_ms, detail, NULL);
}

/* emit, then drop the detail built for it (owned). */
static void emit_new(const struct rune_recorder *rec, const char *stage, const char *step,
                     int attempt, enum rune_event_kind kind, enum rune_event_status status,
                     long long duration_ms, json_t *detail)
{
    emit(rec, stage, step, attempt, kind, status, duration_ms, detail);
    json_decref(detail);
}

/* emit_new of a step's or call's event, whose type says how durable. */
static void emit_step(const struct rune_recorder *rec, const char *stage, const char *step,
                      int attempt, enum rune_event_kind kind, enum rune_event_status status,
                      long long duration_ms, json_t *detail, const char *uses)
{
    emit_as(rec, stage, step, attempt, kind, status, duration_ms, detail, uses);
    json_decref(detail);
}

/* Sets o[key] to a string when s is one (not NULL). */
static void put_str(json_t *o, const char *key, const char *s)
{
    if (s)
        json_object_set_new(o, key, json_string(s));
}

/* ---- The incident ---- */

int rune_record_begin(const struct rune_recorder *rec, const struct rune_incident_rec *row)
{
    return rune_journal_begin(rec->j, row);
}

void rune_record_incident_start(const struct rune_recorder *rec, const char *cwd, int jobs,
                                const char *operator_name, const char *workdir,
                                const struct rune_detected *detected)
{
    json_t *d = json_pack("{s:s, s:s, s:i, s:s}", "rune_version", RUNE_VERSION, "cwd", cwd, "jobs",
                          jobs, "operator", operator_name);
    put_str(d, "workdir", workdir);
    /* chained with the start, so the moment every figure runs from cannot
     * be moved afterwards without breaking the chain */
    if (detected && detected->at) {
        put_str(d, "detected_at", detected->at);
        put_str(d, "detected_by", detected->by);
    }
    emit_new(rec, NULL, NULL, 0, RUNE_EV_INCIDENT_START, RUNE_ST_NONE, -1, d);
}

void rune_record_decision(const struct rune_recorder *rec, bool incident, bool forced,
                          const char *undecided_on)
{
    if (undecided_on)
        emit_new(rec, "detection", NULL, 0, RUNE_EV_INCIDENT_DECISION, RUNE_ST_UNDECIDED, -1,
                 json_pack("{s:b, s:s}", "incident", 1, "undecided", undecided_on));
    else
        emit_new(rec, "detection", NULL, 0, RUNE_EV_INCIDENT_DECISION,
                 incident ? RUNE_ST_INCIDENT : RUNE_ST_NO_INCIDENT, -1,
                 json_pack("{s:b, s:b}", "incident", incident, "forced", forced));
}

void rune_record_severity(const struct rune_recorder *rec, const char *severity)
{
    if (rune_journal_set_severity(rec->j, rec->incident, severity) != 0)
        warn(rec, "severity", severity);
    emit_new(rec, "impact", NULL, 0, RUNE_EV_SEVERITY, rune_event_status_parse(severity), -1,
             json_pack("{s:s}", "severity", severity));
}

void rune_record_incident_end(const struct rune_recorder *rec, enum rune_event_status outcome,
                              const char *reason, int exit_code, int workdir_kept,
                              long long duration_ms)
{
    const char *name = rune_event_status_name(outcome);
    json_t *d =
        json_pack("{s:s, s:s, s:i}", "outcome", name, "reason", reason, "exit_code", exit_code);
    if (workdir_kept >= 0)
        json_object_set_new(d, "workdir_kept", json_boolean(workdir_kept));
    emit_new(rec, NULL, NULL, 0, RUNE_EV_INCIDENT_END, outcome, duration_ms, d);
    if (rune_journal_end(rec->j, rec->incident, name, exit_code, rune_clock_wall_ms()) != 0)
        warn(rec, "the end of incident", rec->incident);
}

long long rune_record_postmortem(struct rune_journal *j, const char *incident_id, const char *who,
                                 json_t *note, char *err, size_t errlen)
{
    json_t *d = json_deep_copy(note);
    long long seq = -1;

    if (!d || json_object_set_new(d, "who", json_string(who)) != 0) {
        snprintf(err, errlen, "no memory for the note on incident %s: free memory on this host",
                 incident_id);
        goto out;
    }
    struct rune_event ev = {NULL, NULL, 0, rune_event_kind_name(RUNE_EV_INCIDENT_NOTE),
                            NULL, -1,   d, true};
    seq = rune_journal_event(j, incident_id, &ev);
    if (seq < 0)
        snprintf(err, errlen, "%s", rune_journal_error(j));
out:
    json_decref(d);
    return seq;
}

void rune_record_resume(const struct rune_recorder *rec, const struct rune_resume_rec *r)
{
    json_t *d = json_pack("{s:s, s:I, s:s, s:s?, s:I, s:I, s:O, s:O}", "who", r->who, "pid",
                          (json_int_t)r->pid, "host", r->host, "after", r->after, "gap_ms",
                          (json_int_t)r->gap_ms, "dead_pid", (json_int_t)r->dead_pid,
                          "orphans_ended", r->orphans_ended, "rerun", r->rerun);
    emit_as(rec, NULL, NULL, 0, RUNE_EV_INCIDENT_RESUME, RUNE_ST_NONE, -1, d, NULL);
    json_decref(d);
}

/* ---- Stages ---- */

void rune_record_stage_start(const struct rune_recorder *rec, const char *stage)
{
    emit(rec, stage, NULL, 0, RUNE_EV_STAGE_START, RUNE_ST_NONE, -1, NULL);
}

void rune_record_stage_end(const struct rune_recorder *rec, const char *stage,
                           enum rune_event_status status, long long duration_ms, int failed_steps)
{
    emit_new(rec, stage, NULL, 0, RUNE_EV_STAGE_END, status, duration_ms,
             json_pack("{s:i}", "failed_steps", failed_steps));
}

void rune_record_stage_skip(const struct rune_recorder *rec, const char *stage, const char *reason)
{
    emit_new(rec, stage, NULL, 0, RUNE_EV_STAGE_SKIP, RUNE_ST_SKIPPED, -1,
             json_pack("{s:s}", "reason", reason));
}

/* ---- Steps and the calls inside them ---- */

void rune_record_step_start(const struct rune_recorder *rec, const char *stage, const char *step,
                            int attempt, const char *uses, long long timeout_ms)
{
    json_t *d =
        uses ? json_pack("{s:s, s:I}", "uses", uses, "timeout_ms", (json_int_t)timeout_ms) : NULL;
    /* uses NULL: failed before it could start, nothing ran */
    if (uses)
        emit_step(rec, stage, step, attempt, RUNE_EV_STEP_START, RUNE_ST_NONE, -1, d, uses);
    else
        emit_new(rec, stage, step, attempt, RUNE_EV_STEP_START, RUNE_ST_NONE, -1, d);
}

/* o[key] = s, or null: a member every event of its kind has. */
static void put_str_or_null(json_t *o, const char *key, const char *s)
{
    json_object_set_new(o, key, s ? json_string(s) : json_null());
}

/* The detail step.end and call.end share. An attempt that ran (it has
 * outputs) always records error and tail, null when there is none; one
 * that never started (declined first, failed before it could start) only
 * its error. */
static json_t *end_detail(const struct rune_attempt_end *e)
{
    json_t *d = json_object();
    if (e->outputs) {
        json_object_set(d, "outputs", e->outputs);
        put_str_or_null(d, "error", e->error);
        put_str_or_null(d, "tail", e->tail && *e->tail ? e->tail : NULL);
    } else {
        put_str(d, "error", e->error);
    }
    put_str(d, "plan", e->plan);
    if (json_array_size(e->artifacts))
        json_object_set(d, "artifacts", e->artifacts);
    put_str(d, "recovery_point", e->recovery_point);
    if (e->dry) {
        json_object_set_new(d, "simulated", json_boolean(e->simulated));
        put_str(d, "outputs_source", e->outputs_source ? e->outputs_source : "run");
    }
    put_str(d, "undecided", e->undecided);
    if (e->work_uses && e->work_size >= 0)
        json_object_set_new(d, "work",
                            json_pack("{s:s, s:I, s:s}", "uses", e->work_uses, "size",
                                      (json_int_t)e->work_size, "unit",
                                      e->work_unit ? e->work_unit : "bytes"));
    return d;
}

void rune_record_step_end(const struct rune_recorder *rec, const struct rune_attempt_end *e)
{
    emit_step(rec, e->stage, e->step, e->attempt, RUNE_EV_STEP_END, e->status, e->duration_ms,
              end_detail(e), e->uses);
}

void rune_record_call_end(const struct rune_recorder *rec, const struct rune_attempt_end *e)
{
    json_t *d = end_detail(e);
    put_str(d, "uses", e->uses);
    json_object_set_new(d, "call", json_integer(e->call));
    put_str_or_null(d, "plan", e->plan);
    emit_step(rec, e->stage, e->step, e->attempt, RUNE_EV_CALL_END, e->status, e->duration_ms, d,
              e->uses);
}

void rune_record_step_skip(const struct rune_recorder *rec, const char *stage, const char *step,
                           enum rune_event_status status, const char *reason)
{
    emit_new(rec, stage, step, 0, RUNE_EV_STEP_SKIP, status, -1,
             json_pack("{s:s}", "reason", reason));
}

void rune_record_call_start(const struct rune_recorder *rec, const char *stage, const char *step,
                            int attempt, const char *uses, int call, json_t *params)
{
    emit_step(rec, stage, step, attempt, RUNE_EV_CALL_START, RUNE_ST_NONE, -1,
              json_pack("{s:s, s:i, s:O}", "uses", uses, "call", call, "params", params), uses);
}

void rune_record_approval(const struct rune_recorder *rec, const char *stage, const char *step,
                          const struct rune_approval *a)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:b}", "question", a->question, "who", a->who,
                          "how", a->how, "at", a->at, "approved", a->approved);
    put_str(d, "covered_by", a->covered_by);
    emit_new(rec, stage, step, 0, RUNE_EV_APPROVAL,
             a->approved ? RUNE_ST_APPROVED : RUNE_ST_DECLINED, -1, d);
}

void rune_record_note(const struct rune_recorder *rec, const char *stage, const char *step,
                      int attempt, const char *text)
{
    emit_new(rec, stage, step, attempt, RUNE_EV_NOTE, RUNE_ST_NONE, -1,
             json_pack("{s:s}", "text", text));
}

void rune_record_log(const struct rune_recorder *rec, const char *stage, const char *step,
                     int attempt, const char *message)
{
    emit_new(rec, stage, step, attempt, RUNE_EV_LOG, RUNE_ST_NONE, -1,
             json_pack("{s:s}", "message", message));
}

void rune_record_progress(const struct rune_recorder *rec, const char *stage, const char *step,
                          int attempt, const struct rune_progress_sample *s)
{
    json_t *d = json_pack("{s:s, s:I, s:o, s:s, s:I}", "uses", s->uses ? s->uses : "lua", "done",
                          (json_int_t)s->done, "total",
                          s->total >= 0 ? json_integer(s->total) : json_null(), "unit",
                          s->unit ? s->unit : "items", "elapsed_ms", (json_int_t)s->elapsed_ms);
    if (s->rate >= 0)
        json_object_set_new(d, "rate", json_integer(s->rate));
    put_str(d, "phase", s->phase);
    if (s->final)
        json_object_set_new(d, "final", json_true());
    emit_new(rec, stage, step, attempt, RUNE_EV_PROGRESS, RUNE_ST_NONE, -1, d);
}

/* ---- Artifacts ---- */

int rune_record_declare_artifact(json_t **list, const char *path, const char *sha256,
                                 long long bytes)
{
    if (!path || !*path)
        return -1;
    if (!*list && !(*list = json_array()))
        return -1;
    json_t *a = json_pack("{s:s}", "path", path);
    if (!a)
        return -1;
    if (sha256)
        json_object_set_new(a, "sha256", json_string(sha256));
    if (bytes >= 0)
        json_object_set_new(a, "bytes", json_integer(bytes));
    return json_array_append_new(*list, a) == 0 ? 0 : -1;
}

/* One file into the artifacts table, masked as the events are. */
static void artifact(const struct rune_recorder *rec, const char *step, const char *type,
                     const char *path, const char *sha256, long long bytes)
{
    char *p = rune_redact(rec->red, path);
    char *h = sha256 ? rune_redact(rec->red, sha256) : NULL;
    if (p && rune_journal_artifact(rec->j, rec->incident, step, p, h, bytes, type) != 0)
        warn(rec, "artifact", p);
    free(p);
    free(h);
}

/*
 * FALLBACK, to be removed once every step family calls rune_call_artifact:
 * the old convention, a step of a type that writes whose outputs carry
 * `path` and `sha256` (and `bytes` if known) made that file. A type that
 * only reads is never taken at its word: a checksum of a file that was
 * there already is not something made.
 */
static void artifact_from_outputs(const struct rune_recorder *rec, const char *step,
                                  const struct rune_step_type *t, json_t *outputs)
{
    if (t->effect != RUNE_WRITES)
        return;
    const char *path = json_string_value(json_object_get(outputs, "path"));
    const char *sha = json_string_value(json_object_get(outputs, "sha256"));
    json_t *bytes = json_object_get(outputs, "bytes");
    if (path && sha)
        artifact(rec, step, t->name, path, sha,
                 json_is_integer(bytes) ? (long long)json_integer_value(bytes) : -1);
}

void rune_record_artifacts(const struct rune_recorder *rec, const char *step,
                           const struct rune_step_type *t, json_t *declared, json_t *outputs)
{
    size_t i;
    json_t *a;

    if (rec->dry_run || !t)
        return;
    if (!json_array_size(declared)) {
        if (outputs)
            artifact_from_outputs(rec, step, t, outputs);
        return;
    }
    json_array_foreach(declared, i, a)
    {
        json_t *bytes = json_object_get(a, "bytes");
        artifact(rec, step, t->name, json_string_value(json_object_get(a, "path")),
                 json_string_value(json_object_get(a, "sha256")),
                 json_is_integer(bytes) ? (long long)json_integer_value(bytes) : -1);
    }
}
