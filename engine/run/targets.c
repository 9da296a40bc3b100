/*
 * targets.c — the things steps act on, declared once under `targets:`:
 * resolved before any step runs (each declaration's fields interpolated
 * and checked against its kind's field table, into ctx.targets), and
 * checked again when a step or rune.run call names one at run time.
 * Their secrets are registered with the run's redactor by inputs.c
 * (rune_targets_register_secrets). A kind's own checks (the ssh option
 * whitelist, ssh_target.c) run again on the resolved fields, since a
 * ${...} value is only known here.
 */
#include "targets.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "params.h"

/* targets: each declaration's fields resolved (${inputs.*}, ${secrets.*})
 * and checked against its kind, once, before anything runs. Adds problems
 * to d; fills ctx.targets. */
void rune_targets_resolve(struct rune_run *r, struct rune_diags *d)
{
    json_t *all = json_object_get(r->ctx, "targets");
    struct rune_eval ev = rune_run_evaluator(r);
    for (size_t i = 0; i < r->rb->ntargets; i++) {
        const struct rune_targetdef *t = &r->rb->targets[i];
        if (!t->kind)
            continue;
        char err[1024];
        struct rune_mark where = t->mark;
        r->expr_deadline_ms = rune_clock_mono_ms() + RUNE_EXPR_TIMEOUT_MS;
        json_t *v = rune_interp_node(t->node, &ev, &where, err, sizeof err);
        if (!v) {
            rune_diag_add(d, where, "target \"%s\": %s", t->name, err);
            continue;
        }
        json_object_del(v, "kind");
        const char *bad = NULL;
        json_t *ok =
            rune_fields_prepare(t->kind->name, t->kind->fields, "field", v, err, sizeof err, &bad);
        json_decref(v);
        if (!ok) {
            const struct rune_node *f = bad ? rune_node_get(t->node, bad) : NULL;
            rune_diag_add(d, f ? f->mark : t->mark, "target \"%s\": %s", t->name, err);
            continue;
        }
        const char *bad_key = NULL;
        if (t->kind->check && !t->kind->check(ok, err, sizeof err, &bad, &bad_key)) {
            const struct rune_node *f = bad ? rune_node_get(t->node, bad) : NULL;
            rune_diag_add(d, f ? f->mark : t->mark, "target \"%s\": %s", t->name, err);
            json_decref(ok);
            continue;
        }
        json_object_set_new(ok, "name", json_string(t->name));
        json_object_set_new(ok, "kind", json_string(t->kind->name));
        json_object_set_new(all, t->name, ok);
    }
}

/* Target parameters resolved at run time (${...}) must still name a
 * declared target of the right kind. */
bool rune_targets_check(json_t *targets, const struct rune_step_type *type, json_t *params,
                        char *err, size_t errlen, const char **bad)
{
    for (const struct rune_param *p = type->params; p && p->name; p++) {
        if (p->type != RUNE_T_TARGET)
            continue;
        const char *name = json_string_value(json_object_get(params, p->name));
        if (!name)
            continue;
        *bad = p->name;
        json_t *t = json_object_get(targets, name);
        if (!t) {
            snprintf(err, errlen,
                     "parameter \"%s\": no target \"%s\" is declared under "
                     "`targets:`",
                     p->name, name);
            return false;
        }
        const char *kind = json_string_value(json_object_get(t, "kind"));
        if (p->kind && kind && strcmp(kind, p->kind) != 0) {
            snprintf(err, errlen,
                     "parameter \"%s\": target \"%s\" is a %s target; %s needs "
                     "a %s target",
                     p->name, name, kind, type->name, p->kind);
            return false;
        }
    }
    return true;
}
