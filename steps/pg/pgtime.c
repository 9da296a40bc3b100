/*
 * pgtime.c — target and commit times. See pgtime.h.
 */
#include "pgtime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        *v = *v * 10 + (**p - '0');
    }
    return 0;
}

static int zone(const char *p, long long *offset_s)
{
    while (*p == ' ')
        p++;
    *offset_s = 0;
    if (!*p || !strcmp(p, "Z") || !strcmp(p, "UTC") || !strcmp(p, "GMT"))
        return 0;
    if (*p != '+' && *p != '-')
        return -1;
    int sign = *p++ == '-' ? -1 : 1, h, m = 0;
    if (digits(&p, 2, &h) != 0)
        return -1;
    if (*p == ':')
        p++;
    if (*p && digits(&p, 2, &m) != 0)
        return -1;
    if (*p || h > 23 || m > 59)
        return -1;
    *offset_s = sign * (h * 3600LL + m * 60LL);
    return 0;
}

int rune_pgtime_parse(const char *text, long long *us)
{
    if (!text)
        return -1;
    const char *p = text;
    int y, mo, d, h, mi, s = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
        return -1;
    long long frac = 0;
    if (*p == ':') {
        p++;
        if (digits(&p, 2, &s))
            return -1;
        if (*p == '.') {
            p++;
            int n = 0;
            while (isdigit((unsigned char)*p)) {
                if (n < 6) {
                    frac = frac * 10 + (*p - '0');
                    n++;
                }
                p++;
            }
            if (!n)
                return -1;
            for (; n < 6; n++)
                frac *= 10;
        }
    }
    long long off;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || zone(p, &off))
        return -1;
    long long secs =
        days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400LL + h * 3600LL + mi * 60LL + s - off;
    *us = secs * 1000000LL + frac;
    return 0;
}

void rune_pgtime_format(long long us, char *out, size_t len)
{
    time_t t = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
    long long frac = us - (long long)t * 1000000LL;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%06lldZ", base, frac);
}
