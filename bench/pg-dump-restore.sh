#!/usr/bin/env bash
# pg.dump and pg.restore against PostgreSQL's own tools, on the same
# throw-away PostgreSQL 15 cluster (started the way tests/pg/lib.sh does)
# and the same data, at the same gzip level:
#   dump:    pg_dump -Fc -Z6            (one process, one stream)
#            pg_dump -Fd -j2 -Z6        (two workers, a directory)
#            rune pg.dump, jobs 2, level 6 (one plain SQL .gz + manifest with
#                                        per-table row counts and hashes)
#   restore: createdb + pg_restore -j2 of the -Fc archive
#            rune pg.restore, jobs 2 (verify, load, rows checked) into a new database
# Prints the median of RUNS rounds of each, and ratios of medians; the
# dumps' order rotates between rounds and the restores' alternates. Two
# servers, two tables: first a server with PostgreSQL's default durability
# and memory settings (fsync, full_page_writes and synchronous_commit on,
# shared_buffers 128MB, default WAL settings) — a server as users run it,
# whose figures are the ones that count — then, second, one with fsync,
# full_page_writes and synchronous_commit off and generous memory, the
# figures earlier benchmarks gave. PROFILES=default (or fast) runs one.
# The data is the realistic set (mixed widths, ~3.7x compressible at -6),
# never pgbench filler.
#
# ONLY=restore times the restores only (each tool's dump made once);
# RUNE_OTHER="path..." adds other builds of rune's restore to the
# rotation, each with its ratio to pg_restore (before/after comparisons in
# one run).
#
# usage: bench/pg-dump-restore.sh [SCALE] [RUNS]   (scale 1 ≈ 190 MB on disk; 6 = 1163 MiB, the smallest over 1 GiB)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-1}
RUNS=${2:-3}
export RUNE=${RUNE:-$PWD/build/rune}
export RUNE_SOURCE_DIR=$PWD
DATA=${DATA:-$PWD/tests/pg/data/realistic.sql}
[ -x "$RUNE" ] || { echo "no rune binary at $RUNE (build it, or set RUNE)" >&2; exit 1; }

# the test harness gives a private directory ($T), a cluster, and stops it
# however this script ends
set +eu
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
set -eu
W=$T
. "$RUNE_SOURCE_DIR/bench/lib.sh"

measure() {
local profile=$1; shift
pg_start "$profile" "$@"
echo "[$profile] loading the realistic data set at scale $SCALE ..."
pg_createdb app
pg_load "$DATA" app -v scale="$SCALE"
[ "$_PG_ERRORS" = 0 ] || { echo "setup failed" >&2; exit 1; }
# Vacuumed and analyzed now, so that autovacuum does not do it in the
# middle of the first round's dumps and restores.
pg_sql "vacuum (freeze, analyze)" app >/dev/null
size=$(pg_sql "select pg_database_size('app')")
echo "database: $((size / 1048576)) MiB on disk, $(nproc) cores"

cat > "$W/dump.yaml" <<YAML
runbook: bench-dump
inputs: { to: { type: path, required: true } }
mitigation:
  steps:
    - { id: d, uses: pg.dump, with: { database: app, to: "\${inputs.to}", jobs: 2, level: 6, bindir: "$PG_BIN" } }
YAML
cat > "$W/restore.yaml" <<YAML
runbook: bench-restore
inputs: { from: { type: path, required: true }, into: { type: string, required: true } }
mitigation:
  steps:
    - { id: r, uses: pg.restore, with: { from: "\${inputs.from}", into: "\${inputs.into}", jobs: 2, bindir: "$PG_BIN" } }
YAML

# secs CMD — wall-clock seconds of a shell command (its output discarded;
# a failure stops the benchmark). Its CPU seconds, the tool's and the
# server's, go to $W/cpu.last: on a machine other work keeps busy, they
# vary far less than the wall clock. The server's are the postmaster's
# reaped children's (backends and parallel workers), read once the tool's
# sessions have ended; the background processes' (WAL writer,
# checkpointer) are not in them.
secs() {
    local t0 t1 pm c0 c1 k
    pm=$(head -1 "$PG_DATA/postmaster.pid")
    c0=$(awk '{print $16 + $17}' "/proc/$pm/stat")
    t0=$(date +%s.%N)
    local TIMEFORMAT='%U %S'
    { time bash -c "$1" >"$W/last.log" 2>&1; } 2>"$W/time.last" ||
        { echo "failed: $1" >&2; tail -20 "$W/last.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    for k in $(seq 100); do
        [ "$(pg_sql "select count(*) from pg_stat_activity where backend_type in ('client backend', 'parallel worker') and pid <> pg_backend_pid()")" = 0 ] && break
        sleep 0.05
    done
    sleep 0.3 # and the postmaster has reaped them
    c1=$(awk '{print $16 + $17}' "/proc/$pm/stat")
    awk -v u="$(cat "$W/time.last")" "BEGIN{split(u, x, \" \"); printf \"%.1f\", x[1] + x[2] + ($c1 - $c0) / $(getconf CLK_TCK)}" >"$W/cpu.last"
    awk "BEGIN{printf \"%.2f\", $t1 - $t0}"
}

d_fc=() d_fd=() d_rune=() r_pg=() r_rune=() c_pg=() c_rune=()
read -r -a others <<<"${RUNE_OTHER:-}"
declare -A r_other=() c_other=()
for i in $(seq "$RUNS"); do
    # the three dumps, their order rotating between rounds (with
    # ONLY=restore: the two the restores read, once)
    if [ "${ONLY:-}" = restore ] && [ "$i" -gt 1 ]; then :; else
    rm -rf "$W/out" && mkdir -p "$W/out"
    for j in 0 1 2; do
        sync
        pg_sql "checkpoint" >/dev/null
        case $(( (i + j) % 3 )) in
        0) d_fc+=("$(secs "'$PG_BIN/pg_dump' -Fc -Z6 -d app -f '$W/out/app.dump'")") ;;
        1) [ "${ONLY:-}" = restore ] ||
               d_fd+=("$(secs "'$PG_BIN/pg_dump' -Fd -j2 -Z6 -d app -f '$W/out/app.dir'")") ;;
        2) d_rune+=("$(secs "'$RUNE' run '$W/dump.yaml' -q --no-report --set to='$W/out/app.sql.gz'")") ;;
        esac
    done
    if [ "${ONLY:-}" != restore ]; then
        echo "round $i dump: pg_dump -Fc ${d_fc[-1]}s, -Fd -j2 ${d_fd[-1]}s, pg.dump ${d_rune[-1]}s"
        sizes="-Fc $(du -sb "$W/out/app.dump" | cut -f1), -Fd $(du -sb "$W/out/app.dir" | cut -f1), pg.dump $(stat -c %s "$W/out/app.sql.gz")"
    fi
    fi
    # pg.restore creates its database: so does this side. A checkpoint and
    # a sync before each (with fsync off, without the sync the kernel
    # writes the first restore's pages back during the second),
    # and the order alternating between rounds, so neither tool pays for
    # the other's dirty pages and WAL. Each restored database is dropped
    # as soon as it is timed: autovacuum (on in the default profile, as on
    # users' servers) would otherwise vacuum and analyze the first
    # restore's tables during the second.
    restore_pg() {
        pg_sql "checkpoint" >/dev/null
        sync
        r_pg+=("$(secs "'$PG_BIN/createdb' -T template0 r_pg_$i && '$PG_BIN/pg_restore' -j2 --exit-on-error -d r_pg_$i '$W/out/app.dump'")")
        c_pg+=("$(cat "$W/cpu.last")")
        pg_sql "drop database r_pg_$i" >/dev/null
    }
    restore_rune() {
        pg_sql "checkpoint" >/dev/null
        sync
        r_rune+=("$(secs "'$RUNE' run '$W/restore.yaml' -q --no-report --set from='$W/out/app.sql.gz' --set into=r_rune_$i")")
        c_rune+=("$(cat "$W/cpu.last")")
        pg_sql "drop database r_rune_$i" >/dev/null
    }
    # RUNE_OTHER: other builds of rune restore too (before/after
    # comparisons in one run); then all of them rotate
    restore_other() {
        local k=$1
        pg_sql "checkpoint" >/dev/null
        sync
        r_other[$k]+=" $(secs "'${others[$k]}' run '$W/restore.yaml' -q --no-report --set from='$W/out/app.sql.gz' --set into=r_other_${k}_$i")"
        c_other[$k]+=" $(cat "$W/cpu.last")"
        pg_sql "drop database r_other_${k}_$i" >/dev/null
    }
    if [ ${#others[@]} -gt 0 ]; then
        n=$((2 + ${#others[@]}))
        for j in $(seq 0 $((n - 1))); do
            case $(( (i + j) % n )) in 0) restore_pg ;; 1) restore_rune ;; *) restore_other $(( (i + j) % n - 2 )) ;; esac
        done
        line="round $i restore: pg_restore -j2 ${r_pg[-1]}s, pg.restore ${r_rune[-1]}s"
        for k in "${!others[@]}"; do line+=", other $k ${r_other[$k]##* }s"; done
        echo "$line"
    else
        if [ $((i % 2)) = 1 ]; then restore_pg; restore_rune; else restore_rune; restore_pg; fi
        echo "round $i restore: pg_restore -j2 ${r_pg[-1]}s, pg.restore ${r_rune[-1]}s"
    fi
done

m_rpg=$(median "${r_pg[@]}"); m_rrune=$(median "${r_rune[@]}")
pg_stop "$profile"
{
echo
echo "[$profile] PostgreSQL dump and restore, $((size / 1048576)) MiB database (scale $SCALE), median of $RUNS, $(nproc) cores"
echo "server: $*"
if [ "${ONLY:-}" != restore ]; then
    m_fc=$(median "${d_fc[@]}"); m_fd=$(median "${d_fd[@]}"); m_rune=$(median "${d_rune[@]}")
    echo "bytes: $sizes"
    printf '%-52s %8s %10s\n' "tool" "seconds" "rune / it"
    printf '%-52s %8s %10s\n' "pg_dump -Fc -Z6" "$m_fc" "$(ratio "$m_rune" "$m_fc")"
    printf '%-52s %8s %10s\n' "pg_dump -Fd -j2 -Z6" "$m_fd" "$(ratio "$m_rune" "$m_fd")"
    printf '%-52s %8s %10s\n' "rune pg.dump (jobs 2, level 6, hashes, manifest)" "$m_rune" "1.00"
    echo
fi
m_cpg=$(median "${c_pg[@]}"); m_crune=$(median "${c_rune[@]}")
printf '%-52s %8s %10s %8s %10s\n' "tool" "seconds" "rune / it" "CPU s" "rune / it"
printf '%-52s %8s %10s %8s %10s\n' "createdb + pg_restore -j2 (from -Fc)" "$m_rpg" "$(ratio "$m_rrune" "$m_rpg")" "$m_cpg" "$(ratio "$m_crune" "$m_cpg")"
printf '%-52s %8s %10s %8s %10s\n' "rune pg.restore (jobs 2, verify, rows checked)" "$m_rrune" "1.00" "$m_crune" "1.00"
echo "rounds (s): pg_restore ${r_pg[*]}; pg.restore ${r_rune[*]}"
echo "rounds (CPU s, the tool's and the server's): pg_restore ${c_pg[*]}; pg.restore ${c_rune[*]}"
for k in "${!others[@]}"; do
    # shellcheck disable=SC2086 # the rounds, one word each
    m_other=$(median ${r_other[$k]}) m_cother=$(median ${c_other[$k]})
    printf '%-52s %8s %10s %8s %10s\n' "other $k: ${others[$k]}" "$m_other" "÷pg $(ratio "$m_other" "$m_rpg")" "$m_cother" "÷pg $(ratio "$m_cother" "$m_cpg")"
    echo "rounds: other $k${r_other[$k]}; CPU${c_other[$k]}"
done
} >>"$W/results"
}

# A server as users run it: PostgreSQL's defaults for durability, memory
# and WAL (lib.sh turns fsync, full_page_writes and synchronous_commit off
# for the tests; the last setting given wins).
DEFAULT=("fsync = on" "full_page_writes = on" "synchronous_commit = on" "shared_buffers = 128MB")
FAST=("fsync = off" "full_page_writes = off" "synchronous_commit = off" "autovacuum = off" "shared_buffers = 256MB" "max_wal_size = 8GB" "checkpoint_timeout = 30min"
      "maintenance_work_mem = 256MB")
: >"$W/results"
for p in ${PROFILES:-default fast}; do
    case $p in
    default) measure default "${DEFAULT[@]}" ;;
    fast) measure fast "${FAST[@]}" ;;
    *) echo "unknown profile $p (default or fast)" >&2; exit 2 ;;
    esac
done
cat "$W/results"
