#!/usr/bin/env bash
# Every file in tests/cli/invalid/ is a broken runbook with one or more
# `# expect: LINE:COL: message` lines. `rune validate` must exit 2 and
# print each expected diagnostic as FILE:LINE:COL: error: message; `rune
# run` must exit 2 too, with nothing executed (each file's shell steps
# would touch $RUNE_TEST_MARK) and nothing recorded.
. "$(dirname "$0")/lib.sh"
export RUNE_TEST_MARK="$T/ran"
count=0
for f in "$RUNE_SOURCE_DIR"/tests/cli/invalid/*.yaml; do
    name=$(basename "$f")
    test_case "invalid/$name"
    count=$((count + 1))
    run_rune validate "$f"
    expect_rc 2
    grep -q '^# expect: ' "$f" || fail "no # expect: line in $f"
    while IFS= read -r want; do
        want=${want#\# expect: }
        case "$want" in
            [0-9]*:[0-9]*:*) expect_err "$f:${want%%: *}: error: ${want#*: }" ;;
            *) expect_err "$f: $want" ;;
        esac
    done < <(grep '^# expect: ' "$f")
    run_rune run "$f" --yes
    expect_rc 2
    [ ! -e "$RUNE_TEST_MARK" ] || fail "a step ran although the runbook is invalid"
    [ ! -e "$RUNE_LOG" ] || fail "an incident was recorded for an invalid runbook"
    end_case
done
test_case "at least 30 malformed runbooks"
[ "$count" -ge 30 ] || fail "only $count files in tests/cli/invalid"
end_case

test_case "every bundled runbook validates"
while IFS= read -r f; do
    run_rune validate "$f"
    expect_rc 0
done < <(find "$RUNE_SOURCE_DIR/runbooks" -name '*.yaml' ! -name '*.test.yaml' | sort)
end_case

test_case "validate reports all errors of all files, and exit 2"
run_rune validate "$RUNE_SOURCE_DIR/tests/cli/invalid/04-unknown-step-type.yaml" \
    "$RUNE_SOURCE_DIR/tests/cli/invalid/05-unknown-param.yaml"
expect_rc 2
expect_err "shell.runn"
expect_err "scirpt"
expect_err "2 of 2 runbooks are invalid"
end_case

finish
