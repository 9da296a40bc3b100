#!/usr/bin/env bash
# Makes the stored incident log that tests/cli/test_golden.sh renders, and
# the outputs it must render to. Run once, with a rune from before a change
# that must not alter how old logs read (it was made before the record
# layer was split out, issue 13):  RUNE=build/rune bash tests/golden/make.sh
# The log is kept as SQL text (log.sql); times and paths in it are whatever
# they were when it was made, and stay so.
set -euo pipefail
: "${RUNE:?RUNE must point at the rune binary}"
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/rune-golden.XXXXXX")
trap 'rm -rf "$T"' EXIT
export RUNE_LOG="$T/incidents.db" RUNE_HOME="$T/home" NO_COLOR=1 RUNE_TEST_TOKEN=tok-golden-secret
C="$src/tests/cli/cases"
cd "$T"
"$RUNE" run "$C/report_incident.yaml" --set counter="$T/counter" --yes --operator alice >/dev/null || true
"$RUNE" plan "$C/report_incident.yaml" --set counter="$T/counter2" --operator alice >/dev/null
"$RUNE" run "$C/report_rpo.yaml" --set point="2026-01-01T00:00:00.000Z" --operator bob >/dev/null || true
(cd "$src" && "$RUNE" run sqlite-drill --yes --set scale=0.02 --operator carol >/dev/null)
sqlite3 "$RUNE_LOG" .dump >"$here/log.sql"
rm -rf "$here/expected" && mkdir -p "$here/expected"
for id in $(sqlite3 "$RUNE_LOG" "select id from incidents order by started_at, rowid"); do
    "$RUNE" log show "$id" >"$here/expected/$id.show.txt"
    "$RUNE" log show "$id" --json >"$here/expected/$id.show.json"
    for f in md html json; do
        "$RUNE" report "$id" --format "$f" -o "$here/expected/$id.report.$f" >/dev/null
    done
done
"$RUNE" log >"$here/expected/list.txt"
"$RUNE" log verify --all >"$here/expected/verify.txt"
echo "made $(ls "$here/expected" | wc -l) files from $(sqlite3 "$RUNE_LOG" 'select count(*) from incidents') incidents"
