/*
 * lock.h — a runbook's `lock:`: two runs that touch the same thing (say
 * postgres/app) never overlap. An flock on a file beside the incident log,
 * held for the whole run and released by the kernel if rune dies.
 */
#ifndef RUNE_LOCK_H
#define RUNE_LOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "redact.h"

/* Returns 0 (taken, *fd set), 1 (held by another run: holder in msg), or
 * -1 (error in msg). dir is created if missing. The name is shown, and
 * used in the file's name, only as red masks it; a name that holds a
 * secret (or is too long for a file name) is told apart by a hash of the
 * whole name, so it still locks exactly the same resource. */
int rune_lock_take(const char *dir, const char *name, struct rune_redactor *red,
                   const char *incident, int *fd, char *msg, size_t len);
void rune_lock_release(int fd);
/* Rewrites the holder line of a lock we hold (the incident got a new id). */
void rune_lock_holder(int fd, const char *incident);

/* The same lock when the incident log is shared on PostgreSQL (lock_pg.c,
 * docs/teams.md): a session advisory lock on a connection of its own to
 * the log's database (url), held until rune_pglock_release, and a fencing
 * token. Returns 0 (*out set), 1 (held by another run: msg names its
 * host, operator and incident), -1 (error in msg; the URL's password
 * never in it). */
struct rune_pglock;
int rune_pglock_take(const char *url, const char *name, struct rune_redactor *red,
                     const char *incident, const char *host, const char *operator_name,
                     struct rune_pglock **out, char *msg, size_t len);
/* Before a step that writes: 0 while the lock is still ours; -1 (msg)
 * when its connection is gone or another run has taken it since. A NULL
 * lock (none, or a file lock) always passes. Thread-safe only under the
 * caller's lock (the scheduler calls it under the run's mutex). */
int rune_pglock_fence(struct rune_pglock *l, char *msg, size_t len);
/* Rewrites the holder's incident (the incident got a new id). */
void rune_pglock_holder(struct rune_pglock *l, const char *incident);
void rune_pglock_release(struct rune_pglock *l);
/* The scheduler's question before a step of type `uses` starts: 0 to go
 * on; -1 when the run's shared lock is lost (now or before): the run is
 * stopped (r->lock_lost, r->lock_why, exit 6) and the step must not run.
 * Steps that only read, dry-runs and file locks always pass. */
struct rune_run;
int rune_lock_fence_step(struct rune_run *r, const char *uses);

#endif
