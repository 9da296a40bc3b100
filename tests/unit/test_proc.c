/*
 * test_proc.c — engine/run/proc.c: capture, stdin, environment, cwd, spawn
 * errors, the deadline and cancel killing the whole process group, leftover
 * background processes, and concurrent spawns from several threads.
 *
 * Timing bounds are deliberately generous (seconds, not milliseconds): the
 * suite runs on small, noisy CI machines. Nothing sleeps to wait for an
 * event; waits poll the condition against a deadline.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs stdarg, stddef, setjmp and stdint first, in this order */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "proc.h"

#define ARGV(...) ((char *const[]){__VA_ARGS__, NULL})

static int run(struct rune_proc *p)
{
    char err[256] = "";
    int rc = rune_proc_run(p, err, sizeof err);
    if (rc != 0)
        print_error("rune_proc_run: %s\n", err);
    return rc;
}

/* A process counts as gone once it no longer exists or is a zombie: PID 1
 * in a container does not always reap orphans, and a zombie runs nothing. */
static bool gone(pid_t pid)
{
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

static bool wait_gone(pid_t pid, long long within_ms)
{
    long long until = rune_clock_mono_ms() + within_ms;
    while (!gone(pid)) {
        if (rune_clock_mono_ms() > until)
            return false;
        nanosleep(&(struct timespec){0, 10000000L}, NULL); /* 10 ms */
    }
    return true;
}

static void test_captures_stdout_stderr_and_status(void **state)
{
    struct rune_proc p = {.argv = ARGV("sh", "-c", "echo out; echo err >&2")};
    assert_int_equal(run(&p), 0);
    assert_true(p.pid > 0);
    assert_int_equal(p.exit_code, 0);
    assert_int_equal(p.term_signal, 0);
    assert_string_equal(p.out, "out\n");
    assert_int_equal(p.out_len, 4);
    assert_string_equal(p.err, "err\n");
    assert_false(p.out_truncated);
    assert_false(p.err_truncated);
    assert_false(p.timed_out);
    assert_false(p.was_cancelled);
    assert_non_null(strstr(p.tail, "out\n"));
    assert_non_null(strstr(p.tail, "err\n"));
    rune_proc_release(&p);
}

static void test_nonzero_exit(void **state)
{
    struct rune_proc p = {.argv = ARGV("sh", "-c", "exit 3")};
    assert_int_equal(run(&p), 0);
    assert_int_equal(p.exit_code, 3);
    assert_int_equal(p.term_signal, 0);
    assert_string_equal(p.out, ""); /* empty, never NULL */
    rune_proc_release(&p);
}

static void test_killed_by_signal(void **state)
{
    struct rune_proc p = {.argv = ARGV("sh", "-c", "kill -KILL $$")};
    assert_int_equal(run(&p), 0);
    assert_int_equal(p.exit_code, -1);
    assert_int_equal(p.term_signal, SIGKILL);
    assert_false(p.timed_out);
    rune_proc_release(&p);
}

static void test_stdin_passed_through(void **state)
{
    const char *in = "hello\nworld\n";
    struct rune_proc p = {.argv = ARGV("cat"), .stdin_data = in, .stdin_len = strlen(in)};
    assert_int_equal(run(&p), 0);
    assert_string_equal(p.out, in);
    rune_proc_release(&p);
}

/* cat writes while we write: both directions must flow in one poll loop. */
static void test_large_stdin_round_trip(void **state)
{
    size_t n = 4 << 20;
    char *in = malloc(n);
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)('a' + i % 26);
    struct rune_proc p = {.argv = ARGV("cat"), .stdin_data = in, .stdin_len = n, .capture_max = n};
    assert_int_equal(run(&p), 0);
    assert_int_equal(p.out_len, n);
    assert_false(p.out_truncated);
    assert_memory_equal(p.out, in, n);
    rune_proc_release(&p);
    free(in);
}

/* The child exits without reading: the write fails with EPIPE, and the
 * SIGPIPE it raises must not kill the test process. */
static void test_stdin_ignored_by_child(void **state)
{
    size_t n = 1 << 20;
    char *in = calloc(1, n);
    assert_non_null(in);
    struct rune_proc p = {.argv = ARGV("true"), .stdin_data = in, .stdin_len = n};
    assert_int_equal(run(&p), 0);
    assert_int_equal(p.exit_code, 0);
    rune_proc_release(&p);
    free(in);
}

static void test_no_stdin_is_dev_null(void **state)
{
    struct rune_proc p = {.argv = ARGV("cat")};
    assert_int_equal(run(&p), 0);
    assert_int_equal(p.exit_code, 0);
    assert_int_equal(p.out_len, 0);
    rune_proc_release(&p);
}

static void test_capture_cap_truncates_without_blocking(void **state)
{
    struct rune_proc p = {.argv = ARGV("head", "-c", "3000000", "/dev/zero"), .capture_max = 1000};
    assert_int_equal(run(&p), 0);
    assert_int_equal(p.exit_code, 0);
    assert_int_equal(p.out_len, 1000);
    assert_true(p.out_truncated);
    assert_false(p.err_truncated);
    assert_int_equal(p.out[1000], '\0');
    assert_int_equal(p.tail_len, RUNE_PROC_TAIL);
    rune_proc_release(&p);
}

static void test_tail_holds_last_bytes(void **state)
{
    struct rune_proc p = {.argv = ARGV("sh", "-c", "seq 1 5000; echo last-line >&2")};
    assert_int_equal(run(&p), 0);
    assert_int_equal(p.tail_len, RUNE_PROC_TAIL);
    assert_int_equal(strlen(p.tail), RUNE_PROC_TAIL);
    const char *end = "4999\n5000\nlast-line\n";
    assert_string_equal(p.tail + p.tail_len - strlen(end), end);
    assert_null(strstr(p.tail, "\n1\n")); /* the head scrolled out */
    rune_proc_release(&p);
}

static void test_env_added_and_overridden(void **state)
{
    setenv("RUNE_TEST_INHERITED", "old", 1);
    struct rune_proc p = {
        .argv = ARGV("sh", "-c", "echo $FOO $RUNE_TEST_INHERITED"),
        .env = ARGV("FOO=bar", "RUNE_TEST_INHERITED=new"),
    };
    assert_int_equal(run(&p), 0);
    assert_string_equal(p.out, "bar new\n");
    rune_proc_release(&p);
    unsetenv("RUNE_TEST_INHERITED");
}

static void test_cwd_honoured(void **state)
{
    char dir[] = "/tmp/rune-proc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *real = realpath(dir, NULL);
    assert_non_null(real);
    struct rune_proc p = {.argv = ARGV("pwd", "-P"), .cwd = dir};
    assert_int_equal(run(&p), 0);
    p.out[strcspn(p.out, "\n")] = '\0';
    assert_string_equal(p.out, real);
    rune_proc_release(&p);
    free(real);
    rmdir(dir);
}

static void test_missing_program(void **state)
{
    char err[256] = "";
    struct rune_proc p = {.argv = ARGV("rune-no-such-program-xyz")};
    assert_int_equal(rune_proc_run(&p, err, sizeof err), -1);
    assert_non_null(strstr(err, "not found"));
    assert_non_null(strstr(err, "rune-no-such-program-xyz"));
}

static void test_missing_cwd(void **state)
{
    char err[256] = "";
    struct rune_proc p = {.argv = ARGV("true"), .cwd = "/nonexistent/rune-dir"};
    assert_int_equal(rune_proc_run(&p, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot chdir to /nonexistent/rune-dir"));
}

static void test_not_executable(void **state)
{
    char path[] = "/tmp/rune-proc-file-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[256] = "";
    struct rune_proc p = {.argv = ARGV(path)};
    assert_int_equal(rune_proc_run(&p, err, sizeof err), -1);
    assert_non_null(strstr(err, "not executable"));
    unlink(path);
}

/* An executable file the kernel cannot run: execve fails in the child and
 * the reason comes back through the error pipe. */
static void test_exec_failure_reported(void **state)
{
    char path[] = "/tmp/rune-proc-bin-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\177ELF\001garbage", 12), 12);
    close(fd);
    chmod(path, 0700);
    char err[256] = "";
    struct rune_proc p = {.argv = ARGV(path)};
    assert_int_equal(rune_proc_run(&p, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot run"));
    assert_non_null(strstr(err, strerror(ENOEXEC)));
    unlink(path);
}

static pid_t first_pid(const char *out)
{
    long v = strtol(out, NULL, 10);
    return v > 1 ? (pid_t)v : -1;
}

static void test_deadline_kills_whole_group(void **state)
{
    long long t0 = rune_clock_mono_ms();
    struct rune_proc p = {
        .argv = ARGV("sh", "-c", "sleep 100 & echo $!; sleep 100; wait"),
        .deadline_ms = t0 + 300,
    };
    assert_int_equal(run(&p), 0);
    assert_true(rune_clock_mono_ms() - t0 < 10000);
    assert_true(p.timed_out);
    assert_false(p.was_cancelled);
    assert_int_equal(p.term_signal, SIGTERM);
    pid_t grandchild = first_pid(p.out);
    assert_true(grandchild > 0);
    assert_true(wait_gone(grandchild, 5000));
    assert_true(wait_gone(p.pid, 5000));
    rune_proc_release(&p);
}

/* A group that ignores SIGTERM gets SIGKILL after the grace period. */
static void test_sigkill_after_grace(void **state)
{
    long long t0 = rune_clock_mono_ms();
    struct rune_proc p = {
        .argv = ARGV("sh", "-c", "trap '' TERM; sleep 100 & echo $!; sleep 100"),
        .deadline_ms = t0 + 300,
        .kill_grace_ms = 200,
    };
    assert_int_equal(run(&p), 0);
    assert_true(rune_clock_mono_ms() - t0 < 10000);
    assert_true(p.timed_out);
    assert_int_equal(p.term_signal, SIGKILL);
    pid_t grandchild = first_pid(p.out);
    assert_true(grandchild > 0);
    assert_true(wait_gone(grandchild, 5000));
    rune_proc_release(&p);
}

struct cancel_after {
    int calls, after;
};

static bool cancel_after(void *ctx)
{
    struct cancel_after *c = ctx;
    return ++c->calls > c->after;
}

static void test_cancel_kills(void **state)
{
    struct cancel_after c = {0, 3};
    long long t0 = rune_clock_mono_ms();
    struct rune_proc p = {
        .argv = ARGV("sh", "-c", "sleep 100 & echo $!; sleep 100; wait"),
        .cancelled = cancel_after,
        .cancel_ctx = &c,
    };
    assert_int_equal(run(&p), 0);
    assert_true(rune_clock_mono_ms() - t0 < 10000);
    assert_true(p.was_cancelled);
    assert_false(p.timed_out);
    assert_true(c.calls > 3);
    pid_t grandchild = first_pid(p.out);
    assert_true(grandchild > 0);
    assert_true(wait_gone(grandchild, 5000));
    rune_proc_release(&p);
}

/* The child exits but leaves a background process holding stdout open:
 * rune_proc_run must return soon after, and must leave that process be. */
static void test_background_holder_does_not_block(void **state)
{
    long long t0 = rune_clock_mono_ms();
    struct rune_proc p = {.argv = ARGV("sh", "-c", "sleep 30 & echo $!; echo started")};
    assert_int_equal(run(&p), 0);
    assert_true(rune_clock_mono_ms() - t0 < 10000);
    assert_int_equal(p.exit_code, 0);
    assert_false(p.timed_out);
    assert_non_null(strstr(p.out, "started\n"));
    pid_t holder = first_pid(p.out);
    assert_true(holder > 0);
    assert_false(gone(holder)); /* a normal exit does not kill leftovers */
    kill(holder, SIGKILL);
    assert_true(wait_gone(holder, 5000));
    rune_proc_release(&p);
}

struct job {
    int n;
    int rc;
    struct rune_proc p;
    char script[128];
    char want[64];
};

static void *run_job(void *arg)
{
    struct job *j = arg;
    char err[256];
    char *argv[] = {"sh", "-c", j->script, NULL};
    j->p.argv = argv;
    j->rc = rune_proc_run(&j->p, err, sizeof err);
    j->p.argv = NULL;
    return NULL;
}

/* Eight spawns at once, of different lengths: had one child inherited
 * another's pipe end, the short ones would wait for the long ones. */
static void test_concurrent_spawns(void **state)
{
    enum { N = 8 };
    struct job jobs[N];
    pthread_t th[N];
    long long t0 = rune_clock_mono_ms();
    for (int i = 0; i < N; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].n = i;
        snprintf(jobs[i].script, sizeof jobs[i].script,
                 "echo job-%d; sleep 0.%d; echo job-%d-done >&2", i, i, i);
        snprintf(jobs[i].want, sizeof jobs[i].want, "job-%d\n", i);
        assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_true(rune_clock_mono_ms() - t0 < 10000);
    for (int i = 0; i < N; i++) {
        char want_err[64];
        snprintf(want_err, sizeof want_err, "job-%d-done\n", i);
        assert_int_equal(jobs[i].rc, 0);
        assert_int_equal(jobs[i].p.exit_code, 0);
        assert_string_equal(jobs[i].p.out, jobs[i].want);
        assert_string_equal(jobs[i].p.err, want_err);
        rune_proc_release(&jobs[i].p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captures_stdout_stderr_and_status),
        cmocka_unit_test(test_nonzero_exit),
        cmocka_unit_test(test_killed_by_signal),
        cmocka_unit_test(test_stdin_passed_through),
        cmocka_unit_test(test_large_stdin_round_trip),
        cmocka_unit_test(test_stdin_ignored_by_child),
        cmocka_unit_test(test_no_stdin_is_dev_null),
        cmocka_unit_test(test_capture_cap_truncates_without_blocking),
        cmocka_unit_test(test_tail_holds_last_bytes),
        cmocka_unit_test(test_env_added_and_overridden),
        cmocka_unit_test(test_cwd_honoured),
        cmocka_unit_test(test_missing_program),
        cmocka_unit_test(test_missing_cwd),
        cmocka_unit_test(test_not_executable),
        cmocka_unit_test(test_exec_failure_reported),
        cmocka_unit_test(test_deadline_kills_whole_group),
        cmocka_unit_test(test_sigkill_after_grace),
        cmocka_unit_test(test_cancel_kills),
        cmocka_unit_test(test_background_holder_does_not_block),
        cmocka_unit_test(test_concurrent_spawns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
