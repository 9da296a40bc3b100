#!/usr/bin/env bash
# sqlite.backup against its peers, in the same run on the same file:
#   sqlite3 .backup            (the copy alone, no compression)
#   sqlite3 .backup + gzip -1  (what a script would do)
#   ... + sha256sum            (the same, with a checksum to verify it by)
#   sqlite3 .backup + pigz -1 -p N + sha256sum   (parallel gzip: what a DBA
#                                                  who knows pigz would pick)
#   sqlite3 .backup + zstd -1 -T N + sha256sum   (zstd: about twice pigz's
#                                                  speed at a similar ratio)
#   rune sqlite.backup level 1 (one snapshot streamed to chunked compression
#                               on every core + SHA-256 + manifest + row
#                               counts and content hashes of every table)
# and the restore side: gunzip (zstd -dc with COMPRESSION=zstd) vs rune
# sqlite.restore (decompress with every check + row counts + swap). Every
# tool runs once per round, the order rotating between rounds so that none
# always runs first (cold) or last; the figures are medians and the ratios
# are ratios of medians. N is the number of cores.
# The data is the realistic set (mixed widths, ~3x compressible), never
# pgbench-style filler. pigz and zstd are required (apt-get install pigz
# zstd): a comparison that silently drops the strongest peer proves nothing.
#
# usage: bench/sqlite-backup.sh [SCALE] [RUNS]   (scale 1: 131 MiB; 7: 922 MiB; 8: 1054 MiB)
#   RUNE=path/to/rune (default build/rune)
#   THREADS=n (sqlite.backup's threads; unset: its default, one per CPU)
#   COMPRESSION=zstd (sqlite.backup's compression; unset: its default, gzip)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-1}
RUNS=${2:-3}
RUNE=${RUNE:-build/rune}
THREADS=${THREADS:-}
COMPRESSION=${COMPRESSION:-}
EXT=.gz
[ "$COMPRESSION" = zstd ] && EXT=.zst
DATA=${DATA:-runbooks/data/sqlite-realistic.sql}
W=$(mktemp -d "${TMPDIR:-/tmp}/rune-bench.XXXXXX")
. bench/lib.sh
trap 'rm -rf "$W"' EXIT
export RUNE_LOG="$W/incidents.db"

echo "loading the realistic data set at scale $SCALE ..."
sqlite3 -cmd ".parameter set @scale $SCALE" "$W/app.db" < "$DATA"
sqlite3 "$W/app.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
bytes=$(stat -c %s "$W/app.db")
echo "database: $((bytes / 1048576)) MiB"

cat > "$W/backup.yaml" <<YAML
runbook: bench-backup
inputs: { to: { type: path, required: true } }
mitigation:
  steps:
    - { id: b, uses: sqlite.backup, with: { path: "$W/app.db", to: "\${inputs.to}", level: 1${THREADS:+, threads: $THREADS}${COMPRESSION:+, compression: $COMPRESSION} } }
YAML
cat > "$W/restore.yaml" <<YAML
runbook: bench-restore
inputs: { from: { type: path, required: true } }
mitigation:
  steps:
    - { id: r, uses: sqlite.restore, with: { path: "$W/restored.db", from: "\${inputs.from}" } }
YAML

# a parameter this rune does not know (compression: before the zstd
# chunks exist) stops the bench here, not as fast failed runs timed below
"$RUNE" validate "$W/backup.yaml" >/dev/null || { echo "$RUNE does not accept the backup runbook above" >&2; exit 1; }
command -v pigz >/dev/null || { echo "pigz is not installed (apt-get install pigz)" >&2; exit 1; }
command -v zstd >/dev/null || { echo "zstd is not installed (apt-get install zstd)" >&2; exit 1; }
N=$(nproc)

# secs CMD — wall-clock seconds of one run of CMD, in a fresh out/
secs() { rm -rf "$W/out" && mkdir -p "$W/out" && wall_secs "$1"; }

names=(copy gzip gzsha pigz zstd rune)
declare -A cmd=(
    [copy]="sqlite3 '$W/app.db' \".backup '$W/out/x.db'\""
    [gzip]="sqlite3 '$W/app.db' \".backup '$W/out/x.db'\" && gzip -1 '$W/out/x.db'"
    [gzsha]="sqlite3 '$W/app.db' \".backup '$W/out/x.db'\" && gzip -1 '$W/out/x.db' && sha256sum '$W/out/x.db.gz'"
    [pigz]="sqlite3 '$W/app.db' \".backup '$W/out/x.db'\" && pigz -1 -p $N '$W/out/x.db' && sha256sum '$W/out/x.db.gz'"
    [zstd]="sqlite3 '$W/app.db' \".backup '$W/out/x.db'\" && zstd -q -1 -T$N --rm '$W/out/x.db' && sha256sum '$W/out/x.db.zst'"
    [rune]="'$RUNE' run '$W/backup.yaml' -q --no-report --set to='$W/out/x.db$EXT'"
)
declare -A times
for i in $(seq "$RUNS"); do
    k=$(( (i - 1) % ${#names[@]} ))
    for j in $(seq 0 $(( ${#names[@]} - 1 ))); do
        n=${names[$(( (j + k) % ${#names[@]} ))]}
        times[$n]="${times[$n]:-} $(secs "${cmd[$n]}")"
    done
    echo "round $i done"
done
for n in "${names[@]}"; do
    # shellcheck disable=SC2086
    declare "t_$n=$(median ${times[$n]})"
done

# restore side: one backup made once; the two alternate. The peer reads
# the same codec: gunzip, or zstd -dc with COMPRESSION=zstd.
"$RUNE" run "$W/backup.yaml" -q --no-report --set to="$W/keep.db$EXT" >/dev/null
if [ "$COMPRESSION" = zstd ]; then
    zstd -q -1 -T"$N" -c "$W/app.db" > "$W/keep-plain.zst"
    g="zstd -q -dc '$W/keep-plain.zst' > '$W/out/r.db'"
    peer="zstd -dc (no verification)"
else
    gzip -1 -c "$W/app.db" > "$W/keep-plain.gz"
    g="gunzip -c '$W/keep-plain.gz' > '$W/out/r.db'"
    peer="gunzip -c (no verification)"
fi
r_gunzip="" r_rune=""
for i in $(seq "$RUNS"); do
    r="rm -f '$W'/restored.db*; '$RUNE' run '$W/restore.yaml' -q --no-report --set from='$W/keep.db$EXT'"
    if [ $((i % 2)) = 1 ]; then
        r_gunzip="$r_gunzip $(secs "$g")"; r_rune="$r_rune $(secs "$r")"
    else
        r_rune="$r_rune $(secs "$r")"; r_gunzip="$r_gunzip $(secs "$g")"
    fi
done
# shellcheck disable=SC2086
t_gunzip=$(median $r_gunzip)
# shellcheck disable=SC2086
t_restore=$(median $r_rune)
cbytes=$(stat -c %s "$W/keep.db$EXT")

echo
echo "sqlite backup, $((bytes / 1048576)) MiB database, median of $RUNS (order rotating), $N cores, rune threads: ${THREADS:-default}, compression: ${COMPRESSION:-gzip}"
printf '%-52s %8s %10s\n' "tool" "seconds" "rune / it"
printf '%-52s %8s %10s\n' "sqlite3 .backup (copy only)" "$t_copy" "$(ratio "$t_rune" "$t_copy")"
printf '%-52s %8s %10s\n' "sqlite3 .backup + gzip -1" "$t_gzip" "$(ratio "$t_rune" "$t_gzip")"
printf '%-52s %8s %10s\n' "sqlite3 .backup + gzip -1 + sha256sum" "$t_gzsha" "$(ratio "$t_rune" "$t_gzsha")"
printf '%-52s %8s %10s\n' "sqlite3 .backup + pigz -1 -p $N + sha256sum" "$t_pigz" "$(ratio "$t_rune" "$t_pigz")"
printf '%-52s %8s %10s\n' "sqlite3 .backup + zstd -1 -T$N + sha256sum" "$t_zstd" "$(ratio "$t_rune" "$t_zstd")"
printf '%-52s %8s %10s\n' "rune sqlite.backup (${COMPRESSION:-gzip} 1, sha256, manifest)" "$t_rune" "1.00"
echo "compression: $(ratio "$bytes" "$cbytes")x"
echo
printf '%-52s %8s %10s\n' "$peer" "$t_gunzip" "$(ratio "$t_restore" "$t_gunzip")"
printf '%-52s %8s %10s\n' "rune sqlite.restore (checked decompress, count, swap)" "$t_restore" "1.00"
