#!/usr/bin/env bash
# pg-pitr behind a real pgBouncer (transaction pooling): the pools are
# paused while the cluster is replaced and resumed once the recovered
# server verified; the application's connections through the pool then
# see exactly the rows committed up to the target; the application (a
# command service) is stopped first and started last. A failed
# verification's rollback resumes the pool too.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_replication.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_pgbouncer.sh"

status() { sql "select status from events where incident_id='$(last_incident)' and step='$1' and kind in ('step.end','step.skip') order by rowid desc limit 1"; }
now_utc() { pg_sql "select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"; }
rows_hash() { pgb_sql "select count(*) || ':' || md5(string_agg(i::text || '=' || v, ',' order by i)) from items" app; }

pg_start_primary
pg_createdb app
pg_sql "create table items (i int primary key, v text)" app >/dev/null
pg_sql "insert into items select g, 'v' || g from generate_series(1, 300) g" app >/dev/null
pgb_start --db app
export PGBOUNCER_PASSWORD=$PGB_ADMIN_PASSWORD

run_rune run pg-basebackup --set backups="$T/base" --set archive="$PG_ARCHIVE"
[ "$RC" = 0 ] || fail "the base backup failed: $(tail -5 "$T/out")"
pgb_sql "insert into items select g, 'late ' || g from generate_series(301, 400) g" app >/dev/null
good=$(rows_hash)
target=$(now_utc)
pgb_sql "delete from items where i > 200" app >/dev/null
pg_wait_archived "$(pg_switch_wal)"
args=(--yes --set data_dir="$PG_DATA" --set backups="$T/base" --set archive="$PG_ARCHIVE"
      --set target_time="$target" --set pgbouncer_host=127.0.0.1 --set pgbouncer_port="$PGB_PORT"
      --set pgbouncer_user="$PGB_ADMIN_USER" --set pgbouncer_database=app)

test_case "pg-pitr stops the application and pauses the pool while the cluster is replaced, then resumes both"
touch "$T/app.up"
run_rune run pg-pitr "${args[@]}" --set app_stop="rm -f $T/app.up" --set app_start="touch $T/app.up" \
    --set app_status="test -f $T/app.up"
expect_rc 0
for s in stop_app pause_pool recover primary validate resume_pool start_app; do expect_eq "$(status $s)" ok "$s"; done
[ -f "$T/app.up" ] || fail "the application was not started again"
expect_eq "$(out pause_pool paused)" 1 "paused"
expect_eq "$(pgb_paused app)" 0 "paused flag after the run"
expect_eq "$(rows_hash)" "$good" "rows through the pool"
end_case

test_case "a failed verification's rollback resumes the pool too"
pgb_sql "insert into items values (9999, 'on timeline 2')" app >/dev/null
pg_wait_archived "$(pg_switch_wal)"
before=$(rows_hash)
run_rune run pg-pitr "${args[@]}" --set validate_sql="select false"
expect_rc 3
for s in put_back resume_after; do expect_eq "$(status $s)" ok "$s"; done
expect_eq "$(pgb_paused app)" 0 "paused flag after the rollback"
expect_eq "$(rows_hash)" "$before" "the original's rows through the pool"
end_case

finish
