/*
 * analyzer_live.c -- `twscope capture`, once a second: the captures row's
 * counters, open rows for the TIME_WAIT periods that started, the metrics
 * and the status line.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "analyzer_int.h"
#include "twscope/config.h"
#include "twscope/metrics.h"

/* What is in memory now (live status line, metrics): one pass over the connections. */
struct live_now {
    uint64_t open;             /* connections not closed yet */
    uint64_t tw[2];            /* TIME_WAIT periods running now: client, server side */
};

/* Live: side `side` of c entered TIME_WAIT; its row is written at the next pass. */
void live_sink_tw_started(void *ctx, struct conn *c, int side)
{
    struct run *r = ctx;
    if (r->npending == LIVE_PENDING_MAX) {
        r->pending_lost = 1;
        return;
    }
    r->pending[r->npending].c = c;
    r->pending[r->npending].id = c->id;
    r->pending[r->npending].side = side;
    r->npending++;
}

struct now_pass {
    struct live_now n;
    struct run *r;
    struct metrics *m;         /* NULL: counts only */
    int all_open_rows;         /* write the open row of every period without one */
};

/* One connection in the per-second pass: counts, metrics, open periods' rows. */
static void count_now(void *ctx, struct conn *c)
{
    struct now_pass *p = ctx;
    if (c->tcp.close_kind == CK_OPEN) {
        p->n.open++;
        if (p->m)
            metrics_add_open(p->m);
    }
    for (int s = 0; s < 2; s++) {
        int ep = s == 0 ? c->client_ep : !c->client_ep;
        if (!c->tcp.tw[s]->active)
            continue;
        if (p->all_open_rows && !c->tcp.tw[s]->row_open)
            analyzer_write_open_tw(p->r, c, s);
        p->n.tw[s]++;
        if (p->m)
            metrics_add_tw(p->m, s, c->key.ip_version, c->key.addr[ep], c->key.port[ep],
                           c->key.addr[!ep], c->key.port[!ep]);
    }
}

tw_time live_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (tw_time)ts.tv_sec * TW_USEC + ts.tv_nsec / 1000;
}

/*
 * Live, once a second, before the commit: the captures row gets the counters
 * so far (and the libpcap ones); one pass over the connections writes the
 * periods that started since as open rows, feeds the metrics, and a terminal
 * gets one status line, redrawn in place.
 */
void live_tick(struct run *r)
{
    struct tcp_engine_stats es;
    struct now_pass np = {{0}, r, r->metrics, r->pending_lost};
    const struct live_now *n = &np.n;

    tcp_engine_stats(r->eng, &es);
    r->rec.evicted = es.evicted;
    capture_stats(r->cap, &r->rec.ps_recv, &r->rec.ps_drop);
    r->rec.first_ts = tw_time_to_sec(r->first_ts);
    r->rec.last_ts = tw_time_to_sec(r->last_ts);
    analyzer_db_fail(r, writer_update_capture(r->w, &r->rec));
    if (r->dump)
        (void)pcapng_writer_flush(r->dump); /* an error sticks: the next packet reports it */
    /* the periods that started since the last pass, still running: open rows */
    for (uint32_t i = 0; i < r->npending; i++) {
        struct pending_tw *pt = &r->pending[i];
        const struct tw_state *t = pt->c->tcp.tw[pt->side];
        if (pt->c->id == pt->id && t->active && !t->row_open)
            analyzer_write_open_tw(r, pt->c, pt->side);
    }
    r->npending = 0;
    /* one pass over every connection in memory (O(connections)): only for the
     * status line, the metrics, or open rows the pending array had no room for */
    if (!r->o->progress && !r->metrics && !r->pending_lost)
        return;
    r->pending_lost = 0;
    if (r->metrics)
        metrics_begin(r->metrics);
    tcp_engine_visit(r->eng, count_now, &np);
    if (r->metrics) {
        struct metrics_counters mc;
        memset(&mc, 0, sizeof(mc));
        mc.packets = r->rec.packets;
        mc.tcp_packets = r->rec.tcp_packets;
        mc.ps_recv = r->rec.ps_recv;
        mc.ps_drop = r->rec.ps_drop;
        mc.conns = es.conns_created;
        mc.evicted = es.evicted;
        memcpy(mc.findings, r->findings_kind, sizeof(mc.findings));
        mc.db_queued = writer_queued(r->w);
        metrics_publish(r->metrics, &mc);
    }
    if (!r->o->progress)
        return;
    fprintf(stderr, "\r%llu packets  %llu connections (%llu open)  TIME_WAIT now %llu "
                    "(client %llu, server %llu)  %lld dropped\033[K",
            (unsigned long long)r->rec.packets, (unsigned long long)es.conns_created,
            (unsigned long long)n->open, (unsigned long long)(n->tw[0] + n->tw[1]),
            (unsigned long long)n->tw[0], (unsigned long long)n->tw[1],
            (long long)(r->rec.ps_drop > 0 ? r->rec.ps_drop : 0));
    r->status_shown = 1;
}
