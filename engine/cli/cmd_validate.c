/*
 * cmd_validate.c — `rune validate FILE...`: every problem in every file,
 * nothing run. Errors (the runbook cannot run) and warnings (lint.c: it
 * runs, but probably not as meant) are kept apart; printed as text, JSON
 * or SARIF (validate_out.c). Exit 2 when any file is invalid, or, with
 * --strict, has warnings.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcode.h"
#include "lint.h"
#include "model.h"
#include "search.h"
#include "testfile.h"
#include "validate_out.h"

static bool is_tests(const char *path)
{
    size_t l = strlen(path);
    return (l > 10 && !strcmp(path + l - 10, ".test.yaml")) ||
           (l > 9 && !strcmp(path + l - 9, ".test.yml"));
}

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: rune validate [-q] [--strict] [--format text|json|sarif] RUNBOOK...\n"
                 "  checks each runbook (file or name) and prints every problem as\n"
                 "  file:line:col: error: message, and every warning (a step that writes with\n"
                 "  nothing to undo it, writes in detection, a rollback reading outputs of a step\n"
                 "  that may not have run, an output its type does not have) as\n"
                 "  file:line:col: warning: message [rule].\n"
                 "  --strict     warnings fail too (exit 2)\n"
                 "  --format F   text (default), json, or sarif (SARIF 2.1.0, for code review)\n"
                 "  --json       the same as --format json\n"
                 "  Exit 0 if all are valid, 2 otherwise.\n");
    return rc;
}

int cmd_validate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"quiet", no_argument, NULL, 'q'},        {"strict", no_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    bool quiet = false, strict = false;
    enum rune_vformat format = RUNE_VFORMAT_TEXT;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "qf:h", opts, NULL)) != -1) {
        if (c == 'q') {
            quiet = true;
        } else if (c == 's') {
            strict = true;
        } else if (c == 'j') {
            format = RUNE_VFORMAT_JSON;
        } else if (c == 'f') {
            if (rune_vformat_parse(optarg, &format) != 0) {
                fprintf(stderr, "rune validate: unknown --format \"%s\"; use text, json or sarif\n",
                        optarg);
                return RUNE_EXIT_INVALID;
            }
        } else {
            return usage(c == 'h' ? stdout : stderr, c == 'h' ? RUNE_EXIT_OK : RUNE_EXIT_INVALID);
        }
    }
    if (optind >= argc)
        return usage(stderr, RUNE_EXIT_INVALID);
    size_t nfiles = (size_t)(argc - optind);
    struct rune_vfile *files = calloc(nfiles, sizeof *files);
    if (!files) {
        fprintf(stderr, "rune validate: no memory for the list of %zu runbooks to check\n", nfiles);
        return RUNE_EXIT_INTERNAL;
    }
    for (size_t i = 0; i < nfiles; i++) {
        struct rune_vfile *f = &files[i];
        const char *arg = argv[optind + (int)i];
        f->errors = (struct rune_diags)RUNE_DIAGS_INIT;
        f->warnings = (struct rune_lints)RUNE_LINTS_INIT;
        char path[4096], err[8192];
        if (rune_search_resolve(arg, path, sizeof path, err, sizeof err) != 0) {
            f->path = strdup(arg);
            rune_diag_add(&f->errors, (struct rune_mark){arg, 0, 0}, "%s", err);
            continue;
        }
        f->path = strdup(path);
        if (is_tests(path)) {
            /* NAME.test.yaml beside the runbooks: `rune validate runbooks/x.yaml ...`
             * checks the tests too, as what they are */
            struct rune_testfile tf;
            if (rune_testfile_load(path, &tf, &f->errors) == 0) {
                f->valid = true;
                f->tests = true;
                f->steps = tf.n;
                f->name = strdup(tf.runbook);
            }
            rune_testfile_free(&tf);
            continue;
        }
        struct rune_runbook *rb = rune_runbook_load(path, &f->errors);
        if (rb) {
            f->valid = true;
            f->name = strdup(rb->name ? rb->name : "");
            for (int s = 0; s < RUNE_NSTAGES; s++)
                f->steps += rb->stages[s].n;
            rune_runbook_lint(rb, &f->warnings);
        }
        rune_runbook_free(rb);
    }
    int bad = rune_vfiles_print(files, nfiles, format, quiet, strict);
    for (size_t i = 0; i < nfiles; i++)
        rune_vfile_free(&files[i]);
    free(files);
    return bad ? RUNE_EXIT_INVALID : RUNE_EXIT_OK;
}
