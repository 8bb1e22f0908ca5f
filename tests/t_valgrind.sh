#!/usr/bin/env bash
# t_valgrind.sh -- end-to-end runs under valgrind memcheck: no invalid access,
# no uninitialised use, no definite or indirect leak (nDPI keeps still-reachable
# globals: those do not count).
#
# usage: bash t_valgrind.sh TWSCOPE_BINARY SOURCE_DIR BUILD_DIR   (77 = skipped)
#
# Runs, each under
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
#            --error-exitcode=99
#  1. analyze with nDPI: a generated capture (40 connections), samples/*.pcap,
#     and from the shared corpus (when present) a gzip file, a capture with FIN
#     retransmissions and one with 17 reuses of a 4-tuple, merged into one run;
#  2. analyze --no-dpi --max-flows 2 of the generated capture (evictions);
#  3. analyze of a gzip capture cut in the middle (the error path, exit 1);
#  4. query summary, and query findings --format json, of the database of 1.
# A sanitizer build (TWSCOPE_SANITIZE=ON) cannot run under valgrind: skipped.
set -u
tw=$(realpath "${1:?usage: t_valgrind.sh TWSCOPE SOURCE_DIR BUILD_DIR}")
src=$(realpath "${2:?usage: t_valgrind.sh TWSCOPE SOURCE_DIR BUILD_DIR}")
build=${3:-}
command -v valgrind >/dev/null || { echo "SKIP: valgrind not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
if nm -an "$tw" 2>/dev/null | grep -q '__asan_init'; then
    echo "SKIP: $tw is built with AddressSanitizer (TWSCOPE_SANITIZE=ON); valgrind cannot run it"
    exit 77
fi
corpus=${TWSCOPE_CORPUS:-$src/../shared/corpus}
work=$(mktemp -d /tmp/twscope-valgrind.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

fails=0
vg() { # NAME WANT_RC ARGS...
    local name=$1 want=$2 rc
    shift 2
    valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
        --show-leak-kinds=definite,indirect --track-origins=yes --num-callers=30 \
        --log-file="$name.vg" "$tw" "$@" >"$name.out" 2>"$name.err"
    rc=$?
    if [ "$rc" = 99 ]; then
        echo "not ok - $name: valgrind found errors:"
        grep -E '^==[0-9]+== ' "$name.vg" | sed -n '/ERROR SUMMARY/p;/Invalid\|uninitialised\|definitely lost\|indirectly lost\|at 0x\|by 0x/p' | head -n 40
        fails=$((fails + 1))
    elif [ "$rc" != "$want" ]; then
        echo "not ok - $name: exit $rc, want $want: $(head -c 300 "$name.err")"
        fails=$((fails + 1))
    else
        echo "ok - $name: $(grep -E 'ERROR SUMMARY' "$name.vg" | sed 's/^==[0-9]*== //')"
    fi
}

python3 "$src/tests/malformed/mkcap.py" valid gen.pcap 40 || exit 1
inputs=(gen.pcap)
for f in "$src"/samples/*.pcap; do [ -f "$f" ] && inputs+=("$f"); done
for f in tcptrace/fast_reuse.dmp.gz zeek/tcp/fin_retransmission.pcap nDPI/KakaoTalk_chat.pcap; do
    [ -f "$corpus/$f" ] && inputs+=("$corpus/$f")
done
echo "# inputs: ${inputs[*]}"

vg analyze_dpi 0 analyze -q -o run.db "${inputs[@]}"
vg analyze_evict 0 analyze -q --no-dpi --max-flows 2 -o evict.db gen.pcap
python3 -c 'import gzip,sys; d = gzip.compress(open(sys.argv[1],"rb").read()); sys.stdout.buffer.write(d[:len(d)//2])' gen.pcap >cut.pcap.gz
vg analyze_gzip_cut 1 analyze -q -o cut.db cut.pcap.gz
vg query_summary 0 query run.db summary
vg query_findings_json 0 query run.db findings --format json
grep -q connections query_summary.out || { echo "not ok - query summary printed nothing useful"; fails=$((fails + 1)); }

echo "t_valgrind: $fails failures"
[ "$fails" = 0 ]
