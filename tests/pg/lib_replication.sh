# tests/pg/lib_replication.sh — a primary that archives its WAL and
# streaming standbys cloned from it, for the physical-recovery tests.
#
# Source it after tests/cli/lib.sh and tests/pg/lib.sh. The clusters are
# tests/pg/lib.sh's own (registered with it, so the same EXIT trap and
# watchdog stop them however the test ends); this file only adds:
#
# pg_start_primary [NAME] [SETTING...] — pg_start NAME (default primary)
#     with wal_level = replica, archive_mode = on and an archive_command
#     that copies each finished segment into $T/archive-NAME (owned by the
#     cluster's user, mode 0700) under a temporary name and renames it, and
#     refuses to overwrite a segment already there (as a real
#     archive_command must). Sets PG_ARCHIVE (also `pg_archive NAME`).
# pg_start_standby NAME [FROM] [SETTING...] — a streaming standby of
#     cluster FROM (default: the current one): pg_basebackup -R -X stream
#     with a replication slot named NAME on FROM, then its own port and
#     socket directory, started and waited for until pg_stat_wal_receiver
#     says streaming. It becomes current.
# pg_wait_streaming [NAME] — waits until NAME's WAL receiver streams.
# pg_wait_replayed STANDBY [PRIMARY] — waits until STANDBY has replayed
#     everything PRIMARY (default: the one it was cloned from) has written
#     (its insert position: the clusters run with synchronous_commit off,
#     so a commit may not be written yet when the insert returns).
# pg_switch_wal [NAME] — pg_switch_wal() on NAME; prints the finished
#     segment's file name (after a write, so there is one to finish).
# pg_wait_archived SEGMENT [NAME] — waits until SEGMENT is in NAME's archive.
# pg_archive_restore_command [NAME] — a restore_command reading NAME's archive.
#
# Every wait has a deadline (60 s) and fails the case, saying what it
# waited for and what it last saw, when it passes.

: "${T:?tests/pg/lib_replication.sh must be sourced after tests/cli/lib.sh}"
declare -F pg_start >/dev/null ||
    { echo "tests/pg/lib_replication.sh: source tests/pg/lib.sh first" >&2; exit 1; }

declare -gA _PG_ARCHIVE=() _PG_UPSTREAM=()
PG_WAIT_SECONDS=${PG_WAIT_SECONDS:-60}

# _pg_sql_on NAME QUERY — a query on cluster NAME without changing which
# cluster is current.
_pg_sql_on() {
    "$_PG_BIN/psql" -X -q -A -t -h "${_PG_SOCK[$1]}" -p "${_PG_PORT[$1]}" -U postgres \
        -d postgres -c "$2"
}

# _pg_wait_for DESCRIPTION CMD... — runs CMD until it succeeds or the
# deadline passes; CMD's last output is quoted in the failure.
_pg_wait_for() {
    local what=$1 i out=""
    shift
    for ((i = 0; i < PG_WAIT_SECONDS * 10; i++)); do
        out=$("$@" 2>&1) && return 0
        sleep 0.1
    done
    _pg_fail "waited ${PG_WAIT_SECONDS}s for $what; last seen: ${out:-nothing}"
    return 1
}

pg_archive() {
    echo "${_PG_ARCHIVE[${1:-$PG_NAME}]:-}"
}

pg_start_primary() {
    local name=${1:-primary}
    [ $# -gt 0 ] && shift
    _pg_check_name "$name"
    _pg_ensure_user
    local arch="$T/archive-$name"
    mkdir -p "$arch" || _pg_abort "cannot create the WAL archive $arch"
    if [ -n "$_PG_OSUSER" ]; then
        chmod 711 "$T"
        chown "$_PG_OSUSER:" "$arch"
    fi
    chmod 700 "$arch"
    _PG_ARCHIVE[$name]=$arch
    # %p is relative to the data directory, %f a bare segment name
    pg_start "$name" "wal_level = replica" "max_wal_senders = 5" "archive_mode = on" \
        "archive_timeout = 0" \
        "archive_command = 'test ! -f $arch/%f && cp %p $arch/%f.tmp && mv $arch/%f.tmp $arch/%f'" \
        "$@"
    PG_ARCHIVE=$arch
}

pg_archive_restore_command() {
    echo "cp $(pg_archive "${1:-}")/%f %p"
}

pg_start_standby() {
    local name=$1 from=${2:-${PG_NAME:-}}
    [ $# -gt 1 ] && shift 2 || shift
    _pg_check_name "$name"
    _pg_known "$name" && _pg_abort "cluster $name already exists"
    _pg_known "$from" || _pg_abort "pg_start_standby $name: no cluster '$from' to clone"
    _pg_find_bin
    _pg_ensure_user
    local dir="$T/pg-$name" sock
    sock=$(mktemp -d /tmp/rpg.XXXXXX) || _pg_abort "cannot create a socket directory in /tmp"
    _PG_DIR[$name]=$dir
    _PG_SOCK[$name]=$sock
    _PG_PORT[$name]=""
    _PG_UPSTREAM[$name]=$from
    _PG_NAMES+=("$name")
    printf '%s\t%s\t%s\n' "$name" "$dir" "$sock" >>"$_PG_REG"
    _pg_watchdog
    mkdir -p "$dir" || _pg_abort "cannot create $dir"
    chmod 755 "$sock"
    if [ -n "$_PG_OSUSER" ]; then
        chmod 711 "$T"
        chown "$_PG_OSUSER:" "$dir" "$sock"
    fi
    if ! _pg_as_user "$_PG_BIN/pg_basebackup" -D "$dir/data" -R -X stream -C -S "$name" \
            -c fast --no-sync -h "${_PG_SOCK[$from]}" -p "${_PG_PORT[$from]}" -U postgres \
            >"$dir/basebackup.log" 2>&1; then
        cat "$dir/basebackup.log" >&2
        _pg_abort "pg_basebackup of cluster $from for standby $name failed (output above)"
    fi
    {
        echo ""
        echo "# tests/pg/lib_replication.sh: standby $name of $from"
        echo "unix_socket_directories = '$sock'"
        echo "hot_standby = on"
        local s
        for s in "$@"; do echo "$s"; done
    } >>"$dir/data/postgresql.conf"
    _pg_start_server "$name" ||
        _pg_abort "PostgreSQL standby $name did not start (server log above)"
    _pg_export "$name"
    pg_wait_streaming "$name"
}

_pg_streaming() {
    local s
    s=$(_pg_sql_on "$1" "select status from pg_stat_wal_receiver") || return 1
    echo "status '${s:-no WAL receiver}'"
    [ "$s" = streaming ]
}

pg_wait_streaming() {
    local name=${1:-$PG_NAME}
    _pg_wait_for "standby $name to stream from its primary" _pg_streaming "$name"
}

_pg_replayed() {
    local want got
    want=$(_pg_sql_on "$2" "select pg_current_wal_insert_lsn()") || return 1
    got=$(_pg_sql_on "$1" "select pg_last_wal_replay_lsn() >= '$want'::pg_lsn") || return 1
    echo "$1 replayed up to $(_pg_sql_on "$1" "select pg_last_wal_replay_lsn()"), $2 is at $want"
    [ "$got" = t ]
}

pg_wait_replayed() {
    local standby=$1 primary=${2:-${_PG_UPSTREAM[$1]:-}}
    _pg_known "$primary" || { _pg_fail "pg_wait_replayed: no primary known for $standby"; return 1; }
    _pg_wait_for "standby $standby to replay what $primary wrote" _pg_replayed "$standby" "$primary"
}

pg_switch_wal() {
    local name=${1:-$PG_NAME} seg
    seg=$(_pg_sql_on "$name" "select pg_walfile_name(pg_switch_wal())") ||
        { _pg_fail "pg_switch_wal on $name failed: $seg"; return 1; }
    echo "$seg"
}

_pg_in_archive() {
    [ -f "$2/$1" ] && return 0
    echo "$(ls "$2" 2>/dev/null | tr '\n' ' ')"
    return 1
}

pg_wait_archived() {
    local seg=$1 arch
    arch=$(pg_archive "${2:-}")
    [ -n "$arch" ] || { _pg_fail "pg_wait_archived: cluster ${2:-$PG_NAME} has no archive"; return 1; }
    _pg_wait_for "segment $seg in the archive $arch" _pg_in_archive "$seg" "$arch"
}
