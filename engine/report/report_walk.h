/*
 * report_walk.h — the incident's events walked into the parts of its
 * report (report_walk.c); report.c builds the report object from them.
 */
#ifndef RUNE_REPORT_WALK_H
#define RUNE_REPORT_WALK_H

#include <jansson.h>

/* What the walk collects; every json_t here is owned by the walk, the
 * strings are borrowed from the events walked. */
struct rune_report_walk {
    json_t *stages;     /* [{stage, status, start, end, duration_ms, reason, steps}] */
    json_t *open;       /* "stage/step#attempt" → its attempt object (borrowed from stages) */
    json_t *counts;     /* "stage/step" → attempts started */
    json_t *approvals;  /* report's approvals */
    json_t *failures;   /* report's failures */
    json_t *verify;     /* report's verification */
    json_t *artifacts;  /* report's artifacts */
    json_t *notes;      /* report's notes */
    json_t *findings;   /* report's findings */
    json_t *points;     /* recovery_point candidates: {stage, step, uses, at, ms, restore} */
    json_t *throughput; /* report's throughput: attempts that reported progress or a size */
    json_t *resumes;    /* incident.resume events: [{at, who, after, gap_ms, ...}] */
    json_t
        *restores; /* successful restore steps: [{stage, step, uses, at, path, recovery_point}] */
    json_t *postmortem; /* rune log note's, newest wins: {root_cause, contributing, impact, actions,
                           participants, notes, history} */
    json_t *files;      /* path → what the log says of that file: {bytes, sha256, verified,
                           recovery_point} */
    const char *end_reason;                /* the incident.end's reason, or NULL */
    const char *decision;                  /* the incident.decision status, or NULL */
    const char *detected_at, *detected_by; /* when the outage began, as given; or NULL */
};

/* Walks an incident's events (rune_journal_get's `events`, in seq order)
 * and its artifact rows (`artifacts`) into w. Free with
 * rune_report_walk_free (also after a zeroed w). */
void rune_report_walk(struct rune_report_walk *w, json_t *events, json_t *artifact_rows);
void rune_report_walk_free(struct rune_report_walk *w);

#endif
