/*
 * pg_backup.c — the pg_backup family: pg.dump and pg.restore, logical
 * backups of PostgreSQL databases in the shared artifact format (see
 * docs/postgres.md). The steps themselves are pg_dump.c and pg_restore.c;
 * this file holds what they share (running the client programs with the
 * password in their environment, work directories, the backup layout)
 * and, at the end, the family's table.
 */
#include "pg_backup.h"
#include "artifact.h"
#include "lastwords.h"
#include "worksize.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- client programs ---- */

const char *rune_pg_tool(struct rune_call *c, const char *name, char *buf, size_t len)
{
    const char *bindir = rune_call_str(c, "bindir");
    if (bindir && *bindir)
        snprintf(buf, len, "%s/%s", bindir, name);
    else
        snprintf(buf, len, "%s", name);
    return buf;
}

static char *kv(const char *k, const char *v)
{
    size_t n = strlen(k) + strlen(v) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s=%s", k, v);
    return s;
}

char **rune_pg_env(PGconn *conn, const char *dbname)
{
    PQconninfoOption *opts = PQconninfo(conn);
    if (!opts)
        return NULL;
    size_t n = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        n++;
    char **env = calloc(n + 2, sizeof *env);
    size_t i = 0;
    bool ok = env != NULL, have_db = false;
    for (PQconninfoOption *o = opts; ok && o->keyword; o++) {
        if (!o->envvar || !o->val || !*o->val)
            continue;
        const char *v = o->val;
        if (!strcmp(o->keyword, "dbname")) {
            have_db = true;
            if (dbname)
                v = dbname;
        }
        ok = (env[i++] = kv(o->envvar, v)) != NULL;
    }
    if (ok && !have_db && dbname)
        ok = (env[i++] = kv("PGDATABASE", dbname)) != NULL;
    PQconninfoFree(opts);
    if (!ok) {
        rune_pg_env_free(env);
        return NULL;
    }
    return env;
}

void rune_pg_env_free(char **env)
{
    for (char **e = env; e && *e; e++)
        free(*e);
    free(env);
}

int rune_pg_tool_run(struct rune_call *c, char *const *argv, char *const *env,
                     const char *stdin_data, size_t stdin_len)
{
    struct rune_proc p = {.argv = argv,
                          .env = env,
                          .stdin_data = stdin_data,
                          .stdin_len = stdin_len,
                          .capture_max = 64 << 10};
    if (rune_call_spawn(c, &p) != 0)
        return RUNE_STEP_FAILED; /* not started: the call says why */
    int status = RUNE_STEP_OK;
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    if (p.timed_out || p.was_cancelled || rune_call_cancelled(c)) {
        status = rune_call_cancel_status(c);
        if (status == RUNE_STEP_OK)
            status = RUNE_STEP_CANCELLED;
        rune_call_fail(c, "%s was stopped: %s", prog,
                       status == RUNE_STEP_TIMEOUT ? "the step's timeout passed"
                                                   : "the run is stopping");
    } else if (p.exit_code != 0) {
        char words[1024];
        rune_last_words(&p, words, sizeof words);
        if (p.term_signal)
            status =
                rune_call_fail(c, "%s was killed by signal %d: %s", prog, p.term_signal, words);
        else
            status = rune_call_fail(c, "%s failed (exit %d): %s", prog, p.exit_code, words);
    }
    rune_proc_release(&p);
    return status;
}

/* ---- parameters ---- */

json_t *rune_pg_strlist(struct rune_call *c, const char *param)
{
    json_t *v = json_object_get(rune_call_params(c), param);
    if (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0))
        return NULL;
    if (json_is_string(v))
        return json_pack("[O]", v);
    return json_incref(v);
}

const char *rune_pg_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ---- what a step made ---- */

void rune_pg_report_artifact(struct rune_call *c, const char *path, const char *sha256,
                             long long bytes)
{
    json_t *o = rune_call_outputs(c);
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "sha256", json_string(sha256));
    json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
    rune_call_artifact(c, path, sha256, bytes);
}

void rune_pg_report_recovery_point(struct rune_call *c, const char *iso)
{
    if (!iso)
        return;
    json_object_set_new(rune_call_outputs(c), "recovery_point", json_string(iso));
    if (*iso) /* "" when a restore cannot tell */
        rune_call_recovery_point(c, iso);
}

/* ---- work directories ---- */

char *rune_pg_workdir(const char *path, char *err, size_t errlen)
{
    char tmpl[PATH_MAX];
    if (path) {
        const char *slash = strrchr(path, '/');
        int dlen = slash ? (int)(slash - path) : 1;
        snprintf(tmpl, sizeof tmpl, "%.*s/.%s.work-XXXXXX", slash == path ? 0 : dlen,
                 slash ? path : ".", slash ? slash + 1 : path);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(tmpl, sizeof tmpl, "%s/rune-pg-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    }
    if (!mkdtemp(tmpl)) {
        snprintf(err, errlen, "cannot create a work directory %s: %s", tmpl, strerror(errno));
        return NULL;
    }
    char *dir = strdup(tmpl);
    if (!dir) {
        rmdir(tmpl);
        snprintf(err, errlen,
                 "no memory for the name of work directory %s (removed): free memory on this host "
                 "and run the step again",
                 tmpl);
    }
    return dir;
}

void rune_pg_workdir_remove(char *dir)
{
    if (!dir)
        return;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

/* ---- layout ---- */

static long long num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static bool known_kind(const char *k)
{
    return k && (!strcmp(k, RUNE_PG_SECTION_PRE) || !strcmp(k, RUNE_PG_SECTION_TABLE) ||
                 !strcmp(k, RUNE_PG_SECTION_DATA) || !strcmp(k, RUNE_PG_SECTION_INDEXES) ||
                 !strcmp(k, RUNE_PG_SECTION_POST));
}

/* A table section also names its table, its COPY statement and its rows. */
static bool table_ok(json_t *s)
{
    const char *t = json_string_value(json_object_get(s, "table"));
    const char *q = json_string_value(json_object_get(s, "qualified"));
    const char *copy = json_string_value(json_object_get(s, "copy"));
    return t && *t && q && *q && copy && !strncmp(copy, "COPY ", 5) && !strchr(copy, '\n') &&
           num(s, "rows") >= 0 &&
           num(s, "raw_bytes") >= (long long)(strlen(copy) + 1 + strlen(RUNE_PG_COPY_END));
}

json_t *rune_pg_layout_sections(json_t *manifest, char *err, size_t errlen)
{
    json_t *pg = json_object_get(manifest, RUNE_PG_LAYOUT_KEY);
    json_t *secs = json_object_get(pg, "sections");
    if (!json_is_object(pg) || !json_is_array(secs) || json_array_size(secs) < 2) {
        snprintf(err, errlen, "its manifest has no %s.sections: not a backup made by pg.dump",
                 RUNE_PG_LAYOUT_KEY);
        return NULL;
    }
    if (num(pg, "layout_version") < 1 || num(pg, "layout_version") > RUNE_PG_LAYOUT_VERSION) {
        snprintf(err, errlen,
                 "its %s.layout_version is %lld; this rune reads version %d (upgrade rune)",
                 RUNE_PG_LAYOUT_KEY, num(pg, "layout_version"), RUNE_PG_LAYOUT_VERSION);
        return NULL;
    }
    json_t *chunks = json_object_get(manifest, "chunks");
    size_t nchunks = json_array_size(chunks), next = 0, i;
    long long off = 0, raw = 0;
    json_t *s;
    json_array_foreach(secs, i, s)
    {
        const char *kind = json_string_value(json_object_get(s, "section"));
        long long first = num(s, "first_chunk"), n = num(s, "chunks");
        bool ok = known_kind(kind) && first == (long long)next && n >= 1 &&
                  (size_t)(first + n) <= nchunks;
        long long bytes = 0, rbytes = 0;
        for (long long k = first; ok && k < first + n; k++) {
            json_t *ch = json_array_get(chunks, (size_t)k);
            bytes += num(ch, "bytes");
            rbytes += num(ch, "raw_bytes");
        }
        ok = ok && num(s, "offset") == off && num(s, "bytes") == bytes &&
             num(s, "raw_offset") == raw && num(s, "raw_bytes") == rbytes;
        ok = ok && (strcmp(kind, RUNE_PG_SECTION_TABLE) || table_ok(s));
        ok = ok && (i != 0 || !strcmp(kind, RUNE_PG_SECTION_PRE));
        ok = ok && (i + 1 != json_array_size(secs) || !strcmp(kind, RUNE_PG_SECTION_POST));
        if (!ok) {
            snprintf(err, errlen,
                     "section %zu of its %s.sections does not match its chunks (or is not one "
                     "pg.dump writes): the manifest is damaged or was edited",
                     i + 1, RUNE_PG_LAYOUT_KEY);
            return NULL;
        }
        next += (size_t)n;
        off += bytes;
        raw += rbytes;
    }
    if (next != nchunks) {
        snprintf(err, errlen,
                 "its %s.sections cover %zu of %zu chunks: the manifest is damaged or was edited",
                 RUNE_PG_LAYOUT_KEY, next, nchunks);
        return NULL;
    }
    return secs;
}

json_t *rune_pg_layout_find(json_t *sections, const char *kind)
{
    size_t i;
    json_t *s;
    json_array_foreach(sections, i, s)
    {
        if (!strcmp(json_string_value(json_object_get(s, "section")), kind))
            return s;
    }
    return NULL;
}

/* "name" with every " doubled, quoted; appended at out[*at]. */
static void quote_into(char *out, size_t *at, const char *name)
{
    out[(*at)++] = '"';
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            out[(*at)++] = '"';
        out[(*at)++] = *p;
    }
    out[(*at)++] = '"';
}

char *rune_pg_pattern(const char *schema, const char *name)
{
    size_t n = 2 * (strlen(name) + (schema ? strlen(schema) : 0)) + 8;
    char *out = malloc(n);
    if (!out)
        return NULL;
    size_t at = 0;
    if (schema) {
        quote_into(out, &at, schema);
        out[at++] = '.';
    }
    quote_into(out, &at, name);
    out[at] = '\0';
    return out;
}

/* ---- the table ---- */

#define TARGET_PARAM                                                                               \
    {                                                                                              \
        "target", RUNE_T_TARGET, false, NULL,                                                      \
            "a postgres target (without one: PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD)",     \
            "postgres"                                                                             \
    }
#define BINDIR_PARAM                                                                               \
    {                                                                                              \
        "bindir", RUNE_T_PATH, false, NULL,                                                        \
            "directory of pg_dump, pg_restore and psql (default: found in PATH); they must be at " \
            "least the server's version"                                                           \
    }
#define JOBS_PARAM(what)                                                                           \
    {                                                                                              \
        "jobs", RUNE_T_INT, false, "2", "parallel connections " what " (1 to 32)"                  \
    }

static const struct rune_param dump_params[] = {
    TARGET_PARAM,
    {"database", RUNE_T_STRING, false, NULL, "database to dump (overrides the target's)"},
    {"dir", RUNE_T_PATH, false, ".",
     "directory for DATABASE-YYYYMMDD-HHMMSS.sql.gz (.sql.zst with zstd; when `to` is not given; "
     "created if missing)"},
    {"to", RUNE_T_PATH, false, NULL, "the backup file to write (never overwritten)"},
    JOBS_PARAM("copying tables"),
    RUNE_ARTIFACT_COMPRESSION_PARAM,
    RUNE_ARTIFACT_LEVEL_PARAM,
    {"tables", RUNE_T_STRLIST, false, NULL,
     "only these tables (\"orders\", \"sales.orders\"): their definitions and data"},
    {"exclude_tables", RUNE_T_STRLIST, false, NULL, "leave these tables out entirely"},
    {"lock_timeout", RUNE_T_DURATION, false, "30s",
     "how long to wait for the tables' ACCESS SHARE locks (a pending ALTER or DROP holds them)"},
    BINDIR_PARAM,
    {0},
};
static const struct rune_output dump_outputs[] = {
    {"path", RUNE_T_PATH, "the backup data file (a plain SQL script, gzip or zstd)"},
    {"manifest", RUNE_T_PATH, "its manifest"},
    {"bytes", RUNE_T_INT, "compressed size"},
    {"raw_bytes", RUNE_T_INT, "size of the SQL script"},
    {"sha256", RUNE_T_STRING, "whole-file SHA-256"},
    {"tables", RUNE_T_MAP, "table → rows, in the backed-up snapshot"},
    {"table_count", RUNE_T_INT, "tables dumped"},
    {"rows", RUNE_T_INT, "rows dumped, all tables"},
    {"recovery_point", RUNE_T_STRING, "when the snapshot was taken (UTC)"},
    {"database", RUNE_T_STRING, "the database dumped"},
    {"server_version", RUNE_T_STRING, "the server's version"},
    {"seconds", RUNE_T_NUMBER, "how long the dump took"},
    {"read_with", RUNE_T_STRING,
     "the command that reads it without rune: \"gzip -dc\" or \"zstd -dc\" (piped to psql)"},
    {0},
};
static const struct rune_param restore_params[] = {
    TARGET_PARAM,
    {"database", RUNE_T_STRING, false, NULL, "database to restore (overrides the target's)"},
    {"from", RUNE_T_PATH, true, NULL,
     "the backup: a pg.dump backup (.sql.gz or .sql.zst with its manifest), a plain pg_dump script "
     "(.sql or "
     ".sql.gz), a custom-format archive (pg_dump -Fc) or a directory archive (pg_dump -Fd)"},
    {"mode", RUNE_T_STRING, false, NULL,
     "drop (replace the database, after confirmation), merge (load into it) or create (a new "
     "or empty database); no default, except create with `into` and merge with `tables`",
     .choices = "drop|merge|create"},
    {"into", RUNE_T_STRING, false, NULL,
     "restore into this database instead (created when missing; for drills)"},
    {"tables", RUNE_T_STRLIST, false, NULL,
     "pg.dump backups only: restore just these tables into the existing database (TRUNCATE, "
     "then load, in one transaction)"},
    JOBS_PARAM("loading tables"),
    {"check", RUNE_T_STRING, false, "counts",
     "counts (rows loaded = the manifest's) or content (also every table's content hash)",
     .choices = "counts|content"},
    BINDIR_PARAM,
    {0},
};
static const struct rune_output restore_outputs[] = {
    {"database", RUNE_T_STRING, "the database restored into"},
    {"tables", RUNE_T_MAP, "table → rows loaded (counted after a restore by psql or pg_restore)"},
    {"table_count", RUNE_T_INT, "tables restored"},
    {"rows", RUNE_T_INT, "rows, all tables"},
    {"backup", RUNE_T_PATH, "the backup restored from"},
    {"format", RUNE_T_STRING, "rune, plain, custom or directory"},
    {"mode", RUNE_T_STRING, "drop, merge or create"},
    {"recovery_point", RUNE_T_STRING,
     "the backup's recovery point (for pg_dump files: their modification time)"},
    {"checked", RUNE_T_STRING, "what was proven after loading: counts, content or none"},
    {"created", RUNE_T_BOOL, "the database was created by this restore"},
    {"seconds", RUNE_T_NUMBER, "how long the restore took"},
    {0},
};

const struct rune_step_type rune_pg_backup_steps[] = {
    {"pg.dump",
     "Snapshot-consistent logical backup: one plain SQL script (gzip or zstd artifact + manifest "
     "with "
     "per-table rows and hashes), tables copied in parallel",
     dump_params, dump_outputs, RUNE_WRITES, rune_pg_dump_run, rune_pg_dump_plan, false,
     rune_pg_dump_size},
    {"pg.restore",
     "Verify, then restore a pg.dump backup (parallel, whole or some tables) or a pg_dump "
     "file; rows checked against the manifest",
     restore_params, restore_outputs, RUNE_WRITES, rune_pg_restore_run, rune_pg_restore_plan, false,
     rune_worksize_backup_from},
    {0},
};
