/*
 * clock.c — monotonic and wall clocks. Deadlines use CLOCK_MONOTONIC so a
 * clock step (NTP, an operator fixing the date mid-incident) can neither
 * fire nor postpone a timeout; recorded times use UTC wall time.
 */
#include "clock.h"

#include <stdio.h>
#include <string.h>
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

const char *rune_clock_ms_str(long long ms, char *buf, size_t len)
{
    if (ms < 1000)
        snprintf(buf, len, "%lldms", ms);
    else if (ms % 1000 == 0 || ms >= 60000)
        snprintf(buf, len, "%llds", (ms + 500) / 1000);
    else
        snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
    return buf;
}

void rune_clock_iso(char buf[RUNE_ISO_LEN], long long wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    long long ms = wall_ms % 1000;
    if (ms < 0) { /* before 1970: the second before, plus ms */
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, RUNE_ISO_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, RUNE_ISO_LEN - n, ".%03dZ", (int)ms);
}

struct timespec rune_clock_cond_deadline(long long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int rune_clock_parse_iso(const char *text, long long *wall_ms)
{
    struct tm tm = {0};
    int used = 0;
    if (!text ||
        sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &used) != 6 ||
        used != 19)
        return -1;
    const char *p = text + used;
    long long ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (*p && strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *wall_ms = (long long)timegm(&tm) * 1000 + ms;
    return 0;
}

bool rune_clock_is_day(const char *text)
{
    char full[32];
    long long ms;
    if (strlen(text) != 10)
        return false;
    snprintf(full, sizeof full, "%sT00:00:00Z", text);
    return rune_clock_parse_iso(full, &ms) == 0;
}
