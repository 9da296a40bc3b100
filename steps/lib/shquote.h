/*
 * shquote.h — writing a command the way an operator would type it, for
 * plans and logs (shell.run, service.*): arguments single-quoted when a
 * shell would otherwise split or expand them, so the line can be pasted
 * into a terminal as is.
 */
#ifndef RUNE_SHQUOTE_H
#define RUNE_SHQUOTE_H

#include <stdio.h>

/* One argument, quoted only when it needs to be. */
void rune_shell_quote(FILE *f, const char *arg);

#endif
