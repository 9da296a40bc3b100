/*
 * testrun.h — running one scenario of a runbook's tests (testrun.c): its
 * fixtures made in a private directory, the runbook run there by a child
 * rune against a throwaway incident log (never the user's), then what the
 * log recorded compared with what the scenario expects.
 */
#ifndef RUNE_TESTRUN_H
#define RUNE_TESTRUN_H

#include <stdbool.h>

#include "testfile.h"

struct rune_scenario_result {
    bool passed;
    char *problems; /* what differs, one per line (malloc'd; NULL when passed) */
    char *output;   /* the child's last output, for a failed scenario (malloc'd or NULL) */
    long long ms;
    char *kept; /* the scenario's directory when kept (malloc'd or NULL) */
};

struct rune_test_opts {
    const char *self;     /* the rune binary the child runs */
    long long timeout_ms; /* per scenario */
    bool keep;            /* keep each scenario's directory (fixtures, log) */
    bool real_all;        /* run every scenario for real (rune test --real) */
};

/* Runs scenario sc of tf; fills res (free with rune_scenario_result_free). */
void rune_scenario_run(const struct rune_testfile *tf, const struct rune_scenario *sc,
                       const struct rune_test_opts *o, struct rune_scenario_result *res);
void rune_scenario_result_free(struct rune_scenario_result *res);

/* The child's side: runs the scenario spec at path (written by
 * rune_scenario_run) and returns rune's exit code. */
int rune_scenario_child(const char *spec_path);

#endif
