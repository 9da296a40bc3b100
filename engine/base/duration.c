/*
 * duration.c — parsing and printing durations.
 */
#include "duration.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long long unit_ms(const char *u, size_t len)
{
    static const struct {
        const char *name;
        long long ms;
    } units[] = {{"ms", 1},      {"s", 1000},    {"sec", 1000},  {"m", 60000},
                 {"min", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen(units[i].name) == len && strncmp(units[i].name, u, len) == 0)
            return units[i].ms;
    return -1;
}

int rune_duration_parse(const char *text, long long *ms)
{
    if (!text || !*text)
        return -1;
    const char *p = text;
    long long total = 0;
    int parts = 0;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || v < 0 || *p == '+' || *p == '-')
            return -1;
        p = end;
        const char *u = p;
        while ((*p >= 'a' && *p <= 'z'))
            p++;
        long long mult;
        if (p == u) {
            /* a bare number means seconds, only as the whole text */
            if (parts || *p)
                return -1;
            mult = 1000;
        } else if ((mult = unit_ms(u, (size_t)(p - u))) < 0) {
            return -1;
        }
        double add = v * (double)mult;
        if (add > 9.0e15)
            return -1;
        total += (long long)(add + 0.5);
        parts++;
    }
    *ms = total;
    return 0;
}

const char *rune_duration_str(long long ms, char *buf, size_t len)
{
    if (ms < 0)
        snprintf(buf, len, "-");
    else if (ms < 1000)
        snprintf(buf, len, "%lldms", ms);
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
    else if (ms < 3600000)
        snprintf(buf, len, "%lldm%02llds", ms / 60000, (ms / 1000) % 60);
    else
        snprintf(buf, len, "%lldh%02lldm", ms / 3600000, (ms / 60000) % 60);
    return buf;
}
