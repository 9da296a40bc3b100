/*
 * testfile.h — a runbook's tests (NAME.test.yaml beside NAME.yaml): its
 * scenarios, each with inputs, fixtures, injected failures, simulated
 * outputs and expectations (testfile.c reads them; testrun.c runs them).
 * docs/authoring.md#testing-a-runbook-rune-test describes the format.
 */
#ifndef RUNE_TESTFILE_H
#define RUNE_TESTFILE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "node.h"

struct rune_scenario {
    const char *name;
    struct rune_mark mark;
    bool real; /* run for real against the fixtures (default: dry, like rune plan) */
    bool yes;  /* approve confirmations (default true) */
    /* all new references (objects; never NULL once loaded) */
    json_t *inputs;        /* name → value (given as --set text) */
    json_t *env;           /* name → string */
    json_t *files;         /* relative path → content */
    json_t *sqlite;        /* relative path → SQL that builds it */
    json_t *dirs;          /* [relative path] */
    json_t *fails;         /* step → message: every attempt fails */
    json_t *fail_attempts; /* step → N: the first N attempts fail */
    json_t *simulate;      /* step → outputs (dry runs) */
    json_t *expect;        /* outcome, exit_code, ran, skipped, not_run, rolled_back, status,
                            * outputs */
};

struct rune_testfile {
    char *path;    /* the .test.yaml */
    char *runbook; /* the runbook it tests, absolute */
    struct rune_scenario *v;
    size_t n;
    char *text;
    struct rune_node *root;
};

/* Reads and checks path. 0, or -1 with every problem in d (file:line:col). */
int rune_testfile_load(const char *path, struct rune_testfile *tf, struct rune_diags *d);
void rune_testfile_free(struct rune_testfile *tf);

/* The test file for a runbook (X.yaml → X.test.yaml), or NULL; malloc'd. */
char *rune_testfile_for(const char *runbook);

#endif
