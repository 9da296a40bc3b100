/*
 * test_pgserver_names.c — steps/pg/pgserver.c: the names rune gives what it
 * sets aside beside a data directory (PATH.WHAT-YYYYMMDD-HHMMSS[-N]SUFFIX).
 *
 * The names are by the second. Two pg.recover_undo in the same second once
 * got the same server log name: the free stem was checked without ".log",
 * and creating the log (O_EXCL) then failed with "File exists". The name
 * checked must be the name used, suffix included.
 */
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "pgserver.h"

/* Creates PATH.WHAT-STAMP.log for this second and the next (the call may
 * cross a second boundary), as an earlier undo of the same second did. */
static void occupy(const char *path, const char *what, time_t t)
{
    for (int d = 0; d < 2; d++) {
        time_t at = t + d;
        struct tm tm;
        gmtime_r(&at, &tm);
        char stamp[32], name[512];
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        snprintf(name, sizeof name, "%s.%s-%s.log", path, what, stamp);
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        close(fd);
    }
}

static void a_log_name_taken_this_second_is_not_given_again(void **state)
{
    (void)state;
    char dir[128], path[192], out[512];
    unit_temp_dir(dir, sizeof dir, "pgnames");
    snprintf(path, sizeof path, "%s/data", dir);
    occupy(path, "undo", time(NULL));
    assert_int_equal(rune_pgserver_aside_name(path, "undo", ".log", out, sizeof out), 0);
    struct stat st;
    assert_int_equal(lstat(out, &st), -1);
    size_t n = strlen(out);
    assert_true(n > 4 && strcmp(out + n - 4, ".log") == 0);
    /* and it can be created exclusively, as pg.recover_undo does */
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    assert_true(fd >= 0);
    close(fd);
    unit_remove_dir(dir);
}

static void a_directory_name_ignores_logs_of_the_same_stem(void **state)
{
    (void)state;
    char dir[128], path[192], out[512];
    unit_temp_dir(dir, sizeof dir, "pgnames");
    snprintf(path, sizeof path, "%s/data/", dir); /* trailing slash dropped */
    assert_int_equal(rune_pgserver_aside_name(path, "failed-pitr", "", out, sizeof out), 0);
    char want[256];
    snprintf(want, sizeof want, "%s/data.failed-pitr-", dir);
    assert_memory_equal(out, want, strlen(want));
    assert_null(strstr(out, ".log"));
    unit_remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_log_name_taken_this_second_is_not_given_again),
        cmocka_unit_test(a_directory_name_ignores_logs_of_the_same_stem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
