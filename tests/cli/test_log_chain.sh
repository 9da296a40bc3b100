#!/usr/bin/env bash
# One chain across incidents: each incident's first event links to the head
# of the incident begun before it, so deleting, inserting or reordering a
# whole incident is found by `rune log verify --all`, which names the gap;
# `rune log head` prints the head a team keeps elsewhere. Each case edits
# the log behind rune's back with the sqlite3 shell, as someone would.
. "$(dirname "$0")/lib.sh"

cat >"$T/tiny.yaml" <<'EOF'
runbook: tiny
mitigation:
  steps:
    - { id: say, uses: flow.note, with: { message: hello } }
EOF

# three incidents, A then B then C
three() {
    rm -f "$RUNE_LOG" "$RUNE_LOG"-wal "$RUNE_LOG"-shm
    for _ in 1 2 3; do run_rune run "$T/tiny.yaml" --no-report; expect_rc 0; done
    A=$(sql "select id from incidents order by rowid limit 1")
    B=$(sql "select id from incidents order by rowid limit 1 offset 1")
    C=$(sql "select id from incidents order by rowid limit 1 offset 2")
}

# forget ID — every row of one incident, gone
forget() {
    sql "delete from events where incident_id='$1'; delete from artifacts where incident_id='$1';
         delete from incidents where id='$1'"
}

test_case "each incident's first event links to the head of the one before"
three
expect_eq "$(sql "select prev_hash from events where incident_id='$A' and seq=1")" \
    "$(printf '0%.0s' $(seq 64))" "the first incident's link"
expect_eq "$(sql "select prev_hash from events where incident_id='$B' and seq=1")" \
    "$(sql "select hash from events where incident_id='$A' order by seq desc limit 1")" \
    "B's link to A's head"
run_rune log verify --all
expect_rc 0
expect_out "incident $C: chain intact"
expect_out "linked to incident $B event"
expect_out "3 incidents verified: 3 intact, 0 broken"
end_case

test_case "deleting every row of one incident breaks the chain, naming the gap"
three
forget "$B"
run_rune log verify --all
expect_rc 4
expect_out "incident $C: chain BROKEN (link): the chain breaks between incident $A and $C: an incident is missing or was altered"
expect_out "2 incidents verified: 1 intact, 1 broken"
run_rune log verify "$C" --json
expect_rc 4
expect_out '"problem": "link"'
end_case

test_case "deleting the first incident is found too"
three
forget "$A"
run_rune log verify --all
expect_rc 4
expect_out "incident $B: chain BROKEN (link): the chain breaks before incident $B: an incident is missing"
end_case

test_case "an incident that restarts the chain after linked ones is found"
three
# C rewritten as if it were the first incident of a log: every hash redone
# by a forger would still leave this first link at zeros
sql "update events set prev_hash='$(printf '0%.0s' $(seq 64))' where incident_id='$C' and seq=1"
run_rune log verify "$C"
expect_rc 4
end_case

test_case "rune log head prints the last event of the incident begun last"
three
run_rune log head
expect_rc 0
H=$(sql "select hash from events where incident_id='$C' order by seq desc limit 1")
N=$(sql "select max(seq) from events where incident_id='$C'")
expect_out "$H  incident $C event $N at "
run_rune log head --json
expect_out "\"hash\": \"$H\""
# the report of a linked incident shows where it hangs and the log's head
run_rune report "$C"
expect_out "| Linked to | \`incident $B, event"
expect_out "| Log head | \`$H (incident $C, event $N)\` |"
end_case

test_case "a run begun while another runs links into the middle of it; verify finds the event"
rm -f "$RUNE_LOG" "$RUNE_LOG"-wal "$RUNE_LOG"-shm "$T/ready" "$T/go"
cat >"$T/long.yaml" <<EOF
runbook: long
mitigation:
  steps:
    - { id: wait, uses: shell.run, with: { script: 'touch $T/ready; while [ ! -e $T/go ]; do sleep 0.05; done' } }
    - { id: after, uses: flow.note, needs: [wait], with: { message: more events after the other run began } }
EOF
"$RUNE" run "$T/long.yaml" --no-report </dev/null >"$T/long.out" 2>&1 &
LONG=$!
wait_file "$T/ready" || fail "the long run never started"
run_rune run "$T/tiny.yaml" --no-report
expect_rc 0
touch "$T/go"
wait "$LONG" || fail "the long run failed: $(cat "$T/long.out")"
A=$(sql "select id from incidents where runbook='long'")
B=$(sql "select id from incidents where runbook='tiny'")
K=$(sql "select e.seq from events e join events f on f.prev_hash = e.hash where f.incident_id='$B' and f.seq=1")
N=$(sql "select max(seq) from events where incident_id='$A'")
[ -n "$K" ] && [ "$K" -lt "$N" ] || fail "B should link to an event in the middle of A (event $K of $N)"
run_rune log verify --all
expect_rc 0
expect_out "linked to incident $A event $K"
expect_out "2 incidents verified: 2 intact, 0 broken"
end_case

test_case "the log keeps no index of event hashes (an old log's is dropped by the next run)"
sql "create index if not exists events_by_hash on events (hash)"
run_rune run "$T/tiny.yaml" --no-report
expect_rc 0
expect_eq "$(sql "select count(*) from sqlite_master where name='events_by_hash'")" 0 "the hash index"
run_rune log verify --all
expect_rc 0
end_case

test_case "a log written before incidents were linked still verifies"
rm -f "$RUNE_LOG" "$RUNE_LOG"-wal "$RUNE_LOG"-shm
sqlite3 "$RUNE_LOG" <"$RUNE_SOURCE_DIR/tests/golden/log.sql"
run_rune log verify --all
expect_rc 0
# a run added to it links to the old log's last incident
run_rune run "$T/tiny.yaml" --no-report
run_rune log verify --all
expect_rc 0
expect_out "linked to incident"
end_case

finish
