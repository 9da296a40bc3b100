/*
 * walseg.c — WAL positions and segment names. See walseg.h.
 */
#include "walseg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rune_lsn_parse(const char *text, uint64_t *lsn)
{
    if (!text)
        return -1;
    const char *slash = strchr(text, '/');
    if (!slash || slash == text || slash - text > 8 || !slash[1] || strlen(slash + 1) > 8)
        return -1;
    for (const char *p = text; *p; p++)
        if (p != slash &&
            !((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
            return -1;
    uint64_t hi = strtoull(text, NULL, 16), lo = strtoull(slash + 1, NULL, 16);
    *lsn = hi << 32 | lo;
    return 0;
}

void rune_lsn_format(uint64_t lsn, char out[RUNE_LSN_TEXT])
{
    snprintf(out, RUNE_LSN_TEXT, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xffffffffu));
}

long long rune_wal_segsize_parse(const char *text)
{
    if (!text || !*text)
        return -1;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (v <= 0)
        return -1;
    if (!strcmp(end, "kB"))
        v <<= 10;
    else if (!strcmp(end, "MB"))
        v <<= 20;
    else if (!strcmp(end, "GB"))
        v <<= 30;
    else if (*end)
        return -1;
    if (v < (1LL << 20) || v > (1LL << 30) || (v & (v - 1)))
        return -1;
    return v;
}

uint64_t rune_wal_segno(uint64_t lsn, long long segsize)
{
    return lsn / (uint64_t)segsize;
}

uint64_t rune_wal_prev_segno(uint64_t lsn, long long segsize)
{
    return lsn ? (lsn - 1) / (uint64_t)segsize : 0;
}

static uint64_t per_xlogid(long long segsize)
{
    return 0x100000000ULL / (uint64_t)segsize;
}

void rune_wal_name(char out[RUNE_WAL_NAME_LEN + 1], uint32_t tli, uint64_t segno, long long segsize)
{
    uint64_t n = per_xlogid(segsize);
    snprintf(out, RUNE_WAL_NAME_LEN + 1, "%08X%08X%08X", tli, (unsigned)(segno / n),
             (unsigned)(segno % n));
}

int rune_wal_name_parse(const char *name, long long segsize, uint32_t *tli, uint64_t *segno)
{
    if (strlen(name) != RUNE_WAL_NAME_LEN)
        return -1;
    for (int i = 0; i < RUNE_WAL_NAME_LEN; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'A' && name[i] <= 'F')))
            return -1;
    char part[9] = {0};
    memcpy(part, name, 8);
    *tli = (uint32_t)strtoul(part, NULL, 16);
    memcpy(part, name + 8, 8);
    uint64_t hi = strtoull(part, NULL, 16);
    memcpy(part, name + 16, 8);
    uint64_t lo = strtoull(part, NULL, 16);
    if (lo >= per_xlogid(segsize))
        return -1;
    *segno = hi * per_xlogid(segsize) + lo;
    return 0;
}

void rune_wal_history_name(char out[32], uint32_t tli)
{
    snprintf(out, 32, "%08X.history", tli);
}
