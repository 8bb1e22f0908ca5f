/*
 * test_ring.c -- the message ring between two threads: every message arrives
 * once, in order, intact, through wrap-arounds, a full ring (the producer
 * waits) and an empty one (the consumer waits); close ends the stream after
 * the last message; quit releases a producer waiting on a full ring.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "twscope/ring.h"

struct job {
    struct ring *r;
    uint32_t n;                 /* messages to send */
    uint32_t max_len;           /* lengths cycle through 4..max_len */
    int slow;                   /* producer pauses now and then (consumer waits on empty) */
    uint32_t sent;
};

static uint32_t len_of(uint32_t i, uint32_t max_len) { return 4 + (i * 7919u) % (max_len - 3); }

static uint8_t byte_of(uint32_t i, uint32_t k) { return (uint8_t)(i * 31u + k * 7u); }

static void *producer(void *arg)
{
    struct job *j = arg;
    for (uint32_t i = 0; i < j->n; i++) {
        uint32_t len = len_of(i, j->max_len);
        uint8_t *m = ring_reserve(j->r, len);
        if (!m)
            break;
        memcpy(m, &i, 4);
        for (uint32_t k = 4; k < len; k++)
            m[k] = byte_of(i, k);
        ring_commit(j->r, (i & 63) == 0);
        j->sent++;
        if (j->slow && (i % 1000) == 0)
            usleep(200);
    }
    ring_close(j->r);
    return NULL;
}

/* Is message m (as sent) intact? */
static int intact(const uint8_t *m, size_t len, uint32_t max_len)
{
    uint32_t i;
    memcpy(&i, m, 4);
    if (len != len_of(i, max_len))
        return 0;
    for (uint32_t k = 4; k < len; k++)
        if (m[k] != byte_of(i, k))
            return 0;
    return 1;
}

/* Consume everything; 0 if every message came once, in order, intact. */
static int consume(struct ring *r, const struct job *j, int slow)
{
    uint32_t want = 0;
    size_t len;
    const uint8_t *m;
    while ((m = ring_next(r, &len)) != NULL) {
        uint32_t i;
        memcpy(&i, m, 4);
        FAIL_UNLESS(i == want);
        FAIL_UNLESS(intact(m, len, j->max_len));
        want++;
        if (slow && (i % 997) == 0)
            usleep(200);
    }
    FAIL_UNLESS(want == j->n);
    FAIL_UNLESS(ring_next(r, &len) == NULL); /* stays at the end */
    PASS;
}

static int run_pair(size_t ring_bytes, uint32_t n, uint32_t max_len, int slow_prod, int slow_cons)
{
    struct job j = {NULL, n, max_len, slow_prod, 0};
    pthread_t t;
    int rc;
    j.r = ring_create(ring_bytes, 1024);
    FAIL_UNLESS(j.r != NULL);
    FAIL_UNLESS(ring_max_message(j.r) >= max_len);
    FAIL_IF(pthread_create(&t, NULL, producer, &j));
    rc = consume(j.r, &j, slow_cons);
    pthread_join(t, NULL);
    ring_destroy(j.r);
    FAIL_UNLESS(j.sent == n);
    return rc;
}

/* A small ring: it wraps thousands of times and is full most of the time. */
static int test_small_ring_full(void) { return run_pair(4096, 30000, 1000, 0, 1); }

/* A slow producer: the consumer finds the ring empty and sleeps. */
static int test_empty_ring(void) { return run_pair(1 << 16, 20000, 300, 1, 0); }

/* Both at full speed, messages of every length up to the maximum. */
static int test_both_fast(void) { return run_pair(1 << 20, 100000, 65536, 0, 0); }

/* Too long a message is refused, not truncated. */
static int test_too_long(void)
{
    struct ring *r = ring_create(4096, 1024);
    FAIL_UNLESS(r != NULL);
    FAIL_UNLESS(ring_reserve(r, ring_max_message(r) + 1) == NULL);
    FAIL_UNLESS(ring_reserve(r, ring_max_message(r)) != NULL);
    ring_commit(r, 1);
    ring_destroy(r);
    PASS;
}

/* A producer waiting on a full ring is released by ring_quit(). */
static void *fill_forever(void *arg)
{
    struct job *j = arg;
    for (;;) {
        uint8_t *m = ring_reserve(j->r, 100);
        if (!m)
            break;
        memset(m, 0, 100);
        ring_commit(j->r, 0);
        j->sent++;
    }
    return NULL;
}

static int test_quit_releases_producer(void)
{
    struct job j = {NULL, 0, 0, 0, 0};
    pthread_t t;
    j.r = ring_create(4096, 1024);
    FAIL_UNLESS(j.r != NULL);
    FAIL_IF(pthread_create(&t, NULL, fill_forever, &j));
    usleep(20000);              /* it fills the ring and waits */
    ring_quit(j.r);
    pthread_join(t, NULL);
    FAIL_UNLESS(j.sent > 0 && j.sent < 4096 / 100);
    ring_destroy(j.r);
    PASS;
}

int main(void)
{
    RUN(test_small_ring_full);
    RUN(test_empty_ring);
    RUN(test_both_fast);
    RUN(test_too_long);
    RUN(test_quit_releases_producer);
    TEST_EXIT();
}
