/*
 * ssh_exec.h — one child process run on an ssh target instead of here
 * (ssh_exec.c), for rune_call_spawn when a family sets rune_proc.host.
 */
#ifndef RUNE_SSH_EXEC_H
#define RUNE_SSH_EXEC_H

#include <stddef.h>

#include "proc.h"
#include "runstate.h"

/* What runs here for a remote command: the ssh client (proc), and what
 * rune_remote_finish needs to translate its end back. */
struct rune_remote {
    struct rune_proc proc; /* argv, stdin, deadline and callbacks set; run it with rune_proc_run */
    char **argv;
    char *input;
    char token[40];
    json_t *target; /* borrowed from the run's ctx */
    struct rune_ssh *ssh;
    const char *cwd;
    size_t want_cap; /* the caller's capture_max */
};

/* Opens (or reuses) the connection to the target p->host names and
 * builds the ssh command that runs p's argv there: its env and cwd and
 * stdin go over the client's standard input, never on a command line.
 * p's deadline and callbacks are copied. 0, or -1 with a message in err
 * (nothing was run there). */
int rune_remote_prepare(struct rune_run *r, struct rune_proc *p, struct rune_remote *rem, char *err,
                        size_t errlen);
/* After rune_proc_run(&rem->proc): the remote command's exit and output
 * moved into p (rune's own first line taken out), and on a deadline or a
 * cancel its remote process group killed (TERM, then KILL). 0, or -1 with
 * err when the remote command never started (connection lost, no sh or
 * setsid there). */
int rune_remote_finish(struct rune_remote *rem, struct rune_proc *p, char *err, size_t errlen);
/* Frees what prepare made (p's buffers are p's). */
void rune_remote_release(struct rune_remote *rem);

#endif
