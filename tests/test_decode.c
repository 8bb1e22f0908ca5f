/*
 * test_decode.c -- unit tests for decode_packet(): frames are assembled byte
 * by byte here (link + IP + TCP builders), then decoded from a heap copy of
 * exactly caplen bytes so that AddressSanitizer catches any read past the
 * captured data.
 */
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "twscope/decode.h"
#include "test.h"


/* ---- packet builder ---------------------------------------------------- */

struct pb {
    uint8_t b[2048]; /* frame bytes */
    uint32_t n;      /* bytes written */
};

static void pb_init(struct pb *p) { memset(p, 0, sizeof(*p)); }
static void put8(struct pb *p, uint32_t v) { p->b[p->n++] = (uint8_t)v; }
static void put16(struct pb *p, uint32_t v)
{
    put8(p, v >> 8);
    put8(p, v);
}
static void put32(struct pb *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p, v & 0xffff);
}
static void put_bytes(struct pb *p, const uint8_t *src, uint32_t n)
{
    memcpy(p->b + p->n, src, n);
    p->n += n;
}
static void put_fill(struct pb *p, uint8_t v, uint32_t n)
{
    memset(p->b + p->n, v, n);
    p->n += n;
}
static void set16(struct pb *p, uint32_t at, uint32_t v)
{
    p->b[at] = (uint8_t)(v >> 8);
    p->b[at + 1] = (uint8_t)v;
}

#define ET_IPV4 0x0800
#define ET_IPV6 0x86dd
#define ET_ARP 0x0806
#define ET_LLDP 0x88cc

static const uint8_t SRC4[4] = {192, 0, 2, 1};
static const uint8_t DST4[4] = {198, 51, 100, 2};
static const uint8_t SRC6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t DST6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

static void put_eth_addrs(struct pb *p)
{
    static const uint8_t macs[12] = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
    put_bytes(p, macs, sizeof(macs));
}

static void put_eth(struct pb *p, uint16_t type)
{
    put_eth_addrs(p);
    put16(p, type);
}

/* Ethernet with n tags: tpid[i] then TCI tci[i], outer first. */
static void put_eth_tags(struct pb *p, const uint16_t *tpid, const uint16_t *tci, int n,
                         uint16_t type)
{
    put_eth_addrs(p);
    for (int i = 0; i < n; i++) {
        put16(p, tpid[i]);
        put16(p, tci[i]);
    }
    put16(p, type);
}

/* Linux cooked v1: packet type, ARPHRD, address length, 8 address bytes, protocol. */
static void put_sll(struct pb *p, uint16_t proto)
{
    put16(p, 0);     /* PACKET_HOST */
    put16(p, 1);     /* ARPHRD_ETHER */
    put16(p, 6);
    put_fill(p, 0x11, 8);
    put16(p, proto);
}

/* Linux cooked v2: protocol, reserved, ifindex, ARPHRD, packet type, addr len, addr. */
static void put_sll2(struct pb *p, uint16_t proto)
{
    put16(p, proto);
    put16(p, 0);
    put32(p, 3);
    put16(p, 1);
    put8(p, 0);
    put8(p, 6);
    put_fill(p, 0x22, 8);
}

static void put_null(struct pb *p, uint32_t af, int little_endian)
{
    if (little_endian) {
        put8(p, af);
        put8(p, af >> 8);
        put8(p, af >> 16);
        put8(p, af >> 24);
    } else {
        put32(p, af);
    }
}

/* IPv4 header with optlen (multiple of 4) option bytes; total length fixed later. */
static uint32_t put_ipv4(struct pb *p, uint8_t proto, const uint8_t *opts, uint32_t optlen,
                         uint16_t frag)
{
    uint32_t off = p->n;

    put8(p, 0x40 | ((20 + optlen) / 4));
    put8(p, 0);
    put16(p, 0);          /* total length, see ipv4_fix_len() */
    put16(p, 0x1234);
    put16(p, frag);
    put8(p, 64);          /* TTL */
    put8(p, proto);
    put16(p, 0);          /* checksum: not checked */
    put_bytes(p, SRC4, 4);
    put_bytes(p, DST4, 4);
    if (optlen)
        put_bytes(p, opts, optlen);
    return off;
}

static void ipv4_fix_len(struct pb *p, uint32_t off) { set16(p, off + 2, p->n - off); }

static uint32_t put_ipv6(struct pb *p, uint8_t nh)
{
    uint32_t off = p->n;

    put32(p, 0x60000000);
    put16(p, 0);          /* payload length, see ipv6_fix_len() */
    put8(p, nh);
    put8(p, 57);          /* hop limit */
    put_bytes(p, SRC6, 16);
    put_bytes(p, DST6, 16);
    return off;
}

static void ipv6_fix_len(struct pb *p, uint32_t off) { set16(p, off + 4, p->n - off - 40); }

/* Hop-by-hop, routing or destination options: (units + 1) * 8 bytes. */
static void put_v6_ext(struct pb *p, uint8_t nh, uint8_t units)
{
    put8(p, nh);
    put8(p, units);
    put_fill(p, 0, (uint32_t)(units + 1) * 8 - 2);
}

static void put_v6_frag(struct pb *p, uint8_t nh, uint16_t offset_units, int more)
{
    put8(p, nh);
    put8(p, 0);
    put16(p, (uint32_t)(offset_units << 3) | (more ? 1 : 0));
    put32(p, 0xdeadbeef);
}

/* Authentication header: (len + 2) * 4 bytes. */
static void put_v6_ah(struct pb *p, uint8_t nh, uint8_t len)
{
    put8(p, nh);
    put8(p, len);
    put16(p, 0);
    put32(p, 0x100);      /* SPI */
    put32(p, 1);          /* sequence */
    put_fill(p, 0xcc, (uint32_t)(len + 2) * 4 - 12);
}

struct tcp_spec {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;
    const uint8_t *opts;  /* option bytes, padded with zeros (EOL) to 4 */
    uint32_t optlen;
    uint32_t paylen;      /* payload bytes 'a', 'b', ... */
    int doff;             /* data offset override in words; 0 = computed */
};

static struct tcp_spec tcp_default(void)
{
    struct tcp_spec t = {
        .sport = 40000, .dport = 80, .seq = 0x11223344, .ack = 0x55667788,
        .flags = TCPF_SYN | TCPF_ACK, .win = 64240,
    };
    return t;
}

static void put_tcp(struct pb *p, const struct tcp_spec *t)
{
    uint32_t optpad = (t->optlen + 3) & ~3u;
    uint32_t doff = t->doff ? (uint32_t)t->doff : (20 + optpad) / 4;

    put16(p, t->sport);
    put16(p, t->dport);
    put32(p, t->seq);
    put32(p, t->ack);
    put8(p, doff << 4);
    put8(p, t->flags);
    put16(p, t->win);
    put16(p, 0);          /* checksum */
    put16(p, 0);          /* urgent pointer */
    if (t->optlen)
        put_bytes(p, t->opts, t->optlen);
    put_fill(p, 0, optpad - t->optlen);
    for (uint32_t i = 0; i < t->paylen; i++)
        put8(p, 'a' + i % 26);
}

static uint32_t tcp_hdr_len(const struct tcp_spec *t) { return 20 + ((t->optlen + 3) & ~3u); }

/* IPv4 (with options and fragment field) + TCP; returns the IP header offset. */
static uint32_t put_v4_tcp(struct pb *p, const uint8_t *ipopts, uint32_t ipoptlen, uint16_t frag,
                           const struct tcp_spec *t)
{
    uint32_t ip = put_ipv4(p, 6, ipopts, ipoptlen, frag);

    put_tcp(p, t);
    ipv4_fix_len(p, ip);
    return ip;
}

static uint32_t put_v6_tcp(struct pb *p, const struct tcp_spec *t)
{
    uint32_t ip = put_ipv6(p, 6);

    put_tcp(p, t);
    ipv6_fix_len(p, ip);
    return ip;
}

/* Linux-style SYN options: MSS 1460, SACK_PERM, TS, NOP, WS 7. */
static const uint8_t OPTS_LINUX[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x01, 0x02, 0x03, 0x04,
                                       0x05, 0x06, 0x07, 0x08, 1, 3, 3, 7};

/* ---- decoding from an exact-size heap copy ----------------------------- */

static uint8_t *g_buf; /* last frame handed to decode_packet(), exactly caplen bytes */

static enum decode_result dec_n(int lt, const struct pb *p, uint32_t caplen, struct pkt_view *pv)
{
    free(g_buf);
    g_buf = NULL;
    if (caplen) {
        g_buf = malloc(caplen);
        if (g_buf == NULL)
            abort();
        memcpy(g_buf, p->b, caplen);
    }
    return decode_packet(lt, g_buf, caplen, pv);
}

static enum decode_result dec(int lt, const struct pb *p, struct pkt_view *pv)
{
    return dec_n(lt, p, p->n, pv);
}

/* TCP header fields against the spec that built them. */
static int check_tcp(const struct pkt_view *pv, const struct tcp_spec *t)
{
    FAIL_UNLESS(pv->sport == t->sport);
    FAIL_UNLESS(pv->dport == t->dport);
    FAIL_UNLESS(pv->seq == t->seq);
    FAIL_UNLESS(pv->ack == t->ack);
    FAIL_UNLESS(pv->flags == t->flags);
    FAIL_UNLESS(pv->window == t->win);
    FAIL_UNLESS(pv->tcp_hdr_len == tcp_hdr_len(t));
    FAIL_UNLESS(pv->payload_len == t->paylen);
    PASS;
}

/* A complete frame: TCP fields, payload in the buffer, addresses, l3. */
static int check_full(const struct pkt_view *pv, const struct tcp_spec *t, int version,
                      uint32_t l3_off, uint32_t frame_len)
{
    FAIL_IF(check_tcp(pv, t));
    FAIL_UNLESS(pv->ip_version == version);
    FAIL_UNLESS(pv->l3 == g_buf + l3_off);
    FAIL_UNLESS(pv->l3_caplen == frame_len - l3_off);
    FAIL_UNLESS(pv->truncated == 0);
    FAIL_UNLESS(pv->payload_caplen == t->paylen);
    if (t->paylen) {
        FAIL_UNLESS(pv->payload == g_buf + frame_len - t->paylen);
        FAIL_UNLESS(pv->payload[0] == 'a');
    } else {
        FAIL_UNLESS(pv->payload == NULL);
    }
    if (version == 4) {
        FAIL_UNLESS(pv->ttl == 64);
        FAIL_UNLESS(pv->src == pv->l3 + 12 && memcmp(pv->src, SRC4, 4) == 0);
        FAIL_UNLESS(pv->dst == pv->l3 + 16 && memcmp(pv->dst, DST4, 4) == 0);
    } else {
        FAIL_UNLESS(pv->ttl == 57);
        FAIL_UNLESS(pv->src == pv->l3 + 8 && memcmp(pv->src, SRC6, 16) == 0);
        FAIL_UNLESS(pv->dst == pv->l3 + 24 && memcmp(pv->dst, DST6, 16) == 0);
    }
    PASS;
}

/* ---- link layers ------------------------------------------------------- */

static int test_eth_ipv4(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    t.paylen = 100;
    pb_init(&p);
    put_eth(&p, ET_IPV4);
    put_v4_tcp(&p, NULL, 0, 0x4000 /* DF */, &t);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 14, p.n));
    FAIL_UNLESS(pv.vlan_count == 0 && pv.vlan[0] == 0);
    /* no options: all absent */
    FAIL_UNLESS(pv.mss == 0 && pv.wscale == 0xff && pv.sack_perm == 0 && pv.has_ts == 0);
    FAIL_UNLESS(pv.opt_count == 0);
    PASS;
}

static int test_eth_ipv6(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    t.paylen = 7;
    t.opts = OPTS_LINUX;
    t.optlen = sizeof(OPTS_LINUX);
    pb_init(&p);
    put_eth(&p, ET_IPV6);
    put_v6_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 14, p.n));
    FAIL_UNLESS(pv.mss == 1460 && pv.has_ts);
    PASS;
}

static int test_vlan_single(void)
{
    static const uint16_t tpid[1] = {0x8100};
    static const uint16_t tci[1] = {0x2000 | 42}; /* PCP 1 */
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    pb_init(&p);
    put_eth_tags(&p, tpid, tci, 1, ET_IPV6);
    put_v6_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 18, p.n));
    FAIL_UNLESS(pv.vlan_count == 1 && pv.vlan[0] == 42 && pv.vlan[1] == 0);
    PASS;
}

static int test_vlan_stacked(void)
{
    /* 802.1ad outer, 0x9100, then 802.1Q; PCP and DEI bits must be masked off */
    static const uint16_t tpid[3] = {0x88a8, 0x9100, 0x8100};
    static const uint16_t tci[3] = {0xe000 | 100, 0x1000 | 200, 0xf000 | 4095};
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    t.paylen = 3;
    pb_init(&p);
    put_eth_tags(&p, tpid, tci, 3, ET_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 14 + 12, p.n));
    FAIL_UNLESS(pv.vlan_count == 3);
    FAIL_UNLESS(pv.vlan[0] == 100 && pv.vlan[1] == 200);
    PASS;
}

static int test_vlan_deep(void)
{
    /* 300 tags: all skipped, the count saturates, the first two IDs are kept */
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();
    uint32_t ip;

    pb_init(&p);
    put_eth_addrs(&p);
    for (int i = 0; i < 300; i++) {
        put16(&p, i % 2 ? 0x8100 : 0x88a8);
        put16(&p, (uint32_t)(i + 1));
    }
    put16(&p, ET_IPV4);
    ip = put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, ip, p.n));
    FAIL_UNLESS(pv.vlan_count == UINT8_MAX && pv.vlan[0] == 1 && pv.vlan[1] == 2);
    /* cut inside the tag stack */
    FAIL_UNLESS(dec_n(DLT_EN10MB, &p, 14 + 4 * 150 + 2, &pv) == DECODE_TRUNC_LINK);
    PASS;
}

static int test_vlan_not_ip(void)
{
    static const uint16_t tpid[2] = {0x88a8, 0x8100};
    static const uint16_t tci[2] = {10, 20};
    struct pb p;
    struct pkt_view pv;

    pb_init(&p);
    put_eth_tags(&p, tpid, tci, 2, ET_ARP);
    put_fill(&p, 0, 28);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_IP);
    FAIL_UNLESS(pv.vlan_count == 2 && pv.vlan[0] == 10 && pv.vlan[1] == 20);
    PASS;
}

static int test_llc_snap(void)
{
    static const uint8_t snap[8] = {0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00};
    static const uint8_t stp[3] = {0x42, 0x42, 0x03};
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();
    uint32_t ip;

    pb_init(&p);
    put_eth(&p, 0);
    put_bytes(&p, snap, sizeof(snap));
    ip = put_v4_tcp(&p, NULL, 0, 0, &t);
    set16(&p, 12, p.n - 14); /* 802.3 length field */
    FAIL_UNLESS(ip == 22);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 22, p.n));

    /* spanning tree BPDU: LLC without SNAP */
    pb_init(&p);
    put_eth(&p, 38);
    put_bytes(&p, stp, sizeof(stp));
    put_fill(&p, 0, 35);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_IP);

    /* SNAP carrying ARP */
    pb_init(&p);
    put_eth(&p, 36);
    put_bytes(&p, snap, 6);
    put16(&p, ET_ARP);
    put_fill(&p, 0, 28);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_IP);

    /* SNAP SAPs with a control field other than UI */
    pb_init(&p);
    put_eth(&p, 48);
    put_bytes(&p, snap, 2);
    put8(&p, 0x13);
    put_fill(&p, 0, 45);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_IP);

    /* SNAP whose type is itself a length: no second LLC header */
    pb_init(&p);
    put_eth(&p, 46);
    put_bytes(&p, snap, 6);
    put16(&p, 30);
    put_bytes(&p, snap, sizeof(snap));
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_IP);

    /* 0x0600 > type > 1500: undefined, not IP */
    pb_init(&p);
    put_eth(&p, 1501);
    put_fill(&p, 0, 46);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_IP);
    PASS;
}

static int test_sll(void)
{
    static const uint8_t snap[8] = {0xaa, 0xaa, 0x03, 0, 0, 0, 0x86, 0xdd};
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    pb_init(&p);
    put_sll(&p, ET_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_LINUX_SLL, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 16, p.n));

    /* VLAN tag left in by the kernel: protocol 0x8100, then TCI + type */
    pb_init(&p);
    put_sll(&p, 0x8100);
    put16(&p, 0x0123);
    put16(&p, ET_IPV6);
    put_v6_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_LINUX_SLL, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 20, p.n));
    FAIL_UNLESS(pv.vlan_count == 1 && pv.vlan[0] == 0x123);

    /* protocol 0x0004: 802.2 LLC frame */
    pb_init(&p);
    put_sll(&p, 0x0004);
    put_bytes(&p, snap, sizeof(snap));
    put_v6_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_LINUX_SLL, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 24, p.n));

    /* other ETH_P_* pseudo-protocols and ARP */
    pb_init(&p);
    put_sll(&p, 0x0001);
    put_fill(&p, 0, 40);
    FAIL_UNLESS(dec(DLT_LINUX_SLL, &p, &pv) == DECODE_NOT_IP);
    pb_init(&p);
    put_sll(&p, ET_ARP);
    put_fill(&p, 0, 28);
    FAIL_UNLESS(dec(DLT_LINUX_SLL, &p, &pv) == DECODE_NOT_IP);

    /* ethertype IPv4 but a version 6 packet */
    pb_init(&p);
    put_sll(&p, ET_IPV4);
    put_v6_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_LINUX_SLL, &p, &pv) == DECODE_BAD_IP_VERSION);
    PASS;
}

static int test_sll2(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    pb_init(&p);
    put_sll2(&p, ET_IPV6);
    put_v6_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_LINUX_SLL2, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 20, p.n));

    pb_init(&p);
    put_sll2(&p, 0x8100);
    put16(&p, 7);
    put16(&p, ET_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_LINUX_SLL2, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 24, p.n));
    FAIL_UNLESS(pv.vlan_count == 1 && pv.vlan[0] == 7);

    pb_init(&p);
    put_sll2(&p, ET_ARP);
    put_fill(&p, 0, 28);
    FAIL_UNLESS(dec(DLT_LINUX_SLL2, &p, &pv) == DECODE_NOT_IP);
    PASS;
}

static int test_null(void)
{
    static const uint32_t af6[] = {10, 23, 24, 28, 30};
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    for (int le = 0; le <= 1; le++) {
        pb_init(&p);
        put_null(&p, 2, le);
        put_v4_tcp(&p, NULL, 0, 0, &t);
        FAIL_UNLESS(dec(DLT_NULL, &p, &pv) == DECODE_OK);
        FAIL_IF(check_full(&pv, &t, 4, 4, p.n));
        for (size_t i = 0; i < sizeof(af6) / sizeof(af6[0]); i++) {
            pb_init(&p);
            put_null(&p, af6[i], le);
            put_v6_tcp(&p, &t);
            FAIL_UNLESS(dec(DLT_NULL, &p, &pv) == DECODE_OK);
            FAIL_IF(check_full(&pv, &t, 6, 4, p.n));
        }
        /* unknown family */
        pb_init(&p);
        put_null(&p, 7, le);
        put_v4_tcp(&p, NULL, 0, 0, &t);
        FAIL_UNLESS(dec(DLT_NULL, &p, &pv) == DECODE_NOT_IP);
        /* family says IPv4, packet is IPv6 */
        pb_init(&p);
        put_null(&p, 2, le);
        put_v6_tcp(&p, &t);
        FAIL_UNLESS(dec(DLT_NULL, &p, &pv) == DECODE_BAD_IP_VERSION);
    }
    PASS;
}

static int test_loop(void)
{
    static const uint32_t af6[] = {24, 28, 30};
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    pb_init(&p);
    put_null(&p, 2, 0);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_LOOP, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 4, p.n));
    for (size_t i = 0; i < sizeof(af6) / sizeof(af6[0]); i++) {
        pb_init(&p);
        put_null(&p, af6[i], 0);
        put_v6_tcp(&p, &t);
        FAIL_UNLESS(dec(DLT_LOOP, &p, &pv) == DECODE_OK);
        FAIL_IF(check_full(&pv, &t, 6, 4, p.n));
    }
    /* DLT_LOOP is network order only: a little-endian AF_INET is unknown */
    pb_init(&p);
    put_null(&p, 2, 1);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_LOOP, &p, &pv) == DECODE_NOT_IP);
    PASS;
}

static int test_raw(void)
{
    static const int raw_types[] = {DLT_RAW, 101, 14, DLT_IPV4};
    struct pb p4, p6, p5;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    pb_init(&p4);
    put_v4_tcp(&p4, NULL, 0, 0, &t);
    pb_init(&p6);
    put_v6_tcp(&p6, &t);
    pb_init(&p5);
    put_v4_tcp(&p5, NULL, 0, 0, &t);
    p5.b[0] = 0x55;

    for (size_t i = 0; i < sizeof(raw_types) / sizeof(raw_types[0]); i++) {
        FAIL_UNLESS(dec(raw_types[i], &p4, &pv) == DECODE_OK);
        FAIL_IF(check_full(&pv, &t, 4, 0, p4.n));
        FAIL_UNLESS(dec(raw_types[i], &p5, &pv) == DECODE_BAD_IP_VERSION);
    }
    for (size_t i = 0; i < 3; i++) { /* raw types pick the version from the nibble */
        FAIL_UNLESS(dec(raw_types[i], &p6, &pv) == DECODE_OK);
        FAIL_IF(check_full(&pv, &t, 6, 0, p6.n));
    }
    FAIL_UNLESS(dec(DLT_IPV6, &p6, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 0, p6.n));
    /* DLT_IPV4 / DLT_IPV6 announce the version: a mismatch is an error */
    FAIL_UNLESS(dec(DLT_IPV4, &p6, &pv) == DECODE_BAD_IP_VERSION);
    FAIL_UNLESS(dec(DLT_IPV6, &p4, &pv) == DECODE_BAD_IP_VERSION);
    PASS;
}

/* ---- PPP, PPPoE, Cisco HDLC, FDDI, NFLOG ------------------------------ */

#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057
#define PPP_LCP 0xc021
#define PPP_VJC 0x002d /* Van Jacobson compressed TCP/IP */

/* PPP header: ff 03 when acf, then the protocol, 1 byte when pfc (odd protocols only). */
static void put_ppp(struct pb *p, int acf, int pfc, uint16_t proto)
{
    if (acf) {
        put8(p, 0xff);
        put8(p, 0x03);
    }
    if (pfc)
        put8(p, proto);
    else
        put16(p, proto);
}

/* PPPoE session header: version/type 0x11, code, session id, payload length (fixed later). */
static uint32_t put_pppoe(struct pb *p, uint8_t code)
{
    uint32_t off = p->n;

    put8(p, 0x11);
    put8(p, code);
    put16(p, 0x2a01);
    put16(p, 0);
    return off;
}

static void pppoe_fix_len(struct pb *p, uint32_t off) { set16(p, off + 4, p->n - off - 6); }

/* Cisco HDLC: address (0x0f unicast, 0x8f multicast), control 0, ethertype. */
static void put_chdlc(struct pb *p, uint8_t addr, uint16_t type)
{
    put8(p, addr);
    put8(p, 0);
    put16(p, type);
}

/* FDDI: frame control, destination, source (13 bytes), then LLC/SNAP with type. */
static void put_fddi_snap(struct pb *p, uint8_t fc, uint16_t type)
{
    static const uint8_t snap[6] = {0xaa, 0xaa, 0x03, 0, 0, 0};

    put8(p, fc);
    put_eth_addrs(p);
    put_bytes(p, snap, sizeof(snap));
    put16(p, type);
}

/* NFLOG TLV length and type: host byte order, as libpcap hands them over. */
static void put16_host(struct pb *p, uint16_t v)
{
    memcpy(p->b + p->n, &v, sizeof(v));
    p->n += sizeof(v);
}

#define NFLOG_AF_INET 2
#define NFLOG_AF_INET6 10
#define NFULA_PACKET_HDR 1
#define NFULA_IFINDEX_OUTDEV 5
#define NFULA_PAYLOAD 9
#define NFULA_PREFIX 10
#define NFULA_UID 11
#define NFULA_GID 14

/* NFLOG header: family, version, resource id (big-endian). */
static void put_nflog_hdr(struct pb *p, uint8_t family, uint8_t version)
{
    put8(p, family);
    put8(p, version);
    put16(p, 40);
}

/* One TLV: length (header + value, not the padding), type, value, zero padding to 4. */
static void put_nflog_tlv(struct pb *p, uint16_t type, const uint8_t *val, uint32_t len)
{
    put16_host(p, (uint16_t)(4 + len));
    put16_host(p, type);
    if (len)
        put_bytes(p, val, len);
    put_fill(p, 0, (4 - len % 4) % 4);
}

/*
 * The TLVs that precede the payload in frame 1 of the corpus' arkime/nflog.pcap
 * (packet header, 1-byte empty prefix, output interface, uid, gid): 44 bytes,
 * so the IP header starts at offset 48.
 */
static void put_nflog_meta(struct pb *p)
{
    static const uint8_t pkthdr[4] = {0x08, 0x00, 3, 0}; /* hw_protocol, hook, pad */
    static const uint8_t prefix[1] = {0};
    static const uint8_t ifidx[4] = {0, 0, 0, 2};
    static const uint8_t uid[4] = {0, 0, 0x06, 0x4c};
    static const uint8_t gid[4] = {0, 0, 0x04, 0x02};

    put_nflog_tlv(p, NFULA_PACKET_HDR, pkthdr, sizeof(pkthdr));
    put_nflog_tlv(p, NFULA_PREFIX, prefix, sizeof(prefix));
    put_nflog_tlv(p, NFULA_IFINDEX_OUTDEV, ifidx, sizeof(ifidx));
    put_nflog_tlv(p, NFULA_UID, uid, sizeof(uid));
    put_nflog_tlv(p, NFULA_GID, gid, sizeof(gid));
}

/* Payload TLV header; its length is set by nflog_fix_len() once the packet is in. */
static uint32_t put_nflog_payload_hdr(struct pb *p)
{
    uint32_t off = p->n;

    put16_host(p, 0);
    put16_host(p, NFULA_PAYLOAD);
    return off;
}

static void nflog_set_len(struct pb *p, uint32_t off, uint32_t len)
{
    uint16_t v = (uint16_t)len;

    memcpy(p->b + off, &v, sizeof(v));
}

static void nflog_fix_len(struct pb *p, uint32_t off) { nflog_set_len(p, off, p->n - off); }

static void nflog_pad(struct pb *p)
{
    while (p->n % 4)
        put8(p, 0);
}

/* family + meta TLVs + payload TLV holding an IPv4 (4) or IPv6 (6) TCP segment. */
static uint32_t put_nflog_tcp(struct pb *p, uint8_t family, int version,
                              const struct tcp_spec *t)
{
    uint32_t tlv, ip;

    put_nflog_hdr(p, family, 0);
    put_nflog_meta(p);
    tlv = put_nflog_payload_hdr(p);
    ip = version == 4 ? put_v4_tcp(p, NULL, 0, 0, t) : put_v6_tcp(p, t);
    nflog_fix_len(p, tlv);
    return ip;
}

static int test_ppp(void)
{
    static const int lts[2] = {DLT_PPP, DLT_PPP_SERIAL};
    /* each way to write the PPP header: ff 03 or not, 2-byte or compressed protocol */
    static const struct {
        int acf, pfc, version;
        uint32_t l3;
    } hdr[] = {
        {1, 0, 4, 4}, {1, 0, 6, 4}, {0, 0, 4, 2}, {0, 0, 6, 2},
        {1, 1, 4, 3}, {1, 1, 6, 3}, {0, 1, 4, 1}, {0, 1, 6, 1},
    };
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    t.paylen = 9;
    for (size_t l = 0; l < 2; l++) {
        int lt = lts[l];

        for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++) {
            pb_init(&p);
            put_ppp(&p, hdr[i].acf, hdr[i].pfc, hdr[i].version == 4 ? PPP_IPV4 : PPP_IPV6);
            if (hdr[i].version == 4)
                put_v4_tcp(&p, NULL, 0, 0, &t);
            else
                put_v6_tcp(&p, &t);
            FAIL_UNLESS(dec(lt, &p, &pv) == DECODE_OK);
            FAIL_IF(check_full(&pv, &t, hdr[i].version, hdr[i].l3, p.n));
        }
        /* Cisco HDLC framing (LINKTYPE_PPP_HDLC allows it; so do we for DLT_PPP) */
        pb_init(&p);
        put_chdlc(&p, 0x0f, ET_IPV4);
        put_v4_tcp(&p, NULL, 0, 0, &t);
        FAIL_UNLESS(dec(lt, &p, &pv) == DECODE_OK);
        FAIL_IF(check_full(&pv, &t, 4, 4, p.n));
        pb_init(&p);
        put_chdlc(&p, 0x8f, ET_IPV6);
        put_v6_tcp(&p, &t);
        FAIL_UNLESS(dec(lt, &p, &pv) == DECODE_OK);
        FAIL_IF(check_full(&pv, &t, 6, 4, p.n));

        /* control protocols and compressed TCP are not IP */
        pb_init(&p);
        put_ppp(&p, 1, 0, PPP_LCP);
        put_fill(&p, 0, 10);
        FAIL_UNLESS(dec(lt, &p, &pv) == DECODE_NOT_IP);
        pb_init(&p);
        put_ppp(&p, 0, 0, 0x8021); /* IPCP */
        put_fill(&p, 0, 10);
        FAIL_UNLESS(dec(lt, &p, &pv) == DECODE_NOT_IP);
        pb_init(&p);
        put_ppp(&p, 1, 0, PPP_VJC);
        put_v4_tcp(&p, NULL, 0, 0, &t);
        FAIL_UNLESS(dec(lt, &p, &pv) == DECODE_NOT_IP);
        pb_init(&p);
        put_ppp(&p, 0, 1, PPP_VJC);
        put_v4_tcp(&p, NULL, 0, 0, &t);
        FAIL_UNLESS(dec(lt, &p, &pv) == DECODE_NOT_IP);
        /* address ff with a control byte other than 03 */
        pb_init(&p);
        put8(&p, 0xff);
        put8(&p, 0x13);
        put16(&p, PPP_IPV4);
        put_v4_tcp(&p, NULL, 0, 0, &t);
        FAIL_UNLESS(dec(lt, &p, &pv) == DECODE_NOT_IP);
        /* protocol says IPv4, packet is IPv6 (and the reverse, compressed) */
        pb_init(&p);
        put_ppp(&p, 1, 0, PPP_IPV4);
        put_v6_tcp(&p, &t);
        FAIL_UNLESS(dec(lt, &p, &pv) == DECODE_BAD_IP_VERSION);
        pb_init(&p);
        put_ppp(&p, 0, 1, PPP_IPV6);
        put_v4_tcp(&p, NULL, 0, 0, &t);
        FAIL_UNLESS(dec(lt, &p, &pv) == DECODE_BAD_IP_VERSION);
        /* header cut: ff | ff 03 | ff 03 00 | 00 (first byte of a 2-byte protocol) */
        pb_init(&p);
        put_ppp(&p, 1, 0, PPP_IPV4);
        put_v4_tcp(&p, NULL, 0, 0, &t);
        for (uint32_t n = 0; n < 4; n++)
            FAIL_UNLESS(dec_n(lt, &p, n, &pv) == DECODE_TRUNC_LINK);
        FAIL_UNLESS(dec_n(lt, &p, 4, &pv) == DECODE_TRUNC_IP);
        pb_init(&p);
        put_ppp(&p, 0, 0, PPP_IPV6);
        put_v6_tcp(&p, &t);
        FAIL_UNLESS(dec_n(lt, &p, 1, &pv) == DECODE_TRUNC_LINK);
        FAIL_UNLESS(dec_n(lt, &p, 2, &pv) == DECODE_TRUNC_IP);
        /* Cisco header cut */
        pb_init(&p);
        put_chdlc(&p, 0x0f, ET_IPV4);
        put_v4_tcp(&p, NULL, 0, 0, &t);
        FAIL_UNLESS(dec_n(lt, &p, 3, &pv) == DECODE_TRUNC_LINK);
        FAIL_UNLESS(dec_n(lt, &p, 4, &pv) == DECODE_TRUNC_IP);
    }
    PASS;
}

/* Frame 3 of the corpus' tcptrace/ppp_encap.dmp.gz (DLT_PPP): a SYN to port 22. */
static const uint8_t PPP_REAL_SYN[64] = {
    0xff, 0x03, 0x00, 0x21, 0x45, 0x00, 0x00, 0x3c, 0x04, 0x54, 0x40, 0x00, 0x40, 0x06, 0x75, 0x85,
    0xc6, 0xa6, 0x5a, 0x27, 0x9f, 0x12, 0x01, 0x03, 0xd6, 0x9e, 0x00, 0x16, 0x6f, 0xab, 0x2a, 0x54,
    0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0x80, 0x00, 0xe2, 0xd0, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    0x01, 0x03, 0x03, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x00, 0x1f, 0xb6, 0x80, 0x00, 0x00, 0x00, 0x00,
};

static int test_ppp_real_frame(void)
{
    static const uint8_t src[4] = {198, 166, 90, 39};
    static const uint8_t dst[4] = {159, 18, 1, 3};
    struct pb p;
    struct pkt_view pv;

    pb_init(&p);
    put_bytes(&p, PPP_REAL_SYN, sizeof(PPP_REAL_SYN));
    FAIL_UNLESS(dec(DLT_PPP, &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.ip_version == 4 && pv.l3 == g_buf + 4 && pv.l3_caplen == 60);
    FAIL_UNLESS(memcmp(pv.src, src, 4) == 0 && memcmp(pv.dst, dst, 4) == 0);
    FAIL_UNLESS(pv.sport == 54942 && pv.dport == 22 && pv.seq == 1873488468u);
    FAIL_UNLESS(pv.flags == TCPF_SYN && pv.window == 32768 && pv.tcp_hdr_len == 40);
    FAIL_UNLESS(pv.mss == 1460 && pv.wscale == 0 && pv.has_ts && pv.tsval == 2078336);
    FAIL_UNLESS(pv.payload_len == 0 && pv.payload == NULL && pv.truncated == 0);
    /* the same packet with the address/control and protocol fields compressed */
    pb_init(&p);
    put8(&p, 0x21);
    put_bytes(&p, PPP_REAL_SYN + 4, sizeof(PPP_REAL_SYN) - 4);
    FAIL_UNLESS(dec(DLT_PPP_SERIAL, &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.l3 == g_buf + 1 && pv.sport == 54942 && pv.tsval == 2078336);
    PASS;
}

static int test_pppoe(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();
    uint32_t h;

    t.paylen = 33;
    pb_init(&p);
    h = put_pppoe(&p, 0);
    put_ppp(&p, 0, 0, PPP_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    pppoe_fix_len(&p, h);
    FAIL_UNLESS(dec(DLT_PPP_ETHER, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 8, p.n));

    pb_init(&p);
    h = put_pppoe(&p, 0);
    put_ppp(&p, 0, 0, PPP_IPV6);
    put_v6_tcp(&p, &t);
    pppoe_fix_len(&p, h);
    FAIL_UNLESS(dec(DLT_PPP_ETHER, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 8, p.n));

    /* compressed protocol field; ff 03 (not supposed to be sent, tolerated) */
    pb_init(&p);
    h = put_pppoe(&p, 0);
    put_ppp(&p, 0, 1, PPP_IPV6);
    put_v6_tcp(&p, &t);
    pppoe_fix_len(&p, h);
    FAIL_UNLESS(dec(DLT_PPP_ETHER, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 7, p.n));
    pb_init(&p);
    h = put_pppoe(&p, 0);
    put_ppp(&p, 1, 0, PPP_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    pppoe_fix_len(&p, h);
    FAIL_UNLESS(dec(DLT_PPP_ETHER, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 10, p.n));

    /* LCP in the session; discovery (PADI); unknown version/type */
    pb_init(&p);
    h = put_pppoe(&p, 0);
    put_ppp(&p, 0, 0, PPP_LCP);
    put_fill(&p, 0, 14);
    pppoe_fix_len(&p, h);
    FAIL_UNLESS(dec(DLT_PPP_ETHER, &p, &pv) == DECODE_NOT_IP);
    pb_init(&p);
    h = put_pppoe(&p, 0x09);
    put_ppp(&p, 0, 0, PPP_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    pppoe_fix_len(&p, h);
    FAIL_UNLESS(dec(DLT_PPP_ETHER, &p, &pv) == DECODE_NOT_IP);
    p.b[1] = 0;
    p.b[0] = 0x21;
    FAIL_UNLESS(dec(DLT_PPP_ETHER, &p, &pv) == DECODE_NOT_IP);
    p.b[0] = 0x11;
    FAIL_UNLESS(dec(DLT_PPP_ETHER, &p, &pv) == DECODE_OK);

    /* PPP protocol IPv6, packet IPv4; cut in the PPPoE / PPP header */
    pb_init(&p);
    h = put_pppoe(&p, 0);
    put_ppp(&p, 0, 0, PPP_IPV6);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    pppoe_fix_len(&p, h);
    FAIL_UNLESS(dec(DLT_PPP_ETHER, &p, &pv) == DECODE_BAD_IP_VERSION);
    for (uint32_t n = 0; n < 8; n++)
        FAIL_UNLESS(dec_n(DLT_PPP_ETHER, &p, n, &pv) == DECODE_TRUNC_LINK);
    FAIL_UNLESS(dec_n(DLT_PPP_ETHER, &p, 8, &pv) == DECODE_TRUNC_IP);
    PASS;
}

/* PPPoE session frames inside Ethernet (ethertype 0x8864), tagged or not: the DSL/FTTH access case. */
static int test_pppoe_in_ethernet(void)
{
    static const uint16_t tpid[2] = {0x88a8, 0x8100}, tci[2] = {0x2064, 0x0007};
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();
    uint32_t h;

    t.paylen = 21;
    pb_init(&p);
    put_eth(&p, 0x8864);
    h = put_pppoe(&p, 0);
    put_ppp(&p, 0, 0, PPP_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    pppoe_fix_len(&p, h);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 14 + 6 + 2, p.n));
    FAIL_UNLESS(pv.vlan_count == 0);
    /* cut anywhere in the PPPoE or PPP header: the link layer is truncated */
    for (uint32_t n = 14; n < 14 + 6 + 2; n++)
        FAIL_UNLESS(dec_n(DLT_EN10MB, &p, n, &pv) == DECODE_TRUNC_LINK);

    /* the usual access-network stack: S-tag, C-tag, PPPoE, IPv6 */
    pb_init(&p);
    put_eth_tags(&p, tpid, tci, 2, 0x8864);
    h = put_pppoe(&p, 0);
    put_ppp(&p, 0, 0, PPP_IPV6);
    put_v6_tcp(&p, &t);
    pppoe_fix_len(&p, h);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 14 + 8 + 6 + 2, p.n));
    FAIL_UNLESS(pv.vlan_count == 2 && pv.vlan[0] == 0x064 && pv.vlan[1] == 7);

    /* discovery stage (0x8863) and LCP inside a session are not IP */
    pb_init(&p);
    put_eth(&p, 0x8863);
    h = put_pppoe(&p, 0x09);
    put_fill(&p, 0, 20);
    pppoe_fix_len(&p, h);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_IP);
    pb_init(&p);
    put_eth(&p, 0x8864);
    h = put_pppoe(&p, 0);
    put_ppp(&p, 0, 0, PPP_LCP);
    put_fill(&p, 0, 14);
    pppoe_fix_len(&p, h);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_IP);

    /* Linux cooked capture on a PPPoE-carrying interface: the same path */
    pb_init(&p);
    put_sll(&p, 0x8864);
    h = put_pppoe(&p, 0);
    put_ppp(&p, 0, 0, PPP_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    pppoe_fix_len(&p, h);
    FAIL_UNLESS(dec(DLT_LINUX_SLL, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 16 + 6 + 2, p.n));
    PASS;
}

/* ---- GTP-U ------------------------------------------------------------- */

static uint32_t put_udp(struct pb *p, uint16_t sport, uint16_t dport)
{
    uint32_t off = p->n;
    put16(p, sport);
    put16(p, dport);
    put16(p, 0); /* length, see udp_fix_len() */
    put16(p, 0); /* checksum: not checked */
    return off;
}

static void udp_fix_len(struct pb *p, uint32_t off) { set16(p, off + 4, p->n - off); }

/* GTPv1-U header: flags, message type, length (see gtpu_fix_len()), TEID. */
static uint32_t put_gtpu(struct pb *p, uint8_t flags, uint8_t type)
{
    uint32_t off = p->n;
    put8(p, flags);
    put8(p, type);
    put16(p, 0);
    put32(p, 0x0badcafe);
    return off;
}

static void gtpu_fix_len(struct pb *p, uint32_t off) { set16(p, off + 2, p->n - off - 8); }

/*
 * Ethernet, IPv4, UDP sport -> dport, GTP-U (flags, type), then the user's
 * IPv4 TCP packet t, or with nested != 0 one more IPv4/UDP/GTP-U layer first.
 * Returns the offset of the user's IP header; *u and *g get the UDP and GTP offsets.
 */
static uint32_t put_gtpu_frame(struct pb *p, uint16_t sport, uint16_t dport, uint8_t flags,
                               uint8_t type, int nested, const struct tcp_spec *t, uint32_t *u,
                               uint32_t *g)
{
    uint32_t ip, inner, ip2 = 0, u2 = 0, g2 = 0;

    pb_init(p);
    put_eth(p, ET_IPV4);
    ip = put_ipv4(p, 17, NULL, 0, 0);
    *u = put_udp(p, sport, dport);
    *g = put_gtpu(p, flags, type);
    if (nested) {
        ip2 = put_ipv4(p, 17, NULL, 0, 0);
        u2 = put_udp(p, 2152, 2152);
        g2 = put_gtpu(p, 0x30, 0xff);
    }
    inner = p->n;
    put_v4_tcp(p, NULL, 0, 0, t);
    if (nested) {
        gtpu_fix_len(p, g2);
        udp_fix_len(p, u2);
        ipv4_fix_len(p, ip2);
    }
    gtpu_fix_len(p, *g);
    udp_fix_len(p, *u);
    ipv4_fix_len(p, ip);
    return inner;
}

static int test_gtpu(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();
    uint32_t ip, u, g, inner;

    t.paylen = 17;
    /* a plain G-PDU: the view is the user's packet */
    inner = put_gtpu_frame(&p, 2152, 2152, 0x30, 0xff, 0, &t, &u, &g);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, inner, p.n));
    FAIL_UNLESS(pv.tunnel == DECODE_TUNNEL_GTPU);
    /* cut in the UDP or GTP header: nothing says TCP; cut in the user's IP header */
    for (uint32_t n = u; n < inner; n++)
        FAIL_UNLESS(dec_n(DLT_EN10MB, &p, n, &pv) == DECODE_NOT_TCP);
    FAIL_UNLESS(dec_n(DLT_EN10MB, &p, inner + 10, &pv) == DECODE_TRUNC_IP);
    /* bytes after the G-PDU in the datagram are not the user's */
    put_fill(&p, 0xee, 6);
    udp_fix_len(&p, u);
    ipv4_fix_len(&p, 14);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.l3 == g_buf + inner && pv.l3_caplen == p.n - 6 - inner);
    /* a GTP length beyond the datagram: malformed */
    set16(&p, g + 2, p.n - g);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_TCP);

    /* not a user packet: echo request, GTP' (PT 0), GTPv2, another port, a tunnel in the tunnel */
    put_gtpu_frame(&p, 2152, 2152, 0x32, 0x01, 0, &t, &u, &g);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_TCP);
    put_gtpu_frame(&p, 2152, 2152, 0x20, 0xff, 0, &t, &u, &g);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_TCP);
    put_gtpu_frame(&p, 2152, 2152, 0x50, 0xff, 0, &t, &u, &g);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_TCP);
    put_gtpu_frame(&p, 2153, 2123, 0x30, 0xff, 0, &t, &u, &g);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_TCP);
    put_gtpu_frame(&p, 2152, 2152, 0x30, 0xff, 1, &t, &u, &g);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_TCP);
    /* the server side's port alone is enough */
    inner = put_gtpu_frame(&p, 2152, 33000, 0x30, 0xff, 0, &t, &u, &g);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, inner, p.n));

    /* 5G N3: outer IPv6, sequence number, a PDU session container extension, user IPv6 */
    pb_init(&p);
    put_eth(&p, ET_IPV6);
    ip = put_ipv6(&p, 17);
    u = put_udp(&p, 40000, 2152);
    g = put_gtpu(&p, 0x36, 0xff); /* E and S */
    put16(&p, 7);                 /* sequence number */
    put8(&p, 0);                  /* N-PDU number */
    put8(&p, 0x85);               /* next extension: PDU session container */
    put8(&p, 1);                  /* 1 x 4 bytes */
    put8(&p, 0x10);
    put8(&p, 0x09);
    put8(&p, 0);                  /* no further extension */
    inner = p.n;
    put_v6_tcp(&p, &t);
    gtpu_fix_len(&p, g);
    udp_fix_len(&p, u);
    ipv6_fix_len(&p, ip);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, inner, p.n));
    FAIL_UNLESS(pv.tunnel == DECODE_TUNNEL_GTPU);
    /* an extension of length 0, or one running past the GTP length: malformed */
    p.b[g + 12] = 0;
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_TCP);
    p.b[g + 12] = 200;
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_TCP);
    p.b[g + 12] = 1;
    /* extensions chained without end: given up after a few */
    p.b[g + 15] = 0x85;
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) != DECODE_OK);
    PASS;
}

static int test_chdlc(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    t.paylen = 2;
    pb_init(&p);
    put_chdlc(&p, 0x0f, ET_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_C_HDLC, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 4, p.n));
    pb_init(&p);
    put_chdlc(&p, 0x8f, ET_IPV6);
    put_v6_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_C_HDLC, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 4, p.n));

    /* SLARP keepalive; a PPP header is no Cisco HDLC (type 0x0021) */
    pb_init(&p);
    put_chdlc(&p, 0x8f, 0x8035);
    put_fill(&p, 0, 18);
    FAIL_UNLESS(dec(DLT_C_HDLC, &p, &pv) == DECODE_NOT_IP);
    pb_init(&p);
    put_ppp(&p, 1, 0, PPP_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_C_HDLC, &p, &pv) == DECODE_NOT_IP);
    /* no VLAN or LLC parsing after a Cisco HDLC type */
    pb_init(&p);
    put_chdlc(&p, 0x0f, 0x8100);
    put16(&p, 5);
    put16(&p, ET_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_C_HDLC, &p, &pv) == DECODE_NOT_IP);
    FAIL_UNLESS(pv.vlan_count == 0);
    /* type IPv4, packet IPv6; cut header */
    pb_init(&p);
    put_chdlc(&p, 0x0f, ET_IPV4);
    put_v6_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_C_HDLC, &p, &pv) == DECODE_BAD_IP_VERSION);
    for (uint32_t n = 0; n < 4; n++)
        FAIL_UNLESS(dec_n(DLT_C_HDLC, &p, n, &pv) == DECODE_TRUNC_LINK);
    FAIL_UNLESS(dec_n(DLT_C_HDLC, &p, 4, &pv) == DECODE_TRUNC_IP);
    PASS;
}

/*
 * Frame 1 of the corpus' tcptrace/single_byte_rexmit.dmp.gz (DLT_FDDI, shown
 * as "fddi-swapped" by Wireshark): an LLC async frame, SNAP, IPv4, a SYN.
 * The IP header starts at the odd offset 21.
 */
static const uint8_t FDDI_REAL_SYN[65] = {
    0x50, 0x00, 0x00, 0x0c, 0x7e, 0x59, 0xa0, 0x00, 0xe0, 0x34, 0x15, 0x60, 0x60, 0xaa, 0xaa, 0x03,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x45, 0x00, 0x00, 0x2c, 0x0d, 0x25, 0x40, 0x00, 0xfb, 0x06, 0xa9,
    0x44, 0x1e, 0xe5, 0x76, 0x43, 0x43, 0x52, 0x09, 0xfd, 0x91, 0x17, 0x00, 0x50, 0xda, 0x56, 0xfc,
    0x08, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0x22, 0x38, 0x44, 0xc5, 0x00, 0x00, 0x02, 0x04, 0x05,
    0xb4,
};

static int test_fddi(void)
{
    static const uint8_t src[4] = {30, 229, 118, 67};
    static const uint8_t stp[3] = {0x42, 0x42, 0x03};
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    pb_init(&p);
    put_bytes(&p, FDDI_REAL_SYN, sizeof(FDDI_REAL_SYN));
    FAIL_UNLESS(dec(DLT_FDDI, &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.ip_version == 4 && pv.l3 == g_buf + 21 && pv.l3_caplen == 44);
    FAIL_UNLESS(pv.ttl == 251 && memcmp(pv.src, src, 4) == 0);
    FAIL_UNLESS(pv.sport == 37143 && pv.dport == 80 && pv.seq == 3663133704u);
    FAIL_UNLESS(pv.flags == TCPF_SYN && pv.window == 8760 && pv.mss == 1460);
    FAIL_UNLESS(pv.payload_len == 0 && pv.truncated == 0);

    /* async (0x50..0x57) and sync (0xd0..) LLC frames, IPv4 and IPv6 */
    t.paylen = 20;
    pb_init(&p);
    put_fddi_snap(&p, 0x57, ET_IPV6);
    put_v6_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_FDDI, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 21, p.n));
    pb_init(&p);
    put_fddi_snap(&p, 0xd0, ET_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_FDDI, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 21, p.n));

    /* SMT (0x41), MAC (0xc3), 16-bit-address LLC (0x10): not IP */
    p.b[0] = 0x41;
    FAIL_UNLESS(dec(DLT_FDDI, &p, &pv) == DECODE_NOT_IP);
    p.b[0] = 0xc3;
    FAIL_UNLESS(dec(DLT_FDDI, &p, &pv) == DECODE_NOT_IP);
    p.b[0] = 0x10;
    FAIL_UNLESS(dec(DLT_FDDI, &p, &pv) == DECODE_NOT_IP);
    p.b[0] = 0x50;
    FAIL_UNLESS(dec(DLT_FDDI, &p, &pv) == DECODE_OK);

    /* LLC without SNAP (spanning tree), SNAP carrying ARP, SNAP type IPv4 with IPv6 */
    pb_init(&p);
    put8(&p, 0x50);
    put_eth_addrs(&p);
    put_bytes(&p, stp, sizeof(stp));
    put_fill(&p, 0, 35);
    FAIL_UNLESS(dec(DLT_FDDI, &p, &pv) == DECODE_NOT_IP);
    pb_init(&p);
    put_fddi_snap(&p, 0x50, ET_ARP);
    put_fill(&p, 0, 28);
    FAIL_UNLESS(dec(DLT_FDDI, &p, &pv) == DECODE_NOT_IP);
    pb_init(&p);
    put_fddi_snap(&p, 0x50, ET_IPV4);
    put_v6_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_FDDI, &p, &pv) == DECODE_BAD_IP_VERSION);
    /* cut in the FDDI header, in the LLC, in the SNAP */
    for (uint32_t n = 0; n < 21; n++)
        FAIL_UNLESS(dec_n(DLT_FDDI, &p, n, &pv) == DECODE_TRUNC_LINK);
    FAIL_UNLESS(dec_n(DLT_FDDI, &p, 21, &pv) == DECODE_TRUNC_IP);
    PASS;
}

static int test_nflog(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();
    uint32_t ip, tlv, end;

    t.opts = OPTS_LINUX;
    t.optlen = sizeof(OPTS_LINUX);

    /* the layout of arkime/nflog.pcap frame 1: IPv4 SYN at offset 48 */
    t.flags = TCPF_SYN;
    pb_init(&p);
    ip = put_nflog_tcp(&p, NFLOG_AF_INET, 4, &t);
    FAIL_UNLESS(ip == 48);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 48, p.n));
    FAIL_UNLESS(pv.mss == 1460 && pv.wscale == 7 && pv.has_ts);

    /* IPv6; the payload TLV right after the header */
    t.flags = TCPF_ACK | TCPF_FIN;
    t.paylen = 8;
    pb_init(&p);
    ip = put_nflog_tcp(&p, NFLOG_AF_INET6, 6, &t);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, ip, p.n));
    pb_init(&p);
    put_nflog_hdr(&p, NFLOG_AF_INET6, 0);
    tlv = put_nflog_payload_hdr(&p);
    put_v6_tcp(&p, &t);
    nflog_fix_len(&p, tlv);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 8, p.n));

    /* IP length not a multiple of 4: TLV padding after it is not IP */
    t.paylen = 5;
    pb_init(&p);
    ip = put_nflog_tcp(&p, NFLOG_AF_INET, 4, &t);
    end = p.n;
    nflog_pad(&p);
    FAIL_UNLESS(p.n == end + 3);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, ip, end));

    /*
     * Copy range smaller than the packet: the TLV holds the IP and TCP
     * headers and 2 payload bytes; what follows the TLV is not payload.
     */
    t.paylen = 30;
    pb_init(&p);
    put_nflog_hdr(&p, NFLOG_AF_INET, 0);
    put_nflog_meta(&p);
    tlv = put_nflog_payload_hdr(&p);
    ip = put_v4_tcp(&p, NULL, 0, 0, &t);
    nflog_set_len(&p, tlv, 4 + 20 + 40 + 2);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_OK);
    FAIL_IF(check_tcp(&pv, &t));
    FAIL_UNLESS(pv.l3 == g_buf + ip && pv.l3_caplen == 62);
    FAIL_UNLESS(pv.truncated == 1 && pv.payload_caplen == 2 && pv.payload == g_buf + ip + 60);
    /* a range that cuts the TCP header */
    nflog_set_len(&p, tlv, 4 + 20 + 19);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_TRUNC_TCP);
    /* an empty payload TLV */
    nflog_set_len(&p, tlv, 4);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_TRUNC_IP);
    /* a length beyond the capture: the capture ends the packet */
    nflog_set_len(&p, tlv, 4000);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.l3_caplen == p.n - ip && pv.truncated == 0 && pv.payload_caplen == 30);
    /* netlink flag bits in the type field are ignored */
    nflog_set_len(&p, tlv, p.n - tlv);
    {
        uint16_t ty = NFULA_PAYLOAD | 0x4000;

        memcpy(p.b + tlv + 2, &ty, sizeof(ty));
    }
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_OK);

    /* family: AF_INET with IPv6 inside; AF_UNSPEC, AF_BRIDGE; version 1 */
    t.paylen = 0;
    pb_init(&p);
    put_nflog_hdr(&p, NFLOG_AF_INET, 0);
    tlv = put_nflog_payload_hdr(&p);
    put_v6_tcp(&p, &t);
    nflog_fix_len(&p, tlv);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_BAD_IP_VERSION);
    p.b[0] = 0;
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_NOT_IP);
    p.b[0] = 7;
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_NOT_IP);
    p.b[0] = NFLOG_AF_INET6;
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_OK);
    p.b[1] = 1;
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_NOT_IP);

    /* no payload TLV (copy mode "meta"): padded, or ending unpadded, or header only */
    pb_init(&p);
    put_nflog_hdr(&p, NFLOG_AF_INET, 0);
    put_nflog_meta(&p);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_NOT_IP);
    pb_init(&p);
    put_nflog_hdr(&p, NFLOG_AF_INET, 0);
    put_nflog_tlv(&p, NFULA_PREFIX, (const uint8_t *)"drop", 5);
    FAIL_UNLESS(p.n == 16);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_NOT_IP);
    FAIL_UNLESS(dec_n(DLT_NFLOG, &p, 13, &pv) == DECODE_NOT_IP);
    FAIL_UNLESS(dec_n(DLT_NFLOG, &p, 12, &pv) == DECODE_TRUNC_LINK);
    FAIL_UNLESS(dec_n(DLT_NFLOG, &p, 4, &pv) == DECODE_NOT_IP);
    for (uint32_t n = 0; n < 4; n++)
        FAIL_UNLESS(dec_n(DLT_NFLOG, &p, n, &pv) == DECODE_TRUNC_LINK);

    /* TLV lengths 0 and 3 break the chain (and must not loop) */
    for (uint32_t bad = 0; bad < 4; bad++) {
        pb_init(&p);
        put_nflog_hdr(&p, NFLOG_AF_INET, 0);
        put16_host(&p, (uint16_t)bad);
        put16_host(&p, NFULA_PREFIX);
        tlv = put_nflog_payload_hdr(&p);
        put_v4_tcp(&p, NULL, 0, 0, &t);
        nflog_fix_len(&p, tlv);
        FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_TRUNC_LINK);
    }
    /* a 4-byte TLV (empty value) is fine */
    pb_init(&p);
    put_nflog_hdr(&p, NFLOG_AF_INET, 0);
    put16_host(&p, 4);
    put16_host(&p, NFULA_PREFIX);
    tlv = put_nflog_payload_hdr(&p);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    nflog_fix_len(&p, tlv);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 12, p.n));
    /* a TLV claiming more than the frame, before the payload */
    nflog_set_len(&p, 4, 1000);
    FAIL_UNLESS(dec(DLT_NFLOG, &p, &pv) == DECODE_TRUNC_LINK);
    PASS;
}

static int test_unsupported_link(void)
{
    static const int ok[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, 101,
                             DLT_IPV4, DLT_IPV6, DLT_NULL, DLT_LOOP, DLT_PPP,
                             DLT_PPP_SERIAL, DLT_PPP_ETHER, DLT_C_HDLC, DLT_FDDI, DLT_NFLOG};
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    pb_init(&p);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_IEEE802_11, &p, &pv) == DECODE_UNSUPPORTED_LINK);
    FAIL_UNLESS(dec(DLT_SLIP, &p, &pv) == DECODE_UNSUPPORTED_LINK);
    FAIL_UNLESS(dec(-1, &p, &pv) == DECODE_UNSUPPORTED_LINK);
    FAIL_IF(decode_linktype_supported(DLT_IEEE802_11));
    FAIL_IF(decode_linktype_supported(DLT_SLIP));
    FAIL_IF(decode_linktype_supported(-1));
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        FAIL_UNLESS(decode_linktype_supported(ok[i]));
    PASS;
}

static int test_not_ip(void)
{
    struct pb p;
    struct pkt_view pv;

    pb_init(&p);
    put_eth(&p, ET_ARP);
    put16(&p, 1);
    put16(&p, 0x0800);
    put8(&p, 6);
    put8(&p, 4);
    put16(&p, 1);
    put_fill(&p, 0x33, 20);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_IP);
    pb_init(&p);
    put_eth(&p, ET_LLDP);
    put_fill(&p, 0, 46);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_IP);
    PASS;
}

/* ---- IPv4 -------------------------------------------------------------- */

static int test_ipv4_options(void)
{
    /* NOP, NOP, record route (len 7: one slot), EOL: 12 option bytes, IHL 8 */
    static const uint8_t ipopts[12] = {1, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0};
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    t.paylen = 5;
    pb_init(&p);
    put_eth(&p, ET_IPV4);
    put_v4_tcp(&p, ipopts, sizeof(ipopts), 0, &t);
    FAIL_UNLESS(p.b[14] == 0x48);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 14, p.n));

    /* maximum IHL 15: 40 option bytes */
    {
        uint8_t big[40];
        memset(big, 1, sizeof(big));
        pb_init(&p);
        put_v4_tcp(&p, big, sizeof(big), 0, &t);
        FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_OK);
        FAIL_IF(check_full(&pv, &t, 4, 0, p.n));
    }
    PASS;
}

static int test_ipv4_bad_lengths(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    /* IHL 4 and IHL 0 */
    pb_init(&p);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    p.b[0] = 0x44;
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_BAD_IP_HDRLEN);
    p.b[0] = 0x40;
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_BAD_IP_HDRLEN);

    /* total length below the header length */
    pb_init(&p);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    set16(&p, 2, 19);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_BAD_IP_TOTLEN);
    {
        static const uint8_t opts[8] = {1, 1, 1, 1, 1, 1, 1, 0};
        pb_init(&p);
        put_v4_tcp(&p, opts, sizeof(opts), 0, &t);
        set16(&p, 2, 24); /* IHL says 28 */
        FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_BAD_IP_TOTLEN);
    }

    /* total length leaves 10 bytes for TCP: a 20-byte header cannot fit */
    pb_init(&p);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    set16(&p, 2, 30);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_BAD_TCP_HDRLEN);

    /* header bytes present but IHL points past the capture */
    pb_init(&p);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    p.b[0] = 0x4f;
    FAIL_UNLESS(dec_n(DLT_RAW, &p, 50, &pv) == DECODE_TRUNC_IP);
    PASS;
}

static int test_ipv4_tso_zero_totlen(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    t.paylen = 1600; /* bigger than the 1500 MTU: a TSO super-segment */
    pb_init(&p);
    put_eth(&p, ET_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    set16(&p, 16, 0);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 14, p.n));

    /* cut by the snaplen: length from capture, so the cut is not seen */
    FAIL_UNLESS(dec_n(DLT_EN10MB, &p, 14 + 20 + 20 + 10, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.payload_len == 10 && pv.payload_caplen == 10);
    FAIL_UNLESS(dec_n(DLT_EN10MB, &p, 14 + 20 + 10, &pv) == DECODE_TRUNC_TCP);
    PASS;
}

static int test_ipv4_fragments(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();
    static const uint16_t later[] = {0x2000 | 185, 185, 1, 0x4000 | 1, 0x1fff};

    /* first fragment: MF set, offset 0 -> parsed; lengths are the fragment's */
    t.paylen = 64;
    pb_init(&p);
    put_eth(&p, ET_IPV4);
    put_v4_tcp(&p, NULL, 0, 0x2000, &t);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 4, 14, p.n));

    /* non-first (middle and last) fragments: never parsed as TCP */
    for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
        pb_init(&p);
        put_eth(&p, ET_IPV4);
        put_v4_tcp(&p, NULL, 0, later[i], &t);
        FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_IP_FRAGMENT);
        FAIL_UNLESS(pv.ip_version == 4 && pv.l3 == g_buf + 14 && pv.sport == 0);
    }
    /* a non-first fragment shorter than a TCP header is still a fragment */
    pb_init(&p);
    put_ipv4(&p, 6, NULL, 0, 100);
    put_fill(&p, 0xee, 8);
    ipv4_fix_len(&p, 0);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_IP_FRAGMENT);
    PASS;
}

static int test_etherleak(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    /* 54-byte bare ACK padded to the 60-byte Ethernet minimum */
    t.flags = TCPF_ACK;
    pb_init(&p);
    put_eth(&p, ET_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(p.n == 54);
    put_fill(&p, 0x5a, 6);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_tcp(&pv, &t));
    FAIL_UNLESS(pv.payload_len == 0 && pv.payload_caplen == 0 && pv.payload == NULL);
    FAIL_UNLESS(pv.l3_caplen == 40 && pv.truncated == 0);

    /* 2 payload bytes + 4 padding bytes */
    t.paylen = 2;
    pb_init(&p);
    put_eth(&p, ET_IPV4);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    put_fill(&p, 0x5a, 4);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.payload_len == 2 && pv.payload_caplen == 2);
    FAIL_UNLESS(pv.payload == g_buf + 54 && pv.payload[1] == 'b');
    FAIL_UNLESS(pv.l3_caplen == 42 && pv.truncated == 0);

    /* same for IPv6 over VLAN with trailer bytes */
    {
        static const uint16_t tpid[1] = {0x8100};
        static const uint16_t tci[1] = {5};
        pb_init(&p);
        put_eth_tags(&p, tpid, tci, 1, ET_IPV6);
        put_v6_tcp(&p, &t);
        put_fill(&p, 0xff, 16);
        FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
        FAIL_UNLESS(pv.payload_len == 2 && pv.payload_caplen == 2);
        FAIL_UNLESS(pv.l3_caplen == 62 && pv.truncated == 0);
    }
    PASS;
}

static int test_not_tcp(void)
{
    struct pb p;
    struct pkt_view pv;
    uint32_t ip;

    /* UDP over IPv4 */
    pb_init(&p);
    put_eth(&p, ET_IPV4);
    ip = put_ipv4(&p, 17, NULL, 0, 0);
    put16(&p, 53);
    put16(&p, 53);
    put16(&p, 8 + 4);
    put16(&p, 0);
    put32(&p, 0);
    ipv4_fix_len(&p, ip);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_TCP);
    FAIL_UNLESS(pv.ip_version == 4 && pv.ttl == 64 && memcmp(pv.src, SRC4, 4) == 0);
    FAIL_UNLESS(pv.l3 == g_buf + 14 && pv.l3_caplen == 32);

    /* ICMP over IPv4 */
    pb_init(&p);
    ip = put_ipv4(&p, 1, NULL, 0, 0);
    put_fill(&p, 0, 8);
    ipv4_fix_len(&p, ip);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_NOT_TCP);

    /* UDP over IPv6 */
    pb_init(&p);
    ip = put_ipv6(&p, 17);
    put_fill(&p, 0, 8);
    ipv6_fix_len(&p, ip);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_NOT_TCP);
    FAIL_UNLESS(pv.ip_version == 6 && pv.ttl == 57);
    PASS;
}

/* ---- IPv6 -------------------------------------------------------------- */

/* IPv6 + one kind of extension header (nh 0/43/60/44/51) + TCP, raw IP. */
static void build_v6_one_ext(struct pb *p, uint8_t ext, const struct tcp_spec *t)
{
    uint32_t ip;

    pb_init(p);
    ip = put_ipv6(p, ext);
    if (ext == 44)
        put_v6_frag(p, 6, 0, 1);
    else if (ext == 51)
        put_v6_ah(p, 6, 4);
    else
        put_v6_ext(p, 6, ext == 43 ? 2 : 0);
    put_tcp(p, t);
    ipv6_fix_len(p, ip);
}

static int test_ipv6_each_ext(void)
{
    static const uint8_t exts[] = {0, 43, 60, 44, 51};
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    t.paylen = 11;
    t.opts = OPTS_LINUX;
    t.optlen = sizeof(OPTS_LINUX);
    for (size_t i = 0; i < sizeof(exts); i++) {
        build_v6_one_ext(&p, exts[i], &t);
        FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_OK);
        FAIL_IF(check_full(&pv, &t, 6, 0, p.n));
        FAIL_UNLESS(pv.has_ts && pv.tsval == 0x01020304);
    }
    PASS;
}

/* HBH, routing, dest opts, fragment (first), AH, dest opts, TCP: the sweep frame too. */
static uint32_t put_v6_chain_tcp(struct pb *p, const struct tcp_spec *t)
{
    uint32_t ip = put_ipv6(p, 0);

    put_v6_ext(p, 43, 0);
    put_v6_ext(p, 60, 1);
    put_v6_ext(p, 44, 0);
    put_v6_frag(p, 51, 0, 1);
    put_v6_ah(p, 60, 4);
    put_v6_ext(p, 6, 0);
    put_tcp(p, t);
    ipv6_fix_len(p, ip);
    return ip;
}

static int test_ipv6_chain(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    t.paylen = 30;
    pb_init(&p);
    put_eth(&p, ET_IPV6);
    put_v6_chain_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 14, p.n));
    PASS;
}

static int test_ipv6_fragments(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();
    uint32_t ip;

    /* non-first fragment, more to come / last */
    for (int more = 0; more <= 1; more++) {
        pb_init(&p);
        ip = put_ipv6(&p, 44);
        put_v6_frag(&p, 6, 181, more);
        put_fill(&p, 0x77, 24);
        ipv6_fix_len(&p, ip);
        FAIL_UNLESS(dec(DLT_IPV6, &p, &pv) == DECODE_IP_FRAGMENT);
        FAIL_UNLESS(pv.ip_version == 6 && pv.l3 == g_buf && pv.sport == 0);
    }
    /* non-first fragment behind a hop-by-hop header */
    pb_init(&p);
    ip = put_ipv6(&p, 0);
    put_v6_ext(&p, 44, 0);
    put_v6_frag(&p, 6, 1, 0);
    put_fill(&p, 0x77, 8);
    ipv6_fix_len(&p, ip);
    FAIL_UNLESS(dec(DLT_IPV6, &p, &pv) == DECODE_IP_FRAGMENT);

    /* first fragment (offset 0, M set) is parsed */
    t.paylen = 40;
    pb_init(&p);
    ip = put_ipv6(&p, 44);
    put_v6_frag(&p, 6, 0, 1);
    put_tcp(&p, &t);
    ipv6_fix_len(&p, ip);
    FAIL_UNLESS(dec(DLT_IPV6, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 0, p.n));
    PASS;
}

static int test_ipv6_bad_chain(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();
    uint32_t ip;

    /* hop-by-hop after another extension header */
    pb_init(&p);
    ip = put_ipv6(&p, 60);
    put_v6_ext(&p, 0, 0);
    put_v6_ext(&p, 6, 0);
    put_tcp(&p, &t);
    ipv6_fix_len(&p, ip);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_BAD_IPV6_EXT);

    /* exactly DECODE_MAX_IPV6_EXT headers are fine, one more is not */
    for (int extra = 0; extra <= 1; extra++) {
        int n = DECODE_MAX_IPV6_EXT + extra;
        pb_init(&p);
        ip = put_ipv6(&p, 60);
        for (int i = 0; i < n; i++)
            put_v6_ext(&p, i == n - 1 ? 6 : 60, 0);
        put_tcp(&p, &t);
        ipv6_fix_len(&p, ip);
        FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == (extra ? DECODE_BAD_IPV6_EXT : DECODE_OK));
    }

    /* an extension header claiming more than the payload length */
    pb_init(&p);
    ip = put_ipv6(&p, 60);
    put_v6_ext(&p, 6, 0);
    put_tcp(&p, &t);
    ipv6_fix_len(&p, ip);
    p.b[41] = 20; /* 168 bytes, frame holds 28 after the IPv6 header */
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_BAD_IP_TOTLEN);
    /* payload length too short for even the 8 first bytes of a header */
    pb_init(&p);
    ip = put_ipv6(&p, 60);
    put_v6_ext(&p, 6, 0);
    put_tcp(&p, &t);
    set16(&p, ip + 4, 4);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_BAD_IP_TOTLEN);

    /* no next header (59), UDP behind options, ESP */
    pb_init(&p);
    ip = put_ipv6(&p, 59);
    ipv6_fix_len(&p, ip);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_NOT_TCP);
    pb_init(&p);
    ip = put_ipv6(&p, 60);
    put_v6_ext(&p, 59, 0);
    ipv6_fix_len(&p, ip);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_NOT_TCP);
    pb_init(&p);
    ip = put_ipv6(&p, 0);
    put_v6_ext(&p, 17, 0);
    put_fill(&p, 0, 8);
    ipv6_fix_len(&p, ip);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_NOT_TCP);
    pb_init(&p);
    ip = put_ipv6(&p, 50);
    put_fill(&p, 0, 24);
    ipv6_fix_len(&p, ip);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_NOT_TCP);
    PASS;
}

static int test_ipv6_jumbo(void)
{
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    t.paylen = 100;
    pb_init(&p);
    put_v6_tcp(&p, &t);
    set16(&p, 4, 0);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 0, p.n));
    /* with a hop-by-hop header in front */
    pb_init(&p);
    put_ipv6(&p, 0);
    put_v6_ext(&p, 6, 0);
    put_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_OK);
    FAIL_IF(check_full(&pv, &t, 6, 0, p.n));
    /* cut inside the hop-by-hop header: truncation, not a bad length */
    FAIL_UNLESS(dec_n(DLT_RAW, &p, 44, &pv) == DECODE_TRUNC_IP);
    PASS;
}

/* ---- TCP --------------------------------------------------------------- */

static int test_tcp_bad_data_offset(void)
{
    static const uint8_t nops[4] = {1, 1, 1, 1};
    struct pb p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();

    for (int doff = 0; doff < 5; doff++) {
        pb_init(&p);
        put_v4_tcp(&p, NULL, 0, 0, &t);
        p.b[20 + 12] = (uint8_t)(doff << 4); /* t.doff 0 would mean "computed" */
        FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_BAD_TCP_HDRLEN);
    }
    /* data offset 15 (60 bytes) with a 20-byte segment */
    t.doff = 15;
    pb_init(&p);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_BAD_TCP_HDRLEN);
    /* the same over IPv6 */
    pb_init(&p);
    put_v6_tcp(&p, &t);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_BAD_TCP_HDRLEN);
    /* 6 words with exactly 24 bytes of segment: fine */
    t.doff = 0;
    t.opts = nops;
    t.optlen = 4;
    pb_init(&p);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.tcp_hdr_len == 24 && pv.payload_len == 0 && pv.opt_count == 4);
    /* a data offset pointing into the payload is legal (payload shrinks) */
    t.optlen = 0;
    t.paylen = 8;
    t.doff = 7;
    pb_init(&p);
    put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_UNLESS(dec(DLT_RAW, &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.tcp_hdr_len == 28 && pv.payload_len == 0 && pv.payload == NULL);
    PASS;
}

static enum decode_result dec_opts(const uint8_t *opts, uint32_t optlen, struct pb *p,
                                   struct pkt_view *pv)
{
    struct tcp_spec t = tcp_default();

    t.opts = opts;
    t.optlen = optlen;
    t.paylen = 4;
    pb_init(p);
    put_v4_tcp(p, NULL, 0, 0, &t);
    return dec(DLT_RAW, p, pv);
}

static int sig_is(const struct pkt_view *pv, const uint8_t *sig, uint8_t n)
{
    return pv->opt_count == n && memcmp(pv->opt_sig, sig, n) == 0;
}

static int test_tcp_options_linux(void)
{
    static const uint8_t sig[5] = {2, 4, 8, 1, 3};
    struct pb p;
    struct pkt_view pv;

    FAIL_UNLESS(dec_opts(OPTS_LINUX, sizeof(OPTS_LINUX), &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.mss == 1460);
    FAIL_UNLESS(pv.sack_perm == 1);
    FAIL_UNLESS(pv.has_ts == 1 && pv.tsval == 0x01020304 && pv.tsecr == 0x05060708);
    FAIL_UNLESS(pv.wscale == 7);
    FAIL_UNLESS(sig_is(&pv, sig, 5));
    FAIL_UNLESS(pv.opt_sig[5] == 0);
    FAIL_UNLESS(pv.tcp_hdr_len == 40 && pv.payload_len == 4 && pv.truncated == 0);
    PASS;
}

static int test_tcp_options_windows(void)
{
    /* MSS 1440, NOP, WS 8, NOP, NOP, SACK_PERM */
    static const uint8_t opts[12] = {2, 4, 0x05, 0xa0, 1, 3, 3, 8, 1, 1, 4, 2};
    static const uint8_t sig[6] = {2, 1, 3, 1, 1, 4};
    struct pb p;
    struct pkt_view pv;

    FAIL_UNLESS(dec_opts(opts, sizeof(opts), &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.mss == 1440 && pv.wscale == 8 && pv.sack_perm && !pv.has_ts);
    FAIL_UNLESS(sig_is(&pv, sig, 6));
    PASS;
}

static int test_tcp_options_ts_only(void)
{
    /* NOP, NOP, TS: the usual data-segment layout */
    static const uint8_t opts[12] = {1, 1, 8, 10, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 1};
    static const uint8_t sig[3] = {1, 1, 8};
    struct pb p;
    struct pkt_view pv;

    FAIL_UNLESS(dec_opts(opts, sizeof(opts), &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.has_ts && pv.tsval == 0xfffffffe && pv.tsecr == 1);
    FAIL_UNLESS(pv.mss == 0 && pv.wscale == 0xff && !pv.sack_perm);
    FAIL_UNLESS(sig_is(&pv, sig, 3));
    PASS;
}

static int test_tcp_options_ws_clamp(void)
{
    static const uint8_t ws20[4] = {3, 3, 20, 0};
    static const uint8_t ws14[4] = {3, 3, 14, 1};
    static const uint8_t ws0[4] = {1, 3, 3, 0};
    static const uint8_t sig[2] = {3, 0};
    struct pb p;
    struct pkt_view pv;

    FAIL_UNLESS(dec_opts(ws20, sizeof(ws20), &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.wscale == 14 && sig_is(&pv, sig, 2));
    FAIL_UNLESS(dec_opts(ws14, sizeof(ws14), &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.wscale == 14);
    FAIL_UNLESS(dec_opts(ws0, sizeof(ws0), &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.wscale == 0);
    PASS;
}

static int test_tcp_options_eol(void)
{
    /* MSS, EOL, then bytes that would read as WS: ignored after EOL */
    static const uint8_t opts[8] = {2, 4, 0x02, 0x18, 0, 3, 3, 9};
    static const uint8_t sig[2] = {2, 0};
    struct pb p;
    struct pkt_view pv;

    FAIL_UNLESS(dec_opts(opts, sizeof(opts), &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.mss == 536 && pv.wscale == 0xff);
    FAIL_UNLESS(sig_is(&pv, sig, 2));
    PASS;
}

static int test_tcp_options_sig_overflow(void)
{
    /* 12 NOPs then TS: only DECODE_OPT_SIG_LEN kinds kept, parsing goes on */
    uint8_t opts[24];
    struct pb p;
    struct pkt_view pv;

    memset(opts, 1, 12);
    opts[12] = 8;
    opts[13] = 10;
    memset(opts + 14, 0x42, 8);
    opts[22] = 1;
    opts[23] = 0;
    FAIL_UNLESS(dec_opts(opts, sizeof(opts), &p, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.opt_count == DECODE_OPT_SIG_LEN);
    for (int i = 0; i < DECODE_OPT_SIG_LEN; i++)
        FAIL_UNLESS(pv.opt_sig[i] == 1);
    FAIL_UNLESS(pv.has_ts && pv.tsval == 0x42424242);
    PASS;
}

static int test_tcp_options_malformed(void)
{
    struct pb p;
    struct pkt_view pv;

    /* MSS, then kind 5 with length 1: parsing stops, packet is fine */
    {
        static const uint8_t opts[8] = {2, 4, 0x05, 0xb4, 5, 1, 3, 3};
        static const uint8_t sig[2] = {2, 5};
        FAIL_UNLESS(dec_opts(opts, sizeof(opts), &p, &pv) == DECODE_OK);
        FAIL_UNLESS(pv.mss == 1460 && pv.wscale == 0xff && sig_is(&pv, sig, 2));
        FAIL_UNLESS(pv.payload_len == 4 && pv.truncated == 0);
    }
    /* length 0 must not loop forever */
    {
        static const uint8_t opts[4] = {30, 0, 3, 3};
        FAIL_UNLESS(dec_opts(opts, sizeof(opts), &p, &pv) == DECODE_OK);
        FAIL_UNLESS(pv.opt_count == 1 && pv.opt_sig[0] == 30);
    }
    /* TS claiming 40 bytes inside a 12-byte option area */
    {
        static const uint8_t opts[12] = {1, 1, 8, 40, 1, 2, 3, 4, 5, 6, 7, 8};
        static const uint8_t sig[3] = {1, 1, 8};
        FAIL_UNLESS(dec_opts(opts, sizeof(opts), &p, &pv) == DECODE_OK);
        FAIL_UNLESS(!pv.has_ts && sig_is(&pv, sig, 3) && pv.truncated == 0);
    }
    /* known kinds with a wrong length */
    {
        static const uint8_t mss3[4] = {2, 3, 5, 1};
        static const uint8_t ws4[4] = {3, 4, 7, 0};
        static const uint8_t sack3[4] = {4, 3, 0, 0};
        static const uint8_t ts8[8] = {8, 8, 1, 2, 3, 4, 5, 6};
        FAIL_UNLESS(dec_opts(mss3, 4, &p, &pv) == DECODE_OK);
        FAIL_UNLESS(pv.mss == 0 && pv.opt_count == 1);
        FAIL_UNLESS(dec_opts(ws4, 4, &p, &pv) == DECODE_OK);
        FAIL_UNLESS(pv.wscale == 0xff);
        FAIL_UNLESS(dec_opts(sack3, 4, &p, &pv) == DECODE_OK);
        FAIL_UNLESS(pv.sack_perm == 0);
        FAIL_UNLESS(dec_opts(ts8, 8, &p, &pv) == DECODE_OK);
        FAIL_UNLESS(pv.has_ts == 0);
    }
    /* kind in the last header byte, its length byte would be payload */
    {
        static const uint8_t opts[4] = {1, 1, 1, 2};
        static const uint8_t sig[4] = {1, 1, 1, 2};
        FAIL_UNLESS(dec_opts(opts, sizeof(opts), &p, &pv) == DECODE_OK);
        FAIL_UNLESS(pv.mss == 0 && sig_is(&pv, sig, 4));
    }
    /* unknown kind with a valid length is skipped */
    {
        static const uint8_t opts[8] = {30, 4, 0, 0, 2, 4, 1, 0};
        static const uint8_t sig[2] = {30, 2};
        FAIL_UNLESS(dec_opts(opts, sizeof(opts), &p, &pv) == DECODE_OK);
        FAIL_UNLESS(pv.mss == 256 && sig_is(&pv, sig, 2));
    }
    PASS;
}

static int test_tcp_options_cut(void)
{
    struct pb p;
    struct pkt_view pv;
    uint32_t tcp_off = 20; /* raw IPv4, no IP options */

    FAIL_UNLESS(dec_opts(OPTS_LINUX, sizeof(OPTS_LINUX), &p, &pv) == DECODE_OK);
    /* cut in the middle of TS: MSS and SACK_PERM were captured, TS was not */
    FAIL_UNLESS(dec_n(DLT_RAW, &p, tcp_off + 20 + 10, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.mss == 1460 && pv.sack_perm && !pv.has_ts && pv.wscale == 0xff);
    FAIL_UNLESS(pv.truncated == 1 && pv.tcp_hdr_len == 40);
    FAIL_UNLESS(pv.payload_len == 4 && pv.payload_caplen == 0 && pv.payload == NULL);
    FAIL_UNLESS(pv.l3_caplen == tcp_off + 30);
    /* only the length byte of MSS missing */
    FAIL_UNLESS(dec_n(DLT_RAW, &p, tcp_off + 21, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.mss == 0 && pv.opt_count == 1 && pv.opt_sig[0] == 2);
    /* options complete, payload cut */
    FAIL_UNLESS(dec_n(DLT_RAW, &p, p.n - 1, &pv) == DECODE_OK);
    FAIL_UNLESS(pv.has_ts && pv.wscale == 7 && pv.truncated == 1);
    FAIL_UNLESS(pv.payload_len == 4 && pv.payload_caplen == 3 && pv.payload == g_buf + 60);
    PASS;
}

/* ---- truncation sweep -------------------------------------------------- */

/*
 * Decode every prefix of a frame (caplen 0..n) from an exact-size copy.
 * link_end = offset of the IP header, tcp_off = offset of the TCP header.
 * Expected: TRUNC_LINK before the IP header, TRUNC_IP inside the IP headers,
 * TRUNC_TCP inside the first 20 TCP bytes, then OK with the true lengths and
 * a prefix of the full frame's options.
 */
static int sweep_ex(int lt, const struct pb *p, uint32_t link_end, uint32_t tcp_off,
                    const uint32_t *not_ip_cuts, size_t n_not_ip);

static int sweep(int lt, const struct pb *p, uint32_t link_end, uint32_t tcp_off)
{
    return sweep_ex(lt, p, link_end, tcp_off, NULL, 0);
}

/*
 * sweep() for link headers where some cuts before the IP header look like a
 * complete frame that carries no IP (NFLOG: a TLV chain that ends cleanly):
 * at those caplens, not_ip_cuts[], DECODE_NOT_IP is expected.
 */
static int sweep_ex(int lt, const struct pb *p, uint32_t link_end, uint32_t tcp_off,
                    const uint32_t *not_ip_cuts, size_t n_not_ip)
{
    struct pkt_view ref, pv;
    enum decode_result want;

    FAIL_UNLESS(dec(lt, p, &ref) == DECODE_OK);
    FAIL_UNLESS(ref.l3 == g_buf + link_end);
    FAIL_UNLESS(ref.truncated == 0);
    for (uint32_t caplen = 0; caplen <= p->n; caplen++) {
        enum decode_result r = dec_n(lt, p, caplen, &pv);
        uint32_t hdr_end = tcp_off + ref.tcp_hdr_len;

        if (caplen < link_end) {
            want = DECODE_TRUNC_LINK;
            for (size_t i = 0; i < n_not_ip; i++)
                if (not_ip_cuts[i] == caplen)
                    want = DECODE_NOT_IP;
        } else if (caplen < tcp_off)
            want = DECODE_TRUNC_IP;
        else if (caplen < tcp_off + 20)
            want = DECODE_TRUNC_TCP;
        else
            want = DECODE_OK;
        if (r != want)
            fprintf(stderr, "lt %d caplen %u: %s, want %s\n", lt, caplen,
                    decode_result_name(r), decode_result_name(want));
        FAIL_UNLESS(r == want);
        if (caplen >= link_end && caplen > 0 && want != DECODE_TRUNC_IP) {
            FAIL_UNLESS(pv.l3 == g_buf + link_end);
            FAIL_UNLESS(pv.l3_caplen == caplen - link_end);
            FAIL_UNLESS(pv.ip_version == ref.ip_version && pv.ttl == ref.ttl);
        }
        if (r != DECODE_OK)
            continue;
        FAIL_UNLESS(pv.sport == ref.sport && pv.dport == ref.dport);
        FAIL_UNLESS(pv.seq == ref.seq && pv.ack == ref.ack);
        FAIL_UNLESS(pv.flags == ref.flags && pv.window == ref.window);
        FAIL_UNLESS(pv.tcp_hdr_len == ref.tcp_hdr_len);
        FAIL_UNLESS(pv.payload_len == ref.payload_len);
        FAIL_UNLESS(pv.vlan_count == ref.vlan_count);
        FAIL_UNLESS(memcmp(pv.vlan, ref.vlan, sizeof(pv.vlan)) == 0);
        FAIL_UNLESS(pv.truncated == (caplen < p->n));
        FAIL_UNLESS(pv.payload_caplen == (caplen > hdr_end ? caplen - hdr_end : 0));
        FAIL_UNLESS(pv.payload == (caplen > hdr_end ? g_buf + hdr_end : NULL));
        FAIL_UNLESS(pv.opt_count <= ref.opt_count);
        FAIL_UNLESS(memcmp(pv.opt_sig, ref.opt_sig, pv.opt_count) == 0);
        if (caplen >= hdr_end) {
            FAIL_UNLESS(pv.opt_count == ref.opt_count);
            FAIL_UNLESS(pv.mss == ref.mss && pv.wscale == ref.wscale);
            FAIL_UNLESS(pv.sack_perm == ref.sack_perm && pv.has_ts == ref.has_ts);
            FAIL_UNLESS(pv.tsval == ref.tsval && pv.tsecr == ref.tsecr);
        }
    }
    PASS;
}

static int test_truncation_sweep(void)
{
    static const uint8_t ipopts[8] = {1, 1, 1, 1, 1, 1, 1, 0};
    static const uint8_t snap[8] = {0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00};
    static const uint16_t tpid[3] = {0x88a8, 0x8100, 0x8100};
    static const uint16_t tci[3] = {100, 200, 300};
    struct pb p;
    struct tcp_spec t = tcp_default();
    uint32_t ip;

    t.opts = OPTS_LINUX;
    t.optlen = sizeof(OPTS_LINUX);
    t.paylen = 10;

    /* Ethernet + 3 VLAN tags + IPv4 with options */
    pb_init(&p);
    put_eth_tags(&p, tpid, tci, 3, ET_IPV4);
    ip = put_v4_tcp(&p, ipopts, sizeof(ipopts), 0, &t);
    FAIL_IF(sweep(DLT_EN10MB, &p, ip, ip + 28));

    /* Ethernet + IPv6 + every extension header */
    pb_init(&p);
    put_eth(&p, ET_IPV6);
    ip = put_v6_chain_tcp(&p, &t);
    FAIL_IF(sweep(DLT_EN10MB, &p, ip, p.n - t.paylen - tcp_hdr_len(&t)));

    /* 802.3 + LLC/SNAP + IPv4 */
    pb_init(&p);
    put_eth(&p, 0);
    put_bytes(&p, snap, sizeof(snap));
    ip = put_v4_tcp(&p, NULL, 0, 0, &t);
    set16(&p, 12, p.n - 14);
    FAIL_IF(sweep(DLT_EN10MB, &p, ip, ip + 20));

    /* SLL + VLAN + IPv4, SLL2 + IPv6 */
    pb_init(&p);
    put_sll(&p, 0x8100);
    put16(&p, 9);
    put16(&p, ET_IPV4);
    ip = put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_IF(sweep(DLT_LINUX_SLL, &p, ip, ip + 20));
    pb_init(&p);
    put_sll2(&p, ET_IPV6);
    ip = put_v6_tcp(&p, &t);
    FAIL_IF(sweep(DLT_LINUX_SLL2, &p, ip, ip + 40));

    /* NULL (little-endian), LOOP, raw IPv4 / IPv6 */
    pb_init(&p);
    put_null(&p, 30, 1);
    ip = put_v6_tcp(&p, &t);
    FAIL_IF(sweep(DLT_NULL, &p, ip, ip + 40));
    pb_init(&p);
    put_null(&p, 2, 0);
    ip = put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_IF(sweep(DLT_LOOP, &p, ip, ip + 20));
    pb_init(&p);
    ip = put_v4_tcp(&p, ipopts, sizeof(ipopts), 0, &t);
    FAIL_IF(sweep(DLT_RAW, &p, ip, ip + 28));
    FAIL_IF(sweep(DLT_IPV4, &p, ip, ip + 28));
    pb_init(&p);
    ip = put_v6_tcp(&p, &t);
    FAIL_IF(sweep(DLT_IPV6, &p, ip, ip + 40));

    /* PPP: ff 03 + 2-byte protocol + IPv4 with options; compressed fields + IPv6 */
    pb_init(&p);
    put_ppp(&p, 1, 0, PPP_IPV4);
    ip = put_v4_tcp(&p, ipopts, sizeof(ipopts), 0, &t);
    FAIL_IF(sweep(DLT_PPP, &p, ip, ip + 28));
    FAIL_IF(sweep(DLT_PPP_SERIAL, &p, ip, ip + 28));
    pb_init(&p);
    put_ppp(&p, 0, 1, PPP_IPV6);
    ip = put_v6_tcp(&p, &t);
    FAIL_IF(sweep(DLT_PPP, &p, ip, ip + 40));
    pb_init(&p);
    put_ppp(&p, 1, 1, PPP_IPV4);
    ip = put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_IF(sweep(DLT_PPP_SERIAL, &p, ip, ip + 20));
    pb_init(&p);
    put_ppp(&p, 0, 0, PPP_IPV6);
    ip = put_v6_chain_tcp(&p, &t);
    FAIL_IF(sweep(DLT_PPP, &p, ip, p.n - t.paylen - tcp_hdr_len(&t)));

    /* Cisco HDLC framing on PPP_SERIAL, and as DLT_C_HDLC */
    pb_init(&p);
    put_chdlc(&p, 0x0f, ET_IPV4);
    ip = put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_IF(sweep(DLT_PPP_SERIAL, &p, ip, ip + 20));
    FAIL_IF(sweep(DLT_C_HDLC, &p, ip, ip + 20));
    pb_init(&p);
    put_chdlc(&p, 0x8f, ET_IPV6);
    ip = put_v6_tcp(&p, &t);
    FAIL_IF(sweep(DLT_C_HDLC, &p, ip, ip + 40));

    /* PPPoE session + PPP + IPv4 / IPv6 */
    {
        uint32_t h;

        pb_init(&p);
        h = put_pppoe(&p, 0);
        put_ppp(&p, 0, 0, PPP_IPV4);
        ip = put_v4_tcp(&p, ipopts, sizeof(ipopts), 0, &t);
        pppoe_fix_len(&p, h);
        FAIL_IF(sweep(DLT_PPP_ETHER, &p, ip, ip + 28));
        pb_init(&p);
        h = put_pppoe(&p, 0);
        put_ppp(&p, 0, 1, PPP_IPV6);
        ip = put_v6_tcp(&p, &t);
        pppoe_fix_len(&p, h);
        FAIL_IF(sweep(DLT_PPP_ETHER, &p, ip, ip + 40));
    }

    /* FDDI + LLC/SNAP + IPv4 with options / IPv6 */
    pb_init(&p);
    put_fddi_snap(&p, 0x50, ET_IPV4);
    ip = put_v4_tcp(&p, ipopts, sizeof(ipopts), 0, &t);
    FAIL_IF(sweep(DLT_FDDI, &p, ip, ip + 28));
    pb_init(&p);
    put_fddi_snap(&p, 0xd1, ET_IPV6);
    ip = put_v6_tcp(&p, &t);
    FAIL_IF(sweep(DLT_FDDI, &p, ip, ip + 40));

    /*
     * NFLOG: header + meta TLVs (ending at 12, 20 with padding 17..19 for the
     * 5-byte prefix TLV, 28, 36, 44) + payload TLV. A cut at the end of a
     * TLV reads as a message without a payload TLV: not IP.
     */
    {
        static const uint32_t cuts[] = {4, 12, 17, 18, 19, 20, 28, 36, 44};

        pb_init(&p);
        ip = put_nflog_tcp(&p, NFLOG_AF_INET, 4, &t);
        FAIL_IF(sweep_ex(DLT_NFLOG, &p, ip, ip + 20, cuts, sizeof(cuts) / sizeof(cuts[0])));
        pb_init(&p);
        ip = put_nflog_tcp(&p, NFLOG_AF_INET6, 6, &t);
        FAIL_IF(sweep_ex(DLT_NFLOG, &p, ip, ip + 40, cuts, sizeof(cuts) / sizeof(cuts[0])));
    }

    /* no options, no payload: OK exactly at the full length */
    t.optlen = 0;
    t.paylen = 0;
    pb_init(&p);
    put_eth(&p, ET_IPV4);
    ip = put_v4_tcp(&p, NULL, 0, 0, &t);
    FAIL_IF(sweep(DLT_EN10MB, &p, ip, ip + 20));
    PASS;
}

/* ---- robustness -------------------------------------------------------- */

static int test_view_overwritten(void)
{
    struct pb p;
    struct pkt_view pv, zero;

    memset(&zero, 0, sizeof(zero));
    zero.wscale = 0xff;
    pb_init(&p);
    put_eth(&p, ET_ARP);
    put_fill(&p, 0, 28);
    memset(&pv, 0xa5, sizeof(pv));
    FAIL_UNLESS(dec(DLT_EN10MB, &p, &pv) == DECODE_NOT_IP);
    FAIL_UNLESS(memcmp(&pv, &zero, sizeof(pv)) == 0);
    memset(&pv, 0xa5, sizeof(pv));
    FAIL_UNLESS(decode_packet(DLT_EN10MB, NULL, 0, &pv) == DECODE_TRUNC_LINK);
    FAIL_UNLESS(memcmp(&pv, &zero, sizeof(pv)) == 0);
    memset(&pv, 0xa5, sizeof(pv));
    FAIL_UNLESS(decode_packet(4242, NULL, 0, &pv) == DECODE_UNSUPPORTED_LINK);
    FAIL_UNLESS(memcmp(&pv, &zero, sizeof(pv)) == 0);
    PASS;
}

static uint32_t rng_state = 0x2545f491;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Random byte flips and cuts of valid frames: no crash, coherent views. */
static int test_mutations(void)
{
    static const int lts[] = {DLT_EN10MB, DLT_EN10MB, DLT_RAW,  DLT_LINUX_SLL,
                              DLT_PPP,    DLT_FDDI,   DLT_NFLOG, DLT_PPP_ETHER};
    static const uint16_t tpid[2] = {0x88a8, 0x8100};
    static const uint16_t tci[2] = {1, 2};
    enum { NBASE = sizeof(lts) / sizeof(lts[0]) };
    struct pb base[NBASE], p;
    struct pkt_view pv;
    struct tcp_spec t = tcp_default();
    int counts[DECODE_RESULT_COUNT] = {0};

    t.opts = OPTS_LINUX;
    t.optlen = sizeof(OPTS_LINUX);
    t.paylen = 16;
    pb_init(&base[0]);
    put_eth_tags(&base[0], tpid, tci, 2, ET_IPV4);
    put_v4_tcp(&base[0], NULL, 0, 0, &t);
    pb_init(&base[1]);
    put_eth(&base[1], ET_IPV6);
    put_v6_chain_tcp(&base[1], &t);
    pb_init(&base[2]);
    put_v6_tcp(&base[2], &t);
    pb_init(&base[3]);
    put_sll(&base[3], ET_IPV4);
    put_v4_tcp(&base[3], NULL, 0, 0, &t);
    pb_init(&base[4]);
    put_ppp(&base[4], 1, 0, PPP_IPV6);
    put_v6_tcp(&base[4], &t);
    pb_init(&base[5]);
    put_fddi_snap(&base[5], 0x50, ET_IPV4);
    put_v4_tcp(&base[5], NULL, 0, 0, &t);
    pb_init(&base[6]);
    put_nflog_tcp(&base[6], NFLOG_AF_INET, 4, &t);
    pb_init(&base[7]);
    {
        uint32_t h = put_pppoe(&base[7], 0);

        put_ppp(&base[7], 0, 1, PPP_IPV4);
        put_v4_tcp(&base[7], NULL, 0, 0, &t);
        pppoe_fix_len(&base[7], h);
    }

    for (int iter = 0; iter < 400000; iter++) {
        int k = (int)(rng() % NBASE);
        int flips = 1 + (int)(rng() % 4);
        uint32_t caplen;
        enum decode_result r;

        p = base[k];
        for (int f = 0; f < flips; f++)
            p.b[rng() % p.n] = (uint8_t)rng();
        caplen = rng() % 4 ? p.n : rng() % (p.n + 1);
        r = dec_n(lts[k], &p, caplen, &pv);
        FAIL_UNLESS((unsigned)r < DECODE_RESULT_COUNT);
        counts[r]++;
        if (r != DECODE_OK)
            continue;
        FAIL_UNLESS(pv.ip_version == 4 || pv.ip_version == 6);
        FAIL_UNLESS(pv.l3 >= g_buf && pv.l3 + pv.l3_caplen <= g_buf + caplen);
        FAIL_UNLESS(pv.tcp_hdr_len >= 20 && pv.tcp_hdr_len <= 60);
        FAIL_UNLESS(pv.payload_caplen <= pv.payload_len);
        FAIL_UNLESS(pv.opt_count <= DECODE_OPT_SIG_LEN);
        FAIL_UNLESS(pv.wscale == 0xff || pv.wscale <= 14);
        if (pv.payload) {
            FAIL_UNLESS(pv.payload_caplen > 0);
            FAIL_UNLESS(pv.payload >= pv.l3);
            FAIL_UNLESS(pv.payload + pv.payload_caplen <= pv.l3 + pv.l3_caplen);
        } else {
            FAIL_UNLESS(pv.payload_caplen == 0);
        }
    }
    FAIL_UNLESS(counts[DECODE_OK] > 0 && counts[DECODE_TRUNC_TCP] > 0);
    PASS;
}

static int test_result_names(void)
{
    static const char *const want[DECODE_RESULT_COUNT] = {
        "ok", "not_ip", "not_tcp", "ip_fragment", "unsupported_link", "trunc_link",
        "trunc_ip", "trunc_tcp", "bad_ip_version", "bad_ip_hdrlen", "bad_ip_totlen",
        "bad_ipv6_ext", "bad_tcp_hdrlen",
    };

    FAIL_UNLESS(DECODE_OK == 0 && DECODE_BAD_TCP_HDRLEN == DECODE_RESULT_COUNT - 1);
    for (int i = 0; i < DECODE_RESULT_COUNT; i++) {
        const char *n = decode_result_name((enum decode_result)i);
        FAIL_UNLESS(n != NULL && strcmp(n, want[i]) == 0);
    }
    FAIL_UNLESS(strcmp(decode_result_name(DECODE_RESULT_COUNT), "unknown") == 0);
    FAIL_UNLESS(strcmp(decode_result_name((enum decode_result)-1), "unknown") == 0);
    PASS;
}

int main(void)
{
    RUN(test_eth_ipv4);
    RUN(test_eth_ipv6);
    RUN(test_vlan_single);
    RUN(test_vlan_stacked);
    RUN(test_vlan_deep);
    RUN(test_vlan_not_ip);
    RUN(test_llc_snap);
    RUN(test_sll);
    RUN(test_sll2);
    RUN(test_null);
    RUN(test_loop);
    RUN(test_raw);
    RUN(test_ppp);
    RUN(test_ppp_real_frame);
    RUN(test_pppoe);
    RUN(test_pppoe_in_ethernet);
    RUN(test_gtpu);
    RUN(test_chdlc);
    RUN(test_fddi);
    RUN(test_nflog);
    RUN(test_unsupported_link);
    RUN(test_not_ip);
    RUN(test_ipv4_options);
    RUN(test_ipv4_bad_lengths);
    RUN(test_ipv4_tso_zero_totlen);
    RUN(test_ipv4_fragments);
    RUN(test_etherleak);
    RUN(test_not_tcp);
    RUN(test_ipv6_each_ext);
    RUN(test_ipv6_chain);
    RUN(test_ipv6_fragments);
    RUN(test_ipv6_bad_chain);
    RUN(test_ipv6_jumbo);
    RUN(test_tcp_bad_data_offset);
    RUN(test_tcp_options_linux);
    RUN(test_tcp_options_windows);
    RUN(test_tcp_options_ts_only);
    RUN(test_tcp_options_ws_clamp);
    RUN(test_tcp_options_eol);
    RUN(test_tcp_options_sig_overflow);
    RUN(test_tcp_options_malformed);
    RUN(test_tcp_options_cut);
    RUN(test_truncation_sweep);
    RUN(test_view_overwritten);
    RUN(test_mutations);
    RUN(test_result_names);
    free(g_buf);
    TEST_EXIT();
}
