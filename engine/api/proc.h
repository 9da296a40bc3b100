/*
 * proc.h — the one way rune runs a child process.
 *
 * Every child (shell.run, later service.* and the pg_dump/psql calls) is
 * spawned here: its own process group, no shell unless the caller puts one
 * in argv, stdout/stderr captured with a cap, a combined tail kept for the
 * incident log, and a deadline that kills the whole group (SIGTERM, then
 * SIGKILL after a grace period) so a timed-out step never leaves
 * grandchildren behind.
 */
#ifndef RUNE_PROC_H
#define RUNE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RUNE_PROC_TAIL 4096                 /* bytes of combined output kept for the log */
#define RUNE_PROC_CAPTURE_DEFAULT (1 << 20) /* bytes of each stream kept as outputs */

struct rune_proc {
    /* ---- in (owned by the caller) ---- */
    char *const *argv;      /* argv[0] is looked up in PATH when it has no '/' */
    char *const *env;       /* extra "K=V" entries over the inherited environment; may be NULL */
    const char *cwd;        /* NULL = inherit */
    const char *stdin_data; /* NULL = /dev/null */
    size_t stdin_len;
    size_t capture_max;      /* bytes of each stream kept; 0 = RUNE_PROC_CAPTURE_DEFAULT */
    long long deadline_ms;   /* rune_clock_mono_ms() value; 0 = no deadline */
    long long kill_grace_ms; /* SIGTERM → SIGKILL delay; 0 = 2000 */
    /* Polled about every 50 ms; returning true kills the group as a cancel. */
    bool (*cancelled)(void *ctx);
    void *cancel_ctx;
    /* Called in the parent once the child exists, before it runs anything
     * (it waits on a pipe until this returns, and exits without running if
     * rune dies first): the engine records it, so a child is never running
     * unrecorded. Set by rune_call_spawn; NULL: none. */
    void (*started)(void *ctx, pid_t pid);
    void *started_ctx;
    /* The name of an `ssh` target: rune_call_spawn runs argv there instead
     * (env, cwd and stdin too, over one shared connection; the remote
     * command in its own process group, killed there on a deadline or a
     * cancel). NULL: here. rune_proc_run itself ignores it. */
    const char *host;

    /* ---- out (freed by rune_proc_release) ---- */
    pid_t pid;
    int exit_code;      /* exit status, or -1 when killed by a signal */
    int term_signal;    /* the signal that ended it, 0 if it exited */
    bool timed_out;     /* the deadline passed and the group was killed */
    bool was_cancelled; /* cancelled() said so and the group was killed */
    char *out;          /* NUL-terminated; at most capture_max bytes */
    size_t out_len;
    bool out_truncated;
    char *err;
    size_t err_len;
    bool err_truncated;
    char tail[RUNE_PROC_TAIL + 1]; /* last bytes of stdout+stderr as they arrived */
    size_t tail_len;
    bool tail_cut; /* more came before the tail: it may start inside a secret */
};

/* Runs p to completion (or deadline/cancel). Returns 0 when the child was
 * started (whatever its exit status), -1 when it could not be started, with
 * the reason in errbuf (e.g. "pg_dump: not found in PATH"). */
int rune_proc_run(struct rune_proc *p, char *errbuf, size_t errlen);
/* Frees the captured buffers; the in-fields are untouched.
 *
 * What is captured is not masked here: rune_call_spawn masks it (the
 * streams' cut ends and the tail's cut start included), so a step family
 * never sees a secret in what its child printed. */
void rune_proc_release(struct rune_proc *p);

#endif
