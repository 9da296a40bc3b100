/*
 * cmd_log.h — what the files of `rune log` share: cmd_log.c (the list,
 * show, the command line) and cmd_log_chain.c (verify, export, head).
 * Only they include it.
 */
#ifndef RUNE_CMD_LOG_H
#define RUNE_CMD_LOG_H

#include <jansson.h>
#include <stdbool.h>

#include "clock.h"
#include "journal.h"

struct log_opts {
    const char *log;
    struct rune_journal_filter filter; /* the list's --runbook, --outcome, --since, --limit */
    char since[RUNE_ISO_LEN];          /* --since resolved to a UTC time */
    bool json;
    bool all; /* verify --all */
};

/* Writes s on one line, control characters shown as '?'. */
void cmd_log_put_clean(const char *s);
/* Prints v as indented JSON; what names it for the message when it
 * cannot be. An exit code. */
int cmd_log_print_json(json_t *v, const char *what);

/* The subcommands: an exit code each. */
int cmd_log_show(struct rune_journal *j, const char *id, const struct log_opts *o);
int cmd_log_verify(struct rune_journal *j, const char *id, const struct log_opts *o);
int cmd_log_export(struct rune_journal *j, const char *id, const struct log_opts *o);
int cmd_log_head(struct rune_journal *j, const char *id, const struct log_opts *o);
/* rune log note ID [flags] (cmd_log_note.c): argv[0] is "note". */
int cmd_log_note(int argc, char **argv);
/* rune log locks [flags] (cmd_log_locks.c): argv[0] is "locks". */
int cmd_log_locks(int argc, char **argv);
/* Under `rune log`'s list: the locks held in a shared log at path
 * (nothing for a log in a file, or when none is held). */
void cmd_log_locks_section(const char *path);
/* rune log push [--log URL] [--from LOCAL] (cmd_log_push.c): argv[0] is "push". */
int cmd_log_push(int argc, char **argv);

#endif
