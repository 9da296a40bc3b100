/*
 * worksize.c — the size of a step's work for its type's size hook
 * (worksize.h). It only looks: stat, readdir, a manifest read and parsed;
 * it never opens a database or reads a data file, so a plan stays quick
 * and touches nothing. What it cannot look at has no size (-1): the plan
 * then falls back to durations, and a run records no size.
 */
#include "worksize.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "pathparam.h"

/* The regular files directly in dir, in bytes; -1 when it cannot be read. */
static long long dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    long long total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            total += (long long)st.st_size;
    }
    closedir(d);
    return total;
}

/* The param's path, absolute (malloc'd), or NULL. */
static char *path_of(struct rune_call *c, const char *param)
{
    const char *p = rune_call_str(c, param);
    return p && *p ? rune_path_param(c, p) : NULL;
}

static long long bytes_at(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (S_ISDIR(st.st_mode))
        return dir_bytes(path);
    return S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
}

long long rune_worksize_file(struct rune_call *c, const char *param, enum rune_unit *unit)
{
    char *path = path_of(c, param);
    long long n = path ? bytes_at(path) : -1;
    free(path);
    *unit = RUNE_UNIT_BYTES;
    return n;
}

long long rune_worksize_backup(struct rune_call *c, const char *param, enum rune_unit *unit)
{
    char *path = path_of(c, param);
    if (!path)
        return -1;
    *unit = RUNE_UNIT_BYTES;
    long long n = -1;
    char *mpath = rune_artifact_manifest_path(path);
    struct stat st;
    if (mpath && stat(mpath, &st) == 0) {
        char err[512];
        json_t *m = rune_artifact_manifest_load(path, err, sizeof err);
        json_t *raw = json_object_get(m, "raw_bytes");
        if (json_is_integer(raw) && json_integer_value(raw) >= 0)
            n = (long long)json_integer_value(raw);
        json_decref(m);
    } else {
        n = bytes_at(path);
    }
    free(mpath);
    free(path);
    return n;
}

long long rune_worksize_path(struct rune_call *c, enum rune_unit *unit)
{
    return rune_worksize_file(c, "path", unit);
}

long long rune_worksize_from(struct rune_call *c, enum rune_unit *unit)
{
    return rune_worksize_file(c, "from", unit);
}

long long rune_worksize_backup_path(struct rune_call *c, enum rune_unit *unit)
{
    return rune_worksize_backup(c, "path", unit);
}

long long rune_worksize_backup_from(struct rune_call *c, enum rune_unit *unit)
{
    return rune_worksize_backup(c, "from", unit);
}
