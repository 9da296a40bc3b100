/*
 * pgtime.h — the timestamps PITR compares: a target time as an operator
 * writes it (ISO-8601 "2026-12-02T19:38:08Z", or PostgreSQL's own text
 * "2026-12-02 19:38:08.357913+00", "... UTC"), and the commit times
 * pg_waldump prints, all as microseconds since the Unix epoch, UTC.
 * No engine header.
 */
#ifndef RUNE_PGTIME_H
#define RUNE_PGTIME_H

#include <stddef.h>

/* YYYY-MM-DD[T| ]HH:MM[:SS[.frac]] then Z, UTC, GMT, +HH[[:]MM] or
 * -HH[[:]MM]; with no zone the time is UTC. 0, or -1 when it is not such a
 * time. */
int rune_pgtime_parse(const char *text, long long *us);
/* "2026-12-02T19:38:08.357913Z" (microseconds kept: commit times are
 * that precise, and a recovery target one microsecond off is another). */
void rune_pgtime_format(long long us, char *out, size_t len);

#endif
