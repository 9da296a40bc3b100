#!/usr/bin/env bash
# Group commit: events reach the disk (fsync) in groups. The start and end
# of a step whose type writes are on disk before rune goes on, with
# everything before them; steps that only read or compute share those
# fsyncs, so a run of N pure steps costs a constant number of them, not N;
# a plan (a simulation) costs none. Counted with strace, as an operator
# would check it: no timing.
. "$(dirname "$0")/lib.sh"

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
    strace -f -qq -o "$T/strace" -e trace=fsync,fdatasync "$RUNE" "$@" </dev/null >"$T/out" 2>"$T/err"
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

test_case "a step that writes is on disk when it starts and when it ends"
n=$(syncs run "$T/writes5.yaml" --no-report)
expect_rc 0
[ "$n" -ge 10 ] || fail "5 writing steps made only $n fsyncs (their starts and ends: at least 10)"
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

finish
