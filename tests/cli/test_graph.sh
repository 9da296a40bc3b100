#!/usr/bin/env bash
# `rune graph`: every bundled runbook draws and renders with Graphviz; the
# Mermaid form is well-formed (checked by structure, without a browser);
# a fan-out gives exactly its edges; hints, escaping, --set and the exit
# codes behave as docs/cli.md says.
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases"
export RUNE_PATH="$RUNE_SOURCE_DIR/runbooks"
command -v dot >/dev/null || { echo "dot (Graphviz) is missing: bash .ci/deps" >&2; exit 1; }

# stages FILE — the stages a runbook has, in run order.
stages() {
    for s in detection impact mitigation verification rollback; do
        grep -q "^$s:" "$1" && echo "$s"
    done
}

# step_ids FILE — every step id of a runbook (block or flow style).
step_ids() {
    grep -Eo '^ *- *(\{ *)?id: *[A-Za-z_][A-Za-z0-9_]*' "$1" | sed -E 's/.*id: *//'
}

# mermaid_ok FILE OUT — OUT is a well-formed `rune graph --format mermaid`
# of FILE: one subgraph per stage present, balanced `end`s, every line a
# node, an edge, a style line or a subgraph line; labels quoted with no
# raw quote inside; every edge between declared ids; every step drawn;
# linkStyle numbers within the edges.
mermaid_ok() {
    local file=$1 out=$2
    [ "$(head -n 1 "$out")" = "flowchart TD" ] || fail "$file: first line is not flowchart TD"
    local want got
    want=$(stages "$file" | sed 's/^/st_/')
    got=$(sed -n 's/^    subgraph \(st_[a-z]*\)\[".*"\]$/\1/p' "$out")
    expect_eq "$got" "$want" "$file: subgraphs"
    expect_eq "$(grep -c '^    end$' "$out")" "$(grep -c '^    subgraph ' "$out")" "$file: subgraph/end"
    local q='"[^"]*"'
    local node="^ +[sdte]_[A-Za-z0-9_]+(\[$q\]|\{$q\}|\(\[$q\]\))$"
    local id='(st|[sdte])_[A-Za-z0-9_]+'
    local edge="^ +$id (-->|==>|-\.->)(\|$q\|)? $id$"
    local other='^(flowchart TD|    subgraph st_[a-z]+\['"$q"'\]|    end|    classDef [a-z]+ [^ ]+( [^ ]+)?|    class [A-Za-z_0-9,]+ [a-z]+|    linkStyle [0-9,]+ [^ ]+)$'
    local bad
    bad=$(grep -Ev "$node|$edge|$other" "$out")
    [ -z "$bad" ] || fail "$file: lines that are neither node, edge nor style: $bad"
    local declared
    declared=$( (grep -E "$node" "$out" | sed -E 's/^ +([sdte]_[A-Za-z0-9_]+).*/\1/'
        grep -Eo '^    subgraph st_[a-z]+' "$out" | sed 's/.* //') | sort -u)
    local e
    for e in $(grep -E "$edge" "$out" | sed -E 's/\|[^|]*\|//' | awk '{print $1; print $3}' | sort -u); do
        grep -qx "$e" <<<"$declared" || fail "$file: edge end $e is not declared"
    done
    for e in $(step_ids "$file"); do
        grep -Eq "^ +s_$e\[\"$e<br/>" "$out" || fail "$file: step $e not drawn"
    done
    local nedges max
    nedges=$(grep -Ec "$edge" "$out")
    max=$(sed -n 's/^    linkStyle \([0-9,]*\) .*/\1/p' "$out" | tr ',' '\n' | sort -n | tail -n 1)
    [ -z "$max" ] || [ "$max" -lt "$nedges" ] || fail "$file: linkStyle $max but only $nedges edges"
}

# cluster_edges OUT STAGE — the `a -> b` lines inside a dot cluster.
cluster_edges() {
    awk -v c="subgraph cluster_$2 {" 'index($0, c) {on=1; next} on && /^    }/ {on=0} on && / -> /' "$1" |
        sed 's/^ *//'
}

for f in "$RUNE_SOURCE_DIR"/runbooks/*.yaml "$RUNE_SOURCE_DIR"/runbooks/examples/*.yaml; do
    case $f in *.test.yaml) continue ;; esac  # a runbook's tests (rune test), not a runbook
    name=$(basename "$f" .yaml)
    test_case "$name: dot renders with Graphviz, mermaid is well-formed"
    run_rune graph "$name" --format dot
    expect_rc 0
    dot -Tsvg <"$T/out" >"$T/svg" 2>"$T/dot.err" || fail "dot -Tsvg failed: $(head -5 "$T/dot.err")"
    [ ! -s "$T/dot.err" ] || fail "dot warned: $(head -5 "$T/dot.err")"
    grep -q '</svg>' "$T/svg" || fail "no SVG"
    for s in $(stages "$f"); do
        grep -q "subgraph cluster_$s {" "$T/out" || fail "no cluster for $s"
    done
    for id in $(step_ids "$f"); do
        grep -q "^        \"$id\" \[label=\"$id\\\\n(" "$T/out" || fail "step $id not drawn"
    done
    run_rune graph "$name" --format mermaid
    expect_rc 0
    mermaid_ok "$f" "$T/out"
    end_case
done

test_case "a fan-out and fan-in: exactly the needs edges, implicit order included"
run_rune graph "$C/graph_fanout.yaml"
expect_rc 0
cluster_edges "$T/out" mitigation >"$T/edges"
printf '%s\n' '"prepare" -> "copy_a";' '"prepare" -> "copy_b";' '"prepare" -> "copy_c";' \
    '"copy_a" -> "join";' '"copy_b" -> "join";' '"copy_c" -> "join";' '"join" -> "end";' >"$T/want"
diff -u "$T/want" "$T/edges" >"$T/diff" || fail "mitigation edges differ: $(cat "$T/diff")"
expect_eq "$(cluster_edges "$T/out" detection | wc -l)" "0" "detection edges"
end_case

test_case "stages follow each other through the incident_if decision"
expect_out '"probe" -> "@incident_if" [ltail=cluster_detection, penwidth=2];'
expect_out '"@incident_if" -> "@no_incident" [label="false", penwidth=2];'
expect_out '"@incident_if" -> "assess" [lhead=cluster_impact, label="true", penwidth=2];'
expect_out '"assess" -> "prepare" [ltail=cluster_impact, lhead=cluster_mitigation, penwidth=2];'
expect_out '"@incident_if" [label="incident_if: steps.probe.status == \"ok\"", shape=diamond'
expect_out '"@no_incident" [label="no incident → end"'
# an empty stage has a stand-in the edges can reach
expect_out '"end" -> "@empty_verification" [ltail=cluster_mitigation, lhead=cluster_verification, penwidth=2];'
end_case

test_case "the way to rollback: on failure (default policy), declined (confirm under continue)"
for s in prepare copy_a copy_b copy_c end; do
    expect_out "\"$s\" -> \"undo\" [lhead=cluster_rollback, label=\"on failure\", style=dashed, color=\"#c0392b\""
done
expect_out '"join" -> "undo" [lhead=cluster_rollback, label="declined", style=dashed'
expect_eq "$(grep -c -- '-> "undo"' "$T/out")" "6" "edges to rollback"
expect_eq "$(grep -c -- '-> "@' "$T/out" | tr -d ' ')" "3" "edges to synthetic vertices"
end_case

test_case "no rollback stage: a rollback-policy failure ends failed; continue does not"
run_rune graph "$C/graph_norollback.yaml"
expect_rc 0
expect_out '"check" -> "@failed" [label="on failure", style=dashed'
expect_no '"optional" -> "@failed"'
expect_out '"look" -> "check" [ltail=cluster_detection, lhead=cluster_verification, penwidth=2];'
expect_no '@incident_if'
dot -Tsvg <"$T/out" >/dev/null 2>"$T/dot.err" && [ ! -s "$T/dot.err" ] || fail "dot: $(cat "$T/dot.err")"
end_case

test_case "a step type that asks for approval (flow.confirm) is marked like confirm:"
run_rune graph "$C/gate.yaml"
expect_rc 0
expect_out '"ask" [label="ask\n(flow.confirm)\n⚠ approval"'
expect_no '"go" [label="go\n(flow.note)\n⚠ approval"'
end_case

test_case "labels: type, effect, when, approval, the step's own timeout/retry/on_failure"
run_rune graph "$C/graph_fanout.yaml"
expect_out '"prepare" [label="prepare\n(shell.run)", style="rounded,filled", fillcolor="#fde8d7", color="#c0541b", penwidth=2];'
expect_out '"assess" [label="assess\n(sqlite.health)", style="rounded,filled", fillcolor="#e8f1fb"'
expect_out '"probe" [label="probe\n(flow.note)", style="rounded,filled", fillcolor="white"'
expect_out '"copy_a" [label="copy_a\n(shell.run)\ntimeout 30s"'
expect_out '"copy_b" [label="copy_b\n(shell.run)\nretry 3× (delay 2s)"'
expect_out '"join" [label="join\n(shell.run)\n⚠ approval\non_failure: continue"'
expect_out '"end" [label="end\n(flow.note)\nwhen: ${inputs.notify}", style="rounded,filled,dashed"'
# a multi-line condition is one line, shortened, quotes escaped
expect_out '"copy_c" [label="copy_c\n(flow.note)\nwhen: inputs.mode == \"fast\" and #inputs.mode <…", style="rounded,filled,dashed"'
expect_out 'label="impact\nseverity: steps.probe.failed and \"P1\" or \"P2\""'
end_case

test_case "dot escaping survives Graphviz: the title's quotes, backslash, <, & and \${}"
expect_out 'label="graph-fanout\nFan-out \"drill\" \\ with ${braces}, #hash, <angle> & amp"'
dot -Tsvg <"$T/out" >"$T/svg" 2>"$T/dot.err" || fail "dot: $(cat "$T/dot.err")"
grep -qF 'Fan&#45;out &quot;drill&quot; \ with ${braces}, #hash, &lt;angle&gt; &amp; amp' "$T/svg" ||
    fail "title not rendered as written: $(grep -F 'Fan-out' "$T/svg")"
grep -qF '⚠ approval' "$T/svg" || fail "UTF-8 marker lost"
end_case

test_case "mermaid: ids safe from keywords, labels escaped, links styled"
run_rune graph "$C/graph_fanout.yaml" --format mermaid
expect_rc 0
mermaid_ok "$C/graph_fanout.yaml" "$T/out"
expect_out '        s_end["end<br/>(flow.note)<br/>when: #36;{inputs.notify}"]'
expect_out '        s_copy_c["copy_c<br/>(flow.note)<br/>when: inputs.mode == #quot;fast#quot; and #35;inputs.mode #lt;…"]'
expect_out '    subgraph st_impact["impact<br/>severity: steps.probe.failed and #quot;P1#quot; or #quot;P2#quot;"]'
expect_out '        e_verification["(no steps)"]'
expect_out '    d_incident_if{"incident_if: steps.probe.status == #quot;ok#quot;"}'
expect_out '    t_no_incident(["no incident → end"])'
expect_out '    st_detection ==> d_incident_if'
expect_out '    d_incident_if ==>|"true"| st_impact'
expect_out '    s_join -.->|"declined"| st_rollback'
expect_out '        s_prepare --> s_copy_a'
expect_out '    class s_copy_c,s_end cond'
expect_out '    class s_assess reads'
expect_out '    linkStyle 12,13,14,15,16,17 stroke:#c0392b,color:#c0392b'
expect_no 'subgraph end'
end_case

test_case "--set decides conditions over inputs: skipped steps greyed, no way to rollback from them"
run_rune graph "$C/graph_fanout.yaml" --set notify=false --set mode=fast
expect_rc 0
expect_out '"end" [label="end\n(flow.note)\nwhen: ${inputs.notify}\n→ false: skipped", style="rounded,dotted"'
expect_out '\n→ true: runs", style="rounded,filled", fillcolor="white"'
expect_no '"end" -> "undo"'
# a condition that reads steps stays a condition
expect_out '"@incident_if" [label="incident_if: steps.probe.status == \"ok\""'
run_rune graph "$C/graph_fanout.yaml" --set notify=true --set mode=safe --format mermaid
expect_rc 0
expect_out 'when: #36;{inputs.notify}<br/>→ true: runs"]'
expect_out '→ false: skipped"]'
expect_out '    class s_copy_c skipped'
mermaid_ok "$C/graph_fanout.yaml" "$T/out"
end_case

test_case "--set is checked like rune run: unknown, badly typed, outside choices → exit 2"
run_rune graph "$C/graph_fanout.yaml" --set nofity=true
expect_rc 2
expect_err '--set nofity: this runbook has no input "nofity" (did you mean "notify"?)'
expect_err 'nothing drawn'
[ ! -s "$T/out" ] || fail "something was drawn"
run_rune graph "$C/graph_fanout.yaml" --set mode=slow
expect_rc 2
run_rune graph "$C/graph_fanout.yaml" --set notify
expect_rc 2
expect_err '--set needs NAME=VALUE'
end_case

test_case "deterministic: same bytes every time, by name or by path, to stdout or -o"
for fmt in dot mermaid; do
    "$RUNE" graph sqlite-drill --format "$fmt" >"$T/a" || fail "graph failed"
    "$RUNE" graph "$RUNE_SOURCE_DIR/runbooks/sqlite-drill.yaml" -f "$fmt" >"$T/b" || fail "graph failed"
    (cd / && "$RUNE" graph sqlite-drill --format="$fmt" -o "$T/c") || fail "graph -o failed"
    cmp -s "$T/a" "$T/b" || fail "$fmt: by name and by path differ"
    cmp -s "$T/a" "$T/c" || fail "$fmt: -o differs from stdout"
    if grep -qF "$RUNE_SOURCE_DIR" "$T/a"; then fail "$fmt: output names a path"; fi
done
end_case

# svg_words FILE — what an SVG says (its titles and texts), not where: the
# layout may differ between Graphviz versions, the words may not.
svg_words() {
    grep -Eo '<(title|text)[^>]*>[^<]*</(title|text)>' "$1" | sed -E 's/<[^>]*>//g' | sort
}

test_case "the examples in docs/ are current: the SVG and the Mermaid block"
"$RUNE" graph sqlite-drill --format dot | dot -Tsvg >"$T/drill.svg" || fail "render failed"
svg_words "$T/drill.svg" >"$T/now"
svg_words "$RUNE_SOURCE_DIR/docs/images/sqlite-drill.svg" >"$T/doc"
[ -s "$T/now" ] || fail "nothing rendered"
diff -u "$T/doc" "$T/now" >"$T/diff" || fail "docs/images/sqlite-drill.svg is stale (regenerate: rune graph \
sqlite-drill | dot -Tsvg > docs/images/sqlite-drill.svg): $(head -20 "$T/diff")"
# the Mermaid example in docs/cli.md is the command's output
sed -n '/^```mermaid$/,/^```$/p' "$RUNE_SOURCE_DIR/docs/cli.md" | sed '1d;$d' >"$T/doc.mmd"
"$RUNE" graph hello-drill --format mermaid >"$T/now.mmd" || fail "graph failed"
diff -u "$T/doc.mmd" "$T/now.mmd" >"$T/diff" || fail "the mermaid block in docs/cli.md is stale \
(rune graph hello-drill --format mermaid): $(head -20 "$T/diff")"
end_case

test_case "an invalid runbook is not drawn: exit 2 and file:line:col"
f="$C/graph_cycle.yaml"
run_rune graph "$f"
expect_rc 2
want=$(sed -n 's/^# expect: //p' "$f")
expect_err "$f:${want%%: *}: error: ${want#*: }"
expect_err "is not valid (1 problem); nothing drawn"
[ ! -s "$T/out" ] || fail "something was drawn"
run_rune graph "$RUNE_SOURCE_DIR/tests/cli/invalid/04-unknown-step-type.yaml" --format mermaid
expect_rc 2
expect_err "04-unknown-step-type.yaml:6:13: error: unknown step type"
end_case

test_case "bad command lines exit 2; an unwritable -o exits 1 and leaves nothing"
run_rune graph sqlite-drill --format png
expect_rc 2
expect_err '--format must be dot or mermaid, got "png"'
run_rune graph
expect_rc 2
expect_err "which runbook?"
run_rune graph sqlite-drill hello-drill
expect_rc 2
run_rune graph no-such-runbook
expect_rc 2
run_rune graph sqlite-drill -o "$T/missing/dir/x.dot"
expect_rc 1
expect_err "cannot write $T/missing/dir/x.dot"
run_rune graph --help
expect_rc 0
expect_out "usage: rune graph RUNBOOK"
run_rune --help
expect_out "graph"
end_case

finish
