/*
 * test_interp.c — ${...} values, durations and suggestions.
 */
#include "unit.h"

#include "duration.h"
#include "interp.h"
#include "lua.h"
#include "suggest.h"

static json_t *ctx;
static struct rune_lua *lua;

static json_t *eval(void *ud, const char *expr, struct rune_mark where, char *err, size_t errlen)
{
    rune_lua_set_context(lua, ud);
    return rune_lua_eval(lua, expr, where, err, errlen);
}

static json_t *interp(const char *s, char *err, size_t n)
{
    struct rune_eval ev = {eval, ctx};
    return rune_interp_string(s, (struct rune_mark){"rb.yaml", 7, 3}, &ev, err, n);
}

static int setup(void **state)
{
    (void)state;
    ctx = json_pack("{s:{s:i, s:s, s:b, s:[i,i]}, s:{s:{s:{s:s}}}}", "inputs", "n", 3, "db", "app",
                    "flag", 1, "list", 1, 2, "steps", "pick", "outputs", "path", "/b/x.rbk");
    lua = rune_lua_new();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(ctx);
    rune_lua_free(lua);
    return 0;
}

static void test_whole_expression_keeps_type(void **state)
{
    (void)state;
    char err[256];
    json_t *v = interp("${inputs.n}", err, sizeof err);
    assert_true(json_is_integer(v) && json_integer_value(v) == 3);
    json_decref(v);
    v = interp("${ inputs.flag }", err, sizeof err);
    assert_true(json_is_true(v));
    json_decref(v);
    v = interp("${inputs.list}", err, sizeof err);
    assert_true(json_is_array(v) && json_array_size(v) == 2);
    json_decref(v);
}

static void test_mixed_text_and_escape(void **state)
{
    (void)state;
    char err[256];
    json_t *v = interp("restore ${steps.pick.outputs.path} into ${inputs.db} (${inputs.n}x)", err,
                       sizeof err);
    assert_string_equal(json_string_value(v), "restore /b/x.rbk into app (3x)");
    json_decref(v);
    v = interp("literal $${inputs.db} stays", err, sizeof err);
    assert_string_equal(json_string_value(v), "literal ${inputs.db} stays");
    json_decref(v);
}

static void test_errors_name_the_runbook_line(void **state)
{
    (void)state;
    char err[256];
    /* a missing output is nil: fine as a whole value, an error inside text */
    json_t *v = interp("${steps.pick.outputs.paht}", err, sizeof err);
    assert_true(json_is_null(v));
    json_decref(v);
    assert_null(interp("path=${steps.pick.outputs.paht}", err, sizeof err));
    assert_non_null(strstr(err, "is null"));
    assert_null(interp("x ${inputs.db", err, sizeof err));
    assert_non_null(strstr(err, "unterminated"));
    /* a Lua runtime error carries the runbook's file:line, then the expression */
    assert_null(interp("${inputs.nope.x}", err, sizeof err));
    assert_non_null(strstr(err, "rb.yaml:7: ${inputs.nope.x}: attempt to index a nil value"));
}

static void test_lua_expressions(void **state)
{
    (void)state;
    char err[256];
    json_t *v = interp("${inputs.n * 2 + #inputs.list}", err, sizeof err);
    assert_int_equal(json_integer_value(v), 8);
    json_decref(v);
    v = interp("${ { a = inputs.db, b = { 1, 2 } } }", err, sizeof err);
    assert_string_equal(json_string_value(json_object_get(v, "a")), "app");
    assert_int_equal(json_array_size(json_object_get(v, "b")), 2);
    json_decref(v);
    v = interp("${string.upper(inputs.db)}-${inputs.flag and 'on' or 'off'}", err, sizeof err);
    assert_string_equal(json_string_value(v), "APP-on");
    json_decref(v);
}

static void collect(void *ud, const char *root, const char *name, size_t len)
{
    char *buf = ud;
    char one[64];
    snprintf(one, sizeof one, "%s.%.*s;", root, (int)len, name);
    strcat(buf, one);
}

static void test_static_refs(void **state)
{
    (void)state;
    char buf[256] = "";
    const char *e = "steps.a.failed and inputs.db or not secrets.pw and x.steps.y";
    rune_interp_refs(e, strlen(e), collect, buf);
    assert_string_equal(buf, "steps.a;inputs.db;secrets.pw;");
}

static void test_durations(void **state)
{
    (void)state;
    long long ms;
    assert_int_equal(rune_duration_parse("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(rune_duration_parse("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(rune_duration_parse("2.5s", &ms), 0);
    assert_int_equal(ms, 2500);
    assert_int_equal(rune_duration_parse("45", &ms), 0);
    assert_int_equal(ms, 45000);
    assert_int_equal(rune_duration_parse("5 minutes", &ms), -1);
    assert_int_equal(rune_duration_parse("-5s", &ms), -1);
    assert_int_equal(rune_duration_parse("5x", &ms), -1);
}

static void test_suggestions(void **state)
{
    (void)state;
    const char *c[] = {"timeout", "retry", "needs", "with"};
    assert_string_equal(rune_suggest("tiemout", c, 4), "timeout");
    assert_string_equal(rune_suggest("retries", c, 4), "retry");
    assert_string_equal(rune_suggest("needs", c, 4), "needs");
    assert_null(rune_suggest("banana", c, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_expression_keeps_type),
        cmocka_unit_test(test_mixed_text_and_escape),
        cmocka_unit_test(test_errors_name_the_runbook_line),
        cmocka_unit_test(test_lua_expressions),
        cmocka_unit_test(test_static_refs),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_suggestions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
