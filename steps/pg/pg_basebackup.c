/*
 * pg_basebackup.c — pg.basebackup: a physical base backup of a whole
 * PostgreSQL cluster, written as one backup artifact (artifact.h: chunked
 * gzip or zstd, compressed on every core, SHA-256 per chunk and file)
 * whose content is the tar archive pg_basebackup -Ft -X none writes: the
 * data directory, with the server's backup_manifest as its last member.
 *
 * Why not run pg_basebackup: the step speaks the replication protocol
 * itself (BASE_BACKUP over libpq, as pg_basebackup does), so the archive
 * streams straight into the artifact writer, under the step's deadline and
 * cancellation, with no child process and no pipe to manage. While it
 * streams, every file of the archive is hashed and, once the server's
 * manifest has arrived, checked against it (pg_bbmanifest.c: what
 * pg_verifybackup does); any mismatch aborts the writer, so a failed
 * backup never leaves a file that looks good.
 *
 * The manifest sidecar records what recovery needs (kind, start and stop
 * LSN, timeline, start time, system identifier, version, first and last
 * WAL segment): docs/pg-physical.md.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "artifact.h"
#include "digest.h"
#include "names.h"
#include "pathparam.h"
#include "pg_bbmanifest.h"
#include "pg_physical.h"
#include "pgconn.h"
#include "pgtar.h"
#include "walseg.h"

#define MANIFEST_MAX ((size_t)1 << 30)

/* One backup in flight. */
struct bb {
    struct rune_call *c;
    struct rune_artifact_writer *w;
    struct rune_tar tar;
    EVP_MD_CTX *md; /* the current file's SHA-256 */
    bool in_file;
    json_t *received; /* path → [size, sha256] */
    char *manifest;   /* the server's backup_manifest */
    size_t manifest_len, manifest_cap;
    bool in_manifest;
    int archives;
    unsigned long long got, total;
};

/* ---- waiting on the walsender under the step's deadline ---- */

/* 1 when input arrived (consumed), 0 not yet, -1 cancelled or the
 * connection broke (err says which). */
static int wait_input(struct bb *b, PGconn *conn, char *err, size_t errlen)
{
    if (rune_call_cancelled(b->c)) {
        snprintf(err, errlen, "stopped (%s)",
                 rune_call_cancel_status(b->c) == RUNE_STEP_TIMEOUT ? "the step's timeout passed"
                                                                    : "the run is stopping");
        return -1;
    }
    struct pollfd p = {PQsocket(conn), POLLIN, 0};
    if (poll(&p, 1, 100) <= 0)
        return 0;
    if (!PQconsumeInput(conn)) {
        rune_pg_error(conn, NULL, err, errlen);
        return -1;
    }
    return 1;
}

/* The next result of the command, or NULL with err (a result with the
 * wrong status is turned into its error). */
static PGresult *next_result(struct bb *b, PGconn *conn, ExecStatusType want, const char *what,
                             char *err, size_t errlen)
{
    while (PQisBusy(conn))
        if (wait_input(b, conn, err, errlen) < 0)
            return NULL;
    PGresult *r = PQgetResult(conn);
    /* a copy's own completion may come before the result that follows it */
    if (r && (PQresultStatus(r) == want ||
              (want == PGRES_TUPLES_OK && PQresultStatus(r) == PGRES_COMMAND_OK)))
        return r;
    char why[768];
    rune_pg_error(conn, r, why, sizeof why);
    snprintf(err, errlen, "the server did not send %s: %s", what,
             r ? why : "the command ended early");
    PQclear(r);
    return NULL;
}

/* ---- the archive, as it passes through ---- */

static int on_member(void *ctx, const struct rune_tar_member *m, char *err, size_t errlen)
{
    struct bb *b = ctx;
    if (m->name[0] == '/' || strstr(m->name, "..")) {
        snprintf(err, errlen, "the archive holds a path that leaves the data directory: \"%s\"",
                 m->name);
        return -1;
    }
    if (m->type == '2' && !strncmp(m->name, "pg_tblspc/", 10)) {
        snprintf(err, errlen,
                 "the cluster has a tablespace outside its data directory (%s → %s): "
                 "pg.basebackup backs up clusters without extra tablespaces only",
                 m->name, m->link);
        return -1;
    }
    if (!strcmp(m->name, "backup_manifest")) {
        snprintf(err, errlen, "the server's archive already holds a backup_manifest member");
        return -1;
    }
    b->in_file = m->type == '0';
    if (b->in_file && EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "cannot start a SHA-256 (OpenSSL)");
        return -1;
    }
    return 0;
}

static int on_data(void *ctx, const unsigned char *buf, size_t n, char *err, size_t errlen)
{
    struct bb *b = ctx;
    if (EVP_DigestUpdate(b->md, buf, n) != 1) {
        snprintf(err, errlen, "SHA-256 failed (OpenSSL)");
        return -1;
    }
    return 0;
}

static int on_member_end(void *ctx, const struct rune_tar_member *m, char *err, size_t errlen)
{
    struct bb *b = ctx;
    if (!b->in_file)
        return 0;
    char hex[RUNE_SHA256_HEX];
    rune_digest_hex(b->md, hex);
    b->in_file = false;
    if (rune_bb_received_add(b->received, m->name, m->size, hex) != 0) {
        snprintf(err, errlen, "no memory for the list of files received");
        return -1;
    }
    return 0;
}

static int on_raw(void *ctx, const unsigned char *buf, size_t n, char *err, size_t errlen)
{
    struct bb *b = ctx;
    return rune_artifact_write(b->w, buf, n, err, errlen);
}

/* One CopyData message of BASE_BACKUP's stream: 'n' a new archive, 'd' its
 * data (or the manifest's), 'm' the manifest follows, 'p' progress. */
static int message(struct bb *b, const char *msg, size_t n, char *err, size_t errlen)
{
    switch (n ? msg[0] : 0) {
    case 'n':
        if (++b->archives > 1) {
            snprintf(err, errlen,
                     "the server sends a second archive (a tablespace outside the data "
                     "directory): pg.basebackup backs up clusters without extra tablespaces "
                     "only");
            return -1;
        }
        return 0;
    case 'm': {
        bool terminated;
        if (rune_tar_finish(&b->tar, &terminated, err, errlen) != 0)
            return -1;
        b->in_manifest = true;
        return 0;
    }
    case 'd':
        if (b->in_manifest) {
            if (b->manifest_len + n - 1 > MANIFEST_MAX) {
                snprintf(err, errlen, "the server's backup manifest is larger than 1 GiB");
                return -1;
            }
            if (b->manifest_len + n > b->manifest_cap) {
                size_t cap = (b->manifest_len + n) * 2;
                char *m = realloc(b->manifest, cap);
                if (!m) {
                    snprintf(err, errlen, "no memory for the server's backup manifest");
                    return -1;
                }
                b->manifest = m;
                b->manifest_cap = cap;
            }
            memcpy(b->manifest + b->manifest_len, msg + 1, n - 1);
            b->manifest_len += n - 1;
            return 0;
        }
        if (b->archives != 1) {
            snprintf(err, errlen, "the server sent data before naming its archive");
            return -1;
        }
        if (rune_tar_feed(&b->tar, msg + 1, n - 1, err, errlen) != 0)
            return -1;
        b->got += n - 1;
        if (b->got > b->total)
            b->total = b->got;
        rune_call_progress(b->c, (long long)b->got, (long long)b->total, RUNE_UNIT_BYTES);
        return 0;
    case 'p':
        return 0;
    default:
        snprintf(err, errlen, "the server sent a message of unknown type '%c' in the backup",
                 n ? msg[0] : '?');
        return -1;
    }
}

static int copy_stream(struct bb *b, PGconn *conn, char *err, size_t errlen)
{
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(conn, &buf, 1);
        if (n > 0) {
            int rc = message(b, buf, (size_t)n, err, errlen);
            PQfreemem(buf);
            if (rc != 0)
                return -1;
            continue;
        }
        if (n == -1)
            return 0;
        if (n == -2) {
            rune_pg_error(conn, NULL, err, errlen);
            return -1;
        }
        if (wait_input(b, conn, err, errlen) < 0)
            return -1;
    }
}

/* The server's manifest checked, then added to the archive as its last
 * member (where pg_basebackup -Ft puts it) and the archive closed. */
static int close_archive(struct bb *b, size_t *files, json_t **ranges, char *err, size_t errlen)
{
    if (!b->in_manifest) {
        snprintf(err, errlen, "the server sent no backup manifest");
        return -1;
    }
    if (rune_bb_manifest_check(b->manifest, b->manifest_len, b->received, files, ranges, err,
                               errlen) != 0)
        return -1;
    unsigned char h[RUNE_TAR_BLOCK], zero[2 * RUNE_TAR_BLOCK] = {0};
    rune_tar_header(h, "backup_manifest", 0600, b->manifest_len, rune_clock_wall_ms() / 1000);
    if (rune_artifact_write(b->w, h, sizeof h, err, errlen) != 0 ||
        rune_artifact_write(b->w, b->manifest, b->manifest_len, err, errlen) != 0 ||
        rune_artifact_write(b->w, zero, rune_tar_padding(b->manifest_len), err, errlen) != 0 ||
        rune_artifact_write(b->w, zero, sizeof zero, err, errlen) != 0)
        return -1;
    return 0;
}

/* ---- before and around ---- */

/* What the server says before the backup: its clock (the backup's start
 * time), version, the size to expect, and no extra tablespaces. */
static int server_facts(struct rune_call *c, PGconn *conn, char *now, size_t nowlen, json_t *facts,
                        char *err, size_t errlen)
{
    PGresult *r = rune_pg_exec(
        c, conn,
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), current_setting('server_version'), "
        "current_setting('server_version_num')::int, "
        "(SELECT sum(pg_database_size(oid)) FROM pg_database)::bigint, "
        "(SELECT string_agg(spcname || ' (' || pg_tablespace_location(oid) || ')', ', ') "
        "FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global'))",
        0, NULL, err, errlen);
    if (!r)
        return -1;
    int rc = 0;
    snprintf(now, nowlen, "%s", PQgetvalue(r, 0, 0));
    json_object_set_new(facts, "server_version", json_string(PQgetvalue(r, 0, 1)));
    json_object_set_new(facts, "estimate", json_integer(strtoll(PQgetvalue(r, 0, 3), NULL, 10)));
    if (atoi(PQgetvalue(r, 0, 2)) < 150000) {
        snprintf(err, errlen,
                 "the server is PostgreSQL %s; pg.basebackup needs 15 or later (its BASE_BACKUP "
                 "stream); use pg_basebackup through shell.run for older servers",
                 PQgetvalue(r, 0, 1));
        rc = -1;
    } else if (!PQgetisnull(r, 0, 4)) {
        snprintf(err, errlen,
                 "the cluster has tablespaces outside its data directory: %s; pg.basebackup "
                 "backs up clusters without extra tablespaces only (use pg_basebackup with "
                 "--tablespace-mapping for this one)",
                 PQgetvalue(r, 0, 4));
        rc = -1;
    }
    PQclear(r);
    return rc;
}

static char *server_clock(struct rune_call *c, PGconn *conn, char *err, size_t errlen)
{
    return rune_pg_value(c, conn,
                         "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                         "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
                         0, NULL, NULL, err, errlen);
}

/* IDENTIFY_SYSTEM and the segment size, from the walsender. */
static int identify(struct rune_call *c, PGconn *repl, json_t *facts, long long *segsize, char *err,
                    size_t errlen)
{
    PGresult *r = rune_pg_exec(c, repl, "IDENTIFY_SYSTEM", 0, NULL, err, errlen);
    if (!r)
        return -1;
    json_object_set_new(facts, "system_identifier", json_string(PQgetvalue(r, 0, 0)));
    PQclear(r);
    char *v = rune_pg_value(c, repl, "SHOW wal_segment_size", 0, NULL, NULL, err, errlen);
    if (!v)
        return -1;
    *segsize = rune_wal_segsize_parse(v);
    if (*segsize < 0)
        snprintf(err, errlen, "the server's wal_segment_size \"%s\" is not one rune reads", v);
    free(v);
    return *segsize < 0 ? -1 : 0;
}

/* A position result ("recptr", "tli"), as BASE_BACKUP sends at its start
 * and end. */
static int position(PGresult *r, uint64_t *lsn, uint32_t *tli, char *err, size_t errlen)
{
    if (PQntuples(r) != 1 || PQnfields(r) < 2 || rune_lsn_parse(PQgetvalue(r, 0, 0), lsn) != 0) {
        snprintf(err, errlen, "the server sent an unreadable WAL position");
        return -1;
    }
    *tli = (uint32_t)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
    return 0;
}

static int destination(struct rune_call *c, char *out, size_t len, char *err, size_t errlen)
{
    const char *to = rune_call_str(c, "to");
    char *p = rune_path_param(c, to ? to : rune_call_str(c, "dir"));
    if (!p) {
        snprintf(err, errlen, "no memory for the path of the backup");
        return -1;
    }
    int rc = 0;
    if (to) {
        snprintf(out, len, "%s", p);
    } else {
        char ext[16];
        snprintf(ext, sizeof ext, ".tar%s", rune_artifact_suffix(rune_call_str(c, "compression")));
        rc = rune_fresh_name(out, len, p, "basebackup", "-", ext, err, errlen);
    }
    free(p);
    return rc;
}

/* What the sidecar records beyond the format's fields. */
static json_t *extras_for(json_t *facts, const char *start, const char *stop, uint64_t start_lsn,
                          uint32_t tli, uint64_t stop_lsn, uint32_t stop_tli, long long segsize,
                          size_t files, json_t *ranges)
{
    char a[RUNE_LSN_TEXT], z[RUNE_LSN_TEXT], first[32], last[32];
    rune_lsn_format(start_lsn, a);
    rune_lsn_format(stop_lsn, z);
    rune_wal_name(first, tli, rune_wal_segno(start_lsn, segsize), segsize);
    rune_wal_name(last, stop_tli, rune_wal_prev_segno(stop_lsn, segsize), segsize);
    json_t *x = json_object();
    json_object_set_new(x, "kind", json_string(RUNE_PG_BASEBACKUP_KIND));
    json_object_set_new(x, "archive", json_string("tar"));
    json_object_set_new(x, "recovery_point", json_string(start));
    json_object_set_new(x, "start_time", json_string(start));
    json_object_set_new(x, "stop_time", json_string(stop));
    json_object_set_new(x, "start_lsn", json_string(a));
    json_object_set_new(x, "stop_lsn", json_string(z));
    json_object_set_new(x, "timeline", json_integer(tli));
    json_object_set_new(x, "stop_timeline", json_integer(stop_tli));
    json_object_set(x, "system_identifier", json_object_get(facts, "system_identifier"));
    json_object_set(x, "server_version", json_object_get(facts, "server_version"));
    json_object_set_new(x, "wal_segment_size", json_integer(segsize));
    json_object_set_new(x, "wal_start", json_string(first));
    json_object_set_new(x, "wal_end", json_string(last));
    json_object_set_new(x, "files", json_integer((json_int_t)files));
    json_object_set_new(x, "verified_against", json_string("backup_manifest"));
    json_object_set(x, "wal_ranges", ranges ? ranges : json_null());
    return x;
}

static void set_outputs(struct rune_call *c, const char *dest, json_t *m, long long t0)
{
    static const char *const copied[] = {
        "kind",
        "start_lsn",
        "stop_lsn",
        "timeline",
        "start_time",
        "stop_time",
        "wal_start",
        "wal_end",
        "raw_bytes",
        "files",
        "system_identifier",
        "server_version",
        "wal_segment_size",
        NULL,
    };
    json_t *o = rune_call_outputs(c);
    char *mpath = rune_artifact_manifest_path(dest);
    json_object_set_new(o, "path", json_string(dest));
    json_object_set_new(o, "manifest", json_string(mpath ? mpath : ""));
    json_object_set(o, "sha256", json_object_get(m, "sha256"));
    json_object_set(o, "bytes", json_object_get(m, "bytes"));
    for (const char *const *k = copied; *k; k++)
        json_object_set(o, *k, json_object_get(m, *k));
    const char *point = json_string_value(json_object_get(m, "recovery_point"));
    json_object_set_new(o, "recovery_point", json_string(point));
    json_object_set_new(o, "read_with", json_string(rune_artifact_read_with(m)));
    json_object_set_new(o, "seconds", json_real((rune_clock_mono_ms() - t0) / 1000.0));
    rune_call_artifact(c, dest, json_string_value(json_object_get(m, "sha256")),
                       (long long)json_integer_value(json_object_get(m, "bytes")));
    rune_call_recovery_point(c, point);
    free(mpath);
}

/* BASE_BACKUP from its first result to its last, the archive into b->w. */
static int stream_backup(struct bb *b, PGconn *repl, uint64_t *lsn, uint32_t *tli, uint64_t *stop,
                         uint32_t *stop_tli, size_t *files, json_t **ranges, char *err,
                         size_t errlen)
{
    if (!PQsendQuery(repl, "BASE_BACKUP (LABEL 'rune pg.basebackup', PROGRESS true, "
                           "CHECKPOINT 'fast', WAIT true, MANIFEST 'yes', "
                           "MANIFEST_CHECKSUMS 'SHA256')")) {
        rune_pg_error(repl, NULL, err, errlen);
        return -1;
    }
    PGresult *r = next_result(b, repl, PGRES_TUPLES_OK, "the backup's start position", err, errlen);
    if (!r)
        return -1;
    int rc = position(r, lsn, tli, err, errlen);
    PQclear(r);
    if (rc != 0 ||
        !(r = next_result(b, repl, PGRES_TUPLES_OK, "its list of tablespaces", err, errlen)))
        return -1;
    unsigned long long total = 0;
    for (int i = 0; i < PQntuples(r); i++)
        total += strtoull(PQgetvalue(r, i, 2), NULL, 10) * 1024;
    int spaces = PQntuples(r);
    PQclear(r);
    if (spaces != 1) {
        snprintf(err, errlen,
                 "the cluster has %d tablespaces outside its data directory: pg.basebackup "
                 "backs up clusters without extra tablespaces only",
                 spaces - 1);
        return -1;
    }
    if (total > 0)
        b->total = total;
    rune_call_progress(b->c, 0, (long long)b->total, RUNE_UNIT_BYTES);
    if (!(r = next_result(b, repl, PGRES_COPY_OUT, "the archive", err, errlen)))
        return -1;
    PQclear(r);
    if (copy_stream(b, repl, err, errlen) != 0)
        return -1;
    if (close_archive(b, files, ranges, err, errlen) != 0)
        return -1;
    while ((r = next_result(b, repl, PGRES_TUPLES_OK, "the backup's end position", err, errlen)) &&
           PQresultStatus(r) == PGRES_COMMAND_OK)
        PQclear(r);
    if (!r)
        return -1;
    rc = position(r, stop, stop_tli, err, errlen);
    PQclear(r);
    /* then the command's completion, and nothing more */
    while (rc == 0 && (r = PQgetResult(repl))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rune_pg_error(repl, r, err, errlen);
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

/* Everything once both connections are open; a rune_status. */
static int backup_with(struct rune_call *c, PGconn *conn, PGconn *repl, long long t0)
{
    char err[1024] = "", start[64], dest[PATH_MAX];
    json_t *facts = json_object(), *ranges = NULL, *m = NULL;
    long long segsize = 0;
    struct bb b = {.c = c, .received = json_object(), .md = EVP_MD_CTX_new()};
    int st = RUNE_STEP_FAILED;
    if (!b.md || !b.received) {
        snprintf(err, sizeof err, "no memory to start the backup");
        goto fail;
    }
    if (server_facts(c, conn, start, sizeof start, facts, err, sizeof err) != 0 ||
        identify(c, repl, facts, &segsize, err, sizeof err) != 0 ||
        destination(c, dest, sizeof dest, err, sizeof err) != 0)
        goto fail;
    b.total = (unsigned long long)json_integer_value(json_object_get(facts, "estimate"));
    char where[256];
    snprintf(where, sizeof where, "cluster on %s:%s",
             PQhost(repl) && *PQhost(repl) ? PQhost(repl) : "local", PQport(repl));
    struct rune_artifact_meta meta = {
        .engine = "postgres",
        .source = where,
        .recovery_point = start,
        .compression = rune_call_str(c, "compression"),
        .level = (int)rune_call_int(c, "level"),
        .threads = (int)rune_call_int(c, "threads"),
    };
    if (rune_artifact_open(&b.w, dest, &meta, err, sizeof err) != 0)
        goto fail;
    struct rune_tar_sink sink = {on_member, on_data, on_member_end, on_raw, &b};
    rune_tar_init(&b.tar, &sink);
    rune_call_progress_phase(c, "streaming");
    rune_call_log(c, "base backup of the %s (PostgreSQL %s) into %s", where,
                  json_string_value(json_object_get(facts, "server_version")), dest);
    uint64_t lsn = 0, stop = 0;
    uint32_t tli = 0, stop_tli = 0;
    size_t files = 0;
    if (stream_backup(&b, repl, &lsn, &tli, &stop, &stop_tli, &files, &ranges, err, sizeof err) !=
        0)
        goto fail;
    char *end = server_clock(c, conn, err, sizeof err);
    if (!end)
        goto fail;
    json_t *x = extras_for(facts, start, end, lsn, tli, stop, stop_tli, segsize, files, ranges);
    free(end);
    rune_call_progress_phase(c, "committing");
    m = rune_artifact_commit(b.w, x, err, sizeof err);
    b.w = NULL;
    json_decref(x);
    if (!m)
        goto fail;
    set_outputs(c, dest, m, t0);
    rune_call_log(c,
                  "wrote %s: %zu files checked against the server's backup_manifest, WAL %s to "
                  "%s needed; without rune: %s %s | tar -x",
                  dest, files, json_string_value(json_object_get(m, "wal_start")),
                  json_string_value(json_object_get(m, "wal_end")), rune_artifact_read_with(m),
                  dest);
    st = RUNE_STEP_OK;
    goto out;
fail:
    rune_artifact_abort(b.w);
    if (rune_call_cancelled(c)) {
        st = rune_pg_cancelled(c);
        rune_call_fail(c, "the base backup was stopped (%s); nothing was written",
                       st == RUNE_STEP_TIMEOUT ? "the step's timeout passed"
                                               : "the run is stopping");
    } else {
        st = rune_call_fail(c, "base backup failed: %s; nothing was written", err);
    }
out:
    json_decref(m);
    json_decref(ranges);
    json_decref(facts);
    json_decref(b.received);
    free(b.manifest);
    EVP_MD_CTX_free(b.md);
    return st;
}

int rune_pg_basebackup_run(struct rune_call *c)
{
    long long t0 = rune_clock_mono_ms();
    char err[1024];
    const char *comp = rune_call_str(c, "compression");
    long long threads = rune_call_int(c, "threads");
    if (rune_artifact_level_check(comp, rune_call_int(c, "level"), err, sizeof err) != 0)
        return rune_call_fail(c, "%s", err);
    if (threads < 0 || threads > RUNE_ARTIFACT_THREADS_MAX)
        return rune_call_fail(c, "threads is %lld; use 0 (one per CPU) to %d", threads,
                              RUNE_ARTIFACT_THREADS_MAX);
    PGconn *conn = rune_pg_connect(c, NULL, err, sizeof err);
    if (!conn)
        return rune_call_cancelled(c) ? rune_pg_cancelled(c) : rune_call_fail(c, "%s", err);
    PGconn *repl = rune_pg_connect_replication(c, err, sizeof err);
    if (!repl) {
        PQfinish(conn);
        if (rune_call_cancelled(c))
            return rune_pg_cancelled(c);
        return rune_call_fail(c,
                              "%s; a base backup needs a replication connection: a role with "
                              "REPLICATION and a pg_hba.conf line for the \"replication\" "
                              "database",
                              err);
    }
    int st = backup_with(c, conn, repl, t0);
    PQfinish(repl);
    PQfinish(conn);
    return st;
}

long long rune_pg_basebackup_size(struct rune_call *c, enum rune_unit *unit)
{
    char err[512];
    long long n = -1;
    PGconn *conn = rune_pg_connect(c, NULL, err, sizeof err);
    if (!conn)
        return -1;
    char *v = rune_pg_value(c, conn, "SELECT sum(pg_database_size(oid))::bigint FROM pg_database",
                            0, NULL, NULL, err, sizeof err);
    if (v)
        n = strtoll(v, NULL, 10);
    free(v);
    PQfinish(conn);
    *unit = RUNE_UNIT_BYTES;
    return n;
}

int rune_pg_basebackup_plan(struct rune_call *c)
{
    json_t *t = rune_call_target(c, "target");
    const char *to = rune_call_str(c, "to"), *comp = rune_call_str(c, "compression");
    rune_call_plan(c,
                   "would take a base backup of the cluster%s%s (BASE_BACKUP, fast checkpoint, "
                   "files checked against the server's backup_manifest) into %s%s%s",
                   t ? " of target " : "", t ? json_string_value(json_object_get(t, "name")) : "",
                   to ? to : rune_call_str(c, "dir"), to ? "" : "/basebackup-YYYYMMDD-HHMMSS.tar",
                   to ? "" : rune_artifact_suffix(comp));
    return RUNE_STEP_OK;
}
