/*
 * test_journal_shared.c — how the journal front tells a shared log
 * (PostgreSQL URL) from a file, what it shows of the URL, and where the
 * local log of an offline run is (docs/teams.md).
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "journal.h"

static void test_is_shared(void **state)
{
    (void)state;
    assert_true(rune_journal_is_shared("postgresql://db1/runelog"));
    assert_true(rune_journal_is_shared("postgres://u:pw@db1:5433/runelog?sslmode=require"));
    assert_false(rune_journal_is_shared("/var/lib/rune/incidents.db"));
    assert_false(rune_journal_is_shared("incidents.db"));
    /* a libpq keyword=value string is a file name here (docs/teams.md) */
    assert_false(rune_journal_is_shared("host=db1 dbname=runelog"));
    assert_false(rune_journal_is_shared("postgresql:/not-a-url"));
    assert_false(rune_journal_is_shared("./postgresql://x"));
    assert_false(rune_journal_is_shared(""));
    assert_false(rune_journal_is_shared(NULL));
}

static void test_shown_masks_password(void **state)
{
    (void)state;
    char *s = rune_journal_shown("postgresql://logger:S3cret-pw@db1:5432/runelog");
    assert_non_null(s);
    assert_null(strstr(s, "S3cret-pw"));
    assert_non_null(strstr(s, "db1:5432/runelog"));
    free(s);
    s = rune_journal_shown("postgresql://db1/runelog?password=S3cret-pw");
    assert_non_null(s);
    assert_null(strstr(s, "S3cret-pw"));
    free(s);
    s = rune_journal_shown("/var/lib/rune/incidents.db");
    assert_string_equal(s, "/var/lib/rune/incidents.db");
    free(s);
}

static void env(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static void test_local_path_ignores_shared(void **state)
{
    (void)state;
    const char *names[] = {"RUNE_LOG", "RUNE_HOME", "XDG_STATE_HOME", "HOME"};
    char *saved[4];
    char buf[4096];
    for (int i = 0; i < 4; i++) {
        const char *v = getenv(names[i]);
        saved[i] = v ? strdup(v) : NULL;
    }
    env("RUNE_LOG", "postgresql://db1/runelog");
    env("RUNE_HOME", "/rune/home");
    env("XDG_STATE_HOME", NULL);
    env("HOME", "/home/op");
    assert_string_equal(rune_journal_default_path(NULL, buf, sizeof buf),
                        "postgresql://db1/runelog");
    /* an offline run records where the log would be without RUNE_LOG */
    assert_string_equal(rune_journal_local_path(buf, sizeof buf), "/rune/home/incidents.db");
    env("RUNE_HOME", NULL);
    assert_string_equal(rune_journal_local_path(buf, sizeof buf),
                        "/home/op/.local/state/rune/incidents.db");
    for (int i = 0; i < 4; i++) {
        env(names[i], saved[i]);
        free(saved[i]);
    }
}

static void test_unreachable_names_url_without_password(void **state)
{
    (void)state;
    struct rune_journal *j = NULL;
    char err[1024];
    /* port 1 on loopback: nothing listens there */
    int rc =
        rune_journal_open("postgresql://logger:S3cret-pw@127.0.0.1:1/runelog", &j, err, sizeof err);
    assert_int_equal(rc, RUNE_JOURNAL_UNREACHABLE);
    assert_null(j);
    assert_non_null(strstr(err, "cannot reach the shared incident log postgresql://"));
    assert_non_null(strstr(err, "127.0.0.1:1/runelog"));
    assert_non_null(strstr(err, "--offline"));
    assert_null(strstr(err, "S3cret-pw"));
    assert_null(strchr(err, '\n'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_shared),
        cmocka_unit_test(test_shown_masks_password),
        cmocka_unit_test(test_local_path_ignores_shared),
        cmocka_unit_test(test_unreachable_names_url_without_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
