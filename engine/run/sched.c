/*
 * sched.c — running one stage's step graph.
 *
 * The stage's main thread owns the graph: it starts every step whose
 * dependencies are done (up to --jobs at once), each in a worker thread
 * that runs the attempts (approval, timeout, retries with backoff), and
 * applies the step's failure policy when a worker reports back. A step
 * that failed under `continue` or was skipped counts as done: its
 * dependents still run (they can test steps.<id>.failed). After an abort,
 * rollback or decline no new step starts; running ones finish, and the
 * steps that never started are recorded as not run.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "duration.h"
#include "params.h"
#include "plan.h"
#include "progress.h"
#include "record.h"
#include "resume.h"
#include "runstate.h"
#include "targets.h"

enum slot_state { PENDING, RUNNING, DONE_OK, DONE_FAILED, SKIPPED, NOT_RUN };

struct slot {
    struct rune_run *r;
    struct rune_stepdef *st;
    enum slot_state state;
    pthread_t th;
    json_t *params;      /* resolved, owned */
    char *question;      /* resolved confirm:, owned */
    char *undecided;     /* dry-run: why its when: could not be decided, owned */
    bool params_unknown; /* dry-run: parameters need outputs nobody knows yet */
    /* dry-run: whether it runs at all is undecided (its when:, or a step it
     * needs might stop the stage); undecided_on names the step whose
     * unknown outputs decide, owned */
    bool run_undecided;
    char *undecided_on;
    bool would_fail; /* dry-run: run undecided, and it would fail if it ran */
    /* dry-run: it may stop the stage or never be reached because of one
     * that may (would_fail, or needs such a step) */
    bool stoppable;
    bool finished; /* worker is done (under r->mu) */
    bool replayed; /* resuming: the log's outcome, published, not run */
    bool inlined;  /* dry-run: planned on the stage's thread, no worker to join */
    int status;    /* final rune_status */
    /* what its attempts report (rune_call_progress), shown by the console
     * and sampled into the log by the stage's thread */
    struct rune_progress prog;
};

/* steps.<id> in the expression context; call with r->mu held. Its
 * `failed` is the record layer's one definition. */
static void publish(struct rune_run *r, const struct rune_stepdef *st,
                    enum rune_event_status status, json_t *outputs, const char *error, long long ms,
                    int attempts)
{
    json_t *steps = json_object_get(r->ctx, "steps");
    json_t *o = json_pack(
        "{s:s, s:b, s:o, s:s?, s:I, s:i}", "status", rune_event_status_name(status), "failed",
        rune_event_status_failed(status), "outputs", outputs ? json_incref(outputs) : json_object(),
        "error", error, "duration", (json_int_t)ms, "attempts", attempts);
    json_object_set_new(steps, st->id, o);
}

static long long backoff_delay(const struct rune_retry *rt, int attempt)
{
    double d = (double)rt->delay_ms;
    for (int i = 1; i < attempt; i++)
        d *= rt->backoff;
    if (rt->max_delay_ms > 0 && d > (double)rt->max_delay_ms)
        d = (double)rt->max_delay_ms;
    return (long long)d;
}

static void sleep_interruptible(long long ms)
{
    long long end = rune_clock_mono_ms() + ms;
    while (!atomic_load(&rune_interrupted)) {
        long long left = end - rune_clock_mono_ms();
        if (left <= 0)
            return;
        long long chunk = left < 50 ? left : 50;
        struct timespec ts = {chunk / 1000, (chunk % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Test-only crash points, as the step families have theirs
 * (RUNE_TEST_CRASH_AT=POINT:N kills rune with SIGKILL the Nth time POINT
 * is passed): step.start (its start recorded, nothing run), step.done
 * (the step did its work, its end not yet recorded) and step.end (its end
 * recorded). tests/cli/test_resume.sh kills a run at each, in turn. */
static void crash_point(const char *name)
{
    static atomic_long calls;
    const char *want = getenv("RUNE_TEST_CRASH_AT");
    size_t n = strlen(name);
    if (!want || strncmp(want, name, n) != 0 || want[n] != ':')
        return;
    if (atomic_fetch_add(&calls, 1) + 1 == strtol(want + n + 1, NULL, 10))
        kill(getpid(), SIGKILL);
}

/* Fencing (lock.h): a step that writes starts only while the run's locks
 * are still its own; else the attempt fails, not started, with why. */
static bool lock_still_ours(struct rune_run *r, const struct rune_stepdef *st,
                            struct rune_attempt *a)
{
    char lost[1024];
    if (!rune_record_step_durable(&r->rec, st->uses) ||
        (rune_lock_check(r->lock, lost, sizeof lost) == 0 &&
         rune_lock_check(r->resume_lock, lost, sizeof lost) == 0))
        return true;
    a->status = RUNE_STEP_FAILED;
    a->outputs = json_object();
    size_t n = strlen(lost) + 64;
    a->error = malloc(n);
    if (a->error)
        snprintf(a->error, n, "not started: %s", lost);
    return false;
}

static void *worker(void *arg)
{
    struct slot *s = arg;
    struct rune_run *r = s->r;
    const struct rune_stepdef *st = s->st;
    const char *stage = rune_stage_names[st->stage];
    int attempts = st->retry.attempts;
    struct rune_attempt a = {0};
    long long total0 = rune_clock_mono_ms();
    int first = 1, n = 0;
    /* resuming: on from the attempt after the last one the log has; an
     * attempt rune died during does not count against the retries */
    struct rune_replay_step *rs = rune_replay_find(r->replay, st);
    if (rs && rs->last_attempt > 0) {
        first = rs->last_attempt + 1;
        attempts += rs->abandoned;
        if (attempts < first)
            attempts = first;
    }
    for (n = first; n <= attempts; n++) {
        rune_attempt_release(&a);
        a = (struct rune_attempt){.st = st, .params = s->params, .attempt = n};
        a.params_unknown = s->params_unknown;
        a.run_undecided = s->run_undecided;
        a.approved = s->question;
        rune_record_step_start(&r->rec, stage, st->id, n, st->uses, st->timeout_ms);
        crash_point("step.start");
        if (n == first && s->question && !rune_approve(r, stage, st->id, s->question)) {
            a.status = RUNE_STEP_DECLINED;
            a.outputs = json_object();
            a.error = strdup("declined: the operator did not approve this step");
            rune_record_step_end(&r->rec, &(struct rune_attempt_end){.stage = stage,
                                                                     .step = st->id,
                                                                     .uses = st->uses,
                                                                     .attempt = n,
                                                                     .status = RUNE_ST_DECLINED,
                                                                     .error = a.error});
            rune_console_step_end(r->con, st->id, st->uses, "declined", 0, n, attempts, a.error,
                                  NULL);
            break;
        }
        if (!lock_still_ours(r, st, &a)) {
            rune_record_step_end(&r->rec, &(struct rune_attempt_end){.stage = stage,
                                                                     .step = st->id,
                                                                     .uses = st->uses,
                                                                     .attempt = n,
                                                                     .status = RUNE_ST_FAILED,
                                                                     .error = a.error});
            rune_console_step_end(r->con, st->id, st->uses, "failed", 0, n, attempts, a.error,
                                  NULL);
            break;
        }
        rune_progress_start(r, &s->prog, stage, st->id, st->uses, n);
        a.meter = &s->prog.meter;
        rune_console_step_start(r->con, st->id, st->uses, n, attempts, a.meter);
        long long t0 = rune_clock_mono_ms();
        a.deadline_ms = st->timeout_ms > 0 ? t0 + st->timeout_ms : 0;
        rune_attempt_run(r, &a);
        crash_point("step.done");
        long long ms = rune_clock_mono_ms() - t0;
        rune_progress_finish(r, &s->prog);
        bool dry = r->o->dry_run;
        struct rune_attempt_end e = {
            .stage = stage,
            .step = st->id,
            .uses = st->uses,
            .attempt = n,
            .status = a.run_undecided ? RUNE_ST_UNDECIDED : rune_status_event(a.status),
            .duration_ms = ms,
            .outputs = a.outputs,
            .error = a.error,
            .tail = a.tail,
            .plan = dry ? a.plan : NULL,
            .artifacts = a.artifacts,
            .recovery_point = a.recovery_point,
            .dry = dry,
            .simulated = a.simulated,
            .outputs_source = a.source,
            .undecided = dry ? s->undecided : NULL,
            .work_uses = a.work_known ? st->type->name : NULL,
            .work_size = a.work_size,
            .work_unit = rune_unit_name(a.work_unit),
        };
        rune_record_step_end(&r->rec, &e);
        crash_point("step.end");
        const char *sn = rune_event_status_name(e.status);
        if (a.status == RUNE_STEP_OK)
            rune_record_artifacts(&r->rec, st->id, st->type, a.artifacts, a.outputs);
        rune_console_step_end(r->con, st->id, st->uses,
                              a.simulated && a.status == RUNE_STEP_OK ? "simulated" : sn, ms, n,
                              attempts, a.status == RUNE_STEP_OK ? a.plan : a.error, a.tail);
        if (a.status == RUNE_STEP_OK || a.status == RUNE_STEP_DECLINED ||
            a.status == RUNE_STEP_CANCELLED || atomic_load(&rune_interrupted))
            break;
        if (n < attempts) {
            long long wait = backoff_delay(&st->retry, n);
            char w[32];
            rune_console_info(r->con, "      %s %s in %s (attempt %d of %d)",
                              r->o->dry_run ? "would retry" : "retrying", st->id,
                              rune_duration_str(wait, w, sizeof w), n + 1, attempts);
            if (!r->o->dry_run) {
                rune_record_sync(&r->rec); /* this attempt's end, before the wait */
                sleep_interruptible(wait);
            }
            if (atomic_load(&rune_interrupted))
                break;
        }
    }
    if (n > attempts)
        n = attempts;
    pthread_mutex_lock(&r->mu);
    publish(r, st, rune_status_event(a.status), a.outputs, a.error, rune_clock_mono_ms() - total0,
            n);
    if (r->o->dry_run) {
        json_object_set_new(json_object_get(json_object_get(r->ctx, "steps"), st->id), "unknown",
                            json_boolean(a.unknown));
        if (a.would_fail) {
            s->would_fail = true;
            s->stoppable = true;
            json_array_append_new(r->undecided,
                                  json_pack("{s:s, s:s?}", "step", st->id, "on", s->undecided_on));
        }
        json_array_append_new(
            r->plan,
            json_pack("{s:s, s:s, s:s, s:i, s:b, s:s?, s:s?, s:s?, s:s}", "stage", stage, "id",
                      st->id, "status",
                      rune_event_status_name(a.run_undecided ? RUNE_ST_UNDECIDED
                                                             : rune_status_event(a.status)),
                      "attempts", n, "simulated", a.simulated, "plan", a.plan, "error", a.error,
                      "undecided", s->undecided, "outputs_source", a.source ? a.source : "run"));
        if (a.work_known) {
            json_t *e = json_array_get(r->plan, json_array_size(r->plan) - 1);
            json_object_set_new(e, "work_size", json_integer(a.work_size));
            json_object_set_new(e, "work_unit", json_string(rune_unit_name(a.work_unit)));
        }
    }
    s->status = a.status;
    s->finished = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    rune_attempt_release(&a);
    return NULL;
}

static bool deps_done(struct slot *slots, const struct rune_stepdef *st)
{
    for (size_t k = 0; k < st->ndeps; k++) {
        enum slot_state d = slots[st->deps[k]].state;
        if (d != DONE_OK && d != DONE_FAILED && d != SKIPPED)
            return false;
    }
    return true;
}

/* A step that fails before it can start (a ${...} that does not resolve, a
 * bad parameter): recorded as one failed attempt, with the runbook place.
 * `lua`: the failure is an evaluation's, which the step's timeout or
 * Ctrl-C may have stopped: the step then ends as timeout or cancelled. */
static void fail_early_as(struct rune_run *r, struct slot *s, struct rune_mark m, const char *why,
                          bool lua)
{
    const struct rune_stepdef *st = s->st;
    int status = lua ? rune_lua_stopped(r->lua) : RUNE_STEP_OK;
    if (status == RUNE_STEP_OK)
        status = RUNE_STEP_FAILED;
    enum rune_event_status ended = rune_status_event(status);
    char where[512], msg[1536];
    size_t fl = m.file ? strlen(m.file) : 0;
    if (fl && !strncmp(why, m.file, fl) && why[fl] == ':')
        snprintf(msg, sizeof msg, "%s", why); /* already located (a Lua message) */
    else
        snprintf(msg, sizeof msg, "%s: %s", rune_mark_str(m, where, sizeof where), why);
    char *red = rune_redact(&r->red, msg);
    const char *stage = rune_stage_names[st->stage];
    rune_record_step_start(&r->rec, stage, st->id, 1, NULL, 0);
    rune_record_step_end(&r->rec, &(struct rune_attempt_end){
                                      .stage = stage,
                                      .step = st->id,
                                      .attempt = 1,
                                      .status = ended,
                                      .error = red,
                                  });
    rune_console_step_end(r->con, st->id, st->uses, rune_event_status_name(ended), 0, 1, 1, red,
                          NULL);
    publish(r, st, ended, NULL, red, 0, 1);
    free(red);
    s->status = status;
}

static void fail_early(struct rune_run *r, struct slot *s, struct rune_mark m, const char *why)
{
    fail_early_as(r, s, m, why, false);
}

static void skip(struct rune_run *r, struct slot *s, const char *reason, enum slot_state as)
{
    const struct rune_stepdef *st = s->st;
    enum rune_event_status status = as == SKIPPED ? RUNE_ST_SKIPPED : RUNE_ST_NOT_RUN;
    rune_record_step_skip(&r->rec, rune_stage_names[st->stage], st->id, status, reason);
    if (as == SKIPPED)
        rune_console_step_end(r->con, st->id, st->uses, rune_event_status_name(status), -1, 1, 1,
                              reason, NULL);
    publish(r, st, status, NULL, NULL, 0, 0);
    s->state = as;
}

/* Decides a ready step: skip it, fail it early, or start its worker.
 * Returns true when a worker was started. Called with r->mu held. */
/* Dry-run: does any ${...} in n read a step whose outputs are unknown? */
static bool node_undecided(struct rune_run *r, const struct rune_node *n, const char **which)
{
    if (!n)
        return false;
    if (n->kind == RUNE_NODE_SCALAR)
        return strstr(n->str, "${") && rune_plan_undecided(r, n->str, which);
    for (size_t i = 0; i < n->n; i++)
        if (node_undecided(r, n->items[i], which))
            return true;
    return false;
}

/* Dry-run: a step it needs may stop the stage (it would fail if its
 * undecided condition let it run) or may itself never be reached: whether
 * this step runs is undecided too. That step's id, or NULL; *on is the step
 * whose unknown outputs decide. */
static const char *stopped_maybe(struct slot *slots, const struct rune_stepdef *st, const char **on)
{
    for (size_t k = 0; k < st->ndeps; k++) {
        struct slot *d = &slots[st->deps[k]];
        if (d->stoppable) {
            *on = d->undecided_on;
            return d->st->id;
        }
    }
    return NULL;
}

/* Resuming: a step the log says ended is not run again; its recorded
 * outcome is published as if it had just finished, and nothing is
 * recorded. Returns true when the step was replayed so. */
static bool replayed(struct rune_run *r, struct slot *s)
{
    struct rune_replay_step *rs = rune_replay_find(r->replay, s->st);
    if (!rs || !rs->ended)
        return false;
    s->replayed = true;
    if (rs->status == RUNE_ST_SKIPPED || rs->status == RUNE_ST_NOT_RUN) {
        publish(r, s->st, rs->status, NULL, NULL, 0, 0);
        s->state = rs->status == RUNE_ST_SKIPPED ? SKIPPED : NOT_RUN;
        return true;
    }
    static const struct {
        enum rune_event_status ev;
        int st;
    } map[] = {{RUNE_ST_OK, RUNE_STEP_OK},
               {RUNE_ST_TIMEOUT, RUNE_STEP_TIMEOUT},
               {RUNE_ST_DECLINED, RUNE_STEP_DECLINED},
               {RUNE_ST_CANCELLED, RUNE_STEP_CANCELLED}};
    s->status = RUNE_STEP_FAILED;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].ev == rs->status)
            s->status = map[i].st;
    publish(r, s->st, rs->status, rs->outputs, rs->error, rs->duration_ms, rs->last_attempt);
    s->state = s->status == RUNE_STEP_OK ? DONE_OK : DONE_FAILED;
    rune_console_step_end(r->con, s->st->id, s->st->uses, rune_event_status_name(rs->status), -1,
                          rs->last_attempt, rs->last_attempt,
                          "ended before rune died: not run again", NULL);
    return true;
}

static bool launch(struct rune_run *r, struct slot *slots, struct slot *s)
{
    const struct rune_stepdef *st = s->st;
    if (replayed(r, s))
        return false;
    struct rune_eval ev = rune_run_evaluator(r);
    char err[1024];
    struct rune_mark where = st->id_mark;
    /* the step's expressions share its timeout: a runaway loop in a `when:`
     * is stopped like a runaway step */
    r->expr_deadline_ms = st->timeout_ms > 0 ? rune_clock_mono_ms() + st->timeout_ms : 0;
    const char *unknown_step = NULL, *before = NULL, *on = NULL;
    if (r->o->dry_run && (before = stopped_maybe(slots, st, &on))) {
        /* not evaluated: the step may never be reached */
        char buf[512];
        snprintf(buf, sizeof buf,
                 "may not run: step %s before it is undecided and would fail "
                 "if it ran",
                 before);
        s->undecided = strdup(buf);
        s->run_undecided = true;
        s->stoppable = true;
        s->undecided_on = on ? strdup(on) : NULL;
    } else if (st->when && r->o->dry_run && rune_plan_undecided(r, st->when->str, &unknown_step)) {
        /* a dry-run cannot know: show the step as it would run, marked */
        char buf[1024];
        snprintf(buf, sizeof buf,
                 "runs only if `%s` — undecided: the outputs of step %s are "
                 "unknown in a dry-run",
                 st->when->str, unknown_step);
        s->undecided = strdup(buf);
        s->run_undecided = true;
        s->undecided_on = strdup(unknown_step);
    } else if (st->when) {
        where = st->when->mark;
        json_t *w = rune_run_eval_node(r, st->when, err, sizeof err);
        if (!w) {
            fail_early_as(r, s, where, err, true);
            s->state = DONE_FAILED;
            return false;
        }
        if (!json_is_boolean(w)) {
            char *txt = json_dumps(w, JSON_ENCODE_ANY | JSON_COMPACT);
            snprintf(err, sizeof err, "when: expected true or false, got %s", txt);
            free(txt);
            json_decref(w);
            fail_early(r, s, st->when->mark, err);
            s->state = DONE_FAILED;
            return false;
        }
        bool go = json_is_true(w);
        json_decref(w);
        if (!go) {
            skip(r, s, "when: condition is false", SKIPPED);
            return false;
        }
    }
    json_t *with = st->lua    ? json_object()
                   : st->with ? rune_interp_node(st->with, &ev, &where, err, sizeof err)
                              : json_object();
    bool interp_failed = !with;
    const char *bad = NULL;
    s->params = with ? rune_params_prepare(st->type, with, err, sizeof err, &bad) : NULL;
    json_decref(with);
    if (!s->params && r->o->dry_run && node_undecided(r, st->with, &unknown_step)) {
        /* the values come from a step a dry-run did not run: plan the step
         * without them rather than predict a failure that would not happen */
        char buf[512];
        snprintf(buf, sizeof buf,
                 "its parameters need the outputs of step %s, unknown in a "
                 "dry-run",
                 unknown_step);
        free(s->undecided);
        s->undecided = strdup(buf);
        s->params = json_object();
        s->params_unknown = true;
        bad = NULL;
    }
    if (!s->params) {
        const struct rune_node *pn = bad ? rune_node_get(st->with, bad) : NULL;
        fail_early_as(r, s,
                      interp_failed ? where
                      : pn          ? pn->mark
                                    : st->uses_mark,
                      err, interp_failed);
        s->state = DONE_FAILED;
        return false;
    }
    if (!rune_targets_check(json_object_get(r->ctx, "targets"), st->type, s->params, err,
                            sizeof err, &bad)) {
        const struct rune_node *pn = bad ? rune_node_get(st->with, bad) : NULL;
        fail_early(r, s, pn ? pn->mark : st->uses_mark, err);
        s->state = DONE_FAILED;
        return false;
    }
    if (st->confirm) {
        bool b;
        if (rune_node_is_bool(st->confirm, &b)) {
            char q[256];
            snprintf(q, sizeof q, "run step \"%s\" (%s)?", st->id, st->uses);
            s->question = strdup(q);
        } else {
            json_t *q = rune_interp_node(st->confirm, &ev, &where, err, sizeof err);
            if (!q && r->o->dry_run && node_undecided(r, st->confirm, &unknown_step))
                q = json_string(st->confirm->str); /* the question as written */
            if (!q) {
                fail_early_as(r, s, where, err, true);
                s->state = DONE_FAILED;
                return false;
            }
            s->question =
                json_is_string(q) ? strdup(json_string_value(q)) : json_dumps(q, JSON_ENCODE_ANY);
            json_decref(q);
        }
    }
    s->state = RUNNING;
    s->finished = false;
    if (r->o->dry_run) {
        /* A dry-run's step runs nothing and takes no time: it is planned
         * here, on the stage's thread, in listed order. A thread each cost
         * two context switches a step, most of a 1,000-step plan's time on
         * a busy machine. The worker takes r->mu itself, as it does on its
         * own thread: it must not be held here (it was, once: deadlock). */
        pthread_mutex_unlock(&r->mu);
        worker(s);
        pthread_mutex_lock(&r->mu);
        s->inlined = true;
        return true;
    }
    if (pthread_create(&s->th, NULL, worker, s) != 0) {
        fail_early(r, s, st->id_mark, "could not start a thread for this step");
        s->state = DONE_FAILED;
        return false;
    }
    return true;
}

/* The stage's verdict after step s ended with status st. */
static enum rune_stage_result verdict(const struct rune_stepdef *st, int status)
{
    if (status == RUNE_STEP_OK)
        return RUNE_STAGE_OK;
    if (status == RUNE_STEP_DECLINED)
        return RUNE_STAGE_DECLINED;
    if (status == RUNE_STEP_CANCELLED)
        return RUNE_STAGE_INTERRUPTED;
    switch (st->on_failure) {
    case RUNE_POLICY_CONTINUE:
        return RUNE_STAGE_OK;
    case RUNE_POLICY_ROLLBACK:
        return RUNE_STAGE_ROLLBACK;
    default:
        return RUNE_STAGE_ABORT;
    }
}

struct stage_run {
    enum rune_stage_result result;
    const char *stopped_by;
    bool stop;
    int running;
    int *failed;
    bool lock_lost; /* a step found the run's lock lost: nothing more starts */
};

/* A step has ended (worker joined, or failed before starting): count it and
 * apply its failure policy. */
static void settle(struct stage_run *sr, struct slot *s)
{
    s->state = s->status == RUNE_STEP_OK ? DONE_OK : DONE_FAILED;
    if (s->status == RUNE_STEP_OK)
        return;
    (*sr->failed)++;
    enum rune_stage_result v = verdict(s->st, s->status);
    if (v != RUNE_STAGE_OK && !sr->stop) {
        sr->stop = true;
        sr->result = v;
        sr->stopped_by = s->st->id;
    }
}

static void wait_a_little(struct rune_run *r)
{
    /* timed, so a Ctrl-C is noticed even while every step is busy, and
     * running steps' progress is sampled */
    struct timespec ts = rune_clock_cond_deadline(200);
    pthread_cond_timedwait(&r->cv, &r->mu, &ts);
}

/* A simulation's batch of events committed when it is due: the log is not
 * held long from other writers. */
static void flush_due(struct rune_run *r, long long now)
{
    if (r->o->dry_run && now - r->flushed_ms >= 200) {
        rune_journal_flush(r->j);
        r->flushed_ms = now;
    }
}

/* Running steps' progress into the log when a sample is due (r->mu held). */
static void sample(struct rune_run *r, struct slot *slots, size_t n)
{
    long long now = rune_clock_mono_ms();
    flush_due(r, now);
    for (size_t i = 0; i < n; i++)
        if (slots[i].state == RUNNING)
            rune_progress_tick(r, &slots[i].prog, now);
}

enum rune_stage_result rune_sched_stage(struct rune_run *r, enum rune_stage_id sid, int *failed)
{
    struct rune_stagedef *sd = &r->rb->stages[sid];
    struct slot *slots = calloc(sd->n ? sd->n : 1, sizeof *slots);
    if (!slots)
        abort();
    for (size_t i = 0; i < sd->n; i++) {
        slots[i] = (struct slot){.r = r, .st = &sd->steps[i], .state = PENDING};
        rune_progress_init(&slots[i].prog);
    }
    *failed = 0;
    struct stage_run sr = {RUNE_STAGE_OK, NULL, false, 0, failed};

    pthread_mutex_lock(&r->mu);
    for (;;) {
        for (size_t i = 0; i < sd->n; i++) {
            struct slot *s = &slots[i];
            if (s->state != RUNNING || !s->finished)
                continue;
            pthread_mutex_unlock(&r->mu);
            pthread_join(s->th, NULL);
            pthread_mutex_lock(&r->mu);
            sr.running--;
            settle(&sr, s);
        }
        if (!sr.lock_lost &&
            (rune_lock_lost(r->lock, NULL, 0) || rune_lock_lost(r->resume_lock, NULL, 0))) {
            sr.lock_lost = sr.stop = true;
            sr.result = RUNE_STAGE_ABORT;
        }
        if (atomic_load(&rune_interrupted) && !sr.stop) {
            sr.stop = true;
            sr.result = RUNE_STAGE_INTERRUPTED;
        }
        /* start (or skip, or fail early) every ready step, in listed order.
         * A writing step's end is still owed to the disk (record.c): a
         * writing step started now pays it with its start's fsync; before
         * any other step starts, and when none does while others still
         * run, it is paid here. When the stage is over, what comes next
         * pays it: the next stage's first step, or the incident's end. */
        bool paid = false;
        for (bool progress = true; progress && !sr.stop;) {
            progress = false;
            for (size_t i = 0; i < sd->n && sr.running < r->o->jobs && !sr.stop; i++) {
                struct slot *s = &slots[i];
                if (s->state != PENDING || !deps_done(slots, s->st))
                    continue;
                progress = true;
                bool pays = rune_record_step_durable(&r->rec, s->st->uses);
                if (!pays)
                    rune_record_sync(&r->rec);
                bool started = launch(r, slots, s);
                paid = paid || (started && pays && !s->inlined);
                if (started && s->inlined) {
                    settle(&sr, s);
                    flush_due(r, rune_clock_mono_ms());
                } else if (s->state == RUNNING) {
                    sr.running++;
                } else if (s->state == DONE_FAILED) {
                    /* its end (failed early) owed too: a step started
                     * earlier in this pass may have paid before it */
                    rune_record_sync(&r->rec);
                    settle(&sr, s);
                }
            }
        }
        if (sr.running == 0)
            break;
        if (!paid)
            rune_record_sync(&r->rec);
        wait_a_little(r);
        sample(r, slots, sd->n);
    }
    for (size_t i = 0; i < sd->n; i++) {
        if (slots[i].state != PENDING)
            continue;
        char reason[256];
        if (sr.lock_lost)
            snprintf(reason, sizeof reason, "not run: the run lost its lock");
        else if (sr.stopped_by)
            snprintf(reason, sizeof reason, "not run: the stage stopped after step \"%s\"",
                     sr.stopped_by);
        else
            snprintf(reason, sizeof reason, "not run: the run was interrupted");
        skip(r, &slots[i], reason, NOT_RUN);
    }
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < sd->n; i++) {
        json_decref(slots[i].params);
        free(slots[i].question);
        free(slots[i].undecided);
        free(slots[i].undecided_on);
        rune_progress_free(&slots[i].prog);
    }
    free(slots);
    return sr.result;
}
