/*
 * pg_restore_pgdump.c — pg.restore of pg_dump's own files: a plain script
 * (.sql, .sql.gz, or one compressed by file.compress) fed to psql inside
 * one transaction that is committed only when the whole file was read, and
 * custom or directory archives (pg_dump -Fc / -Fd) through pg_restore.
 * Passwords reach psql and pg_restore through their environment only.
 */
#include "pg_backup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "artifact.h"
#include "safefile.h"

#define IO_BUF (1 << 20)

/* Feeds a plain script to psql through a FIFO, inside BEGIN ... COMMIT:
 * COMMIT is written only after the whole file was read and checked, so a
 * damaged or truncated file is rolled back (psql meets the end of its
 * input inside the transaction and disconnects). */
struct feeder {
    struct rune_pg_restore *r;
    const char *fifo;
    atomic_bool stop;
    char err[512];
};

static int feeder_open(struct feeder *f)
{
    for (;;) {
        int fd = open(f->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            return fd;
        }
        if (errno != ENXIO || atomic_load(&f->stop))
            return -1; /* psql never opened it: it failed before reading */
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void *feeder_main(void *arg)
{
    struct feeder *f = arg;
    struct rune_pg_restore *r = f->r;
    int fd = feeder_open(f);
    if (fd < 0)
        return NULL;
    char *buf = malloc(IO_BUF);
    if (!buf)
        abort();
    gzFile gz = NULL;
    int in = -1;
    struct rune_artifact_reader *rd = NULL;
    if (r->src == RUNE_PG_SRC_ARTIFACT) {
        if (rune_artifact_reader_open(&rd, r->from, f->err, sizeof f->err) != 0)
            goto out;
    } else {
        in = open(r->from, O_RDONLY | O_CLOEXEC);
        if (in < 0 || (r->src == RUNE_PG_SRC_GZIP && !(gz = gzdopen(in, "rb")))) {
            snprintf(f->err, sizeof f->err, "cannot read %s: %s", r->from, strerror(errno));
            goto out;
        }
        if (gz)
            in = -1; /* gzclose closes it */
    }
    if (rune_write_all(fd, "BEGIN;\n", 7) != 0)
        goto out;
    for (;;) {
        ssize_t n;
        if (rd)
            n = rune_artifact_read(rd, buf, IO_BUF, f->err, sizeof f->err);
        else if (gz)
            n = gzread(gz, buf, IO_BUF);
        else
            n = rune_read_full(in, buf, IO_BUF);
        int e = Z_OK;
        if (gz && n <= 0)
            gzerror(gz, &e);
        if (gz && (n < 0 || e != Z_OK)) {
            /* zlib reports a file cut inside a member as a short read with
             * Z_BUF_ERROR, not as an error */
            snprintf(f->err, sizeof f->err, "%s is damaged: %s", r->from,
                     e == Z_BUF_ERROR ? "it ends inside a gzip member (truncated)"
                                      : gzerror(gz, &e));
            n = -1;
        } else if (n < 0 && !rd) {
            snprintf(f->err, sizeof f->err, "cannot read %s: %s", r->from, strerror(errno));
        } else if (n < 0) {
            char why[sizeof f->err];
            snprintf(why, sizeof why, "%s", f->err);
            snprintf(f->err, sizeof f->err, "cannot read backup %s: %s", r->from, why);
        }
        if (n < 0 || atomic_load(&f->stop))
            goto out;
        if (n == 0)
            break;
        if (rune_write_all(fd, buf, (size_t)n) != 0)
            goto out; /* psql stopped reading: its error says why */
    }
    rune_write_all(fd, "\n;\nCOMMIT;\n", 11);
out:
    if (gz)
        gzclose(gz);
    if (in >= 0)
        close(in);
    rune_artifact_reader_close(rd);
    free(buf);
    close(fd);
    return NULL;
}

int rune_pg_restore_plain(struct rune_pg_restore *r)
{
    char err[1024];
    char *work = rune_pg_workdir(NULL, err, sizeof err);
    if (!work)
        return rune_pg_failed(r->c, err);
    char fifo[PATH_MAX + 16];
    snprintf(fifo, sizeof fifo, "%s/script.sql", work);
    if (mkfifo(fifo, 0600) != 0) {
        int st = rune_call_fail(r->c, "cannot create a pipe in %s: %s", work, strerror(errno));
        rune_pg_workdir_remove(work);
        return st;
    }
    struct feeder f = {.r = r, .fifo = fifo};
    pthread_t th;
    int e = pthread_create(&th, NULL, feeder_main, &f);
    if (e != 0) {
        rune_pg_workdir_remove(work);
        return rune_call_fail(r->c,
                              "cannot start the thread that feeds %s to psql: %s; nothing was "
                              "restored — free memory or raise the process limit, and run the "
                              "step again",
                              r->from, strerror(e));
    }
    int st = rune_pg_psql(r, fifo, false, NULL, 0);
    atomic_store(&f.stop, true);
    pthread_join(th, NULL);
    rune_pg_workdir_remove(work);
    if (f.err[0])
        return rune_call_fail(r->c, "%s; psql rolled back what it had run", f.err);
    return st;
}

int rune_pg_restore_archive(struct rune_pg_restore *r)
{
    char prog[PATH_MAX], jobs[32], db[RUNE_PG_NAME_MAX * 2 + 32];
    /* a connection string, so that no name is ever read as one */
    size_t at = (size_t)snprintf(db, sizeof db, "--dbname=dbname='");
    for (const char *p = r->load; *p && at + 3 < sizeof db; p++) {
        if (*p == '\'' || *p == '\\')
            db[at++] = '\\';
        db[at++] = *p;
    }
    snprintf(db + at, sizeof db - at, "'");
    bool merge = !strcmp(r->mode, "merge");
    snprintf(jobs, sizeof jobs, merge ? "--single-transaction" : "--jobs=%d", r->jobs);
    char *argv[] = {(char *)rune_pg_tool(r->c, "pg_restore", prog, sizeof prog),
                    "--exit-on-error",
                    "--no-password",
                    jobs,
                    db,
                    r->from,
                    NULL};
    return rune_pg_tool_run(r->c, argv, r->env, NULL, 0);
}
