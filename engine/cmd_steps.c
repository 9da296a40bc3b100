/*
 * cmd_steps.c — `rune steps [TYPE]`: the step types, from the registry.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "exitcode.h"
#include "lua.h"
#include "model.h"
#include "registry.h"

static const char *const effect_names[] = {"pure", "reads", "writes"};

static void describe(const struct rune_step_type *t)
{
    printf("%s — %s\n", t->name, t->summary);
    printf("effect: %s\n\nparameters:\n", effect_names[t->effect]);
    for (const struct rune_param *p = t->params; p && p->name; p++)
        printf("  %-16s %-10s %s%s%s%s  %s\n", p->name, rune_type_name(p->type),
               p->required ? "(required)" : "", p->def ? "default " : "", p->def ? p->def : "",
               "", p->doc ? p->doc : "");
    printf("\noutputs:\n");
    for (const struct rune_output *o = t->outputs; o && o->name; o++)
        printf("  %-16s %-10s %s\n", o->name, rune_type_name(o->type), o->doc ? o->doc : "");
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
    if (argc > 2 || (argc == 2 && !strcmp(argv[1], "--help"))) {
        printf("usage: rune steps [TYPE]\n");
        return argc > 2 ? RUNE_EXIT_INVALID : RUNE_EXIT_OK;
    }
    if (argc == 2) {
        const struct rune_step_type *t = rune_registry_find(argv[1]);
        if (!t) {
            fprintf(stderr, "rune: no step type \"%s\"; `rune steps` lists them\n", argv[1]);
            return RUNE_EXIT_INVALID;
        }
        describe(t);
        return RUNE_EXIT_OK;
    }
    for (size_t i = 0; i < n; i++)
        printf("%-24s %-7s %s\n", all[i]->name, effect_names[all[i]->effect], all[i]->summary);
    return RUNE_EXIT_OK;
}
