/*
 * journal_pg_read.c — reading the incident log on PostgreSQL: incidents
 * with filters, one incident with its events and artifacts, the rows
 * verification recomputes the chain from, the links between incidents,
 * the head, a runbook's history for dry-runs, and the processes of a run.
 * The connection is journal_pg.c's.
 *
 * A read of more than one statement runs in one REPEATABLE READ READ ONLY
 * transaction, so it sees one moment while other hosts append. JSON
 * details are taken apart here with jansson, not by the server: a row
 * edited into invalid JSON must read as "no history", not fail the plan.
 */
#include "journal_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

/* Type oids of the integer columns (pg_type.h is server-side). */
#define OID_INT8 20
#define OID_INT4 23

static int snapshot(struct rune_journal *j)
{
    return rune_jpg_cmd(j, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
                        "start a read transaction");
}

static void end_snapshot(struct rune_journal *j)
{
    PQclear(PQexec(rune_jpg_conn(j), "COMMIT"));
}

/* Row i as an object keyed by column name, as the SQLite log reads it:
 * integers as integers, "x_json" columns as "x" holding the parsed value. */
static json_t *row_json(const PGresult *res, int i)
{
    json_t *o = json_object();
    int n = PQnfields(res);

    for (int c = 0; o && c < n; c++) {
        const char *name = PQfname(res, c);
        size_t nlen = strlen(name);
        const char *text = rune_jpg_get(res, i, c);
        json_t *v;

        if (nlen > 5 && strcmp(name + nlen - 5, "_json") == 0) {
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)(nlen - 5), name);
            v = text ? json_loads(text, RUNE_JOURNAL_LOAD_FLAGS, NULL) : json_null();
            if (!v)
                v = json_string(text);
            json_object_set_new(o, key, v ? v : json_null());
            continue;
        }
        Oid t = PQftype(res, c);
        if (!text)
            v = json_null();
        else if (t == OID_INT8 || t == OID_INT4)
            v = json_integer(atoll(text));
        else
            v = json_string(text);
        json_object_set_new(o, name, v ? v : json_null());
    }
    return o;
}

static json_t *rows_json(struct rune_journal *j, const char *sql, int n, const char *const *params,
                         const char *what)
{
    PGresult *res = rune_jpg_exec(j, sql, n, params, PGRES_TUPLES_OK, what);
    if (!res)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; arr && i < PQntuples(res); i++)
        if (json_array_append_new(arr, row_json(res, i)) != 0) {
            json_decref(arr);
            arr = NULL;
            rune_journal_fail(j, "cannot %s in incident log %s: no memory for the rows", what,
                              j->path);
        }
    PQclear(res);
    return arr;
}

json_t *rune_jpg_find(struct rune_journal *j, const struct rune_journal_filter *f)
{
    static const char sql[] =
        "SELECT " RUNE_JPG_INCIDENT_COLS " FROM incidents "
        "WHERE ($1::text IS NULL OR runbook = $1) "
        "AND ($2::text IS NULL OR outcome = $2 OR ($2 = 'unfinished' AND outcome IS NULL)) "
        "AND ($3::text IS NULL OR started_at >= $3) "
        "ORDER BY started_at DESC, id DESC LIMIT $4::bigint";
    char limit[32];
    snprintf(limit, sizeof limit, "%d", f->limit);
    const char *params[] = {f->runbook, f->outcome, f->since, f->limit > 0 ? limit : NULL};
    return rows_json(j, sql, 4, params, "list incidents");
}

/* The incident's row, or NULL: unknown (err empty) or failure (err set). */
static json_t *incident_row(struct rune_journal *j, const char *incident_id)
{
    static const char sql[] = "SELECT " RUNE_JPG_INCIDENT_COLS " FROM incidents WHERE id = $1";
    const char *params[] = {incident_id};
    json_t *arr = rows_json(j, sql, 1, params, "read the incident");
    json_t *o = json_array_get(arr, 0);
    json_incref(o);
    json_decref(arr);
    return o;
}

json_t *rune_jpg_get_incident(struct rune_journal *j, const char *incident_id)
{
    static const char events[] = "SELECT " RUNE_JPG_EVENT_COLS " FROM events "
                                 "WHERE incident_id = $1 ORDER BY seq";
    static const char artifacts[] = "SELECT step, path, sha256, bytes, kind FROM artifacts "
                                    "WHERE incident_id = $1 ORDER BY pos";
    const char *params[] = {incident_id};
    json_t *o, *ev = NULL, *art = NULL;

    if (snapshot(j) != 0)
        return NULL;
    o = incident_row(j, incident_id);
    if (o && (!(ev = rows_json(j, events, 1, params, "read the events")) ||
              !(art = rows_json(j, artifacts, 1, params, "read the artifacts")) ||
              json_object_set_new(o, "events", ev) != 0 ||
              json_object_set_new(o, "artifacts", art) != 0)) {
        if (!art)
            json_decref(ev);
        json_decref(o);
        o = NULL;
    }
    end_snapshot(j);
    return o;
}

static char *dup_or_null(const PGresult *res, int i, int c)
{
    const char *t = rune_jpg_get(res, i, c);
    return t ? strdup(t) : NULL;
}

int rune_jpg_chain_rows(struct rune_journal *j, const char *incident_id, json_t **inc,
                        struct rune_chain_row **rows, size_t *n)
{
    static const char sql[] = "SELECT " RUNE_JPG_EVENT_COLS " FROM events "
                              "WHERE incident_id = $1 ORDER BY seq";
    const char *params[] = {incident_id};
    PGresult *res = NULL;
    int rc = -1;

    *inc = NULL;
    *rows = NULL;
    *n = 0;
    if (snapshot(j) != 0)
        return -1;
    *inc = incident_row(j, incident_id);
    if (!*inc) {
        rc = j->err[0] ? -1 : 0;
        goto out;
    }
    if (!(res = rune_jpg_exec(j, sql, 1, params, PGRES_TUPLES_OK, "read the events")))
        goto out;
    int m = PQntuples(res);
    *rows = calloc(m > 0 ? (size_t)m : 1, sizeof **rows);
    if (!*rows) {
        rune_journal_fail(j, "cannot verify incident %s: no memory for its events", incident_id);
        goto out;
    }
    for (int i = 0; i < m; i++) {
        struct rune_chain_row *r = &(*rows)[i];
        r->seq = atoll(PQgetvalue(res, i, 0));
        r->at = dup_or_null(res, i, 1);
        r->stage = dup_or_null(res, i, 2);
        r->step = dup_or_null(res, i, 3);
        r->attempt = atoll(PQgetvalue(res, i, 4));
        r->kind = dup_or_null(res, i, 5);
        r->status = dup_or_null(res, i, 6);
        r->duration_ms = PQgetisnull(res, i, 7) ? -1 : atoll(PQgetvalue(res, i, 7));
        r->detail = dup_or_null(res, i, 8);
        r->prev = dup_or_null(res, i, 9);
        r->hash = dup_or_null(res, i, 10);
    }
    *n = (size_t)m;
    rc = 0;
out:
    PQclear(res);
    end_snapshot(j);
    if (rc != 0) {
        json_decref(*inc);
        *inc = NULL;
    }
    return rc;
}

/* First row of sql: column 0 into out (may be NULL), columns 1 and 2 as
 * integers into a and b (each may be NULL). 1 with a row, 0 none, -1. */
static int first_row(struct rune_journal *j, const char *sql, int n, const char *const *params,
                     char *out, size_t outlen, long long *a, long long *b)
{
    PGresult *res =
        rune_jpg_exec(j, sql, n, params, PGRES_TUPLES_OK, "read the links between incidents");
    if (!res)
        return -1;
    int rc = PQntuples(res) > 0;
    if (rc) {
        const char *t = rune_jpg_get(res, 0, 0);
        if (out)
            snprintf(out, outlen, "%s", t ? t : "");
        if (a && PQnfields(res) > 1)
            *a = atoll(PQgetvalue(res, 0, 1));
        if (b && PQnfields(res) > 2)
            *b = atoll(PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return rc;
}

int rune_jpg_link(struct rune_journal *j, const char *incident_id, struct rune_chain_link *out)
{
    static const char first[] =
        "SELECT prev_hash, pos FROM events WHERE incident_id = $1 AND seq = 1";
    static const char before[] = "SELECT incident_id FROM events WHERE seq = 1 AND pos < $1 "
                                 "ORDER BY pos DESC LIMIT 1";
    static const char target[] =
        "SELECT incident_id, seq, pos FROM events WHERE hash = $1 ORDER BY pos LIMIT 1";
    static const char linked[] = "SELECT 'x' WHERE EXISTS (SELECT 1 FROM events WHERE seq = 1 "
                                 "AND pos < $2 AND prev_hash <> $1)";
    long long row = 0, trow = 0;
    char spos[32];
    int rc;

    memset(out, 0, sizeof *out);
    if (snapshot(j) != 0)
        return -1;
    const char *p1[] = {incident_id};
    rc = first_row(j, first, 1, p1, out->prev, sizeof out->prev, &row, NULL);
    snprintf(spos, sizeof spos, "%lld", row);
    if (rc == 1) {
        const char *p2[] = {spos};
        rc = first_row(j, before, 1, p2, out->before, sizeof out->before, NULL, NULL);
    }
    if (rc >= 0 && out->prev[0]) {
        const char *p3[] = {out->prev};
        rc = first_row(j, target, 1, p3, out->target, sizeof out->target, &out->target_seq, &trow);
    }
    if (rc >= 0 && out->prev[0]) {
        char x[4] = "";
        const char *p4[] = {RUNE_ZERO_HASH, spos};
        rc = first_row(j, linked, 2, p4, x, sizeof x, NULL, NULL);
        out->linked_before = rc == 1;
    }
    out->target_later = out->target[0] && trow > row;
    end_snapshot(j);
    return rc < 0 ? -1 : 0;
}

int rune_jpg_head(struct rune_journal *j, const char *hash, struct rune_log_head *out)
{
    static const char last[] =
        "SELECT incident_id, seq, hash, at FROM events WHERE incident_id = (SELECT incident_id "
        "FROM events WHERE seq = 1 ORDER BY pos DESC LIMIT 1) ORDER BY seq DESC LIMIT 1";
    static const char named[] =
        "SELECT incident_id, seq, hash, at FROM events WHERE hash = $1 ORDER BY pos LIMIT 1";
    const char *params[] = {hash};
    PGresult *res = rune_jpg_exec(j, hash ? named : last, hash ? 1 : 0, params, PGRES_TUPLES_OK,
                                  "read the head of the log");
    if (!res)
        return -1;
    int rc = PQntuples(res) > 0 ? 0 : 1;
    if (rc == 0) {
        snprintf(out->incident, sizeof out->incident, "%s", PQgetvalue(res, 0, 0));
        out->seq = atoll(PQgetvalue(res, 0, 1));
        snprintf(out->hash, sizeof out->hash, "%s", PQgetvalue(res, 0, 2));
        snprintf(out->at, sizeof out->at, "%s", PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    return rc;
}

/* ---- History for dry-runs ---- */

#define OK_STEP_ENDS                                                                               \
    "FROM events e JOIN incidents i ON i.id = e.incident_id "                                      \
    "WHERE i.runbook = $1 AND i.mode = 'run' AND e.kind = $2 AND e.status = $3 "

json_t *rune_jpg_last_outputs(struct rune_journal *j, const char *runbook, const char *step)
{
    static const char sql[] = "SELECT e.detail_json " OK_STEP_ENDS
                              "AND e.step = $4 ORDER BY e.at DESC, e.pos DESC LIMIT 1";
    const char *params[] = {runbook, rune_event_kind_name(RUNE_EV_STEP_END),
                            rune_event_status_name(RUNE_ST_OK), step};
    PGresult *res = rune_jpg_exec(j, sql, 4, params, PGRES_TUPLES_OK, "read a step's history");
    json_t *out = NULL;
    if (res && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
        json_t *d = json_loads(PQgetvalue(res, 0, 0), RUNE_JOURNAL_LOAD_FLAGS, NULL);
        out = json_object_get(d, "outputs");
        json_incref(out);
        json_decref(d);
    }
    PQclear(res);
    return out;
}

json_t *rune_jpg_durations(struct rune_journal *j, const char *runbook, const char *step, int limit)
{
    static const char sql[] =
        "SELECT e.duration_ms " OK_STEP_ENDS "AND e.step = $4 AND e.duration_ms IS NOT NULL "
        "ORDER BY e.at DESC, e.pos DESC LIMIT $5::bigint";
    char slimit[32];
    snprintf(slimit, sizeof slimit, "%d", limit);
    const char *params[] = {runbook, rune_event_kind_name(RUNE_EV_STEP_END),
                            rune_event_status_name(RUNE_ST_OK), step, slimit};
    json_t *out = json_array();
    PGresult *res = rune_jpg_exec(j, sql, 5, params, PGRES_TUPLES_OK, "read a step's history");
    for (int i = 0; res && i < PQntuples(res); i++)
        json_array_append_new(out, json_integer(atoll(PQgetvalue(res, i, 0))));
    PQclear(res);
    return out;
}

json_t *rune_jpg_work(struct rune_journal *j, const char *uses, const char *host, const char *unit,
                      int limit)
{
    static const char sql[] =
        "SELECT e.detail_json, e.duration_ms FROM events e JOIN incidents i "
        "ON i.id = e.incident_id WHERE i.mode = 'run' AND i.host IS NOT DISTINCT FROM $1 "
        "AND e.kind IN ($2, $3) AND e.status = $4 AND e.duration_ms IS NOT NULL "
        "AND strpos(e.detail_json, '\"work\"') > 0 ORDER BY e.at DESC, e.pos DESC";
    const char *params[] = {host, rune_event_kind_name(RUNE_EV_STEP_END),
                            rune_event_kind_name(RUNE_EV_CALL_END),
                            rune_event_status_name(RUNE_ST_OK)};
    json_t *out = json_array();
    PGresult *res = rune_jpg_exec(j, sql, 4, params, PGRES_TUPLES_OK, "read the work history");
    for (int i = 0; res && i < PQntuples(res) && (int)json_array_size(out) < limit; i++) {
        json_t *d = json_loads(PQgetvalue(res, i, 0), RUNE_JOURNAL_LOAD_FLAGS, NULL);
        json_t *w = json_object_get(d, "work");
        json_t *size = json_object_get(w, "size");
        const char *wu = json_string_value(json_object_get(w, "uses"));
        const char *un = json_string_value(json_object_get(w, "unit"));
        if (json_is_integer(size) && wu && un && !strcmp(wu, uses) && !strcmp(un, unit))
            json_array_append_new(out, json_pack("[I, I]", json_integer_value(size),
                                                 (json_int_t)atoll(PQgetvalue(res, i, 1))));
        json_decref(d);
    }
    PQclear(res);
    return out;
}

/* ---- The processes of a run ---- */

int rune_jpg_runner(struct rune_journal *j, const char *incident_id, struct rune_runner *out)
{
    static const char sql[] =
        "SELECT r.pid, r.start, i.host, "
        " (SELECT stage FROM events WHERE incident_id = $1 AND kind = $2 ORDER BY seq DESC "
        "  LIMIT 1), "
        " (SELECT step FROM events WHERE incident_id = $1 AND kind = $2 ORDER BY seq DESC "
        "  LIMIT 1), "
        " (SELECT at FROM events WHERE incident_id = $1 ORDER BY seq DESC LIMIT 1) "
        "FROM runners r JOIN incidents i ON i.id = r.incident_id WHERE r.incident_id = $1";
    const char *params[] = {incident_id, rune_event_kind_name(RUNE_EV_STEP_START)};
    PGresult *res =
        rune_jpg_exec(j, sql, 2, params, PGRES_TUPLES_OK, "read the rune running an incident");
    if (!res)
        return -1;
    int rc = PQntuples(res) > 0 ? 0 : 1;
    if (rc == 0) {
        const char *v;
        out->pid = atoll(PQgetvalue(res, 0, 0));
        snprintf(out->start, sizeof out->start, "%s", PQgetvalue(res, 0, 1));
        snprintf(out->host, sizeof out->host, "%s", (v = rune_jpg_get(res, 0, 2)) ? v : "");
        snprintf(out->last_stage, sizeof out->last_stage, "%s",
                 (v = rune_jpg_get(res, 0, 3)) ? v : "");
        snprintf(out->last_step, sizeof out->last_step, "%s",
                 (v = rune_jpg_get(res, 0, 4)) ? v : "");
        snprintf(out->last_at, sizeof out->last_at, "%s", (v = rune_jpg_get(res, 0, 5)) ? v : "");
    }
    PQclear(res);
    return rc;
}

int rune_jpg_upload(struct rune_journal *j, const char *incident_id, char prev[RUNE_HASH_HEX + 1],
                    char head[RUNE_HASH_HEX + 1], long long *events)
{
    const char *params[] = {incident_id};
    PGresult *res = rune_jpg_exec(j,
                                  "SELECT local_prev, local_head, local_events FROM uploads "
                                  "WHERE incident_id = $1",
                                  1, params, PGRES_TUPLES_OK, "read the incident's upload");
    if (!res)
        return -1;
    int rc = PQntuples(res) > 0;
    if (rc) {
        snprintf(prev, RUNE_HASH_HEX + 1, "%s", PQgetvalue(res, 0, 0));
        snprintf(head, RUNE_HASH_HEX + 1, "%s", PQgetvalue(res, 0, 1));
        *events = atoll(PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return rc;
}

json_t *rune_jpg_children(struct rune_journal *j, const char *incident_id)
{
    static const char sql[] = "SELECT step, attempt, pid, start, program, started_at FROM children "
                              "WHERE incident_id = $1 AND ended_at IS NULL ORDER BY pos";
    const char *params[] = {incident_id};
    return rows_json(j, sql, 1, params, "read the children of an incident");
}
