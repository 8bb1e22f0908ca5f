#!/usr/bin/env bash
# Agreement with tshark on the public corpus (../shared/corpus):
#  1. the number of TCP connections equals tshark's number of tcp.stream values;
#  2. every FIN tshark flags as tcp.analysis.retransmission is a fin_retransmission
#     (or, after the TIME_WAIT period or a reuse, a late_segment carrying that FIN);
#  3. every tshark stream that starts with tcp.analysis.reused_ports starts a new
#     incarnation (prev_connection_id set) at the same frame.
# Every known difference is listed, with its reason, in tests/corpus/expected_diffs.tsv;
# an unlisted difference, or a listed one that no longer happens, fails the test.
# Files that are not captures, or are cut short, must fail with exit 1 and keep
# what was read (captures.complete = 0) -- they are listed there too.
# Usage: t_corpus.sh TWSCOPE SOURCE_DIR BUILD_DIR     (exit 77 = skipped)
set -u
tw=$1 src=$2 build=$3
corpus=${TWSCOPE_CORPUS:-$src/../shared/corpus}
if [ ! -f "$corpus/INDEX.tsv" ]; then
    echo "SKIP: corpus not found at $corpus (set TWSCOPE_CORPUS)"; exit 77
fi
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
. "$src/tests/lib/probe.sh"
have_tshark=1
probe_tshark || { have_tshark=0; echo "PARTIAL-SKIP: tshark agreement ($PROBE_WHY): counts compared with INDEX.tsv only"; }
expect=$src/tests/corpus/expected_diffs.tsv
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0 files=0 same=0 listed=0

lookup() { # path field -> value from expected_diffs.tsv (fields: path ours tshark fin_missing reuse_missing exit reason)
    awk -F'\t' -v p="$1" -v f="$2" '$1==p {print $f; exit}' "$expect"
}
while IFS=$'\t' read -r path _ _ _ _ _ streams _; do
    [ "$path" = path ] && continue
    f=$corpus/$path
    [ -f "$f" ] || continue
    files=$((files + 1))
    db=$work/c.db; rm -f "$db"*
    "$tw" analyze -q --no-dpi -o "$db" "$f" >"$work/out" 2>&1; rc=$?
    ours=$(sqlite3 "$db" "select count(*) from connections" 2>/dev/null || echo none)
    if [ "$have_tshark" = 1 ]; then
        tshark -r "$f" -T fields -e frame.number -e tcp.stream -e tcp.flags.fin \
            -e tcp.analysis.retransmission -e tcp.analysis.reused_ports >"$work/ts" 2>/dev/null
        theirs=$(awk -F'\t' '$2!="" {s[$2]=1} END {print length(s)}' "$work/ts")
        tfin=$(awk -F'\t' '$3=="1" && $4!="" {print $1}' "$work/ts" | sort -n | tr '\n' ' ')
        # reused_ports frames that are the first frame of their stream
        treuse=$(awk -F'\t' '$2!="" && !($2 in seen) {seen[$2]=1; if ($5!="") print $1}' "$work/ts" | sort -n | tr '\n' ' ')
        ofin=$(sqlite3 "$db" "select frame from findings where kind='fin_retransmission' or (kind='late_segment' and (flags & 1)) order by frame" 2>/dev/null | tr '\n' ' ')
        oreuse=$(sqlite3 "$db" "select first_frame from connections where prev_connection_id is not null order by first_frame" 2>/dev/null | tr '\n' ' ')
        finmiss=$(comm -23 <(tr ' ' '\n' <<<"$tfin" | grep . | sort) <(tr ' ' '\n' <<<"$ofin" | grep . | sort) | sort -n | tr '\n' ',' | sed 's/,$//')
        remiss=$(comm -23 <(tr ' ' '\n' <<<"$treuse" | grep . | sort) <(tr ' ' '\n' <<<"$oreuse" | grep . | sort) | sort -n | tr '\n' ',' | sed 's/,$//')
    else
        theirs=$streams finmiss= remiss=
    fi
    e_ours=$(lookup "$path" 2) e_ts=$(lookup "$path" 3) e_fin=$(lookup "$path" 4) e_re=$(lookup "$path" 5) e_rc=$(lookup "$path" 6)
    [ -n "$(lookup "$path" 7)" ] && listed=$((listed + 1))
    want_ours=${e_ours:-$theirs} want_ts=${e_ts:-$theirs} want_rc=${e_rc:-0}
    [ "$e_fin" = "-" ] && e_fin=; [ "$e_re" = "-" ] && e_re=
    bad=
    [ "$rc" = "$want_rc" ] || bad="$bad exit=$rc(want $want_rc: $(head -c 200 "$work/out"))"
    [ "$ours" = "$want_ours" ] || bad="$bad connections=$ours(want $want_ours)"
    [ "$theirs" = "$want_ts" ] || bad="$bad tshark_streams=$theirs(listed $want_ts)"
    if [ "$have_tshark" = 1 ]; then
        [ "$finmiss" = "$e_fin" ] || bad="$bad fin_retransmissions_missed=[$finmiss](listed [$e_fin])"
        [ "$remiss" = "$e_re" ] || bad="$bad reuses_missed=[$remiss](listed [$e_re])"
    fi
    if [ "$rc" != 0 ]; then
        c=$(sqlite3 "$db" "select complete from captures" 2>/dev/null)
        [ -z "$c" ] || [ "$c" = 0 ] || bad="$bad capture_marked_complete_after_error"
    fi
    if [ -n "$bad" ]; then echo "FAIL $path:$bad"; fail=1; else same=$((same + 1)); fi
done <"$corpus/INDEX.tsv"

# The same 4-tuple on several VLANs merges into one connection with --ignore-vlan.
v=$corpus/zeek/vlan-collisions.pcap
if [ -f "$v" ]; then
    rm -f "$work/v.db"*
    "$tw" analyze -q --no-dpi --ignore-vlan -o "$work/v.db" "$v" >/dev/null 2>&1
    n=$(sqlite3 "$work/v.db" "select count(*) from connections")
    [ "$n" = 1 ] || { echo "FAIL --ignore-vlan on vlan-collisions: $n connections, want 1"; fail=1; }
fi
echo "corpus: $files files, $same as expected ($listed with listed differences)"
exit $fail
