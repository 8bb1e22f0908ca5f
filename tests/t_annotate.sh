#!/usr/bin/env bash
# twscope annotate, end to end, on the samples (real kernel captures) in three
# shapes: a classic microsecond pcap, a nanosecond pcap (times made 456 ns more
# precise), and a gzip-compressed pcapng with two interfaces of different
# resolutions, a section comment, existing packet comments, a Name Resolution
# Block, an obsolete Packet Block and a statistics block (tests/lib/
# mkpcapng.py, independent of twscope's writer); a big-endian pcapng too.
# One database, two captures (IPv4 and IPv6 reuse in the second).
#  - libpcap (tests/pcap_frames, nanosecond precision) reads every output and
#    gets exactly the packets of its source: count, timestamps, lengths, bytes;
#  - tshark gets the same times, lengths and interface names as from the source,
#    the existing comments first on their frames, and "twscope: " comments on
#    exactly the frames the database names (findings, TIME_WAIT starts, the SYN
#    or RST that ended a TIME_WAIT, the SYN of a new incarnation), as many on
#    each as the database has reasons, each naming its connection; a final ACK
#    retransmission names the TIME_WAIT side and since which frame;
#  - --merge: one file, one section per input, frames offset by the files before;
#  - --file N and --capture ID select; errors (missing source, appended byte,
#    same size but other content, bad --capture, bad -o, several files to one
#    -o) exit non-zero with one line naming what is at fault, and leave no
#    output and no temporary file behind.
# tshark missing: its parts print PARTIAL-SKIP, the libpcap parts still run.
# Usage: t_annotate.sh TWSCOPE SOURCE_DIR BUILD_DIR   (exit 77 = skipped)
set -u
tw=$1 src=$2 build=$3
frames=$build/tests/pcap_frames
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
[ -x "$frames" ] || { echo "SKIP: $frames not built"; exit 77; }
. "$src/tests/lib/probe.sh"
have_tshark=1
probe_tshark || { have_tshark=0; echo "PARTIAL-SKIP: $PROBE_WHY: comments and interface names not checked, libpcap checks only"; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { if [ "$2" != "$3" ]; then fail "$1: got '$2', want '$3'"; fi; }
S=$src/samples

# ---- inputs -------------------------------------------------------------------
mkdir -p "$work/in"
cp "$S/reuse_bound.pcap" "$work/in/reuse.pcap"
python3 - "$S/final_ack_lost.pcap" "$work/in/lost_ns.pcap" <<'EOF'
import struct, sys
d = open(sys.argv[1], 'rb').read()
assert d[:4] == b'\xd4\xc3\xb2\xa1'
o = bytearray(b'\x4d\x3c\xb2\xa1' + d[4:24])
off = 24
while off + 16 <= len(d):
    sec, usec, incl, orig = struct.unpack('<IIII', d[off:off + 16])
    o += struct.pack('<IIII', sec, usec * 1000 + 456, incl, orig) + d[off + 16:off + 16 + incl]
    off += 16 + incl
open(sys.argv[2], 'wb').write(o)
EOF
python3 "$src/tests/lib/mkpcapng.py" "$S/rst_in_tw.pcap" "$work/in/rst.pcapng"
gzip -n "$work/in/rst.pcapng"                       # -> rst.pcapng.gz
python3 "$src/tests/lib/mkpcapng.py" "$S/late_data_reuse.pcap" "$work/in/late_be.pcapng" --big-endian
cp "$S/v6_reuse_bound.pcap" "$work/in/v6.pcap"

db=$work/a.db
"$tw" analyze -q -o "$db" "$work/in/reuse.pcap" "$work/in/lost_ns.pcap" "$work/in/rst.pcapng.gz" ||
    fail "analyze capture 1"
"$tw" analyze -q -o "$db" "$work/in/late_be.pcapng" "$work/in/v6.pcap" || fail "analyze capture 2"
check "two captures" "$(sqlite3 "$db" 'select count(*) from captures')" 2

# plain (uncompressed) copy of source SRC for the readers
plain() {
    case $1 in
    *.gz) gzip -dc "$1" >"$work/plain.tmp" && echo "$work/plain.tmp" ;;
    *) echo "$1" ;;
    esac
}

# The frames of file FILE of capture CAP that must carry twscope comments, with
# how many each: one per finding, per TIME_WAIT start, per TIME_WAIT ended by a
# packet (the next incarnation's SYN for 'reused', the tw_rst finding for
# 'rst'), per new incarnation's first frame.
expected() { # CAP FILE
    sqlite3 -separator ' ' "$db" "
    WITH c AS (SELECT * FROM connections WHERE capture_id = $1),
    reasons(frame) AS (
      SELECT f.frame FROM findings f JOIN c ON c.id = f.connection_id WHERE f.file = $2
      UNION ALL SELECT t.start_frame FROM time_waits t JOIN c ON c.id = t.connection_id
        WHERE t.start_file = $2
      UNION ALL SELECT n.first_frame FROM time_waits t JOIN c ON c.id = t.connection_id
        JOIN connections n ON n.prev_connection_id = t.connection_id
        WHERE t.end_reason = 'reused' AND n.first_file = $2
      UNION ALL SELECT f.frame FROM time_waits t JOIN c ON c.id = t.connection_id
        JOIN findings f ON f.connection_id = t.connection_id AND f.kind = 'tw_rst'
        AND abs(f.ts - t.end_ts) < 1e-6
        WHERE t.end_reason = 'rst' AND f.file = $2
      UNION ALL SELECT first_frame FROM c WHERE prev_connection_id IS NOT NULL AND first_file = $2)
    SELECT frame, count(*) FROM reasons GROUP BY frame ORDER BY frame"
}

# frame and number of "twscope: " comments, from tshark, frame numbers less
# OFFSET, only frames OFFSET+1 to OFFSET+COUNT (COUNT 0: all)
commented() { # OUT OFFSET COUNT
    tshark -r "$1" -Y 'frame.comment contains "twscope"' -T fields -e frame.number \
        -e frame.comment 2>/dev/null |
        awk -F'\t' -v off="$2" -v n="$3" '$1 > off && (n == 0 || $1 <= off + n) {
            print $1 - off, gsub(/twscope: /, "&", $2) }'
}

# the comments of frame N of the last output check_output read
comment_of() { awk -F'\t' -v n="$1" '$1 == n { print $2 }' "$work/out.cm"; }

# Check OUT against its source SRC (file FILE of capture CAP). OFFSET given:
# OUT is a merged output whose section for SRC starts after frame OFFSET.
check_output() { # NAME OUT SRC CAP FILE [OFFSET]
    local name=$1 out=$2 s c n off=${6:-0}
    [ -s "$out" ] || { fail "$name: no output $out"; return; }
    s=$(plain "$3")
    n=$(($("$frames" "$s" | wc -l) - 1))
    if [ -z "${6:-}" ]; then
        check "$name: libpcap reads the same packets, times, lengths, bytes" \
            "$("$frames" "$out" 2>&1 | md5sum)" "$("$frames" "$s" | md5sum)"
    else
        check "$name: libpcap, merged section" \
            "$("$frames" "$out" 2>&1 | sed -n "$((off + 2)),$((off + n + 1))p" |
               awk '{ $1 = $1 - '"$off"'; print }' | md5sum)" \
            "$("$frames" "$s" | sed 1d | md5sum)"
    fi
    [ $have_tshark = 1 ] || return
    # (a pcap has no interface name: tshark shows "" for it, "unknown" for a
    # pcapng interface without if_name)
    c="-T fields -e frame.time_epoch -e frame.len -e frame.cap_len -e frame.interface_name"
    check "$name: tshark reads the same times, lengths, interfaces" \
        "$(tshark -r "$out" $c 2>/dev/null | sed -n "$((off + 1)),$((off + n))p" |
           sed 's/\tunknown$/\t/' | md5sum)" \
        "$(tshark -r "$s" $c 2>/dev/null | md5sum)"
    # existing comments stay, first, on their frames
    tshark -r "$s" -T fields -e frame.number -e frame.comment 2>/dev/null |
        awk -F'\t' '$2 != ""' >"$work/orig.cm"
    tshark -r "$out" -T fields -e frame.number -e frame.comment 2>/dev/null >"$work/out.cm"
    while IFS=$'\t' read -r fr cm; do
        got=$(comment_of $((fr + off)))
        case $got in
        "$cm"*) ;;
        *) fail "$name: frame $fr lost its comment '$cm' (has '$got')" ;;
        esac
    done <"$work/orig.cm"
    check "$name: commented frames and how many comments" \
        "$(commented "$out" "$off" "$n" | tr '\n' ' ')" "$(expected "$4" "$5" | tr '\n' ' ')"
    # every finding's comment names its connection
    sqlite3 -separator ' ' "$db" "select f.frame, f.connection_id, f.kind from findings f
        join connections c on c.id = f.connection_id where c.capture_id = $4 and f.file = $5" |
    while read -r fr cid kind; do
        got=$(comment_of $((fr + off)))
        case $got in
        *"; connection $cid"*) ;;
        *) echo "FAIL $name: $kind at frame $fr: no 'connection $cid' in '$got'"; echo x >>"$work/subfail" ;;
        esac
    done
}

# ---- capture 1: one output per file (directory) -------------------------------
mkdir "$work/out"
"$tw" annotate "$db" --capture 1 -o "$work/out" 2>"$work/err" || fail "annotate capture 1: $(cat "$work/err")"
check "summary lines" "$(grep -c ' packets, ' "$work/err")" 3
check "outputs named after the inputs" "$(cd "$work/out" && ls | tr '\n' ' ')" \
    "lost_ns.pcapng reuse.pcapng rst.pcapng "
check_output reuse "$work/out/reuse.pcapng" "$work/in/reuse.pcap" 1 0
check_output lost_ns "$work/out/lost_ns.pcapng" "$work/in/lost_ns.pcap" 1 1
check_output rst_gz "$work/out/rst.pcapng" "$work/in/rst.pcapng.gz" 1 2
if [ $have_tshark = 1 ]; then
    # the nanoseconds survive (if_tsresol 9), and the issue's example holds
    check "nanosecond times kept" \
        "$(tshark -r "$work/out/lost_ns.pcapng" -T fields -e frame.time_epoch -c 1 2>/dev/null)" \
        "$(tshark -r "$work/in/lost_ns.pcap" -T fields -e frame.time_epoch -c 1 2>/dev/null)"
    case $(tshark -r "$work/out/lost_ns.pcapng" -c 1 -T fields -e frame.time_epoch 2>/dev/null) in
    *456) ;; *) fail "nanosecond digits lost" ;;
    esac
    tsf=$(sqlite3 "$db" "select t.start_frame || ' ' || t.ip || ':' || t.port from time_waits t
        join connections c on c.id = t.connection_id where c.capture_id = 1 and t.start_file = 1")
    ack=$(sqlite3 "$db" "select frame from findings where kind = 'final_ack_retransmission' and file = 1")
    got=$(tshark -r "$work/out/lost_ns.pcapng" -Y "frame.number == $ack" -T fields -e frame.comment 2>/dev/null)
    case $got in
    *"twscope: final ACK retransmission: "*"lost before this capture point"*"TIME_WAIT client ${tsf#* } since frame ${tsf%% *}"*) ;;
    *) fail "final ACK comment: '$got' (want TIME_WAIT client ${tsf#* } since frame ${tsf%% *})" ;;
    esac
    # the obsolete Packet Block of frame 11 (the RST) became an EPB with comments
    got=$(tshark -r "$work/out/rst.pcapng" -Y 'frame.number == 11' -T fields -e frame.comment 2>/dev/null)
    case $got in
    *"twscope: RST into TIME_WAIT: RST from the server into the client's TIME_WAIT"*"twscope: TIME_WAIT of the client"*"ends here: killed by this RST"*) ;;
    *) fail "frame 11 of rst: '$got'" ;;
    esac
    # the source's section comment and interfaces kept, our mark added after them
    # (the comment that lets a later annotate replace this file: outfile.h)
    check "section comment and interfaces of the pcapng kept" \
        "$(capinfos -k -c "$work/out/rst.pcapng" 2>/dev/null | grep -E 'comment|interfaces' | tr -s ' ')" \
        "$(gzip -dc "$work/in/rst.pcapng.gz" >"$work/rst.pcapng" && capinfos -k -c "$work/rst.pcapng" 2>/dev/null | grep -E 'comment|interfaces' | tr -s ' ' |
           sed '/^Capture comment/{p;s/.*/Capture comment: annotated by twscope '"$("$tw" --version | awk '{print $2}')"'/;}')"
else
    echo "PARTIAL-SKIP: tshark is not installed: comment texts not checked"
fi

# ---- --merge: one output, one section per file -----------------------------------
"$tw" annotate "$db" --capture 1 --merge -o "$work/merged.pcapng" 2>"$work/err" ||
    fail "annotate --merge: $(cat "$work/err")"
n0=$(($("$frames" "$work/in/reuse.pcap" | wc -l) - 1))
n1=$(($("$frames" "$work/in/lost_ns.pcap" | wc -l) - 1))
check_output merged0 "$work/merged.pcapng" "$work/in/reuse.pcap" 1 0 0
check_output merged1 "$work/merged.pcapng" "$work/in/lost_ns.pcap" 1 1 "$n0"
check_output merged2 "$work/merged.pcapng" "$work/in/rst.pcapng.gz" 1 2 $((n0 + n1))

# ---- capture 2: a pattern, a big-endian pcapng, IPv6; --file ------------------
"$tw" annotate "$db" --capture 2 -o "$work/out/c2-%i-%f.pcapng" -q 2>"$work/err" ||
    fail "annotate capture 2: $(cat "$work/err")"
check "-q is quiet" "$(cat "$work/err")" ""
check_output late_be "$work/out/c2-0-late_be.pcapng" "$work/in/late_be.pcapng" 2 0
check_output v6 "$work/out/c2-1-v6.pcapng" "$work/in/v6.pcap" 2 1
if [ $have_tshark = 1 ]; then
    got=$(commented "$work/out/c2-1-v6.pcapng" 0 0 | head -1)
    [ -n "$got" ] || fail "v6: no comment"
    tshark -r "$work/out/c2-1-v6.pcapng" -T fields -e frame.comment 2>/dev/null | grep -q '\[[0-9a-f:]*\]:[0-9]* ->' ||
        fail "v6: no [address]:port in the incarnation comments"
fi
"$tw" annotate "$db" --capture 2 --file 1 -o "$work/one.pcapng" 2>"$work/err" || fail "--file 1: $(cat "$work/err")"
check "--file 1 annotates that file only" "$(grep -c ' packets, ' "$work/err") $(grep -c v6.pcap "$work/err")" "1 1"
check_output file1 "$work/one.pcapng" "$work/in/v6.pcap" 2 1

# --merge cannot mix byte orders (the big-endian pcapng of capture 2): an error, nothing left
rm -rf "$work/eo"; mkdir "$work/eo"
"$tw" annotate "$db" --capture 2 --merge -o "$work/eo/m.pcapng" 2>"$work/err"
check "--merge with a big-endian pcapng: exit status" "$?" 2
grep -q "late_be.pcapng has a pcapng section in the other byte order" "$work/err" ||
    fail "--merge big-endian: message '$(cat "$work/err")'"
check "--merge big-endian: nothing left" "$(ls "$work/eo")" ""

# a relative path recorded by analyze is found beside the database from elsewhere
(cd "$work/in" && "$tw" analyze -q -o rel.db v6.pcap) || fail "analyze with a relative path"
(cd / && "$tw" annotate "$work/in/rel.db" -q -o "$work/rel.pcapng") 2>"$work/err" ||
    fail "relative source path beside the database: $(cat "$work/err")"
check "relative source: same packets" "$("$frames" "$work/rel.pcapng" 2>&1 | md5sum)" \
    "$("$frames" "$work/in/v6.pcap" | md5sum)"
"$tw" annotate --help | grep -q -- '--merge' || fail "annotate --help lacks --merge"
"$tw" --help | grep -q 'twscope annotate DB' || fail "twscope --help lacks annotate"

# a Simple Packet Block (no timestamp: libpcap says 0) that gets a comment, and
# one in a merged output (interface 0 of the second input): both become EPBs
python3 "$src/tests/lib/mkpcapng.py" "$S/client_close.pcap" "$work/in/spb.pcapng" --spb 9
"$tw" analyze -q -o "$work/spb.db" "$work/in/reuse.pcap" "$work/in/spb.pcapng" || fail "analyze spb"
"$tw" annotate "$work/spb.db" -q --file 1 -o "$work/spb1.pcapng" || fail "annotate spb"
"$tw" annotate "$work/spb.db" -q --merge -o "$work/spbm.pcapng" || fail "annotate spb --merge"
check "SPB: libpcap reads the same packets" "$("$frames" "$work/spb1.pcapng" | md5sum)" \
    "$("$frames" "$work/in/spb.pcapng" | md5sum)"
check "SPB, merged: libpcap reads the same packets" \
    "$("$frames" "$work/spbm.pcapng" | sed 1,31d | awk '{ $1 = $1 - 30; print }' | md5sum)" \
    "$("$frames" "$work/in/spb.pcapng" | sed 1d | md5sum)"
check "SPB frame is the TIME_WAIT start" \
    "$(sqlite3 "$work/spb.db" 'select start_frame, start_file from time_waits where start_file = 1')" "9|1"
if [ $have_tshark = 1 ]; then
    check "SPB, merged: commented, on the second input's eth0" \
        "$(tshark -r "$work/spbm.pcapng" -Y 'frame.number == 39' -T fields -e frame.interface_name \
           -e frame.comment 2>/dev/null | cut -c1-30)" "$(printf 'eth0\ttwscope: TIME_WAIT starts')"
fi

# a source that was already truncated when analyzed (files.error): the packets
# before the cut are copied, one warning names the file and offset, exit 0
head -c 2000 "$work/in/reuse.pcap" >"$work/in/cut.pcap"
"$tw" analyze -q -o "$work/cut.db" "$work/in/cut.pcap" 2>/dev/null
check "truncated source recorded" "$(sqlite3 "$work/cut.db" 'select error is not null from files')" 1
"$tw" annotate "$work/cut.db" -q -o "$work/cut.pcapng" 2>"$work/err" || fail "truncated source: $(cat "$work/err")"
grep -q "warning: .*cut.pcap: truncated record at offset [0-9]*, after frame [0-9]*" "$work/err" ||
    fail "truncated source: warning '$(cat "$work/err")'"
check "truncated source: the packets before the cut" "$("$frames" "$work/cut.pcapng" | md5sum)" \
    "$("$frames" "$work/in/cut.pcap" 2>/dev/null | md5sum)"

# ---- errors ---------------------------------------------------------------------
# expect_err NAME EXIT PATTERN OUT CMD...: exit status, one line matching, no OUT
expect_err() {
    local name=$1 want=$2 pat=$3 out=$4 rc
    shift 4
    "$@" >"$work/eout" 2>"$work/err"
    rc=$?
    check "$name: exit status" "$rc" "$want"
    check "$name: one line" "$(wc -l <"$work/err")" 1
    grep -q -- "$pat" "$work/err" || fail "$name: message '$(cat "$work/err")' lacks '$pat'"
    [ -z "$out" ] || [ ! -e "$out" ] || fail "$name: $out left behind"
    ls "$work/eo" 2>/dev/null | grep -q . && fail "$name: left $(ls "$work/eo")"
    rm -rf "$work/eo"; mkdir "$work/eo"
}
rm -rf "$work/eo"; mkdir "$work/eo"
expect_err "several captures, no --capture" 2 "holds 2 captures" "$work/eo/x.pcapng" \
    "$tw" annotate "$db" -o "$work/eo/x.pcapng"
expect_err "no such capture" 2 "\-\-capture 7: no such capture" "$work/eo/x.pcapng" \
    "$tw" annotate "$db" --capture 7 -o "$work/eo/x.pcapng"
expect_err "--capture abc" 2 "\-\-capture" "" "$tw" annotate "$db" --capture abc -o "$work/eo/x.pcapng"
expect_err "no such file" 2 "\-\-file 5" "$work/eo/x.pcapng" \
    "$tw" annotate "$db" --capture 1 --file 5 -o "$work/eo/x.pcapng"
expect_err "no -o" 2 "\-o OUT is required" "" "$tw" annotate "$db" --capture 1
expect_err "several files, one -o" 2 "has 3 files" "$work/eo/x.pcapng" \
    "$tw" annotate "$db" --capture 1 -o "$work/eo/x.pcapng"
expect_err "-o in a missing directory" 1 "$work/nodir/x.pcapng: cannot create it" "$work/nodir/x.pcapng" \
    "$tw" annotate "$db" --capture 1 --file 0 -o "$work/nodir/x.pcapng"
expect_err "-o missing directory/" 2 "no such directory" "" \
    "$tw" annotate "$db" --capture 1 -o "$work/nodir/"
expect_err "-o bad pattern" 2 "unknown '%z'" "" "$tw" annotate "$db" --capture 1 -o "$work/eo/%z"
expect_err "-o is the source" 2 "is the source file 0" "" \
    "$tw" annotate "$db" --capture 1 --file 0 -o "$work/in/reuse.pcap"
check "source untouched" "$(md5sum <"$work/in/reuse.pcap")" "$(md5sum <"$S/reuse_bound.pcap")"
expect_err "not a database" 1 "not a SQLite database\|not a twscope database" "" \
    "$tw" annotate "$work/in/reuse.pcap" -o "$work/eo/x.pcapng"

"$tw" analyze -q -o "$work/stdin.db" - <"$S/rst_in_tw.pcap"
expect_err "source was standard input" 1 "file 0 of capture 1 was read from '-'" "$work/eo/x.pcapng" \
    "$tw" annotate "$work/stdin.db" -o "$work/eo/x.pcapng"

# sources that moved or changed since the analysis: nothing is written, not
# even the outputs of the files that are fine
mv "$work/in/lost_ns.pcap" "$work/in/lost_ns.moved"
expect_err "missing source" 1 "lost_ns.pcap: No such file or directory (file 1 of capture 1)" "$work/eo/reuse.pcapng" \
    "$tw" annotate "$db" --capture 1 -o "$work/eo"
mv "$work/in/lost_ns.moved" "$work/in/lost_ns.pcap"
cp "$work/in/reuse.pcap" "$work/reuse.keep"
printf 'x' >>"$work/in/reuse.pcap"
expect_err "appended byte" 1 "reuse.pcap: changed since it was analyzed ([0-9]* bytes then, [0-9]* now)" "$work/eo/rst.pcapng" \
    "$tw" annotate "$db" --capture 1 -o "$work/eo"
cp "$work/reuse.keep" "$work/in/reuse.pcap"
printf '\x55' | dd of="$work/in/reuse.pcap" bs=1 seek=$(($(stat -c %s "$work/in/reuse.pcap") - 1)) conv=notrunc status=none
expect_err "same size, other bytes" 1 "reuse.pcap: changed since it was analyzed (fingerprint" "$work/eo/x.pcapng" \
    "$tw" annotate "$db" --capture 1 --merge -o "$work/eo/x.pcapng"
cp "$work/reuse.keep" "$work/in/reuse.pcap"
"$tw" annotate "$db" --capture 1 --file 0 -o "$work/eo/back.pcapng" -q || fail "restored source refused"

[ -f "$work/subfail" ] && fails=$((fails + $(wc -l <"$work/subfail")))
if [ $fails -ne 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "ok"
