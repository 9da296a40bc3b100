#!/usr/bin/env bash
# pg.rebuild_standby and the bundled pg-rebuild-standby on real clusters:
# after the primary went on alone, crashed, and pg-failover promoted its
# standby, the former primary is rewound (pg_rewind: it has wal_log_hints) into a
# standby of the new one, keeps its own configuration, and a row written
# on the new primary appears on it. method: clone makes a fresh copy and
# sets the former directory aside beside it (never inside); a former
# primary without wal_log_hints or checksums is cloned by method auto.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_replication.sh"
export RUNE_PATH="$RUNE_SOURCE_DIR/runbooks"

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
has_row() { [ "$(sql_on "$1" "select count(*) from marks where id = $2")" = 1 ]; }

# failover NAME STANDBY — crash NAME, pg-failover to STANDBY (fencing NAME)
failover() {
    pg_crash "$1"
    run_rune run pg-failover --yes --set "standby_data_dir=${_PG_DIR[$2]}/data" \
        --set "standby_host=${_PG_SOCK[$2]}" --set "standby_port=${_PG_PORT[$2]}" \
        --set "primary_data_dir=${_PG_DIR[$1]}/data" --set max_lag=1h
    [ "$RC" = 0 ] || { fail "pg-failover from $1 to $2: exit $RC"; cat "$T/out" >&2; }
}

# pg_rewind needs wal_log_hints (or checksums) on the target and
# full_page_writes on the source; the harness turns the latter off for speed
pg_start_primary primary "wal_log_hints = on" "full_page_writes = on"
pg_sql "create table marks (id int primary key, note text)"
pg_sql "insert into marks select g, 'row ' || g from generate_series(1, 200) g"
pg_start_standby standby primary
pg_wait_replayed standby primary
OLD=${_PG_DIR[primary]}/data
own_port=$(cat "$OLD/rune_port.conf")

test_case "after a crash and pg-failover, pg-rebuild-standby rewinds the former primary into a standby; a new row appears on it"
# the primary goes on alone for a while (its standby is down), then
# crashes: what it wrote then never reached the standby, and the rebuild
# must throw it away (pg_rewind) rather than keep a history the new
# primary does not have
pg_stop standby
sql_on primary "insert into marks select g, 'diverged ' || g from generate_series(5000, 5100) g" >/dev/null
sql_on primary "checkpoint" >/dev/null
# every finished segment archived (in order: the last one means all):
# restarts and checkpoints recycle the WAL before the fork, which
# pg_rewind then fetches from the archive
seg=$(pg_switch_wal primary)
pg_wait_archived "$seg" primary
pg_crash primary
pg_restart standby
failover primary standby
expect_eq "$(sql_on standby "select count(*) from marks where id >= 5000")" 0 "diverged rows on the new primary"
sql_on standby "insert into marks values (1001, 'on the new primary before the rebuild')" >/dev/null
run_rune run pg-rebuild-standby --yes --set "data_dir=$OLD" \
    --set "primary_host=${_PG_SOCK[standby]}" --set "primary_port=${_PG_PORT[standby]}" \
    --set "standby_host=${_PG_SOCK[primary]}" --set "standby_port=${_PG_PORT[primary]}" \
    --set "restore_command=$(pg_archive_restore_command primary)"
expect_rc 0
expect_eq "$(out rebuild method)" rewind "method"
expect_out "servers diverged at WAL location"
expect_eq "$(out rebuild set_aside)" "" "set aside (rewind)"
expect_eq "$(out rebuild timeline)" 2 "timeline followed"
expect_eq "$(step_status "$(last_incident)" read_back)" ok "the runbook read its row on the standby"
expect_eq "$(sql_on primary "select pg_is_in_recovery()")" t "the former primary is a standby"
has_row primary 1001 || fail "row written before the rebuild missing"
expect_eq "$(sql_on primary "select count(*) from marks where id >= 5000")" 0 "diverged rows left on the rebuilt standby"
sql_on standby "insert into marks values (1002, 'after the rebuild')" >/dev/null
wait_for "row 1002 on the rebuilt standby" has_row primary 1002
expect_eq "$(sql_on standby "select state from pg_stat_replication where application_name = 'rune_data'")" streaming "the new primary sees it stream"
expect_eq "$(cat "$OLD/rune_port.conf")" "$own_port" "its own port file (pg_rewind copied the source's)"
grep -q "unix_socket_directories = '${_PG_SOCK[primary]}'" "$OLD/postgresql.conf" ||
    fail "its own postgresql.conf was not kept"
grep -q "^primary_conninfo = .*${_PG_SOCK[standby]}" "$OLD/postgresql.auto.conf" ||
    fail "primary_conninfo: $(grep primary_conninfo "$OLD/postgresql.auto.conf")"
expect_eq "$(grep -c '^primary_conninfo' "$OLD/postgresql.auto.conf")" 1 "one primary_conninfo"
expect_eq "$(grep -c "^restore_command = 'cp " "$OLD/postgresql.auto.conf")" 1 "restore_command kept"
[ -f "$OLD/standby.signal" ] || fail "no standby.signal"
if [ "$(id -u)" = 0 ]; then
    expect_eq "$(stat -c %U "$OLD/postgresql.auto.conf")" rune-pg "postgresql.auto.conf's owner"
    expect_eq "$(stat -c %U "$OLD/rune_port.conf")" rune-pg "rune_port.conf's owner"
fi
end_case

test_case "method clone: a fresh copy; the former directory set aside beside it, not inside it"
cat >"$T/clone.yaml" <<EOF
runbook: clone
targets:
  new: { kind: postgres, host: "${_PG_SOCK[standby]}", port: "${_PG_PORT[standby]}" }
mitigation:
  steps:
    - id: rebuild
      uses: pg.rebuild_standby
      with: { target: new, data_dir: "$OLD", method: clone, slot: rebuilt }
EOF
run_rune run --yes "$T/clone.yaml"
expect_rc 0
expect_eq "$(out rebuild method)" clone "method"
aside=$(out rebuild set_aside)
case "$aside" in "$OLD".rune-old-*) ;; *) fail "set aside as '$aside'" ;; esac
[ -f "$aside/PG_VERSION" ] || fail "the set-aside directory holds no data directory"
[ -f "$OLD/PG_VERSION" ] || fail "no data directory in place"
expect_eq "$(find "$OLD" -maxdepth 2 -name 'data.rune-*' | wc -l)" 0 "nested directories"
expect_eq "$(find "$(dirname "$OLD")" -maxdepth 1 -name 'data.rune-clone-*' | wc -l)" 0 "leftover clones"
expect_eq "$(cat "$OLD/rune_port.conf")" "$own_port" "its own port file"
grep -q "^primary_slot_name = 'rebuilt'" "$OLD/postgresql.auto.conf" || fail "no primary_slot_name"
expect_eq "$(sql_on primary "select pg_is_in_recovery()")" t "a standby"
sql_on standby "insert into marks values (1003, 'after the clone')" >/dev/null
wait_for "row 1003 on the cloned standby" has_row primary 1003
expect_eq "$(sql_on standby "select active from pg_replication_slots where slot_name = 'rebuilt'")" t "slot in use"
[ "$(id -u)" = 0 ] && expect_eq "$(stat -c '%U %a' "$OLD")" "rune-pg 700" "the clone's owner and mode"
end_case

test_case "method auto clones a former primary that has neither wal_log_hints nor checksums"
pg_start_primary p2
pg_sql "create table marks (id int primary key, note text)"
pg_sql "insert into marks values (1, 'p2')"
pg_start_standby s2 p2
pg_wait_replayed s2 p2
failover p2 s2
run_rune run pg-rebuild-standby --yes --set "data_dir=${_PG_DIR[p2]}/data" \
    --set "primary_host=${_PG_SOCK[s2]}" --set "primary_port=${_PG_PORT[s2]}"
expect_rc 0
expect_eq "$(out rebuild method)" clone "method"
expect_out "cloning"
sql_on s2 "insert into marks values (2, 'after')" >/dev/null
wait_for "row 2 on the rebuilt p2" has_row p2 2
end_case

test_case "refusals: a target in recovery is not a primary to follow; method rewind from a source without full_page_writes"
cat >"$T/bad.yaml" <<EOF
runbook: bad
targets:
  standby: { kind: postgres, host: "${_PG_SOCK[p2]}", port: "${_PG_PORT[p2]}" }
  new: { kind: postgres, host: "${_PG_SOCK[s2]}", port: "${_PG_PORT[s2]}" }
mitigation:
  steps:
    - id: a
      uses: pg.rebuild_standby
      on_failure: continue
      with: { target: standby, data_dir: "${_PG_DIR[s2]}/data" }
    - id: b
      uses: pg.rebuild_standby
      with: { target: new, data_dir: "${_PG_DIR[p2]}/data", method: rewind }
EOF
run_rune run --yes "$T/bad.yaml"
expect_out "is in recovery: it is not a primary to follow"
expect_out "pg_rewind needs full_page_writes = on on the source"
expect_eq "$(sql_on s2 "select pg_is_in_recovery()")" f "the new primary is untouched"
expect_eq "$(sql_on p2 "select pg_is_in_recovery()")" t "the standby is untouched"
end_case

finish
