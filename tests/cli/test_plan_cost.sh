#!/usr/bin/env bash
# What a plan costs does not grow with its steps but by their own work: no
# thread a step (a dry-run's step runs nothing: it is planned on its
# stage's thread). Counted with strace, as an operator would check it: no
# timing.
. "$(dirname "$0")/lib.sh"

# LeakSanitizer cannot run under ptrace (a sanitizer build under strace
# would fail on that alone); leaks are checked by every other test
NO_LSAN=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

if ! command -v strace >/dev/null; then
    echo "FAIL: strace is needed to count threads (apt-get install strace; .ci/deps installs it)" >&2
    exit 1
fi

# steps N — a runbook of N steps that write (shell.run), planned, not run
steps() {
    { echo "runbook: steps$1"; echo "mitigation:"; echo "  steps:"
      for i in $(seq 1 "$1"); do echo "    - { id: s$i, uses: shell.run, with: { argv: [/bin/echo, \"$i\"] } }"; done
    } >"$T/steps$1.yaml"
}

# threads ARGS... — how many threads or processes `rune ARGS...` starts
threads() {
    ASAN_OPTIONS=$NO_LSAN strace -f -qq -o "$T/strace" -e trace=clone,clone3,fork,vfork "$RUNE" "$@" </dev/null \
        >"$T/out" 2>"$T/err"
    RC=$?
    grep -cE '^[0-9]+ +(clone|clone3|fork|vfork)\(' "$T/strace"
}

steps 5; steps 40

test_case "a plan starts no thread per step"
run_rune plan "$T/steps5.yaml" --no-report  # the log exists
few=$(threads plan "$T/steps5.yaml" --no-report)
expect_rc 0
many=$(threads plan "$T/steps40.yaml" --no-report)
expect_rc 0
[ "$many" -le "$few" ] || fail "a plan of 40 steps started $many threads, of 5 steps $few: they should not grow"
# and every step is in the plan
expect_eq "$(grep -cE '^ +s[0-9]+ ' "$T/out")" 40 "steps in the plan"
end_case

finish
