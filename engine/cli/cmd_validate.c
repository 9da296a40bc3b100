/*
 * cmd_validate.c — `rune validate FILE...`: every problem in every file,
 * nothing run. Exit 2 when any file is invalid.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "exitcode.h"
#include "model.h"
#include "search.h"

int cmd_validate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool quiet = false;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        if (c == 'q') {
            quiet = true;
        } else {
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: rune validate [-q] RUNBOOK...\n"
                    "  checks each runbook (file or name) and prints every problem as\n"
                    "  file:line:col: error: message. Exit 0 if all are valid, 2 otherwise.\n");
            return c == 'h' ? RUNE_EXIT_OK : RUNE_EXIT_INVALID;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: rune validate RUNBOOK...\n");
        return RUNE_EXIT_INVALID;
    }
    int bad = 0;
    for (int i = optind; i < argc; i++) {
        char path[4096], err[8192];
        if (rune_search_resolve(argv[i], path, sizeof path, err, sizeof err) != 0) {
            fprintf(stderr, "%s: error: %s\n", argv[i], err);
            bad++;
            continue;
        }
        struct rune_diags d = RUNE_DIAGS_INIT;
        struct rune_runbook *rb = rune_runbook_load(path, &d);
        if (!rb) {
            rune_diags_print(&d, stderr);
            bad++;
        } else if (!quiet) {
            size_t steps = 0;
            for (int s = 0; s < RUNE_NSTAGES; s++)
                steps += rb->stages[s].n;
            printf("%s: ok (%s, %zu step%s)\n", path, rb->name, steps, steps == 1 ? "" : "s");
        }
        rune_diags_free(&d);
        rune_runbook_free(rb);
    }
    if (bad && argc - optind > 1)
        fprintf(stderr, "%d of %d runbooks are invalid\n", bad, argc - optind);
    return bad ? RUNE_EXIT_INVALID : RUNE_EXIT_OK;
}
