/*
 * test_safefile.c — steps/lib/safefile.c and steps/lib/digest.c, the small
 * libraries every file a step writes goes through: a file appears under
 * its final name only when committed, with the mode asked for (never
 * set-id); an existing file is never replaced unless asked, even one that
 * appears while the file is written; an abort leaves nothing; and digests
 * come out as the lowercase hex sha256sum prints.
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "digest.h"
#include "safefile.h"

struct fx {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    unit_temp_dir(f->dir, sizeof f->dir, "safefile-unit");
    snprintf(f->path, sizeof f->path, "%s/out.txt", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    unit_remove_dir(f->dir);
    free(f);
    return 0;
}

/* Entries in dir besides . and .. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void slurp(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = rune_read_full(fd, buf, len - 1);
    assert_true(n >= 0);
    buf[n] = '\0';
    close(fd);
}

static void committed_file_appears_with_its_mode(void **state)
{
    struct fx *f = *state;
    struct rune_safe_file sf;
    char err[256];
    assert_int_equal(rune_safe_file_open(&sf, f->path, false, 04640, err, sizeof err), 0);
    assert_true(strstr(sf.tmp, "/.out.txt.partial-") != NULL);
    assert_int_equal(access(f->path, F_OK), -1); /* nothing under the final name yet */
    assert_int_equal(rune_write_all(sf.fd, "hello\n", 6), 0);
    assert_int_equal(rune_safe_file_commit(&sf, false, err, sizeof err), 0);
    char buf[64];
    slurp(f->path, buf, sizeof buf);
    assert_string_equal(buf, "hello\n");
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640); /* never set-id */
    assert_int_equal(entries(f->dir), 1);       /* no temp file left */
}

static void existing_file_is_not_replaced(void **state)
{
    struct fx *f = *state;
    int fd = open(f->path, O_CREAT | O_WRONLY, 0600);
    assert_int_equal(rune_write_all(fd, "old\n", 4), 0);
    close(fd);
    struct rune_safe_file sf;
    char err[256];
    assert_int_equal(rune_safe_file_open(&sf, f->path, false, 0600, err, sizeof err), -1);
    assert_true(strstr(err, "already exists") != NULL);
    /* with overwrite, it is replaced */
    assert_int_equal(rune_safe_file_open(&sf, f->path, true, 0600, err, sizeof err), 0);
    assert_int_equal(rune_write_all(sf.fd, "new\n", 4), 0);
    assert_int_equal(rune_safe_file_commit(&sf, true, err, sizeof err), 0);
    char buf[64];
    slurp(f->path, buf, sizeof buf);
    assert_string_equal(buf, "new\n");
}

static void a_file_that_appears_meanwhile_wins(void **state)
{
    struct fx *f = *state;
    struct rune_safe_file sf;
    char err[256];
    assert_int_equal(rune_safe_file_open(&sf, f->path, false, 0600, err, sizeof err), 0);
    assert_int_equal(rune_write_all(sf.fd, "mine\n", 5), 0);
    int fd = open(f->path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    assert_int_equal(rune_write_all(fd, "theirs\n", 7), 0);
    close(fd);
    assert_int_equal(rune_safe_file_commit(&sf, false, err, sizeof err), -1);
    assert_true(strstr(err, "appeared while this step ran") != NULL);
    char buf[64];
    slurp(f->path, buf, sizeof buf);
    assert_string_equal(buf, "theirs\n");
    assert_int_equal(entries(f->dir), 1); /* the temp file is gone */
}

static void abort_leaves_nothing(void **state)
{
    struct fx *f = *state;
    struct rune_safe_file sf;
    char err[256];
    assert_int_equal(rune_safe_file_open(&sf, f->path, false, 0600, err, sizeof err), 0);
    assert_int_equal(rune_write_all(sf.fd, "partial", 7), 0);
    rune_safe_file_abort(&sf);
    assert_int_equal(entries(f->dir), 0);
    rune_safe_file_abort(&sf); /* twice is harmless */
    struct rune_safe_file zero = {.fd = -1};
    rune_safe_file_abort(&zero);
}

static void missing_directory_says_so(void **state)
{
    struct fx *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/no/such/out.txt", f->dir);
    struct rune_safe_file sf;
    char err[256];
    assert_int_equal(rune_safe_file_open(&sf, path, false, 0600, err, sizeof err), -1);
    assert_true(strstr(err, "does not exist") != NULL);
    assert_int_equal(rune_fsync_dir(f->dir), 0);
    assert_int_equal(rune_fsync_dir(path), -1);
}

static void digests_are_lowercase_hex(void **state)
{
    (void)state;
    char hex[RUNE_SHA256_HEX];
    rune_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(rune_is_sha256_hex(hex));
    assert_false(rune_is_sha256_hex("BA7816BF"));
    assert_false(rune_is_sha256_hex(NULL));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    EVP_DigestUpdate(ctx, "ab", 2);
    EVP_DigestUpdate(ctx, "c", 1);
    char streamed[RUNE_DIGEST_HEX_MAX];
    rune_digest_hex(ctx, streamed);
    EVP_MD_CTX_free(ctx);
    assert_string_equal(streamed, hex);
    unsigned char bytes[] = {0x00, 0x0f, 0xa0, 0xff};
    char out[9];
    rune_hex(bytes, sizeof bytes, out);
    assert_string_equal(out, "000fa0ff");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(committed_file_appears_with_its_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(existing_file_is_not_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(a_file_that_appears_meanwhile_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_directory_says_so, setup, teardown),
        cmocka_unit_test(digests_are_lowercase_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
