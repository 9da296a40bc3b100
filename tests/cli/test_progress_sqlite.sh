#!/usr/bin/env bash
# Progress of the SQLite steps (issue 20), through the real binary on real
# databases (runbooks/data's realistic set at two scales, about 8 and 32
# MiB). sqlite.backup under a terminal (script(1)) draws a bar whose
# percent rises with an ETA, paced by its own work (one thread at gzip
# level 9); without a terminal it prints plain lines at the configured
# interval; its samples are in `rune log show` and its throughput in the
# report. sqlite.restore and sqlite.compact count their bytes to their
# totals and record the size of their work. And rune plan, after three real
# restores of the small backup, estimates the restore of a backup four
# times larger at about four times their time, naming its basis.
. "$(dirname "$0")/lib.sh"

for tool in sqlite3 script python3; do
    command -v "$tool" >/dev/null || fail "$tool is needed (sqlite3, util-linux, python3)"
done

# make_db FILE SCALE — the realistic SQLite data set at that scale
make_db() {
    sqlite3 -cmd ".parameter set @scale $2" "$1" <"$RUNE_SOURCE_DIR/runbooks/data/sqlite-realistic.sql" ||
        fail "cannot generate the realistic SQLite data set at scale $2"
}
make_db "$T/small.db" 0.06
make_db "$T/large.db" 0.24
SMALL=$(stat -c %s "$T/small.db")
LARGE=$(stat -c %s "$T/large.db")
[ "$LARGE" -gt $((28 << 20)) ] && [ "$SMALL" -lt $((10 << 20)) ] ||
    fail "unexpected sizes: small $SMALL, large $LARGE bytes"

cat >"$T/backup.yaml" <<'EOF'
runbook: sqlite-backup
inputs:
  db: { type: path, required: true }
  to: { type: path, required: true }
  level: { type: int, default: 6 }
  threads: { type: int, default: 0 }
mitigation:
  steps:
    - id: backup
      uses: sqlite.backup
      with: { path: "${inputs.db}", to: "${inputs.to}", level: "${inputs.level}", threads: "${inputs.threads}" }
EOF
cat >"$T/restore.yaml" <<'EOF'
runbook: sqlite-restore
inputs:
  db: { type: path, required: true }
  from: { type: path, required: true }
mitigation:
  steps:
    - id: restore
      uses: sqlite.restore
      with: { path: "${inputs.db}", from: "${inputs.from}" }
EOF

# human BYTES — as the console writes a size ("31.2 MiB")
human() { python3 -c "import sys; print('%.1f MiB' % (int(sys.argv[1]) / 1048576))" "$1"; }

test_case "on a terminal sqlite.backup draws a bar rising with an ETA, and ends with its whole work"
# one thread at level 9: seconds of real work in proportion to the
# database's size, drawn every 100 ms, counted a 4 MiB chunk at a time
script -qec "stty cols 160 rows 40; '$RUNE' run '$T/backup.yaml' --set db='$T/large.db' --set to='$T/tty.db.gz' --set level=9 --set threads=1 --no-report" /dev/null </dev/null >"$T/tty" 2>&1
RC=$?
expect_rc 0
SIZE=$(human "$LARGE")
tr '\r' '\n' <"$T/tty" | grep -ao "backing up \[[#.]*\] *[0-9]*%  [0-9.]* [KMG]*i*B / $SIZE" |
    grep -o '[0-9]*%' | tr -d % >"$T/pcts"
[ "$(sort -un "$T/pcts" | wc -l)" -ge 3 ] ||
    fail "fewer than three different percents drawn: $(tr '\n' ' ' <"$T/pcts") $(cat -v "$T/tty" | head -c 1500)"
sort -n -c "$T/pcts" 2>/dev/null || fail "the percent went down: $(tr '\n' ' ' <"$T/pcts")"
# the count moves as chunks land in the backup and the step ends as the
# last one does (then it commits): a frame at 100% is drawn only when a
# redraw falls in between, so the frames must reach most of the way ...
[ "$(tail -1 "$T/pcts")" -ge 50 ] || fail "the last frame is at $(tail -1 "$T/pcts")%"
grep -aq "backing up .*% .* / $SIZE  [0-9.]* [KM]iB/s  ETA [0-9]" "$T/tty" || fail "no throughput and ETA drawn"
# ... and the finished line says all of it was done, and how fast
tr '\r' '\n' <"$T/tty" | grep -aq "ok .*backup .*sqlite.backup .*  $SIZE at [0-9.]* [KM]iB/s" ||
    fail "the finished line lacks the whole work and its pace"
OUT=
end_case

test_case "without a terminal sqlite.backup prints a plain progress line per interval"
run_rune run "$T/backup.yaml" --set db="$T/large.db" --set to="$T/plain.db.gz" --set level=9 --set threads=1 \
    --progress-interval 200ms --no-report
expect_rc 0
BID=$(last_incident)
grep -E '^  \[\.\.\.\.\] backup +sqlite\.backup +[0-9.]+m?s +backing up +[0-9]+%  [0-9.]+ [KMG]?i?B / [0-9.]+ MiB' "$T/out" >"$T/lines" ||
    fail "no plain progress line for sqlite.backup"
BMS=$(sql "select duration_ms from events where incident_id='$BID' and step='backup' and kind='step.end'")
[ "$(wc -l <"$T/lines")" -ge 2 ] || fail "fewer than two plain lines in a backup of $BMS ms at 200ms: $(cat "$T/lines")"
grep -o '  [0-9]*%' "$T/lines" | tr -d ' %' | sort -n -c 2>/dev/null || fail "the percent went down: $(cat "$T/lines")"
grep -q $'\e' "$T/out" && fail "escape sequences in output that is not a terminal"
end_case

test_case "sqlite.backup's samples are in rune log show, its throughput in the report"
expect_eq "$(sql "select json_extract(detail_json,'\$.done') || ' ' || json_extract(detail_json,'\$.total') || ' ' || json_extract(detail_json,'\$.unit')
                  from events where incident_id='$BID' and kind='progress' and json_extract(detail_json,'\$.final')")" \
    "$LARGE $LARGE bytes" "the last sample"
n=$(sql "select count(*) from events where incident_id='$BID' and kind='progress'")
[ "$n" -ge 2 ] || fail "only $n progress samples in the log"
expect_eq "$(sql "select json_extract(detail_json,'\$.work.size') || ' ' || json_extract(detail_json,'\$.work.unit') from events where incident_id='$BID' and step='backup' and kind='step.end'")" \
    "$LARGE bytes" "the measured size of the work (the database's bytes)"
run_rune log show "$BID"
expect_rc 0
expect_out "backing up: 100%, $SIZE of $SIZE at "
expect_out ", the last"
run_rune log verify "$BID"
expect_rc 0
run_rune report "$BID" --format md
expect_out "## Throughput"
grep -qE "^\| \`backup\` \| sqlite\.backup \| 1 \| $SIZE \| [0-9.]+m?s \| [0-9.]+ [KMG]iB/s \| ok \|$" "$T/out" ||
    fail "no throughput row for the backup: $(grep -A4 Throughput "$T/out")"
end_case

test_case "sqlite.restore and sqlite.compact count their bytes to their totals, and their sizes"
run_rune run "$T/backup.yaml" --set db="$T/small.db" --set to="$T/small.db.gz" --no-report
expect_rc 0
cat >"$T/both.yaml" <<EOF
runbook: restore-compact
mitigation:
  steps:
    - { id: restore, uses: sqlite.restore, with: { path: "$T/back.db", from: "$T/small.db.gz" } }
    - { id: compact, uses: sqlite.compact, with: { path: "$T/back.db" } }
EOF
run_rune run "$T/both.yaml" --progress json --progress-interval 100ms --no-report
expect_rc 0
RID=$(last_incident)
sql "select step || '|' || json_extract(detail_json,'\$.work.size') || '|' || json_extract(detail_json,'\$.work.unit')
     from events where incident_id='$RID' and kind='step.end'" >"$T/worksizes"
python3 - "$T/err" "$T/worksizes" "$SMALL" "$T/back.db" <<'PY' || fail "restore or compact does not report its bytes"
import json, os, sys
small = int(sys.argv[3])
objs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
final = {o["step"]: o for o in objs if o.get("final")}
work = dict((l.split("|")[0], l.strip().split("|")[1:]) for l in open(sys.argv[2]))
r = final["restore"]
# the backup's raw bytes restored, then the copy counted
assert r["done"] == r["total"] == small and r["unit"] == "bytes" and r["phase"] == "counting", r
assert work["restore"] == [str(small), "bytes"], work
c = final["compact"]
# the compacted copy's bytes written, then checked; its size is the database's
assert c["done"] == c["total"] == os.path.getsize(sys.argv[4]) and c["unit"] == "bytes", c
assert c["phase"] == "checking", c
assert work["compact"] == [str(small), "bytes"], work
for o in objs:
    if o["step"] in ("restore", "compact") and o["done"] is not None:
        assert 0 <= o["done"] <= o["total"], o
PY
[ "$(sqlite3 "$T/back.db" 'select count(*) from sqlite_schema')" -gt 0 ] || fail "the restored database is empty"
end_case

test_case "rune plan: a restore 4x larger after 3 restores is about 4x their time, and says why"
export RUNE_LOG="$T/plan.db"
for i in 1 2 3; do
    run_rune run "$T/restore.yaml" --set db="$T/r$i.db" --set from="$T/small.db.gz" --no-report
    expect_rc 0
done
# the large backup is made under another log: its run is not history here
RUNE_LOG="$T/other.db" run_rune run "$T/backup.yaml" --set db="$T/large.db" --set to="$T/large.db.gz" --no-report
expect_rc 0
run_rune plan "$T/restore.yaml" --set db="$T/r9.db" --set from="$T/large.db.gz" --json
expect_rc 0
cp "$T/out" "$T/plan.json"
runs=$(sql "select group_concat(e.duration_ms) from events e join incidents i on i.id = e.incident_id
            where i.mode = 'run' and e.kind = 'step.end' and e.step = 'restore'")
python3 - "$T/plan.json" "$runs" "$LARGE" "$SMALL" <<'PY' || fail "the size-based estimate is not about 4x the restores"
import json, sys, statistics
plan = json.load(open(sys.argv[1]))
ds = [int(x) for x in sys.argv[2].split(",")]
large, small = int(sys.argv[3]), int(sys.argv[4])
assert len(ds) == 3, ds
s = plan["stages"][0]["waves"][0][0]
assert s["estimate_source"] == "size", s
assert s["work_size"] == large and s["work_unit"] == "bytes", s  # the manifest's raw bytes
assert s["throughput_runs"] == 3 and s["throughput_per_s"] > 0, s
ratio = s["estimate_ms"] / statistics.median(ds)
assert 4 / 1.5 <= ratio <= 4 * 1.5, (ratio, s, ds)
assert abs(ratio - large / small) <= 0.05 * large / small, (ratio, large / small)
PY
python3 -m jsonschema -i "$T/plan.json" "$RUNE_SOURCE_DIR/schemas/plan.schema.json" 2>"$T/schema.err" ||
    fail "schema: $(cat "$T/schema.err")"
run_rune plan "$T/restore.yaml" --set db="$T/r9.db" --set from="$T/large.db.gz"
grep -qE "estimate [0-9.]+m?s \(size $(human "$LARGE" | sed 's/\./\\./') at [0-9.]+ [KMG]iB/s measured over 3 runs of sqlite\.restore on this host\)" "$T/out" ||
    fail "the plan does not name its size basis: $(grep estimate "$T/out")"
end_case

finish
