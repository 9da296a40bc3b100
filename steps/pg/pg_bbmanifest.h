/*
 * pg_bbmanifest.h — the server's backup manifest (backup_manifest, which
 * BASE_BACKUP sends after the archive) checked against what was received:
 * what pg_verifybackup does for a backup on disk, done while the backup
 * streams. The manifest's own SHA-256 must hold; every file it lists must
 * have arrived with its size and its SHA-256; no file may have arrived
 * that it does not list. Internal to pg.basebackup (pg_basebackup.c).
 */
#ifndef RUNE_PG_BBMANIFEST_H
#define RUNE_PG_BBMANIFEST_H

#include <jansson.h>
#include <stddef.h>

/* What arrived: one entry per regular file of the archive, by its path in
 * the archive: [size, "sha256 hex"]. */
int rune_bb_received_add(json_t *received, const char *path, unsigned long long size,
                         const char *sha256);

/* Checks the manifest text (len bytes) against `received`. On success
 * returns 0 and sets *files to the number of files checked and *wal_ranges
 * (a new reference) to the manifest's WAL-Ranges; else -1 with err naming
 * the first file that does not match (in manifest order) or what is wrong
 * with the manifest. */
int rune_bb_manifest_check(const char *text, size_t len, json_t *received, size_t *files,
                           json_t **wal_ranges, char *err, size_t errlen);

#endif
