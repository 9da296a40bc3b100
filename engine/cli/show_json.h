/*
 * show_json.h — runbooks as JSON for `rune list --json` and `rune show
 * --json` (show_json.c).
 */
#ifndef RUNE_SHOW_JSON_H
#define RUNE_SHOW_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "model.h"

/* One entry of `rune list --json` (rb may be NULL: unreadable). */
json_t *rune_list_entry_json(const struct rune_runbook *rb, const char *path, bool has_errors);
/* `rune show --json` of a valid runbook. */
json_t *rune_show_json(const struct rune_runbook *rb);

#endif
