/*
 * schema.h — the JSON Schema of a runbook (schema.c), for editors and CI.
 */
#ifndef RUNE_SCHEMA_H
#define RUNE_SCHEMA_H

#include <jansson.h>

/* The schema (new reference) from the loader's keys, the step registry as
 * it stands (load Lua types first) and the target kinds. */
json_t *rune_schema_build(void);

#endif
