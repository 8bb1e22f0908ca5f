/*
 * capture_reader.c -- the reader thread: capture_start_reader() starts it,
 * reader_main() runs the direct path on it and fills a ring, and
 * capture_next_ring() (what capture_next() calls while it runs) hands the
 * packets out; capture_reader_stop() ends it (capture_close()).
 *
 * capture_start_reader() moves the reading of files (libpcap's record
 * parsing, the kernel's copy into its buffer, zlib) to a thread of its own,
 * which copies each record into a message ring (ring.h) of
 * CAPTURE_RING_BYTES; capture_next() then hands out packets from the ring,
 * in place. The analysis thread no longer pays for reading, and the order,
 * frame numbers, errors (with their offsets) and end of the packets are
 * exactly those of the direct path, which the thread runs unchanged
 * (capture_next_direct()). A packet's bytes stay valid until the next
 * capture_next(), as in the direct path: the ring releases a message when the
 * next is asked.
 *
 * Thread: reader_main() (and the reader_snapshot() calls it makes) is the
 * thread "twscope-read"; the rest runs on the consumer's (the analysis
 * thread).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "capture_int.h"
#include "twscope/ring.h"

#define CAPTURE_RING_BYTES (8u << 20)    /* >= 4 * the largest record (262144 + header) */
#define CAPTURE_REF_RING_BYTES (1u << 20) /* the same when every input is mapped (RK_REF only) */
#define CAPTURE_RING_WAKE (128u << 10)   /* bytes ready before a sleeping consumer is woken */

enum rkind { RK_PKT = 1, RK_REF, RK_END, RK_ERR };

struct rentry {
    uint32_t kind;              /* enum rkind */
    int32_t rc;                 /* RK_ERR: the TW_ERR_* */
    uint32_t caplen, wirelen, file;
    int32_t linktype;
    tw_time ts;
    uint64_t frame;
    const uint8_t *ref;         /* RK_REF: the frame in its input's mapping */
    /* then the prepare hook's bytes (RK_PKT, RK_REF), then for RK_PKT the frame
     * (ref points to it); RK_ERR: the error text */
};

static void reader_snapshot(struct reader *r)
{
    uint64_t done = 0, total = 0;
    capture_progress_direct(r->c, &done, &total);
    atomic_store(&r->frames_read, r->c->frames_read);
    atomic_store(&r->frames_filtered, r->c->frames_filtered);
    atomic_store(&r->bytes_done, done);
    atomic_store(&r->bytes_total, total);
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct capture *c = r->c;
    char err[512];
    uint64_t n = 0;

    pthread_setname_np(pthread_self(), "twscope-read");
    for (;;) {
        struct capture_pkt p;
        struct rentry *e;
        size_t tlen;
        int rc;

        err[0] = '\0';
        rc = capture_next_direct(c, &p, err, sizeof err);
        if (rc == 1) {
            int mapped = c->in[p.file].map != NULL;
            /* entry, then the prepared bytes, then the frame (not mapped) */
            e = ring_reserve(r->ring, sizeof(*e) + r->prep_size + (mapped ? 0 : p.caplen));
            if (!e)
                break;
            e->kind = mapped ? RK_REF : RK_PKT;
            e->ref = mapped ? p.data : (const uint8_t *)(e + 1) + r->prep_size;
            e->ts = p.ts;
            e->caplen = p.caplen;
            e->wirelen = p.wirelen;
            e->frame = p.frame;
            e->file = p.file;
            e->linktype = p.linktype;
            if (!mapped)
                memcpy((void *)(uintptr_t)e->ref, p.data, p.caplen);
            if (r->prep) {
                p.data = e->ref; /* what the consumer will see */
                r->prep(r->prep_ctx, &p, e + 1);
            }
            if ((++n & 1023) == 0)
                reader_snapshot(r);
            ring_commit(r->ring, 0);
            continue;
        }
        /* the end, or an error (the other inputs go on after it, as in the direct path) */
        reader_snapshot(r);
        tlen = rc < 0 ? strlen(err) + 1 : 0;
        e = ring_reserve(r->ring, sizeof(*e) + tlen);
        if (!e)
            break;
        e->kind = rc < 0 ? RK_ERR : RK_END;
        e->rc = rc;
        e->file = (uint32_t)c->err_file; /* written by capture_next_direct() on this thread */
        memcpy(e + 1, err, tlen);
        ring_commit(r->ring, 1);
        if (rc >= 0)
            break;
    }
    ring_close(r->ring);
    return NULL;
}

int capture_start_reader(struct capture *c)
{
    return capture_start_reader_prep(c, NULL, NULL, 0);
}

int capture_start_reader_prep(struct capture *c, capture_prepare_fn fn, void *ctx, size_t size)
{
    struct reader *r;
    int all_mapped = 1;
    if (c->live || c->rd)
        return 0;
    r = aligned_alloc(64, sizeof(*r)); /* its cache-line groups */
    if (!r)
        return TW_ERR_NOMEM;
    memset(r, 0, sizeof(*r));
    r->c = c;
    r->err_file = -1;
    r->prep = fn;
    r->prep_ctx = ctx;
    r->prep_size = fn ? (size + 7) & ~(size_t)7 : 0;
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->in[i].state == IN_NEED)
            capture_map_try(&c->in[i]);
        all_mapped &= c->in[i].map != NULL;
    }
    /* references to mapped packets are small: a smaller ring keeps the reader
     * (and the pages it maps) about CAPTURE_REF_RING_BYTES / 64 packets ahead */
    r->ring = ring_create(all_mapped ? CAPTURE_REF_RING_BYTES : CAPTURE_RING_BYTES,
                          CAPTURE_RING_WAKE);
    if (!r->ring) {
        free(r);
        return TW_ERR_NOMEM;
    }
    reader_snapshot(r);
    if (pthread_create(&r->thread, NULL, reader_main, r)) {
        ring_destroy(r->ring);
        free(r);
        return TW_ERR_NOMEM;
    }
    c->rd = r;
    return 0;
}

void capture_reader_stop(struct capture *c)
{
    struct reader *r = c->rd;
    if (!r)
        return;
    c->stop = 1;                /* capture_next_direct() gives up at its next record */
    ring_quit(r->ring);         /* and a full ring lets it go */
    pthread_join(r->thread, NULL);
    ring_destroy(r->ring);
    free(r);
    c->rd = NULL;
}

int capture_next_ring(struct capture *c, struct capture_pkt *p, char *err, size_t errlen)
{
    struct reader *r = c->rd;
    const struct rentry *e;
    unsigned faults;
    size_t len;

    if (c->stop || r->ended)
        return 0;
    e = ring_next(r->ring, &len);
    /* after ring_next(): a fault on the reader thread before it published e
     * is seen with e; one of ours (on the packet before) is seen anyway */
    faults = atomic_load_explicit(&capture_map_faults, memory_order_relaxed);
    if (faults != r->faults_seen) {
        r->faults_seen = faults;
        for (uint32_t i = 0; i < c->n; i++) {
            if (c->in[i].map != NULL && capture_map_faulted(&c->in[i])) {
                r->ended = 1;
                r->err_file = (int)i;
                set_err(err, errlen, "%s: " SHRANK " (at frame %llu)", c->in[i].name,
                        (unsigned long long)r->last_frame);
                return TW_ERR_FORMAT;
            }
        }
    }
    if (!e || e->kind == RK_END) {
        r->ended = 1;
        /* bytes past a new end inside its last page read as zeros, no fault:
         * if a file shrank after the reader's own last look, say so now */
        for (uint32_t i = 0; i < c->n; i++) {
            if (c->in[i].map != NULL && capture_input_shrank(&c->in[i])) {
                r->err_file = (int)i;
                set_err(err, errlen, "%s: " SHRANK " (at frame %llu)", c->in[i].name,
                        (unsigned long long)r->last_frame);
                return TW_ERR_FORMAT;
            }
        }
        return 0;
    }
    if (e->kind == RK_ERR) {
        r->err_file = (int)e->file;
        set_err(err, errlen, "%s", (const char *)(e + 1));
        return e->rc;
    }
    p->ts = e->ts;
    p->prep = r->prep ? (void *)(uintptr_t)(e + 1) : NULL;
    if (e->kind == RK_REF) {
        struct capture_input *in = &c->in[e->file];
        p->data = e->ref;
        atomic_store_explicit(&in->used_off, (size_t)(e->ref - in->used_base),
                              memory_order_relaxed);
    } else {
        p->data = e->ref;
    }
    p->caplen = e->caplen;
    p->wirelen = e->wirelen;
    p->frame = e->frame;
    p->file = e->file;
    p->linktype = e->linktype;
    r->last_frame = e->frame;
    return 1;
}
