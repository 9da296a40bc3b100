/*
 * sqlite_snapshot.c — one moment of a live database, for sqlite.backup:
 * a set of read-only connections that all read the same snapshot, and the
 * pages of that snapshot handed to the artifact writer while the other
 * connections count and hash its tables (sqlite_describe.c).
 *
 * Where the pages come from. A read transaction fixes what a connection
 * sees; the question is whether the database file itself holds exactly
 * that, for as long as the transaction lasts:
 *
 * - In rollback-journal mode it does. Every connection of the set holds a
 *   SHARED lock, and no writer can change the file (it needs an EXCLUSIVE
 *   lock) until the last one ends: writers wait, as they wait for any
 *   reader. The pages are read straight from the file, through the file
 *   SQLite opened (the one rune checked), while the tables are read.
 * - In WAL mode it does when the WAL is empty as every connection of the
 *   set sees it, once all of them began: then each reads the file alone,
 *   and the file cannot change under them, since a checkpoint copies into
 *   it only what every reader's snapshot already holds (it never passes a
 *   reader's mark, and a reader that ignores the WAL blocks it outright).
 *   Writers go on, into the WAL.
 * - Otherwise (WAL mode, with commits not yet checkpointed) the pages that
 *   differ are in the WAL, which only SQLite reads: SQLite's online backup
 *   API copies the snapshot into a private scratch file (scratch.h) first,
 *   holding the source for the copy alone, and that file, which nobody
 *   else can reach, is then read as above.
 *
 * Every connection of a set begins its transaction before any page is
 * read, and all of them end only once the backup has everything. The
 * first waits for a writer as SQLite does; the others then get in at once
 * (see begin_set). Should one not, the whole set is rolled back and tried
 * again, never left half begun, until busy_timeout.
 */
#include "sqlite.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifact.h"
#include "crash.h"
#include "scratch.h"

/* Bytes read from the file and handed to the writer at a time. */
#define STREAM_BLOCK ((size_t)1 << 20)

int rune_sqlite_readers(int requested)
{
    int most = RUNE_SQLITE_READERS_MAX - 1; /* one connection reads the pages */
    if (requested > 0)
        return requested < most ? requested : most;
    long n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n < 1)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n < most ? (int)n : most;
}

/* Opens n read-only connections to path. With `want`, a live database:
 * each is opened as rune_sqlite_open_file opens one and must be the file
 * `want` describes (the one checked before). Without it, a private copy.
 * rune_sqlite_open_file's own descriptor is an O_PATH one (closing one for
 * reading would drop every POSIX lock this process holds on the file,
 * SQLite's included: test_trust_locks); all are opened before any
 * transaction begins all the same. */
static int open_set(struct rune_sqlite_snapshot *s, const char *path, const struct stat *want,
                    int n, char *why, size_t whylen)
{
    for (s->n = 0; s->n < n; s->n++) {
        sqlite3 *db = NULL;
        if (want) {
            struct stat got;
            if (rune_sqlite_open_file(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, &got, &db,
                                      why, whylen) != 0)
                return -1;
            if (got.st_dev != want->st_dev || got.st_ino != want->st_ino) {
                sqlite3_close(db);
                snprintf(why, whylen,
                         "%s was replaced by another file while it was being opened "
                         "(another user can change its directory)",
                         path);
                return -1;
            }
        } else if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
                   SQLITE_OK) {
            snprintf(why, whylen, "cannot open the snapshot %s: %s", path,
                     db ? sqlite3_errmsg(db) : "no memory for a connection");
            sqlite3_close(db);
            return -1;
        }
        s->db[s->n] = db;
        /* pages through read(), never a mapping: a file truncated under a
         * mapping kills the process (SIGBUS) */
        sqlite3_exec(db, "PRAGMA mmap_size=0", NULL, NULL, NULL);
    }
    return 0;
}

/* Ends every transaction of the set and closes it. */
static void close_set(struct rune_sqlite_snapshot *s)
{
    for (int i = 0; i < s->n; i++)
        sqlite3_exec(s->db[i], "COMMIT", NULL, NULL, NULL);
    for (int i = 0; i < s->n; i++)
        sqlite3_close(s->db[i]);
    s->n = 0;
}

/* Begins a read transaction on every connection of the set, all or none
 * (see the top of the file), within busy_ms. The first waits for a writer
 * as SQLite waits (busy_timeout); the others normally get in at once:
 * locks are per process, and SQLite hands another connection of a process
 * that holds SHARED its own SHARED without asking the system again, so a
 * writer's PENDING lock does not keep them out. 0, 1 when cancelled, -1
 * with a reason. */
static int begin_set(struct rune_call *c, struct rune_sqlite_snapshot *s, const char *path,
                     int busy_ms, char *why, size_t whylen)
{
    long long deadline = rune_clock_wall_ms() + busy_ms;
    for (;;) {
        int i, rc = SQLITE_OK;
        for (i = 0; i < s->n; i++) {
            long long left = deadline - rune_clock_wall_ms();
            sqlite3_busy_timeout(s->db[i], i == 0 && left > 0 ? (int)left : 0);
            rc = sqlite3_exec(s->db[i], "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL,
                              NULL);
            if (rc != SQLITE_OK)
                break;
        }
        if (i == s->n)
            return 0;
        snprintf(why, whylen, "cannot read %s: %s", path, sqlite3_errmsg(s->db[i]));
        for (int j = 0; j <= i; j++)
            sqlite3_exec(s->db[j], "ROLLBACK", NULL, NULL, NULL);
        if (rune_call_cancelled(c))
            return 1;
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
            return -1;
        if (rune_clock_wall_ms() >= deadline) {
            snprintf(why, whylen,
                     "%s stayed locked by a writer for busy_timeout (%d ms): raise busy_timeout or "
                     "back up when it is quieter",
                     path, busy_ms);
            return -1;
        }
        if (rune_call_sleep(c, 10) != RUNE_STEP_OK)
            return 1;
    }
}

/* "wal", "delete", ... of db, into mode. */
static void journal_mode(sqlite3 *db, char *mode, size_t len)
{
    sqlite3_stmt *st;
    snprintf(mode, len, "?");
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) != SQLITE_OK)
        return;
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(mode, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* Whether the database file alone is the set's snapshot (see the top of
 * the file): not in WAL mode, or every connection's WAL is empty. The WAL
 * asked is the one SQLite has open for that connection. */
static bool file_is_snapshot(struct rune_sqlite_snapshot *s, bool *wal)
{
    char mode[16];
    journal_mode(s->db[0], mode, sizeof mode);
    *wal = !strcmp(mode, "wal");
    if (!*wal)
        return true;
    for (int i = 0; i < s->n; i++) {
        sqlite3_file *f = NULL;
        sqlite3_int64 size = -1;
        if (sqlite3_file_control(s->db[i], "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) != SQLITE_OK ||
            !f || !f->pMethods || f->pMethods->xFileSize(f, &size) != SQLITE_OK || size != 0)
            return false;
    }
    return true;
}

/* Copies the live database into dst (an empty private file) with the
 * online backup API. The source holds one read transaction for the whole
 * copy, so every page comes from the same moment; 1024 pages at a time, so
 * a timeout or Ctrl-C stops it. The copy is only read, by this step, and
 * removed: no journal and no fsync. Returns 0, 1 when cancelled, or -1
 * with a reason. */
static int copy_live(struct rune_call *c, const char *src, const struct stat *want, const char *dst,
                     int busy_ms, char *why, size_t whylen)
{
    struct rune_sqlite_snapshot from = {.n = 0};
    sqlite3 *to = NULL;
    sqlite3_backup *b = NULL;
    int result = -1;
    if (open_set(&from, src, want, 1, why, whylen) != 0)
        goto out;
    int rc = begin_set(c, &from, src, busy_ms, why, whylen);
    if (rc != 0) {
        result = rc;
        goto out;
    }
    /* dst exists (made private and empty): never SQLITE_OPEN_CREATE */
    if (sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_exec(to, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", NULL, NULL, NULL) !=
            SQLITE_OK) {
        snprintf(why, whylen, "cannot open the snapshot %s: %s", dst, sqlite3_errmsg(to));
        goto out;
    }
    b = sqlite3_backup_init(to, "main", from.db[0], "main");
    if (!b) {
        snprintf(why, whylen, "cannot start the backup: %s", sqlite3_errmsg(to));
        goto out;
    }
    /* progress: the snapshot's bytes copied so far, of all of them (the
     * copy is streamed afterwards, a new count) */
    long long psize = rune_sqlite_pragma_int(from.db[0], "PRAGMA page_size");
    rune_call_progress_phase(c, "copying the snapshot");
    while ((rc = sqlite3_backup_step(b, 1024)) == SQLITE_OK) {
        long long pages = sqlite3_backup_pagecount(b);
        if (psize > 0)
            rune_call_progress(c, (pages - sqlite3_backup_remaining(b)) * psize, pages * psize,
                               RUNE_UNIT_BYTES);
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
    if (sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(why, whylen, "cannot finish the snapshot %s: %s", dst, sqlite3_errmsg(to));
        goto out;
    }
    result = 0;
out:
    sqlite3_backup_finish(b);
    close_set(&from);
    sqlite3_close(to);
    return result;
}

int rune_sqlite_snapshot_take(struct rune_call *c, const char *db, const struct stat *src,
                              const char *scratch, int readers, struct rune_sqlite_snapshot *s,
                              char *why, size_t whylen)
{
    memset(s, 0, sizeof *s);
    s->source = db;
    long long busy = rune_call_int(c, "busy_timeout");
    int busy_ms = busy > 0 ? (int)busy : 5000;
    int n = 1 + (readers < RUNE_SQLITE_READERS_MAX - 1 ? readers : RUNE_SQLITE_READERS_MAX - 1);
    rune_clock_iso(s->point, rune_clock_wall_ms());
    if (open_set(s, db, src, n, why, whylen) != 0) {
        close_set(s);
        return -1;
    }
    int rc = begin_set(c, s, db, busy_ms, why, whylen);
    if (rc != 0) {
        close_set(s);
        return rc;
    }
    bool wal;
    if (file_is_snapshot(s, &wal)) {
        if (wal)
            rune_call_log(c,
                          "reading %s straight from its database file (its WAL holds nothing "
                          "newer); writers go on meanwhile",
                          db);
        else
            rune_call_log(c,
                          "reading %s straight from its database file; it is in rollback-journal "
                          "mode, so writers wait until the backup has read it (in WAL mode they "
                          "would not)",
                          db);
        return 0;
    }
    close_set(s);
    rune_call_log(c,
                  "the WAL of %s holds commits not yet checkpointed into the database file: "
                  "copying a snapshot with SQLite's backup API first",
                  db);
    int fd = rune_scratch_create(scratch, "snapshot.db", 0600, &s->copy, why, whylen);
    if (fd < 0)
        return -1;
    close(fd);
    rune_clock_iso(s->point, rune_clock_wall_ms());
    rc = copy_live(c, db, src, s->copy, busy_ms, why, whylen);
    if (rc == 0 && open_set(s, s->copy, NULL, n, why, whylen) != 0)
        rc = -1;
    if (rc == 0)
        rc = begin_set(c, s, s->copy, busy_ms, why, whylen);
    if (rc != 0)
        rune_sqlite_snapshot_release(s);
    return rc;
}

void rune_sqlite_snapshot_release(struct rune_sqlite_snapshot *s)
{
    close_set(s);
    if (s->copy)
        unlink(s->copy); /* 1 GiB less on the disk while the backup is committed */
    free(s->copy);
    s->copy = NULL;
}

long long rune_sqlite_snapshot_bytes(struct rune_sqlite_snapshot *s)
{
    long long psize = rune_sqlite_pragma_int(s->db[0], "PRAGMA page_size");
    long long pages = rune_sqlite_pragma_int(s->db[0], "PRAGMA page_count");
    return psize > 0 && pages >= 0 ? psize * pages : -1;
}

int rune_sqlite_snapshot_stream(struct rune_call *c, struct rune_sqlite_snapshot *s,
                                struct rune_artifact_writer *w, bool (*stop)(void *), void *arg,
                                char *why, size_t whylen)
{
    const char *what = s->copy ? s->copy : s->source;
    sqlite3_file *f = NULL;
    long long psize = rune_sqlite_pragma_int(s->db[0], "PRAGMA page_size");
    long long pages = rune_sqlite_pragma_int(s->db[0], "PRAGMA page_count");
    if (sqlite3_file_control(s->db[0], "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
        !f->pMethods || psize < 512 || pages < 0) {
        snprintf(why, whylen, "cannot read the pages of %s: %s", what, sqlite3_errmsg(s->db[0]));
        return -1;
    }
    /* whole pages at a time, about STREAM_BLOCK */
    size_t block = STREAM_BLOCK / (size_t)psize * (size_t)psize;
    if (block == 0)
        block = (size_t)psize;
    unsigned char *buf = malloc(block);
    if (!buf) {
        snprintf(why, whylen,
                 "no memory for a %zu-byte read buffer (free memory on this host and run the step "
                 "again)",
                 block);
        return -1;
    }
    unsigned long long total = (unsigned long long)pages * (unsigned long long)psize;
    int result = 0;
    for (unsigned long long off = 0; off < total; off += block) {
        size_t n = total - off < block ? (size_t)(total - off) : block;
        if (rune_call_cancelled(c) || (stop && stop(arg))) {
            result = 1;
            break;
        }
        int rc = f->pMethods->xRead(f, buf, (int)n, (sqlite3_int64)off);
        if (rc != SQLITE_OK) {
            snprintf(why, whylen,
                     rc == SQLITE_IOERR_SHORT_READ
                         ? "%s ends before its last page (page %llu of %lld): the file is damaged "
                           "or was truncated; check it with sqlite.integrity"
                         : "cannot read %s at page %llu of %lld: an I/O error",
                     what, off / (unsigned long long)psize + 1, pages);
            result = -1;
            break;
        }
        if (off == 0 && n >= sizeof s->header) {
            memcpy(s->header, buf, sizeof s->header);
            s->header_read = true;
        }
        /* the copy is a self-contained rollback-journal database: the
         * header's write and read versions say WAL (2) only in a WAL file */
        if (off == 0 && n > 19) {
            if (buf[18] == 2)
                buf[18] = 1;
            if (buf[19] == 2)
                buf[19] = 1;
        }
        if (rune_artifact_write(w, buf, n, why, whylen) != 0) {
            result = -1;
            break;
        }
        rune_crash_point("sqlite.backup");
    }
    free(buf);
    return result;
}

int rune_sqlite_snapshot_unchanged(struct rune_sqlite_snapshot *s, char *why, size_t whylen)
{
    const char *what = s->copy ? s->copy : s->source;
    unsigned char now[sizeof s->header];
    sqlite3_file *f = NULL;
    if (!s->header_read)
        return 0; /* an empty database: nothing was streamed */
    if (sqlite3_file_control(s->db[0], "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
        !f->pMethods || f->pMethods->xRead(f, now, (int)sizeof now, 0) != SQLITE_OK) {
        snprintf(why, whylen, "cannot read the header of %s again", what);
        return -1;
    }
    if (memcmp(now, s->header, sizeof now) != 0) {
        snprintf(why, whylen,
                 "%s changed while the backup read it: a writer committed although the backup "
                 "held its read locks (another step of this run that opens the same database "
                 "at the same time drops them); run the backup again, alone",
                 what);
        return -1;
    }
    return 0;
}
