#!/usr/bin/env bash
# What progress reporting costs a long step: the same steps, on the same
# data, run by two rune binaries — OLD (before a step reported progress, or
# with it stubbed out) and NEW — in alternating order, RUNS rounds each.
# Prints the median of each and NEW/OLD, the ratio of medians, of the wall
# clock and of the CPU time (user + system, which a shared machine
# disturbs less); a ratio within the spread of the rounds (also printed)
# is "no measurable cost".
# Never a timed test: timings are noisy, the ratio is what is kept
# (docs/performance.md).
#
# Steps: pg.dump (jobs 2, level 6) and pg.restore (jobs 2, into a new
# database, dropped before each round) of the realistic PostgreSQL data set
# on a throw-away PostgreSQL 15 cluster (tests/pg/lib.sh), and
# sqlite.backup (level 1) and sqlite.restore of the realistic SQLite data
# set. STEPS="pg.dump" (or "sqlite.backup sqlite.restore") picks some.
# File steps: file.compress (level 1), backup.verify and file.copy of a SQL
# dump of the realistic SQLite set (STEPS="file.compress backup.verify
# file.copy"; not run by default).
#
# usage: OLD=/path/to/old/rune NEW=build/rune bench/progress-overhead.sh [SCALE] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-1}
RUNS=${2:-5}
OLD=${OLD:?set OLD to the rune binary to compare against}
NEW=${NEW:-$PWD/build/rune}
STEPS=${STEPS:-pg.dump pg.restore sqlite.backup sqlite.restore}
export RUNE_SOURCE_DIR=$PWD RUNE=$NEW
for b in "$OLD" "$NEW"; do [ -x "$b" ] || { echo "no rune binary at $b" >&2; exit 1; }; done

set +eu
. "$RUNE_SOURCE_DIR/tests/cli/lib.sh"
. "$RUNE_SOURCE_DIR/tests/pg/lib.sh"
set -eu
W=$T

# secs BIN RUNBOOK ARGS... — "WALL CPU": wall-clock seconds of one run and
# the CPU seconds (user + system) rune and its children took, which other
# work on a shared machine disturbs far less (a failure stops the
# benchmark)
secs() {
    local bin=$1
    shift
    /usr/bin/time -f '%e %U %S' -o "$W/time" "$bin" run "$@" --no-report -q >"$W/last.log" 2>&1 ||
        { echo "failed: $bin run $*" >&2; tail -20 "$W/last.log" >&2; exit 1; }
    awk '{printf "%.3f %.3f", $1, $2 + $3}' "$W/time"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
spread() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{printf "%.2f", a[NR] / a[1]}'; }

# compare NAME PREPARE RUNBOOK ARGS... — RUNS rounds of OLD and NEW,
# alternating which goes first; PREPARE (a shell command) runs before each.
# Prints the wall-clock line, then the CPU line.
compare() {
    local name=$1 prep=$2 old=() new=() oc=() nc=() i t
    shift 2
    for i in $(seq "$RUNS"); do
        if [ $((i % 2)) = 1 ]; then
            bash -c "$prep"; t=$(secs "$OLD" "$@"); old+=("${t% *}"); oc+=("${t#* }")
            bash -c "$prep"; t=$(secs "$NEW" "$@"); new+=("${t% *}"); nc+=("${t#* }")
        else
            bash -c "$prep"; t=$(secs "$NEW" "$@"); new+=("${t% *}"); nc+=("${t#* }")
            bash -c "$prep"; t=$(secs "$OLD" "$@"); old+=("${t% *}"); oc+=("${t#* }")
        fi
    done
    line "$name" old[@] new[@]
    line "  (CPU)" oc[@] nc[@]
}

# line NAME OLDS NEWS — medians, their ratio, the spread and the rounds
line() {
    local o=("${!2}") n=("${!3}") mo mn
    mo=$(median "${o[@]}")
    mn=$(median "${n[@]}")
    printf '%-16s OLD %7.2fs  NEW %7.2fs  NEW/OLD %.3f   (spread max/min: OLD %s, NEW %s; rounds: OLD %s | NEW %s)\n' \
        "$1" "$mo" "$mn" "$(awk "BEGIN{print $mn / $mo}")" "$(spread "${o[@]}")" \
        "$(spread "${n[@]}")" "${o[*]}" "${n[*]}"
}

export RUNE_LOG="$W/incidents.db"
echo "OLD: $OLD"
echo "NEW: $NEW"
echo "$(nproc) cores, $RUNS rounds each, order alternating"

case " $STEPS " in *" pg."*)
    pg_start bench
    pg_createdb app
    pg_load "$RUNE_SOURCE_DIR/tests/pg/data/realistic.sql" app -v scale="$SCALE"
    pg_sql "analyze" app >/dev/null
    [ "$_PG_ERRORS" = 0 ] || { echo "setup failed" >&2; exit 1; }
    echo "pg.dump: database app, $(($(pg_sql "select pg_database_size('app')") / 1048576)) MiB on disk"
    cat >"$W/dump.yaml" <<YAML
runbook: bench-dump
inputs: { to: { type: path, required: true } }
mitigation:
  steps:
    - { id: d, uses: pg.dump, with: { database: app, to: "\${inputs.to}", jobs: 2, level: 6, bindir: "$PG_BIN" } }
YAML
    clean_d="rm -f '$W/d.sql.gz' '$W/d.sql.gz.manifest.json'"
    case " $STEPS " in *" pg.dump "*)
        compare pg.dump "$clean_d" "$W/dump.yaml" --set to="$W/d.sql.gz" ;;
    esac
    case " $STEPS " in *" pg.restore "*)
        bash -c "$clean_d"
        "$NEW" run "$W/dump.yaml" --set to="$W/d.sql.gz" --no-report -q >/dev/null
        cat >"$W/pgrestore.yaml" <<YAML
runbook: bench-pg-restore
inputs: { from: { type: path, required: true } }
mitigation:
  steps:
    - { id: r, uses: pg.restore, with: { from: "\${inputs.from}", into: restored, jobs: 2, bindir: "$PG_BIN" } }
YAML
        compare pg.restore "PGOPTIONS='-c client_min_messages=warning' '$PG_BIN/psql' -X -q -d postgres -c 'drop database if exists restored'" \
            "$W/pgrestore.yaml" --set from="$W/d.sql.gz" ;;
    esac
    ;;
esac

case " $STEPS " in *" sqlite."*)
    sqlite3 -cmd ".parameter set @scale $SCALE" "$W/app.db" <"$RUNE_SOURCE_DIR/runbooks/data/sqlite-realistic.sql"
    sqlite3 "$W/app.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
    echo "sqlite: app.db, $(($(stat -c %s "$W/app.db") / 1048576)) MiB"
    cat >"$W/backup.yaml" <<YAML
runbook: bench-backup
inputs: { to: { type: path, required: true } }
mitigation:
  steps:
    - { id: b, uses: sqlite.backup, with: { path: "$W/app.db", to: "\${inputs.to}", level: 1 } }
YAML
    cat >"$W/restore.yaml" <<YAML
runbook: bench-restore
inputs: { from: { type: path, required: true } }
mitigation:
  steps:
    - { id: r, uses: sqlite.restore, with: { path: "$W/restored.db", from: "\${inputs.from}" } }
YAML
    clean_b="rm -f '$W/b.db.gz' '$W/b.db.gz.manifest.json'"
    case " $STEPS " in *" sqlite.backup "*)
        compare sqlite.backup "$clean_b" "$W/backup.yaml" --set to="$W/b.db.gz" ;;
    esac
    case " $STEPS " in *" sqlite.restore "*)
        bash -c "$clean_b"
        "$NEW" run "$W/backup.yaml" --set to="$W/b.db.gz" --no-report >/dev/null 2>&1
        compare sqlite.restore "rm -rf '$W/restored.db'* '$W'/.restored.db* '$W'/restored.db.*" \
            "$W/restore.yaml" --set from="$W/b.db.gz" ;;
    esac
    ;;
esac

case " $STEPS " in *" file."* | *" backup.verify "*)
    sqlite3 -cmd ".parameter set @scale $SCALE" "$W/f.db" <"$RUNE_SOURCE_DIR/runbooks/data/sqlite-realistic.sql"
    sqlite3 "$W/f.db" .dump >"$W/f.sql" && rm -f "$W/f.db"
    echo "file steps: a SQL dump of the realistic SQLite set, $(($(stat -c %s "$W/f.sql") / 1048576)) MiB"
    onestep() { # NAME STEP — a runbook of that one step; its output is ${inputs.to}
        printf 'runbook: %s\ninputs: { to: { type: path } }\nmitigation:\n  steps:\n    - %s\n' "$1" "$2" >"$W/$1.yaml"
    }
    onestep file.compress "{ id: c, uses: file.compress, with: { path: \"$W/f.sql\", to: \"\${inputs.to}\", level: 1 } }"
    onestep backup.verify "{ id: v, uses: backup.verify, with: { path: \"$W/v.sql.gz\" } }"
    onestep file.copy "{ id: p, uses: file.copy, with: { from: \"$W/f.sql\", to: \"\${inputs.to}\" } }"
    "$NEW" run "$W/file.compress.yaml" --set to="$W/v.sql.gz" --no-report -q >/dev/null
    for s in file.compress backup.verify file.copy; do
        case " $STEPS " in *" $s "*)
            compare "$s" "rm -f '$W/o.out' '$W/o.out.manifest.json'" "$W/$s.yaml" --set to="$W/o.out" ;;
        esac
    done
    ;;
esac
