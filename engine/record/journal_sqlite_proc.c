/*
 * journal_sqlite_proc.c — the processes of a run in the SQLite log: the
 * rune running an incident (runners) and the children its steps started
 * (children), for telling an abandoned run from a running one and for
 * finding what a dead run left behind. Not chained: they describe
 * processes, not what the run did.
 *
 * Logs written before these tables existed lack them until a writer opens
 * the log (the schema is applied then); a reader treats a missing table
 * as "nothing recorded".
 */
#include "journal_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "record.h"

/* Prepares sql; 1 (and no error) when a table it names does not exist in
 * this log yet, 0 when prepared, -1 on error. */
static int prepare(struct rune_journal *j, const char *sql, sqlite3_stmt **st, const char *what)
{
    if (sqlite3_prepare_v2(rune_sqlite_db(j), sql, -1, st, NULL) == SQLITE_OK)
        return 0;
    if (strstr(sqlite3_errmsg(rune_sqlite_db(j)), "no such table"))
        return 1;
    return rune_sqlite_fail(j, what);
}

static void copy_col(sqlite3_stmt *st, int i, char *out, size_t len)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, len, "%s", t ? (const char *)t : "");
}

int rune_sqlite_runner(struct rune_journal *j, const char *incident_id, struct rune_runner *out)
{
    static const char sql[] =
        "SELECT r.pid, r.start, i.host, "
        " (SELECT stage FROM events WHERE incident_id = ?1 AND kind = ?2 ORDER BY seq DESC "
        "  LIMIT 1), "
        " (SELECT step FROM events WHERE incident_id = ?1 AND kind = ?2 ORDER BY seq DESC "
        "  LIMIT 1), "
        " (SELECT at FROM events WHERE incident_id = ?1 ORDER BY seq DESC LIMIT 1) "
        "FROM runners r JOIN incidents i ON i.id = r.incident_id WHERE r.incident_id = ?1";
    sqlite3_stmt *st = NULL;
    int rc = prepare(j, sql, &st, "read the rune running an incident");

    if (rc != 0)
        return rc;
    rune_sqlite_bind_text(st, 1, incident_id);
    rune_sqlite_bind_text(st, 2, rune_event_kind_name(RUNE_EV_STEP_START));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->pid = sqlite3_column_int64(st, 0);
        copy_col(st, 1, out->start, sizeof out->start);
        copy_col(st, 2, out->host, sizeof out->host);
        copy_col(st, 3, out->last_stage, sizeof out->last_stage);
        copy_col(st, 4, out->last_step, sizeof out->last_step);
        copy_col(st, 5, out->last_at, sizeof out->last_at);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return 1;
    return rune_sqlite_fail(j, "read the rune running an incident");
}

/* Runs a prepared write with what is bound; 0 or -1. Finalizes st. */
/* Steps a kept statement (one write, committed on its own: committed so
 * a killed rune loses none, not forced to disk: processes do not outlive
 * a power cut) and makes it ready for the next use. */
static int step_write(struct rune_journal *j, sqlite3_stmt *st, bool bound, const char *what)
{
    int rc = bound ? sqlite3_step(st) : SQLITE_ERROR;
    int out = rc == SQLITE_DONE ? 0 : rune_sqlite_fail(j, what);
    rune_sqlite_done(st);
    return out;
}

int rune_sqlite_set_runner(struct rune_journal *j, const char *incident_id, long long pid,
                           const char *start)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO runners (incident_id, pid, start) VALUES (?1, ?2, ?3)";
    const char *what = "record the rune running an incident";
    sqlite3_stmt *st = rune_sqlite_stmt(j, RUNE_SQ_RUNNER, sql);

    if (!st)
        return rune_sqlite_fail(j, what);
    bool bound = !rune_sqlite_bind_text(st, 1, incident_id) && !sqlite3_bind_int64(st, 2, pid) &&
                 !rune_sqlite_bind_text(st, 3, start ? start : "");
    return step_write(j, st, bound, what);
}

static int write_end(struct rune_journal *j, const char *incident_id, long long pid,
                     const char *start, const char *at)
{
    static const char sql[] = "UPDATE children SET ended_at = ?3 WHERE incident_id = ?1 AND "
                              "pid = ?2 AND start IS ?4 AND ended_at IS NULL";
    const char *what = "record the end of a child process";
    sqlite3_stmt *st = rune_sqlite_stmt(j, RUNE_SQ_CHILD_END, sql);

    if (!st)
        return rune_sqlite_fail(j, what);
    bool bound = !rune_sqlite_bind_text(st, 1, incident_id) && !sqlite3_bind_int64(st, 2, pid) &&
                 !rune_sqlite_bind_text(st, 3, at) && !rune_sqlite_bind_text(st, 4, start);
    return step_write(j, st, bound, what);
}

int rune_sqlite_write_ended(struct rune_journal *j)
{
    struct sqlite_journal *s = (struct sqlite_journal *)j;
    int rc = 0;

    for (size_t i = 0; i < s->n_ended && rc == 0; i++) {
        const struct rune_sqlite_ended *e = &s->ended[i];
        rc = write_end(j, e->incident_id, e->pid, e->no_start ? NULL : e->start, e->at);
    }
    s->n_ended = 0;
    return rc;
}

/* Keeps a child's end for the next transaction, or writes it now when it
 * cannot be kept (no memory, or a name longer than the slot). */
static int defer_end(struct rune_journal *j, const char *incident_id, long long pid,
                     const char *start, const char *at)
{
    struct sqlite_journal *s = (struct sqlite_journal *)j;
    struct rune_sqlite_ended *e;

    if (strlen(incident_id) >= sizeof e->incident_id || (start && strlen(start) >= sizeof e->start))
        return write_end(j, incident_id, pid, start, at);
    if (s->n_ended == s->cap_ended) {
        size_t cap = s->cap_ended ? s->cap_ended * 2 : 8;
        struct rune_sqlite_ended *v = realloc(s->ended, cap * sizeof *v);
        if (!v)
            return write_end(j, incident_id, pid, start, at);
        s->ended = v;
        s->cap_ended = cap;
    }
    e = &s->ended[s->n_ended++];
    snprintf(e->incident_id, sizeof e->incident_id, "%s", incident_id);
    snprintf(e->start, sizeof e->start, "%s", start ? start : "");
    e->no_start = !start;
    snprintf(e->at, sizeof e->at, "%s", at);
    e->pid = pid;
    return 0;
}

int rune_sqlite_child(struct rune_journal *j, const char *incident_id, const char *step,
                      int attempt, long long pid, const char *start, const char *program,
                      bool ended)
{
    static const char add[] =
        "INSERT INTO children (incident_id, step, attempt, pid, start, program, started_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    char at[RUNE_ISO_LEN];
    const char *what = "record a child process";

    rune_clock_iso(at, rune_clock_wall_ms());
    /* An end that waits is never wrong: a dead run's children are checked
     * alive by their start time (rune_procinfo_group), a row without its
     * end only costs that look. A simulation writes at once: its batch
     * has its own transactions. */
    if (ended)
        return ((struct sqlite_journal *)j)->lazy ? write_end(j, incident_id, pid, start, at)
                                                  : defer_end(j, incident_id, pid, start, at);
    sqlite3_stmt *st = rune_sqlite_stmt(j, RUNE_SQ_CHILD_ADD, add);
    if (!st)
        return rune_sqlite_fail(j, what);
    bool bound = !rune_sqlite_bind_text(st, 1, incident_id) &&
                 !rune_sqlite_bind_text(st, 2, step) && !sqlite3_bind_int(st, 3, attempt) &&
                 !rune_sqlite_bind_text(st, 6, program) && !sqlite3_bind_int64(st, 4, pid) &&
                 !rune_sqlite_bind_text(st, 5, start) && !rune_sqlite_bind_text(st, 7, at);
    return step_write(j, st, bound, what);
}

json_t *rune_sqlite_children(struct rune_journal *j, const char *incident_id)
{
    static const char sql[] = "SELECT step, attempt, pid, start, program, started_at FROM "
                              "children WHERE incident_id = ?1 AND ended_at IS NULL ORDER BY rowid";
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array();
    int rc = prepare(j, sql, &st, "read the children of an incident");

    if (rc != 0 || !arr) {
        if (rc < 0 || !arr) {
            json_decref(arr);
            return NULL;
        }
        return arr; /* no table yet: none recorded */
    }
    rune_sqlite_bind_text(st, 1, incident_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arr, json_pack("{s:s?, s:I, s:I, s:s?, s:s?, s:s?}", "step",
                                             (const char *)sqlite3_column_text(st, 0), "attempt",
                                             (json_int_t)sqlite3_column_int64(st, 1), "pid",
                                             (json_int_t)sqlite3_column_int64(st, 2), "start",
                                             (const char *)sqlite3_column_text(st, 3), "program",
                                             (const char *)sqlite3_column_text(st, 4), "started_at",
                                             (const char *)sqlite3_column_text(st, 5)));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        rune_sqlite_fail(j, "read the children of an incident");
        return NULL;
    }
    return arr;
}
