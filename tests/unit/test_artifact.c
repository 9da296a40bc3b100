/*
 * test_artifact.c — steps/artifact.c, the backup artifact format: round
 * trips across several chunks, compatibility with gzip and sha256sum,
 * damage located to its chunk, truncation, aborts leaving nothing behind,
 * never overwriting, and a data file without a manifest being invalid.
 *
 * Chunks are made small (1 KiB) so that several chunks cost nothing. The
 * gzip and sha256sum checks run the real tools, as an operator would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../steps/artifact.h"

#define CHUNK 1024
#define DATA_LEN (5 * CHUNK + 300) /* 6 chunks, the last one partial */

struct fixture {
    char dir[64];
    char path[128];  /* the backup's data file */
    char mpath[160]; /* its manifest */
    unsigned char data[DATA_LEN];
};

/* Deterministic, compressible but not trivial: words and numbers. */
static void fill(unsigned char *p, size_t n)
{
    static const char *const words[] = {"alpha ", "backup ", "chunk ", "delta ", "\n", "42 "};
    uint32_t x = 12345;
    size_t i = 0;
    while (i < n) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % 6];
        for (; *w && i < n; w++)
            p[i++] = (unsigned char)*w;
        if (i < n)
            p[i++] = (unsigned char)('a' + (x >> 8) % 26);
    }
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/rune-artifact-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/db.gz", f->dir);
    snprintf(f->mpath, sizeof f->mpath, "%s.manifest.json", f->path);
    fill(f->data, sizeof f->data);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Writes the fixture's data as a backup, in uneven pieces; returns the
 * manifest (new reference). */
static json_t *write_backup(struct fixture *f, json_t *extras)
{
    struct rune_artifact_meta meta = {.engine = "file", .source = "/srv/db", .chunk_size = CHUNK};
    struct rune_artifact_writer *w;
    char err[512] = "";
    if (rune_artifact_open(&w, f->path, &meta, err, sizeof err) != 0)
        fail_msg("open: %s", err);
    size_t off = 0, piece = 1;
    while (off < sizeof f->data) {
        size_t n = piece < sizeof f->data - off ? piece : sizeof f->data - off;
        assert_int_equal(rune_artifact_write(w, f->data + off, n, err, sizeof err), 0);
        off += n;
        piece = piece * 3 + 7; /* 1, 10, 37, 118, ... crossing chunk borders */
    }
    json_t *m = rune_artifact_commit(w, extras, err, sizeof err);
    if (!m)
        fail_msg("commit: %s", err);
    return m;
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static long long chunk_field(json_t *m, size_t i, const char *key)
{
    return (long long)json_integer_value(
        json_object_get(json_array_get(json_object_get(m, "chunks"), i), key));
}

static void flip_byte(const char *path, long long offset)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, offset), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, offset), 1);
    close(fd);
}

static void test_round_trip_several_chunks(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_backup(f, NULL);
    assert_int_equal(json_array_size(json_object_get(m, "chunks")), 6);
    assert_int_equal(json_integer_value(json_object_get(m, "raw_bytes")), DATA_LEN);
    assert_string_equal(json_string_value(json_object_get(m, "engine")), "file");
    assert_string_equal(json_string_value(json_object_get(m, "compression")), "gzip");
    assert_int_equal(json_integer_value(json_object_get(m, "format_version")), 1);
    /* recovery_point defaults to created_at */
    assert_string_equal(json_string_value(json_object_get(m, "recovery_point")),
                        json_string_value(json_object_get(m, "created_at")));
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_size, json_integer_value(json_object_get(m, "bytes")));
    assert_int_equal(stat(f->mpath, &st), 0);
    /* the manifest on disk is the one returned */
    json_t *disk = json_load_file(f->mpath, 0, NULL);
    assert_true(json_equal(disk, m));
    json_decref(disk);

    struct rune_artifact_reader *r;
    char err[512] = "";
    assert_int_equal(rune_artifact_reader_open(&r, f->path, err, sizeof err), 0);
    unsigned char back[DATA_LEN + 16];
    size_t got = 0;
    for (;;) {
        ssize_t n =
            rune_artifact_read(r, back + got, 333 < sizeof back - got ? 333 : 1, err, sizeof err);
        if (n < 0)
            fail_msg("read: %s", err);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    rune_artifact_reader_close(r);
    assert_int_equal(got, DATA_LEN);
    assert_memory_equal(back, f->data, DATA_LEN);

    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, NULL, &chk), 0);
    assert_true(chk.ok);
    rune_artifact_check_release(&chk);
    json_decref(m);
}

static void test_gzip_reads_it_whole(void **state)
{
    struct fixture *f = *state;
    json_decref(write_backup(f, NULL));
    char out[160], cmd[512];
    snprintf(out, sizeof out, "%s/plain", f->dir);
    snprintf(cmd, sizeof cmd, "gzip -dc '%s' > '%s'", f->path, out);
    assert_int_equal(system(cmd), 0);
    FILE *p = fopen(out, "rb");
    assert_non_null(p);
    unsigned char back[DATA_LEN + 16];
    size_t n = fread(back, 1, sizeof back, p);
    fclose(p);
    assert_int_equal(n, DATA_LEN);
    assert_memory_equal(back, f->data, DATA_LEN);
    /* gzip -t agrees the file is sound */
    snprintf(cmd, sizeof cmd, "gzip -t '%s'", f->path);
    assert_int_equal(system(cmd), 0);
}

static void test_whole_file_sha_matches_sha256sum(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_backup(f, NULL);
    char cmd[256], line[256] = "";
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", f->path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    pclose(p);
    line[64] = '\0';
    assert_string_equal(line, json_string_value(json_object_get(m, "sha256")));
    json_decref(m);
}

static void test_flipped_byte_is_located_to_its_chunk(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_backup(f, NULL);
    flip_byte(f->path, chunk_field(m, 2, "offset") + chunk_field(m, 2, "bytes") / 2);
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, NULL, &chk), -1);
    assert_false(chk.ok);
    assert_int_equal(chk.bad_chunk, 3);
    char want[128];
    snprintf(want, sizeof want, "chunk 3 of 6 (offset %lld): SHA-256 mismatch",
             chunk_field(m, 2, "offset"));
    if (!strstr(chk.reason, want))
        fail_msg("reason \"%s\" lacks \"%s\"", chk.reason, want);
    rune_artifact_check_release(&chk);
    json_decref(m);
}

/* A restore must never receive bytes of a damaged chunk: the reader stops
 * exactly at the end of the last good chunk. */
static void test_reader_hands_out_nothing_from_a_damaged_chunk(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_backup(f, NULL);
    flip_byte(f->path, chunk_field(m, 1, "offset") + 3);
    struct rune_artifact_reader *r;
    char err[512] = "";
    assert_int_equal(rune_artifact_reader_open(&r, f->path, err, sizeof err), 0);
    unsigned char buf[DATA_LEN];
    size_t got = 0;
    ssize_t n;
    while ((n = rune_artifact_read(r, buf + got, sizeof buf - got, err, sizeof err)) > 0)
        got += (size_t)n;
    assert_int_equal(n, -1);
    assert_int_equal(got, (size_t)chunk_field(m, 0, "raw_bytes"));
    assert_non_null(strstr(err, "chunk 2 of 6"));
    rune_artifact_reader_close(r);
    json_decref(m);
}

static void test_truncated_file_is_detected(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_backup(f, NULL);
    assert_int_equal(truncate(f->path, chunk_field(m, 3, "offset") + 5), 0);
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, NULL, &chk), -1);
    assert_non_null(strstr(chk.reason, "truncated"));
    assert_non_null(strstr(chk.reason, "chunks 4 to 6 of 6"));
    assert_int_equal(chk.bad_chunk, 4);
    rune_artifact_check_release(&chk);
    /* the reader refuses it too */
    struct rune_artifact_reader *r;
    char err[512];
    assert_int_equal(rune_artifact_reader_open(&r, f->path, err, sizeof err), -1);
    json_decref(m);
}

static void test_abort_removes_partial_files(void **state)
{
    struct fixture *f = *state;
    struct rune_artifact_meta meta = {.engine = "file", .source = "x", .chunk_size = CHUNK};
    struct rune_artifact_writer *w;
    char err[512];
    assert_int_equal(rune_artifact_open(&w, f->path, &meta, err, sizeof err), 0);
    assert_int_equal(rune_artifact_write(w, f->data, sizeof f->data, err, sizeof err), 0);
    assert_int_equal(count_entries(f->dir), 1); /* the .db.gz.partial-XXXXXX file */
    rune_artifact_abort(w);
    assert_int_equal(count_entries(f->dir), 0);

    /* a commit that fails (an extra the format owns) leaves nothing either */
    assert_int_equal(rune_artifact_open(&w, f->path, &meta, err, sizeof err), 0);
    assert_int_equal(rune_artifact_write(w, f->data, sizeof f->data, err, sizeof err), 0);
    json_t *bad = json_pack("{s:s}", "sha256", "0000");
    assert_null(rune_artifact_commit(w, bad, err, sizeof err));
    json_decref(bad);
    assert_non_null(strstr(err, "sha256"));
    assert_int_equal(count_entries(f->dir), 0);
}

static void test_never_overwrites(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_backup(f, NULL);
    struct stat before, after;
    assert_int_equal(stat(f->path, &before), 0);
    struct rune_artifact_meta meta = {.engine = "file", .source = "x"};
    struct rune_artifact_writer *w = NULL;
    char err[512] = "", want[256];
    assert_int_equal(rune_artifact_open(&w, f->path, &meta, err, sizeof err), -1);
    assert_null(w);
    snprintf(want, sizeof want, "backup %s already exists; choose another name or remove it",
             f->path);
    assert_string_equal(err, want);
    /* a manifest alone is enough to refuse */
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(rune_artifact_open(&w, f->path, &meta, err, sizeof err), -1);
    assert_string_equal(err, want);
    /* and a file someone else put there is left alone */
    assert_int_equal(unlink(f->mpath), 0);
    FILE *p = fopen(f->path, "w");
    fputs("precious", p);
    fclose(p);
    assert_int_equal(rune_artifact_open(&w, f->path, &meta, err, sizeof err), -1);
    assert_int_equal(stat(f->path, &after), 0);
    assert_int_equal(after.st_size, 8);
    (void)before;
    json_decref(m);
}

static void test_missing_manifest_is_invalid(void **state)
{
    struct fixture *f = *state;
    json_decref(write_backup(f, NULL));
    assert_int_equal(unlink(f->mpath), 0);
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, NULL, &chk), -1);
    assert_non_null(strstr(chk.reason, "no manifest beside"));
    assert_null(chk.manifest);
    rune_artifact_check_release(&chk);
}

static void test_edited_manifest_is_invalid(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_backup(f, NULL);
    json_t *c = json_array_get(json_object_get(m, "chunks"), 1);
    json_object_set_new(c, "raw_bytes", json_integer(CHUNK + 1));
    json_object_set_new(m, "raw_bytes", json_integer(DATA_LEN + 1));
    assert_int_equal(json_dump_file(m, f->mpath, 0), 0);
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, NULL, &chk), -1);
    assert_non_null(strstr(chk.reason, "chunk 2 of 6"));
    assert_non_null(strstr(chk.reason, "decompresses to 1024 bytes but the manifest says 1025"));
    rune_artifact_check_release(&chk);

    json_object_set_new(m, "format_version", json_integer(9));
    assert_int_equal(json_dump_file(m, f->mpath, 0), 0);
    assert_int_equal(rune_artifact_verify(f->path, NULL, NULL, &chk), -1);
    assert_non_null(strstr(chk.reason, "upgrade rune"));
    rune_artifact_check_release(&chk);
    json_decref(m);
}

static void test_extras_and_empty_input(void **state)
{
    struct fixture *f = *state;
    json_t *extras =
        json_pack("{s:{s:i, s:i}, s:s, s:s}", "tables", "users", 3, "orders", 7,
                  "schema_fingerprint", "abc123", "recovery_point", "2024-05-01T02:00:00.000Z");
    struct rune_artifact_meta meta = {.engine = "sqlite", .source = "app.db"};
    struct rune_artifact_writer *w;
    char err[512];
    assert_int_equal(rune_artifact_open(&w, f->path, &meta, err, sizeof err), 0);
    json_t *m = rune_artifact_commit(w, extras, err, sizeof err);
    json_decref(extras);
    assert_non_null(m);
    assert_int_equal(json_array_size(json_object_get(m, "chunks")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "raw_bytes")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "tables"), "orders")),
                     7);
    assert_string_equal(json_string_value(json_object_get(m, "recovery_point")),
                        "2024-05-01T02:00:00.000Z");
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, NULL, &chk), 0);
    assert_string_equal(json_string_value(json_object_get(chk.manifest, "schema_fingerprint")),
                        "abc123");
    rune_artifact_check_release(&chk);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test -z \"$(gzip -dc '%s')\"", f->path);
    assert_int_equal(system(cmd), 0);
    json_decref(m);
}

static void test_times(void **state)
{
    (void)state;
    long long ms;
    assert_int_equal(rune_artifact_time_parse("2024-05-01T02:03:04.567Z", &ms), 0);
    assert_int_equal(ms, 1714528984567LL);
    char buf[40];
    rune_artifact_time_format(ms, buf, sizeof buf);
    assert_string_equal(buf, "2024-05-01T02:03:04.567Z");
    assert_int_equal(rune_artifact_time_parse("2024-05-01T02:03:04Z", &ms), 0);
    assert_int_equal(ms % 1000, 0);
    assert_int_equal(rune_artifact_time_parse("yesterday", &ms), -1);
    assert_int_equal(rune_artifact_time_parse("2024-05-01T02:03:04+02:00", &ms), -1);
}

static void expect_path(const char *base, const char *p, const char *want)
{
    char *got = rune_path_resolve(base, p);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_paths(void **state)
{
    (void)state;
    expect_path("/srv/app", ".", "/srv/app");
    expect_path("/srv/app", "./backups/", "/srv/app/backups");
    expect_path("/srv/app", "backups//db.gz", "/srv/app/backups/db.gz");
    expect_path("/srv/app", "/var/./b/", "/var/b");
    expect_path("/srv/app", "../x", "/srv/app/../x");
    expect_path("/", ".", "/");
    expect_path(NULL, "./a", "a");
    expect_path(NULL, ".", ".");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_several_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_reads_it_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whole_file_sha_matches_sha256sum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte_is_located_to_its_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_hands_out_nothing_from_a_damaged_chunk, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncated_file_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_removes_partial_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_manifest_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edited_manifest_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extras_and_empty_input, setup, teardown),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
