#!/usr/bin/env bash
# The pg-pitr runbook on real clusters (seeds 002 and 004): after a bad
# DELETE, recovery to a time just before it gives back exactly the rows
# committed up to then (a row-level hash against a snapshot taken then);
# afterwards no recovery setting is left in the data directory or the
# server's configuration, and a standby cloned from it stays a standby; a
# target after the archive's end is refused before the data directory is
# touched, with the server still running; a failed verification puts the
# original data directory back exactly; the report shows RTO and the RPO
# measured to the last transaction replayed.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_replication.sh"

now_utc() { pg_sql "select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"; }
# rows_hash — every row of items, hashed in key order
rows_hash() { pg_sql "select count(*) || ':' || md5(coalesce(string_agg(i::text || '=' || v, ',' order by i), '')) from items" app; }
# inode PATH
inode() { stat -c %i "$1"; }

pg_start_primary
pg_createdb app
pg_sql "create table items (i int primary key, v text)" app >/dev/null
pg_sql "insert into items select g, 'before the backup ' || g from generate_series(1, 500) g" app >/dev/null

test_case "setup: a base backup with pg-basebackup"
run_rune run pg-basebackup --set backups="$T/base" --set archive="$PG_ARCHIVE"
expect_rc 0
end_case

# committed after the backup, in several transactions: in the archive only
for k in 1 2 3 4 5; do
    pg_sql "insert into items select g, 'after the backup ' || g from generate_series(500 + $k * 100 - 99, 500 + $k * 100) g" app >/dev/null
    pg_sql "update items set v = v || ' (touched $k)' where i % 7 = $k" app >/dev/null
done
good=$(rows_hash)
target=$(now_utc)
pg_sql "delete from items where i % 2 = 0" app >/dev/null   # the bad transaction
pg_sql "insert into items values (100000, 'after the bad delete')" app >/dev/null
bad=$(rows_hash)
pg_wait_archived "$(pg_switch_wal)"
[ "$good" != "$bad" ] || fail "the bad delete changed nothing"

test_case "a target after the archive's end is refused before the data directory is touched"
pid=$(head -1 "$PG_DATA/postmaster.pid"); ino=$(inode "$PG_DATA")
run_rune run pg-pitr --yes --set data_dir="$PG_DATA" --set backups="$T/base" --set archive="$PG_ARCHIVE" \
    --set target_time="2099-01-01T00:00:00Z"
[ "$RC" != 0 ] || fail "a target after the archive's end was accepted"
expect_out "cannot reach 2099-01-01T00:00:00Z"
expect_eq "$(step_status "$(last_incident)" recover)" "not_run" "recover step"
expect_eq "$(inode "$PG_DATA")" "$ino" "the data directory"
expect_eq "$(head -1 "$PG_DATA/postmaster.pid")" "$pid" "the postmaster"
pg_running || fail "the server is not running"
expect_eq "$(rows_hash)" "$bad" "rows"
expect_eq "$(ls -d "$PG_DATA".* 2>/dev/null)" "" "nothing set aside"
end_case

test_case "declining the confirmation leaves the server and its data directory as they were"
pid=$(head -1 "$PG_DATA/postmaster.pid"); ino=$(inode "$PG_DATA")
run_rune run pg-pitr --set data_dir="$PG_DATA" --set backups="$T/base" --set archive="$PG_ARCHIVE" \
    --set target_time="$target"
[ "$RC" != 0 ] || fail "ran without a confirmation"
expect_eq "$(step_status "$(last_incident)" recover)" "not_run" "recover step"
expect_eq "$(inode "$PG_DATA")" "$ino" "the data directory"
expect_eq "$(head -1 "$PG_DATA/postmaster.pid")" "$pid" "the postmaster"
expect_eq "$(rows_hash)" "$bad" "rows"
end_case

test_case "pg-pitr of a crashed server to just before the bad DELETE restores exactly the rows committed by then"
orig=$(inode "$PG_DATA")
pg_crash    # the server is down, as it often is when a PITR is needed
# clients keep knocking while the server recovers: the FATALs they get
# ("not yet accepting connections") are not recovery's failure
touch "$T/knock"
( while [ -e "$T/knock" ]; do "$PG_BIN/psql" -X -c "select 1" >/dev/null 2>&1; sleep 0.02; done ) &
knocker=$!
run_rune run pg-pitr --yes --set data_dir="$PG_DATA" --set backups="$T/base" --set archive="$PG_ARCHIVE" \
    --set target_time="$target"
rm -f "$T/knock"; wait "$knocker"
expect_rc 0
inc=$(last_incident)
expect_eq "$(rows_hash)" "$good" "rows at the target"
aside=$(out recover set_aside)
case "$aside" in "$PG_DATA".before-pitr-*) ;; *) fail "set aside as '$aside'" ;; esac
expect_eq "$(inode "$aside")" "$orig" "the original directory, renamed (not copied, not nested)"
[ -d "$aside/data" ] && fail "the original was nested"
expect_eq "$(out recover timeline)" "2" "new timeline"
expect_eq "$(out recover was_running)" "0" "was running"
[ -n "$(out recover lsn)" ] || fail "no LSN"
point=$(out recover recovery_point)
[ "$(pg_sql "select '$point'::timestamptz <= '$target'::timestamptz and '$point'::timestamptz > now() - interval '1 hour'")" = t ] ||
    fail "recovery point $point is not just before the target $target"
expect_eq "$(pg_sql "select pg_is_in_recovery()")" "f" "in recovery"
grep -q "FATAL:  the database system is" "$(out recover log)" ||
    echo "note: no client was turned away during this recovery" >&2
end_case

test_case "no recovery setting is left in the data directory, its configuration or the server"
for f in recovery.signal standby.signal; do [ -e "$PG_DATA/$f" ] && fail "$f left behind"; done
set_re='^[[:space:]]*(restore_command|recovery_target|primary_conninfo)'
if grep -qE "$set_re" "$PG_DATA"/*.conf; then
    fail "a recovery setting is left: $(grep -hE "$set_re" "$PG_DATA"/*.conf)"
fi
grep -qE "restore_command|recovery_target" "$PG_DATA/postmaster.opts" &&
    fail "the server runs with recovery settings: $(cat "$PG_DATA/postmaster.opts")"
expect_eq "$(pg_sql "select string_agg(name, ',') from pg_settings where name in ('restore_command', 'recovery_target_time', 'recovery_target_action') and source <> 'default'")" "" "settings"
end_case

test_case "a standby cloned from the recovered primary stays a standby after a commit"
primary=$PG_NAME
pg_start_standby clone "$primary"
pg_use "$primary"
pg_sql "insert into items values (200000, 'on the recovered primary')" app >/dev/null
pg_wait_replayed clone "$primary"
pg_use clone
expect_eq "$(pg_sql "select pg_is_in_recovery()")" "t" "the clone is still a standby"
expect_eq "$(pg_sql "select v from items where i = 200000" app)" "on the recovered primary" "replicated row"
pg_use "$primary"
end_case

test_case "the report shows RTO and the RPO measured to the last transaction replayed"
run_rune report "$inc"
expect_rc 0
rpo=$(sql "select json_extract(detail_json, '\$.recovery_point') from events where incident_id='$inc' and step='recover' and kind='step.end'")
expect_eq "$rpo" "$point" "the recovery point recorded"
grep -E "^\| *RTO" "$T/out" >/dev/null || grep -q "RTO" "$T/out" || fail "no RTO in the report"
grep "RPO" "$T/out" | grep -qv unknown || fail "RPO unknown: $(grep RPO "$T/out")"
grep "RPO" "$T/out" | grep -q "restore step recover" || fail "RPO not measured to the recovery: $(grep RPO "$T/out")"
end_case

test_case "a failed verification puts the original data directory back exactly"
# timeline 2's commits reach the archive: recovery follows the newest timeline
pg_wait_archived "$(pg_switch_wal)"
before=$(rows_hash); ino=$(inode "$PG_DATA")
run_rune run pg-pitr --yes --set data_dir="$PG_DATA" --set backups="$T/base" --set archive="$PG_ARCHIVE" \
    --set target_time="$target" --set validate_sql="select false"
expect_rc 3
expect_eq "$(inode "$PG_DATA")" "$ino" "the data directory is the original again"
pg_running || fail "the original's server is not running"
expect_eq "$(rows_hash)" "$before" "rows"
moved=$(out put_back recovered_moved_to)
[ -d "$moved" ] || fail "the recovered directory was not kept ($moved)"
end_case

test_case "recovery that PostgreSQL itself gives up on fails with the log's FATAL, and the undo puts the original back"
# a transaction id the archive never reaches: pg.wal_check cannot tell
# (it reads times and LSNs), the server can
before=$(rows_hash); ino=$(inode "$PG_DATA")
run_rune run "$RUNE_SOURCE_DIR/tests/pg/cases/recover_xid.yaml" --set data_dir="$PG_DATA" \
    --set backups="$T/base" --set archive="$PG_ARCHIVE" --set target_xid=4000000000
expect_rc 3
expect_out "FATAL:  recovery ended before configured recovery target was reached"
expect_eq "$(step_status "$(last_incident)" undo)" "ok" "undo"
expect_eq "$(inode "$PG_DATA")" "$ino" "the data directory is the original again"
pg_running || fail "the original's server is not running"
expect_eq "$(rows_hash)" "$before" "rows"
end_case

finish
