/*
 * explain_int.h -- what explain_build.c (the lines of the ladder: the
 * 4-tuple's incarnations, its packets, what the database says at each
 * frame) and explain.c (the target, the ladder and story, the SVG) share.
 * Internal to `twscope explain`; see explain.h for its API.
 */
#ifndef TWSCOPE_EXPLAIN_INT_H
#define TWSCOPE_EXPLAIN_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>


#define XNOTE 320                    /* note text beside one line */
#define XARROW 34                    /* width of the arrow between the two endpoints */

enum { XD_NONE, XD_AB, XD_BA };      /* endpoint A (first incarnation's client) to B, or back */

struct xinc {                        /* one incarnation of the 4-tuple */
    int64_t id, incarnation, prev_id;
    int flip;                        /* its client is endpoint B */
    int syn_seen;
    uint64_t first_frame, last_frame, cfin, sfin, rst;
    uint32_t first_file, last_file;
    double first_ts, last_ts;
    char close_kind[16], closer[16], app[64];
};

struct xev {                         /* one line of the ladder */
    uint32_t file;
    uint64_t frame;                  /* 0: no packet (a TIME_WAIT expiry, the capture end) */
    double ts;                       /* NAN if unknown */
    int dir;                         /* XD_* */
    int inc;                         /* index in incs, -1 if none */
    int pkt;                         /* read from the capture file */
    int keep;                        /* never folded into a run */
    int ts_guess;                    /* ts borrowed from the frame before (not shown) */
    uint8_t flags;                   /* TCP flags when pkt */
    uint32_t len;                    /* payload bytes when pkt */
    char label[40];                  /* written on the arrow */
    char note[XNOTE];                /* written right of it */
};

struct xl {
    sqlite3 *db;
    int64_t capture;
    char a_ip[64], b_ip[64];
    unsigned a_port, b_port;
    int ipv;
    uint8_t a_bytes[16], b_bytes[16];
    struct xinc *inc;
    size_t ninc;
    struct xev *ev;
    size_t nev, cap;
    int packets_read;
    int multi_file;
    char db_dir[2048];               /* directory of the database, "" if none */
    char no_packets[300];            /* why the packets were not read, "" if they were */
};

/* The 4-tuple in either orientation, bound by ex_bind_tuple as ?1-?4. */
#define TUPLE_MATCH                                                                     \
    "((client_ip = ?1 AND client_port = ?2 AND server_ip = ?3 AND server_port = ?4) OR" \
    " (client_ip = ?3 AND client_port = ?4 AND server_ip = ?1 AND server_port = ?2))"

/* events */
struct xev *ex_ev_find(struct xl *x, uint32_t file, uint64_t frame);
int ex_ev_sort(struct xl *x);

/* database */
int ex_dir_of(const struct xinc *c, const char *sender);
const char *ex_col_text(sqlite3_stmt *s, int i);
void ex_bind_tuple(sqlite3_stmt *s, const struct xl *x);
int ex_load_incarnations(struct xl *x);
int ex_inc_of_id(const struct xl *x, int64_t id);

/* packets */
int ex_read_packets(struct xl *x);

/* what the database says */
const char *ex_who_name(const struct xl *x, const struct xinc *c, const char *side, char *buf,
                        size_t n);
void ex_db_connections(struct xl *x);
void ex_db_timewaits(struct xl *x);
sqlite3_stmt *ex_findings_stmt(struct xl *x);
void ex_db_findings(struct xl *x);

#endif
