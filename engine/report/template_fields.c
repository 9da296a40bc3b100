/*
 * template_fields.c — the report members templates need in words. A
 * recovery log asks "Verified: Yes / No" and "Size: ___", an incident
 * report a short timeline, a checklist its boxes; a logic-less template
 * can only show values, so they are made here, once, from the report
 * object's other members (never from the log directly, so they cannot
 * say what the sections do not show):
 *
 *   recovery       date, initiated_by, reason, detected_by, severity,
 *                  backup {file, name, timestamp, size, bytes, sha256,
 *                  verified}, times {start, restore_begin, restore_complete,
 *                  verification, end}, total_duration, downtime, rto, rpo,
 *                  rpo_met, data_lost, impact, verified, verified_by
 *   milestones     [{at, time, what}]: the few moments a postmortem lists
 *   actions_taken  [{stage, step, uses, status, time, text}]: what the
 *                  mitigation and rollback did
 *   checklist      {immediate, short_term, long_term}: [{text, done, mark}]
 *                  from the verification steps and the noted actions
 */
#include "template_fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "meter.h"
#include "report.h"
#include "report_story.h"

static const char *str(json_t *o, const char *key)
{
    return rune_report_str(o, key);
}

static bool same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* A JSON string of text that snprintf may have cut inside a UTF-8
 * character (the parts are valid; only a cut tail is not): the cut
 * character goes. Never NULL but when out of memory. */
static json_t *text_of(char *s)
{
    size_t n = strlen(s), k = n;
    while (k > 0 && ((unsigned char)s[k - 1] & 0xC0) == 0x80)
        k--;
    if (k > 0 && ((unsigned char)s[k - 1] & 0x80)) {
        unsigned char lead = (unsigned char)s[k - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (n - (k - 1) < need)
            s[k - 1] = '\0';
    }
    json_t *j = json_string(s);
    return j ? j : json_string("?");
}

/* "00:42:09" of an ISO time; NULL for none. */
static json_t *clock_of(const char *iso)
{
    char buf[16];
    if (!iso || strlen(iso) < 19 || iso[10] != 'T')
        return json_null();
    snprintf(buf, sizeof buf, "%.8s", iso + 11);
    return json_string(buf);
}

/* "2026-12-03 00:42:09 UTC"; NULL for none. */
static json_t *date_of(const char *iso)
{
    char buf[40];
    if (!iso || strlen(iso) < 19 || iso[10] != 'T')
        return json_null();
    snprintf(buf, sizeof buf, "%.10s %.8s UTC", iso, iso + 11);
    return json_string(buf);
}

static json_t *yes_no(json_t *b, const char *unknown)
{
    if (json_is_boolean(b))
        return json_string(json_is_true(b) ? "yes" : "no");
    return unknown ? json_string(unknown) : json_null();
}

static json_t *duration_of(json_t *ms, bool at_least)
{
    char buf[32], line[48];
    if (!json_is_integer(ms))
        return json_null();
    snprintf(line, sizeof line, "%s%s", at_least ? "at least " : "",
             rune_duration_str(json_integer_value(ms), buf, sizeof buf));
    return json_string(line);
}

/* "450ms (target 5m00s, met)", or none's words when nothing was achieved. */
static json_t *objective_of(json_t *o, const char *none)
{
    json_t *ms = json_object_get(o, "achieved_ms"), *t = json_object_get(o, "target_s");
    json_t *met = json_object_get(o, "met");
    char a[32], b[32], line[128];
    const char *got =
        json_is_integer(ms) ? rune_duration_str(json_integer_value(ms), a, sizeof a) : none;
    if (!json_is_integer(t))
        return json_string(got);
    snprintf(line, sizeof line, "%s (target %s, %s)", got,
             rune_duration_str(json_integer_value(t) * 1000, b, sizeof b),
             json_is_true(met)    ? "met"
             : json_is_false(met) ? "missed"
                                  : "n/a");
    return json_string(line);
}

/* The last attempt of step in stage (the one that counts), or NULL. */
static json_t *attempt_of(json_t *rep, const char *stage, const char *step)
{
    json_t *s = rune_report_stage(rep, stage), *a, *found = NULL;
    size_t i;
    json_array_foreach(json_object_get(s, "steps"), i, a)
    {
        if (same(str(a, "step"), step))
            found = a;
    }
    return found;
}

/* Why the recovery ran: what detection found, else the runbook's title. */
static json_t *reason_of(json_t *rep, json_t *inc)
{
    json_t *d = rune_report_first_failure(rep, "detection");
    char line[1024];
    if (d) {
        snprintf(line, sizeof line, "step %s (%s) %s%s%s", str(d, "step") ? str(d, "step") : "?",
                 str(d, "uses") ? str(d, "uses") : "?", str(d, "status") ? str(d, "status") : "?",
                 str(d, "error") ? ": " : "", str(d, "error") ? str(d, "error") : "");
        return text_of(line);
    }
    if (same(str(inc, "decision"), "no_incident"))
        return json_string("none: detection found no incident");
    return json_string(str(inc, "title")     ? str(inc, "title")
                       : str(inc, "runbook") ? str(inc, "runbook")
                                             : "not recorded");
}

/* Who or what noticed: the alerting tool or person given with
 * --detected-at, else rune's detection step that failed, else the operator. */
static json_t *detected_by_of(json_t *rep, json_t *inc)
{
    json_t *d = rune_report_first_failure(rep, "detection");
    char line[512];
    if (str(inc, "detected_by"))
        return json_string(str(inc, "detected_by"));
    if (d) {
        snprintf(line, sizeof line, "rune, step %s (%s)", str(d, "step") ? str(d, "step") : "?",
                 str(d, "uses") ? str(d, "uses") : "?");
        return text_of(line);
    }
    return json_string(str(inc, "operator") ? str(inc, "operator") : "not recorded");
}

static json_t *backup_of(json_t *r)
{
    char amount[32], size[96];
    json_t *bytes = json_object_get(r, "bytes");
    const char *path = str(r, "path"), *slash = path ? strrchr(path, '/') : NULL;

    if (!json_is_object(r))
        return json_null();
    if (json_is_integer(bytes))
        snprintf(
            size, sizeof size, "%s (%" JSON_INTEGER_FORMAT " bytes)",
            rune_meter_amount(json_integer_value(bytes), RUNE_UNIT_BYTES, amount, sizeof amount),
            json_integer_value(bytes));
    else
        snprintf(size, sizeof size, "not recorded");
    return json_pack("{s:O?, s:s?, s:O?, s:s, s:O?, s:O?, s:o}", "file", json_object_get(r, "path"),
                     "name", slash ? slash + 1 : path, "timestamp",
                     json_object_get(r, "recovery_point"), "size", size, "bytes", bytes, "sha256",
                     json_object_get(r, "sha256"), "verified",
                     yes_no(json_object_get(r, "backup_verified"), "not recorded"));
}

/* "alice, by the verification steps counts (sqlite.verify_counts)": who ran
 * the verification and the steps that proved it; NULL when it did not pass. */
static json_t *verified_by_of(json_t *rep, json_t *inc, bool verified)
{
    json_t *v = rune_report_stage(rep, "verification"), *a;
    char *text = NULL;
    size_t len = 0, i, n = 0;
    FILE *f;

    if (!verified || !v || !(f = open_memstream(&text, &len)))
        return json_null();
    fprintf(f, "%s, by the verification steps",
            str(inc, "operator") ? str(inc, "operator") : "rune");
    json_array_foreach(json_object_get(v, "steps"), i, a)
    {
        if (!same(str(a, "status"), "ok") || attempt_of(rep, "verification", str(a, "step")) != a)
            continue;
        fprintf(f, "%s %s (%s)", n++ ? "," : "", str(a, "step") ? str(a, "step") : "?",
                str(a, "uses") ? str(a, "uses") : "?");
    }
    if (fclose(f) != 0) {
        free(text);
        return json_null();
    }
    json_t *s = text_of(text);
    free(text);
    return s;
}

static json_t *recovery(json_t *rep)
{
    json_t *inc = json_object_get(rep, "incident"), *ob = json_object_get(rep, "objectives");
    json_t *kf = json_object_get(rep, "key_facts"), *r = json_object_get(rep, "restored_from");
    json_t *rpo = json_object_get(ob, "rpo"), *dt = json_object_get(ob, "downtime");
    json_t *ra = json_is_object(r) ? attempt_of(rep, str(r, "stage"), str(r, "step")) : NULL;
    json_t *v = rune_report_stage(rep, "verification"), *pm = json_object_get(rep, "postmortem");
    const char *vst = v ? str(v, "status") : NULL;
    bool verified = (same(vst, "ok") || same(vst, "ok_with_failures")) &&
                    !json_is_true(json_object_get(r, "undone"));

    json_t *times =
        json_pack("{s:o, s:o, s:o, s:o, s:o}", "start", clock_of(str(inc, "started_at")),
                  "restore_begin", clock_of(ra ? str(ra, "start") : NULL), "restore_complete",
                  clock_of(ra ? str(ra, "end") : NULL), "verification",
                  clock_of(v ? str(v, "end") : NULL), "end", clock_of(str(inc, "ended_at")));
    return json_pack(
        "{s:o, s:O?, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:O?, s:o, s:s, s:o}",
        "date", date_of(str(inc, "started_at")), "initiated_by", json_object_get(inc, "operator"),
        "reason", reason_of(rep, inc), "detected_by", detected_by_of(rep, inc), "severity",
        str(inc, "severity") ? str(inc, "severity") : "not set", "backup", backup_of(r), "times",
        times, "total_duration", duration_of(json_object_get(inc, "duration_ms"), false),
        "downtime",
        duration_of(json_object_get(dt, "ms"), json_is_true(json_object_get(dt, "ongoing"))), "rto",
        objective_of(json_object_get(ob, "rto"), "not achieved"), "rpo",
        objective_of(rpo,
                     same(str(rpo, "status"), "nothing_restored") ? "nothing restored" : "unknown"),
        "rpo_met", yes_no(json_object_get(rpo, "met"), "n/a"), "data_lost",
        str(kf, "data_lost") ? str(kf, "data_lost") : "unknown", "impact",
        json_object_get(json_object_get(pm, "impact"), "text"), "verified_by",
        verified_by_of(rep, inc, verified), "verified", verified ? "yes" : "no", "outcome",
        json_string(str(kf, "outcome") ? str(kf, "outcome") : "not recorded"));
}

static void milestone(json_t *list, const char *at, const char *fmt, const char *a, const char *b)
{
    char what[512];
    if (!at)
        return;
    snprintf(what, sizeof what, fmt, a ? a : "?", b ? b : "");
    json_array_append_new(
        list, json_pack("{s:s, s:o, s:o}", "at", at, "time", clock_of(at), "what", text_of(what)));
}

/* The moments a postmortem's timeline lists, in the order they happened:
 * the outage's start, rune's, what detection found, each stage's end, the
 * restore, the end. */
static json_t *milestones(json_t *rep)
{
    json_t *inc = json_object_get(rep, "incident"), *r = json_object_get(rep, "restored_from");
    json_t *out = json_array(), *s, *d = rune_report_first_failure(rep, "detection");
    json_t *ra = json_is_object(r) ? attempt_of(rep, str(r, "stage"), str(r, "step")) : NULL;
    size_t i;

    milestone(out, str(inc, "detected_at"), "Outage began (%s)%s",
              str(inc, "detected_by") ? str(inc, "detected_by") : "given", NULL);
    milestone(out, str(inc, "started_at"), "%s started by %s", str(inc, "runbook"),
              str(inc, "operator"));
    if (d)
        milestone(out, str(d, "at"), "Detected: step %s %s", str(d, "step"), str(d, "status"));
    json_array_foreach(json_object_get(rep, "timeline"), i, s)
    {
        if (ra && same(str(s, "stage"), str(r, "stage"))) {
            milestone(out, str(ra, "start"), "Restore of %s began (step %s)", str(r, "path"),
                      str(r, "step"));
            milestone(out, str(ra, "end"), "Restore completed (step %s)%s", str(r, "step"),
                      json_is_true(json_object_get(r, "undone")) ? ", later undone by the rollback"
                                                                 : "");
        }
        if (!same(str(s, "status"), "skipped"))
            milestone(out, str(s, "end"), "Stage %s ended %s", str(s, "stage"), str(s, "status"));
    }
    milestone(out, str(inc, "ended_at"), "Incident ended: %s", str(inc, "outcome"), NULL);
    /* in time order; the stable sort keeps equal times as listed */
    for (size_t a = 1; a < json_array_size(out); a++)
        for (size_t b = a; b > 0; b--) {
            json_t *x = json_array_get(out, b - 1), *y = json_array_get(out, b);
            if (rune_report_iso_ms(str(x, "at")) <= rune_report_iso_ms(str(y, "at")))
                break;
            json_incref(x);
            json_array_remove(out, b - 1);
            json_array_insert_new(out, b, x);
        }
    return out;
}

/* What the mitigation and rollback did: each step's attempt that counts. */
static json_t *actions_taken(json_t *rep)
{
    static const char *const stages[] = {"mitigation", "rollback"};
    json_t *out = json_array(), *a;
    char line[512];
    size_t i;

    for (size_t k = 0; k < 2; k++) {
        json_array_foreach(json_object_get(rune_report_stage(rep, stages[k]), "steps"), i, a)
        {
            if (attempt_of(rep, stages[k], str(a, "step")) != a)
                continue;
            const char *st = rune_report_status(a);
            snprintf(line, sizeof line, "%s: step %s (%s) %s", stages[k],
                     str(a, "step") ? str(a, "step") : "?", str(a, "uses") ? str(a, "uses") : "?",
                     st);
            json_array_append_new(out,
                                  json_pack("{s:s, s:O?, s:O?, s:s, s:o, s:o}", "stage", stages[k],
                                            "step", json_object_get(a, "step"), "uses",
                                            json_object_get(a, "uses"), "status", st, "time",
                                            clock_of(str(a, "start")), "text", text_of(line)));
        }
    }
    return out;
}

static json_t *box(char *text, bool done)
{
    return json_pack("{s:o, s:b, s:s}", "text", text_of(text), "done", done, "mark",
                     done ? "x" : " ");
}

/* The checklist: the verification steps as run (done when they passed and
 * nothing undid them), then the noted actions, short-term when due by the
 * day after the incident ended, long-term when later or undated. */
static json_t *checklist(json_t *rep)
{
    json_t *imm = json_array(), *st = json_array(), *lt = json_array(), *a;
    json_t *inc = json_object_get(rep, "incident");
    bool undone = json_is_true(json_object_get(json_object_get(rep, "restored_from"), "undone"));
    long long end = rune_report_iso_ms(str(inc, "ended_at"));
    char line[1024];
    size_t i;

    json_array_foreach(json_object_get(rune_report_stage(rep, "verification"), "steps"), i, a)
    {
        if (attempt_of(rep, "verification", str(a, "step")) != a)
            continue;
        const char *s = rune_report_status(a);
        snprintf(line, sizeof line, "%s (%s): %s%s", str(a, "step") ? str(a, "step") : "?",
                 str(a, "uses") ? str(a, "uses") : "?", s,
                 undone ? ", undone by the rollback" : "");
        json_array_append_new(imm, box(line, same(s, "ok") && !undone));
    }
    json_array_foreach(json_object_get(json_object_get(rep, "postmortem"), "actions"), i, a)
    {
        const char *due = str(a, "due");
        char day[32];
        snprintf(line, sizeof line, "%s (owner %s, due %s, %s)", str(a, "text"),
                 str(a, "owner") ? str(a, "owner") : "unassigned", due ? due : "no date",
                 str(a, "status") ? str(a, "status") : "open");
        if (due)
            snprintf(day, sizeof day, "%sT00:00:00Z", due);
        long long due_ms = due ? rune_report_iso_ms(day) : -1;
        bool soon = due_ms >= 0 && end >= 0 && due_ms <= end + 24LL * 3600 * 1000;
        json_array_append_new(soon ? st : lt,
                              box(line, !same(str(a, "status"), "open") && str(a, "status")));
    }
    return json_pack("{s:o, s:o, s:o}", "immediate", imm, "short_term", st, "long_term", lt);
}

int rune_report_template_fields(json_t *rep)
{
    json_t *r = recovery(rep), *m = milestones(rep), *t = actions_taken(rep), *c = checklist(rep);
    if (!r || !m || !t || !c) {
        json_decref(r);
        json_decref(m);
        json_decref(t);
        json_decref(c);
        return -1;
    }
    json_object_set_new(rep, "recovery", r);
    json_object_set_new(rep, "milestones", m);
    json_object_set_new(rep, "actions_taken", t);
    json_object_set_new(rep, "checklist", c);
    return 0;
}
