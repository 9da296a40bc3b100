/*
 * luajson.h — Lua values and JSON, both ways, for the sandbox (lua.c).
 * Internal to the Lua glue.
 *
 * JSON goes into Lua as read-only views (no copy, converted on access) or
 * as plain tables; Lua values come back as new JSON values. What comes
 * back is built by jansson, outside Lua's capped allocator, so it is
 * charged against a cap of its own, with depth and cycle checks.
 */
#ifndef RUNE_LUAJSON_H
#define RUNE_LUAJSON_H

#include <jansson.h>
/* lauxlib.h brings Lua's lua.h: <lua.h> would find rune's engine/lua/lua.h */
#include <lauxlib.h>
#include <stdbool.h>
#include <stddef.h>

/* What one value handed back may cost once converted to JSON. */
#define RUNE_LUAJSON_LIMIT (256u << 20)

/* Creates the views' metatable (once per state, while the sandbox is
 * built). */
void rune_luajson_open(lua_State *L);

/* Pushes v: objects and arrays as read-only views when `view` (v borrowed,
 * the view holds a reference), else as plain tables. May raise. */
void rune_luajson_push(lua_State *L, json_t *v, bool view);
void rune_luajson_push_view(lua_State *L, json_t *v);

/* The JSON a view at idx shows (borrowed); raises if idx is no view. */
json_t *rune_luajson_checkview(lua_State *L, int idx);

/* The Lua value at idx as JSON (new reference; a view is copied), or NULL
 * with why in err: no JSON form (a function, a cycle, nan, a key that is
 * not a string or an integer), nested too deep, over the cap, or stopped
 * halfway because the code's deadline passed (rune_lua_budget_expired).
 * Raw access only: never raises, never runs Lua code, allocates nothing
 * in Lua, so it is safe on any value, inside a protected call or not. */
json_t *rune_luajson_value(lua_State *L, int idx, char *err, size_t errlen);

#endif
