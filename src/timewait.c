/*
 * timewait.c -- the TIME_WAIT engine. Everything twscope says about how a TCP
 * connection ended is decided here, from one capture point, in packet time.
 *
 * Vocabulary: X is an endpoint that closes actively (its FIN does not
 * acknowledge a FIN of its peer Y). RFC 9293 section 3.6, figure 12/13:
 *
 *   normal close        X: FIN-WAIT-1 -> FIN-WAIT-2 -> (Y's FIN, X ACKs) TIME-WAIT
 *                       Y: CLOSE-WAIT -> LAST-ACK -> (X's ACK) CLOSED
 *   simultaneous close  X and Y: FIN-WAIT-1 -> CLOSING -> (own FIN ACKed) TIME-WAIT
 *
 * Rules, with where they come from:
 *  R1 Active closer: the first FIN of an endpoint that does not acknowledge a
 *     FIN of the peer (fin_first). Both FINs fin_first = simultaneous close,
 *     both endpoints enter TIME_WAIT (RFC 9293 3.6 case 3).
 *  R2 Start: when the second FIN is seen, every fin_first endpoint is taken to
 *     be in TIME_WAIT from that FIN (inferred = 1). The start becomes observed
 *     (inferred = 0) at the first segment by which X has ACKed Y's FIN and Y
 *     has ACKed X's FIN -- X's final ACK in a normal close -- provided Y has not
 *     retransmitted its FIN before it: after a retransmission, the first ACK
 *     seen is not the original one (it was lost before the capture point).
 *  R3 Duration 2*MSL from the profile (Linux: TCP_TIMEWAIT_LEN = 60 s fixed).
 *  R4 Restart: every segment the TIME_WAIT endpoint sends restarts the period
 *     (RFC 9293 3.6.1: "restart the 2 MSL timeout" on a retransmitted FIN;
 *     Linux re-arms the timer in tcp_timewait_state_process() for an in-window
 *     ACK and for the re-ACK of an out-of-window segment). expected_end =
 *     last answer + 2*MSL.
 *  R5 FIN retransmission: a FIN with the sequence number of an earlier FIN of
 *     the same endpoint. From the passive closer it means X's final ACK did
 *     not reach it in time.
 *  R6 Final-ACK retransmission: X ACKs Y's FIN again after Y retransmitted
 *     it. original_seen says whether the first final ACK passed the capture
 *     point (then it was lost between the capture point and Y; if not, before
 *     the capture point).
 *  R7 RST into TIME_WAIT: Linux kills the TIME_WAIT socket when the RST is
 *     exactly at rcv_nxt (TIME-WAIT assassination, RFC 1337 hazard H1..H3;
 *     ignored with net.ipv4.tcp_rfc1337=1), and ignores an out-of-window RST.
 *     Each is a tw_rst finding; the in-window one ends the period (end "rst").
 *  R8 Reuse: a SYN with a new ISN during the period starts a new incarnation
 *     and ends the period (end "reused"). Linux's acceptance rule for a SYN
 *     arriving at a TIME_WAIT socket: not PAWS-rejected, and the ISN is after
 *     the old rcv_nxt or its TSval is newer than ts_recent (RFC 6191; RFC 1122
 *     4.2.2.13 for the ISN part). When the TIME_WAIT endpoint is the one that
 *     reconnects, Linux needs net.ipv4.tcp_tw_reuse and timestamps, 1 s on.
 *  R9 Late segments: any other segment during the period (old duplicates),
 *     segments that fit the previous incarnation's sequence space after a new
 *     one started (phase new_incarnation: would the new connection accept it?
 *     RFC 9293 3.10.7.4 acceptability test and RFC 7323 PAWS), and segments
 *     after every incarnation ended (phase closed).
 *  R10 No TIME_WAIT after a RST close; none for a half close.
 */
#include <stdio.h>
#include <string.h>

#include "twscope/tcpstate.h"
#include "twscope/timewait.h"

static const char *const profile_names[TWP_COUNT] = {
    "linux", "freebsd", "macos", "windows", "rfc9293", "custom", "auto",
};
static const int profile_seconds[TWP_COUNT] = {60, 60, 30, 240, 240, 0, 0};

const char *tw_profile_name(enum tw_profile_id p)
{
    return (unsigned)p < TWP_COUNT ? profile_names[p] : "unknown";
}

int tw_profile_parse(const char *s)
{
    for (int i = 0; i < TWP_COUNT; i++)
        if (i != TWP_CUSTOM && strcmp(s, profile_names[i]) == 0)
            return i;
    return -1;
}

tw_time tw_profile_duration(enum tw_profile_id p, const struct tw_config *cfg)
{
    if (p == TWP_CUSTOM)
        return cfg->custom_dur;
    if ((unsigned)p >= TWP_COUNT || !profile_seconds[p])
        return (tw_time)TW_DEFAULT_SECONDS * TW_USEC;
    return (tw_time)profile_seconds[p] * TW_USEC;
}

const char *tw_end_reason_name(enum tw_end_reason r)
{
    switch (r) {
    case TWE_EXPIRED: return "expired";
    case TWE_REUSED: return "reused";
    case TWE_RST: return "rst";
    case TWE_CAPTURE_END: return "capture_end";
    case TWE_EVICTED: return "evicted";
    case TWE_NONE: break;
    }
    return NULL;
}

static int initial_ttl(uint8_t ttl)
{
    return ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255;
}

static int sig_has(const struct tcp_dir *d, const uint8_t *pat, int n, int at_start)
{
    for (int i = 0; i + n <= d->opt_count; i++) {
        if (memcmp(d->opt_sig + i, pat, (size_t)n) == 0)
            return 1;
        if (at_start)
            break;
    }
    return 0;
}

/* The auto profile: initial TTL, then the SYN option layout of the stack. */
static enum tw_profile_id guess_profile(const struct tcp_dir *d)
{
    static const uint8_t ts_before_sack[] = {8, 4};     /* macOS: ... TS, SACK_PERM, EOL */
    static const uint8_t bsd[] = {2, 1, 3, 4};          /* FreeBSD: MSS,NOP,WS,SACK_PERM,TS */
    int ittl = initial_ttl(d->ttl);
    if (ittl == 128)
        return TWP_WINDOWS;
    if (ittl == 255)
        return TWP_RFC9293;
    if (d->syn && sig_has(d, ts_before_sack, 2, 0))
        return TWP_MACOS;
    if (d->syn && sig_has(d, bsd, 4, 1))
        return TWP_FREEBSD;
    return TWP_LINUX;
}

void tw_describe_profile(const struct tw_config *cfg, const struct conn *c, int side, char *buf,
                         size_t n)
{
    static const char *const opt_names[] = {"eol", "nop", "mss", "ws", "sackok", "sack",
                                            "6", "7", "ts"};
    const struct tcp_dir *d = &c->d[side];
    size_t used;
    if (cfg->profile != TWP_AUTO) {
        static const char opt[] = "option";
        size_t k = sizeof(opt) - 1;
        if (!n)
            return;
        if (k > n - 1)
            k = n - 1;
        memcpy(buf, opt, k); /* once per TIME_WAIT row: no printf */
        buf[k] = 0;
        return;
    }
    used = (size_t)snprintf(buf, n, "auto: initial TTL %d (seen %u)", initial_ttl(d->ttl), d->ttl);
    if (!d->syn || used >= n) {
        if (used < n)
            snprintf(buf + used, n - used, ", no SYN seen from this host");
        return;
    }
    used += (size_t)snprintf(buf + used, n - used, ", SYN options ");
    for (int i = 0; i < d->opt_count && used < n; i++) {
        uint8_t k = d->opt_sig[i];
        if (k < sizeof(opt_names) / sizeof(opt_names[0]))
            used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? "," : "", opt_names[k]);
        else
            used += (size_t)snprintf(buf + used, n - used, "%s%u", i ? "," : "", k);
    }
}

int tw_any_active(const struct conn *c)
{
    return c->tw[0]->active || c->tw[1]->active;
}

static tw_time tw_expected_end(const struct tw_state *t)
{
    return t->last_answer_ts + t->dur;
}

static void tw_end(struct conn *c, int side, tw_time at, enum tw_end_reason why)
{
    struct tw_state *t = c->tw[side];
    t->active = 0;
    t->end_reason = (uint8_t)why;
    t->end_ts = at;
    if (!tw_any_active(c) && (c->close_kind == CK_FIN || c->close_kind == CK_RST))
        c->closed = 1;
}

void tw_expire(struct conn *c, tw_time now)
{
    for (int s = 0; s < 2; s++) {
        struct tw_state *t = c->tw[s];
        if (t->active && now > tw_expected_end(t))
            tw_end(c, s, tw_expected_end(t), TWE_EXPIRED);
    }
}

void tw_finish(struct conn *c, tw_time end, enum tw_end_reason why)
{
    for (int s = 0; s < 2; s++) {
        struct tw_state *t = c->tw[s];
        if (!t->active)
            continue;
        if (end >= tw_expected_end(t))
            tw_end(c, s, tw_expected_end(t), TWE_EXPIRED);
        else
            tw_end(c, s, end, why);
    }
}

/* R2: enter (inferred) TIME_WAIT at the second FIN. */
static void tw_enter(const struct tcp_engine_ctx *x, struct conn *c, int side,
                     const struct pkt_meta *m)
{
    struct tw_state *t;
    enum tw_profile_id p = x->tw->profile;
    if (tcp_engine_tw_own(x->engine, c, side))
        return; /* out of memory: this period goes unrecorded */
    t = c->tw[side];
    if (p == TWP_AUTO)
        p = guess_profile(&c->d[side]);
    memset(t, 0, sizeof(*t));
    t->active = 1;
    t->entered = 1;
    t->inferred = 1;
    t->profile = (uint8_t)p;
    t->dur = tw_profile_duration(p, x->tw);
    t->start_ts = m->ts;
    t->start_frame = m->frame;
    t->start_file = m->file;
    t->last_answer_ts = m->ts;
}

static const char *side_name(int s) { return s ? "server" : "client"; }

static double usec_to_ms(tw_time t) { return (double)t / 1000.0; }

/* A pure ACK (no data, no SYN/FIN/RST) of the peer's FIN. */
static int is_final_ack(const struct conn *c, int dir, const struct pkt_view *pv)
{
    const struct tcp_dir *p = &c->d[!dir];
    return p->fin && (pv->flags & TCPF_ACK) && !(pv->flags & (TCPF_SYN | TCPF_FIN | TCPF_RST)) &&
           pv->payload_len == 0 && pv->ack == p->fin_seq + 1;
}

/* R2: has `side` both ACKed the peer's FIN and had its own FIN ACKed? */
static int close_handshake_done(const struct conn *c, int side)
{
    const struct tcp_dir *a = &c->d[side], *b = &c->d[!side];
    return a->fin && b->fin && a->acked && b->acked && seq_geq(a->max_ack, b->fin_seq + 1) &&
           seq_geq(b->max_ack, a->fin_seq + 1);
}

/*
 * R2: the segment completing the close handshake of an endpoint whose start
 * was inferred makes the start observed, unless the peer's FIN was already
 * retransmitted (then the original final ACK was lost before the capture
 * point and this is a retransmission, see tw_answer). Returns a bit mask:
 * 1 = the sender's own period was confirmed, 2 = some period was.
 */
static int tw_confirm(struct conn *c, int dir, const struct pkt_meta *m)
{
    int own = 0;
    for (int s = 0; s < 2; s++) {
        struct tw_state *t = c->tw[s];
        if (!t->active || !t->inferred || t->final_ack_seen || c->d[!s].fin_copies > 1 ||
            !close_handshake_done(c, s))
            continue;
        t->inferred = 0;
        t->final_ack_seen = 1;
        t->start_ts = m->ts;
        t->start_frame = m->frame;
        t->start_file = m->file;
        t->last_answer_ts = m->ts;
        t->last_ack_ts = m->ts;
        own |= s == dir ? 3 : 2;
    }
    return own;
}

/* R4/R6: a segment sent by an endpoint in TIME_WAIT. */
static void tw_answer(const struct tcp_engine_ctx *x, struct conn *c, int dir,
                      const struct pkt_meta *m, const struct pkt_view *pv)
{
    struct tw_state *t = c->tw[dir];
    const struct tcp_dir *peer = &c->d[!dir];
    int final_ack = is_final_ack(c, dir, pv);

    if (final_ack)
        c->d[dir].finack_copies++;
    if (!close_handshake_done(c, dir))
        return; /* simultaneous close: still CLOSING, part of the close handshake */
    t->answers++;
    t->last_answer_ts = m->ts;
    if (final_ack && peer->fin_copies > 1 && peer->fin_last_ts >= t->last_ack_ts) {
        char detail[256];
        tw_time since = t->last_ack_ts ? m->ts - t->last_ack_ts : m->ts - peer->fin_ts;
        snprintf(detail, sizeof(detail),
                 "{\"copy\":%u,\"interval_ms\":%.3f,\"interval_from\":\"%s\","
                 "\"original_seen\":%s,\"peer_fin_copies\":%u,\"loss\":\"%s\"}",
                 c->d[dir].finack_copies, usec_to_ms(since),
                 t->last_ack_ts ? "previous_ack" : "peer_fin",
                 t->final_ack_seen ? "true" : "false", peer->fin_copies,
                 t->final_ack_seen ? "after_capture_point" : "before_capture_point");
        tcp_emit(x, c, "final_ack_retransmission", m, dir, pv, detail);
    }
    if (final_ack)
        t->last_ack_ts = m->ts;
}

/* R5: FIN bookkeeping. Returns 1 when the segment is a retransmitted FIN. */
static int tw_fin(const struct tcp_engine_ctx *x, struct conn *c, int dir,
                  const struct pkt_meta *m, const struct pkt_view *pv)
{
    struct tcp_dir *d = &c->d[dir], *p = &c->d[!dir];
    uint32_t fseq = pv->seq + pv->payload_len + !!(pv->flags & TCPF_SYN);

    if (!d->fin) {
        d->fin = 1;
        d->fin_seq = fseq;
        d->fin_ack = pv->ack;
        d->fin_copies = 1;
        d->fin_frame = m->frame;
        d->fin_file = m->file;
        d->fin_ts = d->fin_last_ts = m->ts;
        /* R1: a FIN that acknowledges the peer's FIN is the passive closer's */
        d->fin_first = !(p->fin && (pv->flags & TCPF_ACK) && seq_geq(pv->ack, p->fin_seq + 1));
        if (c->close_kind != CK_RST)
            c->close_kind = p->fin ? CK_FIN : CK_HALF;
        if (p->fin && c->close_kind == CK_FIN) {
            for (int s = 0; s < 2; s++)
                if (c->d[s].fin_first && !c->tw[s]->entered)
                    tw_enter(x, c, s, m);
        }
        return 0;
    }
    if (fseq != d->fin_seq) {
        /* a FIN at another sequence number (tcptrace: "rexmitted FIN had diff.
         * seqnum!"): the latest one is what the peer must acknowledge */
        d->fin_seq = fseq;
        d->fin_ack = pv->ack;
        d->fin_copies = 1;
        d->fin_last_ts = m->ts;
        return 0;
    }
    {
        char detail[256];
        tw_time since = m->ts - d->fin_last_ts;
        const char *role = d->fin_first ? (p->fin && p->fin_first ? "both" : "active") : "passive";
        d->fin_copies++;
        d->fin_last_ts = m->ts;
        snprintf(detail, sizeof(detail),
                 "{\"copy\":%u,\"interval_ms\":%.3f,\"first_frame\":%llu,\"closer\":\"%s\","
                 "\"peer_acked_fin\":%s,\"capture_duplicate\":%s}",
                 d->fin_copies, usec_to_ms(since), (unsigned long long)d->fin_frame, role,
                 p->acked && seq_geq(p->max_ack, d->fin_seq + 1) ? "true" : "false",
                 since < FIN_DUP_USEC && pv->ack == d->fin_ack ? "true" : "false");
        tcp_emit(x, c, "fin_retransmission", m, dir, pv, detail);
        d->fin_ack = pv->ack;
    }
    return 1;
}

/* R7: a RST sent by `dir` while its peer is in TIME_WAIT. */
static void tw_rst(const struct tcp_engine_ctx *x, struct conn *c, int dir,
                   const struct pkt_meta *m, const struct pkt_view *pv)
{
    struct tw_state *t = c->tw[!dir];
    uint32_t rcv_nxt = c->d[dir].next_seq;
    int in_window = pv->seq == rcv_nxt;
    char detail[256];
    snprintf(detail, sizeof(detail),
             "{\"tw_side\":\"%s\",\"in_window\":%s,\"rcv_nxt\":%u,\"in_tw_s\":%.6f,"
             "\"left_s\":%.6f,\"killed\":%s}",
             side_name(!dir), in_window ? "true" : "false", rcv_nxt,
             tw_time_to_sec(m->ts - t->start_ts), tw_time_to_sec(tw_expected_end(t) - m->ts),
             in_window ? "true" : "false");
    tcp_emit(x, c, "tw_rst", m, dir, pv, detail);
    if (in_window)
        tw_end(c, !dir, m->ts, TWE_RST);
}

void tw_late_segment(const struct tcp_engine_ctx *x, struct conn *cur, struct conn *owner,
                     int owner_dir, int cur_dir, const char *phase, const struct pkt_meta *m,
                     const struct pkt_view *pv)
{
    char detail[512];
    (*x->late_segments)++;
    if (owner == cur) {
        snprintf(detail, sizeof(detail), "{\"phase\":\"%s\",\"tw_side\":%s%s%s}", phase,
                 cur->tw[!cur_dir]->active ? "\"" : "",
                 cur->tw[!cur_dir]->active ? side_name(!cur_dir)
                 : cur->tw[cur_dir]->active ? "\"both\"" : "null",
                 cur->tw[!cur_dir]->active ? "\"" : "");
        tcp_emit(x, cur, "late_segment", m, cur_dir, pv, detail);
        return;
    }
    /* phase new_incarnation: would the new connection accept it? */
    {
        const struct tcp_dir *s = &cur->d[cur_dir], *r = &cur->d[!cur_dir];
        int known = s->seen && r->seen;
        uint32_t rcv_nxt = s->next_seq, wnd = r->win;
        int in_window = 0, ack_ok = 0, paws_applicable, paws_reject;
        if (known) {
            uint32_t len = pv->payload_len + !!(pv->flags & TCPF_FIN);
            if (len == 0)
                in_window = wnd ? seq_between(pv->seq, rcv_nxt, rcv_nxt + wnd - 1)
                                : pv->seq == rcv_nxt;
            else if (wnd)
                in_window = seq_between(pv->seq, rcv_nxt, rcv_nxt + wnd - 1) ||
                            seq_between(pv->seq + len - 1, rcv_nxt, rcv_nxt + wnd - 1);
            ack_ok = (pv->flags & TCPF_ACK) && r->seen &&
                     seq_between(pv->ack, r->base_seq, r->next_seq);
        }
        paws_applicable = pv->has_ts && s->ts;
        paws_reject = paws_applicable && (int32_t)(s->ts_last - pv->tsval) > 0;
        snprintf(detail, sizeof(detail),
                 "{\"phase\":\"%s\",\"prior_connection_id\":%lld,\"prior_direction\":\"%s\","
                 "\"in_window\":%s,\"ack_acceptable\":%s,\"paws_applicable\":%s,"
                 "\"paws_reject\":%s,\"accepted\":%s,\"rcv_nxt\":%u,\"rcv_wnd\":%u}",
                 phase, (long long)owner->id, owner_dir ? "server" : "client",
                 in_window ? "true" : "false", ack_ok ? "true" : "false",
                 paws_applicable ? "true" : "false", paws_reject ? "true" : "false",
                 in_window && !paws_reject ? "true" : "false", rcv_nxt, wnd);
        tcp_emit(x, cur, "late_segment", m, cur_dir, pv, detail);
    }
}

int tw_belongs_to_prev(const struct conn *c, int dir, int prev_dir, const struct pkt_view *pv)
{
    const struct conn *p = c->prev;
    const struct tcp_dir *ps = &p->d[prev_dir], *pr = &p->d[!prev_dir];
    const struct tcp_dir *cs = &c->d[dir], *cr = &c->d[!dir];
    int has_ack = (pv->flags & TCPF_ACK) != 0;
    int fits_prev, fits_cur;

    if (pv->flags & TCPF_SYN)
        return ps->syn && pv->seq == ps->isn && !(cs->syn && pv->seq == cs->isn);
    /* timestamps order incarnations when both carry them (same per-host clock) */
    if (pv->has_ts && cs->ts && ps->ts) {
        if (seq_lt(pv->tsval, cs->ts_first) && seq_leq(pv->tsval, ps->ts_last))
            return 1;
        if (seq_geq(pv->tsval, cs->ts_first))
            return 0;
    }
    fits_prev = ps->seen && seq_between(pv->seq, ps->base_seq, ps->next_seq) &&
                (!has_ack || !pr->seen || seq_between(pv->ack, pr->base_seq, pr->next_seq));
    if (!fits_prev)
        return 0;
    if (!cs->seen) {
        fits_cur = 0;
    } else {
        uint32_t wnd = cr->win > 65535 ? cr->win : 65535;
        fits_cur = seq_between(pv->seq, cs->base_seq, cs->next_seq + wnd) &&
                   (!has_ack || !cr->seen || seq_between(pv->ack, cr->base_seq, cr->next_seq));
    }
    return !fits_cur;
}

void tw_on_reuse(const struct tcp_engine_ctx *x, struct conn *old, struct conn *nc, int dir,
                 const struct pkt_meta *m, const struct pkt_view *pv)
{
    for (int side = 0; side < 2; side++) {
        struct tw_state *t = old->tw[side];
        const struct tcp_dir *snd = &old->d[dir];
        char detail[640];
        int tw_is_receiver = side != dir;
        int isn_above, ts_newer, paws_reject, accept;
        const char *rule;
        if (!t->active)
            continue;
        isn_above = snd->seen && seq_gt(pv->seq, snd->next_seq);
        ts_newer = pv->has_ts && snd->ts && (int32_t)(snd->ts_last - pv->tsval) < 0;
        paws_reject = pv->has_ts && snd->ts && (int32_t)(snd->ts_last - pv->tsval) > 0;
        if (tw_is_receiver) {
            rule = "syn_to_timewait";
            accept = !paws_reject && (isn_above || ts_newer);
        } else {
            rule = "tcp_tw_reuse";
            accept = pv->has_ts && m->ts - t->last_answer_ts >= TW_USEC;
        }
        snprintf(detail, sizeof(detail),
                 "{\"prior_connection_id\":%lld,\"tw_side\":\"%s\",\"tw_endpoint\":\"%s\","
                 "\"old_isn\":%s%u%s,\"old_next_seq\":%u,\"new_isn\":%u,"
                 "\"old_tsval\":%s%u%s,\"new_tsval\":%s%u%s,"
                 "\"since_close_s\":%.6f,\"time_left_s\":%.6f,\"rule\":\"%s\","
                 "\"isn_above\":%s,\"ts_newer\":%s,\"paws_reject\":%s,\"linux_accept\":%s}",
                 (long long)old->id, side_name(side), tw_is_receiver ? "syn_receiver" : "syn_sender",
                 snd->syn ? "" : "null,\"_\":", snd->isn, "", snd->next_seq, pv->seq,
                 snd->ts ? "" : "null,\"_o\":", snd->ts_last, "",
                 pv->has_ts ? "" : "null,\"_n\":", pv->tsval, "",
                 tw_time_to_sec(m->ts - t->start_ts), tw_time_to_sec(tw_expected_end(t) - m->ts),
                 rule, isn_above ? "true" : "false", ts_newer ? "true" : "false",
                 paws_reject ? "true" : "false", accept ? "true" : "false");
        tcp_emit(x, nc, "tw_reuse", m, 0, pv, detail);
        tw_end(old, side, m->ts, TWE_REUSED);
    }
}

void tw_on_segment(const struct tcp_engine_ctx *x, struct conn *c, int dir,
                   const struct pkt_meta *m, const struct pkt_view *pv)
{
    uint8_t fl = pv->flags;
    int sender_in_tw = c->tw[dir]->active, peer_in_tw = c->tw[!dir]->active;
    int fin_rexmit = 0, confirmed = 0;

    if (fl & TCPF_RST) {
        if (peer_in_tw && !sender_in_tw) {
            tw_rst(x, c, dir, m, pv);
            return;
        }
        if (sender_in_tw && c->tw[dir]->inferred && !c->tw[dir]->final_ack_seen) {
            /* R10: it answered the peer's FIN with a RST, not an ACK: no TIME_WAIT */
            c->tw[dir]->active = 0;
            c->tw[dir]->entered = 0;
        }
        if (!c->d[dir].rst) {
            c->d[dir].rst = 1;
            c->rst_frame = m->frame;
        }
        if (c->close_kind != CK_FIN)
            c->close_kind = CK_RST;
        if (!tw_any_active(c))
            c->closed = 1;
        return;
    }
    if (tw_any_active(c))
        confirmed = tw_confirm(c, dir, m);
    if (fl & TCPF_FIN)
        fin_rexmit = tw_fin(x, c, dir, m, pv);
    if (sender_in_tw) {
        if (confirmed & 1) {
            if (is_final_ack(c, dir, pv))
                c->d[dir].finack_copies++;
        } else if (!fin_rexmit) {
            tw_answer(x, c, dir, m, pv);
        }
        return;
    }
    if (confirmed)
        return; /* simultaneous close: the ACK that completes the peer's close */
    if (fin_rexmit || !peer_in_tw)
        return;
    /* R9: anything else while the peer is in TIME_WAIT is an old duplicate */
    tw_late_segment(x, c, c, dir, dir, "time_wait", m, pv);
}
