#!/usr/bin/env bash
# rune plan (dry-run): nothing is changed; --probe runs reads only;
# --fail predicts the outcome and exit code a real run with the same
# failure returns; outputs from simulate: and from history; estimates from
# the median of real runs; JSON; secrets masked; recorded as dry-run.
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases/plan"
export RUNE_PATH="$RUNE_SOURCE_DIR/runbooks"

# snapshot DIR — every file's path, size, mode and content hash
snapshot() { (cd "$1" && find . -printf '%p %s %m\n' | sort && find . -type f -exec sha256sum {} + | sort); }
jq_sql() { sqlite3 :memory: "select json_extract(readfile('$T/plan.json'), '$1')"; }

test_case "a plan of every bundled SQLite runbook changes nothing"
mkdir -p "$T/area/b"
sqlite3 "$T/area/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('a'),('b');"
before=$(snapshot "$T/area")
for rb in sqlite-health-check sqlite-backup sqlite-compact-repair sqlite-restore \
          sqlite-integrity-check sqlite-lock-diagnosis sqlite-stress-test; do
    extra=()
    case $rb in sqlite-backup|sqlite-compact-repair|sqlite-restore) extra=(--set backups="$T/area/b") ;; esac
    run_rune plan "$rb" --set path="$T/area/app.db" "${extra[@]}"
    [ "$RC" = 0 ] || fail "$rb: plan exited $RC: $(head -c 400 "$T/err")"
    expect_out "nothing is changed"
    expect_out "predicted outcome:"
done
run_rune plan sqlite-drill --set workdir="$T/area/drill"
expect_rc 0
[ -e "$T/area/drill" ] && fail "the drill's plan created its work directory"
expect_eq "$(snapshot "$T/area")" "$before" "the area after eight plans"
expect_eq "$(sql "select count(*) from incidents where mode = 'dry-run'")" "8" "every plan recorded as a dry-run"
expect_eq "$(sql "select count(*) from incidents where mode = 'run'")" "0"
end_case

test_case "--fail on a mitigation step shows the rollback and the exit code a real run returns"
mkdir -p "$T/w"
PLAN_TOKEN=tok-$RANDOM-secret run_rune plan "$C/whatif.yaml" --set dir="$T/w" --fail risky=disk\ on\ fire --json
expect_rc 0
cp "$T/out" "$T/plan.json"
expect_eq "$(jq_sql '$.outcome')" "rolled_back"
predicted=$(jq_sql '$.exit_code')
expect_eq "$(jq_sql '$.stages[1].name')" "mitigation"
expect_eq "$(jq_sql '$.stages[1].waves[1][0].status')" "failed"
expect_eq "$(jq_sql '$.stages[1].waves[1][0].attempts')" "2" "both attempts, as the retry says"
expect_eq "$(jq_sql '$.stages[1].waves[1][0].error')" "injected failure: disk on fire"
expect_eq "$(jq_sql '$.stages[3].name')" "rollback"
expect_eq "$(jq_sql '$.stages[3].waves[0][0].status')" "ok" "the undo would run"
expect_eq "$(jq_sql '$.stages[2].waves[0][0].status')" "not_run" "verification would not"
[ -e "$T/w/written" ] && fail "the plan wrote a file"
# the same failure, for real
PLAN_TOKEN=tok-real-secret run_rune run "$C/whatif.yaml" --set dir="$T/w" --set broken=true
expect_eq "$RC" "$predicted" "a real run's exit code = the plan's prediction"
# and without --fail the plan predicts success, as a real run gives
PLAN_TOKEN=tok-$RANDOM-secret run_rune plan "$C/whatif.yaml" --set dir="$T/w" --json
cp "$T/out" "$T/plan.json"
expect_eq "$(jq_sql '$.exit_code')" "0"
PLAN_TOKEN=tok-real-secret run_rune run "$C/whatif.yaml" --set dir="$T/w"
expect_rc 0
end_case

test_case "the JSON plan validates against schemas/plan.schema.json"
python3 - "$RUNE_SOURCE_DIR/schemas/plan.schema.json" "$T/plan.json" <<'PY' || fail "the plan does not match its schema"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
jsonschema.validate(json.load(open(sys.argv[2])), schema, cls=jsonschema.Draft202012Validator)
PY
end_case

test_case "--fail-attempts: a retry that succeeds on its second attempt"
PLAN_TOKEN=tok-$RANDOM-secret run_rune plan "$C/whatif.yaml" --set dir="$T/w" --fail-attempts risky=1 --json
cp "$T/out" "$T/plan.json"
expect_eq "$(jq_sql '$.outcome')" "resolved"
expect_eq "$(jq_sql '$.stages[1].waves[1][0].attempts')" "2"
expect_eq "$(jq_sql '$.stages[1].waves[1][0].status')" "ok"
end_case

test_case "secrets are masked in plans"
PLAN_TOKEN=plan-secret-value-42 run_rune plan "$C/whatif.yaml" --set dir="$T/w"
expect_no "plan-secret-value-42"
expect_out "***"
[ "$(sqlite3 "$RUNE_LOG" .dump | grep -c plan-secret-value-42)" = 0 ] || fail "secret in the log"
end_case

test_case "--probe runs the read and never the write"
sqlite3 "$T/p.db" "CREATE TABLE a(x); CREATE TABLE b(y);"
run_rune plan "$C/probe.yaml" --set db="$T/p.db" --set marker="$T/marker" --json
cp "$T/out" "$T/plan.json"
expect_eq "$(jq_sql '$.stages[0].waves[0][0].outputs_source')" "unknown" "without --probe the read is simulated too"
run_rune plan "$C/probe.yaml" --set db="$T/p.db" --set marker="$T/marker" --probe --json
cp "$T/out" "$T/plan.json"
expect_eq "$(jq_sql '$.stages[0].waves[0][0].outputs_source')" "run" "the read ran"
expect_eq "$(sql "select json_extract(detail_json, '\$.outputs.table_count') from events where step = 'health' and kind = 'step.end' order by rowid desc limit 1")" "2" "real outputs"
expect_eq "$(jq_sql '$.stages[1].waves[0][0].simulated')" "1" "the write was simulated"
[ -e "$T/marker" ] && fail "a write primitive ran in a dry-run"
expect_eq "$(jq_sql '$.stages[1].waves[1][0].status')" "undecided" "a step whose when: reads unknown outputs"
[ -n "$(jq_sql '$.stages[1].waves[1][0].undecided')" ] || fail "a condition on an unknown output is not marked undecided"
expect_eq "$(jq_sql '$.exit_code')" "0" "a note that may or may not run changes no outcome"
end_case

test_case "a runbook that never ran: an undecided guard is not run, the outcome is undecided naming what it depends on"
mkdir -p "$T/fresh"; echo hello > "$T/fresh/a.txt"
run_rune plan "$C/fresh.yaml" --set dir="$T/fresh" --json
expect_rc 0
cp "$T/out" "$T/plan.json"
python3 -m jsonschema -i "$T/plan.json" "$RUNE_SOURCE_DIR/schemas/plan.schema.json" 2>"$T/schema.err" || fail "schema: $(cat "$T/schema.err")"
expect_eq "$(jq_sql '$.outcome')" "undecided"
expect_eq "$(jq_sql '$.exit_code')" "" "no exit code predicted"
expect_eq "$(jq_sql '$.undecided_on[0].step')" "guard"
expect_eq "$(jq_sql '$.undecided_on[0].on')" "verify"
expect_eq "$(jq_sql '$.otherwise.exit_code')" "0" "the branch where the guard does not run"
expect_eq "$(jq_sql '$.stages[0].waves[2][0].id')" "guard"
expect_eq "$(jq_sql '$.stages[0].waves[2][0].status')" "undecided"
expect_eq "$(jq_sql '$.stages[0].waves[2][0].error')" "" "the guard did not fail the plan"
expect_eq "$(jq_sql '$.stages[0].waves[3][0].status')" "undecided" "a step after the guard may not run"
expect_eq "$(jq_sql '$.stages[0].waves[1][1].id')" "aside"
expect_eq "$(jq_sql '$.stages[0].waves[1][1].status')" "ok" "a step beside the guard runs either way"
run_rune plan "$C/fresh.yaml" --set dir="$T/fresh"
expect_out "predicted outcome: undecided"
expect_out "step guard would fail if it ran; whether it runs depends on the outputs of step verify"
expect_no "error: (null)"
expect_no "would exit 4"
# and the real run
run_rune run "$C/fresh.yaml" --set dir="$T/fresh"
expect_rc 0
end_case

test_case "--probe never runs a read whose parameters come from a simulated write"
rm -f "$T/fresh/b.txt" "$RUNE_LOG" "$RUNE_LOG"-wal "$RUNE_LOG"-shm   # never run: no outputs from history
run_rune plan "$C/fresh.yaml" --set dir="$T/fresh" --probe --json
expect_rc 0
cp "$T/out" "$T/plan.json"
expect_eq "$(jq_sql '$.stages[0].waves[1][0].id')" "verify"
expect_eq "$(jq_sql '$.stages[0].waves[1][0].outputs_source')" "unknown" "not run"
expect_eq "$(jq_sql '$.stages[0].waves[1][0].simulated')" "1"
expect_no "out of memory"
[ -e "$T/fresh/b.txt" ] && fail "the plan wrote the copy"
end_case

test_case "a first plan: steps without history say so, and timeouts alone raise no RTO warning"
rm -f "$RUNE_LOG" "$RUNE_LOG"-wal "$RUNE_LOG"-shm
run_rune plan "$C/fresh.yaml" --set dir="$T/fresh" --json
cp "$T/out" "$T/plan.json"
expect_eq "$(jq_sql '$.rto_exceeded')" "0" "no RTO warning from timeouts"
expect_eq "$(jq_sql '$.estimate_known_ms')" "0"
expect_eq "$(sqlite3 :memory: "select json_array_length(readfile('$T/plan.json'), '\$.no_history')")" "5"
run_rune plan "$C/fresh.yaml" --set dir="$T/fresh"
expect_no "WARNING: over the RTO"
expect_out "5 steps with no history yet"
expect_out "estimate unknown: no history yet"
expect_out "RTO 30m00s: not known yet"
end_case

test_case "outputs from simulate:, estimates from the median of two real runs"
run_rune plan "$C/timed.yaml" --json
cp "$T/out" "$T/plan.json"
expect_eq "$(jq_sql '$.stages[0].waves[0][0].estimate_source')" "timeout" "no history yet"
expect_eq "$(jq_sql '$.stages[0].waves[0][0].estimate_ms')" "120000"
expect_eq "$(sql "select json_extract(detail_json, '\$.outputs.stdout') from events where step = 'simulated' and kind = 'step.end'")" "pretend"
sql "select detail_json from events where step = 'reads_sim'" | grep -q 'the simulated step said pretend' || fail "a later step did not see the simulated outputs"
run_rune run "$C/timed.yaml"; expect_rc 4 # `false` fails for real
sed 's/argv: \[false\]/argv: [true]/' "$C/timed.yaml" > "$T/timed.yaml"
run_rune run "$T/timed.yaml"; expect_rc 0
run_rune run "$T/timed.yaml"; expect_rc 0
run_rune plan "$T/timed.yaml" --json
cp "$T/out" "$T/plan.json"
expect_eq "$(jq_sql '$.stages[0].waves[0][0].estimate_source')" "history"
runs=$(jq_sql '$.stages[0].waves[0][0].history_runs')
[ "$runs" -ge 2 ] || fail "history_runs $runs"
median=$(sql "select duration_ms from events e join incidents i on i.id = e.incident_id where i.mode = 'run' and e.step = 'nap' and e.kind = 'step.end' and e.status = 'ok' order by duration_ms" | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : int((v[NR/2]+v[NR/2+1])/2)}')
expect_eq "$(jq_sql '$.stages[0].waves[0][0].estimate_ms')" "$median" "the median of the real runs"
expect_eq "$(jq_sql '$.stages[0].waves[0][0].outputs_source')" "history" "outputs of the last real run"
expect_eq "$(jq_sql '$.stages[0].waves[1][0].outputs_source')" "simulate" "simulate: comes before history"
end_case

test_case "run --dry-run is plan; what-if flags need a dry-run; unknown steps are refused"
run_rune run "$C/timed.yaml" --dry-run
expect_rc 0
expect_out "DRY RUN"
run_rune run "$C/timed.yaml" --fail nap
expect_rc 2
expect_err "are for dry-runs"
run_rune plan "$C/timed.yaml" --fail napp
expect_rc 2
expect_err "the runbook has no step \"napp\""
end_case

finish
