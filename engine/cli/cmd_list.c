/*
 * cmd_list.c — `rune list` (runbooks on the search path) and `rune show
 * NAME` (one runbook described: inputs, objectives, stages, steps).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duration.h"
#include "exitcode.h"
#include "model.h"
#include "params.h"
#include "search.h"
#include "show_json.h"

struct listing {
    json_t *json; /* --json: the entries; NULL: text */
    int count;
    char seen[128][128]; /* names already listed: the first on the path wins */
    int nseen;
};

static int list_one(void *ud, const char *path)
{
    struct listing *l = ud;
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_runbook *rb = rune_runbook_parse(path, &d);
    const char *name = rb && rb->name ? rb->name : "?";
    for (int i = 0; i < l->nseen; i++)
        if (!strcmp(l->seen[i], name))
            goto done;
    if (l->nseen < 128)
        snprintf(l->seen[l->nseen++], sizeof l->seen[0], "%s", name);
    if (l->json) {
        l->count++;
        json_array_append_new(l->json, rune_list_entry_json(rb, path, d.n > 0));
        goto done;
    }
    if (l->count++ == 0)
        printf("%-28s %-60s %s\n", "NAME", "TITLE", "PATH");
    printf("%-28s %-60.60s %s%s\n", name,
           rb && rb->title ? rb->title : (rb && rb->summary ? rb->summary : ""), path,
           d.n ? "  (has errors: rune validate)" : "");
done:
    rune_runbook_free(rb);
    rune_diags_free(&d);
    return 0;
}

static int print_json(json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text)
        return RUNE_EXIT_INTERNAL;
    printf("%s\n", text);
    free(text);
    return RUNE_EXIT_OK;
}

int cmd_list(int argc, char **argv)
{
    bool json = argc == 2 && !strcmp(argv[1], "--json");
    if (argc > 1 && !json) {
        printf("usage: rune list [--json]\n  lists runbooks found in ./runbooks, $RUNE_PATH and "
               "the installed share directory\n");
        return strcmp(argv[1], "--help") ? RUNE_EXIT_INVALID : RUNE_EXIT_OK;
    }
    static struct listing l;
    memset(&l, 0, sizeof l);
    if (json)
        l.json = json_array();
    rune_search_each(list_one, &l);
    if (json)
        return print_json(l.json);
    if (!l.count) {
        char p[8192];
        printf("no runbooks found on the search path (%s)\n", rune_search_path_str(p, sizeof p));
    }
    return RUNE_EXIT_OK;
}

static void show_step(const struct rune_stagedef *sd, const struct rune_stepdef *st)
{
    char t[32];
    printf("  - %-22s %-16s", st->id ? st->id : "?", st->uses ? st->uses : "?");
    if (st->needs) {
        printf(" needs:");
        for (size_t k = 0; k < st->ndeps; k++)
            printf("%s%s", k ? "," : " ", sd->steps[st->deps[k]].id);
        if (!st->ndeps)
            printf(" (none: starts with the stage)");
        printf(";");
    }
    printf(" timeout %s", rune_duration_str(st->timeout_ms, t, sizeof t));
    if (st->retry.attempts > 1)
        printf(", %d attempts", st->retry.attempts);
    printf(", on_failure %s", rune_policy_names[st->on_failure]);
    if (st->confirm)
        printf(", asks for approval");
    if (st->when)
        printf(", conditional");
    printf("\n");
    if (st->description)
        printf("      %s\n", st->description);
}

int cmd_show(int argc, char **argv)
{
    bool json = argc == 3 && (!strcmp(argv[1], "--json") || !strcmp(argv[2], "--json"));
    const char *arg = json ? (strcmp(argv[1], "--json") ? argv[1] : argv[2]) : argv[1];
    if ((argc != 2 && !json) || !strcmp(arg, "--help")) {
        fprintf(argc == 2 ? stdout : stderr, "usage: rune show RUNBOOK [--json]\n");
        return argc == 2 ? RUNE_EXIT_OK : RUNE_EXIT_INVALID;
    }
    char path[4096], err[8192];
    if (rune_search_resolve(arg, path, sizeof path, err, sizeof err) != 0) {
        fprintf(stderr, "rune: %s\n", err);
        return RUNE_EXIT_INVALID;
    }
    struct rune_diags d = RUNE_DIAGS_INIT;
    struct rune_runbook *rb = rune_runbook_load(path, &d);
    if (!rb) {
        rune_diags_print(&d, stderr);
        rune_diags_free(&d);
        return RUNE_EXIT_INVALID;
    }
    if (json) {
        int rc = print_json(rune_show_json(rb));
        rune_runbook_free(rb);
        rune_diags_free(&d);
        return rc;
    }
    char a[32], b[32];
    printf("%s — %s\n", rb->name, rb->title ? rb->title : "(no title)");
    if (rb->summary)
        printf("%s\n", rb->summary);
    printf("file: %s (sha256 %.12s…)\n", rb->path, rb->sha256);
    if (rb->rto_ms || rb->rpo_ms)
        printf("objectives: RTO %s, RPO %s\n",
               rb->rto_ms ? rune_duration_str(rb->rto_ms, a, sizeof a) : "-",
               rb->rpo_ms ? rune_duration_str(rb->rpo_ms, b, sizeof b) : "-");
    if (rb->description)
        printf("\n%s\n", rb->description);
    if (rb->ninputs) {
        printf("\ninputs:\n");
        for (size_t i = 0; i < rb->ninputs; i++) {
            const struct rune_inputdef *in = &rb->inputs[i];
            printf("  %-20s %-9s %s%s%s%s%s\n", in->name, rune_type_name(in->type),
                   in->required ? "(required) " : "", in->def ? "default " : "",
                   in->def && in->def->kind == RUNE_NODE_SCALAR
                       ? (in->secret ? "***" : in->def->str)
                       : "",
                   in->def ? "  " : "", in->description ? in->description : "");
        }
    }
    if (rb->nsecrets) {
        printf("\nsecrets:\n");
        for (size_t i = 0; i < rb->nsecrets; i++)
            printf("  %-20s from %s %s\n", rb->secrets[i].name,
                   rb->secrets[i].env ? "environment" : "file",
                   rb->secrets[i].env ? rb->secrets[i].env : rb->secrets[i].file);
    }
    for (int s = 0; s < RUNE_NSTAGES; s++) {
        const struct rune_stagedef *sd = &rb->stages[s];
        if (!sd->present)
            continue;
        printf("\n%s:\n", rune_stage_names[s]);
        for (size_t i = 0; i < sd->n; i++)
            show_step(sd, &sd->steps[i]);
        if (sd->incident_if)
            printf("  incident_if: %s\n", sd->incident_if->str ? sd->incident_if->str : "...");
        if (sd->severity)
            printf("  severity: %s\n", sd->severity->str ? sd->severity->str : "...");
    }
    rune_runbook_free(rb);
    rune_diags_free(&d);
    return RUNE_EXIT_OK;
}
