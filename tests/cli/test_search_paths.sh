#!/usr/bin/env bash
# Where rune finds its bundled runbooks and Lua step types: a build-tree
# binary uses its source tree from any directory; an installed binary uses
# the share directory beside it, wherever its prefix was moved; the same
# Lua file reached through two paths is loaded once.
. "$(dirname "$0")/lib.sh"
unset RUNE_PATH RUNE_LUA_PATH
mkdir -p "$T/elsewhere"; cd "$T/elsewhere" || exit 1

test_case "a build-tree binary finds its source runbooks and Lua step types from any directory"
run_rune validate sqlite-drill
expect_rc 0
expect_out "$RUNE_SOURCE_DIR/runbooks/sqlite-drill.yaml: ok"
run_rune validate lua-glue
expect_rc 0
run_rune list
expect_out "$RUNE_SOURCE_DIR/runbooks/pg-restore.yaml"
end_case

test_case "an installed binary finds the runbooks and Lua files under its own prefix, moved or not"
build=$(dirname "$RUNE")
cmake --install "$build" --prefix "$T/prefix" >"$T/install.log" 2>&1 || fail "install: $(tail -5 "$T/install.log")"
mv "$T/prefix" "$T/moved"
# nothing of the source tree or the configured prefix may be used
"$T/moved/bin/rune" list </dev/null >"$T/out" 2>"$T/err"; RC=$?; OUT=1
expect_rc 0
expect_out "$T/moved/share/rune/runbooks/sqlite-drill.yaml"
expect_no "$RUNE_SOURCE_DIR"
"$T/moved/bin/rune" validate lua-glue </dev/null >"$T/out" 2>"$T/err"; RC=$?
expect_rc 0
expect_out "$T/moved/share/rune/runbooks/examples/lua-glue.yaml: ok"
"$T/moved/bin/rune" steps files.newest </dev/null >"$T/out" 2>"$T/err"; RC=$?
expect_rc 0
expect_out "files.newest"
end_case

test_case "the same Lua file reached through two search paths is loaded once"
ln -s "$RUNE_SOURCE_DIR/lua/steps" "$T/linked-steps"
RUNE_LUA_PATH="$RUNE_SOURCE_DIR/lua/steps:$T/linked-steps:$RUNE_SOURCE_DIR/lua/../lua/steps" \
    run_rune validate lua-glue
expect_rc 0
expect_no "already taken"
end_case
finish
