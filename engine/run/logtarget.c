/*
 * logtarget.c — refuses a run whose postgres target is the database that
 * holds the shared incident log. A restore or failover of that database
 * would erase or freeze the very record of what is being done to it.
 *
 * "The same database" is asked of the servers, not read from the URLs:
 * one server is reached as db1, 10.0.0.5, a socket directory or through a
 * pooler. Each target is connected to (libpq, its own fields over its
 * conninfo as the steps do) and asked for pg_control_system()'s
 * system_identifier and current_database(); the log's connection answers
 * the same. A target that cannot be reached now (a restore may start with
 * its server down), or whose role may not read pg_control_system(), is
 * compared by host, port and database name as libpq resolves them.
 *
 * A pg step that names no target connects through the environment
 * (PGHOST, PGPORT, ...) to its `database` (or PGDATABASE): that
 * connection is checked the same way, once per database named in plain
 * text (a `${...}` database is only known when the step runs: it is
 * checked as PGDATABASE, the best known before).
 */
#include "logtarget.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "journal.h"
#include "node.h"

static const char *field(json_t *t, const char *name)
{
    const char *v = json_string_value(json_object_get(t, name));
    return v && *v ? v : NULL;
}

/* The target's identity: what the server says, else what libpq resolved
 * (host, port, dbname of the connection attempt). */
static void target_identity(json_t *t, struct rune_db_identity *id)
{
    const char *pairs[][2] = {
        {"connect_timeout", "5"},           {"application_name", "rune"},
        {"dbname", field(t, "conninfo")},   {"host", field(t, "host")},
        {"port", field(t, "port")},         {"user", field(t, "user")},
        {"password", field(t, "password")}, {"dbname", field(t, "database")},
    };
    const char *keys[9], *vals[9];
    int n = 0;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i][1]) {
            keys[n] = pairs[i][0];
            vals[n++] = pairs[i][1];
        }
    keys[n] = vals[n] = NULL;
    memset(id, 0, sizeof *id);
    PGconn *c = PQconnectdbParams(keys, vals, field(t, "conninfo") != NULL);
    if (!c)
        return;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *res = PQexec(c, "SELECT system_identifier::text, current_database() "
                                  "FROM pg_control_system()");
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            snprintf(id->sysid, sizeof id->sysid, "%s", PQgetvalue(res, 0, 0));
            snprintf(id->dbname, sizeof id->dbname, "%s", PQgetvalue(res, 0, 1));
        }
        PQclear(res);
    }
    if (!id->dbname[0])
        snprintf(id->dbname, sizeof id->dbname, "%s", PQdb(c) ? PQdb(c) : "");
    snprintf(id->host, sizeof id->host, "%s", PQhost(c) ? PQhost(c) : "");
    snprintf(id->port, sizeof id->port, "%s", PQport(c) ? PQport(c) : "");
    PQfinish(c);
}

static bool same_database(const struct rune_db_identity *log, const struct rune_db_identity *t)
{
    if (strcmp(log->dbname, t->dbname) != 0)
        return false;
    if (log->sysid[0] && t->sysid[0])
        return !strcmp(log->sysid, t->sysid);
    return !strcmp(log->host, t->host) && !strcmp(log->port, t->port);
}

static int refuse(struct rune_run *r, const char *name, const struct rune_db_identity *id)
{
    fprintf(stderr,
            "rune: %s is database %s on %s:%s, which holds this run's own incident log (%s%s%s); "
            "a run never acts on its own log's database: nothing was run. Keep the shared log "
            "in another database server (docs/teams.md), or pass --log with another log\n",
            name, id->dbname, id->host, id->port, rune_journal_path(r->j),
            id->sysid[0] ? ", same system_identifier " : "", id->sysid);
    return RUNE_EXIT_INVALID;
}

/* The database a step without a target connects to: its `database`
 * when written in plain text, else "" (the environment's). */
static const char *env_database(const struct rune_stepdef *st)
{
    const struct rune_node *db = st->with ? rune_node_get(st->with, "database") : NULL;
    if (db && db->kind == RUNE_NODE_SCALAR && db->str && !strstr(db->str, "${"))
        return db->str;
    return "";
}

/* Does the step connect to postgres through the environment (a postgres
 * target parameter it leaves out)? */
static bool uses_env(const struct rune_stepdef *st)
{
    if (!st->type)
        return false;
    for (const struct rune_param *p = st->type->params; p && p->name; p++)
        if (p->type == RUNE_T_TARGET && p->kind && !strcmp(p->kind, "postgres") &&
            !(st->with && rune_node_get(st->with, p->name)))
            return true;
    return false;
}

/* Every pg step without a target: the environment's server, each
 * database once. */
static int check_env_steps(struct rune_run *r, const struct rune_db_identity *log)
{
    json_t *seen = json_object();
    int rc = RUNE_EXIT_OK;
    for (int s = 0; s < RUNE_NSTAGES && rc == RUNE_EXIT_OK; s++) {
        const struct rune_stagedef *sd = &r->rb->stages[s];
        for (size_t i = 0; i < sd->n && rc == RUNE_EXIT_OK; i++) {
            const struct rune_stepdef *st = &sd->steps[i];
            const char *db = env_database(st);
            if (!uses_env(st) || json_object_get(seen, db))
                continue;
            json_object_set_new(seen, db, json_true());
            json_t *t = json_pack("{s:s}", "kind", "postgres");
            if (*db)
                json_object_set_new(t, "database", json_string(db));
            struct rune_db_identity id;
            target_identity(t, &id);
            json_decref(t);
            if (same_database(log, &id)) {
                char name[256];
                snprintf(name, sizeof name,
                         "step \"%s\" (%s, no target: the PG* environment's server)", st->id,
                         st->uses ? st->uses : "?");
                rc = refuse(r, name, &id);
            }
        }
    }
    json_decref(seen);
    return rc;
}

int rune_logtarget_check(struct rune_run *r)
{
    struct rune_db_identity log;
    if (rune_journal_identity(r->j, &log) != 0)
        return RUNE_EXIT_OK; /* a log in a file: no database to protect */
    json_t *targets = json_object_get(r->ctx, "targets");
    const char *name;
    json_t *t;
    json_object_foreach(targets, name, t)
    {
        const char *kind = json_string_value(json_object_get(t, "kind"));
        if (!kind || strcmp(kind, "postgres") != 0)
            continue;
        struct rune_db_identity id;
        target_identity(t, &id);
        if (!same_database(&log, &id))
            continue;
        char what[256];
        snprintf(what, sizeof what, "target \"%s\"", name);
        return refuse(r, what, &id);
    }
    return check_env_steps(r, &log);
}
