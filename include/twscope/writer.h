/*
 * writer.h -- the database writer thread.
 *
 * The analysis thread must never wait for SQLite (issue: "the per-packet path
 * never blocks on SQLite"). It hands finished records to a writer: a fixed
 * ring (ring.h) of self-contained messages (strings copied in, so the
 * caller's buffers may change right after the call), drained by one thread
 * that owns the store and inserts them in batched transactions. The producer
 * waits only when the ring is full, i.e. when SQLite is slower than the
 * capture for longer than WRITER_RING_BYTES of rows: memory stays bounded
 * either way.
 *
 * Ownership: the store stays owned by the caller, but between writer_start()
 * and writer_stop() only the writer thread may use it.
 */
#ifndef TWSCOPE_WRITER_H
#define TWSCOPE_WRITER_H

#include "twscope/store.h"
#include "twscope/timewait.h"

struct writer;

/* Start the thread. Returns 0 or TW_ERR_NOMEM. */
int writer_start(struct store *st, struct writer **out);

/*
 * Queue a row (copied). Returns 0, or the writer's first error once it failed.
 * The writer fills what is text from raw values: the connection's client_ip
 * and server_ip from the addresses (4 or 16 bytes, by r->ip_version), the
 * TIME_WAIT row's ip from addr and its profile_reason from why.
 */
int writer_add_connection(struct writer *w, const struct rec_connection *r,
                          const uint8_t *client, const uint8_t *server);
int writer_add_timewait(struct writer *w, const struct rec_timewait *r, const uint8_t *addr,
                        int ip_version, const struct tw_profile_seen *why);
/* A finding of the TIME_WAIT rules: the writer names its kind and writes its detail. */
int writer_add_verdict(struct writer *w, const struct rec_finding *r, const struct tw_verdict *v);
/*
 * From now on several threads queue rows (analyze -j): each message is
 * reserved and committed under a mutex, so one thread's rows stay in its
 * order. Call before the producers start. The lock is held only while a
 * message is copied into the ring (and while the ring is full).
 */
void writer_share(struct writer *w);
/*
 * Live: queue the counters of the capture so far (store_update_capture()).
 * c is copied, its strings are not: they must live until writer_stop().
 */
int writer_update_capture(struct writer *w, const struct rec_capture *c);
/* Queue a commit (what was queued before it becomes visible to readers). */
int writer_commit(struct writer *w);

/* Rows queued and not yet written (the producer's view; the write lag). */
uint64_t writer_queued(struct writer *w);

/* 1 once an insert failed; writer_error() then names the problem. */
int writer_failed(struct writer *w);
const char *writer_error(struct writer *w);

/*
 * Drain the ring, join the thread, free. Returns 0 or the first error, whose
 * text is copied to err.
 */
int writer_stop(struct writer *w, char *err, size_t errlen);

#endif /* TWSCOPE_WRITER_H */
