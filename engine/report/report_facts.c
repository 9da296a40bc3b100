/*
 * report_facts.c — the sections of a report that say what the incident
 * came to: what happened and its key facts, the objectives (RTO, RPO,
 * downtime and what they run from), the backup the system was restored
 * from, and the incident's record (the metadata table). Drawn from the
 * report object alone, through the format's pen, like every section
 * (report_sections.c holds their order).
 */
#include <stdlib.h>
#include <string.h>

#include "report_draw.h"

/* ---- Summary and objectives ---- */

void rune_report_draw_summary(struct rune_report_doc *d, json_t *rep)
{
    json_t *inc = json_object_get(rep, "incident"), *ch = json_object_get(rep, "chain");
    json_t *code = json_object_get(inc, "exit_code");
    char buf[32];

    table(d, RUNE_TABLE_KV, NULL, 2);
    kv(d, "Incident", str(inc, "id"), true);
    kv(d, "Runbook", str(inc, "runbook"), false);
    kv(d, "Runbook file", str(inc, "runbook_path"), true);
    kv(d, "Runbook SHA-256", str(inc, "runbook_sha256"), true);
    kv_name(d, "Mode");
    if (d->sim)
        word(d, RUNE_WORD_MODE_SIM);
    else
        put(d, "real run");
    kv_end(d);
    kv(d, "Operator", str(inc, "operator"), false);
    kv(d, "Host", str(inc, "host"), false);
    if (str(inc, "detected_at")) {
        kv_name(d, "Outage began (UTC)");
        d->pen->text(d, str(inc, "detected_at"));
        put(d, " (");
        d->pen->code(d, str(inc, "detected_by"));
        put(d, ")");
        kv_end(d);
    }
    kv(d, "Started (UTC)", str(inc, "started_at"), false);
    kv_name(d, "Ended (UTC)");
    if (str(inc, "ended_at")) {
        d->pen->text(d, str(inc, "ended_at"));
        put(d, " (took ");
        put_duration(d, json_object_get(inc, "duration_ms"));
        put(d, ")");
    } else {
        put(d, "not recorded (still running, or rune was stopped)");
    }
    kv_end(d);
    kv_name(d, "Outcome");
    if (d->sim)
        word(d, RUNE_WORD_OUTCOME_SIM);
    json_t *ab = json_object_get(inc, "abandoned");
    if (ab) {
        char line[512];
        d->pen->status(d, "abandoned", false);
        snprintf(line, sizeof line,
                 " — the rune running it (pid %lld on %s) is gone; it reached step %s (%s); "
                 "`%s` continues it",
                 (long long)json_integer_value(json_object_get(ab, "pid")), str(ab, "host"),
                 str(ab, "last_step") ? str(ab, "last_step") : "-",
                 str(ab, "last_stage") ? str(ab, "last_stage") : "-", str(ab, "hint"));
        d->pen->text(d, line);
    } else {
        d->pen->status(d, str(inc, "outcome"), false);
    }
    if (str(inc, "reason")) {
        word(d, RUNE_WORD_SEP);
        d->pen->text(d, str(inc, "reason"));
    }
    kv_end(d);
    snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(code));
    kv(d, "Exit code", json_is_integer(code) ? buf : NULL, false);
    size_t ri;
    json_t *res;
    json_array_foreach(json_object_get(inc, "resumed"), ri, res)
    {
        char line[512], gap[32] = "?";
        json_t *g = json_object_get(res, "gap_ms");
        if (json_is_integer(g))
            rune_duration_str(json_integer_value(g), gap, sizeof gap);
        snprintf(line, sizeof line,
                 "at %s by %s, after a gap of %s (rune died; its last event was at %s); %zu "
                 "step%s run again, %zu child process group%s ended first",
                 str(res, "at") ? str(res, "at") : "?", str(res, "who") ? str(res, "who") : "?",
                 gap, str(res, "after") ? str(res, "after") : "?",
                 json_array_size(json_object_get(res, "rerun")),
                 json_array_size(json_object_get(res, "rerun")) == 1 ? "" : "s",
                 json_array_size(json_object_get(res, "orphans_ended")),
                 json_array_size(json_object_get(res, "orphans_ended")) == 1 ? "" : "s");
        kv(d, "Resumed", line, false);
    }
    kv(d, "Severity", str(inc, "severity"), false);
    kv(d, "rune", str(inc, "rune_version"), false);
    kv_name(d, "Incident log chain");
    if (json_is_true(json_object_get(ch, "verified"))) {
        word(d, RUNE_WORD_CHAIN_OK);
        fprintf(d->f, " (%lld events)",
                (long long)json_integer_value(json_object_get(ch, "events")));
    } else {
        word(d, RUNE_WORD_CHAIN_BROKEN);
        d->pen->text(d, str(ch, "message"));
        word(d, RUNE_WORD_CHAIN_BROKEN_END);
    }
    kv_end(d);
    kv(d, "Head hash", str(ch, "head_hash"), true);
    json_t *linked = json_object_get(ch, "linked_to"), *head = json_object_get(ch, "log_head");
    if (linked) {
        char l[128];
        snprintf(l, sizeof l, "incident %s, event %lld", str(linked, "incident"),
                 (long long)json_integer_value(json_object_get(linked, "seq")));
        kv(d, "Linked to", l, true);
    }
    if (head) {
        char l[160];
        snprintf(l, sizeof l, "%s (incident %s, event %lld)", str(head, "hash"),
                 str(head, "incident"),
                 (long long)json_integer_value(json_object_get(head, "seq")));
        kv(d, "Log head", l, true);
    }
    table_end(d);
}

/* none: what to say when nothing was achieved ("not achieved", "unknown");
 * when_key, when: the member giving the moment it was measured at, and the
 * words before it. */
static void objective(struct rune_report_doc *d, const char *name, json_t *o, const char *none,
                      const char *when_key, const char *when)
{
    json_t *t = json_object_get(o, "target_s"), *ms = json_object_get(o, "achieved_ms");
    json_t *met = json_object_get(o, "met");
    char buf[32];

    kv_name(d, name);
    put(d, json_is_integer(t) ? rune_duration_str(json_integer_value(t) * 1000, buf, sizeof buf)
                              : "none");
    end(d, RUNE_PART_CELL);
    begin(d, RUNE_PART_CELL);
    put(d, json_is_integer(ms) ? rune_duration_str(json_integer_value(ms), buf, sizeof buf) : none);
    end(d, RUNE_PART_CELL);
    begin(d, RUNE_PART_CELL);
    if (!json_is_boolean(met) && json_is_integer(t))
        put(d, "n/a"); /* a target, but nothing to hold it against (nothing restored) */
    else
        word(d, !json_is_boolean(met) ? RUNE_WORD_MET_NONE
                : json_is_true(met)   ? RUNE_WORD_MET_YES
                                      : RUNE_WORD_MET_NO);
    end(d, RUNE_PART_CELL);
    begin(d, RUNE_PART_CELL);
    d->pen->text(d, str(o, "basis"));
    if (str(o, when_key)) {
        put(d, when);
        d->pen->text(d, str(o, when_key));
    }
    kv_end(d);
}

/* Downtime has no target: its row says how long, and how it was found. */
static void downtime_row(struct rune_report_doc *d, json_t *o)
{
    json_t *ms = json_object_get(o, "ms");
    char buf[32];

    kv_name(d, "Downtime");
    put(d, "none");
    end(d, RUNE_PART_CELL);
    begin(d, RUNE_PART_CELL);
    if (json_is_integer(ms) && json_is_true(json_object_get(o, "ongoing")))
        put(d, "at least ");
    put(d, json_is_integer(ms) ? rune_duration_str(json_integer_value(ms), buf, sizeof buf)
                               : "unknown");
    end(d, RUNE_PART_CELL);
    begin(d, RUNE_PART_CELL);
    word(d, RUNE_WORD_MET_NONE);
    end(d, RUNE_PART_CELL);
    begin(d, RUNE_PART_CELL);
    d->pen->text(d, str(o, "basis"));
    kv_end(d);
}

/* What every figure runs from: the outage's start when it was given,
 * else rune's start, said so that nobody reads a run's length as an
 * outage's. */
static void measured_from(struct rune_report_doc *d, json_t *rep)
{
    json_t *inc = json_object_get(rep, "incident");

    begin(d, RUNE_PART_QUIET);
    if (str(inc, "detected_at")) {
        put(d, "RTO, RPO and downtime run from when the outage began, ");
        d->pen->text(d, str(inc, "detected_at"));
        put(d, " (given with ");
        d->pen->code(d, str(inc, "detected_by"));
        put(d, ").");
    } else {
        put(d, "RTO, RPO and downtime run from rune's start, ");
        d->pen->text(d, str(inc, "started_at"));
        put(d, ": no detection time was given (");
        d->pen->code(d, "rune run --detected-at TIME");
        put(d, "), so the time before rune ran is not in them.");
    }
    end(d, RUNE_PART_QUIET);
}

void rune_report_draw_objectives(struct rune_report_doc *d, json_t *rep)
{
    static const char *const cols[] = {"objective", "target", "achieved", "met", "how"};
    json_t *ob = json_object_get(rep, "objectives");

    measured_from(d, rep);
    table(d, RUNE_TABLE_PLAIN, cols, 5);
    objective(d, "RTO", json_object_get(ob, "rto"), "not achieved", "to", "; at ");
    json_t *rpo = json_object_get(ob, "rpo");
    objective(d, "RPO", rpo,
              same(str(rpo, "status"), "nothing_restored") ? "nothing restored" : "unknown",
              "recovery_point", "; recovery point ");
    if (json_object_get(ob, "downtime"))
        downtime_row(d, json_object_get(ob, "downtime"));
    table_end(d);
}

/* The backup the system was restored from, as the log knows it. */
void rune_report_draw_restored(struct rune_report_doc *d, json_t *rep)
{
    json_t *r = json_object_get(rep, "restored_from");
    json_t *bytes = json_object_get(r, "bytes"), *bv = json_object_get(r, "backup_verified");
    char buf[64];

    if (!json_is_object(r)) {
        say(d, "No step restored, recovered or promoted anything.");
        return;
    }
    table(d, RUNE_TABLE_KV, NULL, 2);
    kv(d, "Backup", str(r, "path"), true);
    snprintf(buf, sizeof buf, "%lld bytes", (long long)json_integer_value(bytes));
    kv(d, "Size", json_is_integer(bytes) ? buf : "not recorded", false);
    kv(d, "SHA-256", str(r, "sha256") ? str(r, "sha256") : "not recorded", true);
    kv(d, "Recovery point", str(r, "recovery_point"), false);
    kv(d, "Backup verified",
       !json_is_boolean(bv) ? "not checked by this run"
       : json_is_true(bv)   ? "yes"
                            : "no",
       false);
    kv_name(d, "Restore verified");
    if (json_is_true(json_object_get(r, "undone"))) {
        d->pen->status(d, "undone", true);
        put(d, " — the rollback put the original back");
    } else {
        d->pen->status(d, json_is_true(json_object_get(r, "verified")) ? "yes" : "no",
                       !json_is_true(json_object_get(r, "verified")));
        put(d, json_is_true(json_object_get(r, "verified"))
                   ? " — the verification stage passed after it"
                   : " — the verification stage did not pass after it");
    }
    kv_end(d);
    kv_name(d, "By step");
    d->pen->code(d, str(r, "step"));
    put(d, " (");
    d->pen->text(d, str(r, "uses"));
    put(d, ", ");
    d->pen->text(d, str(r, "stage"));
    put(d, ")");
    kv_end(d);
    table_end(d);
}

/* ---- What happened: the story and the key facts ---- */

/* "10m00s (target 5m00s, missed)" for an objective's cell. */
static void objective_cell(struct rune_report_doc *d, const char *name, json_t *o, const char *none)
{
    json_t *ms = json_object_get(o, "achieved_ms"), *t = json_object_get(o, "target_s");
    json_t *met = json_object_get(o, "met");
    char buf[32];

    kv_name(d, name);
    put(d, json_is_integer(ms) ? rune_duration_str(json_integer_value(ms), buf, sizeof buf) : none);
    if (json_is_integer(t)) {
        put(d, " against a target of ");
        put(d, rune_duration_str(json_integer_value(t) * 1000, buf, sizeof buf));
        put(d, ", met: ");
        if (json_is_boolean(met))
            word(d, json_is_true(met) ? RUNE_WORD_MET_YES : RUNE_WORD_MET_NO);
        else
            put(d, "n/a");
    }
    kv_end(d);
}

static void approver(struct rune_report_doc *d, json_t *a, bool first)
{
    if (!first)
        put(d, "; ");
    d->pen->text(d, str(a, "who") ? str(a, "who") : "?");
    put(d, " (");
    d->pen->text(d, str(a, "how"));
    put(d, json_is_true(json_object_get(a, "approved")) ? ", approved" : ", declined");
    put(d, ")");
}

void rune_report_draw_story(struct rune_report_doc *d, json_t *rep)
{
    json_t *k = json_object_get(rep, "key_facts"), *dt = json_object_get(k, "downtime");
    json_t *used = json_object_get(k, "recovery_used"), *ap = json_object_get(k, "approved_by");
    json_t *ms = json_object_get(dt, "ms"), *a;
    char buf[32];
    size_t i;

    begin(d, RUNE_PART_PARA);
    d->pen->text(d, str(rep, "story"));
    end(d, RUNE_PART_PARA);
    table(d, RUNE_TABLE_KV, NULL, 2);
    kv_name(d, "Outcome");
    if (d->sim)
        word(d, RUNE_WORD_OUTCOME_SIM);
    d->pen->status(d, str(k, "outcome"), false);
    if (str(k, "reason")) {
        word(d, RUNE_WORD_SEP);
        d->pen->text(d, str(k, "reason"));
    }
    kv_end(d);
    kv_name(d, "Downtime");
    if (json_is_integer(ms) && json_is_true(json_object_get(dt, "ongoing")))
        put(d, "at least ");
    put(d, json_is_integer(ms) ? rune_duration_str(json_integer_value(ms), buf, sizeof buf)
                               : "unknown");
    put(d, same(str(k, "measured_from"), "detected_at") ? ", from when the outage began"
                                                        : ", from rune's start");
    kv_end(d);
    objective_cell(d, "RTO", json_object_get(k, "rto"), "not achieved");
    json_t *rpo = json_object_get(k, "rpo");
    objective_cell(d, "RPO", rpo,
                   same(str(rpo, "status"), "nothing_restored") ? "nothing restored" : "unknown");
    kv_name(d, "Recovery point used");
    if (!json_is_object(used)) {
        put(d, "none recorded");
    } else {
        if (str(used, "path"))
            d->pen->code(d, str(used, "path"));
        else
            d->pen->text(d, str(used, "step"));
        put(d, str(used, "path") ? " (" : " ");
        put(d, same(str(used, "kind"), "restored") ? "restored by step " : "backup step ");
        d->pen->code(d, str(used, "step"));
        if (str(used, "recovery_point")) {
            put(d, ", recovery point ");
            d->pen->text(d, str(used, "recovery_point"));
        }
        if (str(used, "path"))
            put(d, ")");
        if (json_is_true(json_object_get(used, "undone"))) {
            put(d, " — ");
            d->pen->status(d, "undone", true);
            put(d, " by the rollback");
        }
    }
    kv_end(d);
    kv(d, "Data lost", str(k, "data_lost"), false);
    kv(d, "Ran by", str(k, "ran_by"), false);
    kv_name(d, "Approved by");
    if (!json_array_size(ap))
        put(d, "no approval was asked for");
    json_array_foreach(ap, i, a) approver(d, a, i == 0);
    kv_end(d);
    table_end(d);
}

/* ---- What people noted afterwards (rune log note) ---- */

/* "(carol, 2026-12-02T21:25:01.692Z)" after a noted text. */
static void noted_by(struct rune_report_doc *d, json_t *x)
{
    put(d, " ");
    begin(d, RUNE_PART_MUTED);
    put(d, "(");
    d->pen->text(d, str(x, "who") ? str(x, "who") : "?");
    put(d, ", ");
    put_clock(d, str(x, "at"));
    put(d, ")");
    end(d, RUNE_PART_MUTED);
}

/* A noted text as a paragraph, or room to fill in. */
static void noted(struct rune_report_doc *d, json_t *x, const char *hint)
{
    if (!str(x, "text")) {
        begin(d, RUNE_PART_FILL);
        put(d, "To be filled in: ");
        d->pen->code(d, hint);
        end(d, RUNE_PART_FILL);
        return;
    }
    begin(d, RUNE_PART_PARA);
    d->pen->text(d, str(x, "text"));
    noted_by(d, x);
    end(d, RUNE_PART_PARA);
}

void rune_report_draw_root_cause(struct rune_report_doc *d, json_t *rep)
{
    noted(d, json_object_get(json_object_get(rep, "postmortem"), "root_cause"),
          "rune log note ID --root-cause TEXT");
}

static void action_row(struct rune_report_doc *d, json_t *a)
{
    bool open = !str(a, "status") || !strcmp(str(a, "status"), "open");
    cell(d, str(a, "text"), false);
    cell(d, str(a, "owner"), false);
    cell(d, str(a, "due"), false);
    begin(d, RUNE_PART_CELL);
    d->pen->status(d, str(a, "status") ? str(a, "status") : "open", open);
    end(d, RUNE_PART_CELL);
    cell(d, str(a, "who"), false);
    clock_cell(d, str(a, "at"));
}

/* The follow-up actions: what will keep it from happening again. */
void rune_report_draw_actions(struct rune_report_doc *d, json_t *rep)
{
    static const char *const cols[] = {"action", "owner", "due", "status", "noted by", "when"};
    json_t *list = json_object_get(json_object_get(rep, "postmortem"), "actions");

    if (!json_array_size(list)) {
        begin(d, RUNE_PART_FILL);
        put(d, "To be filled in: ");
        d->pen->code(d, "rune log note ID --action TEXT --owner WHO --due YYYY-MM-DD");
        end(d, RUNE_PART_FILL);
        return;
    }
    rows(d, RUNE_TABLE_PLAIN, cols, 6, list, action_row);
}

static void free_note(struct rune_report_doc *d, json_t *n)
{
    d->pen->text(d, str(n, "text"));
    noted_by(d, n);
}

/* Contributing factors, impact, participants and free notes, and when
 * each note was added (all of them stay in the chain). */
void rune_report_draw_postmortem(struct rune_report_doc *d, json_t *rep)
{
    json_t *pm = json_object_get(rep, "postmortem"), *p, *h;
    size_t i;

    if (!json_array_size(json_object_get(pm, "history"))) {
        say(d, "None yet. `rune log note ID` adds them to the incident's hash chain; the report "
               "is made again with the newest.");
        return;
    }
    begin(d, RUNE_PART_SUBHEAD);
    put(d, "Contributing factors");
    end(d, RUNE_PART_SUBHEAD);
    noted(d, json_object_get(pm, "contributing"), "rune log note ID --contributing TEXT");
    begin(d, RUNE_PART_SUBHEAD);
    put(d, "Impact");
    end(d, RUNE_PART_SUBHEAD);
    noted(d, json_object_get(pm, "impact"), "rune log note ID --impact TEXT");
    begin(d, RUNE_PART_PARA);
    put(d, "Participants: ");
    json_array_foreach(json_object_get(pm, "participants"), i, p)
    {
        if (i)
            put(d, ", ");
        d->pen->text(d, json_string_value(p));
    }
    if (!json_array_size(json_object_get(pm, "participants")))
        put(d, "none noted");
    put(d, ".");
    end(d, RUNE_PART_PARA);
    if (json_array_size(json_object_get(pm, "notes")))
        items(d, json_object_get(pm, "notes"), free_note);
    begin(d, RUNE_PART_QUIET);
    put(d, "Notes recorded (chained in the log after the incident's end):");
    json_array_foreach(json_object_get(pm, "history"), i, h)
    {
        fprintf(d->f, "%s event %lld by ", i ? ";" : "",
                (long long)json_integer_value(json_object_get(h, "seq")));
        d->pen->text(d, str(h, "who") ? str(h, "who") : "?");
        put(d, " at ");
        put_clock(d, str(h, "at"));
    }
    put(d, ".");
    end(d, RUNE_PART_QUIET);
}
