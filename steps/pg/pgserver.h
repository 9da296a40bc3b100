/*
 * pgserver.h — a PostgreSQL server controlled through its data directory,
 * for pg.recover and its undo: who owns the directory (server programs
 * run as that user when rune runs as root, through runuser), whether a
 * postmaster runs on it (postmaster.pid and a signal 0), pg_ctl stop and
 * start under the step's deadline, a server log followed as it grows, and
 * directories renamed without ever replacing or nesting (renameat2 with
 * RENAME_NOREPLACE). The host family's service.* steps do the same for
 * services in general, but step families share no private headers, and
 * recovery needs the log's words, not just an exit status.
 */
#ifndef RUNE_PGSERVER_H
#define RUNE_PGSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "step.h"

struct rune_pgserver {
    const char *data_dir;
    const char *pg_ctl; /* path of pg_ctl */
    uid_t uid;          /* the data directory's owner */
    gid_t gid;
    char user[64]; /* its name, for runuser; "" when rune runs as that user */
};

/* Fills s from the data directory's owner. 0, or -1 with err. */
int rune_pgserver_init(struct rune_pgserver *s, const char *data_dir, const char *pg_ctl, char *err,
                       size_t errlen);
/* The postmaster's pid when one runs on the directory, else 0. */
pid_t rune_pgserver_pid(const char *data_dir);
/* pg_ctl ARGS... as the owner, under the call's deadline. 0 when it
 * exited 0; else -1 with its last words in err. */
int rune_pgserver_ctl(struct rune_call *c, const struct rune_pgserver *s, const char *const *args,
                      char *err, size_t errlen);
/* Fast shutdown, waiting up to the step's deadline. 0 (also when none ran). */
int rune_pgserver_stop(struct rune_call *c, const struct rune_pgserver *s, char *err,
                       size_t errlen);

/* rename(from, to) that fails rather than replace anything at `to`. */
int rune_pgserver_rename(const char *from, const char *to, char *err, size_t errlen);
/* A name beside `path` that does not exist: PATH.WHAT-YYYYMMDD-HHMMSS[-N]SUFFIX.
 * The suffix is part of the name checked: two calls in the same second
 * for a server log (".log") must not both get the same free-looking stem. */
int rune_pgserver_aside_name(const char *path, const char *what, const char *suffix, char *out,
                             size_t len);

/* A log file created for the server (O_EXCL, 0600, owned by the owner). */
int rune_pgserver_new_log(const struct rune_pgserver *s, const char *path, char *err,
                          size_t errlen);

#endif
