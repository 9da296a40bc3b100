#!/usr/bin/env bash
# schemas/runbook.schema.json: generated from the loader's keys and the step
# tables (`rune schema`), current, accepted by a standard validator for
# every bundled runbook, and refusing what rune refuses.
. "$(dirname "$0")/lib.sh"
unset RUNE_LUA_PATH
SCHEMA="$RUNE_SOURCE_DIR/schemas/runbook.schema.json"
CHECK="$RUNE_SOURCE_DIR/tests/lib/runbook_schema.py"

test_case "schemas/runbook.schema.json matches the tables (regenerate: rune schema > schemas/runbook.schema.json)"
(cd "$RUNE_SOURCE_DIR" && "$RUNE" schema) > "$T/schema.json" || fail "rune schema failed"
diff -u "$SCHEMA" "$T/schema.json" > "$T/diff" || fail "schemas/runbook.schema.json is stale: $(head -20 "$T/diff")"
end_case

test_case "every bundled runbook validates against the schema (python3-jsonschema)"
python3 "$CHECK" "$SCHEMA" $(ls "$RUNE_SOURCE_DIR"/runbooks/*.yaml "$RUNE_SOURCE_DIR"/runbooks/examples/*.yaml | grep -v '\.test\.yaml$') \
    > "$T/check" 2>&1 || fail "$(grep -v ': ok$' "$T/check" | head -20)"
[ "$(grep -c ': ok$' "$T/check")" -ge 15 ] || fail "too few runbooks checked: $(cat "$T/check")"
end_case

test_case "the schema accepts every test runbook rune accepts (with their Lua types: rune schema from their directory)"
(cd "$RUNE_SOURCE_DIR/tests/cli/cases" && "$RUNE" schema) > "$T/cases.json" 2>"$T/err" || fail "rune schema: $(cat "$T/err")"
n=0
for f in "$RUNE_SOURCE_DIR"/tests/cli/cases/*.yaml "$RUNE_SOURCE_DIR"/tests/cli/cases/*/*.yaml; do
    "$RUNE" validate -q "$f" >/dev/null 2>&1 || continue
    n=$((n + 1))
    python3 "$CHECK" "$T/cases.json" "$f" > "$T/check" 2>&1 || fail "$(cat "$T/check")"
done
[ "$n" -ge 20 ] || fail "only $n runbooks checked"
end_case

# bad NAME MESSAGE-PART YAML-STEP-LINES — a runbook whose one step is
# broken; the schema must refuse it (and rune validate too: the schema is
# no stricter or looser than rune on these).
bad() {
    test_case "the schema refuses $1"
    { echo "runbook: bad"; echo "mitigation:"; echo "  steps:"; printf '%s\n' "$3"; } > "$T/$1.yaml"
    if python3 "$CHECK" "$SCHEMA" "$T/$1.yaml" > "$T/check" 2>&1; then
        fail "the schema accepted it"
    fi
    grep -qF -- "$2" "$T/check" || fail "expected \"$2\" in: $(cat "$T/check")"
    run_rune validate "$T/$1.yaml"
    expect_rc 2
    end_case
}
bad unknown_key "Additional properties are not allowed ('tiemout' was unexpected)" \
'    - { id: a, uses: flow.note, with: { message: hi }, tiemout: 5s }'
bad unknown_type "'flow.nope' is not one of" \
'    - { id: a, uses: flow.nope }'
bad unknown_param "mitigation/steps/0/with: Additional properties are not allowed ('mesage' was unexpected)" \
'    - { id: a, uses: flow.note, with: { mesage: hi } }'
bad wrong_int "mitigation/steps/0/with/max_problems: 'lots'" \
'    - { id: a, uses: sqlite.integrity, with: { path: /x.db, max_problems: lots } }'
bad wrong_duration "mitigation/steps/0/with/duration: 'soon'" \
'    - { id: a, uses: flow.sleep, with: { duration: soon } }'
bad wrong_bool "mitigation/steps/0/with/foreign_keys: 'maybe'" \
'    - { id: a, uses: sqlite.integrity, with: { path: /x.db, foreign_keys: maybe } }'
bad wrong_choice "mitigation/steps/0/with/mode: 'fulll'" \
'    - { id: a, uses: sqlite.integrity, with: { path: /x.db, mode: fulll } }'
bad missing_required "mitigation/steps/0/with: 'path' is a required property" \
'    - { id: a, uses: sqlite.integrity, with: { mode: quick } }'
bad missing_with "'with' is a required property" \
'    - { id: a, uses: sqlite.integrity }'
bad both_alternatives "is valid under each of" \
'    - { id: a, uses: shell.run, with: { argv: [true], script: "true" } }'
bad rollback_in_detection "'rollback' is not one of ['abort', 'continue']" \
'    - { id: a, uses: flow.note, with: { message: hi } }
detection:
  steps:
    - { id: b, uses: flow.note, on_failure: rollback, with: { message: hi } }'
bad unknown_top_key "('stpes' was unexpected)" \
'    - { id: a, uses: flow.note, with: { message: hi } }
stpes: []'

test_case "\${...} is accepted where an integer, boolean, duration or choice is expected"
cat > "$T/expr.yaml" <<'YAML'
runbook: expr
inputs:
  n: { type: int, default: 5 }
  wait: { type: duration, default: 1s }
  fk: { type: bool, default: true }
  mode: { type: string, default: quick }
mitigation:
  steps:
    - id: a
      uses: sqlite.integrity
      with: { path: /x.db, max_problems: "${inputs.n}", foreign_keys: "${inputs.fk}", mode: "${inputs.mode}", busy_timeout: "${inputs.wait}" }
    - id: b
      uses: flow.sleep
      with: { duration: "${inputs.wait}" }
    - { id: c, uses: sqlite.integrity, with: { path: /x.db, max_problems: "7", foreign_keys: "false", busy_timeout: 90 } }
YAML
python3 "$CHECK" "$SCHEMA" "$T/expr.yaml" > "$T/check" 2>&1 || fail "refused: $(cat "$T/check")"
run_rune validate "$T/expr.yaml"
expect_rc 0
end_case

test_case "rune schema includes the team's own Lua step types (./lua and \$RUNE_LUA_PATH)"
mkdir -p "$T/team/lua" "$T/more"
cat > "$T/team/lua/team_check.lua" <<'LUA'
return { name = "team.check", summary = "a team's own check",
  params = { db = { type = "string", required = true, doc = "which database" },
             level = { type = "string", choices = { "low", "high" }, default = "low" } },
  outputs = { rows = { type = "int", doc = "rows" } }, effect = "reads",
  run = function(p) return { rows = 1 } end }
LUA
cat > "$T/more/other.lua" <<'LUA'
return { name = "team.other", summary = "another", params = {}, outputs = {}, effect = "pure",
  run = function(p) return {} end }
LUA
(cd "$T/team" && RUNE_LUA_PATH="$T/more" "$RUNE" schema) > "$T/team.json" 2>"$T/err" || fail "rune schema: $(cat "$T/err")"
cat > "$T/team/uses.yaml" <<'YAML'
runbook: uses-team
detection:
  steps:
    - { id: a, uses: team.check, with: { db: app, level: high } }
    - { id: b, uses: team.other }
YAML
python3 "$CHECK" "$T/team.json" "$T/team/uses.yaml" > "$T/check" 2>&1 || fail "refused: $(cat "$T/check")"
sed -i 's/level: high/level: extreme/' "$T/team/uses.yaml"
python3 "$CHECK" "$T/team.json" "$T/team/uses.yaml" > "$T/check" 2>&1 && fail "accepted a choice the Lua type does not have"
python3 "$CHECK" "$SCHEMA" "$T/team/uses.yaml" > "$T/check" 2>&1 && fail "the bundled schema knows team.check"
end_case

finish
