/*
 * test_report_render.c — engine/report/report_sections.c and the two pens: the
 * Markdown and the HTML report show the same sections in the same order
 * (optional ones only when they have something to show), and recorded
 * text, times included, cannot become markup. The rendering of real logs
 * byte for byte is tests/cli/test_golden.sh's.
 */
#include "unit.h"

#include <jansson.h>

#include "report.h"

static const char *const all[] = {
    "What happened",       "Incident record", "Objectives", "Restored from", "Timeline",
    "Approvals",           "Failures",        "Rollback",   "Verification",  "Findings",
    "Artifacts",           "Inputs",          "Notes",      "Root cause",    "Preventive measures",
    "Post-incident notes",
};

/* A small report object as report.c makes it; extra: members to add. */
static json_t *report(const char *extra)
{
    json_error_t e;
    json_t *rep = json_loads(
        "{\"generator\": \"rune test\","
        " \"incident\": {\"id\": \"20260101-000000-abcd\", \"started_at\": "
        "\"2026-01-01T00:00:00.000Z\", \"simulated\": false},"
        " \"objectives\": {\"rto\": {\"basis\": \"b\"}, \"rpo\": {\"basis\": \"b\"}},"
        " \"timeline\": [{\"stage\": \"detection\", \"status\": \"ok\","
        "   \"start\": \"2026-01-02T00:00:00.000Z<script>\", \"end\": null, \"steps\": []}],"
        " \"rollback\": {\"ran\": false}, \"chain\": {\"verified\": true, \"events\": 3}}",
        0, &e);
    assert_non_null(rep);
    if (extra) {
        json_t *more = json_loads(extra, 0, &e);
        assert_non_null(more);
        json_object_update(rep, more);
        json_decref(more);
    }
    return rep;
}

/* The section titles in the order text shows them, after each prefix
 * ("## " in Markdown, "\">" after an h2's id in HTML). */
static size_t titles(const char *text, const char *prefix, const char *found[], size_t max)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, prefix)) && n < max; p += strlen(prefix)) {
        const char *t = p + strlen(prefix);
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            if (!strncmp(t, all[i], strlen(all[i])) &&
                (t[strlen(all[i])] == '\n' || t[strlen(all[i])] == '<')) {
                found[n++] = all[i];
                break;
            }
    }
    return n;
}

static void same_sections(json_t *rep, size_t want)
{
    const char *md_found[20], *html_found[20];
    char *md = rune_report_md(rep), *html = rune_report_html(rep);
    size_t n_md, n_html;

    assert_non_null(md);
    assert_non_null(html);
    n_md = titles(md, "## ", md_found, 20);
    n_html = titles(html, "\">", html_found, 20);
    assert_int_equal(n_md, want);
    assert_int_equal(n_html, want);
    for (size_t i = 0; i < want; i++)
        assert_string_equal(md_found[i], html_found[i]);
    free(md);
    free(html);
}

static void both_formats_show_the_same_sections_in_order(void **state)
{
    (void)state;
    json_t *rep = report(NULL);
    same_sections(rep, 14); /* no findings, no notes: those two are left out */
    json_decref(rep);
    rep = report("{\"findings\": [{\"step\": \"b\", \"path\": \"/x\", \"reason\": \"bad\"}],"
                 " \"notes\": [{\"at\": \"2026-01-01T00:00:01.000Z\", \"step\": \"n\","
                 " \"text\": \"hello\"}]}");
    same_sections(rep, 16);
    json_decref(rep);
}

static void recorded_times_are_escaped(void **state)
{
    (void)state;
    json_t *rep = report(NULL);
    char *html = rune_report_html(rep), *md = rune_report_md(rep);

    assert_null(strstr(html, "<script>"));
    assert_non_null(strstr(html, "&lt;script&gt;"));
    assert_null(strstr(md, "<script>"));
    free(html);
    free(md);
    json_decref(rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(both_formats_show_the_same_sections_in_order),
        cmocka_unit_test(recorded_times_are_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
