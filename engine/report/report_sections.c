/*
 * report_sections.c — the sections of an incident report, in their order,
 * and what each shows from the report object (report.c builds it from the
 * incident log). Every format draws the same sections through its pen
 * (report_render.h), so a section added, moved or changed here changes
 * Markdown and HTML alike. The sections that say what the incident came
 * to (the story, objectives, restored from, the record) are drawn in
 * report_facts.c.
 *
 * A section adds no fact of its own: every line is a member of the report
 * object. Recorded text goes through the pen, which escapes it for its
 * format; what is written here directly is rune's own words and numbers.
 */
#include <stdlib.h>
#include <string.h>

#include "meter.h"
#include "report_draw.h"

/* ---- Step attempts: the timeline and the rollback ---- */

static void attempt_row(struct rune_report_doc *d, json_t *a)
{
    json_t *n = json_object_get(a, "attempt");
    const char *detail = str(a, "error")    ? str(a, "error")
                         : str(a, "reason") ? str(a, "reason")
                                            : str(a, "plan");

    cell(d, str(a, "step"), true);
    cell(d, str(a, "uses"), false);
    begin(d, RUNE_PART_NUM);
    if (json_integer_value(n) > 0)
        fprintf(d->f, "%lld/%lld", (long long)json_integer_value(n),
                (long long)json_integer_value(json_object_get(a, "attempts")));
    else
        d->pen->value(d, NULL);
    end(d, RUNE_PART_NUM);
    clock_cell(d, str(a, "start"));
    clock_cell(d, str(a, "end"));
    begin(d, RUNE_PART_NUM);
    put_duration(d, json_object_get(a, "duration_ms"));
    end(d, RUNE_PART_NUM);
    begin(d, RUNE_PART_CELL);
    d->pen->status(d, rune_report_status(a), false);
    end(d, RUNE_PART_CELL);
    begin(d, RUNE_PART_CELL);
    d->pen->text(d, detail);
    end(d, RUNE_PART_CELL);
}

static void attempts(struct rune_report_doc *d, json_t *list)
{
    static const char *const cols[] = {"step", "type",     "attempt", "start",
                                       "end",  "duration", "status",  "detail"};

    if (json_array_size(list))
        rows(d, RUNE_TABLE_ATTEMPTS, cols, 8, list, attempt_row);
}

/* A stage's heading: its status, then when it ran and how long, or when
 * it was passed over and why. */
static void stage_heading(struct rune_report_doc *d, json_t *s)
{
    begin(d, RUNE_PART_SUBHEAD);
    put(d, "Stage ");
    d->pen->text(d, str(s, "stage"));
    word(d, RUNE_WORD_SEP);
    d->pen->status(d, str(s, "status"), false);
    begin(d, RUNE_PART_ASIDE);
    if (json_is_integer(json_object_get(s, "duration_ms")) || !str(s, "reason")) {
        put_clock(d, str(s, "start"));
        put(d, " ");
        word(d, RUNE_WORD_ARROW);
        put(d, " ");
        put_clock(d, str(s, "end"));
        put(d, " (");
        put_duration(d, json_object_get(s, "duration_ms"));
        put(d, ")");
    } else {
        put(d, "at ");
        put_clock(d, str(s, "start"));
    }
    if (str(s, "reason")) {
        put(d, ": ");
        d->pen->text(d, str(s, "reason"));
    }
    end(d, RUNE_PART_ASIDE);
    end(d, RUNE_PART_SUBHEAD);
}

static void timeline(struct rune_report_doc *d, json_t *rep)
{
    json_t *s;
    size_t i;

    if (d->pen->chart)
        d->pen->chart(d, rep);
    begin(d, RUNE_PART_QUIET);
    put(d, "Times are UTC");
    if (d->day) {
        char day[11];
        snprintf(day, sizeof day, "%.10s", d->day);
        put(d, " on ");
        if (*day)
            d->pen->text(d, day);
        word(d, RUNE_WORD_DATE_NOTE);
    }
    put(d, ".");
    end(d, RUNE_PART_QUIET);
    json_array_foreach(json_object_get(rep, "timeline"), i, s)
    {
        stage_heading(d, s);
        attempts(d, json_object_get(s, "steps"));
    }
}

static void rollback(struct rune_report_doc *d, json_t *rep)
{
    json_t *rb = json_object_get(rep, "rollback");

    begin(d, RUNE_PART_PARA);
    if (!json_is_true(json_object_get(rb, "ran"))) {
        put(d, "The rollback stage did not run");
        if (str(rb, "reason")) {
            put(d, ": ");
            d->pen->text(d, str(rb, "reason"));
        }
        put(d, ".");
        end(d, RUNE_PART_PARA);
        return;
    }
    put(d, "The rollback stage ran and ended ");
    d->pen->status(d, str(rb, "status"), false);
    put(d, ".");
    end(d, RUNE_PART_PARA);
    attempts(d, json_object_get(rb, "actions"));
}

/* ---- How much work long steps did, and how fast ---- */

/* An amount of work ("1.00 GiB", "1.20M rows"), or NULL when v is not one. */
static const char *work_amount(json_t *v, const char *unit, char *buf, size_t len)
{
    int u = rune_unit_parse(unit);
    if (!json_is_integer(v) || u < 0)
        return NULL;
    return rune_meter_amount(json_integer_value(v), (enum rune_unit)u, buf, len);
}

static void throughput_row(struct rune_report_doc *d, json_t *t)
{
    char done[48], total[48], size[48], rate[48], work[200] = "";
    const char *unit = str(t, "unit") ? str(t, "unit") : str(t, "size_unit");
    int u = rune_unit_parse(unit);
    json_t *n = json_object_get(t, "attempt"), *r = json_object_get(t, "rate");
    const char *amt = work_amount(json_object_get(t, "done"), str(t, "unit"), done, sizeof done);
    const char *of = work_amount(json_object_get(t, "total"), str(t, "unit"), total, sizeof total);
    const char *sz =
        work_amount(json_object_get(t, "size"), str(t, "size_unit"), size, sizeof size);

    if (amt && of && strcmp(amt, of) != 0)
        snprintf(work, sizeof work, "%s of %s", amt, of);
    else if (amt)
        snprintf(work, sizeof work, "%s", amt);
    if (sz && (!amt || strcmp(sz, amt) != 0))
        snprintf(work + strlen(work), sizeof work - strlen(work), "%ssize %s", amt ? "; " : "", sz);
    cell(d, str(t, "step"), true);
    cell(d, str(t, "uses"), false);
    begin(d, RUNE_PART_NUM);
    if (json_integer_value(n) > 0)
        fprintf(d->f, "%lld", (long long)json_integer_value(n));
    else
        d->pen->value(d, NULL);
    end(d, RUNE_PART_NUM);
    cell(d, work[0] ? work : NULL, false);
    begin(d, RUNE_PART_NUM);
    put_duration(d, json_object_get(t, "duration_ms"));
    end(d, RUNE_PART_NUM);
    begin(d, RUNE_PART_NUM);
    if (json_is_integer(r) && u >= 0)
        put(d, rune_meter_rate_str((double)json_integer_value(r), (enum rune_unit)u, rate,
                                   sizeof rate));
    else
        d->pen->value(d, NULL);
    end(d, RUNE_PART_NUM);
    begin(d, RUNE_PART_CELL);
    d->pen->status(d, str(t, "status"), false);
    end(d, RUNE_PART_CELL);
}

/* Steps that reported progress or the size of their work: how much they
 * did and at what pace (a restore's GiB and MiB/s), so that the next
 * plan's estimate can be checked against what happened. */
static void throughput(struct rune_report_doc *d, json_t *rep)
{
    static const char *const cols[] = {"step",     "type",       "attempt", "work",
                                       "duration", "throughput", "status"};

    begin(d, RUNE_PART_QUIET);
    put(d, "The work is what the step last reported (done of total) and the size its type "
           "measured before it ran; the throughput is its pace since its first report, or its "
           "size over its duration.");
    end(d, RUNE_PART_QUIET);
    rows(d, RUNE_TABLE_PLAIN, cols, 7, json_object_get(rep, "throughput"), throughput_row);
}

/* ---- Approvals and failures ---- */

static void approval_row(struct rune_report_doc *d, json_t *a)
{
    bool approved = json_is_true(json_object_get(a, "approved"));

    clock_cell(d, str(a, "at"));
    cell(d, str(a, "stage"), false);
    cell(d, str(a, "step"), true);
    cell(d, str(a, "question"), false);
    cell(d, str(a, "who"), false);
    cell(d, str(a, "how"), true);
    begin(d, RUNE_PART_CELL);
    d->pen->status(d, approved ? "approved" : "declined", !approved);
    end(d, RUNE_PART_CELL);
}

static void approvals(struct rune_report_doc *d, json_t *rep)
{
    static const char *const cols[] = {"when", "stage", "step",    "question",
                                       "who",  "how",   "decision"};
    json_t *list = json_object_get(rep, "approvals");

    if (json_array_size(list))
        rows(d, RUNE_TABLE_PLAIN, cols, 7, list, approval_row);
    else
        say(d, "No approvals were asked for.");
}

/* The heading of a step's entry, up to its status: the step, then in
 * muted words its context and what it is ("(stage, attempt 2/3)", "(type,
 * row counts)"). The caller writes the status and closes the heading. */
static void step_heading(struct rune_report_doc *d, json_t *o, const char *context,
                         const char *what)
{
    begin(d, RUNE_PART_SUBHEAD);
    d->pen->code(d, str(o, "step"));
    put(d, " ");
    begin(d, RUNE_PART_MUTED);
    put(d, "(");
    d->pen->text(d, str(o, context));
    fprintf(d->f, ", %s)", what);
    end(d, RUNE_PART_MUTED);
    word(d, RUNE_WORD_SEP);
}

/* Output kept as it was printed (the tail of a failed step's output). */
static void verbatim(struct rune_report_doc *d, const char *s)
{
    start_block(d);
    d->pen->verbatim(d, s);
    d->gap = true;
}

static void failures(struct rune_report_doc *d, json_t *rep)
{
    json_t *list = json_object_get(rep, "failures"), *a;
    size_t i;

    if (!json_array_size(list)) {
        say(d, "No step attempt failed.");
        return;
    }
    json_array_foreach(list, i, a)
    {
        char what[64];
        snprintf(what, sizeof what, "attempt %lld/%lld",
                 (long long)json_integer_value(json_object_get(a, "attempt")),
                 (long long)json_integer_value(json_object_get(a, "attempts")));
        step_heading(d, a, "stage", what);
        d->pen->status(d, str(a, "status"), false);
        put(d, " ");
        begin(d, RUNE_PART_MUTED);
        put(d, "at ");
        put_clock(d, str(a, "at"));
        end(d, RUNE_PART_MUTED);
        end(d, RUNE_PART_SUBHEAD);
        if (str(a, "error")) {
            begin(d, RUNE_PART_PARA);
            d->pen->text(d, str(a, "error"));
            end(d, RUNE_PART_PARA);
        }
        if (str(a, "tail") && *str(a, "tail")) {
            begin(d, RUNE_PART_QUIET);
            put(d, "Last output:");
            end(d, RUNE_PART_QUIET);
            verbatim(d, str(a, "tail"));
        }
    }
}

/* ---- What the steps checked and made ---- */

static void verification(struct rune_report_doc *d, json_t *rep)
{
    json_t *list = json_object_get(rep, "verification"), *v, *t;
    size_t i, k;

    if (!json_array_size(list)) {
        say(d, "No step recorded row counts or a comparison.");
        return;
    }
    json_array_foreach(list, i, v)
    {
        json_t *ok = json_object_get(v, "ok");
        bool cmp = str(v, "kind") && !strcmp(str(v, "kind"), "compare");
        /* a comparison has a column more: same content */
        const char *cols[] = {"table", "expected", "actual", "diff", cmp ? "same content" : "ok",
                              "ok"};

        step_heading(d, v, "uses", cmp ? "content compared" : "row counts");
        word(d, !json_is_boolean(ok) ? RUNE_WORD_COUNTS_UNKNOWN
                : json_is_true(ok)   ? RUNE_WORD_COUNTS_OK
                                     : RUNE_WORD_COUNTS_DIFFERENT);
        if (json_is_true(json_object_get(v, "undone"))) {
            put(d, " ");
            word(d, RUNE_WORD_UNDONE);
        }
        end(d, RUNE_PART_SUBHEAD);
        table(d, RUNE_TABLE_PLAIN, cols, cmp ? 6 : 5);
        json_array_foreach(json_object_get(v, "tables"), k, t)
        {
            bool good = json_is_true(json_object_get(t, "ok"));
            begin(d, RUNE_PART_ROW);
            cell(d, str(t, "table"), true);
            count_cell(d, json_object_get(t, "expected"));
            count_cell(d, json_object_get(t, "actual"));
            count_cell(d, json_object_get(t, "diff"));
            if (cmp) {
                begin(d, RUNE_PART_CELL);
                if (json_is_true(json_object_get(t, "same_content")))
                    put(d, "yes");
                else
                    word(d, RUNE_WORD_CONTENT_DIFFERS);
                end(d, RUNE_PART_CELL);
            }
            begin(d, good ? RUNE_PART_GOOD : RUNE_PART_BAD);
            if (good)
                put(d, "yes");
            else
                word(d, RUNE_WORD_COUNT_WRONG);
            end(d, good ? RUNE_PART_GOOD : RUNE_PART_BAD);
            end(d, RUNE_PART_ROW);
        }
        table_end(d);
    }
}

static void finding(struct rune_report_doc *d, json_t *x)
{
    word(d, RUNE_WORD_BACKUP_SKIPPED);
    put(d, " by step ");
    d->pen->code(d, str(x, "step"));
    put(d, ": ");
    d->pen->code(d, str(x, "path"));
    word(d, RUNE_WORD_DASH);
    d->pen->text(d, str(x, "reason") ? str(x, "reason") : "no reason recorded");
}

/* What a step passed over (a backup that failed verification), listed so
 * that nobody learns of a bad backup on the day it is needed. */
static void findings(struct rune_report_doc *d, json_t *rep)
{
    items(d, json_object_get(rep, "findings"), finding);
}

static void artifact_row(struct rune_report_doc *d, json_t *a)
{
    cell(d, str(a, "step"), true);
    cell(d, str(a, "path"), true);
    count_cell(d, json_object_get(a, "bytes"));
    cell(d, str(a, "sha256"), true);
}

static void artifacts(struct rune_report_doc *d, json_t *rep)
{
    static const char *const cols[] = {"step", "path", "bytes", "SHA-256"};
    json_t *list = json_object_get(rep, "artifacts");

    if (json_array_size(list))
        rows(d, RUNE_TABLE_PLAIN, cols, 4, list, artifact_row);
    else
        say(d, "No step reported a file with its SHA-256.");
}

/* ---- Inputs, notes, and what people fill in ---- */

static void inputs(struct rune_report_doc *d, json_t *rep)
{
    static const char *const cols[] = {"input", "value"};
    json_t *in = json_object_get(rep, "inputs"), *v;
    const char *k;

    begin(d, RUNE_PART_QUIET);
    put(d, "As recorded; secret values are masked as ");
    d->pen->code(d, "***");
    put(d, ".");
    end(d, RUNE_PART_QUIET);
    if (!json_object_size(in)) {
        say(d, "None.");
        return;
    }
    table(d, RUNE_TABLE_PLAIN, cols, 2);
    json_object_foreach(in, k, v)
    {
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        begin(d, RUNE_PART_ROW);
        cell(d, k, true);
        cell(d, json_is_string(v) ? json_string_value(v) : text, true);
        end(d, RUNE_PART_ROW);
        free(text);
    }
    table_end(d);
}

static void note(struct rune_report_doc *d, json_t *n)
{
    put_clock(d, str(n, "at"));
    put(d, " ");
    d->pen->code(d, str(n, "step"));
    put(d, ": ");
    d->pen->text(d, str(n, "text"));
}

static void notes(struct rune_report_doc *d, json_t *rep)
{
    items(d, json_object_get(rep, "notes"), note);
}

/* The sections in the order every format shows them. anchor: the HTML id
 * (links into a report depend on it); optional: the member of the report
 * without which the section is left out, when it is an empty list. */
static const struct section {
    const char *anchor, *title, *optional;
    void (*draw)(struct rune_report_doc *d, json_t *rep);
} sections[] = {
    {"what-happened", "What happened", NULL, rune_report_draw_story},
    {"objectives", "Objectives", NULL, rune_report_draw_objectives},
    {"restored-from", "Restored from", NULL, rune_report_draw_restored},
    {"timeline", "Timeline", NULL, timeline},
    {"throughput", "Throughput", "throughput", throughput},
    {"approvals", "Approvals", NULL, approvals},
    {"failures", "Failures", NULL, failures},
    {"rollback", "Rollback", NULL, rollback},
    {"verification", "Verification", NULL, verification},
    {"findings", "Findings", "findings", findings},
    {"artifacts", "Artifacts", NULL, artifacts},
    {"summary", "Incident record", NULL, rune_report_draw_summary},
    {"inputs", "Inputs", NULL, inputs},
    {"notes", "Notes", "notes", notes},
    {"root-cause", "Root cause", NULL, rune_report_draw_root_cause},
    {"preventive-measures", "Preventive measures", NULL, rune_report_draw_actions},
    {"post-incident-notes", "Post-incident notes", NULL, rune_report_draw_postmortem},
};

char *rune_report_render(const struct rune_report_pen *pen, json_t *rep)
{
    json_t *inc = json_object_get(rep, "incident");
    struct rune_report_doc d = {
        .pen = pen,
        .sim = json_is_true(json_object_get(inc, "simulated")),
        .day = str(inc, "started_at"),
    };
    char *text = NULL;
    size_t len = 0;

    if (!(d.f = open_memstream(&text, &len)))
        return NULL;
    pen->begin(&d, rep);
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        const struct section *s = &sections[i];
        if (s->optional && !json_array_size(json_object_get(rep, s->optional)))
            continue;
        start_block(&d);
        pen->heading(&d, s->anchor, s->title);
        d.gap = true;
        s->draw(&d, rep);
    }
    pen->end(&d, rep);
    if (fclose(d.f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
