/*
 * backup.c — the backup.* family (being written).
 */
#include "step.h"

const struct rune_step_type rune_backup_steps[] = {
    {0},
};
