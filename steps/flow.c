/*
 * flow.c — the flow.* family: steps that shape a run rather than touch a
 * system. flow.sleep waits (cancellable), flow.fail fails on purpose (a
 * guard, or a drill), flow.note writes a note into the incident log, and
 * flow.confirm asks the operator for approval through the engine's gate.
 */
#include "step.h"

static int sleep_run(struct rune_call *c)
{
    int st = rune_call_sleep(c, rune_call_int(c, "duration"));
    json_object_set_new(rune_call_outputs(c), "slept_ms",
                        json_integer(rune_call_int(c, "duration")));
    return st;
}

static int sleep_plan(struct rune_call *c)
{
    rune_call_plan(c, "would wait %lld ms", rune_call_int(c, "duration"));
    return RUNE_STEP_OK;
}

static int fail_run(struct rune_call *c)
{
    return rune_call_fail(c, "%s", rune_call_str(c, "message"));
}

static int fail_plan(struct rune_call *c)
{
    rune_call_plan(c, "would fail: %s", rune_call_str(c, "message"));
    return RUNE_STEP_OK;
}

static int note_run(struct rune_call *c)
{
    rune_call_note(c, rune_call_str(c, "message"));
    json_object_set_new(rune_call_outputs(c), "message", json_string(rune_call_str(c, "message")));
    return RUNE_STEP_OK;
}

static int note_plan(struct rune_call *c)
{
    rune_call_plan(c, "would note in the incident log: %s", rune_call_str(c, "message"));
    return RUNE_STEP_OK;
}

static int confirm_run(struct rune_call *c)
{
    bool ok = rune_call_confirm(c, rune_call_str(c, "message"));
    json_object_set_new(rune_call_outputs(c), "approved", json_boolean(ok));
    if (!ok) {
        rune_call_fail(c, "declined: the operator did not approve \"%s\"",
                       rune_call_str(c, "message"));
        return RUNE_STEP_DECLINED;
    }
    return RUNE_STEP_OK;
}

static int confirm_plan(struct rune_call *c)
{
    rune_call_plan(c, "would ask the operator: %s", rune_call_str(c, "message"));
    return RUNE_STEP_OK;
}

static const struct rune_param sleep_params[] = {
    {"duration", RUNE_T_DURATION, true, NULL, "how long to wait, e.g. 30s"},
    {0},
};
static const struct rune_output sleep_outputs[] = {
    {"slept_ms", RUNE_T_INT, "the requested wait in milliseconds"},
    {0},
};
static const struct rune_param message_params[] = {
    {"message", RUNE_T_STRING, true, NULL, "the text"},
    {0},
};
static const struct rune_output note_outputs[] = {
    {"message", RUNE_T_STRING, "the note as recorded (secrets masked)"},
    {0},
};
static const struct rune_output confirm_outputs[] = {
    {"approved", RUNE_T_BOOL, "whether the operator approved"},
    {0},
};
static const struct rune_output no_outputs[] = {{0}};

const struct rune_step_type rune_flow_steps[] = {
    {"flow.sleep", "Wait for a duration (cancelled by the step timeout or Ctrl-C)", sleep_params,
     sleep_outputs, RUNE_PURE, sleep_run, sleep_plan},
    {"flow.fail", "Fail with a message (a guard, or a drill of the failure path)", message_params,
     no_outputs, RUNE_PURE, fail_run, fail_plan},
    {"flow.note", "Write a note into the incident log", message_params, note_outputs, RUNE_PURE,
     note_run, note_plan},
    {"flow.confirm", "Ask the operator to approve before going on (--yes approves)", message_params,
     confirm_outputs, RUNE_PURE, confirm_run, confirm_plan, true},
    {0},
};
