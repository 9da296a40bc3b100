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

finish
