/*
 * registry.c — the list of native step families. Adding a family means
 * one line here and one table at the end of its own file.
 */
#include "step.h"

extern const struct rune_step_type rune_flow_steps[];
extern const struct rune_step_type rune_shell_steps[];

const struct rune_step_type *const rune_native_families[] = {
    rune_flow_steps,
    rune_shell_steps,
    NULL,
};
