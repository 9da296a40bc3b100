/*
 * test_safepath.c — path inputs made canonical (engine/run/safepath.c): the
 * shapes one path can be written in, symlinks of the runner's own, and
 * what does not exist yet. Other users' links and directories are tested
 * end to end, as a second user, in tests/cli/test_inputs.sh.
 */
#include "unit.h"

#include <limits.h>
#include <sys/stat.h>

#include "safepath.h"

static char dir[PATH_MAX]; /* a private temp directory, real path */

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/rune-safepath-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, dir));
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/a", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/a/b", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* resolves dir + rel and expects dir + want */
static void check(const char *rel, const char *want)
{
    char in[PATH_MAX + 64], expect[PATH_MAX + 64], err[1024] = "";
    snprintf(in, sizeof in, "%s%s", dir, rel);
    snprintf(expect, sizeof expect, "%s%s", dir, want);
    char *out = NULL;
    int rc = rune_safepath_resolve(in, &out, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: %s", in, err);
    assert_string_equal(out, expect);
    free(out);
}

static void lexical_shapes(void **state)
{
    (void)state;
    check("/a/b/x.db", "/a/b/x.db");
    check("//a///b//x.db", "/a/b/x.db");
    check("/./a/./b/./x.db", "/a/b/x.db");
    check("/a/b/../b/x.db", "/a/b/x.db");
    check("/a/b/x.db/", "/a/b/x.db");
}

static void above_root(void **state)
{
    (void)state;
    char *out = NULL, err[256];
    assert_int_equal(rune_safepath_resolve("/../../tmp/../", &out, err, sizeof err), 0);
    assert_string_equal(out, "/");
    free(out);
}

static void relative_to_cwd(void **state)
{
    (void)state;
    char old[PATH_MAX], sub[PATH_MAX + 8];
    assert_non_null(getcwd(old, sizeof old));
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    assert_int_equal(chdir(sub), 0);
    char *out = NULL, err[256], want[PATH_MAX + 16];
    assert_int_equal(rune_safepath_resolve("../x.db", &out, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/a/x.db", dir);
    assert_string_equal(out, want);
    free(out);
    assert_int_equal(chdir(old), 0);
}

/* the runner's own links are followed, relative and absolute */
static void own_symlinks(void **state)
{
    (void)state;
    char link[PATH_MAX + 16], target[PATH_MAX + 16];
    snprintf(link, sizeof link, "%s/rel", dir);
    assert_int_equal(symlink("a/b", link), 0);
    snprintf(link, sizeof link, "%s/a/up", dir);
    assert_int_equal(symlink("../a/b/..", link), 0);
    snprintf(link, sizeof link, "%s/abs", dir);
    snprintf(target, sizeof target, "%s/a", dir);
    assert_int_equal(symlink(target, link), 0);
    check("/rel/x.db", "/a/b/x.db");
    check("/a/up/b", "/a/b");
    check("/abs/b/../b/x.db", "/a/b/x.db");
    /* ".." after a link is the link target's parent, as the kernel has it */
    check("/rel/../x.db", "/a/x.db");
    /* what does not exist yet is kept, tidied */
    check("/rel/new/./deeper/../x.db", "/a/b/new/x.db");
    /* back out of what does not exist, and through a link again */
    check("/new/../rel/x.db", "/a/b/x.db");
}

static void symlink_loop(void **state)
{
    (void)state;
    char l1[PATH_MAX + 16], l2[PATH_MAX + 16];
    snprintf(l1, sizeof l1, "%s/loop1", dir);
    snprintf(l2, sizeof l2, "%s/loop2", dir);
    assert_int_equal(symlink(l2, l1), 0);
    assert_int_equal(symlink(l1, l2), 0);
    char *out = NULL, err[1024];
    assert_int_equal(rune_safepath_resolve(l1, &out, err, sizeof err), -1);
    assert_null(out);
    assert_non_null(strstr(err, "more than 40 symbolic links"));
}

/* a directory everyone can write to, without the sticky bit */
static void shared_directory(void **state)
{
    (void)state;
    char open_dir[PATH_MAX + 16], in[PATH_MAX + 32];
    snprintf(open_dir, sizeof open_dir, "%s/open", dir);
    assert_int_equal(mkdir(open_dir, 0700), 0);
    assert_int_equal(chmod(open_dir, 0777), 0);
    snprintf(in, sizeof in, "%s/x.db", open_dir);
    char *out = NULL, err[2048];
    assert_int_equal(rune_safepath_resolve(in, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "world-writable, without the sticky bit"));
    /* nor by a detour through something that does not exist */
    snprintf(in, sizeof in, "%s/nothing/../open/x.db", dir);
    assert_int_equal(rune_safepath_resolve(in, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "world-writable, without the sticky bit"));
    snprintf(in, sizeof in, "%s/x.db", open_dir);
    /* with the sticky bit, a missing entry (one the runner will create) is fine */
    assert_int_equal(chmod(open_dir, 01777), 0);
    assert_int_equal(rune_safepath_resolve(in, &out, err, sizeof err), 0);
    assert_string_equal(out, in);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lexical_shapes),  cmocka_unit_test(above_root),
        cmocka_unit_test(relative_to_cwd), cmocka_unit_test(own_symlinks),
        cmocka_unit_test(symlink_loop),    cmocka_unit_test(shared_directory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
