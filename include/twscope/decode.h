/*
 * decode.h -- zero-copy decoding of one captured frame down to its TCP header.
 *
 * decode_packet() fills a caller-owned struct pkt_view with values and with
 * pointers *into the capture buffer*: the view is valid only as long as that
 * buffer (for libpcap, until the next read on the same handle). It never
 * allocates, never casts structs onto packet bytes, and checks every read
 * against the captured length. Lengths are taken from the IP header (not from
 * caplen), so a frame cut by the snaplen still yields its TCP header fields and
 * its true payload length; pv->truncated says something was cut.
 *
 * Link types (libpcap DLT_* values as returned by pcap_datalink()):
 *   DLT_EN10MB (Ethernet, with any number of 802.1Q/802.1ad tags; the first
 *   DECODE_MAX_VLAN IDs are kept), DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW,
 *   DLT_IPV4, DLT_IPV6, DLT_NULL, DLT_LOOP,
 *   DLT_PPP and DLT_PPP_SERIAL (PPP with or without ff 03, compressed or not
 *   protocol field; Cisco HDLC framing too), DLT_PPP_ETHER (PPPoE session +
 *   PPP), DLT_C_HDLC (Cisco HDLC), DLT_FDDI (FDDI + LLC/SNAP, bit-swapped
 *   addresses alike), DLT_NFLOG (Linux NFLOG: the NFULA_PAYLOAD TLV, whose
 *   length bounds the IP packet; TLV fields in host byte order, as libpcap
 *   delivers them).
 * Network: IPv4 (with options), IPv6 (hop-by-hop, routing, destination
 * options, fragment extension headers). A non-first fragment carries no TCP
 * header: DECODE_IP_FRAGMENT, never misparsed. Tunnels: GTP-U (mobile
 * networks' user plane, UDP port 2152) is decapsulated once, and the view
 * describes the inner IP packet (pv->tunnel says so); the tunnel's own
 * addresses and TEID are not kept.
 *
 * Thread: any; decode_packet() is a pure function of its arguments (the
 * capture reader thread calls it, ahead of the analysis thread).
 */
#ifndef TWSCOPE_DECODE_H
#define TWSCOPE_DECODE_H

#include <pcap/dlt.h>

#include "twscope/common.h"
#include "twscope/config.h"

/* Link types that older <pcap/dlt.h> may lack. */
#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif
#ifndef DLT_NFLOG
#define DLT_NFLOG 239
#endif

enum decode_result {
    DECODE_OK = 0,          /* TCP header decoded (maybe with truncated options/payload) */
    DECODE_NOT_IP,          /* ARP, LLDP, ...: not an IP packet (not an error) */
    DECODE_NOT_TCP,         /* UDP, ICMP, ...: IP but not TCP (not an error) */
    DECODE_IP_FRAGMENT,     /* non-first IP fragment: no TCP header in it */
    DECODE_UNSUPPORTED_LINK,/* link type we cannot decode */
    DECODE_TRUNC_LINK,      /* frame shorter than its link header */
    DECODE_TRUNC_IP,        /* IP header cut (by snaplen or malformed) */
    DECODE_TRUNC_TCP,       /* fewer than 20 bytes of TCP header captured */
    DECODE_BAD_IP_VERSION,  /* version nibble is neither 4 nor 6 / mismatches link */
    DECODE_BAD_IP_HDRLEN,   /* IPv4 IHL < 5 */
    DECODE_BAD_IP_TOTLEN,   /* IPv4 total length < header length, IPv6 payload too short */
    DECODE_BAD_IPV6_EXT,    /* IPv6 extension header chain broken or too long */
    DECODE_BAD_TCP_HDRLEN,  /* TCP data offset < 5 or beyond the IP payload */
    DECODE_RESULT_COUNT
};

struct pkt_view {
    /* link */
    uint16_t vlan[DECODE_MAX_VLAN];   /* VLAN IDs, outer first; 0 = none */
    uint8_t vlan_count;               /* tags seen (may exceed DECODE_MAX_VLAN) */
    /* network */
    uint8_t ip_version;               /* 4 or 6 */
    uint8_t ttl;                      /* IPv4 TTL or IPv6 hop limit */
    const uint8_t *src;               /* source address bytes (4 or 16), in the buffer */
    const uint8_t *dst;               /* destination address bytes, in the buffer */
    const uint8_t *l3;                /* start of the IP header (what nDPI wants) */
    uint32_t l3_caplen;               /* captured bytes from l3 to the end of the IP packet */
    /* transport */
    uint16_t sport, dport;            /* host order */
    uint32_t seq, ack;                /* host order */
    uint8_t flags;                    /* TCPF_* bits */
    uint16_t window;                  /* raw (unscaled) window field */
    uint16_t ip_id;                   /* IPv4 identification (0 for IPv6) */
    uint16_t tcp_csum;                /* TCP checksum field, as captured (not verified) */
    uint8_t tcp_hdr_len;              /* bytes, from the data offset */
    uint32_t payload_len;             /* from IP length minus headers (true length) */
    const uint8_t *payload;           /* first payload byte in the buffer, or NULL */
    uint32_t payload_caplen;          /* payload bytes actually captured */
    /* TCP options (only from bytes that were captured) */
    uint16_t mss;                     /* 0 = absent */
    uint8_t wscale;                   /* 0xff = absent */
    uint8_t sack_perm;                /* SACK permitted option present */
    uint8_t has_ts;                   /* timestamps option present */
    uint32_t tsval, tsecr;            /* valid when has_ts */
    uint8_t opt_sig[DECODE_OPT_SIG_LEN]; /* option kinds in order (0 = end of list) */
    uint8_t opt_count;                /* kinds stored in opt_sig */
    uint8_t truncated;                /* options or payload cut by the snaplen */
    uint8_t tunnel;                   /* DECODE_TUNNEL_*: the IP packet above came out of it */
    uint8_t ip_len0;                  /* IPv4 total length 0 (TSO/GSO super-segment seen before
                                         segmentation): lengths taken from the captured bytes;
                                         decode_wire_len() corrects them when the frame was cut */
};

/* Sequence numbers a segment occupies: its payload, plus one for SYN and one for FIN. */
static inline uint32_t seg_len(const struct pkt_view *pv)
{
    return pv->payload_len + !!(pv->flags & TCPF_SYN) + !!(pv->flags & TCPF_FIN);
}

/* Tunnels decapsulated (one level): the view describes the inner packet. */
#define DECODE_TUNNEL_NONE 0
#define DECODE_TUNNEL_GTPU 1              /* GTP-U G-PDU on UDP port 2152 (3GPP TS 29.281) */

/*
 * Decode one frame. linktype is a DLT_* value. Returns DECODE_OK when the TCP
 * header (20 bytes at least) was decoded; any other value says why the frame
 * is not a TCP segment we can use. pv is fully overwritten in every case.
 */
enum decode_result decode_packet(int linktype, const uint8_t *data, uint32_t caplen,
                                 struct pkt_view *pv);

/*
 * A TSO/GSO super-segment has no IP total length (0): its payload length came
 * from the captured bytes. When the snaplen cut the frame, the bytes not
 * captured (wirelen - caplen) are payload too: add them.
 */
static inline void decode_wire_len(struct pkt_view *pv, uint32_t caplen, uint32_t wirelen)
{
    if (pv->ip_len0 && wirelen > caplen)
        pv->payload_len += wirelen - caplen;
}

/* Short stable name of a result, used as a counter name in the database. */
const char *decode_result_name(enum decode_result r);

/* 1 if twscope can decode this DLT_* link type. */
int decode_linktype_supported(int linktype);

#endif /* TWSCOPE_DECODE_H */
