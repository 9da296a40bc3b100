#!/usr/bin/env bash
# pg.* primitives against a real PostgreSQL 15 cluster: targets, ping and
# waiting, typed queries (read-only unless pg.exec), assertions, sessions
# and terminating them, row counts, fingerprints and compare, passwords
# from secrets that never reach the console or the log.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
C="$RUNE_SOURCE_DIR/tests/pg/cases"

err_of() { sql "select json_extract(detail_json,'\$.error') from events where incident_id='$(last_incident)' and step='$1' and kind='step.end'"; }

pg_start
pg_createdb app
pg_psql -d app <<'SQL' || fail "setup"
create table people (id int primary key, name text, balance numeric(10,2), vip boolean, payload jsonb);
insert into people values (1, 'ada', 12.50, true, '{"k": [1, 2]}'), (2, 'bob', 0, false, null), (3, 'cy', 7, false, '{}');
create table pets (id int primary key, owner int references people(id), name text);
insert into pets values (1, 1, 'rex'), (2, 3, 'tom');
SQL

test_case "ping, wait_ready, a typed query, an assertion, counts and a fingerprint"
run_rune run "$C/pg_basics.yaml" --set db=app
expect_rc 0
expect_eq "$(out ping reachable)" "1" "reachable"
case "$(out ping server_version)" in 15.*) ;; *) fail "server_version: $(out ping server_version)" ;; esac
expect_eq "$(out ready attempts)" "1" "ready at once"
expect_eq "$(out query row_count)" "2"
expect_eq "$(out query 'rows[0].name')" "ada"
expect_eq "$(out query 'rows[0].vip')" "1" "a boolean stays a boolean"
expect_eq "$(out query 'rows[0].balance')" "12.5" "numeric as a number"
expect_eq "$(out query 'rows[0].payload.k[1]')" "2" "jsonb as JSON"
expect_eq "$(sql "select json_type(detail_json,'\$.outputs.rows[1].payload') from events where step='query' and kind='step.end' and incident_id='$(last_incident)'")" "null"
expect_eq "$(out counts ok)" "1"
expect_eq "$(out fp table_count)" "2"
expect_eq "$(out fp 'tables.people.rows')" "3"
end_case

test_case "pg.query refuses to write; pg.assert says what it got"
cat > "$T/w.yaml" <<'YAML'
runbook: w
detection:
  steps:
    - { id: q, uses: pg.query, on_failure: continue, with: { database: app, sql: "delete from people" } }
    - { id: a, uses: pg.assert, on_failure: continue, with: { database: app, sql: "select count(*) from people", expect: 4, message: "people went missing" } }
YAML
run_rune run "$T/w.yaml"
expect_rc 0
case "$(err_of q)" in *"read-only transaction"*) ;; *) fail "q error: $(err_of q)" ;; esac
expect_eq "$(pg_sql "select count(*) from people" app)" "3" "nothing deleted"
expect_eq "$(err_of a)" "people went missing: expected 4, got 3"
end_case

test_case "verify_counts: a tolerance, a wrong count and a missing table"
cat > "$T/c.yaml" <<'YAML'
runbook: c
detection:
  steps:
    - { id: near, uses: pg.verify_counts, with: { database: app, expected: { people: 4 }, tolerance: 1 } }
    - { id: off, uses: pg.verify_counts, on_failure: continue, with: { database: app, expected: { people: 5, pets: 2, ghosts: 0 } } }
YAML
run_rune run "$T/c.yaml"
expect_rc 0
expect_eq "$(out near ok)" "1"
expect_eq "$(out off mismatches)" "2"
expect_eq "$(out off 'diff[2].actual')" "-1" "a missing table"
case "$(err_of off)" in "2 tables of database app on "*" differ from the expected counts; first: people has 3 rows, expected 5 (the diff output lists every table)") ;; *) fail "off: $(err_of off)" ;; esac
end_case

test_case "the fingerprint ignores row order and physical layout, and sees one changed value"
pg_psql -d app <<'SQL' || fail "copies"
create table a as select g as id, md5(g::text) as v from generate_series(1, 500) g;
create table b as select * from a order by id desc;
SQL
cat > "$T/f.yaml" <<'YAML'
runbook: f
detection:
  steps:
    - { id: fp, uses: pg.fingerprint, with: { database: app, tables: [a, b, public.people] } }
YAML
run_rune run "$T/f.yaml"
expect_rc 0
expect_eq "$(out fp 'tables.a.hash')" "$(out fp 'tables.b.hash')" "same rows, other order"
[ -n "$(out fp 'tables."public.people".hash')" ] || fail "schema-qualified name"
pg_sql "update b set v = 'x' where id = 250" app >/dev/null
run_rune run "$T/f.yaml"
[ "$(out fp 'tables.a.hash')" != "$(out fp 'tables.b.hash')" ] || fail "a changed value went unseen"
end_case

test_case "pg.compare passes an unchanged database and names the one changed table"
pg_sql "drop table a, b" app >/dev/null
run_rune run "$C/pg_compare.yaml" --set db=app
expect_rc 0
expect_eq "$(out compare ok)" "1"
run_rune run "$C/pg_compare.yaml" --set db=app --set change="update pets set name = 'rexy' where id = 1"
expect_rc 4
expect_eq "$(out compare differ)" '["pets"]'
expect_out "1 table differs from the reference: pets"
end_case

test_case "connections are listed, then terminated; rune's own session is not counted"
pg_createdb busy
( pg_psql -d busy -c "select pg_sleep(60)" >/dev/null 2>&1 ) & s1=$!
( pg_psql -d busy -c "select pg_sleep(60)" >/dev/null 2>&1 ) & s2=$!
# both sessions connected and running their query (a session still
# logging in is not yet active): 60 s at most
busy2() { [ "$(pg_sql "select count(*) from pg_stat_activity where datname='busy' and state='active' and query like '%pg_sleep%'")" = 2 ]; }
for i in $(seq 1 600); do busy2 && break; sleep 0.1; done
busy2 || fail "the two sessions never both ran their query"
run_rune run "$C/pg_sessions.yaml" --set db=busy
expect_rc 0
expect_eq "$(out sessions total)" "2"
expect_eq "$(out sessions by_state.active)" "2"
expect_eq "$(out kick before)" "2"
expect_eq "$(out kick terminated)" "2"
expect_eq "$(out kick after)" "0"
wait "$s1" "$s2" 2>/dev/null
# a terminated backend leaves pg_stat_activity as it exits, just after
# its client saw the connection close: a moment (30 s at most) to go
for i in $(seq 1 300); do [ "$(pg_sql "select count(*) from pg_stat_activity where datname='busy'")" = 0 ] && break; sleep 0.1; done
expect_eq "$(pg_sql "select count(*) from pg_stat_activity where datname='busy'")" "0" "sessions left"
end_case

test_case "a password from a secret works over TCP and is never shown or recorded"
PW="s3cr3t-$RANDOM-pass"
pg_add_password_role alice "$PW"
TEST_PG_PASSWORD=$PW run_rune run "$C/pg_password.yaml" --set conninfo="$(pg_tcp_conninfo alice app)"
expect_rc 0
expect_eq "$(out who 'rows[0].me')" "alice"
expect_eq "$(out who 'rows[0].addr')" "127.0.0.1/32" "really over TCP"
TEST_PG_PASSWORD="wrong-$PW" run_rune run "$C/pg_password.yaml" --set conninfo="$(pg_tcp_conninfo alice app)"
expect_rc 4
expect_out "password authentication failed"
expect_no "$PW"
for f in "$T/out" "$T/err"; do grep -q -- "$PW" "$f" && fail "password in $f"; done
[ "$(sqlite3 "$RUNE_LOG" .dump | grep -c -- "$PW")" = 0 ] || fail "password in the incident log"
end_case

test_case "an unreachable server: ping says so at once, wait_ready gives up after its timeout"
port=$(dead_port)   # (not pick_port: no other test's server may start there)
run_rune run "$C/pg_unreachable.yaml" --set port="$port"
expect_rc 4
expect_eq "$(out ping status)" "no_response"
case "$(err_of ping)" in *"nothing answers"*) ;; *) fail "ping: $(err_of ping)" ;; esac
case "$(err_of wait)" in "PostgreSQL not ready after "*) ;; *) fail "wait: $(err_of wait)" ;; esac
end_case

test_case "a target naming an undeclared input or a wrong field stops before anything runs"
cat > "$T/bad.yaml" <<'YAML'
runbook: bad
inputs: { port: { type: int, default: 5432 } }
targets:
  db: { kind: postgres, port: "${inputs.port}", connect_timeout: soon }
detection:
  steps:
    - { id: ping, uses: pg.ping, with: { target: db } }
YAML
run_rune run "$T/bad.yaml"
expect_rc 2
expect_err "bad.yaml:4:66: error: target \"db\": field \"connect_timeout\": expected a duration"
expect_no "incident"
# a value only known at run time is checked when the run starts, still
# before any step
sed -i 's/connect_timeout: soon/connect_timeout: "${inputs.port}x"/' "$T/bad.yaml"
run_rune run "$T/bad.yaml"
expect_rc 2
expect_err "bad.yaml:4:66: error: target \"db\": field \"connect_timeout\": expected a duration"
expect_err "nothing was run"
expect_no "incident"
end_case

finish
