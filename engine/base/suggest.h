/*
 * suggest.h — "did you mean ...?" for typos in keys, step types, step ids.
 */
#ifndef RUNE_SUGGEST_H
#define RUNE_SUGGEST_H

#include <stddef.h>

/* The closest of the n candidates to word (edit distance at most 2, or a
 * third of the word's length), or NULL. */
const char *rune_suggest(const char *word, const char *const *candidates, size_t n);
/* Formats " (did you mean \"x\"?)" into buf, or "" when nothing is close. */
const char *rune_suggest_hint(const char *word, const char *const *candidates, size_t n, char *buf,
                              size_t len);

#endif
