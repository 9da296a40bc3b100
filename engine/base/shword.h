/*
 * shword.h — POSIX shell quoting for command lines another shell will
 * parse: the commands rune sends to a remote host over ssh, where the
 * remote user's login shell reads them (ssh joins its arguments with
 * spaces and hands the result to `$SHELL -c`).
 *
 * Every word is single-quoted unless it is made only of characters no
 * shell treats specially, and a single quote inside becomes '\''. Inside
 * single quotes nothing is special — not $, `, \, ;, newlines — so the
 * word arrives as one argument, byte for byte. (steps/lib/shquote.c does
 * the same for display, on the step side of the layering.)
 */
#ifndef RUNE_SHWORD_H
#define RUNE_SHWORD_H

#include <stdbool.h>
#include <stdio.h>

/* One word, quoted when it needs to be, written to f. */
void rune_shq_word(FILE *f, const char *word);
/* The words of argv (NULL-terminated), quoted and joined by spaces.
 * Malloc'd; NULL when out of memory. */
char *rune_shq_argv(char *const *argv);
/* A name `export NAME=...` accepts: [A-Za-z_][A-Za-z0-9_]*. */
bool rune_shq_name_ok(const char *name);

#endif
