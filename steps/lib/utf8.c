/*
 * utf8.c — text a child printed, made valid UTF-8 (see utf8.h).
 */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid.
 * NUL counts as invalid: the result must also be a C string. */
static size_t seq_len(const unsigned char *s, size_t n)
{
    if (s[0] && s[0] < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        lo = s[0] == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
        hi = s[0] == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        lo = s[0] == 0xF0 ? 0x90 : 0x80;
        hi = s[0] == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

char *rune_utf8_clean(const char *s, size_t n, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s;
    char *clean = malloc(n * 3 + 1); /* worst case: every byte replaced */
    if (!clean)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        size_t k = seq_len(u + i, n - i);
        if (k) {
            memcpy(clean + j, s + i, k);
            j += k;
            i += k;
        } else {
            clean[j++] = '\xEF'; /* U+FFFD REPLACEMENT CHARACTER */
            clean[j++] = '\xBF';
            clean[j++] = '\xBD';
            i++;
        }
    }
    clean[j] = '\0';
    if (len)
        *len = j;
    return clean;
}
