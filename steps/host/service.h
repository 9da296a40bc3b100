/*
 * service.h — what the two parts of the service family share: service.c
 * (the service.* steps and their table) and service_target.c (the
 * `service` target kind, read and checked for its backend).
 *
 * Internal to the family: only those two files include it.
 */
#ifndef RUNE_SERVICE_H
#define RUNE_SERVICE_H

#include <stdbool.h>

#include "step.h"

enum backend { BACKEND_PG_CTL, BACKEND_SYSTEMD, BACKEND_COMMAND, BACKEND_COUNT };
/* Their names as the target's `backend` field gives them. */
extern const char *const rune_service_backend_names[];

enum action { ACT_STATUS, ACT_START, ACT_STOP, ACT_RESTART };

/* A target's fields, checked for its backend. Strings are borrowed from
 * the target (which lives for the run) unless noted. */
struct service {
    const char *name;
    enum backend backend;
    long long wait_ms;
    char *pg_ctl, *data_dir, *log; /* pg_ctl: absolute paths, malloc'd */
    const char *user;              /* pg_ctl: the OS user pg_ctl runs as */
    bool as_user;                  /* pg_ctl: rune is root: prefix runuser -u user -- */
    const char *options, *stop_mode;
    const char *unit;                  /* systemd */
    const char *start, *stop, *status; /* command: scripts for /bin/sh -c */
    char *workdir;                     /* command: absolute, malloc'd, or NULL */
    const char *host;                  /* the step's host: (an ssh target), or NULL: here */
};

/* The target the step names (its `target` parameter), checked for its
 * backend: *s filled (free it with the step's service_free), or the call
 * failed. Returns a rune_status. */
int rune_service_load(struct rune_call *c, struct service *s);

/* The command backend needs the scripts action `a` uses: RUNE_STEP_OK, or
 * the call failed saying which is missing. */
int rune_service_need_scripts(struct rune_call *c, const struct service *s, enum action a);

#endif
