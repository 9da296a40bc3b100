/*
 * test_node_limits.c — node.c's limits on hostile YAML, and that reading
 * event by event keeps what loading whole did: duplicate keys reported
 * once per key, nesting refused where it crosses the limit, aliases
 * expanded by copy and charged each time they are used, anchors that can
 * be redefined but not used before they are complete.
 */
#include "unit.h"

#include "node.h"

static char *repeat(const char *s, size_t n)
{
    size_t l = strlen(s);
    char *out = malloc(l * n + 1);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * l, s, l);
    out[l * n] = '\0';
    return out;
}

static struct rune_node *parse(const char *text, struct rune_diags *d)
{
    return rune_yaml_parse("t.yaml", text, strlen(text), d);
}

static void dump(const struct rune_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "  %d:%d %s\n", d->v[i].line, d->v[i].col, d->v[i].msg);
}

/* Exactly one diagnostic, at line:col, containing needle. */
static void expect_one(const char *text, int line, int col, const char *needle)
{
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_node *n = parse(text, &d);
    if (n || d.n != 1 || d.v[0].line != line || d.v[0].col != col || !strstr(d.v[0].msg, needle)) {
        dump(&d);
        fail_msg("expected one error at %d:%d with \"%s\"", line, col, needle);
    }
    rune_diags_free(&d);
}

static void test_duplicates_once_per_key(void **state)
{
    (void)state;
    struct rune_diags d = RUNE_DIAGS_INIT;
    assert_null(parse("a: 1\nb: 2\na: 3\na: 4\nb: 5\nc: 6\n", &d));
    assert_int_equal(d.n, 2);
    /* in the order of the keys' names, each at its second occurrence */
    assert_int_equal(d.v[0].line, 3);
    assert_string_equal(d.v[0].msg, "duplicate key \"a\" (first given at t.yaml:1:1, and 1 more "
                                    "time after this); remove all but one");
    assert_int_equal(d.v[1].line, 5);
    assert_string_equal(d.v[1].msg,
                        "duplicate key \"b\" (first given at t.yaml:2:1); remove all but one");
    rune_diags_free(&d);

    /* nested mappings are checked too; equal keys in different maps are fine */
    expect_one("x: {a: 1, b: 2}\ny: {a: 1, a: 2}\n", 2, 11, "duplicate key \"a\"");
}

static void test_duplicates_listed_up_to_100(void **state)
{
    (void)state;
    char *text = malloc(300 * 16);
    size_t at = 0;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 150; i++)
            at += (size_t)sprintf(text + at, "k%d: %d\n", i, round);
    struct rune_diags d = RUNE_DIAGS_INIT;
    assert_null(parse(text, &d));
    assert_int_equal(d.n, 101);
    assert_string_equal(d.v[100].msg,
                        "and 50 more duplicate keys in this file, not listed one by one");
    rune_diags_free(&d);
    free(text);
}

/* The root is level 0: a value at level 200 is fine, at 201 refused, at
 * the value's place. */
static void test_depth_limit(void **state)
{
    (void)state;
    struct rune_diags d = RUNE_DIAGS_INIT;
    char *open = repeat("[", 200), *close = repeat("]", 200);
    char text[1024];
    snprintf(text, sizeof text, "%sx%s", open, close);
    struct rune_node *n = parse(text, &d);
    if (!n)
        dump(&d);
    assert_non_null(n);
    rune_node_free(n);
    snprintf(text, sizeof text, "%s[x]%s", open, close);
    expect_one(text, 1, 202, "nested more than 200 levels deep");
    free(open);
    free(close);

    /* an unclosed flood stops at the limit, not at the end of the input */
    char *flood = repeat("[", 100000);
    expect_one(flood, 1, 202, "nested more than 200 levels deep");
    free(flood);
}

/* An alias copies its anchor's depth along: a deep anchor used deep down
 * crosses the limit at the alias. */
static void test_alias_depth(void **state)
{
    (void)state;
    char *open = repeat("[", 150), *close = repeat("]", 150);
    size_t len = 2 * 150 + 200;
    char *text = malloc(len);
    snprintf(text, len, "a: &a %sx%s\nb: %s*a%s\n", open, close, open, close);
    expect_one(text, 2, 154, "nested more than 200 levels deep");
    free(text);
    free(open);
    free(close);
}

/* Each use of an alias is charged its full size: a large scalar used a
 * few dozen times is refused at the use that crosses 64 MiB. */
static void test_alias_size_budget(void **state)
{
    (void)state;
    char *big = repeat("y", 4u << 20);
    size_t len = (4u << 20) + 64 * 8 + 64;
    char *text = malloc(len);
    size_t at = (size_t)snprintf(text, len, "s: &s %s\nl:\n", big);
    for (int i = 0; i < 20; i++)
        at += (size_t)snprintf(text + at, len - at, "- *s\n");
    /* 4 MiB + 15 uses = 64 MiB and a little: the 15th alias, on line 17 */
    expect_one(text, 17, 3, "document too large: over 64 MiB");
    free(text);
    free(big);
}

static void test_alias_node_budget(void **state)
{
    (void)state;
    expect_one("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
               "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
               "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
               "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
               "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
               "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
               6, 8, "document too large: over 200000 nodes");
}

static void test_aliases_copy(void **state)
{
    (void)state;
    struct rune_diags d = RUNE_DIAGS_INIT;
    const char *text = "base: &b {timeout: 5s, msg: \"true\"}\n"
                       "one: *b\n"
                       "x: &x 1\n"
                       "x2: &x 2\n"
                       "y: *x\n"
                       "&k key: v\n"
                       "*k : w\n";
    struct rune_node *n = parse(text, &d);
    assert_null(n); /* the alias key repeats "key" */
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].msg, "duplicate key \"key\" (first given at t.yaml:6:1); remove "
                                    "all but one");
    rune_diags_free(&d);

    n = parse("base: &b {timeout: 5s, msg: \"true\"}\none: *b\nx: &x 1\nx2: &x 2\ny: *x\n", &d);
    if (!n)
        dump(&d);
    assert_non_null(n);
    const struct rune_node *one = rune_node_get(n, "one");
    assert_int_equal(one->kind, RUNE_NODE_MAP);
    assert_int_equal(one->n, 2);
    assert_true(rune_node_get(one, "msg")->quoted); /* still a string */
    assert_true(rune_node_is_string(rune_node_get(one, "msg")));
    assert_ptr_not_equal(one, rune_node_get(n, "base")); /* a copy, freed on its own */
    /* a later anchor of the same name replaces the earlier one */
    assert_string_equal(rune_node_get(n, "y")->str, "2");
    rune_node_free(n);
    rune_diags_free(&d);
}

static void test_alias_errors(void **state)
{
    (void)state;
    expect_one("a: *nope\n", 1, 4, "alias *nope names no anchor defined before it");
    /* an anchor is usable once complete: no node contains itself */
    expect_one("a: &s [1, *s]\n", 1, 11, "alias *s names no anchor defined before it");
    expect_one("m: &m {a: 1}\n*m : 2\n", 2, 1, "expected a plain key (a name), found a mapping");
    expect_one("[a]: 1\n", 1, 1, "expected a plain key (a name), found a list");
}

static void test_documents(void **state)
{
    (void)state;
    expect_one("", 0, 0, "the file is empty");
    expect_one("# only a comment\n", 0, 0, "the file is empty");
    expect_one("a: 1\n---\nb: 2\n", 2, 1, "a second YAML document (after ---)");
    expect_one("a: [1\n", 2, 1, "invalid YAML");
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_node *n = parse("a: 1\n...\n", &d);
    assert_non_null(n);
    rune_node_free(n);
    rune_diags_free(&d);
    static const char nul[] = "a: \"x\\0y\"\n";
    expect_one(nul, 1, 4, "a NUL character");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicates_once_per_key),
        cmocka_unit_test(test_duplicates_listed_up_to_100),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_alias_depth),
        cmocka_unit_test(test_alias_size_budget),
        cmocka_unit_test(test_alias_node_budget),
        cmocka_unit_test(test_aliases_copy),
        cmocka_unit_test(test_alias_errors),
        cmocka_unit_test(test_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
