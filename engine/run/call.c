/*
 * call.c — the engine's side of engine/api/step.h: one attempt of one step.
 *
 * A rune_call lives for one attempt. Everything a primitive says on its
 * way out (errors, log lines, captured output) is redacted here, so no
 * step family has to remember to mask secrets.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dsn.h"
#include "duration.h"
#include "interp.h"
#include "lua.h"
#include "meter.h"
#include "params.h"
#include "plan.h"
#include "procinfo.h"
#include "record.h"
#include "record_read.h"
#include "registry.h"
#include "runstate.h"
#include "ssh_exec.h"
#include "step.h"
#include "targets.h"

struct rune_call {
    struct rune_run *run;
    struct rune_attempt *a;
    const struct rune_step_type *type;
    json_t *params;
    json_t *outputs;
    char *error;
    char *tail;
    int depth;  /* 0 for a step, 1+ for rune.run calls inside it */
    int calls;  /* rune.run calls made so far (numbers the sub-events) */
    char *plan; /* dry-run: the sentences rune_call_plan gave */
    /* declared by the primitive: the files it made ([{path, sha256,
     * bytes}]) and the recovery point of its data (rune_call_artifact,
     * rune_call_recovery_point); NULL until it declares one */
    json_t *artifacts;
    char *recovery_point;
    /* the child rune_call_spawn is running, as recorded */
    pid_t child_pid;
    char child_start[RUNE_START_LEN];
    const char *child_program;
};

/* What a call declared and nobody took over (a plan, a probe). */
static void drop_declared(struct rune_call *c)
{
    json_decref(c->artifacts);
    free(c->recovery_point);
    c->artifacts = NULL;
    c->recovery_point = NULL;
}

json_t *rune_call_params(struct rune_call *c)
{
    return c->params;
}
json_t *rune_call_outputs(struct rune_call *c)
{
    return c->outputs;
}
const char *rune_call_step_id(struct rune_call *c)
{
    return c->a->st->id;
}
const char *rune_call_cwd(struct rune_call *c)
{
    return c->run->cwd;
}

json_t *rune_call_target(struct rune_call *c, const char *param)
{
    const char *name = json_string_value(json_object_get(c->params, param));
    if (!name)
        return NULL;
    /* targets are resolved before steps start and never change after */
    return json_object_get(json_object_get(c->run->ctx, "targets"), name);
}

const char *rune_call_str(struct rune_call *c, const char *name)
{
    return json_string_value(json_object_get(c->params, name));
}

long long rune_call_int(struct rune_call *c, const char *name)
{
    json_t *v = json_object_get(c->params, name);
    return json_is_number(v) ? (long long)json_number_value(v) : 0;
}

double rune_call_num(struct rune_call *c, const char *name)
{
    return json_number_value(json_object_get(c->params, name));
}

bool rune_call_bool(struct rune_call *c, const char *name)
{
    return json_is_true(json_object_get(c->params, name));
}

/* A message formatted whole and then masked: cutting it to a buffer first
 * could leave the start of a secret that masking no longer recognises. */
static char *masked_vformat(struct rune_call *c, const char *fmt, va_list ap)
{
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        return rune_redact(&c->run->red, "(out of memory formatting a message)");
    char *m = rune_redact(&c->run->red, text);
    free(text);
    return m;
}

int rune_call_fail(struct rune_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = masked_vformat(c, fmt, ap);
    va_end(ap);
    free(c->error);
    c->error = m;
    return RUNE_STEP_FAILED;
}

void rune_call_log(struct rune_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = masked_vformat(c, fmt, ap);
    va_end(ap);
    rune_console_step_log(c->run->con, c->a->st->id, m);
    rune_record_log(&c->run->rec, rune_stage_names[c->a->st->stage], c->a->st->id, c->a->attempt,
                    m);
    free(m);
}

void rune_call_note(struct rune_call *c, const char *text)
{
    char *m = rune_redact(&c->run->red, text);
    rune_console_step_log(c->run->con, c->a->st->id, m);
    rune_record_note(&c->run->rec, rune_stage_names[c->a->st->stage], c->a->st->id, c->a->attempt,
                     m);
    free(m);
}

int rune_call_artifact(struct rune_call *c, const char *path, const char *sha256, long long bytes)
{
    return rune_record_declare_artifact(&c->artifacts, path, sha256, bytes);
}

void rune_call_recovery_point(struct rune_call *c, const char *iso_time)
{
    char *copy = iso_time ? strdup(iso_time) : NULL;
    if (iso_time && !copy)
        return; /* no memory: the report says no step reported one */
    free(c->recovery_point);
    c->recovery_point = copy;
}

void rune_call_progress(struct rune_call *c, long long done, long long total, enum rune_unit unit)
{
    if (c->a->meter)
        rune_meter_set(c->a->meter, done, total, unit);
}

void rune_call_progress_add(struct rune_call *c, long long n)
{
    if (c->a->meter)
        rune_meter_add(c->a->meter, n);
}

void rune_call_progress_phase(struct rune_call *c, const char *phase)
{
    if (c->a->meter)
        rune_meter_phase(c->a->meter, phase);
}

/* How long a plan gives a type's size hook (one catalog query, a stat). */
#define PLAN_SIZE_MS 5000

/* The size of the call's work from its type's size hook: true and *size,
 * *unit when it could tell. A hook that failed fails nothing: its message
 * is dropped, and the plan falls back to durations. */
static bool measure(struct rune_call *c, long long *size, enum rune_unit *unit)
{
    if (!c->type->size)
        return false;
    *unit = RUNE_UNIT_BYTES;
    *size = c->type->size(c, unit);
    free(c->error);
    c->error = NULL;
    return *size >= 0 && rune_unit_name(*unit) != NULL;
}

void rune_call_plan(struct rune_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *buf = masked_vformat(c, fmt, ap);
    va_end(ap);
    size_t had = c->plan ? strlen(c->plan) : 0;
    char *p = realloc(c->plan, had + strlen(buf) + 3);
    if (p) {
        snprintf(p + had, strlen(buf) + 3, "%s%s", had ? "; " : "", buf);
        c->plan = p;
    }
    free(buf);
}

bool rune_call_confirm(struct rune_call *c, const char *what)
{
    const char *stage = rune_stage_names[c->a->st->stage];
    if (c->a->approved)
        return rune_approve_covered(c->run, stage, c->a->st->id, what, c->a->approved);
    return rune_approve(c->run, stage, c->a->st->id, what);
}

int rune_call_cancel_status(struct rune_call *c)
{
    if (atomic_load(&rune_interrupted))
        return RUNE_STEP_CANCELLED;
    if (c->a->deadline_ms && rune_clock_mono_ms() >= c->a->deadline_ms)
        return RUNE_STEP_TIMEOUT;
    return RUNE_STEP_OK;
}

bool rune_call_cancelled(struct rune_call *c)
{
    return rune_call_cancel_status(c) != RUNE_STEP_OK;
}

long long rune_call_remaining_ms(struct rune_call *c)
{
    if (!c->a->deadline_ms)
        return -1;
    long long left = c->a->deadline_ms - rune_clock_mono_ms();
    return left > 0 ? left : 0;
}

int rune_call_sleep(struct rune_call *c, long long ms)
{
    long long end = rune_clock_mono_ms() + ms;
    for (;;) {
        int st = rune_call_cancel_status(c);
        if (st != RUNE_STEP_OK)
            return st;
        long long left = end - rune_clock_mono_ms();
        if (left <= 0)
            return RUNE_STEP_OK;
        long long chunk = left < 50 ? left : 50;
        struct timespec ts = {chunk / 1000, (chunk % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void rune_call_secret(struct rune_call *c, const char *value)
{
    rune_redactor_add(&c->run->red, value);
}

char *rune_call_redact(struct rune_call *c, const char *s)
{
    return rune_redact(&c->run->red, s);
}

static void add_secret(void *ud, const char *value)
{
    rune_call_secret(ud, value);
}

void rune_call_secret_dsn(struct rune_call *c, const char *conninfo)
{
    rune_dsn_passwords(conninfo, add_secret, c);
}

char *rune_call_redact_dsn(struct rune_call *c, const char *s)
{
    char *clean = rune_dsn_scrub(s ? s : "");
    char *m = rune_redact(&c->run->red, clean);
    free(clean);
    return m;
}

static bool proc_cancelled(void *ctx)
{
    (void)ctx;
    return atomic_load(&rune_interrupted) != 0;
}

/* Masks a captured stream in place. A stream that went on past the cap
 * was cut after what was kept, maybe inside a secret. */
static void redact_buf(struct rune_run *r, char **buf, size_t *len, bool truncated)
{
    if (!*buf)
        return;
    char *m = rune_redact_cut(&r->red, *buf, truncated ? RUNE_CUT_TAIL : RUNE_CUT_NONE);
    free(*buf);
    *buf = m;
    if (len)
        *len = strlen(m);
}

/* The child exists and waits (proc.c): record it before it runs, with its
 * start, so a resumed run can find it if this rune dies (its process
 * group is its pid). */
static void child_started(void *ctx, pid_t pid)
{
    struct rune_call *c = ctx;
    struct rune_run *r = c->run;
    char start[RUNE_START_LEN] = "";

    rune_procinfo_start(pid, start);
    snprintf(c->child_start, sizeof c->child_start, "%s", start);
    c->child_pid = pid;
    if (r->j && rune_journal_child(r->j, r->incident, c->a->st->id, c->a->attempt, pid, start,
                                   c->child_program, false) != 0)
        rune_console_alert(r->con, "warning: could not record the child process of step %s: %s",
                           c->a->st->id, rune_journal_error(r->j));
}

int rune_call_spawn(struct rune_call *c, struct rune_proc *p)
{
    /* a caller may ask for an earlier end than the step's deadline */
    if (c->a->deadline_ms && (!p->deadline_ms || c->a->deadline_ms < p->deadline_ms))
        p->deadline_ms = c->a->deadline_ms;
    p->cancelled = proc_cancelled;
    p->cancel_ctx = c;
    p->started = child_started;
    p->started_ctx = c;
    c->child_pid = 0;
    c->child_program = p->argv && p->argv[0] ? p->argv[0] : NULL;
    char err[1024];
    /* host: the same child, run on an ssh target (ssh_exec.c) */
    struct rune_remote rem;
    if (p->host && rune_remote_prepare(c->run, p, &rem, err, sizeof err) != 0) {
        rune_remote_release(&rem);
        rune_call_fail(c, "%s", err);
        return -1;
    }
    int rc = rune_proc_run(p->host ? &rem.proc : p, err, sizeof err);
    if (p->host && rc == 0)
        rc = rune_remote_finish(&rem, p, err, sizeof err);
    if (p->host)
        rune_remote_release(&rem);
    /* reaped (and its group killed on a deadline or cancel): no longer
     * something a dead run would leave behind */
    if (c->child_pid > 0 && c->run->j)
        rune_journal_child(c->run->j, c->run->incident, NULL, 0, c->child_pid, c->child_start, NULL,
                           true);
    if (rc != 0) {
        rune_call_fail(c, "%s", err);
        return -1;
    }
    redact_buf(c->run, &p->out, &p->out_len, p->out_truncated);
    redact_buf(c->run, &p->err, &p->err_len, p->err_truncated);
    /* the tail starts wherever the last RUNE_PROC_TAIL bytes began */
    char *t = rune_redact_cut(&c->run->red, p->tail, p->tail_cut ? RUNE_CUT_HEAD : RUNE_CUT_NONE);
    snprintf(p->tail, sizeof p->tail, "%s", t); /* never longer than what it masked */
    p->tail_len = strlen(p->tail);
    free(c->tail);
    c->tail = t;
    return 0;
}

const char *rune_call_lua_code(struct rune_call *c, struct rune_mark *where)
{
    const struct rune_node *n = c->a->st->lua;
    if (!n)
        return NULL;
    *where = n->mark;
    if (n->block) { /* a block scalar's text starts on the line below */
        where->line++;
        where->col = 1;
    }
    return n->str;
}
const struct rune_step_type *rune_call_type(struct rune_call *c)
{
    return c->type;
}
long long rune_call_deadline(struct rune_call *c)
{
    return c->a->deadline_ms;
}

json_t *rune_call_context(struct rune_call *c)
{
    pthread_mutex_lock(&c->run->mu);
    json_t *snap = json_deep_copy(c->run->ctx);
    pthread_mutex_unlock(&c->run->mu);
    return snap;
}

/* ---- Dry-run (rune plan) ---- */

/* What a dry-run runs for real: what cannot change anything. Pure
 * primitives always, ones that only read with --probe, and inline Lua (the
 * glue: its rune.run calls are simulated one by one). */
static bool runs_in_dry(struct rune_run *r, const struct rune_step_type *t)
{
    return t->effect == RUNE_PURE || (t->effect == RUNE_READS && r->o->probe) ||
           t == &rune_lua_inline_type;
}

/* --fail / --fail-attempts for this attempt: the message, or NULL. */
static const char *injected(struct rune_run *r, const char *id, int attempt)
{
    json_t *msg = json_object_get(r->o->fails, id);
    json_t *n = json_object_get(r->o->fail_attempts, id);
    if (!msg && !n)
        return NULL;
    if (n && attempt > json_integer_value(n))
        return NULL;
    const char *m = json_string_value(msg);
    return m && *m ? m : "injected by --fail";
}

/* The sentence saying what the call would do: the type's plan, else the
 * parameters. Redacted; malloc'd. */
static char *plan_text(struct rune_run *r, struct rune_call *c)
{
    if (c->type->plan)
        c->type->plan(c);
    if (!c->plan) {
        char *ps = json_dumps(c->params, JSON_COMPACT | JSON_SORT_KEYS);
        size_t n = strlen(c->type->name) + (ps ? strlen(ps) : 0) + 32;
        c->plan = malloc(n);
        if (c->plan)
            snprintf(c->plan, n, "would run %s with %s", c->type->name, ps ? ps : "{}");
        free(ps);
    }
    char *out = rune_redact(&r->red, c->plan ? c->plan : "");
    free(c->plan);
    c->plan = NULL;
    return out;
}

/* The message of a step or rune.run call that ended without one: what was
 * running, what stopped it, and what to do next. `via` names a nested
 * call's caller ("rune.run"), NULL for the step itself. */
static void default_error(struct rune_call *c, int status, const char *type, const char *via)
{
    char d[32];
    const char *who = via ? "the call" : "the step";
    switch (status) {
    case RUNE_STEP_OK:
        return;
    case RUNE_STEP_TIMEOUT:
        rune_call_fail(c,
                       "%s%s%s timed out: the step's timeout of %s passed before it finished; "
                       "raise the step's `timeout:` if it needs longer",
                       type, via ? " via " : "", via ? via : "",
                       rune_duration_str(c->a->st->timeout_ms, d, sizeof d));
        return;
    case RUNE_STEP_CANCELLED:
        rune_call_fail(c,
                       "%s%s%s cancelled: the run was interrupted (Ctrl-C or SIGTERM) while "
                       "%s ran",
                       type, via ? " via " : "", via ? via : "", who);
        return;
    case RUNE_STEP_DECLINED:
        rune_call_fail(c, "%s%s%s declined: the operator did not approve it", type,
                       via ? " via " : "", via ? via : "");
        return;
    default:
        rune_call_fail(c,
                       "%s%s%s failed without giving a reason: that is a bug in step type %s; "
                       "report it with this incident's id (`rune log show` has the timeline)",
                       type, via ? " via " : "", via ? via : "", type);
    }
}

int rune_call_nested(struct rune_call *parent, const char *type, json_t *params, json_t **outputs,
                     char *err, size_t errlen)
{
    *outputs = NULL;
    if (parent->depth >= 8) {
        snprintf(err, errlen, "rune.run nested more than 8 deep");
        return RUNE_STEP_FAILED;
    }
    const struct rune_step_type *t = rune_registry_find(type);
    if (!t) {
        snprintf(err, errlen, "unknown step type \"%s\" (`rune steps` lists them)", type);
        return RUNE_STEP_FAILED;
    }
    const char *bad;
    json_t *p = rune_params_prepare(t, params, err, errlen, &bad);
    if (!p)
        return RUNE_STEP_FAILED;
    if (!rune_targets_check(json_object_get(parent->run->ctx, "targets"), t, p, err, errlen,
                            &bad)) {
        json_decref(p);
        return RUNE_STEP_FAILED;
    }
    struct rune_run *r = parent->run;
    char lost[1024];
    if (rune_record_step_durable(&r->rec, t->name) &&
        (rune_lock_check(r->lock, lost, sizeof lost) != 0 ||
         rune_lock_check(r->resume_lock, lost, sizeof lost) != 0)) {
        /* fencing, as before a step that writes (sched.c) */
        snprintf(err, errlen, "%s not started: %s", t->name, lost);
        json_decref(p);
        return RUNE_STEP_FAILED;
    }
    const struct rune_stepdef *st = parent->a->st;
    const char *stage = rune_stage_names[st->stage];
    int n = ++parent->calls;
    rune_record_call_start(&r->rec, stage, st->id, parent->a->attempt, t->name, n, p);
    struct rune_call c = {r,    parent->a,         t, p,   json_object(), NULL,
                          NULL, parent->depth + 1, 0, NULL};
    long long t0 = rune_clock_mono_ms();
    int status;
    char *would = NULL;
    long long size = -1;
    enum rune_unit unit = RUNE_UNIT_BYTES;
    bool sized = false;
    if (r->o->dry_run && !runs_in_dry(r, t)) {
        /* a dry-run simulates what the glue would do, call by call */
        would = plan_text(r, &c);
        rune_console_step_log(r->con, st->id, would);
        status = RUNE_STEP_OK;
    } else {
        sized = measure(&c, &size, &unit);
        status = t->run(&c);
    }
    if (status == RUNE_STEP_FAILED && rune_call_cancel_status(&c) != RUNE_STEP_OK)
        status = rune_call_cancel_status(&c);
    if (!c.error)
        default_error(&c, status, t->name, "rune.run");
    struct rune_attempt_end e = {
        .stage = stage,
        .step = st->id,
        .attempt = parent->a->attempt,
        .status = rune_status_event(status),
        .duration_ms = rune_clock_mono_ms() - t0,
        .uses = t->name,
        .call = n,
        .outputs = c.outputs,
        .error = c.error,
        .tail = c.tail,
        .plan = would,
        .artifacts = c.artifacts,
        .recovery_point = c.recovery_point,
        .work_uses = sized ? t->name : NULL,
        .work_size = size,
        .work_unit = rune_unit_name(unit),
    };
    rune_record_call_end(&r->rec, &e);
    free(would);
    free(c.plan);
    if (status == RUNE_STEP_OK)
        rune_record_artifacts(&r->rec, st->id, t, c.artifacts, c.outputs);
    drop_declared(&c);
    if (status != RUNE_STEP_OK)
        snprintf(err, errlen, "%s", c.error);
    *outputs = c.outputs;
    free(c.error);
    if (c.tail) {
        free(parent->tail);
        parent->tail = c.tail;
    }
    json_decref(p);
    return status;
}

/* print: — the outputs the runbook wants on the console (a check's stdout
 * for an alert), each as a log line: shown under the step and recorded.
 * The outputs are already masked. */
static void print_outputs(struct rune_run *r, const struct rune_attempt *a)
{
    const struct rune_node *p = a->st->print;
    size_t n = p ? (p->kind == RUNE_NODE_SEQ ? p->n : 1) : 0;
    for (size_t i = 0; i < n; i++) {
        const struct rune_node *k = p->kind == RUNE_NODE_SEQ ? p->items[i] : p;
        json_t *v = json_object_get(a->outputs, k->str);
        if (!v)
            continue;
        char *own = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        const char *text = own ? own : json_string_value(v);
        size_t len = text ? strlen(text) : 0;
        while (len && text[len - 1] == '\n')
            len--;
        size_t sz = strlen(k->str) + len + 3;
        char *line = malloc(sz);
        if (line) {
            snprintf(line, sz, "%s: %.*s", k->str, (int)len, text ? text : "");
            rune_console_step_log(r->con, a->st->id, line);
            rune_record_log(&r->rec, rune_stage_names[a->st->stage], a->st->id, a->attempt, line);
        }
        free(line);
        free(own);
    }
}

static void real_attempt(struct rune_run *r, struct rune_attempt *a)
{
    struct rune_call c = {r, a, a->st->type, a->params, json_object(), NULL, NULL, 0, 0};
    /* measured as it starts, so that its throughput is always of the same
     * figure a plan divides */
    a->work_known = measure(&c, &a->work_size, &a->work_unit);
    int st = a->st->type->run(&c);
    /* a primitive that noticed the deadline may report a plain failure */
    if (st == RUNE_STEP_FAILED && rune_call_cancel_status(&c) != RUNE_STEP_OK)
        st = rune_call_cancel_status(&c);
    if (!c.error)
        default_error(&c, st, a->st->type->name, NULL);
    a->status = st;
    /* outputs are shown and recorded: mask them once, here */
    a->outputs = rune_redact_json(&r->red, c.outputs);
    json_decref(c.outputs);
    a->error = c.error;
    a->tail = c.tail;
    a->artifacts = c.artifacts;
    a->recovery_point = c.recovery_point;
    free(c.plan);
    print_outputs(r, a);
}

/* Outputs a simulated step is taken to produce: its simulate: block, else
 * what the same step gave in the last real run, else unknown ({}). */
static json_t *assumed_outputs(struct rune_run *r, const struct rune_stepdef *st,
                               const char **source)
{
    json_t *given = json_object_get(r->o->simulate, st->id);
    if (json_is_object(given)) {
        *source = "simulate";
        return json_deep_copy(given);
    }
    if (st->simulate) {
        char err[512];
        struct rune_mark where = st->simulate->mark;
        pthread_mutex_lock(&r->mu);
        struct rune_eval ev = rune_run_evaluator(r);
        r->expr_deadline_ms = rune_clock_mono_ms() + RUNE_EXPR_TIMEOUT_MS;
        json_t *v = rune_interp_node(st->simulate, &ev, &where, err, sizeof err);
        pthread_mutex_unlock(&r->mu);
        if (json_is_object(v)) {
            *source = "simulate";
            return v;
        }
        json_decref(v);
    }
    json_t *h = r->j ? rune_record_last_outputs(r->j, r->rb->name, st->id) : NULL;
    if (json_is_object(h)) {
        *source = "history";
        return h;
    }
    json_decref(h);
    *source = "unknown";
    return json_object();
}

/* Dry-run of a step whose running is undecided (its when: reads outputs a
 * dry-run does not have, or a step before it may stop the stage): it is
 * not run. Only what touches nothing (pure primitives, inline Lua) is
 * evaluated, to learn whether it would fail if it ran (a flow.fail
 * guard): then the outcome depends on data nobody has yet, and the plan
 * says so instead of predicting either way. Its outputs are unknown. */
static void undecided_attempt(struct rune_run *r, struct rune_attempt *a, const char *inj)
{
    const struct rune_stepdef *st = a->st;
    char *why = NULL;
    if (inj) {
        size_t n = strlen(inj) + 32;
        if ((why = malloc(n)))
            snprintf(why, n, "injected failure: %s", inj);
        a->would_fail = true;
    } else if (!a->params_unknown && runs_in_dry(r, st->type) && st->type->effect != RUNE_READS) {
        struct rune_attempt probe = *a;
        probe.outputs = NULL, probe.error = NULL, probe.tail = NULL, probe.plan = NULL;
        probe.artifacts = NULL, probe.recovery_point = NULL;
        real_attempt(r, &probe);
        if (probe.status != RUNE_STEP_OK) {
            a->would_fail = true;
            why = probe.error ? strdup(probe.error) : strdup("it fails");
        }
        rune_attempt_release(&probe);
    }
    char *sentence = NULL;
    if (!a->would_fail && !a->params_unknown) {
        struct rune_call c = {r, a, st->type, a->params, json_object(), NULL, NULL, 0, 0, NULL};
        sentence = plan_text(r, &c);
        json_decref(c.outputs);
        free(c.error);
        drop_declared(&c);
    }
    const char *what = a->would_fail ? (why ? why : "it fails")
                       : sentence    ? sentence
                                     : "runs with parameters known only once the run gets there";
    size_t n = strlen(what) + 64;
    if ((a->plan = malloc(n)))
        snprintf(a->plan, n, "if it runs: %s%s", a->would_fail ? "it FAILS: " : "", what);
    free(why);
    free(sentence);
    a->outputs = json_object();
    a->status = RUNE_STEP_OK;
    a->unknown = true;
    a->simulated = true;
    a->source = "unknown";
}

/* An attempt that fails as asked (--fail, a rune test scenario's fail:),
 * without running anything. Its outputs are the scenario's simulated ones
 * when it gives some: a step that fails may still say why in its outputs
 * (pg.ping sets reachable: false), and runbooks test them. */
static void injected_attempt(struct rune_run *r, struct rune_attempt *a, const char *inj)
{
    size_t n = strlen(inj) + 32;
    a->error = malloc(n);
    if (a->error)
        snprintf(a->error, n, "injected failure: %s", inj);
    json_t *given = json_object_get(r->o->simulate, a->st->id);
    a->outputs = json_is_object(given) ? json_deep_copy(given) : json_object();
    a->status = RUNE_STEP_FAILED;
    a->simulated = true;
    a->source = "injected";
}

static void dry_attempt(struct rune_run *r, struct rune_attempt *a)
{
    const struct rune_stepdef *st = a->st;
    const char *inj = injected(r, st->id, a->attempt);
    if (a->run_undecided) {
        undecided_attempt(r, a, inj);
        return;
    }
    if (inj) {
        injected_attempt(r, a, inj);
        return;
    }
    /* a step whose parameters come from outputs nobody knows yet is never
     * run, even when it only reads (--probe): it would act on nothing */
    if (runs_in_dry(r, st->type) && !a->params_unknown) {
        real_attempt(r, a);
        a->source = "run";
        const char *which = NULL;
        if (a->status == RUNE_STEP_FAILED && st->lua) {
            pthread_mutex_lock(&r->mu);
            rune_plan_undecided(r, st->lua->str, &which);
            pthread_mutex_unlock(&r->mu);
        }
        if (which) {
            /* it failed on data a dry-run does not have: not a prediction */
            char buf[1024];
            snprintf(buf, sizeof buf,
                     "undecided: needs the outputs of step %s, unknown in a "
                     "dry-run (here it said: %s)",
                     which, a->error ? a->error : "?");
            free(a->error);
            a->error = NULL;
            a->plan = strdup(buf);
            a->status = RUNE_STEP_OK;
            a->unknown = true;
            a->simulated = true;
            a->source = "unknown";
            json_decref(a->outputs);
            a->outputs = json_object();
        }
        return;
    }
    struct rune_call c = {r, a, st->type, a->params, json_object(), NULL, NULL, 0, 0, NULL};
    if (a->params_unknown) {
        /* no plan function is given half its parameters */
        size_t n = strlen(st->type->name) + 96;
        a->plan = malloc(n);
        if (a->plan)
            snprintf(a->plan, n,
                     "would run %s, with parameters known only once the run gets "
                     "there",
                     st->type->name);
    } else {
        a->plan = plan_text(r, &c);
        /* the size of the work it would do: the plan's estimate divides it.
         * A plan must not hang on a server that does not answer: the hook
         * gets a few seconds, not the step's timeout */
        long long deadline = a->deadline_ms, soon = rune_clock_mono_ms() + PLAN_SIZE_MS;
        if (!deadline || deadline > soon)
            a->deadline_ms = soon;
        a->work_known = measure(&c, &a->work_size, &a->work_unit);
        a->deadline_ms = deadline;
    }
    json_decref(c.outputs);
    free(c.error);
    drop_declared(&c);
    a->outputs = assumed_outputs(r, st, &a->source);
    a->unknown = !strcmp(a->source, "unknown");
    a->simulated = true;
    a->status = RUNE_STEP_OK;
}

void rune_attempt_run(struct rune_run *r, struct rune_attempt *a)
{
    const char *inj = r->o->dry_run ? NULL : injected(r, a->st->id, a->attempt);
    if (r->o->dry_run)
        dry_attempt(r, a);
    else if (inj)
        injected_attempt(r, a, inj); /* rune test --real: a failure where the scenario asks */
    else
        real_attempt(r, a);
}

void rune_attempt_release(struct rune_attempt *a)
{
    json_decref(a->outputs);
    free(a->error);
    free(a->tail);
    free(a->plan);
    json_decref(a->artifacts);
    free(a->recovery_point);
    a->outputs = a->artifacts = NULL;
    a->error = a->tail = a->plan = a->recovery_point = NULL;
}
