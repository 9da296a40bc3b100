/*
 * plan.c — what a dry-run (`rune plan`) reports once the simulated run is
 * over: per stage, the waves of steps that would run in parallel; for each
 * step its plan sentence, effect, condition, timeout, failure policy and an
 * estimated duration: the size of its work (its type's size hook) divided
 * by the throughput earlier real runs of the same type measured on this
 * host, else the median duration of the step's past real runs, else its
 * timeout — and which of them it is;
 * each stage's critical path, their sum against the runbook's RTO, and the
 * outcome and exit code a real run would end with. The same data is the
 * JSON of `rune plan --json` (schemas/plan.schema.json).
 *
 * The simulation itself is the ordinary run machinery in dry mode
 * (call.c): the same scheduler, policies and rollback decide the outcome,
 * so a plan cannot drift from what `rune run` does.
 */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "interp.h"
#include "meter.h"
#include "record_read.h"
#include "ssh_target.h"

static const char *const effect_names[] = {"pure", "reads", "writes"};

/* ---- During the dry-run: what cannot be decided ---- */

struct undecided {
    json_t *steps;
    const char *which;
};

static void on_step_ref(void *ud, const char *root, const char *name, size_t len)
{
    struct undecided *u = ud;
    if (u->which || strcmp(root, "steps") != 0)
        return;
    char id[128];
    snprintf(id, sizeof id, "%.*s", (int)len, name);
    const char *key;
    json_t *v;
    json_object_foreach(u->steps, key, v)
    {
        if (!strcmp(key, id) && json_is_true(json_object_get(v, "unknown"))) {
            u->which = key;
            return;
        }
    }
}

bool rune_plan_undecided(struct rune_run *r, const char *code, const char **which)
{
    struct undecided u = {json_object_get(r->ctx, "steps"), NULL};
    if (code)
        rune_interp_refs(code, strlen(code), on_step_ref, &u);
    *which = u.which;
    return u.which != NULL;
}

/* ---- After the dry-run: the plan ---- */

/* The dry-run's record of step id (r->plan), or NULL if it never started. */
/* The dry-run's record of each step by id, the last one where a step has
 * several (after retries): looked up once per step, so built once (a
 * scan of the plan per step made a 1,000-step plan quadratic). */
static json_t *entries_by_id(struct rune_run *r)
{
    json_t *by_id = json_object(), *e;
    size_t i;
    json_array_foreach(r->plan, i, e)
    {
        json_object_set(by_id, json_string_value(json_object_get(e, "id")), e);
    }
    return by_id;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* Runs a basis needs before the plan trusts it: one run may be an
 * outlier (a cold cache, a busy host). */
#define MIN_RUNS 2
#define MAX_RUNS 20

/* What a step's estimate rests on. */
struct estimate {
    long long ms;
    const char *source; /* "size", "history", "timeout" */
    int runs;           /* the step's past real runs (durations) */
    /* the size basis: the work's size (size < 0: not known), and the
     * throughput earlier runs of its type measured on this host */
    long long size;
    const char *unit;
    double per_s;
    int size_runs;
};

static double median(double *v, size_t n)
{
    for (size_t i = 1; i < n; i++) /* n <= MAX_RUNS: insertion sort */
        for (size_t k = i; k > 0 && v[k - 1] > v[k]; k--) {
            double t = v[k];
            v[k] = v[k - 1];
            v[k - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median throughput (units per second) earlier successful real runs
 * of type `uses` on this host measured for work in `unit`; *runs says how
 * many; -1 under MIN_RUNS. */
static double throughput(struct rune_run *r, const char *uses, const char *unit, int *runs)
{
    long long size[MAX_RUNS], ms[MAX_RUNS];
    double rate[MAX_RUNS];
    size_t n = rune_record_work(r->j, uses, r->host, unit, size, ms, MAX_RUNS), k = 0;
    for (size_t i = 0; i < n; i++)
        if (size[i] > 0 && ms[i] > 0)
            rate[k++] = (double)size[i] * 1000.0 / (double)ms[i];
    *runs = (int)k;
    return k >= MIN_RUNS ? median(rate, k) : -1;
}

/* The step's estimate: its size over its type's throughput here, else the
 * median of its past real runs, else its timeout (a bound, not an
 * estimate). entry: what the dry-run recorded of it (the size), or NULL. */
static void estimate(struct rune_run *r, const struct rune_stepdef *st, json_t *entry,
                     struct estimate *e)
{
    long long v[MAX_RUNS];
    size_t n = r->j ? rune_record_durations(r->j, r->rb->name, st->id, v, MAX_RUNS) : 0;
    *e = (struct estimate){.ms = st->timeout_ms, .source = "timeout", .runs = (int)n, .size = -1};
    if (n >= MIN_RUNS) {
        qsort(v, n, sizeof *v, cmp_ll);
        e->ms = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
        e->source = "history";
    }
    json_t *size = json_object_get(entry, "work_size");
    e->unit = json_string_value(json_object_get(entry, "work_unit"));
    if (!json_is_integer(size) || !e->unit || !st->type)
        return;
    e->size = (long long)json_integer_value(size);
    e->per_s = r->j ? throughput(r, st->type->name, e->unit, &e->size_runs) : -1;
    if (e->per_s <= 0)
        return;
    double ms = (double)e->size * 1000.0 / e->per_s;
    e->ms = ms > 9.0e15 ? st->timeout_ms : (long long)(ms + 0.5);
    e->source = "size";
}

/* An estimate from real runs (of the step, or of its type here), not a
 * timeout standing in for one. */
static bool measured(const char *source)
{
    return !strcmp(source, "history") || !strcmp(source, "size");
}

/* Where a step with host: runs: {target, via: "ssh user@host:port"}; the
 * target as written when it is only known at run time (${...}). NULL
 * for a step that runs here. */
static json_t *host_json(struct rune_run *r, const struct rune_stepdef *st)
{
    const struct rune_node *h = st->with ? rune_node_get(st->with, "host") : NULL;
    if (!h || h->kind != RUNE_NODE_SCALAR)
        return NULL;
    json_t *t = json_object_get(json_object_get(r->ctx, "targets"), h->str);
    char via[400] = "";
    if (t)
        rune_ssh_describe(t, via, sizeof via);
    return json_pack("{s:s, s:s?}", "target", h->str, "via", t ? via : NULL);
}

static json_t *step_json(struct rune_run *r, json_t *entries, const struct rune_stepdef *st,
                         long long *est_ms)
{
    json_t *s = json_pack("{s:s, s:s, s:s, s:I, s:s, s:i}", "id", st->id, "uses",
                          st->uses ? st->uses : "lua", "effect",
                          st->type ? effect_names[st->type->effect] : "writes", "timeout_ms",
                          (json_int_t)st->timeout_ms, "on_failure",
                          rune_policy_names[st->on_failure], "retry_attempts", st->retry.attempts);
    if (st->when)
        json_object_set_new(s, "when", json_string(st->when->str));
    if (st->confirm)
        json_object_set_new(s, "approval", json_true());
    json_t *host = host_json(r, st);
    if (host)
        json_object_set_new(s, "host", host);
    json_t *e = json_object_get(entries, st->id);
    const char *status;
    if (e) {
        status = json_string_value(json_object_get(e, "status"));
        const char *keys[] = {"simulated", "plan",           "error",
                              "undecided", "outputs_source", "attempts"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            json_t *v = json_object_get(e, keys[k]);
            if (v && !json_is_null(v))
                json_object_set(s, keys[k], v);
        }
    } else {
        json_t *cs =
            json_object_get(json_object_get(json_object_get(r->ctx, "steps"), st->id), "status");
        status =
            json_string_value(cs) ? json_string_value(cs) : rune_event_status_name(RUNE_ST_NOT_RUN);
        if (rune_event_status_parse(status) == RUNE_ST_PENDING)
            status = rune_event_status_name(RUNE_ST_NOT_RUN); /* its stage was skipped */
    }
    json_object_set_new(s, "status", json_string(status));
    struct estimate est;
    estimate(r, st, e, &est);
    enum rune_event_status st_status = rune_event_status_parse(status);
    bool counts =
        st_status == RUNE_ST_OK || st_status == RUNE_ST_FAILED || st_status == RUNE_ST_UNDECIDED;
    *est_ms = counts ? est.ms : 0;
    json_object_set_new(s, "estimate_ms", json_integer(est.ms));
    json_object_set_new(s, "estimate_source", json_string(est.source));
    json_object_set_new(s, "history_runs", json_integer(est.runs));
    if (est.size >= 0) {
        json_object_set_new(s, "work_size", json_integer(est.size));
        json_object_set_new(s, "work_unit", json_string(est.unit));
        json_object_set_new(s, "throughput_runs", json_integer(est.size_runs));
        if (est.per_s > 0)
            json_object_set_new(s, "throughput_per_s", json_integer((json_int_t)est.per_s));
    }
    return s;
}

json_t *rune_plan_build(struct rune_run *r, const char *outcome, int exit_code, const char *why)
{
    struct rune_runbook *rb = r->rb;
    json_t *stages = json_array();
    long long total = 0, known_total = 0;
    json_t *no_history = json_array(); /* ids of steps that would run, with no history */
    json_t *entries = entries_by_id(r);
    for (int s = 0; s < RUNE_NSTAGES; s++) {
        const struct rune_stagedef *sd = &rb->stages[s];
        if (!sd->present)
            continue;
        /* waves: a step's wave is one past its latest dependency's */
        int *wave = calloc(sd->n ? sd->n : 1, sizeof *wave);
        long long *finish = calloc(sd->n ? sd->n : 1, sizeof *finish);
        int waves = 0;
        long long critical = 0, known_critical = 0;
        long long *known = calloc(sd->n ? sd->n : 1, sizeof *known);
        json_t *steps = json_array();
        for (size_t i = 0; i < sd->n; i++) {
            const struct rune_stepdef *st = &sd->steps[i];
            long long start = 0, kstart = 0;
            for (size_t k = 0; k < st->ndeps; k++) {
                if (wave[st->deps[k]] + 1 > wave[i])
                    wave[i] = wave[st->deps[k]] + 1;
                if (finish[st->deps[k]] > start)
                    start = finish[st->deps[k]];
                if (known[st->deps[k]] > kstart)
                    kstart = known[st->deps[k]];
            }
            long long est;
            json_t *sj = step_json(r, entries, st, &est);
            finish[i] = start + est;
            if (finish[i] > critical)
                critical = finish[i];
            /* the same path with only estimates from history */
            bool from_history = measured(json_string_value(json_object_get(sj, "estimate_source")));
            known[i] = kstart + (from_history ? est : 0);
            if (known[i] > known_critical)
                known_critical = known[i];
            if (est > 0 && !from_history)
                json_array_append_new(no_history, json_string(st->id));
            json_object_set_new(sj, "wave", json_integer(wave[i] + 1));
            if (wave[i] + 1 > waves)
                waves = wave[i] + 1;
            json_array_append_new(steps, sj);
        }
        json_t *w = json_array();
        for (int k = 0; k < waves; k++)
            json_array_append_new(w, json_array());
        size_t i;
        json_t *sj;
        json_array_foreach(steps, i, sj)
        {
            json_array_append(json_array_get(w, (size_t)wave[i]), sj);
        }
        json_decref(steps);
        free(wave);
        free(finish);
        free(known);
        total += critical;
        known_total += known_critical;
        json_array_append_new(stages, json_pack("{s:s, s:I, s:o}", "name", rune_stage_names[s],
                                                "estimate_ms", (json_int_t)critical, "waves", w));
    }
    json_decref(entries);
    bool undecided = json_array_size(r->undecided) > 0;
    json_t *p = json_pack(
        "{s:s, s:s, s:s, s:s, s:b, s:o, s:s, s:o, s:s, s:I, s:I, s:o}", "runbook", rb->name,
        "runbook_sha256", rb->sha256, "incident", r->incident, "mode", "dry-run", "probe",
        r->o->probe, "stages", stages, "outcome", undecided ? "undecided" : outcome, "exit_code",
        undecided ? json_null() : json_integer(exit_code), "reason", why, "estimate_ms",
        (json_int_t)total, "estimate_known_ms", (json_int_t)known_total, "no_history", no_history);
    if (undecided) {
        json_object_set(p, "undecided_on", r->undecided);
        json_object_set_new(p, "otherwise",
                            json_pack("{s:s, s:i}", "outcome", outcome, "exit_code", exit_code));
    }
    if (rb->rto_ms > 0) {
        /* only history can exceed the RTO: a timeout is a bound, not an
         * estimate, and every new runbook's first plan would warn */
        json_object_set_new(p, "rto_ms", json_integer(rb->rto_ms));
        json_object_set_new(p, "rto_exceeded", json_boolean(known_total > rb->rto_ms));
    }
    return p;
}

static void line(FILE *out, const char *label, const char *text)
{
    if (text && *text)
        fprintf(out, "        %s%s\n", label, text);
}

/* A step's estimate and its basis, for people: "4.1s (size 1.00 GiB at
 * 85.2 MiB/s measured over 3 runs)", "12s (median of 4 real runs)",
 * "unknown: no history yet (at most its timeout, 1h00m)". */
static void estimate_text(json_t *s, char *buf, size_t len)
{
    char d[32], size[48], rate[48];
    long long est = json_integer_value(json_object_get(s, "estimate_ms"));
    const char *src = json_string_value(json_object_get(s, "estimate_source"));
    long long runs = json_integer_value(json_object_get(s, "history_runs"));
    json_t *work = json_object_get(s, "work_size");
    int unit = rune_unit_parse(json_string_value(json_object_get(s, "work_unit")));
    if (json_is_integer(work) && unit >= 0)
        rune_meter_amount(json_integer_value(work), (enum rune_unit)unit, size, sizeof size);
    rune_duration_str(est, d, sizeof d);
    if (!strcmp(src, "size")) {
        long long n = json_integer_value(json_object_get(s, "throughput_runs"));
        snprintf(
            buf, len, "%s (size %s at %s measured over %lld runs of %s on this host)", d, size,
            rune_meter_rate_str((double)json_integer_value(json_object_get(s, "throughput_per_s")),
                                (enum rune_unit)unit, rate, sizeof rate),
            n, json_string_value(json_object_get(s, "uses")));
    } else if (!strcmp(src, "history") && json_is_integer(work) && unit >= 0) {
        snprintf(buf, len,
                 "%s (median of %lld real runs; size %s, but no throughput measured "
                 "for it on this host yet)",
                 d, runs, size);
    } else if (!strcmp(src, "history")) {
        snprintf(buf, len, "%s (median of %lld real runs)", d, runs);
    } else {
        snprintf(buf, len, "unknown: no history yet (at most its timeout, %s)", d);
    }
}

void rune_plan_print(json_t *plan, FILE *out)
{
    char d1[32], d2[32];
    size_t i;
    json_t *stage;
    fprintf(out, "\nplan of %s (simulated — nothing was changed)\n",
            json_string_value(json_object_get(plan, "runbook")));
    json_array_foreach(json_object_get(plan, "stages"), i, stage)
    {
        fprintf(out, "\n== %s ==  estimate %s (critical path)\n",
                json_string_value(json_object_get(stage, "name")),
                rune_duration_str(json_integer_value(json_object_get(stage, "estimate_ms")), d1,
                                  sizeof d1));
        size_t k;
        json_t *wave;
        json_array_foreach(json_object_get(stage, "waves"), k, wave)
        {
            fprintf(out, "  wave %zu%s\n", k + 1,
                    json_array_size(wave) > 1 ? " (in parallel)" : "");
            size_t m;
            json_t *s;
            json_array_foreach(wave, m, s)
            {
                enum rune_event_status status =
                    rune_event_status_parse(json_string_value(json_object_get(s, "status")));
                bool sim = json_is_true(json_object_get(s, "simulated"));
                const char *shown = status == RUNE_ST_OK ? (sim ? "would run" : "ran (reads)")
                                    : status == RUNE_ST_UNDECIDED ? "undecided"
                                    : status == RUNE_ST_FAILED    ? "would FAIL"
                                    : status == RUNE_ST_SKIPPED   ? "skipped"
                                                                  : "would not run";
                fprintf(out, "    %-22s %-24s %-6s %s\n",
                        json_string_value(json_object_get(s, "id")),
                        json_string_value(json_object_get(s, "uses")),
                        json_string_value(json_object_get(s, "effect")), shown);
                json_t *host = json_object_get(s, "host");
                if (host) {
                    const char *via = json_string_value(json_object_get(host, "via"));
                    fprintf(out, "        on %s%s%s%s\n",
                            json_string_value(json_object_get(host, "target")), via ? " (" : "",
                            via ? via : "", via ? ")" : "");
                }
                line(out, "", json_string_value(json_object_get(s, "plan")));
                line(out, "undecided: ", json_string_value(json_object_get(s, "undecided")));
                line(out, "error: ", json_string_value(json_object_get(s, "error")));
                line(out, "when: ", json_string_value(json_object_get(s, "when")));
                char est_text[320];
                estimate_text(s, est_text, sizeof est_text);
                fprintf(out, "        timeout %s · on failure: %s%s · estimate %s\n",
                        rune_duration_str(json_integer_value(json_object_get(s, "timeout_ms")), d2,
                                          sizeof d2),
                        json_string_value(json_object_get(s, "on_failure")),
                        json_is_true(json_object_get(s, "approval")) ? " · asks for approval" : "",
                        est_text);
            }
        }
    }
    long long total = json_integer_value(json_object_get(plan, "estimate_ms"));
    long long known = json_integer_value(json_object_get(plan, "estimate_known_ms"));
    json_t *fresh = json_object_get(plan, "no_history");
    size_t nfresh = json_array_size(fresh);
    fprintf(out, "\nestimate: %s", rune_duration_str(total, d1, sizeof d1));
    if (nfresh) {
        fprintf(out, " — %zu step%s with no history yet, counted at %s timeout (", nfresh,
                nfresh == 1 ? "" : "s", nfresh == 1 ? "its" : "their");
        for (size_t k = 0; k < nfresh && k < 5; k++)
            fprintf(out, "%s%s", k ? ", " : "", json_string_value(json_array_get(fresh, k)));
        fprintf(out, "%s); from history alone: %s", nfresh > 5 ? ", …" : "",
                rune_duration_str(known, d2, sizeof d2));
    }
    json_t *rto = json_object_get(plan, "rto_ms");
    if (rto) {
        fprintf(out, "\nRTO %s: ", rune_duration_str(json_integer_value(rto), d2, sizeof d2));
        if (json_is_true(json_object_get(plan, "rto_exceeded")))
            fputs("WARNING: over the RTO on history alone", out);
        else if (nfresh && total > json_integer_value(rto))
            fputs("not known yet: within it on history, but steps without history could take "
                  "up to their timeouts; a drill (a real run) gives them a history",
                  out);
        else
            fputs("within it", out);
    }
    json_t *on = json_object_get(plan, "undecided_on");
    if (json_array_size(on)) {
        fputs("\npredicted outcome: undecided — it depends on data a dry-run does not have:", out);
        size_t k;
        json_t *u;
        json_array_foreach(on, k, u)
        {
            const char *dep = json_string_value(json_object_get(u, "on"));
            fprintf(out,
                    "\n  step %s would fail if it ran; whether it runs depends on the "
                    "outputs of step %s",
                    json_string_value(json_object_get(u, "step")), dep ? dep : "?");
        }
        json_t *other = json_object_get(plan, "otherwise");
        fprintf(out, "\n  if it does not run: %s, a real run would exit %d (%s)\n",
                json_string_value(json_object_get(other, "outcome")),
                (int)json_integer_value(json_object_get(other, "exit_code")),
                json_string_value(json_object_get(plan, "reason")));
        return;
    }
    fprintf(out, "\npredicted outcome: %s — a real run would exit %d (%s)\n",
            json_string_value(json_object_get(plan, "outcome")),
            (int)json_integer_value(json_object_get(plan, "exit_code")),
            json_string_value(json_object_get(plan, "reason")));
}
