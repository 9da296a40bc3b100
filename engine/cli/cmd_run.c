/*
 * cmd_run.c — `rune run RUNBOOK`: validate, then execute.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "cmd_resume.h"
#include "console.h"
#include "duration.h"
#include "exitcode.h"
#include "inputs.h"
#include "journal.h"
#include "lint.h"
#include "report.h"
#include "run.h"
#include "search.h"
#include "validate_out.h"

/* What the command line starts: a run, a plan, or the resume of a run. */
enum mode { MODE_RUN, MODE_PLAN, MODE_RESUME };

static void usage(FILE *out, enum mode mode)
{
    fprintf(out, mode == MODE_PLAN
                     ? "usage: rune plan RUNBOOK [options]   (the same as rune run --dry-run)\n"
                 : mode == MODE_RESUME
                     ? "usage: rune resume ID [options]   (continues a run whose rune died)\n"
                       "  ID                 an abandoned incident (`rune log` marks them)\n"
                       "  -y, --yes          also re-run steps that were running when rune died\n"
                       "                     and may not be safe to run twice (asked otherwise)\n"
                       "  --set NAME=VALUE   an input recorded masked (a secret), given again\n"
                       "the options of rune run:\n"
                     : "usage: rune run RUNBOOK [options]\n");
    fprintf(out,
            "  RUNBOOK            a runbook file, or a name on the search path (`rune list`)\n"
            "  --set NAME=VALUE   give an input (repeatable)\n"
            "  -y, --yes          approve every confirmation (unattended runs)\n"
            "  -j, --jobs N       run up to N steps of a stage at once (default 4)\n"
            "      --force        go on even when detection finds no incident\n"
            "      --detected-at TIME  when the outage began (ISO-8601, e.g.\n"
            "                     2026-11-23T12:00:00Z or with an offset +02:00; default\n"
            "                     $RUNE_DETECTED_AT): RTO, RPO and downtime run from it\n"
            "      --log PATH     incident log (default: $RUNE_LOG, else "
            "$RUNE_HOME/incidents.db, else ~/.local/state/rune/incidents.db);\n"
            "                     postgresql://... is a log shared by a team (docs/teams.md)\n"
            "      --offline      if the shared log cannot be reached, record in the local log\n"
            "                     ($RUNE_HOME/incidents.db ...) instead; `rune log push` later\n"
            "      --operator WHO who is running this (default: $RUNE_OPERATOR, $SUDO_USER, "
            "the login name)\n"
            "      --reports DIR  write the Markdown report there (default: $RUNE_REPORTS, else "
            "reports/ beside the log)\n"
            "      --no-report    write no report\n"
            "      --keep-workdir keep the run's work directory (${run.workdir}) after it "
            "resolves;\n"
            "                     a run that does not resolve always keeps it\n"
            "  -q, --quiet        only failures and the outcome\n"
            "      --no-color     plain text even on a terminal\n"
            "      --progress MODE  how running steps' progress is shown ($RUNE_PROGRESS):\n"
            "                     auto (default: bar on a terminal, else plain), bar (redrawn\n"
            "                     with percent, throughput and ETA), plain (a line per running\n"
            "                     step every interval), json (an object per running step every\n"
            "                     interval, on stderr; docs/progress.md), none\n"
            "      --progress-interval DURATION  how often plain lines or JSON objects are\n"
            "                     written ($RUNE_PROGRESS_INTERVAL; default 10s plain, 1s json)\n"
            "dry-run (nothing is changed; recorded as mode dry-run):\n"
            "      --dry-run      simulate: steps that write are planned, not run\n"
            "      --probe        ... but run the steps that only read\n"
            "      --fail STEP[=MESSAGE]   what if STEP fails (repeatable)\n"
            "      --fail-attempts STEP=N  what if STEP's first N attempts fail\n"
            "      --json         the plan as JSON (schemas/plan.schema.json)\n");
}

/* --fail STEP[=MESSAGE] and --fail-attempts STEP=N into their maps. */
static int what_if(json_t *fails, json_t *attempts, const char *arg, bool counted)
{
    const char *eq = strchr(arg, '=');
    if (eq == arg || (counted && !eq))
        return -1;
    char id[128];
    snprintf(id, sizeof id, "%.*s", (int)(eq ? (size_t)(eq - arg) : strlen(arg)), arg);
    if (!counted) {
        json_object_set_new(fails, id, json_string(eq ? eq + 1 : ""));
        return 0;
    }
    char *end;
    long n = strtol(eq + 1, &end, 10);
    if (*end || n < 1 || n > 1000)
        return -1;
    json_object_set_new(attempts, id, json_integer(n));
    return 0;
}

/* Every step named by --fail/--fail-attempts exists in the runbook. */
static int check_what_if(struct rune_runbook *rb, json_t *map, const char *flag)
{
    const char *id;
    json_t *v;
    int bad = 0;
    json_object_foreach(map, id, v)
    {
        if (!rune_runbook_step(rb, id)) {
            fprintf(stderr, "rune: %s %s: the runbook has no step \"%s\"\n", flag, id, id);
            bad++;
        }
    }
    return bad;
}

/* --progress MODE and --progress-interval DURATION (or their variables,
 * named as such when they are wrong) into o. 0, or -1 with a message. */
static int progress_options(struct rune_run_opts *o, const char *cmd, const char *mode,
                            bool mode_flag, const char *interval, bool interval_flag)
{
    int m = mode && *mode ? rune_progress_mode_parse(mode) : RUNE_PROGRESS_AUTO;
    if (m < 0) {
        fprintf(stderr, "rune %s: %s is \"%s\": use auto, bar, plain, json or none\n", cmd,
                mode_flag ? "--progress" : "RUNE_PROGRESS", mode);
        return -1;
    }
    o->progress = m;
    o->progress_interval_ms =
        m == RUNE_PROGRESS_JSON ? RUNE_PROGRESS_JSON_INTERVAL_MS : RUNE_PROGRESS_INTERVAL_MS;
    if (interval && *interval) {
        long long ms;
        if (rune_duration_parse(interval, &ms) != 0 || ms < 100) {
            fprintf(stderr,
                    "rune %s: %s is \"%s\": give a duration of at least 100ms (\"1s\", "
                    "\"500ms\", \"30\" for seconds)\n",
                    cmd, interval_flag ? "--progress-interval" : "RUNE_PROGRESS_INTERVAL",
                    interval);
            return -1;
        }
        o->progress_interval_ms = ms;
    }
    return 0;
}

/* The person behind the run: sudo keeps the human's name in SUDO_USER. */
static const char *operator_name(const char *flag)
{
    if (flag && *flag)
        return flag;
    const char *e = getenv("RUNE_OPERATOR");
    if (e && *e)
        return e;
    e = getenv("SUDO_USER");
    if (e && *e)
        return e;
    struct passwd *pw = getpwuid(getuid());
    return pw ? pw->pw_name : "unknown";
}

/* ISO-8601 with a zone ("Z", "+02:00", "-0500", or none: UTC) to wall ms.
 * Alerting tools send their local offset; the log keeps UTC. 0, or -1. */
static int parse_when(const char *text, long long *ms)
{
    char utc[64];
    size_t n = strlen(text), cut = n;
    int sign = 0, hh = 0, mm = 0;

    if (n >= sizeof utc || n < 19)
        return -1;
    /* the zone follows the seconds (and their fraction) */
    for (size_t i = 19; i < n; i++)
        if (text[i] == '+' || text[i] == '-') {
            cut = i;
            break;
        }
    if (cut < n) {
        const char *z = text + cut + 1;
        sign = text[cut] == '-' ? -1 : 1;
        if (!(sscanf(z, "%2d:%2d", &hh, &mm) == 2 && strlen(z) == 5) &&
            !(sscanf(z, "%2d%2d", &hh, &mm) == 2 && strlen(z) == 4))
            return -1;
        if (hh > 23 || mm > 59)
            return -1;
    }
    snprintf(utc, sizeof utc, "%.*s", (int)cut, text);
    if (rune_clock_parse_iso(utc, ms) != 0)
        return -1;
    *ms -= sign * (hh * 3600LL + mm * 60LL) * 1000LL;
    return 0;
}

/* --detected-at, else $RUNE_DETECTED_AT, into o->detected (iso holds the
 * UTC text). 0, or -1 with a message: a wrong time is refused before
 * anything runs, never recorded as a guess. */
static int detected_option(struct rune_run_opts *o, const char *flag, const char *cmd,
                           char iso[RUNE_ISO_LEN])
{
    const char *env = getenv("RUNE_DETECTED_AT");
    const char *text = flag ? flag : env && *env ? env : NULL;
    const char *by = flag ? "--detected-at" : "$RUNE_DETECTED_AT";
    long long ms;

    if (!text)
        return 0;
    if (parse_when(text, &ms) != 0) {
        fprintf(stderr,
                "rune %s: %s \"%s\" is not an ISO-8601 time; give it as "
                "2026-11-23T12:00:00Z (or with an offset: 2026-11-23T13:00:00+01:00)\n",
                cmd, by, text);
        return -1;
    }
    /* a minute of grace for an alerting host whose clock runs ahead */
    if (ms > rune_clock_wall_ms() + 60000) {
        fprintf(stderr,
                "rune %s: %s %s is in the future (now is later than that only on a clock "
                "that is wrong); give when the outage began\n",
                cmd, by, text);
        return -1;
    }
    rune_clock_iso(iso, ms);
    o->detected.at = iso;
    o->detected.by = by;
    return 0;
}

/* Makes a relative path absolute (resume goes to the run's directory). */
static const char *absolute(const char *path, char *buf, size_t len)
{
    char cwd[4096];
    if (!path || path[0] == '/' || !getcwd(cwd, sizeof cwd))
        return path;
    snprintf(buf, len, "%s/%s", cwd, path);
    return buf;
}

static int run_or_plan(int argc, char **argv, enum mode mode)
{
    static const struct option opts[] = {
        {"set", required_argument, NULL, 's'},
        {"yes", no_argument, NULL, 'y'},
        {"jobs", required_argument, NULL, 'j'},
        {"force", no_argument, NULL, 'f'},
        {"log", required_argument, NULL, 'l'},
        {"operator", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {"no-color", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {"dry-run", no_argument, NULL, 'D'},
        {"probe", no_argument, NULL, 'P'},
        {"fail", required_argument, NULL, 'F'},
        {"fail-attempts", required_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'J'},
        {"reports", required_argument, NULL, 'R'},
        {"no-report", no_argument, NULL, 'N'},
        {"keep-workdir", no_argument, NULL, 'K'},
        {"detected-at", required_argument, NULL, 'T'},
        {"progress", required_argument, NULL, 'G'},
        {"progress-interval", required_argument, NULL, 'I'},
        {"offline", no_argument, NULL, 'O'},
        {NULL, 0, NULL, 0},
    };
    bool plan = mode == MODE_PLAN, resume = mode == MODE_RESUME;
    const char *cmd = plan ? "plan" : resume ? "resume" : "run";
    json_t *inc = NULL;
    json_t *fails = json_object(), *fail_attempts = json_object();
    struct rune_run_opts o = {.jobs = 4, .dry_run = plan};
    const char *log_flag = NULL, *who = NULL, *reports_flag = NULL, *detected = NULL;
    char detected_iso[RUNE_ISO_LEN];
    const char *progress = getenv("RUNE_PROGRESS"), *interval = getenv("RUNE_PROGRESS_INTERVAL");
    bool progress_flag = false, interval_flag = false;
    bool no_color = false, no_report = false;
    json_t *sets = json_object();
    int c, rc = RUNE_EXIT_INVALID;
    optind = 0;
    while ((c = getopt_long(argc, argv, "yj:qh", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (rune_inputs_parse_set(sets, optarg) != 0) {
                fprintf(stderr, "rune %s: --set needs NAME=VALUE, got \"%s\"\n", cmd, optarg);
                goto out;
            }
            break;
        case 'y':
            o.yes = true;
            break;
        case 'j': {
            char *end;
            long j = strtol(optarg, &end, 10);
            if (*end || j < 1 || j > 256) {
                fprintf(stderr, "rune %s: --jobs needs a number from 1 to 256\n", cmd);
                goto out;
            }
            o.jobs = (int)j;
            break;
        }
        case 'f':
            o.force = true;
            break;
        case 'l':
            log_flag = optarg;
            break;
        case 'O':
            o.offline = true;
            break;
        case 'o':
            who = optarg;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'C':
            no_color = true;
            break;
        case 'D':
            o.dry_run = true;
            break;
        case 'P':
            o.probe = true;
            break;
        case 'J':
            o.json = true;
            break;
        case 'R':
            reports_flag = optarg;
            break;
        case 'N':
            no_report = true;
            break;
        case 'K':
            o.keep_workdir = true;
            break;
        case 'T':
            detected = optarg;
            break;
        case 'G':
            progress = optarg;
            progress_flag = true;
            break;
        case 'I':
            interval = optarg;
            interval_flag = true;
            break;
        case 'F':
        case 'A':
            if (what_if(fails, fail_attempts, optarg, c == 'A') != 0) {
                fprintf(stderr, "rune %s: %s needs %s, got \"%s\"\n", cmd,
                        c == 'A' ? "--fail-attempts" : "--fail",
                        c == 'A' ? "STEP=N (N from 1)" : "STEP or STEP=MESSAGE", optarg);
                goto out;
            }
            break;
        case 'h':
            usage(stdout, mode);
            rc = RUNE_EXIT_OK;
            goto out;
        default:
            usage(stderr, mode);
            goto out;
        }
    }
    /* getopt permutes: flags may come before or after RUNBOOK */
    if (optind != argc - 1) {
        fprintf(stderr,
                resume           ? "rune resume: give one incident ID (`rune log` lists them)\n"
                : optind >= argc ? "rune %s: which runbook? (`rune list` shows them)\n"
                                 : "rune %s: one runbook at a time\n",
                cmd);
        goto out;
    }
    if (resume && o.dry_run) {
        fprintf(stderr, "rune resume: --dry-run: a plan is not resumed; use rune plan\n");
        goto out;
    }
    if (!o.dry_run &&
        (o.probe || o.json || json_object_size(fails) || json_object_size(fail_attempts))) {
        fprintf(stderr, "rune run: --probe, --fail, --fail-attempts and --json are for dry-runs; "
                        "add --dry-run (or use rune plan)\n");
        goto out;
    }
    if (o.dry_run && o.keep_workdir) {
        fprintf(stderr, "rune %s: --keep-workdir: a dry-run makes no work directory to keep\n",
                cmd);
        goto out;
    }
    if (progress_options(&o, cmd, progress, progress_flag, interval, interval_flag) != 0)
        goto out;
    if (resume && detected) {
        fprintf(stderr, "rune resume: --detected-at: the incident's start was recorded when it "
                        "began; a resume cannot move it\n");
        goto out;
    }
    if (!resume && detected_option(&o, detected, cmd, detected_iso) != 0)
        goto out;
    const char *arg = argv[optind];
    char path[4096], err[8192], logbuf[4096], logabs[4200], repabs[4200], localbuf[4096],
        localabs[4200];
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_runbook *rb = NULL;
    rune_journal_default_path(log_flag, logbuf, sizeof logbuf);
    /* a shared log's work directories, locks and reports stay on this
     * host, where the local log would be */
    bool shared = rune_journal_is_shared(logbuf);
    o.log_path = shared ? logbuf : absolute(logbuf, logabs, sizeof logabs);
    o.state_path = shared ? absolute(rune_journal_local_path(localbuf, sizeof localbuf), localabs,
                                     sizeof localabs)
                          : o.log_path;
    reports_flag = absolute(reports_flag, repabs, sizeof repabs);
    if (resume) {
        rc = cmd_resume_prepare(arg, o.log_path, sets, &rb, &inc);
        if (rc != RUNE_EXIT_OK)
            goto out;
        o.resume_id = arg;
        o.resume_inc = inc;
    } else if (rune_search_resolve(arg, path, sizeof path, err, sizeof err) != 0) {
        fprintf(stderr, "rune: %s\n", err);
        goto out;
    } else {
        rb = rune_runbook_load(path, &d);
    }
    if (!rb) {
        rune_diags_print(&d, stderr);
        fprintf(stderr, "rune: %s is not valid (%zu problem%s); nothing was run\n", path, d.n,
                d.n == 1 ? "" : "s");
        rune_diags_free(&d);
        goto out;
    }
    /* warnings (rune validate's) before anything runs; they never stop it */
    struct rune_lints warns = RUNE_LINTS_INIT;
    rune_runbook_lint(rb, &warns);
    if (!o.quiet)
        rune_lints_print(&warns, stderr);
    else if (warns.n) /* --quiet: only failures and the outcome; say where they are */
        fprintf(stderr, "rune: %zu warning%s about %s (`rune validate %s` lists them)\n", warns.n,
                warns.n == 1 ? "" : "s", path, path);
    rune_lints_free(&warns);
    if (check_what_if(rb, fails, "--fail") + check_what_if(rb, fail_attempts, "--fail-attempts")) {
        rune_runbook_free(rb);
        goto out;
    }
    o.fails = fails;
    o.fail_attempts = fail_attempts;
    o.log_flag = log_flag;
    char reportsbuf[4096];
    o.reports_dir =
        no_report ? NULL
                  : rune_report_dir(reports_flag, o.state_path, reportsbuf, sizeof reportsbuf);
    o.operator_name = operator_name(who);
    o.sets = sets;
    bool tty = isatty(STDOUT_FILENO);
    o.progress = rune_progress_mode_resolve((enum rune_progress_mode)o.progress, tty);
    /* the live block: bars, or with --progress none the spinner alone */
    o.live = o.progress == RUNE_PROGRESS_BAR || (o.progress == RUNE_PROGRESS_NONE && tty);
    o.color = tty && o.live && !no_color && !getenv("NO_COLOR");
    rc = rune_run_runbook(rb, &o);
    rune_runbook_free(rb);
out:
    json_decref(inc);
    json_decref(sets);
    json_decref(fails);
    json_decref(fail_attempts);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    return run_or_plan(argc, argv, MODE_RUN);
}

int cmd_plan(int argc, char **argv)
{
    return run_or_plan(argc, argv, MODE_PLAN);
}

int cmd_resume(int argc, char **argv)
{
    return run_or_plan(argc, argv, MODE_RESUME);
}
