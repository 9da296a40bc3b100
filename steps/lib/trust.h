/*
 * trust.h — reading a file another user could swap while rune works.
 *
 * A path may lie in a directory another user owns or can write: their own
 * database in their own directory, a file in /tmp. Between the moment rune
 * looks at the path and the moment it opens it, that user can rename a
 * symlink (or a hard link, where fs.protected_hardlinks is off) over it,
 * pointing at a root-only file; rune, running as root, would then copy that
 * file's contents into something the user can read. These calls open such
 * paths without following any symlink, and tell a caller that lets a
 * library (SQLite) open the path itself whether the file it opened is the
 * one it checked.
 *
 * Like shareddir.h, this library includes no engine header and reports
 * errors as text for a person in a caller's buffer.
 */
#ifndef RUNE_TRUST_H
#define RUNE_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* Whether only root and the effective user can change what `path` names:
 * every directory from / down to its parent is owned by one of them, and
 * none lets anyone else add or rename entries (group- or world-writable
 * without the sticky bit; a sticky one only when the entry below it is
 * theirs). Symlinks on the way are judged where they lie and where they
 * lead. False when in doubt (a component cannot be examined). */
bool rune_path_trusted(const char *path);

/* Opens `path` for reading as a regular file. A path that is not trusted is
 * opened without following any symlink in any component (openat2
 * RESOLVE_NO_SYMLINKS), so what is opened is what is there; a trusted one
 * is opened as the operator named it. *st is the opened file's fstat (use
 * it, not an earlier stat, for sizes, owners and modes). The fd, or -1 with
 * err filled (what was refused and what to do). */
int rune_open_input(const char *path, struct stat *st, char *err, size_t errlen);

/* The same checks, for a file rune only identifies and another library
 * (SQLite) opens: an O_PATH descriptor. Closing it leaves alone the POSIX
 * locks this process holds on the file (closing any descriptor opened for
 * reading would drop them all, SQLite's included: a reader's lock gone
 * while its transaction still reads). */
int rune_open_identity(const char *path, struct stat *st, char *err, size_t errlen);

/* After a library opened `path` by name: every descriptor this process has
 * open on a file named `path` refers to the file `want` describes (device
 * and inode). Catches a file swapped between rune's check and the
 * library's open. 0, or -1 with err filled. */
int rune_opened_is(const char *path, const struct stat *want, char *err, size_t errlen);

#endif
