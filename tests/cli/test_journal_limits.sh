#!/usr/bin/env bash
# An event too large for the incident log: a step whose outputs exceed the
# log's 16 MiB cap on an event detail. The run ends normally, the event is
# stored as a truncation marker saying how large it was and how it began,
# and `rune log verify` finds the chain intact (the marker is what was
# hashed). Before, such an event went in whole — or, past SQLite's own
# limit, as NULL under a hash of the real text, which verify reported as
# tampering.
. "$(dirname "$0")/lib.sh"

CAP=$((16 * 1024 * 1024))
BIG=$((CAP + 1024 * 1024))

cat >"$T/big.yaml" <<EOF
runbook: big-output
mitigation:
  steps:
    - id: big
      uses: shell.run
      with:
        script: head -c $BIG /dev/zero | tr '\0' x
        capture_bytes: $((BIG + 1024))
    - id: after
      uses: shell.run
      with: { script: echo still here }
EOF

test_case "outputs over the cap: the run ends normally, verify passes, the event carries the marker"
run_rune run "$T/big.yaml"
expect_rc 0
expect_out "outcome: resolved (exit 0)"
expect_no "cannot record"
id=$(last_incident)
ev="select detail_json from events where incident_id='$id' and step='big' and kind='step.end'"
expect_eq "$(sql "select status from events where incident_id='$id' and step='big' and kind='step.end'")" "ok" "step status"
expect_eq "$(sql "select json_extract(detail_json,'\$.truncated') from ($ev)")" "1" "truncated marker"
orig=$(sql "select json_extract(detail_json,'\$.original_bytes') from ($ev)")
[ -n "$orig" ] && [ "$orig" -gt "$BIG" ] || fail "original_bytes $orig should exceed the output's $BIG bytes"
expect_eq "$(sql "select json_extract(detail_json,'\$.head') like '{%\"outputs\":{\"exit_code\":0,%' from ($ev)")" "1" "head starts the original JSON"
expect_eq "$(sql "select length(detail_json) < 1048576 from ($ev)")" "1" "marker is small"
expect_eq "$(sql "select json_extract(detail_json,'\$.outputs.stdout') from events where incident_id='$id' and step='after' and kind='step.end'")" "still here" "later events recorded whole"
run_rune log verify "$id"
expect_rc 0
expect_no "changed"
end_case

finish
