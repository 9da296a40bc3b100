#!/usr/bin/env bash
# rune test: runbook tests (NAME.test.yaml) run in throwaway directories and
# logs; a wrong expectation fails naming the scenario and the difference;
# the user's incident log is never touched.
. "$(dirname "$0")/lib.sh"
unset RUNE_LUA_PATH

test_case "rune test runbooks/ passes, and every bundled runbook ships with tests"
for f in "$RUNE_SOURCE_DIR"/runbooks/*.yaml "$RUNE_SOURCE_DIR"/runbooks/examples/*.yaml; do
    case $f in *.test.yaml) continue ;; esac
    [ -f "${f%.yaml}.test.yaml" ] || fail "$(basename "$f") has no tests (${f%.yaml}.test.yaml)"
done
run_rune test "$RUNE_SOURCE_DIR/runbooks"
expect_rc 0
expect_out " 0 failed"
grep -q '^FAIL' "$T/out" && fail "a scenario failed: $(grep -A8 '^FAIL' "$T/out" | head -30)"
[ "$(grep -c '^ok ' "$T/out")" -ge 30 ] || fail "fewer than 30 scenarios ran: $(tail -1 "$T/out")"
end_case

mkdir -p "$T/rb"
cat > "$T/rb/app.yaml" <<'YAML'
runbook: app
inputs:
  db: { type: path, required: true }
  dir: { type: path, required: true }
detection:
  steps:
    - id: health
      uses: sqlite.health
      with: { path: "${inputs.db}" }
  incident_if: not steps.health.outputs.healthy or steps.health.outputs.table_count < 2
mitigation:
  steps:
    - id: pick
      uses: files.newest
      with: { dir: "${inputs.dir}", pattern: "*.txt" }
    - id: apply
      uses: shell.run
      when: steps.pick.outputs.count > 1
      with: { script: 'cat "$F" > "$DIR/applied"; test -n "$MARK"', env: { F: "${steps.pick.outputs.path}", DIR: "${inputs.dir}", MARK: "${run.workdir}" } }
verification:
  steps:
    - id: check
      uses: shell.run
      with: { script: 'test "$(cat "$DIR/applied")" = "$WANT_TEXT"', env: { DIR: "${inputs.dir}" } }
rollback:
  steps:
    - id: undo
      uses: shell.run
      when: steps.apply.status == "ok"
      with: { argv: [rm, -f, "${inputs.dir}/applied"] }
YAML
# WANT_TEXT comes from each scenario's fixtures (env:), through the child's environment
cat > "$T/rb/app.test.yaml" <<'YAML'
scenarios:
  - name: dry, one table only, newer file simulated
    inputs: { db: app.db, dir: in }
    fixtures:
      sqlite: { app.db: "create table a(x);" }
      dirs: [in]
    simulate:
      health: { healthy: true, table_count: 1 }
      pick: { count: 2, path: in/b.txt }
    expect:
      outcome: resolved
      exit_code: 0
      ran: [health, pick, apply, check]
      status: { apply: ok }
  - name: dry, healthy database is no incident
    inputs: { db: app.db, dir: in }
    simulate:
      health: { healthy: true, table_count: 3 }
    expect:
      outcome: no_incident
      ran: [health]
  - name: real, against its fixtures
    real: true
    inputs: { db: app.db, dir: in }
    fixtures:
      sqlite: { app.db: "create table a(x); insert into a values (1);" }
      files: { in/a.txt: "old", in/b.txt: "new" }
      env: { WANT_TEXT: "new" }
    expect:
      outcome: resolved
      exit_code: 0
      ran: [health, pick, apply, check]
      outputs:
        health: { healthy: true, table_count: 1 }
        pick: { count: 2, name: b.txt }
  - name: real, a failed check rolls the apply back
    real: true
    inputs: { db: app.db, dir: in }
    fixtures:
      sqlite: { app.db: "create table a(x);" }
      files: { in/a.txt: "old", in/b.txt: "new" }
      env: { WANT_TEXT: "something else" }
    expect:
      outcome: rolled_back
      exit_code: 3
      rolled_back: [undo]
      status: { check: failed, undo: ok }
  - name: real, an injected failure
    real: true
    inputs: { db: app.db, dir: in }
    fixtures:
      sqlite: { app.db: "create table a(x);" }
      files: { in/a.txt: "old", in/b.txt: "new" }
      env: { WANT_TEXT: "new" }
    fail: { pick: true }
    expect:
      outcome: rolled_back
      ran: [health, pick]
      not_run: [apply]
      rolled_back: []
      skipped: [undo]
YAML

test_case "fixtures (SQLite from SQL, files, env), simulated outputs, injected failures, dry and real"
run_rune test "$T/rb/app.yaml" --junit "$T/junit.xml"
expect_rc 0
expect_out "ok   $T/rb/app.test.yaml: dry, one table only, newer file simulated"
expect_out "ok   $T/rb/app.test.yaml: real, against its fixtures"
expect_out "ok   $T/rb/app.test.yaml: real, an injected failure"
expect_out "5 scenarios in 1 file: 5 passed, 0 failed"
python3 - "$T/junit.xml" > "$T/py" 2>&1 <<'PY' || fail "junit: $(cat "$T/py")"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites" and root.get("tests") == "5" and root.get("failures") == "0", root.attrib
cases = root.findall("testsuite/testcase")
assert len(cases) == 5 and cases[2].get("name") == "real, against its fixtures", [c.attrib for c in cases]
PY
end_case

test_case "a changed expectation fails, naming the scenario and the difference; --junit says it too"
python3 - "$T/rb/app.test.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("      outcome: rolled_back\n      exit_code: 3", "      outcome: resolved\n      exit_code: 3", 1)
s = s.replace("pick: { count: 2, name: b.txt }", "pick: { count: 3, name: b.txt }", 1)
open(p, "w").write(s)
PY
run_rune test "$T/rb" --junit "$T/junit.xml"
expect_rc 1
expect_out "FAIL $T/rb/app.test.yaml: real, a failed check rolls the apply back"
expect_out "outcome: expected resolved, got rolled_back"
expect_out "FAIL $T/rb/app.test.yaml: real, against its fixtures"
expect_out "outputs of pick: count: expected 3, got 2"
expect_out "5 scenarios in 1 file: 3 passed, 2 failed"
python3 - "$T/junit.xml" > "$T/py" 2>&1 <<'PY' || fail "junit: $(cat "$T/py")"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.get("failures") == "2", root.attrib
failed = {c.get("name"): c.find("failure").get("message") for c in root.iter("testcase") if c.find("failure") is not None}
assert failed["real, a failed check rolls the apply back"] == "outcome: expected resolved, got rolled_back", failed
PY
end_case

test_case "the user's incident log is untouched (RUNE_LOG, RUNE_HOME, the default)"
cp "$RUNE_SOURCE_DIR/runbooks/examples/hello-drill.yaml" "$RUNE_SOURCE_DIR/runbooks/examples/hello-drill.test.yaml" "$T/"
run_rune run "$T/hello-drill.yaml" --no-report --set lines=5
expect_rc 0
before=$(sha256sum "$RUNE_LOG" | cut -d' ' -f1); n_before=$(sql "select count(*) from incidents")
mkdir -p "$T/home"
HOME="$T/home" run_rune test "$T/hello-drill.yaml"
expect_rc 0
[ "$(sha256sum "$RUNE_LOG" | cut -d' ' -f1)" = "$before" ] || fail "the user's log changed"
expect_eq "$(sql "select count(*) from incidents")" "$n_before" "incidents in the user's log"
[ -e "$RUNE_HOME/incidents.db" ] && fail "wrote \$RUNE_HOME/incidents.db"
[ -e "$T/home/.local/state/rune" ] && fail "wrote the default log's directory"
ls -d "${TMPDIR:-/tmp}"/rune-test.* 2>/dev/null | while read -r d; do [ -O "$d" ] && [ "$d" -nt "$T/hello-drill.yaml" ] && echo "$d"; done > "$T/left"
[ -s "$T/left" ] && fail "scenario directories left behind: $(cat "$T/left")"
end_case

test_case "a broken test file is refused at its file:line:col (exit 2); a runbook without tests too"
cat > "$T/rb/bad.yaml" <<'YAML'
runbook: bad
mitigation:
  steps:
    - { id: a, uses: flow.note, with: { message: hi } }
YAML
cat > "$T/rb/bad.test.yaml" <<'YAML'
scenarios:
  - name: typo
    expcet: { outcome: resolved }
YAML
run_rune test "$T/rb/bad.test.yaml" --junit "$T/bad.xml"
expect_rc 2
expect_err "$T/rb/bad.test.yaml:3:5: error: unknown key \"expcet\" in a scenario (did you mean \"expect\"?)"
expect_out "FAIL $T/rb/bad.test.yaml: the test file has"
expect_out "0 scenarios in 1 file: 0 passed, 0 failed (and broken test files, above)"
grep -q 'failures="1"' "$T/bad.xml" || fail "the broken file is not a failure in the JUnit file: $(cat "$T/bad.xml")"
grep -qF 'unknown key &quot;expcet&quot;' "$T/bad.xml" || fail "the JUnit failure does not say why: $(cat "$T/bad.xml")"
# a step the runbook does not have, named by fail: or expect:
cat > "$T/rb/ids.test.yaml" <<'YAML'
runbook: bad.yaml
scenarios:
  - name: misspelt
    fail: { aa: true }
    expect: { ran: [b] }
YAML
run_rune test "$T/rb/ids.test.yaml"
expect_rc 2
expect_err "$T/rb/ids.test.yaml:3:5: error: scenario \"misspelt\": fail names step \"aa\", which bad has not"
expect_err "expect.ran names step \"b\", which bad has not"
printf 'runbook: lone\nmitigation:\n  steps:\n    - { id: a, uses: flow.note, with: { message: hi } }\n' > "$T/lone.yaml"
run_rune test "$T/lone.yaml"
expect_rc 2
expect_err "lone.yaml has no tests: write $T/lone.test.yaml"
end_case

test_case "rune validate checks a test file as one: runbooks/*.yaml with the tests beside them"
run_rune validate --strict "$RUNE_SOURCE_DIR"/runbooks/*.yaml "$RUNE_SOURCE_DIR"/runbooks/examples/*.yaml
expect_rc 0
expect_out "sqlite-restore.test.yaml: ok (tests of $RUNE_SOURCE_DIR/runbooks/sqlite-restore.yaml, 4 scenarios)"
run_rune validate "$T/rb/bad.test.yaml"
expect_rc 2
expect_err "$T/rb/bad.test.yaml:3:5: error: unknown key \"expcet\" in a scenario (did you mean \"expect\"?)"
end_case

test_case "rune list and the search path do not take a test file for a runbook"
mkdir -p "$T/srch/runbooks"
cp "$T/rb/app.yaml" "$T/rb/app.test.yaml" "$T/srch/runbooks/"
(cd "$T/srch" && "$RUNE" list) > "$T/out" 2>&1
grep -q "app.test.yaml" "$T/out" && fail "rune list shows the test file: $(cat "$T/out")"
grep -q "runbooks/app.yaml" "$T/out" || fail "rune list lost the runbook: $(cat "$T/out")"
end_case

finish
