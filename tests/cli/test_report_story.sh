#!/usr/bin/env bash
# Incident reports people act on (issue 18): figures from when the outage
# began (--detected-at), the story and the key facts first, and honest
# recovery figures after a rollback. Real runs of the bundled SQLite
# runbooks; every figure read from the JSON report and the log.
. "$(dirname "$0")/lib.sh"
SCHEMA="$RUNE_SOURCE_DIR/schemas/report.schema.json"

# report ID FORMAT — the report of ID in FORMAT into $T/rep.FORMAT.
report() {
    "$RUNE" report "$1" --format "$2" -o "$T/rep.$2" </dev/null 2>"$T/err" ||
        fail "rune report $1 --format $2 failed: $(cat "$T/err")"
}

# valid FILE — the report matches schemas/report.schema.json.
valid() {
    python3 - "$SCHEMA" "$1" <<'PY' || fail "$1 does not match schemas/report.schema.json"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
errors = list(jsonschema.Draft202012Validator(schema).iter_errors(json.load(open(sys.argv[2]))))
for e in errors[:5]:
    print("schema:", "/".join(map(str, e.absolute_path)), e.message[:300], file=sys.stderr)
sys.exit(1 if errors else 0)
PY
}

# jget FILE EXPR — a Python expression over the report `r`, printed.
jget() {
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(v if not isinstance(v,(dict,list,tuple,bool)) and v is not None else json.dumps(v))' "$1" "$2"
}

# drill DIR ARGS... — the bundled sqlite-drill, approved, in DIR.
drill() {
    local dir=$1
    shift
    (cd "$RUNE_SOURCE_DIR" && "$RUNE" run sqlite-drill --yes --set workdir="$dir" --set scale=0.02 "$@" \
        </dev/null >"$T/out" 2>"$T/err")
    RC=$?
    OUT=1
}

test_case "--detected-at ten minutes before the run: RTO and downtime run from it (>= 600 s)"
began=$(date -u -d '-10 min' +%Y-%m-%dT%H:%M:%SZ)
drill "$T/d1" --detected-at "$began"
expect_rc 0
id=$(last_incident)
report "$id" json
valid "$T/rep.json"
expect_eq "$(jget "$T/rep.json" 'r["incident"]["detected_at"]')" "${began%Z}.000Z"
expect_eq "$(jget "$T/rep.json" 'r["incident"]["measured_from"]')" "detected_at"
expect_eq "$(jget "$T/rep.json" 'r["objectives"]["rto"]["from"]')" "${began%Z}.000Z"
expect_eq "$(jget "$T/rep.json" 'r["objectives"]["rto"]["achieved_s"] >= 600')" "true" "RTO from the outage"
expect_eq "$(jget "$T/rep.json" 'r["objectives"]["downtime"]["s"] >= 600')" "true" "downtime from the outage"
expect_eq "$(jget "$T/rep.json" 'r["objectives"]["rto"]["met"]')" "false" "a 5-minute RTO is missed"
# chained: the detection time is in incident.start, not only the row
expect_eq "$(sql "select json_extract(detail_json,'\$.detected_at') from events where incident_id='$id' and kind='incident.start'")" "${began%Z}.000Z"
for f in md html; do
    report "$id" "$f"
    grep -q "run from when the outage began" "$T/rep.$f" || fail "the $f report does not say the figures run from the outage's start"
    grep -q "Downtime" "$T/rep.$f" || fail "the $f report has no downtime"
done
end_case

test_case "the story first: a narrative and the key facts open every format, the record lower"
drill "$T/s1" --operator alice
expect_rc 0
id=$(last_incident)
report "$id" json
valid "$T/rep.json"
expect_eq "$(jget "$T/rep.json" 'list(r)[:4]')" '["report_version", "generator", "story", "key_facts"]' "the story opens the JSON"
story=$(jget "$T/rep.json" 'r["story"]')
for want in "sqlite-drill ran on" "started by alice" "(P2)" "Detection found it: step integrity (sqlite.integrity) failed" \
    "Step restore restored $(basename "$(out restore backup)")" "Verification passed." "Outcome: resolved" "RPO 0ms (target 1h00m, met)"; do
    case "$story" in *"$want"*) ;; *) fail "the story lacks \"$want\": $story" ;; esac
done
expect_eq "$(jget "$T/rep.json" 'r["key_facts"]["outcome"]')" "resolved"
expect_eq "$(jget "$T/rep.json" 'r["key_facts"]["recovery_used"]["path"]')" "$(out restore backup)"
expect_eq "$(jget "$T/rep.json" 'r["key_facts"]["recovery_used"]["recovery_point"]')" "$(out restore recovery_point)"
expect_eq "$(jget "$T/rep.json" 'r["key_facts"]["ran_by"]')" "alice"
expect_eq "$(jget "$T/rep.json" '[(a["who"], a["how"], a["approved"]) for a in r["key_facts"]["approved_by"]]')" '[["alice", "--yes", true]]'
expect_eq "$(jget "$T/rep.json" 'r["key_facts"]["data_lost"]')" "none: the recovery point is not before the outage began"
report "$id" md
expect_eq "$(grep -m1 '^## ' "$T/rep.md")" "## What happened"
expect_eq "$(grep -A2 '^## What happened' "$T/rep.md" | sed -n 3p | cut -c1-20)" "sqlite-drill ran on "
for row in "| Outcome | resolved" "| Downtime |" "| RTO |" "| RPO | 0ms against a target of 1h00m, met: **yes** |" \
    "| Recovery point used | \`$(out restore backup)\`" "| Data lost | none" "| Ran by | alice |" "| Approved by | alice (--yes, approved) |"; do
    awk '/^## Objectives/{exit} {print}' "$T/rep.md" | grep -qF -- "$row" || fail "the Markdown's key facts lack: $row"
done
sections=$(grep '^## ' "$T/rep.md" | tr '\n' '/')
case "$sections" in "## What happened/## Objectives/"*"## Artifacts/## Incident record/"*) ;;
    *) fail "the Markdown's sections are not story first, record lower: $sections" ;; esac
report "$id" html
expect_eq "$(grep -o '<h2 id="[a-z-]*"' "$T/rep.html" | head -1)" '<h2 id="what-happened"'
python3 - "$T/rep.html" <<'PY' || fail "the HTML's story is not before the objectives"
import sys
h = open(sys.argv[1]).read()
s, o, r = h.find("sqlite-drill ran on"), h.find('id="objectives"'), h.find('id="summary"')
sys.exit(0 if 0 < s < o < r else 1)
PY
end_case

test_case "\$RUNE_DETECTED_AT with an offset means the same; without either the report says rune's start"
RUNE_DETECTED_AT="$(date -u -d '-20 min' +%Y-%m-%dT%H:%M:%S)+01:00" drill "$T/d2"
expect_rc 0
id=$(last_incident)
report "$id" json
expect_eq "$(jget "$T/rep.json" 'r["incident"]["detected_by"]')" '$RUNE_DETECTED_AT'
# the UTC clock of 20 minutes ago labelled +01:00 is 80 minutes ago
expect_eq "$(jget "$T/rep.json" '4700 <= r["objectives"]["downtime"]["s"] < 5000')" "true" "the offset is applied"
drill "$T/d3"
expect_rc 0
id=$(last_incident)
report "$id" json
expect_eq "$(jget "$T/rep.json" 'r["incident"]["measured_from"]')" "rune_start"
expect_eq "$(jget "$T/rep.json" 'r["incident"]["detected_at"]')" "null"
expect_eq "$(jget "$T/rep.json" 'r["objectives"]["rto"]["achieved_s"] < 600')" "true"
report "$id" md
grep -q "run from rune's start" "$T/rep.md" || fail "the report does not say the figures run from rune's start"
end_case

test_case "a wrong or future --detected-at is refused before anything runs"
n=$(sql "select count(*) from incidents")
drill "$T/d4" --detected-at "yesterday"
expect_rc 2
expect_err "is not an ISO-8601 time"
drill "$T/d4" --detected-at "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"
expect_rc 2
expect_err "is in the future"
expect_eq "$(sql "select count(*) from incidents")" "$n" "no incident was recorded"
end_case

# restore_run ORDERS — the restore case on a fresh 50-row database; ORDERS
# is the count verification insists on (50 resolves, another rolls back).
restore_run() {
    rm -rf "$T/r" && mkdir -p "$T/r/bk"
    sqlite3 "$T/r/app.db" "create table orders(id integer primary key, v text);
        with recursive c(i) as (select 1 union all select i+1 from c where i < 50)
        insert into orders(v) select 'x' from c;"
    run_rune run "$RUNE_SOURCE_DIR/tests/cli/cases/report/restore_rollback.yaml" --yes \
        --set db="$T/r/app.db" --set dir="$T/r/bk" --set orders="$1"
}

test_case "a restore rolled back: RPO is nothing restored, the restore is undone, its verification marked"
restore_run 7
expect_rc 3
id=$(last_incident)
report "$id" json
valid "$T/rep.json"
expect_eq "$(jget "$T/rep.json" 'r["objectives"]["rpo"]["status"]')" "nothing_restored"
expect_eq "$(jget "$T/rep.json" 'r["objectives"]["rpo"]["achieved_ms"]')" "null" "no RPO figure"
expect_eq "$(jget "$T/rep.json" 'r["objectives"]["rpo"]["met"]')" "null" "not met/unmet"
bk=$(out backup path)
expect_eq "$(jget "$T/rep.json" 'r["restored_from"]["path"]')" "$bk"
expect_eq "$(jget "$T/rep.json" 'r["restored_from"]["sha256"]')" "$(sha256sum "$bk" | cut -d' ' -f1)"
expect_eq "$(jget "$T/rep.json" 'r["restored_from"]["bytes"]')" "$(stat -c %s "$bk")"
expect_eq "$(jget "$T/rep.json" 'r["restored_from"]["recovery_point"]')" "$(out restore recovery_point)"
expect_eq "$(jget "$T/rep.json" 'r["restored_from"]["backup_verified"]')" "true"
expect_eq "$(jget "$T/rep.json" 'r["restored_from"]["undone"]')" "true"
expect_eq "$(jget "$T/rep.json" 'r["restored_from"]["verified"]')" "false"
expect_eq "$(jget "$T/rep.json" '[v["undone"] for v in r["verification"]]')" "[true, true]" "both count checks were undone"
report "$id" md
grep -q '| RPO | 24h00m | nothing restored | n/a |' "$T/rep.md" || fail "the Markdown RPO row does not say nothing restored: $(grep '| RPO' "$T/rep.md")"
grep -q '| RPO .*0ms' "$T/rep.md" && fail "the Markdown still gives an RPO of 0ms"
expect_eq "$(grep -c 'UNDONE\*\* by the rollback' "$T/rep.md")" "2" "undone verification in Markdown"
grep -q "| Backup | \`$bk\` |" "$T/rep.md" || fail "the Markdown has no restored-from backup"
report "$id" html
expect_eq "$(grep -o 'st-failed">undone</span> <span class="muted">by the rollback' "$T/rep.html" | wc -l)" "2" "undone verification in HTML"
grep -q 'id="restored-from"' "$T/rep.html" || fail "the HTML has no restored-from section"
end_case

test_case "a restore that stands: RPO from it, restored from the backup, verified, nothing undone"
restore_run 50
expect_rc 0
id=$(last_incident)
report "$id" json
valid "$T/rep.json"
expect_eq "$(jget "$T/rep.json" 'r["objectives"]["rpo"]["status"]')" "restored"
expect_eq "$(jget "$T/rep.json" 'r["objectives"]["rpo"]["step"]')" "restore"
expect_eq "$(jget "$T/rep.json" 'r["restored_from"]["path"]')" "$(out backup path)"
expect_eq "$(jget "$T/rep.json" 'r["restored_from"]["verified"]')" "true"
expect_eq "$(jget "$T/rep.json" 'r["restored_from"]["undone"]')" "false"
expect_eq "$(jget "$T/rep.json" '[v["undone"] for v in r["verification"]]')" "[false, false]"
end_case

test_case "rune log note: root cause and an action, chained with author and time, in every format"
drill "$T/n1"
expect_rc 0
id=$(last_incident)
run_rune log note "$id" --root-cause "torn pages from the disk firmware" --action "upgrade the disk firmware" \
    --owner alice --due 2026-12-31 --participant bob --author carol
expect_rc 0
expect_out "note recorded as event"
expect_eq "$(sql "select kind from events where incident_id='$id' order by seq desc limit 1")" "incident.note" "the note is the chain's newest event"
expect_eq "$(sql "select json_extract(detail_json,'\$.who') from events where incident_id='$id' and kind='incident.note'")" "carol"
run_rune log verify "$id"
expect_rc 0
expect_out "chain intact"
report "$id" json
valid "$T/rep.json"
expect_eq "$(jget "$T/rep.json" 'r["root_cause"]')" "torn pages from the disk firmware"
expect_eq "$(jget "$T/rep.json" 'r["postmortem"]["root_cause"]["who"]')" "carol"
expect_eq "$(jget "$T/rep.json" '[(a["text"], a["owner"], a["due"], a["status"]) for a in r["postmortem"]["actions"]]')" \
    '[["upgrade the disk firmware", "alice", "2026-12-31", "open"]]'
for f in md html; do
    report "$id" "$f"
    for want in "torn pages from the disk firmware" "upgrade the disk firmware" "alice" "2026-12-31"; do
        grep -qF "$want" "$T/rep.$f" || fail "the $f report lacks \"$want\""
    done
done
# a later note supersedes: the action is done, the root cause refined; both stay in the chain
run_rune log note "$id" --action "upgrade the disk firmware" --owner alice --due 2026-12-31 --status done \
    --root-cause "torn pages: firmware 1.2 ignores flushes" --author dave
expect_rc 0
report "$id" json
expect_eq "$(jget "$T/rep.json" 'r["root_cause"]')" "torn pages: firmware 1.2 ignores flushes"
expect_eq "$(jget "$T/rep.json" '[(a["status"], a["who"]) for a in r["postmortem"]["actions"]]')" '[["done", "dave"]]'
expect_eq "$(jget "$T/rep.json" '[h["who"] for h in r["postmortem"]["history"]]')" '["carol", "dave"]'
run_rune log verify "$id"
expect_rc 0
# editing the note's row in SQLite breaks the chain
sql "update events set detail_json = replace(detail_json, 'alice', 'mallory') where incident_id='$id' and kind='incident.note' and json_extract(detail_json,'\$.who')='carol'"
run_rune log verify "$id"
expect_rc 4
expect_out "(incident.note) was changed"
end_case

test_case "rune log note refuses what it cannot record"
run_rune log note 20200101-000000-0000 --root-cause x
expect_rc 2
expect_err "no incident 20200101-000000-0000"
id=$(last_incident)
run_rune log note "$id"
expect_rc 2
expect_err "nothing to note"
run_rune log note "$id" --owner alice
expect_rc 2
expect_err "--owner belongs to an --action"
run_rune log note "$id" --action x --due tomorrow
expect_rc 2
expect_err "is not a date"
end_case

finish
