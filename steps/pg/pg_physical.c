/*
 * pg_physical.c — the pg_physical family's table: base backups and
 * point-in-time recovery (pg_physical.h, docs/pg-physical.md).
 */
#include "pg_physical.h"
#include "artifact.h"
#include "pathparam.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *rune_pg_server_tool(struct rune_call *c, json_t *manifest, const char *name, char *buf,
                                size_t len)
{
    const char *bindir = rune_call_str(c, "bindir");
    if (bindir && *bindir) {
        char *dir = rune_path_param(c, bindir);
        snprintf(buf, len, "%s/%s", dir ? dir : bindir, name);
        free(dir);
        return buf;
    }
    const char *v = json_string_value(json_object_get(manifest, "server_version"));
    int major = v ? atoi(v) : 0;
    if (major > 0) {
        snprintf(buf, len, "/usr/lib/postgresql/%d/bin/%s", major, name);
        if (access(buf, X_OK) == 0)
            return buf;
    }
    snprintf(buf, len, "%s", name);
    return buf;
}

#define TARGET_PARAM                                                                               \
    {                                                                                              \
        "target", RUNE_T_TARGET, false, NULL,                                                      \
            "the postgres target to back up (default: libpq's environment, PGHOST ...)",           \
            .kind = "postgres"                                                                     \
    }

static const struct rune_param basebackup_params[] = {
    TARGET_PARAM,
    {"dir", RUNE_T_PATH, false, ".",
     "directory for basebackup-YYYYMMDD-HHMMSS.tar.gz (.tar.zst with zstd; when `to` is not "
     "given; created if missing)"},
    {"to", RUNE_T_PATH, false, NULL, "the backup file to write (never overwritten)"},
    RUNE_ARTIFACT_COMPRESSION_PARAM,
    RUNE_ARTIFACT_LEVEL_PARAM,
    {"threads", RUNE_T_INT, false, "0", "compression threads (0: one per CPU, at most 8)"},
    {0},
};
static const struct rune_output basebackup_outputs[] = {
    {"path", RUNE_T_PATH, "the backup's data file: the cluster as one tar archive, gzip or zstd"},
    {"manifest", RUNE_T_PATH, "its manifest"},
    {"bytes", RUNE_T_INT, "compressed size"},
    {"raw_bytes", RUNE_T_INT, "size of the tar archive"},
    {"sha256", RUNE_T_STRING, "whole-file SHA-256"},
    {"kind", RUNE_T_STRING, "\"pg.basebackup\""},
    {"start_lsn", RUNE_T_STRING, "WAL position the backup starts at (its checkpoint's redo)"},
    {"stop_lsn", RUNE_T_STRING, "WAL position recovery must reach for the backup to be consistent"},
    {"timeline", RUNE_T_INT, "the timeline the backup started on"},
    {"start_time", RUNE_T_STRING, "the server's clock when the backup started (UTC)"},
    {"stop_time", RUNE_T_STRING, "the server's clock when it ended (UTC)"},
    {"recovery_point", RUNE_T_STRING, "= start_time: every transaction committed before it is in"},
    {"wal_start", RUNE_T_STRING, "the first WAL segment recovery needs"},
    {"wal_end", RUNE_T_STRING, "the last WAL segment it needs to reach consistency"},
    {"wal_segment_size", RUNE_T_INT, "bytes per WAL segment"},
    {"files", RUNE_T_INT, "files checked against the server's backup_manifest"},
    {"system_identifier", RUNE_T_STRING, "the cluster's system identifier"},
    {"server_version", RUNE_T_STRING, "the server's version"},
    {"seconds", RUNE_T_NUMBER, "how long the backup took"},
    {"read_with", RUNE_T_STRING, "the command that reads it without rune (piped to tar -x)"},
    {0},
};

#define BINDIR_PARAM                                                                               \
    {                                                                                              \
        "bindir", RUNE_T_PATH, false, NULL,                                                        \
            "directory of the server's programs (pg_waldump, pg_ctl); default: "                   \
            "/usr/lib/postgresql/MAJOR/bin when they are there, else PATH"                         \
    }

static const struct rune_param walcheck_params[] = {
    {"archive", RUNE_T_PATH, true, NULL, "the WAL archive directory (archive_command's target)"},
    {"backup", RUNE_T_PATH, false, NULL, "the base backup (pg.basebackup) recovery starts from",
     .one_of = "from"},
    {"backups", RUNE_T_PATH, false, NULL,
     "or a directory: the newest base backup in it that ended before a time target (for other "
     "targets, the newest)",
     .one_of = "from"},
    {"target_time", RUNE_T_STRING, false, NULL,
     "recover to this time: ISO-8601 or PostgreSQL timestamp text (no zone: UTC)"},
    {"target_lsn", RUNE_T_STRING, false, NULL, "recover to this LSN (0/3000060)"},
    BINDIR_PARAM,
    {0},
};
static const struct rune_output walcheck_outputs[] = {
    {"backup", RUNE_T_PATH, "the base backup checked from"},
    {"reachable", RUNE_T_BOOL, "the archive reaches the target (the step fails when not)"},
    {"reason", RUNE_T_STRING, "why not, naming the first gap; null when reachable"},
    {"last_segment", RUNE_T_STRING, "the last segment present and readable in a row"},
    {"first_gap", RUNE_T_STRING,
     "the first segment missing or unreadable (for latest: where the archive ends), or null"},
    {"segments", RUNE_T_INT, "segments checked"},
    {"timeline", RUNE_T_INT, "the timeline recovery follows to (the newest with history)"},
    {"end_time", RUNE_T_STRING,
     "the last commit time read (the archive's end, for latest or an unreachable time), or null"},
    {"stop_time", RUNE_T_STRING,
     "time target: the first commit after it, where recovery will stop; else null"},
    {"stop_lsn", RUNE_T_STRING, "that commit's LSN"},
    {"expected_point", RUNE_T_STRING,
     "time target: the last commit at or before it, the recovery point to expect"},
    {0},
};

static const struct rune_param recover_params[] = {
    {"data_dir", RUNE_T_PATH, true, NULL,
     "the cluster's data directory: set aside (never deleted) and replaced by the recovered one"},
    {"backup", RUNE_T_PATH, false, NULL, "the base backup (pg.basebackup) to start from",
     .one_of = "from"},
    {"backups", RUNE_T_PATH, false, NULL,
     "or a directory: the newest base backup in it that ended before a time target and "
     "verifies (for other targets, the newest that verifies)",
     .one_of = "from"},
    {"archive", RUNE_T_PATH, true, NULL, "the WAL archive (restore_command copies from it)"},
    {"target_time", RUNE_T_STRING, false, NULL,
     "recover to this time: ISO-8601 or PostgreSQL timestamp text (no zone: UTC)"},
    {"target_lsn", RUNE_T_STRING, false, NULL, "recover to this LSN"},
    {"target_xid", RUNE_T_STRING, false, NULL, "recover to this transaction id"},
    {"target_name", RUNE_T_STRING, false, NULL, "recover to this restore point"},
    {"immediate", RUNE_T_BOOL, false, "false",
     "stop as soon as the backup is consistent (recovery_target = immediate)"},
    {"other_cluster", RUNE_T_BOOL, false, "false",
     "allow a base backup of another cluster than the one in data_dir (its system identifier "
     "differs)"},
    BINDIR_PARAM,
    {0},
};
static const struct rune_output recover_outputs[] = {
    {"recovery_point", RUNE_T_STRING,
     "the recovery point actually reached: the last transaction replayed (UTC; the backup's own "
     "point when none was); the report's RPO comes from it"},
    {"last_transaction", RUNE_T_STRING, "that time to the microsecond, or null"},
    {"expected_point", RUNE_T_STRING,
     "time target: the last commit at or before it, as the archive check read it"},
    {"timeline", RUNE_T_INT, "the new timeline"},
    {"lsn", RUNE_T_STRING, "where replay ended (\"redo done at\")"},
    {"target", RUNE_T_STRING, "the target, as given (latest when none)"},
    {"data_dir", RUNE_T_PATH, "the recovered data directory"},
    {"set_aside", RUNE_T_PATH,
     "where the previous data directory was put (set as soon as it was moved: the undo's input)"},
    {"was_running", RUNE_T_BOOL, "a server ran on the data directory before (it was stopped)"},
    {"backup", RUNE_T_PATH, "the base backup recovered from"},
    {"log", RUNE_T_PATH, "the server's log of the recovery"},
    {"wal_check", RUNE_T_MAP, "the archive check made first (pg.wal_check's outputs)"},
    {0},
};
static const struct rune_param undo_params[] = {
    {"data_dir", RUNE_T_PATH, true, NULL, "the data directory pg.recover recovered into"},
    {"set_aside", RUNE_T_PATH, true, NULL, "where pg.recover set the original aside"},
    {"start", RUNE_T_BOOL, false, "true", "start the server on the original afterwards"},
    BINDIR_PARAM,
    {0},
};
static const struct rune_output undo_outputs[] = {
    {"data_dir", RUNE_T_PATH, "the data directory, the original again"},
    {"recovered_moved_to", RUNE_T_PATH, "where the recovered directory went (kept), or null"},
    {"started", RUNE_T_BOOL, "its server was started"},
    {0},
};

const struct rune_step_type rune_pg_physical_steps[] = {
    {"pg.basebackup",
     "Physical base backup of a whole cluster into one gzip or zstd artifact (tar inside), every "
     "file checked against the server's backup manifest",
     basebackup_params, basebackup_outputs, RUNE_WRITES, rune_pg_basebackup_run,
     rune_pg_basebackup_plan, false, rune_pg_basebackup_size},
    {"pg.wal_check",
     "Prove a WAL archive reaches a target (time, LSN or latest) from a base backup: every "
     "segment present and readable, timelines followed; names the first gap",
     walcheck_params, walcheck_outputs, RUNE_READS, rune_pg_walcheck_run, rune_pg_walcheck_plan},
    {"pg.recover",
     "Point-in-time recovery into a data directory: archive checked first, the directory set "
     "aside, the base backup laid, WAL replayed to the target, promoted; no recovery setting left",
     recover_params, recover_outputs, RUNE_WRITES, rune_pg_recover_run, rune_pg_recover_plan},
    {"pg.recover_undo",
     "pg.recover's rollback: the set-aside data directory put back exactly, its server started",
     undo_params, undo_outputs, RUNE_WRITES, rune_pg_recover_undo_run, rune_pg_recover_undo_plan},
    {0},
};
