/*
 * clock.h — time as rune uses it: a monotonic clock for deadlines and
 * durations, and UTC wall time for what is recorded.
 */
#ifndef RUNE_CLOCK_H
#define RUNE_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define RUNE_ISO_LEN 32

long long rune_clock_mono_ms(void);
long long rune_clock_wall_ms(void);
/* A wait or a deadline as step messages say it: "450ms", "1.5s", "90s"
 * (whole seconds from a minute up). Returns buf. */
const char *rune_clock_ms_str(long long ms, char *buf, size_t len);
/* "2026-11-23T11:16:00.123Z" (UTC, millisecond precision, sortable as text). */
void rune_clock_iso(char buf[RUNE_ISO_LEN], long long wall_ms);
/* Reads what rune_clock_iso writes, and the same without milliseconds,
 * zone ("Z", "+00:00" or none: UTC). 0 and *wall_ms set, or -1. */
int rune_clock_parse_iso(const char *text, long long *wall_ms);
/* A day as YYYY-MM-DD that exists (a note's due date). */
bool rune_clock_is_day(const char *text);
/* `ms` from now, as pthread_cond_timedwait wants it (CLOCK_REALTIME): for
 * waits that wake up now and then to look at a flag. */
struct timespec rune_clock_cond_deadline(long long ms);

#endif
