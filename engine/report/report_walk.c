/*
 * report_walk.c — the incident's events, decoded by the record layer
 * (record_read.h), walked in seq order into the parts of the report that
 * come from them: the timeline (stages and their step attempts, skips),
 * approvals, failures, verification tables, findings, artifacts, notes,
 * the recovery point candidates, how the incident ended, and how much
 * work long steps did and how fast (their progress samples and sizes).
 *
 * Old logs must walk exactly as they always did (tests/cli/test_golden.sh):
 * what a newer writer declares (artifacts, recovery points) is read first,
 * the older conventions on outputs after it.
 */
#include "report_walk.h"

#include <stdio.h>
#include <string.h>

#include "record_read.h"
#include "report.h"

static bool same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* o[key] = s when s is not NULL; otherwise o[key] is left as it was. */
static void set_if(json_t *o, const char *key, const char *s)
{
    if (s)
        json_object_set_new(o, key, json_string(s));
}

static json_t *num_or_null(long long v)
{
    return v == RUNE_REC_NONE ? json_null() : json_integer(v);
}

/* The newest stage object called name; made (open, no start) if absent so
 * that a step event never goes missing. */
static json_t *stage_of(struct rune_report_walk *w, const char *name, const char *at)
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

static void key_of(char *buf, size_t len, const struct rune_rec_event *e, bool with_attempt)
{
    const char *stage = e->stage ? e->stage : "-", *step = e->step ? e->step : "-";
    if (with_attempt)
        snprintf(buf, len, "%s/%s#%lld", stage, step, e->attempt == RUNE_REC_NONE ? 0 : e->attempt);
    else
        snprintf(buf, len, "%s/%s", stage, step);
}

static void on_stage_start(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    json_array_append_new(w->stages,
                          json_pack("{s:s, s:n, s:o, s:n, s:n, s:n, s:[]}", "stage",
                                    e->stage ? e->stage : "-", "status", "start",
                                    str_or_null(e->at), "end", "duration_ms", "reason", "steps"));
}

static void on_stage_end(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    json_t *s = stage_of(w, e->stage, NULL);
    set_if(s, "status", e->status_name);
    set_if(s, "end", e->at);
    json_object_set_new(s, "duration_ms", num_or_null(e->duration_ms));
}

static void on_stage_skip(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    json_array_append_new(
        w->stages,
        json_pack("{s:s, s:o, s:o, s:o, s:n, s:o, s:[]}", "stage", e->stage ? e->stage : "-",
                  "status", str_or_null(e->status_name), "start", str_or_null(e->at), "end",
                  str_or_null(e->at), "duration_ms", "reason", str_or_null(e->reason), "steps"));
}

/* A new attempt (or skip) row in its stage's steps, in the order the
 * events happened. Returns it (borrowed). */
static json_t *attempt_new(struct rune_report_walk *w, const struct rune_rec_event *e,
                           const char *uses)
{
    json_t *s = stage_of(w, e->stage, e->at);
    json_t *a =
        json_pack("{s:o, s:o, s:o, s:i, s:o, s:n, s:n, s:n, s:b, s:n, s:n, s:n}", "step",
                  str_or_null(e->step), "uses", str_or_null(uses), "attempt",
                  num_or_null(e->attempt), "attempts", 0, "start", str_or_null(e->at), "end",
                  "duration_ms", "status", "simulated", 0, "plan", "error", "reason");
    json_array_append_new(json_object_get(s, "steps"), a);
    return a;
}

static void on_step_start(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    char key[512], step[512];
    json_t *a = attempt_new(w, e, e->uses);
    long long n = e->attempt == RUNE_REC_NONE ? 0 : e->attempt;

    key_of(key, sizeof key, e, true);
    json_object_set(w->open, key, a);
    key_of(step, sizeof step, e, false);
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

/* The event's stage, step and status as JSON for a report row. */
static json_t *where_stage(const struct rune_rec_event *e)
{
    return str_or_null(e->stage);
}

static json_t *where_step(const struct rune_rec_event *e)
{
    return str_or_null(e->step);
}

/* Verification tables of a step: the last attempt's replace earlier ones. */
static void collect_verification(struct rune_report_walk *w, const struct rune_rec_event *e,
                                 json_t *a)
{
    const char *kind = NULL;
    json_t *tables = diff_tables(e->outputs, &kind), *v, *x;
    json_t *ok = json_object_get(e->outputs, "ok");
    size_t i;

    if (!tables)
        return;
    v = json_pack("{s:o, s:o, s:O?, s:s, s:o, s:o, s:o}", "stage", where_stage(e), "step",
                  where_step(e), "uses", json_object_get(a, "uses"), "kind", kind, "ok",
                  json_is_boolean(ok) ? json_incref(ok) : json_null(), "status",
                  str_or_null(e->status_name), "tables", tables);
    if (!strcmp(kind, "compare"))
        json_object_set(v, "extra",
                        json_is_array(json_object_get(e->outputs, "extra"))
                            ? json_object_get(e->outputs, "extra")
                            : json_array());
    json_array_foreach(w->verify, i, x)
    {
        if (json_equal(json_object_get(x, "stage"), json_object_get(v, "stage")) &&
            json_equal(json_object_get(x, "step"), json_object_get(v, "step"))) {
            json_array_set_new(w->verify, i, v);
            return;
        }
    }
    json_array_append_new(w->verify, v);
}

/* Files a step says it made (rune_record_event_artifact: declared, or
 * named by its outputs in older logs), once per path and SHA-256. Only
 * used when the log's artifacts table has none (table_artifacts). */
static void collect_artifacts(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    struct rune_rec_artifact f;

    for (size_t k = 0; rune_record_event_artifact(e, k, &f); k++) {
        json_t *x;
        size_t i;
        bool seen = false;
        json_array_foreach(w->artifacts, i, x)
        {
            const char *sha = rune_report_str(x, "sha256");
            seen |= same(rune_report_str(x, "path"), f.path) &&
                    (same(sha, f.sha256) || (!sha && !f.sha256));
        }
        if (!seen)
            json_array_append_new(w->artifacts,
                                  json_pack("{s:o, s:o, s:s, s:o, s:o}", "stage", where_stage(e),
                                            "step", where_step(e), "path", f.path, "sha256",
                                            str_or_null(f.sha256), "bytes", num_or_null(f.bytes)));
    }
}

/* What a step passed over and the operator should know: backups that
 * failed verification (outputs `skipped`: [{path, reason}]). The last
 * attempt's replace earlier ones. */
static void collect_findings(struct rune_report_walk *w, const struct rune_rec_event *e, json_t *a)
{
    json_t *skipped = json_object_get(e->outputs, "skipped"), *x, *f;
    json_t *stage = where_stage(e), *step = where_step(e);
    size_t i;

    if (!json_is_array(skipped))
        goto out;
    for (i = json_array_size(w->findings); i-- > 0;) {
        f = json_array_get(w->findings, i);
        if (json_equal(json_object_get(f, "stage"), stage) &&
            json_equal(json_object_get(f, "step"), step))
            json_array_remove(w->findings, i);
    }
    json_array_foreach(skipped, i, x)
    {
        const char *path = rune_report_str(x, "path");
        if (!path)
            continue;
        json_array_append_new(w->findings,
                              json_pack("{s:O, s:O, s:O?, s:s, s:s, s:o}", "stage", stage, "step",
                                        step, "uses", json_object_get(a, "uses"), "kind",
                                        "skipped_backup", "path", path, "reason",
                                        str_or_null(rune_report_str(x, "reason"))));
    }
out:
    json_decref(stage);
    json_decref(step);
}

/* Whether a type's recovery point is of the data the system now holds (a
 * restore, a point-in-time recovery, a promoted standby's last replay)
 * rather than of a backup it took. */
static bool is_restore_point(const char *uses)
{
    static const char *const words[] = {"restore", "recover", "promote"};
    for (size_t i = 0; uses && i < sizeof words / sizeof *words; i++)
        if (strstr(uses, words[i]))
            return true;
    return false;
}

/* A backup or restore step's (or rune.run call's) recovery point: the
 * candidates for the RPO. uses: the type that reported it; a type that
 * restores, recovers or promotes (is_restore_point) counts as a restore. */
static void collect_point(struct rune_report_walk *w, const struct rune_rec_event *e,
                          const char *rp, const char *uses)
{
    long long ms = rune_report_iso_ms(rp);

    if (ms < 0)
        return;
    json_array_append_new(w->points,
                          json_pack("{s:o, s:o, s:o, s:s, s:I, s:b}", "stage", where_stage(e),
                                    "step", where_step(e), "uses", str_or_null(uses), "at", rp,
                                    "ms", (json_int_t)ms, "restore", is_restore_point(uses)));
}

/* What the log says of a file, merged into w->files[path]: its size and
 * SHA-256 (a step that made or checked it), whether a check verified it,
 * its recovery point. A later statement wins over an earlier one. The
 * values are new references (NULL: not said), taken over. */
static void file_fact(struct rune_report_walk *w, const char *path, json_t *bytes, json_t *sha,
                      json_t *verified, json_t *rp)
{
    json_t *f;

    if (!path)
        goto out;
    f = json_object_get(w->files, path);
    if (!f) {
        f = json_pack("{s:n, s:n, s:n, s:n}", "bytes", "sha256", "verified", "recovery_point");
        json_object_set_new(w->files, path, f);
    }
    if (json_is_integer(bytes))
        json_object_set(f, "bytes", bytes);
    if (json_is_string(sha))
        json_object_set(f, "sha256", sha);
    if (json_is_boolean(verified))
        json_object_set(f, "verified", verified);
    if (json_is_string(rp))
        json_object_set(f, "recovery_point", rp);
out:
    json_decref(bytes);
    json_decref(sha);
    json_decref(verified);
    json_decref(rp);
}

/* The files a successful step tells of: those it made (artifacts), the
 * backup backup.verify checked (path, ok, bytes, sha256), and each backup
 * backup.list saw ({path, bytes, verified}). */
static void collect_files(struct rune_report_walk *w, const struct rune_rec_event *e,
                          const char *uses)
{
    struct rune_rec_artifact f;
    json_t *o = e->outputs, *b;
    size_t i;

    for (size_t k = 0; rune_record_event_artifact(e, k, &f); k++)
        file_fact(w, f.path, f.bytes == RUNE_REC_NONE ? NULL : json_integer(f.bytes),
                  f.sha256 ? json_string(f.sha256) : NULL, NULL,
                  k == 0 && rune_record_recovery_point(e)
                      ? json_string(rune_record_recovery_point(e))
                      : NULL);
    if (same(uses, "backup.verify"))
        file_fact(w, rune_report_str(o, "path"), json_incref(json_object_get(o, "bytes")),
                  json_incref(json_object_get(o, "sha256")), json_incref(json_object_get(o, "ok")),
                  json_incref(json_object_get(o, "recovery_point")));
    json_array_foreach(json_object_get(o, "backups"), i, b)
        file_fact(w, rune_report_str(b, "path"), json_incref(json_object_get(b, "bytes")), NULL,
                  json_incref(json_object_get(b, "verified")), NULL);
}

/* A successful step of a type that restores, recovers or promotes: what
 * the system may now hold, with the backup it came from (its `backup`
 * output) and its recovery point. */
static void collect_restore(struct rune_report_walk *w, const struct rune_rec_event *e,
                            const char *uses)
{
    if (!is_restore_point(uses))
        return;
    json_array_append_new(w->restores,
                          json_pack("{s:o, s:o, s:s, s:o, s:o, s:o}", "stage", where_stage(e),
                                    "step", where_step(e), "uses", uses, "at", str_or_null(e->at),
                                    "path", str_or_null(rune_report_str(e->outputs, "backup")),
                                    "recovery_point", str_or_null(rune_record_recovery_point(e))));
}

/* An attempt's throughput object: made on first use (borrowed). */
static json_t *throughput_of(json_t *a)
{
    json_t *t = json_object_get(a, "throughput");
    if (!t) {
        t = json_pack("{s:n, s:n, s:n, s:n, s:n, s:n}", "unit", "done", "total", "rate", "size",
                      "size_unit");
        json_object_set_new(a, "throughput", t);
    }
    return t;
}

/* A progress sample: the attempt's figures become the latest sample's
 * (the last one, marked final, is what it ended with). */
static void on_progress(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    char key[512];
    key_of(key, sizeof key, e, true);
    json_t *a = json_object_get(w->open, key);
    if (!a || !e->unit || e->done == RUNE_REC_NONE)
        return;
    json_t *t = throughput_of(a);
    json_object_set_new(t, "unit", json_string(e->unit));
    json_object_set_new(t, "done", json_integer(e->done));
    json_object_set_new(t, "total", num_or_null(e->total));
    json_object_set_new(t, "rate", num_or_null(e->rate));
}

/* The size of an attempt's work (its type's size hook), and, when it
 * reported no progress, its throughput as that size over its duration. */
static void work_of(const struct rune_rec_event *e, json_t *a)
{
    if (!e->work_unit || e->work_size == RUNE_REC_NONE || e->work_size < 0)
        return;
    json_t *t = throughput_of(a);
    json_object_set_new(t, "size", json_integer(e->work_size));
    json_object_set_new(t, "size_unit", json_string(e->work_unit));
    if (json_is_null(json_object_get(t, "rate")) && json_is_null(json_object_get(t, "unit")) &&
        e->duration_ms != RUNE_REC_NONE && e->duration_ms > 0)
        json_object_set_new(
            t, "rate",
            json_integer((json_int_t)((double)e->work_size * 1000.0 / (double)e->duration_ms)));
}

static void on_step_end(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    char key[512];
    json_t *a;

    key_of(key, sizeof key, e, true);
    a = json_object_get(w->open, key);
    if (!a) /* an end without its start: show it all the same */
        a = attempt_new(w, e, NULL);
    set_if(a, "end", e->at);
    json_object_set_new(a, "duration_ms", num_or_null(e->duration_ms));
    set_if(a, "status", e->status_name);
    json_object_set_new(a, "simulated", json_boolean(e->simulated));
    json_object_set_new(a, "plan", str_or_null(e->plan));
    json_object_set_new(a, "error", str_or_null(e->error));
    json_object_del(w->open, key);
    if (!e->simulated)
        work_of(e, a);

    if (rune_event_status_failed(e->status))
        json_array_append_new(
            w->failures,
            json_pack("{s:o, s:o, s:O?, s:O?, s:i, s:o, s:o, s:o, s:o}", "stage", where_stage(e),
                      "step", where_step(e), "uses", json_object_get(a, "uses"), "attempt",
                      json_object_get(a, "attempt"), "attempts", 0, "at", str_or_null(e->at),
                      "status", str_or_null(e->status_name), "error", str_or_null(e->error), "tail",
                      str_or_null(e->tail)));
    if (!json_is_object(e->outputs))
        return;
    collect_verification(w, e, a);
    collect_findings(w, e, a);
    if (e->status == RUNE_ST_OK) {
        collect_artifacts(w, e);
        collect_point(w, e, rune_record_recovery_point(e), rune_report_str(a, "uses"));
        collect_files(w, e, rune_report_str(a, "uses"));
        collect_restore(w, e, rune_report_str(a, "uses"));
    }
}

/* A rune.run call inside a step: only what it declared itself (older
 * logs have nothing here, so they read as before). */
static void on_call_end(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    if (e->status != RUNE_ST_OK)
        return;
    if (e->artifacts)
        collect_artifacts(w, e);
    if (e->recovery_point)
        collect_point(w, e, e->recovery_point, e->uses);
}

static void on_step_skip(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    json_t *a = attempt_new(w, e, NULL);
    set_if(a, "end", e->at);
    set_if(a, "status", e->status_name);
    json_object_set_new(a, "reason", str_or_null(e->reason));
}

static void on_approval(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    json_array_append_new(
        w->approvals, json_pack("{s:o, s:o, s:s, s:o, s:o, s:o, s:b, s:o}", "stage", where_stage(e),
                                "step", where_step(e), "at", e->decided_at ? e->decided_at : e->at,
                                "who", str_or_null(e->who), "how", str_or_null(e->how), "question",
                                str_or_null(e->question), "approved", e->approved == 1, "decision",
                                str_or_null(e->status_name)));
}

static void on_note(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    if (e->text)
        json_array_append_new(w->notes,
                              json_pack("{s:o, s:o, s:o, s:s}", "at", str_or_null(e->at), "stage",
                                        where_stage(e), "step", where_step(e), "text", e->text));
}

/* A post-incident note (rune log note): each member it gives supersedes
 * the one before (an action by its text), with who gave it and when;
 * free notes and participants add up; every note is in the history. */
static void on_postmortem(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    json_t *pm = w->postmortem, *a, *x, *list = json_object_get(pm, "actions");
    static const char *const keys[] = {"root_cause", "contributing", "impact"};
    const char *vals[] = {e->root_cause, e->contributing, e->impact};
    size_t i, k;

    for (i = 0; i < sizeof keys / sizeof *keys; i++)
        if (vals[i])
            json_object_set_new(pm, keys[i],
                                json_pack("{s:s, s:o, s:o}", "text", vals[i], "who",
                                          str_or_null(e->who), "at", str_or_null(e->at)));
    json_array_foreach(e->actions, i, a)
    {
        const char *text = rune_report_str(a, "text");
        if (!text)
            continue;
        json_t *row = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "text", text, "owner",
                                str_or_null(rune_report_str(a, "owner")), "due",
                                str_or_null(rune_report_str(a, "due")), "status",
                                str_or_null(rune_report_str(a, "status")), "who",
                                str_or_null(e->who), "at", str_or_null(e->at));
        bool replaced = false;
        json_array_foreach(list, k, x)
        {
            if (!replaced && same(rune_report_str(x, "text"), text)) {
                json_array_set(list, k, row);
                replaced = true;
            }
        }
        if (!replaced)
            json_array_append(list, row);
        json_decref(row);
    }
    json_array_foreach(e->participants, i, x)
    {
        bool seen = false;
        json_array_foreach(json_object_get(pm, "participants"), k, a) seen |= json_equal(a, x);
        if (json_is_string(x) && !seen)
            json_array_append(json_object_get(pm, "participants"), x);
    }
    if (e->text)
        json_array_append_new(json_object_get(pm, "notes"),
                              json_pack("{s:s, s:o, s:o}", "text", e->text, "who",
                                        str_or_null(e->who), "at", str_or_null(e->at)));
    json_array_append_new(json_object_get(pm, "history"),
                          json_pack("{s:I, s:o, s:o}", "seq", (json_int_t)e->seq, "who",
                                    str_or_null(e->who), "at", str_or_null(e->at)));
}

/* rune resume took over: who, when, after how long a gap. */
static void on_resume(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    json_array_append_new(
        w->resumes,
        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "at", str_or_null(e->at), "who",
                  str_or_null(e->who), "after", str_or_null(e->after), "gap_ms",
                  e->gap_ms == RUNE_REC_NONE ? json_null() : json_integer(e->gap_ms), "rerun",
                  e->rerun ? json_incref(e->rerun) : json_array(), "orphans_ended",
                  e->orphans_ended ? json_incref(e->orphans_ended) : json_array()));
}

/* The run's start: when the outage began, when someone said so. */
static void on_start(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    if (e->detected_at && rune_report_iso_ms(e->detected_at) >= 0) {
        w->detected_at = e->detected_at;
        w->detected_by = e->detected_by;
    }
}

static void on_end(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    w->end_reason = e->reason;
}

static void on_decision(struct rune_report_walk *w, const struct rune_rec_event *e)
{
    w->decision = e->status_name;
}

/* What each kind of event contributes; kinds not listed (log, call.start,
 * severity) add nothing the incident row does not hold. */
static void (*const handlers[RUNE_EV_NKINDS])(struct rune_report_walk *w,
                                              const struct rune_rec_event *e) = {
    [RUNE_EV_INCIDENT_START] = on_start,     [RUNE_EV_STAGE_START] = on_stage_start,
    [RUNE_EV_STAGE_END] = on_stage_end,      [RUNE_EV_STAGE_SKIP] = on_stage_skip,
    [RUNE_EV_STEP_START] = on_step_start,    [RUNE_EV_STEP_END] = on_step_end,
    [RUNE_EV_STEP_SKIP] = on_step_skip,      [RUNE_EV_CALL_END] = on_call_end,
    [RUNE_EV_APPROVAL] = on_approval,        [RUNE_EV_NOTE] = on_note,
    [RUNE_EV_INCIDENT_END] = on_end,         [RUNE_EV_INCIDENT_DECISION] = on_decision,
    [RUNE_EV_PROGRESS] = on_progress,        [RUNE_EV_INCIDENT_RESUME] = on_resume,
    [RUNE_EV_INCIDENT_NOTE] = on_postmortem,
};

static void walk_events(struct rune_report_walk *w, json_t *events)
{
    size_t i;
    json_t *ev;
    struct rune_rec_event e;

    json_array_foreach(events, i, ev)
    {
        rune_record_decode(ev, &e);
        if (handlers[e.kind])
            handlers[e.kind](w, &e);
    }
}

/* Every attempt row and failure learns how many attempts its step made. */
static void fill_attempts(struct rune_report_walk *w)
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

/* The report's throughput: one row per attempt that reported progress
 * or the size of its work, in timeline order. */
static void collect_throughput(struct rune_report_walk *w)
{
    size_t i, k;
    json_t *s, *a;

    json_array_foreach(w->stages, i, s)
    {
        json_array_foreach(json_object_get(s, "steps"), k, a)
        {
            json_t *t = json_object_get(a, "throughput");
            if (!t)
                continue;
            json_t *row = json_pack(
                "{s:O, s:O, s:O, s:O, s:O, s:O}", "stage", json_object_get(s, "stage"), "step",
                json_object_get(a, "step"), "uses", json_object_get(a, "uses"), "attempt",
                json_object_get(a, "attempt"), "status", json_object_get(a, "status"),
                "duration_ms", json_object_get(a, "duration_ms"));
            json_object_update(row, t);
            json_array_append_new(w->throughput, row);
        }
    }
}

void rune_report_walk_free(struct rune_report_walk *w)
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
    json_decref(w->throughput);
    json_decref(w->resumes);
    json_decref(w->restores);
    json_decref(w->files);
    json_decref(w->postmortem);
}

/* The stage a step ran in, from the timeline; NULL if it never started. */
static json_t *stage_of_step(struct rune_report_walk *w, const char *step)
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
static void table_artifacts(struct rune_report_walk *w, json_t *rows)
{
    size_t i;
    json_t *r;
    struct rune_rec_artifact a;
    if (!json_array_size(rows))
        return;
    json_array_clear(w->artifacts);
    json_array_foreach(rows, i, r)
    {
        rune_record_artifact_decode(r, &a);
        if (!a.path)
            continue;
        json_array_append_new(
            w->artifacts, json_pack("{s:O?, s:o, s:s, s:o, s:o}", "stage", stage_of_step(w, a.step),
                                    "step", str_or_null(a.step), "path", a.path, "sha256",
                                    str_or_null(a.sha256), "bytes", num_or_null(a.bytes)));
    }
}

void rune_report_walk(struct rune_report_walk *w, json_t *events, json_t *artifact_rows)
{
    *w = (struct rune_report_walk){
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
        .throughput = json_array(),
        .resumes = json_array(),
        .restores = json_array(),
        .files = json_object(),
        .postmortem =
            json_pack("{s:n, s:n, s:n, s:[], s:[], s:[], s:[]}", "root_cause", "contributing",
                      "impact", "actions", "participants", "notes", "history"),
    };
    walk_events(w, events);
    fill_attempts(w);
    collect_throughput(w);
    table_artifacts(w, artifact_rows);
}
