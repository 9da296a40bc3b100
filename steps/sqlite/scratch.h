/*
 * scratch.h — private scratch directories beside the files a step works
 * on, for the temporary files a library opens by name (SQLite's snapshot
 * of a database, a restored or compacted copy before it is swapped in).
 *
 * A scratch directory is DIR/.rune-scratch-<pid>-<host>-XXXXXX, made by
 * mkdtemp: an unpredictable name, mode 0700, owned by the runner. Nobody
 * else can open, create, replace or even list anything inside it, whatever
 * names are used there, so a file opened by name inside it cannot be a
 * symlink or a file another user planted. The files in it are created with
 * O_CREAT|O_EXCL|O_NOFOLLOW all the same. It lives beside its target so a
 * copy made in it can be renamed over the target (same filesystem).
 *
 * A crash (kill -9, power loss) leaves the directory behind. It holds the
 * only copies rune made (0700: unreadable to others), and the next step
 * that makes a scratch directory in the same DIR removes it
 * (rune_scratch_reap): one of the runner's own, made on this host, whose
 * process is gone. docs/backups.md says so for operators.
 *
 * Like artifact.h, this library includes no engine header and reports
 * errors as text for a person in a caller's buffer.
 */
#ifndef RUNE_SCRATCH_H
#define RUNE_SCRATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RUNE_SCRATCH_PREFIX ".rune-scratch-"

/* Makes a scratch directory in dir, which must exist and pass
 * rune_dir_check_shared (shareddir.h), and belong to root, to the
 * effective user or to `trusted` — the owner of the data the scratch files
 * will hold ((uid_t)-1: nobody else). The owner of a directory can rename
 * a scratch directory away and put their own in its place before a file in
 * it is opened by name; that is harmless only when the data is theirs.
 * *out is its path, malloc'd; end it with rune_scratch_remove. 0, or -1
 * with err filled. */
int rune_scratch_make(char **out, const char *dir, uid_t trusted, char *err, size_t errlen);

/* Creates `name` (no slash) in the scratch directory with
 * O_CREAT|O_EXCL|O_NOFOLLOW and exactly `mode` (no umask). Returns the
 * open descriptor (read-write) and its path in *path (malloc'd), or -1 with
 * err filled. */
int rune_scratch_create(const char *scratch, const char *name, mode_t mode, char **path, char *err,
                        size_t errlen);

/* Removes the files in the scratch directory and the directory, then frees
 * the path. NULL is fine. */
void rune_scratch_remove(char *scratch);

/* Removes the scratch directories a crash left in dir: those named as
 * rune_scratch_make names them, for this host, owned by the effective
 * user, not symlinks, whose process no longer exists. A directory of a
 * process still running (a concurrent run, or a pid reused since) or of
 * another user is left alone. Returns how many were removed; `first`
 * (may be NULL) gets the name of the first one, for a log line. */
int rune_scratch_reap(const char *dir, char *first, size_t firstlen);

#endif
