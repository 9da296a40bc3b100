/*
 * lastwords.c — see lastwords.h.
 */
#include "lastwords.h"

#include <stdio.h>

void rune_last_words(const struct rune_proc *p, char *out, size_t len)
{
    const char *s = p->err_len ? p->err : p->tail;
    size_t n = p->err_len ? p->err_len : p->tail_len;
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        n--;
    size_t start = n; /* up to three lines back */
    for (int lines = 0; start > 0; start--)
        if (s[start - 1] == '\n' && ++lines == 3)
            break;
    size_t j = 0;
    for (size_t k = start; k < n && j + 3 < len; k++) {
        if (s[k] == '\n') {
            out[j++] = ';';
            out[j++] = ' ';
        } else {
            out[j++] = s[k];
        }
    }
    out[j] = '\0';
    if (!j)
        snprintf(out, len, "it printed nothing");
}
