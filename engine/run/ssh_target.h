/*
 * ssh_target.h — the `ssh` target kind (ssh_target.c).
 */
#ifndef RUNE_SSH_TARGET_H
#define RUNE_SSH_TARGET_H

#include <jansson.h>
#include <stddef.h>

#include "step.h"

extern const struct rune_target_kind rune_ssh_target;

/* The option's name as ssh spells it, when `options:` may hold it; NULL
 * when it is refused. */
const char *rune_ssh_option_name(const char *name);
/* "ssh postgres@127.0.0.1:2222" for a resolved ssh target, into buf. */
void rune_ssh_describe(json_t *target, char *buf, size_t len);

#endif
