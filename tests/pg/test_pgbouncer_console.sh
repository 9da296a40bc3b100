#!/usr/bin/env bash
# The pgbouncer target kind and pgbouncer.* against a real pgBouncer in
# transaction pooling mode: show returns the pools as maps; pause makes a
# new transaction through the pool wait (seen waiting in pgBouncer and
# absent from the server) until resume; a pause that cannot finish in time
# is undone; a wrong admin password fails clearly and is masked
# everywhere; pg-restore pauses its pool and resumes it, also when its
# rollback runs.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_pgbouncer.sh"
export RUNE_PATH="$RUNE_SOURCE_DIR/runbooks"

status() { sql "select status from events where incident_id='$(last_incident)' and step='$1' and kind in ('step.end','step.skip') order by rowid desc limit 1"; }
outcome() { sql "select outcome from incidents where id='$(last_incident)'"; }

# wait_until DESCRIPTION CMD... — CMD until it succeeds, 30 s at most.
wait_until() {
    local what=$1 i
    shift
    for ((i = 0; i < 300; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    fail "waited 30s for $what"
    return 1
}

pg_start
pg_createdb shop
pg_load "$RUNE_SOURCE_DIR/tests/pg/data/realistic.sql" shop -v scale=0.01
pgb_start --db shop
export PGB_PW=$PGB_ADMIN_PASSWORD

# console.yaml: one step of pgbouncer.* given as STEP and WITH (YAML flow)
console() {
    cat >"$T/console.yaml" <<EOF
runbook: console
secrets:
  pw: { env: PGB_PW }
targets:
  bouncer: { kind: pgbouncer, port: "$PGB_PORT", user: $PGB_ADMIN_USER, password: "\${secrets.pw}" }
mitigation:
  steps:
    - id: s
      uses: $1
      with: { target: bouncer${2:+, $2} }
EOF
    run_rune run "$T/console.yaml"
}

# said TEXT — the run said TEXT (console or error output)
said() {
    grep -qF -- "$1" "$T/out" "$T/err" || fail "the run did not say: $1"
}

# everything rune wrote for the last run, to look for a password in
everything() {
    cat "$T/out" "$T/err"
    sqlite3 "$RUNE_LOG" .dump
    cat "$T"/reports/* 2>/dev/null
}

test_case "pgbouncer.show: pools, clients, servers and stats as lists of maps"
pgb_sql "select 1" shop >/dev/null || fail "a query through pgBouncer"
console pgbouncer.show "what: pools, database: shop"
expect_rc 0
expect_eq "$(out s count)" 1 "pools of shop"
expect_eq "$(out s 'rows[0].database')" shop "pool's database"
expect_eq "$(out s 'rows[0].pool_mode')" transaction "pool mode"
expect_eq "$(out s "rows[0].cl_waiting")" 0 "cl_waiting"
expect_eq "$(sql "select json_type(detail_json, '\$.outputs.rows[0].sv_idle') from events
                  where incident_id='$(last_incident)' and step='s' and kind='step.end'")" integer \
    "counts are integers"
console pgbouncer.show "what: stats"
expect_rc 0
[ "$(out s count)" -ge 2 ] || fail "stats of $(out s count) databases"
console pgbouncer.show "what: servers, database: shop"
expect_rc 0
[ "$(out s count)" -ge 1 ] || fail "no server connection of shop"
expect_eq "$(out s 'rows[0].type')" S "a server row"
console pgbouncer.show "what: clients"
expect_rc 0
expect_eq "$(out s 'rows[0].user')" "$PGB_ADMIN_USER" "the console's own client"
everything | grep -qF -- "$PGB_ADMIN_PASSWORD" && fail "the admin password was written somewhere"
end_case

test_case "pgbouncer.pause: a new transaction through the pool waits until pgbouncer.resume"
console pgbouncer.pause "database: shop"
expect_rc 0
expect_eq "$(out s paused)" 1 "paused output"
expect_eq "$(pgb_paused shop)" 1 "SHOW DATABASES' paused flag"
marker="rune-pause-probe-$RANDOM"
pgb_sql "select '$marker'" shop >"$T/client.out" 2>&1 &
client=$!
waiting() { [ "$(pgb_show_field POOLS shop cl_waiting)" = 1 ]; }
wait_until "the client to wait in pgBouncer" waiting
proc_alive "$client" || fail "the client finished while the pool was paused"
[ -s "$T/client.out" ] && fail "the client got an answer while paused: $(cat "$T/client.out")"
expect_eq "$(pg_sql "select count(*) from pg_stat_activity where query like '%$marker%' and pid <> pg_backend_pid()")" \
    0 "the query on the server while paused"
console pgbouncer.resume "database: shop"
expect_rc 0
expect_eq "$(out s done)" 1 "resumed"
wait "$client"
expect_eq "$?" 0 "the client's exit"
expect_eq "$(cat "$T/client.out")" "$marker" "the client's answer after resume"
expect_eq "$(pgb_paused shop)" 0 "paused flag after resume"
end_case

test_case "a pause that cannot finish within its wait is undone and fails"
mkfifo "$T/holder.in"
pgb_psql -d shop <"$T/holder.in" >/dev/null 2>&1 &
holder=$!
exec 7>"$T/holder.in"
echo "begin; select 1;" >&7
active() { [ "$(pgb_show_field POOLS shop sv_active)" = 1 ]; }
wait_until "the holder's transaction" active
console pgbouncer.pause "database: shop, wait: 1s"
expect_rc 4
said "PAUSE \"shop\" did not finish within 1s"
said "the pause was undone (RESUME)"
expect_eq "$(pgb_paused shop)" 0 "paused flag after the failed pause"
expect_eq "$(pgb_sql "select 'open'" shop)" open "a new query after the failed pause"
echo "commit;" >&7
exec 7>&-
wait "$holder"
end_case

test_case "resume of a pool that is not paused, and reconnect"
console pgbouncer.resume "database: shop"
expect_rc 0
expect_eq "$(out s done)" 0 "nothing to resume"
expect_out "shop was not paused"
console pgbouncer.reconnect "database: shop"
expect_rc 0
expect_eq "$(out s done)" 1 "reconnect"
expect_eq "$(pgb_sql "select 'after reconnect'" shop)" "after reconnect" "a query after reconnect"
end_case

test_case "a wrong admin password fails with a clear message and is masked everywhere"
wrong="Wr0ng-adm1n-$RANDOM$RANDOM"
PGB_PW=$wrong console pgbouncer.show "what: pools"
expect_rc 4
said "cannot reach the pgBouncer console 127.0.0.1:$PGB_PORT as $PGB_ADMIN_USER (target bouncer)"
said "authentication failed"
said "password: \"\${secrets.NAME}\""
everything | grep -qF -- "$wrong" && fail "the wrong password was written somewhere"
end_case

# ---- pg-restore behind pgBouncer ----
mkdir -p "$T/backups"
run_rune run pg-backup --set database=shop --set backups="$T/backups"
[ "$RC" = 0 ] || fail "the backup to restore from failed: $(tail -5 "$T/err")"
restore_args=(--yes --set database=shop --set backups="$T/backups" --set pgbouncer_host=127.0.0.1
              --set pgbouncer_port="$PGB_PORT" --set pgbouncer_user="$PGB_ADMIN_USER")
export PGBOUNCER_PASSWORD=$PGB_ADMIN_PASSWORD

test_case "pg-restore pauses the database's pool for the restore and resumes it"
run_rune run pg-restore "${restore_args[@]}"
expect_rc 0
expect_eq "$(outcome)" resolved "outcome"
for s in pause_pool pool_state kick restore counts resume_pool; do expect_eq "$(status $s)" ok "$s"; done
expect_eq "$(out pool_state 'rows[0].name')" shop "the pool recorded"
expect_eq "$(out pool_state 'rows[0].paused')" 1 "the pool was paused as the restore started"
expect_eq "$(pgb_sql "select count(*) from customers" shop)" 400 "the restored data through the pool"
expect_eq "$(pgb_paused shop)" 0 "paused flag after the run"
everything | grep -qF -- "$PGB_ADMIN_PASSWORD" && fail "the admin password was written somewhere"
end_case

test_case "pg-restore whose validation fails: its rollback resumes the pool too"
run_rune run pg-restore "${restore_args[@]}" --set validate_sql="select false"
expect_eq "$(outcome)" rolled_back "outcome"
for s in resume_pool pause_again put_back resume_after; do expect_eq "$(status $s)" ok "$s"; done
expect_eq "$(pgb_sql "select count(*) from customers" shop)" 400 "the data through the pool"
expect_eq "$(pgb_paused shop)" 0 "paused flag after the rollback"
end_case

test_case "pg-restore without pgbouncer_host touches no pool"
run_rune run pg-restore --yes --set database=shop --set backups="$T/backups"
expect_rc 0
for s in pause_pool pool_state resume_pool; do expect_eq "$(status $s)" skipped "$s"; done
end_case

finish
