/*
 * pg.c — (being written)
 */
#include "step.h"

const struct rune_step_type rune_pg_steps[] = {
    {0},
};
