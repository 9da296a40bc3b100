/*
 * lua.c — the embedded Lua 5.4: sandbox, JSON views, expressions, inline
 * steps, the `rune` API. Step types written in Lua live in luatype.c.
 *
 * Error locations: a chunk's name is "=<runbook path>" and the code is
 * preceded by as many newlines as put its first line on the runbook line
 * it was written on, so Lua's own "file:line:" messages point into the
 * runbook with no translation.
 */
#include "lua.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "runstate.h"

#define MEM_LIMIT (256u << 20) /* a runbook expression has no business with more */
#define HOOK_EVERY 10000       /* instructions between deadline checks */
#define JSON_MT "rune.json"
#define FAIL_KEY "__rune_fail"

struct rune_lua {
    lua_State *L;
    size_t used;
    long long deadline_ms;
    bool (*cancelled)(void *);
    void *cancel_ctx;
    struct rune_call *call;
};

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

/* ---- deadline ---- */

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct rune_lua *R = self(L);
    if (R->deadline_ms && rune_clock_mono_ms() >= R->deadline_ms)
        luaL_error(L, "timed out (the step's timeout stopped this Lua code)");
    if (R->cancelled && R->cancelled(R->cancel_ctx))
        luaL_error(L, "cancelled: the run was interrupted");
}

/* ---- JSON <-> Lua ---- */

static void push_json(lua_State *L, json_t *v, bool view);

/* A read-only view of a JSON object or array: no copy, converted on access. */
static void push_view(lua_State *L, json_t *v)
{
    json_t **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = json_incref(v);
    luaL_setmetatable(L, JSON_MT);
}

static void push_json(lua_State *L, json_t *v, bool view)
{
    switch (json_typeof(v)) {
    case JSON_NULL: lua_pushnil(L); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); break;
    case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
    case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
    case JSON_ARRAY:
        if (view) {
            push_view(L, v);
        } else {
            lua_createtable(L, (int)json_array_size(v), 0);
            for (size_t i = 0; i < json_array_size(v); i++) {
                push_json(L, json_array_get(v, i), false);
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            }
        }
        break;
    case JSON_OBJECT:
        if (view) {
            push_view(L, v);
        } else {
            const char *k;
            json_t *x;
            lua_createtable(L, 0, (int)json_object_size(v));
            json_object_foreach(v, k, x)
            {
                push_json(L, x, false);
                lua_setfield(L, -2, k);
            }
        }
        break;
    }
}

static int view_index(lua_State *L)
{
    json_t *v = *(json_t **)luaL_checkudata(L, 1, JSON_MT);
    json_t *x = NULL;
    if (json_is_object(v) && lua_type(L, 2) == LUA_TSTRING)
        x = json_object_get(v, lua_tostring(L, 2));
    else if (json_is_array(v) && lua_isinteger(L, 2)) {
        lua_Integer i = lua_tointeger(L, 2);
        if (i >= 1 && (size_t)i <= json_array_size(v))
            x = json_array_get(v, (size_t)i - 1);
    }
    if (!x)
        lua_pushnil(L);
    else
        push_json(L, x, true);
    return 1;
}

static int view_newindex(lua_State *L)
{
    return luaL_error(L, "this value is read-only (steps share data through outputs)");
}

static int view_len(lua_State *L)
{
    json_t *v = *(json_t **)luaL_checkudata(L, 1, JSON_MT);
    lua_pushinteger(L, json_is_array(v) ? (lua_Integer)json_array_size(v)
                                        : (lua_Integer)json_object_size(v));
    return 1;
}

static int view_gc(lua_State *L)
{
    json_t **box = luaL_checkudata(L, 1, JSON_MT);
    json_decref(*box);
    *box = NULL;
    return 0;
}

/* pairs(view): iterate keys (objects, in insertion order) or indices. */
static int view_next(lua_State *L)
{
    json_t *v = *(json_t **)luaL_checkudata(L, 1, JSON_MT);
    if (json_is_array(v)) {
        lua_Integer i = lua_isnil(L, 2) ? 0 : luaL_checkinteger(L, 2);
        if ((size_t)i >= json_array_size(v))
            return 0;
        lua_pushinteger(L, i + 1);
        push_json(L, json_array_get(v, (size_t)i), true);
        return 2;
    }
    void *it = lua_isnil(L, 2) ? json_object_iter(v)
                               : json_object_iter_next(v, json_object_iter_at(v, lua_tostring(L, 2)));
    if (!it)
        return 0;
    lua_pushstring(L, json_object_iter_key(it));
    push_json(L, json_object_iter_value(it), true);
    return 2;
}

static int view_pairs(lua_State *L)
{
    luaL_checkudata(L, 1, JSON_MT);
    lua_pushcfunction(L, view_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int view_tostring(lua_State *L)
{
    json_t *v = *(json_t **)luaL_checkudata(L, 1, JSON_MT);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    lua_pushstring(L, s ? s : "?");
    free(s);
    return 1;
}

/* Lua value at idx to JSON (new reference); NULL with err on a value that
 * has no JSON form (a function, a cycle). */
static json_t *to_json(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
    idx = lua_absindex(L, idx);
    if (depth > 64) {
        snprintf(err, errlen, "value nested too deeply (a table that contains itself?)");
        return NULL;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return json_null();
    case LUA_TBOOLEAN: return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        json_t *j = json_stringn(s, n);
        if (!j)
            snprintf(err, errlen, "a string that is not valid UTF-8");
        return j;
    }
    case LUA_TUSERDATA: {
        json_t **box = luaL_testudata(L, idx, JSON_MT);
        if (box)
            return json_incref(*box);
        break;
    }
    case LUA_TTABLE: {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        size_t count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            count++;
            lua_pop(L, 1);
        }
        if (n > 0 && (size_t)n == count) {
            json_t *a = json_array();
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, i);
                json_t *x = to_json(L, -1, depth + 1, err, errlen);
                lua_pop(L, 1);
                if (!x) {
                    json_decref(a);
                    return NULL;
                }
                json_array_append_new(a, x);
            }
            return a;
        }
        json_t *o = json_object();
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            char key[64];
            const char *k;
            if (lua_type(L, -2) == LUA_TSTRING) {
                k = lua_tostring(L, -2);
            } else if (lua_isinteger(L, -2)) {
                snprintf(key, sizeof key, "%lld", (long long)lua_tointeger(L, -2));
                k = key;
            } else {
                snprintf(err, errlen, "table keys must be strings or integers");
                lua_pop(L, 2);
                json_decref(o);
                return NULL;
            }
            json_t *x = to_json(L, -1, depth + 1, err, errlen);
            if (!x) {
                lua_pop(L, 2);
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, k, x);
            lua_pop(L, 1);
        }
        return o;
    }
    default: break;
    }
    snprintf(err, errlen, "a %s has no JSON form", luaL_typename(L, idx));
    return NULL;
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

static int api_fail(lua_State *L)
{
    const char *msg = luaL_optstring(L, 1, "failed");
    bound(L);
    lua_createtable(L, 0, 1);
    lua_pushstring(L, msg);
    lua_setfield(L, -2, FAIL_KEY);
    return lua_error(L);
}

static int api_run(lua_State *L)
{
    struct rune_call *c = bound(L);
    const char *type = luaL_checkstring(L, 1);
    char err[1024] = "";
    json_t *params = lua_isnoneornil(L, 2) ? json_object() : to_json(L, 2, 0, err, sizeof err);
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
    push_json(L, outputs, false);
    json_decref(outputs);
    return 1;
}

static const luaL_Reg rune_api[] = {
    {"log", api_log},
    {"fail", api_fail},
    {"run", api_run},
    {NULL, NULL},
};

/* load() of text only: a binary chunk can break the VM's invariants. */
static int safe_load(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *name = luaL_optstring(L, 2, "=(load)");
    if (luaL_loadbufferx(L, s, n, name, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return 1;
}

static void sandbox(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},       {LUA_TABLIBNAME, luaopen_table},
        {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_OSLIBNAME, luaopen_os},
        {NULL, NULL},
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    /* base: no file access, text-only load */
    static const char *const drop[] = {"dofile", "loadfile", "require", "collectgarbage", NULL};
    for (int i = 0; drop[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, drop[i]);
    }
    lua_pushcfunction(L, safe_load);
    lua_setglobal(L, "load");
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
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    /* the package and debug libraries are never opened */
    luaL_newlib(L, rune_api);
    lua_setglobal(L, "rune");

    static const luaL_Reg view_mt[] = {
        {"__index", view_index}, {"__newindex", view_newindex}, {"__len", view_len},
        {"__gc", view_gc},       {"__pairs", view_pairs},       {"__tostring", view_tostring},
        {NULL, NULL},
    };
    luaL_newmetatable(L, JSON_MT);
    luaL_setfuncs(L, view_mt, 0);
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

struct rune_lua *rune_lua_new(void)
{
    struct rune_lua *R = calloc(1, sizeof *R);
    if (!R)
        abort();
    R->L = lua_newstate(alloc, R);
    if (!R->L)
        abort();
    sandbox(R->L);
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

void rune_lua_set_context(struct rune_lua *R, json_t *ctx)
{
    const char *k;
    json_t *v;
    json_object_foreach(ctx, k, v)
    {
        push_json(R->L, v, true);
        lua_setglobal(R->L, k);
    }
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

static int load(lua_State *L, const char *code, bool expression, struct rune_mark where)
{
    char name[512];
    snprintf(name, sizeof name, "=%s", where.file ? where.file : "?");
    char *src = padded(expression ? "return " : "", code, where.line);
    int rc = luaL_loadbufferx(L, src, strlen(src), name, "t");
    free(src);
    return rc;
}

/* The message of a failed pcall, as text (an error may be any value). */
static void error_text(lua_State *L, char *err, size_t errlen)
{
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_getfield(L, -1, FAIL_KEY);
        snprintf(err, errlen, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "failed");
        lua_pop(L, 1);
    } else {
        const char *m = lua_tostring(L, -1);
        snprintf(err, errlen, "%s", m ? m : "(error object is not a string)");
    }
    lua_pop(L, 1);
}

static bool is_fail(lua_State *L)
{
    if (lua_type(L, -1) != LUA_TTABLE)
        return false;
    lua_getfield(L, -1, FAIL_KEY);
    bool f = !lua_isnil(L, -1);
    lua_pop(L, 1);
    return f;
}

json_t *rune_lua_eval(struct rune_lua *R, const char *expr, struct rune_mark where, char *err,
                      size_t errlen)
{
    lua_State *L = R->L;
    if (load(L, expr, true, where) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        error_text(L, err, errlen);
        return NULL;
    }
    json_t *v = to_json(L, -1, 0, err, errlen);
    lua_pop(L, 1);
    if (!v) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errlen, "%s:%d: the value is %s", where.file, where.line, tmp);
    }
    return v;
}

int rune_lua_run_chunk(struct rune_lua *R, const char *code, struct rune_mark where,
                       json_t **outputs, char *err, size_t errlen)
{
    lua_State *L = R->L;
    *outputs = NULL;
    if (load(L, code, false, where) != LUA_OK) {
        error_text(L, err, errlen);
        return RUNE_STEP_FAILED;
    }
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        bool failed_on_purpose = is_fail(L);
        error_text(L, err, errlen);
        if (!failed_on_purpose && strstr(err, "timed out (the step's timeout"))
            return RUNE_STEP_TIMEOUT;
        if (!failed_on_purpose && strstr(err, "cancelled: the run was interrupted"))
            return RUNE_STEP_CANCELLED;
        return RUNE_STEP_FAILED;
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        *outputs = json_object();
        return RUNE_STEP_OK;
    }
    if (lua_type(L, -1) != LUA_TTABLE) {
        snprintf(err, errlen, "a lua step must return a table of outputs (or nothing), got a %s",
                 luaL_typename(L, -1));
        lua_pop(L, 1);
        return RUNE_STEP_FAILED;
    }
    json_t *o = to_json(L, -1, 0, err, errlen);
    lua_pop(L, 1);
    if (!o)
        return RUNE_STEP_FAILED;
    if (!json_is_object(o)) {
        json_t *w = json_pack("{s:o}", "value", o);
        o = w;
    }
    *outputs = o;
    return RUNE_STEP_OK;
}

int rune_lua_check(const char *code, bool expression, struct rune_mark where, int *line,
                   char *err, size_t errlen)
{
    struct rune_lua *R = rune_lua_new();
    int rc = 0;
    if (load(R->L, code, expression, where) != LUA_OK) {
        const char *m = lua_tostring(R->L, -1);
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
    const struct rune_stepdef *st = rune_call_stepdef(c);
    struct rune_lua *R = rune_lua_new();
    json_t *ctx = rune_call_context(c);
    rune_lua_set_context(R, ctx);
    rune_lua_set_deadline(R, rune_call_deadline(c), call_cancelled, c);
    rune_lua_bind_call(R, c);
    struct rune_mark where = st->lua->mark;
    if (st->lua->block) {
        where.line++;
        where.col = 1;
    }
    json_t *out = NULL;
    char err[2048] = "";
    int status = rune_lua_run_chunk(R, st->lua->str, where, &out, err, sizeof err);
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
    "lua", "Inline Lua code; its returned table becomes the outputs", no_params,
    inline_outputs, RUNE_WRITES, inline_run, inline_plan,
};

/* ---- modules (step types written in Lua; see luatype.c) ---- */

/* Loads and runs the module file; leaves its returned table on the stack. */
static int load_module(lua_State *L, const char *path, char *err, size_t errlen)
{
    char name[600];
    snprintf(name, sizeof name, "=%s", path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read", path);
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n > cap) {
            cap = (len + n) * 2;
            buf = realloc(buf, cap);
            if (!buf)
                abort();
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    int rc = luaL_loadbufferx(L, buf ? buf : "", len, name, "t");
    free(buf);
    if (rc != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        error_text(L, err, errlen);
        return -1;
    }
    if (lua_type(L, -1) != LUA_TTABLE) {
        snprintf(err, errlen, "%s: a step type module must return a table {name, summary, "
                              "params, outputs, effect, run, plan}", path);
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

json_t *rune_lua_module_info(const char *path, char *err, size_t errlen)
{
    struct rune_lua *R = rune_lua_new();
    rune_lua_set_deadline(R, rune_clock_mono_ms() + RUNE_EXPR_TIMEOUT_MS, NULL, NULL);
    lua_State *L = R->L;
    json_t *info = NULL;
    if (load_module(L, path, err, errlen) != 0)
        goto out;
    info = json_object();
    static const char *const fields[] = {"name", "summary", "params", "outputs", "effect", NULL};
    for (int i = 0; fields[i]; i++) {
        lua_getfield(L, -1, fields[i]);
        if (!lua_isnil(L, -1)) {
            char why[256];
            json_t *v = to_json(L, -1, 0, why, sizeof why);
            if (!v) {
                snprintf(err, errlen, "%s: field %s: %s", path, fields[i], why);
                lua_pop(L, 2);
                json_decref(info);
                info = NULL;
                goto out;
            }
            json_object_set_new(info, fields[i], v);
        }
        lua_pop(L, 1);
    }
    static const char *const fns[] = {"run", "plan", NULL};
    for (int i = 0; fns[i]; i++) {
        lua_getfield(L, -1, fns[i]);
        json_object_set_new(info, fns[i], json_boolean(lua_isfunction(L, -1)));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
out:
    rune_lua_free(R);
    return info;
}

int rune_lua_module_call(struct rune_lua *R, const char *path, const char *fn, json_t *params,
                         json_t **result, char *err, size_t errlen)
{
    lua_State *L = R->L;
    *result = NULL;
    if (load_module(L, path, err, errlen) != 0)
        return RUNE_STEP_FAILED;
    lua_getfield(L, -1, fn);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 2);
        snprintf(err, errlen, "%s has no %s function", path, fn);
        return RUNE_STEP_FAILED;
    }
    push_json(L, params, false);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        bool on_purpose = is_fail(L);
        error_text(L, err, errlen);
        lua_pop(L, 1);
        if (!on_purpose && strstr(err, "timed out (the step's timeout"))
            return RUNE_STEP_TIMEOUT;
        if (!on_purpose && strstr(err, "cancelled: the run was interrupted"))
            return RUNE_STEP_CANCELLED;
        return RUNE_STEP_FAILED;
    }
    json_t *v = to_json(L, -1, 0, err, errlen);
    lua_pop(L, 2);
    if (!v)
        return RUNE_STEP_FAILED;
    *result = v;
    return RUNE_STEP_OK;
}
