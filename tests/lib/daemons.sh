# tests/lib/daemons.sh — throw-away daemons (pgBouncer, nginx) for tests.
#
# Source it AFTER tests/cli/lib.sh (and, for PostgreSQL tests, after
# tests/pg/lib.sh). A daemon started through here is registered by its pid
# file and stopped when the test exits, however it exits: the EXIT trap
# stops it (before the previous EXIT trap runs: the PostgreSQL servers'
# teardown, then the removal of $T), INT/TERM/HUP exit through that trap,
# and a detached watchdog — the idea of tests/pg/lib.sh's — stops it if the
# test shell is SIGKILLed (as ctest does on a timeout): a daemon detaches
# into its own session, so nothing else would ever stop it.
#
# When the suite runs as root, daemons run as the unprivileged user that
# tests/pg/lib.sh runs PostgreSQL as (rune-pg): pgBouncer refuses to run as
# root, and a test server has no business holding root's rights.
#
# No silent skips: a missing program or a daemon that does not start fails
# the test (exit 1) with what was attempted and the daemon's log.

: "${T:?tests/lib/daemons.sh must be sourced after tests/cli/lib.sh}"
declare -F fail >/dev/null || { echo "tests/lib/daemons.sh: source tests/cli/lib.sh first" >&2; exit 1; }

. "$RUNE_SOURCE_DIR/tests/lib/procs.sh"

if [ -z "${_SVC_LOADED:-}" ]; then
_SVC_LOADED=1
_SVC_REG="$T/.svc-daemons"    # NAME<TAB>PIDFILE, one line per started daemon
_SVC_WATCHDOG=""
_SVC_SHELL=$$
_SVC_ERRORS=0
SVC_OSUSER=""                 # the OS user daemons run as ("" = the current user)
declare -gA _SVC_PIDFILE=()

# _svc_abort MSG — a daemon the test cannot go on without.
_svc_abort() {
    _SVC_ERRORS=$((_SVC_ERRORS + 1))
    fail "$*"
    echo "tests/lib/daemons.sh: aborting the test: $*" >&2
    exit 1
}

# svc_need PROGRAM PACKAGE — aborts the test when PROGRAM is missing.
svc_need() {
    command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] ||
        _svc_abort "$1 not found: install the Debian package $2 (.ci/deps lists it)"
}

# svc_ensure_user — as root, the unprivileged user daemons run as (created
# if missing; parallel tests may race to create it).
svc_ensure_user() {
    [ "$(id -u)" = 0 ] || { SVC_OSUSER=""; return 0; }
    SVC_OSUSER=${RUNE_PG_OSUSER:-rune-pg}
    local err
    err=$(ensure_system_user "$SVC_OSUSER") ||
        _svc_abort "cannot create the system user $SVC_OSUSER to run test daemons as: $err"
}

# svc_as_user CMD... — runs CMD as the daemons' user, from /.
svc_as_user() {
    if [ -n "$SVC_OSUSER" ]; then
        (cd / && runuser -u "$SVC_OSUSER" -- "$@")
    else
        (cd / && "$@")
    fi
}

# svc_dir NAME — a fresh directory $T/NAME for a daemon's files, owned by
# the daemons' user; printed.
svc_dir() {
    local dir="$T/$1"
    mkdir -p "$dir" || _svc_abort "cannot create $dir"
    if [ -n "$SVC_OSUSER" ]; then
        chmod 711 "$T"          # mktemp made it 0700: let the user reach its dir
        chown "$SVC_OSUSER:" "$dir"
    fi
    chmod 700 "$dir"
    echo "$dir"
}

# svc_pid NAME — the pid of a registered daemon while it runs.
svc_pid() {
    local f=${_SVC_PIDFILE[$1]:-} pid=""
    [ -n "$f" ] && [ -f "$f" ] && read -r pid <"$f" 2>/dev/null
    proc_alive "$pid" && echo "$pid"
}

_svc_watchdog_main() {
    local shell=$1 reg=$2 name pidf pid i
    while proc_alive "$shell"; do sleep 1; done
    [ -f "$reg" ] || exit 0
    while IFS=$'\t' read -r name pidf; do
        pid=""
        [ -f "$pidf" ] && read -r pid <"$pidf"
        proc_alive "$pid" || continue
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do proc_alive "$pid" || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null
    done <"$reg"
    rm -f "$reg"
}

# _svc_watchdog — once per test: a detached process (own session) that
# stops every registered daemon once the test shell is gone.
_svc_watchdog() {
    [ -n "$_SVC_WATCHDOG" ] && return 0
    setsid -f bash -c "$(declare -f proc_alive _svc_watchdog_main)"'
        _svc_watchdog_main "$@"' rune-svc-watchdog "$_SVC_SHELL" "$_SVC_REG" \
        </dev/null >/dev/null 2>&1
    _SVC_WATCHDOG=1
}

# svc_register NAME PIDFILE — a daemon to stop at exit; call it BEFORE
# starting the daemon, so that no moment exists when it runs unregistered.
svc_register() {
    [ -n "${_SVC_PIDFILE[$1]:-}" ] && _svc_abort "daemon $1 is already registered"
    _SVC_PIDFILE[$1]=$2
    printf '%s\t%s\n' "$1" "$2" >>"$_SVC_REG"
    _svc_watchdog
}

# svc_stop NAME — SIGTERM, then SIGKILL if it has not gone within 10 s.
# The daemon's registration stays (it may be started again).
svc_stop() {
    local pid i
    pid=$(svc_pid "$1") || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        proc_alive "$pid" || return 0
        sleep 0.2
    done
    echo "tests/lib/daemons.sh: daemon $1 (pid $pid) ignored SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null
    for ((i = 0; i < 25; i++)); do proc_alive "$pid" || return 0; sleep 0.2; done
}

# svc_wait_ready NAME PORT LOG [SECONDS] — waits until the daemon's pid
# file names a live process and PORT accepts; false (with the log's tail on
# stderr) if the daemon died or the deadline passed.
svc_wait_ready() {
    local name=$1 port=$2 log=$3 i
    for ((i = 0; i < ${4:-20} * 10; i++)); do
        if svc_pid "$name" >/dev/null && port_listening "$port"; then
            return 0
        fi
        sleep 0.1
    done
    echo "---- $name did not come up on 127.0.0.1:$port; its log ($log):" >&2
    tail -n 20 "$log" >&2 2>/dev/null
    echo "----" >&2
    return 1
}

_svc_teardown() {
    local name
    for name in "${!_SVC_PIDFILE[@]}"; do svc_stop "$name"; done
    rm -f "$_SVC_REG"
}

# The EXIT trap: daemons first, then whatever trap was there (PostgreSQL's
# teardown, the removal of $T), with the test's exit status kept.
_svc_prev_trap() { eval "set -- $(trap -p EXIT)"; printf '%s' "${3:-}"; }
_SVC_PREV_EXIT=$(_svc_prev_trap)
_svc_on_exit() {
    local rc=$?
    _svc_teardown
    if [ "$rc" = 0 ] && [ "$_SVC_ERRORS" != 0 ]; then rc=1; fi
    (exit "$rc")
    eval "$_SVC_PREV_EXIT"
    exit "$rc"
}
trap _svc_on_exit EXIT
trap 'trap - INT;  exit 130' INT
trap 'trap - TERM; exit 143' TERM
trap 'trap - HUP;  exit 129' HUP
fi
