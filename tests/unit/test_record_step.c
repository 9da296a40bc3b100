/*
 * test_record_step.c — what a step declares for the record
 * (rune_call_artifact, rune_call_recovery_point) goes the whole way: from a
 * primitive through call.c and the scheduler, or a rune.run call inside a
 * Lua step, into the step's end event, the log's artifacts table and the
 * report; a step that fails after declaring records no artifact; a step
 * not yet converted is still read by its output names.
 */
#include "unit.h"

#include "journal.h"
#include "record_read.h"
#include "registry.h"
#include "report.h"
#include "run.h"

static char logdir[] = "/tmp/rune-record-step-XXXXXX";
static char logpath[512];

#define POINT "2026-01-01T00:00:00.000Z"

/* A backup that declares what it made. fail: it fails after declaring. */
static int declare_run(struct rune_call *c)
{
    const char *path = rune_call_str(c, "path");
    assert_int_equal(rune_call_artifact(c, path, "ab12", 42), 0);
    assert_int_equal(rune_call_artifact(c, NULL, "ab12", 42), -1);
    rune_call_recovery_point(c, "2025-12-31T00:00:00.000Z");
    rune_call_recovery_point(c, POINT); /* the second replaces the first */
    json_object_set_new(rune_call_outputs(c), "made", json_string(path));
    if (rune_call_bool(c, "fail"))
        return rune_call_fail(c, "failed after making %s", path);
    return RUNE_STEP_OK;
}

/* A step family not yet converted: only output names say what it made. */
static int legacy_run(struct rune_call *c)
{
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "path", json_string(rune_call_str(c, "path")));
    json_object_set_new(o, "sha256", json_string("cd34"));
    json_object_set_new(o, "bytes", json_integer(7));
    return RUNE_STEP_OK;
}

static const struct rune_param params[] = {
    {"path", RUNE_T_STRING, true, NULL, "the file"},
    {"fail", RUNE_T_BOOL, false, "false", "fail after declaring"},
    {NULL},
};
static const struct rune_output outputs[] = {{NULL}};
static const struct rune_step_type declare_type = {
    "test.declare", "declares a file", params, outputs, RUNE_WRITES, declare_run, NULL};
static const struct rune_step_type legacy_type = {
    "test.legacy", "names a file in its outputs", params, outputs, RUNE_WRITES, legacy_run, NULL};

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(logdir));
    snprintf(logpath, sizeof logpath, "%s/incidents.db", logdir);
    assert_int_equal(rune_registry_add(&declare_type), 0);
    assert_int_equal(rune_registry_add(&legacy_type), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", logdir);
    return system(cmd);
}

/* Runs text; returns the exit code, *incident the incident (with events
 * and artifacts) and *report its report. */
static int run_text(const char *text, json_t **incident, json_t **report)
{
    char *path = unit_write_temp(text);
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_runbook *rb = rune_runbook_load(path, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%d:%d %s\n", d.v[i].line, d.v[i].col, d.v[i].msg);
    assert_non_null(rb);
    assert_int_equal(d.n, 0);
    json_t *sets = json_object();
    struct rune_run_opts o = {.jobs = 1,
                              .quiet = true,
                              .yes = true,
                              .log_path = logpath,
                              .operator_name = "test",
                              .sets = sets};
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
    assert_int_equal(rune_report_build(j, id, report, err, sizeof err), 0);
    json_decref(list);
    rune_journal_close(j);
    return rc;
}

/* The first event of kind for step, decoded into e. */
static void find(json_t *inc, enum rune_event_kind kind, const char *step, struct rune_rec_event *e)
{
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(inc, "events"), i, ev)
    {
        rune_record_decode(ev, e);
        if (e->kind == kind && e->step && !strcmp(e->step, step))
            return;
    }
    fail_msg("no %s event for step %s", rune_event_kind_name(kind), step);
}

static const char *artifact_path(json_t *inc, size_t i)
{
    struct rune_rec_artifact a;
    rune_record_artifact_decode(json_array_get(json_object_get(inc, "artifacts"), i), &a);
    return a.path;
}

static void test_declared_by_step(void **state)
{
    (void)state;
    json_t *inc, *rep;
    int rc = run_text("runbook: declared\n"
                      "mitigation:\n"
                      "  steps:\n"
                      "    - id: backup\n"
                      "      uses: test.declare\n"
                      "      with: { path: /b/1.gz }\n"
                      "    - id: broken\n"
                      "      uses: test.declare\n"
                      "      with: { path: /b/2.gz, fail: true }\n"
                      "      on_failure: continue\n"
                      "    - id: old\n"
                      "      uses: test.legacy\n"
                      "      with: { path: /b/3.gz }\n",
                      &inc, &rep);
    assert_int_equal(rc, 0);

    struct rune_rec_event e;
    find(inc, RUNE_EV_STEP_END, "backup", &e);
    assert_int_equal(e.status, RUNE_ST_OK);
    assert_string_equal(e.recovery_point, POINT);
    struct rune_rec_artifact a;
    assert_true(rune_record_event_artifact(&e, 0, &a));
    assert_string_equal(a.path, "/b/1.gz");
    assert_string_equal(a.sha256, "ab12");
    assert_int_equal(a.bytes, 42);
    assert_false(rune_record_event_artifact(&e, 1, &a));

    /* what a failed step declared stays in its event, not in the table */
    find(inc, RUNE_EV_STEP_END, "broken", &e);
    assert_int_equal(e.status, RUNE_ST_FAILED);
    assert_true(rune_record_event_artifact(&e, 0, &a));

    /* the old convention: nothing declared, the event as it always was */
    find(inc, RUNE_EV_STEP_END, "old", &e);
    assert_null(json_object_get(e.detail, "artifacts"));
    assert_null(e.recovery_point);

    json_t *rows = json_object_get(inc, "artifacts");
    assert_int_equal(json_array_size(rows), 2);
    assert_string_equal(artifact_path(inc, 0), "/b/1.gz");
    assert_string_equal(artifact_path(inc, 1), "/b/3.gz");

    json_t *rpo = json_object_get(json_object_get(rep, "objectives"), "rpo");
    assert_string_equal(json_string_value(json_object_get(rpo, "recovery_point")), POINT);
    assert_string_equal(json_string_value(json_object_get(rpo, "step")), "backup");
    assert_int_equal(json_array_size(json_object_get(rep, "artifacts")), 2);
    json_decref(rep);
    json_decref(inc);
}

/* A rune.run call inside a Lua step declares for itself: its call.end
 * carries it, and the table names the calling step. */
static void test_declared_by_call(void **state)
{
    (void)state;
    json_t *inc, *rep;
    int rc = run_text("runbook: declared-call\n"
                      "mitigation:\n"
                      "  steps:\n"
                      "    - id: glue\n"
                      "      lua: |\n"
                      "        rune.run(\"test.declare\", { path = \"/b/9.gz\" })\n"
                      "        return {}\n",
                      &inc, &rep);
    assert_int_equal(rc, 0);
    struct rune_rec_event e;
    find(inc, RUNE_EV_CALL_END, "glue", &e);
    assert_string_equal(e.uses, "test.declare");
    assert_string_equal(e.recovery_point, POINT);
    struct rune_rec_artifact a;
    assert_true(rune_record_event_artifact(&e, 0, &a));
    assert_string_equal(a.path, "/b/9.gz");
    assert_int_equal(json_array_size(json_object_get(inc, "artifacts")), 1);
    assert_string_equal(artifact_path(inc, 0), "/b/9.gz");
    json_t *rpo = json_object_get(json_object_get(rep, "objectives"), "rpo");
    assert_string_equal(json_string_value(json_object_get(rpo, "recovery_point")), POINT);
    assert_string_equal(json_string_value(json_object_get(rpo, "uses")), "test.declare");
    json_decref(rep);
    json_decref(inc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declared_by_step),
        cmocka_unit_test(test_declared_by_call),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
