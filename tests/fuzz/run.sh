#!/usr/bin/env bash
# run.sh -- build the libFuzzer harnesses and run each for a bounded time.
#
# usage: tests/fuzz/run.sh [SECONDS] [HARNESS...]
#   SECONDS   per harness (default 60)
#   HARNESS   fuzz_decode fuzz_engine fuzz_file fuzz_pcapng (default: all four)
# environment:
#   FUZZ_BUILD       build directory (default SOURCE/build-fuzz), configured with
#                    CC=clang -DTWSCOPE_FUZZ=ON
#   FUZZ_WORK        keep the generated corpora there across runs (default: a
#                    temporary directory, removed at the end)
#   FUZZ_ARTIFACTS   where crash inputs are saved (default FUZZ_BUILD/fuzz-artifacts)
#   TWSCOPE_CORPUS   capture corpus for the seeds (default SOURCE/../shared/corpus)
#   FUZZ_JOBS        cmake build parallelism (default 2)
#   FUZZ_SUPPRESS_KNOWN=1  skip the UBSan reports listed in known_ub.supp (bugs
#                    already reported, with a regress input) to look further
#
# Seeds (into the work directory, nothing is copied into the tree): the
# captures of SOURCE/samples and of the corpus (files with a pcap, pcapng or
# gzip magic), as files for fuzz_file (files over 256 KiB cut to their first
# 64 KiB), as frames for fuzz_decode and as segment records for fuzz_engine
# (fuzz_seeds), plus tests/fuzz/regress/HARNESS/*. fuzz_pcapng starts from the
# pcapng files among them (cut the same way), pcapng versions of samples/ made
# by editcap (microsecond and nanosecond, when editcap is installed), and the
# hand-built files of tests/fuzz/pcapng_seeds.py (every block type, both byte
# orders, the cases libpcap refuses).
# Exit: 0 no crash, 1 a harness crashed (inputs saved, paths printed), 2 usage
# or build failure. Each harness's executions count is printed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
case $secs in ''|*[!0-9]*) echo "usage: run.sh [SECONDS] [HARNESS...]" >&2; exit 2 ;; esac
harnesses=${*:-fuzz_decode fuzz_engine fuzz_file fuzz_pcapng}
build=${FUZZ_BUILD:-$src/build-fuzz}
corpus=${TWSCOPE_CORPUS:-$src/../shared/corpus}
artifacts=${FUZZ_ARTIFACTS:-$build/fuzz-artifacts}

command -v clang >/dev/null || { echo "run.sh: clang not found" >&2; exit 2; }
for h in $harnesses; do
    case $h in fuzz_decode|fuzz_engine|fuzz_file|fuzz_pcapng) ;; *) echo "run.sh: unknown harness $h" >&2; exit 2 ;; esac
done

echo "== building in $build"
CC=clang cmake -S "$src" -B "$build" -DTWSCOPE_FUZZ=ON >"$build.cmake.log" 2>&1 ||
    { cat "$build.cmake.log" >&2; exit 2; }
rm -f "$build.cmake.log"
cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target fuzz_decode fuzz_engine fuzz_file fuzz_pcapng fuzz_seeds \
    >/dev/null || { echo "run.sh: build failed" >&2; exit 2; }
bin=$build/tests/fuzz

if [ -n "${FUZZ_WORK:-}" ]; then
    work=$FUZZ_WORK
    mkdir -p "$work"
else
    work=$(mktemp -d /tmp/twscope-fuzz.XXXXXX)
    trap 'rm -rf "$work"' EXIT
fi

# Capture files among the seed sources: pcap, pcapng or gzip magic.
caps=()
for d in "$src/samples" "$corpus"; do
    [ -d "$d" ] || continue
    while IFS= read -r -d '' f; do
        m=$(head -c4 "$f" | od -An -tx1 | tr -d ' \n')
        case $m in
            a1b2c3d4|d4c3b2a1|a1b23c4d|4d3cb2a1|0a0d0d0a|1f8b*) caps+=("$f") ;;
        esac
    done < <(find "$d" -type f -print0 | sort -z)
done
echo "== ${#caps[@]} seed captures"

if [ ! -d "$work/seed_fuzz_file" ]; then
    mkdir -p "$work/seed_fuzz_file" "$work/seed_fuzz_decode" "$work/seed_fuzz_engine"
    i=0
    for f in "${caps[@]}"; do
        i=$((i + 1))
        if [ "$(stat -c %s "$f")" -gt 262144 ]; then
            head -c 65536 "$f" >"$work/seed_fuzz_file/f$i"
        else
            cp "$f" "$work/seed_fuzz_file/f$i"
        fi
    done
    "$bin/fuzz_seeds" decode "$work/seed_fuzz_decode" "${caps[@]}" || exit 2
    "$bin/fuzz_seeds" engine "$work/seed_fuzz_engine" "${caps[@]}" || exit 2
fi
if [ ! -d "$work/seed_fuzz_pcapng" ]; then
    mkdir -p "$work/seed_fuzz_pcapng"
    for f in "$work"/seed_fuzz_file/*; do
        [ "$(head -c4 "$f" | od -An -tx1 | tr -d ' \n')" = 0a0d0d0a ] && cp "$f" "$work/seed_fuzz_pcapng/"
    done
    if command -v editcap >/dev/null; then
        for f in "$src"/samples/*.pcap; do
            b=$(basename "$f" .pcap)
            editcap -F pcapng "$f" "$work/seed_fuzz_pcapng/$b.pcapng" 2>/dev/null
            editcap -F nsecpcap "$f" "$work/$b.ns.pcap" 2>/dev/null &&
                editcap -F pcapng "$work/$b.ns.pcap" "$work/seed_fuzz_pcapng/$b.ns.pcapng" 2>/dev/null
            rm -f "$work/$b.ns.pcap"
        done
    fi
    python3 "$here/pcapng_seeds.py" "$work/seed_fuzz_pcapng" || exit 2
fi

status=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
supp=
[ "${FUZZ_SUPPRESS_KNOWN:-0}" = 1 ] && supp=:suppressions=$here/known_ub.supp
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1$supp}
for h in $harnesses; do
    case $h in
        fuzz_decode) maxlen=4096 ;;
        fuzz_engine) maxlen=65536 ;;
        fuzz_file|fuzz_pcapng) maxlen=262144 ;;
    esac
    mkdir -p "$work/corpus_$h" "$artifacts/$h"
    seeds=("$work/seed_$h")
    [ -d "$here/regress/$h" ] && seeds+=("$here/regress/$h")
    log=$artifacts/$h.log
    before=$(ls "$artifacts/$h" | wc -l)
    echo "== $h: ${secs}s (log $log)"
    "$bin/$h" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 -max_len=$maxlen \
        -print_final_stats=1 -artifact_prefix="$artifacts/$h/" \
        "$work/corpus_$h" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' )
    echo "   exit $rc, ${execs:-?} executions, $cov"
    if [ $rc != 0 ] || [ "$(ls "$artifacts/$h" | wc -l)" != "$before" ]; then
        status=1
        echo "   CRASH: inputs saved:"
        ls -t "$artifacts/$h" | head -n5 | sed "s|^|     $artifacts/$h/|"
        grep -m3 -E 'ERROR: |runtime error|fuzz check failed' "$log" | sed 's/^/     /'
    fi
done
exit $status
