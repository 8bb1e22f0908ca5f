/*
 * capture.c -- packet sources: capture files merged by timestamp, or one live
 * interface. The contract is in capture.h; the banner of each part of the
 * module explains its choices:
 *   capture_file.c    opening files (capture magic, gzip), libpcap's offline
 *                     reading, merging the inputs by timestamp: the direct path
 *   capture_map.c     plain pcap files mapped and parsed in place (reader
 *                     thread only), and the SIGBUS registry covering them
 *   capture_pcapng.c  the same for pcapng files (blocks parsed as libpcap does)
 *   capture_live.c    live interfaces, and the interface list
 *   capture_reader.c  the reader thread (capture_start_reader())
 * This file holds the rest of the public API: capture_next(), which takes
 * packets from the reader thread's ring when there is one and from the direct
 * path otherwise, the accessors, capture_break() and capture_close(). What
 * the parts share is in capture_int.h.
 *
 * Reading on a thread of its own (capture_start_reader(), what `analyze`
 * does): the direct path runs on a reader thread that hands packets to the
 * caller through a ring; plain pcap files are then mapped and parsed in
 * place instead of through libpcap. Both are described where they are coded
 * (capture_map.c, capture_reader.c).
 *
 * Thread: the caller's (the analysis thread of `analyze`); capture_break()
 * also from a signal handler. While the reader thread runs, the counters and
 * the progress are those it last published.
 */
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "capture_int.h"

struct capture *capture_alloc(uint32_t n)
{
    struct capture *c = aligned_alloc(64, sizeof *c); /* see frames_read */

    if (c == NULL)
        return NULL;
    memset(c, 0, sizeof *c);
    /* 64-byte aligned: struct capture_input keeps a cache line apart (used_off) */
    c->in = aligned_alloc(64, (size_t)n * sizeof *c->in);
    if (c->in != NULL)
        memset(c->in, 0, n * sizeof *c->in);
    if (c->in == NULL) {
        free(c);
        return NULL;
    }
    c->n = n;
    c->live_fd = -1;
    c->err_file = -1;
    return c;
}

int capture_next(struct capture *c, struct capture_pkt *p, char *err, size_t errlen)
{
    return c->rd ? capture_next_ring(c, p, err, errlen) : capture_next_direct(c, p, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* Public: accessors                                                         */

int capture_linktype(const struct capture *c, uint32_t i)
{
    return i < c->n ? c->in[i].linktype : -1;
}

uint32_t capture_count(const struct capture *c)
{
    return c->n;
}

int capture_error_file(const struct capture *c)
{
    return c->rd ? c->rd->err_file : c->err_file;
}

uint64_t capture_frames_read(const struct capture *c)
{
    return c->rd ? atomic_load(&c->rd->frames_read) : c->frames_read;
}

uint64_t capture_frames_filtered(const struct capture *c)
{
    return c->rd ? atomic_load(&c->rd->frames_filtered) : c->frames_filtered;
}

void capture_progress(const struct capture *c, uint64_t *done, uint64_t *total)
{
    if (c->rd == NULL) {
        capture_progress_direct(c, done, total);
        return;
    }
    if (done != NULL)
        *done = atomic_load(&c->rd->bytes_done);
    if (total != NULL)
        *total = atomic_load(&c->rd->bytes_total);
}

void capture_stats(const struct capture *c, int64_t *recv, int64_t *drop)
{
    struct pcap_stat ps;
    int64_t r = -1, d = -1;

    if (c->live && c->in[0].pcap != NULL && pcap_stats(c->in[0].pcap, &ps) == 0) {
        r = (int64_t)ps.ps_recv;
        d = (int64_t)ps.ps_drop + (int64_t)ps.ps_ifdrop;
    }
    if (recv != NULL)
        *recv = r;
    if (drop != NULL)
        *drop = d;
}

void capture_break(struct capture *c)
{
    c->stop = 1;
    if (c->live && c->in[0].pcap != NULL)
        pcap_breakloop(c->in[0].pcap);  /* wakes a blocking read (no selectable fd) */
}

void capture_close(struct capture *c)
{
    if (c == NULL)
        return;
    capture_reader_stop(c);
    for (uint32_t i = 0; i < c->n; i++) {
        struct capture_input *in = &c->in[i];

        if (in->pcap != NULL)
            pcap_close(in->pcap);
        if (in->have_prog)
            pcap_freecode(&in->prog);
        if (in->map != NULL)
            capture_map_release(in);
        free(in->name);
    }
    free(c->in);
    free(c);
}
