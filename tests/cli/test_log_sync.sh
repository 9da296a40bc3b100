#!/usr/bin/env bash
# Group commit: events reach the disk (fsync) in groups. The start and end
# of a step whose type writes are on disk before rune goes on, with
# everything before them; steps that only read or compute share those
# fsyncs, so a run of N pure steps costs a constant number of them, not N;
# a plan (a simulation) costs none. Counted with strace, as an operator
# would check it: no timing.
. "$(dirname "$0")/lib.sh"

# LeakSanitizer cannot run under ptrace (a sanitizer build under strace
# would fail on that alone); leaks are checked by every other test
NO_LSAN=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

if ! command -v strace >/dev/null; then
    echo "FAIL: strace is needed to count fsyncs (apt-get install strace; .ci/deps installs it)" >&2
    exit 1
fi

# notes N — a runbook of N pure steps (flow.note)
notes() {
    { echo "runbook: notes$1"; echo "mitigation:"; echo "  steps:"
      for i in $(seq 1 "$1"); do echo "    - { id: n$i, uses: flow.note, with: { message: hi } }"; done
    } >"$T/notes$1.yaml"
}
# writes N — a runbook of N steps whose type writes (shell.run)
writes() {
    { echo "runbook: writes$1"; echo "mitigation:"; echo "  steps:"
      for i in $(seq 1 "$1"); do echo "    - { id: w$i, uses: shell.run, with: { argv: [/bin/true] } }"; done
    } >"$T/writes$1.yaml"
}

# syncs ARGS... — how many fsync/fdatasync calls `rune ARGS...` makes
syncs() {
    ASAN_OPTIONS=$NO_LSAN strace -f -qq -o "$T/strace" -e trace=fsync,fdatasync "$RUNE" "$@" </dev/null >"$T/out" 2>"$T/err"
    RC=$?
    grep -cE '(fsync|fdatasync)\(' "$T/strace"
}

notes 5; notes 40; writes 5

test_case "a run of pure steps costs a constant number of fsyncs, not one per event"
run_rune run "$T/notes5.yaml" --no-report   # the log exists, its WAL checkpointed
few=$(syncs run "$T/notes5.yaml" --no-report)
many=$(syncs run "$T/notes40.yaml" --no-report)
expect_rc 0
[ "$many" -le "$few" ] || fail "40 pure steps made $many fsyncs, 5 made $few: they should not grow"
[ "$many" -lt 20 ] || fail "40 pure steps (120 events) made $many fsyncs"
end_case

# order ARGS... — `rune ARGS...` traced: one line per fsync ("sync") and per
# /bin/true a step runs ("child"), in the order they happened
order() {
    ASAN_OPTIONS=$NO_LSAN strace -f -qq -o "$T/strace" -e trace=fsync,fdatasync,execve -e signal=none "$RUNE" "$@" \
        </dev/null >"$T/out" 2>"$T/err"
    RC=$?
    grep -E 'f(data)?sync\(|execve\("/bin/true"' "$T/strace" |
        sed -E 's/.*f(data)?sync\(.*/sync/; s/.*execve.*/child/'
}

writes 40

test_case "a step that writes is on disk when it starts and when it ends"
# before each child runs, its step's start (and the end of the step before
# it) were forced to disk; after the last one, its end was
order run "$T/writes5.yaml" --no-report >"$T/order"
expect_rc 0
expect_eq "$(grep -c child "$T/order")" 5 "children run"
awk '/child/ { if (!synced) bad = 1; synced = 0 } /sync/ { synced = 1 }
     END { exit bad || !synced }' "$T/order" ||
    fail "a child ran with no fsync since the one before it, or none followed the last: $(tr '\n' ' ' <"$T/order")"
end_case

test_case "a writing step's end and the next writing step's start share one fsync"
# two in a row: the end of one, then the start of the next, nothing between
# them that the end must precede; 35 more writing steps cost 35 more fsyncs
# (2 each before they shared them: 70)
few=$(syncs run "$T/writes5.yaml" --no-report)
many=$(syncs run "$T/writes40.yaml" --no-report)
expect_rc 0
[ $((many - few)) -le 35 ] ||
    fail "40 writing steps made $many fsyncs, 5 made $few: more than one a step"
end_case

test_case "beyond one fsync a writing step, a run costs at most eight"
# the incident's start rides on the first step's fsync and its end on the
# close of its row; what is left: the log's directory once (SQLite syncs
# it at the WAL's first sync after each open), the last step's end before
# the run's way out, the end's checkpoint (WAL, database file), the WAL's
# header as the last write starts it over, that write's own, and the
# close's checkpoint
n=$(syncs run "$T/writes5.yaml" --no-report)
expect_rc 0
[ "$n" -le 13 ] || fail "5 writing steps made $n fsyncs: more than 5 + 8 ($(sort "$T/strace" | uniq -c | head -20))"
end_case

test_case "the last writing step's end is on disk before the run removes its work directory"
ASAN_OPTIONS=$NO_LSAN strace -f -qq -o "$T/strace" -e trace=fdatasync,fsync,execve,unlinkat,rmdir \
    -e signal=none "$RUNE" run "$T/writes5.yaml" --no-report </dev/null >"$T/out" 2>"$T/err"
RC=$?
expect_rc 0
# in strace's order: the last child; an fsync; then the first removal of
# a directory (the work directory, emptied)
awk '/execve\("\/bin\/true"/ { c = NR; s = 0 } /f(data)?sync\(/ { if (c && !s) s = NR }
     /AT_REMOVEDIR|rmdir\(/ { if (c && NR > c && !r) r = NR }
     END { exit !(c && s && r && s < r) }' "$T/strace" ||
    fail "no fsync between the last child and the work directory's removal: $(grep -nE 'sync|REMOVEDIR|rmdir|execve' "$T/strace" | tail -8)"
end_case

test_case "the log's WAL is kept between runs, started over at each run's end"
# kept: the next run writes over its blocks (an fsync then writes no file
# size); started over: the next open reads back a frame or two, not the run
wal_before=$(stat -c %i "$RUNE_LOG-wal")
run_rune run "$T/writes40.yaml" --no-report
expect_rc 0
[ -e "$RUNE_LOG-wal" ] || fail "the WAL was removed at the close"
expect_eq "$(stat -c %i "$RUNE_LOG-wal")" "$wal_before" "the WAL file (inode) across runs"
frames=$(python3 -c 'import struct,sys
d=open(sys.argv[1],"rb").read(); ps=struct.unpack(">I",d[8:12])[0]; s1,s2=d[16:20],d[20:24]
n=0; off=32
while off+24+ps<=len(d) and d[off+8:off+12]==s1 and d[off+12:off+16]==s2: n+=1; off+=24+ps
print(n)' "$RUNE_LOG-wal")
[ "$frames" -le 4 ] || fail "the kept WAL holds $frames frames of the last run: it was not started over"
# and the database file alone, copied without its WAL, holds every incident
# and its end (the closing checkpoint)
cp "$RUNE_LOG" "$T/alone.db"
expect_eq "$(sqlite3 "$T/alone.db" "select count(*) from incidents where outcome is null")" 0 "incidents without an end in the database file alone"
expect_eq "$(sqlite3 "$T/alone.db" "select count(*) from incidents")" "$(sql "select count(*) from incidents")" "incidents in the database file alone"
end_case

test_case "a writing step's end is on disk before a step that does not write starts"
cat >"$T/mixed.yaml" <<'EOF'
runbook: mixed
mitigation:
  steps:
    - { id: w1, uses: shell.run, with: { argv: [/bin/true] } }
    - { id: n1, uses: flow.note, needs: [w1], with: { message: between } }
    - { id: w2, uses: shell.run, needs: [n1], with: { argv: [/bin/true] } }
EOF
order run "$T/mixed.yaml" --no-report >"$T/order"
expect_rc 0
# between the two children: w1's end, forced before n1 started, and w2's
# start, forced before its child ran
between=$(awk '/child/ { n++; next } n == 1 && /sync/ { k++ } END { print k + 0 }' "$T/order")
[ "$between" -ge 2 ] ||
    fail "only $between fsync(s) between the two writing steps' children: $(tr '\n' ' ' <"$T/order")"
end_case

test_case "a log moved away without its kept WAL: a new log there is refused, nothing taken from it"
run_rune run "$T/notes5.yaml" --no-report
expect_rc 0
mv "$RUNE_LOG" "$T/moved.db"
run_rune run "$T/notes5.yaml" --no-report
[ "$RC" != 0 ] || fail "a run made a new log beside the old one's WAL"
grep -qF "its write-ahead log $RUNE_LOG-wal does" "$T/err" || fail "stderr lacks the reason: $(cat "$T/err")"
[ ! -e "$RUNE_LOG" ] || fail "a new log was made anyway"
# put back together, the log is whole
mv "$T/moved.db" "$RUNE_LOG"
run_rune log verify --all
expect_rc 0
end_case

test_case "a plan forces nothing to disk"
run_rune run "$T/notes5.yaml" --no-report
n=$(syncs plan "$T/writes5.yaml" --no-report)
expect_rc 0
expect_eq "$n" 0 "fsyncs of a plan"
n=$(syncs plan "$T/notes40.yaml" --no-report)
expect_eq "$n" 0 "fsyncs of a plan of 40 pure steps"
# and it is recorded all the same
expect_eq "$(sql "select mode from incidents order by rowid desc limit 1")" "dry-run" "the plan's record"
run_rune log verify --all
expect_rc 0
end_case

test_case "plans in a row do not grow the log's WAL without bound"
# A plan's connection does not checkpoint on each commit; before, the
# frames of every plan stayed in the WAL until a real run (12 MB for a
# 1,000-step plan), and every later open read them all again.
writes 1000
for i in 1 2 3; do
    run_rune plan "$T/writes1000.yaml" --no-report -q
    expect_rc 0
done
wal=$(stat -c %s "$RUNE_LOG-wal" 2>/dev/null || echo 0)
[ "$wal" -le $((8 * 1024 * 1024)) ] ||
    fail "the WAL holds $wal bytes after three 1,000-step plans (each checkpoints past 4 MB)"
expect_eq "$(sql "select count(*) from incidents where mode = 'dry-run' and runbook = 'writes1000'")" 3 "the plans' records"
run_rune log verify --all
expect_rc 0
end_case

finish
