#!/usr/bin/env bash
# Each TIME_WAIT rule is tested: disable one rule of src/timewait.c at a time
# (a one-line change listed below), build tests/test_timewait.c against that
# copy (the leaf alone: timewait.c), and require the unit test to
# fail. The unchanged source must pass first, and every listed line must still
# be found in timewait.c (a rule that moved has to be listed again).
# Usage: t_rules_mutate.sh TWSCOPE SOURCE_DIR BUILD_DIR   (exit 77 = skipped)
set -u
src=$2 build=$3
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)
[ -n "$cc" ] || { echo "SKIP: no C compiler recorded in $build/CMakeCache.txt"; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# rule <TAB> line as it stands in timewait.c <TAB> what it becomes
cat >"$work/mutations" <<'LIST'
R1 active closer	        d->fin_first = !(p->fin && (pv->flags & TCPF_ACK) && seq_geq(pv->ack, p->fin_seq + 1));	        d->fin_first = 1;
R1 enter the closers	                if (t->d[side].fin_first && !t->tw[side]->entered)	                if (!t->tw[side]->entered)
R2 observed start	        s->inferred = 0;	        (void)0;
R2 after a FIN retransmission	        if (!s->active || !s->inferred || s->final_ack_seen || t->d[!side].fin_copies > 1 ||	        if (!s->active || !s->inferred || s->final_ack_seen ||
R3 auto windows	    if (ittl == 128)	    if (0)
R3 profile durations	static const int profile_seconds[TWP_COUNT] = {60, 60, 30, 240, 240, 0, 0};	static const int profile_seconds[TWP_COUNT] = {60, 60, 60, 240, 240, 0, 0};
R4 restart	    s->last_answer_ts = m->ts; /* R4: every answer restarts the 2*MSL timer */	    (void)0;
R4 expiry	        if (!s->active || now <= tw_expected_end(s))	        if (!s->active || now < tw_expected_end(s))
R5 FIN retransmission	    if (fseq != d->fin_seq) {	    if (1) {
R5 capture copy	    if (m->ts - d->fin_last_ts < FIN_DUP_USEC && pv->ack == d->fin_ack) {	    if (0) {
R6 final-ACK retransmission	    if (final_ack && peer->fin_copies > 1 && peer->fin_last_ts >= s->last_ack_ts) {	    if (0) {
R6 original seen	                             (s->final_ack_seen ? TWV_ORIGINAL_SEEN : 0));	                             TWV_ORIGINAL_SEEN);
R7 in-window RST	    if (pv->seq == rcv_nxt) {	    if (1) {
R7 the TIME_WAIT side's answer decides	        rst_decided(t, dir, m->frame, (fl & TCPF_RST) != 0, r);	        rst_decided(t, dir, m->frame, 1, r);
R7 killed ends the period at the RST	        tw_end(t, side, s->rst_ts, TWE_RST);	        (void)0;
R7 FreeBSD ignores RSTs in TIME_WAIT	    return p != TWP_FREEBSD; /* tcp_twcheck() drops every RST (RFC 5961 secure default) */	    return 1;
R8 syn_to_timewait acceptance	            accept = !paws_reject && (isn_above || ts_newer);	            accept = 1;
R8 tcp_tw_reuse acceptance	            accept = pv->has_ts && m->ts - s->last_answer_ts >= TW_USEC;	            accept = pv->has_ts;
R8 period ends	        tw_end(old, side, m->ts, TWE_REUSED);	        (void)0;
R9 late in TIME_WAIT	    if (fin_rexmit || !peer_in_tw)	    if (1)
R9 PAWS	    paws_reject = paws_applicable && ts_older(pv->tsval, s->ts_last);	    paws_reject = 0;
R9 acceptability	        in_window = seq_acceptable(pv->seq, seg_len(pv), s->next_seq, rv->win);	        in_window = 0;
R9 after close	    if (t->closed && !pure_syn && !(pv->flags & TCPF_FIN))	    if (0)
R10 RST answering the FIN	            t->tw[dir]->entered = 0;	            (void)0;
R10 no TIME_WAIT after RST	        if (p->fin && t->close_kind == CK_FIN) {	        if (p->fin) {
R11 SYN retransmission	    if (d->syn && pv->seq == d->isn)	    if (0)
R11 late original SYN (sequence space)	    if (!d->syn && d->seen && d->base_seq == pv->seq + 1)	    if (0)
R11 late original SYN (acknowledged)	    if (!d->syn && p->syn && p->acked && p->max_ack == pv->seq + 1)	    if (0)
R11 previous incarnation's SYN	    if (prev && prev->d[0].syn && !t->d[0].syn && pv->seq == prev->d[0].isn)	    if (0)
R11 split handshake	    if (dir == 1 && !d->syn)	    if (0)
R11 unfinished handshake	    if (!established(t))	    if (0)
R11 idle	    return idle_expired;	    return 0;
R11 closing	    if (closing)	    if (0)
R12 timestamps	        if (ts_older(pv->tsval, cs->ts_first) && !ts_older(ps->ts_last, pv->tsval))	        if (0)
R12 sequence spaces	    return !fits_cur;	    return 1;
R13 foreign ACK	        !(fl & (TCPF_SYN | TCPF_RST)) && pv->ack != cl->isn + 1 && !cl->acked) {	        !(fl & (TCPF_SYN | TCPF_RST)) && !cl->acked) {
R13 RST at the foreign ACK	    } else if (t->stale == 1 && dir == 0 && (fl & TCPF_RST) && pv->seq == sv->max_ack) {	    } else if (t->stale == 1 && dir == 0 && (fl & TCPF_RST)) {
R13 the retry is a new incarnation	        return 1; /* R13: the retry after a stale-state RST */	        (void)0;
R5 FIN copies after the close	    if (t->closed && !pure_syn && !(pv->flags & TCPF_FIN))	    if (t->closed && !pure_syn)
R14 unsure first FIN	                   ((!p->seen && !p->ack_view) || seq_gt(pv->ack, p->next_seq))) {	                   0) {
R14 unknown closer	        return TWW_UNKNOWN; /* R14: the peer may have closed before the capture saw it */	        (void)0;
R14 the peer's FIN resolves it	            if (fseq + 1 == p->fin_ack) {	            if (0) {
R14 first FIN unseen	        fin_unseen(t, dir, p->fin_ack - 1, 0, 1, m, r);                     /* (b) */	        (void)0;
R14 second FIN unseen	        fin_unseen(t, !dir, p->next_seq, d->fin_seq + 1, 0, m, r);          /* (c) */	        (void)0;
R15 tap copy	        if (s->file == file && since < TW_TAP_COPY_USEC)	        if (0)
R15 tap copy window	        if (s->file == file && since < TW_TAP_COPY_USEC)	        if (s->file == file)
R15 vantage copy	        if (s->file != file && since < TW_VANTAGE_COPY_USEC)	        if (0)
R15 vantage copy window	        if (s->file != file && since < TW_VANTAGE_COPY_USEC)	        if (s->file != file)
R15 IP ID and checksum	    h ^= ((uint64_t)pv->ip_id << 16 | pv->tcp_csum) * 0xd6e8feb86659fd93ULL;	    (void)0;
R15 timestamps	    h ^= rotl64(pv->has_ts ? ((uint64_t)pv->tsval << 32 | pv->tsecr) : 0x5a5a5a5aULL, 42) *	    h ^= 0 *
R15 far apart in another file	    return far ? TWC_FAR : TWC_NONE;	    return TWC_NONE;
R16 never a negative period	        at = s->start_ts; /* R16: the clock stepped back: never a negative period */	        (void)0;
R16 reuse since close	        v->t1 = m->ts > s->start_ts ? m->ts - s->start_ts : 0; /* R16 */	        v->t1 = m->ts - s->start_ts;
R17 the FIN answers the peer's	            if (d->fin_gap1 && !p->seen)	            if (0)
R17 the ACK rose by one before	            p->ack_step1 && pv->ack == p->next_seq) {	            0) {
R17 sequence space from the ACKs	        p->next_seq = pv->ack;	        (void)0;
R17 certain first FIN	                   ((!p->seen && !p->ack_view) || seq_gt(pv->ack, p->next_seq))) {	                   (!p->seen || seq_gt(pv->ack, p->next_seq))) {
R17 the answering FIN	    else if (d->fin && !d->fin_missed && !d->fin_unsure && !p->fin && (p->seen || p->ack_view) &&	    else if (d->fin && !d->fin_missed && !d->fin_unsure && !p->fin && p->seen &&
EV one direction	    } else if (!both_seen) {	    } else if (0) {
EV missed FIN	    } else if (t->d[0].fin_missed || t->d[1].fin_missed) {	    } else if (0) {
EV start observed	    if (!s->inferred) {	    if (1) {
EV expiry inferred	    case TWE_EXPIRED: end->how = "inferred"; end->rule = "R4"; break; /* last answer + 2*MSL */	    case TWE_EXPIRED: break;
R17 SYN-ACK with a new ISN	    if (synack_starts_incarnation(t, dir, pv))	    if (0)
R17 the SYN it answers	    uint32_t new_isn = synack ? pv->ack - 1 : pv->seq;	    uint32_t new_isn = pv->seq;
R18 a SYN the tap missed	           (!p->seen || !p->syn || pv->ack != p->isn + 1);	           !p->seen;
R18 open tuple	    int beyond = p->seen && p->syn && seq_gt(pv->ack, p->next_seq);	    int beyond = 0;
R18 its SYN-ACK missed too	           (closing || beyond) && (!d->syn || pv->seq != d->isn) &&	           (closing || beyond) && d->syn && pv->seq != d->isn &&
R15 direction	    uint64_t h = tuple_hash ^ ((uint64_t)(ep & 1) * 0x8f1bbcdc5a827999ULL);	    uint64_t h = tuple_hash;
LIST

build_test() { # TIMEWAIT_C -> $work/t
    "$cc" -std=c11 -D_GNU_SOURCE -I"$src/include" -I"$src/tests" -o "$work/t" \
        "$src/tests/test_timewait.c" "$1" 2>"$work/cc.log"
}
build_test "$src/src/timewait.c" || { echo "FAIL: test_timewait does not build:"; cat "$work/cc.log"; exit 1; }
"$work/t" >/dev/null 2>&1 || { echo "FAIL: test_timewait fails on the unchanged rules"; exit 1; }

fails=0 n=0
while IFS=$'\t' read -r rule from to; do
    n=$((n + 1))
    if ! python3 - "$src/src/timewait.c" "$work/m.c" "$from" "$to" <<'PY'
import sys
src, out, old, new = sys.argv[1:5]
text = open(src).read()
if text.count(old + "\n") != 1:
    sys.exit(1)
open(out, "w").write(text.replace(old + "\n", new + "\n"))
PY
    then
        echo "FAIL $rule: line not found once in timewait.c: $from"
        fails=$((fails + 1))
        continue
    fi
    if ! build_test "$work/m.c"; then
        echo "FAIL $rule: the mutant does not build"; head -n 3 "$work/cc.log"
        fails=$((fails + 1))
        continue
    fi
    if "$work/t" >"$work/out" 2>&1; then
        echo "FAIL $rule: disabled, and test_timewait still passes"
        fails=$((fails + 1))
    else
        echo "ok $rule: caught by $(grep -m1 '^not ok' "$work/out" | sed 's/^not ok - //')"
    fi
done <"$work/mutations"
echo "rules mutated: $n, survived: $fails"
[ $fails = 0 ]
