/*
 * pathparam.c — path parameters made absolute (pathparam.h).
 */
#include "pathparam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *rune_path_resolve(const char *base, const char *p)
{
    bool join = p[0] != '/' && base && *base;
    size_t len = (join ? strlen(base) + 1 : 0) + strlen(p) + 2;
    char *s = malloc(len);
    if (!s)
        return NULL;
    snprintf(s, len, "%s%s%s", join ? base : "", join ? "/" : "", p);
    /* compact in place: the write position never passes the read one */
    char *w = s;
    const char *r = s;
    if (*r == '/')
        *w++ = *r++;
    while (*r) {
        const char *slash = strchr(r, '/');
        size_t n = slash ? (size_t)(slash - r) : strlen(r);
        if (n > 0 && !(n == 1 && r[0] == '.')) {
            if (w > s && w[-1] != '/')
                *w++ = '/';
            memmove(w, r, n);
            w += n;
        }
        r += n + (slash ? 1 : 0);
    }
    if (w == s)
        *w++ = '.';
    *w = '\0';
    return s;
}

char *rune_path_param(struct rune_call *c, const char *p)
{
    return p ? rune_path_resolve(rune_call_cwd(c), p) : NULL;
}
