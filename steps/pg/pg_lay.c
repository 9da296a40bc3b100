/*
 * pg_lay.c — a base backup laid out into a new, empty data directory:
 * the artifact read through its checks (artifact.h: every chunk's SHA-256
 * before a byte of it is used), the tar inside read as a stream (pgtar.h)
 * and each member created relative to the directory, never through a
 * path: every parent is opened with O_NOFOLLOW, every file created with
 * O_CREAT|O_EXCL|O_NOFOLLOW, no absolute name, no "." or ".." component,
 * no symbolic link (a base backup with a tablespace is refused when it is
 * taken). Files and directories are given to the data directory's owner.
 * Nothing here runs tar: what a backup holds cannot point outside.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "pg_physical.h"
#include "pgtar.h"

struct lay {
    struct rune_call *c;
    int root;
    int fd; /* the file being written, -1 between files */
    uid_t uid;
    gid_t gid;
    bool chown;
    unsigned long long done, total;
};

/* Opens (creating when asked) the directory `path` below root, one
 * component at a time, never following a link. Returns an fd or -1. */
static int open_dir(struct lay *l, const char *path, bool create, char *err, size_t errlen)
{
    int fd = dup(l->root);
    char *copy = strdup(path), *save = NULL;
    for (char *part = strtok_r(copy, "/", &save); part && fd >= 0;
         part = strtok_r(NULL, "/", &save)) {
        if (create && mkdirat(fd, part, 0700) == 0 && l->chown &&
            fchownat(fd, part, l->uid, l->gid, AT_SYMLINK_NOFOLLOW) != 0) {
            snprintf(err, errlen, "cannot give %s to the owner: %s", path, strerror(errno));
            close(fd);
            fd = -1;
            break;
        }
        int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            snprintf(err, errlen, "cannot open directory %s of the backup: %s", path,
                     strerror(errno));
        close(fd);
        fd = next;
    }
    free(copy);
    return fd;
}

/* A member's name is a relative path of plain components. */
static int safe_name(const char *name, char *err, size_t errlen)
{
    if (name[0] == '/')
        goto bad;
    for (const char *p = name; *p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            goto bad;
        p += n + (slash ? 1 : 0);
    }
    return 0;
bad:
    snprintf(err, errlen,
             "the backup holds \"%s\", a path outside the data directory: refused, nothing "
             "was started",
             name);
    return -1;
}

static int on_member(void *ctx, const struct rune_tar_member *m, char *err, size_t errlen)
{
    struct lay *l = ctx;
    char name[sizeof m->name];
    /* BASE_BACKUP names a few members "./pg_wal/..." */
    const char *from = m->name;
    while (from[0] == '.' && from[1] == '/')
        from += 2;
    snprintf(name, sizeof name, "%s", from);
    size_t n = strlen(name);
    while (n > 1 && name[n - 1] == '/')
        name[--n] = '\0';
    if (safe_name(name, err, errlen) != 0)
        return -1;
    if (m->type == '2') {
        snprintf(err, errlen, "the backup holds a symbolic link (%s → %s): refused", name, m->link);
        return -1;
    }
    if (m->type == '5') {
        int fd = open_dir(l, name, true, err, errlen);
        if (fd < 0)
            return -1;
        fchmod(fd, (m->mode & 0700) ? m->mode & 0750 : 0700);
        close(fd);
        return 0;
    }
    char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    if (slash)
        *slash = '\0';
    int dir = slash ? open_dir(l, name, true, err, errlen) : dup(l->root);
    if (dir < 0)
        return -1;
    l->fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   m->mode & 0640 ? m->mode & 0640 : 0600);
    int saved = errno;
    close(dir);
    if (l->fd < 0) {
        snprintf(err, errlen, "cannot create %s in the data directory: %s", m->name,
                 strerror(saved));
        return -1;
    }
    if (l->chown && fchown(l->fd, l->uid, l->gid) != 0) {
        snprintf(err, errlen, "cannot give %s to the owner: %s", m->name, strerror(errno));
        return -1;
    }
    return 0;
}

static int on_data(void *ctx, const unsigned char *buf, size_t n, char *err, size_t errlen)
{
    struct lay *l = ctx;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(l->fd, buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "cannot write into the data directory: %s", strerror(errno));
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

static int on_member_end(void *ctx, const struct rune_tar_member *m, char *err, size_t errlen)
{
    (void)m;
    (void)err;
    (void)errlen;
    struct lay *l = ctx;
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    return 0;
}

int rune_pg_lay(struct rune_call *c, const char *backup, const char *data_dir, uid_t uid, gid_t gid,
                char *err, size_t errlen)
{
    if (mkdir(data_dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create the data directory %s: %s", data_dir, strerror(errno));
        return -1;
    }
    struct lay l = {.c = c, .fd = -1, .uid = uid, .gid = gid, .chown = geteuid() == 0};
    l.root = open(data_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (l.root < 0 || (l.chown && fchown(l.root, uid, gid) != 0)) {
        snprintf(err, errlen, "cannot open the new data directory %s: %s", data_dir,
                 strerror(errno));
        if (l.root >= 0)
            close(l.root);
        return -1;
    }
    struct rune_artifact_reader *r = NULL;
    int rc = rune_artifact_reader_open(&r, backup, err, errlen);
    if (rc == 0) {
        l.total = (unsigned long long)json_integer_value(
            json_object_get(rune_artifact_reader_manifest(r), "raw_bytes"));
        struct rune_tar_sink sink = {on_member, on_data, on_member_end, NULL, &l};
        struct rune_tar t;
        rune_tar_init(&t, &sink);
        size_t cap = (size_t)1 << 20;
        unsigned char *buf = malloc(cap);
        ssize_t n = -1;
        if (!buf)
            snprintf(err, errlen, "no memory to read the base backup");
        while (buf && (n = rune_artifact_read(r, buf, cap, err, errlen)) > 0) {
            if (rune_call_cancelled(c)) {
                snprintf(err, errlen, "stopped while laying the base backup");
                n = -1;
                break;
            }
            if (rune_tar_feed(&t, buf, (size_t)n, err, errlen) != 0) {
                n = -1;
                break;
            }
            l.done += (unsigned long long)n;
            rune_call_progress(c, (long long)l.done, (long long)l.total, RUNE_UNIT_BYTES);
        }
        free(buf);
        bool term;
        rc = n < 0 || rune_tar_finish(&t, &term, err, errlen) != 0 ? -1 : 0;
        rune_artifact_reader_close(r);
    }
    if (l.fd >= 0)
        close(l.fd);
    if (rc == 0 && syncfs(l.root) != 0) {
        snprintf(err, errlen, "cannot flush the data directory %s to disk: %s", data_dir,
                 strerror(errno));
        rc = -1;
    }
    close(l.root);
    return rc;
}
