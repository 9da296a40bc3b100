/*
 * names.c — timestamped, never-existing file names (see names.h).
 */
#include "names.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int rune_mkdirs(const char *dir, char *err, size_t errlen)
{
    char partial[PATH_MAX];
    size_t n = strlen(dir);
    if (n >= sizeof partial) {
        snprintf(err, errlen, "directory name too long: %s", dir);
        return -1;
    }
    for (size_t i = 1; i <= n; i++) {
        if (dir[i] != '/' && dir[i] != '\0')
            continue;
        memcpy(partial, dir, i);
        partial[i] = '\0';
        if (mkdir(partial, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create directory %s: %s", partial, strerror(errno));
            return -1;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a directory", dir);
        return -1;
    }
    return 0;
}

static bool taken(const char *path)
{
    char m[PATH_MAX + 32];
    snprintf(m, sizeof m, "%s.manifest.json", path);
    return access(path, F_OK) == 0 || access(m, F_OK) == 0;
}

int rune_fresh_name(char *out, size_t len, const char *dir, const char *stem, const char *middle,
                    const char *ext, char *err, size_t errlen)
{
    if (rune_mkdirs(dir, err, errlen) != 0)
        return -1;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
    for (int i = 1; i < 1000; i++) {
        char suffix[16] = "";
        if (i > 1)
            snprintf(suffix, sizeof suffix, "-%d", i);
        int w = snprintf(out, len, "%s/%s%s%s%s%s", dir, stem, middle, ts, suffix, ext);
        if (w < 0 || (size_t)w >= len) {
            snprintf(err, errlen, "file name too long in %s", dir);
            return -1;
        }
        if (!taken(out))
            return 0;
    }
    snprintf(err, errlen, "no free name for %s%s%s in %s", stem, middle, ts, dir);
    return -1;
}
