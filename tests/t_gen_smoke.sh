#!/usr/bin/env bash
# t_gen_smoke.sh -- the scenario generator does what it claims.
#
# usage: bash t_gen_smoke.sh TWSCOPE_BINARY SOURCE_DIR BUILD_DIR
#
# Runs tests/gen/gen.sh (with BUILD_DIR/tests/gen/tcpgen) for every scenario
# into a temporary directory, then checks each capture against its truth file
# with tshark: number of tcp.stream values, SYNs and 4-tuples, who closed
# first, the crossing FINs, the retransmitted FINs of final_ack_lost*, the
# re-sent late segments and the injected RST. twscope itself is not run.
# Exit: 0 pass, 1 fail, 77 skipped (no namespaces: not root, no ip/tcpdump/nft).
# Set GEN_SMOKE_KEEP=DIR to keep the captures in DIR.
set -u

SRC=${2:?usage: t_gen_smoke.sh TWSCOPE_BINARY SOURCE_DIR BUILD_DIR}
BUILD=${3:?usage: t_gen_smoke.sh TWSCOPE_BINARY SOURCE_DIR BUILD_DIR}
TCPGEN=$BUILD/tests/gen/tcpgen
GEN=$SRC/tests/gen/gen.sh

if [ ! -x "$TCPGEN" ]; then
    echo "t_gen_smoke: $TCPGEN not built" >&2
    exit 1
fi
if [ -n "${GEN_SMOKE_KEEP:-}" ]; then
    OUT=$GEN_SMOKE_KEEP
    mkdir -p "$OUT"
else
    OUT=$(mktemp -d /tmp/twsgen-smoke.XXXXXX)
    trap 'rm -rf "$OUT"' EXIT
fi

bash "$GEN" "$TCPGEN" "$OUT" 2>"$OUT/gen.log"
rc=$?
[ $rc = 77 ] && { echo "SKIP: $(tail -n 1 "$OUT/gen.log")"; exit 77; }
cat "$OUT/gen.log" >&2
if [ $rc != 0 ]; then
    echo "t_gen_smoke: gen.sh failed ($rc)" >&2
    exit 1
fi

FAILS=0
fail() { echo "not ok - $SCEN: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok - $SCEN: $*"; }

# get KEY: value of KEY in the current truth file ('' if absent).
get() { sed -n "s/^$1=//p" "$OUT/$SCEN.truth" | head -n1; }

# check WHAT ACTUAL WANTED: exact match.
check() {
    if [ "$2" = "$3" ]; then ok "$1 = $3"; else fail "$1: got '$2', want '$3'"; fi
}

# Files and truth keys come first: they need no tshark.
for SCEN in $(bash "$GEN" --list); do
    if [ ! -s "$OUT/$SCEN.pcap" ] || [ ! -s "$OUT/$SCEN.truth" ]; then
        fail "missing pcap or truth file"
        continue
    fi
    for key in scenario family connections tuples incarnations close_kind active_closer \
        server_port kernel attempts; do
        [ -n "$(get $key)" ] || fail "truth lacks $key"
    done
    check "truth scenario" "$(get scenario)" "$SCEN"
    size=$(wc -c < "$OUT/$SCEN.pcap")
    [ "$size" -lt 102400 ] || fail "pcap is $size bytes (>= 100 KB)"
done

. "$SRC/tests/lib/probe.sh"
if ! probe_tshark; then
    echo "PARTIAL-SKIP: capture checks with tshark ($PROBE_WHY)"
    [ $FAILS = 0 ]
    exit $?
fi

# tsv SCEN FILTER FIELD...: tab-separated fields of the TCP frames matching FILTER.
tsv() {
    local filter=$1
    shift
    local args=() f
    for f in "$@"; do args+=(-e "$f"); done
    tshark -r "$OUT/$SCEN.pcap" -Y "$filter" -T fields -E separator=/t "${args[@]}" 2>/dev/null
}
count() { tsv "$1" frame.number | grep -c .; }

for SCEN in $(bash "$GEN" --list); do
    [ -s "$OUT/$SCEN.truth" ] || continue
    port=$(get server_port)
    conns=$(get connections)
    tuples=$(get tuples)

    streams=$(get tshark_streams)
    check "tcp.stream values" "$(tsv tcp tcp.stream | sort -u | grep -c .)" "${streams:-$conns}"
    check "SYNs" "$(count "tcp.flags.syn==1 && tcp.flags.ack==0")" "$conns"
    check "client ports" "$(tsv "tcp.dstport==$port" tcp.srcport | sort -u | grep -c .)" "$tuples"
    check "IP version" "$(tsv tcp ip.version | sort -u)" "$(get family)"

    first_fin=$(tsv "tcp.flags.fin==1" tcp.srcport | head -n1)
    case "$(get close_kind)/$(get active_closer)" in
    rst/client)
        check "client RSTs" "$(count "tcp.flags.reset==1 && tcp.dstport==$port")" "$conns"
        check "FINs" "$(count "tcp.flags.fin==1")" 0
        ;;
    fin/client)
        [ "$first_fin" != "$port" ] && ok "client sends the first FIN" ||
            fail "first FIN is from port $first_fin"
        ;;
    fin/server)
        check "first FIN from" "$first_fin" "$port"
        ;;
    fin/both)
        # Crossed FINs: neither FIN acknowledges the other one.
        cfin=$(tsv "tcp.flags.fin==1 && tcp.dstport==$port" tcp.seq_raw tcp.ack_raw | head -n1)
        sfin=$(tsv "tcp.flags.fin==1 && tcp.srcport==$port" tcp.seq_raw tcp.ack_raw | head -n1)
        if [ "${sfin#*	}" = "${cfin%	*}" ] && [ "${cfin#*	}" = "${sfin%	*}" ]; then
            ok "FINs crossed (each FIN acks only the other's data)"
        else
            fail "FINs did not cross: client FIN seq/ack '$cfin', server FIN seq/ack '$sfin'"
        fi
        ;;
    rst,fin/client)
        # stale state: SYN, an ACK of a foreign number, the client's RST at that
        # number, the same SYN again, then a normal client close
        syn1=$(tsv "frame.number==1 && tcp.flags==0x002" tcp.seq_raw)
        fack=$(tsv "frame.number==2 && tcp.flags==0x010 && tcp.srcport==$port" tcp.ack_raw)
        [ -n "$syn1" ] && [ -n "$fack" ] && [ "$fack" != "$((syn1 + 1))" ] &&
            ok "the SYN is answered by an ACK of a foreign number" ||
            fail "frames 1-2 are not a SYN and a foreign ACK ('$syn1', '$fack')"
        check "RST at the foreign ACK number" "$(tsv "frame.number==3 && tcp.flags.reset==1" tcp.seq_raw)" "$fack"
        check "retried SYN, same ISN" "$(tsv "frame.number==4 && tcp.flags==0x002" tcp.seq_raw)" "$syn1"
        check "first FIN from" "$(tsv "tcp.flags.fin==1" tcp.dstport | head -n1)" "$port"
        ;;
    *) fail "unknown close_kind/active_closer $(get close_kind)/$(get active_closer)" ;;
    esac

    retx=$(get fin_retransmissions)
    if [ -n "$retx" ]; then
        n=$(count "tcp.flags.fin==1 && tcp.srcport==$port && tcp.analysis.retransmission")
        check "server FIN retransmissions" "$n" "$retx"
        [ "$n" -ge "$(get fin_retransmissions_min)" ] && [ "$n" -ge 2 ] &&
            ok "FIN retransmitted >= 2 times" || fail "only $n FIN retransmissions"
        # Client pure ACKs after the server's first FIN: all of them when the
        # drop happened behind the capture point, only the last one otherwise.
        sfin_frame=$(tsv "tcp.flags.fin==1 && tcp.srcport==$port" frame.number | head -n1)
        acks=$(count "frame.number > $sfin_frame && tcp.dstport==$port && tcp.flags==0x010")
        if [ "$(get final_ack_seen_original)" = 1 ]; then
            check "client ACKs of the FIN in capture" "$acks" "$(( $(get acks_dropped) + 1 ))"
        else
            check "client ACKs of the FIN in capture" "$acks" 1
        fi
    fi

    if [ -n "$(get late_segments)" ]; then
        seq=$(get injected_seq)
        check "copies of the late segment" \
            "$(count "tcp.srcport==$port && tcp.seq_raw==$seq && tcp.len==$(get injected_len)")" 2
        late=$(tsv "tcp.srcport==$port && tcp.seq_raw==$seq && tcp.len>0" frame.number | tail -n1)
        if [ "$(get late_segment_state)" = time_wait ]; then
            what="the last FIN"
            after=$(tsv "tcp.flags.fin==1" frame.number | tail -n1)
        else
            what="the last SYN"
            after=$(tsv "tcp.flags.syn==1 && tcp.flags.ack==0" frame.number | tail -n1)
        fi
        [ -n "$late" ] && [ "$late" -gt "$after" ] 2>/dev/null &&
            ok "late copy comes after $what" || fail "late copy not after $what"
    fi
    if [ "$(get server_rst_on_wire)" = 1 ]; then
        check "server RSTs" "$(count "tcp.flags.reset==1 && tcp.srcport==$port")" 1
    fi
    if [ -n "$(get rfc1337)" ]; then
        # RST at the client's rcv_nxt, the late copy, then the client's answer:
        # an ACK with tcp_rfc1337=1 (TIME_WAIT alive), else a RST (no socket)
        check "injected RST" "$(tsv "tcp.flags.reset==1 && tcp.srcport==$port" tcp.seq_raw | head -n1)" "$(get rst_seq)"
        last=$(tsv "tcp.dstport==$port" tcp.flags.reset tcp.flags.ack tcp.len | tail -n1)
        if [ "$(get rfc1337)" = 1 ]; then
            check "client's answer to the late copy" "$last" "0	1	0"
        else
            check "client's answer to the late copy" "$last" "1	0	0"
        fi
    fi
    if [ "$(get rst_injected)" = 1 ]; then
        last=$(tsv tcp tcp.flags.reset tcp.srcport tcp.seq_raw | tail -n1)
        check "last frame is the injected RST" "$last" "1	$port	$(get injected_seq)"
    fi
done

if [ $FAILS != 0 ]; then
    echo "t_gen_smoke: $FAILS check(s) failed (captures in $OUT)" >&2
    [ -z "${GEN_SMOKE_KEEP:-}" ] && trap - EXIT
    exit 1
fi
echo "t_gen_smoke: all checks passed"
exit 0
