#!/usr/bin/env bash
# run.sh — one short, bounded fuzz session, as ctest runs it (fuzz.<name>):
#
#   run.sh libfuzzer|driver TARGET_BINARY SEED_CORPUS_DIR WORK_DIR [DICT]
#
# The seed corpus is copied into WORK_DIR (in the build tree; emptied
# first), so new inputs a fuzzer keeps never land in the source tree. Crash
# and timeout inputs are saved in WORK_DIR/artifacts/. The effort is
# bounded: RUNE_FUZZ_SECONDS of libFuzzer (default 15), or RUNE_FUZZ_RUNS
# mutations of the gcc driver (default 3000, seed RUNE_FUZZ_SEED or 1).
# Longer runs: tests/fuzz/README.md.
set -eu
mode=$1 exe=$2 seeds=$3 work=$4 dict=${5:-}

if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
    echo "run.sh: no seed corpus in $seeds; each fuzz_<name>.c needs tests/fuzz/corpus/<name>/" >&2
    exit 1
fi
case $work in
    */fuzz-work/*) ;;
    *) echo "run.sh: refusing to empty $work (not a fuzz-work directory)" >&2; exit 1 ;;
esac
rm -rf -- "$work"
mkdir -p -- "$work/corpus" "$work/tmp" "$work/artifacts"
cp -- "$seeds"/* "$work/corpus/"
export TMPDIR="$work/tmp"

args=(-timeout=10 "-artifact_prefix=$work/artifacts/")
if [ -n "$dict" ]; then
    args+=("-dict=$dict")
fi
case $mode in
    libfuzzer)
        exec "$exe" "${args[@]}" -max_total_time="${RUNE_FUZZ_SECONDS:-15}" -rss_limit_mb=2048 \
            -max_len=65536 -print_final_stats=1 "$work/corpus"
        ;;
    driver)
        exec "$exe" "${args[@]}" -runs="${RUNE_FUZZ_RUNS:-3000}" -seed="${RUNE_FUZZ_SEED:-1}" \
            -max_len=65536 "$work/corpus"
        ;;
    *)
        echo "run.sh: unknown mode $mode (libfuzzer or driver)" >&2
        exit 1
        ;;
esac
