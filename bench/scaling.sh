#!/usr/bin/env bash
# How rune's long steps grow with the size of the data and with the cores
# they get, so a user can predict a run ten or a hundred times larger:
#   sqlite.backup (level 1), sqlite.restore, backup.verify  on the realistic
#       SQLite data set at SQLITE_SCALES (2 ≈ 0.25 GiB, 8 ≈ 1 GiB, 32 ≈ 4 GiB),
#       each pinned to 1, 2 (and 4 when the machine has them) CPUs with
#       taskset: the steps' thread count follows the CPUs they may use;
#   pg.dump and pg.restore  on the realistic PostgreSQL data set at
#       PG_SCALES (1.25 ≈ 0.25 GiB, 5 ≈ 1 GiB, 20 ≈ 4 GiB) on a server with
#       PostgreSQL's default durability and memory settings, with jobs 1, 2
#       (and 4): the server's own work is not pinned, the connections are
#       what a user sets.
# Each figure is the median of RUNS runs. The last columns give the
# throughput in MiB of data per second, and the time a 100 GiB run would
# take at the throughput of the largest size measured (a linear estimate:
# these steps stream, so their time is proportional to the data once the
# fixed costs are small; the table shows how close that holds).
#
# usage: bench/scaling.sh [RUNS]
#   RUNE=path/to/rune (default build/rune)
#   SQLITE_SCALES="2 8 32"  PG_SCALES="1.25 5"  CPUS="1 2"  (defaults; CPUS
#   adds 4 when nproc ≥ 4). An empty list skips that family.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1}
export RUNE=${RUNE:-$PWD/build/rune}
export RUNE_SOURCE_DIR=$PWD
[ -x "$RUNE" ] || { echo "no rune binary at $RUNE (build it, or set RUNE)" >&2; exit 1; }
SQLITE_SCALES=${SQLITE_SCALES-2 8 32}
PG_SCALES=${PG_SCALES-1.25 5}
if [ -z "${CPUS:-}" ]; then
    CPUS="1 2"
    [ "$(nproc)" -lt 4 ] || CPUS="1 2 4"
fi

set +eu
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
set -eu
W=$T
. "$RUNE_SOURCE_DIR/bench/lib.sh"
export RUNE_LOG="$W/incidents.db"

secs() { wall_secs "$1"; }
# med CMD — the median of RUNS runs of CMD; PRE (a command) runs before each
med() {
    local ts=()
    for _ in $(seq "$RUNS"); do
        [ -z "${PRE:-}" ] || bash -c "$PRE" >/dev/null 2>&1
        ts+=("$(secs "$1")")
    done
    median "${ts[@]}"
}
mibs() { awk "BEGIN{printf \"%.0f\", $1 / 1048576 / $2}"; }
at100() { awk "BEGIN{s = 100 * 1073741824 / ($1 / $2); printf \"%dh%02dm\", s / 3600, (s % 3600) / 60}"; }
cpuset() { echo "0-$(($1 - 1))"; }
row() { printf '%-8s %6s %-16s %9s %8s %10s\n' "$@"; }
: >"$W/results"

if [ -n "$SQLITE_SCALES" ]; then
    cat >"$W/sb.yaml" <<YAML
runbook: scale-backup
inputs: { db: { type: path, required: true }, to: { type: path, required: true } }
mitigation:
  steps:
    - { id: b, uses: sqlite.backup, with: { path: "\${inputs.db}", to: "\${inputs.to}", level: 1 } }
YAML
    cat >"$W/sr.yaml" <<YAML
runbook: scale-restore
inputs: { db: { type: path, required: true }, from: { type: path, required: true } }
mitigation:
  steps:
    - { id: r, uses: sqlite.restore, with: { path: "\${inputs.db}", from: "\${inputs.from}" } }
YAML
    cat >"$W/bv.yaml" <<YAML
runbook: scale-verify
inputs: { path: { type: path, required: true } }
verification:
  steps:
    - { id: v, uses: backup.verify, with: { path: "\${inputs.path}" } }
YAML
    {
        echo
        echo "SQLite: time against size and CPUs (median of $RUNS), $(nproc) cores"
        row "size" "cpus" "step" "seconds" "MiB/s" "100 GiB"
    } >>"$W/results"
    for s in $SQLITE_SCALES; do
        rm -f "$W"/app.db* "$W"/keep.db.gz*
        echo "loading the SQLite data set at scale $s ..."
        sqlite3 -cmd ".parameter set @scale $s" "$W/app.db" <"$RUNE_SOURCE_DIR/runbooks/data/sqlite-realistic.sql"
        sqlite3 "$W/app.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
        bytes=$(stat -c %s "$W/app.db")
        size="$((bytes / 1048576))MiB"
        "$RUNE" run "$W/sb.yaml" -q --no-report --set db="$W/app.db" --set to="$W/keep.db.gz" >/dev/null
        for n in $CPUS; do
            cs=$(cpuset "$n")
            PRE="rm -f '$W'/out.db.gz*" \
                t=$(med "taskset -c $cs '$RUNE' run '$W/sb.yaml' -q --no-report --set db='$W/app.db' --set to='$W/out.db.gz'")
            row "$size" "$n" "sqlite.backup" "$t" "$(mibs "$bytes" "$t")" "$(at100 "$bytes" "$t")" >>"$W/results"
            PRE="rm -f '$W'/restored.db*" \
                t=$(med "taskset -c $cs '$RUNE' run '$W/sr.yaml' -q --no-report --set db='$W/restored.db' --set from='$W/keep.db.gz'")
            row "$size" "$n" "sqlite.restore" "$t" "$(mibs "$bytes" "$t")" "$(at100 "$bytes" "$t")" >>"$W/results"
            t=$(med "taskset -c $cs '$RUNE' run '$W/bv.yaml' -q --no-report --set path='$W/keep.db.gz'")
            row "$size" "$n" "backup.verify" "$t" "$(mibs "$bytes" "$t")" "$(at100 "$bytes" "$t")" >>"$W/results"
            echo "scale $s, $n cpus done"
        done
        rm -f "$W"/out.db.gz* "$W"/restored.db*
    done
    rm -f "$W"/app.db* "$W"/keep.db.gz*
fi

if [ -n "$PG_SCALES" ]; then
    pg_start scaling "fsync = on" "full_page_writes = on" "synchronous_commit = on" "shared_buffers = 128MB"
    {
        echo
        echo "PostgreSQL (default durability): time against size and jobs (median of $RUNS), $(nproc) cores"
        row "size" "jobs" "step" "seconds" "MiB/s" "100 GiB"
    } >>"$W/results"
    for s in $PG_SCALES; do
        pg_sql "drop database if exists app" >/dev/null 2>&1
        echo "loading the PostgreSQL data set at scale $s ..."
        pg_createdb app
        pg_load "$RUNE_SOURCE_DIR/tests/pg/data/realistic.sql" app -v scale="$s"
        [ "$_PG_ERRORS" = 0 ] || { echo "setup failed" >&2; exit 1; }
        bytes=$(pg_sql "select pg_database_size('app')")
        size="$((bytes / 1048576))MiB"
        for n in $CPUS; do
            cat >"$W/pd.yaml" <<YAML
runbook: scale-dump
inputs: { to: { type: path, required: true } }
mitigation:
  steps:
    - { id: d, uses: pg.dump, with: { database: app, to: "\${inputs.to}", jobs: $n, level: 6, bindir: "$PG_BIN" } }
YAML
            cat >"$W/pr.yaml" <<YAML
runbook: scale-restore
inputs: { from: { type: path, required: true }, into: { type: string, required: true } }
mitigation:
  steps:
    - { id: r, uses: pg.restore, with: { from: "\${inputs.from}", into: "\${inputs.into}", jobs: $n, bindir: "$PG_BIN" } }
YAML
            PRE="rm -f '$W'/app.sql.gz*; sync; '$PG_BIN/psql' -h '$PGHOST' -p $PGPORT -d postgres -c checkpoint" \
                t=$(med "'$RUNE' run '$W/pd.yaml' -q --no-report --set to='$W/app.sql.gz'")
            row "$size" "$n" "pg.dump" "$t" "$(mibs "$bytes" "$t")" "$(at100 "$bytes" "$t")" >>"$W/results"
            PRE="'$PG_BIN/dropdb' -h '$PGHOST' -p $PGPORT --if-exists r; sync; '$PG_BIN/psql' -h '$PGHOST' -p $PGPORT -d postgres -c checkpoint" \
                t=$(med "'$RUNE' run '$W/pr.yaml' -q --no-report --set from='$W/app.sql.gz' --set into=r")
            row "$size" "$n" "pg.restore" "$t" "$(mibs "$bytes" "$t")" "$(at100 "$bytes" "$t")" >>"$W/results"
            pg_sql "drop database if exists r" >/dev/null
            echo "scale $s, jobs $n done"
        done
        rm -f "$W"/app.sql.gz*
    done
    pg_stop scaling
fi
cat "$W/results"
