/*
 * utf8.h — text a child printed, made fit for JSON and for messages.
 * A child may print anything (binary, Latin-1, a character cut in half by
 * a capture cap), while JSON strings, the log and the console need valid
 * UTF-8: shell.run's outputs and service.*'s status text go through here.
 */
#ifndef RUNE_UTF8_H
#define RUNE_UTF8_H

#include <stddef.h>

/* The n bytes at s with each byte that breaks UTF-8 (and each NUL, so the
 * result is also a C string) replaced by U+FFFD. Malloc'd and
 * NUL-terminated, its length in *len (when len is not NULL); NULL only
 * when out of memory. */
char *rune_utf8_clean(const char *s, size_t n, size_t *len);

#endif
