/*
 * registry.c — the list of native step families and target kinds. Adding
 * a family means one line here and one table at the end of its own file.
 */
#include "step.h"

extern const struct rune_step_type rune_backup_steps[];
extern const struct rune_step_type rune_disk_steps[];
extern const struct rune_step_type rune_file_steps[];
extern const struct rune_step_type rune_flow_steps[];
extern const struct rune_step_type rune_http_steps[];
extern const struct rune_step_type rune_pg_steps[];
extern const struct rune_step_type rune_pg_backup_steps[];
extern const struct rune_step_type rune_pg_check_steps[];
extern const struct rune_step_type rune_pg_physical_steps[];
extern const struct rune_step_type rune_pg_replication_steps[];
extern const struct rune_step_type rune_pgbouncer_steps[];
extern const struct rune_step_type rune_service_steps[];
extern const struct rune_step_type rune_shell_steps[];
extern const struct rune_step_type rune_sqlite_steps[];

extern const struct rune_target_kind rune_pgbouncer_target;
extern const struct rune_target_kind rune_postgres_target;
extern const struct rune_target_kind rune_service_target;
/* defined by the engine, which runs remote commands for every family */
extern const struct rune_target_kind rune_ssh_target;

const struct rune_target_kind *const rune_native_target_kinds[] = {
    &rune_pgbouncer_target, &rune_postgres_target, &rune_service_target, &rune_ssh_target, NULL,
};

/* one family per line, so that adding one is a one-line change */
/* clang-format off */
const struct rune_step_type *const rune_native_families[] = {
    rune_backup_steps,
    rune_disk_steps,
    rune_file_steps,
    rune_flow_steps,
    rune_http_steps,
    rune_pg_steps,
    rune_pg_backup_steps,
    rune_pg_check_steps,
    rune_pg_physical_steps,
    rune_pg_replication_steps, /* pg.replication, pg.promote, pg.rebuild_standby */
    rune_pgbouncer_steps,
    rune_service_steps,
    rune_shell_steps,
    rune_sqlite_steps,
    NULL,
};
/* clang-format on */
