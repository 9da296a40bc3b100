# bench/lib.sh — what every bench script uses to time and compare.
# Source it after setting W (the bench's private work directory).

# median X... — the median of the numbers.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# ratio A B — A ÷ B to two places.
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }

# spread X... — the largest ÷ the smallest: how noisy the rounds were.
spread() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{printf "%.2f", a[NR] / a[1]}'; }

# wall_secs CMD — runs CMD with bash, its output in $W/last.log, and prints
# its wall-clock seconds. A command that fails stops the bench with its
# last lines: a failed run timed as a fast one would be a lie.
wall_secs() {
    local t0 t1
    t0=$(date +%s.%N)
    bash -c "$1" >"$W/last.log" 2>&1 || { echo "failed: $1" >&2; tail -20 "$W/last.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    awk "BEGIN{printf \"%.3f\", $t1 - $t0}"
}
