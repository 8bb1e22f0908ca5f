/*
 * decode.c -- zero-copy decoding of one captured frame: link -> IP -> TCP.
 *
 * One forward pass over the frame. Each layer gets the buffer, the captured
 * length and the offset where it starts; it checks every byte it reads with
 * have()/NEED() first, reads multi-byte fields byte-wise as big-endian
 * (rd_be16/rd_be32: no struct casts, no unaligned loads) and hands the next
 * offset to the layer below. Nothing is copied and nothing is allocated: the
 * struct pkt_view gets values and pointers into the caller's buffer.
 *
 * Lengths come from the IP header, not from caplen. Bytes after the end of
 * the IP packet (Ethernet padding, "etherleak") are never parsed or counted
 * as payload. Two exceptions take the length from the capture instead: an
 * IPv4 total length of 0 (TSO/GSO segments captured on the sending host) and
 * an IPv6 payload length of 0 (jumbogram).
 *
 * A malformed or cut frame is never fatal: the result code says why it was
 * not decoded, and the caller counts it.
 */
#include "twscope/decode.h"

#include <string.h>

#include <pcap/pcap.h>

#define LINKTYPE_RAW_VALUE 101 /* LINKTYPE_RAW in a pcap file; libpcap maps it to DLT_RAW */

/* Link layer */
#define ETH_HDR_LEN 14
#define SLL_HDR_LEN 16
#define SLL_PROTO_OFF 14
#define SLL2_HDR_LEN 20
#define SLL2_PROTO_OFF 0
#define NULL_HDR_LEN 4
#define VLAN_TAG_LEN 4         /* TCI + inner type */
#define VLAN_VID_MASK 0x0fff
#define LLC_HDR_LEN 3          /* DSAP, SSAP, control */
#define LLC_SNAP_LEN 8         /* LLC + OUI + type */
#define LLC_SAP_SNAP 0xaa
#define LLC_CTRL_UI 0x03

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100  /* 802.1Q */
#define ETHERTYPE_QINQ 0x88a8  /* 802.1ad */
#define ETHERTYPE_QINQ_OLD 0x9100 /* pre-standard Q-in-Q */
#define ETHERTYPE_PPPOE 0x8864  /* PPPoE session stage (RFC 2516); 0x8863 discovery is not IP */
#define ETHER_MAX_LENFIELD 1500 /* type <= this is an 802.3 length: LLC follows */
#define ETHERTYPE_MIN 0x0600    /* below this (and above 1500): nothing defined */
#define SLL_PROTO_LLC 0x0004    /* SLL/SLL2 "protocol": 802.2 LLC frame */

/* PPP (RFC 1661, HDLC-like framing RFC 1662), PPPoE (RFC 2516), Cisco HDLC */
#define PPP_ADDRESS 0xff        /* all-stations address */
#define PPP_CONTROL 0x03        /* unnumbered information */
#define PPP_PROTO_IPV4 0x0021
#define PPP_PROTO_IPV6 0x0057
#define PPPOE_HDR_LEN 6         /* ver/type, code, session id, length */
#define PPPOE_VER_TYPE 0x11     /* version 1, type 1 */
#define PPPOE_CODE_SESSION 0x00 /* session data (discovery codes are not) */
#define CHDLC_HDR_LEN 4         /* address, control, ethertype */
#define CHDLC_PROTO_OFF 2
#define CHDLC_ADDR_UNICAST 0x0f
#define CHDLC_ADDR_MULTICAST 0x8f

/* FDDI: frame control, 6-byte destination, 6-byte source, then 802.2 LLC */
#define FDDI_HDR_LEN 13
#define FDDI_FC_LFF_MASK 0x70   /* frame control bits L (address length) and FF (format) */
#define FDDI_FC_LLC48 0x50      /* 48-bit addresses, LLC frame (sync or async) */

/* Linux NFLOG: family, version, resource id, then TLVs (LINKTYPE_NFLOG) */
#define NFLOG_HDR_LEN 4
#define NFLOG_VERSION 0
#define NFLOG_TLV_HDR_LEN 4     /* length (includes this header), type */
#define NFLOG_TLV_ALIGN 4
#define NFLOG_TLV_TYPE_MASK 0x3fff /* without NLA_F_NESTED / NLA_F_NET_BYTEORDER */
#define NFLOG_TLV_PAYLOAD 9     /* NFULA_PAYLOAD: the packet, from its network header */
#define NFLOG_AF_INET 2
#define NFLOG_AF_INET6 10

/* BSD loopback address families (DLT_NULL host order, DLT_LOOP network order). */
#define BSD_AF_INET 2
#define BSD_AF_INET6_LINUX 10
#define BSD_AF_INET6_WIN 23   /* Windows (Npcap loopback) */
#define BSD_AF_INET6_BSD 24   /* NetBSD, OpenBSD, BSD/OS */
#define BSD_AF_INET6_FREEBSD 28
#define BSD_AF_INET6_DARWIN 30

/* Network layer */
#define IPV4_MIN_HDR_LEN 20
#define IPV4_FRAG_OFF_MASK 0x1fff
#define IPV6_HDR_LEN 40
#define IPV6_EXT_MIN_LEN 8
#define IPV6_FRAG_HDR_LEN 8
#define IPPROTO_NUM_HOPOPTS 0
#define IPPROTO_NUM_TCP 6
#define IPPROTO_NUM_ROUTING 43
#define IPPROTO_NUM_FRAGMENT 44
#define IPPROTO_NUM_AH 51
#define IPPROTO_NUM_DSTOPTS 60
#define IPPROTO_NUM_UDP 17

/* GTP-U (3GPP TS 29.281): UDP 2152, GTPv1 header, then the user's IP packet */
#define UDP_HDR_LEN 8
#define GTPU_PORT 2152
#define GTPU_HDR_LEN 8          /* flags, type, length, TEID */
#define GTPU_OPT_LEN 4          /* sequence number, N-PDU number, next extension type */
#define GTPU_FLAGS_OPT 0x07     /* E, S, PN: the optional 4 bytes are present */
#define GTPU_FLAG_E 0x04        /* extension headers follow */
#define GTPU_TYPE_GPDU 0xff     /* G-PDU: carries a user packet (T-PDU) */
#define GTPU_MAX_EXT 8          /* extension headers walked at most */

/* Transport layer */
#define TCP_MIN_HDR_LEN 20
#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOPT_WS 3
#define TCPOPT_SACK_PERM 4
#define TCPOPT_TS 8
#define TCPOLEN_MSS 4
#define TCPOLEN_WS 3
#define TCPOLEN_SACK_PERM 2
#define TCPOLEN_TS 10
#define TCP_MAX_WSCALE 14      /* RFC 7323 section 2.3 */

/* 1 if n bytes starting at off lie within len bytes (overflow-safe). */
static inline int have(uint32_t len, uint32_t off, uint32_t n)
{
    return off <= len && n <= len - off;
}

/* Return err from the calling decoder unless n bytes at off are within len. */
#define NEED(len, off, n, err)                                                         \
    do {                                                                               \
        if (!have((len), (off), (n)))                                                  \
            return (err);                                                              \
    } while (0)

static inline uint16_t rd_be16(const uint8_t *p)
{
    return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}

static inline uint32_t rd_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint32_t rd_le32(const uint8_t *p)
{
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

/*
 * NFLOG TLV length and type are in the byte order of the host reading the
 * capture: libpcap swaps them when the file was written on a host of the
 * other byte order. memcpy: no unaligned load.
 */
static inline uint16_t rd_host16(const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/*
 * TCP options, from opt_lim captured bytes of a TCP header of hdr_len bytes
 * starting at t (opt_lim <= hdr_len). Every kind met is appended to opt_sig,
 * NOP and EOL included (layout fingerprinting). A length byte that is < 2,
 * runs past the header or does not match a known kind's size is malformed:
 * parsing stops, the values decoded so far stay. An option cut by the snaplen
 * also stops parsing (pv->truncated is already set by the caller).
 */
static void parse_tcp_options(const uint8_t *t, uint32_t opt_lim, uint32_t hdr_len,
                              struct pkt_view *pv)
{
    uint32_t i = TCP_MIN_HDR_LEN;

    while (i < opt_lim) {
        uint8_t kind = t[i];
        uint32_t len;

        if (pv->opt_count < DECODE_OPT_SIG_LEN)
            pv->opt_sig[pv->opt_count++] = kind;
        if (kind == TCPOPT_EOL)
            return;
        if (kind == TCPOPT_NOP) {
            i++;
            continue;
        }
        if (!have(opt_lim, i, 2)) /* length byte past the header or not captured */
            return;
        len = t[i + 1];
        if (len < 2 || !have(hdr_len, i, len)) /* malformed */
            return;
        if (!have(opt_lim, i, len)) /* cut by the snaplen */
            return;

        switch (kind) {
        case TCPOPT_MSS:
            if (len != TCPOLEN_MSS)
                return;
            pv->mss = rd_be16(t + i + 2);
            break;
        case TCPOPT_WS:
            if (len != TCPOLEN_WS)
                return;
            pv->wscale = t[i + 2] > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : t[i + 2];
            break;
        case TCPOPT_SACK_PERM:
            if (len != TCPOLEN_SACK_PERM)
                return;
            pv->sack_perm = 1;
            break;
        case TCPOPT_TS:
            if (len != TCPOLEN_TS)
                return;
            pv->has_ts = 1;
            pv->tsval = rd_be32(t + i + 2);
            pv->tsecr = rd_be32(t + i + 6);
            break;
        default:
            break;
        }
        i += len;
    }
}

/*
 * TCP header at offset off of an IP packet starting at ip. ip_cap is the
 * number of bytes of the IP packet that were captured (never more than the IP
 * length, so padding after it is ignored); ip_payload is the true number of
 * bytes after the IP headers. len_from_cap says the IP length was unknown and
 * taken from the capture (then a short packet is a truncation, not an error).
 */
static enum decode_result decode_tcp(const uint8_t *ip, uint32_t ip_cap, uint32_t off,
                                     uint32_t ip_payload, int len_from_cap,
                                     struct pkt_view *pv)
{
    const uint8_t *t;
    uint32_t hdr_len, cap, payload_cap;

    if (ip_payload < TCP_MIN_HDR_LEN && !len_from_cap)
        return DECODE_BAD_TCP_HDRLEN; /* not even a minimal header fits the IP payload */
    NEED(ip_cap, off, TCP_MIN_HDR_LEN, DECODE_TRUNC_TCP);
    t = ip + off;
    cap = ip_cap - off;

    hdr_len = (uint32_t)(t[12] >> 4) * 4;
    if (hdr_len < TCP_MIN_HDR_LEN || hdr_len > ip_payload)
        return DECODE_BAD_TCP_HDRLEN;

    pv->sport = rd_be16(t);
    pv->dport = rd_be16(t + 2);
    pv->seq = rd_be32(t + 4);
    pv->ack = rd_be32(t + 8);
    pv->flags = t[13];
    pv->window = rd_be16(t + 14);
    pv->tcp_csum = rd_be16(t + 16);
    pv->tcp_hdr_len = (uint8_t)hdr_len;

    pv->payload_len = ip_payload - hdr_len;
    payload_cap = cap > hdr_len ? min_u32(cap - hdr_len, pv->payload_len) : 0;
    pv->payload_caplen = payload_cap;
    pv->payload = payload_cap ? t + hdr_len : NULL;
    if (cap < hdr_len || payload_cap < pv->payload_len)
        pv->truncated = 1;

    parse_tcp_options(t, min_u32(cap, hdr_len), hdr_len, pv);
    return DECODE_OK;
}

static enum decode_result decode_ip(const uint8_t *d, uint32_t caplen, uint32_t off,
                                    int version, struct pkt_view *pv);

/*
 * UDP datagram at ip + off (ip_payload bytes by the IP header). Only GTP-U
 * G-PDUs lead anywhere: the IP packet they carry is decoded in place of the
 * outer one, once (a tunnel inside it is left alone). Anything else, or a GTP
 * header that is cut or malformed, is just not TCP.
 */
static enum decode_result decode_udp(const uint8_t *ip, uint32_t ip_cap, uint32_t off,
                                     uint32_t ip_payload, struct pkt_view *pv)
{
    uint32_t g = off + UDP_HDR_LEN, hl = GTPU_HDR_LEN, end;
    uint8_t fl, next;

    if (pv->tunnel != DECODE_TUNNEL_NONE || ip_payload < UDP_HDR_LEN + GTPU_HDR_LEN ||
        !have(ip_cap, off, UDP_HDR_LEN + GTPU_HDR_LEN))
        return DECODE_NOT_TCP;
    if (rd_be16(ip + off) != GTPU_PORT && rd_be16(ip + off + 2) != GTPU_PORT)
        return DECODE_NOT_TCP;
    fl = ip[g];
    if ((fl >> 5) != 1 || !(fl & 0x10) || ip[g + 1] != GTPU_TYPE_GPDU)
        return DECODE_NOT_TCP; /* GTPv1 (not GTP'), G-PDU only */
    end = g + GTPU_HDR_LEN + rd_be16(ip + g + 2);
    if (end > off + ip_payload)
        return DECODE_NOT_TCP;
    if (fl & GTPU_FLAGS_OPT) {
        hl += GTPU_OPT_LEN;
        if (!have(ip_cap, g, hl) || g + hl > end)
            return DECODE_NOT_TCP;
        next = (fl & GTPU_FLAG_E) ? ip[g + hl - 1] : 0;
        for (int n = 0; next != 0; n++) {
            uint32_t el;
            /* length in 4-byte units, then contents, then the next type */
            if (n >= GTPU_MAX_EXT || !have(ip_cap, g + hl, 1))
                return DECODE_NOT_TCP;
            el = (uint32_t)ip[g + hl] * 4;
            if (el == 0 || !have(ip_cap, g + hl, el) || g + hl + el > end)
                return DECODE_NOT_TCP;
            next = ip[g + hl + el - 1];
            hl += el;
        }
    }
    if (g + hl >= end)
        return DECODE_NOT_TCP; /* no user packet */
    pv->tunnel = DECODE_TUNNEL_GTPU;
    return decode_ip(ip, min_u32(ip_cap, end), g + hl, 0, pv);
}

/* IPv4 packet at d + off; at least one byte of it is captured. */
static enum decode_result decode_ipv4(const uint8_t *d, uint32_t caplen, uint32_t off,
                                      struct pkt_view *pv)
{
    const uint8_t *ip = d + off;
    uint32_t cap = caplen - off;
    uint32_t hdr_len = (uint32_t)(ip[0] & 0x0f) * 4;
    uint32_t tot_len;
    int len_from_cap = 0;

    if (hdr_len < IPV4_MIN_HDR_LEN)
        return DECODE_BAD_IP_HDRLEN;
    NEED(cap, 0, hdr_len, DECODE_TRUNC_IP); /* also covers the 20 fixed bytes */

    tot_len = rd_be16(ip + 2);
    if (tot_len == 0) { /* TSO/GSO segment seen before segmentation */
        tot_len = cap;
        len_from_cap = 1;
        pv->ip_len0 = 1;
    } else if (tot_len < hdr_len) {
        return DECODE_BAD_IP_TOTLEN;
    }

    pv->ip_version = 4;
    pv->ttl = ip[8];
    pv->ip_id = rd_be16(ip + 4);
    pv->src = ip + 12;
    pv->dst = ip + 16;
    pv->l3 = ip;
    pv->l3_caplen = min_u32(cap, tot_len); /* etherleak: padding is not IP */

    if (rd_be16(ip + 6) & IPV4_FRAG_OFF_MASK)
        return DECODE_IP_FRAGMENT;
    if (ip[9] == IPPROTO_NUM_UDP)
        return decode_udp(ip, pv->l3_caplen, hdr_len, tot_len - hdr_len, pv);
    if (ip[9] != IPPROTO_NUM_TCP)
        return DECODE_NOT_TCP;
    return decode_tcp(ip, pv->l3_caplen, hdr_len, tot_len - hdr_len, len_from_cap, pv);
}

static int ipv6_is_walked_ext(uint8_t nh)
{
    return nh == IPPROTO_NUM_HOPOPTS || nh == IPPROTO_NUM_ROUTING ||
           nh == IPPROTO_NUM_FRAGMENT || nh == IPPROTO_NUM_AH || nh == IPPROTO_NUM_DSTOPTS;
}

/* IPv6 packet at d + off; at least one byte of it is captured. */
static enum decode_result decode_ipv6(const uint8_t *d, uint32_t caplen, uint32_t off,
                                      struct pkt_view *pv)
{
    const uint8_t *ip = d + off;
    uint32_t cap = caplen - off;
    uint32_t ip_len, ip_cap, o = IPV6_HDR_LEN;
    uint8_t nh;
    int len_from_cap, n;

    NEED(cap, 0, IPV6_HDR_LEN, DECODE_TRUNC_IP);
    ip_len = rd_be16(ip + 4);
    len_from_cap = ip_len == 0; /* jumbogram: real length in hop-by-hop, use capture */
    pv->ip_len0 = (uint8_t)len_from_cap;
    ip_len = len_from_cap ? cap : ip_len + IPV6_HDR_LEN;
    ip_cap = min_u32(cap, ip_len);

    pv->ip_version = 6;
    pv->ttl = ip[7];
    pv->src = ip + 8;
    pv->dst = ip + 24;
    pv->l3 = ip;
    pv->l3_caplen = ip_cap;

    nh = ip[6];
    for (n = 0; nh != IPPROTO_NUM_TCP; n++) {
        const uint8_t *h;
        uint32_t hl;

        if (nh == IPPROTO_NUM_UDP)
            return decode_udp(ip, ip_cap, o, ip_len - o, pv);
        if (!ipv6_is_walked_ext(nh)) /* ICMPv6, ESP, no next header (59), ... */
            return DECODE_NOT_TCP;
        if (n >= DECODE_MAX_IPV6_EXT)
            return DECODE_BAD_IPV6_EXT;
        if (nh == IPPROTO_NUM_HOPOPTS && n != 0) /* RFC 8200 4.1: first or nowhere */
            return DECODE_BAD_IPV6_EXT;
        /* every walked header is at least 8 bytes: next header, length, ... */
        if (!have(ip_len, o, IPV6_EXT_MIN_LEN))
            return len_from_cap ? DECODE_TRUNC_IP : DECODE_BAD_IP_TOTLEN;
        NEED(ip_cap, o, IPV6_EXT_MIN_LEN, DECODE_TRUNC_IP);
        h = ip + o;
        if (nh == IPPROTO_NUM_FRAGMENT) {
            hl = IPV6_FRAG_HDR_LEN;
            if (rd_be16(h + 2) >> 3) /* fragment offset, in 8-byte units */
                return DECODE_IP_FRAGMENT;
        } else if (nh == IPPROTO_NUM_AH) {
            hl = ((uint32_t)h[1] + 2) * 4; /* RFC 4302: 32-bit words minus 2 */
        } else {
            hl = ((uint32_t)h[1] + 1) * 8; /* 8-byte units minus the first */
        }
        if (!have(ip_len, o, hl))
            return len_from_cap ? DECODE_TRUNC_IP : DECODE_BAD_IP_TOTLEN;
        NEED(ip_cap, o, hl, DECODE_TRUNC_IP);
        nh = h[0];
        o += hl;
    }
    return decode_tcp(ip, ip_cap, o, ip_len - o, len_from_cap, pv);
}

/*
 * IP packet at d + off. version is what the link layer announced (4 or 6),
 * or 0 when only the version nibble can tell (raw IP).
 */
static enum decode_result decode_ip(const uint8_t *d, uint32_t caplen, uint32_t off,
                                    int version, struct pkt_view *pv)
{
    int v;

    NEED(caplen, off, 1, DECODE_TRUNC_IP);
    v = d[off] >> 4;
    if (version != 0 && v != version)
        return DECODE_BAD_IP_VERSION;
    if (v == 4)
        return decode_ipv4(d, caplen, off, pv);
    if (v == 6)
        return decode_ipv6(d, caplen, off, pv);
    return DECODE_BAD_IP_VERSION;
}

/* IPv4 or IPv6 at d + off when the ethertype type says so; anything else is not IP. */
static enum decode_result decode_ip_ethertype(const uint8_t *d, uint32_t caplen, uint16_t type,
                                              uint32_t off, struct pkt_view *pv)
{
    if (type == ETHERTYPE_IPV4)
        return decode_ip(d, caplen, off, 4, pv);
    if (type == ETHERTYPE_IPV6)
        return decode_ip(d, caplen, off, 6, pv);
    return DECODE_NOT_IP;
}

/*
 * 802.2 LLC header at d + off (802.3 frames, FDDI). Only LLC + SNAP (SAPs
 * 0xaa, UI control) can carry IP: its ethertype goes to *type, and the frame
 * goes on LLC_SNAP_LEN bytes later. Any other LLC frame is not IP.
 */
static enum decode_result read_llc_snap(const uint8_t *d, uint32_t caplen, uint32_t off,
                                        uint16_t *type)
{
    NEED(caplen, off, LLC_HDR_LEN, DECODE_TRUNC_LINK);
    if (d[off] != LLC_SAP_SNAP || d[off + 1] != LLC_SAP_SNAP || d[off + 2] != LLC_CTRL_UI)
        return DECODE_NOT_IP;
    NEED(caplen, off, LLC_SNAP_LEN, DECODE_TRUNC_LINK);
    *type = rd_be16(d + off + 6);
    return DECODE_OK;
}

static int is_vlan_tpid(uint16_t type)
{
    return type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD;
}

static enum decode_result decode_pppoe(const uint8_t *d, uint32_t caplen, uint32_t off,
                                       struct pkt_view *pv);

/*
 * What follows an Ethernet-style type field (Ethernet II, SLL, SLL2) whose
 * value is type and whose next byte is at off: VLAN tags (any depth; the
 * first DECODE_MAX_VLAN IDs are kept), one 802.2 LLC/SNAP header when type is
 * an 802.3 length, then IPv4, IPv6 or a PPPoE session.
 */
static enum decode_result decode_ethertype(const uint8_t *d, uint32_t caplen, uint16_t type,
                                           uint32_t off, struct pkt_view *pv)
{
    int llc_done = 0;

    for (;;) {
        if (is_vlan_tpid(type)) {
            NEED(caplen, off, VLAN_TAG_LEN, DECODE_TRUNC_LINK);
            if (pv->vlan_count < DECODE_MAX_VLAN)
                pv->vlan[pv->vlan_count] = rd_be16(d + off) & VLAN_VID_MASK;
            if (pv->vlan_count < UINT8_MAX)
                pv->vlan_count++;
            type = rd_be16(d + off + 2);
            off += VLAN_TAG_LEN;
        } else if (type <= ETHER_MAX_LENFIELD && !llc_done) {
            /* 802.3 length field: only LLC/SNAP can carry IP */
            enum decode_result r = read_llc_snap(d, caplen, off, &type);

            if (r != DECODE_OK)
                return r;
            off += LLC_SNAP_LEN;
            llc_done = 1;
        } else {
            break;
        }
    }
    /* DSL and FTTH access networks: PPP sessions over Ethernet, often VLAN-tagged */
    if (type == ETHERTYPE_PPPOE)
        return decode_pppoe(d, caplen, off, pv);
    return decode_ip_ethertype(d, caplen, type, off, pv);
}

/* SLL/SLL2 protocol field: below 0x0600 it is a Linux ETH_P_* pseudo-type. */
static enum decode_result decode_sll_proto(const uint8_t *d, uint32_t caplen, uint16_t proto,
                                           uint32_t off, struct pkt_view *pv)
{
    if (proto < ETHERTYPE_MIN && proto != SLL_PROTO_LLC)
        return DECODE_NOT_IP;
    return decode_ethertype(d, caplen, proto, off, pv);
}

/*
 * PPP frame at d + off (RFC 1661): an optional ff 03 address/control pair
 * (HDLC-like framing, RFC 1662; absent when address/control field compression
 * was negotiated), then the protocol field. That field is 2 bytes, or 1 when
 * compressed: protocol numbers have an even first byte and an odd last one,
 * so an odd first byte is the whole field (RFC 1661 section 2). Only 0x0021
 * and 0x0057 carry plain IP; LCP, IPCP, Van Jacobson compressed TCP, MPLS,
 * ... are not IP for us.
 */
static enum decode_result decode_ppp(const uint8_t *d, uint32_t caplen, uint32_t off,
                                     struct pkt_view *pv)
{
    uint16_t proto;

    NEED(caplen, off, 1, DECODE_TRUNC_LINK);
    if (d[off] == PPP_ADDRESS) {
        NEED(caplen, off, 2, DECODE_TRUNC_LINK);
        if (d[off + 1] != PPP_CONTROL)
            return DECODE_NOT_IP;
        off += 2;
        NEED(caplen, off, 1, DECODE_TRUNC_LINK);
    }
    if (d[off] & 1) {
        proto = d[off];
        off += 1;
    } else {
        NEED(caplen, off, 2, DECODE_TRUNC_LINK);
        proto = rd_be16(d + off);
        off += 2;
    }
    if (proto == PPP_PROTO_IPV4)
        return decode_ip(d, caplen, off, 4, pv);
    if (proto == PPP_PROTO_IPV6)
        return decode_ip(d, caplen, off, 6, pv);
    return DECODE_NOT_IP;
}

/* Cisco HDLC frame at d + off: address, control, then an ethertype. */
static enum decode_result decode_chdlc(const uint8_t *d, uint32_t caplen, uint32_t off,
                                       struct pkt_view *pv)
{
    NEED(caplen, off, CHDLC_HDR_LEN, DECODE_TRUNC_LINK);
    return decode_ip_ethertype(d, caplen, rd_be16(d + off + CHDLC_PROTO_OFF),
                               off + CHDLC_HDR_LEN, pv);
}

/*
 * DLT_PPP / DLT_PPP_SERIAL frame: PPP, or Cisco HDLC when the first byte is a
 * Cisco address (the "Cisco PPP with HDLC framing" of RFC 1547 4.3.1 that
 * LINKTYPE_PPP_HDLC allows). 0x0f and 0x8f are not the PPP address, and a
 * compressed PPP protocol 0x000f or 0x008f would carry no IP anyway, so
 * reading them as Cisco HDLC cannot hide an IP packet.
 */
static enum decode_result decode_ppp_hdlc(const uint8_t *d, uint32_t caplen,
                                          struct pkt_view *pv)
{
    NEED(caplen, 0, 1, DECODE_TRUNC_LINK);
    if (d[0] == CHDLC_ADDR_UNICAST || d[0] == CHDLC_ADDR_MULTICAST)
        return decode_chdlc(d, caplen, 0, pv);
    return decode_ppp(d, caplen, 0, pv);
}

/* PPPoE header at d + off: only session data (code 0) of version 1 carries PPP. */
static enum decode_result decode_pppoe(const uint8_t *d, uint32_t caplen, uint32_t off,
                                       struct pkt_view *pv)
{
    NEED(caplen, off, PPPOE_HDR_LEN, DECODE_TRUNC_LINK);
    if (d[off] != PPPOE_VER_TYPE || d[off + 1] != PPPOE_CODE_SESSION)
        return DECODE_NOT_IP;
    return decode_ppp(d, caplen, off + PPPOE_HDR_LEN, pv);
}

/*
 * FDDI: frame control, destination, source (bit-swapped or not: the
 * addresses are not read), then 802.2 LLC. Only LLC frames with 48-bit
 * addresses have this 13-byte header; SMT, MAC and token frames are not IP.
 */
static enum decode_result decode_fddi(const uint8_t *d, uint32_t caplen, struct pkt_view *pv)
{
    enum decode_result r;
    uint16_t type;

    NEED(caplen, 0, FDDI_HDR_LEN, DECODE_TRUNC_LINK);
    if ((d[0] & FDDI_FC_LFF_MASK) != FDDI_FC_LLC48)
        return DECODE_NOT_IP;
    r = read_llc_snap(d, caplen, FDDI_HDR_LEN, &type);
    if (r != DECODE_OK)
        return r;
    return decode_ip_ethertype(d, caplen, type, FDDI_HDR_LEN + LLC_SNAP_LEN, pv);
}

/*
 * Linux NFLOG: a 4-byte header (address family, version, big-endian resource
 * id), then TLVs whose 2-byte length (which counts the TLV header, not the
 * padding to 4 bytes) and 2-byte type are in host byte order (rd_host16).
 * The NFULA_PAYLOAD TLV holds the packet from its network header; the family
 * says IPv4 or IPv6. Its length also bounds the IP packet: the kernel cuts
 * the copied packet to the configured range, which is a truncation like the
 * snaplen. A TLV shorter than its header breaks the chain: TRUNC_LINK, as for
 * a TLV cut by the snaplen before the payload. A chain that ends cleanly
 * without a payload TLV (a log message without the packet, copy mode "meta")
 * is not IP.
 */
static enum decode_result decode_nflog(const uint8_t *d, uint32_t caplen, struct pkt_view *pv)
{
    uint32_t off = NFLOG_HDR_LEN;
    int v;

    NEED(caplen, 0, NFLOG_HDR_LEN, DECODE_TRUNC_LINK);
    if (d[1] != NFLOG_VERSION)
        return DECODE_NOT_IP;
    if (d[0] == NFLOG_AF_INET)
        v = 4;
    else if (d[0] == NFLOG_AF_INET6)
        v = 6;
    else
        return DECODE_NOT_IP;

    while (off < caplen) {
        uint32_t len, type;

        NEED(caplen, off, NFLOG_TLV_HDR_LEN, DECODE_TRUNC_LINK);
        len = rd_host16(d + off);
        type = rd_host16(d + off + 2) & NFLOG_TLV_TYPE_MASK;
        if (len < NFLOG_TLV_HDR_LEN)
            return DECODE_TRUNC_LINK;
        if (type == NFLOG_TLV_PAYLOAD) /* IP ends with the TLV or the capture */
            return decode_ip(d, have(caplen, off, len) ? off + len : caplen,
                             off + NFLOG_TLV_HDR_LEN, v, pv);
        NEED(caplen, off, len, DECODE_TRUNC_LINK); /* cut before the payload */
        len = (len + NFLOG_TLV_ALIGN - 1) & ~(uint32_t)(NFLOG_TLV_ALIGN - 1);
        if (!have(caplen, off, len)) /* padding not captured: the chain ends here */
            break;
        off += len;
    }
    return DECODE_NOT_IP;
}

/* IP version for a BSD loopback address family, or 0. */
static int bsd_af_version(uint32_t af)
{
    switch (af) {
    case BSD_AF_INET:
        return 4;
    case BSD_AF_INET6_LINUX:
    case BSD_AF_INET6_WIN:
    case BSD_AF_INET6_BSD:
    case BSD_AF_INET6_FREEBSD:
    case BSD_AF_INET6_DARWIN:
        return 6;
    default:
        return 0;
    }
}

/* Raw IP link types: DLT_RAW is 12 or 14 depending on the OS; 101 is LINKTYPE_RAW. */
static int is_raw_linktype(int lt)
{
    if (lt == DLT_RAW || lt == LINKTYPE_RAW_VALUE)
        return 1;
    if (lt == 12 && DLT_LOOP != 12)
        return 1;
#if defined(DLT_PPP_BSDOS) && DLT_PPP_BSDOS == 14
    return 0;
#else
    return lt == 14;
#endif
}

enum decode_result decode_packet(int linktype, const uint8_t *data, uint32_t caplen,
                                 struct pkt_view *pv)
{
    memset(pv, 0, sizeof(*pv));
    pv->wscale = 0xff;
    if (data == NULL)
        caplen = 0;

    if (linktype == DLT_EN10MB) {
        NEED(caplen, 0, ETH_HDR_LEN, DECODE_TRUNC_LINK);
        return decode_ethertype(data, caplen, rd_be16(data + 12), ETH_HDR_LEN, pv);
    }
    if (linktype == DLT_LINUX_SLL) {
        NEED(caplen, 0, SLL_HDR_LEN, DECODE_TRUNC_LINK);
        return decode_sll_proto(data, caplen, rd_be16(data + SLL_PROTO_OFF), SLL_HDR_LEN, pv);
    }
    if (linktype == DLT_LINUX_SLL2) {
        NEED(caplen, 0, SLL2_HDR_LEN, DECODE_TRUNC_LINK);
        return decode_sll_proto(data, caplen, rd_be16(data + SLL2_PROTO_OFF), SLL2_HDR_LEN,
                                pv);
    }
    if (linktype == DLT_NULL) { /* family in the capturing host's byte order */
        int v;

        NEED(caplen, 0, NULL_HDR_LEN, DECODE_TRUNC_LINK);
        v = bsd_af_version(rd_le32(data));
        if (v == 0)
            v = bsd_af_version(rd_be32(data));
        if (v == 0)
            return DECODE_NOT_IP;
        return decode_ip(data, caplen, NULL_HDR_LEN, v, pv);
    }
    if (linktype == DLT_LOOP) { /* family in network byte order */
        int v;

        NEED(caplen, 0, NULL_HDR_LEN, DECODE_TRUNC_LINK);
        v = bsd_af_version(rd_be32(data));
        if (v == 0)
            return DECODE_NOT_IP;
        return decode_ip(data, caplen, NULL_HDR_LEN, v, pv);
    }
    if (linktype == DLT_PPP || linktype == DLT_PPP_SERIAL)
        return decode_ppp_hdlc(data, caplen, pv);
    if (linktype == DLT_PPP_ETHER)
        return decode_pppoe(data, caplen, 0, pv);
    if (linktype == DLT_C_HDLC)
        return decode_chdlc(data, caplen, 0, pv);
    if (linktype == DLT_FDDI)
        return decode_fddi(data, caplen, pv);
    if (linktype == DLT_NFLOG)
        return decode_nflog(data, caplen, pv);
    if (linktype == DLT_IPV4)
        return decode_ip(data, caplen, 0, 4, pv);
    if (linktype == DLT_IPV6)
        return decode_ip(data, caplen, 0, 6, pv);
    if (is_raw_linktype(linktype))
        return decode_ip(data, caplen, 0, 0, pv);
    return DECODE_UNSUPPORTED_LINK;
}

const char *decode_result_name(enum decode_result r)
{
    static const char *const names[DECODE_RESULT_COUNT] = {
        [DECODE_OK] = "ok",
        [DECODE_NOT_IP] = "not_ip",
        [DECODE_NOT_TCP] = "not_tcp",
        [DECODE_IP_FRAGMENT] = "ip_fragment",
        [DECODE_UNSUPPORTED_LINK] = "unsupported_link",
        [DECODE_TRUNC_LINK] = "trunc_link",
        [DECODE_TRUNC_IP] = "trunc_ip",
        [DECODE_TRUNC_TCP] = "trunc_tcp",
        [DECODE_BAD_IP_VERSION] = "bad_ip_version",
        [DECODE_BAD_IP_HDRLEN] = "bad_ip_hdrlen",
        [DECODE_BAD_IP_TOTLEN] = "bad_ip_totlen",
        [DECODE_BAD_IPV6_EXT] = "bad_ipv6_ext",
        [DECODE_BAD_TCP_HDRLEN] = "bad_tcp_hdrlen",
    };

    if ((unsigned)r >= DECODE_RESULT_COUNT || names[r] == NULL)
        return "unknown";
    return names[r];
}

int decode_linktype_supported(int linktype)
{
    return linktype == DLT_EN10MB || linktype == DLT_LINUX_SLL ||
           linktype == DLT_LINUX_SLL2 || linktype == DLT_NULL || linktype == DLT_LOOP ||
           linktype == DLT_IPV4 || linktype == DLT_IPV6 || linktype == DLT_PPP ||
           linktype == DLT_PPP_SERIAL || linktype == DLT_PPP_ETHER ||
           linktype == DLT_C_HDLC || linktype == DLT_FDDI || linktype == DLT_NFLOG ||
           is_raw_linktype(linktype);
}
