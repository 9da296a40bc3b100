/*
 * journal_push.c — rune log push: the incidents an offline run recorded
 * in the local SQLite log, uploaded to the shared log on PostgreSQL.
 *
 * Each finished local incident not yet uploaded is checked first (its
 * local chain must verify intact), then copied in one PostgreSQL
 * transaction: its row, its events appended in seq order exactly as
 * stored (time, detail text and all) and chained into the shared log as
 * a live run's would be — the first to the shared head, under the same
 * advisory locks — its artifacts, and an uploads row keeping the local
 * chain's own link and head, so `rune log verify` can still recompute the
 * chain the incident had offline. Incidents go in the local log's order.
 * Then the local log marks it uploaded (its uploads table); a second push
 * finds nothing to do. A push cut off between the shared commit and the
 * local mark is finished by the next one, which finds the incident's
 * uploads row on the server and only marks it.
 *
 * Running incidents (no outcome yet) are left for a later push.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "journal_pg.h"
#include "journal_sqlite.h"

#define PUSH_TRIES 8

/* The finished incidents of the local log not yet uploaded, in the order
 * their chains were begun; *unfinished counts the running ones. */
static json_t *candidates(struct rune_journal *local, int *unfinished)
{
    static const char sql[] =
        "SELECT i.id, i.outcome IS NULL FROM incidents i "
        "WHERE NOT EXISTS (SELECT 1 FROM uploads u WHERE u.incident_id = i.id) "
        "ORDER BY (SELECT e.rowid FROM events e WHERE e.incident_id = i.id AND e.seq = 1), "
        "i.started_at, i.id";
    sqlite3_stmt *st = NULL;
    json_t *ids = json_array();

    *unfinished = 0;
    if (sqlite3_prepare_v2(rune_sqlite_db(local), sql, -1, &st, NULL) != SQLITE_OK) {
        rune_sqlite_fail(local, "list the incidents to upload");
        json_decref(ids);
        return NULL;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_int(st, 1))
            (*unfinished)++;
        else
            json_array_append_new(ids, json_string((const char *)sqlite3_column_text(st, 0)));
    }
    sqlite3_finalize(st);
    return ids;
}

/* Runs a local query bound to the incident id; each row's columns as text
 * (NULL as NULL) passed to fn. -1 on error. */
static int each_row(struct rune_journal *local, const char *sql, const char *id,
                    int (*fn)(void *ud, int n, const char *const *vals), void *ud)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(rune_sqlite_db(local), sql, -1, &st, NULL) != SQLITE_OK)
        return rune_sqlite_fail(local, "read an incident to upload");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *vals[32];
        int n = sqlite3_column_count(st);
        for (int i = 0; i < n && i < 32; i++)
            vals[i] = (const char *)sqlite3_column_text(st, i);
        rc = fn(ud, n, vals);
    }
    sqlite3_finalize(st);
    return rc;
}

struct copy {
    struct rune_journal *shared;
    const char *sql;
    int found; /* the id was already on the server */
};

static int insert_row(void *ud, int n, const char *const *vals)
{
    struct copy *c = ud;
    PGresult *res = PQexecParams(rune_jpg_conn(c->shared), c->sql, n, NULL, vals, NULL, NULL, 0);
    int rc = 0;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        if (!strcmp(rune_jpg_state(res), "23505"))
            c->found = 1;
        else
            rc = rune_jpg_fail(c->shared, res, "upload an incident");
    }
    PQclear(res);
    return rc;
}

/* 1 when the server holds an uploads row for id (pushed before), 0 not, -1. */
static int uploaded_before(struct rune_journal *shared, const char *id)
{
    const char *params[] = {id};
    PGresult *res = rune_jpg_exec(shared, "SELECT 1 FROM uploads WHERE incident_id = $1", 1, params,
                                  PGRES_TUPLES_OK, "read the uploads");
    if (!res)
        return -1;
    int rc = PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

/* One incident into the shared log's open transaction. 0; 1 when it was
 * uploaded before; -1; -2 to retry. */
static int copy_incident(struct rune_journal *local, struct rune_journal *shared, const char *id,
                         const struct rune_chain_row *rows, size_t n, char head[RUNE_HASH_HEX + 1])
{
    struct copy inc = {
        shared,
        "INSERT INTO incidents (id, runbook, title, runbook_path, runbook_sha256, mode, "
        "operator, host, inputs_json, severity, outcome, exit_code, started_at, ended_at, "
        "rto_target_s, rpo_target_s, resumed_from, rune_version) VALUES ($1, $2, $3, $4, $5, "
        "$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        0};
    if (each_row(local, "SELECT " RUNE_SQLITE_INCIDENT_COLS " FROM incidents WHERE id = ?1", id,
                 insert_row, &inc) != 0)
        return -1;
    if (inc.found) {
        int before = uploaded_before(shared, id);
        if (before == 0)
            rune_journal_fail(shared,
                              "cannot upload incident %s to %s: the shared log holds another "
                              "incident with that id; nothing of it was uploaded",
                              id, shared->path);
        return before == 1 ? 1 : -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct rune_chain_row *r = &rows[i];
        struct rune_event ev = {.stage = r->stage,
                                .step = r->step,
                                .attempt = (int)r->attempt,
                                .kind = r->kind,
                                .status = r->status,
                                .duration_ms = r->duration_ms};
        long long seq = rune_jpg_chain_event(shared, id, &ev, r->detail, r->at);
        if (seq < 0)
            return (int)seq;
        if (seq != r->seq)
            return rune_journal_fail(shared,
                                     "cannot upload incident %s: its event %lld became %lld in "
                                     "%s; nothing of it was uploaded",
                                     id, r->seq, seq, shared->path);
    }
    struct copy art = {shared,
                       "INSERT INTO artifacts (incident_id, step, path, sha256, bytes, kind) "
                       "VALUES ($1, $2, $3, $4, $5, $6)",
                       0};
    if (each_row(local,
                 "SELECT incident_id, step, path, sha256, bytes, kind FROM artifacts "
                 "WHERE incident_id = ?1 ORDER BY rowid",
                 id, insert_row, &art) != 0)
        return -1;
    char host[256] = "", at[RUNE_ISO_LEN], nev[32];
    gethostname(host, sizeof host - 1);
    rune_clock_iso(at, rune_clock_wall_ms());
    snprintf(nev, sizeof nev, "%zu", n);
    const char *params[] = {id, n ? rows[0].prev : "", n ? rows[n - 1].hash : "", nev, host, at};
    if (rune_jpg_cmd(shared,
                     "INSERT INTO uploads (incident_id, local_prev, local_head, local_events, "
                     "from_host, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6)",
                     6, params, "record the upload") != 0)
        return -1;
    const char *p1[] = {id};
    PGresult *res = rune_jpg_exec(shared,
                                  "SELECT hash FROM events WHERE incident_id = $1 ORDER BY seq "
                                  "DESC LIMIT 1",
                                  1, p1, PGRES_TUPLES_OK, "read the uploaded incident's head");
    if (!res)
        return -1;
    snprintf(head, RUNE_HASH_HEX + 1, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return 0;
}

/* Marks id uploaded in the local log. */
static int mark(struct rune_journal *local, struct rune_journal *shared, const char *id,
                const char *head)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO uploads (incident_id, log, head, uploaded_at) "
        "VALUES (?1, ?2, ?3, ?4)";
    char at[RUNE_ISO_LEN];
    sqlite3_stmt *st = NULL;
    rune_clock_iso(at, rune_clock_wall_ms());
    if (sqlite3_prepare_v2(rune_sqlite_db(local), sql, -1, &st, NULL) != SQLITE_OK)
        return rune_sqlite_fail(local, "mark an incident uploaded");
    rune_sqlite_bind_text(st, 1, id);
    rune_sqlite_bind_text(st, 2, shared->path);
    rune_sqlite_bind_text(st, 3, head[0] ? head : NULL);
    rune_sqlite_bind_text(st, 4, at);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rune_sqlite_fail(local, "mark an incident uploaded");
}

/* Uploads one incident: checked, copied (retried on a conflict), marked. */
static int push_one(struct rune_journal *local, struct rune_journal *shared, const char *id,
                    bool *pushed)
{
    struct rune_chain_result v;
    struct rune_chain_row *rows = NULL;
    json_t *inc = NULL;
    size_t n = 0;
    char head[RUNE_HASH_HEX + 1] = "";
    int rc;

    *pushed = false;
    if (rune_journal_verify(local, id, &v) != 0)
        return rune_journal_fail(shared, "%s", rune_journal_error(local));
    if (v.problem != RUNE_CHAIN_INTACT)
        return rune_journal_fail(shared,
                                 "local incident %s is not intact (%s: %s); it and the ones "
                                 "after it were not uploaded; see rune log verify %s --log %s",
                                 id, rune_chain_problem_name(v.problem), v.message, id,
                                 local->path);
    if (rune_sqlite_chain_rows(local, id, &inc, &rows, &n) != 0)
        return rune_journal_fail(shared, "%s", local->err);
    rc = -2;
    for (int t = 0; t < PUSH_TRIES && rc == -2; t++) {
        if (rune_jpg_cmd(shared, "BEGIN", 0, NULL, "start an upload") != 0) {
            rc = -1;
            break;
        }
        rc = copy_incident(local, shared, id, rows, n, head);
        if (rc == 0)
            rc = rune_jpg_commit(shared, "commit an upload");
        if (rc != 0)
            rune_jpg_rollback(shared);
    }
    rune_chain_rows_free(rows, n);
    json_decref(inc);
    if (rc < 0)
        return -1;
    *pushed = rc == 0;
    if (mark(local, shared, id, head) != 0)
        return rune_journal_fail(shared, "%s", local->err);
    return 0;
}

int rune_journal_push(const char *local_path, const char *url, struct rune_push_result *res,
                      char *err, size_t errlen)
{
    struct rune_journal *local = NULL, *shared = NULL;
    struct stat sb;
    int rc;

    memset(res, 0, sizeof *res);
    if (stat(local_path, &sb) != 0) {
        rune_journal_seterr(err, errlen, "no local incident log at %s: nothing to push",
                            local_path);
        return RUNE_JOURNAL_ABSENT;
    }
    if ((rc = rune_journal_sqlite_open(local_path, true, &local, err, errlen)) != 0)
        return rc;
    if ((rc = rune_journal_pg_open(url, true, &shared, err, errlen)) != 0) {
        rune_journal_close(local);
        return rc;
    }
    json_t *ids = candidates(local, &res->unfinished);
    rc = ids ? 0 : -1;
    if (!ids)
        rune_journal_seterr(err, errlen, "%s", local->err);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        bool pushed;
        if (push_one(local, shared, json_string_value(v), &pushed) != 0) {
            rune_journal_seterr(err, errlen, "%s", shared->err);
            rc = -1;
            break;
        }
        res->pushed += pushed;
    }
    json_decref(ids);
    struct rune_log_head h;
    if (rc == 0 && rune_journal_head(shared, &h) == 0)
        snprintf(res->head, sizeof res->head, "%s", h.hash);
    rune_journal_close(shared);
    rune_journal_close(local);
    return rc;
}
