/*
 * timewait.h -- the TIME_WAIT engine: who closed actively, when each endpoint
 * entered TIME_WAIT, how long its period lasts (2*MSL per OS profile), how it
 * ended, and the teardown findings (FIN and final-ACK retransmissions, late
 * segments of a prior incarnation, TIME_WAIT reuse, RST into TIME_WAIT).
 *
 * All of it is inferred from one capture point, in packet time. The rules and
 * their sources (RFC 9293 3.5-3.6, RFC 1337, RFC 6191, RFC 7323, Linux
 * net/ipv4/tcp_minisocks.c) are written next to the code in timewait.c.
 */
#ifndef TWSCOPE_TIMEWAIT_H
#define TWSCOPE_TIMEWAIT_H

#include <stdint.h>

#include "twscope/common.h"

enum tw_profile_id {
    TWP_LINUX = 0,  /* 60 s: TCP_TIMEWAIT_LEN, fixed */
    TWP_FREEBSD,    /* 60 s: 2 * net.inet.tcp.msl (30 s) */
    TWP_MACOS,      /* 30 s: 2 * net.inet.tcp.msl (15 s) */
    TWP_WINDOWS,    /* 240 s: TcpTimedWaitDelay default */
    TWP_RFC9293,    /* 240 s: 2 * MSL of 2 minutes */
    TWP_CUSTOM,     /* --tw-seconds N */
    TWP_AUTO,       /* per host, from what the capture shows */
    TWP_COUNT
};

enum tw_end_reason {
    TWE_NONE = 0,     /* still running */
    TWE_EXPIRED,      /* the period ran out inside the capture */
    TWE_REUSED,       /* a new SYN on the 4-tuple started a new incarnation */
    TWE_RST,          /* the TIME_WAIT endpoint received an in-window RST */
    TWE_CAPTURE_END,  /* the capture ended first (censored) */
    TWE_EVICTED,      /* dropped by --max-flows before it ended */
};

/* TIME_WAIT state of one endpoint of one connection (small, fixed, pooled). */
struct tw_state {
    tw_time start_ts;          /* entered TIME_WAIT */
    tw_time last_answer_ts;    /* last segment sent by the endpoint in TIME_WAIT */
    tw_time dur;               /* 2*MSL, microseconds */
    tw_time end_ts;            /* when it ended (valid when end_reason != NONE) */
    tw_time last_ack_ts;       /* last copy of the final ACK (re-ACK intervals) */
    uint64_t start_frame;
    uint16_t answers;          /* segments answered while in TIME_WAIT */
    uint16_t start_file;
    uint8_t active : 1;        /* 1 while in TIME_WAIT */
    uint8_t entered : 1;       /* 1 once it entered (row to write) */
    uint8_t inferred : 1;      /* start taken from the peer's FIN, final ACK unseen */
    uint8_t final_ack_seen : 1;/* the original final ACK was seen */
    uint8_t end_reason : 4;    /* enum tw_end_reason */
    uint8_t profile;           /* enum tw_profile_id actually used */
};

struct tw_config {
    enum tw_profile_id profile;    /* TWP_AUTO picks per host */
    tw_time custom_dur;            /* for TWP_CUSTOM */
};

const char *tw_profile_name(enum tw_profile_id p);
/* Parse a --tw-profile name; -1 if unknown. */
int tw_profile_parse(const char *s);
/* 2*MSL of a fixed profile, microseconds. */
tw_time tw_profile_duration(enum tw_profile_id p, const struct tw_config *cfg);
const char *tw_end_reason_name(enum tw_end_reason r);

#endif /* TWSCOPE_TIMEWAIT_H */
