/*
 * procinfo.h — what /proc says about a process: when it started (so a pid
 * reused by another process is not taken for the one recorded), whether
 * it is still alive, and which processes are in a process group. Used to
 * tell a run whose rune is gone (abandoned) from one still running, and
 * to find the children such a run left behind.
 *
 * A start is "BOOTID:TICKS": the kernel's boot id and the process's start
 * time in clock ticks since boot (/proc/PID/stat, field 22), which
 * together name one process on one host for as long as the host is up.
 */
#ifndef RUNE_PROCINFO_H
#define RUNE_PROCINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RUNE_START_LEN 64

/* The start of process pid (0: this process) into out. 0, or -1 when there
 * is no such process (or /proc cannot be read). */
int rune_procinfo_start(pid_t pid, char out[RUNE_START_LEN]);

/* Is the process recorded as (pid, start) still running? A pid that now
 * belongs to another process (another start, or another boot) is not. */
bool rune_procinfo_alive(pid_t pid, const char *start);

/* The processes of group pgid that started no earlier than the recorded
 * start of its leader (same boot): the group the leader made, not a later
 * one that reused its number. Up to max pids into out; returns how many
 * there are (may exceed max), 0 when none. */
size_t rune_procinfo_group(pid_t pgid, const char *start, pid_t *out, size_t max);

#endif
