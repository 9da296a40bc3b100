/*
 * shareddir.c — refusing what other users can do in directories they can
 * write (see shareddir.h).
 */
#include "shareddir.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rune_dir_check_shared(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            snprintf(err, errlen, "directory %s does not exist: create it first", dir);
        else
            snprintf(err, errlen, "cannot look at directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a directory", dir);
        return -1;
    }
    if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
        snprintf(err, errlen,
                 "directory %s is writable by every user and has no sticky bit: another user "
                 "could replace rune's files there before they are put in place; use a "
                 "directory only trusted users can write, or set its sticky bit (chmod +t)",
                 dir);
        return -1;
    }
    return 0;
}

int rune_link_check(const char *path, char *err, size_t errlen)
{
    struct stat ln;
    if (lstat(path, &ln) != 0 || !S_ISLNK(ln.st_mode))
        return 0;
    char dir[PATH_MAX];
    const char *sl = strrchr(path, '/');
    if (!sl)
        snprintf(dir, sizeof dir, ".");
    else if (sl == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(sl - path), path);
    struct stat d;
    if (stat(dir, &d) != 0)
        return 0; /* the lookup that follows will say what is wrong */
    bool shared = (d.st_mode & S_IWOTH) && (d.st_mode & S_ISVTX);
    if (!shared || ln.st_uid == geteuid() || ln.st_uid == d.st_uid)
        return 0;
    snprintf(err, errlen,
             "%s is a symbolic link that another user (uid %ld) made in the shared directory %s: "
             "rune does not follow it; remove it, or give a path in a directory only trusted "
             "users can write",
             path, (long)ln.st_uid, dir);
    return -1;
}
