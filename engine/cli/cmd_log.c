/*
 * cmd_log.c — `rune log`: what happened, read back from the incident log.
 *
 *   rune log [--log PATH] [--runbook NAME] [--outcome O] [--since WHEN] [--limit N] [--json]
 *   rune log show ID [--log PATH] [--json]
 *   rune log verify ID | --all [--log PATH] [--json]
 *   rune log export ID [--log PATH] [--json]
 *   rune log head [--log PATH] [--json]
 *
 * Lists incidents newest first, shows one incident's header and timeline
 * (its events decoded by the record layer, record_read.h), recomputes the
 * hash chain of one or every incident and the links between incidents,
 * exports an incident and its events as JSON, or prints the log's head
 * (those three in cmd_log_chain.c). It only reads: a missing log is "nothing recorded
 * yet", never a file created as a side effect. Text shown comes from
 * runbooks and child processes, so control characters are neutralised
 * before they reach the operator's terminal; --json gives everything as
 * stored.
 */
#include "cmd_log.h"
#include "cli.h"
#include "clock.h"
#include "duration.h"
#include "exitcode.h"
#include "journal.h"
#include "meter.h"
#include "record_read.h"
#include "report.h"
#include "suggest.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What --outcome accepts: the outcomes a run ends with (docs/cli.md, exit
 * codes; named by the record layer's table), and "unfinished" for
 * incidents with no end recorded. */
static const enum rune_event_status outcomes[] = {
    RUNE_ST_RESOLVED, RUNE_ST_NO_INCIDENT, RUNE_ST_ROLLED_BACK, RUNE_ST_FAILED, RUNE_ST_ABORTED};
#define NOUTCOMES (sizeof outcomes / sizeof outcomes[0] + 1)

static void usage(FILE *out)
{
    fputs(
        "usage: rune log [--runbook NAME] [--outcome O] [--since WHEN] [--limit N] [--json]\n"
        "       rune log show ID [--json]\n"
        "       rune log verify ID|--all [--json]\n"
        "       rune log export ID [--json]\n"
        "       rune log head [--json]\n"
        "       rune log locks [--json]   who holds which lock of a shared log (host, operator,\n"
        "                                 incident)\n"
        "       rune log note ID --root-cause T --action T --owner W --due DAY ...  (see --help)\n"
        "       rune log push [--log URL] [--from LOCAL]  (offline incidents to the shared log)\n"
        "\n"
        "  --log PATH       the incident log (default: $RUNE_LOG, $RUNE_HOME/incidents.db,\n"
        "                   or ~/.local/state/rune/incidents.db); postgresql://... is a log\n"
        "                   shared by a team (docs/teams.md)\n"
        "  --runbook NAME   only incidents of this runbook\n"
        "  --outcome O      only incidents that ended so: resolved, no_incident, rolled_back,\n"
        "                   failed, aborted, or unfinished (no end recorded)\n"
        "  --since WHEN     only incidents started since a UTC date or time (2026-11-01,\n"
        "                   2026-11-01T08:00) or a duration ago (7d, 12h, 30m)\n"
        "  --limit N        at most N incidents (newest first)\n"
        "  --all            verify: every incident in the log\n"
        "  --json           print JSON instead of text\n"
        "\n"
        "verify recomputes the hash chain and names the first event that was changed,\n"
        "inserted, deleted or reordered, and checks each incident's link to the one begun\n"
        "before it; it exits 0 when intact, 4 when not. head prints the log's head hash:\n"
        "keep it elsewhere to check later that the log still ends there.\n",
        out);
}

/* ---- Text helpers ---- */

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

/* Columns a string takes on a terminal, counting UTF-8 code points. */
static int cols(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Writes s on one line with other control characters (terminal escapes,
 * CR) shown as '?': a tab or newline becomes a space. */
void cmd_log_put_clean(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\t' || ch == '\n')
            ch = ' ';
        else if (ch < 0x20 || ch == 0x7f)
            ch = '?';
        putchar(ch);
    }
}

/* s, cleaned, then spaces up to width columns. */
static void put_cell(const char *s, int width)
{
    cmd_log_put_clean(s);
    for (int n = cols(s); n < width; n++)
        putchar(' ');
}

/* ---- rune log (the list) ---- */

enum { C_ID, C_STARTED, C_RUNBOOK, C_MODE, C_OUTCOME, C_EXIT, C_SEVERITY, NCOLS };
static const char *const headers[NCOLS] = {"ID",      "STARTED", "RUNBOOK", "MODE",
                                           "OUTCOME", "EXIT",    "SEVERITY"};

/* The text of one table cell. Times are UTC, to the second. */
static const char *cell(json_t *inc, int col, char *buf, size_t len)
{
    json_t *exit_code;
    const char *at;

    switch (col) {
    case C_ID:
        return or_dash(str(inc, "id"));
    case C_STARTED:
        at = str(inc, "started_at");
        if (!at || strlen(at) < 19)
            return or_dash(at);
        snprintf(buf, len, "%.19sZ", at);
        return buf;
    case C_RUNBOOK:
        return or_dash(str(inc, "runbook"));
    case C_MODE:
        return or_dash(str(inc, "mode"));
    case C_OUTCOME:
        return str(inc, "outcome") ? str(inc, "outcome")
               : str(inc, "state") ? str(inc, "state")
                                   : "unfinished";
    case C_EXIT:
        exit_code = json_object_get(inc, "exit_code");
        if (!json_is_integer(exit_code))
            return "-";
        snprintf(buf, len, "%lld", (long long)json_integer_value(exit_code));
        return buf;
    default:
        return or_dash(str(inc, "severity"));
    }
}

static void print_table(json_t *list)
{
    int width[NCOLS];
    char buf[64];
    size_t i;
    json_t *inc;

    for (int c = 0; c < NCOLS; c++)
        width[c] = cols(headers[c]);
    json_array_foreach(list, i, inc)
    {
        for (int c = 0; c < NCOLS; c++) {
            int n = cols(cell(inc, c, buf, sizeof buf));
            if (n > width[c])
                width[c] = n;
        }
    }
    for (int c = 0; c < NCOLS; c++)
        put_cell(headers[c], c == NCOLS - 1 ? 0 : width[c] + 2);
    putchar('\n');
    json_array_foreach(list, i, inc)
    {
        for (int c = 0; c < NCOLS; c++)
            put_cell(cell(inc, c, buf, sizeof buf), c == NCOLS - 1 ? 0 : width[c] + 2);
        putchar('\n');
    }
}

/* what: what is printed, for the message when it cannot be. */
int cmd_log_print_json(json_t *v, const char *what)
{
    char *s = json_dumps(v, JSON_INDENT(2));
    if (!s) {
        fprintf(stderr,
                "rune log: no memory to format %s as JSON: free memory on this host, or ask for "
                "less (--limit, --since), and run it again\n",
                what);
        return RUNE_EXIT_INTERNAL;
    }
    puts(s);
    free(s);
    return RUNE_EXIT_OK;
}

/* An unfinished incident's state (running, abandoned, unfinished) into
 * its member "state", with the step an abandoned one reached. */
static void add_state(struct rune_journal *j, json_t *inc)
{
    struct rune_runner rr;
    enum rune_run_state st = rune_record_run_state(j, inc, &rr);

    if (st == RUNE_RUN_ENDED)
        return;
    json_object_set_new(inc, "state", json_string(rune_run_state_name(st)));
    if (st == RUNE_RUN_ABANDONED || st == RUNE_RUN_RUNNING) {
        json_object_set_new(inc, "runner_pid", json_integer(rr.pid));
        json_object_set_new(inc, "last_step",
                            rr.last_step[0] ? json_string(rr.last_step) : json_null());
        json_object_set_new(inc, "last_stage",
                            rr.last_stage[0] ? json_string(rr.last_stage) : json_null());
    }
}

/* Under the list: what to do about each abandoned incident. */
static void print_abandoned(json_t *list)
{
    size_t i;
    json_t *inc;

    json_array_foreach(list, i, inc)
    {
        if (!str(inc, "state") || strcmp(str(inc, "state"), "abandoned") != 0)
            continue;
        printf("\nabandoned: incident %s: its rune (pid %lld) is gone", str(inc, "id"),
               (long long)json_integer_value(json_object_get(inc, "runner_pid")));
        if (str(inc, "last_step")) {
            fputs("; it reached step ", stdout);
            cmd_log_put_clean(str(inc, "last_step"));
            printf(" (%s)", or_dash(str(inc, "last_stage")));
        }
        printf("; `rune resume %s` continues it\n", str(inc, "id"));
    }
}

static int list_incidents(struct rune_journal *j, const struct log_opts *o)
{
    json_t *list = rune_journal_find(j, &o->filter), *inc;
    const struct rune_journal_filter *f = &o->filter;
    int rc = RUNE_EXIT_OK;
    size_t i;

    if (!list) {
        fprintf(stderr, "rune log: %s\n", rune_journal_error(j));
        return RUNE_EXIT_INTERNAL;
    }
    json_array_foreach(list, i, inc) add_state(j, inc);
    if (o->json)
        rc = cmd_log_print_json(list, "the list of incidents");
    else if (json_array_size(list) == 0 && (f->runbook || f->outcome || f->since))
        printf("no incidents%s%s%s%s%s%s recorded in %s\n", f->runbook ? " of runbook " : "",
               f->runbook ? f->runbook : "", f->outcome ? " with outcome " : "",
               f->outcome ? f->outcome : "", f->since ? " since " : "", f->since ? f->since : "",
               rune_journal_path(j));
    else if (json_array_size(list) == 0)
        printf("no incidents recorded yet in %s\n", rune_journal_path(j));
    else {
        print_table(list);
        print_abandoned(list);
    }
    json_decref(list);
    return rc;
}

/* ---- rune log show ID ---- */

static void field(const char *name, const char *value)
{
    printf("  %-11s", name);
    cmd_log_put_clean(or_dash(value));
    putchar('\n');
}

/* A target in seconds for people ("10m00s"), or "-". */
static const char *target(json_t *seconds, char *buf, size_t len)
{
    if (!json_is_integer(seconds))
        return "-";
    return rune_duration_str(json_integer_value(seconds) * 1000, buf, len);
}

/* Start, end (with how long it took) and the recovery targets. */
static void print_times(json_t *inc)
{
    long long t0 = rune_report_iso_ms(str(inc, "started_at"));
    long long t1 = rune_report_iso_ms(str(inc, "ended_at"));
    json_t *rto = json_object_get(inc, "rto_target_s");
    json_t *rpo = json_object_get(inc, "rpo_target_s");
    char buf[256], d1[32];

    field("started", str(inc, "started_at"));
    if (t0 >= 0 && t1 >= t0) {
        snprintf(buf, sizeof buf, "%s (took %s)", str(inc, "ended_at"),
                 rune_duration_str(t1 - t0, d1, sizeof d1));
        field("ended", buf);
    } else {
        field("ended", str(inc, "ended_at"));
    }
    if (json_is_integer(rto) || json_is_integer(rpo)) {
        char d2[32];
        snprintf(buf, sizeof buf, "RTO %s, RPO %s", target(rto, d1, sizeof d1),
                 target(rpo, d2, sizeof d2));
        field("targets", buf);
    }
}

static void print_header(json_t *inc)
{
    json_t *inputs = json_object_get(inc, "inputs");
    json_t *exit_code = json_object_get(inc, "exit_code");
    char buf[32];
    char *in = NULL;

    fputs("incident ", stdout);
    cmd_log_put_clean(or_dash(str(inc, "id")));
    if (str(inc, "title")) {
        fputs(": ", stdout);
        cmd_log_put_clean(str(inc, "title"));
    }
    putchar('\n');
    field("runbook", str(inc, "runbook"));
    field("path", str(inc, "runbook_path"));
    field("sha256", str(inc, "runbook_sha256"));
    field("operator", str(inc, "operator"));
    field("host", str(inc, "host"));
    field("mode", str(inc, "mode"));
    if (inputs && !json_is_null(inputs))
        in = json_dumps(inputs, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    field("inputs", in);
    free(in);
    if (str(inc, "outcome"))
        field("outcome", str(inc, "outcome"));
    else if (str(inc, "state") && !strcmp(str(inc, "state"), "abandoned")) {
        char buf2[512];
        snprintf(buf2, sizeof buf2,
                 "abandoned (its rune, pid %lld, is gone; it reached step %s in %s): `rune "
                 "resume %s` continues it",
                 (long long)json_integer_value(json_object_get(inc, "runner_pid")),
                 or_dash(str(inc, "last_step")), or_dash(str(inc, "last_stage")),
                 or_dash(str(inc, "id")));
        field("outcome", buf2);
    } else if (str(inc, "state") && !strcmp(str(inc, "state"), "running")) {
        char buf2[128];
        snprintf(buf2, sizeof buf2, "running (pid %lld)",
                 (long long)json_integer_value(json_object_get(inc, "runner_pid")));
        field("outcome", buf2);
    } else
        field("outcome", "unfinished (no end recorded: still running, or rune was stopped)");
    if (json_is_integer(exit_code))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(exit_code));
    field("exit code", json_is_integer(exit_code) ? buf : NULL);
    if (str(inc, "severity"))
        field("severity", str(inc, "severity"));
    print_times(inc);
    if (str(inc, "resumed_from"))
        field("resumes", str(inc, "resumed_from"));
}

/* Appends "; text" (or text) to buf. */
static void add(char *buf, size_t len, const char *text)
{
    size_t n = strlen(buf);
    if (!text || !*text || n >= len - 1)
        return;
    snprintf(buf + n, len - n, "%s%s", n ? "; " : "", text);
}

/* "approved by alice via tty; "restart the primary?"" from an approval. */
static void add_approval(const struct rune_rec_event *e, char *buf, size_t len)
{
    char part[512];

    if (e->approved < 0 && !e->who && !e->how)
        return;
    snprintf(part, sizeof part, "%s%s%s%s%s",
             e->approved < 0 ? "decided"
             : e->approved   ? "approved"
                             : "declined",
             e->who ? " by " : "", e->who ? e->who : "", e->how ? " via " : "",
             e->how ? e->how : "");
    add(buf, len, part);
    if (e->question) {
        snprintf(part, sizeof part, "\"%s\"", e->question);
        add(buf, len, part);
    }
}

/* A detail we know nothing about, as compact JSON cut to 120 bytes (the
 * tail is left out: it is printed under the line). */
static void add_json(json_t *d, char *buf, size_t len)
{
    json_t *rest = json_copy(d);
    char *s;

    if (!rest)
        return;
    json_object_del(rest, "tail");
    s = json_object_size(rest) ? json_dumps(rest, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (s && strlen(s) > 120)
        snprintf(buf, len, "%.117s...", s);
    else if (s)
        snprintf(buf, len, "%s", s);
    free(s);
    json_decref(rest);
}

/* A progress sample for people (meter.h says how it reads). */
static void add_progress(const struct rune_rec_event *e, char *buf, size_t len)
{
    char part[512];
    int unit = rune_unit_parse(e->unit);

    if (e->kind != RUNE_EV_PROGRESS || e->done == RUNE_REC_NONE || unit < 0)
        return;
    add(buf, len,
        rune_meter_sample_str(e->done, e->total == RUNE_REC_NONE ? -1 : e->total,
                              (enum rune_unit)unit, e->rate == RUNE_REC_NONE ? -1 : e->rate,
                              e->elapsed_ms == RUNE_REC_NONE ? -1 : e->elapsed_ms, e->phase,
                              e->final, part, sizeof part));
}

/*
 * The one line of an event's detail worth reading in a timeline, from what
 * the record layer decoded: the error of a step attempt, the text of a
 * note, the message of a log line, the reason of a skip, the plan of a
 * dry-run, the decision of an approval, how far a progress sample says a
 * step was. Anything else is shown as compact
 * JSON, cut short (--json has it whole).
 */
static const char *summary(const struct rune_rec_event *e, char *buf, size_t len)
{
    const char *const plain[] = {e->error, e->text, e->message, e->reason, e->plan};

    buf[0] = '\0';
    if (!json_is_object(e->detail))
        return buf;
    if (e->kind == RUNE_EV_INCIDENT_RESUME) {
        char gap[32] = "?";
        if (e->gap_ms != RUNE_REC_NONE)
            rune_duration_str(e->gap_ms, gap, sizeof gap);
        snprintf(buf, len,
                 "resumed by %s (pid %lld) after a gap of %s: rune (pid %lld) died after %s; "
                 "%zu step%s run again, %zu child group%s ended",
                 e->who ? e->who : "?", e->pid, gap, e->dead_pid, e->after ? e->after : "?",
                 json_array_size(e->rerun), json_array_size(e->rerun) == 1 ? "" : "s",
                 json_array_size(e->orphans_ended),
                 json_array_size(e->orphans_ended) == 1 ? "" : "s");
        return buf;
    }
    if (e->kind == RUNE_EV_INCIDENT_NOTE) {
        snprintf(buf, len, "noted by %s%s%s; %zu action%s", e->who ? e->who : "?",
                 e->root_cause ? ": root cause " : "", e->root_cause ? e->root_cause : "",
                 json_array_size(e->actions), json_array_size(e->actions) == 1 ? "" : "s");
        return buf;
    }
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        add(buf, len, plain[i]);
    add_approval(e, buf, len);
    add_progress(e, buf, len);
    if (!buf[0])
        add_json(e->detail, buf, len);
    return buf;
}

enum { E_STAGE, E_STEP, E_ATTEMPT, E_KIND, E_STATUS, E_DURATION, NECOLS };

static const char *ecell(const struct rune_rec_event *e, int col, char *buf, size_t len)
{
    switch (col) {
    case E_STAGE:
        return or_dash(e->stage);
    case E_STEP:
        return or_dash(e->step);
    case E_ATTEMPT:
        if (e->attempt == RUNE_REC_NONE || e->attempt <= 0)
            return "";
        snprintf(buf, len, "#%lld", e->attempt);
        return buf;
    case E_KIND:
        return or_dash(e->kind_name);
    case E_STATUS:
        return e->status_name ? e->status_name : "";
    default:
        return e->duration_ms != RUNE_REC_NONE ? rune_duration_str(e->duration_ms, buf, len) : "";
    }
}

/* The kept output of a failed attempt, each line indented under it. */
static void print_tail(const char *tail, int indent)
{
    const char *line = tail;

    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        char *copy = strndup(line, n);

        printf("%*s| ", indent, "");
        if (copy)
            cmd_log_put_clean(copy);
        putchar('\n');
        free(copy);
        line = nl ? nl + 1 : NULL;
    }
}

static void print_timeline(json_t *events)
{
    int width[NECOLS] = {0};
    char buf[64], detail[1024];
    size_t i;
    json_t *ev;
    struct rune_rec_event e;
    const char *day = NULL;

    printf("\ntimeline (%zu event%s, UTC):\n", json_array_size(events),
           json_array_size(events) == 1 ? "" : "s");
    json_array_foreach(events, i, ev)
    {
        rune_record_decode(ev, &e);
        for (int c = 0; c < NECOLS; c++) {
            int n = cols(ecell(&e, c, buf, sizeof buf));
            if (n > width[c])
                width[c] = n;
        }
    }
    json_array_foreach(events, i, ev)
    {
        rune_record_decode(ev, &e);
        const char *at = or_dash(e.at);

        /* A new date line when the incident crosses midnight. */
        if (strlen(at) >= 23 && (!day || strncmp(day, at, 10) != 0)) {
            if (day)
                printf("  -- %.10s --\n", at);
            day = at;
        }
        summary(&e, detail, sizeof detail);
        /* Pad up to the last column with something in it: no trailing blanks. */
        int last = detail[0] ? NECOLS : -1;
        for (int c = 0; c < NECOLS && !detail[0]; c++)
            if (*ecell(&e, c, buf, sizeof buf))
                last = c;
        printf("  %.12s", strlen(at) >= 23 ? at + 11 : at);
        for (int c = 0; c <= last && c < NECOLS; c++) {
            fputs("  ", stdout);
            put_cell(ecell(&e, c, buf, sizeof buf), c < last ? width[c] : 0);
        }
        if (detail[0]) {
            fputs("  ", stdout);
            cmd_log_put_clean(detail);
        }
        putchar('\n');
        /* what a child printed last, under an attempt that failed (the
         * record layer's one definition of failed) */
        if (e.tail && *e.tail && rune_event_status_failed(e.status))
            print_tail(e.tail, 16);
    }
}

/* The files the run made, after its timeline: where they are and the
 * SHA-256 that says they are still what the run wrote. */
static void print_artifacts(json_t *rows)
{
    size_t i;
    json_t *r;
    struct rune_rec_artifact a;
    if (!json_array_size(rows))
        return;
    printf("\nartifacts:\n");
    json_array_foreach(rows, i, r)
    {
        rune_record_artifact_decode(r, &a);
        printf("  %-18s %s\n", a.step ? a.step : "-", a.path);
        printf("  %-18s sha256 %s", "", a.sha256 ? a.sha256 : "-");
        if (a.bytes != RUNE_REC_NONE)
            printf(", %lld bytes", a.bytes);
        printf("%s%s\n", a.kind ? ", by " : "", a.kind ? a.kind : "");
    }
}

/* The children an abandoned run left that are still running: what
 * `rune resume` will end before anything runs again. */
static void print_orphans(json_t *orphans)
{
    size_t i;
    json_t *k;

    if (!json_array_size(orphans))
        return;
    printf("\nchildren still alive (`rune resume` ends them before anything runs again):\n");
    json_array_foreach(orphans, i, k)
    {
        json_t *alive = json_object_get(k, "alive");
        size_t m;
        json_t *p;
        printf("  step %s attempt %lld: %s, process group %lld:", or_dash(str(k, "step")),
               (long long)json_integer_value(json_object_get(k, "attempt")),
               or_dash(str(k, "program")),
               (long long)json_integer_value(json_object_get(k, "pid")));
        json_array_foreach(alive, m, p) printf(" %lld", (long long)json_integer_value(p));
        printf(" alive\n");
    }
}

int cmd_log_show(struct rune_journal *j, const char *id, const struct log_opts *o)
{
    json_t *inc = rune_journal_get(j, id);
    int rc = RUNE_EXIT_OK;

    if (!inc && *rune_journal_error(j)) {
        fprintf(stderr, "rune log: %s\n", rune_journal_error(j));
        return RUNE_EXIT_INTERNAL;
    }
    if (!inc) {
        fprintf(stderr, "rune log: no incident %s in %s; `rune log` lists them\n", id,
                rune_journal_path(j));
        return RUNE_EXIT_INVALID;
    }
    add_state(j, inc);
    json_t *orphans = str(inc, "state") && !strcmp(str(inc, "state"), "abandoned")
                          ? rune_record_orphans(j, id)
                          : NULL;
    if (orphans)
        json_object_set_new(inc, "orphans", orphans);
    if (o->json) {
        rc = cmd_log_print_json(inc, "the incident");
    } else {
        print_header(inc);
        print_orphans(orphans);
        print_timeline(json_object_get(inc, "events"));
        print_artifacts(json_object_get(inc, "artifacts"));
    }
    json_decref(inc);
    return rc;
}

/* ---- Command line ---- */

/* --since: a UTC date or time, or a duration ago, as the ISO text the log
 * sorts by. -1 when it is neither. */
static int parse_since(const char *arg, char out[RUNE_ISO_LEN])
{
    size_t len = strlen(arg);
    char full[64];
    long long ms;

    if (rune_duration_parse(arg, &ms) == 0) {
        rune_clock_iso(out, rune_clock_wall_ms() - ms);
        return 0;
    }
    /* a date, or a time to the minute or second: completed to the form
     * the log writes ("2026-11-01T08:00:00.000Z") */
    if (len == 10)
        snprintf(full, sizeof full, "%sT00:00:00.000Z", arg);
    else if (len == 16)
        snprintf(full, sizeof full, "%s:00.000Z", arg);
    else if (len == 19)
        snprintf(full, sizeof full, "%s.000Z", arg);
    else
        snprintf(full, sizeof full, "%s", arg);
    if ((ms = rune_report_iso_ms(full)) < 0)
        return -1;
    rune_clock_iso(out, ms);
    return 0;
}

static int parse_outcome(const char *arg)
{
    const char *names[NOUTCOMES];
    size_t n = NOUTCOMES;
    char hint[128];

    for (size_t i = 0; i + 1 < n; i++)
        names[i] = rune_event_status_name(outcomes[i]);
    names[n - 1] = "unfinished";
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], arg))
            return 0;
    fputs("rune log: --outcome must be one of", stderr);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s %s", i ? "," : "", names[i]);
    fprintf(stderr, "; not \"%s\"%s\n", arg, rune_suggest_hint(arg, names, n, hint, sizeof hint));
    return -1;
}

/* Parses flags anywhere on the line; returns -1 (message printed) on a
 * bad one, 1 for --help. */
static int parse(int argc, char **argv, struct log_opts *o)
{
    static const struct option longopts[] = {
        {"log", required_argument, NULL, 'l'},
        {"runbook", required_argument, NULL, 'r'},
        {"outcome", required_argument, NULL, 'O'},
        {"since", required_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 0; /* main may have used getopt already; 0 also resets GNU state */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hn:", longopts, NULL)) != -1) {
        char *end;
        long v;

        switch (c) {
        case 'l':
            o->log = optarg;
            break;
        case 'r':
            o->filter.runbook = optarg;
            break;
        case 'O':
            if (parse_outcome(optarg) != 0)
                return -1;
            o->filter.outcome = optarg;
            break;
        case 'S':
            if (parse_since(optarg, o->since) != 0) {
                fprintf(stderr,
                        "rune log: --since wants a UTC date or time (2026-11-01, "
                        "2026-11-01T08:00) or a duration ago (7d, 12h, 30m), not \"%s\"\n",
                        optarg);
                return -1;
            }
            o->filter.since = o->since;
            break;
        case 'n':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v <= 0 || v > INT_MAX) {
                fprintf(stderr, "rune log: --limit wants a positive number, not \"%s\"\n", optarg);
                return -1;
            }
            o->filter.limit = (int)v;
            break;
        case 'j':
            o->json = true;
            break;
        case 'a':
            o->all = true;
            break;
        case 'h':
            return 1;
        case ':':
            fprintf(stderr, "rune log: %s needs a value; see `rune log --help`\n",
                    argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "rune log: unknown option %s; see `rune log --help`\n",
                    argv[optind - 1]);
            return -1;
        }
    }
    return 0;
}

/* The subcommands that act on one incident (verify also on --all). */
static const struct {
    const char *name;
    int (*fn)(struct rune_journal *j, const char *id, const struct log_opts *o);
} subcommands[] = {
    {"show", cmd_log_show},
    {"verify", cmd_log_verify},
    {"export", cmd_log_export},
    {"head", cmd_log_head},
};

/* Checks the words after the flags: nothing (the list) or SUBCOMMAND ID.
 * Sets *sub (-1 for the list) and *id; returns -1 (printed) when wrong. */
static int words(int argc, char **argv, const struct log_opts *o, int *sub, const char **id)
{
    const struct rune_journal_filter *f = &o->filter;
    const char *name;
    bool all;

    *sub = -1;
    *id = NULL;
    if (optind >= argc) {
        if (o->all) {
            fprintf(stderr, "rune log: --all is for `rune log verify --all`\n");
            return -1;
        }
        return 0;
    }
    name = argv[optind];
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (!strcmp(subcommands[i].name, name))
            *sub = (int)i;
    if (*sub < 0) {
        fprintf(stderr,
                "rune log: unknown subcommand \"%s\"; use `rune log`, `rune log show ID`, "
                "`rune log verify ID|--all`, `rune log export ID` or `rune log head`\n",
                name);
        return -1;
    }
    all = o->all && !strcmp(name, "verify");
    if (o->all && !all) {
        fprintf(stderr, "rune log %s: --all is for `rune log verify --all`\n", name);
        return -1;
    }
    if (!strcmp(name, "head")) {
        if (argc - optind != 1) {
            fprintf(stderr, "rune log head: takes no incident ID\n");
            return -1;
        }
        return 0;
    }
    if (argc - optind != (all ? 1 : 2)) {
        fprintf(stderr,
                all ? "rune log verify: --all verifies every incident; give no ID with it\n"
                    : "rune log %s: give exactly one incident ID; `rune log` lists them\n",
                name);
        return -1;
    }
    if (f->runbook || f->outcome || f->since || f->limit) {
        fprintf(stderr,
                "rune log %s: --runbook, --outcome, --since and --limit apply to the "
                "list, not to %s\n",
                name, all ? "verify --all" : "one incident");
        return -1;
    }
    *id = all ? NULL : argv[optind + 1];
    return 0;
}

int cmd_log(int argc, char **argv)
{
    struct log_opts o = {0};
    char path[PATH_MAX], err[1024];
    struct rune_journal *j = NULL;
    const char *id = NULL;

    /* note writes, with flags of its own (cmd_log_note.c) */
    if (argc >= 2 && !strcmp(argv[1], "note"))
        return cmd_log_note(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "locks"))
        return cmd_log_locks(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "push"))
        return cmd_log_push(argc - 1, argv + 1);
    int sub, rc = parse(argc, argv, &o);

    if (rc > 0) {
        usage(stdout);
        return RUNE_EXIT_OK;
    }
    if (rc < 0 || words(argc, argv, &o, &sub, &id) != 0)
        return RUNE_EXIT_INVALID;

    rune_journal_default_path(o.log, path, sizeof path);
    rc = rune_journal_open_read(path, &j, err, sizeof err);
    if (rc == RUNE_JOURNAL_ABSENT) {
        if (id) {
            char *shown = rune_journal_shown(path);
            fprintf(stderr, "rune log: no incident %s in %s; `rune log` lists them\n", id,
                    shown ? shown : "the incident log");
            free(shown);
            return RUNE_EXIT_INVALID;
        }
        if (o.json)
            puts(sub >= 0 && !strcmp(subcommands[sub].name, "head") ? "null" : "[]");
        else
            printf("%s\n", err);
        return RUNE_EXIT_OK;
    }
    if (rc != 0) {
        fprintf(stderr, "rune log: %s\n", err);
        return RUNE_EXIT_INTERNAL;
    }
    rc = sub >= 0 ? subcommands[sub].fn(j, id, &o) : list_incidents(j, &o);
    if (sub < 0 && !o.json && rc == RUNE_EXIT_OK)
        cmd_log_locks_section(path);
    rune_journal_close(j);
    return rc;
}
