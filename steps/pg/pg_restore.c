/*
 * pg_restore.c — pg.restore: puts a backup back into a PostgreSQL
 * database (docs/postgres.md).
 *
 * Backups it reads:
 *  - rune: a pg.dump backup. Verified whole first (a damaged or edited
 *    backup is refused before anything is touched); then pre-data through
 *    psql, the tables' COPY blocks in parallel over `jobs` connections
 *    (each block read straight from its chunks, checked as it is read),
 *    the rest of the data and post-data through psql — as pg_restore -j
 *    does. The rows each COPY loaded must equal the manifest's.
 *  - plain: a pg_dump script (.sql, .sql.gz), fed to psql inside one
 *    transaction that is committed only when the whole file was read.
 *  - custom / directory: pg_dump -Fc / -Fd archives, through pg_restore.
 *
 * Modes: create (a new or empty database), drop (replace a database: the
 * backup is restored into a scratch database first, and only when that
 * worked is the old one dropped and the scratch one renamed — the
 * operator confirms before anything starts), merge (into the existing
 * database: for rune backups, the tables' contents are replaced in one
 * transaction; pg_dump files run as they are, in one transaction).
 * A database this step created is dropped again when the restore fails.
 * Passwords reach psql and pg_restore through their environment only.
 * Loading a pg.dump backup is pg_load.c's; pg_dump's own files
 * pg_restore_pgdump.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifact.h"
#include "pathparam.h"
#include "pg_backup.h"
#include "pgconn.h"
#include "safefile.h"

static const char *const format_names[] = {"rune", "plain", "custom", "directory"};

/* ---- small helpers ---- */

static bool cancelled_cb(void *c)
{
    return rune_call_cancelled(c);
}

/* Verifying's progress: the raw bytes of the chunks checked. */
static void verified_cb(void *c, unsigned long long done, unsigned long long total)
{
    rune_call_progress(c, (long long)done, (long long)total, RUNE_UNIT_BYTES);
}

static char *ident(PGconn *conn, const char *name)
{
    char *q = PQescapeIdentifier(conn, name, strlen(name));
    if (!q)
        abort();
    return q;
}

/* ---- what the backup is ---- */

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int detect(struct rune_pg_restore *r, char *err, size_t errlen)
{
    struct stat st;
    if (stat(r->from, &st) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", r->from, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        char toc[PATH_MAX + 16];
        snprintf(toc, sizeof toc, "%s/toc.dat", r->from);
        if (!exists(toc)) {
            snprintf(err, errlen, "%s is a directory without toc.dat: not a pg_dump -Fd archive",
                     r->from);
            return -1;
        }
        r->fmt = RUNE_PG_FMT_DIRECTORY;
        return 0;
    }
    unsigned char head[5] = {0};
    int fd = open(r->from, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? rune_read_full(fd, head, sizeof head) : -1;
    if (fd >= 0)
        close(fd);
    if (n < 0) {
        snprintf(err, errlen, "cannot read %s: %s", r->from, strerror(errno));
        return -1;
    }
    if (n == 5 && !memcmp(head, "PGDMP", 5)) {
        r->fmt = RUNE_PG_FMT_CUSTOM;
        return 0;
    }
    r->fmt = RUNE_PG_FMT_PLAIN;
    r->src = RUNE_PG_SRC_FILE;
    bool gz = n >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    bool zst = n >= 4 && !memcmp(head, "\x28\xb5\x2f\xfd", 4); /* a zstd frame */
    if (gz || zst) {
        char *m = rune_artifact_manifest_path(r->from);
        bool has = m && exists(m);
        free(m);
        r->src = has ? RUNE_PG_SRC_ARTIFACT : RUNE_PG_SRC_GZIP;
        if (zst && !has) {
            snprintf(err, errlen,
                     "%s is zstd without a manifest beside it: restore it with zstd -dc %s | psql, "
                     "or give the backup with its manifest",
                     r->from, r->from);
            return -1;
        }
    }
    return 0;
}

/* The backup must verify before anything is touched. A rune artifact that
 * pg.dump wrote becomes RUNE_PG_FMT_RUNE; for it the checksums are checked
 * here (every chunk's SHA-256 and the file's) and decompression is checked
 * as it is loaded — with the reader's full checks — into a database that is
 * only swapped in (drop), committed (tables/merge) or kept (into) once all
 * of it loaded, so a bad chunk still changes nothing, and the data is
 * decompressed once rather than twice. Any other artifact is verified in
 * full first. */
static int verify(struct rune_pg_restore *r)
{
    struct rune_call *c = r->c;
    if (r->src == RUNE_PG_SRC_GZIP)
        rune_call_log(c,
                      "no manifest beside %s: restoring it as a plain pg_dump script, checked by "
                      "gzip's CRCs only",
                      r->from);
    if (r->src != RUNE_PG_SRC_ARTIFACT)
        return RUNE_STEP_OK;
    struct rune_artifact_check chk;
    rune_call_log(c, "verifying %s", r->from);
    rune_call_progress_phase(c, "verifying");
    long long t0 = rune_clock_mono_ms();
    struct rune_artifact_watch watch = {cancelled_cb, verified_cb, c};
    int bad = rune_artifact_verify_sums(r->from, &watch, &chk);
    const char *eng = bad ? NULL : rune_pg_str(chk.manifest, "engine");
    if (!bad && !(eng && !strcmp(eng, "postgres"))) {
        rune_artifact_check_release(&chk);
        bad = rune_artifact_verify(r->from, &watch, &chk);
    }
    if (bad != 0) {
        int st = chk.cancelled ? rune_pg_cancelled(c)
                               : rune_call_fail(c,
                                                "refusing to restore from %s: %s; nothing was "
                                                "changed — pick another backup (backup.list)",
                                                r->from, chk.reason);
        rune_artifact_check_release(&chk);
        return st;
    }
    r->manifest = json_incref(chk.manifest);
    rune_artifact_check_release(&chk);
    rune_call_log(c, "verified (%.1fs)", (rune_clock_mono_ms() - t0) / 1000.0);
    const char *engine = rune_pg_str(r->manifest, "engine");
    if (engine && !strcmp(engine, "postgres")) {
        char err[512];
        r->sections = rune_pg_layout_sections(r->manifest, err, sizeof err);
        if (!r->sections)
            return rune_call_fail(c, "refusing to restore from %s: %s; nothing was changed",
                                  r->from, err);
        r->fmt = RUNE_PG_FMT_RUNE;
    }
    return RUNE_STEP_OK;
}

static const char *plain_name(const char *n)
{
    return strncmp(n, "public.", 7) ? n : n + 7;
}

/* The table sections to load: all, or those `tables` names. */
static int pick_tables(struct rune_pg_restore *r, char *err, size_t errlen)
{
    json_t *want = rune_pg_strlist(r->c, "tables");
    r->pick = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(r->sections, i, s)
    {
        if (strcmp(rune_pg_str(s, "section"), RUNE_PG_SECTION_TABLE))
            continue;
        bool take = !want;
        size_t k;
        json_t *w;
        json_array_foreach(want, k, w)
        {
            if (!strcmp(plain_name(json_string_value(w)), rune_pg_str(s, "table")))
                take = true;
        }
        if (take)
            json_array_append(r->pick, s);
    }
    size_t k;
    json_t *w;
    json_array_foreach(want, k, w)
    {
        const char *name = plain_name(json_string_value(w));
        bool found = false;
        json_array_foreach(r->pick, i, s) found = found || !strcmp(rune_pg_str(s, "table"), name);
        if (!found) {
            snprintf(err, errlen,
                     "table \"%s\" is not in the backup %s (see its manifest's tables); nothing "
                     "was changed",
                     json_string_value(w), r->from);
            json_decref(want);
            return -1;
        }
    }
    json_decref(want);
    return 0;
}

/* ---- which database, which mode ---- */

static int choose(struct rune_pg_restore *r, char *err, size_t errlen)
{
    struct rune_call *c = r->c;
    const char *into = rune_call_str(c, "into");
    const char *name = into ? into : rune_call_str(c, "database");
    json_t *t = rune_call_target(c, "target");
    if (!name)
        name = rune_pg_str(t, "database");
    if (!name && rune_pg_str(t, "conninfo")) {
        PQconninfoOption *o = PQconninfoParse(rune_pg_str(t, "conninfo"), NULL);
        for (PQconninfoOption *p = o; p && p->keyword; p++)
            if (!strcmp(p->keyword, "dbname") && p->val && *p->val)
                snprintf(r->db, sizeof r->db, "%s", p->val);
        PQconninfoFree(o);
        name = r->db[0] ? r->db : NULL;
    }
    if (!name)
        name = getenv("PGDATABASE");
    if (!name || !*name) {
        snprintf(err, errlen, "which database? give database: (or the target's) or into:");
        return -1;
    }
    if (strlen(name) > RUNE_PG_NAME_MAX) {
        snprintf(err, errlen, "database name \"%s\" is longer than %d bytes", name,
                 RUNE_PG_NAME_MAX);
        return -1;
    }
    snprintf(r->db, sizeof r->db, "%s", name);
    json_t *only = rune_pg_strlist(c, "tables");
    bool subset = only != NULL;
    json_decref(only);
    r->mode = rune_call_str(c, "mode");
    if (!r->mode)
        r->mode = subset ? "merge" : into ? "create" : NULL;
    if (!r->mode) {
        snprintf(err, errlen,
                 "say what to do with database %s: mode: drop (replace it, after confirmation), "
                 "mode: merge (load into it), or restore elsewhere with into: NAME",
                 r->db);
        return -1;
    }
    if (strcmp(r->mode, "drop") && strcmp(r->mode, "merge") && strcmp(r->mode, "create")) {
        snprintf(err, errlen, "mode is \"%s\"; use drop, merge or create", r->mode);
        return -1;
    }
    if (subset && r->fmt != RUNE_PG_FMT_RUNE) {
        snprintf(err, errlen,
                 "tables: needs a backup made by pg.dump; %s is a %s pg_dump file (restore "
                 "single tables from it with pg_restore -t by hand)",
                 r->from, format_names[r->fmt]);
        return -1;
    }
    if (subset && strcmp(r->mode, "merge")) {
        snprintf(err, errlen,
                 "tables: restores into the existing database (mode: merge); mode %s would "
                 "leave the other tables empty",
                 r->mode);
        return -1;
    }
    const char *check = rune_call_str(c, "check");
    if (!check || (strcmp(check, "counts") && strcmp(check, "content"))) {
        snprintf(err, errlen, "check is \"%s\"; use counts or content", check ? check : "");
        return -1;
    }
    r->content = !strcmp(check, "content");
    if (r->content && r->fmt != RUNE_PG_FMT_RUNE) {
        snprintf(err, errlen,
                 "check: content needs a backup made by pg.dump (its manifest has the hashes); "
                 "%s is a %s pg_dump file",
                 r->from, format_names[r->fmt]);
        return -1;
    }
    return 0;
}

/* A connection to the maintenance database, for CREATE/DROP DATABASE. */
static PGconn *admin_connect(struct rune_pg_restore *r, char *err, size_t errlen)
{
    const char *maint = strcmp(r->db, "postgres") ? "postgres" : "template1";
    PGconn *conn = rune_pg_connect(r->c, maint, err, errlen);
    if (!conn && !rune_call_cancelled(r->c) && strstr(err, "does not exist"))
        conn = rune_pg_connect(r->c, "template1", err, errlen);
    return conn;
}

static bool db_exists(struct rune_pg_restore *r, const char *name, char *err, size_t errlen,
                      int *fail)
{
    const char *p[1] = {name};
    PGresult *res = rune_pg_exec(r->c, r->admin, "SELECT 1 FROM pg_database WHERE datname = $1", 1,
                                 p, err, errlen);
    *fail = res ? 0 : -1;
    bool yes = res && PQntuples(res) > 0;
    PQclear(res);
    return yes;
}

/* CREATE DATABASE name from template0, like `like` (an existing database:
 * same owner, encoding and locale) or with the backup's encoding and
 * locale, or the server's defaults. */
static int create_db(struct rune_pg_restore *r, const char *name, const char *like, char *err,
                     size_t errlen)
{
    PGconn *a = r->admin;
    char opts[1024] = "";
    size_t at = 0;
    if (like) {
        bool v17 = PQserverVersion(a) >= 170000, v15 = PQserverVersion(a) >= 150000;
        char q[512];
        snprintf(q, sizeof q,
                 "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, "
                 "datctype, %s, %s FROM pg_database WHERE datname = $1",
                 v15 ? "datlocprovider::text" : "'c'",
                 v17   ? "datlocale"
                 : v15 ? "daticulocale"
                       : "NULL::text");
        const char *p[1] = {like};
        PGresult *res = rune_pg_exec(r->c, a, q, 1, p, err, errlen);
        if (!res)
            return -1;
        if (PQntuples(res) == 1) {
            char *owner = ident(a, PQgetvalue(res, 0, 0));
            char *enc = PQescapeLiteral(a, PQgetvalue(res, 0, 1), strlen(PQgetvalue(res, 0, 1)));
            char *col = PQescapeLiteral(a, PQgetvalue(res, 0, 2), strlen(PQgetvalue(res, 0, 2)));
            char *ct = PQescapeLiteral(a, PQgetvalue(res, 0, 3), strlen(PQgetvalue(res, 0, 3)));
            at += (size_t)snprintf(opts + at, sizeof opts - at,
                                   " OWNER %s ENCODING %s LC_COLLATE %s LC_CTYPE %s", owner, enc,
                                   col, ct);
            if (PQgetvalue(res, 0, 4)[0] == 'i' && !PQgetisnull(res, 0, 5)) {
                char *icu =
                    PQescapeLiteral(a, PQgetvalue(res, 0, 5), strlen(PQgetvalue(res, 0, 5)));
                at += (size_t)snprintf(opts + at, sizeof opts - at, " LOCALE_PROVIDER icu %s %s",
                                       v17 ? "LOCALE" : "ICU_LOCALE", icu);
                PQfreemem(icu);
            }
            PQfreemem(owner);
            PQfreemem(enc);
            PQfreemem(col);
            PQfreemem(ct);
        }
        PQclear(res);
    } else if (r->manifest && r->fmt == RUNE_PG_FMT_RUNE) {
        json_t *info = json_object_get(r->manifest, RUNE_PG_LAYOUT_KEY);
        const char *keys[3] = {"encoding", "collate", "ctype"};
        const char *words[3] = {"ENCODING", "LC_COLLATE", "LC_CTYPE"};
        for (int i = 0; i < 3; i++) {
            const char *v = rune_pg_str(info, keys[i]);
            if (!v)
                continue;
            char *lit = PQescapeLiteral(a, v, strlen(v));
            at += (size_t)snprintf(opts + at, sizeof opts - at, " %s %s", words[i], lit);
            PQfreemem(lit);
        }
    }
    char *q = ident(a, name);
    char sql[1400];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0%s", q, opts);
    PQfreemem(q);
    if (rune_pg_run(r->c, a, sql, err, errlen) != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen,
                 "cannot create database %s: %s (create it yourself and restore into it: an "
                 "empty existing database is used as it is)",
                 name, why);
        return -1;
    }
    return 0;
}

/* Cleanup after a failure, which may be a timeout: not under the call's
 * deadline (rune_pg_exec would cancel it at once), plain PQexec. */
static void drop_db(struct rune_pg_restore *r, const char *name)
{
    char *q = ident(r->admin, name);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s%s", q,
             PQserverVersion(r->admin) >= 130000 ? " WITH (FORCE)" : "");
    PQfreemem(q);
    PGresult *res = PQexec(r->admin, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rune_call_log(r->c, "could not drop database %s again: %s; drop it by hand", name,
                      PQresultErrorMessage(res));
    PQclear(res);
}

static int user_tables(struct rune_pg_restore *r, const char *db, long long *n, char *err,
                       size_t errlen)
{
    PGconn *conn = rune_pg_connect(r->c, db, err, errlen);
    if (!conn)
        return -1;
    json_t *t = rune_pg_tables(r->c, conn, err, errlen);
    PQfinish(conn);
    if (!t)
        return -1;
    *n = (long long)json_array_size(t);
    json_decref(t);
    return 0;
}

/* Other sessions on a database (ours are all closed when this is asked). */
static long long sessions(struct rune_pg_restore *r, const char *db)
{
    char err[256];
    const char *p[1] = {db};
    PGresult *res = rune_pg_exec(r->c, r->admin,
                                 "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                                 "AND pid <> pg_backend_pid()",
                                 1, p, err, sizeof err);
    long long n = res ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return n;
}

/* Gets the database the data goes into ready: created (create), a new
 * scratch one (drop), or the existing one (merge). */
static int prepare(struct rune_pg_restore *r, char *err, size_t errlen)
{
    struct rune_call *c = r->c;
    snprintf(r->load, sizeof r->load, "%s", r->db);
    if (!strcmp(r->mode, "merge")) {
        PGconn *probe = rune_pg_connect(c, r->db, err, errlen);
        if (!probe)
            return -1;
        PQfinish(probe);
        return 0;
    }
    if (!(r->admin = admin_connect(r, err, errlen)))
        return -1;
    int fail;
    r->db_exists = db_exists(r, r->db, err, errlen, &fail);
    if (fail)
        return -1;
    if (!strcmp(r->mode, "create")) {
        if (r->db_exists) {
            long long n;
            if (user_tables(r, r->db, &n, err, errlen) != 0)
                return -1;
            if (n > 0) {
                snprintf(err, errlen,
                         "database %s exists and has %lld tables; mode: drop replaces it, mode: "
                         "merge loads into it; nothing was changed",
                         r->db, n);
                return -1;
            }
            rune_call_log(c, "restoring into the existing, empty database %s", r->db);
            return 0;
        }
        if (create_db(r, r->db, NULL, err, errlen) != 0)
            return -1;
        r->created = true;
        return 0;
    }
    /* drop: restore beside it, swap at the end */
    if (!r->db_exists) {
        rune_call_log(c, "database %s does not exist: it is created", r->db);
        if (create_db(r, r->db, NULL, err, errlen) != 0)
            return -1;
        r->created = true;
        return 0;
    }
    unsigned rnd = (unsigned)(rune_clock_wall_ms() ^ (long long)getpid() * 2654435761u);
    snprintf(r->load, sizeof r->load, "%.40s_rune_restore_%06x", r->db, rnd & 0xffffff);
    if (create_db(r, r->load, r->db, err, errlen) != 0)
        return -1;
    r->scratch = r->created = true;
    return 0;
}

/* drop mode, after everything checked out: the old database goes, the
 * scratch one takes its name. */
static int swap_in(struct rune_pg_restore *r, char *err, size_t errlen)
{
    char *old = ident(r->admin, r->db), *neu = ident(r->admin, r->load);
    char sql[512];
    int rc;
    long long others = sessions(r, r->db);
    if (others > 0)
        rune_call_log(r->c, "terminating %lld sessions on database %s", others, r->db);
    if (PQserverVersion(r->admin) >= 130000) {
        snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", old);
    } else {
        const char *p[1] = {r->db};
        PQclear(rune_pg_exec(r->c, r->admin,
                             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = $1 AND pid <> pg_backend_pid()",
                             1, p, err, errlen));
        snprintf(sql, sizeof sql, "DROP DATABASE %s", old);
    }
    rc = rune_pg_run(r->c, r->admin, sql, err, errlen);
    if (rc != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "cannot drop database %s to replace it: %s; it is unchanged", r->db,
                 why);
    } else {
        r->created = false; /* from now on the scratch database is the restore */
        snprintf(sql, sizeof sql, "ALTER DATABASE %s RENAME TO %s", neu, old);
        rc = rune_pg_run(r->c, r->admin, sql, err, errlen);
        if (rc != 0) {
            char why[512];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen,
                     "database %s was dropped but the restored database %s could not take its "
                     "name: %s — rename it by hand: ALTER DATABASE %s RENAME TO %s",
                     r->db, r->load, why, neu, old);
        }
    }
    PQfreemem(old);
    PQfreemem(neu);
    return rc;
}

/* ---- the step ---- */

static void recovery_point(struct rune_pg_restore *r, char *out, size_t len)
{
    const char *rp = rune_pg_str(r->manifest, "recovery_point");
    struct stat st;
    if (r->fmt == RUNE_PG_FMT_RUNE && rp)
        snprintf(out, len, "%s", rp);
    else if (stat(r->from, &st) == 0) {
        char t[RUNE_ISO_LEN];
        rune_clock_iso(t, (long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000);
        snprintf(out, len, "%s", t);
    } else
        out[0] = '\0';
}

static int confirm_drop(struct rune_pg_restore *r, const char *point)
{
    char q[1024];
    long long others = sessions(r, r->db);
    snprintf(q, sizeof q,
             "Drop database %s%s and replace it with the restore of %s (recovery point %s)?", r->db,
             others > 0 ? " (its open sessions will be terminated)" : "", r->from, point);
    if (!rune_call_confirm(r->c, q)) {
        rune_call_fail(r->c,
                       "the operator did not approve dropping database %s; nothing was "
                       "changed",
                       r->db);
        return RUNE_STEP_DECLINED;
    }
    return RUNE_STEP_OK;
}

static void set_outputs(struct rune_pg_restore *r, const char *point, long long t0)
{
    json_t *o = rune_call_outputs(r->c);
    long long rows = 0;
    const char *k;
    json_t *v;
    json_object_foreach(r->loaded, k, v) rows += json_integer_value(v);
    json_object_set_new(o, "database", json_string(r->db));
    json_object_set(o, "tables", r->loaded);
    json_object_set_new(o, "table_count", json_integer((json_int_t)json_object_size(r->loaded)));
    json_object_set_new(o, "rows", json_integer(rows));
    json_object_set_new(o, "backup", json_string(r->from));
    json_object_set_new(o, "format", json_string(format_names[r->fmt]));
    json_object_set_new(o, "mode", json_string(r->mode));
    rune_pg_report_recovery_point(r->c, point);
    json_object_set_new(o, "checked",
                        json_string(r->fmt != RUNE_PG_FMT_RUNE ? "none"
                                    : r->content               ? "content"
                                                               : "counts"));
    json_object_set_new(o, "created", json_boolean(r->created));
    json_object_set_new(o, "seconds", json_real((rune_clock_mono_ms() - t0) / 1000.0));
}

static int restore_with(struct rune_pg_restore *r, long long t0)
{
    struct rune_call *c = r->c;
    char err[1024] = "", point[64];
    int st = verify(r);
    if (st != RUNE_STEP_OK)
        return st;
    if (choose(r, err, sizeof err) != 0 ||
        (r->fmt == RUNE_PG_FMT_RUNE && pick_tables(r, err, sizeof err)))
        return rune_call_fail(c, "%s", err);
    recovery_point(r, point, sizeof point);
    if (!strcmp(r->mode, "drop")) {
        if (!(r->admin = admin_connect(r, err, sizeof err)))
            return rune_pg_failed(c, err);
        int fail;
        if (db_exists(r, r->db, err, sizeof err, &fail) && (st = confirm_drop(r, point)))
            return st;
        if (fail)
            return rune_pg_failed(c, err);
        PQfinish(r->admin);
        r->admin = NULL;
    }
    if (prepare(r, err, sizeof err) != 0) {
        st = rune_pg_failed(c, err);
        goto out;
    }
    PGconn *any = r->admin ? r->admin : rune_pg_connect(c, r->load, err, sizeof err);
    if (!any) {
        st = rune_pg_failed(c, err);
        goto out;
    }
    r->env = rune_pg_env(any, r->load);
    if (any != r->admin)
        PQfinish(any);
    if (!r->env) {
        st = rune_call_fail(c,
                            "no memory for the environment of the restore tools (database %s): "
                            "free memory on this host and run the step again",
                            r->load);
        goto out;
    }
    rune_call_log(c, "restoring %s (%s) into database %s%s%s", r->from, format_names[r->fmt],
                  r->load, r->scratch ? ", to replace " : "", r->scratch ? r->db : "");
    if (r->fmt == RUNE_PG_FMT_RUNE)
        st = !strcmp(r->mode, "merge") ? rune_pg_load_merge(r) : rune_pg_load_all(r);
    else if (r->fmt == RUNE_PG_FMT_PLAIN)
        st = rune_pg_restore_plain(r);
    else
        st = rune_pg_restore_archive(r);
    if (st == RUNE_STEP_OK && r->fmt != RUNE_PG_FMT_RUNE)
        st = rune_pg_count_tables(r);
    if (st == RUNE_STEP_OK && r->scratch) {
        if (swap_in(r, err, sizeof err) != 0)
            st = rune_pg_failed(c, err);
    }
    if (st != RUNE_STEP_OK)
        goto out;
    r->created = r->created && !r->scratch; /* kept: it is the restore */
    set_outputs(r, point, t0);
    r->created = false; /* success: keep it */
out:
    if (r->created && r->admin) {
        rune_call_log(c, "dropping database %s, which this failed restore created", r->load);
        drop_db(r, r->load);
    }
    return st;
}

int rune_pg_restore_run(struct rune_call *c)
{
    long long t0 = rune_clock_mono_ms();
    long long jobs = rune_call_int(c, "jobs");
    if (jobs < 1 || jobs > RUNE_PG_JOBS_MAX)
        return rune_call_fail(c, "jobs is %lld; use 1 to %d", jobs, RUNE_PG_JOBS_MAX);
    struct rune_pg_restore r = {.c = c, .jobs = (int)jobs, .loaded = json_object()};
    char *from = rune_path_param(c, rune_call_str(c, "from"));
    if (!from) {
        json_decref(r.loaded);
        return rune_call_fail(c,
                              "no memory for the path of backup %s: free memory on this host and "
                              "run the step again; nothing was changed",
                              rune_call_str(c, "from"));
    }
    snprintf(r.from, sizeof r.from, "%s", from);
    free(from);
    char err[1024];
    int st;
    if (detect(&r, err, sizeof err) != 0)
        st = rune_call_fail(c, "%s; nothing was changed", err);
    else
        st = restore_with(&r, t0);
    if (r.admin)
        PQfinish(r.admin);
    rune_pg_env_free(r.env);
    json_decref(r.pick);
    json_decref(r.loaded);
    json_decref(r.manifest);
    return st;
}

int rune_pg_restore_plan(struct rune_call *c)
{
    const char *mode = rune_call_str(c, "mode"), *into = rune_call_str(c, "into");
    const char *db = into ? into : rune_call_str(c, "database");
    json_t *t = rune_call_target(c, "target");
    if (!db)
        db = json_string_value(json_object_get(t, "database"));
    if (!mode)
        mode = rune_call_str(c, "tables") || json_object_get(rune_call_params(c), "tables")
                   ? "merge"
               : into ? "create"
                      : "(none given)";
    rune_call_plan(c, "would verify %s, then restore it into database %s (mode %s, %lld jobs)%s",
                   rune_call_str(c, "from"), db ? db : "(PGDATABASE)", mode,
                   rune_call_int(c, "jobs"),
                   !strcmp(mode, "drop") ? ", replacing that database after confirmation" : "");
    return RUNE_STEP_OK;
}
