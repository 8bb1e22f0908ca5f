/*
 * classify.h -- application protocol of a connection, by nDPI (libndpi 4.2).
 *
 * classify.c is the only file that includes nDPI's headers, so API drift
 * between nDPI versions stays in one place. Per-flow nDPI state is allocated
 * when a connection gets its first payload-bearing or handshake packet, fed at
 * most DPI_MAX_PACKETS packets, and freed as soon as nDPI decides or gives up:
 * only two small protocol ids stay in the connection afterwards.
 *
 * Thread: the analysis thread only (nDPI's module is not shared).
 */
#ifndef TWSCOPE_CLASSIFY_H
#define TWSCOPE_CLASSIFY_H

#include "twscope/decode.h"
#include "twscope/tcpstate.h"

struct classifier;

/* NULL on failure (nDPI could not initialize). */
struct classifier *classify_create(void);
void classify_destroy(struct classifier *cl);

/* Feed one segment of connection c (no-op once c->dpi_done). */
void classify_packet(struct classifier *cl, struct conn *c, const struct pkt_view *pv, tw_time ts);

/* Conclude (give up if undecided) and free c's nDPI state. */
void classify_finish(struct classifier *cl, struct conn *c);

/* Protocol name for the ids stored in c ("TLS", "HTTP", "SSH", ...), NULL if unknown. */
const char *classify_name(struct classifier *cl, const struct conn *c, char *buf, size_t n);

#endif /* TWSCOPE_CLASSIFY_H */
