/*
 * luabudget.h — what the budgeted C library functions (luapat.c,
 * luatab.c) need from the sandbox in lua.c, and how they are installed.
 *
 * Lua's instruction-count hook never fires while a C function runs, so a
 * pattern match or a table shift that takes minutes would ignore the
 * step's timeout and Ctrl-C. The few library functions whose work is not
 * bounded by the memory cap are replaced by copies that count their work
 * and call rune_lua_budget_check() every RUNE_LUA_BUDGET units.
 * Internal to the Lua glue: nothing outside lua.c includes it.
 */
#ifndef RUNE_LUABUDGET_H
#define RUNE_LUABUDGET_H

/* lauxlib.h brings Lua's lua.h: <lua.h> would find rune's engine/lua/lua.h */
#include <lauxlib.h>
#include <stdbool.h>

/* Units of work (pattern steps, bytes compared, elements moved) between
 * two checks: a few hundred microseconds at most. */
#define RUNE_LUA_BUDGET 16384

/* Raises the stop error (and does not return) once the state's deadline
 * has passed or its run was interrupted; returns otherwise. */
void rune_lua_budget_check(lua_State *L);

/* The same check without raising: true once the code has been stopped
 * (for work that must unwind itself first, like a JSON conversion). */
bool rune_lua_budget_expired(lua_State *L);

/* Replaces find, match, gmatch and gsub in the string library table at
 * the top of the stack by the budgeted ones (luapat.c). */
void rune_luapat_install(lua_State *L);

/* Replaces insert, remove, move and sort in the table library table at
 * the top of the stack by the budgeted ones (luatab.c). */
void rune_luatab_install(lua_State *L);

#endif
