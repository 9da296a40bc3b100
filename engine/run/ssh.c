/*
 * ssh.c — a run's shared connections to its ssh targets (see ssh.h).
 *
 * rune runs the system's OpenSSH client, never a library of its own: the
 * operator's ssh config, agent, keys and known_hosts work as they do for
 * `ssh`, and OpenSSH's checks are the ones applied. What rune adds is
 * fixed on every command line and cannot be weakened by the runbook:
 *
 * - BatchMode=yes: ssh never prompts (a password or passphrase prompt in
 *   the middle of a run would hang it);
 * - StrictHostKeyChecking=yes unless the target says accept-new: a host
 *   whose key is unknown or changed is refused before anything runs;
 * - one master connection per target (ControlMaster=auto, ControlPersist
 *   of 10 minutes idle, reopened if it lapsed), so the 100th remote step costs a
 *   channel over an open connection, not a TCP and key exchange. The
 *   master is opened by a command of its own (`ssh -f -N`), which detaches
 *   it from any step: a step's client is ControlMaster=no, so no step's
 *   process group or output pipe ever holds the master. Its socket lives
 *   in a private mkdtemp directory (0700) of the run, never under a fixed
 *   name in /tmp; the run closes every master (`ssh -O exit`) when it
 *   ends, failed or cancelled alike.
 *
 * A step over an open master is run by rune-ssh-mux (engine/cli/
 * ssh_mux_main.c), which asks the master for a session on its socket
 * (OpenSSH's PROTOCOL.mux) instead of starting a whole `ssh` for it: the
 * same session, channel and checks, without loading ssh's libraries and
 * configuration at every step. Where the helper is not installed, `ssh`
 * itself runs the step, as before; where the master gives no session (it
 * died, or sshd's MaxSessions refuses one), the helper runs that same
 * `ssh`, which connects on its own.
 *
 * If a master dies mid-run, a step's client connects on its own (with the
 * same checks): slower, never weaker.
 */
#include "ssh.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "datadir.h"
#include "proc.h"
#include "ssh_target.h"

/* How long a master outlives its last session. The run closes it at its
 * end; this bounds how long one stays if rune itself is killed (SIGKILL
 * leaves no chance to close it). A run idle on this host for longer gets
 * a new master at its next remote step. */
#define CONTROL_PERSIST "10m"

/* A unix socket path holds 107 bytes, and ssh creates the socket under a
 * temporary name 17 bytes longer before renaming it. */
#define SOCK_MAX 88

struct conn {
    char *name;          /* the target's */
    char sock[SOCK_MAX]; /* the master's socket, as ssh is told it (%% for %) */
    char path[SOCK_MAX]; /* the same, as the file system knows it */
    char dest[300];      /* what the master was opened to, for -O exit */
    bool open;
};

struct rune_ssh {
    pthread_mutex_t mu;
    char workdir[PATH_MAX];
    char dir[PATH_MAX]; /* "" until the first connection */
    char mux[PATH_MAX]; /* rune-ssh-mux, "" when it is not installed */
    struct conn *v;
    size_t n;
};

struct rune_ssh *rune_ssh_new(const char *workdir)
{
    struct rune_ssh *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    snprintf(s->workdir, sizeof s->workdir, "%s", workdir ? workdir : "");
    /* RUNE_SSH_MUX=off: every remote step runs ssh (docs/teams.md) */
    const char *mux = getenv("RUNE_SSH_MUX");
    if ((mux && !strcmp(mux, "off")) ||
        rune_helper_path("rune-ssh-mux", s->mux, sizeof s->mux) != 0)
        s->mux[0] = '\0';
    return s;
}

/* The private directory for the sockets: under the run's work directory
 * when it exists and its path leaves room, else under $TMPDIR or /tmp. mkdtemp makes it
 * 0700 with a name nobody can guess. */
static int make_dir(struct rune_ssh *s, char *err, size_t errlen)
{
    if (s->dir[0])
        return 0;
    char tmpl[PATH_MAX];
    const char *tmp = getenv("TMPDIR");
    /* (a dry-run's work directory is only a name: `rune plan --probe`
     * runs the steps that read, remote ones too) */
    if (s->workdir[0] && strlen(s->workdir) + 12 + 4 < SOCK_MAX && access(s->workdir, W_OK) == 0)
        snprintf(tmpl, sizeof tmpl, "%s/ssh-XXXXXX", s->workdir);
    else
        snprintf(tmpl, sizeof tmpl, "%s/rune-ssh-XXXXXX",
                 tmp && *tmp && strlen(tmp) + 20 < SOCK_MAX ? tmp : "/tmp");
    if (!mkdtemp(tmpl)) {
        snprintf(err, errlen,
                 "cannot make a private directory for the ssh connection's socket (%s): %s; "
                 "check that the work directory (or $TMPDIR) is writable",
                 tmpl, strerror(errno));
        return -1;
    }
    snprintf(s->dir, sizeof s->dir, "%s", tmpl);
    return 0;
}

static const char *str(json_t *t, const char *name)
{
    const char *v = json_string_value(json_object_get(t, name));
    return v && *v ? v : NULL;
}

/* A path field relative to where the operator started rune. */
static char *abs_path(const char *cwd, const char *p)
{
    char *s = NULL;
    if (p[0] == '/' || !cwd || !*cwd)
        return strdup(p);
    return asprintf(&s, "%s/%s", cwd, p) < 0 ? NULL : s;
}

static bool push(char ***v, size_t *n, char *s)
{
    char **w = s ? realloc(*v, (*n + 2) * sizeof **v) : NULL;
    if (!w) {
        free(s);
        return false;
    }
    w[(*n)++] = s;
    w[*n] = NULL;
    *v = w;
    return true;
}

static bool pushf(char ***v, size_t *n, const char *fmt, const char *a)
{
    char *s = NULL;
    return asprintf(&s, fmt, a) >= 0 && push(v, n, s);
}

void rune_ssh_argv_free(char **argv)
{
    for (char **a = argv; a && *a; a++)
        free(*a);
    free(argv);
}

/* ssh's words for a target, up to (not including) the destination: the
 * fixed safety options, then the target's fields and whitelisted options
 * (validated by ssh_target.c), then the shared connection's socket. */
static char **base_argv(json_t *t, const char *cwd, const char *sock, size_t *n)
{
    char **v = NULL;
    char num[32];
    *n = 0;
    json_t *port = json_object_get(t, "port");
    snprintf(num, sizeof num, "%lld",
             json_is_integer(port) ? (long long)json_integer_value(port) : 22LL);
    long long ct = json_integer_value(json_object_get(t, "connect_timeout"));
    const char *strict = str(t, "strict_host_key_checking");
    bool ok = push(&v, n, strdup("ssh")) && push(&v, n, strdup("-o")) &&
              push(&v, n, strdup("BatchMode=yes")) &&
              pushf(&v, n, "-oStrictHostKeyChecking=%s",
                    strict && !strcmp(strict, "accept-new") ? "accept-new" : "yes") &&
              push(&v, n, strdup("-p")) && push(&v, n, strdup(num));
    if (ok && ct > 0) {
        snprintf(num, sizeof num, "%lld", (ct + 999) / 1000);
        ok = pushf(&v, n, "-oConnectTimeout=%s", num);
    }
    if (ok && str(t, "user"))
        ok = push(&v, n, strdup("-l")) && push(&v, n, strdup(str(t, "user")));
    if (ok && str(t, "known_hosts")) {
        char *kh = abs_path(cwd, str(t, "known_hosts"));
        ok = kh && pushf(&v, n, "-oUserKnownHostsFile=%s", kh);
        free(kh);
    }
    if (ok && str(t, "identity_file"))
        ok = push(&v, n, strdup("-i")) && push(&v, n, abs_path(cwd, str(t, "identity_file"))) &&
             push(&v, n, strdup("-oIdentitiesOnly=yes"));
    const char *key;
    json_t *val;
    json_object_foreach(json_object_get(t, "options"), key, val)
    {
        const char *name = rune_ssh_option_name(key);
        char text[64];
        const char *s = json_string_value(val);
        if (json_is_integer(val)) {
            snprintf(text, sizeof text, "%lld", (long long)json_integer_value(val));
            s = text;
        } else if (json_is_boolean(val)) {
            s = json_is_true(val) ? "yes" : "no";
        }
        if (!ok || !name || !s) /* refused when the targets were resolved */
            continue;
        char *o = NULL;
        ok = asprintf(&o, "-o%s=%s", name, s) >= 0 && push(&v, n, o);
    }
    if (ok)
        ok = push(&v, n, strdup("-S")) && push(&v, n, strdup(sock));
    if (!ok) {
        rune_ssh_argv_free(v);
        return NULL;
    }
    return v;
}

/* The connection entry for a target, made if new (with s->mu). */
static struct conn *conn_for(struct rune_ssh *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].name, name))
            return &s->v[i];
    struct conn *v = realloc(s->v, (s->n + 1) * sizeof *v);
    if (!v)
        return NULL;
    s->v = v;
    struct conn *c = &v[s->n];
    memset(c, 0, sizeof *c);
    c->name = strdup(name);
    if (!c->name)
        return NULL;
    /* the socket is named by its index: target names can be long */
    snprintf(c->path, sizeof c->path, "%s/%zu", s->dir, s->n);
    size_t j = 0;
    for (const char *p = c->path; *p && j + 2 < sizeof c->sock; p++) {
        if (*p == '%')
            c->sock[j++] = '%';
        c->sock[j++] = *p;
    }
    c->sock[j] = '\0';
    s->n++;
    return c;
}

/* The line of ssh's stderr that says what went wrong (its last non-empty
 * one, without the banner of asterisks of a changed key). */
static void last_line(const char *text, char *buf, size_t len)
{
    buf[0] = '\0';
    const char *end = text + strlen(text);
    while (end > text) {
        while (end > text && strchr(" \t\r\n", end[-1]))
            end--;
        const char *start = end;
        while (start > text && start[-1] != '\n')
            start--;
        if (end > start && *start != '@') {
            snprintf(buf, len, "%.*s", (int)(end - start), start);
            return;
        }
        end = start;
    }
}

/* What a failed `ssh -f -N` said, as a message for a person. */
static void open_failed(json_t *t, const struct rune_proc *p, char *err, size_t errlen)
{
    char who[400], line[300];
    rune_ssh_describe(t, who, sizeof who);
    const char *e = p->err ? p->err : "";
    last_line(e, line, sizeof line);
    const char *kh = str(t, "known_hosts") ? str(t, "known_hosts") : "~/.ssh/known_hosts";
    if (p->timed_out)
        snprintf(err, errlen,
                 "%s: the connection was not open in time (connect_timeout); check that the host "
                 "is up and reachable on that port; nothing was run there",
                 who);
    else if (p->was_cancelled)
        snprintf(err, errlen, "%s: cancelled while connecting; nothing was run there", who);
    else if (strstr(e, "IDENTIFICATION HAS CHANGED") || strstr(e, "key for") ||
             strstr(e, "has changed"))
        snprintf(err, errlen,
                 "%s: REFUSED — the server's host key is not the one %s holds for it (ssh: "
                 "\"%s\"); this may be another machine answering in its place. If the key was "
                 "changed on purpose, check its fingerprint with the host's administrator and "
                 "replace the old one (ssh-keygen -R HOST -f %s); nothing was run there",
                 who, kh, line, kh);
    else if (strstr(e, "Host key verification failed") || strstr(e, "No ") ||
             strstr(e, "not known"))
        snprintf(err, errlen,
                 "%s: REFUSED — the server's host key is not in %s (ssh: \"%s\"); add it after "
                 "checking its fingerprint (ssh-keyscan, ssh-keygen -lf), or set "
                 "strict_host_key_checking: accept-new on the target; nothing was run there",
                 who, kh, line);
    else if (strstr(e, "Permission denied"))
        snprintf(err, errlen,
                 "%s: login refused (ssh: \"%s\"); check the user, the identity_file and the "
                 "server's authorized_keys (rune never prompts for a password: BatchMode); "
                 "nothing was run there",
                 who, line);
    else
        snprintf(err, errlen,
                 "%s: could not connect (ssh exited %d: \"%s\"); nothing was run there", who,
                 p->exit_code, *line ? line : "no message");
}

int rune_ssh_connect(struct rune_ssh *s, json_t *t, const char *cwd, const struct rune_ssh_wait *w,
                     char *err, size_t errlen)
{
    const char *name = str(t, "name");
    err[0] = '\0';
    pthread_mutex_lock(&s->mu);
    struct conn *c = make_dir(s, err, errlen) == 0 ? conn_for(s, name ? name : "?") : NULL;
    /* a master idle for ControlPersist's time has gone: open it again */
    if (c && c->open && access(c->path, F_OK) != 0)
        c->open = false;
    if (!c || c->open) {
        pthread_mutex_unlock(&s->mu);
        if (!c && !err[0])
            snprintf(err, errlen, "no memory for the ssh connection: free memory on this host");
        return c ? 0 : -1;
    }
    size_t n;
    char **argv = base_argv(t, cwd, c->sock, &n);
    bool ok = argv && push(&argv, &n, strdup("-oControlMaster=auto")) &&
              push(&argv, &n, strdup("-oControlPersist=" CONTROL_PERSIST)) &&
              push(&argv, &n, strdup("-f")) && push(&argv, &n, strdup("-N")) &&
              push(&argv, &n, strdup("--")) &&
              push(&argv, &n, strdup(str(t, "host") ? str(t, "host") : "?"));
    if (!ok) {
        pthread_mutex_unlock(&s->mu);
        if (argv)
            rune_ssh_argv_free(argv);
        snprintf(err, errlen, "no memory for the ssh command: free memory on this host");
        return -1;
    }
    long long ct = json_integer_value(json_object_get(t, "connect_timeout"));
    long long limit = rune_clock_mono_ms() + (ct > 0 ? ct : 10000) + 5000;
    struct rune_proc p = {
        .argv = argv,
        .deadline_ms = w->deadline_ms && w->deadline_ms < limit ? w->deadline_ms : limit,
        .cancelled = w->cancelled,
        .cancel_ctx = w->ctx,
        .capture_max = 16384,
    };
    char why[512];
    int rc = rune_proc_run(&p, why, sizeof why);
    if (rc != 0) {
        snprintf(err, errlen,
                 "cannot run the OpenSSH client for target \"%s\": %s (install openssh-client)",
                 name ? name : "?", why);
    } else if (p.exit_code != 0 || p.timed_out || p.was_cancelled) {
        open_failed(t, &p, err, errlen);
        rc = -1;
    } else {
        c->open = true;
        snprintf(c->dest, sizeof c->dest, "%s", str(t, "host") ? str(t, "host") : "?");
    }
    rune_proc_release(&p);
    rune_ssh_argv_free(argv);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

char **rune_ssh_argv(struct rune_ssh *s, json_t *t, const char *cwd, const char *remote)
{
    const char *name = str(t, "name");
    pthread_mutex_lock(&s->mu);
    struct conn *c = conn_for(s, name ? name : "?");
    char sock[SOCK_MAX], path[SOCK_MAX];
    snprintf(sock, sizeof sock, "%s", c ? c->sock : "");
    snprintf(path, sizeof path, "%s", c ? c->path : "");
    bool open = c && c->open;
    pthread_mutex_unlock(&s->mu);
    if (!c)
        return NULL;
    size_t n = 0;
    char **argv = base_argv(t, cwd, sock, &n);
    bool ok = argv && push(&argv, &n, strdup("-oControlMaster=no")) &&
              push(&argv, &n, strdup("-T")) && push(&argv, &n, strdup("--")) &&
              push(&argv, &n, strdup(str(t, "host") ? str(t, "host") : "?")) &&
              push(&argv, &n, strdup(remote));
    if (!ok) {
        if (argv)
            rune_ssh_argv_free(argv);
        return NULL;
    }
    if (!open || !s->mux[0])
        return argv;
    /* rune-ssh-mux SOCKET REMOTE, then the ssh it runs instead when the
     * master gives no session (gone, or refusing one) */
    char *head[3] = {strdup(s->mux), strdup(path), strdup(remote)};
    char **mux = head[0] && head[1] && head[2] ? realloc(argv, (n + 4) * sizeof *argv) : NULL;
    if (!mux) {
        for (int i = 0; i < 3; i++)
            free(head[i]);
        rune_ssh_argv_free(argv);
        return NULL;
    }
    memmove(mux + 3, mux, (n + 1) * sizeof *mux);
    memcpy(mux, head, sizeof head);
    return mux;
}

/* Asks a master to exit and waits for its socket to go. */
static void close_conn(struct conn *c)
{
    if (c->open) {
        char *argv[] = {"ssh", "-S", c->sock, "-O", "exit", "--", c->dest, NULL};
        struct rune_proc p = {
            .argv = argv,
            .deadline_ms = rune_clock_mono_ms() + 10000,
            .capture_max = 4096,
        };
        char why[256];
        if (rune_proc_run(&p, why, sizeof why) == 0)
            rune_proc_release(&p);
        /* the master removes its socket on the way out */
        for (int i = 0; i < 100 && access(c->path, F_OK) == 0; i++)
            usleep(20000);
    }
    unlink(c->path);
    free(c->name);
}

void rune_ssh_free(struct rune_ssh *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        close_conn(&s->v[i]);
    if (s->dir[0])
        rmdir(s->dir);
    free(s->v);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
