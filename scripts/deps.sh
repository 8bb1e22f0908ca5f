#!/usr/bin/env bash
# Install (with apt-get) whatever twscope needs to build, demo or test, skipping
# what is already installed. Usage: scripts/deps.sh build|test
set -eu
want="build-essential cmake pkg-config libpcap-dev libndpi-dev libsqlite3-dev zlib1g-dev libmicrohttpd-dev sqlite3"
if [ "${1:-build}" = test ]; then
    # end-to-end tests: namespaces, tcpdump, nftables; corpus agreement: tshark;
    # sanitizers and fuzzing: clang + compiler-rt; memcheck: valgrind; t_shard: GNU parallel;
    # capture --metrics: a real Prometheus (promtool too) and curl; the live status line:
    # script(1) of bsdutils; t_pcapng_map.sh: editcap/mergecap (wireshark-common), strace
    # (was the file mapped?)
    want="$want tcpdump tshark iproute2 nftables clang libclang-rt-14-dev valgrind procps python3 chromium parallel prometheus curl bsdutils wireshark-common strace"
fi
missing=
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "Installing:$missing"
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections 2>/dev/null || true
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
