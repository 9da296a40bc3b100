#!/usr/bin/env bash
# What a run is given (issue 12, items 7 and 8, and path safety): --set
# text that is not UTF-8 is refused; `path` inputs are canonical, so the
# locks built from them are too; and a path another user could redirect
# (their symlink, their directory in a shared place) is refused before
# anything runs.
. "$(dirname "$0")/lib.sh"


incidents() { sql "select count(*) from incidents" 2>/dev/null || echo 0; }

cat >"$T/paths.yaml" <<'YAML'
# One run per database at a time; the step holds the lock until GO exists
# beside the database, and records the path it was given.
runbook: paths
lock: db/${inputs.db}
inputs:
  db: { type: path, required: true }
  label: { type: string, default: plain }
mitigation:
  steps:
    - id: hold
      uses: shell.run
      with:
        script: 'printf "%s" "$DB"; touch "$DB.started"; for i in $(seq 600); do [ -e "$DB.go" ] && exit 0; sleep 0.1; done; exit 1'
        env: { DB: "${inputs.db}" }
YAML

test_case "--set text that is not UTF-8 is refused with exit 2, nothing recorded"
mkdir -p "$T/x" && touch "$T/x/app.db.go"
before=$(incidents)
run_rune run "$T/paths.yaml" --set db="$T/x/app.db" --set label=$'caf\xe9'
expect_rc 2
expect_err '--set label: the value is not valid UTF-8 (byte 0xE9 at offset 3)'
expect_err 'nothing was run'
run_rune run "$T/paths.yaml" --set db=$'/tmp/caf\xe9.db'
expect_rc 2
expect_err '--set db: the value is not valid UTF-8 (byte 0xE9 at offset 8)'
run_rune run "$T/paths.yaml" --set db="$T/x/app.db" --set $'lab\xffel=1'
expect_rc 2
expect_err '--set: an input name is not valid UTF-8 (byte 0xFF at offset 3)'
# overlong and surrogate encodings are not UTF-8 either
run_rune run "$T/paths.yaml" --set db="$T/x/app.db" --set label=$'\xc0\xaf'
expect_rc 2
run_rune run "$T/paths.yaml" --set db="$T/x/app.db" --set label=$'\xed\xa0\x80'
expect_rc 2
expect_eq "$(incidents)" "$before" "incidents recorded"
run_rune run "$T/paths.yaml" --set db="$T/x/app.db" --set label='café ✓'
expect_rc 0
expect_eq "$(sql "select json_extract(inputs_json,'\$.label') from incidents where id='$(last_incident)'")" "café ✓" "a UTF-8 value"
end_case

test_case "path inputs are made canonical: //, ., .., relative, symlinks"
for given in "$T/x//app.db" "$T//x/./app.db" "$T/x/sub/../app.db" "$T/x/app.db/" x/app.db ./x//app.db; do
    run_rune run "$T/paths.yaml" --set db="$given"
    expect_rc 0
    expect_eq "$(out hold stdout)" "$T/x/app.db" "the path given as $given"
    expect_eq "$(sql "select json_extract(inputs_json,'\$.db') from incidents where id='$(last_incident)'")" \
        "$T/x/app.db" "recorded input for $given"
done
ln -s "$T/x" "$T/xlink"
run_rune run "$T/paths.yaml" --set db="$T/xlink/app.db"
expect_rc 0
expect_eq "$(out hold stdout)" "$T/x/app.db" "a path through the runner's own symlink"
mkdir -p "$T/x/deeper"
(cd "$T/x/deeper" && "$RUNE" run "$T/paths.yaml" --set db=../app.db </dev/null >"$T/out" 2>"$T/err")
RC=$?
expect_rc 0
expect_eq "$(out hold stdout)" "$T/x/app.db" "../app.db from a subdirectory"
end_case

test_case "two runs on one database spelled two ways: the second is locked out (exit 6)"
mkdir -p "$T/y"
"$RUNE" run "$T/paths.yaml" --set db="$T/y/app.db" </dev/null >"$T/first.out" 2>&1 &
first=$!
wait_file "$T/y/app.db.started"
for other in "$T/y//app.db" "$T/y/./app.db" "$T/x/../y/app.db"; do
    run_rune run "$T/paths.yaml" --set db="$other"
    expect_rc 6
    expect_err "lock \"db/$T/y/app.db\" is held by another run"
done
touch "$T/y/app.db.go"
wait "$first"
expect_eq "$?" "0" "the first run"
end_case

test_case "sqlite-compact-repair on /z//app.db while a run holds /z/app.db: locked out (exit 6)"
mkdir -p "$T/z" && sqlite3 "$T/z/app.db" 'create table t(x); insert into t values (1);'
hold_lock "sqlite/$T/z/app.db"
RUNE_PATH="$RUNE_SOURCE_DIR/runbooks" run_rune run sqlite-compact-repair --yes --set path="$T/z//app.db"
expect_rc 6
expect_err "lock \"sqlite/$T/z/app.db\" is held by another run"
release_lock
end_case

cat >"$T/write.yaml" <<'YAML'
# Writes to the file it is given: what a runbook run as root would do.
runbook: write
inputs:
  target: { type: path, required: true }
mitigation:
  steps:
    - id: write
      uses: shell.run
      with:
        script: 'echo pwned > "$P"'
        env: { P: "${inputs.target}" }
YAML

# refused PATH WHY... — the write runbook, run as root on PATH, is refused
# before anything runs, with WHY in its message, and the root file is as
# it was.
refused() {
    local path=$1
    shift
    run_rune run "$T/write.yaml" --set target="$path"
    expect_rc 2
    expect_err 'nothing was run'
    local why
    for why in "$@"; do expect_err "$why"; done
    expect_eq "$(sha256sum <"$T/rootfile")" "$sum" "the root-owned file after a run on $path"
}

test_case "a path another user could redirect is refused; the root-owned file is untouched"
if attacker_setup; then
    printf 'root data\n' >"$T/rootfile" && chmod 0600 "$T/rootfile"
    sum=$(sha256sum <"$T/rootfile")
    before=$(incidents)
    # the attacker's symlink in a shared sticky directory (like /tmp)
    as_attacker ln -s "$T/rootfile" "$T/shared/app.db"
    refused "$T/shared/app.db" "$T/shared/app.db is a symbolic link owned by $ATTACKER" \
        "Check where it points and give that path instead"
    # the attacker's directory in the shared directory: whatever is in it
    as_attacker mkdir "$T/shared/adir"
    as_attacker ln -s "$T/rootfile" "$T/shared/adir/app.db"
    refused "$T/shared/adir/app.db" "$T/shared/adir is owned by $ATTACKER, in a directory every user can add to"
    refused "$T/shared/adir/new.db" "$T/shared/adir is owned by $ATTACKER"
    # ... reached through a root-owned symlink that points there
    ln -s "$T/shared/adir" "$T/via"
    refused "$T/via/app.db" "$T/shared/adir is owned by $ATTACKER"
    # the attacker's symlink in a directory of their own
    mkdir "$T/svc" && chown "$ATTACKER" "$T/svc" && chmod 0755 "$T/svc"
    as_attacker ln -s "$T/rootfile" "$T/svc/app.db"
    refused "$T/svc/app.db" "$T/svc/app.db is a symbolic link owned by $ATTACKER"
    # even root's own symlink there: its owner can replace it
    ln -s "$T/rootfile" "$T/svc/rootlink"
    refused "$T/svc/rootlink" "$T/svc/rootlink is a symbolic link in a directory $ATTACKER owns"
    # a directory anyone can write to, without the sticky bit
    mkdir "$T/open" && chmod 0777 "$T/open"
    refused "$T/open/app.db" "it goes through $T/open, a directory that every user (it is world-writable, without the sticky bit) can change"
    # a group-writable one
    mkdir "$T/grp" && chgrp "$ATTACKER" "$T/grp" && chmod 0775 "$T/grp"
    refused "$T/grp/app.db" "the members of group $ATTACKER (it is group-writable)"
    expect_eq "$(incidents)" "$before" "incidents recorded"
    expect_eq "$(cat "$T/rootfile")" "root data" "the root-owned file"
    # a service's own directory holding a plain file is where root works
    # (PostgreSQL's data directory): that is allowed
    as_attacker touch "$T/svc/data.db"
    run_rune run "$T/write.yaml" --set target="$T/svc/data.db"
    expect_rc 0
    expect_eq "$(cat "$T/svc/data.db")" "pwned" "the service's own file"
fi
end_case

finish
