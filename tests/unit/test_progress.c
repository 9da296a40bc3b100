/*
 * test_progress.c — a step's progress (meter.c, progress.c and the path
 * through call.c and the scheduler): the words people read (amounts,
 * throughput, ETA, the line that fits), the throughput estimate, the rule
 * that decides which samples the incident log keeps, and a native step
 * whose worker threads all report at once, recorded whole, chained, and
 * reported with the size its type measured.
 */
#include "unit.h"

#include <pthread.h>

#include "journal.h"
#include "meter.h"
#include "progress.h"
#include "record_read.h"
#include "registry.h"
#include "report.h"
#include "run.h"

/* ---- Words ---- */

static void test_amounts(void **state)
{
    (void)state;
    char b[48];
    assert_string_equal(rune_meter_amount(0, RUNE_UNIT_BYTES, b, sizeof b), "0 B");
    assert_string_equal(rune_meter_amount(1023, RUNE_UNIT_BYTES, b, sizeof b), "1023 B");
    assert_string_equal(rune_meter_amount(1024, RUNE_UNIT_BYTES, b, sizeof b), "1.00 KiB");
    assert_string_equal(rune_meter_amount(4718592, RUNE_UNIT_BYTES, b, sizeof b), "4.50 MiB");
    assert_string_equal(rune_meter_amount(482344960, RUNE_UNIT_BYTES, b, sizeof b), "460 MiB");
    assert_string_equal(rune_meter_amount(1LL << 30, RUNE_UNIT_BYTES, b, sizeof b), "1.00 GiB");
    assert_string_equal(rune_meter_amount(3LL << 40, RUNE_UNIT_BYTES, b, sizeof b), "3.00 TiB");
    assert_string_equal(rune_meter_amount(950, RUNE_UNIT_ROWS, b, sizeof b), "950 rows");
    assert_string_equal(rune_meter_amount(12345, RUNE_UNIT_ROWS, b, sizeof b), "12.3k rows");
    assert_string_equal(rune_meter_amount(1200000, RUNE_UNIT_ROWS, b, sizeof b), "1.20M rows");
    assert_string_equal(rune_meter_amount(1, RUNE_UNIT_TABLES, b, sizeof b), "1 table");
    assert_string_equal(rune_meter_amount(35, RUNE_UNIT_TABLES, b, sizeof b), "35 tables");
    assert_string_equal(rune_meter_amount(2, RUNE_UNIT_SEGMENTS, b, sizeof b), "2 segments");

    assert_string_equal(rune_meter_rate_str(89338675.2, RUNE_UNIT_BYTES, b, sizeof b),
                        "85.2 MiB/s");
    assert_string_equal(rune_meter_rate_str(98500, RUNE_UNIT_ROWS, b, sizeof b), "98.5k rows/s");
    assert_string_equal(rune_meter_rate_str(0.5, RUNE_UNIT_TABLES, b, sizeof b), "0.5 tables/s");
    assert_string_equal(rune_meter_rate_str(3, RUNE_UNIT_TABLES, b, sizeof b), "3 tables/s");

    assert_string_equal(rune_meter_eta_str(0, b, sizeof b), "0s");
    assert_string_equal(rune_meter_eta_str(5200, b, sizeof b), "6s"); /* never too early */
    assert_string_equal(rune_meter_eta_str(72000, b, sizeof b), "1m12s");
    assert_string_equal(rune_meter_eta_str(7500000, b, sizeof b), "2h05m");

    assert_true(rune_meter_percent(5, -1) < 0);
    assert_true(rune_meter_percent(0, 0) == 100);
    assert_true(rune_meter_percent(50, 200) == 25);
    assert_true(rune_meter_percent(300, 200) == 100); /* an estimate passed */
    assert_int_equal(rune_meter_eta_ms(50, 150, 10), 10000);
    assert_int_equal(rune_meter_eta_ms(50, -1, 10), -1);
    assert_int_equal(rune_meter_eta_ms(50, 150, 0), -1);

    assert_string_equal(rune_unit_name(RUNE_UNIT_PAGES), "pages");
    assert_int_equal(rune_unit_parse("segments"), RUNE_UNIT_SEGMENTS);
    assert_int_equal(rune_unit_parse("furlongs"), -1);
    assert_null(rune_unit_name(RUNE_UNIT_COUNT));
}

static void test_line(void **state)
{
    (void)state;
    char b[256];
    struct rune_meter_snap s = {.any = true,
                                .done = 482344960,
                                .total = 1LL << 30,
                                .unit = RUNE_UNIT_BYTES,
                                .phase = "loading"};
    assert_string_equal(rune_meter_text(&s, 89338675.2, RUNE_METER_SHOW_ALL, 10, b, sizeof b),
                        "loading [####......]  44%  460 MiB / 1.00 GiB  85.2 MiB/s  ETA 7s");
    /* what a narrow line keeps: the percent and the ETA */
    assert_string_equal(rune_meter_text(&s, 89338675.2, RUNE_METER_SHOW_ETA, 10, b, sizeof b),
                        " 44%  ETA 7s");
    /* a total not known: the amount and the pace, no percent, no ETA */
    s.total = -1;
    s.phase[0] = '\0';
    assert_string_equal(rune_meter_text(&s, 1024, RUNE_METER_SHOW_ALL, 10, b, sizeof b),
                        "460 MiB  1.00 KiB/s");
    /* a pace not known yet: no rate, no ETA */
    s.total = 1LL << 30;
    assert_string_equal(rune_meter_text(&s, -1, RUNE_METER_SHOW_ALL, 0, b, sizeof b),
                        " 44%  460 MiB / 1.00 GiB");
    s.any = false;
    assert_string_equal(rune_meter_text(&s, 5, RUNE_METER_SHOW_ALL, 0, b, sizeof b), "");

    /* a recorded sample, as rune log show prints it */
    assert_string_equal(rune_meter_sample_str(482344960, 1LL << 30, RUNE_UNIT_BYTES, 89338675,
                                              72000, "loading", false, b, sizeof b),
                        "loading: 44%, 460 MiB of 1.00 GiB at 85.2 MiB/s, 1m12s in");
    assert_string_equal(
        rune_meter_sample_str(1200000, -1, RUNE_UNIT_ROWS, -1, 5000, NULL, true, b, sizeof b),
        "1.20M rows, 5.0s in, the last");
}

/* ---- The meter and its readers ---- */

static void test_rate(void **state)
{
    (void)state;
    struct rune_meter m;
    struct rune_meter_snap s;
    struct rune_rate r = {0};
    rune_meter_init(&m);
    rune_meter_read(&m, &s);
    assert_false(s.any);
    assert_true(rune_rate_update(&r, &s, 1000) < 0);

    rune_meter_set(&m, 0, 1000, RUNE_UNIT_ROWS);
    rune_meter_read(&m, &s);
    assert_true(s.any);
    long long t0 = s.first_ms;
    /* figures at made-up times: 100 rows a second */
    for (int i = 0; i <= 12; i++) {
        s.done = 100LL * i;
        double rate = rune_rate_update(&r, &s, t0 + 1000LL * i);
        if (i >= 1)
            assert_true(rate > 99.9 && rate < 100.1);
    }
    /* it slows to 10 a second: the window (ten seconds) follows */
    for (int i = 1; i <= 12; i++) {
        s.done = 1200 + 10LL * i;
        rune_rate_update(&r, &s, t0 + 12000 + 1000LL * i);
    }
    s.done = 1330;
    double slow = rune_rate_update(&r, &s, t0 + 25000);
    assert_true(slow > 9.9 && slow < 10.1);

    /* a new unit is a new count: the estimate starts over */
    rune_meter_set(&m, 5, 10, RUNE_UNIT_TABLES);
    rune_meter_read(&m, &s);
    assert_int_equal(s.unit, RUNE_UNIT_TABLES);
    assert_int_equal(s.done, 5);
    assert_true(rune_rate_update(&r, &s, s.first_ms + 100) < 0);
    rune_meter_add(&m, 3);
    rune_meter_phase(&m, "indexes");
    rune_meter_read(&m, &s);
    assert_int_equal(s.done, 8);
    assert_int_equal(s.total, 10);
    assert_string_equal(s.phase, "indexes");
    rune_meter_reset(&m);
    rune_meter_read(&m, &s);
    assert_false(s.any);
    rune_meter_destroy(&m);
}

static void test_samples_due(void **state)
{
    (void)state;
    struct rune_sample_state st = {.gen = ~0u};
    struct rune_meter_snap s = {.any = true, .total = 1000, .unit = RUNE_UNIT_BYTES, .gen = 7};
    long long start = 1000000;
    int recorded = 0;
    /* a steady count from 0 to 100% in 1% steps, a second apart: one
     * sample per 5% crossed, never more */
    for (int pct = 0; pct <= 100; pct++) {
        s.done = pct * 10;
        if (rune_progress_due(&st, &s, start, start + 1000LL * pct))
            recorded++;
    }
    assert_int_equal(recorded, 20);
    /* stalled: once a minute all the same */
    assert_false(rune_progress_due(&st, &s, start, start + 100000 + 59000));
    assert_true(rune_progress_due(&st, &s, start, start + 100000 + 60000));
    /* a phase change is a sample of its own, at most one a second */
    strcpy(s.phase, "indexes");
    assert_false(rune_progress_due(&st, &s, start, start + 160500));
    assert_true(rune_progress_due(&st, &s, start, start + 161000));
    assert_false(rune_progress_due(&st, &s, start, start + 162000));
    /* without a total: once a minute */
    struct rune_sample_state u = {.gen = ~0u};
    struct rune_meter_snap n = {.any = true, .total = -1, .unit = RUNE_UNIT_ROWS, .gen = 3};
    n.done = 5;
    assert_false(rune_progress_due(&u, &n, start, start + 59999));
    assert_true(rune_progress_due(&u, &n, start, start + 60000));
    /* nothing reported: nothing due */
    struct rune_meter_snap none = {0};
    assert_false(rune_progress_due(&u, &none, start, start + 600000));
}

/* ---- A native step with worker threads, end to end ---- */

#define WORKERS 4
#define PER_WORKER 25000

static char logdir[512], logpath[600];

static void *add_rows(void *arg)
{
    struct rune_call *c = arg;
    for (int i = 0; i < PER_WORKER; i++)
        rune_call_progress_add(c, 1);
    return NULL;
}

/* A copy whose rows are counted by several threads at once. */
static int threads_run(struct rune_call *c)
{
    pthread_t th[WORKERS];
    rune_call_progress_phase(c, "copying");
    rune_call_progress(c, 0, (long long)WORKERS * PER_WORKER, RUNE_UNIT_ROWS);
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, add_rows, c), 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    return RUNE_STEP_OK;
}

static long long threads_size(struct rune_call *c, enum rune_unit *unit)
{
    (void)c;
    *unit = RUNE_UNIT_BYTES;
    return 123456;
}

static const struct rune_param no_params[] = {{NULL}};
static const struct rune_output no_outputs[] = {{NULL}};
static const struct rune_step_type threads_type = {"test.threads", "rows counted by worker threads",
                                                   no_params,      no_outputs,
                                                   RUNE_WRITES,    threads_run,
                                                   NULL,           false,
                                                   threads_size};

static void test_worker_threads(void **state)
{
    (void)state;
    unit_temp_dir(logdir, sizeof logdir, "progress");
    snprintf(logpath, sizeof logpath, "%s/incidents.db", logdir);
    assert_int_equal(rune_registry_add(&threads_type), 0);
    char *path = unit_write_temp("runbook: threads\n"
                                 "mitigation:\n"
                                 "  steps:\n"
                                 "    - id: copy\n"
                                 "      uses: test.threads\n");
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_runbook *rb = rune_runbook_load(path, &d);
    assert_non_null(rb);
    json_t *sets = json_object();
    struct rune_run_opts o = {.jobs = 1,
                              .quiet = true,
                              .yes = true,
                              .log_path = logpath,
                              .operator_name = "test",
                              .sets = sets,
                              .progress = RUNE_PROGRESS_NONE};
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    assert_int_equal(rune_run_runbook(rb, &o), 0);
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
    json_t *inc = rune_journal_get(j, id);
    size_t i;
    json_t *ev;
    struct rune_rec_event e;
    int samples = 0, finals = 0;
    long long end_seq = 0, final_seq = 0;
    json_array_foreach(json_object_get(inc, "events"), i, ev)
    {
        rune_record_decode(ev, &e);
        if (e.kind == RUNE_EV_PROGRESS) {
            samples++;
            assert_string_equal(e.step, "copy");
            assert_string_equal(e.uses, "test.threads");
            assert_string_equal(e.unit, "rows");
            assert_string_equal(e.phase, "copying");
            assert_int_equal(e.total, WORKERS * PER_WORKER);
            if (e.final) {
                finals++;
                final_seq = e.seq;
                /* every thread's every row, none lost */
                assert_int_equal(e.done, WORKERS * PER_WORKER);
                assert_true(e.elapsed_ms >= 0);
            }
        }
        if (e.kind == RUNE_EV_STEP_END) {
            end_seq = e.seq;
            assert_string_equal(e.work_uses, "test.threads");
            assert_string_equal(e.work_unit, "bytes");
            assert_int_equal(e.work_size, 123456);
        }
    }
    assert_true(samples >= 1);
    assert_int_equal(finals, 1);
    assert_true(final_seq < end_seq); /* the last sample before the step's end */

    /* the samples are in the chain like every event */
    struct rune_chain_result res;
    assert_int_equal(rune_journal_verify(j, id, &res), 0);
    assert_int_equal(res.problem, RUNE_CHAIN_INTACT);

    /* and in the report: the work and its pace */
    json_t *rep;
    assert_int_equal(rune_report_build(j, id, &rep, err, sizeof err), 0);
    json_t *row = json_array_get(json_object_get(rep, "throughput"), 0);
    assert_non_null(row);
    assert_string_equal(json_string_value(json_object_get(row, "step")), "copy");
    assert_int_equal(json_integer_value(json_object_get(row, "done")), WORKERS * PER_WORKER);
    assert_int_equal(json_integer_value(json_object_get(row, "size")), 123456);
    /* its pace: since its first report, else over its duration (null only
     * when the whole step took no measurable time) */
    assert_true(json_is_integer(json_object_get(row, "rate")) ||
                json_integer_value(json_object_get(row, "duration_ms")) == 0);
    json_decref(rep);
    json_decref(inc);
    json_decref(list);
    rune_journal_close(j);
    unit_remove_dir(logdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amounts),        cmocka_unit_test(test_line),
        cmocka_unit_test(test_rate),           cmocka_unit_test(test_samples_due),
        cmocka_unit_test(test_worker_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
