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

/* rune_param_coerce for parameter p, then its `choices`: the message
 * names the allowed values and the closest one ("\"fulll\" is not one of
 * full, quick (did you mean \"full\"?)"). */
json_t *rune_param_check(const struct rune_param *p, json_t *v, char *err, size_t errlen);

/* "a, b or c" for p's choices into buf; "" without choices. */
const char *rune_param_choices(const struct rune_param *p, char *buf, size_t len);

/* The final parameter object for a call (new reference): unknown names
 * refused, required ones present, defaults filled, every value coerced.
 * On error NULL, err set and *bad the offending parameter name (or NULL). */
json_t *rune_params_prepare(const struct rune_step_type *t, json_t *with, char *err, size_t errlen,
                            const char **bad);

/* The same over any field table (a target kind's): `tname` and `word`
 * ("field") name things in messages. */
json_t *rune_fields_prepare(const char *tname, const struct rune_param *params, const char *word,
                            json_t *with, char *err, size_t errlen, const char **bad);

/* How a parameter stands before its call, for rune_param_groups. */
enum rune_given { RUNE_ABSENT = 0, RUNE_GIVEN, RUNE_UNKNOWN /* ${...}: known once resolved */ };

/* The one_of groups of a table against what is given (given(name, ctx)):
 * -1 with the message in err ("shell.run needs one of argv or script"),
 * *bad the parameter to point at (a second one given, or the first of the
 * group), when a group has none or more than one; 0 otherwise, or when
 * RUNE_UNKNOWN values leave it open. */
int rune_param_groups(const char *tname, const struct rune_param *params,
                      enum rune_given (*given)(const char *name, void *ctx), void *ctx, char *err,
                      size_t errlen, const char **bad);

/* The entry of table `params` (terminated by a NULL name) called `name`;
 * NULL if it has none. */
const struct rune_param *rune_param_find(const struct rune_param *params, const char *name);

/* A parameter's default (YAML text in the table) as JSON; NULL if none. */
json_t *rune_param_default(const struct rune_param *p);

/* The type a runbook's inputs or a Lua step type names ("string", "int",
 * "integer", "duration", ...); (enum rune_type)-1 when none is. */
enum rune_type rune_type_parse(const char *name);
/* A type in words, for messages and listings ("integer", "mapping"). */
const char *rune_type_name(enum rune_type t);

#endif
