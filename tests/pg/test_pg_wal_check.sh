#!/usr/bin/env bash
# pg.wal_check and the pg-basebackup runbook on a real archiving primary:
# the runbook takes a base backup and proves the archive continues it; a
# time target between two commits is reachable and says where recovery
# will stop; a target after the archive's end, a missing segment and a
# damaged one are refused, naming the first gap; pg.recover refuses a base
# backup of another cluster.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_replication.sh"
C="$RUNE_SOURCE_DIR/tests/pg/cases"

# now_utc — the server's clock, ISO-8601 with microseconds
now_utc() { pg_sql "select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"; }
# after A B — A is a later time than B (both ISO-8601 UTC)
after() { [ "$(pg_sql "select '$1'::timestamptz > '$2'::timestamptz")" = t ]; }

pg_start_primary
pg_sql "create table t (i int)" >/dev/null

test_case "pg-basebackup: a verified base backup, and the archive reaches from it to its end"
run_rune run pg-basebackup --set backups="$T/b" --set archive="$PG_ARCHIVE"
expect_rc 0
bk=$(out base path); bstop=$(out base stop_lsn); bstart=$(out base start_time)
expect_eq "$(step_status "$(last_incident)" wal)" "ok" "wal check"
expect_eq "$(out wal reachable)" "1" "reachable"
expect_eq "$(out wal last_segment)" "$(out base wal_end)" "the archive's end is the backup's last segment"
expect_eq "$(out verify ok)" "1" "verified"
expect_eq "$(out prune wal_deleted)" "" "no WAL pruned unless asked"
end_case

pg_sql "insert into t values (1)" >/dev/null
c1=$(now_utc)
mid=$(now_utc)
pg_sql "insert into t values (2)" >/dev/null
c2=$(now_utc)
last=$(pg_switch_wal)
pg_wait_archived "$last"

test_case "a time between two commits is reachable; recovery will stop at the second"
run_rune run "$C/wal_check.yaml" --set archive="$PG_ARCHIVE" --set backup="$bk" --set target_time="$mid"
expect_rc 0
expect_eq "$(out check reachable)" "1" "reachable"
stop=$(out check stop_time); exp=$(out check expected_point)
after "$stop" "$mid" || fail "stop_time $stop is not after the target $mid"
after "$c2" "$stop" || fail "stop_time $stop is after the second commit ended ($c2)"
after "$mid" "$exp" || fail "expected_point $exp is after the target $mid"
expect_eq "$(out check first_gap)" "" "no gap"
end_case

test_case "PostgreSQL's timestamp text is read too"
pgtext=$(pg_sql "select '$mid'::timestamptz")   # 2026-12-02 19:44:36.31671+00
run_rune run "$C/wal_check.yaml" --set archive="$PG_ARCHIVE" --set backup="$bk" --set target_time="$pgtext"
expect_rc 0
expect_eq "$(out check stop_time)" "$stop" "same stop"
end_case

test_case "a time after the archive's end is refused, naming the gap and the end"
run_rune run "$C/wal_check.yaml" --set archive="$PG_ARCHIVE" --set backup="$bk" --set target_time="2099-01-01T00:00:00Z"
expect_rc 4
expect_eq "$(out check reachable)" "0" "reachable"
expect_eq "$(out check last_segment)" "$last" "last segment"
after "$(out check end_time)" "$c1" || fail "end_time $(out check end_time) is not the last commit"
expect_out "cannot reach 2099-01-01T00:00:00Z"
expect_out "recovery would end before reaching it"
end_case

test_case "a missing segment is the first gap, even with later ones there"
for i in 3 4; do pg_sql "insert into t values ($i)" >/dev/null; pg_wait_archived "$(pg_switch_wal)"; done
mv "$PG_ARCHIVE/$last" "$T/held"
run_rune run "$C/wal_check.yaml" --set archive="$PG_ARCHIVE" --set backup="$bk"
expect_rc 4
expect_eq "$(out check first_gap)" "$last" "first gap"
expect_out "segment $last is not in the archive"
end_case

test_case "a damaged segment is named as unreadable"
head -c 1000000 "$T/held" >"$PG_ARCHIVE/$last"
run_rune run "$C/wal_check.yaml" --set archive="$PG_ARCHIVE" --set backup="$bk" --set target_time="$mid"
expect_rc 4
expect_eq "$(out check first_gap)" "$last" "first gap"
expect_out "not a whole segment"
cp "$T/held" "$PG_ARCHIVE/$last"
run_rune run "$C/wal_check.yaml" --set archive="$PG_ARCHIVE" --set backup="$bk"
expect_rc 0
end_case

test_case "an LSN past the archive is refused; one inside is reachable"
run_rune run "$C/wal_check.yaml" --set archive="$PG_ARCHIVE" --set backup="$bk" --set target_lsn="FF/0"
expect_rc 4
run_rune run "$C/wal_check.yaml" --set archive="$PG_ARCHIVE" --set backup="$bk" --set target_lsn="$bstop"
expect_rc 0
end_case

test_case "pg.recover refuses a base backup of another cluster before touching anything"
main_data=$PG_DATA; main_archive=$PG_ARCHIVE
pid=$(head -1 "$main_data/postmaster.pid"); ino=$(stat -c %i "$main_data")
pg_start_primary other
run_rune run "$C/basebackup.yaml" --set dir="$T/other"
expect_rc 0
run_rune run "$C/recover_xid.yaml" --set data_dir="$main_data" --set backups="$T/other" \
    --set archive="$main_archive" --set target_xid=1000
[ "$RC" != 0 ] || fail "a backup of another cluster was laid"
expect_out "is a base backup of another cluster"
expect_eq "$(stat -c %i "$main_data")" "$ino" "the data directory"
expect_eq "$(head -1 "$main_data/postmaster.pid")" "$pid" "the postmaster"
end_case

finish
