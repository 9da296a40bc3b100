/*
 * validate.c — the checks that need more than one node at a time: step
 * types and their parameters (from the registry), unique ids, needs and
 * cycles, inputs' defaults, and every `${...}` reference that can be
 * resolved without running anything. Runs after loader.c even when the
 * loader found problems, so `rune validate` reports them all at once.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "interp.h"
#include "lua.h"
#include "params.h"
#include "registry.h"
#include "suggest.h"

struct checker {
    struct rune_runbook *rb;
    struct rune_diags *d;
    const char **ids; /* every step id, for suggestions */
    size_t nids;
};

static void check_type(struct checker *c, struct rune_stepdef *st)
{
    if (st->lua) {
        st->type = &rune_lua_inline_type;
        return;
    }
    if (!st->uses)
        return;
    st->type = rune_registry_find(st->uses);
    if (st->type)
        return;
    size_t n;
    const struct rune_step_type *const *all = rune_registry_all(&n);
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names)
        abort();
    for (size_t i = 0; i < n; i++)
        names[i] = all[i]->name;
    char hint[128];
    rune_suggest_hint(st->uses, names, n, hint, sizeof hint);
    free(names);
    rune_diag_add(c->d, st->uses_mark, "unknown step type \"%s\"%s; `rune steps` lists them",
                  st->uses, hint);
}

/* A target-typed value that is literal must name a declared target of the
 * kind the primitive wants. */
static void check_target_ref(struct checker *c, const char *who, const struct rune_param *p,
                             const struct rune_node *v, const char *tname)
{
    if (v->kind != RUNE_NODE_SCALAR || strstr(v->str, "${"))
        return;
    struct rune_runbook *rb = c->rb;
    for (size_t i = 0; i < rb->ntargets; i++) {
        const struct rune_targetdef *t = &rb->targets[i];
        if (strcmp(t->name, v->str) != 0)
            continue;
        if (p->kind && t->kind && strcmp(p->kind, t->kind->name) != 0)
            rune_diag_add(c->d, v->mark, "%s: target \"%s\" is a %s target; %s needs a %s target",
                          who, t->name, t->kind_name, tname, p->kind);
        return;
    }
    const char **names = calloc(rb->ntargets + 1, sizeof *names);
    if (!names)
        abort();
    for (size_t i = 0; i < rb->ntargets; i++)
        names[i] = rb->targets[i].name;
    char hint[128];
    rune_suggest_hint(v->str, names, rb->ntargets, hint, sizeof hint);
    free(names);
    rune_diag_add(c->d, v->mark,
                  "%s: no target \"%s\" is declared%s; declare it under `targets:` as "
                  "{ kind: %s, ... }",
                  who, v->str, hint, p->kind ? p->kind : "...");
}

/* A parameter as the runbook gives it: absent (or a literal null), given,
 * or known only once ${...} is resolved. */
static enum rune_given given_in_node(const char *name, void *ctx)
{
    const struct rune_node *v = rune_node_get(ctx, name);
    if (!v)
        return RUNE_ABSENT;
    json_t *lit = rune_node_json(v);
    char *dump = json_dumps(lit, JSON_ENCODE_ANY | JSON_COMPACT);
    enum rune_given g = json_is_null(lit)            ? RUNE_ABSENT
                        : dump && strstr(dump, "${") ? RUNE_UNKNOWN
                                                     : RUNE_GIVEN;
    free(dump);
    json_decref(lit);
    return g;
}

/* The mapping w against a parameter table: unknown names (with a hint),
 * literal values of the wrong type, required ones missing. `who` starts
 * each message ("step \"x\""), `tname` is the type or kind, `word` says
 * "parameter" or "field"; `skip` is a key that belongs to the declaration
 * itself (a target's kind). */
static void check_fields(struct checker *c, const char *who, const char *tname,
                         const struct rune_param *params, const struct rune_node *w,
                         struct rune_mark at, const char *word, const char *skip)
{
    size_t np = 0;
    for (const struct rune_param *p = params; p && p->name; p++)
        np++;
    const char **names = calloc(np ? np : 1, sizeof *names);
    if (!names)
        abort();
    for (size_t i = 0; i < np; i++)
        names[i] = params[i].name;
    for (size_t i = 0; w && i < w->n; i++) {
        const char *k = w->keys[i]->str;
        if (skip && !strcmp(k, skip))
            continue;
        const struct rune_param *p = rune_param_find(params, k);
        if (!p) {
            char hint[128];
            rune_suggest_hint(k, names, np, hint, sizeof hint);
            rune_diag_add(c->d, w->keys[i]->mark, "%s: %s has no %s \"%s\"%s", who, tname, word, k,
                          hint);
            continue;
        }
        const struct rune_node *v = w->items[i];
        if (p->type == RUNE_T_TARGET)
            check_target_ref(c, who, p, v, tname);
        /* a value with ${...} anywhere can only be checked once resolved */
        json_t *lit = rune_node_json(v);
        char *dump = json_dumps(lit, JSON_ENCODE_ANY | JSON_COMPACT);
        bool dynamic = dump && strstr(dump, "${");
        free(dump);
        if (!dynamic) {
            char why[512];
            json_t *ok = rune_param_check(p, lit, why, sizeof why);
            if (!ok)
                rune_diag_add(c->d, v->mark, "%s: %s \"%s\": %s", who, word, k, why);
            json_decref(ok);
        }
        json_decref(lit);
    }
    char why[512];
    const char *bad = NULL;
    if (rune_param_groups(tname, params, given_in_node, (void *)w, why, sizeof why, &bad) != 0) {
        const struct rune_node *at_bad = bad ? rune_node_get(w, bad) : NULL;
        rune_diag_add(c->d, at_bad ? at_bad->mark : w ? w->mark : at, "%s: %s", who, why);
    }
    for (const struct rune_param *p = params; p && p->name; p++) {
        if (p->required && !rune_node_get(w, p->name))
            rune_diag_add(c->d, w ? w->mark : at, "%s: %s needs %s \"%s\" (%s)", who, tname, word,
                          p->name, p->doc ? p->doc : rune_type_name(p->type));
    }
    free(names);
}

static void check_params(struct checker *c, struct rune_stepdef *st)
{
    if (!st->type)
        return;
    char who[160];
    snprintf(who, sizeof who, "step \"%s\"", st->id ? st->id : "?");
    check_fields(c, who, st->type->name, st->type->params, st->with, st->uses_mark, "parameter",
                 NULL);
}

/* The kind's own checks (the ssh option whitelist) on the literal
 * fields, reported at the field, or at the key of a mapping field. */
static void check_kind(struct checker *c, const struct rune_targetdef *t, const char *who)
{
    if (!t->kind->check || !t->node)
        return;
    json_t *lit = rune_node_json(t->node);
    char why[512];
    const char *bad = NULL, *bad_key = NULL;
    if (json_is_object(lit) && !t->kind->check(lit, why, sizeof why, &bad, &bad_key)) {
        const struct rune_node *f = bad ? rune_node_get(t->node, bad) : NULL;
        struct rune_mark at = f ? f->mark : t->mark;
        for (size_t i = 0; f && bad_key && f->kind == RUNE_NODE_MAP && i < f->n; i++)
            if (!strcmp(f->keys[i]->str, bad_key))
                at = f->keys[i]->mark;
        rune_diag_add(c->d, at, "%s: %s", who, why);
    }
    json_decref(lit);
}

/* targets: a known kind, its fields, unique names. */
static void check_targets(struct checker *c)
{
    struct rune_runbook *rb = c->rb;
    for (size_t i = 0; i < rb->ntargets; i++) {
        struct rune_targetdef *t = &rb->targets[i];
        for (size_t j = 0; j < i; j++)
            if (!strcmp(rb->targets[j].name, t->name))
                rune_diag_add(c->d, t->mark, "target \"%s\" is declared twice", t->name);
        if (!t->kind_name)
            continue;
        t->kind = rune_registry_target_kind(t->kind_name);
        if (!t->kind) {
            const char *names[32];
            size_t n = 0;
            for (; rune_native_target_kinds[n] && n < 32; n++)
                names[n] = rune_native_target_kinds[n]->name;
            char hint[128], all[256];
            rune_suggest_hint(t->kind_name, names, n, hint, sizeof hint);
            rune_diag_add(c->d, t->kind_mark, "unknown target kind \"%s\"%s; kinds: %s",
                          t->kind_name, hint, rune_registry_target_kinds(all, sizeof all));
            continue;
        }
        char who[160];
        snprintf(who, sizeof who, "target \"%s\"", t->name);
        check_fields(c, who, t->kind->name, t->kind->fields, t->node, t->mark, "field", "kind");
        check_kind(c, t, who);
    }
}

static void check_needs(struct checker *c, struct rune_stagedef *sd, struct rune_stepdef *st)
{
    if (!st->needs) {
        if (st->index > 0) {
            st->deps = malloc(sizeof *st->deps);
            if (!st->deps)
                abort();
            st->deps[0] = st->index - 1;
            st->ndeps = 1;
        }
        return;
    }
    const struct rune_node *list = st->needs;
    size_t n = list->kind == RUNE_NODE_SEQ ? list->n : 1;
    st->deps = calloc(n ? n : 1, sizeof *st->deps);
    if (!st->deps)
        abort();
    for (size_t k = 0; k < n; k++) {
        const struct rune_node *item = list->kind == RUNE_NODE_SEQ ? list->items[k] : list;
        if (item->kind != RUNE_NODE_SCALAR) {
            rune_diag_add(c->d, item->mark, "needs must list step ids, found %s",
                          rune_node_describe(item));
            continue;
        }
        const char *want = item->str;
        size_t found = (size_t)-1;
        for (size_t j = 0; j < sd->n; j++)
            if (sd->steps[j].id && !strcmp(sd->steps[j].id, want))
                found = j;
        if (found == st->index) {
            rune_diag_add(c->d, item->mark, "step \"%s\" needs itself", want);
            continue;
        }
        if (found != (size_t)-1) {
            bool dup = false;
            for (size_t q = 0; q < st->ndeps; q++)
                dup |= st->deps[q] == found;
            if (dup)
                rune_diag_add(c->d, item->mark, "\"%s\" is listed twice in needs", want);
            else
                st->deps[st->ndeps++] = found;
            continue;
        }
        struct rune_stepdef *other = rune_runbook_step(c->rb, want);
        if (other) {
            rune_diag_add(c->d, item->mark,
                          "step \"%s\" needs \"%s\", which is in the %s stage; needs names "
                          "steps of the same stage (%s) — stages already run in order",
                          st->id ? st->id : "?", want, rune_stage_names[other->stage],
                          rune_stage_names[st->stage]);
            continue;
        }
        char hint[128];
        rune_suggest_hint(want, c->ids, c->nids, hint, sizeof hint);
        rune_diag_add(c->d, item->mark, "step \"%s\" needs \"%s\", but there is no such step%s",
                      st->id ? st->id : "?", want, hint);
    }
}

/* ---- references inside ${...} ---- */

struct refctx {
    struct checker *c;
    const struct rune_stepdef *from; /* NULL outside steps */
    bool before_steps;               /* resolved before any step runs (targets) */
    enum rune_stage_id stage;
    const struct rune_node *node;
};

static void on_ref(void *ud, const char *root, const char *name, size_t len)
{
    struct refctx *r = ud;
    struct rune_runbook *rb = r->c->rb;
    char id[128];
    snprintf(id, sizeof id, "%.*s", (int)len, name);
    if (!strcmp(root, "run")) {
        /* what the engine gives every run (fill_ctx in run.c) */
        static const char *const known[] = {"workdir"};
        size_t n = sizeof known / sizeof known[0];
        for (size_t i = 0; i < n; i++)
            if (!strcmp(known[i], id))
                return;
        char hint[128];
        rune_suggest_hint(id, known, n, hint, sizeof hint);
        rune_diag_add(r->c->d, r->node->mark,
                      "run.%s is not known%s; run.* has workdir (the run's private work "
                      "directory)",
                      id, hint);
    } else if (!strcmp(root, "inputs")) {
        for (size_t i = 0; i < rb->ninputs; i++)
            if (!strcmp(rb->inputs[i].name, id))
                return;
        const char **names = calloc(rb->ninputs + 1, sizeof *names);
        for (size_t i = 0; i < rb->ninputs; i++)
            names[i] = rb->inputs[i].name;
        char hint[128];
        rune_suggest_hint(id, names, rb->ninputs, hint, sizeof hint);
        free(names);
        rune_diag_add(r->c->d, r->node->mark,
                      "inputs.%s is not declared%s; declare it under `inputs:`", id, hint);
    } else if (!strcmp(root, "secrets")) {
        for (size_t i = 0; i < rb->nsecrets; i++)
            if (!strcmp(rb->secrets[i].name, id))
                return;
        rune_diag_add(r->c->d, r->node->mark,
                      "secrets.%s is not declared; declare it under `secrets:`", id);
    } else if (r->before_steps) {
        rune_diag_add(r->c->d, r->node->mark,
                      "steps.%s: targets are resolved before any step runs, so they can use "
                      "inputs and secrets only",
                      id);
    } else {
        const struct rune_stepdef *s = rune_runbook_step(rb, id);
        if (!s) {
            char hint[128];
            rune_suggest_hint(id, r->c->ids, r->c->nids, hint, sizeof hint);
            rune_diag_add(r->c->d, r->node->mark, "steps.%s: there is no step \"%s\"%s", id, id,
                          hint);
            return;
        }
        if (s->stage > r->stage && r->stage != RUNE_ROLLBACK) {
            rune_diag_add(r->c->d, r->node->mark,
                          "steps.%s is in the %s stage, which runs after this one (%s)", id,
                          rune_stage_names[s->stage], rune_stage_names[r->stage]);
        } else if (r->from && s->stage == r->from->stage && s != r->from &&
                   !rune_graph_precedes(&rb->stages[s->stage], s->index, r->from->index)) {
            rune_diag_add(r->c->d, r->node->mark,
                          "step \"%s\" reads steps.%s but does not wait for it; add \"%s\" to "
                          "its needs",
                          r->from->id, id, id);
        }
    }
}

/* Compiles Lua written at m; reports a syntax error at its line. */
static void compile(struct refctx *r, const char *code, bool expression, struct rune_mark m)
{
    char err[512];
    int line = m.line;
    if (rune_lua_check(code, expression, m, &line, err, sizeof err) != 0) {
        /* "near <eof>" is reported a line past the code: keep it inside */
        int last = m.line;
        for (const char *p = code; *p; p++)
            last += *p == '\n' && p[1];
        if (line > last)
            line = last;
        struct rune_mark at = m;
        if (line != m.line) {
            at.line = line;
            at.col = 1;
        }
        rune_diag_add(r->c->d, at, "Lua syntax error: %s", err);
    }
}

struct scan {
    struct refctx *r;
    const struct rune_node *node;
};

static void on_expr(void *ud, const char *expr, size_t len, size_t offset)
{
    struct scan *sc = ud;
    rune_interp_refs(expr, len, on_ref, sc->r);
    char *code = strndup(expr, len);
    if (!code)
        abort();
    compile(sc->r, code, true, rune_interp_mark(sc->node, sc->node->str, offset));
    free(code);
}

/* Every string in a value: its ${...} found, compiled, references checked. */
static void check_refs(struct refctx *r, const struct rune_node *n)
{
    if (!n)
        return;
    if (n->kind == RUNE_NODE_SCALAR) {
        char err[256];
        struct scan sc = {r, n};
        r->node = n;
        if (rune_interp_scan(n->str, on_expr, &sc, err, sizeof err) != 0)
            rune_diag_add(r->c->d, n->mark, "%s", err);
        return;
    }
    for (size_t i = 0; i < n->n; i++)
        check_refs(r, n->items[i]);
}

/* A bare Lua expression (when:, incident_if:, severity:) or chunk (lua:). */
static void check_code(struct refctx *r, const struct rune_node *n, bool expression)
{
    r->node = n;
    rune_interp_refs(n->str, strlen(n->str), on_ref, r);
    struct rune_mark m = n->mark;
    if (n->block) {
        m.line++;
        m.col = 1;
    }
    compile(r, n->str, expression, m);
}

/* Conditions: true, false, a "${...}" string, or a bare Lua expression. */
static void check_condition(struct refctx *r, const struct rune_node *n, const char *what)
{
    if (!n || rune_node_is_bool(n, NULL))
        return;
    if (!rune_node_is_string(n)) {
        rune_diag_add(r->c->d, n->mark, "%s must be true, false or a Lua expression, found %s",
                      what, rune_node_describe(n));
        return;
    }
    static const char *const yaml11[] = {"yes", "no",  "on", "off", "y",   "n",  "Yes",
                                         "No",  "YES", "NO", "On",  "Off", "ON", "OFF"};
    for (size_t i = 0; i < sizeof yaml11 / sizeof yaml11[0]; i++)
        if (!strcmp(n->str, yaml11[i])) {
            rune_diag_add(r->c->d, n->mark,
                          "%s: \"%s\" is not a boolean here (YAML 1.2); write true or false", what,
                          n->str);
            return;
        }
    if (rune_interp_has(n->str))
        check_refs(r, n);
    else
        check_code(r, n, true);
}

static bool is_word(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* severity: P0-P3, or a Lua expression that gives one. A lone word like
 * "critical" would be a nil global: almost surely a mistake. */
static void check_severity(struct refctx *r, const struct rune_node *sv)
{
    static const char *const levels[] = {"P0", "P1", "P2", "P3"};
    if (sv->kind == RUNE_NODE_SCALAR)
        for (int i = 0; i < 4; i++)
            if (!strcmp(sv->str, levels[i]))
                return;
    if (!rune_node_is_string(sv) || is_word(sv->str)) {
        rune_diag_add(r->c->d, sv->mark,
                      "severity must be P0, P1, P2 or P3 (or a Lua expression that gives one), "
                      "found %s%s%s",
                      sv->kind == RUNE_NODE_SCALAR ? "\"" : "",
                      sv->kind == RUNE_NODE_SCALAR ? sv->str : rune_node_describe(sv),
                      sv->kind == RUNE_NODE_SCALAR ? "\"" : "");
        return;
    }
    if (rune_interp_has(sv->str))
        check_refs(r, sv);
    else
        check_code(r, sv, true);
}

static void check_inputs(struct checker *c)
{
    struct rune_runbook *rb = c->rb;
    for (size_t i = 0; i < rb->ninputs; i++) {
        struct rune_inputdef *in = &rb->inputs[i];
        if (in->def) {
            json_t *v = rune_node_json(in->def);
            char why[256];
            json_t *ok = rune_param_coerce(in->type, v, why, sizeof why);
            if (!ok)
                rune_diag_add(c->d, in->def->mark, "default of input \"%s\": %s", in->name, why);
            json_decref(ok);
            json_decref(v);
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(rb->inputs[j].name, in->name))
                rune_diag_add(c->d, in->mark, "input \"%s\" is declared twice", in->name);
    }
}

void rune_runbook_validate(struct rune_runbook *rb, struct rune_diags *d)
{
    struct checker c = {rb, d, NULL, 0};
    size_t total = 0;
    for (int s = 0; s < RUNE_NSTAGES; s++)
        total += rb->stages[s].n;
    c.ids = calloc(total ? total : 1, sizeof *c.ids);
    if (!c.ids)
        abort();

    /* unique ids across the runbook: steps.<id> is one namespace */
    for (int s = 0; s < RUNE_NSTAGES; s++) {
        for (size_t i = 0; i < rb->stages[s].n; i++) {
            struct rune_stepdef *st = &rb->stages[s].steps[i];
            if (!st->id)
                continue;
            for (size_t k = 0; k < c.nids; k++) {
                if (!strcmp(c.ids[k], st->id)) {
                    struct rune_stepdef *first = rune_runbook_step(rb, st->id);
                    char where[256];
                    rune_diag_add(d, st->id_mark,
                                  "duplicate step id \"%s\" (first used at %s); step ids must "
                                  "be unique in the runbook",
                                  st->id, rune_mark_str(first->id_mark, where, sizeof where));
                    break; /* once per step, not once per earlier namesake */
                }
            }
            c.ids[c.nids++] = st->id;
        }
    }
    check_inputs(&c);
    check_targets(&c);
    for (int s = 0; s < RUNE_NSTAGES; s++) {
        struct rune_stagedef *sd = &rb->stages[s];
        for (size_t i = 0; i < sd->n; i++) {
            check_type(&c, &sd->steps[i]);
            check_params(&c, &sd->steps[i]);
            check_needs(&c, sd, &sd->steps[i]);
        }
        rune_graph_check_cycles(sd, d);
    }
    /* references and Lua: after all graphs exist (precedence needs deps) */
    for (int s = 0; s < RUNE_NSTAGES; s++) {
        struct rune_stagedef *sd = &rb->stages[s];
        struct refctx r = {&c, NULL, false, (enum rune_stage_id)s, NULL};
        check_condition(&r, sd->incident_if, "incident_if");
        if (sd->severity)
            check_severity(&r, sd->severity);
        for (size_t i = 0; i < sd->n; i++) {
            struct rune_stepdef *st = &sd->steps[i];
            r.from = st;
            check_refs(&r, st->with);
            check_refs(&r, st->confirm);
            check_condition(&r, st->when, "when");
            if (st->lua)
                check_code(&r, st->lua, false);
        }
    }
    if (rb->lock) {
        struct refctx r = {&c, NULL, true, RUNE_DETECTION, NULL};
        check_refs(&r, rb->lock);
    }
    for (size_t i = 0; i < rb->ntargets; i++) {
        struct refctx r = {&c, NULL, true, RUNE_DETECTION, NULL};
        check_refs(&r, rb->targets[i].node);
    }
    free(c.ids);
}
