/*
 * ring.c -- single-producer single-consumer message ring (see ring.h).
 *
 * Layout: a byte array; each message is an 8-byte header (its whole size,
 * header included and rounded up to 8, and its length) followed by its bytes.
 * A message never wraps: when it does not fit before the end of the array, a
 * skip header (length RING_SKIP) fills the rest and the message starts at 0.
 * `tail` counts the bytes written and published by the producer, `head` the
 * bytes the consumer released; both only grow, so tail - head is what is in
 * use. Each side keeps a private copy of the other's counter and reloads it
 * only when it seems to be out of room (producer) or of messages (consumer).
 *
 * Counters are published with release stores and read with acquire loads: a
 * message's bytes are visible once its counter is. No fence per message.
 *
 * Sleeping: the sleeper raises its *_waiting flag and re-checks the counter
 * under the mutex; the other side moves its counter, then reads the flag and
 * signals under the mutex. Without a fence the flag may be read before the
 * counter store is visible, so a wake-up can be missed now and then; it is
 * never lost for good: a producer that finds the ring full, a consumer that
 * finds it empty, and ring_close() each wake the other side if it waits, and
 * the next message's commit or release looks at the flag again.
 */
#include "twscope/ring.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RING_SKIP UINT32_MAX

struct msg_hdr {
    uint32_t size;              /* header + bytes, rounded up to 8 */
    uint32_t len;               /* bytes of the message, RING_SKIP for a skip */
};

/*
 * The fields each thread writes often live on cache lines of their own: a
 * line written by one core and read by the other moves between them at every
 * write, which would cost a miss per message on both sides.
 */
struct ring {
    /* set at creation, read by both */
    uint8_t *buf;
    size_t size, mask, wake_bytes; /* size: a power of two, mask = size - 1 */
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    /* written rarely (sleeping, the end), read by both */
    _Alignas(64) atomic_int cons_waiting;
    atomic_int prod_waiting, closed, quit;
    /* the producer's: published tail, and its own state */
    _Alignas(64) atomic_size_t tail;
    size_t ptail, phead_seen;
    struct msg_hdr *reserved;
    /* the consumer's: published head, and its own state */
    _Alignas(64) atomic_size_t head;
    size_t chead;               /* released up to here */
    size_t cnext;               /* handed out up to here */
    size_t ctail_seen;
    unsigned held;              /* messages handed out and not released (0 or 1) */
};

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

struct ring *ring_create(size_t bytes, size_t wake_bytes)
{
    struct ring *r = aligned_alloc(64, (sizeof(*r) + 63) & ~(size_t)63);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->size = 64;
    while (r->size < bytes && r->size < ((size_t)1 << 40))
        r->size <<= 1; /* a power of two: positions are masked, not divided */
    r->mask = r->size - 1;
    r->buf = malloc(r->size);
    if (!r->buf) {
        free(r);
        return NULL;
    }
    r->wake_bytes = wake_bytes;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->cons_waiting, 0);
    atomic_init(&r->prod_waiting, 0);
    atomic_init(&r->closed, 0);
    atomic_init(&r->quit, 0);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->not_empty, NULL);
    pthread_cond_init(&r->not_full, NULL);
    return r;
}

void ring_destroy(struct ring *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->not_empty);
    pthread_cond_destroy(&r->not_full);
    free(r->buf);
    free(r);
}

/*
 * At most a quarter of the ring: with the message the consumer holds (1/4)
 * and a message plus the skip before it (< 2/4), the producer always finds
 * room once the consumer has read everything.
 */
size_t ring_max_message(const struct ring *r) { return r->size / 4 - sizeof(struct msg_hdr); }

static void wake(struct ring *r, pthread_cond_t *cv)
{
    pthread_mutex_lock(&r->mu);
    pthread_cond_signal(cv);
    pthread_mutex_unlock(&r->mu);
}

/* ---- producer ---------------------------------------------------------------- */

void *ring_reserve(struct ring *r, size_t len)
{
    size_t need = sizeof(struct msg_hdr) + align8(len);
    size_t pos = r->ptail & r->mask;
    size_t skip = r->size - pos < need ? r->size - pos : 0;
    struct msg_hdr *h;

    if (len > ring_max_message(r) || atomic_load(&r->quit))
        return NULL;
    if (r->ptail + skip + need - r->phead_seen > r->size) {
        r->phead_seen = atomic_load_explicit(&r->head, memory_order_acquire);
        if (r->ptail + skip + need - r->phead_seen > r->size) {
            /* full: let the consumer see what is there, then sleep */
            atomic_store(&r->tail, r->ptail);
            pthread_mutex_lock(&r->mu);
            atomic_store(&r->prod_waiting, 1);
            while (r->ptail + skip + need - (r->phead_seen = atomic_load(&r->head)) > r->size &&
                   !atomic_load(&r->quit)) {
                if (atomic_load(&r->cons_waiting))
                    pthread_cond_signal(&r->not_empty);
                pthread_cond_wait(&r->not_full, &r->mu);
            }
            atomic_store(&r->prod_waiting, 0);
            pthread_mutex_unlock(&r->mu);
            if (atomic_load(&r->quit))
                return NULL;
        }
    }
    if (skip) {
        h = (struct msg_hdr *)(void *)(r->buf + pos);
        h->size = (uint32_t)skip;
        h->len = RING_SKIP;
        r->ptail += skip;
    }
    h = (struct msg_hdr *)(void *)(r->buf + (r->ptail & r->mask));
    h->size = (uint32_t)need;
    h->len = (uint32_t)len;
    r->reserved = h;
    return h + 1;
}

void ring_commit(struct ring *r, int wake_now)
{
    if (!r->reserved)
        return;
    r->ptail += r->reserved->size;
    r->reserved = NULL;
    atomic_store_explicit(&r->tail, r->ptail, memory_order_release);
    if (atomic_load_explicit(&r->cons_waiting, memory_order_relaxed) &&
        (wake_now || r->ptail - atomic_load_explicit(&r->head, memory_order_relaxed) >=
                         r->wake_bytes))
        wake(r, &r->not_empty);
}

void ring_close(struct ring *r)
{
    atomic_store(&r->tail, r->ptail);
    atomic_store(&r->closed, 1);
    wake(r, &r->not_empty);
}

/* ---- consumer ---------------------------------------------------------------- */

/* Release the oldest message handed out (and the skips before it). */
static void release_one(struct ring *r)
{
    const struct msg_hdr *h;
    for (;;) {
        h = (const struct msg_hdr *)(const void *)(r->buf + (r->chead & r->mask));
        r->chead += h->size;
        if (h->len != RING_SKIP)
            break;
    }
    r->held--;
    atomic_store_explicit(&r->head, r->chead, memory_order_release);
    if (atomic_load_explicit(&r->prod_waiting, memory_order_relaxed) &&
        atomic_load_explicit(&r->tail, memory_order_relaxed) - r->chead <= r->size - r->size / 4)
        wake(r, &r->not_full);
}

const void *ring_next(struct ring *r, size_t *len)
{
    if (r->held)
        release_one(r);
    for (;;) {
        const struct msg_hdr *h;
        if (r->cnext == r->ctail_seen) {
            r->ctail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
            if (r->cnext == r->ctail_seen) {
                int closed = 0;
                pthread_mutex_lock(&r->mu);
                atomic_store(&r->cons_waiting, 1);
                while ((r->ctail_seen = atomic_load(&r->tail)) == r->cnext &&
                       !(closed = atomic_load(&r->closed))) {
                    if (atomic_load(&r->prod_waiting))
                        pthread_cond_signal(&r->not_full);
                    pthread_cond_wait(&r->not_empty, &r->mu);
                }
                atomic_store(&r->cons_waiting, 0);
                pthread_mutex_unlock(&r->mu);
                if (r->ctail_seen == r->cnext && closed)
                    return NULL;
                continue;
            }
        }
        h = (const struct msg_hdr *)(const void *)(r->buf + (r->cnext & r->mask));
        r->cnext += h->size;
        if (h->len == RING_SKIP)
            continue; /* released with the message after it */
        r->held++;
        /* the next message was written on the other core: start fetching it,
         * five lines (a capture message, 232 bytes, at any alignment; reading
         * its key at the end was a miss with three); prefetches past the
         * buffer's end are harmless */
        if (r->cnext < r->ctail_seen) {
            const uint8_t *nx = r->buf + (r->cnext & r->mask);
            __builtin_prefetch(nx);
            __builtin_prefetch(nx + 64);
            __builtin_prefetch(nx + 128);
            __builtin_prefetch(nx + 192);
            __builtin_prefetch(nx + 256);
        }
        *len = h->len;
        return h + 1;
    }
}

void ring_quit(struct ring *r)
{
    atomic_store(&r->quit, 1);
    wake(r, &r->not_full);
}
