#!/usr/bin/env bash
# pg.dump / pg.restore on a real PostgreSQL 15 server: a dump taken while
# pgbench writes is one consistent snapshot and restores to exactly what
# its manifest says; the backup is a plain SQL script psql restores alone;
# a damaged backup is refused before anything is dropped; pg_dump's own
# files restore; single tables restore without touching the others;
# passwords stay out of argv, output and log; a failed dump leaves nothing.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
C="$RUNE_SOURCE_DIR/tests/pg/cases"

# mf FILE.manifest.json PATH — a field of a manifest (sqlite3's JSON functions)
mf() { sqlite3 :memory: "select json_extract(readfile('$1'), '\$.$2')"; }
# tables_of MANIFEST — the table names it lists
tables_of() { sqlite3 :memory: "select key from json_each(readfile('$1'), '\$.tables')"; }
# same_counts MANIFEST DB — every table of the manifest has its row count in DB
same_counts() {
    local t want have
    for t in $(tables_of "$1"); do
        want=$(mf "$1" "tables.\"$t\"")
        have=$(pg_sql "select count(*) from $t" "$2")
        [ "$want" = "$have" ] || fail "$t in $2: $have rows, manifest says $want"
    done
}
# dbs — the databases of the cluster, one line
dbs() { pg_sql "select string_agg(datname, ' ' order by datname) from pg_database"; }

pg_start
pg_createdb app
pg_load "$RUNE_SOURCE_DIR/tests/pg/data/realistic.sql" app -v scale=0.01
"$PG_BIN/pgbench" -i -s 2 -q app >"$T/pgbench-init.log" 2>&1 || fail "pgbench -i: $(cat "$T/pgbench-init.log")"
# the shapes a dump must get right: a sequence, a generated column, a
# partitioned table, inheritance, a materialized view
pg_psql -d app <<'SQL' || fail "setup"
create table notes (id serial primary key, body text, len int generated always as (length(body)) stored);
insert into notes (body) select 'note ' || g from generate_series(1, 50) g;
create table measures (id int, at date, v numeric) partition by range (at);
create table measures_2024 partition of measures for values from ('2024-01-01') to ('2025-01-01');
create table measures_2025 partition of measures for values from ('2025-01-01') to ('2026-01-01');
insert into measures select g, date '2024-06-01' + g, g * 1.5 from generate_series(1, 300) g;
create table base (id int, kind text);
create table derived (extra text) inherits (base);
insert into base values (1, 'base');
insert into derived values (2, 'derived', 'x');
create materialized view order_totals as select status, count(*) from orders group by status;
SQL

test_case "a dump while pgbench writes is one snapshot; the drill restores exactly the manifest"
mkdir -p "$T/b1"
# pgbench writes until the dump is over (short runs, one after another,
# until $T/stop-bench): one fixed run of a few seconds could end before a
# slow rune took its snapshot, and then nothing was written after it
rm -f "$T/stop-bench"
( while [ ! -e "$T/stop-bench" ]; do
      "$PG_BIN/pgbench" -n -c 2 -T 2 app >>"$T/pgbench.log" 2>&1 || exit 1
  done ) &
bench=$!
# let pgbench get going (60 s at most): the dump must overlap its writes
for _ in $(seq 600); do
    [ "$(pg_sql "select count(*) > 0 from pgbench_history" app)" = t ] && break
    kill -0 "$bench" 2>/dev/null || break
    sleep 0.1
done
[ "$(pg_sql "select count(*) > 0 from pgbench_history" app)" = t ] || fail "pgbench wrote nothing: $(tail -3 "$T/pgbench.log")"
run_rune run "$C/backup_drill.yaml" --set db=app --set dir="$T/b1" --set drill=drill
touch "$T/stop-bench"
wait "$bench" || fail "pgbench: $(tail -3 "$T/pgbench.log")"
expect_rc 0
bk=$(out dump path); m="$bk.manifest.json"
[ -s "$bk" ] && [ -s "$m" ] || fail "no backup or manifest at $bk"
case "$bk" in "$T/b1/app-"[0-9]*-[0-9]*.sql.gz) ;; *) fail "unexpected name $bk" ;; esac
expect_eq "$(mf "$m" engine)" "postgres"
expect_eq "$(out dump table_count)" "14"
expect_eq "$(out restore checked)" "content"
expect_eq "$(out restore format)" "rune"
expect_eq "$(out verify ok)" "1" "backup.verify accepts it"
expect_eq "$(out list count)" "1"
expect_eq "$(out list 'backups[0].verified')" "1" "backup.list verifies it"
same_counts "$m" drill
# pgbench moves money in one transaction across three tables and logs it
# in a fourth: only a single snapshot keeps the sums equal
expect_eq "$(pg_sql "select (select sum(abalance) from pgbench_accounts) = (select sum(delta) from pgbench_history) and (select sum(tbalance) from pgbench_tellers) = (select sum(bbalance) from pgbench_branches) and (select sum(delta) from pgbench_history) = (select sum(bbalance) from pgbench_branches)" drill)" "t" "balances agree"
hist=$(mf "$m" 'tables.pgbench_history')
[ "$hist" -gt 0 ] || fail "pgbench wrote nothing before the snapshot"
[ "$(pg_sql "select count(*) from pgbench_history" app)" -gt "$hist" ] || fail "pgbench wrote nothing after the snapshot: the test proves nothing"
expect_eq "$(out restore 'tables.orders')" "$(mf "$m" tables.orders)"
expect_eq "$(pg_sql "select count(*) from pg_indexes where tablename = 'orders'" drill)" "3" "post-data: indexes"
expect_eq "$(pg_sql "select count(*) from pg_constraint where contype = 'f'" drill)" "$(pg_sql "select count(*) from pg_constraint where contype = 'f'" app)" "post-data: foreign keys"
# a restore into a database nobody sees yet writes its rows frozen (COPY
# FREEZE): every page all-frozen in the visibility map, nothing left for
# the first vacuum to rewrite
pg_sql "create extension if not exists pg_visibility" drill >/dev/null
expect_eq "$(pg_sql "select count(*) > 0 and bool_and(all_frozen) from pg_visibility_map('orders')" drill)" "t" "restored pages are all frozen"
# the foreign keys between restored tables are built by the pool, beside
# the other tables' loads, not one by one by psql at the end
grep -qE "and [1-9][0-9]* foreign keys over 2 connections" "$T/out" || fail "no foreign key was built in parallel: $(grep -F 'foreign keys over' "$T/out")"
expect_eq "$(pg_sql "select last_value from notes_id_seq" drill)" "50" "sequence values"
expect_eq "$(pg_sql "select sum(len) from notes" drill)" "$(pg_sql "select sum(len) from notes" app)" "generated columns recomputed"
expect_eq "$(pg_sql "select count(*) from only base" drill)" "1" "an inheritance parent keeps only its own rows"
expect_eq "$(pg_sql "select count(*) from measures_2025" drill)" "$(pg_sql "select count(*) from measures_2025" app)" "partitions"
expect_eq "$(pg_sql "select sum(count) from order_totals" drill)" "$(pg_sql "select count(*) from orders" drill)" "materialized view refreshed"
ls -A "$T/b1" | grep -v '^app-.*\.sql\.gz\(\.manifest\.json\)\?$' | grep -q . && fail "stray files: $(ls -A "$T/b1")"
end_case

test_case "gzip -dc BACKUP | psql restores the backup without rune"
pg_createdb byhand
gzip -dc "$bk" | pg_psql -d byhand >"$T/psql.out" 2>&1 || fail "psql: $(tail -3 "$T/psql.out")"
same_counts "$m" byhand
expect_eq "$(pg_sql "select count(*) from pg_indexes where schemaname = 'public'" byhand)" "$(pg_sql "select count(*) from pg_indexes where schemaname = 'public'" drill)" "indexes"
end_case

test_case "a damaged backup is refused before anything is dropped"
cp "$bk" "$T/bad.sql.gz"; cp "$m" "$T/bad.sql.gz.manifest.json"
size=$(stat -c %s "$T/bad.sql.gz")
printf '\xff' | dd of="$T/bad.sql.gz" bs=1 seek=$((size / 2)) conv=notrunc status=none
before=$(pg_sql "select count(*) from orders" app)
dbs_before=$(dbs)
run_rune run "$C/backup_restore.yaml" --yes --set from="$T/bad.sql.gz" --set db=app --set mode=drop
expect_rc 4
expect_out "refusing to restore"
expect_out "SHA-256 mismatch"
expect_eq "$(pg_sql "select count(*) from orders" app)" "$before" "app untouched"
expect_eq "$(dbs)" "$dbs_before" "no database created or dropped"
end_case

test_case "mode: drop replaces a damaged database (after approval); without approval nothing changes"
pg_sql "delete from events where id % 2 = 0" app >/dev/null
run_rune run "$C/backup_restore.yaml" --set from="$bk" --set db=app --set mode=drop
expect_rc 5
expect_out "did not approve"
[ "$(pg_sql "select count(*) from events" app)" -lt "$(mf "$m" tables.events)" ] || fail "app changed without approval"
expect_eq "$(dbs)" "$dbs_before" "no scratch database left"
psql_idle() { "$PG_BIN/psql" -X -d app -c "select pg_sleep(60)" >/dev/null 2>&1; }
psql_idle & idle=$!
# connected and in its query before the restore starts (60 s at most): a
# session that logged in while the restore replaced the database was a
# race, not the case
for _ in $(seq 600); do
    [ "$(pg_sql "select count(*) from pg_stat_activity where datname = 'app' and query like '%pg_sleep(60)%' and pid <> pg_backend_pid()")" = 1 ] && break
    sleep 0.1
done
run_rune run "$C/backup_restore.yaml" --yes --set from="$bk" --set db=app --set mode=drop
expect_rc 0
wait "$idle"
same_counts "$m" app
expect_eq "$(out restore mode)" "drop"
expect_eq "$(dbs)" "$dbs_before" "the scratch database took the old one's place"
end_case

test_case "mode: drop in a step with confirm: asks once on the terminal, and the drop is recorded as covered"
pg_sql "delete from events where id % 2 = 0" app >/dev/null
# one "yes" on a real terminal: a second question would read end of input and decline
printf 'yes\n' | script -qec "\"$RUNE\" run \"$C/backup_restore_confirm.yaml\" --set from=\"$bk\" --set db=app" /dev/null >"$T/out" 2>&1
RC=$?; OUT=1
expect_rc 0
expect_eq "$(grep -c 'type "yes" to approve' "$T/out")" "1" "questions asked"
same_counts "$m" app
expect_eq "$(sql "select group_concat(json_extract(detail_json,'\$.how'), ',') from events where incident_id='$(last_incident)' and kind='approval'")" "terminal,step confirm"
expect_eq "$(sql "select json_extract(detail_json,'\$.covered_by') from events where incident_id='$(last_incident)' and kind='approval' and status='approved' order by seq desc limit 1")" "Replace database app with $bk?"
end_case

test_case "tables: restores only those tables, in one transaction; the others are untouched"
pg_sql "delete from events where id % 3 = 0; delete from attachments where id % 2 = 0; update customers set name = 'changed' where id = 1" app >/dev/null
run_rune run "$C/backup_restore.yaml" --set from="$bk" --set db=app --set tables='[events, public.attachments]' --set check=content
expect_rc 0
expect_eq "$(out restore mode)" "merge"
expect_eq "$(out restore table_count)" "2"
expect_eq "$(pg_sql "select count(*) from events" app)" "$(mf "$m" tables.events)" "events restored"
expect_eq "$(pg_sql "select count(*) from attachments" app)" "$(mf "$m" tables.attachments)" "attachments restored"
expect_eq "$(pg_sql "select name from customers where id = 1" app)" "changed" "customers untouched"
# a table others refer to cannot be emptied alone: refused, nothing changed
pg_sql "delete from order_items where line = 3" app >/dev/null
items=$(pg_sql "select count(*) from order_items" app)
run_rune run "$C/backup_restore.yaml" --set from="$bk" --set db=app --set tables='[orders]'
expect_rc 4
expect_out "foreign key"
expect_out "nothing was changed"
expect_eq "$(pg_sql "select count(*) from order_items" app)" "$items" "order_items untouched"
run_rune run "$C/backup_restore.yaml" --set from="$bk" --set db=app --set tables='[nope]'
expect_rc 4
expect_out "table \"nope\" is not in the backup"
end_case

test_case "pg_dump's own files restore: plain .sql.gz and custom format"
"$PG_BIN/pg_dump" -d app | gzip > "$T/app.sql.gz"
"$PG_BIN/pg_dump" -Fc -d app -f "$T/app.dump"
"$PG_BIN/pg_dump" -Fd -d app -f "$T/app.dir"
for f in app.sql.gz app.dump app.dir; do
    db="from_${f%%.*}_${f##*.}"
    run_rune run "$C/backup_restore.yaml" --set from="$T/$f" --set into="$db"
    expect_rc 0
    expect_eq "$(out restore 'tables.orders')" "$(pg_sql "select count(*) from orders" app)" "$f: orders"
    expect_eq "$(pg_sql "select count(*) from pgbench_history" "$db")" "$(pg_sql "select count(*) from pgbench_history" app)" "$f: pgbench_history"
done
expect_eq "$(out restore format)" "directory"
run_rune run "$C/backup_restore.yaml" --set from="$T/app.sql.gz" --set into=from_app_gz
expect_rc 4
expect_out "exists and has"
# a truncated plain dump is rolled back whole
head -c 60000 "$T/app.sql.gz" > "$T/cut.sql.gz"
run_rune run "$C/backup_restore.yaml" --set from="$T/cut.sql.gz" --set into=cut
expect_rc 4
expect_out "damaged"
expect_eq "$(pg_sql "select count(*) from pg_database where datname = 'cut'")" "0" "the database it created was dropped"
end_case

test_case "a password from a secret, over TCP: in the environment of pg_dump/psql, never in argv, output or log"
PW='Backup-PW-7f3a9c'
pg_add_password_role backup_admin "$PW"
mkdir -p "$T/bin" "$T/b6"
for p in pg_dump pg_restore psql; do
    cat > "$T/bin/$p" <<EOF
#!/bin/sh
echo "\$0 \$*" >> "$T/argv.log"
[ -n "\$PGPASSWORD" ] && echo "$p" >> "$T/pwenv.log"
exec "$PG_BIN/$p" "\$@"
EOF
    chmod +x "$T/bin/$p"
done
( unset PGHOST PGPORT PGUSER PGDATABASE
  export TEST_PG_PASSWORD=$PW
  run_rune run "$C/backup_password.yaml" --set port="$PG_PORT" --set user=backup_admin --set dir="$T/b6" --set bindir="$T/bin"
  echo "$RC" > "$T/rc6" )
RC=$(cat "$T/rc6")
expect_rc 0
same_counts "$(ls "$T"/b6/*.manifest.json)" app_pw_copy
grep -q pg_dump "$T/pwenv.log" && grep -q psql "$T/pwenv.log" || fail "the password did not reach the programs' environment"
grep -qF -- "$PW" "$T/argv.log" && fail "the password is on a command line"
grep -q 'host=\|password=' "$T/argv.log" && fail "connection options on a command line: $(cat "$T/argv.log")"
expect_no "$PW"
expect_eq "$(sqlite3 "$RUNE_LOG" .dump | grep -c -- "$PW")" "0" "password in the incident log"
end_case

test_case "a failed dump leaves nothing behind: bad table name, timeout, full disk"
mkdir -p "$T/b7"
run_rune run "$C/backup_dump.yaml" --set db=app --set dir="$T/b7" --set tables='[orders, no_such_table]'
expect_rc 4
expect_out 'table "no_such_table"'
expect_eq "$(ls -A "$T/b7")" "" "files left"
pg_createdb big
pg_sql "create table big as select g, md5(g::text) as h, repeat('x', 200) as pad from generate_series(1, 400000) g" big >/dev/null
run_rune run "$C/backup_dump_timeout.yaml" --set db=big --set dir="$T/b7"
for s in t1 t2 t3; do
    st=$(step_status "$(last_incident)" "$s")
    case "$st" in
        ok) [ -s "$T/b7/$s.sql.gz.manifest.json" ] || fail "$s ended ok without a backup" ;;
        timeout) [ -e "$T/b7/$s.sql.gz" ] && fail "$s timed out but left $s.sql.gz" ;;
        *) fail "$s ended $st" ;;
    esac
done
[ "$(step_status "$(last_incident)" t1)" = timeout ] || fail "t1 was not cut short: the case proves nothing"
expect_eq "$(ls -A "$T/b7" | grep -v '^t[123]\.sql\.gz\(\.manifest\.json\)\?$')" "" "files left after timeouts"
rm -f "$T"/b7/*
# a restore cut short drops the database it created
run_rune run "$C/backup_dump.yaml" --set db=big --set to="$T/b7/big.sql.gz"
expect_rc 0
run_rune run "$C/backup_restore_timeout.yaml" --set from="$T/b7/big.sql.gz" --set into=big_copy
expect_rc 4
expect_eq "$(step_status "$(last_incident)" restore)" "timeout"
expect_eq "$(pg_sql "select count(*) from pg_database where datname = 'big_copy'")" "0" "the half-restored database was dropped"
rm -f "$T"/b7/*
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$T/full"
    if mount -t tmpfs -o size=256k rune-full "$T/full" 2>/dev/null; then
        run_rune run "$C/backup_dump.yaml" --set db=big --set dir="$T/full"
        expect_rc 4
        expect_eq "$(ls -A "$T/full")" "" "files left on the full disk"
        umount "$T/full"
    else
        echo "note: cannot mount a tmpfs here; the full-disk case was not run" >&2
    fi
fi
# and a dump never overwrites
run_rune run "$C/backup_dump.yaml" --set db=app --set to="$T/b7/fixed.sql.gz" --set tables='[customers]'
expect_rc 0
sum=$(sha256sum "$T/b7/fixed.sql.gz")
run_rune run "$C/backup_dump.yaml" --set db=app --set to="$T/b7/fixed.sql.gz"
expect_rc 4
expect_out "already exists"
expect_eq "$(sha256sum "$T/b7/fixed.sql.gz")" "$sum" "the first backup is intact"
end_case

test_case "tables: and exclude_tables: dump only what was asked, restorable alone"
mkdir -p "$T/b8"
run_rune run "$C/backup_dump.yaml" --set db=app --set dir="$T/b8" --set tables='[customers, orders]'
expect_rc 0
m8="$(out dump path).manifest.json"
expect_eq "$(tables_of "$m8" | tr '\n' ' ')" "customers orders " "tables"
run_rune run "$C/backup_restore.yaml" --set from="$(out dump path)" --set into=two_tables
expect_rc 0
expect_eq "$(pg_sql "select string_agg(tablename, ' ' order by tablename) from pg_tables where schemaname = 'public'" two_tables)" "customers orders"
rm -f "$T"/b8/*
run_rune run "$C/backup_dump.yaml" --set db=app --set dir="$T/b8" --set exclude='[events, pgbench_history]'
expect_rc 0
m8="$(out dump path).manifest.json"
tables_of "$m8" | grep -qx events && fail "events was dumped"
expect_eq "$(out dump table_count)" "12"
end_case

finish
