/*
 * ssh.h — a run's connections to its ssh targets (ssh.c): one shared
 * OpenSSH connection (ControlMaster) per target, opened when a step first
 * needs it and closed when the run ends, its socket in a private 0700
 * directory of the run.
 */
#ifndef RUNE_SSH_H
#define RUNE_SSH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct rune_ssh;

/* The connections of one run; sockets go under workdir when the path is
 * short enough for a unix socket, else under $TMPDIR (a private mkdtemp
 * either way). NULL when out of memory. */
struct rune_ssh *rune_ssh_new(const char *workdir);
/* Closes every connection (ssh -O exit), removes the sockets and the
 * directory, frees s. NULL is fine. */
void rune_ssh_free(struct rune_ssh *s);

/* How a caller waits: until deadline_ms (monotonic; 0 none), or until
 * cancelled(ctx) says so. */
struct rune_ssh_wait {
    long long deadline_ms;
    bool (*cancelled)(void *ctx);
    void *ctx;
};

/* The shared connection to target (a resolved ssh target), opened if it
 * is not yet; cwd resolves relative key and known_hosts paths. 0, or -1
 * with a message for a person in err (host key refused, not reachable,
 * login refused ...). */
int rune_ssh_connect(struct rune_ssh *s, json_t *target, const char *cwd,
                     const struct rune_ssh_wait *w, char *err, size_t errlen);
/* argv for `ssh ... HOST remote` through target's shared connection
 * (remote: one string the remote login shell runs). Malloc'd, every
 * string too; free with rune_ssh_argv_free. NULL when out of memory. */
char **rune_ssh_argv(struct rune_ssh *s, json_t *target, const char *cwd, const char *remote);
void rune_ssh_argv_free(char **argv);

#endif
