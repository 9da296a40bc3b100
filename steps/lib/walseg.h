/*
 * walseg.h — WAL positions and segment file names, as PostgreSQL writes
 * them: an LSN "16/B374D848" is a 64-bit byte position; the segment that
 * holds it on timeline T is the file TTTTTTTTXXXXXXXXYYYYYYYY (hex), where
 * X and Y split the segment number by the number of segments in 4 GiB.
 * A library the backup and pg families share. pg.basebackup records the first and last segment a
 * base backup needs, pg.wal_check walks them in an archive, backup.prune (with an archive) keeps
 * them.
 *
 * No engine header, no I/O.
 */
#ifndef RUNE_WALSEG_H
#define RUNE_WALSEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RUNE_WAL_NAME_LEN 24 /* hex digits of a segment file's name */
#define RUNE_LSN_TEXT 20     /* "FFFFFFFF/FFFFFFFF" and a NUL */

/* "16/B374D848" → its value. 0, or -1 when it is not an LSN. */
int rune_lsn_parse(const char *text, uint64_t *lsn);
void rune_lsn_format(uint64_t lsn, char out[RUNE_LSN_TEXT]);

/* "16MB", "1GB", "16777216": a wal_segment_size as SHOW prints it, in
 * bytes; -1 when it is not a power of two from 1 MiB to 1 GiB. */
long long rune_wal_segsize_parse(const char *text);

/* The segment number holding lsn, and the one holding the byte before it
 * (where a record that ends exactly at lsn lies). */
uint64_t rune_wal_segno(uint64_t lsn, long long segsize);
uint64_t rune_wal_prev_segno(uint64_t lsn, long long segsize);

/* The file name of segment segno on timeline tli (24 hex digits and a NUL). */
void rune_wal_name(char out[RUNE_WAL_NAME_LEN + 1], uint32_t tli, uint64_t segno,
                   long long segsize);
/* Reads a segment file's name (exactly 24 upper-case hex digits): its
 * timeline and segment number. 0, or -1 when it is not one. */
int rune_wal_name_parse(const char *name, long long segsize, uint32_t *tli, uint64_t *segno);

/* A timeline history file's name "0000000T.history". */
void rune_wal_history_name(char out[32], uint32_t tli);

#endif
