#!/usr/bin/env bash
# Progress of the file and backup steps (issue 20), through the real binary
# on realistic data: the SQLite data set of runbooks/data dumped as SQL
# (about 31 MiB of text that compresses as a database dump does).
#
# file.compress under a terminal (script(1)) draws a bar whose percent
# rises with an ETA; backup.verify prints plain progress lines at the
# configured interval; --progress json objects for file.copy parse and end
# at done == total; every file.* and backup.* step that works through
# bytes reports them up to its total and records the size of its work; the
# samples are in `rune log show`; and rune plan, after three real runs of
# file.compress and of backup.verify, estimates a 4x larger file at about
# 4x their time, naming its basis.
. "$(dirname "$0")/lib.sh"

for tool in sqlite3 script taskset gzip python3; do
    command -v "$tool" >/dev/null || fail "$tool is needed (sqlite3, util-linux, gzip, python3)"
done

# The data: scale 0.2 of the realistic set (about 27 MiB of database),
# dumped as SQL.
sqlite3 -cmd ".parameter set @scale 0.2" "$T/app.db" <"$RUNE_SOURCE_DIR/runbooks/data/sqlite-realistic.sql" ||
    fail "cannot generate the realistic SQLite data set"
sqlite3 "$T/app.db" .dump >"$T/dump.sql"
rm -f "$T/app.db"
DUMP_BYTES=$(stat -c %s "$T/dump.sql")
[ "$DUMP_BYTES" -gt $((20 << 20)) ] || fail "the dump is only $DUMP_BYTES bytes"

cat >"$T/compress.yaml" <<'EOF'
runbook: compress
inputs:
  path: { type: path, required: true }
  to: { type: path, required: true }
  compression: { type: string, default: gzip }
  level: { type: int, default: 6 }
  threads: { type: int, default: 0 }
  chunk: { type: int, default: 4194304 }
mitigation:
  steps:
    - id: compress
      uses: file.compress
      with: { path: "${inputs.path}", to: "${inputs.to}", compression: "${inputs.compression}", level: "${inputs.level}", threads: "${inputs.threads}", chunk_size: "${inputs.chunk}" }
EOF
cat >"$T/verify.yaml" <<'EOF'
runbook: verify
inputs:
  path: { type: path, required: true }
mitigation:
  steps:
    - id: verify
      uses: backup.verify
      with: { path: "${inputs.path}" }
EOF

# step_ms ID STEP — how long a step ran, from its end event
step_ms() {
    sql "select duration_ms from events where incident_id='$1' and step='$2' and kind='step.end'"
}

test_case "on a terminal file.compress draws a bar rising with an ETA, and ends with its whole work"
# one thread at level 9: seconds of real work, drawn every 100 ms; 1 MiB
# chunks, so that the count moves in small steps
script -qec "stty cols 160 rows 40; '$RUNE' run '$T/compress.yaml' --set path='$T/dump.sql' --set to='$T/tty.sql.gz' --set level=9 --set threads=1 --set chunk=1048576 --no-report" /dev/null </dev/null >"$T/tty" 2>&1
RC=$?
expect_rc 0
SIZE=$(python3 -c "import sys; n=int(sys.argv[1]); print('%.1f MiB' % (n / 1048576))" "$DUMP_BYTES")
tr '\r' '\n' <"$T/tty" | grep -ao "compressing \[[#.]*\] *[0-9]*%  [0-9.]* [KMG]*i*B / $SIZE" |
    grep -o '[0-9]*%' | tr -d % >"$T/pcts"
[ "$(sort -un "$T/pcts" | wc -l)" -ge 3 ] ||
    fail "fewer than three different percents drawn: $(tr '\n' ' ' <"$T/pcts") $(cat -v "$T/tty" | head -c 1500)"
sort -n -c "$T/pcts" 2>/dev/null || fail "the percent went down: $(tr '\n' ' ' <"$T/pcts")"
# it counts what is compressed into the backup, a chunk at a time, and the
# step ends as the last chunk lands: a frame at 100% is drawn only when a
# redraw falls in the moment between, so the frames must reach most of the
# way ...
[ "$(tail -1 "$T/pcts")" -ge 50 ] || fail "the last frame is at $(tail -1 "$T/pcts")%"
grep -aq "compressing .*% .* / $SIZE  [0-9.]* [KM]iB/s  ETA [0-9]" "$T/tty" || fail "no throughput and ETA drawn"
# ... and the finished line says all of it was done, and how fast
tr '\r' '\n' <"$T/tty" | grep -aq "ok .*compress .*file.compress .*  $SIZE at [0-9.]* [KM]iB/s" ||
    fail "the finished line lacks the whole work and its pace"
OUT=
end_case

# big_backup COPIES — big.sql.gz: that many copies of the dump (12: about
# 370 MiB) in gzip at level 1 (the slowest to verify per byte); sets
# BIG_BYTES
big_backup() {
    rm -f "$T/big.sql.gz" "$T/big.sql.gz.manifest.json"
    for i in $(seq "$1"); do cat "$T/dump.sql"; done >"$T/big.sql"
    BIG_BYTES=$(stat -c %s "$T/big.sql")
    run_rune run "$T/compress.yaml" --set path="$T/big.sql" --set to="$T/big.sql.gz" --set level=1 --no-report
    expect_rc 0
    rm -f "$T/big.sql"
}

test_case "without a terminal backup.verify prints a plain progress line per interval"
# Lines come one to two intervals (100 ms, the shortest) after the step
# starts, so a verify that ends sooner proves nothing either way: its
# run only counts once it lasted ten intervals, else the backup doubles
# (the step paced by its own size; on one CPU 12 copies take most of a
# second here, a third of one on a core twice as fast).
copies=12
big_backup "$copies"
for try in 1 2 3 4; do
    RC=0
    taskset -c 0 "$RUNE" run "$T/verify.yaml" --set path="$T/big.sql.gz" --progress plain --progress-interval 100ms --no-report </dev/null >"$T/out" 2>"$T/err" || RC=$?
    OUT=1
    VID=$(last_incident)
    VMS=$(step_ms "$VID" verify)
    grep -qE '^  \[\.\.\.\.\] verify ' "$T/out" && break
    [ "${VMS:-0}" -ge 1000 ] && break
    [ "$try" = 4 ] && { fail "backup.verify of $copies copies still took only $VMS ms"; break; }
    copies=$((copies * 2))
    big_backup "$copies"
done
expect_rc 0
grep -E '^  \[\.\.\.\.\] verify +backup\.verify +[0-9.]+m?s +verifying +[0-9]+%  [0-9.]+ [KMG]?i?B / [0-9.]+ [MG]iB' "$T/out" >"$T/lines" ||
    fail "no plain progress line for backup.verify (it ran $VMS ms)"
grep -o '  [0-9]*%' "$T/lines" | tr -d ' %' | sort -n -c 2>/dev/null || fail "the percent went down: $(cat "$T/lines")"
grep -q $'\e' "$T/out" && fail "escape sequences in output that is not a terminal"
grep -qE '^  \[ ok \] verify +backup\.verify .*  [0-9.]+ [MG]iB at [0-9.]+ [KMG]iB/s' "$T/out" ||
    fail "the finished line lacks the work and its pace"
end_case

test_case "the samples of backup.verify are in the log: rune log show, and the chain"
run_rune log show "$VID"
expect_rc 0
expect_out "verifying: 100%, "
expect_out ", the last"
expect_eq "$(sql "select json_extract(detail_json,'\$.total') from events where incident_id='$VID' and kind='progress' and json_extract(detail_json,'\$.final')")" "$BIG_BYTES" "the last sample's total (the raw bytes)"
expect_eq "$(sql "select json_extract(detail_json,'\$.work.size') || ' ' || json_extract(detail_json,'\$.work.unit') from events where incident_id='$VID' and step='verify' and kind='step.end'")" "$BIG_BYTES bytes" "the measured size of the work"
run_rune log verify "$VID"
expect_rc 0
end_case

test_case "--progress json: file.copy's objects parse and end at done == total, verifying"
cat >"$T/copy.yaml" <<'EOF'
runbook: copy
inputs:
  from: { type: path, required: true }
  to: { type: path, required: true }
mitigation:
  steps:
    - id: copy
      uses: file.copy
      with: { from: "${inputs.from}", to: "${inputs.to}" }
EOF
run_rune run "$T/copy.yaml" --set from="$T/dump.sql" --set to="$T/copy.sql" --progress json --progress-interval 100ms --no-report
expect_rc 0
CID=$(last_incident)
python3 - "$T/err" "$CID" "$DUMP_BYTES" <<'PY' || fail "the JSON progress objects of file.copy are not right"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
objs = [json.loads(l) for l in lines if l.startswith("{")]
assert objs, "no JSON objects on stderr"
size = int(sys.argv[3])
copy = [o for o in objs if o["type"] == "progress" and o["step"] == "copy"]
assert copy and all(o["incident"] == sys.argv[2] and o["uses"] == "file.copy" for o in copy), copy
f = copy[-1]
assert f.get("final") is True and f["status"] == "ok", f
assert f["done"] == f["total"] == size and f["unit"] == "bytes" and f["percent"] == 100, f
assert f["phase"] == "verifying" and f["eta_ms"] == 0, f
for o in copy:
    if o["done"] is not None:
        assert o["unit"] == "bytes" and 0 <= o["done"] <= o["total"] == size, o
        assert o["phase"] in ("copying", "verifying"), o
PY
run_rune log show "$CID"
expect_out "verifying: 100%, "
end_case

test_case "every file.* and backup.* step that works through bytes reports them to its total"
mkdir -p "$T/all/list"
head -c $((3 << 20)) "$T/dump.sql" >"$T/all/src.sql"
cp "$T/all/src.sql" "$T/all/gone.sql"
gzip -c "$T/all/src.sql" >"$T/all/plain.sql.gz"
for n in 1 2; do
    run_rune run "$T/compress.yaml" --set path="$T/all/src.sql" --set to="$T/all/list/b$n.sql.zst" --set compression=zstd --no-report
done
cat >"$T/all.yaml" <<EOF
runbook: all
mitigation:
  steps:
    - { id: checksum, uses: file.checksum, with: { path: "$T/all/src.sql" } }
    - { id: compress, uses: file.compress, with: { path: "$T/all/gone.sql", keep: false } }
    - { id: decompress, uses: file.decompress, with: { path: "$T/all/gone.sql.gz", to: "$T/all/back.sql" } }
    - { id: plain, uses: file.decompress, with: { path: "$T/all/plain.sql.gz", to: "$T/all/plain.sql" } }
    - { id: encrypt, uses: file.encrypt, with: { path: "$T/all/src.sql", key: k3y-for-the-test } }
    - { id: decrypt, uses: file.decrypt, with: { path: "$T/all/src.sql.enc", to: "$T/all/dec.sql", key: k3y-for-the-test } }
    - { id: copy, uses: file.copy, with: { from: "$T/all/src.sql", to: "$T/all/copy.sql", verify: false } }
    - { id: verify, uses: backup.verify, with: { path: "$T/all/list/b1.sql.zst" } }
    - { id: list, uses: backup.list, with: { dir: "$T/all/list", verify: true } }
EOF
run_rune run "$T/all.yaml" --progress json --progress-interval 100ms --no-report
expect_rc 0
AID=$(last_incident)
sql "select step, json_extract(detail_json,'\$.work.size'), json_extract(detail_json,'\$.work.unit')
     from events where incident_id='$AID' and kind='step.end'" >"$T/worksizes"
python3 - "$T/err" "$T/worksizes" "$T/all" <<'PY' || fail "a step does not report its bytes to its total"
import json, os, sys
d = sys.argv[3]
src = os.path.getsize(f"{d}/src.sql")
raw = src  # each backup holds src.sql
want = {  # step: (its last count, its phase, the size of its work)
    "checksum": (src, None, src),
    "compress": (src, "verifying", src),  # keep: false verifies before removing
    "decompress": (src, None, src),  # the backup's raw bytes
    "plain": (os.path.getsize(f"{d}/plain.sql.gz"), None, os.path.getsize(f"{d}/plain.sql.gz")),
    "encrypt": (src, "encrypting", src),
    "decrypt": (os.path.getsize(f"{d}/src.sql.enc"), "decrypting", os.path.getsize(f"{d}/src.sql.enc")),
    "copy": (src, "copying", src),
    "verify": (raw, "verifying", raw),
    "list": (2 * raw, "verifying 2 of 2", 2 * raw),
}
objs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
final = {o["step"]: o for o in objs if o.get("final")}
work = {}
for line in open(sys.argv[2]):
    step, size, unit = line.rstrip("\n").split("|")
    work[step] = (int(size) if size else None, unit or None)
for step, (done, phase, size) in want.items():
    f = final.get(step)
    assert f, f"{step}: no final object"
    assert f["done"] == f["total"] == done and f["unit"] == "bytes", (step, f, done)
    assert f["phase"] == phase, (step, f["phase"], phase)
    assert work.get(step) == (size, "bytes"), (step, work.get(step), size)
PY
[ -e "$T/all/gone.sql" ] && fail "file.compress with keep: false kept the original"
cmp -s "$T/all/back.sql" "$T/all/src.sql" || fail "the decompressed file differs"
cmp -s "$T/all/dec.sql" "$T/all/src.sql" || fail "the decrypted file differs"
end_case

test_case "rune plan: a 4x larger file after 3 runs is about 4x their time, and says why"
export RUNE_LOG="$T/plan.db"
mkdir -p "$T/plan"
head -c $((8 << 20)) "$T/dump.sql" >"$T/plan/small.sql"
head -c $((32 << 20)) <(cat "$T/dump.sql" "$T/dump.sql") >"$T/plan/large.sql"
for i in 1 2 3; do
    run_rune run "$T/compress.yaml" --set path="$T/plan/small.sql" --set to="$T/plan/small$i.sql.gz" --no-report
    expect_rc 0
done
for i in 1 2 3; do
    run_rune run "$T/verify.yaml" --set path="$T/plan/small1.sql.gz" --no-report
    expect_rc 0
done
# the large backup is made under another log: its run is not history here
RUNE_LOG="$T/other.db" run_rune run "$T/compress.yaml" --set path="$T/plan/large.sql" --set to="$T/plan/large.sql.gz" --no-report
expect_rc 0
cat >"$T/plan.yaml" <<EOF
runbook: plan-files
mitigation:
  steps:
    - { id: c, uses: file.compress, with: { path: "$T/plan/large.sql", to: "$T/plan/new.sql.gz" } }
    - { id: v, uses: backup.verify, with: { path: "$T/plan/large.sql.gz" } }
EOF
run_rune plan "$T/plan.yaml" --json
expect_rc 0
cp "$T/out" "$T/plan.json"
ms_of() {
    sql "select group_concat(e.duration_ms) from events e join incidents i on i.id = e.incident_id
         where i.mode = 'run' and e.kind = 'step.end' and e.step = '$1'"
}
python3 - "$T/plan.json" "$(ms_of compress)" "$(ms_of verify)" <<'PY' || fail "the size-based estimates are not about 4x the runs"
import json, sys, statistics
plan = json.load(open(sys.argv[1]))
steps = {s["id"]: s for st in plan["stages"] for w in st["waves"] for s in w}
for sid, runs in (("c", sys.argv[2]), ("v", sys.argv[3])):
    ds = [int(x) for x in runs.split(",")]
    assert len(ds) == 3, (sid, ds)
    s = steps[sid]
    assert s["estimate_source"] == "size", s
    assert s["work_size"] == 32 << 20 and s["work_unit"] == "bytes", s
    assert s["throughput_runs"] == 3 and s["throughput_per_s"] > 0, s
    ratio = s["estimate_ms"] / statistics.median(ds)
    assert 4 / 1.5 <= ratio <= 4 * 1.5, (sid, ratio, s, ds)
PY
python3 -m jsonschema -i "$T/plan.json" "$RUNE_SOURCE_DIR/schemas/plan.schema.json" 2>"$T/schema.err" ||
    fail "schema: $(cat "$T/schema.err")"
run_rune plan "$T/plan.yaml"
grep -qE 'estimate [0-9.]+m?s \(size 32\.0 MiB at [0-9.]+ [KMG]iB/s measured over 3 runs of file\.compress on this host\)' "$T/out" ||
    fail "the plan does not name the size basis of file.compress"
grep -qE 'estimate [0-9.]+m?s \(size 32\.0 MiB at [0-9.]+ [KMG]iB/s measured over 3 runs of backup\.verify on this host\)' "$T/out" ||
    fail "the plan does not name the size basis of backup.verify"
end_case

finish
