/*
 * record_read.c — the one reader of the incident record: events and
 * artifact rows, as stored by this rune or any earlier one, decoded into
 * typed structs (record_read.h), and the history a dry-run estimates from.
 *
 * Old logs must read exactly as they always did, so decoding only takes:
 * a member of another type than the writers put there is treated as
 * absent, never converted.
 */
#include "record_read.h"

#include <string.h>

/* o[key] as a string, or NULL. */
static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* o[key] as an integer, or RUNE_REC_NONE. */
static long long num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : RUNE_REC_NONE;
}

/* o[key] as 1 or 0 when a boolean, else -1. */
static int tri(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

/* o[key] when it is of the given JSON type, else NULL (borrowed). */
static json_t *typed(json_t *o, const char *key, json_type type)
{
    json_t *v = json_object_get(o, key);
    return v && json_typeof(v) == type ? v : NULL;
}

/* The members any detail may hold; d may be NULL or not an object. */
static void decode_detail(json_t *d, struct rune_rec_event *e)
{
    e->uses = str(d, "uses");
    e->timeout_ms = num(d, "timeout_ms");
    e->call = num(d, "call");
    e->params = json_object_get(d, "params");
    e->outputs = json_object_get(d, "outputs");
    e->error = str(d, "error");
    e->tail = str(d, "tail");
    e->plan = str(d, "plan");
    e->undecided = str(d, "undecided");
    e->outputs_source = str(d, "outputs_source");
    e->simulated = json_is_true(json_object_get(d, "simulated"));
    e->artifacts = typed(d, "artifacts", JSON_ARRAY);
    e->recovery_point = str(d, "recovery_point");
    e->reason = str(d, "reason");
    e->failed_steps = num(d, "failed_steps");
    e->question = str(d, "question");
    e->who = str(d, "who");
    e->how = str(d, "how");
    e->covered_by = str(d, "covered_by");
    e->decided_at = str(d, "at");
    e->approved = tri(d, "approved");
    e->text = str(d, "text");
    e->root_cause = str(d, "root_cause");
    e->contributing = str(d, "contributing");
    e->impact = str(d, "impact");
    e->actions = typed(d, "actions", JSON_ARRAY);
    e->participants = typed(d, "participants", JSON_ARRAY);
    e->message = str(d, "message");
    e->rune_version = str(d, "rune_version");
    e->cwd = str(d, "cwd");
    e->operator_name = str(d, "operator");
    e->detected_at = str(d, "detected_at");
    e->detected_by = str(d, "detected_by");
    e->workdir = str(d, "workdir");
    e->jobs = num(d, "jobs");
    e->incident = tri(d, "incident");
    e->forced = tri(d, "forced");
    e->severity = str(d, "severity");
    e->outcome = str(d, "outcome");
    e->exit_code = num(d, "exit_code");
    e->workdir_kept = tri(d, "workdir_kept");
    e->done = num(d, "done");
    e->total = num(d, "total");
    e->unit = str(d, "unit");
    e->phase = str(d, "phase");
    e->elapsed_ms = num(d, "elapsed_ms");
    e->rate = num(d, "rate");
    e->final = json_is_true(json_object_get(d, "final"));
    json_t *work = typed(d, "work", JSON_OBJECT);
    e->work_uses = str(work, "uses");
    e->work_unit = str(work, "unit");
    e->work_size = num(work, "size");
    e->after = str(d, "after");
    e->gap_ms = num(d, "gap_ms");
    e->pid = num(d, "pid");
    e->dead_pid = num(d, "dead_pid");
    e->orphans_ended = typed(d, "orphans_ended", JSON_ARRAY);
    e->rerun = typed(d, "rerun", JSON_ARRAY);
    e->truncated = json_is_true(json_object_get(d, "truncated"));
    e->original_bytes = num(d, "original_bytes");
    e->head = e->truncated ? str(d, "head") : NULL;
}

void rune_record_decode(json_t *event, struct rune_rec_event *e)
{
    memset(e, 0, sizeof *e);
    e->seq = num(event, "seq");
    e->at = str(event, "at");
    e->stage = str(event, "stage");
    e->step = str(event, "step");
    e->attempt = num(event, "attempt");
    e->kind_name = str(event, "kind");
    e->kind = rune_event_kind_parse(e->kind_name);
    e->status_name = str(event, "status");
    e->status = rune_event_status_parse(e->status_name);
    e->duration_ms = num(event, "duration_ms");
    e->detail = json_object_get(event, "detail");
    if (json_is_null(e->detail))
        e->detail = NULL;
    decode_detail(e->detail, e);
}

const char *rune_record_recovery_point(const struct rune_rec_event *e)
{
    if (e->recovery_point)
        return e->recovery_point;
    /* the old convention: an output named recovery_point */
    return str(e->outputs, "recovery_point");
}

void rune_record_artifact_decode(json_t *row, struct rune_rec_artifact *a)
{
    a->step = str(row, "step");
    a->path = str(row, "path");
    a->sha256 = str(row, "sha256");
    a->bytes = num(row, "bytes");
    a->kind = str(row, "kind");
}

bool rune_record_event_artifact(const struct rune_rec_event *e, size_t i,
                                struct rune_rec_artifact *a)
{
    json_t *from;

    memset(a, 0, sizeof *a);
    if (e->artifacts)
        from = json_array_get(e->artifacts, i);
    else /* the old convention: outputs named path, sha256 and bytes */
        from = i == 0 && str(e->outputs, "path") && str(e->outputs, "sha256") ? e->outputs : NULL;
    if (!from || !str(from, "path"))
        return false;
    a->path = str(from, "path");
    a->sha256 = str(from, "sha256");
    a->bytes = num(from, "bytes");
    return true;
}

/* ---- History ---- */

json_t *rune_record_last_outputs(struct rune_journal *j, const char *runbook, const char *step)
{
    return rune_journal_last_outputs(j, runbook, step);
}

size_t rune_record_durations(struct rune_journal *j, const char *runbook, const char *step,
                             long long *out, size_t max)
{
    json_t *d = rune_journal_durations(j, runbook, step, (int)max);
    size_t n = 0, i;
    json_t *v;

    json_array_foreach(d, i, v)
    {
        if (n < max && json_is_integer(v))
            out[n++] = (long long)json_integer_value(v);
    }
    json_decref(d);
    return n;
}

size_t rune_record_work(struct rune_journal *j, const char *uses, const char *host,
                        const char *unit, long long *size, long long *ms, size_t max)
{
    json_t *rows = rune_journal_work(j, uses, host, unit, (int)max);
    size_t n = 0, i;
    json_t *row;

    json_array_foreach(rows, i, row)
    {
        json_t *s = json_array_get(row, 0), *d = json_array_get(row, 1);
        if (n < max && json_is_integer(s) && json_is_integer(d)) {
            size[n] = (long long)json_integer_value(s);
            ms[n++] = (long long)json_integer_value(d);
        }
    }
    json_decref(rows);
    return n;
}
