#!/usr/bin/env bash
# kind: job — a routine job runs its stages every time (no incident_if)
# and records its severity even when a guard stops the impact stage.
. "$(dirname "$0")/lib.sh"
unset RUNE_LUA_PATH

write() {
    cat > "$T/$1.yaml" <<YAML
runbook: $1
$2
detection:
  steps:
    - { id: look, uses: flow.note, with: { message: looking } }
impact:
  steps:
    - { id: guard, uses: flow.fail, with: { message: "the source is too big to back up tonight" } }
  severity: P2
mitigation:
  steps:
    - { id: work, uses: flow.note, with: { message: working } }
YAML
}

test_case "a job's failed guard still records its severity (an incident runbook's does not)"
write nightly "kind: job"
run_rune run "$T/nightly.yaml" --no-report
expect_rc 4
expect_out "rune: nightly · job "
expect_out "severity: P2"
expect_eq "$(sql "select severity from incidents where runbook='nightly'")" "P2" "the job's severity"
expect_eq "$(sql "select count(*) from events e join incidents i on i.id=e.incident_id where i.runbook='nightly' and e.kind='severity'")" 1 "severity events"
write plain ""
run_rune run "$T/plain.yaml" --no-report
expect_rc 4
expect_eq "$(sql "select coalesce(severity, 'none') from incidents where runbook='plain'")" "none" "an incident runbook's severity after a failed impact"
end_case

test_case "a job has no incident_if (rune validate and the schema both refuse it)"
write withif "kind: job"
sed -i 's/^impact:/  incident_if: true\nimpact:/' "$T/withif.yaml"
run_rune validate "$T/withif.yaml"
expect_rc 2
expect_err "withif.yaml:6:16: error: a job (kind: job) runs its stages every time: drop incident_if"
python3 "$RUNE_SOURCE_DIR/tests/lib/runbook_schema.py" "$RUNE_SOURCE_DIR/schemas/runbook.schema.json" "$T/withif.yaml" > "$T/check" 2>&1 \
    && fail "the schema accepts incident_if in a job"
write badkind "kind: chore"
run_rune validate "$T/badkind.yaml"
expect_rc 2
expect_err "kind must be incident (the default) or job, found \"chore\""
end_case

test_case "rune new --from job writes a kind: job runbook that validates"
run_rune new nightly-backup --from job
expect_rc 0
grep -q '^kind: job' "$T/nightly-backup.yaml" || fail "no kind: job"
grep -q '^  incident_if' "$T/nightly-backup.yaml" && fail "a job template with incident_if"
run_rune validate --strict nightly-backup.yaml
expect_rc 0
end_case

finish
