/*
 * main.c — rune's entry point: the one table of subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "exitcode.h"
#include "redact.h"

static const struct rune_cmdinfo commands[] = {
    {"run", cmd_run, "run a runbook end to end (rune run RUNBOOK [--set k=v]... [--yes])"},
    {"plan", cmd_plan, "simulate a run: what would happen, nothing changed (rune plan RUNBOOK)"},
    {"resume", cmd_resume, "continue a run whose rune died (rune resume ID [--yes])"},
    {"validate", cmd_validate, "check runbooks without running anything (rune validate FILE...)"},
    {"new", cmd_new, "write a runbook skeleton that validates (rune new NAME [--from KIND])"},
    {"test", cmd_test, "run runbook tests: scenarios in NAME.test.yaml (rune test [FILE|DIR])"},
    {"list", cmd_list, "list the runbooks on the search path"},
    {"show", cmd_show, "describe a runbook: inputs, stages, steps"},
    {"graph", cmd_graph, "draw a runbook: stages, steps, needs, rollback (dot or mermaid)"},
    {"steps", cmd_steps, "list the step types, or describe one (rune steps [TYPE])"},
    {"schema", cmd_schema, "print the runbook JSON Schema, for editors and CI (rune schema)"},
    {"log", cmd_log,
     "list incidents; show, verify or export one (rune log [show|verify|export ID])"},
    {"report", cmd_report, "an incident's report: Markdown, HTML or JSON (rune report ID)"},
    {"version", cmd_version, "print the version"},
};

#define NCMDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: rune COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < NCMDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`rune COMMAND --help` for a command's options; docs/cli.md for the rest.\n");
}

int cmd_version(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--help")) {
        printf("usage: rune version\n  prints rune VERSION (also: rune --version)\n");
        return RUNE_EXIT_OK;
    }
    printf("rune %s\n", RUNE_VERSION);
    return RUNE_EXIT_OK;
}

int main(int argc, char **argv)
{
    /* before anything is read: the environment rune was started with may
     * already hold secrets, and a core file would keep them */
    rune_redact_no_core();
    if (argc < 2) {
        usage(stderr);
        return RUNE_EXIT_INVALID;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") && argc == 3 && !strcmp(argv[2], "--man")) {
        rune_man_write(stdout, commands, NCMDS); /* the build writes rune.1 so */
        return RUNE_EXIT_OK;
    }
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return RUNE_EXIT_OK;
    }
    if (!strcmp(name, "--version"))
        return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < NCMDS; i++)
        if (!strcmp(commands[i].name, name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "rune: unknown command \"%s\"\n\n", name);
    usage(stderr);
    return RUNE_EXIT_INVALID;
}
