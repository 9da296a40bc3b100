#!/usr/bin/env bash
# pg.integrity and pg.maintenance against a real PostgreSQL 15 cluster:
# a clean database passes; orphans behind NOT VALID and bypassed foreign
# keys (multi-column, odd identifiers, MATCH FULL, partitions), CHECK
# violations, duplicates under unique indexes and a corrupted index file are
# found, each once; a role that cannot use amcheck still gets the other
# checks; VACUUM FULL reclaims space only after an approval; REINDEX repairs
# the corrupted index; a timeout cancels the server's query.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
C="$RUNE_SOURCE_DIR/tests/pg/cases"

err_of() { sql "select json_extract(detail_json,'\$.error') from events where incident_id='$(last_incident)' and step='$1' and kind='step.end'"; }
# problem OBJECT FIELD — a field of the integrity problem about OBJECT.
problem() {
    sql "select json_extract(p.value,'\$.$2') from events e, json_each(json_extract(e.detail_json,'\$.outputs.problems')) p
         where e.incident_id='$(last_incident)' and e.step='integrity' and e.kind='step.end'
         and json_extract(p.value,'\$.object')='$1'"
}
integrity() { run_rune run "$C/check_integrity.yaml" --set db="$@"; }

pg_start
pg_createdb app
pg_load "$RUNE_SOURCE_DIR/tests/pg/data/realistic.sql" app -v scale=0.01

test_case "a clean database passes every check, and amcheck leaves no trace"
integrity app
expect_rc 0
expect_eq "$(step_status "$(last_incident)" integrity)" "ok"
expect_eq "$(out integrity ok)" "1"
expect_eq "$(out integrity problem_count)" "0"
expect_eq "$(out integrity checks.foreign_keys)" "5" "foreign keys checked"
expect_eq "$(out integrity checks.unique_indexes)" "8" "unique indexes checked (6 primary keys, 2 unique)"
[ "$(out integrity checks.indexes)" -gt 6 ] 2>/dev/null || fail "indexes: $(out integrity checks.indexes)"
expect_eq "$(out integrity checks.amcheck)" "1" "amcheck ran"
expect_eq "$(out integrity checks.data_checksums)" "0" "the harness's clusters have no checksums"
expect_eq "$(out integrity checksum_failures)" "0"
expect_out "data checksums are off"
expect_eq "$(pg_sql "select count(*) from pg_extension where extname = 'amcheck'" app)" "0" \
    "the temporary amcheck was rolled back"
end_case

pg_sql "create database broken template app" >/dev/null || fail "create broken"
pg_psql -d broken <<'SQL' || fail "setup broken"
-- an orphan that a trigger-less replica session let in behind a valid key
set session_replication_role = replica;
insert into order_items values (999999, 1, 1, 1, 1.00);
reset session_replication_role;
-- a two-column key with identifiers that need quoting, added NOT VALID after the orphan
create table "Region" ("Country" text, code text, primary key ("Country", code));
create table "Shop Sites" (id int primary key, "Country" text, code text);
insert into "Region" values ('fr', '75');
insert into "Shop Sites" values (1, 'fr', '75'), (2, 'de', 'xx'), (3, null, 'zz');
alter table "Shop Sites" add constraint "Shop→Region" foreign key ("Country", code)
    references "Region" not valid;
-- a NOT VALID foreign key that every row satisfies
create table ok_child (id int primary key, customer_id int);
insert into ok_child values (1, 1);
alter table ok_child add constraint ok_child_customer foreign key (customer_id)
    references customers not valid;
SQL

test_case "orphans behind a bypassed and a NOT VALID multi-column foreign key are found"
integrity broken
expect_rc 0
expect_eq "$(step_status "$(last_incident)" integrity)" "failed"
expect_eq "$(out integrity ok)" "0"
expect_eq "$(out integrity problem_count)" "2"
expect_eq "$(out integrity checks.foreign_keys)" "7"
expect_eq "$(problem order_items_order_id_fkey check)" "foreign_key"
expect_eq "$(problem order_items_order_id_fkey count)" "1" "bypassed key's orphans"
expect_eq "$(problem order_items_order_id_fkey table)" "order_items"
expect_eq "$(problem order_items_order_id_fkey 'sample[0].order_id')" "999999" "orphan's key"
expect_eq "$(problem 'Shop→Region' count)" "1" "two-column key: the null row is no orphan"
expect_eq "$(problem 'Shop→Region' 'sample[0].Country')$(problem 'Shop→Region' 'sample[0].code')" "dexx"
case "$(problem 'Shop→Region' detail)" in
    *"Shop Sites (Country, code) with no match in Region (Country, code); the constraint is NOT VALID") ;;
    *) fail "detail: $(problem 'Shop→Region' detail)" ;;
esac
expect_eq "$(out integrity 'not_valid[0].constraint') $(out integrity 'not_valid[0].violations')" "Shop→Region 1"
expect_eq "$(out integrity 'not_valid[1].constraint') $(out integrity 'not_valid[1].violations')" "ok_child_customer 0"
case "$(err_of integrity)" in
    "database broken has 2 integrity problems: foreign key Shop→Region: 1 row of "*"; repair or restore"*) ;;
    *) fail "error: $(err_of integrity)" ;;
esac
end_case

test_case "rows violating a NOT VALID CHECK constraint are found; valid ones that hold are not"
pg_psql -d broken <<'SQL' || fail "setup check"
update products set price = -1 where id in (1, 2);
alter table products add constraint price_positive check (price > 0) not valid;
alter table customers add constraint balance_sane check (balance > -1000000000);
SQL
integrity broken
expect_eq "$(out integrity checks.check_constraints)" "2"
expect_eq "$(problem price_positive check)" "check_constraint"
expect_eq "$(problem price_positive count)" "2"
expect_eq "$(problem price_positive 'sample[1].ctid' | grep -c '^(')" "1" "ctids as evidence"
expect_eq "$(problem balance_sane count)" "" "a holding constraint is no problem"
expect_eq "$(out integrity problem_count)" "3"
# max_problems caps the list, not the count
integrity broken --set max_problems=1
expect_eq "$(out integrity problem_count) $(sql "select json_array_length(json_extract(detail_json,'\$.outputs.problems')) from events where incident_id='$(last_incident)' and step='integrity' and kind='step.end'")" "3 1"
expect_out "and 2 more"
end_case

test_case "duplicates under unique indexes: the table scan and heapallindexed find them"
pg_createdb dup
pg_psql -d dup <<'SQL' || fail "setup dup"
create table u (id int, note text);
insert into u select g, 'n' || g from generate_series(1, 500) g;
create unique index u_id on u (id);
create table nn (a int, b int);
insert into nn values (1, 1), (null, 2), (3, null);
create unique index nn_a on nn (a) nulls not distinct;
create unique index nn_b on nn (b);
insert into nn values (2, null);
create materialized view mv as select id from u where id <= 10;
create unique index mv_id on mv (id);
-- indexes that stop being maintained for a moment: what a bug or a bad
-- restore leaves behind
update pg_index set indisready = false where indexrelid in ('u_id'::regclass, 'nn_a'::regclass);
insert into u values (5, 'again');
insert into nn values (null, 3);
update pg_index set indisready = true where indexrelid in ('u_id'::regclass, 'nn_a'::regclass);
SQL
integrity dup
expect_eq "$(step_status "$(last_incident)" integrity)" "failed"
expect_eq "$(out integrity checks.unique_indexes)" "4"
expect_eq "$(problem u_id check)" "unique"
expect_eq "$(problem u_id count)" "1"
expect_eq "$(problem u_id 'sample[0].id') $(problem u_id 'sample[0].rows')" "5 2"
expect_eq "$(problem nn_a count) $(problem nn_a 'sample[0].a') $(problem nn_a 'sample[0].rows')" "1  2" "NULLS NOT DISTINCT: two nulls"
expect_eq "$(problem nn_b count)" "" "nulls are distinct by default"
expect_eq "$(out integrity problem_count)" "2" "without heapallindexed amcheck sees sound trees"
integrity dup --set heapallindexed=true
expect_eq "$(out integrity checks.heapallindexed)" "1"
expect_eq "$(out integrity problem_count)" "4"
expect_eq "$(sql "select group_concat(json_extract(p.value,'\$.object'), ',') from events e, json_each(json_extract(e.detail_json,'\$.outputs.problems')) p
    where e.incident_id='$(last_incident)' and e.step='integrity' and e.kind='step.end'
    and json_extract(p.value,'\$.check')='index'
    and json_extract(p.value,'\$.detail') like '%heap tuple%lacks matching index tuple%'")" "nn_a,u_id" "amcheck heapallindexed"
end_case

test_case "amcheck finds an index whose file was overwritten; REINDEX repairs it"
pg_createdb idx
pg_psql -d idx <<'SQL' || fail "setup idx"
create table t (id int primary key, v text);
insert into t select g, md5(g::text) from generate_series(1, 5000) g;
create index t_v on t (v);
SQL
file=$(pg_sql "select pg_relation_filepath('t_v')" idx)
pages=$(pg_sql "select pg_relation_size('t_v') / 8192" idx)
[ "${pages:-0}" -ge 3 ] 2>/dev/null || fail "t_v has only '$pages' pages"
pg_stop
# block 1, a leaf; block 0 (the metapage) stays: the planner reads it
printf 'corrupt!%.0s' $(seq 1024) | dd of="$PG_DATA/$file" bs=8192 seek=1 count=1 conv=notrunc status=none ||
    fail "cannot overwrite $PG_DATA/$file"
pg_restart
integrity idx
expect_eq "$(step_status "$(last_incident)" integrity)" "failed"
expect_eq "$(out integrity problem_count)" "1"
expect_eq "$(problem t_v check) $(problem t_v table)" "index t"
case "$(problem t_v detail)" in *"invalid page in block 1"*) ;; *) fail "detail: $(problem t_v detail)" ;; esac
case "$(err_of integrity)" in *"index t_v: invalid page in block 1"*) ;; *) fail "error: $(err_of integrity)" ;; esac
expect_eq "$(out integrity checks.unique_indexes)" "1" "the other checks ran too"
run_rune run "$C/check_maintenance.yaml" --set db=idx --set actions='[reindex]' --set tables='[t]' --yes
expect_rc 0
expect_eq "$(out maintain 'actions[0].statements[0]')" 'REINDEX TABLE public.t'
integrity idx
expect_eq "$(out integrity ok)" "1" "healthy after REINDEX"
run_rune run "$C/check_maintenance.yaml" --set db=idx --set actions='[reindex]' --yes
expect_rc 0
expect_eq "$(out maintain 'actions[0].statements[0]')" 'REINDEX DATABASE "idx"' "the seed's whole-database form"
end_case

test_case "partitions, inheritance, MATCH FULL: each row checked once, against the right constraint"
pg_createdb parts
pg_psql -d parts <<'SQL' || fail "setup parts"
create table acct (id int primary key);
insert into acct select generate_series(1, 10);
-- a foreign key on a partitioned table: PostgreSQL copies it to each partition
create table ev (id int check (id > 0), acct_id int references acct, at date not null)
    partition by range (at);
create table ev_2024 partition of ev for values from ('2024-01-01') to ('2025-01-01');
create table ev_2025 partition of ev for values from ('2025-01-01') to ('2026-01-01');
create unique index ev_id_at on ev (id, at);
insert into ev values (1, 1, '2024-05-01'), (2, 2, '2025-05-01');
set session_replication_role = replica;
insert into ev values (3, 99, '2025-06-01');
reset session_replication_role;
-- a foreign key to a partitioned table: one constraint row per referenced partition
create table region (code int, part int, primary key (code, part)) partition by list (part);
create table region_1 partition of region for values in (1);
create table region_2 partition of region for values in (2);
insert into region values (10, 1), (20, 2);
create table site (id int primary key, code int, part int, foreign key (code, part) references region);
insert into site values (1, 10, 1), (2, 20, 2);
-- MATCH FULL: a half-null key is an orphan too (a MATCH SIMPLE one would not be)
create table visit (id int primary key, code int, part int,
    foreign key (code, part) references region match full);
insert into visit values (1, 10, 1), (2, null, null);
set session_replication_role = replica;
insert into visit values (3, null, 2);
reset session_replication_role;
-- inheritance: CHECK constraints are copied to the child, whose rows the parent's scan would see
create table base (id int primary key, v int check (v >= 0));
create table derived (extra text) inherits (base);
insert into base values (1, 1);
insert into derived values (2, 2, 'x');
alter table base add constraint v_small check (v < 2) not valid;
SQL
integrity parts
expect_eq "$(out integrity checks.foreign_keys)" "3" "one per declared key"
expect_eq "$(out integrity checks.check_constraints)" "6" "2 partitions, base and derived twice"
expect_eq "$(out integrity checks.unique_indexes)" "6" "partitioned indexes once, not per partition"
expect_eq "$(out integrity problem_count)" "3"
expect_eq "$(problem visit_code_part_fkey count) $(problem visit_code_part_fkey 'sample[0].part')" "1 2" "MATCH FULL"
expect_eq "$(problem ev_acct_id_fkey count) $(problem ev_acct_id_fkey table)" "1 ev" "the orphan, once"
expect_eq "$(problem v_small count) $(problem v_small table)" "1 derived" "the child's row, once"
expect_eq "$(out integrity checks.amcheck)" "1"
end_case

test_case "a role that may not create extensions: the other checks run, amcheck is a note"
pg_psql -d app <<'SQL' || fail "setup role"
create role checker login;
grant pg_read_all_data to checker;
SQL
integrity app --set user=checker
expect_rc 0
expect_eq "$(step_status "$(last_incident)" integrity)" "ok"
expect_eq "$(out integrity checks.amcheck)" "0"
expect_eq "$(out integrity checks.indexes)" "0"
expect_eq "$(out integrity checks.foreign_keys)" "5" "foreign keys still checked"
expect_eq "$(out integrity checks.unique_indexes)" "8" "unique keys still checked"
case "$(out integrity 'notes[1]')" in
    "amcheck unavailable: cannot create the extension: permission denied to create extension \"amcheck\""*) ;;
    *) fail "note: $(out integrity notes)" ;;
esac
expect_out "amcheck unavailable"
# installed, but its functions are not granted to the role
pg_sql "create extension amcheck" app >/dev/null || fail "create extension"
integrity app --set user=checker
expect_eq "$(out integrity checks.amcheck)" "0"
case "$(out integrity 'notes[1]')" in
    "amcheck unavailable: role checker may not execute public.bt_index_check"*) ;;
    *) fail "note: $(out integrity notes)" ;;
esac
integrity app
expect_eq "$(out integrity checks.amcheck) $(out integrity ok)" "1 1" "installed amcheck, as postgres"
expect_eq "$(pg_sql "select count(*) from pg_extension where extname = 'amcheck'" app)" "1" "an installed amcheck stays"
pg_sql "drop extension amcheck" app >/dev/null
end_case

pg_createdb bloat
pg_psql -d bloat <<'SQL' || fail "setup bloat"
create table bloat (id int primary key, pad text) with (autovacuum_enabled = off);
insert into bloat select g, repeat('x', 200) from generate_series(1, 40000) g;
delete from bloat where id % 10 <> 0;
SQL

test_case "vacuum_full without --yes is refused and changes nothing"
node=$(pg_sql "select pg_relation_filenode('bloat')" bloat)
size=$(pg_sql "select pg_total_relation_size('bloat')" bloat)
run_rune run "$C/check_maintenance.yaml" --set db=bloat --set actions='[vacuum_full]' --set tables='[bloat]'
expect_rc 5
expect_eq "$(step_status "$(last_incident)" maintain)" "declined"
expect_eq "$(sql "select status||' '||json_extract(detail_json,'\$.how') from events where incident_id='$(last_incident)' and kind='approval'")" "declined no-terminal"
case "$(sql "select json_extract(detail_json,'\$.question') from events where incident_id='$(last_incident)' and kind='approval'")" in
    "Run vacuum_full on the listed tables of database bloat?"*) ;;
    *) fail "question" ;;
esac
expect_eq "$(pg_sql "select pg_relation_filenode('bloat')" bloat)" "$node" "the table was not rewritten"
expect_eq "$(pg_sql "select pg_total_relation_size('bloat')" bloat)" "$size" "size unchanged"
end_case

test_case "vacuum_full with --yes reclaims the deleted rows' space"
run_rune run "$C/check_maintenance.yaml" --set db=bloat --set actions='[vacuum_full]' --set tables='[bloat]' --yes
expect_rc 0
expect_eq "$(out maintain 'actions[0].action') $(out maintain 'actions[0].ok')" "vacuum_full 1"
expect_eq "$(out maintain 'actions[0].statements[0]')" 'VACUUM (FULL) public.bloat'
before=$(out maintain size_before) after=$(out maintain size_after) reclaimed=$(out maintain reclaimed_bytes)
expect_eq "$before" "$size" "size_before"
[ "${after:-0}" -lt "$before" ] 2>/dev/null || fail "size_after $after not below $before"
[ "${reclaimed:-0}" -gt $((before / 2)) ] 2>/dev/null || fail "reclaimed_bytes $reclaimed of $before"
expect_eq "$(pg_sql "select pg_total_relation_size('bloat')" bloat)" "$after" "size_after is the table's size"
expect_eq "$(out maintain 'tables[0].table')" "bloat"
expect_eq "$(pg_sql "select count(*) from bloat" bloat)" "4000" "rows kept"
end_case

test_case "the default actions (vacuum, analyze) on the whole database need no approval"
run_rune run "$C/check_maintenance.yaml" --set db=bloat
expect_rc 0
expect_eq "$(out maintain 'actions[0].statements[0]') / $(out maintain 'actions[1].statements[0]')" "VACUUM / ANALYZE"
expect_eq "$(pg_sql "select last_analyze is not null from pg_stat_user_tables where relname = 'bloat'" bloat)" "t" "analyzed"
[ "$(out maintain size_before)" = "$(out maintain database_size_before)" ] || fail "whole-database sizes"
expect_no "approval"
end_case

test_case "an unknown table or action fails before anything runs"
run_rune run "$C/check_maintenance.yaml" --set db=bloat --set actions='[vacuum_full]' --set tables='[nosuch]' --yes
expect_eq "$(step_status "$(last_incident)" maintain)" "failed"
case "$(err_of maintain)" in "table nosuch: no such table in database bloat"*) ;; *) fail "error: $(err_of maintain)" ;; esac
run_rune run "$C/check_maintenance.yaml" --set db=bloat --set actions='[vacuum, defrag]'
case "$(err_of maintain)" in *'parameter "actions": "defrag" is not one of vacuum, vacuum_full, vacuum_freeze, analyze or reindex'*) ;; *) fail "error: $(err_of maintain)" ;; esac
expect_eq "$(sql "select count(*) from events where incident_id='$(last_incident)' and kind='log' and step='maintain'")" "0" "nothing ran"
end_case

test_case "a step timeout cancels a slow check on the server"
pg_createdb slow
pg_psql -d slow <<'SQL' || fail "setup slow"
create function slow_ok(int) returns boolean language sql as 'select pg_sleep(300) is not null';
create table s (x int);
insert into s values (1);
alter table s add constraint s_slow check (slow_ok(x)) not valid;
SQL
cat >"$T/slow.yaml" <<'YAML'
runbook: slow
detection:
  steps:
    - { id: integrity, uses: pg.integrity, timeout: 1s, with: { database: slow } }
YAML
# (the check would take 300 s: a run within 60 s, room for a rune under
# ASan on a busy host, was cut short)
t0=$SECONDS
run_rune run "$T/slow.yaml"
[ $((SECONDS - t0)) -lt 60 ] || fail "took $((SECONDS - t0))s"
expect_eq "$(step_status "$(last_incident)" integrity)" "timeout"
# the server stops the query (pg_sleep would otherwise hold it 300 s);
# the cancel is handled by the backend as it gets to it: 30 s at most
for i in $(seq 1 300); do
    left=$(pg_sql "select count(*) from pg_stat_activity where query like '%slow_ok%' and pid <> pg_backend_pid()" slow)
    [ "$left" = 0 ] && break
    sleep 0.1
done
expect_eq "$left" "0" "the server query was cancelled"
end_case

finish
