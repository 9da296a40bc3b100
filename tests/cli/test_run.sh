#!/usr/bin/env bash
# End-to-end runs through the real binary: stage order, failure policies,
# rollback and exit codes, timeouts, retries, parallelism, approvals,
# inputs, secrets, locks — each checked in the incident log too.
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases"

test_case "a multi-stage run resolves, and every stage and attempt is on record"
run_rune run "$C/stages.yaml"
expect_rc 0
expect_out "outcome: resolved (exit 0)"
id=$(last_incident)
expect_eq "$(sql "select outcome||' '||exit_code||' '||severity from incidents where id='$id'")" "resolved 0 P2" "incident row"
# every step attempt has a start and an end, every stage a start and an end
# (left and right run in parallel: either may start first)
expect_eq "$(sql "select group_concat(step, ',') from (select step from events where incident_id='$id' and kind='step.start' order by seq)" | sed 's/right,left/left,right/')" \
    "probe,broken_check,impact_note,first,left,right,join,verify" "steps started, in order"
expect_eq "$(sql "select count(*) from events where incident_id='$id' and kind='step.end'")" "8" "step.end events"
expect_eq "$(sql "select group_concat(stage, ',') from (select stage from events where incident_id='$id' and kind='stage.end' order by seq)")" \
    "detection,impact,mitigation,verification" "stages ended, in order"
expect_eq "$(sql "select status from events where incident_id='$id' and kind='stage.skip'")" "skipped" "rollback skipped"
# the total the acceptance check reads: every event of the run
expect_eq "$(sql "select count(*) from events where incident_id='$id'")" \
    "$(sql "select count(*) from events where incident_id='$id' and kind in ('incident.start','incident.end','incident.decision','severity','stage.start','stage.end','stage.skip','step.start','step.end','note')")" "events are all of known kinds"
expect_eq "$(step_status "$id" broken_check)" "failed" "detection failure recorded (continue)"
# fan-in: join started after both left and right ended
expect_eq "$(sql "select (select seq from events where incident_id='$id' and step='join' and kind='step.start') > max(seq) from events where incident_id='$id' and step in ('left','right') and kind='step.end'")" "1" "join waits for left and right"
expect_eq "$(sql "select json_extract(detail_json,'$.outputs.stdout') from events where incident_id='$id' and step='first' and kind='step.end'")" "hello" "outputs recorded"
end_case

test_case "a mitigation failure runs rollback and exits 3"
run_rune run "$C/rollback.yaml"
expect_rc 3
expect_out "outcome: rolled_back (exit 3)"
expect_out "restore failed: backup unreadable"
id=$(last_incident)
expect_eq "$(step_status "$id" restore)" "failed"
expect_eq "$(step_status "$id" start_app)" "not_run" "later mitigation step not run"
expect_eq "$(step_status "$id" verify)" "none" "verification skipped"
expect_eq "$(step_status "$id" restart_app)" "ok" "rollback ran"
expect_eq "$(sql "select json_extract(detail_json,'$.text') from events where incident_id='$id' and kind='note'")" "rolled back after restore failed: backup unreadable" "rollback sees the error"
expect_eq "$(sql "select outcome||' '||exit_code from incidents where id='$id'")" "rolled_back 3"
end_case

test_case "a rollback failure exits 4, and every undo is still tried"
run_rune run "$C/rollback_fails.yaml"
expect_rc 4
expect_out "outcome: failed (exit 4)"
id=$(last_incident)
expect_eq "$(step_status "$id" undo_one)" "failed"
expect_eq "$(step_status "$id" undo_two)" "ok" "rollback continues past a failed undo"
end_case

test_case "on_failure: abort stops without rollback and exits 4"
run_rune run "$C/abort.yaml"
expect_rc 4
id=$(last_incident)
expect_eq "$(step_status "$id" step2)" "not_run"
expect_eq "$(step_status "$id" undo)" "none" "no rollback"
end_case

test_case "a timeout kills the step's whole process tree"
run_rune run "$C/timeout_tree.yaml" --set pidfile="$T/bg.pid"
expect_rc 4
id=$(last_incident)
expect_eq "$(step_status "$id" hang)" "timeout"
bg=$(cat "$T/bg.pid" 2>/dev/null)
[ -n "$bg" ] || fail "the step did not record its background pid"
# the group was SIGKILLed before rune returned; allow the kernel a moment to
# reap (30 s at most: init reaps the orphan when a busy host gets to it)
for _ in $(seq 300); do kill -0 "$bg" 2>/dev/null || break; sleep 0.1; done
if [ -n "$bg" ] && kill -0 "$bg" 2>/dev/null; then fail "background child $bg survived the timeout"; kill -9 "$bg"; fi
end_case

test_case "retries with backoff count attempts"
run_rune run "$C/retry.yaml" --set counter="$T/counter"
expect_rc 0
id=$(last_incident)
expect_eq "$(sql "select count(*) from events where incident_id='$id' and step='flaky' and kind='step.start'")" "3" "attempts"
expect_eq "$(sql "select group_concat(status) from (select status from events where incident_id='$id' and step='flaky' and kind='step.end' order by seq)")" "failed,failed,ok"
# backoff: the gap before attempt 3 is at least 200ms, before attempt 2 at least 100ms
gaps=$(sql "with s as (select attempt, julianday(at)*86400000 t from events where incident_id='$id' and step='flaky' and kind='step.start'),
              e as (select attempt, julianday(at)*86400000 t from events where incident_id='$id' and step='flaky' and kind='step.end')
            select group_concat(ok) from (select round(s.t - e.t) >= (100 << (s.attempt - 2)) ok
              from s join e on e.attempt = s.attempt - 1 order by s.attempt)")
expect_eq "$gaps" "1,1" "backoff delays respected"
end_case

test_case "parallel fan-out actually overlaps"
mkdir -p "$T/par"
run_rune run "$C/parallel.yaml" --set dir="$T/par" --jobs 2
expect_rc 0
id=$(last_incident)
# each started before the other ended
expect_eq "$(sql "select (select seq from events where incident_id='$id' and step='a' and kind='step.start') < (select seq from events where incident_id='$id' and step='b' and kind='step.end')
              and (select seq from events where incident_id='$id' and step='b' and kind='step.start') < (select seq from events where incident_id='$id' and step='a' and kind='step.end')")" "1" "a and b overlap"
end_case

test_case "--jobs 1 serialises the same graph (so the barrier fails, and with no rollback stage: exit 4)"
rm -rf "$T/par"; mkdir -p "$T/par"
run_rune run "$C/parallel.yaml" --set dir="$T/par" --set patience=5 --jobs 1
expect_rc 4
expect_out "no rollback stage"
id=$(last_incident)
expect_eq "$(step_status "$id" b)" "not_run" "b never started while a ran alone"
end_case

test_case "an approval without --yes and without a terminal is refused (fail closed)"
run_rune run "$C/confirm.yaml" --set marker="$T/dropped"
expect_rc 5
expect_out "pass --yes"
[ ! -e "$T/dropped" ] || fail "the unapproved step ran"
id=$(last_incident)
expect_eq "$(step_status "$id" drop)" "declined"
expect_eq "$(step_status "$id" after)" "not_run"
expect_eq "$(step_status "$id" restart)" "ok" "rollback runs after a decline"
expect_eq "$(sql "select status||' '||json_extract(detail_json,'$.how')||' '||json_extract(detail_json,'$.question') from events where incident_id='$id' and kind='approval'")" \
    "declined no-terminal Drop database app and restore from backup?" "decline recorded"
expect_eq "$(sql "select outcome from incidents where id='$id'")" "aborted"
end_case

test_case "--yes approves, and the approval is recorded with who and when"
run_rune run "$C/confirm.yaml" --set marker="$T/dropped" --yes --operator alice
expect_rc 0
[ -e "$T/dropped" ] || fail "the approved step did not run"
id=$(last_incident)
expect_eq "$(sql "select status||' '||json_extract(detail_json,'$.who')||' '||json_extract(detail_json,'$.how')||' '||(json_extract(detail_json,'$.at') is not null) from events where incident_id='$id' and kind='approval'")" "approved alice --yes 1"
end_case

test_case "flow.confirm is the same gate"
run_rune run "$C/gate.yaml"
expect_rc 5
id=$(last_incident)
expect_eq "$(step_status "$id" ask)" "declined"
run_rune run "$C/gate.yaml" -y
expect_rc 0
end_case

test_case "an operator answers the prompt on a terminal"
if command -v script >/dev/null; then
    printf 'yes\n' | script -qec "\"$RUNE\" run \"$C/gate.yaml\" --operator bob" /dev/null >"$T/out" 2>&1
    id=$(last_incident)
    expect_eq "$(sql "select status||' '||json_extract(detail_json,'$.how') from events where incident_id='$id' and kind='approval'")" "approved terminal"
    expect_eq "$(sql "select exit_code from incidents where id='$id'")" "0"
else
    fail "script(1) is missing (util-linux)"
fi
end_case

test_case "Ctrl-C at the approval prompt declines and ends the run"
# the prompt waits on a terminal that never answers; SIGINT must end it
# (it may be delivered to any of rune's threads). The terminal's input
# stays open (sleep 300) well past every wait below: its end would answer
# the prompt with EOF.
( sleep 300 | script -qec "\"$RUNE\" run \"$C/gate.yaml\" --operator bob" /dev/null >"$T/out" 2>&1 ) &
holder=$!
pid=""
for _ in $(seq 600); do # 60 s at most: rune under ASan on a busy host
    grep -q 'type "yes"' "$T/out" 2>/dev/null && pid=$(pgrep -f "^$RUNE run $C/gate.yaml" | head -1) && [ -n "$pid" ] && break
    sleep 0.1
done
[ -n "$pid" ] || fail "the prompt never appeared: $(cat "$T/out")"
kill -INT "$pid"
# (it records the decline and runs the rollback before it exits: 30 s at
# most, for a rune under ASan on a busy host; one stuck at the prompt
# never ends)
for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    fail "rune still waits at the prompt 30 s after Ctrl-C"
fi
pkill -P "$holder" sleep 2>/dev/null; wait "$holder" 2>/dev/null
id=$(last_incident)
expect_eq "$(sql "select status||' '||json_extract(detail_json,'$.how') from events where incident_id='$id' and kind='approval'")" "declined terminal"
expect_eq "$(step_status "$id" go)" "not_run"
expect_eq "$(sql "select exit_code from incidents where id='$id'")" "5"
grep -q "declined (interrupted)" "$T/out" || fail "the prompt did not say it was interrupted: $(cat "$T/out")"
end_case

test_case "incident_if false: no incident, nothing changed"
run_rune run "$C/no_incident.yaml" --set marker="$T/fixed"
expect_rc 0
expect_out "no incident"
[ ! -e "$T/fixed" ] || fail "mitigation ran"
id=$(last_incident)
expect_eq "$(sql "select outcome from incidents where id='$id'")" "no_incident"
run_rune run "$C/no_incident.yaml" --set marker="$T/fixed" --set broken=true
expect_rc 0
[ -e "$T/fixed" ] || fail "mitigation did not run for a real incident"
end_case

test_case "inputs are typed and checked before anything runs"
run_rune run "$C/inputs.yaml"
expect_rc 2
expect_err "input \"count\" is required: pass --set count=VALUE (how many)"
run_rune run "$C/inputs.yaml" --set count=abc
expect_rc 2
expect_err "input \"count\" (from --set): expected an integer, found \"abc\""
run_rune run "$C/inputs.yaml" --set count=1 --set mode=reckless
expect_rc 2
expect_err "is not one of"
run_rune run "$C/inputs.yaml" --set count=1 --set cuont=2
expect_rc 2
expect_err "no input \"cuont\" (did you mean \"count\"?)"
expect_eq "$(sql "select count(*) from incidents where runbook='inputs'" 2>/dev/null || echo 0)" "0" "nothing recorded for invalid inputs"
run_rune run "$C/inputs.yaml" --set count=3 --set mode=safe --set marker="$T/in.txt" --set wait=20ms
expect_rc 0
expect_eq "$(cat "$T/in.txt" 2>/dev/null)" "3 safe"
# a duration input reaches a duration parameter as the duration given (not 1000x)
expect_eq "$(sql "select json_extract(detail_json,'$.outputs.slept_ms') from events where incident_id='$(last_incident)' and step='pause' and kind='step.end'")" "20"
run_rune run "$C/inputs.yaml" --set count=1 --set n=inf
expect_rc 2
end_case

test_case "secrets never reach the console or the log"
export RUNE_TEST_TOKEN="tok-SECRET-9876"
run_rune run "$C/secret.yaml"
expect_rc 4
expect_no "tok-SECRET-9876"
expect_no "input-pass-123"
expect_out "***"
id=$(last_incident)
n=$(sqlite3 "$RUNE_LOG" .dump | grep -c -e tok-SECRET-9876 -e input-pass-123)
expect_eq "$n" "0" "secret occurrences in the log"
expect_eq "$(sql "select json_extract(inputs_json,'$.password') from incidents where id='$id'")" "***"
unset RUNE_TEST_TOKEN
run_rune run "$C/secret.yaml"
expect_rc 2
expect_err "environment variable RUNE_TEST_TOKEN is not set"
end_case

test_case "a held lock exits 6 and runs nothing"
# first run on a machine: the log's directory does not exist yet
RUNE_LOG="$T/fresh/state/incidents.db" run_rune run "$C/locked.yaml"
expect_rc 0
[ -e "$T/fresh/state/locks/db_app.lock" ] || fail "lock directory not created on first use"
run_rune run "$C/locked.yaml"
expect_rc 0
lockfile="$T/locks/db_app.lock"
[ -e "$lockfile" ] || fail "no lock file at $lockfile"
flock "$lockfile" -c "\"$RUNE\" run \"$C/locked.yaml\" </dev/null >\"$T/out\" 2>\"$T/err\"; echo \$? > \"$T/rc\""
expect_eq "$(cat "$T/rc")" "6" "exit code while locked"
grep -q 'lock "db/app" is held' "$T/err" || fail "no lock message"
end_case

test_case "validation failures run nothing and exit 2"
cat > "$T/bad.yaml" <<'YAML'
runbook: bad
mitigation:
  steps:
    - id: touch
      uses: shell.run
      with: { script: 'touch "$RUNE_TEST_MARK"' }
    - id: oops
      uses: shell.runn
YAML
export RUNE_TEST_MARK="$T/ran"
run_rune run "$T/bad.yaml"
expect_rc 2
expect_err "bad.yaml:8:13: error: unknown step type \"shell.runn\" (did you mean \"shell.run\"?)"
[ ! -e "$T/ran" ] || fail "a step ran although the runbook is invalid"
end_case

test_case "Ctrl-C cancels the running step, runs rollback, exits 5"
"$RUNE" run "$C/interrupt.yaml" </dev/null >"$T/out" 2>"$T/err" &
pid=$!
# wait (bounded) until the step is running, then interrupt (a SIGINT that
# came before the step started would test something else)
wait_sql "select count(*) from events where step='long' and kind='step.start'"
kill -INT "$pid"
wait "$pid"; RC=$?
expect_rc 5
id=$(last_incident)
expect_eq "$(step_status "$id" long)" "cancelled"
expect_eq "$(step_status "$id" next)" "not_run"
expect_eq "$(step_status "$id" undo)" "ok" "rollback ran after the interrupt"
end_case

test_case "alternatives (one_of) given through inputs: both, or neither, fail the step before it runs"
cat > "$T/alt.yaml" <<'YAML'
runbook: alt
inputs:
  a: { type: string, required: false }
  s: { type: string, required: false }
mitigation:
  steps:
    - { id: r, uses: shell.run, with: { argv: ["${inputs.a}"], script: "${inputs.s}" } }
YAML
cat > "$T/alt1.yaml" <<'YAML'
runbook: alt1
inputs:
  s: { type: string, required: false }
mitigation:
  steps:
    - { id: r, uses: shell.run, with: { script: "${inputs.s}" } }
YAML
run_rune validate "$T/alt.yaml"
expect_rc 0
run_rune run "$T/alt.yaml" --set a=true --set s="touch '$T/ran'" --yes
expect_rc 4
expect_out "shell.run takes only one of argv, script: argv and script are both given"
[ ! -e "$T/ran" ] || fail "the script ran although argv was given too"
run_rune run "$T/alt1.yaml" --yes
expect_rc 4
expect_out "shell.run needs one of argv, script"
run_rune run "$T/alt1.yaml" --set s="touch '$T/ran'" --yes
expect_rc 0
[ -e "$T/ran" ] || fail "the script did not run"
end_case

test_case "rune log lists the incidents and shows a timeline"
run_rune log
expect_rc 0
expect_out "rollback"
id=$(sql "select id from incidents where runbook='rollback' limit 1")
run_rune log show "$id"
expect_rc 0
expect_out "restore failed: backup unreadable"
expect_out "restart_app"
end_case

test_case "a value outside a parameter's choices, known only once resolved, stops the step before it runs"
sqlite3 "$T/choices.db" "create table t(x); insert into t values (1)"
run_rune run "$C/choices.yaml" --set db="$T/choices.db" --set mode=fulll
expect_rc 4
expect_out 'parameter "mode": "fulll" is not one of full or quick (did you mean "full"?)'
run_rune run "$C/choices.yaml" --set db="$T/choices.db" --set mode=quick
expect_rc 0
end_case

finish
