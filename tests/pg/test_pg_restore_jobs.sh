#!/usr/bin/env bash
# pg.restore's pool on a real PostgreSQL 15 server with PostgreSQL's
# default durability (fsync and synchronous_commit on): tables of very
# different sizes, primary keys, unique constraints and indexes, foreign
# keys of every shape (one and several columns, to a primary key, to a
# unique index, quoted names, self-referencing, NOT VALID, with and
# without an index of the referencing table) restore with every index and
# constraint as it was in the source, valid where it was; the biggest
# table is loaded first; a foreign key whose columns lead an index of its
# table is checked by merging indexes, not by hashing a table; and a
# restore reported done survives an immediate crash of the server (its
# loading sessions commit asynchronously: the final synchronous commit
# must cover them).
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
C="$RUNE_SOURCE_DIR/tests/pg/cases"

# The walwriter sleeps 10 s between rounds, so WAL that no commit waited
# for is still in the server's memory when it crashes right after the
# restore; auto_explain logs the plan of the query that checks a new
# foreign key.
pg_start main "fsync = on" "synchronous_commit = on" "wal_writer_delay = 10s" \
    "session_preload_libraries = 'auto_explain'" "auto_explain.log_min_duration = 0" \
    "auto_explain.log_nested_statements = on" "log_statement = 'all'"

# defs DB — every index and constraint of the public schema, with its
# definition and whether it is valid, one a line, sorted
defs() {
    pg_sql "select 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' valid=' || convalidated from pg_constraint where connamespace = 'public'::regnamespace
            union all
            select 'index ' || indexdef from pg_indexes where schemaname = 'public'
            order by 1" "$1"
}

# log_since OFFSET — the server log from byte OFFSET on
log_since() { tail -c "+$(($1 + 1))" "$PG_LOG"; }

pg_createdb shop
pg_psql -d shop <<'SQL' || fail "setup"
-- tables of very different sizes
create table customers (id int primary key, email text not null, name text);
create unique index customers_email on customers (email);
create table products (id int primary key, sku text not null, title text);
alter table products add constraint products_sku_key unique (sku);
create table orders (id bigint primary key, customer_id int not null, placed_at timestamptz not null,
                     note text);
create index orders_customer on orders (customer_id);
create table items (order_id bigint not null, line int not null, product_id int not null,
                    sku text not null, qty int not null, primary key (order_id, line));
create table shipments (order_id bigint not null, line int not null, seq int not null,
                        carrier text);
create index shipments_item on shipments (order_id, line, seq);
create table returns (order_id bigint not null, reason text);
create index returns_order_desc on returns (order_id desc);
create table notes (order_id bigint, body text);
create index notes_partial on notes (order_id) where order_id > 100;
create table remarks (order_id bigint, body text);
create index remarks_order on remarks (order_id);
-- quoted names, and a key whose index lists the columns in another order
create table "Accounts" ("AccountId" int, "Region" text, primary key ("Region", "AccountId"));
create table "Ledger" (id serial primary key, "AccountId" int not null, "Region" text not null,
                       amount numeric);
create index "Ledger_acct" on "Ledger" ("AccountId", "Region");
create table employees (id int primary key, manager_id int);
create index employees_manager on employees (manager_id);
insert into customers select g, 'c' || g || '@x.test', 'name ' || g from generate_series(1, 3000) g;
insert into products select g, 'SKU-' || g, 'product ' || g from generate_series(1, 200) g;
insert into orders select g, 1 + g % 3000, timestamptz '2024-01-01' + g * interval '1 minute',
                          repeat('note ', g % 60) from generate_series(1, 40000) g;
insert into items select o, l, 1 + (o * l) % 200, 'SKU-' || (1 + (o * l) % 200), 1 + l
                  from generate_series(1, 40000) o, generate_series(1, 2) l;
insert into shipments select order_id, line, 1, 'dhl' from items where order_id % 3 = 0;
insert into returns select g, 'broken' from generate_series(1, 40000, 7) g;
insert into notes select g, 'n' from generate_series(1, 40000, 11) g;
insert into "Accounts" select g, r from generate_series(1, 500) g, unnest(array['eu', 'us']) r;
insert into "Ledger" ("AccountId", "Region", amount) select 1 + g % 500, case when g % 2 = 0 then 'eu' else 'us' end, g from generate_series(1, 5000) g;
insert into employees select g, case when g > 1 then g / 2 end from generate_series(1, 2000) g;
alter table orders add foreign key (customer_id) references customers (id);
alter table items add foreign key (order_id) references orders (id);
alter table items add foreign key (product_id) references products (id);
alter table items add foreign key (sku) references products (sku);
alter table shipments add foreign key (order_id, line) references items (order_id, line);
alter table returns add foreign key (order_id) references orders (id) on delete cascade;
alter table notes add foreign key (order_id) references orders (id) deferrable initially deferred;
alter table "Ledger" add foreign key ("AccountId", "Region") references "Accounts" ("AccountId", "Region");
alter table employees add foreign key (manager_id) references employees (id);
-- NOT VALID: a row that breaks it stays, and so must the constraint's state
insert into remarks select g, 'r' from generate_series(1, 40000, 13) g;
insert into remarks values (999999, 'orphan');
alter table remarks add constraint remarks_order_unchecked foreign key (order_id) references orders (id) not valid;
alter table customers add constraint customers_id_positive check (id > 0);
SQL
# many small tables of different sizes, each with a key and a foreign key
for i in $(seq 1 12); do
    pg_sql "create table t$i (id int primary key, customer_id int not null references customers (id), v text);
            create index t${i}_customer on t$i (customer_id);
            insert into t$i select g, 1 + g % 3000, md5(g::text) from generate_series(1, $((i * i * 40))) g" shop >/dev/null ||
        fail "setup t$i"
done

test_case "keys, unique constraints and foreign keys of every shape restore as they were, the biggest table first"
run_rune run "$C/backup_dump.yaml" --set db=shop --set to="$T/shop.sql.gz"
expect_rc 0
from=$(wc -c <"$PG_LOG")
run_rune run "$C/backup_restore.yaml" --set from="$T/shop.sql.gz" --set into=shop2 --set check=content
expect_rc 0
expect_eq "$(out restore checked)" "content"
grep -qE "and 2[0-9] foreign keys over 2 connections" "$T/out" ||
    fail "the foreign keys were not built in the pool: $(grep -F 'foreign keys over' "$T/out")"
defs shop >"$T/defs.src"
defs shop2 >"$T/defs.dst"
[ "$(wc -l <"$T/defs.src")" -gt 50 ] || fail "too few definitions to compare: $(wc -l <"$T/defs.src")"
diff "$T/defs.src" "$T/defs.dst" >"$T/defs.diff" || fail "indexes or constraints differ: $(cat "$T/defs.diff")"
expect_eq "$(pg_sql "select convalidated from pg_constraint where conname = 'remarks_order_unchecked'" shop2)" "f" "NOT VALID stays so"
expect_eq "$(pg_sql "select count(*) from pg_constraint where contype = 'f' and not convalidated" shop2)" "1" "every other foreign key is valid"
# the loads start with the biggest table (orders: most bytes and rows);
# the two connections start their first COPY at the same time
first=$(log_since "$from" | grep -oE "@shop2 LOG:  statement: COPY public\.[a-zA-Z0-9_\"]+" | head -2)
grep -q "COPY public.orders$" <<<"$first" || fail "the biggest table is not among the first loads: $first"
# the check of a foreign key whose columns lead an index of its table
# merges that index with the referenced key's, never hashes a table
plans=$(log_since "$from" | grep -A 12 -E 'Query Text: SELECT fk\."order_id" FROM ONLY "public"\."items" fk LEFT OUTER JOIN ONLY "public"\."orders"')
[ -n "$plans" ] || fail "no plan logged for the check of items.order_id"
grep -q "Hash" <<<"$plans" && fail "items.order_id was checked with a hash join: $plans"
grep -q "Merge Anti Join" <<<"$plans" || fail "items.order_id was not checked by a merge: $plans"
plans=$(log_since "$from" | grep -A 12 -E 'Query Text: SELECT fk\."order_id", fk\."line" FROM ONLY "public"\."shipments"')
[ -n "$plans" ] || fail "no plan logged for the check of shipments (order_id, line)"
grep -q "Hash" <<<"$plans" && fail "shipments (order_id, line) was checked with a hash join: $plans"
end_case

test_case "a restore reported done survives an immediate crash of the server"
pg_createdb plain
pg_psql -d plain <<'SQL' || fail "setup"
create table parents (id int primary key, name text not null unique);
create table children (parent_id int not null references parents (id), n int not null, v text,
                       primary key (parent_id, n));
create table solo (id bigint primary key, body text);
insert into parents select g, 'p' || g from generate_series(1, 5000) g;
insert into children select 1 + g % 5000, g, md5(g::text) from generate_series(1, 30000) g;
insert into solo select g, repeat('x', g % 50) from generate_series(1, 20000) g;
create index children_v on children (v);
SQL
run_rune run "$C/backup_dump.yaml" --set db=plain --set to="$T/plain.sql.gz"
expect_rc 0
run_rune run "$C/backup_restore.yaml" --set from="$T/plain.sql.gz" --set into=plain2
expect_rc 0
pg_crash
pg_restart
defs plain >"$T/pdefs.src"
defs plain2 >"$T/pdefs.dst" || fail "the restored database is gone after the crash"
diff "$T/pdefs.src" "$T/pdefs.dst" >"$T/pdefs.diff" || fail "after the crash, indexes or constraints differ: $(cat "$T/pdefs.diff")"
cat >"$T/compare.yaml" <<YAML
runbook: compare-with-backup
mitigation:
  steps:
    - { id: compare, uses: pg.compare, with: { database: plain2, manifest: "$T/plain.sql.gz" } }
YAML
run_rune run "$T/compare.yaml"
expect_rc 0
expect_eq "$(out compare ok)" "1" "the contents are the backup's after the crash"
end_case

finish
