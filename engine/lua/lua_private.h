/*
 * lua_private.h — what lua.c shares with lua_module.c (step type modules):
 * the state's struct and the protected-call machinery. Not for other files.
 */
#ifndef RUNE_LUA_PRIVATE_H
#define RUNE_LUA_PRIVATE_H

#include <jansson.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

#include "lua.h"

#define TIMED_OUT "timed out (the step's timeout stopped this Lua code)"
#define INTERRUPTED "cancelled: the run was interrupted"

struct rune_lua {
    lua_State *L;
    size_t used;
    long long deadline_ms;
    bool (*cancelled)(void *);
    void *cancel_ctx;
    struct rune_call *call;
    const char *timeout_msg; /* what a timeout says */
    /* RUNE_STEP_TIMEOUT or RUNE_STEP_CANCELLED once the running code was
     * stopped; every later check raises again, until the next evaluation */
    int stopped;
};

/* Starts an evaluation: clears the stop of the previous one. */
void rune_lua_begin(struct rune_lua *R);
/* Runs f(L) with ud as a light userdata in a protected call; 0, or a
 * rune_status with err filled from the error object (read raw). */
int rune_lua_protect(struct rune_lua *R, lua_CFunction f, void *ud, char *err, size_t errlen);
/* Compiles src as chunk `name`, raising on a syntax error (in a protected call). */
void rune_lua_compile(lua_State *L, const char *src, size_t len, const char *name);
/* "@file" for messages. */
void rune_lua_chunk_name(char *name, size_t len, const char *file);
/* The value at idx as JSON (new reference), charged to the cap; NULL with err. */
json_t *rune_lua_to_json(lua_State *L, int idx, char *err, size_t errlen);

#endif
