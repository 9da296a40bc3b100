#!/usr/bin/env bash
# Physical backups and point-in-time recovery against PostgreSQL's own
# tools, on one throw-away PostgreSQL 15 primary (started the way
# tests/pg/lib.sh does, archiving its WAL, PostgreSQL's default durability)
# holding the realistic data set:
#
# 1. Base backup, compressed, checksummed and verified, gzip level 6 both:
#      rune pg.basebackup (gzip 6, SHA-256 per chunk and file, every file
#        checked against the server's backup_manifest while it streams)
#    against
#      pg_basebackup -Ft -z -Z6 --manifest-checksums=SHA256 -X none -c fast,
#      then pg_verifybackup -n — which on PostgreSQL 15 reads only a plain
#      backup, so the tar is extracted first (tar -xzf) and verified there:
#      what an operator has to do on 15 to verify a compressed backup.
#    pg_basebackup -Ft -z alone (no verification) is printed too, and rune
#    with zstd (level 3), for what the default costs.
# 2. RTO of recovery of the same database to the same point:
#      rune run pg-pitr (base backup + archive, to a time after both backups)
#    against
#      rune run pg-restore (the logical restore of a pg.dump taken at the
#      same moment, as that runbook does it: verify, safety dump, drop,
#      parallel load, counts)
#    each as the whole run's wall time.
# Prints the median of RUNS rounds of each, and ratios of medians; the
# order alternates between rounds.
#
# usage: bench/pg-basebackup.sh [SCALE] [RUNS]   (scale 1 ≈ 190 MB on disk; 6 = 1163 MiB, the smallest over 1 GiB)
#   PARTS="backup rto" (the default) or one of them
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-1}
RUNS=${2:-3}
PARTS=${PARTS:-backup rto}
export RUNE=${RUNE:-$PWD/build/rune}
export RUNE_SOURCE_DIR=$PWD
DATA=${DATA:-$PWD/tests/pg/data/realistic.sql}
[ -x "$RUNE" ] || { echo "no rune binary at $RUNE (build it, or set RUNE)" >&2; exit 1; }

set +eu
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_replication.sh"
set -eu
W=$T

# secs CMD — wall-clock seconds of a shell command (its output discarded;
# a failure stops the benchmark)
secs() {
    local t0 t1
    t0=$(date +%s.%N)
    bash -c "$1" >"$W/last.log" 2>&1 || { echo "failed: $1" >&2; tail -20 "$W/last.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    awk "BEGIN{printf \"%.2f\", $t1 - $t0}"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
now_utc() { pg_sql "select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"; }
# own DIR — the server's user may write there (rune runs the servers' tools as it)
own() { mkdir -p "$1"; [ -n "$_PG_OSUSER" ] && chown "$_PG_OSUSER:" "$1"; return 0; }

DEFAULT=("fsync = on" "full_page_writes = on" "synchronous_commit = on" "shared_buffers = 128MB")
pg_start_primary bench "${DEFAULT[@]}"
echo "loading the realistic data set at scale $SCALE ..."
pg_createdb app
pg_load "$DATA" app -v scale="$SCALE"
[ "$_PG_ERRORS" = 0 ] || { echo "setup failed" >&2; exit 1; }
size=$(pg_sql "select pg_database_size('app')")
echo "database: $((size / 1048576)) MiB on disk, $(nproc) cores"

cat >"$W/bb.yaml" <<YAML
runbook: bench-basebackup
inputs: { to: { type: path, required: true }, compression: { type: string, default: gzip }, level: { type: int, default: 6 } }
mitigation:
  steps:
    - { id: b, uses: pg.basebackup, with: { to: "\${inputs.to}", compression: "\${inputs.compression}", level: "\${inputs.level}" } }
YAML
PEER="'$PG_BIN/pg_basebackup' -Ft -z -Z 6 --manifest-checksums=SHA256 -X none -c fast -D '$W/out/pg'"
VERIFY="mkdir '$W/out/x' && tar -xzf '$W/out/pg/base.tar.gz' -C '$W/out/x' && cp '$W/out/pg/backup_manifest' '$W/out/x/' && '$PG_BIN/pg_verifybackup' -n '$W/out/x'"

b_rune=() b_zstd=() b_peer=() b_peer_only=()
case " $PARTS " in *" backup "*) backups=$RUNS ;; *) backups=0 ;; esac
case " $PARTS " in *" rto "*) rounds=$RUNS ;; *) rounds=0 ;; esac
for i in $(seq "$backups"); do
    rm -rf "$W/out" && mkdir -p "$W/out"
    for j in 0 1 2; do
        sync
        pg_sql "checkpoint" >/dev/null
        case $(( (i + j) % 3 )) in
        0) b_rune+=("$(secs "'$RUNE' run '$W/bb.yaml' -q --no-report --set to='$W/out/r.tar.gz'")") ;;
        1) b_zstd+=("$(secs "'$RUNE' run '$W/bb.yaml' -q --no-report --set to='$W/out/r.tar.zst' --set compression=zstd --set level=3")") ;;
        2) t0=$(date +%s.%N)
           b_peer_only+=("$(secs "$PEER")")
           secs "$VERIFY" >/dev/null
           b_peer+=("$(awk "BEGIN{printf \"%.2f\", $(date +%s.%N) - $t0}")") ;;
        esac
    done
    echo "round $i base backup: pg.basebackup gzip ${b_rune[-1]}s, zstd ${b_zstd[-1]}s; pg_basebackup -Ft -z ${b_peer_only[-1]}s, + tar -x + pg_verifybackup ${b_peer[-1]}s"
    sizes="pg.basebackup gzip $(stat -c %s "$W/out/r.tar.gz"), zstd $(stat -c %s "$W/out/r.tar.zst"), pg_basebackup -z $(stat -c %s "$W/out/pg/base.tar.gz")"
done
rm -rf "$W/out"

# ---- RTO: pg-pitr against pg-restore, the same database at the same point ----
if [ "$rounds" -gt 0 ]; then
own "$W/base"
"$RUNE" run pg-basebackup -q --no-report --set backups="$W/base" --set archive="$PG_ARCHIVE" --set compression=zstd >/dev/null
"$RUNE" run pg-backup -q --no-report --set database=app --set backups="$W/dumps" --set compression=zstd >/dev/null
pg_sql "create table bench_marker (at timestamptz)" app >/dev/null
pg_sql "insert into bench_marker values (now())" app >/dev/null
target=$(now_utc)
pg_sql "insert into bench_marker values (now())" app >/dev/null
pg_wait_archived "$(pg_switch_wal)"
fi

t_pitr=() t_restore=()
pitr() {
    t_pitr+=("$(secs "'$RUNE' run pg-pitr -q --no-report --yes --set data_dir='$PG_DATA' --set backups='$W/base' --set archive='$PG_ARCHIVE' --set target_time='$target'")")
    rm -rf "$PG_DATA".before-pitr-* "$PG_DATA".pitr-*.log
    # the new timeline's first commits reach the archive, so the next
    # recovery to the same target can follow it (recovery_target_timeline = latest)
    pg_sql "insert into bench_marker values (now())" app >/dev/null
    pg_wait_archived "$(pg_switch_wal)"
}
restore() {
    t_restore+=("$(secs "'$RUNE' run pg-restore -q --no-report --yes --set database=app --set backups='$W/dumps' --set backup='$(ls "$W"/dumps/app-*.sql.zst | head -1)'")")
    rm -rf "$W/dumps/safety"
}
for i in $(seq "$rounds"); do
    sync; pg_sql "checkpoint" >/dev/null
    if [ $((i % 2)) = 1 ]; then pitr; sync; pg_sql "checkpoint" >/dev/null; restore
    else restore; sync; pg_sql "checkpoint" >/dev/null; pitr; fi
    echo "round $i RTO: pg-pitr ${t_pitr[-1]}s, pg-restore ${t_restore[-1]}s"
done

echo
echo "PostgreSQL base backup and PITR, $((size / 1048576)) MiB database (scale $SCALE), median of $RUNS, $(nproc) cores"
echo "server: ${DEFAULT[*]}, archive_mode = on"
if [ "$backups" -gt 0 ]; then
m_rune=$(median "${b_rune[@]}"); m_zstd=$(median "${b_zstd[@]}")
m_peer=$(median "${b_peer[@]}"); m_only=$(median "${b_peer_only[@]}")
echo "bytes: $sizes"
printf '%-62s %8s %10s\n' "tool" "seconds" "rune / it"
printf '%-62s %8s %10s\n' "pg_basebackup -Ft -z -Z6 + tar -x + pg_verifybackup -n" "$m_peer" "$(ratio "$m_rune" "$m_peer")"
printf '%-62s %8s %10s\n' "pg_basebackup -Ft -z -Z6 (not verified)" "$m_only" "$(ratio "$m_rune" "$m_only")"
printf '%-62s %8s %10s\n' "rune pg.basebackup (gzip 6, checksummed, verified)" "$m_rune" "1.00"
printf '%-62s %8s %10s\n' "rune pg.basebackup (zstd 3, checksummed, verified)" "$m_zstd" "$(ratio "$m_zstd" "$m_rune")"
fi
if [ "$rounds" -gt 0 ]; then
m_pitr=$(median "${t_pitr[@]}"); m_restore=$(median "${t_restore[@]}")
printf '%-62s %8s %10s\n' "tool" "seconds" "rune / it"
printf '%-62s %8s %10s\n' "RTO: rune run pg-restore (logical, the same point)" "$m_restore" "$(ratio "$m_pitr" "$m_restore")"
printf '%-62s %8s %10s\n' "RTO: rune run pg-pitr" "$m_pitr" "1.00"
fi
