/*
 * test_template.c — engine/report/template.c, the Mustache subset report
 * templates are written in: values and their escaping, sections over
 * arrays and true values, inverted sections, missing names, comments,
 * standalone lines, errors that name the line and column, and hostile
 * templates that must end in an error (deep nesting, loops that would
 * write or work without end), never a crash.
 */
#include "unit.h"

#include <jansson.h>

#include "template.h"

/* Renders tpl over the JSON text data; NULL (err filled) on failure. */
static char *render(const char *tpl, const char *data, bool html, char *err, size_t errlen,
                    const struct rune_template_limits *lim)
{
    struct rune_template *t = NULL;
    json_error_t je;
    json_t *d = json_loads(data, 0, &je);
    assert_non_null(d);
    if (rune_template_parse("t.md", tpl, strlen(tpl), &t, err, errlen) != 0) {
        json_decref(d);
        return NULL;
    }
    char *s = rune_template_render(t, d, html, lim, err, errlen);
    rune_template_free(t);
    json_decref(d);
    return s;
}

static void expect(const char *tpl, const char *data, bool html, const char *want)
{
    char err[1024] = "";
    char *s = render(tpl, data, html, err, sizeof err, NULL);
    if (!s)
        fail_msg("template %s failed: %s", tpl, err);
    assert_string_equal(s, want);
    free(s);
}

static void expect_error(const char *tpl, const char *want)
{
    char err[1024] = "";
    char *s = render(tpl, "{}", false, err, sizeof err, NULL);
    if (s)
        fail_msg("template %s rendered \"%s\"; an error was expected", tpl, s);
    if (!strstr(err, want))
        fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void values_and_escaping(void **state)
{
    (void)state;
    const char *d = "{\"a\": {\"b\": \"<x & 'y'> \\\"z\\\"\"}, \"n\": 3, \"r\": 1.5, \"t\": true,"
                    " \"ctl\": \"a\\u0001b\\nc\"}";
    expect("{{a.b}}", d, true, "&lt;x &amp; &#39;y&#39;&gt; &quot;z&quot;");
    expect("{{a.b}}", d, false, "<x & 'y'> \"z\"");
    expect("{{{a.b}}}|{{& a.b}}", d, true, "<x & 'y'> \"z\"|<x & 'y'> \"z\"");
    expect("{{ n }} {{r}} {{t}}", d, false, "3 1.5 true");
    expect("{{ctl}}", d, true, "a?b\nc");
    expect("{{a}}", "{\"a\": [1, \"x\"]}", false, "[1,\"x\"]");
}

static void missing_names_are_empty(void **state)
{
    (void)state;
    expect("[{{nope}}][{{a.nope}}][{{a.b.c}}][{{nul}}]", "{\"a\": {\"b\": 1}, \"nul\": null}",
           false, "[][][][]");
    expect("{{#nope}}x{{/nope}}{{^nope}}none{{/nope}}", "{}", false, "none");
}

static void sections_lists_and_nesting(void **state)
{
    (void)state;
    const char *d = "{\"title\": \"T\", \"acts\": [{\"text\": \"a\", \"owner\": \"alice\"},"
                    " {\"text\": \"b\"}], \"tags\": [\"x\", \"y\"], \"obj\": {\"k\": \"v\"},"
                    " \"no\": false, \"empty\": [], \"blank\": \"\", \"zero\": 0}";
    expect("{{#acts}}{{text}}({{owner}}{{^owner}}nobody{{/owner}}) {{title}};{{/acts}}", d, false,
           "a(alice) T;b(nobody) T;");
    expect("{{#tags}}<b>{{.}}</b>{{/tags}}", d, true, "<b>x</b><b>y</b>");
    expect("{{#obj}}{{k}}{{/obj}}", d, false, "v");
    expect("{{#no}}1{{/no}}{{#empty}}2{{/empty}}{{#blank}}3{{/blank}}{{#zero}}4{{/zero}}", d, false,
           "4");
    expect("{{^no}}1{{/no}}{{^empty}}2{{/empty}}{{^blank}}3{{/blank}}{{^zero}}4{{/zero}}", d, false,
           "123");
    expect("{{acts.1.text}}", d, false, "b");
    expect("{{#acts}}{{#tags}}{{text}}{{.}} {{/tags}}{{/acts}}", d, false, "ax ay bx by ");
}

static void comments_and_standalone_lines(void **state)
{
    (void)state;
    expect("a{{! a comment }}b", "{}", false, "ab");
    expect("{{!\nmultiline\n}}x", "{}", false, "x");
    expect("- head\n{{#l}}\n- {{.}}\n{{/l}}\n- tail\n", "{\"l\": [1, 2]}", false,
           "- head\n- 1\n- 2\n- tail\n");
    expect("  {{^l}}  \nnone\n  {{/l}}\nend", "{\"l\": []}", false, "none\nend");
    /* a value tag on its own line keeps its line */
    expect("{{a}}\nb", "{\"a\": \"x\"}", false, "x\nb");
}

static void errors_name_line_and_column(void **state)
{
    (void)state;
    expect_error("line one\n  {{#acts}}\n{{text}}\n", "t.md:2:3: section \"acts\" opened here is "
                                                      "never closed: add {{/acts}}");
    expect_error("ab\ncd {{name\n", "t.md:2:4: a tag opened here is never closed");
    expect_error("{{{raw}}", "t.md:1:1: a tag opened here is never closed: add \"}}}\"");
    expect_error("x\n{{#a}}{{/b}}", "t.md:2:7: {{/b}} does not close the open section \"a\" "
                                    "(opened at 2:1)");
    expect_error("{{/a}}", "t.md:1:1: {{/a}} closes no section");
    expect_error("{{> partial}}", "t.md:1:1: {{>...}} (partials");
    expect_error("{{=<% %>=}}", "is not supported");
    expect_error("{{a b}}", "\"a b\" is not a name");
    expect_error("{{}}", "\"\" is not a name");
    char err[256];
    struct rune_template *t = NULL;
    assert_int_equal(rune_template_parse("f.md", "a\0b", 3, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "NUL byte"));
}

/* Templates that would nest, loop or write without end stop with an
 * error that says what was reached. */
static void hostile_templates_are_bounded(void **state)
{
    (void)state;
    char err[1024];
    /* nesting past the limit is refused when parsed */
    size_t depth = 10000;
    char *deep = malloc(depth * 12 + 1), *p = deep;
    for (size_t i = 0; i < depth; i++)
        p += sprintf(p, "{{#a}}");
    for (size_t i = 0; i < depth; i++)
        p += sprintf(p, "{{/a}}");
    struct rune_template *t = NULL;
    assert_int_equal(rune_template_parse("deep.md", deep, strlen(deep), &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "deep.md:1:193: sections nest deeper than 32"));
    free(deep);

    /* 1000 elements, loops nested 8 deep: 10^24 steps if nothing stopped it */
    json_t *big = json_array();
    for (int i = 0; i < 1000; i++)
        json_array_append_new(big, json_integer(i));
    json_t *d = json_pack("{s:o}", "l", big);
    const char *loops = "{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}"
                        "0123456789012345678901234567890123456789012345678901234567890123456789"
                        "{{/l}}{{/l}}{{/l}}"
                        "{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}";
    assert_int_equal(rune_template_parse("loops.md", loops, strlen(loops), &t, err, sizeof err), 0);
    char *s = rune_template_render(t, d, false, NULL, err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "output would pass 16777216 bytes"));
    rune_template_free(t);

    /* the same loops writing nothing still stop, on work */
    const char *quiet = "{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}";
    assert_int_equal(rune_template_parse("quiet.md", quiet, strlen(quiet), &t, err, sizeof err), 0);
    s = rune_template_render(t, d, false, NULL, err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "more than 4000000 steps"));
    rune_template_free(t);

    /* smaller limits are honoured exactly */
    struct rune_template_limits lim = {.max_output = 10, .max_steps = 1000};
    assert_int_equal(rune_template_parse("small.md", "{{#l}}x{{/l}}", 13, &t, err, sizeof err), 0);
    assert_null(rune_template_render(t, d, false, &lim, err, sizeof err));
    assert_non_null(strstr(err, "output would pass 10 bytes"));
    rune_template_free(t);
    json_decref(d);

    /* a template over the size cap is refused before parsing */
    size_t n = RUNE_TEMPLATE_MAX_TEXT + 1;
    char *huge = malloc(n + 1);
    memset(huge, 'x', n);
    huge[n] = '\0';
    assert_int_equal(rune_template_parse("huge.md", huge, n, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than the"));
    free(huge);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(values_and_escaping),
        cmocka_unit_test(missing_names_are_empty),
        cmocka_unit_test(sections_lists_and_nesting),
        cmocka_unit_test(comments_and_standalone_lines),
        cmocka_unit_test(errors_name_line_and_column),
        cmocka_unit_test(hostile_templates_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
