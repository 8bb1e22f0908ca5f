/*
 * writer.c -- the database writer thread (see writer.h).
 *
 * One producer (the analysis loop), one consumer (this thread), a message
 * ring (ring.h) of WRITER_RING_BYTES: each message is a record struct whose
 * one variable string is copied right after it. The writer is woken once
 * WRITER_WAKE_BYTES of rows wait (or at a commit, or at the end), so a thread
 * switch is paid per batch of rows, not per row.
 */
#include "twscope/writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twscope/common.h"
#include "twscope/config.h"
#include "twscope/rowtext.h"
#include "twscope/ring.h"

enum wmsg_type { WM_CONN = 1, WM_TW, WM_VERDICT, WM_COMMIT, WM_CAPTURE };

struct wmsg {
    uint32_t type;                      /* enum wmsg_type */
    uint32_t text_len;                  /* bytes of the string after the record, 0 if none */
    union {
        struct {
            struct rec_connection c;
            uint8_t client[16], server[16]; /* addresses, made text here */
        } c;
        struct {
            struct rec_timewait t;
            uint8_t addr[16];
            uint8_t ip_version;
            struct tw_profile_seen why;      /* profile_reason, made text here */
        } t;
        struct {
            struct rec_finding f;
            struct tw_verdict v;
        } fv;                           /* WM_VERDICT: its kind and detail made here */
        struct rec_capture cap;         /* WM_CAPTURE: counters so far (its strings
                                           live as long as the run) */
    } u;
    /* the record's string follows, NUL-terminated */
};

struct writer {
    struct store *st;
    struct ring *ring;
    int shared;                         /* several producers: lock takes turns on the ring */
    pthread_mutex_t lock;
    pthread_t thread;
    atomic_int failed;
    uint64_t rows_in;                   /* rows queued (producer only) */
    atomic_uint_least64_t rows_out;     /* rows the writer is done with */
    int rc;                             /* first error */
    char err[256];
};

static int process(struct writer *w, struct wmsg *m)
{
    char *text = m->text_len ? (char *)(m + 1) : NULL;
    switch (m->type) {
    case WM_CONN:
        m->u.c.c.app_protocol = text;
        rowtext_addr(m->u.c.client, m->u.c.c.ip_version, m->u.c.c.client_ip);
        rowtext_addr(m->u.c.server, m->u.c.c.ip_version, m->u.c.c.server_ip);
        return store_add_connection(w->st, &m->u.c.c);
    case WM_TW: {
        char why[ROWTEXT_PROFILE_MAX];
        rowtext_addr(m->u.t.addr, m->u.t.ip_version, m->u.t.t.ip);
        rowtext_profile(&m->u.t.why, why, sizeof(why));
        m->u.t.t.profile_reason = why;
        return store_add_timewait(w->st, &m->u.t.t);
    }
    case WM_VERDICT: {
        struct store_kv kv[STORE_MAX_KV];
        int n = rowtext_finding(&m->u.fv.v, kv);
        m->u.fv.f.kind = tw_finding_name((enum tw_finding)m->u.fv.v.kind);
        m->u.fv.f.kv = n < 0 ? NULL : kv;
        m->u.fv.f.nkv = n < 0 ? 0 : n;
        m->u.fv.f.detail = NULL;
        return store_add_finding(w->st, &m->u.fv.f);
    }
    case WM_COMMIT:
        return store_commit(w->st);
    case WM_CAPTURE:
        return store_update_capture(w->st, &m->u.cap);
    }
    return TW_OK;
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    size_t len;
    const void *p;

    pthread_setname_np(pthread_self(), "twscope-write");
    while ((p = ring_next(w->ring, &len)) != NULL) {
        int rc;
        if (atomic_load(&w->failed))
            continue; /* drain: the producer must never wait for a dead writer */
        rc = process(w, (struct wmsg *)(uintptr_t)p);
        if (((struct wmsg *)(uintptr_t)p)->type <= WM_VERDICT)
            atomic_fetch_add_explicit(&w->rows_out, 1, memory_order_relaxed);
        if (rc) {
            w->rc = rc;
            snprintf(w->err, sizeof(w->err), "%s", store_errmsg(w->st));
            atomic_store(&w->failed, 1);
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
    w->ring = ring_create(WRITER_RING_BYTES, WRITER_WAKE_BYTES);
    if (!w->ring) {
        free(w);
        return TW_ERR_NOMEM;
    }
    w->st = st;
    pthread_mutex_init(&w->lock, NULL);
    atomic_init(&w->failed, 0);
    atomic_init(&w->rows_out, 0);
    if (pthread_create(&w->thread, NULL, writer_main, w)) {
        ring_destroy(w->ring);
        free(w);
        return TW_ERR_NOMEM;
    }
    *out = w;
    return TW_OK;
}

/* A message of type with room for text (NULL: none), filled but for the record. */
static struct wmsg *msg(struct writer *w, uint32_t type, const char *text)
{
    size_t tl = text ? strlen(text) + 1 : 0;
    size_t max = ring_max_message(w->ring) - sizeof(struct wmsg);
    struct wmsg *m;
    if (tl > max)
        tl = max;
    if (w->shared)
        pthread_mutex_lock(&w->lock); /* until push() */
    m = ring_reserve(w->ring, sizeof(*m) + tl);
    if (!m) {
        if (w->shared)
            pthread_mutex_unlock(&w->lock);
        return NULL; /* cannot happen: the writer never quits the ring */
    }
    m->type = type;
    m->text_len = (uint32_t)tl;
    if (tl) {
        memcpy(m + 1, text, tl - 1);
        ((char *)(m + 1))[tl - 1] = 0;
    }
    return m;
}

static int push(struct writer *w, int wake)
{
    ring_commit(w->ring, wake);
    if (w->shared)
        pthread_mutex_unlock(&w->lock);
    return atomic_load(&w->failed) ? w->rc : TW_OK;
}

int writer_add_connection(struct writer *w, const struct rec_connection *r,
                          const uint8_t *client, const uint8_t *server)
{
    struct wmsg *m = msg(w, WM_CONN, r->app_protocol);
    size_t alen = r->ip_version == 6 ? 16 : 4;
    if (!m)
        return TW_ERR_NOMEM;
    m->u.c.c = *r;
    w->rows_in++;
    memcpy(m->u.c.client, client, alen);
    memcpy(m->u.c.server, server, alen);
    return push(w, 0);
}

int writer_add_timewait(struct writer *w, const struct rec_timewait *r, const uint8_t *addr,
                        int ip_version, const struct tw_profile_seen *why)
{
    struct wmsg *m = msg(w, WM_TW, NULL);
    if (!m)
        return TW_ERR_NOMEM;
    m->u.t.t = *r;
    w->rows_in++;
    memcpy(m->u.t.addr, addr, ip_version == 6 ? 16 : 4);
    m->u.t.ip_version = (uint8_t)ip_version;
    m->u.t.why = *why;
    return push(w, 0);
}

int writer_add_verdict(struct writer *w, const struct rec_finding *r, const struct tw_verdict *v)
{
    struct wmsg *m = msg(w, WM_VERDICT, NULL);
    if (!m)
        return TW_ERR_NOMEM;
    m->u.fv.f = *r;
    w->rows_in++;
    m->u.fv.v = *v;
    return push(w, 0);
}

int writer_commit(struct writer *w)
{
    if (!msg(w, WM_COMMIT, NULL))
        return TW_ERR_NOMEM;
    return push(w, 1);
}

void writer_share(struct writer *w) { w->shared = 1; }
int writer_update_capture(struct writer *w, const struct rec_capture *c)
{
    struct wmsg *m = msg(w, WM_CAPTURE, NULL);
    if (!m)
        return TW_ERR_NOMEM;
    m->u.cap = *c;
    return push(w, 0);
}

uint64_t writer_queued(struct writer *w)
{
    return w->rows_in - atomic_load_explicit(&w->rows_out, memory_order_relaxed);
}

int writer_failed(struct writer *w) { return atomic_load(&w->failed); }

const char *writer_error(struct writer *w) { return w->err; }

int writer_stop(struct writer *w, char *err, size_t errlen)
{
    int rc;
    if (!w)
        return TW_OK;
    ring_close(w->ring);
    pthread_join(w->thread, NULL);
    rc = atomic_load(&w->failed) ? w->rc : TW_OK;
    if (rc && err)
        snprintf(err, errlen, "%s", w->err);
    ring_destroy(w->ring);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return rc;
}
