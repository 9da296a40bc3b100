/*
 * pgcopy.h — streaming a table out of PostgreSQL with COPY, counting and
 * content-hashing its rows on the way. pg.dump writes what it streams into
 * the backup; pg.fingerprint and pg.compare only hash. Because both use
 * this one function, a backup manifest's table hashes and a live
 * fingerprint are comparable: a restore can be proven identical.
 *
 * The hash of a row is SHA-256 of its COPY text line (newline included),
 * accumulated with rowhash.h. The session setup in pgconn.c (UTC, ISO
 * dates, exact floats) makes the text, and so the hash, deterministic.
 */
#ifndef RUNE_PGCOPY_H
#define RUNE_PGCOPY_H

#include <libpq-fe.h>
#include <stddef.h>

#include "rowhash.h"
#include "step.h"

/* Receives each COPY line; return 0 to go on, -1 to stop (set err). */
typedef int (*rune_pg_sink)(void *ctx, const char *line, size_t n, char *err, size_t errlen);

/* COPY (SELECT * FROM qualified) TO STDOUT: every line to sink (may be
 * NULL) and to h (may be NULL; initialised by the caller). Watches the
 * call's cancellation. 0, or -1 with err set. */
int rune_pg_copy_out(struct rune_call *c, PGconn *conn, const char *qualified, rune_pg_sink sink,
                     void *ctx, struct rune_rowhash *h, char *err, size_t errlen);

#endif
