/*
 * file.c — the file.* family (being written).
 */
#include "step.h"

const struct rune_step_type rune_file_steps[] = {
    {0},
};
