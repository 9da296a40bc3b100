/*
 * lint.c — warnings about a runbook that validates: the dangerous mistakes
 * a team makes writing its own runbooks, found before anything runs.
 *
 * - write-without-rollback: a step whose type writes, in impact, mitigation
 *   or verification, that nothing undoes (no rollback stage, or a policy
 *   that does not lead to it) and that nobody approves (no confirm:).
 * - write-in-detection: detection decides whether there is an incident; a
 *   step there whose type writes changes the world before anyone decided.
 * - rollback-reads-unrun: the rollback stage runs after any failure, so
 *   a step of mitigation or verification (or one with a when:) may never
 *   have run; reading its outputs without a when: (or a Lua nil check)
 *   fails the rollback itself — exit 4 when it matters most.
 * - unknown-output: `steps.X.outputs.KEY` where X's type declares no
 *   output KEY, found statically instead of after the step ran.
 *
 * A warning never stops a run; `rune validate --strict` makes them fail.
 * This file must not report what validation already refuses (errors), and
 * must stay quiet on the bundled runbooks (tests/cli/test_lint.sh).
 */
#include "lint.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "lua.h"
#include "suggest.h"

const struct rune_lint_rule rune_lint_rules[] = {
    {"write-without-rollback",
     "a step whose type writes, with no rollback stage to undo it and no confirm: to ask first"},
    {"write-in-detection", "a step whose type writes, in the detection stage (which must change "
                           "nothing)"},
    {"rollback-reads-unrun", "a rollback step reads the outputs of a step that may not have run, "
                             "with no when: handling it"},
    {"unknown-output", "a reference to an output its step type does not declare"},
    {NULL, NULL},
};

struct linter {
    const struct rune_runbook *rb;
    struct rune_lints *out;
    /* where each line of the file's text starts, made on the first
     * warning: looking a line up by walking the text from its top, for
     * each warning, made 1,000 warnings cost 1,000 walks of the file */
    const char **lines;
    int nlines;
};

static void index_lines(struct linter *L)
{
    const char *text = L->rb->text;
    size_t n = 1;
    for (const char *p = text; (p = strchr(p, '\n')); p++)
        n++;
    L->lines = malloc(n * sizeof *L->lines);
    if (!L->lines)
        abort();
    L->lines[0] = text;
    L->nlines = 1;
    for (const char *p = text; (p = strchr(p, '\n')); p++)
        L->lines[L->nlines++] = p + 1;
}

/* The start of line `line` (1-based) of the runbook's text, or NULL past
 * its end. */
static const char *line_at(struct linter *L, int line)
{
    if (!L->lines)
        index_lines(L);
    if (line < 1 || line > L->nlines)
        return NULL;
    const char *p = L->lines[line - 1];
    return *p ? p : NULL;
}

/* Whether the comment on [p, end) says `rune: allow RULE` for this rule. */
static bool comment_allows(const char *p, const char *end, const char *rule)
{
    const char *hash = memchr(p, '#', (size_t)(end - p));
    if (!hash)
        return false;
    static const char allow[] = "rune: allow";
    for (const char *q = hash; q + sizeof allow - 1 <= end; q++) {
        if (strncmp(q, allow, sizeof allow - 1))
            continue;
        size_t rl = strlen(rule);
        for (q += sizeof allow - 1; q + rl <= end; q++) {
            if (!strncmp(q, rule, rl) &&
                (q + rl == end || !(isalnum((unsigned char)q[rl]) || q[rl] == '-')))
                return true;
            if (!(*q == ' ' || *q == ',' || isalnum((unsigned char)*q) || *q == '-'))
                return false; /* the reason starts: no more rule names */
        }
        return false;
    }
    return false;
}

/*
 * A step's author may say a warning is meant, with the reason, in a
 * comment on the step's first line or in the comment lines just above it:
 *
 *     # rune: allow write-in-detection — the drill breaks its own copy on purpose
 *     - id: disaster
 *
 * YAML comments are not in the parsed tree, so the file's text is read.
 */
static bool allowed(struct linter *L, const struct rune_stepdef *st, const char *rule)
{
    if (!st || !st->node || !L->rb->text)
        return false;
    int first = st->node->mark.line;
    const char *p = line_at(L, first);
    if (p) {
        const char *end = strchr(p, '\n');
        if (comment_allows(p, end ? end : p + strlen(p), rule))
            return true;
    }
    for (int l = first - 1; l >= 1; l--) {
        const char *q = line_at(L, l), *end = q ? strchr(q, '\n') : NULL;
        if (!q || !end)
            return false;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (q == end || *q != '#')
            return false; /* the comment block above the step ends here */
        if (comment_allows(q, end, rule))
            return true;
    }
    return false;
}

static void add(struct linter *L, const struct rune_stepdef *st, const char *rule,
                struct rune_mark m, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add(struct linter *L, const struct rune_stepdef *st, const char *rule,
                struct rune_mark m, const char *fmt, ...)
{
    if (allowed(L, st, rule))
        return;
    struct rune_lints *l = L->out;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v)
            abort();
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    struct rune_lint *w = &l->v[l->n++];
    w->file = strdup(m.file ? m.file : "?");
    w->line = m.line;
    w->col = m.col;
    w->rule = rule;
    w->msg = strdup(buf);
    if (!w->file || !w->msg)
        abort();
}

static const struct rune_stepdef *find_step(const struct rune_runbook *rb, const char *id,
                                            size_t len)
{
    for (int s = 0; s < RUNE_NSTAGES; s++)
        for (size_t i = 0; i < rb->stages[s].n; i++) {
            const struct rune_stepdef *st = &rb->stages[s].steps[i];
            if (st->id && strlen(st->id) == len && !strncmp(st->id, id, len))
                return st;
        }
    return NULL;
}

/* ---- write-without-rollback, write-in-detection ---- */

static bool has_rollback(const struct rune_runbook *rb)
{
    return rb->stages[RUNE_ROLLBACK].present && rb->stages[RUNE_ROLLBACK].n > 0;
}

static void check_writes(struct linter *L, const struct rune_stepdef *st)
{
    if (!st->type || st->lua || st->type->effect != RUNE_WRITES)
        return;
    if (st->stage == RUNE_DETECTION) {
        add(L, st, "write-in-detection", st->node->mark,
            "step \"%s\" (%s) is in the detection stage, but %s changes things; detection only "
            "finds out whether there is an incident: move the step to mitigation, or use a type "
            "that only reads",
            st->id, st->type->name, st->type->name);
        return;
    }
    if (st->stage == RUNE_ROLLBACK || st->confirm)
        return;
    bool can_roll_back = (st->stage == RUNE_MITIGATION || st->stage == RUNE_VERIFICATION) &&
                         st->on_failure == RUNE_POLICY_ROLLBACK;
    if (can_roll_back && has_rollback(L->rb))
        return;
    const char *why = !has_rollback(L->rb) ? "the runbook has no rollback stage"
                      : st->stage == RUNE_IMPACT
                          ? "a failure in impact never runs the rollback stage"
                          : "its on_failure does not lead to the rollback stage";
    add(L, st, "write-without-rollback", st->node->mark,
        "step \"%s\" (%s) changes things, %s and it has no confirm:; add rollback steps that undo "
        "it, or confirm: \"...\" so an operator approves it first",
        st->id, st->type->name, why);
}

/* ---- references to outputs: steps.ID.outputs.KEY ---- */

struct outref {
    const char *id;
    size_t idlen;
    const char *key; /* NULL: the whole outputs table */
    size_t keylen;
    size_t off; /* of "steps" in the scanned string */
};

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static size_t ident_len(const char *s)
{
    size_t n = 0;
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    while (ident_char(s[n]))
        n++;
    return n;
}

/* Calls fn for each steps.ID.outputs[.KEY | ["KEY"]] in text[0..len). */
static void scan_outrefs(const char *text, size_t len, size_t base,
                         void (*fn)(void *ud, const struct outref *r), void *ud)
{
    static const char outputs[] = ".outputs";
    for (size_t i = 0; i + 6 < len; i++) {
        if (strncmp(text + i, "steps.", 6) ||
            (i && (ident_char(text[i - 1]) || text[i - 1] == '.')))
            continue;
        struct outref r = {text + i + 6, ident_len(text + i + 6), NULL, 0, base + i};
        size_t at = i + 6 + r.idlen;
        if (!r.idlen || at + sizeof outputs - 1 > len ||
            strncmp(text + at, outputs, sizeof outputs - 1) || ident_char(text[at + 8]))
            continue;
        at += sizeof outputs - 1;
        if (at < len && text[at] == '.') {
            r.key = text + at + 1;
            r.keylen = ident_len(r.key);
        } else if (at + 1 < len && text[at] == '[' &&
                   (text[at + 1] == '"' || text[at + 1] == '\'')) {
            r.key = text + at + 2;
            r.keylen = ident_len(r.key);
        }
        if (r.key && !r.keylen)
            r.key = NULL;
        fn(ud, &r);
    }
}

/* What a reference is read in: the step, the node (for its place), the
 * expression around it (to see whether it handles nil). */
struct site {
    struct linter *L;
    const struct rune_stepdef *st; /* NULL: a stage's incident_if or severity */
    const struct rune_node *node;
    const char *expr;
    size_t exprlen;
    bool warned_unrun; /* one rollback-reads-unrun per node */
};

static void check_key(struct site *s, const struct rune_stepdef *x, const struct outref *r)
{
    const struct rune_step_type *t = x->type;
    if (!r->key || !t || x->lua)
        return; /* inline Lua returns what it likes */
    const char *names[64];
    size_t n = 0;
    for (const struct rune_output *o = t->outputs; o && o->name; o++) {
        if (strlen(o->name) == r->keylen && !strncmp(o->name, r->key, r->keylen))
            return;
        if (n < 64)
            names[n++] = o->name;
    }
    char key[128], hint[160], list[512] = "";
    snprintf(key, sizeof key, "%.*s", (int)r->keylen, r->key);
    rune_suggest_hint(key, names, n, hint, sizeof hint);
    for (size_t i = 0; i < n && strlen(list) + strlen(names[i]) + 3 < sizeof list; i++) {
        strcat(list, i ? ", " : "");
        strcat(list, names[i]);
    }
    size_t keyoff = (size_t)(r->key - s->node->str);
    add(s->L, s->st, "unknown-output", rune_interp_mark(s->node, s->node->str, keyoff),
        "steps.%s.outputs.%s: %s has no output \"%s\"%s; %s%s", x->id, key, t->name, key, hint,
        n ? "its outputs are: " : "it declares no outputs", list);
}

/* A word of Lua that deals with a missing value: `x or default`, `x and
 * ...`, `if x ~= nil`. */
static bool handles_nil(const char *s, size_t len)
{
    static const char *const words[] = {"or", "and", "nil", "if", "not", "pcall", "type"};
    for (size_t i = 0; i < len; i++) {
        if (i && ident_char(s[i - 1]))
            continue;
        for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
            size_t wl = strlen(words[w]);
            if (i + wl <= len && !strncmp(s + i, words[w], wl) &&
                (i + wl == len || !ident_char(s[i + wl])))
                return true;
        }
    }
    return false;
}

/* Whether the step's when: mentions steps.ID at all (its status, failed,
 * outputs): the author thought about that step not having run. */
static bool when_mentions(const struct rune_stepdef *st, const char *id, size_t idlen)
{
    if (!st->when || st->when->kind != RUNE_NODE_SCALAR)
        return false;
    for (const char *p = st->when->str; (p = strstr(p, "steps.")); p++)
        if (!strncmp(p + 6, id, idlen) && !ident_char(p[6 + idlen]))
            return true;
    return false;
}

static void check_unrun(struct site *s, const struct rune_stepdef *x, const struct outref *r)
{
    const struct rune_stepdef *st = s->st;
    if (!st || st->stage != RUNE_ROLLBACK || !r->key || s->warned_unrun)
        return;
    bool may_not_run = x->stage == RUNE_MITIGATION || x->stage == RUNE_VERIFICATION || x->when;
    if (!may_not_run || when_mentions(st, r->id, r->idlen) || handles_nil(s->expr, s->exprlen))
        return;
    s->warned_unrun = true;
    add(s->L, st, "rollback-reads-unrun", rune_interp_mark(s->node, s->node->str, r->off),
        "rollback step \"%s\" reads steps.%s.outputs.%.*s, but the rollback stage also runs when "
        "%s never ran (an earlier failure, a declined approval, Ctrl-C)%s; add when: "
        "steps.%s.outputs.%.*s ~= nil (or test steps.%s.status)",
        st->id, x->id, (int)r->keylen, r->key, x->id, x->when ? " or was skipped by its when:" : "",
        x->id, (int)r->keylen, r->key, x->id);
}

static void on_outref(void *ud, const struct outref *r)
{
    struct site *s = ud;
    const struct rune_stepdef *x = find_step(s->L->rb, r->id, r->idlen);
    if (!x)
        return; /* validation reported it */
    check_key(s, x, r);
    check_unrun(s, x, r);
}

static void on_expr(void *ud, const char *expr, size_t len, size_t offset)
{
    struct site *s = ud;
    s->expr = expr;
    s->exprlen = len;
    scan_outrefs(expr, len, offset, on_outref, s);
}

/* Every string in a value: its ${...} expressions; `code` when the whole
 * string is Lua (a bare when:, incident_if:, severity:, a lua: chunk). */
static void scan_node(struct linter *L, const struct rune_stepdef *st, const struct rune_node *n,
                      bool code)
{
    if (!n)
        return;
    if (n->kind != RUNE_NODE_SCALAR) {
        for (size_t i = 0; i < n->n; i++)
            scan_node(L, st, n->items[i], false);
        return;
    }
    struct site s = {L, st, n, n->str, strlen(n->str), false};
    if (code && !rune_interp_has(n->str)) {
        scan_outrefs(n->str, strlen(n->str), 0, on_outref, &s);
        return;
    }
    char err[256];
    rune_interp_scan(n->str, on_expr, &s, err, sizeof err);
}

/* print: names outputs of the step's own type. */
static void check_print(struct linter *L, const struct rune_stepdef *st)
{
    const struct rune_node *p = st->print;
    size_t n = p ? (p->kind == RUNE_NODE_SEQ ? p->n : 1) : 0;
    for (size_t i = 0; i < n; i++) {
        const struct rune_node *k = p->kind == RUNE_NODE_SEQ ? p->items[i] : p;
        struct site s = {L, st, k, k->str, strlen(k->str), false};
        struct outref r = {st->id, strlen(st->id), k->str, strlen(k->str), 0};
        check_key(&s, st, &r);
    }
}

static int by_place(const void *a, const void *b)
{
    const struct rune_lint *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return strcmp(x->rule, y->rule);
}

void rune_runbook_lint(const struct rune_runbook *rb, struct rune_lints *out)
{
    struct linter L = {rb, out, NULL, 0};
    size_t first = out->n;
    for (int s = 0; s < RUNE_NSTAGES; s++) {
        const struct rune_stagedef *sd = &rb->stages[s];
        if (sd->incident_if && sd->incident_if->kind == RUNE_NODE_SCALAR &&
            !rune_node_is_bool(sd->incident_if, NULL))
            scan_node(&L, NULL, sd->incident_if, true);
        if (sd->severity)
            scan_node(&L, NULL, sd->severity, true);
        for (size_t i = 0; i < sd->n; i++) {
            const struct rune_stepdef *st = &sd->steps[i];
            check_writes(&L, st);
            scan_node(&L, st, st->with, false);
            scan_node(&L, st, st->confirm, false);
            if (st->when && st->when->kind == RUNE_NODE_SCALAR &&
                !rune_node_is_bool(st->when, NULL))
                scan_node(&L, st, st->when, true);
            if (st->lua)
                scan_node(&L, st, st->lua, true);
            check_print(&L, st);
        }
    }
    if (out->n > first)
        qsort(out->v + first, out->n - first, sizeof *out->v, by_place);
    free(L.lines);
}

void rune_lints_free(struct rune_lints *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].file);
        free(l->v[i].msg);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}
