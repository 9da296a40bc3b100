/*
 * test_redact.c — masking secrets, whole and in the pieces a cut leaves,
 * and no core file once a secret is known.
 */
#include "unit.h"

#include <jansson.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "redact.h"

#define SECRET "Zq8hunter2SECRETVALUEx7Kp3" /* 26 characters */

static void check(struct rune_redactor *r, const char *in, int cuts, const char *want)
{
    char *got = rune_redact_cut(r, in, cuts);
    assert_string_equal(got, want);
    assert_true(strlen(got) <= strlen(in));
    free(got);
}

static void whole_secrets(void **state)
{
    (void)state;
    struct rune_redactor r;
    rune_redactor_init(&r);
    rune_redactor_add(&r, SECRET);
    rune_redactor_add(&r, "abc"); /* too short: ignored */
    rune_redactor_add(&r, "pass-1234");
    check(&r, "token=" SECRET " and pass-1234 and abc", RUNE_CUT_NONE, "token=*** and *** and abc");
    /* two secrets side by side are one masked run */
    check(&r, "[" SECRET "pass-1234]", RUNE_CUT_NONE, "[***]");
    /* overlapping: the union is masked whatever the order */
    rune_redactor_add(&r, "1234-more");
    check(&r, "pass-1234-more!", RUNE_CUT_NONE, "***!");
    check(&r, "", RUNE_CUT_NONE, "");
    rune_redactor_free(&r);
}

/* What a cut leaves of a secret, 8 characters or more, is masked wherever
 * it is in the text: a message cut in a fixed buffer and then quoted. */
static void pieces_anywhere(void **state)
{
    (void)state;
    struct rune_redactor r;
    rune_redactor_init(&r);
    rune_redactor_add(&r, SECRET);
    check(&r, "error: Zq8hunter2SECRET; rolled back", RUNE_CUT_NONE, "error: ***; rolled back");
    check(&r, "tail 8hunter2SECRETVALUEx7Kp3 end", RUNE_CUT_NONE, "tail *** end");
    check(&r, "Zq8hunte|x7Kp3", RUNE_CUT_NONE, "***|x7Kp3"); /* 8 yes, 5 no */
    check(&r, "Zq8hunt", RUNE_CUT_NONE, "Zq8hunt");          /* 7: not masked mid-text */
    check(&r, "SECRETVA", RUNE_CUT_NONE, "SECRETVA"); /* middle pieces are not what cuts leave */
    rune_redactor_free(&r);
}

/* At an edge the caller knows is a cut, down to RUNE_SECRET_MIN. */
static void pieces_at_cut_edges(void **state)
{
    (void)state;
    struct rune_redactor r;
    rune_redactor_init(&r);
    rune_redactor_add(&r, SECRET);
    check(&r, "xZq8h", RUNE_CUT_TAIL, "x***");
    check(&r, "xZq8", RUNE_CUT_TAIL, "xZq8"); /* 3 characters: left */
    check(&r, "xZq8h", RUNE_CUT_NONE, "xZq8h");
    check(&r, "xZq8h", RUNE_CUT_HEAD, "xZq8h");
    check(&r, "Kp3 done", RUNE_CUT_HEAD, "Kp3 done");
    check(&r, "7Kp3 done", RUNE_CUT_HEAD, "*** done");
    check(&r, "7Kp3 done", RUNE_CUT_TAIL, "7Kp3 done");
    check(&r, "7Kp3 mid Zq8h", RUNE_CUT_HEAD | RUNE_CUT_TAIL, "*** mid ***");
    /* each cut of the secret, from either side */
    const char *sec = SECRET;
    for (size_t k = 1; k < strlen(sec); k++) {
        char head[64], tail[64];
        snprintf(tail, sizeof tail, "pad %.*s", (int)k, sec);
        snprintf(head, sizeof head, "%s pad", sec + k);
        char *t = rune_redact_cut(&r, tail, RUNE_CUT_TAIL);
        char *h = rune_redact_cut(&r, head, RUNE_CUT_HEAD);
        if (k >= RUNE_SECRET_MIN)
            assert_string_equal(t, "pad ***");
        if (strlen(sec) - k >= RUNE_SECRET_MIN)
            assert_string_equal(h, "*** pad");
        free(t);
        free(h);
    }
    rune_redactor_free(&r);
}

/* A piece that stops inside a multi-byte character takes the whole
 * character: the result stays valid UTF-8 (a JSON string). */
static void pieces_keep_utf8(void **state)
{
    (void)state;
    struct rune_redactor r;
    rune_redactor_init(&r);
    rune_redactor_add(&r, "geheim-pässwört-1");
    /* "é" (C3 A9) and "ä" (C3 A4) share their first byte */
    const char *text = "x geheim-pé y";
    char *m = rune_redact(&r, text);
    json_t *s = json_string(m);
    assert_non_null(s);
    assert_string_equal(m, "x *** y");
    json_decref(s);
    free(m);
    m = rune_redact_cut(&r, "geheim-p\xc3", RUNE_CUT_TAIL);
    assert_string_equal(m, "***");
    free(m);
    rune_redactor_free(&r);
}

static void json_keys_and_values(void **state)
{
    (void)state;
    struct rune_redactor r;
    rune_redactor_init(&r);
    rune_redactor_add(&r, SECRET);
    json_t *v = json_pack("{s:s, s:[s, i]}", SECRET, "v", "list", "a Zq8hunter2SE", 3);
    json_t *m = rune_redact_json(&r, v);
    char *txt = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(txt, "{\"***\":\"v\",\"list\":[\"a ***\",3]}");
    free(txt);
    json_decref(m);
    json_decref(v);
    rune_redactor_free(&r);
}

/* A core file holds every secret in memory: the first secret turns core
 * dumps off (soft RLIMIT_CORE 0, not dumpable). */
static void first_secret_disables_core_dumps(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
    rl.rlim_cur = rl.rlim_max; /* as generous as allowed */
    setrlimit(RLIMIT_CORE, &rl);
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);

    struct rune_redactor r;
    rune_redactor_init(&r);
    rune_redactor_add(&r, "ab"); /* not a secret it keeps */
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
    rune_redactor_add(&r, SECRET);
    assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
    assert_int_equal(rl.rlim_cur, 0);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    rune_redactor_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_secrets),        cmocka_unit_test(pieces_anywhere),
        cmocka_unit_test(pieces_at_cut_edges),  cmocka_unit_test(pieces_keep_utf8),
        cmocka_unit_test(json_keys_and_values), cmocka_unit_test(first_secret_disables_core_dumps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
