/*
 * safepath.c — resolving a path input component by component (see
 * safepath.h).
 *
 * The walk keeps `done`, a real directory path with no symlink in it (so
 * its lexical parent is its real parent, and ".." can be applied to it as
 * text), and `todo`, what is left to walk. Each entry is looked up with
 * lstat in `done`, after checking that nobody but the runner and root can
 * change that directory's entries; a symlink is replaced by its target in
 * `todo`. Once an entry does not exist, what follows it is only tidied as
 * text, until ".." leads back out of it.
 */
#include "safepath.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINKS 40 /* as the kernel's ELOOP limit */

struct walk {
    char done[PATH_MAX]; /* "/" or "/a/b", no trailing slash */
    char *todo;          /* malloc'd; components separated by '/' */
    int missing;         /* components appended after one that did not exist (0: none) */
    int links;
    uid_t me;
    const char *asked; /* the path as given, for messages */
    char *err;
    size_t errlen;
};

static bool trusted(uid_t uid, uid_t me)
{
    return uid == 0 || uid == me;
}

static const char *user_name(uid_t uid, char *buf, size_t len)
{
    struct passwd *pw = getpwuid(uid);
    if (pw)
        snprintf(buf, len, "%s", pw->pw_name);
    else
        snprintf(buf, len, "uid %u", (unsigned)uid);
    return buf;
}

static const char *group_name(gid_t gid, char *buf, size_t len)
{
    struct group *gr = getgrgid(gid);
    if (gr)
        snprintf(buf, len, "group %s", gr->gr_name);
    else
        snprintf(buf, len, "gid %u", (unsigned)gid);
    return buf;
}

/* How far the entries of a directory can be trusted. */
enum trust {
    TRUSTED,       /* only the runner and root can change its entries */
    OTHERS_OWN,    /* owned by one other user (a service's own directory) */
    STICKY_SHARED, /* anyone may add entries; each changed only by its owner */
    SHARED,        /* anyone in a group, or everyone, may change any entry */
};

static enum trust classify(const struct stat *st, uid_t me)
{
    bool shared = st->st_mode & (S_IWGRP | S_IWOTH);
    if (!trusted(st->st_uid, me))
        return shared ? SHARED : OTHERS_OWN;
    if (!shared)
        return TRUSTED;
    return st->st_mode & S_ISVTX ? STICKY_SHARED : SHARED;
}

/* Who can change the entries of a SHARED directory, in words. */
static const char *writers(const struct stat *st, uid_t me, char *buf, size_t len)
{
    char who[64];
    if (st->st_mode & S_IWOTH)
        snprintf(buf, len, "every user (it is world-writable%s)",
                 st->st_mode & S_ISVTX ? "" : ", without the sticky bit");
    else
        snprintf(buf, len, "the members of %s (it is group-writable)",
                 group_name(st->st_gid, who, sizeof who));
    if (!trusted(st->st_uid, me)) {
        size_t n = strlen(buf);
        snprintf(buf + n, len - n, " and %s, its owner", user_name(st->st_uid, who, sizeof who));
    }
    return buf;
}

/* The message names the path as given, then the part of it at fault
 * (`a`, first in fmt) unless that is the same path. */
static int refuse(struct walk *w, const char *fmt, const char *a, const char *b)
{
    char what[2 * PATH_MAX + 512];
    snprintf(what, sizeof what, fmt, a, b);
    if (!strcmp(a, w->asked))
        snprintf(w->err, w->errlen, "%s", what);
    else
        snprintf(w->err, w->errlen, "%s: %s", w->asked, what);
    return -1;
}

/* "/" + "x" → "/x"; "/a" + "x" → "/a/x". */
static int append(struct walk *w, const char *name)
{
    size_t n = strlen(w->done);
    int k = snprintf(w->done + n, sizeof w->done - n, "%s%s", n > 1 ? "/" : "", name);
    if (k < 0 || (size_t)k >= sizeof w->done - n) {
        snprintf(w->err, w->errlen, "%s: the path is longer than %d bytes", w->asked, PATH_MAX);
        return -1;
    }
    return 0;
}

static void parent(struct walk *w)
{
    char *slash = strrchr(w->done, '/');
    if (slash == w->done)
        w->done[1] = '\0';
    else if (slash)
        *slash = '\0';
}

/* todo = target + "/" + rest; an absolute target restarts at "/". */
static int follow(struct walk *w, const char *target, const char *rest)
{
    if (++w->links > MAX_LINKS) {
        snprintf(w->err, w->errlen, "%s: more than %d symbolic links on the way (a loop?)",
                 w->asked, MAX_LINKS);
        return -1;
    }
    size_t n = strlen(target) + strlen(rest) + 2;
    char *next = malloc(n);
    if (!next)
        abort();
    snprintf(next, n, "%s/%s", target, rest);
    if (target[0] == '/')
        snprintf(w->done, sizeof w->done, "/");
    free(w->todo);
    w->todo = next;
    return 0;
}

/* One entry, `name`, looked up in w->done; rest is what follows it. */
static int step(struct walk *w, const char *name, const char *rest)
{
    struct stat dir, st;
    char who[256], owner[64];
    if (lstat(w->done, &dir) != 0) {
        w->missing = 1; /* cannot look: nor can whatever uses the path */
        return append(w, name);
    }
    enum trust t = classify(&dir, w->me);
    if (t == SHARED)
        return refuse(w,
                      "it goes through %s, a directory that %s can change: whatever the path "
                      "names there could be swapped for a symlink to any file. Use a path in a "
                      "directory only you (or root) can write to",
                      w->done, writers(&dir, w->me, who, sizeof who));
    char full[PATH_MAX];
    if ((size_t)snprintf(full, sizeof full, "%s%s%s", w->done, strlen(w->done) > 1 ? "/" : "",
                         name) >= sizeof full)
        return append(w, name); /* reports the length */
    if (lstat(full, &st) != 0) {
        w->missing = 1; /* does not exist (yet), or cannot be looked at */
        return append(w, name);
    }
    if (S_ISLNK(st.st_mode) && !trusted(st.st_uid, w->me))
        return refuse(w,
                      "%s is a symbolic link owned by %s, and rune does not follow a link "
                      "another user controls. Check where it points and give that path instead",
                      full, user_name(st.st_uid, owner, sizeof owner));
    if (t == STICKY_SHARED && !trusted(st.st_uid, w->me))
        return refuse(w,
                      "%s is owned by %s, in a directory every user can add to: its owner can "
                      "replace it with a symlink to any file at any moment. Copy what you need "
                      "to a directory only you (or root) can write to and give that path",
                      full, user_name(st.st_uid, owner, sizeof owner));
    if (!S_ISLNK(st.st_mode))
        return append(w, name);
    if (t == OTHERS_OWN)
        return refuse(w,
                      "%s is a symbolic link in a directory %s owns, and rune does not follow "
                      "a link another user can replace. Check where it points and give that path "
                      "instead",
                      full, user_name(dir.st_uid, owner, sizeof owner));
    char target[PATH_MAX];
    ssize_t n = readlink(full, target, sizeof target - 1);
    if (n < 0) {
        snprintf(w->err, w->errlen, "%s: cannot read the symbolic link %s: %s", w->asked, full,
                 strerror(errno));
        return -1;
    }
    target[n] = '\0';
    return follow(w, target, rest);
}

/* Takes the next component off w->todo into name; false when none is left. */
/* Takes the next component off w->todo into name: 1, 0 when none is
 * left, -1 when it is longer than a file name can be. */
static int next_component(struct walk *w, char *name, size_t len, const char **rest)
{
    char *p = w->todo;
    while (*p == '/')
        p++;
    if (!*p)
        return 0;
    size_t n = strcspn(p, "/");
    if (n >= len) {
        snprintf(w->err, w->errlen, "%s: a component is longer than %zu bytes", w->asked, len - 1);
        return -1;
    }
    snprintf(name, len, "%.*s", (int)n, p);
    *rest = p + n;
    return 1;
}

/* "..": the parent. Inside the part that does not exist it undoes one
 * appended component; back out of it, the checks resume (the rest may
 * lead somewhere that exists, and is then looked at like any path). */
static void up(struct walk *w)
{
    parent(w);
    if (w->missing > 0)
        w->missing--;
}

static int walk(struct walk *w)
{
    char name[NAME_MAX + 1];
    const char *rest;
    int more;
    while ((more = next_component(w, name, sizeof name, &rest)) > 0) {
        char *left = strdup(rest);
        if (!left)
            abort();
        free(w->todo);
        w->todo = left;
        int rc = 0;
        if (!strcmp(name, "."))
            continue;
        if (!strcmp(name, ".."))
            up(w);
        else if (w->missing) {
            w->missing++;
            rc = append(w, name);
        } else {
            rc = step(w, name, left);
        }
        if (rc)
            return -1;
    }
    return more;
}

int rune_safepath_resolve(const char *path, char **out, char *err, size_t errlen)
{
    *out = NULL;
    struct walk w = {.done = "/", .me = geteuid(), .asked = path, .err = err, .errlen = errlen};
    char cwd[PATH_MAX] = "";
    if (path[0] != '/' && !getcwd(cwd, sizeof cwd)) {
        snprintf(err, errlen, "%s: a relative path, and the current directory is unknown (%s)",
                 path, strerror(errno));
        return -1;
    }
    size_t n = strlen(cwd) + strlen(path) + 2;
    w.todo = malloc(n);
    if (!w.todo)
        abort();
    /* the current directory is walked too: it may be somewhere shared */
    snprintf(w.todo, n, "%s/%s", cwd, path);
    int rc = walk(&w);
    free(w.todo);
    if (rc == 0) {
        *out = strdup(w.done);
        if (!*out)
            abort();
    }
    return rc;
}
