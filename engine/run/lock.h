/*
 * lock.h — a runbook's `lock:`: two runs that touch the same thing (say
 * postgres/app) never overlap. An flock on a file beside the incident log,
 * held for the whole run and released by the kernel if rune dies.
 */
#ifndef RUNE_LOCK_H
#define RUNE_LOCK_H

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

#endif
