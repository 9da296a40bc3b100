/*
 * test_journal_limits.c — the incident log and values too large for it:
 * every SQLite error on a write is reported, never swallowed into a NULL
 * column (which `rune log verify` used to report as tampering), and an
 * event detail over the cap is stored as a truncation marker made before
 * the hash, so the chain stays intact and says what happened.
 *
 * The limits are lowered on the connection (rune_journal_set_limits) so
 * the cases run on kilobytes, not on SQLite's real gigabyte.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "unit.h"

#include "journal.h"

#define ID "20990101-000000-abcd"

struct fixture {
    char dir[64];
    char path[128];
    struct rune_journal *j;
};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char err[512] = "";
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "%s/rune-jlimits-XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/incidents.db", f->dir);
    if (rune_journal_open(f->path, &f->j, err, sizeof err) != 0) {
        fprintf(stderr, "rune_journal_open: %s\n", err);
        return -1;
    }
    struct rune_incident_rec rec = {.id = ID, .runbook = "limits", .mode = "run"};
    if (rune_journal_begin(f->j, &rec) != 0) {
        fprintf(stderr, "rune_journal_begin: %s\n", rune_journal_error(f->j));
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    rune_journal_close(f->j);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* A detail whose one string is n bytes of c (c repeated, UTF-8 as given). */
static json_t *detail_of(const char *key, const char *c, size_t n)
{
    size_t cl = strlen(c);
    char *s = malloc(n + 1);
    assert_non_null(s);
    for (size_t i = 0; i + cl <= n; i += cl)
        memcpy(s + i, c, cl);
    s[n - n % cl] = '\0';
    json_t *d = json_pack("{s:{s:s}, s:i}", "outputs", key, s, "exit_code", 0);
    free(s);
    assert_non_null(d);
    return d;
}

static long long append(struct rune_journal *j, const char *kind, json_t *detail)
{
    struct rune_event ev = {"mitigation", "big", 1, kind, "ok", 5, detail};
    return rune_journal_event(j, ID, &ev);
}

static void expect_intact(struct rune_journal *j, long long events)
{
    struct rune_chain_result res;
    assert_int_equal(rune_journal_verify(j, ID, &res), 0);
    if (res.problem != RUNE_CHAIN_INTACT)
        fail_msg("chain not intact: %s", res.message);
    assert_int_equal(res.events, events);
}

/* The event with this seq, as rune log reads it (new reference). */
static json_t *event_at(struct rune_journal *j, long long seq)
{
    json_t *inc = rune_journal_get(j, ID);
    assert_non_null(inc);
    json_t *ev = json_incref(json_array_get(json_object_get(inc, "events"), (size_t)seq - 1));
    json_decref(inc);
    assert_non_null(ev);
    assert_int_equal(json_integer_value(json_object_get(ev, "seq")), seq);
    return ev;
}

/* SQLite refusing a value (here: longer than the connection's length
 * limit) fails the append with SQLite's reason; nothing is stored in its
 * place, the chain stays intact and the next event is recorded normally. */
static void test_bind_error_reported(void **state)
{
    struct fixture *f = *state;
    json_t *small = detail_of("stdout", "x", 10);
    json_t *big = detail_of("stdout", "x", 8000);

    assert_int_equal(append(f->j, "step.end", small), 1);
    rune_journal_set_limits(f->j, 0, 4096);
    assert_int_equal(append(f->j, "step.end", big), -1);
    const char *err = rune_journal_error(f->j);
    if (!strstr(err, "too big") || !strstr(err, "step.end") || !strstr(err, f->path))
        fail_msg("unexpected error: %s", err);

    json_t *inc = rune_journal_get(f->j, ID);
    assert_non_null(inc);
    assert_int_equal(json_array_size(json_object_get(inc, "events")), 1);
    json_decref(inc);
    expect_intact(f->j, 1);

    /* the failed append left no transaction open behind it */
    assert_int_equal(append(f->j, "step.end", small), 2);
    expect_intact(f->j, 2);
    json_decref(small);
    json_decref(big);
}

/* The incident row's values are checked the same way. */
static void test_begin_bind_error_reported(void **state)
{
    struct fixture *f = *state;
    json_t *inputs = detail_of("path", "y", 8000);
    struct rune_incident_rec rec = {
        .id = "20990101-000000-ffff", .runbook = "limits", .mode = "run", .inputs = inputs};

    rune_journal_set_limits(f->j, 0, 4096);
    assert_int_equal(rune_journal_begin(f->j, &rec), -1);
    if (!strstr(rune_journal_error(f->j), "too big"))
        fail_msg("unexpected error: %s", rune_journal_error(f->j));
    json_decref(inputs);
}

/* Over the cap: the marker is what is stored and hashed, and says how big
 * the detail was and how it began. At the cap: kept whole. */
static void test_oversized_detail_truncated(void **state)
{
    struct fixture *f = *state;
    json_t *whole = detail_of("stdout", "x", 100);
    char *text = json_dumps(whole, JSON_COMPACT | JSON_SORT_KEYS);
    size_t cap = strlen(text);

    rune_journal_set_limits(f->j, cap, 0);
    assert_int_equal(append(f->j, "step.end", whole), 1);
    json_t *ev = event_at(f->j, 1);
    assert_true(json_equal(json_object_get(ev, "detail"), whole));
    json_decref(ev);

    json_t *over = detail_of("stdout", "x", 101);
    char *over_text = json_dumps(over, JSON_COMPACT | JSON_SORT_KEYS);
    assert_int_equal(append(f->j, "step.end", over), 2);
    ev = event_at(f->j, 2);
    json_t *d = json_object_get(ev, "detail");
    assert_true(json_is_true(json_object_get(d, "truncated")));
    assert_int_equal(json_integer_value(json_object_get(d, "original_bytes")), strlen(over_text));
    const char *head = json_string_value(json_object_get(d, "head"));
    assert_non_null(head);
    assert_true(strlen(head) <= strlen(over_text));
    assert_memory_equal(head, over_text, strlen(head));
    assert_null(json_object_get(d, "outputs"));
    json_decref(ev);
    expect_intact(f->j, 2);

    free(text);
    free(over_text);
    json_decref(whole);
    json_decref(over);
}

/* The head is at most 64 KiB and never ends inside a UTF-8 sequence. */
static void test_truncation_head_is_valid_utf8(void **state)
{
    struct fixture *f = *state;
    /* {"exit_code":0,"outputs":{"abc":"é... puts the 64 KiB cut mid-character */
    json_t *big = detail_of("abc", "\xc3\xa9", 200000);
    char *text = json_dumps(big, JSON_COMPACT | JSON_SORT_KEYS);
    const char *first = strstr(text, "\xc3\xa9");
    assert_non_null(first);
    assert_int_equal((65536 - (size_t)(first - text)) % 2, 1);

    rune_journal_set_limits(f->j, 100000, 0);
    assert_int_equal(append(f->j, "step.end", big), 1);
    json_t *ev = event_at(f->j, 1);
    json_t *d = json_object_get(ev, "detail");
    const char *head = json_string_value(json_object_get(d, "head"));
    assert_non_null(head);
    assert_int_equal(strlen(head), 65535);
    assert_memory_equal(head, text, 65535);
    assert_int_equal(json_integer_value(json_object_get(d, "original_bytes")), strlen(text));
    json_decref(ev);
    expect_intact(f->j, 1);
    free(text);
    json_decref(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bind_error_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin_bind_error_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_detail_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_head_is_valid_utf8, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
