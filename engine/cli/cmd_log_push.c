/*
 * cmd_log_push.c — rune log push: uploads what runs recorded with
 * --offline (the local SQLite log) to the team's shared log on
 * PostgreSQL, chain intact, and marks it uploaded so a second push does
 * nothing (journal_push.c does the work; docs/teams.md).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_log.h"
#include "exitcode.h"
#include "journal.h"

static void usage(FILE *out)
{
    fputs("usage: rune log push [--log URL] [--from LOCAL]\n"
          "\n"
          "Uploads the finished incidents of the local log that are not uploaded yet to the\n"
          "shared log, in the order they were recorded: each is verified intact first, then\n"
          "chained into the shared log from its head (its local chain's link and head are\n"
          "kept there, and rune log verify checks them), then marked uploaded locally.\n"
          "\n"
          "  --log URL     the shared log (default: $RUNE_LOG); postgresql://...\n"
          "  --from LOCAL  the local log (default: $RUNE_HOME/incidents.db, else\n"
          "                ~/.local/state/rune/incidents.db: where --offline runs record)\n",
          out);
}

int cmd_log_push(int argc, char **argv)
{
    static const struct option opts[] = {
        {"log", required_argument, NULL, 'l'},
        {"from", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *log = NULL, *from = NULL;
    char url[PATH_MAX], local[PATH_MAX], err[1024];
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            log = optarg;
            break;
        case 'f':
            from = optarg;
            break;
        case 'h':
            usage(stdout);
            return RUNE_EXIT_OK;
        default:
            usage(stderr);
            return RUNE_EXIT_INVALID;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "rune log push: unexpected argument \"%s\"\n", argv[optind]);
        return RUNE_EXIT_INVALID;
    }
    rune_journal_default_path(log, url, sizeof url);
    if (!rune_journal_is_shared(url)) {
        fprintf(stderr,
                "rune log push: %s is not a shared log; give --log postgresql://... (or set "
                "RUNE_LOG to it)\n",
                log ? "--log" : "$RUNE_LOG");
        return RUNE_EXIT_INVALID;
    }
    if (from)
        snprintf(local, sizeof local, "%s", from);
    else
        rune_journal_local_path(local, sizeof local);
    struct rune_push_result res;
    int rc = rune_journal_push(local, url, &res, err, sizeof err);
    if (rc == RUNE_JOURNAL_ABSENT) {
        printf("%s\n", err);
        return RUNE_EXIT_OK;
    }
    if (rc != 0) {
        fprintf(stderr, "rune log push: %s\n", err);
        return RUNE_EXIT_INTERNAL;
    }
    char *shown = rune_journal_shown(url);
    if (res.pushed)
        printf("pushed %d incident%s from %s to %s; its head is now %s\n", res.pushed,
               res.pushed == 1 ? "" : "s", local, shown ? shown : "the shared log", res.head);
    else
        printf("nothing to push: every finished incident in %s is in %s\n", local,
               shown ? shown : "the shared log");
    if (res.unfinished)
        printf("%d incident%s still running (or abandoned) in %s: not pushed; finish or resume "
               "%s, then push again\n",
               res.unfinished, res.unfinished == 1 ? "" : "s", local,
               res.unfinished == 1 ? "it" : "them");
    free(shown);
    return RUNE_EXIT_OK;
}
