/*
 * test_graph.c — step graphs: implicit sequence, fan-out/fan-in waves,
 * precedence, and cycles named in the error.
 */
#include "unit.h"

#include "graph.h"
#include "model.h"

static struct rune_runbook *load(const char *text, struct rune_diags *d)
{
    char *path = unit_write_temp(text);
    struct rune_runbook *rb = rune_runbook_load(path, d);
    unlink(path);
    free(path);
    return rb;
}

static void test_waves_fan_out_fan_in(void **state)
{
    (void)state;
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_runbook *rb =
        load("runbook: g\n"
             "mitigation:\n"
             "  steps:\n"
             "    - { id: a, uses: flow.note, with: { message: x } }\n"
             "    - { id: b, uses: flow.note, needs: [a], with: { message: x } }\n"
             "    - { id: c, uses: flow.note, needs: [a], with: { message: x } }\n"
             "    - { id: d, uses: flow.note, needs: [b, c], with: { message: x } }\n"
             "    - { id: e, uses: flow.note, with: { message: x } }\n"
             "    - { id: f, uses: flow.note, needs: [], with: { message: x } }\n",
             &d);
    assert_non_null(rb);
    const struct rune_stagedef *sd = &rb->stages[RUNE_MITIGATION];
    size_t w[6];
    assert_int_equal(rune_graph_waves(sd, w), 4);
    assert_int_equal(w[0], 0);
    assert_int_equal(w[1], 1);
    assert_int_equal(w[2], 1);
    assert_int_equal(w[3], 2);
    assert_int_equal(w[4], 3); /* e follows d implicitly */
    assert_int_equal(w[5], 0); /* f starts with the stage */
    assert_true(rune_graph_precedes(sd, 0, 3));
    assert_true(rune_graph_precedes(sd, 1, 4));
    assert_false(rune_graph_precedes(sd, 1, 2));
    assert_false(rune_graph_precedes(sd, 5, 4));
    rune_runbook_free(rb);
    rune_diags_free(&d);
}

static void test_cycle_is_named(void **state)
{
    (void)state;
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_runbook *rb =
        load("runbook: g\n"
             "mitigation:\n"
             "  steps:\n"
             "    - { id: a, uses: flow.note, needs: [b], with: { message: x } }\n"
             "    - { id: b, uses: flow.note, needs: [a], with: { message: x } }\n"
             "    - { id: c, uses: flow.note, needs: [], with: { message: x } }\n",
             &d);
    assert_null(rb);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.v[0].msg, "dependency cycle: a -> b -> a"));
    assert_int_equal(d.v[0].line, 5);
    rune_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waves_fan_out_fan_in),
        cmocka_unit_test(test_cycle_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
