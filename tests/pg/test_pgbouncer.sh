#!/usr/bin/env bash
# pg.* steps and the bundled pg-health-check and pg-backup through a real
# pgBouncer in transaction pooling mode, reached through libpq's
# environment as today: rune's session settings (UTC, ISO dates, exact
# floats, hex bytea …) hold in every transaction, even where each
# transaction gets another server connection, and nothing rune sets stays
# behind on the pool's server connections for the application's next
# transaction.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib_pgbouncer.sh"
export RUNE_PATH="$RUNE_SOURCE_DIR/runbooks"

status() { sql "select status from events where incident_id='$(last_incident)' and step='$1' and kind in ('step.end','step.skip') order by rowid desc limit 1"; }
outcome() { sql "select outcome from incidents where id='$(last_incident)'"; }

pg_start
pg_createdb shop
pg_load "$RUNE_SOURCE_DIR/tests/pg/data/realistic.sql" shop -v scale=0.01
# the database's own defaults differ from every setting rune relies on
pg_psql -d postgres <<'SQL' >/dev/null || fail "setting shop's defaults"
alter database shop set extra_float_digits = 0;
alter database shop set IntervalStyle = 'iso_8601';
alter database shop set bytea_output = 'escape';
alter database shop set DateStyle = 'SQL, DMY';
alter database shop set TimeZone = 'America/New_York';
alter database shop set client_min_messages = 'notice';
alter database shop set statement_timeout = '5min';
SQL
# what an application sees on a server connection of the pool
DEFAULTS="0|iso_8601|escape|SQL, DMY|America/New_York|notice|5min|on|on|off"
APP_VIEW="select concat_ws('|', current_setting('extra_float_digits'), current_setting('IntervalStyle'),
  current_setting('bytea_output'), current_setting('DateStyle'), current_setting('TimeZone'),
  current_setting('client_min_messages'), current_setting('statement_timeout'),
  current_setting('enable_indexscan'), current_setting('enable_bitmapscan'),
  current_setting('default_transaction_read_only'))"
pgb_start
expect_eq "$(pgb_sql "$APP_VIEW" shop)" "$DEFAULTS" "an application's view before rune"

cat >"$T/values.yaml" <<'EOF'
runbook: values
mitigation:
  steps:
    - id: q
      uses: pg.query
      with:
        database: shop
        sql: >-
          select (0.1::float8 + 0.2::float8)::text as f, interval '1 day 2 hours'::text as i,
                 '\x01ff'::bytea::text as b, timestamptz '2026-01-02 03:04:05+00'::text as t,
                 date '2026-01-02'::text as d
    - id: fp
      uses: pg.fingerprint
      with: { database: shop }
EOF
VALUES='0.30000000000000004|1 day 02:00:00|\x01ff|2026-01-02 03:04:05+00|2026-01-02'
values_of() {
    local f
    for f in f i b t d; do printf '%s%s' "$(out q "rows[0].$f")" "$([ $f = d ] || echo '|')"; done
}

test_case "direct: rune's session settings, whatever the database's defaults"
run_rune run "$T/values.yaml"
expect_rc 0
expect_eq "$(values_of)" "$VALUES" "values"
direct_fp=$(out fp fingerprint)
[ -n "$direct_fp" ] || fail "no fingerprint"
end_case

test_case "through pgBouncer resetting every server connection: the settings hold in each transaction"
# a pool that cleans each server connection after every transaction: any
# setting made for the session is gone by the next transaction
pgb_admin "SET server_reset_query = 'DISCARD ALL'" >/dev/null || fail "admin SET"
pgb_admin "SET server_reset_query_always = 1" >/dev/null || fail "admin SET"
pgb_env
run_rune run "$T/values.yaml"
expect_rc 0
expect_eq "$(values_of)" "$VALUES" "values through the pooler"
expect_eq "$(out fp fingerprint)" "$direct_fp" "fingerprint through the pooler"
pgb_admin "SET server_reset_query_always = 0" >/dev/null || fail "admin SET"
end_case

test_case "pg-health-check through pgBouncer in transaction mode"
before=$(pgb_show_field STATS shop total_xact_count)
run_rune run pg-health-check --set database=shop
expect_rc 0
expect_eq "$(outcome)" no_incident "outcome"
for s in reachable vitals integrity; do expect_eq "$(status $s)" ok "$s"; done
expect_eq "$(out integrity ok)" 1 "integrity"
[ "$(out vitals 'rows[0].bytes')" -gt 0 ] 2>/dev/null || fail "no size"
after=$(pgb_show_field STATS shop total_xact_count)
[ "$after" -gt "$before" ] 2>/dev/null || fail "no transaction went through pgBouncer ($before → $after)"
end_case

test_case "nothing rune set stays behind on the pool's server connections"
servers=$(pgb_each_server shop "$APP_VIEW")
[ -n "$servers" ] || fail "no server connection to look at"
while read -r line; do
    expect_eq "$line" "$DEFAULTS" "a server connection after rune"
done <<<"$servers"
end_case

test_case "pg-backup through pgBouncer: a verified backup of what the server holds"
mkdir -p "$T/backups"
run_rune run pg-backup --set database=shop --set backups="$T/backups"
expect_rc 0
for s in reachable dump verify prune; do expect_eq "$(status $s)" ok "$s"; done
bk=$(out dump path)
[ -s "$bk" ] || fail "no backup at $bk"
pgb_env_off
# the backup's per-table hashes against the database read directly
cat >"$T/compare.yaml" <<EOF
runbook: compare
mitigation:
  steps:
    - { id: cmp, uses: pg.compare, with: { database: shop, manifest: "$bk" } }
EOF
run_rune run "$T/compare.yaml"
expect_rc 0
expect_eq "$(out cmp ok)" 1 "backup taken through pgBouncer equals the database"
end_case

finish
