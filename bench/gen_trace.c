/*
 * gen_trace.c -- deterministic synthetic TCP traffic for twscope's benchmark.
 *
 *   gen_trace --seed N --packets N -o FILE.pcap           mixed traffic
 *   gen_trace --seed N --concurrent N -o FILE.pcap        N connections open at once
 *   gen_trace --seed N --sequential N -o FILE.pcap        N connections one after another
 *
 * Why it exists: the benchmark needs multi-million-packet captures with the
 * teardown patterns twscope is about (TIME_WAIT on either side, FIN
 * retransmissions answered from TIME_WAIT, 4-tuple reuse, RSTs), identical on
 * every machine. Real captures are neither reproducible nor shareable, and a
 * kernel-driven generator (tests/gen) makes thousands of packets, not millions.
 *
 * Design: every connection is a *script* that pushes all of its segments,
 * with absolute capture timestamps, into a min-heap keyed by (time, push
 * order); connections arrive as a Poisson process tuned to --pps packets per
 * second of trace time, so they overlap as on a busy server. The writer pops
 * the heap in time order, so the heap only holds segments in flight. The
 * capture point sits next to the server: a server answer shows up `srv`
 * microseconds after the client segment, a client answer a full `rtt` later.
 *
 * What is realistic: Ethernet + IPv4 (DF, per-socket IP IDs, TTLs) or IPv6,
 * valid IP and TCP checksums, Linux SYN options (MSS, SACK_PERM, TS, NOP, WS),
 * NOP NOP TS on every other segment with per-tuple TSval offsets (so a new
 * incarnation's TSval is higher), ISNs that grow with time like Linux's
 * secure_tcp_seq (so a reused tuple gets a higher ISN), MSS-sized data
 * segments with an ACK every second segment, HTTP/1.1 text, a TLS 1.3
 * ClientHello with SNI (nDPI classifies both) and unclassifiable binary on
 * port 8080.
 *
 * Mixed mode: ~78% short HTTP, 15% TLS, 5% binary, ~1% long transfers
 * (150 KB-2 MB), 2% of all over IPv6; closes: client first (client TIME_WAIT),
 * server first (server TIME_WAIT), RST from either side, refused SYNs; 5% of
 * FIN closes have the passive FIN retransmitted (200 ms, then 400 ms backoff)
 * and re-ACKed from TIME_WAIT, half of them without the original final ACK in
 * the capture; 3% of tuples get 1-3 more incarnations while the previous one
 * is in TIME_WAIT.
 *
 * Memory modes: both write the same N HTTP connections (same tuples, sizes,
 * sequence spaces, derived from the seed and the index): SYN, SYN-ACK, ACK,
 * GET, 200 OK, ACK, then a client-first FIN/FIN/ACK close. --concurrent opens
 * all N first and closes them all at the end; --sequential starts each one
 * --gap-us after the previous one ended.
 *
 * Ground truth (counts of what was generated) goes to stderr as key=value.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tunables ---------------------------------------------------------------- */

#define TRACE_EPOCH_S 1704067200ULL   /* 2024-01-01 00:00:00 UTC: first packet */
#define DEFAULT_PPS 75000             /* packets per second of trace time */
#define N_CLIENTS4 20000              /* mixed mode: IPv4 client hosts */
#define N_CLIENTS6 2000               /* mixed mode: IPv6 client hosts */
#define N_SERVERS 16                  /* server hosts */
#define PORT_LO 32768                 /* Linux ip_local_port_range */
#define PORT_HI 60999
#define FILL_SIZE 65536               /* filler buffers (power of two) */
#define MAX_HDR 1024                  /* stream prefix (HTTP/TLS text) bytes */
#define SNAPLEN 262144

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

/* ---- PRNG: splitmix64 seeding xoshiro256** -------------------------------------- */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_u64(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

static double rng_unit(struct rng *r)
{
    return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform integer in [lo, hi] */
static uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
    return lo + rng_u64(r) % (hi - lo + 1);
}

static int rng_chance(struct rng *r, double p)
{
    return rng_unit(r) < p;
}

/* log-uniform in [lo, hi]: many small values, a few large ones */
static uint64_t rng_logu(struct rng *r, double lo, double hi)
{
    return (uint64_t)exp(log(lo) + rng_unit(r) * (log(hi) - log(lo)));
}

static uint64_t hash64(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b * 0x9e3779b97f4a7c15ULL);
    return splitmix64(&x);
}

/* ---- data model ------------------------------------------------------------------ */

enum app { APP_HTTP, APP_TLS, APP_BIN };

/* One connection incarnation: what every one of its segments shares. */
struct gconn {
    uint8_t v6;                /* IPv6 */
    uint8_t app;               /* enum app: what the payload looks like */
    uint8_t srv_idx;           /* server host (MAC) */
    uint8_t ttl[2];            /* TTL / hop limit at the capture point */
    uint16_t port[2];          /* client, server port */
    uint8_t addr[2][16];       /* client, server address (IPv4 in the first 4 bytes) */
    uint16_t ipid[2];          /* next IP ID per direction */
    uint32_t flow_label;       /* IPv6 flow label */
    uint32_t ts_off[2];        /* TSval clock offset per direction */
    uint32_t fill_seed;        /* where this stream starts in the filler */
    uint32_t hdr_len[2];       /* stream prefix length per direction */
    uint8_t *hdr[2];           /* stream prefix (request/response text, TLS hello) */
    int refs;                  /* segments still in the heap */
};

/* One scheduled segment. */
struct seg {
    uint64_t t;                /* capture time, us since the trace start */
    uint64_t order;            /* push order: equal times keep causal order */
    struct gconn *c;
    uint32_t seq, ack, tsval, tsecr;
    uint32_t off;              /* stream offset of the payload */
    uint16_t len;              /* payload bytes */
    uint16_t win;              /* window field */
    uint8_t flags, dir, syn_opts;
};

struct stats {
    uint64_t packets, bytes, conns, fresh, reuse_incarnations, reuse_tuples;
    uint64_t http, tls, bin, long_xfer, v6;
    uint64_t close_client, close_server, rst_client, rst_server, refused;
    uint64_t fin_retx_conns, fin_retx_segs, final_ack_missing;
    uint64_t first_t, last_t;
};

struct gen {
    struct rng r;              /* mixed mode arrivals and choices */
    uint64_t seed;
    FILE *out;
    struct seg *heap;
    size_t nheap, capheap;
    uint64_t order;
    uint64_t pushed;           /* segments pushed so far */
    struct stats st;
    uint16_t *port_next4, *port_next6; /* next ephemeral port per client host */
    uint8_t fill_text[FILL_SIZE], fill_bin[FILL_SIZE];
    /* mode */
    int mode;                  /* 0 mixed, 1 concurrent, 2 sequential */
    uint64_t target_packets;
    uint64_t n_conns;
    uint64_t next_idx;         /* memory modes: next arrival index */
    uint64_t next_t;           /* next arrival time */
    uint64_t gap_us;           /* sequential: gap after each connection */
    double pps;
    uint64_t t_close0;         /* concurrent: first close */
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "gen_trace: out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- heap --------------------------------------------------------------------- */

static int seg_before(const struct seg *a, const struct seg *b)
{
    return a->t < b->t || (a->t == b->t && a->order < b->order);
}

static void heap_push(struct gen *g, struct seg *s)
{
    size_t i;
    if (g->nheap == g->capheap) {
        g->capheap = g->capheap ? g->capheap * 2 : 4096;
        g->heap = realloc(g->heap, g->capheap * sizeof(*g->heap));
        if (!g->heap) {
            fprintf(stderr, "gen_trace: out of memory\n");
            exit(1);
        }
    }
    s->order = g->order++;
    i = g->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!seg_before(s, &g->heap[p]))
            break;
        g->heap[i] = g->heap[p];
        i = p;
    }
    g->heap[i] = *s;
    s->c->refs++;
    g->pushed++;
}

static void heap_pop(struct gen *g, struct seg *out)
{
    struct seg last;
    size_t i = 0, n;
    *out = g->heap[0];
    last = g->heap[--g->nheap];
    n = g->nheap;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l >= n)
            break;
        m = (l + 1 < n && seg_before(&g->heap[l + 1], &g->heap[l])) ? l + 1 : l;
        if (!seg_before(&g->heap[m], &last))
            break;
        g->heap[i] = g->heap[m];
        i = m;
    }
    if (n)
        g->heap[i] = last;
}

/* ---- frame writer ----------------------------------------------------------------- */

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void putle32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (i < n)
        sum += (uint32_t)p[i] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void free_conn(struct gconn *c)
{
    free(c->hdr[0]);
    free(c->hdr[1]);
    free(c);
}

static void write_seg(struct gen *g, const struct seg *s)
{
    static uint8_t f[16 + 14 + 40 + 60 + 2048];
    struct gconn *c = s->c;
    uint8_t *e = f + 16, *ip = e + 14, *tcp, *pl;
    int d = s->dir, optlen = s->syn_opts ? 20 : 12, l3hdr = c->v6 ? 40 : 20;
    uint32_t tcplen = 20 + (uint32_t)optlen + s->len, framelen, sum;
    uint64_t abs_us = TRACE_EPOCH_S * 1000000ULL + s->t;

    /* Ethernet: the client side is behind a router, each server has its own MAC */
    static const uint8_t router[6] = {0x02, 0x00, 0x00, 0x0a, 0x00, 0x01};
    uint8_t srvmac[6] = {0x02, 0x00, 0x00, 0x0b, 0x00, c->srv_idx};
    memcpy(e, d ? router : srvmac, 6);
    memcpy(e + 6, d ? srvmac : router, 6);
    put16(e + 12, c->v6 ? 0x86dd : 0x0800);

    if (c->v6) {
        put32(ip, 0x60000000u | (c->flow_label & 0xfffff));
        put16(ip + 4, tcplen);
        ip[6] = 6;
        ip[7] = c->ttl[d];
        memcpy(ip + 8, c->addr[d], 16);
        memcpy(ip + 24, c->addr[!d], 16);
    } else {
        ip[0] = 0x45;
        ip[1] = 0;
        put16(ip + 2, 20 + tcplen);
        put16(ip + 4, c->ipid[d]++);
        put16(ip + 6, 0x4000); /* DF */
        ip[8] = c->ttl[d];
        ip[9] = 6;
        put16(ip + 10, 0);
        memcpy(ip + 12, c->addr[d], 4);
        memcpy(ip + 16, c->addr[!d], 4);
        put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    }
    tcp = ip + l3hdr;
    put16(tcp, c->port[d]);
    put16(tcp + 2, c->port[!d]);
    put32(tcp + 4, s->seq);
    put32(tcp + 8, s->ack);
    tcp[12] = (uint8_t)(((20 + optlen) / 4) << 4);
    tcp[13] = s->flags;
    put16(tcp + 14, s->win);
    put16(tcp + 16, 0);
    put16(tcp + 18, 0);
    if (s->syn_opts) {
        uint8_t *o = tcp + 20;
        o[0] = 2; o[1] = 4; put16(o + 2, c->v6 ? 1440 : 1460);          /* MSS */
        o[4] = 4; o[5] = 2;                                             /* SACK_PERM */
        o[6] = 8; o[7] = 10; put32(o + 8, s->tsval); put32(o + 12, s->tsecr); /* TS */
        o[16] = 1;                                                      /* NOP */
        o[17] = 3; o[18] = 3; o[19] = 7;                                /* WS 7 */
    } else {
        uint8_t *o = tcp + 20;
        o[0] = 1; o[1] = 1; o[2] = 8; o[3] = 10;
        put32(o + 4, s->tsval);
        put32(o + 8, s->tsecr);
    }
    pl = tcp + 20 + optlen;
    if (s->len) {
        const uint8_t *fill = c->app == APP_HTTP ? g->fill_text : g->fill_bin;
        uint32_t i = 0, off = s->off;
        for (; i < s->len && off + i < c->hdr_len[d]; i++)
            pl[i] = c->hdr[d][off + i];
        for (; i < s->len; i++)
            pl[i] = fill[(c->fill_seed + d * 7919u + off + i) & (FILL_SIZE - 1)];
    }
    /* TCP checksum over the pseudo header, header and payload */
    sum = 0;
    if (c->v6) {
        sum = csum_add(sum, ip + 8, 32);
        sum += tcplen;
        sum += 6;
    } else {
        sum = csum_add(sum, ip + 12, 8);
        sum += 6;
        sum += tcplen;
    }
    sum = csum_add(sum, tcp, tcplen);
    put16(tcp + 16, csum_fold(sum));

    framelen = 14 + (uint32_t)l3hdr + tcplen;
    putle32(f, (uint32_t)(abs_us / 1000000));
    putle32(f + 4, (uint32_t)(abs_us % 1000000));
    putle32(f + 8, framelen);
    putle32(f + 12, framelen);
    if (fwrite(f, 16 + framelen, 1, g->out) != 1) {
        perror("gen_trace: write");
        exit(1);
    }
    if (!g->st.packets)
        g->st.first_t = s->t;
    g->st.last_t = s->t;
    g->st.packets++;
    g->st.bytes += framelen;
    if (--c->refs == 0)
        free_conn(c);
}

/* ---- payload prefixes ------------------------------------------------------------- */

static const char *const paths[] = {"/", "/index.html", "/api/v1/items", "/static/app.js",
                                    "/img/logo.png", "/search", "/login", "/feed.xml"};
static const char *const agents[] = {
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "curl/7.88.1", "python-requests/2.31.0"};
static const char *const ctypes[] = {"text/html; charset=utf-8", "application/json",
                                     "application/javascript", "image/png"};

static void set_hdr(struct gconn *c, int d, const void *p, size_t n)
{
    c->hdr[d] = xmalloc(n ? n : 1);
    memcpy(c->hdr[d], p, n);
    c->hdr_len[d] = (uint32_t)n;
}

/* HTTP request and response head; returns nothing, sizes in hdr_len. */
static void make_http(struct gconn *c, struct rng *r, uint32_t body_len, int keepalive)
{
    char buf[MAX_HDR];
    int n;
    unsigned site = (unsigned)rng_range(r, 1, 500);
    n = snprintf(buf, sizeof(buf),
                 "GET %s?id=%u HTTP/1.1\r\nHost: www.site%u.example\r\nUser-Agent: %s\r\n"
                 "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: %s\r\n\r\n",
                 paths[rng_range(r, 0, 7)], (unsigned)rng_range(r, 1, 99999), site,
                 agents[rng_range(r, 0, 3)], keepalive ? "keep-alive" : "close");
    set_hdr(c, 0, buf, (size_t)n);
    n = snprintf(buf, sizeof(buf),
                 "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
                 "Content-Type: %s\r\nContent-Length: %u\r\nConnection: %s\r\n\r\n",
                 ctypes[rng_range(r, 0, 3)], body_len, keepalive ? "keep-alive" : "close");
    set_hdr(c, 1, buf, (size_t)n);
}

/* A TLS 1.3 ClientHello (with SNI) + CCS + application-data header covering
 * the rest of the client stream (client_total bytes), and a ServerHello + CCS +
 * application-data header for the server stream. */
static void make_tls(struct gconn *c, struct rng *r, uint32_t client_total, uint32_t server_total)
{
    uint8_t b[MAX_HDR];
    uint8_t *p = b, *hs_len, *ext_len, *rec_len;
    char sni[64];
    int sn = snprintf(sni, sizeof(sni), "cdn%u.site%u.example", (unsigned)rng_range(r, 1, 9),
                      (unsigned)rng_range(r, 1, 500));
    static const uint8_t suites[] = {0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0,
                                     0x2f, 0xcc, 0xa9, 0xcc, 0xa8, 0xc0, 0x2c, 0xc0, 0x30};
    size_t n;

    /* ---- client */
    *p++ = 0x16; *p++ = 0x03; *p++ = 0x01; rec_len = p; p += 2;
    *p++ = 0x01; hs_len = p; p += 3;
    *p++ = 0x03; *p++ = 0x03;
    for (int i = 0; i < 32; i++) *p++ = (uint8_t)rng_u64(r);      /* random */
    *p++ = 32;
    for (int i = 0; i < 32; i++) *p++ = (uint8_t)rng_u64(r);      /* session id */
    put16(p, sizeof(suites)); p += 2;
    memcpy(p, suites, sizeof(suites)); p += sizeof(suites);
    *p++ = 1; *p++ = 0;                                            /* compression: null */
    ext_len = p; p += 2;
    put16(p, 0x0000); put16(p + 2, (uint32_t)sn + 5); put16(p + 4, (uint32_t)sn + 3);
    p[6] = 0; put16(p + 7, (uint32_t)sn); memcpy(p + 9, sni, (size_t)sn); p += 9 + sn;
    static const uint8_t ext_rest[] = {
        0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, /* groups */
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,                                     /* ec points */
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, /* sig algs */
        0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03,                   /* versions */
        0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 'h', '2', 0x08, 'h', 't', 't', 'p',
        '/', '1', '.', '1',                                                     /* ALPN */
        0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20};           /* key share */
    memcpy(p, ext_rest, sizeof(ext_rest)); p += sizeof(ext_rest);
    for (int i = 0; i < 32; i++) *p++ = (uint8_t)rng_u64(r);
    put16(ext_len, (uint32_t)(p - ext_len - 2));
    n = (size_t)(p - hs_len - 3);
    hs_len[0] = (uint8_t)(n >> 16); put16(hs_len + 1, (uint32_t)n);
    put16(rec_len, (uint32_t)(p - rec_len - 2));
    /* later flights: ChangeCipherSpec + one application-data record header */
    *p++ = 0x14; *p++ = 0x03; *p++ = 0x03; *p++ = 0x00; *p++ = 0x01; *p++ = 0x01;
    n = (size_t)(p - b);
    *p++ = 0x17; *p++ = 0x03; *p++ = 0x03;
    put16(p, client_total > n + 5 + 16384 ? 16384 : client_total - (uint32_t)n - 5); p += 2;
    set_hdr(c, 0, b, (size_t)(p - b));

    /* ---- server */
    p = b;
    *p++ = 0x16; *p++ = 0x03; *p++ = 0x03; rec_len = p; p += 2;
    *p++ = 0x02; hs_len = p; p += 3;
    *p++ = 0x03; *p++ = 0x03;
    for (int i = 0; i < 32; i++) *p++ = (uint8_t)rng_u64(r);
    *p++ = 32;
    for (int i = 0; i < 32; i++) *p++ = (uint8_t)rng_u64(r);
    *p++ = 0x13; *p++ = 0x01; *p++ = 0;
    put16(p, 46); p += 2;
    static const uint8_t sext[] = {0x00, 0x2b, 0x00, 0x02, 0x03, 0x04,
                                   0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20};
    memcpy(p, sext, sizeof(sext)); p += sizeof(sext);
    for (int i = 0; i < 32; i++) *p++ = (uint8_t)rng_u64(r);
    n = (size_t)(p - hs_len - 3);
    hs_len[0] = (uint8_t)(n >> 16); put16(hs_len + 1, (uint32_t)n);
    put16(rec_len, (uint32_t)(p - rec_len - 2));
    *p++ = 0x14; *p++ = 0x03; *p++ = 0x03; *p++ = 0x00; *p++ = 0x01; *p++ = 0x01;
    n = (size_t)(p - b);
    *p++ = 0x17; *p++ = 0x03; *p++ = 0x03;
    put16(p, server_total > n + 5 + 16384 ? 16384 : server_total - (uint32_t)n - 5); p += 2;
    set_hdr(c, 1, b, (size_t)(p - b));
}

/* ---- scripts ------------------------------------------------------------------------ */

/* The state of one connection while its segments are being scheduled. */
struct script {
    struct gen *g;
    struct gconn *c;
    uint64_t t;                /* time cursor: the latest segment scheduled */
    uint32_t nxt[2];           /* next sequence number per direction */
    uint32_t off[2];           /* stream bytes sent per direction */
    uint64_t last_t[2];        /* time of the latest segment per direction */
    int sent[2];               /* direction has sent anything */
    uint32_t rtt;              /* client answers this long after a server segment (us) */
    uint32_t srv;              /* server answers this long after a client segment (us) */
};

static uint32_t tsval_at(const struct gconn *c, int d, uint64_t t)
{
    return c->ts_off[d] + (uint32_t)(t / 1000);
}

/* How long after a segment from the other side the receiver `d` answers. */
static uint32_t react(const struct script *s, int d)
{
    return d == 0 ? s->rtt : s->srv;
}

static uint16_t win_of(int d, int syn)
{
    if (syn)
        return d == 0 ? 64240 : 65160;
    return d == 0 ? 502 : 509; /* scaled by 2^7 */
}

/* Push one segment with explicit numbers; does not advance the script. */
static void push_raw(struct script *s, int d, uint8_t flags, uint32_t seq, uint32_t ack,
                     uint32_t off, uint16_t len, uint64_t t, uint32_t tsecr)
{
    struct seg g;
    memset(&g, 0, sizeof(g));
    g.t = t;
    g.c = s->c;
    g.seq = seq;
    g.ack = (flags & F_ACK) ? ack : 0;
    g.tsval = tsval_at(s->c, d, t);
    g.tsecr = tsecr;
    g.off = off;
    g.len = len;
    g.flags = flags;
    g.dir = (uint8_t)d;
    g.syn_opts = (flags & F_SYN) != 0;
    g.win = win_of(d, g.syn_opts);
    if (flags & F_RST)
        g.win = 0;
    heap_push(s->g, &g);
}

/* Push a segment from d at time t (not before d's previous one) and advance. */
static uint64_t emit(struct script *s, int d, uint8_t flags, uint16_t len, uint64_t t)
{
    uint32_t tsecr = s->sent[!d] ? tsval_at(s->c, !d, s->last_t[!d]) : 0;
    if (t < s->last_t[d])
        t = s->last_t[d];
    push_raw(s, d, flags, s->nxt[d], s->nxt[!d], s->off[d], len, t, tsecr);
    s->nxt[d] += len + ((flags & F_SYN) ? 1 : 0) + ((flags & F_FIN) ? 1 : 0);
    s->off[d] += len;
    s->last_t[d] = t;
    s->sent[d] = 1;
    if (t > s->t)
        s->t = t;
    return t;
}

/*
 * d sends n bytes starting at t, one MSS-sized segment every iv us; the peer
 * ACKs every second segment and (if final_ack) the last one. Returns the time
 * of the last data segment; s->t ends at the last segment or ACK.
 */
static uint64_t send_data(struct script *s, int d, uint32_t n, uint64_t t, uint32_t iv,
                          int final_ack)
{
    int p = !d;
    uint32_t mss = s->c->v6 ? 1428 : 1448, nseg = (n + mss - 1) / mss, k;
    uint64_t *acks = xmalloc((nseg / 2 + 2) * sizeof(*acks));
    uint32_t nacks = 0, seen = 0;
    uint64_t peer_before = s->sent[p] ? s->last_t[p] : 0, tk = t, last_ack = 0;
    if (tk < s->last_t[d])
        tk = s->last_t[d];
    for (k = 0; k < nseg; k++) {
        uint32_t len = (k + 1 < nseg) ? mss : n - k * mss;
        int last = k + 1 == nseg;
        uint64_t peer_t = peer_before;
        if (k)
            tk += iv;
        while (seen < nacks && acks[seen] <= tk)
            seen++;
        if (seen)
            peer_t = acks[seen - 1];
        push_raw(s, d, (uint8_t)(F_ACK | (last ? F_PSH : 0)), s->nxt[d], s->nxt[p], s->off[d],
                 (uint16_t)len, tk, s->sent[p] ? tsval_at(s->c, p, peer_t) : 0);
        s->nxt[d] += len;
        s->off[d] += len;
        if ((k % 2 == 1 && !last) || (last && final_ack)) {
            uint64_t a = tk + react(s, p);
            if (a <= last_ack)
                a = last_ack + 1;
            if (a < s->last_t[p])
                a = s->last_t[p];
            push_raw(s, p, F_ACK, s->nxt[p], s->nxt[d], s->off[p], 0, a, tsval_at(s->c, d, tk));
            acks[nacks++] = a;
            last_ack = a;
        }
    }
    free(acks);
    s->last_t[d] = tk;
    s->sent[d] = 1;
    if (last_ack) {
        s->last_t[p] = last_ack;
        s->sent[p] = 1;
    }
    s->t = tk > last_ack ? tk : last_ack;
    return tk;
}

/* Linux-like ISN: a per-tuple secret plus a 64 ns clock. */
static uint32_t isn_at(const struct gen *g, const struct gconn *c, int d, uint64_t t)
{
    uint64_t h = hash64(g->seed ^ 0x15b15b, ((uint64_t)c->port[0] << 16 | c->port[1]) ^
                                                 ((uint64_t)c->addr[0][3] << 32) ^
                                                 ((uint64_t)c->addr[0][2] << 40) ^
                                                 ((uint64_t)c->addr[0][15] << 48) ^
                                                 ((uint64_t)c->addr[0][14] << 56) ^
                                                 (uint64_t)d << 63);
    return (uint32_t)h + (uint32_t)(t * 1000 / 64);
}

static void script_init(struct script *s, struct gen *g, struct gconn *c, uint32_t rtt,
                        uint32_t srv)
{
    memset(s, 0, sizeof(*s));
    s->g = g;
    s->c = c;
    s->rtt = rtt;
    s->srv = srv;
}

/* SYN, SYN-ACK, ACK starting at t. */
static void handshake(struct script *s, uint64_t t)
{
    s->nxt[0] = isn_at(s->g, s->c, 0, t);
    s->nxt[1] = isn_at(s->g, s->c, 1, t + s->srv);
    emit(s, 0, F_SYN, 0, t);
    emit(s, 1, F_SYN | F_ACK, 0, t + s->srv);
    emit(s, 0, F_ACK, 0, t + s->srv + s->rtt);
}

/*
 * Retransmissions of the passive closer's FIN (its final ACK was lost): at
 * +rto and +3*rto (200 ms, then 400 ms backoff), each re-ACKed from
 * TIME_WAIT. fin_seq/fin_t: the passive FIN as first sent.
 */
static void fin_retx(struct script *s, int passive, uint32_t fin_seq, uint64_t fin_t, int n)
{
    int tw = !passive;
    uint64_t rto = 200000 + react(s, tw), t = fin_t;
    for (int i = 0; i < n; i++) {
        uint64_t a;
        t += rto << i;
        push_raw(s, passive, F_FIN | F_ACK, fin_seq, s->nxt[tw], s->off[passive], 0, t,
                 tsval_at(s->c, tw, s->last_t[tw]));
        a = t + react(s, tw);
        push_raw(s, tw, F_ACK, s->nxt[tw], fin_seq + 1, s->off[tw], 0, a,
                 tsval_at(s->c, passive, t));
        s->last_t[passive] = t;
        s->last_t[tw] = a;
        s->t = a;
        s->g->st.fin_retx_segs++;
    }
}

enum close_how { CL_CLIENT, CL_SERVER, CL_RST_CLIENT, CL_RST_SERVER };

/* Close from the current cursor; retx = passive FIN retransmissions (0..2). */
static void do_close(struct script *s, struct rng *r, enum close_how how, uint64_t think, int retx,
                     int drop_final_ack)
{
    struct stats *st = &s->g->st;
    uint64_t t = s->t + think;
    if (how == CL_RST_CLIENT || how == CL_RST_SERVER) {
        int d = how == CL_RST_CLIENT ? 0 : 1;
        emit(s, d, F_RST | F_ACK, 0, t);
        if (d == 0)
            st->rst_client++;
        else
            st->rst_server++;
        return;
    }
    if (how == CL_CLIENT) {
        uint64_t tf;
        uint32_t pfin;
        emit(s, 0, F_FIN | F_ACK, 0, t);
        tf = t + s->srv;
        if (rng_chance(r, 0.2)) { /* ACK first, FIN when the application closes */
            emit(s, 1, F_ACK, 0, tf);
            tf += rng_logu(r, 50, 5000);
        }
        pfin = s->nxt[1];
        tf = emit(s, 1, F_FIN | F_ACK, 0, tf);
        if (!drop_final_ack)
            emit(s, 0, F_ACK, 0, tf + s->rtt);
        else
            st->final_ack_missing++;
        if (retx) {
            fin_retx(s, 1, pfin, tf, retx);
            st->fin_retx_conns++;
        }
        st->close_client++;
    } else {
        uint64_t tf;
        uint32_t pfin;
        emit(s, 1, F_FIN | F_ACK, 0, t);
        tf = t + s->rtt;
        if (rng_chance(r, 0.7)) { /* the client ACKs, then its application closes */
            emit(s, 0, F_ACK, 0, tf);
            tf += rng_logu(r, 20, 2000);
        }
        pfin = s->nxt[0];
        tf = emit(s, 0, F_FIN | F_ACK, 0, tf);
        if (!drop_final_ack)
            emit(s, 1, F_ACK, 0, tf + s->srv);
        else
            st->final_ack_missing++;
        if (retx) {
            fin_retx(s, 0, pfin, tf, retx);
            st->fin_retx_conns++;
        }
        st->close_server++;
    }
}

/* ---- connection factory ---------------------------------------------------------- */

static struct gconn *conn_new(struct gen *g, struct rng *r, int v6, uint32_t client,
                              uint16_t cport, uint8_t srv, uint16_t sport, int app)
{
    struct gconn *c = calloc(1, sizeof(*c));
    if (!c) {
        fprintf(stderr, "gen_trace: out of memory\n");
        exit(1);
    }
    c->v6 = (uint8_t)v6;
    c->app = (uint8_t)app;
    c->srv_idx = srv;
    c->port[0] = cport;
    c->port[1] = sport;
    if (v6) {
        static const uint8_t pfx[6] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01};
        memcpy(c->addr[0], pfx, 6);
        c->addr[0][14] = (uint8_t)((client + 1) >> 8);
        c->addr[0][15] = (uint8_t)(client + 1);
        memcpy(c->addr[1], pfx, 4);
        c->addr[1][4] = 0xff;
        c->addr[1][5] = 0xff;
        c->addr[1][15] = (uint8_t)(srv + 1);
    } else {
        c->addr[0][0] = 10;
        c->addr[0][1] = (uint8_t)(64 + (client >> 16));
        c->addr[0][2] = (uint8_t)(client >> 8);
        c->addr[0][3] = (uint8_t)client;
        c->addr[1][0] = 10;
        c->addr[1][1] = 0;
        c->addr[1][2] = 0;
        c->addr[1][3] = (uint8_t)(srv + 1);
    }
    c->ttl[0] = (uint8_t)(64 - 1 - hash64(g->seed, client) % 12);
    c->ttl[1] = 64;
    /* per-tuple offsets: the same for every incarnation of the tuple */
    {
        uint64_t h = hash64(g->seed ^ 0x75u, (uint64_t)client << 32 | (uint64_t)cport << 16 |
                                                 (uint64_t)srv << 8 | (uint64_t)v6);
        c->ts_off[0] = (uint32_t)h;
        c->ts_off[1] = (uint32_t)(h >> 32);
    }
    c->ipid[0] = (uint16_t)rng_u64(r);
    c->ipid[1] = (uint16_t)rng_u64(r);
    c->flow_label = (uint32_t)rng_u64(r) & 0xfffff;
    c->fill_seed = (uint32_t)rng_u64(r);
    return c;
}

/* A copy of c's tuple and offsets for the next incarnation (new IP IDs, payloads). */
static struct gconn *conn_next_incarnation(struct rng *r, const struct gconn *old)
{
    struct gconn *c = xmalloc(sizeof(*c));
    *c = *old;
    c->hdr[0] = c->hdr[1] = NULL;
    c->hdr_len[0] = c->hdr_len[1] = 0;
    c->refs = 0;
    c->ipid[0] = (uint16_t)rng_u64(r);
    c->ipid[1] = (uint16_t)rng_u64(r);
    c->fill_seed = (uint32_t)rng_u64(r);
    return c;
}

/* A connection with no segment left to push and none pushed: free it now. */
static void conn_drop_if_unused(struct gconn *c)
{
    if (c->refs == 0)
        free_conn(c);
}

/*
 * Mixed mode: one fresh connection at t, and maybe more incarnations of its
 * tuple. Everything is pushed now; the heap orders it.
 */
static void mixed_connection(struct gen *g, uint64_t t)
{
    struct rng *r = &g->r;
    struct stats *st = &g->st;
    int v6 = rng_chance(r, 0.02);
    double u = rng_unit(r);
    int app = u < 0.78 ? APP_HTTP : u < 0.93 ? APP_TLS : APP_BIN;
    int is_long = app != APP_BIN && rng_chance(r, 0.006);
    uint32_t client = (uint32_t)rng_range(r, 0, v6 ? N_CLIENTS6 - 1 : N_CLIENTS4 - 1);
    uint16_t *pn = v6 ? &g->port_next6[client] : &g->port_next4[client];
    uint16_t cport = *pn;
    uint8_t srv = (uint8_t)rng_range(r, 0, v6 ? 3 : N_SERVERS - 1);
    uint16_t sport = app == APP_HTTP ? 80 : app == APP_TLS ? 443 : 8080;
    int chain = 1 + (rng_chance(r, 0.03) ? (int)rng_range(r, 1, 3) : 0);
    struct gconn *c;

    *pn = (uint16_t)(*pn >= PORT_HI ? PORT_LO : *pn + 1);
    c = conn_new(g, r, v6, client, cport, srv, sport, app);
    st->fresh++;
    if (chain > 1)
        st->reuse_tuples++;

    for (int inc = 0; inc < chain; inc++) {
        struct script s;
        uint32_t rtt = (uint32_t)rng_logu(r, 200, 80000), srv_d = (uint32_t)rng_logu(r, 20, 300);
        uint32_t req, resp, iv;
        int more = inc + 1 < chain;
        enum close_how how;
        int retx = 0, drop = 0;
        double cu = rng_unit(r);

        if (inc > 0)
            st->reuse_incarnations++;
        st->conns++;
        if (v6)
            st->v6++;
        script_init(&s, g, c, rtt, srv_d);

        /* refused connection: SYN, RST|ACK (never chained) */
        if (!more && inc == 0 && rng_chance(r, 0.005)) {
            uint32_t isn = isn_at(g, c, 0, t);
            push_raw(&s, 0, F_SYN, isn, 0, 0, 0, t, 0);
            push_raw(&s, 1, F_RST | F_ACK, 0, isn + 1, 0, 0, t + srv_d, tsval_at(c, 0, t));
            c->hdr_len[0] = c->hdr_len[1] = 0;
            st->refused++;
            break;
        }
        /* how it ends: a chained incarnation must leave a TIME_WAIT behind */
        if (more)
            how = rng_chance(r, 0.7) ? CL_SERVER : CL_CLIENT;
        else if (cu < 0.02)
            how = CL_RST_CLIENT;
        else if (cu < 0.035)
            how = CL_RST_SERVER;
        else
            how = cu < 0.52 ? CL_CLIENT : CL_SERVER;
        if ((how == CL_CLIENT || how == CL_SERVER) && rng_chance(r, 0.05)) {
            retx = (int)rng_range(r, 1, 2);
            drop = rng_chance(r, 0.5);
        }

        if (app == APP_HTTP) {
            uint64_t tr, tq;
            uint32_t body;
            double su = rng_unit(r);
            body = is_long ? (uint32_t)rng_logu(r, 150000, 2000000)
                   : su < 0.6 ? (uint32_t)rng_range(r, 100, 1200)
                   : su < 0.95 ? (uint32_t)rng_range(r, 1200, 8000)
                               : (uint32_t)rng_range(r, 8000, 64000);
            make_http(c, r, body, how != CL_SERVER);
            req = c->hdr_len[0];
            resp = c->hdr_len[1] + body;
            handshake(&s, t);
            tq = send_data(&s, 0, req, s.t + rng_range(r, 5, 40), 10, 0);
            {
                uint64_t app_t = rng_logu(r, 50, 20000);
                if (app_t > 3000)
                    emit(&s, 1, F_ACK, 0, tq + srv_d);
                tr = tq + srv_d + app_t;
            }
            iv = is_long ? (uint32_t)rng_range(r, 30, 120) : (uint32_t)rng_range(r, 5, 25);
            send_data(&s, 1, resp, tr, iv, how != CL_SERVER);
            if (is_long)
                st->long_xfer++;
            st->http++;
        } else if (app == APP_TLS) {
            uint32_t ch_extra = (uint32_t)rng_range(r, 150, 600);
            uint32_t sf1 = (uint32_t)rng_range(r, 2500, 4500);
            uint32_t sf2 = is_long ? (uint32_t)rng_logu(r, 150000, 2000000)
                                   : (uint32_t)rng_logu(r, 300, 30000);
            uint64_t tq;
            /* the ClientHello's length is known once built: build it twice from
             * the same random state, the second time with the final totals */
            struct rng saved = *r;
            make_tls(c, r, 0xffff, sf1 + sf2);
            {
                uint32_t ch = c->hdr_len[0] - 11; /* the ClientHello record alone */
                free(c->hdr[0]);
                free(c->hdr[1]);
                *r = saved;
                make_tls(c, r, ch + ch_extra, sf1 + sf2);
                handshake(&s, t);
                tq = send_data(&s, 0, ch, s.t + rng_range(r, 5, 40), 10, 0);
            }
            tq = send_data(&s, 1, sf1, tq + srv_d + rng_logu(r, 200, 3000), 8, 1);
            tq = send_data(&s, 0, ch_extra, s.t + rng_range(r, 10, 100), 10, 0);
            iv = is_long ? (uint32_t)rng_range(r, 30, 120) : (uint32_t)rng_range(r, 5, 25);
            send_data(&s, 1, sf2, tq + srv_d + rng_logu(r, 100, 20000), iv, how != CL_SERVER);
            if (is_long)
                st->long_xfer++;
            st->tls++;
        } else {
            uint64_t tq;
            handshake(&s, t);
            c->hdr_len[0] = c->hdr_len[1] = 0;
            tq = send_data(&s, 0, (uint32_t)rng_range(r, 64, 512), s.t + rng_range(r, 5, 40), 10,
                           0);
            send_data(&s, 1, (uint32_t)rng_range(r, 128, 3000), tq + srv_d + rng_logu(r, 50, 5000),
                      10, how != CL_SERVER);
            st->bin++;
        }
        {
            uint64_t think = how == CL_SERVER ? rng_range(r, 1, 30) : rng_logu(r, 500, 1000000);
            do_close(&s, r, how, think, retx, drop);
        }
        if (!more) {
            conn_drop_if_unused(c);
            break;
        }
        /* next incarnation: the server's TIME_WAIT is recycled by a new SYN after
         * 20 ms..3 s; the client's own TIME_WAIT (tcp_tw_reuse) only after 1 s */
        {
            struct gconn *nc = conn_next_incarnation(r, c);
            t = s.t + (how == CL_SERVER ? rng_logu(r, 20000, 3000000)
                                        : rng_range(r, 1000000, 4000000));
            conn_drop_if_unused(c);
            c = nc;
        }
    }
}

/*
 * Memory modes: connection i, the same in --concurrent and --sequential.
 * open: SYN, SYN-ACK, ACK, GET, 200 OK, ACK from t; returns its end time.
 * close: FIN, FIN-ACK, ACK from t (client TIME_WAIT).
 */
struct simple_params {
    uint32_t client, rtt, srv, body, app_t, think;
    uint16_t cport;
    uint8_t srvidx;
    uint64_t rngseed;
};

static void simple_params(struct gen *g, uint64_t i, struct simple_params *p)
{
    struct rng r;
    rng_seed(&r, hash64(g->seed, i));
    p->client = (uint32_t)(i % 65536);
    p->cport = (uint16_t)(PORT_LO + i / 65536);
    p->srvidx = (uint8_t)rng_range(&r, 0, N_SERVERS - 1);
    p->rtt = (uint32_t)rng_logu(&r, 200, 20000);
    p->srv = (uint32_t)rng_logu(&r, 20, 200);
    p->body = (uint32_t)rng_range(&r, 100, 900);
    p->app_t = (uint32_t)rng_logu(&r, 50, 500);
    p->think = (uint32_t)rng_logu(&r, 1000, 50000);
    p->rngseed = rng_u64(&r);
}

static struct gconn *simple_conn(struct gen *g, const struct simple_params *p, struct rng *r)
{
    struct gconn *c;
    rng_seed(r, p->rngseed);
    c = conn_new(g, r, 0, p->client, p->cport, p->srvidx, 80, APP_HTTP);
    make_http(c, r, p->body, 1);
    return c;
}

static uint64_t simple_open(struct gen *g, uint64_t i, uint64_t t, int close_after)
{
    struct simple_params p;
    struct script s;
    struct rng r;
    struct gconn *c;
    uint64_t tq;
    simple_params(g, i, &p);
    c = simple_conn(g, &p, &r);
    script_init(&s, g, c, p.rtt, p.srv);
    handshake(&s, t);
    tq = emit(&s, 0, F_PSH | F_ACK, (uint16_t)c->hdr_len[0], s.t + 10);
    tq = emit(&s, 1, F_PSH | F_ACK, (uint16_t)(c->hdr_len[1] + p.body), tq + p.srv + p.app_t);
    emit(&s, 0, F_ACK, 0, tq + p.rtt);
    g->st.conns++;
    g->st.http++;
    if (close_after)
        do_close(&s, &r, CL_CLIENT, p.think, 0, 0);
    conn_drop_if_unused(c);
    return s.t;
}

static void simple_close(struct gen *g, uint64_t i, uint64_t t_open, uint64_t t)
{
    struct simple_params p;
    struct script s;
    struct rng r;
    struct gconn *c;
    simple_params(g, i, &p);
    c = simple_conn(g, &p, &r);
    script_init(&s, g, c, p.rtt, p.srv);
    c->ipid[0] += 3; /* simple_open's three segments per direction */
    c->ipid[1] += 2;
    /* the state simple_open left */
    s.nxt[0] = isn_at(g, c, 0, t_open) + 1 + c->hdr_len[0];
    s.nxt[1] = isn_at(g, c, 1, t_open + p.srv) + 1 + c->hdr_len[1] + p.body;
    s.off[0] = c->hdr_len[0];
    s.off[1] = c->hdr_len[1] + p.body;
    s.sent[0] = s.sent[1] = 1;
    s.last_t[0] = s.last_t[1] = t_open + 2 * p.srv + 2 * p.rtt;
    s.t = t;
    do_close(&s, &r, CL_CLIENT, 0, 0, 0);
    conn_drop_if_unused(c);
}

/* ---- main loop --------------------------------------------------------------------- */

/* Schedule the next arrival if it is due before the heap's next segment. 0 = none left. */
static int arrival(struct gen *g)
{
    switch (g->mode) {
    case 0: {
        double per_conn = g->st.conns ? (double)g->pushed / (double)g->st.conns : 18.0;
        if (g->pushed >= g->target_packets)
            return 0;
        mixed_connection(g, g->next_t);
        /* Poisson arrivals at pps / (packets per connection so far) */
        g->next_t += (uint64_t)(-log(1.0 - rng_unit(&g->r)) * per_conn * 1e6 / g->pps) + 1;
        return 1;
    }
    case 1: {
        uint64_t iv_open = (uint64_t)(6e6 / g->pps), iv_close = (uint64_t)(3e6 / g->pps);
        if (iv_open < 1)
            iv_open = 1;
        if (iv_close < 1)
            iv_close = 1;
        if (g->next_idx < g->n_conns) {
            simple_open(g, g->next_idx, g->next_idx * iv_open, 0);
        } else if (g->next_idx < 2 * g->n_conns) {
            uint64_t j = g->next_idx - g->n_conns;
            simple_close(g, j, j * iv_open, g->t_close0 + j * iv_close);
        } else {
            return 0;
        }
        g->next_idx++;
        if (g->next_idx < g->n_conns)
            g->next_t = g->next_idx * iv_open;
        else
            g->next_t = g->t_close0 + (g->next_idx - g->n_conns) * iv_close;
        return 1;
    }
    default: {
        uint64_t end;
        if (g->next_idx >= g->n_conns)
            return 0;
        end = simple_open(g, g->next_idx, g->next_t, 1);
        g->next_idx++;
        g->next_t = end + g->gap_us;
        return 1;
    }
    }
}

static int has_arrival(const struct gen *g)
{
    if (g->mode == 0)
        return g->pushed < g->target_packets;
    if (g->mode == 1)
        return g->next_idx < 2 * g->n_conns;
    return g->next_idx < g->n_conns;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gen_trace --seed N (--packets N | --concurrent N | --sequential N)\n"
            "                 [--pps N] [--gap-us N] -o FILE.pcap\n"
            "  --packets N     mixed traffic of about N packets\n"
            "  --concurrent N  N HTTP connections all open at once, closed at the end\n"
            "  --sequential N  the same N connections one after another\n"
            "  --pps N         packets per second of trace time (default %d)\n"
            "  --gap-us N      --sequential: idle time between connections (default 1000)\n"
            "Counts of what was generated are printed on stderr as key=value.\n",
            DEFAULT_PPS);
}

static int parse_num(const char *opt, const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "gen_trace: %s: not a number: '%s'\n", opt, s);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"seed", required_argument, 0, 's'},       {"packets", required_argument, 0, 'n'},
        {"concurrent", required_argument, 0, 'c'}, {"sequential", required_argument, 0, 'S'},
        {"pps", required_argument, 0, 'p'},        {"gap-us", required_argument, 0, 'g'},
        {"output", required_argument, 0, 'o'},     {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    struct gen *g = calloc(1, sizeof(*g));
    const char *out = NULL;
    uint64_t v, seed = 1, pps = DEFAULT_PPS;
    int opt;
    uint8_t hdr[24];
    struct rng fr;
    static char obuf[1 << 20];

    if (!g)
        return 1;
    g->gap_us = 1000;
    while ((opt = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
        switch (opt) {
        case 's': if (parse_num("--seed", optarg, &seed)) return 2; break;
        case 'n': if (parse_num("--packets", optarg, &g->target_packets)) return 2; break;
        case 'c': if (parse_num("--concurrent", optarg, &v)) return 2; g->mode = 1; g->n_conns = v; break;
        case 'S': if (parse_num("--sequential", optarg, &v)) return 2; g->mode = 2; g->n_conns = v; break;
        case 'p': if (parse_num("--pps", optarg, &pps) || !pps) return 2; break;
        case 'g': if (parse_num("--gap-us", optarg, &g->gap_us)) return 2; break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!out || optind != argc || (g->mode == 0 && !g->target_packets) ||
        (g->mode != 0 && !g->n_conns) || (g->mode != 0 && g->n_conns > 65536ULL * (PORT_HI - PORT_LO))) {
        usage(stderr);
        return 2;
    }
    g->seed = seed;
    g->pps = (double)pps;
    rng_seed(&g->r, seed);
    rng_seed(&fr, seed ^ 0xf111);
    for (size_t i = 0; i < FILL_SIZE; i++) {
        static const char txt[] = "<div class=\"item\"><p>lorem ipsum dolor sit amet, "
                                  "consectetur adipiscing elit</p></div>\n";
        g->fill_text[i] = (uint8_t)txt[i % (sizeof(txt) - 1)];
        g->fill_bin[i] = (uint8_t)rng_u64(&fr);
    }
    g->port_next4 = xmalloc(N_CLIENTS4 * sizeof(uint16_t));
    g->port_next6 = xmalloc(N_CLIENTS6 * sizeof(uint16_t));
    for (size_t i = 0; i < N_CLIENTS4; i++)
        g->port_next4[i] = (uint16_t)(PORT_LO + hash64(seed, i) % (PORT_HI - PORT_LO));
    for (size_t i = 0; i < N_CLIENTS6; i++)
        g->port_next6[i] = (uint16_t)(PORT_LO + hash64(seed ^ 6, i) % (PORT_HI - PORT_LO));
    if (g->mode == 1)
        g->t_close0 = g->n_conns * (uint64_t)(6e6 / g->pps) + 1000000;

    g->out = fopen(out, "wb");
    if (!g->out) {
        fprintf(stderr, "gen_trace: %s: %s\n", out, strerror(errno));
        return 1;
    }
    setvbuf(g->out, obuf, _IOFBF, sizeof(obuf));
    putle32(hdr, 0xa1b2c3d4);
    hdr[4] = 2; hdr[5] = 0; hdr[6] = 4; hdr[7] = 0;   /* version 2.4 */
    putle32(hdr + 8, 0);
    putle32(hdr + 12, 0);
    putle32(hdr + 16, SNAPLEN);
    putle32(hdr + 20, 1);                             /* LINKTYPE_ETHERNET */
    fwrite(hdr, sizeof(hdr), 1, g->out);

    for (;;) {
        struct seg s;
        if (has_arrival(g) && (!g->nheap || g->heap[0].t > g->next_t)) {
            if (arrival(g))
                continue;
        }
        if (!g->nheap)
            break;
        heap_pop(g, &s);
        write_seg(g, &s);
    }
    if (fclose(g->out)) {
        fprintf(stderr, "gen_trace: %s: %s\n", out, strerror(errno));
        return 1;
    }
    {
        const struct stats *st = &g->st;
        double dur = (double)(st->last_t - st->first_t) / 1e6;
        fprintf(stderr,
                "gen_trace: file=%s seed=%llu mode=%s\n"
                "packets=%llu\nbytes=%llu\nduration_s=%.3f\npps=%.0f\n"
                "connections=%llu\nfresh_tuples=%llu\nreuse_tuples=%llu\nreuse_incarnations=%llu\n"
                "http=%llu\ntls=%llu\nbinary=%llu\nlong_transfers=%llu\nipv6=%llu\n"
                "close_client_first=%llu\nclose_server_first=%llu\nrst_client=%llu\n"
                "rst_server=%llu\nrefused=%llu\nfin_retx_connections=%llu\nfin_retx_segments=%llu\n"
                "final_ack_missing=%llu\n",
                out, (unsigned long long)seed,
                g->mode == 0 ? "mixed" : g->mode == 1 ? "concurrent" : "sequential",
                (unsigned long long)st->packets, (unsigned long long)st->bytes, dur,
                dur > 0 ? (double)st->packets / dur : 0.0, (unsigned long long)st->conns,
                (unsigned long long)st->fresh, (unsigned long long)st->reuse_tuples,
                (unsigned long long)st->reuse_incarnations, (unsigned long long)st->http,
                (unsigned long long)st->tls, (unsigned long long)st->bin,
                (unsigned long long)st->long_xfer, (unsigned long long)st->v6,
                (unsigned long long)st->close_client, (unsigned long long)st->close_server,
                (unsigned long long)st->rst_client, (unsigned long long)st->rst_server,
                (unsigned long long)st->refused, (unsigned long long)st->fin_retx_conns,
                (unsigned long long)st->fin_retx_segs, (unsigned long long)st->final_ack_missing);
    }
    free(g->heap);
    free(g->port_next4);
    free(g->port_next6);
    free(g);
    return 0;
}
