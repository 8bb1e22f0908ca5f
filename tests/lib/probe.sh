# tests/lib/probe.sh -- the one place that decides whether a test can use
# network namespaces or tshark here. Sourced by every test that needs them
# (t_live.sh, t_e2e_scenarios.sh and t_gen_smoke.sh through tests/gen/gen.sh,
# and gen.sh itself).
#
#   probe_netns [TOOL...]   0 when this machine can make two network namespaces
#                           joined by veth, run a command inside one (`ip netns
#                           exec`), capture there with tcpdump and reach the
#                           peer over TCP (a SYN answered by the peer's RST);
#                           else 1, with the reason in PROBE_WHY. TOOLs are
#                           extra programs the caller needs (nft, ss, ...).
#   require_netns [TOOL...] probe_netns, or print "SKIP: <reason>" and exit 77
#                           (CTest's skip code for our tests).
#   probe_tshark            0 when tshark runs; else 1 with PROBE_WHY.
#   require_tshark          probe_tshark, or "SKIP: <reason>" and exit 77.
#
# The namespace probe takes about a second (link carrier); its verdict is
# cached for the process in PROBE_NETNS_OK, so a script may call it twice.

probe_netns() {
    local t a b d rc=0
    PROBE_WHY=
    if [ -n "${PROBE_NETNS_OK:-}" ]; then
        [ "$PROBE_NETNS_OK" = yes ] && return 0
        PROBE_WHY=$PROBE_NETNS_WHY
        return 1
    fi
    if [ "$(id -u)" != 0 ]; then
        PROBE_WHY="network namespaces need root"
    else
        for t in ip tcpdump timeout "$@"; do
            command -v "$t" >/dev/null 2>&1 || { PROBE_WHY="'$t' is not installed"; break; }
        done
    fi
    if [ -z "$PROBE_WHY" ]; then
        a=twpA$$ b=twpB$$ d=$(mktemp -d /tmp/twsprobe.XXXXXX)
        _probe_netns_try "$a" "$b" "$d" || rc=1
        ip netns del "$a" 2>/dev/null
        ip netns del "$b" 2>/dev/null
        rm -rf "$d"
        [ $rc = 0 ] || [ -n "$PROBE_WHY" ] || PROBE_WHY="network namespace probe failed"
    fi
    if [ -z "$PROBE_WHY" ]; then
        PROBE_NETNS_OK=yes
        return 0
    fi
    PROBE_NETNS_OK=no PROBE_NETNS_WHY=$PROBE_WHY
    return 1
}

# _probe_netns_try NS_A NS_B DIR: the steps; sets PROBE_WHY to the first that fails.
_probe_netns_try() {
    local a=$1 b=$2 d=$3 err i td n
    ip netns add "$a" 2>"$d/err" && ip netns add "$b" 2>>"$d/err" ||
        { PROBE_WHY="cannot create a network namespace: $(_probe_first "$d/err")"; return 1; }
    ip link add pA netns "$a" type veth peer name pB netns "$b" 2>"$d/err" ||
        { PROBE_WHY="cannot create a veth pair: $(_probe_first "$d/err")"; return 1; }
    ip netns exec "$a" true 2>"$d/err" ||
        { PROBE_WHY="cannot enter a network namespace (ip netns exec): $(_probe_first "$d/err")"; return 1; }
    ip -n "$a" addr add 10.79.0.1/24 dev pA && ip -n "$b" addr add 10.79.0.2/24 dev pB &&
        ip -n "$a" link set pA up && ip -n "$b" link set pB up &&
        ip -n "$a" link set lo up && ip -n "$b" link set lo up 2>"$d/err" ||
        { PROBE_WHY="cannot configure the veth pair: $(_probe_first "$d/err")"; return 1; }
    for ((i = 0; i < 100; i++)); do # carrier (linkwatch: up to 1 s)
        ip -n "$a" link show pA 2>/dev/null | grep -q LOWER_UP && break
        sleep 0.02
    done
    ip netns exec "$a" tcpdump -i pA -n -U -c 2 -w "$d/p.pcap" 'tcp port 9' >"$d/td" 2>&1 &
    td=$!
    for ((i = 0; i < 150; i++)); do
        grep -q listening "$d/td" && break
        kill -0 $td 2>/dev/null || break
        sleep 0.02
    done
    grep -q listening "$d/td" ||
        { kill $td 2>/dev/null; wait $td 2>/dev/null
          PROBE_WHY="tcpdump cannot capture in a network namespace: $(_probe_first "$d/td")"; return 1; }
    # Nothing listens on port 9 in B: its kernel answers our SYN with a RST.
    ip netns exec "$a" timeout 3 bash -c 'exec 3<>/dev/tcp/10.79.0.2/9' 2>"$d/err"
    if ! grep -q 'refused' "$d/err"; then
        kill $td 2>/dev/null; wait $td 2>/dev/null
        PROBE_WHY="a TCP SYN from one network namespace got no answer from its veth peer"
        return 1
    fi
    for ((i = 0; i < 100; i++)); do kill -0 $td 2>/dev/null || break; sleep 0.02; done
    kill $td 2>/dev/null; wait $td 2>/dev/null
    n=$(grep -o '^[0-9]* packets captured' "$d/td" | cut -d' ' -f1)
    [ "${n:-0}" = 2 ] ||
        { PROBE_WHY="tcpdump in a network namespace captured ${n:-0} of the 2 packets of a probe"; return 1; }
    return 0
}

_probe_first() { head -n 1 "$1" | cut -c1-160; }

require_netns() {
    probe_netns "$@" || { echo "SKIP: $PROBE_WHY"; exit 77; }
}

probe_tshark() {
    PROBE_WHY=
    command -v tshark >/dev/null 2>&1 || { PROBE_WHY="tshark is not installed"; return 1; }
    tshark -v >/dev/null 2>&1 || { PROBE_WHY="tshark is installed but does not run"; return 1; }
    return 0
}

require_tshark() {
    probe_tshark || { echo "SKIP: $PROBE_WHY"; exit 77; }
}
