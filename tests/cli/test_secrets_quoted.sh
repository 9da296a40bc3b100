#!/usr/bin/env bash
# A secret with a quote in it, shown inside a shell-quoted command (plans
# and logged commands quote each argument: ' becomes '\''), and passwords
# in connection-string forms rune did not know: none shows 8 consecutive
# characters anywhere (console, incident log, reports).
. "$(dirname "$0")/lib.sh"

# leaks SECRET FILE... — an 8-character window of SECRET found in FILEs
leaks() {
    local s=$1 i; shift
    for ((i = 0; i + 8 <= ${#s}; i++)); do
        grep -qF -- "${s:i:8}" "$@" 2>/dev/null && { echo "${s:i:8}"; return 0; }
    done
    return 1
}

# everything ID — console, log dump and reports of incident ID in $T/all
everything() {
    cat "$T/out" "$T/err" >"$T/all"
    sqlite3 "$RUNE_LOG" .dump >>"$T/all"
    for f in md html json; do "$RUNE" report "$1" --format "$f" >>"$T/all" 2>&1; done
}

cat >"$T/q.yaml" <<'YAML'
runbook: quoted-secret
secrets: { tok: { env: QTOKEN } }
inputs: { d: { type: string, required: true } }
mitigation:
  steps:
    - { id: s, uses: shell.run, with: { argv: [sh, -c, 'echo "$1"', sh, "${secrets.tok}"] } }
    - { id: e, uses: shell.run, with: { argv: [sh, -c, 'echo "$1"', sh, "${inputs.d}"] } }
YAML
TOK="ab'cdefghijklmnop'qr"

test_case "a secret with quotes is masked in a plan's shell-quoted command"
QTOKEN=$TOK run_rune plan "$T/q.yaml" --set d=x
expect_rc 0
everything "$(last_incident)"
w=$(leaks "$TOK" "$T/all") && fail "the plan shows \"$w\" of the secret"
end_case

for d in "host=h sslpassword=BBBBccccDDDDeeee2" "postgresql://h/db?sslpassword=BBBBccccDDDDeeee2" \
         'host=h password="KKKKllllMMMMnnnn"' 'host=h password=ab"cdefghijklmnop'; do
    test_case "a password in '$d' is masked from the start of the run"
    QTOKEN=$TOK run_rune run "$T/q.yaml" --set d="$d"
    expect_rc 0
    everything "$(last_incident)"
    pw=${d##*password=}; pw=${pw//\"/}
    w=$(leaks "$pw" "$T/all") && fail "\"$w\" of the password shows"
    w=$(leaks "$TOK" "$T/all") && fail "\"$w\" of the secret shows"
    end_case
done
finish
