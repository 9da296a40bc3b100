#!/usr/bin/env bash
# Failover on real clusters: a primary that archives and a streaming
# standby on a slot. pg.promote refuses a standby that lags (replay paused
# while the primary writes) or has WAL it has not replayed, and refuses
# while the old primary still answers. Then the primary crashes
# (immediate shutdown) and the bundled pg-failover promotes the standby:
# it takes writes, holds every row that was replayed before the crash, the
# old primary is fenced (started again, it comes up in recovery and
# refuses writes), pgBouncer in front (transaction pooling) was paused,
# repointed, reconnected and resumed so the application's queries reach
# the new primary, and the report shows RTO and the measured RPO.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_replication.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_pgbouncer.sh"
export RUNE_PATH="$RUNE_SOURCE_DIR/runbooks"

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
sql_on() { _pg_sql_on "$@"; }
# the rows as the standby must keep them: count and an order-independent hash
ROWS="select count(*) || ' ' || md5(string_agg(id || ':' || note, ',' order by id)) from marks"

pg_start_primary primary
pg_sql "create table marks (id int primary key, note text)"
pg_sql "insert into marks select g, 'row ' || g from generate_series(1, 500) g"
pg_start_standby standby primary
STANDBY_DATA=$PG_DATA STANDBY_SOCK=$PG_SOCKDIR STANDBY_PORT=$PG_PORT
PRIMARY_DATA=${_PG_DIR[primary]}/data
pg_wait_replayed standby

# promote.yaml: pg.promote alone, on the standby, with what the case sets (a
# failure there is exit 4: no rollback). The old primary's connect_timeout
# is generous: asked whether it still answers, a slow answer on a busy host
# must not pass for none.
promote_runbook() {
    cat >"$T/promote.yaml" <<EOF
runbook: promote
targets:
  standby: { kind: postgres, host: "$STANDBY_SOCK", port: "$STANDBY_PORT" }
  old: { kind: postgres, host: "${_PG_SOCK[primary]}", port: "${_PG_PORT[primary]}", connect_timeout: 30s }
mitigation:
  steps:
    - id: p
      uses: pg.promote
      with: { target: standby, data_dir: "$STANDBY_DATA", catch_up: 1s, $1 }
EOF
}
in_recovery() { sql_on standby "select pg_is_in_recovery()"; }

test_case "pg.promote refuses a standby whose replay lags over max_lag (replay paused while the primary writes)"
# a transaction replayed before the pause: the lag is measured from it
sql_on primary "insert into marks values (0, 'replayed before the pause')" >/dev/null
pg_wait_replayed standby primary
sql_on standby "select pg_wal_replay_pause()" >/dev/null
wait_for "replay to pause" test "$(sql_on standby "select pg_get_wal_replay_pause_state()")" = paused
sql_on primary "insert into marks select g, 'while paused ' || g from generate_series(501, 3000) g"
unreplayed() { [ "$(sql_on standby "select pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) > 0")" = t ]; }
wait_for "the standby to receive what it does not replay" unreplayed
old_replay() { [ "$(sql_on standby "select now() - pg_last_xact_replay_timestamp() > interval '2s'")" = t ]; }
wait_for "the standby's last replayed transaction to be 2 s old" old_replay
promote_runbook "max_lag: 1s, allow_unreplayed: true"
run_rune run --yes "$T/promote.yaml"
expect_rc 4
expect_out "refusing to promote"
expect_out "over max_lag 1s"
expect_eq "$(in_recovery)" t "the standby is still a standby"
end_case

test_case "pg.promote refuses received WAL that is not replayed, naming the paused replay"
promote_runbook "max_lag: 1h"
run_rune run --yes "$T/promote.yaml"
expect_rc 4
expect_out "but replayed only up to"
expect_out "because replay is paused"
expect_out "pg_wal_replay_resume()"
expect_eq "$(in_recovery)" t "the standby is still a standby"
sql_on standby "select pg_wal_replay_resume()" >/dev/null
pg_wait_replayed standby primary
end_case

test_case "pg.promote refuses while the old primary (over the network) still answers"
promote_runbook "max_lag: 1h, primary: old"
run_rune run --yes "$T/promote.yaml"
expect_rc 4
expect_out "still answers"
expect_out "allow_primary_up"
expect_eq "$(in_recovery)" t "the standby is still a standby"
pg_running primary || fail "the primary was touched"
end_case

test_case "the primary crashes; pg-failover promotes the standby with every replicated row, and fences the old primary"
sql_on primary "insert into marks select g, 'last ' || g from generate_series(3001, 3500) g"
pg_wait_replayed standby primary
replicated=$(sql_on standby "$ROWS")
# the application (a command service here) reaches the primary through pgBouncer
touch "$T/app.running"
pg_use primary
pgb_start --db postgres
expect_eq "$(pgb_sql "select pg_is_in_recovery()")" f "pgBouncer reaches the primary"
pg_crash primary
pg_running primary && fail "the primary still runs after the crash"
# pgBouncer has no console command to change a database's server: the
# operator's repoint command edits its [databases] and reloads it
repoint="sed -i 's|host=${_PG_SOCK[primary]} port=${_PG_PORT[primary]}|host=$STANDBY_SOCK port=$STANDBY_PORT|' '$PGB_INI' && PGPASSWORD=\"\$PGBOUNCER_PASSWORD\" '$PG_BIN/psql' -X -q -h 127.0.0.1 -p $PGB_PORT -U $PGB_ADMIN_USER -d pgbouncer -c RELOAD"
PGBOUNCER_PASSWORD=$PGB_ADMIN_PASSWORD run_rune run pg-failover --yes \
    --set "standby_data_dir=$STANDBY_DATA" \
    --set "standby_host=$STANDBY_SOCK" --set "standby_port=$STANDBY_PORT" \
    --set "primary_data_dir=$PRIMARY_DATA" --set max_lag=1h \
    --set pgbouncer_host=127.0.0.1 --set "pgbouncer_port=$PGB_PORT" \
    --set "pgbouncer_user=$PGB_ADMIN_USER" --set "pgbouncer_repoint=$repoint" \
    --set "app_stop=rm -f '$T/app.running'; echo stopped >>'$T/app.log'" \
    --set "app_start=touch '$T/app.running'; echo started >>'$T/app.log'" \
    --set "app_status=test -f '$T/app.running'"
expect_rc 0
expect_eq "$(tr '\n' ' ' <"$T/app.log")" "stopped started " "the application stopped, then started"
[ -f "$T/app.running" ] || fail "the application is not running after the failover"
for s in stop_app pause_pool repoint reconnect resume_pool start_app; do
    expect_eq "$(step_status "$(last_incident)" $s)" ok "step $s"
done
expect_eq "$(pgb_paused postgres)" 0 "the pool is resumed"
expect_eq "$(pgb_sql "select pg_is_in_recovery() || ' ' || current_setting('port')")" "false $STANDBY_PORT" \
    "through pgBouncer: the new primary"
INC=$(last_incident)
expect_eq "$(in_recovery)" f "the standby is out of recovery"
expect_eq "$(sql_on standby "$ROWS")" "$replicated" "rows replicated before the crash"
pgb_sql "insert into marks values (9003, 'through pgBouncer')" >/dev/null ||
    fail "a write through pgBouncer failed"
sql_on standby "insert into marks values (9001, 'on the new primary')" >/dev/null ||
    fail "the new primary refuses a write"
expect_eq "$(sql_on standby "select note from marks where id = 9001")" "on the new primary" "write"
expect_eq "$(sql_on standby "select count(*) from rune_failover_check where incident = '$INC'")" 1 "verification row"
expect_eq "$(out promote promoted)" 1 "promoted"
expect_eq "$(out promote timeline)" 2 "new timeline"
expect_eq "$(sql_on standby "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")" 00000002 "timeline written"
case "$(out promote fenced)" in
    *"standby.signal written into it"*) ;;
    *) fail "fenced: $(out promote fenced)" ;;
esac
[ -f "$PRIMARY_DATA/standby.signal" ] || fail "no standby.signal in the old primary"
rp=$(out promote recovery_point)
case "$rp" in 20[0-9][0-9]-*T*Z) ;; *) fail "recovery_point: $rp" ;; esac
expect_eq "$(sql "select count(*) from events where incident_id='$INC' and kind='note' and detail_json like '%fenced%'")" 1 "the fence is noted in the incident log"
end_case

test_case "the report of the failover shows RTO and the measured RPO (the promoted standby's last replay)"
run_rune report "$INC" --format json
expect_rc 0
rto=$(jq -r '.objectives.rto.achieved_s // empty' "$T/out")
rpo_point=$(jq -r '.objectives.rpo.recovery_point // empty' "$T/out")
rpo=$(jq -r '.objectives.rpo.achieved_s // empty' "$T/out")
[ -n "$rto" ] || fail "no RTO in the report: $(jq -c .objectives "$T/out")"
[ -n "$rpo" ] || fail "no RPO in the report: $(jq -c .objectives "$T/out")"
expect_eq "$rpo_point" "$rp" "RPO's recovery point"
expect_eq "$(jq -r '.objectives.rpo.step' "$T/out")" promote "RPO's step"
end_case

test_case "the fenced old primary cannot start as a primary: it comes up in recovery and refuses writes"
pg_restart primary
expect_eq "$(sql_on primary "select pg_is_in_recovery()")" t "the old primary is in recovery"
out=$(sql_on primary "insert into marks values (9002, 'split brain')" 2>&1) &&
    fail "the fenced old primary took a write"
case "$out" in *"read-only transaction"*) ;; *) fail "write on the fenced old primary: $out" ;; esac
pg_stop primary
end_case

test_case "allow_unreplayed: WAL received but not replayed (replay paused) is replayed by the promotion; nothing received is lost (SELECT pg_promote(), the old primary known only by address and down)"
pg_start_primary p3
pg_sql "create table marks (id int primary key, note text)"
pg_start_standby s3 p3
sql_on p3 "insert into marks values (0, 'replayed before the pause')" >/dev/null
pg_wait_replayed s3 p3
sql_on s3 "select pg_wal_replay_pause()" >/dev/null
wait_for "replay to pause on s3" test "$(sql_on s3 "select pg_get_wal_replay_pause_state()")" = paused
sql_on p3 "insert into marks select g, 'received, not replayed ' || g from generate_series(1, 2000) g"
want=$(sql_on p3 "select pg_current_wal_insert_lsn()")
received() { [ "$(sql_on s3 "select pg_last_wal_receive_lsn() >= '$want'")" = t ]; }
wait_for "s3 to receive everything p3 wrote" received
expect_eq "$(sql_on s3 "select count(*) from marks")" 1 "rows visible on s3 before the promotion"
pg_crash p3
cat >"$T/p3.yaml" <<EOF
runbook: p3
targets:
  s3: { kind: postgres, host: "${_PG_SOCK[s3]}", port: "${_PG_PORT[s3]}" }
  p3: { kind: postgres, host: "${_PG_SOCK[p3]}", port: "${_PG_PORT[p3]}", connect_timeout: 3s }
mitigation:
  steps:
    - id: p
      uses: pg.promote
      with: { target: s3, primary: p3, allow_unreplayed: true, max_lag: 1h, catch_up: 1s }
EOF
run_rune run --yes "$T/p3.yaml"
expect_rc 0
expect_eq "$(sql_on s3 "select pg_is_in_recovery()")" f "s3 promoted"
expect_eq "$(sql_on s3 "select count(*) from marks")" 2001 "every received row"
[ "$(out p lag_bytes)" -gt 0 ] 2>/dev/null || fail "lag_bytes at promotion: $(out p lag_bytes)"
expect_eq "$(sql_on s3 "select '$(out p lsn)'::pg_lsn >= '$want'::pg_lsn")" t "lsn covers the replayed WAL"
case "$(out p fenced)" in "down: target p3 "*"does not answer") ;; *) fail "fenced: $(out p fenced)" ;; esac
[ -f "${_PG_DIR[p3]}/data/standby.signal" ] && fail "a remote old primary's directory was touched"
end_case

finish
