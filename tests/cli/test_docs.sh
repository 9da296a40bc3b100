#!/usr/bin/env bash
# Generated documentation is current: docs/steps.md is exactly what
# `rune steps --markdown` prints from the step tables.
. "$(dirname "$0")/lib.sh"
unset RUNE_LUA_PATH

test_case "docs/steps.md matches the step tables (regenerate: rune steps --markdown > docs/steps.md)"
(cd "$RUNE_SOURCE_DIR" && "$RUNE" steps --markdown) > "$T/steps.md"
diff -u "$RUNE_SOURCE_DIR/docs/steps.md" "$T/steps.md" > "$T/diff" || fail "docs/steps.md is stale: $(head -20 "$T/diff")"
end_case

finish
