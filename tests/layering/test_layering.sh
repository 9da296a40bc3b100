#!/usr/bin/env bash
# The layering rule, checked by the compiler: a file compiled as a step
# family is (with the include directories the build gives steps/) sees
# step.h but not an engine-private header such as runstate.h.
#   test_layering.sh CC DIR...   (DIR: the steps' include directories)
set -u
cc=$1; shift
flags=()
for d in "$@"; do flags+=("-I$d"); done
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp "${TMPDIR:-/tmp}/rune-layering.XXXXXX")
trap 'rm -f "$out"' EXIT
rc=0
if ! "$cc" -fsyntax-only "${flags[@]}" "$here/step_sees_api.c" 2>"$out"; then
    echo "FAIL: a step family cannot see step.h and steps/: $(cat "$out")"; rc=1
else
    echo "ok   a step family sees step.h and steps/"
fi
if "$cc" -fsyntax-only "${flags[@]}" "$here/step_sees_engine.c" 2>"$out"; then
    echo "FAIL: a step family that includes runstate.h builds"; rc=1
elif grep -q "runstate.h" "$out"; then
    echo "ok   a step family that includes runstate.h does not build"
else
    echo "FAIL: it failed, but not on runstate.h: $(cat "$out")"; rc=1
fi
exit $rc
