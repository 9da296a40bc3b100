/*
 * procinfo.c — a process's start, liveness and process group, from /proc
 * (procinfo.h). Linux only, like the rest of rune's process handling.
 */
#include "procinfo.h"

#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char boot[40];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void read_boot_id(void)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (!f)
        return;
    if (!fgets(boot, sizeof boot, f))
        boot[0] = '\0';
    boot[strcspn(boot, "\n")] = '\0';
    fclose(f);
}

/* The boot id (its first 36 characters, a UUID) into out ("" if unknown).
 * Read once: it cannot change while this process lives, and every child
 * a step starts is recorded with it. */
static void boot_id(char out[40])
{
    pthread_once(&boot_once, read_boot_id);
    memcpy(out, boot, sizeof boot);
}

/* Fields 5 (pgrp) and 22 (starttime) of /proc/PID/stat. The second field,
 * the command in parentheses, may hold spaces and ')': the fields after it
 * are read from its last ')'. 0, or -1. */
static int stat_of(pid_t pid, long long *pgrp, unsigned long long *ticks)
{
    char path[64], buf[1024];
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, pid ? "/proc/%d/stat" : "/proc/self/stat", (int)pid);
    if (!(f = fopen(path, "re")))
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* after ')': state(3) ppid(4) pgrp(5) ... starttime(22) */
    char *save = NULL, *tok = strtok_r(p + 1, " ", &save);
    for (int field = 3; tok; field++, tok = strtok_r(NULL, " ", &save)) {
        if (field == 5)
            *pgrp = strtoll(tok, NULL, 10);
        if (field == 22) {
            *ticks = strtoull(tok, NULL, 10);
            return 0;
        }
    }
    return -1;
}

int rune_procinfo_start(pid_t pid, char out[RUNE_START_LEN])
{
    char bid[40];
    long long pgrp;
    unsigned long long ticks;

    out[0] = '\0';
    if (stat_of(pid, &pgrp, &ticks) != 0)
        return -1;
    boot_id(bid);
    snprintf(out, RUNE_START_LEN, "%s:%llu", bid, ticks);
    return 0;
}

bool rune_procinfo_alive(pid_t pid, const char *start)
{
    char now[RUNE_START_LEN];
    return pid > 0 && start && rune_procinfo_start(pid, now) == 0 && strcmp(now, start) == 0;
}

/* A recorded start split: its boot id is this boot's, and its ticks. */
static bool this_boot(const char *start, unsigned long long *ticks)
{
    char bid[40];
    const char *colon = start ? strrchr(start, ':') : NULL;

    if (!colon)
        return false;
    boot_id(bid);
    if ((size_t)(colon - start) != strlen(bid) || strncmp(start, bid, strlen(bid)) != 0)
        return false;
    *ticks = strtoull(colon + 1, NULL, 10);
    return true;
}

size_t rune_procinfo_group(pid_t pgid, const char *start, pid_t *out, size_t max)
{
    unsigned long long since;
    size_t n = 0;
    DIR *d;
    struct dirent *e;

    char now[RUNE_START_LEN];
    if (pgid <= 1 || !this_boot(start, &since))
        return 0;
    /* a process with the leader's pid but another start leads a group
     * that only reused the number */
    if (rune_procinfo_start(pgid, now) == 0 && strcmp(now, start) != 0)
        return 0;
    if (!(d = opendir("/proc")))
        return 0;
    while ((e = readdir(d))) {
        long long pgrp;
        unsigned long long ticks;
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
        if (stat_of(pid, &pgrp, &ticks) != 0 || pgrp != pgid || ticks < since)
            continue;
        if (n < max)
            out[n] = pid;
        n++;
    }
    closedir(d);
    return n;
}
