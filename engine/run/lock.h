/*
 * lock.h — a runbook's `lock:`: two runs that touch the same thing (say
 * postgres/app) never overlap. Where the lock lives follows the incident
 * log: beside a log in a file, an flock on a file (lock.c), released by
 * the kernel if rune dies; with a log shared on PostgreSQL, a session
 * advisory lock in the log's database (lock_pg.c), held on a connection
 * of its own for the whole run, so runs on different hosts exclude each
 * other. A PostgreSQL lock can be lost while the run goes on (its
 * connection closed): every step that writes asks rune_lock_check first.
 */
#ifndef RUNE_LOCK_H
#define RUNE_LOCK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redact.h"

struct rune_lock;

/* Where a run's locks live and who it is, for the holder it leaves. */
struct rune_lock_place {
    const char *log;           /* the log as given: a postgresql:// URL selects lock_pg.c */
    const char *dir;           /* else flock files in this directory (created if missing) */
    const char *host;          /* this host, shown to the runs that wait */
    const char *operator_name; /* who runs it */
    /* --offline: when the shared log cannot be reached, the lock is an
     * flock in dir, on this host only (said in a warning) */
    bool offline;
};

/* Returns 0 (taken, *out set), 1 (held by another run: holder in msg), or
 * -1 (error in msg). The name is shown only as red masks it; a name that
 * holds a secret is told apart by a hash of the whole name, so it still
 * locks exactly the same resource. */
int rune_lock_take(const struct rune_lock_place *at, const char *name, struct rune_redactor *red,
                   const char *incident, struct rune_lock **out, char *msg, size_t len);
/* Releases the lock and frees it (NULL: nothing). */
void rune_lock_release(struct rune_lock *l);
/* Rewrites the holder of a lock we hold (the incident got a new id). */
void rune_lock_holder(struct rune_lock *l, const char *incident);

/* Fencing: before a step that writes. 0 while the lock is still ours
 * (always, for an flock and for NULL); -1 once it is lost — its
 * connection closed, the advisory lock no longer held by our session, or
 * its token taken by another run — with a message for the operator in
 * msg. Lost stays lost: nothing reconnects. Safe from several threads. */
int rune_lock_check(struct rune_lock *l, char *msg, size_t len);
/* Whether a check has found the lock lost (its message in msg). */
bool rune_lock_lost(struct rune_lock *l, char *msg, size_t len);

/* `rune log locks`: the holders recorded in the database of a log shared
 * on PostgreSQL (log: its URL), by name: [{name, key, host, operator,
 * pid, incident, taken_at, token, state}], state "held" while the holder's
 * session still holds the advisory lock, "stale" when that session is
 * gone (rune was killed, its connection cut) and the lock is free. A
 * released lock is not listed. New reference; NULL with err on error. */
json_t *rune_lock_holders(const char *log, char *err, size_t len);

/* The advisory lock key of a name (the whole name, secrets included): the
 * first 8 bytes of SHA-256("rune-lock:" || name), big-endian, as a
 * signed 64-bit integer — the same on every host and every rune. */
int64_t rune_lock_key(const char *name);
/* How pg_locks shows that key: classid its high 32 bits, objid its low
 * 32 bits (objsubid 1). */
void rune_lock_key_parts(int64_t key, uint32_t *classid, uint32_t *objid);

#endif
