/*
 * pgcopy_bin.h — a restore's COPY in PostgreSQL's binary format, converted
 * from the text rows pg.dump wrote.
 *
 * Why: the server's side of a restore is bound by parsing COPY text. At
 * 1 GiB of the realistic set, a table of timestamps and numerics loaded
 * from the binary format took half the server time of the same rows as
 * text (docs/performance.md): no line and field splitting, no date or
 * number parsing. The backup stays text (gzip -dc | psql still restores
 * it); the rows are turned into binary on the way, by code that reads
 * only the one form pg.dump writes (pgsession.c: UTC, ISO dates, hex
 * bytea, UTF-8) and refuses anything else.
 *
 * What it must not do: guess. A value not in that exact form (a year BC, a
 * time zone other than UTC, a bytea in escape form, a field too many) is
 * refused with the row and column, and the caller loads the table as text
 * instead: the slow path, never a different value. Types it does not
 * know make the table text from the start (rune_pg_bin_kind).
 */
#ifndef RUNE_PGCOPY_BIN_H
#define RUNE_PGCOPY_BIN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

enum rune_pg_bin_kind {
    RUNE_PG_BIN_NONE = -1, /* not converted: the table loads as text */
    RUNE_PG_BIN_BOOL,
    RUNE_PG_BIN_INT2,
    RUNE_PG_BIN_INT4,
    RUNE_PG_BIN_INT8,
    RUNE_PG_BIN_TEXT, /* text, varchar, bpchar, json: the characters */
    RUNE_PG_BIN_JSONB,
    RUNE_PG_BIN_BYTEA,
    RUNE_PG_BIN_DATE,
    RUNE_PG_BIN_TIMESTAMP,
    RUNE_PG_BIN_TIMESTAMPTZ,
    RUNE_PG_BIN_NUMERIC,
    RUNE_PG_BIN_UUID,
};

/* The conversion of a column of the built-in type `oid`, or
 * RUNE_PG_BIN_NONE (a domain, an array, an enum, a type without one). */
enum rune_pg_bin_kind rune_pg_bin_kind(unsigned oid);

struct rune_pg_bin;

/* A converter for rows of n columns of these kinds (copied). Its output
 * starts with the binary format's header. NULL when out of memory, or
 * when a kind is none it converts. */
struct rune_pg_bin *rune_pg_bin_new(const enum rune_pg_bin_kind *kinds, size_t n);
void rune_pg_bin_free(struct rune_pg_bin *b);

/* n more bytes of COPY text (rows end with '\n'; a row may span feeds).
 * Every complete row is appended to the output. 0, or -1 with err naming
 * the row, the column and what was expected. */
int rune_pg_bin_feed(struct rune_pg_bin *b, const char *p, size_t n, char *err, size_t errlen);

/* The end of the rows: appends the trailer. -1 if a row was cut short. */
int rune_pg_bin_finish(struct rune_pg_bin *b, char *err, size_t errlen);

/* The output not yet taken, and its length; rune_pg_bin_taken empties it. */
const char *rune_pg_bin_output(const struct rune_pg_bin *b, size_t *n);
void rune_pg_bin_taken(struct rune_pg_bin *b);

/* The converter for a table's COPY block, from the catalog of the database
 * being loaded (its pre-data is in): `copy` is the block's statement
 * ("COPY qualified (col, ...) FROM stdin;"). NULL with why set when the
 * table must load as text: a column of a type not converted, a statement
 * not of that form, a catalog read that failed. */
struct rune_pg_bin *rune_pg_bin_for(PGconn *conn, const char *qualified, const char *copy,
                                    char *why, size_t whylen);

#endif
