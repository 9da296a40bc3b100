/*
 * service.c — the service.* family: check, stop, start and restart a
 * service through one of three backends — pg_ctl (a PostgreSQL data
 * directory), systemd (systemctl), or command (the operator's own
 * start/stop/status scripts: docker, a wrapper...). The `service` target
 * kind, and reading a target for its backend, are service_target.c's.
 *
 * Every change follows one shape: look at the state first (a service
 * already in the wanted state is a success that says so), act, then poll
 * the status until the new state shows or the target's `wait` runs out;
 * a failure names the last state seen and where to look next.
 *
 * Children run through rune_call_spawn (step deadline, Ctrl-C, masking).
 * pg_ctl and systemctl get argv built from the target's fields, never a
 * shell string; only the command backend's scripts, written whole by the
 * operator, go to /bin/sh -c. This file must not decide what a state
 * means beyond what each backend documents (pg_ctl's exit codes,
 * `systemctl is-active`'s words, LSB's "status exits 0 when running").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "service.h"
#include "shquote.h"
#include "utf8.h"

#define MAX_ARGS 24
#define POLL_FIRST_MS 100     /* first pause between status checks; doubles each time */
#define POLL_MAX_MS 1000      /* longest pause between status checks */
#define STATUS_GRACE_MS 10000 /* a status check may take this long even past `wait` */
#define CAPTURE_MAX 65536     /* bytes of each stream kept from a child */
#define MSG_TAIL 300          /* bytes of a command's output quoted in a message */
#define OUTPUT_TAIL 2000      /* bytes of the status output kept as the `output` output */

static const char *const action_names[] = {"status", "start", "stop", "restart"};
static const char *const action_doing[] = {"checking", "starting", "stopping", "restarting"};

enum state { STATE_STOPPED, STATE_RUNNING, STATE_CHANGING };

/* What one status check saw. */
struct seen {
    enum state state;
    char word[32]; /* "running", "stopped", "starting", "stopping" */
    long long pid; /* 0 when unknown */
    char how[96];  /* how it was seen: "pg_ctl status exited 3" */
    char *output;  /* tail of the status output (masked, valid UTF-8); malloc'd or NULL */
};

/* One command line for a backend. argv points into the service and into
 * secs; nothing here is owned. */
struct cmd {
    const char *argv[MAX_ARGS];
    int n;
    const char *cwd;
    const char *script; /* command backend: the script, shown instead of `sh -c ...` */
    char secs[24];      /* pg_ctl -t */
};

static void service_free(struct service *s)
{
    free(s->pg_ctl);
    free(s->data_dir);
    free(s->log);
    free(s->workdir);
    memset(s, 0, sizeof *s);
}

static void seen_free(struct seen *s)
{
    free(s->output);
    memset(s, 0, sizeof *s);
}

/* ---- text from children ---- */

/* The last `max` bytes of what a child printed, trimmed, as valid UTF-8
 * (a child may print anything, and the cut may split a character): each
 * byte that breaks the encoding becomes U+FFFD. When one_line, line breaks
 * become " / " so the text fits in a message. Malloc'd, never NULL
 * unless out of memory. */
static char *tail_text(const struct rune_proc *p, size_t max, bool one_line)
{
    const char *s = p->tail;
    size_t n = p->tail_len;
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        n--;
    size_t from = n > max ? n - max : 0;
    while (from < n && strchr(" \t\r\n", s[from]))
        from++;
    char *t = malloc((n - from) * 3 + 1);
    if (!t)
        return NULL;
    size_t j = 0;
    for (size_t i = from; i < n; i++) {
        if (one_line && s[i] == '\r')
            continue;
        if (one_line && s[i] == '\n') {
            memcpy(t + j, " / ", 3);
            j += 3;
            continue;
        }
        t[j++] = s[i];
    }
    char *clean = rune_utf8_clean(t, j, NULL);
    free(t);
    return clean;
}

/* The command as an operator would type it, secrets masked. Malloc'd. */
static char *show_cmd(struct rune_call *c, const struct cmd *k)
{
    if (k->script)
        return rune_call_redact(c, k->script);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    for (int i = 0; i < k->n; i++) {
        if (i)
            fputc(' ', f);
        rune_shell_quote(f, k->argv[i]);
    }
    fclose(f);
    char *shown = rune_call_redact(c, text);
    free(text);
    return shown;
}

/* ---- commands ---- */

static void push(struct cmd *k, const char *arg)
{
    if (k->n < MAX_ARGS - 1)
        k->argv[k->n++] = arg;
    k->argv[k->n] = NULL;
}

/* The command line for one action. pg_ctl's own -t is what is left of
 * the wait; restart exists as one command for systemd only (the other
 * backends stop, then start). */
static void build(const struct service *s, enum action a, long long left_ms, struct cmd *k)
{
    memset(k, 0, sizeof *k);
    switch (s->backend) {
    case BACKEND_PG_CTL:
        k->cwd = "/"; /* the user may not be allowed into rune's cwd */
        if (s->as_user) {
            push(k, "runuser");
            push(k, "-u");
            push(k, s->user);
            push(k, "--");
        }
        push(k, s->pg_ctl);
        push(k, action_names[a]);
        push(k, "-D");
        push(k, s->data_dir);
        snprintf(k->secs, sizeof k->secs, "%lld", left_ms > 1000 ? (left_ms + 999) / 1000 : 1);
        if (a == ACT_START) {
            push(k, "-w");
            push(k, "-t");
            push(k, k->secs);
            push(k, "-l");
            push(k, s->log);
            if (s->options) {
                push(k, "-o");
                push(k, s->options);
            }
        } else if (a == ACT_STOP) {
            push(k, "-m");
            push(k, s->stop_mode);
            push(k, "-w");
            push(k, "-t");
            push(k, k->secs);
        }
        break;
    case BACKEND_SYSTEMD:
        push(k, "systemctl");
        push(k, a == ACT_STATUS ? "is-active" : action_names[a]);
        push(k, s->unit);
        break;
    default:
        k->script = a == ACT_STATUS ? s->status : a == ACT_START ? s->start : s->stop;
        k->cwd = s->workdir;
        push(k, "/bin/sh");
        push(k, "-c");
        push(k, k->script);
        break;
    }
}

/* "pg_ctl stop", "systemctl start", "the stop command": how messages name
 * the command that ran. */
static void cmd_name(const struct service *s, enum action a, char *buf, size_t len)
{
    if (s->backend == BACKEND_PG_CTL)
        snprintf(buf, len, "pg_ctl %s", action_names[a]);
    else if (s->backend == BACKEND_SYSTEMD)
        snprintf(buf, len, "systemctl %s", a == ACT_STATUS ? "is-active" : action_names[a]);
    else
        snprintf(buf, len, "the %s command", action_names[a]);
}

/* The step's host: (an ssh target the commands run on), or NULL. */
static const char *s_host(struct rune_call *c)
{
    const char *h = rune_call_str(c, "host");
    return h && *h ? h : NULL;
}

/* Runs k until it ends, the step's deadline or Ctrl-C; `deadline` (0 =
 * none) asks for an earlier end. -1 when it could not start (the reason
 * is already the step's error); the caller releases p either way. */
static int spawn(struct rune_call *c, const struct cmd *k, long long deadline, struct rune_proc *p)
{
    memset(p, 0, sizeof *p);
    p->argv = (char *const *)k->argv;
    p->cwd = k->cwd;
    p->capture_max = CAPTURE_MAX;
    p->deadline_ms = deadline;
    p->host = s_host(c);
    return rune_call_spawn(c, p);
}

/* A command killed before it ended: by Ctrl-C, by the step's timeout, or
 * because the service's wait ran out. Sets the error; returns the status. */
static int killed(struct rune_call *c, const struct service *s, const char *what)
{
    int st = rune_call_cancel_status(c);
    if (st == RUNE_STEP_CANCELLED)
        rune_call_fail(c, "service %s: cancelled while %s ran; it was killed", s->name, what);
    else if (st == RUNE_STEP_TIMEOUT)
        rune_call_fail(c,
                       "service %s: the step's timeout passed while %s ran; it was killed "
                       "(give the step a timeout: longer than the service's wait)",
                       s->name, what);
    else
        return rune_call_fail(c, "service %s: %s did not finish within the wait; it was killed",
                              s->name, what);
    return st;
}

/* ---- status ---- */

static void set_word(struct seen *seen, enum state state, const char *word)
{
    seen->state = state;
    snprintf(seen->word, sizeof seen->word, "%s", word);
}

/* pg_ctl status: 0 running, 3 not running, 4 no (accessible) data
 * directory; anything else is an error. */
static int judge_pg_ctl(struct rune_call *c, const struct service *s, const struct rune_proc *p,
                        struct seen *seen, const char *out)
{
    if (p->exit_code == 0) {
        set_word(seen, STATE_RUNNING, "running");
        const char *pid = p->out ? strstr(p->out, "(PID: ") : NULL;
        if (pid)
            seen->pid = strtoll(pid + 6, NULL, 10);
        return RUNE_STEP_OK;
    }
    if (p->exit_code == 3) {
        set_word(seen, STATE_STOPPED, "stopped");
        return RUNE_STEP_OK;
    }
    if (p->exit_code == 4)
        return rune_call_fail(c,
                              "service %s: pg_ctl cannot use the data directory %s (pg_ctl "
                              "status exited 4: %s); check data_dir%s%s",
                              s->name, s->data_dir, out,
                              s->as_user ? " and that it belongs to " : "",
                              s->as_user ? s->user : "");
    return rune_call_fail(c, "service %s: pg_ctl status exited with status %d: %s", s->name,
                          p->exit_code, out);
}

/* systemctl is-active prints the unit's state on stdout. Nothing on
 * stdout means systemctl itself failed (no systemd, no bus, bad unit name). */
static int judge_systemd(struct rune_call *c, const struct service *s, const struct rune_proc *p,
                         struct seen *seen, const char *out)
{
    char word[32] = "";
    if (p->out)
        sscanf(p->out, "%31s", word);
    if (!*word) {
        bool booted = access("/run/systemd/system", F_OK) == 0;
        return rune_call_fail(c, "service %s: systemctl is-active %s failed (exit %d): %s%s",
                              s->name, s->unit, p->exit_code, out,
                              booted ? ""
                                     : "; systemd is not running on this machine (no "
                                       "/run/systemd/system): use backend pg_ctl or "
                                       "command here");
    }
    static const struct {
        const char *word;
        enum state state;
        const char *as;
    } words[] = {
        {"active", STATE_RUNNING, "running"},         {"reloading", STATE_RUNNING, "running"},
        {"refreshing", STATE_RUNNING, "running"},     {"inactive", STATE_STOPPED, "stopped"},
        {"failed", STATE_STOPPED, "stopped"},         {"activating", STATE_CHANGING, "starting"},
        {"deactivating", STATE_CHANGING, "stopping"},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(word, words[i].word) == 0) {
            set_word(seen, words[i].state, words[i].as);
            return RUNE_STEP_OK;
        }
    set_word(seen, STATE_CHANGING, word); /* a newer systemd's word: neither yet */
    return RUNE_STEP_OK;
}

/* LSB: a status script exits 0 while the service runs and non-zero when
 * it does not; 126 and 127 mean the script itself could not run, which
 * must not pass for "stopped". */
static int judge_command(struct rune_call *c, const struct service *s, const struct rune_proc *p,
                         struct seen *seen, const char *out)
{
    if (p->exit_code == 126 || p->exit_code == 127)
        return rune_call_fail(c,
                              "service %s: the status command could not run (exit %d: %s): %s; "
                              "fix status: on the target",
                              s->name, p->exit_code,
                              p->exit_code == 127 ? "command not found" : "not executable", out);
    set_word(seen, p->exit_code == 0 ? STATE_RUNNING : STATE_STOPPED,
             p->exit_code == 0 ? "running" : "stopped");
    return RUNE_STEP_OK;
}

/* Runs the status command once and says what it saw. Fails only when the
 * answer is not a state: the command could not run, was killed, or
 * reported an error of its own. `deadline`: 0 = the step's only. */
static int probe(struct rune_call *c, const struct service *s, long long deadline,
                 struct seen *seen)
{
    seen_free(seen);
    struct cmd k;
    build(s, ACT_STATUS, 0, &k);
    char name[64];
    cmd_name(s, ACT_STATUS, name, sizeof name);
    struct rune_proc p;
    int st = RUNE_STEP_OK;
    if (spawn(c, &k, deadline, &p) != 0) {
        st = RUNE_STEP_FAILED;
        goto out;
    }
    if (p.timed_out || p.was_cancelled || p.term_signal) {
        st = p.term_signal && !p.timed_out && !p.was_cancelled
                 ? rune_call_fail(c, "service %s: %s was killed by signal %d", s->name, name,
                                  p.term_signal)
                 : killed(c, s, name);
        goto out;
    }
    seen->output = tail_text(&p, OUTPUT_TAIL, false);
    char *out = tail_text(&p, MSG_TAIL, true);
    const char *shown = out && *out ? out : "no output";
    snprintf(seen->how, sizeof seen->how, "%s exited %d", name, p.exit_code);
    if (s->backend == BACKEND_PG_CTL)
        st = judge_pg_ctl(c, s, &p, seen, shown);
    else if (s->backend == BACKEND_SYSTEMD)
        st = judge_systemd(c, s, &p, seen, shown);
    else
        st = judge_command(c, s, &p, seen, shown);
    free(out);
out:
    rune_proc_release(&p);
    return st;
}

/* ---- changing state ---- */

/* Where to look when a change did not happen: after `a` failed (its
 * command exited non-zero), or after the wait ran out. */
static void hint(const struct service *s, enum action a, bool cmd_failed, char *buf, size_t len)
{
    switch (s->backend) {
    case BACKEND_PG_CTL:
        snprintf(buf, len, "check the server log %s%s", s->log,
                 a == ACT_STOP && strcmp(s->stop_mode, "immediate")
                     ? " (stop_mode: immediate does not wait for sessions and checkpoints)"
                     : "");
        break;
    case BACKEND_SYSTEMD:
        snprintf(buf, len, "check `systemctl status %s` and `journalctl -u %s`", s->unit, s->unit);
        break;
    default:
        if (cmd_failed)
            snprintf(buf, len, "check the %s command (`%s`) by hand", action_names[a],
                     a == ACT_START ? s->start : s->stop);
        else
            snprintf(buf, len, "run the status command by hand to see what it says: `%s`",
                     s->status);
        break;
    }
}

/* The action's command ran and failed: say how, with what it printed and
 * the state the service is in now. */
static int action_failed(struct rune_call *c, const struct service *s, enum action a,
                         const struct rune_proc *p, long long deadline, struct seen *seen)
{
    char name[64], help[512];
    cmd_name(s, a, name, sizeof name);
    hint(s, a, true, help, sizeof help);
    char *out = tail_text(p, MSG_TAIL, true);
    char how[64];
    if (p->term_signal)
        snprintf(how, sizeof how, "was killed by signal %d", p->term_signal);
    else
        snprintf(how, sizeof how, "exited with status %d", p->exit_code);
    bool known = probe(c, s, deadline, seen) == RUNE_STEP_OK;
    rune_call_fail(c, "service %s: %s %s (%s%s); the service is %s%s%s%s; %s", s->name, name, how,
                   out && *out ? "last output: " : "no output", out ? out : "",
                   known ? seen->word : "in an unknown state (the status check failed too)",
                   known ? " (" : "", known ? seen->how : "", known ? ")" : "", help);
    free(out);
    return RUNE_STEP_FAILED;
}

/* Polls the status until it shows `want` or the deadline passes; `seen`
 * ends with the last state seen, also on failure. */
static int await(struct rune_call *c, const struct service *s, enum action a, enum state want,
                 long long deadline, long long wait_ms, struct seen *seen)
{
    long long pause = POLL_FIRST_MS;
    for (;;) {
        long long grace = rune_clock_mono_ms() + STATUS_GRACE_MS;
        int st = probe(c, s, deadline > grace ? deadline : grace, seen);
        if (st != RUNE_STEP_OK || seen->state == want)
            return st;
        long long left = deadline - rune_clock_mono_ms();
        const char *to = want == STATE_RUNNING ? "running" : "stopped";
        if (left <= 0) {
            char w[32], help[512];
            rune_clock_ms_str(wait_ms, w, sizeof w);
            hint(s, a, false, help, sizeof help);
            return rune_call_fail(c,
                                  "service %s is not %s after waiting %s (wait): the last "
                                  "state seen was %s (%s%s%s); %s",
                                  s->name, to, w, seen->word, seen->how,
                                  seen->output && *seen->output ? ": " : "",
                                  seen->output ? seen->output : "", help);
        }
        st = rune_call_sleep(c, pause < left ? pause : left);
        if (st != RUNE_STEP_OK) {
            rune_call_fail(c,
                           "service %s: %s while waiting for it to be %s; the last state "
                           "seen was %s",
                           s->name,
                           st == RUNE_STEP_TIMEOUT ? "the step's timeout passed" : "cancelled", to,
                           seen->word);
            return st;
        }
        pause = pause * 2 > POLL_MAX_MS ? POLL_MAX_MS : pause * 2;
    }
}

/* Runs one action and waits for the state it leads to. */
static int change(struct rune_call *c, const struct service *s, enum action a, long long deadline,
                  struct seen *seen)
{
    struct cmd k;
    build(s, a, deadline - rune_clock_mono_ms(), &k);
    char *shown = show_cmd(c, &k);
    rune_call_log(c, "%s service %s: %s", action_doing[a], s->name, shown ? shown : "");
    free(shown);
    char name[64];
    cmd_name(s, a, name, sizeof name);
    struct rune_proc p;
    int st = RUNE_STEP_OK;
    if (spawn(c, &k, deadline, &p) != 0)
        st = RUNE_STEP_FAILED;
    else if (p.timed_out || p.was_cancelled)
        st = killed(c, s, name);
    else if (p.exit_code != 0 || p.term_signal)
        st = action_failed(c, s, a, &p, deadline, seen);
    rune_proc_release(&p);
    if (st != RUNE_STEP_OK)
        return st;
    return await(c, s, a, a == ACT_STOP ? STATE_STOPPED : STATE_RUNNING, deadline, s->wait_ms,
                 seen);
}

static void set_pid(json_t *o, const struct seen *seen)
{
    json_object_set_new(o, "pid", seen->pid > 0 ? json_integer(seen->pid) : json_null());
}

/* stop, start and restart: look, act unless there is nothing to do,
 * wait for the new state, report before and after. */
static int act(struct rune_call *c, enum action a)
{
    struct service s;
    struct seen before = {0}, after = {0};
    int st = rune_service_load(c, &s);
    if (st == RUNE_STEP_OK)
        st = rune_service_need_scripts(c, &s, a);
    if (st != RUNE_STEP_OK)
        goto out;
    json_t *o = rune_call_outputs(c);
    st = probe(c, &s, 0, &before);
    if (st != RUNE_STEP_OK)
        goto out;
    long long t0 = rune_clock_mono_ms(), deadline = t0 + s.wait_ms;
    json_object_set_new(o, "was", json_string(before.word));
    if ((a == ACT_STOP && before.state == STATE_STOPPED) ||
        (a == ACT_START && before.state == STATE_RUNNING)) {
        rune_call_log(c, "service %s is already %s (%s); nothing to do", s.name, before.word,
                      before.how);
        json_object_set_new(o, "now", json_string(before.word));
        json_object_set_new(o, "changed", json_false());
        json_object_set_new(o, "waited_ms", json_integer(0));
        set_pid(o, &before);
        goto out;
    }
    if (a == ACT_RESTART && s.backend != BACKEND_SYSTEMD) {
        if (before.state != STATE_STOPPED)
            st = change(c, &s, ACT_STOP, deadline, &after);
        if (st == RUNE_STEP_OK)
            st = change(c, &s, ACT_START, deadline, &after);
    } else {
        st = change(c, &s, a, deadline, &after);
    }
    long long waited = rune_clock_mono_ms() - t0;
    /* a command killed before any status check leaves the state unknown */
    json_object_set_new(o, "now", json_string(*after.word ? after.word : "unknown"));
    json_object_set_new(o, "changed", json_boolean(st == RUNE_STEP_OK));
    json_object_set_new(o, "waited_ms", json_integer(waited));
    set_pid(o, &after);
    if (st == RUNE_STEP_OK) {
        char w[32];
        rune_clock_ms_str(waited, w, sizeof w);
        rune_call_log(c, "service %s is %s (was %s; %s)", s.name, after.word, before.word, w);
    }
out:
    seen_free(&before);
    seen_free(&after);
    service_free(&s);
    return st;
}

static int service_status(struct rune_call *c)
{
    struct service s;
    struct seen seen = {0};
    int st = rune_service_load(c, &s);
    if (st == RUNE_STEP_OK)
        st = rune_service_need_scripts(c, &s, ACT_STATUS);
    if (st == RUNE_STEP_OK)
        st = probe(c, &s, 0, &seen);
    if (st == RUNE_STEP_OK) {
        json_t *o = rune_call_outputs(c);
        json_object_set_new(o, "running", json_boolean(seen.state == STATE_RUNNING));
        json_object_set_new(o, "state", json_string(seen.word));
        set_pid(o, &seen);
        json_object_set_new(o, "output", json_string(seen.output ? seen.output : ""));
        json_object_set_new(o, "backend", json_string(rune_service_backend_names[s.backend]));
        rune_call_log(c, "service %s is %s (%s)", s.name, seen.word, seen.how);
    }
    seen_free(&seen);
    service_free(&s);
    return st;
}

static int service_stop(struct rune_call *c)
{
    return act(c, ACT_STOP);
}

static int service_start(struct rune_call *c)
{
    return act(c, ACT_START);
}

static int service_restart(struct rune_call *c)
{
    return act(c, ACT_RESTART);
}

/* ---- plans ---- */

/* The command for an action as the plan shows it, secrets masked. Malloc'd. */
static char *described(struct rune_call *c, const struct service *s, enum action a)
{
    struct cmd k;
    build(s, a, s->wait_ms, &k);
    return show_cmd(c, &k);
}

static int plan(struct rune_call *c, enum action a)
{
    struct service s;
    int st = rune_service_load(c, &s);
    if (st == RUNE_STEP_OK)
        st = rune_service_need_scripts(c, &s, a);
    if (st != RUNE_STEP_OK) {
        service_free(&s);
        return st;
    }
    char w[32];
    rune_clock_ms_str(s.wait_ms, w, sizeof w);
    char *how = described(c, &s, a == ACT_RESTART && s.backend != BACKEND_SYSTEMD ? ACT_STOP : a);
    char *then =
        a == ACT_RESTART && s.backend != BACKEND_SYSTEMD ? described(c, &s, ACT_START) : NULL;
    const char *b = rune_service_backend_names[s.backend];
    char on[300] = "";
    if (s.host)
        snprintf(on, sizeof on, " on host %s", s.host);
    if (a == ACT_STATUS)
        rune_call_plan(c, "would check service %s%s (%s: `%s`)", s.name, on, b, how ? how : "");
    else if (then)
        rune_call_plan(c,
                       "would restart service %s%s (%s: if it runs `%s`, then `%s`), waiting up "
                       "to %s for it to be running",
                       s.name, on, b, how ? how : "", then, w);
    else
        rune_call_plan(c,
                       "would %s service %s%s (%s: `%s`) unless it is already %s, waiting up "
                       "to %s",
                       action_names[a], s.name, on, b, how ? how : "",
                       a == ACT_STOP ? "stopped" : "running", w);
    free(how);
    free(then);
    service_free(&s);
    return RUNE_STEP_OK;
}

static int plan_status(struct rune_call *c)
{
    return plan(c, ACT_STATUS);
}

static int plan_stop(struct rune_call *c)
{
    return plan(c, ACT_STOP);
}

static int plan_start(struct rune_call *c)
{
    return plan(c, ACT_START);
}

static int plan_restart(struct rune_call *c)
{
    return plan(c, ACT_RESTART);
}

/* ---- the table ---- */

static const struct rune_param status_params[] = {
    {"target", RUNE_T_TARGET, true, NULL, "the service (a target of kind service)", "service"},
    {"host", RUNE_T_TARGET, false, NULL,
     "control the service on this ssh target instead of here (its paths are the remote host's, "
     "absolute; pg_ctl needs bin_dir there and runs as the user the target logs in as)",
     "ssh"},
    {NULL},
};

static const struct rune_param change_params[] = {
    {"target", RUNE_T_TARGET, true, NULL, "the service (a target of kind service)", "service"},
    {"host", RUNE_T_TARGET, false, NULL,
     "control the service on this ssh target instead of here (its paths are the remote host's, "
     "absolute; pg_ctl needs bin_dir there and runs as the user the target logs in as)",
     "ssh"},
    {"wait", RUNE_T_DURATION, false, NULL,
     "how long the change may take, waiting included (default: the target's wait)"},
    {NULL},
};

static const struct rune_output status_outputs[] = {
    {"running", RUNE_T_BOOL, "whether the service runs"},
    {"state", RUNE_T_STRING, "running, stopped, starting or stopping"},
    {"pid", RUNE_T_INT, "the server's process id (pg_ctl), else null"},
    {"output", RUNE_T_STRING, "what the status command printed (its end; secrets masked)"},
    {"backend", RUNE_T_STRING, "pg_ctl, systemd or command"},
    {NULL},
};

static const struct rune_output change_outputs[] = {
    {"was", RUNE_T_STRING, "the state before (running, stopped, starting, stopping)"},
    {"now", RUNE_T_STRING, "the state after (when the step failed: the last one seen, or unknown)"},
    {"changed", RUNE_T_BOOL, "whether rune acted and the service reached the new state"},
    {"waited_ms", RUNE_T_INT,
     "milliseconds from acting to seeing the new state (0 when nothing was done)"},
    {"pid", RUNE_T_INT, "the server's process id after (pg_ctl), else null"},
    {NULL},
};

const struct rune_step_type rune_service_steps[] = {
    {"service.status", "Check whether a service runs (pg_ctl, systemd or a status command)",
     status_params, status_outputs, RUNE_READS, service_status, plan_status},
    {"service.stop", "Stop a service and wait until it is stopped (nothing to do if it is)",
     change_params, change_outputs, RUNE_WRITES, service_stop, plan_stop},
    {"service.start", "Start a service and wait until it runs (nothing to do if it does)",
     change_params, change_outputs, RUNE_WRITES, service_start, plan_start},
    {"service.restart", "Restart a service (or start it if stopped) and wait until it runs",
     change_params, change_outputs, RUNE_WRITES, service_restart, plan_restart},
    {0},
};
