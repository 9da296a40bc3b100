/*
 * clock.h — time as rune uses it: a monotonic clock for deadlines and
 * durations, and UTC wall time for what is recorded.
 */
#ifndef RUNE_CLOCK_H
#define RUNE_CLOCK_H

#include <time.h>

#define RUNE_ISO_LEN 32

long long rune_clock_mono_ms(void);
long long rune_clock_wall_ms(void);
/* "2026-11-23T11:16:00.123Z" (UTC, millisecond precision, sortable as text). */
void rune_clock_iso(char buf[RUNE_ISO_LEN], long long wall_ms);
/* Reads what rune_clock_iso writes, and the same without milliseconds,
 * zone ("Z", "+00:00" or none: UTC). 0 and *wall_ms set, or -1. */
int rune_clock_parse_iso(const char *text, long long *wall_ms);
/* `ms` from now, as pthread_cond_timedwait wants it (CLOCK_REALTIME): for
 * waits that wake up now and then to look at a flag. */
struct timespec rune_clock_cond_deadline(long long ms);

#endif
