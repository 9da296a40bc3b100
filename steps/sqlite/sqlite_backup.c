/*
 * sqlite_backup.c — sqlite.backup, sqlite.restore and sqlite.compact:
 * online backups into the artifact format (artifact.h), restores that
 * are checked before they replace anything, and compaction that swaps in
 * a checked copy.
 *
 * A backup streams one snapshot of the database (sqlite_snapshot.c: most
 * often straight from the database file, under read transactions that fix
 * it) to the artifact's compression workers, while other connections in
 * the same snapshot count and hash its tables, several at once
 * (sqlite_describe.c); the manifest gets what they found.
 *
 * Files. The copy a restore decompresses, the copy a compaction writes and
 * the snapshot a backup copies when the database file alone does not hold
 * it are made in a private scratch directory (scratch.h: mode 0700, an
 * unpredictable name) beside their target: SQLite opens them by name, and
 * in there no other user can plant, replace or read anything. A restore or
 * compaction then replaces the live database with one rename() (swap_in),
 * so a crash at any point leaves a database under the live name. A crash
 * leaves the scratch directory behind; the next of these steps in the same
 * directory removes it (reap).
 */
#include "sqlite.h"
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "crash.h"
#include "names.h"
#include "safefile.h"
#include "scratch.h"

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

/* "/dir/app.db" → "app" */
static void stem(const char *path, char *out, size_t len)
{
    const char *b = strrchr(path, '/');
    snprintf(out, len, "%s", b ? b + 1 : path);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
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

/* The stream's stop: a table already failed, the backup with it. */
static bool describing_failed(void *d)
{
    return rune_sqlite_describe_failed(d);
}

/* A backup's progress: the snapshot's bytes written out into the backup
 * (the artifact writer's count: the workers hold up to 2 chunks each, so
 * what was handed over is ahead of it), of the snapshot's bytes. */
struct backing_up {
    struct rune_call *c;
    long long total;
};

static void backup_progress(void *ctx, unsigned long long done, unsigned long long given)
{
    struct backing_up *b = ctx;
    long long d = (long long)done;
    (void)given;
    rune_call_progress(b->c, d, b->total < 0 ? -1 : d > b->total ? d : b->total, RUNE_UNIT_BYTES);
}

/* Writes a backup of db into the artifact `dest`; sets the usual outputs.
 * Returns a rune_status. The snapshot's pages go to the artifact's
 * workers as they are read while the other connections of the snapshot
 * describe it; the backup is committed only when both are complete, and a
 * failure of either aborts it (nothing under the final names). */
static int write_backup(struct rune_call *c, const char *db, const char *dest, json_t *o)
{
    char why[1024] = "", dwhy[1024] = "", dir[PATH_MAX];
    struct stat st, src;
    if (lstat(dest, &st) == 0)
        return rune_call_fail(c, "backup %s already exists; choose another name or remove it",
                              dest);
    /* the file that is there, opened without following a link another
     * user could have planted: its owner and mode are what the backup's
     * scratch files inherit, and the snapshot must be of it */
    int sfd = rune_open_identity(db, &src, why, sizeof why);
    if (sfd < 0)
        return rune_call_fail(c, "%s; nothing to back up", why);
    close(sfd);
    /* a scratch directory beside the backup, made whichever way the
     * snapshot is read, so that a directory that could not hold a copy is
     * refused every time, not only when the WAL holds something */
    char *scr = NULL;
    rune_sqlite_dir_part(dest, dir, sizeof dir);
    reap(c, dir);
    if (rune_scratch_make(&scr, dir, src.st_uid, why, sizeof why) != 0)
        return rune_call_fail(c, "%s; no backup was written", why);
    struct rune_sqlite_snapshot snap;
    int readers = rune_sqlite_readers((int)rune_call_int(c, "threads"));
    int sn = rune_sqlite_snapshot_take(c, db, &src, scr, readers, &snap, why, sizeof why);
    if (sn != 0) {
        rune_sqlite_snapshot_release(&snap);
        rune_scratch_remove(scr);
        return sn > 0 ? rune_sqlite_stopped(
                            c, "while taking the snapshot of %s; no backup was written", db)
                      : rune_call_fail(c, "%s; no backup was written", why);
    }
    rune_crash_point("sqlite.backup");
    struct backing_up prog = {c, rune_sqlite_snapshot_bytes(&snap)};
    struct rune_artifact_meta meta = {.engine = "sqlite",
                                      .source = db,
                                      .recovery_point = snap.point,
                                      .compression = rune_call_str(c, "compression"),
                                      .level = (int)rune_call_int(c, "level"),
                                      .threads = (int)rune_call_int(c, "threads"),
                                      .progress = backup_progress,
                                      .progress_ctx = &prog};
    struct rune_sqlite_describe *d;
    struct rune_artifact_writer *w = NULL;
    json_t *desc = NULL;
    int status = RUNE_STEP_OK;
    if (rune_artifact_open(&w, dest, &meta, why, sizeof why) != 0) {
        status = rune_call_fail(c, "%s", why);
        goto out;
    }
    if (rune_sqlite_describe_start(&d, c, snap.db + 1, snap.n - 1, true, db, dwhy, sizeof dwhy) !=
        0) {
        status = rune_call_fail(c, "the snapshot is unreadable: %s; no backup was written", dwhy);
        goto out;
    }
    /* one phase to the end: the rows are counted and hashed meanwhile, and
     * the last chunks are written out as the backup is committed */
    rune_call_progress_phase(c, "backing up");
    rune_call_progress(c, 0, prog.total, RUNE_UNIT_BYTES);
    int rc = rune_sqlite_snapshot_stream(c, &snap, w, describing_failed, d, why, sizeof why);
    if (rc != 0) /* the backup is lost: the tables need not be read to the end */
        rune_sqlite_describe_stop(d);
    desc = rune_sqlite_describe_finish(d, dwhy, sizeof dwhy);
    if (rc == 0 && desc && rune_sqlite_snapshot_unchanged(&snap, why, sizeof why) != 0)
        rc = -1;
    if (rc != 0 || !desc) {
        if (rune_call_cancelled(c))
            status = rune_sqlite_stopped(
                c, "while reading the snapshot of %s; the partial backup was removed", db);
        else if (rc < 0)
            status = rune_call_fail(c, "%s; the partial backup was removed", why);
        else
            status =
                rune_call_fail(c, "the snapshot is unreadable: %s; no backup was written", dwhy);
        goto out;
    }
    /* every page and row is read: writers a rollback-journal database
     * kept waiting go on while the backup is made durable */
    rune_sqlite_snapshot_release(&snap);
    json_t *manifest = rune_artifact_commit(w, desc, why, sizeof why);
    w = NULL;
    if (!manifest) {
        status = rune_call_fail(c, "%s; the partial backup was removed", why);
        goto out;
    }
    long long raw = (long long)json_integer_value(json_object_get(manifest, "raw_bytes"));
    rune_call_progress(c, raw, raw, RUNE_UNIT_BYTES); /* all of it, exactly */
    char *mpath = rune_artifact_manifest_path(dest);
    report_artifact(c, o, dest, json_string_value(json_object_get(manifest, "sha256")),
                    (long long)json_integer_value(json_object_get(manifest, "bytes")));
    json_object_set_new(o, "manifest", json_string(mpath));
    json_object_set(o, "raw_bytes", json_object_get(manifest, "raw_bytes"));
    json_object_set(o, "tables", json_object_get(desc, "tables"));
    report_recovery_point(c, o, json_string_value(json_object_get(manifest, "recovery_point")));
    json_object_set_new(o, "read_with", json_string(rune_artifact_read_with(manifest)));
    rune_call_log(c, "backed up %s to %s; without rune: %s %s", db, dest,
                  rune_artifact_read_with(manifest), dest);
    free(mpath);
    json_decref(manifest);
out:
    rune_artifact_abort(w);
    json_decref(desc);
    rune_sqlite_snapshot_release(&snap);
    rune_scratch_remove(scr);
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
    rune_call_plan(c, "would back up %s (one snapshot, %s, manifest with row counts) into %s",
                   rune_call_str(c, "path"), comp ? comp : "gzip",
                   rune_call_str(c, "to") ? rune_call_str(c, "to") : rune_call_str(c, "dir"));
    return RUNE_STEP_OK;
}

/* Row counts and schema fingerprint of the restored copy at `path` (a
 * private file nobody else writes, so several connections read the same
 * thing), tables counted in parallel. NULL with why. */
static json_t *count_copy(struct rune_call *c, const char *path, char *why, size_t whylen)
{
    sqlite3 *dbs[RUNE_SQLITE_READERS_MAX];
    int n = 0, want = rune_sqlite_readers(0);
    json_t *desc = NULL;
    for (; n < want; n++) {
        dbs[n] = NULL;
        if (sqlite3_open_v2(path, &dbs[n], SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
                SQLITE_OK ||
            sqlite3_exec(dbs[n], "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) !=
                SQLITE_OK) {
            snprintf(why, whylen, "cannot open %s: %s", path,
                     dbs[n] ? sqlite3_errmsg(dbs[n]) : "no memory for a connection");
            n++;
            goto out;
        }
    }
    struct rune_sqlite_describe *d;
    if (rune_sqlite_describe_start(&d, c, dbs, n, false, path, why, whylen) == 0)
        desc = rune_sqlite_describe_finish(d, why, whylen);
out:
    for (int i = 0; i < n; i++) {
        sqlite3_exec(dbs[i], "COMMIT", NULL, NULL, NULL);
        sqlite3_close(dbs[i]);
    }
    return desc;
}

/* Bytes of the restored copy written before the kernel is asked to start
 * writing them out: the fsync before the swap then waits for the last
 * ones only, instead of the whole database. */
#define WRITEBACK_STEP ((off_t)32 << 20)

int rune_sqlite_restore_run(struct rune_call *c)
{
    char from[PATH_MAX], db[PATH_MAX], dir[PATH_MAX], why[1024] = "";
    char *buf = NULL, *scr = NULL, *tmp = NULL;
    rune_sqlite_resolve(c, rune_call_str(c, "from"), from, sizeof from);
    rune_sqlite_resolve(c, rune_call_str(c, "path"), db, sizeof db);
    json_t *o = rune_call_outputs(c);
    /* 1. the backup's manifest and size; every chunk's SHA-256, the codec's own
     * checks and the whole file's SHA-256 as step 2 decompresses it into a
     * copy that replaces nothing unless all of it came out whole */
    struct rune_artifact_reader *r = NULL;
    rune_call_log(c, "restoring %s, every chunk checked as it is read", from);
    if (rune_artifact_reader_open(&r, from, why, sizeof why) != 0)
        return rune_call_fail(c,
                              "refusing to restore from %s: %s; nothing was changed — pick "
                              "another backup (backup.list)",
                              from, why);
    json_t *manifest = json_incref(rune_artifact_reader_manifest(r));
    int fd = -1;
    int status = RUNE_STEP_OK;
    const char *engine = json_string_value(json_object_get(manifest, "engine"));
    if (!engine || strcmp(engine, "sqlite")) {
        status =
            rune_call_fail(c, "%s is a %s backup, not a SQLite one", from, engine ? engine : "?");
        goto out;
    }
    struct stat cur;
    bool exists;
    status = rune_sqlite_live_file(c, db, &cur, &exists);
    if (status != RUNE_STEP_OK)
        goto out;
    /* 2. decompress into a scratch directory beside the target */
    rune_sqlite_dir_part(db, dir, sizeof dir);
    reap(c, dir);
    if (rune_scratch_make(&scr, dir, exists ? cur.st_uid : (uid_t)-1, why, sizeof why) != 0 ||
        (fd = rune_scratch_create(scr, "restore.db", 0600, &tmp, why, sizeof why)) < 0) {
        status = rune_call_fail(c, "%s; nothing was changed", why);
        goto out;
    }
    buf = malloc(1 << 20); /* per call: steps run in parallel */
    if (!buf) {
        status = rune_call_fail(c, "no memory for a read buffer (free memory on this host and "
                                   "run the step again); nothing was changed");
        goto out;
    }
    /* progress: the raw bytes restored, of the manifest's (what the size
     * hook measured), every MiB the reader hands over (checked whole) */
    long long raw = (long long)json_integer_value(json_object_get(manifest, "raw_bytes"));
    rune_call_progress_phase(c, "restoring");
    rune_call_progress(c, 0, raw, RUNE_UNIT_BYTES);
    ssize_t n;
    off_t written = 0, flushed = 0;
    while ((n = rune_artifact_read(r, buf, 1 << 20, why, sizeof why)) > 0) {
        if (rune_write_all(fd, buf, (size_t)n) != 0) {
            status = rune_call_fail(c, "writing %s: %s; nothing was changed", tmp, strerror(errno));
            goto out;
        }
        written += n;
        rune_call_progress(c, (long long)written, raw > written ? raw : (long long)written,
                           RUNE_UNIT_BYTES);
        if (written - flushed >= WRITEBACK_STEP) {
            sync_file_range(fd, flushed, written - flushed, SYNC_FILE_RANGE_WRITE);
            flushed = written;
        }
        if (rune_call_cancelled(c)) {
            status = rune_sqlite_stopped(c, "while decompressing %s; nothing was changed", from);
            goto out;
        }
    }
    if (n < 0) {
        status = rune_call_cancelled(c)
                     ? rune_sqlite_stopped(c, "while decompressing %s; nothing was changed", from)
                     : rune_call_fail(c,
                                      "refusing to restore from %s: %s; nothing was changed — "
                                      "pick another backup (backup.list)",
                                      from, why);
        goto out;
    }
    close(fd);
    fd = -1;
    if (rune_sqlite_finish_copy(tmp, exists ? &cur : NULL, why, sizeof why) != 0) {
        status = rune_call_fail(c, "%s; nothing was changed", why);
        goto out;
    }
    /* 3. check the restored copy before it replaces anything: it opens,
     * and its tables and schema are the ones the manifest lists (its bytes
     * are the backup's already: every checksum passed) */
    rune_call_progress_phase(c, "counting");
    json_t *desc = count_copy(c, tmp, why, sizeof why);
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
                   "would restore %s into a copy (checking every chunk as it is read), check the "
                   "copy against the manifest, then replace %s (keeping the current file as a "
                   "safety copy)",
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

/* How far a VACUUM INTO is: SQLite's progress handler (every 1000
 * virtual-machine steps) stops it on the call's cancellation and, every
 * STAT_EVERY calls, looks at how much of the copy is written (VACUUM INTO
 * writes it as it goes, a cache's worth at a time), of what it will hold:
 * the pages in use (page_count - freelist_count). */
struct compacting {
    struct rune_call *c;
    const char *copy;
    long long total;
    unsigned calls;
};

#define STAT_EVERY 64

static int vacuum_progress(void *ctx)
{
    struct compacting *v = ctx;
    if (rune_call_cancelled(v->c))
        return 1;
    struct stat st;
    if (++v->calls % STAT_EVERY == 0 && stat(v->copy, &st) == 0)
        rune_call_progress(v->c, (long long)st.st_size,
                           v->total < 0            ? -1
                           : st.st_size > v->total ? (long long)st.st_size
                                                   : v->total,
                           RUNE_UNIT_BYTES);
    return 0;
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
    long long psize = rune_sqlite_pragma_int(h, "PRAGMA page_size");
    struct compacting prog = {c, tmp,
                              psize * (rune_sqlite_pragma_int(h, "PRAGMA page_count") -
                                       rune_sqlite_pragma_int(h, "PRAGMA freelist_count")),
                              0};
    if (psize <= 0 || prog.total <= 0)
        prog.total = -1; /* not known: the count alone */
    rune_call_progress_phase(c, "compacting");
    rune_call_progress(c, 0, prog.total, RUNE_UNIT_BYTES);
    sqlite3_progress_handler(h, 1000, vacuum_progress, &prog);
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
    struct stat copied;
    if (stat(tmp, &copied) == 0) /* all of it, exactly */
        rune_call_progress(c, (long long)copied.st_size, (long long)copied.st_size,
                           RUNE_UNIT_BYTES);
    /* 3. the compacted copy must pass integrity_check before it replaces
     * anything; on any failure the original stays where it is */
    rune_call_progress_phase(c, "checking");
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
