#!/usr/bin/env bash
# A stored incident log (tests/golden/log.sql, made by tests/golden/make.sh
# with the rune of before the record layer was split out) still reads,
# verifies and renders exactly as it did: rune log, log show (text and
# JSON), log verify --all and every report format. Logs in the field must
# outlive any change to how rune writes them.
. "$(dirname "$0")/lib.sh"
G="$RUNE_SOURCE_DIR/tests/golden"
sqlite3 "$RUNE_LOG" <"$G/log.sql" || { echo "cannot load $G/log.sql" >&2; exit 1; }

# same NAME FILE — the output just made ($T/out) equals the stored one.
same() {
    diff -u "$G/expected/$1" "$T/out" >"$T/diff" || fail "$1 differs: $(head -30 "$T/diff")"
}

test_case "the stored log lists and verifies as it did"
run_rune log
expect_rc 0
same list.txt
run_rune log verify --all
expect_rc 0
same verify.txt
end_case

for id in $(sql "select id from incidents order by started_at, rowid"); do
    test_case "incident $id shows and reports as it did"
    run_rune log show "$id"
    expect_rc 0
    same "$id.show.txt"
    run_rune log show "$id" --json
    same "$id.show.json"
    for f in md html json; do
        run_rune report "$id" --format "$f"
        expect_rc 0
        same "$id.report.$f"
    done
    end_case
done
[ "$PASSED" -ge 5 ] || fail "the stored log holds fewer incidents than it was made with"
finish
