/*
 * lua.c — the embedded Lua 5.4: sandbox, expressions, inline steps, the
 * `rune` API. Step types written in Lua live in luatype.c, the JSON views
 * and conversions in luajson.c, the budgeted library functions in
 * luapat.c and luatab.c.
 *
 * Lua code here is hostile until proven otherwise; it may fail its run,
 * never abort rune or outlive its timeout. Hence:
 *  - every call into Lua that can raise runs inside one protected call
 *    (rune_lua_protect()); outside it, only raw, non-allocating API calls are made
 *    on the values Lua code returns or raises (an error object may have an
 *    __index that raises, a __tostring that never returns...);
 *  - the deadline and Ctrl-C are checked by an instruction-count hook in
 *    Lua code, and by a step budget in the library functions whose C loops
 *    are not bounded by the memory cap (luapat.c, luatab.c); once stopped,
 *    the code stays stopped: pcall cannot catch the stop;
 *  - each evaluation gets a fresh global environment over the shared,
 *    unreachable globals, and the libraries are read-only proxies, so no
 *    expression can change what the next one sees;
 *  - finalizers (__gc), which Lua runs with hooks off, are refused;
 *  - what crosses into JSON (outside Lua's allocator) is charged against a
 *    cap of its own, with depth and cycle checks.
 *
 * Error locations: a chunk's name is "=<runbook path>" and the code is
 * preceded by as many newlines as put its first line on the runbook line
 * it was written on, so Lua's own "file:line:" messages point into the
 * runbook with no translation.
 */
#include "lua.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "lua_private.h"
#include "luabudget.h"
#include "luacall.h"
#include "luajson.h"
#include "meter.h"

#define MEM_LIMIT (256u << 20) /* a runbook expression has no business with more */
#define HOOK_EVERY 10000       /* instructions between deadline checks */
#define LOAD_MAX (1u << 20)    /* text load() compiles (the parser has no hook) */

/* Registry keys (their addresses): lookups by light userdata never
 * allocate, so they are safe outside a protected call. */
static const char key_fail_mt, key_env_mt, key_env, key_readonly;

/* ---- allocator with a cap ---- */

static void *alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct rune_lua *R = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        R->used -= old;
        free(ptr);
        return NULL;
    }
    if (nsize > old && R->used + (nsize - old) > MEM_LIMIT)
        return NULL; /* Lua raises "not enough memory" */
    void *p = realloc(ptr, nsize);
    if (p)
        R->used = R->used - old + nsize;
    return p;
}

static struct rune_lua *self(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* ---- stopping: deadline and Ctrl-C ---- */

static int why_stop(struct rune_lua *R)
{
    if (R->cancelled && R->cancelled(R->cancel_ctx))
        return RUNE_STEP_CANCELLED;
    if (R->deadline_ms && rune_clock_mono_ms() >= R->deadline_ms)
        return RUNE_STEP_TIMEOUT;
    return RUNE_STEP_OK;
}

static const char *stop_text(const struct rune_lua *R)
{
    return R->stopped == RUNE_STEP_CANCELLED ? INTERRUPTED : R->timeout_msg;
}

void rune_lua_budget_check(lua_State *L)
{
    struct rune_lua *R = self(L);
    if (!R->stopped)
        R->stopped = why_stop(R);
    if (R->stopped) {
        /* no location: the caller knows better where the code was written */
        lua_pushstring(L, stop_text(R));
        lua_error(L);
    }
}

bool rune_lua_budget_expired(lua_State *L)
{
    struct rune_lua *R = self(L);
    if (!R->stopped)
        R->stopped = why_stop(R);
    return R->stopped != RUNE_STEP_OK;
}

/* rune_luajson_value inside a protected call: a conversion stopped by the
 * deadline or Ctrl-C raises the stop, like the code it came from. */
json_t *rune_lua_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
    json_t *v = rune_luajson_value(L, idx, err, errlen);
    if (!v && self(L)->stopped)
        rune_lua_budget_check(L);
    return v;
}

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    rune_lua_budget_check(L);
}

/* Last line of defence: everything that can raise runs in a protected
 * call, so reaching this is a bug in rune. Lua aborts after it returns. */
static int panic(lua_State *L)
{
    const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a message)";
    fprintf(stderr, "rune: internal error: a Lua error escaped every protected call: %s\n", m);
    return 0;
}

/* ---- raw inspection (safe outside a protected call) ---- */

/* The metatable of the value at idx is the one stored at key (raw). */
static bool has_mt(lua_State *L, int idx, const void *key)
{
    if (!lua_getmetatable(L, idx))
        return false;
    lua_rawgetp(L, LUA_REGISTRYINDEX, key);
    bool same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

/* The message of rune.fail's error object (a table with a private
 * metatable holding its message at [1]), or NULL for any other value. */
static const char *fail_message(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !has_mt(L, idx, &key_fail_mt))
        return NULL;
    lua_rawgeti(L, idx, 1);
    const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "failed";
    lua_pop(L, 1); /* the table still holds the string */
    return m;
}

/* What a failed protected call raised, as a status and a message. The
 * error object may be any value: only its type and raw contents are read,
 * never its metamethods, and nothing is allocated. */
static int failure(struct rune_lua *R, int idx, char *err, size_t errlen)
{
    lua_State *L = R->L;
    idx = lua_absindex(L, idx);
    if (R->stopped) {
        snprintf(err, errlen, "%s", stop_text(R));
        return R->stopped;
    }
    if (!lua_checkstack(L, 4)) {
        snprintf(err, errlen, "the Lua code failed (out of stack to read its error)");
        return RUNE_STEP_FAILED;
    }
    const char *m = fail_message(L, idx);
    int t = lua_type(L, idx);
    if (m)
        snprintf(err, errlen, "%s", m);
    else if (t == LUA_TSTRING)
        snprintf(err, errlen, "%s", lua_tostring(L, idx));
    else if (t == LUA_TNUMBER && lua_isinteger(L, idx))
        snprintf(err, errlen, "%lld", (long long)lua_tointeger(L, idx));
    else if (t == LUA_TNUMBER)
        snprintf(err, errlen, "%.14g", (double)lua_tonumber(L, idx));
    else
        snprintf(err, errlen,
                 "the Lua code raised a %s value instead of a message (raise a string with "
                 "error(\"...\"), or fail with rune.fail(message))",
                 lua_typename(L, t));
    return RUNE_STEP_FAILED;
}

/* Runs f(ud) in a protected call: RUNE_STEP_OK, or the status and the
 * message of what it raised in err. f leaves anything it allocates outside
 * Lua (JSON) in ud, so that a raise leaks nothing: the caller owns it. */
int rune_lua_protect(struct rune_lua *R, lua_CFunction f, void *ud, char *err, size_t errlen)
{
    lua_State *L = R->L;
    int top = lua_gettop(L);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, ud);
    int st = RUNE_STEP_OK;
    if (lua_pcall(L, 1, 0, 0) != LUA_OK)
        st = failure(R, -1, err, errlen);
    lua_settop(L, top);
    return st;
}

/* A new evaluation: not stopped. */
void rune_lua_begin(struct rune_lua *R)
{
    R->stopped = RUNE_STEP_OK;
}

/* ---- the `rune` API ---- */

static struct rune_call *bound(lua_State *L)
{
    struct rune_call *c = self(L)->call;
    if (!c)
        luaL_error(L, "the rune API is only available inside a step");
    return c;
}

static int api_log(lua_State *L)
{
    const char *msg = luaL_tolstring(L, 1, NULL);
    rune_call_log(bound(L), "%s", msg);
    return 0;
}

/* rune.progress(done [, total [, unit [, phase]]]): how far the step is,
 * as rune_call_progress (total nil or negative: not known; unit "bytes",
 * "rows", "tables", "pages", "segments" or "items", the default). */
static int api_progress(lua_State *L)
{
    struct rune_call *c = bound(L);
    lua_Number done = luaL_checknumber(L, 1);
    lua_Number total = luaL_optnumber(L, 2, -1);
    const char *name = luaL_optstring(L, 3, "items");
    int unit = rune_unit_parse(name);
    if (unit < 0)
        return luaL_error(L,
                          "rune.progress: unit \"%s\" is not one of bytes, rows, tables, "
                          "pages, segments, items",
                          name);
    if (!(done >= 0 && done < 9.0e18) || !(total < 9.0e18))
        return luaL_error(L, "rune.progress: done must be a number from 0, and total a number "
                             "(or nil when not known)");
    if (!lua_isnoneornil(L, 4))
        rune_call_progress_phase(c, luaL_checkstring(L, 4));
    rune_call_progress(c, (long long)done, total >= 0 ? (long long)total : -1,
                       (enum rune_unit)unit);
    return 0;
}

/* rune.fail's error object: {message} with a private metatable, which
 * failure() recognises by raw access. */
static int api_fail(lua_State *L)
{
    const char *msg = luaL_optstring(L, 1, "failed");
    bound(L);
    lua_createtable(L, 1, 0);
    lua_pushstring(L, msg);
    lua_rawseti(L, -2, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &key_fail_mt);
    lua_setmetatable(L, -2);
    return lua_error(L);
}

static int fail_tostring(lua_State *L)
{
    const char *m = fail_message(L, 1);
    lua_pushstring(L, m ? m : "failed");
    return 1;
}

static int api_run(lua_State *L)
{
    struct rune_call *c = bound(L);
    const char *type = luaL_checkstring(L, 1);
    char err[1024] = "";
    json_t *params =
        lua_isnoneornil(L, 2) ? json_object() : rune_lua_to_json(L, 2, err, sizeof err);
    if (!params || !json_is_object(params)) {
        json_decref(params);
        return luaL_error(L, "rune.run(\"%s\", params): params must be a table of named values%s%s",
                          type, err[0] ? ": " : "", err);
    }
    json_t *outputs = NULL;
    int st = rune_call_nested(c, type, params, &outputs, err, sizeof err);
    json_decref(params);
    if (st != RUNE_STEP_OK) {
        json_decref(outputs);
        return luaL_error(L, "rune.run(\"%s\"): %s", type, err);
    }
    /* a view first (no copy, cannot raise), then the plain tables */
    rune_luajson_push_view(L, outputs);
    json_decref(outputs);
    rune_luajson_push(L, rune_luajson_checkview(L, -1), false);
    return 1;
}

/* print goes where rune.log goes (masked, recorded); an expression has no
 * console to print to. */
static int api_print(lua_State *L)
{
    struct rune_call *c = self(L)->call;
    if (!c)
        return luaL_error(L, "print is not available in expressions (use rune.log inside a "
                             "lua: step)");
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    rune_call_log(c, "%s", lua_tostring(L, -1));
    return 0;
}

static const luaL_Reg rune_api[] = {
    {"log", api_log},           {"fail", api_fail}, {"run", api_run},
    {"progress", api_progress}, {NULL, NULL},
};

/* ---- the sandbox's own base functions ---- */

/* Pushes a fresh global environment for one evaluation: writes stay in
 * it, reads fall through to the shared globals (which no Lua code can
 * reach otherwise). load() gives its chunks the current one. */
static void push_env(lua_State *L)
{
    lua_createtable(L, 0, 2);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &key_env_mt);
    lua_setmetatable(L, -2);
    lua_pushliteral(L, "_G");
    lua_pushvalue(L, -2);
    lua_rawset(L, -3);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key_env);
}

/* string.rep whose result is empty is "" at once: Lua's own copies nothing
 * n times, so string.rep("", math.maxinteger) loops in C for ever, where
 * neither the hook nor the memory cap can stop it. Otherwise Lua's own
 * (an upvalue), whose allocation the memory cap bounds. */
static int safe_rep(lua_State *L)
{
    size_t l, lsep;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || (l == 0 && (lsep == 0 || n == 1))) {
        lua_pushliteral(L, "");
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* load() of text only (a binary chunk can break the VM's invariants), of
 * bounded size (the parser runs without the hook), in the current
 * evaluation's environment unless one is given. */
static int safe_load(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *name = luaL_optstring(L, 2, "=(load)");
    if (n > LOAD_MAX) {
        luaL_pushfail(L);
        lua_pushfstring(L, "load: a chunk of %I bytes is more than the sandbox compiles (%d)",
                        (lua_Integer)n, (int)LOAD_MAX);
        return 2;
    }
    if (luaL_loadbufferx(L, s, n, name, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (!lua_isnone(L, 4))
        lua_pushvalue(L, 4);
    else
        lua_rawgetp(L, LUA_REGISTRYINDEX, &key_env);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    return 1;
}

/* pcall and xpcall, except that they cannot catch the stop (a deadline or
 * Ctrl-C): a loop around pcall would otherwise never end. */
static int finish_pcall(lua_State *L, int status, int extra)
{
    if (status != LUA_OK) {
        if (self(L)->stopped)
            rune_lua_budget_check(L); /* raises again */
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - extra;
}

static int safe_pcall(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    return finish_pcall(L, lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0), 0);
}

/* xpcall's message handler calls the user's, unless the code was stopped:
 * Lua calls a message handler before unwinding, with hooks still off when
 * the stop was raised by the hook, so the user's handler could loop
 * forever there. */
static int xpcall_handler(lua_State *L)
{
    if (self(L)->stopped)
        return 1; /* the error object as it is */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int safe_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, xpcall_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    return finish_pcall(L, lua_pcall(L, n - 2, LUA_MULTRET, 2), 2);
}

static bool is_readonly(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return false;
    bool ro = lua_rawgetp(L, -1, &key_readonly) != LUA_TNIL;
    lua_pop(L, 2);
    return ro;
}

/* rawset, except on the read-only library proxies. */
static int safe_rawset(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    if (is_readonly(L, 1))
        return luaL_error(L, "rawset: the sandbox's libraries are read-only");
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

/* setmetatable, without __gc: Lua runs finalizers with hooks off (at a
 * collection or at lua_close), where no deadline could stop them. */
static int safe_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc (finalizers) is not available in rune's "
                                 "sandbox");
        lua_pop(L, 1);
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* ---- read-only library proxies ---- */

static int ro_newindex(lua_State *L)
{
    return luaL_error(L,
                      "the %s library is read-only (an expression cannot change what the "
                      "next one sees)",
                      lua_tostring(L, lua_upvalueindex(1)));
}

static int ro_next(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_next(L, lua_upvalueindex(1)))
        return 2;
    lua_pushnil(L);
    return 1;
}

static int ro_pairs(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, ro_next, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* Replaces global `name` by an empty table that reads through to it and
 * refuses writes; the real table is then reachable only from C. */
static void make_readonly(lua_State *L, const char *name)
{
    lua_getglobal(L, name);
    lua_newtable(L);
    lua_createtable(L, 0, 5);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, name);
    lua_pushcclosure(L, ro_newindex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, ro_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pushboolean(L, 1);
    lua_rawsetp(L, -2, &key_readonly);
    lua_setmetatable(L, -2);
    lua_setglobal(L, name);
    lua_pop(L, 1);
}

/* Builds the sandbox in a fresh state (in a protected call). */
static int p_sandbox(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},
        {LUA_TABLIBNAME, luaopen_table},
        {LUA_STRLIBNAME, luaopen_string},
        {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},
        {LUA_OSLIBNAME, luaopen_os},
        {NULL, NULL},
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    /* base: no file access, no GC control; _G is each environment's own */
    static const char *const drop[] = {"dofile",         "loadfile", "require",
                                       "collectgarbage", "_G",       NULL};
    for (int i = 0; drop[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, drop[i]);
    }
    static const luaL_Reg base[] = {
        {"load", safe_load},
        {"pcall", safe_pcall},
        {"xpcall", safe_xpcall},
        {"rawset", safe_rawset},
        {"setmetatable", safe_setmetatable},
        {"print", api_print},
        {NULL, NULL},
    };
    lua_pushglobaltable(L);
    luaL_setfuncs(L, base, 0);
    lua_pop(L, 1);
    /* os: only the clock */
    lua_getglobal(L, "os");
    lua_createtable(L, 0, 3);
    static const char *const keep[] = {"time", "date", "clock", NULL};
    for (int i = 0; keep[i]; i++) {
        lua_getfield(L, -2, keep[i]);
        lua_setfield(L, -2, keep[i]);
    }
    lua_setglobal(L, "os");
    lua_pop(L, 1);
    /* string: no dump; pattern functions that honour the deadline; its
     * metatable (the method table of every string) hidden */
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_getfield(L, -1, "rep");
    lua_pushcclosure(L, safe_rep, 1);
    lua_setfield(L, -2, "rep");
    rune_luapat_install(L);
    lua_pop(L, 1);
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    lua_getglobal(L, "table");
    rune_luatab_install(L);
    lua_pop(L, 1);
    /* math: no randomseed — a seed set by one expression would make every
     * later "random" value predictable to it */
    lua_getglobal(L, "math");
    lua_pushnil(L);
    lua_setfield(L, -2, "randomseed");
    lua_pop(L, 1);
    /* the package, io, debug and coroutine libraries are never opened */
    luaL_newlib(L, rune_api);
    lua_setglobal(L, "rune");
    static const char *const libnames[] = {"string", "table", "math", "utf8", "os", "rune", NULL};
    for (int i = 0; libnames[i]; i++)
        make_readonly(L, libnames[i]);

    rune_luajson_open(L);

    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, fail_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key_fail_mt);

    lua_createtable(L, 0, 2);
    lua_pushglobaltable(L);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key_env_mt);
    return 0;
}

struct rune_lua *rune_lua_new(void)
{
    struct rune_lua *R = calloc(1, sizeof *R);
    if (!R)
        abort();
    R->timeout_msg = TIMED_OUT;
    R->L = lua_newstate(alloc, R);
    if (!R->L)
        abort();
    lua_atpanic(R->L, panic);
    char err[256];
    if (rune_lua_protect(R, p_sandbox, NULL, err, sizeof err) != RUNE_STEP_OK) {
        fprintf(stderr, "rune: cannot set up the Lua sandbox: %s\n", err);
        abort();
    }
    lua_sethook(R->L, hook, LUA_MASKCOUNT, HOOK_EVERY);
    return R;
}

void rune_lua_free(struct rune_lua *R)
{
    if (!R)
        return;
    lua_close(R->L);
    free(R);
}

static int p_context(lua_State *L)
{
    json_t *ctx = lua_touserdata(L, 1);
    const char *k;
    json_t *v;
    lua_pushglobaltable(L);
    json_object_foreach(ctx, k, v)
    {
        lua_pushstring(L, k);
        rune_luajson_push(L, v, true);
        lua_rawset(L, -3);
    }
    return 0;
}

void rune_lua_set_context(struct rune_lua *R, json_t *ctx)
{
    char err[256];
    /* fails only when the state is out of memory; the names that could
     * not be set then read as nil, and the expression says so */
    rune_lua_protect(R, p_context, ctx, err, sizeof err);
}

void rune_lua_set_deadline(struct rune_lua *R, long long deadline_ms, bool (*cancelled)(void *),
                           void *ctx)
{
    R->deadline_ms = deadline_ms;
    R->cancelled = cancelled;
    R->cancel_ctx = ctx;
}

void rune_lua_bind_call(struct rune_lua *R, struct rune_call *c)
{
    R->call = c;
}

/* ---- expressions and chunks ---- */

/* Code padded with newlines so that its first line is `line` of the file. */
static char *padded(const char *prefix, const char *code, int line)
{
    int pad = line > 1 ? line - 1 : 0;
    size_t n = (size_t)pad + strlen(prefix) + strlen(code) + 2;
    char *s = malloc(n);
    if (!s)
        abort();
    memset(s, '\n', (size_t)pad);
    snprintf(s + pad, n - (size_t)pad, "%s%s\n", prefix, code);
    return s;
}

void rune_lua_chunk_name(char *name, size_t len, const char *file)
{
    snprintf(name, len, "=%s", file ? file : "?");
}

/* Compiles src as chunk `name` in a fresh environment and leaves the
 * function on the stack; raises the syntax error. */
void rune_lua_compile(lua_State *L, const char *src, size_t len, const char *name)
{
    if (luaL_loadbufferx(L, src, len, name, "t") != LUA_OK)
        lua_error(L);
    push_env(L);
    lua_setupvalue(L, -2, 1);
}

/* One evaluation, run by rune_lua_protect(): the source (owned by the caller),
 * and what came back, or why it cannot be used. */
struct eval {
    const char *src;
    const char *name;
    struct rune_mark where;
    bool chunk;    /* a step body: nil or a table of outputs */
    json_t *out;   /* new reference, for the caller */
    char why[768]; /* out is NULL: why the value cannot be used */
};

static int p_eval(lua_State *L)
{
    struct eval *e = lua_touserdata(L, 1);
    lua_settop(L, 0);
    rune_lua_compile(L, e->src, strlen(e->src), e->name);
    lua_call(L, 0, 1);
    if (e->chunk && lua_isnil(L, -1)) {
        e->out = json_object();
        return 0;
    }
    if (e->chunk && lua_type(L, -1) != LUA_TTABLE) {
        snprintf(e->why, sizeof e->why,
                 "a lua step must return a table of outputs (or nothing), got a %s",
                 luaL_typename(L, -1));
        return 0;
    }
    char why[512];
    e->out = rune_lua_to_json(L, -1, why, sizeof why);
    if (!e->out && e->chunk)
        snprintf(e->why, sizeof e->why, "the outputs are %s", why);
    else if (!e->out)
        snprintf(e->why, sizeof e->why, "%s:%d: the value is %s",
                 e->where.file ? e->where.file : "?", e->where.line, why);
    return 0;
}

/* Runs an expression or a step body; *out as rune_lua_eval and
 * rune_lua_run_chunk describe. */
static int evaluate(struct rune_lua *R, const char *code, bool chunk, struct rune_mark where,
                    json_t **out, char *err, size_t errlen)
{
    char name[512];
    rune_lua_chunk_name(name, sizeof name, where.file);
    char *src = padded(chunk ? "" : "return ", code, where.line);
    struct eval e = {.src = src, .name = name, .where = where, .chunk = chunk};
    rune_lua_begin(R);
    int st = rune_lua_protect(R, p_eval, &e, err, errlen);
    free(src);
    *out = NULL;
    if (st != RUNE_STEP_OK) {
        json_decref(e.out);
        return st;
    }
    if (!e.out) {
        snprintf(err, errlen, "%s", e.why);
        return RUNE_STEP_FAILED;
    }
    *out = e.out;
    return RUNE_STEP_OK;
}

json_t *rune_lua_eval(struct rune_lua *R, const char *expr, struct rune_mark where, char *err,
                      size_t errlen)
{
    json_t *v;
    evaluate(R, expr, false, where, &v, err, errlen);
    return v;
}

int rune_lua_stopped(const struct rune_lua *R)
{
    return R->stopped;
}

int rune_lua_run_chunk(struct rune_lua *R, const char *code, struct rune_mark where,
                       json_t **outputs, char *err, size_t errlen)
{
    int st = evaluate(R, code, true, where, outputs, err, errlen);
    if (st == RUNE_STEP_OK && !json_is_object(*outputs))
        *outputs = json_pack("{s:o}", "value", *outputs);
    return st;
}

int rune_lua_check(const char *code, bool expression, struct rune_mark where, int *line, char *err,
                   size_t errlen)
{
    struct rune_lua *R = rune_lua_new();
    lua_State *L = R->L;
    char name[512];
    rune_lua_chunk_name(name, sizeof name, where.file);
    char *src = padded(expression ? "return " : "", code, where.line);
    int rc = 0;
    /* lua_load is protected: it returns the syntax error as a string */
    if (luaL_loadbufferx(L, src, strlen(src), name, "t") != LUA_OK) {
        const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        /* "file:LINE: message" → line and message */
        const char *p = m ? strstr(m, ": ") : NULL;
        const char *colon = NULL;
        for (const char *q = m; q && p && q < p; q++)
            if (*q == ':')
                colon = q;
        *line = colon ? atoi(colon + 1) : where.line;
        snprintf(err, errlen, "%s", p ? p + 2 : (m ? m : "syntax error"));
        rc = -1;
    }
    free(src);
    rune_lua_free(R);
    return rc;
}

/* ---- inline `lua:` steps ---- */

static bool call_cancelled(void *c)
{
    return rune_call_cancel_status(c) == RUNE_STEP_CANCELLED;
}

static int inline_run(struct rune_call *c)
{
    struct rune_mark where;
    const char *code = rune_call_lua_code(c, &where);
    if (!code)
        return rune_call_fail(c, "this step has no lua: code to run");
    struct rune_lua *R = rune_lua_new();
    json_t *ctx = rune_call_context(c);
    rune_lua_set_context(R, ctx);
    rune_lua_set_deadline(R, rune_call_deadline(c), call_cancelled, c);
    rune_lua_bind_call(R, c);
    json_t *out = NULL;
    char err[2048] = "";
    int status = rune_lua_run_chunk(R, code, where, &out, err, sizeof err);
    rune_lua_free(R);
    json_decref(ctx);
    if (status != RUNE_STEP_OK) {
        rune_call_fail(c, "%s", err);
        return status;
    }
    json_object_update(rune_call_outputs(c), out);
    json_decref(out);
    return RUNE_STEP_OK;
}

static int inline_plan(struct rune_call *c)
{
    rune_call_plan(c, "would run inline Lua (its rune.run calls are planned one by one)");
    return RUNE_STEP_OK;
}

static const struct rune_param no_params[] = {{0}};
static const struct rune_output inline_outputs[] = {
    {"*", RUNE_T_ANY, "whatever the table it returns holds"},
    {0},
};

const struct rune_step_type rune_lua_inline_type = {
    "lua",       "Inline Lua code; its returned table becomes the outputs",
    no_params,   inline_outputs,
    RUNE_WRITES, inline_run,
    inline_plan,
};
