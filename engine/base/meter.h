/*
 * meter.h — how far a running step is, as the step reports it
 * (rune_call_progress) and as people read it.
 *
 * A meter is written by the step's threads and read by the engine's
 * (the console's ticker, the stage thread that records samples): its
 * figures are atomics, so a write is a few stores and never waits; only
 * the phase, which changes rarely, takes a lock. Readers take a snapshot
 * and keep their own rate estimate (struct rune_rate), so nothing the
 * step calls depends on how often, or whether, anyone looks.
 *
 * The words and figures people see (1.0 GiB, 12.3k rows, 85 MiB/s, ETA
 * 1m12s, a bar) are made here once, for the console, `rune log show` and
 * the plan alike.
 */
#ifndef RUNE_METER_H
#define RUNE_METER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "step.h"

#define RUNE_METER_PHASE 48 /* bytes of a phase kept, with its NUL */

struct rune_meter {
    atomic_llong done;
    atomic_llong total; /* < 0: not known */
    atomic_int unit;    /* enum rune_unit */
    atomic_bool any;    /* the step reported progress */
    /* changes whenever the count starts over (a new unit, a reset, done
     * going back): rate estimates restart */
    atomic_uint gen;
    atomic_llong first_ms; /* monotonic ms of the first report of this count */
    pthread_mutex_t mu;    /* phase */
    char phase[RUNE_METER_PHASE];
};

void rune_meter_init(struct rune_meter *m);
void rune_meter_destroy(struct rune_meter *m);
/* No progress yet (a new attempt). */
void rune_meter_reset(struct rune_meter *m);
/* What the step reports (rune_call_progress, _add, _phase). */
void rune_meter_set(struct rune_meter *m, long long done, long long total, enum rune_unit unit);
void rune_meter_add(struct rune_meter *m, long long n);
void rune_meter_phase(struct rune_meter *m, const char *phase);

/* A reader's copy of a meter at one moment. */
struct rune_meter_snap {
    bool any; /* false: nothing reported; the rest is empty */
    long long done, total;
    enum rune_unit unit;
    unsigned gen;
    long long first_ms;
    char phase[RUNE_METER_PHASE]; /* "" when none */
};
void rune_meter_read(struct rune_meter *m, struct rune_meter_snap *s);

/* A reader's throughput estimate: over the last ten seconds or so (a ring
 * of points at least a second apart), else since the first report. Zero
 * it before the first update. */
#define RUNE_RATE_POINTS 10
struct rune_rate {
    unsigned gen;
    bool started;
    int n, head;
    long long t[RUNE_RATE_POINTS], done[RUNE_RATE_POINTS];
};
/* Units per second as of now_ms (monotonic), or a negative number while
 * it cannot tell yet (under a fifth of a second of figures). */
double rune_rate_update(struct rune_rate *r, const struct rune_meter_snap *s, long long now_ms);

/* Names as the incident log and JSON write them: "bytes", "rows",
 * "tables", "pages", "segments", "items". NULL for a value out of range. */
const char *rune_unit_name(enum rune_unit u);
/* The unit called name; -1 when none is. */
int rune_unit_parse(const char *name);

/* An amount for people: "512 B", "4.50 MiB", "460 MiB", "1.00 GiB";
 * "950 rows", "12.3k rows", "1.20M rows", "1 table". Returns buf. */
const char *rune_meter_amount(long long v, enum rune_unit u, char *buf, size_t len);
/* A throughput: "85.2 MiB/s", "98.5k rows/s", "3 tables/s". */
const char *rune_meter_rate_str(double per_s, enum rune_unit u, char *buf, size_t len);
/* Time left, coarse: "45s", "1m12s", "2h05m". */
const char *rune_meter_eta_str(long long ms, char *buf, size_t len);
/* Percent done, 0 to 100 (a total of 0 is done); -1 when the total is
 * not known. */
double rune_meter_percent(long long done, long long total);
/* Milliseconds left at per_s, or -1 when it cannot be said. */
long long rune_meter_eta_ms(long long done, long long total, double per_s);

/* What rune_meter_text shows: the percent (with a total) or the amount
 * done (without one) always, and these when asked. */
#define RUNE_METER_SHOW_PHASE 1u
#define RUNE_METER_SHOW_BAR 2u
#define RUNE_METER_SHOW_AMOUNT 4u /* done / total, with a total */
#define RUNE_METER_SHOW_RATE 8u
#define RUNE_METER_SHOW_ETA 16u
#define RUNE_METER_SHOW_ALL 31u

/* The figures of one snapshot on one line, e.g. with a bar of width 20:
 * "loading [#########...........]  45%  460 MiB / 1.00 GiB  85.2 MiB/s
 * ETA 6s"; without a total: "1.20M rows  98.5k rows/s". show: what to
 * put in (RUNE_METER_SHOW_*), so that a narrow line keeps what matters
 * most. Returns buf. */
const char *rune_meter_text(const struct rune_meter_snap *s, double per_s, unsigned show,
                            int bar_width, char *buf, size_t len);

/* A recorded sample for people: "loading: 45%, 460 MiB of 1.00 GiB at
 * 85.2 MiB/s, 1m12s in", and ", the last" when final. A total, rate or
 * elapsed_ms below 0 (not known) and a NULL phase are left out. */
const char *rune_meter_sample_str(long long done, long long total, enum rune_unit u, long long rate,
                                  long long elapsed_ms, const char *phase, bool final, char *buf,
                                  size_t len);

#endif
