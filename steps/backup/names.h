/*
 * names.h — names for the files primitives create on their own: backups
 * (DIR/STEM-YYYYMMDD-HHMMSS.EXT), safety copies. Timestamped in UTC so
 * they sort by time, and never an existing name: two backups in the same
 * second get -2, -3 ... rather than one refusing to start. The directory is
 * created (mode 0700: backups hold the data) when missing.
 */
#ifndef RUNE_NAMES_H
#define RUNE_NAMES_H

#include <stddef.h>

/* mkdir -p with mode 0700 for what it creates. 0, or -1 with err. */
int rune_mkdirs(const char *dir, char *err, size_t errlen);

/* out = DIR/STEM<middle>YYYYMMDD-HHMMSS[-N]<ext>, a name that does not
 * exist yet, nor does NAME.manifest.json. Creates DIR. 0, or -1 with err. */
int rune_fresh_name(char *out, size_t len, const char *dir, const char *stem, const char *middle,
                    const char *ext, char *err, size_t errlen);

#endif
