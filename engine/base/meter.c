/*
 * meter.c — a running step's progress: written by the step's threads
 * without waiting, read by the engine's, and put in words for people.
 * What it must not do: take a lock or read the clock on the write path
 * (rune_call_progress is called per 64 KiB or per row batch), except when
 * a count starts over.
 */
#include "meter.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "duration.h"

static const char *const unit_names[RUNE_UNIT_COUNT] = {
    [RUNE_UNIT_BYTES] = "bytes", [RUNE_UNIT_ROWS] = "rows",         [RUNE_UNIT_TABLES] = "tables",
    [RUNE_UNIT_PAGES] = "pages", [RUNE_UNIT_SEGMENTS] = "segments", [RUNE_UNIT_ITEMS] = "items",
};

const char *rune_unit_name(enum rune_unit u)
{
    return (unsigned)u < RUNE_UNIT_COUNT ? unit_names[u] : NULL;
}

int rune_unit_parse(const char *name)
{
    for (int u = 0; name && u < RUNE_UNIT_COUNT; u++)
        if (!strcmp(unit_names[u], name))
            return u;
    return -1;
}

/* ---- The meter ---- */

void rune_meter_init(struct rune_meter *m)
{
    atomic_init(&m->done, 0);
    atomic_init(&m->total, -1);
    atomic_init(&m->unit, RUNE_UNIT_BYTES);
    atomic_init(&m->any, false);
    atomic_init(&m->gen, 0);
    atomic_init(&m->first_ms, 0);
    pthread_mutex_init(&m->mu, NULL);
    m->phase[0] = '\0';
}

void rune_meter_destroy(struct rune_meter *m)
{
    pthread_mutex_destroy(&m->mu);
}

void rune_meter_reset(struct rune_meter *m)
{
    atomic_store(&m->any, false);
    atomic_store(&m->done, 0);
    atomic_store(&m->total, -1);
    atomic_fetch_add(&m->gen, 1);
    rune_meter_phase(m, NULL);
}

/* A new count: rates start over from now. */
static void restart(struct rune_meter *m)
{
    atomic_store(&m->first_ms, rune_clock_mono_ms());
    atomic_fetch_add(&m->gen, 1);
}

void rune_meter_set(struct rune_meter *m, long long done, long long total, enum rune_unit unit)
{
    if ((unsigned)unit >= RUNE_UNIT_COUNT)
        unit = RUNE_UNIT_ITEMS;
    if (done < 0)
        done = 0;
    bool had = atomic_load_explicit(&m->any, memory_order_acquire);
    if (!had || atomic_load_explicit(&m->unit, memory_order_relaxed) != (int)unit ||
        done < atomic_load_explicit(&m->done, memory_order_relaxed)) {
        atomic_store(&m->unit, (int)unit);
        restart(m);
    }
    atomic_store_explicit(&m->total, total < 0 ? -1 : total, memory_order_relaxed);
    atomic_store_explicit(&m->done, done, memory_order_release);
    if (!had)
        atomic_store_explicit(&m->any, true, memory_order_release);
}

void rune_meter_add(struct rune_meter *m, long long n)
{
    atomic_fetch_add_explicit(&m->done, n, memory_order_relaxed);
    if (!atomic_load_explicit(&m->any, memory_order_acquire)) {
        restart(m);
        atomic_store_explicit(&m->any, true, memory_order_release);
    }
}

void rune_meter_phase(struct rune_meter *m, const char *phase)
{
    pthread_mutex_lock(&m->mu);
    snprintf(m->phase, sizeof m->phase, "%s", phase ? phase : "");
    pthread_mutex_unlock(&m->mu);
}

void rune_meter_read(struct rune_meter *m, struct rune_meter_snap *s)
{
    memset(s, 0, sizeof *s);
    if (!atomic_load_explicit(&m->any, memory_order_acquire))
        return;
    /* the figures of one count: read again if it started over meanwhile */
    for (int tries = 0; tries < 4; tries++) {
        unsigned g = atomic_load(&m->gen);
        s->unit = (enum rune_unit)atomic_load(&m->unit);
        s->first_ms = atomic_load(&m->first_ms);
        s->total = atomic_load(&m->total);
        s->done = atomic_load(&m->done);
        s->gen = g;
        if (atomic_load(&m->gen) == g)
            break;
    }
    s->any = true;
    pthread_mutex_lock(&m->mu);
    memcpy(s->phase, m->phase, sizeof s->phase);
    pthread_mutex_unlock(&m->mu);
}

/* ---- Throughput ---- */

double rune_rate_update(struct rune_rate *r, const struct rune_meter_snap *s, long long now_ms)
{
    if (!s->any)
        return -1;
    if (!r->started || r->gen != s->gen || (r->n && s->done < r->done[r->head])) {
        memset(r, 0, sizeof *r);
        r->started = true;
        r->gen = s->gen;
    }
    int last = (r->head + r->n - 1) % RUNE_RATE_POINTS;
    if (r->n == 0 || now_ms - r->t[last] >= 1000) {
        int at = (r->head + r->n) % RUNE_RATE_POINTS;
        if (r->n == RUNE_RATE_POINTS)
            r->head = (r->head + 1) % RUNE_RATE_POINTS;
        else
            r->n++;
        r->t[at] = now_ms;
        r->done[at] = s->done;
    }
    long long span = now_ms - r->t[r->head];
    if (span >= 1000)
        return (double)(s->done - r->done[r->head]) * 1000.0 / (double)span;
    /* under a second of points: the average since the first report */
    span = now_ms - s->first_ms;
    if (span >= 200)
        return (double)s->done * 1000.0 / (double)span;
    return -1;
}

/* ---- Words ---- */

static const char *const singular[RUNE_UNIT_COUNT] = {
    [RUNE_UNIT_BYTES] = "B",    [RUNE_UNIT_ROWS] = "row",         [RUNE_UNIT_TABLES] = "table",
    [RUNE_UNIT_PAGES] = "page", [RUNE_UNIT_SEGMENTS] = "segment", [RUNE_UNIT_ITEMS] = "item",
};

/* x with three significant digits, then suffix. */
static void three(char *buf, size_t len, double x, const char *suffix)
{
    if (x < 10)
        snprintf(buf, len, "%.2f%s", x, suffix);
    else if (x < 100)
        snprintf(buf, len, "%.1f%s", x, suffix);
    else
        snprintf(buf, len, "%.0f%s", x, suffix);
}

/* v (>= 0) in the unit's scale; per: "/s" or "". */
static const char *amount(double v, enum rune_unit u, const char *per, char *buf, size_t len)
{
    char suffix[48];
    if ((unsigned)u >= RUNE_UNIT_COUNT)
        u = RUNE_UNIT_ITEMS;
    if (v < 0)
        v = 0;
    if (u == RUNE_UNIT_BYTES) {
        static const char *const scale[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        if (v < 1024) {
            snprintf(buf, len, "%.0f B%s", v, per);
            return buf;
        }
        int k = 0;
        for (v /= 1024; v >= 1024 && k < 5; k++)
            v /= 1024;
        snprintf(suffix, sizeof suffix, " %s%s", scale[k], per);
        three(buf, len, v, suffix);
        return buf;
    }
    const char *name = v == 1 && !*per ? singular[u] : unit_names[u];
    if (v < 1000) {
        if (v < 10 && *per && v != floor(v))
            snprintf(buf, len, "%.1f %s%s", v, name, per);
        else
            snprintf(buf, len, "%.0f %s%s", v, name, per);
        return buf;
    }
    static const char *const scale[] = {"k", "M", "G", "T", "P", "E"};
    int k = 0;
    for (v /= 1000; v >= 1000 && k < 5; k++)
        v /= 1000;
    snprintf(suffix, sizeof suffix, "%s %s%s", scale[k], name, per);
    three(buf, len, v, suffix);
    return buf;
}

const char *rune_meter_amount(long long v, enum rune_unit u, char *buf, size_t len)
{
    return amount((double)v, u, "", buf, len);
}

const char *rune_meter_rate_str(double per_s, enum rune_unit u, char *buf, size_t len)
{
    return amount(per_s, u, "/s", buf, len);
}

const char *rune_meter_eta_str(long long ms, char *buf, size_t len)
{
    long long s = ms <= 0 ? 0 : (ms + 999) / 1000;
    if (s < 60)
        snprintf(buf, len, "%llds", s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    else
        snprintf(buf, len, "%lldh%02lldm", s / 3600, (s / 60) % 60);
    return buf;
}

double rune_meter_percent(long long done, long long total)
{
    if (total < 0)
        return -1;
    if (total == 0 || done >= total)
        return 100;
    return done <= 0 ? 0 : (double)done * 100.0 / (double)total;
}

long long rune_meter_eta_ms(long long done, long long total, double per_s)
{
    if (total < 0 || per_s <= 0)
        return -1;
    if (done >= total)
        return 0;
    double ms = (double)(total - done) * 1000.0 / per_s;
    return ms > 9.0e15 ? -1 : (long long)ms;
}

/* Appends to buf at *at what fmt says, never past len. */
static void put(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
    if (*at + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *at, len - *at, fmt, ap);
    va_end(ap);
    if (n > 0)
        *at += (size_t)n < len - *at ? (size_t)n : len - *at - 1;
}

const char *rune_meter_text(const struct rune_meter_snap *s, double per_s, unsigned show,
                            int bar_width, char *buf, size_t len)
{
    char a[48], b[48], bar[130];
    size_t at = 0;
    buf[0] = '\0';
    if (!s->any)
        return buf;
    if (s->phase[0] && (show & RUNE_METER_SHOW_PHASE))
        put(buf, len, &at, "%s ", s->phase);
    double pct = rune_meter_percent(s->done, s->total);
    if (pct >= 0) {
        if (bar_width > 0 && (show & RUNE_METER_SHOW_BAR)) {
            int w = bar_width > 128 ? 128 : bar_width;
            int full = (int)(pct * w / 100.0);
            for (int i = 0; i < w; i++)
                bar[i] = i < full ? '#' : '.';
            bar[w] = '\0';
            put(buf, len, &at, "[%s] ", bar);
        }
        put(buf, len, &at, "%3d%%", (int)pct);
        if (show & RUNE_METER_SHOW_AMOUNT) {
            rune_meter_amount(s->done, s->unit, a, sizeof a);
            rune_meter_amount(s->total, s->unit, b, sizeof b);
            put(buf, len, &at, "  %s / %s", a, b);
        }
    } else {
        put(buf, len, &at, "%s", rune_meter_amount(s->done, s->unit, a, sizeof a));
    }
    if (per_s >= 0 && (show & RUNE_METER_SHOW_RATE))
        put(buf, len, &at, "  %s", rune_meter_rate_str(per_s, s->unit, a, sizeof a));
    long long eta = rune_meter_eta_ms(s->done, s->total, per_s);
    if (eta >= 0 && s->done < s->total && (show & RUNE_METER_SHOW_ETA))
        put(buf, len, &at, "  ETA %s", rune_meter_eta_str(eta, a, sizeof a));
    return buf;
}

const char *rune_meter_sample_str(long long done, long long total, enum rune_unit u, long long rate,
                                  long long elapsed_ms, const char *phase, bool final, char *buf,
                                  size_t len)
{
    char a[48], b[48];
    size_t at = 0;
    buf[0] = '\0';
    if (phase)
        put(buf, len, &at, "%s: ", phase);
    rune_meter_amount(done, u, a, sizeof a);
    if (total >= 0)
        put(buf, len, &at, "%d%%, %s of %s", (int)rune_meter_percent(done, total), a,
            rune_meter_amount(total, u, b, sizeof b));
    else
        put(buf, len, &at, "%s", a);
    if (rate >= 0)
        put(buf, len, &at, " at %s", rune_meter_rate_str((double)rate, u, a, sizeof a));
    if (elapsed_ms >= 0)
        put(buf, len, &at, ", %s in", rune_duration_str(elapsed_ms, a, sizeof a));
    if (final)
        put(buf, len, &at, ", the last");
    return buf;
}
