#!/usr/bin/env bash
# sqlite.* primitives on real SQLite files made with the sqlite3 shell.
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases/sqlite"

make_db() {
    rm -f "$1"
    sqlite3 "$1" <<'SQL'
PRAGMA foreign_keys=ON;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER REFERENCES customers(id), total REAL);
CREATE INDEX orders_customer ON orders(customer);
INSERT INTO customers VALUES (1, 'ada'), (2, 'bob');
INSERT INTO orders VALUES (1, 1, 9.5), (2, 2, 3.0), (3, 1, 12.25);
SQL
}

test_case "a healthy database: health, integrity, query, counts, fingerprint"
make_db "$T/app.db"
run_rune run "$C/checks.yaml" --set db="$T/app.db"
expect_rc 0
expect_out "no incident"
expect_eq "$(out health table_count) $(out health tables)" '2 ["customers","orders"]'
expect_eq "$(out integrity ok)" "1"
expect_eq "$(out orders value)" "2" "query with a bound parameter"
expect_eq "$(out counts ok)" "1"
expect_eq "$(out print tables.orders.rows)" "3"
end_case

test_case "a missing database is unhealthy and is not created"
run_rune run "$C/checks.yaml" --set db="$T/missing.db"
expect_rc 0
expect_eq "$(step_status "$(last_incident)" health)" "failed"
expect_eq "$(out health exists)" "0"
[ ! -e "$T/missing.db" ] || fail "the health check created the database"
expect_eq "$(step_status "$(last_incident)" note)" "ok" "incident declared, mitigation ran"
end_case

test_case "row counts off: a per-table diff"
make_db "$T/app.db"
run_rune run "$C/checks.yaml" --set db="$T/app.db" --set expected_orders=5
expect_eq "$(out counts mismatches)" "1"
expect_eq "$(sql "select json_extract(detail_json,'\$.outputs.diff[0].diff') from events where incident_id='$(last_incident)' and step='counts' and kind='step.end'")" "-2" "orders diff"
expect_out "orders has 3 rows, expected 5"
end_case

test_case "a corrupted page and a foreign-key violation are found"
make_db "$T/bad.db"
sqlite3 "$T/bad.db" "PRAGMA foreign_keys=OFF; INSERT INTO orders VALUES (4, 99, 1.0);"
run_rune run "$C/checks.yaml" --set db="$T/bad.db" --set expected_orders=4
expect_eq "$(out integrity foreign_key_violations[0].table)" "orders"
expect_out "violating foreign keys"
# overwrite the index's page (page 4) with garbage
make_db "$T/corrupt.db"
printf 'garbage%.0s' $(seq 400) | dd of="$T/corrupt.db" bs=4096 seek=3 conv=notrunc status=none
run_rune run "$C/checks.yaml" --set db="$T/corrupt.db"
expect_eq "$(step_status "$(last_incident)" integrity)" "failed"
[ "$(out integrity problem_count)" -ge 1 ] 2>/dev/null || fail "no integrity problems reported"
end_case

test_case "the fingerprint ignores row order but sees content and duplicates"
sqlite3 "$T/f1.db" "CREATE TABLE t(a,b); INSERT INTO t VALUES (1,'x'),(2,'y'),(3,'z');"
sqlite3 "$T/f2.db" "CREATE TABLE t(a,b); INSERT INTO t VALUES (3,'z'),(1,'x'),(2,'y');"
sqlite3 "$T/f3.db" "CREATE TABLE t(a,b); INSERT INTO t VALUES (1,'x'),(2,'y'),(3,'Z');"
sqlite3 "$T/f4.db" "CREATE TABLE t(a,b); INSERT INTO t VALUES (1,'x'),(1,'x'),(2,'y'),(2,'y');"
sqlite3 "$T/f5.db" "CREATE TABLE t(a,b); INSERT INTO t VALUES (1,'x'),(2,'y');"
cat > "$T/fp.yaml" <<'YAML'
runbook: fp
inputs: { db: { type: path, required: true } }
detection:
  steps:
    - { id: print, uses: sqlite.fingerprint, with: { path: "${inputs.db}" } }
YAML
for i in 1 2 3 4 5; do run_rune run "$T/fp.yaml" --set db="$T/f$i.db"; eval "h$i=\$(out print tables.t.hash)"; done
expect_eq "$h1" "$h2" "same rows in another order"
[ "$h1" != "$h3" ] || fail "a changed value did not change the hash"
[ "$h4" != "$h5" ] || fail "duplicated rows did not change the hash"
[ ${#h1} = 64 ] || fail "hash is not 64 hex characters: $h1"
end_case

test_case "sqlite.query is read-only"
make_db "$T/app.db"
cat > "$T/w.yaml" <<'YAML'
runbook: w
inputs: { db: { type: path, required: true } }
mitigation:
  steps:
    - { id: w, uses: sqlite.query, with: { path: "${inputs.db}", sql: "DELETE FROM orders" } }
YAML
run_rune run "$T/w.yaml" --set db="$T/app.db"
expect_rc 4
expect_out "readonly"
expect_eq "$(sqlite3 "$T/app.db" 'select count(*) from orders')" "3" "rows survived"
end_case

test_case "locks: a writer holding the lock is seen, with its pid; stress test passes"
make_db "$T/app.db"
sqlite3 "$T/app.db" "PRAGMA journal_mode=WAL;" >/dev/null
# the writer holds the lock until the check is over, not for a fixed time a
# slow machine could outlast
hold_sqlite_write "$T/app.db"
cat > "$T/l.yaml" <<'YAML'
runbook: l
inputs: { db: { type: path, required: true } }
detection:
  steps:
    - { id: locks, uses: sqlite.locks, with: { path: "${inputs.db}", samples: 2, window: 100ms } }
YAML
run_rune run "$T/l.yaml" --set db="$T/app.db"
expect_eq "$(out locks locked) $(out locks lock) $(out locks journal_mode)" "1 write wal"
sql "select detail_json from events where incident_id='$(last_incident)' and step='locks' and kind='step.end'" | grep -q '"command":"sqlite3"' || fail "the holder was not named"
release_sqlite_write
run_rune run "$C/locks.yaml" --set db="$T/app.db"
expect_rc 0
expect_eq "$(out locks locked)" "0"
expect_eq "$(out stress succeeded) $(out stress corruption) $(out stress level)" "200 0 acceptable"
expect_eq "$(sqlite3 "$T/app.db" "select count(*) from sqlite_schema where name='rune_stress'")" "0" "scratch table dropped"
end_case

finish
