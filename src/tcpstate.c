/*
 * tcpstate.c -- connection reconstruction: incarnations, per-direction
 * sequence bookkeeping, handshake RTT, the connection pool and its expiry.
 *
 * Every teardown, TIME_WAIT and incarnation rule lives in timewait.c, a leaf:
 * this file asks it where a segment goes (tw_route), hands it each segment
 * (tw_segment) and applies the verdicts it returns (apply()): findings to the
 * sinks, TIME_WAIT states from the pool, the next incarnation on a reuse.
 * Nothing here allocates per packet: conns come from a pool refilled in chunks
 * of FLOW_POOL_CHUNK and are recycled.
 */
#include "twscope/tcpstate.h"

#include <stdlib.h>
#include <string.h>

/* TIME_WAIT states, pooled apart from the conns: most flows never need one. */
union tw_slot {
    struct tw_state s;
    union tw_slot *next_free;
};

/* What c->tcp.tw[side] points to before that endpoint enters TIME_WAIT: never written. */
static struct tw_state tw_idle;

struct tcp_engine {
    struct tcp_engine_opts o;
    struct tcp_sinks s;
    struct flowtab *ft;
    struct conn *free_list;          /* recycled conns, linked by lru_next */
    union tw_slot *tw_free;          /* recycled TIME_WAIT states */
    void **chunks;                   /* pool chunks, freed at destroy */
    size_t nchunks, chunks_cap;
    uint64_t live;                   /* conns in use (tracked + kept as prev) */
    struct conn *lru_head, *lru_tail;/* tracked conns, least recently active first */
    int64_t next_id;
    uint32_t sweep_epoch;
    uint64_t created, done, evicted, late_segments;
    struct tw_copies *copies;        /* R15: recent segments' fingerprints (NULL: out of memory) */
    uint64_t copies_seen[4];         /* by enum tw_copy */
    tw_time min_tw;                  /* shortest 2*MSL any profile may give */
    uint64_t *gone;                  /* Bloom filter of tuples that left the table, or NULL */
    int gone_lost;                   /* the filter could not be allocated */
    int finishing;                   /* tcp_engine_finish(): the table is not used again */
};

const char *conn_active_closer(const struct conn *c)
{
    return tw_who_name(tw_active_closer(&c->tcp));
}

static const struct flow_key *conn_key(const void *v) { return &((const struct conn *)v)->key; }

/* ---- by-activity list ----------------------------------------------------- */

static void lru_unlink(struct tcp_engine *e, struct conn *c)
{
    if (c->lru_prev)
        c->lru_prev->lru_next = c->lru_next;
    else if (e->lru_head == c)
        e->lru_head = c->lru_next;
    if (c->lru_next)
        c->lru_next->lru_prev = c->lru_prev;
    else if (e->lru_tail == c)
        e->lru_tail = c->lru_prev;
    c->lru_prev = c->lru_next = NULL;
}

static void lru_append(struct tcp_engine *e, struct conn *c)
{
    c->lru_next = NULL;
    c->lru_prev = e->lru_tail;
    if (e->lru_tail)
        e->lru_tail->lru_next = c;
    else
        e->lru_head = c;
    e->lru_tail = c;
}

static void lru_touch(struct tcp_engine *e, struct conn *c)
{
    if (e->lru_tail == c)
        return;
    lru_unlink(e, c);
    lru_append(e, c);
}

/* ---- tuples that left memory --------------------------------------------------
 *
 * An incarnation is numbered from the one before it while its tuple is in the
 * flow table. When a tuple comes back after leaving memory (swept, evicted),
 * the engine cannot know its earlier incarnations: such a connection is marked
 * `renumber` and the store numbers its tuple from the database at the end.
 * Which tuples left is kept in a fixed-size Bloom filter (memory does not grow
 * with the capture); a false positive only costs a renumbering that changes
 * nothing.
 */
#define GONE_WORDS (((size_t)1 << FLOW_GONE_FILTER_BITS_LOG2) / 64)

static void gone_bits(uint64_t h, uint64_t idx[3])
{
    uint64_t mask = ((uint64_t)1 << FLOW_GONE_FILTER_BITS_LOG2) - 1;
    idx[0] = h & mask;
    idx[1] = (h >> 21) & mask;
    idx[2] = ((h >> 42) ^ (h * 0x9e3779b97f4a7c15ULL)) & mask;
}

static void gone_add(struct tcp_engine *e, uint64_t h)
{
    uint64_t idx[3];
    if (!e->gone && !e->gone_lost) {
        e->gone = calloc(GONE_WORDS, sizeof(uint64_t));
        e->gone_lost = !e->gone; /* out of memory: every new tuple may have come back */
    }
    if (!e->gone)
        return;
    gone_bits(h, idx);
    for (int i = 0; i < 3; i++)
        e->gone[idx[i] >> 6] |= (uint64_t)1 << (idx[i] & 63);
}

static int gone_maybe(const struct tcp_engine *e, uint64_t h)
{
    uint64_t idx[3];
    if (!e->gone)
        return e->gone_lost;
    gone_bits(h, idx);
    for (int i = 0; i < 3; i++)
        if (!(e->gone[idx[i] >> 6] & ((uint64_t)1 << (idx[i] & 63))))
            return 0;
    return 1;
}

/* ---- pool ------------------------------------------------------------------- */

static int pool_grow(struct tcp_engine *e, void **chunk, size_t bytes);

/* Give side `side` of c a TIME_WAIT state of its own (before writing it). */
static int tw_own(struct tcp_engine *e, struct conn *c, int side)
{
    union tw_slot *p;
    if (c->tcp.tw[side] != &tw_idle)
        return TW_OK;
    if (!e->tw_free) {
        union tw_slot *chunk;
        if (pool_grow(e, (void **)&chunk, FLOW_POOL_CHUNK * sizeof(*chunk)))
            return TW_ERR_NOMEM;
        for (size_t i = 0; i < FLOW_POOL_CHUNK; i++) {
            chunk[i].next_free = e->tw_free;
            e->tw_free = &chunk[i];
        }
    }
    p = e->tw_free;
    e->tw_free = p->next_free;
    memset(&p->s, 0, sizeof(p->s));
    c->tcp.tw[side] = &p->s;
    return TW_OK;
}

static void conn_release(struct tcp_engine *e, struct conn *c)
{
    if (c->prev)
        conn_release(e, c->prev);
    c->prev = NULL;
    for (int s = 0; s < 2; s++) {
        if (c->tcp.tw[s] != &tw_idle) {
            union tw_slot *p = (union tw_slot *)(void *)c->tcp.tw[s];
            p->next_free = e->tw_free;
            e->tw_free = p;
            c->tcp.tw[s] = &tw_idle;
        }
    }
    c->lru_next = e->free_list;
    e->free_list = c;
    e->live--;
}

static void apply(struct tcp_engine *e, struct conn *c, const struct pkt_meta *m,
                  const struct pkt_view *pv, struct tw_result *r, int64_t prior_id);

/* Hand c to the sink (once), take it out of the table and the list, recycle it. */
static void conn_finalize(struct tcp_engine *e, struct conn *c, tw_time end,
                          enum tw_end_reason why)
{
    struct tw_result r = {0};
    tw_finish(&c->tcp, end, why, &r);
    apply(e, c, NULL, NULL, &r, 0);
    if (!c->written) {
        c->written = 1;
        e->done++;
        if (e->s.conn_done)
            e->s.conn_done(e->s.ctx, c);
    }
    if (c->in_table) {
        if (!e->finishing) {
            uint64_t h = flowtab_hash(e->ft, &c->key);
            flowtab_remove(e->ft, &c->key, h);
            gone_add(e, h);
        }
        c->in_table = 0;
        lru_unlink(e, c);
    }
    conn_release(e, c);
}

/* Allocate a pool chunk and remember it for tcp_engine_destroy(). */
static int pool_grow(struct tcp_engine *e, void **chunk, size_t bytes)
{
    if (e->nchunks == e->chunks_cap) {
        size_t cap = e->chunks_cap ? e->chunks_cap * 2 : 64;
        void **n = realloc(e->chunks, cap * sizeof(*n));
        if (!n)
            return TW_ERR_NOMEM;
        e->chunks = n;
        e->chunks_cap = cap;
    }
    *chunk = malloc(bytes);
    if (!*chunk)
        return TW_ERR_NOMEM;
    e->chunks[e->nchunks++] = *chunk;
    return TW_OK;
}

static int pool_refill(struct tcp_engine *e)
{
    struct conn *chunk;
    if (pool_grow(e, (void **)&chunk, FLOW_POOL_CHUNK * sizeof(*chunk)))
        return TW_ERR_NOMEM;
    for (size_t i = 0; i < FLOW_POOL_CHUNK; i++) {
        chunk[i].lru_next = e->free_list;
        e->free_list = &chunk[i];
    }
    return TW_OK;
}

static struct conn *conn_alloc(struct tcp_engine *e, tw_time now)
{
    struct conn *c;
    /* at the cap: evict the least recently active connection (p0f/Suricata style) */
    while (e->live >= e->o.max_flows && e->lru_head && e->lru_head != e->lru_tail) {
        struct conn *old = e->lru_head;
        old->evicted = 1;
        e->evicted++;
        conn_finalize(e, old, now, TWE_EVICTED);
    }
    if (!e->free_list && pool_refill(e))
        return NULL;
    c = e->free_list;
    e->free_list = c->lru_next;
    e->live++;
    memset(c, 0, sizeof(*c));
    c->tcp.tw[0] = c->tcp.tw[1] = &tw_idle;
    return c;
}

/* ---- engine ----------------------------------------------------------------- */

struct tcp_engine *tcp_engine_create(const struct tcp_engine_opts *o, const struct tcp_sinks *s)
{
    struct tcp_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->o = *o;
    e->s = *s;
    if (!e->o.max_flows)
        e->o.max_flows = FLOW_DEFAULT_MAX;
    if (!e->o.idle_timeout)
        e->o.idle_timeout = (tw_time)FLOW_IDLE_TIMEOUT_SEC * TW_USEC;
    if (!e->o.closed_linger)
        e->o.closed_linger = (tw_time)FLOW_CLOSED_LINGER_SEC * TW_USEC;
    e->next_id = o->first_id > 0 ? o->first_id : 1;
    e->min_tw = tw_min_duration(&o->tw);
    e->ft = flowtab_create(o->hash_seed);
    e->copies = calloc(1, sizeof(*e->copies));
    if (!e->ft || !e->copies) {
        flowtab_destroy(e->ft);
        free(e->copies);
        free(e);
        return NULL;
    }
    flowtab_set_key_of(e->ft, conn_key);
    return e;
}

void tcp_engine_finish(struct tcp_engine *e, tw_time end)
{
    /* oldest activity first, so rows come out in a stable order; the table is
     * emptied at once afterwards rather than entry by entry */
    e->finishing = 1;
    while (e->lru_head)
        conn_finalize(e, e->lru_head, end, TWE_CAPTURE_END);
    flowtab_clear(e->ft);
    e->finishing = 0;
}

void tcp_engine_destroy(struct tcp_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nchunks; i++)
        free(e->chunks[i]);
    free(e->chunks);
    flowtab_destroy(e->ft);
    free(e->gone);
    free(e->copies);
    free(e);
}

void tcp_engine_stats(const struct tcp_engine *e, struct tcp_engine_stats *st)
{
    st->conns_created = e->created;
    st->conns_done = e->done;
    st->evicted = e->evicted;
    st->tracked = flowtab_count(e->ft);
    st->late_segments = e->late_segments;
    st->capture_dups = e->copies_seen[TWC_TAP];
    st->vantage_dups = e->copies_seen[TWC_VANTAGE];
    st->vantage_far = e->copies_seen[TWC_FAR];
    st->table_max_probe = flowtab_max_probe(e->ft);
}

/* Which key endpoint is the client of a connection first seen with this packet. */
static int pick_client(const struct pkt_view *pv, int ep)
{
    if (pv->flags & TCPF_SYN)
        return (pv->flags & TCPF_ACK) ? !ep : ep;
    if (pv->sport < 1024 && pv->dport >= 1024)
        return !ep; /* sender uses the only well-known port: it is the server */
    return ep;
}

static struct conn *conn_new(struct tcp_engine *e, const struct flow_key *k, uint64_t h, int ep,
                             const struct pkt_view *pv, const struct pkt_meta *m,
                             struct conn *prev)
{
    struct conn *c = conn_alloc(e, m->ts);
    if (!c)
        return NULL;
    c->key = *k;
    c->id = e->next_id;
    e->next_id += e->o.id_stride > 0 ? e->o.id_stride : 1;
    c->incarnation = prev ? prev->incarnation + 1 : 1;
    c->client_ep = (uint8_t)pick_client(pv, ep);
    c->syn_seen = (pv->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN;
    c->rtt = -1;
    c->first_ts = m->ts;
    c->first_frame = m->frame;
    c->first_file = m->file;
    c->prev = prev;
    c->renumber = prev ? prev->renumber : gone_maybe(e, h) != 0;
    if (prev) {
        flowtab_replace(e->ft, k, h, c);
        prev->in_table = 0;
        lru_unlink(e, prev);
    } else if (flowtab_insert(e->ft, k, h, c)) {
        conn_release(e, c);
        return NULL;
    }
    c->in_table = 1;
    lru_append(e, c);
    e->created++;
    return c;
}

/* One segment's bookkeeping: the connection's, then the sender's (tcptrack.c). */
static void conn_account(struct conn *c, int dir, const struct pkt_meta *m,
                         const struct pkt_view *pv)
{
    const struct tcp_dir *p = &c->tcp.d[!dir];
    uint8_t fl = pv->flags;

    if ((fl & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN && !c->tcp.d[dir].syn)
        c->syn_ts = m->ts;
    if (m->ts > c->last_ts)
        c->last_ts = m->ts; /* the clock may step back: last_ts >= first_ts */
    c->last_frame = m->frame;
    c->last_file = m->file;
    tcp_track_account(&c->tcp, dir, pv);
    /* handshake RTT as tshark's iRTT: client SYN to the client's ACK of the SYN-ACK */
    if (dir == 0 && c->rtt < 0 && c->syn_ts && p->syn && (fl & TCPF_ACK) && !(fl & TCPF_SYN) &&
        pv->ack == p->isn + 1)
        c->rtt = m->ts - c->syn_ts;
}

void tcp_engine_keyer(const struct tcp_engine *e, struct tcp_keyer *out)
{
    flowtab_hasher(e->ft, &out->hasher);
    out->ignore_vlan = e->o.ignore_vlan;
}

void tcp_key_of(const struct tcp_keyer *ky, const struct pkt_view *pv, struct tcp_key *key)
{
    key->ep = flow_key_from_pkt(pv, ky->ignore_vlan, &key->k);
    key->hash = flow_hash(&ky->hasher, &key->k);
}

struct conn *tcp_engine_packet(struct tcp_engine *e, const struct pkt_meta *m,
                               const struct pkt_view *pv, int *dir_out)
{
    struct tcp_key key;
    key.ep = flow_key_from_pkt(pv, e->o.ignore_vlan, &key.k);
    key.hash = flowtab_hash(e->ft, &key.k);
    return tcp_engine_packet_keyed(e, m, pv, &key, dir_out);
}

/*
 * Findings and entries into TIME_WAIT decided by the rules for c, about the
 * segment m/pv (NULL when a period ended without one). A verdict about an RST
 * kept in a TIME_WAIT state (TWV_AT_RST) points at that RST.
 */
static void apply(struct tcp_engine *e, struct conn *c, const struct pkt_meta *m,
                  const struct pkt_view *pv, struct tw_result *r, int64_t prior_id)
{
    for (int side = 0; side < 2; side++)
        if ((r->enter & (1u << side)) && tw_own(e, c, side) == TW_OK) {
            tw_enter(&c->tcp, side, &e->o.tw, m); /* else out of memory: unrecorded */
            if (e->s.tw_started)
                e->s.tw_started(e->s.ctx, c, side);
        }
    for (int i = 0; i < r->n; i++) {
        struct finding_ev f = {c, &r->v[i], m, pv};
        struct pkt_meta rm;
        struct pkt_view rv;
        if (r->v[i].bits & TWV_AT_RST) {
            const struct tw_state *s = c->tcp.tw[r->v[i].who & 1];
            rm.ts = s->rst_ts;
            rm.frame = s->rst_frame;
            rm.file = s->rst_file;
            memset(&rv, 0, sizeof(rv));
            rv.seq = s->rst_seq;
            rv.ack = s->rst_ack;
            rv.flags = s->rst_flags;
            f.at = &rm;
            f.pv = &rv;
        }
        r->v[i].prior_id = prior_id;
        if (r->v[i].kind == TWF_LATE_SEGMENT)
            e->late_segments++;
        if (e->s.finding)
            e->s.finding(e->s.ctx, &f);
    }
}

/* A SYN on old's tuple opens nc: old's periods end, old is written and kept as nc->prev. */
static struct conn *reuse(struct tcp_engine *e, struct conn *old, const struct tcp_key *key,
                          int dir, const struct pkt_meta *m, const struct pkt_view *pv)
{
    struct tw_result r = {0};
    struct conn *nc;
    lru_touch(e, old); /* keep it off the eviction end while we allocate */
    nc = conn_new(e, &key->k, key->hash, key->ep, pv, m, old);
    if (!nc)
        return NULL;
    tw_reuse(&old->tcp, dir, m, pv, &r);
    if (old->tcp.stale == 2)
        tw_stale_retry(&old->tcp, pv, m->ts - old->last_ts, &r);
    apply(e, nc, m, pv, &r, old->id);
    old->written = 1;
    e->done++;
    if (e->s.conn_done)
        e->s.conn_done(e->s.ctx, old);
    if (old->prev) { /* written, and no segment can be attributed to it any more */
        conn_release(e, old->prev);
        old->prev = NULL;
    }
    return nc;
}

struct conn *tcp_engine_packet_keyed(struct tcp_engine *e, const struct pkt_meta *m,
                                     const struct pkt_view *pv, const struct tcp_key *key,
                                     int *dir_out)
{
    struct conn *c = flowtab_find_hashed(e->ft, &key->k, key->hash);
    struct tw_result r;
    int dir;
    enum tw_copy copy = tw_copy_check(e->copies, tw_copy_fp(pv, key->hash, key->ep), m->ts, m->file);

    if (copy == TWC_FAR)
        e->copies_seen[copy]++; /* a segment of its own, but the clocks may differ */
    else if (copy != TWC_NONE) { /* R15: a copy of a segment already accounted: count it only */
        e->copies_seen[copy]++;
        if (c && copy == TWC_TAP)
            c->capture_dups++;
        else if (c)
            c->vantage_dups++;
        return NULL;
    }
    if (!c) {
        c = conn_new(e, &key->k, key->hash, key->ep, pv, m, NULL);
        if (!c)
            return NULL;
        dir = key->ep == c->client_ep ? 0 : 1;
    } else {
        int prev_dir = c->prev && key->ep != c->prev->client_ep;
        dir = key->ep == c->client_ep ? 0 : 1;
        r.n = 0;
        r.enter = 0;
        tw_expire(&c->tcp, m->ts, &r);
        if (r.n)
            apply(e, c, NULL, NULL, &r, 0);
        r.n = 0;
        switch (tw_route(&c->tcp, c->prev ? &c->prev->tcp : NULL, dir, prev_dir, pv,
                         m->ts - c->last_ts > e->o.idle_timeout)) {
        case TWR_REUSE:
            c = reuse(e, c, key, dir, m, pv);
            if (!c)
                return NULL;
            dir = key->ep == c->client_ep ? 0 : 1; /* a SYN: the client; a SYN-ACK (R17) */
            break;
        case TWR_PREV:
            tw_late_prev(&c->tcp, dir, prev_dir, pv, &r);
            apply(e, c, m, pv, &r, c->prev->id);
            return NULL;
        case TWR_CLOSED:
            conn_account(c, dir, m, pv);
            lru_touch(e, c);
            c->after_close++;
            return NULL;
        case TWR_ACCOUNT:
            break;
        }
    }
    conn_account(c, dir, m, pv);
    lru_touch(e, c);
    {
        int was_closed = c->tcp.closed;
        tw_segment(&c->tcp, dir, m, pv, &r);
        c->capture_dups += r.copies;
        if (was_closed && r.n == 0 && !r.copies)
            c->after_close++; /* a FIN after the close that is no retransmission */
    }
    if (r.n || r.enter)
        apply(e, c, m, pv, &r, 0);
    if (e->s.conn_closed && !c->closed_reported &&
        (c->tcp.closed || c->tcp.tw[0]->final_ack_seen || c->tcp.tw[1]->final_ack_seen)) {
        c->closed_reported = 1;
        e->s.conn_closed(e->s.ctx, c);
    }
    *dir_out = dir;
    return c;
}

void tcp_engine_visit(struct tcp_engine *e, void (*fn)(void *ctx, struct conn *c), void *ctx)
{
    for (struct conn *c = e->lru_head; c; c = c->lru_next)
        fn(ctx, c);
}

/* Can c leave memory at packet time now? */
static int conn_expirable(struct tcp_engine *e, struct conn *c, tw_time now)
{
    tw_time idle = now - c->last_ts;
    struct tw_result r = {0};
    tw_expire(&c->tcp, now, &r);
    apply(e, c, NULL, NULL, &r, 0);
    if (tw_any_active(&c->tcp))
        return 0;
    if (c->tcp.closed)
        return idle > e->o.closed_linger;
    return idle > e->o.idle_timeout;
}

void tcp_engine_sweep(struct tcp_engine *e, tw_time now)
{
    uint32_t epoch = ++e->sweep_epoch;
    tw_time min_wait = e->o.closed_linger < e->o.idle_timeout ? e->o.closed_linger
                                                               : e->o.idle_timeout;
    if (e->min_tw < min_wait)
        min_wait = e->min_tw; /* a period may end before the linger would */
    while (e->lru_head) {
        struct conn *c = e->lru_head;
        if (c->sweep_epoch == epoch || now - c->last_ts <= min_wait)
            break;
        if (conn_expirable(e, c, now)) {
            conn_finalize(e, c, now, TWE_EXPIRED);
        } else {
            /* not yet (a long TIME_WAIT, or an open flow under its idle timeout) */
            c->sweep_epoch = epoch;
            lru_touch(e, c);
        }
    }
}
