#!/usr/bin/env bash
# file.compress and backup.verify against their peers, in the same run on
# the same file:
#   gzip -1 + sha256sum              (what a script would do)
#   pigz -1 -p N + sha256sum         (parallel gzip, N = the cores)
#   zstd -1 -T N + sha256sum         (zstd on every core)
#   rune file.compress level 1       (chunked gzip on every core, SHA-256 per
#                                     chunk and whole file, manifest)
#   rune file.compress zstd level 1  (the same with zstd chunks), when this
#                                     rune has `compression:`
# and verification:
#   gunzip -t + sha256sum            (what checking a .gz by hand costs)
#   zstd -t + sha256sum              (the same for .zst)
#   rune backup.verify               (every chunk's SHA-256, every member
#                                     decompressed and sized, the whole file)
# Every tool runs once per round, the order rotating between rounds; the
# figures are medians and the ratios ratios of medians.
#
# The file is a text dump of the realistic SQLite data set (mixed widths,
# ~3x compressible): what a DBA compresses most often.
#
# usage: bench/file-compress.sh [SCALE] [RUNS]   (scale 1: ~120 MiB of SQL text)
#   RUNE=path/to/rune (default build/rune)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-1}
RUNS=${2:-3}
RUNE=${RUNE:-build/rune}
DATA=${DATA:-runbooks/data/sqlite-realistic.sql}
W=$(mktemp -d "${TMPDIR:-/tmp}/rune-bench.XXXXXX")
. bench/lib.sh
trap 'rm -rf "$W"' EXIT
export RUNE_LOG="$W/incidents.db"
command -v pigz >/dev/null || { echo "pigz is not installed (apt-get install pigz)" >&2; exit 1; }
command -v zstd >/dev/null || { echo "zstd is not installed (apt-get install zstd)" >&2; exit 1; }
N=$(nproc)

echo "making the file: the realistic data set at scale $SCALE, dumped as SQL ..."
sqlite3 -cmd ".parameter set @scale $SCALE" "$W/app.db" <"$DATA"
sqlite3 "$W/app.db" .dump >"$W/data.sql"
rm -f "$W/app.db"
bytes=$(stat -c %s "$W/data.sql")
echo "file: $((bytes / 1048576)) MiB"

runbook() { # NAME STEP-LINE
    printf 'runbook: %s\ninputs: { to: { type: path, required: true } }\nmitigation:\n  steps:\n    - %s\n' "$1" "$2" >"$W/$1.yaml"
}
runbook gz "{ id: c, uses: file.compress, with: { path: \"$W/data.sql\", to: \"\${inputs.to}\", level: 1 } }"
runbook zs "{ id: c, uses: file.compress, with: { path: \"$W/data.sql\", to: \"\${inputs.to}\", compression: zstd, level: 1 } }"
cat >"$W/verify.yaml" <<YAML
runbook: bench-verify
inputs: { path: { type: path, required: true } }
verification:
  steps:
    - { id: v, uses: backup.verify, with: { path: "\${inputs.path}" } }
YAML
# Does this rune know `compression:`? (The zstd comparison needs it.)
ZSTD_RUNE=
if "$RUNE" validate "$W/zs.yaml" >/dev/null 2>&1; then ZSTD_RUNE=1; fi

secs() { rm -rf "$W/out" && mkdir -p "$W/out" && wall_secs "$1"; }

# Backups to verify, made once.
"$RUNE" run "$W/gz.yaml" -q --no-report --set to="$W/keep.sql.gz" >/dev/null
pigz -1 -p "$N" -c "$W/data.sql" >"$W/plain.gz"
zstd -q -1 -T"$N" -c "$W/data.sql" >"$W/plain.zst"
[ -z "$ZSTD_RUNE" ] || "$RUNE" run "$W/zs.yaml" -q --no-report --set to="$W/keep.sql.zst" >/dev/null

names=(gzip pigz zstd rune_gz vgunzip vzstd rune_v)
declare -A cmd=(
    [gzip]="gzip -1 -c '$W/data.sql' >'$W/out/x.gz' && sha256sum '$W/out/x.gz'"
    [pigz]="pigz -1 -p $N -c '$W/data.sql' >'$W/out/x.gz' && sha256sum '$W/out/x.gz'"
    [zstd]="zstd -q -1 -T$N -c '$W/data.sql' >'$W/out/x.zst' && sha256sum '$W/out/x.zst'"
    [rune_gz]="'$RUNE' run '$W/gz.yaml' -q --no-report --set to='$W/out/x.sql.gz'"
    [vgunzip]="gunzip -t '$W/plain.gz' && sha256sum '$W/plain.gz'"
    [vzstd]="zstd -q -t '$W/plain.zst' && sha256sum '$W/plain.zst'"
    [rune_v]="'$RUNE' run '$W/verify.yaml' -q --no-report --set path='$W/keep.sql.gz'"
)
if [ -n "$ZSTD_RUNE" ]; then
    names+=(rune_zs rune_vz)
    cmd[rune_zs]="'$RUNE' run '$W/zs.yaml' -q --no-report --set to='$W/out/x.sql.zst'"
    cmd[rune_vz]="'$RUNE' run '$W/verify.yaml' -q --no-report --set path='$W/keep.sql.zst'"
fi
declare -A times
for i in $(seq "$RUNS"); do
    k=$(( (i - 1) % ${#names[@]} ))
    for j in $(seq 0 $(( ${#names[@]} - 1 ))); do
        n=${names[$(( (j + k) % ${#names[@]} ))]}
        times[$n]="${times[$n]:-} $(secs "${cmd[$n]}")"
    done
    echo "round $i done"
done
declare -A t
for n in "${names[@]}"; do
    # shellcheck disable=SC2086
    t[$n]=$(median ${times[$n]})
done

row() { printf '%-52s %8s %10s\n' "$@"; }
echo
echo "file compression, $((bytes / 1048576)) MiB of SQL text, median of $RUNS (order rotating), $N cores"
row "tool" "seconds" "rune / it"
row "gzip -1 + sha256sum" "${t[gzip]}" "$(ratio "${t[rune_gz]}" "${t[gzip]}")"
row "pigz -1 -p $N + sha256sum" "${t[pigz]}" "$(ratio "${t[rune_gz]}" "${t[pigz]}")"
row "rune file.compress (gzip level 1, sha256, manifest)" "${t[rune_gz]}" "1.00"
row "zstd -1 -T$N + sha256sum" "${t[zstd]}" "${ZSTD_RUNE:+$(ratio "${t[rune_zs]}" "${t[zstd]}")}"
if [ -n "$ZSTD_RUNE" ]; then
    row "rune file.compress (zstd level 1, sha256, manifest)" "${t[rune_zs]}" "1.00"
else
    echo "(this rune has no compression: zstd; the zstd row has no rune figure)"
fi
echo "sizes: rune gzip $(stat -c %s "$W/keep.sql.gz"), pigz $(stat -c %s "$W/plain.gz"), zstd $(stat -c %s "$W/plain.zst")${ZSTD_RUNE:+, rune zstd $(stat -c %s "$W/keep.sql.zst")}"
echo
row "gunzip -t + sha256sum" "${t[vgunzip]}" "$(ratio "${t[rune_v]}" "${t[vgunzip]}")"
row "rune backup.verify (gzip)" "${t[rune_v]}" "1.00"
row "zstd -t + sha256sum" "${t[vzstd]}" "${ZSTD_RUNE:+$(ratio "${t[rune_vz]}" "${t[vzstd]}")}"
[ -z "$ZSTD_RUNE" ] || row "rune backup.verify (zstd)" "${t[rune_vz]}" "1.00"
