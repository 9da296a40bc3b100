/*
 * luajson.c — Lua values and JSON, both ways, for the sandbox (lua.c):
 * read-only views of the run's context, plain tables for rune.run's
 * results and a module's parameters, and the conversion of what Lua hands
 * back, charged against a cap (jansson allocates outside Lua's capped
 * allocator: a table that holds the same subtable twice at each of 30
 * levels is a billion values once copied into JSON).
 */
#include "luajson.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luabudget.h"

#define JSON_NODE 64  /* what one JSON value costs in jansson, about */
#define JSON_DEPTH 64 /* tables nested in a value handed back */
#define JSON_MT "rune.json"

/* The views' metatable, in the registry under this address: a lookup by
 * light userdata never allocates, so it is safe outside a protected call. */
static const char key_view_mt;

/* The value at idx is a view: raw checks only. */
static json_t **toview(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx))
        return NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &key_view_mt);
    bool same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? lua_touserdata(L, idx) : NULL;
}

/* A read-only view of a JSON object or array: no copy, converted on
 * access. The metatable (and its __gc) is set before the reference is
 * taken, so a raise in between leaks nothing. */
void rune_luajson_push_view(lua_State *L, json_t *v)
{
    json_t **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &key_view_mt);
    lua_setmetatable(L, -2);
    *box = json_incref(v);
}

void rune_luajson_push(lua_State *L, json_t *v, bool view)
{
    luaL_checkstack(L, 3, "JSON nested too deeply for Lua");
    switch (json_typeof(v)) {
    case JSON_NULL:
        lua_pushnil(L);
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(v));
        break;
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_ARRAY:
        if (view) {
            rune_luajson_push_view(L, v);
        } else {
            lua_createtable(L, (int)json_array_size(v), 0);
            for (size_t i = 0; i < json_array_size(v); i++) {
                rune_luajson_push(L, json_array_get(v, i), false);
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            }
        }
        break;
    case JSON_OBJECT:
        if (view) {
            rune_luajson_push_view(L, v);
        } else {
            const char *k;
            json_t *x;
            lua_createtable(L, 0, (int)json_object_size(v));
            json_object_foreach(v, k, x)
            {
                lua_pushstring(L, k);
                rune_luajson_push(L, x, false);
                lua_rawset(L, -3);
            }
        }
        break;
    }
}

json_t *rune_luajson_checkview(lua_State *L, int idx)
{
    json_t **box = toview(L, idx);
    if (!box || !*box) {
        luaL_typeerror(L, idx, "rune value");
        return NULL; /* not reached: luaL_typeerror raises */
    }
    return *box;
}

static int view_index(lua_State *L)
{
    json_t *v = rune_luajson_checkview(L, 1);
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
        rune_luajson_push(L, x, true);
    return 1;
}

static int view_newindex(lua_State *L)
{
    return luaL_error(L, "this value is read-only (steps share data through outputs)");
}

static int view_len(lua_State *L)
{
    json_t *v = rune_luajson_checkview(L, 1);
    lua_pushinteger(L, json_is_array(v) ? (lua_Integer)json_array_size(v)
                                        : (lua_Integer)json_object_size(v));
    return 1;
}

static int view_gc(lua_State *L)
{
    json_t **box = toview(L, 1);
    if (box) {
        json_decref(*box);
        *box = NULL;
    }
    return 0;
}

/* pairs(view): iterate keys (objects, in insertion order) or indices. */
static int view_next(lua_State *L)
{
    json_t *v = rune_luajson_checkview(L, 1);
    if (json_is_array(v)) {
        lua_Integer i = lua_isnil(L, 2) ? 0 : luaL_checkinteger(L, 2);
        if (i < 0 || (size_t)i >= json_array_size(v))
            return 0;
        lua_pushinteger(L, i + 1);
        rune_luajson_push(L, json_array_get(v, (size_t)i), true);
        return 2;
    }
    void *it = lua_isnil(L, 2)
                   ? json_object_iter(v)
                   : json_object_iter_next(v, json_object_iter_at(v, luaL_checkstring(L, 2)));
    if (!it)
        return 0;
    lua_pushstring(L, json_object_iter_key(it));
    rune_luajson_push(L, json_object_iter_value(it), true);
    return 2;
}

static int view_pairs(lua_State *L)
{
    rune_luajson_checkview(L, 1);
    lua_pushcfunction(L, view_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int view_tostring(lua_State *L)
{
    json_t *v = rune_luajson_checkview(L, 1);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    lua_pushstring(L, s ? s : "?");
    free(s);
    return 1;
}

/* Converting a Lua value to JSON: what it has cost so far (jansson
 * allocates outside Lua's capped allocator, and a table that holds the
 * same subtable twice at each of 30 levels is a billion values), and the
 * tables being converted, outermost first (a cycle has no JSON form). */
struct conv {
    lua_State *L;
    size_t bytes;
    unsigned work; /* charges since the last deadline check */
    int depth;
    const void *open[JSON_DEPTH];
    char *err;
    size_t errlen;
};

/* Charges n bytes; also where a long conversion notices that the code's
 * deadline has passed (it stops, and the caller raises the stop). */
static bool charge(struct conv *c, size_t n)
{
    if (++c->work >= RUNE_LUA_BUDGET / 4) {
        c->work = 0;
        if (rune_lua_budget_expired(c->L)) {
            snprintf(c->err, c->errlen, "stopped before it was converted");
            return false;
        }
    }
    if (n > RUNE_LUAJSON_LIMIT - c->bytes) {
        snprintf(c->err, c->errlen,
                 "too large to hand back to rune: more than %u MiB once converted to JSON (a "
                 "table that holds the same table many times counts each time)",
                 RUNE_LUAJSON_LIMIT >> 20);
        return false;
    }
    c->bytes += n;
    return true;
}

/* Charges the copy of an existing JSON value (a view handed back). */
static bool charge_json(struct conv *c, json_t *v)
{
    if (!charge(c, JSON_NODE))
        return false;
    if (json_is_string(v))
        return charge(c, json_string_length(v));
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!charge_json(c, json_array_get(v, i)))
                return false;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (!charge(c, strlen(k)) || !charge_json(c, x))
                return false;
        }
    }
    return true;
}

static json_t *to_json(struct conv *c, int idx);

/* A table with keys 1..n and nothing else is an array. */
static bool is_array(lua_State *L, int idx)
{
    lua_Unsigned n = lua_rawlen(L, idx);
    lua_Unsigned count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        lua_pop(L, 1);
    }
    return n > 0 && n == count;
}

static json_t *array_to_json(struct conv *c, int idx)
{
    lua_State *L = c->L;
    json_t *a = json_array();
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        json_t *x = to_json(c, -1);
        lua_pop(L, 1);
        if (!x) {
            json_decref(a);
            return NULL;
        }
        json_array_append_new(a, x);
    }
    return a;
}

static json_t *object_to_json(struct conv *c, int idx)
{
    lua_State *L = c->L;
    json_t *o = json_object();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        char num[32];
        const char *k = num;
        size_t kl;
        if (lua_type(L, -2) == LUA_TSTRING) {
            k = lua_tolstring(L, -2, &kl);
        } else if (lua_isinteger(L, -2)) {
            snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, -2));
            kl = strlen(num);
        } else {
            snprintf(c->err, c->errlen, "a table with a %s key (keys must be strings or integers)",
                     luaL_typename(L, -2));
            lua_pop(L, 2);
            json_decref(o);
            return NULL;
        }
        json_t *x = NULL;
        if (strlen(k) != kl)
            snprintf(c->err, c->errlen, "a table with a key that contains a NUL byte");
        else if (charge(c, kl))
            x = to_json(c, -1);
        if (x && json_object_set_new(o, k, x) != 0) {
            snprintf(c->err, c->errlen, "a table with a key that is not valid UTF-8");
            x = NULL;
        }
        if (!x) {
            lua_pop(L, 2);
            json_decref(o);
            return NULL;
        }
        lua_pop(L, 1);
    }
    return o;
}

static json_t *table_to_json(struct conv *c, int idx)
{
    lua_State *L = c->L;
    const void *t = lua_topointer(L, idx);
    for (int i = 0; i < c->depth; i++) {
        if (c->open[i] == t) {
            snprintf(c->err, c->errlen, "a table that contains itself (a cycle has no JSON form)");
            return NULL;
        }
    }
    if (c->depth >= JSON_DEPTH || !lua_checkstack(L, 4)) {
        snprintf(c->err, c->errlen, "nested more than %d tables deep", JSON_DEPTH);
        return NULL;
    }
    c->open[c->depth++] = t;
    json_t *j = is_array(L, idx) ? array_to_json(c, idx) : object_to_json(c, idx);
    c->depth--;
    return j;
}

/* Lua value at idx to JSON (new reference); NULL with c->err. */
static json_t *to_json(struct conv *c, int idx)
{
    lua_State *L = c->L;
    idx = lua_absindex(L, idx);
    if (!charge(c, JSON_NODE))
        return NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER: {
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        double d = (double)lua_tonumber(L, idx);
        if (!isfinite(d)) {
            snprintf(c->err, c->errlen, "a number that is not finite (%s has no JSON form)",
                     isnan(d) ? "nan" : "inf");
            return NULL;
        }
        return json_real(d);
    }
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        if (!charge(c, n))
            return NULL;
        json_t *j = json_stringn(s, n);
        if (!j)
            snprintf(c->err, c->errlen, "a string that is not valid UTF-8");
        return j;
    }
    case LUA_TUSERDATA: {
        json_t **box = toview(L, idx);
        if (!box || !*box)
            break;
        /* a copy: the context it views changes as the run goes on */
        return charge_json(c, *box) ? json_deep_copy(*box) : NULL;
    }
    case LUA_TTABLE:
        return table_to_json(c, idx);
    default:
        break;
    }
    snprintf(c->err, c->errlen, "a %s, which has no JSON form", luaL_typename(L, idx));
    return NULL;
}

json_t *rune_luajson_value(lua_State *L, int idx, char *err, size_t errlen)
{
    struct conv c = {.L = L, .err = err, .errlen = errlen};
    return to_json(&c, idx);
}

void rune_luajson_open(lua_State *L)
{
    static const luaL_Reg mt[] = {
        {"__index", view_index},
        {"__newindex", view_newindex},
        {"__len", view_len},
        {"__gc", view_gc},
        {"__pairs", view_pairs},
        {"__tostring", view_tostring},
        {NULL, NULL},
    };
    luaL_newmetatable(L, JSON_MT);
    luaL_setfuncs(L, mt, 0);
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key_view_mt);
}
