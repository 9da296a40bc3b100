/*
 * artifact_fixture.h — what the unit tests of the backup artifact format
 * (test_artifact*.c) share: data that compresses like real data, a backup
 * written in uneven pieces that cross chunk borders, the manifest's chunk
 * table, damage made on purpose, and reading files back whole.
 *
 * Include after unit.h (cmocka) and artifact.h.
 */
#ifndef RUNE_TEST_ARTIFACT_FIXTURE_H
#define RUNE_TEST_ARTIFACT_FIXTURE_H

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>

/* Deterministic, compressible but not trivial: words and letters; seed
 * makes tests' data differ where that matters. */
static inline void afx_fill(unsigned char *p, size_t n, uint32_t seed)
{
    static const char *const words[] = {"alpha ", "backup ", "chunk ", "delta ", "\n", "42 "};
    uint32_t x = seed;
    size_t i = 0;
    while (i < n) {
        x = x * 1103515245u + 12345u;
        for (const char *w = words[(x >> 16) % 6]; *w && i < n; w++)
            p[i++] = (unsigned char)*w;
        if (i < n)
            p[i++] = (unsigned char)('a' + (x >> 8) % 26);
    }
}

/* Writes len bytes of data as a backup at path with meta, in pieces of
 * 1, 10, 37, 118 ... bytes (crossing chunk borders in every way), and
 * commits with extras; returns the manifest (new reference). */
static inline json_t *afx_write(const char *path, const struct rune_artifact_meta *meta,
                                const unsigned char *data, size_t len, json_t *extras)
{
    struct rune_artifact_writer *w;
    char err[512] = "";
    if (rune_artifact_open(&w, path, meta, err, sizeof err) != 0)
        fail_msg("open %s: %s", path, err);
    size_t off = 0, piece = 1;
    while (off < len) {
        size_t n = piece < len - off ? piece : len - off;
        if (rune_artifact_write(w, data + off, n, err, sizeof err) != 0)
            fail_msg("write: %s", err);
        off += n;
        piece = piece * 3 + 7;
        if (piece > 5000)
            piece = 1;
    }
    json_t *m = rune_artifact_commit(w, extras, err, sizeof err);
    if (!m)
        fail_msg("commit: %s", err);
    return m;
}

/* A field of chunk i of a manifest. */
static inline long long afx_chunk_field(json_t *m, size_t i, const char *key)
{
    return (long long)json_integer_value(
        json_object_get(json_array_get(json_object_get(m, "chunks"), i), key));
}

/* Damages one byte of a file in place. */
static inline void afx_flip_byte(const char *path, long long offset)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, offset), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, offset), 1);
    close(fd);
}

/* A whole file, malloc'd, its length in *len. */
static inline unsigned char *afx_slurp(const char *path, size_t *len)
{
    FILE *p = fopen(path, "rb");
    assert_non_null(p);
    fseek(p, 0, SEEK_END);
    long n = ftell(p);
    fseek(p, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, p), (size_t)n);
    fclose(p);
    *len = (size_t)n;
    return b;
}

/* How many entries a directory holds (what a failed write left behind). */
static inline size_t afx_count_entries(const char *dir)
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

#endif
