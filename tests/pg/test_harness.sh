#!/usr/bin/env bash
# The PostgreSQL test harness's own test: real PostgreSQL 15 servers start,
# run side by side, load data, require passwords over TCP, stop, and are
# always cleaned up — and a server that cannot start fails the test.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"

PGLIB="$RUNE_SOURCE_DIR/tests/pg/lib.sh"
CLILIB="$RUNE_SOURCE_DIR/tests/cli/lib.sh"

# child NAME BODY — writes a test script that sources both libraries and
# runs BODY; `run_child NAME` runs it (stdout/stderr in $T/NAME.out/.err)
# with its temp dir under $T/tmp-NAME, which must be left empty.
child() {
    printf '. %q\n. %q\n%s\n' "$CLILIB" "$PGLIB" "$2" >"$T/$1.sh"
}
run_child() {
    mkdir -p "$T/tmp-$1"
    { TMPDIR="$T/tmp-$1" bash "$T/$1.sh" </dev/null >"$T/$1.out" 2>"$T/$1.err"; } 2>/dev/null
    RC=$?
}
# child_left NAME — fails if the child left files in its temp dir.
child_left() {
    local left
    left=$(find "$T/tmp-$1" -mindepth 1 2>/dev/null | head -5)
    [ -z "$left" ] || fail "$1 left behind: $left"
}
show_child() {
    echo "---- $1 stdout" >&2; cat "$T/$1.out" >&2
    echo "---- $1 stderr" >&2; cat "$T/$1.err" >&2
}

# gone PID [SECONDS] — true once PID has exited (waits up to SECONDS).
gone() {
    local i
    for ((i = 0; i < ${2:-1} * 5; i++)); do
        proc_alive "$1" || return 0
        sleep 0.2
    done
    ! proc_alive "$1"
}

test_case "a cluster starts and answers with PostgreSQL 15"
t0=$SECONDS
pg_start
v=$(pg_sql "select version()")
case "$v" in "PostgreSQL 15."*) ;; *) fail "version: $v" ;; esac
expect_eq "$(pg_sql "show server_version_num" | cut -c1-2)" "15" "server_version_num"
expect_eq "$PGHOST" "$PG_SOCKDIR" "PGHOST"
expect_eq "$PGPORT" "$PG_PORT" "PGPORT"
expect_eq "$PGUSER" "postgres" "PGUSER"
expect_eq "$PGDATABASE" "postgres" "PGDATABASE"
expect_eq "$PG_BIN" "/usr/lib/postgresql/15/bin" "PG_BIN"
[ -f "$PG_LOG" ] || fail "no server log at $PG_LOG"
[ -d "$PG_DATA" ] || fail "no data directory at $PG_DATA"
sockpath="$PG_SOCKDIR/.s.PGSQL.$PG_PORT"
[ -S "$sockpath" ] || fail "no socket at $sockpath"
[ "${#sockpath}" -lt 107 ] || fail "socket path too long: $sockpath"
expect_eq "$(pg_sql "select current_setting('fsync') || current_setting('listen_addresses') || current_setting('max_connections')")" \
    "off127.0.0.150" "settings"
expect_eq "$(pg_sql "show data_directory")" "$PG_DATA" "data_directory"
pm=$(head -1 "$PG_DATA/postmaster.pid")
if [ "$(id -u)" = 0 ]; then
    expect_eq "$(stat -c %U "/proc/$pm")" "rune-pg" "server's OS user"
fi
"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || fail "not reachable over TCP"
echo "     (start took $((SECONDS - t0))s)"
end_case

test_case "two clusters run at once on different ports"
pg_start other
[ "$PG_NAME" = other ] || fail "the new cluster is not current"
other_port=$PG_PORT
pg_use main
main_port=$PG_PORT
[ "$main_port" != "$other_port" ] || fail "both on port $main_port"
[ "$PGPORT" = "$main_port" ] || fail "pg_use main did not export its port"
pg_sql "create table only_in_main (x int)" >/dev/null || fail "create table"
pg_use other
expect_eq "$PGPORT" "$other_port" "PGPORT after pg_use other"
expect_eq "$(pg_sql "select count(*) from pg_tables where tablename = 'only_in_main'")" "0" "other sees main's table"
pg_use main
expect_eq "$(pg_sql "select count(*) from pg_tables where tablename = 'only_in_main'")" "1" "main's table"
"$PG_BIN/pg_isready" -q -h "${_PG_SOCK[other]}" -p "$other_port" || fail "other not ready"
end_case

test_case "the realistic data set loads at a small scale"
t0=$SECONDS
pg_createdb shop
pg_load "$RUNE_SOURCE_DIR/tests/pg/data/realistic.sql" shop -v scale=0.01
echo "     (createdb + load at scale 0.01 took $((SECONDS - t0))s)"
expect_eq "$(pg_sql "select string_agg(tablename, ',' order by tablename) from pg_tables where schemaname = 'public'" shop)" \
    "attachments,customers,events,order_items,orders,products" "tables"
for tbl in customers products orders order_items events attachments; do
    n=$(pg_sql "select count(*) from $tbl" shop)
    [ "${n:-0}" -gt 0 ] 2>/dev/null || fail "$tbl has '$n' rows"
done
expect_eq "$(pg_sql "select count(*) from customers" shop)" "400" "customers at scale 0.01"
expect_eq "$(pg_sql "select count(*) from orders" shop)" "2500" "orders at scale 0.01"
expect_eq "$(pg_sql "select count(*) from pg_constraint where contype = 'f'" shop)" "5" "foreign keys"
end_case

test_case "password auth over TCP: required, right one works, wrong one fails"
pg_add_password_role alice "s3cr'et \"pass\" \\ x"
tcp=$(pg_tcp_conninfo alice)
out=$(PGPASSWORD="s3cr'et \"pass\" \\ x" "$PG_BIN/psql" -X -w -At "$tcp" -c "select current_user || ' ' || inet_server_addr()" 2>&1) ||
    fail "right password rejected: $out"
expect_eq "$out" "alice 127.0.0.1/32" "TCP session"
out=$(PGPASSWORD=wrong "$PG_BIN/psql" -X -w -At "$tcp" -c "select 1" 2>&1) && fail "wrong password accepted"
case "$out" in *"password authentication failed"*) ;; *) fail "wrong password: $out" ;; esac
out=$("$PG_BIN/psql" -X -w -At "$tcp" -c "select 1" 2>&1) && fail "no password accepted"
out=$("$PG_BIN/psql" -X -w -At "$(pg_tcp_conninfo postgres)" -c "select 1" 2>&1) && fail "TCP is trust for postgres"
expect_eq "$(pg_sql "select rolsuper and rolcanlogin from pg_roles where rolname = 'alice'")" "t" "alice's role"
expect_eq "$(pg_sql "select rolpassword like 'SCRAM-SHA-256\$%' from pg_authid where rolname = 'alice'")" "t" "scram verifier"
end_case

test_case "a port taken by another server: pg_start retries elsewhere"
RUNE_PG_PORT=$main_port pg_start busy 2>"$T/busy.err"
[ "$PG_PORT" != "$main_port" ] || fail "busy got main's port"
grep -q "port $main_port of cluster busy was taken; retrying" "$T/busy.err" || fail "no retry: $(cat "$T/busy.err")"
expect_eq "$(pg_sql "select 1")" "1" "busy answers"
pg_use main
expect_eq "$(pg_sql "select count(*) from pg_tables where tablename = 'only_in_main'")" "1" "main unharmed"
end_case

test_case "pg_stop, pg_crash and pg_restart"
pg_use other
pm=$(head -1 "$PG_DATA/postmaster.pid")
pg_stop other
"$PG_BIN/pg_isready" -q -h "$PG_SOCKDIR" -p "$PG_PORT" && fail "other still answers on its socket"
"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && fail "other still answers over TCP"
gone "$pm" || fail "postmaster $pm still running"
pg_running other && fail "pg_running says other runs"
pg_restart other
expect_eq "$(pg_sql "select 1")" "1" "other after restart"
pm=$(head -1 "$PG_DATA/postmaster.pid")
pg_crash other
"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && fail "other answers after pg_crash"
gone "$pm" || fail "postmaster $pm still running after pg_crash"
pg_restart other
expect_eq "$(pg_sql "select 1")" "1" "other after crash recovery"
end_case

test_case "a server that cannot start fails the test, with its log"
child badconf 'test_case x; pg_start bad "shared_buffers = bogus"; end_case; finish'
run_child badconf
[ "$RC" != 0 ] || { fail "exit 0"; show_child badconf; }
grep -q "PostgreSQL cluster bad did not start" "$T/badconf.err" || { fail "no clear message"; show_child badconf; }
grep -q "shared_buffers" "$T/badconf.err" || { fail "no server log tail"; show_child badconf; }
grep -q "^ok" "$T/badconf.out" && fail "a case passed"
child_left badconf
child nobin 'pg_start; test_case x; end_case; finish'
RUNE_PG_BINDIR=/nonexistent/pg/bin run_child nobin
[ "$RC" != 0 ] || { fail "missing binaries: exit 0"; show_child nobin; }
grep -q "PostgreSQL 15 server binaries not found in /nonexistent/pg/bin" "$T/nobin.err" ||
    { fail "missing binaries: no clear message"; show_child nobin; }
child_left nobin
child between 'pg_start; test_case x; end_case; pg_load /nonexistent.sql; test_case y; end_case; finish'
run_child between
[ "$RC" != 0 ] || { fail "a failed pg_load between cases: exit 0"; show_child between; }
child_left between
end_case

# teardown_child NAME HOW — a child test starts a server, ends HOW, and its
# server must be gone afterwards along with its directories.
teardown_child() {
    child "$1" "pg_start; echo \"\$(head -1 \"\$PG_DATA/postmaster.pid\") \$PG_SOCKDIR \$PG_DIR\" >$T/$1.pid
test_case x; $2"
    run_child "$1"
    local pid sock dir
    read -r pid sock dir <"$T/$1.pid" || { fail "$1: no server started"; show_child "$1"; return; }
    gone "$pid" 20 || fail "$1: postmaster $pid left running"
    local i
    # the watchdog removes the socket dir, the cluster dir, then its registry
    for ((i = 0; i < 50; i++)); do
        [ -e "$sock" ] || [ -e "$dir" ] || [ -e "$(dirname "$dir")/.pg-clusters" ] || break
        sleep 0.2
    done
    [ -e "$sock" ] && fail "$1: socket dir $sock left behind"
    [ -e "$dir" ] && fail "$1: cluster dir $dir left behind"
    # after a SIGKILL no trap runs, so tests/cli/lib.sh's $T (empty by now) stays
    [ "$1" = killed ] && rmdir "$T/tmp-$1"/rune-cli.* 2>/dev/null
    child_left "$1"
}

test_case "servers stop however the test ends"
teardown_child passed 'end_case; finish'
expect_eq "$RC" 0 "passing child's exit"
teardown_child failed 'fail boom; end_case; finish'
expect_eq "$RC" 1 "failing child's exit"
teardown_child exited 'exit 3'
expect_eq "$RC" 3 "exiting child's exit"
teardown_child termed 'kill -TERM $$; sleep 5'
expect_eq "$RC" 143 "SIGTERMed child's exit"
teardown_child killed 'kill -KILL $$'
expect_eq "$RC" 137 "SIGKILLed child's exit"
end_case

finish
