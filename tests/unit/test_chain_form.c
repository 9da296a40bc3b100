/*
 * test_chain_form.c — engine/record/journal_chain.c: the canonical form of
 * an event, which the hash chain covers, is byte for byte what its
 * definition says (a jansson object of the ten fields dumped with the
 * log's flags), whether the detail is taken as the writer dumped it or
 * parsed and dumped again as the verifier does. Logs written before the
 * form was written field by field must still verify, and the writer's
 * shortcut must never hash other bytes than the verifier recomputes.
 */
#include "unit.h"

#include "journal_store.h"

/* The definition, as docs/architecture.md states it and as the form was
 * computed before: build the object, dump it. */
static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static char *reference(const char *incident_id, long long seq, const char *at, const char *stage,
                       const char *step, long long attempt, const char *kind, const char *status,
                       long long duration_ms, const char *detail_json)
{
    json_t *o = json_object();
    json_t *detail =
        detail_json ? json_loads(detail_json, RUNE_JOURNAL_LOAD_FLAGS, NULL) : json_null();
    int bad = !detail;
    bad |= json_object_set_new(o, "incident_id", text_or_null(incident_id));
    bad |= json_object_set_new(o, "seq", json_integer(seq));
    bad |= json_object_set_new(o, "at", text_or_null(at));
    bad |= json_object_set_new(o, "stage", text_or_null(stage));
    bad |= json_object_set_new(o, "step", text_or_null(step));
    bad |= json_object_set_new(o, "attempt", json_integer(attempt));
    bad |= json_object_set_new(o, "kind", text_or_null(kind));
    bad |= json_object_set_new(o, "status", text_or_null(status));
    bad |= json_object_set_new(o, "duration_ms",
                               duration_ms < 0 ? json_null() : json_integer(duration_ms));
    bad |= json_object_set(o, "detail", detail);
    char *s = bad ? NULL : json_dumps(o, RUNE_JOURNAL_STORE_FLAGS);
    json_decref(detail);
    json_decref(o);
    return s;
}

/* Details as a step's outputs can make them: keys in any order, nesting,
 * escapes, control characters, NUL, UTF-8, reals, big integers. */
static json_t *detail_case(int i)
{
    json_error_t e;
    static const char *const texts[] = {
        "{\"z\":1,\"a\":{\"y\":[1,2,{\"c\":null,\"b\":true}],\"x\":\"\\\"q\\\" \\\\ /\"}}",
        "{\"msg\":\"line1\\nline2\\ttab\\r\\b\\f\\u0001\\u001f\\u007f\"}",
        "{\"nul\":\"a\\u0000b\",\"utf8\":\"caf\\u00e9 \\u65e5\\u672c \\ud83d\\ude00\"}",
        "{\"r\":[0.1,1.0,-2.5e-300,1e300,123456789.123456789,3.0]}",
        "{\"i\":[9223372036854775807,-9223372036854775807,0,-1]}",
        "[]",
        "\"just a string\"",
        "12",
        "{}",
        "{\"\":\"empty key\",\"k\\u00e9y\":[[],{},[{}]]}",
    };
    if (i < (int)(sizeof texts / sizeof *texts))
        return json_loads(texts[i], RUNE_JOURNAL_LOAD_FLAGS, &e);
    return NULL;
}

static void assert_same_form(const char *incident, long long seq, const char *at, const char *stage,
                             const char *step, long long attempt, const char *kind,
                             const char *status, long long ms, json_t *detail)
{
    char *dumped = detail ? json_dumps(detail, RUNE_JOURNAL_STORE_FLAGS) : NULL;
    char *want = reference(incident, seq, at, stage, step, attempt, kind, status, ms, dumped);
    char *writer =
        rune_chain_form(incident, seq, at, stage, step, attempt, kind, status, ms, dumped, true);
    char *verifier =
        rune_chain_form(incident, seq, at, stage, step, attempt, kind, status, ms, dumped, false);
    assert_non_null(want);
    assert_non_null(writer);
    assert_non_null(verifier);
    assert_string_equal(writer, want);
    assert_string_equal(verifier, want);
    char h1[RUNE_HASH_HEX + 1], h2[RUNE_HASH_HEX + 1];
    assert_int_equal(rune_chain_hash(RUNE_ZERO_HASH, incident, seq, at, stage, step, attempt, kind,
                                     status, ms, dumped, h1),
                     0);
    assert_int_equal(rune_chain_hash_new(RUNE_ZERO_HASH, incident, seq, at, stage, step, attempt,
                                         kind, status, ms, dumped, h2),
                     0);
    assert_string_equal(h1, h2);
    free(want);
    free(writer);
    free(verifier);
    free(dumped);
}

static void the_form_is_the_definition_for_every_kind_of_detail(void **state)
{
    (void)state;
    for (int i = 0;; i++) {
        json_t *d = detail_case(i);
        if (!d)
            break;
        assert_same_form("20261203-010203-abcd", i + 1, "2026-12-03T01:02:03.456Z", "mitigation",
                         "restore", 1, "step.end", "ok", 1234, d);
        json_decref(d);
    }
    assert_same_form("20261203-010203-abcd", 1, "2026-12-03T01:02:03.456Z", NULL, NULL, 0,
                     "incident.start", NULL, -1, NULL);
}

static void text_fields_are_escaped_as_jansson_escapes_them(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "plain",   "with \"quotes\"", "back\\slash", "new\nline", "ctl\x01\x1f",
        "del\x7f", "slash / ",        "caf\xc3\xa9", "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        assert_same_form(texts[i], 7, texts[i], texts[i], texts[i], 2, texts[i], texts[i], 0, NULL);
}

static void text_that_is_not_utf8_has_no_form(void **state)
{
    (void)state;
    assert_null(rune_chain_form("id", 1, "at", "st\xff", "step", 1, "k", "s", 1, NULL, true));
    assert_null(rune_chain_form("id", 1, "at", "st\xff", "step", 1, "k", "s", 1, NULL, false));
    char h[RUNE_HASH_HEX + 1];
    assert_int_equal(
        rune_chain_hash_new(RUNE_ZERO_HASH, "id", 1, "at", "\xc3", "step", 1, "k", "s", 1, NULL, h),
        RUNE_CHAIN_NO_FORM);
}

static void a_stored_detail_edited_to_other_whitespace_is_recanonicalised(void **state)
{
    (void)state;
    /* the verifier's way: stored text that is not jansson's form, same value */
    char *v =
        rune_chain_form("id", 1, "at", "s", "t", 1, "k", "ok", 5, "{ \"b\": 1, \"a\": 2 }", false);
    assert_non_null(v);
    assert_non_null(strstr(v, "\"detail\":{\"a\":2,\"b\":1}"));
    free(v);
    assert_null(rune_chain_form("id", 1, "at", "s", "t", 1, "k", "ok", 5, "{not json", false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_form_is_the_definition_for_every_kind_of_detail),
        cmocka_unit_test(text_fields_are_escaped_as_jansson_escapes_them),
        cmocka_unit_test(text_that_is_not_utf8_has_no_form),
        cmocka_unit_test(a_stored_detail_edited_to_other_whitespace_is_recanonicalised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
