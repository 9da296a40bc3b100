/*
 * pg_backup.h — what the parts of the pg_backup family share: pg.dump
 * (pg_dump.c, pg_dump_schema.c), pg.restore (pg_restore.c,
 * pg_restore_pgdump.c) and its loader of pg.dump backups (pg_load.c,
 * pg_jobs.c, pg_postdata.c), and pg_backup.c, which holds the family's
 * table and: running the PostgreSQL client programs (pg_dump, pg_restore, psql)
 * against the server a connection reached, with the password in their
 * environment and never on their command line; hidden work directories;
 * and the layout a pg.dump backup records in its manifest
 * (docs/postgres.md).
 *
 * Internal to the family: only its files include it (pg_dump.h and
 * pg_load.h bring it to theirs).
 */
#ifndef RUNE_PG_BACKUP_H
#define RUNE_PG_BACKUP_H

#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "step.h"

/* The manifest key that holds the layout, and its version. */
#define RUNE_PG_LAYOUT_KEY "postgres"
#define RUNE_PG_LAYOUT_VERSION 1

/* Section kinds, in the order they appear in a backup. */
#define RUNE_PG_SECTION_PRE "pre-data" /* pg_dump's pre-data: types, tables, functions */
#define RUNE_PG_SECTION_TABLE "table"  /* one table's COPY block */
#define RUNE_PG_SECTION_DATA                                                                       \
    "other-data" /* pg_dump's rest of the data: sequence values,                                   \
                  * large objects, extension config tables */
#define RUNE_PG_SECTION_INDEXES                                                                    \
    "indexes"                            /* post-data's indexes and keys: each depends only        \
                                          * on its table, so they may be built in parallel */
#define RUNE_PG_SECTION_POST "post-data" /* the rest of post-data: foreign keys, triggers, ... */

/* The tail of every table section: the end-of-data marker and a blank line. */
#define RUNE_PG_COPY_END "\\.\n\n"

#define RUNE_PG_JOBS_MAX 32 /* parallel connections a step may ask for */
#define RUNE_PG_NAME_MAX 63 /* bytes in a database name */

/* ---- the steps (pg_dump.c, pg_restore.c) ---- */

int rune_pg_dump_run(struct rune_call *c);
int rune_pg_dump_plan(struct rune_call *c);
/* pg.dump's size hook (step.h): the database's size, pg_database_size. */
long long rune_pg_dump_size(struct rune_call *c, enum rune_unit *unit);
int rune_pg_restore_run(struct rune_call *c);
int rune_pg_restore_plan(struct rune_call *c);

/* ---- a restore in progress (pg_restore.c), loading a pg.dump backup (pg_load.c) ---- */

/* What the backup is. */
enum rune_pg_format {
    RUNE_PG_FMT_RUNE,
    RUNE_PG_FMT_PLAIN,
    RUNE_PG_FMT_CUSTOM,
    RUNE_PG_FMT_DIRECTORY
};

/* How a plain script is read: as is, gzip, or a rune artifact (file.compress). */
enum rune_pg_src { RUNE_PG_SRC_FILE, RUNE_PG_SRC_GZIP, RUNE_PG_SRC_ARTIFACT };

/* One pg.restore call; pg_restore.c owns everything in it. */
struct rune_pg_restore {
    struct rune_call *c;
    char from[PATH_MAX];
    enum rune_pg_format fmt;
    enum rune_pg_src src;
    json_t *manifest; /* rune, or a plain script with a manifest; owned */
    json_t *sections; /* rune: borrowed from manifest */
    const char *mode;
    char db[RUNE_PG_NAME_MAX + 1];   /* the database restored (its final name) */
    char load[RUNE_PG_NAME_MAX + 1]; /* where data goes: db, or a scratch database */
    bool scratch;                    /* load is a scratch database that replaces db */
    bool created;                    /* load was created here (dropped on failure) */
    bool db_exists;
    PGconn *admin;  /* to the maintenance database: CREATE, DROP, RENAME */
    char **env;     /* for psql and pg_restore, database load */
    json_t *pick;   /* rune: the table sections to load */
    json_t *loaded; /* table → rows */
    int jobs;
    bool content;
};

/* create / drop: pre-data, the tables and their indexes in parallel, the
 * rest of the data and of post-data; rows checked. Returns a rune_status
 * (the call's error set on failure). */
int rune_pg_load_all(struct rune_pg_restore *r);
/* merge: the contents of r->pick's tables replaced in one transaction. */
int rune_pg_load_merge(struct rune_pg_restore *r);
/* A pg_dump file (pg_restore_pgdump.c): a plain script through psql in one
 * transaction, or a custom or directory archive through pg_restore, into
 * r->load. Return a rune_status (the call's error set). */
int rune_pg_restore_plain(struct rune_pg_restore *r);
int rune_pg_restore_archive(struct rune_pg_restore *r);
/* After psql or pg_restore: r->loaded = every table's row count. */
int rune_pg_count_tables(struct rune_pg_restore *r);
/* Runs psql on database r->load, reading the SQL from `file` (NULL: from
 * input, len bytes), stopping at the first error; in one transaction when
 * single. Returns a rune_status (the call's error set). */
int rune_pg_psql(struct rune_pg_restore *r, const char *file, bool single, const char *input,
                 size_t len);
/* Fails the call with err, or with why it was stopped when it was
 * cancelled; returns the status. */
int rune_pg_failed(struct rune_call *c, const char *err);

/* ---- client programs ---- */

/* The program to run: "BINDIR/name" when the call has a `bindir`, else
 * `name` (looked up in PATH). Written into buf. */
const char *rune_pg_tool(struct rune_call *c, const char *name, char *buf, size_t len);

/* The environment for a client program that must reach the server conn
 * is connected to, as database `dbname` (NULL: conn's): every connection
 * option libpq reports for conn (host, port, user, password, sslmode, ...)
 * as its PG* variable, over the inherited environment. NULL-terminated
 * "K=V" strings; free with rune_pg_env_free. NULL when out of memory. */
char **rune_pg_env(PGconn *conn, const char *dbname);
void rune_pg_env_free(char **env);

/* Runs a client program under the call's deadline. stdin_data may be NULL
 * (/dev/null). On a start failure, a non-zero exit, a timeout or a cancel
 * it fails the call with what the program said (its last lines of
 * standard error) and returns the status; RUNE_STEP_OK otherwise. */
int rune_pg_tool_run(struct rune_call *c, char *const *argv, char *const *env,
                     const char *stdin_data, size_t stdin_len);

/* ---- parameters ---- */

/* A string or a list of strings (`tables`) as an array: a new reference,
 * or NULL when absent or empty (an empty list means "not given"). */
json_t *rune_pg_strlist(struct rune_call *c, const char *param);

/* A string field of a JSON object (a manifest section, a target); NULL
 * when absent or not a string. */
const char *rune_pg_str(json_t *o, const char *key);

/* ---- what a step made ---- */

/* The backup pg.dump wrote, as the outputs path, sha256 and bytes, which
 * the engine records as the run's artifact: the family's one place that
 * reports a file it made. */
void rune_pg_report_artifact(struct rune_call *c, const char *path, const char *sha256,
                             long long bytes);

/* The moment the data a backup holds (or a restore brought back) is
 * consistent as of (ISO-8601 UTC; "" when unknown), as the output
 * recovery_point the report takes the RPO from: the family's one place
 * that reports a recovery point. NULL: none. */
void rune_pg_report_recovery_point(struct rune_call *c, const char *iso);

/* ---- work directories ---- */

/* A private (0700) directory for the temporary files of a step:
 * "DIR/.BASE.work-XXXXXX" beside `path` (so they are on the same
 * filesystem and hidden from backup.list), or in $TMPDIR when path is
 * NULL. malloc'd; NULL with err filled. */
char *rune_pg_workdir(const char *path, char *err, size_t errlen);
/* Removes the directory and every file in it. NULL is fine. Frees dir. */
void rune_pg_workdir_remove(char *dir);

/* ---- the layout of a rune PostgreSQL backup ---- */

/* The sections of a backup written by pg.dump, checked against its
 * manifest: known kinds, chunk ranges that tile the chunk list in order,
 * raw offsets and sizes that agree with the chunks. Borrowed from
 * manifest; NULL when the manifest has no layout (not a pg.dump backup:
 * err says so) or a broken one. */
json_t *rune_pg_layout_sections(json_t *manifest, char *err, size_t errlen);

/* The first section of that kind (NULL if none). */
json_t *rune_pg_layout_find(json_t *sections, const char *kind);

/* Quotes a name as a pg_dump/pg_restore pattern that matches exactly it:
 * "schema"."table" with embedded quotes doubled. malloc'd. `schema` may be
 * NULL. */
char *rune_pg_pattern(const char *schema, const char *name);

#endif
