#!/usr/bin/env bash
# gen.sh -- make TCP teardown / TIME_WAIT captures with the real Linux stack.
#
# usage: gen.sh TCPGEN_BINARY OUTDIR [SCENARIO...]     (no SCENARIO = all)
#        gen.sh --list
#
# For each scenario: two fresh network namespaces (client side A, server
# side B) joined by a veth pair, 10.77.0.1/24 + fd77::1/64 in A and
# 10.77.0.2/24 + fd77::2/64 in B. tcpdump captures on A's veth into
# OUTDIR/SCENARIO.pcap (and with GEN_BOTH_ENDS=1 on B's too, into
# OUTDIR/SCENARIO.server.pcap: a second capture point) while tcpgen plays the scenario; OUTDIR/SCENARIO.truth
# then holds what the generator knows about it, one key=value per line (see
# tests/gen/README.md for the keys). The counts in the truth file come from what
# tcpgen did and from the kernels' own state (ss TIME_WAIT tables, the TCP
# RetransSegs counter, nft rule counters), never from parsing the capture.
#
# Each scenario is checked against its expectations (for example: the client
# holds one TIME_WAIT socket after client_close) and retried up to 3 times
# (simultaneous_close: up to 10) when a check fails; nothing waits out the 60 s
# TIME_WAIT. Namespaces are always removed on exit.
#
# Exit: 0 all scenarios made, 1 a scenario failed, 2 usage, 77 cannot run
# here (not root, no ip/tcpdump/ss/nft, namespaces unavailable).
set -u

ALL_SCENARIOS="client_close server_close rst_close many_short reuse_bound
simultaneous_close final_ack_lost final_ack_lost_after late_data_tw
late_data_tw_killed late_data_reuse rst_in_tw v6_client_close v6_reuse_bound
v6_rst_in_tw stale_state rst_in_tw_1337 rst_in_tw_probe"

if [ "${1:-}" = "--list" ]; then
    echo $ALL_SCENARIOS
    exit 0
fi
if [ $# -lt 2 ]; then
    echo "usage: gen.sh TCPGEN_BINARY OUTDIR [SCENARIO...]" >&2
    exit 2
fi
TCPGEN=$(readlink -f "$1")
OUTDIR=$2
shift 2
SCENARIOS=${*:-$ALL_SCENARIOS}

skip() { echo "gen.sh: skipped: $*" >&2; exit 77; }
die() { echo "gen.sh: $*" >&2; exit 1; }
log() { echo "gen.sh: $*" >&2; }

for s in $SCENARIOS; do
    case " $(echo $ALL_SCENARIOS) " in
    *" $s "*) ;;
    *) echo "gen.sh: unknown scenario '$s' (try --list)" >&2; exit 2 ;;
    esac
done
[ -x "$TCPGEN" ] || die "tcpgen binary '$TCPGEN' not found"
# shellcheck source=../lib/probe.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/probe.sh"
need=ss
case " $SCENARIOS " in
*final_ack_lost*|*late_data_tw*|*rst_in_tw_1337*) need="ss nft" ;;
esac
probe_netns $need || skip "$PROBE_WHY"

mkdir -p "$OUTDIR" || die "cannot create $OUTDIR"
OUTDIR=$(readlink -f "$OUTDIR")
WORK=$(mktemp -d /tmp/twsgen.XXXXXX) || die "mktemp failed"
NSA=twsA$$
NSB=twsB$$
IFA=twsA                       # veth end in namespace A (client, captured)
IFB=twsB                       # veth end in namespace B (server)
MACA=02:77:00:00:00:01
MACB=02:77:00:00:00:02
PORT=8080
BIND_PORT=40000
KERNEL=$(uname -r)
CAP_PID=
BG_PIDS=
SERVER_PIN=
CLIENT_PIN=

cleanup() {
    local p
    for p in $BG_PIDS $CAP_PID; do
        kill "$p" 2>/dev/null
    done
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

inA() { ip netns exec "$NSA" "$@"; }
inB() { ip netns exec "$NSB" "$@"; }

# ------------------------------------------------------------ namespaces --

ns_setup() {
    ip netns add "$NSA" 2>/dev/null || return 1
    ip netns add "$NSB" 2>/dev/null || return 1
    # No router solicitation / DAD / repeated MLD report noise on the new
    # link: the one MLD report sent on address assignment precedes the capture.
    for ns in "$NSA" "$NSB"; do
        ip netns exec "$ns" sh -c '
            echo 0 > /proc/sys/net/ipv6/conf/default/router_solicitations
            echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
            echo 0 > /proc/sys/net/ipv6/conf/default/dad_transmits
            echo 1 > /proc/sys/net/ipv6/mld_qrv
            echo 1 > /proc/sys/net/ipv6/conf/default/mldv2_unsolicited_report_interval
            echo 1 > /proc/sys/net/ipv6/conf/default/mldv1_unsolicited_report_interval' 2>/dev/null
    done
    ip link add "$IFA" netns "$NSA" address $MACA type veth \
        peer name "$IFB" netns "$NSB" address $MACB || return 1
    inA ip addr add 10.77.0.1/24 dev "$IFA" || return 1
    inB ip addr add 10.77.0.2/24 dev "$IFB" || return 1
    inA ip -6 addr add fd77::1/64 dev "$IFA" nodad || return 1
    inB ip -6 addr add fd77::2/64 dev "$IFB" nodad || return 1
    inA ip link set lo up && inB ip link set lo up || return 1
    inA ip link set "$IFA" up && inB ip link set "$IFB" up || return 1
    # Static neighbours: no ARP / neighbour discovery in the captures.
    inA ip neigh replace 10.77.0.2 lladdr $MACB nud permanent dev "$IFA"
    inB ip neigh replace 10.77.0.1 lladdr $MACA nud permanent dev "$IFB"
    inA ip -6 neigh replace fd77::2 lladdr $MACB nud permanent dev "$IFA"
    inB ip -6 neigh replace fd77::1 lladdr $MACA nud permanent dev "$IFB"
    # Wait for carrier (linkwatch may take up to 1 s) and the link-local
    # addresses, so that their MLD reports go out before the capture starts.
    local i
    for ((i = 0; i < 150; i++)); do
        inA ip -6 addr show dev "$IFA" scope link 2>/dev/null | grep -q fe80 &&
            inB ip -6 addr show dev "$IFB" scope link 2>/dev/null | grep -q fe80 && break
        sleep 0.02
    done
    sleep 0.05
    # Real checksums in the capture (veth offloads them by default).
    inA "$TCPGEN" offload-off --ifname "$IFA" >/dev/null || log "warning: TX csum offload stays on"
    inB "$TCPGEN" offload-off --ifname "$IFB" >/dev/null || log "warning: TX csum offload stays on"
    return 0
}

ns_teardown() {
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
}

# --------------------------------------------------------------- helpers --

# wait_line FILE REGEX SECONDS: wait until a line of FILE matches.
wait_line() {
    local i n=$(( $3 * 50 ))
    for ((i = 0; i < n; i++)); do
        grep -Eq -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.02
    done
    log "timeout waiting for /$2/ in $(basename "$1")"
    return 1
}

# field FILE EVENT KEY: value of KEY on the first "event=EVENT" line of FILE.
field() {
    grep -E "event=$2( |\$)" "$1" | head -n1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}

truth() { echo "$1=$2" >> "$WORK/truth"; }

# expect WHAT ACTUAL OP WANTED   (OP: -eq -ge -le)
expect() {
    if ! test "$2" "$3" "$4" 2>/dev/null; then
        log "$SCEN: expected $1 $3 $4, got '$2'"
        return 1
    fi
    return 0
}

# Start the server in B in the background; waits until it listens.
server_start() {
    timeout 60 $SERVER_PIN ip netns exec "$NSB" "$TCPGEN" server --addr "$SADDR" --port $PORT \
        "$@" > "$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    BG_PIDS="$BG_PIDS $SERVER_PID"
    wait_line "$WORK/server.log" 'event=listening' 5 && return 0
    sed 's/^/    server: /' "$WORK/server.log" >&2
    return 1
}

client_start() {
    timeout 60 $CLIENT_PIN ip netns exec "$NSA" "$TCPGEN" client --addr "$SADDR" --port $PORT \
        "$@" > "$WORK/client.log" 2>&1 &
    CLIENT_PID=$!
    BG_PIDS="$BG_PIDS $CLIENT_PID"
}

# Wait for a background tcpgen; report its log on failure.
reap() {
    local pid=$1 name=$2
    if ! wait "$pid"; then
        log "$SCEN: $name failed:"
        sed 's/^/    /' "$WORK/$name.log" >&2
        return 1
    fi
}

client_run() { client_start "$@"; reap $CLIENT_PID client; }

# tw_count NS: TIME_WAIT sockets involving the server port in namespace NS.
tw_count() {
    ip netns exec "$1" ss -Htan state time-wait "( sport = :$PORT or dport = :$PORT )" |
        grep -c .
}

# Sockets of the server port in a given state in NS (e.g. last-ack).
state_count() {
    ip netns exec "$1" ss -Htan state "$2" "( sport = :$PORT or dport = :$PORT )" |
        grep -c .
}

retrans_segs() {
    ip netns exec "$1" awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 }
                                   else print $c["RetransSegs"] }' /proc/net/snmp
}

lports() { sed -n 's/.*event=connected .*lport=\([0-9]*\).*/\1/p' "$WORK/client.log"; }

inject() {
    ip netns exec "$NSB" "$TCPGEN" inject --from-pcap "$PCAP_TMP" "$@" \
        > "$WORK/inject.log" 2>&1 || { sed 's/^/    /' "$WORK/inject.log" >&2; return 1; }
    cat "$WORK/inject.log" >> "$WORK/events.log"
}

common_truth() {
    truth scenario "$SCEN"
    truth family "$FAMILY"
    truth client_addr "$CADDR"
    truth server_addr "$SADDR"
    truth server_port $PORT
    truth kernel "$KERNEL"
}

# nft_drop NS HOOK MATCH: drop (and count) what MATCH selects in NS's HOOK.
nft_drop() {
    ip netns exec "$1" nft -f - <<EOF
table inet twsgen {
    chain c {
        type filter hook $2 priority 0; policy accept;
        $3 counter drop
    }
}
EOF
}
nft_dropped() {
    ip netns exec "$1" nft list chain inet twsgen c | sed -n 's/.*packets \([0-9]*\).*/\1/p'
}
nft_clear() { ip netns exec "$1" nft delete table inet twsgen; }

# --------------------------------------------------------------- capture --

capture_start() {
    : > "$WORK/tcpdump.err"
    ip netns exec "$NSA" tcpdump -i "$IFA" -s 0 -B 32768 -U --immediate-mode -n -Z root -w "$PCAP_TMP" \
        2> "$WORK/tcpdump.err" &
    CAP_PID=$!
    wait_line "$WORK/tcpdump.err" 'listening on' 5 || return 1
    if [ -n "${GEN_BOTH_ENDS:-}" ]; then
        # the same run seen at a second capture point: B's end of the veth
        : > "$WORK/tcpdump_b.err"
        ip netns exec "$NSB" tcpdump -i "$IFB" -s 0 -B 32768 -U --immediate-mode -n -Z root \
            -w "$PCAP_TMP.b" 2> "$WORK/tcpdump_b.err" &
        CAP_PID_B=$!
        wait_line "$WORK/tcpdump_b.err" 'listening on' 5 || return 1
    fi
    sleep 0.1
}

capture_stop() {
    [ -n "$CAP_PID" ] || return 0
    sleep 0.3                  # let the last segments reach the file
    if [ -n "${CAP_PID_B:-}" ]; then
        kill -INT "$CAP_PID_B" 2>/dev/null
        wait "$CAP_PID_B" 2>/dev/null
        CAP_PID_B=
    fi
    kill -INT "$CAP_PID" 2>/dev/null
    local i
    for ((i = 0; i < 250; i++)); do
        kill -0 "$CAP_PID" 2>/dev/null || break
        sleep 0.02
    done
    if kill -0 "$CAP_PID" 2>/dev/null; then
        log "$SCEN: tcpdump ignores SIGINT, killing it"
        kill -KILL "$CAP_PID" 2>/dev/null
        wait "$CAP_PID" 2>/dev/null
        CAP_PID=
        return 1
    fi
    wait "$CAP_PID" 2>/dev/null
    CAP_PID=
    if grep -Eq '[1-9][0-9]* packets? dropped by kernel' "$WORK/tcpdump.err"; then
        log "$SCEN: tcpdump dropped packets"
        return 1
    fi
    return 0
}

# ------------------------------------------------------------- scenarios --
# Each returns 0 when the run did what it claims (truth written), 1 if not.

sc_client_close() {
    server_start --mode wait-close || return 1
    client_run --mode close-first || return 1
    reap $SERVER_PID server || return 1
    sleep 0.2
    local twc twsv
    twc=$(tw_count "$NSA"); twsv=$(tw_count "$NSB")
    expect tw_client "$twc" -eq 1 && expect tw_server "$twsv" -eq 0 || return 1
    truth connections 1; truth tuples 1; truth incarnations 1
    truth close_kind fin; truth active_closer client
    truth client_port "$(lports)"
    truth tw_client "$twc"; truth tw_server "$twsv"
}

sc_server_close() {
    server_start --mode close-first || return 1
    client_run --mode wait-close || return 1
    reap $SERVER_PID server || return 1
    sleep 0.2
    local twc twsv
    twc=$(tw_count "$NSA"); twsv=$(tw_count "$NSB")
    expect tw_client "$twc" -eq 0 && expect tw_server "$twsv" -eq 1 || return 1
    truth connections 1; truth tuples 1; truth incarnations 1
    truth close_kind fin; truth active_closer server
    truth client_port "$(lports)"
    truth tw_client "$twc"; truth tw_server "$twsv"
}

sc_rst_close() {
    server_start --mode wait-close || return 1
    client_run --mode rst || return 1
    reap $SERVER_PID server || return 1
    grep -q 'event=peer_rst' "$WORK/server.log" || { log "server saw no RST"; return 1; }
    sleep 0.2
    local twc twsv
    twc=$(tw_count "$NSA"); twsv=$(tw_count "$NSB")
    expect tw_client "$twc" -eq 0 && expect tw_server "$twsv" -eq 0 || return 1
    truth connections 1; truth tuples 1; truth incarnations 1
    truth close_kind rst; truth active_closer client; truth rst_from client
    truth client_port "$(lports)"
    truth tw_client "$twc"; truth tw_server "$twsv"
}

sc_many_short() {
    local n=20
    server_start --mode wait-close --count $n || return 1
    client_run --mode close-first --count $n || return 1
    reap $SERVER_PID server || return 1
    sleep 0.2
    local twc twsv distinct
    twc=$(tw_count "$NSA"); twsv=$(tw_count "$NSB")
    distinct=$(lports | sort -u | grep -c .)
    expect distinct_ports "$distinct" -eq $n && expect tw_client "$twc" -eq $n &&
        expect tw_server "$twsv" -eq 0 || return 1
    truth connections $n; truth tuples $n; truth incarnations 1
    truth close_kind fin; truth active_closer client
    truth client_ports "$(lports | paste -sd, -)"
    truth tw_client "$twc"; truth tw_server "$twsv"
}

# N incarnations of one 4-tuple: the server closes first each time, so its
# TIME_WAIT socket is recycled by the client's next SYN from the same port.
reuse_bound_common() {
    local n=$1
    server_start --mode close-first --count $n || return 1
    client_run --mode wait-close --count $n --bind-port $BIND_PORT --gap-ms 200 || return 1
    reap $SERVER_PID server || return 1
    sleep 0.2
    local twc twsv distinct
    twc=$(tw_count "$NSA"); twsv=$(tw_count "$NSB")
    distinct=$(lports | sort -u | tr '\n' ' ')
    expect connections "$(lports | grep -c .)" -eq $n &&
        expect client_port "${distinct% }" -eq $BIND_PORT &&
        expect tw_server "$twsv" -eq 1 && expect tw_client "$twc" -eq 0 || return 1
    truth connections $n; truth tuples 1; truth incarnations $n
    truth close_kind fin; truth active_closer server
    truth client_port $BIND_PORT
    truth tw_client "$twc"; truth tw_server "$twsv"
}

sc_reuse_bound() { reuse_bound_common 3; }
sc_v6_rst_in_tw() { sc_rst_in_tw; }
sc_v6_reuse_bound() { reuse_bound_common 3; }
sc_v6_client_close() { sc_client_close; }

# usable_cpus N: the first N CPU ids this process may run on (fewer if there
# are not that many, none without taskset).
usable_cpus() {
    command -v taskset >/dev/null 2>&1 || return 0
    local c found=0
    for ((c = 0; c < 256 && found < $1; c++)); do
        if taskset -c $c true 2>/dev/null; then
            echo $c
            found=$((found + 1))
        fi
    done
}

# Both sides shutdown(SHUT_WR) at the same CLOCK_REALTIME instant, each
# pinned to its own CPU (unpinned, only ~1 run in 4 crosses; pinned, ~19 in
# 20). The FINs crossed exactly when both kernels end up holding a TIME_WAIT
# socket (a passive closer goes LAST_ACK -> CLOSED instead); otherwise retry,
# and on the last attempt record what happened.
sc_simultaneous_close() {
    local at=$(( $(date +%s%3N) + 600 )) cpu1='' cpu2=''
    read -r cpu1 cpu2 <<< "$(usable_cpus 2 | tr '\n' ' ')"
    if [ -n "$cpu2" ]; then
        SERVER_PIN="taskset -c $cpu1"; CLIENT_PIN="taskset -c $cpu2"
    fi
    server_start --mode shutdown-at --at-ms $at || return 1
    client_run --mode shutdown-at --at-ms $at || return 1
    SERVER_PIN=; CLIENT_PIN=
    reap $SERVER_PID server || return 1
    sleep 0.2
    local twc twsv closer
    twc=$(tw_count "$NSA"); twsv=$(tw_count "$NSB")
    if [ "$twc" = 1 ] && [ "$twsv" = 1 ]; then
        closer=both
    elif [ "$ATTEMPT" -lt "$MAX_ATTEMPTS" ]; then
        log "$SCEN: FINs did not cross (tw_client=$twc tw_server=$twsv), retrying"
        return 1
    elif [ "$twc" = 1 ] && [ "$twsv" = 0 ]; then
        closer=client
    elif [ "$twc" = 0 ] && [ "$twsv" = 1 ]; then
        closer=server
    else
        log "$SCEN: unexpected TIME_WAIT counts $twc/$twsv"
        return 1
    fi
    truth connections 1; truth tuples 1; truth incarnations 1
    truth close_kind fin; truth active_closer $closer
    truth simultaneous "$([ $closer = both ] && echo 1 || echo 0)"
    truth client_port "$(lports)"
    truth tw_client "$twc"; truth tw_server "$twsv"
}

# The client closes first; its final ACK (and the re-ACKs of the server's
# retransmitted FINs) are dropped for 2 s by nftables, either in A's output
# hook (never reaches the veth: not in the capture) or in B's input hook
# (crosses the captured veth, then lost: in the capture).
final_ack_lost_common() {
    local where=$1 ns hook
    if [ "$where" = A ]; then ns=$NSA; hook=output; else ns=$NSB; hook=input; fi
    server_start --mode wait-close --close-delay-ms 1000 || return 1
    client_start --mode close-first
    wait_line "$WORK/client.log" 'event=closed' 10 || return 1
    local rs0; rs0=$(retrans_segs "$NSB")
    nft_drop "$ns" $hook "tcp dport $PORT tcp flags == ack" || return 1
    wait_line "$WORK/server.log" 'event=closed' 10 || return 1
    sleep 2
    local dropped
    dropped=$(nft_dropped "$ns") && nft_clear "$ns" || return 1
    # The next retransmitted FIN gets through and is ACKed: LAST_ACK ends.
    local i
    for ((i = 0; i < 500; i++)); do
        [ "$(state_count "$NSB" last-ack)" = 0 ] && break
        sleep 0.02
    done
    reap $CLIENT_PID client && reap $SERVER_PID server || return 1
    sleep 0.1
    local retx twc twsv
    retx=$(( $(retrans_segs "$NSB") - rs0 ))
    twc=$(tw_count "$NSA"); twsv=$(tw_count "$NSB")
    expect server_last_ack "$(state_count "$NSB" last-ack)" -eq 0 &&
        expect fin_retransmissions "$retx" -ge 2 && expect acks_dropped "$dropped" -ge 2 &&
        expect tw_client "$twc" -eq 1 || return 1
    truth connections 1; truth tuples 1; truth incarnations 1
    truth close_kind fin; truth active_closer client
    truth client_port "$(lports)"
    truth fin_retransmissions "$retx"
    truth fin_retransmissions_min "$retx"
    truth acks_dropped "$dropped"
    truth ack_drop_at "$([ $where = A ] && echo client_output || echo server_input)"
    truth final_ack_seen_original "$([ $where = A ] && echo 0 || echo 1)"
    truth tw_client "$twc"; truth tw_server "$twsv"
}

sc_final_ack_lost() { final_ack_lost_common A; }
sc_final_ack_lost_after() { final_ack_lost_common B; }

# Client TIME_WAIT, then B re-sends the server's first data segment (the
# reply) exactly as captured: a late duplicate arriving in TIME_WAIT. The
# client's TIME_WAIT answers with a duplicate ACK; B has no socket left for
# the tuple, so its kernel answers that ACK with a RST at seq = the client's
# rcv_nxt, which kills the TIME_WAIT socket (RFC 1337 hazard).
# late_data_tw drops that RST in B's output hook (never on the wire, the
# TIME_WAIT survives); late_data_tw_killed lets it through.
late_data_tw_common() {
    local suppress=$1
    server_start --mode wait-close || return 1
    client_run --mode close-first || return 1
    reap $SERVER_PID server || return 1
    sleep 0.2
    expect tw_client_before "$(tw_count "$NSA")" -eq 1 || return 1
    if [ $suppress = 1 ]; then
        nft_drop "$NSB" output "tcp sport $PORT tcp flags & rst == rst" || return 1
    fi
    inject --pick data --sport $PORT --nth 1 || return 1
    sleep 0.3
    local twc twsv rsts=0
    if [ $suppress = 1 ]; then
        rsts=$(nft_dropped "$NSB") && nft_clear "$NSB" || return 1
    fi
    twc=$(tw_count "$NSA"); twsv=$(tw_count "$NSB")
    if [ $suppress = 1 ]; then
        expect tw_client "$twc" -eq 1 && expect server_rsts_dropped "$rsts" -ge 1 || return 1
    else
        expect tw_client "$twc" -eq 0 || return 1
    fi
    truth connections 1; truth tuples 1; truth incarnations 1
    truth close_kind fin; truth active_closer client
    truth client_port "$(lports)"
    truth late_segments 1
    truth late_segment_state time_wait
    injected_truth
    if [ $suppress = 1 ]; then
        truth server_rsts_dropped "$rsts"
        truth tw_killed 0
    else
        truth server_rst_on_wire 1
        truth tw_killed 1
    fi
    truth tw_client "$twc"; truth tw_server "$twsv"
}
sc_late_data_tw() { late_data_tw_common 1; }
sc_late_data_tw_killed() { late_data_tw_common 0; }

injected_truth() {
    local f="$WORK/inject.log"
    truth injected_frame_hint "$(field "$f" injected frame)"
    truth injected_seq "$(field "$f" injected seq)"
    truth injected_ack "$(field "$f" injected ack)"
    truth injected_len "$(field "$f" injected len)"
    truth injected_flags "$(field "$f" injected flags)"
    truth injected_dir server_to_client
}

# Two incarnations from the bound port; while the second is established, B
# re-sends the first incarnation's server data segment.
sc_late_data_reuse() {
    server_start --mode close-first --count 2 || return 1
    client_start --mode wait-close --count 2 --bind-port $BIND_PORT --gap-ms 200 --hold-ms 1500
    wait_line "$WORK/client.log" 'event=connected idx=2' 10 || return 1
    sleep 0.1
    local tw_mid; tw_mid=$(tw_count "$NSB")
    inject --pick data --sport $PORT --nth 1 || return 1
    reap $CLIENT_PID client && reap $SERVER_PID server || return 1
    sleep 0.2
    local twc twsv
    twc=$(tw_count "$NSA"); twsv=$(tw_count "$NSB")
    expect client_port "$(lports | sort -u)" -eq $BIND_PORT &&
        expect tw_server_during_2nd "$tw_mid" -eq 0 && expect tw_server "$twsv" -eq 1 || return 1
    truth connections 2; truth tuples 1; truth incarnations 2
    truth close_kind fin; truth active_closer server
    truth client_port $BIND_PORT
    truth late_segments 1
    truth late_segment_state established
    truth late_segment_incarnation 1
    truth late_segment_arrives_in_incarnation 2
    injected_truth
    truth tw_client "$twc"; truth tw_server "$twsv"
}

# Client TIME_WAIT, then B sends a RST at the server's FIN seq + 1 (exactly
# the client's rcv_nxt): tcp_rfc1337=0 lets it kill the TIME_WAIT socket.
sc_rst_in_tw() {
    server_start --mode wait-close || return 1
    client_run --mode close-first || return 1
    reap $SERVER_PID server || return 1
    sleep 0.2
    local before twc twsv
    before=$(tw_count "$NSA")
    expect tw_client_before_rst "$before" -eq 1 || return 1
    inject --pick fin --sport $PORT --last --as-rst || return 1
    sleep 0.2
    twc=$(tw_count "$NSA"); twsv=$(tw_count "$NSB")
    expect tw_client_after_rst "$twc" -eq 0 || return 1
    truth connections 1; truth tuples 1; truth incarnations 1
    truth close_kind fin; truth active_closer client
    truth client_port "$(lports)"
    truth rst_injected 1
    truth tw_client_before_rst "$before"
    truth tw_killed 1
    injected_truth
    truth tw_client "$twc"; truth tw_server "$twsv"
}

# The server still holds an established connection that the client has
# forgotten (its RST was dropped on the way out); the capture starts after
# that, as an incident capture does. The client reconnects from the same port:
# its SYN gets the old socket's challenge ACK (RFC 5961 4), the client, in
# SYN-SENT, answers it with a RST at that ACK number (RFC 9293 3.10.7.3),
# which clears the server's state, and retries the SYN a second later.
sc_stale_state() {
    server_start --mode wait-close --count 2 || return 1
    nft_drop "$NSA" output "tcp flags & rst == rst" || return 1
    client_run --mode rst --count 1 --bind-port $BIND_PORT || return 1
    local dropped est
    dropped=$(nft_dropped "$NSA")
    nft_clear "$NSA"
    est=$(state_count "$NSB" established)
    expect rst_dropped "$dropped" -ge 1 && expect server_established "$est" -eq 1 || return 1
    capture_stop || return 1
    capture_start || return 1
    client_run --mode close-first --count 1 --bind-port $BIND_PORT || return 1
    reap $SERVER_PID server || return 1
    grep -q 'event=peer_rst' "$WORK/server.log" || { log "$SCEN: the old server socket saw no RST"; return 1; }
    truth connections 2; truth tuples 1; truth incarnations 2
    truth close_kind rst,fin; truth active_closer client
    truth client_port $BIND_PORT
    truth stale_state_rst 1; truth stale_held_by server
    truth tshark_streams 1     # tshark keeps the attempt and the retry in one stream
}

# An in-window RST into the client's TIME_WAIT, then a late copy of the
# server's data. rst_in_tw_1337: the client has net.ipv4.tcp_rfc1337=1, so its
# TIME_WAIT ignores the RST and re-ACKs the late data (B's kernel would answer
# that ACK with a RST: nft drops it). rst_in_tw_probe: the default, the RST
# kills the TIME_WAIT and the client's kernel answers the late data with a RST.
rst_in_tw_late_common() {
    local rfc1337=$1 before twc twsv rsts=0
    inA sysctl -q -w net.ipv4.tcp_rfc1337="$rfc1337" || return 1
    server_start --mode wait-close || return 1
    client_run --mode close-first || return 1
    reap $SERVER_PID server || return 1
    sleep 0.2
    before=$(tw_count "$NSA")
    expect tw_client_before_rst "$before" -eq 1 || return 1
    inject --pick fin --sport $PORT --last --as-rst || return 1
    truth rst_seq "$(field "$WORK/inject.log" injected seq)"
    sleep 0.2
    [ "$rfc1337" = 1 ] && { nft_drop "$NSB" output "tcp sport $PORT tcp flags & rst == rst" || return 1; }
    inject --pick data --sport $PORT --nth 1 || return 1
    sleep 0.3
    if [ "$rfc1337" = 1 ]; then
        rsts=$(nft_dropped "$NSB") && nft_clear "$NSB" || return 1
    fi
    twc=$(tw_count "$NSA"); twsv=$(tw_count "$NSB")
    expect tw_client_after "$twc" -eq $rfc1337 || return 1
    truth connections 1; truth tuples 1; truth incarnations 1
    truth close_kind fin; truth active_closer client
    truth client_port "$(lports)"
    truth rfc1337 "$rfc1337"
    truth tw_killed $((1 - rfc1337))
    truth server_rsts_dropped "$rsts"
    truth tw_client "$twc"; truth tw_server "$twsv"
}
sc_rst_in_tw_1337() { rst_in_tw_late_common 1; }
sc_rst_in_tw_probe() { rst_in_tw_late_common 0; }

# ------------------------------------------------------------------ main --

run_scenario() {
    SCEN=$1
    case $SCEN in
    v6_*) FAMILY=6; CADDR=fd77::1; SADDR=fd77::2 ;;
    *) FAMILY=4; CADDR=10.77.0.1; SADDR=10.77.0.2 ;;
    esac
    MAX_ATTEMPTS=3
    [ "$SCEN" = simultaneous_close ] && MAX_ATTEMPTS=10
    PCAP_TMP=$WORK/capture.pcap
    for ((ATTEMPT = 1; ATTEMPT <= MAX_ATTEMPTS; ATTEMPT++)); do
        rm -f "$WORK"/*.log "$WORK/truth" "$PCAP_TMP" "$PCAP_TMP.b"
        BG_PIDS=
        if ! ns_setup; then
            ns_teardown
            [ "$FIRST_SETUP" = 1 ] && skip "cannot create network namespaces / veth"
            log "$SCEN: namespace setup failed"
            continue
        fi
        FIRST_SETUP=0
        local ok=1
        capture_start || ok=0
        common_truth
        if [ $ok = 1 ]; then
            "sc_$SCEN" || ok=0
        fi
        capture_stop || ok=0
        local p
        for p in $BG_PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
        BG_PIDS=
        ns_teardown
        if [ $ok = 1 ]; then
            truth attempts $ATTEMPT
            cp "$PCAP_TMP" "$OUTDIR/$SCEN.pcap" && cp "$WORK/truth" "$OUTDIR/$SCEN.truth" ||
                return 1
            if [ -n "${GEN_BOTH_ENDS:-}" ]; then
                cp "$PCAP_TMP.b" "$OUTDIR/$SCEN.server.pcap" || return 1
            fi
            log "$SCEN: ok (attempt $ATTEMPT)"
            return 0
        fi
        log "$SCEN: attempt $ATTEMPT failed"
        if [ -n "${GEN_KEEP_FAILED:-}" ]; then
            cp "$PCAP_TMP" "$OUTDIR/$SCEN.failed$ATTEMPT.pcap" 2>/dev/null
            cat "$WORK"/*.log > "$OUTDIR/$SCEN.failed$ATTEMPT.log" 2>/dev/null
        fi
    done
    return 1
}

FIRST_SETUP=1
failed=
for s in $SCENARIOS; do
    run_scenario "$s" || failed="$failed $s"
done
if [ -n "$failed" ]; then
    log "FAILED:$failed"
    exit 1
fi
exit 0
