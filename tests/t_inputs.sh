#!/usr/bin/env bash
# Input handling end to end, on the samples (real kernel captures):
#  - a capture split in two files and given in either order is one timeline:
#    the same connections, TIME_WAIT rows and findings as the whole file, with
#    frame numbers of each file and the file index (a connection spans both);
#  - gzip-compressed input and standard input ('-') give the same results, and
#    so do the same packets inside 802.1Q + PPPoE session frames;
#  - a BPF filter as trailing arguments keeps the file's frame numbers;
#  - a SYN flood of a million distinct 4-tuples under --max-flows 1000 stays
#    within the cap (evicted counted, memory bounded), never crashes.
# Usage: t_inputs.sh TWSCOPE SOURCE_DIR BUILD_DIR   (exit 77 = skipped)
set -u
tw=$1 src=$2
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
s=$src/samples/reuse_bound.pcap
[ -f "$s" ] || { echo "SKIP: $s missing"; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fails=0
check() { if [ "$2" != "$3" ]; then echo "FAIL $1: got '$2', want '$3'"; fails=$((fails + 1)); fi; }
rows() { # db: everything but ids and file positions
    sqlite3 "$1" "select incarnation, client_port, close_kind, coalesce(active_closer,''), client_pkts, server_pkts, first_ts, last_ts from connections order by first_ts;
                  select side, end_reason, inferred, start_ts, expected_end_ts from time_waits order by start_ts;
                  select kind, ts, seq from findings order by ts, kind"
}

# split after frame 14: the second incarnation spans both files
python3 - "$s" "$work/a.pcap" "$work/b.pcap" 14 <<'EOF'
import struct, sys
src, a, b, cut = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
d = open(src, 'rb').read()
gh, off, n = d[:24], 24, 0
fa, fb = open(a, 'wb'), open(b, 'wb')
fa.write(gh); fb.write(gh)
while off < len(d):
    incl = struct.unpack('<I', d[off + 8:off + 12])[0]
    rec = d[off:off + 16 + incl]; off += 16 + incl; n += 1
    (fa if n <= cut else fb).write(rec)
EOF
"$tw" analyze -q -o "$work/whole.db" "$s" || fails=$((fails + 1))
"$tw" analyze -q -o "$work/split.db" "$work/b.pcap" "$work/a.pcap" || fails=$((fails + 1))
check "split files = whole file" "$(rows "$work/split.db" | md5sum)" "$(rows "$work/whole.db" | md5sum)"
check "a connection spans both files" "$(sqlite3 "$work/split.db" 'select count(*) from connections where first_file != last_file')" 1
check "frame numbers restart per file" "$(sqlite3 "$work/split.db" 'select min(first_frame) from connections where first_file = 1')" 1
check "files recorded" "$(sqlite3 "$work/split.db" 'select files from captures')" 2

gzip -c "$s" >"$work/s.pcap.gz"
"$tw" analyze -q -o "$work/gz.db" "$work/s.pcap.gz" || fails=$((fails + 1))
check "gzip = plain" "$(rows "$work/gz.db" | md5sum)" "$(rows "$work/whole.db" | md5sum)"
"$tw" analyze -q -o "$work/stdin.db" - <"$s" || fails=$((fails + 1))
check "stdin = file" "$(rows "$work/stdin.db" | md5sum)" "$(rows "$work/whole.db" | md5sum)"

# the same packets carried as an access network does: 802.1Q tag, PPPoE
# session (ethertype 0x8864), PPP; nothing else changes
python3 - "$s" "$work/pppoe.pcap" <<'EOF'
import struct, sys
d = open(sys.argv[1], 'rb').read()
out = open(sys.argv[2], 'wb')
out.write(d[:24])
off = 24
while off < len(d):
    sec, frac, incl, orig = struct.unpack('<IIII', d[off:off + 16])
    frame = d[off + 16:off + 16 + incl]; off += 16 + incl
    etype = struct.unpack('>H', frame[12:14])[0]
    ppp = {0x0800: 0x0021, 0x86dd: 0x0057}.get(etype)
    if ppp is None:
        new = frame
    else:
        ip = frame[14:]
        new = (frame[:12] + struct.pack('>HH', 0x8100, 42) + struct.pack('>H', 0x8864)
               + struct.pack('>BBHH', 0x11, 0x00, 0x1234, len(ip) + 2) + struct.pack('>H', ppp) + ip)
    out.write(struct.pack('<IIII', sec, frac, len(new), orig + len(new) - len(frame)) + new)
EOF
"$tw" analyze -q -o "$work/pppoe.db" "$work/pppoe.pcap" || fails=$((fails + 1))
check "PPPoE in VLAN = plain Ethernet" "$(rows "$work/pppoe.db" | md5sum)" "$(rows "$work/whole.db" | md5sum)"
check "PPPoE frames all analyzed" "$(sqlite3 "$work/pppoe.db" 'select tcp_packets = packets, skipped from captures')" "1|0"

# trailing BPF: only the server's segments; frame numbers stay the file's
"$tw" analyze -q --no-dpi -o "$work/bpf.db" "$s" src port 8080 || fails=$((fails + 1))
check "bpf kept frames" "$(sqlite3 "$work/bpf.db" 'select bpf, packets from captures')" "src port 8080|15"
# the first server segment is frame 2 of the file (it would be 1 of the filtered stream)
check "bpf frame numbers" "$(sqlite3 "$work/bpf.db" 'select min(first_frame) from connections')" 2

# SYN flood under a flow cap
python3 - "$work/flood.pcap" <<'EOF'
import struct, sys
f = open(sys.argv[1], 'wb')
f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 101))  # raw IP
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); return (~(s + (s >> 16))) & 0xffff
for i in range(1000000):
    src = bytes([10, (i >> 16) & 255, (i >> 8) & 255, i & 255])
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40, 0, 0, 64, 6, 0, src, bytes([10, 255, 0, 1]))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    tcp = struct.pack("!HHIIBBHHH", 1024 + i % 60000, 80, (i * 7919) & 0xffffffff, 0, 0x50, 0x02, 65535, 0, 0)
    f.write(struct.pack('<IIII', 1700000000 + i // 100000, (i % 100000) * 10, 40, 40) + ip + tcp)
EOF
python3 "$src/tests/lib/peak_rss.py" "$work/rss" "$tw" analyze -q --no-dpi --max-flows 1000 -o "$work/flood.db" "$work/flood.pcap"
check "flood exit" $? 0
check "flood connections written" "$(sqlite3 "$work/flood.db" 'select count(*) from connections')" 1000000
ev=$(sqlite3 "$work/flood.db" 'select evicted from captures')
[ "$ev" -ge 998000 ] || { echo "FAIL flood: evicted=$ev, want >= 998000"; fails=$((fails + 1)); }
rss=$(cat "$work/rss")
# 1000 tracked flows need well under a megabyte; the rest is the program, nDPI's
# module and SQLite's page cache (64 MB): all fixed. Uncapped, a million flows
# would need about 500 MB.
# (a sanitizer build's shadow memory and quarantine make RSS meaningless)
if ldd "$tw" 2>/dev/null | grep -q 'libasan'; then
    echo "PARTIAL-SKIP: flood peak RSS (sanitizer build: shadow memory makes it meaningless)"
elif [ "$rss" -ge 200000 ]; then
    echo "FAIL flood: peak RSS ${rss} KB"; fails=$((fails + 1))
fi
# ---- the same file twice into one database: refused, unless --append --------------
db=$work/twice.db
"$tw" analyze -q -o "$db" "$s"; check "first analysis" $? 0
before=$(md5sum <"$db")
"$tw" analyze -q -o "$db" "$s" 2>"$work/twice.err"; check "second analysis refused" $? 1
check "refusal is one line naming the file and the capture" \
    "$(wc -l <"$work/twice.err") $(grep -c "$s: already analyzed into $db (capture 1" "$work/twice.err")" "1 1"
check "refused run changed nothing" "$(md5sum <"$db")" "$before"
cp "$s" "$work/renamed.pcap"
"$tw" analyze -q -o "$db" "$src/samples/client_close.pcap" "$work/renamed.pcap" 2>/dev/null
check "a copy under another name, among other files, refused" $? 1
check "captures after refusals" "$(sqlite3 "$db" 'select count(*) from captures')" 1
"$tw" analyze -q --append -o "$db" "$work/renamed.pcap"; check "--append" $? 0
"$tw" analyze -q -o "$db" - <"$s"; check "standard input is not recognised, so taken" $? 0
check "files rows" "$(sqlite3 "$db" "select group_concat(capture_id || ':' || file_index || ':' || (size = $(wc -c <"$s")) || ':' || length(fingerprint), ' ') from files where path != '-'")" "1:0:1:16 2:0:1:16"
check "stdin row" "$(sqlite3 "$db" "select capture_id, size is null, fingerprint is null from files where path = '-'")" "3|1|1"

# ---- one truncated file among several: the others are read to their end -------------
head -c 600 "$s" >"$work/cut.pcap"
for order in "cut first" "cut middle"; do
    db=$work/multi.db; rm -f "$db"*
    if [ "$order" = "cut first" ]; then set -- "$work/cut.pcap" "$src/samples/client_close.pcap" "$src/samples/server_close.pcap"
    else set -- "$src/samples/client_close.pcap" "$work/cut.pcap" "$src/samples/server_close.pcap"; fi
    "$tw" analyze -q -o "$db" "$@" 2>"$work/multi.err"; check "$order: exit" $? 1
    check "$order: one warning naming the file, one closing line" \
        "$(grep -c "cut.pcap: .*going on with the other files" "$work/multi.err") $(grep -c "1 of 3 files cut short" "$work/multi.err")" "1 1"
    check "$order: files.error only on the cut file" \
        "$(sqlite3 "$db" "select group_concat(path like '%cut.pcap', ',') from files where error is not null")" 1
    check "$order: capture incomplete" "$(sqlite3 "$db" 'select complete, error like "%cut.pcap%" from captures')" "0|1"
    # the two good files' connections are all there, as analyzed alone
    rm -f "$work/good.db"*
    "$tw" analyze -q -o "$work/good.db" "$src/samples/client_close.pcap" "$src/samples/server_close.pcap"
    check "$order: good files' connections" \
        "$(sqlite3 "$db" "select count(*) from connections where client_port in (select client_port from connections) and first_file != $( [ "$order" = "cut first" ] && echo 0 || echo 1)")" \
        "$(sqlite3 "$work/good.db" 'select count(*) from connections')"
done

# ---- findings_named: flags in letters, the Wireshark filter and the file, in SQL -----
db=$work/named.db
"$tw" analyze -q -o "$db" "$src/samples/client_close.pcap" "$src/samples/final_ack_lost.pcap"
check "findings_named" "$(sqlite3 "$db" "select count(*) = sum(file_path like '%final_ack_lost.pcap' and wireshark = 'frame.number == ' || frame and flag_letters = 'FA') from findings_named where kind = 'fin_retransmission'")" 1

# ---- reading leaves nothing beside the database, and needs no write access ----------
mkdir -p "$work/ro" && chmod 755 "$work/ro"
"$tw" analyze -q -o "$work/ro/r.db" "$s"
"$tw" query "$work/ro/r.db" summary >/dev/null; check "query exit" $? 0
"$tw" report "$work/ro/r.db" -o "$work/r.html" >/dev/null 2>&1; check "report exit" $? 0
check "no -wal or -shm left by query and report" "$(ls "$work/ro" | tr '\n' ' ')" "r.db "
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    rm -f "$work/ro/r.db-"*
    chmod 644 "$work/ro/r.db"
    chmod 711 "$work"
    # another user: may read the file, may not write it nor create files beside it
    check "query by a user who cannot write there" \
        "$(setpriv --reuid=65534 --regid=65534 --clear-groups "$tw" query "$work/ro/r.db" sql 'select count(*) from connections' --format csv 2>&1 | tail -n 1 | tr -d '\r')" \
        "$(sqlite3 "$work/ro/r.db" 'select count(*) from connections')"
    check "nothing left by that user" "$(ls "$work/ro" | tr '\n' ' ')" "r.db "
else
    echo "PARTIAL-SKIP: query by a user without write access (needs root and setpriv)"
fi

echo "inputs: $fails failure(s); flood peak RSS ${rss} KB, evicted $ev"
exit $((fails > 0))
