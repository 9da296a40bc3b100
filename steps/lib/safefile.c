/*
 * safefile.c — safe files (safefile.h): a temp name beside the target,
 * fsync, rename without replacing, fsync of the directory; and the read
 * and write loops.
 */
#include "safefile.h"
#include "shareddir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rune_write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t rune_read_full(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Directory part of path ("." when there is none). Malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int rune_safe_file_open(struct rune_safe_file *f, const char *path, bool overwrite, mode_t mode,
                        char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s is a directory", path);
            return -1;
        }
        if (!overwrite) {
            snprintf(err, errlen, "%s already exists", path);
            return -1;
        }
    }
    char *dir = dir_of(path);
    const char *base = base_of(path);
    size_t len = (dir ? strlen(dir) : 0) + strlen(base) + 32;
    f->tmp = malloc(len);
    f->path = strdup(path);
    if (!dir || !f->tmp || !f->path) {
        free(dir);
        rune_safe_file_abort(f);
        snprintf(err, errlen,
                 "no memory for the temporary name of %s: free memory on this host and run the "
                 "step again",
                 path);
        return -1;
    }
    /* where other users could swap the temp file for theirs before the
     * rename, nothing is written at all */
    if (rune_dir_check_shared(dir, err, errlen) != 0) {
        free(f->tmp);
        f->tmp = NULL;
        free(dir);
        rune_safe_file_abort(f);
        return -1;
    }
    snprintf(f->tmp, len, "%s/.%s.partial-XXXXXX", dir, base);
    f->fd = mkostemp(f->tmp, O_CLOEXEC);
    if (f->fd < 0) {
        int e = errno;
        if (e == ENOENT)
            snprintf(err, errlen, "directory %s does not exist: create it first", dir);
        else
            snprintf(err, errlen, "cannot create a file in %s: %s", dir, strerror(e));
        free(f->tmp);
        f->tmp = NULL; /* nothing to remove */
        free(dir);
        rune_safe_file_abort(f);
        return -1;
    }
    free(dir);
    /* never set-id: a copy of another user's set-uid file must not become
     * a root-owned one */
    if (fchmod(f->fd, mode & 0777) != 0) {
        snprintf(err, errlen, "cannot set the mode of %s: %s", f->tmp, strerror(errno));
        rune_safe_file_abort(f);
        return -1;
    }
    return 0;
}

void rune_safe_file_abort(struct rune_safe_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->tmp)
        unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    f->fd = -1;
    f->tmp = f->path = NULL;
}

int rune_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    /* some filesystems cannot fsync a directory; the rename is still done */
    if (rc != 0 && (errno == EINVAL || errno == EROFS))
        rc = 0;
    close(fd);
    return rc;
}

static int fsync_dir_of(const char *path)
{
    char *dir = dir_of(path);
    if (!dir)
        return -1;
    int rc = rune_fsync_dir(dir);
    int e = errno;
    free(dir);
    errno = e;
    return rc;
}

/* rename that fails with EEXIST instead of replacing: renameat2 where the
 * filesystem supports it, else link + unlink (also atomic about the name). */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
    if (link(from, to) != 0)
        return -1;
    unlink(from);
    return 0;
}

int rune_safe_file_commit(struct rune_safe_file *f, bool overwrite, char *err, size_t errlen)
{
    if (fsync(f->fd) != 0) {
        snprintf(err, errlen, "cannot flush %s to disk: %s", f->path, strerror(errno));
        goto fail;
    }
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", f->path, strerror(errno));
        goto fail;
    }
    int rc = overwrite ? rename(f->tmp, f->path) : rename_noreplace(f->tmp, f->path);
    if (rc != 0) {
        if (errno == EEXIST)
            snprintf(err, errlen, "%s already exists (it appeared while this step ran)", f->path);
        else
            snprintf(err, errlen, "cannot rename %s to %s: %s", f->tmp, f->path, strerror(errno));
        goto fail;
    }
    free(f->tmp);
    f->tmp = NULL; /* in place: nothing to remove any more */
    if (fsync_dir_of(f->path) != 0) {
        /* the rename may not survive a crash: a new file is taken back, a
         * replaced one cannot be (the old content is gone either way) */
        snprintf(err, errlen, "the directory of %s could not be flushed to disk: %s%s", f->path,
                 strerror(errno), overwrite ? "" : "; the file was removed");
        if (!overwrite)
            unlink(f->path);
        rune_safe_file_abort(f);
        return -1;
    }
    rune_safe_file_abort(f); /* frees the strings */
    return 0;
fail:
    rune_safe_file_abort(f);
    return -1;
}
