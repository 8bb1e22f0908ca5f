#!/usr/bin/env bash
# Captures users really have, derived from the clean kernel captures in
# samples/ by tests/lib/pcapedit.py (frames dropped, a late start): twscope
# must give the right answer where the sequence and ACK numbers prove it, and
# say "unknown" where they do not -- never a confident wrong one.
# Each case: the capture, what was done to it, and the answer expected.
# Usage: t_messy.sh TWSCOPE SOURCE_DIR BUILD_DIR   (exit 77 = skipped)
set -u
tw=$1 src=$2
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fails=0 n=0

# case NAME SAMPLE EDIT WANT: WANT is "close_kind|active_closer|TIME_WAIT sides|inferred"
case_() {
    local name=$1 sample=$2 edit=$3 want=$4 got
    n=$((n + 1))
    # shellcheck disable=SC2086
    python3 "$src/tests/lib/pcapedit.py" "$src/samples/$sample.pcap" "$work/$name.pcap" $edit ||
        { echo "FAIL $name: pcapedit"; fails=$((fails + 1)); return; }
    rm -f "$work/$name.db"*
    "$tw" analyze -q --no-dpi -o "$work/$name.db" "$work/$name.pcap" >/dev/null 2>&1
    got=$(sqlite3 "$work/$name.db" "select c.close_kind, coalesce(c.active_closer, 'none'),
        coalesce((select group_concat(side) from time_waits t where t.connection_id = c.id), ''),
        coalesce((select group_concat(inferred) from time_waits t where t.connection_id = c.id), '')
        from connections c")
    if [ "$got" != "$want" ]; then
        echo "FAIL $name ($sample, $edit): got '$got', want '$want'"
        fails=$((fails + 1))
    else
        echo "ok $name"
    fi
}

# the clean captures, as they are
case_ clean_client    client_close "--drop 0"  "fin|client|client|0"
case_ clean_server    server_close "--drop 0"  "fin|server|server|0"
# the tap missed the first FIN: the peer's FIN acknowledges one number more than
# the closer was seen to send, and the closer's ACK comes from that number (R14 b)
case_ missed_fin1_c   client_close "--drop 8"  "fin|client|client|1"
case_ missed_fin1_s   server_close "--drop 8"  "fin|server|server|1"
# the tap missed the second FIN: the closer ACKs one number beyond what its
# peer was seen to send (R14 c)
case_ missed_fin2_c   client_close "--drop 9"  "fin|client|client|1"
case_ missed_fin2_s   server_close "--drop 9"  "fin|server|server|1"
# the capture started after the first FIN: nothing of the closer's sequence
# space was seen, so who closed first cannot be told
case_ late_after_fin1 client_close "--from 9"  "half|unknown||"
case_ late_after_fin1s server_close "--from 9" "half|unknown||"
# the capture ended before the final ACK: the period starts at the peer's FIN,
# inferred
case_ no_final_ack    client_close "--drop 10" "fin|client|client|1"
echo "messy: $n cases, $fails wrong"
exit $((fails > 0))
