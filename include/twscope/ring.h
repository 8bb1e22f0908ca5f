/*
 * ring.h -- a single-producer single-consumer ring of variable-size messages
 * between two threads (the capture reader and the analysis loop; the analysis
 * loop and the database writer).
 *
 * Messages are copied in by the producer (ring_reserve() + ring_commit()) and
 * read in place by the consumer (ring_next()); a message stays valid until the
 * consumer's next ring_next(). No lock is taken on the way of a message: two
 * atomic byte counters say what is written and what is released. A side
 * sleeps only when the ring is full (producer) or empty (consumer), and is
 * woken once a quarter of the ring is free again, or once `wake_bytes` are
 * waiting (or when the producer asks for it), so a thread switch is paid per
 * batch of messages, not per message.
 */
#ifndef TWSCOPE_RING_H
#define TWSCOPE_RING_H

#include <stddef.h>

struct ring;

/* A ring of `bytes` (rounded up to 8); messages may be up to bytes / 4. NULL if out of memory. */
struct ring *ring_create(size_t bytes, size_t wake_bytes);
/* Free it (both threads are done with it). NULL is a no-op. */
void ring_destroy(struct ring *r);
/* The largest message ring_reserve() accepts. */
size_t ring_max_message(const struct ring *r);

/* ---- producer ----
 * Room for a message of len bytes (8-byte aligned), waiting while the ring is
 * full. NULL after ring_quit(), or when len is above ring_max_message().
 */
void *ring_reserve(struct ring *r, size_t len);
/* Publish the message reserved last; wake: wake a sleeping consumer now. */
void ring_commit(struct ring *r, int wake);
/* No more messages: the consumer gets NULL once it has read the others. */
void ring_close(struct ring *r);

/* ---- consumer ----
 * The next message (releasing the one before), waiting while the ring is
 * empty; *len is its length. NULL once the producer closed and all is read.
 */
const void *ring_next(struct ring *r, size_t *len);

/* The consumer gives up: a waiting or later ring_reserve() returns NULL. */
void ring_quit(struct ring *r);

#endif /* TWSCOPE_RING_H */
