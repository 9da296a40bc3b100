/*
 * lock.c — named run locks with flock(2).
 */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"

int rune_lock_take(const char *dir, const char *name, const char *incident, int *fd, char *msg,
                   size_t len)
{
    char path[4096], safe[256];
    size_t k = 0;
    for (const char *p = name; *p && k < sizeof safe - 1; p++)
        safe[k++] = (*p == '/' || *p == ' ' || *p == '\\') ? '_' : *p;
    safe[k] = '\0';
    /* mkdir -p: the first run on a machine may find no state directory yet */
    char partial[4096];
    snprintf(partial, sizeof partial, "%s", dir);
    for (char *p = partial + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(partial, 0700) != 0 && errno != EEXIST)
            break;
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(msg, len, "cannot create lock directory %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s.lock", dir, safe);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f < 0) {
        snprintf(msg, len, "cannot open lock file %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        char holder[256] = "";
        ssize_t n = pread(f, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        snprintf(msg, len, "lock \"%s\" is held by another run (%s); wait for it to finish, "
                           "or see `rune log`", name, holder[0] ? holder : "unknown holder");
        close(f);
        return 1;
    }
    rune_lock_holder(f, incident);
    *fd = f;
    return 0;
}

void rune_lock_holder(int fd, const char *incident)
{
    char at[RUNE_ISO_LEN];
    rune_clock_iso(at, rune_clock_wall_ms());
    char line[256];
    int ln = snprintf(line, sizeof line, "pid %d, incident %s, since %s\n", (int)getpid(),
                      incident, at);
    if (fd >= 0 && ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)ln, 0) < 0) {
        /* the holder description is a courtesy; the flock is what counts */
    }
}

void rune_lock_release(int fd)
{
    if (fd >= 0) {
        if (ftruncate(fd, 0) != 0) {
            /* ignore: closing releases the lock regardless */
        }
        close(fd);
    }
}
