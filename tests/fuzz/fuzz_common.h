/*
 * fuzz_common.h -- what the libFuzzer harnesses (and fuzz_seeds, which makes
 * their seed corpora) share:
 *
 *   - the link-type selector of fuzz_decode: the first input byte picks one of
 *     the link types decode_linktype_supported() accepts (listed at start-up,
 *     so a new link type in the decoder is fuzzed without touching this file),
 *     or one unsupported type;
 *   - the segment-record format of fuzz_engine and the little sender model
 *     that turns records into struct pkt_view (fz_sim_apply) and packets back
 *     into records (fz_sim_encode, for seeds taken from real captures);
 *   - sink checkers: they read every string the engine hands out (so ASan sees
 *     a dangling or unterminated one), check that each connection is written
 *     once, that finished TIME_WAIT records have an end, and that every
 *     finding's detail is valid JSON (it goes into the database as JSON).
 *
 * A violated check calls fz_fail(), which prints the reason and abort()s:
 * libFuzzer then saves the input like any crash.
 *
 * Everything is static: each harness is one translation unit plus this header.
 */
#ifndef TWSCOPE_FUZZ_COMMON_H
#define TWSCOPE_FUZZ_COMMON_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "twscope/common.h"
#include "twscope/decode.h"
#include "twscope/rowtext.h"
#include "twscope/flowtab.h"
#include "twscope/tcpstate.h"
#include "twscope/timewait.h"

__attribute__((format(printf, 1, 2), noreturn, unused))
static void fz_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fuzz check failed: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* ---- link types (fuzz_decode) --------------------------------------------- */

#define FZ_LINK_SCAN_MAX 1024   /* DLT_* values scanned for support */
#define FZ_LINK_UNSUPPORTED 147 /* DLT_USER0: never decoded */

static int fz_links[64];
static int fz_nlinks;

/* Supported link types in increasing order, then FZ_LINK_UNSUPPORTED. */
__attribute__((unused)) static void fz_links_init(void)
{
    if (fz_nlinks)
        return;
    for (int lt = 0; lt < FZ_LINK_SCAN_MAX && fz_nlinks < 63; lt++)
        if (decode_linktype_supported(lt))
            fz_links[fz_nlinks++] = lt;
    fz_links[fz_nlinks++] = FZ_LINK_UNSUPPORTED;
}

/* Selector byte of link type lt (the inverse of fz_links[b % fz_nlinks]); -1 if none. */
__attribute__((unused)) static int fz_link_selector(int lt)
{
    fz_links_init();
    for (int i = 0; i < fz_nlinks; i++)
        if (fz_links[i] == lt)
            return i;
    return -1;
}

/* ---- segment records (fuzz_engine) ------------------------------------------
 *
 * Input = one configuration byte, then records of FZ_REC_LEN bytes (a shorter
 * tail is ignored). Multi-byte fields are little-endian.
 *
 *   config  bits 0-2 TIME_WAIT profile (0..6 = enum tw_profile_id, 7 = auto),
 *           bit 3 ignore_vlan, bit 4 max_flows = 3, bit 5 idle timeout and
 *           closed linger of 2 s, bit 6 custom profile of 5 s.
 *   record  [0]     ctl: bit 0 sender side (0 = endpoint a of the tuple),
 *                   bits 1-3 tuple (fz_tuples[]), bit 4 TCP timestamps,
 *                   bit 5 sweep at the segment's time before it, bit 6 SYN
 *                   options (MSS, window scale 7, SACK permitted), bit 7 TTL
 *                   128 instead of 64
 *           [1]     TCP flags
 *           [2..5]  seq - sender's snd_nxt (int32)
 *           [6..9]  ack - receiver's snd_nxt (int32)
 *           [10..11] payload length
 *           [12..15] microseconds since the previous segment (time never goes back)
 *           [16..19] TSval - sender's previous TSval (TSecr = receiver's TSval)
 *
 * snd_nxt of a side moves to seq + length (+1 per SYN/FIN) when that is ahead
 * of it or the segment is a SYN (a SYN starts a new sequence space); a RST
 * never moves it. So an all-zero delta stream is an in-order conversation,
 * and any exact sequence number can still be written (fz_sim_encode).
 */
#define FZ_REC_LEN 20
#define FZ_TUPLES 8

struct fz_tuple {
    uint8_t ipv;            /* 4 or 6 */
    uint8_t a[16], b[16];   /* endpoint addresses */
    uint16_t pa, pb;        /* endpoint ports */
    uint16_t vlan[2];
};

/* Chosen for the engine's corner cases: VLANs, IPv6, equal addresses or ports,
 * ports on both sides of 1024, none well known. */
static const struct fz_tuple fz_tuples[FZ_TUPLES] = {
    {4, {10, 0, 0, 1}, {10, 0, 0, 2}, 40000, 80, {0, 0}},
    {4, {10, 0, 0, 1}, {10, 0, 0, 2}, 40001, 80, {0, 0}},
    {4, {10, 0, 0, 1}, {10, 0, 0, 2}, 40000, 80, {10, 0}},         /* 0 on a VLAN */
    {6, {0xfd, 0, [15] = 1}, {0xfd, 0, [15] = 2}, 40000, 443, {0, 0}},
    {4, {10, 0, 0, 7}, {10, 0, 0, 7}, 5000, 6000, {0, 0}},          /* same host */
    {4, {10, 0, 0, 3}, {10, 0, 0, 4}, 1000, 2000, {0, 0}},
    {6, {0xfd, 0, [15] = 1}, {0xfd, 0, [15] = 2}, 40000, 443, {7, 8}}, /* 3, QinQ */
    {4, {10, 0, 0, 5}, {10, 0, 0, 6}, 80, 80, {0, 0}},              /* equal ports */
};

struct fz_sim {
    uint32_t snd_nxt[FZ_TUPLES][2];
    uint32_t tsval[FZ_TUPLES][2];
    tw_time now;
    uint64_t frame;
};

static inline uint32_t fz_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void fz_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

__attribute__((unused)) static void fz_sim_init(struct fz_sim *s)
{
    memset(s, 0, sizeof(*s));
    for (int t = 0; t < FZ_TUPLES; t++) {
        s->snd_nxt[t][0] = 1000u + 0x01000000u * (uint32_t)t;
        s->snd_nxt[t][1] = 0x80000000u + 5000u * (uint32_t)t;
        s->tsval[t][0] = 100000u * (uint32_t)t;
        s->tsval[t][1] = 0xfffff000u; /* TSval wraps soon */
    }
    s->snd_nxt[5][0] = 0xffffff00u;   /* sequence wrap */
    s->now = (tw_time)1700000000 * TW_USEC;
}

/*
 * Decode record rec into *pv and *m (pv points into fz_tuples, valid for the
 * program's life) and advance the model. *sweep says whether the harness
 * should sweep at m->ts before feeding the segment.
 */
__attribute__((unused)) static void fz_sim_apply(struct fz_sim *s, const uint8_t *rec,
                                                 struct pkt_view *pv, struct pkt_meta *m,
                                                 int *sweep)
{
    uint8_t ctl = rec[0], fl = rec[1];
    int side = ctl & 1, t = (ctl >> 1) & 7;
    const struct fz_tuple *tu = &fz_tuples[t];
    uint32_t seq = s->snd_nxt[t][side] + fz_le32(rec + 2);
    uint32_t ack = s->snd_nxt[t][!side] + fz_le32(rec + 6);
    uint32_t len = (uint32_t)rec[10] | (uint32_t)rec[11] << 8;
    uint32_t end = seq + len + !!(fl & TCPF_SYN) + !!(fl & TCPF_FIN);

    memset(pv, 0, sizeof(*pv));
    pv->ip_version = tu->ipv;
    pv->src = side ? tu->b : tu->a;
    pv->dst = side ? tu->a : tu->b;
    pv->l3 = NULL;
    pv->sport = side ? tu->pb : tu->pa;
    pv->dport = side ? tu->pa : tu->pb;
    pv->vlan[0] = tu->vlan[0];
    pv->vlan[1] = tu->vlan[1];
    pv->vlan_count = (uint8_t)(!!tu->vlan[0] + !!tu->vlan[1]);
    pv->ttl = (ctl & 0x80) ? 128 : 64;
    pv->flags = fl;
    pv->seq = seq;
    pv->ack = ack;
    pv->window = 65535;
    pv->tcp_hdr_len = 20;
    pv->payload_len = len;
    pv->wscale = 0xff;
    if ((ctl & 0x40) && (fl & TCPF_SYN)) {
        pv->mss = 1460;
        pv->wscale = 7;
        pv->sack_perm = 1;
        pv->opt_sig[pv->opt_count++] = 2;
        pv->opt_sig[pv->opt_count++] = 4;
        pv->opt_sig[pv->opt_count++] = 1;
        pv->opt_sig[pv->opt_count++] = 3;
        pv->tcp_hdr_len += 12;
    }
    if (ctl & 0x10) {
        pv->has_ts = 1;
        pv->tsval = s->tsval[t][side] + fz_le32(rec + 16);
        pv->tsecr = s->tsval[t][!side];
        s->tsval[t][side] = pv->tsval;
        if (pv->opt_count + 1 <= DECODE_OPT_SIG_LEN)
            pv->opt_sig[pv->opt_count++] = 8;
        pv->tcp_hdr_len += 12;
    }
    if (!(fl & TCPF_RST) && ((fl & TCPF_SYN) || seq_gt(end, s->snd_nxt[t][side])))
        s->snd_nxt[t][side] = end;
    s->now += (tw_time)fz_le32(rec + 12);
    m->ts = s->now;
    m->frame = ++s->frame;
    m->file = 0;
    *sweep = !!(ctl & 0x20);
}

/*
 * Write the record that makes fz_sim_apply() reproduce segment pv at time ts
 * (flags, seq, ack, length, TSval and time exact; addresses become tuple t,
 * sender side `side`), and apply it. dt is clamped to [0, 2^32) us.
 */
__attribute__((unused)) static void fz_sim_encode(struct fz_sim *s, int t, int side,
                                                  const struct pkt_view *pv, tw_time ts,
                                                  int sweep, uint8_t rec[FZ_REC_LEN])
{
    struct pkt_view out;
    struct pkt_meta m;
    tw_time dt = ts - s->now;
    int sw;

    if (dt < 0)
        dt = 0;
    if (dt > 0xffffffffLL)
        dt = 0xffffffffLL;
    memset(rec, 0, FZ_REC_LEN);
    rec[0] = (uint8_t)(side | t << 1 | (pv->has_ts ? 0x10 : 0) | (sweep ? 0x20 : 0) |
                       (pv->wscale != 0xff ? 0x40 : 0) | (pv->ttl > 64 ? 0x80 : 0));
    rec[1] = pv->flags;
    fz_put_le32(rec + 2, pv->seq - s->snd_nxt[t][side]);
    fz_put_le32(rec + 6, pv->ack - s->snd_nxt[t][!side]);
    rec[10] = (uint8_t)(pv->payload_len > 0xffff ? 0xff : pv->payload_len);
    rec[11] = (uint8_t)((pv->payload_len > 0xffff ? 0xffff : pv->payload_len) >> 8);
    fz_put_le32(rec + 12, (uint32_t)dt);
    fz_put_le32(rec + 16, pv->tsval - s->tsval[t][side]);
    fz_sim_apply(s, rec, &out, &m, &sw);
}

/* Engine options from the configuration byte. */
__attribute__((unused)) static void fz_engine_opts(uint8_t cfg, struct tcp_engine_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->tw.profile = (cfg & 7) == 7 ? TWP_AUTO : (enum tw_profile_id)(cfg & 7);
    if (o->tw.profile == TWP_CUSTOM || (cfg & 0x40)) {
        o->tw.profile = TWP_CUSTOM;
        o->tw.custom_dur = 5 * TW_USEC;
    }
    o->ignore_vlan = !!(cfg & 0x08);
    o->max_flows = (cfg & 0x10) ? 3 : 0;
    if (cfg & 0x20) {
        o->idle_timeout = 2 * TW_USEC;
        o->closed_linger = 2 * TW_USEC;
    }
    o->hash_seed = 0x5eed;
    o->first_id = 1;
}

/* ---- JSON validation (finding details) ------------------------------------ */

static const char *fz_json_value(const char *p, int depth);

static const char *fz_json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *fz_json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (;;) {
        unsigned char c = (unsigned char)*p++;
        if (c == '"')
            return p;
        if (c < 0x20)
            return NULL; /* control characters and the terminator */
        if (c == '\\') {
            c = (unsigned char)*p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++, p++)
                    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                          (*p >= 'A' && *p <= 'F')))
                        return NULL;
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return NULL;
            }
        }
    }
}

static const char *fz_json_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}

static const char *fz_json_value(const char *p, int depth)
{
    if (depth > 32)
        return NULL;
    p = fz_json_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p = fz_json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                p = fz_json_string(fz_json_ws(p));
                if (!p)
                    return NULL;
                p = fz_json_ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            p = fz_json_value(p, depth + 1);
            if (!p)
                return NULL;
            p = fz_json_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == close)
                return p + 1;
            return NULL;
        }
    }
    if (*p == '"')
        return fz_json_string(p);
    if (strncmp(p, "true", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    if (strncmp(p, "null", 4) == 0)
        return p + 4;
    return fz_json_number(p);
}

/* 1 if s is one JSON object and nothing else. */
__attribute__((unused)) static int fz_json_object_ok(const char *s)
{
    const char *e;
    if (*fz_json_ws(s) != '{')
        return 0;
    e = fz_json_value(s, 0);
    return e && *fz_json_ws(e) == '\0';
}

/* ---- sink checks -------------------------------------------------------------- */

struct fz_check {
    uint8_t *written;          /* per connection id: fz_flags() bits */
    size_t cap;
    uint64_t conns, findings;
    int monotonic;             /* packet time never goes back: TIME_WAIT ends after it starts */
    struct tw_config tw;       /* for tw_profile_seen_of */
    const struct tw_state *tw_idle; /* the engine's shared idle TIME_WAIT state, once seen */
    volatile size_t sink;      /* keeps the string reads */
};

static size_t fz_touch(struct fz_check *k, const char *s, const char *what)
{
    size_t n;
    if (!s)
        fz_fail("%s is NULL", what);
    n = strlen(s);
    k->sink += n;
    return n;
}

/* The flag byte of connection id (grown on demand): bit 0 written, bit 1 closed
 * reported, bit 2 has a finding. */
static uint8_t *fz_flags(struct fz_check *k, int64_t id)
{
    if (id <= 0)
        fz_fail("connection id %lld", (long long)id);
    if ((size_t)id >= k->cap) {
        size_t cap = k->cap ? k->cap : 256;
        while (cap <= (size_t)id)
            cap *= 2;
        k->written = realloc(k->written, cap);
        if (!k->written)
            abort();
        memset(k->written + k->cap, 0, cap - k->cap);
        k->cap = cap;
    }
    return &k->written[id];
}

/*
 * An endpoint that never entered TIME_WAIT points to the engine's shared idle
 * state, which nothing may write: it must stay all zeros. Its address is
 * learned from a connection created by the current segment (both sides point
 * to it then); fresh is that connection or NULL.
 */
__attribute__((unused)) static void fz_check_tw_idle(struct fz_check *k, const struct conn *c,
                                                     int fresh)
{
    static const struct tw_state zero;
    if (!c->tcp.tw[0] || !c->tcp.tw[1])
        fz_fail("connection %lld: NULL TIME_WAIT state", (long long)c->id);
    if (fresh) {
        if (c->tcp.tw[0] != c->tcp.tw[1])
            fz_fail("new connection %lld: sides do not share the idle TIME_WAIT state",
                    (long long)c->id);
        if (!k->tw_idle)
            k->tw_idle = c->tcp.tw[0];
        else if (k->tw_idle != c->tcp.tw[0])
            fz_fail("new connection %lld: idle TIME_WAIT state moved", (long long)c->id);
    }
    for (int s = 0; s < 2; s++)
        if (k->tw_idle && c->tcp.tw[s] == k->tw_idle && memcmp(c->tcp.tw[s], &zero, sizeof(zero)) != 0)
            fz_fail("connection %lld side %d: the shared idle TIME_WAIT state was written",
                    (long long)c->id, s);
}

/* conn_closed(): once per connection, before conn_done(). */
__attribute__((unused)) static void fz_check_closed(struct fz_check *k, const struct conn *c)
{
    uint8_t *f = fz_flags(k, c->id);
    const char *closer = conn_active_closer(c);
    if (*f & 1)
        fz_fail("connection %lld reported closed after it was written", (long long)c->id);
    if (*f & 2)
        fz_fail("connection %lld reported closed twice", (long long)c->id);
    *f |= 2;
    fz_touch(k, close_kind_name((enum close_kind)c->tcp.close_kind), "close_kind_name");
    if (closer)
        fz_touch(k, closer, "active closer");
}

__attribute__((unused)) static void fz_check_conn(struct fz_check *k, const struct conn *c)
{
    char why[160];
    const char *closer;
    uint8_t *f = fz_flags(k, c->id);

    if (*f & 1)
        fz_fail("connection %lld written twice", (long long)c->id);
    *f |= 1;
    k->conns++;
    if (c->incarnation < 1)
        fz_fail("connection %lld: incarnation 0", (long long)c->id);
    if (conn_prev_id(c) && conn_prev_id(c) >= c->id)
        fz_fail("connection %lld: previous incarnation %lld is not older", (long long)c->id,
                (long long)conn_prev_id(c));
    if (c->tcp.close_kind > CK_RST)
        fz_fail("connection %lld: close_kind %u", (long long)c->id, c->tcp.close_kind);
    fz_touch(k, close_kind_name((enum close_kind)c->tcp.close_kind), "close_kind_name");
    closer = conn_active_closer(c);
    if (closer)
        fz_touch(k, closer, "active closer");
    fz_check_tw_idle(k, c, 0);
    for (int s = 0; s < 2; s++) {
        const struct tw_state *t = c->tcp.tw[s];
        if (!t->entered)
            continue;
        if (t->active)
            fz_fail("connection %lld side %d: TIME_WAIT still active when written",
                    (long long)c->id, s);
        if (t->end_reason == TWE_NONE || t->end_reason > TWE_EVICTED)
            fz_fail("connection %lld side %d: TIME_WAIT end_reason %u", (long long)c->id, s,
                    t->end_reason);
        if (k->monotonic && t->end_ts < t->start_ts)
            fz_fail("connection %lld side %d: TIME_WAIT ends (%lld) before it starts (%lld)",
                    (long long)c->id, s, (long long)t->end_ts, (long long)t->start_ts);
        /* packet time only moves on: the period is restarted by later answers and
         * never ends after last answer + 2*MSL (expired: exactly then) */
        if (k->monotonic && t->last_answer_ts < t->start_ts)
            fz_fail("connection %lld side %d: last TIME_WAIT answer before the start",
                    (long long)c->id, s);
        if (k->monotonic && t->end_ts > t->last_answer_ts + t->dur)
            fz_fail("connection %lld side %d: TIME_WAIT ends %lld us after its expected end",
                    (long long)c->id, s, (long long)(t->end_ts - t->last_answer_ts - t->dur));
        if (k->monotonic && t->end_reason == TWE_EXPIRED && t->end_ts != t->last_answer_ts + t->dur)
            fz_fail("connection %lld side %d: expired TIME_WAIT ends %lld us before its end",
                    (long long)c->id, s, (long long)(t->last_answer_ts + t->dur - t->end_ts));
        if (t->dur <= 0)
            fz_fail("connection %lld side %d: TIME_WAIT duration %lld", (long long)c->id, s,
                    (long long)t->dur);
        fz_touch(k, tw_end_reason_name((enum tw_end_reason)t->end_reason), "end reason");
        fz_touch(k, tw_profile_name((enum tw_profile_id)t->profile), "profile name");
        memset(why, 0x55, sizeof(why));
        {
            struct tw_profile_seen seen;
            tw_profile_seen_of(&k->tw, &c->tcp.d[s], &seen);
            rowtext_profile(&seen, why, sizeof(why));
        }
        if (fz_touch(k, why, "profile reason") >= sizeof(why))
            fz_fail("profile reason not terminated");
    }
}

__attribute__((unused)) static void fz_check_finding(struct fz_check *k,
                                                     const struct finding_ev *f)
{
    k->findings++;
    if (!f->conn || !f->at || !f->pv)
        fz_fail("finding with a NULL conn, meta or segment");
    if (f->conn->id <= 0)
        fz_fail("finding on connection id %lld", (long long)f->conn->id);
    *fz_flags(k, f->conn->id) |= 4; /* must be written by the end */
    if (!f->v)
        fz_fail("finding without a verdict");
    if (f->v->dir != 0 && f->v->dir != 1)
        fz_fail("finding direction %d", f->v->dir);
    {
        struct store_kv kv[STORE_MAX_KV];
        const char *kind = tw_finding_name((enum tw_finding)f->v->kind);
        int n;
        if (!kind || fz_touch(k, kind, "finding kind") == 0)
            fz_fail("finding of unknown kind %u", f->v->kind);
        n = rowtext_finding(f->v, kv);
        if (n <= 0 || n > STORE_MAX_KV)
            fz_fail("finding %s: %d detail keys", kind, n);
        /* json_object() makes the JSON of these: keys distinct, values sane */
        for (int i = 0; i < n; i++) {
            if (!kv[i].key || !fz_touch(k, kv[i].key, "detail key") || strchr(kv[i].key, '\''))
                fz_fail("finding %s: bad key %d", kind, i);
            for (int j = 0; j < i; j++)
                if (strcmp(kv[i].key, kv[j].key) == 0)
                    fz_fail("finding %s: key %s twice", kind, kv[i].key);
            if (kv[i].type == KV_TEXT && (!kv[i].s || !fz_touch(k, kv[i].s, "detail text")))
                fz_fail("finding %s: %s: no text", kind, kv[i].key);
            if (kv[i].type == KV_REAL && !isfinite(kv[i].r))
                fz_fail("finding %s: %s = %g", kind, kv[i].key, kv[i].r);
        }
    }
}

/* After tcp_engine_finish(): everything created was written, nothing is tracked. */
__attribute__((unused)) static void fz_check_finished(struct fz_check *k,
                                                      const struct tcp_engine *e)
{
    struct tcp_engine_stats st;
    tcp_engine_stats(e, &st);
    if (st.tracked != 0)
        fz_fail("%zu flow-table entries after finish", (size_t)st.tracked);
    if (st.conns_created != k->conns)
        fz_fail("%llu connections created, %llu written", (unsigned long long)st.conns_created,
                (unsigned long long)k->conns);
    if (st.conns_done != k->conns)
        fz_fail("engine counted %llu done, sink saw %llu", (unsigned long long)st.conns_done,
                (unsigned long long)k->conns);
    for (size_t id = 0; id < k->cap; id++)
        if ((k->written[id] & 4) && !(k->written[id] & 1))
            fz_fail("finding on connection %zu, which was never written", id);
}

__attribute__((unused)) static void fz_check_free(struct fz_check *k)
{
    free(k->written);
    k->written = NULL;
    k->cap = 0;
}

#endif /* TWSCOPE_FUZZ_COMMON_H */
