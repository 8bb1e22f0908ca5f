/*
 * analyzer_lanes.c -- analyze -j N > 1: the analysis threads ("lanes") the
 * loop in analyzer.c dispatches TCP segments to.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer_int.h"
#include "twscope/classify.h"
#include "twscope/config.h"
#include "twscope/decode.h"
#include "twscope/ring.h"

/*
 * With -j N > 1 the loop in analyzer.c dispatches: each TCP segment is copied into
 * the ring of lane (SipHash of its flow key >> 32) mod N, a thread with its
 * own TCP engine, TIME_WAIT states and nDPI module, which decodes it again
 * and runs the engine as the one-thread loop does. A connection's packets all
 * reach one lane in capture order; packet time moves for every lane at the
 * same points (a sweep is sent to each when the one-thread loop would sweep),
 * so each lane decides what a one-thread run decides for its connections.
 * Lanes share the writer (writer_share()); connection ids interleave (lane k
 * of N: first_id + k, + N, ...). Each lane has its own copy of struct run, so
 * the sinks are those of the one-thread path.
 */
enum lane_msg_type { LM_PKT = 1, LM_SWEEP, LM_FINISH };

struct lane_msg {
    uint32_t type;             /* enum lane_msg_type */
    uint32_t caplen;           /* LM_PKT: bytes of frame after the header */
    tw_time ts;                /* packet time (LM_SWEEP, LM_FINISH: the time to sweep to) */
    uint64_t frame;
    uint32_t file;
    int32_t linktype;
};

struct lane {
    struct run r;              /* the lane's: engine, nDPI, counters; o, w, rec.id shared */
    struct ring *in;           /* from the dispatching loop */
    pthread_t thread;
    int started;
};

static void *lane_main(void *arg)
{
    struct lane *l = arg;
    const struct lane_msg *m;
    size_t len;

    pthread_setname_np(pthread_self(), "twscope-lane");
    while ((m = ring_next(l->in, &len)) != NULL) {
        struct pkt_view pv;
        struct pkt_meta pm;
        struct conn *c;
        int dir;

        if (m->type == LM_SWEEP) {
            tcp_engine_sweep(l->r.eng, m->ts);
            continue;
        }
        if (m->type == LM_FINISH) {
            tcp_engine_finish(l->r.eng, m->ts);
            continue;
        }
        if (decode_packet(m->linktype, (const uint8_t *)(m + 1), m->caplen, &pv) != DECODE_OK)
            continue; /* cannot happen: the loop decoded the same bytes */
        pm.ts = m->ts;
        pm.frame = m->frame;
        pm.file = m->file;
        c = tcp_engine_packet(l->r.eng, &pm, &pv, &dir);
        if (c && l->r.cl && !c->dpi.done &&
            (pv.payload_len || (pv.flags & (TCPF_SYN | TCPF_FIN | TCPF_RST)) || c->dpi.pkts < 3))
            classify_packet(l->r.cl, c, &pv, m->ts);
    }
    return NULL;
}

static void lane_send(struct lane *l, uint32_t type, const struct capture_pkt *p, tw_time ts)
{
    uint32_t caplen = type == LM_PKT ? p->caplen : 0;
    struct lane_msg *m = ring_reserve(l->in, sizeof(*m) + caplen);

    if (!m)
        return; /* cannot happen: lanes never quit their ring */
    m->type = type;
    m->caplen = caplen;
    m->ts = ts;
    m->frame = p ? p->frame : 0;
    m->file = p ? p->file : 0;
    m->linktype = p ? p->linktype : 0;
    if (caplen)
        memcpy(m + 1, p->data, caplen);
    ring_commit(l->in, type != LM_PKT);
}

void lanes_sweep(struct run *r, tw_time ts)
{
    for (uint32_t i = 0; i < r->nlanes; i++)
        lane_send(&r->lanes[i], LM_SWEEP, NULL, ts);
}

/* Finish every lane at time end, join them and add up what they did. */
void lanes_stop(struct run *r, tw_time end)
{
    for (uint32_t i = 0; i < r->nlanes; i++) {
        struct lane *l = &r->lanes[i];
        if (!l->started)
            continue;
        lane_send(l, LM_FINISH, NULL, end);
        ring_close(l->in);
    }
    for (uint32_t i = 0; i < r->nlanes; i++) {
        struct lane *l = &r->lanes[i];
        struct tcp_engine_stats es;
        if (l->started)
            pthread_join(l->thread, NULL);
        l->started = 0;
        r->n_conns += l->r.n_conns;
        r->n_tw += l->r.n_tw;
        r->n_findings += l->r.n_findings;
        if (l->r.db_failed && !r->db_failed) {
            r->db_failed = 1;
            memcpy(r->db_err, l->r.db_err, sizeof(r->db_err));
        }
        if (l->r.eng) {
            tcp_engine_stats(l->r.eng, &es);
            r->rec.evicted += es.evicted;
        }
        l->r.n_conns = l->r.n_tw = l->r.n_findings = 0;
    }
}

void lanes_destroy(struct run *r)
{
    for (uint32_t i = 0; r->lanes && i < r->nlanes; i++) {
        tcp_engine_destroy(r->lanes[i].r.eng);
        classify_destroy(r->lanes[i].r.cl);
        ring_destroy(r->lanes[i].in);
    }
    free(r->lanes);
    r->lanes = NULL;
    r->nlanes = 0;
}

/*
 * Start o->jobs lanes (after the writer): engines with interleaved ids from
 * eo->first_id. Returns 0, or TW_ERR_NOMEM with whatever started stopped.
 */
int lanes_start(struct run *r, const struct tcp_engine_opts *eo,
                const struct tcp_sinks *sinks)
{
    uint32_t n = r->o->jobs;

    r->lanes = calloc(n, sizeof(*r->lanes));
    if (!r->lanes)
        return TW_ERR_NOMEM;
    r->nlanes = n;
    writer_share(r->w);
    for (uint32_t i = 0; i < n; i++) {
        struct lane *l = &r->lanes[i];
        struct tcp_engine_opts lo = *eo;
        struct tcp_sinks ls = *sinks;

        l->r = *r;
        l->r.lanes = NULL;
        l->r.nlanes = 0;
        l->r.cl = NULL;
        l->r.eng = NULL;
        lo.first_id = eo->first_id + i;
        lo.id_stride = n;
        ls.ctx = &l->r;
        l->r.eng = tcp_engine_create(&lo, &ls);
        l->r.cl = r->o->dpi ? classify_create() : NULL;
        l->in = ring_create(LANE_RING_BYTES, LANE_WAKE_BYTES);
        if (!l->r.eng || (r->o->dpi && !l->r.cl) || !l->in ||
            pthread_create(&l->thread, NULL, lane_main, l))
            goto fail;
        l->started = 1;
    }
    return TW_OK;
fail:
    lanes_stop(r, 0);
    lanes_destroy(r);
    return TW_ERR_NOMEM;
}

/* -j N: the segment goes to its connection's lane (SipHash of its key >> 32, mod N). */
void lanes_packet(struct run *r, uint64_t key_hash, const struct capture_pkt *p)
{
    lane_send(&r->lanes[(key_hash >> 32) % r->nlanes], LM_PKT, p, p->ts);
}
