#!/usr/bin/env bash
# Dead runs seen as dead: the incident records the rune running it (pid and
# start, on its host) and every child before it runs. When that rune is
# killed (-9: no chance to record anything), `rune log`, `rune log show`
# and `rune report` show the run as abandoned, with the step it reached
# and `rune resume ID`, and list the children it left still running. A
# run in progress shows as running.
. "$(dirname "$0")/lib.sh"

# (sleep 300: the child must outlive every check of it below, however
# slow the host; the test ends its process group itself)
cat >"$T/slow.yaml" <<EOF
runbook: slow
mitigation:
  steps:
    - { id: first, uses: flow.note, with: { message: before } }
    - id: append
      uses: shell.run
      with: { script: 'sleep 300; echo x >> "\$F"', env: { F: "$T/f" } }
EOF
cat >"$T/quick.yaml" <<'EOF'
runbook: quick
mitigation:
  steps:
    - { id: one, uses: shell.run, with: { argv: [/bin/true] } }
EOF


test_case "a run in progress is running; killed, it is abandoned, with the step it reached"
"$RUNE" run "$T/slow.yaml" --no-report </dev/null >"$T/run.out" 2>&1 &
RP=$!
# the child is recorded (its group) before it runs
wait_sql "select count(*) from children where step='append' and ended_at is null"
ID=$(last_incident)
run_rune log
expect_out "$ID"
expect_out "running"
expect_eq "$(sql "select pid from runners where incident_id='$ID'")" "$RP" "the runner's pid"
kill -9 "$RP"; wait "$RP" 2>/dev/null
PG=$(sql "select pid from children where incident_id='$ID' and step='append'")
run_rune log
expect_rc 0
expect_out "abandoned"
expect_out "abandoned: incident $ID: its rune (pid $RP) is gone; it reached step append (mitigation); \`rune resume $ID\` continues it"
run_rune log show "$ID"
expect_out "abandoned (its rune, pid $RP, is gone; it reached step append in mitigation): \`rune resume $ID\` continues it"
expect_out "children still alive"
expect_out "step append attempt 1: /bin/sh, process group $PG:"
run_rune log show "$ID" --json
expect_out '"state": "abandoned"'
run_rune report "$ID"
expect_out "abandoned"
expect_out "rune resume $ID"
run_rune report "$ID" --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["incident"]["abandoned"]["last_step"]=="append", d["incident"]' "$T/out" ||
    fail "the JSON report has no incident.abandoned naming step append"
# the orphan is the test's to end here (rune resume does it: test_resume.sh)
kill -TERM -- "-$PG" 2>/dev/null
for _ in $(seq 300); do kill -0 -- "-$PG" 2>/dev/null || break; sleep 0.1; done
run_rune log show "$ID"
expect_no "children still alive"
end_case

test_case "an ended run is not abandoned, and leaves no child marked running"
run_rune run "$T/quick.yaml" --no-report
expect_rc 0
run_rune log --outcome resolved
expect_no "abandoned"
expect_eq "$(sql "select count(*) from children where ended_at is null and incident_id='$(last_incident)'")" 0 \
    "children of an ended run still marked running"
expect_eq "$(sql "select count(*) from children where incident_id='$(last_incident)'")" 1 \
    "children recorded"
end_case

finish
