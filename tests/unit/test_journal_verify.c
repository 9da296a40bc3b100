/*
 * test_journal_verify.c — tamper evidence: rune_journal_verify recomputes
 * an incident's hash chain and names the first event that was changed,
 * inserted, deleted or reordered. Each case writes a real incident through
 * the journal, then edits the file behind its back with plain SQL, as
 * someone with the sqlite3 shell would.
 */
#include <ftw.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <setjmp.h> /* cmocka needs these first */

/* cmocka.h needs stdarg, stddef, setjmp and stdint first, in this order */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include "journal.h"

#define ID "20261123-120000-abcd"
#define NEVENTS 8 /* incident.start, stage.start, 2 x (step.start, step.end), stage.end, end */

struct fixture {
    char dir[64];
    char path[256];
};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void event(struct rune_journal *j, const char *kind, const char *stage, const char *step,
                  int attempt, const char *status, json_t *detail)
{
    struct rune_event ev = {stage, step, attempt, kind, status, status ? 12 : -1, detail};
    if (rune_journal_event(j, ID, &ev) < 1)
        fail_msg("rune_journal_event(%s): %s", kind, rune_journal_error(j));
}

/* A finished incident: NEVENTS chained events, outcome resolved (exit 0). */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct rune_journal *j = NULL;
    char err[512];

    snprintf(f->dir, sizeof f->dir, "/tmp/rune-verify-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/incidents.db", f->dir);
    if (rune_journal_open(f->path, &j, err, sizeof err) != 0)
        return -1;
    struct rune_incident_rec rec = {.id = ID, .runbook = "verify", .mode = "run"};
    if (rune_journal_begin(j, &rec) != 0)
        return -1;
    json_t *d = json_pack("{s:s}", "uses", "shell.run");
    json_t *out = json_pack("{s:{s:s}, s:n}", "outputs", "stdout", "ok", "error");
    json_t *fin = json_pack("{s:s, s:i}", "outcome", "resolved", "exit_code", 0);
    event(j, "incident.start", NULL, NULL, 0, NULL, NULL);
    event(j, "stage.start", "mitigation", NULL, 0, NULL, NULL);
    event(j, "step.start", "mitigation", "a", 1, NULL, d);
    event(j, "step.end", "mitigation", "a", 1, "ok", out);
    event(j, "step.start", "mitigation", "b", 1, NULL, d);
    event(j, "step.end", "mitigation", "b", 1, "ok", out);
    event(j, "stage.end", "mitigation", NULL, 0, "ok", NULL);
    event(j, "incident.end", NULL, NULL, 0, "resolved", fin);
    json_decref(d);
    json_decref(out);
    json_decref(fin);
    if (rune_journal_end(j, ID, "resolved", 0, 0) != 0)
        return -1;
    rune_journal_close(j);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* What an operator with the sqlite3 shell would type. */
static void tamper(struct fixture *f, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static struct rune_chain_result verify(struct fixture *f, int want_rc)
{
    struct rune_journal *j = NULL;
    struct rune_chain_result res;
    char err[512];
    assert_int_equal(rune_journal_open_read(f->path, &j, err, sizeof err), 0);
    int rc = rune_journal_verify(j, ID, &res);
    if (rc != want_rc)
        fail_msg("rune_journal_verify returned %d: %s", rc, rune_journal_error(j));
    rune_journal_close(j);
    return res;
}

static void expect(struct fixture *f, enum rune_chain_problem p, long long seq)
{
    struct rune_chain_result res = verify(f, 0);
    if (res.problem != p || res.seq != seq)
        fail_msg("expected %s at seq %lld, got %s at seq %lld: %s", rune_chain_problem_name(p), seq,
                 rune_chain_problem_name(res.problem), res.seq, res.message);
}

static void test_intact(void **state)
{
    struct fixture *f = *state;
    struct rune_chain_result res = verify(f, 0);
    assert_int_equal(res.problem, RUNE_CHAIN_INTACT);
    assert_int_equal(res.events, NEVENTS);
    assert_int_equal(strlen(res.head_hash), 64);
    assert_string_equal(res.message, "");
}

static void test_unknown_incident(void **state)
{
    struct fixture *f = *state;
    struct rune_journal *j = NULL;
    struct rune_chain_result res;
    char err[512];
    assert_int_equal(rune_journal_open_read(f->path, &j, err, sizeof err), 0);
    assert_int_equal(rune_journal_verify(j, "20990101-000000-0000", &res), RUNE_JOURNAL_UNKNOWN);
    rune_journal_close(j);
}

static void test_changed_detail(void **state)
{
    tamper(*state, "UPDATE events SET detail_json = replace(detail_json, '\"ok\"', '\"fine\"') "
                   "WHERE seq = 4");
    expect(*state, RUNE_CHAIN_CHANGED, 4);
}

static void test_changed_status_and_hash(void **state)
{
    /* a forged hash does not help: the next event's link still names the old one */
    tamper(*state, "UPDATE events SET status = 'failed', hash = 'ab' || substr(hash, 3) "
                   "WHERE seq = 6");
    expect(*state, RUNE_CHAIN_CHANGED, 6);
}

static void test_deleted_gap(void **state)
{
    tamper(*state, "DELETE FROM events WHERE seq = 5");
    expect(*state, RUNE_CHAIN_DELETED, 5);
}

static void test_deleted_first(void **state)
{
    tamper(*state, "DELETE FROM events WHERE seq = 1");
    expect(*state, RUNE_CHAIN_DELETED, 1);
}

static void test_deleted_renumbered(void **state)
{
    tamper(*state,
           "DELETE FROM events WHERE seq = 3; UPDATE events SET seq = seq - 1 WHERE seq > 3");
    expect(*state, RUNE_CHAIN_DELETED, 3);
}

static void test_deleted_tail(void **state)
{
    tamper(*state, "DELETE FROM events WHERE seq = 8");
    expect(*state, RUNE_CHAIN_DELETED, 8);
}

static void test_reordered(void **state)
{
    tamper(*state, "UPDATE events SET seq = 100 WHERE seq = 4; "
                   "UPDATE events SET seq = 4 WHERE seq = 5; "
                   "UPDATE events SET seq = 5 WHERE seq = 100");
    expect(*state, RUNE_CHAIN_REORDERED, 4);
}

static void test_inserted_after_end(void **state)
{
    tamper(*state, "INSERT INTO events SELECT incident_id, 9, at, stage, step, attempt, kind, "
                   "status, duration_ms, detail_json, hash, hash FROM events WHERE seq = 8");
    expect(*state, RUNE_CHAIN_INSERTED, 9);
}

static void test_inserted_renumbered(void **state)
{
    /* make room (from the top, so the primary key never collides) and copy
     * event 3 into the gap */
    tamper(*state, "UPDATE events SET seq = seq + 100 WHERE seq >= 4; "
                   "UPDATE events SET seq = seq - 99 WHERE seq >= 104; "
                   "INSERT INTO events SELECT incident_id, 4, at, stage, step, attempt, kind, "
                   "status, duration_ms, detail_json, prev_hash, hash FROM events WHERE seq = 3");
    expect(*state, RUNE_CHAIN_INSERTED, 4);
}

static void test_record_disagrees(void **state)
{
    tamper(*state, "UPDATE incidents SET outcome = 'failed', exit_code = 4");
    expect(*state, RUNE_CHAIN_RECORD, 0);
}

static void test_running_incident_is_intact(void **state)
{
    /* no end recorded yet (still running, or rune died): a missing tail
     * cannot be told from a run that has not written it yet */
    tamper(*state, "UPDATE incidents SET outcome = NULL, exit_code = NULL; "
                   "DELETE FROM events WHERE seq = 8");
    expect(*state, RUNE_CHAIN_INTACT, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_incident, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_detail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_status_and_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_renumbered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reordered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inserted_after_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inserted_renumbered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_disagrees, setup, teardown),
        cmocka_unit_test_setup_teardown(test_running_incident_is_intact, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
