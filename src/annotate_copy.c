/*
 * annotate_copy.c -- the second half of `twscope annotate`: check that each
 * source file is the one analyzed, choose and guard the outputs, and copy
 * every packet to pcapng with the comments annotate.c built (a sorted array
 * walked with a cursor; the copy allocates nothing but its block buffer).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "annotate_int.h"
#include "twscope/common.h"
#include "twscope/fileid.h"
#include "twscope/outfile.h"
#include "twscope/pcapng_write.h"

/* ---- sources and outputs ------------------------------------------------------ */

int ann_check_sources(struct annot *a)
{
    for (size_t i = 0; i < a->nfiles; i++) {
        struct infile *f = &a->files[i];
        struct fileid id;
        char err[1200];
        if (!f->known || strcmp(f->path, "-") == 0)
            return ann_say(a, TW_ERR_IO, "file %u of capture %lld was read from '%s' (standard "
                       "input or a pipe): there is no file to annotate",
                       f->index, (long long)a->capture_id, f->path);
        if (fileid_of(f->path, &id, err, sizeof err)) {
            /* a relative path is the analysis' working directory's: try beside the database */
            const char *slash = strrchr(a->o->db_path, '/');
            char alt[PATH_MAX];
            struct fileid id2;
            char err2[16];
            if (f->path[0] == '/' || !slash ||
                snprintf(alt, sizeof alt, "%.*s/%s", (int)(slash - a->o->db_path),
                         a->o->db_path, f->path) >= (int)sizeof alt ||
                fileid_of(alt, &id2, err2, sizeof err2))
                return ann_say(a, TW_ERR_IO, "%s (file %u of capture %lld): source file not found "
                           "as recorded", err, f->index, (long long)a->capture_id);
            free(f->path);
            f->path = ann_strdup(alt);
            id = id2;
        }
        if (!id.known)
            return ann_say(a, TW_ERR_IO, "%s: not a regular file any more", f->path);
        if (id.size != f->size)
            return ann_say(a, TW_ERR_FORMAT, "%s: changed since it was analyzed (%llu bytes then, "
                       "%llu now): its frames may not be the database's",
                       f->path, (unsigned long long)f->size, (unsigned long long)id.size);
        if (strcmp(id.fingerprint, f->fingerprint) != 0)
            return ann_say(a, TW_ERR_FORMAT, "%s: changed since it was analyzed (fingerprint %s "
                       "then, %s now): its frames may not be the database's",
                       f->path, f->fingerprint, id.fingerprint);
    }
    return 0;
}

/* NAME without ".gz" and a capture extension. */
static void stem_of(const char *name, char *buf, size_t n)
{
    static const char *const exts[] = {".gz", ".pcapng", ".pcap", ".cap", ".dmp", ".ntar"};
    size_t len;
    snprintf(buf, n, "%s", name);
    len = strlen(buf);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t e = strlen(exts[i]);
        if (len > e && strcmp(buf + len - e, exts[i]) == 0) {
            len -= e;
            buf[len] = 0;
            if (i == 0)
                continue;      /* x.pcap.gz: the capture extension too */
            break;
        }
    }
}

/* Expand pattern p (%f stem, %i file index, %% a percent sign) for file f. */
static int expand(struct annot *a, const char *p, const struct infile *f, char *buf, size_t n)
{
    char stem[PATH_MAX];
    size_t used = 0;
    stem_of(f->name, stem, sizeof stem);
    for (; *p; p++) {
        int k;
        if (*p != '%') {
            k = snprintf(buf + used, n - used, "%c", *p);
        } else if (p[1] == 'f') {
            k = snprintf(buf + used, n - used, "%s", stem);
            p++;
        } else if (p[1] == 'i') {
            k = snprintf(buf + used, n - used, "%u", f->index);
            p++;
        } else if (p[1] == '%') {
            k = snprintf(buf + used, n - used, "%%");
            p++;
        } else {
            return ann_say(a, TW_ERR_USAGE, "-o %s: unknown '%%%c' (patterns know %%f, the input's "
                       "name without extension, %%i, its file number, and %%%%)",
                       a->o->out, p[1] ? p[1] : ' ');
        }
        if (k < 0 || (size_t)k >= n - used)
            return ann_say(a, TW_ERR_USAGE, "-o %s: path too long", a->o->out);
        used += (size_t)k;
    }
    return 0;
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Decide every output path (per-file mode). */
int ann_plan_outputs(struct annot *a)
{
    const char *o = a->o->out;
    size_t ol = strlen(o);
    int pattern = strchr(o, '%') != NULL;
    int dir = !pattern && (is_dir(o) || (ol && o[ol - 1] == '/'));
    char buf[PATH_MAX];
    int rc;

    if (dir && !is_dir(o))
        return ann_say(a, TW_ERR_USAGE, "-o %s: no such directory", o);
    if (!pattern && !dir && a->nfiles > 1)
        return ann_say(a, TW_ERR_USAGE, "-o %s: capture %lld has %zu files: give a directory, a "
                   "pattern with %%f or %%i, or --merge for one output", o,
                   (long long)a->capture_id, a->nfiles);
    for (size_t i = 0; i < a->nfiles; i++) {
        struct infile *f = &a->files[i];
        if (pattern) {
            if ((rc = expand(a, o, f, buf, sizeof buf)))
                return rc;
        } else if (dir) {
            char stem[PATH_MAX];
            stem_of(f->name, stem, sizeof stem);
            if (snprintf(buf, sizeof buf, "%s%s%s.pcapng", o, o[ol - 1] == '/' ? "" : "/",
                         stem) >= (int)sizeof buf)
                return ann_say(a, TW_ERR_USAGE, "-o %s: path too long", o);
        } else {
            snprintf(buf, sizeof buf, "%s", o);
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(a->files[j].out, buf) == 0)
                return ann_say(a, TW_ERR_USAGE, "-o %s: files %u and %u would both be written to %s "
                           "(use a pattern with %%i)", o, a->files[j].index, f->index, buf);
        f->out = ann_strdup(buf);
    }
    return 0;
}

/* Refuse an output that is one of the sources, or any file twscope did not write (outfile.h). */
static int not_a_source(struct annot *a, const char *out)
{
    struct stat so, si;
    char why[300];
    if (stat(out, &so) != 0)
        return 0;
    if (S_ISDIR(so.st_mode))
        return ann_say(a, TW_ERR_USAGE, "-o: %s is a directory", out);
    for (size_t i = 0; i < a->nfiles; i++)
        if (stat(a->files[i].path, &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
            return ann_say(a, TW_ERR_USAGE, "-o: %s is the source file %u itself", out,
                       a->files[i].index);
    if (outfile_check(out, pcapng_head_is_ours, "a pcapng file twscope wrote", why, sizeof why))
        return ann_say(a, TW_ERR_IO, "-o %s: %s; left as it is, use another -o", out, why);
    return 0;
}

/* Create a temporary file next to out; *tmp gets its name. */
static int open_tmp(struct annot *a, const char *out, char **tmp, struct pcapng_writer **w)
{
    char err[1300];
    size_t n = strlen(out) + 32;
    char *t = malloc(n);
    mode_t um;
    int fd;
    if (!t)
        abort();
    snprintf(t, n, "%s.twscope-tmp-XXXXXX", out);
    fd = mkstemp(t);
    if (fd < 0) {
        int e = errno;
        free(t);
        return ann_say(a, TW_ERR_IO, "-o %s: cannot create it: %s", out, strerror(e));
    }
    um = umask(0);
    umask(um);
    if (fchmod(fd, 0666 & ~um) != 0) { /* mkstemp makes it 0600 */
        /* not fatal: the file is ours */
    }
    close(fd);
    if (pcapng_writer_open(t, w, err, sizeof err)) {
        unlink(t);
        free(t);
        return ann_say(a, TW_ERR_IO, "%s", err);
    }
    *tmp = t;
    return 0;
}

/* ---- the copy ----------------------------------------------------------------- */

struct src {
    gzFile gz;
    const struct infile *f;
    uint64_t off;                      /* uncompressed bytes consumed */
};

/* Read exactly n bytes: 1, 0 at a clean end (nothing read), -1 short or error. */
static int src_read(struct src *s, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        int r = gzread(s->gz, (uint8_t *)buf + got, (unsigned)(n - got > (1u << 30) ? 1u << 30
                                                                                  : n - got));
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    s->off += got;
    if (got == n)
        return 1;
    return got == 0 ? 0 : -1;
}

static int grow(struct annot *a, size_t n)
{
    uint8_t *b;
    if (n <= a->blkcap)
        return 0;
    b = realloc(a->blk, n);
    if (!b)
        return TW_ERR_NOMEM;
    a->blk = b;
    a->blkcap = n;
    return 0;
}

static uint32_t rd32s(const uint8_t *p, int swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

static uint16_t rd16s(const uint8_t *p, int swap)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return swap ? (uint16_t)((v >> 8) | (v << 8)) : v;
}

static void wr32s(uint8_t *p, uint32_t v, int swap)
{
    if (swap)
        v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
}

static void wr16s(uint8_t *p, uint16_t v, int swap)
{
    if (swap)
        v = (uint16_t)((v >> 8) | (v << 8));
    memcpy(p, &v, 2);
}

/* Gather the comments for (file, frame) from the cursor; returns how many. */
static unsigned take(struct annot *a, size_t *cur, uint32_t file, uint64_t frame,
                     const char **out, struct infile *f)
{
    unsigned n = 0;
    while (*cur < a->nanns && a->anns[*cur].file == file && a->anns[*cur].frame == frame) {
        if (n < ANNOTATE_MAX_COMMENTS)
            out[n++] = a->anns[*cur].text;
        else
            f->dropped++;
        (*cur)++;
    }
    return n;
}

/*
 * Make sure the output has a section to add the blocks of an input section
 * to: without --merge every input section starts its own (from its SHB shb,
 * or ours for a pcap: shb NULL); with --merge the inputs share one section
 * of ours, in host byte order. A pcapng section of the other byte order
 * cannot join it (its blocks would have to be re-encoded, option by option),
 * nor be a section of its own (libpcap cannot read a file whose sections
 * differ in byte order): with --merge it is an error. Returns 0 or an error.
 */
static int section_for(struct annot *a, struct pcapng_writer *w, int swapped, uint8_t *shb,
                       size_t shb_len, const struct infile *f)
{
    int rc;
    if (a->o->merge && swapped)
        return ann_say(a, TW_ERR_USAGE, "--merge: %s has a pcapng section in the other byte order "
                   "(%s-endian), which cannot join the merged output: annotate it without "
                   "--merge", f->path, __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? "big"
                                                                              : "little");
    if (a->o->merge && a->section)
        return 0;                      /* keep adding to the merged section */
    if (shb && !a->o->merge) {
        memset(shb + 16, 0xff, 8);     /* section length: not given any more */
        rc = pcapng_write_shb_marked(w, shb, shb_len); /* + a comment: a file of ours */
    } else {
        rc = pcapng_write_shb(w, a->o->merge ? "merged by twscope annotate" : NULL);
        swapped = 0;
    }
    if (rc)
        return ann_say(a, TW_ERR_IO, "%s", pcapng_writer_error(w));
    a->section = 1 + swapped;
    return 0;
}

/* Classic pcap: one section, one interface, one EPB per record. */
static int copy_pcap(struct annot *a, struct src *s, const uint8_t *hdr24, int swap, int nsec,
                     int kuznetzov, struct pcapng_writer *w, size_t *cur, struct infile *f)
{
    const char *cm[ANNOTATE_MAX_COMMENTS];
    struct pcapng_if itf = {.linktype = (int)(rd32s(hdr24 + 20, swap) & 0xffff),
                            .snaplen = rd32s(hdr24 + 16, swap),
                            .tsresol = nsec ? PCAPNG_TSRESOL_NSEC : PCAPNG_TSRESOL_USEC};
    uint8_t rh[24];
    size_t rhl = kuznetzov ? 24 : 16;
    uint64_t frame = 0;
    int r;

    uint32_t ifid;

    if ((r = section_for(a, w, 0, NULL, 0, f)))
        return r;
    if (pcapng_write_interface(w, &itf, &ifid))
        return ann_say(a, TW_ERR_IO, "%s", pcapng_writer_error(w));
    for (;;) {
        struct pcapng_epb e = {0};
        uint64_t at = s->off;
        uint32_t caplen;
        r = src_read(s, rh, rhl);
        if (r == 0)
            break;
        if (r < 0) {
            ann_say(a, 0, "warning: %s: truncated record header at offset %llu, after frame %llu: "
                "copied what came before", f->path, (unsigned long long)at,
                (unsigned long long)frame);
            break;
        }
        caplen = rd32s(rh + 8, swap);
        if (caplen > ANNOTATE_MAX_BLOCK) {
            ann_say(a, 0, "warning: %s: record of %u bytes at offset %llu, after frame %llu: "
                "copied what came before", f->path, caplen, (unsigned long long)at,
                (unsigned long long)frame);
            break;
        }
        if (grow(a, caplen))
            return ann_say(a, TW_ERR_NOMEM, "out of memory");
        if (caplen && src_read(s, a->blk, caplen) != 1) {
            ann_say(a, 0, "warning: %s: truncated record at offset %llu, after frame %llu: "
                "copied what came before", f->path, (unsigned long long)at,
                (unsigned long long)frame);
            break;
        }
        frame++;
        e.ifid = ifid;
        e.ts = (uint64_t)rd32s(rh, swap) * (nsec ? 1000000000ULL : 1000000ULL) +
               rd32s(rh + 4, swap);
        e.caplen = caplen;
        e.origlen = rd32s(rh + 12, swap);
        e.data = a->blk;
        e.comments = cm;
        e.ncomments = take(a, cur, f->index, frame, cm, f);
        if (pcapng_write_epb(w, &e))
            return ann_say(a, TW_ERR_IO, "%s", pcapng_writer_error(w));
        f->packets++;
        if (e.ncomments) {
            f->commented++;
            f->comments += e.ncomments;
        }
    }
    return 0;
}

/* Length of an option list without its opt_endofopt (and what follows it). */
static size_t opts_len(const uint8_t *p, size_t n, int swap)
{
    size_t at = 0;
    while (at + 4 <= n) {
        uint16_t code = rd16s(p + at, swap), len = rd16s(p + at + 2, swap);
        size_t step = 4 + (size_t)len + ((4 - (len & 3)) & 3);
        if (code == PCAPNG_OPT_ENDOFOPT || at + step > n)
            break;
        at += step;
    }
    return at;
}

/*
 * Rebuild packet block b (EPB, SPB or PB, len bytes, section order) as an
 * EPB with its options and the comments cm.
 */
static int rebuild(struct annot *a, struct pcapng_writer *w, const uint8_t *b, size_t len,
                   uint32_t type, int swap, uint32_t base, uint32_t snap0, const char **cm,
                   unsigned ncm, const struct infile *f, uint64_t at)
{
    struct pcapng_epb e = {.comments = cm, .ncomments = ncm};
    uint8_t extra[12];                 /* PB drops_count as epb_dropcount */
    size_t body = len - 12, dlen;
    if (type == PCAPNG_BT_EPB || type == PCAPNG_BT_PB) {
        if (body < 20)
            goto bad;
        if (type == PCAPNG_BT_EPB)
            e.ifid = rd32s(b + 8, swap);
        else
            e.ifid = rd16s(b + 8, swap);
        e.ts = (uint64_t)rd32s(b + 12, swap) << 32 | rd32s(b + 16, swap);
        e.caplen = rd32s(b + 20, swap);
        e.origlen = rd32s(b + 24, swap);
        dlen = (size_t)e.caplen + ((4 - (e.caplen & 3)) & 3);
        if (e.caplen > body - 20 || dlen > body - 20)
            goto bad;
        e.data = b + 28;
        e.opts = b + 28 + dlen;
        e.opts_len = opts_len(e.opts, body - 20 - dlen, swap);
        if (type == PCAPNG_BT_PB && rd16s(b + 10, swap) != 0xffff && e.opts_len == 0) {
            uint16_t code = 4, olen = 8;
            uint64_t drops = rd16s(b + 10, swap);
            if (swap) {
                code = (uint16_t)(code << 8);
                olen = (uint16_t)(olen << 8);
                drops = __builtin_bswap64(drops);
            }
            memcpy(extra, &code, 2);
            memcpy(extra + 2, &olen, 2);
            memcpy(extra + 4, &drops, 8);
            e.opts = extra;
            e.opts_len = 12;
        }
    } else {                           /* SPB: interface 0, no timestamp (libpcap gives 0) */
        if (body < 4)
            goto bad;
        e.origlen = rd32s(b + 8, swap);
        e.caplen = e.origlen;
        if (snap0 && e.caplen > snap0)
            e.caplen = snap0;
        if (e.caplen > body - 4)
            e.caplen = (uint32_t)(body - 4);
        e.data = b + 12;
    }
    e.ifid += base;
    if (pcapng_write_epb(w, &e))
        return ann_say(a, TW_ERR_IO, "%s", pcapng_writer_error(w));
    return 0;
bad:
    return ann_say(a, TW_ERR_FORMAT, "%s: malformed packet block at offset %llu", f->path,
               (unsigned long long)at);
}

/* pcapng: every block verbatim, commented packet blocks rebuilt as EPBs. */
static int copy_pcapng(struct annot *a, struct src *s, const uint8_t *first4,
                       struct pcapng_writer *w, size_t *cur, struct infile *f)
{
    const char *cm[ANNOTATE_MAX_COMMENTS];
    uint8_t hd[12];
    uint64_t frame = 0;
    uint32_t snap0 = 0;                /* snaplen of the section's interface 0 (SPB) */
    uint32_t base = 0;                 /* output id of the section's interface 0 */
    uint32_t nif = 0;                  /* interfaces of the input's section */
    int swap = 0, have_first = 1, r;

    for (;;) {
        uint64_t at = s->off - (have_first ? 4 : 0);
        uint32_t type, len;
        if (have_first) {
            memcpy(hd, first4, 4);
            r = src_read(s, hd + 4, 4);
            have_first = 0;
            if (r == 0)
                r = -1;
        } else {
            r = src_read(s, hd, 8);
        }
        if (r == 0)
            break;
        if (r < 0)
            goto trunc;
        memcpy(&type, hd, 4);
        if (type == PCAPNG_BT_SHB) {
            uint32_t bom;
            if (src_read(s, hd + 8, 4) != 1)
                goto trunc;
            memcpy(&bom, hd + 8, 4);
            if (bom == PCAPNG_BYTE_ORDER_MAGIC)
                swap = 0;
            else if (bom == __builtin_bswap32(PCAPNG_BYTE_ORDER_MAGIC))
                swap = 1;
            else
                return ann_say(a, TW_ERR_FORMAT, "%s: section header at offset %llu has a bad "
                           "byte-order magic", f->path, (unsigned long long)at);
        }
        type = rd32s(hd, swap);
        len = rd32s(hd + 4, swap);
        if (len < 12 || (len & 3) || len > ANNOTATE_MAX_BLOCK ||
            (type == PCAPNG_BT_SHB && len < 28)) {
            ann_say(a, 0, "warning: %s: block of length %u at offset %llu, after frame %llu: copied "
                "what came before", f->path, len, (unsigned long long)at,
                (unsigned long long)frame);
            break;
        }
        if (grow(a, len))
            return ann_say(a, TW_ERR_NOMEM, "out of memory");
        memcpy(a->blk, hd, type == PCAPNG_BT_SHB ? 12 : 8);
        {
            size_t have = type == PCAPNG_BT_SHB ? 12 : 8;
            if (src_read(s, a->blk + have, len - have) != 1)
                goto trunc;
        }
        if (rd32s(a->blk + len - 4, swap) != len)
            return ann_say(a, TW_ERR_FORMAT, "%s: block at offset %llu: trailing length %u is not "
                       "its length %u", f->path, (unsigned long long)at,
                       rd32s(a->blk + len - 4, swap), len);
        switch (type) {
        case PCAPNG_BT_SHB:
            if ((r = section_for(a, w, swap, a->blk, len, f)))
                return r;
            base = pcapng_writer_interfaces(w);
            snap0 = nif = 0;
            continue;
        case PCAPNG_BT_IDB:
            if (nif++ == 0 && len >= 20)
                snap0 = rd32s(a->blk + 12, swap);
            break;
        case PCAPNG_BT_EPB:
        case PCAPNG_BT_SPB:
        case PCAPNG_BT_PB: {
            unsigned n;
            frame++;
            f->packets++;
            n = take(a, cur, f->index, frame, cm, f);
            if (n || (type == PCAPNG_BT_SPB && base)) { /* an SPB means interface 0 */
                f->commented += n != 0;
                f->comments += n;
                if ((r = rebuild(a, w, a->blk, len, type, swap, base, snap0, cm, n, f, at)))
                    return r;
                continue;
            }
            if (base && type == PCAPNG_BT_EPB && len >= 12)
                wr32s(a->blk + 8, rd32s(a->blk + 8, swap) + base, swap);
            if (base && type == PCAPNG_BT_PB && len >= 12)
                wr16s(a->blk + 8, (uint16_t)(rd16s(a->blk + 8, swap) + base), swap);
            break;
        }
        case PCAPNG_BT_ISB:            /* statistics of an interface */
            if (base && len >= 16)
                wr32s(a->blk + 8, rd32s(a->blk + 8, swap) + base, swap);
            break;
        default:
            break;
        }
        if (pcapng_write_block(w, a->blk, len))
            return ann_say(a, TW_ERR_IO, "%s", pcapng_writer_error(w));
    }
    return 0;
trunc:
    ann_say(a, 0, "warning: %s: truncated block at offset %llu, after frame %llu: copied what came "
        "before", f->path, (unsigned long long)s->off, (unsigned long long)frame);
    return 0;
}

/* Copy file f into w, with its comments (cursor *cur at its first one). */
static int copy_file(struct annot *a, struct infile *f, struct pcapng_writer *w, size_t *cur)
{
    struct src s = {.f = f};
    uint8_t hdr[24];
    uint32_t m;
    int rc = 0;

    s.gz = gzopen(f->path, "rb");      /* transparent for a file that is not gzip */
    if (!s.gz)
        return ann_say(a, TW_ERR_IO, "%s: %s", f->path, strerror(errno ? errno : ENOMEM));
    gzbuffer(s.gz, 128 * 1024);
    if (src_read(&s, hdr, 4) != 1) {
        rc = ann_say(a, TW_ERR_FORMAT, "%s: not a pcap or pcapng file (too short)", f->path);
        goto out;
    }
    memcpy(&m, hdr, 4);
    m = __builtin_bswap32(m);          /* the first 4 bytes, big-endian */
    if (m == PCAPNG_BT_SHB) {
        rc = copy_pcapng(a, &s, hdr, w, cur, f);
    } else {
        int swap, nsec, kuz;
        switch (m) {
        case 0xd4c3b2a1: swap = 0; nsec = 0; kuz = 0; break; /* little-endian file */
        case 0xa1b2c3d4: swap = 1; nsec = 0; kuz = 0; break;
        case 0x4d3cb2a1: swap = 0; nsec = 1; kuz = 0; break;
        case 0xa1b23c4d: swap = 1; nsec = 1; kuz = 0; break;
        case 0x34cdb2a1: swap = 0; nsec = 0; kuz = 1; break;
        case 0xa1b2cd34: swap = 1; nsec = 0; kuz = 1; break;
        default:
            rc = ann_say(a, TW_ERR_FORMAT, "%s: not a pcap or pcapng file (magic 0x%08x)", f->path,
                     m);
            goto out;
        }
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        swap = !swap;
#endif
        if (src_read(&s, hdr + 4, 20) != 1) {
            rc = ann_say(a, TW_ERR_FORMAT, "%s: truncated pcap file header", f->path);
            goto out;
        }
        rc = copy_pcap(a, &s, hdr, swap, nsec, kuz, w, cur, f);
    }
    if (rc == 0 && *cur < a->nanns && a->anns[*cur].file == f->index)
        rc = ann_say(a, TW_ERR_FORMAT, "%s: has %llu frames, but the database comments on frame %llu",
                 f->path, (unsigned long long)f->packets,
                 (unsigned long long)a->anns[*cur].frame);
out:
    gzclose(s.gz);
    return rc;
}

static int finish_writer(struct annot *a, struct pcapng_writer *w)
{
    char err[1300];
    if (pcapng_writer_close(w, err, sizeof err))
        return ann_say(a, TW_ERR_IO, "%s", err);
    return 0;
}

int ann_write_outputs(struct annot *a)
{
    struct pcapng_writer *w = NULL;
    char *merged_tmp = NULL;
    size_t cur = 0;
    int rc = 0;

    if (a->o->merge) {
        if ((rc = not_a_source(a, a->o->out)) || (rc = open_tmp(a, a->o->out, &merged_tmp, &w)))
            return rc;
    } else {
        for (size_t i = 0; i < a->nfiles; i++)
            if ((rc = not_a_source(a, a->files[i].out)))
                return rc;
    }
    for (size_t i = 0; i < a->nfiles && rc == 0; i++) {
        struct infile *f = &a->files[i];
        while (cur < a->nanns && a->anns[cur].file < f->index)
            cur++;                     /* comments on files not selected (--file) */
        if (!a->o->merge && (rc = open_tmp(a, f->out, &f->tmp, &w)))
            break;
        rc = copy_file(a, f, w, &cur);
        if (!a->o->merge) {
            int rc2 = finish_writer(a, w);
            w = NULL;
            if (!rc)
                rc = rc2;
        }
    }
    if (a->o->merge) {
        int rc2 = finish_writer(a, w);
        if (!rc)
            rc = rc2;
    }
    /* all or nothing */
    if (rc == 0) {
        if (a->o->merge) {
            if (rename(merged_tmp, a->o->out) != 0)
                rc = ann_say(a, TW_ERR_IO, "%s: %s", a->o->out, strerror(errno));
        } else {
            for (size_t i = 0; i < a->nfiles && rc == 0; i++) {
                if (rename(a->files[i].tmp, a->files[i].out) != 0) {
                    rc = ann_say(a, TW_ERR_IO, "%s: %s", a->files[i].out, strerror(errno));
                    break;
                }
                free(a->files[i].tmp);
                a->files[i].tmp = NULL;
            }
        }
    }
    if (merged_tmp) {
        if (rc)
            unlink(merged_tmp);
        free(merged_tmp);
    }
    for (size_t i = 0; i < a->nfiles; i++)
        if (a->files[i].tmp) {
            unlink(a->files[i].tmp);
            free(a->files[i].tmp);
            a->files[i].tmp = NULL;
        }
    return rc;
}

void ann_summary(struct annot *a)
{
    uint64_t p = 0, c = 0, n = 0, d = 0;
    for (size_t i = 0; i < a->nfiles; i++) {
        struct infile *f = &a->files[i];
        p += f->packets;
        c += f->commented;
        n += f->comments;
        d += f->dropped;
        if (!a->o->merge && !a->o->quiet)
            fprintf(a->msg, "twscope: annotate: %s -> %s: %llu packets, %llu with comments "
                    "(%llu comments)\n", f->path, f->out, (unsigned long long)f->packets,
                    (unsigned long long)f->commented, (unsigned long long)f->comments);
    }
    if (a->o->merge && !a->o->quiet)
        fprintf(a->msg, "twscope: annotate: %zu files -> %s: %llu packets, %llu with comments "
                "(%llu comments)\n", a->nfiles, a->o->out, (unsigned long long)p,
                (unsigned long long)c, (unsigned long long)n);
    if (d)
        fprintf(a->msg, "twscope: annotate: warning: %llu comments left out (more than %d on "
                "one packet)\n", (unsigned long long)d, ANNOTATE_MAX_COMMENTS);
}
