#!/usr/bin/env bash
# Progress an operator can read (issue 20), through the real binary: a step
# type written in Lua does work in proportion to its size, reports it with
# rune.progress and says its size up front (size = function). On a terminal
# (a pty from script(1)) the running step's line shows a bar whose percent
# rises to 100 with an ETA; without one, a plain line per running step at
# the configured interval; --progress json, one object per sample on
# stderr. The incident log keeps samples (chained, in rune log show), the
# report shows the work and its throughput, and rune plan estimates a
# bigger work from the throughput earlier runs measured, naming its basis.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/lua/steps"
cat >"$T/lua/steps/work.lua" <<'EOF'
-- test.work: reads through `kib` KiB of memory in 64 KiB pieces (real work
-- in proportion to its size), reporting each piece; `pause` between pieces
-- paces it for a terminal to draw, and `linger` keeps the finished count
-- on screen (a step finishing its work: an fsync, a rename).
return {
  name = "test.work",
  summary = "work in proportion to its size, reported as it goes",
  effect = "writes",
  params = {
    kib = { type = "int", required = true },
    pause = { type = "duration", default = 0 },
    linger = { type = "duration", default = 0 },
    unit = { type = "string", default = "bytes" },
  },
  size = function(p) return { size = p.kib * 1024, unit = "bytes" } end,
  run = function(p)
    local total, done, h = p.kib * 1024, 0, 0
    local piece = string.rep("x", 65536)
    while done < total do
      for i = 1, #piece, 8 do h = (h + piece:byte(i)) % 65521 end
      done = math.min(done + 65536, total)
      rune.progress(done, total, p.unit)
      if p.pause > 0 then rune.run("flow.sleep", { duration = p.pause .. "ms" }) end
    end
    if p.linger > 0 then rune.run("flow.sleep", { duration = p.linger .. "ms" }) end
    return { hash = h }
  end,
}
EOF
# the same work without a size or progress: the plan falls back to durations
cat >"$T/lua/steps/quiet.lua" <<'EOF'
return {
  name = "test.quiet",
  summary = "work that says nothing of its size",
  effect = "writes",
  params = { n = { type = "int", default = 1 } },
  run = function(p) return { n = p.n } end,
}
EOF
cat >"$T/rb.yaml" <<'EOF'
runbook: progress
inputs:
  kib: { type: int, default: 1024 }
  pause: { type: duration, default: 0 }
  linger: { type: duration, default: 0 }
  unit: { type: string, default: bytes }
mitigation:
  steps:
    - id: work
      uses: test.work
      with: { kib: "${inputs.kib}", pause: "${inputs.pause}", linger: "${inputs.linger}", unit: "${inputs.unit}" }
    - id: quiet
      uses: test.quiet
EOF

# log_id — the newest incident's id
log_id() { last_incident; }

test_case "on a terminal the step's bar rises to 100% with an ETA, in place"
command -v script >/dev/null || fail "script(1) (util-linux) is needed for a terminal"
script -qec "stty cols 150 rows 40; '$RUNE' run '$T/rb.yaml' --set kib=1024 --set pause=120ms --set linger=400ms --no-report" /dev/null </dev/null >"$T/tty" 2>&1
RC=$?
expect_rc 0
# each frame goes back over the block and rewrites the line, cleared to its end
grep -q $'\e\[1A' "$T/tty" || fail "the live block is not redrawn in place"
grep -q $'\e\[K' "$T/tty" || fail "lines are not cleared to their end"
tr '\r' '\n' <"$T/tty" | grep -o '[0-9]*%  [0-9.]* [KMG]*i*B / 1.00 MiB' | grep -o '^[0-9]*' >"$T/pcts"
[ "$(wc -l <"$T/pcts")" -ge 3 ] || fail "fewer than three frames with a percent: $(cat -v "$T/tty" | head -c 2000)"
sort -n -c "$T/pcts" 2>/dev/null || fail "the percent went down: $(tr '\n' ' ' <"$T/pcts")"
[ "$(tail -1 "$T/pcts")" = 100 ] || fail "the last frame is not at 100%: $(tr '\n' ' ' <"$T/pcts")"
grep -q 'ETA [0-9]' "$T/tty" || fail "no ETA drawn"
grep -q '\[#*\.*\]' "$T/tty" || fail "no bar drawn"
grep -q 'KiB/s\|MiB/s' "$T/tty" || fail "no throughput drawn"
# the finished line says what the step did and how fast
tr '\r' '\n' <"$T/tty" | grep -q 'ok .*work .*test.work.*1.00 MiB at ' || fail "the finished line has no work and pace"
OUT=
end_case

test_case "without a terminal: a plain line per running step at the configured interval"
run_rune run "$T/rb.yaml" --set kib=768 --set pause=100ms --progress-interval 200ms --no-report
expect_rc 0
grep -E '^  \[\.\.\.\.\] work +test\.work +[0-9.]+m?s +[0-9 ]+%  .* / 768 KiB' "$T/out" >"$T/lines" ||
    fail "no plain progress line for the running step"
grep -q $'\e' "$T/out" && fail "escape sequences in output that is not a terminal"
# the variable does the same as the flag
RUNE_PROGRESS_INTERVAL=200ms run_rune run "$T/rb.yaml" --set kib=768 --set pause=100ms --no-report
grep -qE '^  \[\.\.\.\.\] work ' "$T/out" || fail "RUNE_PROGRESS_INTERVAL gave no plain lines"
# the default is 10s: a step of a second prints none
run_rune run "$T/rb.yaml" --set kib=512 --set pause=100ms --no-report
expect_no "[....] work"
# --progress none: no lines at any interval
run_rune run "$T/rb.yaml" --set kib=512 --set pause=100ms --progress none --progress-interval 100ms --no-report
expect_no "[....] work"
end_case

test_case "--progress json: one object per sample on stderr, with every figure"
run_rune run "$T/rb.yaml" --set kib=768 --set pause=100ms --progress json --progress-interval 200ms --no-report
expect_rc 0
expect_no "[....]"
python3 - "$T/err" "$(log_id)" <<'PY' || fail "the JSON progress objects are not right"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert objs, "no JSON objects on stderr"
keys = {"type", "incident", "step", "uses", "attempt", "phase", "done", "total", "unit",
        "percent", "rate", "eta_ms", "elapsed_ms"}
for o in objs:
    assert keys <= set(o), o
    assert o["type"] == "progress" and o["incident"] == sys.argv[2], o
work = [o for o in objs if o["step"] == "work"]
final = [o for o in work if o.get("final")]
assert len(final) == 1 and final[-1] is work[-1], work
f = final[0]
assert f["status"] == "ok" and f["done"] == f["total"] == 768 * 1024, f
assert f["unit"] == "bytes" and f["percent"] == 100 and f["eta_ms"] == 0, f
assert f["rate"] > 0 and f["elapsed_ms"] > 0, f
running = [o for o in work if not o.get("final")]
assert running, "no object while the step ran"
assert all(0 <= o["percent"] <= 100 for o in running if o["done"] is not None)
quiet = [o for o in objs if o["step"] == "quiet"]
assert quiet and quiet[-1]["done"] is None and quiet[-1]["unit"] is None, quiet
PY
end_case

test_case "samples in the incident log: rune log show, --json, and the chain"
# each piece pauses longer than the scheduler's 200 ms sampling tick, so
# every piece's count is seen by at least one tick however busy the machine
run_rune run "$T/rb.yaml" --set kib=1024 --set pause=250ms --no-report
expect_rc 0
ID=$(log_id)
n=$(sql "select count(*) from events where incident_id='$ID' and kind='progress'")
[ "$n" -ge 2 ] && [ "$n" -le 21 ] || fail "expected between 2 and 21 samples (one per 5%, and the last), got $n"
expect_eq "$(sql "select count(*) from events where incident_id='$ID' and kind='progress' and json_extract(detail_json,'\$.final')")" 1 "final samples"
# the last sample comes before the step's end
expect_eq "$(sql "select kind from events where incident_id='$ID' and step='work' and kind in ('progress','step.end') order by seq desc limit 1")" step.end "last event of the step"
expect_eq "$(sql "select json_extract(detail_json,'\$.work.size') from events where incident_id='$ID' and step='work' and kind='step.end'")" 1048576 "the step's measured size"
run_rune log show "$ID"
expect_rc 0
expect_out "progress"
expect_out "100%, 1.00 MiB of 1.00 MiB at "
expect_out ", the last"
run_rune log show "$ID" --json
python3 - "$T/out" <<'PY' || fail "rune log show --json lacks the samples"
import json, sys
inc = json.load(open(sys.argv[1]))
s = [e for e in inc["events"] if e["kind"] == "progress"]
assert s and s[-1]["detail"]["final"] is True, s
d = s[-1]["detail"]
assert d["done"] == d["total"] == 1048576 and d["unit"] == "bytes" and d["uses"] == "test.work", d
assert all(e["detail"]["done"] <= d["done"] for e in s)
PY
run_rune log verify "$ID"
expect_rc 0
expect_out "chain intact"
end_case

test_case "the report shows each long step's work and throughput; steps without none"
run_rune report "$ID" --format md
expect_rc 0
expect_out "## Throughput"
grep -E '^\| `work` \| test\.work \| 1 \| 1\.00 MiB \| [0-9.]+m?s \| [0-9.]+ [KMG]iB/s \| ok \|$' "$T/out" >/dev/null ||
    fail "no throughput row for step work"
grep -q '`quiet`.*items' "$T/out" && fail "a step that reported nothing has a throughput row"
run_rune report "$ID" --format json
python3 - "$RUNE_SOURCE_DIR/schemas/report.schema.json" "$T/out" <<'PY' || fail "the report's throughput is not right"
import json, sys
import jsonschema
schema, rep = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
jsonschema.validate(rep, schema)
rows = rep["throughput"]
assert [r["step"] for r in rows] == ["work"], rows
r = rows[0]
assert r["done"] == r["size"] == 1048576 and r["unit"] == r["size_unit"] == "bytes" and r["rate"] > 0, r
PY
run_rune report "$ID" --format html
grep -qE 'class="bt"[^>]*>[0-9.]+m?s · 1\.00 MiB at [0-9.]+ [KMG]iB/s<' "$T/out" ||
    fail "the HTML timeline does not annotate the bar with its work and pace"
# an incident whose steps reported nothing and measured nothing: no
# section, no member (as in every log written before progress)
cat >"$T/quiet.yaml" <<'EOF'
runbook: quiet
mitigation:
  steps:
    - id: quiet
      uses: test.quiet
EOF
run_rune run "$T/quiet.yaml" --no-report
expect_rc 0
run_rune report "$(log_id)" --format md
expect_no "## Throughput"
run_rune report "$(log_id)" --format json
expect_no '"throughput"'
end_case

test_case "rune plan: 4x the work after 3 runs is about 4x their time, and the plan says why"
export RUNE_LOG="$T/plan.db"
for i in 1 2 3; do
    run_rune run "$T/rb.yaml" --set kib=8192 --no-report
    expect_rc 0
done
run_rune plan "$T/rb.yaml" --set kib=32768 --json
expect_rc 0
cp "$T/out" "$T/plan.json"
durations=$(sql "select group_concat(e.duration_ms) from events e join incidents i on i.id = e.incident_id
                 where i.mode = 'run' and e.kind = 'step.end' and e.step = 'work'")
python3 - "$T/plan.json" "$durations" <<'PY' || fail "the size-based estimate is not about 4x the history"
import json, sys, statistics
plan = json.load(open(sys.argv[1]))
ds = [int(x) for x in sys.argv[2].split(",")]
assert len(ds) == 3, ds
steps = {s["id"]: s for st in plan["stages"] for w in st["waves"] for s in w}
w = steps["work"]
assert w["estimate_source"] == "size", w
assert w["work_size"] == 32768 * 1024 and w["work_unit"] == "bytes", w
assert w["throughput_runs"] == 3, w
ratio = w["estimate_ms"] / statistics.median(ds)
assert 4 / 1.5 <= ratio <= 4 * 1.5, (ratio, w, ds)
assert steps["quiet"]["estimate_source"] == "history", steps["quiet"]
assert "work_size" not in steps["quiet"]
PY
python3 -m jsonschema -i "$T/plan.json" "$RUNE_SOURCE_DIR/schemas/plan.schema.json" 2>"$T/schema.err" ||
    fail "schema: $(cat "$T/schema.err")"
run_rune plan "$T/rb.yaml" --set kib=32768
grep -qE 'estimate [0-9.]+m?s \(size 32\.0 MiB at [0-9.]+ [KMG]iB/s measured over 3 runs of test\.work on this host\)' "$T/out" ||
    fail "the plan does not name its size basis"
expect_out "(median of 3 real runs)"
# the throughput is the type's on this host, whatever runbook measured it:
# a runbook never run yet is estimated from it, and its RTO checked
sed 's/^runbook: progress$/runbook: progress-rto\nobjectives: { rto: 1ms }/' "$T/rb.yaml" >"$T/rto.yaml"
run_rune plan "$T/rto.yaml" --set kib=32768 --json
expect_rc 0
python3 - "$T/out" <<'PY' || fail "a new runbook's plan does not use the type's throughput for its RTO"
import json, sys
plan = json.load(open(sys.argv[1]))
steps = {s["id"]: s for st in plan["stages"] for w in st["waves"] for s in w}
assert steps["work"]["estimate_source"] == "size" and steps["work"]["history_runs"] == 0, steps
assert plan["estimate_known_ms"] >= steps["work"]["estimate_ms"] > 1 and plan["rto_exceeded"] is True, plan
PY
end_case

test_case "rune plan: no history yet says so; a size without measured throughput falls back"
export RUNE_LOG="$T/fresh.db"
run_rune plan "$T/rb.yaml" --set kib=4096
expect_rc 0
expect_out "unknown: no history yet (at most its timeout"
# runs on another host do not count for this one
for i in 1 2; do run_rune run "$T/rb.yaml" --set kib=4096 --no-report; done
sql "update incidents set host='elsewhere'"
run_rune plan "$T/rb.yaml" --set kib=4096
expect_out "(median of 2 real runs; size 4.00 MiB, but no throughput measured for it on this host yet)"
end_case

test_case "wrong progress options and calls are refused with what to do"
run_rune run "$T/rb.yaml" --progress loud
expect_rc 2
expect_err 'rune run: --progress is "loud": use auto, bar, plain, json or none'
RUNE_PROGRESS=loud run_rune plan "$T/rb.yaml"
expect_rc 2
expect_err 'RUNE_PROGRESS is "loud"'
run_rune run "$T/rb.yaml" --progress-interval 10ms
expect_rc 2
expect_err '--progress-interval is "10ms": give a duration of at least 100ms'
run_rune run "$T/rb.yaml" --set unit=furlongs --no-report
expect_rc 4
expect_out 'rune.progress: unit "furlongs" is not one of bytes, rows, tables, pages, segments, items'
end_case

finish
