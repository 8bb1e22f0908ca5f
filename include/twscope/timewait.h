/*
 * timewait.h -- the TIME_WAIT engine: every rule about how a TCP connection
 * ends and how the next incarnation of its 4-tuple begins. Who closed
 * actively, when each endpoint entered TIME_WAIT, how long its period lasts
 * (2*MSL per OS profile), how it ended, whether a SYN starts a new
 * incarnation, whether a segment belongs to the previous one, and the teardown
 * findings (FIN and final-ACK retransmissions, late segments, TIME_WAIT
 * reuse, RST into TIME_WAIT).
 *
 * It is a leaf: it knows nothing of the flow table, the pool, nDPI or the
 * database. The engine (tcpstate.c) hands it one incarnation's TCP state
 * (struct tcp_track), the decoded segment and its packet time; it updates the
 * teardown part of that state and returns verdicts (struct tw_verdict) that the
 * engine applies: findings go to the sinks, entries into TIME_WAIT get a pooled
 * struct tw_state, a reuse opens the next incarnation. It never formats text
 * (findings_detail() in rowtext.c turns a verdict into JSON, on the writer
 * thread). Called by the analysis thread only.
 *
 * All of it is inferred from one capture point, in packet time. The rules and
 * their sources (RFC 9293 3.5-3.6, RFC 1337, RFC 6191, RFC 7323, Linux
 * net/ipv4/tcp_minisocks.c) are written next to the code in timewait.c.
 */
#ifndef TWSCOPE_TIMEWAIT_H
#define TWSCOPE_TIMEWAIT_H

#include <stdint.h>

#include "twscope/common.h"
#include "twscope/config.h"
#include "twscope/decode.h"
#include "twscope/tcptrack.h"

enum tw_profile_id {
    TWP_LINUX = 0,  /* 60 s: TCP_TIMEWAIT_LEN, fixed */
    TWP_FREEBSD,    /* 60 s: 2 * net.inet.tcp.msl (30 s) */
    TWP_MACOS,      /* 30 s: 2 * net.inet.tcp.msl (15 s) */
    TWP_WINDOWS,    /* 240 s: TcpTimedWaitDelay default */
    TWP_RFC9293,    /* 240 s: 2 * MSL of 2 minutes */
    TWP_CUSTOM,     /* --tw-seconds N */
    TWP_AUTO,       /* per host, from what the capture shows */
    TWP_COUNT
};

enum tw_end_reason {
    TWE_NONE = 0,     /* still running */
    TWE_EXPIRED,      /* the period ran out inside the capture */
    TWE_REUSED,       /* a new SYN on the 4-tuple started a new incarnation */
    TWE_RST,          /* the TIME_WAIT endpoint received an in-window RST */
    TWE_CAPTURE_END,  /* the capture ended first (censored) */
    TWE_EVICTED,      /* dropped by --max-flows before it ended */
};

/* TIME_WAIT state of one endpoint of one connection (small, fixed, pooled). */
struct tw_state {
    tw_time start_ts;          /* entered TIME_WAIT */
    tw_time last_answer_ts;    /* last segment sent by the endpoint in TIME_WAIT */
    tw_time dur;               /* 2*MSL, microseconds */
    tw_time end_ts;            /* when it ended (valid when end_reason != NONE) */
    tw_time last_ack_ts;       /* last copy of the final ACK (re-ACK intervals) */
    uint64_t start_frame;
    uint16_t answers;          /* segments answered while in TIME_WAIT */
    uint16_t start_file;
    uint8_t active : 1;        /* 1 while in TIME_WAIT */
    uint8_t entered : 1;       /* 1 once it entered (row to write) */
    uint8_t inferred : 1;      /* start taken from the peer's FIN, final ACK unseen */
    uint8_t final_ack_seen : 1;/* the original final ACK was seen */
    uint8_t end_reason : 4;    /* enum tw_end_reason */
    uint8_t profile;           /* enum tw_profile_id actually used */
    uint8_t rst_pending;       /* R7: an in-window RST came; whether it killed the period is
                                  not known yet (the RST's packet is below) */
    uint8_t row_open;          /* bookkeeping (live, the analyzer's): its row was written
                                  open, not ended yet */
    uint32_t rst_seq, rst_ack;
    uint16_t rst_file;
    uint8_t rst_flags;
    uint8_t rst_by_profile;    /* R7: the RST's effect was the profile's assumption, not seen */
    tw_time rst_ts;
    uint64_t rst_frame;
};

struct tw_config {
    enum tw_profile_id profile;    /* TWP_AUTO picks per host */
    tw_time custom_dur;            /* for TWP_CUSTOM */
};

/* ---- verdicts ---------------------------------------------------------------- */

enum tw_finding {
    TWF_NONE = 0,
    TWF_FIN_REXMIT,         /* R5 "fin_retransmission" */
    TWF_FINAL_ACK_REXMIT,   /* R6 "final_ack_retransmission" */
    TWF_TW_RST,             /* R7 "tw_rst" */
    TWF_TW_REUSE,           /* R8 "tw_reuse" */
    TWF_LATE_SEGMENT,       /* R9 "late_segment" */
    TWF_STALE_STATE_RST,    /* R13 "stale_state_rst" */
    TWF_COUNT
};

enum tw_phase { TWPH_TIME_WAIT = 0, TWPH_NEW_INCARNATION };

/* Which endpoints a verdict is about. */
enum tw_who { TWW_CLIENT = 0, TWW_SERVER = 1, TWW_BOTH = 2, TWW_NONE = 3, TWW_UNKNOWN = 4 };

/* tw_verdict.bits */
#define TWV_IN_WINDOW        0x0001 /* tw_rst: RST at rcv_nxt; late: in the receive window */
#define TWV_KILLED           0x0002 /* tw_rst: the period ended with it (see TWV_KILL_*) */
#define TWV_ORIGINAL_SEEN    0x0004 /* final ACK: the first final ACK passed the capture point */
#define TWV_FROM_PREV_ACK    0x0008 /* final ACK: interval from the previous ACK copy */
#define TWV_PEER_ACKED       0x0010 /* FIN: the peer had acknowledged it */
#define TWV_CAPTURE_DUP      0x0020 /* FIN: a copy at the capture point (no longer set: such
                                       copies are counted, not findings; the key stays) */
#define TWV_ACK_OK           0x0040 /* late: its ACK is acceptable to the new connection */
#define TWV_PAWS_APPLICABLE  0x0080 /* both carry timestamps */
#define TWV_PAWS_REJECT      0x0100 /* RFC 7323 PAWS would drop it */
#define TWV_ACCEPTED         0x0200 /* late: the new connection would accept it */
#define TWV_RECEIVER         0x0400 /* reuse: the TIME_WAIT endpoint received the SYN */
#define TWV_ISN_ABOVE        0x0800 /* reuse: new ISN after the old next_seq */
#define TWV_TS_NEWER         0x1000 /* reuse: new TSval newer than the old one */
#define TWV_LINUX_ACCEPT     0x2000 /* reuse: Linux would accept the SYN */
#define TWV_OLD_ISN          0x4000 /* reuse: old_isn known */
#define TWV_OLD_TS           0x8000 /* reuse: old_tsval known */
#define TWV_NEW_TS          0x10000 /* reuse: new_tsval known */
#define TWV_KILL_SEEN       0x20000 /* tw_rst: killed or not, shown by a later segment (first_frame) */
#define TWV_AT_RST          0x40000 /* the row is the RST kept in the TIME_WAIT state of side who */
#define TWV_PEER_UNSEEN     0x80000 /* FIN: the peer never passed the capture point (one direction) */

/*
 * One finding decided by the rules: what the engine hands to the sinks, and
 * the writer turns into a row and its JSON detail. Plain numbers only.
 */
struct tw_verdict {
    uint8_t kind;              /* enum tw_finding */
    uint8_t dir;               /* direction of the segment in the connection it is attached to */
    uint8_t who;               /* enum tw_who: TIME_WAIT side (fin: closer role, see below) */
    uint8_t phase;             /* late: enum tw_phase; fin: 0 active, 1 passive, 2 both */
    uint8_t prior_dir;         /* late new_incarnation: direction in the prior incarnation */
    uint32_t bits;             /* TWV_* */
    uint16_t copy;             /* fin/final ACK: copy number */
    uint16_t peer_copies;      /* final ACK: copies of the peer's FIN */
    uint32_t rcv_nxt, rcv_wnd; /* rst, late new_incarnation */
    uint32_t old_isn, old_next_seq, new_isn, old_tsval, new_tsval; /* reuse */
    uint64_t first_frame;      /* fin: frame of the first copy; stale: the foreign ACK;
                                  tw_rst: the segment that showed whether it killed */
    uint64_t rst_frame;        /* stale: the client's RST */
    tw_time t1;                /* fin/final ACK: interval; rst: in TIME_WAIT for; reuse: since close;
                                  stale: from the RST to the retried SYN */
    tw_time t2;                /* rst, reuse: time left in the period */
    int64_t prior_id;          /* reuse, late new_incarnation: the prior connection (set by the engine) */
};

/*
 * The verdicts of one call: a segment's, or those of periods ending (a SYN
 * reusing a simultaneous close, with an RST pending on each side, gives four).
 */
struct tw_result {
    uint8_t n;                 /* verdicts in v */
    uint8_t enter;             /* bit s: side s entered TIME_WAIT: give it a tw_state, tw_enter() */
    uint8_t copies;            /* R5: the segment was a copy at the capture point: count it */
    struct tw_verdict v[4];
};

/* What the engine must do with a segment on a tracked tuple (tw_route()). */
enum tw_route {
    TWR_ACCOUNT = 0,           /* this incarnation's: account it, then tw_segment() */
    TWR_REUSE,                 /* a SYN opening the next incarnation: tw_reuse() */
    TWR_PREV,                  /* an old segment of the previous incarnation: tw_late_prev() */
    TWR_CLOSED,                /* after the connection was over (RST, every period ended), not a
                                  FIN: account and count it; no TCP had to judge it, no finding */
};

/*
 * R15: segments seen twice. A fixed table of the fingerprints of recent
 * segments (direct-mapped, no allocation per packet): a segment identical to
 * one seen shortly before is a copy -- at the tap (same file: -i any, a SPAN
 * of both ports) or at a second capture point (another file of the same run).
 * The engine drops copies before any rule sees them and counts them.
 */
struct tw_copy_slot {
    uint64_t fp;               /* tw_copy_fp() of the segment, 0 = empty */
    tw_time ts;                /* its time */
    uint32_t file;             /* input file it was in */
};
struct tw_copies {
    struct tw_copy_slot slot[1u << TW_COPY_SLOTS_LOG2];
};
enum tw_copy {
    TWC_NONE = 0,              /* a segment of its own (remembered) */
    TWC_TAP,                   /* a copy at the tap: drop, count */
    TWC_VANTAGE,               /* the same segment at another capture point: drop, count */
    TWC_FAR,                   /* the same segment in another file, too far apart in time to be
                                  taken as one (clocks that differ?): a segment of its own */
};

/*
 * What makes a segment itself: its tuple and direction (tuple_hash, ep: as the
 * flow table keys it), sequence and ACK numbers, length, flags, window,
 * timestamps, IPv4 ID and TCP checksum -- not the TTL, which a router between
 * two capture points lowers.
 */
uint64_t tw_copy_fp(const struct pkt_view *pv, uint64_t tuple_hash, int ep);
/*
 * Is the segment with fingerprint fp, at ts in file `file`, a copy of one in
 * the table? TWC_NONE and TWC_FAR remember it (in place of what its slot held).
 */
enum tw_copy tw_copy_check(struct tw_copies *tab, uint64_t fp, tw_time ts, uint32_t file);

/* ---- profiles ------------------------------------------------------------------ */

const char *tw_profile_name(enum tw_profile_id p);
/* Parse a --tw-profile name; -1 if unknown. */
int tw_profile_parse(const char *s);
/* 2*MSL of a fixed profile, microseconds. */
tw_time tw_profile_duration(enum tw_profile_id p, const struct tw_config *cfg);
/* The shortest 2*MSL the configured profile can give any endpoint. */
tw_time tw_min_duration(const struct tw_config *cfg);
const char *tw_end_reason_name(enum tw_end_reason r);
/* What the auto profile looked at for one endpoint (rowtext_profile() says it in words). */
struct tw_profile_seen {
    uint8_t is_auto;           /* 0: the profile came from the option */
    uint8_t ttl;               /* TTL/hop limit of its SYN (or first packet) */
    uint8_t syn;               /* its SYN was seen */
    uint8_t opt_count;
    uint8_t opt_sig[DECODE_OPT_SIG_LEN];
};
void tw_profile_seen_of(const struct tw_config *cfg, const struct tcp_dir *d,
                        struct tw_profile_seen *out);
/* The usual initial TTL (64, 128 or 255) a seen TTL was counted down from. */
int tw_initial_ttl(uint8_t ttl);

/* ---- the rules -------------------------------------------------------------------- */

/*
 * Where a segment on a tuple whose current incarnation is t goes (R8, R9).
 * prev: the previous incarnation still in memory, or NULL; dir and prev_dir:
 * the segment's direction in t and in prev; idle_expired: t has been idle
 * longer than the idle timeout.
 */
enum tw_route tw_route(const struct tcp_track *t, const struct tcp_track *prev, int dir,
                       int prev_dir, const struct pkt_view *pv, int idle_expired);
/*
 * A segment of t, already accounted in t->d[dir] (R1, R2, R4-R7, R9, R10):
 * updates the teardown state, returns its finding if any in r.
 */
void tw_segment(struct tcp_track *t, int dir, const struct pkt_meta *m, const struct pkt_view *pv,
                struct tw_result *r);
/* Side `side` of t enters (inferred) TIME_WAIT now (R2, R3); t->tw[side] is writable. */
void tw_enter(struct tcp_track *t, int side, const struct tw_config *cfg, const struct pkt_meta *m);
/*
 * R8: the SYN opening the next incarnation ends old's periods: a verdict per
 * period (appended to r).
 */
void tw_reuse(struct tcp_track *old, int dir, const struct pkt_meta *m, const struct pkt_view *pv,
              struct tw_result *r);
/*
 * R13: the retried SYN after a stale-state RST (old->stale == 2) opens the next
 * incarnation: the pattern's verdict. since_rst: time since old's last packet.
 */
void tw_stale_retry(const struct tcp_track *old, const struct pkt_view *pv, tw_time since_rst,
                    struct tw_result *r);
/* R9: a segment of the previous incarnation prev, judged by the current one cur. */
void tw_late_prev(const struct tcp_track *cur, int cur_dir, int prev_dir, const struct pkt_view *pv,
                  struct tw_result *r);
/*
 * End the periods of t that ran out before `now`. An RST still pending on one
 * (R7) is decided by the profile then: its tw_rst verdict is appended to r.
 */
void tw_expire(struct tcp_track *t, tw_time now, struct tw_result *r);
/* End every running period of t at `end`: expired if it had run out, else `why`. Same r. */
void tw_finish(struct tcp_track *t, tw_time end, enum tw_end_reason why, struct tw_result *r);
/* 1 when a TIME_WAIT of this profile ends on an in-window RST (no RFC 1337 protection). */
int tw_profile_rst_kills(enum tw_profile_id p);
/* 1 while any endpoint of t is in TIME_WAIT. */
int tw_any_active(const struct tcp_track *t);
/* R1, R14: who closed actively: TWW_CLIENT, TWW_SERVER, TWW_BOTH, TWW_NONE or TWW_UNKNOWN. */
enum tw_who tw_active_closer(const struct tcp_track *t);
/* When side `side` of t is expected to leave TIME_WAIT (R4: last answer + 2*MSL). */
static inline tw_time tw_expected_end(const struct tw_state *s)
{
    return s->last_answer_ts + s->dur;
}

/* ---- evidence: how an answer was decided ----------------------------------------------- */

/*
 * how: "observed" (a segment shows it), "inferred" (rule from the numbers or
 * the timers), "unknown"; NULL when there is nothing to decide (no FIN).
 * rule: the rule of this file that decided it ("R1", "R14", ...), or NULL.
 */
struct tw_evidence {
    const char *how;
    const char *rule;
};
/* The active closer (tw_active_closer) and, alike, which side holds TIME_WAIT. */
void tw_closer_evidence(const struct tcp_track *t, struct tw_evidence *e);
/* The start and the end of side `side`'s period (t->tw[side] entered). */
void tw_period_evidence(const struct tcp_track *t, int side, struct tw_evidence *start,
                        struct tw_evidence *end);

/* ---- names used in the database ----------------------------------------------------- */

const char *close_kind_name(enum close_kind k);
/* "client", "server", "both", "unknown" or NULL. */
const char *tw_who_name(enum tw_who w);
/* "fin_retransmission", ... */
const char *tw_finding_name(enum tw_finding k);

#endif /* TWSCOPE_TIMEWAIT_H */
