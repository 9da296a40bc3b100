#!/usr/bin/env bash
# schemas/report.schema.json describes every member `rune report --format
# json` makes, and nothing it does not (issue 18). Real runs of every
# shape — the SQLite drill with a detection time and post-incident notes,
# a retry/approval/failure/rollback run, its dry-run, a backup's recovery
# point, a run abandoned by a killed rune and the same resumed — are
# validated against it (python3-jsonschema). Then the schema is shown to
# be closed: a member added anywhere in those reports (but inputs, whose
# names are the runbook's) is refused, and every object the schema
# describes is closed, so a new member the code adds without the schema
# fails this test.
. "$(dirname "$0")/lib.sh"
SCHEMA="$RUNE_SOURCE_DIR/schemas/report.schema.json"
C="$RUNE_SOURCE_DIR/tests/cli/cases"
export RUNE_TEST_TOKEN=tok-schema-secret

# report ID NAME — the JSON report of ID into $T/NAME.json.
report() {
    "$RUNE" report "$1" --format json -o "$T/$2.json" </dev/null 2>"$T/err" ||
        fail "rune report $1 --format json failed: $(cat "$T/err")"
}

# valid NAME... — each $T/NAME.json matches the schema, and the schema
# refuses it with a member added to any of its objects (inputs aside).
valid() {
    local names=("$@")
    python3 - "$SCHEMA" "${names[@]/#/$T/}" <<'PY' || fail "${names[*]}: the schema does not describe the report exactly"
import copy, json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
v = jsonschema.Draft202012Validator(schema)
ok = True
for name in sys.argv[2:]:
    rep = json.load(open(name + ".json"))
    errors = list(v.iter_errors(rep))
    for e in errors[:8]:
        print("%s: /%s: %s" % (name, "/".join(map(str, e.absolute_path)), e.message[:300]), file=sys.stderr)
    if errors:
        ok = False
        continue
    # every object but inputs and what is in it: a member the schema
    # does not name must be refused
    paths = []
    def walk(node, path):
        if path[:1] == ["inputs"]:
            return
        if isinstance(node, dict):
            paths.append(path)
            for k, x in node.items():
                walk(x, path + [k])
        elif isinstance(node, list):
            for i, x in enumerate(node):
                walk(x, path + [i])
    walk(rep, [])
    open_at = []
    for path in paths:
        r = copy.deepcopy(rep)
        node = r
        for k in path:
            node = node[k]
        node["member_not_in_the_schema"] = 1
        if v.is_valid(r):
            open_at.append("/" + "/".join(map(str, path)))
    for p in open_at:
        print("%s: %s takes a member the schema does not name" % (name, p), file=sys.stderr)
    ok = ok and not open_at
    if not open_at:
        print("%s: valid; a member added to any of its %d objects is refused" % (name.rsplit("/", 1)[-1], len(paths)))
sys.exit(0 if ok else 1)
PY
}

test_case "every object the schema describes is closed (additionalProperties or unevaluatedProperties false), inputs aside"
python3 - "$SCHEMA" <<'PY' || fail "the schema has open objects"
import json, sys
schema = json.load(open(sys.argv[1]))
# inputs: the runbook's own names; objective: closed where it is used
# (objectives.rto and .rpo add their members and close with
# unevaluatedProperties)
may_be_open = {"/properties/inputs", "/$defs/objective"}
open_at = []
def walk(node, path):
    if isinstance(node, dict):
        is_object = node.get("type") == "object" or (isinstance(node.get("type"), list) and "object" in node["type"]) \
            or "properties" in node
        if is_object and path not in may_be_open and \
                node.get("additionalProperties") is not False and node.get("unevaluatedProperties") is not False:
            open_at.append(path)
        for k, x in node.items():
            walk(x, path + "/" + k)
    elif isinstance(node, list):
        for i, x in enumerate(node):
            walk(x, path + "/" + str(i))
walk(schema, "")
for p in open_at:
    print("open object in the schema:", p, file=sys.stderr)
sys.exit(1 if open_at else 0)
PY
end_case

test_case "the SQLite drill, detected ten minutes earlier, with every kind of post-incident note"
began=$(date -u -d '-10 min' +%Y-%m-%dT%H:%M:%SZ)
(cd "$RUNE_SOURCE_DIR" && "$RUNE" run sqlite-drill --yes --set workdir="$T/drill" --set scale=0.02 \
    --detected-at "$began" --operator carol </dev/null >"$T/out" 2>"$T/err")
RC=$?
OUT=1
expect_rc 0
id=$(last_incident)
report "$id" drill
run_rune log note "$id" --author carol --root-cause "torn pages" --contributing "no fsync on the firmware" \
    --impact "checkout down 12 min" --action "upgrade the disk firmware" --owner alice --due 2026-12-31 \
    --action "add a write barrier test" --participant bob --participant dave --text "drilled again on Monday"
expect_rc 0
run_rune log note "$id" --author alice --action "upgrade the disk firmware" --status done
expect_rc 0
report "$id" noted
valid drill noted
end_case

test_case "a retry, an approval, a masked failure and a rollback; its dry-run; a backup's recovery point"
run_rune run "$C/report_incident.yaml" --set counter="$T/counter" --yes --operator alice
expect_rc 3
report "$(last_incident)" rolled_back
run_rune plan "$C/report_incident.yaml" --set counter="$T/counter2" --operator alice
report "$(last_incident)" planned
run_rune run "$C/report_rpo.yaml" --set point="2026-01-01T00:00:00.000Z" --operator bob
report "$(last_incident)" rpo
valid rolled_back planned rpo
end_case

test_case "a run abandoned by a killed rune, then resumed"
cat >"$T/slow.yaml" <<EOF
runbook: slow
mitigation:
  steps:
    - { id: first, uses: flow.note, with: { message: before } }
    - id: wait
      uses: shell.run
      with: { script: 'while [ ! -e "\$GO" ]; do sleep 0.1; done', env: { GO: "$T/go" } }
EOF
"$RUNE" run "$T/slow.yaml" --no-report </dev/null >"$T/run.out" 2>&1 &
RP=$!
# until its child is recorded (the case fails if it never is: killed
# earlier, the run would not be the abandoned one this case is about)
wait_sql "select count(*) from children where step='wait'"
ID=$(last_incident)
kill -9 "$RP"
wait "$RP" 2>/dev/null
report "$ID" abandoned
expect_eq "$(python3 -c 'import json,sys; print("abandoned" in json.load(open(sys.argv[1]))["incident"])' "$T/abandoned.json")" "True" "the report says abandoned"
touch "$T/go"
run_rune resume "$ID" --yes --no-report
expect_rc 0
report "$ID" resumed
expect_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["incident"]["resumed"]))' "$T/resumed.json")" "1" "one takeover"
valid abandoned resumed
end_case

finish
