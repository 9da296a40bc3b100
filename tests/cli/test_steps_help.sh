#!/usr/bin/env bash
# rune steps TYPE shows an example from a real bundled runbook; rune steps
# --json gives the tables to tools.
. "$(dirname "$0")/lib.sh"
unset RUNE_LUA_PATH

test_case "rune steps TYPE ends with an example cut from a bundled runbook, as written"
run_rune steps sqlite.restore
expect_rc 0
expect_out "example ($RUNE_SOURCE_DIR/runbooks/sqlite-compact-repair.yaml:"
expect_out "  - id: put_back"
expect_out "    uses: sqlite.restore"
expect_out '    with: { path: "${inputs.path}", from: "${steps.compact.outputs.backup}" }'
# the example stops at the step's end: the next step's lines are not in it
line=$(grep -n '^example' "$T/out" | cut -d: -f1)
[ "$(tail -n +"$line" "$T/out" | grep -c -- '- id:')" = 1 ] || fail "more than one step shown: $(tail -n +"$line" "$T/out")"
# a team's own type has no bundled example, and says so
mkdir -p "$T/team/lua"
cat > "$T/team/lua/team_x.lua" <<'LUA'
return { name = "team.x", summary = "a team's type", params = {}, outputs = {}, effect = "pure",
  run = function(p) return {} end }
LUA
(cd "$T/team" && "$RUNE" steps team.x) > "$T/out" 2>&1
expect_out "example: no bundled runbook uses team.x yet"
end_case

test_case "every bundled step type has an example in a bundled, tested runbook"
run_rune steps --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); m=[t["name"] for t in d["step_types"] if "example" not in t]; assert not m, m' "$T/out" \
    || fail "step types without an example: $(python3 -c 'import json,sys; print([t["name"] for t in json.load(open(sys.argv[1]))["step_types"] if "example" not in t])' "$T/out")"
end_case

test_case "rune steps --json: every type with parameters, outputs and its example; target kinds"
run_rune steps --json
expect_rc 0
python3 - "$T/out" > "$T/py" 2>&1 <<'PY' || fail "$(cat "$T/py")"
import json, sys
d = json.load(open(sys.argv[1]))
types = {t["name"]: t for t in d["step_types"]}
r = types["sqlite.restore"]
assert r["effect"] == "writes", r
p = {x["name"]: x for x in r["params"]}
assert p["path"]["required"] is True and p["path"]["type"] == "path", p
assert p["busy_timeout"]["default"] == "5s", p
assert "safety_copy" in [o["name"] for o in r["outputs"]], r["outputs"]
assert "uses: sqlite.restore" in r["example"]["yaml"], r["example"]
m = {x["name"]: x for x in types["sqlite.integrity"]["params"]}
assert m["mode"]["choices"] == ["full", "quick"], m["mode"]
assert "files.newest" in types, "bundled Lua types are listed"
kinds = {k["name"] for k in d["target_kinds"]}
assert {"postgres", "service", "pgbouncer"} <= kinds, kinds
PY
run_rune steps --json sqlite.backup
expect_rc 0
python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); assert t["name"]=="sqlite.backup", t' "$T/out" || fail "one type"
run_rune steps --json nope.nope
expect_rc 2
end_case

finish
