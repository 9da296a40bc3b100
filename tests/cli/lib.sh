# lib.sh — shared helpers for the CLI tests. Each test script sources it,
# runs the real `rune` binary ($RUNE, set by ctest) against runbooks in a
# private temp directory, and asserts on exit codes, output and the
# incident log (through the sqlite3 shell, as an operator would).
set -u

: "${RUNE:?RUNE must point at the rune binary (ctest sets it)}"
: "${RUNE_SOURCE_DIR:?RUNE_SOURCE_DIR must point at the source tree}"

T=$(mktemp -d "${TMPDIR:-/tmp}/rune-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
export RUNE_LOG="$T/incidents.db"
export RUNE_HOME="$T/home"
export NO_COLOR=1
cd "$T" || exit 1

PASSED=0
FAILED=0
CURRENT=""

# test NAME — starts a named case; results are counted per case.
test_case() {
    CURRENT=$1
    CASE_OK=1
}

fail() {
    echo "FAIL [$CURRENT]: $*" >&2
    CASE_OK=0
}

# end_case — records the current case's result.
end_case() {
    if [ "$CASE_OK" = 1 ]; then
        PASSED=$((PASSED + 1))
        echo "ok   $CURRENT"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL $CURRENT"
        if [ -n "${OUT:-}" ]; then
            echo "---- stdout" >&2; cat "$T/out" >&2
            echo "---- stderr" >&2; cat "$T/err" >&2
        fi
    fi
}

# run_rune ARGS... — runs rune with stdin from /dev/null (no terminal);
# stdout in $T/out, stderr in $T/err, exit code in $RC.
run_rune() {
    "$RUNE" "$@" </dev/null >"$T/out" 2>"$T/err"
    RC=$?
    OUT=1
}

expect_rc() {
    [ "$RC" = "$1" ] || fail "expected exit $1, got $RC"
}

expect_out() {
    grep -qF -- "$1" "$T/out" || fail "stdout lacks: $1"
}

expect_err() {
    grep -qF -- "$1" "$T/err" || fail "stderr lacks: $1"
}

expect_no() {
    if grep -qF -- "$1" "$T/out" "$T/err"; then fail "output contains: $1"; fi
}

# sql QUERY — runs a query on the incident log. It waits for a lock (30 s
# at most) instead of failing at once: a probe that opens the log just as
# a background rune closes it (its last connection checkpoints the WAL
# under an exclusive lock) would otherwise read nothing.
sql() {
    sqlite3 -batch -noheader -cmd ".timeout 30000" "$RUNE_LOG" "$1"
}

# wait_file FILE — until FILE exists (30 s at most); fails the case if not.
wait_file() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ -e "$1" ] && return 0
        sleep 0.1
    done
    fail "timed out waiting for $1"
    return 1
}

# wait_sql SQL — until the query on the log prints 1 (30 s at most).
wait_sql() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ "$(sql "$1" 2>/dev/null)" = 1 ] && return 0
        sleep 0.1
    done
    fail "timed out waiting for: $1"
    return 1
}

# last_incident — id of the newest incident.
last_incident() {
    sql "select id from incidents order by started_at desc, rowid desc limit 1"
}

# hold_lock NAME — holds rune's lock NAME (as a `lock:` names it) from
# another process until release_lock, as a concurrent run would.
hold_lock() {
    local f="$T/locks/$(printf '%s' "$1" | tr '/ \\' '___').lock"
    mkdir -p "$T/locks"; rm -f "$T/unhold"
    ( exec 9>>"$f"; flock 9
      for _ in $(seq 600); do [ -e "$T/unhold" ] && break; sleep 0.1; done ) &
    _LOCK_HOLDER=$!
    # (30 s at most: the holder is a new process, slow to start on a busy host)
    for _ in $(seq 300); do flock -n "$f" true 2>/dev/null || break; sleep 0.1; done
    flock -n "$f" true 2>/dev/null && fail "the test could not hold lock $1"
}
release_lock() {
    touch "$T/unhold"; wait "$_LOCK_HOLDER" 2>/dev/null
}

# hold_sqlite_write DB — another process in the middle of a write
# transaction on DB until release_sqlite_write (bounded: 60 s; it takes
# the lock within 30 s or the case fails). The writer
# waits on a busy lock (.timeout): the probe below takes the write lock for
# an instant, and a writer without a timeout that met it gave up and never
# held the lock (seen on a loaded CI host).
hold_sqlite_write() {
    rm -f "$T/release"
    ( printf ".timeout 30000\nBEGIN IMMEDIATE;\nINSERT INTO customers(name) VALUES ('w');\n"
      for _ in $(seq 600); do [ -e "$T/release" ] && break; sleep 0.1; done
      printf 'COMMIT;\n' ) | sqlite3 "$1" >/dev/null 2>&1 &
    _SQLITE_WRITER=$!
    for _ in $(seq 300); do sqlite_locked "$1" && return 0; sleep 0.1; done
    fail "the writer never took the write lock on $1"
}
sqlite_locked() {
    ! sqlite3 "$1" "PRAGMA busy_timeout=0; BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1
}
release_sqlite_write() {
    touch "$T/release"; wait "$_SQLITE_WRITER" 2>/dev/null
}

# out STEP KEY — a step's output (a JSON path into its outputs) in the
# last incident.
out() {
    sql "select json_extract(detail_json,'\$.outputs.$2') from events where incident_id='$(last_incident)' and step='$1' and kind='step.end'"
}

# step_status ID STEP — final status of a step (its last step.end event).
step_status() {
    sql "select coalesce((select status from events where incident_id='$1' and step='$2'
         and kind in ('step.end','step.skip') order by seq desc limit 1), 'none')"
}

expect_eq() {
    [ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
}

# attacker_setup — a second, unprivileged local user (rune-attacker) for
# tests where the point is what another user can do. Makes $T traversable
# (not listable) and creates $T/shared, a sticky world-writable directory
# like /tmp, for the attacker to plant things in. Needs root: without it
# the case fails (a hardening test must not pass by not running).
attacker_setup() {
    if [ "$(id -u)" != 0 ]; then
        fail "needs root to create the second local user rune-attacker"
        return 1
    fi
    ATTACKER=${RUNE_ATTACKER:-rune-attacker}
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        id -u "$ATTACKER" >/dev/null 2>&1 && break
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$ATTACKER" 2>/dev/null || sleep 0.5
    done
    id -u "$ATTACKER" >/dev/null 2>&1 || { fail "cannot create user $ATTACKER"; return 1; }
    chmod 0711 "$T"
    mkdir -p "$T/shared" && chmod 1777 "$T/shared"
}

# as_attacker CMD... — runs CMD as the second local user, from /.
as_attacker() {
    (cd / && runuser -u "$ATTACKER" -- "$@")
}
