/*
 * cmd_resume.h — what `rune resume` adds to rune run's command line
 * (cmd_run.c): checking the incident and getting its runbook and inputs.
 */
#ifndef RUNE_CMD_RESUME_H
#define RUNE_CMD_RESUME_H

#include <jansson.h>

#include "journal.h"
#include "model.h"

/* Checks that incident id of the log at log_path (absolute) is abandoned
 * and can be resumed; loads its runbook (the recorded file, unchanged);
 * adds its recorded inputs to sets under those given again; goes to the
 * run's directory. Returns 0 with *rb and *inc (the incident with its
 * events and "runner_pid"; the caller frees both), or an exit code, the
 * reason printed. */
int cmd_resume_prepare(const char *id, const char *log_path, json_t *sets, struct rune_runbook **rb,
                       json_t **inc);

#endif
