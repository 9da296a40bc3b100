/*
 * test_rowhash.c — steps/lib/rowhash.c: a row fed piece by piece (small
 * pieces kept together, large ones past the buffer, empty ones) hashes as
 * the same bytes given at once; a row is one SHA-256 added into the lanes;
 * rows in any order, or split over accumulators and merged, give the same
 * hash.
 */
#include "unit.h"

#include <openssl/sha.h>

#include "rowhash.h"

/* The hash of one accumulator holding the rows rows[0..n) of lengths len[]. */
static void whole(const unsigned char *const *rows, const size_t *len, size_t n, char out[65])
{
    struct rune_rowhash h;
    rune_rowhash_init(&h);
    for (size_t i = 0; i < n; i++)
        rune_rowhash_row(&h, rows[i], len[i]);
    rune_rowhash_hex(&h, out);
    assert_int_equal(h.rows, (long long)n);
    rune_rowhash_free(&h);
}

static void test_one_row_is_its_sha256(void **state)
{
    (void)state;
    struct rune_rowhash h;
    rune_rowhash_init(&h);
    rune_rowhash_row(&h, "abc", 3);
    char hex[65], want[65];
    rune_rowhash_hex(&h, hex);
    rune_rowhash_free(&h);
    unsigned char md[32];
    SHA256((const unsigned char *)"abc", 3, md);
    for (int i = 0; i < 32; i++)
        snprintf(want + 2 * i, 3, "%02x", md[i]);
    assert_string_equal(hex, want);
}

static void test_pieces_hash_as_one(void **state)
{
    (void)state;
    /* a row of small fields, an empty one, and one longer than the buffer
     * arriving when it is half full */
    size_t big = RUNE_ROWHASH_BUF + 1000;
    unsigned char *row = malloc(3 * RUNE_ROWHASH_BUF);
    for (size_t i = 0; i < 3 * RUNE_ROWHASH_BUF; i++)
        row[i] = (unsigned char)(i * 7 + 3);
    size_t cuts[][6] = {
        {1, 8, 0, 4, big, 5},                             /* small, empty, large, small */
        {RUNE_ROWHASH_BUF - 2, 4, 1, 0, 100, 7},          /* the buffer overflows by a little */
        {RUNE_ROWHASH_BUF, RUNE_ROWHASH_BUF, 1, 1, 1, 1}, /* exactly full, twice */
    };
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        size_t total = 0;
        struct rune_rowhash h;
        rune_rowhash_init(&h);
        for (int round = 0; round < 2; round++) { /* the state resets between rows */
            size_t off = 0;
            rune_rowhash_begin(&h);
            for (int k = 0; k < 6; k++) {
                rune_rowhash_feed(&h, cuts[c][k] ? row + off : NULL, cuts[c][k]);
                off += cuts[c][k];
            }
            rune_rowhash_end(&h);
            total = off;
        }
        char fed[65], once[65];
        rune_rowhash_hex(&h, fed);
        rune_rowhash_free(&h);
        const unsigned char *rows[2] = {row, row};
        size_t lens[2] = {total, total};
        whole(rows, lens, 2, once);
        assert_string_equal(fed, once);
    }
    free(row);
}

static void test_order_and_merge(void **state)
{
    (void)state;
    const unsigned char *rows[4] = {(const unsigned char *)"one", (const unsigned char *)"two",
                                    (const unsigned char *)"three", (const unsigned char *)"two"};
    size_t len[4] = {3, 3, 5, 3};
    char fwd[65], rev[65], merged[65];
    whole(rows, len, 4, fwd);
    const unsigned char *rrows[4] = {rows[3], rows[2], rows[1], rows[0]};
    size_t rlen[4] = {len[3], len[2], len[1], len[0]};
    whole(rrows, rlen, 4, rev);
    assert_string_equal(fwd, rev);
    struct rune_rowhash a, b;
    rune_rowhash_init(&a);
    rune_rowhash_init(&b);
    rune_rowhash_row(&a, rows[0], len[0]);
    rune_rowhash_row(&b, rows[1], len[1]);
    rune_rowhash_row(&b, rows[2], len[2]);
    rune_rowhash_row(&a, rows[3], len[3]);
    rune_rowhash_merge(&a, &b);
    rune_rowhash_hex(&a, merged);
    assert_int_equal(a.rows, 4);
    assert_string_equal(merged, fwd);
    /* a duplicated row does not cancel out (as it would with XOR) */
    const unsigned char *twice[2] = {rows[1], rows[1]};
    size_t tlen[2] = {3, 3};
    whole(twice, tlen, 2, rev);
    assert_string_not_equal(rev,
                            "0000000000000000000000000000000000000000000000000000000000000000");
    rune_rowhash_free(&a);
    rune_rowhash_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_row_is_its_sha256),
        cmocka_unit_test(test_pieces_hash_as_one),
        cmocka_unit_test(test_order_and_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
