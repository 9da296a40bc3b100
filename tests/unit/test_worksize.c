/*
 * test_worksize.c — the size hooks step families share (steps/lib/
 * worksize.c), through the engine as a type's table wires them: a file's
 * bytes (a path relative to the operator's directory too), a directory
 * archive's files, a backup's raw bytes from its manifest, a file without
 * a manifest, and nothing at all for what is not there — recorded as the
 * step's work in a real run and as work_size in a plan's record.
 */
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "artifact.h"
#include "journal.h"
#include "record_read.h"
#include "registry.h"
#include "run.h"
#include "worksize.h"

static char dir[512], logpath[600];

static int noop_run(struct rune_call *c)
{
    (void)c;
    return RUNE_STEP_OK;
}

static const struct rune_param params[] = {
    {"path", RUNE_T_PATH, false, NULL, "a file"},
    {"from", RUNE_T_PATH, false, NULL, "a backup"},
    {NULL},
};
static const struct rune_output no_outputs[] = {{NULL}};
static const struct rune_step_type file_type = {
    "test.size_file",  "a file's size", params, no_outputs, RUNE_WRITES, noop_run, NULL, false,
    rune_worksize_path};
static const struct rune_step_type backup_type = {"test.size_backup",
                                                  "a backup's size",
                                                  params,
                                                  no_outputs,
                                                  RUNE_WRITES,
                                                  noop_run,
                                                  NULL,
                                                  false,
                                                  rune_worksize_backup_from};

static void write_file(const char *path, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    char *buf = calloc(1, n ? n : 1);
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    free(buf);
    close(fd);
}

/* A backup of n bytes of data (compressible: its file is much smaller). */
static void write_backup(const char *path, size_t n)
{
    struct rune_artifact_writer *w;
    struct rune_artifact_meta meta = {.engine = "file", .source = "test", .threads = 1};
    char err[512];
    assert_int_equal(rune_artifact_open(&w, path, &meta, err, sizeof err), 0);
    char *buf = calloc(1, n);
    assert_int_equal(rune_artifact_write(w, buf, n, err, sizeof err), 0);
    free(buf);
    json_t *m = rune_artifact_commit(w, NULL, err, sizeof err);
    assert_non_null(m);
    json_decref(m);
}

/* Runs (or plans) text from dir; the incident's events. */
static json_t *run_text(const char *text, bool dry)
{
    char *path = unit_write_temp(text);
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
                              .dry_run = dry,
                              .json = dry};
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
    json_t *inc =
        rune_journal_get(j, json_string_value(json_object_get(json_array_get(list, 0), "id")));
    json_decref(list);
    rune_journal_close(j);
    return inc;
}

/* The size step `step` recorded with its end (-1: none). */
static long long size_of(json_t *inc, const char *step)
{
    size_t i;
    json_t *ev;
    struct rune_rec_event e;
    json_array_foreach(json_object_get(inc, "events"), i, ev)
    {
        rune_record_decode(ev, &e);
        if (e.kind == RUNE_EV_STEP_END && !strcmp(e.step, step)) {
            if (!e.work_uses)
                return -1;
            assert_string_equal(e.work_unit, "bytes");
            return e.work_size;
        }
    }
    fail_msg("no step.end for %s", step);
    return -1;
}

static const char RUNBOOK[] = "runbook: sizes\n"
                              "mitigation:\n"
                              "  steps:\n"
                              "    - id: file\n"
                              "      uses: test.size_file\n"
                              "      with: { path: data.bin }\n"
                              "    - id: archive\n"
                              "      uses: test.size_file\n"
                              "      with: { path: archive.d }\n"
                              "    - id: missing\n"
                              "      uses: test.size_file\n"
                              "      with: { path: nothing-here }\n"
                              "    - id: unnamed\n"
                              "      uses: test.size_file\n"
                              "    - id: backup\n"
                              "      uses: test.size_backup\n"
                              "      with: { from: b.gz }\n"
                              "    - id: plain\n"
                              "      uses: test.size_backup\n"
                              "      with: { from: data.bin }\n";

static void test_sizes(void **state)
{
    (void)state;
    char cwd[4096], p[1200];
    assert_non_null(getcwd(cwd, sizeof cwd));
    unit_temp_dir(dir, sizeof dir, "worksize");
    snprintf(logpath, sizeof logpath, "%s/log/incidents.db", dir);
    assert_int_equal(chdir(dir), 0);
    write_file("data.bin", 12345);
    assert_int_equal(mkdir("archive.d", 0700), 0);
    write_file("archive.d/toc.dat", 10);
    write_file("archive.d/3001.dat", 20);
    assert_int_equal(mkdir("archive.d/sub", 0700), 0);
    write_backup("b.gz", 300000);
    snprintf(p, sizeof p, "%s/b.gz", dir);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_size < 300000); /* the raw bytes are not the file's */
    assert_int_equal(rune_registry_add(&file_type), 0);
    assert_int_equal(rune_registry_add(&backup_type), 0);

    json_t *inc = run_text(RUNBOOK, false);
    assert_int_equal(size_of(inc, "file"), 12345);
    assert_int_equal(size_of(inc, "archive"), 30);
    assert_int_equal(size_of(inc, "missing"), -1);
    assert_int_equal(size_of(inc, "unnamed"), -1);
    assert_int_equal(size_of(inc, "backup"), 300000);
    assert_int_equal(size_of(inc, "plain"), 12345);
    json_decref(inc);

    /* a plan measures the same, and records it with the step it plans */
    inc = run_text(RUNBOOK, true);
    assert_int_equal(size_of(inc, "backup"), 300000);
    assert_int_equal(size_of(inc, "missing"), -1);
    json_decref(inc);

    assert_int_equal(chdir(cwd), 0);
    unit_remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
