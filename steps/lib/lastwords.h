/*
 * lastwords.h — what a child program said last, for the message of a step
 * whose child failed: the operator sees the program's own words.
 */
#ifndef RUNE_STEPS_LASTWORDS_H
#define RUNE_STEPS_LASTWORDS_H

#include <stddef.h>

#include "proc.h"

/* The last (up to three) lines of what p printed on standard error — or,
 * when it said nothing there, on standard output — joined with "; " into
 * out; "it printed nothing" when it printed nothing. */
void rune_last_words(const struct rune_proc *p, char *out, size_t len);

#endif
