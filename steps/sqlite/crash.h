/*
 * crash.h — a test-only hook that stops rune dead at a named point, so a
 * test can check what a crash there leaves on disk.
 *
 * With RUNE_TEST_CRASH_AT=NAME:N in the environment, the Nth call of
 * rune_crash_point(NAME) in the process sends SIGKILL to rune itself: no
 * cleanup, no atexit, exactly as kill -9 or a power cut would stop it (bar
 * the page cache). Without the variable, or for any other NAME, a call
 * does nothing but one getenv. Points are placed right after each system
 * call of a sequence whose every intermediate state must be safe, e.g. the
 * swap in sqlite.restore; docs/backups.md lists them.
 */
#ifndef RUNE_CRASH_H
#define RUNE_CRASH_H

void rune_crash_point(const char *name);

#endif
