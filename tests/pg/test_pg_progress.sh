#!/usr/bin/env bash
# pg.dump's progress on a real PostgreSQL 15 server (issue 20): rows
# counted by its worker threads against the catalog's estimate (tables
# when a table was never analyzed), samples in the incident log with the
# last one exact, the database's size measured for the record; and rune
# plan estimating a dump of a bigger database from the throughput earlier
# dumps measured on this host, naming that basis.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"

# autovacuum off: "never analyzed" must stay so while the test looks
pg_start main autovacuum=off
for db in small big fresh; do pg_createdb "$db"; done
pg_psql -d small -c "create table t (id int primary key, pad text);
    insert into t select g, repeat('x', 100) from generate_series(1, 50000) g; analyze t;" >/dev/null ||
    fail "setup small"
pg_psql -d big -c "create table t (id int primary key, pad text);
    insert into t select g, repeat('x', 100) from generate_series(1, 200000) g;
    create table u (id int, at date) partition by range (at);
    create table u1 partition of u for values from ('2024-01-01') to ('2025-01-01');
    create table u2 partition of u for values from ('2025-01-01') to ('2026-01-01');
    insert into u select g, date '2024-01-01' + g % 700 from generate_series(1, 30000) g;
    analyze;" >/dev/null || fail "setup big"
pg_psql -d fresh -c "create table a (id int); create table b (id int); create table c (id int);
    insert into a select generate_series(1, 1000); insert into b values (1);" >/dev/null ||
    fail "setup fresh"

cat >"$T/dump.yaml" <<'EOF'
runbook: pg-dump-progress
inputs:
  db: { type: string, required: true }
  dir: { type: path, required: true }
mitigation:
  steps:
    - id: dump
      uses: pg.dump
      with: { database: "${inputs.db}", dir: "${inputs.dir}", jobs: 2, level: 1 }
EOF

# samples ID — the dump's progress samples: done|total|unit|final|phase
samples() {
    sql "select json_extract(detail_json,'\$.done') || '|' || coalesce(json_extract(detail_json,'\$.total'), '') || '|' ||
         json_extract(detail_json,'\$.unit') || '|' || coalesce(json_extract(detail_json,'\$.final'), 0) || '|' ||
         coalesce(json_extract(detail_json,'\$.phase'), '')
         from events where incident_id='$1' and step='dump' and kind='progress' order by seq"
}

test_case "pg.dump counts rows against the catalog's estimate; the last sample is exact"
run_rune run "$T/dump.yaml" --set db=big --set dir="$T/b1" --progress json --progress-interval 100ms --no-report
expect_rc 0
ID=$(last_incident)
samples "$ID" >"$T/samples"
[ -s "$T/samples" ] || fail "no progress samples for the dump"
# 200000 + 30000 rows; the estimate (ANALYZE's reltuples, partitions summed) is close
tail -1 "$T/samples" | grep -qx '230000|230000|rows|1|assembling' || fail "last sample: $(tail -1 "$T/samples")"
est=$(head -1 "$T/samples" | cut -d'|' -f2)
[ -n "$est" ] && [ "$est" -ge 207000 ] && [ "$est" -le 253000 ] ||
    fail "the first sample's total ($est) is not the catalog's estimate of 230000 rows"
grep -q '|copying tables$' "$T/samples" || [ "$(wc -l <"$T/samples")" = 1 ] ||
    fail "samples while copying are not marked so: $(cat "$T/samples")"
expect_eq "$(sql "select json_extract(detail_json,'\$.work.uses') || ' ' || json_extract(detail_json,'\$.work.unit') from events where incident_id='$ID' and kind='step.end'")" "pg.dump bytes"
expect_eq "$(sql "select json_extract(detail_json,'\$.work.size') from events where incident_id='$ID' and kind='step.end'")" \
    "$(pg_sql "select pg_database_size('big')")" "the measured size is the database's"
python3 - "$T/err" <<'PY' || fail "the JSON progress objects are not right"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
dump = [o for o in objs if o["step"] == "dump"]
assert dump and dump[-1].get("final") and dump[-1]["status"] == "ok", dump
assert dump[-1]["done"] == dump[-1]["total"] == 230000 and dump[-1]["unit"] == "rows", dump[-1]
PY
run_rune log verify "$ID"
expect_rc 0
end_case

test_case "a table never analyzed: pg.dump counts tables instead"
run_rune run "$T/dump.yaml" --set db=fresh --set dir="$T/b2" --no-report
expect_rc 0
samples "$(last_incident)" | tail -1 | grep -qx '3|3|tables|1|assembling' ||
    fail "last sample: $(samples "$(last_incident)" | tail -1)"
end_case

test_case "rune plan estimates a bigger dump from the throughput smaller ones measured"
export RUNE_LOG="$T/plan.db"
for i in 1 2 3; do
    run_rune run "$T/dump.yaml" --set db=small --set dir="$T/b3" --no-report
    expect_rc 0
done
run_rune plan "$T/dump.yaml" --set db=big --set dir="$T/b4" --json
expect_rc 0
cp "$T/out" "$T/plan.json"
hist=$(sql "select group_concat(json_extract(e.detail_json,'\$.work.size') || ':' || e.duration_ms)
            from events e join incidents i on i.id = e.incident_id
            where i.mode = 'run' and e.kind = 'step.end' and e.step = 'dump'")
python3 - "$T/plan.json" "$hist" "$(pg_sql "select pg_database_size('big')")" <<'PY' || fail "the plan's estimate is not the size over the measured throughput"
import json, sys, statistics
plan = json.load(open(sys.argv[1]))
runs = [tuple(int(x) for x in r.split(":")) for r in sys.argv[2].split(",")]
size = int(sys.argv[3])
step = plan["stages"][0]["waves"][0][0]
assert step["estimate_source"] == "size" and step["work_size"] == size, step
assert step["throughput_runs"] == 3, step
rate = statistics.median(s * 1000 / ms for s, ms in runs)
want = size * 1000 / rate
assert abs(step["estimate_ms"] - want) <= max(2, want * 0.01), (step, want, runs)
PY
run_rune plan "$T/dump.yaml" --set db=big --set dir="$T/b4"
grep -qE '\(size [0-9.]+ MiB at [0-9.]+ [KMG]iB/s measured over 3 runs of pg\.dump on this host\)' "$T/out" ||
    fail "the plan does not name its basis"
# a database the plan cannot reach: no size, the median stands in
run_rune plan "$T/dump.yaml" --set db=nosuchdb --set dir="$T/b4"
expect_rc 0
expect_out "(median of 3 real runs)"
end_case

finish
