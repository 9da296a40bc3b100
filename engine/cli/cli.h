/*
 * cli.h — the subcommands. Each is `int cmd_<name>(int argc, char **argv)`
 * in its own file (argv[0] is the subcommand's name), parses its own flags
 * with getopt_long, and returns the process exit code (see exitcode.h).
 * main.c holds the one table that maps names to these functions.
 */
#ifndef RUNE_CLI_H
#define RUNE_CLI_H

#include <stddef.h>
#include <stdio.h>

int cmd_run(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_steps(int argc, char **argv);
int cmd_schema(int argc, char **argv);
int cmd_new(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_version(int argc, char **argv);

/* One subcommand: main.c's table holds them (the man page reads it). */
struct rune_cmdinfo {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

/* rune(1) in roff, from the table and each command's --help (man.c). */
void rune_man_write(FILE *out, const struct rune_cmdinfo *cmds, size_t n);

#endif
