#!/usr/bin/env bash
# file.* steps against a second local user (issue 12: "file.* and the
# backup primitives create files with O_EXCL|O_NOFOLLOW, in private temp
# names, with modes no wider than their source"). The attacker plants
# symlinks and files where rune writes, in a shared sticky directory; rune
# never writes through them, never gives another user's file a set-id bit,
# never follows a link another user planted to reach a directory, refuses a
# directory any user can write without the sticky bit, and nothing it
# writes lets the attacker read a 0600 source.
. "$(dirname "$0")/lib.sh"
# The cases' paths become plain strings, as a runbook computing them would
# pass them: the primitives' own defences are what is tested. (A `path`
# input is checked and made canonical before any step runs: test_inputs.sh.)
C="$T/cases"
mkdir -p "$C"
for f in "$RUNE_SOURCE_DIR"/tests/cli/cases/files/*.yaml; do
    sed 's/type: path/type: string/g' "$f" >"$C/$(basename "$f")"
done
export RUNE_TEST_KEY="correct horse battery staple"

SECRET=TOPSECRET-c0ffee

# leaks DIR — files under DIR the attacker can read that hold $SECRET.
leaks() {
    as_attacker sh -c 'grep -rlF "$0" "$1" 2>/dev/null' "$SECRET" "$1"
}

cat >"$T/enc.yaml" <<'YAML'
runbook: enc
secrets:
  key: { env: RUNE_TEST_KEY }
inputs:
  src: { type: string, required: true }
  to: { type: string, required: true }
  overwrite: { type: bool, default: false }
mitigation:
  steps:
    - id: seal
      uses: file.encrypt
      on_failure: abort
      with: { path: "${inputs.src}", to: "${inputs.to}", key: "${secrets.key}", overwrite: "${inputs.overwrite}" }
YAML

if attacker_setup; then
    # a root-only source, and a root-only victim the attacker would like
    # rune to overwrite
    { for i in $(seq 2000); do echo "$SECRET line $i"; done; } >"$T/secret.txt"
    chmod 0600 "$T/secret.txt"
    echo ORIGINAL >"$T/victim" && chmod 0600 "$T/victim"
    mkdir -p "$T/rootdir" && chmod 0700 "$T/rootdir"
fi

test_case "outputs at names where another user planted a symlink: refused, or the link replaced; never written through"
if [ -n "${ATTACKER:-}" ]; then
    for f in cp.out gz.out gz.out.manifest.json enc.out plain.out; do
        as_attacker ln -sf "$T/victim" "$T/shared/$f"
    done
    run_rune run "$C/copy.yaml" --set from="$T/secret.txt" --set to="$T/shared/cp.out"
    expect_rc 4
    expect_out "already exists"
    run_rune run "$C/compress.yaml" --set src="$T/secret.txt" --set to="$T/shared/gz.out"
    expect_rc 4
    expect_out "already exists"
    run_rune run "$T/enc.yaml" --set src="$T/secret.txt" --set to="$T/shared/enc.out"
    expect_rc 4
    expect_out "already exists"
    expect_eq "$(cat "$T/victim")" "ORIGINAL" "the file behind the links"
    # overwrite: true replaces the link itself, as rename(2) does
    run_rune run "$C/copy.yaml" --set from="$T/secret.txt" --set to="$T/shared/cp.out" --set overwrite=true
    expect_rc 0
    run_rune run "$T/enc.yaml" --set src="$T/secret.txt" --set to="$T/shared/enc.out" --set overwrite=true
    expect_rc 0
    run_rune run "$C/compress.yaml" --set src="$T/secret.txt" --set to="$T/secret.gz"
    expect_rc 0
    run_rune run "$C/decompress.yaml" --set path="$T/secret.gz" --set to="$T/shared/plain.out" --set overwrite=true
    expect_rc 0
    expect_eq "$(cat "$T/victim")" "ORIGINAL" "the file behind the links"
    for f in cp.out enc.out plain.out; do
        [ -L "$T/shared/$f" ] && fail "$f is still the attacker's link"
        expect_eq "$(stat -c '%U %a' "$T/shared/$f")" "root 600" "owner and mode of $f (its source is 0600)"
    done
    [ -z "$(leaks "$T/shared")" ] || fail "the attacker read the 0600 source through: $(leaks "$T/shared")"
    expect_eq "$(find "$T/shared" -maxdepth 1 -name '.*partial-*' | wc -l)" "0" "temp files left behind"
fi
end_case

test_case "a copy of another user's set-uid file is never a set-uid file of root's"
if [ -n "${ATTACKER:-}" ]; then
    as_attacker sh -c 'printf "#!/bin/sh\nid\n" >"$0" && chmod 6755 "$0"' "$T/shared/tool"
    expect_eq "$(stat -c '%a' "$T/shared/tool")" "6755" "the attacker's file"
    run_rune run "$C/copy.yaml" --set from="$T/shared/tool" --set to="$T/rootdir/tool"
    expect_rc 0
    expect_eq "$(stat -c '%U %a' "$T/rootdir/tool")" "root 755" "owner and mode of the copy"
    run_rune run "$C/compress.yaml" --set src="$T/shared/tool" --set to="$T/rootdir/tool.gz"
    expect_rc 0
    run_rune run "$C/decompress.yaml" --set path="$T/rootdir/tool.gz" --set to="$T/rootdir/tool2"
    expect_rc 0
    expect_eq "$(stat -c '%a' "$T/rootdir/tool2")" "600" "mode of the decompressed copy"
fi
end_case

test_case "file.copy does not follow a symlink another user planted in a shared directory to reach a directory"
if [ -n "${ATTACKER:-}" ]; then
    as_attacker ln -s "$T/rootdir" "$T/shared/into"
    run_rune run "$C/copy.yaml" --set from="$T/secret.txt" --set to="$T/shared/into"
    expect_rc 4
    expect_out "is a symbolic link that another user"
    expect_out "nothing was copied"
    [ -e "$T/rootdir/secret.txt" ] && fail "rune copied into the directory behind the attacker's link"
    # a link of root's own in the same place is followed as before
    ln -s "$T/rootdir" "$T/shared/mine"
    run_rune run "$C/copy.yaml" --set from="$T/secret.txt" --set to="$T/shared/mine"
    expect_rc 0
    [ -e "$T/rootdir/secret.txt" ] || fail "a link of root's own was not followed"
fi
end_case

test_case "a directory every user can write without the sticky bit is refused for every output"
mkdir -p "$T/open" && chmod 0777 "$T/open"
sqlite3 "$T/app.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
cat >"$T/bk.yaml" <<'YAML'
runbook: bk
inputs: { db: { type: string, required: true }, to: { type: string, required: true } }
mitigation:
  steps:
    - { id: backup, uses: sqlite.backup, with: { path: "${inputs.db}", to: "${inputs.to}" } }
YAML
echo data >"$T/plain.txt"
run_rune run "$C/copy.yaml" --set from="$T/plain.txt" --set to="$T/open/copy"
expect_rc 4
expect_out "writable by every user and has no sticky bit"
run_rune run "$C/compress.yaml" --set src="$T/plain.txt" --set to="$T/open/plain.gz"
expect_rc 4
expect_out "writable by every user and has no sticky bit"
run_rune run "$T/bk.yaml" --set db="$T/app.db" --set to="$T/open/app.db.gz"
expect_rc 4
expect_out "writable by every user and has no sticky bit"
expect_eq "$(ls -A "$T/open" | wc -l)" "0" "files written in the open directory"
# given as a `path` input, the same output is refused before any step runs
run_rune run "$RUNE_SOURCE_DIR/tests/cli/cases/files/copy.yaml" --set from="$T/plain.txt" --set to="$T/open/copy"
expect_rc 2
expect_eq "$(ls -A "$T/open" | wc -l)" "0" "files written in the open directory"
end_case

finish
