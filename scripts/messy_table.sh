#!/usr/bin/env bash
# Before/after on the derived messy captures: for each edit of a sample (the
# t_messy.sh derivations, plus two capture points merged), what a twscope
# binary says -- active closer, TIME_WAIT sides, findings by kind -- against
# the sample's truth (samples/*.truth: active_closer, fin_retransmissions).
# A closer or TIME_WAIT side that differs from the truth is a confident wrong
# answer; "unknown" (or no TIME_WAIT where the truth has one) is an unknown;
# findings other than those of the clean capture count as invented.
# Only columns every schema version has are read, so old binaries compare.
# usage: scripts/messy_table.sh TWSCOPE   (prints one line per case, then totals)
set -u
tw=${1:?usage: messy_table.sh TWSCOPE}
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
ed="python3 $top/tests/lib/pcapedit.py"
q="select coalesce(c.active_closer, 'none') || '|' ||
    coalesce((select group_concat(side) from time_waits t where t.connection_id = c.id), '') || '|' ||
    coalesce((select group_concat(k, ' ') from (select kind || '=' || count(*) as k from findings f
              where f.connection_id = c.id group by kind order by kind)), '')
    from connections c order by c.id"
right=0 unknown=0 wrong=0 invented=0 n=0
run() { # NAME SAMPLE EDIT [second-file edit]
    local name=$1 s=$2 edit=$3 second=${4:-} files truth clean got
    # shellcheck disable=SC2086
    $ed "$top/samples/$s.pcap" "$work/a.pcap" $edit || return
    files=("$work/a.pcap")
    if [ -n "$second" ]; then
        # shellcheck disable=SC2086
        $ed "$top/samples/$s.pcap" "$work/b.pcap" $second || return
        files+=("$work/b.pcap")
    fi
    rm -f "$work"/x.db* "$work"/c.db*
    "$tw" analyze -q --no-dpi -o "$work/c.db" "$top/samples/$s.pcap" >/dev/null 2>&1
    "$tw" analyze -q --no-dpi -o "$work/x.db" "${files[@]}" >/dev/null 2>&1
    truth=$(sed -n 's/^active_closer=//p' "$top/samples/$s.truth")
    clean=$(sqlite3 "$work/c.db" "$q" | head -n 1)
    got=$(sqlite3 "$work/x.db" "$q" | head -n 1)
    local closer=${got%%|*} rest=${got#*|} sides fnd verdict
    sides=${rest%%|*} fnd=${rest#*|}
    n=$((n + 1))
    if [ "$closer" = unknown ] || [ -z "$sides" ]; then
        verdict=unknown; unknown=$((unknown + 1))
    elif [ "$closer" = "$truth" ] && [ "$sides" = "$truth" ]; then
        verdict=right; right=$((right + 1))
    else
        verdict=WRONG; wrong=$((wrong + 1))
    fi
    if [ "$fnd" != "${clean##*|}" ] && [ -n "$fnd" ]; then
        # more findings than the clean capture has (copies taken for retransmissions)
        local a b
        a=$(echo "$fnd" | grep -o '=[0-9]*' | tr -d = | paste -sd+ | bc)
        b=$(echo "${clean##*|}" | grep -o '=[0-9]*' | tr -d = | paste -sd+ | bc)
        [ "${a:-0}" -gt "${b:-0}" ] && { invented=$((invented + 1)); verdict="$verdict +findings"; }
    fi
    printf '%-22s %-14s %-40s %s\n' "$name" "$s" "$got" "$verdict"
}
run clean_client client_close "--drop 0"
run clean_server server_close "--drop 0"
run missed_fin1_c client_close "--drop 8"
run missed_fin1_s server_close "--drop 8"
run missed_fin2_c client_close "--drop 9"
run missed_fin2_s server_close "--drop 9"
run late_after_fin1 client_close "--from 9"
run late_after_fin1s server_close "--from 9"
run no_final_ack client_close "--drop 10"
run dup_final_ack_lost final_ack_lost "--dup"
run dup_lag_final_ack_lost final_ack_lost "--dup --dup-lag 1 --dup-delay 200"
run dup_lag2_client client_close "--dup --dup-lag 2 --dup-delay 5000"
run dup_server server_close "--dup"
run dup_rst_in_tw rst_in_tw "--dup --dup-lag 1"
run tso_keep_server server_close "--coalesce 6 --coalesce-keep --zero-csum"
run tso_keep_final_ack_lost final_ack_lost "--coalesce 4 --coalesce-keep --tso-len0 --zero-csum"
run tso_len0_snap client_close "--coalesce 4 --tso-len0 --snap 70 --zero-csum"
run vantage_client client_close "--drop 0" "--shift 40"
run vantage_final_ack final_ack_lost "--drop 0" "--shift 40"
run vantage_reuse reuse_bound "--drop 0" "--shift 40"
run vantage_late_data late_data_reuse "--drop 0" "--shift 40"
run clock_back_hour reuse_bound "--jump 11:-3600000000"
run reuse_msl_minus_1 reuse_bound "--jump 11:58799783"
run reuse_msl_plus_1 reuse_bound "--jump 11:60799783"
run only_closer_c client_close "--only client"
run only_closer_s server_close "--only server"
run only_passive_c client_close "--only server"
run only_passive_s server_close "--only client"
run only_passive_retx final_ack_lost "--only server"
run only_closer_retx final_ack_lost "--only client"
run only_rst_in_tw rst_in_tw "--only client"
run only_late server_close "--only client --from 9"
echo "cases $n: right $right, unknown $unknown, confident wrong $wrong, with invented findings $invented"
