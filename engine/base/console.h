/*
 * console.h — what the operator sees during a run: a header per stage,
 * one line per step with its status and elapsed time. On a terminal the
 * running steps are redrawn live (a spinner and a clock, and for a step
 * that reports progress a bar with percent, done and total, throughput
 * and ETA); otherwise plain lines are printed as steps finish, and every
 * few seconds a line per running step with the same figures, suitable
 * for logs and CI. --progress json writes those figures as JSON objects
 * on stderr for wrappers instead. Thread-safe.
 */
#ifndef RUNE_CONSOLE_H
#define RUNE_CONSOLE_H

#include <stdbool.h>
#include <stdio.h>

#include "meter.h"
#include "redact.h"

struct rune_console;

/* out: where progress goes (stdout). live: redraw running steps (a TTY).
 * quiet: only errors and the final outcome. color: ANSI colours. */
struct rune_console *rune_console_new(FILE *out, bool live, bool quiet, bool color);
void rune_console_free(struct rune_console *c);
/* The run's secrets: from now on every line is masked before it is
 * printed, whoever built it (the last door; red must outlive c). */
void rune_console_set_redactor(struct rune_console *c, struct rune_redactor *red);

/* How running steps' progress is shown (rune run --progress). */
enum rune_progress_mode {
    RUNE_PROGRESS_AUTO = 0, /* bar on a terminal, plain otherwise */
    RUNE_PROGRESS_NONE,     /* no figures, no periodic lines (the spinner stays on a terminal) */
    RUNE_PROGRESS_BAR,      /* the live block with bars, whatever stdout is */
    RUNE_PROGRESS_PLAIN,    /* a plain line per running step every interval */
    RUNE_PROGRESS_JSON,     /* a JSON object per running step every interval, on stderr */
};
#define RUNE_PROGRESS_INTERVAL_MS 10000     /* plain lines */
#define RUNE_PROGRESS_JSON_INTERVAL_MS 1000 /* JSON objects */
/* "auto", "none", "bar", "plain", "json" → the mode; -1 for anything else. */
int rune_progress_mode_parse(const char *name);
/* What --progress MODE resolves to for an output that is (or is not) a
 * terminal: never AUTO. */
enum rune_progress_mode rune_progress_mode_resolve(enum rune_progress_mode m, bool tty);

/* Before any step starts: how progress is shown (mode resolved, never
 * AUTO), how often a plain line or JSON object is written per running
 * step (interval_ms > 0), where JSON goes (json: stderr; borrowed), and
 * the incident id the JSON objects carry (copied). */
void rune_console_set_progress(struct rune_console *c, enum rune_progress_mode mode,
                               long long interval_ms, FILE *json, const char *incident);

void rune_console_stage(struct rune_console *c, const char *stage, const char *note);
/* A step attempt starts. meter: what it reports (borrowed until its
 * rune_console_step_end; NULL: nothing). */
void rune_console_step_start(struct rune_console *c, const char *id, const char *uses, int attempt,
                             int attempts, struct rune_meter *meter);
/* status: "ok", "failed", "timeout", "declined", "cancelled", "skipped". */
void rune_console_step_end(struct rune_console *c, const char *id, const char *uses,
                           const char *status, long long ms, int attempt, int attempts,
                           const char *error, const char *tail);
void rune_console_step_log(struct rune_console *c, const char *id, const char *msg);
/* A line of ordinary information (hidden by --quiet). */
void rune_console_info(struct rune_console *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Always shown. */
void rune_console_alert(struct rune_console *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Stop the live redraw and hold the console while the operator answers a
 * prompt (on stderr/stdin); resume afterwards. */
void rune_console_hold(struct rune_console *c);
void rune_console_release(struct rune_console *c);

#endif
