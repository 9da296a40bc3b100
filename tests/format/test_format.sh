#!/usr/bin/env bash
# Formatting is not a discussion (STYLE.md §10): every C file of the engine,
# the step families and the tests is exactly as .clang-format makes it.
# Fix with: clang-format -i $(find engine steps tests -name '*.[ch]')
set -u
cd "${RUNE_SOURCE_DIR:?}" || exit 1
command -v clang-format >/dev/null || { echo "FAIL: clang-format is not installed (.ci/deps installs it)"; exit 1; }
files=$(find engine steps tests -name '*.[ch]' | sort)
n=$(printf '%s\n' "$files" | wc -l)
[ "$n" -gt 100 ] || { echo "FAIL: no sources found"; exit 1; }
log=$(mktemp "${TMPDIR:-/tmp}/rune-format.XXXXXX")
trap 'rm -f "$log"' EXIT
# shellcheck disable=SC2086
if clang-format --dry-run -Werror $files 2>"$log"; then
    echo "ok   $n files formatted as .clang-format says"
    exit 0
fi
head -40 "$log"
echo "FAIL: files not formatted as .clang-format says (see above)"
exit 1
