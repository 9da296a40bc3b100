/*
 * sqlite.c — the sqlite.* family (being written).
 */
#include "step.h"

const struct rune_step_type rune_sqlite_steps[] = {
    {0},
};
