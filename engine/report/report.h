/*
 * report.h — incident reports, generated only from the incident log.
 *
 * rune_report_build reads one incident and its events and makes one JSON
 * object (schemas/report.schema.json); every format is rendered from that
 * object alone (report_md.c, report_html.c, or the JSON itself), so the
 * formats cannot disagree with each other or with the log. Nothing here
 * reads the runbook, the steps' files or the clock.
 */
#ifndef RUNE_REPORT_H
#define RUNE_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "journal.h"

/* Bumped when a member changes meaning or goes away (new members may be
 * added without a bump). */
#define RUNE_REPORT_VERSION 1

/* Builds the report of incident_id. Returns 0 with *out (caller owns it),
 * RUNE_JOURNAL_UNKNOWN when the log has no such incident, or -1; err says
 * why for a person. */
int rune_report_build(struct rune_journal *j, const char *incident_id, json_t **out, char *err,
                      size_t errlen);

/* The formats, one table: name, what it is, and its renderer, which
 * returns malloc'd text (NULL when out of memory). A binary format made by
 * another program (pdf) has no render but a write: the report to the file
 * out (NULL or "-": standard output). It returns 0; -1 when it could not,
 * -2 when refused as asked (binary to a terminal), with err for a person. */
struct rune_report_format {
    const char *name;
    const char *summary;
    char *(*render)(json_t *report);
    int (*write)(json_t *report, const char *out, char *err, size_t errlen);
};
extern const struct rune_report_format rune_report_formats[]; /* ends with {0} */
const struct rune_report_format *rune_report_format(const char *name);

char *rune_report_md(json_t *report);
char *rune_report_html(json_t *report);
char *rune_report_json(json_t *report);
/* The HTML report printed to PDF by headless Chromium (report_pdf.c). */
int rune_report_pdf(json_t *report, const char *out, char *err, size_t errlen);

/* Where automatic reports go: flag (--reports) if given, else
 * $RUNE_REPORTS, else a `reports` directory beside the incident log.
 * Writes into buf; returns buf ("" when it does not fit). */
const char *rune_report_dir(const char *flag, const char *log_path, char *buf, size_t len);

/* Writes text to path whole or not at all (a temporary file renamed over
 * it), mode 0600. Returns 0, or -1 with a message in err. */
int rune_report_save(const char *path, const char *text, char *err, size_t errlen);
/* The same for len bytes that may hold NULs (a PDF). */
int rune_report_save_bytes(const char *path, const char *data, size_t len, char *err,
                           size_t errlen);

/* The end of every run and plan: the Markdown report of incident_id into
 * dir/<incident_id>.md (dir and its parents made 0700 when missing). The
 * file's path goes into path. Returns 0, or -1 with a message in err. */
int rune_report_write_auto(struct rune_journal *j, const char *incident_id, const char *dir,
                           char *path, size_t pathlen, char *err, size_t errlen);

/* The one call at the end of a run or plan (run.c): the automatic report
 * into dir, its path (or why there is none) told on the console. dir NULL
 * (--no-report): nothing. A report that cannot be written is a warning,
 * never a change of the run's exit code. */
struct rune_console;
void rune_report_after_run(struct rune_journal *j, const char *incident_id, const char *dir,
                           struct rune_console *con);

/* ---- For the renderers ---- */

/* A member's string value, or NULL. */
const char *rune_report_str(json_t *o, const char *key);
/* ISO-8601 UTC ("2026-11-23T12:15:24.101Z"; fractions and "+00:00" are
 * accepted) to wall-clock ms, or -1 when s is not one. */
long long rune_report_iso_ms(const char *s);
/* An attempt's status for people: "ok", "failed", ..., "ok (simulated)",
 * "unfinished" when no end was recorded. */
const char *rune_report_status(json_t *attempt);
/* "12m30s" for ms, "-" for a JSON null. */
const char *rune_report_duration(json_t *ms, char *buf, size_t len);

#endif
