#!/usr/bin/env bash
# A `lock:` built from a secret (issue 12, item 4): the lock file's name
# and the exit-6 message show it masked, and two different secrets are
# still two different locks.
. "$(dirname "$0")/lib.sh"

# no_leak WHAT FILE... — fails when WHAT is in any of the files.
no_leak() {
    local what=$1 f
    shift
    for f in "$@"; do
        grep -qF -- "$what" "$f" && fail "$(basename "$f") holds '$what': $(grep -F -m1 -- "$what" "$f" | head -c 200)"
    done
}


cat >"$T/locksecret.yaml" <<'YAML'
# A lock named after a secret: the run holds it until $GO appears.
runbook: locksecret
lock: "db-${secrets.token}"
secrets:
  token: { env: LOCK_TOKEN }
inputs:
  dir: { type: path, required: true }
mitigation:
  steps:
    - id: hold
      uses: shell.run
      with:
        script: 'touch started; for i in $(seq 600); do [ -e go ] && exit 0; sleep 0.1; done; exit 1'
        cwd: "${inputs.dir}"
YAML

test_case "a lock named after a secret: masked in the file name and the message, and still one lock per name"
mkdir -p "$T/h1" "$T/h2"
LOCK_TOKEN=LockS3cretValue99 "$RUNE" run "$T/locksecret.yaml" --set dir="$T/h1" </dev/null \
    >"$T/first.out" 2>&1 &
first=$!
wait_file "$T/h1/started"
LOCK_TOKEN=LockS3cretValue99 run_rune run "$T/locksecret.yaml" --set dir="$T/h2"
expect_rc 6
expect_err 'lock "db-***" is held by another run'
no_leak LockS3cretValue99 "$T/out" "$T/err"
[ -e "$T/h2/started" ] && fail "the second run ran while the first held the lock"
ls "$T/locks" >"$T/locks.txt"
no_leak LockS3cretValue99 "$T/locks.txt"
no_leak S3cretVa "$T/locks.txt"
grep -q '^db-\*\*\*\.[0-9a-f]\{32\}\.lock$' "$T/locks.txt" || fail "lock file not named db-***.HASH.lock: $(cat "$T/locks.txt")"
# another secret value is another resource: not blocked by the first
touch "$T/h2/go"
LOCK_TOKEN=OtherS3cretValue77 run_rune run "$T/locksecret.yaml" --set dir="$T/h2"
expect_rc 0
expect_eq "$(ls "$T/locks" | wc -l)" "2" "lock files (one per secret value)"
touch "$T/h1/go"
wait "$first"
expect_eq "$?" "0" "the first run's exit code"
no_leak LockS3cretValue99 "$T/first.out"
sqlite3 "$RUNE_LOG" .dump >"$T/dump.sql"
no_leak LockS3cretValue99 "$T/dump.sql"
no_leak OtherS3cretValue77 "$T/dump.sql"
end_case

finish
