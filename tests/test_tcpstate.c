/*
 * test_tcpstate.c -- the TCP and TIME_WAIT engine on hand-built segment
 * sequences (no decoder, no database): incarnations, close kinds, active
 * closers, TIME_WAIT starts/ends and every finding kind, including the
 * ambiguous cases (final ACK lost before/after the capture point, capture
 * starting mid-close, sequence wrap).
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "twscope/rowtext.h"
#include "twscope/tcpstate.h"

#define MAXC 64
#define MAXF 64

struct done_conn {
    int64_t id, prev_id;
    uint32_t incarnation;
    int close_kind, syn_seen, renumber;
    uint32_t after_close;
    const char *closer;
    struct tw_state tw[2];
    uint64_t pkts[2];
};
struct found {
    int64_t conn;
    char kind[32];
    uint64_t frame;
    int dir;
    char detail[640];
};
static struct done_conn conns[MAXC];
static struct found finds[MAXF];
static int nconns, nfinds;

static void on_done(void *ctx, struct conn *c)
{
    struct done_conn *d;
    (void)ctx;
    if (nconns >= MAXC) {
        nconns++;
        return;
    }
    d = &conns[nconns++];
    d->id = c->id;
    d->prev_id = conn_prev_id(c);
    d->incarnation = c->incarnation;
    d->renumber = c->renumber;
    d->after_close = c->after_close;
    d->close_kind = c->tcp.close_kind;
    d->syn_seen = c->syn_seen;
    d->closer = conn_active_closer(c);
    d->tw[0] = *c->tcp.tw[0];
    d->tw[1] = *c->tcp.tw[1];
    d->pkts[0] = c->tcp.d[0].pkts;
    d->pkts[1] = c->tcp.d[1].pkts;
}

/*
 * The detail's keys as "key":value pairs, for strstr() checks (the store
 * makes the real JSON with json_object(); test_store checks that).
 */
static void kv_text(const struct tw_verdict *v, char *buf, size_t n)
{
    struct store_kv kv[STORE_MAX_KV];
    int k = rowtext_finding(v, kv);
    size_t used = 0;

    buf[0] = 0;
    for (int i = 0; i < k && used < n; i++) {
        const struct store_kv *e = &kv[i];
        int w;
        switch (e->type) {
        case KV_INT: w = snprintf(buf + used, n - used, "\"%s\":%lld,", e->key, (long long)e->i); break;
        case KV_REAL: w = snprintf(buf + used, n - used, "\"%s\":%.3f,", e->key, e->r); break;
        case KV_BOOL: w = snprintf(buf + used, n - used, "\"%s\":%s,", e->key, e->i ? "true" : "false"); break;
        case KV_TEXT: w = snprintf(buf + used, n - used, "\"%s\":\"%s\",", e->key, e->s); break;
        default: w = snprintf(buf + used, n - used, "\"%s\":null,", e->key); break;
        }
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static void on_finding(void *ctx, const struct finding_ev *f)
{
    struct found *x;
    (void)ctx;
    if (nfinds >= MAXF)
        return;
    x = &finds[nfinds++];
    x->conn = f->conn->id;
    snprintf(x->kind, sizeof(x->kind), "%s", tw_finding_name((enum tw_finding)f->v->kind));
    x->frame = f->at->frame;
    x->dir = f->v->dir;
    kv_text(f->v, x->detail, sizeof(x->detail));
}

static struct tcp_engine *eng;
static uint64_t frame;
static tw_time now;
static uint8_t A[4] = {10, 0, 0, 1}, B[4] = {10, 0, 0, 2};

static void setup_profile(enum tw_profile_id p, uint64_t max_flows)
{
    struct tcp_engine_opts o;
    struct tcp_sinks s = {.ctx = NULL, .conn_done = on_done, .finding = on_finding};
    memset(&o, 0, sizeof(o));
    o.tw.profile = p;
    o.hash_seed = 42;
    o.max_flows = max_flows;
    eng = tcp_engine_create(&o, &s);
    nconns = nfinds = 0;
    frame = 0;
    now = 1000 * TW_USEC;
}
static void setup(void) { setup_profile(TWP_LINUX, 0); }

static void finish(tw_time end)
{
    tcp_engine_finish(eng, end);
    tcp_engine_destroy(eng);
}

struct seg {
    int from_client;           /* client A:40000 -> server B:80, or the reverse */
    uint8_t flags;
    uint32_t seq, ack, len;
    uint32_t tsval;            /* 0 = no timestamp option */
    uint8_t ttl;
};

/* Feed one segment, dt microseconds after the previous one. */
static struct conn *feed(tw_time dt, struct seg s)
{
    struct pkt_view pv;
    struct pkt_meta m;
    int dir;
    memset(&pv, 0, sizeof(pv));
    pv.ip_version = 4;
    pv.src = s.from_client ? A : B;
    pv.dst = s.from_client ? B : A;
    pv.sport = s.from_client ? 40000 : 80;
    pv.dport = s.from_client ? 80 : 40000;
    pv.flags = s.flags;
    pv.seq = s.seq;
    pv.ack = s.ack;
    pv.payload_len = s.len;
    pv.window = 65535;
    pv.wscale = 0xff;
    pv.ttl = s.ttl ? s.ttl : 64;
    if (s.tsval) {
        pv.has_ts = 1;
        pv.tsval = s.tsval;
    }
    now += dt;
    m.ts = now;
    m.frame = ++frame;
    m.file = 0;
    return tcp_engine_packet(eng, &m, &pv, &dir);
}

#define C 1
#define S 0
#define SYN TCPF_SYN
#define ACK TCPF_ACK
#define FIN (TCPF_FIN | TCPF_ACK)
#define RST TCPF_RST
#define MS 1000

static int count_kind(const char *k)
{
    int n = 0;
    for (int i = 0; i < nfinds; i++)
        n += strcmp(finds[i].kind, k) == 0;
    return n;
}
static const struct found *find_kind(const char *k, int nth)
{
    for (int i = 0; i < nfinds; i++)
        if (strcmp(finds[i].kind, k) == 0 && nth-- == 0)
            return &finds[i];
    return NULL;
}

/* handshake + one request/response; client ISN 1000, server ISN 5000 */
static void open_conn(uint32_t cisn, uint32_t sisn)
{
    feed(MS, (struct seg){C, SYN, cisn, 0, 0, 0, 0});
    feed(MS, (struct seg){S, SYN | ACK, sisn, cisn + 1, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, cisn + 1, sisn + 1, 0, 0, 0});
    feed(MS, (struct seg){C, ACK | TCPF_PSH, cisn + 1, sisn + 1, 100, 0, 0});
    feed(MS, (struct seg){S, ACK | TCPF_PSH, sisn + 1, cisn + 101, 200, 0, 0});
}

static int test_client_active_close(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});        /* 6 */
    feed(MS, (struct seg){S, ACK, 5201, 1102, 0, 0, 0});        /* 7 */
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});        /* 8 */
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});        /* 9: final ACK */
    finish(now + 10 * TW_USEC);
    FAIL_UNLESS(nconns == 1);
    FAIL_UNLESS(conns[0].close_kind == CK_FIN);
    FAIL_UNLESS(strcmp(conns[0].closer, "client") == 0);
    FAIL_UNLESS(conns[0].tw[0].entered && !conns[0].tw[1].entered);
    FAIL_UNLESS(conns[0].tw[0].start_frame == 9 && !conns[0].tw[0].inferred);
    FAIL_UNLESS(conns[0].tw[0].end_reason == TWE_CAPTURE_END);
    FAIL_UNLESS(conns[0].tw[0].dur == 60 * TW_USEC);
    FAIL_UNLESS(nfinds == 0);
    PASS;
}

static int test_server_active_close_expires(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){S, FIN, 5201, 1101, 0, 0, 0});
    feed(MS, (struct seg){C, FIN, 1101, 5202, 0, 0, 0});        /* passive FIN acks it */
    feed(MS, (struct seg){S, ACK, 5202, 1102, 0, 0, 0});        /* 8: final ACK */
    tw_time fin_ack = now;
    finish(now + 61 * TW_USEC);
    FAIL_UNLESS(nconns == 1 && strcmp(conns[0].closer, "server") == 0);
    FAIL_UNLESS(conns[0].tw[1].entered && !conns[0].tw[0].entered);
    FAIL_UNLESS(conns[0].tw[1].start_frame == 8);
    FAIL_UNLESS(conns[0].tw[1].end_reason == TWE_EXPIRED);
    FAIL_UNLESS(conns[0].tw[1].end_ts == fin_ack + 60 * TW_USEC);
    PASS;
}

static int test_simultaneous_close(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});        /* 6 */
    feed(10, (struct seg){S, FIN, 5201, 1101, 0, 0, 0});        /* 7: crossed, does not ack 6 */
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});        /* 8 */
    feed(10, (struct seg){S, ACK, 5202, 1102, 0, 0, 0});        /* 9 */
    finish(now + TW_USEC);
    FAIL_UNLESS(nconns == 1 && strcmp(conns[0].closer, "both") == 0);
    FAIL_UNLESS(conns[0].tw[0].entered && conns[0].tw[1].entered);
    FAIL_UNLESS(!conns[0].tw[0].inferred && !conns[0].tw[1].inferred);
    FAIL_UNLESS(conns[0].tw[0].start_frame == 9 && conns[0].tw[1].start_frame == 9);
    FAIL_UNLESS(nfinds == 0);
    PASS;
}

/* Final ACK lost between the capture point and the server: seen once, then again. */
static int test_final_ack_lost_after_capture_point(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});        /* 7 */
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});        /* 8: original, lost later */
    feed(200 * MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});  /* 9: FIN retransmitted */
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});        /* 10: re-ACK */
    feed(400 * MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});  /* 11 */
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});        /* 12 */
    tw_time last = now;
    finish(now + TW_USEC);
    FAIL_UNLESS(nconns == 1);
    FAIL_UNLESS(conns[0].tw[0].start_frame == 8 && !conns[0].tw[0].inferred);
    FAIL_UNLESS(conns[0].tw[0].last_answer_ts == last);        /* restarted by each re-ACK */
    FAIL_UNLESS(conns[0].tw[0].answers == 2);
    FAIL_UNLESS(count_kind("fin_retransmission") == 2);
    FAIL_UNLESS(find_kind("fin_retransmission", 0)->frame == 9);
    FAIL_UNLESS(strstr(find_kind("fin_retransmission", 0)->detail, "\"closer\":\"passive\""));
    FAIL_UNLESS(count_kind("final_ack_retransmission") == 2);
    FAIL_UNLESS(find_kind("final_ack_retransmission", 0)->frame == 10);
    FAIL_UNLESS(strstr(find_kind("final_ack_retransmission", 0)->detail, "\"original_seen\":true"));
    FAIL_UNLESS(strstr(find_kind("final_ack_retransmission", 1)->detail, "\"interval_ms\":401.000"));
    FAIL_UNLESS(count_kind("late_segment") == 0);
    PASS;
}

/* Final ACK lost before the capture point: the first ACK seen is a retransmission. */
static int test_final_ack_lost_before_capture_point(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});        /* 7 */
    feed(200 * MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});  /* 8 */
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});        /* 9 */
    finish(now + TW_USEC);
    FAIL_UNLESS(conns[0].tw[0].inferred && conns[0].tw[0].start_frame == 7);
    FAIL_UNLESS(count_kind("fin_retransmission") == 1);
    FAIL_UNLESS(count_kind("final_ack_retransmission") == 1);
    FAIL_UNLESS(strstr(find_kind("final_ack_retransmission", 0)->detail, "\"original_seen\":false"));
    PASS;
}

/* Capture ends right after the passive FIN: inferred start, censored. */
static int test_capture_ends_before_final_ack(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});        /* 7 */
    finish(now);
    FAIL_UNLESS(conns[0].tw[0].entered && conns[0].tw[0].inferred);
    FAIL_UNLESS(conns[0].tw[0].start_frame == 7 && conns[0].tw[0].end_reason == TWE_CAPTURE_END);
    PASS;
}

static int test_rst_close_has_no_timewait(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){C, RST | ACK, 1101, 5201, 0, 0, 0});
    finish(now + 100 * TW_USEC);
    FAIL_UNLESS(conns[0].close_kind == CK_RST);
    FAIL_UNLESS(!conns[0].tw[0].entered && !conns[0].tw[1].entered);
    PASS;
}

static int test_half_close_has_no_timewait(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, ACK, 5201, 1102, 0, 0, 0});
    feed(MS, (struct seg){S, ACK, 5201, 1102, 50, 0, 0});       /* server keeps sending */
    finish(now);
    FAIL_UNLESS(conns[0].close_kind == CK_HALF && strcmp(conns[0].closer, "client") == 0);
    FAIL_UNLESS(!conns[0].tw[0].entered && !conns[0].tw[1].entered);
    PASS;
}

static int test_syn_retransmission_is_not_reuse(void)
{
    setup();
    feed(MS, (struct seg){C, SYN, 1000, 0, 0, 0, 0});
    feed(1000 * MS, (struct seg){C, SYN, 1000, 0, 0, 0, 0});
    feed(MS, (struct seg){S, SYN | ACK, 5000, 1001, 0, 0, 0});
    finish(now);
    FAIL_UNLESS(nconns == 1 && conns[0].pkts[0] == 2);
    PASS;
}

/* Server closes; the client reconnects from the same port into the server's TIME_WAIT. */
static int test_reuse_into_timewait_and_late_segment(void)
{
    setup();
    open_conn(1000, 5000);                                     /* id 1 */
    feed(MS, (struct seg){S, FIN, 5201, 1101, 0, 0, 0});
    feed(MS, (struct seg){C, FIN, 1101, 5202, 0, 0, 0});
    feed(MS, (struct seg){S, ACK, 5202, 1102, 0, 0, 0});       /* 8 */
    feed(2 * TW_USEC, (struct seg){C, SYN, 90000, 0, 0, 0, 0}); /* 9: new ISN above 1102 */
    feed(MS, (struct seg){S, SYN | ACK, 70000, 90001, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, 90001, 70001, 0, 0, 0});
    /* 12: an old data segment of incarnation 1 (server -> client) arrives late */
    feed(MS, (struct seg){S, ACK | TCPF_PSH, 5001, 1101, 200, 0, 0});
    feed(MS, (struct seg){C, FIN, 90001, 70001, 0, 0, 0});
    finish(now);
    FAIL_UNLESS(nconns == 2);
    FAIL_UNLESS(conns[0].id == 1 && conns[0].tw[1].end_reason == TWE_REUSED);
    FAIL_UNLESS(conns[1].incarnation == 2 && conns[1].prev_id == 1);
    FAIL_UNLESS(count_kind("tw_reuse") == 1);
    FAIL_UNLESS(find_kind("tw_reuse", 0)->frame == 9 && find_kind("tw_reuse", 0)->conn == 2);
    FAIL_UNLESS(strstr(find_kind("tw_reuse", 0)->detail, "\"linux_accept\":true"));
    FAIL_UNLESS(strstr(find_kind("tw_reuse", 0)->detail, "\"tw_endpoint\":\"syn_receiver\""));
    FAIL_UNLESS(count_kind("late_segment") == 1);
    FAIL_UNLESS(find_kind("late_segment", 0)->frame == 12);
    FAIL_UNLESS(strstr(find_kind("late_segment", 0)->detail, "\"phase\":\"new_incarnation\""));
    FAIL_UNLESS(strstr(find_kind("late_segment", 0)->detail, "\"prior_connection_id\":1"));
    FAIL_UNLESS(strstr(find_kind("late_segment", 0)->detail, "\"in_window\":false"));
    FAIL_UNLESS(conns[1].pkts[1] == 1);                        /* the late one is not counted */
    PASS;
}

/* Reuse with a lower ISN but newer timestamps: Linux accepts by TSval; PAWS then guards. */
static int test_reuse_by_timestamp_and_paws(void)
{
    setup();
    feed(MS, (struct seg){C, SYN, 900000, 0, 0, 100, 0});
    feed(MS, (struct seg){S, SYN | ACK, 5000, 900001, 0, 7000, 0});
    feed(MS, (struct seg){C, ACK, 900001, 5001, 0, 101, 0});
    feed(MS, (struct seg){C, ACK, 900001, 5001, 100, 102, 0});
    feed(MS, (struct seg){S, FIN, 5001, 900101, 0, 7001, 0});
    feed(MS, (struct seg){C, FIN, 900101, 5002, 0, 103, 0});
    feed(MS, (struct seg){S, ACK, 5002, 900102, 0, 7002, 0});
    feed(TW_USEC, (struct seg){C, SYN, 10, 0, 0, 1200, 0});     /* 8: ISN below, TS newer */
    feed(MS, (struct seg){S, SYN | ACK, 60000, 11, 0, 8000, 0});
    feed(MS, (struct seg){C, ACK, 11, 60001, 0, 1201, 0});
    /* 11: replay of client data of incarnation 1, with its old TSval */
    feed(MS, (struct seg){C, ACK, 900001, 5001, 100, 102, 0});
    finish(now);
    FAIL_UNLESS(nconns == 2 && count_kind("tw_reuse") == 1);
    FAIL_UNLESS(strstr(find_kind("tw_reuse", 0)->detail, "\"isn_above\":false"));
    FAIL_UNLESS(strstr(find_kind("tw_reuse", 0)->detail, "\"ts_newer\":true"));
    FAIL_UNLESS(strstr(find_kind("tw_reuse", 0)->detail, "\"linux_accept\":true"));
    FAIL_UNLESS(count_kind("late_segment") == 1);
    FAIL_UNLESS(strstr(find_kind("late_segment", 0)->detail, "\"paws_reject\":true"));
    PASS;
}

/* An old duplicate in the peer's direction during TIME_WAIT: late, and the ACK restarts. */
static int test_late_segment_in_timewait(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});       /* 8 */
    feed(5 * TW_USEC, (struct seg){S, ACK | TCPF_PSH, 5001, 1101, 200, 0, 0}); /* 9 */
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});       /* 10: answer */
    tw_time answer = now;
    finish(now + 100 * TW_USEC);
    FAIL_UNLESS(count_kind("late_segment") == 1 && find_kind("late_segment", 0)->frame == 9);
    FAIL_UNLESS(strstr(find_kind("late_segment", 0)->detail, "\"phase\":\"time_wait\""));
    FAIL_UNLESS(count_kind("final_ack_retransmission") == 0);
    FAIL_UNLESS(conns[0].tw[0].answers == 1);
    FAIL_UNLESS(conns[0].tw[0].end_ts == answer + 60 * TW_USEC);
    PASS;
}

static int test_rst_into_timewait(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});
    feed(TW_USEC, (struct seg){S, RST, 9999, 0, 0, 0, 0});      /* out of window: ignored */
    feed(TW_USEC, (struct seg){S, RST, 5202, 0, 0, 0, 0});      /* 10, at rcv_nxt */
    tw_time kill = now;
    finish(now + 100 * TW_USEC);
    /* nothing after it shows whether it killed: the linux profile's stack does */
    FAIL_UNLESS(count_kind("tw_rst") == 2);
    FAIL_UNLESS(strstr(find_kind("tw_rst", 0)->detail, "\"killed\":false"));
    FAIL_UNLESS(strstr(find_kind("tw_rst", 1)->detail, "\"killed\":\"unknown\""));
    FAIL_UNLESS(strstr(find_kind("tw_rst", 1)->detail, "\"assumed\":\"ended at the RST"));
    FAIL_UNLESS(find_kind("tw_rst", 1)->frame == 10 && find_kind("tw_rst", 1)->dir == 1);
    FAIL_UNLESS(conns[0].tw[0].end_reason == TWE_RST && conns[0].tw[0].end_ts == kill);
    FAIL_UNLESS(conns[0].close_kind == CK_FIN);
    PASS;
}

/* After the period ran out, a segment is counted (after_close), not a finding, and no new connection. */
static int test_late_segment_after_close(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});
    feed(70 * TW_USEC, (struct seg){S, ACK, 5202, 1102, 0, 0, 0}); /* 9: counted */
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});            /* 10: still R5 */
    finish(now);
    FAIL_UNLESS(nconns == 1 && conns[0].tw[0].end_reason == TWE_EXPIRED);
    FAIL_UNLESS(conns[0].after_close == 1 && nfinds == 1);
    FAIL_UNLESS(find_kind("fin_retransmission", 0) && find_kind("fin_retransmission", 0)->frame == 10);
    PASS;
}

/* Capture starts mid-close: no SYN; both FINs visible. */
static int test_capture_starts_mid_close(void)
{
    setup();
    feed(MS, (struct seg){S, FIN, 5201, 1101, 0, 0, 0});       /* server port 80 is the server */
    feed(MS, (struct seg){C, FIN, 1101, 5202, 0, 0, 0});
    feed(MS, (struct seg){S, ACK, 5202, 1102, 0, 0, 0});
    finish(now);
    FAIL_UNLESS(nconns == 1 && !conns[0].syn_seen && strcmp(conns[0].closer, "server") == 0);
    FAIL_UNLESS(conns[0].tw[1].entered && conns[0].tw[1].start_frame == 3);
    PASS;
}

/* Capture starts after the active closer's FIN: only the passive FIN is seen. */
static int test_capture_starts_after_first_fin(void)
{
    setup();
    feed(MS, (struct seg){S, FIN, 5201, 1102, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});
    finish(now);
    FAIL_UNLESS(nconns == 1 && conns[0].close_kind == CK_HALF);
    FAIL_UNLESS(!conns[0].tw[0].entered && !conns[0].tw[1].entered);
    PASS;
}

static int test_sequence_wrap(void)
{
    uint32_t c0 = 0xfffffff0u;
    setup();
    open_conn(c0, 0xffffff00u);                                /* client data crosses 2^32 */
    feed(MS, (struct seg){C, FIN, c0 + 101, 0xffffff00u + 201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN, 0xffffff00u + 201, c0 + 102, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, c0 + 102, 0xffffff00u + 202, 0, 0, 0});
    feed(MS * 300, (struct seg){S, FIN, 0xffffff00u + 201, c0 + 102, 0, 0, 0});
    finish(now);
    FAIL_UNLESS(nconns == 1 && strcmp(conns[0].closer, "client") == 0);
    FAIL_UNLESS(conns[0].tw[0].entered && !conns[0].tw[0].inferred);
    FAIL_UNLESS(count_kind("fin_retransmission") == 1);
    PASS;
}

static int test_auto_profile(void)
{
    setup_profile(TWP_AUTO, 0);
    feed(MS, (struct seg){C, SYN, 1000, 0, 0, 0, 128});        /* TTL 128: a Windows client */
    feed(MS, (struct seg){S, SYN | ACK, 5000, 1001, 0, 0, 64});
    feed(MS, (struct seg){C, FIN, 1001, 5001, 0, 0, 128});
    feed(MS, (struct seg){S, FIN, 5001, 1002, 0, 0, 64});
    feed(MS, (struct seg){C, ACK, 1002, 5002, 0, 0, 128});
    finish(now);
    FAIL_UNLESS(conns[0].tw[0].profile == TWP_WINDOWS && conns[0].tw[0].dur == 240 * TW_USEC);
    PASS;
}

/* A SYN on a closed tuple after a RST starts a new incarnation without tw_reuse. */
static int test_new_incarnation_after_rst(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){S, RST | ACK, 5201, 1101, 0, 0, 0});
    feed(MS, (struct seg){C, SYN, 77777, 0, 0, 0, 0});
    finish(now);
    FAIL_UNLESS(nconns == 2 && conns[0].close_kind == CK_RST && conns[1].incarnation == 2);
    FAIL_UNLESS(count_kind("tw_reuse") == 0);
    PASS;
}

/*
 * A tuple that comes back after leaving memory cannot be numbered by the
 * engine: it is marked for the store to number; one that stayed is not.
 */
static int test_tuple_back_after_leaving_memory(void)
{
    setup();
    open_conn(1000, 5000);
    feed(MS, (struct seg){C, FIN, 1101, 5201, 0, 0, 0});
    feed(MS, (struct seg){S, FIN | ACK, 5201, 1102, 0, 0, 0});
    feed(MS, (struct seg){C, ACK, 1102, 5202, 0, 0, 0});
    /* TIME_WAIT (60 s) and the closed linger (120 s) pass: the tuple leaves */
    now += 200 * TW_USEC;
    tcp_engine_sweep(eng, now);
    FAIL_UNLESS(nconns == 1 && !conns[0].renumber);
    open_conn(90000, 70000);
    feed(MS, (struct seg){C, RST | ACK, 90101, 70201, 0, 0, 0});
    feed(MS, (struct seg){C, SYN, 123456, 0, 0, 0, 0});          /* third, in memory */
    finish(now);
    FAIL_UNLESS(nconns == 3);
    FAIL_UNLESS(conns[1].incarnation == 1 && conns[1].prev_id == 0 && conns[1].renumber);
    FAIL_UNLESS(conns[2].incarnation == 2 && conns[2].prev_id == conns[1].id &&
                conns[2].renumber);
    PASS;
}

/* --max-flows: beyond the cap the least recently active connection is evicted. */
static int test_eviction_cap(void)
{
    struct tcp_engine_stats st;
    struct pkt_view pv;
    struct pkt_meta m = {0, 0, 0};
    uint8_t src[4] = {10, 1, 0, 0}, dst[4] = {10, 2, 0, 1};
    int dir;
    setup_profile(TWP_LINUX, 100);
    memset(&pv, 0, sizeof(pv));
    pv.ip_version = 4;
    pv.src = src;
    pv.dst = dst;
    pv.dport = 443;
    pv.flags = TCPF_SYN;
    for (uint32_t i = 0; i < 10000; i++) {
        src[2] = (uint8_t)(i >> 8);
        src[3] = (uint8_t)i;
        pv.sport = (uint16_t)(1024 + i);
        m.ts = 1000 * TW_USEC + i;
        m.frame = i + 1;
        FAIL_UNLESS(tcp_engine_packet(eng, &m, &pv, &dir) != NULL);
    }
    tcp_engine_stats(eng, &st);
    FAIL_UNLESS(st.tracked <= 100 && st.evicted >= 9900);
    tcp_engine_finish(eng, m.ts);
    tcp_engine_destroy(eng);
    FAIL_UNLESS(nconns == 10000);
    PASS;
}

int main(void)
{
    RUN(test_client_active_close);
    RUN(test_server_active_close_expires);
    RUN(test_simultaneous_close);
    RUN(test_final_ack_lost_after_capture_point);
    RUN(test_final_ack_lost_before_capture_point);
    RUN(test_capture_ends_before_final_ack);
    RUN(test_rst_close_has_no_timewait);
    RUN(test_half_close_has_no_timewait);
    RUN(test_syn_retransmission_is_not_reuse);
    RUN(test_reuse_into_timewait_and_late_segment);
    RUN(test_reuse_by_timestamp_and_paws);
    RUN(test_late_segment_in_timewait);
    RUN(test_rst_into_timewait);
    RUN(test_late_segment_after_close);
    RUN(test_capture_starts_mid_close);
    RUN(test_capture_starts_after_first_fin);
    RUN(test_sequence_wrap);
    RUN(test_auto_profile);
    RUN(test_new_incarnation_after_rst);
    RUN(test_eviction_cap);
    RUN(test_tuple_back_after_leaving_memory);
    TEST_EXIT();
}
