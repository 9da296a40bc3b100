#!/usr/bin/env bash
# Steps on another host (issue 19): a real sshd on a loopback port
# (tests/lib/sshd.sh: Debian's openssh-server, host and user keys made
# here, logins as the unprivileged user rune-ssh). shell.run, file.checksum,
# disk.check and service.* with host: run there, over one shared
# connection; output, exit codes, timeouts and Ctrl-C behave as locally
# and leave nothing running there; a changed or unknown host key is
# refused before anything runs; a secret in env never reaches a command
# line; the shared connection is gone when the run ends.
. "$(dirname "$0")/lib.sh"
. "$RUNE_SOURCE_DIR/tests/lib/sshd.sh"

sshd_start
R=$(sshd_dir remote)   # the "remote" host's directory, the login user's
export SSH_TEST_TOKEN=not-the-secret-here

# runbook NAME STEPS — a runbook with the ssh target db1 and STEPS (YAML
# lines under mitigation.steps), written to $T/NAME.yaml.
runbook() {
    cat >"$T/$1.yaml" <<EOF
runbook: $1
secrets:
  token: { env: SSH_TEST_TOKEN }
targets:
$(ssh_target db1)
mitigation:
  steps:
$2
EOF
}

# remote_pids PATTERN — processes of the login user whose command line
# holds PATTERN.
remote_pids() {
    pgrep -u "$SSHD_USER" -f -- "$1"
}

# gone PATTERN — true once no process of the login user matches PATTERN
# (waits up to 30 s: the kill is sent before rune exits, and sshd and the
# kernel may take a moment, on a busy host a long one, to end and reap
# what it hit; what is left running stays for hours).
gone() {
    local i
    for ((i = 0; i < 300; i++)); do
        remote_pids "$1" >/dev/null || return 0
        sleep 0.1
    done
    return 1
}


# logins — how many logins sshd accepted so far.
logins() {
    grep -c "Accepted publickey for $SSHD_USER" "$SSHD_DIR/sshd.log"
}

# no_master — no ssh process is left for a socket under the runs' work
# directories, and no socket or socket directory either. rune waits for
# the master's socket to go, and the master exits just after removing it:
# a busy host may still show it for a moment, so the processes get 20 s
# to go (a master left open would stay for its ControlPersist, 10 min).
no_master() {
    local i
    for ((i = 0; i < 200; i++)); do
        pgrep -f -- "ssh .*-p $SSHD_PORT " >/dev/null || pgrep -f -- "$T/work/" >/dev/null || break
        sleep 0.1
    done
    if pgrep -f -- "ssh .*-p $SSHD_PORT " >/dev/null; then
        fail "an ssh client to the test's server is still there: $(pgrep -af -- "ssh .*-p $SSHD_PORT ")"
    fi
    if pgrep -f -- "$T/work/" >/dev/null; then
        fail "an ssh process for the run is still there: $(pgrep -af -- "$T/work/")"
    fi
    local left
    left=$(find "$T/work" \( -type s -o -name 'ssh-*' \) 2>/dev/null)
    [ -z "$left" ] || fail "the connection's socket or directory is left: $left"
}

test_case "a runbook creates, checks and removes a file on the remote host"
runbook files "    - { id: make, uses: shell.run, with: { host: db1, argv: [sh, -c, 'printf \"hello\\\\n\" > \"\$1\"', sh, \"$R/f.txt\"] } }
    - { id: sum, uses: file.checksum, with: { host: db1, path: \"$R/f.txt\", expect: 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03 } }
    - { id: disk, uses: disk.check, with: { host: db1, path: \"$R/not/yet\", min_free_bytes: 1 } }
    - { id: remove, uses: shell.run, with: { host: db1, argv: [rm, \"$R/f.txt\"] } }
    - { id: after, uses: shell.run, with: { host: db1, argv: [test, '!', -e, \"$R/f.txt\"] } }"
before=$(logins)
run_rune run "$T/files.yaml"
expect_rc 0
expect_eq "$(out sum sha256)" 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03 "remote sha256"
expect_eq "$(out sum bytes)" 6 "remote size"
expect_eq "$(out sum matched)" 1 "matched"
expect_eq "$(out disk path)" "$R" "disk.check looked at the nearest existing directory"
[ "$(out disk free_bytes)" -gt 0 ] || fail "no free bytes reported: $(out disk free_bytes)"
[ ! -e "$R/f.txt" ] || fail "the file is still there"
# five steps, one login: the connection is shared
expect_eq "$(($(logins) - before))" 1 "logins for five remote steps"
no_master
end_case

test_case "steps over the shared connection start no ssh of their own (rune-ssh-mux); with RUNE_SSH_MUX=off, ssh runs them"
# an ssh on PATH that notes each call: rune finds ssh there
mkdir -p "$T/shim"
printf '#!/bin/sh\necho "$*" >>"%s"\nexec %s "$@"\n' "$T/ssh.calls" "$(command -v ssh)" >"$T/shim/ssh"
chmod 755 "$T/shim/ssh"
# (a remote command spans lines: each call's own line starts with an option)
calls() { grep -c -- '^-[oS] ' "$T/ssh.calls"; }
runbook muxed "$(for i in 1 2 3 4 5 6; do echo "    - { id: s$i, uses: shell.run, with: { host: db1, script: 'echo out$i; echo err$i >&2; exit $((i - 1))' }, on_failure: continue }"; done)"
rm -f "$T/ssh.calls"
PATH="$T/shim:$PATH" run_rune run "$T/muxed.yaml"
expect_rc 0
for i in 1 2 3 4 5 6; do
    expect_eq "$(out s$i stdout)" "out$i" "stdout of step $i over the mux"
    expect_eq "$(out s$i stderr)" "err$i" "stderr of step $i over the mux"
    expect_eq "$(out s$i exit_code)" "$((i - 1))" "exit code of step $i over the mux"
done
# the master's opening and its closing: no step started ssh
expect_eq "$(calls)" 2 "ssh calls for six remote steps ($(cat "$T/ssh.calls"))"
grep -q -- "-O exit" "$T/ssh.calls" || fail "the master was not closed with ssh -O exit"
no_master
# without the helper (RUNE_SSH_MUX=off, as when it is not installed): each
# step is an ssh client over the master, with the same results
rm -f "$T/ssh.calls"
PATH="$T/shim:$PATH" RUNE_SSH_MUX=off run_rune run "$T/muxed.yaml"
expect_rc 0
expect_eq "$(out s6 stdout)" "out6" "stdout over ssh"
expect_eq "$(out s6 exit_code)" 5 "exit code over ssh"
expect_eq "$(calls)" 8 "ssh calls without the helper: open, six steps, close"
no_master
end_case

test_case "a master killed mid-run: the next remote steps connect on their own, same checks"
# SIGKILL leaves the master's socket behind: rune-ssh-mux finds no one
# there and runs the ssh it was given, which logs in by itself
runbook killed "    - { id: a, uses: shell.run, with: { host: db1, script: 'echo before' } }
    - { id: k, uses: shell.run, needs: [a], with: { script: 'pkill -KILL -f -- \"$T/work/.*[C]ontrolPersist\" || exit 1; for i in $(seq 300); do pgrep -f -- \"$T/work/.*[C]ontrolPersist\" >/dev/null || exit 0; sleep 0.1; done; exit 1' } }
    - { id: b, uses: shell.run, needs: [k], with: { host: db1, script: 'echo after' } }
    - { id: c, uses: shell.run, needs: [b], with: { host: db1, script: 'echo again; exit 3' }, on_failure: continue }"
before=$(logins)
run_rune run "$T/killed.yaml"
expect_rc 0
expect_eq "$(out a stdout)" "before" "the step before the kill"
expect_eq "$(out b stdout)" "after" "the step after the kill"
expect_eq "$(out c stdout)" "again" "the next one"
expect_eq "$(out c exit_code)" 3 "its exit code"
[ "$(($(logins) - before))" -ge 2 ] || fail "no login of its own after the master died ($(($(logins) - before)) logins)"
no_master
end_case

test_case "the file was made by the login user, there (not by rune here)"
runbook owner "    - { id: make, uses: shell.run, with: { host: db1, argv: [touch, \"$R/owned\"] } }"
run_rune run "$T/owner.yaml"
expect_rc 0
expect_eq "$(stat -c %U "$R/owned" 2>/dev/null)" "$SSHD_USER" "owner of the remote file"
end_case

test_case "file.checksum of a remote file that differs fails with both digests"
printf 'other\n' >"$R/g.txt" && chown "$SSHD_USER:" "$R/g.txt"
runbook mismatch "    - { id: sum, uses: file.checksum, with: { host: db1, path: \"$R/g.txt\", expect: 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03 } }"
run_rune run "$T/mismatch.yaml"
expect_rc 4
expect_out "checksum mismatch for $R/g.txt on host db1"
end_case

test_case "shell.run on a host: exit code, stdout, stderr and stdin come back"
runbook io "    - { id: s, uses: shell.run, with: { host: db1, script: 'cat; echo out; echo err >&2; exit 7', stdin: \"from stdin\\n\", expect_exit: [7] } }
    - { id: f, uses: shell.run, on_failure: continue, with: { host: db1, script: 'echo last words >&2; exit 3' } }"
run_rune run "$T/io.yaml"
expect_rc 0
expect_eq "$(out s exit_code)" 7 "exit code"
expect_eq "$(out s stdout)" "from stdin
out" "stdout"
expect_eq "$(out s stderr)" "err" "stderr (rune's own first line taken out)"
expect_eq "$(out f exit_code)" 3 "failing exit code"
expect_out "exited with status 3 (expected 0); last output: last words"
end_case

test_case "hostile arguments arrive byte for byte"
cat >"$T/hostile.yaml" <<YAML
runbook: hostile
targets:
$(ssh_target db1)
mitigation:
  steps:
    - id: echo
      uses: shell.run
      with:
        host: db1
        argv: [printf, '%s|\n', "a'b", "\$(touch $R/pwned1)", "\`touch $R/pwned2\`", "x\ny", "a; touch $R/pwned3", '"q"', '\', ' sp ', '', '*', '-n', "\$HOME"]
YAML
run_rune run "$T/hostile.yaml"
expect_rc 0
want=$(printf '%s|\n' "a'b" "\$(touch $R/pwned1)" "\`touch $R/pwned2\`" "x
y" "a; touch $R/pwned3" '"q"' '\' ' sp ' '' '*' '-n' "\$HOME")
expect_eq "$(out echo stdout)" "$want" "the arguments as the remote program saw them"
for i in 1 2 3; do [ ! -e "$R/pwned$i" ] || fail "an argument ran a command there (pwned$i)"; done
end_case

test_case "a secret in env reaches the remote program, never a command line"
SECRET="S3cret-$RANDOM-$RANDOM-ssh"
runbook secret "    - id: s
      uses: shell.run
      with:
        host: db1
        env: { TOKEN: \"\${secrets.token}\" }
        script: 'touch $R/ready; while [ ! -e $R/go ]; do sleep 0.05; done; printf %s \"\$TOKEN\" | sha256sum'"
rm -f "$R/ready" "$R/go"
SSH_TEST_TOKEN=$SECRET "$RUNE" run "$T/secret.yaml" </dev/null >"$T/out" 2>"$T/err" &
RUNE_PID=$!
if wait_file "$R/ready"; then
    # every process's command line, here and "there" (the same machine)
    for f in /proc/[0-9]*/cmdline; do { tr "\0" " " <"$f"; } 2>/dev/null; echo; done >"$T/cmdlines"
    grep -qF -- "$SECRET" "$T/cmdlines" && fail "the secret is on a command line: $(grep -F -- "$SECRET" "$T/cmdlines")"
    grep -qF -- "while [ ! -e $R/go ]" "$T/cmdlines" || fail "the remote script is not running (the scan saw nothing)"
    # the shared connection is up while the run lasts
    pgrep -f -- "$T/work/" >/dev/null || fail "no shared connection (ControlMaster) during the run"
else
    fail "the remote step never started"
fi
touch "$R/go"
wait "$RUNE_PID"
RC=$?
OUT=1
expect_rc 0
expect_eq "$(out s stdout)" "$(printf %s "$SECRET" | sha256sum)" "sha256 of the secret as the remote program saw it"
grep -qF -- "$SECRET" "$T/out" "$T/err" && fail "the secret was printed"
no_master
end_case

test_case "a remote step past its timeout is killed there, with its process group"
runbook slow "    - { id: slow, uses: shell.run, timeout: 1s, with: { host: db1, script: 'sleep 3127 & sleep 3128; wait' } }"
run_rune run "$T/slow.yaml"
expect_rc 4
expect_out "timed out after 1s"
gone "sleep 312[78]" || fail "left running there: $(pgrep -u "$SSHD_USER" -af 'sleep 312')"
no_master
end_case

test_case "Ctrl-C during a remote step kills it there"
runbook cancel "    - { id: wait, uses: shell.run, with: { host: db1, script: 'sleep 3129' } }"
"$RUNE" run "$T/cancel.yaml" </dev/null >"$T/out" 2>"$T/err" &
RUNE_PID=$!
for ((i = 0; i < 300; i++)); do remote_pids "sleep 3129" >/dev/null && break; sleep 0.1; done
remote_pids "sleep 3129" >/dev/null || fail "the remote step never started"
kill -INT "$RUNE_PID"
wait "$RUNE_PID"
RC=$?
OUT=1
[ "$RC" != 0 ] || fail "an interrupted run exited 0"
gone "sleep 3129" || fail "left running there: $(pgrep -u "$SSHD_USER" -af 'sleep 3129')"
no_master
end_case

test_case "rune plan shows the host of each step; nothing connects"
runbook planned "    - { id: here, uses: shell.run, with: { argv: [\"true\"] } }
    - { id: there, uses: disk.check, with: { host: db1, path: /var } }"
before=$(logins)
run_rune plan "$T/planned.yaml"
expect_rc 0
expect_out "on db1 (ssh $SSHD_USER@127.0.0.1:$SSHD_PORT)"
expect_out "would check the free space on /var on host db1"
expect_eq "$(($(logins) - before))" 0 "logins during a plan"
run_rune plan --json "$T/planned.yaml"
expect_eq "$(python3 -c 'import json,sys; s=[x for st in json.load(open(sys.argv[1]))["stages"] for w in st["waves"] for x in w]; print([x.get("host",{}).get("target") for x in s])' "$T/out")" "[None, 'db1']" "host in plan --json"
end_case

test_case "rune plan --probe runs a remote read (no work directory: the socket goes to \$TMPDIR)"
mkdir -p "$T/tmp"
TMPDIR="$T/tmp" run_rune plan --probe "$T/planned.yaml"
expect_rc 0
expect_out "ran (reads)"
expect_out "on db1 (ssh $SSHD_USER@127.0.0.1:$SSHD_PORT)"
[ -z "$(ls -A "$T/tmp")" ] || fail "left in \$TMPDIR: $(ls -A "$T/tmp")"
no_master
end_case

test_case "service.* with host: controls a service there"
cat >"$T/svc.yaml" <<YAML
runbook: svc
targets:
$(ssh_target db1)
  app: { kind: service, backend: command, status: 'test -e $R/running', start: 'touch $R/running', stop: 'rm -f $R/running' }
mitigation:
  steps:
    # (wait 30s: each status check is a command over ssh, slow on a busy host)
    - { id: start, uses: service.start, with: { target: app, host: db1, wait: 30s } }
    - { id: status, uses: service.status, with: { target: app, host: db1 } }
YAML
rm -f "$R/running"
run_rune run "$T/svc.yaml"
expect_rc 0
expect_eq "$(out status running)" 1 "running after service.start"
expect_eq "$(stat -c %U "$R/running" 2>/dev/null)" "$SSHD_USER" "the start command ran there"
end_case

test_case "a host nothing listens on: the step fails saying so, nothing runs"
port=$(dead_port)   # (not pick_port: no other test's server may start there)
runbook down "    - { id: make, uses: shell.run, with: { host: db1, argv: [touch, \"$R/down\"] } }"
sed -i "s|^    port: $SSHD_PORT\$|    port: $port|" "$T/down.yaml"
run_rune run "$T/down.yaml"
expect_rc 4
expect_out "ssh $SSHD_USER@127.0.0.1:$port: could not connect (ssh exited 255"
expect_out "Connection refused"
[ ! -e "$R/down" ] || fail "the step ran"
end_case

test_case "service pg_ctl on a host: bin_dir is needed, user: belongs on the ssh target"
cat >"$T/pgctl.yaml" <<YAML
runbook: pgctl
targets:
$(ssh_target db1)
  nobin: { kind: service, backend: pg_ctl, data_dir: /var/lib/postgresql/15/main }
  asuser: { kind: service, backend: pg_ctl, data_dir: /var/lib/postgresql/15/main, bin_dir: /usr/lib/postgresql/15/bin, user: postgres }
mitigation:
  steps:
    - { id: a, uses: service.status, on_failure: continue, with: { target: nobin, host: db1 } }
    - { id: b, uses: service.status, on_failure: continue, with: { target: asuser, host: db1 } }
YAML
run_rune run "$T/pgctl.yaml"
expect_out "target \"nobin\" (backend pg_ctl) on host db1 needs data_dir and bin_dir"
expect_out "target \"asuser\": user: postgres — on host db1 pg_ctl runs as the user the ssh target logs in as"
end_case

test_case "a host key not in known_hosts is refused before anything runs"
runbook unknown "    - { id: make, uses: shell.run, with: { host: db1, argv: [touch, \"$R/unknown\"] } }"
cp "$SSH_KNOWN_HOSTS" "$T/known.saved"
: >"$SSH_KNOWN_HOSTS"
run_rune run "$T/unknown.yaml"
expect_rc 4
expect_out "REFUSED — the server's host key is not in $SSH_KNOWN_HOSTS"
[ ! -e "$R/unknown" ] || fail "the step ran anyway"
no_master
end_case

test_case "strict_host_key_checking: accept-new learns a first key"
runbook learn "    - { id: make, uses: shell.run, with: { host: db1, argv: [touch, \"$R/learned\"] } }"
sed -i "s|^  db1:|  db1:\n    strict_host_key_checking: accept-new|" "$T/learn.yaml"
run_rune run "$T/learn.yaml"
expect_rc 0
[ -e "$R/learned" ] || fail "the step did not run"
grep -qF "$(cut -d' ' -f2 "$SSHD_DIR/host_ed25519.pub")" "$SSH_KNOWN_HOSTS" || fail "the key was not learned"
cp "$T/known.saved" "$SSH_KNOWN_HOSTS"
end_case

test_case "a changed host key is refused, and no step runs"
sshd_host_key
sshd_restart
for mode in yes accept-new; do
    runbook changed "    - { id: make, uses: shell.run, with: { host: db1, argv: [touch, \"$R/changed\"] } }
    - { id: sum, uses: file.checksum, with: { host: db1, path: /etc/hostname } }"
    sed -i "s|^  db1:|  db1:\n    strict_host_key_checking: $mode|" "$T/changed.yaml"
    run_rune run "$T/changed.yaml"
    expect_rc 4
    expect_out "REFUSED — the server's host key is not the one $SSH_KNOWN_HOSTS holds for it"
    expect_out "nothing was run there"
    [ ! -e "$R/changed" ] || fail "a step ran on a host whose key changed ($mode)"
    expect_eq "$(step_status "$(last_incident)" sum)" not_run "the next step ($mode)"
done
no_master
end_case

finish
