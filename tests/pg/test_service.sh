#!/usr/bin/env bash
# service.* against real services: a PostgreSQL 15 cluster through pg_ctl,
# a toy background process through the command backend, systemd on a
# machine without it, and the checks that stop a wrong target before
# anything runs. Each action is one `rune run`; what the step saw is read
# back from the incident log.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
C="$RUNE_SOURCE_DIR/tests/pg/cases"

# output STEP KEY — an output of STEP in the newest incident (booleans 1/0).
output() {
    sql "select json_extract(detail_json, '\$.outputs.$2') from events
         where incident_id = '$(last_incident)' and step = '$1' and kind = 'step.end'
         order by seq desc limit 1"
}

# outputs STEP KEY... — several outputs of STEP, space-separated.
outputs() {
    local step=$1 k vals=()
    shift
    for k in "$@"; do vals+=("$(output "$step" "$k")"); done
    echo "${vals[*]}"
}

# alive PID — true while PID runs. A process that ended but is not reaped
# yet (a zombie: its parent exited and init reaps it later) does not count.
alive() {
    local stat
    stat=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${stat:0:1}" != Z ]
}

# ---- pg_ctl --------------------------------------------------------------

pg_start
OSUSER=$(stat -c %U "$PG_DATA") # the cluster's owner: rune-pg as root, else us

pgsvc() {
    local action=$1
    shift
    run_rune run "$C/service_pg.yaml" --set action="$action" --set data_dir="$PG_DATA" \
        --set bin_dir="$PG_BIN" --set user="$OSUSER" --set log="$PG_LOG" "$@"
}

ready() {
    "$PG_BIN/pg_isready" -q -h "$PG_SOCKDIR" -p "$PG_PORT"
}

test_case "pg_ctl: status sees the running cluster and its postmaster"
pgsvc status
expect_rc 0
expect_eq "$(outputs status running state backend)" "1 running pg_ctl" "running state backend"
expect_eq "$(output status pid)" "$(head -1 "$PG_DATA/postmaster.pid")" "pid"
case "$(output status output)" in *"server is running"*) ;; *) fail "output: $(output status output)" ;; esac
end_case

test_case "pg_ctl: stop shuts the cluster down and reports running -> stopped"
pm=$(head -1 "$PG_DATA/postmaster.pid")
pgsvc stop
expect_rc 0
expect_out "stopping service db:"
expect_out "pg_ctl stop -D $PG_DATA -m fast -w"
if ready; then fail "the cluster still accepts connections"; fi
if alive "$pm"; then fail "postmaster $pm still runs"; fi
expect_eq "$(outputs stop was now changed)" "running stopped 1" "was now changed"
waited=$(output stop waited_ms)
[ "${waited:-x}" -ge 0 ] 2>/dev/null || fail "waited_ms: '$waited'"
end_case

test_case "pg_ctl: stopping a stopped cluster succeeds, changes nothing, and says so"
pgsvc stop
expect_rc 0
expect_out "service db is already stopped (pg_ctl status exited 3); nothing to do"
expect_eq "$(outputs stop was now changed waited_ms)" "stopped stopped 0 0" "was now changed waited_ms"
pgsvc status
expect_rc 0
expect_eq "$(outputs status running state)" "0 stopped" "status of a stopped cluster"
end_case

test_case "pg_ctl: a start that fails names pg_ctl's exit and the server log"
pgsvc start --set options="-c shared_buffers=bogus"
expect_rc 4
expect_out "service db: pg_ctl start exited with status 1"
expect_out "the service is stopped (pg_ctl status exited 3); check the server log $PG_LOG"
grep -q "shared_buffers" "$PG_LOG" || fail "the server log lacks the server's complaint"
expect_eq "$(outputs start was now changed)" "stopped stopped 0" "was now changed"
if ready; then fail "the cluster runs after a failed start"; fi
end_case

test_case "pg_ctl: start brings the cluster back and it answers queries"
pgsvc start
expect_rc 0
expect_eq "$(pg_sql "select 1")" "1" "select 1"
expect_eq "$(outputs start was now changed)" "stopped running 1" "was now changed"
expect_eq "$(output start pid)" "$(head -1 "$PG_DATA/postmaster.pid")" "pid"
if [ "$(id -u)" = 0 ]; then
    expect_eq "$(stat -c %U "/proc/$(head -1 "$PG_DATA/postmaster.pid")")" "$OSUSER" "server's OS user"
fi
end_case

test_case "pg_ctl: restart replaces the postmaster"
old=$(head -1 "$PG_DATA/postmaster.pid")
pgsvc restart
expect_rc 0
new=$(head -1 "$PG_DATA/postmaster.pid")
[ -n "$new" ] && [ "$new" != "$old" ] || fail "postmaster pid before $old, after $new"
expect_eq "$(pg_sql "select 1")" "1" "select 1 after restart"
expect_eq "$(outputs restart was now changed pid)" "running running 1 $new" "was now changed pid"
end_case

test_case "pg_ctl: the wrong OS user is refused before pg_ctl runs"
if [ "$(id -u)" = 0 ]; then
    pgsvc stop --set user=
    expect_out "rune runs as root and PostgreSQL refuses to: set user: on the target"
    expect_out "($OSUSER owns $PG_DATA)"
else
    pgsvc stop --set user=root
    expect_out "rune runs as $(id -un), not root, so it cannot run pg_ctl as root"
fi
expect_rc 4
ready || fail "the cluster was stopped anyway"
end_case

# ---- command -------------------------------------------------------------

PIDFILE="$T/app.pid"
cmdsvc() {
    local action=$1
    shift
    run_rune run "$C/service_command.yaml" --set action="$action" --set pidfile="$PIDFILE" "$@"
}

# The toy service's last pid.
app_pid() {
    [ -f "$PIDFILE" ] && cat "$PIDFILE"
}

test_case "command: start, status, start again, restart and stop"
cmdsvc status
expect_rc 0
expect_eq "$(outputs status running state backend)" "0 stopped command" "status before start"
cmdsvc start
expect_rc 0
pid1=$(app_pid)
[ -n "$pid1" ] && alive "$pid1" || fail "the toy service is not running (pid '$pid1')"
expect_eq "$(outputs start was now changed)" "stopped running 1" "start: was now changed"
cmdsvc status
expect_eq "$(outputs status running state)" "1 running" "status after start"
cmdsvc start
expect_rc 0
expect_out "service app is already running (the status command exited 0); nothing to do"
expect_eq "$(outputs start changed)" "0" "second start changed"
expect_eq "$(app_pid)" "$pid1" "second start left the process alone"
cmdsvc restart
expect_rc 0
pid2=$(app_pid)
[ -n "$pid2" ] && [ "$pid2" != "$pid1" ] || fail "restart: pid before $pid1, after $pid2"
expect_eq "$(outputs restart was now changed)" "running running 1" "restart: was now changed"
cmdsvc stop
expect_rc 0
if alive "$pid2"; then fail "the toy service $pid2 still runs after stop"; fi
expect_eq "$(outputs stop was now changed)" "running stopped 1" "stop: was now changed"
end_case

test_case "command: a start that never comes up fails after wait, naming the last state"
t0=$(date +%s%N)
cmdsvc start --set service=ghost
ms=$((($(date +%s%N) - t0) / 1000000))
expect_rc 4
expect_out "service ghost is not running after waiting 1s (wait): the last state seen was stopped (the status command exited 3: ghost: no such process)"
expect_out "run the status command by hand"
expect_eq "$(outputs start was now changed)" "stopped stopped 0" "was now changed"
expect_eq "$(step_status "$(last_incident)" start)" "failed" "step status"
# (under 30 s, room for a rune under ASan on a busy host: the default
# wait, had the target's 1s been ignored, is 60 s)
[ "$ms" -ge 1000 ] && [ "$ms" -lt 30000 ] || fail "took ${ms}ms, expected about the 1s wait"
end_case

test_case "command: the step's timeout cuts a longer wait short"
t0=$(date +%s%N)
cmdsvc hurried --set service=ghost
ms=$((($(date +%s%N) - t0) / 1000000))
expect_rc 4
expect_eq "$(step_status "$(last_incident)" hurried)" "timeout" "step status"
# (while waiting, or — rarely — while a status check ran)
expect_out "service ghost: the step's timeout passed while"
# (under 60 s, room for a rune under ASan on a busy host; the wait the
# timeout cuts short is 300 s)
[ "$ms" -lt 60000 ] || fail "took ${ms}ms for a 300ms timeout"
end_case

test_case "command: a failing stop command reports its exit code and output"
cmdsvc stop --set service=stuck
expect_rc 4
expect_out "service stuck: the stop command exited with status 3 (last output: stuck: permission denied); the service is running (the status command exited 0)"
expect_eq "$(outputs stop was now changed)" "running running 0" "was now changed"
end_case

test_case "command: a status command that cannot run is an error, not 'stopped'"
cmdsvc status --set service=broken
expect_rc 4
expect_out "service broken: the status command could not run (exit 127: command not found)"
expect_eq "$(output status running)" "" "no running output"
end_case

# ---- systemd -------------------------------------------------------------

test_case "systemd: without systemd the steps fail at once with a clear message"
t0=$SECONDS
RUNE_SVC_RUN=("$(command -v timeout)" 60 "$RUNE" run "$C/service_systemd.yaml")
"${RUNE_SVC_RUN[@]}" --set action=status </dev/null >"$T/out" 2>"$T/err"
RC=$?
expect_rc 4
if [ -d /run/systemd/system ]; then
    expect_out "rune-test-web.service"    # systemd runs here: the unit does not exist
else
    expect_out "service web: systemctl is-active rune-test-web.service failed"
    expect_out "systemd is not running on this machine (no /run/systemd/system): use backend pg_ctl or command here"
fi
"${RUNE_SVC_RUN[@]}" --set action=restart </dev/null >"$T/out" 2>"$T/err"
RC=$?
expect_rc 4
PATH=/nonexistent "${RUNE_SVC_RUN[@]}" --set action=status </dev/null >"$T/out" 2>"$T/err"
RC=$?
expect_rc 4
expect_out "target \"web\" (backend systemd): systemctl is not available (not found in PATH)"
[ $((SECONDS - t0)) -lt 30 ] || fail "took $((SECONDS - t0))s"
end_case

# ---- validation ----------------------------------------------------------

test_case "a service step naming a postgres target fails validation, with its position"
run_rune validate "$C/service_wrong_kind.yaml"
expect_rc 2
expect_err "service_wrong_kind.yaml:11:17: error: step \"stop_db\": target \"db\" is a postgres target; service.stop needs a service target"
end_case

test_case "pg_ctl without data_dir fails at run time, before running anything"
run_rune run "$C/service_pg_no_data_dir.yaml" --set marker="$T/after"
expect_rc 4
expect_out "target \"db\" (backend pg_ctl) needs data_dir: the cluster's data directory"
id=$(last_incident)
expect_eq "$(step_status "$id" stop_db)" "failed" "stop_db"
expect_eq "$(step_status "$id" after)" "not_run" "the next step"
expect_eq "$(sql "select count(*) from events where incident_id = '$id' and step = 'stop_db' and kind = 'log'")" "0" "stop_db's log lines"
[ ! -e "$T/after" ] || fail "the next step ran"
end_case

pid=$(app_pid) && kill "$pid" 2>/dev/null
finish
