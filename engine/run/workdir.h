/*
 * workdir.h — the private work directory of one run (`${run.workdir}`).
 *
 * Runbooks that need scratch space (the drill's database and backups, a
 * safety copy) must not pick a fixed name in /tmp: another local user can
 * create it first, or plant a symlink in it, and root then writes through
 * it. So every run gets its own directory, made with mkdtemp (mode 0700,
 * owned by the runner) under `work/` beside the incident log — the state
 * directory, like `locks/` and `reports/` — and removed when the run ends.
 */
#ifndef RUNE_WORKDIR_H
#define RUNE_WORKDIR_H

#include <stddef.h>

/* Makes STATE/work/INCIDENT-XXXXXX, STATE being the directory of
 * log_path. STATE/work is created (0700) if missing and must be a real
 * directory owned by the runner that nobody else can write, and no
 * directory above it may let another user rename it away (writable by
 * others without the sticky bit, or owned by another user). Fills out with
 * the new directory's absolute path (no symlinks). Returns 0, or -1 with a
 * message for the operator in err. */
int rune_workdir_create(const char *log_path, const char *incident, char *out, size_t outlen,
                        char *err, size_t errlen);

/* What a dry-run shows instead (nothing is created): the path a run would
 * get, its random part left as XXXXXX. */
void rune_workdir_placeholder(const char *log_path, const char *incident, char *out, size_t outlen);

/* Removes dir and everything below it. Symlinks are removed, never
 * followed; another filesystem mounted inside is not entered (that is an
 * error: the directory stays). Returns 0, or -1 with err. */
int rune_workdir_remove(const char *dir, char *err, size_t errlen);

#endif
