# tests/lib/sshd.sh — a throw-away OpenSSH server for the ssh target's tests.
#
# Source it AFTER tests/cli/lib.sh. sshd_start starts Debian's sshd
# (openssh-server) on a loopback port nothing listens on, with host keys
# and a user key the test generates into $T, and everything the server
# reads (config, host key, authorized_keys) in $T/sshd. It runs under
# tests/lib/daemons.sh: stopped by the EXIT trap however the test ends,
# and by a watchdog if the test shell is killed.
#
# The server runs as root (sshd needs it to switch users), but logins are
# as an unprivileged test user, rune-ssh, with /bin/sh as its shell and
# password '*' (a locked '!' account may not log in at all without PAM).
# Its home is / so sshd's chdir succeeds without a home directory.
# StrictModes is off: it refuses an authorized_keys file below /tmp (a
# world-writable directory, sticky or not), and $T is there; the files
# themselves are root's and not writable by the login user.
#
# After sshd_start: SSHD_PORT, SSHD_USER, SSH_KEY (the client's private
# key), SSH_KNOWN_HOSTS (holding the server's key), SSHD_DIR.
#
# No silent skips: without sshd or root the test fails with what to do.

: "${T:?tests/lib/sshd.sh must be sourced after tests/cli/lib.sh}"
. "$RUNE_SOURCE_DIR/tests/lib/daemons.sh"

SSHD_BIN=/usr/sbin/sshd
SSHD_USER=rune-ssh
SSHD_DIR="$T/sshd"
SSH_KEY="$T/id_ed25519"
SSH_KNOWN_HOSTS="$T/known_hosts"
SSHD_PORT=""

# sshd_user — the unprivileged login user (created if missing; parallel
# tests may race to create it).
sshd_user() {
    local i err=""
    for i in 1 2 3 4 5 6 7 8 9 10; do
        id -u "$SSHD_USER" >/dev/null 2>&1 && return 0
        err=$(useradd --system --user-group --no-create-home --home-dir / \
                      --shell /bin/sh --password '*' "$SSHD_USER" 2>&1) && continue
        sleep 0.5
    done
    id -u "$SSHD_USER" >/dev/null 2>&1 || _svc_abort "cannot create the login user $SSHD_USER: $err"
}

# sshd_host_key — a new host key for the server, and known_hosts holding it.
sshd_host_key() {
    rm -f "$SSHD_DIR/host_ed25519" "$SSHD_DIR/host_ed25519.pub"
    ssh-keygen -q -t ed25519 -N '' -C rune-test-host -f "$SSHD_DIR/host_ed25519" ||
        _svc_abort "ssh-keygen could not make a host key"
}

# sshd_trust_key — known_hosts holds the server's current key (for
# 127.0.0.1 on its port, as ssh looks it up).
sshd_trust_key() {
    printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$SSHD_DIR/host_ed25519.pub")" \
        >"$SSH_KNOWN_HOSTS"
}

_sshd_config() {
    cat >"$SSHD_DIR/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/host_ed25519
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
AllowUsers $SSHD_USER
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 64
MaxStartups 64
PrintMotd no
PrintLastLog no
AcceptEnv none
LogLevel VERBOSE
EOF
}

# _sshd_launch — starts sshd on SSHD_PORT; false if it did not come up.
_sshd_launch() {
    _sshd_config
    rm -f "$SSHD_DIR/sshd.pid"
    "$SSHD_BIN" -D -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/sshd.log" </dev/null \
        >>"$SSHD_DIR/sshd.out" 2>&1 &
    svc_wait_ready sshd "$SSHD_PORT" "$SSHD_DIR/sshd.log" 20
}

# sshd_start — the server, its keys and the login user; aborts the test
# when it cannot.
sshd_start() {
    [ "$(id -u)" = 0 ] || _svc_abort "the sshd tests need root (sshd switches to the login user)"
    svc_need "$SSHD_BIN" openssh-server
    svc_need ssh openssh-client
    svc_need ssh-keygen openssh-client
    svc_need setsid util-linux
    sshd_user
    # sshd's privilege separation directory (the package makes it at boot)
    [ -d /run/sshd ] || mkdir -m 0755 -p /run/sshd
    chmod 711 "$T"   # the login user reaches its directories, lists nothing
    mkdir -p "$SSHD_DIR" && chmod 755 "$SSHD_DIR"
    sshd_host_key
    ssh-keygen -q -t ed25519 -N '' -C rune-test-user -f "$SSH_KEY" ||
        _svc_abort "ssh-keygen could not make the user key"
    install -m 0644 "$SSH_KEY.pub" "$SSHD_DIR/authorized_keys"
    svc_register sshd "$SSHD_DIR/sshd.pid"
    local try
    for try in 1 2 3 4 5; do
        SSHD_PORT=$(pick_port) || _svc_abort "no free port for sshd"
        _sshd_launch && break
        svc_stop sshd
        SSHD_PORT=""
    done
    [ -n "$SSHD_PORT" ] || _svc_abort "sshd did not start (log: $SSHD_DIR/sshd.log)"
    sshd_trust_key
}

# sshd_restart — stops the server and starts it again on the same port
# (with whatever host key $SSHD_DIR holds now).
sshd_restart() {
    svc_stop sshd
    _sshd_launch || _svc_abort "sshd did not start again on port $SSHD_PORT"
}

# sshd_dir NAME — a directory $T/NAME the login user owns (for files a
# runbook makes on the "remote" host); printed.
sshd_dir() {
    mkdir -p "$T/$1" && chown "$SSHD_USER:" "$T/$1" && chmod 700 "$T/$1"
    echo "$T/$1"
}

# ssh_target NAME [EXTRA-YAML] — a `targets:` entry for the server.
ssh_target() {
    cat <<EOF
  $1:
    kind: ssh
    host: 127.0.0.1
    port: $SSHD_PORT
    user: $SSHD_USER
    identity_file: $SSH_KEY
    known_hosts: $SSH_KNOWN_HOSTS
${2:-}
EOF
}
