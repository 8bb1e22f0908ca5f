/*
 * tcpstate.h -- connection reconstruction: the TCP engine.
 *
 * One struct conn is one *incarnation* of a 4-tuple (same addresses, ports and
 * VLAN IDs; a new SYN with a new ISN after a close starts the next one). The
 * engine owns a pool of conns (allocated in chunks, recycled, never per
 * packet), the flow table that maps a tuple to its current incarnation, and a
 * by-activity list used to expire idle and finished connections in packet
 * time. Every rule about teardown, TIME_WAIT and incarnations is in
 * timewait.c, which this engine calls and whose verdicts it applies; the
 * dependency goes one way (timewait.c knows nothing of this file). Finished
 * connections and findings leave through the sinks given at creation; the
 * engine never touches SQLite or nDPI itself. Called by the analysis thread
 * only; tcp_key_of() may run on the capture reader thread.
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

/* What the classifier keeps per connection (classify.c reads and writes it). */
struct conn_dpi {
    void *flow;                /* nDPI per-flow state, owned by the classifier */
    uint16_t master, proto;    /* nDPI result ids */
    uint8_t pkts;              /* packets given to nDPI (at most DPI_MAX_PACKETS) */
    uint8_t done;
    uint8_t guessed;           /* the protocol ids are nDPI's guess (gave up) */
};

/*
 * One incarnation of a tuple: its identity, its TCP state (the part the
 * TIME_WAIT rules see), what it carried, nDPI's state, and the engine's and
 * the writer's bookkeeping. Field order keeps the struct small (holes filled).
 */
struct conn {
    /* identity */
    struct flow_key key;       /* canonical tuple; first member (flowtab key_of) */
    uint32_t row_pkts;         /* bookkeeping: packets (both directions) when conn_closed()
                                  wrote its row: conn_done() need not write it again if unchanged */
    int64_t id;                /* connection id (database row id) */
    uint32_t incarnation;      /* 1, 2, ... (see renumber) */
    uint8_t client_ep;         /* key endpoint (0/1) that is the client */
    uint8_t syn_seen;          /* the client's SYN (without ACK) was seen */
    /* bookkeeping: the engine's and the writer's */
    uint8_t in_table : 1;      /* current incarnation of its tuple in the flow table */
    uint8_t written : 1;       /* row handed to the sink */
    uint8_t evicted : 1;
    uint8_t closed_reported : 1; /* conn_closed() was called */
    uint8_t renumber : 1;      /* its tuple may have had incarnations that left memory:
                                  the store numbers it (store_number_incarnations) */
    uint32_t after_close;      /* segments after it was over (RST, or every TIME_WAIT ended):
                                  no TCP had to judge them, so they are counted, not findings */
    uint32_t sweep_epoch;
    uint32_t capture_dups;     /* R15: copies of its segments made at the tap, dropped */
    uint32_t vantage_dups;     /* R15: its segments seen again at another capture point (file) */
    struct conn_dpi dpi;
    /* TCP state, read and written by the TIME_WAIT rules (timewait.h) */
    struct tcp_track tcp;
    /* activity */
    uint64_t first_frame, last_frame;
    uint32_t first_file, last_file;
    tw_time first_ts, last_ts, syn_ts, rtt;   /* rtt < 0: unknown */
    /* links */
    struct conn *prev;         /* previous incarnation (already written), or NULL; kept
                                  while this one is in memory */
    struct conn *lru_prev, *lru_next; /* by last activity, oldest first */
};

/* A finding, ready to store: the verdict of the rules and where it points. */
struct finding_ev {
    const struct conn *conn;   /* connection it is attached to */
    const struct tw_verdict *v;/* what the rules decided (v->dir: the segment's direction) */
    const struct pkt_meta *at;
    const struct pkt_view *pv; /* the segment */
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
    /*
     * Optional (live): side `side` of c has just entered TIME_WAIT. c stays
     * valid during the call only (its memory, pooled, stays a struct conn
     * until tcp_engine_destroy(); c->id tells whether it is still the same).
     */
    void (*tw_started)(void *ctx, struct conn *c, int side);
};

struct tcp_engine_opts {
    struct tw_config tw;
    int ignore_vlan;
    uint64_t max_flows;        /* 0 = FLOW_DEFAULT_MAX */
    tw_time idle_timeout;      /* 0 = FLOW_IDLE_TIMEOUT_SEC */
    tw_time closed_linger;     /* 0 = FLOW_CLOSED_LINGER_SEC */
    uint64_t hash_seed;        /* 0 = random */
    int64_t first_id;          /* id of the first connection */
    int64_t id_stride;         /* ids first_id, +stride, ... (0 = 1; analyze -j: one engine
                                  per thread, each its own residue) */
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

/*
 * Call fn for every connection in memory (current incarnations, oldest
 * activity first), e.g. to count the TIME_WAIT periods running now. fn may
 * change the sinks' bookkeeping of c (row_pkts, closed_reported, a period's
 * row_open), not its TCP state, and must not call the engine. O(connections
 * in memory): about once a second.
 */
void tcp_engine_visit(struct tcp_engine *e, void (*fn)(void *ctx, struct conn *c), void *ctx);

struct tcp_engine_stats {
    uint64_t conns_created, conns_done, evicted, tracked, late_segments;
    uint64_t capture_dups, vantage_dups; /* R15: copies dropped, by kind */
    uint64_t vantage_far;      /* R15: segments also in another file, too far apart to be one */
    size_t table_max_probe;
};
void tcp_engine_stats(const struct tcp_engine *e, struct tcp_engine_stats *st);

/* Id of the incarnation before c, 0 if none. */
static inline int64_t conn_prev_id(const struct conn *c) { return c->prev ? c->prev->id : 0; }

/* "client", "server", "both" or NULL: who closed c actively (tw_active_closer). */
const char *conn_active_closer(const struct conn *c);

#endif /* TWSCOPE_TCPSTATE_H */
