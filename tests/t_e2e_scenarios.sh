#!/usr/bin/env bash
# End-to-end: the real Linux TCP stack (tests/gen: two network namespaces, veth,
# tcpdump) performs each teardown scenario; twscope analyzes the capture and
# must report exactly what the generator knows to be true (SCENARIO.truth):
# connections, incarnations, clients, close kinds, active closers, TIME_WAIT
# rows (sides, starts, end reasons) and findings (kinds, counts, frames, seqs).
# Usage: t_e2e_scenarios.sh TWSCOPE SOURCE_DIR BUILD_DIR   (exit 77 = skipped)
set -u
tw=$1 src=$2 build=$3
gen=$build/tests/gen/tcpgen
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command-line tool missing"; exit 77; }
[ -x "$gen" ] || { echo "SKIP: $gen not built"; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
scenarios=${TWSCOPE_SCENARIOS:-"client_close server_close rst_close many_short reuse_bound simultaneous_close final_ack_lost final_ack_lost_after late_data_tw late_data_tw_killed late_data_reuse rst_in_tw v6_client_close v6_reuse_bound v6_rst_in_tw stale_state rst_in_tw_1337 rst_in_tw_probe"}
bash "$src/tests/gen/gen.sh" "$gen" "$work" $scenarios >"$work/gen.log" 2>&1
rc=$?
if [ $rc = 77 ]; then echo "SKIP: $(tail -n 1 "$work/gen.log")"; exit 77; fi
if [ $rc != 0 ]; then echo "generator failed:"; tail -n 20 "$work/gen.log"; exit 1; fi

fails=0
t() { sed -n "s/^$1=//p" "$truth"; }                      # truth value
q() { sqlite3 "$db" "$1"; }                                 # query
check() { # name got want
    if [ "$2" != "$3" ]; then echo "FAIL $s: $1: got '$2', want '$3'"; fails=$((fails + 1)); fi
}

for s in $scenarios; do
    truth=$work/$s.truth db=$work/$s.db
    [ -f "$truth" ] || { echo "FAIL $s: no truth file"; fails=$((fails + 1)); continue; }
    "$tw" analyze -q -o "$db" "$work/$s.pcap" || { echo "FAIL $s: analyze exit $?"; fails=$((fails + 1)); continue; }
    n=$(t connections)
    check connections "$(q 'select count(*) from connections')" "$n"
    check tuples "$(q 'select count(distinct client_ip||client_port||server_ip||server_port) from connections')" "$(t tuples)"
    check incarnations "$(q 'select max(incarnation) from connections')" "$(t incarnations)"
    check clients "$(q "select count(*) from connections where client_ip='$(t client_addr)' and server_port=$(t server_port) and syn_seen=1")" "$n"
    check close_kind "$(q 'select group_concat(distinct close_kind) from connections')" "$(t close_kind)"
    if [ "$s" = stale_state ]; then
        # the attempt: SYN, the old socket's challenge ACK, the client's RST; then the retry
        check attempt "$(q 'select close_kind, active_closer is null, last_frame - first_frame from connections where incarnation = 1')" "rst|1|2"
        check retry "$(q 'select close_kind, active_closer, prev_connection_id from connections where incarnation = 2')" "fin|client|1"
        check stale_rst "$(q "select count(*) from findings f join connections c on c.id = f.connection_id where kind = 'stale_state_rst' and f.frame = c.first_frame and c.incarnation = 2 and json_extract(detail, '$.held_by') = '$(t stale_held_by)' and json_extract(detail, '$.same_isn') = 1 and json_extract(detail, '$.rst_frame') = 3 and json_extract(detail, '$.ack_frame') = 2")" "$(t stale_state_rst)"
        check stale_time_waits "$(q "select count(*), group_concat(side) from time_waits")" "1|client"
        check stale_no_late "$(q "select count(*) from findings where kind = 'late_segment'")" 0
        echo "checked $s"
        continue
    fi
    closer=$(t active_closer)
    [ "$(t close_kind)" = rst ] && closer=
    check active_closer "$(q 'select group_concat(distinct coalesce(active_closer,"")) from connections')" "$closer"
    # TIME_WAIT rows: one per connection on the active closer's side (both when the FINs crossed)
    case "$closer" in
        client|server) want_tw="$n $closer" ;;
        both) want_tw="$((2 * n)) client,server" ;;
        *) want_tw="0 " ;;
    esac
    check time_waits "$(q 'select count(*) from time_waits') $(q 'select group_concat(side) from (select distinct side from time_waits order by side)')" "$want_tw"
    # normal closes: the period starts at the active closer's final ACK, the last frame
    case $s in
        client_close|server_close|many_short|v6_client_close)
            check tw_start_is_final_ack "$(q 'select count(*) from time_waits t join connections c on c.id=t.connection_id where t.start_frame=c.last_frame and t.inferred=0')" "$n"
            check no_findings "$(q 'select count(*) from findings')" 0 ;;
    esac
    case $s in
        reuse_bound|v6_reuse_bound|late_data_reuse)
            # every incarnation but the last recycled the server's TIME_WAIT
            check tw_reused "$(q "select count(*) from time_waits where end_reason='reused'")" "$((n - 1))"
            check tw_reuse_findings "$(q "select count(*) from findings where kind='tw_reuse' and json_extract(detail,'$.linux_accept')=1")" "$((n - 1))"
            check reuse_chain "$(q 'select count(*) from connections c join connections p on p.id=c.prev_connection_id')" "$((n - 1))"
            check tw_reuse_frame "$(q "select count(*) from findings f join connections c on c.id=f.connection_id where kind='tw_reuse' and f.frame=c.first_frame")" "$((n - 1))" ;;
    esac
    case $s in
        final_ack_lost|final_ack_lost_after)
            k=$(t fin_retransmissions)
            check fin_retransmissions "$(q "select count(*) from findings where kind='fin_retransmission' and direction='server' and json_extract(detail,'$.closer')='passive'")" "$k"
            seen=$(t final_ack_seen_original)
            check tw_inferred "$(q 'select inferred from time_waits')" "$((1 - seen))"
            if [ "$seen" = 1 ]; then
                # every retransmitted FIN is answered by a re-ACK, all visible
                check final_ack_retx "$(q "select count(*) from findings where kind='final_ack_retransmission' and json_extract(detail,'$.original_seen')=1")" "$k"
            else
                # only the re-ACK sent after the drop rule went is visible
                check final_ack_retx "$(q "select count(*) from findings where kind='final_ack_retransmission' and json_extract(detail,'$.original_seen')=0")" 1
            fi
            check tw_restarted "$(q "select count(*) from time_waits where expected_end_ts > start_ts + duration_s + 0.5")" 1 ;;
    esac
    case $s in
        late_data_tw|late_data_tw_killed)
            check late_tw "$(q "select count(*) from findings where kind='late_segment' and json_extract(detail,'$.phase')='time_wait' and seq=$(t injected_seq) and payload_len=$(t injected_len)")" 1
            check tw_answered "$(q 'select answers >= 1 from time_waits')" 1 ;;
    esac
    case $s in
        late_data_tw) check tw_survives "$(q 'select end_reason from time_waits')" capture_end ;;
        late_data_tw_killed|rst_in_tw|v6_rst_in_tw)
            # nothing after the RST shows its effect: unknown, and the linux
            # profile ends the period at the RST (which the kernel did, says ss)
            check tw_killed "$(q 'select end_reason from time_waits')" rst
            check tw_rst "$(q "select count(*) from findings f join time_waits t on t.connection_id = f.connection_id where kind='tw_rst' and json_extract(detail,'$.killed')='unknown' and json_extract(detail,'$.assumed') like 'ended at the RST%' and t.end_ts = f.ts")" 1 ;;
        rst_in_tw_1337|rst_in_tw_probe)
            # the client's next segment shows it: a re-ACK (tcp_rfc1337=1) or a RST
            killed=$(t tw_killed)
            check tw_rst_evidence "$(q "select json_extract(detail,'$.killed'), json_extract(detail,'$.evidence_frame') > frame, seq from findings where kind='tw_rst'")" "$killed|1|$(t rst_seq)"
            check tw_rst_answer "$(q "select count(*) from findings f where kind='tw_rst' and exists (select 1 from findings l where l.kind='late_segment' and l.frame < json_extract(f.detail,'$.evidence_frame') and l.frame > f.frame)")" 1
            if [ "$killed" = 1 ]; then
                check tw_end "$(q "select t.end_reason, t.end_ts = f.ts from time_waits t join findings f on f.connection_id = t.connection_id and f.kind = 'tw_rst'")" "rst|1"
            else
                check tw_end "$(q 'select end_reason from time_waits')" capture_end
            fi ;;
    esac
    case $s in
        rst_in_tw|v6_rst_in_tw)
            check tw_rst_seq "$(q "select seq from findings where kind='tw_rst'")" "$(t injected_seq)" ;;
        late_data_reuse)
            first=$(q 'select min(id) from connections')
            check late_new_inc "$(q "select count(*) from findings where kind='late_segment' and json_extract(detail,'$.phase')='new_incarnation' and json_extract(detail,'$.prior_connection_id')=$first and seq=$(t injected_seq) and json_extract(detail,'$.in_window')=0")" 1 ;;
        simultaneous_close)
            if [ "$(t simultaneous)" = 1 ]; then
                check both_inferred0 "$(q 'select count(*) from time_waits where inferred=0')" 2
            fi ;;
        rst_close) check rst_frame "$(q 'select rst_frame is not null from connections')" 1 ;;
    esac
    echo "checked $s"
done
[ $fails = 0 ] && echo "all scenarios as the generator says" || echo "$fails check(s) failed"
exit $((fails > 0))
