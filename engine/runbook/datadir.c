/*
 * datadir.c — where this binary's bundled files are (see datadir.h).
 *
 * Compiled-in paths alone fail twice: a build-tree binary run from
 * anywhere found its Lua step types (a source path) but not its runbooks
 * (an install path), and an installed tree moved to another prefix found
 * neither. The binary's own location decides instead.
 */
#include "datadir.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The real directory of the running executable into out; 0 or -1. */
static int exe_dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return realpath(exe, out) ? 0 : -1;
}

static void find(void)
{
    char here[PATH_MAX], build[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", RUNE_DATADIR);
    if (exe_dir(here, sizeof here) != 0)
        return;
    if (realpath(RUNE_BUILD_DIR, build) && !strcmp(here, build)) {
        snprintf(dir, sizeof dir, "%s", RUNE_SOURCE_DIR);
        return;
    }
    char beside[PATH_MAX + 32];
    snprintf(beside, sizeof beside, "%s/../share/rune", here);
    char real[PATH_MAX];
    if (is_dir(beside) && realpath(beside, real))
        snprintf(dir, sizeof dir, "%s", real);
}

const char *rune_datadir(void)
{
    pthread_once(&once, find);
    return dir;
}

/* A helper worth running: see rune_helper_path. */
static bool helper_ok(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) &&
           !(st.st_mode & (S_IWGRP | S_IWOTH)) && (st.st_uid == 0 || st.st_uid == geteuid());
}

int rune_helper_path(const char *name, char *out, size_t len)
{
    char here[PATH_MAX], path[PATH_MAX + 64];
    if (exe_dir(here, sizeof here) == 0) {
        snprintf(path, sizeof path, "%s/%s", here, name);
        if (helper_ok(path))
            return snprintf(out, len, "%s", path) < (int)len ? 0 : -1;
        snprintf(path, sizeof path, "%s/../libexec/rune/%s", here, name);
        char real[PATH_MAX];
        if (helper_ok(path) && realpath(path, real))
            return snprintf(out, len, "%s", real) < (int)len ? 0 : -1;
    }
    snprintf(path, sizeof path, "%s/%s", RUNE_LIBEXECDIR, name);
    if (helper_ok(path))
        return snprintf(out, len, "%s", path) < (int)len ? 0 : -1;
    return -1;
}
