#!/usr/bin/env bash
# The bundled drills run as root while a second, unprivileged local user
# attacks them (issue 12, item 1): the old fixed directories
# (/tmp/rune-sqlite-drill, /tmp/rune-hello-drill) made first, 0777, with
# symlinks to a root-owned 0600 file; a loop that recreates them the moment
# they are removed and swaps the drill's database for such a symlink once
# its backup exists; the same in the shared $TMPDIR. Root's file must stay
# as it was, the drills must still resolve, root must create nothing where
# the other user can reach it, and the run's own directory must be private
# and gone afterwards.
. "$(dirname "$0")/lib.sh"

attacker_setup || { finish; exit 1; }
# The old fixed paths are in the real /tmp, shared with everyone: two runs
# of this script (two build trees) must not plant them at once.
exec 9<"$RUNE_SOURCE_DIR/tests/cli/test_runbooks_hostile.sh"
if ! flock -w 600 9; then
    echo "FAIL: another run of this script held its lock for 10 minutes" >&2
    exit 1
fi

SHARED="$T/shared"
RB="$RUNE_SOURCE_DIR/runbooks"
CANARY="$T/canary"
printf 'root-owned secret, 0600\n' >"$CANARY" && chmod 0600 "$CANARY"
canary_sum=$(sha256sum <"$CANARY")
CLAIMED=()
LOOP=""

# claim PATH — this case owns PATH (an old fixed name in the real /tmp)
# until cleanup removes it: it plants it as the other user, or a rune that
# still used it would make it there. Something already there is not ours:
# the case fails rather than touch it.
claim() {
    if [ -e "$1" ] || [ -L "$1" ]; then
        fail "$1 already exists (owner $(stat -c %U "$1" 2>/dev/null)); this case plants it itself as $ATTACKER and touches nothing it did not make: remove it if it is a leftover of this test"
        return 1
    fi
    CLAIMED+=("$1")
}

cleanup() {
    stop_attack
    local p
    for p in "${CLAIMED[@]}"; do rm -rf -- "$p"; done
    CLAIMED=()
}
trap 'cleanup; rm -rf "$T"' EXIT

# attack DIR... — the other user's loop, in the background until
# stop_attack: make each DIR (0777) whenever it is missing; in each DIR it
# owns, keep a.txt, b.txt and all.txt symlinks to the canary, and once a
# backup manifest appears swap app.db for one (rename over it, as the
# issue's reproduction did).
attack() {
    rm -f "$T/stop"
    cat >"$T/attack.pl" <<'EOF'
use strict; use warnings;
my ($stop, $canary, @dirs) = @ARGV;
until (-e $stop) {
    for my $d (@dirs) {
        chmod 0777, $d if mkdir $d;
        next unless -d $d && !-l $d && -O $d;
        for my $n (qw(a.txt b.txt all.txt)) {
            next if -l "$d/$n";
            symlink($canary, "$d/.x$n") and rename("$d/.x$n", "$d/$n");
        }
        if (!-l "$d/app.db" && glob("$d/backups/*.manifest.json")) {
            symlink($canary, "$d/.xdb") and rename("$d/.xdb", "$d/app.db");
        }
    }
}
EOF
    chmod 0644 "$T/attack.pl"
    as_attacker perl "$T/attack.pl" "$T/stop" "$CANARY" "$@" &
    LOOP=$!
    local i
    for i in $(seq 1200); do [ -d "$1" ] && return 0; sleep 0.05; done
    fail "the attack loop did not start (no $1 after 60 s)"
}
stop_attack() {
    [ -n "$LOOP" ] || return 0
    touch "$T/stop"
    wait "$LOOP" 2>/dev/null
    LOOP=""
}

# root_made DIR... — what root owns in DIR (DIR itself included, but not
# the shared directory, which is root's like /tmp): nothing, when root
# kept out of the other user's places.
root_made() {
    find "$@" -user root ! -path "$SHARED" 2>/dev/null
}

# check_workdir ID — the run recorded a private directory under work/
# beside the log, outside the shared directory, and removed it.
check_workdir() {
    local wd
    wd=$(sql "select json_extract(detail_json,'\$.workdir') from events where incident_id='$1' and kind='incident.start'")
    [ -n "$wd" ] || { fail "incident.start records no work directory"; return; }
    expect_eq "$(dirname "$wd")" "$T/work" "the work directory's parent"
    [ ! -e "$wd" ] || fail "the work directory $wd is still there"
}

test_case "hello-drill: the old 0777 directory with all.txt → root's file is not followed"
if claim /tmp/rune-hello-drill; then
    attack /tmp/rune-hello-drill "$SHARED/rune-hello-drill"
    TMPDIR="$SHARED" run_rune run "$RB/examples/hello-drill.yaml" --set lines=50
    stop_attack
    expect_rc 0
    expect_eq "$(sha256sum <"$CANARY")" "$canary_sum" "root's 0600 file"
    expect_eq "$(root_made /tmp/rune-hello-drill "$SHARED")" "" "what root made where the other user plays"
    check_workdir "$(last_incident)"
fi
cleanup
end_case

test_case "sqlite-drill: the old path squatted and raced, TMPDIR shared: canary intact, resolved, identical"
if claim /tmp/rune-sqlite-drill; then
    attack /tmp/rune-sqlite-drill "$SHARED/rune-sqlite-drill"
    TMPDIR="$SHARED" run_rune run "$RB/sqlite-drill.yaml" --yes --set scale=0.02
    stop_attack
    expect_rc 0
    id=$(last_incident)
    expect_eq "$(sql "select outcome from incidents where id='$id'")" "resolved"
    expect_eq "$(step_status "$id" identical)" "ok"
    expect_eq "$(sha256sum <"$CANARY")" "$canary_sum" "root's 0600 file"
    expect_eq "$(root_made /tmp/rune-sqlite-drill "$SHARED")" "" "what root made where the other user plays"
    check_workdir "$id"
fi
cleanup
end_case

test_case "sqlite-drill --set workdir= a directory the other user made: refused, nothing written"
as_attacker mkdir -m 0777 "$SHARED/drill"
as_attacker ln -s "$CANARY" "$SHARED/drill/app.db"
attack "$SHARED/drill"
TMPDIR="$SHARED" run_rune run "$RB/sqlite-drill.yaml" --yes --set scale=0.02 --set workdir="$SHARED/drill"
stop_attack
# refused by the path-input checks (exit 2) or by the drill's own (exit 4)
case $RC in
    2) ;;
    4) expect_out "$SHARED/drill belongs to uid $(id -u "$ATTACKER"), not to you" ;;
    *) fail "expected a refusal (exit 2 or 4), got $RC" ;;
esac
expect_eq "$(sha256sum <"$CANARY")" "$canary_sum" "root's 0600 file"
expect_eq "$(root_made "$SHARED")" "" "what root made in the shared directory"
[ -L "$SHARED/drill/app.db" ] || fail "the other user's symlink was removed"
end_case

test_case "--keep-workdir: the kept directory is root's and 0700; the other user can neither list nor enter it"
claim /tmp/rune-hello-drill # hello-drill's old default: whatever a broken rune makes there goes
TMPDIR="$SHARED" run_rune run "$RB/examples/hello-drill.yaml" --set lines=50 --keep-workdir
expect_rc 0
wd=$(sql "select json_extract(detail_json,'\$.workdir') from events where incident_id='$(last_incident)' and kind='incident.start'")
[ -f "$wd/all.txt" ] || fail "the kept directory lacks all.txt: $wd"
expect_eq "$(stat -c '%U %a' "$wd" 2>/dev/null)" "root 700" "owner and mode"
chmod 0711 "$T/work" # let the other user reach it, to show the directory itself holds
as_attacker ls "$wd" >/dev/null 2>&1 && fail "the other user listed the work directory"
as_attacker cat "$wd/all.txt" >/dev/null 2>&1 && fail "the other user read a file in it"
as_attacker sh -c "cd '$wd'" 2>/dev/null && fail "the other user entered it"
chmod 0700 "$T/work"
expect_eq "$(root_made "$SHARED")" "" "what root made in the shared directory"
cleanup
end_case

test_case "a state directory, or a work/ in it, the other user owns: no work directory there, no run"
claim /tmp/rune-hello-drill
as_attacker mkdir -m 0755 "$SHARED/state"
TMPDIR="$SHARED" run_rune run "$RB/examples/hello-drill.yaml" --log "$SHARED/state/incidents.db"
expect_rc 1
expect_err "$SHARED/state belongs to uid $(id -u "$ATTACKER"), not to root or the user running rune"
[ -z "$(ls -A "$SHARED/state/work" 2>/dev/null)" ] || fail "a work directory was made in it"
mkdir -p "$T/s3/work" && chown "$ATTACKER" "$T/s3/work"
TMPDIR="$SHARED" run_rune run "$RB/examples/hello-drill.yaml" --log "$T/s3/incidents.db"
expect_rc 1
expect_err "$T/s3/work belongs to uid $(id -u "$ATTACKER"), not to the user running rune"
[ -z "$(ls -A "$T/s3/work")" ] || fail "a work directory was made in the other user's work/"
cleanup
end_case

finish
