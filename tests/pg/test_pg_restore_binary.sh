#!/usr/bin/env bash
# pg.restore loads a table in COPY's binary format when every column is of
# a type it converts (steps/pg/pgcopy_bin.c), converting the dump's text
# rows on the way. On a real PostgreSQL 15 server: every converted type
# with its edge values (NULLs, extremes, every escape COPY writes, leap days,
# infinities, fractions of every length, numerics of every scale, NaN),
# and 20,000 random rows, restore identical to the source — proven by the
# content hash of every table against the backup's manifest, and by
# comparing the tables' text with the source's; a value the converter
# does not read (a year BC) makes that table load again as text, after
# part of it was sent, and it is still identical; a table with a column
# of another type loads as text from the start; quoted column names and an
# empty table convert.
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
C="$RUNE_SOURCE_DIR/tests/pg/cases"

pg_start main
pg_createdb src
pg_psql -d src <<'SQL' || fail "setup"
\set ON_ERROR_STOP on
create table typed (
    id serial primary key, b boolean, s smallint, i integer, l bigint, t text, v varchar(12),
    c char(5), j json, jb jsonb, y bytea, d date, ts timestamp, tz timestamptz,
    n numeric, m numeric(12, 2), u uuid
);
insert into typed (b, s, i, l, t, v, c, j, jb, y, d, ts, tz, n, m, u) values
 (null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null),
 (true, -32768, -2147483648, -9223372036854775808, '', '', '', '{}', '{}', '', '0001-01-01',
  '0001-01-01 00:00:00', '0001-01-01 00:00:00+00', 0, 0, '00000000-0000-0000-0000-000000000000'),
 (false, 32767, 2147483647, 9223372036854775807, E'tab\there\nnewline\rcr\\backslash\b\f\v',
  E'a\tb', 'ab', '{"k": "q\"uote\\n", "u": "\u00e9"}', '{"z": [1, 2.50, null], "a": {"b": "\t"}}',
  '\x00ff10', '9999-12-31', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00',
  '-0.000000000000000000001', -9999999999.99, 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
 (true, 0, 0, 0, E'\\N', E'\\.', 'x', 'null', '"s"', E'\\x5c', '2000-02-29', '2000-02-29 12:00:00.5',
  '1970-01-01 00:00:00.000001+00', 123456789012345678901234567890.123456789012345678901234567890,
  0.01, '123e4567-e89b-12d3-a456-426614174000'),
 (false, 1, -1, 1, 'ünïcødé ✓ 漢字 😀', 'été', 'ÿ', '[]', '[{"x": "😀"}]', E'\\x0a0d09', '1900-03-01',
  '1900-02-28 23:59:59.12', '2024-06-30 22:15:00.1234+00', 'NaN', 10000, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'),
 (true, 2, 3, 4, 'x', 'y', 'z', '1', '2', '\x', 'infinity', 'infinity', '-infinity', 'Infinity',
  -0.5, null),
 (false, 5, 6, 7, repeat('long ', 20000), 'z', 'z', '{"deep": {"deeper": {"deepest": [[[]]]}}}',
  '{"n": 1e300}', decode(repeat('ab', 40000), 'hex'), '-infinity', '-infinity', 'infinity',
  '-Infinity', 99.9, null),
 (true, 8, 9, 10, 'a', 'b', 'c', '0', '0', '\x01', '1999-12-31', '1999-12-31 23:59:59',
  '2000-01-01 00:00:00+00', 10000.0001, 1, null),
 (true, 8, 9, 10, 'a', 'b', 'c', '0', '0', '\x01', '2000-01-01', '1600-02-29 00:00:00.1',
  '2400-02-29 00:00:00+00', 0.0001, 12.3, null);

-- random rows, deterministic
select setseed(0.7);
create table random_rows as
select g as id,
       (random() * 65535 - 32768)::int::smallint as s,
       (random() * 4e9 - 2e9)::bigint::int as i,
       ((random() - 0.5) * 9e18)::bigint as l,
       (select string_agg(chr((array[9, 10, 13, 92, 32, 65, 97, 233, 8364, 128512, 1, 127])[1 + floor(random() * 12)::int]), '')
          from generate_series(1, (random() * 30)::int) where g > 0) as t,
       timestamp '0001-01-01' + random() * (timestamp '9999-12-31' - timestamp '0001-01-01') as ts,
       timestamptz '0001-01-01 00:00:00+00' + random() * interval '3650000 days' as tz,
       date '0001-01-01' + (random() * 3652058)::int as d,
       round(((random() - 0.5) * 10 ^ (random() * 40 - 10))::numeric, (random() * 20)::int) as n,
       case when random() < 0.1 then null else random() < 0.5 end as b,
       jsonb_build_object('k', g, 'v', md5(g::text), 'f', random()) as jb,
       gen_random_uuid() as u
from generate_series(1, 20000) g;

-- a year BC, after 5,000 rows the converter reads: the table goes again, as text
create table bc (id int, d date);
insert into bc select g, date '2001-01-01' + g from generate_series(1, 5000) g;
insert into bc values (5001, '0044-03-15 BC'), (5002, '2024-01-01');

-- a column of a type not converted: text from the start
create table other (id int, f float8, iv interval, a int[]);
insert into other values (1, 1.5, '1 day 2 hours', '{1,2}'), (2, 'NaN', '-3 mons', null);

-- names quote_ident quotes, commas and quotes in them
create table "Quoted Names" ("Mixed Case" int, "a,b" text, "quo""te" date, "select" bigint);
insert into "Quoted Names" values (1, 'x,y', '2020-01-01', 2), (null, null, null, null);

create table empty_t (id int, t text, ts timestamptz);
SQL

run_rune run "$C/backup_dump.yaml" --set db=src --set to="$T/src.sql.gz"
expect_rc 0

test_case "every converted type and 20,000 random rows restore identical, in binary"
run_rune run "$C/backup_restore.yaml" --set from="$T/src.sql.gz" --set into=dst --set check=content
expect_rc 0
expect_eq "$(out restore checked)" "content"
expect_out "tables loaded (4 of 6 in COPY's binary format"
for t in typed random_rows bc other '"Quoted Names"' empty_t; do
    q="select coalesce(md5(string_agg(x::text, '|' order by x::text)), 'none') || ' ' || count(*) from $t x"
    expect_eq "$(pg_sql "$q" dst)" "$(pg_sql "$q" src)" "table $t"
done
expect_eq "$(pg_sql "select count(*) from random_rows" dst)" "20000"
end_case

test_case "a value the converter does not read: the table loads again as text, identical"
expect_out "table bc: row 5001, column 2: not a date as YYYY-MM-DD (years 1 to 9999) or infinity; loading the table as COPY text"
expect_eq "$(pg_sql "select d from bc where id = 5001" dst)" "0044-03-15 BC"
expect_eq "$(pg_sql "select count(*) from bc" dst)" "5002" "no row twice"
end_case

test_case "a backup whose every table converts: all of them in binary"
run_rune run "$C/backup_dump.yaml" --set db=src --set to="$T/two.sql.gz" --set tables='[typed, random_rows]'
expect_rc 0
run_rune run "$C/backup_restore.yaml" --set from="$T/two.sql.gz" --set into=two --set check=content
expect_rc 0
expect_out "tables loaded (all 2 in COPY's binary format)"
end_case

finish
