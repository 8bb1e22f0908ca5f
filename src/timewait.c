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
 *     the same endpoint -- but within FIN_DUP_USEC with the same ACK, a copy
 *     at the capture point (counted in capture_dups, no finding). From the passive closer it means X's final ACK did
 *     not reach it in time.
 *  R6 Final-ACK retransmission: X ACKs Y's FIN again after Y retransmitted
 *     it. original_seen says whether the first final ACK passed the capture
 *     point (then it was lost between the capture point and Y; if not, before
 *     the capture point).
 *  R7 RST into TIME_WAIT: an out-of-window RST is ignored (every stack; RFC
 *     5961 3) and says so at once. One exactly at rcv_nxt kills the TIME_WAIT
 *     on Linux by default (TIME-WAIT assassination, RFC 1337 hazard H1..H3),
 *     but not with net.ipv4.tcp_rfc1337=1, nor on FreeBSD (RFC 5961 default):
 *     the capture decides when it can. The next segment the TIME_WAIT side
 *     sends shows it: a RST (no socket any more: killed, the period ends at
 *     the RST) or anything else (the socket answered: survived). Without
 *     such evidence before the period ends (expiry, reuse, capture end), the
 *     profile decides (tw_profile_rst_kills) and the finding says "unknown".
 *     The tw_rst finding points at the RST either way.
 *  R8 Reuse: a SYN with a new ISN during the period starts a new incarnation
 *     and ends the period (end "reused"). Linux's acceptance rule for a SYN
 *     arriving at a TIME_WAIT socket: not PAWS-rejected, and the ISN is after
 *     the old rcv_nxt or its TSval is newer than ts_recent (RFC 6191; RFC 1122
 *     4.2.2.13 for the ISN part). When the TIME_WAIT endpoint is the one that
 *     reconnects, Linux needs net.ipv4.tcp_tw_reuse and timestamps, 1 s on.
 *  R9 Late segments: any other segment during the period (old duplicates),
 *     segments that fit the previous incarnation's sequence space after a new
 *     one started (phase new_incarnation: would the new connection accept it?
 *     RFC 9293 3.10.7.4 acceptability test and RFC 7323 PAWS). Segments after
 *     a connection was over (a RST, or every period ended) reach no TCP state
 *     that must judge them: they are counted (connections.after_close), not
 *     findings -- but for FINs, which still go through R5: the passive closer
 *     in LAST-ACK retransmits its FIN until it gives up, whatever the peer's
 *     timer, and each copy says its final ACK did not arrive.
 *  R10 No TIME_WAIT after a RST close; none for a half close.
 *  R11 Incarnations (tw_route): a pure SYN on a tracked tuple starts a new
 *     incarnation unless it is the sender's SYN again (same ISN: a
 *     retransmission; a SYN whose seq+1 the peer already acknowledged or that
 *     starts the sender's sequence space: the original arriving late, Arkime
 *     PR #4019, Wireshark #19771) or the server's first SYN on a live
 *     connection (simultaneous open, split handshake); it does when the old
 *     incarnation has a FIN or RST, is in TIME_WAIT, never completed its
 *     handshake, or has been idle past the idle timeout. A SYN inside an
 *     established open connection does not (Linux answers it with a
 *     challenge ACK; Zeek: SYN_inside_connection). Suricata's
 *     TcpSessionPacketSsnReuse decides the same way.
 *  R12 Attribution (tw_route): after a reuse, a segment belongs to the
 *     previous incarnation when it fits that one's sequence (and ACK) space
 *     and not the new one's; TCP timestamps decide first when both
 *     incarnations carry them (one clock per host).
 *  R14 A FIN the tap missed: a first FIN that acknowledges peer sequence
 *     numbers the capture never saw leaves the active closer unknown (the
 *     peer's FIN may be among them: a capture that started after it), until
 *     the numbers tell -- the peer's own FIN later (it closed second), or its
 *     ACK from exactly one number further (its FIN was first, unseen), or an
 *     endpoint ACKing one number beyond what its peer was seen to send after
 *     its own FIN (the peer's answering FIN, unseen). See fin_missed().
 *  R13 Stale state: the client's SYN is answered by a bare ACK whose ACK
 *     number is not the SYN's ISN + 1 -- the server still holds state of an
 *     earlier connection on the tuple (Linux sends such an ACK from an
 *     established socket, a "challenge ACK", RFC 5961 4; or from TIME_WAIT
 *     for a SYN it does not accept). The client, in SYN-SENT, answers with a
 *     RST whose sequence number is that ACK number (RFC 9293 3.10.7.3) and
 *     retries its SYN (usually the same ISN) after its retransmission timer;
 *     the RST cleared the server's old state, so the retried SYN starts a new
 *     incarnation: finding stale_state_rst, on the new incarnation.
 *  R15 Copies: the same segment twice (same tuple, direction, seq, ack,
 *     length, flags, window, TCP timestamps, IPv4 ID and TCP checksum) is
 *     not two segments. Within TW_TAP_COPY_USEC in the same file, it is a
 *     copy made by the tap (tcpdump -i any sees a packet on each interface it
 *     crosses, a SPAN of both ports mirrors it twice); within
 *     TW_VANTAGE_COPY_USEC in another file, the same segment at a second
 *     capture point (a client-side and a server-side capture merged). A
 *     sender's own retransmission waits at least an RTO (Linux TCP_RTO_MIN
 *     200 ms) and nearly always differs in the IPv4 ID or TSval. Copies are
 *     counted (connections.capture_dups, vantage_dups), never judged: no
 *     FIN retransmission, no late segment from them (editcap -d does the same
 *     by frame hash over a window of frames).
 *  R16 Time that steps back (a clock set back during the capture, files
 *     merged out of order): frames are taken in capture order, and a period
 *     that the order says ended before its start in time ends at its start
 *     (held 0 s), never with a negative duration; hours between two
 *     incarnations end the first period as expired, at start + 2*MSL.
 *  R17 One direction only (a capture that sees one endpoint's segments): of
 *     the peer, never seen, what is known is what the visible side
 *     acknowledges (ack_view: its next_seq from the ACKs). A first FIN that
 *     acknowledges no more than that, when the last rise was not by exactly
 *     one, did not answer a peer FIN: its sender closed first (R1). One that
 *     acknowledges exactly one number more, or as much after a rise by
 *     exactly one, answers the peer's FIN, sent first (unseen, R14). After its own
 *     FIN, an ACK one number beyond is the peer's answering FIN (R14 c). The
 *     TIME_WAIT it implies is inferred. Anything else stays unknown. (A
 *     one-byte segment of the peer would look like a FIN, as in R14.) The
 *     server's side only: a SYN-ACK with a new ISN on a closing tuple answers
 *     a new SYN (ISN = its ACK - 1), accepted: the next incarnation (R8).
 *  R18 A SYN the tap missed, both directions seen: on a tuple that is closing
 *     or closed, a SYN-ACK with a new ISN that does not acknowledge the old
 *     SYN answers a new SYN the capture did not see (ISN = its ACK - 1): the
 *     next incarnation, as in R17. A copy of the old SYN-ACK carries the old
 *     ISN and ACK and stays in the old incarnation. (If the SYN-ACK is missed
 *     too, the new incarnation's first segments are told as late ones.) On a
 *     tuple still open as far as the capture shows (its FINs missed too), only
 *     a SYN-ACK acknowledging what the peer never sent in it.
 *
 * The file is a leaf: it reads and writes the struct tcp_track it is given
 * and returns verdicts (struct tw_result); the engine (tcpstate.c) applies
 * them, and rowtext.c turns them into text on the writer thread.
 */
#include "twscope/timewait.h"

#include <string.h>

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
        p = TW_DEFAULT_PROFILE;
    return (tw_time)profile_seconds[p] * TW_USEC;
}

int tw_profile_rst_kills(enum tw_profile_id p)
{
    return p != TWP_FREEBSD; /* tcp_twcheck() drops every RST (RFC 5961 secure default) */
}

tw_time tw_min_duration(const struct tw_config *cfg)
{
    if (cfg->profile != TWP_AUTO)
        return tw_profile_duration(cfg->profile, cfg);
    return tw_profile_duration(TWP_MACOS, cfg); /* the shortest auto can pick */
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

const char *close_kind_name(enum close_kind k)
{
    switch (k) {
    case CK_HALF: return "half";
    case CK_FIN: return "fin";
    case CK_RST: return "rst";
    case CK_OPEN: break;
    }
    return "open";
}

const char *tw_who_name(enum tw_who w)
{
    switch (w) {
    case TWW_CLIENT: return "client";
    case TWW_SERVER: return "server";
    case TWW_BOTH: return "both";
    case TWW_UNKNOWN: return "unknown";
    case TWW_NONE: break;
    }
    return NULL;
}

const char *tw_finding_name(enum tw_finding k)
{
    switch (k) {
    case TWF_FIN_REXMIT: return "fin_retransmission";
    case TWF_FINAL_ACK_REXMIT: return "final_ack_retransmission";
    case TWF_TW_RST: return "tw_rst";
    case TWF_TW_REUSE: return "tw_reuse";
    case TWF_LATE_SEGMENT: return "late_segment";
    case TWF_STALE_STATE_RST: return "stale_state_rst";
    case TWF_NONE:
    case TWF_COUNT: break;
    }
    return NULL;
}

/* ---- copies (R15) ------------------------------------------------------------- */

static inline uint64_t rotl64(uint64_t v, int r) { return v << r | v >> (64 - r); }

/* Per packet: each field word multiplied by an odd constant, one final mix (about 20 instructions). */
uint64_t tw_copy_fp(const struct pkt_view *pv, uint64_t tuple_hash, int ep)
{
    uint64_t h = tuple_hash ^ ((uint64_t)(ep & 1) * 0x8f1bbcdc5a827999ULL);
    h ^= ((uint64_t)pv->seq << 32 | pv->ack) * 0x9e3779b97f4a7c15ULL;
    h ^= rotl64((uint64_t)pv->payload_len << 32 | (uint32_t)pv->flags << 16 | pv->window, 21) *
         0xc2b2ae3d27d4eb4fULL;
    h ^= rotl64(pv->has_ts ? ((uint64_t)pv->tsval << 32 | pv->tsecr) : 0x5a5a5a5aULL, 42) *
         0x165667b19e3779f9ULL;
    h ^= ((uint64_t)pv->ip_id << 16 | pv->tcp_csum) * 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return h ? h : 1;
}

enum tw_copy tw_copy_check(struct tw_copies *tab, uint64_t fp, tw_time ts, uint32_t file)
{
    struct tw_copy_slot *s = &tab->slot[fp & ((1u << TW_COPY_SLOTS_LOG2) - 1)];
    tw_time since = ts >= s->ts ? ts - s->ts : s->ts - ts; /* timestamps may step back */
    int far;
    if (s->fp == fp) {
        if (s->file == file && since < TW_TAP_COPY_USEC)
            return TWC_TAP;
        if (s->file != file && since < TW_VANTAGE_COPY_USEC)
            return TWC_VANTAGE;
    }
    far = s->fp == fp && s->file != file;
    s->fp = fp;
    s->ts = ts;
    s->file = file;
    return far ? TWC_FAR : TWC_NONE;
}

/* ---- profiles (R3) ------------------------------------------------------------ */

int tw_initial_ttl(uint8_t ttl)
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
    int ittl = tw_initial_ttl(d->ttl);
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

void tw_profile_seen_of(const struct tw_config *cfg, const struct tcp_dir *d,
                        struct tw_profile_seen *out)
{
    memset(out, 0, sizeof(*out));
    out->is_auto = cfg->profile == TWP_AUTO;
    out->ttl = d->ttl;
    out->syn = d->syn;
    out->opt_count = d->opt_count < DECODE_OPT_SIG_LEN ? d->opt_count : DECODE_OPT_SIG_LEN;
    memcpy(out->opt_sig, d->opt_sig, sizeof(out->opt_sig));
}

/* ---- periods ---------------------------------------------------------------------- */

int tw_any_active(const struct tcp_track *t)
{
    return t->tw[0]->active || t->tw[1]->active;
}

enum tw_who tw_active_closer(const struct tcp_track *t)
{
    int a = t->d[0].fin && t->d[0].fin_first, b = t->d[1].fin && t->d[1].fin_first;
    if (t->d[0].fin_unsure || t->d[1].fin_unsure)
        return TWW_UNKNOWN; /* R14: the peer may have closed before the capture saw it */
    if (t->close_kind != CK_FIN && t->close_kind != CK_HALF)
        return (t->d[0].fin || t->d[1].fin) ? (t->d[0].fin ? TWW_CLIENT : TWW_SERVER) : TWW_NONE;
    if (a && b)
        return TWW_BOTH;
    if (a)
        return TWW_CLIENT;
    if (b)
        return TWW_SERVER;
    return TWW_NONE;
}

static void tw_end(struct tcp_track *t, int side, tw_time at, enum tw_end_reason why)
{
    struct tw_state *s = t->tw[side];
    if (at < s->start_ts)
        at = s->start_ts; /* R16: the clock stepped back: never a negative period */
    s->active = 0;
    s->end_reason = (uint8_t)why;
    s->end_ts = at;
    if (!tw_any_active(t) && (t->close_kind == CK_FIN || t->close_kind == CK_RST))
        t->closed = 1;
}

static struct tw_verdict *verdict(struct tw_result *r, enum tw_finding kind, int dir);

/*
 * R7: the RST pending on side `side` is decided. evidence: the frame of the
 * segment that showed it (killed: whether it was a RST), or 0 when the period
 * ends without one (then the profile decides). Appends the tw_rst verdict.
 */
static void rst_decided(struct tcp_track *t, int side, uint64_t evidence, int killed,
                        struct tw_result *r)
{
    struct tw_state *s = t->tw[side];
    struct tw_verdict *v = verdict(r, TWF_TW_RST, !side);
    if (!evidence)
        killed = tw_profile_rst_kills((enum tw_profile_id)s->profile);
    s->rst_pending = 0;
    s->rst_by_profile = !evidence;
    v->who = (uint8_t)side;
    v->rcv_nxt = s->rst_seq;
    v->t1 = s->rst_ts - s->start_ts;
    v->t2 = tw_expected_end(s) - s->rst_ts;
    v->first_frame = evidence;
    v->bits = TWV_IN_WINDOW | TWV_AT_RST | (killed ? TWV_KILLED : 0) | (evidence ? TWV_KILL_SEEN : 0);
    if (killed)
        tw_end(t, side, s->rst_ts, TWE_RST);
}

void tw_expire(struct tcp_track *t, tw_time now, struct tw_result *r)
{
    for (int side = 0; side < 2; side++) {
        struct tw_state *s = t->tw[side];
        if (!s->active || now <= tw_expected_end(s))
            continue;
        if (s->rst_pending)
            rst_decided(t, side, 0, 0, r);
        if (s->active)
            tw_end(t, side, tw_expected_end(s), TWE_EXPIRED);
    }
}

void tw_finish(struct tcp_track *t, tw_time end, enum tw_end_reason why, struct tw_result *r)
{
    for (int side = 0; side < 2; side++) {
        struct tw_state *s = t->tw[side];
        if (s->active && s->rst_pending)
            rst_decided(t, side, 0, 0, r);
        if (!s->active)
            continue;
        if (end >= tw_expected_end(s))
            tw_end(t, side, tw_expected_end(s), TWE_EXPIRED);
        else
            tw_end(t, side, end, why);
    }
}

/* R2, R3: enter (inferred) TIME_WAIT at the second FIN. */
void tw_enter(struct tcp_track *t, int side, const struct tw_config *cfg, const struct pkt_meta *m)
{
    struct tw_state *s = t->tw[side];
    enum tw_profile_id p = cfg->profile;
    if (p == TWP_AUTO)
        p = guess_profile(&t->d[side]);
    memset(s, 0, sizeof(*s));
    s->active = 1;
    s->entered = 1;
    s->inferred = 1;
    s->profile = (uint8_t)p;
    s->dur = tw_profile_duration(p, cfg);
    s->start_ts = m->ts;
    s->start_frame = m->frame;
    s->start_file = (uint16_t)m->file;
    s->last_answer_ts = m->ts;
}

static struct tw_verdict *verdict(struct tw_result *r, enum tw_finding kind, int dir)
{
    struct tw_verdict *v = &r->v[r->n++];
    memset(v, 0, sizeof(*v));
    v->kind = (uint8_t)kind;
    v->dir = (uint8_t)dir;
    return v;
}

/* A pure ACK (no data, no SYN/FIN/RST) of the peer's FIN. */
static int is_final_ack(const struct tcp_track *t, int dir, const struct pkt_view *pv)
{
    const struct tcp_dir *p = &t->d[!dir];
    return p->fin && (pv->flags & TCPF_ACK) && !(pv->flags & (TCPF_SYN | TCPF_FIN | TCPF_RST)) &&
           pv->payload_len == 0 && pv->ack == p->fin_seq + 1;
}

/* R2: has `side` both ACKed the peer's FIN and had its own FIN ACKed? */
static int close_handshake_done(const struct tcp_track *t, int side)
{
    const struct tcp_dir *a = &t->d[side], *b = &t->d[!side];
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
static int tw_confirm(struct tcp_track *t, int dir, const struct pkt_meta *m)
{
    int own = 0;
    for (int side = 0; side < 2; side++) {
        struct tw_state *s = t->tw[side];
        if (!s->active || !s->inferred || s->final_ack_seen || t->d[!side].fin_copies > 1 ||
            !close_handshake_done(t, side))
            continue;
        s->inferred = 0;
        s->final_ack_seen = 1;
        s->start_ts = m->ts;
        s->start_frame = m->frame;
        s->start_file = (uint16_t)m->file;
        s->last_answer_ts = m->ts;
        s->last_ack_ts = m->ts;
        own |= side == dir ? 3 : 2;
    }
    return own;
}

/* R4/R6: a segment sent by an endpoint in TIME_WAIT. */
static void tw_answer(struct tcp_track *t, int dir, const struct pkt_meta *m,
                      const struct pkt_view *pv, struct tw_result *r)
{
    struct tw_state *s = t->tw[dir];
    const struct tcp_dir *peer = &t->d[!dir];
    int final_ack = is_final_ack(t, dir, pv);

    if (final_ack)
        t->d[dir].finack_copies++;
    if (!close_handshake_done(t, dir))
        return; /* simultaneous close: still CLOSING, part of the close handshake */
    s->answers++;
    s->last_answer_ts = m->ts; /* R4: every answer restarts the 2*MSL timer */
    if (final_ack && peer->fin_copies > 1 && peer->fin_last_ts >= s->last_ack_ts) {
        struct tw_verdict *v = verdict(r, TWF_FINAL_ACK_REXMIT, dir);
        v->copy = t->d[dir].finack_copies;
        v->t1 = s->last_ack_ts ? m->ts - s->last_ack_ts : m->ts - peer->fin_ts;
        v->peer_copies = peer->fin_copies;
        v->bits = (uint32_t)((s->last_ack_ts ? TWV_FROM_PREV_ACK : 0) |
                             (s->final_ack_seen ? TWV_ORIGINAL_SEEN : 0));
    }
    if (final_ack)
        s->last_ack_ts = m->ts;
}

static void fin_unseen(struct tcp_track *t, int side, uint32_t seq, uint32_t ack, int first,
                       const struct pkt_meta *m, struct tw_result *r);

/* R1, R5: FIN bookkeeping. Returns 1 when the segment is a retransmitted FIN. */
static int tw_fin(struct tcp_track *t, int dir, const struct pkt_meta *m,
                  const struct pkt_view *pv, struct tw_result *r)
{
    struct tcp_dir *d = &t->d[dir], *p = &t->d[!dir];
    uint32_t fseq = pv->seq + seg_len(pv) - 1; /* the FIN's own sequence number */

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
        /* R14: it acknowledges peer sequence numbers the capture never saw: the
         * peer's FIN may be among them, so who closed first is not known yet */
        if (d->fin_first && !p->fin && (pv->flags & TCPF_ACK) && !p->seen && p->ack_view &&
            p->ack_step1 && pv->ack == p->next_seq) {
            /* R17: the ACK number rose by one before this FIN: the peer's FIN, sent
             * first and acknowledged already */
            fin_unseen(t, !dir, p->next_seq - 1, 0, 1, m, r);
        } else if (d->fin_first && !p->fin && (pv->flags & TCPF_ACK) &&
                   ((!p->seen && !p->ack_view) || seq_gt(pv->ack, p->next_seq))) {
            d->fin_unsure = 1;
            d->fin_gap1 = (p->seen || p->ack_view) && pv->ack == p->next_seq + 1;
            /* R17: a peer never seen acknowledged up to next_seq: a FIN that
             * acknowledges exactly one more number answers the peer's FIN,
             * sent first; no segment of the peer will ever tell more */
            if (d->fin_gap1 && !p->seen)
                fin_unseen(t, !dir, p->next_seq, 0, 1, m, r);
        }
        if (p->fin_unsure) {
            /* R14: a FIN of the peer after its own: one beyond what it acknowledged
             * came later (it closed first after all); the one it acknowledged is
             * the peer's first, sent again */
            p->fin_unsure = 0;
            if (fseq + 1 == p->fin_ack) {
                d->fin_first = 1;
                p->fin_first = 0;
            }
        }
        if (t->close_kind != CK_RST)
            t->close_kind = p->fin ? CK_FIN : CK_HALF;
        if (p->fin && t->close_kind == CK_FIN) {
            for (int side = 0; side < 2; side++)
                if (t->d[side].fin_first && !t->tw[side]->entered)
                    r->enter |= (uint8_t)(1u << side); /* R2: the engine calls tw_enter() */
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
    if (m->ts - d->fin_last_ts < FIN_DUP_USEC && pv->ack == d->fin_ack) {
        /* R5: the same FIN within a millisecond: a copy at the capture point that
         * R15 could not match byte for byte (an offloaded super-segment beside
         * its wire segments, tcpdump -i any), no retransmission: counted */
        r->copies++;
        return 1;
    }
    {
        struct tw_verdict *v = verdict(r, TWF_FIN_REXMIT, dir);
        tw_time since = m->ts - d->fin_last_ts;
        d->fin_copies++;
        d->fin_last_ts = m->ts;
        v->copy = d->fin_copies;
        v->t1 = since;
        v->first_frame = d->fin_frame;
        v->phase = d->fin_first ? (p->fin && p->fin_first ? 2 : 0) : 1;
        v->bits = (uint32_t)((p->acked && seq_geq(p->max_ack, d->fin_seq + 1) ? TWV_PEER_ACKED : 0) |
                             (!p->seen ? TWV_PEER_UNSEEN : 0));
        d->fin_ack = pv->ack;
    }
    return 1;
}

/*
 * R7: a RST sent by `dir` while its peer is in TIME_WAIT. Out of the window:
 * ignored, said at once. At rcv_nxt: kept pending until the evidence or the
 * profile decides (rst_decided); a second one meanwhile changes nothing.
 */
static void tw_rst(struct tcp_track *t, int dir, const struct pkt_meta *m,
                   const struct pkt_view *pv, struct tw_result *r)
{
    struct tw_state *s = t->tw[!dir];
    uint32_t rcv_nxt = t->d[dir].next_seq;
    struct tw_verdict *v;
    if (pv->seq == rcv_nxt) {
        if (!s->rst_pending) {
            s->rst_pending = 1;
            s->rst_ts = m->ts;
            s->rst_frame = m->frame;
            s->rst_file = (uint16_t)m->file;
            s->rst_seq = pv->seq;
            s->rst_ack = pv->ack;
            s->rst_flags = pv->flags;
        }
        return;
    }
    v = verdict(r, TWF_TW_RST, dir);
    v->who = (uint8_t)!dir;
    v->rcv_nxt = rcv_nxt;
    v->t1 = m->ts - s->start_ts;
    v->t2 = tw_expected_end(s) - m->ts;
    v->bits = TWV_KILL_SEEN; /* out of the window: no stack acts on it */
}

/* R9: which endpoint of t is in TIME_WAIT, as a late segment sent by `dir` sees it. */
static enum tw_who late_tw_side(const struct tcp_track *t, int dir)
{
    if (t->tw[!dir]->active)
        return (enum tw_who)!dir;
    return t->tw[dir]->active ? TWW_BOTH : TWW_NONE;
}

void tw_late_prev(const struct tcp_track *cur, int cur_dir, int prev_dir, const struct pkt_view *pv,
                  struct tw_result *r)
{
    /* would the new connection accept it? RFC 9293 3.10.7.4, RFC 7323 PAWS */
    const struct tcp_dir *s = &cur->d[cur_dir], *rv = &cur->d[!cur_dir];
    struct tw_verdict *v = verdict(r, TWF_LATE_SEGMENT, cur_dir);
    int in_window = 0, ack_ok = 0, paws_applicable, paws_reject;
    if (s->seen && rv->seen) {
        in_window = seq_acceptable(pv->seq, seg_len(pv), s->next_seq, rv->win);
        ack_ok = (pv->flags & TCPF_ACK) && seq_between(pv->ack, rv->base_seq, rv->next_seq);
    }
    paws_applicable = pv->has_ts && s->ts;
    paws_reject = paws_applicable && ts_older(pv->tsval, s->ts_last);
    v->phase = TWPH_NEW_INCARNATION;
    v->prior_dir = (uint8_t)prev_dir;
    v->rcv_nxt = s->next_seq;
    v->rcv_wnd = rv->win;
    v->bits = (uint32_t)((in_window ? TWV_IN_WINDOW : 0) | (ack_ok ? TWV_ACK_OK : 0) |
                         (paws_applicable ? TWV_PAWS_APPLICABLE : 0) |
                         (paws_reject ? TWV_PAWS_REJECT : 0) |
                         (in_window && !paws_reject ? TWV_ACCEPTED : 0));
}

/* ---- incarnations (R8, R11, R12) ---------------------------------------------------- */

/* Past its three-way handshake (or seen carrying data). */
static int established(const struct tcp_track *t)
{
    const struct tcp_dir *cl = &t->d[0], *sv = &t->d[1];
    if (cl->bytes || sv->bytes)
        return 1;
    return sv->syn && cl->acked && seq_geq(cl->max_ack, sv->isn + 1);
}

/* R11: does a pure SYN sent by `dir` on t start a new incarnation? */
static int syn_starts_incarnation(const struct tcp_track *t, const struct tcp_track *prev, int dir,
                                  const struct pkt_view *pv, int idle_expired)
{
    const struct tcp_dir *d = &t->d[dir], *p = &t->d[!dir];
    int closing = t->closed || t->close_kind != CK_OPEN || tw_any_active(t);
    if (t->stale == 2 && dir == 0)
        return 1; /* R13: the retry after a stale-state RST */
    if (d->syn && pv->seq == d->isn)
        return 0; /* its SYN again: a retransmission */
    if (!d->syn && d->seen && d->base_seq == pv->seq + 1)
        return 0; /* the original SYN, late: its sequence space starts after it */
    if (!d->syn && p->syn && p->acked && p->max_ack == pv->seq + 1)
        return 0; /* the original SYN, late: the SYN-ACK already acknowledged it */
    if (prev && prev->d[0].syn && !t->d[0].syn && pv->seq == prev->d[0].isn)
        return 0; /* the previous incarnation's SYN again */
    if (closing)
        return 1;
    if (dir == 1 && !d->syn)
        return 0; /* the server's first SYN: simultaneous open, split handshake */
    if (!established(t))
        return 1;
    return idle_expired;
}

/* R12: does a segment on t's tuple belong to prev rather than to t? */
static int belongs_to_prev(const struct tcp_track *t, const struct tcp_track *prev, int dir,
                           int prev_dir, const struct pkt_view *pv)
{
    const struct tcp_dir *ps = &prev->d[prev_dir], *pr = &prev->d[!prev_dir];
    const struct tcp_dir *cs = &t->d[dir], *cr = &t->d[!dir];
    int has_ack = (pv->flags & TCPF_ACK) != 0;
    int fits_prev, fits_cur;

    if (pv->flags & TCPF_SYN)
        return ps->syn && pv->seq == ps->isn && !(cs->syn && pv->seq == cs->isn);
    /* timestamps order incarnations when both carry them (same per-host clock) */
    if (pv->has_ts && cs->ts && ps->ts) {
        if (ts_older(pv->tsval, cs->ts_first) && !ts_older(ps->ts_last, pv->tsval))
            return 1;
        if (!ts_older(pv->tsval, cs->ts_first))
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

/*
 * R17: one direction only, the server's: a SYN-ACK with a new ISN on a tuple
 * that was closing, whose client was never seen, answers a new SYN (unseen).
 */
static int synack_starts_incarnation(const struct tcp_track *t, int dir, const struct pkt_view *pv)
{
    const struct tcp_dir *d = &t->d[dir], *p = &t->d[!dir];
    int closing = t->closed || t->close_kind != CK_OPEN || tw_any_active(t);
    /* R17: the peer never seen; R18: the peer seen, its SYN missed by the tap (a
     * SYN-ACK of the old incarnation again would carry the old ISN and ACK) */
    int known = d->syn || (p->seen && p->syn);   /* an ISN to compare with */
    /* open as far as the capture shows (its FINs missed too): only when the SYN-ACK
     * acknowledges what the peer never sent in this incarnation */
    int beyond = p->seen && p->syn && seq_gt(pv->ack, p->next_seq);
    return (pv->flags & (TCPF_SYN | TCPF_ACK | TCPF_RST)) == (TCPF_SYN | TCPF_ACK) && known &&
           (closing || beyond) && (!d->syn || pv->seq != d->isn) &&
           (!p->seen || !p->syn || pv->ack != p->isn + 1);
}

enum tw_route tw_route(const struct tcp_track *t, const struct tcp_track *prev, int dir,
                       int prev_dir, const struct pkt_view *pv, int idle_expired)
{
    int pure_syn = (pv->flags & (TCPF_SYN | TCPF_ACK | TCPF_RST)) == TCPF_SYN;
    if (synack_starts_incarnation(t, dir, pv))
        return TWR_REUSE;
    if (pure_syn && syn_starts_incarnation(t, prev, dir, pv, idle_expired))
        return TWR_REUSE;
    if (prev && belongs_to_prev(t, prev, dir, prev_dir, pv))
        return TWR_PREV;
    if (t->closed && !pure_syn && !(pv->flags & TCPF_FIN))
        return TWR_CLOSED;
    return TWR_ACCOUNT;
}

/* R8: Linux's acceptance of the SYN, per TIME_WAIT side of the old incarnation. */
void tw_reuse(struct tcp_track *old, int dir, const struct pkt_meta *m, const struct pkt_view *pv,
              struct tw_result *r)
{
    /* R17: a SYN-ACK (the server's side only): the SYN it answers, unseen, came
     * from the peer with the ISN it acknowledges, and was accepted */
    int synack = (pv->flags & TCPF_ACK) != 0;
    int sdir = synack ? !dir : dir;
    uint32_t new_isn = synack ? pv->ack - 1 : pv->seq;
    const struct tcp_dir *snd = &old->d[sdir];
    int isn_above = (snd->seen || snd->ack_view) && seq_gt(new_isn, snd->next_seq);
    int ts_both = !synack && pv->has_ts && snd->ts;
    int ts_newer = ts_both && ts_older(snd->ts_last, pv->tsval);
    int paws_reject = ts_both && ts_older(pv->tsval, snd->ts_last);

    for (int side = 0; side < 2; side++) {
        struct tw_state *s = old->tw[side];
        struct tw_verdict *v;
        int receiver = side != sdir, accept;
        if (s->active && s->rst_pending)
            rst_decided(old, side, 0, 0, r); /* no evidence came: the profile says */
        if (!s->active)
            continue;
        if (synack)   /* the SYN-ACK shows it was accepted */
            accept = 1;
        else if (receiver) /* syn_to_timewait: tcp_timewait_state_process() TCP_TW_SYN */
            accept = !paws_reject && (isn_above || ts_newer);
        else          /* tcp_tw_reuse: the TIME_WAIT endpoint reconnects */
            accept = pv->has_ts && m->ts - s->last_answer_ts >= TW_USEC;
        v = verdict(r, TWF_TW_REUSE, synack);
        v->who = (uint8_t)side;
        v->old_isn = snd->isn;
        v->old_next_seq = snd->next_seq;
        v->new_isn = new_isn;
        v->old_tsval = snd->ts_last;
        v->new_tsval = synack ? 0 : pv->tsval;
        v->t1 = m->ts > s->start_ts ? m->ts - s->start_ts : 0; /* R16 */
        v->t2 = tw_expected_end(s) - m->ts;
        v->bits = (uint32_t)((receiver ? TWV_RECEIVER : 0) | (isn_above ? TWV_ISN_ABOVE : 0) |
                             (ts_newer ? TWV_TS_NEWER : 0) | (paws_reject ? TWV_PAWS_REJECT : 0) |
                             (accept ? TWV_LINUX_ACCEPT : 0) | (snd->syn ? TWV_OLD_ISN : 0) |
                             (snd->ts ? TWV_OLD_TS : 0) | (pv->has_ts && !synack ? TWV_NEW_TS : 0));
        tw_end(old, side, m->ts, TWE_REUSED);
    }
}

void tw_stale_retry(const struct tcp_track *old, const struct pkt_view *pv, tw_time since_rst,
                    struct tw_result *r)
{
    struct tw_verdict *v = verdict(r, TWF_STALE_STATE_RST, 0);
    v->who = TWW_SERVER; /* the side that held the old state */
    v->old_isn = old->d[0].isn;
    v->new_isn = pv->seq;
    v->rcv_nxt = old->d[1].max_ack; /* the foreign ACK number */
    v->rst_frame = old->rst_frame;
    v->first_frame = old->rst_frame - (uint32_t)((uint32_t)old->rst_frame - old->stale_frame_lo);
    v->t1 = since_rst;
}

/* R13: the SYN-SENT side of t gets an ACK of a foreign sequence number, then resets it. */
static void stale_state(struct tcp_track *t, int dir, const struct pkt_meta *m,
                        const struct pkt_view *pv)
{
    uint8_t fl = pv->flags;
    const struct tcp_dir *cl = &t->d[0], *sv = &t->d[1];
    if (t->stale == 0 && dir == 1 && cl->syn && !sv->syn && (fl & TCPF_ACK) &&
        !(fl & (TCPF_SYN | TCPF_RST)) && pv->ack != cl->isn + 1 && !cl->acked) {
        t->stale = 1;
        t->stale_frame_lo = (uint32_t)m->frame;
    } else if (t->stale == 1 && dir == 0 && (fl & TCPF_RST) && pv->seq == sv->max_ack) {
        t->stale = 2;
    }
}

/* R14: side `side` of t sent a FIN the capture did not see, at sequence number seq. */
static void fin_unseen(struct tcp_track *t, int side, uint32_t seq, uint32_t ack, int first,
                       const struct pkt_meta *m, struct tw_result *r)
{
    struct tcp_dir *d = &t->d[side], *p = &t->d[!side];
    d->fin = 1;
    d->fin_missed = 1;
    d->fin_seq = seq;
    d->fin_ack = ack;
    d->fin_copies = 1;
    d->fin_frame = 0; /* no frame to show */
    d->fin_file = m->file;
    d->fin_ts = d->fin_last_ts = m->ts;
    d->fin_first = (uint8_t)first;
    p->fin_first = (uint8_t)!first;
    p->fin_unsure = 0;
    if (seq_gt(seq + 1, d->next_seq))
        d->next_seq = seq + 1;
    if (t->close_kind == CK_RST)
        return;
    t->close_kind = CK_FIN;
    for (int s = 0; s < 2; s++)
        if (t->d[s].fin_first && !t->tw[s]->entered)
            r->enter |= (uint8_t)(1u << s); /* R2: the engine calls tw_enter() */
}

/*
 * R14: a FIN the tap missed, shown by the sequence and ACK numbers around it.
 * (b) The peer of an unsure FIN (see tw_fin) ACKs that FIN from exactly one
 * sequence number beyond what it was seen to send, a number that FIN had
 * acknowledged: it was the peer's FIN, sent first. (c) An endpoint whose FIN
 * was seen ACKs exactly one number beyond what its peer was seen to send: the
 * peer's FIN, answering. The FIN is recorded as unseen (fin_missed, no frame)
 * and the TIME_WAIT it implies starts, inferred, at this ACK. (A one-byte
 * segment the tap missed would look the same; it is much rarer.)
 */
static void fin_missed(struct tcp_track *t, int dir, const struct pkt_meta *m,
                       const struct pkt_view *pv, struct tw_result *r)
{
    struct tcp_dir *d = &t->d[dir], *p = &t->d[!dir];
    if (!(pv->flags & TCPF_ACK) || (pv->flags & TCPF_RST))
        return;
    if (!d->fin && p->fin && p->fin_unsure && p->fin_gap1 && pv->seq == p->fin_ack &&
        pv->ack == p->fin_seq + 1)
        fin_unseen(t, dir, p->fin_ack - 1, 0, 1, m, r);                     /* (b) */
    else if (d->fin && !d->fin_missed && !d->fin_unsure && !p->fin && (p->seen || p->ack_view) &&
             pv->ack == p->next_seq + 1)
        fin_unseen(t, !dir, p->next_seq, d->fin_seq + 1, 0, m, r);          /* (c) */
}

/* ---- evidence ------------------------------------------------------------------------ */

void tw_closer_evidence(const struct tcp_track *t, struct tw_evidence *e)
{
    enum tw_who who = tw_active_closer(t);
    int both_seen = t->d[0].seen && t->d[1].seen;
    e->how = e->rule = NULL;
    if (who == TWW_NONE)
        return;
    if (who == TWW_UNKNOWN) {
        e->how = "unknown";
        e->rule = both_seen ? "R14" : "R17";
    } else if (!both_seen) {
        e->how = "inferred";     /* one direction only: from the visible side's ACK numbers */
        e->rule = "R17";
    } else if (t->d[0].fin_missed || t->d[1].fin_missed) {
        e->how = "inferred";     /* a FIN the tap missed, shown by the numbers */
        e->rule = "R14";
    } else {
        e->how = "observed";     /* both FINs (or the only one) passed the capture point */
        e->rule = "R1";
    }
}

void tw_period_evidence(const struct tcp_track *t, int side, struct tw_evidence *start,
                        struct tw_evidence *end)
{
    const struct tw_state *s = t->tw[side];
    struct tw_evidence closer;
    tw_closer_evidence(t, &closer);
    if (!s->inferred) {
        start->how = "observed"; /* its final ACK */
        start->rule = "R2";
    } else {
        start->how = "inferred"; /* from the second FIN, or the numbers that showed it */
        start->rule = closer.how && strcmp(closer.how, "inferred") == 0 ? closer.rule : "R2";
    }
    end->rule = NULL;
    switch ((enum tw_end_reason)s->end_reason) {
    case TWE_REUSED: end->how = "observed"; end->rule = "R8"; break;
    case TWE_RST: end->how = s->rst_by_profile ? "inferred" : "observed"; end->rule = "R7"; break;
    case TWE_EXPIRED: end->how = "inferred"; end->rule = "R4"; break; /* last answer + 2*MSL */
    default: end->how = "unknown"; break;                             /* capture end, evicted */
    }
}

/* ---- one segment of the current incarnation ------------------------------------------ */

static void segment_rules(struct tcp_track *t, int dir, const struct pkt_meta *m,
                          const struct pkt_view *pv, struct tw_result *r);

void tw_segment(struct tcp_track *t, int dir, const struct pkt_meta *m, const struct pkt_view *pv,
                struct tw_result *r)
{
    struct tcp_dir *p = &t->d[!dir];
    segment_rules(t, dir, m, pv, r);
    /* R17: of a peer the capture never saw (one direction only), what is
     * known is what this side acknowledges: its sequence space, from the ACKs */
    if (!p->seen && (pv->flags & TCPF_ACK) && !(pv->flags & TCPF_RST) &&
        (!p->ack_view || seq_gt(pv->ack, p->next_seq))) {
        p->ack_step1 = p->ack_view && pv->ack == p->next_seq + 1;
        p->ack_view = 1;
        p->next_seq = pv->ack;
    }
}

static void segment_rules(struct tcp_track *t, int dir, const struct pkt_meta *m,
                          const struct pkt_view *pv, struct tw_result *r)
{
    uint8_t fl = pv->flags;
    int sender_in_tw = t->tw[dir]->active, peer_in_tw = t->tw[!dir]->active;
    int fin_rexmit = 0, confirmed = 0;

    r->n = 0;
    r->enter = 0;
    r->copies = 0;
    if (t->stale < 2)
        stale_state(t, dir, m, pv);
    if (sender_in_tw && t->tw[dir]->rst_pending) {
        /* R7: the TIME_WAIT side speaks after an in-window RST: a RST means its
         * socket was gone, anything else that it survived */
        rst_decided(t, dir, m->frame, (fl & TCPF_RST) != 0, r);
        sender_in_tw = t->tw[dir]->active;
    }
    if (fl & TCPF_RST) {
        if (peer_in_tw && !sender_in_tw) {
            tw_rst(t, dir, m, pv, r);
            return;
        }
        if (sender_in_tw && t->tw[dir]->inferred && !t->tw[dir]->final_ack_seen) {
            /* R10: it answered the peer's FIN with a RST, not an ACK: no TIME_WAIT */
            t->tw[dir]->active = 0;
            t->tw[dir]->entered = 0;
        }
        if (!t->d[dir].rst) {
            t->d[dir].rst = 1;
            t->rst_frame = m->frame;
        }
        if (t->close_kind != CK_FIN)
            t->close_kind = CK_RST;
        if (!tw_any_active(t))
            t->closed = 1;
        return;
    }
    if (!(fl & (TCPF_FIN | TCPF_SYN)) && t->close_kind != CK_OPEN)
        fin_missed(t, dir, m, pv, r);
    if (tw_any_active(t))
        confirmed = tw_confirm(t, dir, m);
    if (fl & TCPF_FIN)
        fin_rexmit = tw_fin(t, dir, m, pv, r);
    if (sender_in_tw) {
        if (confirmed & 1) {
            if (is_final_ack(t, dir, pv))
                t->d[dir].finack_copies++;
        } else if (!fin_rexmit) {
            tw_answer(t, dir, m, pv, r);
        }
        return;
    }
    if (confirmed)
        return; /* simultaneous close: the ACK that completes the peer's close */
    if (fin_rexmit || !peer_in_tw)
        return;
    /* R9: anything else while the peer is in TIME_WAIT is an old duplicate */
    {
        struct tw_verdict *v = verdict(r, TWF_LATE_SEGMENT, dir);
        v->phase = TWPH_TIME_WAIT;
        v->who = (uint8_t)late_tw_side(t, dir);
    }
}
