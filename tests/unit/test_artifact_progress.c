/*
 * test_artifact_progress.c — how far the artifact library says it is
 * (artifact.h): rune_artifact_verify and rune_artifact_verify_sums tell a
 * watch the raw bytes checked — 0 first, then after each chunk, never
 * going back, on the caller's thread, ending at the manifest's raw_bytes
 * when the backup is good and short of it at a damaged chunk — and a
 * writer tells what it has written out (meta.progress), once per chunk,
 * through commit, up to every byte it was given.
 *
 * Chunks are small (1 KiB) so that a backup of many chunks costs nothing;
 * the workers check them in parallel while the caller hears of them in
 * order.
 */
#include "unit.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifact.h"
#include "artifact_fixture.h"

#define CHUNK 1024
#define DATA_LEN (40 * CHUNK + 300) /* 41 chunks, the last one partial */
#define MAX_CALLS 256

struct fixture {
    char dir[128];
    char path[192];
    unsigned char data[DATA_LEN];
};

/* What a watch heard. */
struct heard {
    size_t n;
    unsigned long long done[MAX_CALLS], total[MAX_CALLS];
    pthread_t caller;
    bool other_thread; /* a call came from a thread other than the caller's */
    int cancel_after;  /* chunks after which to stop; < 0: never */
    int asked;
};

static void on_progress(void *ctx, unsigned long long done, unsigned long long total)
{
    struct heard *h = ctx;
    if (!pthread_equal(pthread_self(), h->caller))
        h->other_thread = true;
    assert_true(h->n < MAX_CALLS);
    h->done[h->n] = done;
    h->total[h->n] = total;
    h->n++;
}

static bool on_cancel(void *ctx)
{
    struct heard *h = ctx;
    return h->cancel_after >= 0 && h->asked++ >= h->cancel_after;
}

static void heard_init(struct heard *h, int cancel_after)
{
    memset(h, 0, sizeof *h);
    h->caller = pthread_self();
    h->cancel_after = cancel_after;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    unit_temp_dir(f->dir, sizeof f->dir, "artprog");
    snprintf(f->path, sizeof f->path, "%s/db.gz", f->dir);
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

/* Writes len bytes of the fixture's data as a backup with `threads`
 * workers, checking what the writer tells of its progress along the way;
 * returns the manifest (new reference). */
static json_t *write_backup(struct fixture *f, size_t len, int threads)
{
    struct heard h;
    heard_init(&h, -1);
    struct rune_artifact_meta meta = {.engine = "file",
                                      .source = "/srv/db",
                                      .chunk_size = CHUNK,
                                      .threads = threads,
                                      .progress = on_progress,
                                      .progress_ctx = &h};
    struct rune_artifact_writer *w;
    char err[512] = "";
    if (rune_artifact_open(&w, f->path, &meta, err, sizeof err) != 0)
        fail_msg("open: %s", err);
    size_t off = 0;
    while (off < len) {
        size_t n = len - off < 700 ? len - off : 700; /* pieces across chunk borders */
        if (rune_artifact_write(w, f->data + off, n, err, sizeof err) != 0)
            fail_msg("write: %s", err);
        off += n;
        /* what is written out: whole chunks, never more than was given,
         * never less than the workers can hold (2 each) and the one
         * filling */
        unsigned long long done = h.n ? h.done[h.n - 1] : 0;
        assert_true(done <= off);
        assert_int_equal(done % CHUNK, 0);
        assert_true(off - done <= (size_t)(2 * threads + 1) * CHUNK);
        if (h.n)
            assert_true(h.total[h.n - 1] <= off);
    }
    size_t before_commit = h.n;
    json_t *m = rune_artifact_commit(w, NULL, err, sizeof err);
    if (!m)
        fail_msg("commit: %s", err);
    assert_int_equal(json_integer_value(json_object_get(m, "raw_bytes")), len);
    /* once per chunk, on this thread, never going back; commit wrote out
     * the last ones, up to everything given */
    size_t chunks = json_array_size(json_object_get(m, "chunks"));
    assert_int_equal(h.n, chunks);
    assert_true(h.n > before_commit);
    assert_false(h.other_thread);
    for (size_t i = 0; i < h.n; i++) {
        assert_true(h.done[i] <= h.total[i]);
        if (i > 0)
            assert_true(h.done[i] >= h.done[i - 1] && h.total[i] >= h.total[i - 1]);
    }
    assert_int_equal(h.done[h.n - 1], len);
    assert_int_equal(h.total[h.n - 1], len);
    return m;
}

/* The calls make a count: 0 first, never going back, one total. */
static void assert_count(const struct heard *h, unsigned long long total)
{
    assert_false(h->other_thread);
    assert_true(h->n >= 1);
    assert_int_equal(h->done[0], 0);
    for (size_t i = 0; i < h->n; i++) {
        assert_int_equal(h->total[i], total);
        assert_true(h->done[i] <= total);
        if (i > 0)
            assert_true(h->done[i] >= h->done[i - 1]);
    }
}

static void test_verify_counts_up_to_raw_bytes(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_backup(f, DATA_LEN, 2);
    size_t chunks = json_array_size(json_object_get(m, "chunks"));
    assert_int_equal(chunks, 41);
    for (int sums = 0; sums <= 1; sums++) {
        struct heard h;
        heard_init(&h, -1);
        struct rune_artifact_watch watch = {on_cancel, on_progress, &h};
        struct rune_artifact_check chk;
        int rc = sums ? rune_artifact_verify_sums(f->path, &watch, &chk)
                      : rune_artifact_verify(f->path, &watch, &chk);
        assert_int_equal(rc, 0);
        rune_artifact_check_release(&chk);
        assert_count(&h, DATA_LEN);
        /* the start, then once per chunk, each adding that chunk's bytes */
        assert_int_equal(h.n, chunks + 1);
        for (size_t i = 1; i < h.n; i++)
            assert_int_equal(
                h.done[i] - h.done[i - 1],
                json_integer_value(json_object_get(
                    json_array_get(json_object_get(m, "chunks"), i - 1), "raw_bytes")));
        assert_int_equal(h.done[h.n - 1], DATA_LEN);
    }
    json_decref(m);
}

static void test_damage_stops_the_count_short(void **state)
{
    struct fixture *f = *state;
    json_t *m = write_backup(f, DATA_LEN, 3);
    json_t *c7 = json_array_get(json_object_get(m, "chunks"), 6);
    long long at = (long long)json_integer_value(json_object_get(c7, "offset")) + 3;
    int fd = open(f->path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
    struct heard h;
    heard_init(&h, -1);
    struct rune_artifact_watch watch = {NULL, on_progress, &h};
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, &watch, &chk), -1);
    assert_int_equal(chk.bad_chunk, 7);
    rune_artifact_check_release(&chk);
    assert_count(&h, DATA_LEN);
    /* the six good chunks before it, and not a byte of it */
    assert_int_equal(h.n, 7);
    assert_int_equal(h.done[h.n - 1], 6 * CHUNK);
    json_decref(m);
}

static void test_cancel_stops_the_count(void **state)
{
    struct fixture *f = *state;
    json_decref(write_backup(f, DATA_LEN, 2));
    struct heard h;
    heard_init(&h, 5);
    struct rune_artifact_watch watch = {on_cancel, on_progress, &h};
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, &watch, &chk), -1);
    assert_true(chk.cancelled);
    rune_artifact_check_release(&chk);
    assert_count(&h, DATA_LEN);
    assert_int_equal(h.n, 6); /* the start and five chunks */
    assert_int_equal(h.done[h.n - 1], 5 * CHUNK);
}

static void test_empty_backup_is_done_at_once(void **state)
{
    struct fixture *f = *state;
    json_decref(write_backup(f, 0, 1));
    struct heard h;
    heard_init(&h, -1);
    struct rune_artifact_watch watch = {NULL, on_progress, &h};
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, &watch, &chk), 0);
    rune_artifact_check_release(&chk);
    assert_count(&h, 0);
    assert_int_equal(h.done[h.n - 1], 0);
}

static void test_no_watch_or_no_callbacks(void **state)
{
    struct fixture *f = *state;
    json_decref(write_backup(f, DATA_LEN, 1));
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->path, NULL, &chk), 0);
    rune_artifact_check_release(&chk);
    struct rune_artifact_watch none = {0};
    assert_int_equal(rune_artifact_verify_sums(f->path, &none, &chk), 0);
    rune_artifact_check_release(&chk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_verify_counts_up_to_raw_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage_stops_the_count_short, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_stops_the_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_backup_is_done_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_watch_or_no_callbacks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
