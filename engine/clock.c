/*
 * clock.c — monotonic and wall clocks. Deadlines use CLOCK_MONOTONIC so a
 * clock step (NTP, an operator fixing the date mid-incident) can neither
 * fire nor postpone a timeout; recorded times use UTC wall time.
 */
#include "clock.h"

#include <stdio.h>
#include <time.h>

long long rune_clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long rune_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rune_clock_iso(char buf[RUNE_ISO_LEN], long long wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, RUNE_ISO_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, RUNE_ISO_LEN - n, ".%03dZ", (int)(wall_ms % 1000));
}
