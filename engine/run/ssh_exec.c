/*
 * ssh_exec.c — a child process run on an ssh target (see ssh_exec.h).
 *
 * What the remote side sees on its command line is the same for every
 * step: a small fixed program (BOOT below) that ssh hands to the remote
 * user's login shell. Everything of the step's — its argv, env, cwd and
 * stdin — travels over the ssh client's standard input as a script of
 * POSIX-quoted words (shword.c), so a secret in env never appears in a
 * process list, here or there (the program's own argv of course does,
 * as it would locally).
 *
 * BOOT runs in a session and process group of its own (sshd's, or
 * `setsid -w` when it is not one); its first act is to print that group's
 * id on stderr behind a per-call random token. On a deadline or a cancel, the
 * local ssh client is killed by rune_proc_run as any child, and then a
 * second ssh over the same master kills the remote group (TERM, then
 * KILL after the grace period): sshd does not signal a command without a
 * terminal when its channel closes, so killing the client alone would
 * leave it running.
 *
 * The script is read line by line by `read`, which never reads past a
 * newline, so what follows the token line is exactly the step's stdin.
 * A program killed by a signal there comes back as the shell reports it
 * (exit status 128+N), not as a signal.
 */
#include "ssh_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"
#include "shword.h"
#include "ssh.h"
#include "ssh_target.h"

/* What the remote login shell runs (the same for every step but the
 * token). Body b: print "<token> <pgid>" on stderr, read the script up to
 * the token line, run it. sshd starts each session's command in a new
 * session (setsid), so the login shell already leads its own process
 * group: b runs right there, no fork. Only if /proc says otherwise is b
 * run under `setsid -w sh` to get a group of its own. */
#define BOOT_FMT                                                                                   \
    "b='echo \"%s $$\" >&2; s=; while IFS= read -r l; do if [ \"$l\" = %s ]; then "                \
    "eval \"$s\"; exit; fi; s=\"$s$l\n\"; done; "                                                  \
    "echo \"rune: the command to run did not arrive whole\" >&2; exit 255'; "                      \
    "if read -r g </proc/$$/stat 2>/dev/null; then g=${g##*) }; set -- $g; "                       \
    "[ \"$3\" = \"$$\" ] || exec setsid -w sh -c \"$b\"; fi; eval \"$b\""

static void make_token(char out[40])
{
    unsigned char b[12];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)(rune_clock_mono_ms() >> (i % 8)) ^ (unsigned char)rand();
    int n = snprintf(out, 40, "RUNE_");
    for (size_t i = 0; i < sizeof b; i++)
        n += snprintf(out + n, 40 - (size_t)n, "%02x", b[i]);
}

/* The step's env, cwd and argv as a script for the remote shell, then the
 * token line, then the step's stdin. Malloc'd into *out (*len bytes);
 * -1 with err on a bad variable name or no memory. */
static int build_input(const struct rune_proc *p, const char *token, char **out, size_t *len,
                       char *err, size_t errlen)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f) {
        snprintf(err, errlen, "no memory for the remote command: free memory on this host");
        return -1;
    }
    for (char *const *e = p->env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char *name = eq ? strndup(*e, (size_t)(eq - *e)) : NULL;
        if (!name || !rune_shq_name_ok(name)) {
            snprintf(err, errlen,
                     "env: \"%.60s\" cannot be exported on a remote host: a variable name there "
                     "is letters, digits and _, not starting with a digit",
                     name ? name : *e);
            free(name);
            fclose(f);
            free(text);
            return -1;
        }
        fprintf(f, "export %s=", name);
        rune_shq_word(f, eq + 1);
        fputc('\n', f);
        free(name);
    }
    if (p->cwd) {
        fputs("cd -- ", f);
        rune_shq_word(f, p->cwd);
        fputs(" || exit 1\n", f);
    }
    fputs("set --", f);
    for (char *const *a = p->argv; a && *a; a++) {
        fputc(' ', f);
        rune_shq_word(f, *a);
    }
    fputs("\n\"$@\"\n", f);
    fprintf(f, "%s\n", token);
    if (p->stdin_data && p->stdin_len)
        fwrite(p->stdin_data, 1, p->stdin_len, f);
    if (fclose(f) != 0) {
        free(text);
        snprintf(err, errlen, "no memory for the remote command: free memory on this host");
        return -1;
    }
    *out = text;
    *len = n;
    return 0;
}

int rune_remote_prepare(struct rune_run *r, struct rune_proc *p, struct rune_remote *rem, char *err,
                        size_t errlen)
{
    memset(rem, 0, sizeof *rem);
    err[0] = '\0';
    pthread_mutex_lock(&r->mu);
    json_t *t = json_object_get(json_object_get(r->ctx, "targets"), p->host);
    const char *kind = json_string_value(json_object_get(t, "kind"));
    if (t && !r->ssh)
        r->ssh = rune_ssh_new(r->workdir);
    struct rune_ssh *ssh = r->ssh;
    pthread_mutex_unlock(&r->mu);
    if (!t || !kind || strcmp(kind, "ssh") != 0) {
        snprintf(err, errlen, "host: \"%s\" is not an ssh target declared under `targets:`",
                 p->host);
        return -1;
    }
    if (!ssh) {
        snprintf(err, errlen, "no memory for the ssh connection: free memory on this host");
        return -1;
    }
    rem->target = t;
    rem->ssh = ssh;
    rem->cwd = r->cwd;
    struct rune_ssh_wait w = {p->deadline_ms, p->cancelled, p->cancel_ctx};
    if (rune_ssh_connect(ssh, t, r->cwd, &w, err, errlen) != 0)
        return -1;
    make_token(rem->token);
    size_t len = 0;
    if (build_input(p, rem->token, &rem->input, &len, err, errlen) != 0)
        return -1;
    char boot[1024];
    snprintf(boot, sizeof boot, BOOT_FMT, rem->token, rem->token);
    rem->argv = rune_ssh_argv(ssh, t, r->cwd, boot);
    if (!rem->argv) {
        snprintf(err, errlen, "no memory for the ssh command: free memory on this host");
        return -1;
    }
    rem->want_cap = p->capture_max ? p->capture_max : RUNE_PROC_CAPTURE_DEFAULT;
    rem->proc = (struct rune_proc){
        .argv = rem->argv,
        .stdin_data = rem->input,
        .stdin_len = len,
        .capture_max = rem->want_cap + 64, /* room for rune's first line */
        .deadline_ms = p->deadline_ms,
        /* the local client holds nothing worth a grace period (and
         * ignores SIGTERM while it waits on the master): the remote
         * command gets its grace from kill_remote */
        .kill_grace_ms = 200,
        .cancelled = p->cancelled,
        .cancel_ctx = p->cancel_ctx,
        .started = p->started,
        .started_ctx = p->started_ctx,
    };
    return 0;
}

/* Takes "<token> <pgid>\n" out of buf (its first occurrence at a line
 * start); the pgid, or 0 when it is not there. */
static long take_header(char *buf, size_t *len, const char *token)
{
    if (!buf)
        return 0;
    size_t tl = strlen(token);
    for (char *s = buf; s && s < buf + *len; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
        if (strncmp(s, token, tl) != 0 || s[tl] != ' ')
            continue;
        char *end = NULL;
        long pgid = strtol(s + tl + 1, &end, 10);
        if (!end || *end != '\n' || pgid <= 1)
            return 0;
        end++;
        memmove(s, end, (size_t)(buf + *len - end) + 1);
        *len -= (size_t)(end - s);
        return pgid;
    }
    return 0;
}

/* Kills the remote process group over the shared connection: TERM, then
 * KILL if it is still there after the grace period. */
static void kill_remote(struct rune_remote *rem, long pgid, long long grace_ms)
{
    char cmd[512];
    long tenths = (grace_ms > 0 ? grace_ms : 2000) / 100;
    snprintf(cmd, sizeof cmd,
             "kill -TERM -%ld 2>/dev/null || exit 0; i=0; while kill -0 -%ld 2>/dev/null; do "
             "if [ $i -ge %ld ]; then kill -KILL -%ld 2>/dev/null; exit 0; fi; sleep 0.1; "
             "i=$((i+1)); done",
             pgid, pgid, tenths, pgid);
    char **argv = rune_ssh_argv(rem->ssh, rem->target, rem->cwd, cmd);
    if (!argv)
        return;
    struct rune_proc k = {
        .argv = argv,
        .deadline_ms = rune_clock_mono_ms() + (grace_ms > 0 ? grace_ms : 2000) + 10000,
        .capture_max = 4096,
    };
    char why[256];
    if (rune_proc_run(&k, why, sizeof why) == 0)
        rune_proc_release(&k);
    rune_ssh_argv_free(argv);
}

static void cap(char *buf, size_t *len, bool *truncated, size_t max)
{
    if (buf && *len > max) {
        *len = max;
        buf[max] = '\0';
        *truncated = true;
    }
}

int rune_remote_finish(struct rune_remote *rem, struct rune_proc *p, char *err, size_t errlen)
{
    struct rune_proc *q = &rem->proc;
    long pgid = take_header(q->err, &q->err_len, rem->token);
    take_header(q->tail, &q->tail_len, rem->token);
    cap(q->out, &q->out_len, &q->out_truncated, rem->want_cap);
    cap(q->err, &q->err_len, &q->err_truncated, rem->want_cap);
    if ((q->timed_out || q->was_cancelled) && pgid > 0)
        kill_remote(rem, pgid, p->kill_grace_ms);
    p->pid = q->pid;
    p->exit_code = q->exit_code;
    p->term_signal = q->term_signal;
    p->timed_out = q->timed_out;
    p->was_cancelled = q->was_cancelled;
    p->out = q->out;
    p->out_len = q->out_len;
    p->out_truncated = q->out_truncated;
    p->err = q->err;
    p->err_len = q->err_len;
    p->err_truncated = q->err_truncated;
    memcpy(p->tail, q->tail, q->tail_len + 1);
    p->tail_len = q->tail_len;
    p->tail_cut = q->tail_cut;
    q->out = q->err = NULL;
    if (pgid > 0 || q->timed_out || q->was_cancelled)
        return 0;
    char who[400];
    rune_ssh_describe(rem->target, who, sizeof who);
    const char *e = p->err ? p->err : "";
    size_t n = strlen(e);
    while (n > 0 && strchr(" \t\r\n", e[n - 1]))
        n--;
    size_t start = n;
    while (start > 0 && e[start - 1] != '\n')
        start--;
    snprintf(err, errlen,
             "%s: the command did not start there (ssh exited %d%s%.*s); rune needs a POSIX login "
             "shell, sh and setsid (util-linux) on the remote host",
             who, p->exit_code, n > start ? ": " : "", (int)(n - start > 200 ? 200 : n - start),
             e + start);
    /* the caller does not release p when the spawn failed */
    free(p->out);
    free(p->err);
    p->out = p->err = NULL;
    p->out_len = p->err_len = 0;
    return -1;
}

void rune_remote_release(struct rune_remote *rem)
{
    rune_proc_release(&rem->proc);
    rune_ssh_argv_free(rem->argv);
    free(rem->input);
    rem->argv = NULL;
    rem->input = NULL;
}
