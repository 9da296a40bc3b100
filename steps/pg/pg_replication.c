/*
 * pg_replication.c — pg.replication: the replication state of the server
 * reached, for detection (role, WAL positions, lag in bytes and seconds,
 * standbys as the primary sees them, slots and the WAL they hold back,
 * synchronous replication, archiver failures); the reading of a
 * standby's position that pg.promote shares (pg_replication.h); and the
 * family's table: pg.replication, pg.promote (pg_promote.c) and
 * pg.rebuild_standby (pg_rebuild.c).
 *
 * Every read is one statement, so it is one transaction: it works through
 * pgBouncer in transaction pooling mode (pgconn.h), and one statement's
 * now() is the same for all its columns.
 */
#include "pg_replication.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The timeline of the WAL being written (primary) or received/replayed
 * (standby: the receiver's, else the last restartpoint's). */
#define TIMELINE_SQL                                                                               \
    "CASE WHEN pg_is_in_recovery() THEN coalesce((SELECT received_tli FROM "                       \
    "pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint())) "                   \
    "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END"

static void copy_col(const PGresult *r, int col, char *out, size_t len)
{
    snprintf(out, len, "%s", PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
}

int rune_pg_position_read(struct rune_call *c, PGconn *conn, struct rune_pg_position *pos,
                          char *err, size_t errlen)
{
    memset(pos, 0, sizeof *pos);
    PGresult *r = rune_pg_exec(
        c, conn,
        "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), "
        "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END, "
        "coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)"
        "::bigint, "
        "extract(epoch FROM now() - pg_last_xact_replay_timestamp()), "
        "CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END, "
        "to_char((pg_last_xact_replay_timestamp()) AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), " TIMELINE_SQL,
        0, NULL, err, errlen);
    if (!r)
        return -1;
    pos->in_recovery = PQgetvalue(r, 0, 0)[0] == 't';
    copy_col(r, 1, pos->receive_lsn, sizeof pos->receive_lsn);
    copy_col(r, 2, pos->replay_lsn, sizeof pos->replay_lsn);
    copy_col(r, 3, pos->current_lsn, sizeof pos->current_lsn);
    pos->unreplayed = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    if (pos->unreplayed < 0) /* a receiver restarted behind replay has nothing to replay */
        pos->unreplayed = 0;
    pos->paused = PQgetvalue(r, 0, 6)[0] == 't';
    copy_col(r, 7, pos->last_replay, sizeof pos->last_replay);
    pos->timeline = atoi(PQgetvalue(r, 0, 8));
    if (!pos->in_recovery || pos->unreplayed == 0)
        pos->lag_s = 0; /* caught up: nothing received is waiting */
    else if (PQgetisnull(r, 0, 5))
        pos->lag_s = -1;
    else
        pos->lag_s = strtod(PQgetvalue(r, 0, 5), NULL);
    if (pos->lag_s < 0 && !PQgetisnull(r, 0, 5))
        pos->lag_s = 0; /* a clock behind the primary's */
    PQclear(r);
    return 0;
}

/* ---- rows as JSON ---- */

/* How a column becomes JSON: t text, i integer, n number, b boolean. */
struct col {
    const char *name;
    char kind;
};

static json_t *value_of(const PGresult *r, int row, int col, char kind)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    const char *v = PQgetvalue(r, row, col);
    switch (kind) {
    case 'i':
        return json_integer(strtoll(v, NULL, 10));
    case 'n':
        return json_real(strtod(v, NULL));
    case 'b':
        return json_boolean(v[0] == 't');
    default:
        return json_string(v);
    }
}

/* Every row of r as an object named by cols (in the query's order). */
static json_t *rows_of(const PGresult *r, const struct col *cols)
{
    json_t *a = json_array();
    for (int i = 0; a && i < PQntuples(r); i++) {
        json_t *o = json_object();
        for (int j = 0; o && cols[j].name && j < PQnfields(r); j++)
            json_object_set_new(o, cols[j].name, value_of(r, i, j, cols[j].kind));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *query_rows(struct rune_call *c, PGconn *conn, const char *sql,
                          const struct col *cols, char *err, size_t errlen)
{
    PGresult *r = rune_pg_exec(c, conn, sql, 0, NULL, err, errlen);
    if (!r)
        return NULL;
    json_t *a = rows_of(r, cols);
    PQclear(r);
    if (!a)
        snprintf(err, errlen, "no memory for the rows of %s", sql);
    return a;
}

/* ---- pg.replication ---- */

static const struct col standby_cols[] = {
    {"name", 't'},        {"client", 't'},
    {"state", 't'},       {"sync_state", 't'},
    {"sent_lsn", 't'},    {"write_lsn", 't'},
    {"flush_lsn", 't'},   {"replay_lsn", 't'},
    {"lag_bytes", 'i'},   {"write_lag_s", 'n'},
    {"flush_lag_s", 'n'}, {"replay_lag_s", 'n'},
    {"reply_time", 't'},  {NULL, 0},
};

/* The primary's view of its standbys: positions, and the lags PostgreSQL
 * measures itself (the time from a commit's flush on the primary to the
 * standby's report of writing, flushing and replaying it; NULL once a
 * standby has caught up and nothing is written). */
static const char standbys_sql[] =
    "SELECT application_name, coalesce(host(client_addr), 'local'), state, sync_state, "
    "sent_lsn, write_lsn, flush_lsn, replay_lsn, "
    "pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE "
    "pg_current_wal_lsn() END, replay_lsn)::bigint, "
    "extract(epoch FROM write_lag), extract(epoch FROM flush_lag), "
    "extract(epoch FROM replay_lag), "
    "to_char((reply_time) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
    "FROM pg_stat_replication ORDER BY application_name, pid";

static const struct col slot_cols[] = {
    {"name", 't'},       {"type", 't'},           {"active", 'b'}, {"restart_lsn", 't'},
    {"wal_status", 't'}, {"retained_bytes", 'i'}, {NULL, 0},
};

static const char slots_sql[] =
    "SELECT slot_name, slot_type, active, restart_lsn, wal_status, "
    "pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE "
    "pg_current_wal_lsn() END, restart_lsn)::bigint FROM pg_replication_slots ORDER BY slot_name";

static const struct col archiver_cols[] = {
    {"archiving", 'b'},          {"archived_count", 'i'}, {"last_archived_wal", 't'},
    {"last_archived_time", 't'}, {"failed_count", 'i'},   {"last_failed_wal", 't'},
    {"last_failed_time", 't'},   {"failing", 'b'},        {NULL, 0},
};

/* failing: the last attempt failed (a failure newer than the last success). */
static const char archiver_sql[] =
    "SELECT current_setting('archive_mode') <> 'off', archived_count, last_archived_wal, "
    "to_char((last_archived_time) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "failed_count, last_failed_wal, "
    "to_char((last_failed_time) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "last_failed_time IS NOT NULL AND "
    "(last_archived_time IS NULL OR last_failed_time > last_archived_time) "
    "FROM pg_stat_archiver";

static const struct col upstream_cols[] = {
    {"status", 't'},       {"sender_host", 't'},    {"sender_port", 'i'},  {"slot_name", 't'},
    {"received_tli", 'i'}, {"latest_end_lsn", 't'}, {"last_message", 't'}, {NULL, 0},
};

static const char upstream_sql[] =
    "SELECT status, sender_host, sender_port, slot_name, received_tli, latest_end_lsn, "
    "to_char((last_msg_receipt_time) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM "
    "pg_stat_wal_receiver";

static json_t *lsn_or_null(const char *lsn)
{
    return *lsn ? json_string(lsn) : json_null();
}

/* The largest number under `key` in the rows (NULL: none has one). */
static json_t *largest(json_t *rows, const char *key)
{
    json_t *best = NULL, *row;
    size_t i;
    json_array_foreach(rows, i, row)
    {
        json_t *v = json_object_get(row, key);
        if (json_is_number(v) && (!best || json_number_value(v) > json_number_value(best)))
            best = v;
    }
    return best ? json_copy(best) : json_null();
}

static int read_standby(struct rune_call *c, PGconn *conn, const struct rune_pg_position *pos,
                        json_t *o, char *err, size_t errlen)
{
    json_object_set_new(o, "receive_lsn", lsn_or_null(pos->receive_lsn));
    json_object_set_new(o, "replay_lsn", lsn_or_null(pos->replay_lsn));
    json_object_set_new(o, "lag_bytes", json_integer(pos->unreplayed));
    json_object_set_new(o, "lag_seconds", pos->lag_s < 0 ? json_null() : json_real(pos->lag_s));
    json_object_set_new(o, "replay_paused", json_boolean(pos->paused));
    json_object_set_new(o, "last_replay",
                        *pos->last_replay ? json_string(pos->last_replay) : json_null());
    json_t *up = query_rows(c, conn, upstream_sql, upstream_cols, err, errlen);
    if (!up)
        return -1;
    json_t *first = json_array_get(up, 0);
    json_object_set(o, "upstream", first ? first : json_null());
    json_decref(up);
    return 0;
}

static int read_primary(const struct rune_pg_position *pos, json_t *standbys, json_t *o)
{
    json_object_set_new(o, "current_lsn", lsn_or_null(pos->current_lsn));
    json_t *b = largest(standbys, "lag_bytes");
    if (json_is_null(b)) {
        json_decref(b);
        b = json_integer(0);
    }
    json_object_set_new(o, "lag_bytes", b);
    json_object_set_new(o, "lag_seconds", largest(standbys, "replay_lag_s"));
    return 0;
}

static int replication_run(struct rune_call *c)
{
    char err[1024], where[512];
    PGconn *conn = rune_pg_connect(c, rune_call_str(c, "database"), err, sizeof err);
    if (!conn)
        return rune_call_cancelled(c) ? rune_pg_cancelled(c) : rune_call_fail(c, "%s", err);
    rune_pg_where(conn, where, sizeof where);
    struct rune_pg_position pos;
    json_t *o = rune_call_outputs(c), *standbys = NULL, *slots = NULL, *arch = NULL;
    int rc = RUNE_STEP_FAILED;
    if (rune_pg_position_read(c, conn, &pos, err, sizeof err) != 0 ||
        !(standbys = query_rows(c, conn, standbys_sql, standby_cols, err, sizeof err)) ||
        !(slots = query_rows(c, conn, slots_sql, slot_cols, err, sizeof err)) ||
        !(arch = query_rows(c, conn, archiver_sql, archiver_cols, err, sizeof err)))
        goto out;
    json_object_set_new(o, "role", json_string(pos.in_recovery ? "standby" : "primary"));
    json_object_set_new(o, "in_recovery", json_boolean(pos.in_recovery));
    json_object_set_new(o, "timeline", json_integer(pos.timeline));
    if (pos.in_recovery ? read_standby(c, conn, &pos, o, err, sizeof err)
                        : read_primary(&pos, standbys, o))
        goto out;
    char *names = rune_pg_value(c, conn, "SELECT current_setting('synchronous_standby_names')", 0,
                                NULL, NULL, err, sizeof err);
    if (!names)
        goto out;
    json_object_set_new(o, "sync_standby_names", json_string(names));
    free(names);
    bool sync = false;
    json_t *row;
    size_t i;
    json_array_foreach(standbys, i, row)
    {
        const char *s = json_string_value(json_object_get(row, "sync_state"));
        sync = sync || (s && (!strcmp(s, "sync") || !strcmp(s, "quorum")));
    }
    json_object_set_new(o, "synchronous", json_boolean(sync));
    json_object_set(o, "standbys", standbys);
    json_object_set(o, "slots", slots);
    json_object_set(o, "archiver", json_array_get(arch, 0));
    json_t *a = json_array_get(arch, 0);
    rune_call_log(c,
                  "%s: %s on timeline %d, lag %lld bytes, %zu standby(s), %zu slot(s), %lld "
                  "archive failure(s)",
                  where, pos.in_recovery ? "standby" : "primary", pos.timeline,
                  (long long)json_integer_value(json_object_get(o, "lag_bytes")),
                  json_array_size(standbys), json_array_size(slots),
                  (long long)json_integer_value(json_object_get(a, "failed_count")));
    rc = RUNE_STEP_OK;
out:
    if (rc != RUNE_STEP_OK)
        rc = rune_call_cancelled(c)
                 ? rune_pg_cancelled(c)
                 : rune_call_fail(c, "reading the replication state of %s: %s", where, err);
    json_decref(standbys);
    json_decref(slots);
    json_decref(arch);
    PQfinish(conn);
    return rc;
}

static int replication_plan(struct rune_call *c)
{
    json_t *t = rune_call_target(c, "target");
    rune_call_plan(c, "read the replication state of %s%s (role, lag, standbys, slots, archiver)",
                   t ? "target " : "the server PGHOST/PGPORT name",
                   t ? json_string_value(json_object_get(t, "name")) : "");
    return RUNE_STEP_OK;
}

/* ---- the family's table ---- */

#define TARGET_PARAM(what)                                                                         \
    {                                                                                              \
        "target", RUNE_T_TARGET, false, NULL,                                                      \
            what " (without one: PGHOST, PGPORT, PGUSER, PGDATABASE)", "postgres"                  \
    }

static const struct rune_param replication_params[] = {
    TARGET_PARAM("the server to read"),
    {"database", RUNE_T_STRING, false, NULL, "database to connect to (overrides the target's)"},
    {NULL},
};

static const struct rune_output replication_outputs[] = {
    {"role", RUNE_T_STRING, "primary or standby"},
    {"in_recovery", RUNE_T_BOOL, "pg_is_in_recovery()"},
    {"timeline", RUNE_T_INT, "the timeline written (primary) or received (standby)"},
    {"current_lsn", RUNE_T_STRING, "primary: pg_current_wal_lsn()"},
    {"receive_lsn", RUNE_T_STRING, "standby: WAL received and flushed"},
    {"replay_lsn", RUNE_T_STRING, "standby: WAL replayed"},
    {"lag_bytes", RUNE_T_INT,
     "standby: received but not yet replayed; primary: the largest of its standbys' (current "
     "minus replayed)"},
    {"lag_seconds", RUNE_T_NUMBER,
     "standby: now minus the last replayed transaction's commit time, 0 when nothing received "
     "waits (null: not known); primary: the largest replay_lag of its standbys (null: none "
     "measured)"},
    {"replay_paused", RUNE_T_BOOL, "standby: replay paused (pg_wal_replay_pause)"},
    {"last_replay", RUNE_T_STRING, "standby: the last replayed transaction's time (ISO-8601 UTC)"},
    {"upstream", RUNE_T_MAP,
     "standby: its WAL receiver {status, sender_host, sender_port, slot_name, received_tli, "
     "latest_end_lsn, last_message}; null when none runs"},
    {"standbys", RUNE_T_LIST,
     "pg_stat_replication: {name, client, state, sync_state, sent/write/flush/replay_lsn, "
     "lag_bytes, write/flush/replay_lag_s, reply_time}"},
    {"slots", RUNE_T_LIST,
     "replication slots: {name, type, active, restart_lsn, wal_status, retained_bytes}"},
    {"sync_standby_names", RUNE_T_STRING, "synchronous_standby_names"},
    {"synchronous", RUNE_T_BOOL, "a standby is synchronous (sync or quorum)"},
    {"archiver", RUNE_T_MAP,
     "pg_stat_archiver: {archiving, archived_count, last_archived_wal, last_archived_time, "
     "failed_count, last_failed_wal, last_failed_time, failing}"},
    {NULL},
};

static const struct rune_param promote_params[] = {
    TARGET_PARAM("the standby to promote"),
    {"data_dir", RUNE_T_PATH, false, NULL,
     "the standby's data directory, when local: promoted with pg_ctl promote as its owner "
     "(without it: SELECT pg_promote())"},
    {"max_lag", RUNE_T_DURATION, false, NULL,
     "refuse when the standby's replay lag (now minus its last replayed transaction, 0 when "
     "nothing received waits) is larger"},
    {"max_lag_bytes", RUNE_T_INT, false, NULL,
     "refuse when more than this much received WAL is not replayed yet"},
    {"allow_unreplayed", RUNE_T_BOOL, false, "false",
     "promote even when received WAL is not all replayed (it is replayed before promotion)"},
    {"catch_up", RUNE_T_DURATION, false, "10s",
     "how long to let replay reach the received position before judging"},
    {"primary_data_dir", RUNE_T_PATH, false, NULL,
     "the old primary's data directory, when local: stopped (fast, else immediate) and fenced "
     "with standby.signal before the promotion"},
    {"primary", RUNE_T_TARGET, false, NULL,
     "the old primary over the network: the promotion is refused while it answers", "postgres"},
    {"allow_primary_up", RUNE_T_BOOL, false, "false",
     "promote even though the old primary (primary) still answers: split brain unless it is "
     "fenced another way"},
    {"bin_dir", RUNE_T_PATH, false, NULL,
     "PostgreSQL's programs (default /usr/lib/postgresql/VERSION/bin)"},
    {"wait", RUNE_T_DURATION, false, "60s", "how long to wait for stops and the promotion"},
    {NULL},
};

static const struct rune_output promote_outputs[] = {
    {"promoted", RUNE_T_BOOL, "the server is out of recovery"},
    {"timeline", RUNE_T_INT, "the new timeline"},
    {"lsn", RUNE_T_STRING, "the last WAL position replayed before it became the primary"},
    {"recovery_point", RUNE_T_STRING,
     "the last replayed transaction's commit time (ISO-8601 UTC): the report's RPO"},
    {"lag_seconds", RUNE_T_NUMBER, "the replay lag at promotion (null: not known)"},
    {"lag_bytes", RUNE_T_INT, "received WAL not yet replayed at promotion"},
    {"fenced", RUNE_T_STRING,
     "what was done to the old primary (\"stopped (fast); standby.signal written\", \"down\" …)"},
    {"waited_ms", RUNE_T_INT, "time from the promotion request until out of recovery"},
    {NULL},
};

static const struct rune_param rebuild_params[] = {
    {"data_dir", RUNE_T_PATH, true, NULL, "the former primary's data directory"},
    TARGET_PARAM("the new primary to follow"),
    {"method", RUNE_T_STRING, false, "auto",
     "auto: pg_rewind, and a fresh clone when it cannot; rewind or clone: only that", NULL, NULL,
     "auto|rewind|clone"},
    {"primary_conninfo", RUNE_T_STRING, false, NULL,
     "how the standby reaches the primary (default: the target's host, port and user)"},
    {"application_name", RUNE_T_STRING, false, NULL,
     "the standby's name on the primary (default: rune_<data directory's name>)"},
    {"slot", RUNE_T_STRING, false, NULL,
     "a physical replication slot on the primary to stream from (created if missing)"},
    {"restore_command", RUNE_T_STRING, false, NULL,
     "a restore_command reading the WAL archive: pg_rewind fetches the former primary's "
     "recycled WAL with it (--restore-target-wal), and the standby keeps it"},
    {"log", RUNE_T_PATH, false, NULL,
     "the server log for pg_ctl start (default <data_dir>/pg_ctl.log)"},
    {"bin_dir", RUNE_T_PATH, false, NULL,
     "PostgreSQL's programs (default /usr/lib/postgresql/VERSION/bin)"},
    {"wait", RUNE_T_DURATION, false, "120s",
     "how long to wait for stops, start and the standby to catch up"},
    {NULL},
};

static const struct rune_output rebuild_outputs[] = {
    {"method", RUNE_T_STRING, "rewind or clone: what was done"},
    {"set_aside", RUNE_T_STRING, "clone: where the former data directory was moved"},
    {"primary_lsn", RUNE_T_STRING, "the primary's position when the step started"},
    {"replay_lsn", RUNE_T_STRING, "the standby's replayed position once caught up"},
    {"application_name", RUNE_T_STRING, "the standby's name in pg_stat_replication"},
    {"timeline", RUNE_T_INT, "the timeline it follows"},
    {NULL},
};

const struct rune_step_type rune_pg_replication_steps[] = {
    {"pg.replication",
     "Replication state for detection: role, lag in bytes and seconds, standbys, slots, sync "
     "state, archiver failures",
     replication_params, replication_outputs, RUNE_READS, replication_run, replication_plan},
    {"pg.promote",
     "Promote a standby: refuse over max_lag or with unreplayed WAL, fence the old primary, "
     "wait until out of recovery",
     promote_params, promote_outputs, RUNE_WRITES, rune_pg_promote_run, rune_pg_promote_plan},
    {"pg.rebuild_standby",
     "Turn a former primary into a standby of the new one (pg_rewind, else a fresh clone) and "
     "wait until it has replayed the primary's position",
     rebuild_params, rebuild_outputs, RUNE_WRITES, rune_pg_rebuild_run, rune_pg_rebuild_plan},
    {0},
};
