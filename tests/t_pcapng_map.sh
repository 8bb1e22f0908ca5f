#!/usr/bin/env bash
# t_pcapng_map.sh -- the mapped pcapng reader (src/capture_pcapng.c) stores
# exactly what libpcap's reading stores: for every pcapng file of the corpus
# (../shared/corpus, files with the pcapng magic) and for pcapng versions of
# samples/ made by editcap (microsecond and nanosecond resolution, several
# interfaces from mergecap, a file cut in its last block, interfaces of two
# link types), `twscope analyze` is run twice, once as is and once with
# TWSCOPE_NO_MAP=1 (every file left to libpcap), and the exit code, stderr
# and every row of the database (captures but its wall-clock started_at,
# files.error, connections, time_waits, findings) must be identical.
# With strace present, each run without TWSCOPE_NO_MAP must really have
# mapped the file (capture_map_try() accepts a mapping with an
# madvise(MADV_SEQUENTIAL) of the whole file; a refused one is only mmapped
# and unmapped), or the comparison proves nothing.
#
# Usage: t_pcapng_map.sh TWSCOPE SOURCE_DIR BUILD_DIR     (exit 77 = skipped)
set -u
tw=$1 src=$2
corpus=${TWSCOPE_CORPUS:-$src/../shared/corpus}
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
command -v editcap >/dev/null || { echo "SKIP: editcap (wireshark-common) missing"; exit 77; }
work=$(mktemp -d /tmp/twscope-pcapng.XXXXXX); trap 'rm -rf "$work"' EXIT
have_strace=1
command -v strace >/dev/null || { have_strace=0; echo "PARTIAL-SKIP: strace missing: not checking that the files were mapped"; }
# strace needs ptrace; a container may forbid it
[ $have_strace = 1 ] && ! strace -o /dev/null true 2>/dev/null &&
    { have_strace=0; echo "PARTIAL-SKIP: strace cannot trace here: not checking that the files were mapped"; }

dump() { # DB -> text
    sqlite3 -batch "$1" "
        select 'cap', source, linktype, first_ts, last_ts, packets, tcp_packets, skipped,
               skip_reasons, files, complete, error, tw_profile, dpi, bpf, ps_recv, ps_drop, evicted
          from captures order by id;
        select 'file', * from files;
        select 'conn', * from connections order by id;
        select 'tw', * from time_waits order by id;
        select 'find', * from findings order by id;" 2>&1
}

fails=0 n=0 mapped=0
# check FILE WANT_MAPPED(1/0) [ANALYZE ARGS...]
check() {
    local f=$1 want=$2 size v
    shift 2
    n=$((n + 1))
    size=$(stat -c %s "$f")
    for v in lib map; do
        rm -f "$work/$v.db"*
        if [ $v = lib ]; then
            TWSCOPE_NO_MAP=1 "$tw" analyze -q -o "$work/$v.db" "$@" "$f" >"$work/$v.out" 2>&1
        else
            "$tw" analyze -q -o "$work/$v.db" "$@" "$f" >"$work/$v.out" 2>&1
        fi
        echo "exit $?" >>"$work/$v.out"
        { cat "$work/$v.out"; dump "$work/$v.db"; } | sed "s|$work/$v.db|DB|g" >"$work/$v.txt"
    done
    if ! cmp -s "$work/lib.txt" "$work/map.txt"; then
        fails=$((fails + 1))
        echo "not ok - $f: mapped and libpcap results differ"
        diff "$work/lib.txt" "$work/map.txt" | head -n 10
        return
    fi
    if [ $have_strace = 1 ]; then
        # a run of its own: LeakSanitizer (sanitizer builds) cannot work under ptrace
        rm -f "$work/st.db"*
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -e trace=madvise \
            -o "$work/trace" "$tw" analyze -q -o "$work/st.db" "$@" "$f" >/dev/null 2>&1
        if grep -qE "madvise\(0x[0-9a-f]+, $size, MADV_SEQUENTIAL\)" "$work/trace"; then
            mapped=$((mapped + 1))
            [ "$want" = 1 ] || { fails=$((fails + 1)); echo "not ok - $f: mapped, expected libpcap"; return; }
        elif [ "$want" = 1 ]; then
            fails=$((fails + 1)); echo "not ok - $f: not mapped (read by libpcap)"; return
        fi
    fi
    echo "ok - $f ($(grep -c '^conn' "$work/map.txt") connections, $(tail -n1 "$work/map.out"))"
}

# ---- samples/ as pcapng, several ways ----
g=$work/gen
mkdir -p "$g"
for s in "$src"/samples/*.pcap; do
    b=$(basename "$s" .pcap)
    editcap -F pcapng "$s" "$g/$b.pcapng"
    check "$g/$b.pcapng" 1
    # nanosecond resolution (if_tsresol 9): through a nanosecond pcap
    editcap -F nsecpcap "$s" "$g/$b.ns.pcap" && editcap -F pcapng "$g/$b.ns.pcap" "$g/$b.ns.pcapng"
    check "$g/$b.ns.pcapng" 1
done
# several interfaces of one link type (mergecap keeps one IDB per input file)
mergecap -F pcapng -w "$g/merged.pcapng" "$src"/samples/client_close.pcap "$g/server_close.ns.pcapng" \
    "$src"/samples/rst_in_tw.pcap
check "$g/merged.pcapng" 1
check "$g/merged.pcapng" 1 --filter "tcp port 80"
# cut in its last block: both must stop at the same frame with the same error
size=$(stat -c %s "$g/merged.pcapng")
head -c $((size - 37)) "$g/merged.pcapng" >"$g/cut.pcapng"
check "$g/cut.pcapng" 1
# a second interface of another link type: libpcap 1.10 ends the file there
if editcap -F pcapng -T rawip "$src/samples/v6_reuse_bound.pcap" "$g/v6raw.pcapng" 2>/dev/null &&
    editcap -F pcapng -C 14 -T rawip6 "$src/samples/v6_reuse_bound.pcap" "$g/v6raw6.pcapng" 2>/dev/null; then
    mergecap -F pcapng -w "$g/twolinks.pcapng" "$src/samples/client_close.pcap" "$g/v6raw.pcapng"
    check "$g/twolinks.pcapng" 1
    grep -q "different from the type of the first interface" "$work/map.out" ||
        { fails=$((fails + 1)); echo "not ok - twolinks.pcapng: no link-type error: $(head -c 200 "$work/map.out")"; }
else
    echo "PARTIAL-SKIP: editcap cannot make raw-IP pcapng here: two link types not tested"
fi
# gzip-compressed pcapng is not mapped (libpcap reads it in both runs)
gzip -c "$g/client_close.pcapng" >"$g/client_close.pcapng.gz"
check "$g/client_close.pcapng.gz" 0

# ---- the corpus ----
if [ ! -f "$corpus/INDEX.tsv" ]; then
    echo "PARTIAL-SKIP: corpus not found at $corpus (set TWSCOPE_CORPUS): samples only"
else
    while IFS=$'\t' read -r path _; do
        [ "$path" = path ] && continue
        f=$corpus/$path
        [ -f "$f" ] || continue
        [ "$(head -c4 "$f" | od -An -tx1 | tr -d ' \n')" = 0a0d0d0a ] || continue
        check "$f" 1 --no-dpi
    done <"$corpus/INDEX.tsv"
fi

echo "t_pcapng_map: $n files, $fails failures${have_strace:+, $mapped mapped}"
[ "$fails" = 0 ]
