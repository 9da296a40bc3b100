#!/usr/bin/env bash
# .ci/deps waits for the package lock another install holds, up to a bound,
# saying so, instead of failing at once with "Could not get lock". The lock
# is a POSIX lock on a private file standing in for dpkg's lock-frontend.
. "$(dirname "$0")/lib.sh"
DEPS="$RUNE_SOURCE_DIR/.ci/deps"

# hold_posix_lock FILE SECONDS-MAX — holds an fcntl lock (as apt and dpkg
# take theirs) until $T/release appears; waits until it is held.
hold_posix_lock() {
    rm -f "$T/release" "$T/held"
    python3 - "$1" "$T" <<'PY' &
import fcntl, os, sys, time
f = open(sys.argv[1], "w")
fcntl.lockf(f, fcntl.LOCK_EX)
open(os.path.join(sys.argv[2], "held"), "w").close()
for _ in range(600):
    if os.path.exists(os.path.join(sys.argv[2], "release")):
        break
    time.sleep(0.1)
PY
    HOLDER=$!
    for _ in $(seq 300); do [ -e "$T/held" ] && return 0; sleep 0.1; done # 30 s at most
    fail "could not hold the test lock"
}

test_case "waits for the lock, then goes on"
touch "$T/lock-frontend"
hold_posix_lock "$T/lock-frontend"
RUNE_DEPS_LOCK_FILES="$T/lock-frontend" RUNE_DEPS_LOCK_TIMEOUT=120 \
    bash "$DEPS" --wait-lock >"$T/out" 2>"$T/err" &
DEPS_PID=$!
# it is waiting, and says so, while the lock is held (30 s at most for it
# to start and look, on a busy host)
for _ in $(seq 300); do grep -q "holds the lock" "$T/err" && break; sleep 0.1; done
expect_err "another package install (pid $HOLDER) holds the lock; waiting up to 120s"
kill -0 "$DEPS_PID" 2>/dev/null || fail ".ci/deps did not wait for the lock"
touch "$T/release"; wait "$HOLDER"
wait "$DEPS_PID"; RC=$?; OUT=1
expect_rc 0
end_case

test_case "gives up after its bound with a message naming the holder"
hold_posix_lock "$T/lock-frontend"
RUNE_DEPS_LOCK_FILES="$T/lock-frontend" RUNE_DEPS_LOCK_TIMEOUT=1 \
    bash "$DEPS" --wait-lock >"$T/out" 2>"$T/err"
RC=$?; OUT=1
touch "$T/release"; wait "$HOLDER"
expect_rc 1
expect_err "the package lock is still held by pid $HOLDER"
expect_err "raise RUNE_DEPS_LOCK_TIMEOUT"
end_case

test_case "no lock held: no wait"
RUNE_DEPS_LOCK_FILES="$T/lock-frontend" RUNE_DEPS_LOCK_TIMEOUT=0 \
    bash "$DEPS" --wait-lock >"$T/out" 2>"$T/err"
RC=$?; OUT=1
expect_rc 0
expect_no "waiting"
end_case
finish
