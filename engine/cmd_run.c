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
#include "exitcode.h"
#include "inputs.h"
#include "journal.h"
#include "run.h"
#include "search.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rune run RUNBOOK [options]\n"
            "  RUNBOOK            a runbook file, or a name on the search path (`rune list`)\n"
            "  --set NAME=VALUE   give an input (repeatable)\n"
            "  -y, --yes          approve every confirmation (unattended runs)\n"
            "  -j, --jobs N       run up to N steps of a stage at once (default 4)\n"
            "      --force        go on even when detection finds no incident\n"
            "      --log PATH     incident log (default: $RUNE_LOG, else "
            "$RUNE_HOME/incidents.db, else ~/.local/state/rune/incidents.db)\n"
            "      --operator WHO who is running this (default: $RUNE_OPERATOR, $SUDO_USER, "
            "the login name)\n"
            "  -q, --quiet        only failures and the outcome\n"
            "      --no-color     plain text even on a terminal\n");
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

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"set", required_argument, NULL, 's'}, {"yes", no_argument, NULL, 'y'},
        {"jobs", required_argument, NULL, 'j'}, {"force", no_argument, NULL, 'f'},
        {"log", required_argument, NULL, 'l'}, {"operator", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},     {"no-color", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    struct rune_run_opts o = {.jobs = 4};
    const char *log_flag = NULL, *who = NULL;
    bool no_color = false;
    json_t *sets = json_object();
    int c, rc = RUNE_EXIT_INVALID;
    optind = 0;
    while ((c = getopt_long(argc, argv, "yj:qh", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (rune_inputs_parse_set(sets, optarg) != 0) {
                fprintf(stderr, "rune run: --set needs NAME=VALUE, got \"%s\"\n", optarg);
                goto out;
            }
            break;
        case 'y': o.yes = true; break;
        case 'j': {
            char *end;
            long j = strtol(optarg, &end, 10);
            if (*end || j < 1 || j > 256) {
                fprintf(stderr, "rune run: --jobs needs a number from 1 to 256\n");
                goto out;
            }
            o.jobs = (int)j;
            break;
        }
        case 'f': o.force = true; break;
        case 'l': log_flag = optarg; break;
        case 'o': who = optarg; break;
        case 'q': o.quiet = true; break;
        case 'C': no_color = true; break;
        case 'h': usage(stdout); rc = RUNE_EXIT_OK; goto out;
        default: usage(stderr); goto out;
        }
    }
    /* getopt permutes: flags may come before or after RUNBOOK */
    if (optind != argc - 1) {
        fprintf(stderr, optind >= argc ? "rune run: which runbook? (`rune list` shows them)\n"
                                       : "rune run: one runbook at a time\n");
        goto out;
    }
    const char *arg = argv[optind];
    char path[4096], err[8192];
    if (rune_search_resolve(arg, path, sizeof path, err, sizeof err) != 0) {
        fprintf(stderr, "rune: %s\n", err);
        goto out;
    }
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_runbook *rb = rune_runbook_load(path, &d);
    if (!rb) {
        rune_diags_print(&d, stderr);
        fprintf(stderr, "rune: %s is not valid (%zu problem%s); nothing was run\n", path, d.n,
                d.n == 1 ? "" : "s");
        rune_diags_free(&d);
        goto out;
    }
    char logbuf[4096];
    o.log_path = rune_journal_default_path(log_flag, logbuf, sizeof logbuf);
    o.log_flag = log_flag;
    o.operator_name = operator_name(who);
    o.sets = sets;
    o.live = isatty(STDOUT_FILENO);
    o.color = o.live && !no_color && !getenv("NO_COLOR");
    rc = rune_run_runbook(rb, &o);
    rune_runbook_free(rb);
out:
    json_decref(sets);
    return rc;
}
