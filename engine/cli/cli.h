/*
 * cli.h — the subcommands. Each is `int cmd_<name>(int argc, char **argv)`
 * in its own file (argv[0] is the subcommand's name), parses its own flags
 * with getopt_long, and returns the process exit code (see exitcode.h).
 * main.c holds the one table that maps names to these functions.
 */
#ifndef RUNE_CLI_H
#define RUNE_CLI_H

int cmd_run(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_steps(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_version(int argc, char **argv);

#endif
