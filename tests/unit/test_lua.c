/*
 * test_lua.c — the Lua sandbox against hostile code: error objects that
 * fight back, C functions that would outlive a deadline, expressions that
 * try to change what the next one sees, values too big or too strange to
 * become JSON. Deadlines are set in the past, so nothing here depends on
 * how fast the machine is: code that checks its deadline stops at its
 * first check, code that does not would run for hours.
 */
#include "unit.h"

#include <sys/stat.h>

#include "clock.h"
#include "lua.h"

static const struct rune_mark at = {"rb.yaml", 1, 1};
static json_t *ctx;

static int setup(void **state)
{
    (void)state;
    ctx = json_pack("{s:{s:i, s:s, s:[i,i]}}", "inputs", "n", 3, "db", "app", "list", 1, 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(ctx);
    return 0;
}

static struct rune_lua *fresh(void)
{
    struct rune_lua *L = rune_lua_new();
    rune_lua_set_context(L, ctx);
    return L;
}

/* Evaluates expr in L: its value (new reference) or NULL with err. */
static json_t *eval(struct rune_lua *L, const char *expr, char *err, size_t n)
{
    err[0] = '\0';
    return rune_lua_eval(L, expr, at, err, n);
}

static void want_string(struct rune_lua *L, const char *expr, const char *want)
{
    char err[1024];
    json_t *v = eval(L, expr, err, sizeof err);
    if (!v)
        fail_msg("%s: %s", expr, err);
    if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0) {
        char *got = json_dumps(v, JSON_ENCODE_ANY);
        fail_msg("%s: expected \"%s\", got %s", expr, want, got);
    }
    json_decref(v);
}

static void want_error(struct rune_lua *L, const char *expr, const char *part)
{
    char err[1024];
    json_t *v = eval(L, expr, err, sizeof err);
    if (v) {
        char *got = json_dumps(v, JSON_ENCODE_ANY);
        fail_msg("%s: expected an error containing \"%s\", got %s", expr, part, got);
    }
    if (!strstr(err, part))
        fail_msg("%s: expected an error containing \"%s\", got \"%s\"", expr, part, err);
}

/* A chunk run as an inline step would be: its status, err filled. */
static int chunk(struct rune_lua *L, const char *code, char *err, size_t n)
{
    json_t *out = NULL;
    err[0] = '\0';
    int st = rune_lua_run_chunk(L, code, at, &out, err, n);
    json_decref(out);
    return st;
}

/* An error object is any value: one with metamethods that raise or never
 * return is read raw, and rune.fail's object still says its message. */
static void test_hostile_error_objects(void **state)
{
    (void)state;
    struct rune_lua *L = fresh();
    rune_lua_set_deadline(L, rune_clock_mono_ms() + 60000, NULL, NULL);
    want_error(L, "error(setmetatable({}, {__index = function() error('boom') end}))",
               "raised a table value instead of a message");
    want_error(L, "error(setmetatable({}, {__index = function() while true do end end}))",
               "raised a table value");
    want_error(L, "error(setmetatable({}, {__tostring = function() error('boom') end}))",
               "raised a table value");
    want_error(L, "error(setmetatable({}, {__tostring = function() return {} end}))",
               "raised a table value");
    want_error(L, "error(setmetatable({}, {__eq = function() error('boom') end, __len = error}))",
               "raised a table value");
    want_error(L, "error(inputs)", "raised a userdata value");
    want_error(L, "error()", "raised a nil value");
    want_error(L, "error(42)", "42");
    want_error(L, "error(2.5)", "2.5");
    want_error(L, "error('plain', 0)", "plain");
    /* a to-be-closed variable whose __close raises a hostile object */
    char err[1024];
    int st = chunk(L,
                   "local x <close> = setmetatable({}, {__close = function()\n"
                   "  error(setmetatable({}, {__index = function() error('boom') end}))\n"
                   "end})\n"
                   "error('first')",
                   err, sizeof err);
    assert_int_equal(st, RUNE_STEP_FAILED);
    assert_non_null(strstr(err, "raised a table value"));
    /* the state is still usable */
    want_string(L, "('ok'):upper()", "OK");
    rune_lua_free(L);
}

static void test_finalizers_are_refused(void **state)
{
    (void)state;
    struct rune_lua *L = fresh();
    char err[1024];
    int st = chunk(L, "local t = setmetatable({}, {__gc = function() while true do end end})", err,
                   sizeof err);
    assert_int_equal(st, RUNE_STEP_FAILED);
    assert_non_null(strstr(err, "__gc"));
    /* __gc added after setmetatable is never a finalizer (Lua's rule) */
    st = chunk(L,
               "local mt = {} local t = setmetatable({}, mt) mt.__gc = function() "
               "while true do end end t = nil",
               err, sizeof err);
    assert_int_equal(st, RUNE_STEP_OK);
    rune_lua_free(L); /* would hang here if a finalizer looped */
}

/* C functions that would run for hours stop at the deadline: pattern
 * matching, plain find, table shifts; pcall cannot catch the stop. */
static void test_deadline_stops_c_functions(void **state)
{
    (void)state;
    static const char *const slow[] = {
        "string.find(string.rep('a', 3000), '.-.-.-.-.-.-b')",
        "string.match(string.rep('a', 3000), '(.-)(.-)(.-)(.-)(.-)b')",
        "string.gsub(string.rep('a', 3000), '.-.-.-.-.-.-b', 'x')",
        "(function() for m in string.gmatch(string.rep('a', 3000), '.-.-.-.-.-.-b') do end "
        "end)()",
        "string.rep('a', 3000):find('.-.-.-.-.-.-b')",
        "string.find(string.rep('(', 200000), '%b()')",
        "string.find(string.rep('a', 300000), 'a*b')",
        "string.find(string.rep('a', 4000000), string.rep('a', 2000000) .. 'b', 1, true)",
        "table.move({}, 1, math.maxinteger - 1, 2)",
        "table.insert(setmetatable({}, {__len = function() return math.maxinteger - 1 end}), "
        "1, 'x')",
        "table.remove(setmetatable({}, {__len = function() return math.maxinteger - 1 end}), 1)",
        "pcall(string.find, string.rep('a', 3000), '.-.-.-.-.-.-b')",
        "(function() while true do pcall(function() while true do end end) end end)()",
        /* built before the deadline is checked, too big to convert before it */
        "(function() local t = {'x'} for i = 1, 40 do t = {t, t} end return t end)()",
        "(function() while true do xpcall(function() while true do end end, "
        "function() while true do end end) end end)()",
        NULL,
    };
    for (int i = 0; slow[i]; i++) {
        struct rune_lua *L = fresh();
        rune_lua_set_deadline(L, rune_clock_mono_ms() - 1, NULL, NULL);
        char code[512], err[1024];
        snprintf(code, sizeof code, "return { r = %s }", slow[i]);
        int st = chunk(L, code, err, sizeof err);
        if (st != RUNE_STEP_TIMEOUT)
            fail_msg("%s: expected a timeout, got status %d (%s)", slow[i], st, err);
        assert_non_null(strstr(err, "timed out"));
        rune_lua_free(L);
    }
}

static bool always(void *ud)
{
    (void)ud;
    return true;
}

static void test_interrupt_stops_c_functions(void **state)
{
    (void)state;
    struct rune_lua *L = fresh();
    rune_lua_set_deadline(L, 0, always, NULL);
    char err[1024];
    int st = chunk(L, "return { r = string.find(string.rep('a', 3000), '.-.-.-.-.-.-b') }", err,
                   sizeof err);
    assert_int_equal(st, RUNE_STEP_CANCELLED);
    assert_non_null(strstr(err, "interrupted"));
    /* an expression too */
    want_error(L, "string.find(string.rep('a', 3000), '.-.-.-.-.-.-b')", "interrupted");
    rune_lua_free(L);
}

/* The budgeted copies keep Lua's semantics. */
static void test_pattern_and_table_semantics(void **state)
{
    (void)state;
    struct rune_lua *L = fresh();
    want_string(L, "tostring(string.find('hello world', 'o w'))", "5");
    want_string(L, "table.concat({string.find('hello world', '(o)(r)')}, ',')", "8,9,o,r");
    want_string(L, "string.match('key=value', '(%w+)=(%w+)')", "key");
    want_string(L, "select(2, string.match('key=value', '(%w+)=(%w+)'))", "value");
    want_string(L, "tostring(string.match('abc', '()b()'))", "2");
    want_string(L, "(string.gsub('hello world', '(%w+)', '<%1>'))", "<hello> <world>");
    want_string(L, "(string.gsub('abc', '', '-'))", "-a-b-c-");
    want_string(L, "(string.gsub('$name is $age', '%$(%w+)', {name = 'x', age = 3}))", "x is 3");
    want_string(L, "(string.gsub('abc', '%w', function(c) return c:upper() end))", "ABC");
    want_string(L, "tostring(select(2, string.gsub('aaa', 'a', 'b', 2)))", "2");
    want_string(L,
                "(function() local t = {} for k, v in string.gmatch('a=1, b=2', "
                "'(%w+)=(%w+)') do t[#t + 1] = k .. v end return table.concat(t, ' ') end)()",
                "a1 b2");
    want_string(L, "string.match(' THE (quick) fox', '%f[%a]%a+')", "THE");
    want_string(L, "string.match('x(a(b)c)y', '%b()')", "(a(b)c)");
    want_string(L, "tostring(string.find('a.b', '.', 1, true))", "2");
    want_string(L, "tostring(string.find('a+b', '+', 1, true))", "2");
    want_string(L, "tostring(string.find('abc', 'c', -1))", "3");
    want_error(L, "string.find('abc', '%')", "malformed pattern");
    want_error(L, "string.gsub('abc', '(a)', '%2')", "invalid capture index");
    want_string(L,
                "(function() local t = {3, 1, 2} table.sort(t) return table.concat(t) "
                "end)()",
                "123");
    want_string(L,
                "(function() local t = {3, 1, 2} table.sort(t, function(a, b) return a > b "
                "end) return table.concat(t) end)()",
                "321");
    want_string(L,
                "(function() local t = {1, 3} table.insert(t, 2, 2) table.insert(t, 4) "
                "return table.concat(t) end)()",
                "1234");
    want_string(L,
                "(function() local t = {1, 2, 3} local r = table.remove(t, 1) return r .. "
                "table.concat(t) end)()",
                "123");
    want_string(L, "table.concat(table.move({1, 2, 3}, 1, 3, 2), ',')", "1,1,2,3");
    want_error(L,
               "(function() local t = {} for i = 1, 100 do t[i] = i end table.sort(t, "
               "function(a, b) return true end) end)()",
               "invalid order function");
    rune_lua_free(L);
}

/* One expression cannot change what the next one sees. */
static void test_expressions_are_isolated(void **state)
{
    (void)state;
    struct rune_lua *L = fresh();
    char err[1024];
    json_t *v = eval(L,
                     "(function()\n"
                     "  tostring = function() return 'pwned' end\n"
                     "  leaked = 'pwned'\n"
                     "  _G.print = function() end\n"
                     "  _ENV.type = function() return 'pwned' end\n"
                     "  load('also_leaked = 1')()\n"
                     "  pcall(function() string.upper = function() return 'pwned' end end)\n"
                     "  pcall(function() string.rep = nil end)\n"
                     "  pcall(rawset, string, 'upper', function() return 'pwned' end)\n"
                     "  pcall(function() getmetatable('').__index.upper = nil end)\n"
                     "  pcall(setmetatable, string, {})\n"
                     "  pcall(function() table.concat = nil end)\n"
                     "  pcall(function() math.floor = nil end)\n"
                     "  pcall(function() os.time = nil end)\n"
                     "  pcall(function() rune.log = nil end)\n"
                     "  pcall(function() inputs.n = 99 end)\n"
                     "  return tostring(1) .. leaked .. string.upper('x')\n"
                     "end)()",
                     err, sizeof err);
    assert_non_null(v);
    assert_string_equal(json_string_value(v), "pwnedpwnedX"); /* it saw its own changes */
    json_decref(v);
    want_string(L, "tostring(1)", "1");
    want_string(L, "tostring(leaked) .. tostring(also_leaked)", "nilnil");
    want_string(L, "type(print) .. type('')", "functionstring");
    want_string(L, "string.upper('x') .. ('x'):upper() .. ('ab'):rep(2)", "XXabab");
    want_string(L, "table.concat({math.floor(1.5), type(os.time()), type(rune.log)}, ',')",
                "1,number,function");
    want_string(L, "tostring(inputs.n)", "3");
    /* the refusals say why */
    want_error(L, "(function() string.upper = nil end)()", "read-only");
    want_error(L, "rawset(string, 'x', 1)", "read-only");
    want_error(L, "setmetatable(string, nil)", "protected metatable");
    want_error(L, "getmetatable('').__index.upper", "attempt to index");
    /* still usable as tables */
    want_string(L, "type(string) .. tostring(#string)", "table0");
    want_string(L,
                "(function() local n = 0 for k in pairs(string) do n = n + 1 end return "
                "n > 10 and 'many' or 'few' end)()",
                "many");
    want_string(L,
                "(function() local f = load('return x', 'c', 't', {x = 'env'}) return f() "
                "end)()",
                "env");
    rune_lua_free(L);
}

static void test_json_conversion_limits(void **state)
{
    (void)state;
    struct rune_lua *L = fresh();
    /* a DAG: 2^40 leaves once copied into JSON, 40 tables in Lua */
    want_error(L, "(function() local t = {'x'} for i = 1, 40 do t = {t, t} end return t end)()",
               "more than 256 MiB once converted to JSON");
    /* one big string many times */
    want_error(L,
               "(function() local s = string.rep('x', 1 << 20) local t = {} for i = 1, 300 "
               "do t[i] = s end return t end)()",
               "more than 256 MiB");
    want_error(L, "(function() local t = {} t.self = t return t end)()",
               "a table that contains itself");
    want_error(L, "(function() local t = {} for i = 1, 100 do t = {t} end return t end)()",
               "nested more than 64 tables deep");
    want_error(L, "0/0", "not finite");
    want_error(L, "{1/0}", "not finite");
    want_error(L, "{[true] = 1}", "a table with a boolean key");
    want_error(L, "{['a\\0b'] = 1}", "NUL byte");
    want_error(L, "'\\xff'", "not valid UTF-8");
    want_error(L, "{['\\xff'] = 1}", "not valid UTF-8");
    want_error(L, "print", "a function, which has no JSON form");
    want_error(L, "print('x')", "print is not available in expressions");
    /* the error says where */
    want_error(L, "0/0", "rb.yaml:1: the value is");
    /* a view handed back is a copy, not the context itself */
    char err[256];
    json_t *v = eval(L, "inputs", err, sizeof err);
    assert_non_null(v);
    assert_true(json_equal(v, json_object_get(ctx, "inputs")));
    assert_ptr_not_equal(v, json_object_get(ctx, "inputs"));
    json_decref(v);
    rune_lua_free(L);
}

static void test_load_is_bounded(void **state)
{
    (void)state;
    struct rune_lua *L = fresh();
    want_string(L, "select(2, load(string.rep(' ', 2 << 20)))",
                "load: a chunk of 2097152 bytes is more than the sandbox compiles (1048576)");
    want_string(L, "tostring(select(2, load('\\27Lua')))",
                "attempt to load a binary chunk (mode is 't')");
    rune_lua_free(L);
}

static char *write_module(const char *text)
{
    char tmpl[] = "/tmp/rune-unit-XXXXXX.lua";
    int fd = mkstemps(tmpl, 4);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return strdup(tmpl);
}

static void want_module_error(const char *text, const char *part)
{
    char *path = write_module(text);
    char err[1024] = "";
    json_t *info = rune_lua_module_info(path, err, sizeof err);
    if (info)
        fail_msg("module %s: expected an error containing \"%s\"", text, part);
    if (!strstr(err, part))
        fail_msg("module %s: expected an error containing \"%s\", got \"%s\"", text, part, err);
    unlink(path);
    free(path);
}

static void test_hostile_modules(void **state)
{
    (void)state;
    want_module_error("error(setmetatable({}, {__index = function() error('boom') end}))",
                      "raised a table value");
    want_module_error("return setmetatable({}, {__index = function()\n"
                      "  error(setmetatable({}, {__index = function() error('boom') end}))\n"
                      "end})",
                      "raised a table value");
    want_module_error("local t = {} t.self = t\n"
                      "return {name = 'x.y', params = t, run = function() end}",
                      "field params: a table that contains itself");
    want_module_error("return 42", "must return a table");
    /* a FIFO is not read (it would block until someone writes) */
    char dir[] = "/tmp/rune-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char fifo[64];
    snprintf(fifo, sizeof fifo, "%s/m.lua", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    char err[512] = "";
    assert_null(rune_lua_module_info(fifo, err, sizeof err));
    assert_non_null(strstr(err, "not a regular file"));
    unlink(fifo);
    rmdir(dir);

    /* a hostile error object from a module's function */
    char *path =
        write_module("return {name = 'x.y', run = function(p)\n"
                     "  error(setmetatable({}, {__index = function() error('boom') end}))\n"
                     "end}");
    struct rune_lua *L = rune_lua_new();
    json_t *params = json_object();
    json_t *res = NULL;
    int st = rune_lua_module_call(L, path, "run", params, &res, err, sizeof err);
    assert_int_equal(st, RUNE_STEP_FAILED);
    assert_null(res);
    assert_non_null(strstr(err, "raised a table value"));
    json_decref(params);
    rune_lua_free(L);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_error_objects),
        cmocka_unit_test(test_finalizers_are_refused),
        cmocka_unit_test(test_deadline_stops_c_functions),
        cmocka_unit_test(test_interrupt_stops_c_functions),
        cmocka_unit_test(test_pattern_and_table_semantics),
        cmocka_unit_test(test_expressions_are_isolated),
        cmocka_unit_test(test_json_conversion_limits),
        cmocka_unit_test(test_load_is_bounded),
        cmocka_unit_test(test_hostile_modules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
