/*
 * test_loader.c — YAML to model: shapes, defaults, marks, and that every
 * problem is reported with file:line:col, not just the first.
 */
#include "unit.h"

#include "model.h"

static struct rune_runbook *load(const char *text, struct rune_diags *d, char **path)
{
    *path = unit_write_temp(text);
    return rune_runbook_load(*path, d);
}

static bool has_diag(const struct rune_diags *d, int line, int col, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].line == line && d->v[i].col == col && strstr(d->v[i].msg, needle))
            return true;
    return false;
}

static void dump(const struct rune_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "  %d:%d %s\n", d->v[i].line, d->v[i].col, d->v[i].msg);
}

static void test_valid_runbook_model(void **state)
{
    (void)state;
    struct rune_diags d = RUNE_DIAGS_INIT;
    char *path;
    struct rune_runbook *rb =
        load("runbook: r\n"
             "title: T\n"
             "objectives: { rto: 1h, rpo: 24h }\n"
             "inputs:\n"
             "  db: { type: string, default: app }\n"
             "detection:\n"
             "  steps:\n"
             "    - { id: a, uses: flow.note, with: { message: x } }\n"
             "mitigation:\n"
             "  steps:\n"
             "    - { id: b, uses: flow.note, with: { message: x } }\n"
             "    - { id: c, uses: flow.sleep, with: { duration: 1s },\n"
             "        timeout: 90s, retry: 3 }\n"
             "    - { id: d, uses: flow.note, needs: [], with: { message: x } }\n"
             "    - { id: e, uses: flow.note, needs: [b, d], on_failure: continue,\n"
             "        with: { message: x } }\n",
             &d, &path);
    if (!rb)
        dump(&d);
    assert_non_null(rb);
    assert_string_equal(rb->name, "r");
    assert_int_equal(rb->rto_ms, 3600000);
    assert_int_equal(rb->rpo_ms, 24LL * 3600000);
    struct rune_stagedef *m = &rb->stages[RUNE_MITIGATION];
    assert_int_equal(m->n, 4);
    /* implicit sequence: c follows b */
    assert_int_equal(m->steps[1].ndeps, 1);
    assert_int_equal(m->steps[1].deps[0], 0);
    /* needs: [] starts with the stage */
    assert_int_equal(m->steps[2].ndeps, 0);
    assert_int_equal(m->steps[3].ndeps, 2);
    assert_int_equal(m->steps[1].timeout_ms, 90000);
    assert_int_equal(m->steps[1].retry.attempts, 3);
    assert_int_equal(m->steps[0].timeout_ms, RUNE_DEFAULT_TIMEOUT_MS);
    /* per-stage default policies */
    assert_int_equal(rb->stages[RUNE_DETECTION].steps[0].on_failure, RUNE_POLICY_CONTINUE);
    assert_int_equal(m->steps[0].on_failure, RUNE_POLICY_ROLLBACK);
    assert_int_equal(m->steps[3].on_failure, RUNE_POLICY_CONTINUE);
    assert_non_null(m->steps[0].type);
    assert_string_equal(m->steps[0].type->name, "flow.note");
    assert_int_equal(strlen(rb->sha256), 64);
    rune_runbook_free(rb);
    rune_diags_free(&d);
    unlink(path);
    free(path);
}

static void test_all_errors_reported_with_marks(void **state)
{
    (void)state;
    struct rune_diags d = RUNE_DIAGS_INIT;
    char *path;
    struct rune_runbook *rb = load("runbook: r\n"
                                   "mitigation:\n"
                                   "  steps:\n"
                                   "    - id: a\n"
                                   "      uses: flow.nope\n"
                                   "      tiemout: 5s\n"
                                   "    - id: b\n"
                                   "      uses: flow.sleep\n"
                                   "      with: { duraton: 1s }\n",
                                   &d, &path);
    assert_null(rb);
    if (d.n < 4)
        dump(&d);
    assert_true(has_diag(&d, 5, 13, "unknown step type \"flow.nope\""));
    assert_true(has_diag(&d, 6, 7, "did you mean \"timeout\""));
    assert_true(has_diag(&d, 9, 15, "no parameter \"duraton\" (did you mean \"duration\"?)"));
    assert_true(has_diag(&d, 9, 13, "needs parameter \"duration\""));
    rune_diags_free(&d);
    unlink(path);
    free(path);
}

static void test_duplicate_keys_and_yaml_errors(void **state)
{
    (void)state;
    struct rune_diags d = RUNE_DIAGS_INIT;
    char *path;
    assert_null(load("runbook: r\nrunbook: s\n", &d, &path));
    assert_true(has_diag(&d, 2, 1, "duplicate key \"runbook\""));
    rune_diags_free(&d);
    unlink(path);
    free(path);
    assert_null(load("runbook: [r\n", &d, &path));
    assert_true(d.n == 1 && strstr(d.v[0].msg, "invalid YAML"));
    rune_diags_free(&d);
    unlink(path);
    free(path);
}

static void test_scalar_typing(void **state)
{
    (void)state;
    struct rune_diags d = RUNE_DIAGS_INIT;
    const char *text = "a: true\nb: \"true\"\nc: 42\nd: '42'\ne: 1.5\nf: yes\ng: ~\nh: 0x1f\n";
    struct rune_node *n = rune_yaml_parse("t.yaml", text, strlen(text), &d);
    assert_non_null(n);
    json_t *j = rune_node_json(n);
    assert_true(json_is_true(json_object_get(j, "a")));
    assert_string_equal(json_string_value(json_object_get(j, "b")), "true");
    assert_int_equal(json_integer_value(json_object_get(j, "c")), 42);
    assert_string_equal(json_string_value(json_object_get(j, "d")), "42");
    assert_true(json_is_real(json_object_get(j, "e")));
    /* YAML 1.2: yes is just a word */
    assert_string_equal(json_string_value(json_object_get(j, "f")), "yes");
    assert_true(json_is_null(json_object_get(j, "g")));
    assert_int_equal(json_integer_value(json_object_get(j, "h")), 31);
    json_decref(j);
    rune_node_free(n);
    rune_diags_free(&d);
}

static void test_alias_bomb_refused(void **state)
{
    (void)state;
    struct rune_diags d = RUNE_DIAGS_INIT;
    const char *text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    assert_null(rune_yaml_parse("bomb.yaml", text, strlen(text), &d));
    assert_true(d.n >= 1 && strstr(d.v[0].msg, "too large"));
    rune_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_runbook_model),
        cmocka_unit_test(test_all_errors_reported_with_marks),
        cmocka_unit_test(test_duplicate_keys_and_yaml_errors),
        cmocka_unit_test(test_scalar_typing),
        cmocka_unit_test(test_alias_bomb_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
