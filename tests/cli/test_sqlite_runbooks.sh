#!/usr/bin/env bash
# Every bundled SQLite runbook (the first seed's procedures) run end to end
# on real database files: health check, backup with retention, compact and
# repair, restore (newest verified and named), integrity check, lock
# diagnosis, stress test.
. "$(dirname "$0")/lib.sh"
export RUNE_PATH="$RUNE_SOURCE_DIR/runbooks"

status() { sql "select status from events where incident_id='$(last_incident)' and step='$1' and kind in ('step.end', 'step.skip') order by rowid desc limit 1"; }
outcome() { sql "select outcome from incidents where id='$(last_incident)'"; }

make_db() {
    rm -f "$1" "$1"-*
    sqlite3 "$1" >/dev/null <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER REFERENCES customers(id), total REAL, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 300)
INSERT INTO customers SELECT i, 'c' || i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 4000)
INSERT INTO orders SELECT i, 1 + i % 300, i * 1.5, hex(randomblob(60)) FROM n;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
}
# corrupt FILE — overwrites pages in the middle with noise
corrupt() {
    local pages=$(( $(stat -c %s "$1") / 4096 ))
    dd if=/dev/urandom of="$1" bs=4096 seek=$((pages / 2)) count=8 conv=notrunc status=none
}

test_case "sqlite-health-check: a healthy database is no incident; a damaged one escalates"
make_db "$T/app.db"
run_rune run sqlite-health-check --set path="$T/app.db"
expect_rc 0
expect_eq "$(outcome)" "no_incident"
expect_eq "$(out health table_count)" "2"
expect_eq "$(out integrity ok)" "1"
corrupt "$T/app.db"
run_rune run sqlite-health-check --set path="$T/app.db"
expect_rc 0
expect_eq "$(outcome)" "resolved"
expect_eq "$(status integrity)" "failed"
expect_out "run sqlite-compact-repair (Procedure 2)"
rm -f "$T/app.db"
run_rune run sqlite-health-check --set path="$T/app.db"
expect_eq "$(status integrity)" "skipped" "no integrity check of a missing file"
expect_out "cannot be opened: run sqlite-restore"
[ -e "$T/app.db" ] && fail "the health check created the database"
end_case

test_case "sqlite-backup: verified backup, then retention keeps 7 daily + 4 weekly"
make_db "$T/app.db"; mkdir -p "$T/b"
# 60 days of older backups, one a day, with manifests dated in the past
run_rune run sqlite-backup --set path="$T/app.db" --set backups="$T/b"
expect_rc 0
first=$(out backup path)
expect_eq "$(out verify ok)" "1"
expect_eq "$(out backup tables.orders)" "4000"
for d in $(seq 1 60); do
    day=$(date -u -d "-$d days" +%Y%m%d)
    cp "$first" "$T/b/app-$day-020000.db.gz"
    sed "s/\"created_at\": \"[^\"]*\"/\"created_at\": \"$(date -u -d "-$d days" +%Y-%m-%dT02:00:00.000Z)\"/" \
        "$first.manifest.json" > "$T/b/app-$day-020000.db.gz.manifest.json"
done
run_rune run sqlite-backup --set path="$T/app.db" --set backups="$T/b"
expect_rc 0
kept=$(ls "$T/b"/*.db.gz | wc -l)
# today's two (both within 24h) + days 1-6 (7 daily) + one per ISO week
# beyond them: the week of days 7-13 at least, at most 4 weeks back
[ "$kept" -ge 9 ] && [ "$kept" -le 12 ] || fail "kept $kept backups"
for d in 1 2 3 4 5 6; do
    [ -e "$T/b/app-$(date -u -d "-$d days" +%Y%m%d)-020000.db.gz" ] || fail "day $d was pruned"
done
[ -e "$T/b/app-$(date -u -d "-40 days" +%Y%m%d)-020000.db.gz" ] && fail "day 40 was kept"
expect_eq "$(ls "$T/b"/*.db.gz | grep -c "$(date -u +%Y%m%d)-")" "2" "both of today's backups (keep_within 24h)"
[ -e "$(out backup path)" ] || fail "the new backup was pruned"
expect_eq "$(ls "$T/b"/*.manifest.json | wc -l)" "$kept" "a manifest for each kept backup, none orphaned"
end_case

test_case "sqlite-compact-repair: backup first, smaller, every row identical"
make_db "$T/app.db"
sqlite3 "$T/app.db" "DELETE FROM orders WHERE id % 3 = 0; PRAGMA wal_checkpoint(TRUNCATE);"
before=$(stat -c %s "$T/app.db")
run_rune run sqlite-compact-repair --set path="$T/app.db" --set backups="$T/b2"
expect_rc 5 # compaction needs an approval: without --yes nothing changes
expect_eq "$(stat -c %s "$T/app.db")" "$before" "unchanged without approval"
run_rune run sqlite-compact-repair --set path="$T/app.db" --set backups="$T/b2" --yes
expect_rc 0
[ "$(stat -c %s "$T/app.db")" -lt "$before" ] || fail "not smaller"
expect_eq "$(status same_data)" "ok"
[ -s "$(out compact backup)" ] || fail "no backup taken first"
end_case

test_case "sqlite-compact-repair refuses while a writer holds the lock"
make_db "$T/app.db"
hold_sqlite_write "$T/app.db"
run_rune run sqlite-compact-repair --set path="$T/app.db" --yes
release_sqlite_write
expect_rc 3
expect_out "the database is locked by another process"
expect_eq "$(status compact)" "not_run"
end_case

test_case "the runbooks that change a database take its lock: a second run waits for nothing and changes nothing"
make_db "$T/app.db"; rm -rf "$T/bl"; mkdir -p "$T/bl"
run_rune run sqlite-backup --set path="$T/app.db" --set backups="$T/bl"
expect_rc 0
sqlite3 "$T/app.db" "DELETE FROM orders"
hold_lock "sqlite/$T/app.db" # as another run changing this database would
for rb in sqlite-restore sqlite-compact-repair; do
    before=$(sql "select count(*) from incidents")
    run_rune run "$rb" --set path="$T/app.db" --set backups="$T/bl" --yes
    expect_rc 6
    expect_err "is held by another run"
    expect_eq "$(sql "select count(*) from incidents")" "$before" "$rb recorded no incident"
done
expect_eq "$(sqlite3 "$T/app.db" 'select count(*) from orders')" "0" "the database was not touched"
release_lock
run_rune run sqlite-restore --set path="$T/app.db" --set backups="$T/bl" --yes
expect_rc 0
end_case

test_case "sqlite-restore: the newest verified backup (a newer damaged one skipped), counts proven"
make_db "$T/app.db"; rm -rf "$T/b3"; mkdir -p "$T/b3"
run_rune run sqlite-backup --set path="$T/app.db" --set backups="$T/b3"
good=$(out backup path)
sleep 1.1
sqlite3 "$T/app.db" "INSERT INTO customers(name) VALUES ('late')"
run_rune run sqlite-backup --set path="$T/app.db" --set backups="$T/b3"
bad=$(out backup path)
printf 'X' | dd of="$bad" bs=1 seek=200 conv=notrunc status=none
corrupt "$T/app.db"
run_rune run sqlite-restore --set path="$T/app.db" --set backups="$T/b3" --yes
expect_rc 0
expect_eq "$(out chosen path)" "$good" "the damaged newer backup was passed over"
expect_eq "$(out counts ok)" "1"
expect_eq "$(sqlite3 "$T/app.db" 'select count(*) from customers')" "300"
[ -s "$(out restore safety_copy)" ] || fail "no safety copy"
# a named backup
run_rune run sqlite-restore --set path="$T/app.db" --set backups="$T/b3" --set backup="$good" --yes
expect_rc 0
expect_eq "$(status pick)" "skipped"
end_case

test_case "sqlite-integrity-check: clean, then counts against a manifest that no longer match"
make_db "$T/app.db"; rm -rf "$T/b4"; mkdir -p "$T/b4"
run_rune run sqlite-backup --set path="$T/app.db" --set backups="$T/b4"
bk=$(out backup path)
run_rune run sqlite-integrity-check --set path="$T/app.db" --set manifest="$bk"
expect_rc 0
expect_eq "$(outcome)" "no_incident"
expect_eq "$(out rows tables.orders.rows)" "4000"
sqlite3 "$T/app.db" "DELETE FROM orders WHERE id <= 100"
run_rune run sqlite-integrity-check --set path="$T/app.db" --set manifest="$bk"
expect_eq "$(outcome)" "resolved"
expect_eq "$(out counts mismatches)" "1"
expect_out "row counts differ from the backup"
run_rune run sqlite-integrity-check --set path="$T/app.db" --set manifest="$bk" --set tolerance_percent=5
expect_eq "$(outcome)" "no_incident" "within 5%"
end_case

test_case "sqlite-lock-diagnosis: no contention is no incident; a held write lock is"
make_db "$T/app.db"
run_rune run sqlite-lock-diagnosis --set path="$T/app.db" --set window=300ms --set samples=5
expect_rc 0
expect_eq "$(outcome)" "no_incident"
# the writer holds the write lock before the diagnosis starts: a fixed
# sleep lost that race on a busy host
hold_sqlite_write "$T/app.db"
run_rune run sqlite-lock-diagnosis --set path="$T/app.db" --set window=300ms --set samples=5
release_sqlite_write
expect_rc 0
expect_eq "$(outcome)" "resolved"
expect_eq "$(out locks lock)" "write"
expect_out "lock wait rate 100.0% (write)"
end_case

test_case "sqlite-stress-test: the seed's thresholds, and the scratch table is gone afterwards"
make_db "$T/app.db"
run_rune run sqlite-stress-test --set path="$T/app.db" --set threads=2 --set writes=50 --yes
expect_rc 0
expect_eq "$(out stress operations)" "100"
expect_eq "$(out verdict level)" "acceptable"
expect_eq "$(sqlite3 "$T/app.db" "select count(*) from sqlite_schema where name='rune_stress'")" "0"
end_case

finish
