#!/usr/bin/env bash
# The bundled PostgreSQL runbooks on a schema whose names need quoting: the
# fifth seed's trading tables "Order" and "Position", a table with a space,
# a schema other than public with a non-ASCII table, a dot and a quote
# inside names. Every runbook resolves, and counts and content come back.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
export RUNE_PATH="$RUNE_SOURCE_DIR/runbooks"

outcome() { sql "select outcome from incidents where id='$(last_incident)'"; }
# content DB — one hash over every row of every table: equal means the same data
content() {
    pg_sql 'select md5(string_agg(h, $$,$$ order by h)) from (
              select md5(string_agg(t::text, $$,$$ order by t::text)) h from "Order" t
              union all select md5(string_agg(t::text, $$,$$ order by t::text)) from "Position" t
              union all select md5(string_agg(t::text, $$,$$ order by t::text)) from public."my table" t
              union all select md5(string_agg(t::text, $$,$$ order by t::text)) from sales."Ünïcode" t
              union all select md5(string_agg(t::text, $$,$$ order by t::text)) from "dotted.name" t
              union all select md5(string_agg(t::text, $$,$$ order by t::text)) from "q""uote" t) x' "$1"
}

pg_start
pg_createdb trade
pg_sql '
create table "Order" (id int primary key, "Symbol" text not null, qty int);
create table "Position" (id int primary key, order_id int references "Order"(id), "Qty" int);
create table public."my table" (id int primary key, "a column" text);
create schema sales;
create table sales."Ünïcode" (id int primary key, "Prix €" numeric);
create table "dotted.name" (id int primary key, v text);
create table "q""uote" (id int primary key, v text);
insert into "Order" select g, $$SYM$$ || g, g % 7 from generate_series(1, 500) g;
insert into "Position" select g, g, g * 2 from generate_series(1, 300) g;
insert into public."my table" select g, $$row $$ || g from generate_series(1, 40) g;
insert into sales."Ünïcode" select g, g * 1.5 from generate_series(1, 25) g;
insert into "dotted.name" select g, $$d$$ || g from generate_series(1, 11) g;
insert into "q""uote" select g, $$q$$ || g from generate_series(1, 13) g;' trade >/dev/null
mkdir -p "$T/backups"
before=$(content trade)

test_case "pg-backup: every quoted table is in the manifest with its count"
run_rune run pg-backup --set database=trade --set backups="$T/backups"
expect_rc 0
expect_eq "$(out dump 'tables.Order')" "500"
expect_eq "$(out dump 'tables.Position')" "300"
expect_eq "$(out dump 'tables.my table')" "40"
expect_eq "$(out dump 'tables."sales.Ünïcode"')" "25"
expect_eq "$(out verify ok)" "1"
end_case

test_case "pg-restore-drill resolves: counts and content proven in the scratch database"
run_rune run pg-restore-drill --set database=trade --set backups="$T/backups"
expect_rc 0
expect_eq "$(outcome)" "resolved"
end_case

test_case "pg-restore resolves on damaged quoted tables, counts checked, content back"
pg_sql 'delete from "Order" where id > 400; drop table sales."Ünïcode"; update "q""uote" set v = null' trade >/dev/null
run_rune run pg-restore --set database=trade --set backups="$T/backups" --yes
expect_rc 0
expect_eq "$(outcome)" "resolved"
expect_eq "$(out counts ok)" "1"
expect_eq "$(content trade)" "$before" "restored content = backed-up content"
end_case

test_case "pg-integrity-check is clean on the quoted schema"
run_rune run pg-integrity-check --set database=trade
expect_rc 0
expect_eq "$(outcome)" "no_incident"
end_case
finish
