# tests/lib/procs.sh — processes, ports and the test user, for the test
# libraries that start servers (tests/pg/lib.sh, tests/lib/daemons.sh).
# Definitions only: sourcing it starts nothing and sets no trap.

# proc_alive PID — true while PID runs (a zombie, which an init that reaps
# lazily may keep around for a while, counts as gone).
proc_alive() {
    local stat
    [ -n "$1" ] || return 1
    kill -0 "$1" 2>/dev/null || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# port_listening PORT — true if something accepts on 127.0.0.1:PORT.
port_listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pick_port — a port nothing listens on, below the ephemeral range. Two
# tests may still pick the same port at the same moment: starters retry
# with another port when their server cannot bind.
pick_port() {
    _free_port_in 15000 16000
}

# dead_port — a port nothing listens on, for a test that needs a server
# out of reach. Not one pick_port could give: a test running in parallel
# (ctest -j) starts its servers on ports from pick_port, and one of them
# might otherwise start listening on this port while the test still
# counts on nothing answering there. (Below pick_port's range and the
# ephemeral range, where only a service of the machine could listen; one
# that does is seen here and skipped.)
dead_port() {
    _free_port_in 10000 5000
}

# _free_port_in FROM SPAN — a port in [FROM, FROM + SPAN) nothing listens on.
_free_port_in() {
    local i p
    for i in $(seq 1 200); do
        p=$(($1 + (RANDOM * 32768 + RANDOM) % $2))
        port_listening "$p" || { echo "$p"; return 0; }
    done
    return 1
}

# ensure_system_user NAME — the unprivileged system user NAME exists
# (created if missing; parallel tests may race to create it). On failure
# prints useradd's words and returns 1.
ensure_system_user() {
    local i err=""
    for i in 1 2 3 4 5 6 7 8 9 10; do
        id -u "$1" >/dev/null 2>&1 && return 0
        err=$(useradd --system --user-group --no-create-home --home-dir /nonexistent \
                      --shell /usr/sbin/nologin "$1" 2>&1) && continue
        sleep 0.5
    done
    id -u "$1" >/dev/null 2>&1 && return 0
    echo "$err"
    return 1
}
