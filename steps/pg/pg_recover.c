/*
 * pg_recover.c — pg.recover, point-in-time recovery of a cluster into its
 * data directory, and pg.recover_undo, its rollback.
 *
 * In this order, each step only once the one before it held:
 * 1. the base backup is of this cluster (its system identifier), and the
 *    archive is proven to reach the target from it
 *    (pg_walcheck.c); a target it cannot reach is refused before anything
 *    is touched, and a running server keeps running;
 * 2. a server running on the directory is stopped (fast);
 * 3. the directory is renamed aside, beside itself, to a name that did
 *    not exist (renameat2 NOREPLACE: never over anything, never into
 *    anything), and the output `set_aside` says where, for the undo;
 * 4. the base backup is laid into a new directory of the same name
 *    (pg_lay.c) and recovery.signal written;
 * 5. the server is started with the recovery settings on its command line
 *    (restore_command, the target, recovery_target_action = promote,
 *    recovery_target_timeline = latest): they are in no file, so nothing
 *    is left once recovery ends, and a clone of the recovered server can
 *    never inherit them; PostgreSQL removes recovery.signal itself when
 *    it promotes;
 * 6. its log is followed: a FATAL or PANIC line fails the step with the
 *    log's words; the server dying, or the deadline, too;
 * 7. once promoted (a new timeline, ready for connections), the server is
 *    restarted plainly, with its own configuration only.
 * The recovery point reached is the log's "last completed transaction was
 * at log time" — the last transaction replayed — and is declared to the
 * engine (rune_call_recovery_point), from which the report measures RPO.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "pathparam.h"
#include "pg_physical.h"
#include "pgserver.h"
#include "pgtime.h"
#include "shquote.h"
#include "walseg.h"

/* What the server's log said so far. */
struct follow {
    int fd;
    char line[8192];
    size_t len;
    char fatal[1024];
    char reached[64]; /* "2026-12-02 19:44:36.090685+00" */
    char redo[32];    /* "0/30000D0" */
    unsigned tli;
    bool ready;
    long startup, postmaster; /* their process ids, -1 until known */
    char last[3][512];        /* the last lines, for a server that died without a FATAL */
};

static void after(const char *line, const char *key, char *out, size_t len)
{
    const char *p = strstr(line, key);
    if (p)
        snprintf(out, len, "%s", p + strlen(key));
}

/* The process id in a log line's prefix ("... [4242] LOG: ..."; the
 * default log_line_prefix, '%m [%p] '), or -1 when it has none. */
static long line_pid(const char *line)
{
    const char *open = strchr(line, '[');
    const char *level = strstr(line, ":  ");
    if (!open || (level && open > level))
        return -1;
    char *end;
    long pid = strtol(open + 1, &end, 10);
    return end > open + 1 && *end == ']' ? pid : -1;
}

/* FATALs a client's connection gets while the server recovers: not
 * recovery's failure (for logs whose prefix has no process id). */
static bool client_fatal(const char *fatal)
{
    static const char *const words[] = {
        "the database system is",   "password authentication failed", "no pg_hba.conf entry",
        "does not exist",           "terminating connection",         "sorry, too many clients",
        "canceling authentication", "connection to client lost",
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(fatal, words[i]))
            return true;
    return false;
}

static void one_line(struct follow *f, const char *line)
{
    memmove(f->last[0], f->last[1], sizeof f->last[0] * 2);
    snprintf(f->last[2], sizeof f->last[2], "%s", line);
    long pid = line_pid(line);
    if (strstr(line, "starting point-in-time recovery") ||
        strstr(line, "starting archive recovery"))
        f->startup = pid;
    const char *bad = strstr(line, "PANIC:  ");
    const char *fatal = strstr(line, "FATAL:  ");
    /* a FATAL of the startup process (recovery itself) or the postmaster;
     * not one a client got for connecting too early */
    if (!bad && fatal &&
        (pid < 0 ? !client_fatal(fatal) : pid == f->startup || pid == f->postmaster))
        bad = fatal;
    if (bad && !f->fatal[0])
        snprintf(f->fatal, sizeof f->fatal, "%s", bad);
    char tli[16] = "";
    after(line, "selected new timeline ID: ", tli, sizeof tli);
    if (tli[0])
        f->tli = (unsigned)strtoul(tli, NULL, 10);
    after(line, "last completed transaction was at log time ", f->reached, sizeof f->reached);
    char redo[64] = "";
    after(line, "redo done at ", redo, sizeof redo);
    if (redo[0])
        sscanf(redo, "%31[0-9A-Fa-f/]", f->redo);
    if (strstr(line, "database system is ready to accept connections") && f->tli)
        f->ready = true;
}

/* Reads what the log gained since the last call. */
static void follow_more(struct follow *f)
{
    char buf[16384];
    ssize_t n;
    while ((n = read(f->fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n' || f->len == sizeof f->line - 1) {
                f->line[f->len] = '\0';
                one_line(f, f->line);
                f->len = 0;
            } else {
                f->line[f->len++] = buf[i];
            }
        }
}

/* The -o string pg_ctl hands to postgres (through a shell, hence quoted):
 * the recovery settings. malloc'd. */
static char *recovery_options(struct rune_call *c, const char *archive)
{
    char *opts = NULL, *cmd = NULL;
    size_t olen = 0, clen = 0;
    FILE *q = open_memstream(&cmd, &clen);
    if (!q)
        return NULL;
    /* restore_command runs through the server's shell: the archive quoted */
    fputs("restore_command=cp ", q);
    char *file = NULL;
    if (asprintf(&file, "%s/%%f", archive) < 0) {
        fclose(q);
        free(cmd);
        return NULL;
    }
    rune_shell_quote(q, file);
    free(file);
    fputs(" %p", q);
    fclose(q);
    FILE *f = open_memstream(&opts, &olen);
    if (!f) {
        free(cmd);
        return NULL;
    }
    fputs("-c ", f);
    rune_shell_quote(f, cmd);
    free(cmd);
    static const char *const targets[][2] = {
        {"target_time", "recovery_target_time"},
        {"target_lsn", "recovery_target_lsn"},
        {"target_xid", "recovery_target_xid"},
        {"target_name", "recovery_target_name"},
    };
    for (size_t i = 0; i < 4; i++) {
        const char *v = rune_call_str(c, targets[i][0]);
        char pgtext[64];
        long long us;
        if (!v)
            continue;
        if (i == 0 && rune_pgtime_parse(v, &us) == 0) {
            /* as the server reads it whatever it was given as (it refuses
             * ISO-8601's "T...Z" here) */
            rune_pgtime_format(us, pgtext, sizeof pgtext);
            pgtext[10] = ' ';
            pgtext[strlen(pgtext) - 1] = '\0';
            strcat(pgtext, "+00");
            v = pgtext;
        }
        char *kv = NULL;
        if (asprintf(&kv, "%s=%s", targets[i][1], v) < 0) {
            fclose(f);
            free(opts);
            return NULL;
        }
        fputs(" -c ", f);
        rune_shell_quote(f, kv);
        free(kv);
    }
    if (rune_call_bool(c, "immediate"))
        fputs(" -c recovery_target=immediate", f);
    fputs(" -c recovery_target_action=promote -c recovery_target_timeline=latest"
          " -c logging_collector=off",
          f);
    fclose(f);
    return opts;
}

/* How many of the exclusive targets were given. */
static int targets_given(struct rune_call *c)
{
    static const char *const names[] = {"target_time", "target_lsn", "target_xid", "target_name"};
    int n = rune_call_bool(c, "immediate") ? 1 : 0;
    for (size_t i = 0; i < 4; i++)
        n += rune_call_str(c, names[i]) != NULL;
    return n;
}

static const char *target_text(struct rune_call *c)
{
    static const char *const names[] = {"target_time", "target_lsn", "target_xid", "target_name"};
    for (size_t i = 0; i < 4; i++)
        if (rune_call_str(c, names[i]))
            return rune_call_str(c, names[i]);
    return rune_call_bool(c, "immediate") ? "immediate (consistency)" : "latest";
}

/* Step 1: the archive reaches the target. The expected point goes to
 * `expected` (or ""). A rune_status. */
static int check_first(struct rune_call *c, json_t *m, const char *backup, const char *archive,
                       char *expected, size_t elen)
{
    char err[1024], tool[4096];
    struct rune_wal_reach r = {0};
    if (rune_pg_wal_reach_from(&r, m, err, sizeof err) != 0)
        return rune_call_fail(c, "cannot recover from %s: %s; nothing was touched", backup, err);
    const char *t = rune_call_str(c, "target_time"), *l = rune_call_str(c, "target_lsn");
    if (t && rune_pgtime_parse(t, &r.target_us) != 0)
        return rune_call_fail(c,
                              "target_time \"%s\" is not a time (ISO-8601 or PostgreSQL's text); "
                              "nothing was touched",
                              t);
    if (l && rune_lsn_parse(l, &r.target_lsn) != 0)
        return rune_call_fail(c, "target_lsn \"%s\" is not an LSN; nothing was touched", l);
    r.has_time = t != NULL;
    r.has_lsn = l != NULL;
    r.archive = archive;
    r.waldump = rune_pg_server_tool(c, m, "pg_waldump", tool, sizeof tool);
    if (rune_pg_wal_reach(c, &r) != 0)
        return rune_call_cancelled(c)
                   ? rune_call_cancel_status(c)
                   : rune_call_fail(c, "cannot check the archive %s: %s; nothing was touched",
                                    archive, r.reason);
    json_t *o = rune_call_outputs(c);
    json_t *check = json_object();
    rune_pg_wal_reach_outputs(check, &r);
    json_object_set_new(o, "wal_check", check);
    if (!r.reachable)
        return rune_call_fail(c,
                              "refused: the archive %s cannot reach %s from %s: %s; nothing was "
                              "touched (the data directory and its server are as they were)",
                              archive, target_text(c), backup, r.reason);
    expected[0] = '\0';
    if (r.has_time && r.before_us >= 0)
        rune_pgtime_format(r.before_us, expected, elen);
    rune_call_log(c, "the archive reaches %s: %zu segments checked up to %s (timeline %u)",
                  target_text(c), r.segments, r.last_segment, r.timeline);
    return RUNE_STEP_OK;
}

/* Steps 5 and 6: start in recovery and follow the log to promotion. */
static int replay(struct rune_call *c, const struct rune_pgserver *s, const char *log,
                  const char *archive, struct follow *f, char *err, size_t errlen)
{
    char *opts = recovery_options(c, archive);
    if (!opts) {
        snprintf(err, errlen, "no memory for the recovery settings");
        return -1;
    }
    const char *start[] = {"start", "-D", s->data_dir, "-l", log, "-W", "-o", opts, NULL};
    int rc = rune_pgserver_ctl(c, s, start, err, errlen);
    free(opts);
    if (rc != 0)
        return -1;
    f->fd = open(log, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (f->fd < 0) {
        snprintf(err, errlen, "cannot read the server log %s: %s", log, strerror(errno));
        return -1;
    }
    rune_call_progress_phase(c, "replaying WAL");
    bool seen = false;
    long long t0 = rune_clock_mono_ms();
    for (;;) {
        follow_more(f);
        if (f->fatal[0]) {
            snprintf(err, errlen, "the server stopped recovery: %s (log: %s)", f->fatal, log);
            return -1;
        }
        if (f->ready)
            return 0;
        pid_t pid = rune_pgserver_pid(s->data_dir);
        seen = seen || pid != 0;
        if (pid)
            f->postmaster = pid;
        if ((seen && !pid) || (!seen && rune_clock_mono_ms() - t0 > 60000)) {
            follow_more(f);
            snprintf(err, errlen, "the server %s; its log (%s) ends: %s | %s | %s",
                     seen ? "exited during recovery" : "did not start within 60s", log, f->last[0],
                     f->last[1], f->last[2]);
            return -1;
        }
        if (rune_call_sleep(c, 100) != 0) {
            snprintf(err, errlen, "stopped during recovery (%s)",
                     rune_call_cancel_status(c) == RUNE_STEP_TIMEOUT ? "the step's timeout passed"
                                                                     : "the run is stopping");
            return -1;
        }
    }
}

static void set_outputs(struct rune_call *c, const struct follow *f, json_t *m, const char *log,
                        const char *expected)
{
    json_t *o = rune_call_outputs(c);
    char point[RUNE_ISO_LEN] = "", exact[64] = "";
    long long us;
    if (f->reached[0] && rune_pgtime_parse(f->reached, &us) == 0) {
        rune_clock_iso(point, us / 1000);
        rune_pgtime_format(us, exact, sizeof exact);
    } else { /* no transaction replayed: the data is the backup's */
        snprintf(point, sizeof point, "%s",
                 json_string_value(json_object_get(m, "recovery_point")));
    }
    json_object_set_new(o, "recovery_point", json_string(point));
    json_object_set_new(o, "last_transaction", exact[0] ? json_string(exact) : json_null());
    json_object_set_new(o, "expected_point", expected[0] ? json_string(expected) : json_null());
    json_object_set_new(o, "timeline", json_integer(f->tli));
    json_object_set_new(o, "lsn", f->redo[0] ? json_string(f->redo) : json_null());
    json_object_set_new(o, "log", json_string(log));
    json_object_set_new(o, "target", json_string(target_text(c)));
    if (point[0])
        rune_call_recovery_point(c, point);
}

/* Steps 2 to 7, once the archive was proven to reach the target. */
static int recover_with(struct rune_call *c, json_t *m, const char *backup, const char *archive,
                        const char *data_dir, const char *expected)
{
    char err[2048] = "", aside[4096], log[4096], tool[4096];
    struct rune_pgserver s;
    struct follow f = {.fd = -1, .startup = -2, .postmaster = -2};
    json_t *o = rune_call_outputs(c);
    if (rune_pgserver_init(&s, data_dir, rune_pg_server_tool(c, m, "pg_ctl", tool, sizeof tool),
                           err, sizeof err) != 0)
        return rune_call_fail(c, "cannot recover into %s: %s; nothing was touched", data_dir, err);
    bool was_running = rune_pgserver_pid(data_dir) != 0;
    json_object_set_new(o, "was_running", json_boolean(was_running));
    json_object_set_new(o, "data_dir", json_string(data_dir));
    json_object_set_new(o, "backup", json_string(backup));
    if (rune_pgserver_aside_name(data_dir, "before-pitr", "", aside, sizeof aside) != 0 ||
        rune_pgserver_aside_name(data_dir, "pitr", ".log", log, sizeof log) != 0)
        return rune_call_fail(c, "no free name beside %s; nothing was touched", data_dir);
    rune_call_progress_phase(c, "stopping the server");
    if (was_running && rune_pgserver_stop(c, &s, err, sizeof err) != 0)
        return rune_call_fail(c, "cannot stop the server on %s: %s; nothing else was touched",
                              data_dir, err);
    if (rune_pgserver_rename(data_dir, aside, err, sizeof err) != 0)
        return rune_call_fail(c, "%s; the data directory was not touched%s", err,
                              was_running ? " (its server was stopped)" : "");
    json_object_set_new(o, "set_aside", json_string(aside));
    rune_call_log(c, "%s set aside as %s", data_dir, aside);
    rune_call_progress_phase(c, "laying the base backup");
    int st = RUNE_STEP_FAILED;
    if (rune_pg_lay(c, backup, data_dir, s.uid, s.gid, err, sizeof err) != 0)
        goto fail;
    char signal[4096];
    snprintf(signal, sizeof signal, "%s/recovery.signal", data_dir);
    int fd = open(signal, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || (geteuid() == 0 && fchown(fd, s.uid, s.gid) != 0)) {
        snprintf(err, sizeof err, "cannot write %s: %s", signal, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    close(fd);
    if (rune_pgserver_new_log(&s, log, err, sizeof err) != 0 ||
        replay(c, &s, log, archive, &f, err, sizeof err) != 0)
        goto fail;
    rune_call_log(c, "promoted on timeline %u; last transaction replayed at %s", f.tli,
                  f.reached[0] ? f.reached : "(none: the backup's own point)");
    /* 7: its own configuration only, nothing of recovery left running */
    rune_call_progress_phase(c, "restarting");
    /* stop, then start: pg_ctl restart would reuse the recovery settings
     * it finds in postmaster.opts; a plain start rewrites that file */
    const char *start[] = {"start", "-D", data_dir, "-l", log, "-w", "-t", "600", "-s", NULL};
    if (rune_pgserver_stop(c, &s, err, sizeof err) != 0 ||
        rune_pgserver_ctl(c, &s, start, err, sizeof err) != 0)
        goto fail;
    set_outputs(c, &f, m, log, expected);
    st = RUNE_STEP_OK;
    goto out;
fail:
    /* the server this step started must not keep running on a half-done
     * directory: the undo puts the set-aside one back */
    {
        char ignored[512];
        rune_pgserver_stop(c, &s, ignored, sizeof ignored);
    }
    json_object_set_new(o, "log", json_string(log));
    if (rune_call_cancelled(c))
        st = rune_call_cancel_status(c);
    rune_call_fail(c,
                   "recovery into %s failed: %s; the original data directory is intact at %s "
                   "(pg.recover_undo puts it back)",
                   data_dir, err, aside);
out:
    if (f.fd >= 0)
        close(f.fd);
    return st;
}

/* The base backup to start from: `backup`, or the newest in `backups`
 * that can reach the target and verifies (those that do not are said
 * out loud and passed over). Its manifest into *m; malloc'd path, or NULL
 * after failing the call. */
static char *choose(struct rune_call *c, json_t **m, int *st)
{
    char err[1024];
    long long target = 0;
    const char *t = rune_call_str(c, "target_time");
    if (t && rune_pgtime_parse(t, &target) != 0) {
        *st = rune_call_fail(c,
                             "target_time \"%s\" is not a time: write it as ISO-8601 "
                             "(2026-12-02T19:38:08Z) or as PostgreSQL prints it; nothing was "
                             "touched",
                             t);
        return NULL;
    }
    json_t *list;
    if (rune_call_str(c, "backup")) {
        char *one = rune_path_param(c, rune_call_str(c, "backup"));
        list = json_pack("[s]", one ? one : "");
        free(one);
    } else {
        char *dir = rune_path_param(c, rune_call_str(c, "backups"));
        list = dir ? rune_pg_basebackups_for(dir, t != NULL, target, err, sizeof err) : NULL;
        free(dir);
        if (!list) {
            *st = rune_call_fail(c, "%s; nothing was touched", err);
            return NULL;
        }
    }
    size_t i;
    json_t *v;
    char *chosen = NULL;
    rune_call_progress_phase(c, "verifying the base backup");
    json_array_foreach(list, i, v)
    {
        struct rune_artifact_check chk;
        const char *path = json_string_value(v);
        /* sums only: laying it decompresses every chunk through the
         * reader's full checks, and a directory laid from a chunk that
         * fails them is never started (the undo puts the original back) */
        if (rune_artifact_verify_sums(path, NULL, &chk) == 0) {
            *m = json_incref(chk.manifest);
            chosen = strdup(path);
            rune_artifact_check_release(&chk);
            break;
        }
        rune_call_log(c, "skipped %s: it does not verify: %s", path, chk.reason);
        snprintf(err, sizeof err, "%s does not verify: %s", path, chk.reason);
        rune_artifact_check_release(&chk);
    }
    json_decref(list);
    if (!chosen)
        *st = rune_call_fail(c, "no base backup to recover from: %s; nothing was touched", err);
    return chosen;
}

/* A base backup of another cluster than the one in data_dir is refused
 * (unless other_cluster): the system identifier is the first field of
 * global/pg_control. A directory without one (a new host) is fine. */
static int same_cluster(struct rune_call *c, json_t *m, const char *backup, const char *data_dir)
{
    char path[4096];
    unsigned char id[8];
    snprintf(path, sizeof path, "%s/global/pg_control", data_dir);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || rune_call_bool(c, "other_cluster")) {
        if (fd >= 0)
            close(fd);
        return RUNE_STEP_OK;
    }
    ssize_t n = read(fd, id, sizeof id);
    close(fd);
    unsigned long long mine = 0;
    for (int i = 7; i >= 0; i--)
        mine = mine << 8 | id[i];
    const char *theirs = json_string_value(json_object_get(m, "system_identifier"));
    if (n != (ssize_t)sizeof id || !theirs || strtoull(theirs, NULL, 10) == mine)
        return RUNE_STEP_OK;
    return rune_call_fail(c,
                          "%s is a base backup of another cluster (system identifier %s) than the "
                          "one in %s (%llu); nothing was touched — give other_cluster: true to "
                          "replace this cluster with that one",
                          backup, theirs, data_dir, mine);
}

int rune_pg_recover_run(struct rune_call *c)
{
    if (targets_given(c) > 1)
        return rune_call_fail(c, "give one of target_time, target_lsn, target_xid, target_name "
                                 "and immediate (none: the end of the archive)");
    char expected[64] = "";
    char *data_dir = rune_path_param(c, rune_call_str(c, "data_dir"));
    char *archive = rune_path_param(c, rune_call_str(c, "archive"));
    json_t *m = NULL;
    int st = RUNE_STEP_FAILED;
    char *backup = data_dir && archive ? choose(c, &m, &st) : NULL;
    if (!data_dir || !archive)
        st = rune_call_fail(c, "no memory for the paths");
    if (backup) {
        rune_call_log(c, "recovering from %s", backup);
        st = same_cluster(c, m, backup, data_dir);
        if (st == RUNE_STEP_OK)
            st = check_first(c, m, backup, archive, expected, sizeof expected);
        if (st == RUNE_STEP_OK)
            st = recover_with(c, m, backup, archive, data_dir, expected);
    }
    json_decref(m);
    free(data_dir);
    free(backup);
    free(archive);
    return st;
}

int rune_pg_recover_plan(struct rune_call *c)
{
    rune_call_plan(c,
                   "would check that %s reaches %s from %s, stop the server on %s, set the "
                   "directory aside, lay the base backup, replay the archive to the target and "
                   "promote",
                   rune_call_str(c, "archive"), target_text(c),
                   rune_call_str(c, "backup") ? rune_call_str(c, "backup")
                                              : rune_call_str(c, "backups"),
                   rune_call_str(c, "data_dir"));
    return RUNE_STEP_OK;
}

/* ---- pg.recover_undo ---- */

int rune_pg_recover_undo_run(struct rune_call *c)
{
    char err[1024], failed[4096] = "", tool[4096], log[4096];
    char *data_dir = rune_path_param(c, rune_call_str(c, "data_dir"));
    char *aside = rune_path_param(c, rune_call_str(c, "set_aside"));
    int st = RUNE_STEP_FAILED;
    struct rune_pgserver s;
    struct stat sb;
    json_t *o = rune_call_outputs(c), *ver = json_object();
    char pgv[4096], major[16] = "";
    snprintf(pgv, sizeof pgv, "%s/PG_VERSION", aside ? aside : "");
    FILE *vf = fopen(pgv, "re");
    if (vf) {
        if (fgets(major, sizeof major, vf))
            major[strcspn(major, "\n")] = '\0';
        fclose(vf);
    }
    json_object_set_new(ver, "server_version", json_string(major));
    if (!data_dir || !aside ||
        rune_pgserver_init(&s, aside, rune_pg_server_tool(c, ver, "pg_ctl", tool, sizeof tool), err,
                           sizeof err) != 0) {
        st = rune_call_fail(c, "cannot put %s back: %s", aside ? aside : "?", err);
        goto out;
    }
    if (lstat(data_dir, &sb) == 0) {
        struct rune_pgserver now = s;
        now.data_dir = data_dir;
        if (rune_pgserver_stop(c, &now, err, sizeof err) != 0) {
            st = rune_call_fail(c, "cannot stop the server on the recovered %s: %s", data_dir, err);
            goto out;
        }
        if (rune_pgserver_aside_name(data_dir, "failed-pitr", "", failed, sizeof failed) != 0 ||
            rune_pgserver_rename(data_dir, failed, err, sizeof err) != 0) {
            st =
                rune_call_fail(c, "cannot move the recovered %s out of the way: %s", data_dir, err);
            goto out;
        }
    }
    if (rune_pgserver_rename(aside, data_dir, err, sizeof err) != 0) {
        st = rune_call_fail(c, "%s; the original is still at %s", err, aside);
        goto out;
    }
    s.data_dir = data_dir;
    json_object_set_new(o, "data_dir", json_string(data_dir));
    json_object_set_new(o, "recovered_moved_to", failed[0] ? json_string(failed) : json_null());
    rune_call_log(c, "%s is back in place%s%s", data_dir,
                  failed[0] ? "; the recovered one is " : "", failed);
    bool started = false;
    if (rune_call_bool(c, "start")) {
        if (rune_pgserver_aside_name(data_dir, "undo", ".log", log, sizeof log) != 0)
            snprintf(log, sizeof log, "%s.undo.log", data_dir);
        const char *start[] = {"start", "-D", data_dir, "-l", log, "-w", "-t", "600", "-s", NULL};
        if (rune_pgserver_new_log(&s, log, err, sizeof err) != 0 ||
            rune_pgserver_ctl(c, &s, start, err, sizeof err) != 0) {
            st = rune_call_fail(c, "%s is back in place but its server did not start: %s", data_dir,
                                err);
            goto out;
        }
        started = true;
    }
    json_object_set_new(o, "started", json_boolean(started));
    st = RUNE_STEP_OK;
out:
    json_decref(ver);
    free(data_dir);
    free(aside);
    return st;
}

int rune_pg_recover_undo_plan(struct rune_call *c)
{
    rune_call_plan(c, "would stop the server on %s, move it aside and rename %s back to it%s",
                   rune_call_str(c, "data_dir"), rune_call_str(c, "set_aside"),
                   rune_call_bool(c, "start") ? ", then start the server" : "");
    return RUNE_STEP_OK;
}
