#!/usr/bin/env bash
# Every bundled PostgreSQL runbook run end to end against a real
# PostgreSQL 15 cluster, through libpq's environment only (PGHOST, PGPORT,
# PGUSER as the harness exports them): health check, backup, restore
# drill, restore (with an application service stopped and started, and
# with a failing validation that rolls back to the exact prior state),
# integrity check.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
export RUNE_PATH="$RUNE_SOURCE_DIR/runbooks"

status() { sql "select status from events where incident_id='$(last_incident)' and step='$1' and kind in ('step.end','step.skip') order by rowid desc limit 1"; }
outcome() { sql "select outcome from incidents where id='$(last_incident)'"; }
# rowhash DB — one hash over every row of every table, in key order: equal
# means the same data
rowhash() {
    pg_sql "select md5(string_agg(h, ',' order by h)) from (
              select 'c' || md5(string_agg(c::text, ',' order by c.id)) h from customers c
              union all select 'o' || md5(string_agg(o::text, ',' order by o.id)) from orders o
              union all select 'i' || md5(string_agg(i::text, ',' order by i.order_id, i.line)) from order_items i) x" "$1"
}

pg_start
pg_createdb app
pg_load "$RUNE_SOURCE_DIR/tests/pg/data/realistic.sql" app -v scale=0.005
mkdir -p "$T/backups"

test_case "pg-health-check: a healthy database is no incident; a stopped server is"
run_rune run pg-health-check --set database=app
expect_rc 0
expect_eq "$(outcome)" "no_incident"
expect_eq "$(out integrity ok)" "1"
[ "$(out vitals 'rows[0].bytes')" -gt 0 ] || fail "no size"
end_case

test_case "pg-backup: a verified backup whose manifest counts every table"
run_rune run pg-backup --set database=app --set backups="$T/backups"
expect_rc 0
bk=$(out dump path)
[ -s "$bk" ] && [ -s "$bk.manifest.json" ] || fail "no backup at $bk"
expect_eq "$(out verify ok)" "1"
expect_eq "$(out dump tables.customers)" "$(pg_sql 'select count(*) from customers' app)"
expect_eq "$(out dump tables.order_items)" "$(pg_sql 'select count(*) from order_items' app)"
end_case

test_case "pg-restore-drill: the newest backup restores into a scratch database, proven, dropped"
run_rune run pg-restore-drill --set database=app --set backups="$T/backups"
expect_rc 0
expect_eq "$(out counts ok)" "1"
expect_eq "$(out content ok)" "1"
expect_eq "$(pg_sql "select count(*) from pg_database where datname = 'rune_restore_drill'")" "0" "scratch dropped"
end_case

test_case "a plan (and a probing plan) of every bundled PostgreSQL runbook changes nothing"
snap() {
    { rowhash app; pg_sql "select string_agg(datname, ',' order by datname) from pg_database";
      (cd "$T/backups" && find . -printf '%p %s\n' | sort); }
}
before=$(snap)
for probe in "" --probe; do
    for rb in pg-health-check pg-backup pg-restore pg-restore-drill pg-integrity-check; do
        extra=()
        case $rb in pg-backup|pg-restore|pg-restore-drill) extra=(--set backups="$T/backups") ;; esac
        run_rune plan "$rb" --set database=app "${extra[@]}" $probe
        [ "$RC" = 0 ] || fail "$rb $probe: plan exited $RC: $(head -c 300 "$T/err")"
    done
done
expect_eq "$(snap)" "$before" "database, database list and backups after ten plans"
expect_eq "$(sql "select count(*) from incidents where mode = 'dry-run'")" "10"
# a probing plan of the restore read the real state: the backup it would pick
run_rune plan pg-restore --set database=app --set backups="$T/backups" --probe --json
cp "$T/out" "$T/plan.json"
expect_eq "$(sql "select json_extract(detail_json, '\$.outputs.newest_verified') from events where step = 'pick' and kind = 'step.end' order by rowid desc limit 1")" "$bk" "the probe verified the real backups"
expect_eq "$(sqlite3 :memory: "select json_extract(readfile('$T/plan.json'), '\$.exit_code')")" "0"
end_case

test_case "pg-restore: damage, stop the app, restore the newest verified backup, start the app"
before=$(rowhash app)
pg_sql "delete from order_items where order_id % 2 = 0; drop table events" app >/dev/null
# a toy application: a sleeping process with a pid file
cat > "$T/app.sh" <<'SH'
case "$1" in
start) nohup sleep 1000 >/dev/null 2>&1 & echo $! > "$2" ;;
stop) kill "$(cat "$2")" ;;
status) kill -0 "$(cat "$2" 2>/dev/null)" 2>/dev/null ;;
esac
SH
bash "$T/app.sh" start "$T/app.pid"
run_rune run pg-restore --set database=app --set backups="$T/backups" --yes \
    --set app_stop="bash $T/app.sh stop $T/app.pid" --set app_start="bash $T/app.sh start $T/app.pid" \
    --set app_status="bash $T/app.sh status $T/app.pid"
expect_rc 0
expect_eq "$(out stop_app was)" "running"
expect_eq "$(out start_app now)" "running"
expect_eq "$(out counts ok)" "1"
expect_eq "$(rowhash app)" "$before" "restored data = backed-up data"
expect_eq "$(pg_sql "select count(*) from events" app)" "$(sqlite3 "$RUNE_LOG" "select json_extract(detail_json,'\$.outputs.tables.events') from events where step='dump' and kind='step.end' order by rowid limit 1")" "the dropped table is back"
[ -s "$(out safety path)" ] || fail "no safety dump"
bash "$T/app.sh" stop "$T/app.pid"
end_case

test_case "pg-restore whose validation fails rolls back: the database ends exactly as it was"
pg_sql "insert into customers select id + 1000000, name, 'new-' || email, city, created_at, balance, vip from customers order by id limit 3" app >/dev/null
before=$(rowhash app)
run_rune run pg-restore --set database=app --set backups="$T/backups" --yes --set validate_sql="select false"
expect_rc 3
expect_eq "$(status validate)" "failed"
expect_eq "$(status put_back)" "ok"
expect_eq "$(rowhash app)" "$before" "the pre-run state, row for row"
expect_eq "$(pg_sql "select count(*) from customers where id > 1000000" app)" "3"
# the report's recovery figures are of the state the database ended in
"$RUNE" report "$(last_incident)" --format json -o "$T/rb.json" || fail "no JSON report"
"$RUNE" report "$(last_incident)" -o "$T/rb.md" || fail "no Markdown report"
expect_eq "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); o=r["objectives"]["rpo"]; print(o["status"], o["achieved_ms"], o["met"], [v["undone"] for v in r["verification"] if v["step"] == "counts"], r["restored_from"]["undone"])' "$T/rb.json")" \
    "nothing_restored None None [True] True" "RPO after the rollback"
grep -q '| RPO | [^|]* | nothing restored |' "$T/rb.md" || fail "the Markdown RPO is not nothing restored: $(grep '| RPO' "$T/rb.md")"
grep -q 'UNDONE\*\* by the rollback' "$T/rb.md" || fail "the Markdown does not mark the undone verification"
end_case

test_case "pg-restore without --yes drops nothing"
before=$(rowhash app)
run_rune run pg-restore --set database=app --set backups="$T/backups"
expect_rc 5
expect_eq "$(status restore)" "declined"
expect_eq "$(status put_back)" "skipped" "nothing to put back"
expect_eq "$(rowhash app)" "$before" "unchanged"
end_case

test_case "pg-integrity-check: clean, then an orphan behind a NOT VALID foreign key"
run_rune run pg-integrity-check --set database=app
expect_rc 0
expect_eq "$(outcome)" "no_incident"
pg_psql -d app <<'SQL' || fail "orphan setup"
alter table orders drop constraint if exists orders_customer_id_fkey;
insert into orders (id, customer_id, status, total, placed_at) values (99999999, 99999999, 'ghost', 1, now());
alter table orders add constraint orders_customer_id_fkey foreign key (customer_id) references customers(id) not valid;
SQL
run_rune run pg-integrity-check --set database=app
expect_rc 0
expect_eq "$(outcome)" "resolved"
expect_eq "$(status integrity)" "failed"
expect_out "orphaned or invalid rows"
end_case

test_case "pg-health-check: a server that is down is an incident with a next step"
pg_stop
run_rune run pg-health-check --set database=app
expect_rc 0
expect_eq "$(outcome)" "resolved"
expect_eq "$(status reachable)" "failed"
expect_out "the server does not answer"
end_case

finish
