/*
 * test_artifact_append.c — the two parts of steps/artifact.c that let a
 * backup be assembled from others and read section by section (pg.dump,
 * pg.restore): rune_artifact_append copies another backup's gzip members
 * as new chunks starting on a chunk boundary, and the result is a valid
 * backup that gzip reads whole; rune_artifact_reader_open_range reads
 * exactly the chunks asked for, and checks them.
 *
 * Chunks are small (1 KiB) so that a section spans several.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs stdarg, stddef, setjmp and stdint first, in this order */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"

#define CHUNK 1024

struct fixture {
    char dir[64];
    char a[128], b[128], out[160];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/rune-append-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->a, sizeof f->a, "%s/a.gz", f->dir);
    snprintf(f->b, sizeof f->b, "%s/b.gz", f->dir);
    snprintf(f->out, sizeof f->out, "%s/out.gz", f->dir);
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

/* n bytes of text that say where they are: "A:00000 A:00001 ..." */
static char *text(char tag, size_t n)
{
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i += 8)
        snprintf(s + i, n - i + 1, "%c:%05zu ", tag, i / 8);
    s[n] = '\0';
    return s;
}

static void write_backup(const char *path, int level, const char *data, size_t n)
{
    struct rune_artifact_meta meta = {
        .engine = "test", .source = "t", .level = level, .chunk_size = CHUNK, .threads = 1};
    struct rune_artifact_writer *w;
    char err[512];
    assert_int_equal(rune_artifact_open(&w, path, &meta, err, sizeof err), 0);
    assert_int_equal(rune_artifact_write(w, data, n, err, sizeof err), 0);
    json_t *m = rune_artifact_commit(w, NULL, err, sizeof err);
    assert_non_null(m);
    json_decref(m);
}

/* Reads a whole reader into a malloc'd buffer; *n its length; NULL on an
 * error (err filled). */
static char *read_all(struct rune_artifact_reader *r, size_t *n, char *err, size_t errlen)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while ((got = rune_artifact_read(r, buf + len, cap - len, err, errlen)) > 0) {
        len += (size_t)got;
        if (len == cap) {
            char *grown = realloc(buf, cap *= 2);
            assert_non_null(grown);
            buf = grown;
        }
    }
    if (got < 0) {
        free(buf);
        return NULL;
    }
    *n = len;
    return buf;
}

/* head written directly, then a and b appended, then a tail. */
static void assemble(struct fixture *f, const char *head, const char *tail,
                     struct rune_artifact_span *sa, struct rune_artifact_span *sb)
{
    struct rune_artifact_meta meta = {
        .engine = "test", .source = "t", .level = 6, .chunk_size = CHUNK, .threads = 2};
    struct rune_artifact_writer *w;
    char err[512];
    assert_int_equal(rune_artifact_open(&w, f->out, &meta, err, sizeof err), 0);
    assert_int_equal(rune_artifact_write(w, head, strlen(head), err, sizeof err), 0);
    assert_int_equal(rune_artifact_append(w, f->a, sa, err, sizeof err), 0);
    assert_int_equal(rune_artifact_append(w, f->b, sb, err, sizeof err), 0);
    assert_int_equal(rune_artifact_write(w, tail, strlen(tail), err, sizeof err), 0);
    json_t *m = rune_artifact_commit(w, NULL, err, sizeof err);
    assert_non_null(m);
    json_decref(m);
}

static void test_appended_backup_is_the_concatenation(void **state)
{
    struct fixture *f = *state;
    char *a = text('A', 3 * CHUNK + 100), *b = text('B', 200);
    write_backup(f->a, 6, a, strlen(a));
    write_backup(f->b, 6, b, strlen(b));
    const char *head = "head\n", *tail = "tail\n";
    struct rune_artifact_span sa, sb;
    assemble(f, head, tail, &sa, &sb);

    /* the head's partial chunk ended early: a starts chunk 1 */
    assert_int_equal(sa.first_chunk, 1);
    assert_int_equal(sa.chunks, 4);
    assert_int_equal(sa.raw_offset, strlen(head));
    assert_int_equal(sa.raw_bytes, strlen(a));
    assert_int_equal(sb.first_chunk, 5);
    assert_int_equal(sb.chunks, 1);
    assert_int_equal(sb.raw_offset, strlen(head) + strlen(a));
    assert_int_equal(sb.offset, sa.offset + sa.bytes);

    /* a valid backup, whole */
    struct rune_artifact_check chk;
    assert_int_equal(rune_artifact_verify(f->out, NULL, &chk), 0);
    assert_int_equal(json_array_size(json_object_get(chk.manifest, "chunks")), 7);
    rune_artifact_check_release(&chk);
    char err[512];
    struct rune_artifact_reader *r;
    assert_int_equal(rune_artifact_reader_open(&r, f->out, err, sizeof err), 0);
    size_t n = 0;
    char *all = read_all(r, &n, err, sizeof err);
    rune_artifact_reader_close(r);
    assert_non_null(all);
    assert_int_equal(n, strlen(head) + strlen(a) + strlen(b) + strlen(tail));
    assert_memory_equal(all, head, strlen(head));
    assert_memory_equal(all + sa.raw_offset, a, strlen(a));
    assert_memory_equal(all + sb.raw_offset, b, strlen(b));
    assert_memory_equal(all + n - strlen(tail), tail, strlen(tail));
    free(all);

    /* and gzip reads it as one stream */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s' | cmp -s - '%s/expect'", f->out, f->dir);
    char expect[200];
    snprintf(expect, sizeof expect, "%s/expect", f->dir);
    FILE *e = fopen(expect, "w");
    fprintf(e, "%s%s%s%s", head, a, b, tail);
    fclose(e);
    assert_int_equal(system(cmd), 0);
    free(a);
    free(b);
}

static void test_range_reader_reads_one_section(void **state)
{
    struct fixture *f = *state;
    char *a = text('A', 3 * CHUNK + 100), *b = text('B', 200);
    write_backup(f->a, 6, a, strlen(a));
    write_backup(f->b, 6, b, strlen(b));
    struct rune_artifact_span sa, sb;
    assemble(f, "head\n", "tail\n", &sa, &sb);
    char err[512];
    struct rune_artifact_reader *r;
    assert_int_equal(rune_artifact_reader_open_range(&r, f->out, NULL, sa.first_chunk, sa.chunks,
                                                     err, sizeof err),
                     0);
    size_t n;
    char *got = read_all(r, &n, err, sizeof err);
    rune_artifact_reader_close(r);
    assert_non_null(got);
    assert_int_equal(n, strlen(a));
    assert_memory_equal(got, a, n);
    free(got);

    /* with the manifest given, and a range past the end refused */
    json_t *m = rune_artifact_manifest_load(f->out, err, sizeof err);
    assert_non_null(m);
    assert_int_equal(
        rune_artifact_reader_open_range(&r, f->out, m, sb.first_chunk, sb.chunks, err, sizeof err),
        0);
    got = read_all(r, &n, err, sizeof err);
    rune_artifact_reader_close(r);
    assert_int_equal(n, strlen(b));
    assert_memory_equal(got, b, n);
    free(got);
    assert_int_equal(rune_artifact_reader_open_range(&r, f->out, m, 6, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "do not exist"));
    json_decref(m);
    free(a);
    free(b);
}

static void test_range_reader_refuses_a_damaged_chunk(void **state)
{
    struct fixture *f = *state;
    char *a = text('A', 3 * CHUNK + 100), *b = text('B', 200);
    write_backup(f->a, 6, a, strlen(a));
    write_backup(f->b, 6, b, strlen(b));
    struct rune_artifact_span sa, sb;
    assemble(f, "head\n", "tail\n", &sa, &sb);
    /* one byte of b's chunk */
    int fd = open(f->out, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "\xff", 1, (off_t)(sb.offset + sb.bytes / 2)), 1);
    close(fd);
    char err[512];
    struct rune_artifact_reader *r;
    size_t n;
    /* a's section is intact and reads */
    assert_int_equal(rune_artifact_reader_open_range(&r, f->out, NULL, sa.first_chunk, sa.chunks,
                                                     err, sizeof err),
                     0);
    char *got = read_all(r, &n, err, sizeof err);
    rune_artifact_reader_close(r);
    assert_non_null(got);
    free(got);
    /* b's is refused, naming its chunk */
    assert_int_equal(rune_artifact_reader_open_range(&r, f->out, NULL, sb.first_chunk, sb.chunks,
                                                     err, sizeof err),
                     0);
    assert_null(read_all(r, &n, err, sizeof err));
    rune_artifact_reader_close(r);
    assert_non_null(strstr(err, "chunk 6 of 7"));
    assert_non_null(strstr(err, "SHA-256 mismatch"));
    free(a);
    free(b);
}

static void test_append_refuses_what_does_not_fit(void **state)
{
    struct fixture *f = *state;
    char *a = text('A', 500);
    write_backup(f->a, 1, a, strlen(a)); /* level 1, the writer below 6 */
    struct rune_artifact_meta meta = {
        .engine = "test", .source = "t", .level = 6, .chunk_size = CHUNK, .threads = 1};
    struct rune_artifact_writer *w;
    char err[512];
    assert_int_equal(rune_artifact_open(&w, f->out, &meta, err, sizeof err), 0);
    assert_int_equal(rune_artifact_append(w, f->a, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "level"));
    rune_artifact_abort(w);
    struct stat st;
    assert_int_not_equal(stat(f->out, &st), 0);

    /* a damaged source is refused too, and w is then failed */
    write_backup(f->b, 6, a, strlen(a));
    int fd = open(f->b, O_WRONLY);
    assert_int_equal(pwrite(fd, "\xff", 1, 20), 1);
    close(fd);
    assert_int_equal(rune_artifact_open(&w, f->out, &meta, err, sizeof err), 0);
    assert_int_equal(rune_artifact_append(w, f->b, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "SHA-256 mismatch"));
    assert_int_equal(rune_artifact_write(w, "x", 1, err, sizeof err), -1);
    rune_artifact_abort(w);
    assert_int_not_equal(stat(f->out, &st), 0);
    free(a);
}

static void test_only_appended_chunks_make_no_empty_member(void **state)
{
    struct fixture *f = *state;
    char *a = text('A', 700);
    write_backup(f->a, 6, a, strlen(a));
    struct rune_artifact_meta meta = {
        .engine = "test", .source = "t", .level = 6, .chunk_size = CHUNK, .threads = 1};
    struct rune_artifact_writer *w;
    char err[512];
    assert_int_equal(rune_artifact_open(&w, f->out, &meta, err, sizeof err), 0);
    assert_int_equal(rune_artifact_append(w, f->a, NULL, err, sizeof err), 0);
    json_t *m = rune_artifact_commit(w, NULL, err, sizeof err);
    assert_non_null(m);
    assert_int_equal(json_array_size(json_object_get(m, "chunks")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "raw_bytes")), strlen(a));
    json_decref(m);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_appended_backup_is_the_concatenation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_reader_reads_one_section, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_reader_refuses_a_damaged_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_refuses_what_does_not_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_appended_chunks_make_no_empty_member, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
