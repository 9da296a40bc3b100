/*
 * trust.c — reading a file another user could swap (see trust.h).
 */
#include "trust.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static bool ours(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

/* Directory st lets someone else than root and us change its entries;
 * `below` is the owner of the entry under it (sticky directories protect
 * entries from everyone but their owner). */
static bool others_can_change(const struct stat *st, uid_t below)
{
    if (!ours(st->st_uid))
        return true;
    if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
        return false;
    return !(st->st_mode & S_ISVTX) || !ours(below);
}

/* Every directory above `abs` (an absolute path) and each component
 * itself, without following links: see rune_path_trusted. */
static bool chain_ok(const char *abs, int depth)
{
    char buf[PATH_MAX];
    if (depth > 8 || snprintf(buf, sizeof buf, "%s", abs) >= (int)sizeof buf || buf[0] != '/')
        return false;
    struct stat dir, ent;
    if (lstat("/", &dir) != 0)
        return false;
    char *p = buf + 1;
    while (*p) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (*p) {
            if (lstat(buf, &ent) != 0)
                return errno == ENOENT && !slash && !others_can_change(&dir, geteuid());
            if (others_can_change(&dir, ent.st_uid))
                return false;
            if (S_ISLNK(ent.st_mode)) {
                /* a link rune would follow: its owner, then where it leads */
                char target[PATH_MAX];
                if (!ours(ent.st_uid) || !realpath(buf, target) || !chain_ok(target, depth + 1))
                    return false;
                if (stat(buf, &ent) != 0)
                    return false;
            }
            dir = ent;
        }
        if (!slash)
            break;
        *slash = '/';
        p = slash + 1;
    }
    return true;
}

bool rune_path_trusted(const char *path)
{
    char abs[PATH_MAX];
    if (path[0] == '/') {
        snprintf(abs, sizeof abs, "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd) ||
            snprintf(abs, sizeof abs, "%s/%s", cwd, path) >= (int)sizeof abs)
            return false;
    }
    return chain_ok(abs, 0);
}

/* rune_open_input and rune_open_identity: mode is O_RDONLY (with
 * O_NONBLOCK, so that a FIFO planted in its place cannot block the open)
 * or O_PATH. */
static int open_checked(const char *path, int mode, struct stat *st, char *err, size_t errlen)
{
    int fd;
    bool trusted = rune_path_trusted(path);
    if (trusted) {
        fd = open(path, mode | O_CLOEXEC);
    } else {
        struct open_how how = {.flags = (unsigned)(mode | O_CLOEXEC | O_NOFOLLOW),
                               .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
        fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
        if (fd < 0 && errno == ENOSYS) /* before Linux 5.6: the last component only */
            fd = open(path, mode | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            snprintf(err, errlen, "%s does not exist: check the path", path);
        else if (e == ELOOP || e == EXDEV)
            snprintf(err, errlen,
                     "%s goes through a symbolic link in a directory another user "
                     "can change, which could be swapped to point anywhere; name "
                     "the file by its real path",
                     path);
        else
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    /* a hard link another user made to a file they cannot read (where
     * fs.protected_hardlinks is off) is still not theirs to hand to rune */
    if (!trusted && ours(st->st_uid) && st->st_nlink > 1) {
        snprintf(err, errlen,
                 "%s has %lu hard links and lies in a directory another user can "
                 "change: one of them may be a link to a file that is not theirs; "
                 "copy the file to a directory only you can write first",
                 path, (unsigned long)st->st_nlink);
        close(fd);
        return -1;
    }
    if (!(mode & O_PATH)) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    return fd;
}

int rune_open_input(const char *path, struct stat *st, char *err, size_t errlen)
{
    return open_checked(path, O_RDONLY | O_NONBLOCK, st, err, errlen);
}

int rune_open_identity(const char *path, struct stat *st, char *err, size_t errlen)
{
    return open_checked(path, O_PATH, st, err, errlen);
}

int rune_opened_is(const char *path, const struct stat *want, char *err, size_t errlen)
{
    char abs[PATH_MAX];
    if (!realpath(path, abs)) {
        snprintf(err, errlen, "%s vanished while it was being opened", path);
        return -1;
    }
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        snprintf(err, errlen, "cannot check which file was opened for %s: /proc/self/fd: %s", path,
                 strerror(errno));
        return -1;
    }
    int seen = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, abs) != 0)
            continue;
        struct stat st;
        if (stat(link, &st) != 0)
            continue;
        seen++;
        if (st.st_dev != want->st_dev || st.st_ino != want->st_ino) {
            snprintf(err, errlen,
                     "%s was replaced by another file while it was being opened "
                     "(another user can change its directory); nothing was changed",
                     path);
            rc = -1;
        }
    }
    closedir(d);
    if (!seen && !rc) {
        snprintf(err, errlen,
                 "%s was not found open after opening it; it may have been renamed "
                 "away: nothing was changed",
                 path);
        rc = -1;
    }
    return rc;
}
