/*
 * report_story.c — the few sentences that open a report, and its key
 * facts: what happened, in the words a manager reads first, before any
 * table. Both are made from the report object alone (report.c builds it
 * from the log), so they cannot say anything the sections below do not
 * show; they only choose and order it.
 */
#include "report_story.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "report.h"

static const char *str(json_t *o, const char *key)
{
    return rune_report_str(o, key);
}

static bool same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* "12:10:19" of an ISO time, or the whole text when it is not one. */
static const char *clock_of(const char *iso, char *buf, size_t len)
{
    if (!iso)
        return "?";
    if (strlen(iso) >= 19 && iso[10] == 'T')
        snprintf(buf, len, "%.8s", iso + 11);
    else
        snprintf(buf, len, "%s", iso);
    return buf;
}

static const char *base_name(const char *path)
{
    const char *s = path ? strrchr(path, '/') : NULL;
    return s ? s + 1 : path;
}

/* A step's error, cut to a sentence's length on a character boundary. */
static void add_error(FILE *f, const char *err)
{
    size_t n = strlen(err), max = 160;
    if (n <= max) {
        fputs(err, f);
        return;
    }
    while (max > 0 && ((unsigned char)err[max] & 0xC0) == 0x80)
        max--;
    fprintf(f, "%.*s…", (int)max, err);
}

json_t *rune_report_first_failure(json_t *rep, const char *stage)
{
    json_t *f;
    size_t i;
    json_array_foreach(json_object_get(rep, "failures"), i, f)
    {
        if (same(str(f, "stage"), stage))
            return f;
    }
    return NULL;
}

json_t *rune_report_stage(json_t *rep, const char *name)
{
    json_t *s, *found = NULL;
    size_t i;
    json_array_foreach(json_object_get(rep, "timeline"), i, s)
    {
        if (same(str(s, "stage"), name))
            found = s;
    }
    return found;
}

/* "5m00s (target 30m00s, met)" or "not achieved (target 5m00s, missed)". */
static void objective_words(FILE *f, json_t *o, const char *none)
{
    json_t *ms = json_object_get(o, "achieved_ms"), *t = json_object_get(o, "target_s");
    json_t *met = json_object_get(o, "met");
    char buf[32];

    fputs(json_is_integer(ms) ? rune_duration_str(json_integer_value(ms), buf, sizeof buf) : none,
          f);
    if (json_is_integer(t))
        fprintf(f, " (target %s, %s)",
                rune_duration_str(json_integer_value(t) * 1000, buf, sizeof buf),
                json_is_true(met)    ? "met"
                : json_is_false(met) ? "missed"
                                     : "n/a");
}

static void tell_detection(FILE *f, json_t *rep, json_t *inc)
{
    json_t *d = rune_report_first_failure(rep, "detection");
    if (d) {
        fprintf(f, " Detection found it: step %s (%s) %s", str(d, "step") ? str(d, "step") : "?",
                str(d, "uses") ? str(d, "uses") : "?", str(d, "status") ? str(d, "status") : "?");
        if (str(d, "error")) {
            fputs(": ", f);
            add_error(f, str(d, "error"));
        }
        fputs(".", f);
    } else if (same(str(inc, "decision"), "no_incident")) {
        fputs(" Detection found no incident.", f);
    }
}

static void tell_recovery(FILE *f, json_t *rep)
{
    json_t *r = json_object_get(rep, "restored_from"), *rb = json_object_get(rep, "rollback");
    json_t *v = rune_report_stage(rep, "verification"),
           *vf = rune_report_first_failure(rep, "verification");
    char t[32];

    if (json_is_object(r)) {
        fprintf(f, " Step %s restored %s", str(r, "step") ? str(r, "step") : "?",
                str(r, "path") ? base_name(str(r, "path")) : "(no backup recorded)");
        if (str(r, "recovery_point"))
            fprintf(f, " (recovery point %s%s)", clock_of(str(r, "recovery_point"), t, sizeof t),
                    json_is_true(json_object_get(r, "backup_verified")) ? ", backup verified" : "");
        fputs(".", f);
    }
    if (v && same(str(v, "status"), "ok"))
        fputs(" Verification passed.", f);
    else if (v && vf) {
        fprintf(f, " Verification failed at step %s", str(vf, "step") ? str(vf, "step") : "?");
        if (str(vf, "error")) {
            fputs(": ", f);
            add_error(f, str(vf, "error"));
        }
        fputs(".", f);
    } else if (v && str(v, "status"))
        fprintf(f, " Verification ended %s.", str(v, "status"));
    if (json_is_true(json_object_get(rb, "ran")))
        fprintf(f, " The rollback ran and ended %s%s.",
                str(rb, "status") ? str(rb, "status") : "unfinished",
                json_is_true(json_object_get(r, "undone")) ? ": the original is back in place"
                                                           : "");
}

/* The opening paragraph. */
static char *story(json_t *rep)
{
    json_t *inc = json_object_get(rep, "incident"), *ob = json_object_get(rep, "objectives");
    json_t *dt = json_object_get(ob, "downtime"), *rpo = json_object_get(ob, "rpo");
    char *text = NULL, t[32], dur[32];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return NULL;
    if (json_is_true(json_object_get(inc, "simulated")))
        fputs("SIMULATED (a dry-run: nothing was changed). ", f);
    fprintf(f, "%s ran on %s, started by %s at %s UTC on %.10s", str(inc, "runbook"),
            str(inc, "host") ? str(inc, "host") : "?",
            str(inc, "operator") ? str(inc, "operator") : "?",
            clock_of(str(inc, "started_at"), t, sizeof t),
            str(inc, "started_at") ? str(inc, "started_at") : "?");
    if (str(inc, "severity"))
        fprintf(f, " (%s)", str(inc, "severity"));
    fputs(".", f);
    if (str(inc, "detected_at"))
        fprintf(f, " The outage began at %s (%s).", clock_of(str(inc, "detected_at"), t, sizeof t),
                str(inc, "detected_by") ? str(inc, "detected_by") : "given");
    tell_detection(f, rep, inc);
    tell_recovery(f, rep);
    json_t *ab = json_object_get(inc, "abandoned");
    if (ab)
        fprintf(f, " Outcome: abandoned (the rune running it is gone; `%s` continues it)",
                str(ab, "hint") ? str(ab, "hint") : "rune resume");
    else
        fprintf(f, " Outcome: %s", str(inc, "outcome") ? str(inc, "outcome") : "not recorded");
    if (str(inc, "reason"))
        fprintf(f, " (%s)", str(inc, "reason"));
    json_t *ms = json_object_get(dt, "ms");
    if (json_is_integer(ms))
        fprintf(f, "; downtime %s%s",
                json_is_true(json_object_get(dt, "ongoing")) ? "at least " : "",
                rune_duration_str(json_integer_value(ms), dur, sizeof dur));
    fputs(", RTO ", f);
    objective_words(f, json_object_get(ob, "rto"), "not achieved");
    fputs(", RPO ", f);
    objective_words(f, rpo,
                    same(str(rpo, "status"), "nothing_restored") ? "nothing restored" : "unknown");
    fputs(".", f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Data lost, in words: what the RPO means for the people who wrote it. */
static json_t *data_lost(json_t *rpo)
{
    json_t *ms = json_object_get(rpo, "achieved_ms");
    const char *st = str(rpo, "status");
    char buf[32], line[256];

    if (same(st, "nothing_restored"))
        return json_string("none by a restore: the rollback put the original back (what the "
                           "outage itself damaged is still there)");
    if (!json_is_integer(ms))
        return json_string("unknown: no recovery point was recorded");
    if (json_integer_value(ms) == 0)
        return json_string("none: the recovery point is not before the outage began");
    snprintf(line, sizeof line,
             "up to %s of writes before the outage (since the recovery point %s)",
             rune_duration_str(json_integer_value(ms), buf, sizeof buf),
             str(rpo, "recovery_point") ? str(rpo, "recovery_point") : "?");
    return json_string(line);
}

/* Everyone who answered a question, once each, in order. */
static json_t *approvers(json_t *rep)
{
    json_t *out = json_array(), *a, *x;
    size_t i, k;

    json_array_foreach(json_object_get(rep, "approvals"), i, a)
    {
        bool seen = false;
        json_array_foreach(out, k, x) seen |=
            same(str(x, "who"), str(a, "who")) && same(str(x, "how"), str(a, "how")) &&
            json_equal(json_object_get(x, "approved"), json_object_get(a, "approved"));
        if (!seen)
            json_array_append_new(
                out, json_pack("{s:O?, s:O?, s:O?, s:O?}", "who", json_object_get(a, "who"), "how",
                               json_object_get(a, "how"), "approved",
                               json_object_get(a, "approved"), "step", json_object_get(a, "step")));
    }
    return out;
}

static json_t *key_facts(json_t *rep)
{
    json_t *inc = json_object_get(rep, "incident"), *ob = json_object_get(rep, "objectives");
    json_t *rpo = json_object_get(ob, "rpo"), *r = json_object_get(rep, "restored_from");
    json_t *used = json_null();

    if (json_is_object(r))
        used = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:b}", "kind", "restored", "step",
                         json_object_get(r, "step"), "uses", json_object_get(r, "uses"), "path",
                         json_object_get(r, "path"), "recovery_point",
                         json_object_get(r, "recovery_point"), "undone",
                         json_is_true(json_object_get(r, "undone")));
    else if (str(rpo, "recovery_point"))
        used = json_pack("{s:s, s:O?, s:O?, s:n, s:O?, s:b}", "kind", "backup_point", "step",
                         json_object_get(rpo, "step"), "uses", json_object_get(rpo, "uses"), "path",
                         "recovery_point", json_object_get(rpo, "recovery_point"), "undone", 0);
    json_t *outcome = json_object_get(inc, "abandoned")
                          ? json_string("abandoned")
                          : json_incref(json_object_get(inc, "outcome"));
    return json_pack("{s:o?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:o, s:o, s:O?, s:o}", "outcome",
                     outcome, "reason", json_object_get(inc, "reason"), "severity",
                     json_object_get(inc, "severity"), "measured_from",
                     json_object_get(inc, "measured_from"), "downtime",
                     json_object_get(ob, "downtime"), "rto", json_object_get(ob, "rto"), "rpo", rpo,
                     "recovery_used", used, "data_lost", data_lost(rpo), "ran_by",
                     json_object_get(inc, "operator"), "approved_by", approvers(rep));
}

int rune_report_tell(json_t *rep)
{
    char *s = story(rep);
    json_t *k = key_facts(rep);
    int rc = s && k ? 0 : -1;

    if (rc == 0) {
        json_object_set_new(rep, "story", json_string(s));
        json_object_set_new(rep, "key_facts", k);
    } else {
        json_decref(k);
    }
    free(s);
    return rc;
}
