/*
 * lock_pg.h — locks in the database of a log shared on PostgreSQL
 * (lock_pg.c), behind lock.h. Only lock.c includes it.
 */
#ifndef RUNE_LOCK_PG_H
#define RUNE_LOCK_PG_H

#include <stddef.h>
#include <stdint.h>

#include "lock.h"

struct rune_lock_pg;

/* What the holder row says about us. */
struct rune_lock_pg_who {
    const char *shown; /* the name as red masks it */
    int64_t key;       /* rune_lock_key(the whole name) */
    const char *host;
    const char *operator_name;
    const char *incident;
};

/* The log's server could not be reached (the caller may fall back to an
 * flock under --offline). */
#define RUNE_LOCK_PG_UNREACHABLE 2

/* 0 (taken, *out set), 1 (held: holder in msg), RUNE_LOCK_PG_UNREACHABLE,
 * or -1 (msg says). msg never holds the URL's password. */
int rune_lock_pg_take(const char *url, const struct rune_lock_pg_who *who,
                      struct rune_lock_pg **out, char *msg, size_t len);
void rune_lock_pg_holder(struct rune_lock_pg *l, const char *incident);
int rune_lock_pg_check(struct rune_lock_pg *l, char *msg, size_t len);
bool rune_lock_pg_lost(struct rune_lock_pg *l, char *msg, size_t len);
void rune_lock_pg_release(struct rune_lock_pg *l);

#endif
