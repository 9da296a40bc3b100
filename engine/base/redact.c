/*
 * redact.c — masking secret values in text and JSON.
 *
 * Masking works in two passes over the text: every byte that belongs to a
 * secret (or to a piece of one, see redact.h) is marked, then each run of
 * marked bytes is written as one "***". Marking on the original text means
 * overlapping secrets are masked whole whatever their order, and since no
 * marked run is shorter than RUNE_SECRET_MIN (4) the result is never longer
 * than the input: callers may copy it back into the buffer it came from.
 */
#include "redact.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

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

void rune_redact_no_core(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur != 0) {
        /* the soft limit only: a child may raise it again for itself */
        rl.rlim_cur = 0;
        setrlimit(RLIMIT_CORE, &rl);
    }
    /* also covers a core_pattern that pipes to a helper, which ignores
     * RLIMIT_CORE; execve resets the flag, so children are unaffected */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* A secret as it appears once quoted for a shell (plans and logged
 * commands quote each argument, ' becoming '\''), or NULL when quoting
 * leaves it as it is. malloc'd. */
static char *shell_quoted(const char *secret)
{
    size_t q = 0, n = strlen(secret);
    for (const char *p = secret; *p; p++)
        q += *p == '\'';
    if (!q)
        return NULL;
    char *out = malloc(n + 3 * q + 1), *o = out;
    if (!out)
        abort();
    for (const char *p = secret; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static void add_one(struct rune_redactor *r, const char *secret);

void rune_redactor_add(struct rune_redactor *r, const char *secret)
{
    if (!secret || strlen(secret) < RUNE_SECRET_MIN)
        return;
    add_one(r, secret);
    /* the same secret written the way a logged command quotes it must not
     * slip past the mask (a ' inside breaks every 8-character piece) */
    char *quoted = shell_quoted(secret);
    if (quoted)
        add_one(r, quoted);
    free(quoted);
}

static void add_one(struct rune_redactor *r, const char *secret)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        if (!strcmp(r->v[i], secret)) {
            pthread_mutex_unlock(&r->mu);
            return;
        }
    }
    if (r->n == 0)
        rune_redact_no_core();
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        if (!r->v)
            abort();
    }
    r->v[r->n] = strdup(secret);
    if (!r->v[r->n])
        abort();
    r->n++;
    pthread_mutex_unlock(&r->mu);
}

/* The bytes of one text to be masked; allocated on the first mark. */
struct marks {
    const char *s;
    size_t len;
    bool *on;
};

static bool continuation(char c)
{
    return ((unsigned char)c & 0xC0) == 0x80;
}

/* Marks [from, from + n), widened to whole UTF-8 characters: a piece may
 * stop inside a character where the text and the secret differ, and half
 * a character left beside "***" would make the text invalid UTF-8. */
static void mark(struct marks *m, size_t from, size_t n)
{
    if (!m->on) {
        m->on = calloc(m->len ? m->len : 1, sizeof *m->on);
        if (!m->on)
            abort();
    }
    size_t to = from + n;
    while (from > 0 && continuation(m->s[from]))
        from--;
    while (to < m->len && continuation(m->s[to]))
        to++;
    memset(m->on + from, 1, to - from);
}

static void mark_whole(struct marks *m, const char *sec, size_t sl)
{
    const char *p = m->s, *end = m->s + m->len;
    const char *hit;
    while ((hit = memmem(p, (size_t)(end - p), sec, sl))) {
        mark(m, (size_t)(hit - m->s), sl);
        p = hit + 1; /* overlapping occurrences too */
    }
}

/* Pieces a cut leaves: a run of RUNE_SECRET_PARTIAL or more characters
 * that begins the secret (cut after it) or ends it (cut before it). */
static void mark_pieces(struct marks *m, const char *sec, size_t sl)
{
    const size_t k = RUNE_SECRET_PARTIAL;
    if (sl <= k)
        return; /* the only piece this long is the whole secret */
    const char *end = m->s + m->len;
    const char *hit;
    for (const char *p = m->s; (hit = memmem(p, (size_t)(end - p), sec, k)); p = hit + 1) {
        size_t n = k;
        while (n < sl && hit + n < end && hit[n] == sec[n])
            n++;
        mark(m, (size_t)(hit - m->s), n);
    }
    const char *tail = sec + sl - k;
    for (const char *p = m->s; (hit = memmem(p, (size_t)(end - p), tail, k)); p = hit + 1) {
        /* offsets, not pointers: a pointer before the text is undefined */
        size_t n = k, stop = (size_t)(hit - m->s) + k; /* bytes matched, ending at stop */
        while (n < sl && stop > n && m->s[stop - n - 1] == sec[sl - n - 1])
            n++;
        mark(m, stop - n, n);
    }
}

/* At a known cut, a shorter piece: the text starts with the end of the
 * secret (head cut) or ends with its beginning (tail cut). */
static void mark_edges(struct marks *m, const char *sec, size_t sl, int cuts)
{
    size_t most = sl - 1 < m->len ? sl - 1 : m->len;
    for (size_t n = most; (cuts & RUNE_CUT_HEAD) && n >= RUNE_SECRET_MIN; n--) {
        if (!memcmp(m->s, sec + sl - n, n)) {
            mark(m, 0, n);
            break;
        }
    }
    for (size_t n = most; (cuts & RUNE_CUT_TAIL) && n >= RUNE_SECRET_MIN; n--) {
        if (!memcmp(m->s + m->len - n, sec, n)) {
            mark(m, m->len - n, n);
            break;
        }
    }
}

/* The text with each run of marked bytes written as "***". */
static char *render(const struct marks *m)
{
    char *out = malloc(m->len + 1);
    if (!out)
        abort();
    size_t o = 0;
    for (size_t i = 0; i < m->len;) {
        if (!m->on || !m->on[i]) {
            out[o++] = m->s[i++];
            continue;
        }
        memcpy(out + o, "***", 3);
        o += 3;
        while (i < m->len && m->on[i])
            i++;
    }
    out[o] = '\0';
    return out;
}

char *rune_redact_cut(struct rune_redactor *r, const char *s, int cuts)
{
    struct marks m = {s ? s : "", s ? strlen(s) : 0, NULL};
    if (r) {
        pthread_mutex_lock(&r->mu);
        for (size_t i = 0; i < r->n; i++)
            mark_whole(&m, r->v[i], strlen(r->v[i]));
        for (size_t i = 0; i < r->n; i++) {
            mark_pieces(&m, r->v[i], strlen(r->v[i]));
            if (cuts)
                mark_edges(&m, r->v[i], strlen(r->v[i]), cuts);
        }
        pthread_mutex_unlock(&r->mu);
    }
    char *out = render(&m);
    free(m.on);
    return out;
}

char *rune_redact(struct rune_redactor *r, const char *s)
{
    return rune_redact_cut(r, s, RUNE_CUT_NONE);
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
