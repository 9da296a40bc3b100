/*
 * graph.c — cycles, precedence and parallel waves of a stage's steps.
 * Stages hold tens of steps, so plain DFS is the clearest tool.
 */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WHITE, GREY, BLACK };

struct dfs {
    const struct rune_stagedef *sd;
    int *color;
    size_t *stack;
    size_t depth;
    struct rune_diags *d;
};

static void visit(struct dfs *g, size_t i)
{
    g->color[i] = GREY;
    g->stack[g->depth++] = i;
    const struct rune_stepdef *st = &g->sd->steps[i];
    for (size_t k = 0; k < st->ndeps; k++) {
        size_t j = st->deps[k];
        if (g->color[j] == GREY) {
            /* the cycle is the stack from j to the top, closed by j */
            char path[1024] = "";
            size_t from = 0;
            while (g->stack[from] != j)
                from++;
            for (size_t s = from; s < g->depth; s++) {
                const char *id = g->sd->steps[g->stack[s]].id;
                strncat(path, id ? id : "?", sizeof path - strlen(path) - 1);
                strncat(path, " -> ", sizeof path - strlen(path) - 1);
            }
            strncat(path, g->sd->steps[j].id ? g->sd->steps[j].id : "?",
                    sizeof path - strlen(path) - 1);
            rune_diag_add(g->d, st->needs ? st->needs->mark : st->id_mark,
                          "dependency cycle: %s (each step needs the next); remove one of "
                          "these needs",
                          path);
        } else if (g->color[j] == WHITE) {
            visit(g, j);
        }
    }
    g->depth--;
    g->color[i] = BLACK;
}

void rune_graph_check_cycles(const struct rune_stagedef *sd, struct rune_diags *d)
{
    if (!sd->n)
        return;
    struct dfs g = {sd, calloc(sd->n, sizeof(int)), calloc(sd->n, sizeof(size_t)), 0, d};
    if (!g.color || !g.stack)
        abort();
    for (size_t i = 0; i < sd->n; i++)
        if (g.color[i] == WHITE)
            visit(&g, i);
    free(g.color);
    free(g.stack);
}

static bool reach(const struct rune_stagedef *sd, size_t from, size_t target, char *seen)
{
    if (seen[from])
        return false;
    seen[from] = 1;
    const struct rune_stepdef *st = &sd->steps[from];
    for (size_t k = 0; k < st->ndeps; k++)
        if (st->deps[k] == target || reach(sd, st->deps[k], target, seen))
            return true;
    return false;
}

bool rune_graph_precedes(const struct rune_stagedef *sd, size_t anc, size_t i)
{
    char *seen = calloc(sd->n ? sd->n : 1, 1);
    if (!seen)
        abort();
    bool r = reach(sd, i, anc, seen);
    free(seen);
    return r;
}

size_t rune_graph_waves(const struct rune_stagedef *sd, size_t *waves)
{
    size_t nw = 0;
    for (size_t i = 0; i < sd->n; i++)
        waves[i] = (size_t)-1;
    /* longest path from a root; iterate to a fixed point (acyclic, small) */
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < sd->n; i++) {
            size_t w = 0;
            bool ready = true;
            for (size_t k = 0; k < sd->steps[i].ndeps; k++) {
                size_t dw = waves[sd->steps[i].deps[k]];
                if (dw == (size_t)-1) {
                    ready = false;
                    break;
                }
                if (dw + 1 > w)
                    w = dw + 1;
            }
            if (ready && waves[i] != w) {
                waves[i] = w;
                changed = true;
            }
        }
    }
    for (size_t i = 0; i < sd->n; i++)
        if (waves[i] != (size_t)-1 && waves[i] + 1 > nw)
            nw = waves[i] + 1;
    return nw;
}
