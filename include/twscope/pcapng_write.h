/*
 * pcapng_write.h -- a small pcapng writer (draft-ietf-opsawg-pcapng): one
 * Section Header Block, Interface Description Blocks, Enhanced Packet Blocks
 * with comments, and raw blocks copied from another pcapng file.
 *
 * Why it exists: libpcap writes classic pcap only (pcap_dump), which has no
 * place for a packet comment, an interface name or a nanosecond resolution
 * per interface. `twscope annotate` writes its findings into the packets as
 * EPB opt_comment options, and `capture -w FILE` can keep interfaces apart;
 * both need a pcapng writer, and this one is small enough to read in one go.
 *
 * Byte order: the section is written in host order, unless a raw SHB of the
 * other order is copied with pcapng_write_block(): from then on every block
 * this writer builds (IDB, EPB) is written in that section's order, so copied
 * and built blocks agree. Raw blocks are copied as they are.
 *
 * Memory: the writer is allocated once at open; writing a packet allocates
 * nothing (headers and options go through a fixed buffer in the writer, the
 * packet bytes straight to the stdio stream, padding from a static zero run).
 *
 * Errors: every call returns 0 or a negative tw_status. The first failure is
 * kept as one line naming the path ("out.pcapng: No space left on device");
 * later calls return the same error without writing, and pcapng_writer_close()
 * reports it. Nothing is retried.
 *
 * Thread: one writer belongs to one thread.
 */
#ifndef TWSCOPE_PCAPNG_WRITE_H
#define TWSCOPE_PCAPNG_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Block types. */
#define PCAPNG_BT_SHB 0x0A0D0D0Au
#define PCAPNG_BT_IDB 0x00000001u
#define PCAPNG_BT_PB 0x00000002u       /* obsolete Packet Block */
#define PCAPNG_BT_SPB 0x00000003u
#define PCAPNG_BT_ISB 0x00000005u       /* Interface Statistics Block */
#define PCAPNG_BT_EPB 0x00000006u
#define PCAPNG_BYTE_ORDER_MAGIC 0x1A2B3C4Du

/* Option codes used here. */
#define PCAPNG_OPT_ENDOFOPT 0
#define PCAPNG_OPT_COMMENT 1
#define PCAPNG_OPT_SHB_USERAPPL 4
#define PCAPNG_OPT_IF_NAME 2
#define PCAPNG_OPT_IF_TSRESOL 9
#define PCAPNG_OPT_IF_TSOFFSET 14

#define PCAPNG_TSRESOL_USEC 6          /* if_tsresol: 10^-6 s units */
#define PCAPNG_TSRESOL_NSEC 9          /* 10^-9 s units */

#define PCAPNG_WRITE_OPTBUF 65536      /* bytes of options one EPB or IDB may carry */

struct pcapng_writer;

struct pcapng_if {
    int linktype;                      /* LINKTYPE_* (same values as DLT_* for the common ones) */
    uint32_t snaplen;                  /* 0 = no limit */
    uint8_t tsresol;                   /* if_tsresol byte: 6 = usec (pcapng default), 9 = nsec;
                                          high bit set = 2^-n */
    const char *name;                  /* if_name or NULL */
    int has_tsoffset;                  /* write if_tsoffset */
    int64_t tsoffset;                  /* seconds added to every timestamp of this interface */
};

struct pcapng_epb {
    uint32_t ifid;                     /* interface id from pcapng_write_interface() (or the
                                          position of a copied IDB in its section) */
    uint64_t ts;                       /* timestamp as a count of the interface's units */
    uint32_t caplen;                   /* bytes in data */
    uint32_t origlen;                  /* length on the wire */
    const uint8_t *data;
    const char *const *comments;       /* ncomments UTF-8 strings, one opt_comment each */
    unsigned ncomments;
    const uint8_t *opts;               /* raw options written before the comments (in the
                                          section's byte order, padded, without
                                          opt_endofopt), or NULL */
    size_t opts_len;
};

/*
 * Create path for writing (truncated) and write nothing yet. The writer owns
 * the stream. *out is NULL on error, and err holds one line naming the path.
 */
int pcapng_writer_open(const char *path, struct pcapng_writer **out, char *err, size_t errlen);

/*
 * Write to an open stream f (standard output, a pipe); name is what the
 * error lines call it. The writer does not close f: pcapng_writer_close()
 * flushes it.
 */
int pcapng_writer_open_stream(FILE *f, const char *name, struct pcapng_writer **out, char *err,
                              size_t errlen);

/*
 * Start a section: an SHB with shb_userappl "twscope VERSION" (and the
 * optional comment), section length unknown (-1). Interface ids start again
 * at 0.
 */
int pcapng_write_shb(struct pcapng_writer *w, const char *comment);

/* Add an interface to the current section; *ifid gets its id (0, 1, ...). */
int pcapng_write_interface(struct pcapng_writer *w, const struct pcapng_if *itf, uint32_t *ifid);

/* Write an EPB. ifid must name an interface of the current section. */
int pcapng_write_epb(struct pcapng_writer *w, const struct pcapng_epb *p);

/*
 * Copy a whole block (header, body and trailing length, as read from a
 * pcapng file) unchanged. An SHB starts a new section in its byte order; an
 * IDB counts as the section's next interface. len must be a multiple of 4
 * and match the block's length fields.
 */
int pcapng_write_block(struct pcapng_writer *w, const uint8_t *block, size_t len);

/* The section comment that marks a copied SHB as a section twscope wrote
 * (followed by a space and the version). */
#define PCAPNG_OURS_COMMENT "annotated by twscope"

/* Copy the SHB shb (len bytes, either byte order) with its options and one
 * more opt_comment, PCAPNG_OURS_COMMENT: the file it starts is then one
 * twscope may replace (pcapng_head_is_ours()). A malformed SHB is refused
 * as pcapng_write_block() refuses it. */
int pcapng_write_shb_marked(struct pcapng_writer *w, const uint8_t *shb, size_t len);

/* 1 if the first n bytes of a file are a pcapng SHB this writer made: an
 * shb_userappl "twscope ..." (pcapng_write_shb) or the comment of
 * pcapng_write_shb_marked(); 0 otherwise (any other file, or too short). */
int pcapng_head_is_ours(const uint8_t *head, size_t n);

/* Interfaces in the current section. */
uint32_t pcapng_writer_interfaces(const struct pcapng_writer *w);

/* Non-zero when blocks built now are written byte-swapped (copied SHB of the other order). */
int pcapng_writer_swapped(const struct pcapng_writer *w);

/* Flush buffered blocks to the file. */
int pcapng_writer_flush(struct pcapng_writer *w);

/* The first error, or "" (valid until close). */
const char *pcapng_writer_error(const struct pcapng_writer *w);

/*
 * Flush, close (when the writer owns the stream) and free w. Returns 0, or
 * the first error of the writer's life (a write, flush or close failure) with
 * its line in err. w is freed either way; NULL is a no-op.
 */
int pcapng_writer_close(struct pcapng_writer *w, char *err, size_t errlen);

#endif /* TWSCOPE_PCAPNG_WRITE_H */
