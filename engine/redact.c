/*
 * redact.c — masking secret values in text and JSON.
 */
#include "redact.h"

#include <stdlib.h>
#include <string.h>

void rune_redactor_init(struct rune_redactor *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
}

void rune_redactor_free(struct rune_redactor *r)
{
    for (size_t i = 0; i < r->n; i++) {
        /* wipe: the process may dump core */
        memset(r->v[i], 0, strlen(r->v[i]));
        free(r->v[i]);
    }
    free(r->v);
    pthread_mutex_destroy(&r->mu);
}

void rune_redactor_add(struct rune_redactor *r, const char *secret)
{
    if (!secret || strlen(secret) < RUNE_SECRET_MIN)
        return;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        if (!strcmp(r->v[i], secret)) {
            pthread_mutex_unlock(&r->mu);
            return;
        }
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        if (!r->v)
            abort();
    }
    r->v[r->n++] = strdup(secret);
    /* longest first, so a secret containing another is masked whole */
    for (size_t i = r->n - 1; i > 0 && strlen(r->v[i]) > strlen(r->v[i - 1]); i--) {
        char *t = r->v[i];
        r->v[i] = r->v[i - 1];
        r->v[i - 1] = t;
    }
    pthread_mutex_unlock(&r->mu);
}

static char *replace_all(char *s, const char *needle)
{
    size_t nl = strlen(needle);
    char *hit = strstr(s, needle);
    if (!hit)
        return s;
    size_t cap = strlen(s) + 1, len = 0;
    char *out = malloc(cap); /* "***" is never longer than a secret (>= 4) */
    if (!out)
        abort();
    const char *p = s;
    while (hit) {
        memcpy(out + len, p, (size_t)(hit - p));
        len += (size_t)(hit - p);
        memcpy(out + len, "***", 3);
        len += 3;
        p = hit + nl;
        hit = strstr(p, needle);
    }
    strcpy(out + len, p);
    free(s);
    return out;
}

char *rune_redact(struct rune_redactor *r, const char *s)
{
    char *out = strdup(s ? s : "");
    if (!out)
        abort();
    if (!r)
        return out;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        out = replace_all(out, r->v[i]);
    pthread_mutex_unlock(&r->mu);
    return out;
}

json_t *rune_redact_json(struct rune_redactor *r, json_t *v)
{
    if (!v)
        return NULL;
    if (json_is_string(v)) {
        char *m = rune_redact(r, json_string_value(v));
        json_t *o = json_string(m);
        free(m);
        return o ? o : json_string("***");
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(a, rune_redact_json(r, x));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            char *mk = rune_redact(r, k);
            json_object_set_new(o, mk, rune_redact_json(r, x));
            free(mk);
        }
        return o;
    }
    return json_incref(v);
}
