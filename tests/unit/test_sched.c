/*
 * test_sched.c — the scheduler and run lifecycle, driven through
 * rune_run_runbook with flow.* steps and a real incident log: order,
 * --jobs, failure policies, skipped and not-run steps, exit codes.
 */
#include "unit.h"

#include "exitcode.h"
#include "journal.h"
#include "run.h"

static char logdir[] = "/tmp/rune-sched-XXXXXX";
static char logpath[512];

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(logdir));
    snprintf(logpath, sizeof logpath, "%s/incidents.db", logdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", logdir);
    return system(cmd);
}

/* Runs text with --jobs jobs; returns the exit code; *events the incident's events. */
static int run_text(const char *text, int jobs, json_t **incident)
{
    char *path = unit_write_temp(text);
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_runbook *rb = rune_runbook_load(path, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%d:%d %s\n", d.v[i].line, d.v[i].col, d.v[i].msg);
    assert_non_null(rb);
    json_t *sets = json_object();
    struct rune_run_opts o = {
        .jobs = jobs, .quiet = true, .log_path = logpath, .operator_name = "test", .sets = sets};
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w"); /* the console writes to stdout */
    int rc = rune_run_runbook(rb, &o);
    fclose(stdout);
    stdout = saved;
    json_decref(sets);
    rune_runbook_free(rb);
    rune_diags_free(&d);
    unlink(path);
    free(path);
    struct rune_journal *j;
    char err[256];
    assert_int_equal(rune_journal_open(logpath, &j, err, sizeof err), 0);
    json_t *list = rune_journal_list(j, NULL, 1);
    const char *id = json_string_value(json_object_get(json_array_get(list, 0), "id"));
    *incident = rune_journal_get(j, id);
    json_decref(list);
    rune_journal_close(j);
    return rc;
}

/* "kind:step:status" of each event whose kind starts with prefix. */
static void trace(json_t *inc, const char *prefix, char *out, size_t len)
{
    out[0] = '\0';
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(inc, "events"), i, e)
    {
        const char *kind = json_string_value(json_object_get(e, "kind"));
        if (strncmp(kind, prefix, strlen(prefix)) != 0)
            continue;
        const char *step = json_string_value(json_object_get(e, "step"));
        const char *st = json_string_value(json_object_get(e, "status"));
        char one[128];
        snprintf(one, sizeof one, "%s%s:%s", out[0] ? " " : "", step ? step : "-", st ? st : "-");
        strncat(out, one, len - strlen(out) - 1);
    }
}

static void test_listed_order_with_one_job(void **state)
{
    (void)state;
    json_t *inc;
    int rc = run_text("runbook: s\n"
                      "mitigation:\n"
                      "  steps:\n"
                      "    - { id: a, uses: flow.note, with: { message: x } }\n"
                      "    - { id: b, uses: flow.note, needs: [], with: { message: x } }\n"
                      "    - { id: c, uses: flow.note, needs: [a, b], with: { message: x } }\n",
                      1, &inc);
    assert_int_equal(rc, RUNE_EXIT_OK);
    char t[512];
    trace(inc, "step.end", t, sizeof t);
    assert_string_equal(t, "a:ok b:ok c:ok");
    json_decref(inc);
}

static void test_continue_lets_dependents_run(void **state)
{
    (void)state;
    json_t *inc;
    int rc =
        run_text("runbook: s\n"
                 "mitigation:\n"
                 "  steps:\n"
                 "    - { id: a, uses: flow.fail, on_failure: continue, with: { message: x } }\n"
                 "    - { id: b, uses: flow.note, with: { message: x } }\n",
                 2, &inc);
    assert_int_equal(rc, RUNE_EXIT_OK);
    char t[512];
    trace(inc, "step.end", t, sizeof t);
    assert_string_equal(t, "a:failed b:ok");
    json_decref(inc);
}

static void test_when_false_skips_and_dependents_run(void **state)
{
    (void)state;
    json_t *inc;
    int rc = run_text("runbook: s\n"
                      "mitigation:\n"
                      "  steps:\n"
                      "    - { id: a, uses: flow.fail, when: false, with: { message: x } }\n"
                      "    - { id: b, uses: flow.note, with: { message: x } }\n",
                      2, &inc);
    assert_int_equal(rc, RUNE_EXIT_OK);
    char t[512];
    trace(inc, "step.", t, sizeof t);
    assert_string_equal(t, "a:skipped b:- b:ok");
    json_decref(inc);
}

static void test_rollback_policy_and_not_run(void **state)
{
    (void)state;
    json_t *inc;
    int rc = run_text("runbook: s\n"
                      "mitigation:\n"
                      "  steps:\n"
                      "    - { id: a, uses: flow.fail, with: { message: boom } }\n"
                      "    - { id: b, uses: flow.note, with: { message: x } }\n"
                      "verification:\n"
                      "  steps:\n"
                      "    - { id: v, uses: flow.note, with: { message: x } }\n"
                      "rollback:\n"
                      "  steps:\n"
                      "    - { id: r, uses: flow.note, with: { message: x } }\n",
                      4, &inc);
    assert_int_equal(rc, RUNE_EXIT_ROLLED_BACK);
    char t[512];
    trace(inc, "step.", t, sizeof t);
    assert_string_equal(t, "a:- a:failed b:not_run r:- r:ok");
    trace(inc, "stage.", t, sizeof t);
    assert_string_equal(t, "-:- -:rollback -:skipped -:- -:ok");
    assert_string_equal(json_string_value(json_object_get(inc, "outcome")), "rolled_back");
    json_decref(inc);
}

static void test_unresolvable_value_fails_step_with_mark(void **state)
{
    (void)state;
    json_t *inc;
    int rc = run_text("runbook: s\n"
                      "mitigation:\n"
                      "  steps:\n"
                      "    - { id: a, uses: flow.note, with: { message: x } }\n"
                      "    - id: b\n"
                      "      uses: flow.sleep\n"
                      "      with: { duration: \"${steps.a.outputs.message}\" }\n",
                      1, &inc);
    /* "x" is not a duration: the step fails at its line, mitigation rolls
     * back, and with no rollback stage the run escalates */
    assert_int_equal(rc, RUNE_EXIT_FAILED);
    size_t i;
    json_t *e;
    bool seen = false;
    json_array_foreach(json_object_get(inc, "events"), i, e)
    {
        const char *err = json_string_value(json_object_get(json_object_get(e, "detail"), "error"));
        if (err && strstr(err, ":7:") && strstr(err, "parameter \"duration\""))
            seen = true;
    }
    assert_true(seen);
    json_decref(inc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listed_order_with_one_job),
        cmocka_unit_test(test_continue_lets_dependents_run),
        cmocka_unit_test(test_when_false_skips_and_dependents_run),
        cmocka_unit_test(test_rollback_policy_and_not_run),
        cmocka_unit_test(test_unresolvable_value_fails_step_with_mark),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
