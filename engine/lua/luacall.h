/*
 * luacall.h — what the Lua bridge (lua.c, luatype.c) needs of a step's
 * call beyond step.h: declared here, below the run layer, and implemented
 * by it (run/call.c), so that the Lua layer never includes the run's
 * state and the run layer only looks down.
 */
#ifndef RUNE_LUACALL_H
#define RUNE_LUACALL_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "diag.h"
#include "step.h"

/* Budget for expressions outside steps (incident_if, severity, lock) and
 * for a Lua step type module's top level. */
#define RUNE_EXPR_TIMEOUT_MS 10000

/* Set by the SIGINT/SIGTERM handler (run.c); long work checks it. */
extern atomic_int rune_interrupted;

/* Engine-side extras of a call, for the Lua bridge (lua.c, luatype.c). */
/* An inline `lua:` step's code, and where it starts in the runbook (*where);
 * NULL for a step without one. */
const char *rune_call_lua_code(struct rune_call *c, struct rune_mark *where);
const struct rune_step_type *rune_call_type(struct rune_call *c);
/* A snapshot of the expression context (new reference), safe to read
 * without the run's lock. */
json_t *rune_call_context(struct rune_call *c);
long long rune_call_deadline(struct rune_call *c);
/* rune.run(type, params) from Lua: validates params like a step's, runs the
 * primitive under the same deadline, records call.start/call.end events
 * under the calling step. Returns a rune_status; *outputs (new reference)
 * set when it ran; err says why it failed. */
int rune_call_nested(struct rune_call *parent, const char *type, json_t *params, json_t **outputs,
                     char *err, size_t errlen);

#endif
