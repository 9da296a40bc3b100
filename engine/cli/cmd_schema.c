/*
 * cmd_schema.c — `rune schema`: the runbook JSON Schema, with the step
 * types written in Lua on the search path (bundled, ./lua, $RUNE_LUA_PATH),
 * so a team's editor knows its own types. schemas/runbook.schema.json is
 * this output from the source tree with $RUNE_LUA_PATH unset.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcode.h"
#include "luatype.h"
#include "schema.h"

int cmd_schema(int argc, char **argv)
{
    if (argc > 1) {
        bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");
        fprintf(help ? stdout : stderr,
                "usage: rune schema > runbook.schema.json\n"
                "  prints the JSON Schema of a runbook (every key, every step type with its\n"
                "  parameters), including the step types written in Lua in ./lua, ./lua/steps\n"
                "  and $RUNE_LUA_PATH. docs/authoring.md shows how editors use it.\n");
        return help ? RUNE_EXIT_OK : RUNE_EXIT_INVALID;
    }
    struct rune_diags d = RUNE_DIAGS_INIT;
    rune_lua_load_types("./.", &d);
    rune_diags_print(&d, stderr);
    bool bad = d.n > 0;
    rune_diags_free(&d);
    json_t *s = rune_schema_build();
    char *text = json_dumps(s, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(s);
    if (!text) {
        fprintf(stderr, "rune: no memory to print the runbook schema\n");
        return RUNE_EXIT_INTERNAL;
    }
    printf("%s\n", text);
    free(text);
    return bad ? RUNE_EXIT_INVALID : RUNE_EXIT_OK;
}
