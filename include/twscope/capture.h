/*
 * capture.h -- where packets come from: capture files (pcap, pcapng, gzip
 * compressed, '-' for stdin), several files merged by timestamp as mergecap
 * does, or a live interface.
 *
 * capture_next() returns packets in timestamp order across all inputs. For
 * files it keeps one pending packet per input (libpcap's own buffer, no copy)
 * and hands out the earliest; ties go to the lower file index. The packet data
 * pointer is valid until the next capture_next() call. capture_start_reader()
 * moves all of this to a thread of its own, with the same results.
 *
 * A BPF filter is compiled per input (each may have its own link type) and
 * applied with pcap_offline_filter(), so frame numbers stay those of the file:
 * a filtered-out frame still consumes its number.
 */
#ifndef TWSCOPE_CAPTURE_H
#define TWSCOPE_CAPTURE_H

#include <stdint.h>
#include <stdio.h>

#include "twscope/common.h"

struct capture_pkt {
    tw_time ts;                 /* packet time, microseconds */
    const uint8_t *data;        /* frame bytes, valid until the next capture_next() */
    uint32_t caplen, wirelen;
    uint64_t frame;             /* 1-based position in its file (Wireshark frame.number) */
    uint32_t file;              /* 0-based input index */
    int linktype;               /* DLT_* of that input */
    void *prep;                 /* what the prepare hook made of it, or NULL (no hook, or
                                   not run: the caller does the work itself) */
};

/*
 * Work on a packet that depends on nothing but the packet (decoding it, say):
 * with the reader thread the hook runs there, on every packet in order, and
 * writes `size` bytes that capture_next() hands out with the packet (p->prep,
 * valid as long as p->data). It may keep pointers into p->data.
 */
typedef void (*capture_prepare_fn)(void *ctx, const struct capture_pkt *p, void *out);

struct capture_opts {
    const char *bpf;            /* filter expression or NULL */
    /* live only */
    int snaplen;                /* 0 = 262144 */
    int buffer_mb;              /* 0 = libpcap default */
    int promisc;
    int timeout_ms;             /* read timeout, 0 = 200 */
};

struct capture;

/*
 * Open capture files. Gzip-compressed files are detected by their magic and
 * read through zlib. On error *out is NULL and err holds one line naming the
 * file and the problem ("x.txt: not a pcap or pcapng file").
 */
int capture_open_files(const char *const *paths, int npaths, const struct capture_opts *o,
                       struct capture **out, char *err, size_t errlen);

/* Open a live interface ("any" works). Same error contract. */
int capture_open_live(const char *iface, const struct capture_opts *o, struct capture **out,
                      char *err, size_t errlen);

/*
 * Next packet (after filtering). Returns 1 with *p filled, 0 at the end of all
 * inputs (or after capture_break()), 2 on a live read timeout with no packet,
 * or TW_ERR_* on a read error with err naming the file and byte offset
 * ("a.pcap: truncated packet record at offset 1234").
 */
int capture_next(struct capture *c, struct capture_pkt *p, char *err, size_t errlen);

/*
 * Files only: read on a thread of its own from now on (see capture.c). The
 * packets, their order, errors and end are the same; the counters and the
 * progress are those the thread last published. Returns 0 (also for live
 * capture, where nothing changes) or TW_ERR_NOMEM (then nothing changed).
 * Call it before the first capture_next(); capture_close() stops the thread.
 */
int capture_start_reader(struct capture *c);
/* The same with a prepare hook (fn may be NULL). */
int capture_start_reader_prep(struct capture *c, capture_prepare_fn fn, void *ctx, size_t size);

/* Link type of input i (DLT_*). */
int capture_linktype(const struct capture *c, uint32_t i);
uint32_t capture_count(const struct capture *c);
/*
 * The input (0-based) that the error capture_next() returned last is about,
 * or -1. A file's error ends that file only: calling capture_next() again
 * goes on with the other inputs.
 */
int capture_error_file(const struct capture *c);

/* Frames read so far (including filtered-out ones), and frames the filter dropped. */
uint64_t capture_frames_read(const struct capture *c);
uint64_t capture_frames_filtered(const struct capture *c);

/* Progress for files: compressed/on-disk bytes consumed and total (0 if unknown, e.g. stdin). */
void capture_progress(const struct capture *c, uint64_t *done, uint64_t *total);

/* Live counters from pcap_stats(); -1 when not live. */
void capture_stats(const struct capture *c, int64_t *recv, int64_t *drop);

/* Make capture_next() return 0 soon (async-signal-safe: only sets a flag and pcap_breakloop). */
void capture_break(struct capture *c);

void capture_close(struct capture *c);

/* Print the interfaces libpcap can capture on, one per line. */
int capture_list_interfaces(FILE *out, char *err, size_t errlen);

#endif /* TWSCOPE_CAPTURE_H */
