/*
 * test_pgtar.c — steps/pg/pgtar.c (the base backup's tar archive read as
 * a stream), steps/pg/pg_bbmanifest.c (the server's backup manifest
 * checked against what arrived: pg_verifybackup's checks) and
 * steps/lib/walseg.c (LSNs and segment names). The archive is read the
 * same whatever the pieces it arrives in; members PostgreSQL never writes
 * and damaged headers are refused; a manifest whose file differs in size
 * or SHA-256, lists a file that did not arrive, misses one that did, or
 * fails its own checksum is refused with the file's name.
 */
#include "unit.h"

#include <jansson.h>

#include "digest.h"
#include "pg_bbmanifest.h"
#include "pgtar.h"
#include "walseg.h"

/* ---- building archives ---- */

struct buf {
    unsigned char *p;
    size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void member(struct buf *b, const char *name, const char *data)
{
    unsigned char h[RUNE_TAR_BLOCK], zero[RUNE_TAR_BLOCK] = {0};
    size_t n = strlen(data);
    assert_int_equal(rune_tar_header(h, name, 0600, n, 1700000000), 0);
    put(b, h, sizeof h);
    put(b, data, n);
    put(b, zero, rune_tar_padding(n));
}

static void trailer(struct buf *b)
{
    unsigned char zero[2 * RUNE_TAR_BLOCK] = {0};
    put(b, zero, sizeof zero);
}

/* ---- reading them back ---- */

struct seen {
    char names[16][64];
    char data[16][256];
    int n;
    size_t raw;
};

static int on_member(void *ctx, const struct rune_tar_member *m, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct seen *s = ctx;
    snprintf(s->names[s->n], sizeof s->names[0], "%s", m->name);
    s->data[s->n][0] = '\0';
    s->n++;
    return 0;
}

static int on_data(void *ctx, const unsigned char *p, size_t n, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct seen *s = ctx;
    strncat(s->data[s->n - 1], (const char *)p, n);
    return 0;
}

static int on_raw(void *ctx, const unsigned char *p, size_t n, char *err, size_t errlen)
{
    (void)p;
    (void)err;
    (void)errlen;
    ((struct seen *)ctx)->raw += n;
    return 0;
}

/* Feeds the archive in pieces of `step` bytes. */
static int read_all(const struct buf *b, size_t step, struct seen *s, bool *terminated, char *err,
                    size_t errlen)
{
    memset(s, 0, sizeof *s);
    struct rune_tar_sink sink = {on_member, on_data, NULL, on_raw, s};
    struct rune_tar t;
    rune_tar_init(&t, &sink);
    for (size_t at = 0; at < b->n; at += step)
        if (rune_tar_feed(&t, b->p + at, b->n - at < step ? b->n - at : step, err, errlen) != 0)
            return -1;
    return rune_tar_finish(&t, terminated, err, errlen);
}

static void test_any_split(void **state)
{
    (void)state;
    struct buf b = {0};
    member(&b, "PG_VERSION", "15\n");
    member(&b, "global/pg_control", "");
    member(&b, "base/1/1259", "a page of data that is not a multiple of 512");
    size_t before_trailer = b.n;
    trailer(&b);
    static const size_t steps[] = {1, 7, 511, 512, 513, 4096};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        struct seen s;
        char err[256];
        bool term = false;
        assert_int_equal(read_all(&b, steps[i], &s, &term, err, sizeof err), 0);
        assert_true(term);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.names[2], "base/1/1259");
        assert_string_equal(s.data[0], "15\n");
        assert_string_equal(s.data[2], "a page of data that is not a multiple of 512");
        /* raw: every byte but the end-of-archive blocks, to pass it on */
        assert_int_equal(s.raw, before_trailer);
    }
    free(b.p);
}

static void test_refusals(void **state)
{
    (void)state;
    char err[256];
    struct seen s;
    /* cut inside a member */
    struct buf b = {0};
    member(&b, "base/1/1259", "some bytes of a file");
    b.n -= 600;
    assert_int_equal(read_all(&b, 100, &s, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "cut short"));
    free(b.p);
    /* a damaged header */
    memset(&b, 0, sizeof b);
    member(&b, "PG_VERSION", "15\n");
    b.p[3] ^= 1;
    assert_int_equal(read_all(&b, 512, &s, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "checksum"));
    free(b.p);
    /* a kind of member a base backup never holds: a hard link */
    memset(&b, 0, sizeof b);
    member(&b, "base/1/x", "");
    b.p[156] = '1';
    memset(b.p + 148, ' ', 8);
    unsigned long sum = 0;
    for (int i = 0; i < RUNE_TAR_BLOCK; i++)
        sum += b.p[i];
    snprintf((char *)b.p + 148, 8, "%06lo", sum);
    b.p[155] = ' ';
    assert_int_equal(read_all(&b, 512, &s, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "base/1/x"));
    free(b.p);
    /* data after the end of the archive */
    memset(&b, 0, sizeof b);
    member(&b, "PG_VERSION", "15\n");
    trailer(&b);
    put(&b, "x", 1);
    assert_int_equal(read_all(&b, 512, &s, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "follows the end"));
    free(b.p);
}

/* ---- the server's manifest ---- */

/* A manifest as PostgreSQL writes it, its last line the checksum of all
 * lines before it. */
static char *manifest(const char *files)
{
    char body[4096], sum[RUNE_SHA256_HEX];
    snprintf(body, sizeof body,
             "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n%s\n],\n"
             "\"WAL-Ranges\": [\n{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", "
             "\"End-LSN\": \"0/2000100\" }\n],\n",
             files);
    rune_sha256_hex(body, strlen(body), sum);
    char *m = malloc(strlen(body) + 128);
    sprintf(m, "%s\"Manifest-Checksum\": \"%s\"}\n", body, sum);
    return m;
}

static char *file_line(const char *path, const char *data, const char *sep)
{
    char sum[RUNE_SHA256_HEX];
    rune_sha256_hex(data, strlen(data), sum);
    char *s = malloc(512);
    snprintf(s, 512,
             "{ \"Path\": \"%s\", \"Size\": %zu, \"Last-Modified\": \"2026-01-01 00:00:00 GMT\", "
             "\"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"%s\" }%s",
             path, strlen(data), sum, sep);
    return s;
}

static int check(const char *text, json_t *received, char *err, size_t errlen)
{
    size_t files = 0;
    json_t *ranges = NULL;
    int rc = rune_bb_manifest_check(text, strlen(text), received, &files, &ranges, err, errlen);
    if (rc == 0) {
        assert_int_equal(files, 2);
        assert_int_equal(json_array_size(ranges), 1);
    }
    json_decref(ranges);
    return rc;
}

static void add(json_t *r, const char *path, const char *data)
{
    char sum[RUNE_SHA256_HEX];
    rune_sha256_hex(data, strlen(data), sum);
    rune_bb_received_add(r, path, strlen(data), sum);
}

static void test_manifest(void **state)
{
    (void)state;
    char *a = file_line("PG_VERSION", "15\n", ",\n"), *z = file_line("base/1/1259", "page", "");
    char files[1200];
    snprintf(files, sizeof files, "%s%s", a, z);
    char *m = manifest(files), err[512];
    json_t *r = json_object();
    add(r, "PG_VERSION", "15\n");
    add(r, "base/1/1259", "page");
    assert_int_equal(check(m, r, err, sizeof err), 0);
    /* one byte of a file changed on the way */
    add(r, "base/1/1259", "pagE");
    assert_int_equal(check(m, r, err, sizeof err), -1);
    assert_non_null(strstr(err, "base/1/1259"));
    assert_non_null(strstr(err, "SHA-256"));
    /* a different size */
    add(r, "base/1/1259", "page!");
    assert_int_equal(check(m, r, err, sizeof err), -1);
    assert_non_null(strstr(err, "5 bytes"));
    /* a file that did not arrive */
    json_object_del(r, "base/1/1259");
    assert_int_equal(check(m, r, err, sizeof err), -1);
    assert_non_null(strstr(err, "did not arrive"));
    /* a file that is not in the manifest */
    add(r, "base/1/1259", "page");
    add(r, "base/1/9999", "stray");
    assert_int_equal(check(m, r, err, sizeof err), -1);
    assert_non_null(strstr(err, "base/1/9999"));
    assert_non_null(strstr(err, "not in the server's backup manifest"));
    json_object_del(r, "base/1/9999");
    /* the manifest itself damaged: its own checksum fails */
    char *bad = strdup(m);
    *strstr(bad, "Size\": 4") = 'z';
    assert_int_equal(check(bad, r, err, sizeof err), -1);
    assert_non_null(strstr(err, "checksum"));
    free(bad);
    json_decref(r);
    free(m);
    free(a);
    free(z);
}

static void test_walseg(void **state)
{
    (void)state;
    uint64_t lsn;
    char name[RUNE_WAL_NAME_LEN + 1], text[RUNE_LSN_TEXT];
    assert_int_equal(rune_lsn_parse("16/B374D848", &lsn), 0);
    assert_int_equal(lsn, 0x16B374D848ULL);
    rune_lsn_format(lsn, text);
    assert_string_equal(text, "16/B374D848");
    assert_int_equal(rune_lsn_parse("16B374D848", &lsn), -1);
    assert_int_equal(rune_lsn_parse("0/x", &lsn), -1);
    long long seg = rune_wal_segsize_parse("16MB");
    assert_int_equal(seg, 16 << 20);
    assert_int_equal(rune_wal_segsize_parse("3MB"), -1);
    rune_wal_name(name, 1, rune_wal_segno(0x16B374D848ULL, seg), seg);
    assert_string_equal(name, "0000000100000016000000B3");
    /* a record ending exactly on a boundary lies in the segment before */
    rune_wal_name(name, 2, rune_wal_prev_segno(0x3000000ULL, seg), seg);
    assert_string_equal(name, "000000020000000000000002");
    uint32_t tli;
    uint64_t segno;
    assert_int_equal(rune_wal_name_parse("0000000100000016000000B3", seg, &tli, &segno), 0);
    assert_int_equal(tli, 1);
    assert_int_equal(segno, 0x16B3ULL);
    assert_int_equal(rune_wal_name_parse("000000010000001600000100", seg, &tli, &segno), -1);
    assert_int_equal(rune_wal_name_parse("00000001.history", seg, &tli, &segno), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_any_split),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_walseg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
