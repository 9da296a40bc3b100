/*
 * run.c — the life of one run: what it is given, its lock, its incident
 * record, the stages in their fixed order, and the outcome.
 *
 * Stage semantics (docs/runbook-format.md):
 *  - detection runs; `incident_if` false ends the run as no_incident
 *    (unless --force) before anything is changed;
 *  - impact sets the severity and runs its steps;
 *  - a mitigation or verification failure under `rollback`, a declined
 *    approval, or Ctrl-C runs the rollback stage;
 *  - the outcome maps to a stable exit code.
 */
#include "run.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "duration.h"
#include "exitcode.h"
#include "inputs.h"
#include "lock.h"
#include "logtarget.h"
#include "params.h"
#include "plan.h"
#include "procinfo.h"
#include "record.h"
#include "report.h"
#include "resume.h"
#include "ssh.h"
#include "targets.h"
#include "template_report.h"
#include "workdir.h"

atomic_int rune_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&rune_interrupted, 1);
}

enum outcome { RESOLVED, NO_INCIDENT, ROLLED_BACK, FAILED, ABORTED };
/* Where work directories and locks live: beside the local log (a shared
 * log's is the default local one; rune test gives only log_path). */
static const char *state_path(const struct rune_run_opts *o)
{
    return o->state_path ? o->state_path : o->log_path;
}

static const enum rune_event_status outcome_status[] = {
    RUNE_ST_RESOLVED, RUNE_ST_NO_INCIDENT, RUNE_ST_ROLLED_BACK, RUNE_ST_FAILED, RUNE_ST_ABORTED};
static const int outcome_exit[] = {RUNE_EXIT_OK, RUNE_EXIT_OK, RUNE_EXIT_ROLLED_BACK,
                                   RUNE_EXIT_FAILED, RUNE_EXIT_ABORTED};

static enum rune_stage_result run_stage(struct rune_run *r, enum rune_stage_id s, int *failed)
{
    const char *name = rune_stage_names[s];
    const struct rune_stagedef *sd = &r->rb->stages[s];
    char note[64];
    snprintf(note, sizeof note, "%zu step%s", sd->n, sd->n == 1 ? "" : "s");
    rune_console_stage(r->con, name, note);
    /* resuming: what the log has already is not recorded twice */
    if (!r->replay || !r->replay->stage_started[s])
        rune_record_stage_start(&r->rec, name);
    long long t0 = rune_clock_mono_ms();
    enum rune_stage_result res = rune_sched_stage(r, s, failed);
    static const enum rune_event_status res_status[] = {
        RUNE_ST_OK, RUNE_ST_ABORTED, RUNE_ST_ROLLBACK, RUNE_ST_DECLINED, RUNE_ST_INTERRUPTED};
    if (!r->replay || !r->replay->stage_ended[s])
        rune_record_stage_end(&r->rec, name,
                              res == RUNE_STAGE_OK && *failed ? RUNE_ST_OK_WITH_FAILURES
                                                              : res_status[res],
                              rune_clock_mono_ms() - t0, *failed);
    return res;
}

static void skip_stage(struct rune_run *r, enum rune_stage_id s, const char *reason)
{
    if (!r->rb->stages[s].present || (r->replay && r->replay->stage_skipped[s]))
        return;
    rune_record_stage_skip(&r->rec, rune_stage_names[s], reason);
}

/* incident_if / severity / lock, evaluated between stages. */
static json_t *eval_node(struct rune_run *r, const struct rune_node *n, char *err, size_t len)
{
    pthread_mutex_lock(&r->mu);
    r->expr_deadline_ms = rune_clock_mono_ms() + RUNE_EXPR_TIMEOUT_MS;
    json_t *v = rune_run_eval_node(r, n, err, len);
    pthread_mutex_unlock(&r->mu);
    return v;
}

static void fill_ctx(struct rune_run *r, json_t *inputs, json_t *secrets, long long started)
{
    char at[RUNE_ISO_LEN];
    rune_clock_iso(at, started);
    json_t *steps = json_object();
    for (int s = 0; s < RUNE_NSTAGES; s++)
        for (size_t i = 0; i < r->rb->stages[s].n; i++)
            json_object_set_new(steps, r->rb->stages[s].steps[i].id,
                                json_pack("{s:s, s:b, s:{}, s:n, s:i, s:i}", "status",
                                          rune_event_status_name(RUNE_ST_PENDING), "failed", 0,
                                          "outputs", "error", "duration", 0, "attempts", 0));
    /* where the runbook lives, so it can name files shipped beside it */
    char abs[PATH_MAX], dir[PATH_MAX];
    if (!realpath(r->rb->path, abs))
        snprintf(abs, sizeof abs, "%s", r->rb->path);
    snprintf(dir, sizeof dir, "%s", abs);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    r->ctx = json_pack("{s:o, s:o, s:o, s:{s:s, s:n, s:s}, s:{}, s:{s:s, s:s, s:s}, s:{s:s}}",
                       "inputs", inputs, "secrets", secrets, "steps", steps, "incident", "id",
                       r->incident, "severity", "started_at", at, "targets", "runbook", "name",
                       r->rb->name, "path", abs, "dir", dir, "run", "workdir", r->workdir);
}

/* ${run.workdir}: scratch space no other user can reach, instead of a
 * fixed name in /tmp. A dry-run creates nothing: expressions see the path
 * a run would get, its random part shown as XXXXXX. */
static int make_workdir(struct rune_run *r)
{
    struct stat sb;
    const char *dead = r->replay ? r->replay->workdir : NULL;
    if (dead && lstat(dead, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == geteuid() &&
        (sb.st_mode & 077) == 0) {
        /* resuming: the dead run's directory, with what its steps left in
         * it; removed or kept at the end like any run's (workdir_made is
         * set once the resume goes ahead, so a refused one leaves it) */
        snprintf(r->workdir, sizeof r->workdir, "%s", dead);
        return 0;
    }
    if (r->o->dry_run) {
        rune_workdir_placeholder(state_path(r->o), r->incident, r->workdir, sizeof r->workdir);
        return 0;
    }
    char err[1024];
    if (rune_workdir_create(state_path(r->o), r->incident, r->workdir, sizeof r->workdir, err,
                            sizeof err) != 0) {
        fprintf(stderr, "rune: cannot make the run's work directory: %s; nothing was run\n", err);
        return -1;
    }
    r->workdir_made = true;
    return 0;
}

/* At the end of a run that executed: the work directory is removed,
 * unless --keep-workdir, or the run did not resolve — then what it holds
 * (a damaged database, a half-made copy) is evidence for whoever looks
 * next. What became of it goes into note, for the console after the
 * outcome line. Returns whether it is still there. */
static bool finish_workdir(struct rune_run *r, bool resolved, char *note, size_t len)
{
    note[0] = '\0';
    if (!r->workdir_made)
        return false;
    r->workdir_made = false;
    const char *why = NULL;
    if (r->o->keep_workdir)
        why = "--keep-workdir";
    else if (!resolved)
        why = "the run did not resolve";
    if (why) {
        snprintf(note, len, "work directory kept (%s): %s; remove it when done", why, r->workdir);
        return true;
    }
    char err[1024];
    if (rune_workdir_remove(r->workdir, err, sizeof err) == 0)
        return false;
    snprintf(note, len, "warning: the work directory was not removed: %s", err);
    return true;
}

/* Where the run's locks live (lock.h): in the database of the log the
 * run records in (taken once it is open), or as files beside the local
 * log — also when --offline fell back to the local log, which is said. */
static struct rune_lock_place lock_place(struct rune_run *r, char *dir, size_t len)
{
    snprintf(dir, len, "%s", state_path(r->o));
    char *d = dirname(dir);
    memmove(dir, d, strlen(d) + 1);
    strncat(dir, "/locks", len - strlen(dir) - 1);
    bool shared = r->j && rune_journal_is_shared(rune_journal_path(r->j));
    return (struct rune_lock_place){shared ? r->o->log_path : NULL, dir, r->host,
                                    r->o->operator_name, r->o->offline};
}

/* The lock of a run that fell back to the local log (--offline). */
static void say_local(struct rune_run *r, const struct rune_lock_place *at, const char *name)
{
    if (at->log || !rune_journal_is_shared(r->o->log_path))
        return;
    char *shown = rune_redact(&r->red, name);
    fprintf(stderr,
            "rune: --offline: lock \"%s\" is taken on this host only; a run on another host is "
            "not kept out\n",
            shown ? shown : "");
    free(shown);
}

/* Lock name may use ${inputs...}. */
static int take_lock(struct rune_run *r, struct rune_lock **l)
{
    *l = NULL;
    if (!r->rb->lock)
        return RUNE_EXIT_OK;
    char err[1024];
    struct rune_eval ev = rune_run_evaluator(r);
    struct rune_mark where = r->rb->lock->mark;
    pthread_mutex_lock(&r->mu);
    r->expr_deadline_ms = rune_clock_mono_ms() + RUNE_EXPR_TIMEOUT_MS;
    json_t *name = rune_interp_node(r->rb->lock, &ev, &where, err, sizeof err);
    pthread_mutex_unlock(&r->mu);
    if (json_is_null(name)) {
        /* "${inputs.dir and 'drill/' .. inputs.dir}" without dir: the
         * thing the lock guards was not given, so there is nothing to lock */
        json_decref(name);
        return RUNE_EXIT_OK;
    }
    if (!name || !json_is_string(name)) {
        char *m = rune_redact(&r->red, name ? "must be a string" : err);
        fprintf(stderr, "rune: lock: %s\n", m);
        free(m);
        json_decref(name);
        return RUNE_EXIT_INVALID;
    }
    char dir[4200];
    struct rune_lock_place at = lock_place(r, dir, sizeof dir);
    int rc = rune_lock_take(&at, json_string_value(name), &r->red, r->incident, l, err, sizeof err);
    if (rc == 0)
        say_local(r, &at, json_string_value(name));
    json_decref(name);
    if (rc == 0)
        return RUNE_EXIT_OK;
    fprintf(stderr, "rune: %s\n", err);
    return rc == 1 ? RUNE_EXIT_LOCKED : RUNE_EXIT_INTERNAL;
}

/* Resuming: one rune resume of an incident at a time, whatever the
 * runbook's own lock, so two cannot both take over the dead run. */
static int take_incident_lock(struct rune_run *r, struct rune_lock **l)
{
    char dir[4200], name[64], err[1024];
    struct rune_lock_place at = lock_place(r, dir, sizeof dir);
    snprintf(name, sizeof name, "resume-%s", r->incident);
    int rc = rune_lock_take(&at, name, &r->red, r->incident, l, err, sizeof err);
    if (rc == 0)
        return RUNE_EXIT_OK;
    fprintf(stderr, "rune resume: %s\n", err);
    return rc == 1 ? RUNE_EXIT_LOCKED : RUNE_EXIT_INTERNAL;
}

/* Whether a lock of the run was found lost (message in msg). */
static bool lock_lost(struct rune_run *r, char *msg, size_t len)
{
    return rune_lock_lost(r->lock, msg, len) || rune_lock_lost(r->resume_lock, msg, len);
}

static enum outcome run_rollback(struct rune_run *r, enum outcome if_ok, const char *why)
{
    const struct rune_stagedef *rb = &r->rb->stages[RUNE_ROLLBACK];
    if (!rb->present || rb->n == 0) {
        /* an operator's decision stays the operator's (exit 5); a failure
         * with nothing to undo it must be escalated (exit 4) */
        rune_console_alert(r->con, "%s, and this runbook has no rollback stage%s", why,
                           if_ok == ABORTED ? "" : ": escalate");
        return if_ok == ABORTED ? ABORTED : FAILED;
    }
    char lost[1024];
    if (lock_lost(r, lost, sizeof lost)) {
        /* its steps write too, and another run may hold the lock now:
         * undoing could race it, so the rollback is left to a person */
        skip_stage(r, RUNE_ROLLBACK, "the run lost its lock: not rolled back");
        rune_console_alert(r->con, "%s; not rolled back: %s; escalate", why, lost);
        return FAILED;
    }
    rune_console_alert(r->con, "%s: running the rollback stage", why);
    /* a Ctrl-C that stopped mitigation must not also cancel the undo;
     * pressing it again stops the rollback */
    atomic_store(&rune_interrupted, 0);
    int failed = 0;
    enum rune_stage_result res = run_stage(r, RUNE_ROLLBACK, &failed);
    if (res != RUNE_STAGE_OK || failed) {
        rune_console_alert(r->con, "rollback did not complete (%d step%s failed): escalate", failed,
                           failed == 1 ? "" : "s");
        return FAILED;
    }
    return if_ok;
}

/* The impact stage's severity, evaluated and recorded (a warning when it
 * does not give P0-P3). */
static void judge_severity(struct rune_run *r)
{
    struct rune_runbook *rb = r->rb;
    if (r->replay && r->replay->severity) {
        /* resuming: the severity the dead run judged stands */
        pthread_mutex_lock(&r->mu);
        json_object_set_new(json_object_get(r->ctx, "incident"), "severity",
                            json_string(r->replay->severity));
        pthread_mutex_unlock(&r->mu);
    } else if (rb->stages[RUNE_IMPACT].severity) {
        char err[1024];
        json_t *v = eval_node(r, rb->stages[RUNE_IMPACT].severity, err, sizeof err);
        const char *sev = json_string_value(v);
        if (!sev || strlen(sev) != 2 || sev[0] != 'P' || sev[1] < '0' || sev[1] > '3') {
            rune_console_alert(r->con, "severity: %s", v ? "expected P0, P1, P2 or P3" : err);
        } else {
            pthread_mutex_lock(&r->mu);
            json_object_set(json_object_get(r->ctx, "incident"), "severity", v);
            pthread_mutex_unlock(&r->mu);
            rune_record_severity(&r->rec, sev);
            rune_console_info(r->con, "severity: %s", sev);
        }
        json_decref(v);
    }
}

static enum outcome execute(struct rune_run *r, char *why, size_t whylen)
{
    struct rune_runbook *rb = r->rb;
    int failed = 0;
    enum rune_stage_result res;

    if (rb->stages[RUNE_DETECTION].present) {
        res = run_stage(r, RUNE_DETECTION, &failed);
        if (res == RUNE_STAGE_INTERRUPTED || res == RUNE_STAGE_DECLINED) {
            snprintf(why, whylen, "stopped by the operator during detection");
            return ABORTED;
        }
        if (res != RUNE_STAGE_OK) {
            snprintf(why, whylen, "a detection step failed under on_failure: abort");
            return FAILED;
        }
    }
    const struct rune_node *cond = rb->stages[RUNE_DETECTION].incident_if;
    const char *unknown_step = NULL;
    if (cond && r->replay && r->replay->decision >= 0) {
        /* resuming: the decision the dead run recorded stands */
        if (!r->replay->decision && !r->o->force) {
            for (int s = RUNE_IMPACT; s < RUNE_NSTAGES; s++)
                skip_stage(r, (enum rune_stage_id)s, "no incident");
            snprintf(why, whylen, "detection found no incident");
            return NO_INCIDENT;
        }
    } else if (cond && r->o->dry_run && cond->kind == RUNE_NODE_SCALAR &&
               rune_plan_undecided(r, cond->str, &unknown_step)) {
        /* a dry-run cannot decide: it shows what an incident would bring */
        rune_record_decision(&r->rec, true, r->o->force, unknown_step);
        rune_console_info(r->con,
                          "incident_if undecided (the outputs of step %s are unknown "
                          "in a dry-run): planning as an incident",
                          unknown_step);
    } else if (cond) {
        char err[1024];
        json_t *v = eval_node(r, cond, err, sizeof err);
        if (!v || !json_is_boolean(v)) {
            snprintf(why, whylen, "incident_if: %s", v ? "expected true or false" : err);
            json_decref(v);
            return FAILED;
        }
        bool incident = json_is_true(v);
        json_decref(v);
        rune_record_decision(&r->rec, incident, r->o->force, NULL);
        if (!incident && !r->o->force) {
            rune_console_info(r->con, "incident_if is false: no incident, nothing changed");
            for (int s = RUNE_IMPACT; s < RUNE_NSTAGES; s++)
                skip_stage(r, (enum rune_stage_id)s, "no incident");
            snprintf(why, whylen, "detection found no incident");
            return NO_INCIDENT;
        }
        if (!incident)
            rune_console_info(r->con, "incident_if is false, but --force: going on");
    }
    if (rb->stages[RUNE_IMPACT].present) {
        res = run_stage(r, RUNE_IMPACT, &failed);
        if (res != RUNE_STAGE_OK && rb->job)
            judge_severity(r); /* a job's failed guard is still worth its severity */
        if (res != RUNE_STAGE_OK) {
            for (int s = RUNE_MITIGATION; s < RUNE_NSTAGES; s++)
                skip_stage(r, (enum rune_stage_id)s, "impact stage stopped");
            snprintf(why, whylen, "%s during impact",
                     res == RUNE_STAGE_ABORT ? "a step failed" : "stopped by the operator");
            return res == RUNE_STAGE_ABORT ? FAILED : ABORTED;
        }
    }
    /* severity is judged once the impact steps have measured the impact */
    judge_severity(r);
    for (int s = RUNE_MITIGATION; s <= RUNE_VERIFICATION; s++) {
        if (!rb->stages[s].present)
            continue;
        res = run_stage(r, (enum rune_stage_id)s, &failed);
        if (res == RUNE_STAGE_OK)
            continue;
        if (s == RUNE_MITIGATION)
            skip_stage(r, RUNE_VERIFICATION, "mitigation stopped");
        if (res == RUNE_STAGE_ABORT) {
            skip_stage(r, RUNE_ROLLBACK,
                       lock_lost(r, NULL, 0) ? "the run lost its lock: not rolled back"
                                             : "on_failure: abort (no rollback)");
            snprintf(why, whylen, "a %s step failed under on_failure: abort; not rolled back",
                     rune_stage_names[s]);
            return FAILED;
        }
        bool op = res == RUNE_STAGE_DECLINED || res == RUNE_STAGE_INTERRUPTED;
        snprintf(why, whylen, "%s",
                 op ? (res == RUNE_STAGE_DECLINED ? "the operator declined an approval"
                                                  : "the run was interrupted")
                 : s == RUNE_MITIGATION ? "mitigation failed"
                                        : "verification failed");
        enum outcome o = run_rollback(r, op ? ABORTED : ROLLED_BACK, why);
        if (!rb->stages[RUNE_ROLLBACK].n)
            strncat(why, "; no rollback stage to undo it", whylen - strlen(why) - 1);
        else if (o == FAILED)
            strncat(why, "; rollback did not complete", whylen - strlen(why) - 1);
        else
            strncat(why, "; rolled back", whylen - strlen(why) - 1);
        return o;
    }
    skip_stage(r, RUNE_ROLLBACK, "not needed");
    snprintf(why, whylen, "every stage completed");
    return RESOLVED;
}

static void install_signals(struct sigaction *old_int, struct sigaction *old_term)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, old_int);
    sigaction(SIGTERM, &sa, old_term);
    signal(SIGPIPE, SIG_IGN);
}

int rune_run_runbook(struct rune_runbook *rb, const struct rune_run_opts *o)
{
    struct rune_run r;
    memset(&r, 0, sizeof r);
    r.rb = rb;
    r.o = o;
    rune_redactor_init(&r.red);
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    pthread_mutex_init(&r.prompt, NULL);
    atomic_store(&rune_interrupted, 0);
    r.lua = rune_lua_new();
    r.plan = json_array();
    r.undecided = json_array();
    if (!getcwd(r.cwd, sizeof r.cwd))
        snprintf(r.cwd, sizeof r.cwd, ".");
    if (gethostname(r.host, sizeof r.host) != 0)
        snprintf(r.host, sizeof r.host, "unknown");
    rune_journal_new_id(r.incident);

    int rc = RUNE_EXIT_INTERNAL;
    json_t *inputs = NULL, *shown = NULL, *secrets = NULL;
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_replay replay = {0};
    if (o->resume_id) {
        char rerr[512];
        snprintf(r.incident, sizeof r.incident, "%s", o->resume_id);
        if (rune_replay_load(&replay, rb, o->resume_inc, rerr, sizeof rerr) != 0) {
            fprintf(stderr, "rune resume: %s\n", rerr);
            goto out;
        }
        r.replay = &replay;
    }
    int a = rune_inputs_resolve(rb, o->sets, &inputs, &shown, &r.red, &d);
    int b = rune_secrets_resolve(rb, &secrets, &r.red, &d);
    if (a || b) {
        rune_diags_print(&d, stderr);
        fprintf(stderr, "rune: %zu problem%s with the inputs; nothing was run\n", d.n,
                d.n == 1 ? "" : "s");
        json_decref(inputs);
        json_decref(secrets);
        rc = RUNE_EXIT_INVALID;
        goto out;
    }
    if (make_workdir(&r) != 0) {
        json_decref(inputs);
        json_decref(secrets);
        rc = RUNE_EXIT_INTERNAL;
        goto out;
    }
    long long started = rune_clock_wall_ms();
    if (o->resume_id) { /* the incident started when the dead run did */
        long long t =
            rune_report_iso_ms(json_string_value(json_object_get(o->resume_inc, "started_at")));
        if (t > 0)
            started = t;
    }
    fill_ctx(&r, inputs, secrets, started);
    rune_targets_resolve(&r, &d);
    rune_targets_register_secrets(json_object_get(r.ctx, "targets"), &r.red);
    rune_inputs_mask_shown(&shown, &r.red);
    if (d.n) {
        rune_diags_print(&d, stderr);
        fprintf(stderr, "rune: %zu problem%s with the targets; nothing was run\n", d.n,
                d.n == 1 ? "" : "s");
        rc = RUNE_EXIT_INVALID;
        goto out;
    }
    char err[1024];
    int jrc = rune_journal_open(o->log_path, &r.j, err, sizeof err);
    /* how `rune log` finds this incident again: the log as named (a
     * shared one with its password masked), or the local one offline */
    const char *log_hint = !o->log_flag                          ? NULL
                           : rune_journal_is_shared(o->log_path) ? NULL
                                                                 : o->log_flag;
    if (jrc == RUNE_JOURNAL_UNREACHABLE && o->offline) {
        fprintf(stderr,
                "rune: warning: %s\nrune: --offline: recording in the local log %s instead\n", err,
                state_path(o));
        jrc = rune_journal_open(state_path(o), &r.j, err, sizeof err);
        log_hint = state_path(o);
    } else if (jrc == 0 && o->log_flag && !log_hint) {
        log_hint = rune_journal_path(r.j);
    }
    if (jrc == 0 && (rc = rune_logtarget_check(&r)) != RUNE_EXIT_OK)
        goto out;
    if (jrc != 0) {
        fprintf(stderr, "rune: %s\n", err);
        rc = RUNE_EXIT_INTERNAL;
        goto out;
    }
    /* with a shared log, locks are held on its server, seen by every host */
    rc = take_lock(&r, &r.lock);
    if (rc != RUNE_EXIT_OK)
        goto out;
    if (o->resume_id && (rc = take_incident_lock(&r, &r.resume_lock)) != RUNE_EXIT_OK)
        goto out;
    if (o->dry_run)
        rune_journal_set_lazy(r.j); /* a simulation forces nothing to disk */
    char runner_start[RUNE_START_LEN] = "";
    rune_procinfo_start(0, runner_start); /* how `rune log` knows we are alive */
    struct rune_incident_rec rec = {r.incident,
                                    rb->name,
                                    rb->title,
                                    rb->path,
                                    rb->sha256,
                                    o->dry_run ? "dry-run" : "run",
                                    o->operator_name,
                                    r.host,
                                    shown,
                                    rb->rto_ms / 1000,
                                    rb->rpo_ms / 1000,
                                    started,
                                    getpid(),
                                    runner_start};
    /* two runs in the same second may draw the same id: draw again, and
     * keep ${incident.id} in step with it */
    r.rec = (struct rune_recorder){r.j, r.incident, &r.red, NULL, o->dry_run};
    int begun = 0;
    if (o->resume_id) {
        /* the same incident, now run by this rune — unless another rune
         * resume took it over since it was read (we hold its lock now) */
        struct rune_runner now;
        r.replay->dead_pid = json_integer_value(json_object_get(o->resume_inc, "runner_pid"));
        if (rune_journal_runner(r.j, r.incident, &now) != 0 || now.pid != r.replay->dead_pid) {
            fprintf(stderr,
                    "rune resume: incident %s was taken over by another rune (pid %lld) since "
                    "it was read; see `rune log show %s`\n",
                    r.incident, now.pid, r.incident);
            rc = RUNE_EXIT_INVALID;
            goto out;
        }
        begun = rune_journal_set_runner(r.j, r.incident, getpid(), runner_start);
    }
    for (int tries = 0;
         !o->resume_id && (begun = rune_record_begin(&r.rec, &rec)) == 1 && tries < 16; tries++) {
        rune_journal_new_id(r.incident);
        json_object_set_new(json_object_get(r.ctx, "incident"), "id", json_string(r.incident));
        rune_lock_holder(r.lock, r.incident);
    }
    if (begun != 0) {
        fprintf(stderr, "rune: cannot record the incident: %s\n", rune_journal_error(r.j));
        rc = RUNE_EXIT_INTERNAL;
        goto out;
    }
    /* --json keeps stdout for the plan alone */
    r.con = rune_console_new(o->json ? stderr : stdout, o->live && !o->json, o->quiet || o->json,
                             o->color && !o->json);
    rune_console_set_redactor(r.con, &r.red);
    rune_console_set_progress(r.con, (enum rune_progress_mode)o->progress, o->progress_interval_ms,
                              stderr, r.incident);
    r.rec.con = r.con;
    if (o->resume_id) {
        rc = rune_resume_begin(&r);
        if (rc != RUNE_EXIT_OK)
            goto out;
        r.workdir_made = true; /* reused or made: this run's now */
    } else {
        rune_record_incident_start(&r.rec, r.cwd, o->jobs, o->operator_name,
                                   r.workdir_made ? r.workdir : NULL, &o->detected);
    }
    rune_console_info(r.con, "rune: %s%s%s · %s %s", rb->name, rb->title ? " — " : "",
                      rb->title ? rb->title : "",
                      o->dry_run     ? "DRY RUN (simulated)"
                      : o->resume_id ? "resuming incident"
                      : rb->job      ? "job"
                                     : "incident",
                      r.incident);
    if (o->dry_run) {
        rune_console_info(r.con, "nothing is changed: steps that write are planned, not run%s",
                          o->probe ? "; steps that only read run (--probe)" : "");
        rune_console_info(r.con, "work directory: none in a dry-run (a run makes %s)", r.workdir);
    } else {
        rune_console_info(r.con, "work directory: %s", r.workdir);
    }

    struct sigaction old_int, old_term;
    install_signals(&old_int, &old_term);
    long long t0 = rune_clock_mono_ms();
    char why[1024] = "";
    enum outcome out = execute(&r, why, sizeof why);
    long long ms = rune_clock_mono_ms() - t0;
    /* the last stage's last writing step's end, on disk before what the
     * run does on its way out (closing masters, removing the workdir) */
    rune_record_sync(&r.rec);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    rune_ssh_free(r.ssh); /* shared ssh connections end with the run, before its workdir */
    r.ssh = NULL;

    rc = outcome_exit[out];
    if (lock_lost(&r, why, sizeof why)) {
        out = FAILED; /* stopped short: what ran stays as it is */
        rc = RUNE_EXIT_LOCKED;
    }
    /* a dry-run whose path depends on outputs nobody has yet predicts no
     * exit code: it names the steps it depends on (the branch where they
     * let the run through is kept in the plan as `otherwise`) */
    enum rune_event_status ended = outcome_status[out];
    if (o->dry_run && json_array_size(r.undecided))
        ended = RUNE_ST_UNDECIDED;
    char wnote[PATH_MAX + 1200] = "";
    int kept = o->dry_run
                   ? -1
                   : finish_workdir(&r, out == RESOLVED || out == NO_INCIDENT, wnote, sizeof wnote);
    rune_record_incident_end(&r.rec, ended, why, rc, kept, ms);
    char el[32];
    if (o->dry_run) {
        /* the plan is the result; the exit code a real run would return is
         * in it, and `rune plan` itself succeeded */
        json_t *plan = rune_plan_build(&r, rune_event_status_name(outcome_status[out]), rc, why);
        if (o->json) {
            char *text = json_dumps(plan, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            char *clean = rune_redact(&r.red, text);
            printf("%s\n", clean);
            free(clean);
            free(text);
        } else {
            rune_plan_print(plan, stdout);
        }
        json_decref(plan);
        rc = RUNE_EXIT_OK;
    } else {
        rune_console_alert(r.con, "outcome: %s (exit %d) — %s, in %s",
                           rune_event_status_name(outcome_status[out]), rc, why,
                           rune_duration_str(ms, el, sizeof el));
        if (wnote[0])
            rune_console_alert(r.con, "%s", wnote);
    }
    rune_console_alert(r.con,
                       "incident %s recorded in %s; `rune log show %s%s%s` for the "
                       "timeline",
                       r.incident, rune_journal_path(r.j), r.incident, log_hint ? " --log " : "",
                       log_hint ? log_hint : "");
    rune_report_after_run_templated(r.j, r.incident, o->reports_dir, r.rb->report_template,
                                    r.rb->path, r.con);
out:
    rune_ssh_free(r.ssh);
    if (r.workdir_made) {
        /* the run stopped before any step: nothing in it is worth keeping */
        char werr[1024];
        if (rune_workdir_remove(r.workdir, werr, sizeof werr) != 0)
            fprintf(stderr, "rune: warning: the work directory was not removed: %s\n", werr);
    }
    rune_console_free(r.con);
    if (r.j)
        rune_journal_close(r.j);
    rune_lock_release(r.lock);
    rune_lock_release(r.resume_lock);
    json_decref(shown);
    json_decref(r.ctx);
    rune_diags_free(&d);
    rune_redactor_free(&r.red);
    rune_lua_free(r.lua);
    json_decref(r.plan);
    json_decref(r.undecided);
    if (r.replay)
        rune_replay_free(r.replay);
    pthread_mutex_destroy(&r.prompt);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    return rc;
}
