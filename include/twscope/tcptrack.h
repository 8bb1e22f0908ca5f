/*
 * tcptrack.h -- the TCP state of one incarnation as seen from the capture
 * point: per endpoint what it sent (sequence space, ACKs, timestamps, window,
 * FIN) and the connection's close state. Plain data, read and written by the
 * TIME_WAIT rules (timewait.h) and kept up to date per segment by
 * tcp_track_account() below; no dependency on the flow table, the pool or the
 * database. Analysis thread only.
 */
#ifndef TWSCOPE_TCPTRACK_H
#define TWSCOPE_TCPTRACK_H

#include <stdint.h>
#include <string.h>

#include "twscope/common.h"
#include "twscope/config.h"
#include "twscope/decode.h"

enum close_kind { CK_OPEN = 0, CK_HALF, CK_FIN, CK_RST };

/* Where a packet was: its capture time and Wireshark frame number. */
struct pkt_meta {
    tw_time ts;
    uint64_t frame;            /* 1-based frame number in its file */
    uint32_t file;             /* input file index */
};

/* What one endpoint sent, as seen at the capture point. */
struct tcp_dir {
    uint32_t isn;              /* seq of its SYN (valid if syn) */
    uint32_t base_seq;         /* first sequence number seen (ISN or mid-stream) */
    uint32_t next_seq;         /* highest seq + len (+1 for SYN/FIN) seen */
    uint32_t max_ack;          /* highest ACK sent */
    uint32_t fin_seq;          /* seq of its FIN (valid if fin) */
    uint32_t fin_ack;          /* ack field of its first FIN */
    uint32_t ts_first, ts_last;/* first and latest TSval (valid if ts) */
    uint32_t win;              /* last advertised window, scaled */
    uint16_t fin_copies;       /* FIN segments sent with fin_seq */
    uint16_t finack_copies;    /* ACKs of the peer's FIN sent */
    uint8_t syn : 1;           /* sent a SYN (or SYN-ACK) */
    uint8_t seen : 1;          /* sent anything */
    uint8_t acked : 1;         /* sent an ACK */
    uint8_t fin : 1;           /* sent a FIN */
    uint8_t rst : 1;           /* sent a RST */
    uint8_t ts : 1;            /* uses TCP timestamps */
    uint8_t fin_first : 1;     /* its FIN did not acknowledge a peer FIN (active) */
    uint8_t wscale;            /* window scale it announced (0xff none) */
    uint8_t ttl;               /* TTL/hop limit of its SYN (or first packet) */
    uint8_t opt_count;
    uint8_t opt_sig[DECODE_OPT_SIG_LEN]; /* option kinds of its SYN */
    uint32_t pkts;             /* segments sent */
    uint64_t bytes;            /* payload bytes sent */
    uint64_t fin_frame;        /* frame of its first FIN */
    tw_time fin_ts, fin_last_ts; /* first and latest FIN copy */
    uint32_t fin_file;         /* input file of its first FIN */
    uint8_t fin_unsure : 1;    /* R14: its FIN acknowledged more of the peer than the capture
                                  saw: the peer may have closed first (active closer unknown) */
    uint8_t fin_gap1 : 1;      /* ... exactly one sequence number more */
    uint8_t fin_missed : 1;    /* R14: a FIN the capture did not see, shown by the numbers */
    uint8_t ack_view : 1;      /* R17: never seen itself: next_seq is what the peer's ACKs show */
    uint8_t ack_step1 : 1;     /* R17: ... and their last rise was by exactly one (a FIN?) */
};

struct tw_state;

/*
 * The TCP state of one incarnation, as the rules read and write it. Sides:
 * index 0 is the client, 1 the server; direction 0 = client -> server.
 * tw[side] points to a shared all-zero, never-written state until that
 * endpoint enters TIME_WAIT (the engine gives it one of its own then).
 */
struct tcp_track {
    struct tcp_dir d[2];       /* [0] client, [1] server */
    struct tw_state *tw[2];    /* [0] client, [1] server */
    uint64_t rst_frame;        /* frame of the first RST, 0 if none */
    uint8_t close_kind;        /* enum close_kind */
    uint8_t closed;            /* finished: RST, or every TIME_WAIT over */
    uint8_t stale;             /* R13: 1 the client's SYN got an ACK of a foreign sequence
                                  number, 2 the client answered it with a RST */
    uint32_t stale_frame_lo;   /* low 32 bits of that ACK's frame number */
};

/*
 * Account one segment sent by `dir` in t->d[dir]: counters, sequence space,
 * highest ACK, SYN options, timestamps, window. Everything but teardown,
 * which the TIME_WAIT rules do (tw_segment()). Inline: it runs per packet.
 */
static inline void tcp_track_account(struct tcp_track *t, int dir, const struct pkt_view *pv)
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

#endif /* TWSCOPE_TCPTRACK_H */
