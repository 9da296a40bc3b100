#!/usr/bin/env bash
# rune new NAME [--from KIND] [-o FILE]: a skeleton that validates under
# --strict and runs, never written over an existing file.
. "$(dirname "$0")/lib.sh"
unset RUNE_LUA_PATH

test_case "rune new x writes x.yaml, which rune validate --strict accepts"
run_rune new x
expect_rc 0
expect_out "wrote x.yaml (a restore runbook)"
[ -f "$T/x.yaml" ] || fail "no x.yaml"
grep -q '^runbook: x$' "$T/x.yaml" || fail "runbook name not filled in: $(grep runbook: "$T/x.yaml")"
grep -q '__NAME__' "$T/x.yaml" && fail "a placeholder is left"
grep -q '^# 5. rollback' "$T/x.yaml" || fail "no comment explaining the rollback stage"
run_rune validate --strict x.yaml
expect_rc 0
expect_out "x.yaml: ok (x, 8 steps)"
end_case

test_case "every kind validates under --strict and matches the schema"
for k in restore job drill; do
    run_rune new "k-$k" --from "$k"
    expect_rc 0
    run_rune validate --strict "k-$k.yaml"
    expect_rc 0
    expect_no "warning"
    python3 "$RUNE_SOURCE_DIR/tests/lib/runbook_schema.py" "$RUNE_SOURCE_DIR/schemas/runbook.schema.json" "k-$k.yaml" \
        > "$T/check" 2>&1 || fail "$k: $(cat "$T/check")"
done
end_case

test_case "the skeletons run: a job backs up, a drill restores into its work directory, a restore restores"
sqlite3 "$T/app.db" "create table t(a); insert into t values (1), (2), (3);"
mkdir -m 0700 "$T/bk"
run_rune run k-job.yaml --set path="$T/app.db" --set dir="$T/bk" --no-report
expect_rc 0
expect_out "outcome: resolved"
ls "$T"/bk/app-*.db.gz >/dev/null 2>&1 || fail "no backup written"
run_rune run k-drill.yaml --set path="$T/app.db" --no-report
expect_rc 0
expect_out "outcome: resolved"
sqlite3 "$T/app.db" "insert into t values (4);"
run_rune run k-restore.yaml --set path="$T/app.db" --set backups="$T/bk" --yes --no-report
expect_rc 0
expect_out "outcome: resolved"
expect_eq "$(sqlite3 "$T/app.db" 'select count(*) from t')" 3 "rows after the restore"
end_case

test_case "never over an existing file, nor through a symlink"
echo "mine" > "$T/taken.yaml"
run_rune new taken
expect_rc 2
expect_err "taken.yaml already exists; rune new never writes over a file"
expect_eq "$(cat "$T/taken.yaml")" "mine" "the existing file"
echo "target" > "$T/target"
ln -s "$T/target" "$T/linked.yaml"
run_rune new linked
expect_rc 2
expect_eq "$(cat "$T/target")" "target" "the symlink's target"
ln -s "$T/nowhere" "$T/dangling.yaml"
run_rune new dangling
[ "$RC" != 0 ] || fail "wrote through a dangling symlink"
[ -e "$T/nowhere" ] && fail "created the dangling symlink's target"
end_case

test_case "-o FILE, and bad names and kinds"
mkdir "$T/sub"
run_rune new orders-restore -o sub/o.yaml --from drill
expect_rc 0
grep -q '^runbook: orders-restore$' "$T/sub/o.yaml" || fail "name in -o file"
[ -e "$T/orders-restore.yaml" ] && fail "wrote NAME.yaml too"
run_rune new "../evil"
expect_rc 2
expect_err "cannot be a runbook name"
run_rune new y --from nonsense
expect_rc 2
expect_err "no kind \"nonsense\"; kinds: restore, job, drill"
[ -e "$T/y.yaml" ] && fail "wrote a file for an unknown kind"
end_case

finish
