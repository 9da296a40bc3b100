/*
 * test_workdir.c — engine/run/workdir.c, the run's private work directory:
 * made 0700 under work/ beside the log, refused when work/ or a directory
 * above it is open to other users, removed without following symlinks
 * (what they point to survives), read-only directories included, a tree
 * too deep refused rather than overflowing the stack, and the dry-run's
 * placeholder made of nothing.
 */
#include "unit.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "workdir.h"

static char base[PATH_MAX]; /* a fresh private directory per test */
static char log_path[PATH_MAX + 32];

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s/rune-unit-workdir-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(base));
    char real[PATH_MAX];
    assert_non_null(realpath(base, real));
    snprintf(base, sizeof base, "%s", real);
    snprintf(log_path, sizeof log_path, "%s/state/incidents.db", base);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' && rm -rf '%s'", base, base);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void path_in(char *out, size_t len, const char *rel)
{
    snprintf(out, len, "%s/%s", base, rel);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void made_private_beside_the_log(void **state)
{
    (void)state;
    char wd[PATH_MAX], err[1024] = "";
    assert_int_equal(
        rune_workdir_create(log_path, "20261123-121524-a350", wd, sizeof wd, err, sizeof err), 0);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/state/work/20261123-121524-a350-", base);
    assert_int_equal(strncmp(wd, want, strlen(want)), 0);
    assert_int_equal(strlen(wd), strlen(want) + 6);
    struct stat st;
    assert_int_equal(lstat(wd, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(st.st_uid, geteuid());
    char work[PATH_MAX];
    path_in(work, sizeof work, "state/work");
    assert_int_equal(stat(work, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* a second run gets a second directory */
    char wd2[PATH_MAX];
    assert_int_equal(
        rune_workdir_create(log_path, "20261123-121524-a350", wd2, sizeof wd2, err, sizeof err), 0);
    assert_string_not_equal(wd, wd2);
}

static void refuses_open_or_symlinked_work(void **state)
{
    (void)state;
    char wd[PATH_MAX], err[1024], work[PATH_MAX], other[PATH_MAX];
    path_in(work, sizeof work, "state");
    assert_int_equal(mkdir(work, 0700), 0);
    path_in(work, sizeof work, "state/work");
    assert_int_equal(mkdir(work, 0700), 0);
    assert_int_equal(chmod(work, 0777), 0);
    assert_int_equal(rune_workdir_create(log_path, "id", wd, sizeof wd, err, sizeof err), -1);
    assert_non_null(strstr(err, "is writable by other users (mode 0777)"));
    assert_int_equal(rmdir(work), 0);
    path_in(other, sizeof other, "other");
    assert_int_equal(mkdir(other, 0700), 0);
    assert_int_equal(symlink(other, work), 0);
    assert_int_equal(rune_workdir_create(log_path, "id", wd, sizeof wd, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a directory (a symlink)"));
    assert_int_equal(unlink(work), 0);
    assert_int_equal(rmdir(other), 0); /* still empty: nothing was made through the link */
}

static void refuses_an_open_parent_accepts_a_sticky_one(void **state)
{
    (void)state;
    char wd[PATH_MAX], err[1024], open_dir[PATH_MAX];
    path_in(open_dir, sizeof open_dir, "state");
    assert_int_equal(mkdir(open_dir, 0700), 0);
    assert_int_equal(chmod(base, 0777), 0);
    assert_int_equal(rune_workdir_create(log_path, "id", wd, sizeof wd, err, sizeof err), -1);
    assert_non_null(strstr(err, "(mode 0777, not sticky)"));
    char work[PATH_MAX];
    path_in(work, sizeof work, "state/work");
    assert_int_equal(access(work, F_OK), -1); /* checked before work/ is made */
    /* like /tmp: sticky, and the entry below it is ours */
    assert_int_equal(chmod(base, 01777), 0);
    assert_int_equal(rune_workdir_create(log_path, "id", wd, sizeof wd, err, sizeof err), 0);
    assert_int_equal(chmod(base, 0700), 0);
}

static void removal_does_not_follow_symlinks(void **state)
{
    (void)state;
    char wd[PATH_MAX], err[1024] = "", p[PATH_MAX + 64], outside[PATH_MAX], keep[PATH_MAX + 16];
    assert_int_equal(rune_workdir_create(log_path, "id", wd, sizeof wd, err, sizeof err), 0);
    path_in(outside, sizeof outside, "outside");
    assert_int_equal(mkdir(outside, 0700), 0);
    snprintf(keep, sizeof keep, "%s/keep.txt", outside);
    write_file(keep, "keep");
    snprintf(p, sizeof p, "%s/dirlink", wd);
    assert_int_equal(symlink(outside, p), 0);
    snprintf(p, sizeof p, "%s/filelink", wd);
    assert_int_equal(symlink(keep, p), 0);
    snprintf(p, sizeof p, "%s/a", wd);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/a/b", wd);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/a/b/f", wd);
    write_file(p, "x");
    snprintf(p, sizeof p, "%s/a/fifo", wd);
    assert_int_equal(mkfifo(p, 0600), 0);
    snprintf(p, sizeof p, "%s/a/b", wd);
    assert_int_equal(chmod(p, 0500), 0);
    snprintf(p, sizeof p, "%s/a", wd);
    assert_int_equal(chmod(p, 0500), 0);
    assert_int_equal(rune_workdir_remove(wd, err, sizeof err), 0);
    assert_int_equal(access(wd, F_OK), -1);
    assert_int_equal(access(keep, R_OK), 0);
    /* gone already: nothing to do */
    assert_int_equal(rune_workdir_remove(wd, err, sizeof err), 0);
}

static void removal_refuses_a_tree_too_deep(void **state)
{
    (void)state;
    char wd[PATH_MAX], err[1024] = "";
    assert_int_equal(rune_workdir_create(log_path, "id", wd, sizeof wd, err, sizeof err), 0);
    int fd = open(wd, O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(mkdirat(fd, "d", 0700), 0);
        int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = next;
        assert_true(fd >= 0);
    }
    close(fd);
    assert_int_equal(rune_workdir_remove(wd, err, sizeof err), -1);
    assert_non_null(strstr(err, "levels deep"));
    assert_int_equal(access(wd, F_OK), 0);
}

static void placeholder_makes_nothing(void **state)
{
    (void)state;
    char ph[PATH_MAX], want[PATH_MAX + 64];
    rune_workdir_placeholder(log_path, "20261123-121524-a350", ph, sizeof ph);
    snprintf(want, sizeof want, "%s/state/work/20261123-121524-a350-XXXXXX", base);
    assert_string_equal(ph, want);
    char state_dir[PATH_MAX];
    path_in(state_dir, sizeof state_dir, "state");
    assert_int_equal(access(state_dir, F_OK), -1);
    /* a relative log path still gives an absolute path */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(base), 0);
    rune_workdir_placeholder("rel/incidents.db", "x", ph, sizeof ph);
    assert_int_equal(chdir(cwd), 0);
    snprintf(want, sizeof want, "%s/rel/work/x-XXXXXX", base);
    assert_string_equal(ph, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(made_private_beside_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_open_or_symlinked_work, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_an_open_parent_accepts_a_sticky_one, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(removal_does_not_follow_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(removal_refuses_a_tree_too_deep, setup, teardown),
        cmocka_unit_test_setup_teardown(placeholder_makes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
