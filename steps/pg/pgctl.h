/*
 * pgctl.h — a local PostgreSQL data directory as the failover steps
 * (pg.promote, pg.rebuild_standby) act on it: its owner, the server
 * programs of its major version, and those programs (pg_ctl,
 * pg_controldata, pg_rewind, pg_basebackup) run as the owner.
 *
 * PostgreSQL refuses to run as root and wants its files to belong to the
 * data directory's owner, so when rune runs as root every program runs
 * through `runuser -u OWNER --` (as the pg_ctl service backend does) and
 * every file rune writes into the directory is given to the owner. When
 * rune runs as anyone else it must be the owner itself.
 *
 * Kept small on purpose: only what failover needs. (The pitr helper's
 * pg.recover may grow a similar module; the two can be merged later.)
 */
#ifndef RUNE_PGCTL_H
#define RUNE_PGCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "step.h"

struct rune_pgctl {
    char *data_dir; /* absolute, malloc'd */
    char *bin_dir;  /* the server programs (pg_ctl …), malloc'd */
    char user[64];  /* the data directory's owner */
    uid_t uid;
    gid_t gid;
    bool as_user; /* rune is root and the owner is not: programs run through runuser */
};

/* Checks data_dir (a directory holding PG_VERSION), finds its owner and
 * the programs of its version (bin_dir when given, else
 * /usr/lib/postgresql/VERSION/bin). Returns a rune_status; on failure the
 * call says why. Free with rune_pgctl_free (also after a failure). */
int rune_pgctl_open(struct rune_call *c, const char *data_dir, const char *bin_dir,
                    struct rune_pgctl *s);
void rune_pgctl_free(struct rune_pgctl *s);

/* Runs bin_dir/prog with args (NULL-terminated) as the owner, from "/",
 * under the call's deadline (and `deadline_ms`, monotonic, when not 0).
 * -1 when it could not start (the call says why); else 0 with p filled
 * (the caller checks p->exit_code and calls rune_proc_release). */
int rune_pgctl_spawn(struct rune_call *c, const struct rune_pgctl *s, const char *prog,
                     const char *const *args, char *const *env, long long deadline_ms,
                     struct rune_proc *p);

/* A program that did not exit 0 as a failure of the call: killed by the
 * deadline or a cancel, or its exit status and last words. Returns the
 * status to return. */
int rune_pgctl_failed(struct rune_call *c, const struct rune_pgctl *s, const char *what,
                      const struct rune_proc *p);

/* Is a postmaster running on the directory (pg_ctl status)? A rune_status;
 * *running set on success. */
int rune_pgctl_running(struct rune_call *c, const struct rune_pgctl *s, bool *running);

/* pg_ctl stop -m fast, and -m immediate when fast did not finish within
 * wait_ms. *how says which ("fast", "immediate", "not running"). */
int rune_pgctl_stop(struct rune_call *c, const struct rune_pgctl *s, long long wait_ms, char *how,
                    size_t howlen);

/* pg_ctl start -w with its server log in `log` (NULL: <data_dir>/pg_ctl.log). */
int rune_pgctl_start(struct rune_call *c, const struct rune_pgctl *s, const char *log,
                     long long wait_ms);

/* One line of pg_controldata ("Database cluster state") into out. A
 * rune_status. */
int rune_pgctl_control(struct rune_call *c, const struct rune_pgctl *s, const char *key, char *out,
                       size_t len);

/* Writes `text` into a new file `name` of the data directory, owned by the
 * owner, mode 0600 (O_CREAT|O_EXCL|O_NOFOLLOW). *existed: the file was
 * already there (left as it is). 0, or -1 with err. */
int rune_pgctl_put(const struct rune_pgctl *s, const char *name, const char *text, bool *existed,
                   char *err, size_t errlen);

/* Replaces file `name` of the data directory (or creates it) with
 * `len` bytes of text, in one rename, owned by the owner, mode 0600. 0,
 * or -1 with err. */
int rune_pgctl_replace(const struct rune_pgctl *s, const char *name, const char *text, size_t len,
                       char *err, size_t errlen);

#endif
