/*
 * crash.c — the test-only crash points (see crash.h).
 */
#include "crash.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Calls so far of the point the environment names (only that one counts:
 * a test names one point at a time). */
static atomic_long calls;

void rune_crash_point(const char *name)
{
    const char *want = getenv("RUNE_TEST_CRASH_AT");
    if (!want)
        return;
    size_t n = strlen(name);
    if (strncmp(want, name, n) != 0 || want[n] != ':')
        return;
    long at = strtol(want + n + 1, NULL, 10);
    if (atomic_fetch_add(&calls, 1) + 1 == at)
        kill(getpid(), SIGKILL);
}
