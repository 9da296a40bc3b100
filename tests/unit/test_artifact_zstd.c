/*
 * test_artifact_zstd.c — the backup artifact format with zstd chunks
 * (steps/backup/codec.c behind artifact.h): the same bytes whatever the
 * number of threads, a byte-identical read back, the real zstd command
 * reading the file whole as one stream, damage located to its chunk, a
 * chunk that is not exactly one frame refused, codecs never mixed in one
 * backup; and the first manifests (gzip, without read_with, or even
 * without compression) still read.
 *
 * Chunks are small (1 KiB) so that several cost nothing; the zstd and
 * sha256sum checks run the real tools, as an operator would.
 */
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "artifact.h"
#include "artifact_fixture.h"
#include "digest.h"

#define CHUNK 1024
#define DATA_LEN (7 * CHUNK + 123) /* 8 chunks, the last one partial */

struct fixture {
    char dir[128];
    char path[192]; /* the backup's data file */
    unsigned char data[DATA_LEN];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    unit_temp_dir(f->dir, sizeof f->dir, "zstd");
    snprintf(f->path, sizeof f->path, "%s/db.zst", f->dir);
    afx_fill(f->data, sizeof f->data, 4242);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unit_remove_dir(f->dir);
    free(f);
    return 0;
}

/* Writes len bytes as a backup at path in uneven pieces; returns the
 * manifest (new reference). */
static json_t *write_with(const char *path, const char *compression, const unsigned char *data,
                          size_t len, int threads, int level)
{
    struct rune_artifact_meta meta = {.engine = "file",
                                      .source = "/srv/db",
                                      .compression = compression,
                                      .chunk_size = CHUNK,
                                      .level = level,
                                      .threads = threads};
    return afx_write(path, &meta, data, len, NULL);
}

/* Everything the reader hands out, into a malloc'd buffer; -1 and err on
 * failure. */
static ssize_t read_all(const char *path, unsigned char **out, char *err, size_t errlen)
{
    struct rune_artifact_reader *r;
    if (rune_artifact_reader_open(&r, path, err, errlen) != 0)
        return -1;
    size_t cap = 1 << 16, got = 0;
    unsigned char *b = malloc(cap);
    ssize_t n;
    while ((n = rune_artifact_read(r, b + got, cap - got < 777 ? cap - got : 777, err, errlen)) >
           0) {
        got += (size_t)n;
        if (cap - got < 1024)
            b = realloc(b, cap *= 2);
    }
    rune_artifact_reader_close(r);
    *out = b;
    return n < 0 ? -1 : (ssize_t)got;
}

/* What a shell command printed, first line, without its newline. */
static void run_line(const char *cmd, char *line, size_t len)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    line[0] = '\0';
    if (!fgets(line, (int)len, p))
        line[0] = '\0';
    assert_int_equal(pclose(p), 0);
    line[strcspn(line, "\n")] = '\0';
}

static void test_threads_write_the_same_bytes(void **state)
{
    struct fixture *f = *state;
    char p1[256], p3[256];
    snprintf(p1, sizeof p1, "%s/one.zst", f->dir);
    snprintf(p3, sizeof p3, "%s/three.zst", f->dir);
    json_t *m1 = write_with(p1, "zstd", f->data, DATA_LEN, 1, 0);
    json_t *m3 = write_with(p3, "zstd", f->data, DATA_LEN, 3, 0);
    assert_string_equal(json_string_value(json_object_get(m1, "compression")), "zstd");
    assert_string_equal(json_string_value(json_object_get(m1, "read_with")), "zstd -dc");
    assert_int_equal(json_integer_value(json_object_get(m1, "level")), 3); /* zstd's default */
    assert_int_equal(json_array_size(json_object_get(m1, "chunks")), 8);
    size_t l1, l3;
    unsigned char *b1 = afx_slurp(p1, &l1), *b3 = afx_slurp(p3, &l3);
    assert_int_equal(l1, l3);
    assert_memory_equal(b1, b3, l1);
    assert_true(json_equal(json_object_get(m1, "chunks"), json_object_get(m3, "chunks")));
    assert_string_equal(json_string_value(json_object_get(m1, "sha256")),
                        json_string_value(json_object_get(m3, "sha256")));
    /* a zstd file, not a gzip one: it starts with zstd's magic number */
    assert_memory_equal(b1, "\x28\xb5\x2f\xfd", 4);
    free(b1);
    free(b3);
    json_decref(m1);
    json_decref(m3);
}

static void test_reads_back_byte_identical(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_with(f->path, "zstd", f->data, DATA_LEN, 2, 0);
    unsigned char *back;
    char err[512] = "";
    ssize_t n = read_all(f->path, &back, err, sizeof err);
    if (n < 0)
        fail_msg("read: %s", err);
    assert_int_equal(n, DATA_LEN);
    assert_memory_equal(back, f->data, DATA_LEN);
    free(back);
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), 0);
    assert_true(chk.ok);
    assert_string_equal(rune_artifact_read_with(chk.manifest), "zstd -dc");
    rune_artifact_check_release(&chk);
    assert_int_equal(rune_artifact_verify_sums(f->path, NULL, &chk), 0);
    rune_artifact_check_release(&chk);
    json_decref(m);
}

/* The real zstd command reads the backup whole, as `gzip -dc` reads a gzip
 * one; `zstd -t` checks every frame's checksum; sha256sum agrees with the
 * manifest. */
static void test_zstd_command_reads_it_whole(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_with(f->path, "zstd", f->data, DATA_LEN, 0, 19);
    assert_int_equal(json_integer_value(json_object_get(m, "level")), 19);
    char out[256], cmd[768], line[256];
    snprintf(out, sizeof out, "%s/plain", f->dir);
    snprintf(cmd, sizeof cmd, "zstd -q -dc '%s' > '%s'", f->path, out);
    assert_int_equal(system(cmd), 0);
    size_t n;
    unsigned char *back = afx_slurp(out, &n);
    assert_int_equal(n, DATA_LEN);
    assert_memory_equal(back, f->data, DATA_LEN);
    free(back);
    snprintf(cmd, sizeof cmd, "zstd -q -t '%s'", f->path);
    assert_int_equal(system(cmd), 0);
    /* every frame carries its checksum: zstd -lv says so */
    snprintf(cmd, sizeof cmd, "zstd -lv '%s' 2>&1 | grep -c '^Check: XXH64'", f->path);
    run_line(cmd, line, sizeof line);
    assert_string_equal(line, "1");
    snprintf(cmd, sizeof cmd, "zstd -lv '%s' 2>&1 | sed -n 's/^# Zstandard Frames: *//p'", f->path);
    run_line(cmd, line, sizeof line);
    assert_string_equal(line, "8");
    snprintf(cmd, sizeof cmd, "sha256sum '%s' | cut -c1-64", f->path);
    run_line(cmd, line, sizeof line);
    assert_string_equal(line, json_string_value(json_object_get(m, "sha256")));
    json_decref(m);
}

/* An empty input is still one (empty) frame: a valid zstd stream. */
static void test_empty_input(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_with(f->path, "zstd", f->data, 0, 1, 0);
    assert_int_equal(json_array_size(json_object_get(m, "chunks")), 1);
    char cmd[512], line[64];
    snprintf(cmd, sizeof cmd, "zstd -q -dc '%s' | wc -c", f->path);
    run_line(cmd, line, sizeof line);
    assert_string_equal(line, "0");
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), 0);
    rune_artifact_check_release(&chk);
    json_decref(m);
}

/* A flipped byte in any chunk of a multi-chunk zstd backup is located to
 * that chunk, by the full and the checksum-only verification; a reader
 * hands out every good chunk before it and nothing of it. */
static void test_flipped_byte_is_located_to_its_chunk(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_with(f->path, "zstd", f->data, DATA_LEN, 3, 1);
    size_t n = json_array_size(json_object_get(m, "chunks"));
    assert_true(n >= 4);
    for (size_t k = 1; k <= n; k++) {
        long long at = afx_chunk_field(m, k - 1, "offset") + afx_chunk_field(m, k - 1, "bytes") / 2;
        afx_flip_byte(f->path, at);
        struct rune_artifact_check chk;
        assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), -1);
        assert_false(chk.ok);
        assert_int_equal(chk.bad_chunk, (int)k);
        char want[128];
        snprintf(want, sizeof want, "chunk %zu of %zu (offset %lld): SHA-256 mismatch", k, n,
                 afx_chunk_field(m, k - 1, "offset"));
        if (!strstr(chk.reason, want))
            fail_msg("reason \"%s\" lacks \"%s\"", chk.reason, want);
        rune_artifact_check_release(&chk);
        assert_int_equal(rune_artifact_verify_sums(f->path, NULL, &chk), -1);
        assert_int_equal(chk.bad_chunk, (int)k);
        rune_artifact_check_release(&chk);
        unsigned char *back;
        char err[512];
        struct rune_artifact_reader *r;
        assert_int_equal(rune_artifact_reader_open(&r, f->path, err, sizeof err), 0);
        back = malloc(DATA_LEN);
        size_t got = 0;
        ssize_t rn;
        while ((rn = rune_artifact_read(r, back + got, DATA_LEN - got, err, sizeof err)) > 0)
            got += (size_t)rn;
        assert_int_equal(rn, -1);
        assert_int_equal(got, (size_t)(k - 1) * CHUNK);
        assert_memory_equal(back, f->data, got);
        rune_artifact_reader_close(r);
        free(back);
        afx_flip_byte(f->path, at); /* undo: the next chunk's turn */
    }
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), 0);
    rune_artifact_check_release(&chk);
    json_decref(m);
}

/* Rewrites the manifest at path + ".manifest.json" with chunk i's sha256
 * and the whole file's recomputed from the data file: what someone who
 * edits both would do. */
static void reseal(const char *path, json_t *m)
{
    size_t len;
    unsigned char *b = afx_slurp(path, &len);
    json_t *chunks = json_object_get(m, "chunks");
    for (size_t i = 0; i < json_array_size(chunks); i++) {
        json_t *c = json_array_get(chunks, i);
        char sha[RUNE_SHA256_HEX];
        rune_sha256_hex(b + json_integer_value(json_object_get(c, "offset")),
                        (size_t)json_integer_value(json_object_get(c, "bytes")), sha);
        json_object_set_new(c, "sha256", json_string(sha));
    }
    char sha[RUNE_SHA256_HEX];
    rune_sha256_hex(b, len, sha);
    json_object_set_new(m, "sha256", json_string(sha));
    json_object_set_new(m, "bytes", json_integer((json_int_t)len));
    free(b);
    char mpath[256];
    snprintf(mpath, sizeof mpath, "%s.manifest.json", path);
    assert_int_equal(json_dump_file(m, mpath, JSON_INDENT(2)), 0);
}

/* Past the checksums, the frame itself is checked: damage that the
 * manifest was made to agree with is still caught by zstd's own checksum
 * and located to its chunk; two frames under one chunk entry are refused
 * (a chunk is exactly one frame); and a frame that holds more than the
 * manifest says is too. */
static void test_frames_are_checked_past_the_checksums(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_with(f->path, "zstd", f->data, DATA_LEN, 1, 0);
    /* the last byte of chunk 4 is its frame's checksum */
    afx_flip_byte(f->path, afx_chunk_field(m, 3, "offset") + afx_chunk_field(m, 3, "bytes") - 1);
    reseal(f->path, m);
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify_sums(f->path, NULL, &chk), 0);
    rune_artifact_check_release(&chk);
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), -1);
    assert_int_equal(chk.bad_chunk, 4);
    if (!strstr(chk.reason, "not valid zstd data"))
        fail_msg("reason \"%s\"", chk.reason);
    rune_artifact_check_release(&chk);
    afx_flip_byte(f->path, afx_chunk_field(m, 3, "offset") + afx_chunk_field(m, 3, "bytes") - 1);

    /* chunks 2 and 3 described as one: two frames in one chunk */
    json_t *chunks = json_object_get(m, "chunks");
    json_t *c2 = json_array_get(chunks, 1);
    json_object_set_new(
        c2, "bytes", json_integer(afx_chunk_field(m, 1, "bytes") + afx_chunk_field(m, 2, "bytes")));
    json_object_set_new(
        c2, "raw_bytes",
        json_integer(afx_chunk_field(m, 1, "raw_bytes") + afx_chunk_field(m, 2, "raw_bytes")));
    json_array_remove(chunks, 2);
    reseal(f->path, m);
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), -1);
    assert_int_equal(chk.bad_chunk, 2);
    if (!strstr(chk.reason, "bytes follow the end of its zstd frame"))
        fail_msg("reason \"%s\"", chk.reason);
    rune_artifact_check_release(&chk);

    /* chunk 1 said to hold 10 bytes less than its frame does (the frame's
     * own content size says more: zstd stops before writing a byte) */
    json_decref(m);
    assert_int_equal(unlink(f->path), 0);
    char mpath[256];
    snprintf(mpath, sizeof mpath, "%s.manifest.json", f->path);
    assert_int_equal(unlink(mpath), 0);
    m = write_with(f->path, "zstd", f->data, DATA_LEN, 1, 0);
    json_t *c1 = json_array_get(json_object_get(m, "chunks"), 0);
    json_object_set_new(c1, "raw_bytes", json_integer(CHUNK - 10));
    json_object_set_new(m, "raw_bytes", json_integer(DATA_LEN - 10));
    reseal(f->path, m);
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), -1);
    assert_int_equal(chk.bad_chunk, 1);
    if (!strstr(chk.reason, "decompresses to more than the 1014 bytes the manifest says"))
        fail_msg("reason \"%s\"", chk.reason);
    rune_artifact_check_release(&chk);
    json_decref(m);
}

/* Levels are the codec's: zstd 1 to 19, gzip 1 to 9; a name rune does not
 * know is refused before anything is written. */
static void test_levels_and_names(void **state)
{
    struct fixture *f = *state;
    char err[512];
    assert_int_equal(rune_artifact_level_check("zstd", 19, err, sizeof err), 0);
    assert_int_equal(rune_artifact_level_check("zstd", 0, err, sizeof err), 0);
    assert_int_equal(rune_artifact_level_check("zstd", 20, err, sizeof err), -1);
    assert_string_equal(err, "zstd level 20 is out of range: use 1 (fastest) to 19 (smallest), "
                             "or leave it out for 3");
    assert_int_equal(rune_artifact_level_check("gzip", 12, err, sizeof err), -1);
    assert_string_equal(err, "gzip level 12 is out of range: use 1 (fastest) to 9 (smallest), "
                             "or leave it out for 6");
    assert_int_equal(rune_artifact_level_check(NULL, 9, err, sizeof err), 0);
    assert_int_equal(rune_artifact_level_check("lz4", 1, err, sizeof err), -1);
    assert_string_equal(err, "compression \"lz4\" is not one rune writes: use gzip, zstd");
    assert_string_equal(rune_artifact_suffix("zstd"), ".zst");
    assert_string_equal(rune_artifact_suffix("gzip"), ".gz");
    assert_string_equal(rune_artifact_suffix(NULL), ".gz");
    /* the step parameters' choices are the codecs' names */
    assert_string_equal(RUNE_ARTIFACT_COMPRESSIONS, "gzip|zstd");

    struct rune_artifact_meta meta = {
        .engine = "file", .source = "x", .compression = "zstd", .level = 22};
    struct rune_artifact_writer *w = NULL;
    assert_int_equal(rune_artifact_open(&w, f->path, &meta, err, sizeof err), -1);
    assert_null(w);
    meta.compression = "brotli";
    meta.level = 0;
    assert_int_equal(rune_artifact_open(&w, f->path, &meta, err, sizeof err), -1);
    assert_non_null(strstr(err, "\"brotli\""));
    assert_int_equal(access(f->path, F_OK), -1);
}

/* One backup holds one compression: a gzip backup is not appended to a
 * zstd one (nor the other way round), and zstd parts assemble into a zstd
 * backup that zstd -dc reads whole. */
static void test_append_never_mixes_codecs(void **state)
{
    struct fixture *f = *state;
    char gz[256], zs[256], out[256], err[512];
    snprintf(gz, sizeof gz, "%s/part.gz", f->dir);
    snprintf(zs, sizeof zs, "%s/part.zst", f->dir);
    snprintf(out, sizeof out, "%s/whole.zst", f->dir);
    json_decref(write_with(gz, "gzip", f->data, 3000, 1, 0));
    json_decref(write_with(zs, "zstd", f->data + 3000, DATA_LEN - 3000, 1, 0));
    struct rune_artifact_meta meta = {
        .engine = "file", .source = "x", .compression = "zstd", .chunk_size = CHUNK};
    struct rune_artifact_writer *w;
    assert_int_equal(rune_artifact_open(&w, out, &meta, err, sizeof err), 0);
    assert_int_equal(rune_artifact_append(w, gz, NULL, err, sizeof err), -1);
    if (!strstr(err, "its chunks are gzip and this backup's are zstd"))
        fail_msg("err \"%s\"", err);
    rune_artifact_abort(w);

    meta.compression = "gzip";
    char outgz[256];
    snprintf(outgz, sizeof outgz, "%s/whole.gz", f->dir);
    assert_int_equal(rune_artifact_open(&w, outgz, &meta, err, sizeof err), 0);
    assert_int_equal(rune_artifact_append(w, zs, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "its chunks are zstd and this backup's are gzip"));
    rune_artifact_abort(w);

    meta.compression = "zstd";
    assert_int_equal(rune_artifact_open(&w, out, &meta, err, sizeof err), 0);
    assert_int_equal(rune_artifact_write(w, f->data, 3000, err, sizeof err), 0);
    struct rune_artifact_span sp;
    assert_int_equal(rune_artifact_append(w, zs, &sp, err, sizeof err), 0);
    assert_int_equal(sp.first_chunk, 3);
    json_t *m = rune_artifact_commit(w, NULL, err, sizeof err);
    assert_non_null(m);
    char cmd[768], line[128];
    snprintf(cmd, sizeof cmd, "zstd -q -dc '%s' | cmp - '%s/one-piece' && echo same", out, f->dir);
    char whole[256];
    snprintf(whole, sizeof whole, "%s/one-piece", f->dir);
    FILE *p = fopen(whole, "wb");
    assert_int_equal(fwrite(f->data, 1, DATA_LEN, p), DATA_LEN);
    fclose(p);
    run_line(cmd, line, sizeof line);
    assert_string_equal(line, "same");
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(out, NULL, &chk), 0);
    rune_artifact_check_release(&chk);
    json_decref(m);
}

/* A backup written by the rune before zstd (tests/unit/data/artifact-v1:
 * file.compress of notes.txt, chunk_size 1024; its manifest has no
 * read_with) still verifies and reads; so does one whose manifest does
 * not even say compression. */
static void test_old_gzip_backups_still_read(void **state)
{
    struct fixture *f = *state;
    char src[512], cmd[1024], path[256];
    snprintf(src, sizeof src, "%s/tests/unit/data/artifact-v1", getenv("RUNE_SOURCE_DIR"));
    snprintf(cmd, sizeof cmd, "cp '%s/notes.txt.gz' '%s/notes.txt.gz.manifest.json' '%s/'", src,
             src, f->dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/notes.txt.gz", f->dir);
    char orig[600];
    snprintf(orig, sizeof orig, "%s/notes.txt", src);
    size_t want_len;
    unsigned char *want = afx_slurp(orig, &want_len);

    for (int round = 0; round < 2; round++) {
        struct rune_artifact_check chk;
        assert_int_equal(rune_artifact_verify(path, NULL, &chk), 0);
        assert_null(json_object_get(chk.manifest, "read_with"));
        assert_string_equal(rune_artifact_read_with(chk.manifest), "gzip -dc");
        assert_string_equal(rune_artifact_compression(chk.manifest), "gzip");
        assert_true(json_array_size(json_object_get(chk.manifest, "chunks")) > 1);
        rune_artifact_check_release(&chk);
        unsigned char *back;
        char err[512] = "";
        ssize_t n = read_all(path, &back, err, sizeof err);
        if (n < 0)
            fail_msg("round %d: %s", round, err);
        assert_int_equal((size_t)n, want_len);
        assert_memory_equal(back, want, want_len);
        free(back);
        /* round 2: the same without "compression" at all */
        char mpath[300];
        snprintf(mpath, sizeof mpath, "%s.manifest.json", path);
        json_t *m = json_load_file(mpath, 0, NULL);
        assert_non_null(m);
        assert_int_equal(json_object_del(m, "compression"), round == 0 ? 0 : -1);
        assert_int_equal(json_dump_file(m, mpath, JSON_INDENT(2)), 0);
        json_decref(m);
    }
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_threads_write_the_same_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_back_byte_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zstd_command_reads_it_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte_is_located_to_its_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frames_are_checked_past_the_checksums, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_levels_and_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_never_mixes_codecs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_gzip_backups_still_read, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
