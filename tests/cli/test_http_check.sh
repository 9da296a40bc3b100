#!/usr/bin/env bash
# http.check against a real local nginx (tests/lib/http.sh): passes and
# fails on status, body regex and JSON field; fails on a server that never
# answers, within its timeout; redirects only when asked; TLS verified
# unless insecure (loudly); secret header values masked in the console,
# the incident log and the report.
. "$(dirname "$0")/lib.sh"
. "$RUNE_SOURCE_DIR/tests/lib/http.sh"

http_start
export HTTP_TOK=$HTTP_TOKEN

# check WITH — a runbook of one http.check step `c` with WITH (YAML flow
# mapping entries), run.
check() {
    cat >"$T/check.yaml" <<EOF
runbook: http
secrets:
  tok: { env: HTTP_TOK, required: false }
mitigation:
  steps:
    - id: c
      uses: http.check
      with: { $1 }
EOF
    run_rune run "$T/check.yaml"
}
said() {
    grep -qF -- "$1" "$T/out" "$T/err" || fail "the run did not say: $1"
}
everything() {
    cat "$T/out" "$T/err"
    sqlite3 "$RUNE_LOG" .dump
    cat "$T"/reports/* 2>/dev/null
}

test_case "status, body and JSON field of a healthy endpoint"
check "url: '$HTTP_URL/ok', json_field: checks.db, json_value: up, body_regex: '\"status\":\"ok\"'"
expect_rc 0
expect_eq "$(out c status)" 200 "status"
expect_eq "$(out c json_value)" up "json_value"
expect_eq "$(out c content_type)" application/json "content_type"
expect_eq "$(out c body)" '{"status":"ok","checks":{"db":"up","cache":"up"},"version":3}' "body"
[ "$(out c elapsed_ms)" -ge 0 ] 2>/dev/null || fail "elapsed_ms: $(out c elapsed_ms)"
check "url: '$HTTP_URL/ok', json_field: version, json_value: 3"
expect_rc 0
expect_eq "$(out c json_value)" 3 "a number field"
check "url: '$HTTP_URL/degraded', expect_status: [200, 503], json_field: status"
expect_rc 0
expect_eq "$(out c json_value)" degraded "json_value of an expected 503"
check "url: '$HTTP_URL/text', body_regex: 'systems go\$'"
expect_rc 0
check "url: '$HTTP_URL/method', method: POST, body: '{}', body_regex: '^POST\$'"
expect_rc 0
end_case

test_case "a wrong status fails, quoting the body"
check "url: '$HTTP_URL/degraded'"
expect_rc 4
said "GET $HTTP_URL/degraded answered 503 (expected 200); body: {\"status\":\"degraded\""
expect_eq "$(out c status)" 503 "status output of the failed check"
end_case

test_case "a body that does not match, and JSON fields that are wrong, missing or not JSON"
check "url: '$HTTP_URL/text', body_regex: '^all is (well|fine)'"
expect_rc 4
said "GET $HTTP_URL/text: the body does not match /^all is (well|fine)/; it starts: all systems go"
check "url: '$HTTP_URL/degraded', expect_status: 503, json_field: checks.db, json_value: up"
expect_rc 4
said "field checks.db is down (expected up)"
check "url: '$HTTP_URL/ok', json_field: checks.disk"
expect_rc 4
said "the JSON body has no field checks.disk"
check "url: '$HTTP_URL/text', json_field: status"
expect_rc 4
said "the body is not JSON"
check "url: '$HTTP_URL/text', body_regex: '(unclosed'"
expect_rc 4
said "body_regex /(unclosed/ is not a POSIX extended regex"
end_case

test_case "a server that accepts and never answers fails the step within its timeout"
check "url: '$HTTP_URL/hang', timeout: 1s"
expect_rc 4
said "GET $HTTP_URL/hang: no complete answer within 1s (timeout)"
expect_eq "$(step_status "$(last_incident)" c)" failed "step status"
end_case

test_case "redirects are not followed unless asked"
check "url: '$HTTP_URL/redirect'"
expect_rc 4
said "answered 302 (expected 200)"
check "url: '$HTTP_URL/redirect', follow_redirects: true, json_field: status, json_value: ok"
expect_rc 0
expect_eq "$(out c url)" "$HTTP_URL/ok" "the URL that answered"
end_case

test_case "secret header values are sent and masked everywhere"
check "url: '$HTTP_URL/auth', headers: { Authorization: 'Bearer \${secrets.tok}' }, body_regex: '^authorized\$'"
expect_rc 0
grep -qF "auth=[Bearer $HTTP_TOKEN]" "$HTTP_DIR/access.log" || fail "the server did not get the token"
everything | grep -qF -- "$HTTP_TOKEN" && fail "the token was written somewhere"
# a failure quoting the answer still shows no token; a literal credential
# header is masked too
HTTP_TOK=wrong-$HTTP_TOKEN check "url: '$HTTP_URL/auth', headers: { Authorization: 'Bearer \${secrets.tok}' }"
expect_rc 4
said "answered 401 (expected 200); body: unauthorized"
everything | grep -qF -- "wrong-$HTTP_TOKEN" && fail "the wrong token was written somewhere"
check "url: '$HTTP_URL/ok', headers: { X-Api-Key: literal-key-4711 }, expect_status: 500"
expect_rc 4
everything | grep -qF -- "literal-key-4711" && fail "a literal X-Api-Key was written somewhere"
check "url: '$HTTP_URL/ok', headers: { 'X-Bad': \"a\\r\\nInjected: yes\" }"
expect_rc 4
said "headers: X-Bad must be a name without ':', blanks or line breaks and a one-line string value"
end_case

test_case "https: verified by default, with ca_file, or skipped loudly with insecure"
check "url: '$HTTPS_URL/text'"
expect_rc 4
said "GET $HTTPS_URL/text: the server's TLS certificate is not trusted"
said "give the CA that signed it as ca_file, or insecure: true"
check "url: '$HTTPS_URL/text', ca_file: '$HTTP_CA', body_regex: 'systems go'"
expect_rc 0
check "url: '$HTTPS_URL/text', insecure: true"
expect_rc 0
said "TLS VERIFICATION IS OFF for GET $HTTPS_URL/text (insecure: true)"
end_case

test_case "the body read is capped; other schemes are refused"
head -c 3000000 /dev/zero | tr '\0' 'x' >"$HTTP_WWW/big.txt"
check "url: '$HTTP_URL/files/big.txt', max_body: 1000, excerpt_bytes: 10, body_regex: '^x{1000}\$'"
expect_rc 0
expect_eq "$(out c body_truncated)" 1 "body_truncated"
expect_eq "$(out c body)" xxxxxxxxxx "excerpt"
check "url: 'file:///etc/passwd'"
expect_rc 4
said "GET file:///etc/passwd failed"
end_case

test_case "a method outside the list is refused before anything runs"
cat >"$T/bad.yaml" <<EOF
runbook: bad
mitigation:
  steps:
    - { id: c, uses: http.check, with: { url: "$HTTP_URL/ok", method: FETCH } }
EOF
run_rune validate "$T/bad.yaml"
expect_rc 2
said "FETCH"
end_case

finish
