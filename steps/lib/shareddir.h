/*
 * shareddir.h — what another local user can do to rune's files in a
 * directory they can write, and the two checks that keep it from mattering.
 *
 * rune usually runs as root; a backup directory, /tmp or a path a runbook
 * names may be writable by other users. In such a directory they can plant
 * a symlink where rune will write, and — without the sticky bit — rename
 * rune's own files away and put theirs in place. Files rune creates there
 * are made with O_CREAT|O_EXCL (never through a planted name) under
 * unpredictable names, and these checks refuse the rest:
 *
 * - a directory every user can write that has no sticky bit;
 * - following a symlink that another user owns in a sticky directory they
 *   can all write, which is the kernel's fs.protected_symlinks rule, applied
 *   whether or not the host turned it on.
 *
 * Like artifact.h, this library includes no engine header and reports
 * errors as text for a person in a caller's buffer.
 */
#ifndef RUNE_SHAREDDIR_H
#define RUNE_SHAREDDIR_H

#include <stddef.h>

/* Refuses a directory in which any user may replace another's files: one
 * that every user can write and that has no sticky bit (as /tmp has). 0,
 * or -1 with err filled (also when dir is missing or not a directory). */
int rune_dir_check_shared(const char *dir, char *err, size_t errlen);

/* When `path` is a symlink, refuses to follow it if another user planted
 * it in a sticky, world-writable directory: a link owned by neither the
 * effective user nor the directory's owner (fs.protected_symlinks). 0 when
 * path is not a symlink, does not exist, or may be followed; -1 with err. */
int rune_link_check(const char *path, char *err, size_t errlen);

#endif
