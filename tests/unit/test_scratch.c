/*
 * test_scratch.c — steps/sqlite/scratch.c and steps/lib/shareddir.c: private scratch
 * directories (mode 0700, unpredictable names, files made O_EXCL with the
 * mode asked for), removal, and reaping what a crashed run left: only this
 * user's, this host's, of a process that is gone, never through a symlink.
 * Another user's leftovers are covered end to end (as a second user) by
 * tests/cli/test_sqlite_hostile.sh.
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "scratch.h"
#include "shareddir.h"

struct fx {
    char dir[64];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    unit_temp_dir(f->dir, sizeof f->dir, "scratch-unit");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    unit_remove_dir(f->dir);
    free(f);
    return 0;
}

/* This host's tag as scratch names carry it: the part between the pid and
 * the random suffix of a name rune_scratch_make made. */
static void host_of(const char *scratch, char *out, size_t len)
{
    const char *base = strrchr(scratch, '/') + 1 + strlen(RUNE_SCRATCH_PREFIX);
    const char *h = strchr(base, '-') + 1;
    size_t n = strlen(h) - 7;
    snprintf(out, len, "%.*s", (int)n, h);
}

static pid_t dead_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

static void make_leftover(const char *dir, long pid, const char *host, const char *suffix,
                          char *out, size_t len)
{
    snprintf(out, len, "%s/%s%ld-%s-%s", dir, RUNE_SCRATCH_PREFIX, pid, host, suffix);
    assert_int_equal(mkdir(out, 0700), 0);
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/snapshot.db", out);
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
}

static void test_make_create_remove(void **state)
{
    struct fx *f = *state;
    char err[512];
    char *a = NULL, *b = NULL;
    assert_int_equal(rune_scratch_make(&a, f->dir, (uid_t)-1, err, sizeof err), 0);
    assert_int_equal(rune_scratch_make(&b, f->dir, (uid_t)-1, err, sizeof err), 0);
    assert_string_not_equal(a, b); /* unpredictable: two calls, two names */
    struct stat st;
    assert_int_equal(lstat(a, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(st.st_uid, geteuid());

    char *path = NULL;
    int fd = rune_scratch_create(a, "x.db", 0640, &path, err, sizeof err);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    close(fd);
    /* O_EXCL: never an existing file, nor a symlink at that name */
    char *again = NULL;
    assert_int_equal(rune_scratch_create(a, "x.db", 0600, &again, err, sizeof err), -1);
    assert_null(again);
    char ln[PATH_MAX];
    snprintf(ln, sizeof ln, "%s/link.db", a);
    assert_int_equal(symlink("/nonexistent-target", ln), 0);
    assert_int_equal(rune_scratch_create(a, "link.db", 0600, &again, err, sizeof err), -1);
    assert_int_equal(lstat("/nonexistent-target", &st), -1);
    free(path);

    rune_scratch_remove(a); /* with the file and the link in it */
    rune_scratch_remove(b);
    rune_scratch_remove(NULL);
    DIR *d = opendir(f->dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    assert_int_equal(n, 0);
}

static void test_reap(void **state)
{
    struct fx *f = *state;
    char err[512], host[64];
    char *mine = NULL;
    assert_int_equal(rune_scratch_make(&mine, f->dir, (uid_t)-1, err, sizeof err), 0);
    host_of(mine, host, sizeof host);

    char gone[PATH_MAX], live[PATH_MAX], other[PATH_MAX], target[PATH_MAX], link[PATH_MAX];
    pid_t dead = dead_pid();
    make_leftover(f->dir, dead, host, "AAAAAA", gone, sizeof gone);
    make_leftover(f->dir, (long)getppid(), host, "BBBBBB", live, sizeof live);
    make_leftover(f->dir, dead, "elsewhere", "CCCCCC", other, sizeof other);
    /* a symlink named like a dead process's leftover, to a directory of ours */
    snprintf(target, sizeof target, "%s/precious", f->dir);
    assert_int_equal(mkdir(target, 0700), 0);
    char keep[PATH_MAX + 16];
    snprintf(keep, sizeof keep, "%s/file", target);
    close(open(keep, O_WRONLY | O_CREAT | O_EXCL, 0600));
    snprintf(link, sizeof link, "%s/%s%ld-%s-DDDDDD", f->dir, RUNE_SCRATCH_PREFIX, (long)dead,
             host);
    assert_int_equal(symlink(target, link), 0);

    char first[256];
    assert_int_equal(rune_scratch_reap(f->dir, first, sizeof first), 1);
    assert_string_equal(first, strrchr(gone, '/') + 1);
    struct stat st;
    assert_int_equal(lstat(gone, &st), -1); /* a dead process's: removed */
    assert_int_equal(lstat(mine, &st), 0);  /* this process's: kept */
    assert_int_equal(lstat(live, &st), 0);  /* a live process's: kept */
    assert_int_equal(lstat(other, &st), 0); /* another host's: kept */
    assert_int_equal(lstat(link, &st), 0);  /* the symlink: kept */
    assert_int_equal(lstat(keep, &st), 0);  /* and what it points to */
    assert_int_equal(rune_scratch_reap(f->dir, NULL, 0), 0);
    rune_scratch_remove(mine);
}

static void test_shared_dirs(void **state)
{
    struct fx *f = *state;
    char err[512], open_dir[128], sticky[128];
    snprintf(open_dir, sizeof open_dir, "%s/open", f->dir);
    snprintf(sticky, sizeof sticky, "%s/sticky", f->dir);
    assert_int_equal(mkdir(open_dir, 0700), 0);
    assert_int_equal(chmod(open_dir, 0777), 0);
    assert_int_equal(mkdir(sticky, 0700), 0);
    assert_int_equal(chmod(sticky, 01777), 0);
    assert_int_equal(rune_dir_check_shared(open_dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "no sticky bit"));
    assert_int_equal(rune_dir_check_shared(sticky, err, sizeof err), 0);
    assert_int_equal(rune_dir_check_shared(f->dir, err, sizeof err), 0);
    char *s = NULL;
    assert_int_equal(rune_scratch_make(&s, open_dir, (uid_t)-1, err, sizeof err), -1);
    assert_null(s);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing", f->dir);
    assert_int_equal(rune_dir_check_shared(missing, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not exist"));
    /* a link of our own is fine to follow; a missing path is no link */
    char ln[160];
    snprintf(ln, sizeof ln, "%s/mine", sticky);
    assert_int_equal(symlink(f->dir, ln), 0);
    assert_int_equal(rune_link_check(ln, err, sizeof err), 0);
    assert_int_equal(rune_link_check(missing, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_make_create_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_dirs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
