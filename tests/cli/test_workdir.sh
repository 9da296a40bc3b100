#!/usr/bin/env bash
# ${run.workdir}: every run gets a private work directory (mkdtemp, 0700,
# the runner's) under work/ beside the incident log, removed when the run
# resolves, kept with --keep-workdir or when it does not; validation knows
# run.workdir and nothing else under run.*; a dry-run makes none; an unsafe
# state directory stops the run before anything runs.
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases/workdir"

# workdir_of ID — the work directory the incident recorded at its start.
workdir_of() {
    sql "select json_extract(detail_json,'\$.workdir') from events where incident_id='$1' and kind='incident.start'"
}
# kept_of ID — what incident.end says became of it (1 kept, 0 removed).
kept_of() {
    sql "select json_extract(detail_json,'\$.workdir_kept') from events where incident_id='$1' and kind='incident.end'"
}

test_case "validate accepts \${run.workdir} in values, conditions and Lua"
run_rune validate "$C/uses.yaml"
expect_rc 0
end_case

test_case "validate refuses run.typo with a suggestion, anywhere; run refuses it before anything runs"
f="$C/typo.yaml"
run_rune validate "$f"
expect_rc 2
while IFS= read -r want; do
    want=${want#\# expect: }
    expect_err "$f:${want%%: *}: error: ${want#*: }"
done < <(grep '^# expect: ' "$f")
run_rune run "$f" --yes
expect_rc 2
[ ! -e "$RUNE_LOG" ] || fail "an incident was recorded for an invalid runbook"
[ ! -e "$T/work" ] || fail "a work directory was made for an invalid runbook"
end_case

test_case "a run works in a private 0700 directory of its own, beside the log, removed once resolved"
run_rune run "$C/uses.yaml"
expect_rc 0
id=$(last_incident)
wd=$(workdir_of "$id")
[ -n "$wd" ] || fail "incident.start does not record the work directory"
expect_eq "$(dirname "$wd")" "$T/work" "its parent"
case "$(basename "$wd")" in "$id"-??????) ;; *) fail "its name does not start with the incident id: $wd" ;; esac
expect_eq "$(out look stdout)" "700 $(id -u)" "mode and owner, as the step saw them"
expect_eq "$(out seen dir)" "$wd" "run.workdir in Lua"
expect_out "work directory: $wd"
[ ! -e "$wd" ] || fail "the work directory is still there after a resolved run"
expect_eq "$(kept_of "$id")" "0" "incident.end workdir_kept"
expect_eq "$(stat -c %a "$T/work")" "700" "work/ itself"
run_rune run "$C/uses.yaml"
[ "$(workdir_of "$(last_incident)")" != "$wd" ] || fail "two runs got the same directory"
end_case

test_case "--keep-workdir keeps it, and says where"
run_rune run "$C/uses.yaml" --keep-workdir
expect_rc 0
id=$(last_incident)
wd=$(workdir_of "$id")
[ -d "$wd" ] || fail "the work directory was removed despite --keep-workdir"
expect_eq "$(cat "$wd/made.txt" 2>/dev/null)" "made" "what the step made"
expect_eq "$(stat -c %a "$wd")" "700"
expect_out "work directory kept (--keep-workdir): $wd"
expect_eq "$(kept_of "$id")" "1" "incident.end workdir_kept"
rm -rf "$wd"
end_case

test_case "a run that does not resolve keeps its work directory for whoever looks next"
run_rune run "$C/uses.yaml" --set fail=true
expect_rc 4
id=$(last_incident)
wd=$(workdir_of "$id")
[ -f "$wd/made.txt" ] || fail "the failed run's work directory is gone"
expect_out "work directory kept (the run did not resolve): $wd"
expect_eq "$(kept_of "$id")" "1" "incident.end workdir_kept"
rm -rf "$wd"
end_case

test_case "removing it removes symlinks, never what they point to, and read-only directories too"
mkdir -p "$T/outside/sub"; echo keep > "$T/outside/keep.txt"; echo keep > "$T/outside/sub/f"
run_rune run "$C/uses.yaml" --set outside="$T/outside"
expect_rc 0
expect_eq "$(step_status "$(last_incident)" tangle)" "ok"
[ ! -e "$(workdir_of "$(last_incident)")" ] || fail "the work directory is still there"
expect_eq "$(cat "$T/outside/keep.txt" 2>/dev/null)" "keep" "a file a symlink pointed to"
expect_eq "$(cat "$T/outside/sub/f" 2>/dev/null)" "keep" "a directory a symlink pointed to"
end_case

test_case "a dry-run makes no directory and shows the path a run would get"
export RUNE_LOG="$T/dry/incidents.db"
run_rune plan "$C/uses.yaml"
expect_rc 0
id=$(last_incident)
[ ! -e "$T/dry/work" ] || fail "the dry-run made $T/dry/work"
expect_out "work directory: none in a dry-run (a run makes $T/dry/work/$id-XXXXXX)"
run_rune plan "$C/uses.yaml" --keep-workdir
expect_rc 2
expect_err "--keep-workdir: a dry-run makes no work directory to keep"
export RUNE_LOG="$T/incidents.db"
end_case

test_case "a work/ directory others can write, or a symlink, or an open parent: no run, exit 1"
mkdir -p "$T/s1/work" && chmod 0777 "$T/s1/work"
run_rune run "$C/uses.yaml" --log "$T/s1/incidents.db"
expect_rc 1
expect_err "cannot make the run's work directory: $T/s1/work is writable by other users (mode 0777)"
expect_err "nothing was run"
[ ! -e "$T/s1/incidents.db" ] || fail "an incident was recorded"
mkdir -p "$T/s2" "$T/elsewhere" && chmod 0700 "$T/elsewhere" && ln -s "$T/elsewhere" "$T/s2/work"
run_rune run "$C/uses.yaml" --log "$T/s2/incidents.db"
expect_rc 1
expect_err "$T/s2/work is not a directory (a symlink)"
[ -z "$(ls -A "$T/elsewhere")" ] || fail "rune made something through the symlink"
mkdir -p "$T/open/state" && chmod 0777 "$T/open"
run_rune run "$C/uses.yaml" --log "$T/open/state/incidents.db"
expect_rc 1
expect_err "$T/open is writable by other users (mode 0777, not sticky): they could rename $T/open/state"
[ -z "$(ls -A "$T/open/state/work" 2>/dev/null)" ] || fail "a work directory was made under an open parent"
end_case

test_case "a lock that resolves to null takes no lock; given, it is a lock"
run_rune run "$C/lock.yaml"
expect_rc 0
[ -z "$(ls -A "$T/locks" 2>/dev/null)" ] || fail "a lock file was made: $(ls "$T/locks")"
hold_lock "area/$T/x"
run_rune run "$C/lock.yaml" --set area="$T/x"
release_lock
expect_rc 6
expect_err "is held by another run"
end_case

finish
