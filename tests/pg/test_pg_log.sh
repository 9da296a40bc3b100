#!/usr/bin/env bash
# The incident log shared on PostgreSQL (--log postgresql://...): many
# rune processes appending at once, verify --all over the shared chain,
# tampering found, rune log/report/note/resume against it, and the
# password of the URL never printed. docs/teams.md.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"

pg_start
pg_createdb runelog
pg_add_password_role logger 'Sh4red-L0g-Secret'
URL="postgresql://logger:Sh4red-L0g-Secret@127.0.0.1:$PG_PORT/runelog"
SHOWN="127.0.0.1:$PG_PORT/runelog"
unset RUNE_LOG
export RUNE_HOME="$T/home"

lsql() { pg_sql "$1" runelog; }

# wait_for QUERY — until QUERY (on the log) gives a non-zero count, 30 s at most.
wait_for() {
    local i
    for i in $(seq 300); do
        # a number above 0 (before the schema exists, psql prints an error)
        [ "$(lsql "$1" 2>/dev/null)" -gt 0 ] 2>/dev/null && return 0
        sleep 0.1
    done
    fail "timed out waiting for: $1"
    return 1
}

# no_secret — the password appears in nothing rune printed.
no_secret() {
    if grep -qF 'Sh4red-L0g-Secret' "$T/out" "$T/err" "$@" 2>/dev/null; then
        fail "the log's password was printed"
    fi
}

cat >"$T/true.yaml" <<'EOF'
runbook: short
mitigation:
  steps:
    - { id: one, uses: shell.run, with: { script: /bin/true } }
    - { id: two, uses: flow.note, with: { message: done } }
EOF

test_case "a run records into PostgreSQL; the schema is made on first use"
run_rune run "$T/true.yaml" --log "$URL" --no-report
expect_rc 0
expect_out "recorded in postgresql://***@$SHOWN"
no_secret
expect_eq "$(lsql "select value from rune_meta where key='schema_version'")" 1 "schema version"
expect_eq "$(lsql "select count(*) from incidents")" 1 "incidents"
EV1=$(lsql "select count(*) from events")
[ "$EV1" -ge 6 ] || fail "only $EV1 events recorded"
[ -e "$T/home/incidents.db" ] && fail "a local log was written although the shared one was reached"
end_case

test_case "rune log, show, head, verify and report read the shared log (RUNE_LOG too)"
ID=$(lsql "select id from incidents")
RUNE_LOG="$URL" run_rune log
expect_rc 0
expect_out "$ID"
no_secret
run_rune log show "$ID" --log "$URL"
expect_rc 0
expect_out "one"
run_rune log head --log "$URL"
expect_rc 0
expect_out "$ID"
run_rune log verify "$ID" --log "$URL"
expect_rc 0
expect_out "intact"
run_rune report "$ID" --log "$URL"
expect_rc 0
expect_out "short"
no_secret
end_case

cat >"$T/append.yaml" <<EOF
runbook: append
mitigation:
  steps:
    - { id: first, uses: flow.note, with: { message: before } }
    - id: append
      uses: shell.run
      with: { script: '[ -e "\$M" ] || { touch "\$M"; sleep 20; }; echo x >> "\$F"', env: { F: "$T/f", M: "$T/m" } }
EOF

test_case "rune plan reads the shared log's history and records a dry-run"
run_rune plan "$T/true.yaml" --log "$URL" --no-report
expect_rc 0
expect_out "one"
no_secret
expect_eq "$(lsql "select count(*) from incidents where mode = 'dry-run'")" 1 "dry-runs"
PID=$(lsql "select id from incidents where mode = 'dry-run'")
run_rune log verify "$PID" --log "$URL"
expect_rc 0
end_case

# a target naming the log's database another way (the socket, not TCP)
cat >"$T/own.yaml" <<EOF
runbook: own
targets:
  db: { kind: postgres, host: "$PG_SOCKDIR", port: "$PG_PORT", database: runelog }
mitigation:
  steps:
    - { id: touch, uses: shell.run, with: { script: 'touch "\$F"', env: { F: "$T/touched" } } }
    - { id: q, uses: pg.query, with: { target: db, sql: "select 1" } }
EOF
cat >"$T/other.yaml" <<EOF
runbook: other
targets:
  db: { kind: postgres, host: "$PG_SOCKDIR", port: "$PG_PORT", database: postgres }
mitigation:
  steps:
    - { id: q, uses: pg.query, with: { target: db, sql: "select 1" } }
EOF

test_case "a runbook whose target is the log's own database is refused before any step"
N0=$(lsql "select count(*) from incidents")
run_rune run "$T/own.yaml" --log "$URL" --no-report --yes
expect_rc 2
expect_err "target \"db\" is database runelog on $PG_SOCKDIR:$PG_PORT, which holds this run's own incident log"
expect_err "nothing was run"
no_secret
[ -e "$T/touched" ] && fail "a step ran although the run was refused"
expect_eq "$(lsql "select count(*) from incidents")" "$N0" "incidents recorded"
# a pg step with no target reaches the log's database through PGHOST & co.
cat >"$T/env.yaml" <<EOF
runbook: env
mitigation:
  steps:
    - { id: touch, uses: shell.run, with: { script: 'touch "\$F"', env: { F: "$T/touched" } } }
    - { id: q, uses: pg.query, with: { database: runelog, sql: "select 1" } }
EOF
run_rune run "$T/env.yaml" --log "$URL" --no-report --yes
expect_rc 2
expect_err "step \"q\" (pg.query, no target: the PG* environment's server) is database runelog"
[ -e "$T/touched" ] && fail "a step ran although the run was refused"
expect_eq "$(lsql "select count(*) from incidents")" "$N0" "incidents recorded"
# another database of the same server is fine
run_rune run "$T/other.yaml" --log "$URL" --no-report --yes
expect_rc 0
# and a database of the same name on another server (another system_identifier)
pg_start other
pg_createdb runelog
sed -i "s|host: \"[^\"]*\", port: \"[0-9]*\"|host: \"$PG_SOCKDIR\", port: \"$PG_PORT\"|" "$T/own.yaml"
pg_use main
run_rune run "$T/own.yaml" --log "$URL" --no-report --yes
expect_rc 0
[ -e "$T/touched" ] || fail "the run on the other server's runelog did not run"
pg_stop other
end_case

test_case "a run killed mid-step is resumed from the shared log"
"$RUNE" run "$T/append.yaml" --log "$URL" --no-report </dev/null >"$T/run.out" 2>&1 &
RP=$!
wait_for "select count(*) from children where step = 'append'"
RID=$(lsql "select incident_id from children where step = 'append'")
kill -9 "$RP"; wait "$RP" 2>/dev/null
run_rune log --log "$URL"
expect_out "abandoned"
run_rune resume "$RID" --yes --no-report --log "$URL"
expect_rc 0
expect_out "outcome: resolved"
no_secret
expect_eq "$(wc -l <"$T/f" 2>/dev/null | tr -d ' ')" 1 "lines in f"
expect_eq "$(lsql "select outcome from incidents where id = '$RID'")" resolved "outcome"
run_rune log verify "$RID" --log "$URL"
expect_rc 0
end_case

cat >"$T/wait.yaml" <<EOF
runbook: wait
mitigation:
  steps:
    - { id: before, uses: flow.note, with: { message: before } }
    # until the test says go (2 min at most: past whatever a busy host
    # makes the test take in between)
    - id: hold
      uses: shell.run
      with: { script: 'for i in \$(seq 1200); do [ -e "\$G" ] && exit 0; sleep 0.1; done; exit 1', env: { G: "$T/go" } }
    - { id: after, uses: flow.note, with: { message: after } }
EOF

test_case "the log's connection dropped mid-run: rune reconnects and loses no event"
"$RUNE" run "$T/wait.yaml" --log "$URL" --no-report </dev/null >"$T/wait.out" 2>&1 &
WP=$!
wait_for "select count(*) from children where step = 'hold'"
WID=$(lsql "select incident_id from children where step = 'hold'")
expect_eq "$(lsql "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity
    where datname = 'runelog' and application_name = 'rune') x")" 1 "rune's connections ended"
touch "$T/go"
wait "$WP"
expect_eq "$?" 0 "exit code of the run"
grep -F "could not record" "$T/wait.out" && fail "the run lost something it recorded"
expect_eq "$(lsql "select outcome from incidents where id = '$WID'")" resolved "outcome"
expect_eq "$(lsql "select count(*) from events where incident_id = '$WID' and kind = 'step.end'")" 3 "step ends"
run_rune log verify "$WID" --log "$URL"
expect_rc 0
end_case

test_case "4 processes run 200 short runbooks into one log: 200 intact incidents, no event lost"
for w in 1 2 3 4; do
    (
        for i in $(seq 50); do
            "$RUNE" run "$T/true.yaml" --log "$URL" --no-report </dev/null >>"$T/w$w.out" 2>&1 ||
                echo "run $i of worker $w failed" >>"$T/w$w.fail"
        done
    ) &
done
wait
cat "$T"/w*.fail 2>/dev/null | head -5 | while read -r l; do fail "$l"; done
grep -h "^rune: " "$T"/w*.out | head -3
expect_eq "$(lsql "select count(*) from incidents where runbook = 'short' and mode = 'run' and outcome = 'resolved'")" 201 "resolved incidents"
# every incident holds exactly the events the runbook makes, seq 1..n
expect_eq "$(lsql "select count(*) from (select incident_id from events where incident_id in (select id from incidents where runbook = 'short' and mode = 'run') group by incident_id
    having count(*) = $EV1 and max(seq) = $EV1) x")" 201 "incidents with all $EV1 events"
run_rune log verify --all --log "$URL"
expect_rc 0
ALL=$(lsql "select count(*) from incidents")
expect_out "$ALL incidents verified: $ALL intact, 0 broken"
# the chain across incidents: every incident but the first hangs from
# another one's event, and no two from the same
expect_eq "$(lsql "select count(distinct prev_hash) from events where seq = 1")" "$ALL" "distinct links"
end_case

test_case "rune log note appends to the shared chain; editing the note's row breaks verify"
NID=$(lsql "select incident_id from events where seq = 1 order by pos limit 1 offset 10")
run_rune log note "$NID" --root-cause "disk full" --log "$URL"
expect_rc 0
no_secret
expect_eq "$(lsql "select count(*) from events where incident_id = '$NID' and kind = 'incident.note'")" 1 "notes"
run_rune log verify "$NID" --log "$URL"
expect_rc 0
expect_out "chain intact"
lsql "update events set detail_json = replace(detail_json, 'disk full', 'cosmic rays')
      where incident_id = '$NID' and kind = 'incident.note'" >/dev/null
run_rune log verify "$NID" --log "$URL"
[ "$RC" != 0 ] || fail "verify passed an edited note"
expect_out "changed"
end_case

test_case "deleting one incident's rows: verify --all fails naming the gap"
GONE=$(lsql "select incident_id from events where seq = 1 order by pos limit 1 offset 100")
BEFORE=$(lsql "select incident_id from events where seq = 1 order by pos limit 1 offset 99")
AFTER=$(lsql "select incident_id from events where seq = 1 order by pos limit 1 offset 101")
for t in runners children artifacts events; do
    lsql "delete from $t where incident_id = '$GONE'" >/dev/null
done
lsql "delete from incidents where id = '$GONE'" >/dev/null
run_rune log verify --all --log "$URL"
[ "$RC" != 0 ] || fail "verify --all passed a log with an incident deleted"
expect_out "the chain breaks between incident $BEFORE and $AFTER: an incident is missing"
expect_out "$((ALL - 1)) incidents verified: $((ALL - 3)) intact, 2 broken"
no_secret
end_case

finish
