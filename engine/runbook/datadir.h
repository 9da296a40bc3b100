/*
 * datadir.h — where this binary's bundled runbooks and Lua step types are.
 */
#ifndef RUNE_DATADIR_H
#define RUNE_DATADIR_H

#include <stddef.h>

/* The directory holding runbooks/ and lua/ for the running binary:
 *  - a binary in the build tree it was built in uses the source tree
 *    (RUNE_SOURCE_DIR), so a developer's changes are what runs;
 *  - an installed binary uses PREFIX/share/rune beside it (found from
 *    /proc/self/exe, so a prefix moved or unpacked elsewhere still works),
 *    else the share directory it was configured with (RUNE_DATADIR).
 * Computed once; never NULL. */
const char *rune_datadir(void);

/* The path of one of rune's helper programs (NAME, e.g. "rune-ssh-mux")
 * into out, found the same way: beside a build-tree binary, else in
 * PREFIX/libexec/rune beside an installed one, else in the libexec
 * directory it was configured with (RUNE_LIBEXECDIR). Only a regular,
 * executable file owned by root or by us that no one else can write
 * counts (a helper another user could replace would run as us). 0, or -1
 * when there is none: the caller does without. */
int rune_helper_path(const char *name, char *out, size_t len);

#endif
