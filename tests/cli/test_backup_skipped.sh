#!/usr/bin/env bash
# backup.list says which backups it passed over and why (issue 21, item
# 6): an output `skipped` ({path, reason} each), one console line per
# skipped backup, and a count in its summary line — a newest_verified
# older than the newest backup never passes in silence.
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases/files"

# output STEP JSONPATH — a step's output from the last incident.
output() {
    sql "select json_extract(detail_json, '\$.outputs$2') from events where incident_id='$(last_incident)'
         and step='$1' and kind='step.end' order by seq desc limit 1"
}

seq 1 20000 >"$T/src"
mkdir -p "$T/b"
for n in 1 2 3; do
    run_rune run "$C/compress.yaml" --set src="$T/src" --set to="$T/b/db-$n.gz"
    [ "$RC" = 0 ] || { echo "cannot make backup $n" >&2; cat "$T/out" >&2; exit 1; }
done
# the newest one is damaged
printf 'X' | dd of="$T/b/db-3.gz" bs=1 seek=100 conv=notrunc status=none

test_case "backup.list verify: true lists the damaged newest backup under skipped, with its reason, and says so"
run_rune run "$C/list.yaml" --set dir="$T/b"
expect_rc 0
expect_eq "$(output list .count)" "3" "count"
expect_eq "$(output list .newest)" "$T/b/db-3.gz" "newest"
expect_eq "$(output list .newest_verified)" "$T/b/db-2.gz" "newest_verified"
expect_eq "$(sql "select json_array_length(detail_json, '\$.outputs.skipped') from events where incident_id='$(last_incident)' and step='list' and kind='step.end'")" "1" "skipped backups"
expect_eq "$(output list '.skipped[0].path')" "$T/b/db-3.gz" "skipped path"
case "$(output list '.skipped[0].reason')" in
*"chunk 1 of"*"SHA-256 mismatch"*) ;;
*) fail "skipped reason: $(output list '.skipped[0].reason')" ;;
esac
expect_out "skipped $T/b/db-3.gz: chunk 1 of"
expect_out "3 backups in $T/b (verified: 2 good, 1 skipped)"
expect_no "(verified)"
# the line is in the incident log too, for the report
expect_eq "$(sql "select count(*) from events where incident_id='$(last_incident)' and kind='log' and detail_json like '%skipped $T/b/db-3.gz: chunk 1 of%'")" "1" "log events"
end_case

test_case "the report lists the skipped backup as a finding, with its reason, in every format"
id=$(last_incident)
run_rune report "$id" --format json
expect_rc 0
cp "$T/out" "$T/report.json"
python3 -m jsonschema -i "$T/report.json" "$RUNE_SOURCE_DIR/schemas/report.schema.json" 2>"$T/schema.err" || fail "schema: $(cat "$T/schema.err")"
expect_eq "$(sqlite3 :memory: "select json_extract(readfile('$T/report.json'), '\$.findings[0].path')")" "$T/b/db-3.gz" "finding path"
expect_eq "$(sqlite3 :memory: "select json_extract(readfile('$T/report.json'), '\$.findings[0].kind')")" "skipped_backup"
case "$(sqlite3 :memory: "select json_extract(readfile('$T/report.json'), '\$.findings[0].reason')")" in
*"SHA-256 mismatch"*) ;; *) fail "finding reason" ;; esac
run_rune report "$id" --format md
expect_out "## Findings"
expect_out "**backup skipped** by step \`list\`: \`$T/b/db-3.gz\`"
run_rune report "$id" --format html
expect_out "backup skipped</span> by step <code class=\"w\">list</code>: <code>$T/b/db-3.gz</code>"
end_case

test_case "backup.list without verify lists a data file without its manifest under skipped"
rm "$T/b/db-1.gz.manifest.json"
run_rune run "$C/list.yaml" --set dir="$T/b" --set verify=false
expect_rc 0
expect_eq "$(sql "select json_array_length(detail_json, '\$.outputs.skipped') from events where incident_id='$(last_incident)' and step='list' and kind='step.end'")" "1" "skipped backups"
expect_eq "$(output list '.skipped[0].path')" "$T/b/db-1.gz" "skipped path"
expect_out "skipped $T/b/db-1.gz: no manifest beside"
expect_out "3 backups in $T/b (1 skipped: no usable manifest)"
end_case

test_case "backup.list with nothing to skip says so with an empty list"
rm "$T/b/db-1.gz" "$T/b/db-3.gz" "$T/b/db-3.gz.manifest.json"
run_rune run "$C/list.yaml" --set dir="$T/b"
expect_rc 0
expect_eq "$(output list '.skipped')" "[]" "skipped"
expect_out "1 backup in $T/b (verified: 1 good, 0 skipped)"
end_case

finish
