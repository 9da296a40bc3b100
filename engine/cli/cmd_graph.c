/*
 * cmd_graph.c — `rune graph RUNBOOK`: a runbook as a picture, written as
 * Graphviz dot or Mermaid text for a person (or `dot -Tsvg`) to render.
 *
 * The picture is built once from the validated model (struct picture:
 * vertices, edges, the stages they sit in) and then written in either
 * syntax, so both formats always show the same thing: the stages as
 * clusters; one vertex per step with its type, its effect (pure, reads,
 * writes), its `when:`, `confirm:` and the timeout, retry and on_failure it
 * sets itself; the resolved `needs`; the order of the stages with the
 * `incident_if` decision; and the way to the rollback stage from every step
 * whose failure, or declined approval, runs it.
 *
 * Nothing is run or recorded. With --set, `when:` conditions that depend
 * only on inputs are decided (sandboxed Lua over the inputs, as a run
 * would); everything else stays a condition. The output depends only on the
 * runbook and the flags — no paths, times or addresses — so the same input
 * gives the same bytes. Labels are UTF-8, like the runbooks they quote.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "exitcode.h"
#include "inputs.h"
#include "interp.h"
#include "lua.h"
#include "model.h"
#include "redact.h"
#include "search.h"

#define COND_MAX 40 /* characters of a `when:` (or a timeout, a retry key) kept in a label */
#define EXPR_MAX 48 /* of an `incident_if:` or a `severity:` */
#define TITLE_MAX 100
#define EXPR_MS 10000 /* an expression outside a step gets 10 s in a run too */

enum format { DOT, MERMAID };

enum vkind {
    V_STEP,
    V_DECISION, /* incident_if */
    V_END,      /* where a run stops: no incident, or failed without a rollback stage */
    V_EMPTY,    /* stands in for a stage that has no steps */
};

/* A `when:` as the picture shows it. */
enum cond {
    C_NONE,
    C_OPEN,  /* decided when the step is ready: dashed border */
    C_TRUE,  /* decided now (literal, or --set): the step runs */
    C_FALSE, /* decided now: the step is skipped */
};

struct vertex {
    enum vkind kind;
    const char *key; /* step id, stage name (V_EMPTY), or "incident_if", "no_incident", "failed" */
    int stage;       /* the cluster it sits in; -1 for none */
    char *label;     /* lines separated by '\n', each already shortened */
    enum rune_effect effect;
    enum cond cond;
};

enum ekind {
    E_NEEDS,    /* inside a stage */
    E_STAGE,    /* one stage, as a whole, before the next */
    E_YES,      /* incident_if true */
    E_NO,       /* incident_if false */
    E_ROLLBACK, /* a failure under on_failure: rollback */
    E_DECLINED, /* a declined confirm: in mitigation or verification */
};

/* An edge between vertices. from_stage/to_stage >= 0 when that end stands
 * for its whole cluster (dot: ltail/lhead; mermaid: the subgraph itself). */
struct edge {
    enum ekind kind;
    size_t from, to;
    int from_stage, to_stage;
};

struct picture {
    const struct rune_runbook *rb;
    struct vertex *v;
    size_t nv;
    struct edge *e;
    size_t ne;
    size_t base[RUNE_NSTAGES];  /* vertex of each stage's first step (or its V_EMPTY) */
    size_t first[RUNE_NSTAGES]; /* where an edge into the stage lands: its first root */
    size_t last[RUNE_NSTAGES];  /* where an edge out of it leaves: its last sink */
    char *stage_label[RUNE_NSTAGES];
};

/* ---- building the picture ---- */

static void *grow(void *p, size_t n, size_t size)
{
    p = realloc(p, (n + 1) * size);
    if (!p)
        abort();
    return p;
}

static size_t add_vertex(struct picture *pic, enum vkind kind, const char *key, int stage,
                         char *label)
{
    pic->v = grow(pic->v, pic->nv, sizeof *pic->v);
    pic->v[pic->nv] = (struct vertex){kind, key, stage, label, RUNE_PURE, C_NONE};
    return pic->nv++;
}

static void add_edge(struct picture *pic, enum ekind kind, size_t from, int from_stage, size_t to,
                     int to_stage)
{
    pic->e = grow(pic->e, pic->ne, sizeof *pic->e);
    pic->e[pic->ne++] = (struct edge){kind, from, to, from_stage, to_stage};
}

/* Writes s for a label: runs of whitespace and control characters become
 * one space, the ends are trimmed, and after max characters (not bytes:
 * a UTF-8 sequence is never cut) the rest becomes "…". */
static void put_short(FILE *f, const char *s, size_t max)
{
    size_t chars = 0;
    bool space = false, started = false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            space = started;
            continue;
        }
        if ((*p & 0xC0) != 0x80) {
            if (chars + space >= max) {
                fputs("…", f);
                return;
            }
            if (space)
                fputc(' ', f);
            chars += space + 1;
            space = false;
        }
        fputc(*p, f);
        started = true;
    }
}

/* Closes an open_memstream stream; its buffer is complete only then. */
static char *memstream_close(FILE *f, char **buf)
{
    if (fclose(f) != 0)
        abort();
    return *buf;
}

/* The text of a condition node (a scalar: validation refused the rest). */
static const char *node_text(const struct rune_node *n)
{
    return n && n->kind == RUNE_NODE_SCALAR && n->str ? n->str : "…";
}

/* With --set: decides a `when:` from the inputs alone, the way a run
 * evaluates it (rune_run_eval_node in run.c): a boolean literal; a string
 * without `${` is one Lua expression; otherwise `${...}` interpolation.
 * Lua sees only `inputs`, so anything that reads steps, secrets, targets or
 * the incident fails to evaluate here and stays a condition. */
static json_t *eval_inputs(void *ud, const char *expr, struct rune_mark where, char *err,
                           size_t errlen)
{
    struct rune_lua *L = ud;
    rune_lua_set_deadline(L, rune_clock_mono_ms() + EXPR_MS, NULL, NULL);
    return rune_lua_eval(L, expr, where, err, errlen);
}

static enum cond decide(const struct rune_node *n, struct rune_lua *L)
{
    bool b;
    if (rune_node_is_bool(n, &b))
        return b ? C_TRUE : C_FALSE;
    if (!L || n->kind != RUNE_NODE_SCALAR)
        return C_OPEN;
    char err[1024];
    json_t *v;
    if (rune_node_is_string(n) && !rune_interp_has(n->str)) {
        v = eval_inputs(L, n->str, n->mark, err, sizeof err);
    } else {
        struct rune_eval ev = {eval_inputs, L};
        struct rune_mark where = n->mark;
        v = rune_interp_node(n, &ev, &where, err, sizeof err);
    }
    enum cond c = json_is_boolean(v) ? (json_is_true(v) ? C_TRUE : C_FALSE) : C_OPEN;
    json_decref(v);
    return c;
}

/* "retry 3× (delay 200ms, backoff 1.5, max_delay 5s)": the attempts, and
 * the other keys the step's `retry:` gives, as written. */
static void put_retry(FILE *f, const struct rune_stepdef *st, const struct rune_node *r)
{
    static const char *const keys[] = {"delay", "backoff", "max_delay"};
    fprintf(f, "\nretry %d×", st->retry.attempts);
    bool open = false;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const struct rune_node *v = rune_node_get(r, keys[i]);
        if (!v)
            continue;
        fprintf(f, "%s%s ", open ? ", " : " (", keys[i]);
        put_short(f, node_text(v), COND_MAX);
        open = true;
    }
    if (open)
        fputc(')', f);
}

/* A step that stops for approval: its own `confirm:`, or a type that asks. */
static bool asks(const struct rune_stepdef *st)
{
    return st->confirm || (st->type && st->type->asks);
}

/* A step's label: id, (type), then one line per thing that is not plain:
 * its condition, its approval, and the timeout, retry and on_failure the
 * step sets itself, as written (stage defaults and defaults.timeout are
 * not repeated on every step). */
static char *step_label(const struct rune_stepdef *st, enum cond c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    fprintf(f, "%s\n(%s)", st->id, st->uses);
    if (st->when) {
        fputs("\nwhen: ", f);
        put_short(f, node_text(st->when), COND_MAX);
        bool literal = rune_node_is_bool(st->when, &(bool){false});
        if (!literal && c == C_TRUE)
            fputs("\n→ true: runs", f);
        else if (!literal && c == C_FALSE)
            fputs("\n→ false: skipped", f);
    }
    if (asks(st))
        fputs("\n⚠ approval", f);
    const struct rune_node *n;
    if ((n = rune_node_get(st->node, "timeout"))) {
        fputs("\ntimeout ", f);
        put_short(f, node_text(n), COND_MAX);
    }
    if ((n = rune_node_get(st->node, "retry")))
        put_retry(f, st, n);
    if (rune_node_get(st->node, "on_failure"))
        fprintf(f, "\non_failure: %s", rune_policy_names[st->on_failure]);
    return memstream_close(f, &buf);
}

/* prefix, then text shortened to max characters (none when text is NULL). */
static char *text_label(const char *prefix, const char *text, size_t max)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    fputs(prefix, f);
    if (text)
        put_short(f, text, max);
    return memstream_close(f, &buf);
}

/* One stage's cluster: its vertices, its `needs` edges, and the vertices
 * an edge into or out of the stage attaches to. */
static void add_stage(struct picture *pic, int s, struct rune_lua *L)
{
    const struct rune_stagedef *sd = &pic->rb->stages[s];
    char head[64];
    snprintf(head, sizeof head, "%s%s", rune_stage_names[s], sd->severity ? "\nseverity: " : "");
    pic->stage_label[s] = text_label(head, sd->severity ? node_text(sd->severity) : NULL, EXPR_MAX);
    if (!sd->n) {
        size_t v =
            add_vertex(pic, V_EMPTY, rune_stage_names[s], s, text_label("(no steps)", NULL, 0));
        pic->base[s] = pic->first[s] = pic->last[s] = v;
        return;
    }
    bool *needed = calloc(sd->n, sizeof *needed);
    if (!needed)
        abort();
    pic->base[s] = pic->nv;
    for (size_t i = 0; i < sd->n; i++) {
        const struct rune_stepdef *st = &sd->steps[i];
        enum cond c = st->when ? decide(st->when, L) : C_NONE;
        size_t v = add_vertex(pic, V_STEP, st->id, s, step_label(st, c));
        pic->v[v].effect = st->type ? st->type->effect : RUNE_WRITES;
        pic->v[v].cond = c;
        for (size_t k = 0; k < st->ndeps; k++)
            needed[st->deps[k]] = true;
    }
    pic->first[s] = pic->last[s] = pic->base[s];
    for (size_t i = sd->n; i-- > 0;)
        if (!sd->steps[i].ndeps)
            pic->first[s] = pic->base[s] + i;
    for (size_t i = 0; i < sd->n; i++) {
        if (!needed[i])
            pic->last[s] = pic->base[s] + i;
        for (size_t k = 0; k < sd->steps[i].ndeps; k++)
            add_edge(pic, E_NEEDS, pic->base[s] + sd->steps[i].deps[k], -1, pic->base[s] + i, -1);
    }
    free(needed);
}

/* detection → (incident_if) → impact → mitigation → verification, over
 * the stages present; a stage as a whole precedes the next one. */
static void add_flow(struct picture *pic)
{
    const struct rune_runbook *rb = pic->rb;
    const struct rune_node *cond = rb->stages[RUNE_DETECTION].incident_if;
    size_t decision = 0;
    int prev = -1;
    for (int s = RUNE_DETECTION; s < RUNE_ROLLBACK; s++) {
        if (!rb->stages[s].present)
            continue;
        if (prev == RUNE_DETECTION && cond)
            add_edge(pic, E_YES, decision, -1, pic->first[s], s);
        else if (prev >= 0)
            add_edge(pic, E_STAGE, pic->last[prev], prev, pic->first[s], s);
        if (s == RUNE_DETECTION && cond) {
            decision = add_vertex(pic, V_DECISION, "incident_if", -1,
                                  text_label("incident_if: ", node_text(cond), EXPR_MAX));
            add_edge(pic, E_STAGE, pic->last[s], s, decision, -1);
            bool b;
            if (!(rune_node_is_bool(cond, &b) && b)) {
                size_t end = add_vertex(pic, V_END, "no_incident", -1,
                                        text_label("no incident → end", NULL, 0));
                add_edge(pic, E_NO, decision, -1, end, -1);
            }
        }
        prev = s;
    }
}

/* The way to the rollback stage: from every step whose failure runs it
 * (on_failure: rollback, the default in mitigation and verification) and,
 * since a declined approval there runs it too, from every other step with
 * `confirm:`. A rollback stage without steps counts as none: a failure
 * under rollback then ends the run `failed`. A step decided to be skipped
 * cannot fail. */
static void add_rollback(struct picture *pic)
{
    const struct rune_stagedef *rbk = &pic->rb->stages[RUNE_ROLLBACK];
    bool have = rbk->present && rbk->n;
    size_t failed = 0;
    bool failed_added = false;
    for (int s = RUNE_MITIGATION; s <= RUNE_VERIFICATION; s++) {
        const struct rune_stagedef *sd = &pic->rb->stages[s];
        for (size_t i = 0; sd->present && i < sd->n; i++) {
            const struct rune_stepdef *st = &sd->steps[i];
            size_t v = pic->base[s] + i;
            if (pic->v[v].cond == C_FALSE)
                continue;
            bool fails = st->on_failure == RUNE_POLICY_ROLLBACK;
            if (have && (fails || asks(st))) {
                add_edge(pic, fails ? E_ROLLBACK : E_DECLINED, v, -1, pic->first[RUNE_ROLLBACK],
                         RUNE_ROLLBACK);
            } else if (fails) {
                if (!failed_added)
                    failed =
                        add_vertex(pic, V_END, "failed", -1,
                                   text_label("no rollback stage\n→ failed (exit 4)", NULL, 0));
                failed_added = true;
                add_edge(pic, E_ROLLBACK, v, -1, failed, -1);
            }
        }
    }
}

static void picture_build(struct picture *pic, const struct rune_runbook *rb, struct rune_lua *L)
{
    memset(pic, 0, sizeof *pic);
    pic->rb = rb;
    for (int s = 0; s < RUNE_NSTAGES; s++)
        if (rb->stages[s].present)
            add_stage(pic, s, L);
    add_flow(pic);
    add_rollback(pic);
}

static void picture_free(struct picture *pic)
{
    for (size_t i = 0; i < pic->nv; i++)
        free(pic->v[i].label);
    for (int s = 0; s < RUNE_NSTAGES; s++)
        free(pic->stage_label[s]);
    free(pic->v);
    free(pic->e);
}

static const char *const edge_labels[] = {
    [E_NEEDS] = NULL,
    [E_STAGE] = NULL,
    [E_YES] = "true",
    [E_NO] = "false",
    [E_ROLLBACK] = "on failure",
    [E_DECLINED] = "declined",
};

/* ---- Graphviz dot ---- */

/* Text inside a dot "string": \ and " escaped (so no \N, \G, \l escape
 * of Graphviz's is ever formed from runbook text), line breaks as \n. */
static void dot_chars(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\n') {
            fputs("\\n", f);
            continue;
        }
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
}

static void dot_str(FILE *f, const char *s)
{
    fputc('"', f);
    dot_chars(f, s);
    fputc('"', f);
}

/* Vertex names: a step is its id; the others start with "@", which no
 * step id can. */
static void dot_id(FILE *f, const struct vertex *v)
{
    if (v->kind == V_STEP) {
        dot_str(f, v->key);
        return;
    }
    char name[64];
    snprintf(name, sizeof name, "@%s%s", v->kind == V_EMPTY ? "empty_" : "", v->key);
    dot_str(f, name);
}

static void dot_vertex(FILE *f, const struct vertex *v, const char *indent)
{
    static const char *const fill[] = {"white", "#e8f1fb", "#fde8d7"};
    static const char *const line[] = {"#7f8c8d", "#2e6da4", "#c0541b"};
    fputs(indent, f);
    dot_id(f, v);
    fputs(" [label=", f);
    dot_str(f, v->label);
    switch (v->kind) {
    case V_STEP:
        if (v->cond == C_FALSE) {
            fputs(", style=\"rounded,dotted\", color=\"#999999\", fontcolor=\"#999999\"", f);
            break;
        }
        fprintf(f, ", style=\"rounded,filled%s\", fillcolor=\"%s\", color=\"%s\"",
                v->cond == C_OPEN ? ",dashed" : "", fill[v->effect], line[v->effect]);
        if (v->effect == RUNE_WRITES)
            fputs(", penwidth=2", f);
        break;
    case V_DECISION:
        fputs(", shape=diamond, style=filled, fillcolor=\"#fff6d5\", color=\"#b7950b\"", f);
        break;
    case V_END:
        fputs(!strcmp(v->key, "failed")
                  ? ", shape=octagon, style=filled, fillcolor=\"#fdecea\", color=\"#c0392b\""
                  : ", shape=oval, style=filled, fillcolor=\"#eeeeee\", color=\"#555555\"",
              f);
        break;
    case V_EMPTY:
        fputs(", shape=plaintext, fontcolor=\"#999999\"", f);
        break;
    }
    fputs("];\n", f);
}

static void dot_edge(FILE *f, const struct picture *pic, const struct edge *e, const char *indent)
{
    fputs(indent, f);
    dot_id(f, &pic->v[e->from]);
    fputs(" -> ", f);
    dot_id(f, &pic->v[e->to]);
    if (e->kind == E_NEEDS) {
        fputs(";\n", f);
        return;
    }
    fputs(" [", f);
    if (e->from_stage >= 0)
        fprintf(f, "ltail=cluster_%s, ", rune_stage_names[e->from_stage]);
    if (e->to_stage >= 0)
        fprintf(f, "lhead=cluster_%s, ", rune_stage_names[e->to_stage]);
    if (edge_labels[e->kind]) {
        fputs("label=", f);
        dot_str(f, edge_labels[e->kind]);
        fputs(", ", f);
    }
    if (e->kind == E_ROLLBACK || e->kind == E_DECLINED)
        fputs("style=dashed, color=\"#c0392b\", fontcolor=\"#c0392b\"];\n", f);
    else
        fputs("penwidth=2];\n", f);
}

static void write_dot(FILE *f, const struct picture *pic)
{
    const struct rune_runbook *rb = pic->rb;
    char *name = text_label("", rb->name, TITLE_MAX);
    char *title = text_label(rb->title ? "\n" : "", rb->title, TITLE_MAX);
    fputs("digraph ", f);
    dot_str(f, rb->name);
    fputs(" {\n    graph [compound=true, rankdir=TB, fontname=\"Helvetica\", fontsize=12, "
          "labelloc=t, label=",
          f);
    fputc('"', f);
    dot_chars(f, name);
    dot_chars(f, title);
    fputc('"', f);
    fputs("];\n    node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n"
          "    edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n",
          f);
    free(name);
    free(title);
    for (int s = 0; s < RUNE_NSTAGES; s++) {
        if (!rb->stages[s].present)
            continue;
        fprintf(f, "\n    subgraph cluster_%s {\n        label=", rune_stage_names[s]);
        dot_str(f, pic->stage_label[s]);
        fprintf(f, ";\n        style=rounded; color=\"%s\"; fontcolor=\"%s\";\n",
                s == RUNE_ROLLBACK ? "#c0392b" : "#9aa5b1",
                s == RUNE_ROLLBACK ? "#c0392b" : "#333333");
        for (size_t i = 0; i < pic->nv; i++)
            if (pic->v[i].stage == s)
                dot_vertex(f, &pic->v[i], "        ");
        for (size_t i = 0; i < pic->ne; i++)
            if (pic->e[i].kind == E_NEEDS && pic->v[pic->e[i].to].stage == s)
                dot_edge(f, pic, &pic->e[i], "        ");
        fputs("    }\n", f);
    }
    fputc('\n', f);
    for (size_t i = 0; i < pic->nv; i++)
        if (pic->v[i].stage < 0)
            dot_vertex(f, &pic->v[i], "    ");
    for (size_t i = 0; i < pic->ne; i++)
        if (pic->e[i].kind != E_NEEDS)
            dot_edge(f, pic, &pic->e[i], "    ");
    fputs("}\n", f);
}

/* ---- Mermaid ---- */

/* Inside a Mermaid "string": characters Mermaid would read as markup or
 * entities written as its #entity; codes, line breaks as <br/>. */
static void mm_str(FILE *f, const char *s)
{
    static const char *const entity[128] = {
        ['\n'] = "<br/>", ['"'] = "#quot;", ['#'] = "#35;", ['&'] = "#amp;",
        ['<'] = "#lt;",   ['>'] = "#gt;",   ['$'] = "#36;", ['`'] = "#96;",
    };
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 128 && entity[*p])
            fputs(entity[*p], f);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Node ids: a prefix per kind, so a step called `end` or `detection` is
 * neither a keyword nor a subgraph (those are st_<stage>), and no id starts
 * with the o or x that Mermaid reads as an arrow head after `--`. */
static void mm_id(FILE *f, const struct vertex *v)
{
    static const char *const prefix[] = {
        [V_STEP] = "s_", [V_DECISION] = "d_", [V_END] = "t_", [V_EMPTY] = "e_"};
    fprintf(f, "%s%s", prefix[v->kind], v->key);
}

static void mm_end(FILE *f, const struct picture *pic, size_t v, int stage)
{
    if (stage >= 0)
        fprintf(f, "st_%s", rune_stage_names[stage]);
    else
        mm_id(f, &pic->v[v]);
}

static void mm_vertex(FILE *f, const struct vertex *v, const char *indent)
{
    fputs(indent, f);
    mm_id(f, v);
    fputs(v->kind == V_DECISION ? "{" : v->kind == V_END ? "([" : "[", f);
    mm_str(f, v->label);
    fputs(v->kind == V_DECISION ? "}\n" : v->kind == V_END ? "])\n" : "]\n", f);
}

/* Writes the edge and returns its number: Mermaid styles links by the
 * order they were written in (linkStyle N). */
static size_t mm_edge(FILE *f, const struct picture *pic, const struct edge *e, const char *indent,
                      size_t *count)
{
    static const char *const arrow[] = {
        [E_NEEDS] = "-->", [E_STAGE] = "==>",     [E_YES] = "==>",
        [E_NO] = "-->",    [E_ROLLBACK] = "-.->", [E_DECLINED] = "-.->"};
    fputs(indent, f);
    mm_end(f, pic, e->from, e->from_stage);
    fprintf(f, " %s", arrow[e->kind]);
    if (edge_labels[e->kind]) {
        fputc('|', f);
        mm_str(f, edge_labels[e->kind]);
        fputc('|', f);
    }
    fputc(' ', f);
    mm_end(f, pic, e->to, e->to_stage);
    fputc('\n', f);
    return (*count)++;
}

static bool has_effect(const struct vertex *v, int effect)
{
    return v->kind == V_STEP && v->cond != C_FALSE && (int)v->effect == effect;
}

static bool has_cond(const struct vertex *v, int cond)
{
    return v->kind == V_STEP && (int)v->cond == cond;
}

static bool has_kind(const struct vertex *v, int kind)
{
    return (int)v->kind == kind;
}

/* Mermaid's version of the dot styles: a class per look, given to the
 * vertices that match. A later class wins where two set the same thing. */
static const struct mm_look {
    const char *name;
    const char *style;
    bool (*match)(const struct vertex *, int);
    int arg;
} mm_looks[] = {
    {"pure", "fill:#ffffff,stroke:#7f8c8d", has_effect, RUNE_PURE},
    {"reads", "fill:#e8f1fb,stroke:#2e6da4", has_effect, RUNE_READS},
    {"writes", "fill:#fde8d7,stroke:#c0541b,stroke-width:2px", has_effect, RUNE_WRITES},
    {"cond", "stroke-dasharray:6 3", has_cond, C_OPEN},
    {"skipped", "fill:#ffffff,stroke:#999999,color:#999999,stroke-dasharray:2 2", has_cond,
     C_FALSE},
    {"decision", "fill:#fff6d5,stroke:#b7950b", has_kind, V_DECISION},
    {"finish", "fill:#eeeeee,stroke:#555555", has_kind, V_END},
    {"empty", "fill:none,stroke:none,color:#999999", has_kind, V_EMPTY},
};

/* `classDef` and `class a,b NAME` for a look some vertex has. */
static void mm_class(FILE *f, const struct picture *pic, const struct mm_look *look)
{
    bool any = false;
    for (size_t i = 0; i < pic->nv; i++) {
        if (!look->match(&pic->v[i], look->arg))
            continue;
        if (!any)
            fprintf(f, "    classDef %s %s\n    class ", look->name, look->style);
        else
            fputc(',', f);
        mm_id(f, &pic->v[i]);
        any = true;
    }
    if (any)
        fprintf(f, " %s\n", look->name);
}

static void write_mermaid(FILE *f, const struct picture *pic)
{
    const struct rune_runbook *rb = pic->rb;
    size_t count = 0;
    fputs("flowchart TD\n", f);
    for (int s = 0; s < RUNE_NSTAGES; s++) {
        if (!rb->stages[s].present)
            continue;
        fprintf(f, "    subgraph st_%s[", rune_stage_names[s]);
        mm_str(f, pic->stage_label[s]);
        fputs("]\n", f);
        for (size_t i = 0; i < pic->nv; i++)
            if (pic->v[i].stage == s)
                mm_vertex(f, &pic->v[i], "        ");
        for (size_t i = 0; i < pic->ne; i++)
            if (pic->e[i].kind == E_NEEDS && pic->v[pic->e[i].to].stage == s)
                mm_edge(f, pic, &pic->e[i], "        ", &count);
        fputs("    end\n", f);
    }
    for (size_t i = 0; i < pic->nv; i++)
        if (pic->v[i].stage < 0)
            mm_vertex(f, &pic->v[i], "    ");
    char *red = NULL;
    size_t redlen = 0;
    FILE *rf = open_memstream(&red, &redlen);
    if (!rf)
        abort();
    for (size_t i = 0; i < pic->ne; i++) {
        if (pic->e[i].kind == E_NEEDS)
            continue;
        size_t n = mm_edge(f, pic, &pic->e[i], "    ", &count);
        if (pic->e[i].kind == E_ROLLBACK || pic->e[i].kind == E_DECLINED)
            fprintf(rf, "%s%zu", ftell(rf) ? "," : "", n);
    }
    memstream_close(rf, &red);
    for (size_t i = 0; i < sizeof mm_looks / sizeof mm_looks[0]; i++)
        mm_class(f, pic, &mm_looks[i]);
    if (*red)
        fprintf(f, "    linkStyle %s stroke:#c0392b,color:#c0392b\n", red);
    free(red);
}

/* ---- the command ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rune graph RUNBOOK [--format dot|mermaid] [-o FILE] [--set NAME=VALUE]...\n"
            "  RUNBOOK              a runbook file, or a name on the search path (`rune list`)\n"
            "  -f, --format FORMAT  dot (Graphviz, the default) or mermaid\n"
            "  -o, --output FILE    write there instead of standard output\n"
            "      --set NAME=VALUE give an input (repeatable): `when:` conditions that depend\n"
            "                       only on inputs are then decided, skipped steps greyed out\n"
            "  render: rune graph RUNBOOK | dot -Tsvg > RUNBOOK.svg\n");
}

/* With --set: the inputs resolved and checked as `rune run` does, and a
 * Lua state that sees them. Returns 0, or -1 after printing the problems. */
static int inputs_lua(const struct rune_runbook *rb, json_t *sets, struct rune_lua **L,
                      json_t **ctx)
{
    struct rune_redactor red;
    rune_redactor_init(&red);
    struct rune_diags d = RUNE_DIAGS_INIT;
    json_t *inputs = NULL, *shown = NULL;
    int rc = rune_inputs_resolve(rb, sets, &inputs, &shown, &red, &d);
    json_decref(shown);
    rune_redactor_free(&red);
    if (rc != 0) {
        rune_diags_print(&d, stderr);
        fprintf(stderr, "rune graph: %zu problem%s with the inputs; nothing drawn\n", d.n,
                d.n == 1 ? "" : "s");
        rune_diags_free(&d);
        json_decref(inputs);
        return -1;
    }
    rune_diags_free(&d);
    *ctx = json_pack("{s:o}", "inputs", inputs);
    *L = rune_lua_new();
    rune_lua_set_context(*L, *ctx);
    return 0;
}

/* The whole text is made first, so a failure never leaves half a file. */
static int emit(const char *text, size_t len, const char *out)
{
    if (!out || !strcmp(out, "-")) {
        if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
            perror("rune graph: standard output");
            return RUNE_EXIT_INTERNAL;
        }
        return RUNE_EXIT_OK;
    }
    FILE *f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "rune graph: cannot write %s: %m\n", out);
        return RUNE_EXIT_INTERNAL;
    }
    bool ok = fwrite(text, 1, len, f) == len;
    if (fclose(f) != 0 || !ok) {
        fprintf(stderr, "rune graph: cannot write %s: %m\n", out);
        remove(out);
        return RUNE_EXIT_INTERNAL;
    }
    return RUNE_EXIT_OK;
}

int cmd_graph(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enum format fmt = DOT;
    const char *out = NULL;
    json_t *sets = json_object();
    struct rune_runbook *rb = NULL;
    struct rune_lua *L = NULL;
    json_t *ctx = NULL;
    int c, rc = RUNE_EXIT_INVALID;
    optind = 0;
    while ((c = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (strcmp(optarg, "dot") && strcmp(optarg, "mermaid")) {
                fprintf(stderr, "rune graph: --format must be dot or mermaid, got \"%s\"\n",
                        optarg);
                goto out;
            }
            fmt = strcmp(optarg, "dot") ? MERMAID : DOT;
            break;
        case 'o':
            out = optarg;
            break;
        case 's':
            if (rune_inputs_parse_set(sets, optarg) != 0) {
                fprintf(stderr, "rune graph: --set needs NAME=VALUE, got \"%s\"\n", optarg);
                goto out;
            }
            break;
        case 'h':
            usage(stdout);
            rc = RUNE_EXIT_OK;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, optind >= argc ? "rune graph: which runbook? (`rune list` shows them)\n"
                                       : "rune graph: one runbook at a time\n");
        goto out;
    }
    char path[4096], err[8192];
    if (rune_search_resolve(argv[optind], path, sizeof path, err, sizeof err) != 0) {
        fprintf(stderr, "rune: %s\n", err);
        goto out;
    }
    struct rune_diags d = RUNE_DIAGS_INIT;
    rb = rune_runbook_load(path, &d);
    if (!rb) {
        rune_diags_print(&d, stderr);
        fprintf(stderr, "rune graph: %s is not valid (%zu problem%s); nothing drawn\n", path, d.n,
                d.n == 1 ? "" : "s");
        rune_diags_free(&d);
        goto out;
    }
    rune_diags_free(&d);
    if (json_object_size(sets) && inputs_lua(rb, sets, &L, &ctx) != 0)
        goto out;
    struct picture pic;
    picture_build(&pic, rb, L);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        abort();
    if (fmt == DOT)
        write_dot(f, &pic);
    else
        write_mermaid(f, &pic);
    memstream_close(f, &text);
    picture_free(&pic);
    rc = emit(text, len, out);
    free(text);
out:
    rune_lua_free(L);
    json_decref(ctx);
    rune_runbook_free(rb);
    json_decref(sets);
    return rc;
}
