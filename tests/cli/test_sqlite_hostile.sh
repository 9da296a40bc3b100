#!/usr/bin/env bash
# sqlite.backup, sqlite.restore and sqlite.compact against a second local
# user and against kill -9 (issue 12, items 5 and 9):
# - another user can neither plant a file or a symlink where rune writes
#   its snapshot or its copies nor read a 0600 database through anything
#   rune creates, in a shared sticky directory or in one they own;
# - what a crash leaves is private, and the next backup removes it (and
#   nothing else);
# - a restore killed right after any system call of its swap leaves a live
#   database with the old content or the new one, never none.
# Crashes come from the test-only crash points (RUNE_TEST_CRASH_AT,
# steps/sqlite/crash.h): rune sends itself SIGKILL right after the Nth one.
. "$(dirname "$0")/lib.sh"

SECRET=TOPSECRET-7f3a9c

# secret_db FILE — a root-owned 0600 database whose rows hold $SECRET.
secret_db() {
    rm -f "$1" "$1"-*
    sqlite3 "$1" "CREATE TABLE s(v TEXT);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000)
        INSERT INTO s SELECT '$SECRET-' || i FROM n;"
    chmod 0600 "$1"
}

# leaks DIR — files under DIR the attacker can read that hold $SECRET.
leaks() {
    as_attacker sh -c 'grep -rlF "$0" "$1" 2>/dev/null' "$SECRET" "$1"
}

# start_known GO CMD... — starts CMD in the background in a process whose
# pid ($KPID) is known before CMD runs: it waits for the file GO (at most
# 60 s), then execs CMD under that same pid. finish_known GO lets it go and
# waits for it (exit code in $RC, output in $T/out and $T/err).
start_known() {
    local go=$1
    shift
    sh -c 'i=0; while [ ! -e "$0" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; exec "$@"' \
        "$go" "$@" </dev/null >"$T/out" 2>"$T/err" &
    KPID=$!
}
finish_known() {
    touch "$1"
    wait "$KPID"
    RC=$?
    OUT=1
}

# host_tag — this host's name as scratch directory names carry it.
host_tag() {
    hostname | head -c 32 | tr -c 'A-Za-z0-9\n' '-' | tr -d '\n'
}

# dead_pid — the pid of a process that has exited.
dead_pid() {
    sh -c 'exit 0' &
    local p=$!
    wait "$p"
    echo "$p"
}

# The paths are plain strings here, as a runbook computing them would pass
# them: the primitives' own defences are what is tested. (A `path` input is
# checked and made canonical before any step runs: test_inputs.sh.)
cat >"$T/bk.yaml" <<'YAML'
runbook: bk
inputs: { db: { type: string, required: true }, to: { type: string, required: true } }
mitigation:
  steps:
    - { id: backup, uses: sqlite.backup, with: { path: "${inputs.db}", to: "${inputs.to}", level: 1 } }
YAML
cat >"$T/rs.yaml" <<'YAML'
runbook: rs
inputs:
  db: { type: string, required: true }
  from: { type: string, required: true }
  busy: { type: string, default: "5s" }
mitigation:
  steps:
    - { id: restore, uses: sqlite.restore, with: { path: "${inputs.db}", from: "${inputs.from}", busy_timeout: "${inputs.busy}" } }
YAML
cat >"$T/cp.yaml" <<'YAML'
runbook: cp
inputs: { db: { type: string, required: true } }
mitigation:
  steps:
    - { id: compact, uses: sqlite.compact, with: { path: "${inputs.db}", backup: false } }
YAML

test_case "a backup into a directory another user owns is refused, and a symlink at the old snapshot name reads nothing"
if attacker_setup; then
    secret_db "$T/secret.db"
    as_attacker mkdir -m 0755 "$T/shared/adir"
    as_attacker mkdir -m 0777 "$T/shared/loot"
    start_known "$T/go1" "$RUNE" run "$T/bk.yaml" --set db="$T/secret.db" --set to="$T/shared/adir/app.db.gz"
    # the attacker owns the directory: no kernel protection applies to
    # links in it; this is where rune used to put .NAME.snapshot-PID
    as_attacker ln -s "$T/shared/loot/snap" "$T/shared/adir/.app.db.gz.snapshot-$KPID"
    finish_known "$T/go1"
    expect_rc 4
    expect_out "belongs to another user"
    expect_out "no backup was written"
    [ -z "$(leaks "$T/shared")" ] || fail "the attacker read the 0600 database through: $(leaks "$T/shared")"
    [ ! -e "$T/shared/loot/snap" ] || fail "rune wrote through the attacker's symlink"
    [ -z "$(find "$T/shared/adir" -user root)" ] || fail "rune left files in the attacker's directory: $(find "$T/shared/adir" -user root)"
fi
end_case

test_case "in a shared sticky directory, a symlink or a file planted at the old snapshot names is never used"
if attacker_setup; then
    secret_db "$T/secret.db"
    as_attacker mkdir -p -m 0777 "$T/shared/loot"
    start_known "$T/go2" "$RUNE" run "$T/bk.yaml" --set db="$T/secret.db" --set to="$T/shared/one.db.gz"
    planted="$T/shared/.one.db.gz.snapshot-$KPID"
    as_attacker ln -s "$T/shared/loot/one" "$planted"
    finish_known "$T/go2"
    expect_rc 0
    start_known "$T/go3" "$RUNE" run "$T/bk.yaml" --set db="$T/secret.db" --set to="$T/shared/two.db.gz"
    # a file of the attacker's at the predictable name, with a second name
    # of theirs that outlives rune's unlink
    as_attacker sh -c 'touch "$0" && chmod 666 "$0" && ln "$0" "$1"' "$T/shared/loot/two" "$T/shared/.two.db.gz.snapshot-$KPID"
    finish_known "$T/go3"
    expect_rc 0
    [ -z "$(leaks "$T/shared")" ] || fail "the attacker read the 0600 database through: $(leaks "$T/shared")"
    [ ! -e "$T/shared/loot/one" ] || fail "rune wrote through the attacker's symlink"
    [ ! -s "$T/shared/loot/two" ] || fail "rune wrote into the attacker's file"
    [ -L "$planted" ] || fail "rune touched the attacker's symlink"
    for f in one.db.gz one.db.gz.manifest.json two.db.gz; do
        expect_eq "$(stat -c '%U %a' "$T/shared/$f")" "root 600" "owner and mode of $f"
        as_attacker cat "$T/shared/$f" >/dev/null 2>&1 && fail "the attacker can read $f"
    done
    # every file rune left in the directory is one it meant to leave
    expect_eq "$(find "$T/shared" -maxdepth 1 -user root -name '.*' | wc -l)" "0" "hidden files of rune's left behind"
    gzip -dc "$T/shared/one.db.gz" >"$T/one.db"
    expect_eq "$(sqlite3 "$T/one.db" "select count(*) from s where v like '$SECRET-%'")" "2000" "the backup holds the data"
fi
end_case

# secret_wal_db FILE — like secret_db, in WAL mode, its rows committed
# only to its -wal (the writer died before any checkpoint): the backup
# must copy a snapshot through SQLite before it can stream one.
secret_wal_db() {
    rm -f "$1" "$1"-*
    python3 - "$1" "$SECRET" <<'PY'
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode=WAL")
c.execute("PRAGMA wal_autocheckpoint=0")
c.execute("CREATE TABLE s(v TEXT)")
c.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000) "
          "INSERT INTO s SELECT ? || '-' || i FROM n", (sys.argv[2],))
os._exit(0)
PY
    chmod 0600 "$1" "$1"-*
}

test_case "a crash during a backup leaves only a private directory, which the next backup removes (and nothing else)"
if attacker_setup; then
    secret_wal_db "$T/secret.db"
    [ -s "$T/secret.db-wal" ] || fail "the test database has no -wal"
    host=$(host_tag)
    dead=$(dead_pid)
    sleep 300 &
    live=$!
    # things named like leftovers that are not rune's to remove: another
    # user's, a symlink to a directory of root's, a live process's, another
    # host's
    as_attacker mkdir "$T/shared/.rune-scratch-$dead-$host-AAAAAA"
    as_attacker touch "$T/shared/.rune-scratch-$dead-$host-AAAAAA/theirs"
    mkdir -p "$T/precious" && echo keep >"$T/precious/file"
    as_attacker ln -s "$T/precious" "$T/shared/.rune-scratch-$dead-$host-BBBBBB"
    mkdir -m 0700 "$T/shared/.rune-scratch-$live-$host-CCCCCC" "$T/shared/.rune-scratch-$dead-elsewhere-DDDDDD"
    touch "$T/shared/.rune-scratch-$live-$host-CCCCCC/busy"
    RUNE_TEST_CRASH_AT=sqlite.backup:1 run_rune run "$T/bk.yaml" --set db="$T/secret.db" --set to="$T/shared/crash.db.gz"
    expect_rc 137
    left=$(find "$T/shared" -maxdepth 1 -name '.rune-scratch-*' | grep -v -e AAAAAA -e BBBBBB -e CCCCCC -e DDDDDD)
    expect_eq "$(echo "$left" | grep -c .)" "1" "scratch directories left by the crash"
    expect_eq "$(stat -c '%U %a' "$left")" "root 700" "owner and mode of the leftover"
    grep -qF "$SECRET" "$left/snapshot.db" || fail "the leftover does not hold the snapshot"
    as_attacker ls "$left" >/dev/null 2>&1 && fail "the attacker can list the leftover"
    as_attacker cat "$left/snapshot.db" >/dev/null 2>&1 && fail "the attacker can read the snapshot"
    [ -z "$(leaks "$T/shared")" ] || fail "the attacker read the 0600 database through: $(leaks "$T/shared")"
    [ ! -e "$T/shared/crash.db.gz" ] && [ ! -e "$T/shared/crash.db.gz.manifest.json" ] || fail "a backup that never finished is under its final name"
    run_rune run "$T/bk.yaml" --set db="$T/secret.db" --set to="$T/shared/next.db.gz"
    expect_rc 0
    expect_out "removed 1 scratch directory left in $T/shared by a run that did not finish"
    [ ! -e "$left" ] || fail "the leftover of the crash is still there"
    [ -e "$T/shared/.rune-scratch-$dead-$host-AAAAAA/theirs" ] || fail "another user's directory was emptied"
    [ -L "$T/shared/.rune-scratch-$dead-$host-BBBBBB" ] || fail "the symlink was removed"
    expect_eq "$(cat "$T/precious/file" 2>&1)" "keep" "the directory behind the symlink"
    [ -e "$T/shared/.rune-scratch-$live-$host-CCCCCC/busy" ] || fail "a live process's directory was removed"
    [ -d "$T/shared/.rune-scratch-$dead-elsewhere-DDDDDD" ] || fail "another host's directory was removed"
    kill "$live" 2>/dev/null
    wait "$live" 2>/dev/null
fi
end_case

test_case "a crash while a backup streams the database file leaves no backup under its name and nothing another user can read; the next backup removes the private directory"
if attacker_setup; then
    secret_db "$T/secret.db"
    # several read blocks: the crash comes once the first block of the
    # database went to the compression workers, the backup half written
    sqlite3 "$T/secret.db" "CREATE TABLE pad(b BLOB); INSERT INTO pad SELECT randomblob(100000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 40) SELECT * FROM n);"
    rm -rf "$T/shared/st" && mkdir -m 0755 "$T/shared/st"
    RUNE_TEST_CRASH_AT=sqlite.backup:3 run_rune run "$T/bk.yaml" --set db="$T/secret.db" --set to="$T/shared/st/crash.db.gz"
    expect_rc 137
    [ ! -e "$T/shared/st/crash.db.gz" ] && [ ! -e "$T/shared/st/crash.db.gz.manifest.json" ] || fail "a backup that never finished is under its final name"
    left=$(find "$T/shared/st" -maxdepth 1 -name '.rune-scratch-*')
    expect_eq "$(echo "$left" | grep -c .)" "1" "scratch directories left by the crash"
    expect_eq "$(stat -c '%U %a' "$left")" "root 700" "owner and mode of the leftover"
    for f in $(find "$T/shared/st" -maxdepth 1 -type f); do
        expect_eq "$(stat -c '%U %a' "$f")" "root 600" "owner and mode of $f"
        case "$(basename "$f")" in .crash.db.gz.partial-*) ;; *) fail "unexpected file left: $f" ;; esac
    done
    [ -z "$(leaks "$T/shared")" ] || fail "the attacker read the 0600 database through: $(leaks "$T/shared")"
    run_rune run "$T/bk.yaml" --set db="$T/secret.db" --set to="$T/shared/st/next.db.gz"
    expect_rc 0
    expect_out "removed 1 scratch directory left in $T/shared/st by a run that did not finish"
    [ ! -e "$left" ] || fail "the leftover of the crash is still there"
    gzip -dc "$T/shared/st/next.db.gz" >"$T/next.db"
    expect_eq "$(sqlite3 "$T/next.db" "select count(*) from s where v like '$SECRET-%'")" "2000" "the next backup holds the data"
fi
end_case

# The backup both restore cases restore: 100 rows.
sqlite3 "$T/new.db" "CREATE TABLE t(x);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100) INSERT INTO t SELECT i FROM n;"
run_rune run "$T/bk.yaml" --set db="$T/new.db" --set to="$T/new.db.gz"
[ "$RC" = 0 ] || { echo "cannot make the backup the restore cases need" >&2; cat "$T/out" >&2; exit 1; }

# wal_db FILE — a WAL database whose 10 rows are only in its -wal (the
# writer died before any checkpoint), as an application leaves it.
wal_db() {
    rm -rf "$(dirname "$1")" && mkdir -p "$(dirname "$1")"
    python3 - "$1" <<'PY'
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode=WAL")
c.execute("PRAGMA wal_autocheckpoint=0")
c.execute("CREATE TABLE t(x)")
c.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 10) INSERT INTO t SELECT -i FROM n")
os._exit(0)
PY
}

# rows FILE — "integrity rows" of a database, as an application opening it
# would see it (on a copy: opening changes -wal and -shm).
rows() {
    local d
    d=$(mktemp -d "$T/look.XXXXXX")
    cp -a "$1" "$d/db"
    for s in -wal -journal; do [ -e "$1$s" ] && cp -a "$1$s" "$d/db$s"; done
    sqlite3 "$d/db" "PRAGMA integrity_check; SELECT count(*) FROM t;" 2>&1 | tr '\n' ' '
    rm -rf "$d"
}

test_case "a restore killed after each system call of its swap leaves a live database, old or new (WAL with uncheckpointed commits)"
crashes=0
for n in $(seq 1 20); do
    wal_db "$T/live/app.db"
    [ -s "$T/live/app.db-wal" ] || fail "the test database has no -wal"
    RUNE_TEST_CRASH_AT=sqlite.swap:$n run_rune run "$T/rs.yaml" --set db="$T/live/app.db" --set from="$T/new.db.gz"
    [ "$RC" = 0 ] && break
    [ "$RC" = 137 ] || { fail "crash point $n: rune exited $RC, not killed"; break; }
    crashes=$((crashes + 1))
    [ -e "$T/live/app.db" ] || fail "crash point $n: no live database"
    case "$(rows "$T/live/app.db")" in
    "ok 10 " | "ok 100 ") ;;
    *) fail "crash point $n: the live database is neither old nor new: $(rows "$T/live/app.db")" ;;
    esac
done
expect_rc 0
[ "$crashes" -ge 3 ] || fail "only $crashes crash points were reached: the test proves nothing"
expect_eq "$(rows "$T/live/app.db")" "ok 100 " "after the restore"
safety=$(out restore safety_copy)
expect_eq "$(rows "$safety")" "ok 10 " "the safety copy holds every commit of the old database"
for s in -wal -shm -journal; do [ -e "$T/live/app.db$s" ] && fail "a stale $s is left beside the restored database"; done
end_case

test_case "a restore killed after each system call of its swap, over a damaged database with -wal and -journal: old bytes or the new database"
crashes=0
for n in $(seq 1 20); do
    rm -rf "$T/dmg" && mkdir "$T/dmg"
    printf 'not a database %.0s' $(seq 500) >"$T/dmg/app.db"
    printf 'not a wal %.0s' $(seq 300) >"$T/dmg/app.db-wal"
    printf 'not a journal %.0s' $(seq 100) >"$T/dmg/app.db-journal"
    cp "$T/dmg/app.db" "$T/old.db"
    RUNE_TEST_CRASH_AT=sqlite.swap:$n run_rune run "$T/rs.yaml" --set db="$T/dmg/app.db" --set from="$T/new.db.gz"
    [ "$RC" = 0 ] && break
    [ "$RC" = 137 ] || { fail "crash point $n: rune exited $RC, not killed"; break; }
    crashes=$((crashes + 1))
    if ! cmp -s "$T/dmg/app.db" "$T/old.db"; then
        expect_eq "$(rows "$T/dmg/app.db")" "ok 100 " "crash point $n: the live database"
    fi
done
expect_rc 0
[ "$crashes" -ge 4 ] || fail "only $crashes crash points were reached: the test proves nothing"
expect_eq "$(rows "$T/dmg/app.db")" "ok 100 " "after the restore"
safety=$(out restore safety_copy)
cmp -s "$safety" "$T/old.db" || fail "the safety copy is not the damaged database as it was"
expect_out "cannot be read (file is not a database): it is replaced as it is, and kept as the safety copy"
end_case

test_case "a restore keeps the replaced database's owner, group and mode"
if attacker_setup; then
    mkdir -p "$T/own"
    sqlite3 "$T/own/app.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
    chown "$ATTACKER:$ATTACKER" "$T/own/app.db" && chmod 0640 "$T/own/app.db"
    run_rune run "$T/rs.yaml" --set db="$T/own/app.db" --set from="$T/new.db.gz"
    expect_rc 0
    expect_eq "$(stat -c '%U %G %a' "$T/own/app.db")" "$ATTACKER $ATTACKER 640"
    expect_eq "$(sqlite3 "$T/own/app.db" 'select count(*) from t')" "100"
fi
end_case

test_case "restore and compact refuse a database path that is a symlink: nothing changes"
mkdir -p "$T/ln" && sqlite3 "$T/ln/real.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
ln -sf "$T/ln/real.db" "$T/ln/app.db"
run_rune run "$T/rs.yaml" --set db="$T/ln/app.db" --set from="$T/new.db.gz"
expect_rc 4
expect_out "is a symbolic link to $T/ln/real.db"
run_rune run "$T/cp.yaml" --set db="$T/ln/app.db"
expect_rc 4
expect_out "is a symbolic link"
[ -L "$T/ln/app.db" ] || fail "the link was replaced"
expect_eq "$(sqlite3 "$T/ln/real.db" 'select count(*) from t')" "1" "the database behind it"
expect_eq "$(ls -A "$T/ln" | tr '\n' ' ')" "app.db real.db " "files beside it"
end_case

test_case "a restore over a database another process is reading is refused, and nothing changes"
wal_db "$T/busy/app.db"
sqlite3 "$T/busy/app.db" "SELECT count(*) FROM t" >/dev/null # checkpointed by the shell
rm -f "$T/ready" "$T/release"
python3 - "$T/busy/app.db" "$T/ready" "$T/release" <<'PY' &
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN")
c.execute("SELECT count(*) FROM t").fetchall()
open(sys.argv[2], "w").close()
for _ in range(1200):
    if os.path.exists(sys.argv[3]):
        break
    time.sleep(0.05)
c.execute("COMMIT")
PY
reader=$!
for _ in $(seq 1200); do [ -e "$T/ready" ] && break; sleep 0.05; done # 60 s at most
[ -e "$T/ready" ] || fail "the reader never started"
sqlite3 "$T/busy/app.db" "INSERT INTO t VALUES (99)" # a frame the reader's snapshot pins
run_rune run "$T/rs.yaml" --set db="$T/busy/app.db" --set from="$T/new.db.gz" --set busy=200ms
touch "$T/release"
wait "$reader"
expect_rc 4
expect_out "is in use by another process"
expect_out "nothing was changed"
expect_eq "$(sqlite3 "$T/busy/app.db" 'select count(*) from t')" "11" "the database"
expect_eq "$(ls -A "$T/busy" | grep -c -e before-restore -e rune-scratch)" "0" "safety copies or scratch left"
end_case

test_case "a compaction in a shared directory never uses a file planted at its old temp name"
if attacker_setup; then
    secret_db "$T/shared/app.db"
    sqlite3 "$T/shared/app.db" "DELETE FROM s WHERE rowid % 2 = 0"
    as_attacker mkdir -p -m 0777 "$T/shared/loot"
    start_known "$T/go4" "$RUNE" run "$T/cp.yaml" --set db="$T/shared/app.db"
    as_attacker sh -c 'touch "$0" && chmod 666 "$0" && ln "$0" "$1"' "$T/shared/loot/c" "$T/shared/app.db.compact-$KPID"
    finish_known "$T/go4"
    expect_rc 0
    expect_eq "$(stat -c '%U %a' "$T/shared/app.db")" "root 600" "owner and mode of the compacted database"
    expect_eq "$(sqlite3 "$T/shared/app.db" 'select count(*) from s')" "1000" "rows after compaction"
    [ ! -s "$T/shared/loot/c" ] || fail "rune wrote into the attacker's file"
    [ -z "$(leaks "$T/shared")" ] || fail "the attacker read the 0600 database through: $(leaks "$T/shared")"
fi
end_case

finish
