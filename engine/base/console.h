/*
 * console.h — what the operator sees during a run: a header per stage,
 * one line per step with its status and elapsed time. On a terminal the
 * running steps are redrawn live (a spinner and a clock); otherwise plain
 * lines are printed as steps finish, suitable for logs and CI. Thread-safe.
 */
#ifndef RUNE_CONSOLE_H
#define RUNE_CONSOLE_H

#include <stdbool.h>
#include <stdio.h>

#include "redact.h"

struct rune_console;

/* out: where progress goes (stdout). live: redraw running steps (a TTY).
 * quiet: only errors and the final outcome. color: ANSI colours. */
struct rune_console *rune_console_new(FILE *out, bool live, bool quiet, bool color);
void rune_console_free(struct rune_console *c);
/* The run's secrets: from now on every line is masked before it is
 * printed, whoever built it (the last door; red must outlive c). */
void rune_console_set_redactor(struct rune_console *c, struct rune_redactor *red);

void rune_console_stage(struct rune_console *c, const char *stage, const char *note);
void rune_console_step_start(struct rune_console *c, const char *id, const char *uses, int attempt,
                             int attempts);
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
