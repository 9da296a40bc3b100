#!/usr/bin/env bash
# pg.dump's and pg.restore's progress on a real PostgreSQL 15 server
# (issue 20). pg.dump: rows counted by its worker threads against the
# catalog's estimate (tables when a table was never analyzed), samples in
# the incident log with the last one exact, the database's size measured
# for the record; and rune plan estimating a dump of a bigger database from
# the throughput earlier dumps measured on this host, naming that basis.
# pg.restore: the backup's raw bytes (its manifest's) counted from the
# loading connections' threads, on a terminal (script(1)) a bar rising
# with an ETA through its phases, the last sample exact and the backup's
# raw bytes recorded as the size of its work, and rune plan estimating a
# bigger backup's restore from the throughput smaller restores measured.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"

# autovacuum off: "never analyzed" must stay so while the test looks
pg_start main autovacuum=off
for db in small big fresh app; do pg_createdb "$db"; done
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
# the realistic set at scale 0.2: about 38 MB on disk, a restore of seconds
pg_load "$RUNE_SOURCE_DIR/tests/pg/data/realistic.sql" app -v scale=0.2

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

cat >"$T/restore.yaml" <<'EOF'
runbook: pg-restore-progress
inputs:
  from: { type: path, required: true }
  into: { type: string, required: true }
mitigation:
  steps:
    - id: restore
      uses: pg.restore
      with: { from: "${inputs.from}", into: "${inputs.into}", jobs: 2 }
EOF
RUNE_LOG="$T/other.db" run_rune run "$T/dump.yaml" --set db=app --set dir="$T/app" --no-report
expect_rc 0
APP=$(ls "$T"/app/*.sql.gz | head -1)
RAW=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1] + '.manifest.json'))['raw_bytes'])" "$APP")
SIZE=$(python3 -c "import sys; print('%.1f MiB' % (int(sys.argv[1]) / 1048576))" "$RAW")

test_case "on a terminal pg.restore draws a bar rising with an ETA through its phases"
script -qec "stty cols 200 rows 40; '$RUNE' run '$T/restore.yaml' --set from='$APP' --set into=tty --no-report" /dev/null </dev/null >"$T/tty" 2>&1
RC=$?
expect_rc 0
# the count after verifying (which counts the backup's bytes once before):
# the schema, the tables, their indexes and keys, the foreign keys, ...
tr '\r' '\n' <"$T/tty" |
    grep -aoE "(creating the schema|loading tables|building indexes and keys|adding foreign keys|the rest of the data and of post-data|making it durable) \[[#.]*\] *[0-9]*%  [0-9.]* [KMG]*i*B / $SIZE" |
    grep -oE '[0-9]+%' | tr -d % >"$T/pcts"
[ "$(sort -un "$T/pcts" | wc -l)" -ge 3 ] ||
    fail "fewer than three different percents drawn: $(tr '\n' ' ' <"$T/pcts") $(cat -v "$T/tty" | head -c 2000)"
sort -n -c "$T/pcts" 2>/dev/null || fail "the percent went down: $(tr '\n' ' ' <"$T/pcts")"
[ "$(tail -1 "$T/pcts")" -ge 50 ] || fail "the last frame is at $(tail -1 "$T/pcts")%"
grep -aqE "loading tables \[[#.]*\] .*% .* / $SIZE  [0-9.]+ [KM]iB/s  ETA [0-9]" "$T/tty" ||
    fail "no throughput and ETA drawn while loading"
tr '\r' '\n' <"$T/tty" | grep -aq "ok .*restore .*pg.restore .*  $SIZE at [0-9.]* [KM]iB/s" ||
    fail "the finished line lacks the whole work and its pace"
OUT=
end_case

test_case "pg.restore counts the backup's raw bytes to the end, phase after phase; its size recorded"
run_rune run "$T/restore.yaml" --set from="$APP" --set into=json --progress json --progress-interval 100ms --no-report
expect_rc 0
RID=$(last_incident)
python3 - "$T/err" "$RAW" <<'PY' || fail "the JSON progress objects of pg.restore are not right"
import json, sys
raw = int(sys.argv[2])
objs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
r = [o for o in objs if o["step"] == "restore" and o["done"] is not None]
assert r, objs
f = r[-1]
assert f.get("final") and f["status"] == "ok", f
assert f["done"] == f["total"] == raw and f["unit"] == "bytes" and f["percent"] == 100, f
order = ["verifying", "creating the schema", "loading tables", "building indexes and keys",
         "adding foreign keys", "the rest of the data and of post-data", "hashing the restored tables",
         "making it durable"]
seen = [order.index(o["phase"]) for o in r]
assert seen == sorted(seen), [o["phase"] for o in r]
for o in r:
    assert o["total"] == raw and 0 <= o["done"] <= raw, o
after = [o["done"] for o in r if o["phase"] != "verifying"]
assert after == sorted(after), after
PY
expect_eq "$(sql "select json_extract(detail_json,'\$.work.size') || ' ' || json_extract(detail_json,'\$.work.unit') from events where incident_id='$RID' and step='restore' and kind='step.end'")" \
    "$RAW bytes" "the measured size of the work (the manifest's raw bytes)"
run_rune log show "$RID"
expect_out "making it durable: 100%, $SIZE of $SIZE at "
expect_out ", the last"
expect_eq "$(pg_sql "select count(*) from order_items" json)" "$(pg_sql "select count(*) from order_items" app)" "rows restored"
end_case

test_case "rune plan estimates the restore of a bigger backup from the throughput smaller restores measured"
export RUNE_LOG="$T/restore-plan.db"
RUNE_LOG="$T/other.db" run_rune run "$T/dump.yaml" --set db=small --set dir="$T/small" --no-report
expect_rc 0
SMALL=$(ls "$T"/small/*.sql.gz | head -1)
for i in 1 2 3; do
    run_rune run "$T/restore.yaml" --set from="$SMALL" --set into="plan$i" --no-report
    expect_rc 0
done
run_rune plan "$T/restore.yaml" --set from="$APP" --set into=planned --json
expect_rc 0
cp "$T/out" "$T/plan.json"
hist=$(sql "select group_concat(json_extract(e.detail_json,'\$.work.size') || ':' || e.duration_ms)
            from events e join incidents i on i.id = e.incident_id
            where i.mode = 'run' and e.kind = 'step.end' and e.step = 'restore'")
python3 - "$T/plan.json" "$hist" "$RAW" <<'PY' || fail "the plan's estimate is not the backup's raw bytes over the measured throughput"
import json, sys, statistics
plan = json.load(open(sys.argv[1]))
runs = [tuple(int(x) for x in r.split(":")) for r in sys.argv[2].split(",")]
size = int(sys.argv[3])
step = plan["stages"][0]["waves"][0][0]
assert step["estimate_source"] == "size" and step["work_size"] == size, step
assert step["work_unit"] == "bytes" and step["throughput_runs"] == 3, step
rate = statistics.median(s * 1000 / ms for s, ms in runs)
want = size * 1000 / rate
assert abs(step["estimate_ms"] - want) <= max(2, want * 0.01), (step, want, runs)
PY
run_rune plan "$T/restore.yaml" --set from="$APP" --set into=planned
grep -qE '\(size [0-9.]+ MiB at [0-9.]+ [KMG]iB/s measured over 3 runs of pg\.restore on this host\)' "$T/out" ||
    fail "the plan does not name its basis: $(grep estimate "$T/out")"
end_case

finish
