/*
 * test_trust_locks.c — steps/lib/trust.c: identifying a SQLite database
 * (rune_open_identity) leaves alone the locks SQLite holds on it.
 *
 * POSIX record locks belong to the process and the file: closing ANY
 * descriptor of the file drops all of them, SQLite's included. A reader
 * that checks which file it opened while another of its connections is in
 * a read transaction would, with an ordinary descriptor, let a writer in
 * under that transaction. The test holds a read transaction, identifies
 * the file, closes the descriptor, and asks another process (the sqlite3
 * shell: locks are per process) for an exclusive lock: it must be refused. The same with
 * rune_open_input shows the hazard is real (the writer gets in).
 */
#include "unit.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "trust.h"

struct fixture {
    char dir[128];
    char path[192];
    sqlite3 *reader;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    unit_temp_dir(f->dir, sizeof f->dir, "trustlocks");
    snprintf(f->path, sizeof f->path, "%s/app.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA journal_mode=DELETE; CREATE TABLE t(x);"
                                  "INSERT INTO t VALUES (1),(2),(3);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    /* a read transaction that has read: SQLite holds a SHARED lock */
    assert_int_equal(sqlite3_open_v2(f->path, &f->reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(f->reader, "BEGIN; SELECT count(*) FROM t;", NULL, NULL, NULL),
                     SQLITE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sqlite3_exec(f->reader, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(f->reader);
    unit_remove_dir(f->dir);
    free(f);
    return 0;
}

/* Whether another process can take the database for writing now: the
 * sqlite3 shell, exec'd (a bare fork would inherit this process's SQLite,
 * which knows of the reader's lock in memory whatever the kernel holds). */
static bool writer_gets_in(const char *path)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execlp("sqlite3", "sqlite3", path, "BEGIN EXCLUSIVE; DELETE FROM t; COMMIT;", (char *)NULL);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_not_equal(WEXITSTATUS(st), 127); /* the sqlite3 shell is installed */
    return WEXITSTATUS(st) == 0;
}

static void test_identity_keeps_the_readers_lock(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    char err[512] = "";
    int fd = rune_open_identity(f->path, &st, err, sizeof err);
    assert_true(fd >= 0);
    assert_true(S_ISREG(st.st_mode));
    close(fd);
    assert_false(writer_gets_in(f->path));
    /* and the reader's transaction still sees its rows */
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(f->reader, "SELECT count(*) FROM t", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 3);
    sqlite3_finalize(q);
}

static void test_a_reading_descriptor_would_drop_it(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    char err[512] = "";
    int fd = rune_open_input(f->path, &st, err, sizeof err);
    assert_true(fd >= 0);
    close(fd);
    assert_true(writer_gets_in(f->path));
}

static void test_identity_refuses_what_input_refuses(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    char err[512] = "";
    assert_int_equal(rune_open_identity(f->dir, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    char missing[256];
    snprintf(missing, sizeof missing, "%s/nope.db", f->dir);
    assert_int_equal(rune_open_identity(missing, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not exist"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity_keeps_the_readers_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_reading_descriptor_would_drop_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_refuses_what_input_refuses, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
