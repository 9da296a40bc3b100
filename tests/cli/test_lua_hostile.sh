#!/usr/bin/env bash
# Lua written to take rune down: error objects that fight back (rune used to
# die with SIGABRT), C functions that would run for hours inside one call
# (past the step's timeout and Ctrl-C), expressions that monkey-patch what
# the next one sees, values that explode once copied into JSON. A hostile
# runbook may fail its run; rune must finish it and record it.
#
# Every rune here runs under `timeout` (or is killed after a bounded wait)
# only so that a regression fails the case instead of hanging ctest; no case
# asserts how long anything took.
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases/lua_hostile"

# bounded ARGS... — run_rune under an outer bound (SIGTERM, then SIGKILL).
bounded() {
    timeout -k 5 120 "$RUNE" "$@" </dev/null >"$T/out" 2>"$T/err"
    RC=$?
    OUT=1
}

# error_of ID STEP — a step's recorded error.
error_of() {
    sql "select json_extract(detail_json,'\$.error') from events where incident_id='$1'
         and step='$2' and kind='step.end' order by seq desc limit 1"
}

expect_like() {
    case "$1" in
    *"$2"*) ;;
    *) fail "${3:-value}: expected to contain '$2', got '$1'" ;;
    esac
}

# wait_until CMD... — polls CMD every 0.1 s for at most 60 s.
wait_until() {
    local _
    for _ in $(seq 600); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# cpu_ticks PID — user CPU time the process has used, in clock ticks.
cpu_ticks() {
    awk '{print $14}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# interrupt PID — sends SIGINT and waits (bounded) for the process to end;
# RC is its exit code. A process that ignores it is killed and fails the case.
interrupt() {
    kill -INT "$1"
    if ! wait_until eval "! kill -0 $1 2>/dev/null"; then
        fail "rune ignored Ctrl-C (SIGINT) for a minute"
        kill -KILL "$1"
    fi
    wait "$1"
    RC=$?
    OUT=1
}

test_case "error objects that fight back, in when:, \${...} and inline steps: steps fail, rollback runs"
bounded run "$C/error_objects.yaml"
expect_rc 3
id=$(last_incident)
for s in when_index_raises when_index_loops with_index_raises inline_index_raises \
         inline_tostring_raises inline_tostring_table inline_close_raises last; do
    expect_eq "$(step_status "$id" "$s")" "failed" "$s"
    expect_like "$(error_of "$id" "$s")" "the Lua code raised a table value instead of a message" "$s"
done
expect_eq "$(step_status "$id" inline_gc_loops)" "failed" "a finalizer is refused"
expect_like "$(error_of "$id" inline_gc_loops)" "__gc (finalizers) is not available" "inline_gc_loops"
expect_eq "$(step_status "$id" undo)" "ok" "rollback ran"
expect_eq "$(sql "select outcome || ' ' || exit_code from incidents where id='$id'")" "rolled_back 3"
end_case

test_case "a Lua step type whose run and plan raise such an object: run rolls back, plan completes"
bounded run "$C/mod_run/runbook.yaml"
expect_rc 3
id=$(last_incident)
expect_eq "$(step_status "$id" evil)" "failed"
expect_like "$(error_of "$id" evil)" "raised a table value instead of a message" "evil"
expect_eq "$(step_status "$id" undo)" "ok" "rollback ran"
expect_eq "$(sql "select outcome from incidents where id='$id'")" "rolled_back"
bounded plan "$C/mod_run/runbook.yaml"
expect_rc 0
expect_out "predicted outcome"
expect_eq "$(sql "select count(*) from incidents where id='$(last_incident)' and outcome is not null")" "1" "the plan is recorded"
end_case

test_case "Lua step type modules that raise such an object while loading: validate, steps, plan, run report them"
for cmd in validate plan run; do
    bounded "$cmd" "$C/mod_load/runbook.yaml"
    expect_rc 2
    expect_err "mod_load/lua/raises.lua: error: Lua step type: the Lua code raised a table value"
    expect_err "mod_load/lua/index_raises.lua: error: Lua step type: the Lua code raised a table value"
done
cd "$C/mod_load" && bounded steps && cd "$T"
expect_rc 0
expect_err "mod_load/lua/raises.lua: error: Lua step type: the Lua code raised a table value"
expect_out "flow.note"
end_case

test_case "a module whose top level backtracks for hours: validate stops at the module deadline"
bounded validate "$C/mod_slow/runbook.yaml"
expect_rc 2
expect_err "mod_slow/lua/slow.lua: error: Lua step type: timed out: the module's top-level code ran for more than 10 s"
end_case

test_case "catastrophic patterns and endless C loops in when:, \${...} and inline steps stop at the step timeout"
bounded run "$C/pattern.yaml"
expect_rc 0
id=$(last_incident)
for s in when_pattern with_pattern inline_pattern inline_pcall_loop inline_table_move \
         inline_concat_c_index when_concat_rawlen; do
    expect_eq "$(step_status "$id" "$s")" "timeout" "$s"
    expect_like "$(error_of "$id" "$s")" "timed out (the step's timeout stopped this Lua code)" "$s"
done
expect_eq "$(step_status "$id" when_rep_empty)" "skipped" "string.rep of nothing is \"\" at once"
expect_eq "$(step_status "$id" after)" "ok" "the run went on"
end_case

test_case "Ctrl-C stops a when: that backtracks inside string.find (holding the run's lock)"
"$RUNE" run "$C/interrupt_when.yaml" </dev/null >"$T/out" 2>"$T/err" &
pid=$!
# the when: is evaluated right after `first`, and it is the only thing
# that burns CPU: wait until it has burnt a second of it
burning() {
    [ "$(sql "select count(*) from events where step='first' and kind='step.end'" 2>/dev/null)" = 1 ] &&
        [ "$(cpu_ticks "$pid")" -ge 100 ]
}
wait_until burning || fail "the when: never started"
# (if SIGINT came before the when:, the run would also end interrupted, but
# the when: is burning CPU now, so this is the case that matters)
interrupt "$pid"
expect_rc 5
id=$(last_incident)
expect_eq "$(step_status "$id" spin)" "cancelled"
expect_like "$(error_of "$id" spin)" "cancelled: the run was interrupted" "spin"
expect_eq "$(step_status "$id" undo)" "ok" "rollback ran after the interrupt"
expect_eq "$(sql "select exit_code from incidents where id='$id'")" "5"
end_case

test_case "Ctrl-C stops an inline step that backtracks inside string.find"
"$RUNE" run "$C/interrupt_inline.yaml" </dev/null >"$T/out" 2>"$T/err" &
pid=$!
matching() {
    [ "$(sql "select count(*) from events where step='spin' and kind='log'" 2>/dev/null)" = 1 ]
}
wait_until matching || fail "the inline step never started"
interrupt "$pid"
expect_rc 5
id=$(last_incident)
expect_eq "$(step_status "$id" spin)" "cancelled"
expect_eq "$(step_status "$id" undo)" "ok" "rollback ran after the interrupt"
end_case

test_case "what one expression monkey-patches is not seen by the next"
bounded run "$C/isolation.yaml"
expect_rc 0
id=$(last_incident)
expect_eq "$(step_status "$id" patch)" "ok" "the patching when: ran (and saw its own tostring)"
expect_eq "$(out probe stdout)" "OK 1 nil nil string abab xy nil" "(math.randomseed: none to fix later values with)"
end_case

test_case "a value that explodes once copied into JSON fails its step with the cap's message"
# under a 4 GB address-space limit, so a regression fails fast instead of
# eating the machine (unless the build cannot start under one: ASan)
LIMIT=4000000
if ! (ulimit -v $LIMIT && "$RUNE" version >/dev/null 2>&1); then LIMIT=unlimited; fi
(ulimit -v $LIMIT && bounded run "$C/json_cap.yaml"; exit $RC)
RC=$?
expect_rc 0
id=$(last_incident)
for s in dag strings when_dag; do
    expect_eq "$(step_status "$id" "$s")" "failed" "$s"
    expect_like "$(error_of "$id" "$s")" "too large to hand back to rune: more than 256 MiB once converted to JSON" "$s"
done
expect_eq "$(step_status "$id" after)" "ok" "the run went on"
end_case

finish
