/*
 * report.c — the report of one incident as one JSON object, built from the
 * incident log alone: the incident row, its events in seq order, and the
 * hash chain's verdict (schemas/report.schema.json describes the result).
 *
 * This object is the single source of every format: report_md.c and
 * report_html.c only render it. What the engine records decides what can
 * be shown (docs/architecture.md, "Event kinds"): report_walk.c turns the
 * events, decoded by the record layer, into the timeline, approvals,
 * failures, verification, findings, artifacts, notes and recovery points;
 * this file makes the objectives and the object from them. Secrets were
 * masked before the log stored anything, so nothing here has to mask
 * again; it must not add anything the log does not hold (the runbook
 * file, the clock, the steps' files).
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
#include "record.h"
#include "report_story.h"
#include "report_walk.h"
#include "template_fields.h"

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

/* When the outage began: the time the operator or an alerting tool gave
 * (--detected-at), else rune's start, and the words for it. */
struct began {
    const char *at;
    const char *words; /* "detected" or "rune's start" (basis sentences) */
    bool detected;
};

static struct began began_of(json_t *inc, struct rune_report_walk *w)
{
    if (w->detected_at)
        return (struct began){w->detected_at, "the outage's start (detected_at)", true};
    return (struct began){rune_report_str(inc, "started_at"), "rune's start", false};
}

/* Whether the verification stage passed, and the stage (NULL: none ran). */
static bool verified_stage(json_t *stages, json_t **v)
{
    *v = find_stage(stages, "verification");
    const char *st = *v ? rune_report_str(*v, "status") : NULL;
    return st && (!strcmp(st, "ok") || !strcmp(st, "ok_with_failures"));
}

/* RTO: the outage's start → the end of the verification stage, when it passed. */
static json_t *rto(json_t *inc, json_t *stages, const struct began *b)
{
    json_t *v;
    bool passed = verified_stage(stages, &v);
    const char *st = v ? rune_report_str(v, "status") : NULL;
    const char *to = passed ? rune_report_str(v, "end") : NULL;
    char basis[256];
    json_t *o = objective(inc, "rto_target_s", passed ? span(b->at, to) : -1);

    if (passed)
        snprintf(basis, sizeof basis, "%s to the end of the verification stage (%s)", b->words, st);
    else if (!v)
        snprintf(basis, sizeof basis, "not achieved: no verification stage ran");
    else if (st && !strcmp(st, "skipped"))
        snprintf(basis, sizeof basis, "not achieved: the verification stage was skipped (%s)",
                 rune_report_str(v, "reason") ? rune_report_str(v, "reason") : "no reason");
    else
        snprintf(basis, sizeof basis, "not achieved: the verification stage ended %s",
                 st ? st : "unfinished");
    json_object_set_new(o, "from", str_or_null(b->at));
    json_object_set_new(o, "to", str_or_null(to));
    json_object_set_new(o, "basis", json_string(basis));
    return o;
}

/* Downtime: the outage's start → the service proven back (the end of a
 * passed verification), else → the incident's end, as a lower bound
 * (ongoing: nothing proved it back while rune ran). */
static json_t *downtime(json_t *inc, json_t *stages, const struct began *b)
{
    json_t *v;
    bool back = verified_stage(stages, &v);
    const char *to = back ? rune_report_str(v, "end") : rune_report_str(inc, "ended_at");
    long long ms = span(b->at, to);
    char basis[256];

    if (back)
        snprintf(basis, sizeof basis, "%s until verification proved the service back", b->words);
    else if (to)
        snprintf(basis, sizeof basis,
                 "%s until the incident ended, at least: nothing proved the service back",
                 b->words);
    else
        snprintf(basis, sizeof basis, "unknown: the incident has no recorded end");
    return json_pack("{s:o, s:o, s:o, s:o, s:b, s:s}", "from", str_or_null(b->at), "to",
                     str_or_null(to), "ms", ms >= 0 ? json_integer(ms) : json_null(), "s",
                     ms >= 0 ? json_real((double)ms / 1000.0) : json_null(), "ongoing", !back,
                     "basis", basis);
}

/* How the rollback left the system: NULL when it did not run; else its
 * first action that ended ok (the original put back), or "" when none did
 * (it ran and failed: what the system holds is not known). Borrowed. */
static const char *rolled_back(json_t *stages)
{
    json_t *s = find_stage(stages, "rollback"), *a;
    const char *st = s ? rune_report_str(s, "status") : NULL;
    size_t i;

    if (!s || (st && !strcmp(st, "skipped")))
        return NULL;
    json_array_foreach(json_object_get(s, "steps"), i, a)
    {
        if (same(rune_report_str(a, "status"), "ok") && rune_report_str(a, "step"))
            return rune_report_str(a, "step");
    }
    return "";
}

/* RPO: the outage's start − the recovery point of the state the system
 * ended in: the last restore step's (outside the rollback), else the
 * newest any step reported; nothing restored when the rollback put the
 * original back (its own copy or restore is not a recovery point). */
static json_t *rpo(json_t *inc, json_t *points, const struct began *b, const char *undo)
{
    long long t0 = rune_report_iso_ms(b->at), lost = -1;
    json_t *pick = NULL, *restore = NULL, *newest = NULL, *p;
    const char *status;
    char basis[512];
    size_t i;

    json_array_foreach(points, i, p)
    {
        if (same(rune_report_str(p, "stage"), "rollback"))
            continue;
        if (json_is_true(json_object_get(p, "restore")))
            restore = p; /* in event order: the last restore wins */
        if (!newest || json_integer_value(json_object_get(p, "ms")) >=
                           json_integer_value(json_object_get(newest, "ms")))
            newest = p;
    }
    if (!undo)
        pick = restore ? restore : newest;
    if (pick && t0 >= 0) {
        lost = t0 - json_integer_value(json_object_get(pick, "ms"));
        if (lost < 0) /* taken after the incident began: nothing before it was lost */
            lost = 0;
    }
    json_t *o = objective(inc, "rpo_target_s", lost);
    if (undo && *undo) {
        status = "nothing_restored";
        snprintf(basis, sizeof basis,
                 "nothing restored: the rollback (step %s) put the original back, so the system "
                 "holds what it held before the run",
                 undo);
        json_object_set_new(o, "met", json_null());
    } else if (undo) {
        status = "unknown";
        snprintf(basis, sizeof basis,
                 "unknown: the rollback ran and no action of it succeeded, so what the system "
                 "holds is not known");
    } else if (pick) {
        status = json_is_true(json_object_get(pick, "restore")) ? "restored" : "backup_point";
        snprintf(basis, sizeof basis, "%s minus the recovery point of %s step %s%s", b->words,
                 json_is_true(json_object_get(pick, "restore")) ? "restore" : "backup",
                 rune_report_str(pick, "step") ? rune_report_str(pick, "step") : "-",
                 lost == 0 ? " (taken after the outage began: nothing lost)" : "");
    } else {
        status = "unknown";
        snprintf(basis, sizeof basis, "unknown: no step reported a recovery_point");
    }
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "recovery_point",
                        str_or_null(pick ? rune_report_str(pick, "at") : NULL));
    json_object_set_new(o, "step", str_or_null(pick ? rune_report_str(pick, "step") : NULL));
    json_object_set_new(o, "uses", str_or_null(pick ? rune_report_str(pick, "uses") : NULL));
    json_object_set_new(o, "basis", json_string(basis));
    return o;
}

/* The backup the system was restored from: the last restore step outside
 * the rollback, with what the log says of its file (size, SHA-256, a
 * check that verified it); verified when the verification stage passed
 * after it and no rollback undid it. NULL when nothing was restored. */
static json_t *restored_from(struct rune_report_walk *w, const char *undo)
{
    json_t *r = NULL, *x, *v, *f;
    size_t i;

    json_array_foreach(w->restores, i, x)
    {
        if (!same(rune_report_str(x, "stage"), "rollback"))
            r = x;
    }
    if (!r)
        return NULL;
    f = rune_report_str(r, "path") ? json_object_get(w->files, rune_report_str(r, "path")) : NULL;
    json_t *rp = json_object_get(r, "recovery_point");
    if (json_is_null(rp) && f)
        rp = json_object_get(f, "recovery_point");
    bool passed = verified_stage(w->stages, &v);
    return json_pack("{s:O, s:O, s:O, s:O, s:O, s:O?, s:O?, s:O?, s:O?, s:b, s:b}", "stage",
                     json_object_get(r, "stage"), "step", json_object_get(r, "step"), "uses",
                     json_object_get(r, "uses"), "at", json_object_get(r, "at"), "path",
                     json_object_get(r, "path"), "bytes", f ? json_object_get(f, "bytes") : NULL,
                     "sha256", f ? json_object_get(f, "sha256") : NULL, "recovery_point", rp,
                     "backup_verified", f ? json_object_get(f, "verified") : NULL, "verified",
                     passed && !undo, "undone", undo && *undo);
}

/* Verification results of the stages a rollback reverses (mitigation's
 * and verification's) no longer describe the system once it put the
 * original back: each says whether it was undone. */
static void mark_undone(json_t *verify, const char *undo)
{
    json_t *v;
    size_t i;

    json_array_foreach(verify, i, v)
    {
        const char *st = rune_report_str(v, "stage");
        json_object_set_new(
            v, "undone",
            json_boolean(undo && *undo && (same(st, "mitigation") || same(st, "verification"))));
    }
}

static json_t *summary(json_t *inc, struct rune_report_walk *w)
{
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
    json_object_set_new(o, "reason", str_or_null(w->end_reason));
    json_object_set_new(o, "decision", str_or_null(w->decision));
    struct began b = began_of(inc, w);
    json_object_set_new(o, "detected_at", str_or_null(w->detected_at));
    json_object_set_new(o, "detected_by", str_or_null(w->detected_by));
    json_object_set_new(o, "measured_from", json_string(b.detected ? "detected_at" : "rune_start"));
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

/* An unfinished incident whose rune is gone: who ran it, the step it
 * reached and what to do (NULL when it ended, runs, or cannot be told). */
static json_t *abandoned_of(struct rune_journal *j, json_t *inc)
{
    struct rune_runner rr;
    if (rune_record_run_state(j, inc, &rr) != RUNE_RUN_ABANDONED)
        return NULL;
    char hint[128];
    snprintf(hint, sizeof hint, "rune resume %s", rune_report_str(inc, "id"));
    return json_pack("{s:I, s:s, s:s?, s:s?, s:s?, s:s}", "pid", (json_int_t)rr.pid, "host",
                     rr.host, "last_stage", rr.last_stage[0] ? rr.last_stage : NULL, "last_step",
                     rr.last_step[0] ? rr.last_step : NULL, "last_event_at",
                     rr.last_at[0] ? rr.last_at : NULL, "hint", hint);
}

static json_t *chain(struct rune_journal *j, const char *id, char *err, size_t errlen)
{
    struct rune_chain_result res;
    int rc = rune_journal_verify(j, id, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s", rune_journal_error(j));
        return NULL;
    }
    json_t *o =
        json_pack("{s:b, s:I, s:o, s:o, s:o, s:o}", "verified", res.problem == RUNE_CHAIN_INTACT,
                  "events", (json_int_t)res.events, "head_hash",
                  res.head_hash[0] ? json_string(res.head_hash) : json_null(), "problem",
                  res.problem ? json_string(rune_chain_problem_name(res.problem)) : json_null(),
                  "seq", res.problem && res.seq ? json_integer(res.seq) : json_null(), "message",
                  res.problem ? json_string(res.message) : json_null());
    /* only logs written since incidents are linked say where the incident
     * hangs and what the log's head is: older reports read as they did */
    struct rune_log_head h;
    if (o && res.linked_to[0]) {
        json_object_set_new(
            o, "linked_to",
            json_pack("{s:s, s:I}", "incident", res.linked_to, "seq", (json_int_t)res.linked_seq));
        if (rune_journal_head(j, &h) == 0)
            json_object_set_new(o, "log_head",
                                json_pack("{s:s, s:s, s:I}", "hash", h.hash, "incident", h.incident,
                                          "seq", (json_int_t)h.seq));
    }
    return o;
}

int rune_report_build(struct rune_journal *j, const char *incident_id, json_t **out, char *err,
                      size_t errlen)
{
    struct rune_report_walk w = {0};
    json_t *inc = rune_journal_get(j, incident_id), *ch = NULL, *rep = NULL, *abandoned = NULL;
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
    abandoned = abandoned_of(j, inc);
    rune_report_walk(&w, json_object_get(inc, "events"), json_object_get(inc, "artifacts"));
    json_t *inputs = json_object_get(inc, "inputs");
    struct began b = began_of(inc, &w);
    const char *undo = rolled_back(w.stages);
    json_t *from = restored_from(&w, undo);
    mark_undone(w.verify, undo);
    rep = json_pack(
        "{s:i, s:s, s:o, s:{s:o, s:o, s:o}, s:O?, s:O?, s:O?, s:o, s:O?, s:O?, s:O?, s:O?, s:o, "
        "s:o, s:s, s:s}",
        "report_version", RUNE_REPORT_VERSION, "generator", "rune " RUNE_VERSION, "incident",
        summary(inc, &w), "objectives", "rto", rto(inc, w.stages, &b), "rpo",
        rpo(inc, w.points, &b, undo), "downtime", downtime(inc, w.stages, &b), "timeline", w.stages,
        "approvals", w.approvals, "failures", w.failures, "rollback", rollback(w.stages),
        "verification", w.verify, "findings", w.findings, "artifacts", w.artifacts, "notes",
        w.notes, "inputs", json_is_object(inputs) ? json_incref(inputs) : json_object(), "chain",
        json_incref(ch), "root_cause", "", "preventive_measures", "");
    if (!rep) {
        json_decref(from);
        snprintf(err, errlen,
                 "no memory to build the report of incident %s: free memory on this host",
                 incident_id);
        goto out;
    }
    json_object_set_new(rep, "restored_from", from ? from : json_null());
    /* what people noted afterwards (rune log note); the newest root cause
     * is also the report's root_cause, which was always there to fill */
    json_object_set(rep, "postmortem", w.postmortem);
    json_t *rc_note = json_object_get(w.postmortem, "root_cause");
    if (rune_report_str(rc_note, "text"))
        json_object_set_new(rep, "root_cause", json_string(rune_report_str(rc_note, "text")));
    /* only for a resumed run: who took it over, after what gap */
    if (json_array_size(w.resumes))
        json_object_set(json_object_get(rep, "incident"), "resumed", w.resumes);
    /* only for a run whose rune is gone: every other report reads as it did */
    if (abandoned) {
        json_object_set(json_object_get(rep, "incident"), "abandoned", abandoned);
    }
    /* the story and key facts open the object, as they open every format */
    json_t *told = json_pack("{s:O, s:O}", "report_version", json_object_get(rep, "report_version"),
                             "generator", json_object_get(rep, "generator"));
    if (!told || rune_report_tell(rep) != 0 ||
        json_object_set(told, "story", json_object_get(rep, "story")) != 0 ||
        json_object_set(told, "key_facts", json_object_get(rep, "key_facts")) != 0 ||
        json_object_update(told, rep) != 0) {
        json_decref(told);
        json_decref(rep);
        rep = NULL;
        snprintf(err, errlen,
                 "no memory to build the report of incident %s: free memory on this host",
                 incident_id);
        goto out;
    }
    json_decref(rep);
    rep = told;
    /* only when some step reported it: older logs read as they did */
    if (json_array_size(w.throughput))
        json_object_set(rep, "throughput", w.throughput);
    /* what templates show in words (template_fields.c), after the rest */
    if (rune_report_template_fields(rep) != 0) {
        json_decref(rep);
        rep = NULL;
        snprintf(err, errlen,
                 "no memory to build the report of incident %s: free memory on this host",
                 incident_id);
        goto out;
    }
    *out = rep;
    rc = 0;
out:
    json_decref(abandoned);
    json_decref(ch);
    json_decref(inc);
    rune_report_walk_free(&w);
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
    {"md", "Markdown, for the incident ticket or the wiki", rune_report_md, NULL},
    {"html", "one self-contained page with a timeline chart, printable", rune_report_html, NULL},
    {"json", "the data every format is rendered from (schemas/report.schema.json)",
     rune_report_json, NULL},
    {"pdf", "the HTML page printed by headless Chromium (needs chromium installed)", NULL,
     rune_report_pdf},
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
    return rune_report_save_bytes(path, text, strlen(text), err, errlen);
}

int rune_report_save_bytes(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
    size_t n = strlen(path);
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
