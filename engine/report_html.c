/*
 * report_html.c — the HTML form of an incident report: one self-contained
 * page (inline CSS, an inline SVG timeline, no script, no external asset,
 * not even a favicon request), readable on screen and printable. Rendered
 * from the report object alone, like report_md.c: it adds no fact.
 *
 * The timeline is a Gantt chart: a band per stage, a bar per step attempt
 * coloured by its status, on a time axis from the incident's start. Every
 * recorded string is escaped (& < > " '), so text from runbooks and child
 * processes can never become markup.
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

/* Text as HTML; control characters other than newline and tab become '?'. */
static void esc(FILE *f, const char *s)
{
    if (!s)
        return;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : c, f);
        }
    }
}

/* esc, or a dash for nothing. */
static void text(FILE *f, const char *s)
{
    if (s && *s)
        esc(f, s);
    else
        fputs("&ndash;", f);
}

static void code(FILE *f, const char *s)
{
    if (!s || !*s) {
        fputs("&ndash;", f);
        return;
    }
    fputs("<code>", f);
    esc(f, s);
    fputs("</code>", f);
}

/* The colour class of a status, an outcome or a stage's end: the one
 * table of colours is the style's .st-* rules (and bar_colour for SVG). */
static const char *status_class(const char *status)
{
    static const struct {
        const char *status, *cls;
    } classes[] = {
        {"ok", "ok"},
        {"resolved", "ok"},
        {"no_incident", "ok"},
        {"approved", "ok"},
        {"incident", "ok"},
        {"ok (simulated)", "simulated"},
        {"simulated", "simulated"},
        {"failed", "failed"},
        {"rollback", "failed"},
        {"aborted", "failed"},
        {"timeout", "timeout"},
        {"ok_with_failures", "timeout"},
        {"rolled_back", "timeout"},
        {"declined", "declined"},
        {"cancelled", "cancelled"},
        {"interrupted", "cancelled"},
        {"skipped", "skipped"},
        {"not_run", "not_run"},
    };
    if (!status)
        return "unfinished";
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (!strcmp(classes[i].status, status))
            return classes[i].cls;
    return "other";
}

static void badge(FILE *f, const char *status)
{
    fprintf(f, "<span class=\"st st-%s\">", status_class(status));
    esc(f, status ? status : "unfinished");
    fputs("</span>", f);
}

/* Time of day when on the incident's day, else the whole ISO text. */
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

static const char css[] =
    ":root{--ok:#2e7d32;--failed:#c62828;--timeout:#e65100;--declined:#6a1b9a;"
    "--cancelled:#546e7a;--skipped:#9e9e9e;--simulated:#1565c0;--unfinished:#f9a825;"
    "--other:#795548}\n"
    "*{box-sizing:border-box}\n"
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "color:#1b1b1b;background:#fff;max-width:1120px;margin:1.5em auto;padding:0 1em}\n"
    "h1{font-size:1.55em;margin:.2em 0 .6em}\n"
    "h2{font-size:1.2em;border-bottom:2px solid #e0e0e0;padding-bottom:.2em;margin-top:1.8em}\n"
    "h3{font-size:1em;margin:1.2em 0 .4em}\n"
    "table{border-collapse:collapse;width:100%;margin:.4em 0 1em}\n"
    "th,td{border:1px solid #dcdcdc;padding:3px 7px;text-align:left;vertical-align:top}\n"
    "th{background:#f4f4f4;font-weight:600}\n"
    "table.kv th{width:14em}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "code,pre{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,monospace;font-size:.9em}\n"
    "code{overflow-wrap:anywhere}\n"
    "td:first-child code{white-space:nowrap;overflow-wrap:normal}\n"
    "table.att{table-layout:fixed}\n"
    "table.att th:nth-child(1){width:17%}table.att th:nth-child(2){width:14%}"
    "table.att th:nth-child(3){width:7%}table.att th:nth-child(4),"
    "table.att th:nth-child(5){width:10%}table.att th:nth-child(6){width:8%}"
    "table.att th:nth-child(7){width:11%}\n"
    "table.att td:first-child{overflow:hidden;text-overflow:ellipsis}\n"
    "pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:.6em;white-space:pre-wrap;"
    "overflow-wrap:anywhere;margin:.3em 0 1em}\n"
    ".st{display:inline-block;padding:0 .45em;border-radius:3px;color:#fff;font-weight:600;"
    "font-size:.88em;white-space:nowrap}\n"
    ".st-ok{background:var(--ok)}.st-failed{background:var(--failed)}"
    ".st-timeout{background:var(--timeout)}.st-declined{background:var(--declined)}"
    ".st-cancelled{background:var(--cancelled)}.st-skipped,.st-not_run{background:var(--skipped)}"
    ".st-simulated{background:var(--simulated)}.st-unfinished{background:var(--unfinished);"
    "color:#000}.st-other{background:var(--other)}\n"
    ".sim{background:var(--simulated);color:#fff;padding:.7em 1em;font-weight:700;"
    "font-size:1.15em;border-radius:4px;margin:.6em 0;letter-spacing:.02em}\n"
    ".bad{background:var(--failed);color:#fff;padding:.5em 1em;font-weight:700;border-radius:4px}\n"
    ".good{color:var(--ok);font-weight:700}.no{color:var(--failed);font-weight:700}\n"
    ".muted{color:#666}\n"
    ".fill{border:1px dashed #bbb;min-height:5em;padding:.6em;color:#888;font-style:italic}\n"
    ".chart{width:100%;height:auto;border:1px solid #e0e0e0;background:#fff}\n"
    ".legend span{margin-right:1.2em;white-space:nowrap}\n"
    ".legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-1px}\n"
    "footer{margin-top:2em;color:#777;font-size:.85em;border-top:1px solid #e0e0e0;"
    "padding-top:.5em}\n"
    "@media print{body{max-width:none;margin:0;padding:0;font-size:10.5pt}"
    "h2{break-after:avoid}table,pre,svg,.fill{break-inside:avoid}"
    ".st,.sim,.bad,.legend i,svg{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    "@page{margin:1.5cm}}\n";

/* Colours of the bars: the same as the badges' (SVG fill cannot always
 * read CSS variables when printed, so they are spelled out). */
static const char *bar_colour(const char *cls)
{
    static const struct {
        const char *cls, *colour;
    } colours[] = {
        {"ok", "#2e7d32"},       {"failed", "#c62828"},    {"timeout", "#e65100"},
        {"declined", "#6a1b9a"}, {"cancelled", "#546e7a"}, {"skipped", "#9e9e9e"},
        {"not_run", "#9e9e9e"},  {"simulated", "#1565c0"}, {"unfinished", "#f9a825"},
    };
    for (size_t i = 0; i < sizeof colours / sizeof colours[0]; i++)
        if (!strcmp(colours[i].cls, cls))
            return colours[i].colour;
    return "#795548";
}

/* ---- The Gantt chart ---- */

#define CHART_W 1080
#define LABEL_W 270
#define RIGHT_PAD 24
#define AXIS_H 34
#define ROW_H 20
#define STAGE_H 24

struct chart {
    long long t0, span; /* ms: the incident's start, and how long the chart covers */
};

static double x_of(const struct chart *c, long long ms)
{
    double plot = CHART_W - LABEL_W - RIGHT_PAD;
    if (ms < c->t0)
        ms = c->t0;
    return LABEL_W + plot * (double)(ms - c->t0) / (double)c->span;
}

/* A round tick interval giving at most about 8 ticks over span. */
static long long tick_of(long long span)
{
    static const long long steps[] = {
        1,      2,      5,       10,      20,      50,       100,      200,      500,
        1000,   2000,   5000,    10000,   15000,   30000,    60000,    120000,   300000,
        600000, 900000, 1800000, 3600000, 7200000, 10800000, 21600000, 43200000, 86400000,
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (span / steps[i] <= 8)
            return steps[i];
    return span / 8 + 1;
}

/* Start and end of a row in ms (end >= start), from its times. */
static void row_times(json_t *a, long long *start, long long *end)
{
    json_t *d = json_object_get(a, "duration_ms");
    *start = rune_report_iso_ms(str(a, "start"));
    *end = rune_report_iso_ms(str(a, "end"));
    if (*start < 0 && *end >= 0)
        *start = *end - (json_is_integer(d) ? json_integer_value(d) : 0);
    if (*end < *start)
        *end = *start;
}

/* How far the chart must reach: the incident's end, or its last event. */
static long long last_time(json_t *rep)
{
    long long t = rune_report_iso_ms(str(json_object_get(rep, "incident"), "ended_at"));
    size_t i, k;
    json_t *s, *a;
    json_array_foreach(json_object_get(rep, "timeline"), i, s)
    {
        long long e = rune_report_iso_ms(str(s, "end"));
        if (e > t)
            t = e;
        json_array_foreach(json_object_get(s, "steps"), k, a)
        {
            long long a0, a1;
            row_times(a, &a0, &a1);
            if (a1 > t)
                t = a1;
        }
    }
    return t;
}

static int chart_height(json_t *timeline)
{
    size_t i;
    json_t *s;
    int h = AXIS_H + 6;
    json_array_foreach(timeline, i, s)
    {
        h += STAGE_H + ROW_H * (int)json_array_size(json_object_get(s, "steps"));
    }
    return h + 8;
}

static void axis(FILE *f, const struct chart *c, int height)
{
    long long tick = tick_of(c->span);
    char d[32];

    fprintf(f, "<text x=\"8\" y=\"20\" class=\"ax\">elapsed since the incident started</text>\n");
    for (long long t = 0; t <= c->span; t += tick) {
        double x = x_of(c, c->t0 + t);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e3e3e3\"/>"
                "<text x=\"%.1f\" y=\"%d\" class=\"ax\" text-anchor=\"middle\">%s</text>\n",
                x, AXIS_H - 6, x, height - 4, x, AXIS_H - 12,
                t ? rune_duration_str(t, d, sizeof d) : "0");
    }
}

static void bar(FILE *f, const struct chart *c, json_t *a, int y)
{
    long long a0, a1;
    char d[32];
    const char *status = rune_report_status(a);
    const char *cls = status_class(status);
    json_t *n = json_object_get(a, "attempt");

    row_times(a, &a0, &a1);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"lb\">", 14, y + 14);
    esc(f, str(a, "step") ? str(a, "step") : "-");
    if (json_integer_value(n) > 0 && json_integer_value(json_object_get(a, "attempts")) > 1)
        fprintf(f, " #%lld", (long long)json_integer_value(n));
    fputs("</text>\n", f);
    if (a0 < 0)
        return;
    double x0 = x_of(c, a0), x1 = x_of(c, a1);
    double w = x1 - x0 < 2 ? 2 : x1 - x0;
    fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"2\" fill=\"%s\"%s>", x0,
            y + 3, w, ROW_H - 6, bar_colour(cls),
            !strcmp(cls, "skipped") || !strcmp(cls, "not_run") ? " fill-opacity=\"0.6\"" : "");
    fputs("<title>", f);
    esc(f, str(a, "step"));
    fprintf(f, " attempt %lld/%lld: %s, %s</title></rect>\n", (long long)json_integer_value(n),
            (long long)json_integer_value(json_object_get(a, "attempts")), status,
            rune_report_duration(json_object_get(a, "duration_ms"), d, sizeof d));
    bool left = x0 + w + 4 > CHART_W - 60; /* no room on the right: label before the bar */
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"bt\"%s>", left ? x0 - 4 : x0 + w + 4, y + 14,
            left ? " text-anchor=\"end\"" : "");
    fprintf(f, "%s</text>\n", rune_report_duration(json_object_get(a, "duration_ms"), d, sizeof d));
}

static void stage_band(FILE *f, const struct chart *c, json_t *s, int y, int rows)
{
    long long s0 = rune_report_iso_ms(str(s, "start")), s1 = rune_report_iso_ms(str(s, "end"));
    fprintf(f, "<rect x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#f4f6f8\"/>\n", y, CHART_W,
            STAGE_H);
    if (s0 >= 0) {
        double x0 = x_of(c, s0), x1 = x_of(c, s1 >= s0 ? s1 : s0);
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#cfd8dc\" "
                "fill-opacity=\"0.45\"/>\n",
                x0, y + 4, x1 - x0 < 2 ? 2 : x1 - x0, STAGE_H - 8 + rows * ROW_H);
    }
    fprintf(f, "<text x=\"6\" y=\"%d\" class=\"sg\">", y + 16);
    esc(f, str(s, "stage"));
    fputs(" &#8212; ", f);
    esc(f, str(s, "status") ? str(s, "status") : "unfinished");
    fputs("</text>\n", f);
}

static void gantt(FILE *f, json_t *rep)
{
    json_t *timeline = json_object_get(rep, "timeline"), *s, *a;
    struct chart c = {rune_report_iso_ms(str(json_object_get(rep, "incident"), "started_at")), 1};
    int height = chart_height(timeline), y = AXIS_H + 6;
    size_t i, k;

    if (c.t0 < 0 || !json_array_size(timeline)) {
        fputs("<p class=\"muted\">No stage was recorded.</p>\n", f);
        return;
    }
    long long end = last_time(rep);
    c.span = end > c.t0 ? end - c.t0 : 1;
    fprintf(f,
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
            "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"timeline of stages and step "
            "attempts\">\n"
            "<style>.ax{font:11px sans-serif;fill:#555}.lb{font:12px monospace;fill:#222}"
            ".sg{font:bold 12px sans-serif;fill:#263238}.bt{font:10px sans-serif;fill:#555}"
            "</style>\n",
            CHART_W, height, CHART_W, height);
    axis(f, &c, height);
    json_array_foreach(timeline, i, s)
    {
        json_t *steps = json_object_get(s, "steps");
        stage_band(f, &c, s, y, (int)json_array_size(steps));
        y += STAGE_H;
        json_array_foreach(steps, k, a)
        {
            bar(f, &c, a, y);
            y += ROW_H;
        }
    }
    fputs("</svg>\n<p class=\"legend\">", f);
    static const char *const shown[] = {"ok",        "failed",  "timeout",   "declined",
                                        "cancelled", "skipped", "simulated", "unfinished"};
    for (size_t n = 0; n < sizeof shown / sizeof shown[0]; n++)
        fprintf(f, "<span><i style=\"background:%s\"></i>%s</span>", bar_colour(shown[n]),
                shown[n]);
    fputs("</p>\n", f);
}

/* ---- Sections ---- */

/* A section heading; in a dry-run's report every one says SIMULATED. */
static void heading(FILE *f, const char *id, const char *title, bool sim)
{
    fprintf(f, "<h2 id=\"%s\">%s%s</h2>\n", id, title,
            sim ? " <span class=\"st st-simulated\">SIMULATED</span>" : "");
}

static void kv(FILE *f, const char *name, const char *value, bool as_code)
{
    fprintf(f, "<tr><th>%s</th><td>", name);
    if (as_code)
        code(f, value);
    else
        text(f, value);
    fputs("</td></tr>\n", f);
}

static void section_summary(FILE *f, json_t *rep, bool sim)
{
    json_t *inc = json_object_get(rep, "incident"), *ch = json_object_get(rep, "chain");
    json_t *exit_code = json_object_get(inc, "exit_code");
    char buf[64], d[32];

    heading(f, "summary", "Summary", sim);
    fputs("<table class=\"kv\">\n", f);
    kv(f, "Incident", str(inc, "id"), true);
    kv(f, "Runbook", str(inc, "runbook"), false);
    kv(f, "Runbook file", str(inc, "runbook_path"), true);
    kv(f, "Runbook SHA-256", str(inc, "runbook_sha256"), true);
    fprintf(f, "<tr><th>Mode</th><td>%s</td></tr>\n",
            sim ? "<span class=\"st st-simulated\">SIMULATED</span> dry-run: nothing was changed"
                : "real run");
    kv(f, "Operator", str(inc, "operator"), false);
    kv(f, "Host", str(inc, "host"), false);
    kv(f, "Started (UTC)", str(inc, "started_at"), false);
    fputs("<tr><th>Ended (UTC)</th><td>", f);
    if (str(inc, "ended_at")) {
        esc(f, str(inc, "ended_at"));
        fprintf(f, " (took %s)",
                rune_report_duration(json_object_get(inc, "duration_ms"), d, sizeof d));
    } else {
        fputs("not recorded (still running, or rune was stopped)", f);
    }
    fputs("</td></tr>\n<tr><th>Outcome</th><td>", f);
    if (sim)
        fputs("<strong>SIMULATED:</strong> ", f);
    badge(f, str(inc, "outcome") ? str(inc, "outcome") : NULL);
    if (str(inc, "reason")) {
        fputs(" ", f);
        esc(f, str(inc, "reason"));
    }
    fputs("</td></tr>\n", f);
    snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(exit_code));
    kv(f, "Exit code", json_is_integer(exit_code) ? buf : NULL, false);
    kv(f, "Severity", str(inc, "severity"), false);
    kv(f, "rune", str(inc, "rune_version"), false);
    fputs("<tr><th>Incident log chain</th><td>", f);
    if (json_is_true(json_object_get(ch, "verified")))
        fprintf(f, "<span class=\"good\">verified</span> (%lld events)",
                (long long)json_integer_value(json_object_get(ch, "events")));
    else {
        fputs("<span class=\"bad\">NOT VERIFIED</span> ", f);
        esc(f, str(ch, "message"));
    }
    fputs("</td></tr>\n", f);
    kv(f, "Head hash", str(ch, "head_hash"), true);
    fputs("</table>\n", f);
}

/* none: what to say when nothing was achieved; when_key: the member giving
 * the moment the figure was measured at. */
static void objective_row(FILE *f, const char *name, json_t *o, const char *none,
                          const char *when_key)
{
    json_t *t = json_object_get(o, "target_s"), *ms = json_object_get(o, "achieved_ms");
    json_t *met = json_object_get(o, "met");
    char a[32], b[32];

    fprintf(f, "<tr><th>%s</th><td>%s</td><td>%s</td><td>%s</td><td>", name,
            json_is_integer(t) ? rune_duration_str(json_integer_value(t) * 1000, a, sizeof a)
                               : "none",
            json_is_integer(ms) ? rune_duration_str(json_integer_value(ms), b, sizeof b) : none,
            json_is_boolean(met) ? (json_is_true(met) ? "<span class=\"good\">yes</span>"
                                                      : "<span class=\"no\">NO</span>")
                                 : "<span class=\"muted\">n/a (no target)</span>");
    esc(f, str(o, "basis"));
    if (str(o, when_key)) {
        fputs(when_key[0] == 't' ? "; at " : "; recovery point ", f);
        esc(f, str(o, when_key));
    }
    fputs("</td></tr>\n", f);
}

static void section_objectives(FILE *f, json_t *rep, bool sim)
{
    json_t *ob = json_object_get(rep, "objectives");
    heading(f, "objectives", "Objectives", sim);
    fputs("<table>\n<tr><th>objective</th><th>target</th><th>achieved</th><th>met</th>"
          "<th>how</th></tr>\n",
          f);
    objective_row(f, "RTO", json_object_get(ob, "rto"), "not achieved", "to");
    objective_row(f, "RPO", json_object_get(ob, "rpo"), "unknown", "recovery_point");
    fputs("</table>\n", f);
}

static void attempt_header(FILE *f)
{
    fputs("<table class=\"att\">\n<tr><th>step</th><th>type</th><th>attempt</th><th>start</th>"
          "<th>end</th>"
          "<th>duration</th><th>status</th><th>detail</th></tr>\n",
          f);
}

static void attempt_row(FILE *f, json_t *a, const char *day)
{
    json_t *n = json_object_get(a, "attempt");
    char b1[64], b2[64], d[32];
    const char *detail = str(a, "error")    ? str(a, "error")
                         : str(a, "reason") ? str(a, "reason")
                                            : str(a, "plan");

    fputs("<tr><td>", f);
    code(f, str(a, "step"));
    fputs("</td><td>", f);
    text(f, str(a, "uses"));
    if (json_integer_value(n) > 0)
        fprintf(f, "</td><td class=\"num\">%lld/%lld", (long long)json_integer_value(n),
                (long long)json_integer_value(json_object_get(a, "attempts")));
    else
        fputs("</td><td class=\"num\">&ndash;", f);
    fprintf(f, "</td><td>%s</td><td>%s</td><td class=\"num\">%s</td><td>",
            clock_of(str(a, "start"), day, b1, sizeof b1),
            clock_of(str(a, "end"), day, b2, sizeof b2),
            rune_report_duration(json_object_get(a, "duration_ms"), d, sizeof d));
    badge(f, rune_report_status(a));
    fputs("</td><td>", f);
    if (detail)
        esc(f, detail);
    fputs("</td></tr>\n", f);
}

static void section_timeline(FILE *f, json_t *rep, const char *day, bool sim)
{
    json_t *s, *a;
    size_t i, k;
    char b1[64], b2[64], d[32];

    heading(f, "timeline", "Timeline", sim);
    gantt(f, rep);
    fprintf(f, "<p class=\"muted\">Times are UTC%s%.10s.</p>\n", day ? " on " : "", day ? day : "");
    json_array_foreach(json_object_get(rep, "timeline"), i, s)
    {
        fputs("<h3>Stage ", f);
        esc(f, str(s, "stage"));
        fputs(" ", f);
        badge(f, str(s, "status"));
        if (json_is_integer(json_object_get(s, "duration_ms")) || !str(s, "reason"))
            fprintf(f, " <span class=\"muted\">%s &rarr; %s (%s)",
                    clock_of(str(s, "start"), day, b1, sizeof b1),
                    clock_of(str(s, "end"), day, b2, sizeof b2),
                    rune_report_duration(json_object_get(s, "duration_ms"), d, sizeof d));
        else
            fprintf(f, " <span class=\"muted\">at %s",
                    clock_of(str(s, "start"), day, b1, sizeof b1));
        if (str(s, "reason")) {
            fputs(": ", f);
            esc(f, str(s, "reason"));
        }
        fputs("</span></h3>\n", f);
        if (!json_array_size(json_object_get(s, "steps")))
            continue;
        attempt_header(f);
        json_array_foreach(json_object_get(s, "steps"), k, a)
        {
            attempt_row(f, a, day);
        }
        fputs("</table>\n", f);
    }
}

static void section_approvals(FILE *f, json_t *rep, const char *day, bool sim)
{
    json_t *list = json_object_get(rep, "approvals"), *a;
    size_t i;
    char b[64];

    heading(f, "approvals", "Approvals", sim);
    if (!json_array_size(list)) {
        fputs("<p>No approvals were asked for.</p>\n", f);
        return;
    }
    fputs("<table>\n<tr><th>when</th><th>stage</th><th>step</th><th>question</th><th>who</th>"
          "<th>how</th><th>decision</th></tr>\n",
          f);
    json_array_foreach(list, i, a)
    {
        fprintf(f, "<tr><td>%s</td><td>", clock_of(str(a, "at"), day, b, sizeof b));
        text(f, str(a, "stage"));
        fputs("</td><td>", f);
        code(f, str(a, "step"));
        fputs("</td><td>", f);
        text(f, str(a, "question"));
        fputs("</td><td>", f);
        text(f, str(a, "who"));
        fputs("</td><td>", f);
        code(f, str(a, "how"));
        fputs("</td><td>", f);
        badge(f, json_is_true(json_object_get(a, "approved")) ? "approved" : "declined");
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void section_failures(FILE *f, json_t *rep, const char *day, bool sim)
{
    json_t *list = json_object_get(rep, "failures"), *a;
    size_t i;
    char b[64];

    heading(f, "failures", "Failures", sim);
    if (!json_array_size(list)) {
        fputs("<p>No step attempt failed.</p>\n", f);
        return;
    }
    json_array_foreach(list, i, a)
    {
        fputs("<h3>", f);
        code(f, str(a, "step"));
        fputs(" <span class=\"muted\">(", f);
        esc(f, str(a, "stage"));
        fprintf(f, ", attempt %lld/%lld)</span> ",
                (long long)json_integer_value(json_object_get(a, "attempt")),
                (long long)json_integer_value(json_object_get(a, "attempts")));
        badge(f, str(a, "status"));
        fprintf(f, " <span class=\"muted\">at %s</span></h3>\n",
                clock_of(str(a, "at"), day, b, sizeof b));
        if (str(a, "error")) {
            fputs("<p>", f);
            esc(f, str(a, "error"));
            fputs("</p>\n", f);
        }
        if (str(a, "tail") && *str(a, "tail")) {
            fputs("<p class=\"muted\">Last output:</p>\n<pre>", f);
            esc(f, str(a, "tail"));
            fputs("</pre>\n", f);
        }
    }
}

static void section_rollback(FILE *f, json_t *rep, const char *day, bool sim)
{
    json_t *rb = json_object_get(rep, "rollback"), *a;
    size_t i;

    heading(f, "rollback", "Rollback", sim);
    fputs("<p>", f);
    if (!json_is_true(json_object_get(rb, "ran"))) {
        fputs("The rollback stage did not run", f);
        if (str(rb, "reason")) {
            fputs(": ", f);
            esc(f, str(rb, "reason"));
        }
        fputs(".</p>\n", f);
        return;
    }
    fputs("The rollback stage ran and ended ", f);
    badge(f, str(rb, "status"));
    fputs(".</p>\n", f);
    if (!json_array_size(json_object_get(rb, "actions")))
        return;
    attempt_header(f);
    json_array_foreach(json_object_get(rb, "actions"), i, a)
    {
        attempt_row(f, a, day);
    }
    fputs("</table>\n", f);
}

static void count_cell(FILE *f, json_t *v)
{
    if (json_is_integer(v))
        fprintf(f, "<td class=\"num\">%lld</td>", (long long)json_integer_value(v));
    else
        fputs("<td class=\"num\">&ndash;</td>", f);
}

static void section_verification(FILE *f, json_t *rep, bool sim)
{
    json_t *list = json_object_get(rep, "verification"), *v, *t;
    size_t i, k;

    heading(f, "verification", "Verification", sim);
    if (!json_array_size(list)) {
        fputs("<p>No step recorded row counts or a comparison.</p>\n", f);
        return;
    }
    json_array_foreach(list, i, v)
    {
        json_t *ok = json_object_get(v, "ok");
        bool cmp = !strcmp(str(v, "kind"), "compare");
        fputs("<h3>", f);
        code(f, str(v, "step"));
        fputs(" <span class=\"muted\">(", f);
        esc(f, str(v, "uses"));
        fprintf(f, ", %s)</span> ", cmp ? "content compared" : "row counts");
        badge(f, json_is_boolean(ok) ? (json_is_true(ok) ? "ok" : "failed") : NULL);
        fprintf(f,
                "</h3>\n<table>\n<tr><th>table</th><th>expected</th><th>actual</th>"
                "<th>diff</th>%s<th>ok</th></tr>\n",
                cmp ? "<th>same content</th>" : "");
        json_array_foreach(json_object_get(v, "tables"), k, t)
        {
            fputs("<tr><td>", f);
            code(f, str(t, "table"));
            fputs("</td>", f);
            count_cell(f, json_object_get(t, "expected"));
            count_cell(f, json_object_get(t, "actual"));
            count_cell(f, json_object_get(t, "diff"));
            if (cmp)
                fputs(json_is_true(json_object_get(t, "same_content"))
                          ? "<td>yes</td>"
                          : "<td><span class=\"no\">no</span></td>",
                      f);
            fputs(json_is_true(json_object_get(t, "ok")) ? "<td class=\"good\">yes</td></tr>\n"
                                                         : "<td class=\"no\">NO</td></tr>\n",
                  f);
        }
        fputs("</table>\n", f);
    }
}

/* Findings: what a step passed over (a backup that failed verification). */
static void section_findings(FILE *f, json_t *rep, bool sim)
{
    json_t *list = json_object_get(rep, "findings"), *x;
    size_t i;

    if (!json_array_size(list))
        return;
    heading(f, "findings", "Findings", sim);
    fputs("<ul>\n", f);
    json_array_foreach(list, i, x)
    {
        fputs("<li><span class=\"no\">backup skipped</span> by step ", f);
        code(f, str(x, "step"));
        fputs(": ", f);
        code(f, str(x, "path"));
        fputs(" &#8212; ", f);
        esc(f, str(x, "reason") ? str(x, "reason") : "no reason recorded");
        fputs("</li>\n", f);
    }
    fputs("</ul>\n", f);
}

static void section_artifacts(FILE *f, json_t *rep, bool sim)
{
    json_t *list = json_object_get(rep, "artifacts"), *a;
    size_t i;

    heading(f, "artifacts", "Artifacts", sim);
    if (!json_array_size(list)) {
        fputs("<p>No step reported a file with its SHA-256.</p>\n", f);
        return;
    }
    fputs("<table>\n<tr><th>step</th><th>path</th><th>bytes</th><th>SHA-256</th></tr>\n", f);
    json_array_foreach(list, i, a)
    {
        fputs("<tr><td>", f);
        code(f, str(a, "step"));
        fputs("</td><td>", f);
        code(f, str(a, "path"));
        fputs("</td>", f);
        count_cell(f, json_object_get(a, "bytes"));
        fputs("<td>", f);
        code(f, str(a, "sha256"));
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void section_inputs(FILE *f, json_t *rep, bool sim)
{
    json_t *in = json_object_get(rep, "inputs"), *v;
    const char *k;

    heading(f, "inputs", "Inputs", sim);
    fputs("<p class=\"muted\">As recorded; secret values are masked as <code>***</code>.</p>\n", f);
    if (!json_object_size(in)) {
        fputs("<p>None.</p>\n", f);
        return;
    }
    fputs("<table>\n<tr><th>input</th><th>value</th></tr>\n", f);
    json_object_foreach(in, k, v)
    {
        char *t = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fputs("<tr><td>", f);
        code(f, k);
        fputs("</td><td>", f);
        code(f, json_is_string(v) ? json_string_value(v) : t);
        fputs("</td></tr>\n", f);
        free(t);
    }
    fputs("</table>\n", f);
}

static void section_notes(FILE *f, json_t *rep, const char *day, bool sim)
{
    json_t *list = json_object_get(rep, "notes"), *n;
    size_t i;
    char b[64];

    if (!json_array_size(list))
        return;
    heading(f, "notes", "Notes", sim);
    fputs("<ul>\n", f);
    json_array_foreach(list, i, n)
    {
        fprintf(f, "<li>%s ", clock_of(str(n, "at"), day, b, sizeof b));
        code(f, str(n, "step"));
        fputs(": ", f);
        esc(f, str(n, "text"));
        fputs("</li>\n", f);
    }
    fputs("</ul>\n", f);
}

char *rune_report_html(json_t *rep)
{
    json_t *inc = json_object_get(rep, "incident");
    bool sim = json_is_true(json_object_get(inc, "simulated"));
    const char *day = str(inc, "started_at");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    if (!f)
        return NULL;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<link rel=\"icon\" href=\"data:,\">\n<title>",
          f);
    fprintf(f, "%sIncident report ", sim ? "SIMULATED " : "");
    esc(f, str(inc, "id"));
    if (str(inc, "title")) {
        fputs(" — ", f);
        esc(f, str(inc, "title"));
    }
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", css);
    if (sim)
        fputs("<div class=\"sim\">SIMULATED &#8212; dry-run (rune plan), not an incident. "
              "Nothing was changed; times, outcome and objectives are those of the "
              "simulation.</div>\n",
              f);
    fprintf(f, "<h1>%sIncident report ", sim ? "SIMULATED " : "");
    code(f, str(inc, "id"));
    if (str(inc, "title")) {
        fputs("<br><span class=\"muted\">", f);
        esc(f, str(inc, "title"));
        fputs("</span>", f);
    }
    fputs("</h1>\n", f);
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
    heading(f, "root-cause", "Root cause", sim);
    fputs("<div class=\"fill\">To be filled in.</div>\n", f);
    heading(f, "preventive-measures", "Preventive measures", sim);
    fputs("<div class=\"fill\">To be filled in.</div>\n", f);
    if (sim)
        fputs("<div class=\"sim\">SIMULATED &#8212; dry-run report: nothing was changed.</div>\n",
              f);
    fputs("<footer>Generated by ", f);
    esc(f, str(rep, "generator"));
    fputs(" from the incident log only.</footer>\n</body>\n</html>\n", f);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}
