/*
 * lua_module.c — step types written in Lua: reading a module file (a
 * regular file of bounded size, never a FIFO), running its top level under
 * a deadline and Ctrl-C, describing it (rune_lua_module_info) and calling
 * its run and plan functions (rune_lua_module_call). luatype.c turns the
 * description into a registered step type.
 */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "lua_private.h"
#include "luacall.h"
#include "luajson.h"

#define MODULE_MAX (4u << 20) /* a step type module's file */

/* ---- modules (step types written in Lua; see luatype.c) ---- */

/* A module's text: a regular file (a FIFO would block), of bounded size.
 * *buf is the caller's to free. */
static int read_module(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(err, errlen, "%s: cannot read the module (%s)", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size > (off_t)MODULE_MAX) {
        snprintf(err, errlen, "%s: %s", path,
                 S_ISREG(sb.st_mode) ? "the module is larger than 4 MiB"
                                     : "not a regular file (a step type module must be one)");
        close(fd);
        return -1;
    }
    *buf = malloc((size_t)sb.st_size + 1);
    if (!*buf)
        abort();
    while (*len < (size_t)sb.st_size) {
        ssize_t n = read(fd, *buf + *len, (size_t)sb.st_size - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        *len += (size_t)n;
    }
    close(fd);
    return 0;
}

/* A module load or call, run by rune_lua_protect(); the source is the caller's,
 * and so is `out` (a raise halfway leaves it to the caller to free). */
struct module {
    const char *path;
    const char *src;
    size_t len;
    const char *fn; /* call: the function; NULL: describe the module */
    json_t *params; /* call: its argument (borrowed) */
    json_t *out;    /* the description, or what the function returned */
    char why[512];  /* out is NULL: why */
};

/* Runs the module's top-level chunk; leaves its table on the stack. */
static void run_module(lua_State *L, struct module *m)
{
    char name[600];
    rune_lua_chunk_name(name, sizeof name, m->path);
    rune_lua_compile(L, m->src, m->len, name);
    lua_call(L, 0, 1);
    if (lua_type(L, -1) != LUA_TTABLE) {
        lua_pushfstring(L,
                        "%s: a step type module must return a table {name, summary, params, "
                        "outputs, effect, run, plan}",
                        m->path);
        lua_error(L);
    }
}

static int p_module_info(lua_State *L)
{
    struct module *m = lua_touserdata(L, 1);
    lua_settop(L, 0);
    run_module(L, m);
    m->out = json_object();
    static const char *const fields[] = {"name", "summary", "params", "outputs", "effect", NULL};
    for (int i = 0; fields[i]; i++) {
        lua_getfield(L, 1, fields[i]);
        if (!lua_isnil(L, -1)) {
            char why[400];
            json_t *v = rune_lua_to_json(L, -1, why, sizeof why);
            if (!v) {
                snprintf(m->why, sizeof m->why, "%s: field %s: %s", m->path, fields[i], why);
                json_decref(m->out);
                m->out = NULL;
                return 0;
            }
            json_object_set_new(m->out, fields[i], v);
        }
        lua_pop(L, 1);
    }
    static const char *const fns[] = {"run", "plan", "size", NULL};
    for (int i = 0; fns[i]; i++) {
        lua_getfield(L, 1, fns[i]);
        json_object_set_new(m->out, fns[i], json_boolean(lua_isfunction(L, -1)));
        lua_pop(L, 1);
    }
    return 0;
}

static bool interrupted(void *ud)
{
    (void)ud;
    return atomic_load(&rune_interrupted) != 0;
}

json_t *rune_lua_module_info(const char *path, char *err, size_t errlen)
{
    struct module m = {.path = path};
    char *src;
    if (read_module(path, &src, &m.len, err, errlen) != 0)
        return NULL;
    m.src = src;
    struct rune_lua *R = rune_lua_new();
    /* validate, steps and every run load modules: their top level gets a
     * deadline of its own, and Ctrl-C */
    R->timeout_msg = "timed out: the module's top-level code ran for more than 10 s (it should "
                     "only return its table)";
    rune_lua_set_deadline(R, rune_clock_mono_ms() + RUNE_EXPR_TIMEOUT_MS, interrupted, NULL);
    rune_lua_begin(R);
    int st = rune_lua_protect(R, p_module_info, &m, err, errlen);
    rune_lua_free(R);
    free(src);
    if (st != RUNE_STEP_OK) {
        json_decref(m.out);
        return NULL;
    }
    if (!m.out)
        snprintf(err, errlen, "%s", m.why);
    return m.out;
}

static int p_module_call(lua_State *L)
{
    struct module *m = lua_touserdata(L, 1);
    lua_settop(L, 0);
    run_module(L, m);
    lua_getfield(L, 1, m->fn);
    if (!lua_isfunction(L, -1)) {
        snprintf(m->why, sizeof m->why, "%s has no %s function", m->path, m->fn);
        return 0;
    }
    rune_luajson_push(L, m->params, false);
    lua_call(L, 1, 1);
    m->out = rune_lua_to_json(L, -1, m->why, sizeof m->why);
    return 0;
}

int rune_lua_module_call(struct rune_lua *R, const char *path, const char *fn, json_t *params,
                         json_t **result, char *err, size_t errlen)
{
    struct module m = {.path = path, .fn = fn, .params = params};
    char *src;
    *result = NULL;
    if (read_module(path, &src, &m.len, err, errlen) != 0)
        return RUNE_STEP_FAILED;
    m.src = src;
    rune_lua_begin(R);
    int st = rune_lua_protect(R, p_module_call, &m, err, errlen);
    free(src);
    if (st != RUNE_STEP_OK) {
        json_decref(m.out);
        return st;
    }
    if (!m.out) {
        snprintf(err, errlen, "%s", m.why);
        return RUNE_STEP_FAILED;
    }
    *result = m.out;
    return RUNE_STEP_OK;
}
