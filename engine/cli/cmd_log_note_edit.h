/*
 * cmd_log_note_edit.h — `rune log note ID --edit` and `--file FORM`
 * (cmd_log_note_edit.c), called by cmd_log_note.c once the incident is
 * known to have ended.
 */
#ifndef RUNE_CMD_LOG_NOTE_EDIT_H
#define RUNE_CMD_LOG_NOTE_EDIT_H

#include "journal.h"

/* The notes of incident id as a YAML form: in $EDITOR (file NULL), or
 * read from file; what changed recorded as one note by author. An exit
 * code; messages printed. */
int cmd_log_note_edit(struct rune_journal *j, const char *id, const char *author, const char *file);

#endif
