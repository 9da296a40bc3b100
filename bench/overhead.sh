#!/usr/bin/env bash
# rune's own cost per step, against the peer tool and against itself:
#
#  1. 100 `shell.run` steps of /bin/true against ansible-playbook running
#     100 `command: /bin/true` tasks on localhost (connection: local,
#     gather_facts: false), in alternating order, RUNS rounds each: prints
#     the median of each and ansible ÷ rune (target: >= 100).
#  2. `rune plan` of a 1,000-step runbook (parse and validate included:
#     the whole command) against `rune validate` of the same file: prints
#     the median of each and plan ÷ validate (target for the plan: < 100 ms).
#
# Each rune run writes a real incident log in the bench's private directory
# (fsyncs included: group commit is part of what is measured). Never a
# timed test: timings are noisy, ratios of medians measured in the same
# run are what is kept (docs/performance.md).
#
# usage: bench/overhead.sh [RUNS]        RUNE=path picks the binary (default build/rune)
# needs: ansible-playbook (apt-get install ansible-core, or ansible)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
RUNE=${RUNE:-$PWD/build/rune}
[ -x "$RUNE" ] || { echo "no rune binary at $RUNE (RUNE=path)" >&2; exit 1; }
command -v ansible-playbook >/dev/null ||
    { echo "ansible-playbook is needed: apt-get install ansible-core (or ansible)" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/rune-bench-overhead.XXXXXX")
trap 'rm -rf "$W"' EXIT
. bench/lib.sh
export RUNE_LOG="$W/incidents.db" RUNE_HOME="$W/home" NO_COLOR=1
export ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_INVENTORY_UNPARSED_WARNING=False
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=False

{ echo "runbook: overhead-true"; echo "mitigation:"; echo "  steps:"
  for i in $(seq 1 100); do echo "    - { id: t$i, uses: shell.run, with: { argv: [/bin/true] } }"; done
} >"$W/true100.yaml"
{ echo "- hosts: localhost"; echo "  connection: local"; echo "  gather_facts: false"
  echo "  tasks:"
  for i in $(seq 1 100); do echo "    - command: /bin/true"; done
} >"$W/true100.yml"
{ echo "runbook: overhead-plan"; echo "mitigation:"; echo "  steps:"
  for i in $(seq 1 1000); do
      echo "    - { id: s$i, uses: shell.run, with: { argv: [/bin/echo, \"$i\"] } }"
  done
} >"$W/plan1000.yaml"

RUNE_Q=$(printf %q "$RUNE")
rune_true="$RUNE_Q run $W/true100.yaml --no-report -q"
ansible_true="ansible-playbook -i localhost, $W/true100.yml"
rune_plan="$RUNE_Q plan $W/plan1000.yaml --no-report -q"
rune_validate="$RUNE_Q validate -q $W/plan1000.yaml"

# a first round of each, not counted: caches, the log's creation
for c in "$rune_true" "$ansible_true" "$rune_plan" "$rune_validate"; do wall_secs "$c" >/dev/null; done

r=() a=() p=() v=()
for i in $(seq "$RUNS"); do
    if [ $((i % 2)) = 1 ]; then
        r+=("$(wall_secs "$rune_true")"); a+=("$(wall_secs "$ansible_true")")
        p+=("$(wall_secs "$rune_plan")"); v+=("$(wall_secs "$rune_validate")")
    else
        a+=("$(wall_secs "$ansible_true")"); r+=("$(wall_secs "$rune_true")")
        v+=("$(wall_secs "$rune_validate")"); p+=("$(wall_secs "$rune_plan")")
    fi
done
mr=$(median "${r[@]}") ma=$(median "${a[@]}") mp=$(median "${p[@]}") mv=$(median "${v[@]}")
printf '%-44s %9s %8s\n' "what ($RUNS rounds, $(nproc) cores)" "median s" "spread"
printf '%-44s %9s %8s\n' "rune run: 100 shell.run /bin/true" "$mr" "$(spread "${r[@]}")"
printf '%-44s %9s %8s\n' "ansible-playbook: 100 command /bin/true" "$ma" "$(spread "${a[@]}")"
printf '%-44s %9s %8s\n' "rune plan: 1,000 steps" "$mp" "$(spread "${p[@]}")"
printf '%-44s %9s %8s\n' "rune validate: the same 1,000 steps" "$mv" "$(spread "${v[@]}")"
echo "ansible ÷ rune (100 steps):  $(ratio "$ma" "$mr")   (target >= 100)"
echo "rune plan of 1,000 steps:    $(awk "BEGIN{printf \"%.0f\", $mp * 1000}") ms   (target < 100 ms)"
echo "plan ÷ validate:             $(ratio "$mp" "$mv")"
