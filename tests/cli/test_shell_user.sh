#!/usr/bin/env bash
# shell.run's user: runs the program as that user (ids and groups), with a
# clean environment (the user's HOME/USER/SHELL, a standard PATH, the
# locale, then the step's env — none of rune's own variables); refused when
# rune is not root and the user is another; an unknown user is an error.
# Needs root (a second local user): without it the cases fail, never skip.
. "$(dirname "$0")/lib.sh"

attacker_setup || { end_case; finish; exit 1; }
export RUNE_TEST_SECRET_VAR="must-not-reach-the-child-$RANDOM"
export LANG=C.UTF-8

# run_as WITH — one shell.run step `s` with WITH (YAML flow entries), run.
run_as() {
    cat >"$T/user.yaml" <<EOF
runbook: user
mitigation:
  steps:
    - id: s
      uses: shell.run
      with: { $1 }
EOF
    run_rune run "$T/user.yaml"
}
said() {
    grep -qF -- "$1" "$T/out" "$T/err" || fail "the run did not say: $1"
}

test_case "user: runs the program as that user, with its groups"
run_as "argv: [id], user: $ATTACKER"
expect_rc 0
expect_eq "$(out s stdout)" "$(id "$ATTACKER")" "id as $ATTACKER"
end_case

test_case "user: the child's environment is the user's, the locale, and the step's env"
run_as "script: 'echo \"\$HOME|\$USER|\$LOGNAME|\$PATH|\$LANG|\$\${RUNE_LOG-unset}|\$\${RUNE_TEST_SECRET_VAR-unset}|\$STEP_VAR\"', user: $ATTACKER, env: { STEP_VAR: given }"
expect_rc 0
expect_eq "$(out s stdout)" "/nonexistent|$ATTACKER|$ATTACKER|/usr/local/bin:/usr/bin:/bin|C.UTF-8|unset|unset|given" \
    "the child's environment"
grep -qF -- "$RUNE_TEST_SECRET_VAR" <(sqlite3 "$RUNE_LOG" .dump; cat "$T/out" "$T/err") &&
    fail "rune's own variable reached the child"
# no value of rune's environment is on a command line (other users read those)
run_as "argv: [sh, -c, 'cat /proc/\$PPID/cmdline /proc/\$\$/cmdline | tr \"\\\\0\" \" \"'], user: $ATTACKER"
expect_rc 0
case "$(out s stdout)" in *"$RUNE_TEST_SECRET_VAR"*) fail "a value on the command line" ;; esac
end_case

test_case "user: root's own runs keep root, with the clean environment"
run_as "script: 'id -u; echo \$\${RUNE_TEST_SECRET_VAR-unset}', user: root"
expect_rc 0
expect_eq "$(out s stdout)" "0
unset" "root with user: root"
end_case

test_case "user: an unknown user is an error naming it"
run_as "argv: [id], user: no-such-user-4711"
expect_rc 4
said "user: no-such-user-4711 is not a user on this host"
end_case

test_case "user: refused when rune is not root and the user is another"
mkdir -p "$T/att"
chown "$ATTACKER:" "$T/att"
# a copy the other user can run wherever the build lies (a clone under
# /root is private); this runbook needs nothing from the source tree
RUNE_COPY="$T/rune-copy"
install -m 0755 "$RUNE" "$RUNE_COPY"
cat >"$T/att/user.yaml" <<EOF
runbook: user
mitigation:
  steps:
    - { id: s, uses: shell.run, with: { argv: [id], user: root } }
EOF
chmod 644 "$T/att/user.yaml"
as_attacker env RUNE_LOG="$T/att/incidents.db" RUNE_HOME="$T/att/home" NO_COLOR=1 \
    "$RUNE_COPY" run "$T/att/user.yaml" </dev/null >"$T/out" 2>"$T/err"
RC=$?
OUT=1
expect_rc 4
said "user: root — rune runs as $ATTACKER"
said "not root, so it cannot run a program as another user"
# its own user is fine
sed -i "s/user: root/user: $ATTACKER/" "$T/att/user.yaml"
as_attacker env RUNE_LOG="$T/att/incidents.db" RUNE_HOME="$T/att/home" NO_COLOR=1 \
    "$RUNE_COPY" run "$T/att/user.yaml" </dev/null >"$T/out" 2>"$T/err"
RC=$?
expect_rc 0
end_case

test_case "user: the plan names the user, not the wrappers"
cat >"$T/user.yaml" <<EOF
runbook: user
mitigation:
  steps:
    - { id: s, uses: shell.run, with: { argv: [id], user: root } }
EOF
run_rune plan "$T/user.yaml"
expect_rc 0
expect_out "(as user root, with a clean environment)"
expect_no "setpriv"
end_case

finish
