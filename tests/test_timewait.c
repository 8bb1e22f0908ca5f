/*
 * test_timewait.c -- the TIME_WAIT rules (timewait.c), one test or more per
 * rule R1-R12, on hand-built segment sequences fed to the leaf alone: the
 * per-endpoint bookkeeping (tcp_track_account), then the rule the engine
 * would call (tw_route, tw_segment, tw_reuse, tw_late_prev, tw_stale_retry).
 * Assertions are on verdict fields and on the TIME_WAIT state, never on
 * text. tests/t_rules_mutate.sh disables each rule in turn and requires this
 * program to fail.
 */
#include <string.h>

#include "test.h"
#include "twscope/timewait.h"

#define C 0                    /* client -> server (direction 0) */
#define S 1                    /* server -> client */
#define SYN TCPF_SYN
#define ACK TCPF_ACK
#define FIN (TCPF_FIN | TCPF_ACK)
#define RST TCPF_RST
#define MS 1000

static struct tw_state idle;            /* the engine's shared all-zero state */
static struct tw_state slots[2][2];     /* [incarnation][side] */
static struct tcp_track tr[2];          /* [0] current incarnation, [1] its prev */
static struct tw_config cfg;
static struct tw_result res;            /* verdicts of the last segment */
static struct tw_result ended;          /* verdicts of periods that ended (tw_expire, tw_finish) */
static tw_time now;
static uint64_t frame;

struct seg {
    int dir;
    uint8_t flags;
    uint32_t seq, ack, len;
    uint32_t tsval;            /* 0 = no timestamp option */
    uint8_t ttl;               /* 0 = 64 */
};

static void track_init(struct tcp_track *t)
{
    memset(t, 0, sizeof(*t));
    t->tw[0] = t->tw[1] = &idle;
}

static void setup_profile(enum tw_profile_id p)
{
    memset(&idle, 0, sizeof(idle));
    memset(slots, 0, sizeof(slots));
    track_init(&tr[0]);
    track_init(&tr[1]);
    memset(&cfg, 0, sizeof(cfg));
    cfg.profile = p;
    now = 1000 * TW_USEC;
    frame = 0;
}
static void setup(void) { setup_profile(TWP_LINUX); }

static void view(const struct seg *s, struct pkt_view *pv)
{
    memset(pv, 0, sizeof(*pv));
    pv->ip_version = 4;
    pv->flags = s->flags;
    pv->seq = s->seq;
    pv->ack = s->ack;
    pv->payload_len = s->len;
    pv->window = 65535;
    pv->wscale = 0xff;
    pv->ttl = s->ttl ? s->ttl : 64;
    if (s->tsval) {
        pv->has_ts = 1;
        pv->tsval = s->tsval;
    }
}

static struct pkt_meta meta(tw_time dt)
{
    struct pkt_meta m;
    now += dt;
    m.ts = now;
    m.frame = ++frame;
    m.file = 0;
    return m;
}

/* A segment of incarnation k, as the engine handles one routed TWR_ACCOUNT. */
static const struct tw_result *feed_k(int k, tw_time dt, struct seg s)
{
    struct pkt_view pv;
    struct pkt_meta m = meta(dt);
    struct tcp_track *t = &tr[k];
    view(&s, &pv);
    ended.n = 0;
    tw_expire(t, m.ts, &ended);
    tcp_track_account(t, s.dir, &pv);
    tw_segment(t, s.dir, &m, &pv, &res);
    for (int side = 0; side < 2; side++) {
        if (res.enter & (1u << side)) {
            t->tw[side] = &slots[k][side];
            tw_enter(t, side, &cfg, &m);
        }
    }
    return &res;
}
static const struct tw_result *feed(tw_time dt, struct seg s) { return feed_k(0, dt, s); }

/* Where the engine would send segment s on a tuple whose current incarnation is tr[0]. */
static enum tw_route route(struct seg s, int with_prev, int idle_expired)
{
    struct pkt_view pv;
    view(&s, &pv);
    return tw_route(&tr[0], with_prev ? &tr[1] : NULL, s.dir, s.dir, &pv, idle_expired);
}

/* Handshake and one request/response; returns nothing, fills tr[k]. */
static void open_k(int k, uint32_t cisn, uint32_t sisn, uint32_t ts)
{
    feed_k(k, MS, (struct seg){C, SYN, cisn, 0, 0, ts, 0});
    feed_k(k, MS, (struct seg){S, SYN | ACK, sisn, cisn + 1, 0, ts ? ts + 1 : 0, 0});
    feed_k(k, MS, (struct seg){C, ACK, cisn + 1, sisn + 1, 0, ts ? ts + 2 : 0, 0});
    feed_k(k, MS, (struct seg){C, ACK | TCPF_PSH, cisn + 1, sisn + 1, 100, ts ? ts + 3 : 0, 0});
    feed_k(k, MS, (struct seg){S, ACK | TCPF_PSH, sisn + 1, cisn + 101, 200, ts ? ts + 4 : 0, 0});
}
static void open_conn(void) { open_k(0, 1000, 5000, 0); }

/* The client closes: FIN, server ACK+FIN, client's final ACK. Frames 6-8. */
static void client_close(void)
{
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});
}

static const struct tw_verdict *only(const struct tw_result *r, enum tw_finding k)
{
    return r->n == 1 && r->v[0].kind == k ? &r->v[0] : NULL;
}

/* ---- R1 active closer ------------------------------------------------------------ */

static int test_r1_client_closes(void)
{
    setup();
    open_conn();
    client_close();
    FAIL_UNLESS(tw_active_closer(&tr[0]) == TWW_CLIENT);
    FAIL_UNLESS(tr[0].d[C].fin_first && !tr[0].d[S].fin_first);
    FAIL_UNLESS(tr[0].close_kind == CK_FIN);
    FAIL_UNLESS(tr[0].tw[C]->entered && !tr[0].tw[S]->entered);
    PASS;
}

static int test_r1_server_closes(void)
{
    setup();
    open_conn();
    feed(MS, (struct seg){S, FIN, 5201, 1101, 0, 0, 0});
    FAIL_UNLESS(tw_active_closer(&tr[0]) == TWW_SERVER && tr[0].close_kind == CK_HALF);
    feed(MS, (struct seg){C, FIN, 1101, 5202, 0, 0, 0});
    feed(MS, (struct seg){S, ACK, 5202, 1102, 0, 0, 0});
    FAIL_UNLESS(tw_active_closer(&tr[0]) == TWW_SERVER);
    FAIL_UNLESS(tr[0].tw[S]->active && !tr[0].tw[C]->active);
    PASS;
}

static int test_r1_simultaneous(void)
{
    const struct tw_result *r;
    setup();
    open_conn();
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    r = feed(0, (struct seg){S, FIN, 5201, 1101, 0, 0, 0}); /* crosses: does not ack the FIN */
    FAIL_UNLESS(r->enter == 3);
    FAIL_UNLESS(tw_active_closer(&tr[0]) == TWW_BOTH);
    /* each ACKs the other's FIN: CLOSING -> TIME_WAIT on both sides */
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});
    feed(0, (struct seg){S, ACK, 5202, 1102, 0, 0, 0});
    FAIL_UNLESS(tr[0].tw[C]->active && tr[0].tw[S]->active);
    FAIL_UNLESS(!tr[0].tw[C]->inferred && !tr[0].tw[S]->inferred);
    PASS;
}

/* ---- R2 start ------------------------------------------------------------------ */

static int test_r2_start_at_final_ack(void)
{
    const struct tw_result *r;
    setup();
    open_conn();
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    r = feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    FAIL_UNLESS(r->enter == 1 << C);
    FAIL_UNLESS(tr[0].tw[C]->inferred && tr[0].tw[C]->start_frame == 7);
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});
    FAIL_UNLESS(!tr[0].tw[C]->inferred && tr[0].tw[C]->final_ack_seen);
    FAIL_UNLESS(tr[0].tw[C]->start_frame == 8 && tr[0].tw[C]->start_ts == now);
    PASS;
}

static int test_r2_first_ack_after_fin_retransmission(void)
{
    setup();
    open_conn();
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    feed(200 * MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0}); /* final ACK lost before us */
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});
    FAIL_UNLESS(tr[0].tw[C]->inferred && !tr[0].tw[C]->final_ack_seen);
    FAIL_UNLESS(tr[0].tw[C]->start_frame == 7);
    PASS;
}

/* ---- R3 duration ---------------------------------------------------------------- */

static int dur_s(void) { return (int)(tr[0].tw[C]->dur / TW_USEC); }

static int test_r3_profiles(void)
{
    static const struct { enum tw_profile_id p; int s; } want[] = {
        {TWP_LINUX, 60}, {TWP_FREEBSD, 60}, {TWP_MACOS, 30}, {TWP_WINDOWS, 240}, {TWP_RFC9293, 240},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        setup_profile(want[i].p);
        open_conn();
        client_close();
        FAIL_UNLESS(dur_s() == want[i].s && tr[0].tw[C]->profile == want[i].p);
    }
    setup_profile(TWP_CUSTOM);
    cfg.custom_dur = 7 * TW_USEC;
    open_conn();
    client_close();
    FAIL_UNLESS(dur_s() == 7);
    PASS;
}

static int test_r3_auto(void)
{
    struct tw_profile_seen seen;
    setup_profile(TWP_AUTO);
    feed(MS, (struct seg){C, SYN, 1000, 0, 0, 0, 128}); /* a Windows client: TTL 128 */
    feed(MS, (struct seg){S, SYN | ACK, 5000, 1001, 0, 0, 64});
    feed(MS, (struct seg){C, ACK, 1001, 5001, 0, 0, 128});
    feed(MS, (struct seg){C, FIN, 1001, 5001, 0, 0, 128});
    feed(MS, (struct seg){S, FIN, 5001, 1002, 0, 0, 64});
    feed(MS, (struct seg){C, ACK, 1002, 5002, 0, 0, 128});
    FAIL_UNLESS(tr[0].tw[C]->profile == TWP_WINDOWS && dur_s() == 240);
    tw_profile_seen_of(&cfg, &tr[0].d[C], &seen);
    FAIL_UNLESS(seen.is_auto && seen.ttl == 128 && seen.syn);
    FAIL_UNLESS(tw_min_duration(&cfg) == 30 * TW_USEC);
    PASS;
}

/* ---- R4 restart ------------------------------------------------------------------ */

static int test_r4_answers_restart_the_period(void)
{
    tw_time end0;
    setup();
    open_conn();
    client_close();
    end0 = tw_expected_end(tr[0].tw[C]);
    FAIL_UNLESS(end0 == now + 60 * TW_USEC);
    feed(10 * TW_USEC, (struct seg){S, ACK, 5202, 1102, 10, 0, 0}); /* old data: late (R9) */
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});             /* TIME_WAIT re-ACKs */
    FAIL_UNLESS(tr[0].tw[C]->answers == 1);
    FAIL_UNLESS(tw_expected_end(tr[0].tw[C]) == now + 60 * TW_USEC);
    FAIL_UNLESS(tw_expected_end(tr[0].tw[C]) > end0);
    PASS;
}

static int test_r4_expiry_and_capture_end(void)
{
    tw_time end;
    setup();
    open_conn();
    client_close();
    end = tw_expected_end(tr[0].tw[C]);
    tw_expire(&tr[0], end, &ended); /* not yet: the period includes its last instant */
    FAIL_UNLESS(tr[0].tw[C]->active);
    tw_expire(&tr[0], end + 1, &ended);
    FAIL_UNLESS(!tr[0].tw[C]->active && tr[0].tw[C]->end_reason == TWE_EXPIRED);
    FAIL_UNLESS(tr[0].tw[C]->end_ts == end && tr[0].closed);

    setup();
    open_conn();
    client_close();
    tw_finish(&tr[0], now + TW_USEC, TWE_CAPTURE_END, &ended);
    FAIL_UNLESS(tr[0].tw[C]->end_reason == TWE_CAPTURE_END && tr[0].tw[C]->end_ts == now + TW_USEC);
    PASS;
}

/* ---- R5 FIN retransmission --------------------------------------------------------- */

static int test_r5_fin_retransmission(void)
{
    const struct tw_verdict *v;
    setup();
    open_conn();
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});              /* frame 7 */
    v = only(feed(200 * MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0}), TWF_FIN_REXMIT);
    FAIL_UNLESS(v && v->dir == S && v->copy == 2 && v->first_frame == 7);
    FAIL_UNLESS(v->t1 == 200 * MS && v->phase == 1 /* passive */);
    FAIL_UNLESS(!(v->bits & TWV_PEER_ACKED));
    /* the same FIN again within a millisecond: a copy at the capture point, counted */
    FAIL_UNLESS(feed(100, (struct seg){S, FIN, 5201, 1102, 0, 0, 0})->n == 0 && res.copies == 1);
    v = only(feed(200 * MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0}), TWF_FIN_REXMIT);
    FAIL_UNLESS(v && v->copy == 3 && res.copies == 0);
    PASS;
}

static int test_r5_fin_at_another_seq_is_not_a_retransmission(void)
{
    setup();
    open_conn();
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    FAIL_UNLESS(feed(MS, (struct seg){C, FIN, 1101, 5201, 5, 0, 0})->n == 0); /* FIN moved by data */
    FAIL_UNLESS(tr[0].d[C].fin_seq == 1106 && tr[0].d[C].fin_copies == 1);
    PASS;
}

/* ---- R6 final-ACK retransmission ---------------------------------------------------- */

static int test_r6_final_ack_lost_after_capture_point(void)
{
    const struct tw_verdict *v;
    setup();
    open_conn();
    client_close();                                                   /* original ACK seen */
    feed(200 * MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    v = only(feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0}), TWF_FINAL_ACK_REXMIT);
    FAIL_UNLESS(v && v->dir == C && v->copy == 2 && v->peer_copies == 2);
    FAIL_UNLESS((v->bits & TWV_ORIGINAL_SEEN) && (v->bits & TWV_FROM_PREV_ACK));
    FAIL_UNLESS(v->t1 == 201 * MS);
    PASS;
}

static int test_r6_final_ack_lost_before_capture_point(void)
{
    const struct tw_verdict *v;
    setup();
    open_conn();
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    feed(200 * MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    v = only(feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0}), TWF_FINAL_ACK_REXMIT);
    FAIL_UNLESS(v && v->copy == 1 && !(v->bits & TWV_ORIGINAL_SEEN));
    FAIL_UNLESS(!(v->bits & TWV_FROM_PREV_ACK) && v->t1 == 201 * MS); /* from the peer's FIN */
    PASS;
}

/* ---- R7 RST into TIME_WAIT ---------------------------------------------------------- */

static int test_r7_rst_in_window_pending_until_evidence(void)
{
    const struct tw_verdict *v;
    tw_time rst_ts;
    setup();
    open_conn();
    client_close();
    FAIL_UNLESS(feed(5 * TW_USEC, (struct seg){S, RST, 5202, 0, 0, 0, 0})->n == 0); /* frame 9 */
    rst_ts = now;
    FAIL_UNLESS(tr[0].tw[C]->active && tr[0].tw[C]->rst_pending && tr[0].tw[C]->rst_frame == 9);
    /* a late segment reaches the client, which answers with a RST: its socket was gone */
    feed(MS, (struct seg){S, ACK | TCPF_PSH, 5100, 1102, 10, 0, 0});               /* 10 */
    v = only(feed(MS, (struct seg){C, RST, 1102, 0, 0, 0, 0}), TWF_TW_RST);         /* 11 */
    FAIL_UNLESS(v && v->who == TWW_CLIENT && v->dir == S && v->rcv_nxt == 5202);
    FAIL_UNLESS((v->bits & TWV_KILLED) && (v->bits & TWV_KILL_SEEN) && (v->bits & TWV_AT_RST));
    FAIL_UNLESS(v->first_frame == 11 && v->t1 == 5 * TW_USEC && v->t2 == 55 * TW_USEC);
    FAIL_UNLESS(!tr[0].tw[C]->active && tr[0].tw[C]->end_reason == TWE_RST);
    FAIL_UNLESS(tr[0].tw[C]->end_ts == rst_ts && tr[0].tw[C]->entered);
    PASS;
}

static int test_r7_rst_survived(void)
{
    const struct tw_verdict *v;
    setup();
    open_conn();
    client_close();
    feed(MS, (struct seg){S, RST, 5202, 0, 0, 0, 0});                               /* 9 */
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});                            /* 10 */
    /* the TIME_WAIT re-ACKs the FIN: it is alive (tcp_rfc1337=1, or BSD) */
    const struct tw_result *r = feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0}); /* 11 */
    FAIL_UNLESS(r->n == 2 && r->v[0].kind == TWF_TW_RST && r->v[1].kind == TWF_FINAL_ACK_REXMIT);
    v = &r->v[0];
    FAIL_UNLESS(!(v->bits & TWV_KILLED) && (v->bits & TWV_KILL_SEEN) && v->first_frame == 11);
    FAIL_UNLESS(tr[0].tw[C]->active && !tr[0].tw[C]->rst_pending && tr[0].tw[C]->answers == 1);
    PASS;
}

static int test_r7_rst_unknown_then_profile(void)
{
    const struct tw_verdict *v;
    tw_time rst_ts;
    setup();
    open_conn();
    client_close();
    feed(MS, (struct seg){S, RST, 5202, 0, 0, 0, 0});
    rst_ts = now;
    ended.n = 0;
    tw_finish(&tr[0], now + TW_USEC, TWE_CAPTURE_END, &ended);
    v = only(&ended, TWF_TW_RST);
    FAIL_UNLESS(v && !(v->bits & TWV_KILL_SEEN) && (v->bits & TWV_KILLED) && v->first_frame == 0);
    FAIL_UNLESS(tr[0].tw[C]->end_reason == TWE_RST && tr[0].tw[C]->end_ts == rst_ts); /* Linux */

    setup_profile(TWP_FREEBSD); /* tcp_twcheck() drops RSTs */
    open_conn();
    client_close();
    feed(MS, (struct seg){S, RST, 5202, 0, 0, 0, 0});
    ended.n = 0;
    tw_expire(&tr[0], now + 61 * TW_USEC, &ended);
    v = only(&ended, TWF_TW_RST);
    FAIL_UNLESS(v && !(v->bits & (TWV_KILL_SEEN | TWV_KILLED)));
    FAIL_UNLESS(tr[0].tw[C]->end_reason == TWE_EXPIRED);
    FAIL_UNLESS(tw_profile_rst_kills(TWP_LINUX) && !tw_profile_rst_kills(TWP_FREEBSD));
    PASS;
}

static int test_r7_rst_out_of_window_ignored(void)
{
    const struct tw_verdict *v;
    setup();
    open_conn();
    client_close();
    v = only(feed(MS, (struct seg){S, RST, 9999, 0, 0, 0, 0}), TWF_TW_RST);
    FAIL_UNLESS(v && !(v->bits & (TWV_IN_WINDOW | TWV_KILLED)) && (v->bits & TWV_KILL_SEEN));
    FAIL_UNLESS(tr[0].tw[C]->active && !tr[0].tw[C]->rst_pending);
    PASS;
}

/* ---- R8 reuse --------------------------------------------------------------------- */

/* Server-side TIME_WAIT (server closed), then the client reconnects from the same port. */
static void server_tw(uint32_t ts)
{
    open_k(0, 1000, 5000, ts);
    feed(MS, (struct seg){S, FIN, 5201, 1101, 0, ts ? ts + 5 : 0, 0});
    feed(MS, (struct seg){C, FIN, 1101, 5202, 0, ts ? ts + 6 : 0, 0});
    feed(MS, (struct seg){S, ACK, 5202, 1102, 0, ts ? ts + 7 : 0, 0});
}

static int test_r8_syn_to_timewait_accepted(void)
{
    struct pkt_view pv;
    struct pkt_meta m;
    struct seg syn = {C, SYN, 90000, 0, 0, 0, 0};
    const struct tw_verdict *v;
    setup();
    server_tw(0);
    FAIL_UNLESS(route(syn, 0, 0) == TWR_REUSE);
    view(&syn, &pv);
    m = meta(2 * TW_USEC);
    tw_reuse(&tr[0], C, &m, &pv, &res);
    v = only(&res, TWF_TW_REUSE);
    FAIL_UNLESS(v && v->who == TWW_SERVER && (v->bits & TWV_RECEIVER));
    FAIL_UNLESS((v->bits & TWV_ISN_ABOVE) && (v->bits & TWV_LINUX_ACCEPT) && (v->bits & TWV_OLD_ISN));
    FAIL_UNLESS(v->old_isn == 1000 && v->old_next_seq == 1102 && v->new_isn == 90000);
    FAIL_UNLESS(v->t1 == 2 * TW_USEC && v->t2 == 58 * TW_USEC);
    FAIL_UNLESS(!tr[0].tw[S]->active && tr[0].tw[S]->end_reason == TWE_REUSED);
    PASS;
}

static int test_r8_paws_rejects_an_older_syn(void)
{
    struct pkt_view pv;
    struct pkt_meta m;
    struct seg syn = {C, SYN, 500, 0, 0, 100, 0}; /* ISN below, TSval older */
    const struct tw_verdict *v;
    setup();
    server_tw(5000);
    view(&syn, &pv);
    m = meta(MS);
    tw_reuse(&tr[0], C, &m, &pv, &res);
    v = only(&res, TWF_TW_REUSE);
    FAIL_UNLESS(v && (v->bits & TWV_PAWS_REJECT) && !(v->bits & TWV_LINUX_ACCEPT));
    FAIL_UNLESS(!(v->bits & (TWV_ISN_ABOVE | TWV_TS_NEWER)));
    FAIL_UNLESS((v->bits & TWV_OLD_TS) && (v->bits & TWV_NEW_TS) && v->new_tsval == 100);
    /* a newer TSval alone is enough (RFC 6191) */
    setup();
    server_tw(5000);
    syn.tsval = 9000;
    view(&syn, &pv);
    m = meta(MS);
    tw_reuse(&tr[0], C, &m, &pv, &res);
    v = only(&res, TWF_TW_REUSE);
    FAIL_UNLESS(v && (v->bits & TWV_TS_NEWER) && (v->bits & TWV_LINUX_ACCEPT));
    PASS;
}

static int test_r8_tcp_tw_reuse(void)
{
    struct pkt_view pv;
    struct pkt_meta m;
    struct seg syn = {C, SYN, 90000, 0, 0, 9000, 0};
    const struct tw_verdict *v;
    setup();
    open_k(0, 1000, 5000, 5000);
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 5005, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 5006, 0});
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 5007, 0});
    view(&syn, &pv);
    m = meta(500 * MS); /* the client reconnects from its own TIME_WAIT after 0.5 s */
    tw_reuse(&tr[0], C, &m, &pv, &res);
    v = only(&res, TWF_TW_REUSE);
    FAIL_UNLESS(v && v->who == TWW_CLIENT && !(v->bits & TWV_RECEIVER));
    FAIL_UNLESS(!(v->bits & TWV_LINUX_ACCEPT)); /* tcp_tw_reuse needs 1 s */
    setup();
    open_k(0, 1000, 5000, 5000);
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 5005, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 5006, 0});
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 5007, 0});
    m = meta(1500 * MS);
    tw_reuse(&tr[0], C, &m, &pv, &res);
    v = only(&res, TWF_TW_REUSE);
    FAIL_UNLESS(v && (v->bits & TWV_LINUX_ACCEPT));
    PASS;
}

static int test_r8_simultaneous_close_two_verdicts(void)
{
    struct pkt_view pv;
    struct pkt_meta m;
    struct seg syn = {C, SYN, 90000, 0, 0, 0, 0};
    setup();
    open_conn();
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(0, (struct seg){S, FIN, 5201, 1101, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});
    feed(0, (struct seg){S, ACK, 5202, 1102, 0, 0, 0});
    view(&syn, &pv);
    m = meta(MS);
    tw_reuse(&tr[0], C, &m, &pv, &res);
    FAIL_UNLESS(res.n == 2 && res.v[0].who == TWW_CLIENT && res.v[1].who == TWW_SERVER);
    FAIL_UNLESS(!tw_any_active(&tr[0]));
    PASS;
}

/* ---- R9 late segments ---------------------------------------------------------------- */

static int test_r9_late_in_time_wait(void)
{
    const struct tw_verdict *v;
    setup();
    open_conn();
    client_close();
    v = only(feed(MS, (struct seg){S, ACK | TCPF_PSH, 5100, 1102, 50, 0, 0}), TWF_LATE_SEGMENT);
    FAIL_UNLESS(v && v->dir == S && v->phase == TWPH_TIME_WAIT && v->who == TWW_CLIENT);
    PASS;
}

static int test_r9_late_after_close(void)
{
    /* after a RST close: no TCP state judges it (the engine counts it) */
    struct seg late = {S, ACK, 5100, 1101, 10, 0, 0};
    setup();
    open_conn();
    feed(MS, (struct seg){C, RST, 1101, 0, 0, 0, 0});
    FAIL_UNLESS(tr[0].closed && tr[0].close_kind == CK_RST);
    FAIL_UNLESS(route(late, 0, 0) == TWR_CLOSED);
    FAIL_UNLESS(route((struct seg){C, SYN, 9000, 0, 0, 0, 0}, 0, 0) == TWR_REUSE);
    /* after the last period ended */
    setup();
    open_conn();
    client_close();
    FAIL_UNLESS(route(late, 0, 0) == TWR_ACCOUNT); /* the client is in TIME_WAIT: R9 */
    tw_expire(&tr[0], now + 61 * TW_USEC, &ended);
    FAIL_UNLESS(tr[0].closed && route(late, 0, 0) == TWR_CLOSED);
    /* the passive closer's FIN again: still judged (R5), whatever the peer's timer */
    FAIL_UNLESS(route((struct seg){S, FIN, 5201, 1102, 0, 0, 0}, 0, 0) == TWR_ACCOUNT);
    FAIL_UNLESS(only(feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0}), TWF_FIN_REXMIT) != NULL);
    PASS;
}

/* tr[1]: the previous incarnation (closed by the server, timestamps from 5000);
 * tr[0]: the new one, started by a SYN at 90000 with TSval 20000. */
static void two_incarnations(void)
{
    setup();
    open_k(1, 1000, 5000, 5000);
    feed_k(1, MS, (struct seg){S, FIN, 5201, 1101, 0, 5005, 0});
    feed_k(1, MS, (struct seg){C, FIN, 1101, 5202, 0, 5006, 0});
    feed_k(1, MS, (struct seg){S, ACK, 5202, 1102, 0, 5007, 0});
    open_k(0, 90000, 70000, 20000);
}

static int test_r9_late_of_prev_incarnation(void)
{
    struct seg old = {S, ACK | TCPF_PSH, 5001, 1101, 200, 5004, 0}; /* the old response again */
    struct pkt_view pv;
    const struct tw_verdict *v;
    two_incarnations();
    FAIL_UNLESS(route(old, 1, 0) == TWR_PREV);
    view(&old, &pv);
    tw_late_prev(&tr[0], S, S, &pv, &res);
    v = only(&res, TWF_LATE_SEGMENT);
    FAIL_UNLESS(v && v->phase == TWPH_NEW_INCARNATION && v->prior_dir == S);
    FAIL_UNLESS(v->rcv_nxt == 70201 && v->rcv_wnd == 65535);
    FAIL_UNLESS(!(v->bits & (TWV_IN_WINDOW | TWV_ACK_OK | TWV_ACCEPTED)));
    FAIL_UNLESS((v->bits & TWV_PAWS_APPLICABLE) && (v->bits & TWV_PAWS_REJECT));
    PASS;
}

static int test_r9_late_that_the_new_connection_would_accept(void)
{
    /* no timestamps, sequence numbers that land in the new receive window */
    struct seg old = {S, ACK | TCPF_PSH, 70201, 90101, 10, 0, 0};
    struct pkt_view pv;
    const struct tw_verdict *v;
    two_incarnations();
    view(&old, &pv);
    tw_late_prev(&tr[0], S, S, &pv, &res);
    v = only(&res, TWF_LATE_SEGMENT);
    FAIL_UNLESS(v && (v->bits & TWV_IN_WINDOW) && (v->bits & TWV_ACK_OK) && (v->bits & TWV_ACCEPTED));
    FAIL_UNLESS(!(v->bits & TWV_PAWS_APPLICABLE));
    PASS;
}

/* ---- R10 no TIME_WAIT after a RST ---------------------------------------------------- */

static int test_r10_rst_answering_the_fin(void)
{
    setup();
    open_conn();
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    FAIL_UNLESS(tr[0].tw[C]->entered);
    feed(MS, (struct seg){C, RST, 1102, 0, 0, 0, 0}); /* answers the FIN with a RST */
    FAIL_UNLESS(!tr[0].tw[C]->active && !tr[0].tw[C]->entered);
    FAIL_UNLESS(tr[0].closed && tr[0].rst_frame == 8);
    PASS;
}

static int test_r10_no_time_wait_after_rst_close(void)
{
    const struct tw_result *r;
    setup();
    open_conn();
    feed(MS, (struct seg){C, RST, 1101, 0, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1101, 0, 0, 0});
    r = feed(MS, (struct seg){C, FIN, 1101, 5202, 0, 0, 0});
    FAIL_UNLESS(r->enter == 0 && tr[0].close_kind == CK_RST);
    FAIL_UNLESS(!tr[0].tw[C]->entered && !tr[0].tw[S]->entered);
    PASS;
}

/* ---- R11 incarnations ------------------------------------------------------------------- */

static int test_r11_syn_retransmission(void)
{
    setup();
    feed(MS, (struct seg){C, SYN, 1000, 0, 0, 0, 0});
    FAIL_UNLESS(route((struct seg){C, SYN, 1000, 0, 0, 0, 0}, 0, 0) == TWR_ACCOUNT);
    PASS;
}

static int test_r11_late_original_syn(void)
{
    /* the capture saw the client's data before its SYN (reordering at the tap) */
    setup();
    feed(MS, (struct seg){C, ACK, 1001, 5001, 0, 0, 0});
    FAIL_UNLESS(route((struct seg){C, SYN, 1000, 0, 0, 0, 0}, 0, 0) == TWR_ACCOUNT);
    FAIL_UNLESS(route((struct seg){C, SYN, 3000, 0, 0, 0, 0}, 0, 0) == TWR_REUSE);
    /* the server's SYN-ACK already acknowledged it */
    setup();
    feed(MS, (struct seg){S, SYN | ACK, 5000, 1001, 0, 0, 0});
    FAIL_UNLESS(route((struct seg){C, SYN, 1000, 0, 0, 0, 0}, 0, 0) == TWR_ACCOUNT);
    PASS;
}

static int test_r11_prev_incarnation_syn_again(void)
{
    /* the new incarnation was picked up mid-stream: no SYN, no data seen yet */
    setup();
    open_k(1, 1000, 5000, 0);
    feed_k(1, MS, (struct seg){S, FIN, 5201, 1101, 0, 0, 0});
    feed_k(1, MS, (struct seg){C, FIN, 1101, 5202, 0, 0, 0});
    feed_k(1, MS, (struct seg){S, ACK, 5202, 1102, 0, 0, 0});
    feed(MS, (struct seg){S, ACK, 70001, 90001, 0, 0, 0});
    FAIL_UNLESS(route((struct seg){C, SYN, 1000, 0, 0, 0, 0}, 1, 0) == TWR_PREV);
    FAIL_UNLESS(route((struct seg){C, SYN, 90000, 0, 0, 0, 0}, 1, 0) == TWR_REUSE);
    PASS;
}

static int test_r11_split_handshake(void)
{
    /* the server sends a SYN of its own after the client's: not a new incarnation */
    setup();
    feed(MS, (struct seg){C, SYN, 1000, 0, 0, 0, 0});
    FAIL_UNLESS(route((struct seg){S, SYN, 5000, 0, 0, 0, 0}, 0, 0) == TWR_ACCOUNT);
    PASS;
}

static int test_r11_unfinished_handshake_then_new_isn(void)
{
    setup();
    feed(MS, (struct seg){C, SYN, 1000, 0, 0, 0, 0});
    FAIL_UNLESS(route((struct seg){C, SYN, 2000, 0, 0, 0, 0}, 0, 0) == TWR_REUSE);
    PASS;
}

static int test_r11_syn_inside_established(void)
{
    struct seg syn = {C, SYN, 777777, 0, 0, 0, 0};
    setup();
    open_conn();
    FAIL_UNLESS(route(syn, 0, 0) == TWR_ACCOUNT); /* Linux: challenge ACK */
    FAIL_UNLESS(route(syn, 0, 1) == TWR_REUSE);   /* idle past the timeout */
    PASS;
}

static int test_r11_after_close(void)
{
    struct seg syn = {C, SYN, 777777, 0, 0, 0, 0};
    setup();
    open_conn();
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0}); /* a half close is enough */
    FAIL_UNLESS(route(syn, 0, 0) == TWR_REUSE);
    PASS;
}

/* ---- R12 attribution ----------------------------------------------------------------- */

static int test_r12_timestamps_decide(void)
{
    /* sequence numbers that fit both incarnations; the TSval is older than the new one's */
    struct seg s = {S, ACK, 70100, 90050, 0, 5003, 0};
    two_incarnations();
    tr[1].d[S].base_seq = 70000;
    tr[1].d[S].next_seq = 70300; /* make it fit the old sequence space too */
    tr[1].d[C].base_seq = 90000;
    tr[1].d[C].next_seq = 90200;
    FAIL_UNLESS(route(s, 1, 0) == TWR_PREV);
    s.tsval = 20010; /* newer than the new incarnation's first: the new one's */
    FAIL_UNLESS(route(s, 1, 0) == TWR_ACCOUNT);
    PASS;
}

static int test_r12_sequence_space_decides(void)
{
    /* no timestamps: fits the old sequence space, not the new one */
    struct seg s = {S, ACK, 5100, 1101, 10, 0, 0};
    two_incarnations();
    tr[0].d[S].ts = tr[1].d[S].ts = 0;
    FAIL_UNLESS(route(s, 1, 0) == TWR_PREV);
    /* fits the new one: the new one's */
    s.seq = 70201;
    s.ack = 90101;
    FAIL_UNLESS(route(s, 1, 0) == TWR_ACCOUNT);
    /* fits both (the new ISNs are close to the old ones): the new one's */
    setup();
    open_k(1, 1000, 5000, 0);
    feed_k(1, MS, (struct seg){S, FIN, 5201, 1101, 0, 0, 0});
    feed_k(1, MS, (struct seg){C, FIN, 1101, 5202, 0, 0, 0});
    feed_k(1, MS, (struct seg){S, ACK, 5202, 1102, 0, 0, 0});
    open_k(0, 1050, 5100, 0);
    FAIL_UNLESS(route((struct seg){S, ACK, 5150, 1100, 0, 0, 0}, 1, 0) == TWR_ACCOUNT);
    FAIL_UNLESS(route((struct seg){S, ACK, 5150, 1001, 0, 0, 0}, 1, 0) == TWR_PREV);
    PASS;
}

/* ---- R13 stale state -------------------------------------------------------------- */

static int test_r13_stale_state_rst_and_retry(void)
{
    struct seg syn = {C, SYN, 1000, 0, 0, 0, 0};
    struct pkt_view pv;
    const struct tw_verdict *v;
    setup();
    feed(MS, syn);                                           /* 1: SYN-SENT */
    feed(MS, (struct seg){S, ACK, 777, 424242, 0, 0, 0});    /* 2: old state's ACK */
    FAIL_UNLESS(tr[0].stale == 1);
    feed(MS, (struct seg){C, RST, 424242, 0, 0, 0, 0});      /* 3: RST at that number */
    FAIL_UNLESS(tr[0].stale == 2 && tr[0].closed && tr[0].close_kind == CK_RST);
    FAIL_UNLESS(route(syn, 0, 0) == TWR_REUSE);              /* 4: the retry, same ISN */
    view(&syn, &pv);
    tw_stale_retry(&tr[0], &pv, 3 * TW_USEC, &res);
    v = only(&res, TWF_STALE_STATE_RST);
    FAIL_UNLESS(v && v->who == TWW_SERVER && v->rcv_nxt == 424242 && v->old_isn == 1000);
    FAIL_UNLESS(v->new_isn == 1000 && v->first_frame == 2 && v->rst_frame == 3);
    FAIL_UNLESS(v->t1 == 3 * TW_USEC);
    PASS;
}

static int test_r13_not_stale(void)
{
    setup();
    feed(MS, (struct seg){C, SYN, 1000, 0, 0, 0, 0});
    feed(MS, (struct seg){S, ACK, 777, 1001, 0, 0, 0});      /* acknowledges the SYN */
    FAIL_UNLESS(tr[0].stale == 0);
    setup();
    feed(MS, (struct seg){C, SYN, 1000, 0, 0, 0, 0});
    feed(MS, (struct seg){S, ACK, 777, 424242, 0, 0, 0});
    feed(MS, (struct seg){C, RST, 999, 0, 0, 0, 0});         /* a RST at another number */
    FAIL_UNLESS(tr[0].stale == 1);
    FAIL_UNLESS(route((struct seg){C, SYN, 1000, 0, 0, 0, 0}, 0, 0) == TWR_ACCOUNT);
    PASS;
}

/* ---- R14 a FIN the tap missed ----------------------------------------------------------- */

static int test_r14_first_fin_missed(void)
{
    setup();
    open_conn();                                             /* client sent 1001..1100 */
    /* the client's FIN at 1101 is not in the capture */
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});     /* acks one number more */
    FAIL_UNLESS(tr[0].d[S].fin_unsure && tr[0].d[S].fin_gap1);
    FAIL_UNLESS(tw_active_closer(&tr[0]) == TWW_UNKNOWN && !tr[0].tw[S]->entered);
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});     /* from that number: its FIN */
    FAIL_UNLESS(tr[0].d[C].fin && tr[0].d[C].fin_missed && tr[0].d[C].fin_seq == 1101);
    FAIL_UNLESS(tw_active_closer(&tr[0]) == TWW_CLIENT && tr[0].close_kind == CK_FIN);
    FAIL_UNLESS(tr[0].tw[C]->active && tr[0].tw[C]->inferred && !tr[0].tw[S]->entered);
    PASS;
}

static int test_r14_second_fin_missed(void)
{
    setup();
    open_conn();
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    FAIL_UNLESS(!tr[0].d[C].fin_unsure && tw_active_closer(&tr[0]) == TWW_CLIENT);
    /* the server's FIN at 5201 is not in the capture; the client ACKs it */
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});
    FAIL_UNLESS(tr[0].d[S].fin && tr[0].d[S].fin_missed && tr[0].d[S].fin_seq == 5201);
    FAIL_UNLESS(tr[0].tw[C]->active && tr[0].tw[C]->inferred && tr[0].close_kind == CK_FIN);
    PASS;
}

static int test_r14_capture_started_after_the_first_fin(void)
{
    setup();
    /* nothing of the client seen before the server's FIN */
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});
    FAIL_UNLESS(tw_active_closer(&tr[0]) == TWW_UNKNOWN);
    FAIL_UNLESS(!tr[0].tw[C]->entered && !tr[0].tw[S]->entered && tr[0].close_kind == CK_HALF);
    PASS;
}

static int test_r14_the_peer_closes_later(void)
{
    setup();
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});     /* unsure: client unseen */
    feed(MS, (struct seg){C, FIN, 1102, 5202, 0, 0, 0});     /* a FIN beyond what it acked */
    FAIL_UNLESS(!tr[0].d[S].fin_unsure && tw_active_closer(&tr[0]) == TWW_SERVER);
    FAIL_UNLESS(tr[0].tw[S]->entered && !tr[0].tw[C]->entered);
    /* or the FIN it acknowledged, again: the client's came first */
    setup();
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    feed(MS, (struct seg){C, FIN, 1101, 5202, 0, 0, 0});
    FAIL_UNLESS(tw_active_closer(&tr[0]) == TWW_CLIENT && tr[0].tw[C]->entered);
    PASS;
}

/* ---- R17: one direction only ------------------------------------------------------ */

/* The server's segments only: SYN-ACK, then 200 bytes acking the client's 100. */
static void server_only_open(void)
{
    feed(MS, (struct seg){S, SYN | ACK, 5000, 1001, 0, 0, 0});
    feed(MS, (struct seg){S, ACK | TCPF_PSH, 5001, 1101, 200, 0, 0});
}

static int test_r17_passive_side_only(void)
{
    const struct tw_result *r;
    setup();
    server_only_open();
    /* its FIN acknowledges one number more than it had: the client's FIN, first */
    r = feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    FAIL_UNLESS(r->enter == (1u << C));
    FAIL_UNLESS(tw_active_closer(&tr[0]) == TWW_CLIENT && tr[0].d[C].fin_missed);
    PASS;
}

static int test_r17_passive_side_acked_the_fin_before(void)
{
    setup();
    server_only_open();
    feed(MS, (struct seg){S, ACK, 5201, 1102, 0, 0, 0});      /* the ACK rises by one */
    FAIL_UNLESS(feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0})->enter == (1u << C));
    FAIL_UNLESS(tw_active_closer(&tr[0]) == TWW_CLIENT);
    PASS;
}

static int test_r17_closing_side_only(void)
{
    const struct tw_result *r;
    setup();
    server_only_open();
    /* its FIN acknowledges what it had: it closed first */
    r = feed(MS, (struct seg){S, FIN, 5201, 1101, 0, 0, 0});
    FAIL_UNLESS(r->enter == 0 && tw_active_closer(&tr[0]) == TWW_SERVER);
    /* then it ACKs one number more: the client's answering FIN */
    r = feed(MS, (struct seg){S, ACK, 5202, 1102, 0, 0, 0});
    FAIL_UNLESS(r->enter == (1u << S) && tr[0].close_kind == CK_FIN);
    FAIL_UNLESS(tw_active_closer(&tr[0]) == TWW_SERVER);
    PASS;
}

static int test_r17_unseen_data_stays_unknown(void)
{
    setup();
    server_only_open();
    /* it acknowledges 50 numbers never acknowledged before: who closed first is unknown */
    FAIL_UNLESS(feed(MS, (struct seg){S, FIN, 5201, 1151, 0, 0, 0})->enter == 0);
    FAIL_UNLESS(tw_active_closer(&tr[0]) == TWW_UNKNOWN);
    PASS;
}

static int test_r17_server_side_only_reuse(void)
{
    struct pkt_view pv;
    struct pkt_meta m;
    struct seg synack = {S, SYN | ACK, 9000, 90001, 0, 0, 0};
    const struct tw_verdict *v;
    setup();
    server_only_open();
    feed(MS, (struct seg){S, FIN, 5201, 1101, 0, 0, 0});
    feed(MS, (struct seg){S, ACK, 5202, 1102, 0, 0, 0});      /* the client's FIN: server in TIME_WAIT */
    FAIL_UNLESS(tr[0].tw[S]->active);
    /* the same SYN-ACK again is no new incarnation; one with a new ISN is */
    FAIL_UNLESS(route((struct seg){S, SYN | ACK, 5000, 1001, 0, 0, 0}, 0, 0) != TWR_REUSE);
    FAIL_UNLESS(route(synack, 0, 0) == TWR_REUSE);
    view(&synack, &pv);
    m = meta(2 * TW_USEC);
    tw_reuse(&tr[0], S, &m, &pv, &res);
    v = only(&res, TWF_TW_REUSE);
    /* the SYN it answers: the client's, ISN 90000, accepted by the TIME_WAIT server */
    FAIL_UNLESS(v && v->who == TWW_SERVER && (v->bits & TWV_RECEIVER) && v->new_isn == 90000);
    FAIL_UNLESS((v->bits & TWV_LINUX_ACCEPT) && (v->bits & TWV_ISN_ABOVE) && v->old_next_seq == 1102);
    FAIL_UNLESS(tr[0].tw[S]->end_reason == TWE_REUSED);
    PASS;
}

/* ---- R18: a SYN the tap missed ----------------------------------------------------- */

/*
 * Both directions seen, the connection closed by the client (its TIME_WAIT
 * running); the new incarnation's SYN missed: its SYN-ACK, a new server ISN
 * acknowledging a new client ISN, starts the next incarnation. The old
 * SYN-ACK again (old ISN, old ACK) does not.
 */
static int test_r18_synack_of_a_missed_syn(void)
{
    struct pkt_view pv;
    struct pkt_meta m;
    struct seg synack = {S, SYN | ACK, 9000, 70001, 0, 0, 0};
    const struct tw_verdict *v;
    setup();
    open_conn();
    client_close();
    FAIL_UNLESS(tr[0].tw[C]->active);
    FAIL_UNLESS(route((struct seg){S, SYN | ACK, 5000, 1001, 0, 0, 0}, 0, 0) != TWR_REUSE);
    /* a new ISN that still acknowledges the old client SYN: the old SYN-ACK's copy, mangled */
    FAIL_UNLESS(route((struct seg){S, SYN | ACK, 9000, 1001, 0, 0, 0}, 0, 0) != TWR_REUSE);
    FAIL_UNLESS(route(synack, 0, 0) == TWR_REUSE);
    view(&synack, &pv);
    m = meta(2 * TW_USEC);
    tw_reuse(&tr[0], S, &m, &pv, &res);
    v = only(&res, TWF_TW_REUSE);
    /* the SYN it answers: the client's, ISN 70000, from the TIME_WAIT endpoint (tcp_tw_reuse) */
    FAIL_UNLESS(v && v->who == TWW_CLIENT && !(v->bits & TWV_RECEIVER) && v->new_isn == 70000);
    FAIL_UNLESS(tr[0].tw[C]->end_reason == TWE_REUSED);
    PASS;
}

/* ... and the old incarnation's SYN-ACK was missed too: the client's ISN tells. */
static int test_r18_old_synack_missed_too(void)
{
    setup();
    feed(MS, (struct seg){C, SYN, 1000, 0, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, 1001, 5001, 0, 0, 0});
    feed(MS, (struct seg){C, ACK | TCPF_PSH, 1001, 5001, 100, 0, 0});
    feed(MS, (struct seg){S, ACK | TCPF_PSH, 5001, 1101, 200, 0, 0});
    client_close();
    FAIL_UNLESS(tr[0].tw[C]->active && !tr[0].d[S].syn);
    /* a late copy of that SYN-ACK acknowledges the old SYN: no new incarnation */
    FAIL_UNLESS(route((struct seg){S, SYN | ACK, 5000, 1001, 0, 0, 0}, 0, 0) != TWR_REUSE);
    FAIL_UNLESS(route((struct seg){S, SYN | ACK, 9000, 70001, 0, 0, 0}, 0, 0) == TWR_REUSE);
    PASS;
}

/* ... and its FINs missed: open as far as the capture shows. Only a SYN-ACK that
 * acknowledges what the client never sent in it is a new incarnation. */
static int test_r18_open_tuple(void)
{
    setup();
    open_conn();
    FAIL_UNLESS(route((struct seg){S, SYN | ACK, 9000, 1050, 0, 0, 0}, 0, 0) != TWR_REUSE);
    FAIL_UNLESS(route((struct seg){S, SYN | ACK, 9000, 70001, 0, 0, 0}, 0, 0) == TWR_REUSE);
    PASS;
}

/* ---- evidence: how each answer was decided ------------------------------------------- */

static int ev_is(const struct tw_evidence *e, const char *how, const char *rule)
{
    return e->how && strcmp(e->how, how) == 0 && (rule ? e->rule && strcmp(e->rule, rule) == 0
                                                       : e->rule == NULL);
}

static int test_evidence_observed_and_inferred(void)
{
    struct tw_evidence c, st, en;
    setup();
    open_conn();
    client_close();
    tw_closer_evidence(&tr[0], &c);
    tw_period_evidence(&tr[0], C, &st, &en);
    FAIL_UNLESS(ev_is(&c, "observed", "R1") && ev_is(&st, "observed", "R2"));
    FAIL_UNLESS(ev_is(&en, "unknown", NULL)); /* still running: censored */
    ended.n = 0;
    tw_expire(&tr[0], now + 61 * TW_USEC, &ended);
    tw_period_evidence(&tr[0], C, &st, &en);
    FAIL_UNLESS(ev_is(&en, "inferred", "R4"));
    /* the final ACK unseen: the start is inferred */
    setup();
    open_conn();
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    tw_period_evidence(&tr[0], C, &st, &en);
    FAIL_UNLESS(ev_is(&st, "inferred", "R2"));
    PASS;
}

static int test_evidence_missed_and_one_direction(void)
{
    struct tw_evidence c, st, en;
    setup();
    open_conn();
    /* the client's FIN missed: the server's FIN acknowledges it (R14) */
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});
    tw_closer_evidence(&tr[0], &c);
    tw_period_evidence(&tr[0], C, &st, &en);
    FAIL_UNLESS(ev_is(&c, "inferred", "R14") && ev_is(&st, "inferred", "R14"));
    setup();
    server_only_open();
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    tw_closer_evidence(&tr[0], &c);
    FAIL_UNLESS(ev_is(&c, "inferred", "R17"));
    setup();
    server_only_open();
    feed(MS, (struct seg){S, FIN, 5201, 1151, 0, 0, 0});
    tw_closer_evidence(&tr[0], &c);
    FAIL_UNLESS(ev_is(&c, "unknown", "R17"));
    PASS;
}

/* ---- R16: time that steps back ------------------------------------------------- */

static int test_r16_clock_steps_back(void)
{
    struct pkt_view pv;
    struct pkt_meta m;
    struct seg syn = {C, SYN, 90000, 0, 0, 0, 0};
    const struct tw_verdict *v;
    tw_time start;
    setup();
    server_tw(0);
    start = tr[0].tw[S]->start_ts;
    view(&syn, &pv);
    m = meta(-3600 * TW_USEC); /* the next SYN is stamped an hour before */
    tw_reuse(&tr[0], C, &m, &pv, &res);
    v = only(&res, TWF_TW_REUSE);
    FAIL_UNLESS(v && v->t1 == 0);
    FAIL_UNLESS(tr[0].tw[S]->end_reason == TWE_REUSED && tr[0].tw[S]->end_ts == start);
    PASS;
}

static int test_r16_hours_between_incarnations(void)
{
    tw_time start;
    setup();
    server_tw(0);
    start = tr[0].tw[S]->start_ts;
    ended.n = 0;
    tw_expire(&tr[0], start + 7200 * TW_USEC, &ended);
    FAIL_UNLESS(tr[0].tw[S]->end_reason == TWE_EXPIRED && tr[0].tw[S]->end_ts == start + 60 * TW_USEC);
    PASS;
}

/* ---- R15: copies ------------------------------------------------------------ */

static struct tw_copies copies;

static uint64_t fp_of(uint32_t seq, uint16_t ip_id, uint8_t ttl, uint32_t tsval, int ep)
{
    struct seg s = {C, ACK, seq, 7, 0, tsval, ttl};
    struct pkt_view pv;
    view(&s, &pv);
    pv.ip_id = ip_id;
    pv.tcp_csum = 0xbeef;
    return tw_copy_fp(&pv, 0x1234567, ep);
}

static int test_r15_what_makes_a_segment(void)
{
    uint64_t a = fp_of(100, 5, 64, 9, 0);
    FAIL_UNLESS(a == fp_of(100, 5, 64, 9, 0));
    FAIL_UNLESS(a == fp_of(100, 5, 63, 9, 0));   /* a router between two capture points */
    FAIL_IF(a == fp_of(101, 5, 64, 9, 0));
    FAIL_IF(a == fp_of(100, 6, 64, 9, 0));       /* the sender's retransmission: new IP ID */
    FAIL_IF(a == fp_of(100, 5, 64, 10, 0));      /* ... or a new TSval */
    FAIL_IF(a == fp_of(100, 5, 64, 0, 0));
    FAIL_IF(a == fp_of(100, 5, 64, 9, 1));       /* the other direction */
    FAIL_IF(a == 0);
    PASS;
}

static int test_r15_tap_copy(void)
{
    uint64_t a = fp_of(100, 5, 64, 9, 0), b = fp_of(200, 6, 64, 9, 0);
    tw_time t = 5000 * TW_USEC;
    memset(&copies, 0, sizeof(copies));
    FAIL_UNLESS(tw_copy_check(&copies, a, t, 0) == TWC_NONE);
    FAIL_UNLESS(tw_copy_check(&copies, b, t + 10, 0) == TWC_NONE);
    FAIL_UNLESS(tw_copy_check(&copies, a, t + 20, 0) == TWC_TAP);   /* after another: reordered */
    FAIL_UNLESS(tw_copy_check(&copies, b, t - 30, 0) == TWC_TAP);   /* time stepped back */
    FAIL_UNLESS(tw_copy_check(&copies, a, t + TW_TAP_COPY_USEC - 1, 0) == TWC_TAP);
    /* an RTO later: the sender's own retransmission */
    FAIL_UNLESS(tw_copy_check(&copies, a, t + TW_TAP_COPY_USEC, 0) == TWC_NONE);
    FAIL_UNLESS(tw_copy_check(&copies, a, t + 200 * MS, 0) == TWC_NONE);
    /* 2^32 us (71 min) later, as a keepalive might be: no copy (no wrap of the time) */
    FAIL_UNLESS(tw_copy_check(&copies, a, t + 200 * MS + ((tw_time)1 << 32) + 5, 0) == TWC_NONE);
    PASS;
}

static int test_r15_vantage_copy(void)
{
    uint64_t a = fp_of(100, 5, 64, 9, 0);
    tw_time t = 5000 * TW_USEC;
    memset(&copies, 0, sizeof(copies));
    FAIL_UNLESS(tw_copy_check(&copies, a, t, 0) == TWC_NONE);
    FAIL_UNLESS(tw_copy_check(&copies, a, t + 30 * MS, 1) == TWC_VANTAGE);
    FAIL_UNLESS(tw_copy_check(&copies, a, t + TW_VANTAGE_COPY_USEC - 1, 1) == TWC_VANTAGE);
    /* further apart: a segment of its own, but said (clocks that differ?) */
    FAIL_UNLESS(tw_copy_check(&copies, a, t + TW_VANTAGE_COPY_USEC, 1) == TWC_FAR);
    /* the slot is file 1's now: file 1 again 30 ms on is no tap copy, file 0 is the other point */
    FAIL_UNLESS(tw_copy_check(&copies, a, t + TW_VANTAGE_COPY_USEC + 30 * MS, 1) == TWC_NONE);
    FAIL_UNLESS(tw_copy_check(&copies, a, t + TW_VANTAGE_COPY_USEC + 40 * MS, 0) == TWC_VANTAGE);
    PASS;
}

int main(void)
{
    RUN(test_r1_client_closes);
    RUN(test_r1_server_closes);
    RUN(test_r1_simultaneous);
    RUN(test_r2_start_at_final_ack);
    RUN(test_r2_first_ack_after_fin_retransmission);
    RUN(test_r3_profiles);
    RUN(test_r3_auto);
    RUN(test_r4_answers_restart_the_period);
    RUN(test_r4_expiry_and_capture_end);
    RUN(test_r5_fin_retransmission);
    RUN(test_r5_fin_at_another_seq_is_not_a_retransmission);
    RUN(test_r6_final_ack_lost_after_capture_point);
    RUN(test_r6_final_ack_lost_before_capture_point);
    RUN(test_r7_rst_in_window_pending_until_evidence);
    RUN(test_r7_rst_survived);
    RUN(test_r7_rst_unknown_then_profile);
    RUN(test_r7_rst_out_of_window_ignored);
    RUN(test_r8_syn_to_timewait_accepted);
    RUN(test_r8_paws_rejects_an_older_syn);
    RUN(test_r8_tcp_tw_reuse);
    RUN(test_r8_simultaneous_close_two_verdicts);
    RUN(test_r9_late_in_time_wait);
    RUN(test_r9_late_after_close);
    RUN(test_r9_late_of_prev_incarnation);
    RUN(test_r9_late_that_the_new_connection_would_accept);
    RUN(test_r10_rst_answering_the_fin);
    RUN(test_r10_no_time_wait_after_rst_close);
    RUN(test_r11_syn_retransmission);
    RUN(test_r11_late_original_syn);
    RUN(test_r11_prev_incarnation_syn_again);
    RUN(test_r11_split_handshake);
    RUN(test_r11_unfinished_handshake_then_new_isn);
    RUN(test_r11_syn_inside_established);
    RUN(test_r11_after_close);
    RUN(test_r12_timestamps_decide);
    RUN(test_r12_sequence_space_decides);
    RUN(test_r13_stale_state_rst_and_retry);
    RUN(test_r13_not_stale);
    RUN(test_r14_first_fin_missed);
    RUN(test_r14_second_fin_missed);
    RUN(test_r14_capture_started_after_the_first_fin);
    RUN(test_r14_the_peer_closes_later);
    RUN(test_r17_passive_side_only);
    RUN(test_r17_passive_side_acked_the_fin_before);
    RUN(test_r17_closing_side_only);
    RUN(test_r17_unseen_data_stays_unknown);
    RUN(test_r17_server_side_only_reuse);
    RUN(test_r18_synack_of_a_missed_syn);
    RUN(test_r18_old_synack_missed_too);
    RUN(test_r18_open_tuple);
    RUN(test_evidence_observed_and_inferred);
    RUN(test_evidence_missed_and_one_direction);
    RUN(test_r16_clock_steps_back);
    RUN(test_r16_hours_between_incarnations);
    RUN(test_r15_what_makes_a_segment);
    RUN(test_r15_tap_copy);
    RUN(test_r15_vantage_copy);
    TEST_EXIT();
}
