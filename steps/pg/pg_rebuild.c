/*
 * pg_rebuild.c — pg.rebuild_standby: a former primary becomes a standby
 * of the new one.
 *
 * 1. The new primary (the target) is asked where it is: its position at
 *    the start is what the rebuilt standby must reach before the step
 *    ends; and it must be a primary, of the same cluster lineage, and not
 *    the very directory being rebuilt.
 * 2. The former primary is stopped. Its own configuration files (every
 *    top-level *.conf) are read: both pg_rewind and pg_basebackup bring
 *    the new primary's, whose ports, sockets and paths belong to another
 *    server.
 * 3. pg_rewind when it can work (wal_log_hints or data checksums on the
 *    former primary, full_page_writes on the new one); a crashed former
 *    primary is first started as a standby and stopped, so that it is
 *    shut down cleanly (pg_rewind's own single-user recovery refuses a
 *    directory with standby.signal). Otherwise, or when pg_rewind fails
 *    and method is auto, a fresh clone: pg_basebackup into a new sibling
 *    directory, and the old one set aside beside it under a unique name
 *    (never inside it, never over anything).
 * 4. Its configuration goes back, with primary_conninfo (and the slot)
 *    in postgresql.auto.conf and no recovery target left; standby.signal.
 * 5. It is started and the step waits until the primary sees it replay
 *    past the position of step 1.
 * Every program runs as the data directory's owner (pgctl.h).
 */
#include "pg_replication.h"

#include "lastwords.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pgctl.h"
#include "safefile.h"

#define MAX_CONF 32
#define MAX_CONF_BYTES (1 << 20)

struct conf {
    char *name;
    char *text;
    size_t len;
};

struct rebuild {
    struct rune_pgctl s;
    PGconn *conn;
    char where[512];
    char start_lsn[32];
    char conninfo[2048]; /* what the standby uses (primary_conninfo) */
    char source[2100];   /* what pg_rewind / pg_basebackup use */
    char app[128];
    const char *slot;
    const char *restore; /* restore_command, or NULL */
    char *password_env;  /* "PGPASSWORD=…" for the programs, or NULL */
    struct conf conf[MAX_CONF];
    int nconf;
    const char *method;
    char set_aside[4096];
};

static void rebuild_free(struct rebuild *r)
{
    for (int i = 0; i < r->nconf; i++) {
        free(r->conf[i].name);
        free(r->conf[i].text);
    }
    free(r->password_env);
    PQfinish(r->conn);
    rune_pgctl_free(&r->s);
}

/* ---- the new primary ---- */

/* value quoted for a conninfo: 'it''s' → 'it\'s' */
static void put_value(char *buf, size_t len, const char *key, const char *v)
{
    size_t at = strlen(buf);
    at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%s='", at ? " " : "", key);
    for (; *v && at + 3 < len; v++) {
        if (*v == '\'' || *v == '\\')
            buf[at++] = '\\';
        buf[at++] = *v;
    }
    snprintf(buf + at, at < len ? len - at : 0, "'");
}

/* "rune_" and the data directory's name, in letters, digits and _. */
static void default_app(struct rebuild *r)
{
    const char *base = strrchr(r->s.data_dir, '/');
    base = base ? base + 1 : r->s.data_dir;
    size_t n = (size_t)snprintf(r->app, sizeof r->app, "rune_");
    for (; *base && n + 1 < sizeof r->app; base++)
        r->app[n++] = (char)((*base >= 'a' && *base <= 'z') || (*base >= '0' && *base <= '9') ||
                                     (*base >= 'A' && *base <= 'Z')
                                 ? *base
                                 : '_');
    r->app[n] = '\0';
}

static int ask_primary(struct rune_call *c, struct rebuild *r)
{
    char err[1024];
    r->conn = rune_pg_connect(c, "postgres", err, sizeof err);
    if (!r->conn)
        return rune_call_cancelled(c) ? rune_pg_cancelled(c)
                                      : rune_call_fail(c, "connecting to the new primary: %s", err);
    rune_pg_where(r->conn, r->where, sizeof r->where);
    PGresult *res = rune_pg_exec(
        c, r->conn,
        "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN NULL ELSE "
        "pg_current_wal_lsn() END, (SELECT system_identifier FROM pg_control_system()), "
        "current_setting('full_page_writes'), current_setting('data_directory')",
        0, NULL, err, sizeof err);
    if (!res)
        return rune_call_fail(c, "asking %s where it is: %s", r->where, err);
    int rc = RUNE_STEP_OK;
    if (PQgetvalue(res, 0, 0)[0] == 't') {
        rc = rune_call_fail(c,
                            "%s is in recovery: it is not a primary to follow; promote it first "
                            "(pg.promote) or point the target at the primary",
                            r->where);
    } else if (!strcmp(PQgetvalue(res, 0, 4), r->s.data_dir)) {
        rc = rune_call_fail(c, "%s runs on %s itself: that is the new primary, not the former one",
                            r->where, r->s.data_dir);
    } else {
        snprintf(r->start_lsn, sizeof r->start_lsn, "%s", PQgetvalue(res, 0, 1));
    }
    char sysid[64] = "";
    if (rc == RUNE_STEP_OK &&
        (rc = rune_pgctl_control(c, &r->s, "Database system identifier", sysid, sizeof sysid)) ==
            RUNE_STEP_OK &&
        strcmp(sysid, PQgetvalue(res, 0, 2)) != 0)
        rc = rune_call_fail(c,
                            "%s (system %s) and %s (system %s) are not the same cluster: it "
                            "cannot be a standby of it. Check data_dir and the target",
                            r->s.data_dir, sysid, r->where, PQgetvalue(res, 0, 2));
    if (rc == RUNE_STEP_OK && strcmp(PQgetvalue(res, 0, 3), "on") != 0 &&
        !strcmp(r->method, "rewind"))
        rc = rune_call_fail(c,
                            "pg_rewind needs full_page_writes = on on the source %s, and it is "
                            "off; turn it on there, or use method: clone",
                            r->where);
    if (rc == RUNE_STEP_OK && strcmp(PQgetvalue(res, 0, 3), "on") != 0) {
        rune_call_log(c, "full_page_writes is off on %s: pg_rewind cannot work, cloning", r->where);
        r->method = "clone";
    }
    PQclear(res);
    return rc;
}

/* The connection strings: the standby's (primary_conninfo) and the
 * programs' (the same with dbname, which pg_rewind needs). */
static int conninfo(struct rune_call *c, struct rebuild *r)
{
    const char *given = rune_call_str(c, "primary_conninfo");
    const char *app = rune_call_str(c, "application_name");
    if (app)
        snprintf(r->app, sizeof r->app, "%s", app);
    else
        default_app(r);
    if (given) {
        rune_call_secret_dsn(c, given);
        snprintf(r->conninfo, sizeof r->conninfo, "%s", given);
    } else {
        const char *host = PQhost(r->conn);
        put_value(r->conninfo, sizeof r->conninfo, "host", host && *host ? host : "localhost");
        put_value(r->conninfo, sizeof r->conninfo, "port", PQport(r->conn));
        put_value(r->conninfo, sizeof r->conninfo, "user", PQuser(r->conn));
    }
    put_value(r->conninfo, sizeof r->conninfo, "application_name", r->app);
    snprintf(r->source, sizeof r->source, "%s dbname=postgres", r->conninfo);
    const char *pw = json_string_value(json_object_get(rune_call_target(c, "target"), "password"));
    if (pw && *pw && asprintf(&r->password_env, "PGPASSWORD=%s", pw) < 0)
        r->password_env = NULL;
    r->slot = rune_call_str(c, "slot");
    r->restore = rune_call_str(c, "restore_command");
    if (!r->slot)
        return RUNE_STEP_OK;
    const char *p[1] = {r->slot};
    char err[1024];
    PGresult *res = rune_pg_exec(c, r->conn,
                                 "SELECT pg_create_physical_replication_slot($1, true) WHERE NOT "
                                 "EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
                                 1, p, err, sizeof err);
    if (!res)
        return rune_call_fail(c, "creating replication slot %s on %s: %s", r->slot, r->where, err);
    PQclear(res);
    return RUNE_STEP_OK;
}

/* ---- the former primary's own configuration ---- */

static bool is_conf(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && !strcmp(name + n - 5, ".conf") && name[0] != '.';
}

static int read_conf(struct rune_call *c, struct rebuild *r)
{
    DIR *d = opendir(r->s.data_dir);
    if (!d)
        return rune_call_fail(c, "cannot list %s: %s", r->s.data_dir, strerror(errno));
    int rc = RUNE_STEP_OK;
    struct dirent *e;
    while (rc == RUNE_STEP_OK && (e = readdir(d))) {
        if (!is_conf(e->d_name))
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            if (fd >= 0)
                close(fd);
            continue; /* a symbolic link or not a file: not ours to carry */
        }
        if (r->nconf == MAX_CONF || st.st_size > MAX_CONF_BYTES) {
            close(fd);
            rc = rune_call_fail(c,
                                "%s has more configuration than rune carries over (%d files of "
                                "at most 1 MiB): keep the configuration outside the data "
                                "directory, or rebuild by hand",
                                r->s.data_dir, MAX_CONF);
            break;
        }
        struct conf *f = &r->conf[r->nconf];
        f->name = strdup(e->d_name);
        f->text = malloc((size_t)st.st_size + 1);
        ssize_t got = f->text ? rune_read_full(fd, f->text, (size_t)st.st_size) : -1;
        close(fd);
        r->nconf++;
        if (!f->name || got != st.st_size) {
            rc = rune_call_fail(c, "cannot read %s/%s", r->s.data_dir, e->d_name);
            break;
        }
        f->len = (size_t)got;
        f->text[f->len] = '\0';
    }
    closedir(d);
    return rc;
}

/* Settings a standby of the new primary must not inherit: the old
 * upstream, and recovery targets (a standby must follow, not stop). */
static bool dropped(const char *line, size_t n, bool restore)
{
    static const char *const names[] = {"primary_conninfo", "primary_slot_name", "recovery_target",
                                        "promote_trigger_file", NULL};
    while (n && (*line == ' ' || *line == '\t'))
        line++, n--;
    for (const char *const *k = names; *k; k++)
        if (n >= strlen(*k) && !strncmp(line, *k, strlen(*k)))
            return true;
    return restore && n >= 15 && !strncmp(line, "restore_command", 15);
}

/* 'text' as a configuration value: quotes doubled. */
static void put_quoted(FILE *f, const char *name, const char *text)
{
    fprintf(f, "%s = '", name);
    for (const char *p = text; *p; p++) {
        if (*p == '\'')
            fputc('\'', f);
        fputc(*p, f);
    }
    fputs("'\n", f);
}

static char *auto_conf(const struct rebuild *r, const struct conf *old, size_t *len)
{
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    if (!f)
        return NULL;
    if (!old)
        fputs("# Do not edit this file manually!\n"
              "# It will be overwritten by the ALTER SYSTEM command.\n",
              f);
    for (const char *p = old ? old->text : ""; *p;) {
        size_t n = strcspn(p, "\n");
        if (!dropped(p, n, r->restore != NULL))
            fprintf(f, "%.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
    put_quoted(f, "primary_conninfo", r->conninfo);
    if (r->slot)
        put_quoted(f, "primary_slot_name", r->slot);
    if (r->restore)
        put_quoted(f, "restore_command", r->restore);
    fclose(f);
    return out;
}

/* postgresql.auto.conf: the former primary's, rewired (auto_conf). */
static int write_auto(struct rune_call *c, const struct rebuild *r)
{
    const struct conf *old = NULL;
    for (int i = 0; i < r->nconf; i++)
        if (!strcmp(r->conf[i].name, "postgresql.auto.conf"))
            old = &r->conf[i];
    size_t len = 0;
    char err[1024];
    char *text = auto_conf(r, old, &len);
    if (!text)
        return rune_call_fail(c, "no memory for postgresql.auto.conf");
    int rc = rune_pgctl_replace(&r->s, "postgresql.auto.conf", text, len, err, sizeof err);
    free(text);
    if (rc != 0)
        return rune_call_fail(c, "writing primary_conninfo into %s/postgresql.auto.conf: %s",
                              r->s.data_dir, err);
    return RUNE_STEP_OK;
}

/* Step 4: the former primary's configuration back, the standby's wiring. */
static int write_conf(struct rune_call *c, struct rebuild *r)
{
    char err[1024];
    for (int i = 0; i < r->nconf; i++) {
        if (!strcmp(r->conf[i].name, "postgresql.auto.conf"))
            continue;
        if (rune_pgctl_replace(&r->s, r->conf[i].name, r->conf[i].text, r->conf[i].len, err,
                               sizeof err) != 0)
            return rune_call_fail(c, "putting back %s's own %s: %s", r->s.data_dir, r->conf[i].name,
                                  err);
    }
    int rc = write_auto(c, r);
    if (rc != RUNE_STEP_OK)
        return rc;
    bool existed = false;
    if (rune_pgctl_put(&r->s, "standby.signal", "", &existed, err, sizeof err) != 0)
        return rune_call_fail(c, "writing standby.signal into %s: %s", r->s.data_dir, err);
    return RUNE_STEP_OK;
}

/* ---- rewind ---- */

static bool rewindable(struct rune_call *c, struct rebuild *r)
{
    char hints[32] = "", sums[32] = "";
    if (rune_pgctl_control(c, &r->s, "wal_log_hints setting", hints, sizeof hints) != 0 ||
        rune_pgctl_control(c, &r->s, "Data page checksum version", sums, sizeof sums) != 0)
        return false;
    return !strcmp(hints, "on") || strcmp(sums, "0") != 0;
}

/* pg_rewind wants a cleanly shut down target; a crashed one is started as
 * a standby (it has standby.signal: it can take no write) and stopped. */
static int clean_shutdown(struct rune_call *c, struct rebuild *r)
{
    char state[64], err[1024], how[32];
    int rc = rune_pgctl_control(c, &r->s, "Database cluster state", state, sizeof state);
    if (rc != RUNE_STEP_OK || !strcmp(state, "shut down") ||
        !strcmp(state, "shut down in recovery"))
        return rc;
    rune_call_log(c, "%s was not shut down cleanly (%s): starting it as a standby and stopping it",
                  r->s.data_dir, state);
    bool existed = false;
    if (rune_pgctl_put(&r->s, "standby.signal", "", &existed, err, sizeof err) != 0)
        return rune_call_fail(c, "writing standby.signal into %s: %s", r->s.data_dir, err);
    long long wait = rune_call_int(c, "wait");
    if ((rc = rune_pgctl_start(c, &r->s, rune_call_str(c, "log"), wait)) != RUNE_STEP_OK)
        return rc;
    return rune_pgctl_stop(c, &r->s, wait, how, sizeof how);
}

/* pg_rewind's line saying where the histories forked (or that they did
 * not), for the log: what the rewind threw away starts there. */
static void say_fork(struct rune_call *c, const struct rune_proc *p)
{
    static const char *const marks[] = {"servers diverged at", "no rewind required"};
    const char *texts[] = {p->err, p->out};
    for (size_t t = 0; t < 2; t++)
        for (size_t m = 0; m < 2 && texts[t]; m++) {
            const char *at = strstr(texts[t], marks[m]);
            if (at) {
                rune_call_log(c, "pg_rewind: %.*s", (int)strcspn(at, "\n"), at);
                return;
            }
        }
}

static int run_rewind(struct rune_call *c, struct rebuild *r)
{
    int rc = clean_shutdown(c, r);
    if (rc != RUNE_STEP_OK)
        return rc;
    char *arg = NULL;
    if (asprintf(&arg, "--source-server=%s", r->source) < 0)
        return rune_call_fail(c, "no memory for pg_rewind's arguments");
    /* pg_rewind -c reads restore_command from the target's configuration */
    if (r->restore && (rc = write_auto(c, r)) != RUNE_STEP_OK) {
        free(arg);
        return rc;
    }
    const char *args[] = {
        "-D", r->s.data_dir, arg, "--progress", r->restore ? "--restore-target-wal" : NULL, NULL};
    char *const env[] = {"LC_ALL=C", r->password_env, NULL};
    struct rune_proc p;
    rune_call_progress_phase(c, "pg_rewind");
    if (rune_pgctl_spawn(c, &r->s, "pg_rewind", args, env, 0, &p) != 0) {
        rc = RUNE_STEP_FAILED;
    } else {
        if (p.exit_code != 0 && !rune_call_cancelled(c)) {
            /* said here too: with method auto the clone that follows
             * replaces the step's error */
            char words[1024];
            rune_last_words(&p, words, sizeof words);
            rune_call_log(c, "pg_rewind of %s failed (exit %d): %s", r->s.data_dir, p.exit_code,
                          words);
        }
        if (p.exit_code == 0)
            say_fork(c, &p);
        rc = p.exit_code == 0 ? RUNE_STEP_OK : rune_pgctl_failed(c, &r->s, "pg_rewind", &p);
        rune_proc_release(&p);
    }
    free(arg);
    return rc;
}

/* ---- clone ---- */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

/* A unique, empty sibling of data_dir, given to its owner:
 * "<data_dir>.<what>-20261202T194800-XXXXXX". */
static int sibling(struct rune_call *c, struct rebuild *r, const char *what, char *out, size_t len)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
    snprintf(out, len, "%s.%s-%s-XXXXXX", r->s.data_dir, what, stamp);
    if (!mkdtemp(out))
        return rune_call_fail(c, "cannot create a directory beside %s: %s", r->s.data_dir,
                              strerror(errno));
    if (geteuid() == 0 && chown(out, r->s.uid, r->s.gid) != 0) {
        int e = errno;
        rmdir(out);
        return rune_call_fail(c, "cannot give %s to %s: %s", out, r->s.user, strerror(e));
    }
    return RUNE_STEP_OK;
}

/* Swaps the clone in: data_dir → set_aside (an empty directory made for
 * it, which rename replaces), clone → data_dir; undone if the second
 * rename fails. */
static int swap_in(struct rune_call *c, struct rebuild *r, const char *clone)
{
    int rc = sibling(c, r, "rune-old", r->set_aside, sizeof r->set_aside);
    if (rc != RUNE_STEP_OK)
        return rc;
    if (rename(r->s.data_dir, r->set_aside) != 0) {
        int e = errno;
        rmdir(r->set_aside);
        return rune_call_fail(c, "cannot set %s aside as %s: %s; nothing was changed",
                              r->s.data_dir, r->set_aside, strerror(e));
    }
    if (rename(clone, r->s.data_dir) != 0) {
        int e = errno;
        if (rename(r->set_aside, r->s.data_dir) != 0)
            return rune_call_fail(c,
                                  "cannot move the clone %s to %s (%s), nor put the former "
                                  "data directory back from %s: move it back by hand",
                                  clone, r->s.data_dir, strerror(e), r->set_aside);
        return rune_call_fail(c,
                              "cannot move the clone %s to %s: %s; the former data directory "
                              "is back in place",
                              clone, r->s.data_dir, strerror(e));
    }
    char *parent = strdup(r->s.data_dir);
    if (parent)
        rune_fsync_dir(dirname(parent));
    free(parent);
    char note[8400];
    snprintf(note, sizeof note,
             "former data directory set aside as %s (remove it once the "
             "standby is proven)",
             r->set_aside);
    rune_call_note(c, note);
    return RUNE_STEP_OK;
}

static int run_clone(struct rune_call *c, struct rebuild *r)
{
    char dir[4096];
    int rc = sibling(c, r, "rune-clone", dir, sizeof dir);
    if (rc != RUNE_STEP_OK)
        return rc;
    char *arg = NULL;
    if (asprintf(&arg, "--dbname=%s", r->source) < 0) {
        rmdir(dir);
        return rune_call_fail(c, "no memory for pg_basebackup's arguments");
    }
    const char *args[] = {"-D", dir, arg, "-X", "stream", "-c", "fast", NULL, NULL, NULL};
    if (r->slot) {
        args[7] = "-S";
        args[8] = r->slot;
    }
    char *const env[] = {"LC_ALL=C", r->password_env, NULL};
    struct rune_proc p;
    rune_call_progress_phase(c, "pg_basebackup");
    if (rune_pgctl_spawn(c, &r->s, "pg_basebackup", args, env, 0, &p) != 0) {
        rc = RUNE_STEP_FAILED;
    } else {
        rc = p.exit_code == 0 ? RUNE_STEP_OK : rune_pgctl_failed(c, &r->s, "pg_basebackup", &p);
        rune_proc_release(&p);
    }
    free(arg);
    if (rc == RUNE_STEP_OK)
        rc = swap_in(c, r, dir);
    if (rc != RUNE_STEP_OK)
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS); /* a failed clone leaves nothing */
    return rc;
}

/* ---- follow ---- */

/* Step 5: the primary sees the standby replay past the start position. */
static int wait_caught_up(struct rune_call *c, struct rebuild *r, json_t *o)
{
    long long until = rune_clock_mono_ms() + rune_call_int(c, "wait");
    const char *p[2] = {r->app, r->start_lsn};
    char err[1024], seen[256] = "not connected";
    rune_call_progress_phase(c, "catching up");
    for (;;) {
        PGresult *res = rune_pg_exec(c, r->conn,
                                     "SELECT state, replay_lsn, replay_lsn >= $2::pg_lsn FROM "
                                     "pg_stat_replication WHERE application_name = $1 "
                                     "ORDER BY replay_lsn DESC NULLS LAST LIMIT 1",
                                     2, p, err, sizeof err);
        if (!res)
            return rune_call_cancelled(c)
                       ? rune_pg_cancelled(c)
                       : rune_call_fail(c, "watching %s on %s: %s", r->app, r->where, err);
        bool done = PQntuples(res) == 1 && PQgetvalue(res, 0, 2)[0] == 't';
        if (PQntuples(res) == 1)
            snprintf(seen, sizeof seen, "%s, replayed up to %s", PQgetvalue(res, 0, 0),
                     PQgetisnull(res, 0, 1) ? "nothing" : PQgetvalue(res, 0, 1));
        if (done)
            json_object_set_new(o, "replay_lsn", json_string(PQgetvalue(res, 0, 1)));
        PQclear(res);
        if (done)
            return RUNE_STEP_OK;
        if (rune_clock_mono_ms() >= until)
            return rune_call_fail(c,
                                  "%s runs as a standby but has not replayed up to %s within "
                                  "wait (as %s on %s: %s); look at its server log",
                                  r->s.data_dir, r->start_lsn, r->app, r->where, seen);
        int st = rune_call_sleep(c, 200);
        if (st != RUNE_STEP_OK)
            return st;
    }
}

static int rebuild(struct rune_call *c, struct rebuild *r)
{
    char how[32];
    int rc;
    if ((rc = ask_primary(c, r)) != RUNE_STEP_OK || (rc = conninfo(c, r)) != RUNE_STEP_OK ||
        (rc = rune_pgctl_stop(c, &r->s, rune_call_int(c, "wait"), how, sizeof how)) !=
            RUNE_STEP_OK ||
        (rc = read_conf(c, r)) != RUNE_STEP_OK)
        return rc;
    if (strcmp(r->method, "clone") != 0) {
        bool can = rewindable(c, r);
        if (rune_call_cancelled(c))
            return rune_call_cancel_status(c);
        if (!can && !strcmp(r->method, "rewind"))
            return rune_call_fail(c,
                                  "pg_rewind needs wal_log_hints = on or data checksums in %s, "
                                  "and it has neither; use method: clone (or auto)",
                                  r->s.data_dir);
        if (can) {
            rc = run_rewind(c, r);
            if (rc == RUNE_STEP_OK || strcmp(r->method, "auto") != 0 || rune_call_cancelled(c))
                goto rewound;
            rune_call_log(c, "pg_rewind did not work; cloning %s afresh", r->where);
        } else {
            rune_call_log(c, "%s has neither wal_log_hints nor data checksums: cloning",
                          r->s.data_dir);
        }
    }
    r->method = "clone";
    rc = run_clone(c, r);
rewound:
    if (rc == RUNE_STEP_OK && strcmp(r->method, "clone") != 0)
        r->method = "rewind";
    if (rc != RUNE_STEP_OK || (rc = write_conf(c, r)) != RUNE_STEP_OK)
        return rc;
    rune_call_progress_phase(c, "starting");
    return rune_pgctl_start(c, &r->s, rune_call_str(c, "log"), rune_call_int(c, "wait"));
}

int rune_pg_rebuild_run(struct rune_call *c)
{
    struct rebuild r = {0};
    r.method = rune_call_str(c, "method");
    int rc = rune_pgctl_open(c, rune_call_str(c, "data_dir"), rune_call_str(c, "bin_dir"), &r.s);
    if (rc == RUNE_STEP_OK)
        rc = rebuild(c, &r);
    json_t *o = rune_call_outputs(c);
    if (rc == RUNE_STEP_OK)
        rc = wait_caught_up(c, &r, o);
    if (rc == RUNE_STEP_OK) {
        json_object_set_new(o, "method", json_string(r.method));
        json_object_set_new(o, "set_aside", *r.set_aside ? json_string(r.set_aside) : json_null());
        json_object_set_new(o, "primary_lsn", json_string(r.start_lsn));
        json_object_set_new(o, "application_name", json_string(r.app));
        char err[256];
        char *tl = rune_pg_value(c, r.conn,
                                 "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, "
                                 "8))::bit(32)::int",
                                 0, NULL, NULL, err, sizeof err);
        json_object_set_new(o, "timeline", tl ? json_integer(atoll(tl)) : json_null());
        free(tl);
        rune_call_log(c, "%s follows %s (%s): replayed past %s", r.s.data_dir, r.where, r.method,
                      r.start_lsn);
    }
    rebuild_free(&r);
    return rc;
}

int rune_pg_rebuild_plan(struct rune_call *c)
{
    json_t *t = rune_call_target(c, "target");
    const char *m = rune_call_str(c, "method");
    rune_call_plan(c,
                   "stop %s and make it a standby of %s%s: %s; keep its own configuration, write "
                   "primary_conninfo and standby.signal, start it and wait until it has replayed "
                   "the primary's current position",
                   rune_call_str(c, "data_dir"), t ? "target " : "PGHOST/PGPORT",
                   t ? json_string_value(json_object_get(t, "name")) : "",
                   !strcmp(m, "clone") ? "a fresh pg_basebackup clone, the old directory set aside"
                   : !strcmp(m, "rewind") ? "pg_rewind"
                                          : "pg_rewind, or a fresh clone (the old directory set "
                                            "aside) when it cannot");
    return RUNE_STEP_OK;
}
