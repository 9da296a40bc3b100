#!/usr/bin/env bash
# Backups with `compression: zstd`, end to end through the binary on real
# files: a SQLite database backed up and restored gives the same `.dump`
# byte for byte; file.compress / file.decompress round-trip; the real zstd
# command reads every backup whole (as gzip reads a default one); damage
# is located to its chunk; backup.list sees .gz and .zst backups side by
# side; every step names the command that reads the backup without rune;
# an unknown compression is refused by validation at its file:line:col.
. "$(dirname "$0")/lib.sh"

# A database with several tables, an index, a view, a trigger, NULLs,
# BLOBs and text in several scripts: what .dump must bring back exactly.
make_db() {
    rm -f "$1" "$1"-*
    sqlite3 "$1" >/dev/null <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, avatar BLOB);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER REFERENCES customers(id),
                    total REAL, note TEXT, placed TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX orders_by_customer ON orders(customer, placed);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 1000;
CREATE TABLE audit(at TEXT, what TEXT);
CREATE TRIGGER orders_audit AFTER DELETE ON orders BEGIN
    INSERT INTO audit VALUES ('2024-01-01', 'deleted ' || old.id); END;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 3000)
INSERT INTO customers SELECT i, 'customer ' || i || ' ünïcødé 東京',
    CASE WHEN i % 7 = 0 THEN NULL ELSE 'city' || (i % 31) END, randomblob(i % 64) FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 60000)
INSERT INTO orders(id, customer, total, note, placed)
    SELECT i, 1 + i % 3000, i * 0.37, hex(randomblob(24)), '2024-05-0' || (1 + i % 9) FROM n;
SQL
}

# manifest FILE EXPR — a Python expression over a manifest `m`, printed.
manifest() {
    python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

cat > "$T/backup.yaml" <<'YAML'
runbook: zstd-backup
inputs:
  db: { type: path, required: true }
  dir: { type: path, required: true }
  compression: { type: string, default: zstd }
mitigation:
  steps:
    - id: backup
      uses: sqlite.backup
      with: { path: "${inputs.db}", dir: "${inputs.dir}", compression: "${inputs.compression}", threads: 2 }
YAML
cat > "$T/restore.yaml" <<'YAML'
runbook: zstd-restore
inputs: { db: { type: path, required: true }, from: { type: path, required: true } }
mitigation:
  steps:
    - { id: restore, uses: sqlite.restore, with: { path: "${inputs.db}", from: "${inputs.from}" } }
YAML

test_case "sqlite.backup with compression: zstd, then sqlite.restore: .dump is byte-identical"
make_db "$T/app.db"; mkdir -p "$T/b"
sqlite3 "$T/app.db" .dump > "$T/before.sql"
run_rune run "$T/backup.yaml" --set db="$T/app.db" --set dir="$T/b"
expect_rc 0
bk=$(out backup path)
case "$bk" in "$T"/b/app-*.db.zst) ;; *) fail "backup name $bk does not end in .db.zst" ;; esac
[ -s "$bk" ] && [ -s "$bk.manifest.json" ] || fail "no backup or manifest at $bk"
expect_eq "$(out backup read_with)" "zstd -dc"
expect_eq "$(manifest "$bk.manifest.json" '" | ".join([m["compression"], m["read_with"], str(m["level"])])')" "zstd | zstd -dc | 3"
expect_out "without rune: zstd -dc $bk"
# the data changes after the backup, then the backup is restored
sqlite3 "$T/app.db" "DELETE FROM orders WHERE id % 3 = 0; UPDATE customers SET city = 'gone'; DROP VIEW big_orders;"
run_rune run "$T/restore.yaml" --set db="$T/app.db" --set from="$bk"
expect_rc 0
sqlite3 "$T/app.db" .dump > "$T/after.sql"
cmp -s "$T/before.sql" "$T/after.sql" || fail "the restored database's .dump differs: $(diff "$T/before.sql" "$T/after.sql" | head -5)"
expect_eq "$(sqlite3 "$T/app.db" 'pragma integrity_check')" "ok"
# the zstd command alone restores it too
zstd -q -dc "$bk" > "$T/plain.db" || fail "zstd -dc cannot read $bk"
zstd -q -t "$bk" || fail "zstd -t finds $bk damaged"
sqlite3 "$T/plain.db" .dump > "$T/plain.sql"
cmp -s "$T/before.sql" "$T/plain.sql" || fail "zstd -dc of the backup is not the database"
end_case

test_case "a flipped byte in a zstd backup is located to its chunk, and the restore refuses it"
# the backup above is 4 MiB chunks; a second one with small chunks, by file.compress
cp "$T/plain.db" "$T/data.bin"
cat > "$T/compress.yaml" <<'YAML'
runbook: zstd-compress
inputs: { f: { type: path, required: true } }
mitigation:
  steps:
    - { id: pack, uses: file.compress, with: { path: "${inputs.f}", compression: zstd, level: 1, chunk_size: 65536 } }
    - { id: unpack, uses: file.decompress, with: { path: "${steps.pack.outputs.path}", to: "${inputs.f}.back" } }
    - { id: check, uses: backup.verify, with: { path: "${steps.pack.outputs.path}" } }
YAML
run_rune run "$T/compress.yaml" --set f="$T/data.bin"
expect_rc 0
expect_eq "$(out pack path)" "$T/data.bin.zst"
expect_eq "$(out pack compression) $(out pack read_with)" "zstd zstd -dc"
expect_eq "$(out check read_with)" "zstd -dc"
expect_eq "$(out unpack verified)" "manifest"
cmp -s "$T/data.bin" "$T/data.bin.back" || fail "file.decompress did not give the original back"
chunks=$(out pack chunks)
[ "$chunks" -ge 5 ] || fail "only $chunks chunks: the case needs several"
off=$(manifest "$T/data.bin.zst.manifest.json" 'm["chunks"][3]["offset"] + m["chunks"][3]["bytes"] // 2')
printf '\x5a' | dd of="$T/data.bin.zst" bs=1 seek="$off" conv=notrunc status=none
cat > "$T/verify.yaml" <<'YAML'
runbook: zstd-verify
inputs: { f: { type: path, required: true } }
mitigation:
  steps:
    - { id: check, uses: backup.verify, with: { path: "${inputs.f}" } }
YAML
run_rune run "$T/verify.yaml" --set f="$T/data.bin.zst"
expect_rc 4
expect_eq "$(out check ok)" "0"
expect_eq "$(out check bad_chunk)" "4"
expect_out "chunk 4 of $chunks"
# a restore from a damaged zstd backup changes nothing
printf '\x5a' | dd of="$bk" bs=1 seek=100 conv=notrunc status=none
sqlite3 "$T/app.db" "DELETE FROM orders WHERE id > 10"
run_rune run "$T/restore.yaml" --set db="$T/app.db" --set from="$bk"
expect_rc 4
expect_out "refusing to restore"
expect_out "chunk 1"
expect_eq "$(sqlite3 "$T/app.db" 'select count(*) from orders')" "10" "database untouched"
end_case

test_case "file.decompress reads a plain .zst (no manifest) by its own checksums, and refuses one cut short"
head -c 300000 "$T/data.bin" > "$T/small.bin"
zstd -q -c "$T/small.bin" > "$T/other.zst"
cat > "$T/unpack.yaml" <<'YAML'
runbook: zstd-unpack
inputs: { f: { type: path, required: true } }
mitigation:
  steps:
    - { id: unpack, uses: file.decompress, with: { path: "${inputs.f}" } }
YAML
run_rune run "$T/unpack.yaml" --set f="$T/other.zst"
expect_rc 0
expect_eq "$(out unpack verified)" "zstd-checksum"
cmp -s "$T/small.bin" "$T/other" || fail "a plain .zst did not decompress to the original"
head -c 1000 "$T/other.zst" > "$T/cut.zst"
run_rune run "$T/unpack.yaml" --set f="$T/cut.zst"
expect_rc 4
expect_out "the file ends inside zstd frame 1 (truncated); nothing was written"
[ ! -e "$T/cut" ] || fail "a cut .zst left an output behind"
end_case

test_case "backup.list sees gzip and zstd backups side by side, each with the command that reads it"
rm -rf "$T/mix"; mkdir -p "$T/mix"
make_db "$T/app.db"
run_rune run "$T/backup.yaml" --set db="$T/app.db" --set dir="$T/mix" --set compression=gzip
expect_rc 0
gz=$(out backup path)
case "$gz" in *.db.gz) ;; *) fail "a gzip backup named $gz" ;; esac
expect_eq "$(out backup read_with)" "gzip -dc"
gzip -dc "$gz" > "$T/g.db" || fail "gzip -dc does not read the gzip backup"
[ "$(sqlite3 "$T/g.db" .dump | sha256sum)" = "$(sqlite3 "$T/app.db" .dump | sha256sum)" ] || fail "gzip -dc of the backup is not the database"
run_rune run "$T/backup.yaml" --set db="$T/app.db" --set dir="$T/mix"
expect_rc 0
zs=$(out backup path)
cat > "$T/list.yaml" <<'YAML'
runbook: zstd-list
inputs: { dir: { type: path, required: true } }
mitigation:
  steps:
    - { id: list, uses: backup.list, with: { dir: "${inputs.dir}", verify: true } }
YAML
run_rune run "$T/list.yaml" --set dir="$T/mix"
expect_rc 0
expect_eq "$(out list count)" "2"
expect_eq "$(sql "select group_concat(j.value ->> 'name' || ' ' || (j.value ->> 'read_with') || ' ' || (j.value ->> 'verified'), ', ') from events e, json_each(e.detail_json, '\$.outputs.backups') j where e.incident_id='$(last_incident)' and e.step='list' and e.kind='step.end'")" \
    "$(basename "$zs") zstd -dc 1, $(basename "$gz") gzip -dc 1"
end_case

test_case "the bundled sqlite-backup with compression=zstd, then sqlite-restore picks the newest .zst among .gz backups"
rm -rf "$T/rb"; mkdir -p "$T/rb"
make_db "$T/live.db"
run_rune run sqlite-backup --set path="$T/live.db" --set backups="$T/rb"
expect_rc 0
sqlite3 "$T/live.db" "DELETE FROM orders WHERE id > 50000"
sqlite3 "$T/live.db" .dump > "$T/live-before.sql"
run_rune run sqlite-backup --set path="$T/live.db" --set backups="$T/rb" --set compression=zstd
expect_rc 0
expect_eq "$(ls "$T/rb" | grep -c '\.db\.gz$') $(ls "$T/rb" | grep -c '\.db\.zst$')" "1 1" "one gzip and one zstd backup kept"
sqlite3 "$T/live.db" "DELETE FROM orders"
run_rune run sqlite-restore --set path="$T/live.db" --set backups="$T/rb" --yes
expect_rc 0
case "$(out chosen path)" in *.db.zst) ;; *) fail "restored from $(out chosen path), not the newest (zstd) backup" ;; esac
sqlite3 "$T/live.db" .dump > "$T/live-after.sql"
cmp -s "$T/live-before.sql" "$T/live-after.sql" || fail "the restored database's .dump differs"
end_case

test_case "compression: lz4 is refused by validation at its file:line:col, and nothing runs"
cat > "$T/lz4.yaml" <<'YAML'
runbook: lz4
mitigation:
  steps:
    - id: backup
      uses: sqlite.backup
      with: { path: app.db, compression: lz4 }
YAML
run_rune validate "$T/lz4.yaml"
expect_rc 2
expect_err "$T/lz4.yaml:6:42: error: step \"backup\": parameter \"compression\": \"lz4\" is not one of gzip or zstd"
run_rune run "$T/lz4.yaml"
expect_rc 2
[ ! -e "$RUNE_LOG" ] || [ "$(sql "select count(*) from incidents where runbook='lz4'")" = 0 ] || fail "an incident was recorded"
end_case

finish
