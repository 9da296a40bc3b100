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
