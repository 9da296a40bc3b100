/*
 * fuzz_pgcopy_bin.c — the converter of a restore's COPY text rows into
 * COPY's binary format (steps/pg/pgcopy_bin.c) under a fuzzer. A backup is
 * checked against its manifest before it is read, but whoever can write
 * both writes what the converter reads: whatever the bytes, it must not
 * crash, leak or read out of bounds; bytes cut anywhere between two feeds
 * convert to the same result; and what it accepts is well-formed binary
 * COPY (the header, rows of exactly its column count with field lengths
 * that fit, the trailer).
 *
 * The input: its first byte gives the column count (1 to 8), the next ones
 * the columns' kinds, the next where to cut, the rest is the text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgcopy_bin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KINDS (RUNE_PG_BIN_UUID + 1)

/* The result of converting text in two feeds cut at `cut`: 0 and the
 * output (malloc'd), or -1. */
static int convert(const enum rune_pg_bin_kind *kinds, size_t n, const char *text, size_t len,
                   size_t cut, char **out, size_t *outlen)
{
    struct rune_pg_bin *b = rune_pg_bin_new(kinds, n);
    if (!b)
        abort();
    char err[256];
    int rc = rune_pg_bin_feed(b, text, cut, err, sizeof err) != 0 ||
                     rune_pg_bin_feed(b, text + cut, len - cut, err, sizeof err) != 0 ||
                     rune_pg_bin_finish(b, err, sizeof err) != 0
                 ? -1
                 : 0;
    *out = NULL;
    *outlen = 0;
    if (rc == 0) {
        const char *o = rune_pg_bin_output(b, outlen);
        *out = malloc(*outlen ? *outlen : 1);
        memcpy(*out, o, *outlen);
    } else if (!strstr(err, "row ")) {
        abort(); /* every refusal names its row */
    }
    rune_pg_bin_free(b);
    return rc;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What was accepted is well-formed binary COPY of n columns. */
static void check(const char *out, size_t len, size_t n)
{
    const unsigned char *p = (const unsigned char *)out, *e = p + len;
    if (len < 21 || memcmp(p, "PGCOPY\n\377\r\n\0", 11) || be32(p + 11) || be32(p + 15))
        abort();
    p += 19;
    for (;;) {
        if (e - p < 2)
            abort();
        unsigned cols = (unsigned)p[0] << 8 | p[1];
        p += 2;
        if (cols == 0xffff)
            break;
        if (cols != n)
            abort();
        for (size_t i = 0; i < n; i++) {
            if (e - p < 4)
                abort();
            uint32_t fl = be32(p);
            p += 4;
            if (fl == UINT32_MAX)
                continue;
            if ((size_t)(e - p) < fl)
                abort();
            p += fl;
        }
    }
    if (p != e)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t n = (size_t)(data[0] % 8) + 1;
    if (size < n + 2)
        return 0;
    enum rune_pg_bin_kind kinds[8];
    for (size_t i = 0; i < n; i++)
        kinds[i] = (enum rune_pg_bin_kind)(data[1 + i] % KINDS);
    const char *text = (const char *)data + n + 2;
    size_t len = size - n - 2;
    size_t cut = len ? data[n + 1] % (len + 1) : 0;
    char *whole, *split;
    size_t wl, sl;
    int a = convert(kinds, n, text, len, len, &whole, &wl);
    int b = convert(kinds, n, text, len, cut, &split, &sl);
    if (a != b || wl != sl || (wl && memcmp(whole, split, wl)))
        abort();
    if (a == 0)
        check(whole, wl, n);
    free(whole);
    free(split);
    return 0;
}
