#!/usr/bin/env bash
# Every ratio of issue 14's table in one run, on one machine, one after the
# other (never at the same time: they would share the cores):
#   pg.dump ÷ pg_dump -Fd -j2, pg.restore ÷ pg_restore -j2   (default
#       durability first, then the fsync-off server)   pg-dump-restore.sh
#   sqlite.backup ÷ sqlite3 .backup + pigz / zstd + sha256sum, gzip and zstd
#       chunks, and sqlite.restore ÷ gunzip                   sqlite-backup.sh
#   file.compress ÷ pigz / zstd, backup.verify ÷ gunzip -t / zstd -t, each
#       with sha256sum                                         file-compress.sh
# The full output goes to stdout; the machine and the date head it, as
# docs/performance.md records them.
#
# usage: bench/all.sh [RUNS]   PG_SCALE (5 ≈ 1 GiB), SQLITE_SCALE (8 ≈ 1 GiB),
#   FILE_SCALE (8 ≈ 1 GiB of SQL text), RUNE=path/to/rune (default build/rune)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
echo "rune bench/all.sh, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "rune: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
bench/pg-dump-restore.sh "${PG_SCALE:-5}" "$RUNS"
bench/sqlite-backup.sh "${SQLITE_SCALE:-8}" "$RUNS"
COMPRESSION=zstd bench/sqlite-backup.sh "${SQLITE_SCALE:-8}" "$RUNS"
bench/file-compress.sh "${FILE_SCALE:-8}" "$RUNS"
