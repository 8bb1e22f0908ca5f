#!/usr/bin/env bash
# capture --metrics (issue 14, part 2), with a real Prometheus scraping it.
# Two network namespaces joined by veth (as t_live.sh); in A, twscope captures
# vA and serves /metrics on A's loopback, and a Prometheus started here
# (config, storage dir written here, A's loopback: its port is private) scrapes
# it every second while the real kernel makes connections:
#  1. after 10 client-closed connections (--tw-seconds 120: all still in
#     TIME_WAIT), Prometheus's HTTP API gives twscope_time_wait{side="client"}
#     == 10, the database holds 10 open client periods at that moment, the
#     per-local-address series says 10 too, and the port use of the pair is
#     10/20 of the namespace's ephemeral range 40000-40019 (--port-range),
#     above --alert-port-use 40: one stderr line, twscope_port_use_alert 1;
#  2. `promtool check metrics` passes on the endpoint's text; OpenMetrics when
#     asked (its content type, `# EOF` last), 404 elsewhere;
#  3. slow and malformed clients (half requests left hanging, garbage bytes)
#     do not stall anything: while they hang, 5 more connections are counted
#     (database and Prometheus: 15) and a scrape is answered within 2 s.
# Usage: t_metrics.sh TWSCOPE SOURCE_DIR BUILD_DIR   (exit 77 = skipped)
set -u
tw=$1 src=$2 build=$3
gen=$build/tests/gen/tcpgen
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
. "$src/tests/lib/probe.sh"
require_netns curl python3
for t in prometheus promtool; do
    command -v $t >/dev/null || { echo "SKIP: $t is not installed (Debian package prometheus)"; exit 77; }
done
[ -x "$gen" ] || { echo "SKIP: $gen not built"; exit 77; }
A=twmA$$ B=twmB$$ work=$(mktemp -d)
MPORT=9464 PPORT=9090   # inside namespace A: nothing else listens there
cleanup() {
    for p in $(jobs -p); do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
if ! ip netns add $A 2>/dev/null || ! ip netns add $B 2>/dev/null; then
    echo "SKIP: cannot create network namespaces here"; exit 77
fi
ip link add vA netns $A type veth peer name vB netns $B || { echo "SKIP: no veth"; exit 77; }
ip -n $A addr add 10.78.1.1/24 dev vA; ip -n $B addr add 10.78.1.2/24 dev vB
ip -n $A link set lo up; ip -n $B link set lo up
ip -n $A link set vA up; ip -n $B link set vB up
ip -n $A neigh replace 10.78.1.2 lladdr "$(ip -n $B -br link show vB | awk '{print $3}')" nud permanent dev vA
ip -n $B neigh replace 10.78.1.1 lladdr "$(ip -n $A -br link show vA | awk '{print $3}')" nud permanent dev vB
ip netns exec $A sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
ip netns exec $B sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
ip netns exec $A sysctl -q -w net.ipv4.ip_local_port_range="40000 40019"

fails=0
check() { if [ "$2" != "$3" ]; then echo "FAIL $1: got '$2', want '$3'"; fails=$((fails + 1)); fi; }
inA() { ip netns exec $A "$@"; }   # foreground only: a background job must be
                                   # `ip netns exec` itself, so that kill reaches the program

# ---- Prometheus first: if it cannot run here, skip before anything else ----
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: twscope
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
promtool check config "$work/prometheus.yml" >"$work/promtool-config.log" 2>&1 ||
    { echo "FAIL promtool check config:"; cat "$work/promtool-config.log"; exit 1; }
ip netns exec $A prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address=127.0.0.1:$PPORT --log.level=warn >"$work/prometheus.log" 2>&1 &
PR=$!
for i in $(seq 200); do
    inA curl -sf -o /dev/null --max-time 1 http://127.0.0.1:$PPORT/-/ready && break
    kill -0 $PR 2>/dev/null || break
    sleep 0.1
done
if ! inA curl -sf -o /dev/null --max-time 1 http://127.0.0.1:$PPORT/-/ready; then
    echo "SKIP: prometheus did not start: $(tail -n 1 "$work/prometheus.log")"; exit 77
fi

# Prometheus's current value of an instant query (a number, or "none").
promq() {
    inA python3 - "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
u = "http://127.0.0.1:9090/api/v1/query?query=" + urllib.parse.quote(sys.argv[1])
r = json.load(urllib.request.urlopen(u, timeout=3))
v = r["data"]["result"]
print(v[0]["value"][1] if v else "none")
PY
}
# Wait (up to 20 s) until Prometheus has scraped QUERY == WANT; print the last value.
prom_wait() {
    local v
    for i in $(seq 100); do
        v=$(promq "$1" 2>/dev/null)
        [ "$v" = "$2" ] && break
        sleep 0.2
    done
    echo "$v"
}
server() { ip netns exec $B "$gen" server --addr 10.78.1.2 --port 9000 "$@" >>"$work/srv.log" 2>&1; }
client() { ip netns exec $A "$gen" client --addr 10.78.1.2 --port 9000 "$@" >>"$work/cli.log" 2>&1; }
nlisten=0
start_server() {
    server "$@" & S=$!
    nlisten=$((nlisten + 1))
    for i in $(seq 200); do
        [ "$(grep -c 'event=listening' "$work/srv.log" 2>/dev/null)" -ge $nlisten ] && return 0
        sleep 0.05
    done
    echo "FAIL server did not listen within 10 s"; fails=$((fails + 1))
}
db="$work/m.db"
q() { sqlite3 "$db" "$1"; }

ip netns exec $A "$tw" capture -i vA -o "$db" --tw-seconds 120 --metrics :$MPORT --port-range 40000-40019 \
    --alert-port-use 40 --metrics-top 5 >"$work/live.log" 2>&1 &
LV=$!
for i in $(seq 200); do grep -q "capturing on vA" "$work/live.log" && break; sleep 0.05; done
grep -q "metrics on http://127.0.0.1:$MPORT/metrics" "$work/live.log" ||
    { echo "FAIL no 'capturing on vA ... metrics on' line:"; cat "$work/live.log"; exit 1; }

# ---- 1: the TIME_WAIT gauge through Prometheus, against the database --------
start_server --mode wait-close --count 10
client --mode close-first --count 10 || { echo "FAIL client"; fails=$((fails + 1)); }
wait $S
g=$(prom_wait 'twscope_time_wait{side="client"}' 10)
db_open=$(q "select count(*) from time_waits where side = 'client' and end_reason = 'open' and end_ts is null")
check "Prometheus twscope_time_wait{side=client}" "$g" 10
check "the database at that moment: open client periods" "$db_open" 10
check "server-side gauge" "$(promq 'twscope_time_wait{side="server"}')" 0
check "per local address" "$(promq 'twscope_time_wait_local{address="10.78.1.1"}')" 10
check "per remote endpoint" "$(promq 'twscope_time_wait_remote{endpoint="10.78.1.2:9000"}')" 10
check "port use of the pair (10 of 40000-40019)" "$(promq 'twscope_port_use_ratio{local="10.78.1.1",remote="10.78.1.2:9000"}')" 0.5
check "highest port use" "$(promq twscope_port_use_max_ratio)" 0.5
check "port use alert gauge" "$(promq twscope_port_use_alert)" 1
check "alert lines on stderr" "$(grep -c 'port use alert: 10.78.1.1 -> 10.78.1.2:9000 holds 10 ports of 40000-40019' "$work/live.log")" 1
check "connections open" "$(promq twscope_connections_open)" 0
check "connections" "$(promq twscope_connections_total)" 10

# ---- 2: the text itself -----------------------------------------------------
inA curl -sf --max-time 3 -D "$work/h.txt" http://127.0.0.1:$MPORT/metrics >"$work/m.txt" ||
    { echo "FAIL scrape with curl"; fails=$((fails + 1)); }
promtool check metrics <"$work/m.txt" >"$work/promtool.log" 2>&1 ||
    { echo "FAIL promtool check metrics:"; head "$work/promtool.log"; fails=$((fails + 1)); }
grep -qi '^content-type: text/plain; version=0.0.4' "$work/h.txt" || { echo "FAIL text content type"; fails=$((fails + 1)); }
inA curl -sf --max-time 3 -D "$work/h.om" -H 'Accept: application/openmetrics-text; version=1.0.0' \
    http://127.0.0.1:$MPORT/metrics >"$work/m.om"
grep -qi '^content-type: application/openmetrics-text' "$work/h.om" || { echo "FAIL OpenMetrics content type"; fails=$((fails + 1)); }
check "OpenMetrics ends with # EOF" "$(tail -n 1 "$work/m.om")" "# EOF"
grep -q '^# TYPE twscope_packets counter$' "$work/m.om" || { echo "FAIL OpenMetrics counter family name"; fails=$((fails + 1)); }
check "HTTP status elsewhere" "$(inA curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://127.0.0.1:$MPORT/)" 404
check "HTTP status of POST" "$(inA curl -s -o /dev/null -w '%{http_code}' --max-time 3 -d x http://127.0.0.1:$MPORT/metrics)" 405

# ---- 3: slow and malformed clients -------------------------------------------
ip netns exec $A python3 - $MPORT >"$work/slow.log" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
socks = []
for i in range(4):   # half a request, then nothing
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"GET /metr"); socks.append(s)
for i in range(3):   # garbage
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"\x00\xff\x16\x03 garbage\r\n\r\n"); socks.append(s)
s = socket.create_connection(("127.0.0.1", port)); socks.append(s)   # connects, says nothing
print("open", len(socks), flush=True)
time.sleep(8)
PY
SL=$!
for i in $(seq 100); do grep -q open "$work/slow.log" && break; sleep 0.05; done
pk0=$(q "select packets from captures")
start_server --mode wait-close --count 5
client --mode close-first --count 5 || { echo "FAIL client"; fails=$((fails + 1)); }
wait $S
t0=$(date +%s.%N)
inA curl -sf --max-time 2 http://127.0.0.1:$MPORT/metrics >"$work/m2.txt" || { echo "FAIL scrape while slow clients hang"; fails=$((fails + 1)); }
t1=$(date +%s.%N)
kill -0 $SL 2>/dev/null || { echo "FAIL the slow clients were gone before the check: $(cat "$work/slow.log")"; fails=$((fails + 1)); }
check "scrape answered within 1 s while slow clients hang" "$(python3 -c "print(int($t1 - $t0 < 1))")" 1
check "Prometheus: 15 client periods" "$(prom_wait 'twscope_time_wait{side="client"}' 15)" 15
sleep 1.2
pk1=$(q "select packets from captures")
[ "$pk1" -gt "$pk0" ] || { echo "FAIL packets not counted while slow clients hang: $pk0 -> $pk1"; fails=$((fails + 1)); }
check "the database: 15 open client periods" "$(q "select count(*) from time_waits where side = 'client' and end_reason = 'open'")" 15
check "Prometheus packets = database packets" "$(prom_wait twscope_packets_total "$pk1")" "$pk1"
wait $SL

kill -INT $LV; wait $LV; lrc=$?
check "capture exit code" $lrc 0
check "capture complete" "$(q 'select complete from captures')" 1
if [ $fails -gt 0 ]; then
    for f in live.log prometheus.log srv.log cli.log; do echo "--- $f (last lines)"; tail -n 6 "$work/$f"; done
fi
echo "metrics: $fails failure(s)"
exit $((fails > 0))
