#!/usr/bin/env bash
# rune resume ID: a run whose rune was killed (-9: nothing recorded at the
# end) is continued in the same incident. Steps that ended are not run
# again (their recorded outputs are used); a step that was running is run
# again — asked first unless it only reads, computes or is idempotent —
# after the children the dead run left are ended, so no step ever runs
# twice at once. A live run and an ended one are refused.
. "$(dirname "$0")/lib.sh"


# The first attempt sleeps long (300 s) before it appends: the dead run's
# child must still be sleeping when the resume ends it, however slow the
# host (with a short sleep it could append first, and f would hold two
# lines). The attempt the resume runs again finds the marker M and
# appends at once.
cat >"$T/append.yaml" <<EOF
runbook: append
mitigation:
  steps:
    - { id: first, uses: flow.note, with: { message: before } }
    - id: append
      uses: shell.run
      with: { script: '[ -e "\$M" ] || { touch "\$M"; sleep 300; }; echo x >> "\$F"', env: { F: "$T/f", M: "$T/m" } }
    - { id: after, uses: flow.note, with: { message: "after \${steps.first.outputs.message}" } }
EOF

test_case "killed during 'sleep; echo x >> f': resumed, f holds exactly one line"
rm -f "$T/f" "$T/m"
"$RUNE" run "$T/append.yaml" --no-report </dev/null >"$T/run.out" 2>&1 &
RP=$!
# the step has started (and its child is recorded: it runs only once it is)
wait_sql "select count(*) from events where step='append' and kind='step.start'"
wait_sql "select count(*) from children where step='append'"
ID=$(last_incident)
# alive: refused
run_rune resume "$ID" --yes --no-report
expect_rc 2
expect_err "incident $ID is still running (its rune, pid $RP, is alive"
kill -9 "$RP"; wait "$RP" 2>/dev/null
PG=$(sql "select pid from children where incident_id='$ID' and step='append'")
run_rune log
expect_out "abandoned"
# no terminal, no --yes: a step that writes is not run again unasked
run_rune resume "$ID" --no-report
expect_rc 5
expect_err "not resumed: running a step again was not approved; nothing was run"
kill -0 -- "-$PG" 2>/dev/null || fail "a refused resume ended the dead run's children"
run_rune resume "$ID" --yes --no-report
expect_rc 0
expect_out "ending what the dead run left running: step append (/bin/sh), process group $PG"
expect_out "outcome: resolved"
expect_eq "$(wc -l <"$T/f" 2>/dev/null | tr -d ' ')" "1" "lines in f"
kill -0 -- "-$PG" 2>/dev/null && { fail "the orphan's process group is still alive"; kill -KILL -- "-$PG"; }
# the same incident: the note before was not run again; its output was used
expect_eq "$(sql "select count(*) from events where incident_id='$ID' and step='first' and kind='step.start'")" 1 \
    "step first started"
expect_eq "$(sql "select json_extract(detail_json,'\$.outputs.message') from events where incident_id='$ID' and step='after' and kind='step.end'")" \
    "after before" "step after read first's recorded output"
expect_eq "$(sql "select group_concat(status) from events where incident_id='$ID' and step='append' and kind='step.end' order by seq")" \
    "abandoned,ok" "append's attempts"
expect_eq "$(sql "select outcome from incidents where id='$ID'")" "resolved" "outcome"
expect_eq "$(sql "select count(*) from incidents")" 1 "incidents"
run_rune log verify --all
expect_rc 0
run_rune report "$ID"
expect_out "| Resumed | at "
expect_out "by root, after a gap of"
run_rune log show "$ID"
expect_out "incident.resume"
expect_out "resumed by root"
end_case

test_case "an ended run, an unknown one and a plan are refused"
run_rune resume "$ID" --yes --no-report
expect_rc 2
expect_err "incident $ID ended (outcome resolved, exit 0"
run_rune resume 20990101-000000-0000 --yes
expect_rc 2
expect_err "no incident 20990101-000000-0000"
run_rune plan "$T/append.yaml" --no-report
run_rune resume "$(last_incident)" --yes
expect_rc 2
expect_err "is a plan"
end_case

cat >"$T/steps.yaml" <<EOF
runbook: steps
mitigation:
  steps:
    - { id: one, uses: flow.note, with: { message: one } }
    - id: count
      uses: shell.run
      idempotent: true
      with: { script: 'echo run >> "\$F"', env: { F: "$T/count" } }
    - id: look
      uses: sqlite.health
      idempotent: false
      on_failure: continue
      with: { path: "$T/none.db" }
    - { id: two, uses: flow.note, with: { message: two } }
EOF

test_case "a step that only computes, or is idempotent: true, runs again unasked"
for point in step.start:1 step.done:2; do
    rm -f "$T/count"
    RUNE_TEST_CRASH_AT=$point run_rune run "$T/steps.yaml" --no-report
    expect_rc 137
    run_rune resume "$(last_incident)" --no-report
    expect_rc 0
    expect_eq "$(sql "select outcome from incidents where id='$(last_incident)'")" "resolved" "outcome after $point"
    expect_eq "$(sql "select count(*) from events where incident_id='$(last_incident)' and kind='approval'")" 0 \
        "questions after $point"
done
# killed after count did its work but before its end was recorded: it ran twice, as declared harmless
expect_eq "$(wc -l <"$T/count" | tr -d ' ')" "2" "runs of the idempotent step"
end_case

test_case "a step marked idempotent: false is asked about, even one that only reads"
RUNE_TEST_CRASH_AT=step.start:3 run_rune run "$T/steps.yaml" --no-report
expect_rc 137
run_rune resume "$(last_incident)" --no-report
expect_rc 5
expect_out "step \"look\" (sqlite.health) was running when rune died"
run_rune resume "$(last_incident)" --yes --no-report
expect_rc 0
end_case

# ---- the bundled sqlite-restore, killed everywhere in turn ----

make_db() {
    rm -f "$1" "$1"-*
    sqlite3 "$1" >/dev/null <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, total REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 300)
INSERT INTO customers SELECT i, 'c' || i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000)
INSERT INTO orders SELECT i, 1 + i % 300, i * 1.5 FROM n;
SQL
}

# the starting point every case copies: a database, one verified backup of
# it, then the database damaged
mkdir -p "$T/seed/backups"
make_db "$T/seed/app.db"
run_rune run sqlite-backup --set path="$T/seed/app.db" --set backups="$T/seed/backups"
[ "$RC" = 0 ] || { fail "could not make the seed backup"; finish; exit 1; }
sqlite3 "$T/seed/app.db" "DELETE FROM orders WHERE id > 1000; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null

# fresh DIR — the seed, copied to DIR
fresh() {
    rm -rf "$1"; mkdir -p "$1"
    cp -a "$T/seed/app.db" "$T/seed/backups" "$1/"
}
# state DIR — what must come out the same: the database's rows, the
# backups (names and bytes)
state() {
    sqlite3 "$1/app.db" "SELECT count(*), sum(id) FROM customers; SELECT count(*), sum(total) FROM orders; PRAGMA integrity_check;" | tr '\n' ' '
    (cd "$1/backups" && find . -type f | sort | xargs sha256sum) | tr '\n' ' '
}
restore() {
    run_rune run sqlite-restore --set path="$1/app.db" --set backups="$1/backups" --yes --no-report
}

test_case "sqlite-restore killed at every step boundary and in every step, then resumed, ends as an uninterrupted run"
fresh "$T/ref"
restore "$T/ref"
ref_rc=$RC
ref_outcome=$(sql "select outcome from incidents where id='$(last_incident)'")
ref_state=$(state "$T/ref")
expect_eq "$ref_rc" 0 "the uninterrupted restore"
nsteps=$(sql "select count(*) from events where incident_id='$(last_incident)' and kind='step.start'")
[ "$nsteps" -ge 8 ] || fail "the uninterrupted restore started only $nsteps steps"
kills=0
for point in step.start step.done step.end sqlite.swap; do
    for n in $(seq 1 "$nsteps"); do
        fresh "$T/case"
        RUNE_TEST_CRASH_AT=$point:$n restore "$T/case"
        [ "$RC" = 0 ] && break # past the last place this point is passed
        [ "$RC" = 137 ] || { fail "$point:$n: rune exited $RC, not killed"; break; }
        kills=$((kills + 1))
        id=$(last_incident)
        run_rune log
        expect_out "abandoned"
        run_rune resume "$id" --yes --no-report
        [ "$RC" = "$ref_rc" ] || fail "$point:$n: the resumed run exited $RC, not $ref_rc: $(tail -3 "$T/err")"
        expect_eq "$(sql "select outcome from incidents where id='$id'")" "$ref_outcome" "$point:$n: outcome"
        expect_eq "$(state "$T/case")" "$ref_state" "$point:$n: database and backups"
        run_rune log verify "$id"
        [ "$RC" = 0 ] || fail "$point:$n: the log does not verify: $(cat "$T/out")"
    done
done
[ "$kills" -ge $((3 * nsteps)) ] || fail "only $kills kills: the test proves little"
run_rune log verify --all
expect_rc 0
end_case

finish
