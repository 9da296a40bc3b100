/*
 * graph.h — the step graph of one stage.
 *
 * A step without `needs:` follows the step listed before it (a runbook
 * reads top to bottom); `needs: [a, b]` waits only for those; `needs: []`
 * starts with the stage. Edges are stepdef.deps (indices in the stage).
 */
#ifndef RUNE_GRAPH_H
#define RUNE_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

/* Reports every dependency cycle in the stage, naming it ("a -> b -> a"). */
void rune_graph_check_cycles(const struct rune_stagedef *sd, struct rune_diags *d);
/* True if step `anc` must finish before step `i` starts (transitively). */
bool rune_graph_precedes(const struct rune_stagedef *sd, size_t anc, size_t i);
/* Wave number per step (0 = starts with the stage); waves[] has sd->n
 * entries. Returns the number of waves. Requires an acyclic stage. */
size_t rune_graph_waves(const struct rune_stagedef *sd, size_t *waves);

#endif
