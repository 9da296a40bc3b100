/*
 * sqlite_swap.c — putting a new database file in the place of a live one,
 * for sqlite.restore and sqlite.compact: the file it replaces checked, the
 * new one given its owner and mode, the live database brought to rest,
 * and one rename() as the moment it changes, with crash points around
 * every step (crash.h) and the old file kept as a safety copy on request.
 */
#include "sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crash.h"
#include "names.h"
#include "safefile.h"

/* The database a restore or compaction replaces: a regular file, or none
 * (*exists false). A symlink is refused: the rename that swaps the new
 * file in would replace the link, not the database it points to. */
int rune_sqlite_live_file(struct rune_call *c, const char *db, struct stat *st, bool *exists)
{
    *exists = false;
    if (lstat(db, st) != 0) {
        if (errno == ENOENT)
            return RUNE_STEP_OK;
        return rune_call_fail(c, "cannot look at %s: %s; nothing was changed", db, strerror(errno));
    }
    if (S_ISLNK(st->st_mode)) {
        char real[PATH_MAX];
        bool known = realpath(db, real) != NULL;
        return rune_call_fail(c,
                              "%s is a symbolic link%s%s: replacing it would replace the link, "
                              "not the database; give the database's own path; nothing was "
                              "changed",
                              db, known ? " to " : "", known ? real : "");
    }
    if (!S_ISREG(st->st_mode))
        return rune_call_fail(c, "%s is not a regular file; nothing was changed", db);
    *exists = true;
    return RUNE_STEP_OK;
}

/* The file `path` (open it here: it is in a scratch directory) takes the
 * owner, group and mode (without set-id bits) of the database it replaces,
 * so the application opens it as before; then it is flushed to disk. 0, or
 * -1 with a reason. */
int rune_sqlite_finish_copy(const char *path, const struct stat *like, char *why, size_t whylen)
{
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    /* EPERM: not root, and the database is another user's; ours it stays */
    if (like && fchown(fd, like->st_uid, like->st_gid) != 0 && errno != EPERM) {
        snprintf(why, whylen, "cannot give %s the owner of the database: %s", path,
                 strerror(errno));
        rc = -1;
    } else if (like && fchmod(fd, like->st_mode & 0777) != 0) {
        snprintf(why, whylen, "cannot set the mode of %s: %s", path, strerror(errno));
        rc = -1;
    } else if (fsync(fd) != 0) {
        snprintf(why, whylen, "cannot flush %s to disk: %s", path, strerror(errno));
        rc = -1;
    }
    close(fd);
    return rc;
}

/* Brings the live database to rest before it is replaced. Opening it
 * recovers it as any application would (a hot journal rolled back), and a
 * TRUNCATE checkpoint copies what its WAL holds into the main file and
 * empties the WAL: the main file alone then holds every committed
 * transaction, so its -wal and -journal can be removed before the swap
 * without losing a commit (left beside the new file, SQLite would replay
 * them into it). Returns 0; 1 when another process holds the database (the
 * checkpoint could not finish within busy_timeout); -1 when SQLite cannot
 * read it (damaged — often why it is restored), which is not an error:
 * the file is replaced as it is. */
static int settle(struct rune_call *c, const char *db, char *why, size_t whylen)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        long long busy = rune_call_int(c, "busy_timeout");
        sqlite3_busy_timeout(h, busy > 0 ? (int)busy : 5000);
        rc = sqlite3_exec(h, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(h, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &s, NULL);
        if (rc == SQLITE_OK) {
            int step = sqlite3_step(s);
            if (step == SQLITE_ROW)
                rc = sqlite3_column_int(s, 0) ? SQLITE_BUSY : SQLITE_OK;
            else if (step != SQLITE_DONE)
                rc = step;
        }
        sqlite3_finalize(s);
    }
    int result = 0;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        snprintf(why, whylen,
                 "%s is in use by another process (its WAL could not be checkpointed within "
                 "busy_timeout)",
                 db);
        result = 1;
    } else if (rc != SQLITE_OK) {
        snprintf(why, whylen, "%s", h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
        result = -1;
    }
    sqlite3_close(h);
    return result;
}

/* What SQLite keeps beside a database; -shm is rebuilt from the WAL. */
static const char *const sidecars[] = {"-wal", "-journal", "-shm"};

/* Puts `fresh` — a complete database file, flushed to disk, in a scratch
 * directory beside db — in db's place. With `keep`, the current file
 * (when there is one) is kept as the safety copy, its name in `safety`
 * (else safety is ""). One system call at a time, each followed by the
 * crash point "sqlite.swap":
 *
 *   1. link(db, SAFETY), then its -wal and -journal, if any, to SAFETY-wal
 *      and SAFETY-journal: the current files get second names (which never
 *      replace anything), exactly as they are;
 *   2. settle: SQLite recovers and checkpoints the live database (through
 *      the shared inodes the safety copy gets the same, equally complete);
 *   3. the live -wal, -journal and -shm are removed;
 *   4. rename(fresh, db): the one step at which db turns from the old
 *      database into the new one.
 *
 * Before 4 the live name is the old database, after it the new one: no
 * crash point leaves no database. Returns 0; 1 when the database is in use
 * (nothing changed); -1 with a reason. A failure before 4 leaves the live
 * database as it was and removes the safety names made on the way. */
int rune_sqlite_swap_in(struct rune_call *c, const char *db, bool exists, const char *fresh,
                        bool keep, char *safety, size_t safety_len, char *why, size_t whylen)
{
    char dir[PATH_MAX];
    rune_sqlite_dir_part(db, dir, sizeof dir);
    const char *base = strrchr(db, '/') + 1;
    safety[0] = '\0';
    size_t linked = 0; /* sidecars linked to the safety name */
    int result = -1;
    if (exists && keep) {
        /* a name taken meanwhile (by anyone) only means trying the next */
        for (int tries = 0;; tries++) {
            if (rune_fresh_name(safety, safety_len, dir, base, ".before-restore-", "", why,
                                whylen) != 0)
                return -1;
            if (link(db, safety) == 0)
                break;
            if (errno != EEXIST || tries > 100) {
                snprintf(why, whylen, "cannot keep the current %s as %s: %s; nothing was changed",
                         db, safety, strerror(errno));
                safety[0] = '\0';
                return -1;
            }
        }
        rune_crash_point("sqlite.swap");
        for (; linked < 2; linked++) {
            char a[PATH_MAX + 16], b[PATH_MAX + 80];
            snprintf(a, sizeof a, "%s%s", db, sidecars[linked]);
            snprintf(b, sizeof b, "%s%s", safety, sidecars[linked]);
            if (link(a, b) == 0) {
                rune_crash_point("sqlite.swap");
            } else if (errno != ENOENT) {
                snprintf(why, whylen, "cannot keep %s as %s: %s; nothing was changed", a, b,
                         strerror(errno));
                goto undo;
            }
        }
        if (rune_fsync_dir(dir) != 0) {
            snprintf(why, whylen, "cannot flush directory %s to disk: %s; nothing was changed", dir,
                     strerror(errno));
            goto undo;
        }
    }
    if (exists) {
        char sw[512];
        int set = settle(c, db, sw, sizeof sw);
        if (set > 0) {
            snprintf(why, whylen, "%s", sw);
            result = 1;
            goto undo;
        }
        if (set < 0)
            rune_call_log(c, "%s cannot be read (%s): it is replaced as it is%s", db, sw,
                          safety[0] ? ", and kept as the safety copy" : "");
    }
    for (size_t i = 0; i < 3; i++) {
        char a[PATH_MAX + 16];
        snprintf(a, sizeof a, "%s%s", db, sidecars[i]);
        if (unlink(a) == 0) {
            rune_crash_point("sqlite.swap");
        } else if (errno != ENOENT) {
            snprintf(why, whylen, "cannot remove %s before the swap: %s; %s was not replaced", a,
                     strerror(errno), db);
            return -1; /* the safety copy stays: it is the complete old database */
        }
    }
    if (rename(fresh, db) != 0) {
        snprintf(why, whylen, "cannot move the new database into place: %s; %s is unchanged",
                 strerror(errno), db);
        return -1;
    }
    rune_crash_point("sqlite.swap");
    if (rune_fsync_dir(dir) != 0) {
        snprintf(why, whylen,
                 "%s was replaced, but directory %s could not be flushed to disk (%s): a power "
                 "loss now could bring the old file back",
                 db, dir, strerror(errno));
        return -1;
    }
    return 0;
undo:
    for (size_t i = 0; i < linked; i++) {
        char b[PATH_MAX + 80];
        snprintf(b, sizeof b, "%s%s", safety, sidecars[i]);
        unlink(b);
    }
    if (safety[0])
        unlink(safety);
    safety[0] = '\0';
    return result;
}

/* A swap_in that failed (sw) as the step's error; `again` says what to
 * do once the application holding the database (sw > 0) is stopped. */
int rune_sqlite_swap_failed(struct rune_call *c, const char *why, int sw, const char *again)
{
    return rune_call_fail(c, "%s%s%s", why,
                          sw > 0 ? "; stop the application that has it open, then " : "",
                          sw > 0 ? again : "");
}
