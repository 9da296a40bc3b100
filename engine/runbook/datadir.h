/*
 * datadir.h — where this binary's bundled runbooks and Lua step types are.
 */
#ifndef RUNE_DATADIR_H
#define RUNE_DATADIR_H

/* The directory holding runbooks/ and lua/ for the running binary:
 *  - a binary in the build tree it was built in uses the source tree
 *    (RUNE_SOURCE_DIR), so a developer's changes are what runs;
 *  - an installed binary uses PREFIX/share/rune beside it (found from
 *    /proc/self/exe, so a prefix moved or unpacked elsewhere still works),
 *    else the share directory it was configured with (RUNE_DATADIR).
 * Computed once; never NULL. */
const char *rune_datadir(void);

#endif
