#!/usr/bin/env bash
# The Lua glue end to end: conditions, severity, typed values, inline steps
# with rune.run sub-events, a team step type, the sandbox, errors mapped to
# runbook lines, runaway code stopped by the step timeout.
. "$(dirname "$0")/lib.sh"
C="$RUNE_SOURCE_DIR/tests/cli/cases"

test_case "Lua conditions, severity, typed values, inline steps and a team step type"
mkdir -p "$T/d"
run_rune run "$C/lua_features.yaml" --set dir="$T/d"
expect_rc 0
id=$(last_incident)
expect_eq "$(sql "select severity from incidents where id='$id'")" "P1" "severity from a Lua expression"
expect_eq "$(sql "select status from events where incident_id='$id' and kind='incident.decision'")" "incident"
# inline step: two native primitives, both recorded as sub-events under it
expect_eq "$(sql "select group_concat(json_extract(detail_json,'$.uses')||':'||coalesce(status,'-'), ' ') from (select * from events where incident_id='$id' and step='pick' and kind like 'call.%' order by seq)")" \
    "shell.run:- shell.run:ok flow.note:- flow.note:ok" "sub-events of the inline step"
expect_eq "$(sql "select json_extract(detail_json,'$.outputs.n')||' '||json_extract(detail_json,'$.outputs.tags[1]') from events where incident_id='$id' and step='pick' and kind='step.end'")" "6 y" "inline outputs"
expect_eq "$(sql "select json_extract(detail_json,'$.message') from events where incident_id='$id' and step='pick' and kind='log'")" "picked 3"
# a whole-string ${...} keeps its type: team.double got the integer 6
expect_eq "$(sql "select json_extract(detail_json,'$.outputs.doubled') from events where incident_id='$id' and step='typed' and kind='step.end'")" "12"
expect_eq "$(sql "select json_extract(detail_json,'$.uses') from events where incident_id='$id' and step='typed' and kind='call.start'")" "shell.run" "the Lua type's own rune.run"
expect_eq "$(step_status "$id" skipped)" "skipped" "when: false recorded as skipped"
expect_eq "$(step_status "$id" mixed)" "ok"
[ -e "$T/d/a.bak" ] || fail "the inline step's rune.run did not run"
end_case

test_case "incident_if false (a Lua expression): no incident, nothing changed"
mkdir -p "$T/e"
cat > "$T/calm.yaml" <<YAML
runbook: calm
detection:
  steps:
    - { id: probe, uses: shell.run, with: { script: 'echo 1' } }
  incident_if: tonumber(steps.probe.outputs.stdout) > 5
mitigation:
  steps:
    - { id: fix, uses: shell.run, with: { argv: [touch, "$T/e/fixed"] } }
YAML
run_rune run "$T/calm.yaml"
expect_rc 0
[ ! -e "$T/e/fixed" ] || fail "mitigation ran"
expect_eq "$(sql "select outcome from incidents where id='$(last_incident)'")" "no_incident"
end_case

test_case "a team step type from lua/ next to the runbook is listed and validated"
cd "$C" && run_rune steps && cd "$T"
expect_out "team.double"
expect_out "health.wait_until"
expect_out "files.newest"
cp "$C/lua_features.yaml" "$T/copy.yaml"   # no lua/ next to this copy
run_rune validate "$T/copy.yaml"
expect_rc 2
expect_err "unknown step type \"team.double\""
mkdir -p "$T/lua"; cp "$C/lua/team_double.lua" "$T/lua/"
cat > "$T/badparam.yaml" <<'YAML'
runbook: badparam
mitigation:
  steps:
    - { id: a, uses: team.double, with: { m: 2 } }
YAML
run_rune validate "$T/badparam.yaml"
expect_rc 2
expect_err "badparam.yaml:4:43: error: step \"a\": team.double has no parameter \"m\""
expect_err "team.double needs parameter \"n\""
end_case

test_case "\$RUNE_LUA_PATH adds step types"
mkdir -p "$T/extra"
cat > "$T/extra/x.lua" <<'LUA'
return { name = "extra.hello", summary = "says hello", params = {}, outputs = {},
         run = function() return { greeting = "hello" } end }
LUA
RUNE_LUA_PATH="$T/extra" run_rune steps extra.hello
expect_rc 0
expect_out "says hello"
end_case

test_case "a Lua step type's one_of parameters are alternatives, checked by validate"
mkdir -p "$T/alt"
cat > "$T/alt/alt.lua" <<'LUA'
return { name = "alt.pick", summary = "one source or the other",
         params = { file = { type = "path", one_of = "source" },
                    url = { type = "string", one_of = "source" } },
         outputs = { from = { type = "string" } },
         run = function(p) return { from = p.file or p.url } end }
LUA
cat > "$T/alt.yaml" <<'YAML'
runbook: alt
detection:
  steps:
    - { id: a, uses: alt.pick, with: { file: /tmp/x, url: "http://x" } }
    - { id: b, uses: alt.pick, with: {} }
YAML
RUNE_LUA_PATH="$T/alt" run_rune validate "$T/alt.yaml"
expect_rc 2
expect_err "alt.yaml:4:59: error: step \"a\": alt.pick takes only one of file, url: file and url are both given"
expect_err "alt.yaml:5:38: error: step \"b\": alt.pick needs one of file, url"
RUNE_LUA_PATH="$T/alt" run_rune steps alt.pick
expect_out "(one of file, url)"
end_case

test_case "a Lua step type's choices are checked by validate and at run time, and shown by rune steps"
mkdir -p "$T/ch"
cat > "$T/ch/ch.lua" <<'LUA'
return { name = "ch.mode", summary = "a mode among a few",
         params = { mode = { type = "string", default = "fast", choices = { "fast", "safe" } } },
         outputs = { mode = { type = "string" } },
         run = function(p) return { mode = p.mode } end }
LUA
cat > "$T/ch.yaml" <<'YAML'
runbook: ch
inputs: { m: { type: string, default: safe } }
mitigation:
  steps:
    - { id: a, uses: ch.mode, with: { mode: sfae } }
    - { id: b, uses: ch.mode, with: { mode: "${inputs.m}" } }
YAML
RUNE_LUA_PATH="$T/ch" run_rune validate "$T/ch.yaml"
expect_rc 2
expect_err 'ch.yaml:5:45: error: step "a": parameter "mode": "sfae" is not one of fast or safe (did you mean "safe"?)'
sed -i 's/mode: sfae/mode: fast/' "$T/ch.yaml"
RUNE_LUA_PATH="$T/ch" run_rune run "$T/ch.yaml" --set m=slow
expect_rc 4
expect_out 'parameter "mode": "slow" is not one of fast or safe'
RUNE_LUA_PATH="$T/ch" run_rune steps ch.mode
expect_out "one of fast or safe"
cat > "$T/ch/bad.lua" <<'LUA'
return { name = "ch.bad", summary = "choices that are not words",
         params = { mode = { type = "string", choices = "fast" } },
         run = function(p) return {} end }
LUA
RUNE_LUA_PATH="$T/ch" run_rune validate "$T/ch.yaml"
expect_rc 2
expect_err "params.mode.choices: expected a list of strings"
end_case

test_case "a file made by rune.run inside a Lua step is an artifact, once; a checksum is not"
printf 'some data\n%.0s' $(seq 200) > "$T/data.txt"
cat > "$T/art.yaml" <<'YAML'
runbook: art
inputs: { file: { type: path, required: true } }
mitigation:
  steps:
    - id: pack
      lua: |
        return rune.run("file.compress", { path = inputs.file, keep = true })
    - { id: sum, uses: file.checksum, with: { path: "${inputs.file}" }, needs: [pack] }
YAML
run_rune run "$T/art.yaml" --set file="$T/data.txt"
expect_rc 0
id=$(last_incident)
expect_eq "$(sql "select count(*) || ' ' || step || ' ' || kind || ' ' || path from artifacts where incident_id='$id'")" "1 pack file.compress $T/data.txt.gz"
expect_eq "$(sql "select sha256 from artifacts where incident_id='$id'")" "$(sha256sum "$T/data.txt.gz" | cut -d' ' -f1)" "the artifact's SHA-256 is the file's"
# the report lists what the log recorded: the compressed file, with its
# stage, and not the file that was only checksummed
"$RUNE" report "$id" --format json -o "$T/art.json"
expect_eq "$(python3 -c 'import json,sys; print([(a["stage"], a["step"], a["path"]) for a in json.load(open(sys.argv[1]))["artifacts"]])' "$T/art.json")" "[('mitigation', 'pack', '$T/data.txt.gz')]" "the report's artifacts"
end_case

test_case "the sandbox refuses io, os.execute, require, binary chunks, debug, dofile, string.dump"
run_rune run "$C/lua_sandbox.yaml" --set marker="$T/escaped"
expect_rc 0
[ ! -e "$T/escaped" ] || fail "Lua code escaped the sandbox"
id=$(last_incident)
for s in io_open os_execute require_os binary_load debug_lib dofile_ string_dump; do
    expect_eq "$(step_status "$id" "$s")" "failed" "$s"
done
expect_eq "$(sql "select json_extract(detail_json,'$.error') like '%refused: attempt to load a binary chunk%' from events where incident_id='$id' and step='binary_load' and kind='step.end'")" "1" "binary chunk refused"
expect_eq "$(sql "select json_extract(detail_json,'$.error') like '%lua_sandbox.yaml:9: attempt to index a nil value (global ''io'')%' from events where incident_id='$id' and step='io_open' and kind='step.end'")" "1" "io is not there"
end_case

test_case "Lua errors name the runbook line; a runaway when: is stopped by the step timeout"
run_rune run "$C/lua_errors.yaml"
expect_rc 0
id=$(last_incident)
expect_eq "$(sql "select json_extract(detail_json,'$.error') from events where incident_id='$id' and step='bad_index' and kind='step.end'")" \
    "$C/lua_errors.yaml:10: attempt to index a nil value (local 't')"
expect_eq "$(step_status "$id" loop)" "timeout" "a when: stopped by the step timeout ends it as timeout"
expect_eq "$(sql "select json_extract(detail_json,'$.error') like '%lua_errors.yaml:14:13: timed out%' from events where incident_id='$id' and step='loop' and kind='step.end'")" "1" "loop stopped by the timeout"
expect_eq "$(sql "select json_extract(detail_json,'$.error') from events where incident_id='$id' and step='bad_value' and kind='step.end'")" \
    "$C/lua_errors.yaml:20: \${inputs_typo.x}: attempt to index a nil value (global 'inputs_typo')"
expect_eq "$(sql "select json_extract(detail_json,'$.error') from events where incident_id='$id' and step='purposely' and kind='step.end'")" "the replica is not caught up"
expect_eq "$(step_status "$id" spin)" "timeout" "a runaway inline step is stopped by its timeout"
end_case

finish
