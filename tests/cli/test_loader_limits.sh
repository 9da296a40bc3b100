#!/usr/bin/env bash
# Hostile runbook files: each makes the loader do little work and stop with
# a clear error at file:line:col, instead of growing with the square of the
# input, expanding to gigabytes, or hanging. The hostile files are generated
# here (megabytes are not committed). Every rune below runs under `timeout`
# and a memory limit, so a regression fails the case instead of eating the
# machine. No case measures time.
. "$(dirname "$0")/lib.sh"

# limited ARGS... — run_rune under a generous timeout and a memory cap:
# `ulimit -v` for a plain build; AddressSanitizer reserves terabytes of
# address space, so an ASan build gets its own RSS limit instead.
limited() {
    if grep -aq __asan_init "$RUNE"; then
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}hard_rss_limit_mb=1500" \
            timeout 60 "$RUNE" "$@" </dev/null >"$T/out" 2>"$T/err"
        RC=$?
    else
        (ulimit -v 1500000; exec timeout 60 "$RUNE" "$@") </dev/null >"$T/out" 2>"$T/err"
        RC=$?
    fi
    OUT=1
}

# count_err TEXT — how many lines of stderr contain TEXT.
count_err() {
    grep -cF -- "$1" "$T/err"
}

test_case "one key repeated 6500 times (32 KB): one diagnostic for the key"
f="$T/dup.yaml"
{ echo "runbook: dup"; yes 'a: 1' | head -n 6500; } >"$f"
limited validate "$f"
expect_rc 2
expect_err "$f:3:1: error: duplicate key \"a\" (first given at $f:2:1, and 6498 more times after this); remove all but one"
expect_eq "$(count_err 'duplicate key')" 1 "duplicate-key lines"
end_case

test_case "5000 keys each given twice: 100 listed, then one line for the rest"
f="$T/dups.yaml"
{ echo "runbook: dups"; seq 5000 | awk '{print "k" $1 ": 1"}'; seq 5000 | awk '{print "k" $1 ": 2"}'; } >"$f"
limited validate "$f"
expect_rc 2
expect_err "$f:5002:1: error: duplicate key \"k1\" (first given at $f:2:1); remove all but one"
expect_eq "$(count_err 'error: duplicate key')" 100 "duplicate keys listed"
expect_err "error: and 4900 more duplicate keys in this file, not listed one by one"
end_case

test_case "100,000 [ : stopped at the nesting limit, where it is crossed"
f="$T/deep.yaml"
{ echo "runbook: deep"; printf 'd: '; head -c 100000 /dev/zero | tr '\0' '['; echo; } >"$f"
limited validate "$f"
expect_rc 2
# the root mapping is level 0, so the 201st [ (column 3 + 201) is level 201
expect_err "$f:2:204: error: nested more than 200 levels deep; a runbook should not need this"
expect_eq "$(wc -l <"$T/err")" 1 "one error"
end_case

test_case "deep block nesting stops at the limit too"
f="$T/deep-block.yaml"
{ echo "runbook: deep"; for i in $(seq 0 300); do printf '%*sa:\n' "$i" ''; done; } >"$f"
limited validate "$f"
expect_rc 2
expect_err "error: nested more than 200 levels deep"
end_case

test_case "aliases of a 1 MiB scalar used 3000 times: refused at the alias that crosses 64 MiB"
f="$T/alias.yaml"
{ echo "runbook: alias"; printf 's: &s "'; head -c 1048576 /dev/zero | tr '\0' x; echo '"';
  echo "l:"; yes '  - *s' | head -n 3000; } >"$f"
limited validate "$f"
expect_rc 2
# each use costs 1 MiB: the value and its first 63 uses are 64 MiB and a
# little, so the 63rd alias (line 3 + 63) is the one past the budget
expect_err "$f:66:5: error: document too large: over 64 MiB of values and nodes (an alias counts its size each time it is used)"
end_case

test_case "a billion laughs: refused by the node budget"
f="$T/laughs.yaml"
{ echo "runbook: laughs"; echo 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]'
  for i in $(seq 1 9); do p=$((i - 1)); echo "a$i: &a$i [*a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p]"; done; } >"$f"
limited validate "$f"
expect_rc 2
expect_err "error: document too large: over 200000 nodes"
end_case

test_case "2000 steps with one id: capped at 1000 steps, each duplicate id reported once"
f="$T/steps.yaml"
{ echo "runbook: steps"; echo "mitigation:"; echo "  steps:"
  yes '    - {id: s, uses: flow.note, with: {message: x}}' | head -n 2000; } >"$f"
limited validate "$f"
expect_rc 2
expect_err "$f:1004:7: error: more than 1000 steps in the runbook; a runbook should not need this (split it into several)"
expect_eq "$(count_err 'duplicate step id')" 999 "duplicate step id lines"
end_case

test_case "a runbook over 16 MiB is refused before it is read"
f="$T/huge.yaml"
truncate -s 20M "$f"
limited validate "$f"
expect_rc 2
expect_err "$f: error: runbook is 20971520 bytes, more than the 16 MiB a runbook may have"
end_case

test_case "a FIFO given as the runbook is refused, not waited on"
mkfifo "$T/pipe.yaml"
limited validate "$T/pipe.yaml"
expect_rc 2
expect_err "$T/pipe.yaml: error: this is a FIFO (named pipe), not a runbook file"
limited run "$T/pipe.yaml" --yes
expect_rc 2
expect_err "this is a FIFO (named pipe), not a runbook file"
end_case

test_case "a device given as the runbook is refused"
limited validate /dev/zero
expect_rc 2
expect_err "/dev/zero: error: this is a device, not a runbook file"
end_case

test_case "another user's FIFO named *.yaml on the search path: rune list and search by name go on"
if attacker_setup; then
    as_attacker mkdir /"$T"/shared/runbooks
    as_attacker mkfifo "$T/shared/runbooks/aaa-evil.yaml"
    as_attacker ln -s /dev/zero "$T/shared/runbooks/bbb-zero.yaml"
    cp "$RUNE_SOURCE_DIR/runbooks/examples/hello-drill.yaml" "$T/mine.yaml"
    as_attacker cp "$T/mine.yaml" "$T/shared/runbooks/zzz-real.yaml"
    cd "$T/shared" || fail "cd"
    limited list
    expect_rc 0
    expect_out "hello-drill"
    expect_out "runbooks/zzz-real.yaml"
    expect_no "aaa-evil"
    expect_no "bbb-zero"
    limited show hello-drill
    expect_rc 0
    expect_out "hello-drill"
    limited validate aaa-evil
    expect_rc 2
    expect_err "no runbook named \"aaa-evil\""
    cd "$T" || fail "cd"
fi
end_case

finish
