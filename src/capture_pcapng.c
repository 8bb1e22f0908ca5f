/*
 * capture_pcapng.c -- plain pcapng files mapped and parsed in place, as
 * capture_map.c does for classic pcap: capture_pcapng_setup() takes over a
 * file capture_map_try() has mapped, capture_pcapng_next() hands out its
 * packets as pointers into the mapping (no copy), under the same SIGBUS
 * registry and the same page management (capture_map_populate()).
 *
 * Same packets as libpcap, same errors. The rules are those of libpcap 1.10's
 * sf-pcapng.c (Debian 12 has 1.10.3), block by block, and the error texts are
 * its own, so a damaged file reads the same either way (tests/fuzz/
 * fuzz_pcapng.c compares the two on every input, field by field):
 *   - a block is a header (type, total length), a body and a trailer; the
 *     total length must be >= 12, a multiple of 4, <= 16 MiB (libpcap's
 *     maximum block size for these link types), present in full, and equal
 *     to the trailer's copy;
 *   - SHB: libpcap refuses a later section whose byte order differs from the
 *     first one's ("the file has sections with different byte orders") or
 *     whose major version is not 1; a new section forgets the interfaces;
 *   - IDB: every interface after the first of the file must have the first
 *     one's link type (compared as libpcap does: its DLT_ value against the
 *     IDB's LINKTYPE_ value) and adjusted snapshot length, else the file
 *     ends with libpcap's error; if_tsresol (10^-n, n <= 19, or 2^-n,
 *     n <= 63) and if_tsoffset (seconds) give each interface its timestamp
 *     scale, computed in the same 64-bit steps as libpcap so that even a
 *     forged timestamp gives the same struct timeval;
 *   - EPB and the obsolete PB name their interface; an SPB is on interface 0,
 *     has no timestamp (0 + if_tsoffset) and captures min(len, snapshot)
 *     bytes; a packet larger than the snapshot is an error;
 *   - every other block (NRB, ISB, DSB, custom, unknown) is skipped.
 * The file's first SHB and the blocks up to its first IDB were read by
 * libpcap when it opened the file (pcap_ng_check_header()); setup walks them
 * again to find where the packets start, and leaves the file to libpcap when
 * anything there is not what libpcap accepted, or the link type is one
 * libpcap rewrites (a pseudo-header swapped for another byte order) or sizes
 * differently (its maximum snapshot length).
 *
 * Error offsets: the libpcap path names where the failing pcap_next_ex()
 * started reading (capture_file.c takes ftell() before it), which for
 * pcapng is the block after the last packet, whatever non-packet blocks
 * come before the failing one; rec_off here is the same, so the error text
 * (and files.error) is the same with and without the mapping.
 *
 * Memory: the interfaces of the current section are an array grown
 * (realloc) on an IDB, never on a packet. Timestamps: libpcap is asked for
 * microseconds (capture_file.c), so the scale is to 10^6, and the usual
 * resolutions (10^-6, 10^-9) divide by constants.
 *
 * Thread: capture_pcapng_setup() where capture_map_try() runs (before the
 * reader thread starts), capture_pcapng_next() on the reader thread,
 * capture_pcapng_free() from capture_map_release().
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "capture_int.h"

#define NG_SHB 0x0A0D0D0Au
#define NG_IDB 1u
#define NG_PB 2u
#define NG_SPB 3u
#define NG_EPB 6u
#define NG_BOM 0x1A2B3C4Du
#define NG_SHB_MAX (1024u * 1024u)      /* libpcap's BT_SHB_INSANE_MAX (first SHB) */
#define NG_BLOCK_MAX (16u * 1024u * 1024u) /* libpcap's INITIAL_MAX_BLOCKSIZE */
#define NG_MAX_SNAPLEN 262144u          /* libpcap's MAXIMUM_SNAPLEN for these link types */
#define NG_USER_RES 1000000u            /* microseconds, what capture_file.c asks libpcap */

enum ng_scale { NG_PASS, NG_UP_DEC, NG_DOWN_DEC, NG_UP_BIN, NG_DOWN_BIN };

struct ng_if {
    uint64_t tsresol;           /* units per second */
    uint64_t tsoffset;          /* seconds added (if_tsoffset) */
    uint64_t factor;            /* decimal scale factor to or from 10^6 */
    enum ng_scale scale;
};

struct pcapng {
    struct ng_if *ifs;          /* interfaces of the current section; owned */
    uint32_t nif, cap;          /* in use, allocated */
    int linktype;               /* libpcap's DLT_ of the file's first IDB */
    uint32_t snapshot;          /* its adjusted snapshot length */
};

/* One block, checked as libpcap's read_block() does. */
struct ng_block {
    uint32_t type;
    uint32_t total;             /* header + body + trailer */
    const uint8_t *body;        /* after the 8-byte header */
    size_t blen;                /* body bytes before the trailer */
};

static inline uint32_t ng32(const uint8_t *b, int swapped)
{
    uint32_t v;
    memcpy(&v, b, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

static inline uint16_t ng16(const uint8_t *b, int swapped)
{
    uint16_t v;
    memcpy(&v, b, 2);
    return swapped ? __builtin_bswap16(v) : v;
}

/* libpcap's pcap_adjust_snapshot() for the link types read here. */
static uint32_t ng_adjust_snapshot(uint32_t snaplen)
{
    return snaplen == 0 || snaplen > INT_MAX ? NG_MAX_SNAPLEN : snaplen;
}

/*
 * The block at off: 1, 0 at the end of the file, -1 with what set (libpcap's
 * text), -2 the mapping faulted or could not be populated (the file shrank).
 */
static int ng_block_at(struct capture_input *in, size_t off, struct ng_block *b, char *what,
                       size_t wlen)
{
    size_t left = in->map_len - off;

    if (left == 0)
        return 0;
    if (off + (left < 8 ? left : 8) > in->populated &&
        capture_map_populate(in, off + (left < 8 ? left : 8)) != 0)
        return -2;
    if (left < 8) {
        snprintf(what, wlen, "truncated pcapng dump file; tried to read %zu bytes, only got %zu",
                 (size_t)8, left);
        return -1;
    }
    b->type = ng32(in->map + off, in->swapped);
    b->total = ng32(in->map + off + 4, in->swapped);
    if (b->total < 12) {
        snprintf(what, wlen, "block in pcapng dump file has a length of %u < %zu", b->total,
                 (size_t)12);
        return -1;
    }
    if (b->total % 4 != 0) {
        snprintf(what, wlen,
                 "block in pcapng dump file has a length of %u that is not a multiple of 4",
                 b->total);
        return -1;
    }
    if (b->total > NG_BLOCK_MAX) {
        snprintf(what, wlen, "pcapng block size %u > maximum %u", b->total, NG_BLOCK_MAX);
        return -1;
    }
    if (left - 8 < (size_t)b->total - 8) {
        snprintf(what, wlen, "truncated pcapng dump file; tried to read %zu bytes, only got %zu",
                 (size_t)b->total - 8, left - 8);
        return -1;
    }
    if (off + b->total > in->populated && capture_map_populate(in, off + b->total) != 0)
        return -2;
    if (ng32(in->map + off + b->total - 4, in->swapped) != b->total) {
        snprintf(what, wlen, "block total length in header and trailer don't match");
        return -1;
    }
    b->body = in->map + off + 8;
    b->blen = (size_t)b->total - 12;
    return 1;
}

static int ng_short(struct ng_block *b, char *what, size_t wlen)
{
    snprintf(what, wlen, "block of type %u in pcapng dump file is too short", b->type);
    return -1;
}

/*
 * Add the interface of IDB b (its 8 fixed bytes already checked), as
 * libpcap's add_interface() and process_idb_options(): 0, or -1 with what set.
 */
static int ng_add_if(struct capture_input *in, struct ng_block *b, char *what, size_t wlen)
{
    struct pcapng *ng = in->ng;
    const uint8_t *p = b->body + 8;
    size_t rem = b->blen - 8;
    uint64_t tsresol = 1000000, tsoffset = 0;
    int binary = 0, saw_res = 0, saw_off = 0;
    struct ng_if *f;

    if (ng->nif == ng->cap) {
        uint32_t ncap = ng->cap ? ng->cap * 2 : 4;
        struct ng_if *n = ncap > ng->cap ? realloc(ng->ifs, (size_t)ncap * sizeof *n) : NULL;
        if (n == NULL) {
            snprintf(what, wlen, "out of memory for per-interface information (%u interfaces)",
                     ng->nif + 1);
            return -1;
        }
        ng->ifs = n;
        ng->cap = ncap;
    }
    while (rem != 0) {
        uint16_t code, olen;
        size_t padded;
        if (rem < 4)
            return ng_short(b, what, wlen);
        code = ng16(p, in->swapped);
        olen = ng16(p + 2, in->swapped);
        p += 4;
        rem -= 4;
        padded = ((size_t)olen + 3) / 4 * 4;
        if (rem < padded)
            return ng_short(b, what, wlen);
        if (code == 0) {                /* opt_endofopt */
            if (olen != 0) {
                snprintf(what, wlen,
                         "Interface Description Block has opt_endofopt option with length %u != 0",
                         olen);
                return -1;
            }
            break;
        }
        if (code == 9) {                /* if_tsresol */
            uint8_t v = p[0];
            if (olen != 1) {
                snprintf(what, wlen,
                         "Interface Description Block has if_tsresol option with length %u != 1",
                         olen);
                return -1;
            }
            if (saw_res) {
                snprintf(what, wlen,
                         "Interface Description Block has more than one if_tsresol option");
                return -1;
            }
            saw_res = 1;
            if (v & 0x80) {
                if ((v & 0x7f) > 63) {
                    snprintf(what, wlen,
                             "Interface Description Block if_tsresol option resolution 2^-%u is "
                             "too high", v & 0x7f);
                    return -1;
                }
                binary = 1;
                tsresol = (uint64_t)1 << (v & 0x7f);
            } else {
                if (v > 19) {
                    snprintf(what, wlen,
                             "Interface Description Block if_tsresol option resolution 10^-%u is "
                             "too high", v);
                    return -1;
                }
                binary = 0;
                tsresol = 1;
                for (unsigned i = 0; i < v; i++)
                    tsresol *= 10;
            }
        } else if (code == 14) {        /* if_tsoffset */
            if (olen != 8) {
                snprintf(what, wlen,
                         "Interface Description Block has if_tsoffset option with length %u != 8",
                         olen);
                return -1;
            }
            if (saw_off) {
                snprintf(what, wlen,
                         "Interface Description Block has more than one if_tsoffset option");
                return -1;
            }
            saw_off = 1;
            memcpy(&tsoffset, p, 8);
            if (in->swapped)
                tsoffset = __builtin_bswap64(tsoffset);
        }
        p += padded;
        rem -= padded;
    }
    f = &ng->ifs[ng->nif++];
    f->tsresol = tsresol;
    f->tsoffset = tsoffset;
    f->factor = 1;
    if (tsresol == NG_USER_RES) {
        f->scale = NG_PASS;
    } else if (tsresol > NG_USER_RES) {
        f->scale = binary ? NG_DOWN_BIN : NG_DOWN_DEC;
        f->factor = binary ? 1 : tsresol / NG_USER_RES;
    } else {
        f->scale = binary ? NG_UP_BIN : NG_UP_DEC;
        f->factor = binary ? 1 : NG_USER_RES / tsresol;
    }
    return 0;
}

/* Link types libpcap hands out unchanged in this byte order, with its usual maximum snaplen. */
static int ng_linktype_ok(int lt, int swapped)
{
    switch (lt) {
    case DLT_EN10MB: case DLT_RAW: case DLT_IPV4: case DLT_IPV6: case DLT_NULL: case DLT_LOOP:
    case DLT_PPP: case DLT_PPP_SERIAL: case DLT_PPP_ETHER: case DLT_C_HDLC: case DLT_FDDI:
        return 1;
    case DLT_LINUX_SLL: case DLT_LINUX_SLL2: case DLT_NFLOG:
        return !swapped;        /* libpcap swaps their pseudo-headers */
    default:
        return 0;
    }
}

int capture_pcapng_setup(struct capture_input *in, size_t *start)
{
    const uint8_t *m = in->map;
    struct ng_block b;
    char what[256];
    uint32_t bom, total;
    uint16_t major, minor;
    size_t off;
    int r;

    if (in->map_len < 28)
        return -1;
    memcpy(&bom, m + 8, 4);
    if (bom == NG_BOM)
        in->swapped = 0;
    else if (bom == __builtin_bswap32(NG_BOM))
        in->swapped = 1;
    else
        return -1;
    total = ng32(m + 4, in->swapped);
    major = ng16(m + 12, in->swapped);
    minor = ng16(m + 14, in->swapped);
    if (total < 28 || total > NG_SHB_MAX || total > in->map_len || major != 1 ||
        (minor != 0 && minor != 2) || !ng_linktype_ok(in->linktype, in->swapped) ||
        pcap_snapshot(in->pcap) <= 0)
        return -1;
    in->ng = calloc(1, sizeof *in->ng);
    if (in->ng == NULL)
        return -1;
    in->ng->linktype = in->linktype;
    in->ng->snapshot = (uint32_t)pcap_snapshot(in->pcap);
    /* the first SHB's trailer is not checked (libpcap reads it with fread) */
    for (off = total;; off += b.total) {
        r = ng_block_at(in, off, &b, what, sizeof what);
        if (r != 1 || b.type == NG_EPB || b.type == NG_SPB || b.type == NG_PB)
            break;
        if (b.type == NG_IDB) {
            if (b.blen < 8 || ng_adjust_snapshot(ng32(b.body + 4, in->swapped)) !=
                                  in->ng->snapshot ||
                ng_add_if(in, &b, what, sizeof what) != 0)
                break;
            *start = off + b.total;
            if (capture_map_faulted(in))
                break;
            return 0;
        }
    }
    capture_pcapng_free(in);
    return -1;
}

void capture_pcapng_free(struct capture_input *in)
{
    if (in->ng != NULL)
        free(in->ng->ifs);
    free(in->ng);
    in->ng = NULL;
}

/* A packet's timestamp as libpcap 1.10 makes it (pcap_ng_next_packet()). */
static inline void ng_ts(const struct ng_if *f, uint64_t t, struct timeval *tv)
{
    uint64_t sec, frac;

    if (f->tsresol == 1000000) {
        sec = t / 1000000;
        frac = t % 1000000;
    } else if (f->tsresol == 1000000000) {
        sec = t / 1000000000;
        frac = t % 1000000000;
    } else {
        sec = t / f->tsresol;
        frac = t % f->tsresol;
    }
    sec += f->tsoffset;
    switch (f->scale) {
    case NG_PASS:
        break;
    case NG_UP_DEC:
        frac *= f->factor;
        break;
    case NG_DOWN_DEC:
        frac = f->factor == 1000 ? frac / 1000 : frac / f->factor;
        break;
    case NG_UP_BIN:
    case NG_DOWN_BIN:
        frac = frac * NG_USER_RES / f->tsresol;
        break;
    }
    tv->tv_sec = (time_t)sec;
    tv->tv_usec = (suseconds_t)(int)frac;
}

/*
 * Next packet of a mapped pcapng input, as pcap_next_ex() would return it:
 * 1, 0 at the end, or TW_ERR_FORMAT with err naming the file and offset.
 * Any error and the end are checked against the file's size first, so that
 * a file that shrank says so.
 */
int capture_pcapng_next(struct capture_input *in, char *err, size_t errlen)
{
    struct pcapng *ng = in->ng;
    struct ng_block b;
    char what[256];
    size_t off = in->moff, hlen;
    uint32_t ifid, caplen, len;
    uint64_t t;
    int r;

    in->rec_off = (int64_t)off;
    if (in->map_shrunk || capture_map_faulted(in))
        return capture_map_error(in, err, errlen, SHRANK);
    for (;; off += b.total) {
        r = ng_block_at(in, off, &b, what, sizeof what);
        if (r == 1 && capture_map_faulted(in))
            r = -2;
        if (r != 1)
            goto fail;
        switch (b.type) {
        case NG_EPB:
            if (b.blen < 20)
                goto short_block;
            ifid = ng32(b.body, in->swapped);
            t = (uint64_t)ng32(b.body + 4, in->swapped) << 32 | ng32(b.body + 8, in->swapped);
            caplen = ng32(b.body + 12, in->swapped);
            len = ng32(b.body + 16, in->swapped);
            hlen = 20;
            goto found;
        case NG_SPB:
            if (b.blen < 4)
                goto short_block;
            ifid = 0;
            len = ng32(b.body, in->swapped);
            caplen = len > ng->snapshot ? ng->snapshot : len;
            t = 0;
            hlen = 4;
            goto found;
        case NG_PB:
            if (b.blen < 20)
                goto short_block;
            ifid = ng16(b.body, in->swapped);
            t = (uint64_t)ng32(b.body + 4, in->swapped) << 32 | ng32(b.body + 8, in->swapped);
            caplen = ng32(b.body + 12, in->swapped);
            len = ng32(b.body + 16, in->swapped);
            hlen = 20;
            goto found;
        case NG_IDB: {
            uint16_t lt;
            uint32_t snaplen;
            if (b.blen < 8)
                goto short_block;
            lt = ng16(b.body, in->swapped);
            snaplen = ng32(b.body + 4, in->swapped);
            if (ng->linktype != lt) {
                snprintf(what, sizeof what,
                         "an interface has a type %u different from the type of the first "
                         "interface", lt);
                goto fail_what;
            }
            if (ng->snapshot != ng_adjust_snapshot(snaplen)) {
                snprintf(what, sizeof what,
                         "an interface has a snapshot length %u different from the snapshot "
                         "length of the first interface", snaplen);
                goto fail_what;
            }
            if (ng_add_if(in, &b, what, sizeof what) != 0)
                goto fail_what;
            break;
        }
        case NG_SHB: {
            uint32_t bom;
            uint16_t major;
            if (b.blen < 16)
                goto short_block;
            bom = ng32(b.body, in->swapped);
            major = ng16(b.body + 4, in->swapped);
            if (bom == __builtin_bswap32(NG_BOM)) {
                snprintf(what, sizeof what, "the file has sections with different byte orders");
                goto fail_what;
            }
            if (bom != NG_BOM) {
                snprintf(what, sizeof what,
                         "the file has a section with a bad byte order magic field");
                goto fail_what;
            }
            if (major != 1) {
                snprintf(what, sizeof what, "unknown pcapng savefile major version number %u",
                         major);
                goto fail_what;
            }
            ng->nif = 0;
            break;
        }
        default:
            break;              /* NRB, ISB, DSB, custom, unknown: skipped */
        }
    }
found:
    if (ifid >= ng->nif) {
        snprintf(what, sizeof what,
                 "a packet arrived on interface %u, but there's no Interface Description Block "
                 "for that interface", ifid);
        goto fail_what;
    }
    if (caplen > ng->snapshot) {
        snprintf(what, sizeof what, "invalid packet capture length %u, bigger than snaplen of %d",
                 caplen, (int)ng->snapshot);
        goto fail_what;
    }
    if (b.blen - hlen < caplen)
        goto short_block;
    ng_ts(&ng->ifs[ifid], t, &in->mhdr.ts);
    in->mhdr.caplen = caplen;
    in->mhdr.len = len;
    in->hdr = &in->mhdr;
    in->data = b.body + hlen;
    in->moff = off + b.total;
    __builtin_prefetch(in->map + in->moff);
    __builtin_prefetch(in->map + in->moff + 64);
    return 1;

short_block:
    ng_short(&b, what, sizeof what);
fail_what:
    r = -1;
fail:
    /* an end, an error or a fault where the file used to go on: it shrank */
    in->moff = in->map_len;
    if (r == -2 || capture_map_faulted(in) || capture_input_shrank(in))
        return capture_map_error(in, err, errlen, SHRANK);
    if (r == 0)
        return 0;
    return capture_map_error(in, err, errlen, "%s", what);
}
