/*
 * capture_int.h -- what the parts of the capture module share (capture.c's
 * banner lists them): the records behind struct capture, the reader thread's
 * state the accessors read, the small helpers of the per-packet path (static
 * inline, so the reader's loop inlines them as before), and the functions one
 * part calls in another. Only src/capture*.c include it; the contract is in
 * capture.h.
 *
 * Thread: as each function says. A struct capture is used by one thread at a
 * time, except for what the reader thread and its consumer share (struct
 * reader, used_off) and for capture_break() from a signal handler (stop).
 */
#ifndef TWSCOPE_CAPTURE_INT_H
#define TWSCOPE_CAPTURE_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <pcap/pcap.h>
#include <zlib.h>

#include "twscope/capture.h"

struct ring;
struct pcapng;

enum input_state {
    IN_NEED,                    /* no pending packet: read one on the next call */
    IN_PENDING,                 /* hdr/data hold the next packet of this input */
    IN_DONE,                    /* ended (EOF or read error); handle closed */
};

/* fopencookie() state of a zlib-read stream. Owned (and freed) by its FILE. */
struct gz_cookie {
    gzFile gz;                  /* closed by the cookie's close callback */
    uint8_t pre[4];             /* bytes read to check the magic, replayed first */
    size_t npre;                /* valid bytes in pre */
    size_t pos;                 /* bytes of pre already replayed */
    uint64_t delivered;         /* bytes handed to stdio so far (what ftell() builds on) */
};

struct capture_input {
    char *name;                 /* path as given (or interface name); owned */
    pcap_t *pcap;               /* NULL once the input has ended */
    FILE *fp;                   /* the stream libpcap reads (pcap owns it), or NULL */
    struct gz_cookie *gzc;      /* zlib state behind fp when it is a cookie, or NULL */
    struct bpf_program prog;    /* compiled filter (files only) */
    int have_prog;              /* prog must be applied and freed */
    int linktype;               /* pcap_datalink() of this input */
    enum input_state state;
    struct pcap_pkthdr *hdr;    /* pending packet header (libpcap's buffer) */
    const u_char *data;         /* pending packet bytes (libpcap's buffer) */
    tw_time pend_ts;            /* timestamp of the pending packet */
    uint64_t pend_frame;        /* frame number of the pending packet */
    uint64_t frame;             /* records read from this input so far */
    uint64_t size;              /* on-disk bytes, 0 = unknown (pipe) */
    uint64_t done_bytes;        /* bytes consumed, frozen when the input ends */
    int64_t rec_off;            /* offset of the record being read, -1 = unknown */
    /* mapped classic pcap file (see capture_map_next()), map == NULL otherwise */
    const uint8_t *map;         /* the whole file, read-only; unmapped at capture_close() */
    int map_slot;               /* its SIGBUS registry slot */
    int map_shrunk;             /* found shorter than at open: capture_map_next() fails at once */
    int map_fd;                 /* a dup of the file's fd for fstat(), while mapped */
    size_t map_len;
    size_t moff;                /* offset of the next record */
    size_t populated;           /* bytes from 0 whose pages are known to be mapped */
    size_t dropped;             /* bytes from 0 whose pages were given back (MADV_DONTNEED) */
    int swapped, nsec;          /* byte order, nanosecond timestamps */
    uint32_t snapshot;          /* snapshot length as libpcap adjusted it */
    struct pcapng *ng;          /* pcapng state (capture_pcapng.c), NULL for classic pcap */
    struct pcap_pkthdr mhdr;    /* header of the pending packet */
    /* the analysis thread's, on a cache line of their own (the reader writes the rest) */
    _Alignas(64) atomic_size_t used_off; /* offset of the packet the analysis handles */
    const uint8_t *used_base;   /* = map */
};

struct capture {
    struct capture_input *in;   /* inputs, in command-line order */
    uint32_t n;                 /* number of inputs */
    int live;                   /* in[0] is a live interface */
    int live_fd;                /* live: fd we poll() (handle non-blocking), or -1 */
    int timeout_ms;             /* live: poll() timeout */
    atomic_int stop;            /* set by capture_break() (a signal handler: lock-free) */
    int err_file;               /* input of the error capture_next_direct() returned last, -1 none */
    struct reader *rd;          /* reader thread (capture_start_reader), or NULL */
    /* written per record by whoever reads (the reader thread): a cache line of
     * their own, or every packet would cost the analysis thread a miss */
    _Alignas(64) uint64_t frames_read; /* records read, all inputs, filtered ones included */
    uint64_t frames_filtered;   /* records the BPF filter rejected */
};

/* The reader thread (capture_reader.c), while it runs: c->rd. */
struct reader {
    struct capture *c;
    capture_prepare_fn prep;    /* hook run on each packet, or NULL */
    void *prep_ctx;
    size_t prep_size;           /* bytes it writes, 8-aligned */
    pthread_t thread;
    struct ring *ring;
    int err_file;               /* consumer: input of the error it returned last, -1 none */
    /* the consumer's, written per packet: a cache line of their own */
    _Alignas(64) int ended;     /* RK_END seen */
    uint64_t last_frame;        /* frame number handed out last */
    unsigned faults_seen;       /* capture_map_faults when the inputs' slots were last looked at */
    /* what the accessors report while the thread runs (updated by it) */
    _Alignas(64) atomic_uint_least64_t frames_read, frames_filtered, bytes_done, bytes_total;
};

#define SHRANK "the file shrank while being read"

/*
 * Format into err and force it onto one line (libpcap and zlib messages may
 * carry newlines or trailing blanks). err may be NULL.
 */
__attribute__((format(printf, 3, 4)))
static inline void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    size_t len;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    for (char *s = err; *s; s++) {
        if (*s == '\n' || *s == '\r' || *s == '\t')
            *s = ' ';
    }
    len = strlen(err);
    while (len > 0 && err[len - 1] == ' ')
        err[--len] = '\0';
}

/*
 * A record's time in microseconds. A forged timestamp (a pcapng one near 2^64
 * units, a negative pcap one) is clamped instead of overflowing: packet time
 * stays monotonic enough for the engine and nothing is undefined.
 */
static inline tw_time ts_usec(const struct timeval *tv)
{
    /* a quarter of the range: sums and differences of two times cannot overflow */
    const int64_t max_sec = INT64_MAX / TW_USEC / 4;
    int64_t sec = (int64_t)tv->tv_sec, usec = (int64_t)tv->tv_usec;
    if (sec > max_sec)
        return max_sec * TW_USEC;
    if (sec < -max_sec)
        return -max_sec * TW_USEC;
    if (usec < 0 || usec >= TW_USEC)
        usec = 0;
    return sec * TW_USEC + usec;
}

static inline void fill_pkt(struct capture_pkt *p, const struct capture_input *in, uint32_t i)
{
    p->ts = in->pend_ts;
    p->data = in->data;
    p->caplen = in->hdr->caplen;
    p->wirelen = in->hdr->len;
    p->frame = in->pend_frame;
    p->file = i;
    p->linktype = in->linktype;
    p->prep = NULL;
}

/* capture.c */

/* A zeroed capture of n inputs (64-byte aligned), or NULL; capture_close() frees it. */
struct capture *capture_alloc(uint32_t n);

/* capture_file.c: the direct path, on the reader thread once it runs, else the caller's */

int capture_next_direct(struct capture *c, struct capture_pkt *p, char *err, size_t errlen);
/* Bytes of the inputs consumed so far and their total (0 if unknown). */
void capture_progress_direct(const struct capture *c, uint64_t *done, uint64_t *total);

/* capture_map.c: mapped classic pcap files and their SIGBUS registry */

extern atomic_uint capture_map_faults; /* faults handled so far (a consumer's cue to look) */
void capture_map_try(struct capture_input *in);
void capture_map_release(struct capture_input *in);
int capture_map_next(struct capture_input *in, char *err, size_t errlen);
int capture_map_faulted(const struct capture_input *in);
int capture_input_shrank(const struct capture_input *in);
/* Make [0, end) of the mapping present: 0, or -1 if the file shrank. */
int capture_map_populate(struct capture_input *in, size_t end);
/* Set err to "NAME: WHAT (at byte offset rec_off)"; returns TW_ERR_FORMAT. */
int capture_map_error(struct capture_input *in, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* capture_pcapng.c: mapped pcapng files (capture_map_try() hands them over) */

/* 0 and *start = offset of the block after the first IDB, or -1: libpcap reads it. */
int capture_pcapng_setup(struct capture_input *in, size_t *start);
int capture_pcapng_next(struct capture_input *in, char *err, size_t errlen);
void capture_pcapng_free(struct capture_input *in);

/* capture_live.c */

int capture_next_live(struct capture *c, struct capture_pkt *p, char *err, size_t errlen);

/* capture_reader.c: on the consumer's thread */

int capture_next_ring(struct capture *c, struct capture_pkt *p, char *err, size_t errlen);
void capture_reader_stop(struct capture *c);

#endif /* TWSCOPE_CAPTURE_INT_H */
