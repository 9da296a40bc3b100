/*
 * pgsession.h — session settings that survive a transaction pooler.
 *
 * Through pgBouncer in transaction pooling mode (or any pooler that hands
 * each transaction whichever server connection is free) a session does not
 * exist on the server: a `SET` lands on one server connection, stays there
 * for the next client of the pool, and is missing from the server
 * connection rune's next transaction gets. So, for a pooled connection,
 * rune keeps the session on its side: the settings rune's session needs
 * (UTC, ISO dates, exact floats, hex bytea …) and every `SET name = value`
 * a step sends are remembered and applied with SET LOCAL at the start of
 * each transaction, and a statement sent outside a transaction runs in
 * one of rune's own (BEGIN; SET LOCAL …; statement; COMMIT). Nothing rune
 * sets outlives its transaction, so nothing reaches the pool's other
 * clients. A direct connection keeps plain session settings.
 *
 * Only pgconn.c includes this; steps use pgconn.h.
 */
#ifndef RUNE_PGSESSION_H
#define RUNE_PGSESSION_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "step.h"

/* The settings every rune session has, as SET statements (one string). */
extern const char *const rune_pg_session_settings;

/* Marks conn as reached through a transaction pooler, with
 * rune_pg_session_settings as its first remembered settings. The state
 * lives with the PGconn (libpq's event mechanism) and is freed by PQfinish.
 * 0, or -1 when out of memory. */
int rune_pg_session_pool(PGconn *conn);

/* True when conn goes through a transaction pooler (see pgconn.h's
 * rune_pg_pooled). */
bool rune_pg_session_pooled(const PGconn *conn);

/* rune_pg_exec for a pooled connection: the statement as described above. */
PGresult *rune_pg_session_exec(struct rune_call *c, PGconn *conn, const char *sql, int nparams,
                               const char *const *params, char *err, size_t errlen);

/* The statement as sent, under the call's deadline (pgconn.c): what
 * rune_pg_exec does for a direct connection. */
PGresult *rune_pg_exec_raw(struct rune_call *c, PGconn *conn, const char *sql, int nparams,
                           const char *const *params, char *err, size_t errlen);

#endif
