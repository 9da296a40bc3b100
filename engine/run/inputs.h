/*
 * inputs.h — what a run is given: declared inputs (from --set or their
 * defaults, typed and checked before any step runs) and secrets (read from
 * the environment or a file, registered for masking).
 */
#ifndef RUNE_INPUTS_H
#define RUNE_INPUTS_H

#include <jansson.h>

#include "diag.h"
#include "model.h"
#include "redact.h"

/* sets: --set name → text. *out: name → typed value; *shown: the same with
 * secret inputs masked (for the log). Returns 0, or -1 with diagnostics. */
int rune_inputs_resolve(const struct rune_runbook *rb, json_t *sets, json_t **out, json_t **shown,
                        struct rune_redactor *red, struct rune_diags *d);

/* Also, once inputs are resolved:
 *   - a --set name or value that is not UTF-8 is refused;
 *   - a `path` input is canonical and safe to follow (safepath.h): its
 *     value is the absolute path with symlinks resolved, or it is refused;
 *   - a password inside a connection string in any input is registered
 *     with red, and masked in *shown. */

/* Passwords a resolved target holds (a field named password, or inside a
 * connection string in any field) registered with red. targets: the run's
 * ctx.targets. */
void rune_targets_register_secrets(json_t *targets, struct rune_redactor *red);

/* *shown replaced by a copy masked with every secret red knows: called once
 * all of the run's secrets are registered, before the inputs are recorded. */
void rune_inputs_mask_shown(json_t **shown, struct rune_redactor *red);

/* *out: name → value. Missing required secrets are errors. */
int rune_secrets_resolve(const struct rune_runbook *rb, json_t **out, struct rune_redactor *red,
                         struct rune_diags *d);

/* Parses "name=value" into sets (an object); -1 if there is no '='. */
int rune_inputs_parse_set(json_t *sets, const char *arg);

#endif
