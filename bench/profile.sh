#!/usr/bin/env bash
# bench/profile.sh [TRACE] -- where twscope's instructions go, repeatably.
#
# Runs `twscope analyze` (nDPI on, as benchmarked) under valgrind's callgrind
# over TRACE (default bench/data/trace-200k.pcap, made with gen_trace if
# missing) and prints the total instruction count (Ir) and the top 15
# functions by exclusive Ir. Instruction counts do not depend on the machine's
# load, so two profiles taken before and after an optimization compare.
#
# The binary is a Release build with debug info (-O3 -DNDEBUG -g, same code as
# bench/run's build) in build-prof, so inlined code is charged to the function
# it was inlined into, as in the benchmark. The full profile stays in
# bench/data/callgrind.out for `callgrind_annotate --auto=yes` or kcachegrind.
#
# Environment: PROF_BUILD (build dir, default build-prof), TOP (default 15).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=$ROOT/bench/data
BUILD=${PROF_BUILD:-$ROOT/build-prof}
TOP=${TOP:-15}
TRACE=${1:-$DATA/trace-200k.pcap}
OUT=$DATA/callgrind.out

for t in valgrind callgrind_annotate cmake; do
    command -v $t >/dev/null || { echo "profile.sh: '$t' is missing (apt-get install valgrind cmake)" >&2; exit 1; }
done
mkdir -p "$DATA"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O3 -DNDEBUG -g" \
    >"$DATA/profile-cmake.log" 2>&1 || { cat "$DATA/profile-cmake.log" >&2; exit 1; }
cmake --build "$BUILD" -j2 --target twscope gen_trace >"$DATA/profile-build.log" 2>&1 ||
    { tail -30 "$DATA/profile-build.log" >&2; exit 1; }
if [ ! -s "$TRACE" ]; then
    echo "profile.sh: generating $TRACE" >&2
    "$BUILD/bench/gen_trace" --seed 1 --packets 200000 -o "$TRACE" 2>/dev/null
fi

# a fresh database: an old one may have another schema version
rm -f "$DATA/profile.db" "$DATA/profile.db-journal" "$DATA/profile.db-wal" "$DATA/profile.db-shm"
valgrind --tool=callgrind --callgrind-out-file="$OUT" -- \
    "$BUILD/twscope" analyze -q -o "$DATA/profile.db" --overwrite "$TRACE" 2>"$DATA/callgrind.log" ||
    { grep -v '^==' "$DATA/callgrind.log" | tail -5 >&2; tail -3 "$DATA/callgrind.log" >&2; exit 1; }

packets=$("$BUILD/twscope" query "$DATA/profile.db" sql "SELECT packets FROM captures" | tail -n1 | tr -d ' ')
# every function (threshold 100%), then: the top TOP, and the sum per object file
callgrind_annotate --inclusive=no --threshold=100 --auto=no "$OUT" 2>/dev/null | awk -v top="$TOP" -v pk="$packets" '
    BEGIN { n = 0 }
    function short(obj) { sub(/.*\//, "", obj); sub(/\.so.*/, "", obj); return obj }
    /PROGRAM TOTALS/ { t = $1; gsub(/,/, "", t); total = t + 0
                       printf "total Ir: %s (%.0f per packet, %s packets)\n\n", $1, total / pk, pk; next }
    /file:function/  { go = 1; next }
    go && /^-+$/     { next }
    go && NF == 0     { go = 0; next }
    go && NF >= 2 {
        ir = $1; gsub(/,/, "", ir); ir += 0
        line = $0; sub(/^ *[0-9,]+ */, "", line); sub(/^\([ 0-9.%]+\) */, "", line)
        obj = "other"; if (match(line, /\[[^]]*\]$/)) { obj = short(substr(line, RSTART + 1, RLENGTH - 2)); line = substr(line, 1, RSTART - 2) }
        fn = line; sub(/^.*:/, "", fn); file = line; sub(/:[^:]*$/, "", file); sub(/.*\//, "", file)
        byobj[obj] += ir
        if (n < top) { out[n] = sprintf("%14d %5.1f%%  %-12s %s (%s)", ir, 100 * ir / total, obj, fn, file); n++ }
    }
    END {
        printf "%14s %6s  %-12s %s\n", "Ir", "%", "object", "function (file)"
        for (i = 0; i < n; i++) print out[i]
        printf "\nby object:"
        for (o in byobj) if (byobj[o] / total >= 0.005) printf " %s %.1f%%;", o, 100 * byobj[o] / total
        printf "\n"
    }'
echo
echo "(full profile: $OUT; callgrind_annotate --auto=yes $OUT for source lines)"
