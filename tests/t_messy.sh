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

# caseq NAME SAMPLE EDIT SQL WANT: the answer of SQL on the derived capture's
# database (files: one or more samples, "+"-separated, each with EDIT applied
# and any per-file edit after a "|" in its name: sample|--shift 40)
caseq() {
    local name=$1 samples=$2 edit=$3 sql=$4 want=$5 got files=() i=0 s e
    n=$((n + 1))
    IFS=+ read -ra parts <<<"$samples"
    for s in "${parts[@]}"; do
        e=${s#*|}; [ "$e" = "$s" ] && e=""
        s=${s%%|*}; i=$((i + 1))
        # shellcheck disable=SC2086
        python3 "$src/tests/lib/pcapedit.py" "$src/samples/$s.pcap" "$work/$name.$i.pcap" $edit $e ||
            { echo "FAIL $name: pcapedit"; fails=$((fails + 1)); return; }
        files+=("$work/$name.$i.pcap")
    done
    rm -f "$work/$name.db"*
    "$tw" analyze -q --no-dpi -o "$work/$name.db" $analyze_opts "${files[@]}" >/dev/null 2>&1
    got=$(sqlite3 "$work/$name.db" "$sql" | tr '\n' ' ' | sed 's/ $//')
    if [ "$got" != "$want" ]; then
        echo "FAIL $name ($samples, $edit): got '$got', want '$want'"
        fails=$((fails + 1))
    else
        echo "ok $name"
    fi
}
analyze_opts=
# what twscope says of a connection: close|closer|TIME_WAIT side:inferred:end|findings by kind|copies
says="select c.close_kind || '|' || coalesce(c.active_closer, 'none') || '|' ||
    coalesce((select group_concat(side || ':' || inferred || ':' || end_reason) from time_waits t
              where t.connection_id = c.id), '') || '|' ||
    coalesce((select group_concat(k, ' ') from (select kind || '=' || count(*) as k from findings f
              where f.connection_id = c.id group by kind order by kind)), '') || '|' ||
    c.capture_dups || '/' || c.vantage_dups from connections c order by c.id"

# 1. duplicates at the tap (#13 item 4): every frame twice, as -i any or a SPAN
# of both ports gives; the answer is the clean capture's (final_ack_lost: 5 FIN
# retransmissions, 1 final-ACK retransmission), every copy counted (R15)
caseq dup_final_ack_lost final_ack_lost "--dup" "$says" \
    "fin|client|client:1:capture_end|fin_retransmission=5 final_ack_retransmission=1|16/0"
# ... copies 0.2 ms later, each after the next frame (slight reordering)
caseq dup_lag_final_ack_lost final_ack_lost "--dup --dup-lag 1 --dup-delay 200" "$says" \
    "fin|client|client:1:capture_end|fin_retransmission=5 final_ack_retransmission=1|16/0"
# ... copies 5 ms later, two frames on
caseq dup_lag2_client client_close "--dup --dup-lag 2 --dup-delay 5000" "$says" \
    "fin|client|client:0:capture_end||10/0"
caseq dup_server server_close "--dup" "$says" "fin|server|server:0:capture_end||10/0"
caseq dup_rst_in_tw rst_in_tw "--dup --dup-lag 1" \
    "select group_concat(kind) from findings; select sum(capture_dups) from connections" \
    "tw_rst 11"

# 2. offloaded segments (#13 item 5): TSO/GRO super-segments, checksums wrong.
# tcpdump -i any on a host with GRO shows the wire segments and the merged one
# (data + FIN): the FIN twice within a millisecond is a copy, not a
# retransmission (R5, counted as a capture duplicate)
caseq tso_keep_server server_close "--coalesce 6 --coalesce-keep --zero-csum" "$says" \
    "fin|server|server:0:capture_end||1/0"
caseq tso_keep_final_ack_lost final_ack_lost "--coalesce 4 --coalesce-keep --tso-len0 --zero-csum" "$says" \
    "fin|client|client:1:capture_end|fin_retransmission=5 final_ack_retransmission=1|1/0"
# one super-segment (data + FIN) with IP total length 0, cut by a 70-byte
# snaplen: its length is the frame's wire length (64 bytes of data, not 4)
caseq tso_len0_snap client_close "--coalesce 4 --tso-len0 --snap 70 --zero-csum" \
    "select client_bytes, server_bytes from connections; $says" \
    "64|256 fin|client|client:0:capture_end||0/0"

# 4. timestamps (#13 item 8), on reuse_bound (the server closes, its TIME_WAIT
# starts at frame 10; the client reconnects from the same port at frame 11,
# 0.2 s later, and again at frame 21): incarnation:end reason:held s:connection s
tl="select group_concat(c.incarnation || ':' || coalesce(t.end_reason, '-') || ':' ||
    printf('%.1f', t.end_ts - t.start_ts) || ':' || printf('%.1f', c.last_ts - c.first_ts), ' ')
    from connections c left join time_waits t on t.connection_id = c.id"
# the reconnect 2*MSL - 1 s after the period began: it ends the period (R8)
caseq reuse_msl_minus_1 reuse_bound "--jump 11:58799783" "$tl" \
    "1:reused:59.0:0.0 2:reused:0.2:0.0 3:capture_end:0.0:0.0"
# ... 2*MSL + 1 s: the period had expired, at start + 60 s (R4)
caseq reuse_msl_plus_1 reuse_bound "--jump 11:60799783" "$tl" \
    "1:expired:60.0:0.0 2:reused:0.2:0.0 3:capture_end:0.0:0.0"
# ... two hours later: expired, and the next connection still incarnation 2
caseq reuse_hours_later reuse_bound "--jump 11:7200000000" "$tl" \
    "1:expired:60.0:0.0 2:reused:0.2:0.0 3:capture_end:0.0:0.0"
# the clock steps back an hour before the reconnect: frames in capture order,
# the period ends at its start, held 0 s, never negative (R16)
caseq clock_back_hour reuse_bound "--jump 11:-3600000000" "$tl" \
    "1:reused:0.0:0.0 2:reused:0.2:0.0 3:expired:60.0:0.0"
# ... 0.3 s back before the third connection; and 1 s back mid-connection
caseq clock_back_short reuse_bound "--jump 21:-300000" "$tl" \
    "1:reused:0.2:0.0 2:reused:0.0:0.0 3:capture_end:0.1:0.0"
caseq clock_back_mid reuse_bound "--jump 5:-1000000" "$tl" \
    "1:reused:0.2:0.0 2:reused:0.2:0.0 3:capture_end:0.6:0.0"

# 5. one direction only (#13 item 1): of the peer, only what the visible side
# acknowledges is known (R17). The closer's side: its FIN acknowledges nothing
# new (it closed first), its ACK one number beyond is the peer's FIN
caseq only_closer_c client_close "--only client" "$says" "fin|client|client:1:capture_end||0/0"
caseq only_closer_s server_close "--only server" "$says" "fin|server|server:1:capture_end||0/0"
# the passive side: its FIN acknowledges one number more (the closer's FIN, first)
caseq only_passive_c client_close "--only server" "$says" "fin|client|client:1:capture_end||0/0"
caseq only_passive_s server_close "--only client" "$says" "fin|server|server:1:capture_end||0/0"
# ... after ACKing that FIN on its own (the ACK rose by one): final_ack_lost's
# server, whose five FIN retransmissions still say the final ACK did not come
caseq only_passive_retx final_ack_lost "--only server" "$says" \
    "fin|client|client:1:capture_end|fin_retransmission=5|0/0"
caseq only_closer_retx final_ack_lost "--only client" "$says" "fin|client|client:1:capture_end||0/0"
# the TIME_WAIT side's segments only, its RST-provoking peer unseen
caseq only_rst_in_tw rst_in_tw "--only client" "$says" "fin|client|client:1:capture_end||0/0"
# the server's side of three incarnations: each new SYN-ACK answers a SYN it
# accepted in TIME_WAIT (the client's ISN is its ACK - 1): inc:end:reuse rule
caseq only_server_reuse reuse_bound "--only server" \
    "select group_concat(c.incarnation || ':' || t.end_reason || ':' ||
       coalesce((select json_extract(detail, '$.new_isn') || '/' || json_extract(detail, '$.rule')
                 from findings f where f.connection_id = c.id and kind = 'tw_reuse'), '-'), ' ')
     from connections c join time_waits t on t.connection_id = c.id" \
    "1:reused:- 2:reused:1916113303/syn_to_timewait 3:capture_end:1919247905/syn_to_timewait"
# a SYN the tap missed (R18), both directions seen: the SYN-ACK with a new ISN
# starts the next incarnation (the previous binary made one connection of the
# second and third, and called the third's segments late ones of the second)
ri="select group_concat(c.incarnation || ':' || c.syn_seen || ':' || t.end_reason || ':' ||
       coalesce((select json_extract(detail, '$.new_isn') from findings f
                 where f.connection_id = c.id and kind = 'tw_reuse'), '-'), ' ') ||
     ' late=' || (select count(*) from findings where kind = 'late_segment')
     from connections c join time_waits t on t.connection_id = c.id"
caseq missed_syn_3 reuse_bound "--drop 21" "$ri" \
    "1:1:reused:- 2:1:reused:1916113303 3:0:capture_end:1919247905 late=0"
caseq missed_syn_2_3 reuse_bound "--drop 11,21" "$ri" \
    "1:1:reused:- 2:0:reused:1916113303 3:0:capture_end:1919247905 late=0"
# one direction and a late start after the first FIN: nothing proves who closed
caseq only_late server_close "--only client --from 9" "$says" "half|unknown|||0/0"

# 6. evidence, stored (#13): how the closer, the TIME_WAIT side, its start and
# end were decided (observed / inferred / unknown, the rule, the frames), and
# where a lost final ACK was lost: closer:rule:frames side:start:rule:end:rule loss
ev="select c.closer_evidence || ':' || c.closer_rule || ':' || coalesce(c.closer_frames, '-') || ' ' ||
    coalesce((select group_concat(side_evidence || ':' || start_evidence || ':' || start_rule || ':' ||
              end_evidence || ':' || coalesce(end_rule, '-')) from time_waits t
              where t.connection_id = c.id), '') || ' ' ||
    coalesce((select group_concat(json_extract(detail, '$.loss')) from findings f
              where f.connection_id = c.id and json_extract(detail, '$.loss') is not null), '')
    from connections c order by c.id"
caseq ev_clean client_close "--drop 0" "$ev" "observed:R1:8,9 observed:observed:R2:unknown:- "
caseq ev_missed_fin1 client_close "--drop 8" "$ev" "inferred:R14:9,8 inferred:inferred:R14:unknown:- "
caseq ev_late client_close "--from 9" "$ev" "unknown:R14:1  "
caseq ev_no_final_ack client_close "--drop 10" "$ev" "observed:R1:8,9 observed:inferred:R2:unknown:- "
# the final ACK never passed the capture point: lost before it (had the tap
# only missed it, the server would not have sent its FIN again)
caseq ev_final_ack_lost final_ack_lost "--drop 0" "$ev" \
    "observed:R1:8,10 observed:inferred:R2:unknown:- $(printf 'before_capture_point,%.0s' 1 2 3 4 5)before_capture_point"
# seen from the server only: where the client's ACKs were lost cannot be told
caseq ev_only_server final_ack_lost "--only server" "$ev" \
    "inferred:R17:5,5 inferred:inferred:R17:unknown:- unknown,unknown,unknown,unknown,unknown"
caseq ev_reuse_rst reuse_bound+rst_in_tw "--drop 0" \
    "select group_concat(end_evidence || ':' || end_rule) from time_waits where end_rule is not null" \
    "observed:R8,observed:R8,inferred:R7"

echo "messy: $n cases, $fails wrong"
exit $((fails > 0))
