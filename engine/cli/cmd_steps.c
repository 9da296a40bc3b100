/*
 * cmd_steps.c — `rune steps [TYPE]`: the step types, from the registry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcode.h"
#include "lua.h"
#include "luatype.h"
#include "model.h"
#include "params.h"
#include "registry.h"
#include "step_example.h"

static const char *const effect_names[] = {"pure", "reads", "writes"};

/* "target (postgres)" for target parameters, else the type's name. */
static const char *type_text(const struct rune_param *p, char *buf, size_t len)
{
    if (p->type == RUNE_T_TARGET && p->kind)
        snprintf(buf, len, "target (%s)", p->kind);
    else
        snprintf(buf, len, "%s", rune_type_name(p->type));
    return buf;
}

/* "one of argv, script" for a parameter in a one_of group, else "". */
static const char *group_text(const struct rune_param *params, const struct rune_param *p,
                              const char *quote, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (const struct rune_param *q = params; p->one_of && q->name; q++)
        if (q->one_of && !strcmp(q->one_of, p->one_of) && at < len)
            at += (size_t)snprintf(buf + at, len - at, "%s%s%s%s", at ? ", " : "one of ", quote,
                                   q->name, quote);
    return buf;
}

static void params_text(const struct rune_param *params)
{
    char ty[64], group[128], choices[512];
    for (const struct rune_param *p = params; p && p->name; p++) {
        group_text(params, p, "", group, sizeof group);
        rune_param_choices(p, choices, sizeof choices);
        printf("  %-16s %-10s %s%s%s%s%s%s  %s%s%s\n", p->name, type_text(p, ty, sizeof ty),
               p->required ? "(required)" : "", group[0] ? "(" : "", group, group[0] ? ")" : "",
               p->def ? "default " : "", p->def ? p->def : "", p->doc ? p->doc : "",
               choices[0] ? "; one of " : "", choices);
    }
}

static void describe(const struct rune_step_type *t)
{
    printf("%s — %s\n", t->name, t->summary);
    printf("effect: %s\n\nparameters:\n", effect_names[t->effect]);
    params_text(t->params);
    printf("\noutputs:\n");
    for (const struct rune_output *o = t->outputs; o && o->name; o++)
        printf("  %-16s %-10s %s\n", o->name, rune_type_name(o->type), o->doc ? o->doc : "");
    char where[4200];
    char *example = rune_step_example(t->name, where, sizeof where);
    if (example) {
        printf("\nexample (%s):\n", where);
        for (const char *p = example; *p;) {
            size_t w = strcspn(p, "\n");
            printf("  %.*s\n", (int)w, p);
            p += w + (p[w] == '\n');
        }
        free(example);
    } else {
        printf("\nexample: no bundled runbook uses %s yet\n", t->name);
    }
}

/* A parameter or field table as JSON: what `rune steps` shows, for tools. */
static json_t *params_json(const struct rune_param *params)
{
    json_t *a = json_array();
    for (const struct rune_param *p = params; p && p->name; p++) {
        json_t *o = json_pack("{s:s, s:s, s:b}", "name", p->name, "type", rune_type_name(p->type),
                              "required", p->required);
        json_t *def = rune_param_default(p);
        if (def)
            json_object_set_new(o, "default", def);
        if (p->doc)
            json_object_set_new(o, "doc", json_string(p->doc));
        if (p->kind)
            json_object_set_new(o, "target_kind", json_string(p->kind));
        if (p->one_of)
            json_object_set_new(o, "one_of", json_string(p->one_of));
        if (p->choices) {
            json_t *c = json_array();
            for (const char *q = p->choices; *q;) {
                size_t w = strcspn(q, "|");
                json_array_append_new(c, json_stringn(q, w));
                q += w + (q[w] == '|');
            }
            json_object_set_new(o, "choices", c);
        }
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *type_json(const struct rune_step_type *t)
{
    json_t *outs = json_array();
    for (const struct rune_output *o = t->outputs; o && o->name; o++)
        json_array_append_new(outs,
                              json_pack("{s:s, s:s, s:s}", "name", o->name, "type",
                                        rune_type_name(o->type), "doc", o->doc ? o->doc : ""));
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", t->name, "summary", t->summary, "effect",
                  effect_names[t->effect], "params", params_json(t->params), "outputs", outs);
    char where[4200];
    char *example = rune_step_example(t->name, where, sizeof where);
    if (example) {
        json_object_set_new(o, "example", json_pack("{s:s, s:s}", "from", where, "yaml", example));
        free(example);
    }
    return o;
}

/* `rune steps --json [TYPE]`: every type and target kind, or one type. */
static int print_json(const struct rune_step_type *const *all, size_t n, const char *only)
{
    json_t *doc;
    if (only) {
        const struct rune_step_type *t = rune_registry_find(only);
        if (!t) {
            fprintf(stderr, "rune: no step type \"%s\"; `rune steps` lists them\n", only);
            return RUNE_EXIT_INVALID;
        }
        doc = type_json(t);
    } else {
        json_t *types = json_array(), *kinds = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(types, type_json(all[i]));
        for (size_t i = 0; rune_native_target_kinds[i]; i++) {
            const struct rune_target_kind *k = rune_native_target_kinds[i];
            json_array_append_new(kinds, json_pack("{s:s, s:s, s:o}", "name", k->name, "summary",
                                                   k->summary, "fields", params_json(k->fields)));
        }
        doc = json_pack("{s:o, s:o}", "step_types", types, "target_kinds", kinds);
    }
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text)
        return RUNE_EXIT_INTERNAL;
    printf("%s\n", text);
    free(text);
    return RUNE_EXIT_OK;
}

/* Markdown cell text: pipes would end the cell. */
static void cell(const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            putchar('\\');
        putchar(*s);
    }
}

/* docs/steps.md is generated by this (`rune steps --markdown`), so the
 * reference can never drift from the tables; a test checks it is current. */
static void params_markdown(const struct rune_param *params, const char *word)
{
    char ty[64], group[128];
    printf("| %s | type | required | default | meaning |\n|---|---|---|---|---|\n", word);
    for (const struct rune_param *p = params; p->name; p++) {
        printf("| `%s` | %s | %s | ", p->name, type_text(p, ty, sizeof ty),
               p->required ? "yes" : group_text(params, p, "`", group, sizeof group));
        if (p->def) {
            printf("`");
            cell(p->def);
            printf("`");
        }
        printf(" | ");
        cell(p->doc);
        if (p->choices) {
            printf(" (one of");
            for (const char *c = p->choices; *c;) {
                size_t w = strcspn(c, "|");
                printf("%s `%.*s`", c == p->choices ? "" : ",", (int)w, c);
                c += w + (c[w] == '|');
            }
            printf(")");
        }
        printf(" |\n");
    }
}

static void markdown(const struct rune_step_type *const *all, size_t n)
{
    printf("# Step reference\n\n"
           "Generated by `rune steps --markdown` from the step tables (native families in "
           "`steps/`, Lua step types in `lua/steps/`); do not edit by hand.\n\n"
           "Effects: **pure** touches nothing outside rune; **reads** only reads (a dry-run "
           "with `--probe` may run it); **writes** changes something.\n\n");
    printf("Target kinds (declared under `targets:`, named by steps' `target` parameter):");
    for (size_t i = 0; rune_native_target_kinds[i]; i++)
        printf(" [`%s`](#target-kind-%s)", rune_native_target_kinds[i]->name,
               rune_native_target_kinds[i]->name);
    printf("\n\nStep types:\n\n");
    for (size_t i = 0; i < n; i++) {
        /* GitHub's heading anchors drop the dots: "## sqlite.query" → #sqlitequery */
        printf("- [`%s`](#", all[i]->name);
        for (const char *c = all[i]->name; *c; c++)
            if (*c != '.')
                putchar(*c);
        printf(")\n");
    }
    for (size_t i = 0; rune_native_target_kinds[i]; i++) {
        const struct rune_target_kind *k = rune_native_target_kinds[i];
        printf("\n## target kind: %s\n\n", k->name);
        cell(k->summary);
        printf("\n\n");
        if (k->fields && k->fields->name)
            params_markdown(k->fields, "field");
    }
    for (size_t i = 0; i < n; i++) {
        const struct rune_step_type *t = all[i];
        printf("\n## %s\n\n", t->name);
        cell(t->summary);
        printf("\n\nEffect: **%s**\n\n", effect_names[t->effect]);
        if (t->params && t->params->name) {
            params_markdown(t->params, "parameter");
        } else {
            printf("No parameters.\n");
        }
        if (t->outputs && t->outputs->name) {
            printf("\n| output | type | meaning |\n|---|---|---|\n");
            for (const struct rune_output *o = t->outputs; o->name; o++) {
                printf("| `%s` | %s | ", o->name, rune_type_name(o->type));
                cell(o->doc);
                printf(" |\n");
            }
        }
    }
}

int cmd_steps(int argc, char **argv)
{
    /* Lua step types: bundled, ./lua next to here, and $RUNE_LUA_PATH */
    struct rune_diags d = RUNE_DIAGS_INIT;
    rune_lua_load_types("./.", &d);
    rune_diags_print(&d, stderr);
    rune_diags_free(&d);
    size_t n;
    const struct rune_step_type *const *all = rune_registry_all(&n);
    if (argc >= 2 && !strcmp(argv[1], "--json") && argc <= 3)
        return print_json(all, n, argc == 3 ? argv[2] : NULL);
    if (argc == 3 && !strcmp(argv[2], "--json"))
        return print_json(all, n, argv[1]);
    if (argc > 2 || (argc == 2 && !strcmp(argv[1], "--help"))) {
        printf("usage: rune steps [TYPE | KIND | --markdown | --json [TYPE]]\n");
        return argc > 2 ? RUNE_EXIT_INVALID : RUNE_EXIT_OK;
    }
    if (argc == 2 && !strcmp(argv[1], "--markdown")) {
        markdown(all, n);
        return RUNE_EXIT_OK;
    }
    if (argc == 2) {
        const struct rune_step_type *t = rune_registry_find(argv[1]);
        const struct rune_target_kind *k = rune_registry_target_kind(argv[1]);
        if (!t && k) {
            printf("target kind %s — %s\n\nfields:\n", k->name, k->summary);
            params_text(k->fields);
            return RUNE_EXIT_OK;
        }
        if (!t) {
            fprintf(stderr, "rune: no step type \"%s\"; `rune steps` lists them\n", argv[1]);
            return RUNE_EXIT_INVALID;
        }
        describe(t);
        return RUNE_EXIT_OK;
    }
    for (size_t i = 0; i < n; i++)
        printf("%-24s %-7s %s\n", all[i]->name, effect_names[all[i]->effect], all[i]->summary);
    char kinds[256];
    printf("\ntarget kinds: %s (`rune steps KIND` lists the fields)\n",
           rune_registry_target_kinds(kinds, sizeof kinds));
    return RUNE_EXIT_OK;
}
