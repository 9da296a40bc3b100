/*
 * cmd_log.c — `rune log`: what happened, read back from the incident log.
 *
 *   rune log [--log PATH] [--runbook NAME] [--limit N] [--json]
 *   rune log show ID [--log PATH] [--json]
 *
 * Lists incidents newest first, or shows one incident's header and
 * timeline. It only reads: a missing log is "nothing recorded yet", never a
 * file created as a side effect. Text shown comes from runbooks and child
 * processes, so control characters are neutralised before they reach the
 * operator's terminal; --json gives everything as stored.
 */
#include "cli.h"
#include "duration.h"
#include "exitcode.h"
#include "journal.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct log_opts {
    const char *log;
    const char *runbook;
    int limit;
    bool json;
};

static void usage(FILE *out)
{
    fputs("usage: rune log [--log PATH] [--runbook NAME] [--limit N] [--json]\n"
          "       rune log show ID [--log PATH] [--json]\n"
          "\n"
          "  --log PATH       the incident log (default: $RUNE_LOG, $RUNE_HOME/incidents.db,\n"
          "                   or ~/.local/state/rune/incidents.db)\n"
          "  --runbook NAME   only incidents of this runbook\n"
          "  --limit N        at most N incidents (newest first)\n"
          "  --json           print JSON instead of a table\n",
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
static void put_clean(const char *s)
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
    put_clean(s);
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
        return str(inc, "outcome") ? str(inc, "outcome") : "unfinished";
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
    json_array_foreach (list, i, inc) {
        for (int c = 0; c < NCOLS; c++) {
            int n = cols(cell(inc, c, buf, sizeof buf));
            if (n > width[c])
                width[c] = n;
        }
    }
    for (int c = 0; c < NCOLS; c++)
        put_cell(headers[c], c == NCOLS - 1 ? 0 : width[c] + 2);
    putchar('\n');
    json_array_foreach (list, i, inc) {
        for (int c = 0; c < NCOLS; c++)
            put_cell(cell(inc, c, buf, sizeof buf), c == NCOLS - 1 ? 0 : width[c] + 2);
        putchar('\n');
    }
}

static int print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2));
    if (!s) {
        fprintf(stderr, "rune log: out of memory\n");
        return RUNE_EXIT_INTERNAL;
    }
    puts(s);
    free(s);
    return RUNE_EXIT_OK;
}

static int list_incidents(struct rune_journal *j, const struct log_opts *o)
{
    json_t *list = rune_journal_list(j, o->runbook, o->limit);
    int rc = RUNE_EXIT_OK;

    if (!list) {
        fprintf(stderr, "rune log: %s\n", rune_journal_error(j));
        return RUNE_EXIT_INTERNAL;
    }
    if (o->json)
        rc = print_json(list);
    else if (json_array_size(list) == 0 && o->runbook)
        printf("no incidents of runbook %s recorded in %s\n", o->runbook, rune_journal_path(j));
    else if (json_array_size(list) == 0)
        printf("no incidents recorded yet in %s\n", rune_journal_path(j));
    else
        print_table(list);
    json_decref(list);
    return rc;
}

/* ---- rune log show ID ---- */

/* ISO-8601 "YYYY-MM-DDTHH:MM:SS.mmmZ" to wall ms; -1 if it is not one. */
static long long iso_ms(const char *s)
{
    struct tm tm = {0};
    int ms = 0;

    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm) * 1000 + ms;
}

static void field(const char *name, const char *value)
{
    printf("  %-11s", name);
    put_clean(or_dash(value));
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
    long long t0 = iso_ms(str(inc, "started_at")), t1 = iso_ms(str(inc, "ended_at"));
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
    put_clean(or_dash(str(inc, "id")));
    if (str(inc, "title")) {
        fputs(": ", stdout);
        put_clean(str(inc, "title"));
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
    else
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
static void add_approval(json_t *d, char *buf, size_t len)
{
    const char *who = str(d, "who"), *how = str(d, "how"), *q = str(d, "question");
    json_t *approved = json_object_get(d, "approved");
    char part[512];

    if (!json_is_boolean(approved) && !who && !how)
        return;
    snprintf(part, sizeof part, "%s%s%s%s%s",
             json_is_boolean(approved) ? (json_is_true(approved) ? "approved" : "declined")
                                       : "decided",
             who ? " by " : "", who ? who : "", how ? " via " : "", how ? how : "");
    add(buf, len, part);
    if (q) {
        snprintf(part, sizeof part, "\"%s\"", q);
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

/*
 * The one line of an event's detail worth reading in a timeline. Knows
 * what the engine records: `error` and `tail` of a step attempt, `text`
 * of a note, `message` of a log line, `question`/`who`/`how`/`approved`
 * of an approval, `reason`/`plan` for skips and dry-runs. Anything else
 * is shown as compact JSON, cut short (--json has it whole).
 */
static const char *summary(json_t *d, char *buf, size_t len)
{
    static const char *const plain[] = {"error", "text", "message", "reason", "plan", NULL};

    buf[0] = '\0';
    if (!json_is_object(d))
        return buf;
    for (int i = 0; plain[i]; i++)
        add(buf, len, str(d, plain[i]));
    add_approval(d, buf, len);
    if (!buf[0])
        add_json(d, buf, len);
    return buf;
}

enum { E_STAGE, E_STEP, E_ATTEMPT, E_KIND, E_STATUS, E_DURATION, NECOLS };

static const char *ecell(json_t *ev, int col, char *buf, size_t len)
{
    json_t *v;

    switch (col) {
    case E_STAGE:
        return or_dash(str(ev, "stage"));
    case E_STEP:
        return or_dash(str(ev, "step"));
    case E_ATTEMPT:
        v = json_object_get(ev, "attempt");
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return "";
        snprintf(buf, len, "#%lld", (long long)json_integer_value(v));
        return buf;
    case E_KIND:
        return or_dash(str(ev, "kind"));
    case E_STATUS:
        return str(ev, "status") ? str(ev, "status") : "";
    default:
        v = json_object_get(ev, "duration_ms");
        return json_is_integer(v) ? rune_duration_str(json_integer_value(v), buf, len) : "";
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
            put_clean(copy);
        putchar('\n');
        free(copy);
        line = nl ? nl + 1 : NULL;
    }
}

static bool failed_status(const char *s)
{
    return s && (!strcmp(s, "failed") || !strcmp(s, "timeout") || !strcmp(s, "cancelled"));
}

static void print_timeline(json_t *events)
{
    int width[NECOLS] = {0};
    char buf[64], detail[1024];
    size_t i;
    json_t *ev;
    const char *day = NULL;

    printf("\ntimeline (%zu event%s, UTC):\n", json_array_size(events),
           json_array_size(events) == 1 ? "" : "s");
    json_array_foreach (events, i, ev) {
        for (int c = 0; c < NECOLS; c++) {
            int n = cols(ecell(ev, c, buf, sizeof buf));
            if (n > width[c])
                width[c] = n;
        }
    }
    json_array_foreach (events, i, ev) {
        const char *at = or_dash(str(ev, "at"));
        const char *tail = str(json_object_get(ev, "detail"), "tail");

        /* A new date line when the incident crosses midnight. */
        if (strlen(at) >= 23 && (!day || strncmp(day, at, 10) != 0)) {
            if (day)
                printf("  -- %.10s --\n", at);
            day = at;
        }
        summary(json_object_get(ev, "detail"), detail, sizeof detail);
        /* Pad up to the last column with something in it: no trailing blanks. */
        int last = detail[0] ? NECOLS : -1;
        for (int c = 0; c < NECOLS && !detail[0]; c++)
            if (*ecell(ev, c, buf, sizeof buf))
                last = c;
        printf("  %.12s", strlen(at) >= 23 ? at + 11 : at);
        for (int c = 0; c <= last && c < NECOLS; c++) {
            fputs("  ", stdout);
            put_cell(ecell(ev, c, buf, sizeof buf), c < last ? width[c] : 0);
        }
        if (detail[0]) {
            fputs("  ", stdout);
            put_clean(detail);
        }
        putchar('\n');
        if (tail && *tail && failed_status(str(ev, "status")))
            print_tail(tail, 16);
    }
}

static int show_incident(struct rune_journal *j, const char *id, const struct log_opts *o)
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
    if (o->json) {
        rc = print_json(inc);
    } else {
        print_header(inc);
        print_timeline(json_object_get(inc, "events"));
    }
    json_decref(inc);
    return rc;
}

/* ---- Command line ---- */

/* Parses flags anywhere on the line; returns -1 (message printed) on a
 * bad one, 1 for --help. */
static int parse(int argc, char **argv, struct log_opts *o)
{
    static const struct option longopts[] = {
        {"log", required_argument, NULL, 'l'},   {"runbook", required_argument, NULL, 'r'},
        {"limit", required_argument, NULL, 'n'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
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
            o->runbook = optarg;
            break;
        case 'n':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v <= 0 || v > INT_MAX) {
                fprintf(stderr, "rune log: --limit wants a positive number, not \"%s\"\n", optarg);
                return -1;
            }
            o->limit = (int)v;
            break;
        case 'j':
            o->json = true;
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

int cmd_log(int argc, char **argv)
{
    struct log_opts o = {NULL, NULL, 0, false};
    char path[PATH_MAX], err[1024];
    struct rune_journal *j = NULL;
    const char *id = NULL;
    int rc = parse(argc, argv, &o);

    if (rc > 0) {
        usage(stdout);
        return RUNE_EXIT_OK;
    }
    if (rc < 0)
        return RUNE_EXIT_INVALID;
    if (optind < argc) {
        if (strcmp(argv[optind], "show") != 0) {
            fprintf(stderr,
                    "rune log: unknown subcommand \"%s\"; use `rune log` or "
                    "`rune log show ID`\n",
                    argv[optind]);
            return RUNE_EXIT_INVALID;
        }
        if (argc - optind != 2) {
            fprintf(stderr, "rune log show: give exactly one incident ID; `rune log` lists them\n");
            return RUNE_EXIT_INVALID;
        }
        if (o.runbook || o.limit) {
            fprintf(stderr, "rune log show: --runbook and --limit apply to the list, not to "
                            "one incident\n");
            return RUNE_EXIT_INVALID;
        }
        id = argv[optind + 1];
    }

    rune_journal_default_path(o.log, path, sizeof path);
    rc = rune_journal_open_read(path, &j, err, sizeof err);
    if (rc == RUNE_JOURNAL_ABSENT) {
        if (id) {
            fprintf(stderr, "rune log: no incident %s in %s; `rune log` lists them\n", id, path);
            return RUNE_EXIT_INVALID;
        }
        if (o.json)
            puts("[]");
        else
            printf("%s\n", err);
        return RUNE_EXIT_OK;
    }
    if (rc != 0) {
        fprintf(stderr, "rune log: %s\n", err);
        return RUNE_EXIT_INTERNAL;
    }
    rc = id ? show_incident(j, id, &o) : list_incidents(j, &o);
    rune_journal_close(j);
    return rc;
}
