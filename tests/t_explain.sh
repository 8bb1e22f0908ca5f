#!/usr/bin/env bash
# `twscope explain` (issue 18): the ladder of one 4-tuple, checked against the
# capture itself and against the database:
#  - with --all-packets, the ladder's frames are exactly the frames tcpdump
#    lists for that 4-tuple (tcpdump -#), in order, with their direction;
#  - the TIME_WAIT start frame and every finding's frame carry their note;
#  - "What happened" names the answer a finding drew (the final ACK copy);
#  - a connection id and both spellings of the 4-tuple give the same output,
#    IPv6 in brackets works, several incarnations are all shown;
#  - a changed or missing capture file: the database's frames, and why;
#  - a relative file name resolves beside the database;
#  - errors: one line and exit 2 (usage) or 1 (no database);
#  - and `query --utc/--local`: instants as dates, checked against date(1).
# Usage: t_explain.sh TWSCOPE SOURCE_DIR BUILD_DIR   (exit 77 = skipped)
set -u
tw=$1 src=$2
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
command -v tcpdump >/dev/null || { echo "SKIP: tcpdump missing (scripts/deps.sh test installs it)"; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
q() { sqlite3 "$work/caps/$1.db" "$2"; }

mkdir "$work/caps"
cp "$src"/samples/*.pcap "$work/caps/"
# analyzed from inside the directory: the files table holds relative names,
# found later beside the database whatever the working directory
(cd "$work/caps" && "$tw" analyze -q -o s.db final_ack_lost.pcap reuse_bound.pcap \
    v6_reuse_bound.pcap rst_in_tw.pcap) || { echo "FAIL: analyze"; exit 1; }

# ---- 1. frames and directions equal tcpdump's, for the lost-final-ACK connection
cid=$(q s "select id from connections where first_file = 0")
read -r cip cport sip sport <<<"$(q s "select client_ip, client_port, server_ip, server_port from connections where id = $cid" | tr '|' ' ')"
out=$(cd / && "$tw" explain "$work/caps/s.db" "$cid" --all-packets) || fail "explain $cid: exit $?"
echo "$out" | grep -q "every packet of the 4-tuple, read again" || fail "packets not read: $(echo "$out" | sed -n 2p)"
# ladder rows: "frame time |-...->|" (client to server) or "|<-...-|"
got=$(echo "$out" | awk '$1 ~ /^[0-9]+$/ && $3 ~ /^\|/ { d = ($3 ~ /^\|</) ? "<" : ">"; print $1 d }')
want=$(tcpdump -# -nn -r "$work/caps/final_ack_lost.pcap" "host $cip and host $sip and tcp port $cport and tcp port $sport" 2>/dev/null |
    awk -v c="$cip.$cport" '{ n = $1; sub(/:$/, "", n); for (i = 2; i <= NF; i++) if ($i == "IP") { print n (($(i+1) == c) ? ">" : "<"); break } }')
[ -n "$want" ] && [ "$got" = "$want" ] || { fail "ladder frames differ from tcpdump's"; diff <(echo "$got") <(echo "$want") | head; }
tw_start=$(q s "select start_frame from time_waits where connection_id = $cid")
echo "$out" | awk -v f="$tw_start" '$1 == f' | grep -q "enters TIME_WAIT" || fail "no TIME_WAIT note on frame $tw_start"
for f in $(q s "select frame from findings where connection_id = $cid"); do
    k=$(q s "select group_concat(kind) from findings where connection_id = $cid and frame = $f")
    echo "$out" | awk -v f="$f" '$1 == f' | grep -q "! ${k%%,*}" || fail "frame $f: no '! $k' note"
done
ack=$(q s "select frame from findings where connection_id = $cid and kind = 'final_ack_retransmission'")
nfin=$(q s "select count(*) from findings where connection_id = $cid and kind = 'fin_retransmission'")
[ "$nfin" -ge 2 ] || fail "want several fin_retransmission findings, got $nfin"
echo "$out" | grep -q "then $((nfin - 1)) more the same way" || fail "FIN copies not told once"
echo "$out" | grep -q -- "-> frame $ack, " || fail "the answer to the FIN copies (frame $ack) not named"
# folded by default: fewer lines, a run of plain segments in one
short=$(cd / && "$tw" explain "$work/caps/s.db" "$cid")
[ "$(echo "$short" | wc -l)" -lt "$(echo "$out" | wc -l)" ] || fail "default output not folded"
echo "$short" | grep -q " segments " || fail "no folded run"

# ---- 2. the 4-tuple in both orders, and the id: one story
a=$(cd / && "$tw" explain "$work/caps/s.db" "$cip:$cport-$sip:$sport")
b=$(cd / && "$tw" explain "$work/caps/s.db" "$sip:$sport-$cip:$cport")
[ "$a" = "$short" ] && [ "$b" = "$short" ] || fail "id and 4-tuple spellings differ"

# ---- 3. several incarnations, IPv6
rid=$(q s "select min(id) from connections where first_file = 1")
n_inc=$(q s "select count(*) from connections where first_file = 1")
r=$(cd / && "$tw" explain "$work/caps/s.db" "$rid")
echo "$r" | grep -q "^capture 1: $n_inc incarnations of" || fail "reuse: want $n_inc incarnations: $(echo "$r" | head -1)"
[ "$(echo "$r" | grep -c "incarnation [0-9]* begins")" -eq "$n_inc" ] || fail "reuse: not every incarnation begins"
[ "$(echo "$r" | grep -c "a new SYN reused the 4-tuple")" -eq "$(q s "select count(*) from time_waits t join connections c on c.id = t.connection_id where c.first_file = 1 and t.end_reason = 'reused'")" ] ||
    fail "reuse: reused periods not all told"
read -r v6c v6cp v6s v6sp <<<"$(q s "select client_ip, client_port, server_ip, server_port from connections where first_file = 2 limit 1" | tr '|' ' ')"
v=$(cd / && "$tw" explain "$work/caps/s.db" "[$v6c]:$v6cp-[$v6s]:$v6sp") || fail "IPv6 4-tuple: exit $?"
echo "$v" | grep -q "\[$v6c\]:$v6cp <-> \[$v6s\]:$v6sp" || fail "IPv6 header: $(echo "$v" | head -1)"

# ---- 4. the RST into TIME_WAIT: the period ends on the RST's line
xid=$(q s "select connection_id from findings where kind = 'tw_rst'")
rf=$(q s "select frame from findings where kind = 'tw_rst'")
x=$(cd / && "$tw" explain "$work/caps/s.db" "$xid")
echo "$x" | awk -v f="$rf" '$1 == f' | grep -q "TIME_WAIT ends at this RST" || fail "RST line $rf does not end the TIME_WAIT"

# ---- 5. changed or missing file: the database's frames, and why
printf 'x' >>"$work/caps/final_ack_lost.pcap"
c=$(cd / && "$tw" explain "$work/caps/s.db" "$cid") || fail "changed file: exit $?"
echo "$c" | grep -q "packets not read (.*not the file analyzed" || fail "changed file not told: $(echo "$c" | sed -n 2p)"
echo "$c" | awk -v f="$tw_start" '$1 == f' | grep -q "enters TIME_WAIT" || fail "changed file: database frames missing"
rm "$work/caps/final_ack_lost.pcap"
m=$(cd / && "$tw" explain "$work/caps/s.db" "$cid") || fail "missing file: exit $?"
echo "$m" | grep -q "packets not read (.*No such file" || fail "missing file not told: $(echo "$m" | sed -n 2p)"
d=$(cd / && "$tw" explain "$work/caps/s.db" "$rid" --db-only)
echo "$d" | grep -q "packets not read (--db-only)" || fail "--db-only not told"

# ---- 6. errors
"$tw" explain "$work/caps/s.db" 999999 >/dev/null 2>"$work/e1"; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$work/e1")" -eq 1 ] && grep -q "no connection with that id" "$work/e1" || fail "unknown id: rc $rc, $(cat "$work/e1")"
"$tw" explain "$work/caps/s.db" "not-a-tuple" >/dev/null 2>"$work/e2"; rc=$?
[ $rc -eq 2 ] && grep -q "want a connection id or IP:PORT-IP:PORT" "$work/e2" || fail "bad target: rc $rc, $(cat "$work/e2")"
"$tw" explain "$work/caps/s.db" "10.9.9.9:1-10.9.9.8:2" >/dev/null 2>"$work/e3"; rc=$?
[ $rc -eq 2 ] && grep -q "no connection between" "$work/e3" || fail "unknown 4-tuple: rc $rc, $(cat "$work/e3")"
"$tw" explain "$work/none.db" 1 >/dev/null 2>"$work/e4"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$work/e4")" -eq 1 ] || fail "missing database: rc $rc, $(cat "$work/e4")"
[ ! -e "$work/none.db" ] || fail "explain created a database"
"$tw" explain "$work/caps/s.db" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no target: want exit 2"

# ---- 7. readable instants in the reports: --utc, --local (issue 18)
raw=$(q s "select printf('%.6f', start_ts) from time_waits order by id limit 1")
want=$(date -u -d "@${raw%.*}" +%Y-%m-%dT%H:%M:%S).${raw#*.}Z
got=$("$tw" query "$work/caps/s.db" timewaits --utc --format csv | sed -n 2p | cut -d, -f7)
[ "$got" = "$want" ] || fail "--utc csv start_ts: got '$got', want '$want'"
want=$(TZ=Asia/Kolkata date -d "@${raw%.*}" +%Y-%m-%dT%H:%M:%S).${raw#*.}+05:30
got=$(TZ=Asia/Kolkata "$tw" query "$work/caps/s.db" timewaits --local --format json | grep -o '"start_ts": "[^"]*"' | head -1)
[ "$got" = "\"start_ts\": \"$want\"" ] || fail "--local json start_ts: got '$got', want '$want'"
got=$("$tw" query "$work/caps/s.db" summary --utc | awk '$1 == "first_ts" { print $2, $3, $4 }')
want="$(date -u -d "@$(q s "select cast(first_ts as int) from captures")" '+%Y-%m-%d %H:%M:%S').$(q s "select substr(printf('%.6f', first_ts), -6) from captures") UTC"
[ "$got" = "$want" ] || fail "--utc summary first_ts: got '$got', want '$want'"
"$tw" query "$work/caps/s.db" summary --utc --local >/dev/null 2>&1; [ $? -eq 2 ] || fail "--utc --local: want exit 2"
[ "$("$tw" query "$work/caps/s.db" timewaits --format csv | sed -n 2p | cut -d, -f7)" = "$raw" ] || fail "default: epoch seconds changed"

[ $fails -eq 0 ] && echo "explain: all checks passed"
exit $((fails > 0))
