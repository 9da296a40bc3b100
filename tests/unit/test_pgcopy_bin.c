/*
 * test_pgcopy_bin.c — steps/pg/pgcopy_bin.c: COPY text rows as pg.dump
 * writes them, turned into COPY's binary format. The bytes are those
 * PostgreSQL's *_send functions write for the same values (checked
 * against a server by tests/pg/test_pg_restore_binary.sh, which restores
 * every converted type identical); rows cut anywhere between feeds
 * convert the same; and every value not in the one form the dump writes
 * is refused with its row and column, never converted into something
 * else.
 */
#include "unit.h"

#include "pgcopy_bin.h"

static const char HEADER[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
#define HEADER_LEN 19

/* The converter's output for text fed whole, then ended; NULL (and why in
 * err) when refused. *n is its length without the 19-byte header. */
static char *convert(const enum rune_pg_bin_kind *kinds, size_t nk, const char *text, size_t *n,
                     char *err)
{
    struct rune_pg_bin *b = rune_pg_bin_new(kinds, nk);
    assert_non_null(b);
    char *res = NULL;
    if (rune_pg_bin_feed(b, text, strlen(text), err, 256) == 0 &&
        rune_pg_bin_finish(b, err, 256) == 0) {
        size_t len;
        const char *out = rune_pg_bin_output(b, &len);
        assert_true(len >= HEADER_LEN + 2);
        assert_memory_equal(out, HEADER, HEADER_LEN);
        assert_memory_equal(out + len - 2, "\xff\xff", 2);
        *n = len - HEADER_LEN - 2;
        res = malloc(*n + 1);
        memcpy(res, out + HEADER_LEN, *n);
    }
    rune_pg_bin_free(b);
    return res;
}

/* One value of one kind: its field (length and bytes), as hex. */
static void expect_field(enum rune_pg_bin_kind kind, const char *value, const char *hex)
{
    char text[512], err[256] = "", got[1024] = "";
    snprintf(text, sizeof text, "%s\n", value);
    size_t n;
    char *out = convert(&kind, 1, text, &n, err);
    if (!out)
        fail_msg("%s refused: %s", value, err);
    assert_memory_equal(out, "\0\1", 2); /* one field */
    for (size_t i = 2; i < n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%02x", (unsigned char)out[i]);
    free(out);
    if (strcmp(got, hex))
        fail_msg("%s: expected %s, got %s", value, hex, got);
}

static void expect_refused(enum rune_pg_bin_kind kind, const char *value)
{
    char text[512], err[256] = "";
    snprintf(text, sizeof text, "%s\n", value);
    size_t n;
    char *out = convert(&kind, 1, text, &n, err);
    if (out)
        fail_msg("%s was converted", value);
    assert_non_null(strstr(err, "row 1, column 1: not "));
}

static void test_values(void **state)
{
    (void)state;
    expect_field(RUNE_PG_BIN_BOOL, "t", "0000000101");
    expect_field(RUNE_PG_BIN_BOOL, "f", "0000000100");
    expect_field(RUNE_PG_BIN_INT2, "-32768", "000000028000");
    expect_field(RUNE_PG_BIN_INT4, "2147483647", "000000047fffffff");
    expect_field(RUNE_PG_BIN_INT8, "-9223372036854775808", "000000088000000000000000");
    expect_field(RUNE_PG_BIN_INT8, "-1", "00000008ffffffffffffffff");
    expect_field(RUNE_PG_BIN_TEXT, "\\N", "ffffffff");       /* NULL */
    expect_field(RUNE_PG_BIN_TEXT, "\\\\N", "000000025c4e"); /* the text \N */
    /* every escape COPY TO writes: \t \n \r \b \f \v \\ (other control
     * characters it writes as they are) */
    expect_field(RUNE_PG_BIN_TEXT, "a\\tb\\nc\\rd\\b\\f\\v\\\\\x01",
                 "0000000c6109620a630d64080c0b5c01");
    expect_field(RUNE_PG_BIN_TEXT, "", "00000000");
    expect_field(RUNE_PG_BIN_JSONB, "{\"a\": 1}", "00000009017b2261223a20317d");
    expect_field(RUNE_PG_BIN_BYTEA, "\\\\x00ff10", "0000000300ff10");
    expect_field(RUNE_PG_BIN_BYTEA, "\\\\x", "00000000");
    /* days and microseconds since 2000-01-01 */
    expect_field(RUNE_PG_BIN_DATE, "2000-01-01", "0000000400000000");
    expect_field(RUNE_PG_BIN_DATE, "2000-03-01", "000000040000003c");
    expect_field(RUNE_PG_BIN_DATE, "1999-12-31", "00000004ffffffff");
    expect_field(RUNE_PG_BIN_DATE, "infinity", "000000047fffffff");
    expect_field(RUNE_PG_BIN_DATE, "-infinity", "0000000480000000");
    expect_field(RUNE_PG_BIN_TIMESTAMPTZ, "2000-01-01 00:00:00+00", "000000080000000000000000");
    expect_field(RUNE_PG_BIN_TIMESTAMPTZ, "1999-12-31 23:59:59.5+00", "00000008fffffffffff85ee0");
    expect_field(RUNE_PG_BIN_TIMESTAMP, "2000-01-02 00:00:01.000001", "00000008000000141de6a241");
    expect_field(RUNE_PG_BIN_TIMESTAMP, "infinity", "000000087fffffffffffffff");
    /* count, weight, sign, display scale, base-10000 digits */
    expect_field(RUNE_PG_BIN_NUMERIC, "-123.45",
                 "0000000c00020000400000020"
                 "07b1194");
    expect_field(RUNE_PG_BIN_NUMERIC, "0.00", "000000080000000000000002");
    expect_field(RUNE_PG_BIN_NUMERIC, "10000.0001", "0000000e0003000100000004000100000001");
    expect_field(RUNE_PG_BIN_NUMERIC, "0.000000000000000000001", "0000000a0001fffa0000001503e8");
    expect_field(RUNE_PG_BIN_NUMERIC, "NaN",
                 "000000080000000"
                 "0c0000000");
    expect_field(RUNE_PG_BIN_NUMERIC, "-Infinity", "0000000800000000f0000000");
    expect_field(RUNE_PG_BIN_UUID, "123e4567-e89b-12d3-a456-426614174000",
                 "00000010123e4567e89b12d3a456426614174000");
}

static void test_refusals(void **state)
{
    (void)state;
    expect_refused(RUNE_PG_BIN_BOOL, "true");
    expect_refused(RUNE_PG_BIN_INT2, "32768");
    expect_refused(RUNE_PG_BIN_INT4, "+1");
    expect_refused(RUNE_PG_BIN_INT4, " 1");
    expect_refused(RUNE_PG_BIN_INT4, "1.0");
    expect_refused(RUNE_PG_BIN_INT8, "9223372036854775808");
    expect_refused(RUNE_PG_BIN_INT8, "-");
    expect_refused(RUNE_PG_BIN_DATE, "0044-03-15 BC");
    expect_refused(RUNE_PG_BIN_DATE, "2019-02-29");
    expect_refused(RUNE_PG_BIN_DATE, "12020-01-01");
    expect_refused(RUNE_PG_BIN_DATE, "01/02/2020");
    expect_refused(RUNE_PG_BIN_TIMESTAMPTZ, "2020-01-01 00:00:00+01");
    expect_refused(RUNE_PG_BIN_TIMESTAMPTZ, "2020-01-01 00:00:00");
    expect_refused(RUNE_PG_BIN_TIMESTAMP, "2020-01-01 00:00:00+00");
    expect_refused(RUNE_PG_BIN_TIMESTAMP, "2020-01-01 24:00:00");
    expect_refused(RUNE_PG_BIN_TIMESTAMP, "2020-01-01 00:00:00.1234567");
    expect_refused(RUNE_PG_BIN_TIMESTAMP, "2020-01-01 00:00:00.");
    expect_refused(RUNE_PG_BIN_NUMERIC, "1e5");
    expect_refused(RUNE_PG_BIN_NUMERIC, ".5");
    expect_refused(RUNE_PG_BIN_NUMERIC, "5.");
    expect_refused(RUNE_PG_BIN_NUMERIC, "-");
    expect_refused(RUNE_PG_BIN_NUMERIC, "nan");
    expect_refused(RUNE_PG_BIN_BYTEA, "\\\\001"); /* escape form */
    expect_refused(RUNE_PG_BIN_BYTEA, "\\\\x0");
    expect_refused(RUNE_PG_BIN_UUID, "123e4567e89b12d3a456426614174000");
    expect_refused(RUNE_PG_BIN_TEXT, "ab\\"); /* a backslash before the row's end */
    expect_refused(RUNE_PG_BIN_INT4, "1\\0");
    /* escapes COPY TO never writes: octal, hex, "\." (COPY FROM's end of
     * data, anywhere in a row), any other character */
    expect_refused(RUNE_PG_BIN_TEXT, "\\101");
    expect_refused(RUNE_PG_BIN_TEXT, "\\0");
    expect_refused(RUNE_PG_BIN_TEXT, "\\x41");
    expect_refused(RUNE_PG_BIN_TEXT, "a\\.b");
    expect_refused(RUNE_PG_BIN_TEXT, "abc\\.");
    expect_refused(RUNE_PG_BIN_JSONB, "\\q");
    expect_refused(RUNE_PG_BIN_TEXT, "\\N\\N");

    /* what COPY FROM treats specially and the dump never writes */
    enum rune_pg_bin_kind two[] = {RUNE_PG_BIN_TEXT, RUNE_PG_BIN_TEXT};
    char err[256];
    size_t n;
    assert_null(convert(two, 2, "a\\\tb\n", &n, err)); /* backslash, delimiter */
    assert_null(convert(two, 2, "a\tb\r\n", &n, err));
    assert_non_null(strstr(err, "carriage return"));
    assert_null(convert(two, 1, "\\.\n", &n, err));
    assert_null(convert(two, 2, "a\n", &n, err));
    assert_string_equal(err, "row 1: fewer fields than the table's 2 columns");
    assert_null(convert(two, 2, "a\tb\n1\t2\t3\n", &n, err));
    assert_string_equal(err, "row 2: more fields than the table's 2 columns");
    assert_null(convert(two, 2, "a\tb\nc\td", &n, err));
    assert_string_equal(err, "row 2 does not end with a newline");
    enum rune_pg_bin_kind mixed[] = {RUNE_PG_BIN_INT4, RUNE_PG_BIN_DATE};
    assert_null(convert(mixed, 2, "1\t2020-01-01\n2\t2020-13-01\n", &n, err));
    assert_string_equal(err,
                        "row 2, column 2: not a date as YYYY-MM-DD (years 1 to 9999) or infinity");
}

/* Rows cut at every place between two feeds convert to the same bytes. */
static void test_any_split(void **state)
{
    (void)state;
    enum rune_pg_bin_kind kinds[] = {RUNE_PG_BIN_INT8, RUNE_PG_BIN_TEXT, RUNE_PG_BIN_NUMERIC,
                                     RUNE_PG_BIN_TIMESTAMPTZ};
    const char *text = "1\thello\\tworld\t-12.5\t2024-06-30 22:15:00.1234+00\n"
                       "2\t\\N\t0\t\\N\n"
                       "3\t\t99999999.00000001\tinfinity\n";
    size_t whole_n, len = strlen(text);
    char err[256];
    char *whole = convert(kinds, 4, text, &whole_n, err);
    assert_non_null(whole);
    for (size_t cut = 0; cut <= len; cut++)
        for (size_t cut2 = cut; cut2 <= len; cut2 += 7) {
            struct rune_pg_bin *b = rune_pg_bin_new(kinds, 4);
            assert_int_equal(rune_pg_bin_feed(b, text, cut, err, sizeof err), 0);
            assert_int_equal(rune_pg_bin_feed(b, text + cut, cut2 - cut, err, sizeof err), 0);
            assert_int_equal(rune_pg_bin_feed(b, text + cut2, len - cut2, err, sizeof err), 0);
            assert_int_equal(rune_pg_bin_finish(b, err, sizeof err), 0);
            size_t n;
            const char *out = rune_pg_bin_output(b, &n);
            assert_int_equal(n, whole_n + HEADER_LEN + 2);
            assert_memory_equal(out + HEADER_LEN, whole, whole_n);
            rune_pg_bin_free(b);
        }
    free(whole);
}

/* Output taken part by part is the same as taken at once. */
static void test_taken(void **state)
{
    (void)state;
    enum rune_pg_bin_kind k = RUNE_PG_BIN_INT4;
    struct rune_pg_bin *b = rune_pg_bin_new(&k, 1);
    char err[256];
    size_t n;
    assert_int_equal(rune_pg_bin_feed(b, "7\n", 2, err, sizeof err), 0);
    rune_pg_bin_output(b, &n);
    assert_int_equal(n, HEADER_LEN + 10);
    rune_pg_bin_taken(b);
    assert_int_equal(rune_pg_bin_feed(b, "8\n", 2, err, sizeof err), 0);
    assert_int_equal(rune_pg_bin_finish(b, err, sizeof err), 0);
    const char *out = rune_pg_bin_output(b, &n);
    assert_int_equal(n, 12);
    assert_memory_equal(out, "\0\1\0\0\0\4\0\0\0\x08\xff\xff", 12);
    rune_pg_bin_free(b);
    assert_int_equal(rune_pg_bin_kind(1184), RUNE_PG_BIN_TIMESTAMPTZ);
    assert_int_equal(rune_pg_bin_kind(701), RUNE_PG_BIN_NONE);  /* float8: text */
    assert_int_equal(rune_pg_bin_kind(1186), RUNE_PG_BIN_NONE); /* interval: text */
    enum rune_pg_bin_kind none = RUNE_PG_BIN_NONE;
    assert_null(rune_pg_bin_new(&none, 1)); /* a kind it does not convert */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_any_split),
        cmocka_unit_test(test_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
