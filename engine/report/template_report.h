/*
 * template_report.h — a report rendered through a template
 * (template_report.c): one of the templates bundled in the binary
 * (the .md files in engine/report/templates) or a team's own file, over the report
 * object `rune report --format json` prints.
 */
#ifndef RUNE_TEMPLATE_REPORT_H
#define RUNE_TEMPLATE_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The bundled templates, one table (ends with {0}). */
struct rune_report_template {
    const char *name;
    const char *summary;
    const char *text; /* Markdown */
};
extern const struct rune_report_template rune_report_templates[];

/* The largest template file read (bytes). */
#define RUNE_REPORT_TEMPLATE_FILE_MAX (256 * 1024)

/* Renders rep through which: a bundled template's name, or a file (any
 * argument with a '/' or a '.'). format: "md" or "html", or NULL to decide
 * by the file's extension (.html or .htm: HTML; anything else and the
 * bundled ones: Markdown). *html tells which it was. Returns malloc'd
 * text, or NULL with err saying what went wrong and what to do. */
char *rune_report_templated(json_t *rep, const char *which, const char *format, bool *html,
                            char *err, size_t errlen);

/* Whether which names a file rather than a bundled template. */
bool rune_report_template_is_file(const char *which);

/* The end of every run (run.c): the standard report (rune_report_after_run)
 * and, when the runbook's report.template (tpl) or $RUNE_REPORT_TEMPLATE
 * names one, the report through that template beside it, as
 * dir/<id>.<template>.md (or .html). A relative file in tpl is the
 * runbook's (runbook_path's directory). Told on the console; a template
 * that cannot be used is a warning, never a change of the exit code. */
struct rune_journal;
struct rune_console;
void rune_report_after_run_templated(struct rune_journal *j, const char *incident_id,
                                     const char *dir, const char *tpl, const char *runbook_path,
                                     struct rune_console *con);

#endif
