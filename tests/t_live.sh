#!/usr/bin/env bash
# Live capture (issue 4), in two network namespaces joined by veth:
#  1. `twscope capture` and tcpdump watch the same interface while the real
#     kernel runs short connections (client close), a bound port reconnecting
#     into the server's TIME_WAIT (server close) and RST closes; after SIGINT,
#     the live database must hold the same connections, TIME_WAIT rows and
#     findings as an offline `twscope analyze` of tcpdump's file -- frame
#     numbers included (nothing else talks on that link).
#  2. Rows appear while it runs (WAL: `twscope query` reads them meanwhile).
#  3. SIGINT in the middle of traffic: exit 0, capture complete, and every
#     connection of the packets it read is in the database (compared with an
#     offline analysis of the same first N frames).
#  -w FILE: every captured packet in a pcapng file whose offline analysis
#  gives the very rows of the live database (frame numbers included).
#  Live mode shows now (issue 18): TIME_WAIT periods are rows as soon as they
#  start (end_reason 'open'), the captures counters are committed every second,
#  periods still running at SIGINT end at the SIGINT time, and on a terminal
#  (4.) a status line is redrawn in place (none with -q or into a file).
# Usage: t_live.sh TWSCOPE SOURCE_DIR BUILD_DIR   (exit 77 = skipped)
set -u
tw=$1 src=$2 build=$3
gen=$build/tests/gen/tcpgen
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
. "$src/tests/lib/probe.sh"
require_netns
[ -x "$gen" ] || { echo "SKIP: $gen not built"; exit 77; }
A=twlA$$ B=twlB$$ work=$(mktemp -d)
cleanup() {
    for p in $(jobs -p); do kill "$p" 2>/dev/null; done
    ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
if ! ip netns add $A 2>/dev/null || ! ip netns add $B 2>/dev/null; then
    echo "SKIP: cannot create network namespaces here"; exit 77
fi
ip link add vA netns $A type veth peer name vB netns $B || { echo "SKIP: no veth"; exit 77; }
ip -n $A addr add 10.78.0.1/24 dev vA; ip -n $B addr add 10.78.0.2/24 dev vB
ip -n $A link set lo up; ip -n $B link set lo up
ip -n $A link set vA up; ip -n $B link set vB up
ip -n $A neigh replace 10.78.0.2 lladdr "$(ip -n $B -br link show vB | awk '{print $3}')" nud permanent dev vA
ip -n $B neigh replace 10.78.0.1 lladdr "$(ip -n $A -br link show vA | awk '{print $3}')" nud permanent dev vB
ip netns exec $A sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
ip netns exec $B sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
sleep 1.2   # carrier up

fails=0
check() { if [ "$2" != "$3" ]; then echo "FAIL $1: got '$2', want '$3'"; fails=$((fails + 1)); fi; }
start_caps() { # DB PCAP [twscope capture options]
    local db=$1 pcap=$2
    shift 2
    ip netns exec $A tcpdump -i vA -s 0 -U -w "$pcap" >"$work/tcpdump.log" 2>&1 &
    TD=$!
    ip netns exec $A "$tw" capture -i vA -o "$db" "$@" >"$work/live.log" 2>&1 &
    LV=$!
    for i in $(seq 200); do grep -q listening "$work/tcpdump.log" && break; sleep 0.05; done
    # twscope says so once its pcap handle is active (what the kernel sees from
    # then on is buffered for it): no fixed sleep
    for i in $(seq 200); do grep -q "capturing on vA" "$work/live.log" && return 0; sleep 0.05; done
    echo "FAIL twscope did not say 'capturing on vA' within 10 s"; cat "$work/live.log"; fails=$((fails + 1))
}
q() { "$tw" query "$1" sql "$2" --format csv 2>/dev/null | tail -n 1 | tr -d '\r'; }
server() { ip netns exec $B "$gen" server --addr 10.78.0.2 --port 9000 "$@" >>"$work/srv.log" 2>&1; }
client() { ip netns exec $A "$gen" client --addr 10.78.0.2 --port 9000 "$@" >>"$work/cli.log" 2>&1; }
# Start a server in the background (pid in S) and wait until it listens: a
# loaded machine can take longer than any fixed sleep (a client refused
# before the listen makes no connections at all).
nlisten=0
start_server() {
    server "$@" & S=$!
    nlisten=$((nlisten + 1))
    for i in $(seq 200); do
        [ "$(grep -c 'event=listening' "$work/srv.log" 2>/dev/null)" -ge $nlisten ] && return 0
        sleep 0.05
    done
    echo "FAIL server did not listen within 10 s"; tail -n 5 "$work/srv.log"; fails=$((fails + 1))
}
run_client() { # ARGS...: a failing client is a failure of the test, with its log
    client "$@" || { echo "FAIL client $*:"; tail -n 5 "$work/cli.log"; fails=$((fails + 1)); }
}

# ---- 1 + 2: same results live and offline --------------------------------
start_caps "$work/live.db" "$work/live.pcap" -w "$work/live.pcapng"
start_server --mode wait-close --count 10
run_client --mode close-first --count 10; wait $S
start_server --mode close-first --count 3
run_client --mode wait-close --count 3 --bind-port 41000 --gap-ms 200; wait $S
start_server --mode wait-close --count 2
run_client --mode rst --count 2; wait $S
sleep 1.5   # > 1 s: the live run has committed
mid=$(q "$work/live.db" "select count(*) from connections")
[ "${mid:-0}" -ge 1 ] || { echo "FAIL rows visible while capturing: got '${mid}'"; fails=$((fails + 1)); }
# TIME_WAIT periods (60 s) are in the database while they run: end NULL, 'open'
open_mid=$(q "$work/live.db" "select count(*) from time_waits where end_reason = 'open' and end_ts is null")
[ "${open_mid:-0}" -ge 10 ] || { echo "FAIL open TIME_WAIT rows while capturing: got '${open_mid}', want >= 10"; fails=$((fails + 1)); }
# the captures counters are committed every second, not only at the stop
cnt_mid=$(q "$work/live.db" "select (packets > 0) || (tcp_packets > 0) || (ps_recv > 0) || complete from captures")
check "captures counters mid-run (packets, tcp_packets, ps_recv > 0; complete)" "$cnt_mid" 1110
pk_mid=$(q "$work/live.db" "select packets from captures")
open_rows_mid=$("$tw" query "$work/live.db" sql "select connection_id, side, start_frame, inferred from time_waits where end_reason = 'open' order by 1, 2" --format csv 2>/dev/null)
sleep 1   # the last packet is now >= 1 s older than the stop
t_int=$(date +%s.%N)
kill -INT $LV; wait $LV; lrc=$?
kill -INT $TD; wait $TD
check "live exit code" $lrc 0
"$tw" analyze -q -o "$work/off.db" "$work/live.pcap" || { echo "FAIL offline analyze"; exit 1; }
"$tw" analyze -q -o "$work/wfile.db" "$work/live.pcapng" || { echo "FAIL offline analyze of the -w file"; fails=$((fails + 1)); }
for t in "select incarnation, client_ip, client_port, server_ip, server_port, syn_seen, close_kind, coalesce(active_closer,''), client_pkts, server_pkts, first_frame, last_frame from connections order by first_frame" \
         "select t.side, t.ip, t.port, t.start_frame, t.inferred, t.end_reason from time_waits t join connections c on c.id = t.connection_id order by c.first_frame, t.side" \
         "select kind, frame, direction, seq, ack from findings order by frame, kind"; do
    a=$(sqlite3 "$work/live.db" "$t" | md5sum) b=$(sqlite3 "$work/off.db" "$t" | md5sum)
    if [ "$a" != "$b" ]; then
        echo "FAIL live vs offline differ for: $t"; diff <(sqlite3 "$work/live.db" "$t") <(sqlite3 "$work/off.db" "$t") | head; fails=$((fails + 1))
    fi
    # -w: the frame numbers of the live database are those of its own file
    c=$(sqlite3 "$work/wfile.db" "$t" 2>/dev/null | md5sum)
    if [ "$a" != "$c" ]; then
        echo "FAIL live vs offline analysis of the -w file differ for: $t"; diff <(sqlite3 "$work/live.db" "$t") <(sqlite3 "$work/wfile.db" "$t") | head; fails=$((fails + 1))
    fi
done
check "-w file: packets = captures.packets" "$(tcpdump -r "$work/live.pcapng" 2>/dev/null | wc -l)" "$(sqlite3 "$work/live.db" 'select packets from captures')"
# a finding's frame number opens the same packet in the -w file (tshark's frame.number)
if probe_tshark; then
    fr=$(sqlite3 "$work/live.db" "select start_frame from time_waits order by start_frame limit 1")
    sq=$(tshark -r "$work/live.pcapng" -o tcp.relative_sequence_numbers:FALSE -Y "frame.number == $fr" -T fields -e tcp.srcport -e tcp.seq -e tcp.ack 2>/dev/null)
    # the first period starts at a client's final ACK: sent from its port
    want=$(sqlite3 "$work/live.db" "select port from time_waits where start_frame = $fr limit 1")
    [ "$(echo "$sq" | cut -f1)" = "$want" ] || { echo "FAIL tshark frame.number == $fr in the -w file: '$sq', want source port $want"; fails=$((fails + 1)); }
else
    echo "PARTIAL-SKIP: $PROBE_WHY: frame.number not checked with tshark"
fi
check connections "$(sqlite3 "$work/live.db" 'select count(*) from connections')" 15
# Periods still running at SIGINT end at the stop (wall time of SIGINT, within
# the 200 ms read timeout plus the drain), not at the last packet as the
# offline analysis of the same packets has them: that is why end_ts is not in
# the live-vs-offline comparison above (start frames and end reasons are).
check "open rows left after the stop" "$(sqlite3 "$work/live.db" "select count(*) from time_waits where end_reason = 'open' or end_ts is null")" 0
# an open row already says where and how the period started (the final ACK,
# not the FIN that an inferred start would take): the same as its final row
check "open rows as the periods' final rows start" "$(sqlite3 -csv -header "$work/live.db" "select connection_id, side, start_frame, inferred from time_waits where end_reason = 'capture_end' order by 1, 2" | tr -d '\r')" "$(echo "$open_rows_mid" | tr -d '\r')"
check "rows that were open mid-run end at capture end" "$(sqlite3 "$work/live.db" "select count(*) from time_waits where end_reason = 'capture_end'")" "$open_mid"
cut=$(sqlite3 "$work/live.db" "select count(*) from time_waits t, captures c where t.end_reason = 'capture_end' and t.end_ts between $t_int - 0.05 and $t_int + 1.5 and t.end_ts > c.last_ts + 0.9")
n_end=$(sqlite3 "$work/live.db" "select count(*) from time_waits where end_reason = 'capture_end'")
[ "$n_end" -ge 10 ] || { echo "FAIL capture_end periods: $n_end, want >= 10"; fails=$((fails + 1)); }
check "capture_end periods cut at the SIGINT time ($t_int), not the last packet" "$cut" "$n_end"
check "offline: the same periods end at the last packet" "$(sqlite3 "$work/off.db" "select count(*) from time_waits t, captures c where t.end_reason = 'capture_end' and t.end_ts = c.last_ts")" "$open_mid"
pk_end=$(sqlite3 "$work/live.db" 'select packets from captures')
[ "$pk_end" -ge "${pk_mid:-0}" ] && [ "${pk_mid:-0}" -gt 0 ] || { echo "FAIL packets mid-run $pk_mid, at the end $pk_end"; fails=$((fails + 1)); }
# not a terminal: no status line in the log
if grep -q "TIME_WAIT now" "$work/live.log"; then echo "FAIL status line written to a file"; fails=$((fails + 1)); fi
check reused "$(sqlite3 "$work/live.db" "select count(*) from time_waits where end_reason='reused'")" 2
check live_complete "$(sqlite3 "$work/live.db" 'select complete, ps_recv >= packets from captures')" "1|1"

# ---- 3: SIGINT in the middle of traffic -----------------------------------
start_caps "$work/int.db" "$work/int.pcap"
start_server --mode wait-close --count 400
client --mode close-first --count 400 --gap-ms 5 & C=$!
sleep 1.0
kill -INT $LV; wait $LV; lrc=$?
wait $C; wait $S; sleep 0.3; kill -INT $TD; wait $TD
check "exit code after SIGINT" $lrc 0
n=$(sqlite3 "$work/int.db" 'select packets from captures')
check int_complete "$(sqlite3 "$work/int.db" 'select complete from captures')" 1
tcpdump -r "$work/int.pcap" -c "$n" -w "$work/int-head.pcap" 2>/dev/null
"$tw" analyze -q -o "$work/int-off.db" "$work/int-head.pcap"
q="select client_port, close_kind, first_frame from connections order by first_frame"
a=$(sqlite3 "$work/int.db" "$q") b=$(sqlite3 "$work/int-off.db" "$q")
[ -n "$a" ] && [ "$a" = "$b" ] || { echo "FAIL SIGINT: connections differ from the offline analysis of the same $n frames"; fails=$((fails + 1)); }
check int_integrity "$(sqlite3 "$work/int.db" 'pragma integrity_check')" ok
# ---- 4: the status line on a terminal (script(1) gives it a pty) ----------
if command -v script >/dev/null; then
    start_server --mode wait-close --count 3
    ip netns exec $A script -qfec "$tw capture -i vA -o $work/tty.db --duration 3" /dev/null >"$work/tty.out" 2>&1 &
    TT=$!
    for i in $(seq 200); do grep -q "capturing on vA" "$work/tty.out" && break; sleep 0.05; done
    run_client --mode close-first --count 3; wait $S; wait $TT
    # redrawn in place (\r), with the TIME_WAIT count of now: 3 client periods
    grep -aq $'\r.*packets .*TIME_WAIT now 3 (client 3, server 0)' "$work/tty.out" ||
        { echo "FAIL no status line on a terminal:"; tr '\r' '\n' <"$work/tty.out" | tail -n 4; fails=$((fails + 1)); }
    ip netns exec $A script -qfec "$tw capture -q -i vA -o $work/tty.db --duration 1.5" /dev/null >"$work/ttyq.out" 2>&1
    if grep -aq "TIME_WAIT now" "$work/ttyq.out"; then echo "FAIL status line despite -q"; fails=$((fails + 1)); fi
else
    echo "PARTIAL-SKIP: script(1) missing: status line on a terminal not checked"
fi

if [ $fails -gt 0 ]; then
    for f in srv.log cli.log live.log; do echo "--- $f (last lines)"; tail -n 8 "$work/$f"; done
fi
echo "live: $fails failure(s); SIGINT run kept $(sqlite3 "$work/int.db" 'select count(*) from connections') connections of $n frames"
exit $((fails > 0))
