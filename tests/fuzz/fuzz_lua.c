/*
 * fuzz_lua.c — libFuzzer target for the Lua bridge (engine/lua/lua.c and
 * friends): the input is Lua code, run through rune's own entry points the
 * way a runbook's text is, in the sandbox, with a short deadline:
 *  - as a `when:`-style expression (rune_lua_eval), over a small context;
 *  - as an inline step's body (rune_lua_run_chunk);
 *  - as a `${...}` template (rune_interp_string, evaluating with Lua);
 *  - compiled only, as validate does (rune_lua_check).
 * Whatever the code does, rune must not crash, abort, leak or hang: the
 * sandbox turns every failure into a message.
 *
 * Corpus: tests/fuzz/corpus/lua/ (hostile error objects, catastrophic
 * patterns, monkey-patching, values that explode into JSON, ...).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "interp.h"
#include "lua.h"

#define MAX_INPUT (64 << 10) /* longer code only makes runs slower */
#define DEADLINE_MS 100      /* per evaluation: slow inputs are stopped, not hung on */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *context(void)
{
    static json_t *ctx; /* built once, kept for the process */
    if (!ctx)
        ctx = json_pack("{s:{s:i, s:s, s:b, s:[i,s]}, s:{s:{s:s, s:b, s:{s:s, s:i}}},"
                        " s:{s:s}, s:{s:s}}",
                        "inputs", "n", 3, "db", "app", "flag", 1, "list", 1, "x", "steps", "pick",
                        "status", "ok", "failed", 0, "outputs", "path", "/b/x", "size", 42,
                        "secrets", "token", "hunter2-not-real", "incident", "id", "fuzz");
    return ctx;
}

static json_t *eval(void *ud, const char *expr, struct rune_mark where, char *err, size_t errlen)
{
    struct rune_lua *L = ud;
    rune_lua_set_deadline(L, rune_clock_mono_ms() + DEADLINE_MS, NULL, NULL);
    return rune_lua_eval(L, expr, where, err, errlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    char *code = malloc(size + 1);
    if (!code)
        return 0;
    memcpy(code, data, size);
    code[size] = '\0'; /* runbook text is a C string: a NUL ends it */
    struct rune_mark at = {"fuzz.yaml", 3, 7};
    char err[2048];

    struct rune_lua *L = rune_lua_new();
    rune_lua_set_context(L, context());
    json_decref(eval(L, code, at, err, sizeof err));

    rune_lua_set_deadline(L, rune_clock_mono_ms() + DEADLINE_MS, NULL, NULL);
    json_t *out = NULL;
    rune_lua_run_chunk(L, code, at, &out, err, sizeof err);
    json_decref(out);

    struct rune_eval ev = {eval, L};
    json_decref(rune_interp_string(code, at, &ev, err, sizeof err));
    rune_lua_free(L);

    int line;
    rune_lua_check(code, true, at, &line, err, sizeof err);
    rune_lua_check(code, false, at, &line, err, sizeof err);
    free(code);
    return 0;
}
