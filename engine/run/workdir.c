/*
 * workdir.c — making, checking and removing a run's private work
 * directory (see workdir.h for why it exists).
 *
 * The checks follow OpenSSH's idea of a safe path: a directory is only as
 * private as every directory above it. mkdtemp gives a fresh 0700
 * directory, but if its parent could be renamed by another user, that user
 * could move it aside and put their own directory (full of symlinks) in
 * its place between two steps. So the parent (`work/`) must be ours and
 * closed to others, and each directory above must be owned by root or by
 * us and either closed to others or sticky (as /tmp is) with the entry
 * below it ours or root's.
 */
#include "workdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deeper trees than this are left in place with an error rather than
 * risking the stack on a tree a hostile step built. */
#define MAX_DEPTH 256

/* The directory of the incident log (its "state directory"), in buf. */
static int state_dir(const char *log_path, char *buf, size_t len)
{
    if (!log_path || !*log_path)
        return -1;
    int w = snprintf(buf, len, "%s", log_path);
    if (w < 0 || (size_t)w >= len)
        return -1;
    char *slash = strrchr(buf, '/');
    if (!slash)
        snprintf(buf, len, ".");
    else if (slash == buf)
        buf[1] = '\0';
    else
        *slash = '\0';
    return 0;
}

/* mkdir -p, new directories 0700 (the state directory is the runner's). */
static void make_dirs(const char *dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        (void)mkdir(p, 0700);
        *s = '/';
    }
    (void)mkdir(p, 0700);
}

static const char *const fix_hint =
    "keep the incident log (--log, RUNE_LOG, RUNE_HOME) in a directory only you can write";

/* Every directory above the real path `path` (whose own owner is
 * child_uid) keeps others from renaming what is below it. */
static int check_above(const char *path, uid_t child_uid, char *err, size_t errlen)
{
    uid_t me = geteuid();
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    for (;;) {
        char *slash = strrchr(p, '/');
        if (!slash)
            return 0;
        char child[PATH_MAX];
        snprintf(child, sizeof child, "%s", p);
        if (slash == p)
            p[1] = '\0';
        else
            *slash = '\0';
        struct stat st;
        if (lstat(p, &st) != 0) {
            snprintf(err, errlen, "cannot check %s: %s", p, strerror(errno));
            return -1;
        }
        if (st.st_uid != 0 && st.st_uid != me) {
            snprintf(err, errlen,
                     "%s belongs to uid %u, not to root or the user running rune (uid %u): they "
                     "could replace the run's work directory below it; %s",
                     p, (unsigned)st.st_uid, (unsigned)me, fix_hint);
            return -1;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
            if (!(st.st_mode & S_ISVTX)) {
                snprintf(err, errlen,
                         "%s is writable by other users (mode %04o, not sticky): they could "
                         "rename %s and put their own directory in its place; %s",
                         p, (unsigned)(st.st_mode & 07777), child, fix_hint);
                return -1;
            }
            if (child_uid != 0 && child_uid != me) {
                snprintf(err, errlen,
                         "%s belongs to uid %u in the shared directory %s: they could replace "
                         "it; %s",
                         child, (unsigned)child_uid, p, fix_hint);
                return -1;
            }
        }
        child_uid = st.st_uid;
        if (!strcmp(p, "/"))
            return 0;
    }
}

/* STATE/work exists, is a directory (not a symlink), is ours, and nobody
 * else can write in it; its real path in real. */
static int check_work(const char *work, char *real, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(work, &st) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", work, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a directory (%s); remove it, rune creates it", work,
                 S_ISLNK(st.st_mode) ? "a symlink" : "a file");
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen,
                 "%s belongs to uid %u, not to the user running rune (uid %u): they could put "
                 "files in the run's work directory; %s",
                 work, (unsigned)st.st_uid, (unsigned)geteuid(), fix_hint);
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen, "%s is writable by other users (mode %04o); chmod 0700 %s, or %s",
                 work, (unsigned)(st.st_mode & 07777), work, fix_hint);
        return -1;
    }
    if (!realpath(work, real)) {
        snprintf(err, errlen, "cannot resolve %s: %s", work, strerror(errno));
        return -1;
    }
    return check_above(real, st.st_uid, err, errlen);
}

int rune_workdir_create(const char *log_path, const char *incident, char *out, size_t outlen,
                        char *err, size_t errlen)
{
    char state[PATH_MAX], rstate[PATH_MAX], work[PATH_MAX + 8], real[PATH_MAX];
    if (state_dir(log_path, state, sizeof state) != 0) {
        snprintf(err, errlen, "no state directory: the incident log path is empty or too long");
        return -1;
    }
    make_dirs(state);
    if (!realpath(state, rstate)) {
        snprintf(err, errlen, "cannot create %s: %s", state, strerror(errno));
        return -1;
    }
    /* checked before work/ is made in it: nothing of ours goes into a
     * directory another user controls */
    snprintf(work, sizeof work, "%s/work", rstate);
    if (check_above(work, geteuid(), err, errlen) != 0)
        return -1;
    if (mkdir(work, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", work, strerror(errno));
        return -1;
    }
    if (check_work(work, real, err, errlen) != 0)
        return -1;
    int w = snprintf(out, outlen, "%s/%s-XXXXXX", real, incident);
    if (w < 0 || (size_t)w >= outlen) {
        snprintf(err, errlen, "the path of the work directory in %s is too long", real);
        return -1;
    }
    if (!mkdtemp(out)) {
        snprintf(err, errlen, "cannot create a work directory in %s: %s", real, strerror(errno));
        return -1;
    }
    return 0;
}

void rune_workdir_placeholder(const char *log_path, const char *incident, char *out, size_t outlen)
{
    char state[PATH_MAX], abs[PATH_MAX], cwd[PATH_MAX];
    if (state_dir(log_path, state, sizeof state) != 0)
        snprintf(state, sizeof state, ".");
    if (!realpath(state, abs)) {
        if (state[0] != '/' && getcwd(cwd, sizeof cwd))
            snprintf(abs, sizeof abs, "%s/%s", cwd, state);
        else
            snprintf(abs, sizeof abs, "%s", state);
    }
    snprintf(out, outlen, "%s/work/%s-XXXXXX", abs, incident);
}

/* Removes name in the directory at (on device dev), depth levels down. */
static int remove_at(int at, const char *name, const char *top, dev_t dev, int depth, char *err,
                     size_t errlen)
{
    struct stat st;
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot remove %s from %s: %s", name, top, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(at, name, 0) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot remove %s from %s: %s", name, top, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (st.st_dev != dev) {
        snprintf(err, errlen, "a filesystem is mounted at %s in %s; unmount it first", name, top);
        return -1;
    }
    if (depth > MAX_DEPTH) {
        snprintf(err, errlen, "%s holds directories more than %d levels deep", top, MAX_DEPTH);
        return -1;
    }
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s in %s: %s", name, top, strerror(errno));
        return -1;
    }
    /* a step may have left a directory read-only; it is ours to empty */
    if (st.st_uid == geteuid() && (st.st_mode & S_IRWXU) != S_IRWXU)
        (void)fchmod(fd, st.st_mode | S_IRWXU);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        snprintf(err, errlen, "cannot read %s in %s: %s", name, top, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        rc = remove_at(dirfd(d), e->d_name, top, dev, depth + 1, err, errlen);
    }
    closedir(d);
    if (rc == 0 && unlinkat(at, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove %s in %s: %s", name, top, strerror(errno));
        rc = -1;
    }
    return rc;
}

int rune_workdir_remove(const char *dir, char *err, size_t errlen)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (!slash || !slash[1]) {
        snprintf(err, errlen, "refusing to remove %s: not a work directory", dir);
        return -1;
    }
    const char *base = dir + (slash - parent) + 1;
    if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (pfd < 0 || fstat(pfd, &st) != 0) {
        snprintf(err, errlen, "cannot open %s: %s", parent, strerror(errno));
        if (pfd >= 0)
            close(pfd);
        return -1;
    }
    int rc = remove_at(pfd, base, dir, st.st_dev, 0, err, errlen);
    close(pfd);
    return rc;
}
