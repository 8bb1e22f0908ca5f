/*
 * pcapng_write.c -- the pcapng writer (see pcapng_write.h).
 *
 * Every block this module builds is assembled in w->buf (headers, options,
 * trailing length) around the caller's packet bytes, which go straight to the
 * stream: one fwrite for the head, one for the data, one for the padding and
 * one for the tail; stdio does the buffering.
 */
#include "twscope/pcapng_write.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "twscope/common.h"
#include "twscope/config.h"

#define EPB_HEAD 28                    /* type, length, ifid, ts high, ts low, caplen, origlen */

struct pcapng_writer {
    FILE *f;
    int owns;                          /* fclose at close */
    int swap;                          /* section in the other byte order */
    int in_section;                    /* an SHB was written */
    uint32_t nif;                      /* interfaces in the current section */
    int rc;                            /* first error (0 = none) */
    char name[1024];                   /* what error lines call the output */
    char errmsg[1200];
    uint8_t buf[PCAPNG_WRITE_OPTBUF + 64];
};

static const uint8_t zeros[8];

static uint32_t pad4(size_t n) { return (uint32_t)((4 - (n & 3)) & 3); }

static int fail(struct pcapng_writer *w, int rc, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (w->rc)
        return w->rc;
    n = snprintf(w->errmsg, sizeof(w->errmsg), "%s: ", w->name);
    va_start(ap, fmt);
    vsnprintf(w->errmsg + n, sizeof(w->errmsg) - (size_t)n, fmt, ap);
    va_end(ap);
    w->rc = rc;
    return rc;
}

static int io_fail(struct pcapng_writer *w)
{
    return fail(w, TW_ERR_IO, "%s", strerror(errno ? errno : EIO));
}

static int put(struct pcapng_writer *w, const void *p, size_t n)
{
    errno = 0;
    if (n && fwrite(p, 1, n, w->f) != n)
        return io_fail(w);
    return 0;
}

static uint32_t bswap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* Store integers in the section's byte order. */
static void st16(const struct pcapng_writer *w, uint8_t *p, uint16_t v)
{
    if (w->swap)
        v = (uint16_t)((v >> 8) | (v << 8));
    memcpy(p, &v, 2);
}

static void st32(const struct pcapng_writer *w, uint8_t *p, uint32_t v)
{
    if (w->swap)
        v = bswap32(v);
    memcpy(p, &v, 4);
}

static void st64(const struct pcapng_writer *w, uint8_t *p, uint64_t v)
{
    /* pcapng stores 64-bit option values as one 64-bit integer of the section's order */
    uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 32);
    uint64_t out;
    if (w->swap) {
        out = ((uint64_t)bswap32(lo) << 32) | bswap32(hi);
    } else {
        out = v;
    }
    memcpy(p, &out, 8);
}

/* Append option (code, val, len) at buf+*at; 0, or -1 when it does not fit. */
static int add_opt(const struct pcapng_writer *w, uint8_t *buf, size_t cap, size_t *at,
                   uint16_t code, const void *val, size_t len)
{
    size_t need = 4 + len + pad4(len);
    if (len > 0xffff || *at + need > cap)
        return -1;
    st16(w, buf + *at, code);
    st16(w, buf + *at + 2, (uint16_t)len);
    if (len)
        memcpy(buf + *at + 4, val, len);
    memset(buf + *at + 4 + len, 0, pad4(len));
    *at += need;
    return 0;
}

static struct pcapng_writer *writer_new(const char *name)
{
    struct pcapng_writer *w = calloc(1, sizeof(*w));
    if (w)
        snprintf(w->name, sizeof(w->name), "%s", name);
    return w;
}

int pcapng_writer_open(const char *path, struct pcapng_writer **out, char *err, size_t errlen)
{
    struct pcapng_writer *w;
    *out = NULL;
    w = writer_new(path);
    if (!w) {
        snprintf(err, errlen, "%s: out of memory", path);
        return TW_ERR_NOMEM;
    }
    w->f = fopen(path, "wb");
    if (!w->f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(w);
        return TW_ERR_IO;
    }
    w->owns = 1;
    *out = w;
    return TW_OK;
}

int pcapng_writer_open_stream(FILE *f, const char *name, struct pcapng_writer **out, char *err,
                              size_t errlen)
{
    struct pcapng_writer *w;
    *out = NULL;
    w = writer_new(name);
    if (!w) {
        snprintf(err, errlen, "%s: out of memory", name);
        return TW_ERR_NOMEM;
    }
    w->f = f;
    *out = w;
    return TW_OK;
}

int pcapng_write_shb(struct pcapng_writer *w, const char *comment)
{
    static const char appl[] = "twscope " TWSCOPE_VERSION;
    uint8_t *b = w->buf;
    size_t at = 24, cap = sizeof(w->buf) - 8;
    if (w->rc)
        return w->rc;
    w->swap = 0;                       /* a section we build is in host order */
    st32(w, b, PCAPNG_BT_SHB);
    st32(w, b + 8, PCAPNG_BYTE_ORDER_MAGIC);
    st16(w, b + 12, 1);                /* major */
    st16(w, b + 14, 0);                /* minor */
    memset(b + 16, 0xff, 8);           /* section length: not given */
    if ((comment && add_opt(w, b, cap, &at, PCAPNG_OPT_COMMENT, comment, strlen(comment))) ||
        add_opt(w, b, cap, &at, PCAPNG_OPT_SHB_USERAPPL, appl, strlen(appl)) ||
        add_opt(w, b, cap, &at, PCAPNG_OPT_ENDOFOPT, NULL, 0))
        return fail(w, TW_ERR_USAGE, "section comment too long");
    st32(w, b + 4, (uint32_t)(at + 4));
    st32(w, b + at, (uint32_t)(at + 4));
    if (put(w, b, at + 4))
        return w->rc;
    w->in_section = 1;
    w->nif = 0;
    return TW_OK;
}

int pcapng_write_interface(struct pcapng_writer *w, const struct pcapng_if *itf, uint32_t *ifid)
{
    uint8_t *b = w->buf;
    size_t at = 16, cap = sizeof(w->buf) - 8;
    uint8_t tsoff[8];
    int opts = 0;
    if (w->rc)
        return w->rc;
    if (!w->in_section)
        return fail(w, TW_ERR_USAGE, "interface written before the section header");
    if (itf->linktype < 0 || itf->linktype > 0xffff)
        return fail(w, TW_ERR_USAGE, "link type %d does not fit an interface block",
                    itf->linktype);
    st32(w, b, PCAPNG_BT_IDB);
    st16(w, b + 8, (uint16_t)itf->linktype);
    st16(w, b + 10, 0);
    st32(w, b + 12, itf->snaplen);
    if (itf->name) {
        opts = 1;
        if (add_opt(w, b, cap, &at, PCAPNG_OPT_IF_NAME, itf->name, strlen(itf->name)))
            return fail(w, TW_ERR_USAGE, "interface name too long");
    }
    if (itf->tsresol != PCAPNG_TSRESOL_USEC) {
        opts = 1;
        add_opt(w, b, cap, &at, PCAPNG_OPT_IF_TSRESOL, &itf->tsresol, 1);
    }
    if (itf->has_tsoffset) {
        opts = 1;
        st64(w, tsoff, (uint64_t)itf->tsoffset);
        add_opt(w, b, cap, &at, PCAPNG_OPT_IF_TSOFFSET, tsoff, 8);
    }
    if (opts)
        add_opt(w, b, cap, &at, PCAPNG_OPT_ENDOFOPT, NULL, 0);
    st32(w, b + 4, (uint32_t)(at + 4));
    st32(w, b + at, (uint32_t)(at + 4));
    if (put(w, b, at + 4))
        return w->rc;
    if (ifid)
        *ifid = w->nif;
    w->nif++;
    return TW_OK;
}

int pcapng_write_epb(struct pcapng_writer *w, const struct pcapng_epb *p)
{
    uint8_t *b = w->buf, *t;
    size_t at = 0, cap, total;
    uint32_t dpad = pad4(p->caplen);
    if (w->rc)
        return w->rc;
    if (p->ifid >= w->nif)
        return fail(w, TW_ERR_USAGE, "packet on interface %u, but the section has %u",
                    (unsigned)p->ifid, (unsigned)w->nif);
    /* head in b[0..28), tail (options, endofopt, length) from b+EPB_HEAD */
    t = b + EPB_HEAD;
    cap = sizeof(w->buf) - EPB_HEAD - 8;
    if (p->opts_len) {
        if (p->opts_len > cap || (p->opts_len & 3))
            return fail(w, TW_ERR_USAGE, "packet options of %zu bytes (not a padded option list)",
                        p->opts_len);
        memcpy(t, p->opts, p->opts_len);
        at = p->opts_len;
    }
    for (unsigned i = 0; i < p->ncomments; i++)
        if (add_opt(w, t, cap, &at, PCAPNG_OPT_COMMENT, p->comments[i], strlen(p->comments[i])))
            return fail(w, TW_ERR_USAGE, "packet comments longer than %d bytes",
                        PCAPNG_WRITE_OPTBUF);
    if (at)
        add_opt(w, t, cap + 4, &at, PCAPNG_OPT_ENDOFOPT, NULL, 0);
    total = EPB_HEAD + (size_t)p->caplen + dpad + at + 4;
    if (total > 0xffffffffu)
        return fail(w, TW_ERR_USAGE, "packet of %u bytes too large for a block",
                    (unsigned)p->caplen);
    st32(w, b, PCAPNG_BT_EPB);
    st32(w, b + 4, (uint32_t)total);
    st32(w, b + 8, p->ifid);
    st32(w, b + 12, (uint32_t)(p->ts >> 32));
    st32(w, b + 16, (uint32_t)p->ts);
    st32(w, b + 20, p->caplen);
    st32(w, b + 24, p->origlen);
    st32(w, t + at, (uint32_t)total);
    if (put(w, b, EPB_HEAD) || put(w, p->data, p->caplen) || put(w, zeros, dpad) ||
        put(w, t, at + 4))
        return w->rc;
    return TW_OK;
}

int pcapng_write_block(struct pcapng_writer *w, const uint8_t *block, size_t len)
{
    uint32_t type, l1, l2, bom;
    int swap;
    if (w->rc)
        return w->rc;
    if (len < 12 || (len & 3))
        return fail(w, TW_ERR_FORMAT, "block of %zu bytes copied (not a pcapng block)", len);
    memcpy(&type, block, 4);
    if (type == PCAPNG_BT_SHB) {       /* the same in both orders */
        if (len < 28)
            return fail(w, TW_ERR_FORMAT, "section header of %zu bytes copied", len);
        memcpy(&bom, block + 8, 4);
        if (bom == PCAPNG_BYTE_ORDER_MAGIC)
            swap = 0;
        else if (bom == bswap32(PCAPNG_BYTE_ORDER_MAGIC))
            swap = 1;
        else
            return fail(w, TW_ERR_FORMAT, "section header copied with a bad byte-order magic");
    } else {
        if (!w->in_section)
            return fail(w, TW_ERR_USAGE, "block copied before the section header");
        swap = w->swap;
    }
    memcpy(&l1, block + 4, 4);
    memcpy(&l2, block + len - 4, 4);
    if (swap) {
        type = bswap32(type);
        l1 = bswap32(l1);
        l2 = bswap32(l2);
    }
    if (l1 != len || l2 != len)
        return fail(w, TW_ERR_FORMAT, "block of %zu bytes copied with lengths %u/%u", len,
                    (unsigned)l1, (unsigned)l2);
    if (put(w, block, len))
        return w->rc;
    if (type == PCAPNG_BT_SHB) {
        w->swap = swap;
        w->in_section = 1;
        w->nif = 0;
    } else if (type == PCAPNG_BT_IDB) {
        w->nif++;
    }
    return TW_OK;
}

int pcapng_write_shb_marked(struct pcapng_writer *w, const uint8_t *shb, size_t len)
{
    static const char mark[] = PCAPNG_OURS_COMMENT " " TWSCOPE_VERSION;
    uint8_t *b = w->buf;
    size_t at = 24, cap = sizeof(w->buf) - 8, o = 24;
    uint32_t bom;
    if (w->rc)
        return w->rc;
    if (len < 28 || (len & 3) || len - 4 > cap)
        return pcapng_write_block(w, shb, len); /* its checks and error texts */
    memcpy(&bom, shb + 8, 4);
    if (bom != PCAPNG_BYTE_ORDER_MAGIC && bom != bswap32(PCAPNG_BYTE_ORDER_MAGIC))
        return pcapng_write_block(w, shb, len);
    w->swap = bom != PCAPNG_BYTE_ORDER_MAGIC;
    memcpy(b, shb, 24);
    /* its options up to opt_endofopt (or the end), then the mark, then opt_endofopt */
    while (o + 4 <= len - 4) {
        uint16_t code, olen;
        size_t need;
        memcpy(&code, shb + o, 2);
        memcpy(&olen, shb + o + 2, 2);
        if (w->swap) {
            code = (uint16_t)((code >> 8) | (code << 8));
            olen = (uint16_t)((olen >> 8) | (olen << 8));
        }
        need = 4 + (size_t)olen + pad4(olen);
        if (code == PCAPNG_OPT_ENDOFOPT || o + need > len - 4)
            break;
        memcpy(b + at, shb + o, need);
        at += need;
        o += need;
    }
    if (add_opt(w, b, cap, &at, PCAPNG_OPT_COMMENT, mark, strlen(mark)) ||
        add_opt(w, b, cap, &at, PCAPNG_OPT_ENDOFOPT, NULL, 0))
        return fail(w, TW_ERR_USAGE, "section header options too long");
    st32(w, b + 4, (uint32_t)(at + 4));
    st32(w, b + at, (uint32_t)(at + 4));
    if (put(w, b, at + 4))
        return w->rc;
    w->in_section = 1;
    w->nif = 0;
    return TW_OK;
}

int pcapng_head_is_ours(const uint8_t *head, size_t n)
{
    static const char appl[] = "twscope ", mark[] = PCAPNG_OURS_COMMENT;
    uint32_t type, bom, blen;
    int swap;
    size_t o = 24, end;
    if (n < 28)
        return 0;
    memcpy(&type, head, 4);
    memcpy(&bom, head + 8, 4);
    if (type != PCAPNG_BT_SHB ||
        (bom != PCAPNG_BYTE_ORDER_MAGIC && bom != bswap32(PCAPNG_BYTE_ORDER_MAGIC)))
        return 0;
    swap = bom != PCAPNG_BYTE_ORDER_MAGIC;
    memcpy(&blen, head + 4, 4);
    if (swap)
        blen = bswap32(blen);
    end = blen < n ? blen : n;
    while (end >= 4 && o + 4 <= end - 4) {
        uint16_t code, olen;
        memcpy(&code, head + o, 2);
        memcpy(&olen, head + o + 2, 2);
        if (swap) {
            code = (uint16_t)((code >> 8) | (code << 8));
            olen = (uint16_t)((olen >> 8) | (olen << 8));
        }
        if (code == PCAPNG_OPT_ENDOFOPT || o + 4 + olen > end)
            break;
        if (code == PCAPNG_OPT_SHB_USERAPPL && olen >= sizeof appl - 1 &&
            memcmp(head + o + 4, appl, sizeof appl - 1) == 0)
            return 1;
        if (code == PCAPNG_OPT_COMMENT && olen >= sizeof mark - 1 &&
            memcmp(head + o + 4, mark, sizeof mark - 1) == 0)
            return 1;
        o += 4 + (size_t)olen + pad4(olen);
    }
    return 0;
}

uint32_t pcapng_writer_interfaces(const struct pcapng_writer *w) { return w->nif; }

int pcapng_writer_swapped(const struct pcapng_writer *w) { return w->swap; }

int pcapng_writer_flush(struct pcapng_writer *w)
{
    if (w->rc)
        return w->rc;
    if (fflush(w->f) != 0)
        return io_fail(w);
    return TW_OK;
}

const char *pcapng_writer_error(const struct pcapng_writer *w) { return w->errmsg; }

int pcapng_writer_close(struct pcapng_writer *w, char *err, size_t errlen)
{
    int rc;
    if (!w)
        return TW_OK;
    if (fflush(w->f) != 0 || ferror(w->f))
        io_fail(w);
    if (w->owns && fclose(w->f) != 0)
        io_fail(w);
    rc = w->rc;
    if (rc && err)
        snprintf(err, errlen, "%s", w->errmsg);
    free(w);
    return rc;
}
