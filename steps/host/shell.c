/*
 * shell.c — the shell.* family: shell.run runs a program (argv, no shell
 * involved) or a script through a shell, and reports its exit status and
 * output.
 *
 * The process itself is started by the engine (rune_call_spawn, which
 * applies the step's deadline, Ctrl-C and secret masking); this file only
 * turns parameters into a command, and the child's end into outputs and an
 * error message an operator can act on. It never builds a shell string out
 * of argv: argv runs as given, and a script is passed whole to `shell -c`.
 */
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shquote.h"
#include "step.h"
#include "utf8.h"

#define LAST_LINE_MAX 200 /* bytes of the last output line quoted in an error */

/* What shell.run will execute, built from the parameters. Every string is
 * owned here and freed by command_free. */
struct command {
    char **argv; /* NULL-terminated */
    char **env;  /* "K=V", NULL-terminated; NULL when no env was given */
    char *cwd;   /* absolute, or NULL to inherit */
    size_t wrap; /* argv's leading words that switch user (env, setpriv): not the command */
};

extern char **environ;

static void free_strv(char **v)
{
    for (char **s = v; s && *s; s++)
        free(*s);
    free(v);
}

static void command_free(struct command *cmd)
{
    free_strv(cmd->argv);
    free_strv(cmd->env);
    free(cmd->cwd);
    memset(cmd, 0, sizeof *cmd);
}

static const char *kind(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_NULL:
        return "null";
    default:
        return "a value";
    }
}

/* Strings, numbers and booleans as the text a program would see; NULL for
 * anything else. The result is malloc'd. */
static char *scalar_text(json_t *v)
{
    char buf[64];
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, sizeof buf, "%.15g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
    else
        return NULL;
    return strdup(buf);
}

/* A program's output as a JSON string. JSON strings must be UTF-8, and a
 * child may print anything (binary, Latin-1, or a character cut in half by
 * the capture cap), so each invalid byte becomes U+FFFD instead of the
 * whole output being lost. Trailing newlines are dropped, as $(...) does in
 * a shell, so ${steps.x.outputs.stdout} can be used as a value. New
 * reference. */
static json_t *output_text(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (!memchr(s, '\0', n)) {
        json_t *v = json_stringn(s, n); /* fails on invalid UTF-8 */
        if (v)
            return v;
    }
    size_t j;
    char *clean = rune_utf8_clean(s, n, &j);
    if (!clean)
        return json_string("");
    json_t *v = json_stringn(clean, j);
    free(clean);
    return v ? v : json_string("");
}

static int build_argv(struct rune_call *c, struct command *cmd)
{
    json_t *params = rune_call_params(c);
    json_t *argv = json_object_get(params, "argv");
    json_t *script = json_object_get(params, "script");
    const char *sh = rune_call_str(c, "shell");
    if (!sh || !*sh)
        sh = "/bin/sh";
    /* exactly one of argv and script: the engine saw to it (one_of) */
    if (script) {
        cmd->argv = calloc(4, sizeof *cmd->argv);
        if (cmd->argv) {
            cmd->argv[0] = strdup(sh);
            cmd->argv[1] = strdup("-c");
        }
        if (!cmd->argv || !cmd->argv[0] || !cmd->argv[1])
            return rune_call_fail(c,
                                  "no memory for the command line (%s -c script): free memory on "
                                  "this host and run the step again",
                                  sh);
        cmd->argv[2] = scalar_text(script);
        if (!cmd->argv[2])
            return rune_call_fail(c, "script: expected a string, found %s", kind(script));
        return RUNE_STEP_OK;
    }
    size_t n = json_array_size(argv);
    if (n == 0)
        return rune_call_fail(c, "argv is empty: give the program to run and its arguments, "
                                 "e.g. [pg_isready, -h, db1]");
    cmd->argv = calloc(n + 1, sizeof *cmd->argv);
    if (!cmd->argv)
        return rune_call_fail(c,
                              "no memory for the command line (%zu arguments): free memory on this "
                              "host and run the step again",
                              n);
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(argv, i);
        cmd->argv[i] = scalar_text(item);
        if (!cmd->argv[i])
            return rune_call_fail(c, "argv item %zu: expected a string, found %s", i + 1,
                                  kind(item));
    }
    return RUNE_STEP_OK;
}

static int build_env(struct rune_call *c, struct command *cmd)
{
    json_t *env = json_object_get(rune_call_params(c), "env");
    if (!json_is_object(env))
        return RUNE_STEP_OK;
    cmd->env = calloc(json_object_size(env) + 1, sizeof *cmd->env);
    if (!cmd->env)
        return rune_call_fail(c,
                              "no memory for the environment (%zu variables): free memory on this "
                              "host and run the step again",
                              json_object_size(env));
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(env, key, v)
    {
        if (!*key || strchr(key, '='))
            return rune_call_fail(c, "env: \"%s\" is not a valid variable name", key);
        char *text = scalar_text(v);
        if (!text)
            return rune_call_fail(c, "env %s: expected a string, number or boolean, found %s", key,
                                  kind(v));
        size_t len = strlen(key) + strlen(text) + 2;
        cmd->env[i] = malloc(len);
        if (cmd->env[i])
            snprintf(cmd->env[i], len, "%s=%s", key, text);
        free(text);
        if (!cmd->env[i++])
            return rune_call_fail(c,
                                  "no memory for environment variable %s: free memory on this host "
                                  "and run the step again",
                                  key);
    }
    return RUNE_STEP_OK;
}

/* cwd relative to where the operator started rune, not to wherever the
 * engine happens to be. */
static int build_cwd(struct rune_call *c, struct command *cmd)
{
    const char *cwd = rune_call_str(c, "cwd");
    if (!cwd || !*cwd)
        return RUNE_STEP_OK;
    const char *base = rune_call_cwd(c);
    const char *host = rune_call_str(c, "host");
    /* on another host a relative cwd is the remote shell's: its home */
    if (cwd[0] == '/' || !base || !*base || (host && *host)) {
        cmd->cwd = strdup(cwd);
    } else {
        size_t len = strlen(base) + strlen(cwd) + 2;
        cmd->cwd = malloc(len);
        if (cmd->cwd)
            snprintf(cmd->cwd, len, "%s/%s", base, cwd);
    }
    return cmd->cwd ? RUNE_STEP_OK
                    : rune_call_fail(c,
                                     "no memory for the working directory %s: free memory on this "
                                     "host and run the step again",
                                     cwd);
}

/* ---- user: ---- */

/* What stays of rune's own environment for a program run as `user:`:
 * the terminal and the locale. Everything else (PG*, tokens, rune's own
 * variables, LD_* …) is dropped; the user's HOME, USER, LOGNAME and SHELL
 * and a standard PATH are set, then the step's env on top. */
static bool kept(const char *entry)
{
    static const char *const keep[] = {"TERM=", "LANG=", "LANGUAGE=", "TZ=", "LC_", NULL};
    for (const char *const *k = keep; *k; k++)
        if (!strncmp(entry, *k, strlen(*k)))
            return true;
    return false;
}

static bool named(char *const *env, const char *entry)
{
    size_t k = strcspn(entry, "=");
    for (char *const *e = env; e && *e; e++)
        if (!strncmp(*e, entry, k) && (*e)[k] == '=')
            return true;
    return false;
}

static char **strv_push(char **v, size_t *n, char *s)
{
    char **w = s ? realloc(v, (*n + 2) * sizeof *v) : NULL;
    if (!w) {
        free(s);
        return NULL;
    }
    w[(*n)++] = s;
    w[*n] = NULL;
    return w;
}

static char *kv(const char *k, const char *v)
{
    char *s = NULL;
    return asprintf(&s, "%s=%s", k, v) < 0 ? NULL : s;
}

/* Where Debian (and merged-/usr systems) keep a tool: a literal, found
 * without writing anything (several steps may ask at once). */
static const char *program(const char *usr_bin, const char *bin)
{
    if (access(usr_bin, X_OK) == 0)
        return usr_bin;
    return access(bin, X_OK) == 0 ? bin : NULL;
}

/* The environment for `user:` — the user's own variables and a standard
 * PATH first, the step's env over them — into cmd->env; and argv behind
 * `env -u NAME …` (names only: values never reach a command line, where
 * other users could read them) that drops every other inherited variable,
 * then `setpriv` to the user's ids and groups when that is another user. */
static int switch_user(struct rune_call *c, struct command *cmd, const struct passwd *pw,
                       bool other)
{
    char **env = NULL, **argv = NULL, uid[32], gid[32];
    size_t ne = 0, na = 0;
    const char *path = pw->pw_uid == 0
                           ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                           : "/usr/local/bin:/usr/bin:/bin";
    const char *sh = pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh";
    const char *envp = program("/usr/bin/env", "/bin/env");
    const char *setpriv = program("/usr/bin/setpriv", "/bin/setpriv");
    if (!envp || (other && !setpriv))
        return rune_call_fail(c, "user: %s needs %s, not found in /usr/bin or /bin (install %s)",
                              pw->pw_name, envp ? "setpriv" : "env",
                              envp ? "util-linux" : "coreutils");
    const char *const own[][2] = {
        {"HOME", pw->pw_dir}, {"USER", pw->pw_name}, {"LOGNAME", pw->pw_name},
        {"SHELL", sh},        {"PATH", path},
    };
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        char *e = kv(own[i][0], own[i][1]);
        if (e && named(cmd->env, e)) {
            free(e);
            continue;
        }
        if (!(env = strv_push(env, &ne, e)))
            goto nomem;
    }
    for (char **e = cmd->env; e && *e; e++)
        if (!(env = strv_push(env, &ne, strdup(*e))))
            goto nomem;
    if (!(argv = strv_push(argv, &na, strdup(envp))))
        goto nomem;
    for (char **e = environ; e && *e; e++) {
        if (kept(*e) || named(env, *e))
            continue;
        char *name = strndup(*e, strcspn(*e, "="));
        if (!(argv = strv_push(argv, &na, strdup("-u"))) || !(argv = strv_push(argv, &na, name)))
            goto nomem;
    }
    if (!(argv = strv_push(argv, &na, strdup("--"))))
        goto nomem;
    if (other) {
        snprintf(uid, sizeof uid, "--reuid=%u", (unsigned)pw->pw_uid);
        snprintf(gid, sizeof gid, "--regid=%u", (unsigned)pw->pw_gid);
        const char *const sp[] = {setpriv, uid, gid, "--init-groups", "--"};
        for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
            if (!(argv = strv_push(argv, &na, strdup(sp[i]))))
                goto nomem;
    }
    cmd->wrap = na;
    for (char **a = cmd->argv; *a; a++)
        if (!(argv = strv_push(argv, &na, strdup(*a))))
            goto nomem;
    free_strv(cmd->argv);
    free_strv(cmd->env);
    cmd->argv = argv;
    cmd->env = env;
    return RUNE_STEP_OK;
nomem:
    free_strv(argv);
    free_strv(env);
    return rune_call_fail(c, "no memory to run the command as %s: free memory on this host",
                          pw->pw_name);
}

static int build_user(struct rune_call *c, struct command *cmd)
{
    const char *user = rune_call_str(c, "user");
    if (!user || !*user)
        return RUNE_STEP_OK;
    const char *host = rune_call_str(c, "host");
    if (host && *host)
        return rune_call_fail(c,
                              "user: %s with host: %s — on another host the command runs as the "
                              "user the ssh target logs in as; set user: on the target (or declare "
                              "a second target for that user) and drop user: here",
                              user, host);
    struct passwd pw, *found = NULL;
    char buf[16384];
    if (getpwnam_r(user, &pw, buf, sizeof buf, &found) != 0 || !found)
        return rune_call_fail(c, "user: %s is not a user on this host (getent passwd %s)", user,
                              user);
    uid_t me = geteuid();
    if (me != 0 && pw.pw_uid != me) {
        struct passwd mine, *self = NULL;
        char mbuf[16384];
        getpwuid_r(me, &mine, mbuf, sizeof mbuf, &self);
        return rune_call_fail(c,
                              "user: %s — rune runs as %s (uid %u), not root, so it cannot run a "
                              "program as another user; run rune as root, or drop user:",
                              user, self ? self->pw_name : "?", (unsigned)me);
    }
    return switch_user(c, cmd, &pw, pw.pw_uid != me);
}

static int command_build(struct rune_call *c, struct command *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    int st = build_argv(c, cmd);
    if (st == RUNE_STEP_OK)
        st = build_env(c, cmd);
    if (st == RUNE_STEP_OK)
        st = build_cwd(c, cmd);
    if (st == RUNE_STEP_OK)
        st = build_user(c, cmd);
    if (st != RUNE_STEP_OK)
        command_free(cmd);
    return st;
}

/* expect_exit must be a list of exit codes; checked before anything runs. */
static int check_expect(struct rune_call *c, json_t *expect)
{
    if (!expect || json_is_null(expect))
        return RUNE_STEP_OK;
    if (!json_is_array(expect) || json_array_size(expect) == 0)
        return rune_call_fail(c, "expect_exit: expected a non-empty list of exit codes, "
                                 "e.g. [0, 1]");
    size_t i;
    json_t *v;
    json_array_foreach(expect, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255)
            return rune_call_fail(c,
                                  "expect_exit item %zu: expected an exit code from 0 to "
                                  "255, found %s",
                                  i + 1, json_is_integer(v) ? "a number out of range" : kind(v));
    }
    return RUNE_STEP_OK;
}

static bool expected(json_t *expect, int code)
{
    if (!json_is_array(expect))
        return code == 0;
    size_t i;
    json_t *v;
    json_array_foreach(expect, i, v)
    {
        if (json_integer_value(v) == code)
            return true;
    }
    return false;
}

/* "0" or "0, 1, 2", for the failure message. */
static void expect_str(json_t *expect, char *buf, size_t len)
{
    snprintf(buf, len, "0");
    if (!json_is_array(expect))
        return;
    size_t used = 0, i;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(expect, i, v)
    {
        int n = snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                         (long long)json_integer_value(v));
        if (n < 0 || (size_t)n >= len - used)
            return;
        used += (size_t)n;
    }
}

static const char *signal_name(int sig)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {
        {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
        {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
        {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
        {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGXCPU, "SIGXCPU"},
        {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    return "unknown signal";
}

/* The last non-empty line of the combined output, shortened, as valid
 * UTF-8: the line that usually says what went wrong. Malloc'd. */
static char *last_line(const struct rune_proc *p)
{
    size_t end = p->tail_len;
    while (end > 0 && strchr(" \t\r\n", p->tail[end - 1]))
        end--;
    size_t start = end;
    while (start > 0 && p->tail[start - 1] != '\n' && p->tail[start - 1] != '\r')
        start--;
    bool cut = end - start > LAST_LINE_MAX;
    json_t *text = output_text(p->tail + start, cut ? LAST_LINE_MAX : end - start);
    size_t len = json_string_length(text) + 4;
    char *line = malloc(len);
    if (line)
        snprintf(line, len, "%s%s", json_string_value(text), cut ? "..." : "");
    json_decref(text);
    return line;
}

static void set_outputs(struct rune_call *c, const struct rune_proc *p)
{
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "exit_code", json_integer(p->exit_code));
    json_object_set_new(o, "stdout", output_text(p->out ? p->out : "", p->out_len));
    json_object_set_new(o, "stderr", output_text(p->err ? p->err : "", p->err_len));
    json_object_set_new(o, "stdout_truncated", json_boolean(p->out_truncated));
    json_object_set_new(o, "stderr_truncated", json_boolean(p->err_truncated));
    json_object_set_new(o, "signal", json_integer(p->term_signal));
}

/* Turns how the process ended into a status and, on failure, a message
 * saying what happened and the last thing the program printed. */
static int judge(struct rune_call *c, const struct rune_proc *p, long long budget_ms)
{
    if (p->timed_out) {
        char d[32];
        /* to 10 ms: the budget was read a moment after the attempt began,
         * and "999ms" for a step given 1s reads as a different limit */
        rune_clock_ms_str(budget_ms > 0 ? (budget_ms + 9) / 10 * 10 : 0, d, sizeof d);
        rune_call_fail(c, "timed out after %s; the process group was killed", d);
        return RUNE_STEP_TIMEOUT;
    }
    if (p->was_cancelled) {
        rune_call_fail(c, "cancelled: the run was interrupted; the process group was killed");
        return RUNE_STEP_CANCELLED;
    }
    json_t *expect = json_object_get(rune_call_params(c), "expect_exit");
    if (!p->term_signal && p->exit_code >= 0 && expected(expect, p->exit_code))
        return RUNE_STEP_OK;

    char *line = last_line(p);
    const char *shown = line && *line ? line : NULL;
    if (p->term_signal) {
        rune_call_fail(c, "killed by signal %d (%s)%s%s", p->term_signal,
                       signal_name(p->term_signal), shown ? "; last output: " : "; no output",
                       shown ? shown : "");
    } else if (p->exit_code < 0) {
        rune_call_fail(c, "ended, but its exit status was lost (is SIGCHLD ignored in rune?)");
    } else {
        char want[256];
        expect_str(expect, want, sizeof want);
        rune_call_fail(c, "exited with status %d (expected %s)%s%s", p->exit_code, want,
                       shown ? "; last output: " : "; no output", shown ? shown : "");
    }
    free(line);
    return RUNE_STEP_FAILED;
}

static int shell_run(struct rune_call *c)
{
    json_t *params = rune_call_params(c);
    long long cap = rune_call_int(c, "capture_bytes");
    if (json_object_get(params, "capture_bytes") && cap < 1)
        return rune_call_fail(c, "capture_bytes must be at least 1, found %lld", cap);
    int st = check_expect(c, json_object_get(params, "expect_exit"));
    if (st != RUNE_STEP_OK)
        return st;
    struct command cmd;
    st = command_build(c, &cmd);
    if (st != RUNE_STEP_OK)
        return st;

    json_t *in = json_object_get(params, "stdin");
    struct rune_proc p = {
        .argv = cmd.argv,
        .env = cmd.env,
        .cwd = cmd.cwd,
        .stdin_data = json_string_value(in),
        .stdin_len = json_string_length(in),
        .capture_max = cap > 0 ? (size_t)cap : 0,
        .host = rune_call_str(c, "host"),
    };
    long long budget = rune_call_remaining_ms(c);
    if (rune_call_spawn(c, &p) != 0) {
        command_free(&cmd);
        return RUNE_STEP_FAILED; /* rune_call_spawn said why */
    }
    set_outputs(c, &p);
    st = judge(c, &p, budget);
    rune_proc_release(&p);
    command_free(&cmd);
    return st;
}

static int shell_plan(struct rune_call *c)
{
    struct command cmd;
    int st = command_build(c, &cmd);
    if (st != RUNE_STEP_OK)
        return st;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        command_free(&cmd);
        return rune_call_fail(c, "no memory to describe the command for the plan: free memory on "
                                 "this host and plan again");
    }
    for (char **a = cmd.argv + cmd.wrap; a && *a; a++) {
        if (a != cmd.argv + cmd.wrap)
            fputc(' ', f);
        rune_shell_quote(f, *a);
    }
    const char *user = rune_call_str(c, "user");
    if (user && *user) {
        fputs(" (as user ", f);
        rune_shell_quote(f, user);
        fputs(", with a clean environment)", f);
    }
    if (cmd.cwd) {
        fputs(" (in ", f);
        rune_shell_quote(f, cmd.cwd);
        fputc(')', f);
    }
    const char *host = rune_call_str(c, "host");
    if (host && *host)
        fprintf(f, " on host %s", host);
    fclose(f);
    rune_call_plan(c, "would run: %s", text);
    free(text);
    command_free(&cmd);
    return RUNE_STEP_OK;
}

static const struct rune_param run_params[] = {
    {"argv", RUNE_T_LIST, false, NULL,
     "program and arguments, run directly without a shell, e.g. [pg_isready, -h, db1]", NULL,
     "command"},
    {"script", RUNE_T_STRING, false, NULL, "script text run with `shell -c` (instead of argv)",
     NULL, "command"},
    {"shell", RUNE_T_STRING, false, "/bin/sh", "shell that runs script"},
    {"env", RUNE_T_MAP, false, NULL, "extra environment variables (name: value)"},
    {"cwd", RUNE_T_PATH, false, NULL, "working directory (relative to where rune was started)"},
    {"user", RUNE_T_STRING, false, NULL,
     "run as this user (its uid, gid and groups; rune must be root unless it is rune's own user), "
     "with a clean environment: its HOME, USER, LOGNAME, SHELL, a standard PATH, rune's TERM, "
     "LANG, LC_* and TZ, then env"},
    {"stdin", RUNE_T_STRING, false, NULL, "text written to the program's standard input"},
    {"expect_exit", RUNE_T_LIST, false, "[0]", "exit codes that count as success"},
    {"capture_bytes", RUNE_T_INT, false, "1048576",
     "bytes of stdout and of stderr kept as outputs; the rest is read and dropped"},
    {"host", RUNE_T_TARGET, false, NULL,
     "run it on this ssh target instead of here (env and stdin go over ssh's standard input; a "
     "relative cwd is the remote user's home)",
     "ssh"},
    {0},
};

static const struct rune_output run_outputs[] = {
    {"exit_code", RUNE_T_INT, "exit status, or -1 when killed by a signal"},
    {"stdout", RUNE_T_STRING, "standard output (up to capture_bytes, secrets masked)"},
    {"stderr", RUNE_T_STRING, "standard error (up to capture_bytes, secrets masked)"},
    {"stdout_truncated", RUNE_T_BOOL, "whether stdout was longer than capture_bytes"},
    {"stderr_truncated", RUNE_T_BOOL, "whether stderr was longer than capture_bytes"},
    {"signal", RUNE_T_INT, "the signal that ended the program, 0 if it exited"},
    {0},
};

const struct rune_step_type rune_shell_steps[] = {
    {"shell.run", "Run a program (argv) or a script (through /bin/sh) and check its exit status",
     run_params, run_outputs, RUNE_WRITES, shell_run, shell_plan},
    {0},
};
