/*
 * report_md.c — the Markdown form of an incident report, rendered from the
 * report object alone (report.c builds it from the incident log). It adds
 * no fact of its own: every line is a member of that object, formatted.
 *
 * Recorded text comes from runbooks and child processes, so it is escaped
 * for where it lands: table cells lose their pipes, newlines and markup
 * (`<` `>` `&` as entities), code blocks get a fence longer than any run of
 * backticks inside them, and control characters become `?`.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

static const char *str(json_t *o, const char *key)
{
    return rune_report_str(o, key);
}

/* Text inside a table cell or a line: one line, no markup. */
static void put_text(FILE *f, const char *s)
{
    if (!s || !*s) {
        fputs("-", f);
        return;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '|':
            fputs("\\|", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '`':
            fputs("\\`", f);
            break;
        case '*':
            fputs("\\*", f);
            break;
        case '\n':
        case '\t':
            fputc(' ', f);
            break;
        default:
            fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
        }
    }
}

/* A code span for identifiers, paths and hashes: the text between
 * backticks, with a longer fence when it holds backticks itself. */
static void put_code(FILE *f, const char *s)
{
    if (!s || !*s) {
        fputs("-", f);
        return;
    }
    bool tick = strchr(s, '`') != NULL;
    fputs(tick ? "`` " : "`", f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(c < 0x20 || c == 0x7f ? '?' : c == '|' ? '/' : c, f);
    }
    fputs(tick ? " ``" : "`", f);
}

/* A fenced block (output tails, errors over several lines). */
static void put_block(FILE *f, const char *s)
{
    size_t run = 0, longest = 0;
    for (const char *p = s; *p; p++) {
        run = *p == '`' ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    int fence = longest >= 3 ? (int)longest + 1 : 3;
    fprintf(f, "%.*s\n", fence, "````````````````````````````````````````````````````````````");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(c < 0x20 && c != '\n' && c != '\t' ? '?' : c == 0x7f ? '?' : c, f);
    }
    if (s[-1] != '\n')
        fputc('\n', f);
    fprintf(f, "%.*s\n\n", fence, "````````````````````````````````````````````````````````````");
}

/* The time of day of an ISO time ("12:15:24.101"); the whole text when it
 * is on another day than `day` or is not a time. */
static const char *clock_of(const char *iso, const char *day, char *buf, size_t len)
{
    if (!iso)
        return "-";
    if (day && strlen(iso) >= 23 && !strncmp(iso, day, 10)) {
        snprintf(buf, len, "%.12s", iso + 11);
        return buf;
    }
    return iso;
}

static const char *yes_no(json_t *met)
{
    return json_is_boolean(met) ? (json_is_true(met) ? "**yes**" : "**NO**") : "n/a (no target)";
}

static const char *target_str(json_t *o, char *buf, size_t len)
{
    json_t *t = json_object_get(o, "target_s");
    return json_is_integer(t) ? rune_duration_str(json_integer_value(t) * 1000, buf, len) : "none";
}

/* ---- Sections ---- */

static void banner(FILE *f, bool sim)
{
    if (sim)
        fputs("> **SIMULATED — this is a dry-run (`rune plan`), not an incident. Nothing was "
              "changed; the times, outcome and objectives below are those of the "
              "simulation.**\n\n",
              f);
}

/* A section heading; in a dry-run's report every one says SIMULATED. */
static void heading(FILE *f, const char *title, bool sim)
{
    fprintf(f, "## %s%s\n\n", title, sim ? " (SIMULATED)" : "");
}

static void row(FILE *f, const char *name, const char *value)
{
    fprintf(f, "| %s | ", name);
    put_text(f, value);
    fputs(" |\n", f);
}

static void row_code(FILE *f, const char *name, const char *value)
{
    fprintf(f, "| %s | ", name);
    put_code(f, value);
    fputs(" |\n", f);
}

static void section_summary(FILE *f, json_t *rep, bool sim)
{
    json_t *inc = json_object_get(rep, "incident"), *ch = json_object_get(rep, "chain");
    char buf[512], d[32];

    heading(f, "Summary", sim);
    fputs("| | |\n|---|---|\n", f);
    row_code(f, "Incident", str(inc, "id"));
    row(f, "Runbook", str(inc, "runbook"));
    row_code(f, "Runbook file", str(inc, "runbook_path"));
    row_code(f, "Runbook SHA-256", str(inc, "runbook_sha256"));
    fprintf(f, "| Mode | %s |\n",
            sim ? "**SIMULATED** (dry-run: nothing was changed)" : "real run");
    row(f, "Operator", str(inc, "operator"));
    row(f, "Host", str(inc, "host"));
    row(f, "Started (UTC)", str(inc, "started_at"));
    if (str(inc, "ended_at")) {
        snprintf(buf, sizeof buf, "%s (took %s)", str(inc, "ended_at"),
                 rune_report_duration(json_object_get(inc, "duration_ms"), d, sizeof d));
        row(f, "Ended (UTC)", buf);
    } else {
        row(f, "Ended (UTC)", "not recorded (still running, or rune was stopped)");
    }
    snprintf(buf, sizeof buf, "%s%s%s%s", sim ? "SIMULATED: " : "",
             str(inc, "outcome") ? str(inc, "outcome") : "unfinished",
             str(inc, "reason") ? " — " : "", str(inc, "reason") ? str(inc, "reason") : "");
    row(f, "Outcome", buf);
    json_t *code = json_object_get(inc, "exit_code");
    snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(code));
    row(f, "Exit code", json_is_integer(code) ? buf : NULL);
    row(f, "Severity", str(inc, "severity"));
    row(f, "rune", str(inc, "rune_version"));
    fputs("| Incident log chain | ", f);
    if (json_is_true(json_object_get(ch, "verified")))
        fprintf(f, "verified (%lld events) |\n",
                (long long)json_integer_value(json_object_get(ch, "events")));
    else {
        fputs("**NOT VERIFIED — ", f);
        put_text(f, str(ch, "message"));
        fputs("** |\n", f);
    }
    row_code(f, "Head hash", str(ch, "head_hash"));
    fputc('\n', f);
}

/* none: what to say when nothing was achieved ("not achieved", "unknown"). */
static void objective_row(FILE *f, const char *name, json_t *o, const char *none,
                          const char *detail)
{
    char t[32], a[32];
    json_t *ms = json_object_get(o, "achieved_ms");
    fprintf(f, "| %s | %s | %s | %s | ", name, target_str(o, t, sizeof t),
            json_is_integer(ms) ? rune_duration_str(json_integer_value(ms), a, sizeof a) : none,
            yes_no(json_object_get(o, "met")));
    put_text(f, detail);
    fputs(" |\n", f);
}

static void section_objectives(FILE *f, json_t *rep, bool sim)
{
    json_t *ob = json_object_get(rep, "objectives");
    json_t *rto = json_object_get(ob, "rto"), *rpo = json_object_get(ob, "rpo");
    char detail[1024];

    heading(f, "Objectives", sim);
    fputs("| objective | target | achieved | met | how |\n|---|---|---|---|---|\n", f);
    snprintf(detail, sizeof detail, "%s%s%s", str(rto, "basis"), str(rto, "to") ? "; at " : "",
             str(rto, "to") ? str(rto, "to") : "");
    objective_row(f, "RTO", rto, "not achieved", detail);
    snprintf(detail, sizeof detail, "%s%s%s", str(rpo, "basis"),
             str(rpo, "recovery_point") ? "; recovery point " : "",
             str(rpo, "recovery_point") ? str(rpo, "recovery_point") : "");
    objective_row(f, "RPO", rpo, "unknown", detail);
    fputc('\n', f);
}

static void attempt_row(FILE *f, json_t *a, const char *day)
{
    char b1[64], b2[64], d[32];
    json_t *n = json_object_get(a, "attempt");

    fputs("| ", f);
    put_code(f, str(a, "step"));
    fputs(" | ", f);
    put_text(f, str(a, "uses"));
    if (json_integer_value(n) > 0)
        fprintf(f, " | %lld/%lld", (long long)json_integer_value(n),
                (long long)json_integer_value(json_object_get(a, "attempts")));
    else
        fputs(" | -", f);
    fprintf(f, " | %s | %s | %s | ", clock_of(str(a, "start"), day, b1, sizeof b1),
            clock_of(str(a, "end"), day, b2, sizeof b2),
            rune_report_duration(json_object_get(a, "duration_ms"), d, sizeof d));
    put_text(f, rune_report_status(a));
    fputs(" | ", f);
    put_text(f, str(a, "error")    ? str(a, "error")
                : str(a, "reason") ? str(a, "reason")
                                   : str(a, "plan"));
    fputs(" |\n", f);
}

static void section_timeline(FILE *f, json_t *rep, const char *day, bool sim)
{
    json_t *s, *a;
    size_t i, k;
    char b1[64], b2[64], d[32];

    heading(f, "Timeline", sim);
    fprintf(f, "Times are UTC%s%.10s%s.\n\n", day ? " on " : "", day ? day : "",
            day ? " unless a date is given" : "");
    json_array_foreach(json_object_get(rep, "timeline"), i, s)
    {
        fputs("### Stage ", f);
        put_text(f, str(s, "stage"));
        fputs(" — ", f);
        put_text(f, str(s, "status") ? str(s, "status") : "unfinished");
        fputs("\n\n", f);
        if (json_is_integer(json_object_get(s, "duration_ms")) || !str(s, "reason"))
            fprintf(f, "%s → %s (%s)", clock_of(str(s, "start"), day, b1, sizeof b1),
                    clock_of(str(s, "end"), day, b2, sizeof b2),
                    rune_report_duration(json_object_get(s, "duration_ms"), d, sizeof d));
        else
            fprintf(f, "at %s", clock_of(str(s, "start"), day, b1, sizeof b1));
        if (str(s, "reason")) {
            fputs(": ", f);
            put_text(f, str(s, "reason"));
        }
        fputs("\n\n", f);
        if (!json_array_size(json_object_get(s, "steps")))
            continue;
        fputs("| step | type | attempt | start | end | duration | status | detail |\n"
              "|---|---|---|---|---|---|---|---|\n",
              f);
        json_array_foreach(json_object_get(s, "steps"), k, a)
        {
            attempt_row(f, a, day);
        }
        fputc('\n', f);
    }
}

static void section_approvals(FILE *f, json_t *rep, const char *day, bool sim)
{
    json_t *list = json_object_get(rep, "approvals"), *a;
    size_t i;
    char b[64];

    heading(f, "Approvals", sim);
    if (!json_array_size(list)) {
        fputs("No approvals were asked for.\n\n", f);
        return;
    }
    fputs("| when | stage | step | question | who | how | decision |\n"
          "|---|---|---|---|---|---|---|\n",
          f);
    json_array_foreach(list, i, a)
    {
        fprintf(f, "| %s | ", clock_of(str(a, "at"), day, b, sizeof b));
        put_text(f, str(a, "stage"));
        fputs(" | ", f);
        put_code(f, str(a, "step"));
        fputs(" | ", f);
        put_text(f, str(a, "question"));
        fputs(" | ", f);
        put_text(f, str(a, "who"));
        fputs(" | ", f);
        put_code(f, str(a, "how"));
        fprintf(f, " | %s |\n",
                json_is_true(json_object_get(a, "approved")) ? "approved" : "**declined**");
    }
    fputc('\n', f);
}

static void section_failures(FILE *f, json_t *rep, const char *day, bool sim)
{
    json_t *list = json_object_get(rep, "failures"), *a;
    size_t i;
    char b[64];

    heading(f, "Failures", sim);
    if (!json_array_size(list)) {
        fputs("No step attempt failed.\n\n", f);
        return;
    }
    json_array_foreach(list, i, a)
    {
        fputs("### ", f);
        put_code(f, str(a, "step"));
        fputs(" (", f);
        put_text(f, str(a, "stage"));
        fprintf(f, ", attempt %lld/%lld) — ",
                (long long)json_integer_value(json_object_get(a, "attempt")),
                (long long)json_integer_value(json_object_get(a, "attempts")));
        put_text(f, str(a, "status"));
        fprintf(f, " at %s\n\n", clock_of(str(a, "at"), day, b, sizeof b));
        if (str(a, "error")) {
            put_text(f, str(a, "error"));
            fputs("\n\n", f);
        }
        if (str(a, "tail") && *str(a, "tail")) {
            fputs("Last output:\n\n", f);
            put_block(f, str(a, "tail"));
        }
    }
}

static void section_rollback(FILE *f, json_t *rep, const char *day, bool sim)
{
    json_t *rb = json_object_get(rep, "rollback"), *a;
    size_t i;

    heading(f, "Rollback", sim);
    if (!json_is_true(json_object_get(rb, "ran"))) {
        fputs("The rollback stage did not run", f);
        if (str(rb, "reason")) {
            fputs(": ", f);
            put_text(f, str(rb, "reason"));
        }
        fputs(".\n\n", f);
        return;
    }
    fputs("The rollback stage ran and ended ", f);
    put_text(f, str(rb, "status") ? str(rb, "status") : "unfinished");
    fputs(".\n\n", f);
    if (!json_array_size(json_object_get(rb, "actions")))
        return;
    fputs("| step | type | attempt | start | end | duration | status | detail |\n"
          "|---|---|---|---|---|---|---|---|\n",
          f);
    json_array_foreach(json_object_get(rb, "actions"), i, a)
    {
        attempt_row(f, a, day);
    }
    fputc('\n', f);
}

static void put_count(FILE *f, json_t *v)
{
    if (json_is_integer(v))
        fprintf(f, " %lld |", (long long)json_integer_value(v));
    else
        fputs(" - |", f);
}

static void section_verification(FILE *f, json_t *rep, bool sim)
{
    json_t *list = json_object_get(rep, "verification"), *v, *t;
    size_t i, k;

    heading(f, "Verification", sim);
    if (!json_array_size(list)) {
        fputs("No step recorded row counts or a comparison.\n\n", f);
        return;
    }
    json_array_foreach(list, i, v)
    {
        json_t *ok = json_object_get(v, "ok");
        bool cmp = !strcmp(str(v, "kind"), "compare");
        fputs("### ", f);
        put_code(f, str(v, "step"));
        fputs(" (", f);
        put_text(f, str(v, "uses"));
        fprintf(f, ", %s) — %s\n\n", cmp ? "content compared" : "row counts",
                json_is_boolean(ok) ? (json_is_true(ok) ? "ok" : "**DIFFERENT**") : "-");
        fprintf(f, "| table | expected | actual | diff |%s ok |\n|---|---|---|---|%s---|\n",
                cmp ? " same content |" : "", cmp ? "---|" : "");
        json_array_foreach(json_object_get(v, "tables"), k, t)
        {
            fputs("| ", f);
            put_code(f, str(t, "table"));
            fputs(" |", f);
            put_count(f, json_object_get(t, "expected"));
            put_count(f, json_object_get(t, "actual"));
            put_count(f, json_object_get(t, "diff"));
            if (cmp)
                fputs(json_is_true(json_object_get(t, "same_content")) ? " yes |" : " **no** |", f);
            fputs(json_is_true(json_object_get(t, "ok")) ? " yes |\n" : " **NO** |\n", f);
        }
        fputc('\n', f);
    }
}

/* Findings: what a step passed over (a backup that failed verification),
 * listed so that nobody learns of a bad backup on the day it is needed. */
static void section_findings(FILE *f, json_t *rep, bool sim)
{
    json_t *list = json_object_get(rep, "findings"), *x;
    size_t i;

    if (!json_array_size(list))
        return;
    heading(f, "Findings", sim);
    json_array_foreach(list, i, x)
    {
        fputs("- **backup skipped** by step ", f);
        put_code(f, str(x, "step"));
        fputs(": ", f);
        put_code(f, str(x, "path"));
        fputs(" — ", f);
        put_text(f, str(x, "reason") ? str(x, "reason") : "no reason recorded");
        fputs("\n", f);
    }
    fputc('\n', f);
}

static void section_artifacts(FILE *f, json_t *rep, bool sim)
{
    json_t *list = json_object_get(rep, "artifacts"), *a;
    size_t i;

    heading(f, "Artifacts", sim);
    if (!json_array_size(list)) {
        fputs("No step reported a file with its SHA-256.\n\n", f);
        return;
    }
    fputs("| step | path | bytes | SHA-256 |\n|---|---|---|---|\n", f);
    json_array_foreach(list, i, a)
    {
        fputs("| ", f);
        put_code(f, str(a, "step"));
        fputs(" | ", f);
        put_code(f, str(a, "path"));
        fputs(" |", f);
        put_count(f, json_object_get(a, "bytes"));
        fputs(" ", f);
        put_code(f, str(a, "sha256"));
        fputs(" |\n", f);
    }
    fputc('\n', f);
}

static void section_inputs(FILE *f, json_t *rep, bool sim)
{
    json_t *in = json_object_get(rep, "inputs"), *v;
    const char *k;

    heading(f, "Inputs", sim);
    fputs("As recorded; secret values are masked as `***`.\n\n", f);
    if (!json_object_size(in)) {
        fputs("None.\n\n", f);
        return;
    }
    fputs("| input | value |\n|---|---|\n", f);
    json_object_foreach(in, k, v)
    {
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fputs("| ", f);
        put_code(f, k);
        fputs(" | ", f);
        put_code(f, json_is_string(v) ? json_string_value(v) : text);
        fputs(" |\n", f);
        free(text);
    }
    fputc('\n', f);
}

static void section_notes(FILE *f, json_t *rep, const char *day, bool sim)
{
    json_t *list = json_object_get(rep, "notes"), *n;
    size_t i;
    char b[64];

    if (!json_array_size(list))
        return;
    heading(f, "Notes", sim);
    json_array_foreach(list, i, n)
    {
        fprintf(f, "- %s ", clock_of(str(n, "at"), day, b, sizeof b));
        put_code(f, str(n, "step"));
        fputs(": ", f);
        put_text(f, str(n, "text"));
        fputc('\n', f);
    }
    fputc('\n', f);
}

char *rune_report_md(json_t *rep)
{
    json_t *inc = json_object_get(rep, "incident");
    bool sim = json_is_true(json_object_get(inc, "simulated"));
    const char *day = str(inc, "started_at");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return NULL;
    fprintf(f, "# %sIncident report ", sim ? "SIMULATED " : "");
    put_code(f, str(inc, "id"));
    if (str(inc, "title")) {
        fputs(" — ", f);
        put_text(f, str(inc, "title"));
    }
    fputs("\n\n", f);
    banner(f, sim);
    section_summary(f, rep, sim);
    section_objectives(f, rep, sim);
    section_timeline(f, rep, day, sim);
    section_approvals(f, rep, day, sim);
    section_failures(f, rep, day, sim);
    section_rollback(f, rep, day, sim);
    section_verification(f, rep, sim);
    section_findings(f, rep, sim);
    section_artifacts(f, rep, sim);
    section_inputs(f, rep, sim);
    section_notes(f, rep, day, sim);
    heading(f, "Root cause", sim);
    fputs("_To be filled in._\n\n", f);
    heading(f, "Preventive measures", sim);
    fputs("_To be filled in._\n", f);
    if (sim)
        fputs("\n---\n\n**SIMULATED** — dry-run report: nothing was changed.\n", f);
    fprintf(f, "\n---\n\n_Generated by %s from the incident log only._\n",
            str(rep, "generator") ? str(rep, "generator") : "rune");
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
