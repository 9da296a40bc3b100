#!/usr/bin/env bash
# rune list --json and rune show --json: what the text says, for tools;
# secret defaults stay masked.
. "$(dirname "$0")/lib.sh"
unset RUNE_LUA_PATH RUNE_PATH

mkdir -p "$T/runbooks"
cat > "$T/runbooks/demo.yaml" <<'YAML'
runbook: demo
title: A demo
objectives: { rto: 5m }
inputs:
  token: { type: string, secret: true, default: sekrit-value }
  mode: { type: string, default: fast, choices: [fast, safe] }
secrets:
  pw: { env: DEMO_PW }
mitigation:
  steps:
    - { id: a, uses: flow.note, with: { message: hi } }
    - { id: b, uses: flow.note, confirm: true, when: "${inputs.mode == 'safe'}", with: { message: "b" } }
YAML
printf 'runbook: broken\nmitigation: [\n' > "$T/runbooks/broken.yaml"

test_case "rune list --json"
run_rune list --json
expect_rc 0
python3 - "$T/out" > "$T/py" 2>&1 <<'PY' || fail "$(cat "$T/py")"
import json, sys
rows = {r["name"]: r for r in json.load(open(sys.argv[1]))}
assert rows["demo"]["title"] == "A demo" and rows["demo"]["valid_shape"] is True, rows["demo"]
assert rows["demo"]["path"].endswith("runbooks/demo.yaml"), rows["demo"]
assert "hello-drill" in rows, "bundled runbooks are listed"
assert any(r["valid_shape"] is False for r in rows.values()), "the broken file is marked"
PY
end_case

test_case "rune show --json: inputs (secret default masked), secrets, stages and steps"
run_rune show demo --json
expect_rc 0
expect_no "sekrit-value"
python3 - "$T/out" > "$T/py" 2>&1 <<'PY' || fail "$(cat "$T/py")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["name"] == "demo" and d["objectives"]["rto_ms"] == 300000, d
inputs = {i["name"]: i for i in d["inputs"]}
assert inputs["token"]["default"] == "***" and inputs["mode"]["choices"] == ["fast", "safe"], inputs
assert d["secrets"] == [{"name": "pw", "from": "env", "source": "DEMO_PW", "required": True}], d["secrets"]
a, b = d["stages"]["mitigation"]["steps"]
assert a["id"] == "a" and a["effect"] == "pure" and a["needs"] == [] and b["needs"] == ["a"], (a, b)
assert b["confirm"] is True and "safe" in b["when"], b
PY
run_rune show --json nope
expect_rc 2
end_case

finish
