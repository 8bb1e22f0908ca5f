/*
 * common.h -- types, status codes and helpers shared by every twscope module.
 *
 * Times are packet times in microseconds since the epoch (tw_time); twscope
 * never reads the wall clock on the analysis path, so runs are reproducible.
 * Sequence numbers are compared only through seq_lt()/seq_leq()/..., which are
 * wrap-safe (RFC 9293 section 3.4: arithmetic modulo 2^32).
 */
#ifndef TWSCOPE_COMMON_H
#define TWSCOPE_COMMON_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t tw_time; /* microseconds since the epoch, packet time */

#define TW_USEC 1000000LL

enum tw_status {
    TW_OK = 0,
    TW_ERR_IO = -1,      /* cannot read/write a file */
    TW_ERR_FORMAT = -2,  /* input is not what it claims to be */
    TW_ERR_DB = -3,      /* SQLite failed */
    TW_ERR_NOMEM = -4,   /* allocation failed */
    TW_ERR_USAGE = -5,   /* bad option or argument */
    TW_ERR_SCHEMA = -6,  /* not a twscope database of this schema version */
};

/* TCP flag bits, as in the TCP header's flags byte. */
#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10
#define TCPF_URG 0x20
#define TCPF_ECE 0x40
#define TCPF_CWR 0x80

/* Wrap-safe sequence comparisons (Linux before()/after()). */
static inline int seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline int seq_leq(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline int seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline int seq_geq(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
/* a in [lo, hi] modulo 2^32 */
static inline int seq_between(uint32_t a, uint32_t lo, uint32_t hi)
{
    return (uint32_t)(a - lo) <= (uint32_t)(hi - lo);
}

/*
 * RFC 9293 3.10.7.4 acceptability test of a segment of seglen sequence numbers
 * at seq for a receiver expecting rcv_nxt with window wnd (both zero cases).
 */
static inline int seq_acceptable(uint32_t seq, uint32_t seglen, uint32_t rcv_nxt, uint32_t wnd)
{
    if (seglen == 0)
        return wnd ? seq_between(seq, rcv_nxt, rcv_nxt + wnd - 1) : seq == rcv_nxt;
    return wnd && (seq_between(seq, rcv_nxt, rcv_nxt + wnd - 1) ||
                   seq_between(seq + seglen - 1, rcv_nxt, rcv_nxt + wnd - 1));
}

/*
 * TCP timestamps (RFC 7323) are compared modulo 2^32 like sequence numbers:
 * ts_older(a, b) is 1 when TSval a was sent before b (PAWS rejects a segment
 * whose TSval is older than the last one seen).
 */
static inline int ts_older(uint32_t a, uint32_t b) { return seq_lt(a, b); }

static inline double tw_time_to_sec(tw_time t) { return (double)t / (double)TW_USEC; }

#endif /* TWSCOPE_COMMON_H */
