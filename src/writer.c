/*
 * writer.c -- the database writer thread (see writer.h).
 *
 * One producer (the analysis loop), one consumer (this thread). The ring is
 * protected by a mutex; the consumer takes every available slot at once and
 * processes them without the lock, so the lock is held for a few instructions
 * per row on either side.
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
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    struct wmsg *ring;                  /* WRITER_RING_SLOTS slots */
    size_t head, tail;                  /* consumer reads at head, producer writes at tail */
    int stopping;
    int consumer_waiting, producer_waiting;
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

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        size_t n;
        while (w->head == w->tail && !w->stopping) {
            w->consumer_waiting = 1;
            pthread_cond_wait(&w->not_empty, &w->mu);
            w->consumer_waiting = 0;
        }
        n = w->tail - w->head;
        if (n == 0 && w->stopping)
            break;
        pthread_mutex_unlock(&w->mu);
        for (size_t i = 0; i < n; i++) {
            struct wmsg *m = &w->ring[(w->head + i) % WRITER_RING_SLOTS];
            if (!atomic_load(&w->failed)) {
                int rc = process(w, m);
                if (rc) {
                    w->rc = rc;
                    snprintf(w->err, sizeof(w->err), "%s", store_errmsg(w->st));
                    atomic_store(&w->failed, 1);
                }
            }
        }
        pthread_mutex_lock(&w->mu);
        w->head += n;
        if (w->producer_waiting)
            pthread_cond_signal(&w->not_full);
    }
    pthread_mutex_unlock(&w->mu);
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

/* A free slot to fill (waits while the ring is full); call push() after. */
static struct wmsg *slot(struct writer *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->tail - w->head == WRITER_RING_SLOTS) {
        w->producer_waiting = 1;
        pthread_cond_wait(&w->not_full, &w->mu);
        w->producer_waiting = 0;
    }
    pthread_mutex_unlock(&w->mu);
    /* only the producer moves tail, and the consumer never touches slot tail */
    return &w->ring[w->tail % WRITER_RING_SLOTS];
}

static int push(struct writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->tail++;
    if (w->consumer_waiting)
        pthread_cond_signal(&w->not_empty);
    pthread_mutex_unlock(&w->mu);
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
    return push(w);
}

int writer_failed(struct writer *w) { return atomic_load(&w->failed); }

const char *writer_error(struct writer *w) { return w->err; }

int writer_stop(struct writer *w, char *err, size_t errlen)
{
    int rc;
    if (!w)
        return TW_OK;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
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
