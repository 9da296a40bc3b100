#!/usr/bin/env bash
# A shared log out of reach: an error naming it (password masked) that
# suggests --offline; --offline records in the local log with a warning;
# `rune log push` uploads those incidents chained into the shared log,
# marks them, and a second push does nothing. docs/teams.md.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"

pg_start
pg_createdb runelog
pg_add_password_role logger 'Sh4red-L0g-Secret'
URL="postgresql://logger:Sh4red-L0g-Secret@127.0.0.1:$PG_PORT/runelog"
# (dead_port, not pick_port: nothing another test starts may answer there)
DOWN_PORT=$(dead_port) || _pg_abort "no free port for an unreachable log"
DOWN="postgresql://logger:Sh4red-L0g-Secret@127.0.0.1:$DOWN_PORT/runelog"
unset RUNE_LOG
export RUNE_HOME="$T/home"
LOCAL="$T/home/incidents.db"

lsql() { pg_sql "$1" runelog; }
no_secret() {
    if grep -qF 'Sh4red-L0g-Secret' "$T/out" "$T/err" 2>/dev/null; then
        fail "the log's password was printed"
    fi
}

cat >"$T/true.yaml" <<'EOF'
runbook: short
mitigation:
  steps:
    - { id: one, uses: shell.run, with: { script: /bin/true } }
EOF

test_case "an unreachable shared log is an error naming it and suggesting --offline"
run_rune run "$T/true.yaml" --log "$DOWN" --no-report
expect_rc 1
expect_err "cannot reach the shared incident log postgresql://***@127.0.0.1:$DOWN_PORT/runelog"
expect_err "--offline"
no_secret
[ -e "$LOCAL" ] && fail "a local log was written without --offline"
end_case

test_case "a wrong password is not 'out of reach': --offline does not hide it"
BAD="postgresql://logger:wrong-Secret-1@127.0.0.1:$PG_PORT/runelog"
run_rune run "$T/true.yaml" --log "$BAD" --offline --no-report
expect_rc 1
expect_err "the shared incident log postgresql://***@127.0.0.1:$PG_PORT/runelog refused rune"
expect_err "password authentication failed"
if grep -qF 'wrong-Secret-1' "$T/out" "$T/err"; then fail "the password was printed"; fi
[ -e "$LOCAL" ] && fail "a local log was written for a refused login"
end_case

test_case "--offline records in the local log with a warning"
for i in 1 2 3; do
    run_rune run "$T/true.yaml" --log "$DOWN" --offline --no-report
    expect_rc 0
done
expect_err "warning: cannot reach the shared incident log"
expect_err "--offline: recording in the local log $LOCAL instead"
expect_out "recorded in $LOCAL"
no_secret
expect_eq "$(sqlite3 "$LOCAL" "select count(*) from incidents")" 3 "local incidents"
end_case

test_case "rune log push uploads them chained into the shared log; verify --all is intact"
# the shared log has a history of its own first
run_rune run "$T/true.yaml" --log "$URL" --no-report
expect_rc 0
HEAD0=$(lsql "select hash from events order by pos desc limit 1")
run_rune log push --log "$URL"
expect_rc 0
expect_out "pushed 3 incidents from $LOCAL to postgresql://***@127.0.0.1:$PG_PORT/runelog"
no_secret
expect_eq "$(lsql "select count(*) from incidents")" 4 "shared incidents"
expect_eq "$(lsql "select count(*) from uploads")" 3 "upload rows"
expect_eq "$(sqlite3 "$LOCAL" "select count(*) from uploads")" 3 "marked uploaded locally"
# the first upload hangs from the shared head; the events are the local ones
FIRST=$(sqlite3 "$LOCAL" "select incident_id from events where seq = 1 order by rowid limit 1")
expect_eq "$(lsql "select prev_hash from events where incident_id = '$FIRST' and seq = 1")" "$HEAD0" "first upload's link"
expect_eq "$(lsql "select string_agg(at || kind || coalesce(detail_json, ''), ',' order by seq) from events where incident_id = '$FIRST'")" \
    "$(sqlite3 "$LOCAL" "select group_concat(x, ',') from (select at || kind || coalesce(detail_json, '') x from events where incident_id = '$FIRST' order by seq)")" \
    "events as recorded offline"
run_rune log verify --all --log "$URL"
expect_rc 0
expect_out "4 incidents verified: 4 intact, 0 broken"
end_case

test_case "a second push does nothing"
run_rune log push --log "$URL"
expect_rc 0
expect_out "nothing to push"
expect_eq "$(lsql "select count(*) from incidents")" 4 "shared incidents"
end_case

test_case "later offline runs are pushed after what the shared log got since"
run_rune run "$T/true.yaml" --log "$DOWN" --offline --no-report
run_rune run "$T/true.yaml" --log "$URL" --no-report
RUNE_LOG="$URL" run_rune log push
expect_rc 0
expect_out "pushed 1 incident "
run_rune log verify --all --log "$URL"
expect_rc 0
expect_out "6 incidents verified: 6 intact, 0 broken"
end_case

test_case "the local chain kept at upload is checked: an edited upload record breaks verify"
lsql "update uploads set local_head = repeat('0', 64) where incident_id = '$FIRST'" >/dev/null
run_rune log verify "$FIRST" --log "$URL"
expect_rc 4
expect_out "recorded offline and uploaded"
end_case

finish
