/*
 * scratch.c — private scratch directories beside a target, and removing
 * those a crashed run left behind (see scratch.h).
 */
#include "scratch.h"
#include "shareddir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* This host's name as it goes into scratch names: letters, digits and '-'
 * only, at most 32 characters ("host" when it has none). A directory on a
 * filesystem several hosts share is only ever reaped by the host whose
 * process made it: a pid means nothing on another host. */
static void host_tag(char *out, size_t len)
{
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) != 0)
        h[0] = '\0';
    size_t k = 0;
    for (const char *p = h; *p && k + 1 < len && k < 32; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        out[k++] = ok ? ch : '-';
    }
    if (k == 0)
        k = (size_t)snprintf(out, len, "host");
    out[k < len ? k : len - 1] = '\0';
}

int rune_scratch_make(char **out, const char *dir, uid_t trusted, char *err, size_t errlen)
{
    *out = NULL;
    if (rune_dir_check_shared(dir, err, errlen) != 0)
        return -1;
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(err, errlen, "cannot look at directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid() && st.st_uid != trusted) {
        snprintf(err, errlen,
                 "directory %s belongs to another user (uid %ld), who could swap rune's "
                 "temporary files there for their own and read what rune writes into them; use "
                 "a directory owned by root, by you or by the database's owner",
                 dir, (long)st.st_uid);
        return -1;
    }
    char host[40];
    host_tag(host, sizeof host);
    size_t len = strlen(dir) + strlen(RUNE_SCRATCH_PREFIX) + strlen(host) + 40;
    char *path = malloc(len);
    if (!path) {
        snprintf(err, errlen,
                 "no memory for a scratch directory name in %s: free memory on this host and run "
                 "the step again",
                 dir);
        return -1;
    }
    snprintf(path, len, "%s/%s%ld-%s-XXXXXX", strcmp(dir, "/") ? dir : "", RUNE_SCRATCH_PREFIX,
             (long)getpid(), host);
    if (!mkdtemp(path)) {
        snprintf(err, errlen, "cannot create a private scratch directory in %s: %s", dir,
                 strerror(errno));
        free(path);
        return -1;
    }
    *out = path;
    return 0;
}

int rune_scratch_create(const char *scratch, const char *name, mode_t mode, char **path, char *err,
                        size_t errlen)
{
    *path = NULL;
    size_t len = strlen(scratch) + strlen(name) + 2;
    char *p = malloc(len);
    if (!p) {
        snprintf(err, errlen,
                 "no memory for a file name in %s: free memory on this host and run the step again",
                 scratch);
        return -1;
    }
    snprintf(p, len, "%s/%s", scratch, name);
    int fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", p, strerror(errno));
        free(p);
        return -1;
    }
    /* open's mode went through the umask; the caller's mode is exact */
    if (fchmod(fd, mode) != 0) {
        snprintf(err, errlen, "cannot set the mode of %s: %s", p, strerror(errno));
        close(fd);
        unlink(p);
        free(p);
        return -1;
    }
    *path = p;
    return fd;
}

/* Removes every non-directory entry of the directory open as dfd (which
 * this function closes), then the directory `name` in parent. */
static int remove_tree(int parent, const char *name, int dfd)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
    return unlinkat(parent, name, AT_REMOVEDIR);
}

void rune_scratch_remove(char *scratch)
{
    if (!scratch)
        return;
    int dfd = open(scratch, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0)
        remove_tree(AT_FDCWD, scratch, dfd);
    free(scratch);
}

/* The pid in a scratch name made on this host, or 0 when the name is not
 * one (another host's, or not ours at all). */
static long scratch_pid(const char *name, const char *host)
{
    size_t pl = strlen(RUNE_SCRATCH_PREFIX);
    if (strncmp(name, RUNE_SCRATCH_PREFIX, pl) != 0)
        return 0;
    char *end;
    long pid = strtol(name + pl, &end, 10);
    if (end == name + pl || pid <= 0 || *end != '-')
        return 0;
    const char *rest = end + 1;
    size_t hl = strlen(host);
    if (strncmp(rest, host, hl) != 0 || rest[hl] != '-' || strlen(rest + hl + 1) != 6)
        return 0;
    return pid;
}

int rune_scratch_reap(const char *dir, char *first, size_t firstlen)
{
    if (first && firstlen)
        first[0] = '\0';
    int parent = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent < 0)
        return 0;
    DIR *d = fdopendir(parent);
    if (!d) {
        close(parent);
        return 0;
    }
    char host[40];
    host_tag(host, sizeof host);
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid = scratch_pid(e->d_name, host);
        if (pid == 0 || pid == (long)getpid())
            continue;
        /* a process that still exists (or that we may not signal: another
         * user's) keeps its directory */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        int dfd = openat(parent, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
            continue;
        struct stat st;
        if (fstat(dfd, &st) != 0 || st.st_uid != geteuid()) {
            close(dfd);
            continue;
        }
        if (remove_tree(parent, e->d_name, dfd) == 0) {
            if (removed == 0 && first && firstlen)
                snprintf(first, firstlen, "%s", e->d_name);
            removed++;
        }
    }
    closedir(d);
    return removed;
}
