/*
 * test_shquote.c — engine/base/shword.c, the POSIX quoting of the words
 * rune sends to a remote shell over ssh. Each hostile word is quoted,
 * given to a real /bin/sh (and bash, as remote login shells are) inside
 * `printf '%s\0' WORDS`, and must come back byte for byte, with nothing
 * run on the way: quotes, $(), backticks, newlines, ;, globs, leading
 * dashes, the empty word.
 */
#include "unit.h"

#include <sys/wait.h>

#include "shword.h"

static const char *const hostile[] = {
    "plain",
    "",
    "two words",
    "it's",
    "'",
    "''",
    "\"double\"",
    "$(touch pwned)",
    "`touch pwned`",
    "${HOME}",
    "$HOME",
    "a;touch pwned",
    "a&&b||c|d&",
    "line\nbreak",
    "\n",
    "tab\there",
    "back\\slash",
    "\\",
    "*",
    "?",
    "[a-z]",
    "~",
    "~root",
    "-n",
    "--",
    "a=b",
    "=x",
    "#comment",
    "!event",
    "{a,b}",
    "<in >out 2>&1",
    "x'\"'\"y",
    "\x01\x7f\xc3\xa9",
    NULL,
};

/* Runs `shell -c "printf '%s\0' QUOTED..."` and returns what it printed
 * (its length in *len). Malloc'd. */
static char *through(const char *shell, char *line, size_t *len)
{
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "printf '%%s\\0' %s", line) > 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(shell, shell, "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t cap = 4096, n = 0;
    char *out = malloc(cap);
    ssize_t r;
    while ((r = read(fds[0], out + n, cap - n)) > 0) {
        n += (size_t)r;
        if (n == cap)
            out = realloc(out, cap *= 2);
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(cmd);
    *len = n;
    return out;
}

static void check_shell(const char *shell)
{
    char *line = rune_shq_argv((char *const *)hostile);
    assert_non_null(line);
    size_t len;
    char *out = through(shell, line, &len);
    size_t at = 0;
    for (const char *const *w = hostile; *w; w++) {
        size_t wl = strlen(*w);
        assert_true(at + wl < len + 1);
        if (memcmp(out + at, *w, wl) != 0 || out[at + wl] != '\0')
            fail_msg("%s changed the word \"%s\"", shell, *w);
        at += wl + 1;
    }
    assert_int_equal(at, len);
    free(out);
    free(line);
}

static void words_survive_sh(void **state)
{
    (void)state;
    check_shell("/bin/sh");
}

static void words_survive_bash(void **state)
{
    (void)state;
    if (access("/bin/bash", X_OK) != 0)
        fail_msg("/bin/bash is needed for this test (bash is a common remote login shell)");
    check_shell("/bin/bash");
}

static void plain_words_stay_readable(void **state)
{
    (void)state;
    char *const argv[] = {"pg_ctl", "-D", "/var/lib/postgresql/15/main", "-m", "fast", NULL};
    char *line = rune_shq_argv(argv);
    assert_string_equal(line, "pg_ctl -D /var/lib/postgresql/15/main -m fast");
    free(line);
    char *const odd[] = {"it's", "", "a b", NULL};
    line = rune_shq_argv(odd);
    assert_string_equal(line, "'it'\\''s' '' 'a b'");
    free(line);
}

static void variable_names(void **state)
{
    (void)state;
    assert_true(rune_shq_name_ok("PGPASSWORD"));
    assert_true(rune_shq_name_ok("_x1"));
    assert_false(rune_shq_name_ok(""));
    assert_false(rune_shq_name_ok("1X"));
    assert_false(rune_shq_name_ok("A-B"));
    assert_false(rune_shq_name_ok("A=B"));
    assert_false(rune_shq_name_ok("$(id)"));
    assert_false(rune_shq_name_ok("A B"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(words_survive_sh),
        cmocka_unit_test(words_survive_bash),
        cmocka_unit_test(plain_words_stay_readable),
        cmocka_unit_test(variable_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
