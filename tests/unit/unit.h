/*
 * unit.h — small helpers shared by the cmocka unit tests.
 */
#ifndef RUNE_TEST_UNIT_H
#define RUNE_TEST_UNIT_H

/* cmocka.h needs stdarg, stddef, setjmp and stdint first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* clang-format on */

/* Writes text into a fresh temp file; returns its malloc'd path. */
static inline char *unit_write_temp(const char *text)
{
    char tmpl[] = "/tmp/rune-unit-XXXXXX.yaml";
    int fd = mkstemps(tmpl, 5);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return strdup(tmpl);
}

/* Makes a fresh private directory $TMPDIR/rune-NAME-XXXXXX (or under
 * /tmp) into out. */
static inline void unit_temp_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/rune-%s-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
    assert_non_null(mkdtemp(out));
}

/* Removes such a directory and everything in it. */
static inline void unit_remove_dir(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

#endif
