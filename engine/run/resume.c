/*
 * resume.c — what `rune resume` adds to a run (resume.h): the replay of
 * the log's events, and the steps taken before anything runs again —
 * questions about the steps that were running when rune died, ending the
 * dead run's children, and recording the takeover.
 */
#include "resume.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "exitcode.h"
#include "procinfo.h"
#include "record_read.h"
#include "report.h"
#include "runstate.h"

#define GRACE_MS 2000   /* SIGTERM to SIGKILL, as for a step's deadline */
#define KILLED_MS 10000 /* how long a SIGKILLed group may take to go */

static int stage_of(const char *name)
{
    for (int s = 0; name && s < RUNE_NSTAGES; s++)
        if (!strcmp(rune_stage_names[s], name))
            return s;
    return -1;
}

static struct rune_replay_step *by_name(struct rune_replay *rp, const char *stage, const char *step)
{
    int s = stage_of(stage);
    for (size_t i = 0; step && i < rp->n; i++)
        if ((int)rp->steps[i].st->stage == s && !strcmp(rp->steps[i].st->id, step))
            return &rp->steps[i];
    return NULL;
}

struct rune_replay_step *rune_replay_find(struct rune_replay *rp, const struct rune_stepdef *st)
{
    for (size_t i = 0; rp && i < rp->n; i++)
        if (rp->steps[i].st == st)
            return &rp->steps[i];
    return NULL;
}

/* A step attempt's end, as the log has it. An attempt that failed with
 * attempts left was waiting to retry: the step has not ended. */
static void step_end(struct rune_replay_step *rs, const struct rune_rec_event *e)
{
    if (e->attempt == rs->last_attempt)
        rs->open = false;
    if (e->status == RUNE_ST_ABANDONED) {
        rs->abandoned++;
        return;
    }
    json_decref(rs->outputs);
    free(rs->error);
    rs->outputs = e->outputs ? json_incref(e->outputs) : NULL;
    rs->error = e->error ? strdup(e->error) : NULL;
    rs->duration_ms = e->duration_ms == RUNE_REC_NONE ? 0 : e->duration_ms;
    rs->status = e->status;
    bool retry = (e->status == RUNE_ST_FAILED || e->status == RUNE_ST_TIMEOUT) &&
                 e->attempt < rs->st->retry.attempts + rs->abandoned;
    rs->ended = !retry;
}

static void replay_event(struct rune_replay *rp, const struct rune_rec_event *e)
{
    struct rune_replay_step *rs = by_name(rp, e->stage, e->step);
    int s = stage_of(e->stage);

    if (e->at)
        snprintf(rp->last_at, sizeof rp->last_at, "%s", e->at);
    switch (e->kind) {
    case RUNE_EV_INCIDENT_START:
        if (e->workdir && !rp->workdir)
            rp->workdir = strdup(e->workdir);
        break;
    case RUNE_EV_STAGE_START:
        if (s >= 0)
            rp->stage_started[s] = true;
        break;
    case RUNE_EV_STAGE_END:
        if (s >= 0)
            rp->stage_ended[s] = true;
        break;
    case RUNE_EV_STAGE_SKIP:
        if (s >= 0)
            rp->stage_skipped[s] = true;
        break;
    case RUNE_EV_STEP_START:
        if (rs && e->attempt > 0) {
            rs->last_attempt = (int)e->attempt;
            rs->open = true;
            rs->ended = false;
        }
        break;
    case RUNE_EV_STEP_END:
        if (rs)
            step_end(rs, e);
        break;
    case RUNE_EV_STEP_SKIP:
        if (rs) {
            rs->ended = true;
            rs->open = false;
            rs->status = e->status;
        }
        break;
    case RUNE_EV_INCIDENT_DECISION:
        rp->decision = e->incident;
        break;
    case RUNE_EV_SEVERITY:
        free(rp->severity);
        rp->severity = e->severity ? strdup(e->severity) : NULL;
        break;
    default:
        break;
    }
}

int rune_replay_load(struct rune_replay *rp, const struct rune_runbook *rb, json_t *inc, char *err,
                     size_t errlen)
{
    size_t total = 0, k = 0, i;
    json_t *ev;
    struct rune_rec_event e;

    memset(rp, 0, sizeof *rp);
    rp->decision = -1;
    for (int s = 0; s < RUNE_NSTAGES; s++)
        total += rb->stages[s].n;
    rp->steps = calloc(total ? total : 1, sizeof *rp->steps);
    if (!rp->steps) {
        snprintf(err, errlen, "no memory for the replay of %zu steps; free memory on this host",
                 total);
        return -1;
    }
    for (int s = 0; s < RUNE_NSTAGES; s++)
        for (size_t n = 0; n < rb->stages[s].n; n++)
            rp->steps[k++].st = &rb->stages[s].steps[n];
    rp->n = total;
    json_array_foreach(json_object_get(inc, "events"), i, ev)
    {
        rune_record_decode(ev, &e);
        replay_event(rp, &e);
    }
    return 0;
}

void rune_replay_free(struct rune_replay *rp)
{
    for (size_t i = 0; i < rp->n; i++) {
        json_decref(rp->steps[i].outputs);
        free(rp->steps[i].error);
    }
    free(rp->steps);
    free(rp->severity);
    free(rp->workdir);
    memset(rp, 0, sizeof *rp);
}

/* ---- Before anything runs again ---- */

/* Running it again does no harm: the runbook says so, or its type
 * declares it, or the type only reads or computes. */
static bool rerun_safe(const struct rune_stepdef *st)
{
    if (st->idempotent >= 0)
        return st->idempotent;
    return st->type && !st->lua && (st->type->idempotent || st->type->effect != RUNE_WRITES);
}

/* Asks about every step that was running when rune died and is not safe
 * to run again. Returns false when one was not approved. */
static bool approve_reruns(struct rune_run *r, json_t *rerun)
{
    struct rune_replay *rp = r->replay;
    for (size_t i = 0; i < rp->n; i++) {
        struct rune_replay_step *rs = &rp->steps[i];
        if (!rs->open)
            continue;
        json_array_append_new(rerun, json_string(rs->st->id));
        if (rerun_safe(rs->st))
            continue;
        char q[512];
        snprintf(q, sizeof q,
                 "step \"%s\" (%s) was running when rune died (attempt %d); what it did is not "
                 "known. Run it again?",
                 rs->st->id, rs->st->uses ? rs->st->uses : "lua", rs->last_attempt);
        if (!rune_approve(r, rune_stage_names[rs->st->stage], rs->st->id, q))
            return false;
    }
    return true;
}

static void nap(long long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits up to ms for the group to have no member left. */
static bool group_gone(pid_t pgid, const char *start, long long ms)
{
    long long end = rune_clock_mono_ms() + ms;
    pid_t pids[1];
    for (;;) {
        if (rune_procinfo_group(pgid, start, pids, 1) == 0)
            return true;
        if (rune_clock_mono_ms() >= end)
            return false;
        nap(20);
    }
}

/* Ends every child of the dead run that is still alive: SIGTERM to its
 * process group, SIGKILL after GRACE_MS; the run goes on only when none is
 * left, so no step ever runs twice at once. Every child row of the dead
 * run is then marked ended. 0, or -1 (printed). */
static int end_orphans(struct rune_run *r, json_t *ended)
{
    json_t *kids = rune_journal_children(r->j, r->incident), *k;
    size_t i;
    int rc = 0;

    if (!kids) {
        fprintf(stderr, "rune resume: cannot read the children of incident %s: %s\n", r->incident,
                rune_journal_error(r->j));
        return -1;
    }
    json_array_foreach(kids, i, k)
    {
        pid_t pgid = (pid_t)json_integer_value(json_object_get(k, "pid"));
        const char *start = json_string_value(json_object_get(k, "start"));
        const char *step = json_string_value(json_object_get(k, "step"));
        const char *prog = json_string_value(json_object_get(k, "program"));
        pid_t one[1];
        if (rune_procinfo_group(pgid, start, one, 1) > 0) {
            rune_console_alert(r->con,
                               "ending what the dead run left running: step %s (%s), process "
                               "group %d",
                               step ? step : "-", prog ? prog : "?", (int)pgid);
            kill(-pgid, SIGTERM);
            if (!group_gone(pgid, start, GRACE_MS)) {
                kill(-pgid, SIGKILL);
                if (!group_gone(pgid, start, KILLED_MS)) {
                    fprintf(stderr,
                            "rune resume: cannot end process group %d (step %s) of the dead "
                            "run: %s; end it (kill -KILL -- -%d) and resume again; nothing was "
                            "run\n",
                            (int)pgid, step ? step : "-", strerror(errno), (int)pgid);
                    rc = -1;
                    break;
                }
            }
            json_array_append_new(ended, json_pack("{s:s?, s:i, s:s?}", "step", step, "pid",
                                                   (int)pgid, "program", prog));
        }
        rune_journal_child(r->j, r->incident, NULL, 0, pgid, start, NULL, true);
    }
    json_decref(kids);
    return rc;
}

/* Milliseconds from an ISO time to now, or 0. */
static long long since(const char *iso)
{
    long long t = rune_report_iso_ms(iso);
    return t >= 0 ? rune_clock_wall_ms() - t : 0;
}

int rune_resume_begin(struct rune_run *r)
{
    struct rune_replay *rp = r->replay;
    json_t *rerun = json_array(), *ended = json_array();
    char host[256] = "unknown";
    int rc = RUNE_EXIT_OK;

    gethostname(host, sizeof host);
    if (!approve_reruns(r, rerun)) {
        fprintf(stderr,
                "rune resume: not resumed: running a step again was not approved; nothing was "
                "run and what the dead run left is as it was (`rune log show %s`)\n",
                r->incident);
        rc = RUNE_EXIT_ABORTED;
        goto out;
    }
    if (end_orphans(r, ended) != 0) {
        rc = RUNE_EXIT_INTERNAL;
        goto out;
    }
    rune_record_resume(&r->rec,
                       &(struct rune_resume_rec){r->o->operator_name, getpid(), host,
                                                 rp->last_at[0] ? rp->last_at : NULL,
                                                 since(rp->last_at), rp->dead_pid, ended, rerun});
    for (size_t i = 0; i < rp->n; i++) {
        struct rune_replay_step *rs = &rp->steps[i];
        char why[256];
        if (!rs->open)
            continue;
        snprintf(why, sizeof why, "rune (pid %lld) died during this attempt; resumed by %s",
                 rp->dead_pid, r->o->operator_name);
        rune_record_step_end(&r->rec,
                             &(struct rune_attempt_end){.stage = rune_stage_names[rs->st->stage],
                                                        .step = rs->st->id,
                                                        .uses = rs->st->uses,
                                                        .attempt = rs->last_attempt,
                                                        .status = RUNE_ST_ABANDONED,
                                                        .error = why});
        rs->abandoned++;
        rs->open = false;
        rune_console_info(r->con, "step %s was running when rune died: running it again",
                          rs->st->id);
    }
    rune_record_sync(&r->rec); /* the abandoned ends, before anything runs again */
out:
    json_decref(rerun);
    json_decref(ended);
    return rc;
}
