#!/usr/bin/env bash
# Core files (issue 12, item 4): a core of rune holds every secret it
# knows, so rune never leaves one.
. "$(dirname "$0")/lib.sh"

cat >"$T/crash.yaml" <<'YAML'
# A run with a secret whose step kills rune itself with SIGABRT (a signal
# that dumps core; ASan builds handle SIGSEGV themselves).
runbook: crash
secrets:
  token: { env: CRASH_TOKEN }
mitigation:
  steps:
    - id: limits
      uses: shell.run
      with: { script: 'grep "core file size" /proc/$PPID/limits', env: { T: "${secrets.token}" } }
    - id: crash
      uses: shell.run
      with: { script: 'kill -ABRT $PPID; sleep 5' }
YAML

test_case "a run with secrets leaves no core file behind"
mkdir -p "$T/cores" && cd "$T/cores" || exit 1
(ulimit -c unlimited; CRASH_TOKEN=CoreDumpS3cret-45 "$RUNE" run "$T/crash.yaml" </dev/null >"$T/out" 2>"$T/err")
RC=$?
cd "$T" || exit 1
expect_rc 134
limits=$(out limits stdout)
case "$limits" in
"Max core file size"*" 0 "*) ;;
*) fail "rune's soft core limit is not 0: '$limits'" ;;
esac
pattern=$(cat /proc/sys/kernel/core_pattern)
case "$pattern" in
'|'*) echo "note: core_pattern pipes to a helper ($pattern): only the limit was checked" ;;
*) [ -z "$(ls -A "$T/cores")" ] || fail "a core file was written: $(ls "$T/cores")" ;;
esac
end_case

finish
