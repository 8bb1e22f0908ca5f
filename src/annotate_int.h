/*
 * annotate_int.h -- what annotate.c (the database side: which frame gets
 * which comment) and annotate_copy.c (the copy of each source file to
 * pcapng) share. Internal to `twscope annotate`; see annotate.h for its API.
 */
#ifndef TWSCOPE_ANNOTATE_INT_H
#define TWSCOPE_ANNOTATE_INT_H

#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "twscope/annotate.h"
#include "twscope/store.h"

#define EP_MAX (STORE_IP_LEN + 10)     /* "[v6]:port" */

struct ann {                           /* one comment on one frame */
    uint32_t file;
    uint64_t frame;
    uint32_t order;                    /* findings, then TIME_WAIT end, start, incarnation */
    uint32_t seq;                      /* insertion order, to sort stably */
    char *text;
};

struct conn {
    int64_t id, prev;                  /* prev: 0 when none */
    uint32_t inc;
    char client[EP_MAX], server[EP_MAX];
    uint64_t first_frame, last_frame;
    uint32_t first_file, last_file;
    int syn_seen;
    double first_ts, last_ts;
};

struct tw {
    int64_t cid;
    char side[8], ep[EP_MAX], reason[16], profile[16];
    double start_ts, end_ts, dur;
    uint64_t start_frame;
    uint32_t start_file;
    int inferred;
    uint64_t end_frame;                /* 0: no packet ended it */
    uint32_t end_file;
};

struct infile {
    uint32_t index;
    char *path;
    char *name;                        /* basename, for "frame 10 of NAME" */
    int known;
    uint64_t size;
    char fingerprint[17];
    char *out;                         /* final output path (per-file mode) */
    char *tmp;                         /* temporary output path, NULL once renamed */
    uint64_t packets, commented, comments, dropped;
};

struct annot {
    const struct annotate_opts *o;
    FILE *msg;
    sqlite3 *db;
    int64_t capture_id;
    struct conn *conns;
    size_t nconns;
    struct tw *tws;
    size_t ntws;
    struct ann *anns;
    size_t nanns, capanns;
    struct infile *files;
    size_t nfiles;
    uint8_t *blk;                      /* block buffer of the copy */
    size_t blkcap;
    int section;                       /* the output's current section: 0 none yet,
                                          1 host byte order, 2 the other (--merge) */
};

/* One line "twscope: annotate: ..." on a->msg; returns rc. */
int ann_say(struct annot *a, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* strdup that aborts when memory is out; NULL gives "". */
char *ann_strdup(const char *s);

/* annotate_copy.c */
int ann_check_sources(struct annot *a);   /* every source is the file analyzed */
int ann_plan_outputs(struct annot *a);    /* per-file output names (not --merge) */
int ann_write_outputs(struct annot *a);   /* the copies, all or nothing */
void ann_summary(struct annot *a);

#endif
