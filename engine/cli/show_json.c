/*
 * show_json.c — `rune list --json` and `rune show --json`: what the text
 * forms say, as JSON for tools (editor plugins, dashboards, CI). Built with
 * jansson; a secret input's default is shown as "***" as in the text.
 */
#include "show_json.h"

#include <stdio.h>
#include <string.h>

#include "params.h"

json_t *rune_list_entry_json(const struct rune_runbook *rb, const char *path, bool has_errors)
{
    json_t *o = json_pack("{s:s, s:s, s:b}", "name", rb && rb->name ? rb->name : "?", "path", path,
                          "valid_shape", !has_errors);
    if (rb && rb->title)
        json_object_set_new(o, "title", json_string(rb->title));
    if (rb && rb->summary)
        json_object_set_new(o, "summary", json_string(rb->summary));
    return o;
}

static json_t *text_or_null(const struct rune_node *n)
{
    return n && n->kind == RUNE_NODE_SCALAR ? json_string(n->str) : json_null();
}

static json_t *step_json(const struct rune_stagedef *sd, const struct rune_stepdef *st)
{
    json_t *needs = json_array();
    for (size_t k = 0; k < st->ndeps; k++)
        json_array_append_new(needs, json_string(sd->steps[st->deps[k]].id));
    json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:i, s:s, s:b}", "id", st->id ? st->id : "?",
                          "uses", st->uses ? st->uses : "?", "needs", needs, "timeout_ms",
                          (json_int_t)st->timeout_ms, "attempts", st->retry.attempts, "on_failure",
                          rune_policy_names[st->on_failure], "confirm", st->confirm != NULL);
    if (st->type)
        json_object_set_new(o, "effect",
                            json_string(st->type->effect == RUNE_WRITES  ? "writes"
                                        : st->type->effect == RUNE_READS ? "reads"
                                                                         : "pure"));
    if (st->when)
        json_object_set_new(o, "when", text_or_null(st->when));
    if (st->description)
        json_object_set_new(o, "description", json_string(st->description));
    return o;
}

json_t *rune_show_json(const struct rune_runbook *rb)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s}", "name", rb->name, "path", rb->path, "sha256", rb->sha256);
    if (rb->title)
        json_object_set_new(o, "title", json_string(rb->title));
    if (rb->summary)
        json_object_set_new(o, "summary", json_string(rb->summary));
    if (rb->description)
        json_object_set_new(o, "description", json_string(rb->description));
    json_object_set_new(o, "objectives",
                        json_pack("{s:I, s:I}", "rto_ms", (json_int_t)rb->rto_ms, "rpo_ms",
                                  (json_int_t)rb->rpo_ms));
    json_t *inputs = json_array();
    for (size_t i = 0; i < rb->ninputs; i++) {
        const struct rune_inputdef *in = &rb->inputs[i];
        json_t *x =
            json_pack("{s:s, s:s, s:b, s:b}", "name", in->name, "type", rune_type_name(in->type),
                      "required", in->required, "secret", in->secret);
        if (in->def)
            json_object_set_new(x, "default",
                                in->secret ? json_string("***") : rune_node_json(in->def));
        if (in->choices)
            json_object_set_new(x, "choices", rune_node_json(in->choices));
        if (in->description)
            json_object_set_new(x, "description", json_string(in->description));
        json_array_append_new(inputs, x);
    }
    json_object_set_new(o, "inputs", inputs);
    json_t *secrets = json_array();
    for (size_t i = 0; i < rb->nsecrets; i++) {
        const struct rune_secretdef *s = &rb->secrets[i];
        json_array_append_new(secrets,
                              json_pack("{s:s, s:s, s:s, s:b}", "name", s->name, "from",
                                        s->env ? "env" : "file", "source",
                                        s->env ? s->env : s->file, "required", s->required));
    }
    json_object_set_new(o, "secrets", secrets);
    json_t *targets = json_array();
    for (size_t i = 0; i < rb->ntargets; i++)
        json_array_append_new(targets,
                              json_pack("{s:s, s:s}", "name", rb->targets[i].name, "kind",
                                        rb->targets[i].kind_name ? rb->targets[i].kind_name : "?"));
    json_object_set_new(o, "targets", targets);
    json_object_set_new(o, "lock", text_or_null(rb->lock));
    json_t *stages = json_object();
    for (int s = 0; s < RUNE_NSTAGES; s++) {
        const struct rune_stagedef *sd = &rb->stages[s];
        if (!sd->present)
            continue;
        json_t *steps = json_array();
        for (size_t i = 0; i < sd->n; i++)
            json_array_append_new(steps, step_json(sd, &sd->steps[i]));
        json_t *stage = json_pack("{s:o}", "steps", steps);
        if (sd->incident_if)
            json_object_set_new(stage, "incident_if", rune_node_json(sd->incident_if));
        if (sd->severity)
            json_object_set_new(stage, "severity", rune_node_json(sd->severity));
        json_object_set_new(stages, rune_stage_names[s], stage);
    }
    json_object_set_new(o, "stages", stages);
    return o;
}
