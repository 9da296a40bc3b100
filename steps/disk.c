/*
 * disk.c — the disk.* family (being written).
 */
#include "step.h"

const struct rune_step_type rune_disk_steps[] = {
    {0},
};
