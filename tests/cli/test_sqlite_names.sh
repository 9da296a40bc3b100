#!/usr/bin/env bash
# Table names that need quoting reach SQL as exactly themselves in every
# sqlite.* step and bundled SQLite runbook (issue 21, item 1): "Order",
# "Position", "my table", "Ünïcode", a"b, "x.y", and "sqlite1" (a user's
# table, though its name starts like SQLite's own sqlite_*).
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases/sqlite"
export RUNE_PATH="$RUNE_SOURCE_DIR/runbooks"

make_db() {
    rm -f "$1" "$1"-*
    sqlite3 "$1" <<'SQL'
CREATE TABLE "Order"(id INTEGER PRIMARY KEY, total REAL);
CREATE TABLE "Position"(id INTEGER PRIMARY KEY, "Order" INTEGER REFERENCES "Order"(id));
CREATE TABLE "my table"(v TEXT);
CREATE TABLE "Ünïcode"(v TEXT);
CREATE TABLE "a""b"(v TEXT);
CREATE TABLE sqlite1(v TEXT);
CREATE TABLE "x.y"(v TEXT);
INSERT INTO "Order" VALUES (1, 1.5), (2, 2.5), (3, 3.5);
INSERT INTO "Position" VALUES (1, 1), (2, 3);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 8)
INSERT INTO "my table" SELECT 'm' || i FROM n WHERE i <= 4;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 8)
INSERT INTO "Ünïcode" SELECT 'ü' || i FROM n WHERE i <= 5;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 8)
INSERT INTO "a""b" SELECT 'q' || i FROM n WHERE i <= 6;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 8)
INSERT INTO sqlite1 SELECT 's' || i FROM n WHERE i <= 7;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 8)
INSERT INTO "x.y" SELECT 'x' || i FROM n WHERE i <= 8;
SQL
}

# outputs STEP — a step's outputs in the last incident, as JSON.
outputs() {
    sql "select json_extract(detail_json,'\$.outputs') from events where incident_id='$(last_incident)' and step='$1' and kind='step.end' order by seq desc limit 1"
}

# pyjson JSON EXPR — EXPR evaluated in Python over the parsed JSON (as o),
# with the row counts every table should have as w.
pyjson() {
    python3 -c 'import json,sys; o=json.loads(sys.argv[1]); w=json.loads(sys.argv[3]); print(eval(sys.argv[2]))' "$1" "$2" "$WANT"
}

WANT='{"Order": 3, "Position": 2, "my table": 4, "Ünïcode": 5, "a\"b": 6, "sqlite1": 7, "x.y": 8}'

test_case "backup, restore, compact, counts, fingerprints, integrity and queries on names that need quoting"
make_db "$T/app.db"; mkdir -p "$T/b"
run_rune run "$C/names.yaml" --set db="$T/app.db" --set dir="$T/b"
expect_rc 0
expect_eq "$(pyjson "$(outputs health)" 'sorted(o["tables"])')" "['Order', 'Position', 'a\"b', 'my table', 'sqlite1', 'x.y', 'Ünïcode']" "health lists every table"
expect_eq "$(pyjson "$(outputs backup)" "o['tables'] == w")" "True" "the backup's row counts: $(outputs backup)"
expect_eq "$(pyjson "$(outputs restore)" "o['tables'] == w")" "True" "the restored row counts"
expect_eq "$(pyjson "$(outputs counts)" '(o["ok"], len(o["diff"]))')" "(True, 7)" "verify_counts against the manifest"
expect_eq "$(pyjson "$(outputs expected)" '(o["ok"], sorted((d["table"], d["actual"]) for d in o["diff"]))')" \
    "(True, [('Order', 3), ('Position', 2), ('a\"b', 6), ('my table', 4), ('sqlite1', 7), ('x.y', 8), ('Ünïcode', 5)])" "verify_counts against literal names"
expect_eq "$(pyjson "$(outputs some)" 'sorted((k, v["rows"]) for k, v in o["tables"].items())')" "[('a\"b', 6), ('my table', 4)]" "fingerprint of named tables"
expect_eq "$(pyjson "$(outputs after)" 'o["fingerprint"]')" "$(pyjson "$(outputs before)" 'o["fingerprint"]')" "the content after backup, damage, restore and compaction is the content before"
expect_eq "$(pyjson "$(outputs after)" 'len(o["tables"])')" "7" "tables fingerprinted"
expect_eq "$(pyjson "$(outputs integrity)" 'o["ok"]')" "True" "integrity"
expect_eq "$(pyjson "$(outputs query)" 'o["value"]')" "6" "query"
end_case

test_case "the bundled sqlite-backup, sqlite-restore and sqlite-integrity-check runbooks on names that need quoting"
make_db "$T/app2.db"; mkdir -p "$T/b2"
run_rune run sqlite-backup --set path="$T/app2.db" --set backups="$T/b2"
expect_rc 0
bk=$(out backup path)
expect_eq "$(pyjson "$(outputs backup)" "o['tables'] == w")" "True" "the backup's row counts"
sqlite3 "$T/app2.db" 'DELETE FROM "Ünïcode";'
run_rune run sqlite-integrity-check --set path="$T/app2.db" --set manifest="$bk"
expect_eq "$(step_status "$(last_incident)" counts)" "failed" "counts differ after the damage"
expect_out "Ünïcode has 0 rows, expected 5"
sqlite3 "$T/app2.db" 'DELETE FROM "a""b"; DELETE FROM sqlite1;'
run_rune run sqlite-restore --set path="$T/app2.db" --set backups="$T/b2" --yes
expect_rc 0
expect_eq "$(sqlite3 "$T/app2.db" 'select count(*) from "Ünïcode"') $(sqlite3 "$T/app2.db" 'select count(*) from "a""b"') $(sqlite3 "$T/app2.db" 'select count(*) from sqlite1')" "5 6 7" "rows restored"
run_rune run sqlite-integrity-check --set path="$T/app2.db" --set manifest="$bk"
expect_rc 0
expect_eq "$(step_status "$(last_incident)" counts)" "ok" "counts match the backup again"
end_case

finish
