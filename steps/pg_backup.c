/*
 * pg_backup.c — (being written)
 */
#include "step.h"

const struct rune_step_type rune_pg_backup_steps[] = {
    {0},
};
