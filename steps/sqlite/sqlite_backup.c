/*
 * sqlite_backup.c — sqlite.backup, sqlite.restore and sqlite.compact:
 * online backups into the artifact format (artifact.h), restores that
 * are checked before they replace anything, and compaction that swaps in
 * a checked copy.
 *
 * Files. The snapshot a backup compresses, the copy a restore decompresses
 * and the copy a compaction writes are made in a private scratch directory
 * (scratch.h: mode 0700, an unpredictable name) beside their target: SQLite
 * opens them by name, and in there no other user can plant, replace or
 * read anything. A restore or compaction then replaces the live database
 * with one rename() (swap_in), so a crash at any point leaves a database
 * under the live name. A crash leaves the scratch directory behind; the
 * next of these steps in the same directory removes it (reap).
 */
#include "sqlite.h"
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "crash.h"
#include "digest.h"
#include "names.h"
#include "rowhash.h"
#include "safefile.h"
#include "scratch.h"

static bool cancelled_cb(void *c)
{
    return rune_call_cancelled(c);
}

/* Removes the scratch directories runs that died left in dir, saying so. */
static void reap(struct rune_call *c, const char *dir)
{
    char first[256];
    int n = rune_scratch_reap(dir, first, sizeof first);
    if (n > 0)
        rune_call_log(c,
                      "removed %d scratch director%s left in %s by a run that did not finish "
                      "(%s%s)",
                      n, n == 1 ? "y" : "ies", dir, first, n > 1 ? ", ..." : "");
}

/* Makes a scratch directory in `dir` and an empty file `name` in it (mode
 * 0600: no wider than any database it will hold a copy of). `owner` owns
 * the data it will hold (scratch.h). */
static int scratch_file(const char *dir, uid_t owner, const char *name, char **scr, char **file,
                        char *why, size_t whylen)
{
    *scr = *file = NULL;
    if (rune_scratch_make(scr, dir, owner, why, whylen) != 0)
        return -1;
    int fd = rune_scratch_create(*scr, name, 0600, file, why, whylen);
    if (fd < 0) {
        rune_scratch_remove(*scr);
        *scr = NULL;
        return -1;
    }
    close(fd);
    return 0;
}

/* Copies the live database into dst (an empty file in a scratch directory)
 * with the online backup API. The source holds one read transaction for
 * the whole copy, so every page comes from the same moment: the copy is
 * consistent while writers go on (in WAL mode they are not blocked) and
 * never restarts. It goes 1024 pages at a time, so a timeout or Ctrl-C
 * stops it. Returns 0, 1 when cancelled, or -1 with a reason. */
static int snapshot(struct rune_call *c, const char *src, const struct stat *want, const char *dst,
                    int busy_ms, char *why, size_t whylen)
{
    sqlite3 *from = NULL, *to = NULL;
    sqlite3_backup *b = NULL;
    int result = -1;
    struct stat got;
    if (rune_sqlite_open_file(src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, &got, &from, why,
                              whylen) != 0)
        goto out;
    if (got.st_dev != want->st_dev || got.st_ino != want->st_ino) {
        snprintf(why, whylen,
                 "%s was replaced by another file while it was being opened "
                 "(another user can change its directory)",
                 src);
        goto out;
    }
    sqlite3_busy_timeout(from, busy_ms);
    if (sqlite3_exec(from, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) !=
        SQLITE_OK) {
        snprintf(why, whylen, "cannot read %s: %s", src, sqlite3_errmsg(from));
        goto out;
    }
    /* dst exists (made private and empty): never SQLITE_OPEN_CREATE */
    if (sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(why, whylen, "cannot open the snapshot %s: %s", dst, sqlite3_errmsg(to));
        goto out;
    }
    b = sqlite3_backup_init(to, "main", from, "main");
    if (!b) {
        snprintf(why, whylen, "cannot start the backup: %s", sqlite3_errmsg(to));
        goto out;
    }
    int rc;
    while ((rc = sqlite3_backup_step(b, 1024)) == SQLITE_OK) {
        if (rune_call_cancelled(c)) {
            result = 1;
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        snprintf(why, whylen, "backup of %s failed: %s", src, sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_backup_finish(b);
    b = NULL;
    /* a plain rollback-journal file: one self-contained database */
    sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    result = 0;
out:
    sqlite3_backup_finish(b);
    if (from)
        sqlite3_exec(from, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(from);
    sqlite3_close(to);
    return result;
}

/* Row counts, per-table content hashes and a schema fingerprint of a
 * database file (the snapshot, or a restored copy), all in one read. A
 * table that cannot be read is an error, never a count of 0. Stops on the
 * call's cancellation (the caller checks rune_call_cancelled). */
static json_t *describe_db(struct rune_call *c, const char *path, char *why, size_t whylen)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(why, whylen, "cannot open %s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    rune_sqlite_watch(db, c);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    json_t *names = rune_sqlite_table_names(db, why, whylen);
    json_t *tables = json_object(), *hashes = json_object();
    bool ok = names != NULL;
    for (size_t i = 0; ok && i < json_array_size(names); i++) {
        const char *t = json_string_value(json_array_get(names, i));
        char *sql = rune_sqlite_sql_for("SELECT * FROM \"%w\"", t);
        sqlite3_stmt *st = NULL;
        if (!sql || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
            snprintf(
                why, whylen, "cannot read table %s of %s: %s", t, path,
                sql ? sqlite3_errmsg(db)
                    : "no memory for the query (free memory on this host and run the step again)");
            sqlite3_free(sql);
            ok = false;
            break;
        }
        sqlite3_free(sql);
        struct rune_rowhash d;
        rune_rowhash_init(&d);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            rune_sqlite_hash_row(st, &d);
        sqlite3_finalize(st);
        char hex[65];
        rune_rowhash_hex(&d, hex);
        rune_rowhash_free(&d);
        if (rc != SQLITE_DONE) {
            snprintf(why, whylen, "reading table %s of %s failed: %s", t, path, sqlite3_errmsg(db));
            ok = false;
            break;
        }
        json_object_set_new(tables, t, json_integer(d.rows));
        json_object_set_new(hashes, t, json_string(hex));
    }
    /* the schema: every CREATE statement, in name order */
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_DigestInit_ex(m, EVP_sha256(), NULL);
    sqlite3_stmt *st;
    if (ok && sqlite3_prepare_v2(db,
                                 "SELECT type, name, coalesce(sql,'') FROM sqlite_schema "
                                 "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                                 "ORDER BY type, name",
                                 -1, &st, NULL) == SQLITE_OK) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            for (int k = 0; k < 3; k++) {
                const char *v = (const char *)sqlite3_column_text(st, k);
                EVP_DigestUpdate(m, v, strlen(v) + 1);
            }
        if (rc != SQLITE_DONE) {
            snprintf(why, whylen, "cannot read the schema of %s: %s", path, sqlite3_errmsg(db));
            ok = false;
        }
        sqlite3_finalize(st);
    }
    char schema[RUNE_SHA256_HEX];
    rune_digest_hex(m, schema);
    EVP_MD_CTX_free(m);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    json_decref(names);
    if (!ok) {
        json_decref(tables);
        json_decref(hashes);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:s}", "tables", tables, "table_hashes", hashes,
                     "schema_fingerprint", schema);
}

/* "/dir/app.db" → "app" */
static void stem(const char *path, char *out, size_t len)
{
    const char *b = strrchr(path, '/');
    snprintf(out, len, "%s", b ? b + 1 : path);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

/* describe_db of the snapshot in a thread of its own, so that it runs
 * while the artifact's workers compress the same file (both only read it). */
struct describe_job {
    struct rune_call *c;
    const char *path;
    json_t *desc; /* owned by whoever joined the thread */
    char why[1024];
};

static void *describe_thread(void *arg)
{
    struct describe_job *j = arg;
    j->desc = describe_db(j->c, j->path, j->why, sizeof j->why);
    return NULL;
}

/* The backup a step wrote, as the outputs path, sha256 and bytes, which
 * the engine records as the run's artifact: the family's one place that
 * reports a file it made. o is the call's outputs, or (for the backup
 * sqlite.compact takes first) an object of its own whose file is not the
 * step's artifact. */
static void report_artifact(struct rune_call *c, json_t *o, const char *path, const char *sha256,
                            long long bytes)
{
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "sha256", json_string(sha256));
    json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
    if (o == rune_call_outputs(c)) /* compact's backup-first is not what the step made */
        rune_call_artifact(c, path, sha256, bytes);
}

/* The moment the data a backup holds (or a restore brought back) is
 * consistent as of, as the output recovery_point, which the report takes
 * the RPO from: the family's one place that reports a recovery point.
 * NULL: none known. */
static void report_recovery_point(struct rune_call *c, json_t *o, const char *iso)
{
    if (!iso)
        return;
    json_object_set_new(o, "recovery_point", json_string(iso));
    if (o == rune_call_outputs(c))
        rune_call_recovery_point(c, iso);
}

/* Writes a backup of db into the artifact `dest`; sets the usual outputs.
 * Returns a rune_status. The snapshot is a file in a scratch directory
 * beside dest; it is described (row counts, content hashes) while it is
 * compressed, and removed on every path out. */
static int write_backup(struct rune_call *c, const char *db, const char *dest, json_t *o)
{
    char *buf = NULL, *scr = NULL, *snap = NULL;
    char why[1024] = "", dir[PATH_MAX];
    struct stat st, src;
    if (lstat(dest, &st) == 0)
        return rune_call_fail(c, "backup %s already exists; choose another name or remove it",
                              dest);
    /* the file that is there, opened without following a link another
     * user could have planted: its owner and mode are what the backup's
     * scratch files inherit */
    int sfd = rune_open_input(db, &src, why, sizeof why);
    if (sfd < 0)
        return rune_call_fail(c, "%s; nothing to back up", why);
    close(sfd);
    rune_sqlite_dir_part(dest, dir, sizeof dir);
    reap(c, dir);
    if (scratch_file(dir, src.st_uid, "snapshot.db", &scr, &snap, why, sizeof why) != 0)
        return rune_call_fail(c, "%s; no backup was written", why);
    long long busy = rune_call_int(c, "busy_timeout");
    long long t0 = rune_clock_wall_ms();
    char point[RUNE_ISO_LEN];
    rune_clock_iso(point, t0);
    int sn = snapshot(c, db, &src, snap, busy > 0 ? (int)busy : 5000, why, sizeof why);
    if (sn != 0) {
        rune_scratch_remove(scr);
        free(snap);
        return sn > 0 ? rune_sqlite_stopped(
                            c, "while taking the snapshot of %s; no backup was written", db)
                      : rune_call_fail(c, "%s; no backup was written", why);
    }
    rune_crash_point("sqlite.backup");
    struct describe_job dj = {.c = c, .path = snap};
    pthread_t dt;
    bool describing = pthread_create(&dt, NULL, describe_thread, &dj) == 0;
    if (!describing)
        describe_thread(&dj); /* no thread to spare: one after the other */
    struct rune_artifact_meta meta = {.engine = "sqlite",
                                      .source = db,
                                      .recovery_point = point,
                                      .compression = rune_call_str(c, "compression"),
                                      .level = (int)rune_call_int(c, "level"),
                                      .threads = (int)rune_call_int(c, "threads")};
    struct rune_artifact_writer *w = NULL;
    int fd = -1;
    int status = RUNE_STEP_OK;
    if (rune_artifact_open(&w, dest, &meta, why, sizeof why) != 0) {
        status = rune_call_fail(c, "%s", why);
        goto out;
    }
    fd = open(snap, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    buf = malloc(1 << 20); /* per call: steps run in parallel */
    if (!buf)
        abort();
    ssize_t n;
    while (fd >= 0 && (n = rune_read_full(fd, buf, 1 << 20)) > 0) {
        if (rune_call_cancelled(c)) {
            rune_artifact_abort(w);
            w = NULL;
            status =
                rune_sqlite_stopped(c,
                                    "while compressing the snapshot of %s; the partial backup was "
                                    "removed",
                                    db);
            goto out;
        }
        if (rune_artifact_write(w, buf, (size_t)n, why, sizeof why) != 0) {
            rune_artifact_abort(w);
            w = NULL;
            status = rune_call_fail(c, "%s", why);
            goto out;
        }
    }
    if (fd < 0 || n < 0) {
        rune_artifact_abort(w);
        w = NULL;
        status = rune_call_fail(c, "cannot read the snapshot %s: %s", snap, strerror(errno));
        goto out;
    }
    if (describing)
        pthread_join(dt, NULL);
    describing = false;
    if (!dj.desc) {
        rune_artifact_abort(w);
        w = NULL;
        status = rune_call_cancelled(c)
                     ? rune_sqlite_stopped(
                           c,
                           "while counting the rows of the snapshot of %s; no backup was "
                           "written",
                           db)
                     : rune_call_fail(c, "the snapshot is unreadable: %s", dj.why);
        goto out;
    }
    json_t *manifest = rune_artifact_commit(w, dj.desc, why, sizeof why);
    w = NULL;
    if (!manifest) {
        status = rune_call_fail(c, "%s", why);
        goto out;
    }
    char *mpath = rune_artifact_manifest_path(dest);
    report_artifact(c, o, dest, json_string_value(json_object_get(manifest, "sha256")),
                    (long long)json_integer_value(json_object_get(manifest, "bytes")));
    json_object_set_new(o, "manifest", json_string(mpath));
    json_object_set(o, "raw_bytes", json_object_get(manifest, "raw_bytes"));
    json_object_set(o, "tables", json_object_get(dj.desc, "tables"));
    report_recovery_point(c, o, point);
    json_object_set_new(o, "read_with", json_string(rune_artifact_read_with(manifest)));
    rune_call_log(c, "backed up %s to %s; without rune: %s %s", db, dest,
                  rune_artifact_read_with(manifest), dest);
    free(mpath);
    json_decref(manifest);
out:
    if (describing)
        pthread_join(dt, NULL);
    free(buf);
    if (fd >= 0)
        close(fd);
    json_decref(dj.desc);
    rune_scratch_remove(scr);
    free(snap);
    return status;
}

int rune_sqlite_backup_run(struct rune_call *c)
{
    char db[PATH_MAX], dest[PATH_MAX];
    rune_sqlite_resolve(c, rune_call_str(c, "path"), db, sizeof db);
    struct stat st;
    if (stat(db, &st) != 0)
        return rune_call_fail(c, "%s does not exist; nothing to back up", db);
    const char *to = rune_call_str(c, "to");
    if (to) {
        rune_sqlite_resolve(c, to, dest, sizeof dest);
    } else {
        char dir[PATH_MAX], name[256], why[512];
        rune_sqlite_resolve(c, rune_call_str(c, "dir"), dir, sizeof dir);
        stem(db, name, sizeof name);
        char ext[16];
        snprintf(ext, sizeof ext, ".db%s", rune_artifact_suffix(rune_call_str(c, "compression")));
        if (rune_fresh_name(dest, sizeof dest, dir, name, "-", ext, why, sizeof why) != 0)
            return rune_call_fail(c, "%s", why);
    }
    return write_backup(c, db, dest, rune_call_outputs(c));
}

int rune_sqlite_backup_plan(struct rune_call *c)
{
    const char *comp = rune_call_str(c, "compression");
    rune_call_plan(c, "would back up %s (online backup API, %s, manifest) into %s",
                   rune_call_str(c, "path"), comp ? comp : "gzip",
                   rune_call_str(c, "to") ? rune_call_str(c, "to") : rune_call_str(c, "dir"));
    return RUNE_STEP_OK;
}

int rune_sqlite_restore_run(struct rune_call *c)
{
    char from[PATH_MAX], db[PATH_MAX], dir[PATH_MAX], why[1024] = "";
    char *buf = NULL, *scr = NULL, *tmp = NULL;
    rune_sqlite_resolve(c, rune_call_str(c, "from"), from, sizeof from);
    rune_sqlite_resolve(c, rune_call_str(c, "path"), db, sizeof db);
    json_t *o = rune_call_outputs(c);
    /* 1. the backup must verify before anything is touched: its manifest
     * and every checksum here; gzip's own checks as step 2 decompresses it
     * (once: that copy is put in place only if all of it came out whole) */
    struct rune_artifact_check chk;
    rune_call_log(c, "verifying %s", from);
    int v =
        rune_artifact_verify_sums(from, &(struct rune_artifact_watch){cancelled_cb, NULL, c}, &chk);
    if (v != 0) {
        int st = chk.cancelled
                     ? rune_sqlite_stopped(c, "while verifying %s; nothing was changed", from)
                     : rune_call_fail(c,
                                      "refusing to restore from %s: %s; nothing was "
                                      "changed — pick another backup (backup.list)",
                                      from, chk.reason);
        rune_artifact_check_release(&chk);
        return st;
    }
    json_t *manifest = json_incref(chk.manifest);
    rune_artifact_check_release(&chk);
    const char *engine = json_string_value(json_object_get(manifest, "engine"));
    if (!engine || strcmp(engine, "sqlite")) {
        json_decref(manifest);
        return rune_call_fail(c, "%s is a %s backup, not a SQLite one", from,
                              engine ? engine : "?");
    }
    struct stat cur;
    bool exists;
    int status = rune_sqlite_live_file(c, db, &cur, &exists);
    if (status != RUNE_STEP_OK) {
        json_decref(manifest);
        return status;
    }
    /* 2. decompress into a scratch directory beside the target */
    struct rune_artifact_reader *r = NULL;
    int fd = -1;
    rune_sqlite_dir_part(db, dir, sizeof dir);
    reap(c, dir);
    if (rune_scratch_make(&scr, dir, exists ? cur.st_uid : (uid_t)-1, why, sizeof why) != 0 ||
        (fd = rune_scratch_create(scr, "restore.db", 0600, &tmp, why, sizeof why)) < 0) {
        status = rune_call_fail(c, "%s; nothing was changed", why);
        goto out;
    }
    if (rune_artifact_reader_open(&r, from, why, sizeof why) != 0) {
        status = rune_call_fail(c, "%s", why);
        goto out;
    }
    buf = malloc(1 << 20); /* per call: steps run in parallel */
    if (!buf)
        abort();
    ssize_t n;
    while ((n = rune_artifact_read(r, buf, 1 << 20, why, sizeof why)) > 0) {
        if (rune_write_all(fd, buf, (size_t)n) != 0) {
            status = rune_call_fail(c, "writing %s: %s; nothing was changed", tmp, strerror(errno));
            goto out;
        }
        if (rune_call_cancelled(c)) {
            status = rune_sqlite_stopped(c, "while decompressing %s; nothing was changed", from);
            goto out;
        }
    }
    if (n < 0) {
        status = rune_call_fail(c,
                                "refusing to restore from %s: %s; nothing was changed — pick "
                                "another backup (backup.list)",
                                from, why);
        goto out;
    }
    close(fd);
    fd = -1;
    if (rune_sqlite_finish_copy(tmp, exists ? &cur : NULL, why, sizeof why) != 0) {
        status = rune_call_fail(c, "%s; nothing was changed", why);
        goto out;
    }
    /* 3. check the restored copy before it replaces anything */
    json_t *desc = describe_db(c, tmp, why, sizeof why);
    if (!desc) {
        status = rune_call_cancelled(c)
                     ? rune_sqlite_stopped(
                           c, "while checking the restored copy of %s; nothing was changed", from)
                     : rune_call_fail(c, "the restored copy does not open: %s", why);
        goto out;
    }
    bool same = json_equal(json_object_get(desc, "tables"), json_object_get(manifest, "tables")) &&
                json_equal(json_object_get(desc, "schema_fingerprint"),
                           json_object_get(manifest, "schema_fingerprint"));
    json_object_set(o, "tables", json_object_get(desc, "tables"));
    json_decref(desc);
    if (!same) {
        status = rune_call_fail(c, "the restored copy differs from the backup's manifest (row "
                                   "counts or schema); the database was not replaced");
        goto out;
    }
    /* 4. swap: the current database (if any) becomes the safety copy */
    char safety[PATH_MAX + 64];
    int sw = rune_sqlite_swap_in(c, db, exists, tmp, true, safety, sizeof safety, why, sizeof why);
    if (sw != 0) {
        status = rune_sqlite_swap_failed(c, why, sw, "restore again; nothing was changed");
        goto out;
    }
    json_object_set_new(o, "safety_copy", safety[0] ? json_string(safety) : json_null());
    json_object_set_new(o, "path", json_string(db));
    report_recovery_point(c, o, json_string_value(json_object_get(manifest, "recovery_point")));
    json_object_set_new(o, "backup", json_string(from));
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    rune_scratch_remove(scr);
    free(tmp);
    rune_artifact_reader_close(r);
    json_decref(manifest);
    return status;
}

int rune_sqlite_restore_plan(struct rune_call *c)
{
    rune_call_plan(c,
                   "would verify %s, restore it into a copy, check it against the manifest, "
                   "then replace %s (keeping the current file as a safety copy)",
                   rune_call_str(c, "from"), rune_call_str(c, "path"));
    return RUNE_STEP_OK;
}

/* Is the database at `path` intact? PRAGMA integrity_check under the
 * call's cancellation. */
static bool passes_integrity(struct rune_call *c, const char *path)
{
    sqlite3 *chk = NULL;
    sqlite3_stmt *s;
    bool ok = false;
    if (sqlite3_open_v2(path, &chk, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) ==
        SQLITE_OK) {
        rune_sqlite_watch(chk, c);
        if (sqlite3_prepare_v2(chk, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK) {
            ok = sqlite3_step(s) == SQLITE_ROW &&
                 !strcmp((const char *)sqlite3_column_text(s, 0), "ok");
            sqlite3_finalize(s);
        }
    }
    sqlite3_close(chk);
    return ok;
}

int rune_sqlite_compact_run(struct rune_call *c)
{
    char db[PATH_MAX], dir[PATH_MAX], why[1024];
    rune_sqlite_resolve(c, rune_call_str(c, "path"), db, sizeof db);
    json_t *o = rune_call_outputs(c);
    struct stat st;
    bool exists;
    int status = rune_sqlite_live_file(c, db, &st, &exists);
    if (status != RUNE_STEP_OK)
        return status;
    if (!exists)
        return rune_call_fail(c, "%s does not exist", db);
    long long before = st.st_size;
    rune_sqlite_dir_part(db, dir, sizeof dir);
    /* 1. a backup first (the seed: "ALWAYS use -BackupFirst") */
    if (rune_call_bool(c, "backup")) {
        char bdir[PATH_MAX], dest[PATH_MAX], name[256];
        const char *bd = rune_call_str(c, "backup_dir");
        if (bd)
            rune_sqlite_resolve(c, bd, bdir, sizeof bdir);
        else
            snprintf(bdir, sizeof bdir, "%s", dir);
        stem(db, name, sizeof name);
        if (rune_fresh_name(dest, sizeof dest, bdir, name, "-before-compact-", ".db.gz", why,
                            sizeof why) != 0)
            return rune_call_fail(c, "%s", why);
        json_t *bo = json_object();
        int bst = write_backup(c, db, dest, bo);
        json_decref(bo);
        if (bst != RUNE_STEP_OK)
            return bst; /* the database was not touched */
        json_object_set_new(o, "backup", json_string(dest));
    } else {
        json_object_set_new(o, "backup", json_null());
    }
    /* 2. VACUUM INTO a private empty file: the original is untouched until
     * the swap (VACUUM INTO writes into an empty file, never a full one) */
    char *scr = NULL, *tmp = NULL;
    reap(c, dir);
    if (scratch_file(dir, st.st_uid, "compact.db", &scr, &tmp, why, sizeof why) != 0)
        return rune_call_fail(c, "%s; %s is unchanged", why, db);
    struct stat opened;
    sqlite3 *h = rune_sqlite_open_id(c, db, false, &opened, why, sizeof why);
    if (!h) {
        status = rune_call_fail(c, "%s; it is unchanged", why);
        goto out;
    }
    /* the database compacted is the one checked (and whose owner and mode
     * the copy takes), not a file swapped in since */
    if (opened.st_dev != st.st_dev || opened.st_ino != st.st_ino) {
        sqlite3_close(h);
        status = rune_call_fail(c,
                                "%s was replaced by another file since it was checked "
                                "(another user can change its directory); nothing was "
                                "changed",
                                db);
        goto out;
    }
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(h, "VACUUM INTO ?", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(s, 1, tmp, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(s);
        sqlite3_finalize(s);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
        status =
            rune_call_cancelled(c)
                ? rune_sqlite_stopped(c, "while compacting %s (VACUUM INTO); it is unchanged", db)
                : rune_call_fail(c, "VACUUM INTO failed: %s; %s is unchanged", sqlite3_errmsg(h),
                                 db);
        sqlite3_close(h);
        goto out;
    }
    sqlite3_close(h);
    /* 3. the compacted copy must pass integrity_check before it replaces
     * anything; on any failure the original stays where it is */
    if (!passes_integrity(c, tmp)) {
        status = rune_call_cancelled(c)
                     ? rune_sqlite_stopped(
                           c, "while checking the compacted copy of %s; it is unchanged", db)
                     : rune_call_fail(c,
                                      "the compacted copy failed its integrity check; %s is "
                                      "unchanged (restore from the backup if it is damaged)",
                                      db);
        goto out;
    }
    if (rune_sqlite_finish_copy(tmp, &st, why, sizeof why) != 0) {
        status = rune_call_fail(c, "%s; %s is unchanged", why, db);
        goto out;
    }
    char none[8];
    int sw = rune_sqlite_swap_in(c, db, true, tmp, false, none, sizeof none, why, sizeof why);
    if (sw != 0) {
        status = rune_sqlite_swap_failed(c, why, sw, "compact again; it is unchanged");
        goto out;
    }
    stat(db, &st);
    json_object_set_new(o, "bytes_before", json_integer(before));
    json_object_set_new(o, "bytes_after", json_integer(st.st_size));
    json_object_set_new(
        o, "reduction_percent",
        json_real(before ? 100.0 * (double)(before - st.st_size) / (double)before : 0));
out:
    rune_scratch_remove(scr);
    free(tmp);
    return status;
}

int rune_sqlite_compact_plan(struct rune_call *c)
{
    rune_call_plan(c, "would %scompact %s with VACUUM INTO and swap it in after an integrity check",
                   rune_call_bool(c, "backup") ? "back up, then " : "", rune_call_str(c, "path"));
    return RUNE_STEP_OK;
}
