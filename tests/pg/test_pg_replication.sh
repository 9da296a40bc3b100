#!/usr/bin/env bash
# pg.replication on real clusters: a primary that archives, a streaming
# standby on a slot, replay paused while the primary writes (real lag),
# a failing archive_command, a synchronous standby, and the same reading
# through pgBouncer in transaction pooling mode.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_replication.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_pgbouncer.sh"

cat >"$T/repl.yaml" <<'EOF'
runbook: repl
mitigation:
  steps:
    - id: r
      uses: pg.replication
EOF

# wait_for DESCRIPTION CMD... — CMD until it succeeds, 60 s at most.
wait_for() {
    local what=$1 i
    shift
    for ((i = 0; i < 600; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "waited 60s for $what"
    return 1
}

pg_start_primary primary
pg_sql "create table marks (id int primary key, note text)"
pg_sql "insert into marks select g, 'row ' || g from generate_series(1, 100) g"
pg_start_standby standby primary
pg_use primary
pg_sql "insert into marks values (101, 'after the clone')"
pg_wait_replayed standby

test_case "on the primary: role, its streaming standby, the standby's slot, the archiver"
pg_use primary
run_rune run "$T/repl.yaml"
expect_rc 0
expect_eq "$(out r role)" primary "role"
expect_eq "$(out r in_recovery)" 0 "in_recovery"
expect_eq "$(out r timeline)" 1 "timeline"
# pg_basebackup -R gives no application_name: the receiver's default
expect_eq "$(out r 'standbys[0].name')" walreceiver "standby's application_name"
expect_eq "$(out r 'standbys[0].state')" streaming "standby's state"
expect_eq "$(out r 'standbys[0].sync_state')" async "sync_state"
expect_eq "$(out r synchronous)" 0 "synchronous"
expect_eq "$(out r 'slots[0].name')" standby "slot name"
expect_eq "$(out r 'slots[0].active')" 1 "slot active"
[ "$(out r 'slots[0].retained_bytes')" -ge 0 ] 2>/dev/null || fail "retained_bytes: $(out r 'slots[0].retained_bytes')"
[ -n "$(out r current_lsn)" ] || fail "no current_lsn"
expect_eq "$(out r 'archiver.archiving')" 1 "archiving"
expect_eq "$(out r 'archiver.failed_count')" 0 "archive failures"
expect_eq "$(out r 'archiver.failing')" 0 "failing"
end_case

test_case "on a caught-up standby: role, upstream, lag 0 bytes and 0 seconds"
pg_use standby
run_rune run "$T/repl.yaml"
expect_rc 0
expect_eq "$(out r role)" standby "role"
expect_eq "$(out r in_recovery)" 1 "in_recovery"
expect_eq "$(out r 'upstream.status')" streaming "upstream"
expect_eq "$(out r 'upstream.slot_name')" standby "upstream slot"
expect_eq "$(out r lag_bytes)" 0 "lag_bytes"
awk -v s="$(out r lag_seconds)" 'BEGIN { exit !(s == "0" || s == "0.0") }' ||
    fail "lag_seconds when caught up: $(out r lag_seconds)"
expect_eq "$(out r replay_paused)" 0 "replay_paused"
expect_eq "$(out r receive_lsn)" "$(out r replay_lsn)" "received = replayed"
case "$(out r last_replay)" in 20[0-9][0-9]-*T*Z) ;; *) fail "last_replay: $(out r last_replay)" ;; esac
end_case

test_case "replay paused while the primary writes: real lag in bytes and seconds"
pg_use standby
pg_sql "select pg_wal_replay_pause()" >/dev/null
wait_for "replay to pause" test "$(pg_sql "select pg_get_wal_replay_pause_state()")" = paused
pg_use primary
pg_sql "insert into marks select g, 'paused ' || g from generate_series(1000, 6000) g"
pg_use standby
unreplayed() { [ "$(pg_sql "select pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) > 0")" = t ]; }
wait_for "the standby to receive what it does not replay" unreplayed
old_replay() { [ "$(pg_sql "select now() - pg_last_xact_replay_timestamp() > interval '1s'")" = t ]; }
wait_for "the last replayed transaction to be a second old" old_replay
run_rune run "$T/repl.yaml"
expect_rc 0
expect_eq "$(out r replay_paused)" 1 "replay_paused"
[ "$(out r lag_bytes)" -gt 0 ] 2>/dev/null || fail "lag_bytes: $(out r lag_bytes)"
awk -v s="$(out r lag_seconds)" 'BEGIN { exit !(s >= 1) }' || fail "lag_seconds: $(out r lag_seconds)"
pg_use primary
run_rune run "$T/repl.yaml"
[ "$(out r lag_bytes)" -gt 0 ] 2>/dev/null || fail "primary's lag_bytes: $(out r lag_bytes)"
[ "$(out r 'standbys[0].lag_bytes')" -gt 0 ] 2>/dev/null || fail "standby's lag on the primary"
pg_use standby
pg_sql "select pg_wal_replay_resume()" >/dev/null
pg_wait_replayed standby
end_case

test_case "a failing archive_command: failures counted, the failing segment named"
pg_use primary
pg_sql "alter system set archive_command = 'false'" >/dev/null
pg_sql "select pg_reload_conf()" >/dev/null
seg=$(pg_switch_wal primary)
archive_failed() { [ "$(pg_sql "select failed_count > 0 and last_failed_wal = '$seg' from pg_stat_archiver")" = t ]; }
wait_for "the archiver to fail on $seg" archive_failed
run_rune run "$T/repl.yaml"
expect_rc 0
[ "$(out r 'archiver.failed_count')" -gt 0 ] 2>/dev/null || fail "failed_count: $(out r 'archiver.failed_count')"
expect_eq "$(out r 'archiver.last_failed_wal')" "$seg" "last_failed_wal"
expect_eq "$(out r 'archiver.failing')" 1 "failing"
case "$(out r 'archiver.last_failed_time')" in 20[0-9][0-9]-*T*Z) ;; *) fail "last_failed_time" ;; esac
pg_sql "alter system reset archive_command" >/dev/null
pg_sql "select pg_reload_conf()" >/dev/null
end_case

test_case "a synchronous standby is reported as such"
pg_use primary
pg_sql "alter system set synchronous_standby_names = '*'" >/dev/null
pg_sql "select pg_reload_conf()" >/dev/null
wait_for "the standby to become synchronous" test "$(pg_sql "select sync_state from pg_stat_replication")" = sync
run_rune run "$T/repl.yaml"
expect_rc 0
expect_eq "$(out r synchronous)" 1 "synchronous"
expect_eq "$(out r sync_standby_names)" "*" "sync_standby_names"
expect_eq "$(out r 'standbys[0].sync_state')" sync "sync_state"
pg_sql "alter system reset synchronous_standby_names" >/dev/null
pg_sql "select pg_reload_conf()" >/dev/null
end_case

test_case "through pgBouncer in transaction pooling mode"
pg_use primary
pgb_start
pgb_env
run_rune run "$T/repl.yaml"
expect_rc 0
expect_eq "$(out r role)" primary "role through pgBouncer"
expect_eq "$(out r 'standbys[0].state')" streaming "standby through pgBouncer"
pgb_env_off
end_case

finish
