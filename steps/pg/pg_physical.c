/*
 * pg_physical.c — the pg_physical family's table: base backups and
 * point-in-time recovery (pg_physical.h, docs/pg-physical.md).
 */
#include "pg_physical.h"
#include "artifact.h"

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

const struct rune_step_type rune_pg_physical_steps[] = {
    {"pg.basebackup",
     "Physical base backup of a whole cluster into one gzip or zstd artifact (tar inside), every "
     "file checked against the server's backup manifest",
     basebackup_params, basebackup_outputs, RUNE_WRITES, rune_pg_basebackup_run,
     rune_pg_basebackup_plan, false, rune_pg_basebackup_size},
    {0},
};
