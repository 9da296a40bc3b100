/*
 * pgconn.h — the step-side PostgreSQL library: the `postgres` target kind,
 * connecting for a call (target, password from a secret, libpq's
 * environment and .pgpass for the rest), and running SQL under the call's
 * deadline and cancellation. Every pg.* primitive goes through here, so
 * there is one place where passwords are kept out of messages and one
 * session setup that makes output deterministic (UTC, ISO dates, exact
 * floats) — which content hashes and dumps rely on.
 */
#ifndef RUNE_PGCONN_H
#define RUNE_PGCONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "step.h"

extern const struct rune_target_kind rune_postgres_target;

/* Connects for call c. The target comes from the call's "target"
 * parameter (absent: libpq defaults from PGHOST, PGPORT, PGUSER, PGDATABASE,
 * PGPASSWORD, ~/.pgpass). `dbname`, when not NULL, replaces the target's
 * database (to reach `postgres` for a DROP DATABASE, or a scratch copy).
 * Honours the call's deadline while connecting. Any password seen is
 * registered as a secret first. NULL with a message in err (no password in
 * it) when the connection fails. Safe to call from several threads of one
 * call (a PGconn itself must stay in one thread at a time). */
PGconn *rune_pg_connect(struct rune_call *c, const char *dbname, char *err, size_t errlen);

/* Connects with these libpq keywords (NULL-terminated; later ones win;
 * expand: the first dbname may be a conninfo) within timeout_ms, watching
 * the call's cancellation; no session setup (for the pgbouncer admin
 * console, which knows no SET). Register passwords as secrets first. NULL
 * with a message in err (passwords masked) on failure. */
PGconn *rune_pg_open(struct rune_call *c, const char *const *keys, const char *const *vals,
                     bool expand, long long timeout_ms, char *err, size_t errlen);

/* A physical replication connection (replication=true) to the call's
 * target, for the replication commands (IDENTIFY_SYSTEM, BASE_BACKUP);
 * no session setup, since a walsender runs no SET. NULL with err. */
PGconn *rune_pg_connect_replication(struct rune_call *c, char *err, size_t errlen);

/* True when conn reaches the server through a connection pooler
 * (pgBouncer): rune_pg_exec then keeps rune's session settings, and every
 * `SET name = value` sent through it, per transaction (see pgsession.h),
 * so they hold in transaction pooling mode and never stay behind on the
 * pool's server connections. Code that sends SQL without rune_pg_exec
 * (COPY through PQexec) must do so inside a transaction begun with it. */
bool rune_pg_pooled(const PGconn *conn);

/* PQpingParams for the call's target: is a server there and accepting
 * connections (no authentication needed)? timeout_ms < 0: the target's
 * connect_timeout. */
PGPing rune_pg_ping(struct rune_call *c, const char *dbname, long long timeout_ms);

/* "db app on /tmp/s:5432 as postgres" — where a connection goes, for logs. */
const char *rune_pg_where(PGconn *conn, char *buf, size_t len);

/* Runs sql (with optional text parameters; without any, sql may hold
 * several statements) and waits for its result while
 * watching the call's cancellation: on a timeout or abort the server is
 * asked to cancel the query. Returns the last result (PQclear it), or NULL
 * with err set; a result whose status is not COMMAND_OK / TUPLES_OK is
 * turned into NULL + err too. */
PGresult *rune_pg_exec(struct rune_call *c, PGconn *conn, const char *sql, int nparams,
                       const char *const *params, char *err, size_t errlen);

/* rune_pg_exec for SQL whose rows nobody wants (a script of several
 * statements is fine): 0, or -1 with err. run_all: a NULL-terminated list,
 * stopping at the first failure. */
int rune_pg_run(struct rune_call *c, PGconn *conn, const char *sql, char *err, size_t errlen);
int rune_pg_run_all(struct rune_call *c, PGconn *conn, const char *const *sql, char *err,
                    size_t errlen);

/* Asks the server to cancel what conn is running (the answer arrives as
 * the query's error). */
void rune_pg_cancel(PGconn *conn);

/* A failed result (or the connection's error when r is NULL) as one line
 * for an operator: message, detail, hint. */
void rune_pg_error(PGconn *conn, const PGresult *r, char *err, size_t errlen);

/* Convenience: a single value of a one-row result as a malloc'd string
 * (NULL on error or SQL NULL; *isnull tells which). */
char *rune_pg_value(struct rune_call *c, PGconn *conn, const char *sql, int nparams,
                    const char *const *params, bool *isnull, char *err, size_t errlen);

/* The call was cancelled (deadline or abort): the status to return. */
int rune_pg_cancelled(struct rune_call *c);

/* `"schema"."table"` for a qualified name ("public.orders" or "orders"),
 * quoted with PQescapeIdentifier. malloc'd; NULL on error. */
char *rune_pg_qualified(PGconn *conn, const char *name);

/* The quoted, schema-qualified name (`"sales"."Ünïcode"`) of table `name`
 * as rune_pg_tables lists it ("Order" for public."Order", "sales.Ünïcode"),
 * or as SQL already quotes it; looked up in the catalog. malloc'd; NULL
 * with `err` saying why (no such table, ambiguous, SQL error). */
char *rune_pg_resolve_table(struct rune_call *c, PGconn *conn, const char *name, char *err,
                            size_t errlen);

/* User tables of the connected database as "schema.table" names (schema
 * omitted for public), sorted; NULL with err on failure. */
json_t *rune_pg_tables(struct rune_call *c, PGconn *conn, char *err, size_t errlen);

/* printf into a malloc'd string the caller frees, for SQL text whose
 * names were quoted already (NULL when out of memory). */
char *rune_pg_sqlf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
