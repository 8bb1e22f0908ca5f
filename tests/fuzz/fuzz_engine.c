/*
 * fuzz_engine.c -- libFuzzer target for the TCP / TIME_WAIT engine
 * (tcp_engine_packet, tcp_engine_sweep, tcp_engine_finish), without the
 * decoder: the input is a configuration byte and 20-byte segment records
 * (format in fuzz_common.h), turned into struct pkt_view the way
 * tests/test_tcpstate.c builds them. The sinks read every string handed out
 * and check the engine's contract (fz_check_*); after finish, every connection
 * created must have been written exactly once. After each segment, the shared
 * idle TIME_WAIT state (what endpoints outside TIME_WAIT point to) must still
 * be all zeros.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

static struct fz_check chk;

static void on_done(void *ctx, struct conn *c)
{
    fz_check_conn(ctx, c);
}

static void on_closed(void *ctx, struct conn *c)
{
    fz_check_closed(ctx, c);
}

static void on_finding(void *ctx, const struct finding_ev *f)
{
    fz_check_finding(ctx, f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tcp_engine_opts o;
    struct tcp_sinks s = {.ctx = &chk, .conn_done = on_done, .conn_closed = on_closed,
                          .finding = on_finding};
    struct tcp_engine *e;
    struct fz_sim sim;
    tw_time next_sweep = 0;

    if (size < 1)
        return 0;
    fz_engine_opts(data[0], &o);
    memset(&chk, 0, sizeof(chk));
    chk.monotonic = 1;
    chk.tw = o.tw;
    e = tcp_engine_create(&o, &s);
    if (!e)
        return 0;
    fz_sim_init(&sim);
    for (size_t off = 1; off + FZ_REC_LEN <= size; off += FZ_REC_LEN) {
        struct pkt_view pv;
        struct pkt_meta m;
        struct conn *c;
        int sweep, dir = -1;

        fz_sim_apply(&sim, data + off, &pv, &m, &sweep);
        if (sweep)
            tcp_engine_sweep(e, m.ts);
        c = tcp_engine_packet(e, &m, &pv, &dir);
        if (c) {
            if (dir != 0 && dir != 1)
                fz_fail("direction %d", dir);
            if (!c->in_table || c->written)
                fz_fail("segment attributed to a connection that is %s",
                        c->written ? "already written" : "not tracked");
            int fresh = c->first_frame == m.frame && c->tcp.d[0].pkts + c->tcp.d[1].pkts == 1;
            fz_check_tw_idle(&chk, c, fresh);
            chk.sink += c->key.port[0];
        }
        /* the analyzer's once-a-second sweep */
        if (m.ts >= next_sweep) {
            if (next_sweep)
                tcp_engine_sweep(e, m.ts);
            next_sweep = m.ts + (tw_time)FLOW_SWEEP_INTERVAL_SEC * TW_USEC;
        }
    }
    tcp_engine_finish(e, sim.now);
    fz_check_finished(&chk, e);
    tcp_engine_destroy(e);
    fz_check_free(&chk);
    return 0;
}
