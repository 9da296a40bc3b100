/*
 * lua.h — the Lua glue: a sandboxed Lua 5.4 state for expressions
 * (`when:`, `incident_if:`, `severity:`, `${ ... }`), inline `lua:` steps
 * and step types written in Lua.
 *
 * Sandbox: base functions without dofile/loadfile (and `load` only of
 * text), string (no dump), table, math, utf8, and os.time/date/clock.
 * No io, no os.execute, no require, no debug. Lua reaches the world only
 * through rune.run(type, params), which runs a primitive like a step.
 * Lua code is hostile: whatever it does (raise any value, loop in Lua or
 * in a pattern match, patch the libraries, build a value that explodes
 * into JSON), these functions return with a status and a message. The
 * deadline and cancelled() stop it, inside C library calls too; memory
 * is capped, and so is what is converted to JSON; each evaluation has
 * globals of its own.
 *
 * Threads: a state is used by one thread at a time. A run keeps one state
 * for the expressions its scheduler evaluates; every attempt of an inline
 * or Lua-typed step gets a fresh state in its worker. Steps share data
 * through outputs, never through Lua globals.
 */
#ifndef RUNE_LUA_H
#define RUNE_LUA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "step.h"

struct rune_lua;

struct rune_lua *rune_lua_new(void);
void rune_lua_free(struct rune_lua *L);

/* Makes each member of ctx (an object: inputs, steps, secrets, incident,
 * targets) a read-only global viewing the JSON (borrowed; must stay alive
 * and unchanged while Lua runs). */
void rune_lua_set_context(struct rune_lua *L, json_t *ctx);
/* Stops Lua code at this monotonic time (0 = never), or when cancelled()
 * says so. */
void rune_lua_set_deadline(struct rune_lua *L, long long deadline_ms, bool (*cancelled)(void *),
                           void *ctx);
/* Binds the `rune` API (rune.log, rune.fail, rune.run) to a step call. */
void rune_lua_bind_call(struct rune_lua *L, struct rune_call *c);

/* Evaluates an expression written at `where`; returns its value as JSON
 * (new reference; nil becomes null), or NULL with "file:line: message". */
json_t *rune_lua_eval(struct rune_lua *L, const char *expr, struct rune_mark where, char *err,
                      size_t errlen);
/* Why the last evaluation (rune_lua_eval, rune_lua_run_chunk) was
 * stopped: RUNE_STEP_TIMEOUT (its deadline passed), RUNE_STEP_CANCELLED
 * (cancelled() said so), else RUNE_STEP_OK. */
int rune_lua_stopped(const struct rune_lua *L);
/* Runs a chunk (inline step body) written at `where`; its return value
 * (a table, or nil) becomes outputs. Status as enum rune_status; err set
 * on failure. *outputs is a new reference on success. */
int rune_lua_run_chunk(struct rune_lua *L, const char *code, struct rune_mark where,
                       json_t **outputs, char *err, size_t errlen);

/* Validation: compiles without running. 0, or -1 with the Lua message
 * (without its location) in err and *line set to the runbook line. */
int rune_lua_check(const char *code, bool expression, struct rune_mark where, int *line, char *err,
                   size_t errlen);

/* Modules (step types written in Lua, luatype.c): the module's table as
 * JSON without its functions, plus run/plan booleans saying whether they
 * exist. NULL with "file:line: why" in err. */
json_t *rune_lua_module_info(const char *path, char *err, size_t errlen);
/* Calls module.<fn>(params) (params as a plain table). *result: its return
 * value as JSON (new reference). Returns a rune_status. */
int rune_lua_module_call(struct rune_lua *L, const char *path, const char *fn, json_t *params,
                         json_t **result, char *err, size_t errlen);

/* The pseudo step type of inline `lua:` steps. */
extern const struct rune_step_type rune_lua_inline_type;

#endif
