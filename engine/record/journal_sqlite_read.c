/*
 * journal_sqlite_read.c — reading the SQLite incident log: incidents with
 * filters, one incident with its events and artifacts as of one moment,
 * the rows verification recomputes the chain from, and the throughput a
 * dry-run estimates with (a step's own history: journal_sqlite_history.c).
 * The connection is journal_sqlite.c's.
 *
 * Every read of more than one statement runs in one read transaction, so
 * it sees one moment even while a run in another process appends.
 */
#include "journal_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

/* ---- Reading ---- */

/* A result row as an object keyed by column name; "x_json" columns become
 * "x" holding the parsed value. NULL on out of memory. */
static json_t *row_json(sqlite3_stmt *st)
{
    json_t *o = json_object();
    int n = sqlite3_column_count(st);

    for (int i = 0; o && i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        size_t nlen = strlen(name);
        const char *text = (const char *)sqlite3_column_text(st, i);
        json_t *v;

        if (nlen > 5 && strcmp(name + nlen - 5, "_json") == 0) {
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)(nlen - 5), name);
            v = text ? json_loads(text, RUNE_JOURNAL_LOAD_FLAGS, NULL) : json_null();
            if (!v) /* not ours, or damaged: show it as it is */
                v = json_string(text);
            json_object_set_new(o, key, v ? v : json_null());
            continue;
        }
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            v = json_integer(sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            v = json_real(sqlite3_column_double(st, i));
            break;
        case SQLITE_TEXT:
            v = json_stringn(text, (size_t)sqlite3_column_bytes(st, i));
            break;
        default:
            v = NULL;
        }
        json_object_set_new(o, name, v ? v : json_null());
    }
    return o;
}

/* All rows of a prepared statement as an array; NULL (error in j) on
 * failure. Finalizes st. */
static json_t *rows_json(struct rune_journal *j, sqlite3_stmt *st, const char *what)
{
    json_t *arr = json_array();
    int rc = SQLITE_DONE;

    while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (json_array_append_new(arr, row_json(st)) != 0) {
            json_decref(arr);
            arr = NULL;
            rune_journal_fail(j,
                              "cannot %s in incident log %s: no memory for the rows; free "
                              "memory on this host and run the command again",
                              what, j->path);
        }
    }
    if (arr && rc != SQLITE_DONE) {
        rune_sqlite_fail(j, what);
        json_decref(arr);
        arr = NULL;
    }
    sqlite3_finalize(st);
    return arr;
}

json_t *rune_sqlite_find(struct rune_journal *j, const struct rune_journal_filter *f)
{
    static const char sql[] =
        "SELECT " RUNE_SQLITE_INCIDENT_COLS " FROM incidents "
        "WHERE (?1 IS NULL OR runbook = ?1) "
        "AND (?2 IS NULL OR outcome = ?2 OR (?2 = 'unfinished' AND outcome IS NULL)) "
        "AND (?3 IS NULL OR started_at >= ?3) "
        "ORDER BY started_at DESC, id DESC LIMIT ?4";
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(rune_sqlite_db(j), sql, -1, &st, NULL) != SQLITE_OK) {
        rune_sqlite_fail(j, "list incidents");
        return NULL;
    }
    rune_sqlite_bind_text(st, 1, f->runbook);
    rune_sqlite_bind_text(st, 2, f->outcome);
    rune_sqlite_bind_text(st, 3, f->since);
    sqlite3_bind_int(st, 4, f->limit > 0 ? f->limit : -1);
    return rows_json(j, st, "list incidents");
}

/* The incident's row, or NULL: unknown (err empty) or failure (err set). */
static json_t *incident_row(struct rune_journal *j, const char *incident_id)
{
    static const char sql[] = "SELECT " RUNE_SQLITE_INCIDENT_COLS " FROM incidents WHERE id = ?1";
    sqlite3_stmt *st = NULL;
    json_t *o = NULL;
    int rc;

    if (sqlite3_prepare_v2(rune_sqlite_db(j), sql, -1, &st, NULL) != SQLITE_OK) {
        rune_sqlite_fail(j, "read the incident");
        return NULL;
    }
    rune_sqlite_bind_text(st, 1, incident_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        o = row_json(st);
    else if (rc != SQLITE_DONE)
        rune_sqlite_fail(j, "read the incident");
    sqlite3_finalize(st);
    return o;
}

/* Adds the rows of `sql` (bound to the incident id) to o as member key. */
static int add_rows(struct rune_journal *j, json_t *o, const char *key, const char *sql,
                    const char *incident_id)
{
    sqlite3_stmt *st = NULL;
    char what[64];
    json_t *arr;

    snprintf(what, sizeof what, "read the %s", key);
    if (sqlite3_prepare_v2(rune_sqlite_db(j), sql, -1, &st, NULL) != SQLITE_OK)
        return rune_sqlite_fail(j, what);
    rune_sqlite_bind_text(st, 1, incident_id);
    arr = rows_json(j, st, what);
    if (!arr)
        return -1;
    return json_object_set_new(o, key, arr) == 0
               ? 0
               : rune_journal_fail(j,
                                   "no memory to %s of incident %s in %s; free memory on this "
                                   "host and run the command again",
                                   what, incident_id, j->path);
}

json_t *rune_sqlite_get(struct rune_journal *j, const char *incident_id)
{
    static const char events[] = "SELECT " RUNE_SQLITE_EVENT_COLS " FROM events "
                                 "WHERE incident_id = ?1 ORDER BY seq";
    static const char artifacts[] = "SELECT step, path, sha256, bytes, kind FROM artifacts "
                                    "WHERE incident_id = ?1 ORDER BY rowid";
    json_t *o = NULL;

    /* One read transaction: the incident and its events as of one moment,
     * even while a run in another process is still appending. */
    if (rune_sqlite_exec(j, "BEGIN", "start a read transaction") != 0)
        return NULL;
    o = incident_row(j, incident_id);
    if (o && (add_rows(j, o, "events", events, incident_id) != 0 ||
              add_rows(j, o, "artifacts", artifacts, incident_id) != 0)) {
        json_decref(o);
        o = NULL;
    }
    sqlite3_exec(rune_sqlite_db(j), "COMMIT", NULL, NULL, NULL);
    return o;
}

/* ---- What verification reads ---- */

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

/* Every event of the incident in seq order, inside the caller's read
 * transaction. Returns 0 with *out (rune_chain_rows_free), or -1. */
static int event_rows(struct rune_journal *j, const char *incident_id, struct rune_chain_row **out,
                      size_t *n)
{
    static const char sql[] = "SELECT " RUNE_SQLITE_EVENT_COLS " FROM events "
                              "WHERE incident_id = ?1 ORDER BY seq";
    sqlite3_stmt *st = NULL;
    struct rune_chain_row *rows = NULL;
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(rune_sqlite_db(j), sql, -1, &st, NULL) != SQLITE_OK)
        return rune_sqlite_fail(j, "read the events");
    rune_sqlite_bind_text(st, 1, incident_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct rune_chain_row *nr = realloc(rows, ncap * sizeof *nr);
            if (!nr) {
                rune_chain_rows_free(rows, *n);
                *n = 0;
                sqlite3_finalize(st);
                return rune_journal_fail(j,
                                         "cannot verify incident %s: no memory for its events; "
                                         "free memory on this host and run rune log verify "
                                         "again",
                                         incident_id);
            }
            rows = nr;
            cap = ncap;
        }
        struct rune_chain_row *r = &rows[(*n)++];
        r->seq = sqlite3_column_int64(st, 0);
        r->at = col_dup(st, 1);
        r->stage = col_dup(st, 2);
        r->step = col_dup(st, 3);
        r->attempt = sqlite3_column_int64(st, 4);
        r->kind = col_dup(st, 5);
        r->status = col_dup(st, 6);
        r->duration_ms =
            sqlite3_column_type(st, 7) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 7);
        r->detail = col_dup(st, 8);
        r->prev = col_dup(st, 9);
        r->hash = col_dup(st, 10);
    }
    sqlite3_finalize(st);
    *out = rows;
    if (rc != SQLITE_DONE) {
        rune_chain_rows_free(rows, *n);
        *out = NULL;
        *n = 0;
        return rune_sqlite_fail(j, "read the events");
    }
    return 0;
}

int rune_sqlite_chain_rows(struct rune_journal *j, const char *incident_id, json_t **inc,
                           struct rune_chain_row **rows, size_t *n)
{
    int rc = -1;

    *inc = NULL;
    *rows = NULL;
    *n = 0;
    if (rune_sqlite_exec(j, "BEGIN", "start a read transaction") != 0)
        return -1;
    *inc = incident_row(j, incident_id);
    if (!*inc)
        rc = j->err[0] ? -1 : 0;
    else
        rc = event_rows(j, incident_id, rows, n);
    sqlite3_exec(rune_sqlite_db(j), "COMMIT", NULL, NULL, NULL);
    if (rc != 0) {
        json_decref(*inc);
        *inc = NULL;
    }
    return rc;
}

/* ---- The chain across incidents ---- */

/* Runs sql (parameters: ?1 text, ?2 integer) and copies the first row's
 * text column 0 into out and integers of columns 1, 2 into a, b (each may
 * be NULL). 1 when there is a row, 0 when none, -1 on error. */
static int first_row(struct rune_journal *j, const char *sql, const char *text, long long num,
                     char *out, size_t outlen, long long *a, long long *b)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(rune_sqlite_db(j), sql, -1, &st, NULL) != SQLITE_OK)
        return rune_sqlite_fail(j, "read the links between incidents");
    if (sqlite3_bind_parameter_count(st) >= 1)
        rune_sqlite_bind_text(st, 1, text);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, num);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (out)
            snprintf(out, outlen, "%s", t ? (const char *)t : "");
        if (a)
            *a = sqlite3_column_int64(st, 1);
        if (b)
            *b = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return rune_sqlite_fail(j, "read the links between incidents");
    return rc == SQLITE_ROW;
}

int rune_sqlite_link(struct rune_journal *j, const char *incident_id, struct rune_chain_link *out)
{
    static const char first[] =
        "SELECT prev_hash, rowid FROM events WHERE incident_id = ?1 AND seq = 1";
    static const char before[] = "SELECT incident_id, 0, rowid FROM events WHERE seq = 1 AND "
                                 "rowid < ?2 ORDER BY rowid DESC LIMIT 1";
    /* where an intact link points: an event of the incident begun just
     * before (its last one then), found through the primary key */
    static const char near[] =
        "SELECT incident_id, seq, rowid FROM events WHERE incident_id = (SELECT incident_id "
        "FROM events WHERE rowid = ?2) AND hash = ?1 LIMIT 1";
    /* anywhere else: a whole scan, paid only by a chain already broken
     * (the log keeps no index of hashes: see schemas/incident-log.sql) */
    static const char target[] =
        "SELECT incident_id, seq, rowid FROM events WHERE hash = ?1 ORDER BY rowid LIMIT 1";
    static const char linked[] = "SELECT 'x' WHERE EXISTS (SELECT 1 FROM events WHERE seq = 1 AND "
                                 "rowid < ?2 AND prev_hash <> ?1)";
    long long row = 0, trow = 0, brow = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (rune_sqlite_exec(j, "BEGIN", "start a read transaction") != 0)
        return -1;
    rc = first_row(j, first, incident_id, 0, out->prev, sizeof out->prev, &row, NULL);
    if (rc == 1)
        rc = first_row(j, before, NULL, row, out->before, sizeof out->before, NULL, &brow);
    /* (64 zeros name no event: the first incident's link, or one written
     * before incidents were linked) */
    bool named = out->prev[0] && strcmp(out->prev, RUNE_ZERO_HASH) != 0;
    if (rc >= 0 && named && brow > 0)
        rc = first_row(j, near, out->prev, brow, out->target, sizeof out->target, &out->target_seq,
                       &trow);
    if (rc >= 0 && named && !out->target[0])
        rc = first_row(j, target, out->prev, 0, out->target, sizeof out->target, &out->target_seq,
                       &trow);
    if (rc >= 0 && out->prev[0]) {
        char x[4] = "";
        rc = first_row(j, linked, RUNE_ZERO_HASH, row, x, sizeof x, NULL, NULL);
        out->linked_before = rc == 1;
    }
    out->target_later = out->target[0] && trow > row;
    sqlite3_exec(rune_sqlite_db(j), "COMMIT", NULL, NULL, NULL);
    return rc < 0 ? -1 : 0;
}

int rune_sqlite_head(struct rune_journal *j, const char *hash, struct rune_log_head *out)
{
    static const char last[] =
        "SELECT incident_id, seq, hash, at FROM events WHERE incident_id = (SELECT incident_id "
        "FROM events WHERE seq = 1 ORDER BY rowid DESC LIMIT 1) ORDER BY seq DESC LIMIT 1";
    static const char named[] =
        "SELECT incident_id, seq, hash, at FROM events WHERE hash = ?1 ORDER BY rowid LIMIT 1";
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(rune_sqlite_db(j), hash ? named : last, -1, &st, NULL) != SQLITE_OK)
        return rune_sqlite_fail(j, "read the head of the log");
    if (hash)
        rune_sqlite_bind_text(st, 1, hash);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *c0 = sqlite3_column_text(st, 0), *c2 = sqlite3_column_text(st, 2),
                            *c3 = sqlite3_column_text(st, 3);
        snprintf(out->incident, sizeof out->incident, "%s", c0 ? (const char *)c0 : "");
        out->seq = sqlite3_column_int64(st, 1);
        snprintf(out->hash, sizeof out->hash, "%s", c2 ? (const char *)c2 : "");
        snprintf(out->at, sizeof out->at, "%s", c3 ? (const char *)c3 : "");
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return rune_sqlite_fail(j, "read the head of the log");
    return rc == SQLITE_ROW ? 0 : 1;
}

/* ---- History for dry-runs: what real runs of a step did (steps: journal_sqlite_history.c) ---- */

/* The measured work of successful real step.end and call.end events of
 * one step type on one host (the names from the record layer's table).
 * A log with no `work` members reads as no history: nothing else changes. */
json_t *rune_sqlite_work(struct rune_journal *j, const char *uses, const char *host,
                         const char *unit, int limit)
{
    static const char sql[] =
        "SELECT json_extract(w, '$.size'), d FROM ("
        "  SELECT CASE WHEN json_valid(e.detail_json) "
        "         THEN json_extract(e.detail_json, '$.work') END AS w, "
        "         e.duration_ms AS d, e.at AS at, e.rowid AS r "
        "  FROM events e JOIN incidents i ON i.id = e.incident_id "
        "  WHERE i.mode = 'run' AND i.host IS ?2 AND e.kind IN (?4, ?5) AND e.status = ?6 "
        "  AND e.duration_ms IS NOT NULL) "
        "WHERE json_valid(w) AND json_extract(w, '$.uses') = ?1 "
        "AND json_extract(w, '$.unit') = ?3 ORDER BY at DESC, r DESC LIMIT ?7";
    json_t *out = json_array();
    sqlite3_stmt *st = rune_sqlite_stmt(j, RUNE_SQ_WORK, sql);

    if (st) {
        sqlite3_bind_text(st, 1, uses, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, host, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, unit, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, rune_event_kind_name(RUNE_EV_STEP_END), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, rune_event_kind_name(RUNE_EV_CALL_END), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, rune_event_status_name(RUNE_ST_OK), -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 7, limit);
        while (sqlite3_step(st) == SQLITE_ROW)
            if (sqlite3_column_type(st, 0) == SQLITE_INTEGER)
                json_array_append_new(out,
                                      json_pack("[I, I]", (json_int_t)sqlite3_column_int64(st, 0),
                                                (json_int_t)sqlite3_column_int64(st, 1)));
        rune_sqlite_done(st);
    }
    return out;
}
