/*
 * test_clock.c — engine/base/clock.c's wait-and-deadline words, which step
 * messages use ("timed out after 90s", "waited 1.5s"): milliseconds below
 * a second, tenths below a minute unless whole, whole seconds above.
 */
#include "unit.h"

#include "clock.h"

static void ms_str_reads_as_steps_say_it(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(rune_clock_ms_str(0, buf, sizeof buf), "0ms");
    assert_string_equal(rune_clock_ms_str(450, buf, sizeof buf), "450ms");
    assert_string_equal(rune_clock_ms_str(1000, buf, sizeof buf), "1s");
    assert_string_equal(rune_clock_ms_str(1500, buf, sizeof buf), "1.5s");
    assert_string_equal(rune_clock_ms_str(59900, buf, sizeof buf), "59.9s");
    assert_string_equal(rune_clock_ms_str(60000, buf, sizeof buf), "60s");
    assert_string_equal(rune_clock_ms_str(90400, buf, sizeof buf), "90s");
    assert_string_equal(rune_clock_ms_str(90500, buf, sizeof buf), "91s");
}

static void mono_never_goes_back(void **state)
{
    (void)state;
    long long a = rune_clock_mono_ms(), b = rune_clock_mono_ms();
    assert_true(a > 0);
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ms_str_reads_as_steps_say_it),
        cmocka_unit_test(mono_never_goes_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
