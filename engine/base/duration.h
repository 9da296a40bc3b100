/*
 * duration.h — "250ms", "5s", "45m", "1h30m", "2d" or a plain number of
 * seconds, to milliseconds.
 */
#ifndef RUNE_DURATION_H
#define RUNE_DURATION_H

#include <stddef.h>

/* Returns 0 and sets *ms, or -1 when text is not a duration. */
int rune_duration_parse(const char *text, long long *ms);
/* "1h02m", "3.2s", "450ms": for people. */
const char *rune_duration_str(long long ms, char *buf, size_t len);

#endif
