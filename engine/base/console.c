/*
 * console.c — progress output. In live mode a ticker thread redraws the
 * block of running steps at the bottom of the terminal every 100 ms;
 * finished lines are printed above it and stay. Every write takes the
 * console's mutex, so lines from parallel steps never interleave.
 */
#include "console.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "duration.h"

#define MAX_ACTIVE 64

struct active {
    char id[96];
    char uses[64];
    long long start_ms;
    int attempt, attempts;
};

struct rune_console {
    FILE *out;
    struct rune_redactor *red; /* NULL: nothing to mask */
    bool live, quiet, color;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t ticker;
    bool ticker_on, stopping;
    int held;
    int drawn; /* lines of the live block currently on screen */
    unsigned frame;
    struct active act[MAX_ACTIVE];
    int nact;
};

static const char *col(struct rune_console *c, const char *code)
{
    return c->color ? code : "";
}
#define RED "\033[31m"
#define GREEN "\033[32m"
#define CYAN "\033[36m"
#define YELLOW "\033[33m"
#define DIM "\033[2m"
#define BOLD "\033[1m"
#define RESET "\033[0m"

/* Erase the live block so permanent lines can be printed in its place. */
static void erase(struct rune_console *c)
{
    if (c->live && c->drawn > 0) {
        fprintf(c->out, "\033[%dA\033[J", c->drawn);
        c->drawn = 0;
    }
}

static void draw(struct rune_console *c)
{
    if (!c->live || c->held || c->quiet)
        return;
    static const char *const spin[] = {"|", "/", "-", "\\"};
    long long now = rune_clock_mono_ms();
    erase(c);
    for (int i = 0; i < c->nact; i++) {
        char el[32];
        rune_duration_str(now - c->act[i].start_ms, el, sizeof el);
        char att[32] = "";
        if (c->act[i].attempts > 1)
            snprintf(att, sizeof att, " (attempt %d/%d)", c->act[i].attempt, c->act[i].attempts);
        fprintf(c->out, "  %s%s%s %-24s %s%-18s%s %s%s\n", col(c, YELLOW), spin[c->frame % 4],
                col(c, RESET), c->act[i].id, col(c, DIM), c->act[i].uses, col(c, RESET), el, att);
        c->drawn++;
    }
    fflush(c->out);
}

static void *tick(void *arg)
{
    struct rune_console *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        struct timespec ts = rune_clock_cond_deadline(100);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        c->frame++;
        if (c->nact)
            draw(c);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

struct rune_console *rune_console_new(FILE *out, bool live, bool quiet, bool color)
{
    struct rune_console *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->out = out;
    c->live = live && !quiet;
    c->quiet = quiet;
    c->color = color;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (c->live && pthread_create(&c->ticker, NULL, tick, c) == 0)
        c->ticker_on = true;
    return c;
}

void rune_console_free(struct rune_console *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->ticker_on)
        pthread_join(c->ticker, NULL);
    pthread_mutex_lock(&c->mu);
    erase(c);
    fflush(c->out);
    pthread_mutex_unlock(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void rune_console_set_redactor(struct rune_console *c, struct rune_redactor *red)
{
    pthread_mutex_lock(&c->mu);
    c->red = red;
    pthread_mutex_unlock(&c->mu);
}

/* What may reach the terminal: s masked (malloc'd, NULL for NULL). Called
 * before c->mu is taken: the redactor has its own lock. */
static char *masked(struct rune_console *c, const char *s)
{
    return s ? rune_redact(c->red, s) : NULL;
}

void rune_console_stage(struct rune_console *c, const char *stage, const char *note)
{
    pthread_mutex_lock(&c->mu);
    if (!c->quiet) {
        erase(c);
        fprintf(c->out, "%s== %s ==%s%s%s\n", col(c, BOLD), stage, col(c, RESET), note ? "  " : "",
                note ? note : "");
        draw(c);
        fflush(c->out);
    }
    pthread_mutex_unlock(&c->mu);
}

void rune_console_step_start(struct rune_console *c, const char *id, const char *uses, int attempt,
                             int attempts)
{
    pthread_mutex_lock(&c->mu);
    if (c->nact < MAX_ACTIVE) {
        struct active *a = &c->act[c->nact++];
        snprintf(a->id, sizeof a->id, "%s", id);
        snprintf(a->uses, sizeof a->uses, "%s", uses ? uses : "");
        a->start_ms = rune_clock_mono_ms();
        a->attempt = attempt;
        a->attempts = attempts;
    }
    draw(c);
    pthread_mutex_unlock(&c->mu);
}

static void drop_active(struct rune_console *c, const char *id)
{
    for (int i = 0; i < c->nact; i++) {
        if (!strcmp(c->act[i].id, id)) {
            c->act[i] = c->act[--c->nact];
            return;
        }
    }
}

static void print_tail(struct rune_console *c, const char *tail)
{
    if (!tail || !*tail)
        return;
    /* the last 10 lines, indented */
    const char *p = tail + strlen(tail);
    int lines = 0;
    while (p > tail && lines < 11)
        if (*--p == '\n')
            lines++;
    if (*p == '\n')
        p++;
    fprintf(c->out, "      %slast output:%s\n", col(c, DIM), col(c, RESET));
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        fprintf(c->out, "      | %.*s\n", (int)n, p);
        p += n + (e ? 1 : 0);
    }
}

void rune_console_step_end(struct rune_console *c, const char *id, const char *uses,
                           const char *status, long long ms, int attempt, int attempts,
                           const char *error_text, const char *tail_text)
{
    char *error = masked(c, error_text), *tail = masked(c, tail_text);
    pthread_mutex_lock(&c->mu);
    drop_active(c, id);
    bool simulated = !strcmp(status, "simulated");
    bool ok = !strcmp(status, "ok") || simulated;
    bool skipped = !strcmp(status, "skipped");
    bool final = ok || skipped || attempt >= attempts;
    if (c->quiet && (ok || skipped || !final)) {
        pthread_mutex_unlock(&c->mu);
        free(error);
        free(tail);
        return;
    }
    erase(c);
    const char *tag = simulated                      ? "plan"
                      : ok                           ? " ok "
                      : skipped                      ? "skip"
                      : !strcmp(status, "timeout")   ? "TIME"
                      : !strcmp(status, "declined")  ? "DENY"
                      : !strcmp(status, "cancelled") ? "STOP"
                                                     : "FAIL";
    const char *tc = simulated ? CYAN : ok ? GREEN : skipped ? DIM : RED;
    char el[32] = "";
    if (ms >= 0)
        rune_duration_str(ms, el, sizeof el);
    char att[40] = "";
    if (attempts > 1)
        snprintf(att, sizeof att, "  attempt %d/%d", attempt, attempts);
    fprintf(c->out, "  [%s%s%s] %-24s %s%-18s%s %7s%s\n", col(c, tc), tag, col(c, RESET), id,
            col(c, DIM), uses ? uses : "", col(c, RESET), el, att);
    if (error && *error && !skipped)
        fprintf(c->out, "      %s%s%s\n", col(c, ok ? DIM : RED), error, col(c, RESET));
    if (!ok && !skipped && final)
        print_tail(c, tail);
    draw(c);
    fflush(c->out);
    pthread_mutex_unlock(&c->mu);
    free(error);
    free(tail);
}

void rune_console_step_log(struct rune_console *c, const char *id, const char *text)
{
    char *msg = masked(c, text);
    pthread_mutex_lock(&c->mu);
    if (!c->quiet) {
        erase(c);
        fprintf(c->out, "      %s%s:%s %s\n", col(c, DIM), id, col(c, RESET), msg);
        draw(c);
        fflush(c->out);
    }
    pthread_mutex_unlock(&c->mu);
    free(msg);
}

/* Formatted whole, then masked: never cut before masking. */
static void vline(struct rune_console *c, bool always, const char *fmt, va_list ap)
{
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    char *line = masked(c, text ? text : "(out of memory formatting a line)");
    free(text);
    pthread_mutex_lock(&c->mu);
    if (always || !c->quiet) {
        erase(c);
        fputs(line, c->out);
        fputc('\n', c->out);
        draw(c);
        fflush(c->out);
    }
    pthread_mutex_unlock(&c->mu);
    free(line);
}

void rune_console_info(struct rune_console *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(c, false, fmt, ap);
    va_end(ap);
}

void rune_console_alert(struct rune_console *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(c, true, fmt, ap);
    va_end(ap);
}

void rune_console_hold(struct rune_console *c)
{
    pthread_mutex_lock(&c->mu);
    erase(c);
    fflush(c->out);
    c->held++;
    pthread_mutex_unlock(&c->mu);
}

void rune_console_release(struct rune_console *c)
{
    pthread_mutex_lock(&c->mu);
    c->held--;
    draw(c);
    pthread_mutex_unlock(&c->mu);
}
