#!/usr/bin/env bash
# t_fuzz_regress.sh -- replay every input the fuzzers ever crashed on
# (tests/fuzz/regress/HARNESS/*) in the normal build.
#
# usage: bash t_fuzz_regress.sh TWSCOPE_BINARY SOURCE_DIR BUILD_DIR   (77 = skipped)
#
#  - fuzz_file inputs are capture files: `twscope analyze` must exit 0 or 1
#    (never a signal or sanitizer abort), print at most one stderr line (naming
#    the file when it fails), and leave a database that passes
#    PRAGMA integrity_check when it made one;
#  - every input is also run through its harness (fuzz_decode.c,
#    fuzz_engine.c, fuzz_file.c with the checks of fuzz_common.h, and
#    fuzz_pcapng.c, the mapped pcapng reader against libpcap, which also
#    replays the hand-built files of tests/fuzz/pcapng_seeds.py), compiled
#    here with tests/fuzz/replay_main.c against BUILD_DIR/libtwscope_core.a with
#    the build's compiler and sanitizer flags: it must not abort.
# tests/fuzz/regress/KNOWN lists inputs of bugs not fixed yet ("HARNESS/NAME
# reason"): their failures are reported as XFAIL, not counted; when one passes
# it is reported as XPASS so the line can be removed.
# Skipped (77) when there is no regression input.
set -u
tw=$(realpath "${1:?usage: t_fuzz_regress.sh TWSCOPE SOURCE_DIR BUILD_DIR}")
src=$(realpath "${2:?usage: t_fuzz_regress.sh TWSCOPE SOURCE_DIR BUILD_DIR}")
build=$(realpath "${3:?usage: t_fuzz_regress.sh TWSCOPE SOURCE_DIR BUILD_DIR}")
reg=$src/tests/fuzz/regress
known=$reg/KNOWN
shopt -s nullglob
inputs=("$reg"/fuzz_decode/* "$reg"/fuzz_engine/* "$reg"/fuzz_file/* "$reg"/fuzz_pcapng/*)
[ ${#inputs[@]} -gt 0 ] || { echo "SKIP: no regression inputs under $reg"; exit 77; }
work=$(mktemp -d /tmp/twscope-fuzzreg.XXXXXX)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

fails=0 xfails=0 n=0
cache=$build/CMakeCache.txt
sanitized=0
case $(sed -n 's/^TWSCOPE_SANITIZE:BOOL=//p' "$cache" 2>/dev/null) in ON|on|1|TRUE|true|YES|yes) sanitized=1 ;; esac
# is_known "HARNESS/NAME what": listed in KNOWN (first word of a line)?
is_known() { [ -f "$known" ] && awk -v id="${1%% *}" '$1 == id {f = 1} END {exit !f}' "$known"; }
# verdict ID OK(0/1) MESSAGE
verdict() {
    n=$((n + 1))
    if [ "$2" = 0 ]; then
        if ! is_known "$1"; then
            echo "ok - $1"
        elif [ "$sanitized" = 1 ]; then
            echo "XPASS - $1: passes now (remove it from regress/KNOWN)"
        else
            echo "ok - $1 (listed in regress/KNOWN; without sanitizers the bug can be silent)"
        fi
    elif is_known "$1"; then
        echo "XFAIL - $1: $3"
        xfails=$((xfails + 1))
    else
        echo "not ok - $1: $3"
        fails=$((fails + 1))
    fi
}

# ---- capture files through the real command line ----
for f in "$reg"/fuzz_file/* "$reg"/fuzz_pcapng/*; do
    id=$(basename "$(dirname "$f")")/$(basename "$f")
    rm -f "$work"/db*
    "$tw" analyze -q -o "$work/db" "$f" >"$work/out" 2>"$work/err"
    rc=$? why=
    lines=$(wc -l <"$work/err")
    if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
        why="exit $rc: $(grep -m2 -E 'ERROR|runtime error|Assertion' "$work/err" | head -c 300)"
    elif [ "$lines" -gt 1 ]; then
        why="$lines stderr lines: $(head -c 300 "$work/err")"
    elif [ "$rc" = 1 ] && ! grep -qF "$f" "$work/err"; then
        why="error does not name the file: $(head -c 300 "$work/err")"
    elif [ -s "$work/db" ] && command -v sqlite3 >/dev/null &&
        [ "$(sqlite3 "$work/db" 'PRAGMA integrity_check' 2>&1)" != ok ]; then
        why="database fails integrity_check"
    fi
    verdict "$id analyze" "$([ -z "$why" ] && echo 0 || echo 1)" "$why"
done

# ---- every input through its harness ----
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache" 2>/dev/null)
cflags=(-std=c11 -D_GNU_SOURCE -g -I"$src/include" -I"$src/src" -I"$src/tests/fuzz")
[ "$sanitized" = 1 ] && cflags+=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
libs=$(pkg-config --libs libpcap libndpi sqlite3 zlib 2>/dev/null)
if [ -z "$cc" ] || [ ! -f "$build/libtwscope_core.a" ] || [ -z "$libs" ]; then
    echo "PARTIAL-SKIP: harness replay: no compiler, core library or pkg-config information in $build"
else
    mkdir -p "$work/ngseeds"
    command -v python3 >/dev/null && python3 "$src/tests/fuzz/pcapng_seeds.py" "$work/ngseeds"
    for h in fuzz_decode fuzz_engine fuzz_file fuzz_pcapng; do
        files=("$reg/$h"/*)
        [ $h = fuzz_pcapng ] && files+=("$work"/ngseeds/*)
        [ ${#files[@]} -gt 0 ] || continue
        if ! "$cc" "${cflags[@]}" -o "$work/$h" "$src/tests/fuzz/$h.c" "$src/tests/fuzz/replay_main.c" \
            "$build/libtwscope_core.a" $libs -lm -lpthread 2>"$work/$h.cc"; then
            echo "not ok - $h: replay harness does not compile: $(head -c 400 "$work/$h.cc")"
            fails=$((fails + 1))
            continue
        fi
        for f in "${files[@]}"; do
            "$work/$h" "$f" >/dev/null 2>"$work/err"
            rc=$?
            verdict "$h/$(basename "$f") harness" "$([ "$rc" = 0 ] && echo 0 || echo 1)" \
                "exit $rc: $(grep -m2 -E 'ERROR|runtime error|fuzz check failed' "$work/err" | head -c 300)"
        done
    done
fi

echo "t_fuzz_regress: $n checks, $fails failures, $xfails known failures (XFAIL)"
[ "$fails" = 0 ]
