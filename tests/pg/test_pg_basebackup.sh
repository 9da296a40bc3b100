#!/usr/bin/env bash
# pg.basebackup on a real PostgreSQL 15 primary that archives its WAL: one
# backup artifact holding the cluster as a tar archive that pg_verifybackup
# accepts, its manifest saying what recovery needs (LSNs, timeline, WAL
# segments, system identifier); a cluster with an extra tablespace is
# refused and nothing is left; backup.list/verify show base backups for
# what they are, and backup.prune with the archive deletes only WAL no
# kept base backup needs.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_replication.sh"
C="$RUNE_SOURCE_DIR/tests/pg/cases"

# mf FILE.manifest.json PATH — a field of a manifest (sqlite3's JSON functions)
mf() { sqlite3 :memory: "select json_extract(readfile('$1'), '\$.$2')"; }
# files_in DIR — every entry of DIR, hidden ones too
files_in() { ls -A "$1" 2>/dev/null | tr '\n' ' '; }

pg_start_primary
pg_createdb app
pg_load "$RUNE_SOURCE_DIR/tests/pg/data/realistic.sql" app -v scale=0.01
pg_sql "create table walfill (i int)" app >/dev/null

test_case "a zstd base backup: one artifact, the server's manifest inside, pg_verifybackup agrees"
run_rune run "$C/basebackup.yaml" --set dir="$T/b1"
expect_rc 0
bk=$(out base path); m="$bk.manifest.json"
case "$bk" in "$T"/b1/basebackup-*.tar.zst) ;; *) fail "unexpected name $bk" ;; esac
[ -f "$m" ] || fail "no manifest beside $bk"
expect_eq "$(mf "$m" kind)" "pg.basebackup" "kind"
expect_eq "$(mf "$m" engine)" "postgres" "engine"
expect_eq "$(mf "$m" system_identifier)" "$(pg_sql "select system_identifier from pg_control_system()")" "system identifier"
start=$(mf "$m" start_lsn)
expect_eq "$(mf "$m" wal_start)" "$(pg_sql "select pg_walfile_name('$start')")" "first WAL segment"
expect_eq "$(pg_sql "select '$(mf "$m" stop_lsn)'::pg_lsn > '$start'::pg_lsn")" "t" "stop after start"
expect_eq "$(mf "$m" timeline)" "1" "timeline"
expect_eq "$(mf "$m" recovery_point)" "$(mf "$m" start_time)" "recovery point = start time"
expect_eq "$(out base wal_end)" "$(mf "$m" wal_end)" "outputs = manifest"
[ "$(mf "$m" files)" -gt 500 ] || fail "only $(mf "$m" files) files checked"
# the backup's WAL was archived before the step returned (BASE_BACKUP waits)
[ -f "$PG_ARCHIVE/$(mf "$m" wal_end)" ] || fail "$(mf "$m" wal_end) not archived: $(files_in "$PG_ARCHIVE")"
# the archive is a plain tar with the server's manifest last, and the
# PostgreSQL tool that checks base backups accepts it (-n: no WAL inside)
mkdir "$T/x1"
zstd -q -dc "$bk" | tar -x -C "$T/x1" || fail "tar -x of the backup failed"
expect_eq "$(zstd -q -dc "$bk" | tar -t | tail -1)" "backup_manifest" "last member"
"$PG_BIN/pg_verifybackup" -n "$T/x1" >"$T/verify.log" 2>&1 || fail "pg_verifybackup: $(cat "$T/verify.log")"
[ -f "$T/x1/backup_label" ] || fail "no backup_label in the archive"
# progress was recorded in bytes
[ "$(sql "select count(*) from events where incident_id='$(last_incident)' and step='base' and kind='progress'")" -gt 0 ] ||
    fail "no progress samples"
end_case

test_case "gzip: gzip reads it whole, tar lists it"
run_rune run "$C/basebackup.yaml" --set dir="$T/b1" --set compression=gzip
expect_rc 0
gz=$(out base path)
case "$gz" in *.tar.gz) ;; *) fail "unexpected name $gz" ;; esac
gzip -t "$gz" || fail "gzip -t failed"
gzip -dc "$gz" | tar -t >/dev/null || fail "tar -t failed"
end_case

test_case "backup.list and backup.verify show a base backup's kind, start time and LSNs"
run_rune run "$C/basebackup_retention.yaml" --set dir="$T/b1" --set keep_last=5
expect_rc 0
expect_eq "$(out list count)" "2" "count"
expect_eq "$(out list 'backups[0].kind')" "pg.basebackup" "listed kind"
expect_eq "$(out list 'backups[1].start_lsn')" "$start" "listed start LSN"
expect_eq "$(out list 'backups[1].start_time')" "$(mf "$m" start_time)" "listed start time"
expect_eq "$(out verify kind)" "pg.basebackup" "verified kind"
expect_eq "$(out verify ok)" "1" "verified"
[ -n "$(out verify stop_lsn)" ] || fail "backup.verify gives no stop_lsn"
end_case

test_case "an extra tablespace is refused with its name, and nothing is written"
mkdir -p "$T/ts"
[ -n "$_PG_OSUSER" ] && chown "$_PG_OSUSER:" "$T/ts"
pg_sql "create tablespace extra location '$T/ts'" >/dev/null || fail "create tablespace"
run_rune run "$C/basebackup.yaml" --set dir="$T/b2"
expect_rc 4
expect_out "extra (${T}/ts)"
expect_out "without extra tablespaces"
expect_eq "$(files_in "$T/b2")" "" "the backup directory"
pg_sql "drop tablespace extra" >/dev/null
end_case

test_case "an existing backup file is never overwritten"
run_rune run "$C/basebackup.yaml" --set to="$gz" --set compression=gzip
expect_rc 4
expect_out "already exists"
gzip -t "$gz" || fail "the existing backup was damaged"
end_case

test_case "prune with the archive deletes only WAL older than the oldest kept base backup"
# WAL between the backups: segments the older backup needs, the newer does not
for i in 1 2 3; do
    pg_sql "insert into walfill values ($i)" app >/dev/null
    pg_wait_archived "$(pg_switch_wal)"
done
run_rune run "$C/basebackup.yaml" --set dir="$T/b3"
expect_rc 0
old3=$(out base path)
pg_sql "insert into walfill values (4)" app >/dev/null
pg_wait_archived "$(pg_switch_wal)"
run_rune run "$C/basebackup.yaml" --set dir="$T/b3"
expect_rc 0
new3=$(out base path); keep_from=$(out base wal_start)
echo "fake history" >"$T/hist" && install -m 600 "$T/hist" "$PG_ARCHIVE/00000002.history"
before=$(ls "$PG_ARCHIVE" | sort)
# dry: names what would go, deletes nothing
run_rune run "$C/basebackup_retention.yaml" --set dir="$T/b3" --set archive="$PG_ARCHIVE" --set dry=true
expect_rc 0
expect_eq "$(ls "$PG_ARCHIVE" | sort)" "$before" "archive after a dry prune"
[ "$(out prune 'wal_would_delete[0]')" != "" ] || fail "a dry prune names no WAL"
run_rune run "$C/basebackup_retention.yaml" --set dir="$T/b3" --set archive="$PG_ARCHIVE"
expect_rc 0
[ -f "$new3" ] || fail "the newest base backup was deleted"
[ -f "$old3" ] && fail "the older base backup was kept with keep_last 1"
expect_eq "$(out prune wal_kept_from)" "$keep_from" "kept from"
for f in $before; do
    case "$f" in
        *.history) [ -f "$PG_ARCHIVE/$f" ] || fail "history file $f deleted" ;;
        *) if [[ "${f:8:16}" < "${keep_from:8:16}" ]]; then
               [ -f "$PG_ARCHIVE/$f" ] && fail "$f (older than $keep_from) kept"
           else
               [ -f "$PG_ARCHIVE/$f" ] || fail "$f (needed from $keep_from on) deleted"
           fi ;;
    esac
done
[ -f "$PG_ARCHIVE/$keep_from" ] || fail "the kept backup's first segment $keep_from is gone"
end_case

test_case "prune with the archive but no base backup kept deletes no WAL"
mkdir -p "$T/b4"
before=$(ls "$PG_ARCHIVE" | sort)
run_rune run "$C/basebackup_retention.yaml" --set dir="$T/b4" --set archive="$PG_ARCHIVE" 2>/dev/null
expect_eq "$(ls "$PG_ARCHIVE" | sort)" "$before" "archive"
expect_out "no base backup is kept in $T/b4: no WAL was deleted"
end_case

test_case "prune without the archive never touches WAL"
before=$(ls "$PG_ARCHIVE" | sort)
run_rune run "$C/basebackup_retention.yaml" --set dir="$T/b1" --set keep_last=1
expect_rc 0
expect_eq "$(ls "$PG_ARCHIVE" | sort)" "$before" "archive"
end_case

finish
