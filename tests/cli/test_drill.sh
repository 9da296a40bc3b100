#!/usr/bin/env bash
# The main job, end to end: the bundled SQLite disaster drill detects the
# corruption it causes, restores the newest verified backup, and proves the
# data identical to the pre-disaster state. By default it works in the
# run's private work directory; a directory the operator gives must be
# theirs alone.
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

test_case "by default the drill works in the run's private directory, takes no lock and leaves nothing"
locks_before=$(ls -A "$T/locks" 2>/dev/null)
cd "$RUNE_SOURCE_DIR" || exit 1
run_rune run sqlite-drill --yes --set scale=0.02
cd "$T" || exit 1
expect_rc 0
id=$(last_incident)
expect_eq "$(step_status "$id" identical)" "ok"
wd=$(sql "select json_extract(detail_json,'\$.workdir') from events where incident_id='$id' and kind='incident.start'")
expect_eq "$(out where dir)" "$wd" "the drill's directory"
expect_eq "$(dirname "$wd")" "$T/work"
[ ! -e "$wd" ] || fail "the drill's directory is still there"
expect_eq "$(ls -A "$T/locks" 2>/dev/null)" "$locks_before" "lock files (none for a private directory)"
end_case

test_case "a given directory is reused: the previous drill's files replaced, the operator's kept"
echo mine > "$T/drill/notes.txt"
cd "$RUNE_SOURCE_DIR" || exit 1
run_rune run sqlite-drill --yes --set workdir="$T/drill" --set scale=0.02
cd "$T" || exit 1
expect_rc 0
expect_eq "$(cat "$T/drill/notes.txt")" "mine" "the operator's file"
expect_eq "$(ls "$T/drill/backups" | grep -c '\.db\.gz$')" "1" "backups: this drill's only"
expect_eq "$(stat -c %a "$T/drill/backups")" "700"
end_case

test_case "a given directory that others can write is refused before anything is made; the runner's own symlink is resolved"
mkdir -m 0777 "$T/open" && chmod 0777 "$T/open"
cd "$RUNE_SOURCE_DIR" || exit 1
run_rune run sqlite-drill --yes --set workdir="$T/open" --set scale=0.02
cd "$T" || exit 1
expect_rc 4
expect_out "$T/open is writable by other users (drwxrwxrwx): chmod go-w it, or leave workdir out"
[ -z "$(ls -A "$T/open")" ] || fail "the drill made files in it: $(ls "$T/open")"
# a path input is made canonical: the runner's own link to the runner's
# own directory is the directory (another user's link is refused: test_inputs)
mkdir -m 0700 "$T/real" && ln -s "$T/real" "$T/link"
cd "$RUNE_SOURCE_DIR" || exit 1
run_rune run sqlite-drill --yes --set workdir="$T/link" --set scale=0.02
cd "$T" || exit 1
expect_rc 0
[ -L "$T/link" ] || fail "the link was replaced"
[ -n "$(ls -A "$T/real")" ] || fail "the drill did not work in the directory behind the link"
expect_eq "$(sql "select json_extract(inputs_json, '\$.workdir') from incidents where id='$(last_incident)'")" "$T/real" "the recorded input, canonical"
end_case

finish
