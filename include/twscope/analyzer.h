/*
 * analyzer.h -- one analysis run: packets from a capture source, through the
 * decoder, the TCP/TIME_WAIT engine and nDPI, into the SQLite store.
 *
 * The per-packet path decodes in place, looks the flow up in the hash table
 * and updates fixed structs; rows are written only when a connection ends or a
 * finding happens, in batched transactions. Whatever was analyzed before an
 * error (a truncated file, SIGINT) is written and the capture row says the run
 * is incomplete and why.
 *
 * Thread: main.c calls analyze_run() on the main thread, which becomes the
 * analysis thread; it starts the capture reader (capture.h) and the database
 * writer (writer.h) and joins both before it returns.
 */
#ifndef TWSCOPE_ANALYZER_H
#define TWSCOPE_ANALYZER_H

#include <stdint.h>
#include <stdio.h>

#include "twscope/capture.h"
#include "twscope/timewait.h"

struct analyze_opts {
    const char *db_path;       /* database file */
    int overwrite;             /* start the database afresh */
    int append;                /* analyze a file the database already holds again */
    int per_file;              /* each file its own capture (capture points apart) */
    int dpi;                   /* run nDPI */
    const char *bpf;           /* filter or NULL */
    int ignore_vlan;           /* merge the same 4-tuple across VLANs */
    struct tw_config tw;       /* TIME_WAIT profile */
    uint64_t max_flows;        /* 0 = default */
    int64_t idle_timeout_s;    /* 0 = default */
    int progress;              /* show progress on stderr */
    int quiet;                 /* no closing one-line summary on stderr */
    int verbose;               /* also print where the time went */
    uint32_t jobs;             /* -j N: analysis threads (files only); 0, 1 = one, the loop */
    uint32_t shard_k, shard_n; /* --shard K/N (K 1-based): only the connections whose
                                  flow_shard_hash() mod N is K-1, and the packets that
                                  are not TCP only when K = 1; shard_n 0 = all */
    /* live */
    double duration_s;         /* stop after this much wall time, 0 = no limit */
    uint64_t count;            /* stop after this many packets, 0 = no limit */
    const char *write_path;    /* -w: every captured packet to this pcapng file, or NULL */
    const char *metrics;       /* --metrics [ADDR]:PORT, or NULL */
    unsigned metrics_top;      /* --metrics-top K, 0 = default */
    double alert_port_use;     /* --alert-port-use PCT, 0 = none */
    unsigned port_lo, port_hi; /* --port-range (metrics, alert), 0,0 = 32768-60999 */
    struct capture_opts cap;
};

/* Analyze capture files. Returns 0 or a TW_ERR_*; errors are printed to err. */
int analyze_files(const struct analyze_opts *o, const char *const *files, int nfiles, FILE *err);

/* Capture live on iface until a signal, duration or count. Same contract. */
int analyze_live(const struct analyze_opts *o, const char *iface, FILE *err);

#endif /* TWSCOPE_ANALYZER_H */
