#!/usr/bin/env bash
# The harness for physical recovery and what sits in front, tested on its
# own: a primary that archives its WAL, a streaming standby cloned from it
# with pg_basebackup -R, a real pgBouncer in transaction pooling mode, and
# a local nginx for HTTP health checks — each starts, works, and is gone
# once the test ends, even when the test shell is SIGKILLed.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_replication.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_pgbouncer.sh"
. "$RUNE_SOURCE_DIR/tests/lib/http.sh"

owner() { stat -c %U "/proc/$1"; }

test_case "a primary with WAL archiving and a streaming standby cloned from it"
pg_start_primary primary
pg_sql "create table marks (id int primary key, note text)"
pg_sql "insert into marks values (1, 'before the clone')"
primary_port=$PG_PORT
pg_start_standby standby primary
[ "$PG_NAME" = standby ] || fail "the standby is not current"
[ "$PG_PORT" != "$primary_port" ] || fail "standby and primary share port $PG_PORT"
[ "$PG_SOCKDIR" != "${_PG_SOCK[primary]}" ] || fail "standby and primary share a socket directory"
expect_eq "$(pg_sql "select pg_is_in_recovery()")" "t" "standby in recovery"
expect_eq "$(pg_sql "select status from pg_stat_wal_receiver")" "streaming" "WAL receiver"
expect_eq "$(pg_sql "select note from marks")" "before the clone" "cloned row"
[ -f "$PG_DATA/standby.signal" ] || fail "no standby.signal (pg_basebackup -R)"
pg_use primary
expect_eq "$(pg_sql "select slot_name || ' ' || active from pg_replication_slots")" "standby true" "slot"
expect_eq "$(pg_sql "select state from pg_stat_replication")" "streaming" "primary's view"
pg_sql "insert into marks values (2, 'written on the primary')"
pg_wait_replayed standby
pg_use standby
expect_eq "$(pg_sql "select note from marks where id = 2")" "written on the primary" "row on the standby"
out=$(pg_sql "insert into marks values (3, 'x')" 2>&1) && fail "the standby accepted a write"
case "$out" in *"read-only transaction"*) ;; *) fail "write on the standby: $out" ;; esac
if [ "$(id -u)" = 0 ]; then
    expect_eq "$(owner "$(head -1 "$PG_DATA/postmaster.pid")")" rune-pg "standby's OS user"
fi
end_case

test_case "a finished WAL segment reaches the archive, whole, under its own name"
pg_use primary
pg_sql "insert into marks values (4, 'in the segment')"
seg=$(pg_switch_wal primary)
case "$seg" in 0000000100000000000000[0-9A-F][0-9A-F]) ;; *) fail "segment name: $seg" ;; esac
pg_wait_archived "$seg" primary
expect_eq "$(stat -c %s "$PG_ARCHIVE/$seg")" 16777216 "archived segment size"
expect_eq "$(find "$PG_ARCHIVE" -name '*.tmp' | wc -l)" 0 "temporary files left in the archive"
expect_eq "$(stat -c %a "$PG_ARCHIVE")" 700 "archive mode"
[ "$(id -u)" = 0 ] && expect_eq "$(stat -c %U "$PG_ARCHIVE")" rune-pg "archive owner"
expect_eq "$(pg_sql "select failed_count from pg_stat_archiver")" 0 "archiver failures"
expect_eq "$(pg_archive_restore_command primary)" "cp $PG_ARCHIVE/%f %p" "restore_command"
# the archive_command never overwrites: a second copy of a segment fails
(cd "${_PG_DIR[primary]}/data" && _pg_as_user sh -c \
    "test ! -f $PG_ARCHIVE/$seg && cp pg_wal/$seg $PG_ARCHIVE/$seg.tmp") &&
    fail "the archive_command would overwrite $seg"
end_case

test_case "pgBouncer in transaction mode passes queries to the cluster, with passwords"
pg_use primary
pgb_start
expect_eq "$(pgb_sql "select current_setting('port') || ' ' || count(*) from marks")" \
    "$primary_port 3" "a query through pgBouncer"
expect_eq "$(pgb_show_field POOLS postgres pool_mode)" transaction "pool mode"
expect_eq "$(pgb_show_field DATABASES postgres port)" "$primary_port" "pgBouncer's database entry"
expect_eq "$(pgb_paused postgres)" 0 "paused flag"
out=$(PGPASSWORD=wrong "$PG_BIN/psql" -X -w -h 127.0.0.1 -p "$PGB_PORT" -U postgres -d postgres \
        -c "select 1" 2>&1) && fail "a wrong password was accepted"
case "$out" in *"authentication failed"*) ;; *) fail "wrong password: $out" ;; esac
out=$(PGPASSWORD=$PGB_PASSWORD "$PG_BIN/psql" -X -w -h 127.0.0.1 -p "$PGB_PORT" -U postgres \
        -d pgbouncer -c "show pools" 2>&1) && fail "a non-admin user reached the console"
pgb_env
expect_eq "$("$PG_BIN/psql" -X -A -t -c "select 1")" 1 "libpq's environment goes through pgBouncer"
pgb_env_off
expect_eq "$PGHOST" "${_PG_SOCK[primary]}" "PGHOST after pgb_env_off"
[ "$(id -u)" = 0 ] && expect_eq "$(owner "$(svc_pid pgbouncer)")" rune-pg "pgBouncer's OS user"
end_case

test_case "nginx serves fixed statuses and bodies; /hang never answers; https wants its CA"
http_start
expect_eq "$(curl -sS -o /dev/null -w '%{http_code}' "$HTTP_URL/ok")" 200 "/ok status"
expect_eq "$(curl -sS "$HTTP_URL/ok")" '{"status":"ok","checks":{"db":"up","cache":"up"},"version":3}' "/ok body"
expect_eq "$(curl -sS -o /dev/null -w '%{http_code}' "$HTTP_URL/degraded")" 503 "/degraded status"
expect_eq "$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "$HTTP_URL/redirect")" \
    "302 $HTTP_URL/ok" "/redirect"
expect_eq "$(curl -sS -X POST "$HTTP_URL/method")" POST "/method"
expect_eq "$(curl -sS "$HTTP_URL/auth")" unauthorized "/auth without a token"
expect_eq "$(curl -sS -H "Authorization: Bearer $HTTP_TOKEN" "$HTTP_URL/auth")" authorized "/auth"
echo "a file" >"$HTTP_WWW/f.txt"
expect_eq "$(curl -sS "$HTTP_URL/files/f.txt")" "a file" "/files/"
curl -sS -m 1 "$HTTP_URL/hang" >/dev/null 2>&1
expect_eq "$?" 28 "curl's exit on /hang (28: timed out)"
expect_eq "$(curl -sS --cacert "$HTTP_CA" "$HTTPS_URL/text")" "all systems go" "https with its CA"
curl -sS "$HTTPS_URL/text" >/dev/null 2>&1
expect_eq "$?" 60 "curl's exit on https without the CA (60: certificate not trusted)"
[ "$(id -u)" = 0 ] && expect_eq "$(owner "$(svc_pid nginx)")" rune-pg "nginx's OS user"
end_case

# ---- teardown: a child test starts everything and ends in some way ----

CLILIB="$RUNE_SOURCE_DIR/tests/cli/lib.sh"
child() {
    printf '. %q\n' "$CLILIB" "$RUNE_SOURCE_DIR/tests/pg/lib.sh" \
        "$RUNE_SOURCE_DIR/tests/pg/lib_replication.sh" "$RUNE_SOURCE_DIR/tests/pg/lib_pgbouncer.sh" \
        "$RUNE_SOURCE_DIR/tests/lib/http.sh" >"$T/$1.sh"
    cat >>"$T/$1.sh" <<EOF
pg_start_primary p
pg_start_standby s p
pg_use p
pgb_start
http_start
{ head -1 "\${_PG_DIR[p]}/data/postmaster.pid"; head -1 "\${_PG_DIR[s]}/data/postmaster.pid"
  svc_pid pgbouncer; svc_pid nginx; } >$T/$1.pids
test_case x
$2
EOF
}

# gone PID — true once PID has exited (waits up to 20 s: the watchdog
# notices a killed shell within a second, then stops each daemon).
gone() {
    local i
    for ((i = 0; i < 100; i++)); do
        proc_alive "$1" || return 0
        sleep 0.2
    done
    return 1
}

teardown_child() {
    child "$1" "$2"
    mkdir -p "$T/tmp-$1"
    { TMPDIR="$T/tmp-$1" bash "$T/$1.sh" </dev/null >"$T/$1.out" 2>"$T/$1.err"; } 2>/dev/null
    RC=$?
    local pid n=0
    [ -s "$T/$1.pids" ] || { fail "$1: nothing started"; cat "$T/$1.err" >&2; return; }
    while read -r pid; do
        n=$((n + 1))
        gone "$pid" || fail "$1: process $pid ($(cat "/proc/$pid/cmdline" 2>/dev/null | tr '\0' ' ')) left running"
    done <"$T/$1.pids"
    expect_eq "$n" 4 "$1: processes started"
}

test_case "a missing pgBouncer or nginx fails the test, naming the package"
for what in "RUNE_PGBOUNCER pgb_start pgbouncer" "RUNE_NGINX http_start nginx-light"; do
    set -- $what
    printf '. %q\n' "$CLILIB" "$RUNE_SOURCE_DIR/tests/pg/lib.sh" \
        "$RUNE_SOURCE_DIR/tests/pg/lib_pgbouncer.sh" "$RUNE_SOURCE_DIR/tests/lib/http.sh" >"$T/missing.sh"
    printf 'pg_start\n%s\ntest_case x; end_case; finish\n' "$2" >>"$T/missing.sh"
    env "$1=/nonexistent/$3" bash "$T/missing.sh" </dev/null >"$T/missing.out" 2>"$T/missing.err"
    rc=$?
    [ "$rc" != 0 ] || fail "$3 missing: exit 0"
    grep -q "install the Debian package $3" "$T/missing.err" || fail "$3 missing: $(cat "$T/missing.err")"
    grep -q "^ok" "$T/missing.out" && fail "$3 missing: a case passed"
done
end_case

test_case "primary, standby, pgBouncer and nginx stop however the test ends"
teardown_child passed 'end_case; finish'
expect_eq "$RC" 0 "passing child's exit"
teardown_child failed 'fail boom; end_case; finish'
expect_eq "$RC" 1 "failing child's exit"
teardown_child killed 'kill -KILL $$'
expect_eq "$RC" 137 "SIGKILLed child's exit"
end_case

finish
