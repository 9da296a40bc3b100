#!/usr/bin/env bash
# Secrets and truncation (issue 12, item 4): text is cut in many places —
# shell.run's capture_bytes, the 4 KiB failure tail, the 2 KiB message of
# a failing Lua step, the 1 KiB expression error — and a cut must never
# leave a piece of a secret behind. One run sweeps every cut across every
# offset of a 26-character secret; then the console, the whole incident
# log (sqlite3 .dump), `rune log show/export` (text and JSON) and every
# report format are searched for any 8 consecutive characters of it.
. "$(dirname "$0")/lib.sh"

S=Zq8hunter2SECRETVALUEx7Kp3
export SWEEP_SECRET=$S

# leaks FILE... — fails for each 8-character window of the secret found.
leaks() {
    local f i w
    for f in "$@"; do
        [ -s "$f" ] || { fail "$f is empty: nothing was checked"; continue; }
        for i in $(seq 0 $((${#S} - 8))); do
            w=${S:i:8}
            if grep -qF -- "$w" "$f"; then
                fail "$(basename "$f") holds '$w' (characters $((i + 1))-$((i + 8)) of the secret): $(grep -oF -m1 -- "$w" "$f" | head -n1)"
                break
            fi
        done
    done
}

# The runbook: one step per cut and offset, all in one stage, none
# stopping the others.
{
    echo "runbook: sweep"
    echo "secrets:"
    echo "  s: { env: SWEEP_SECRET }"
    echo "mitigation:"
    echo "  steps:"
    # capture_bytes 1..40, the secret behind 0, 1, 5 or 13 bytes of padding,
    # on stdout and stderr: the cap falls before, inside and after it
    for p in 0 1 5 13; do
        for c in $(seq 1 40); do
            echo "    - { id: cap_${p}_$c, uses: shell.run, needs: [], on_failure: continue, with: { capture_bytes: $c, env: { S: \"\${secrets.s}\" }, script: 'printf \"%${p}sx%s\" \"\" \"\$S\"; printf \"%${p}sx%s\" \"\" \"\$S\" >&2' } }"
        done
    done
    # the 4096-byte tail of a failing step starts k bytes into the secret
    # (one long line, so the console shows it whole)
    for k in $(seq 1 25); do
        echo "    - { id: tail_$k, uses: shell.run, needs: [], on_failure: continue, with: { env: { S: \"\${secrets.s}\" }, script: 'printf \"aaa%s\" \"\$S\"; head -c $((4070 + k)) /dev/zero | tr \"\\\\0\" b; exit 1' } }"
    done
    # ... and the same with the secret on stderr, the rest on stdout
    for k in 3 13 24; do
        echo "    - { id: tailerr_$k, uses: shell.run, needs: [], on_failure: continue, with: { env: { S: \"\${secrets.s}\" }, script: 'printf \"aaa%s\" \"\$S\" >&2; head -c $((4070 + k)) /dev/zero | tr \"\\\\0\" b; exit 1' } }"
    done
    # a Lua step's failure message and log lines around their 2 KiB buffers
    for n in $(seq 1990 2060); do
        echo "    - { id: luafail_$n, needs: [], on_failure: continue, lua: 'rune.log(string.rep(\"y\", $n) .. secrets.s .. \"z\"); rune.fail(string.rep(\"f\", $n) .. secrets.s .. \"z\")' }"
    done
    # a when: whose value is quoted in a 1 KiB error
    for n in $(seq 940 1010); do
        echo "    - { id: when_$n, uses: flow.note, needs: [], on_failure: continue, when: 'string.rep(\"w\", $n) .. secrets.s', with: { message: never } }"
    done
} >"$T/sweep.yaml"

test_case "no 8 characters of a secret survive any cut: console, log, log show/export, reports"
"$RUNE" run "$T/sweep.yaml" </dev/null >"$T/console.txt" 2>&1
RC=$?
expect_rc 0
id=$(last_incident)
[ -n "$id" ] || fail "no incident recorded"
expect_eq "$(sql "select count(*) from events where incident_id='$id' and kind='step.end'")" \
    "$((4 * 40 + 25 + 3 + 71 + 71))" "steps that ran"
# the cuts really fall where they should: the secret was there to be cut
expect_eq "$(out cap_1_40 stdout)" " x***" "stdout kept whole, masked"
expect_eq "$(out cap_1_40 stdout_truncated)" "0" "capture 40 keeps all of 28 bytes"
expect_eq "$(out cap_0_20 stdout_truncated)" "1" "capture 20 cuts the secret"
expect_eq "$(out cap_0_20 stdout)" "x***" "a cut secret masked at the cut"
expect_eq "$(out cap_5_10 stderr)" "     x***" "stderr, cut 4 characters into the secret"
expect_eq "$(out cap_5_9 stderr)" "     xZq8" "3 characters are too few to mask (RUNE_SECRET_MIN)"
t=$(sql "select json_extract(detail_json,'\$.tail') from events where incident_id='$id' and step='tail_2' and kind='step.end'")
expect_eq "${t:0:8}" "***bbbbb" "a tail starting 2 characters into the secret"
grep -qF 'last output:' "$T/console.txt" || fail "the console shows no failure tail"
grep -qF 'yyyyyyyy' "$T/console.txt" || fail "the Lua log lines did not reach the console"
sqlite3 "$RUNE_LOG" .dump >"$T/dump.sql"
"$RUNE" log show "$id" >"$T/show.txt" 2>&1
"$RUNE" log show "$id" --json >"$T/show.json" 2>&1
"$RUNE" log export "$id" >"$T/export.txt" 2>&1
"$RUNE" log export "$id" --json >"$T/export.json" 2>&1
"$RUNE" log >"$T/list.txt" 2>&1
for f in md html json; do
    "$RUNE" report "$id" --format "$f" -o "$T/report.$f" || fail "rune report --format $f failed"
done
leaks "$T/console.txt" "$T/dump.sql" "$T/show.txt" "$T/show.json" "$T/export.txt" \
    "$T/export.json" "$T/list.txt" "$T/report.md" "$T/report.html" "$T/report.json" \
    "$T"/reports/*
grep -qF "luafail_2000" "$T/report.md" || fail "the report does not list the failed steps"
end_case

finish
