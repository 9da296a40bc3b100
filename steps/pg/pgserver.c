/*
 * pgserver.c — a PostgreSQL server through its data directory. See
 * pgserver.h.
 */
#include "pgserver.h"
#include "lastwords.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int rune_pgserver_init(struct rune_pgserver *s, const char *data_dir, const char *pg_ctl, char *err,
                       size_t errlen)
{
    struct stat st;
    memset(s, 0, sizeof *s);
    s->data_dir = data_dir;
    s->pg_ctl = pg_ctl;
    if (lstat(data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a directory: %s", data_dir,
                 errno ? strerror(errno) : "a file or a symbolic link");
        return -1;
    }
    s->uid = st.st_uid;
    s->gid = st.st_gid;
    if (geteuid() == 0 && st.st_uid != 0) {
        struct passwd pw, *res = NULL;
        char buf[1024];
        if (getpwuid_r(st.st_uid, &pw, buf, sizeof buf, &res) != 0 || !res) {
            snprintf(err, errlen,
                     "%s belongs to uid %u, which has no user name: PostgreSQL's programs "
                     "must run as its owner",
                     data_dir, (unsigned)st.st_uid);
            return -1;
        }
        snprintf(s->user, sizeof s->user, "%s", pw.pw_name);
    } else if (geteuid() != st.st_uid) {
        snprintf(err, errlen,
                 "%s belongs to uid %u; run rune as that user (or as root, which runs "
                 "PostgreSQL's programs as the owner)",
                 data_dir, (unsigned)st.st_uid);
        return -1;
    }
    return 0;
}

pid_t rune_pgserver_pid(const char *data_dir)
{
    char path[4096], line[32] = "";
    snprintf(path, sizeof path, "%s/postmaster.pid", data_dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    long pid = strtol(line, NULL, 10);
    if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        return 0;
    return (pid_t)pid;
}

int rune_pgserver_ctl(struct rune_call *c, const struct rune_pgserver *s, const char *const *args,
                      char *err, size_t errlen)
{
    const char *argv[32];
    size_t n = 0;
    if (s->user[0]) {
        argv[n++] = "runuser";
        argv[n++] = "-u";
        argv[n++] = s->user;
        argv[n++] = "--";
    }
    argv[n++] = s->pg_ctl;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    struct rune_proc p = {.argv = (char *const *)argv, .cwd = "/", .capture_max = 16 << 10};
    if (rune_call_spawn(c, &p) != 0) {
        snprintf(err, errlen, "cannot run %s", s->pg_ctl);
        return -1;
    }
    int rc = 0;
    if (p.timed_out || p.was_cancelled) {
        snprintf(err, errlen, "pg_ctl %s was stopped (%s)", args[0],
                 p.timed_out ? "the step's timeout passed" : "the run is stopping");
        rc = -1;
    } else if (p.exit_code != 0) {
        char words[1024];
        rune_last_words(&p, words, sizeof words);
        snprintf(err, errlen, "pg_ctl %s failed (exit %d): %s", args[0], p.exit_code, words);
        rc = -1;
    }
    rune_proc_release(&p);
    return rc;
}

int rune_pgserver_stop(struct rune_call *c, const struct rune_pgserver *s, char *err, size_t errlen)
{
    if (!rune_pgserver_pid(s->data_dir))
        return 0;
    const char *args[] = {"stop", "-D", s->data_dir, "-m", "fast", "-w", "-t", "600", "-s", NULL};
    return rune_pgserver_ctl(c, s, args, err, errlen);
}

int rune_pgserver_rename(const char *from, const char *to, char *err, size_t errlen)
{
    if (syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */) != 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", from, to, strerror(errno));
        return -1;
    }
    return 0;
}

int rune_pgserver_aside_name(const char *path, const char *what, const char *suffix, char *out,
                             size_t len)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    size_t plen = strlen(path);
    while (plen > 1 && path[plen - 1] == '/')
        plen--;
    for (int i = 1; i < 1000; i++) {
        struct stat st;
        if (i == 1)
            snprintf(out, len, "%.*s.%s-%s%s", (int)plen, path, what, stamp, suffix);
        else
            snprintf(out, len, "%.*s.%s-%s-%d%s", (int)plen, path, what, stamp, i, suffix);
        if (lstat(out, &st) != 0 && errno == ENOENT)
            return 0;
    }
    return -1;
}

int rune_pgserver_new_log(const struct rune_pgserver *s, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create the server log %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = geteuid() == 0 ? fchown(fd, s->uid, s->gid) : 0;
    int saved = errno;
    close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "cannot give %s to the data directory's owner: %s", path,
                 strerror(saved));
        return -1;
    }
    return 0;
}
