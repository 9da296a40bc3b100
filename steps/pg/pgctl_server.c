/*
 * pgctl_server.c — a local data directory and its server programs, run as
 * the directory's owner (pgctl.h). Used by pg.promote (fencing the old
 * primary) and pg.rebuild_standby; it never decides what to do, only
 * does it and says what it saw.
 */
#include "lastwords.h"
#include "pgctl.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pathparam.h"
#include "safefile.h"

#define PG_LIB_DIR "/usr/lib/postgresql"
#define MAX_ARGS 32

void rune_pgctl_free(struct rune_pgctl *s)
{
    free(s->data_dir);
    free(s->bin_dir);
    s->data_dir = s->bin_dir = NULL;
}

static char *join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", dir, name);
    return p;
}

static bool executable(const char *dir, const char *prog)
{
    char *p = join(dir, prog);
    struct stat st;
    bool ok = p && stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
    free(p);
    return ok;
}

/* The major version in PG_VERSION ("15"), into buf; false if unreadable. */
static bool version_of(const char *data_dir, char *buf, size_t len)
{
    char *path = join(data_dir, "PG_VERSION");
    FILE *f = path ? fopen(path, "re") : NULL;
    free(path);
    if (!f)
        return false;
    bool ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return ok && *buf && !strchr(buf, '/') && strcmp(buf, "..") != 0;
}

/* Who may run the server: the owner, through runuser when rune is root. */
static int owner_of(struct rune_call *c, struct rune_pgctl *s, const struct stat *st)
{
    struct passwd pw, *found = NULL;
    char buf[4096];
    s->uid = st->st_uid;
    s->gid = st->st_gid;
    if (getpwuid_r(st->st_uid, &pw, buf, sizeof buf, &found) != 0 || !found)
        return rune_call_fail(c,
                              "data directory %s belongs to uid %u, which has no user name on "
                              "this host; PostgreSQL's programs cannot be run as it",
                              s->data_dir, (unsigned)st->st_uid);
    snprintf(s->user, sizeof s->user, "%s", found->pw_name);
    if (geteuid() == 0) {
        if (st->st_uid == 0)
            return rune_call_fail(c,
                                  "data directory %s belongs to root, and PostgreSQL refuses to "
                                  "run as root: give it to the server's OS user (chown -R "
                                  "postgres: %s)",
                                  s->data_dir, s->data_dir);
        s->as_user = true;
        return RUNE_STEP_OK;
    }
    if (st->st_uid != geteuid())
        return rune_call_fail(c,
                              "data directory %s belongs to %s, and rune runs as uid %u: run "
                              "rune as root (it then runs PostgreSQL's programs as %s) or as %s",
                              s->data_dir, s->user, (unsigned)geteuid(), s->user, s->user);
    return RUNE_STEP_OK;
}

int rune_pgctl_open(struct rune_call *c, const char *data_dir, const char *bin_dir,
                    struct rune_pgctl *s)
{
    memset(s, 0, sizeof *s);
    s->data_dir = rune_path_param(c, data_dir);
    if (!s->data_dir)
        return rune_call_fail(c, "no memory for the data directory's path %s", data_dir);
    struct stat st;
    if (lstat(s->data_dir, &st) != 0)
        return rune_call_fail(c, "data directory %s: %s; check the path", s->data_dir,
                              strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return rune_call_fail(c, "data directory %s is not a directory (a symbolic link or a file)",
                              s->data_dir);
    char ver[32];
    if (!version_of(s->data_dir, ver, sizeof ver))
        return rune_call_fail(c,
                              "%s has no readable PG_VERSION: it is not a PostgreSQL data "
                              "directory (or rune may not read it)",
                              s->data_dir);
    int rc = owner_of(c, s, &st);
    if (rc != RUNE_STEP_OK)
        return rc;
    if (bin_dir) {
        s->bin_dir = rune_path_param(c, bin_dir);
    } else {
        char dir[256];
        snprintf(dir, sizeof dir, PG_LIB_DIR "/%s/bin", ver);
        s->bin_dir = strdup(dir);
    }
    if (!s->bin_dir)
        return rune_call_fail(c, "no memory for PostgreSQL's program directory");
    if (!executable(s->bin_dir, "pg_ctl"))
        return rune_call_fail(c,
                              "no pg_ctl in %s for the PostgreSQL %s data directory %s: install "
                              "postgresql-%s, or give bin_dir",
                              s->bin_dir, ver, s->data_dir, ver);
    return RUNE_STEP_OK;
}

int rune_pgctl_spawn(struct rune_call *c, const struct rune_pgctl *s, const char *prog,
                     const char *const *args, char *const *env, long long deadline_ms,
                     struct rune_proc *p)
{
    const char *argv[MAX_ARGS + 6];
    size_t n = 0;
    char *path = join(s->bin_dir, prog);
    if (!path) {
        rune_call_fail(c, "no memory to run %s", prog);
        return -1;
    }
    if (s->as_user) {
        argv[n++] = "runuser";
        argv[n++] = "-u";
        argv[n++] = s->user;
        argv[n++] = "--";
    }
    argv[n++] = path;
    for (size_t i = 0; args && args[i] && i < MAX_ARGS; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    memset(p, 0, sizeof *p);
    p->argv = (char *const *)argv;
    p->env = env;
    p->cwd = "/"; /* the owner may not be allowed into rune's cwd */
    p->capture_max = 64 << 10;
    p->deadline_ms = deadline_ms;
    int rc = rune_call_spawn(c, p);
    free(path);
    return rc;
}

int rune_pgctl_failed(struct rune_call *c, const struct rune_pgctl *s, const char *what,
                      const struct rune_proc *p)
{
    if (rune_call_cancelled(c)) {
        int st = rune_call_cancel_status(c);
        rune_call_fail(c, "%s on %s was stopped: %s", what, s->data_dir,
                       st == RUNE_STEP_TIMEOUT ? "the step's timeout passed"
                                               : "the run is stopping");
        return st;
    }
    char words[1024];
    rune_last_words(p, words, sizeof words);
    if (p->timed_out)
        return rune_call_fail(c, "%s on %s did not finish in time and was killed: %s", what,
                              s->data_dir, words);
    if (p->term_signal)
        return rune_call_fail(c, "%s on %s was killed by signal %d: %s", what, s->data_dir,
                              p->term_signal, words);
    return rune_call_fail(c, "%s on %s failed (exit %d): %s", what, s->data_dir, p->exit_code,
                          words);
}

/* pg_ctl status: 0 running, 3 not running; anything else is an error. */
int rune_pgctl_running(struct rune_call *c, const struct rune_pgctl *s, bool *running)
{
    const char *args[] = {"status", "-D", s->data_dir, NULL};
    struct rune_proc p;
    if (rune_pgctl_spawn(c, s, "pg_ctl", args, NULL, 0, &p) != 0)
        return RUNE_STEP_FAILED;
    int rc = RUNE_STEP_OK;
    if (p.exit_code == 0 || p.exit_code == 3)
        *running = p.exit_code == 0;
    else
        rc = rune_pgctl_failed(c, s, "pg_ctl status", &p);
    rune_proc_release(&p);
    return rc;
}

static int stop_with(struct rune_call *c, const struct rune_pgctl *s, const char *mode,
                     long long wait_ms, struct rune_proc *p)
{
    char secs[32];
    snprintf(secs, sizeof secs, "%lld", wait_ms > 1000 ? (wait_ms + 999) / 1000 : 1);
    const char *args[] = {"stop", "-D", s->data_dir, "-m", mode, "-w", "-t", secs, NULL};
    /* pg_ctl's own -t ends it; the extra 5 s only stop a pg_ctl that hangs */
    long long deadline = rune_clock_mono_ms() + wait_ms + 5000;
    return rune_pgctl_spawn(c, s, "pg_ctl", args, NULL, deadline, p);
}

int rune_pgctl_stop(struct rune_call *c, const struct rune_pgctl *s, long long wait_ms, char *how,
                    size_t howlen)
{
    bool running = false;
    int rc = rune_pgctl_running(c, s, &running);
    if (rc != RUNE_STEP_OK)
        return rc;
    if (!running) {
        snprintf(how, howlen, "not running");
        return RUNE_STEP_OK;
    }
    struct rune_proc p;
    if (stop_with(c, s, "fast", wait_ms, &p) != 0)
        return RUNE_STEP_FAILED;
    bool fast = p.exit_code == 0;
    if (!fast) {
        char words[512];
        rune_last_words(&p, words, sizeof words);
        rune_call_log(c, "a fast shutdown of %s did not finish (%s); shutting down immediately",
                      s->data_dir, words);
    }
    rune_proc_release(&p);
    if (rune_call_cancelled(c))
        return rune_call_cancel_status(c);
    if (fast) {
        snprintf(how, howlen, "fast");
        return RUNE_STEP_OK;
    }
    if (stop_with(c, s, "immediate", wait_ms, &p) != 0)
        return RUNE_STEP_FAILED;
    rc = p.exit_code == 0 ? RUNE_STEP_OK : rune_pgctl_failed(c, s, "pg_ctl stop -m immediate", &p);
    rune_proc_release(&p);
    if (rc == RUNE_STEP_OK)
        snprintf(how, howlen, "immediate");
    return rc;
}

int rune_pgctl_start(struct rune_call *c, const struct rune_pgctl *s, const char *log,
                     long long wait_ms)
{
    char *own = log ? NULL : join(s->data_dir, "pg_ctl.log");
    char secs[32];
    snprintf(secs, sizeof secs, "%lld", wait_ms > 1000 ? (wait_ms + 999) / 1000 : 1);
    const char *args[] = {"start", "-D", s->data_dir,     "-w", "-t",
                          secs,    "-l", log ? log : own, NULL};
    struct rune_proc p;
    int rc = RUNE_STEP_FAILED;
    if (args[7] && rune_pgctl_spawn(c, s, "pg_ctl", args, NULL, 0, &p) == 0) {
        rc = p.exit_code == 0 ? RUNE_STEP_OK : rune_pgctl_failed(c, s, "pg_ctl start", &p);
        rune_proc_release(&p);
    } else if (!args[7]) {
        rune_call_fail(c, "no memory for the server log's path");
    }
    free(own);
    return rc;
}

int rune_pgctl_control(struct rune_call *c, const struct rune_pgctl *s, const char *key, char *out,
                       size_t len)
{
    const char *args[] = {"-D", s->data_dir, NULL};
    char *const env[] = {"LC_ALL=C", NULL}; /* the English keys */
    struct rune_proc p;
    if (rune_pgctl_spawn(c, s, "pg_controldata", args, env, 0, &p) != 0)
        return RUNE_STEP_FAILED;
    int rc = RUNE_STEP_OK;
    if (p.exit_code != 0) {
        rc = rune_pgctl_failed(c, s, "pg_controldata", &p);
        rune_proc_release(&p);
        return rc;
    }
    size_t klen = strlen(key);
    const char *line = p.out;
    while (line && *line) {
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            const char *v = line + klen + 1;
            v += strspn(v, " ");
            size_t n = strcspn(v, "\n");
            snprintf(out, len, "%.*s", (int)n, v);
            rune_proc_release(&p);
            return RUNE_STEP_OK;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    rune_proc_release(&p);
    return rune_call_fail(c, "pg_controldata of %s printed no \"%s\" line", s->data_dir, key);
}

int rune_pgctl_put(const struct rune_pgctl *s, const char *name, const char *text, bool *existed,
                   char *err, size_t errlen)
{
    *existed = false;
    char *path = join(s->data_dir, name);
    if (!path) {
        snprintf(err, errlen, "no memory for the path of %s", name);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        struct stat st;
        *existed = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
        if (!*existed)
            snprintf(err, errlen, "%s exists and is not a regular file", path);
        free(path);
        return *existed ? 0 : -1;
    }
    int rc = -1;
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    } else if ((geteuid() == 0 && fchown(fd, s->uid, s->gid) != 0) ||
               rune_write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    } else {
        rc = 0;
    }
    if (fd >= 0 && close(fd) != 0 && rc == 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc == 0)
        rune_fsync_dir(s->data_dir);
    else if (fd >= 0)
        unlink(path);
    free(path);
    return rc;
}

int rune_pgctl_replace(const struct rune_pgctl *s, const char *name, const char *text, size_t len,
                       char *err, size_t errlen)
{
    char *path = join(s->data_dir, name);
    if (!path) {
        snprintf(err, errlen, "no memory for the path of %s", name);
        return -1;
    }
    struct rune_safe_file f;
    int rc = rune_safe_file_open(&f, path, true, 0600, err, errlen);
    if (rc == 0 && ((geteuid() == 0 && fchown(f.fd, s->uid, s->gid) != 0) ||
                    rune_write_all(f.fd, text, len) != 0)) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rune_safe_file_abort(&f);
        rc = -1;
    } else if (rc == 0) {
        rc = rune_safe_file_commit(&f, true, err, errlen);
    }
    free(path);
    return rc;
}
