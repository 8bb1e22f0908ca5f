#!/usr/bin/env bash
# t_malformed.sh -- bad inputs and bad arguments get one clear error, the
# documented exit code (0 ok, 1 error, 2 usage: src/main.c), and whatever was
# analyzed before a fault stays in the database, marked incomplete.
#
# usage: bash t_malformed.sh TWSCOPE_BINARY SOURCE_DIR BUILD_DIR   (77 = skipped)
#
# Every input is made here, in a temporary directory (tests/malformed/mkcap.py,
# printf, head). For each case:
#   - the exit code;
#   - stderr is exactly one line and names the file (or the option / filter /
#     database);
#   - a fault before anything was read leaves no database behind;
#   - a fault after packets were read leaves a database that passes
#     PRAGMA integrity_check, whose captures row has complete = 0 and an error
#     naming the file, and which holds the connections analyzed before it;
#   - inputs that are odd but readable (caplen 0, caplen > snaplen, time going
#     back, IP lengths beyond the capture) are analyzed: exit 0, complete = 1.
# Cases where twscope's current behaviour is not a sane outcome are XFAIL
# (printed, not counted as failures; an XPASS is printed too so the list gets
# updated): see the report of issue 7.
set -u
tw=$(realpath "${1:?usage: t_malformed.sh TWSCOPE SOURCE_DIR BUILD_DIR}")
src=$(realpath "${2:?usage: t_malformed.sh TWSCOPE SOURCE_DIR BUILD_DIR}")
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
mkcap=$src/tests/malformed/mkcap.py
work=$(mktemp -d /tmp/twscope-malformed.XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work" || exit 1

fails=0 xfails=0 cases=0
case_name= case_fails=0
bad() { echo "not ok - $case_name: $*"; fails=$((fails + 1)); }
# close_case: "ok - NAME" for the case that just ended without a failure.
close_case() {
    [ -n "$case_name" ] && [ "$fails" = "$case_fails" ] && echo "ok - $case_name"
    case_name= case_fails=$fails
}

# run NAME WANT_RC ARGS...: run twscope in $work, stderr to NAME.err; sets $rc.
run() {
    close_case
    case_name=$1 want=$2
    shift 2
    cases=$((cases + 1))
    rm -f db.sqlite db.sqlite-wal db.sqlite-shm
    "$tw" "$@" >"$case_name.out" 2>"$case_name.err"
    rc=$?
    [ "$rc" = "$want" ] || bad "exit $rc, want $want (stderr: $(head -c 300 "$case_name.err"))"
}

# one_line WORD: stderr is one line, prefixed "twscope: " or naming WORD first, containing WORD.
one_line() {
    local n
    n=$(wc -l <"$case_name.err")
    [ "$n" = 1 ] || bad "stderr has $n lines, want 1: $(head -c 300 "$case_name.err")"
    grep -qF -- "$1" "$case_name.err" || bad "stderr does not name '$1': $(head -c 300 "$case_name.err")"
}

no_db() {
    [ ! -e db.sqlite ] || bad "a database was created although nothing was read"
}

q() { sqlite3 db.sqlite "$1" 2>&1; }

# db_state COMPLETE CONNECTIONS [ERROR_WORD]: captures row, integrity, connection
# count (- = not checked), error text (must contain ERROR_WORD).
db_state() {
    local complete=$1 conns=$2 word=${3:-} v
    [ -s db.sqlite ] || { bad "no database"; return; }
    v=$(q "PRAGMA integrity_check")
    [ "$v" = ok ] || bad "integrity_check: $v"
    v=$(q "select count(*) from captures")
    [ "$v" = 1 ] || bad "$v captures rows, want 1"
    v=$(q "select complete from captures")
    [ "$v" = "$complete" ] || bad "captures.complete = '$v', want $complete"
    if [ "$conns" != - ]; then
        v=$(q "select count(*) from connections")
        [ "$v" = "$conns" ] || bad "$v connections, want $conns"
    fi
    if [ "$complete" = 0 ]; then
        v=$(q "select coalesce(error, '') from captures")
        [ -n "$v" ] || bad "captures.error is empty"
        [ -z "$word" ] || case $v in *"$word"*) ;; *) bad "captures.error '$v' lacks '$word'" ;; esac
        v=$(q "select packets > 0 from captures")
        [ "$v" = 1 ] || bad "captures.packets = 0 although packets were read"
    else
        v=$(q "select coalesce(error, '') from captures")
        [ -z "$v" ] || bad "captures.error = '$v' on a complete run"
    fi
}

# xfail NAME WHY CHECK...: run CHECK (a shell command); failure is expected.
xfail() {
    close_case
    local name=$1 why=$2
    shift 2
    cases=$((cases + 1))
    if "$@"; then
        echo "XPASS - $name: now behaves (remove it from the XFAIL list: $why)"
    else
        echo "XFAIL - $name: $why"
        xfails=$((xfails + 1))
    fi
}

an() { run "$1" "$2" analyze -q --no-dpi -o db.sqlite "${@:3}"; }
gz() { python3 -c 'import gzip,sys; sys.stdout.buffer.write(gzip.compress(open(sys.argv[1],"rb").read(), 6))' "$1"; }

python3 "$mkcap" valid valid.pcap 4 || exit 1
python3 "$mkcap" valid many.pcap 200 || exit 1
size=$(stat -c %s valid.pcap)

# ---- unreadable before the first packet: exit 1, one line, no database ----
: >empty.pcap
an empty 1 empty.pcap; one_line empty.pcap; no_db
head -c 10 valid.pcap >shorthdr.pcap
an short_global_header 1 shorthdr.pcap; one_line shorthdr.pcap; no_db
head -c 2 valid.pcap >tiny.pcap
an two_bytes 1 tiny.pcap; one_line tiny.pcap; no_db
printf 'this is not a capture\n' >text.pcap
an text_file 1 text.pcap; one_line text.pcap; no_db
mkdir adir
an directory_as_file 1 adir; one_line adir; no_db
an nonexistent_file 1 missing.pcap; one_line missing.pcap; no_db
an nonexistent_second_file 1 valid.pcap missing.pcap; one_line missing.pcap; no_db

# ---- a fault after packets were read: exit 1, one line, partial database ----
head -c $((size - 100)) valid.pcap >truncrec.pcap
an truncated_record 1 truncrec.pcap; one_line truncrec.pcap; db_state 0 4 truncrec.pcap
v=$(q "select count(*) from connections where close_kind = 'fin'")
[ "$v" -ge 3 ] || bad "$v connections closed by FIN before the cut, want >= 3"
{ cat valid.pcap; printf '\x01\x02\x03\x04\x05\x06\x07\x08'; } >trunchdr.pcap
an truncated_record_header 1 trunchdr.pcap; one_line trunchdr.pcap; db_state 0 4 trunchdr.pcap
{ cat valid.pcap; head -c 100 /dev/zero | tr '\0' '\377'; } >garbage.pcap
an garbage_after_packets 1 garbage.pcap; one_line garbage.pcap; db_state 0 4 garbage.pcap
python3 "$mkcap" hugelen hugelen.pcap
an huge_caplen 1 hugelen.pcap; one_line hugelen.pcap; db_state 0 2 hugelen.pcap
python3 "$mkcap" pcapng_hugeblock hugeblock.pcapng
an huge_pcapng_block 1 hugeblock.pcapng; one_line hugeblock.pcapng; db_state 0 1 hugeblock.pcapng
# libpcap 1.10 reads one link type per pcapng file: the raw-IP interface ends the read
python3 "$mkcap" pcapng2if twoif.pcapng
an pcapng_two_linktypes 1 twoif.pcapng; one_line twoif.pcapng; db_state 0 2 twoif.pcapng
gz many.pcap >many.pcap.gz
gzsize=$(stat -c %s many.pcap.gz)
head -c $((gzsize / 2)) many.pcap.gz >cut.pcap.gz
an gzip_cut 1 cut.pcap.gz; one_line cut.pcap.gz; db_state 0 - cut.pcap.gz
v=$(q "select count(*) from connections"); e=$(q "select error from captures")
case $e in *gzip*) ;; *) bad "error '$e' does not say gzip" ;; esac
[ "$v" -ge 50 ] && [ "$v" -lt 200 ] || bad "$v connections from the first half, want 50..199"
# the same through stdin
close_case
case_name=gzip_cut_stdin cases=$((cases + 1))
rm -f db.sqlite*
"$tw" analyze -q --no-dpi -o db.sqlite - <cut.pcap.gz >/dev/null 2>"$case_name.err"
rc=$?
[ "$rc" = 1 ] || bad "exit $rc, want 1"
one_line "-: "; db_state 0 - gzip

# ---- readable oddities: exit 0, complete ----
python3 "$mkcap" caplen0 caplen0.pcap
an caplen_zero 0 caplen0.pcap; db_state 1 3
v=$(q "select skip_reasons from captures")
case $v in *'"trunc_link":3'*) ;; *) bad "skip_reasons '$v' lacks trunc_link:3" ;; esac
[ -s caplen_zero.err ] && bad "stderr not empty: $(head -c 200 caplen_zero.err)"
python3 "$mkcap" snaplen snaplen.pcap
an caplen_over_snaplen 0 snaplen.pcap; db_state 1 2
python3 "$mkcap" iplen iplen.pcap
an ip_length_beyond_capture 0 iplen.pcap; db_state 1 2
python3 "$mkcap" backwards backwards.pcap
an time_backwards 0 backwards.pcap; db_state 1 4
v=$(q "select min(first_ts) < 1700000000 and max(last_ts) >= 1700000000.015 from connections")
[ "$v" = 1 ] || bad "connection times do not follow the packets"
v=$(q "select first_ts = 1700000000.0 and last_ts = 1700000000.015 from captures")
[ "$v" = 1 ] || bad "captures first_ts/last_ts: $(q 'select first_ts, last_ts from captures')"
v=$(q "select count(*) from time_waits where end_ts < start_ts")
[ "$v" = 0 ] || bad "$v TIME_WAIT periods end before they start"

# ---- database path problems: exit 1, one line naming the database ----
run db_missing_directory 1 analyze -q --no-dpi -o nodir/x.db valid.pcap; one_line nodir/x.db
[ ! -e nodir ] || bad "created the missing directory"
run db_is_directory 1 analyze -q --no-dpi -o adir valid.pcap; one_line adir
[ -z "$(ls adir)" ] || bad "wrote into the directory"
printf 'not a database at all, just some text that is long enough to be a header...' >text.db
cp text.db text.db.orig
run db_not_sqlite 1 analyze -q --no-dpi -o text.db valid.pcap; one_line text.db
cmp -s text.db text.db.orig || bad "the foreign file was modified"

# ---- usage errors: exit 2 ----
run bad_filter_args 2 analyze -q --no-dpi -o db.sqlite valid.pcap tcp port; one_line "tcp port"; no_db
run bad_filter_option 2 analyze -q --no-dpi -o db.sqlite -f 'nonsense(' valid.pcap
one_line "nonsense("; no_db
run bad_tw_profile 2 analyze -q --no-dpi -o db.sqlite --tw-profile solaris valid.pcap
one_line solaris; no_db
run unknown_option 2 analyze -q --no-dpi --bogus -o db.sqlite valid.pcap; no_db
grep -qF -- "--bogus" unknown_option.err || bad "stderr does not name --bogus"
[ "$(wc -l <unknown_option.err)" = 1 ] || bad "stderr is not one line: $(cat unknown_option.err)"
grep -q '^twscope: ' unknown_option.err || bad "stderr lacks the twscope: prefix"
run unknown_command 2 frobnicate x; grep -qF frobnicate unknown_command.err || bad "does not name the command"

# ---- query on something that is not a twscope database: exit 1, one line ----
run query_not_database 1 query valid.pcap summary; one_line valid.pcap
run query_missing 1 query missing.db summary; one_line missing.db
run query_directory 1 query adir summary; one_line adir
python3 -c 'import sqlite3; c = sqlite3.connect("other.db"); c.execute("create table t(x)"); c.commit()'
run query_other_schema 1 query other.db summary; one_line other.db

# pcapng timestamp near 2^64 microseconds (found by fuzz_file: it overflowed
# int64 in capture_file.c): clamped since abdb004, analyzed like any other packet,
# no sanitizer report.
python3 "$mkcap" pcapng_ts bigts.pcapng
an pcapng_timestamp_far_future 0 bigts.pcapng; db_state 1 1
[ -s pcapng_timestamp_far_future.err ] && bad "stderr: $(head -c 300 pcapng_timestamp_far_future.err)"
v=$(q "select packets, tcp_packets from captures")
[ "$v" = "3|3" ] || bad "packets|tcp_packets = $v, want 3|3"

# A capture starting at time 0 (synthetic captures often do): the first
# packet's time is the capture's start, not "no packet yet".
python3 "$mkcap" tszero tszero.pcap
rm -f db.sqlite*
"$tw" analyze -q --no-dpi -o db.sqlite tszero.pcap >/dev/null 2>tszero.err
close_case
case_name=timestamp_zero cases=$((cases + 1))
[ "$(q 'select first_ts from captures')" = 0.0 ] || bad "captures.first_ts = $(q 'select first_ts from captures'), want 0.0"

close_case
echo "t_malformed: $cases cases, $fails failures, $xfails known failures (XFAIL)"
[ "$fails" = 0 ]
