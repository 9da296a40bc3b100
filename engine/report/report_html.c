/*
 * report_html.c — the HTML pen: how an incident report's sections
 * (report_sections.c, the same for every format) are drawn as one
 * self-contained page (inline CSS, an inline SVG timeline, no script, no
 * external asset, not even a favicon request), readable on screen and
 * printable. It knows no section; it adds no fact.
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
#include "meter.h"
#include "report_render.h"

static const char *str(json_t *o, const char *key)
{
    return rune_report_str(o, key);
}

/* Text as HTML; control characters other than newline and tab become '?'. */
static void esc(FILE *f, const char *s)
{
    static const char *const entities[256] = {
        ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&#39;",
    };
    rune_report_escape(f, s, entities);
}

/* A value in a cell: esc, or a dash for nothing. */
static void value(struct rune_report_doc *d, const char *s)
{
    if (s && *s)
        esc(d->f, s);
    else
        fputs("&ndash;", d->f);
}

/* Text in a sentence: nothing for nothing. */
static void text(struct rune_report_doc *d, const char *s)
{
    esc(d->f, s);
}

static void code(struct rune_report_doc *d, const char *s)
{
    if (!s || !*s) {
        fputs("&ndash;", d->f);
        return;
    }
    /* A short word (a step id, a type) never breaks; a long one (a path,
     * a hash) may break anywhere rather than widen its table. */
    fputs(strlen(s) <= 32 && !strpbrk(s, " /") ? "<code class=\"w\">" : "<code>", d->f);
    esc(d->f, s);
    fputs("</code>", d->f);
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
        {"abandoned", "cancelled"}, /* its rune died: stopped from outside, like a Ctrl-C */
        {"skipped", "skipped"},
        {"not_run", "not_run"},
        {"yes", "ok"},        /* a restore verified */
        {"no", "failed"},     /* ... not */
        {"undone", "failed"}, /* ... or undone by the rollback */
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

/* The page's style. On screen: a column of at most 1120 px, centred, so a
 * 1280 px desktop window shows it whole with margins; a table wider than
 * the column (long paths, many columns on a narrow window) scrolls inside
 * its .tw box instead of pushing the page wider. In print (and so in the
 * pdf format, which is this page printed by Chromium): the paper's width
 * on A4 and Letter alike, colours kept, headings kept with what follows
 * them, no table row, chart or text block split across pages, table
 * headers repeated on every page a table spans, and the chart no taller
 * than a page. The page has nothing interactive to hide: no script, no
 * form, no link; a bar's hover title is simply not printed. */
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
    ".tw{overflow-x:auto;margin:.4em 0 1em}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "th,td{border:1px solid #dcdcdc;padding:3px 7px;text-align:left;vertical-align:top}\n"
    "th{background:#f4f4f4;font-weight:600}\n"
    "table.kv th{width:14em}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "code,pre{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,monospace;font-size:.9em}\n"
    "code{overflow-wrap:anywhere}code.w{white-space:nowrap;overflow-wrap:normal}\n"
    "td:first-child code{white-space:nowrap;overflow-wrap:normal}\n"
    "table.att{table-layout:fixed;min-width:900px}\n"
    "table.att th:nth-child(1){width:15%}table.att th:nth-child(2){width:13%}"
    "table.att th:nth-child(3){width:6%}table.att th:nth-child(4),"
    "table.att th:nth-child(5){width:10%}table.att th:nth-child(6){width:7%}"
    "table.att th:nth-child(7){width:9%}\n"
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
    ".chart{display:block;width:100%;height:auto;border:1px solid #e0e0e0;background:#fff}\n"
    ".legend span{margin-right:1.2em;white-space:nowrap}\n"
    ".legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-1px}\n"
    "footer{margin-top:2em;color:#777;font-size:.85em;border-top:1px solid #e0e0e0;"
    "padding-top:.5em}\n"
    "@media print{@page{margin:1.4cm 1.2cm}"
    "body{max-width:none;margin:0;padding:0;font-size:9.5pt}"
    "h1{font-size:1.4em}h2{margin-top:1.2em}th,td{padding:2px 5px}"
    "footer{margin-top:1em;break-before:avoid;page-break-before:avoid}"
    "h1,h2,h3{break-after:avoid;page-break-after:avoid}"
    "tr,pre,.fill,.chart,.legend,.sim,table.kv{break-inside:avoid;page-break-inside:avoid}"
    "thead{display:table-header-group}"
    ".tw{overflow:visible}"
    "table.att{table-layout:auto;min-width:0;font-size:.92em}table.att th:nth-child(n){width:auto}"
    "table.att td:nth-child(-n+7){white-space:nowrap}"
    "table.att td:first-child{overflow:visible}"
    ".chart{max-height:23cm}"
    ".st,.sim,.bad,.legend i,th,svg{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

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

/* " · 1.00 GiB at 85.2 MiB/s" for an attempt that reported its work, ""
 * otherwise: the annotation on its bar. */
static void throughput_note(json_t *t, char *buf, size_t len)
{
    char amt[48], rate[48];
    const char *unit = str(t, "unit") ? str(t, "unit") : str(t, "size_unit");
    json_t *v = json_object_get(t, str(t, "unit") ? "done" : "size"),
           *r = json_object_get(t, "rate");
    int u = rune_unit_parse(unit);
    buf[0] = '\0';
    if (!t || u < 0 || !json_is_integer(v))
        return;
    rune_meter_amount(json_integer_value(v), (enum rune_unit)u, amt, sizeof amt);
    if (json_is_integer(r))
        snprintf(buf, len, " · %s at %s", amt,
                 rune_meter_rate_str((double)json_integer_value(r), (enum rune_unit)u, rate,
                                     sizeof rate));
    else
        snprintf(buf, len, " · %s", amt);
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
    fprintf(f, " attempt %lld/%lld: ", (long long)json_integer_value(n),
            (long long)json_integer_value(json_object_get(a, "attempts")));
    esc(f, status);
    char pace[128];
    throughput_note(json_object_get(a, "throughput"), pace, sizeof pace);
    fprintf(f, ", %s%s</title></rect>\n",
            rune_report_duration(json_object_get(a, "duration_ms"), d, sizeof d), pace);
    bool left = x0 + w + 4 > CHART_W - 60 - (pace[0] ? 90 : 0); /* no room: label before the bar */
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"bt\"%s>", left ? x0 - 4 : x0 + w + 4, y + 14,
            left ? " text-anchor=\"end\"" : "");
    fprintf(f, "%s%s</text>\n",
            rune_report_duration(json_object_get(a, "duration_ms"), d, sizeof d), pace);
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

static void chart(struct rune_report_doc *d, json_t *rep)
{
    FILE *f = d->f;
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

/* ---- The pen ---- */

static void verbatim(struct rune_report_doc *d, const char *s)
{
    fputs("<pre>", d->f);
    esc(d->f, s);
    fputs("</pre>\n", d->f);
}

/* Every status is a coloured badge; the colour is alarm enough. */
static void show_status(struct rune_report_doc *d, const char *st, bool alarm)
{
    badge(d->f, st);
}

/* A section heading; in a dry-run's report every one says SIMULATED. */
static void heading(struct rune_report_doc *d, const char *anchor, const char *title)
{
    fprintf(d->f, "<h2 id=\"%s\">%s%s</h2>\n", anchor, title,
            d->sim ? " <span class=\"st st-simulated\">SIMULATED</span>" : "");
}

static void table(struct rune_report_doc *d, enum rune_report_table kind, const char *const *cols,
                  size_t ncols)
{
    static const char *const classes[] = {
        [RUNE_TABLE_PLAIN] = "",
        [RUNE_TABLE_KV] = " class=\"kv\"",
        [RUNE_TABLE_ATTEMPTS] = " class=\"att\"",
    };
    fprintf(d->f, "<div class=\"tw\"><table%s>\n", classes[kind]);
    if (!cols)
        return;
    fputs("<thead><tr>", d->f);
    for (size_t i = 0; i < ncols; i++)
        fprintf(d->f, "<th>%s</th>", cols[i]);
    fputs("</tr></thead>\n", d->f);
}

/* "Incident report <id> — <title>": plain in the page's <title>; in its
 * <h1> the id as code and the title on a line of its own. */
static void page_title(struct rune_report_doc *d, json_t *inc, bool h1)
{
    const char *title = str(inc, "title");

    fprintf(d->f, "%sIncident report ", d->sim ? "SIMULATED " : "");
    if (h1)
        code(d, str(inc, "id"));
    else
        esc(d->f, str(inc, "id"));
    if (title) {
        fputs(h1 ? "<br><span class=\"muted\">" : " — ", d->f);
        esc(d->f, title);
        fputs(h1 ? "</span>" : "", d->f);
    }
}

/* The head, the style, the dry-run banner and the title. */
static void page_begin(struct rune_report_doc *d, json_t *rep)
{
    json_t *inc = json_object_get(rep, "incident");
    FILE *f = d->f;

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          /* The page asks for nothing: no request, no script, wherever it
           * is opened (mailed, archived, printed to pdf by Chromium). */
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; img-src data:\">\n"
          "<link rel=\"icon\" href=\"data:,\">\n<title>",
          f);
    page_title(d, inc, false);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", css);
    if (d->sim)
        fputs("<div class=\"sim\">SIMULATED &#8212; dry-run (rune plan), not an incident. "
              "Nothing was changed; times, outcome and objectives are those of the "
              "simulation.</div>\n",
              f);
    fputs("<h1>", f);
    page_title(d, inc, true);
    fputs("</h1>\n", f);
}

static void page_end(struct rune_report_doc *d, json_t *rep)
{
    if (d->sim)
        fputs("<div class=\"sim\">SIMULATED &#8212; dry-run report: nothing was changed.</div>\n",
              d->f);
    fputs("<footer>Generated by ", d->f);
    esc(d->f, str(rep, "generator"));
    fputs(" from the incident log only.</footer>\n</body>\n</html>\n", d->f);
}

static const struct rune_report_pen html = {
    .parts =
        {
            [RUNE_PART_PARA] = {"<p>", "</p>\n"},
            [RUNE_PART_QUIET] = {"<p class=\"muted\">", "</p>\n"},
            [RUNE_PART_SUBHEAD] = {"<h3>", "</h3>\n"},
            [RUNE_PART_LIST] = {"<ul>\n", "</ul>\n"},
            [RUNE_PART_FILL] = {"<div class=\"fill\">", "</div>\n"},
            [RUNE_PART_ITEM] = {"<li>", "</li>\n"},
            [RUNE_PART_ROW] = {"<tr>", "</tr>\n"},
            [RUNE_PART_CELL] = {"<td>", "</td>"},
            [RUNE_PART_NUM] = {"<td class=\"num\">", "</td>"},
            [RUNE_PART_NAME] = {"<th>", "</th>"},
            [RUNE_PART_GOOD] = {"<td class=\"good\">", "</td>"},
            [RUNE_PART_BAD] = {"<td class=\"no\">", "</td>"},
            [RUNE_PART_MUTED] = {"<span class=\"muted\">", "</span>"},
            /* a stage's times are part of its heading */
            [RUNE_PART_ASIDE] = {" <span class=\"muted\">", "</span>"},
        },
    .words =
        {
            [RUNE_WORD_SEP] = " ",
            [RUNE_WORD_DASH] = " &#8212; ",
            [RUNE_WORD_ARROW] = "&rarr;",
            [RUNE_WORD_DATE_NOTE] = "",
            [RUNE_WORD_MODE_SIM] =
                "<span class=\"st st-simulated\">SIMULATED</span> dry-run: nothing was changed",
            [RUNE_WORD_OUTCOME_SIM] = "<strong>SIMULATED:</strong> ",
            [RUNE_WORD_CHAIN_OK] = "<span class=\"good\">verified</span>",
            [RUNE_WORD_CHAIN_BROKEN] = "<span class=\"bad\">NOT VERIFIED</span> ",
            [RUNE_WORD_CHAIN_BROKEN_END] = "",
            [RUNE_WORD_MET_YES] = "<span class=\"good\">yes</span>",
            [RUNE_WORD_MET_NO] = "<span class=\"no\">NO</span>",
            [RUNE_WORD_MET_NONE] = "<span class=\"muted\">n/a (no target)</span>",
            [RUNE_WORD_COUNTS_OK] = "<span class=\"st st-ok\">ok</span>",
            [RUNE_WORD_UNDONE] = "<span class=\"st st-failed\">undone</span> <span "
                                 "class=\"muted\">by the rollback: this no longer describes the "
                                 "system</span>",
            [RUNE_WORD_COUNTS_DIFFERENT] = "<span class=\"st st-failed\">failed</span>",
            [RUNE_WORD_COUNTS_UNKNOWN] = "<span class=\"st st-unfinished\">unfinished</span>",
            [RUNE_WORD_CONTENT_DIFFERS] = "<span class=\"no\">no</span>",
            [RUNE_WORD_COUNT_WRONG] = "NO",
            [RUNE_WORD_BACKUP_SKIPPED] = "<span class=\"no\">backup skipped</span>",
        },
    .gap = "",
    .table_end = "</table></div>\n",
    .begin = page_begin,
    .end = page_end,
    .heading = heading,
    .table = table,
    .value = value,
    .text = text,
    .code = code,
    .verbatim = verbatim,
    .status = show_status,
    .chart = chart,
};

char *rune_report_html(json_t *rep)
{
    return rune_report_render(&html, rep);
}
