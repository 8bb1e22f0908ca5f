/*
 * tcptrack.c -- per-endpoint bookkeeping of one segment (see tcptrack.h).
 */
#include "twscope/tcptrack.h"

#include <string.h>

void tcp_track_account(struct tcp_track *t, int dir, const struct pkt_view *pv)
{
    struct tcp_dir *d = &t->d[dir];
    const struct tcp_dir *p = &t->d[!dir];
    uint8_t fl = pv->flags;

    d->pkts++;
    d->bytes += pv->payload_len;
    if (!d->seen) {
        d->seen = 1;
        d->base_seq = pv->seq;
        d->next_seq = pv->seq;
        d->ttl = pv->ttl;
        d->wscale = 0xff;
    }
    if ((fl & TCPF_SYN) && !d->syn) {
        d->syn = 1;
        d->isn = pv->seq;
        d->base_seq = pv->seq;
        d->next_seq = pv->seq;
        d->ttl = pv->ttl;
        d->wscale = pv->wscale;
        d->opt_count = pv->opt_count;
        memcpy(d->opt_sig, pv->opt_sig, sizeof(d->opt_sig));
    }
    /* a RST carries no sequence space: do not let a forged one move next_seq */
    if (!(fl & TCPF_RST) && seq_gt(pv->seq + seg_len(pv), d->next_seq))
        d->next_seq = pv->seq + seg_len(pv);
    if (fl & TCPF_ACK) {
        if (!d->acked || seq_gt(pv->ack, d->max_ack))
            d->max_ack = pv->ack;
        d->acked = 1;
    }
    if (pv->has_ts) {
        if (!d->ts) {
            d->ts = 1;
            d->ts_first = pv->tsval;
            d->ts_last = pv->tsval;
        } else if (!ts_older(pv->tsval, d->ts_last)) {
            d->ts_last = pv->tsval;
        }
    }
    if (!(fl & TCPF_SYN)) {
        uint32_t shift = (d->wscale != 0xff && p->wscale != 0xff) ? d->wscale : 0;
        d->win = (uint32_t)pv->window << shift;
    } else {
        d->win = pv->window;
    }
}
