#!/usr/bin/env bash
# sqlite.backup reads one moment of a database that another process keeps
# writing, whichever way it reads it (issue 14): straight from the file in
# rollback-journal mode (writers wait), straight from the file in WAL mode
# when the WAL holds nothing newer (writers go on), through a copy made with
# SQLite's backup API when it does. Its pages are compressed while other
# connections count and hash the tables, so every table must come from the
# same moment as the pages: the writer adds one row to `a` and one to `b`
# in each transaction, and a consistent backup has as many of both. And a
# backup that fails while its pages stream leaves no backup behind.
. "$(dirname "$0")/lib.sh"

# make_db FILE MODE — pad (about 30 MB of compressible text, so that
# reading and compressing take a while), then tables a and b (2000 rows
# each), in journal mode MODE. a and b come last in the file: their pages
# are read well after the tables were read, and a snapshot that is not
# held in between shows.
make_db() {
    rm -f "$1" "$1"-*
    python3 - "$1" "$2" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode=" + sys.argv[2])
c.execute("CREATE TABLE pad(id INTEGER PRIMARY KEY, t TEXT)")
c.execute("INSERT INTO pad(t) SELECT hex(randomblob(25000)) FROM "
          "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 600) SELECT * FROM n)")
c.execute("CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT)")
c.execute("CREATE TABLE b(id INTEGER PRIMARY KEY, v TEXT)")
c.execute("BEGIN")
c.executemany("INSERT INTO a(v) VALUES (?)", [("a%d" % i,) for i in range(2000)])
c.executemany("INSERT INTO b(v) VALUES (?)", [("b%d" % i,) for i in range(2000)])
c.execute("COMMIT")
PY
}

# start_writer DB [GO] — a process that commits, until $T/stop exists,
# transactions each adding one row to a and one to b (waiting up to two
# minutes for a lock); $T/commits holds how many it committed. With GO, it
# connects at once but waits (at most 60 s) for the file GO to exist
# before its first commit.
start_writer() {
    rm -f "$T/stop" "$T/commits"
    python3 - "$1" "$T/stop" "$T/commits" "${2:-}" <<'PY' &
import os, sqlite3, sys, time
db, stop, out, go = sys.argv[1:5]
c = sqlite3.connect(db, timeout=120, isolation_level=None)
c.execute("PRAGMA synchronous=OFF")
for _ in range(60000):
    if not go or os.path.exists(go):
        break
    time.sleep(0.001)
n = 0
while not os.path.exists(stop):
    c.execute("BEGIN IMMEDIATE")
    c.execute("INSERT INTO a(v) VALUES ('w')")
    c.execute("INSERT INTO b(v) VALUES ('w')")
    c.execute("COMMIT")
    n += 1
    with open(out + ".tmp", "w") as f:
        f.write(str(n))
    os.replace(out + ".tmp", out)
PY
    WRITER=$!
}

# commits — how many transactions the writer has committed so far.
commits() {
    cat "$T/commits" 2>/dev/null || echo 0
}

# wait_commits N — waits (at most 60 s) until the writer committed N.
wait_commits() {
    local i
    for i in $(seq 1200); do
        [ "$(commits)" -ge "$1" ] && return 0
        kill -0 "$WRITER" 2>/dev/null || break
        sleep 0.05
    done
    fail "the writer did not reach $1 commits (it has $(commits))"
    return 1
}

stop_writer() {
    touch "$T/stop"
    wait "$WRITER"
}

cat >"$T/bk.yaml" <<'YAML'
runbook: bk
inputs:
  db: { type: path, required: true }
  to: { type: path, required: true }
  level: { type: int, default: 1 }
  threads: { type: int, default: 3 }
mitigation:
  steps:
    - { id: backup, uses: sqlite.backup, with: { path: "${inputs.db}", to: "${inputs.to}", level: "${inputs.level}", threads: "${inputs.threads}" } }
YAML
cat >"$T/rs.yaml" <<'YAML'
runbook: rs
inputs: { db: { type: path, required: true }, from: { type: path, required: true } }
mitigation:
  steps:
    - { id: restore, uses: sqlite.restore, with: { path: "${inputs.db}", from: "${inputs.from}" } }
YAML

# check_backup BACKUP — the backup is of one moment: as many rows in a as
# in b, more than before the writer started; restored by sqlite.restore it
# passes integrity_check and holds what its manifest says.
check_backup() {
    local na nb
    na=$(out backup tables.a)
    nb=$(out backup tables.b)
    expect_eq "$na" "$nb" "rows of a and b in the manifest (one moment)"
    [ "${na:-0}" -gt 2000 ] || fail "the backup holds none of the writer's rows ($na in a)"
    rm -f "$T/restored.db"*
    run_rune run "$T/rs.yaml" --set db="$T/restored.db" --set from="$1"
    expect_rc 0
    expect_eq "$(sqlite3 "$T/restored.db" 'PRAGMA integrity_check')" "ok" "integrity_check of the restored database"
    expect_eq "$(sqlite3 "$T/restored.db" 'SELECT count(*) FROM a')" "$na" "rows of a restored"
    expect_eq "$(sqlite3 "$T/restored.db" 'SELECT count(*) FROM b')" "$nb" "rows of b restored"
    expect_eq "$(sqlite3 "$T/restored.db" 'SELECT count(*) FROM pad')" "600" "rows of pad restored"
}

test_case "rollback journal: a backup taken while another process writes is of one moment, and the writer goes on after it"
make_db "$T/rj.db" delete
start_writer "$T/rj.db"
wait_commits 50
run_rune run "$T/bk.yaml" --set db="$T/rj.db" --set to="$T/rj.db.gz"
at_end=$(commits)
expect_rc 0
expect_out "straight from its database file; it is in rollback-journal mode"
wait_commits $((at_end + 20))
stop_writer
[ "$(sqlite3 "$T/rj.db" 'SELECT count(*) FROM a')" -gt "$(out backup tables.a)" ] || fail "no commit after the snapshot: the case proves nothing"
check_backup "$T/rj.db.gz"
end_case

test_case "WAL with commits not yet checkpointed: the snapshot is copied first, and is of one moment"
make_db "$T/wal.db" wal
start_writer "$T/wal.db"
wait_commits 50
run_rune run "$T/bk.yaml" --set db="$T/wal.db" --set to="$T/wal.db.gz"
expect_rc 0
expect_out "holds commits not yet checkpointed into the database file: copying a snapshot"
wait_commits $(($(commits) + 20))
stop_writer
[ "$(sqlite3 "$T/wal.db" 'SELECT count(*) FROM a')" -gt "$(out backup tables.a)" ] || fail "no commit after the snapshot: the case proves nothing"
check_backup "$T/wal.db.gz"
end_case

test_case "WAL with nothing newer than the file: read straight from it while the writer commits, and of one moment"
make_db "$T/rest.db" wal
# some rows before the backup, checkpointed into the file: the WAL is
# empty when the backup starts
start_writer "$T/rest.db"
wait_commits 50
stop_writer
sqlite3 "$T/rest.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
before=$(sqlite3 "$T/rest.db" 'SELECT count(*) FROM a')
# the writer is connected before the backup starts and commits as soon
# as the backup says it reads the file; level 9 on one thread, so that
# the pages are still streaming then
rm -f "$T/go"
start_writer "$T/rest.db" "$T/go"
"$RUNE" run "$T/bk.yaml" --set db="$T/rest.db" --set to="$T/rest.db.gz" --set level=9 --set threads=1 </dev/null >"$T/out" 2>"$T/err" &
backup=$!
streaming=0
for _ in $(seq 3000); do
    if [ "$(sql "select count(*) from events where kind='log' and detail_json like '%straight from its database file (its WAL holds nothing newer)%'")" != 0 ]; then
        streaming=1
        break
    fi
    kill -0 "$backup" 2>/dev/null || break
    sleep 0.02
done
touch "$T/go"
[ "$streaming" = 1 ] || fail "the backup did not read the file directly"
overlap=0
while kill -0 "$backup" 2>/dev/null; do
    [ "$(commits)" -gt 0 ] && overlap=1
    sleep 0.05
done
wait "$backup"
RC=$?
OUT=1
expect_rc 0
[ "$overlap" = 1 ] || fail "the writer committed nothing while the backup ran: the case proves nothing"
wait_commits 20
stop_writer
expect_eq "$(out backup tables.a)" "$before" "rows of a in the backup: those before it started"
expect_eq "$(out backup tables.b)" "$before" "rows of b in the backup"
[ "$(sqlite3 "$T/rest.db" 'SELECT count(*) FROM a')" -gt "$before" ] || fail "the writer's rows are not in the live database"
check_backup "$T/rest.db.gz"
end_case

test_case "tables read in rowid ranges by several connections hash as sqlite.fingerprint hashes them whole"
python3 - "$T/shapes.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.executescript("""
CREATE TABLE big(id INTEGER PRIMARY KEY, v TEXT, r REAL, b BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 200000)
INSERT INTO big SELECT i, 'v' || i, i / 7.0, CASE WHEN i % 3 THEN randomblob(i % 40) END FROM n;
CREATE TABLE sparse(v TEXT);
INSERT INTO sparse(rowid, v) VALUES (-9223372036854775808, 'min'), (-5, 'a'), (0, 'zero'), (9223372036854775807, 'max');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100000)
INSERT INTO sparse(rowid, v) SELECT i * 1000, 'd' || i FROM n;
CREATE TABLE shadow(rowid TEXT, v INTEGER);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 70000)
INSERT INTO shadow SELECT NULL, i FROM n;
CREATE TABLE allshadow(rowid, _rowid_, oid, v);
INSERT INTO allshadow VALUES (NULL, NULL, NULL, 1), (1, 2, 3, 4);
CREATE TABLE wr(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 70000)
INSERT INTO wr SELECT 'k' || i, i FROM n;
CREATE VIRTUAL TABLE fts USING fts5(body);
INSERT INTO fts(body) VALUES ('one two'), ('three');
CREATE TABLE empty(x);
""")
PY
cat >"$T/fp.yaml" <<'YAML'
runbook: fp
inputs: { db: { type: path, required: true }, to: { type: path, required: true } }
mitigation:
  steps:
    - { id: backup, uses: sqlite.backup, with: { path: "${inputs.db}", to: "${inputs.to}", level: 1, threads: 3 } }
    - { id: fp, uses: sqlite.fingerprint, with: { path: "${inputs.db}" } }
YAML
run_rune run "$T/fp.yaml" --set db="$T/shapes.db" --set to="$T/shapes.db.gz"
expect_rc 0
for t in big sparse shadow allshadow wr fts fts_data empty; do
    expect_eq "$(out backup tables.$t)" "$(out fp "tables.$t.rows")" "rows of $t"
    expect_eq "$(sqlite3 -batch -noheader :memory: "select json_extract(readfile('$T/shapes.db.gz.manifest.json'), '\$.table_hashes.$t')")" "$(out fp "tables.$t.hash")" "content hash of $t"
done
expect_eq "$(out backup tables.sparse)" "100004" "rows of sparse"
end_case

test_case "another step of the run opening the database while a rollback-journal backup reads it: a backup of one moment, or a failure that says the database changed"
# Closing any descriptor of a file drops every POSIX lock the process
# holds on it: a step that opens and closes the database by itself in
# the middle of the backup takes the backup's SHARED locks away, and the
# writer commits under it.
make_db "$T/par.db" delete
start_writer "$T/par.db"
wait_commits 50
cat >"$T/par.yaml" <<'YAML'
runbook: par
inputs: { db: { type: path, required: true }, to: { type: path, required: true } }
mitigation:
  steps:
    - { id: backup, uses: sqlite.backup, with: { path: "${inputs.db}", to: "${inputs.to}", level: 9, threads: 1 } }
    - id: wait
      needs: []
      uses: shell.run
      with:
        script: |
          # (60 s at most; a query that fails, the log busy, is no answer)
          for i in $(seq 3000); do
            n=$(sqlite3 -cmd ".timeout 10000" "$RUNE_LOG" "select count(*) from events where kind='log' and detail_json like '%straight from its database file%'")
            [ -n "$n" ] && [ "$n" != 0 ] && exit 0
            sleep 0.02
          done
          exit 1
    - { id: peek, needs: [wait], uses: sqlite.health, with: { path: "${inputs.db}" } }
YAML
run_rune run "$T/par.yaml" --set db="$T/par.db" --set to="$T/par.db.gz"
stop_writer
id=$(last_incident)
peek_end=$(sql "select max(seq) from events where incident_id='$id' and step='peek' and kind='step.end'")
backup_end=$(sql "select max(seq) from events where incident_id='$id' and step='backup' and kind='step.end'")
[ -n "$peek_end" ] && [ -n "$backup_end" ] && [ "$peek_end" -lt "$backup_end" ] || fail "the other step did not open the database while the backup ran: the case proves nothing"
if [ "$(step_status "$id" backup)" = ok ]; then
    check_backup "$T/par.db.gz"
else
    expect_out "changed while the backup read it"
    [ ! -e "$T/par.db.gz" ] || fail "a failed backup left its file"
fi
end_case

# pagenos DB TABLE — the leaf pages of TABLE's b-tree.
leaf_pages() {
    sqlite3 "$1" "SELECT pageno FROM dbstat WHERE name='$2' AND pagetype='leaf'"
}

test_case "a table that cannot be read fails the backup while its pages stream: no backup, nothing left"
make_db "$T/bad.db" delete
sqlite3 "$T/bad.db" "CREATE TABLE bad(v TEXT); INSERT INTO bad SELECT hex(randomblob(100)) FROM pad, (SELECT 1 UNION ALL SELECT 2);"
psize=$(sqlite3 "$T/bad.db" 'PRAGMA page_size')
page=$(leaf_pages "$T/bad.db" bad | sed -n 2p)
# the page's b-tree header says a page type that does not exist
printf '\377' | dd of="$T/bad.db" bs=1 seek=$(((page - 1) * psize)) conv=notrunc status=none
mkdir -p "$T/out1"
run_rune run "$T/bk.yaml" --set db="$T/bad.db" --set to="$T/out1/bad.db.gz"
expect_rc 4
expect_out "table bad of $T/bad.db"
expect_out "no backup was written"
expect_eq "$(ls -A "$T/out1" | wc -l)" "0" "files left where the backup was to go"
end_case

test_case "a database file that ends before its last page fails the backup: no backup, nothing left"
make_db "$T/short.db" delete
size=$(stat -c %s "$T/short.db")
truncate -s $((size / 2)) "$T/short.db"
mkdir -p "$T/out2"
run_rune run "$T/bk.yaml" --set db="$T/short.db" --set to="$T/out2/short.db.gz"
expect_rc 4
grep -qE "ends before its last page|malformed" "$T/out" || fail "the failure does not say the file is damaged: $(grep -A2 FAIL "$T/out")"
expect_eq "$(ls -A "$T/out2" | wc -l)" "0" "files left where the backup was to go"
end_case

finish
