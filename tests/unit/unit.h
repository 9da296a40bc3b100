/*
 * unit.h — small helpers shared by the cmocka unit tests.
 */
#ifndef RUNE_TEST_UNIT_H
#define RUNE_TEST_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#endif
