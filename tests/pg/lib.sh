# tests/pg/lib.sh — real PostgreSQL 15 servers for the PostgreSQL tests.
#
# Source it AFTER tests/cli/lib.sh (which provides $T, test_case/fail/
# end_case/finish and the EXIT trap that removes $T). Each pg_start creates
# a throw-away cluster under $T (initdb, its own TCP port on 127.0.0.1, its
# own short unix socket directory), started as the unprivileged user rune-pg
# when the suite runs as root. Every cluster is stopped when the test exits,
# however it exits: normally, failed, on INT/TERM/HUP (traps), and even when
# killed with SIGKILL (a detached watchdog notices the test shell is gone).
#
# No silent skips: a server that cannot start aborts the test with exit 1.
# See tests/pg/README.md for the API.

: "${T:?tests/pg/lib.sh must be sourced after tests/cli/lib.sh}"
declare -F fail >/dev/null || { echo "tests/pg/lib.sh: source tests/cli/lib.sh first" >&2; exit 1; }

. "$RUNE_SOURCE_DIR/tests/lib/procs.sh"

PG_BINDIR_DEFAULT=/usr/lib/postgresql/15/bin
PG_MAJOR_WANTED=15

# The environment a developer's shell may carry must not redirect the
# tests to some other server.
unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGPASSWORD PGOPTIONS \
      PGSSLMODE PGREQUIRESSL PGTARGETSESSIONATTRS PGDATA PGCONNECT_TIMEOUT
export PGPASSFILE="$T/.pgpass-none"   # nor may ~/.pgpass supply passwords

declare -gA _PG_DIR=() _PG_PORT=() _PG_SOCK=()
_PG_NAMES=()             # clusters in start order (teardown order is reversed)
_PG_OSUSER=""            # the OS user servers run as ("" = the current user)
_PG_BIN=""
_PG_ERRORS=0             # setup failures; they make the test fail at exit
_PG_REG="$T/.pg-clusters" # registry for the watchdog: NAME<TAB>DIR<TAB>SOCKDIR
_PG_WATCHDOG=""
_PG_SHELL=$$

# _pg_fail MSG — a failed setup step: fails the current case and, so that a
# failure between cases is never lost, the whole test at exit.
_pg_fail() {
    _PG_ERRORS=$((_PG_ERRORS + 1))
    fail "$*"
}

# _pg_abort MSG — a failure the test cannot go on after (no server).
_pg_abort() {
    _pg_fail "$*"
    echo "tests/pg: aborting the test: $*" >&2
    exit 1
}

# _pg_as_user CMD... — runs CMD as the server's OS user, from /.
_pg_as_user() {
    if [ -n "$_PG_OSUSER" ]; then
        (cd / && runuser -u "$_PG_OSUSER" -- "$@")
    else
        (cd / && "$@")
    fi
}

_pg_find_bin() {
    [ -n "$_PG_BIN" ] && return 0
    local dir=${RUNE_PG_BINDIR:-$PG_BINDIR_DEFAULT} b
    for b in initdb pg_ctl postgres psql pg_isready; do
        if [ ! -x "$dir/$b" ]; then
            _pg_abort "PostgreSQL $PG_MAJOR_WANTED server binaries not found in $dir ($b missing); run .ci/deps"
        fi
    done
    local v
    v=$("$dir/postgres" --version 2>&1)
    case "$v" in
        *" $PG_MAJOR_WANTED."*) ;;
        *) _pg_abort "$dir/postgres is not PostgreSQL $PG_MAJOR_WANTED: $v" ;;
    esac
    _PG_BIN=$dir
}

# _pg_ensure_user — as root, servers run as the system user rune-pg
# (created if missing; parallel tests may race to create it).
_pg_ensure_user() {
    if [ "$(id -u)" != 0 ]; then
        _PG_OSUSER=""
        return 0
    fi
    _PG_OSUSER=${RUNE_PG_OSUSER:-rune-pg}
    local err
    err=$(ensure_system_user "$_PG_OSUSER") ||
        _pg_abort "cannot create the system user $_PG_OSUSER to run PostgreSQL as: $err"
}

# _pg_watchdog_main SHELL-PID REGISTRY — the watchdog's body.
_pg_watchdog_main() {
    local shell=$1 reg=$2 name dir sock pid i
    while proc_alive "$shell"; do sleep 1; done
    [ -f "$reg" ] || exit 0
    while IFS=$'\t' read -r name dir sock; do
        pid=""
        [ -f "$dir/data/postmaster.pid" ] && read -r pid <"$dir/data/postmaster.pid"
        if [ -n "$pid" ] && proc_alive "$pid"; then
            kill -QUIT "$pid" 2>/dev/null          # immediate shutdown
            for ((i = 0; i < 100; i++)); do proc_alive "$pid" || break; sleep 0.2; done
            kill -KILL "$pid" 2>/dev/null
        fi
        rm -rf "$sock" "$dir"
    done <"$reg"
    rm -f "$reg"
}

# _pg_watchdog — once per test: a detached process (its own session, not a
# child of the test shell, so a SIGKILL of the test's process tree, as ctest
# does on a timeout, misses it) that stops every registered server once the
# test shell is gone. After a normal exit the EXIT trap has already done so
# and removed the registry.
_pg_watchdog() {
    [ -n "$_PG_WATCHDOG" ] && return 0
    setsid -f bash -c "$(declare -f proc_alive _pg_watchdog_main)"'
        _pg_watchdog_main "$@"' rune-pg-watchdog "$_PG_SHELL" "$_PG_REG" \
        </dev/null >/dev/null 2>&1
    _PG_WATCHDOG=1
}

# _pg_postmaster_pid NAME — pid of a running postmaster, or nothing.
_pg_postmaster_pid() {
    local pidf="${_PG_DIR[$1]}/data/postmaster.pid" pid=""
    [ -f "$pidf" ] || return 1
    read -r pid <"$pidf" 2>/dev/null
    [ -n "$pid" ] && proc_alive "$pid" && echo "$pid"
}

# _pg_halt NAME MODE — stops a server (fast or immediate); escalates to
# immediate and then SIGKILL so that nothing is ever left running.
_pg_halt() {
    local name=$1 mode=$2 data="${_PG_DIR[$1]}/data" pid i
    pid=$(_pg_postmaster_pid "$name") || return 0
    _pg_as_user "$_PG_BIN/pg_ctl" -D "$data" -m "$mode" -w -t 60 -s stop >/dev/null 2>&1 ||
        _pg_as_user "$_PG_BIN/pg_ctl" -D "$data" -m immediate -w -t 30 -s stop >/dev/null 2>&1
    for ((i = 0; i < 50; i++)); do
        proc_alive "$pid" || return 0
        sleep 0.2
    done
    echo "tests/pg: postmaster $pid of cluster $name did not stop; killing it" >&2
    kill -KILL "$pid" 2>/dev/null
    sleep 0.5
    return 0
}

_pg_teardown() {
    local i name
    for ((i = ${#_PG_NAMES[@]} - 1; i >= 0; i--)); do
        name=${_PG_NAMES[$i]}
        _pg_halt "$name" fast
        rm -rf "${_PG_SOCK[$name]}"
    done
    rm -f "$_PG_REG"
}

# The EXIT trap: stop the servers first, then run the trap that was there
# (tests/cli/lib.sh's `rm -rf "$T"`); setup failures force a failing status.
_pg_prev_trap() { eval "set -- $(trap -p EXIT)"; printf '%s' "${3:-}"; }
_PG_PREV_EXIT=$(_pg_prev_trap)
_pg_on_exit() {
    local rc=$?
    _pg_teardown
    eval "$_PG_PREV_EXIT"
    if [ "$rc" = 0 ] && [ "$_PG_ERRORS" != 0 ]; then
        echo "tests/pg: $_PG_ERRORS PostgreSQL setup step(s) failed" >&2
        rc=1
    fi
    exit "$rc"
}
trap _pg_on_exit EXIT
trap 'trap - INT;  exit 130' INT
trap 'trap - TERM; exit 143' TERM
trap 'trap - HUP;  exit 129' HUP

# _pg_export NAME — makes NAME the current cluster.
_pg_export() {
    local name=$1
    PG_NAME=$name
    PG_DIR=${_PG_DIR[$name]}
    PG_DATA=$PG_DIR/data
    PG_LOG=$PG_DIR/server.log
    PG_PORT=${_PG_PORT[$name]}
    PG_SOCKDIR=${_PG_SOCK[$name]}
    PG_BIN=$_PG_BIN
    export PGHOST=$PG_SOCKDIR PGPORT=$PG_PORT PGUSER=postgres PGDATABASE=postgres
}

# _pg_known NAME — true if NAME is a started cluster.
_pg_known() {
    [ -n "${1:-}" ] && [ -n "${_PG_DIR[$1]:-}" ]
}

_pg_check_name() {
    case "$1" in
        ''|*[!A-Za-z0-9_-]*) _pg_abort "bad cluster name '$1' (letters, digits, _ and - only)" ;;
    esac
}

# pg_start [NAME] [SETTING=VALUE...] — creates and starts cluster NAME
# (default main), makes it current, exports its PG* environment. Extra
# settings go into its postgresql.conf. Aborts the test if it cannot start.
pg_start() {
    local name=${1:-main}
    [ $# -gt 0 ] && shift
    _pg_check_name "$name"
    _pg_known "$name" && _pg_abort "cluster $name already exists"
    _pg_find_bin
    _pg_ensure_user

    local dir="$T/pg-$name" sock
    sock=$(mktemp -d /tmp/rpg.XXXXXX) || _pg_abort "cannot create a socket directory in /tmp"
    _PG_DIR[$name]=$dir
    _PG_SOCK[$name]=$sock
    _PG_PORT[$name]=""
    _PG_NAMES+=("$name")
    printf '%s\t%s\t%s\n' "$name" "$dir" "$sock" >>"$_PG_REG"
    _pg_watchdog

    mkdir -p "$dir" || _pg_abort "cannot create $dir"
    chmod 755 "$sock"
    if [ -n "$_PG_OSUSER" ]; then
        chmod 711 "$T"             # mktemp made it 0700: let rune-pg reach its dir
        chown "$_PG_OSUSER:" "$dir" "$sock"
        _pg_as_user test -w "$dir" ||
            _pg_abort "$_PG_OSUSER cannot write $dir (is a parent directory of \$TMPDIR private?)"
    fi

    if ! _pg_as_user "$_PG_BIN/initdb" -D "$dir/data" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        _pg_abort "initdb failed for cluster $name (output above)"
    fi
    {
        echo ""
        echo "# tests/pg/lib.sh"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$sock'"
        echo "fsync = off"
        echo "full_page_writes = off"
        echo "synchronous_commit = off"
        echo "shared_buffers = 32MB"
        echo "max_connections = 50"
        echo "huge_pages = off"
        echo "logging_collector = off"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        echo "include 'rune_port.conf'"
        local s
        for s in "$@"; do echo "$s"; done
    } >>"$dir/data/postgresql.conf"
    _pg_start_server "$name" || _pg_abort "PostgreSQL cluster $name did not start (server log above)"
    _pg_export "$name"
}

# _pg_start_server NAME — starts a created cluster: picks a port, and on a
# bind failure (another test got the port first) retries with another one.
_pg_start_server() {
    local name=$1 dir="${_PG_DIR[$1]}" attempt port from first=${RUNE_PG_PORT:-}
    local log="$dir/server.log" data="$dir/data"
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        if [ -n "$first" ]; then
            port=$first first=""   # a test hook: try this port first, unprobed
        else
            port=$(pick_port) || { echo "tests/pg: no free TCP port found" >&2; return 1; }
        fi
        echo "port = $port" >"$data/rune_port.conf"
        [ -n "$_PG_OSUSER" ] && chown "$_PG_OSUSER:" "$data/rune_port.conf"
        from=$(( $( (wc -c <"$log") 2>/dev/null || echo 0) + 1 ))
        if _pg_as_user "$_PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 -s start \
                >"$dir/pg_ctl.out" 2>&1; then
            _PG_PORT[$name]=$port
            return 0
        fi
        _pg_halt "$name" immediate    # a half-started server (timeout) must not linger
        if tail -c "+$from" "$log" 2>/dev/null |
                grep -qE 'could not bind|Address already in use|could not create any TCP/IP sockets'; then
            echo "tests/pg: port $port of cluster $name was taken; retrying (attempt $attempt)" >&2
            continue
        fi
        break
    done
    echo "---- pg_ctl output (cluster $name)" >&2
    cat "$dir/pg_ctl.out" >&2
    echo "---- server log tail ($log)" >&2
    tail -n 30 "$log" >&2 2>/dev/null
    echo "----" >&2
    return 1
}

# pg_use NAME — makes an already started cluster current again.
pg_use() {
    _pg_known "${1:-}" || { _pg_fail "pg_use: no cluster '${1:-}'"; return 1; }
    _pg_export "$1"
}

# pg_stop [NAME] — fast shutdown (default: the current cluster). The data
# directory stays; pg_restart starts it again.
pg_stop() {
    local name=${1:-${PG_NAME:-}}
    _pg_known "$name" || { _pg_fail "pg_stop: no cluster '$name'"; return 1; }
    _pg_halt "$name" fast
}

# pg_crash [NAME] — immediate shutdown, as if the server had died: for
# tests that need an unreachable server.
pg_crash() {
    local name=${1:-${PG_NAME:-}}
    _pg_known "$name" || { _pg_fail "pg_crash: no cluster '$name'"; return 1; }
    _pg_halt "$name" immediate
}

# pg_restart [NAME] — (re)starts a cluster with its data; the port may change
# if another test took it meanwhile, so the cluster's environment is
# re-exported (it becomes current).
pg_restart() {
    local name=${1:-${PG_NAME:-}}
    _pg_known "$name" || { _pg_fail "pg_restart: no cluster '$name'"; return 1; }
    _pg_halt "$name" fast
    if ! RUNE_PG_PORT=${_PG_PORT[$name]} _pg_start_server "$name"; then
        _pg_fail "PostgreSQL cluster $name did not restart (server log above)"
        return 1
    fi
    _pg_export "$name"
}

# pg_running [NAME] — true if the cluster's postmaster is alive.
pg_running() {
    local name=${1:-${PG_NAME:-}}
    _pg_known "$name" && _pg_postmaster_pid "$name" >/dev/null
}

# pg_psql [ARGS...] — psql against the current cluster; stops at the first
# error; returns psql's exit code.
pg_psql() {
    "$_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

# pg_sql QUERY [DB] — unaligned, tuples-only result of QUERY.
pg_sql() {
    pg_psql -A -t -d "${2:-${PGDATABASE:-postgres}}" -c "$1"
}

# pg_createdb NAME — creates a database on the current cluster.
pg_createdb() {
    local out
    if ! out=$(pg_psql -d postgres -v db="$1" 2>&1 <<<'create database :"db";'); then
        _pg_fail "pg_createdb $1 failed: $out"
        return 1
    fi
}

# pg_load FILE [DB] [PSQL-ARGS...] — runs an SQL file (e.g. -v scale=0.01).
pg_load() {
    local file=$1 db=${2:-${PGDATABASE:-postgres}} out
    shift; [ $# -gt 0 ] && shift
    if ! out=$(pg_psql -d "$db" "$@" -f "$file" 2>&1); then
        _pg_fail "pg_load $file into $db failed: $out"
        return 1
    fi
}

# pg_add_password_role ROLE PASSWORD — a LOGIN SUPERUSER role with a
# (scram-sha-256) password, for connections over TCP (host=127.0.0.1), where
# the password is required.
pg_add_password_role() {
    local out
    if ! out=$(pg_psql -d postgres -v role="$1" -v pw="$2" 2>&1 <<'SQL'
set password_encryption = 'scram-sha-256';
create role :"role" login superuser password :'pw';
SQL
    ); then
        _pg_fail "pg_add_password_role $1 failed: $out"
        return 1
    fi
}

# pg_tcp_conninfo [USER] [DB] — a libpq conninfo for TCP to the current
# cluster (no password in it).
pg_tcp_conninfo() {
    echo "host=127.0.0.1 port=$PG_PORT user=${1:-postgres} dbname=${2:-postgres}"
}
