/*
 * params.h — a step's parameters checked against its type's table: the
 * same rules at validation (for literal values) and just before the step
 * runs (after `${...}` has been resolved).
 */
#ifndef RUNE_PARAMS_H
#define RUNE_PARAMS_H

#include <jansson.h>
#include <stddef.h>

#include "step.h"

/* Checks v against t and returns the value the primitive will see (new
 * reference): durations become integer milliseconds, numeric text becomes
 * a number, a lone string becomes a one-item list for RUNE_T_STRLIST.
 * NULL with the reason in err ("expected a duration like 30s, found ..."). */
json_t *rune_param_coerce(enum rune_type t, json_t *v, char *err, size_t errlen);

/* The final parameter object for a call (new reference): unknown names
 * refused, required ones present, defaults filled, every value coerced.
 * On error NULL, err set and *bad the offending parameter name (or NULL). */
json_t *rune_params_prepare(const struct rune_step_type *t, json_t *with, char *err,
                            size_t errlen, const char **bad);

/* The same over any field table (a target kind's): `tname` and `word`
 * ("field") name things in messages. */
json_t *rune_fields_prepare(const char *tname, const struct rune_param *params, const char *word,
                            json_t *with, char *err, size_t errlen, const char **bad);

/* A parameter's default (YAML text in the table) as JSON; NULL if none. */
json_t *rune_param_default(const struct rune_param *p);

#endif
