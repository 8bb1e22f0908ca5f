/*
 * metrics.h -- `capture --metrics ADDR:PORT`: what an SRE watches on a
 * dashboard, served in the Prometheus text format (or OpenMetrics when the
 * scraper's Accept header asks for it) on /metrics, and `--alert-port-use`.
 *
 * Design: the capture must never wait for a scraper. The HTTP side is
 * libmicrohttpd (Debian libmicrohttpd-dev) in its own internal polling thread,
 * with a connection timeout and a connection limit, so a client that sends
 * half a request, or garbage, costs a socket and nothing else. The analysis
 * thread builds the whole exposition (both formats) about once a second, from
 * one pass over the connections in memory (metrics_begin(), metrics_add_*(),
 * metrics_publish()), into buffers of its own, then swaps them with the
 * published ones under a mutex taken with pthread_mutex_trylock(): when a
 * scrape is copying the published text at that moment, this second's
 * snapshot is skipped rather than waited for. The HTTP thread copies the
 * published text under the same mutex (a memcpy) and answers from its copy.
 *
 * Cardinality: per local address, per remote address:port and per (local,
 * remote) pair only the top K (--metrics-top, default 10) get a series of
 * their own; the rest are summed in one "other" series. The aggregation
 * tables are allocated once, at metrics_create() (METRICS_MAX_KEYS keys each;
 * keys beyond that go to "other" too).
 *
 * Memory: metrics_create() allocates everything; the per-second pass grows
 * the text buffers only while the text grows; nothing is allocated per packet.
 *
 * Thread: every function but the server's is called by the analysis thread.
 */
#ifndef TWSCOPE_METRICS_H
#define TWSCOPE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "twscope/timewait.h"

#define METRICS_MAX_KEYS 4096          /* distinct keys aggregated per table each pass */
#define METRICS_DEFAULT_TOP 10         /* --metrics-top */
#define METRICS_CONN_TIMEOUT_S 5       /* a client idle this long is dropped */
#define METRICS_CONN_LIMIT 32          /* clients served at once */

struct metrics_opts {
    const char *listen;        /* --metrics [ADDR]:PORT, or NULL: no server (alert only) */
    unsigned top_k;            /* 0 = METRICS_DEFAULT_TOP */
    unsigned port_lo, port_hi; /* ephemeral range (--port-range), 0,0 = 32768-60999 */
    double alert_pct;          /* --alert-port-use PCT, 0 = none */
    const char *iface;         /* label of every series */
};

/* Counters of the run, as they stand at metrics_publish(). */
struct metrics_counters {
    uint64_t packets, tcp_packets;
    int64_t ps_recv, ps_drop;          /* -1: unknown */
    uint64_t conns, evicted;
    uint64_t findings[TWF_COUNT];      /* by enum tw_finding (0 unused) */
    uint64_t db_queued;                /* rows handed to the writer, not yet in SQLite */
};

struct metrics;

/*
 * Parse listen ("ADDR:PORT", ":PORT" = 127.0.0.1, "[V6]:PORT"), allocate the
 * tables and start the server. Errors: one line in err naming the option
 * ("--metrics 'x': ..."), *out NULL.
 */
int metrics_create(const struct metrics_opts *o, struct metrics **out, char *err, size_t errlen);

/* Check a --metrics argument without starting anything (0 or -1 with err). */
int metrics_parse_listen(const char *s, char *err, size_t errlen);

/* Start a pass over the connections in memory. */
void metrics_begin(struct metrics *m);
/* One open connection (not closed yet). */
void metrics_add_open(struct metrics *m);
/*
 * One TIME_WAIT period running now: side 0 client, 1 server; local = the
 * endpoint in TIME_WAIT (its address, ip_version 4 or 6, and port), remote =
 * its peer.
 */
void metrics_add_tw(struct metrics *m, int side, int ip_version, const uint8_t *local,
                    uint16_t lport, const uint8_t *remote, uint16_t rport);
/*
 * End the pass: build the texts and publish them (skipped if a scrape holds
 * them at this instant), and print the --alert-port-use line when a pair
 * crosses the threshold (once, until it goes below again).
 */
void metrics_publish(struct metrics *m, const struct metrics_counters *c);

/*
 * Without a server (listen NULL): the text of the last metrics_publish(), 0
 * Prometheus, 1 OpenMetrics, valid until the next one (tests, alert only).
 */
const char *metrics_last_text(const struct metrics *m, int openmetrics);

/* Stop the server and free. NULL is a no-op. */
void metrics_destroy(struct metrics *m);

#endif /* TWSCOPE_METRICS_H */
