#!/usr/bin/env bash
# Passwords inside connection strings (issue 12, item 4): given as plain
# inputs or target fields they are masked from the moment the run starts,
# and libpq quoting a malformed URI back never shows its password.
. "$(dirname "$0")/lib.sh"

# no_leak WHAT FILE... — fails when WHAT is in any of the files.
no_leak() {
    local what=$1 f
    shift
    for f in "$@"; do
        grep -qF -- "$what" "$f" && fail "$(basename "$f") holds '$what': $(grep -F -m1 -- "$what" "$f" | head -c 200)"
    done
}

cat >"$T/dsn.yaml" <<'YAML'
# Connection strings given as plain (not secret) inputs, and a postgres
# target whose password comes from one.
runbook: dsn
inputs:
  dsn: { type: string, required: true }
  conninfo: { type: string, required: true }
  pgpass: { type: string, required: true }
  bad: { type: string, required: true }
targets:
  good: { kind: postgres, conninfo: "${inputs.dsn}", password: "${inputs.pgpass}" }
  broken: { kind: postgres, conninfo: "${inputs.bad}" }
mitigation:
  steps:
    - id: show
      uses: shell.run
      with:
        script: 'echo "dsn=$DSN conninfo=$CI pass=$PW"; echo "$DSN" >&2; exit 3'
        env: { DSN: "${inputs.dsn}", CI: "${inputs.conninfo}", PW: "${inputs.pgpass}" }
      on_failure: continue
    - id: connect
      uses: pg.query
      needs: []
      with: { target: broken, sql: "select 1" }
      on_failure: continue
    - id: note
      uses: flow.note
      needs: []
      with: { message: "using ${inputs.dsn} and ${inputs.conninfo}" }
YAML

test_case "passwords in connection strings given as plain inputs or target fields are masked from the start"
run_rune run "$T/dsn.yaml" \
    --set dsn='postgresql://app:UriPassw0rd-41@db1.example:5432/app' \
    --set conninfo="host=db1 user=app password='Kv Passw0rd\\'42' dbname=app" \
    --set pgpass=TargetPassw0rd-43 \
    --set bad='postgresql://app:MalformedUriPw-44@[db1/app'
expect_rc 0
id=$(last_incident)
inputs=$(sql "select inputs_json from incidents where id='$id'")
case "$inputs" in
*'postgresql://***@db1.example:5432/app'*) ;;
*) fail "the recorded DSN input is not masked as postgresql://***@...: $inputs" ;;
esac
case "$inputs" in
*"password='***'"*) ;;
*) fail "the recorded conninfo input does not show password='***': $inputs" ;;
esac
err=$(sql "select json_extract(detail_json,'\$.error') from events where incident_id='$id' and step='connect' and kind='step.end'")
case "$err" in
*'cannot connect to PostgreSQL'*'postgresql://***@[db1/app'*) ;;
*) fail "libpq's error does not quote the URI masked: $err" ;;
esac
expect_out 'using postgresql://app:***@db1.example:5432/app'
sqlite3 "$RUNE_LOG" .dump >"$T/dump.sql"
"$RUNE" report "$id" --format json -o "$T/report.json"
"$RUNE" log show "$id" >"$T/show.txt"
for pw in UriPassw0rd-41 "Kv Passw0rd" "Passw0rd'42" TargetPassw0rd-43 MalformedUriPw-44; do
    no_leak "$pw" "$T/out" "$T/err" "$T/dump.sql" "$T/report.json" "$T/show.txt" "$T"/reports/*
done
end_case

test_case "libpq's error about a malformed URI never quotes its password, even a short one"
cat >"$T/badpg.yaml" <<'YAML'
runbook: badpg
targets:
  db: { kind: postgres, conninfo: "postgresql://app:pw7@[db1/app" }
mitigation:
  steps:
    - { id: q, uses: pg.query, with: { target: db, sql: "select 1" } }
YAML
run_rune run "$T/badpg.yaml"
expect_rc 4
expect_out 'postgresql://***@[db1/app'
no_leak 'app:pw7' "$T/out" "$T/err"
end_case

finish
