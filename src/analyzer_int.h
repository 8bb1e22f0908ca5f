/*
 * analyzer_int.h -- what the analysis loop (analyzer.c), its -j N lanes
 * (analyzer_lanes.c) and its live once-a-second pass (analyzer_live.c)
 * share: struct run, one analysis of one capture. Internal to the analyzer;
 * see analyzer.h for its API.
 */
#ifndef TWSCOPE_ANALYZER_INT_H
#define TWSCOPE_ANALYZER_INT_H

#include <stdint.h>

#include "twscope/analyzer.h"
#include "twscope/capture.h"
#include "twscope/classify.h"
#include "twscope/metrics.h"
#include "twscope/pcapng_write.h"
#include "twscope/store.h"
#include "twscope/tcpstate.h"
#include "twscope/writer.h"

struct lane;                   /* analyzer_lanes.c */

struct run {
    const struct analyze_opts *o;
    struct store *st;
    struct writer *w;          /* owns st between begin and finish of the capture */
    struct classifier *cl;
    struct tcp_engine *eng;
    struct tcp_keyer *keyer;   /* how the engine keys flows, for the reader thread */
    struct capture *cap;
    struct rec_capture rec;
    int db_failed;             /* a store call failed: stop */
    char db_err[512];
    tw_time first_ts, last_ts;
    uint64_t frames;           /* frames read, this shard's or not (rec.packets: this shard's) */
    char shard[24];            /* "K/N" for captures.shard */
    int live;
    uint64_t n_conns, n_tw, n_findings;   /* rows handed to the writer */
    struct lane *lanes;        /* analyze -j N > 1: N analysis threads, else NULL */
    uint32_t nlanes;
    int status_shown;          /* live: the status line is on the terminal */
    struct pcapng_writer *dump;/* live -w: every packet read goes there, or NULL */
    struct metrics *metrics;   /* live --metrics / --alert-port-use, or NULL */
    uint64_t findings_kind[TWF_COUNT]; /* findings handed to the writer, by kind */
    /* live: periods started since the last per-second pass, to write open then */
    struct pending_tw {
        struct conn *c;        /* pooled: still a struct conn, maybe another one */
        int64_t id;            /* c->id when it started: the same connection? */
        int side;
    } *pending;
    uint32_t npending;
    int pending_lost;          /* the array was full: the next pass visits every connection */
    tw_time stop_ts;           /* live: wall time the capture stopped (periods end there) */
    /* files cut short in a multi-file run: the others go on (tshark does too) */
    char **file_err;           /* per input, what cut it short, or NULL */
    uint32_t nfile_err;
    char summary_err[256];     /* the last line about them, when there were several files */
};

/* analyzer.c */
/* A store or writer call returned rc: the first failure is kept, and stops the run. */
void analyzer_db_fail(struct run *r, int rc);
/* The open row (no end yet) of the TIME_WAIT period of c's side `side`. */
void analyzer_write_open_tw(struct run *r, struct conn *c, int side);

/* analyzer_lanes.c: analyze -j N > 1 */
int lanes_start(struct run *r, const struct tcp_engine_opts *eo, const struct tcp_sinks *sinks);
void lanes_packet(struct run *r, uint64_t key_hash, const struct capture_pkt *p);
void lanes_sweep(struct run *r, tw_time ts);
void lanes_stop(struct run *r, tw_time end);
void lanes_destroy(struct run *r);

/* analyzer_live.c: capture */
void live_sink_tw_started(void *ctx, struct conn *c, int side);
tw_time live_wall_now(void);
void live_tick(struct run *r);

#endif
