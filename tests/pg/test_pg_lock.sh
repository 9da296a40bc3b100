#!/usr/bin/env bash
# Locks on PostgreSQL (issue 19): with a log shared on PostgreSQL, a
# runbook's `lock:` is a session advisory lock in the log's database.
# Two runs standing in for two hosts (each its own RUNE_HOME: no shared
# lock files) exclude each other; the holder is named; `rune log` shows
# host, operator and incident while held and not after; a lost lock
# connection stops the next writing step with exit 6 (fencing), and no
# rollback runs. docs/teams.md (Locks on PostgreSQL).
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"

pg_start
pg_createdb runelog
pg_add_password_role locker 'L0ck-Log-Secret'
URL="postgresql://locker:L0ck-Log-Secret@127.0.0.1:$PG_PORT/runelog"
unset RUNE_LOG
HOST=$(hostname)

lsql() { pg_sql "$1" runelog; }

# wait_file FILE — until FILE exists, 60 s at most.
wait_file() {
    local i
    for i in $(seq 600); do [ -e "$1" ] && return 0; sleep 0.1; done
    fail "timed out waiting for $1"
    return 1
}

# host_run NAME ARGS... — rune run as if on host NAME (its own state
# directory), in the background; its pid in $BG, output in $T/NAME.out.
host_run() {
    local name=$1
    shift
    RUNE_HOME="$T/host-$name" "$RUNE" run "$@" --log "$URL" --no-report </dev/null \
        >"$T/$name.out" 2>&1 &
    BG=$!
}

no_secret() {
    if grep -qF 'L0ck-Log-Secret' "$T/out" "$T/err" "$@" 2>/dev/null; then
        fail "the log's password was printed"
    fi
}

# The locked runbook: `mark` writes who ran it, `hold` waits for $D/go
# (after saying $D/ready), `after` writes again; a rollback that writes.
cat >"$T/locked.yaml" <<'EOF'
runbook: locked
lock: "db/${inputs.db}"
inputs:
  db: { type: string, default: shop }
  dir: { type: string, required: true }
  who: { type: string, required: true }
mitigation:
  steps:
    - id: mark
      uses: shell.run
      with: { script: 'echo "mark $WHO" >> "$D/written"', env: { D: "${inputs.dir}", WHO: "${inputs.who}" } }
    - id: hold
      uses: shell.run
      with:
        script: 'touch "$D/ready"; for i in $(seq 1200); do [ -e "$D/go" ] && exit 0; sleep 0.1; done; exit 1'
        env: { D: "${inputs.dir}" }
    - id: after
      uses: shell.run
      with: { script: 'echo "after $WHO" >> "$D/written"', env: { D: "${inputs.dir}", WHO: "${inputs.who}" } }
rollback:
  steps:
    - id: undo
      uses: shell.run
      with: { script: 'echo "undo $WHO" >> "$D/written"', env: { D: "${inputs.dir}", WHO: "${inputs.who}" } }
EOF

test_case "two hosts run the same locked runbook: the second exits 6, names the holder and changes nothing"
mkdir -p "$T/a" "$T/b"
host_run a "$T/locked.yaml" --set dir="$T/a" --set who=alice --operator alice
A=$BG
wait_file "$T/a/ready"
AID=$(lsql "select id from incidents where runbook = 'locked' and outcome is null and operator = 'alice'")
RUNE_HOME="$T/host-b" run_rune run "$T/locked.yaml" --log "$URL" --no-report \
    --set dir="$T/b" --set who=bob --operator bob
expect_rc 6
expect_err "lock \"db/shop\" is held by another run (host $HOST, operator alice, incident $AID"
no_secret
[ -e "$T/b/written" ] && fail "the second run wrote: $(cat "$T/b/written")"
[ -e "$T/b/ready" ] && fail "the second run ran a step"
expect_eq "$(lsql "select count(*) from incidents where operator = 'bob'")" 0 "incidents of the refused run"
# a run on another lock name is not kept out
mkdir -p "$T/c"
touch "$T/c/go"
RUNE_HOME="$T/host-b" run_rune run "$T/locked.yaml" --log "$URL" --no-report \
    --set db=other --set dir="$T/c" --set who=carol --operator carol
expect_rc 0
[ -e "$T/c/written" ] || fail "a run on another lock did not run"
touch "$T/a/go"
wait "$A"
RC=$?
[ "$RC" = 0 ] || fail "the holder's run ended with exit $RC: $(cat "$T/a.out")"
expect_eq "$(cat "$T/a/written")" "mark alice
after alice" "what the holder wrote"
end_case

test_case "rune log shows the holder's host, operator and incident while held, and not after"
rm -f "$T/c/ready" "$T/c/go"
host_run c "$T/locked.yaml" --set dir="$T/c" --set who=carol --operator carol
C=$BG
wait_file "$T/c/ready"
CID=$(lsql "select id from incidents where runbook = 'locked' and outcome is null and operator = 'carol'")
run_rune log --log "$URL"
expect_rc 0
expect_out "db/shop: held on host $HOST by carol, incident $CID"
no_secret
run_rune log locks --log "$URL"
expect_rc 0
expect_out "db/shop"
expect_out "$CID"
expect_out "carol"
grep -q "^db/shop  *held  *$HOST  *carol  *$CID " "$T/out" || fail "no held row for db/shop: $(cat "$T/out")"
run_rune log locks --log "$URL" --json
expect_eq "$(jq -r '.[] | select(.name == "db/shop") | "\(.state) \(.host) \(.operator) \(.incident)"' "$T/out")" \
    "held $HOST carol $CID" "the holder in JSON"
touch "$T/c/go"
wait "$C"
run_rune log --log "$URL"
expect_rc 0
expect_no "db/shop: held"
expect_no "locks (\`rune log locks\`"
run_rune log locks --log "$URL"
expect_out "no locks held in postgresql://***@127.0.0.1:$PG_PORT/runelog"
# a holder killed outright: its session ends, its row is shown stale
rm -f "$T/c/ready" "$T/c/go"
host_run c "$T/locked.yaml" --set dir="$T/c" --set who=carol --operator carol
C=$BG
wait_file "$T/c/ready"
kill -9 "$C"
wait "$C" 2>/dev/null
for i in $(seq 300); do
    [ "$(lsql "select count(*) from pg_stat_activity where application_name like 'rune-lock %'")" = 0 ] && break
    sleep 0.1
done
run_rune log locks --log "$URL"
grep -q "^db/shop  *stale  *$HOST  *carol " "$T/out" || fail "no stale row for db/shop: $(cat "$T/out")"
run_rune log --log "$URL"
expect_out "db/shop: stale, last held on host $HOST by carol"
touch "$T/c/go" # its orphaned step ends
end_case

test_case "killing the lock's connection: the next writing step stops with exit 6, nothing after it runs, no rollback"
mkdir -p "$T/d" "$T/e"
host_run d "$T/locked.yaml" --set dir="$T/d" --set who=dave --operator dave
D=$BG
wait_file "$T/d/ready"
DID=$(lsql "select id from incidents where runbook = 'locked' and outcome is null and operator = 'dave'")
expect_eq "$(lsql "select count(pg_terminate_backend(pid)) from pg_stat_activity
    where application_name = 'rune-lock db/shop'")" 1 "lock connections terminated"
# the lock is free now: another host takes it and runs
RUNE_HOME="$T/host-e" run_rune run "$T/locked.yaml" --log "$URL" --no-report \
    --set dir="$T/e" --set who=erin --operator erin </dev/null &
E=$!
wait_file "$T/e/ready"
touch "$T/e/go"
wait "$E" || fail "the run that took the freed lock failed: $(cat "$T/out" "$T/err")"
touch "$T/d/go"
wait "$D"
RC=$?
expect_eq "$RC" 6 "exit of the run that lost its lock"
grep -qF "lost the lock \"db/shop\": its connection to the log database postgresql://***@127.0.0.1:$PG_PORT/runelog was closed" "$T/d.out" ||
    fail "no lost-lock message: $(cat "$T/d.out")"
grep -qF "another run may hold it now; nothing further was done" "$T/d.out" || fail "message lacks what it means"
grep -qF 'L0ck-Log-Secret' "$T/d.out" && fail "the log's password was printed"
expect_eq "$(cat "$T/d/written")" "mark dave" "what the run that lost its lock wrote (no after, no undo)"
expect_eq "$(lsql "select outcome || ' ' || exit_code from incidents where id = '$DID'")" "failed 6" "its incident"
expect_eq "$(lsql "select status from events where incident_id = '$DID' and step = 'after' and kind = 'step.end'")" failed "step after"
lsql "select detail_json from events where incident_id = '$DID' and step = 'after' and kind = 'step.end'" |
    grep -qF 'not started: lost the lock' || fail "the step's end does not say why"
expect_eq "$(lsql "select count(*) from events where incident_id = '$DID' and step = 'undo' and kind = 'step.start'")" 0 "rollback steps started"
expect_eq "$(lsql "select count(*) from events where incident_id = '$DID' and stage = 'rollback'
    and detail_json like '%the run lost its lock: not rolled back%'")" 1 "rollback stage skipped, saying why"
lsql "select detail_json from events where incident_id = '$DID' and kind = 'incident.end'" |
    grep -qF 'lost the lock' || fail "the incident's end does not say it lost its lock"
expect_eq "$(cat "$T/e/written")" "mark erin
after erin" "what the new holder wrote"
end_case

test_case "a token taken by another holder (the table says so) stops the next writing step too"
rm -f "$T/d/ready" "$T/d/go" "$T/d/written"
host_run d "$T/locked.yaml" --set dir="$T/d" --set who=dave --operator dave
D=$BG
wait_file "$T/d/ready"
lsql "update rune_locks set token = token + 1 where name = 'db/shop'" >/dev/null
touch "$T/d/go"
wait "$D"
expect_eq "$?" 6 "exit"
grep -qF "lost the lock \"db/shop\": its fencing token in" "$T/d.out" || fail "no token message: $(cat "$T/d.out")"
expect_eq "$(cat "$T/d/written")" "mark dave" "what it wrote"
end_case

test_case "the shared log out of reach: a locked run stops with exit 1, unless --offline, which locks on this host only"
DEAD=$(dead_port)   # (not pick_port: no other test's server may start there)
BAD="postgresql://locker:L0ck-Log-Secret@127.0.0.1:$DEAD/runelog"
mkdir -p "$T/f"
touch "$T/f/go"
RUNE_HOME="$T/host-f" run_rune run "$T/locked.yaml" --log "$BAD" --no-report \
    --set dir="$T/f" --set who=fay --operator fay
expect_rc 1
expect_err "cannot reach the shared incident log postgresql://***@127.0.0.1:$DEAD/runelog"
expect_err "--offline"
no_secret
[ -e "$T/f/written" ] && fail "a step ran without its lock"
RUNE_HOME="$T/host-f" run_rune run "$T/locked.yaml" --log "$BAD" --no-report --offline \
    --set dir="$T/f" --set who=fay --operator fay
expect_rc 0
expect_err "--offline: lock \"db/shop\" is taken on this host only; a run on another host is not kept out"
no_secret
[ -e "$T/host-f/locks/db_shop.lock" ] || fail "no lock file on this host: $(ls -R "$T/host-f" | head)"
expect_eq "$(cat "$T/f/written")" "mark fay
after fay" "what the offline run wrote"
end_case

finish
