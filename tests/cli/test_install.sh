#!/usr/bin/env bash
# `cmake --install` puts rune(1) and the bash and zsh completions where
# man, bash-completion and zsh look, and they work: the man page renders
# with every command, and the completions offer commands, flags, runbook
# names, step types and `rune new` kinds, asking the installed rune.
. "$(dirname "$0")/lib.sh"
# the build tree is where ctest's rune is (its top directory)
RUNE_BUILD_DIR=${RUNE_BUILD_DIR:-$(dirname "$RUNE")}
unset RUNE_LUA_PATH RUNE_PATH

P="$T/prefix"
test_case "cmake --install writes the man page and both completions"
[ -f "$RUNE_BUILD_DIR/CMakeCache.txt" ] || fail "$RUNE_BUILD_DIR is not a build tree"
cmake --install "$RUNE_BUILD_DIR" --prefix "$P" > "$T/install.log" 2>&1 || fail "cmake --install: $(tail -5 "$T/install.log")"
for f in bin/rune share/man/man1/rune.1 share/bash-completion/completions/rune share/zsh/site-functions/_rune; do
    [ -f "$P/$f" ] || fail "not installed: $f"
done
end_case

test_case "man rune renders, with every command of rune help and its options"
MANPATH="$P/share/man" man -w rune > "$T/where" 2>&1 || fail "man does not find it: $(cat "$T/where")"
expect_eq "$(cat "$T/where")" "$P/share/man/man1/rune.1" "man -w rune"
MANWIDTH=100 MANPATH="$P/share/man" man rune > "$T/man.txt" 2>"$T/man.err" || fail "man rune: $(cat "$T/man.err")"
[ -s "$T/man.err" ] && fail "man warns: $(cat "$T/man.err")"
for c in $("$P/bin/rune" help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'); do
    grep -q "^   $c\$" "$T/man.txt" || fail "no section for rune $c"
done
grep -q -- "--strict" "$T/man.txt" || fail "rune validate's --strict is not in the page"
grep -q "EXIT STATUS" "$T/man.txt" || fail "no EXIT STATUS"
end_case

# complete_bash WORDS... — what the installed bash completion offers for
# the last word (an empty last word: give "").
complete_bash() {
    PATH="$P/bin:$PATH" bash --norc -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _rune
        printf "%s\n" "${COMPREPLY[@]}"' _ "$P/share/bash-completion/completions/rune" "$@"
}

test_case "bash: commands, flags, runbook names, step types, kinds"
complete_bash rune va > "$T/c"; grep -qx validate "$T/c" || fail "rune va: $(cat "$T/c")"
complete_bash rune te > "$T/c"; grep -qx test "$T/c" || fail "rune te: $(cat "$T/c")"
complete_bash rune validate --st > "$T/c"; grep -qx -- --strict "$T/c" || fail "--st: $(cat "$T/c")"
complete_bash rune validate --format s > "$T/c"; grep -qx sarif "$T/c" || fail "--format s: $(cat "$T/c")"
complete_bash rune run sqlite-re > "$T/c"; grep -qx sqlite-restore "$T/c" || fail "runbook names: $(cat "$T/c")"
complete_bash rune steps sqlite.re > "$T/c"; grep -qx sqlite.restore "$T/c" || fail "step types: $(cat "$T/c")"
complete_bash rune steps postg > "$T/c"; grep -qx postgres "$T/c" || fail "target kinds: $(cat "$T/c")"
complete_bash rune new x --from d > "$T/c"; grep -qx drill "$T/c" || fail "kinds: $(cat "$T/c")"
complete_bash rune log s > "$T/c"; grep -qx show "$T/c" || fail "log subcommands: $(cat "$T/c")"
end_case

# complete_zsh WORDS... — the candidates the installed zsh function gives
# for the last word (compadd and _files stubbed to print what they get).
complete_zsh() {
    PATH="$P/bin:$PATH" zsh -f -c '
        compdef() { : }
        compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@" }
        _files() { print -r -- "(files)" }
        source "$1"; shift
        words=("$@"); CURRENT=${#words}
        _rune' _ "$P/share/zsh/site-functions/_rune" "$@"
}

test_case "zsh: commands, flags, runbook names, step types, kinds"
complete_zsh rune va > "$T/c"; grep -qx validate "$T/c" || fail "rune va: $(cat "$T/c")"
complete_zsh rune validate --st > "$T/c"; grep -qx -- --strict "$T/c" || fail "--st: $(cat "$T/c")"
complete_zsh rune run sqlite-re > "$T/c"; grep -qx sqlite-restore "$T/c" || fail "runbook names: $(head -3 "$T/c")"
complete_zsh rune steps sqlite.re > "$T/c"; grep -qx sqlite.restore "$T/c" || fail "step types: $(head -3 "$T/c")"
complete_zsh rune steps postg > "$T/c"; grep -qx postgres "$T/c" || fail "target kinds: $(tail -3 "$T/c")"
complete_zsh rune new x --from d > "$T/c"; grep -qx drill "$T/c" || fail "kinds: $(cat "$T/c")"
zsh -n "$P/share/zsh/site-functions/_rune" || fail "zsh -n finds a syntax error"
end_case

finish
