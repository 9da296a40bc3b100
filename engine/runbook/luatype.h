/*
 * luatype.h — step types written in Lua, added to the registry when a
 * runbook is loaded (luatype.c, over the Lua layer's lua_module.c).
 */
#ifndef RUNE_LUATYPE_H
#define RUNE_LUATYPE_H

#include "diag.h"

/* Loads the step types written in Lua (luatype.c): *.lua in the bundled
 * lua/steps, in lua/ and lua/steps next to the runbook, and in each
 * directory of $RUNE_LUA_PATH, into the registry. A file already loaded
 * is skipped; problems go to d with the module's path. */
void rune_lua_load_types(const char *runbook_path, struct rune_diags *d);

#endif
