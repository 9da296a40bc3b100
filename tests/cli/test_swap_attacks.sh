#!/usr/bin/env bash
# A path in a directory another user owns, swapped after rune checked it
# (between its input's resolution and the step that reads it): the owner
# renames a symlink, or a hard link to a root-only file, over it. rune never
# copies the root-only file into something that user can read. The swap is
# made by a step of the runbook itself, run as the other user, so the
# order is certain.
. "$(dirname "$0")/lib.sh"
SECRET=ROOT-ONLY-c4f3-SECRET

if attacker_setup; then
    mkdir -m 0700 "$T/rootonly"
    echo "$SECRET" >"$T/rootonly/notes.txt" && chmod 0644 "$T/rootonly/notes.txt"
    sqlite3 "$T/rootonly/secret.db" "CREATE TABLE s(v); INSERT INTO s VALUES ('$SECRET');"
    chmod 0600 "$T/rootonly/secret.db"
    mkdir -m 0755 "$T/adv" && chown "$ATTACKER:" "$T/adv"
    mkdir -m 0755 "$T/dest"
fi

# leaks — files the attacker can read anywhere under $T that hold $SECRET
leaks() {
    as_attacker sh -c 'grep -rlF "$0" "$1" 2>/dev/null' "$SECRET" "$T"
}

cat >"$T/copy.yaml" <<YAML
runbook: swap-copy
inputs: { src: { type: path, required: true }, dst: { type: path, required: true } }
mitigation:
  steps:
    - id: swap
      uses: shell.run
      with: { argv: [runuser, -u, $ATTACKER, --, sh, -c, 'ln -s "\$1" "\$2.l" && mv -T "\$2.l" "\$2"', sh, "$T/rootonly/notes.txt", "\${inputs.src}"] }
    - { id: copy, uses: file.copy, with: { from: "\${inputs.src}", to: "\${inputs.dst}" } }
YAML

test_case "file.copy of a file its owner swapped for a symlink to a root-only file copies nothing"
if [ -n "${ATTACKER:-}" ]; then
    as_attacker sh -c "echo ordinary > '$T/adv/report.txt'"
    run_rune run "$T/copy.yaml" --set src="$T/adv/report.txt" --set dst="$T/dest/report.txt"
    expect_rc 4
    expect_eq "$(step_status "$(last_incident)" swap)" "ok" "the attacker's swap"
    expect_out "goes through a symbolic link in a directory another user can change"
    [ ! -e "$T/dest/report.txt" ] || fail "a copy was made"
    [ -z "$(leaks)" ] || fail "the attacker can read the secret in: $(leaks)"
fi
end_case

# A hard link to a root-only file, in the attacker's directory: where
# fs.protected_hardlinks is off the attacker makes it; here the test makes
# it (as root, which the kernel always lets link) so that the case runs on
# every host, and the attacker renames it over their database.
cat >"$T/compact.yaml" <<YAML
runbook: swap-compact
inputs: { db: { type: path, required: true } }
mitigation:
  steps:
    - id: link
      uses: shell.run
      with: { argv: [ln, "$T/rootonly/secret.db", "$T/adv/.l"] }
    - id: swap
      uses: shell.run
      with: { argv: [runuser, -u, $ATTACKER, --, mv, -T, "$T/adv/.l", "\${inputs.db}"] }
    - { id: compact, uses: sqlite.compact, with: { path: "\${inputs.db}", backup: false } }
YAML

test_case "sqlite.compact of a database its owner swapped for a hard link to a root-only one reads nothing"
if [ -n "${ATTACKER:-}" ]; then
    as_attacker sqlite3 "$T/adv/app.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
    run_rune run "$T/compact.yaml" --set db="$T/adv/app.db"
    expect_rc 4
    expect_eq "$(step_status "$(last_incident)" swap)" "ok" "the attacker's swap"
    # refused before anything is read: by the hard-link check, or (as the
    # database is root's now) by the scratch-directory owner check
    grep -qE "has 2 hard links and lies in a directory another user can change|belongs to another user .* is unchanged" "$T/out" ||
        fail "compaction was not refused for the swapped-in root database"
    expect_eq "$(sqlite3 "$T/rootonly/secret.db" 'select v from s')" "$SECRET" "the root-only database"
    [ -z "$(leaks)" ] || fail "the attacker can read the secret in: $(leaks)"
fi
end_case
finish
