/*
 * suggest.c — closest-match suggestions by Damerau-Levenshtein distance
 * (a swapped pair of letters, the commonest typo, costs one).
 */
#include "suggest.h"

#include <stdio.h>
#include <string.h>

#define MAXW 64

static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXW || lb >= MAXW)
        return (size_t)-1;
    size_t d[MAXW + 1][MAXW + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

const char *rune_suggest(const char *word, const char *const *candidates, size_t n)
{
    size_t limit = strlen(word) / 3;
    if (limit < 2)
        limit = 2;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (size_t i = 0; i < n; i++) {
        size_t dd = distance(word, candidates[i]);
        if (dd < best_d) {
            best_d = dd;
            best = candidates[i];
        }
    }
    if (best)
        return best;
    /* "retries" for "retry": a long shared prefix is as telling as a typo */
    for (size_t i = 0; i < n; i++) {
        size_t p = 0, cl = strlen(candidates[i]);
        while (word[p] && word[p] == candidates[i][p])
            p++;
        if (p >= 4 && 3 * p >= 2 * cl)
            return candidates[i];
    }
    return NULL;
}

const char *rune_suggest_hint(const char *word, const char *const *candidates, size_t n, char *buf,
                              size_t len)
{
    const char *s = rune_suggest(word, candidates, n);
    if (s)
        snprintf(buf, len, " (did you mean \"%s\"?)", s);
    else if (len)
        buf[0] = '\0';
    return buf;
}
