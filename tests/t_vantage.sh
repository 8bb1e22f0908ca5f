#!/usr/bin/env bash
# Two capture points (#13 item 6, #18 item 3): the namespace generator runs a
# scenario once and captures it on both ends of the veth (GEN_BOTH_ENDS=1: a
# client-side and a server-side file of the same connections). Given together
# to one analyze run they must say what one of them says alone -- no reuse, no
# retransmission, no lost final ACK invented -- with the second sightings
# counted (connections.vantage_dups). With the server's clock 2 s off, the
# merge cannot pair them: analyze warns and --per-file gives each file its own
# capture with its own right answer.
# Usage: t_vantage.sh TWSCOPE SOURCE_DIR BUILD_DIR   (exit 77 = skipped)
set -u
tw=$1 src=$2 build=$3
# shellcheck source=lib/probe.sh
. "$src/tests/lib/probe.sh"
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
[ -x "$build/tests/gen/tcpgen" ] || { echo "SKIP: tcpgen not built"; exit 77; }
require_netns tcpdump ss nft
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

scen="client_close final_ack_lost reuse_bound"
# shellcheck disable=SC2086
GEN_BOTH_ENDS=1 bash "$src/tests/gen/gen.sh" "$build/tests/gen/tcpgen" "$work/gen" $scen \
    >"$work/gen.log" 2>&1
rc=$?
[ $rc = 77 ] && { echo "SKIP: $(tail -n 1 "$work/gen.log")"; exit 77; }
[ $rc = 0 ] || { echo "FAIL: gen.sh ($rc)"; cat "$work/gen.log"; exit 1; }

# what a capture says: per connection close|closer|TIME_WAIT side:end|findings by kind
says="select c.capture_id || ' ' || c.client_port || '#' || c.incarnation || ' ' || c.close_kind
    || '|' || coalesce(c.active_closer, 'none') || '|' ||
    coalesce((select group_concat(side || ':' || end_reason) from time_waits t
              where t.connection_id = c.id), '') || '|' ||
    coalesce((select group_concat(k, ' ') from (select kind || '=' || count(*) as k
              from findings f where f.connection_id = c.id group by kind order by kind)), '')
    from connections c order by c.capture_id, c.client_port, c.incarnation"

analyze() { # DB ARGS... -> stderr in DB.err
    local db=$1; shift
    rm -f "$db"*
    "$tw" analyze -q --no-dpi -o "$db" "$@" 2>"$db.err" >/dev/null
}

for s in $scen; do
    before=$fails
    c=$work/gen/$s.pcap v=$work/gen/$s.server.pcap
    [ -s "$v" ] || { fail "$s: no server-side capture"; continue; }
    analyze "$work/c.db" "$c" || fail "$s: analyze client side: $(cat "$work/c.db.err")"
    analyze "$work/v.db" "$v" || fail "$s: analyze server side: $(cat "$work/v.db.err")"
    want=$(sqlite3 "$work/c.db" "$says")
    [ -n "$want" ] || fail "$s: the client side shows no connection"
    # each side alone tells the same story (the final ACK was lost before either point)
    [ "$(sqlite3 "$work/v.db" "$says")" = "$want" ] ||
        fail "$s: server side says '$(sqlite3 "$work/v.db" "$says")', client side '$want'"

    # merged: one capture, the same answer, every second sighting counted
    analyze "$work/m.db" "$c" "$v" || fail "$s: analyze both: $(cat "$work/m.db.err")"
    got=$(sqlite3 "$work/m.db" "$says")
    [ "$got" = "$want" ] || fail "$s: merged says '$got', one side '$want'"
    pk=$(sqlite3 "$work/c.db" "select sum(client_pkts + server_pkts) from connections")
    vd=$(sqlite3 "$work/m.db" "select sum(vantage_dups) from connections")
    [ "$vd" = "$pk" ] || fail "$s: merged: $vd second sightings counted, want $pk"
    grep -q warning "$work/m.db.err" && fail "$s: merged: a warning: $(cat "$work/m.db.err")"
    sum=$("$tw" query "$work/m.db" summary --format csv | tr -d "\r" | grep vantage_copies)
    [ "$sum" = "connections,vantage_copies,$pk" ] || fail "$s: summary: '$sum'"

    # the server's clock 2 s ahead: merged, analyze says so; --per-file is right on each
    python3 "$src/tests/lib/pcapedit.py" "$v" "$work/late.pcap" --shift 2000000
    analyze "$work/f.db" "$c" "$work/late.pcap"
    grep -q "more than 100 ms apart.*--per-file" "$work/f.db.err" ||
        fail "$s: clocks 2 s apart, merged: no warning ($(cat "$work/f.db.err"))"
    analyze "$work/p.db" --per-file "$c" "$work/late.pcap" ||
        fail "$s: --per-file: $(cat "$work/p.db.err")"
    got=$(sqlite3 "$work/p.db" "$says")
    exp=$(printf '%s\n%s' "$want" "$(echo "$want" | sed 's/^1 /2 /')")
    [ "$got" = "$exp" ] || fail "$s: --per-file says '$got', want '$exp'"
    [ "$(sqlite3 "$work/p.db" "select count(*) || ' ' || sum(files) from captures")" = "2 2" ] ||
        fail "$s: --per-file: not two captures of one file each"
    [ $fails = "$before" ] && echo "ok $s"
done
echo "vantage: $fails failed"
[ $fails = 0 ]
