/*
 * test_lock_key.c — engine/run/lock.c's advisory lock key: the first 8
 * bytes of SHA-256("rune-lock:" || name), big-endian, as a signed 64-bit
 * integer (docs/teams.md (Locks on PostgreSQL)). Every host and every rune version must
 * compute the same key for a name, or two runs on two hosts would take
 * two different locks for one resource; the values here were computed
 * independently (Python's hashlib), so a change of the definition fails.
 */
#include "unit.h"

#include "lock.h"

static void key_is_the_documented_hash(void **state)
{
    (void)state;
    /* positive and negative keys: the sign is the top bit of byte 0 */
    assert_true(rune_lock_key("db/shop") == INT64_C(9093531624879694128));
    assert_true(rune_lock_key("postgres/app") == INT64_C(-2436947689027669985));
    assert_true(rune_lock_key("") == INT64_C(-1196973450089960560));
    assert_true(rune_lock_key("resume-20261203-005741-5d15") == INT64_C(-255456184320417318));
}

static void key_covers_the_whole_name(void **state)
{
    (void)state;
    /* a name longer than any file name, differing only at its end */
    char a[1001], b[1001];
    memset(a, 'x', 1000);
    a[1000] = '\0';
    memcpy(b, a, sizeof a);
    b[999] = 'y';
    assert_true(rune_lock_key(a) != rune_lock_key(b));
    assert_true(rune_lock_key(a) == rune_lock_key(a));
    /* the prefix is part of the hash: not SHA-256 of the bare name */
    assert_true(rune_lock_key("db/shop") != rune_lock_key("rune-lock:db/shop"));
}

static void parts_are_what_pg_locks_shows(void **state)
{
    (void)state;
    uint32_t cls, obj;
    /* pg_locks: classid = high 32 bits, objid = low 32 bits, unsigned */
    rune_lock_key_parts(INT64_C(9093531624879694128), &cls, &obj); /* 0x7e32b6d54ebc2130 */
    assert_true(cls == UINT32_C(0x7e32b6d5));
    assert_true(obj == UINT32_C(0x4ebc2130));
    rune_lock_key_parts(INT64_C(-2436947689027669985), &cls, &obj); /* 0xde2e38fd034bf01f */
    assert_true(cls == UINT32_C(3727571197));
    assert_true(obj == UINT32_C(55308319));
    rune_lock_key_parts(INT64_C(-1), &cls, &obj);
    assert_true(cls == UINT32_MAX && obj == UINT32_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_is_the_documented_hash),
        cmocka_unit_test(key_covers_the_whole_name),
        cmocka_unit_test(parts_are_what_pg_locks_shows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
