#!/usr/bin/env bash
# rune validate's warnings (engine/runbook/lint.c): apart from errors, with
# file:line:col and a rule; --strict makes them exit 2; JSON and SARIF.
. "$(dirname "$0")/lib.sh"
unset RUNE_LUA_PATH

cat > "$T/restore.yaml" <<'YAML'
runbook: restore-no-undo
inputs:
  path: { type: path, required: true }
mitigation:
  steps:
    - id: pick
      uses: backup.list
      with: { dir: /backups }
    - id: restore
      uses: sqlite.restore
      with: { path: "${inputs.path}", from: "${steps.pick.outputs.newest_verified}" }
YAML

test_case "--strict: sqlite.restore with no rollback stage and no confirm exits 2, warning at the step's line"
run_rune validate --strict "$T/restore.yaml"
expect_rc 2
expect_err "$T/restore.yaml:9:7: warning: step \"restore\" (sqlite.restore) changes things, the runbook has no rollback stage and it has no confirm:"
expect_err "[write-without-rollback]"
expect_err "fails --strict: 1 warning"
expect_no "error:"
end_case

test_case "without --strict the same runbook is valid (exit 0), the warning still shown"
run_rune validate "$T/restore.yaml"
expect_rc 0
expect_out "ok (restore-no-undo, 2 steps), 1 warning"
expect_err "$T/restore.yaml:9:7: warning:"
end_case

test_case "a confirm: or a rollback stage answers it"
sed 's/      uses: sqlite.restore/      uses: sqlite.restore\n      confirm: true/' "$T/restore.yaml" > "$T/confirmed.yaml"
run_rune validate --strict "$T/confirmed.yaml"
expect_rc 0
expect_no "warning"
{ cat "$T/restore.yaml"; printf 'rollback:\n  steps:\n    - { id: undo, uses: flow.note, with: { message: undo } }\n'; } > "$T/undone.yaml"
run_rune validate --strict "$T/undone.yaml"
expect_rc 0
expect_no "warning"
# but not when the step's failure does not lead there
sed 's/      uses: sqlite.restore/      uses: sqlite.restore\n      on_failure: continue/' "$T/undone.yaml" > "$T/cont.yaml"
run_rune validate --strict "$T/cont.yaml"
expect_rc 2
expect_err "its on_failure does not lead to the rollback stage"
end_case

test_case "a misspelt output key is reported at its file:line:col (native and Lua types), before anything runs"
cat > "$T/paht.yaml" <<'YAML'
runbook: paht
mitigation:
  steps:
    - { id: backup, uses: sqlite.backup, confirm: true, with: { path: /srv/app.db, dir: /backups } }
    - id: newest
      uses: files.newest
      with: { dir: /backups }
    - id: copy
      uses: file.copy
      confirm: "copy ${steps.newest.outputs.nmae}?"
      with: { from: "${steps.backup.outputs.paht}", to: /elsewhere/app.db.gz }
    - { id: glue, lua: "return { x = 1 }" }
    - { id: use, uses: flow.note, with: { message: "${steps.glue.outputs.anything} ${steps.copy.outputs.path}" } }
YAML
run_rune validate "$T/paht.yaml"
expect_rc 0
expect_err "$T/paht.yaml:11:45: warning: steps.backup.outputs.paht: sqlite.backup has no output \"paht\" (did you mean \"path\"?); its outputs are: path"
expect_err "$T/paht.yaml:10:45: warning: steps.newest.outputs.nmae: files.newest has no output \"nmae\" (did you mean \"name\"?)"
expect_err "[unknown-output]"
expect_no "outputs.anything"
expect_no "outputs.path:"
# rune run says it too, before anything runs (the backup is never attempted)
run_rune run "$T/paht.yaml" --yes --no-report
expect_err "$T/paht.yaml:11:45: warning: steps.backup.outputs.paht"
[ "$(head -n 2 "$T/err" | grep -c 'warning:')" = 2 ] || fail "warnings are not the first thing printed: $(head -3 "$T/err")"
end_case

test_case "a write in detection"
cat > "$T/detect.yaml" <<'YAML'
runbook: detect
detection:
  steps:
    - id: fix_early
      uses: shell.run
      with: { argv: [touch, /tmp/x] }
    # rune: allow write-in-detection — only reads, the reason is given
    - id: look
      uses: shell.run
      with: { argv: ["true"] }
    - { id: look2, uses: shell.run, with: { argv: ["true"] } }  # rune: allow write-in-detection, write-without-rollback — reads
    # rune: allow write-without-rollback — names another rule: does not silence this one
    - { id: fix2, uses: shell.run, with: { argv: ["true"] } }
YAML
run_rune validate --strict "$T/detect.yaml"
expect_rc 2
expect_err "$T/detect.yaml:4:7: warning: step \"fix_early\" (shell.run) is in the detection stage, but shell.run changes things"
expect_err "$T/detect.yaml:13:7: warning: step \"fix2\""
expect_err "[write-in-detection]"
expect_no "\"look\""
expect_no "\"look2\""
end_case

test_case "a rollback step reading outputs of a step that may not have run, unless when: or the expression handles it"
cat > "$T/undo.yaml" <<'YAML'
runbook: undo
inputs:
  path: { type: path, required: true }
mitigation:
  steps:
    - { id: check, uses: flow.note, with: { message: first } }
    - id: restore
      uses: sqlite.restore
      confirm: true
      with: { path: "${inputs.path}", from: /backups/x.db.gz }
rollback:
  steps:
    - id: put_back
      uses: file.copy
      with: { from: "${steps.restore.outputs.safety_copy}", to: "${inputs.path}", overwrite: true }
    - id: guarded
      uses: file.copy
      when: steps.restore.status == "ok"
      with: { from: "${steps.restore.outputs.safety_copy}", to: "${inputs.path}", overwrite: true }
    - id: defaulted
      uses: flow.note
      with: { message: "copy: ${steps.restore.outputs.safety_copy or 'none'}" }
YAML
run_rune validate --strict "$T/undo.yaml"
expect_rc 2
expect_err "$T/undo.yaml:15:24: warning: rollback step \"put_back\" reads steps.restore.outputs.safety_copy, but the rollback stage also runs when restore never ran"
expect_err "[rollback-reads-unrun]"
expect_no "\"guarded\""
expect_no "\"defaulted\""
end_case

test_case "--format json: errors and warnings apart, per file"
printf 'runbook: broken\nmitigation:\n  steps:\n    - { id: a, uses: flow.nope }\n' > "$T/broken.yaml"
run_rune validate --format json "$T/restore.yaml" "$T/broken.yaml"
expect_rc 2
python3 - "$T/out" "$T/restore.yaml" > "$T/py" 2>&1 <<'PY' || fail "$(cat "$T/py")"
import json, sys
doc = json.load(open(sys.argv[1]))
a, b = doc["files"]
assert a["path"] == sys.argv[2] and a["valid"] and a["ok"] and a["errors"] == [], a
w = a["warnings"][0]
assert (w["line"], w["col"], w["rule"]) == (9, 7, "write-without-rollback"), w
assert not b["valid"] and b["warnings"] == [] and "unknown step type" in b["errors"][0]["message"], b
assert doc["failed"] == 1 and doc["strict"] is False, doc
PY
run_rune validate --json --strict "$T/restore.yaml"
expect_rc 2
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["failed"]==1 and not d["files"][0]["ok"], d' "$T/out" || fail "--json --strict"
end_case

test_case "--format sarif: SARIF 2.1.0 with a rule per warning kind and the error"
run_rune validate --format sarif "$T/restore.yaml" "$T/broken.yaml"
expect_rc 2
python3 - "$T/out" > "$T/py" 2>&1 <<'PY' || fail "$(cat "$T/py")"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["version"] == "2.1.0" and "sarif-2.1.0" in doc["$schema"], doc
run, = doc["runs"]
driver = run["tool"]["driver"]
assert driver["name"] == "rune"
ids = [r["id"] for r in driver["rules"]]
assert {"invalid", "write-without-rollback", "write-in-detection", "rollback-reads-unrun", "unknown-output"} <= set(ids), ids
levels = {}
for r in run["results"]:
    assert ids[r["ruleIndex"]] == r["ruleId"], r
    assert r["level"] in ("error", "warning", "note", "none"), r
    assert r["message"]["text"], r
    loc = r["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"], r
    assert loc["region"]["startLine"] >= 1 and loc["region"]["startColumn"] >= 1, r
    levels[r["ruleId"]] = r["level"]
assert levels == {"write-without-rollback": "warning", "invalid": "error"}, levels
PY
end_case

test_case "a plan shows the warnings before anything runs; with -q one line says how many and where"
run_rune plan "$T/restore.yaml" --no-report --set path="$T/app.db"
expect_err "$T/restore.yaml:9:7: warning:"
run_rune plan -q "$T/restore.yaml" --no-report --set path="$T/app.db"
expect_err "rune: 1 warning about $T/restore.yaml (\`rune validate $T/restore.yaml\` lists them)"
expect_no ":9:7: warning:"
end_case

test_case "every bundled runbook is warning-free under --strict"
run_rune validate --strict $(ls "$RUNE_SOURCE_DIR"/runbooks/*.yaml "$RUNE_SOURCE_DIR"/runbooks/examples/*.yaml | grep -v '\.test\.yaml$')
expect_rc 0
expect_no "warning"
end_case

test_case "a Lua step type returning an output it does not declare: a warning at run time"
mkdir -p "$T/lt/lua"
cat > "$T/lt/lua/team_sloppy.lua" <<'LUA'
return { name = "team.sloppy", summary = "returns more than it declares", params = {},
  outputs = { rows = { type = "int", doc = "rows" } }, effect = "pure",
  run = function(p) return { rows = 1, extra = 2 } end }
LUA
cat > "$T/lt/sloppy.yaml" <<'YAML'
runbook: sloppy
mitigation:
  steps:
    - { id: s, uses: team.sloppy }
YAML
run_rune run "$T/lt/sloppy.yaml" --no-report
expect_rc 0
expect_out "warning: team.sloppy returned output \"extra\", which its outputs table does not declare"
[ "$(sql "select count(*) from events where kind='log' and detail_json like '%returned output%extra%'")" = 1 ] \
    || fail "the warning is not in the incident log"
expect_no "output \"rows\""
end_case

finish
