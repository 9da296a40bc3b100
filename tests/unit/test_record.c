/*
 * test_record.c — the record layer: the one name table of event kinds and
 * statuses (names are what logs store, so they are pinned here), the one
 * definition of "failed", and a round trip of every writer through the
 * journal and back out through the reader, with masking, the artifacts
 * table (declared, and the old output convention), recovery points, and
 * the details' shapes old readers rely on.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"

#include "journal.h"
#include "record.h"
#include "record_read.h"
#include "redact.h"
#include "report.h"

#define ID "20260101-000000-abcd"
#define SECRET "hunter2-very-secret"

/* ---- The name table ---- */

static void test_kind_names(void **state)
{
    (void)state;
    /* what every existing log holds: never renamed */
    static const struct {
        enum rune_event_kind k;
        const char *name;
    } pinned[] = {
        {RUNE_EV_INCIDENT_START, "incident.start"},
        {RUNE_EV_STAGE_START, "stage.start"},
        {RUNE_EV_STAGE_END, "stage.end"},
        {RUNE_EV_STAGE_SKIP, "stage.skip"},
        {RUNE_EV_STEP_START, "step.start"},
        {RUNE_EV_STEP_END, "step.end"},
        {RUNE_EV_STEP_SKIP, "step.skip"},
        {RUNE_EV_APPROVAL, "approval"},
        {RUNE_EV_NOTE, "note"},
        {RUNE_EV_LOG, "log"},
        {RUNE_EV_CALL_START, "call.start"},
        {RUNE_EV_CALL_END, "call.end"},
        {RUNE_EV_SEVERITY, "severity"},
        {RUNE_EV_INCIDENT_DECISION, "incident.decision"},
        {RUNE_EV_INCIDENT_END, "incident.end"},
        {RUNE_EV_PROGRESS, "progress"},
        {RUNE_EV_INCIDENT_RESUME, "incident.resume"},
        {RUNE_EV_INCIDENT_NOTE, "incident.note"},
    };
    assert_int_equal(sizeof pinned / sizeof pinned[0], RUNE_EV_NKINDS - 1);
    for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
        assert_string_equal(rune_event_kind_name(pinned[i].k), pinned[i].name);
        assert_int_equal(rune_event_kind_parse(pinned[i].name), pinned[i].k);
    }
    assert_null(rune_event_kind_name(RUNE_EV_UNKNOWN));
    assert_null(rune_event_kind_name(RUNE_EV_NKINDS));
    assert_int_equal(rune_event_kind_parse("step.finish"), RUNE_EV_UNKNOWN);
    assert_int_equal(rune_event_kind_parse(NULL), RUNE_EV_UNKNOWN);
}

static void test_status_names(void **state)
{
    (void)state;
    static const char *const pinned[] = {
        "ok",       "failed",   "timeout",     "declined",    "cancelled",        "undecided",
        "skipped",  "not_run",  "pending",     "aborted",     "ok_with_failures", "rollback",
        "approved", "incident", "interrupted", "no_incident", "resolved",         "rolled_back",
        "P0",       "P1",       "P2",          "P3",          "abandoned",
    };
    assert_int_equal(sizeof pinned / sizeof pinned[0], RUNE_ST_NSTATUSES - 2);
    for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
        enum rune_event_status s = rune_event_status_parse(pinned[i]);
        assert_true(s > RUNE_ST_UNKNOWN);
        assert_string_equal(rune_event_status_name(s), pinned[i]);
    }
    /* every status has one name, and no two share it */
    for (int s = RUNE_ST_UNKNOWN + 1; s < RUNE_ST_NSTATUSES; s++)
        assert_int_equal(rune_event_status_parse(rune_event_status_name(s)), s);
    assert_int_equal(rune_event_status_parse(NULL), RUNE_ST_NONE);
    assert_int_equal(rune_event_status_parse("exploded"), RUNE_ST_UNKNOWN);
    assert_null(rune_event_status_name(RUNE_ST_NONE));
    assert_null(rune_event_status_name(RUNE_ST_UNKNOWN));

    assert_string_equal(rune_status_name(RUNE_STEP_OK), "ok");
    assert_string_equal(rune_status_name(RUNE_STEP_FAILED), "failed");
    assert_string_equal(rune_status_name(RUNE_STEP_TIMEOUT), "timeout");
    assert_string_equal(rune_status_name(RUNE_STEP_DECLINED), "declined");
    assert_string_equal(rune_status_name(RUNE_STEP_CANCELLED), "cancelled");
    assert_string_equal(rune_status_name(42), "failed");
}

/* The one definition: failed, timeout, cancelled and declined, and an
 * attempt abandoned when its rune died; nothing else. */
static void test_failed(void **state)
{
    (void)state;
    for (int s = 0; s < RUNE_ST_NSTATUSES; s++) {
        bool want = s == RUNE_ST_FAILED || s == RUNE_ST_TIMEOUT || s == RUNE_ST_CANCELLED ||
                    s == RUNE_ST_DECLINED || s == RUNE_ST_ABANDONED;
        if (rune_event_status_failed(s) != want)
            fail_msg("status %d: failed should be %d", s, want);
    }
    assert_false(rune_event_status_failed(RUNE_ST_NSTATUSES));
}

/* ---- Writers → journal → reader ---- */

struct fixture {
    char dir[64];
    char path[128];
    struct rune_journal *j;
    struct rune_redactor red;
    struct rune_recorder rec;
};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char err[512];
    snprintf(f->dir, sizeof f->dir, "/tmp/rune-record-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/incidents.db", f->dir);
    if (rune_journal_open(f->path, &f->j, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    rune_redactor_init(&f->red);
    rune_redactor_add(&f->red, SECRET);
    f->rec = (struct rune_recorder){f->j, ID, &f->red, NULL, false};
    struct rune_incident_rec row = {.id = ID, .runbook = "drill", .mode = "run"};
    if (rune_record_begin(&f->rec, &row) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    rune_journal_close(f->j);
    rune_redactor_free(&f->red);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static const struct rune_step_type writes = {"test.backup", "makes a file", NULL, NULL,
                                             RUNE_WRITES,   NULL,           NULL};
static const struct rune_step_type reads = {"test.checksum", "reads a file", NULL, NULL,
                                            RUNE_READS,      NULL,           NULL};

/* Every kind, written as a run would. */
static void write_run(struct rune_recorder *rec)
{
    rune_record_incident_start(
        rec, "/srv", 2, "alice", "/srv/work/x",
        &(struct rune_detected){"2026-11-23T11:50:00.000Z", "--detected-at"});
    rune_record_decision(rec, true, false, NULL);
    rune_record_stage_start(rec, "mitigation");
    rune_record_step_start(rec, "mitigation", "backup", 1, "test.backup", 60000);
    rune_record_log(rec, "mitigation", "backup", 1, "copying with " SECRET);
    rune_record_note(rec, "mitigation", "backup", 1, "a note");
    json_t *params = json_pack("{s:s}", "path", "/srv/db");
    rune_record_call_start(rec, "mitigation", "backup", 1, "test.checksum", 1, params);
    json_decref(params);
    json_t *declared = NULL;
    assert_int_equal(rune_record_declare_artifact(&declared, "/srv/b/1.gz", "aa11", 10), 0);
    assert_int_equal(rune_record_declare_artifact(&declared, "/srv/b/1.json", NULL, -1), 0);
    assert_int_equal(rune_record_declare_artifact(&declared, "", "x", 1), -1);
    json_t *outputs =
        json_pack("{s:s, s:s, s:i}", "path", "/srv/b/old.gz", "sha256", "bb22", "bytes", 7);
    struct rune_attempt_end call = {.stage = "mitigation",
                                    .step = "backup",
                                    .attempt = 1,
                                    .status = RUNE_ST_OK,
                                    .duration_ms = 5,
                                    .uses = "test.checksum",
                                    .call = 1,
                                    .outputs = outputs};
    rune_record_call_end(rec, &call);
    struct rune_attempt_end end = {.stage = "mitigation",
                                   .step = "backup",
                                   .attempt = 1,
                                   .status = RUNE_ST_OK,
                                   .duration_ms = 12,
                                   .outputs = outputs,
                                   .tail = "",
                                   .artifacts = declared,
                                   .recovery_point = "2026-01-01T00:00:00.000Z"};
    rune_record_step_end(rec, &end);
    rune_record_artifacts(rec, "backup", &writes, declared, outputs);
    rune_record_artifacts(rec, "old", &writes, NULL, outputs); /* the old convention */
    rune_record_artifacts(rec, "sum", &reads, NULL, outputs);  /* a reader made nothing */
    json_decref(declared);
    json_decref(outputs);
    rune_record_step_start(rec, "mitigation", "drop", 1, NULL, 0);
    rune_record_approval(rec, "mitigation", "drop",
                         &(struct rune_approval){"drop it?", "alice", "terminal",
                                                 "2026-01-01T00:00:01.000Z", false, NULL});
    rune_record_step_end(rec, &(struct rune_attempt_end){.stage = "mitigation",
                                                         .step = "drop",
                                                         .attempt = 1,
                                                         .status = RUNE_ST_DECLINED,
                                                         .error = "declined"});
    rune_record_step_skip(rec, "mitigation", "after", RUNE_ST_NOT_RUN, "not run: stopped");
    rune_record_stage_end(rec, "mitigation", RUNE_ST_DECLINED, 30, 1);
    rune_record_stage_skip(rec, "verification", "mitigation stopped");
    rune_record_severity(rec, "P1");
    rune_record_incident_end(rec, RUNE_ST_ABORTED, "the operator declined", 5, 0, 40);
}

static json_t *events_of(struct fixture *f, json_t **inc)
{
    *inc = rune_journal_get(f->j, ID);
    assert_non_null(*inc);
    return json_object_get(*inc, "events");
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    write_run(&f->rec);

    json_t *inc;
    json_t *events = events_of(f, &inc);
    static const enum rune_event_kind kinds[] = {
        RUNE_EV_INCIDENT_START,
        RUNE_EV_INCIDENT_DECISION,
        RUNE_EV_STAGE_START,
        RUNE_EV_STEP_START,
        RUNE_EV_LOG,
        RUNE_EV_NOTE,
        RUNE_EV_CALL_START,
        RUNE_EV_CALL_END,
        RUNE_EV_STEP_END,
        RUNE_EV_STEP_START,
        RUNE_EV_APPROVAL,
        RUNE_EV_STEP_END,
        RUNE_EV_STEP_SKIP,
        RUNE_EV_STAGE_END,
        RUNE_EV_STAGE_SKIP,
        RUNE_EV_SEVERITY,
        RUNE_EV_INCIDENT_END,
    };
    assert_int_equal(json_array_size(events), sizeof kinds / sizeof kinds[0]);
    struct rune_rec_event e[sizeof kinds / sizeof kinds[0]];
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        rune_record_decode(json_array_get(events, i), &e[i]);
        assert_int_equal(e[i].kind, kinds[i]);
        assert_int_equal(e[i].seq, (long long)i + 1);
        assert_non_null(e[i].at);
    }

    assert_string_equal(e[0].cwd, "/srv");
    assert_int_equal(e[0].jobs, 2);
    assert_string_equal(e[0].operator_name, "alice");
    assert_string_equal(e[0].detected_at, "2026-11-23T11:50:00.000Z");
    assert_string_equal(e[0].detected_by, "--detected-at");
    assert_string_equal(e[0].workdir, "/srv/work/x");
    assert_null(e[0].stage);
    assert_int_equal(e[0].status, RUNE_ST_NONE);
    assert_int_equal(e[0].duration_ms, RUNE_REC_NONE);

    assert_int_equal(e[1].status, RUNE_ST_INCIDENT);
    assert_int_equal(e[1].incident, 1);
    assert_int_equal(e[1].forced, 0);

    assert_string_equal(e[3].uses, "test.backup");
    assert_int_equal(e[3].timeout_ms, 60000);
    assert_int_equal(e[3].attempt, 1);

    /* masked on the way in */
    assert_string_equal(e[4].message, "copying with ***");
    assert_string_equal(e[5].text, "a note");

    assert_int_equal(e[6].call, 1);
    assert_string_equal(json_string_value(json_object_get(e[6].params, "path")), "/srv/db");
    assert_int_equal(e[7].status, RUNE_ST_OK);
    assert_string_equal(e[7].uses, "test.checksum");
    assert_null(e[7].recovery_point);

    /* the step end: what it declared, and what the old convention names */
    struct rune_rec_event *end = &e[8];
    assert_int_equal(end->status, RUNE_ST_OK);
    assert_int_equal(end->duration_ms, 12);
    assert_string_equal(rune_record_recovery_point(end), "2026-01-01T00:00:00.000Z");
    struct rune_rec_artifact a;
    assert_true(rune_record_event_artifact(end, 0, &a));
    assert_string_equal(a.path, "/srv/b/1.gz");
    assert_string_equal(a.sha256, "aa11");
    assert_int_equal(a.bytes, 10);
    assert_true(rune_record_event_artifact(end, 1, &a));
    assert_string_equal(a.path, "/srv/b/1.json");
    assert_null(a.sha256);
    assert_int_equal(a.bytes, RUNE_REC_NONE);
    assert_false(rune_record_event_artifact(end, 2, &a));
    /* the call declared nothing: its outputs stand in, as in old logs */
    assert_true(rune_record_event_artifact(&e[7], 0, &a));
    assert_string_equal(a.path, "/srv/b/old.gz");
    assert_int_equal(a.bytes, 7);
    assert_false(rune_record_event_artifact(&e[7], 1, &a));

    assert_int_equal(e[10].approved, 0);
    assert_string_equal(e[10].who, "alice");
    assert_string_equal(e[10].how, "terminal");
    assert_string_equal(e[10].question, "drop it?");
    assert_int_equal(e[10].status, RUNE_ST_DECLINED);
    assert_int_equal(e[11].status, RUNE_ST_DECLINED);
    assert_true(rune_event_status_failed(e[11].status));
    assert_string_equal(e[11].error, "declined");
    assert_null(e[11].outputs);

    assert_int_equal(e[12].status, RUNE_ST_NOT_RUN);
    assert_string_equal(e[12].reason, "not run: stopped");
    assert_int_equal(e[13].failed_steps, 1);
    assert_int_equal(e[13].duration_ms, 30);
    assert_string_equal(e[14].reason, "mitigation stopped");
    assert_int_equal(e[14].status, RUNE_ST_SKIPPED);
    assert_int_equal(e[15].status, RUNE_ST_P1);
    assert_string_equal(e[15].severity, "P1");
    assert_string_equal(e[16].outcome, "aborted");
    assert_int_equal(e[16].exit_code, 5);
    assert_int_equal(e[16].workdir_kept, 0);

    /* the incident row follows the record */
    assert_string_equal(json_string_value(json_object_get(inc, "outcome")), "aborted");
    assert_string_equal(json_string_value(json_object_get(inc, "severity")), "P1");
    assert_int_equal(json_integer_value(json_object_get(inc, "exit_code")), 5);

    /* artifacts: the declared two, the old convention's one, not the reader's */
    json_t *rows = json_object_get(inc, "artifacts");
    assert_int_equal(json_array_size(rows), 3);
    rune_record_artifact_decode(json_array_get(rows, 0), &a);
    assert_string_equal(a.step, "backup");
    assert_string_equal(a.path, "/srv/b/1.gz");
    assert_string_equal(a.kind, "test.backup");
    rune_record_artifact_decode(json_array_get(rows, 2), &a);
    assert_string_equal(a.step, "old");
    assert_string_equal(a.sha256, "bb22");

    struct rune_chain_result res;
    assert_int_equal(rune_journal_verify(f->j, ID, &res), 0);
    assert_int_equal(res.problem, RUNE_CHAIN_INTACT);
    json_decref(inc);
}

/* The detail shapes logs have always had: an attempt that ran records
 * error and tail as null; one that never started only its error; a call
 * end its plan as null; nothing declared adds nothing. */
static void test_detail_shapes(void **state)
{
    struct fixture *f = *state;
    json_t *out = json_object();
    rune_record_step_end(
        &f->rec,
        &(struct rune_attempt_end){
            .stage = "impact", .step = "a", .attempt = 1, .status = RUNE_ST_OK, .outputs = out});
    rune_record_step_end(
        &f->rec,
        &(struct rune_attempt_end){
            .stage = "impact", .step = "b", .attempt = 1, .status = RUNE_ST_FAILED, .error = "no"});
    rune_record_call_end(&f->rec, &(struct rune_attempt_end){.stage = "impact",
                                                             .step = "a",
                                                             .attempt = 1,
                                                             .status = RUNE_ST_OK,
                                                             .uses = "flow.note",
                                                             .call = 2,
                                                             .outputs = out});
    json_decref(out);
    json_t *inc;
    json_t *events = events_of(f, &inc);
    static const char *const want[] = {
        "{\"error\": null, \"outputs\": {}, \"tail\": null}",
        "{\"error\": \"no\"}",
        ("{\"call\": 2, \"error\": null, \"outputs\": {}, \"plan\": null, \"tail\": null, "
         "\"uses\": \"flow.note\"}"),
    };
    for (size_t i = 0; i < 3; i++) {
        char *got =
            json_dumps(json_object_get(json_array_get(events, i), "detail"), JSON_SORT_KEYS);
        assert_string_equal(got, want[i]);
        free(got);
    }
    json_decref(inc);
}

/* A dry-run records its events, never artifacts. */
static void test_dry_run_no_artifacts(void **state)
{
    struct fixture *f = *state;
    f->rec.dry_run = true;
    json_t *outputs = json_pack("{s:s, s:s}", "path", "/srv/b/x.gz", "sha256", "cc33");
    rune_record_artifacts(&f->rec, "backup", &writes, NULL, outputs);
    json_decref(outputs);
    json_t *inc;
    events_of(f, &inc);
    assert_int_equal(json_array_size(json_object_get(inc, "artifacts")), 0);
    json_decref(inc);
}

/* History for dry-runs comes back typed. */
static void test_history(void **state)
{
    struct fixture *f = *state;
    for (int n = 1; n <= 3; n++) {
        json_t *out = json_pack("{s:i}", "n", n);
        rune_record_step_end(
            &f->rec, &(struct rune_attempt_end){.stage = "impact",
                                                .step = "probe",
                                                .attempt = n,
                                                .status = n == 2 ? RUNE_ST_FAILED : RUNE_ST_OK,
                                                .duration_ms = n * 100,
                                                .outputs = out});
        json_decref(out);
    }
    long long d[8];
    size_t n = rune_record_durations(f->j, "drill", "probe", d, 8);
    assert_int_equal(n, 2);
    assert_int_equal(d[0], 300);
    assert_int_equal(d[1], 100);
    json_t *last = rune_record_last_outputs(f->j, "drill", "probe");
    assert_int_equal(json_integer_value(json_object_get(last, "n")), 3);
    json_decref(last);
}

/* History read once per runbook (one query for a plan's 1,000 steps) is
 * not kept past what the same connection records next in a real run. */
static void test_history_after_a_new_run(void **state)
{
    struct fixture *f = *state;
    long long d[8];
    json_t *out = json_pack("{s:i}", "n", 1);
    struct rune_attempt_end e = {.stage = "impact",
                                 .step = "probe",
                                 .attempt = 1,
                                 .status = RUNE_ST_OK,
                                 .duration_ms = 100,
                                 .outputs = out};
    rune_record_step_end(&f->rec, &e);
    assert_int_equal(rune_record_durations(f->j, "drill", "probe", d, 8), 1);
    assert_int_equal(rune_record_durations(f->j, "drill", "other", d, 8), 0);
    json_object_set_new(out, "n", json_integer(2));
    e.attempt = 2;
    e.duration_ms = 200;
    rune_record_step_end(&f->rec, &e);
    json_decref(out);
    assert_int_equal(rune_record_durations(f->j, "drill", "probe", d, 8), 2);
    assert_int_equal(d[0], 200);
    json_t *last = rune_record_last_outputs(f->j, "drill", "probe");
    assert_int_equal(json_integer_value(json_object_get(last, "n")), 2);
    json_decref(last);
}

/* What steps declare reaches the report: a restore call's recovery point
 * (named by the call's type) is the RPO's, and without artifacts rows (a
 * dry-run's log) the declared files are listed. */
static void test_report_reads_declared(void **state)
{
    struct fixture *f = *state;
    json_t *declared = NULL, *out = json_object();
    rune_record_declare_artifact(&declared, "/srv/b/2.gz", "dd44", 99);
    rune_record_stage_start(&f->rec, "mitigation");
    rune_record_step_start(&f->rec, "mitigation", "glue", 1, "lua", 1000);
    rune_record_call_end(&f->rec,
                         &(struct rune_attempt_end){.stage = "mitigation",
                                                    .step = "glue",
                                                    .attempt = 1,
                                                    .status = RUNE_ST_OK,
                                                    .uses = "sqlite.restore",
                                                    .call = 1,
                                                    .outputs = out,
                                                    .recovery_point = "2026-01-01T00:00:00.000Z"});
    rune_record_step_end(&f->rec, &(struct rune_attempt_end){.stage = "mitigation",
                                                             .step = "glue",
                                                             .attempt = 1,
                                                             .status = RUNE_ST_OK,
                                                             .outputs = out,
                                                             .artifacts = declared});
    rune_record_stage_end(&f->rec, "mitigation", RUNE_ST_OK, 5, 0);
    rune_record_incident_end(&f->rec, RUNE_ST_RESOLVED, "every stage completed", 0, 0, 9);
    json_decref(declared);
    json_decref(out);

    json_t *rep = NULL;
    char err[256];
    assert_int_equal(rune_report_build(f->j, ID, &rep, err, sizeof err), 0);
    json_t *rpo = json_object_get(json_object_get(rep, "objectives"), "rpo");
    assert_string_equal(json_string_value(json_object_get(rpo, "recovery_point")),
                        "2026-01-01T00:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(rpo, "uses")), "sqlite.restore");
    assert_string_equal(json_string_value(json_object_get(rpo, "step")), "glue");
    json_t *arts = json_object_get(rep, "artifacts");
    assert_int_equal(json_array_size(arts), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arts, 0), "path")),
                        "/srv/b/2.gz");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arts, 0), "bytes")), 99);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(rep, "incident"), "reason")),
        "every stage completed");
    json_decref(rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_failed),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detail_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_no_artifacts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_after_a_new_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_reads_declared, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
