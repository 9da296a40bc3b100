#!/usr/bin/env bash
# What a run is given (issue 12, item 7): --set text that is not UTF-8
# is refused.
. "$(dirname "$0")/lib.sh"

# wait_for FILE — until FILE exists (30 s at most).
wait_for() {
    local i
    for i in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.1; done
    fail "timed out waiting for $1"
    return 1
}

incidents() { sql "select count(*) from incidents" 2>/dev/null || echo 0; }

cat >"$T/paths.yaml" <<'YAML'
# One run per database at a time; the step holds the lock until GO exists
# beside the database, and records the path it was given.
runbook: paths
lock: db/${inputs.db}
inputs:
  db: { type: path, required: true }
  label: { type: string, default: plain }
mitigation:
  steps:
    - id: hold
      uses: shell.run
      with:
        script: 'printf "%s" "$DB"; touch "$DB.started"; for i in $(seq 600); do [ -e "$DB.go" ] && exit 0; sleep 0.1; done; exit 1'
        env: { DB: "${inputs.db}" }
YAML

test_case "--set text that is not UTF-8 is refused with exit 2, nothing recorded"
mkdir -p "$T/x" && touch "$T/x/app.db.go"
before=$(incidents)
run_rune run "$T/paths.yaml" --set db="$T/x/app.db" --set label=$'caf\xe9'
expect_rc 2
expect_err '--set label: the value is not valid UTF-8 (byte 0xE9 at offset 3)'
expect_err 'nothing was run'
run_rune run "$T/paths.yaml" --set db=$'/tmp/caf\xe9.db'
expect_rc 2
expect_err '--set db: the value is not valid UTF-8 (byte 0xE9 at offset 8)'
run_rune run "$T/paths.yaml" --set db="$T/x/app.db" --set $'lab\xffel=1'
expect_rc 2
expect_err '--set: an input name is not valid UTF-8 (byte 0xFF at offset 3)'
# overlong and surrogate encodings are not UTF-8 either
run_rune run "$T/paths.yaml" --set db="$T/x/app.db" --set label=$'\xc0\xaf'
expect_rc 2
run_rune run "$T/paths.yaml" --set db="$T/x/app.db" --set label=$'\xed\xa0\x80'
expect_rc 2
expect_eq "$(incidents)" "$before" "incidents recorded"
run_rune run "$T/paths.yaml" --set db="$T/x/app.db" --set label='café ✓'
expect_rc 0
expect_eq "$(sql "select json_extract(inputs_json,'\$.label') from incidents where id='$(last_incident)'")" "café ✓" "a UTF-8 value"
end_case

finish
