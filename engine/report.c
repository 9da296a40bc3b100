/*
 * report.c — the report of one incident as one JSON object, built from the
 * incident log alone: the incident row, its events in seq order, and the
 * hash chain's verdict (schemas/report.schema.json describes the result).
 *
 * This object is the single source of every format: report_md.c and
 * report_html.c only render it. What the engine records decides what can
 * be shown (docs/architecture.md, "Event kinds"): step attempts come from
 * step.start/step.end pairs, approvals from `approval` events, row-count
 * verification from outputs named `diff`, artifacts from the log's
 * artifacts table (or, in logs from before rune filled it, from outputs
 * carrying `path` and `sha256`), the recovery point from outputs named
 * `recovery_point`. Secrets were masked before the log stored anything, so
 * nothing here has to mask again; it must not add anything the log does
 * not hold (the runbook file, the clock, the steps' files).
 */
#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "console.h"
#include "duration.h"

#ifndef RUNE_VERSION
#define RUNE_VERSION "unknown"
#endif

/* ---- Small helpers ---- */

const char *rune_report_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static bool same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A copy of o[key] when it is an integer, else null (new reference). */
static json_t *int_or_null(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer(json_integer_value(v)) : json_null();
}

long long rune_report_iso_ms(const char *s)
{
    long long ms;
    return rune_clock_parse_iso(s, &ms) == 0 ? ms : -1;
}

const char *rune_report_status(json_t *a)
{
    const char *st = rune_report_str(a, "status");
    if (!st)
        return "unfinished";
    if (!strcmp(st, "ok") && json_is_true(json_object_get(a, "simulated")))
        return "ok (simulated)";
    return st;
}

const char *rune_report_duration(json_t *ms, char *buf, size_t len)
{
    if (!json_is_integer(ms))
        return "-";
    return rune_duration_str(json_integer_value(ms), buf, len);
}

/* later - earlier in ms when both are times, else -1. */
static long long span(const char *earlier, const char *later)
{
    long long a = rune_report_iso_ms(earlier), b = rune_report_iso_ms(later);
    return a >= 0 && b >= a ? b - a : -1;
}

static bool is_failure(const char *status)
{
    static const char *const bad[] = {"failed", "timeout", "cancelled", "declined"};
    for (size_t i = 0; status && i < sizeof bad / sizeof bad[0]; i++)
        if (!strcmp(status, bad[i]))
            return true;
    return false;
}

/* ---- Walking the events ---- */

/* What the walk collects; every json_t here is owned by the walk. */
struct walk {
    json_t *stages;    /* [{stage, status, start, end, duration_ms, reason, steps}] */
    json_t *open;      /* "stage/step#attempt" → its attempt object (borrowed from stages) */
    json_t *counts;    /* "stage/step" → attempts started */
    json_t *approvals; /* report's approvals */
    json_t *failures;  /* report's failures */
    json_t *verify;    /* report's verification */
    json_t *artifacts; /* report's artifacts */
    json_t *notes;     /* report's notes */
    json_t *findings;  /* report's findings */
    json_t *points;    /* recovery_point candidates: {stage, step, uses, at, ms, restore} */
    json_t *end;       /* the incident.end event (borrowed), or NULL */
    json_t *decision;  /* the incident.decision status (borrowed), or NULL */
};

/* The newest stage object called name; made (open, no start) if absent so
 * that a step event never goes missing. */
static json_t *stage_of(struct walk *w, const char *name, const char *at)
{
    size_t i = json_array_size(w->stages);
    while (i-- > 0) {
        json_t *s = json_array_get(w->stages, i);
        if (same(rune_report_str(s, "stage"), name))
            return s;
    }
    json_t *s =
        json_pack("{s:s, s:n, s:o, s:n, s:n, s:n, s:[]}", "stage", name ? name : "-", "status",
                  "start", str_or_null(at), "end", "duration_ms", "reason", "steps");
    json_array_append_new(w->stages, s);
    return s;
}

static void key_of(char *buf, size_t len, json_t *ev, bool with_attempt)
{
    const char *stage = rune_report_str(ev, "stage"), *step = rune_report_str(ev, "step");
    if (with_attempt)
        snprintf(buf, len, "%s/%s#%lld", stage ? stage : "-", step ? step : "-",
                 (long long)json_integer_value(json_object_get(ev, "attempt")));
    else
        snprintf(buf, len, "%s/%s", stage ? stage : "-", step ? step : "-");
}

static void on_stage_start(struct walk *w, json_t *ev, json_t *d)
{
    json_array_append_new(
        w->stages,
        json_pack("{s:s, s:n, s:O?, s:n, s:n, s:n, s:[]}", "stage",
                  rune_report_str(ev, "stage") ? rune_report_str(ev, "stage") : "-", "status",
                  "start", json_object_get(ev, "at"), "end", "duration_ms", "reason", "steps"));
}

static void on_stage_end(struct walk *w, json_t *ev, json_t *d)
{
    json_t *s = stage_of(w, rune_report_str(ev, "stage"), NULL);
    json_object_set(s, "status", json_object_get(ev, "status"));
    json_object_set(s, "end", json_object_get(ev, "at"));
    json_object_set_new(s, "duration_ms", int_or_null(ev, "duration_ms"));
}

static void on_stage_skip(struct walk *w, json_t *ev, json_t *d)
{
    json_t *s =
        json_pack("{s:s, s:O?, s:O?, s:O?, s:n, s:o, s:[]}", "stage",
                  rune_report_str(ev, "stage") ? rune_report_str(ev, "stage") : "-", "status",
                  json_object_get(ev, "status"), "start", json_object_get(ev, "at"), "end",
                  json_object_get(ev, "at"), "duration_ms", "reason",
                  str_or_null(rune_report_str(d, "reason")), "steps");
    json_array_append_new(w->stages, s);
}

/* A new attempt (or skip) row in its stage's steps, in the order the
 * events happened. Returns it (borrowed). */
static json_t *attempt_new(struct walk *w, json_t *ev, const char *uses)
{
    json_t *s = stage_of(w, rune_report_str(ev, "stage"), rune_report_str(ev, "at"));
    json_t *a =
        json_pack("{s:o, s:o, s:o, s:i, s:O?, s:n, s:n, s:n, s:b, s:n, s:n, s:n}", "step",
                  str_or_null(rune_report_str(ev, "step")), "uses", str_or_null(uses), "attempt",
                  int_or_null(ev, "attempt"), "attempts", 0, "start", json_object_get(ev, "at"),
                  "end", "duration_ms", "status", "simulated", 0, "plan", "error", "reason");
    json_array_append_new(json_object_get(s, "steps"), a);
    return a;
}

static void on_step_start(struct walk *w, json_t *ev, json_t *d)
{
    char key[512], step[512];
    json_t *a = attempt_new(w, ev, rune_report_str(d, "uses"));
    long long n = json_integer_value(json_object_get(ev, "attempt"));

    key_of(key, sizeof key, ev, true);
    json_object_set(w->open, key, a);
    key_of(step, sizeof step, ev, false);
    if (n > json_integer_value(json_object_get(w->counts, step)))
        json_object_set_new(w->counts, step, json_integer(n));
}

/* The count of one row of a `diff` list (a negative actual means the
 * table is missing): a copy, or null. */
static json_t *count_of(json_t *row, const char *key)
{
    json_t *v = json_object_get(row, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer(json_integer_value(v))
                                                            : json_null();
}

/* A verify_counts-style `diff` ({table, expected, actual, diff, ok}) or a
 * pg.compare one ({table, expected_rows, actual_rows, same_content, ok}),
 * as rows of one shape. NULL when outputs have no such list. */
static json_t *diff_tables(json_t *outputs, const char **kind)
{
    json_t *diff = json_object_get(outputs, "diff"), *row, *rows;
    size_t i;

    if (!json_is_array(diff) || !json_array_size(diff))
        return NULL;
    rows = json_array();
    *kind = "counts";
    json_array_foreach(diff, i, row)
    {
        bool cmp = json_object_get(row, "expected_rows") != NULL;
        json_t *exp = count_of(row, cmp ? "expected_rows" : "expected");
        json_t *act = count_of(row, cmp ? "actual_rows" : "actual");
        json_t *same = json_object_get(row, "same_content");
        json_t *delta = json_null();

        if (!rune_report_str(row, "table")) {
            json_decref(exp);
            json_decref(act);
            json_decref(rows);
            return NULL;
        }
        if (cmp)
            *kind = "compare";
        if (json_is_integer(exp) && json_is_integer(act))
            delta = json_integer(json_integer_value(act) - json_integer_value(exp));
        json_array_append_new(rows,
                              json_pack("{s:s, s:o, s:o, s:o, s:o, s:b}", "table",
                                        rune_report_str(row, "table"), "expected", exp, "actual",
                                        act, "diff", delta, "same_content",
                                        json_is_boolean(same) ? json_incref(same) : json_null(),
                                        "ok", json_is_true(json_object_get(row, "ok"))));
    }
    return rows;
}

/* Verification tables of a step: the last attempt's replace earlier ones. */
static void collect_verification(struct walk *w, json_t *ev, json_t *a, json_t *outputs)
{
    const char *kind = NULL;
    json_t *tables = diff_tables(outputs, &kind), *v, *e;
    json_t *ok = json_object_get(outputs, "ok");
    size_t i;

    if (!tables)
        return;
    v = json_pack("{s:O?, s:O?, s:O?, s:s, s:o, s:O?, s:o}", "stage", json_object_get(ev, "stage"),
                  "step", json_object_get(ev, "step"), "uses", json_object_get(a, "uses"), "kind",
                  kind, "ok", json_is_boolean(ok) ? json_incref(ok) : json_null(), "status",
                  json_object_get(ev, "status"), "tables", tables);
    if (!strcmp(kind, "compare"))
        json_object_set(v, "extra",
                        json_is_array(json_object_get(outputs, "extra"))
                            ? json_object_get(outputs, "extra")
                            : json_array());
    json_array_foreach(w->verify, i, e)
    {
        if (json_equal(json_object_get(e, "stage"), json_object_get(v, "stage")) &&
            json_equal(json_object_get(e, "step"), json_object_get(v, "step"))) {
            json_array_set_new(w->verify, i, v);
            return;
        }
    }
    json_array_append_new(w->verify, v);
}

/* Files a step says it made: outputs with a path and a SHA-256. */
static void collect_artifact(struct walk *w, json_t *ev, json_t *outputs)
{
    const char *path = rune_report_str(outputs, "path");
    const char *sha = rune_report_str(outputs, "sha256");
    json_t *e;
    size_t i;

    if (!path || !sha)
        return;
    json_array_foreach(w->artifacts, i, e)
    {
        if (same(rune_report_str(e, "path"), path) && same(rune_report_str(e, "sha256"), sha))
            return;
    }
    json_array_append_new(w->artifacts,
                          json_pack("{s:O?, s:O?, s:s, s:s, s:o}", "stage",
                                    json_object_get(ev, "stage"), "step",
                                    json_object_get(ev, "step"), "path", path, "sha256", sha,
                                    "bytes", int_or_null(outputs, "bytes")));
}

/* What a step passed over and the operator should know: backups that
 * failed verification (outputs `skipped`: [{path, reason}]). The last
 * attempt's replace earlier ones. */
static void collect_findings(struct walk *w, json_t *ev, json_t *a, json_t *outputs)
{
    json_t *skipped = json_object_get(outputs, "skipped"), *x, *e;
    size_t i;

    if (!json_is_array(skipped))
        return;
    for (i = json_array_size(w->findings); i-- > 0;) {
        e = json_array_get(w->findings, i);
        if (json_equal(json_object_get(e, "stage"), json_object_get(ev, "stage")) &&
            json_equal(json_object_get(e, "step"), json_object_get(ev, "step")))
            json_array_remove(w->findings, i);
    }
    json_array_foreach(skipped, i, x)
    {
        const char *path = rune_report_str(x, "path");
        if (!path)
            continue;
        json_array_append_new(
            w->findings,
            json_pack("{s:O?, s:O?, s:O?, s:s, s:s, s:o}", "stage", json_object_get(ev, "stage"),
                      "step", json_object_get(ev, "step"), "uses", json_object_get(a, "uses"),
                      "kind", "skipped_backup", "path", path, "reason",
                      str_or_null(rune_report_str(x, "reason"))));
    }
}

/* A backup or restore step's recovery point: the candidates for the RPO. */
static void collect_point(struct walk *w, json_t *ev, json_t *a, json_t *outputs)
{
    const char *rp = rune_report_str(outputs, "recovery_point");
    const char *uses = rune_report_str(a, "uses");
    long long ms = rune_report_iso_ms(rp);

    if (ms < 0)
        return;
    json_array_append_new(w->points, json_pack("{s:O?, s:O?, s:o, s:s, s:I, s:b}", "stage",
                                               json_object_get(ev, "stage"), "step",
                                               json_object_get(ev, "step"), "uses",
                                               str_or_null(uses), "at", rp, "ms", (json_int_t)ms,
                                               "restore", uses && strstr(uses, "restore") != NULL));
}

static void on_step_end(struct walk *w, json_t *ev, json_t *d)
{
    char key[512];
    const char *status = rune_report_str(ev, "status");
    json_t *outputs = json_object_get(d, "outputs");
    json_t *a;

    key_of(key, sizeof key, ev, true);
    a = json_object_get(w->open, key);
    if (!a) /* an end without its start: show it all the same */
        a = attempt_new(w, ev, NULL);
    json_object_set(a, "end", json_object_get(ev, "at"));
    json_object_set_new(a, "duration_ms", int_or_null(ev, "duration_ms"));
    json_object_set(a, "status", json_object_get(ev, "status"));
    json_object_set_new(a, "simulated",
                        json_boolean(json_is_true(json_object_get(d, "simulated"))));
    json_object_set_new(a, "plan", str_or_null(rune_report_str(d, "plan")));
    json_object_set_new(a, "error", str_or_null(rune_report_str(d, "error")));
    json_object_del(w->open, key);

    if (is_failure(status))
        json_array_append_new(
            w->failures,
            json_pack("{s:O?, s:O?, s:O?, s:O?, s:i, s:O?, s:O?, s:o, s:o}", "stage",
                      json_object_get(ev, "stage"), "step", json_object_get(ev, "step"), "uses",
                      json_object_get(a, "uses"), "attempt", json_object_get(a, "attempt"),
                      "attempts", 0, "at", json_object_get(ev, "at"), "status",
                      json_object_get(ev, "status"), "error",
                      str_or_null(rune_report_str(d, "error")), "tail",
                      str_or_null(rune_report_str(d, "tail"))));
    if (!json_is_object(outputs))
        return;
    collect_verification(w, ev, a, outputs);
    collect_findings(w, ev, a, outputs);
    if (status && !strcmp(status, "ok")) {
        collect_artifact(w, ev, outputs);
        collect_point(w, ev, a, outputs);
    }
}

static void on_step_skip(struct walk *w, json_t *ev, json_t *d)
{
    json_t *a = attempt_new(w, ev, NULL);
    json_object_set(a, "end", json_object_get(ev, "at"));
    json_object_set(a, "status", json_object_get(ev, "status"));
    json_object_set_new(a, "reason", str_or_null(rune_report_str(d, "reason")));
}

static void on_approval(struct walk *w, json_t *ev, json_t *d)
{
    json_t *approved = json_object_get(d, "approved");
    const char *at = rune_report_str(d, "at");
    json_array_append_new(
        w->approvals, json_pack("{s:O?, s:O?, s:s, s:o, s:o, s:o, s:b, s:O?}", "stage",
                                json_object_get(ev, "stage"), "step", json_object_get(ev, "step"),
                                "at", at ? at : rune_report_str(ev, "at"), "who",
                                str_or_null(rune_report_str(d, "who")), "how",
                                str_or_null(rune_report_str(d, "how")), "question",
                                str_or_null(rune_report_str(d, "question")), "approved",
                                json_is_true(approved), "decision", json_object_get(ev, "status")));
}

static void on_note(struct walk *w, json_t *ev, json_t *d)
{
    const char *text = rune_report_str(d, "text");
    if (text)
        json_array_append_new(w->notes,
                              json_pack("{s:O?, s:O?, s:O?, s:s}", "at", json_object_get(ev, "at"),
                                        "stage", json_object_get(ev, "stage"), "step",
                                        json_object_get(ev, "step"), "text", text));
}

static void on_end(struct walk *w, json_t *ev, json_t *d)
{
    w->end = ev;
}

static void on_decision(struct walk *w, json_t *ev, json_t *d)
{
    w->decision = json_object_get(ev, "status");
}

/* What each kind of event contributes; kinds not listed (log, call.*,
 * severity, incident.start) add nothing the incident row does not hold. */
static const struct {
    const char *kind;
    void (*fn)(struct walk *w, json_t *ev, json_t *detail);
} handlers[] = {
    {"stage.start", on_stage_start},    {"stage.end", on_stage_end}, {"stage.skip", on_stage_skip},
    {"step.start", on_step_start},      {"step.end", on_step_end},   {"step.skip", on_step_skip},
    {"approval", on_approval},          {"note", on_note},           {"incident.end", on_end},
    {"incident.decision", on_decision},
};

static void walk_events(struct walk *w, json_t *events)
{
    size_t i;
    json_t *ev;

    json_array_foreach(events, i, ev)
    {
        const char *kind = rune_report_str(ev, "kind");
        for (size_t k = 0; kind && k < sizeof handlers / sizeof handlers[0]; k++)
            if (!strcmp(handlers[k].kind, kind))
                handlers[k].fn(w, ev, json_object_get(ev, "detail"));
    }
}

/* Every attempt row and failure learns how many attempts its step made. */
static void fill_attempts(struct walk *w)
{
    char key[512];
    size_t i, k;
    json_t *s, *a;

    json_array_foreach(w->stages, i, s)
    {
        json_array_foreach(json_object_get(s, "steps"), k, a)
        {
            snprintf(key, sizeof key, "%s/%s", rune_report_str(s, "stage"),
                     rune_report_str(a, "step") ? rune_report_str(a, "step") : "-");
            json_object_set_new(a, "attempts",
                                json_integer(json_integer_value(json_object_get(w->counts, key))));
        }
    }
    json_array_foreach(w->failures, i, a)
    {
        snprintf(key, sizeof key, "%s/%s",
                 rune_report_str(a, "stage") ? rune_report_str(a, "stage") : "-",
                 rune_report_str(a, "step") ? rune_report_str(a, "step") : "-");
        json_object_set_new(a, "attempts",
                            json_integer(json_integer_value(json_object_get(w->counts, key))));
    }
}

static void walk_free(struct walk *w)
{
    json_decref(w->stages);
    json_decref(w->open);
    json_decref(w->counts);
    json_decref(w->approvals);
    json_decref(w->failures);
    json_decref(w->verify);
    json_decref(w->artifacts);
    json_decref(w->notes);
    json_decref(w->findings);
    json_decref(w->points);
}

/* ---- The parts of the report ---- */

static json_t *find_stage(json_t *stages, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(stages, i, s)
    {
        if (same(rune_report_str(s, "stage"), name))
            return s;
    }
    return NULL;
}

/* {target_s, achieved_ms, achieved_s, met, ...}: met only when there is a
 * target; a target with nothing achieved is not met. */
static json_t *objective(json_t *inc, const char *target_key, long long achieved_ms)
{
    json_t *target = json_object_get(inc, target_key);
    json_t *o = json_object();
    json_object_set_new(o, "target_s", json_is_integer(target) ? json_incref(target) : json_null());
    json_object_set_new(o, "achieved_ms",
                        achieved_ms >= 0 ? json_integer(achieved_ms) : json_null());
    json_object_set_new(o, "achieved_s",
                        achieved_ms >= 0 ? json_real((double)achieved_ms / 1000.0) : json_null());
    if (!json_is_integer(target))
        json_object_set_new(o, "met", json_null());
    else
        json_object_set_new(
            o, "met",
            json_boolean(achieved_ms >= 0 && achieved_ms <= json_integer_value(target) * 1000));
    return o;
}

/* RTO: incident start → the end of the verification stage, when it passed. */
static json_t *rto(json_t *inc, json_t *stages)
{
    const char *started = rune_report_str(inc, "started_at");
    json_t *v = find_stage(stages, "verification");
    const char *st = v ? rune_report_str(v, "status") : NULL;
    bool passed = st && (!strcmp(st, "ok") || !strcmp(st, "ok_with_failures"));
    const char *to = passed ? rune_report_str(v, "end") : NULL;
    char basis[256];
    json_t *o = objective(inc, "rto_target_s", passed ? span(started, to) : -1);

    if (passed)
        snprintf(basis, sizeof basis, "incident start to the end of the verification stage (%s)",
                 st);
    else if (!v)
        snprintf(basis, sizeof basis, "not achieved: no verification stage ran");
    else if (st && !strcmp(st, "skipped"))
        snprintf(basis, sizeof basis, "not achieved: the verification stage was skipped (%s)",
                 rune_report_str(v, "reason") ? rune_report_str(v, "reason") : "no reason");
    else
        snprintf(basis, sizeof basis, "not achieved: the verification stage ended %s",
                 st ? st : "unfinished");
    json_object_set_new(o, "from", str_or_null(started));
    json_object_set_new(o, "to", str_or_null(to));
    json_object_set_new(o, "basis", json_string(basis));
    return o;
}

/* RPO: incident start − the recovery point of the backup used: the last
 * restore step's, else the newest any step reported. */
static json_t *rpo(json_t *inc, json_t *points)
{
    const char *started = rune_report_str(inc, "started_at");
    long long t0 = rune_report_iso_ms(started), lost = -1;
    json_t *pick, *restore = NULL, *newest = NULL, *p;
    char basis[512];
    size_t i;

    json_array_foreach(points, i, p)
    {
        if (json_is_true(json_object_get(p, "restore")))
            restore = p; /* in event order: the last restore wins */
        if (!newest || json_integer_value(json_object_get(p, "ms")) >=
                           json_integer_value(json_object_get(newest, "ms")))
            newest = p;
    }
    pick = restore ? restore : newest;
    if (pick && t0 >= 0) {
        lost = t0 - json_integer_value(json_object_get(pick, "ms"));
        if (lost < 0) /* taken after the incident began: nothing before it was lost */
            lost = 0;
    }
    json_t *o = objective(inc, "rpo_target_s", lost);
    if (pick)
        snprintf(basis, sizeof basis, "incident start minus the recovery point of %s step %s%s",
                 json_is_true(json_object_get(pick, "restore")) ? "restore" : "backup",
                 rune_report_str(pick, "step") ? rune_report_str(pick, "step") : "-",
                 lost == 0 ? " (taken after the incident started: nothing lost)" : "");
    else
        snprintf(basis, sizeof basis, "unknown: no step reported a recovery_point");
    json_object_set_new(o, "recovery_point",
                        str_or_null(pick ? rune_report_str(pick, "at") : NULL));
    json_object_set_new(o, "step", str_or_null(pick ? rune_report_str(pick, "step") : NULL));
    json_object_set_new(o, "uses", str_or_null(pick ? rune_report_str(pick, "uses") : NULL));
    json_object_set_new(o, "basis", json_string(basis));
    return o;
}

static json_t *summary(json_t *inc, struct walk *w)
{
    json_t *d = w->end ? json_object_get(w->end, "detail") : NULL;
    const char *mode = rune_report_str(inc, "mode");
    long long took = span(rune_report_str(inc, "started_at"), rune_report_str(inc, "ended_at"));
    static const char *const copied[] = {
        "id",       "title",    "runbook",   "runbook_path", "runbook_sha256",
        "mode",     "operator", "host",      "rune_version", "started_at",
        "ended_at", "outcome",  "exit_code", "severity",     "resumed_from",
    };
    json_t *o = json_object();

    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++) {
        json_t *v = json_object_get(inc, copied[i]);
        json_object_set(o, copied[i], v ? v : json_null());
    }
    json_object_set_new(o, "simulated", json_boolean(mode && !strcmp(mode, "dry-run")));
    json_object_set_new(o, "duration_ms", took >= 0 ? json_integer(took) : json_null());
    json_object_set_new(o, "reason", str_or_null(rune_report_str(d, "reason")));
    json_object_set(o, "decision", w->decision ? w->decision : json_null());
    return o;
}

static json_t *rollback(json_t *stages)
{
    json_t *s = find_stage(stages, "rollback");
    const char *st = s ? rune_report_str(s, "status") : NULL;
    if (!s)
        return json_pack("{s:b, s:n, s:s, s:[]}", "ran", 0, "status", "reason",
                         "the log has no rollback stage for this incident", "actions");
    return json_pack("{s:b, s:O?, s:O?, s:o}", "ran", !st || strcmp(st, "skipped") != 0, "status",
                     json_object_get(s, "status"), "reason", json_object_get(s, "reason"),
                     "actions", json_deep_copy(json_object_get(s, "steps")));
}

/* The stage a step ran in, from the timeline; NULL if it never started. */
static json_t *stage_of_step(struct walk *w, const char *step)
{
    size_t i, k;
    json_t *s, *a;
    json_array_foreach(w->stages, i, s)
    {
        json_array_foreach(json_object_get(s, "steps"), k, a)
        {
            if (step && same(rune_report_str(a, "step"), step))
                return json_object_get(s, "stage");
        }
    }
    return NULL;
}

/* The files the run made. The log's artifacts table is the record (a step
 * of a type that writes, or a rune.run call inside one, once per file):
 * when it has rows they are the list. Logs written before rune filled it
 * have none; then the outputs that carry a path and a SHA-256 stand in. */
static void table_artifacts(struct walk *w, json_t *rows)
{
    size_t i;
    json_t *r;
    if (!json_array_size(rows))
        return;
    json_array_clear(w->artifacts);
    json_array_foreach(rows, i, r)
    {
        const char *path = rune_report_str(r, "path"), *sha = rune_report_str(r, "sha256");
        if (!path)
            continue;
        json_array_append_new(w->artifacts,
                              json_pack("{s:O?, s:O?, s:s, s:o, s:o}", "stage",
                                        stage_of_step(w, rune_report_str(r, "step")), "step",
                                        json_object_get(r, "step"), "path", path, "sha256",
                                        str_or_null(sha), "bytes", int_or_null(r, "bytes")));
    }
}

static json_t *chain(struct rune_journal *j, const char *id, char *err, size_t errlen)
{
    struct rune_chain_result res;
    int rc = rune_journal_verify(j, id, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s", rune_journal_error(j));
        return NULL;
    }
    return json_pack("{s:b, s:I, s:o, s:o, s:o, s:o}", "verified", res.problem == RUNE_CHAIN_INTACT,
                     "events", (json_int_t)res.events, "head_hash",
                     res.head_hash[0] ? json_string(res.head_hash) : json_null(), "problem",
                     res.problem ? json_string(rune_chain_problem_name(res.problem)) : json_null(),
                     "seq", res.problem && res.seq ? json_integer(res.seq) : json_null(), "message",
                     res.problem ? json_string(res.message) : json_null());
}

int rune_report_build(struct rune_journal *j, const char *incident_id, json_t **out, char *err,
                      size_t errlen)
{
    struct walk w = {
        .stages = json_array(),
        .open = json_object(),
        .counts = json_object(),
        .approvals = json_array(),
        .failures = json_array(),
        .verify = json_array(),
        .artifacts = json_array(),
        .notes = json_array(),
        .findings = json_array(),
        .points = json_array(),
    };
    json_t *inc = rune_journal_get(j, incident_id), *ch = NULL, *rep = NULL;
    int rc = -1;

    *out = NULL;
    if (!inc) {
        rc = *rune_journal_error(j) ? -1 : RUNE_JOURNAL_UNKNOWN;
        if (rc == -1)
            snprintf(err, errlen, "%s", rune_journal_error(j));
        else
            snprintf(err, errlen, "no incident %s in %s; `rune log` lists them", incident_id,
                     rune_journal_path(j));
        goto out;
    }
    if (!(ch = chain(j, incident_id, err, errlen)))
        goto out;
    walk_events(&w, json_object_get(inc, "events"));
    fill_attempts(&w);
    table_artifacts(&w, json_object_get(inc, "artifacts"));
    json_t *inputs = json_object_get(inc, "inputs");
    rep = json_pack(
        "{s:i, s:s, s:o, s:{s:o, s:o}, s:O?, s:O?, s:O?, s:o, s:O?, s:O?, s:O?, s:O?, s:o, "
        "s:o, s:s, s:s}",
        "report_version", RUNE_REPORT_VERSION, "generator", "rune " RUNE_VERSION, "incident",
        summary(inc, &w), "objectives", "rto", rto(inc, w.stages), "rpo", rpo(inc, w.points),
        "timeline", w.stages, "approvals", w.approvals, "failures", w.failures, "rollback",
        rollback(w.stages), "verification", w.verify, "findings", w.findings, "artifacts", w.artifacts, "notes", w.notes,
        "inputs", json_is_object(inputs) ? json_incref(inputs) : json_object(), "chain",
        json_incref(ch), "root_cause", "", "preventive_measures", "");
    if (!rep) {
        snprintf(err, errlen,
                 "no memory to build the report of incident %s: free memory on this host",
                 incident_id);
        goto out;
    }
    *out = rep;
    rc = 0;
out:
    json_decref(ch);
    json_decref(inc);
    walk_free(&w);
    return rc;
}

/* ---- Formats and files ---- */

char *rune_report_json(json_t *report)
{
    char *s = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    char *t = s ? malloc(strlen(s) + 2) : NULL;
    if (t)
        sprintf(t, "%s\n", s);
    free(s);
    return t;
}

const struct rune_report_format rune_report_formats[] = {
    {"md", "Markdown, for the incident ticket or the wiki", rune_report_md},
    {"html", "one self-contained page with a timeline chart, printable", rune_report_html},
    {"json", "the data every format is rendered from (schemas/report.schema.json)",
     rune_report_json},
    {0},
};

const struct rune_report_format *rune_report_format(const char *name)
{
    for (const struct rune_report_format *f = rune_report_formats; f->name; f++)
        if (!strcmp(f->name, name))
            return f;
    return NULL;
}

const char *rune_report_dir(const char *flag, const char *log_path, char *buf, size_t len)
{
    const char *env = getenv("RUNE_REPORTS");
    const char *slash = log_path ? strrchr(log_path, '/') : NULL;
    int w;

    if (flag && *flag)
        w = snprintf(buf, len, "%s", flag);
    else if (env && *env)
        w = snprintf(buf, len, "%s", env);
    else if (slash)
        w = snprintf(buf, len, "%.*sreports", (int)(slash - log_path + 1), log_path);
    else
        w = snprintf(buf, len, "reports");
    if (w < 0 || (size_t)w >= len)
        buf[0] = '\0';
    return buf;
}

int rune_report_save(const char *path, const char *text, char *err, size_t errlen)
{
    size_t n = strlen(path), len = strlen(text);
    char *tmp = malloc(n + 16);
    int fd = -1, rc = -1;

    if (!tmp) {
        snprintf(err, errlen, "no memory for a temporary name beside %s: free memory on this host",
                 path);
        return -1;
    }
    snprintf(tmp, n + 16, "%s.tmp-XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s; check the directory exists and is writable",
                 path, strerror(errno));
        goto out;
    }
    for (size_t off = 0; off < len;) {
        ssize_t k = write(fd, text + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            snprintf(err, errlen, "cannot write %s: %s", path,
                     k < 0 ? strerror(errno) : "short write");
            goto out;
        }
        off += (size_t)k;
    }
    if (close(fd) != 0) {
        fd = -1;
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* mkdir -p dir, new directories 0700 (reports tell what happened to
 * production, like the log beside them). */
static int make_dir(const char *dir, char *err, size_t errlen)
{
    char *p = strdup(dir);
    int rc = 0;

    if (!p) {
        snprintf(err, errlen,
                 "no memory to create the reports directory %s: free memory on this host", dir);
        return -1;
    }
    for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
        if (s)
            *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create the reports directory %s: %s; pass --reports DIR",
                     p, strerror(errno));
            rc = -1;
            break;
        }
        if (!s)
            break;
        *s = '/';
    }
    free(p);
    return rc;
}

int rune_report_write_auto(struct rune_journal *j, const char *incident_id, const char *dir,
                           char *path, size_t pathlen, char *err, size_t errlen)
{
    json_t *rep = NULL;
    char *text = NULL;
    int rc = -1;

    path[0] = '\0';
    if (!dir || !*dir) {
        snprintf(err, errlen, "no place for reports (the path is too long); pass --reports DIR");
        return -1;
    }
    int w = snprintf(path, pathlen, "%s%s%s.md", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
                     incident_id);
    if (w < 0 || (size_t)w >= pathlen) {
        snprintf(err, errlen, "the reports directory's path is too long; pass --reports DIR");
        path[0] = '\0';
        return -1;
    }
    if (make_dir(dir, err, errlen) != 0 ||
        rune_report_build(j, incident_id, &rep, err, errlen) != 0)
        goto out;
    if (!(text = rune_report_md(rep))) {
        snprintf(err, errlen,
                 "no memory to render the report of incident %s: free memory on this host",
                 incident_id);
        goto out;
    }
    rc = rune_report_save(path, text, err, errlen);
out:
    if (rc != 0)
        path[0] = '\0';
    free(text);
    json_decref(rep);
    return rc;
}

void rune_report_after_run(struct rune_journal *j, const char *incident_id, const char *dir,
                           struct rune_console *con)
{
    char path[4096], err[1024];

    if (!dir || !j)
        return;
    if (rune_report_write_auto(j, incident_id, dir, path, sizeof path, err, sizeof err) == 0)
        rune_console_alert(con, "report: %s", path);
    else
        rune_console_alert(con,
                           "warning: no report written: %s; `rune report %s` writes it later from "
                           "the incident log",
                           err, incident_id);
}
