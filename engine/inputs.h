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
int rune_inputs_resolve(const struct rune_runbook *rb, json_t *sets, json_t **out,
                        json_t **shown, struct rune_redactor *red, struct rune_diags *d);

/* *out: name → value. Missing required secrets are errors. */
int rune_secrets_resolve(const struct rune_runbook *rb, json_t **out, struct rune_redactor *red,
                         struct rune_diags *d);

/* Parses "name=value" into sets (an object); -1 if there is no '='. */
int rune_inputs_parse_set(json_t *sets, const char *arg);

#endif
