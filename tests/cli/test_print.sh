#!/usr/bin/env bash
# print: on a step shows chosen outputs on the console when it ends, and
# records them (a log event); misspelt names are warned about.
. "$(dirname "$0")/lib.sh"
unset RUNE_LUA_PATH

cat > "$T/alert.yaml" <<'YAML'
runbook: alert
kind: job
detection:
  steps:
    - id: disk
      uses: shell.run
      print: stdout
      with: { script: 'echo "/srv is 93% full"' }
    - id: both
      uses: shell.run
      print: [exit_code, stdout]
      with: { script: 'printf "line one\n"; exit 3', expect_exit: [3] }
    - id: quiet
      uses: shell.run
      with: { script: 'echo not shown' }
YAML

test_case "print: shows the outputs under the step and records them"
run_rune run "$T/alert.yaml" --no-report
expect_rc 0
expect_out "disk: stdout: /srv is 93% full"
expect_out "both: exit_code: 3"
expect_out "both: stdout: line one"
expect_no "not shown"
expect_eq "$(sql "select count(*) from events where kind='log' and step='disk' and detail_json like '%93\% full%' escape '\\'")" 1 "recorded"
end_case

test_case "print: of an output the type does not have is warned about; a non-name is an error"
sed 's/print: stdout/print: stdot/' "$T/alert.yaml" > "$T/typo.yaml"
run_rune validate --strict "$T/typo.yaml"
expect_rc 2
expect_err "$T/typo.yaml:7:14: warning: steps.disk.outputs.stdot: shell.run has no output \"stdot\" (did you mean \"stdout\"?)"
sed 's/print: stdout/print: { a: b }/' "$T/alert.yaml" > "$T/bad.yaml"
run_rune validate "$T/bad.yaml"
expect_rc 2
expect_err "print must name an output of the step"
end_case

finish
