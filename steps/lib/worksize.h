/*
 * worksize.h — the size of a step's work, from its resolved parameters,
 * for the size hook of step.h: what `rune plan` divides by the throughput
 * earlier runs of the type measured on this host, and what a real run
 * records beside its duration. Cheap and read-only: a stat, a directory
 * listing, a manifest.
 *
 * The first two take the parameter's name; the rest are ready hooks for
 * the common names, to put in a type's table as they are
 * (`..., plan, false, rune_worksize_backup_from}`).
 */
#ifndef RUNE_WORKSIZE_H
#define RUNE_WORKSIZE_H

#include "step.h"

/* The bytes of the file the path parameter names (a directory: the
 * regular files directly in it, as a pg_dump -Fd archive). -1 when the
 * parameter is absent or the file cannot be looked at. */
long long rune_worksize_file(struct rune_call *c, const char *param, enum rune_unit *unit);
/* The bytes a backup holds once decompressed (its manifest's raw_bytes):
 * what restoring, verifying or decompressing it works through. A file
 * without a manifest (a pg_dump archive, plain gzip) counts its own
 * bytes, as rune_worksize_file. */
long long rune_worksize_backup(struct rune_call *c, const char *param, enum rune_unit *unit);

/* Hooks: the file named by `path` / by `from`; the backup named by `path`
 * / by `from`. */
long long rune_worksize_path(struct rune_call *c, enum rune_unit *unit);
long long rune_worksize_from(struct rune_call *c, enum rune_unit *unit);
long long rune_worksize_backup_path(struct rune_call *c, enum rune_unit *unit);
long long rune_worksize_backup_from(struct rune_call *c, enum rune_unit *unit);

#endif
