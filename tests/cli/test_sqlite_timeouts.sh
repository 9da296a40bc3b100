#!/usr/bin/env bash
# A sqlite.* step stopped by its timeout reports `timeout`, never ok, and
# says what it left undone (issue 21, item 3: sqlite.query used to end ok
# with a partial result marked truncated: false).
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases/sqlite"

test_case "sqlite.query, sqlite.locks and sqlite.stress end timeout at their timeout"
sqlite3 "$T/app.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
# bounded, in case a step ignores its timeout (the slowest query ends by
# itself well within this)
timeout 300 "$RUNE" run "$C/timeouts.yaml" --set db="$T/app.db" </dev/null >"$T/out" 2>"$T/err"
RC=$?
OUT=1
expect_rc 0 # each step continues on failure: the statuses are the point
id=$(last_incident)
for s in slow_rows no_rows locks stress; do
    expect_eq "$(step_status "$id" $s)" "timeout" "status of $s"
done
expect_eq "$(out slow_rows truncated)" "1" "a partial result says it is one"
expect_eq "$(out no_rows truncated)" "1" "a partial result says it is one"
expect_out "timed out after 0 rows; the query did not finish"
expect_out "timed out after 1 of 100 lock probes"
expect_out "timed out while the writers ran"
# the scratch table of the stress test is dropped all the same
expect_eq "$(sqlite3 "$T/app.db" "select count(*) from sqlite_schema where name='rune_stress'")" "0" "stress table left behind"
end_case

finish
