/*
 * lock.c — named run locks: flock(2) beside a log in a file, or, for a
 * log shared on PostgreSQL, an advisory lock in its database (lock_pg.c),
 * chosen by where the log is.
 *
 * A lock name usually says what it guards (`sqlite/${inputs.path}`), and
 * the lock file is named after it so an operator can see which locks
 * exist. A name may also carry a secret (`${secrets.*}`): the file name
 * and every message then show it masked, and a hash of the real name keeps
 * two different secrets from sharing one lock.
 */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "journal.h"
#include "lock_pg.h"

struct rune_lock {
    int fd;                  /* an flock's file, or -1 */
    struct rune_lock_pg *pg; /* or a lock in the shared log's database */
};

#define READABLE_MAX 200 /* bytes of the name kept readable in the file name */

/* The name as a file name: slash, space and backslash become '_' (as they always
 * have, so a lock taken by an older rune is the same file). */
static void readable(const char *name, char *out, size_t cap)
{
    size_t k = 0;
    for (const char *p = name; *p && k < cap - 1; p++)
        out[k++] = (*p == '/' || *p == ' ' || *p == '\\') ? '_' : *p;
    out[k] = '\0';
}

/* The first 128 bits of SHA-256(name), in hex. */
static void name_hash(const char *name, char hex[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(name, strlen(name), md, &n, EVP_sha256(), NULL) != 1 || n < 16)
        memset(md, 0, 16);
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* dir/NAME.lock, or dir/MASKED-NAME.HASH.lock when the name holds a secret
 * or is too long to be a file name. */
static void lock_path(const char *dir, const char *name, const char *shown, char *path, size_t cap)
{
    char safe[READABLE_MAX + 1];
    readable(shown, safe, sizeof safe);
    if (!strcmp(shown, name) && strlen(name) <= READABLE_MAX) {
        snprintf(path, cap, "%s/%s.lock", dir, safe);
        return;
    }
    char hex[33];
    name_hash(name, hex);
    snprintf(path, cap, "%s/%.100s.%s.lock", dir, safe, hex);
}

static int make_dir(const char *dir, char *msg, size_t len)
{
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
    return 0;
}

static void write_holder(int fd, const char *incident)
{
    char at[RUNE_ISO_LEN];
    rune_clock_iso(at, rune_clock_wall_ms());
    char line[256];
    int ln =
        snprintf(line, sizeof line, "pid %d, incident %s, since %s\n", (int)getpid(), incident, at);
    if (fd >= 0 && ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)ln, 0) < 0) {
        /* the holder description is a courtesy; the flock is what counts */
    }
}

static int take_flock(const char *dir, const char *name, const char *shown, const char *incident,
                      int *fd, char *msg, size_t len)
{
    if (make_dir(dir, msg, len) != 0)
        return -1;
    char path[4600];
    lock_path(dir, name, shown, path, sizeof path);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f < 0) {
        snprintf(msg, len, "cannot open lock file %s: %s%s", path, strerror(errno),
                 errno == ELOOP ? " (it is a symbolic link: remove it)" : "");
        return -1;
    }
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        char holder[256] = "";
        ssize_t n = pread(f, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        snprintf(msg, len,
                 "lock \"%s\" is held by another run (%s); wait for it to finish, "
                 "or see `rune log`",
                 shown, holder[0] ? holder : "unknown holder");
        close(f);
        return 1;
    }
    write_holder(f, incident);
    *fd = f;
    return 0;
}

int64_t rune_lock_key(const char *name)
{
    static const char prefix[] = "rune-lock:";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool done = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
                EVP_DigestUpdate(ctx, prefix, sizeof prefix - 1) == 1 &&
                EVP_DigestUpdate(ctx, name, strlen(name)) == 1 &&
                EVP_DigestFinal_ex(ctx, md, &n) == 1 && n >= 8;
    EVP_MD_CTX_free(ctx);
    if (!done)
        abort(); /* SHA-256 is part of every libcrypto: not having it is a broken install */
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = k << 8 | md[i];
    return (int64_t)k;
}

void rune_lock_key_parts(int64_t key, uint32_t *classid, uint32_t *objid)
{
    *classid = (uint32_t)((uint64_t)key >> 32);
    *objid = (uint32_t)((uint64_t)key & 0xffffffffu);
}

/* With a shared log: the lock in its database; under --offline, when
 * that cannot be reached, an flock on this host, said loudly. */
static int take_pg(const struct rune_lock_place *at, const char *name, const char *shown,
                   const char *incident, struct rune_lock *l, char *msg, size_t len)
{
    struct rune_lock_pg_who who = {shown, rune_lock_key(name), at->host, at->operator_name,
                                   incident};
    int rc = rune_lock_pg_take(at->log, &who, &l->pg, msg, len);
    if (rc != RUNE_LOCK_PG_UNREACHABLE)
        return rc;
    if (!at->offline) {
        strncat(msg, "; a locked runbook needs the shared log to take its lock (or --offline)",
                len - strlen(msg) - 1);
        return -1;
    }
    fprintf(stderr,
            "rune: warning: %s\nrune: --offline: lock \"%s\" is taken on this host only; a run "
            "on another host is not kept out\n",
            msg, shown);
    return take_flock(at->dir, name, shown, incident, &l->fd, msg, len);
}

int rune_lock_take(const struct rune_lock_place *at, const char *name, struct rune_redactor *red,
                   const char *incident, struct rune_lock **out, char *msg, size_t len)
{
    *out = NULL;
    struct rune_lock *l = calloc(1, sizeof *l);
    char *shown = rune_redact(red, name);
    if (!l || !shown) {
        free(l);
        free(shown);
        snprintf(msg, len, "no memory to take a lock");
        return -1;
    }
    l->fd = -1;
    int rc = at->log && rune_journal_is_shared(at->log)
                 ? take_pg(at, name, shown, incident, l, msg, len)
                 : take_flock(at->dir, name, shown, incident, &l->fd, msg, len);
    free(shown);
    if (rc != 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void rune_lock_holder(struct rune_lock *l, const char *incident)
{
    if (l && l->pg)
        rune_lock_pg_holder(l->pg, incident);
    else if (l)
        write_holder(l->fd, incident);
}

int rune_lock_check(struct rune_lock *l, char *msg, size_t len)
{
    /* an flock cannot be lost while rune lives: the kernel holds it */
    return l && l->pg ? rune_lock_pg_check(l->pg, msg, len) : 0;
}

bool rune_lock_lost(struct rune_lock *l, char *msg, size_t len)
{
    return l && l->pg && rune_lock_pg_lost(l->pg, msg, len);
}

void rune_lock_release(struct rune_lock *l)
{
    if (!l)
        return;
    if (l->pg)
        rune_lock_pg_release(l->pg);
    if (l->fd >= 0) {
        if (ftruncate(l->fd, 0) != 0) {
            /* ignore: closing releases the lock regardless */
        }
        close(l->fd);
    }
    free(l);
}
