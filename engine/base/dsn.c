/*
 * dsn.c — finding passwords in connection strings (see dsn.h).
 *
 * Two shapes are recognised anywhere in a text:
 *   - a URI's userinfo, `scheme://user:password@host...`. libpq ends the
 *     userinfo at the first '@' or '/'; a password with an unencoded '/'
 *     makes libpq misparse the URI and echo it whole in its error, so when
 *     no '@' comes before the first '/', the last '@' of the word (before
 *     any '?' or '#') ends it instead, if what comes before it has the
 *     user:password shape;
 *   - a `password=value` pair (libpq's key=value form, a URI query, a
 *     `;`-separated connection string), the value single-quoted with
 *     backslash escapes or running to the next space.
 */
#include "dsn.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum span_kind { USERINFO, URI_PASSWORD, QUOTED, PLAIN };

struct span {
    size_t from, to;
    enum span_kind kind;
};

struct spans {
    struct span *v;
    size_t n, cap;
};

static void add(struct spans *s, size_t from, size_t to, enum span_kind kind)
{
    if (to <= from)
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            abort();
    }
    s->v[s->n++] = (struct span){from, to, kind};
}

static bool ends_word(char c)
{
    return !c || isspace((unsigned char)c) || c == '"' || c == '\'' || c == '<' || c == '>';
}

/* scheme://userinfo@... */
static void find_userinfo(const char *t, struct spans *s)
{
    for (const char *p = strstr(t, "://"); p; p = strstr(p + 3, "://")) {
        const char *a = p + 3, *end = a;
        while (!ends_word(*end))
            end++;
        const char *at = a + strcspn(a, "@/");
        if (at >= end || *at != '@') {
            /* no '@' before the first '/': the last '@' of the word, if no
             * query or fragment comes before it */
            at = NULL;
            for (const char *q = a; q < end && *q != '?' && *q != '#'; q++)
                if (*q == '@')
                    at = q;
            if (at && !memchr(a, ':', (size_t)(at - a)))
                at = NULL; /* no user:password shape: an '@' in a path */
        }
        if (!at)
            continue;
        add(s, (size_t)(a - t), (size_t)(at - t), USERINFO);
        const char *colon = memchr(a, ':', (size_t)(at - a));
        if (colon)
            add(s, (size_t)(colon + 1 - t), (size_t)(at - t), URI_PASSWORD);
    }
}

static bool key_boundary(const char *t, const char *p)
{
    return p == t || strchr(" \t\r\n?&;,(", p[-1]);
}

/* Where a key=value pair's unquoted value ends: libpq's key=value form
 * ends it at white space only ('"', '<' and '>' are part of a password
 * there). A URI query's value ends earlier, at '&' or '#': both readings
 * are registered (rune_dsn_passwords). */
static const char *value_end(const char *v)
{
    const char *e = v;
    while (*e && !isspace((unsigned char)*e))
        e++;
    return e;
}

/* password=value, sslpassword=value (the client key's passphrase),
 * password = 'value' */
static void find_pairs(const char *t, struct spans *s)
{
    static const char *const keys[] = {"password", "sslpassword"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const size_t kl = strlen(keys[k]);
        for (const char *p = t; (p = strcasestr(p, keys[k])); p += kl) {
            if (!key_boundary(t, p))
                continue;
            const char *v = p + kl;
            while (*v == ' ' || *v == '\t')
                v++;
            if (*v != '=')
                continue;
            v++;
            while (*v == ' ' || *v == '\t')
                v++;
            if (*v == '\'') {
                const char *e = v + 1;
                while (*e && *e != '\'')
                    e += (e[0] == '\\' && e[1]) ? 2 : 1;
                add(s, (size_t)(v + 1 - t), (size_t)(e - t), QUOTED);
                continue;
            }
            const char *e = value_end(v);
            add(s, (size_t)(v - t), (size_t)(e - t), PLAIN);
        }
    }
}

static struct spans find_all(const char *t)
{
    struct spans s = {NULL, 0, 0};
    find_userinfo(t, &s);
    find_pairs(t, &s);
    return s;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* %XX decoded (a malformed escape kept as it is). */
static void percent_decode(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = in[i] == '%' && i + 2 < n ? hexval(in[i + 1]) : -1;
        int lo = hi >= 0 ? hexval(in[i + 2]) : -1;
        if (lo >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
            continue;
        }
        out[o++] = in[i];
    }
    out[o] = '\0';
}

/* Backslash escapes of a quoted key=value value removed. */
static void unescape(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\\' && i + 1 < n)
            i++;
        out[o++] = in[i];
    }
    out[o] = '\0';
}

static void report(const char *v, size_t n, void (*found)(void *, const char *), void *ud,
                   char *buf)
{
    memcpy(buf, v, n);
    buf[n] = '\0';
    found(ud, buf);
}

void rune_dsn_passwords(const char *text, void (*found)(void *ud, const char *value), void *ud)
{
    if (!text)
        return;
    struct spans s = find_all(text);
    for (size_t i = 0; i < s.n; i++) {
        const char *v = text + s.v[i].from;
        size_t n = s.v[i].to - s.v[i].from;
        if (s.v[i].kind == USERINFO)
            continue;
        char *buf = malloc(n + 1), *dec = malloc(n + 1);
        if (!buf || !dec)
            abort();
        report(v, n, found, ud, buf);
        if (s.v[i].kind == QUOTED)
            unescape(v, n, dec);
        else
            percent_decode(v, n, dec);
        if (strcmp(dec, buf))
            found(ud, dec);
        /* a value of a URI query or a ;-separated string ends earlier */
        size_t short_n = s.v[i].kind == PLAIN ? strcspn(buf, "&;#") : n;
        if (short_n < n) {
            report(v, short_n, found, ud, buf);
            percent_decode(v, short_n, dec);
            if (strcmp(dec, buf))
                found(ud, dec);
        }
        memset(buf, 0, n);
        memset(dec, 0, n);
        free(buf);
        free(dec);
    }
    free(s.v);
}

char *rune_dsn_scrub(const char *text)
{
    if (!text)
        return NULL;
    size_t len = strlen(text);
    struct spans s = find_all(text);
    bool *on = calloc(len + 1, sizeof *on);
    char *out = malloc(len + 3 * s.n + 1);
    if (!on || !out)
        abort();
    for (size_t i = 0; i < s.n; i++)
        memset(on + s.v[i].from, 1, s.v[i].to - s.v[i].from);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (!on[i]) {
            out[o++] = text[i++];
            continue;
        }
        memcpy(out + o, "***", 3);
        o += 3;
        while (i < len && on[i])
            i++;
    }
    out[o] = '\0';
    free(on);
    free(s.v);
    return out;
}
