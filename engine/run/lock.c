/*
 * lock.c — named run locks with flock(2).
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

int rune_lock_take(const char *dir, const char *name, struct rune_redactor *red,
                   const char *incident, int *fd, char *msg, size_t len)
{
    if (make_dir(dir, msg, len) != 0)
        return -1;
    char *shown = rune_redact(red, name);
    char path[4600];
    lock_path(dir, name, shown, path, sizeof path);
    int rc = -1;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f < 0) {
        snprintf(msg, len, "cannot open lock file %s: %s%s", path, strerror(errno),
                 errno == ELOOP ? " (it is a symbolic link: remove it)" : "");
        goto out;
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
        rc = 1;
        goto out;
    }
    rune_lock_holder(f, incident);
    *fd = f;
    rc = 0;
out:
    free(shown);
    return rc;
}

void rune_lock_holder(int fd, const char *incident)
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

void rune_lock_release(int fd)
{
    if (fd >= 0) {
        if (ftruncate(fd, 0) != 0) {
            /* ignore: closing releases the lock regardless */
        }
        close(fd);
    }
}
