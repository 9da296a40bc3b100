# tests/pg/lib_pgbouncer.sh — a real pgBouncer (Debian's pgbouncer package)
# in front of a test cluster, in transaction pooling mode.
#
# Source it after tests/cli/lib.sh and tests/pg/lib.sh; it sources
# tests/lib/daemons.sh, which stops pgBouncer however the test ends (EXIT
# trap, signals, and a detached watchdog after a SIGKILL). As root it runs
# as the cluster's unprivileged user (pgBouncer refuses to run as root).
#
# pgb_start [--db NAME]... [SETTING=VALUE...] — starts pgBouncer for the
# CURRENT cluster:
#   - listens on 127.0.0.1 only, on a free port (retried elsewhere if
#     another test binds it first); no unix socket;
#   - each --db NAME is an entry of its own in [databases], as production
#     configurations list them (pgBouncer forgets an entry the `*` fallback
#     made once its connections close — a PAUSE does close them — and a
#     new client then gets a fresh, unpaused one); every other name is
#     passed through by the `*` fallback; all over the cluster's unix
#     socket (trust there);
#   - clients log in with scram-sha-256 against an auth_file holding two
#     users with random passwords: postgres ($PGB_PASSWORD) for databases,
#     pgb_admin ($PGB_ADMIN_PASSWORD), the admin user, for the console
#     (database `pgbouncer`);
#   - pool_mode = transaction, and nothing relaxed: no
#     ignore_startup_parameters, so a client that sends what pgBouncer does
#     not support fails as it would in production.
#   Extra settings go into its [pgbouncer] section (later ones win).
# Sets PGB_PORT, PGB_DIR, PGB_LOG, PGB_INI, PGB_PASSWORD, PGB_ADMIN_USER,
# PGB_ADMIN_PASSWORD.
#
# pgb_env            — exports PGHOST/PGPORT/PGPASSWORD so that libpq (rune,
#                      psql) goes through pgBouncer; pgb_env_off goes back
#                      to the current cluster's socket.
# pgb_psql ARGS...   — psql through pgBouncer, as postgres.
# pgb_sql QUERY [DB] — unaligned, tuples-only, through pgBouncer.
# pgb_admin QUERY    — the same on the admin console (SHOW POOLS, …).
# pgb_admin_table Q — pgb_admin with the header line first.
# pgb_show_field WHAT KEY FIELD — FIELD of SHOW WHAT's row whose first
#                      column is KEY (e.g. pgb_show_field POOLS shop cl_waiting).
# pgb_paused DB      — prints SHOW DATABASES' paused flag (0/1) for DB.
# pgb_each_server DB QUERY — QUERY on every server connection of DB's pool.
# pgb_stop           — stops it (it is stopped at exit anyway).

: "${T:?tests/pg/lib_pgbouncer.sh must be sourced after tests/cli/lib.sh}"
declare -F pg_start >/dev/null ||
    { echo "tests/pg/lib_pgbouncer.sh: source tests/pg/lib.sh first" >&2; exit 1; }
. "$RUNE_SOURCE_DIR/tests/lib/daemons.sh"

PGB_BIN=${RUNE_PGBOUNCER:-/usr/sbin/pgbouncer}
PGB_ADMIN_USER=pgb_admin

_pgb_ini() {
    local db
    echo "[databases]"
    for db in "${_PGB_DBS[@]}"; do
        echo "$db = host=$PG_SOCKDIR port=$PG_PORT dbname=$db"
    done
    cat <<EOF
* = host=$PG_SOCKDIR port=$PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $1
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $PGB_DIR/users.txt
admin_users = $PGB_ADMIN_USER
pool_mode = transaction
default_pool_size = 10
max_client_conn = 100
pidfile = $PGB_DIR/pgbouncer.pid
logfile = $PGB_DIR/pgbouncer.log
EOF
    local s
    for s in "${@:2}"; do echo "$s"; done
}

pgb_start() {
    [ -n "${PGB_PORT:-}" ] && _svc_abort "pgb_start: the test's pgBouncer already runs"
    _PGB_DBS=()
    while [ "${1:-}" = --db ]; do _PGB_DBS+=("$2"); shift 2; done
    : "${PG_SOCKDIR:?pgb_start needs a current cluster (pg_start first)}"
    svc_need "$PGB_BIN" pgbouncer
    svc_ensure_user
    PGB_DIR=$(svc_dir pgbouncer)
    PGB_LOG=$PGB_DIR/pgbouncer.log
    PGB_INI=$PGB_DIR/pgbouncer.ini
    PGB_PASSWORD=pw-$RANDOM$RANDOM$RANDOM
    PGB_ADMIN_PASSWORD=adm-$RANDOM$RANDOM$RANDOM
    printf '"postgres" "%s"\n"%s" "%s"\n' "$PGB_PASSWORD" "$PGB_ADMIN_USER" \
        "$PGB_ADMIN_PASSWORD" >"$PGB_DIR/users.txt"
    chmod 600 "$PGB_DIR/users.txt"
    [ -n "$SVC_OSUSER" ] && chown "$SVC_OSUSER:" "$PGB_DIR/users.txt"
    svc_register pgbouncer "$PGB_DIR/pgbouncer.pid"
    local attempt port from
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        port=$(pick_port) || _svc_abort "no free TCP port for pgBouncer"
        _pgb_ini "$port" "$@" >"$PGB_INI"
        [ -n "$SVC_OSUSER" ] && chown "$SVC_OSUSER:" "$PGB_INI"
        from=$(( $( (wc -c <"$PGB_LOG") 2>/dev/null || echo 0) + 1 ))
        if svc_as_user "$PGB_BIN" -d -q "$PGB_INI" >"$PGB_DIR/start.out" 2>&1 &&
                svc_wait_ready pgbouncer "$port" "$PGB_LOG"; then
            PGB_PORT=$port
            return 0
        fi
        svc_stop pgbouncer
        if tail -c "+$from" "$PGB_LOG" 2>/dev/null | cat "$PGB_DIR/start.out" - |
                grep -q "Address already in use"; then
            echo "tests/pg/lib_pgbouncer.sh: port $port was taken; retrying (attempt $attempt)" >&2
            continue
        fi
        break
    done
    cat "$PGB_DIR/start.out" >&2
    _svc_abort "pgBouncer did not start (its output and log above)"
}

pgb_env() {
    export PGHOST=127.0.0.1 PGPORT=$PGB_PORT PGPASSWORD=$PGB_PASSWORD
}

pgb_env_off() {
    unset PGPASSWORD
    pg_use "$PG_NAME"
}

pgb_psql() {
    PGPASSWORD=$PGB_PASSWORD "$PG_BIN/psql" -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 \
        -p "$PGB_PORT" -U postgres "$@"
}

pgb_sql() {
    pgb_psql -A -t -d "${2:-postgres}" -c "$1"
}

pgb_admin() {
    PGPASSWORD=$PGB_ADMIN_PASSWORD "$PG_BIN/psql" -X -q -w -A -t -F '|' -h 127.0.0.1 \
        -p "$PGB_PORT" -U "$PGB_ADMIN_USER" -d pgbouncer -c "$1"
}

# pgb_admin_table QUERY — like pgb_admin, with the header line first.
pgb_admin_table() {
    PGPASSWORD=$PGB_ADMIN_PASSWORD "$PG_BIN/psql" -X -q -w -A -F '|' -P footer=off -h 127.0.0.1 \
        -p "$PGB_PORT" -U "$PGB_ADMIN_USER" -d pgbouncer -c "$1"
}

# pgb_show_field WHAT KEY-VALUE FIELD — FIELD of the row of SHOW WHAT whose
# first column is KEY-VALUE (columns found by name in the header).
pgb_show_field() {
    pgb_admin_table "SHOW $1" | awk -F'|' -v key="$2" -v want="$3" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == want) col = i; next }
        col && $1 == key { print $col }'
}

pgb_paused() {
    pgb_show_field DATABASES "$1" paused
}

# pgb_each_server DB QUERY — QUERY's result on every server connection
# pgBouncer holds for DB, one line each: as many clients as there are
# server connections each hold a transaction open at once, so each is
# given a different one (pgBouncer hands out idle server connections
# before it opens new ones). For "what did an earlier client leave behind
# in the pool".
pgb_each_server() {
    local db=$1 sql=$2 n i fd deadline
    n=$(pgb_admin_table "SHOW SERVERS" | awk -F'|' -v db="$db" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == "database") col = i; next }
        $col == db' | wc -l)
    local -a fds=() pids=()
    for ((i = 1; i <= n; i++)); do
        rm -f "$T/.pgbe.$i" "$T/.pgbe.$i.out"
        mkfifo "$T/.pgbe.$i"
        pgb_psql -A -t -d "$db" <"$T/.pgbe.$i" >"$T/.pgbe.$i.out" 2>&1 &
        pids+=($!)
        exec {fd}>"$T/.pgbe.$i"
        fds+=("$fd")
        printf 'BEGIN;\n%s;\n' "$sql" >&"$fd"
    done
    deadline=$((SECONDS + 30))
    for ((i = 1; i <= n; i++)); do
        while [ ! -s "$T/.pgbe.$i.out" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
        [ -s "$T/.pgbe.$i.out" ] || _pg_fail "pgb_each_server: client $i of $n got no answer in 30s"
    done
    for fd in "${fds[@]}"; do
        printf 'COMMIT;\n' >&"$fd"
        exec {fd}>&-
    done
    wait "${pids[@]}" 2>/dev/null
    for ((i = 1; i <= n; i++)); do cat "$T/.pgbe.$i.out"; rm -f "$T/.pgbe.$i" "$T/.pgbe.$i.out"; done
}

pgb_stop() {
    svc_stop pgbouncer
}
