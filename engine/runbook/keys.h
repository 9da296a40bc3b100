/*
 * keys.h — the keys a runbook may use where, as the loader knows them.
 *
 * loader.c owns the lists (it refuses any other key); schema.c reads them
 * to build the editor schema, so a key added to the loader appears in
 * schemas/runbook.schema.json without a second list to keep.
 */
#ifndef RUNE_KEYS_H
#define RUNE_KEYS_H

#include <stddef.h>

enum rune_keys_where {
    RUNE_KEYS_TOP = 0,
    RUNE_KEYS_STAGE,
    RUNE_KEYS_STEP,
    RUNE_KEYS_INPUT,
    RUNE_KEYS_SECRET,
    RUNE_KEYS_RETRY,
    RUNE_KEYS_OBJECTIVES,
    RUNE_KEYS_DEFAULTS,
    RUNE_KEYS_REPORT,
    RUNE_KEYS_COUNT
};

/* The keys allowed at `where` (static; *n set). */
const char *const *rune_runbook_keys(enum rune_keys_where where, size_t *n);

#endif
