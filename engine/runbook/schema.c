/*
 * schema.c — the JSON Schema of a runbook, for editors (yaml-language-server,
 * VS Code) and CI validators: schemas/runbook.schema.json is its output.
 *
 * It is built from what rune itself checks, never from a second list: the
 * keys come from the loader (keys.h), the step types with their parameters,
 * types, required ones, choices, defaults and docs from the registry (native
 * tables and the Lua types loaded so far), the target kinds from theirs.
 * Only the words about each runbook key live here, in one table.
 *
 * What it must not do: refuse a runbook rune accepts. Values are as lenient
 * as rune's own coercion (params.c: "42" is an integer, a number a string),
 * and any string holding `${` is accepted where a typed value is expected,
 * since it is only known once resolved. Rules that need more than one node
 * (references, needs, cycles) stay with `rune validate`.
 */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "model.h"
#include "params.h"
#include "registry.h"

/* The words about each key, and its shape where the shape is plain JSON
 * Schema text; NULL shape: built below (stages, steps, inputs, ...). A key
 * of the loader missing here still gets into the schema, shapeless. */
struct keydoc {
    enum rune_keys_where where;
    const char *key;
    const char *shape;
    const char *doc;
};

#define TEXT "{\"type\": [\"string\", \"number\", \"boolean\"]}"
#define DURATION "{\"$ref\": \"#/definitions/duration\"}"
#define CONDITION "{\"$ref\": \"#/definitions/condition\"}"

static const struct keydoc keydocs[] = {
    {RUNE_KEYS_TOP, "runbook", TEXT, "The name operators run it by (rune run NAME, rune list)."},
    {RUNE_KEYS_TOP, "kind", "{\"enum\": [\"incident\", \"job\"]}",
     "incident (the default), or job: a routine job that runs its stages every time (no "
     "incident_if) and records its severity even when a guard stops impact."},
    {RUNE_KEYS_TOP, "title", TEXT, "One line shown by rune list, rune show and the run header."},
    {RUNE_KEYS_TOP, "summary", TEXT, "One or two lines; rune list uses it when there is no title."},
    {RUNE_KEYS_TOP, "description", TEXT, "Free text, printed by rune show."},
    {RUNE_KEYS_TOP, "owner", TEXT, "Free text for people; rune does not use it."},
    {RUNE_KEYS_TOP, "tags", "{\"type\": \"array\"}", "Free list for people; rune does not use it."},
    {RUNE_KEYS_TOP, "objectives", NULL,
     "Recovery objectives {rto, rpo}, recorded with the incident and shown by rune show."},
    {RUNE_KEYS_TOP, "inputs", NULL, "Values the operator gives with --set NAME=VALUE."},
    {RUNE_KEYS_TOP, "secrets", NULL,
     "Values read from the environment or a file, masked as *** everywhere."},
    {RUNE_KEYS_TOP, "targets", NULL,
     "The databases and services steps act on, declared once ({kind: ..., fields})."},
    {RUNE_KEYS_TOP, "lock", TEXT,
     "A lock held for the whole run (e.g. sqlite/${inputs.path}); two runs with the same name "
     "never overlap."},
    {RUNE_KEYS_TOP, "report", NULL,
     "{template: NAME|FILE}: the team's report template; every run also writes its report "
     "through it (docs/reports.md, Templates)."},
    {RUNE_KEYS_TOP, "defaults", NULL,
     "{timeout: DURATION}: the per-attempt timeout of every step."},
    {RUNE_KEYS_TOP, "detection", NULL,
     "Stage 1: find out whether there is an incident; change nothing."},
    {RUNE_KEYS_TOP, "impact", NULL, "Stage 2: record what is affected; set the severity."},
    {RUNE_KEYS_TOP, "mitigation", NULL, "Stage 3: fix it."},
    {RUNE_KEYS_TOP, "verification", NULL, "Stage 4: check the fix worked."},
    {RUNE_KEYS_TOP, "rollback", NULL,
     "Stage 5: undo mitigation; runs only when a step failed under on_failure: rollback, an "
     "approval was declined or the run was interrupted."},
    {RUNE_KEYS_STAGE, "steps", NULL, "The stage's steps, run as a graph (needs)."},
    {RUNE_KEYS_STAGE, "description", "{}", "Free text; rune does not use it."},
    {RUNE_KEYS_STAGE, "incident_if", CONDITION,
     "Detection only: true, false or a Lua expression; false ends the run as no_incident."},
    {RUNE_KEYS_STAGE, "severity", "{\"type\": \"string\"}",
     "Impact only: P0, P1, P2, P3, or a Lua expression that gives one."},
    {RUNE_KEYS_STEP, "id", "{\"$ref\": \"#/definitions/identifier\"}",
     "Unique in the whole runbook; other steps read it as steps.ID."},
    {RUNE_KEYS_STEP, "uses", NULL, "The step type (rune steps lists them)."},
    {RUNE_KEYS_STEP, "lua", "{\"type\": \"string\"}",
     "Instead of uses: inline Lua code whose returned table becomes the step's outputs."},
    {RUNE_KEYS_STEP, "with", "{\"type\": \"object\"}", "The step type's parameters."},
    {RUNE_KEYS_STEP, "needs",
     "{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"array\", \"items\": {\"type\": "
     "\"string\"}}]}",
     "Steps of the same stage this one waits for (default: the step listed before it; [] starts "
     "with the stage)."},
    {RUNE_KEYS_STEP, "when", CONDITION,
     "Run the step only when this is true (a Lua expression); false records it skipped."},
    {RUNE_KEYS_STEP, "timeout", DURATION, "Limit for each attempt (default defaults.timeout, 1h)."},
    {RUNE_KEYS_STEP, "retry", NULL, "Attempts (1-100), or {attempts, delay, backoff, max_delay}."},
    {RUNE_KEYS_STEP, "on_failure", NULL,
     "What a failure does: abort, continue, or rollback (mitigation and verification only)."},
    {RUNE_KEYS_STEP, "confirm",
     "{\"anyOf\": [{\"const\": true}, {\"type\": [\"string\", \"number\"]}]}",
     "Ask the operator before the first attempt: the question, or true."},
    {RUNE_KEYS_STEP, "simulate", "{\"type\": \"object\"}",
     "Outputs to assume in a dry-run (rune plan) when the step is planned, not run."},
    {RUNE_KEYS_STEP, "description", TEXT, "Shown by rune show."},
    {RUNE_KEYS_STEP, "print",
     "{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"array\", \"items\": {\"type\": "
     "\"string\"}, \"minItems\": 1}]}",
     "Output(s) of the step shown on the console (and recorded) when it ends: print: stdout."},
    {RUNE_KEYS_STEP, "idempotent", "{\"type\": \"boolean\"}",
     "Whether running the step again does no harm when rune died during it: rune resume "
     "re-runs it without asking (default: from the step type)."},
    {RUNE_KEYS_INPUT, "type",
     "{\"enum\": [\"string\", \"int\", \"integer\", \"number\", \"bool\", \"boolean\", "
     "\"duration\", \"path\", \"list\", \"map\", \"any\"]}",
     "The input's type (default string)."},
    {RUNE_KEYS_INPUT, "default", "{}", "Used when --set does not give the input."},
    {RUNE_KEYS_INPUT, "required", "{\"type\": \"boolean\"}",
     "The run refuses to start without --set NAME=..."},
    {RUNE_KEYS_INPUT, "description", TEXT, "Shown by rune show and in the \"required\" error."},
    {RUNE_KEYS_INPUT, "secret", "{\"type\": \"boolean\"}",
     "Record the value as *** and mask it everywhere (string inputs only)."},
    {RUNE_KEYS_INPUT, "choices", "{\"type\": \"array\"}", "The value must equal one of these."},
    {RUNE_KEYS_SECRET, "env", TEXT, "The environment variable holding the value."},
    {RUNE_KEYS_SECRET, "file", TEXT, "A file whose first line is the value."},
    {RUNE_KEYS_SECRET, "required", "{\"type\": \"boolean\"}",
     "false: a missing secret is null instead of an error (default true)."},
    {RUNE_KEYS_SECRET, "description", TEXT, "For people; rune does not use it."},
    {RUNE_KEYS_RETRY, "attempts", "{\"type\": \"integer\", \"minimum\": 1, \"maximum\": 100}",
     "Total attempts, including the first (default 1)."},
    {RUNE_KEYS_RETRY, "delay", DURATION, "Wait before the second attempt (default 1s)."},
    {RUNE_KEYS_RETRY, "backoff", "{\"type\": \"number\", \"minimum\": 1, \"maximum\": 10}",
     "Multiplier for each further wait (default 2)."},
    {RUNE_KEYS_RETRY, "max_delay", DURATION, "Cap on any single wait (default 60s; 0: no cap)."},
    {RUNE_KEYS_OBJECTIVES, "rto", DURATION, "Recovery time objective."},
    {RUNE_KEYS_OBJECTIVES, "rpo", DURATION, "Recovery point objective."},
    {RUNE_KEYS_DEFAULTS, "timeout", DURATION, "Per-attempt timeout of every step (default 1h)."},
    {RUNE_KEYS_REPORT, "template", TEXT,
     "The report template for this runbook's automatic report, written beside the standard "
     "one: a bundled name (rune report --template list) or a .md/.html file, relative to the "
     "runbook."},
};

static const struct keydoc *keydoc(enum rune_keys_where where, const char *key)
{
    for (size_t i = 0; i < sizeof keydocs / sizeof keydocs[0]; i++)
        if (keydocs[i].where == where && !strcmp(keydocs[i].key, key))
            return &keydocs[i];
    return NULL;
}

/* Parses one of the literal shapes above; they are constants, so a
 * failure is a programmer's error caught by the schema test. */
static json_t *shape(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v) {
        fprintf(stderr, "rune: schema.c: bad shape %s: %s\n", text, e.text);
        abort();
    }
    return v;
}

static json_t *ref(const char *name)
{
    char buf[128];
    snprintf(buf, sizeof buf, "#/definitions/%s", name);
    return json_pack("{s:s}", "$ref", buf);
}

/* The object with the loader's keys at `where`: each key's shape (from
 * `built` when the code makes it, else the table) and words. */
static json_t *keyed_object(enum rune_keys_where where, json_t *built, const char *skip1,
                            const char *skip2)
{
    size_t n;
    const char *const *keys = rune_runbook_keys(where, &n);
    json_t *props = json_object();
    for (size_t i = 0; i < n; i++) {
        if ((skip1 && !strcmp(keys[i], skip1)) || (skip2 && !strcmp(keys[i], skip2)))
            continue;
        const struct keydoc *k = keydoc(where, keys[i]);
        json_t *s = built ? json_object_get(built, keys[i]) : NULL;
        s = s ? json_deep_copy(s) : k && k->shape ? shape(k->shape) : json_object();
        if (k && k->doc && !json_object_get(s, "description"))
            json_object_set_new(s, "description", json_string(k->doc));
        json_object_set_new(props, keys[i], s);
    }
    json_decref(built);
    return json_pack("{s:s, s:o, s:b}", "type", "object", "properties", props,
                     "additionalProperties", 0);
}

/* A string with `${`: any typed value may be given as an expression. */
static json_t *or_expr(json_t *alts)
{
    json_array_append_new(alts, ref("expression"));
    return json_pack("{s:o}", "anyOf", alts);
}

static json_t *enum_of(const char *choices)
{
    json_t *e = json_array();
    for (const char *c = choices; *c;) {
        size_t w = strcspn(c, "|");
        json_array_append_new(e, json_stringn(c, w));
        c += w + (c[w] == '|');
    }
    return json_pack("{s:o}", "enum", e);
}

/* What a value of type t may be written as, as leniently as params.c
 * coerces it. */
static json_t *value_schema(enum rune_type t, const char *choices)
{
    switch (t) {
    case RUNE_T_STRING:
    case RUNE_T_PATH:
        if (choices)
            return or_expr(json_pack("[o]", enum_of(choices)));
        return shape("{\"type\": [\"string\", \"number\", \"boolean\"]}");
    case RUNE_T_TARGET:
        return shape("{\"type\": \"string\", \"minLength\": 1}");
    case RUNE_T_INT:
        return or_expr(shape("[{\"type\": \"integer\"}, {\"type\": \"string\", \"pattern\": "
                             "\"^\\\\s*[-+]?[0-9]+$\"}]"));
    case RUNE_T_NUMBER:
        return or_expr(
            shape("[{\"type\": \"number\"}, {\"type\": \"string\", \"pattern\": "
                  "\"^\\\\s*[-+]?([0-9]+\\\\.?[0-9]*|\\\\.[0-9]+)([eE][-+]?[0-9]+)?$\"}]"));
    case RUNE_T_BOOL:
        return or_expr(shape("[{\"type\": \"boolean\"}, {\"enum\": [\"true\", \"false\"]}]"));
    case RUNE_T_DURATION:
        return ref("duration");
    case RUNE_T_LIST:
        return or_expr(shape("[{\"type\": \"array\"}]"));
    case RUNE_T_STRLIST: {
        json_t *item = choices ? or_expr(json_pack("[o]", enum_of(choices)))
                               : shape("{\"type\": [\"string\", \"number\", \"boolean\"]}");
        return json_pack("{s:[o, {s:s, s:o}]}", "anyOf", json_deep_copy(item), "type", "array",
                         "items", item);
    }
    case RUNE_T_MAP:
        return or_expr(shape("[{\"type\": \"object\"}]"));
    default:
        return json_object();
    }
}

static json_t *param_schema(const struct rune_param *p)
{
    json_t *s = value_schema(p->type, p->choices);
    char doc[1024];
    snprintf(doc, sizeof doc, "%s (%s%s%s%s)", p->doc ? p->doc : "", rune_type_name(p->type),
             p->kind ? ": a " : "", p->kind ? p->kind : "", p->kind ? " target" : "");
    json_object_set_new(s, "description", json_string(doc));
    json_t *def = rune_param_default(p);
    if (def)
        json_object_set_new(s, "default", def);
    return s;
}

/* A parameter (or field) table as an object schema: known names only,
 * required ones, and each one_of group as "exactly one of". `extra` is a
 * key that belongs to the declaration itself (a target's kind). */
static json_t *params_schema(const struct rune_param *params, const char *extra)
{
    json_t *props = json_object(), *req = json_array(), *all = json_array();
    if (extra)
        json_object_set_new(props, extra, json_object());
    for (const struct rune_param *p = params; p && p->name; p++) {
        json_object_set_new(props, p->name, param_schema(p));
        if (p->required)
            json_array_append_new(req, json_string(p->name));
        bool first = p->one_of != NULL;
        for (const struct rune_param *q = params; first && q < p; q++)
            first = !(q->one_of && !strcmp(q->one_of, p->one_of));
        if (!first)
            continue;
        json_t *alts = json_array();
        for (const struct rune_param *q = p; q->name; q++)
            if (q->one_of && !strcmp(q->one_of, p->one_of))
                json_array_append_new(alts, json_pack("{s:[s]}", "required", q->name));
        json_array_append_new(all, json_pack("{s:o}", "oneOf", alts));
    }
    json_t *o = json_pack("{s:s, s:o, s:b}", "type", "object", "properties", props,
                          "additionalProperties", 0);
    if (json_array_size(req))
        json_object_set(o, "required", req);
    if (json_array_size(all))
        json_object_set(o, "allOf", all);
    json_decref(req);
    json_decref(all);
    return o;
}

/* A step: its keys, `uses` one of the known types, and for each type
 * (if uses is T) its parameters under `with`. */
static json_t *step_schema(void)
{
    size_t n;
    const struct rune_step_type *const *types = rune_registry_all(&n);
    json_t *names = json_array(), *cases = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct rune_step_type *t = types[i];
        json_array_append_new(names, json_string(t->name));
        json_t *with = params_schema(t->params, NULL);
        char doc[512];
        snprintf(doc, sizeof doc, "Parameters of %s: %s", t->name, t->summary);
        json_object_set_new(with, "description", json_string(doc));
        json_t *then = json_pack("{s:{s:o}}", "properties", "with", with);
        bool required = false;
        for (const struct rune_param *p = t->params; p && p->name; p++)
            required |= p->required || p->one_of;
        if (required)
            json_object_set_new(then, "required", json_pack("[s]", "with"));
        json_array_append_new(cases,
                              json_pack("{s:{s:{s:{s:s}}, s:[s]}, s:o}", "if", "properties", "uses",
                                        "const", t->name, "required", "uses", "then", then));
    }
    json_t *built = json_object();
    json_object_set_new(built, "uses", json_pack("{s:s, s:o}", "type", "string", "enum", names));
    json_object_set_new(built, "on_failure",
                        shape("{\"enum\": [\"abort\", \"continue\", \"rollback\"]}"));
    json_t *retry = keyed_object(RUNE_KEYS_RETRY, NULL, NULL, NULL);
    json_object_set_new(built, "retry",
                        json_pack("{s:[{s:s, s:i, s:i}, o]}", "anyOf", "type", "integer", "minimum",
                                  1, "maximum", 100, retry));
    json_t *step = keyed_object(RUNE_KEYS_STEP, built, NULL, NULL);
    json_object_set_new(step, "required", json_pack("[s]", "id"));
    json_object_set_new(step, "oneOf",
                        shape("[{\"required\": [\"uses\"]}, {\"required\": [\"lua\"], \"not\": "
                              "{\"required\": [\"with\"]}}]"));
    json_object_set_new(step, "allOf", cases);
    return step;
}

/* A stage: detection keeps incident_if, impact severity; rollback is
 * possible only from mitigation and verification. */
static json_t *stage_schema(enum rune_stage_id s)
{
    json_t *item = ref("step");
    if (s != RUNE_MITIGATION && s != RUNE_VERIFICATION)
        item = json_pack("{s:[o, {s:{s:{s:[s, s]}}}]}", "allOf", item, "properties", "on_failure",
                         "enum", "abort", "continue");
    json_t *built = json_object();
    json_object_set_new(built, "steps",
                        json_pack("{s:[s, s], s:o}", "type", "array", "null", "items", item));
    return keyed_object(RUNE_KEYS_STAGE, built, s == RUNE_DETECTION ? NULL : "incident_if",
                        s == RUNE_IMPACT ? NULL : "severity");
}

static json_t *targets_schema(void)
{
    json_t *kinds = json_array(), *cases = json_array();
    for (size_t i = 0; rune_native_target_kinds[i]; i++) {
        const struct rune_target_kind *k = rune_native_target_kinds[i];
        json_array_append_new(kinds, json_string(k->name));
        json_t *fields = params_schema(k->fields, "kind");
        json_object_set_new(fields, "description", json_string(k->summary));
        json_array_append_new(cases, json_pack("{s:{s:{s:{s:s}}}, s:o}", "if", "properties", "kind",
                                               "const", k->name, "then", fields));
    }
    json_t *target = json_pack("{s:s, s:[s], s:{s:{s:o, s:s}}, s:o}", "type", "object", "required",
                               "kind", "properties", "kind", "enum", kinds, "description",
                               "the target kind", "allOf", cases);
    return json_pack("{s:s, s:o, s:o}", "type", "object", "propertyNames", ref("identifier"),
                     "additionalProperties", target);
}

static json_t *definitions(void)
{
    json_t *defs = json_object();
    json_object_set_new(defs, "identifier",
                        shape("{\"type\": \"string\", \"pattern\": \"^[A-Za-z_][A-Za-z0-9_]*$\"}"));
    json_object_set_new(
        defs, "expression",
        shape("{\"type\": \"string\", \"pattern\": \"\\\\$\\\\{\", \"description\": "
              "\"a value known once ${...} is resolved\"}"));
    json_object_set_new(
        defs, "duration",
        shape("{\"description\": \"250ms, 30s, 5m, 1h30m, 1d, or a number of seconds\", "
              "\"anyOf\": [{\"type\": \"number\", \"minimum\": 0}, {\"type\": \"string\", "
              "\"pattern\": \"^(([0-9]+\\\\.?[0-9]*|\\\\.[0-9]+)(ms|sec|s|min|m|h|d))+$|^([0-9]+"
              "\\\\.?[0-9]*|\\\\.[0-9]+)$\"}, {\"$ref\": \"#/definitions/expression\"}]}"));
    json_object_set_new(defs, "condition",
                        shape("{\"type\": [\"boolean\", \"string\"], \"description\": \"true, "
                              "false, or a Lua expression giving a boolean\"}"));
    json_object_set_new(defs, "step", step_schema());
    for (int s = 0; s < RUNE_NSTAGES; s++) {
        char name[64];
        snprintf(name, sizeof name, "stage_%s", rune_stage_names[s]);
        json_object_set_new(defs, name, stage_schema((enum rune_stage_id)s));
    }
    json_t *input = keyed_object(RUNE_KEYS_INPUT, NULL, NULL, NULL);
    json_object_set_new(defs, "input", input);
    json_t *secret = keyed_object(RUNE_KEYS_SECRET, NULL, NULL, NULL);
    json_object_set_new(secret, "oneOf",
                        shape("[{\"required\": [\"env\"]}, {\"required\": [\"file\"]}]"));
    json_object_set_new(defs, "secret", secret);
    return defs;
}

json_t *rune_schema_build(void)
{
    json_t *built = json_object();
    for (int s = 0; s < RUNE_NSTAGES; s++) {
        char name[64];
        snprintf(name, sizeof name, "stage_%s", rune_stage_names[s]);
        json_object_set_new(built, rune_stage_names[s], ref(name));
    }
    json_object_set_new(built, "inputs",
                        json_pack("{s:s, s:o, s:o}", "type", "object", "propertyNames",
                                  ref("identifier"), "additionalProperties", ref("input")));
    json_object_set_new(built, "secrets",
                        json_pack("{s:s, s:o, s:o}", "type", "object", "propertyNames",
                                  ref("identifier"), "additionalProperties", ref("secret")));
    json_object_set_new(built, "targets", targets_schema());
    json_object_set_new(built, "objectives", keyed_object(RUNE_KEYS_OBJECTIVES, NULL, NULL, NULL));
    json_object_set_new(built, "defaults", keyed_object(RUNE_KEYS_DEFAULTS, NULL, NULL, NULL));
    json_object_set_new(built, "report", keyed_object(RUNE_KEYS_REPORT, NULL, NULL, NULL));
    json_t *top = keyed_object(RUNE_KEYS_TOP, built, NULL, NULL);
    json_t *schema = json_pack(
        "{s:s, s:s, s:s, s:s}", "$schema", "http://json-schema.org/draft-07/schema#", "$id",
        "https://rune.dev/schemas/runbook.schema.json", "title", "rune runbook", "description",
        "A rune runbook (docs/runbook-format.md). Generated by `rune schema` from the loader's "
        "keys and the step tables; do not edit by hand.");
    json_object_update(schema, top);
    json_decref(top);
    json_object_set_new(schema, "required", json_pack("[s]", "runbook"));
    /* a job runs its stages every time: no incident_if */
    json_object_set_new(schema, "if",
                        shape("{\"properties\": {\"kind\": {\"const\": \"job\"}}, "
                              "\"required\": [\"kind\"]}"));
    json_object_set_new(schema, "then",
                        shape("{\"properties\": {\"detection\": {\"not\": {\"required\": "
                              "[\"incident_if\"]}}}}"));
    json_object_set_new(schema, "definitions", definitions());
    return schema;
}
