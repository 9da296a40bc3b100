/*
 * pg_load.c — loading a pg.dump backup into a database, for pg.restore
 * (pg_restore.c): its sections read straight from their chunks, pre- and
 * post-data through psql, and the tables' COPY blocks with their indexes
 * and keys over a pool of connections, each index built as soon as its
 * table's data is in (as pg_restore -j does: the pool is pg_jobs.c,
 * post-data's jobs pg_postdata.c); or, in merge mode, the tables' contents
 * replaced in one transaction. Also the pool's other uses: content hashes
 * and row counts of restored tables; and psql for every SQL script a
 * restore runs.
 */
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "artifact.h"
#include "pg_load.h"
#include "pgconn.h"
#include "pgcopy.h"
#include "pgcopy_bin.h"
#include "rowhash.h"

#define IO_BUF (1 << 20)

static long long num(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

int rune_pg_failed(struct rune_call *c, const char *err)
{
    if (rune_call_cancelled(c)) {
        int st = rune_pg_cancelled(c);
        rune_call_fail(c, "the restore was stopped (%s)",
                       st == RUNE_STEP_TIMEOUT ? "the step's timeout passed"
                                               : "the run is stopping");
        return st;
    }
    return rune_call_fail(c, "%s", err);
}

/* ---- reading a rune backup's sections ---- */

/* A read of the backup failed (the reader names the chunk, not the file):
 * says which backup, and what to do. */
static void read_failed(const struct rune_pg_restore *r, char *err, size_t errlen)
{
    char why[1024];
    snprintf(why, sizeof why, "%s", err);
    snprintf(err, errlen,
             "cannot read backup %s: %s; restore another (backup.list with verify: true finds "
             "the good ones)",
             r->from, why);
}

/* The whole of a section, decompressed and checked, NUL-terminated. */
static char *read_section(struct rune_pg_restore *r, json_t *sec, size_t *len, char *err,
                          size_t errlen)
{
    struct rune_artifact_reader *rd;
    if (rune_artifact_reader_open_range(&rd, r->from, r->manifest, (size_t)num(sec, "first_chunk"),
                                        (size_t)num(sec, "chunks"), err, errlen) != 0)
        return NULL;
    size_t want = (size_t)num(sec, "raw_bytes"), got = 0;
    char *buf = malloc(want + 1);
    if (!buf)
        abort();
    ssize_t n;
    while ((n = rune_artifact_read(rd, buf + got, want - got + (got == want), err, errlen)) > 0) {
        got += (size_t)n;
        if (got > want)
            break;
    }
    rune_artifact_reader_close(rd);
    if (n < 0)
        read_failed(r, err, errlen);
    if (n < 0 || got != want) {
        if (n >= 0)
            snprintf(err, errlen,
                     "section %s of backup %s holds %zu bytes, not the %zu its manifest says: "
                     "the backup is damaged or was edited; restore another (backup.list with "
                     "verify: true finds the good ones)",
                     rune_pg_str(sec, "section"), r->from, got, want);
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

int rune_pg_psql(struct rune_pg_restore *r, const char *file, bool single, const char *input,
                 size_t len)
{
    char prog[PATH_MAX], arg[PATH_MAX + 32];
    snprintf(arg, sizeof arg, "--file=%s", file ? file : "-");
    char *argv[] = {(char *)rune_pg_tool(r->c, "psql", prog, sizeof prog),
                    "--no-psqlrc",
                    "--quiet",
                    "--no-password",
                    "--set=ON_ERROR_STOP=1",
                    "--output=/dev/null",
                    arg,
                    single ? "--single-transaction" : NULL,
                    NULL};
    return rune_pg_tool_run(r->c, argv, r->env, input, len);
}

static int psql_section(struct rune_pg_restore *r, const char *kind)
{
    char err[1024];
    json_t *sec = rune_pg_layout_find(r->sections, kind);
    if (!sec)
        return RUNE_STEP_OK;
    size_t len;
    char *text = read_section(r, sec, &len, err, sizeof err);
    if (!text)
        return rune_pg_failed(r->c, err);
    int st = rune_pg_psql(r, NULL, true, text, len);
    free(text);
    return st;
}

/* ---- loading tables ---- */

/* Sends what the converter has made once there is this much of it: a
 * CopyData message the server reads whole, small enough to stay in its
 * caches. */
#define BIN_SEND (256 << 10)

/* Data of the block: as it is (text), or through bin into COPY's binary
 * format. 0; -1 with err set; 1 when bin refused a row (err says which):
 * the caller loads the table again, as text. */
static int send_data(PGconn *conn, struct rune_pg_bin *bin, const char *p, size_t n, bool end,
                     const char *table, char *err, size_t errlen)
{
    if (!bin)
        return n == 0 || PQputCopyData(conn, p, (int)n) == 1 ? 0 : -1;
    char why[256];
    if ((n && rune_pg_bin_feed(bin, p, n, why, sizeof why) != 0) ||
        (end && rune_pg_bin_finish(bin, why, sizeof why) != 0)) {
        snprintf(err, errlen, "table %s: %s", table, why);
        return 1;
    }
    size_t len;
    const char *out = rune_pg_bin_output(bin, &len);
    if (len < (end ? 1 : BIN_SEND))
        return 0;
    /* never more than a message holds (the converter's rows are shorter) */
    if (len > INT_MAX || PQputCopyData(conn, out, (int)len) != 1)
        return -1;
    rune_pg_bin_taken(bin);
    return 0;
}

/* COPY one table's block from the backup: the statement is the block's
 * first line, the data everything up to the end-of-data marker. With
 * freeze, the COPY says FREEZE (the caller made the table new in this
 * transaction); with bin, it is in the binary format, converted by bin.
 * 0, -1 with err set, or 1 when bin refused a row (send_data). */
static int copy_block(struct rune_pg_pool *p, PGconn *conn, struct rune_pg_job *j, bool freeze,
                      struct rune_pg_bin *bin, char *err, size_t errlen)
{
    struct rune_pg_restore *r = p->r;
    json_t *sec = j->sec;
    const char *copy = rune_pg_str(sec, "copy");
    size_t head = strlen(copy) + 1, tail = strlen(RUNE_PG_COPY_END);
    long long data = num(sec, "raw_bytes") - (long long)(head + tail), sent = 0;
    struct rune_artifact_reader *rd;
    if (rune_artifact_reader_open_range(&rd, r->from, r->manifest, (size_t)num(sec, "first_chunk"),
                                        (size_t)num(sec, "chunks"), err, errlen) != 0)
        return -1;
    char *buf = malloc(IO_BUF);
    char *first = malloc(head + 1);
    if (!buf || !first)
        abort();
    size_t fl = 0;
    long long pos = 0; /* bytes of the section consumed */
    int rc = 0;
    bool copying = false;
    char tailbuf[8] = {0};
    size_t tl = 0;
    ssize_t n;
    bool ended = false; /* bin was given the end of the rows */
    while (rc == 0 && (n = rune_artifact_read(rd, buf, IO_BUF, err, errlen)) != 0) {
        if (n < 0) {
            read_failed(r, err, errlen);
            rc = -1;
            break;
        }
        size_t off = 0;
        if (fl < head) { /* the statement line */
            size_t k = head - fl < (size_t)n ? head - fl : (size_t)n;
            memcpy(first + fl, buf, k);
            fl += k;
            off = k;
            if (fl == head) {
                if (memcmp(first, copy, head - 1) || first[head - 1] != '\n') {
                    snprintf(err, errlen,
                             "the block of table %s does not start with its COPY "
                             "statement",
                             j->name);
                    rc = -1;
                    break;
                }
                char *frozen = NULL;
                if ((freeze || bin) &&
                    asprintf(&frozen, "%.*s WITH (%s%s%s)",
                             (int)(strlen(copy) - (copy[strlen(copy) - 1] == ';')), copy,
                             freeze ? "FREEZE" : "", freeze && bin ? ", " : "",
                             bin ? "FORMAT binary" : "") < 0)
                    abort();
                PGresult *res = PQexec(conn, frozen ? frozen : copy);
                free(frozen);
                if (PQresultStatus(res) != PGRES_COPY_IN) {
                    snprintf(err, errlen, "%s: %s", copy, PQerrorMessage(conn));
                    PQclear(res);
                    rc = -1;
                    break;
                }
                PQclear(res);
                copying = true;
            }
        }
        pos += n;
        rune_pg_job_progress(r->c, j, pos, num(sec, "raw_bytes"));
        long long upto = (long long)off + (data - sent); /* this buffer's data bytes end here */
        size_t end = upto < (long long)n ? (size_t)upto : (size_t)n;
        if (copying && end > off) {
            ended = sent + (long long)(end - off) == data;
            if ((rc = send_data(conn, bin, buf + off, end - off, ended, j->name, err, errlen)) < 0)
                snprintf(err, errlen, "COPY %s: %s", j->name, PQerrorMessage(conn));
            if (rc != 0)
                break;
            sent += (long long)(end - off);
        }
        for (size_t k = end > off ? end : off; k < (size_t)n && tl < sizeof tailbuf; k++)
            tailbuf[tl++] = buf[k];
        if (atomic_load(&p->stop) || rune_call_cancelled(r->c)) {
            snprintf(err, errlen, "stopped");
            rc = -1;
        }
    }
    rune_artifact_reader_close(rd);
    free(buf);
    free(first);
    if (rc == 0 &&
        (pos != num(sec, "raw_bytes") || tl != tail || memcmp(tailbuf, RUNE_PG_COPY_END, tail))) {
        snprintf(err, errlen, "the block of table %s does not end with the end-of-data marker",
                 j->name);
        rc = -1;
    }
    if (!copying)
        return rc ? rc : -1;
    if (rc == 0 && bin && !ended && /* a table without rows: the header and trailer */
        (rc = send_data(conn, bin, NULL, 0, true, j->name, err, errlen)) < 0)
        snprintf(err, errlen, "COPY %s: %s", j->name, PQerrorMessage(conn));
    const char *why = rc == 1   ? "rune: a row not in the dump's own form; the table is loaded "
                                  "again as COPY text"
                      : rc != 0 ? "rune: restore stopped"
                                : NULL;
    if (PQputCopyEnd(conn, why) != 1 && rc == 0) {
        snprintf(err, errlen, "COPY %s: %s", j->name, PQerrorMessage(conn));
        rc = -1;
    }
    PGresult *res;
    while ((res = PQgetResult(conn))) {
        if (PQresultStatus(res) == PGRES_COMMAND_OK)
            j->rows = strtoll(PQcmdTuples(res), NULL, 10);
        else if (rc == 0) {
            snprintf(err, errlen, "COPY %s failed: %s", j->name, PQresultErrorMessage(res));
            rc = -1;
        }
        PQclear(res);
    }
    size_t e = strlen(err);
    while (e && err[e - 1] == '\n')
        err[--e] = '\0';
    return rc;
}

static int load_table(struct rune_pg_pool *p, PGconn *conn, struct rune_pg_job *j, char *err,
                      size_t errlen)
{
    return copy_block(p, conn, j, false, NULL, err, errlen) ? -1 : 0;
}

/* A table of a database nobody else sees yet (create, drop, into): made
 * new (TRUNCATE) in the transaction that loads it, so COPY can write its
 * rows already frozen and visible to all, as VACUUM FREEZE would leave
 * them: the index builds that follow set no hint bits (no second write of
 * every page), and the first vacuum after the restore has nothing to
 * freeze. Not for merge, where the database is live: frozen rows would
 * show through the snapshots of transactions already running. */
static int load_fresh_table(struct rune_pg_pool *p, PGconn *conn, struct rune_pg_job *j, char *err,
                            size_t errlen)
{
    if (json_is_true(json_object_get(j->sec, "partitioned")))
        return copy_block(p, conn, j, false, NULL, err, errlen) ? -1 : 0;
    char *sql = NULL;
    if (asprintf(&sql, "TRUNCATE ONLY %s", rune_pg_str(j->sec, "qualified")) < 0)
        abort();
    int rc = 0;
    /* binary first when every column converts; a row the converter
     * refuses rolls the table back and it is loaded again as text */
    for (int binary = 1; binary >= 0 && rc == 0; binary--) {
        struct rune_pg_bin *bin = NULL;
        char why[512] = "";
        rc = rune_pg_run(p->r->c, conn, "BEGIN", err, errlen) != 0 ||
                     rune_pg_run(p->r->c, conn, sql, err, errlen) != 0
                 ? -1
                 : 0;
        if (rc == 0 && binary)
            bin = rune_pg_bin_for(conn, rune_pg_str(j->sec, "qualified"),
                                  rune_pg_str(j->sec, "copy"), why, sizeof why);
        if (rc == 0 && PQtransactionStatus(conn) != PQTRANS_INTRANS) { /* the catalog read failed */
            snprintf(err, errlen, "table %s: %s", j->name, why);
            rc = -1;
        }
        if (rc == 0)
            rc = copy_block(p, conn, j, true, bin, err, errlen);
        j->binary = bin && rc == 0;
        rune_pg_bin_free(bin);
        if (rc == 1) { /* refused: as text, from the start */
            rune_call_log(p->r->c, "%s; loading the table as COPY text", err);
            char ignored[256];
            rc = rune_pg_run(p->r->c, conn, "ROLLBACK", ignored, sizeof ignored) ? -1 : 0;
            if (rc != 0)
                snprintf(err, errlen, "table %s: %s", j->name, ignored);
            continue;
        }
        if (rc == 0)
            rc = rune_pg_run(p->r->c, conn, "COMMIT", err, errlen) ? -1 : 0;
        break;
    }
    free(sql);
    if (rc != 0 && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        char ignored[256];
        rune_pg_run(p->r->c, conn, "ROLLBACK", ignored, sizeof ignored);
    }
    return rc;
}

/* The loading connections of a database nobody sees yet (create, drop,
 * into) commit without waiting for the WAL to reach the disk: a table's
 * COPY, each index, each foreign key would otherwise wait for an fsync of
 * the WAL before the connection takes its next job. This is safe because
 * the restore is reported done only after durable() below has made every
 * one of those commits durable; until then a crash of the server can lose
 * the last of them — and with them everything after (WAL is replayed in
 * order: what survives is a prefix of what was done) — but then the
 * restore itself fails (its connections are gone) and says so; nobody was
 * told it worked. The scripts psql runs (pre-data, the rest of post-data)
 * keep the database's own setting. */
static const char FRESH_ASYNC[] = "SET synchronous_commit = off";

/* What sorting the keys of one row for an index build takes, about: the
 * sort's slot and the index tuple of a key of a column or two. */
#define SORT_BYTES_PER_ROW 96LL
#define SORT_MEMORY_MAX (1LL << 30)
/* The memory all loading connections together may take for sorting, when
 * the server is not on this host (its memory is unknown here). */
#define SORT_BUDGET_REMOTE (1LL << 30)

/* The server runs on this host: rune reached it through a unix socket or
 * the loopback address. */
static bool server_here(PGconn *conn)
{
    const char *h = conn ? PQhost(conn) : NULL;
    return h && (h[0] == '/' || h[0] == '@' || !strcmp(h, "localhost") || !strcmp(h, "127.0.0.1") ||
                 !strcmp(h, "::1"));
}

/* MemAvailable of this host, in bytes; 0 when unknown. */
static long long memory_available(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

/* The pool alone keeps every core of the server busy: it is on this host
 * and has no more cores than the pool has connections. Then PostgreSQL's
 * parallel workers only add work — an index build's workers each sort a
 * share and the leader merges their runs, a parallel merge join reads the
 * whole inner index once per worker — and take the cores from the other
 * connection's job: on this 2-core machine at 1 GiB, a restore without
 * them took 1.2 s less CPU and 0.8 s less time. With cores to spare (or a
 * server elsewhere, whose cores are unknown here) they stay as the
 * server has them: there they shorten the builds that run alone. */
static bool cores_taken(struct rune_pg_restore *r)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return server_here(r->admin) && cores > 0 && cores <= r->jobs;
}

/* The memory a loading connection may sort with (maintenance_work_mem,
 * which PostgreSQL also gives a foreign-key check as its work_mem): enough
 * to sort the keys of the table with the most rows in memory. With the
 * server's default of 64 MB an index build over a million rows or more
 * sorts on disk, and its parallel workers, which share that memory, each
 * spill more: at 1 GiB the realistic set's 8 largest index builds took
 * 7.5 s of CPU with 64 MB and 5.8 s with 512 MB (docs/performance.md). At
 * most a quarter of this host's available memory over the connections
 * when the server is here, 1 GB over them when it is elsewhere, and never
 * more than 1 GB each; the server's own setting stands when larger. */
static long long sort_memory(struct rune_pg_restore *r, struct rune_pg_job *loads, size_t n)
{
    long long rows = 0;
    for (size_t i = 0; i < n; i++)
        if (num(loads[i].sec, "rows") > rows)
            rows = num(loads[i].sec, "rows");
    long long want = rows * SORT_BYTES_PER_ROW, avail = memory_available();
    long long budget = server_here(r->admin) && avail > 0 ? avail / 4 : SORT_BUDGET_REMOTE;
    if (want > budget / r->jobs)
        want = budget / r->jobs;
    return want < SORT_MEMORY_MAX ? want : SORT_MEMORY_MAX;
}

/* durable()'s fallback: waits until the server has flushed the WAL up to
 * where it is now (the WAL writer flushes asynchronous commits on its
 * own), polling, under the step's deadline. */
static int wait_flushed(struct rune_pg_restore *r, PGconn *conn, char *err, size_t errlen)
{
    bool isnull;
    char *lsn = rune_pg_value(r->c, conn, "SELECT pg_current_wal_insert_lsn()::text", 0, NULL,
                              &isnull, err, errlen);
    if (!lsn)
        return -1;
    const char *p[1] = {lsn};
    int rc = -1;
    for (;;) {
        char *done = rune_pg_value(r->c, conn, "SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn", 1,
                                   p, &isnull, err, errlen);
        bool yes = done && !strcmp(done, "t");
        free(done);
        if (yes || !done) {
            rc = yes ? 0 : -1;
            break;
        }
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    free(lsn);
    return rc;
}

/* Waits until everything committed so far is on disk: a transaction that
 * writes WAL, committed synchronously, waits for the WAL to be flushed up
 * to its commit record — which covers every commit before it. The WAL it
 * writes is one logical-decoding message (any user may emit one; decoders
 * skip prefixes they do not know): a transaction that only took a
 * transaction id writes no WAL of its own, and PostgreSQL commits it
 * asynchronously whatever synchronous_commit says (tried first; the crash
 * test caught it). With the database's synchronous_commit (a server with
 * synchronous standbys waits for them too), or `local` where that is off.
 * Where the message is not allowed, waits for the server's WAL writer to
 * flush what was written (it does within 3 × wal_writer_delay). */
static int durable(struct rune_pg_restore *r, char *err, size_t errlen)
{
    static const char *const flush[] = {
        "SELECT set_config('synchronous_commit', 'local', false) WHERE "
        "current_setting('synchronous_commit') = 'off'",
        "BEGIN",
        "SELECT pg_logical_emit_message(true, 'rune', 'pg.restore: loaded')",
        "COMMIT",
        NULL,
    };
    PGconn *conn = rune_pg_connect(r->c, r->load, err, errlen);
    if (!conn)
        return -1;
    char why[1024];
    int rc = rune_pg_run_all(r->c, conn, flush, why, sizeof why);
    if (rc != 0 && !rune_call_cancelled(r->c)) {
        rune_pg_run(r->c, conn, "ROLLBACK", err, errlen);
        rc = wait_flushed(r, conn, why, sizeof why);
    }
    PQfinish(conn);
    if (rc != 0)
        snprintf(err, errlen,
                 "database %s was loaded but making it durable (waiting for the WAL to reach the "
                 "disk) failed: %s",
                 r->load, why);
    return rc;
}

/* The content hash of a restored table, as pg.fingerprint computes it. */
static int hash_table(struct rune_pg_pool *p, PGconn *conn, struct rune_pg_job *j, char *err,
                      size_t errlen)
{
    const char *q = rune_pg_str(j->sec, "qualified");
    struct rune_rowhash h;
    rune_rowhash_init(&h);
    int rc = rune_pg_copy_out(p->r->c, conn, q, NULL, NULL, &h, err, errlen);
    rune_rowhash_hex(&h, j->hash);
    rune_rowhash_free(&h);
    return rc;
}

static int count_table(struct rune_pg_pool *p, PGconn *conn, struct rune_pg_job *j, char *err,
                       size_t errlen)
{
    char *q = rune_pg_qualified(conn, j->name);
    if (!q) {
        /* libpq says why when the name is not valid in the encoding */
        const char *why = PQerrorMessage(conn);
        snprintf(err, errlen, "cannot quote table name %s to count its rows: %.*s", j->name,
                 *why ? (int)strcspn(why, "\n") : 80,
                 *why ? why : "no memory (free memory on this host and run the step again)");
        return -1;
    }
    char *sql = rune_pg_sqlf("SELECT count(*) FROM %s", q);
    free(q);
    if (!sql)
        abort();
    PGresult *res = rune_pg_exec(p->r->c, conn, sql, 0, NULL, err, errlen);
    free(sql);
    if (!res)
        return -1;
    j->rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* A load's cost (the unit of every job's, pg_postdata.c): its COPY text,
 * and per row what parsing and inserting a row takes beyond its bytes — on
 * the realistic set about as long as 40 bytes. */
#define LOAD_COST_PER_ROW 40.0

static void cost_loads(struct rune_pg_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jobs[i].cost = (double)num(jobs[i].sec, "raw_bytes") +
                       LOAD_COST_PER_ROW * (double)num(jobs[i].sec, "rows");
}

/* Rows loaded must be the rows dumped; with check: content, the content
 * hashes must be the manifest's too, computed on conn (merge: inside its
 * transaction) or over the pool. Fills r->loaded. */
static int check_tables(struct rune_pg_restore *r, struct rune_pg_job *jobs, size_t n, PGconn *conn)
{
    char bad[512] = "";
    size_t at = 0, nbad = 0;
    for (size_t i = 0; i < n; i++) {
        json_object_set_new(r->loaded, jobs[i].name, json_integer(jobs[i].rows));
        long long want = num(jobs[i].sec, "rows");
        if (jobs[i].rows != want) {
            if (nbad++ < 5)
                at += (size_t)snprintf(bad + at, sizeof bad - at, "%s%s (%lld rows, expected %lld)",
                                       nbad > 1 ? ", " : "", jobs[i].name, jobs[i].rows, want);
        }
    }
    if (nbad)
        return rune_call_fail(r->c,
                              "rows loaded differ from the backup's manifest in %zu table%s: "
                              "%s%s",
                              nbad, nbad > 1 ? "s" : "", bad, nbad > 5 ? ", ..." : "");
    if (!r->content)
        return RUNE_STEP_OK;
    char err[1024];
    rune_call_log(r->c, "hashing %zu restored tables", n);
    rune_call_progress_phase(r->c, "hashing the restored tables");
    for (size_t i = 0; i < n; i++)
        jobs[i].stage = RUNE_PG_STAGE_NONE; /* the pool's phase is this one */
    struct rune_pg_pool p = {.r = r};
    for (size_t i = 0; conn && i < n; i++)
        if (hash_table(&p, conn, &jobs[i], err, sizeof err) != 0)
            return rune_pg_failed(r->c, err);
    if (!conn && rune_pg_jobs_run(r, jobs, n, hash_table, NULL, err, sizeof err) != 0)
        return rune_pg_failed(r->c, err);
    json_t *hashes = json_object_get(r->manifest, "table_hashes");
    at = 0;
    for (size_t i = 0; i < n; i++) {
        const char *want = rune_pg_str(hashes, jobs[i].name);
        if (!want || strcmp(want, jobs[i].hash)) {
            if (nbad++ < 5)
                at += (size_t)snprintf(bad + at, sizeof bad - at, "%s%s", nbad > 1 ? ", " : "",
                                       jobs[i].name);
        }
    }
    if (nbad)
        return rune_call_fail(r->c,
                              "the content of %zu restored table%s differs from the backup's "
                              "manifest (table_hashes): %s%s",
                              nbad, nbad > 1 ? "s" : "", bad, nbad > 5 ? ", ..." : "");
    return RUNE_STEP_OK;
}

static double since(long long t0)
{
    return (rune_clock_mono_ms() - t0) / 1000.0;
}

/* ---- progress ---- */

/* The raw bytes of the backup's section `kind`, 0 when it has none. */
static long long section_bytes(struct rune_pg_restore *r, const char *kind)
{
    return num(rune_pg_layout_find(r->sections, kind), "raw_bytes");
}

/* Shares `bytes` of the restore's progress out among the jobs, in
 * proportion to their costs (a load's is its COPY text plus its rows, an
 * index's and a foreign key's what they are expected to take in the same
 * unit, pg_postdata.c): so the count keeps moving while indexes are built
 * after the last table is in, and the percent and ETA follow the time the
 * work takes rather than the bytes read alone. */
static void share_out(struct rune_pg_job *jobs, size_t n, long long bytes)
{
    double cost = 0;
    for (size_t i = 0; i < n; i++)
        cost += jobs[i].cost;
    for (size_t i = 0; i < n; i++) {
        jobs[i].share =
            cost > 0 && bytes > 0 ? (long long)((double)bytes * jobs[i].cost / cost) : 0;
        jobs[i].shown = 0;
    }
}

/* create / drop: pre-data; the tables, and each table's indexes and keys
 * as soon as its data is in, over `jobs` connections; the rest of the
 * data; the rest of post-data (foreign keys, triggers, ...). */
int rune_pg_load_all(struct rune_pg_restore *r)
{
    struct rune_call *c = r->c;
    char err[1024];
    long long t0 = rune_clock_mono_ms();
    /* progress: the backup's raw bytes (the manifest's, what the size hook
     * measured): the schema's once it is created, the pool's share by
     * share as its jobs go, the rest of the data's once it is in */
    long long total = num(r->manifest, "raw_bytes"), pre = section_bytes(r, RUNE_PG_SECTION_PRE);
    long long data = section_bytes(r, RUNE_PG_SECTION_DATA);
    rune_call_progress_phase(c, "creating the schema");
    rune_call_progress(c, 0, total, RUNE_UNIT_BYTES);
    int st = psql_section(r, RUNE_PG_SECTION_PRE);
    if (st != RUNE_STEP_OK)
        return st;
    rune_call_progress(c, pre, total, RUNE_UNIT_BYTES);
    size_t nloads, n, cap, nfk = 0;
    struct rune_pg_job *jobs = rune_pg_jobs_for(r->pick, &nloads);
    cost_loads(jobs, nloads);
    for (size_t i = 0; i < nloads; i++)
        jobs[i].stage = RUNE_PG_STAGE_LOAD;
    n = cap = nloads;
    json_t *isec = rune_pg_layout_find(r->sections, RUNE_PG_SECTION_INDEXES);
    json_t *psec = rune_pg_layout_find(r->sections, RUNE_PG_SECTION_POST);
    size_t len;
    char *itext = NULL, *ptext = NULL, *rest = NULL;
    if ((isec && !(itext = read_section(r, isec, &len, err, sizeof err))) ||
        (psec && !(ptext = read_section(r, psec, &len, err, sizeof err)))) {
        st = rune_pg_failed(c, err);
        goto out;
    }
    if (itext)
        rune_pg_index_jobs(itext, &jobs, &n, &cap, nloads);
    if (ptext)
        nfk = rune_pg_fk_jobs(ptext, &jobs, &n, &cap, nloads, n - nloads, &rest);
    rune_pg_jobs_rank(jobs, n);
    share_out(jobs, n, total - pre - data);
    rune_call_log(c,
                  "schema created (%.1fs); loading %zu tables, building %zu "
                  "indexes and keys "
                  "and %zu foreign keys over %d connections",
                  since(t0), nloads, n - nloads - nfk, nfk, r->jobs);
    char mem[256];
    long long sort = sort_memory(r, jobs, nloads);
    snprintf(mem, sizeof mem,
             "SELECT set_config('maintenance_work_mem', GREATEST(pg_size_bytes("
             "current_setting('maintenance_work_mem')), %lld) / 1024 || 'kB', false)",
             sort);
    if (sort > 64LL << 20) /* PostgreSQL's default */
        rune_call_log(c,
                      "index builds sort in up to %lld MB each (maintenance_work_mem, unless the "
                      "server's is larger)",
                      sort >> 20);
    t0 = rune_clock_mono_ms();
    const char *session[5] = {FRESH_ASYNC, mem, NULL, NULL, NULL};
    if (cores_taken(r)) {
        session[2] = "SET max_parallel_maintenance_workers = 0";
        session[3] = "SET max_parallel_workers_per_gather = 0";
        rune_call_log(c,
                      "no parallel workers: the pool's %d connections take every core of the "
                      "server",
                      r->jobs);
    }
    if (rune_pg_jobs_run(r, jobs, n, load_fresh_table, session, err, sizeof err) != 0)
        st = rune_pg_failed(c, err);
    if (st == RUNE_STEP_OK) {
        size_t nbin = 0;
        for (size_t i = 0; i < nloads; i++)
            nbin += jobs[i].binary;
        char how[160];
        if (nbin == nloads)
            snprintf(how, sizeof how, "all %zu in COPY's binary format", nloads);
        else
            snprintf(how, sizeof how,
                     "%zu of %zu in COPY's binary format, the others as text: columns of other "
                     "types, or partitioned",
                     nbin, nloads);
        rune_call_log(c, "tables loaded (%s), indexes, keys and foreign keys built (%.1fs)", how,
                      since(t0));
        t0 = rune_clock_mono_ms();
        rune_call_progress_phase(c, "the rest of the data and of post-data");
        st = psql_section(r, RUNE_PG_SECTION_DATA);
    }
    if (st == RUNE_STEP_OK)
        rune_call_progress_add(c, data);
    if (st == RUNE_STEP_OK && rest)
        st = rune_pg_psql(r, NULL, true, rest, strlen(rest));
    if (st == RUNE_STEP_OK) {
        rune_call_log(c, "the rest of the data and of post-data (%.1fs)", since(t0));
        st = check_tables(r, jobs, nloads, NULL);
    }
    if (st == RUNE_STEP_OK) {
        rune_call_progress_phase(c, "making it durable");
        if (durable(r, err, sizeof err) != 0)
            st = rune_pg_failed(c, err);
    }
    if (st == RUNE_STEP_OK) /* all of it, exactly */
        rune_call_progress(c, total, total, RUNE_UNIT_BYTES);
out:
    rune_pg_jobs_free(jobs, n);
    free(itext);
    free(ptext);
    free(rest);
    return st;
}

/* ---- merge: the tables' contents replaced in one transaction ---- */

/* Parents before children (foreign keys among the restored tables), so
 * that each COPY finds the rows it refers to. */
static int fk_order(struct rune_pg_restore *r, PGconn *conn, struct rune_pg_job *jobs, size_t n,
                    char *err, size_t errlen)
{
    PGresult *res =
        rune_pg_exec(r->c, conn,
                     "SELECT CASE WHEN cn.nspname = 'public' THEN '' ELSE cn.nspname || '.' "
                     "END || c.relname, "
                     "CASE WHEN pn.nspname = 'public' THEN '' ELSE pn.nspname || '.' END || "
                     "p.relname "
                     "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                     "JOIN pg_namespace cn ON cn.oid = c.relnamespace JOIN pg_class p ON "
                     "p.oid = k.confrelid "
                     "JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE k.contype = 'f' "
                     "AND k.conrelid <> k.confrelid",
                     0, NULL, err, errlen);
    if (!res)
        return -1;
    struct rune_pg_job *sorted = calloc(n ? n : 1, sizeof *sorted);
    bool *placed = calloc(n ? n : 1, sizeof *placed);
    if (!sorted || !placed)
        abort();
    size_t done = 0;
    while (done < n) {
        size_t before = done;
        for (size_t i = 0; i < n; i++) {
            if (placed[i])
                continue;
            bool ready = true;
            for (int k = 0; ready && k < PQntuples(res); k++) {
                if (strcmp(PQgetvalue(res, k, 0), jobs[i].name))
                    continue;
                for (size_t m = 0; m < n; m++)
                    if (!placed[m] && m != i && !strcmp(PQgetvalue(res, k, 1), jobs[m].name))
                        ready = false;
            }
            if (ready) {
                sorted[done++] = jobs[i];
                placed[i] = true;
            }
        }
        if (done == before) /* a cycle: the rest in backup order */
            for (size_t i = 0; i < n; i++)
                if (!placed[i]) {
                    sorted[done++] = jobs[i];
                    placed[i] = true;
                }
    }
    PQclear(res);
    memcpy(jobs, sorted, n * sizeof *jobs);
    free(sorted);
    free(placed);
    return 0;
}

/* The sequence values of the restored tables' own sequences, from the
 * backup's rest-of-data section (pg_dump's setval lines). */
static int merge_sequences(struct rune_pg_restore *r, PGconn *conn, struct rune_pg_job *jobs,
                           size_t n, char *err, size_t errlen)
{
    json_t *sec = rune_pg_layout_find(r->sections, RUNE_PG_SECTION_DATA);
    size_t len;
    char *text = sec ? read_section(r, sec, &len, err, errlen) : NULL;
    if (sec && !text)
        return -1;
    static const char pfx[] = "SELECT pg_catalog.setval('";
    int rc = 0;
    for (size_t i = 0; rc == 0 && text && i < n; i++) {
        const char *p[1] = {rune_pg_str(jobs[i].sec, "qualified")};
        PGresult *res = rune_pg_exec(r->c, conn,
                                     "SELECT quote_ident(n.nspname) || '.' || "
                                     "quote_ident(s.relname) FROM pg_depend d "
                                     "JOIN pg_class s ON s.oid = d.objid JOIN "
                                     "pg_namespace n ON n.oid = s.relnamespace "
                                     "WHERE d.classid = 'pg_class'::regclass AND "
                                     "d.refclassid = 'pg_class'::regclass "
                                     "AND s.relkind = 'S' AND d.deptype IN ('a', "
                                     "'i') AND d.refobjid = $1::regclass",
                                     1, p, err, errlen);
        if (!res)
            return -1;
        for (int k = 0; rc == 0 && k < PQntuples(res); k++) {
            const char *seq = PQgetvalue(res, k, 0);
            for (char *l = text; rc == 0 && l && *l;
                 l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                size_t sl = strlen(seq);
                if (strncmp(l, pfx, sizeof pfx - 1) || strncmp(l + sizeof pfx - 1, seq, sl) ||
                    l[sizeof pfx - 1 + sl] != '\'')
                    continue;
                char *e = strchr(l, '\n');
                char *stmt = e ? strndup(l, (size_t)(e - l)) : strdup(l);
                if (!stmt)
                    abort();
                rc = rune_pg_run(r->c, conn, stmt, err, errlen);
                free(stmt);
            }
        }
        PQclear(res);
    }
    free(text);
    return rc;
}

int rune_pg_load_merge(struct rune_pg_restore *r)
{
    struct rune_call *c = r->c;
    char err[1024];
    size_t n;
    struct rune_pg_job *jobs = rune_pg_jobs_for(r->pick, &n);
    PGconn *conn = rune_pg_connect(c, r->load, err, sizeof err);
    int st = RUNE_STEP_FAILED;
    if (!conn) {
        st = rune_pg_failed(c, err);
        goto out;
    }
    if (fk_order(r, conn, jobs, n, err, sizeof err) != 0 ||
        rune_pg_run_all(c, conn, rune_pg_load_session, err, sizeof err) != 0 ||
        rune_pg_run(c, conn, "BEGIN", err, sizeof err) != 0) {
        st = rune_pg_failed(c, err);
        goto out;
    }
    size_t cap = 64;
    for (size_t i = 0; i < n; i++)
        cap += strlen(rune_pg_str(jobs[i].sec, "qualified")) + 8;
    char *sql = malloc(cap);
    if (!sql)
        abort();
    size_t at = (size_t)snprintf(sql, cap, "TRUNCATE ");
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(sql + at, cap - at, "%s%s%s", i ? ", " : "",
                               json_is_true(json_object_get(jobs[i].sec, "partitioned")) ? ""
                                                                                         : "ONLY ",
                               rune_pg_str(jobs[i].sec, "qualified"));
    int rc = n ? rune_pg_run(c, conn, sql, err, sizeof err) : 0;
    free(sql);
    if (rc != 0) {
        char why[1024];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, sizeof err, "%s%s; nothing was changed", why,
                 strstr(why, "foreign key") ? " (restore the referencing tables too: add them to "
                                              "tables:)"
                                            : "");
        st = rune_pg_failed(c, err);
        goto out;
    }
    rune_call_log(c, "loading %zu tables in one transaction", n);
    /* progress: the raw bytes of the tables' blocks, as they are read */
    long long total = 0;
    for (size_t i = 0; i < n; i++) {
        jobs[i].share = num(jobs[i].sec, "raw_bytes");
        total += jobs[i].share;
    }
    rune_call_progress_phase(c, "loading tables");
    rune_call_progress(c, 0, total, RUNE_UNIT_BYTES);
    struct rune_pg_pool p = {.r = r};
    for (size_t i = 0; i < n; i++) {
        if (load_table(&p, conn, &jobs[i], err, sizeof err) != 0) {
            char why[1024];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, sizeof err, "%s; rolled back, nothing was changed", why);
            st = rune_pg_failed(c, err);
            goto out;
        }
    }
    if (merge_sequences(r, conn, jobs, n, err, sizeof err) != 0) {
        st = rune_pg_failed(c, err);
        goto out;
    }
    st = check_tables(r, jobs, n, conn);
    if (st == RUNE_STEP_OK && rune_pg_run(c, conn, "COMMIT", err, sizeof err) != 0)
        st = rune_pg_failed(c, err);
    if (st == RUNE_STEP_OK) /* all of it, exactly */
        rune_call_progress(c, total, total, RUNE_UNIT_BYTES);
out:
    if (conn)
        PQfinish(conn); /* without COMMIT: rolled back */
    free(jobs);
    return st;
}

/* After psql or pg_restore: count the rows of every table restored. */
int rune_pg_count_tables(struct rune_pg_restore *r)
{
    char err[1024];
    PGconn *conn = rune_pg_connect(r->c, r->load, err, sizeof err);
    json_t *names = conn ? rune_pg_tables(r->c, conn, err, sizeof err) : NULL;
    if (conn)
        PQfinish(conn);
    if (!names)
        return rune_pg_failed(r->c, err);
    size_t n;
    struct rune_pg_job *jobs = rune_pg_jobs_for(names, &n);
    for (size_t i = 0; i < n; i++)
        jobs[i].name = json_string_value(json_array_get(names, i));
    int st = RUNE_STEP_OK;
    if (rune_pg_jobs_run(r, jobs, n, count_table, NULL, err, sizeof err) != 0)
        st = rune_pg_failed(r->c, err);
    for (size_t i = 0; st == RUNE_STEP_OK && i < n; i++)
        json_object_set_new(r->loaded, jobs[i].name, json_integer(jobs[i].rows));
    free(jobs);
    json_decref(names);
    return st;
}
