/*
 * progress.c — what the engine does with a step's progress besides
 * showing it (the console reads the same meter): sparse samples in the
 * incident log, so that the record says how far and how fast a long step
 * went — one per 5%, one a minute at least, one when its phase changes,
 * and the last one when it returns. Few enough that a day-long restore
 * adds a few hundred events, not millions; the step's threads never wait
 * for them (the stage's thread records, reading the meter's atomics).
 */
#include "progress.h"

#include <math.h>
#include <string.h>

#include "clock.h"
#include "record.h"

#define EVERY_PCT 5.0
#define EVERY_MS 60000
#define PHASE_GAP_MS 1000

bool rune_progress_due(struct rune_sample_state *st, const struct rune_meter_snap *s,
                       long long start_ms, long long now_ms)
{
    if (!s->any)
        return false;
    double pct = rune_meter_percent(s->done, s->total);
    bool due = false;
    if (st->gen != s->gen) {
        /* a new count: its percents start over; the first due is the
         * next 5% above where it starts (a count that starts at 40% is
         * not worth a sample for each 5% below) */
        st->gen = s->gen;
        st->next_pct = pct >= 0 ? floor(pct / EVERY_PCT) * EVERY_PCT + EVERY_PCT : EVERY_PCT;
    }
    if (strcmp(st->phase, s->phase) != 0 && (!st->rec_ms || now_ms - st->rec_ms >= PHASE_GAP_MS))
        due = true;
    if (pct >= 0 && pct >= st->next_pct)
        due = true;
    if (now_ms - (st->rec_ms ? st->rec_ms : start_ms) >= EVERY_MS)
        due = true;
    if (!due)
        return false;
    st->rec_ms = now_ms;
    if (pct >= 0)
        st->next_pct = floor(pct / EVERY_PCT) * EVERY_PCT + EVERY_PCT;
    memcpy(st->phase, s->phase, sizeof st->phase);
    return true;
}

void rune_progress_init(struct rune_progress *p)
{
    memset(p, 0, sizeof *p);
    rune_meter_init(&p->meter);
}

void rune_progress_free(struct rune_progress *p)
{
    rune_meter_destroy(&p->meter);
}

void rune_progress_start(struct rune_run *r, struct rune_progress *p, const char *stage,
                         const char *step, const char *uses, int attempt)
{
    pthread_mutex_lock(&r->mu);
    rune_meter_reset(&p->meter);
    p->stage = stage;
    p->step = step;
    p->uses = uses;
    p->attempt = attempt;
    p->start_ms = rune_clock_mono_ms();
    p->running = true;
    memset(&p->st, 0, sizeof p->st);
    p->st.gen = ~0u; /* whatever the meter's first count is, it is new */
    pthread_mutex_unlock(&r->mu);
}

/* Records what s says as of now_ms (r->mu held). */
static void record(struct rune_run *r, struct rune_progress *p, const struct rune_meter_snap *s,
                   long long now_ms, bool final)
{
    long long since = now_ms - s->first_ms;
    struct rune_progress_sample smp = {
        .uses = p->uses,
        .done = s->done,
        .total = s->total,
        .unit = rune_unit_name(s->unit),
        .phase = s->phase[0] ? s->phase : NULL,
        .elapsed_ms = now_ms - p->start_ms,
        .rate = since > 0 ? (long long)((double)s->done * 1000.0 / (double)since) : -1,
        .final = final,
    };
    rune_record_progress(&r->rec, p->stage, p->step, p->attempt, &smp);
}

void rune_progress_tick(struct rune_run *r, struct rune_progress *p, long long now_ms)
{
    if (!p->running)
        return;
    struct rune_meter_snap s;
    rune_meter_read(&p->meter, &s);
    if (rune_progress_due(&p->st, &s, p->start_ms, now_ms))
        record(r, p, &s, now_ms, false);
}

void rune_progress_finish(struct rune_run *r, struct rune_progress *p)
{
    pthread_mutex_lock(&r->mu);
    if (p->running) {
        struct rune_meter_snap s;
        rune_meter_read(&p->meter, &s);
        if (s.any)
            record(r, p, &s, rune_clock_mono_ms(), true);
        p->running = false;
    }
    pthread_mutex_unlock(&r->mu);
}
