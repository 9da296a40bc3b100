#!/usr/bin/env bash
# pg.dump with compression: zstd on a real PostgreSQL 15 server: pg.restore
# brings back every table's content exactly (compared row by row in SQL,
# not only by rune's own hashes); zstd -dc | psql restores it without rune;
# and a default (gzip) pg.dump still restores by gzip -dc | psql into a
# fresh database with equal contents — the promise that made gzip the
# default.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"

# content DB — one line per table of the public schema: name, rows and
# the md5 of its rows as text in a fixed order (children included, as
# SELECT sees them). Two databases with the same data print the same.
content() {
    local t
    for t in $(pg_sql "select tablename from pg_tables where schemaname = 'public' order by 1" "$1"); do
        pg_sql "select '$t', count(*), md5(coalesce(string_agg(x::text, E'\n' order by x::text), '')) from \"$t\" x" "$1"
    done
}

pg_start
pg_createdb app
pg_load "$RUNE_SOURCE_DIR/tests/pg/data/realistic.sql" app -v scale=0.01
# what plain text must carry exactly: NULLs, bytea, jsonb, arrays, text with
# tabs, newlines, backslashes and several scripts, a sequence, a partitioned
# table
pg_psql -d app <<'SQL' || fail "setup"
create table odd (id serial primary key, t text, b bytea, j jsonb, a int[], ts timestamptz);
insert into odd (t, b, j, a, ts)
select case when g % 5 = 0 then null else E'line\t' || g || E'\nback\\slash ünïcødé 東京' end,
       decode(md5(g::text), 'hex'), jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g)),
       array[g, g * 2], timestamptz '2024-05-01 02:00:00+00' + g * interval '1 minute'
from generate_series(1, 2000) g;
create table measures (id int, at date, v numeric) partition by range (at);
create table measures_2024 partition of measures for values from ('2024-01-01') to ('2025-01-01');
insert into measures select g, date '2024-01-01' + g % 300, g * 1.5 from generate_series(1, 5000) g;
SQL

cat > "$T/dump_restore.yaml" <<'YAML'
runbook: pg-zstd
inputs:
  db: { type: string, required: true }
  dir: { type: path, required: true }
  into: { type: string, required: true }
  compression: { type: string, default: zstd }
mitigation:
  steps:
    - id: dump
      uses: pg.dump
      with: { database: "${inputs.db}", dir: "${inputs.dir}", compression: "${inputs.compression}", jobs: 2 }
    - id: restore
      uses: pg.restore
      with: { from: "${steps.dump.outputs.path}", into: "${inputs.into}", jobs: 2, check: content }
verification:
  steps:
    - { id: verify, uses: backup.verify, with: { path: "${steps.dump.outputs.path}" } }
    - { id: list, uses: backup.list, with: { dir: "${inputs.dir}", verify: true } }
YAML

test_case "pg.dump with compression: zstd, then pg.restore: every table's content is equal"
content app > "$T/app.content"
grep -q "^odd|2000|" "$T/app.content" && grep -q "^orders|[1-9]" "$T/app.content" || fail "the data set is not loaded: $(cat "$T/app.content")"
[ "$(wc -l < "$T/app.content")" -ge 8 ] || fail "the data set has too few tables: $(cat "$T/app.content")"
mkdir -p "$T/bz"
run_rune run "$T/dump_restore.yaml" --set db=app --set dir="$T/bz" --set into=fromzstd
expect_rc 0
bk=$(out dump path)
case "$bk" in "$T/bz/app-"[0-9]*-[0-9]*.sql.zst) ;; *) fail "unexpected name $bk" ;; esac
expect_eq "$(sqlite3 :memory: "select json_extract(readfile('$bk.manifest.json'), '\$.compression')")" "zstd"
expect_eq "$(out dump read_with)" "zstd -dc"
expect_out "without rune: zstd -dc $bk | psql"
expect_eq "$(out restore format)" "rune"
expect_eq "$(out restore checked)" "content"
expect_eq "$(out verify ok) $(out verify read_with)" "1 zstd -dc"
expect_eq "$(out list count) $(out list 'backups[0].verified')" "1 1"
content fromzstd > "$T/fromzstd.content"
diff "$T/app.content" "$T/fromzstd.content" > "$T/diff" || fail "contents differ: $(head -5 "$T/diff")"
end_case

test_case "zstd -dc BACKUP | psql restores the zstd backup without rune"
pg_createdb byhand_zstd
zstd -q -dc "$bk" | pg_psql -d byhand_zstd >"$T/psql.out" 2>&1 || fail "psql: $(tail -3 "$T/psql.out")"
content byhand_zstd > "$T/byhand_zstd.content"
diff "$T/app.content" "$T/byhand_zstd.content" > "$T/diff" || fail "contents differ: $(head -5 "$T/diff")"
end_case

test_case "gzip -dc of a default (gzip) pg.dump backup restores with psql into a fresh database, equal contents"
mkdir -p "$T/bg"
cat > "$T/dump_default.yaml" <<'YAML'
runbook: pg-default
inputs: { db: { type: string, required: true }, dir: { type: path, required: true } }
mitigation:
  steps:
    - { id: dump, uses: pg.dump, with: { database: "${inputs.db}", dir: "${inputs.dir}" } }
YAML
run_rune run "$T/dump_default.yaml" --set db=app --set dir="$T/bg"
expect_rc 0
gz=$(out dump path)
case "$gz" in *.sql.gz) ;; *) fail "a default dump named $gz" ;; esac
expect_eq "$(out dump read_with)" "gzip -dc"
pg_createdb byhand_gzip
gzip -dc "$gz" | pg_psql -d byhand_gzip >"$T/psql.out" 2>&1 || fail "psql: $(tail -3 "$T/psql.out")"
content byhand_gzip > "$T/byhand_gzip.content"
diff "$T/app.content" "$T/byhand_gzip.content" > "$T/diff" || fail "contents differ: $(head -5 "$T/diff")"
end_case

test_case "a flipped byte in a zstd dump is refused before anything is restored"
cp "$bk" "$T/bad.sql.zst"; cp "$bk.manifest.json" "$T/bad.sql.zst.manifest.json"
size=$(stat -c %s "$T/bad.sql.zst")
printf '\xff' | dd of="$T/bad.sql.zst" bs=1 seek=$((size / 2)) conv=notrunc status=none
cat > "$T/restore.yaml" <<'YAML'
runbook: pg-zstd-restore
inputs: { from: { type: path, required: true }, into: { type: string, required: true } }
mitigation:
  steps:
    - { id: restore, uses: pg.restore, with: { from: "${inputs.from}", into: "${inputs.into}" } }
YAML
run_rune run "$T/restore.yaml" --set from="$T/bad.sql.zst" --set into=never
expect_rc 4
expect_out "refusing to restore"
expect_out "SHA-256 mismatch"
expect_eq "$(pg_sql "select count(*) from pg_database where datname = 'never'")" "0" "no database created"
end_case

finish
