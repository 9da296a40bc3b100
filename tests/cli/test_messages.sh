#!/usr/bin/env bash
# Failure messages a person can act on (issue 21, item 9): each says what
# was attempted, on what (step, path, database, table, server), what was
# seen and what to do next.
#
# The first case is a rule over the sources: no message is a bare "out of
# memory" — every allocation that can fail names what it was for. The
# others make real failures happen and read the messages rune gives.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"

err_of() {
    sql "select json_extract(detail_json,'\$.error') from events where incident_id='$(last_incident)' and step='$1' and kind='step.end'"
}

# expect_in TEXT PART... — every PART is in TEXT.
expect_in() {
    local text=$1
    shift
    for part in "$@"; do
        case "$text" in *"$part"*) ;; *) fail "lacks \"$part\": $text" ;; esac
    done
}

test_case "no message in engine/ or steps/ is a bare \"out of memory\""
# A bare message is a string literal that says only "out of memory", with
# at most a "rune COMMAND: " in front and a newline after it: "rune log: out
# of memory\n" does not say what rune was doing, or with what.
BARE='"(rune [a-z]+( [a-z]+)?: )?out of memory(\\n)?"'
sources=$(cd "$RUNE_SOURCE_DIR" && find engine steps -name "*.[ch]" | sort)
[ "$(printf '%s\n' "$sources" | grep -c '^steps/.*\.c$')" -gt 10 ] || fail "no sources found in $RUNE_SOURCE_DIR"
bare=$(cd "$RUNE_SOURCE_DIR" && grep -nE "$BARE" $sources)
[ $? -le 1 ] || fail "grep could not read the sources"
[ -z "$bare" ] || fail "bare \"out of memory\" messages (name what the memory was for, and on what):
$bare"
# the pattern itself finds what it should
for m in '"out of memory"' '"rune log: out of memory\n"' '"rune log verify: out of memory"'; do
    printf 'x = %s;\n' "$m" | grep -qE "$BARE" ||
        fail "the pattern misses $m"
done
printf 'x = "no memory for the list of backups in %%s";\n' | grep -qE "$BARE" && fail "the pattern finds a named message"
end_case

test_case "pg.ping and pg.wait_ready say which server, how long they waited and what to check"
mkdir -p "$T/nosock"
cat > "$T/ping.yaml" <<YAML
runbook: ping
targets:
  db: { kind: postgres, host: "$T/nosock", port: "5999", database: app }
mitigation:
  steps:
    - { id: ping, uses: pg.ping, on_failure: continue, with: { target: db, timeout: 2s } }
    - { id: wait, uses: pg.wait_ready, with: { target: db, timeout: 300ms, interval: 100ms } }
YAML
run_rune run "$T/ping.yaml"
expect_rc 4
msg=$(err_of ping)
expect_in "$msg" "PostgreSQL ping of database app of target db (host $T/nosock, port 5999): no_response after" \
    "(timeout 2.0s)" "is the server running, and are host and port right?"
msg=$(err_of wait)
expect_in "$msg" "PostgreSQL not ready after" "(timeout 0.3s)" \
    "database app of target db (host $T/nosock, port 5999)" "is the server running"
end_case

test_case "sqlite: a query that does not compile and a missing table name the database"
sqlite3 "$T/shop.db" "create table orders (id integer primary key); insert into orders values (1), (2);"
cat > "$T/sq.yaml" <<YAML
runbook: sq
mitigation:
  steps:
    - { id: q, uses: sqlite.query, on_failure: continue, with: { path: "$T/shop.db", sql: "select * from ordres" } }
    - { id: counts, uses: sqlite.verify_counts, on_failure: continue, with: { path: "$T/shop.db", expected: { orders: 2, ghosts: 0 } } }
YAML
run_rune run "$T/sq.yaml"
expect_rc 0
expect_eq "$(err_of q)" "the query does not compile against $T/shop.db: no such table: ordres; fix the sql"
expect_eq "$(err_of counts)" "1 table of database $T/shop.db differs from the expected counts; first: ghosts could not be counted: cannot count ghosts: no such table: ghosts (the diff output lists every table)"
end_case

test_case "a report that cannot be written says why and how to get it later"
: > "$T/not-a-dir"
cat > "$T/ok.yaml" <<'YAML'
runbook: ok
mitigation:
  steps:
    - { id: hi, uses: flow.note, with: { message: hi } }
YAML
run_rune run "$T/ok.yaml" --reports "$T/not-a-dir/reports"
expect_rc 0
id=$(last_incident)
expect_out "warning: no report written: cannot create the reports directory $T/not-a-dir/reports: Not a directory; pass --reports DIR; \`rune report $id\` writes it later from the incident log"
end_case

test_case "a rune.run call stopped by the step's timeout says what timed out and what to do"
cat > "$T/nested.yaml" <<'YAML'
runbook: nested-timeout
mitigation:
  steps:
    - id: glue
      timeout: 300ms
      lua: |
        rune.run("flow.sleep", { duration = "30s" })
YAML
run_rune run "$T/nested.yaml"
expect_rc 4
expect_in "$(err_of glue)" "flow.sleep via rune.run timed out: the step's timeout of 300ms passed" "raise the step's \`timeout:\`"
expect_no "flow.sleep timeout"
end_case

finish
