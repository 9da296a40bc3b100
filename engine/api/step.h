/*
 * step.h — the one door between the engine and the step families.
 *
 * A step family (steps/<family>.c) includes only this header and its own
 * libraries. It receives resolved parameters as JSON, fills an outputs
 * object, and reaches the engine only through the rune_call_* functions
 * below (logging, notes, approvals, cancellation, child processes).
 * It knows nothing about YAML, Lua, the console or the incident log.
 *
 * Every primitive is one const struct rune_step_type in its family's
 * table; validation, `rune steps` and the docs are generated from it.
 */
#ifndef RUNE_STEP_H
#define RUNE_STEP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "proc.h"

/* Parameter and output value types. RUNE_T_DURATION accepts "250ms", "5s",
 * "1h30m" or a number of seconds and reaches the primitive as integer
 * milliseconds. RUNE_T_PATH is a string, resolved against the run's cwd. */
enum rune_type {
    RUNE_T_ANY = 0,
    RUNE_T_STRING,
    RUNE_T_INT,
    RUNE_T_NUMBER,
    RUNE_T_BOOL,
    RUNE_T_DURATION,
    RUNE_T_PATH,
    RUNE_T_LIST,    /* a sequence of any values */
    RUNE_T_STRLIST, /* a string, or a sequence of strings */
    RUNE_T_MAP,     /* a mapping */
    RUNE_T_TARGET,  /* the name of a target declared under `targets:`; the
                     * param's `kind` says which kind (rune_call_target) */
};

/* What a primitive does to the world; a dry-run runs only PURE and (with
 * --probe) READS primitives and simulates WRITES. */
enum rune_effect {
    RUNE_PURE = 0,
    RUNE_READS,
    RUNE_WRITES,
};

struct rune_param {
    const char *name;
    enum rune_type type;
    bool required;
    const char *def; /* default as YAML-ish text ("0", "5s", "true"); NULL = none */
    const char *doc;
    const char *kind; /* RUNE_T_TARGET only: the target kind wanted ("postgres") */
    /* Parameters that name the same group here are alternatives: exactly
     * one of them must be given (shell.run's argv or script). Checked when
     * the runbook is validated (where values are literal) and again once
     * values are resolved. NULL: not in a group. */
    const char *one_of;
    /* The values a string parameter may take, '|'-separated ("full|quick");
     * NULL: any. rune validate checks literal values against them (with
     * "did you mean"), the engine checks resolved ones, and `rune steps`
     * and the docs list them. */
    const char *choices;
};

struct rune_output {
    const char *name;
    enum rune_type type;
    const char *doc;
};

struct rune_call;

/* What a progress count counts (rune_call_progress) and what a step's
 * size is measured in (a type's size hook). */
enum rune_unit {
    RUNE_UNIT_BYTES = 0,
    RUNE_UNIT_ROWS,
    RUNE_UNIT_TABLES,
    RUNE_UNIT_PAGES,
    RUNE_UNIT_SEGMENTS, /* WAL segments */
    RUNE_UNIT_ITEMS,    /* anything else: files, chunks, objects */
    RUNE_UNIT_COUNT
};

/* Status a primitive's run() returns. */
enum rune_status {
    RUNE_STEP_OK = 0,
    RUNE_STEP_FAILED = 1,    /* set an error with rune_call_fail() */
    RUNE_STEP_TIMEOUT = 2,   /* the deadline passed (rune_call_cancelled said so) */
    RUNE_STEP_DECLINED = 3,  /* an operator approval was refused */
    RUNE_STEP_CANCELLED = 4, /* the run is being aborted */
};

struct rune_step_type {
    const char *name;                  /* "shell.run" */
    const char *summary;               /* one line for `rune steps` */
    const struct rune_param *params;   /* terminated by {NULL} */
    const struct rune_output *outputs; /* terminated by {NULL} */
    enum rune_effect effect;
    /* Do it. Parameters are validated and defaults filled before the call.
     * Return a rune_status; on failure give a reason with rune_call_fail. */
    int (*run)(struct rune_call *c);
    /* Dry-run: describe exactly what run would do with rune_call_plan(),
     * touching nothing. NULL: the engine prints a generic sentence. */
    int (*plan)(struct rune_call *c);
    /* It stops for an operator's approval, as a step's `confirm:` does
     * (flow.confirm): `rune graph` marks it so. */
    bool asks;
    /* The size of the work, from the resolved parameters, without doing
     * it: a file's or database's size, a backup's raw bytes from its
     * manifest. Read-only and cheap (a stat, a manifest, one catalog
     * query). `rune plan` divides it by the throughput measured in earlier
     * real runs of this type on this host to estimate the step's duration;
     * a real run calls it just before run() and records it with the
     * step's end, so that throughput is always measured against the same
     * figure. Sets *unit; returns the size, or -1 when it cannot tell (the
     * plan then falls back to the median duration). NULL: no size. */
    long long (*size)(struct rune_call *c, enum rune_unit *unit);
    /* Running it again with the same parameters, after rune died during
     * it, does no harm (a check, a copy to a fixed name): `rune resume`
     * re-runs such a step without asking. Types that only read or compute
     * are re-run anyway; a runbook's `idempotent:` overrides both. */
    bool idempotent;
};

/* Families: each steps/<family>.c exports one table terminated by {NULL};
 * steps/registry.c lists them, NULL-terminated. */
extern const struct rune_step_type *const rune_native_families[];

/* A kind of target: something steps act on, declared once under
 * `targets:` and named by steps (`with: { target: db }`). Its fields are
 * checked like a step's parameters and may use ${inputs.*} and
 * ${secrets.*}; they are resolved once, before any step runs. */
struct rune_target_kind {
    const char *name;                /* "postgres" */
    const char *summary;             /* one line for `rune steps` */
    const struct rune_param *fields; /* terminated by {NULL} */
    /* Checks beyond each field's type (the `ssh` kind's option whitelist),
     * on literal fields when the runbook is validated (a string with ${...}
     * is skipped) and on resolved ones before the run. false with err, the
     * field at fault in *bad and, for a mapping field, its key in *bad_key
     * (NULL: the field itself). NULL: no such checks. */
    bool (*check)(json_t *fields, char *err, size_t errlen, const char **bad, const char **bad_key);
};

/* Target kinds the step families define (steps/registry.c), NULL-terminated. */
extern const struct rune_target_kind *const rune_native_target_kinds[];

/* ---- What a primitive may ask of its call ---- */

/* Resolved parameters (borrowed; defaults already filled in). */
json_t *rune_call_params(struct rune_call *c);
const char *rune_call_str(struct rune_call *c, const char *name); /* NULL if absent/null */
long long rune_call_int(struct rune_call *c, const char *name);   /* ints and durations (ms) */
double rune_call_num(struct rune_call *c, const char *name);
bool rune_call_bool(struct rune_call *c, const char *name);

/* The resolved target a RUNE_T_TARGET parameter names (borrowed): an
 * object with "name", "kind" and every field (defaults filled, ${...}
 * resolved, values from secrets already registered for masking). NULL when
 * the parameter was not given. The engine checked the name and kind before
 * the call. */
json_t *rune_call_target(struct rune_call *c, const char *param);

/* The object to fill with outputs (borrowed). */
json_t *rune_call_outputs(struct rune_call *c);

/* What a step made, for the incident record. Outputs are for the runbook
 * (${steps.<id>.outputs...}); these say what the record keeps, whatever
 * the outputs are called.
 *
 * rune_call_artifact: a file this call made (a backup, a copy, an
 * encrypted or compressed file) — its path, its SHA-256 (lowercase hex;
 * NULL if not known) and size (bytes < 0: not known). Once the step (or
 * the rune.run call inside one) succeeds for real, the file is listed in
 * the incident log's artifacts and under the report's artifacts, and the
 * step's end event carries it (hash-chained). Declare only what this call
 * made: a checksum of a file that was already there is not an artifact.
 * Call it once per file. 0, or -1 (no path, no memory).
 *
 * rune_call_recovery_point: the moment the data this call backed up or
 * restored is from (ISO-8601 UTC, "2026-11-23T11:16:00.000Z"): the
 * report's RPO is measured to the last restore's, else the newest backup's.
 * Recorded in the step's end event; a second call replaces the first.
 *
 * (Until every family calls these, a step of a type that writes whose
 * outputs are named path/sha256/bytes is still taken as having made that
 * file, and an output named recovery_point as its recovery point.) */
int rune_call_artifact(struct rune_call *c, const char *path, const char *sha256, long long bytes);
void rune_call_recovery_point(struct rune_call *c, const char *iso_time);
const char *rune_call_step_id(struct rune_call *c);
/* Directory relative paths are resolved against (the operator's cwd). */
const char *rune_call_cwd(struct rune_call *c);

/* Fail with a message for a person: what happened and what to do next.
 * Returns RUNE_STEP_FAILED so a primitive can `return rune_call_fail(...)`. */
int rune_call_fail(struct rune_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Progress line for the console and the incident log. */
void rune_call_log(struct rune_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A note recorded as its own event in the incident log. */
void rune_call_note(struct rune_call *c, const char *text);
/* Dry-run only: one sentence saying what run would do. */
void rune_call_plan(struct rune_call *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Ask the operator to approve `what`. Prompts on a TTY; --yes approves;
 * otherwise fails closed. Every decision is recorded. true = approved. */
bool rune_call_confirm(struct rune_call *c, const char *what);

/* How far the call is: `done` of `total` units (total < 0: not known
 * yet). Cheap — a few atomic stores, no lock, no clock — so call it as
 * often as the work allows (every 64 KiB, every batch of rows), from any
 * thread the call uses (a worker pool's too). The engine samples it: the
 * console's bar with percent, throughput and ETA, the plain and JSON
 * progress lines, and sparse samples in the incident log (one per 5% or
 * per minute, and the last). done counts from 0 for the whole call; a
 * new unit (tables after bytes) starts a new count. */
void rune_call_progress(struct rune_call *c, long long done, long long total, enum rune_unit unit);
/* Adds n to done, keeping the total and unit of the last
 * rune_call_progress: for worker threads that each know only their own
 * share (rows copied, chunks written). */
void rune_call_progress_add(struct rune_call *c, long long n);
/* The part of the work the call is in ("loading", "indexes",
 * "verifying"), shown beside the bar and kept with the samples; NULL
 * clears it. Call it when the part changes, not in a loop (it takes a
 * lock). */
void rune_call_progress_phase(struct rune_call *c, const char *phase);

/* Cancellation: true once the attempt's deadline has passed or the run is
 * being aborted. Long-running primitives must check it. */
bool rune_call_cancelled(struct rune_call *c);
/* Why cancelled: RUNE_STEP_TIMEOUT or RUNE_STEP_CANCELLED (OK if not). */
int rune_call_cancel_status(struct rune_call *c);
/* Milliseconds left before the deadline; -1 if there is none. */
long long rune_call_remaining_ms(struct rune_call *c);
/* Sleep up to ms, waking early on cancellation. Returns 0 or the cancel status. */
int rune_call_sleep(struct rune_call *c, long long ms);
/* Register a value that must never be shown or recorded (masked as ***). */
void rune_call_secret(struct rune_call *c, const char *value);
/* Replace every known secret in s; returns a malloc'd string the caller frees. */
char *rune_call_redact(struct rune_call *c, const char *s);
/* The passwords inside a connection string (a URI's user:password@, a
 * password=... pair), found even where libpq cannot parse it, registered
 * as with rune_call_secret. */
void rune_call_secret_dsn(struct rune_call *c, const char *conninfo);
/* rune_call_redact, and any connection string's password and URI userinfo
 * in s replaced by "***" whatever their length (for a library's error
 * text that may quote one). malloc'd. */
char *rune_call_redact_dsn(struct rune_call *c, const char *s);

/* Run a child process under the call's deadline and cancellation; the
 * captured output is redacted and its tail kept for the incident log. A
 * p->deadline_ms (monotonic ms) earlier than the step's is kept: a
 * primitive can give one command less time than the whole step. */
int rune_call_spawn(struct rune_call *c, struct rune_proc *p);

#endif
