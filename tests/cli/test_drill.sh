#!/usr/bin/env bash
# The main job, end to end: the bundled SQLite disaster drill detects the
# corruption it causes, restores the newest verified backup, and proves the
# data identical to the pre-disaster state.
. "$(dirname "$0")/lib.sh"

test_case "rune run sqlite-drill resolves and proves the restore identical"
cd "$RUNE_SOURCE_DIR" || exit 1
run_rune run sqlite-drill --yes --set workdir="$T/drill" --set scale=0.02
cd "$T" || exit 1
expect_rc 0
id=$(last_incident)
expect_eq "$(sql "select outcome||' '||severity from incidents where id='$id'")" "resolved P2"
expect_eq "$(step_status "$id" integrity)" "failed" "the corruption was detected"
expect_eq "$(sql "select status from events where incident_id='$id' and kind='incident.decision'")" "incident"
expect_eq "$(step_status "$id" restore)" "ok"
expect_eq "$(step_status "$id" identical)" "ok"
expect_eq "$(sqlite3 "$T/drill/app.db" 'pragma integrity_check')" "ok"
expect_eq "$(sql "select count(*) from events where incident_id='$id' and kind='approval' and status='approved'")" "1" "the restore was approved"
end_case

test_case "without --yes and without a terminal the drill stops before replacing anything"
cd "$RUNE_SOURCE_DIR" || exit 1
run_rune run sqlite-drill --set workdir="$T/drill2" --set scale=0.02
cd "$T" || exit 1
expect_rc 5
id=$(last_incident)
expect_eq "$(step_status "$id" restore)" "declined"
[ "$(sqlite3 "$T/drill2/app.db" 'pragma quick_check' 2>&1)" != "ok" ] || fail "the damaged database was replaced without approval"
end_case

test_case "a second drill in the same directory waits for nothing and changes nothing"
mkdir -p "$T/drill3"; echo keep > "$T/drill3/marker"
hold_lock "sqlite-drill/$T/drill3"
cd "$RUNE_SOURCE_DIR" || exit 1
run_rune run sqlite-drill --yes --set workdir="$T/drill3" --set scale=0.02
cd "$T" || exit 1
release_lock
expect_rc 6
expect_err "is held by another run"
expect_eq "$(cat "$T/drill3/marker" 2>/dev/null)" "keep" "the drill's directory was left alone"
end_case

finish
