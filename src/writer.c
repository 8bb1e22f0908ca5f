/*
 * writer.c -- the database writer thread (see writer.h).
 *
 * One producer (the analysis loop), one consumer (this thread), a ring of
 * slots indexed by two atomic counters: no lock on the way of a row. The
 * mutex and condition variables serve only to sleep when the ring is empty
 * (writer) or full (analysis) and to be woken, which happens once per
 * WRITER_WAKE_ROWS rows at most.
 */
#include "twscope/writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twscope/common.h"
#include "twscope/config.h"

enum wmsg_type { WM_CONN = 1, WM_TW, WM_FINDING, WM_COMMIT };

struct wmsg {
    uint8_t type;                       /* enum wmsg_type */
    union {
        struct rec_connection c;
        struct rec_timewait t;
        struct rec_finding f;
    } u;
    char text[WRITER_TEXT_LEN];         /* the one variable string of the record */
};

struct writer {
    struct store *st;
    pthread_t thread;
    pthread_mutex_t mu;                 /* only for sleeping and waking */
    pthread_cond_t not_empty, not_full;
    struct wmsg *ring;                  /* WRITER_RING_SLOTS slots */
    atomic_size_t head;                 /* consumer: slots before it are free again */
    atomic_size_t tail;                 /* producer: slots before it are ready */
    size_t ptail;                       /* producer's own tail (filled, maybe not published) */
    atomic_int stopping;
    atomic_int consumer_waiting, producer_waiting;
    atomic_int failed;
    int rc;                             /* first error */
    char err[256];
};

static void copy_text(char *dst, const char *src)
{
    size_t n = strlen(src);
    if (n >= WRITER_TEXT_LEN)
        n = WRITER_TEXT_LEN - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

static int process(struct writer *w, struct wmsg *m)
{
    switch (m->type) {
    case WM_CONN:
        return store_add_connection(w->st, &m->u.c);
    case WM_TW:
        return store_add_timewait(w->st, &m->u.t);
    case WM_FINDING:
        return store_add_finding(w->st, &m->u.f);
    case WM_COMMIT:
        return store_commit(w->st);
    }
    return TW_OK;
}

/*
 * Sleeping without lost wake-ups: the sleeper raises its *_waiting flag and
 * re-checks the index under the mutex; the other side moves the index, then
 * reads the flag (both sequentially consistent, so one of them sees the
 * other) and signals under the mutex.
 */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    size_t head = 0;
    for (;;) {
        size_t tail = atomic_load(&w->tail);
        if (tail == head) {
            pthread_mutex_lock(&w->mu);
            atomic_store(&w->consumer_waiting, 1);
            while ((tail = atomic_load(&w->tail)) == head && !atomic_load(&w->stopping))
                pthread_cond_wait(&w->not_empty, &w->mu);
            atomic_store(&w->consumer_waiting, 0);
            pthread_mutex_unlock(&w->mu);
            if (tail == head)
                break; /* stopping, and everything is written */
        }
        for (; head != tail; head++) {
            struct wmsg *m = &w->ring[head % WRITER_RING_SLOTS];
            if (!atomic_load(&w->failed)) {
                int rc = process(w, m);
                if (rc) {
                    w->rc = rc;
                    snprintf(w->err, sizeof(w->err), "%s", store_errmsg(w->st));
                    atomic_store(&w->failed, 1);
                }
            }
        }
        atomic_store(&w->head, head);
        if (atomic_load(&w->producer_waiting)) {
            pthread_mutex_lock(&w->mu);
            pthread_cond_signal(&w->not_full);
            pthread_mutex_unlock(&w->mu);
        }
    }
    return NULL;
}

int writer_start(struct store *st, struct writer **out)
{
    struct writer *w = calloc(1, sizeof(*w));
    *out = NULL;
    if (!w)
        return TW_ERR_NOMEM;
    w->ring = malloc(WRITER_RING_SLOTS * sizeof(*w->ring));
    if (!w->ring) {
        free(w);
        return TW_ERR_NOMEM;
    }
    w->st = st;
    atomic_init(&w->head, 0);
    atomic_init(&w->tail, 0);
    atomic_init(&w->stopping, 0);
    atomic_init(&w->consumer_waiting, 0);
    atomic_init(&w->producer_waiting, 0);
    atomic_init(&w->failed, 0);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->not_empty, NULL);
    pthread_cond_init(&w->not_full, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w)) {
        free(w->ring);
        free(w);
        return TW_ERR_NOMEM;
    }
    *out = w;
    return TW_OK;
}

/*
 * Make the filled slots visible. The writer is woken only when it sleeps and
 * WRITER_WAKE_ROWS rows wait (or when forced: commit, stop, ring full), so a
 * thread switch is paid per batch of rows, not per row.
 */
static void publish(struct writer *w, int force)
{
    atomic_store(&w->tail, w->ptail);
    if (atomic_load(&w->consumer_waiting) &&
        (force || w->ptail - atomic_load(&w->head) >= WRITER_WAKE_ROWS)) {
        pthread_mutex_lock(&w->mu);
        pthread_cond_signal(&w->not_empty);
        pthread_mutex_unlock(&w->mu);
    }
}

/* A free slot to fill (waits while the ring is full); call push() after. */
static struct wmsg *slot(struct writer *w)
{
    if (w->ptail - atomic_load(&w->head) == WRITER_RING_SLOTS) {
        publish(w, 1);
        pthread_mutex_lock(&w->mu);
        atomic_store(&w->producer_waiting, 1);
        while (w->ptail - atomic_load(&w->head) == WRITER_RING_SLOTS)
            pthread_cond_wait(&w->not_full, &w->mu);
        atomic_store(&w->producer_waiting, 0);
        pthread_mutex_unlock(&w->mu);
    }
    /* only the producer writes slots between head and ptail */
    return &w->ring[w->ptail % WRITER_RING_SLOTS];
}

static int push(struct writer *w)
{
    w->ptail++;
    publish(w, 0);
    return atomic_load(&w->failed) ? w->rc : TW_OK;
}

int writer_add_connection(struct writer *w, const struct rec_connection *r)
{
    struct wmsg *m = slot(w);
    m->type = WM_CONN;
    m->u.c = *r;
    if (r->app_protocol) {
        copy_text(m->text, r->app_protocol);
        m->u.c.app_protocol = m->text;
    }
    return push(w);
}

int writer_add_timewait(struct writer *w, const struct rec_timewait *r)
{
    struct wmsg *m = slot(w);
    m->type = WM_TW;
    m->u.t = *r;
    if (r->profile_reason) {
        copy_text(m->text, r->profile_reason);
        m->u.t.profile_reason = m->text;
    }
    return push(w);
}

int writer_add_finding(struct writer *w, const struct rec_finding *r)
{
    struct wmsg *m = slot(w);
    m->type = WM_FINDING;
    m->u.f = *r;
    if (r->detail) {
        copy_text(m->text, r->detail);
        m->u.f.detail = m->text;
    }
    return push(w);
}

int writer_commit(struct writer *w)
{
    struct wmsg *m = slot(w);
    m->type = WM_COMMIT;
    w->ptail++;
    publish(w, 1);
    return atomic_load(&w->failed) ? w->rc : TW_OK;
}

int writer_failed(struct writer *w) { return atomic_load(&w->failed); }

const char *writer_error(struct writer *w) { return w->err; }

int writer_stop(struct writer *w, char *err, size_t errlen)
{
    int rc;
    if (!w)
        return TW_OK;
    atomic_store(&w->tail, w->ptail);
    atomic_store(&w->stopping, 1);
    pthread_mutex_lock(&w->mu);
    pthread_cond_signal(&w->not_empty);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    rc = atomic_load(&w->failed) ? w->rc : TW_OK;
    if (rc && err)
        snprintf(err, errlen, "%s", w->err);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->not_empty);
    pthread_cond_destroy(&w->not_full);
    free(w->ring);
    free(w);
    return rc;
}
