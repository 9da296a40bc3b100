#!/usr/bin/env bash
# Steps on another host (issue 19): 100 remote `/bin/true` steps over one
# shared ssh connection against ansible doing the same, to the same sshd.
#
#  - rune: one runbook of 100 `shell.run` steps with `host: db1` (an ssh
#    target). Its ssh master is opened by the first step and closed at
#    the end of the run: each round pays for one handshake.
#  - ansible: what a user would write — one playbook of 100 `command:
#    /bin/true` tasks on the host, gather_facts off, ssh pipelining on and
#    ControlPersist on (60s, so the master of one round may still be up at
#    the next: in ansible's favour).
#
# The server is a throw-away sshd on a loopback port with keys made for
# the bench (tests/lib/sshd.sh, the tests' harness; needs root, as the
# tests do). Both tools check the server's key against the same
# known_hosts. Rounds alternate the order; figures are medians, the ratio
# is ansible ÷ rune of the medians (goal: >= 20). Never a timed test.
#
# usage: bench/ssh.sh [RUNS]        RUNE=path picks the binary (default build/rune)
# needs: root, openssh-server, ansible-playbook (apt-get install ansible-core, or ansible)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
RUNS=${1:-5}
export RUNE=${RUNE:-$PWD/build/rune}
export RUNE_SOURCE_DIR=$PWD
[ -x "$RUNE" ] || { echo "no rune binary at $RUNE (RUNE=path)" >&2; exit 1; }
command -v ansible-playbook >/dev/null ||
    { echo "ansible-playbook is needed: apt-get install ansible-core (or ansible)" >&2; exit 1; }

# the tests' harness: $T (private, removed at exit), sshd stopped at exit
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"   # (it moves into $T)
. "$RUNE_SOURCE_DIR/tests/lib/sshd.sh"
W=$T
. "$RUNE_SOURCE_DIR/bench/lib.sh"
sshd_start
R=$(sshd_dir remote)
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=False ANSIBLE_HOST_KEY_CHECKING=True
export ANSIBLE_PIPELINING=True ANSIBLE_REMOTE_TMP="$R/.ansible-tmp" ANSIBLE_LOCAL_TEMP="$W/ansible-local"
export ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$SSH_KNOWN_HOSTS -o StrictHostKeyChecking=yes"
export ANSIBLE_SSH_CONTROL_PATH_DIR="$W/ansible-cp"

{ echo "runbook: ssh-true"; echo "targets:"; ssh_target db1; echo "mitigation:"; echo "  steps:"
  for i in $(seq 1 100); do echo "    - { id: t$i, uses: shell.run, with: { host: db1, argv: [/bin/true] } }"; done
} >"$W/true100.yaml"
cat >"$W/inventory.ini" <<EOF
db1 ansible_host=127.0.0.1 ansible_port=$SSHD_PORT ansible_user=$SSHD_USER ansible_ssh_private_key_file=$SSH_KEY ansible_python_interpreter=/usr/bin/python3
EOF
{ echo "- hosts: db1"; echo "  gather_facts: false"; echo "  tasks:"
  for i in $(seq 1 100); do echo "    - command: /bin/true"; done
} >"$W/true100.yml"

# the floor: 100 plain `ssh HOST /bin/true` over one master opened before
# (no rune, no remote wrapper): what OpenSSH's client and sshd cost per step
SSH_O="-o BatchMode=yes -o UserKnownHostsFile=$SSH_KNOWN_HOSTS -i $SSH_KEY -p $SSHD_PORT -l $SSHD_USER -S $W/floor.sock"
ssh $SSH_O -o ControlMaster=auto -o ControlPersist=10m -f -N 127.0.0.1 ||
    { echo "could not open the floor's ssh master" >&2; exit 1; }
# (closed at the end; if the bench dies first, it goes after 10 idle minutes)
ssh_floor="for i in \$(seq 100); do ssh $SSH_O -o ControlMaster=no -T 127.0.0.1 /bin/true || exit 1; done"

RUNE_Q=$(printf %q "$RUNE")
rune_true="$RUNE_Q run $W/true100.yaml --no-report -q"
ansible_true="ansible-playbook -i $W/inventory.ini $W/true100.yml"

# a first round of each, not counted: caches, the log's creation
for c in "$rune_true" "$ansible_true"; do wall_secs "$c" >/dev/null; done
grep -q "ok=100 " "$W/last.log" || { echo "ansible did not run 100 tasks:" >&2; tail "$W/last.log" >&2; exit 1; }

r=() a=() f=()
for i in $(seq "$RUNS"); do
    if [ $((i % 2)) = 1 ]; then
        r+=("$(wall_secs "$rune_true")"); a+=("$(wall_secs "$ansible_true")")
        f+=("$(wall_secs "$ssh_floor")")
    else
        f+=("$(wall_secs "$ssh_floor")")
        a+=("$(wall_secs "$ansible_true")"); r+=("$(wall_secs "$rune_true")")
    fi
done
ssh $SSH_O -O exit 127.0.0.1 >/dev/null 2>&1
logins=$(grep -c "Accepted publickey" "$SSHD_DIR/sshd.log")
mr=$(median "${r[@]}") ma=$(median "${a[@]}") mf=$(median "${f[@]}")
printf '%-52s %9s %8s\n' "what ($RUNS rounds, $(nproc) cores, one sshd on loopback)" "median s" "spread"
printf '%-52s %9s %8s\n' "rune run: 100 shell.run /bin/true on host: db1" "$mr" "$(spread "${r[@]}")"
printf '%-52s %9s %8s\n' "ansible-playbook: 100 command /bin/true over ssh" "$ma" "$(spread "${a[@]}")"
printf '%-52s %9s %8s\n' "floor: 100 × ssh HOST /bin/true over one master" "$mf" "$(spread "${f[@]}")"
echo "per remote step: rune $(awk "BEGIN{printf \"%.1f\", $mr * 10}") ms, ansible $(awk "BEGIN{printf \"%.1f\", $ma * 10}") ms"
echo "logins sshd accepted in all rounds (both tools, warm-up included): $logins"
echo "rune ÷ floor:                        $(ratio "$mr" "$mf")"
echo "ansible ÷ rune (100 remote steps):  $(ratio "$ma" "$mr")   (goal >= 20)"
