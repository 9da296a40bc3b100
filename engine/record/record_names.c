/*
 * record_names.c — the one table of event kinds and the one table of
 * statuses, with which statuses count as failed.
 *
 * The names are what the incident log stores, so they never change: old
 * logs must read the same. A name that is not here (a log written by a
 * newer rune) parses as UNKNOWN and is shown as it is stored.
 */
#include <string.h>

#include "record.h"

static const char *const kind_names[RUNE_EV_NKINDS] = {
    [RUNE_EV_UNKNOWN] = NULL,
    [RUNE_EV_INCIDENT_START] = "incident.start",
    [RUNE_EV_STAGE_START] = "stage.start",
    [RUNE_EV_STAGE_END] = "stage.end",
    [RUNE_EV_STAGE_SKIP] = "stage.skip",
    [RUNE_EV_STEP_START] = "step.start",
    [RUNE_EV_STEP_END] = "step.end",
    [RUNE_EV_STEP_SKIP] = "step.skip",
    [RUNE_EV_APPROVAL] = "approval",
    [RUNE_EV_NOTE] = "note",
    [RUNE_EV_LOG] = "log",
    [RUNE_EV_CALL_START] = "call.start",
    [RUNE_EV_CALL_END] = "call.end",
    [RUNE_EV_SEVERITY] = "severity",
    [RUNE_EV_INCIDENT_DECISION] = "incident.decision",
    [RUNE_EV_INCIDENT_END] = "incident.end",
    [RUNE_EV_PROGRESS] = "progress",
    [RUNE_EV_INCIDENT_RESUME] = "incident.resume",
    [RUNE_EV_INCIDENT_NOTE] = "incident.note",
};

/* failed: see rune_event_status_failed in record.h for why these four. */
static const struct {
    const char *name;
    bool failed;
} statuses[RUNE_ST_NSTATUSES] = {
    [RUNE_ST_NONE] = {NULL, false},
    [RUNE_ST_UNKNOWN] = {NULL, false},
    [RUNE_ST_OK] = {"ok", false},
    [RUNE_ST_FAILED] = {"failed", true},
    [RUNE_ST_TIMEOUT] = {"timeout", true},
    [RUNE_ST_DECLINED] = {"declined", true},
    [RUNE_ST_CANCELLED] = {"cancelled", true},
    [RUNE_ST_UNDECIDED] = {"undecided", false},
    [RUNE_ST_SKIPPED] = {"skipped", false},
    [RUNE_ST_NOT_RUN] = {"not_run", false},
    [RUNE_ST_PENDING] = {"pending", false},
    [RUNE_ST_OK_WITH_FAILURES] = {"ok_with_failures", false},
    [RUNE_ST_ABORTED] = {"aborted", false},
    [RUNE_ST_ROLLBACK] = {"rollback", false},
    [RUNE_ST_INTERRUPTED] = {"interrupted", false},
    [RUNE_ST_APPROVED] = {"approved", false},
    [RUNE_ST_INCIDENT] = {"incident", false},
    [RUNE_ST_NO_INCIDENT] = {"no_incident", false},
    [RUNE_ST_P0] = {"P0", false},
    [RUNE_ST_P1] = {"P1", false},
    [RUNE_ST_P2] = {"P2", false},
    [RUNE_ST_P3] = {"P3", false},
    [RUNE_ST_RESOLVED] = {"resolved", false},
    [RUNE_ST_ROLLED_BACK] = {"rolled_back", false},
    [RUNE_ST_ABANDONED] = {"abandoned", true},
};

const char *rune_event_kind_name(enum rune_event_kind k)
{
    return (unsigned)k < RUNE_EV_NKINDS ? kind_names[k] : NULL;
}

enum rune_event_kind rune_event_kind_parse(const char *name)
{
    for (int k = 1; name && k < RUNE_EV_NKINDS; k++)
        if (!strcmp(kind_names[k], name))
            return (enum rune_event_kind)k;
    return RUNE_EV_UNKNOWN;
}

const char *rune_event_status_name(enum rune_event_status s)
{
    return (unsigned)s < RUNE_ST_NSTATUSES ? statuses[s].name : NULL;
}

enum rune_event_status rune_event_status_parse(const char *name)
{
    if (!name)
        return RUNE_ST_NONE;
    for (int s = RUNE_ST_UNKNOWN + 1; s < RUNE_ST_NSTATUSES; s++)
        if (!strcmp(statuses[s].name, name))
            return (enum rune_event_status)s;
    return RUNE_ST_UNKNOWN;
}

bool rune_event_status_failed(enum rune_event_status s)
{
    return (unsigned)s < RUNE_ST_NSTATUSES && statuses[s].failed;
}

enum rune_event_status rune_status_event(int step_status)
{
    switch (step_status) {
    case RUNE_STEP_OK:
        return RUNE_ST_OK;
    case RUNE_STEP_TIMEOUT:
        return RUNE_ST_TIMEOUT;
    case RUNE_STEP_DECLINED:
        return RUNE_ST_DECLINED;
    case RUNE_STEP_CANCELLED:
        return RUNE_ST_CANCELLED;
    default:
        return RUNE_ST_FAILED;
    }
}

const char *rune_status_name(int step_status)
{
    return rune_event_status_name(rune_status_event(step_status));
}
