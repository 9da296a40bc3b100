#!/usr/bin/env bash
# Reports through templates (issue 18): the bundled incident-report,
# recovery-log and post-recovery-checklist reproduce the seeds' formats
# from a real SQLite drill and the notes added after it; a team's own
# .md or .html file renders the same report object; the runbook's
# `report: {template: ...}` is the default; `rune log note --edit` records
# what an editor changed. Real runs, real logs, no mocks.
. "$(dirname "$0")/lib.sh"
SCHEMA="$RUNE_SOURCE_DIR/schemas/report.schema.json"

# jget FILE EXPR — a Python expression over the report `r`, printed.
jget() {
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(v if not isinstance(v,(dict,list,tuple,bool)) and v is not None else json.dumps(v))' "$1" "$2"
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

# drill DIR ARGS... — the bundled sqlite-drill, approved, in DIR.
drill() {
    local dir=$1
    shift
    (cd "$RUNE_SOURCE_DIR" && "$RUNE" run sqlite-drill --yes --set workdir="$dir" --set scale=0.02 "$@" \
        </dev/null >"$T/out" 2>"$T/err")
    RC=$?
    OUT=1
}

# has FILE TEXT... — FILE holds every TEXT.
has() {
    local f=$1 want
    shift
    for want in "$@"; do
        grep -qF -- "$want" "$f" || fail "$(basename "$f") lacks \"$want\""
    done
}

# field FILE NAME — the value after "NAME: " on its line of a recovery log.
field() {
    sed -n "s|^ *\(- \)\{0,1\}$2: ||p" "$1" | head -1
}

drill "$T/d1" --operator alice
expect_rc 0
ID=$(last_incident)
BACKUP=$(out restore backup)

test_case "a note's root cause, action, owner and due date show in md, html, json and all three bundled templates"
run_rune log note "$ID" --root-cause "torn pages: firmware 1.2 ignores flushes" \
    --action "upgrade the disk firmware" --owner alice --due 2026-12-31 --author carol
expect_rc 0
for f in md html json; do
    run_rune report "$ID" --format "$f" -o "$T/rep.$f"
    expect_rc 0
    has "$T/rep.$f" "torn pages: firmware 1.2 ignores flushes" "upgrade the disk firmware" alice 2026-12-31
done
valid "$T/rep.json"
for t in incident-report recovery-log post-recovery-checklist; do
    run_rune report "$ID" --template "$t" -o "$T/$t.md"
    expect_rc 0
    has "$T/$t.md" "torn pages: firmware 1.2 ignores flushes" "upgrade the disk firmware" "alice" "2026-12-31"
    grep -q '{{\|}}' "$T/$t.md" && fail "$t left a tag unrendered: $(grep -m1 '{{\|}}' "$T/$t.md")"
done
has "$T/incident-report.md" "# Incident Report: " "**Severity**: P2" "## Timeline" "## Root Cause" \
    "## Data Loss" "## Recovery Actions Taken" "## Preventive Measures" \
    "- [open] upgrade the disk firmware (owner: alice, due: 2026-12-31)" \
    "mitigation: step restore (sqlite.restore) ok" "Restore completed (step restore)"
has "$T/post-recovery-checklist.md" "**Immediate (0-1 hour):**" "- [x] counts (sqlite.verify_counts): ok" \
    "**Long-term (1-7 days):**" "- [ ] upgrade the disk firmware (owner alice, due 2026-12-31, open)" \
    "- [x] Root cause analysis: torn pages"
has "$T/recovery-log.md" "Root Cause: torn pages: firmware 1.2 ignores flushes (noted by carol)" \
    "  - upgrade the disk firmware (owner alice, due 2026-12-31, open)"
run_rune log verify "$ID"
expect_rc 0
expect_out "chain intact"
end_case

test_case "rune report ID --template recovery-log fills every field the log knows"
R="$T/recovery-log.md"
run_rune report "$ID" --format json -o "$T/rep.json"
size=$(stat -c %s "$BACKUP")
expect_eq "$(field "$R" "Initiated By")" "alice"
reason=$(field "$R" Reason)
case "$reason" in "step integrity (sqlite.integrity) failed: $T/d1/app.db failed its full check"*) ;;
    *) fail "Reason is not what detection found: \"$reason\"" ;; esac
expect_eq "$(field "$R" File)" "$BACKUP" "the backup file restored"
expect_eq "$(field "$R" Timestamp)" "$(out restore recovery_point)"
case "$(field "$R" Size)" in *" MiB ($size bytes)") ;; *) fail "Size is not the backup's $size bytes: $(field "$R" Size)" ;; esac
expect_eq "$(field "$R" SHA-256)" "$(sha256sum "$BACKUP" | cut -d' ' -f1)"
expect_eq "$(field "$R" Verified)" "yes" "the backup was verified by backup.list"
expect_eq "$(field "$R" "Data Lost")" "none: the recovery point is not before the outage began"
expect_eq "$(field "$R" "RPO Met")" "yes (0ms (target 1h00m, met))"
vb=$(field "$R" "Verified By")
case "$vb" in "alice, by the verification steps "*"counts (sqlite.verify_counts)"*) ;;
    *) fail "Verified By does not name the operator and the checks: \"$vb\"" ;; esac
for f in "Date/Time" "Restore Begin" "Restore Complete" "Total Duration"; do
    [ -n "$(field "$R" "$f")" ] || fail "$f is empty"
done
# the same facts in the JSON every template renders
expect_eq "$(jget "$T/rep.json" 'r["recovery"]["backup"]["bytes"]')" "$size"
expect_eq "$(jget "$T/rep.json" 'r["recovery"]["verified"]')" "yes"
end_case

test_case "a team's own template: .md as it is, .html escaped, --format overrides, \$RUNE_REPORT_TEMPLATE the default"
drill "$T/d2" --operator "bob <b&b>"
expect_rc 0
id=$(last_incident)
printf '{{#postmortem.actions}}x{{/postmortem.actions}}op={{incident.operator}} raw={{{incident.operator}}}\n{{! ignored }}rto={{key_facts.rto.met}} missing=[{{no.such}}]\n' >"$T/ours.md"
cp "$T/ours.md" "$T/ours.html"
run_rune report "$id" --template "$T/ours.md"
expect_rc 0
expect_eq "$(cat "$T/out")" "op=bob <b&b> raw=bob <b&b>
rto=true missing=[]"
run_rune report "$id" --template "$T/ours.html"
expect_eq "$(head -1 "$T/out")" "op=bob &lt;b&amp;b&gt; raw=bob <b&b>"
run_rune report "$id" --template "$T/ours.md" --format html
expect_eq "$(head -1 "$T/out")" "op=bob &lt;b&amp;b&gt; raw=bob <b&b>"
RUNE_REPORT_TEMPLATE="$T/ours.md" "$RUNE" report "$id" >"$T/out" 2>"$T/err" </dev/null
expect_eq "$(head -1 "$T/out")" "op=bob <b&b> raw=bob <b&b>" "\$RUNE_REPORT_TEMPLATE is the default"
RUNE_REPORT_TEMPLATE="$T/ours.md" "$RUNE" report "$id" --template recovery-log >"$T/out" 2>"$T/err" </dev/null
expect_out "=== Recovery Log ==="
RUNE_REPORT_TEMPLATE="$T/ours.md" "$RUNE" report "$id" --format json >"$T/out" 2>"$T/err" </dev/null
expect_out '"report_version": 1' # a --format asks for that format, not the default template
run_rune report --template list
expect_rc 0
for t in incident-report recovery-log post-recovery-checklist; do expect_out "$t "; done
end_case

test_case "templates that cannot be used are refused with what to do"
run_rune report "$ID" --template no-such
expect_rc 2
expect_err "no bundled template \"no-such\"; the bundled ones are incident-report recovery-log post-recovery-checklist"
printf 'ok\n\n  {{#postmortem.actions}}\n{{text}}\n' >"$T/open.md"
run_rune report "$ID" --template "$T/open.md"
expect_rc 2
expect_err "$T/open.md:3:3: section \"postmortem.actions\" opened here is never closed: add {{/postmortem.actions}}"
printf 'a {{> partial}}\n' >"$T/partial.md"
run_rune report "$ID" --template "$T/partial.md"
expect_rc 2
expect_err "$T/partial.md:1:3: {{>...}} (partials, delimiter changes, blocks) is not supported"
run_rune report "$ID" --template "$T/none.md"
expect_rc 2
expect_err "cannot open the template $T/none.md: No such file or directory"
mkfifo "$T/fifo.md"
run_rune report "$ID" --template "$T/fifo.md"
expect_rc 2
expect_err "the template $T/fifo.md is not a regular file"
head -c 300000 /dev/zero | tr '\0' x >"$T/big.md"
run_rune report "$ID" --template "$T/big.md"
expect_rc 2
expect_err "is 300000 bytes, more than the 262144 a template may be"
# loops nested over the timeline's steps: bounded, an error, no crash
python3 -c 'print("{{#timeline}}{{#steps}}" * 6 + "0123456789" * 20 + "{{/steps}}{{/timeline}}" * 6)' >"$T/loops.md"
run_rune report "$ID" --template "$T/loops.md"
expect_rc 2
expect_err "the template $T/loops.md: the template's output would pass 16777216 bytes"
run_rune report "$ID" --template recovery-log --format html
expect_rc 2
expect_err "the bundled template recovery-log is Markdown"
run_rune report "$ID" --template recovery-log --format json
expect_rc 2
expect_err "--template renders Markdown or HTML"
end_case

test_case "the runbook's report.template: every run also writes its report through it; the loader checks the key"
mkdir -p "$T/rb"
sed 's/^title:/report: { template: team.md }\ntitle:/' "$RUNE_SOURCE_DIR/tests/cli/cases/report_incident.yaml" >"$T/rb/team.yaml"
printf 'TEAM {{incident.id}} {{key_facts.outcome}}\n' >"$T/rb/team.md"
mkdir -p "$T/elsewhere" && cd "$T/elsewhere" || exit 1
RUNE_TEST_TOKEN=tok-templates run_rune run "$T/rb/team.yaml" --set counter="$T/counter" --yes
id=$(last_incident)
expect_out "report (template team): $T/reports/$id.team.md"
expect_eq "$(cat "$T/reports/$id.team.md" 2>&1)" "TEAM $id rolled_back"
[ -f "$T/reports/$id.md" ] || fail "the standard report was not written beside it"
cd "$T" || exit 1
run_rune validate "$T/rb/team.yaml"
expect_rc 0
sed 's/^title:/report: { templat: x }\ntitle:/' "$RUNE_SOURCE_DIR/tests/cli/cases/report_incident.yaml" >"$T/rb/bad.yaml"
run_rune validate "$T/rb/bad.yaml"
expect_rc 2
expect_err 'unknown key "templat"'
sed 's/^title:/report: { template: "" }\ntitle:/' "$RUNE_SOURCE_DIR/tests/cli/cases/report_incident.yaml" >"$T/rb/empty.yaml"
run_rune validate "$T/rb/empty.yaml"
expect_rc 2
expect_err "report.template is empty"
grep -q '"report"' "$RUNE_SOURCE_DIR/schemas/runbook.schema.json" || fail "schemas/runbook.schema.json lacks report"
end_case

test_case "rune log note ID --edit: \$EDITOR on a private YAML form; changes recorded as one superseding note"
mkdir -p "$T/tmp"
export TMPDIR="$T/tmp"
before=$(sql "select count(*) from events where incident_id='$ID' and kind='incident.note'")
rm -rf "$T"/tmp/*
# an editor that changes nothing: nothing recorded, the form removed
cat >"$T/same.sh" <<'SH'
#!/bin/sh
stat -c '%a' "$1" "$(dirname "$1")" >"$(dirname "$0")/modes"
grep -c . "$1" >/dev/null
SH
chmod +x "$T/same.sh"
EDITOR="$T/same.sh" run_rune log note "$ID" --edit
expect_rc 0
expect_out "the notes were not changed; nothing recorded"
expect_eq "$(tr '\n' ' ' <"$T/modes")" "600 700 " "the form is private"
expect_eq "$(sql "select count(*) from events where incident_id='$ID' and kind='incident.note'")" "$before"
expect_eq "$(ls -A "$T/tmp")" "" "the form is removed"
# an editor that edits with sed: root cause, an action done, a participant and a free note
cat >"$T/sed.sh" <<'SH'
#!/bin/sh
sed -i -e 's/^root_cause: .*/root_cause: "firmware 1.2 drops flushes under load"/' \
    -e 's/^    status: open/    status: done/' \
    -e 's/^participants:/participants:\n  - dave/' \
    -e 's/^notes:/notes:\n  - "postmortem review on Friday"/' "$1"
SH
chmod +x "$T/sed.sh"
EDITOR="sh $T/sed.sh" RUNE_OPERATOR=erin run_rune log note "$ID" --edit
expect_rc 0
expect_out "the changes recorded as event"
expect_eq "$(sql "select count(*) from events where incident_id='$ID' and kind='incident.note'")" "$((before + 1))"
expect_eq "$(sql "select json_extract(detail_json,'\$.who') from events where incident_id='$ID' and kind='incident.note' order by seq desc limit 1")" "erin"
run_rune report "$ID" --format json -o "$T/rep.json"
expect_eq "$(jget "$T/rep.json" 'r["root_cause"]')" "firmware 1.2 drops flushes under load"
expect_eq "$(jget "$T/rep.json" '[(a["text"], a["owner"], a["due"], a["status"]) for a in r["postmortem"]["actions"]]')" \
    '[["upgrade the disk firmware", "alice", "2026-12-31", "done"]]' "the action keeps its owner and due date"
expect_eq "$(jget "$T/rep.json" 'r["postmortem"]["participants"]')" '["dave"]'
expect_eq "$(jget "$T/rep.json" '[n["text"] for n in r["postmortem"]["notes"]]')" '["postmortem review on Friday"]'
# the older root cause is still in the chain, superseded
expect_eq "$(sql "select count(*) from events where incident_id='$ID' and kind='incident.note' and detail_json like '%torn pages%'")" "1"
end_case

test_case "rune log note --edit: invalid YAML is refused with line:col, the form kept, nothing recorded"
before=$(sql "select count(*) from events where incident_id='$ID' and kind='incident.note'")
rm -rf "$T"/tmp/*
cat >"$T/bad.sh" <<'SH'
#!/bin/sh
sed -i 's/^impact: .*/impact: [unclosed/' "$1"
SH
chmod +x "$T/bad.sh"
EDITOR="$T/bad.sh" run_rune log note "$ID" --edit
expect_rc 2
form=$(ls "$T"/tmp/rune-note.*/notes-"$ID".yaml 2>/dev/null)
[ -f "$form" ] || fail "the form was not kept for the person to fix"
grep -qE "^$form:[0-9]+:[0-9]+: error: invalid YAML" "$T/err" || fail "no line:col for the invalid YAML: $(cat "$T/err")"
expect_err "nothing recorded; the form is kept at $form"
expect_eq "$(sql "select count(*) from events where incident_id='$ID' and kind='incident.note'")" "$before"
# the person fixes the kept form and gives it back with --file
sed 's/^impact: .*/impact: "checkout down 4 minutes"/' "$form" >"$T/fixed.yaml"
# what the log cannot record is refused the same way: removing an action
sed -i -e 's/^impact: .*/impact: "checkout down 4 minutes"/' -e '/^  - text: "upgrade the disk firmware"/,+3d' "$form"
run_rune log note "$ID" --file "$form"
expect_rc 2
expect_err 'the action "upgrade the disk firmware" is gone from the form; actions cannot be removed'
expect_eq "$(sql "select count(*) from events where incident_id='$ID' and kind='incident.note'")" "$before"
run_rune log note "$ID" --file "$T/fixed.yaml" --author frank
expect_rc 0
expect_eq "$(sql "select count(*) from events where incident_id='$ID' and kind='incident.note'")" "$((before + 1))"
run_rune report "$ID" --template recovery-log
expect_out "  - Impact: checkout down 4 minutes"
run_rune log verify "$ID"
expect_rc 0
unset TMPDIR
end_case

test_case "a dry-run through every bundled template says SIMULATED"
RUNE_TEST_TOKEN=tok-templates run_rune plan "$RUNE_SOURCE_DIR/tests/cli/cases/report_incident.yaml" --set counter="$T/counter-plan"
expect_rc 0
id=$(last_incident)
for t in incident-report recovery-log post-recovery-checklist; do
    run_rune report "$id" --template "$t"
    expect_rc 0
    head -1 "$T/out" | grep -q "^# SIMULATED: " || fail "$t: the title does not say SIMULATED: $(head -1 "$T/out")"
    expect_out "**SIMULATED** — a dry-run (\`rune plan\`): nothing was changed"
done
run_rune report "$ID" --template recovery-log
expect_no "SIMULATED"
end_case

test_case "completions offer the bundled templates after --template, and log's head and note"
bash_complete() {
    PATH="$(dirname "$RUNE"):$PATH" bash --norc -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _rune
        printf "%s\n" "${COMPREPLY[@]}"' _ "$RUNE_SOURCE_DIR/completion/rune.bash" "$@"
}
zsh_complete() {
    PATH="$(dirname "$RUNE"):$PATH" zsh -f -c '
        compdef() { : }
        compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@" }
        _files() { print -r -- "(files)" }
        source "$1"; shift
        words=("$@"); CURRENT=${#words}
        _rune' _ "$RUNE_SOURCE_DIR/completion/_rune" "$@"
}
bash_complete rune report "$ID" --template rec >"$T/c"
grep -qx recovery-log "$T/c" || fail "bash --template: $(cat "$T/c")"
bash_complete rune log n >"$T/c"
grep -qx note "$T/c" || fail "bash log note: $(cat "$T/c")"
bash_complete rune log h >"$T/c"
grep -qx head "$T/c" || fail "bash log head: $(cat "$T/c")"
zsh_complete rune report "$ID" --template "" >"$T/c"
for w in list incident-report recovery-log post-recovery-checklist; do
    grep -qx "$w" "$T/c" || fail "zsh --template lacks $w: $(cat "$T/c")"
done
bash_complete rune log p >"$T/c"
grep -qx push "$T/c" || fail "bash log push: $(cat "$T/c")"
bash_complete rune log l >"$T/c"
grep -qx locks "$T/c" || fail "bash log locks: $(cat "$T/c")"
zsh_complete rune log "" >"$T/c"
for w in show verify export head note locks push; do
    grep -qx "$w" "$T/c" || fail "zsh log subcommands lack $w: $(cat "$T/c")"
done
end_case

test_case "editing the note's row in SQLite breaks verify"
sql "update events set detail_json = replace(detail_json, '2026-12-31', '2027-06-30') where incident_id='$ID' and kind='incident.note'"
run_rune log verify "$ID"
expect_rc 4
expect_out "(incident.note) was changed"
end_case

finish
