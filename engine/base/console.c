/*
 * console.c — progress output. In live mode a ticker thread redraws the
 * block of running steps at the bottom of the terminal every 100 ms, one
 * write per frame: the cursor goes back up over the block and every line
 * is rewritten in place and cleared to its end, never wider than the
 * terminal (a wrapped line would scroll). Finished lines are printed
 * above the block and stay. Without a terminal the ticker prints, every
 * interval, a plain line or a JSON object per running step (progress.md
 * in docs describes both). Every write takes the console's mutex, so
 * lines from parallel steps never interleave; a step's figures are read
 * from its meter (meter.h), which its threads write without waiting.
 */
#include "console.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "duration.h"

#define MAX_ACTIVE 64

struct active {
    char id[96];
    char uses[64];
    long long start_ms;
    int attempt, attempts;
    struct rune_meter *meter; /* NULL: the step reports nothing */
    struct rune_rate rate;    /* this console's estimate of its throughput */
    long long line_ms;        /* when its last plain line or JSON object was written */
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
    enum rune_progress_mode progress; /* resolved: never AUTO */
    long long interval_ms;            /* plain lines and JSON objects */
    FILE *json;                       /* --progress json: where objects go */
    char incident[32];
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

/* What may reach the terminal: s masked (malloc'd, NULL for NULL). The
 * redactor has its own lock, taken last by everyone, so this may be
 * called with c->mu held; lines from outside are masked before it is
 * taken, so that a slow mask never holds up the ticker. */
static char *masked(struct rune_console *c, const char *s)
{
    return s ? rune_redact(c->red, s) : NULL;
}

/* ---- The live block ---- */

/* A frame being built: the text, and the columns left on the line. */
struct frame {
    char *buf;
    size_t len, cap;
    int left;
};

static void grow(struct frame *f, size_t n)
{
    if (f->len + n + 1 <= f->cap)
        return;
    size_t cap = f->cap ? f->cap : 4096;
    while (cap < f->len + n + 1)
        cap *= 2;
    char *b = realloc(f->buf, cap);
    if (!b)
        return; /* no memory: this frame is cut short, the next may fit */
    f->buf = b;
    f->cap = cap;
}

/* Bytes that take no columns (escape sequences). */
static void raw(struct frame *f, const char *s)
{
    size_t n = strlen(s);
    grow(f, n);
    if (f->len + n + 1 > f->cap)
        return;
    memcpy(f->buf + f->len, s, n + 1);
    f->len += n;
}

/* Text shown on the line, cut where the columns run out (a UTF-8
 * sequence is kept whole or left out). */
static void text(struct frame *f, const char *s)
{
    grow(f, strlen(s) + 8);
    for (const unsigned char *p = (const unsigned char *)s; *p && f->len + 5 < f->cap;) {
        size_t n = *p < 0x80 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
        if (f->left <= 0)
            return;
        f->left--;
        for (size_t i = 0; i < n && p[i]; i++)
            f->buf[f->len++] = (char)p[i];
        p += n;
    }
    if (f->cap)
        f->buf[f->len] = '\0';
}

static void textf(struct frame *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void textf(struct frame *f, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    text(f, buf);
}

/* The terminal's size; 80x24 when it cannot be asked. */
static void term_size(struct rune_console *c, int *cols, int *rows)
{
    struct winsize ws;
    *cols = 80;
    *rows = 24;
    if (ioctl(fileno(c->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        *cols = ws.ws_col;
        *rows = ws.ws_row > 0 ? ws.ws_row : 24;
    }
}

/* The figures that fit in room columns, what matters most kept: the
 * percent, then the ETA, the throughput, done and total, the bar (10 to
 * 30 columns, as room allows), the phase. "" when not even the percent
 * fits. */
static void fit(const struct rune_meter_snap *s, double rate, int room, char *buf, size_t len)
{
    static const unsigned tries[] = {
        RUNE_METER_SHOW_ALL,
        RUNE_METER_SHOW_ALL & ~RUNE_METER_SHOW_PHASE,
        RUNE_METER_SHOW_AMOUNT | RUNE_METER_SHOW_RATE | RUNE_METER_SHOW_ETA,
        RUNE_METER_SHOW_RATE | RUNE_METER_SHOW_ETA,
        RUNE_METER_SHOW_ETA,
        0,
    };
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        rune_meter_text(s, rate, tries[i], 0, buf, len);
        int left = room - (int)strlen(buf);
        if (left < 0)
            continue;
        if ((tries[i] & RUNE_METER_SHOW_BAR) && left >= 13)
            rune_meter_text(s, rate, tries[i], left - 3 > 30 ? 30 : left - 3, buf, len);
        return;
    }
    buf[0] = '\0';
}

static void line(struct rune_console *c, struct frame *f, struct active *a, long long now, int cols)
{
    static const char *const spin[] = {"|", "/", "-", "\\"};
    char el[32], att[32] = "", figures[256] = "";
    rune_duration_str(now - a->start_ms, el, sizeof el);
    if (a->attempts > 1)
        snprintf(att, sizeof att, " (attempt %d/%d)", a->attempt, a->attempts);
    if (a->meter && c->progress == RUNE_PROGRESS_BAR) {
        struct rune_meter_snap s;
        rune_meter_read(a->meter, &s);
        double rate = rune_rate_update(&a->rate, &s, now);
        /* what the line leaves after "  | id uses elapsed  " */
        int fixed = 4 + 25 + 19 + 7 + (int)strlen(att) + 2;
        fit(&s, rate, cols - 1 - fixed, figures, sizeof figures);
    }
    f->left = cols - 1;
    text(f, "  ");
    raw(f, col(c, YELLOW));
    text(f, spin[c->frame % 4]);
    raw(f, col(c, RESET));
    textf(f, " %-24s ", a->id);
    raw(f, col(c, DIM));
    textf(f, "%-18s", a->uses);
    raw(f, col(c, RESET));
    textf(f, " %7s%s", el, att);
    if (figures[0]) {
        char *shown = masked(c, figures); /* the phase is the step's text */
        text(f, "  ");
        text(f, shown ? shown : "");
        free(shown);
    }
    raw(f, "\033[K\n");
}

/* Redraws the live block in place: one write for the whole frame. */
static void draw(struct rune_console *c)
{
    if (!c->live || c->held || c->quiet)
        return;
    long long now = rune_clock_mono_ms();
    int cols, rows;
    term_size(c, &cols, &rows);
    int shown = c->nact, room = rows > 3 ? rows - 2 : 1;
    bool more = shown > room;
    if (more)
        shown = room - 1;
    struct frame f = {0};
    if (c->drawn > 0) {
        char up[32];
        snprintf(up, sizeof up, "\r\033[%dA", c->drawn);
        raw(&f, up);
    }
    for (int i = 0; i < shown; i++)
        line(c, &f, &c->act[i], now, cols);
    if (more) {
        f.left = cols - 1;
        textf(&f, "  ... and %d more running", c->nact - shown);
        raw(&f, "\033[K\n");
    }
    int lines = shown + (more ? 1 : 0);
    if (lines < c->drawn)
        raw(&f, "\033[J");
    c->drawn = lines;
    fflush(c->out);
    for (size_t at = 0; f.buf && at < f.len;) {
        ssize_t n = write(fileno(c->out), f.buf + at, f.len - at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        at += (size_t)n;
    }
    free(f.buf);
}

/* ---- Lines without a terminal ---- */

/* The figures of a running step as of now, as JSON (new reference). */
static json_t *figures_json(struct rune_console *c, struct active *a, long long now, bool final,
                            const char *status)
{
    struct rune_meter_snap s = {0};
    double rate = -1;
    if (a->meter) {
        rune_meter_read(a->meter, &s);
        rate = rune_rate_update(&a->rate, &s, now);
    }
    if (final && s.any && now > s.first_ms)
        rate = (double)s.done * 1000.0 / (double)(now - s.first_ms);
    double pct = s.any ? rune_meter_percent(s.done, s.total) : -1;
    long long eta = s.any ? rune_meter_eta_ms(s.done, s.total, rate) : -1;
    char *phase = s.phase[0] ? rune_redact(c->red, s.phase) : NULL;
    json_t *o = json_pack(
        "{s:s, s:s?, s:s, s:s, s:i, s:s?, s:o, s:o, s:s?, s:o, s:o, s:o, s:I}", "type", "progress",
        "incident", c->incident[0] ? c->incident : NULL, "step", a->id, "uses", a->uses, "attempt",
        a->attempt, "phase", phase, "done", s.any ? json_integer(s.done) : json_null(), "total",
        s.any && s.total >= 0 ? json_integer(s.total) : json_null(), "unit",
        s.any ? rune_unit_name(s.unit) : NULL, "percent",
        pct >= 0 ? json_real(((long long)(pct * 10)) / 10.0) : json_null(), "rate",
        rate >= 0 ? json_real((long long)(rate * 10) / 10.0) : json_null(), "eta_ms",
        eta >= 0 ? json_integer(eta) : json_null(), "elapsed_ms", (json_int_t)(now - a->start_ms));
    free(phase);
    if (o && final) {
        json_object_set_new(o, "final", json_true());
        json_object_set_new(o, "status", json_string(status));
    }
    return o;
}

static void json_line(struct rune_console *c, struct active *a, long long now, bool final,
                      const char *status)
{
    json_t *o = figures_json(c, a, now, final, status);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text) {
        fprintf(c->json, "%s\n", text);
        fflush(c->json);
    }
    free(text);
    json_decref(o);
}

/* "  [....] restore   pg.restore   1m12s  45%  460 MiB / 1.00 GiB ...". */
static void plain_line(struct rune_console *c, struct active *a, long long now)
{
    char el[32], figures[256] = "running";
    rune_duration_str(now - a->start_ms, el, sizeof el);
    if (a->meter) {
        struct rune_meter_snap s;
        rune_meter_read(a->meter, &s);
        double rate = rune_rate_update(&a->rate, &s, now);
        if (s.any)
            rune_meter_text(&s, rate, RUNE_METER_SHOW_ALL, 0, figures, sizeof figures);
    }
    char *shown = masked(c, figures);
    fprintf(c->out, "  [....] %-24s %-18s %7s  %s\n", a->id, a->uses, el, shown);
    free(shown);
    fflush(c->out);
}

/* Without a terminal: a line (or JSON object) per running step whose
 * interval has passed. */
static void periodic(struct rune_console *c, long long now)
{
    if (c->interval_ms <= 0 || c->held)
        return;
    for (int i = 0; i < c->nact; i++) {
        struct active *a = &c->act[i];
        if (now - a->line_ms < c->interval_ms)
            continue;
        a->line_ms = now;
        if (c->progress == RUNE_PROGRESS_JSON)
            json_line(c, a, now, false, NULL);
        else if (c->progress == RUNE_PROGRESS_PLAIN && !c->quiet)
            plain_line(c, a, now);
    }
}

static void *tick(void *arg)
{
    struct rune_console *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        long long period = c->live ? 100 : c->interval_ms < 250 ? c->interval_ms : 250;
        struct timespec ts = rune_clock_cond_deadline(period);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        c->frame++;
        if (c->live && c->nact)
            draw(c);
        else if (!c->live)
            periodic(c, rune_clock_mono_ms());
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
    c->progress = c->live ? RUNE_PROGRESS_BAR : RUNE_PROGRESS_NONE;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (c->live && pthread_create(&c->ticker, NULL, tick, c) == 0)
        c->ticker_on = true;
    return c;
}

int rune_progress_mode_parse(const char *name)
{
    static const char *const names[] = {
        [RUNE_PROGRESS_AUTO] = "auto",   [RUNE_PROGRESS_NONE] = "none", [RUNE_PROGRESS_BAR] = "bar",
        [RUNE_PROGRESS_PLAIN] = "plain", [RUNE_PROGRESS_JSON] = "json",
    };
    for (int i = 0; name && i < (int)(sizeof names / sizeof names[0]); i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

enum rune_progress_mode rune_progress_mode_resolve(enum rune_progress_mode m, bool tty)
{
    if (m == RUNE_PROGRESS_AUTO)
        return tty ? RUNE_PROGRESS_BAR : RUNE_PROGRESS_PLAIN;
    return m;
}

void rune_console_set_progress(struct rune_console *c, enum rune_progress_mode mode,
                               long long interval_ms, FILE *json, const char *incident)
{
    pthread_mutex_lock(&c->mu);
    c->progress = mode;
    c->interval_ms = interval_ms;
    c->json = json ? json : stderr;
    snprintf(c->incident, sizeof c->incident, "%s", incident ? incident : "");
    bool lines = !c->live && interval_ms > 0 &&
                 (mode == RUNE_PROGRESS_JSON || (mode == RUNE_PROGRESS_PLAIN && !c->quiet));
    if (lines && !c->ticker_on && pthread_create(&c->ticker, NULL, tick, c) == 0)
        c->ticker_on = true;
    pthread_mutex_unlock(&c->mu);
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
                             int attempts, struct rune_meter *meter)
{
    pthread_mutex_lock(&c->mu);
    if (c->nact < MAX_ACTIVE) {
        struct active *a = &c->act[c->nact++];
        *a = (struct active){.attempt = attempt, .attempts = attempts, .meter = meter};
        snprintf(a->id, sizeof a->id, "%s", id);
        snprintf(a->uses, sizeof a->uses, "%s", uses ? uses : "");
        a->start_ms = a->line_ms = rune_clock_mono_ms();
    }
    draw(c);
    pthread_mutex_unlock(&c->mu);
}

/* Takes step id off the running ones; its entry is copied to *gone
 * (false when it was not running). */
static bool drop_active(struct rune_console *c, const char *id, struct active *gone)
{
    for (int i = 0; i < c->nact; i++) {
        if (!strcmp(c->act[i].id, id)) {
            *gone = c->act[i];
            c->act[i] = c->act[--c->nact];
            return true;
        }
    }
    return false;
}

/* What a finished step that reported progress did, for its line:
 * "1.00 GiB at 85.2 MiB/s" (its average since the first report). */
static void summary(struct active *a, long long now, char *buf, size_t len)
{
    struct rune_meter_snap s;
    char amt[48], rate[48];
    buf[0] = '\0';
    if (!a->meter)
        return;
    rune_meter_read(a->meter, &s);
    if (!s.any)
        return;
    rune_meter_amount(s.done, s.unit, amt, sizeof amt);
    if (now - s.first_ms >= 200)
        snprintf(buf, len, "  %s at %s", amt,
                 rune_meter_rate_str((double)s.done * 1000.0 / (double)(now - s.first_ms), s.unit,
                                     rate, sizeof rate));
    else
        snprintf(buf, len, "  %s", amt);
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
    struct active gone;
    bool was_running = drop_active(c, id, &gone);
    long long now = rune_clock_mono_ms();
    if (was_running && c->progress == RUNE_PROGRESS_JSON)
        json_line(c, &gone, now, true, status);
    char done[160] = "";
    if (was_running)
        summary(&gone, now, done, sizeof done);
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
    fprintf(c->out, "  [%s%s%s] %-24s %s%-18s%s %7s%s%s\n", col(c, tc), tag, col(c, RESET), id,
            col(c, DIM), uses ? uses : "", col(c, RESET), el, att, done);
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
