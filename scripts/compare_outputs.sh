#!/usr/bin/env bash
# Compare what two twscope binaries store for the same inputs, whole databases
# row for row (every column of connections, time_waits and findings, and
# captures but for its wall-clock started_at), one database per input file.
# For refactorings that must not change any answer.
#
# usage: scripts/compare_outputs.sh OLD_TWSCOPE NEW_TWSCOPE [INPUT...]
#   INPUTs are capture files or directories (every *.pcap, *.pcapng, *.gz in
#   them). Default: samples/, ../shared/corpus (when present) and, when
#   TWSCOPE_GEN_DIR is set, the generated scenarios there.
#   COMPARE_ARGS: more options for both analyze runs (e.g. "-j 2").
# Exit: 0 every input gave identical databases, 1 some differ (the first
# lines of each difference are printed), 2 usage.
set -u
old=${1:?usage: compare_outputs.sh OLD_TWSCOPE NEW_TWSCOPE [INPUT...]}
new=${2:?usage: compare_outputs.sh OLD_TWSCOPE NEW_TWSCOPE [INPUT...]}
shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
command -v sqlite3 >/dev/null || { echo "compare_outputs: needs the sqlite3 tool" >&2; exit 2; }
if [ $# = 0 ]; then
    set -- "$top/samples"
    [ -d "$top/../shared/corpus" ] && set -- "$@" "$top/../shared/corpus"
    [ -n "${TWSCOPE_GEN_DIR:-}" ] && set -- "$@" "$TWSCOPE_GEN_DIR"
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

dump() { # DB -> text
    sqlite3 -batch "$1" "
        select 'cap', source, linktype, first_ts, last_ts, packets, tcp_packets, skipped,
               skip_reasons, files, complete, error, tw_profile, dpi, bpf, ps_recv, ps_drop, evicted
          from captures order by id;
        select 'conn', * from connections order by id;
        select 'tw', * from time_waits order by id;
        select 'find', * from findings order by id;" 2>&1
}

n=0 differ=0
while IFS= read -r f; do
    n=$((n + 1))
    for v in old new; do
        rm -f "$work/$v.db"*
        bin=$old; [ $v = new ] && bin=$new
        "$bin" analyze -q ${COMPARE_ARGS:-} -o "$work/$v.db" "$f" >"$work/$v.out" 2>&1
        echo "exit $?" >>"$work/$v.out"
        { cat "$work/$v.out"; dump "$work/$v.db"; } | sed "s|$work/$v.db|DB|g" >"$work/$v.txt"
    done
    if ! cmp -s "$work/old.txt" "$work/new.txt"; then
        differ=$((differ + 1))
        echo "DIFFERS: $f"
        diff "$work/old.txt" "$work/new.txt" | head -n 8
    fi
done < <(for i in "$@"; do
             if [ -f "$i/INDEX.tsv" ]; then # the corpus: every file it lists
                 awk -F'\t' -v d="$i" 'NR > 1 {print d "/" $1}' "$i/INDEX.tsv"
             elif [ -d "$i" ]; then
                 find "$i" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.gz' \
                     -o -name '*.cap' -o -name '*.trace' -o -name '*.dmp' \) | sort
             else
                 echo "$i"
             fi
         done)
echo "compare_outputs: $n inputs, $differ differ"
[ $differ = 0 ]
