#!/usr/bin/env bash
# sqlite.backup / sqlite.restore / sqlite.compact on real files: consistent
# while a writer runs, readable by zcat, refused when damaged, never
# overwriting, with a safety copy.
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases/sqlite"

make_db() {
    rm -f "$1"*
    sqlite3 "$1" >/dev/null <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer TEXT, total REAL, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 5000)
INSERT INTO orders SELECT i, 'c' || (i % 97), i * 1.5, hex(randomblob(40)) FROM n;
SQL
}

test_case "backup, damage, restore: counts match the backup's manifest; safety copy kept"
make_db "$T/app.db"; mkdir -p "$T/b"
run_rune run "$C/backup_restore.yaml" --set db="$T/app.db" --set dir="$T/b"
expect_rc 0
bk=$(out backup path)
[ -s "$bk" ] && [ -s "$bk.manifest.json" ] || fail "no backup or manifest at $bk"
expect_eq "$(out backup tables.orders)" "5000"
expect_eq "$(sqlite3 "$T/app.db" 'select count(*) from orders')" "5000" "restored rows"
safety=$(out restore safety_copy)
expect_eq "$(sqlite3 "$safety" 'select count(*) from orders')" "2500" "the damaged database was kept aside"
[ -n "$(out restore recovery_point)" ] || fail "no recovery_point output"
# the artifact is an ordinary .gz and the sha256 in the manifest is the file's
gzip -dc "$bk" > "$T/plain.db" || fail "gzip cannot read the backup"
expect_eq "$(sqlite3 "$T/plain.db" 'select count(*) from orders')" "5000"
expect_eq "$(sha256sum "$bk" | cut -d' ' -f1)" "$(sqlite3 "$RUNE_LOG" "select json_extract(detail_json,'\$.outputs.sha256') from events where step='backup' and kind='step.end'")"
end_case

test_case "a backup taken while two writers run is consistent"
make_db "$T/busy.db"; mkdir -p "$T/b2"
# two writers inserting in small transactions for a few seconds
# (each loops until the backup is over, so they really overlap it)
writer() {
    while [ ! -e "$T/stop-writers" ]; do
        sqlite3 "$T/busy.db" "PRAGMA busy_timeout=5000; INSERT INTO orders(customer,total,note) SELECT '$1', 1, 'x' FROM orders LIMIT 50;" >/dev/null
    done
}
rm -f "$T/stop-writers"
writer w1 & w1=$!
writer w2 & w2=$!
# both are writing before the backup starts (a fixed pause was a guess a
# busy host could beat): 30 s at most
for _ in $(seq 300); do
    [ "$(sqlite3 -cmd ".timeout 30000" "$T/busy.db" "select count(distinct customer) from orders where customer in ('w1','w2')" 2>/dev/null)" = 2 ] && break
    sleep 0.1
done
[ "$(sqlite3 -cmd ".timeout 30000" "$T/busy.db" "select count(distinct customer) from orders where customer in ('w1','w2')")" = 2 ] ||
    fail "the writers never both wrote"
cat > "$T/bk.yaml" <<'YAML'
runbook: bk
inputs: { db: { type: path, required: true }, dir: { type: path, required: true } }
mitigation:
  steps:
    - { id: backup, uses: sqlite.backup, with: { path: "${inputs.db}", dir: "${inputs.dir}", level: 1 } }
YAML
run_rune run "$T/bk.yaml" --set db="$T/busy.db" --set dir="$T/b2"
still=0; kill -0 "$w1" 2>/dev/null && kill -0 "$w2" 2>/dev/null && still=1
touch "$T/stop-writers"
wait "$w1" "$w2"
expect_rc 0
# the backup is in the incident log's artifacts, as rune log export shows it
expect_eq "$(sql "select path || ' ' || sha256 || ' ' || bytes || ' ' || step || ' ' || kind from artifacts where incident_id = '$(last_incident)'")" "$(out backup path) $(out backup sha256) $(out backup bytes) backup sqlite.backup"
"$RUNE" log export "$(last_incident)" --json > "$T/export.json"
expect_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["artifacts"][0]["sha256"])' "$T/export.json")" "$(out backup sha256)" "the export lists the artifact"
"$RUNE" log show "$(last_incident)" > "$T/show.txt"
grep -qF "sha256 $(out backup sha256), $(out backup bytes) bytes, by sqlite.backup" "$T/show.txt" || fail "rune log show does not list the artifact: $(tail -5 "$T/show.txt")"
[ "$still" = 1 ] || fail "the writers had finished before the backup did; the case proves nothing"
# both writers got rows in before or after the snapshot: the snapshot
# holds a prefix of their work, and the live database all of it
expect_eq "$(sqlite3 "$T/busy.db" "select count(distinct customer) from orders where customer in ('w1','w2')")" "2"
gzip -dc "$(out backup path)" > "$T/snap.db"
expect_eq "$(sqlite3 "$T/snap.db" 'pragma integrity_check')" "ok"
expect_eq "$(sqlite3 "$T/snap.db" 'select count(*) from orders')" "$(out backup tables.orders)" "rows in the file = rows in the manifest"
end_case

test_case "a damaged backup is refused and nothing is changed"
make_db "$T/app.db"; rm -rf "$T/b"; mkdir -p "$T/b"
run_rune run "$T/bk.yaml" --set db="$T/app.db" --set dir="$T/b"
bk=$(out backup path)
printf 'X' | dd of="$bk" bs=1 seek=100 conv=notrunc status=none
sqlite3 "$T/app.db" "DELETE FROM orders WHERE id > 10"
cat > "$T/rs.yaml" <<'YAML'
runbook: rs
inputs: { db: { type: path, required: true }, from: { type: path, required: true } }
mitigation:
  steps:
    - { id: restore, uses: sqlite.restore, with: { path: "${inputs.db}", from: "${inputs.from}" } }
YAML
run_rune run "$T/rs.yaml" --set db="$T/app.db" --set from="$bk"
expect_rc 4
expect_out "refusing to restore"
expect_out "chunk 1"
expect_eq "$(sqlite3 "$T/app.db" 'select count(*) from orders')" "10" "database untouched"
ls "$T"/app.db.* 2>/dev/null | grep -q . && fail "left files beside the database: $(ls "$T"/app.db.*)"
end_case

test_case "a backup whose checksums pass but whose data does not decompress as its manifest says is refused while decompressing, and nothing is changed"
make_db "$T/app.db"; rm -rf "$T/b"; mkdir -p "$T/b"
run_rune run "$T/bk.yaml" --set db="$T/app.db" --set dir="$T/b"
bk=$(out backup path)
# every SHA-256 still matches: only the decompressed size is a lie, which
# only decompressing can find
python3 - "$bk.manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["chunks"][0]["raw_bytes"] += 1
m["raw_bytes"] += 1
json.dump(m, open(sys.argv[1], "w"))
PY
sqlite3 "$T/app.db" "DELETE FROM orders WHERE id > 10"
run_rune run "$T/rs.yaml" --set db="$T/app.db" --set from="$bk"
expect_rc 4
expect_out "refusing to restore"
expect_out "but the manifest says"
expect_out "nothing was changed"
expect_eq "$(sqlite3 "$T/app.db" 'select count(*) from orders')" "10" "database untouched"
ls "$T"/app.db.* 2>/dev/null | grep -q . && fail "left files beside the database: $(ls "$T"/app.db.*)"
end_case

test_case "an existing backup is never overwritten"
make_db "$T/app.db"; rm -rf "$T/b"; mkdir -p "$T/b"
cat > "$T/to.yaml" <<'YAML'
runbook: to
inputs: { db: { type: path, required: true }, to: { type: path, required: true } }
mitigation:
  steps:
    - { id: backup, uses: sqlite.backup, with: { path: "${inputs.db}", to: "${inputs.to}" } }
YAML
run_rune run "$T/to.yaml" --set db="$T/app.db" --set to="$T/b/fixed.db.gz"
expect_rc 0
sum=$(sha256sum "$T/b/fixed.db.gz")
sqlite3 "$T/app.db" "DELETE FROM orders"
run_rune run "$T/to.yaml" --set db="$T/app.db" --set to="$T/b/fixed.db.gz"
expect_rc 4
expect_out "already exists"
expect_eq "$(sha256sum "$T/b/fixed.db.gz")" "$sum" "the first backup is intact"
ls -A "$T/b" | grep -v '^fixed.db.gz' | grep -vq '^fixed.db.gz.manifest.json$' && fail "stray files: $(ls -A "$T/b")"
end_case

test_case "compact: a backup first, then a smaller file that passes integrity_check"
make_db "$T/app.db"
sqlite3 "$T/app.db" "PRAGMA wal_checkpoint(TRUNCATE); DELETE FROM orders WHERE id > 500;" >/dev/null
before=$(stat -c %s "$T/app.db")
cat > "$T/cp.yaml" <<'YAML'
runbook: cp
inputs: { db: { type: path, required: true } }
mitigation:
  steps:
    - { id: compact, uses: sqlite.compact, with: { path: "${inputs.db}" } }
YAML
run_rune run "$T/cp.yaml" --set db="$T/app.db"
expect_rc 0
[ "$(stat -c %s "$T/app.db")" -lt "$before" ] || fail "not smaller: $before -> $(stat -c %s "$T/app.db")"
[ -s "$(out compact backup)" ] || fail "no backup taken first"
expect_eq "$(sqlite3 "$T/app.db" 'select count(*) from orders')" "500"
expect_eq "$(sqlite3 "$T/app.db" 'pragma integrity_check')" "ok"
end_case

finish
