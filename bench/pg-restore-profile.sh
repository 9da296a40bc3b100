#!/usr/bin/env bash
# Where a restore's server time goes: createdb + pg_restore -j2 and rune
# pg.restore (jobs 2) of the same data, each on the same throw-away
# PostgreSQL 15 cluster with PostgreSQL's default durability, memory and
# WAL settings (as bench/pg-dump-restore.sh's default profile), with
#   - pg_stat_wal (records, full-page images, bytes, writes, syncs, and
#     their time: track_wal_io_timing is on) and pg_stat_bgwriter
#     (checkpoints requested and timed, buffers written by whom) as
#     differences over each restore;
#   - wait events of every server process, sampled from pg_stat_activity
#     every 100 ms by one psql session (\watch), summed per event;
#   - rune's own log (its phases and their seconds).
# With PERF=1, `perf record -a` runs over each restore and the top of
# `perf report` is printed. The restores alternate between rounds.
#
# usage: bench/pg-restore-profile.sh [SCALE] [RUNS]   (scale 5 ≈ 1 GiB)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-1}
RUNS=${2:-1}
export RUNE=${RUNE:-$PWD/build/rune}
export RUNE_SOURCE_DIR=$PWD
DATA=${DATA:-$PWD/tests/pg/data/realistic.sql}
[ -x "$RUNE" ] || { echo "no rune binary at $RUNE (build it, or set RUNE)" >&2; exit 1; }

set +eu
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
set -eu
W=$T

pg_start default "fsync = on" "full_page_writes = on" "synchronous_commit = on" \
    "shared_buffers = 128MB" "track_wal_io_timing = on" "track_io_timing = on"
echo "loading the realistic data set at scale $SCALE ..."
pg_createdb app
pg_load "$DATA" app -v scale="$SCALE"
[ "$_PG_ERRORS" = 0 ] || { echo "setup failed" >&2; exit 1; }
pg_sql "vacuum (freeze, analyze)" app >/dev/null # not autovacuum's job during a restore
echo "database: $(($(pg_sql "select pg_database_size('app')") / 1048576)) MiB on disk"
"$PG_BIN/pg_dump" -Fc -Z6 -d app -f "$W/app.dump"
cat >"$W/dump.yaml" <<YAML
runbook: prof-dump
inputs: { to: { type: path, required: true } }
mitigation:
  steps:
    - { id: d, uses: pg.dump, with: { database: app, to: "\${inputs.to}", jobs: 2, level: 6, bindir: "$PG_BIN" } }
YAML
cat >"$W/restore.yaml" <<YAML
runbook: prof-restore
inputs: { from: { type: path, required: true }, into: { type: string, required: true } }
mitigation:
  steps:
    - { id: r, uses: pg.restore, with: { from: "\${inputs.from}", into: "\${inputs.into}", jobs: 2, bindir: "$PG_BIN" } }
YAML
"$RUNE" run "$W/dump.yaml" -q --no-report --set to="$W/app.sql.gz" >/dev/null

WAL="select wal_records, wal_fpi, wal_bytes, wal_buffers_full, wal_write, wal_sync,
            round(wal_write_time), round(wal_sync_time) from pg_stat_wal"
BGW="select checkpoints_timed, checkpoints_req, round(checkpoint_write_time),
            round(checkpoint_sync_time), buffers_checkpoint, buffers_clean, buffers_backend,
            buffers_backend_fsync from pg_stat_bgwriter"
# diff BEFORE AFTER NAMES — the difference of two |-separated rows, named
diff_row() {
    awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN{split(a,x,"|");split(b,y,"|");split(n,m," ");
        for(i=1;i in m;i++) printf "  %-22s %14.0f\n", m[i], y[i]-x[i]}'
}

profile() {
    local name=$1 cmd=$2
    pg_sql "checkpoint" >/dev/null
    sync
    local w0 b0 t0 t1
    w0=$(pg_sql "$WAL") b0=$(pg_sql "$BGW")
    # one psql samples every server process's state every 100 ms
    pg_psql -A -t -F'|' -d postgres >"$W/waits.$name" 2>/dev/null <<'SQL' &
select backend_type, coalesce(wait_event_type, 'CPU'), coalesce(wait_event, '-'), coalesce(state, '-')
from pg_stat_activity where pid <> pg_backend_pid()
\watch 0.1
SQL
    local sampler=$!
    local perfpid=""
    if [ "${PERF:-0}" = 1 ]; then
        perf record -a -o "$W/perf.$name" -q 2>/dev/null &
        perfpid=$!
    fi
    local pm c0 c1
    pm=$(head -1 "$PG_DATA/postmaster.pid")
    c0=$(awk '{print $16 + $17}' "/proc/$pm/stat")
    t0=$(date +%s.%N)
    /usr/bin/time -f "client CPU %U s user, %S s system" -o "$W/client.$name" bash -c "$cmd" \
        >"$W/log.$name" 2>&1 || { echo "failed: $cmd" >&2; cat "$W/log.$name" >&2; exit 1; }
    t1=$(date +%s.%N)
    # the postmaster reaps the backends: their CPU is its children's, once
    # they have exited (a tool's last sessions close as it ends)
    local db=${name/pg_restore./r_pg_} k; db=${db/rune./r_rune_}
    for k in $(seq 100); do
        [ "$(pg_sql "select count(*) from pg_stat_activity where datname = '$db'")" = 0 ] && break
        sleep 0.05
    done
    c1=$(awk '{print $16 + $17}' "/proc/$pm/stat")
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    if [ -n "$perfpid" ]; then
        kill -INT "$perfpid" 2>/dev/null || true
        wait "$perfpid" 2>/dev/null || true
    fi
    local w1 b1
    w1=$(pg_sql "$WAL") b1=$(pg_sql "$BGW")
    # the tables' sizes, then the database goes: its autovacuum must not
    # run during the next restore
    pg_sql "select string_agg(relname || ' ' || pg_size_pretty(pg_total_relation_size(oid)) || ' (heap ' || pg_size_pretty(pg_relation_size(oid)) || ')', ', ' order by pg_total_relation_size(oid) desc) from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace" "$db" >"$W/sizes.$name"
    pg_sql "drop database $db" >/dev/null
    echo "== $name: $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") s"
    echo "  server CPU (exited backends and workers) $(awk "BEGIN{printf \"%.1f\", ($c1 - $c0) / $(getconf CLK_TCK)}") s, $(cat "$W/client.$name")"
    sed 's/^/  tables: /' "$W/sizes.$name"
    diff_row "$w0" "$w1" "wal_records wal_fpi wal_bytes wal_buffers_full wal_write wal_sync wal_write_ms wal_sync_ms"
    diff_row "$b0" "$b1" "ckpt_timed ckpt_req ckpt_write_ms ckpt_sync_ms buf_checkpoint buf_clean buf_backend buf_backend_fsync"
    echo "  wait events (samples of 100 ms, active client backends and background processes):"
    awk -F'|' 'NF==4 && !($1=="client backend" && $4!="active") {c[$1" / "$2":"$3]++}
        END{for(k in c) printf "    %6d  %s\n", c[k], k}' "$W/waits.$name" | sort -rn | head -20
    grep -E '\(|verif|schema|tables|rest' "$W/log.$name" | sed 's/^/  | /' | head -20 || true
    if [ -n "$perfpid" ]; then
        echo "  perf, server processes:"
        perf report -i "$W/perf.$name" --comm postgres --sort dso,sym -q 2>/dev/null |
            grep -v '^$' | head -40 | sed 's/^/    /' || true
    fi
}

for i in $(seq "$RUNS"); do
    pgside() { profile "pg_restore.$i" "'$PG_BIN/createdb' -T template0 r_pg_$i && '$PG_BIN/pg_restore' -j2 --exit-on-error -d r_pg_$i '$W/app.dump'"; }
    runeside() { profile "rune.$i" "'$RUNE' run '$W/restore.yaml' --no-report --set from='$W/app.sql.gz' --set into=r_rune_$i"; }
    if [ $((i % 2)) = 1 ]; then pgside; runeside; else runeside; pgside; fi
done
