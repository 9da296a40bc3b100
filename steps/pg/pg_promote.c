/*
 * pg_promote.c — pg.promote: a standby becomes the primary, without
 * losing what it was sent and without leaving two primaries.
 *
 * In order, stopping at the first refusal:
 *  1. the standby is in recovery, and its replay has reached what it
 *     received (waiting `catch_up` for it, unless replay is paused);
 *     unreplayed WAL, or a lag over max_lag / max_lag_bytes, refuses;
 *  2. the old primary is fenced: a local one (primary_data_dir) is
 *     stopped — fast, immediate if that does not finish — and given a
 *     standby.signal, so that whoever starts it gets a standby in
 *     recovery, never a second primary; one known only over the network
 *     (primary) must not answer, or the promotion is refused;
 *  3. the standby's position is read again (a fast shutdown of the old
 *     primary sends it the last WAL) and judged again;
 *  4. pg_ctl promote as the data directory's owner (data_dir given) or
 *     SELECT pg_promote(), then a wait until it is out of recovery.
 * The recovery point (the last replayed transaction's time before the
 * promotion) goes to the incident record as the RPO's basis.
 */
#include "pg_replication.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgctl.h"

struct promote {
    PGconn *conn;
    char where[512];
    char fenced[1024];
    struct rune_pg_position pos;
};

static int read_pos(struct rune_call *c, struct promote *p)
{
    char err[1024];
    if (rune_pg_position_read(c, p->conn, &p->pos, err, sizeof err) == 0)
        return RUNE_STEP_OK;
    if (rune_call_cancelled(c))
        return rune_pg_cancelled(c);
    return rune_call_fail(c, "reading the WAL position of %s: %s", p->where, err);
}

/* Gives replay up to catch_up to reach the received position; paused
 * replay is not waited for (it will not move). */
static int catch_up(struct rune_call *c, struct promote *p)
{
    long long until = rune_clock_mono_ms() + rune_call_int(c, "catch_up");
    for (;;) {
        int rc = read_pos(c, p);
        if (rc != RUNE_STEP_OK || !p->pos.in_recovery || p->pos.unreplayed == 0 || p->pos.paused ||
            rune_clock_mono_ms() >= until)
            return rc;
        rc = rune_call_sleep(c, 200);
        if (rc != RUNE_STEP_OK) {
            rune_call_fail(c, "stopped while waiting for %s to replay what it received", p->where);
            return rc;
        }
    }
}

static const char *fence_note(const struct promote *p)
{
    return *p->fenced ? p->fenced : "nothing was done to the old primary";
}

/* The refusals of step 1 (and 3), with what to do about each. */
static int judge(struct rune_call *c, const struct promote *p)
{
    const struct rune_pg_position *s = &p->pos;
    json_t *params = rune_call_params(c);
    bool allow = rune_call_bool(c, "allow_unreplayed");
    if (s->unreplayed > 0 && !allow)
        return rune_call_fail(
            c,
            "refusing to promote %s: it received WAL up to %s but replayed only up to %s (%lld "
            "bytes)%s; %s. Let it replay (%s), or set allow_unreplayed: true",
            p->where, s->receive_lsn, s->replay_lsn, s->unreplayed,
            s->paused ? " because replay is paused" : " within catch_up", fence_note(p),
            s->paused ? "SELECT pg_wal_replay_resume()" : "give catch_up more time");
    if (json_is_integer(json_object_get(params, "max_lag_bytes")) &&
        s->unreplayed > rune_call_int(c, "max_lag_bytes"))
        return rune_call_fail(c,
                              "refusing to promote %s: %lld bytes of received WAL are not "
                              "replayed, more than max_lag_bytes (%lld); %s",
                              p->where, s->unreplayed, rune_call_int(c, "max_lag_bytes"),
                              fence_note(p));
    if (json_is_integer(json_object_get(params, "max_lag"))) {
        long long max = rune_call_int(c, "max_lag");
        char lim[32];
        rune_clock_ms_str(max, lim, sizeof lim);
        if (s->lag_s < 0)
            return rune_call_fail(c,
                                  "refusing to promote %s: its replay lag is not known (no "
                                  "transaction replayed since it started, and %lld bytes wait) "
                                  "and max_lag is %s; %s",
                                  p->where, s->unreplayed, lim, fence_note(p));
        if (s->lag_s * 1000.0 > (double)max)
            return rune_call_fail(c,
                                  "refusing to promote %s: its replay lag is %.1fs (last replayed "
                                  "transaction %s, %lld bytes not replayed), over max_lag %s; %s. "
                                  "Let it catch up, or raise max_lag",
                                  p->where, s->lag_s, *s->last_replay ? s->last_replay : "none",
                                  s->unreplayed, lim, fence_note(p));
    }
    return RUNE_STEP_OK;
}

/* ---- fencing ---- */

static const char *field(json_t *t, const char *name)
{
    const char *v = json_string_value(json_object_get(t, name));
    return v && *v ? v : NULL;
}

/* The old primary over the network: it must not answer. */
static int fence_remote(struct rune_call *c, struct promote *p)
{
    json_t *t = rune_call_target(c, "primary");
    const char *keys[8], *vals[8];
    int n = 0;
    const char *pairs[][2] = {
        {"connect_timeout", "5"},   {"dbname", field(t, "conninfo")},
        {"host", field(t, "host")}, {"port", field(t, "port")},
        {"user", field(t, "user")}, {"dbname", field(t, "database")},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i][1]) {
            keys[n] = pairs[i][0];
            vals[n++] = pairs[i][1];
        }
    keys[n] = vals[n] = NULL;
    PGPing ping = PQpingParams(keys, vals, field(t, "conninfo") != NULL);
    char who[256];
    snprintf(who, sizeof who, "target %s (host %s, port %s)", field(t, "name"),
             field(t, "host") ? field(t, "host") : "default",
             field(t, "port") ? field(t, "port") : "default");
    if (ping == PQPING_NO_RESPONSE) {
        snprintf(p->fenced, sizeof p->fenced, "down: %s does not answer", who);
        return RUNE_STEP_OK;
    }
    if (ping == PQPING_NO_ATTEMPT)
        return rune_call_fail(c, "the old primary's %s has invalid connection parameters", who);
    if (rune_call_bool(c, "allow_primary_up")) {
        snprintf(p->fenced, sizeof p->fenced,
                 "NOT fenced: %s still answers (allow_primary_up: true)", who);
        rune_call_note(c, p->fenced);
        return RUNE_STEP_OK;
    }
    return rune_call_fail(c,
                          "refusing to promote %s: the old primary %s still answers%s; two "
                          "primaries would take writes. Stop it (or give primary_data_dir when "
                          "it is local), or set allow_primary_up: true once it is fenced another "
                          "way",
                          p->where, who, ping == PQPING_REJECT ? " (refusing connections)" : "");
}

/* The old primary on this host: stopped and given a standby.signal. */
static int fence_local(struct rune_call *c, struct promote *p, const char *dir)
{
    struct rune_pgctl s;
    int rc = rune_pgctl_open(c, dir, rune_call_str(c, "bin_dir"), &s);
    if (rc != RUNE_STEP_OK)
        goto out;
    char how[32], err[1024];
    rc = rune_pgctl_stop(c, &s, rune_call_int(c, "wait"), how, sizeof how);
    if (rc != RUNE_STEP_OK)
        goto out;
    bool existed = false;
    if (rune_pgctl_put(&s, "standby.signal", "", &existed, err, sizeof err) != 0) {
        rc = rune_call_fail(c,
                            "the old primary %s is stopped (%s) but could not be fenced: %s; "
                            "create standby.signal in it by hand before anything can start it",
                            s.data_dir, how, err);
        goto out;
    }
    bool running = true;
    rc = rune_pgctl_running(c, &s, &running);
    if (rc == RUNE_STEP_OK && running)
        rc = rune_call_fail(c,
                            "the old primary %s runs again after it was stopped (%s): "
                            "something restarts it; stop that first",
                            s.data_dir, how);
    if (rc != RUNE_STEP_OK)
        goto out;
    snprintf(p->fenced, sizeof p->fenced,
             "%s%s; %s: it can only start as a standby (in recovery, read-only)",
             strcmp(how, "not running") ? "stopped " : "", how,
             existed ? "standby.signal was already there" : "standby.signal written into it");
    char note[1400];
    snprintf(note, sizeof note, "old primary %s fenced: %s", s.data_dir, p->fenced);
    rune_call_note(c, note);
    rune_call_log(c, "%s", note);
out:
    rune_pgctl_free(&s);
    return rc;
}

/* ---- promotion ---- */

static int request(struct rune_call *c, struct promote *p)
{
    const char *dir = rune_call_str(c, "data_dir");
    long long wait = rune_call_int(c, "wait");
    char secs[32], err[1024];
    snprintf(secs, sizeof secs, "%lld", wait > 1000 ? (wait + 999) / 1000 : 1);
    if (!dir) {
        const char *param[1] = {secs};
        bool isnull = false;
        char *v = rune_pg_value(c, p->conn, "SELECT pg_promote(true, $1::int)", 1, param, &isnull,
                                err, sizeof err);
        bool ok = v && v[0] == 't';
        free(v);
        if (ok)
            return RUNE_STEP_OK;
        if (rune_call_cancelled(c))
            return rune_pg_cancelled(c);
        return rune_call_fail(c, "SELECT pg_promote() on %s: %s", p->where,
                              *err ? err : "the promotion did not finish within wait");
    }
    struct rune_pgctl s;
    int rc = rune_pgctl_open(c, dir, rune_call_str(c, "bin_dir"), &s);
    if (rc == RUNE_STEP_OK) {
        const char *args[] = {"promote", "-D", s.data_dir, "-w", "-t", secs, NULL};
        struct rune_proc pr;
        if (rune_pgctl_spawn(c, &s, "pg_ctl", args, NULL, 0, &pr) != 0) {
            rc = RUNE_STEP_FAILED;
        } else {
            if (pr.exit_code != 0)
                rc = rune_pgctl_failed(c, &s, "pg_ctl promote", &pr);
            rune_proc_release(&pr);
        }
    }
    rune_pgctl_free(&s);
    return rc;
}

static int wait_out_of_recovery(struct rune_call *c, struct promote *p)
{
    long long until = rune_clock_mono_ms() + rune_call_int(c, "wait");
    for (;;) {
        int rc = read_pos(c, p);
        if (rc != RUNE_STEP_OK || !p->pos.in_recovery)
            return rc;
        if (rune_clock_mono_ms() >= until) {
            char w[32];
            return rune_call_fail(c,
                                  "%s was asked to promote but is still in recovery after %s; "
                                  "look at its server log",
                                  p->where,
                                  rune_clock_ms_str(rune_call_int(c, "wait"), w, sizeof w));
        }
        rc = rune_call_sleep(c, 100);
        if (rc != RUNE_STEP_OK)
            return rc;
    }
}

/* Steps 1 to 3: the standby is ready and the old primary cannot write. */
static int prepare(struct rune_call *c, struct promote *p)
{
    int rc = catch_up(c, p);
    if (rc != RUNE_STEP_OK)
        return rc;
    if (!p->pos.in_recovery)
        return rune_call_fail(c,
                              "%s is not in recovery: it is a primary already (timeline %d); "
                              "nothing to promote — check that the target is the standby",
                              p->where, p->pos.timeline);
    if ((rc = judge(c, p)) != RUNE_STEP_OK)
        return rc;
    const char *old = rune_call_str(c, "primary_data_dir");
    if (old)
        rc = fence_local(c, p, old);
    if (rc == RUNE_STEP_OK && rune_call_target(c, "primary"))
        rc = fence_remote(c, p);
    if (rc != RUNE_STEP_OK || !*p->fenced)
        return rc;
    /* the old primary's last WAL (a fast shutdown sends it) is replayed too */
    if ((rc = catch_up(c, p)) != RUNE_STEP_OK)
        return rc;
    return judge(c, p);
}

/* What the promoted server replayed last. Once recovery ended,
 * pg_last_wal_replay_lsn() and pg_last_xact_replay_timestamp() stay at
 * the last record and transaction applied, which includes WAL replayed
 * during the promotion itself (allow_unreplayed); before, as read just
 * ahead of the request, when they are not there. */
static const char *recovery_point(const struct promote *p, const struct rune_pg_position *before)
{
    return *p->pos.last_replay ? p->pos.last_replay : before->last_replay;
}

static void set_outputs(struct rune_call *c, const struct promote *p,
                        const struct rune_pg_position *before, long long waited)
{
    json_t *o = rune_call_outputs(c);
    const char *rp = recovery_point(p, before);
    json_object_set_new(o, "promoted", json_true());
    json_object_set_new(o, "timeline", json_integer(p->pos.timeline));
    json_object_set_new(o, "lsn",
                        json_string(*p->pos.replay_lsn ? p->pos.replay_lsn : before->replay_lsn));
    json_object_set_new(o, "recovery_point", *rp ? json_string(rp) : json_null());
    json_object_set_new(o, "lag_seconds",
                        before->lag_s < 0 ? json_null() : json_real(before->lag_s));
    json_object_set_new(o, "lag_bytes", json_integer(before->unreplayed));
    json_object_set_new(o, "fenced",
                        json_string(*p->fenced ? p->fenced
                                               : "not fenced: no old "
                                                 "primary given"));
    json_object_set_new(o, "waited_ms", json_integer(waited));
}

int rune_pg_promote_run(struct rune_call *c)
{
    struct promote p = {0};
    char err[1024];
    const char *dir = rune_call_str(c, "data_dir"), *old = rune_call_str(c, "primary_data_dir");
    if (dir && old && !strcmp(dir, old))
        return rune_call_fail(c,
                              "data_dir and primary_data_dir are both %s: the standby cannot "
                              "fence itself",
                              dir);
    p.conn = rune_pg_connect(c, rune_call_str(c, "database"), err, sizeof err);
    if (!p.conn)
        return rune_call_cancelled(c) ? rune_pg_cancelled(c)
                                      : rune_call_fail(c, "connecting to the standby: %s", err);
    rune_pg_where(p.conn, p.where, sizeof p.where);
    int rc = prepare(c, &p);
    if (rc != RUNE_STEP_OK)
        goto out;
    struct rune_pg_position before = p.pos;
    rune_call_log(c, "promoting %s: replayed up to %s, last transaction %s, lag %lld bytes",
                  p.where, before.replay_lsn, *before.last_replay ? before.last_replay : "unknown",
                  before.unreplayed);
    long long t0 = rune_clock_mono_ms();
    if ((rc = request(c, &p)) != RUNE_STEP_OK || (rc = wait_out_of_recovery(c, &p)) != RUNE_STEP_OK)
        goto out;
    set_outputs(c, &p, &before, rune_clock_mono_ms() - t0);
    if (*recovery_point(&p, &before))
        rune_call_recovery_point(c, recovery_point(&p, &before));
    else
        rune_call_log(c,
                      "no transaction was replayed since %s started: no recovery point, the "
                      "report's RPO stays unknown",
                      p.where);
    rune_call_log(c, "%s is the primary now, on timeline %d", p.where, p.pos.timeline);
out:
    PQfinish(p.conn);
    return rc;
}

int rune_pg_promote_plan(struct rune_call *c)
{
    json_t *t = rune_call_target(c, "target");
    const char *old = rune_call_str(c, "primary_data_dir");
    json_t *remote = rune_call_target(c, "primary");
    rune_call_plan(
        c,
        "promote the standby %s%s (%s) once it has replayed what it received%s; %s%s%s; then "
        "wait until it is out of recovery",
        t ? "target " : "PGHOST/PGPORT", t ? json_string_value(json_object_get(t, "name")) : "",
        rune_call_str(c, "data_dir") ? "pg_ctl promote as its data directory's owner"
                                     : "SELECT pg_promote()",
        json_is_integer(json_object_get(rune_call_params(c), "max_lag"))
            ? " and its lag is within max_lag"
            : "",
        old ? "first stop the old primary " : "", old ? old : "",
        old      ? " and write standby.signal into it"
        : remote ? "first check that the old primary does not answer"
                 : "no old primary is fenced");
    return RUNE_STEP_OK;
}
