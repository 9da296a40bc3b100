/*
 * run_expr.c — expressions over a run's context: `${...}` and bare Lua
 * expressions (when:, with:, confirm:, incident_if, severity, lock,
 * simulate:) evaluated by the run's sandboxed Lua state over ctx, under
 * the deadline the caller set (r->expr_deadline_ms) and Ctrl-C.
 *
 * Its own file so that the scheduler and a step's call (sched.c, call.c)
 * reach the evaluator without calling back up into the run's lifecycle
 * (run.c).
 */
#include "runstate.h"

static bool interrupted(void *ud)
{
    (void)ud;
    return atomic_load(&rune_interrupted) != 0;
}

/* ${...} and bare expressions: Lua over the run's context. Called by the
 * scheduler thread with r->mu held (the context must not change). */
static json_t *eval_ctx(void *ud, const char *expr, struct rune_mark where, char *err,
                        size_t errlen)
{
    struct rune_run *r = ud;
    rune_lua_set_context(r->lua, r->ctx);
    rune_lua_set_deadline(r->lua, r->expr_deadline_ms, interrupted, NULL);
    return rune_lua_eval(r->lua, expr, where, err, errlen);
}

struct rune_eval rune_run_evaluator(struct rune_run *r)
{
    return (struct rune_eval){eval_ctx, r};
}

json_t *rune_run_eval_node(struct rune_run *r, const struct rune_node *n, char *err, size_t errlen)
{
    bool b;
    if (rune_node_is_bool(n, &b))
        return json_boolean(b);
    const char *t = n->kind == RUNE_NODE_SCALAR ? n->str : "";
    bool level = t[0] == 'P' && t[1] >= '0' && t[1] <= '3' && !t[2];
    if (rune_node_is_string(n) && !rune_interp_has(t) && !level) {
        struct rune_mark m = n->mark;
        if (n->block) {
            m.line++;
            m.col = 1;
        }
        return eval_ctx(r, t, m, err, errlen);
    }
    struct rune_eval ev = rune_run_evaluator(r);
    struct rune_mark where = n->mark;
    return rune_interp_node(n, &ev, &where, err, errlen);
}
