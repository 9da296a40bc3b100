/*
 * service.c — (being written)
 */
#include "step.h"

const struct rune_step_type rune_service_steps[] = {
    {0},
};

static const struct rune_param service_fields[] = {
    {NULL},
};

const struct rune_target_kind rune_service_target = {
    "service", "A service rune can stop, start and check", service_fields,
};
