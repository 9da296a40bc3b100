/*
 * pgcopy_bin.c — COPY text rows as pg.dump writes them, converted into
 * COPY's binary format for a restore (see pgcopy_bin.h for why, and for
 * what it refuses). Each value is read in exactly the form the dump
 * session prints it (pgsession.c) and written as the type's receive
 * function reads it (PostgreSQL's *_recv): network byte order, dates and
 * timestamps as days and microseconds since 2000-01-01, numerics as
 * base-10000 digits. The server still checks every value it receives
 * (ranges, encodings, JSON syntax, typmods).
 *
 * Of the text format's escapes, those COPY TO writes are decoded as COPY
 * FROM decodes them (copyfromparse.c): \\ \b \f \n \r \t \v; "\N" alone
 * is NULL. Every other escape — octal, \x hex, "\." and a backslash before
 * any other character, a delimiter or the end of a row — and a carriage
 * return are refused: COPY TO never writes them, and COPY FROM gives some
 * of them a meaning of their own (the end of the data, bytes decoded
 * after the conversion from UTF-8).
 *
 * Whatever it accepts, the server's receive functions take as the input
 * functions would have taken the text: a server error in a binary load
 * fails the restore (only the converter's refusals fall back to text).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgcopy_bin.h"

#define BIN_SIGNATURE "PGCOPY\n\377\r\n"
#define NUMERIC_POS 0x0000
#define NUMERIC_NEG 0x4000
#define NUMERIC_NAN 0xC000
#define NUMERIC_PINF 0xD000
#define NUMERIC_NINF 0xF000
#define NUMERIC_DIGITS_MAX 32767 /* its digit count is an int16 */
/* days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch */
#define PG_EPOCH_DAYS 10957LL
/* The longest row converted: its binary form — at most 5 bytes for each
 * byte of text (an empty jsonb field: its length and version for its
 * tab) — stays under 2 GiB, the most one CopyData message holds. A longer
 * row loads as text. */
#define ROW_MAX ((size_t)256 << 20)
#define USECS_PER_DAY 86400000000LL

struct rune_pg_bin {
    enum rune_pg_bin_kind *kinds;
    size_t n;
    char *out; /* converted, not yet taken */
    size_t len, cap;
    char *carry; /* the start of a row the last feed cut */
    size_t clen, ccap;
    unsigned long long rows;
};

static const struct {
    unsigned oid;
    enum rune_pg_bin_kind kind;
} TYPES[] = {
    {16, RUNE_PG_BIN_BOOL},          /* bool */
    {17, RUNE_PG_BIN_BYTEA},         /* bytea */
    {20, RUNE_PG_BIN_INT8},          /* bigint */
    {21, RUNE_PG_BIN_INT2},          /* smallint */
    {23, RUNE_PG_BIN_INT4},          /* integer */
    {25, RUNE_PG_BIN_TEXT},          /* text */
    {114, RUNE_PG_BIN_TEXT},         /* json */
    {1042, RUNE_PG_BIN_TEXT},        /* character(n) */
    {1043, RUNE_PG_BIN_TEXT},        /* character varying(n) */
    {1082, RUNE_PG_BIN_DATE},        /* date */
    {1114, RUNE_PG_BIN_TIMESTAMP},   /* timestamp */
    {1184, RUNE_PG_BIN_TIMESTAMPTZ}, /* timestamp with time zone */
    {1700, RUNE_PG_BIN_NUMERIC},     /* numeric */
    {2950, RUNE_PG_BIN_UUID},        /* uuid */
    {3802, RUNE_PG_BIN_JSONB},       /* jsonb */
};

/* What each kind must look like, for the message of a refused value. */
static const char *const FORM[] = {
    [RUNE_PG_BIN_BOOL] = "t or f",
    [RUNE_PG_BIN_INT2] = "a 16-bit integer",
    [RUNE_PG_BIN_INT4] = "a 32-bit integer",
    [RUNE_PG_BIN_INT8] = "a 64-bit integer",
    [RUNE_PG_BIN_TEXT] = "text whose escapes COPY writes",
    [RUNE_PG_BIN_JSONB] = "text whose escapes COPY writes",
    [RUNE_PG_BIN_BYTEA] = "bytea in hex form (\\\\x...)",
    [RUNE_PG_BIN_DATE] = "a date as YYYY-MM-DD (years 1 to 9999) or infinity",
    [RUNE_PG_BIN_TIMESTAMP] = "a timestamp as YYYY-MM-DD HH:MM:SS[.ffffff] (years 1 to 9999)",
    [RUNE_PG_BIN_TIMESTAMPTZ] =
        "a timestamp as YYYY-MM-DD HH:MM:SS[.ffffff]+00 (UTC, years 1 to 9999)",
    [RUNE_PG_BIN_NUMERIC] = "a number as [-]digits[.digits], NaN or [-]Infinity",
    [RUNE_PG_BIN_UUID] = "a UUID as 8-4-4-4-12 hex digits",
};

enum rune_pg_bin_kind rune_pg_bin_kind(unsigned oid)
{
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (TYPES[i].oid == oid)
            return TYPES[i].kind;
    return RUNE_PG_BIN_NONE;
}

/* ---- the output buffer ---- */

/* Room for `more` bytes after the `len` used of *buf (*cap bytes),
 * doubling its size as needed. */
static int grow(char **buf, size_t *cap, size_t len, size_t more)
{
    if (*cap - len >= more)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c - len < more)
        c *= 2;
    char *p = realloc(*buf, c);
    if (!p)
        return -1;
    *buf = p;
    *cap = c;
    return 0;
}

static int reserve(struct rune_pg_bin *b, size_t more)
{
    return grow(&b->out, &b->cap, b->len, more);
}

/* Callers reserve first. */
static void put(struct rune_pg_bin *b, const void *p, size_t n)
{
    memcpy(b->out + b->len, p, n);
    b->len += n;
}

static void put_u16(struct rune_pg_bin *b, uint16_t v)
{
    unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    put(b, x, 2);
}

static void put_u32(struct rune_pg_bin *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(b, x, 4);
}

static void put_u64(struct rune_pg_bin *b, uint64_t v)
{
    put_u32(b, (uint32_t)(v >> 32));
    put_u32(b, (uint32_t)v);
}

/* ---- values ---- */

static int digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : -1;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* [-]digits within [min, max], nothing else. */
static int integer(const char *s, const char *e, long long min, long long max, long long *v)
{
    bool neg = s < e && *s == '-';
    s += neg;
    if (s == e || e - s > 19)
        return -1;
    unsigned long long u = 0;
    for (; s < e; s++) {
        int d = digit(*s);
        if (d < 0)
            return -1;
        u = u * 10 + (unsigned)d;
    }
    /* 19 digits fit in an unsigned 64-bit value; the limits are checked
     * on it before the sign makes it signed */
    if (neg ? u > (unsigned long long)max + 1 || (long long)(0 - u) < min
            : u > (unsigned long long)max)
        return -1;
    *v = neg ? (long long)(0 - u) : (long long)u;
    return 0;
}

/* An integer of 2, 4 or 8 bytes, as [-]digits within its range. */
static int integral(struct rune_pg_bin *b, const char *s, const char *e, int bytes)
{
    long long max = bytes == 2 ? INT16_MAX : bytes == 4 ? INT32_MAX : INT64_MAX, v;
    if (integer(s, e, -max - 1, max, &v))
        return -1;
    put_u32(b, (uint32_t)bytes);
    for (int i = bytes - 1; i >= 0; i--)
        b->out[b->len++] = (char)((unsigned long long)v >> (8 * i));
    return 0;
}

/* n digits exactly, as a number. */
static int fixed(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        int d = digit(s[i]);
        if (d < 0)
            return -1;
        *v = *v * 10 + d;
    }
    return 0;
}

/* Days from 1970-01-01 of a proleptic Gregorian date (PostgreSQL's
 * calendar; H. Hinnant's days_from_civil). */
static long long civil_days(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD" at s (10 characters): days since 2000-01-01. */
static int date_at(const char *s, long long *days)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    if (fixed(s, 4, &y) || s[4] != '-' || fixed(s + 5, 2, &m) || s[7] != '-' || fixed(s + 8, 2, &d))
        return -1;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
        return -1;
    *days = civil_days(y, m, d) - PG_EPOCH_DAYS;
    return 0;
}

static int date(struct rune_pg_bin *b, const char *s, const char *e)
{
    long long days;
    size_t n = (size_t)(e - s);
    if (n == 8 && !memcmp(s, "infinity", 8))
        days = INT32_MAX;
    else if (n == 9 && !memcmp(s, "-infinity", 9))
        days = INT32_MIN;
    else if (n != 10 || date_at(s, &days) != 0)
        return -1;
    put_u32(b, 4);
    put_u32(b, (uint32_t)(int32_t)days);
    return 0;
}

/* "YYYY-MM-DD HH:MM:SS[.f{1,6}]", then "+00" with a time zone. */
static int timestamp(struct rune_pg_bin *b, const char *s, const char *e, bool tz)
{
    long long t;
    size_t n = (size_t)(e - s);
    if (n == 8 && !memcmp(s, "infinity", 8))
        t = INT64_MAX;
    else if (n == 9 && !memcmp(s, "-infinity", 9))
        t = INT64_MIN;
    else {
        if (tz) {
            if (n < 3 || memcmp(e - 3, "+00", 3))
                return -1;
            e -= 3;
            n -= 3;
        }
        long long days;
        int h, mi, sec;
        if (n < 19 || date_at(s, &days) != 0 || s[10] != ' ' || fixed(s + 11, 2, &h) ||
            s[13] != ':' || fixed(s + 14, 2, &mi) || s[16] != ':' || fixed(s + 17, 2, &sec) ||
            h > 23 || mi > 59 || sec > 59)
            return -1;
        long long us = 0;
        if (n > 19) {
            int k = (int)n - 20, f;
            if (s[19] != '.' || k < 1 || k > 6 || fixed(s + 20, k, &f))
                return -1;
            us = f;
            for (; k < 6; k++)
                us *= 10;
        }
        t = days * USECS_PER_DAY + ((h * 60LL + mi) * 60 + sec) * 1000000 + us;
    }
    put_u32(b, 8);
    put_u64(b, (uint64_t)t);
    return 0;
}

/* [-]digits[.digits], NaN, Infinity, -Infinity: numeric_recv's form
 * (numeric.c): digit count, weight, sign, display scale, then base-10000
 * digits, the first one `weight` groups before the decimal point. */
static int numeric(struct rune_pg_bin *b, const char *s, const char *e)
{
    size_t n = (size_t)(e - s);
    uint16_t sign = NUMERIC_POS;
    if ((n == 3 && !memcmp(s, "NaN", 3)) || (n == 8 && !memcmp(s, "Infinity", 8)) ||
        (n == 9 && !memcmp(s, "-Infinity", 9))) {
        sign = n == 3 ? NUMERIC_NAN : n == 8 ? NUMERIC_PINF : NUMERIC_NINF;
        put_u32(b, 8);
        put_u16(b, 0);
        put_u16(b, 0);
        put_u16(b, sign);
        put_u16(b, 0);
        return 0;
    }
    if (s < e && *s == '-') {
        sign = NUMERIC_NEG;
        s++;
    }
    const char *dot = memchr(s, '.', (size_t)(e - s));
    const char *ie = dot ? dot : e, *fs = dot ? dot + 1 : e;
    if (ie == s || (dot && fs == e))
        return -1;
    for (const char *p = s; p < e; p++)
        if (p != dot && digit(*p) < 0)
            return -1;
    size_t ilen = (size_t)(ie - s), flen = (size_t)(e - fs);
    size_t igroups = (ilen + 3) / 4, fgroups = (flen + 3) / 4;
    if (igroups + fgroups > NUMERIC_DIGITS_MAX || flen > 0x3FFF)
        return -1;
    /* the digits, leading and trailing zero groups left out */
    uint16_t stackd[64], *d = igroups + fgroups <= 64 ? stackd : NULL;
    if (!d && !(d = malloc((igroups + fgroups) * sizeof *d)))
        return -2;
    size_t nd = 0;
    const char *p = s;
    for (size_t g = 0; g < igroups; g++) {
        size_t k = g == 0 ? ilen - (igroups - 1) * 4 : 4;
        int v = 0;
        for (size_t i = 0; i < k; i++)
            v = v * 10 + (*p++ - '0');
        d[nd++] = (uint16_t)v;
    }
    p = fs;
    for (size_t g = 0; g < fgroups; g++) {
        int v = 0;
        for (size_t i = 0; i < 4; i++)
            v = v * 10 + (p < e ? *p++ - '0' : 0);
        d[nd++] = (uint16_t)v;
    }
    long weight = (long)igroups - 1;
    size_t first = 0;
    while (first < nd && d[first] == 0) {
        first++;
        weight--;
    }
    while (nd > first && d[nd - 1] == 0)
        nd--;
    if (nd == first) { /* zero */
        weight = 0;
        sign = NUMERIC_POS;
    }
    size_t count = nd - first;
    int rc = -2;
    if (reserve(b, 12 + count * 2) == 0) {
        put_u32(b, (uint32_t)(8 + count * 2));
        put_u16(b, (uint16_t)count);
        put_u16(b, (uint16_t)(int16_t)weight);
        put_u16(b, sign);
        put_u16(b, (uint16_t)flen);
        for (size_t i = first; i < nd; i++)
            put_u16(b, d[i]);
        rc = 0;
    }
    if (d != stackd)
        free(d);
    return rc;
}

static int uuid(struct rune_pg_bin *b, const char *s, const char *e)
{
    if (e - s != 36)
        return -1;
    unsigned char u[16];
    size_t k = 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -1;
            continue;
        }
        int hi = hex(s[i]), lo = hex(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        u[k++] = (unsigned char)(hi << 4 | lo);
        i++;
    }
    put_u32(b, 16);
    put(b, u, 16);
    return 0;
}

/* "\\x" and hex digits (COPY doubles bytea's backslash). */
static int bytea(struct rune_pg_bin *b, const char *s, const char *e)
{
    size_t n = (size_t)(e - s);
    if (n < 3 || s[0] != '\\' || s[1] != '\\' || s[2] != 'x' || (n - 3) % 2)
        return -1;
    if (reserve(b, 4 + (n - 3) / 2) != 0)
        return -2;
    put_u32(b, (uint32_t)((n - 3) / 2));
    unsigned char *o = (unsigned char *)b->out + b->len;
    for (const char *p = s + 3; p < e; p += 2) {
        int hi = hex(p[0]), lo = hex(p[1]);
        if (hi < 0 || lo < 0)
            return -1;
        *o++ = (unsigned char)(hi << 4 | lo);
    }
    b->len = (size_t)((char *)o - b->out);
    return 0;
}

/* Characters, their escapes decoded as COPY FROM decodes them; a JSONB
 * value is preceded by its format's version byte. */
static int text(struct rune_pg_bin *b, const char *s, const char *e, bool jsonb)
{
    size_t n = (size_t)(e - s);
    if (reserve(b, 5 + n) != 0)
        return -2;
    size_t at = b->len;
    b->len += 4;
    if (jsonb)
        b->out[b->len++] = 1;
    char *o = b->out + b->len;
    while (s < e) {
        const char *bs = memchr(s, '\\', (size_t)(e - s));
        size_t run = (size_t)((bs ? bs : e) - s);
        memcpy(o, s, run);
        o += run;
        s += run;
        if (!bs)
            break;
        if (++s == e) /* a backslash before the delimiter or the row's end */
            return -1;
        char c = *s++;
        switch (c) {
        case '\\':
            break;
        case 'b':
            c = '\b';
            break;
        case 'f':
            c = '\f';
            break;
        case 'n':
            c = '\n';
            break;
        case 'r':
            c = '\r';
            break;
        case 't':
            c = '\t';
            break;
        case 'v':
            c = '\v';
            break;
        default:
            /* octal, \x hex, "\." (the end of the data to COPY FROM,
             * anywhere in a row) and any other escape: COPY TO never
             * writes them, and COPY FROM would decode them after the
             * conversion from UTF-8, where here they would come before */
            return -1;
        }
        *o++ = c;
    }
    size_t len = (size_t)(o - (b->out + at + 4));
    b->len = (size_t)(o - b->out);
    unsigned char *l = (unsigned char *)b->out + at;
    l[0] = (unsigned char)(len >> 24);
    l[1] = (unsigned char)(len >> 16);
    l[2] = (unsigned char)(len >> 8);
    l[3] = (unsigned char)len;
    return 0;
}

/* One field: 0, -1 when not in its kind's form, -2 out of memory. */
static int field(struct rune_pg_bin *b, enum rune_pg_bin_kind kind, const char *s, const char *e)
{
    if (e - s == 2 && s[0] == '\\' && s[1] == 'N') {
        put_u32(b, UINT32_MAX); /* -1: NULL */
        return 0;
    }
    /* a backslash anywhere else than in characters or before bytea's x
     * fails the parsers below: numbers, dates and UUIDs have no escapes */
    switch (kind) {
    case RUNE_PG_BIN_BOOL:
        if (e - s != 1 || (*s != 't' && *s != 'f'))
            return -1;
        put_u32(b, 1);
        b->out[b->len++] = *s == 't';
        return 0;
    case RUNE_PG_BIN_INT2:
        return integral(b, s, e, 2);
    case RUNE_PG_BIN_INT4:
        return integral(b, s, e, 4);
    case RUNE_PG_BIN_INT8:
        return integral(b, s, e, 8);
    case RUNE_PG_BIN_TEXT:
    case RUNE_PG_BIN_JSONB:
        return text(b, s, e, kind == RUNE_PG_BIN_JSONB);
    case RUNE_PG_BIN_BYTEA:
        return bytea(b, s, e);
    case RUNE_PG_BIN_DATE:
        return date(b, s, e);
    case RUNE_PG_BIN_TIMESTAMP:
    case RUNE_PG_BIN_TIMESTAMPTZ:
        return timestamp(b, s, e, kind == RUNE_PG_BIN_TIMESTAMPTZ);
    case RUNE_PG_BIN_NUMERIC:
        return numeric(b, s, e);
    case RUNE_PG_BIN_UUID:
        return uuid(b, s, e);
    case RUNE_PG_BIN_NONE:
        break;
    }
    return -1;
}

/* The fixed-size part of a field, at most: its length and 16 bytes. */
#define FIELD_FIXED 24

static int row(struct rune_pg_bin *b, const char *s, const char *e, char *err, size_t errlen)
{
    unsigned long long r = ++b->rows;
    if (e - s == 2 && s[0] == '\\' && s[1] == '.') {
        snprintf(err, errlen, "row %llu: an end-of-data marker", r);
        return -1;
    }
    if (reserve(b, 2 + b->n * FIELD_FIXED) != 0)
        goto oom;
    size_t start = b->len;
    put_u16(b, (uint16_t)b->n);
    for (size_t i = 0; i < b->n; i++) {
        const char *t = memchr(s, '\t', (size_t)(e - s));
        if ((i + 1 < b->n) != (t != NULL)) {
            snprintf(err, errlen, "row %llu: %s fields than the table's %zu columns", r,
                     t ? "more" : "fewer", b->n);
            b->len = start;
            return -1;
        }
        if (reserve(b, FIELD_FIXED) != 0)
            goto oom;
        int rc = field(b, b->kinds[i], s, t ? t : e);
        if (rc == -2)
            goto oom;
        if (rc != 0) {
            snprintf(err, errlen, "row %llu, column %zu: not %s", r, i + 1, FORM[b->kinds[i]]);
            b->len = start;
            return -1;
        }
        s = t ? t + 1 : e;
    }
    return 0;
oom:
    snprintf(err, errlen, "row %llu: no memory to convert it", r);
    return -1;
}

struct rune_pg_bin *rune_pg_bin_new(const enum rune_pg_bin_kind *kinds, size_t n)
{
    struct rune_pg_bin *b = calloc(1, sizeof *b);
    if (!b || n == 0 || n > INT16_MAX || !(b->kinds = malloc(n * sizeof *kinds)) ||
        reserve(b, 19) != 0) {
        rune_pg_bin_free(b);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (kinds[i] < RUNE_PG_BIN_BOOL || kinds[i] > RUNE_PG_BIN_UUID) {
            rune_pg_bin_free(b);
            return NULL;
        }
    memcpy(b->kinds, kinds, n * sizeof *kinds);
    b->n = n;
    put(b, BIN_SIGNATURE, 11);
    put_u32(b, 0); /* flags: no OIDs */
    put_u32(b, 0); /* no header extension */
    return b;
}

void rune_pg_bin_free(struct rune_pg_bin *b)
{
    if (!b)
        return;
    free(b->kinds);
    free(b->out);
    free(b->carry);
    free(b);
}

/* Every complete row of s..e; returns where the first incomplete one
 * starts (NULL on a refused row). */
static const char *rows(struct rune_pg_bin *b, const char *s, const char *e, char *err,
                        size_t errlen)
{
    const char *nl;
    while (s < e && (nl = memchr(s, '\n', (size_t)(e - s)))) {
        if (row(b, s, nl, err, errlen) != 0)
            return NULL;
        s = nl + 1;
    }
    return s;
}

static int keep(struct rune_pg_bin *b, const char *p, size_t n)
{
    if (n > ROW_MAX - b->clen || grow(&b->carry, &b->ccap, b->clen, n) != 0)
        return -1;
    memcpy(b->carry + b->clen, p, n);
    b->clen += n;
    return 0;
}

/* A carriage return anywhere: the row it is in is refused (COPY FROM
 * takes one for the end of a row, or refuses it). Looked for once a feed,
 * not once a row. */
static int no_return(const struct rune_pg_bin *b, const char *p, size_t n, char *err, size_t errlen)
{
    const char *cr = memchr(p, '\r', n);
    if (!cr)
        return 0;
    unsigned long long r = b->rows + 1;
    for (const char *q = p; (q = memchr(q, '\n', (size_t)(cr - q))); q++)
        r++;
    snprintf(err, errlen, "row %llu: a carriage return", r);
    return -1;
}

int rune_pg_bin_feed(struct rune_pg_bin *b, const char *p, size_t n, char *err, size_t errlen)
{
    const char *e = p + n;
    if (no_return(b, p, n, err, errlen) != 0)
        return -1;
    if (b->clen) { /* finish the row the last feed cut, with this one's start */
        const char *nl = memchr(p, '\n', n);
        if (!nl) {
            if (keep(b, p, n) != 0)
                goto oom;
            return 0;
        }
        if (keep(b, p, (size_t)(nl - p)) != 0)
            goto oom;
        if (row(b, b->carry, b->carry + b->clen, err, errlen) != 0)
            return -1;
        b->clen = 0;
        p = nl + 1;
    }
    const char *rest = rows(b, p, e, err, errlen);
    if (!rest)
        return -1;
    if (rest < e && keep(b, rest, (size_t)(e - rest)) != 0)
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "row %llu: longer than %zu MiB, or no memory to convert it", b->rows + 1,
             ROW_MAX >> 20);
    return -1;
}

int rune_pg_bin_finish(struct rune_pg_bin *b, char *err, size_t errlen)
{
    if (b->clen) {
        snprintf(err, errlen, "row %llu does not end with a newline", b->rows + 1);
        return -1;
    }
    if (reserve(b, 2) != 0) {
        snprintf(err, errlen, "no memory to end the rows");
        return -1;
    }
    put_u16(b, UINT16_MAX); /* -1: no more rows */
    return 0;
}

const char *rune_pg_bin_output(const struct rune_pg_bin *b, size_t *n)
{
    *n = b->len;
    return b->out;
}

void rune_pg_bin_taken(struct rune_pg_bin *b)
{
    b->len = 0;
}

/* ---- which tables ---- */

/* The next column name of a COPY statement's list at *p, as written
 * (quote_ident's form), into name; *p moves past it. */
static int column(const char **p, char *name, size_t len)
{
    const char *s = *p, *q = s;
    if (*q == '"') {
        for (q++; *q && !(*q == '"' && q[1] != '"'); q += *q == '"' ? 2 : 1)
            ;
        if (*q != '"')
            return -1;
        q++;
    } else
        while (*q && *q != ',' && *q != ')')
            q++;
    if (q == s || (size_t)(q - s) >= len)
        return -1;
    memcpy(name, s, (size_t)(q - s));
    name[q - s] = '\0';
    *p = q;
    return 0;
}

struct rune_pg_bin *rune_pg_bin_for(PGconn *conn, const char *qualified, const char *copy,
                                    char *why, size_t whylen)
{
    size_t ql = strlen(qualified);
    const char *p = copy;
    if (strncmp(p, "COPY ", 5) || strncmp(p + 5, qualified, ql) || strncmp(p + 5 + ql, " (", 2)) {
        snprintf(why, whylen, "its COPY statement is not COPY %s (columns) FROM stdin", qualified);
        return NULL;
    }
    p += 5 + ql + 2;
    const char *params[1] = {qualified};
    PGresult *res = PQexecParams(conn,
                                 "SELECT quote_ident(attname), atttypid::int FROM pg_attribute "
                                 "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT "
                                 "attisdropped",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(why, whylen, "its columns' types could not be read: %s",
                 PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    enum rune_pg_bin_kind kinds[1600]; /* PostgreSQL's most columns a table can have */
    size_t n = 0;
    char name[256];
    struct rune_pg_bin *b = NULL;
    for (;;) {
        if (n == sizeof kinds / sizeof kinds[0] || column(&p, name, sizeof name) != 0) {
            snprintf(why, whylen, "its COPY statement's column list was not read");
            goto out;
        }
        int row = -1;
        for (int i = 0; i < PQntuples(res) && row < 0; i++)
            if (!strcmp(PQgetvalue(res, i, 0), name))
                row = i;
        if (row < 0) {
            snprintf(why, whylen, "column %s of its COPY statement is not in the table", name);
            goto out;
        }
        unsigned oid = (unsigned)strtoul(PQgetvalue(res, row, 1), NULL, 10);
        if ((kinds[n++] = rune_pg_bin_kind(oid)) == RUNE_PG_BIN_NONE) {
            snprintf(why, whylen, "column %s is of a type (oid %u) loaded as text", name, oid);
            goto out;
        }
        if (*p == ')')
            break;
        if (strncmp(p, ", ", 2)) {
            snprintf(why, whylen, "its COPY statement's column list was not read");
            goto out;
        }
        p += 2;
    }
    if (strcmp(p, ") FROM stdin;") && strcmp(p, ") FROM stdin")) {
        snprintf(why, whylen, "its COPY statement is not COPY %s (columns) FROM stdin", qualified);
        goto out;
    }
    if (!(b = rune_pg_bin_new(kinds, n)))
        snprintf(why, whylen, "no memory for its converter");
out:
    PQclear(res);
    return b;
}
