#!/usr/bin/env bash
# Incident reports (rune report) and the tamper-evident log (rune log
# verify, filters, export): every figure in a report is checked against the
# incident log itself, read with the sqlite3 shell as an auditor would.
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases"
SCHEMA="$RUNE_SOURCE_DIR/schemas/report.schema.json"
export RUNE_TEST_TOKEN="tok-SECRET-9876"

# report_json ID [FILE] — the JSON report of ID into FILE (default $T/rep.json).
report_json() {
    "$RUNE" report "$1" --format json -o "${2:-$T/rep.json}" </dev/null 2>"$T/err" ||
        fail "rune report $1 --format json failed: $(cat "$T/err")"
}

# valid FILE — the report matches schemas/report.schema.json.
valid() {
    python3 - "$SCHEMA" "$1" <<'PY' || fail "$1 does not match schemas/report.schema.json"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
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

# rows FILE WHAT — lines of the report's WHAT, in the form the sql below gives.
rows() {
    python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def s(v): return "" if v is None else str(v)
what = sys.argv[2]
if what == "attempts":
    for st in r["timeline"]:
        for a in st["steps"]:
            if a["attempt"]:
                print("|".join(s(x) for x in (st["stage"], a["step"], a["attempt"], a["start"], a["end"], a["status"], a["duration_ms"])))
elif what == "stages":
    for st in r["timeline"]:
        print("|".join(s(x) for x in (st["stage"], st["start"], st["end"], st["status"], st["duration_ms"])))
elif what == "approvals":
    for a in r["approvals"]:
        print("|".join(s(x) for x in (a["stage"], a["step"], a["at"], a["who"], a["how"], a["question"], a["decision"])))
elif what == "failures":
    for f in r["failures"]:
        print("|".join(s(x) for x in (f["stage"], f["step"], f["attempt"], f["at"], f["status"], f["error"])))
elif what == "rollback":
    for a in r["rollback"]["actions"]:
        print("|".join(s(x) for x in (a["step"], a["attempt"], a["start"], a["end"], a["status"])))
PY
}

# same_rows NAME SQL — the report's NAME rows equal what the log says.
same_rows() {
    rows "$T/rep.json" "$1" >"$T/got.$1"
    sqlite3 -batch -noheader -separator '|' "$RUNE_LOG" "$2" >"$T/want.$1"
    diff -u "$T/want.$1" "$T/got.$1" >"$T/diff.$1" || fail "$1 differ from the log: $(cat "$T/diff.$1")"
    [ -s "$T/want.$1" ] || fail "the log has no $1 to compare"
}

test_case "a run with a retry, an approval, a failure and a rollback: the JSON report holds each, with the log's times"
run_rune run "$C/report_incident.yaml" --set counter="$T/counter" --yes --operator alice
expect_rc 3
id=$(last_incident)
report_json "$id"
valid "$T/rep.json"
A="select s.stage, s.step, s.attempt, s.at, e.at, e.status, e.duration_ms from events s
   join events e on e.incident_id = s.incident_id and e.step = s.step and e.attempt = s.attempt and e.kind = 'step.end'
   where s.incident_id = '$id' and s.kind = 'step.start'"
same_rows attempts "$A order by s.seq"
same_rows stages "select stage, b, e, status, d from (
   select s.seq, s.stage, s.at b, e.at e, e.status, e.duration_ms d from events s
   join events e on e.incident_id = s.incident_id and e.stage = s.stage and e.kind = 'stage.end'
   where s.incident_id = '$id' and s.kind = 'stage.start'
   union all select seq, stage, at, at, status, duration_ms from events
   where incident_id = '$id' and kind = 'stage.skip') order by seq"
same_rows approvals "select stage, step, json_extract(detail_json, '$.at'), json_extract(detail_json, '$.who'),
   json_extract(detail_json, '$.how'), json_extract(detail_json, '$.question'), status
   from events where incident_id = '$id' and kind = 'approval' order by seq"
same_rows failures "select stage, step, attempt, at, status, json_extract(detail_json, '$.error') from events
   where incident_id = '$id' and kind = 'step.end' and status in ('failed', 'timeout', 'cancelled', 'declined') order by seq"
same_rows rollback "select s.step, s.attempt, s.at, e.at, e.status from ($A) x
   join events s on s.incident_id = '$id' and s.kind = 'step.start' and s.step = x.step and s.attempt = x.attempt
   join events e on e.incident_id = '$id' and e.kind = 'step.end' and e.step = x.step and e.attempt = x.attempt
   where x.stage = 'rollback' order by s.seq"
# what each of those rows says, spelled out
expect_eq "$(jget "$T/rep.json" '[(a["attempt"], a["attempts"], a["status"]) for s in r["timeline"] for a in s["steps"] if a["step"] == "flaky"]')" \
    '[[1, 2, "failed"], [2, 2, "ok"]]' "the retry: attempt 1/2 failed, 2/2 ok"
expect_eq "$(jget "$T/rep.json" '[(a["who"], a["how"], a["approved"], a["step"]) for a in r["approvals"]]')" \
    '[["alice", "--yes", true, "restore"]]' "the approval"
expect_eq "$(jget "$T/rep.json" '[(f["step"], f["attempt"], f["status"]) for f in r["failures"]]')" \
    '[["flaky", 1, "failed"], ["migrate", 1, "failed"]]' "the failures"
expect_eq "$(jget "$T/rep.json" 'r["failures"][1]["tail"]')" \
    "$(sql "select json_extract(detail_json, '$.tail') from events where incident_id = '$id' and step = 'migrate' and kind = 'step.end'")" "the failure's output tail"
expect_eq "$(jget "$T/rep.json" '(r["rollback"]["ran"], r["rollback"]["status"], [a["step"] + ":" + a["status"] for a in r["rollback"]["actions"]])')" \
    '[true, "ok", ["undo:ok", "tell:ok"]]' "the rollback"
expect_eq "$(jget "$T/rep.json" '(r["incident"]["outcome"], r["incident"]["exit_code"], r["incident"]["operator"], r["incident"]["simulated"])')" \
    '["rolled_back", 3, "alice", false]' "the summary"
expect_eq "$(jget "$T/rep.json" 'r["incident"]["runbook_sha256"]')" "$(sha256sum "$C/report_incident.yaml" | cut -d' ' -f1)" "the runbook's SHA-256"
expect_eq "$(jget "$T/rep.json" 'r["incident"]["started_at"]')" "$(sql "select started_at from incidents where id = '$id'")" "the start"
# the rollback's note quotes the failure; verification never ran, so no RTO
expect_eq "$(jget "$T/rep.json" '[n["step"] for n in r["notes"]]')" '["tell"]' "notes"
expect_eq "$(jget "$T/rep.json" '(r["objectives"]["rto"]["achieved_ms"], r["objectives"]["rto"]["met"])')" '[null, false]' "RTO not achieved after a rollback"
expect_eq "$(jget "$T/rep.json" '(r["root_cause"], r["preventive_measures"])')" '["", ""]' "sections left to fill"
end_case

test_case "the Markdown and the HTML show the same attempts and statuses as the JSON"
"$RUNE" report "$id" -o "$T/rep.md" && "$RUNE" report "$id" --format html -o "$T/rep.html" || fail "rendering failed"
python3 - "$T/rep.json" "$T/rep.md" "$T/rep.html" <<'PY' || fail "the formats disagree"
import json, re, sys, html
r = json.load(open(sys.argv[1]))
md, page = open(sys.argv[2]).read(), open(sys.argv[3]).read()
def status(a):
    if a["status"] is None: return "unfinished"
    return "ok (simulated)" if a["status"] == "ok" and a["simulated"] else a["status"]
want = sorted({(a["step"], "%d/%d" % (a["attempt"], a["attempts"]) if a["attempt"] else "-", status(a))
               for s in r["timeline"] for a in s["steps"]})
got_md = sorted({(m[0], m[2], m[6]) for m in
                 (re.split(r" \| ", line.strip("| \n")) for line in md.splitlines() if line.startswith("| `"))
                 if len(m) == 8})
got_md = [(s.strip("`"), n, st) for s, n, st in got_md]
got_html = sorted({(html.unescape(s), n.replace("&ndash;", "-"), html.unescape(st)) for s, n, st in re.findall(
    r'<tr><td><code[^>]*>([^<]*)</code></td><td>[^<]*</td><td class="num">([^<]*)</td>.*?<span class="st st-[a-z_]+">([^<]*)</span>', page)})
ok = True
for name, got in (("markdown", sorted(set(got_md))), ("html", got_html)):
    if got != want:
        print(name, "has", got, "\njson has", want, file=sys.stderr)
        ok = False
for text, name in ((md, "markdown"), (page, "html")):
    for k in ("What happened", "Incident record", "Objectives", "Restored from", "Timeline", "Approvals", "Failures", "Rollback", "Verification",
              "Artifacts", "Inputs", "Root cause", "Preventive measures"):
        if k not in text:
            print(name, "lacks the section", k, file=sys.stderr); ok = False
    if r["chain"]["head_hash"] not in text:
        print(name, "lacks the head hash", file=sys.stderr); ok = False
sys.exit(0 if ok else 1)
PY
grep -q '<svg' "$T/rep.html" || fail "no SVG timeline"
[ "$(grep -c '<rect [^>]*rx="2"' "$T/rep.html")" = "$(sql "select count(*) from events where incident_id = '$id' and kind in ('step.start', 'step.skip')")" ] ||
    fail "the timeline does not have one bar per step attempt"
if grep -Eq '<script|<link rel="stylesheet"|src="http|href="http|@import' "$T/rep.html"; then fail "the HTML is not self-contained"; fi
grep -q '@media print' "$T/rep.html" || fail "the HTML has no print style"
end_case

test_case "no secret value appears in any format, the log or the automatic report; masked values do"
for f in "$T/rep.json" "$T/rep.md" "$T/rep.html" "$T/reports/$id.md"; do
    [ -s "$f" ] || fail "$f is missing"
    if grep -qF -e "$RUNE_TEST_TOKEN" -e "input-pass-123" "$f"; then fail "a secret is in $f"; fi
done
if sqlite3 "$RUNE_LOG" .dump | grep -qF -e "$RUNE_TEST_TOKEN" -e "input-pass-123"; then fail "a secret is in the log"; fi
grep -qF 'token *** rejected' "$T/rep.md" || fail "the masked failure output is not in the Markdown"
expect_eq "$(jget "$T/rep.json" 'r["inputs"]["password"]')" '***' "secret input masked"
end_case

test_case "the automatic report: written beside the log after every run, its path printed"
expect_out "report: $T/reports/$id.md"
[ -f "$T/reports/$id.md" ] || fail "no $T/reports/$id.md"
"$RUNE" report "$id" >"$T/now.md"
cmp -s "$T/now.md" "$T/reports/$id.md" || fail "the automatic report differs from rune report's Markdown"
run_rune run "$C/stages.yaml" --no-report
expect_rc 0
expect_no "report:"
[ ! -e "$T/reports/$(last_incident).md" ] || fail "--no-report wrote a report"
run_rune run "$C/stages.yaml" --reports "$T/elsewhere"
expect_out "report: $T/elsewhere/$(last_incident).md"
[ -f "$T/elsewhere/$(last_incident).md" ] || fail "--reports DIR was not used"
RUNE_REPORTS="$T/env-reports" run_rune run "$C/stages.yaml"
[ -f "$T/env-reports/$(last_incident).md" ] || fail "\$RUNE_REPORTS was not used"
run_rune run "$C/stages.yaml" --log "$T/other/log.db"
[ -f "$T/other/reports/$(sqlite3 "$T/other/log.db" "select id from incidents")".md ] || fail "the report is not beside --log"
end_case

test_case "a dry-run's report says SIMULATED, in every format"
run_rune plan "$C/report_incident.yaml" --set counter="$T/counter2"
expect_rc 0
pid=$(last_incident)
expect_out "report: $T/reports/$pid.md"
head -1 "$T/reports/$pid.md" | grep -q '^# SIMULATED' || fail "the Markdown title does not say SIMULATED"
[ "$(grep -c 'SIMULATED' "$T/reports/$pid.md")" -ge 10 ] || fail "the Markdown does not say SIMULATED in every section"
"$RUNE" report "$pid" --format html -o "$T/plan.html"
grep -q '<div class="sim">SIMULATED' "$T/plan.html" || fail "the HTML has no SIMULATED banner"
grep -q '<title>SIMULATED' "$T/plan.html" || fail "the HTML title does not say SIMULATED"
report_json "$pid" "$T/plan.json"
valid "$T/plan.json"
expect_eq "$(jget "$T/plan.json" '(r["incident"]["mode"], r["incident"]["simulated"])')" '["dry-run", true]' "mode"
expect_eq "$(jget "$T/plan.json" '[a["simulated"] for s in r["timeline"] for a in s["steps"] if a["step"] == "look"]')" '[true]' "a planned step is simulated"
end_case

# A log made by hand with known times (the sqlite3 shell, the schema file):
# the figures must come out exact. Its hashes are fake, so the chain fails.
CR="$T/crafted.db"
sqlite3 "$CR" <"$RUNE_SOURCE_DIR/schemas/incident-log.sql"
ev() { # ev ID SEQ AT STAGE STEP ATTEMPT KIND STATUS DURATION DETAIL
    sqlite3 "$CR" "insert into events values ('$1', $2, '$3', nullif('$4',''), nullif('$5',''), $6, '$7', nullif('$8',''), $9, nullif('${10}',''), 'x', 'y')"
}
crafted() { # crafted ID OUTCOME
    sqlite3 "$CR" "insert into incidents (id, runbook, title, mode, operator, host, inputs_json, outcome, exit_code, started_at, ended_at, rto_target_s, rpo_target_s, rune_version)
        values ('$1', 'crafted', 'Crafted', 'run', 'alice', 'db1', '{}', '$2', 0, '2026-11-01T10:00:00.000Z', '2026-11-01T10:20:00.000Z', 900, 1800, '0.1.0')"
}
I1=20261101-100000-aaaa
crafted $I1 resolved
ev $I1 1 2026-11-01T10:00:00.010Z "" "" 0 incident.start "" NULL ""
ev $I1 2 2026-11-01T10:00:01.000Z mitigation "" 0 stage.start "" NULL ""
ev $I1 3 2026-11-01T10:00:01.100Z mitigation backup 1 step.start "" NULL '{"uses":"sqlite.backup"}'
ev $I1 4 2026-11-01T10:02:00.000Z mitigation backup 1 step.end ok 118900 '{"outputs":{"recovery_point":"2026-11-01T09:45:00.000Z","path":"/b/app.db.gz","sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","bytes":10}}'
ev $I1 5 2026-11-01T10:02:01.000Z mitigation restore 1 step.start "" NULL '{"uses":"sqlite.restore"}'
ev $I1 6 2026-11-01T10:05:00.000Z mitigation restore 1 step.end ok 179000 '{"outputs":{"recovery_point":"2026-11-01T09:20:00.000Z"}}'
ev $I1 7 2026-11-01T10:05:01.000Z mitigation "" 0 stage.end ok 300001 ""
ev $I1 8 2026-11-01T10:10:00.000Z verification "" 0 stage.start "" NULL ""
ev $I1 9 2026-11-01T10:11:00.000Z verification counts 1 step.start "" NULL '{"uses":"pg.compare"}'
ev $I1 10 2026-11-01T10:12:00.000Z verification counts 1 step.end failed 60000 '{"error":"1 table differs","outputs":{"ok":false,"diff":[{"table":"orders","expected_rows":10,"actual_rows":9,"same_content":false,"ok":false},{"table":"items","expected_rows":5,"actual_rows":5,"same_content":true,"ok":true}],"extra":["tmp"]}}'
ev $I1 11 2026-11-01T10:12:30.500Z verification "" 0 stage.end ok 150500 ""
ev $I1 12 2026-11-01T10:20:00.000Z "" "" 0 incident.end resolved 1200000 '{"outcome":"resolved","exit_code":0,"reason":"every stage completed"}'
I2=20261101-100000-bbbb
crafted $I2 rolled_back
ev $I2 1 2026-11-01T10:00:00.010Z mitigation backup_a 1 step.start "" NULL '{"uses":"pg.backup"}'
ev $I2 2 2026-11-01T10:01:00.000Z mitigation backup_a 1 step.end ok 1 '{"outputs":{"recovery_point":"2026-11-01T09:50:00.000Z"}}'
ev $I2 3 2026-11-01T10:01:00.010Z mitigation backup_b 1 step.start "" NULL '{"uses":"pg.backup"}'
ev $I2 4 2026-11-01T10:02:00.000Z mitigation backup_b 1 step.end ok 1 '{"outputs":{"recovery_point":"2026-11-01T09:30:00.000Z"}}'
ev $I2 5 2026-11-01T10:10:00.000Z verification "" 0 stage.start "" NULL ""
ev $I2 6 2026-11-01T10:12:30.500Z verification "" 0 stage.end rollback 150500 ""
ev $I2 7 2026-11-01T10:20:00.000Z "" "" 0 incident.end rolled_back 1200000 '{"outcome":"rolled_back","exit_code":3}'

test_case "RTO and RPO from known timestamps: start → verification passed; start − the restore's recovery point"
"$RUNE" report $I1 --log "$CR" --format json -o "$T/c1.json" 2>"$T/err"
valid "$T/c1.json"
# 10:00:00.000 → 10:12:30.500 = 750.5 s, target 15m: met
expect_eq "$(jget "$T/c1.json" '(r["objectives"]["rto"]["achieved_ms"], r["objectives"]["rto"]["achieved_s"], r["objectives"]["rto"]["met"], r["objectives"]["rto"]["to"])')" \
    '[750500, 750.5, true, "2026-11-01T10:12:30.500Z"]' "RTO"
# the restore's recovery point (09:20), not the newer backup's (09:45): 40 min, target 30m: not met
expect_eq "$(jget "$T/c1.json" '(r["objectives"]["rpo"]["achieved_ms"], r["objectives"]["rpo"]["achieved_s"], r["objectives"]["rpo"]["met"], r["objectives"]["rpo"]["step"])')" \
    '[2400000, 2400.0, false, "restore"]' "RPO"
expect_eq "$(jget "$T/c1.json" '[(t["table"], t["expected"], t["actual"], t["diff"], t["same_content"], t["ok"]) for v in r["verification"] for t in v["tables"]]')" \
    '[["orders", 10, 9, -1, false, false], ["items", 5, 5, 0, true, true]]' "pg.compare's diff"
expect_eq "$(jget "$T/c1.json" '[(a["step"], a["path"], a["bytes"]) for a in r["artifacts"]]')" '[["backup", "/b/app.db.gz", 10]]' "artifacts"
expect_eq "$(jget "$T/c1.json" '(r["chain"]["verified"], r["chain"]["problem"], r["chain"]["seq"])')" '[false, "changed", 1]' "a hand-made log does not verify"
grep -q "does not verify" "$T/err" || fail "rune report did not warn about the chain"
"$RUNE" report $I1 --log "$CR" >"$T/c1.md"
grep -q '| RTO | 15m00s | 12m30s | \*\*yes\*\* |' "$T/c1.md" || fail "the Markdown RTO row is wrong: $(grep '| RTO' "$T/c1.md")"
grep -q '| RPO | 30m00s | 40m00s | \*\*NO\*\* |' "$T/c1.md" || fail "the Markdown RPO row is wrong: $(grep '| RPO' "$T/c1.md")"
grep -q 'NOT VERIFIED' "$T/c1.md" || fail "the Markdown does not say the chain is broken"
# no restore: the newest recovery point (09:50): 10 min, met; verification ended in rollback: RTO not achieved
RUNE_LOG="$CR" "$RUNE" report $I2 --format json -o "$T/c2.json" 2>/dev/null
expect_eq "$(jget "$T/c2.json" '(r["objectives"]["rpo"]["achieved_ms"], r["objectives"]["rpo"]["met"], r["objectives"]["rpo"]["step"])')" \
    '[600000, true, "backup_a"]' "RPO from the newest backup"
expect_eq "$(jget "$T/c2.json" '(r["objectives"]["rto"]["achieved_ms"], r["objectives"]["rto"]["met"])')" '[null, false]' "RTO without a passed verification"
end_case

test_case "RPO of a real run: incident start minus a step's recovery_point output, exactly"
for ago in 90 10; do
    point=$(date -u -d "-$ago minutes" +%Y-%m-%dT%H:%M:%S.000Z)
    run_rune run "$C/report_rpo.yaml" --set point="$point"
    expect_rc 0
    rid=$(last_incident)
    report_json "$rid" "$T/rpo.json"
    want=$(python3 -c 'import sys, datetime as d
f = lambda s: d.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
print(int((f(sys.argv[1]) - f(sys.argv[2])).total_seconds() * 1000))' "$(sql "select started_at from incidents where id = '$rid'")" "$point")
    expect_eq "$(jget "$T/rpo.json" 'r["objectives"]["rpo"]["achieved_ms"]')" "$want" "RPO ms ($ago min ago)"
    expect_eq "$(jget "$T/rpo.json" 'r["objectives"]["rpo"]["met"]')" "$([ "$ago" = 90 ] && echo false || echo true)" "RPO met within 1h ($ago min ago)"
    expect_eq "$(jget "$T/rpo.json" '(r["objectives"]["rpo"]["recovery_point"], r["objectives"]["rpo"]["uses"])')" "[\"$point\", \"lua\"]" "the recovery point used"
    expect_eq "$(jget "$T/rpo.json" 'r["objectives"]["rto"]["to"]')" \
        "$(sql "select at from events where incident_id = '$rid' and stage = 'verification' and kind = 'stage.end'")" "RTO ends when verification ended"
    expect_eq "$(jget "$T/rpo.json" '[a["bytes"] for a in r["artifacts"]]')" '[4096]' "the backup is an artifact"
done
end_case

# A copy of the first run's log to damage, one way at a time.
cp "$RUNE_LOG" "$T/good.db"
tampered() { cp "$T/good.db" "$T/bad.db"; sqlite3 "$T/bad.db" "$1"; }

test_case "rune log verify: an intact chain, and its head hash in the report"
run_rune log verify "$id"
expect_rc 0
expect_out "chain intact"
head=$(sql "select hash from events where incident_id = '$id' order by seq desc limit 1")
expect_out "$head"
expect_eq "$(jget "$T/rep.json" '(r["chain"]["verified"], r["chain"]["head_hash"], r["chain"]["events"])')" \
    "[true, \"$head\", $(sql "select count(*) from events where incident_id = '$id'")]" "chain in the report"
run_rune log verify --all
expect_rc 0
expect_out "0 broken"
end_case

test_case "rune log verify: an edited event is found, by seq"
seq=$(sql "select seq from events where incident_id = '$id' and step = 'flaky' and attempt = 1 and kind = 'step.end'")
tampered "update events set detail_json = replace(detail_json, 'try 1', 'try 2') where incident_id = '$id' and seq = $seq"
run_rune log verify "$id" --log "$T/bad.db"
expect_rc 4
expect_out "changed at seq $seq"
"$RUNE" report "$id" --log "$T/bad.db" >"$T/bad.md" 2>/dev/null
grep -q "NOT VERIFIED — event $seq (step.end) was changed" "$T/bad.md" || fail "the report does not say which event changed"
end_case

test_case "rune log verify: a deleted event is found, by seq"
tampered "delete from events where incident_id = '$id' and seq = 9"
run_rune log verify "$id" --log "$T/bad.db"
expect_rc 4
expect_out "deleted at seq 9"
expect_out "event 9 was deleted"
end_case

test_case "rune log verify: a reordered pair is found, by seq"
tampered "update events set seq = 1000 where incident_id = '$id' and seq = 4;
          update events set seq = 4 where incident_id = '$id' and seq = 5;
          update events set seq = 5 where incident_id = '$id' and seq = 1000"
RUNE_LOG="$T/bad.db" run_rune log verify "$id" --json
expect_rc 4
expect_eq "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["problem"], r["seq"], r["verified"])' "$T/out")" "reordered 4 False" "verify --json"
RUNE_LOG="$T/bad.db" run_rune log verify --all
expect_rc 4
expect_out "1 broken"
end_case

test_case "rune log verify: a changed outcome in the incident row disagrees with the chain"
tampered "update incidents set outcome = 'resolved', exit_code = 0 where id = '$id'"
run_rune log verify "$id" --log "$T/bad.db"
expect_rc 4
expect_out "says outcome resolved but its chained end event"
end_case

test_case "rune log filters: --runbook, --outcome, --since"
run_rune log --outcome rolled_back --json
expect_rc 0
expect_eq "$(python3 -c 'import json,sys; print(sorted({i["outcome"] for i in json.load(open(sys.argv[1]))}))' "$T/out")" "['rolled_back']" "--outcome"
expect_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$T/out")" \
    "$(sql "select count(*) from incidents where outcome = 'rolled_back'")" "--outcome count"
run_rune log --runbook report-rpo --outcome resolved
expect_eq "$(($(wc -l <"$T/out") - 1))" "2" "--runbook with --outcome"
run_rune log --since 1d --json
expect_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$T/out")" "$(sql "select count(*) from incidents")" "--since 1d"
run_rune log --since 2099-01-01
expect_rc 0
expect_out "no incidents since 2099-01-01T00:00:00.000Z"
run_rune log --since "$(sql "select started_at from incidents where id = '$pid'")" --json
expect_eq "$(python3 -c 'import json,sys; print(min(i["started_at"] for i in json.load(open(sys.argv[1]))))' "$T/out")" \
    "$(sql "select started_at from incidents where id = '$pid'")" "--since a logged time"
run_rune log --since 2026-11-01 --runbook crafted --log "$CR"
expect_out "$I1"
run_rune log --since 2026-11-02 --runbook crafted --log "$CR"
expect_out "no incidents of runbook crafted since 2026-11-02"
run_rune log --outcome resolve
expect_rc 2
expect_err '(did you mean "resolved"?)'
run_rune log --since yesterday
expect_rc 2
expect_err "--since wants a UTC date"
end_case

test_case "rune log export ID --json: the incident and all its events"
run_rune log export "$id" --json
expect_rc 0
python3 - "$T/out" "$id" "$(sql "select count(*) from events where incident_id = '$id'")" <<'PY' || fail "the export is incomplete"
import json, sys
x = json.load(open(sys.argv[1]))
assert x["export_version"] == 1 and x["incident"]["id"] == sys.argv[2], x.keys()
assert len(x["events"]) == int(sys.argv[3]), len(x["events"])
assert [e["seq"] for e in x["events"]] == list(range(1, len(x["events"]) + 1))
assert all(len(e["hash"]) == 64 and len(e["prev_hash"]) == 64 for e in x["events"])
assert x["chain"]["verified"] is True and x["chain"]["head_hash"] == x["events"][-1]["hash"]
PY
run_rune log export nope
expect_rc 2
end_case

test_case "rune report: usage errors, an unknown incident, --log and \$RUNE_LOG"
run_rune report
expect_rc 2
run_rune report "$id" --format docx
expect_rc 2
expect_err "--format must be one of md html json pdf"
run_rune report 20990101-000000-0000
expect_rc 2
expect_err "no incident 20990101-000000-0000"
run_rune report "$id" --log "$T/none.db"
expect_rc 2
[ ! -e "$T/none.db" ] || fail "rune report created a log"
RUNE_LOG="$T/good.db" run_rune report "$id" --format json
expect_rc 0
expect_out '"report_version": 1'
end_case

finish
