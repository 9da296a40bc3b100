/*
 * test_artifact.c — steps/artifact.c, the backup artifact format: round
 * trips across several chunks, compatibility with gzip and sha256sum,
 * damage located to its chunk, truncation, aborts leaving nothing behind,
 * never overwriting, and a data file without a manifest being invalid.
 *
 * Chunks are made small (1 KiB) so that several chunks cost nothing. The
 * gzip and sha256sum checks run the real tools, as an operator would.
 *
 * The worker pool: any number of threads writes the same bytes, damage is
 * reported at the first bad chunk in file order however far the workers
 * read ahead, and a failure (a write error midway, a cancelled
 * verification) leaves neither a file nor a thread behind. Threads are
 * counted in /proc/self/task.
 */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifact.h"
#include "artifact_fixture.h"
#include "clock.h"
#include "pathparam.h"

#define CHUNK 1024
#define DATA_LEN (5 * CHUNK + 300) /* 6 chunks, the last one partial */

struct fixture {
    char dir[128];
    char path[192];  /* the backup's data file */
    char mpath[224]; /* its manifest */
    unsigned char data[DATA_LEN];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    unit_temp_dir(f->dir, sizeof f->dir, "artifact");
    snprintf(f->path, sizeof f->path, "%s/db.gz", f->dir);
    snprintf(f->mpath, sizeof f->mpath, "%s.manifest.json", f->path);
    afx_fill(f->data, sizeof f->data, 12345);
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

/* Writes the fixture's data as a backup, in uneven pieces; returns the
 * manifest (new reference). */
static json_t *write_backup(struct fixture *f, json_t *extras)
{
    struct rune_artifact_meta meta = {.engine = "file", .source = "/srv/db", .chunk_size = CHUNK};
    return afx_write(f->path, &meta, f->data, sizeof f->data, extras);
}

/* Writes len bytes of data to path in uneven pieces with the given number
 * of threads and level; returns the manifest (new reference). */
static json_t *write_with(const char *path, const unsigned char *data, size_t len, int threads,
                          int level)
{
    struct rune_artifact_meta meta = {.engine = "file",
                                      .source = "/srv/db",
                                      .chunk_size = CHUNK,
                                      .level = level,
                                      .threads = threads};
    return afx_write(path, &meta, data, len, NULL);
}

/* Threads of this process (the test's own plus any worker left). */
static size_t count_threads(void)
{
    return afx_count_entries("/proc/self/task");
}

/* The thread count once it is down to `want`, or whatever it is after two
 * seconds: a thread can stay listed for a moment after pthread_join
 * returned, while the kernel finishes reaping it. */
static size_t threads_settled(size_t want)
{
    struct timespec pause = {0, 1000000};
    size_t n = count_threads();
    for (int i = 0; i < 2000 && n > want; i++) {
        nanosleep(&pause, NULL);
        n = count_threads();
    }
    return n;
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
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), 0);
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
    afx_flip_byte(f->path, afx_chunk_field(m, 2, "offset") + afx_chunk_field(m, 2, "bytes") / 2);
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), -1);
    assert_false(chk.ok);
    assert_int_equal(chk.bad_chunk, 3);
    char want[128];
    snprintf(want, sizeof want, "chunk 3 of 6 (offset %lld): SHA-256 mismatch",
             afx_chunk_field(m, 2, "offset"));
    if (!strstr(chk.reason, want))
        fail_msg("reason \"%s\" lacks \"%s\"", chk.reason, want);
    rune_artifact_check_release(&chk);
    json_decref(m);
}

/* The checksum-only verification passes a good backup and finds the same
 * damage, to its chunk, as the full one. */
static void test_sums_only_verification(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_backup(f, NULL);
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify_sums(f->path, NULL, &chk), 0);
    assert_true(chk.ok);
    assert_non_null(chk.manifest);
    rune_artifact_check_release(&chk);
    afx_flip_byte(f->path, afx_chunk_field(m, 4, "offset") + 10);
    assert_int_equal(rune_artifact_verify_sums(f->path, NULL, &chk), -1);
    assert_int_equal(chk.bad_chunk, 5);
    if (!strstr(chk.reason, "SHA-256 mismatch"))
        fail_msg("reason \"%s\"", chk.reason);
    rune_artifact_check_release(&chk);
    json_decref(m);
}

/* A restore must never receive bytes of a damaged chunk: the reader stops
 * exactly at the end of the last good chunk. */
static void test_reader_hands_out_nothing_from_a_damaged_chunk(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_backup(f, NULL);
    afx_flip_byte(f->path, afx_chunk_field(m, 1, "offset") + 3);
    struct rune_artifact_reader *r;
    char err[512] = "";
    assert_int_equal(rune_artifact_reader_open(&r, f->path, err, sizeof err), 0);
    unsigned char buf[DATA_LEN];
    size_t got = 0;
    ssize_t n;
    while ((n = rune_artifact_read(r, buf + got, sizeof buf - got, err, sizeof err)) > 0)
        got += (size_t)n;
    assert_int_equal(n, -1);
    assert_int_equal(got, (size_t)afx_chunk_field(m, 0, "raw_bytes"));
    assert_non_null(strstr(err, "chunk 2 of 6"));
    rune_artifact_reader_close(r);
    json_decref(m);
}

static void test_truncated_file_is_detected(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_backup(f, NULL);
    assert_int_equal(truncate(f->path, afx_chunk_field(m, 3, "offset") + 5), 0);
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), -1);
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
    assert_int_equal(afx_count_entries(f->dir), 1); /* the .db.gz.partial-XXXXXX file */
    rune_artifact_abort(w);
    assert_int_equal(afx_count_entries(f->dir), 0);

    /* a commit that fails (an extra the format owns) leaves nothing either */
    assert_int_equal(rune_artifact_open(&w, f->path, &meta, err, sizeof err), 0);
    assert_int_equal(rune_artifact_write(w, f->data, sizeof f->data, err, sizeof err), 0);
    json_t *bad = json_pack("{s:s}", "sha256", "0000");
    assert_null(rune_artifact_commit(w, bad, err, sizeof err));
    json_decref(bad);
    assert_non_null(strstr(err, "sha256"));
    assert_int_equal(afx_count_entries(f->dir), 0);
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
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), -1);
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
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), -1);
    assert_non_null(strstr(chk.reason, "chunk 2 of 6"));
    assert_non_null(strstr(chk.reason, "decompresses to 1024 bytes but the manifest says 1025"));
    rune_artifact_check_release(&chk);

    json_object_set_new(m, "format_version", json_integer(9));
    assert_int_equal(json_dump_file(m, f->mpath, 0), 0);
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), -1);
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
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), 0);
    assert_string_equal(json_string_value(json_object_get(chk.manifest, "schema_fingerprint")),
                        "abc123");
    rune_artifact_check_release(&chk);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test -z \"$(gzip -dc '%s')\"", f->path);
    assert_int_equal(system(cmd), 0);
    json_decref(m);
}

#define BIG_LEN (97 * CHUNK + 123) /* 98 chunks: more than the workers hold at once */

/* Reads a backup back whole with the reader; returns the bytes read. */
static size_t read_back(const char *path, unsigned char *buf, size_t cap)
{
    struct rune_artifact_reader *r;
    char err[512] = "";
    if (rune_artifact_reader_open(&r, path, err, sizeof err) != 0)
        fail_msg("reader_open: %s", err);
    size_t got = 0;
    ssize_t n;
    while ((n = rune_artifact_read(r, buf + got, cap - got, err, sizeof err)) > 0)
        got += (size_t)n;
    if (n < 0)
        fail_msg("read: %s", err);
    rune_artifact_reader_close(r);
    return got;
}

/* Each chunk is its own member and members are written in input order, so
 * the bytes depend neither on the number of workers nor on timing. */
static void test_any_number_of_threads_writes_the_same_bytes(void **state)
{
    struct fixture *f = *state;
    unsigned char *data = malloc(BIG_LEN), *back = malloc(BIG_LEN + 16);
    afx_fill(data, BIG_LEN, 12345);
    char plain[160], cmd[512];
    snprintf(plain, sizeof plain, "%s/plain", f->dir);
    FILE *p = fopen(plain, "wb");
    assert_int_equal(fwrite(data, 1, BIG_LEN, p), BIG_LEN);
    fclose(p);
    static const int levels[] = {1, 9};
    for (int l = 0; l < 2; l++) {
        char p1[160], p4[160];
        snprintf(p1, sizeof p1, "%s/one-%d.gz", f->dir, levels[l]);
        snprintf(p4, sizeof p4, "%s/four-%d.gz", f->dir, levels[l]);
        json_t *m1 = write_with(p1, data, BIG_LEN, 1, levels[l]);
        json_t *m4 = write_with(p4, data, BIG_LEN, 4, levels[l]);
        assert_int_equal(json_array_size(json_object_get(m4, "chunks")), 98);
        assert_true(json_equal(json_object_get(m1, "chunks"), json_object_get(m4, "chunks")));
        assert_string_equal(json_string_value(json_object_get(m1, "sha256")),
                            json_string_value(json_object_get(m4, "sha256")));
        size_t n1, n4;
        unsigned char *b1 = afx_slurp(p1, &n1), *b4 = afx_slurp(p4, &n4);
        assert_int_equal(n1, n4);
        assert_memory_equal(b1, b4, n1);
        free(b1);
        free(b4);
        /* and it reads back, by rune and by gzip */
        assert_int_equal(read_back(p4, back, BIG_LEN + 16), BIG_LEN);
        assert_memory_equal(back, data, BIG_LEN);
        struct rune_artifact_check chk;
        assert_int_equal(rune_artifact_verify(p4, NULL, &chk), 0);
        rune_artifact_check_release(&chk);
        snprintf(cmd, sizeof cmd, "gzip -dc '%s' | cmp -s - '%s'", p4, plain);
        assert_int_equal(system(cmd), 0);
        json_decref(m1);
        json_decref(m4);
    }
    free(data);
    free(back);
}

/* Workers start with a writer or reader and are all joined when it ends,
 * whichever way it ends. */
static void test_workers_are_joined(void **state)
{
    struct fixture *f = *state;
    size_t base = threads_settled(1); /* the test runs on one thread */
    struct rune_artifact_meta meta = {
        .engine = "file", .source = "x", .chunk_size = CHUNK, .threads = 3};
    struct rune_artifact_writer *w;
    char err[512] = "";
    assert_int_equal(rune_artifact_open(&w, f->path, &meta, err, sizeof err), 0);
    assert_int_equal(count_threads(), base + 3);
    assert_int_equal(rune_artifact_write(w, f->data, sizeof f->data, err, sizeof err), 0);
    rune_artifact_abort(w);
    assert_int_equal(threads_settled(base), base);

    json_t *m = write_with(f->path, f->data, sizeof f->data, 2, 0);
    assert_int_equal(threads_settled(base), base);
    /* a reader closed before the end */
    struct rune_artifact_reader *r;
    assert_int_equal(rune_artifact_reader_open(&r, f->path, err, sizeof err), 0);
    assert_true(count_threads() > base);
    unsigned char buf[100];
    assert_int_equal(rune_artifact_read(r, buf, sizeof buf, err, sizeof err), sizeof buf);
    rune_artifact_reader_close(r);
    assert_int_equal(threads_settled(base), base);
    json_decref(m);
}

static void test_thread_count_out_of_range(void **state)
{
    struct fixture *f = *state;
    static const int bad[] = {-1, RUNE_ARTIFACT_THREADS_MAX + 1};
    for (int i = 0; i < 2; i++) {
        struct rune_artifact_meta meta = {.engine = "file", .source = "x", .threads = bad[i]};
        struct rune_artifact_writer *w = NULL;
        char err[512] = "";
        assert_int_equal(rune_artifact_open(&w, f->path, &meta, err, sizeof err), -1);
        assert_null(w);
        if (!strstr(err, "compression threads is out of range: use 1 to 64, or 0 for one per CPU"))
            fail_msg("unexpected: %s", err);
    }
    assert_int_equal(afx_count_entries(f->dir), 0);
}

/* A write error in the middle (here the file size limit, EFBIG, which
 * stands for a full disk) fails the backup, whether it shows in a write or
 * in the commit; nothing is left: no file, no thread. */
static void test_write_error_midway_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    size_t sizes[] = {64 * CHUNK, 6 * CHUNK}; /* many chunks; all in flight at once */
    unsigned char *data = malloc(sizes[0]);
    uint32_t x = 2463534242u; /* incompressible: every member is about CHUNK bytes */
    for (size_t i = 0; i < sizes[0]; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    size_t base = threads_settled(1); /* the test runs on one thread */
    for (int k = 0; k < 2; k++) {
        struct rune_artifact_meta meta = {
            .engine = "file", .source = "x", .chunk_size = CHUNK, .threads = 4};
        struct rune_artifact_writer *w;
        char err[512] = "", again[512] = "";
        assert_int_equal(rune_artifact_open(&w, f->path, &meta, err, sizeof err), 0);
        struct rlimit old, small;
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        small = old;
        small.rlim_cur = 3 * CHUNK;
        void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
        int rc = 0, rc2 = 0;
        for (size_t off = 0; off < sizes[k] && rc == 0; off += 1000) {
            size_t n = sizes[k] - off < 1000 ? sizes[k] - off : 1000;
            rc = rune_artifact_write(w, data + off, n, err, sizeof err);
        }
        if (rc != 0) {
            rc2 = rune_artifact_write(w, data, 10, again, sizeof again);
            rune_artifact_abort(w);
        } else {
            json_t *m = rune_artifact_commit(w, NULL, err, sizeof err);
            rc = m ? 0 : -1;
            json_decref(m);
        }
        setrlimit(RLIMIT_FSIZE, &old);
        signal(SIGXFSZ, prev);
        assert_int_equal(rc, -1);
        if (k == 0) { /* 64 chunks cannot all be in flight: a write saw it */
            assert_int_equal(rc2, -1);
            assert_non_null(strstr(again, "already failed"));
        }
        if (!strstr(err, "cannot write") || !strstr(err, "File too large"))
            fail_msg("unexpected: %s", err);
        assert_int_equal(afx_count_entries(f->dir), 0);
        assert_int_equal(threads_settled(base), base);
    }
    free(data);
}

/* However far the workers read ahead, the damage reported is the first in
 * file order, and the reader hands out every good chunk before it. */
static void test_first_damage_in_file_order_is_reported(void **state)
{
    struct fixture *f = *state;
    unsigned char *data = malloc(BIG_LEN), *back = malloc(BIG_LEN);
    afx_fill(data, BIG_LEN, 12345);
    json_t *m = write_with(f->path, data, BIG_LEN, 4, 0);
    afx_flip_byte(f->path, afx_chunk_field(m, 39, "offset") + 7);
    afx_flip_byte(f->path, afx_chunk_field(m, 8, "offset") + afx_chunk_field(m, 8, "bytes") - 1);
    size_t base = threads_settled(1); /* the test runs on one thread */
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), -1);
    assert_int_equal(chk.bad_chunk, 9);
    assert_non_null(strstr(chk.reason, "chunk 9 of 98"));
    rune_artifact_check_release(&chk);

    struct rune_artifact_reader *r;
    char err[512] = "";
    assert_int_equal(rune_artifact_reader_open(&r, f->path, err, sizeof err), 0);
    size_t got = 0;
    ssize_t n;
    while ((n = rune_artifact_read(r, back + got, BIG_LEN - got, err, sizeof err)) > 0)
        got += (size_t)n;
    assert_int_equal(n, -1);
    assert_int_equal(got, 8 * CHUNK);
    assert_memory_equal(back, data, got);
    assert_non_null(strstr(err, "chunk 9 of 98"));
    assert_int_equal(rune_artifact_read(r, back, 10, err, sizeof err), -1);
    assert_non_null(strstr(err, "reading already failed"));
    rune_artifact_reader_close(r);
    assert_int_equal(threads_settled(base), base);
    free(data);
    free(back);
    json_decref(m);
}

static bool cancel_after(void *ctx)
{
    int *left = ctx;
    return --*left < 0;
}

static void test_verify_can_be_cancelled(void **state)
{
    struct fixture *f = *state;
    unsigned char *data = malloc(BIG_LEN);
    afx_fill(data, BIG_LEN, 12345);
    json_decref(write_with(f->path, data, BIG_LEN, 2, 0));
    size_t base = threads_settled(1); /* the test runs on one thread */
    int left = 5;
    struct rune_artifact_check chk;
    assert_int_equal(
        rune_artifact_verify(
            f->path, &(struct rune_artifact_watch){.cancelled = cancel_after, .ctx = &left}, &chk),
        -1);
    assert_true(chk.cancelled);
    assert_false(chk.ok);
    assert_int_equal(chk.bad_chunk, 0);
    assert_non_null(strstr(chk.reason, "was cancelled"));
    rune_artifact_check_release(&chk);
    assert_int_equal(threads_settled(base), base);
    free(data);
}

static void test_times(void **state)
{
    (void)state;
    long long ms;
    assert_int_equal(rune_clock_parse_iso("2024-05-01T02:03:04.567Z", &ms), 0);
    assert_int_equal(ms, 1714528984567LL);
    char buf[RUNE_ISO_LEN];
    rune_clock_iso(buf, ms);
    assert_string_equal(buf, "2024-05-01T02:03:04.567Z");
    assert_int_equal(rune_clock_parse_iso("2024-05-01T02:03:04Z", &ms), 0);
    assert_int_equal(ms % 1000, 0);
    assert_int_equal(rune_clock_parse_iso("2024-05-01T02:03:04.5+00:00", &ms), 0);
    assert_int_equal(ms % 1000, 500);
    rune_clock_iso(buf, -1);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    assert_int_equal(rune_clock_parse_iso("yesterday", &ms), -1);
    assert_int_equal(rune_clock_parse_iso("2024-05-01T02:03:04+02:00", &ms), -1);
    assert_int_equal(rune_clock_parse_iso("2024-05-01T02:03:04.Z", &ms), -1);
    assert_int_equal(rune_clock_parse_iso("2024-5-1T2:3:4Z", &ms), -1);
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
        cmocka_unit_test_setup_teardown(test_sums_only_verification, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte_is_located_to_its_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_hands_out_nothing_from_a_damaged_chunk, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncated_file_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_removes_partial_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_manifest_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edited_manifest_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extras_and_empty_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any_number_of_threads_writes_the_same_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_workers_are_joined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_count_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_error_midway_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_damage_in_file_order_is_reported, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_can_be_cancelled, setup, teardown),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
