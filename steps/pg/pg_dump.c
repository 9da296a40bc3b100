/*
 * pg_dump.c — pg.dump: a snapshot-consistent logical backup of one
 * PostgreSQL database, written as ONE plain SQL script in the shared
 * artifact format (gzip members, or zstd frames, + manifest), which
 * `gzip -dc | psql` (`zstd -dc | psql`) restores by itself, and whose manifest also says where
 * every table's COPY block is so that pg.restore can load tables in parallel or only some of them
 * (docs/postgres.md).
 *
 * How:
 *  1. A leader connection opens a REPEATABLE READ READ ONLY transaction,
 *     exports its snapshot, reads the recovery point, lists the tables and
 *     takes their ACCESS SHARE locks (so no DDL can change them until the
 *     end), as pg_dump -j does.
 *  2. `jobs` worker threads, each with its own connection in the same
 *     snapshot, copy the tables out (largest first) with rune_pg_copy_out,
 *     which counts and hashes every row: the manifest's tables and
 *     table_hashes come from the same snapshot as the data and compare with
 *     pg.fingerprint. Each table goes into a spool (a small backup of its
 *     own) in a hidden work directory beside the destination.
 *  3. Meanwhile this thread runs pg_dump once in the same snapshot for
 *     everything but those tables' data (custom format, uncompressed), and
 *     pg_restore -f turns it into plain SQL: pre-data, the rest of the data
 *     (sequence values, large objects) and post-data, each a spool too
 *     (pg_dump_schema.c).
 *  4. The backup is assembled from the spools in file order with
 *     rune_artifact_append (frames are copied, not recompressed), so
 *     every section starts a chunk; the manifest records the sections.
 *
 * Progress is reported in rows, against the catalog's estimate of the
 * selected tables' rows (reltuples; the whole partition tree of a
 * partitioned table); when a table was never analyzed there is no
 * estimate, and it is reported in tables copied of the tables to copy.
 * Workers add their rows in batches, so the count costs one atomic add
 * per batch. The plan's size is the database's (rune_pg_dump_size).
 *
 * Any failure — a lost connection, a full disk, pg_dump failing, a
 * timeout or Ctrl-C — removes the work directory and the partial backup:
 * nothing is left under the final name and no temp file stays behind.
 * Passwords reach pg_dump through its environment, never its arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifact.h"
#include "names.h"
#include "pathparam.h"
#include "pg_dump.h"
#include "pgconn.h"
#include "pgcopy.h"
#include "rowhash.h"

#define SPOOL_BUF (256 << 10) /* COPY lines gathered before a write to the spool */
#define ROW_BATCH 1024        /* rows a worker counts before it reports them */
#define LOCK_BATCH 500        /* tables per LOCK TABLE statement */

/* One thread's spool being written. */
struct spool {
    struct rune_pg_dump *d;
    struct rune_pg_dump_table *t;
    struct rune_artifact_writer *w;
    char *buf, *line;
    size_t len, line_cap;
    long long unreported; /* rows not yet added to the call's progress */
};

static void table_free(struct rune_pg_dump_table *t)
{
    free(t->name);
    free(t->schema);
    free(t->rel);
    free(t->qualified);
    free(t->copy);
    free(t->keep);
    free(t->ancestors);
}

static char *dup_or_die(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

static void set_failure(struct rune_pg_dump *d, const char *msg)
{
    pthread_mutex_lock(&d->mu);
    if (!d->failure[0])
        snprintf(d->failure, sizeof d->failure, "%s", msg);
    pthread_mutex_unlock(&d->mu);
    atomic_store(&d->stop, true);
}

/* ---- the leader: snapshot, tables, locks ---- */

/* The session of the leader and of every worker: no server-side timeout
 * may cut a long dump short (the step's own deadline applies), and row
 * security makes COPY fail rather than silently leave rows out. */
static const char *const SESSION[] = {
    "SET statement_timeout = 0",
    "SET idle_in_transaction_session_timeout = 0",
    "SET row_security = off",
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    NULL,
};

/* Every table pg.fingerprint would list, plus partitions and extension
 * tables (which are dumped only when named), with what COPY needs. */
static int list_tables(struct rune_pg_dump *d, PGconn *conn, char *err, size_t errlen)
{
    PGresult *r = rune_pg_exec(
        d->c, conn,
        "SELECT CASE WHEN n.nspname = 'public' THEN '' ELSE n.nspname || '.' END || c.relname "
        "AS name, n.nspname, c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
        "c.relkind, c.relkind = 'r' AND c.relhassubclass, c.relispartition, "
        "EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
        "        AND d.objid = c.oid AND d.deptype = 'e'), "
        "coalesce((SELECT sum(pg_table_size(p.relid)) FROM pg_partition_tree(c.oid) p), 0) "
        "  + CASE WHEN c.relkind = 'r' THEN pg_table_size(c.oid) ELSE 0 END, "
        "(SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a "
        "  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "  AND a.attgenerated = ''), "
        "(SELECT string_agg(CASE WHEN a.attgenerated = '' THEN 'k' ELSE 'd' END, '' "
        "  ORDER BY a.attnum) FROM pg_attribute a "
        "  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), "
        "(SELECT string_agg(CASE WHEN an.nspname = 'public' THEN '' ELSE an.nspname || '.' END "
        "  || ac.relname, chr(1)) FROM pg_partition_ancestors(c.oid) pa "
        "  JOIN pg_class ac ON ac.oid = pa.relid JOIN pg_namespace an ON an.oid = ac.relnamespace "
        "  WHERE pa.relid <> c.oid), "
        "CASE WHEN c.relkind = 'p' THEN (SELECT CASE WHEN bool_or(pc.reltuples < 0 AND "
        "  pg_relation_size(pc.oid) > 0) THEN -1 ELSE coalesce(sum(greatest(pc.reltuples, 0)), 0) "
        "  END FROM pg_partition_tree(c.oid) pt JOIN pg_class pc ON pc.oid = pt.relid "
        "  WHERE pt.isleaf AND pc.relkind = 'r') "
        "WHEN c.reltuples < 0 AND pg_relation_size(c.oid) > 0 THEN -1 "
        "ELSE greatest(c.reltuples, 0) END::bigint "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' "
        "ORDER BY (CASE WHEN n.nspname = 'public' THEN '' ELSE n.nspname || '.' END "
        "|| c.relname) COLLATE \"C\"",
        0, NULL, err, errlen);
    if (!r)
        return -1;
    d->nt = (size_t)PQntuples(r);
    d->t = calloc(d->nt ? d->nt : 1, sizeof *d->t);
    if (!d->t)
        abort();
    for (size_t i = 0; i < d->nt; i++) {
        struct rune_pg_dump_table *t = &d->t[i];
        int row = (int)i;
        t->name = dup_or_die(PQgetvalue(r, row, 0));
        t->schema = dup_or_die(PQgetvalue(r, row, 1));
        t->rel = dup_or_die(PQgetvalue(r, row, 2));
        t->qualified = dup_or_die(PQgetvalue(r, row, 3));
        t->kind = PQgetvalue(r, row, 4)[0];
        t->only = PQgetvalue(r, row, 5)[0] == 't';
        t->partition = PQgetvalue(r, row, 6)[0] == 't';
        t->extension = PQgetvalue(r, row, 7)[0] == 't';
        t->size = strtoll(PQgetvalue(r, row, 8), NULL, 10);
        const char *cols = PQgetvalue(r, row, 9);
        t->copy = *cols ? rune_pg_sqlf("COPY %s (%s) FROM stdin;", t->qualified, cols)
                        : rune_pg_sqlf("COPY %s FROM stdin;", t->qualified);
        if (!t->copy)
            abort();
        t->keep = dup_or_die(PQgetvalue(r, row, 10));
        t->ancestors = dup_or_die(PQgetvalue(r, row, 11));
        t->est_rows = strtoll(PQgetvalue(r, row, 12), NULL, 10);
    }
    PQclear(r);
    return 0;
}

static struct rune_pg_dump_table *find_table(struct rune_pg_dump *d, const char *name)
{
    if (!strncmp(name, "public.", 7))
        name += 7;
    for (size_t i = 0; i < d->nt; i++)
        if (!strcmp(d->t[i].name, name))
            return &d->t[i];
    return NULL;
}

/* Marks the tables to dump: all of them (but partitions and extension
 * tables, covered by their parent and by CREATE EXTENSION), or those
 * named; minus the excluded. An unknown name fails before anything is
 * written. */
static int select_tables(struct rune_pg_dump *d, char *err, size_t errlen)
{
    json_t *only = rune_pg_strlist(d->c, "tables"), *excl = rune_pg_strlist(d->c, "exclude_tables");
    int rc = 0;
    for (size_t i = 0; i < d->nt; i++)
        d->t[i].selected = !only && !d->t[i].partition && !d->t[i].extension;
    json_t *lists[2] = {only, excl};
    for (int l = 0; l < 2 && rc == 0; l++) {
        size_t i;
        json_t *v;
        json_array_foreach(lists[l], i, v)
        {
            struct rune_pg_dump_table *t = find_table(d, json_string_value(v));
            if (!t) {
                snprintf(err, errlen,
                         "table \"%s\" (in %s) is not in database %s: name it as pg.fingerprint "
                         "does (\"orders\", \"sales.orders\")",
                         json_string_value(v), l ? "exclude_tables" : "tables", d->dbname);
                rc = -1;
                break;
            }
            t->selected = l == 0;
        }
    }
    json_decref(only);
    json_decref(excl);
    if (rc)
        return rc;
    /* a partition's rows are in its partitioned table's block already */
    for (size_t i = 0; i < d->nt; i++) {
        char *a = d->t[i].ancestors;
        for (char *next; d->t[i].selected && a && *a; a = next) {
            next = strchr(a, '\1');
            if (next)
                *next++ = '\0';
            struct rune_pg_dump_table *up = find_table(d, a);
            if (up && up->selected) {
                snprintf(err, errlen,
                         "tables names both %s and its partition %s: name one or the other (the "
                         "partitioned table's data includes its partitions')",
                         up->name, d->t[i].name);
                return -1;
            }
        }
    }
    d->order = calloc(d->nt ? d->nt : 1, sizeof *d->order);
    if (!d->order)
        abort();
    for (size_t i = 0; i < d->nt; i++)
        if (d->t[i].selected)
            d->order[d->nsel++] = &d->t[i];
    return 0;
}

static int by_size_desc(const void *a, const void *b)
{
    const struct rune_pg_dump_table *x = *(struct rune_pg_dump_table *const *)a,
                                    *y = *(struct rune_pg_dump_table *const *)b;
    return x->size < y->size ? 1 : x->size > y->size ? -1 : strcmp(x->name, y->name);
}

/* ACCESS SHARE locks on every selected table, in the leader's transaction,
 * as pg_dump takes them: from now on no DDL can change what we dump. */
static int lock_tables(struct rune_pg_dump *d, PGconn *conn, char *err, size_t errlen)
{
    char ms[64];
    snprintf(ms, sizeof ms, "SET lock_timeout = %lld", rune_call_int(d->c, "lock_timeout"));
    if (rune_pg_run(d->c, conn, ms, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < d->nsel; i += LOCK_BATCH) {
        size_t cap = 64, len = 0;
        for (size_t k = i; k < d->nsel && k < i + LOCK_BATCH; k++)
            cap += strlen(d->order[k]->qualified) + 2;
        char *sql = malloc(cap);
        if (!sql)
            abort();
        len = (size_t)snprintf(sql, cap, "LOCK TABLE ");
        for (size_t k = i; k < d->nsel && k < i + LOCK_BATCH; k++)
            len += (size_t)snprintf(sql + len, cap - len, "%s%s", k > i ? ", " : "",
                                    d->order[k]->qualified);
        snprintf(sql + len, cap - len, " IN ACCESS SHARE MODE");
        char why[512];
        int rc = rune_pg_run(d->c, conn, sql, why, sizeof why);
        free(sql);
        if (rc != 0) {
            snprintf(err, errlen,
                     "cannot lock the tables to dump (ACCESS SHARE, within lock_timeout): %s — "
                     "something holds or waits for an exclusive lock (ALTER, DROP, TRUNCATE, "
                     "VACUUM FULL, REINDEX); see pg.connections, or retry later",
                     why);
            return -1;
        }
    }
    return rune_pg_run(d->c, conn, "SET lock_timeout = 0", err, errlen);
}

/* ---- workers: one connection each, tables out into spools ---- */

static int spool_flush(struct spool *s, char *err, size_t errlen)
{
    if (s->len && rune_artifact_write(s->w, s->buf, s->len, err, errlen) != 0)
        return -1;
    s->len = 0;
    return 0;
}

static int spool_put(struct spool *s, const char *p, size_t n, char *err, size_t errlen)
{
    if (s->len + n > SPOOL_BUF && spool_flush(s, err, errlen) != 0)
        return -1;
    if (n > SPOOL_BUF)
        return rune_artifact_write(s->w, p, n, err, errlen);
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

/* A COPY line without the fields of generated columns (which COPY FROM
 * refuses); the hash was taken of the whole line, as pg.fingerprint sees
 * the row. Fields are separated by tabs; a tab inside a value is \t. */
static const char *drop_fields(struct spool *s, const char *line, size_t n, size_t *out)
{
    if (s->line_cap < n + 1) {
        free(s->line);
        s->line = malloc(n + 1);
        if (!s->line)
            abort();
        s->line_cap = n + 1;
    }
    size_t j = 0, col = 0, start = 0;
    bool first = true;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && line[i] != '\t' && line[i] != '\n')
            continue;
        if (s->t->keep[col] != 'd') {
            if (!first)
                s->line[j++] = '\t';
            memcpy(s->line + j, line + start, i - start);
            j += i - start;
            first = false;
        }
        col++;
        start = i + 1;
        if (i < n && line[i] == '\n')
            break;
    }
    s->line[j++] = '\n';
    *out = j;
    return s->line;
}

/* The rows this spool copied since it last said so, into the call's
 * progress (when it counts rows). */
static void report_rows(struct spool *s)
{
    if (s->d->progress_rows && s->unreported)
        rune_call_progress_add(s->d->c, s->unreported);
    s->unreported = 0;
}

static int sink(void *ctx, const char *line, size_t n, char *err, size_t errlen)
{
    struct spool *s = ctx;
    if (atomic_load(&s->d->stop)) {
        snprintf(err, errlen, "stopped: another table failed");
        return -1;
    }
    if (strchr(s->t->keep, 'd'))
        line = drop_fields(s, line, n, &n);
    atomic_fetch_add(&s->d->rows_done, 1);
    if (++s->unreported == ROW_BATCH)
        report_rows(s);
    return spool_put(s, line, n, err, errlen);
}

/* Copies table t into its spool: its COPY statement, its lines, and the
 * end-of-data marker. */
static int dump_table(struct rune_pg_dump *d, PGconn *conn, struct rune_pg_dump_table *t,
                      size_t idx, char *buf, char *err, size_t errlen)
{
    /* NOWAIT: if someone queued an ACCESS EXCLUSIVE lock after the
     * leader's, waiting here would wait for the leader, i.e. forever */
    char *sql = rune_pg_sqlf("LOCK TABLE %s IN ACCESS SHARE MODE NOWAIT", t->qualified);
    if (!sql)
        abort();
    char why[512];
    int rc = rune_pg_run(d->c, conn, sql, why, sizeof why);
    free(sql);
    if (rc != 0) {
        snprintf(err, errlen,
                 "cannot lock table %s: %s (someone asked for an exclusive lock on it during the "
                 "dump — an ALTER, DROP, TRUNCATE or VACUUM FULL; retry when it is done)",
                 t->name, why);
        return -1;
    }
    snprintf(t->spool, sizeof t->spool, "%s/t%06zu.gz", d->work, idx);
    struct rune_artifact_meta meta = {
        .engine = "postgres", .source = t->name, .compression = d->compression, .level = d->level};
    struct spool s = {.d = d, .t = t, .buf = buf};
    if (rune_artifact_open(&s.w, t->spool, &meta, err, errlen) != 0)
        return -1;
    struct rune_rowhash h;
    rune_rowhash_init(&h);
    char *from = rune_pg_sqlf("%s%s", t->only ? "ONLY " : "", t->qualified);
    if (!from)
        abort();
    rc = spool_put(&s, t->copy, strlen(t->copy), err, errlen);
    rc = rc ? rc : spool_put(&s, "\n", 1, err, errlen);
    rc = rc ? rc : rune_pg_copy_out(d->c, conn, from, sink, &s, &h, err, errlen);
    report_rows(&s);
    rc = rc ? rc : spool_put(&s, RUNE_PG_COPY_END, strlen(RUNE_PG_COPY_END), err, errlen);
    rc = rc ? rc : spool_flush(&s, err, errlen);
    free(from);
    free(s.line);
    t->rows = h.rows;
    rune_rowhash_hex(&h, t->hash_all);
    t->rows_all = h.rows;
    rune_rowhash_free(&h);
    if (rc != 0) {
        rune_artifact_abort(s.w);
        return -1;
    }
    json_t *m = rune_artifact_commit(s.w, NULL, err, errlen);
    if (!m)
        return -1;
    json_decref(m);
    if (t->only) {
        /* the manifest counts and hashes it as pg.fingerprint does: with the
         * rows of its inheritance children, as SELECT * shows them */
        rune_rowhash_init(&h);
        rc = rune_pg_copy_out(d->c, conn, t->qualified, NULL, NULL, &h, err, errlen);
        rune_rowhash_hex(&h, t->hash_all);
        t->rows_all = h.rows;
        rune_rowhash_free(&h);
    }
    return rc;
}

static struct rune_pg_dump_table *take(struct rune_pg_dump *d, size_t *idx)
{
    struct rune_pg_dump_table *t = NULL;
    pthread_mutex_lock(&d->mu);
    if (d->next < d->nsel && !atomic_load(&d->stop)) {
        *idx = d->next;
        t = d->order[d->next++];
    }
    pthread_mutex_unlock(&d->mu);
    return t;
}

/* Joins the leader's snapshot: the same data, to the transaction. */
static int join_snapshot(struct rune_pg_dump *d, PGconn *conn, char *err, size_t errlen)
{
    if (rune_pg_run_all(d->c, conn, SESSION, err, errlen) != 0)
        return -1;
    char *lit = PQescapeLiteral(conn, d->snapshot, strlen(d->snapshot));
    if (!lit) {
        snprintf(err, errlen,
                 "a dump connection cannot join snapshot %s: no memory to quote its name (free "
                 "memory on this host and run the step again)",
                 d->snapshot);
        return -1;
    }
    char *sql = rune_pg_sqlf("SET TRANSACTION SNAPSHOT %s", lit);
    PQfreemem(lit);
    if (!sql)
        abort();
    int rc = rune_pg_run(d->c, conn, sql, err, errlen);
    free(sql);
    return rc;
}

static void *worker_main(void *arg)
{
    struct rune_pg_dump *d = arg;
    char err[1024] = "";
    PGconn *conn = rune_pg_connect(d->c, d->dbname, err, sizeof err);
    char *buf = malloc(SPOOL_BUF);
    if (!buf)
        abort();
    if (!conn || join_snapshot(d, conn, err, sizeof err) != 0) {
        set_failure(d, err);
    } else {
        struct rune_pg_dump_table *t;
        size_t idx;
        while ((t = take(d, &idx))) {
            if (dump_table(d, conn, t, idx, buf, err, sizeof err) != 0) {
                set_failure(d, err);
                break;
            }
            atomic_fetch_add(&d->tables_done, 1);
            if (!d->progress_rows) /* added, not set: workers finish in any order */
                rune_call_progress_add(d->c, 1);
        }
    }
    free(buf);
    if (conn)
        PQfinish(conn);
    return NULL;
}

/* ---- assembling the backup ---- */

static json_t *span_json(const char *kind, const struct rune_artifact_span *sp)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "section", kind, "first_chunk",
                     (json_int_t)sp->first_chunk, "chunks", (json_int_t)sp->chunks, "offset",
                     (json_int_t)sp->offset, "bytes", (json_int_t)sp->bytes, "raw_offset",
                     (json_int_t)sp->raw_offset, "raw_bytes", (json_int_t)sp->raw_bytes);
}

/* Appends a spool to the backup and removes it. */
static int append(struct rune_artifact_writer *w, const char *spool, const char *kind,
                  json_t *sections, json_t **entry, char *err, size_t errlen)
{
    struct rune_artifact_span sp;
    if (rune_artifact_append(w, spool, &sp, err, errlen) != 0)
        return -1;
    char *m = rune_artifact_manifest_path(spool);
    unlink(spool);
    if (m)
        unlink(m);
    free(m);
    json_t *e = span_json(kind, &sp);
    json_array_append_new(sections, e);
    if (entry)
        *entry = e;
    return 0;
}

/* Writes the backup at dest from the spools, in file order: pre-data, the
 * tables by name, the rest of the data, post-data. */
static json_t *assemble(struct rune_pg_dump *d, const char *dest, const char *source,
                        const char *point, const struct rune_pg_dump_parts *p, json_t *info,
                        char *err, size_t errlen)
{
    struct rune_artifact_meta meta = {.engine = "postgres",
                                      .source = source,
                                      .recovery_point = point,
                                      .compression = d->compression,
                                      .level = d->level,
                                      .threads = 1};
    struct rune_artifact_writer *w;
    if (rune_artifact_open(&w, dest, &meta, err, errlen) != 0)
        return NULL;
    json_t *sections = json_array(), *tables = json_object(), *hashes = json_object();
    int rc = append(w, p->pre, RUNE_PG_SECTION_PRE, sections, NULL, err, errlen);
    for (size_t i = 0; rc == 0 && i < d->nt; i++) {
        struct rune_pg_dump_table *t = &d->t[i];
        if (!t->selected)
            continue;
        json_t *e;
        rc = append(w, t->spool, RUNE_PG_SECTION_TABLE, sections, &e, err, errlen);
        if (rc == 0) {
            json_object_set_new(e, "table", json_string(t->name));
            json_object_set_new(e, "qualified", json_string(t->qualified));
            json_object_set_new(e, "partitioned", json_boolean(t->kind == 'p'));
            json_object_set_new(e, "copy", json_string(t->copy));
            json_object_set_new(e, "rows", json_integer(t->rows));
            json_object_set_new(tables, t->name, json_integer(t->rows_all));
            json_object_set_new(hashes, t->name, json_string(t->hash_all));
        }
    }
    if (rc == 0)
        rc = append(w, p->data, RUNE_PG_SECTION_DATA, sections, NULL, err, errlen);
    if (rc == 0)
        rc = append(w, p->indexes, RUNE_PG_SECTION_INDEXES, sections, NULL, err, errlen);
    if (rc == 0)
        rc = append(w, p->post, RUNE_PG_SECTION_POST, sections, NULL, err, errlen);
    json_object_set_new(info, "layout_version", json_integer(RUNE_PG_LAYOUT_VERSION));
    json_object_set_new(info, "sections", sections);
    json_t *extras = json_pack("{s:o, s:o, s:s, s:s, s:O}", "tables", tables, "table_hashes",
                               hashes, "schema_fingerprint", p->fingerprint, "recovery_point",
                               point, RUNE_PG_LAYOUT_KEY, info);
    if (rc != 0) {
        rune_artifact_abort(w);
        json_decref(extras);
        return NULL;
    }
    json_t *m = rune_artifact_commit(w, extras, err, errlen);
    json_decref(extras);
    return m;
}

/* ---- the step ---- */

/* Where the backup goes: `to`, or DIR/DATABASE-YYYYMMDD-HHMMSS.sql.gz
 * (.sql.zst with zstd; names.h: UTC, never an existing name, DIR
 * created). */
static int destination(struct rune_call *c, const char *db, char *out, size_t len, char *err,
                       size_t errlen)
{
    const char *to = rune_call_str(c, "to");
    char *p = rune_path_param(c, to ? to : rune_call_str(c, "dir"));
    if (!p) {
        snprintf(err, errlen,
                 "no memory for the path of the backup (%s): free memory on this host and run the "
                 "step again",
                 to ? to : rune_call_str(c, "dir"));
        return -1;
    }
    int rc = 0;
    if (to)
        snprintf(out, len, "%s", p);
    else {
        char ext[16];
        snprintf(ext, sizeof ext, ".sql%s", rune_artifact_suffix(rune_call_str(c, "compression")));
        rc = rune_fresh_name(out, len, p, db, "-", ext, err, errlen);
    }
    free(p);
    return rc;
}

/* The snapshot and what it says about the server, read in the leader. */
static int open_snapshot(struct rune_pg_dump *d, PGconn *conn, char *point, size_t plen,
                         json_t *info, char *err, size_t errlen)
{
    if (rune_pg_run_all(d->c, conn, SESSION, err, errlen) != 0)
        return -1;
    /* statement_timestamp() is taken before the snapshot: every transaction
     * committed before the recovery point is in the backup */
    PGresult *r =
        rune_pg_exec(d->c, conn,
                     "SELECT pg_export_snapshot(), to_char(statement_timestamp() AT TIME ZONE "
                     "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), current_database(), "
                     "current_setting('server_version'), pg_encoding_to_char(d.encoding), "
                     "d.datcollate, d.datctype FROM pg_database d "
                     "WHERE d.datname = current_database()",
                     0, NULL, err, errlen);
    if (!r)
        return -1;
    snprintf(d->snapshot, sizeof d->snapshot, "%s", PQgetvalue(r, 0, 0));
    snprintf(point, plen, "%s", PQgetvalue(r, 0, 1));
    json_object_set_new(info, "database", json_string(PQgetvalue(r, 0, 2)));
    json_object_set_new(info, "server_version", json_string(PQgetvalue(r, 0, 3)));
    json_object_set_new(info, "encoding", json_string(PQgetvalue(r, 0, 4)));
    json_object_set_new(info, "collate", json_string(PQgetvalue(r, 0, 5)));
    json_object_set_new(info, "ctype", json_string(PQgetvalue(r, 0, 6)));
    json_object_set_new(info, "snapshot", json_string(d->snapshot));
    PQclear(r);
    return 0;
}

/* The count the dump reports: rows against the catalog's estimate when
 * every selected table has one, else tables copied of those to copy. */
static void start_progress(struct rune_pg_dump *d)
{
    long long rows = 0;
    for (size_t i = 0; i < d->nsel; i++) {
        if (d->order[i]->est_rows < 0) {
            rows = -1;
            break;
        }
        rows += d->order[i]->est_rows;
    }
    d->progress_rows = rows >= 0;
    rune_call_progress_phase(d->c, "copying tables");
    if (d->progress_rows)
        rune_call_progress(d->c, 0, rows, RUNE_UNIT_ROWS);
    else
        rune_call_progress(d->c, 0, (long long)d->nsel, RUNE_UNIT_TABLES);
}

/* Waits for the workers, saying how far they are now and then. */
static void wait_workers(struct rune_pg_dump *d, pthread_t *th, int n)
{
    long long last = rune_clock_mono_ms();
    while (atomic_load(&d->tables_done) < (int)d->nsel && !atomic_load(&d->stop)) {
        if (rune_call_cancelled(d->c))
            break; /* the workers see it too */
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        if (rune_clock_mono_ms() - last >= 10000) {
            last = rune_clock_mono_ms();
            rune_call_log(d->c, "%d of %zu tables copied, %lld rows so far",
                          atomic_load(&d->tables_done), d->nsel, atomic_load(&d->rows_done));
        }
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

static void set_outputs(struct rune_call *c, const struct rune_pg_dump *d, const char *dest,
                        json_t *m, json_t *info, long long t0)
{
    json_t *o = rune_call_outputs(c);
    char *mpath = rune_artifact_manifest_path(dest);
    long long rows = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(m, "tables"), k, v) rows += json_integer_value(v);
    rune_pg_report_artifact(c, dest, rune_pg_str(m, "sha256"),
                            (long long)json_integer_value(json_object_get(m, "bytes")));
    json_object_set_new(o, "manifest", json_string(mpath ? mpath : ""));
    json_object_set(o, "raw_bytes", json_object_get(m, "raw_bytes"));
    json_object_set(o, "tables", json_object_get(m, "tables"));
    json_object_set_new(o, "table_count", json_integer((json_int_t)d->nsel));
    json_object_set_new(o, "rows", json_integer(rows));
    rune_pg_report_recovery_point(c, rune_pg_str(m, "recovery_point"));
    json_object_set(o, "database", json_object_get(info, "database"));
    json_object_set(o, "server_version", json_object_get(info, "server_version"));
    json_object_set_new(o, "seconds", json_real((rune_clock_mono_ms() - t0) / 1000.0));
    json_object_set_new(o, "read_with", json_string(rune_artifact_read_with(m)));
    rune_call_log(c, "wrote %s; without rune: %s %s | psql", dest, rune_artifact_read_with(m),
                  dest);
    free(mpath);
}

/* Everything after the leader is connected; returns a rune_status. The
 * caller frees d's tables and closes the leader. */
static int dump_with(struct rune_pg_dump *d, PGconn *leader, long long t0)
{
    struct rune_call *c = d->c;
    char err[1024] = "", point[64], dest[PATH_MAX], where[512];
    json_t *info = json_object();
    int st = RUNE_STEP_FAILED;
    pthread_t th[RUNE_PG_JOBS_MAX];
    int started = 0;
    struct rune_pg_dump_parts parts = {0};
    if (open_snapshot(d, leader, point, sizeof point, info, err, sizeof err) != 0 ||
        list_tables(d, leader, err, sizeof err) != 0 || select_tables(d, err, sizeof err) != 0 ||
        lock_tables(d, leader, err, sizeof err) != 0)
        goto fail;
    if (destination(c, json_string_value(json_object_get(info, "database")), dest, sizeof dest, err,
                    sizeof err) != 0)
        goto fail;
    struct stat st_;
    char *mpath = rune_artifact_manifest_path(dest);
    bool exists = lstat(dest, &st_) == 0 || (mpath && lstat(mpath, &st_) == 0);
    free(mpath);
    if (exists) {
        snprintf(err, sizeof err, "backup %s already exists; choose another name or remove it",
                 dest);
        goto fail;
    }
    if (!(d->work = rune_pg_workdir(dest, err, sizeof err)))
        goto fail;
    rune_call_log(c, "snapshot %s at %s: %zu tables to copy over %lld connections", d->snapshot,
                  point, d->nsel, rune_call_int(c, "jobs"));
    start_progress(d);
    qsort(d->order, d->nsel, sizeof *d->order, by_size_desc);
    long long jobs = rune_call_int(c, "jobs");
    for (long long i = 0; i < jobs && (size_t)i < d->nsel; i++) {
        if (pthread_create(&th[started], NULL, worker_main, d) != 0)
            break;
        started++;
    }
    if (d->nsel > 0 && started == 0) {
        snprintf(err, sizeof err, "cannot start a worker thread");
        goto fail;
    }
    /* the schema and the rest of the data, while the workers copy */
    st = rune_pg_dump_schema(d, leader, point, &parts);
    if (st != RUNE_STEP_OK) {
        atomic_store(&d->stop, true);
        goto out;
    }
    st = RUNE_STEP_FAILED;
    rune_call_log(c, "schema dumped by pg_dump (%.1fs)", (rune_clock_mono_ms() - t0) / 1000.0);
    wait_workers(d, th, started);
    started = 0;
    if (rune_call_cancelled(c)) {
        st = rune_pg_cancelled(c);
        rune_call_fail(c, "the dump was stopped (%s); nothing was written",
                       st == RUNE_STEP_TIMEOUT ? "the step's timeout passed"
                                               : "the run is stopping");
        goto out;
    }
    if (d->failure[0]) {
        snprintf(err, sizeof err, "%s", d->failure);
        goto fail;
    }
    rune_call_log(c, "%zu tables copied (%lld rows, %.1fs); assembling %s", d->nsel,
                  atomic_load(&d->rows_done), (rune_clock_mono_ms() - t0) / 1000.0, dest);
    if (d->progress_rows) /* the estimate is done with: the rows are counted */
        rune_call_progress(c, atomic_load(&d->rows_done), atomic_load(&d->rows_done),
                           RUNE_UNIT_ROWS);
    rune_call_progress_phase(c, "assembling");
    snprintf(where, sizeof where, "database %s on %s:%s", d->dbname,
             PQhost(leader) && *PQhost(leader) ? PQhost(leader) : "local", PQport(leader));
    json_t *m = assemble(d, dest, where, point, &parts, info, err, sizeof err);
    if (!m)
        goto fail;
    set_outputs(c, d, dest, m, info, t0);
    json_decref(m);
    st = RUNE_STEP_OK;
    goto out;
fail:
    atomic_store(&d->stop, true);
    if (rune_call_cancelled(c)) {
        st = rune_pg_cancelled(c);
        rune_call_fail(c, "the dump was stopped (%s); nothing was written",
                       st == RUNE_STEP_TIMEOUT ? "the step's timeout passed"
                                               : "the run is stopping");
    } else {
        st = rune_call_fail(c, "%s; nothing was written", err);
    }
out:
    if (started)
        wait_workers(d, th, started);
    rune_pg_workdir_remove(d->work);
    d->work = NULL;
    json_decref(info);
    return st;
}

int rune_pg_dump_run(struct rune_call *c)
{
    long long t0 = rune_clock_mono_ms();
    long long jobs = rune_call_int(c, "jobs"), level = rune_call_int(c, "level");
    if (jobs < 1 || jobs > RUNE_PG_JOBS_MAX)
        return rune_call_fail(c, "jobs is %lld; use 1 to %d", jobs, RUNE_PG_JOBS_MAX);
    const char *comp = rune_call_str(c, "compression");
    char err[1024];
    if (rune_artifact_level_check(comp, level, err, sizeof err) != 0)
        return rune_call_fail(c, "%s", err);
    PGconn *leader = rune_pg_connect(c, rune_call_str(c, "database"), err, sizeof err);
    if (!leader)
        return rune_call_cancelled(c) ? rune_pg_cancelled(c) : rune_call_fail(c, "%s", err);
    struct rune_pg_dump d = {
        .c = c, .compression = comp, .level = (int)level, .dbname = PQdb(leader)};
    pthread_mutex_init(&d.mu, NULL);
    int st = dump_with(&d, leader, t0);
    PQfinish(leader);
    for (size_t i = 0; i < d.nt; i++)
        table_free(&d.t[i]);
    free(d.t);
    free(d.order);
    pthread_mutex_destroy(&d.mu);
    return st;
}

long long rune_pg_dump_size(struct rune_call *c, enum rune_unit *unit)
{
    char err[512];
    long long n = -1;
    PGconn *conn = rune_pg_connect(c, rune_call_str(c, "database"), err, sizeof err);
    if (!conn)
        return -1;
    PGresult *r = rune_pg_exec(c, conn, "SELECT pg_database_size(current_database())", 0, NULL, err,
                               sizeof err);
    if (r) {
        n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    PQfinish(conn);
    *unit = RUNE_UNIT_BYTES;
    return n;
}

int rune_pg_dump_plan(struct rune_call *c)
{
    json_t *t = rune_call_target(c, "target");
    const char *db = rune_call_str(c, "database");
    if (!db)
        db = json_string_value(json_object_get(t, "database"));
    const char *to = rune_call_str(c, "to");
    const char *comp = rune_call_str(c, "compression");
    rune_call_plan(c,
                   "would dump database %s%s%s in one snapshot (%lld parallel COPY streams, "
                   "%s) into %s%s%s",
                   db ? db : "(PGDATABASE)", t ? " of target " : "",
                   t ? json_string_value(json_object_get(t, "name")) : "", rune_call_int(c, "jobs"),
                   comp ? comp : "gzip", to ? to : rune_call_str(c, "dir"),
                   to ? "" : "/DATABASE-YYYYMMDD-HHMMSS.sql", to ? "" : rune_artifact_suffix(comp));
    return RUNE_STEP_OK;
}
