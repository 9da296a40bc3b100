#!/usr/bin/env bash
# Runbook locks with a shared log on PostgreSQL: a session advisory lock on
# the log's server, so a second host's run of a locked runbook is refused
# (exit 6, nothing changed); `rune log` shows who holds it; a holder whose
# lock connection dies stops before its next writing step (exit 6), by the
# fencing token. docs/teams.md.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"

pg_start
pg_createdb runelog
pg_add_password_role logger 'Sh4red-L0g-Secret'
URL="postgresql://logger:Sh4red-L0g-Secret@127.0.0.1:$PG_PORT/runelog"
unset RUNE_LOG
export RUNE_HOME="$T/home"

lsql() { pg_sql "$1" runelog; }
no_secret() {
    if grep -qF 'Sh4red-L0g-Secret' "$T/out" "$T/err" "$@" 2>/dev/null; then
        fail "the log's password was printed"
    fi
}
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

cat >"$T/locked.yaml" <<EOF
runbook: locked
lock: pg/app
mitigation:
  steps:
    - { id: mark, uses: shell.run, with: { script: 'echo x >> "\$M"', env: { M: "$T/marks" } } }
    # until the test says go (2 min at most: past whatever a busy host
    # makes the test take in between)
    - id: hold
      uses: shell.run
      needs: [mark]
      with: { script: 'for i in \$(seq 1200); do [ -e "\$G" ] && exit 0; sleep 0.1; done; exit 1', env: { G: "$T/go" } }
    - { id: write, uses: shell.run, needs: [hold], with: { script: 'touch "\$W"', env: { W: "$T/written" } } }
EOF

test_case "a second run of a locked runbook is refused with exit 6 and changes nothing"
rm -f "$T/go" "$T/marks" "$T/written"
"$RUNE" run "$T/locked.yaml" --log "$URL" --no-report --operator alice </dev/null >"$T/r1.out" 2>&1 &
P1=$!
wait_for "select count(*) from children where step = 'hold'"
ID1=$(lsql "select incident_id from children where step = 'hold'")
run_rune run "$T/locked.yaml" --log "$URL" --no-report --operator bob
expect_rc 6
expect_err "lock \"pg/app\" is held by another run (host $(hostname), operator alice, incident $ID1"
no_secret
expect_eq "$(wc -l <"$T/marks" | tr -d ' ')" 1 "marks made"
expect_eq "$(lsql "select count(*) from incidents")" 1 "incidents"
run_rune log --log "$URL"
expect_rc 0
expect_out "locks (\`rune log locks\`"
expect_out "pg/app: held on host $(hostname) by alice, incident $ID1"
touch "$T/go"
wait "$P1"
expect_eq "$?" 0 "the holder's exit code"
[ -e "$T/written" ] || fail "the holder did not finish its work"
run_rune log --log "$URL"
expect_no "pg/app: held"
end_case

test_case "killing the holder's lock connection stops its next writing step with exit 6"
rm -f "$T/go" "$T/written"
"$RUNE" run "$T/locked.yaml" --log "$URL" --no-report </dev/null >"$T/r2.out" 2>&1 &
P2=$!
wait_for "select count(*) from children c join incidents i on i.id = c.incident_id
    where c.step = 'hold' and i.outcome is null"
ID2=$(lsql "select c.incident_id from children c join incidents i on i.id = c.incident_id
    where c.step = 'hold' and i.outcome is null")
expect_eq "$(lsql "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity
    where datname = 'runelog' and application_name = 'rune-lock pg/app') x")" 1 "lock connections ended"
touch "$T/go"
wait "$P2"
expect_eq "$?" 6 "the holder's exit code"
grep -qF 'lost the lock "pg/app"' "$T/r2.out" || fail "the holder did not say its lock was lost: $(tail -5 "$T/r2.out")"
[ -e "$T/written" ] && fail "a writing step ran after the lock was lost"
expect_eq "$(lsql "select exit_code from incidents where id = '$ID2'")" 6 "recorded exit code"
run_rune log verify "$ID2" --log "$URL"
expect_rc 0
# the lock is free again: the next run takes it
rm -f "$T/go"; touch "$T/go"
run_rune run "$T/locked.yaml" --log "$URL" --no-report
expect_rc 0
[ -e "$T/written" ] || fail "the next run did not take the lock"
end_case

finish
