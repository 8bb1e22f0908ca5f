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
start_caps() { # DB PCAP
    ip netns exec $A tcpdump -i vA -s 0 -U -w "$2" >"$work/tcpdump.log" 2>&1 &
    TD=$!
    ip netns exec $A "$tw" capture -i vA -o "$1" >"$work/live.log" 2>&1 &
    LV=$!
    for i in $(seq 100); do grep -q listening "$work/tcpdump.log" && break; sleep 0.05; done
    sleep 1   # twscope has activated its handle by now
}
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
start_caps "$work/live.db" "$work/live.pcap"
start_server --mode wait-close --count 10
run_client --mode close-first --count 10; wait $S
start_server --mode close-first --count 3
run_client --mode wait-close --count 3 --bind-port 41000 --gap-ms 200; wait $S
start_server --mode wait-close --count 2
run_client --mode rst --count 2; wait $S
sleep 1.5   # > 1 s: the live run has committed
mid=$("$tw" query "$work/live.db" sql "select count(*) from connections" --format csv 2>/dev/null | tail -n 1 | tr -d '\r')
[ "${mid:-0}" -ge 1 ] || { echo "FAIL rows visible while capturing: got '${mid}'"; fails=$((fails + 1)); }
kill -INT $LV; wait $LV; lrc=$?
kill -INT $TD; wait $TD
check "live exit code" $lrc 0
"$tw" analyze -q -o "$work/off.db" "$work/live.pcap" || { echo "FAIL offline analyze"; exit 1; }
for t in "select incarnation, client_ip, client_port, server_ip, server_port, syn_seen, close_kind, coalesce(active_closer,''), client_pkts, server_pkts, first_frame, last_frame from connections order by first_frame" \
         "select t.side, t.ip, t.port, t.start_frame, t.inferred, t.end_reason from time_waits t join connections c on c.id = t.connection_id order by c.first_frame, t.side" \
         "select kind, frame, direction, seq, ack from findings order by frame, kind"; do
    a=$(sqlite3 "$work/live.db" "$t" | md5sum) b=$(sqlite3 "$work/off.db" "$t" | md5sum)
    if [ "$a" != "$b" ]; then
        echo "FAIL live vs offline differ for: $t"; diff <(sqlite3 "$work/live.db" "$t") <(sqlite3 "$work/off.db" "$t") | head; fails=$((fails + 1))
    fi
done
check connections "$(sqlite3 "$work/live.db" 'select count(*) from connections')" 15
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
if [ $fails -gt 0 ]; then
    for f in srv.log cli.log live.log; do echo "--- $f (last lines)"; tail -n 8 "$work/$f"; done
fi
echo "live: $fails failure(s); SIGINT run kept $(sqlite3 "$work/int.db" 'select count(*) from connections') connections of $n frames"
exit $((fails > 0))
