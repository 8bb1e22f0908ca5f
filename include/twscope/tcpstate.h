/*
 * tcpstate.h -- connection reconstruction: the TCP engine.
 *
 * One struct conn is one *incarnation* of a 4-tuple (same addresses, ports and
 * VLAN IDs; a new SYN with a new ISN after a close starts the next one). The
 * engine owns a pool of conns (allocated in chunks, recycled, never per
 * packet), the flow table that maps a tuple to its current incarnation, and a
 * by-activity list used to expire idle and finished connections in packet
 * time. Finished connections and findings leave through the sinks given at
 * creation; the engine never touches SQLite or nDPI itself.
 *
 * Sides: index 0 is the client (sender of the SYN; see tcp_engine_packet() for
 * connections picked up mid-stream), 1 the server. Direction 0 = client ->
 * server.
 */
#ifndef TWSCOPE_TCPSTATE_H
#define TWSCOPE_TCPSTATE_H

#include <stdint.h>

#include "twscope/common.h"
#include "twscope/config.h"
#include "twscope/decode.h"
#include "twscope/flowtab.h"
#include "twscope/timewait.h"

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
};

struct conn {
    struct flow_key key;       /* canonical tuple; first member (flowtab key_of) */
    uint32_t row_pkts;         /* packets (both directions) when conn_closed() wrote its
                                  row: conn_done() need not write it again if unchanged */
    int64_t id;                /* connection id (database row id) */
    uint32_t incarnation;      /* 1, 2, ... (see renumber) */
    uint8_t client_ep;         /* key endpoint (0/1) that is the client */
    uint8_t syn_seen;          /* the client's SYN (without ACK) was seen */
    uint8_t close_kind;        /* enum close_kind */
    uint8_t closed;            /* finished: RST, or every TIME_WAIT over */
    uint8_t in_table;          /* current incarnation of its tuple in the flow table */
    uint8_t written;           /* row handed to the sink */
    uint8_t dpi_pkts;          /* packets given to nDPI (at most DPI_MAX_PACKETS) */
    uint8_t dpi_done;
    uint16_t app_master, app_proto; /* nDPI result ids */
    uint8_t dpi_guessed;       /* the protocol ids are nDPI's guess (gave up) */
    uint8_t evicted;
    uint8_t closed_reported;   /* conn_closed() was called */
    uint8_t renumber;          /* its tuple may have had incarnations that left memory:
                                  the store numbers it (store_number_incarnations) */
    uint32_t sweep_epoch;
    struct tcp_dir d[2];       /* [0] client, [1] server */
    struct tw_state *tw[2];    /* [0] client, [1] server: a shared all-zero state until the
                                  endpoint enters TIME_WAIT (keeps open flows small) */
    uint64_t first_frame, last_frame, rst_frame;
    uint32_t first_file, last_file;
    tw_time first_ts, last_ts, syn_ts, rtt;   /* rtt < 0: unknown */
    void *dpi;                 /* nDPI per-flow state, owned by the classifier */
    struct conn *prev;         /* previous incarnation (already written), or NULL */
    int64_t prev_id;           /* id of the previous incarnation, 0 if none */
    struct conn *lru_prev, *lru_next; /* by last activity, oldest first */
};

/* A finding, ready to store. detail is JSON text valid during the call. */
struct finding_ev {
    const struct conn *conn;   /* connection it is attached to */
    const char *kind;
    const struct pkt_meta *at;
    int dir;                   /* 0 client->server, 1 server->client */
    const struct pkt_view *pv; /* the segment */
    const char *detail;
};

struct tcp_sinks {
    void *ctx;
    /* A connection is finished; c stays valid during the call only. */
    void (*conn_done)(void *ctx, struct conn *c);
    /*
     * Optional: a connection has just closed (RST, or both FINs and a
     * TIME_WAIT began). Its row can be written now; conn_done() follows when
     * it leaves memory, with the final counters and TIME_WAIT periods.
     */
    void (*conn_closed)(void *ctx, struct conn *c);
    void (*finding)(void *ctx, const struct finding_ev *f);
};

struct tcp_engine_opts {
    struct tw_config tw;
    int ignore_vlan;
    uint64_t max_flows;        /* 0 = FLOW_DEFAULT_MAX */
    tw_time idle_timeout;      /* 0 = FLOW_IDLE_TIMEOUT_SEC */
    tw_time closed_linger;     /* 0 = FLOW_CLOSED_LINGER_SEC */
    uint64_t hash_seed;        /* 0 = random */
    int64_t first_id;          /* id of the first connection */
};

struct tcp_engine;

struct tcp_engine *tcp_engine_create(const struct tcp_engine_opts *o, const struct tcp_sinks *s);
/* Finish every tracked connection (capture end at time `end`) and free all. */
void tcp_engine_finish(struct tcp_engine *e, tw_time end);
void tcp_engine_destroy(struct tcp_engine *e);

/*
 * Account one TCP segment. Returns the connection it was attributed to (valid
 * until the next call), with *dir set to its direction, or NULL when it was
 * recorded only as a finding of an earlier incarnation (late segment) or
 * could not be tracked. Connections picked up mid-stream (no SYN seen): a
 * SYN-ACK seen first makes its sender the server; otherwise, when exactly one
 * port is below 1024 that endpoint is the server; otherwise the sender of the
 * first packet seen is the client (as Wireshark does).
 */
struct conn *tcp_engine_packet(struct tcp_engine *e, const struct pkt_meta *m,
                               const struct pkt_view *pv, int *dir);

/*
 * The same in two steps: tcp_key_of() computes the packet's tuple key, sender
 * endpoint and hash with a keyer (tcp_engine_keyer(): a copy of what the
 * engine keys with), so it may run on another thread, ahead, touching nothing
 * the engine writes (the capture reader does it); tcp_engine_packet_keyed()
 * then accounts the packet with that key.
 */
struct tcp_key {
    struct flow_key k;
    int ep;                    /* the sender's endpoint in k */
    uint64_t hash;
};
struct tcp_keyer {
    struct flow_hasher hasher;
    int ignore_vlan;
};
void tcp_engine_keyer(const struct tcp_engine *e, struct tcp_keyer *out);
void tcp_key_of(const struct tcp_keyer *ky, const struct pkt_view *pv, struct tcp_key *key);
struct conn *tcp_engine_packet_keyed(struct tcp_engine *e, const struct pkt_meta *m,
                                     const struct pkt_view *pv, const struct tcp_key *key,
                                     int *dir);

/* Expire what is due at packet time now (called about once a second). */
void tcp_engine_sweep(struct tcp_engine *e, tw_time now);

struct tcp_engine_stats {
    uint64_t conns_created, conns_done, evicted, tracked, late_segments;
    size_t table_max_probe;
};
void tcp_engine_stats(const struct tcp_engine *e, struct tcp_engine_stats *st);

/* Names used in the database. */
const char *close_kind_name(enum close_kind k);
/* "client", "server", "both" or NULL. */
const char *conn_active_closer(const struct conn *c);

/* ---- used by timewait.c (the engine's TIME_WAIT half) ------------------- */
struct tcp_engine_ctx {
    const struct tw_config *tw;
    const struct tcp_sinks *sinks;
    uint64_t *late_segments;
    struct tcp_engine *engine;
};
/* Give side `side` of c a TIME_WAIT state of its own (before writing c->tw[side]). */
int tcp_engine_tw_own(struct tcp_engine *e, struct conn *c, int side);
/* Emit a finding through the sinks. */
void tcp_emit(const struct tcp_engine_ctx *x, const struct conn *c, const char *kind,
              const struct pkt_meta *m, int dir, const struct pkt_view *pv, const char *detail);

/* timewait.c entry points, called by the engine */
void tw_on_segment(const struct tcp_engine_ctx *x, struct conn *c, int dir,
                   const struct pkt_meta *m, const struct pkt_view *pv);
void tw_expire(struct conn *c, tw_time now);
void tw_on_reuse(const struct tcp_engine_ctx *x, struct conn *old, struct conn *nc, int dir,
                 const struct pkt_meta *m, const struct pkt_view *pv);
void tw_late_segment(const struct tcp_engine_ctx *x, struct conn *cur, struct conn *owner,
                     int owner_dir, int cur_dir, const char *phase, const struct pkt_meta *m,
                     const struct pkt_view *pv);
void tw_finish(struct conn *c, tw_time end, enum tw_end_reason why_if_running);
/* 1 while any endpoint of c is in TIME_WAIT. */
int tw_any_active(const struct conn *c);
/*
 * Does a segment that arrived on c's tuple belong to c->prev (the previous
 * incarnation) rather than to c? ep_is_client_of_prev: the sender is prev's
 * client. Decided by sequence/ack numbers against both sequence spaces and by
 * TCP timestamps when both incarnations carry them.
 */
int tw_belongs_to_prev(const struct conn *c, int dir, int prev_dir, const struct pkt_view *pv);
/* Why a profile was used for side `side` ("option", or what auto saw). */
void tw_describe_profile(const struct tw_config *cfg, const struct conn *c, int side, char *buf,
                         size_t n);

#endif /* TWSCOPE_TCPSTATE_H */
