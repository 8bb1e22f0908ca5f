/*
 * capture_file.c -- capture files: opening them (capture_open_files(): the
 * capture magic, gzip), reading them through libpcap, and merging the inputs
 * by timestamp (capture_next_direct(), the direct path, which hands a live
 * capture on to capture_live.c). With the reader thread, plain pcap files are
 * parsed by capture_map.c (pcapng ones by capture_pcapng.c) instead of
 * libpcap, under the same merge.
 *
 * Opening a file. We open() it ourselves (so a missing file or a directory
 * gets a plain one-line error naming it) and look at its first bytes:
 *   - 1f 8b: gzip. zlib reads it (gzdopen) and a glibc fopencookie() stream
 *     hands the inflated bytes to pcap_fopen_offline*(). The 4 bytes read to
 *     check the capture magic are replayed by the cookie before gzread().
 *   - otherwise a regular file is an ordinary stdio stream (fdopen).
 *   - stdin and other non-regular files (pipes, /dev/fd/N) always go through
 *     zlib: its "transparent" mode copies data that is not gzip, and we cannot
 *     peek at a pipe without consuming it.
 * The capture magic (pcap, nanosecond pcap, Kuznetzov pcap, pcapng) is checked
 * before libpcap sees the stream, so a text file is reported as "not a pcap or
 * pcapng file (unknown magic 0x...)" rather than libpcap's vaguer wording.
 * Every read asks for microsecond timestamps (PCAP_TSTAMP_PRECISION_MICRO):
 * nanosecond files are scaled by libpcap.
 *
 * Ownership chain while opening: fd -> gzFile -> cookie FILE -> pcap_t. Each
 * step takes over the previous resource; pcap_close() fcloses the stream and
 * the cookie's close callback gzcloses the gzFile (which closes the fd).
 *
 * Byte offsets. ftell() on the stream libpcap reads is where libpcap stands:
 * for a zlib stream the cookie has a tell-only seek callback returning the
 * bytes it delivered, from which glibc subtracts what is still buffered, so
 * the offset is into the uncompressed data. It is taken before every
 * pcap_next_ex() so that a read error can name where the failing record
 * starts. Cost: for plain files the stream is fseek()ed to 0 once, which makes
 * glibc cache the offset, so ftell() needs no lseek() per record; for cookies
 * it is one function call. (An unbuffered cookie stream would make glibc read
 * byte by byte through the callback: twenty times slower.) Progress uses ftell()
 * (plain) or gzoffset() (compressed bytes consumed, zlib's read-ahead
 * included).
 *
 * Merging. Each input holds at most one pending packet, pointing into that
 * handle's own buffer: it stays valid until the next pcap_next_ex() on the
 * same handle, and we only call that for the input whose packet was handed out
 * last. An input is closed as soon as it ends, so thousands of small files do
 * not keep their read buffers. A read error ends that input only: the error is
 * returned once, and a caller that wants to go on may call capture_next()
 * again to continue with the other inputs.
 *
 * Thread: capture_open_files() on the caller's; capture_next_direct() and
 * capture_progress_direct() on the reader thread once capture_start_reader()
 * started it, else on the caller's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <pcap/pcap.h>
#include <zlib.h>

#include "capture_int.h"

/* Local tunables (candidates for config.h). */
#define CAPTURE_FILE_BUFSIZE (256 * 1024)/* stdio buffer of plain capture files */
#define CAPTURE_GZ_BUFSIZE (128 * 1024)  /* zlib input buffer (gzbuffer) */
#define CAPTURE_COOKIE_BUFSIZE (64 * 1024)/* stdio buffer over the zlib stream */

/* ------------------------------------------------------------------------ */
/* Capture magic                                                             */

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Magics libpcap reads, as the first 4 file bytes taken big-endian. */
static int magic_is_capture(uint32_t m)
{
    switch (m) {
    case 0xa1b2c3d4: case 0xd4c3b2a1:   /* pcap, microseconds */
    case 0xa1b23c4d: case 0x4d3cb2a1:   /* pcap, nanoseconds */
    case 0xa1b2cd34: case 0x34cdb2a1:   /* Kuznetzov's patched pcap */
    case 0x0a0d0d0a:                    /* pcapng section header block */
        return 1;
    default:
        return 0;
    }
}

/* A hint for compressed formats we do not read ourselves, or "". */
static const char *magic_hint(const uint8_t *b, size_t n)
{
    if (n >= 4 && be32(b) == 0xfd377a58)
        return "; xz-compressed? decompress it first";
    if (n >= 4 && be32(b) == 0x28b52ffd)
        return "; zstd-compressed? decompress it first";
    if (n >= 3 && b[0] == 'B' && b[1] == 'Z' && b[2] == 'h')
        return "; bzip2-compressed? decompress it first";
    if (n >= 4 && be32(b) == 0x504b0304)
        return "; a zip archive? extract it first";
    return "";
}

/* 0 if b[0..n) starts a capture file, else TW_ERR_FORMAT with err set. */
static int check_magic(const char *name, const uint8_t *b, size_t n, int gz, char *err,
                       size_t errlen)
{
    const char *after = gz ? ", after gunzip" : "";

    if (n == 0) {
        set_err(err, errlen, "%s: not a pcap or pcapng file (empty file%s)", name, after);
        return TW_ERR_FORMAT;
    }
    if (n < 4) {
        set_err(err, errlen, "%s: not a pcap or pcapng file (only %zu bytes%s)", name, n,
                after);
        return TW_ERR_FORMAT;
    }
    if (!magic_is_capture(be32(b))) {
        set_err(err, errlen, "%s: not a pcap or pcapng file (unknown magic 0x%08x%s%s)", name,
                be32(b), after, magic_hint(b, n));
        return TW_ERR_FORMAT;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* zlib behind a FILE*                                                       */

static ssize_t gzc_read(void *cookie, char *buf, size_t size)
{
    struct gz_cookie *g = cookie;
    size_t n = 0;
    int r;

    while (g->pos < g->npre && n < size)
        buf[n++] = (char)g->pre[g->pos++];
    if (n < size) {
        r = gzread(g->gz, buf + n, (unsigned)(size - n > INT_MAX ? INT_MAX : size - n));
        if (r < 0 && n == 0) {
            errno = EIO;
            return -1;
        }
        if (r > 0)
            n += (size_t)r;
    }
    g->delivered += n;
    return (ssize_t)n;
}

/* Tell only: glibc's ftell() asks (0, SEEK_CUR) and subtracts its buffer. */
static int gzc_seek(void *cookie, off64_t *off, int whence)
{
    struct gz_cookie *g = cookie;

    if ((whence == SEEK_CUR && *off == 0) ||
        (whence == SEEK_SET && *off == (off64_t)g->delivered)) {
        *off = (off64_t)g->delivered;
        return 0;
    }
    errno = ESPIPE;
    return -1;
}

static int gzc_close(void *cookie)
{
    struct gz_cookie *g = cookie;

    gzclose(g->gz);     /* Z_BUF_ERROR after a truncated stream: already reported */
    free(g);
    return 0;
}

/* zlib's error on this stream, or NULL when there is none. */
static const char *gz_strerror(gzFile gz)
{
    int errnum = Z_OK;
    const char *msg = gzerror(gz, &errnum);
    const char *colon;

    if (errnum == Z_OK)
        return NULL;
    /* zlib prefixes its "path", which for gzdopen() is a useless "<fd:3>" */
    if (msg[0] == '<' && (colon = strstr(msg, ">: ")) != NULL)
        msg = colon + 3;
    return msg;
}

static const char *gzc_error(const struct gz_cookie *g)
{
    return gz_strerror(g->gz);
}

/* ------------------------------------------------------------------------ */
/* Opening one input file                                                    */

/*
 * Open in->name ("-" = stdin) into in->pcap. Returns 0 or TW_ERR_* with err
 * set; on error nothing stays open.
 */
static int input_open_file(struct capture_input *in, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    uint8_t magic[4];
    size_t nmagic = 0;
    int is_stdin = strcmp(in->name, "-") == 0;
    int fd = -1;
    gzFile gz = NULL;
    struct gz_cookie *gzc = NULL;
    FILE *fp = NULL;
    struct stat st;
    int use_gz;
    int rc = TW_ERR_IO;

    fd = is_stdin ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0) : open(in->name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, "%s: %s", in->name, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        set_err(err, errlen, "%s: %s", in->name, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        set_err(err, errlen, "%s: is a directory", in->name);
        goto out;
    }
    if (S_ISREG(st.st_mode))
        in->size = (uint64_t)st.st_size;

    if (is_stdin || !S_ISREG(st.st_mode)) {
        use_gz = 1;     /* transparent for plain data; cannot peek at a pipe */
    } else {
        ssize_t r = pread(fd, magic, sizeof magic, 0);

        if (r < 0) {
            set_err(err, errlen, "%s: %s", in->name, strerror(errno));
            goto out;
        }
        nmagic = (size_t)r;
        use_gz = nmagic >= 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    }

    if (!use_gz) {
        rc = check_magic(in->name, magic, nmagic, 0, err, errlen);
        if (rc != 0)
            goto out;
        rc = TW_ERR_IO;
        fp = fdopen(fd, "rb");
        if (fp == NULL) {
            set_err(err, errlen, "%s: %s", in->name, strerror(errno));
            goto out;
        }
        fd = -1;
        setvbuf(fp, NULL, _IOFBF, CAPTURE_FILE_BUFSIZE);
        fseek(fp, 0, SEEK_SET);     /* glibc then tracks the offset: ftell() without lseek() */
        in->fp = fp;
    } else {
        int r;

        gz = gzdopen(fd, "rb");
        if (gz == NULL) {
            set_err(err, errlen, "%s: cannot start zlib reader", in->name);
            rc = TW_ERR_NOMEM;
            goto out;
        }
        fd = -1;
        gzbuffer(gz, CAPTURE_GZ_BUFSIZE);
        r = gzread(gz, magic, sizeof magic);
        if (r < 0) {
            const char *zmsg = gz_strerror(gz);

            set_err(err, errlen, "%s: gzip: %s", in->name, zmsg ? zmsg : "read error");
            rc = TW_ERR_FORMAT;
            goto out;
        }
        nmagic = (size_t)r;
        rc = check_magic(in->name, magic, nmagic, !gzdirect(gz), err, errlen);
        if (rc != 0)
            goto out;
        rc = TW_ERR_NOMEM;
        gzc = calloc(1, sizeof *gzc);
        if (gzc == NULL) {
            set_err(err, errlen, "%s: out of memory", in->name);
            goto out;
        }
        gzc->gz = gz;
        memcpy(gzc->pre, magic, nmagic);
        gzc->npre = nmagic;
        fp = fopencookie(gzc, "rb", (cookie_io_functions_t){ .read = gzc_read,
                                                             .seek = gzc_seek,
                                                             .close = gzc_close });
        if (fp == NULL) {
            set_err(err, errlen, "%s: %s", in->name, strerror(errno));
            goto out;
        }
        gz = NULL;      /* the FILE owns the cookie, the cookie owns gz */
        in->gzc = gzc;
        gzc = NULL;
        setvbuf(fp, NULL, _IOFBF, CAPTURE_COOKIE_BUFSIZE);
        in->fp = fp;
    }
    /* one thread reads each stream: no stdio lock per fread()/ftell() */
    __fsetlocking(in->fp, FSETLOCKING_BYCALLER);

    in->pcap = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (in->pcap == NULL) {
        set_err(err, errlen, "%s: %s", in->name, ebuf);
        in->fp = NULL;
        in->gzc = NULL;
        rc = TW_ERR_FORMAT;
        goto out;
    }
    fp = NULL;      /* pcap_close() fcloses it */
    in->linktype = pcap_datalink(in->pcap);
    rc = 0;
out:
    if (fp != NULL)
        fclose(fp);
    free(gzc);
    if (gz != NULL)
        gzclose(gz);
    if (fd >= 0)
        close(fd);
    return rc;
}

/*
 * Bytes of the on-disk stream consumed so far: compressed bytes for gzip
 * (zlib's read-ahead included). A pipe cannot tell zlib its position, so there
 * we count the bytes handed to libpcap (uncompressed ones if the pipe carries
 * gzip); the total is unknown (0) for a pipe anyway.
 */
static uint64_t input_bytes_done(const struct capture_input *in)
{
    if (in->pcap == NULL)
        return in->done_bytes;
    if (in->map != NULL)
        return in->moff;
    if (in->gzc != NULL) {
        /* gzoffset() needs lseek(); on a pipe fall back to ftell() below */
        z_off_t off = gzoffset(in->gzc->gz);

        if (off >= 0)
            return (uint64_t)off;
    }
    if (in->fp != NULL) {
        long off = ftell(in->fp);
        return off > 0 ? (uint64_t)off : 0;
    }
    return 0;
}

/* End an input: free its handle now, keep what the accessors report. */
static void input_finish(struct capture_input *in)
{
    in->state = IN_DONE;
    if (in->pcap == NULL)
        return;
    in->done_bytes = in->size ? in->size : input_bytes_done(in);
    pcap_close(in->pcap);
    in->pcap = NULL;
    in->fp = NULL;
    in->gzc = NULL;
    if (in->have_prog) {
        pcap_freecode(&in->prog);
        in->have_prog = 0;
    }
}

/* Compile the filter for one input (its own link type). */
static int input_compile(struct capture_input *in, const char *bpf, int several,
                         bpf_u_int32 netmask, char *err, size_t errlen)
{
    if (pcap_compile(in->pcap, &in->prog, bpf, 1, netmask) != 0) {
        if (several) {
            const char *lt = pcap_datalink_val_to_name(in->linktype);
            set_err(err, errlen, "filter '%s': %s (input %s, link type %s)", bpf,
                    pcap_geterr(in->pcap), in->name, lt ? lt : "unknown");
        } else {
            set_err(err, errlen, "filter '%s': %s", bpf, pcap_geterr(in->pcap));
        }
        return TW_ERR_USAGE;
    }
    in->have_prog = 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Public: opening                                                           */

int capture_open_files(const char *const *paths, int npaths, const struct capture_opts *o,
                       struct capture **out, char *err, size_t errlen)
{
    const char *bpf = o != NULL && o->bpf != NULL && o->bpf[0] != '\0' ? o->bpf : NULL;
    struct capture *c = NULL;
    int nstdin = 0;
    int rc;

    *out = NULL;
    if (paths == NULL || npaths <= 0) {
        set_err(err, errlen, "capture: no input file");
        return TW_ERR_USAGE;
    }
    for (int i = 0; i < npaths; i++) {
        if (paths[i] == NULL || paths[i][0] == '\0') {
            set_err(err, errlen, "capture: empty input file name");
            return TW_ERR_USAGE;
        }
        if (strcmp(paths[i], "-") == 0 && ++nstdin > 1) {
            set_err(err, errlen, "-: standard input can be read only once");
            return TW_ERR_USAGE;
        }
    }

    c = capture_alloc((uint32_t)npaths);
    if (c == NULL) {
        set_err(err, errlen, "capture: out of memory");
        return TW_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < c->n; i++) {
        struct capture_input *in = &c->in[i];

        in->rec_off = -1;
        in->name = strdup(paths[i]);
        if (in->name == NULL) {
            set_err(err, errlen, "capture: out of memory");
            rc = TW_ERR_NOMEM;
            goto fail;
        }
        rc = input_open_file(in, err, errlen);
        if (rc != 0)
            goto fail;
        if (bpf != NULL) {
            rc = input_compile(in, bpf, c->n > 1, PCAP_NETMASK_UNKNOWN, err, errlen);
            if (rc != 0)
                goto fail;
        }
    }
    *out = c;
    return 0;
fail:
    capture_close(c);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Reading: the direct path                                                  */

/* Describe where the failing record of input in starts, into buf. */
static void where(const struct capture_input *in, char *buf, size_t len)
{
    const char *zmsg = in->gzc != NULL ? gzc_error(in->gzc) : NULL;
    int compressed = in->gzc != NULL && !gzdirect(in->gzc->gz);

    if (in->rec_off >= 0)
        snprintf(buf, len, "at %s offset %lld%s%s", compressed ? "uncompressed" : "byte",
                 (long long)in->rec_off, zmsg ? "; gzip: " : "", zmsg ? zmsg : "");
    else
        snprintf(buf, len, "after frame %llu%s%s", (unsigned long long)in->frame,
                 zmsg ? "; gzip: " : "", zmsg ? zmsg : "");
}

/*
 * Read the next packet of file input i that passes the filter into its
 * pending slot. Returns 1 (pending), 0 (input ended), -1 (capture_break()
 * seen; input untouched), or TW_ERR_FORMAT with err set (input ended).
 */
static int input_fill(struct capture *c, struct capture_input *in, char *err, size_t errlen)
{
    for (;;) {
        struct pcap_pkthdr *hdr;
        const u_char *data;
        char pos[160];
        int r;

        if (c->stop)
            return -1;
        if (in->map != NULL) {
            r = in->ng ? capture_pcapng_next(in, err, errlen) : capture_map_next(in, err, errlen);
            if (r < 0) {
                input_finish(in);
                return r;
            }
            if (r == 0) {
                input_finish(in);
                return 0;
            }
            hdr = in->hdr;
            data = in->data;
        } else {
            in->rec_off = (int64_t)ftell(in->fp);
            r = pcap_next_ex(in->pcap, &hdr, &data);
        }
        if (r == 1) {
            in->frame++;
            c->frames_read++;
            if (in->have_prog && pcap_offline_filter(&in->prog, hdr, data) == 0) {
                c->frames_filtered++;
                continue;
            }
            in->hdr = hdr;
            in->data = data;
            in->pend_ts = ts_usec(&hdr->ts);
            in->pend_frame = in->frame;
            in->state = IN_PENDING;
            return 1;
        }
        if (r != 1 && in->map == NULL && capture_input_shrank(in)) {
            /* libpcap saw an end or a cut record where the file used to go on */
            set_err(err, errlen, "%s: " SHRANK " (after frame %llu)", in->name,
                    (unsigned long long)in->frame);
            input_finish(in);
            return TW_ERR_FORMAT;
        }
        if (r == PCAP_ERROR_BREAK || r == 0) {
            const char *zmsg = in->gzc != NULL ? gzc_error(in->gzc) : NULL;

            if (zmsg != NULL) {
                /* zlib reports a cut stream as EOF; do not pass it off as the end. */
                set_err(err, errlen, "%s: gzip: %s (after frame %llu)", in->name, zmsg,
                        (unsigned long long)in->frame);
                input_finish(in);
                return TW_ERR_FORMAT;
            }
            input_finish(in);
            return 0;
        }
        where(in, pos, sizeof pos);
        set_err(err, errlen, "%s: %s (%s)", in->name, pcap_geterr(in->pcap), pos);
        input_finish(in);
        return TW_ERR_FORMAT;
    }
}

int capture_next_direct(struct capture *c, struct capture_pkt *p, char *err, size_t errlen)
{
    struct capture_input *best = NULL;
    uint32_t best_i = 0;

    if (c->stop)
        return 0;
    if (c->live)
        return capture_next_live(c, p, err, errlen);

    /* Only the input handed out last (or, at the start, every input) needs a read. */
    for (uint32_t i = 0; i < c->n; i++) {
        struct capture_input *in = &c->in[i];
        int r;

        if (in->state != IN_NEED)
            continue;
        r = input_fill(c, in, err, errlen);
        if (r == -1)
            return 0;
        if (r < 0) {
            c->err_file = (int)i;
            return r;
        }
    }
    for (uint32_t i = 0; i < c->n; i++) {
        struct capture_input *in = &c->in[i];

        /* strict <: on equal timestamps the lower file index wins */
        if (in->state == IN_PENDING && (best == NULL || in->pend_ts < best->pend_ts)) {
            best = in;
            best_i = i;
        }
    }
    if (best == NULL)
        return 0;
    fill_pkt(p, best, best_i);
    best->state = IN_NEED;      /* its buffer is reused by the next read */
    return 1;
}

void capture_progress_direct(const struct capture *c, uint64_t *done, uint64_t *total)
{
    uint64_t d = 0, t = 0;
    int unknown = c->live;

    for (uint32_t i = 0; i < c->n && !c->live; i++) {
        d += input_bytes_done(&c->in[i]);
        t += c->in[i].size;
        if (c->in[i].size == 0)
            unknown = 1;
    }
    if (done != NULL)
        *done = d;
    if (total != NULL)
        *total = unknown ? 0 : t;
}
