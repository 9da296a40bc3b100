/*
 * journal_sqlite_history.c — what real runs of a runbook's steps did, for
 * a dry-run: the outputs of a step's last successful real run (its
 * simulated outputs) and the durations of its recent ones (its estimate).
 *
 * A plan asks both for every step. Asked one step at a time, each
 * question walked every real run of the runbook again: a 1,000-step plan
 * spent a quarter of its time there, more with every run kept. So the
 * first question about a runbook reads its whole history in one query,
 * and the rest are answered from memory. What this connection then
 * records in a real run drops that copy (the next question reads again);
 * what a simulation records is not history (mode dry-run) and keeps it.
 */
#include "journal_sqlite.h"

#include <stdlib.h>
#include <string.h>

#include "record.h"

/* Durations kept per step in memory; a caller asking for more reads the
 * log (none does: rune plan asks for 20). */
#define KEEP_DURATIONS 64

/* The successful real step.end events of a runbook, newest first: the
 * names come from the record layer's table, bound as ?2 and ?3. */
#define OK_STEP_ENDS                                                                               \
    "FROM events e JOIN incidents i ON i.id = e.incident_id "                                      \
    "WHERE i.runbook = ?1 AND i.mode = 'run' AND e.kind = ?2 AND e.status = ?3 "

static void bind_ends(sqlite3_stmt *st, const char *runbook)
{
    sqlite3_bind_text(st, 1, runbook, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rune_event_kind_name(RUNE_EV_STEP_END), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rune_event_status_name(RUNE_ST_OK), -1, SQLITE_STATIC);
}

void rune_sqlite_history_drop(struct rune_journal *j)
{
    struct sqlite_journal *s = (struct sqlite_journal *)j;

    free(s->hist_runbook);
    s->hist_runbook = NULL;
    json_decref(s->hist);
    s->hist = NULL;
}

/* One step's entry: {"outputs": text of its newest end's outputs or null,
 * "durations": [its newest KEEP_DURATIONS durations]}. */
static void add_row(json_t *hist, sqlite3_stmt *st)
{
    const char *step = (const char *)sqlite3_column_text(st, 0);
    if (!step)
        return;
    json_t *e = json_object_get(hist, step);
    if (!e) {
        /* the newest end of the step: its outputs, as the text stored */
        const char *out = (const char *)sqlite3_column_text(st, 2);
        e = json_pack("{s:o, s:[]}", "outputs", out ? json_string(out) : json_null(), "durations");
        if (!e || json_object_set_new(hist, step, e) != 0)
            return;
    }
    json_t *d = json_object_get(e, "durations");
    if (sqlite3_column_type(st, 1) != SQLITE_NULL && json_array_size(d) < KEEP_DURATIONS)
        json_array_append_new(d, json_integer(sqlite3_column_int64(st, 1)));
}

/* The runbook's history, read once (see the top). NULL when it cannot be
 * read: the caller then knows nothing, as before. */
static json_t *history(struct rune_journal *j, const char *runbook)
{
    static const char sql[] = "SELECT e.step, e.duration_ms, json_extract(e.detail_json, "
                              "'$.outputs') " OK_STEP_ENDS "ORDER BY e.at DESC, e.rowid DESC";
    struct sqlite_journal *s = (struct sqlite_journal *)j;

    if (s->hist && !strcmp(s->hist_runbook, runbook))
        return s->hist;
    rune_sqlite_history_drop(j);
    sqlite3_stmt *st = rune_sqlite_stmt(j, RUNE_SQ_HISTORY, sql);
    if (!st)
        return NULL;
    json_t *hist = json_object();
    bind_ends(st, runbook);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        add_row(hist, st);
    rune_sqlite_done(st);
    if (rc != SQLITE_DONE || !(s->hist_runbook = strdup(runbook))) {
        json_decref(hist);
        return NULL;
    }
    s->hist = hist;
    return hist;
}

json_t *rune_sqlite_last_outputs(struct rune_journal *j, const char *runbook, const char *step)
{
    json_t *e = json_object_get(history(j, runbook), step);
    const char *text = json_string_value(json_object_get(e, "outputs"));
    return text ? json_loads(text, 0, NULL) : NULL;
}

json_t *rune_sqlite_durations(struct rune_journal *j, const char *runbook, const char *step,
                              int limit)
{
    static const char sql[] =
        "SELECT e.duration_ms " OK_STEP_ENDS "AND e.step = ?4 AND e.duration_ms IS NOT NULL "
        "ORDER BY e.at DESC, e.rowid DESC LIMIT ?5";
    json_t *out = json_array();

    if (limit <= KEEP_DURATIONS) {
        json_t *d = json_object_get(json_object_get(history(j, runbook), step), "durations");
        for (size_t i = 0; i < json_array_size(d) && (int)i < limit; i++)
            json_array_append(out, json_array_get(d, i));
        return out;
    }
    sqlite3_stmt *st = rune_sqlite_stmt(j, RUNE_SQ_DURATIONS, sql);
    if (st) {
        bind_ends(st, runbook);
        sqlite3_bind_text(st, 4, step, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, limit);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(out, json_integer(sqlite3_column_int64(st, 0)));
        rune_sqlite_done(st);
    }
    return out;
}
