/*
 * backup_wal.h — backup.prune's part for a WAL archive: once prune has
 * decided which base backups (pg.basebackup) stay, WAL segments older
 * than the oldest kept one's first segment are no longer needed by any of
 * them and may go — only when prune is given the archive, and never a
 * segment a kept base backup needs, a timeline history file, or a file
 * that is not WAL. Internal to backup.c.
 */
#ifndef RUNE_BACKUP_WAL_H
#define RUNE_BACKUP_WAL_H

#include <jansson.h>
#include <stdbool.h>

#include "step.h"

/* Deletes (or, dry, lists) the segments of `archive` older than segment
 * `oldest_start` (a 24-hex-digit name, any timeline; their .partial and
 * .backup files with them). Fills outputs "wal_deleted" (names, or what
 * would be deleted) and "wal_kept_from". A rune_status. */
int rune_backup_prune_wal(struct rune_call *c, const char *archive, const char *oldest_start,
                          long long segsize, bool dry);

#endif
