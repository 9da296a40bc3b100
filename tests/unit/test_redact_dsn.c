/*
 * test_redact_dsn.c — passwords inside connection strings (engine/base/dsn.c),
 * including the malformed ones libpq quotes back in its errors.
 */
#include "unit.h"

#include <jansson.h>

#include "dsn.h"

static void collect(void *ud, const char *value)
{
    json_array_append_new(ud, json_string(value));
}

/* The passwords found in text, as one JSON array text. */
static char *found(const char *text)
{
    json_t *a = json_array();
    rune_dsn_passwords(text, collect, a);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static void check_found(const char *text, const char *want)
{
    char *got = found(text);
    assert_string_equal(got, want);
    free(got);
}

static void check_scrub(const char *text, const char *want)
{
    char *got = rune_dsn_scrub(text);
    assert_string_equal(got, want);
    free(got);
}

static void uris(void **state)
{
    (void)state;
    check_found("postgresql://app:Sup3rSecretPw@db1/app", "[\"Sup3rSecretPw\"]");
    check_found("postgres://app:p%40ss%2Fword@db1:5432/app", "[\"p%40ss%2Fword\",\"p@ss/word\"]");
    /* an unencoded '/' makes libpq misread the URI and quote it whole */
    check_found("postgresql://u:pa/ss@h/db", "[\"pa/ss\"]");
    /* libpq cannot parse these and echoes them in its error */
    check_found("postgresql://u:Sup3rSecretPw@[h/db", "[\"Sup3rSecretPw\"]");
    check_found("postgresql://u:p%zzSecret@h/db", "[\"p%zzSecret\"]");
    check_found("postgresql://h/db?sslmode=require&password=Sup3rSecretPw&x=1",
                "[\"Sup3rSecretPw&x=1\",\"Sup3rSecretPw\"]");
    /* no password: nothing */
    check_found("postgresql://app@db1/app", "[]");
    check_found("postgresql://db1/app", "[]");
    check_found("https://example.com/@scope/pkg", "[]");
    check_found("see https://example.com/a?b=c@d", "[]");
}

static void key_value(void **state)
{
    (void)state;
    check_found("host=db1 password=Sup3rSecretPw dbname=app", "[\"Sup3rSecretPw\"]");
    check_found("host=db1 password = 'Sec ret\\'pw' dbname=app",
                "[\"Sec ret\\\\'pw\",\"Sec ret'pw\"]");
    check_found("Server=db1;User Id=app;Password=Sup3rSecretPw;Port=5432",
                "[\"Sup3rSecretPw;Port=5432\",\"Sup3rSecretPw\"]");
    /* malformed: libpq stops at the dangling keyword */
    check_found("host=h password='Sec ret' dbname", "[\"Sec ret\"]");
    /* a word that only ends in password is not the keyword */
    check_found("old_password=x1234567", "[]");
    /* the client key's passphrase, in both forms */
    check_found("host=h sslpassword=BBBBccccDDDDeeee2", "[\"BBBBccccDDDDeeee2\"]");
    check_found("postgresql://h/db?sslpassword=BBBBccccDDDDeeee2", "[\"BBBBccccDDDDeeee2\"]");
    /* libpq takes '"', '<' and '>' literally in an unquoted value */
    check_found("host=h password=\"KKKKllllMMMMnnnn\"", "[\"\\\"KKKKllllMMMMnnnn\\\"\"]");
    check_found("host=h password=ab\"cdefghijklmnop", "[\"ab\\\"cdefghijklmnop\"]");
    check_found("host=h password=ab<cdefgh>ijklmnop x", "[\"ab<cdefgh>ijklmnop\"]");
    check_found("no password here", "[]");
}

static void scrub(void **state)
{
    (void)state;
    check_scrub("postgresql://app:Sup3rSecretPw@db1/app", "postgresql://***@db1/app");
    check_scrub("connect to \"postgresql://u:Sup3rSecretPw@[h/db\" failed",
                "connect to \"postgresql://***@[h/db\" failed");
    check_scrub("host=db1 password='a b' user=x", "host=db1 password='***' user=x");
    check_scrub("host=db1 password=pw user=x", "host=db1 password=*** user=x");
    check_scrub("postgresql://app@db1/app", "postgresql://***@db1/app");
    check_scrub("nothing to see", "nothing to see");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uris),
        cmocka_unit_test(key_value),
        cmocka_unit_test(scrub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
