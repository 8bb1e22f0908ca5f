/*
 * capture.c -- packet sources: capture files merged by timestamp, or one live
 * interface. The contract is in capture.h; this banner explains the choices.
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
 * Reading on a thread of its own (capture_start_reader(), what `analyze`
 * does): the direct path above runs on a reader thread that hands packets to
 * the caller through a ring; plain pcap files are then mapped and parsed in
 * place instead of through libpcap. Both are described where they are coded
 * ("Mapped classic pcap files", "Reader thread").
 *
 * Live capture. pcap_create + options + pcap_activate. Immediate mode is left
 * OFF: with TPACKET_V3 the kernel hands over whole blocks, which costs far less
 * CPU and drops fewer packets under load; the read timeout (200 ms default)
 * bounds the latency, which is all an analyzer working on packet time needs.
 * On Linux, libpcap 1.10's pcap_next_ex() never returns 0 on an idle link: it
 * blocks until a packet comes (TPACKET_V3 polls forever; immediate mode loops
 * over its poll timeouts). So the handle is put in non-blocking mode and we
 * poll() its selectable fd ourselves with the read timeout: an idle timeout
 * makes capture_next() return 2, letting the caller check signals, print
 * progress, etc., and capture_break() takes effect within one timeout (at
 * once if the signal interrupts poll()). Where there is no selectable fd the
 * handle stays blocking and relies on pcap_breakloop().
 */
#include "twscope/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <pcap/pcap.h>
#include <zlib.h>

#include "twscope/ring.h"

/* Local tunables (candidates for config.h). */
#define CAPTURE_DEFAULT_SNAPLEN 262144   /* live snaplen when opts say 0 */
#define CAPTURE_DEFAULT_TIMEOUT_MS 200   /* live read timeout when opts say 0 */
#define CAPTURE_FILE_BUFSIZE (256 * 1024)/* stdio buffer of plain capture files */
#define CAPTURE_GZ_BUFSIZE (128 * 1024)  /* zlib input buffer (gzbuffer) */
#define CAPTURE_COOKIE_BUFSIZE (64 * 1024)/* stdio buffer over the zlib stream */

enum input_state {
    IN_NEED,                    /* no pending packet: read one on the next call */
    IN_PENDING,                 /* hdr/data hold the next packet of this input */
    IN_DONE,                    /* ended (EOF or read error); handle closed */
};

/* fopencookie() state of a zlib-read stream. Owned (and freed) by its FILE. */
struct gz_cookie {
    gzFile gz;                  /* closed by the cookie's close callback */
    uint8_t pre[4];             /* bytes read to check the magic, replayed first */
    size_t npre;                /* valid bytes in pre */
    size_t pos;                 /* bytes of pre already replayed */
    uint64_t delivered;         /* bytes handed to stdio so far (what ftell() builds on) */
};

struct capture_input {
    char *name;                 /* path as given (or interface name); owned */
    pcap_t *pcap;               /* NULL once the input has ended */
    FILE *fp;                   /* the stream libpcap reads (pcap owns it), or NULL */
    struct gz_cookie *gzc;      /* zlib state behind fp when it is a cookie, or NULL */
    struct bpf_program prog;    /* compiled filter (files only) */
    int have_prog;              /* prog must be applied and freed */
    int linktype;               /* pcap_datalink() of this input */
    enum input_state state;
    struct pcap_pkthdr *hdr;    /* pending packet header (libpcap's buffer) */
    const u_char *data;         /* pending packet bytes (libpcap's buffer) */
    tw_time pend_ts;            /* timestamp of the pending packet */
    uint64_t pend_frame;        /* frame number of the pending packet */
    uint64_t frame;             /* records read from this input so far */
    uint64_t size;              /* on-disk bytes, 0 = unknown (pipe) */
    uint64_t done_bytes;        /* bytes consumed, frozen when the input ends */
    int64_t rec_off;            /* offset of the record being read, -1 = unknown */
    /* mapped classic pcap file (see capture_map_next()), map == NULL otherwise */
    const uint8_t *map;         /* the whole file, read-only; unmapped at capture_close() */
    int map_slot;               /* its SIGBUS registry slot */
    int map_shrunk;             /* found shorter than at open: capture_map_next() fails at once */
    int map_fd;                 /* a dup of the file's fd for fstat(), while mapped */
    size_t map_len;
    size_t moff;                /* offset of the next record */
    size_t populated;           /* bytes from 0 whose pages are known to be mapped */
    size_t dropped;             /* bytes from 0 whose pages were given back (MADV_DONTNEED) */
    int swapped, nsec;          /* byte order, nanosecond timestamps */
    uint32_t snapshot;          /* snapshot length as libpcap adjusted it */
    struct pcap_pkthdr mhdr;    /* header of the pending packet */
    /* the analysis thread's, on a cache line of their own (the reader writes the rest) */
    _Alignas(64) atomic_size_t used_off; /* offset of the packet the analysis handles */
    const uint8_t *used_base;   /* = map */
};

struct capture {
    struct capture_input *in;   /* inputs, in command-line order */
    uint32_t n;                 /* number of inputs */
    int live;                   /* in[0] is a live interface */
    int live_fd;                /* live: fd we poll() (handle non-blocking), or -1 */
    int timeout_ms;             /* live: poll() timeout */
    atomic_int stop;            /* set by capture_break() (a signal handler: lock-free) */
    struct reader *rd;          /* reader thread (capture_start_reader), or NULL */
    /* written per record by whoever reads (the reader thread): a cache line of
     * their own, or every packet would cost the analysis thread a miss */
    _Alignas(64) uint64_t frames_read; /* records read, all inputs, filtered ones included */
    uint64_t frames_filtered;   /* records the BPF filter rejected */
};

/* ------------------------------------------------------------------------ */
/* Error text                                                                */

/*
 * Format into err and force it onto one line (libpcap and zlib messages may
 * carry newlines or trailing blanks). err may be NULL.
 */
__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    size_t len;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    for (char *s = err; *s; s++) {
        if (*s == '\n' || *s == '\r' || *s == '\t')
            *s = ' ';
    }
    len = strlen(err);
    while (len > 0 && err[len - 1] == ' ')
        err[--len] = '\0';
}

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

static struct capture *capture_alloc(uint32_t n)
{
    struct capture *c = aligned_alloc(64, sizeof *c); /* see frames_read */

    if (c == NULL)
        return NULL;
    memset(c, 0, sizeof *c);
    /* 64-byte aligned: struct capture_input keeps a cache line apart (used_off) */
    c->in = aligned_alloc(64, (size_t)n * sizeof *c->in);
    if (c->in != NULL)
        memset(c->in, 0, n * sizeof *c->in);
    if (c->in == NULL) {
        free(c);
        return NULL;
    }
    c->n = n;
    c->live_fd = -1;
    return c;
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

/* 1 if libpcap lists an interface of that name (pseudo-devices included). */
static int iface_exists(const char *name)
{
    char ebuf[PCAP_ERRBUF_SIZE];
    pcap_if_t *devs = NULL;
    int found = 0;

    if (pcap_findalldevs(&devs, ebuf) != 0)
        return 1;       /* cannot tell: do not claim it is missing */
    for (pcap_if_t *d = devs; d != NULL && !found; d = d->next)
        found = strcmp(d->name, name) == 0;
    pcap_freealldevs(devs);
    return found;
}

/* One-line message for a failed pcap_activate(). */
static void activate_error(pcap_t *p, const char *iface, int status, char *err, size_t errlen)
{
    const char *detail = pcap_geterr(p);

    if (detail == NULL || detail[0] == '\0')
        detail = pcap_statustostr(status);
    switch (status) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
        set_err(err, errlen, "capture: %s: No such device exists", iface);
        break;
    case PCAP_ERROR_PERM_DENIED:
        /* Unprivileged, libpcap fails on the socket before it looks at the name. */
        if (!iface_exists(iface))
            set_err(err, errlen, "capture: %s: No such device exists", iface);
        else
            set_err(err, errlen,
                    "capture: %s: permission denied (run as root or grant "
                    "CAP_NET_RAW,CAP_NET_ADMIN)", iface);
        break;
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        set_err(err, errlen,
                "capture: %s: permission denied for promiscuous mode (run as root, "
                "or capture without promiscuous mode)", iface);
        break;
    case PCAP_ERROR_IFACE_NOT_UP:
        set_err(err, errlen, "capture: %s: interface is down", iface);
        break;
    default:
        set_err(err, errlen, "capture: %s: %s", iface, detail);
        break;
    }
}

int capture_open_live(const char *iface, const struct capture_opts *o, struct capture **out,
                      char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    const char *bpf = o != NULL && o->bpf != NULL && o->bpf[0] != '\0' ? o->bpf : NULL;
    int snaplen = o != NULL && o->snaplen > 0 ? o->snaplen : CAPTURE_DEFAULT_SNAPLEN;
    int timeout = o != NULL && o->timeout_ms > 0 ? o->timeout_ms : CAPTURE_DEFAULT_TIMEOUT_MS;
    int buffer_mb = o != NULL ? o->buffer_mb : 0;
    struct capture *c = NULL;
    struct capture_input *in;
    pcap_t *p;
    int status;
    int rc;

    *out = NULL;
    if (iface == NULL || iface[0] == '\0') {
        set_err(err, errlen, "capture: no interface name");
        return TW_ERR_USAGE;
    }
    if (buffer_mb < 0 || buffer_mb > INT_MAX / (1024 * 1024)) {
        set_err(err, errlen, "capture: %s: buffer size %d MB out of range (0..%d)", iface,
                buffer_mb, INT_MAX / (1024 * 1024));
        return TW_ERR_USAGE;
    }
    c = capture_alloc(1);
    if (c == NULL) {
        set_err(err, errlen, "capture: out of memory");
        return TW_ERR_NOMEM;
    }
    c->live = 1;
    in = &c->in[0];
    in->rec_off = -1;
    in->name = strdup(iface);
    if (in->name == NULL) {
        set_err(err, errlen, "capture: out of memory");
        rc = TW_ERR_NOMEM;
        goto fail;
    }

    p = pcap_create(iface, ebuf);
    if (p == NULL) {
        set_err(err, errlen, "capture: %s: %s", iface, ebuf);
        rc = TW_ERR_IO;
        goto fail;
    }
    in->pcap = p;
    pcap_set_snaplen(p, snaplen);
    pcap_set_promisc(p, o != NULL && o->promisc);
    pcap_set_timeout(p, timeout);
    if (buffer_mb > 0)
        pcap_set_buffer_size(p, buffer_mb * 1024 * 1024);
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_MICRO);  /* the default anyway */
    status = pcap_activate(p);
    if (status < 0) {
        activate_error(p, iface, status, err, errlen);
        rc = TW_ERR_IO;
        goto fail;
    }
    /* status > 0 is a warning (e.g. promiscuous mode unsupported): go on. */
    in->linktype = pcap_datalink(p);
    c->timeout_ms = timeout;
    c->live_fd = pcap_get_selectable_fd(p);
    if (c->live_fd >= 0 && pcap_setnonblock(p, 1, ebuf) != 0)
        c->live_fd = -1;        /* blocking reads; pcap_breakloop() still wakes them */

    if (bpf != NULL) {
        bpf_u_int32 net = 0, mask = 0;
        struct bpf_program prog;

        if (pcap_lookupnet(iface, &net, &mask, ebuf) != 0)
            mask = PCAP_NETMASK_UNKNOWN;
        if (pcap_compile(p, &prog, bpf, 1, mask) != 0) {
            set_err(err, errlen, "filter '%s': %s", bpf, pcap_geterr(p));
            rc = TW_ERR_USAGE;
            goto fail;
        }
        status = pcap_setfilter(p, &prog);
        pcap_freecode(&prog);
        if (status != 0) {
            set_err(err, errlen, "capture: %s: cannot set filter '%s': %s", iface, bpf,
                    pcap_geterr(p));
            rc = TW_ERR_IO;
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
/* Public: reading                                                           */

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
 * A record's time in microseconds. A forged timestamp (a pcapng one near 2^64
 * units, a negative pcap one) is clamped instead of overflowing: packet time
 * stays monotonic enough for the engine and nothing is undefined.
 */
static tw_time ts_usec(const struct timeval *tv)
{
    /* a quarter of the range: sums and differences of two times cannot overflow */
    const int64_t max_sec = INT64_MAX / TW_USEC / 4;
    int64_t sec = (int64_t)tv->tv_sec, usec = (int64_t)tv->tv_usec;
    if (sec > max_sec)
        return max_sec * TW_USEC;
    if (sec < -max_sec)
        return -max_sec * TW_USEC;
    if (usec < 0 || usec >= TW_USEC)
        usec = 0;
    return sec * TW_USEC + usec;
}

/*
 * Mapped classic pcap files. With the reader thread, a plain (not gzip)
 * pcap file is mapped and its records are parsed where they lie: packets go
 * to the analysis as pointers into the mapping, so no byte is copied (libpcap
 * copies each record twice, stdio's buffer then its own; the ring would copy
 * it a third time). The reader thread maps the pages ahead of the records in
 * MAP_CHUNK steps with MADV_POPULATE_READ, which also reports a file that
 * shrank (EFAULT) instead of a SIGBUS later, and gives back the pages the
 * analysis has passed (MADV_DONTNEED; the page cache keeps them), so the
 * process does not grow with the file. The checks and error texts are
 * libpcap's (sf-pcap.c), so a damaged file is reported the same way either
 * way. Only the common formats are mapped: version 2.4, microsecond or
 * nanosecond magic in either byte order, link types without pseudo-headers
 * that libpcap would byte-swap; anything else is read by libpcap.
 */
#define MAP_CHUNK (2u << 20)            /* pages mapped ahead at once */
#define MAP_KEEP (16u << 20)            /* bytes kept mapped behind the analysis */
#define MAP_MAX_CAPLEN 262144           /* libpcap's MAXIMUM_SNAPLEN for these link types */
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

static uint32_t rd32(const uint8_t *b, int swapped)
{
    uint32_t v;
    memcpy(&v, b, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

/*
 * A mapped file that shrinks while it is read (a rotation truncating it): its
 * pages past the new end raise SIGBUS when touched, and the bytes of the last
 * page after the new end read as zeros. The reader thread's
 * MADV_POPULATE_READ reports pages past the end as EFAULT, but any access may
 * fault: the reader's own header reads (the first ones while mapping, before
 * the thread starts), the prepare hook, and the analysis thread on a frame
 * whose pages were mapped before the file shrank. So a mapping is registered
 * before its first byte is read, and the handler covers it until it is
 * unmapped: it puts a zero page at the faulting address, so the instruction
 * completes, and marks the slot; the reader checks its slot after each record
 * (capture_map_next(), so a record read from a zero page is not handed out),
 * the consumer checks every slot of its capture whenever the fault counter
 * moved, after each ring_next() (capture_next_ring(): a fault before the
 * packet was published is seen with it), and either returns the error naming
 * the file. A zero record header, a cut record and the end of the file are
 * checked against the file's size (fstat), so a truncation inside the last
 * page is "shrank" too, not a clean end. What no check can see: the one record
 * that spans the new end is handed out with its tail read as zeros, then the
 * error follows. A SIGBUS elsewhere gets the previous disposition. The
 * registry is a fixed array of ranges read by the handler (async-signal-safe:
 * atomics and mmap only); beyond MAP_SLOTS mapped files, files are read by
 * libpcap.
 */
#define MAP_SLOTS 256

static struct {
    atomic_uintptr_t start;     /* 0 = free */
    atomic_size_t len;
    atomic_int faulted;         /* the handler put a zero page in this range */
} map_slot[MAP_SLOTS];
static atomic_uint capture_map_faults;  /* faults handled so far (a consumer's cue to look) */
static struct sigaction map_old_bus;
static pthread_once_t map_once = PTHREAD_ONCE_INIT;
static uintptr_t map_pagesize;  /* sysconf() is not async-signal-safe: read at install */

static void map_sigbus(int sig, siginfo_t *si, void *uctx)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    for (int i = 0; i < MAP_SLOTS; i++) {
        uintptr_t st = atomic_load(&map_slot[i].start);
        if (st && a >= st && a - st < atomic_load(&map_slot[i].len)) {
            void *at = (void *)(a & ~(map_pagesize - 1));
            if (mmap(at, (size_t)map_pagesize, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0) != MAP_FAILED) {
                atomic_store(&map_slot[i].faulted, 1);
                atomic_fetch_add(&capture_map_faults, 1);
                return;
            }
            break;
        }
    }
    /* not ours (or no way out): what would have happened without us */
    if (map_old_bus.sa_flags & SA_SIGINFO && map_old_bus.sa_sigaction) {
        map_old_bus.sa_sigaction(sig, si, uctx);
        return;
    }
    if (map_old_bus.sa_handler != SIG_DFL && map_old_bus.sa_handler != SIG_IGN &&
        map_old_bus.sa_handler) {
        map_old_bus.sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void map_install(void)
{
    struct sigaction sa;
    map_pagesize = (uintptr_t)sysconf(_SC_PAGESIZE);
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = map_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &map_old_bus);
}

/* A registry slot for [p, p + len), or -1 when all are taken. */
static int map_register(const void *p, size_t len)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    int slot = -1;
    pthread_once(&map_once, map_install);
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAP_SLOTS && slot < 0; i++) {
        if (atomic_load(&map_slot[i].start) == 0) {
            atomic_store(&map_slot[i].faulted, 0);
            atomic_store(&map_slot[i].len, len);          /* before start: the handler */
            atomic_store(&map_slot[i].start, (uintptr_t)p); /* reads start, then len */
            slot = i;
        }
    }
    pthread_mutex_unlock(&mu);
    return slot;
}

/* Before the munmap(): the range may be mapped again by anyone right after. */
static void map_unregister(int slot)
{
    if (slot >= 0)
        atomic_store(&map_slot[slot].start, 0);
}

static int capture_map_faulted(const struct capture_input *in)
{
    return atomic_load_explicit(&map_slot[in->map_slot].faulted, memory_order_relaxed);
}

/*
 * 1 if the file is now shorter than when it was opened (or cannot be looked
 * at). A mapped input keeps an fd of its own: its stream is closed when the
 * reader is done with it, and the consumer looks again at the end.
 */
static int capture_input_shrank(const struct capture_input *in)
{
    struct stat st;
    int fd = in->map != NULL ? in->map_fd : in->fp != NULL && in->gzc == NULL ? fileno(in->fp) : -1;
    if (in->size == 0 || fd < 0)
        return 0;
    return fstat(fd, &st) != 0 || (uint64_t)st.st_size < in->size;
}

/* Map input in if it is a plain classic pcap file we parse the same as libpcap. */
static void capture_map_try(struct capture_input *in)
{
    const uint8_t *m;
    uint32_t magic;
    int lt = in->linktype;
    void *p;

    if (in->gzc != NULL || in->fp == NULL || in->size < 24 || in->frame != 0 ||
        in->size > SIZE_MAX / 2)
        return;
    if (lt != DLT_EN10MB && lt != DLT_RAW && lt != DLT_IPV4 && lt != DLT_IPV6 &&
        lt != DLT_NULL && lt != DLT_LOOP)
        return;
    p = mmap(NULL, (size_t)in->size, PROT_READ, MAP_PRIVATE, fileno(in->fp), 0);
    if (p == MAP_FAILED)
        return;
    /* covered by the SIGBUS handler before its first byte is read: the file
     * may have shrunk since it was opened (while we waited for the database) */
    in->map_slot = map_register(p, (size_t)in->size);
    if (in->map_slot < 0) {
        munmap(p, (size_t)in->size);
        return;
    }
    m = p;
    memcpy(&magic, m, 4);
    in->swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
    in->nsec = magic == 0xa1b23c4d || magic == 0x4d3cb2a1;
    in->map_shrunk = capture_map_faulted(in) || capture_input_shrank(in);
    if (!in->map_shrunk &&
        ((magic != 0xa1b2c3d4 && magic != 0xa1b23c4d && !in->swapped) ||
         (rd32(m + 4, in->swapped) & 0xffff) != 2 || rd32(m + 4, in->swapped) >> 16 != 4 ||
         (rd32(m + 20, in->swapped) & 0xffff0000u) != 0 || pcap_snapshot(in->pcap) <= 0)) {
        map_unregister(in->map_slot);
        munmap(p, (size_t)in->size);
        return;
    }
    in->map_fd = fcntl(fileno(in->fp), F_DUPFD_CLOEXEC, 0);
    if (in->map_fd < 0) {
        map_unregister(in->map_slot);
        munmap(p, (size_t)in->size);
        return;
    }
    madvise(p, (size_t)in->size, MADV_SEQUENTIAL);
    in->map = m;
    in->used_base = m;
    in->map_len = (size_t)in->size;
    in->moff = 24;
    in->populated = 0;
    in->dropped = 0;
    atomic_init(&in->used_off, 0);
    in->snapshot = (uint32_t)pcap_snapshot(in->pcap);
}

/* Unmap input in (capture_close()): out of the registry before the munmap(). */
static void capture_map_release(struct capture_input *in)
{
    map_unregister(in->map_slot);
    munmap((void *)(uintptr_t)in->map, in->map_len);
    close(in->map_fd);
}

/*
 * Make [0, end) mapped; 0, or -1 if the file shrank under us. What the
 * analysis is done with is given back once per chunk, not per record: the
 * analysis thread writes used_off for every packet, and reading it here as
 * often would bounce its cache line between the two cores.
 */
static int map_populate(struct capture_input *in, size_t end)
{
    while (in->populated < end) {
        size_t n = in->map_len - in->populated < MAP_CHUNK ? in->map_len - in->populated : MAP_CHUNK;
        size_t used, upto;
        if (madvise((void *)(uintptr_t)(in->map + in->populated), n, MADV_POPULATE_READ) != 0) {
            if (errno == EINVAL || errno == ENOSYS) {
                in->populated = in->map_len; /* older kernel: pages fault in on use */
                return 0;
            }
            return -1;
        }
        in->populated += n;
        used = atomic_load_explicit(&in->used_off, memory_order_relaxed);
        upto = used > MAP_KEEP ? (used - MAP_KEEP) & ~(size_t)(MAP_CHUNK - 1) : 0;
        if (upto > in->dropped + 4 * (size_t)MAP_CHUNK) {
            madvise((void *)(uintptr_t)(in->map + in->dropped), upto - in->dropped, MADV_DONTNEED);
            in->dropped = upto;
        }
    }
    return 0;
}

/* capture_map_next() failed: the error names the file and the record's offset. */
static int map_error(struct capture_input *in, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int map_error(struct capture_input *in, char *err, size_t errlen, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    set_err(err, errlen, "%s: %s (at byte offset %lld)", in->name, what, (long long)in->rec_off);
    return TW_ERR_FORMAT;
}

#define SHRANK "the file shrank while being read"

/*
 * Next record of a mapped input, as pcap_next_ex() would return it: 1, 0 at
 * the end, or error. Any error, the end, and a record header of zeros (what
 * the bytes after a new end read as) are checked against the file's size, so
 * that a file that shrank says so.
 */
static int capture_map_next(struct capture_input *in, char *err, size_t errlen)
{
    size_t off = in->moff, left = in->map_len - off;
    uint32_t caplen, len, sec, frac, full;

    in->rec_off = (int64_t)off;
    if (in->map_shrunk || capture_map_faulted(in))
        return map_error(in, err, errlen, SHRANK);
    if (left == 0)
        return capture_input_shrank(in) ? map_error(in, err, errlen, SHRANK) : 0;
    if (map_populate(in, off + (left < 16 ? left : 16)) != 0 ||
        (left < 16 && capture_input_shrank(in)))
        return map_error(in, err, errlen, SHRANK);
    if (left < 16)
        return map_error(in, err, errlen,
                         "truncated dump file; tried to read 16 header bytes, only got %zu", left);
    sec = rd32(in->map + off, in->swapped);
    frac = rd32(in->map + off + 4, in->swapped);
    caplen = rd32(in->map + off + 8, in->swapped);
    len = rd32(in->map + off + 12, in->swapped);
    if (capture_map_faulted(in) || ((sec | frac | caplen | len) == 0 && capture_input_shrank(in)))
        return map_error(in, err, errlen, SHRANK);
    if (caplen > MAP_MAX_CAPLEN && capture_input_shrank(in))
        return map_error(in, err, errlen, SHRANK);
    if (caplen > MAP_MAX_CAPLEN) {
        if (caplen > in->snapshot)
            return map_error(in, err, errlen,
                             "invalid packet capture length %u, bigger than snaplen of %u", caplen,
                             in->snapshot);
        return map_error(in, err, errlen,
                         "invalid packet capture length %u, bigger than maximum of %u", caplen,
                         MAP_MAX_CAPLEN);
    }
    full = caplen;
    if (caplen > in->snapshot)
        caplen = in->snapshot; /* libpcap hands out the snapshot length, skips the rest */
    if (left - 16 < full && capture_input_shrank(in))
        return map_error(in, err, errlen, SHRANK);
    if (left - 16 < full)
        return map_error(in, err, errlen,
                         "truncated dump file; tried to read %u captured bytes, only got %zu", full,
                         left - 16);
    if (map_populate(in, off + 16 + full) != 0)
        return map_error(in, err, errlen, SHRANK);
    in->mhdr.ts.tv_sec = (time_t)(int32_t)sec;
    in->mhdr.ts.tv_usec = (suseconds_t)(in->nsec ? frac / 1000 : frac);
    in->mhdr.caplen = caplen;
    in->mhdr.len = len;
    in->hdr = &in->mhdr;
    in->data = in->map + off + 16;
    in->moff = off + 16 + full;
    /* the next record's header (and the packet headers after it): a cache
     * miss on first touch, fetched while this packet is decoded */
    __builtin_prefetch(in->map + in->moff);
    __builtin_prefetch(in->map + in->moff + 64);
    return 1;
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
            r = capture_map_next(in, err, errlen);
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

static void fill_pkt(struct capture_pkt *p, const struct capture_input *in, uint32_t i)
{
    p->ts = in->pend_ts;
    p->data = in->data;
    p->caplen = in->hdr->caplen;
    p->wirelen = in->hdr->len;
    p->frame = in->pend_frame;
    p->file = i;
    p->linktype = in->linktype;
    p->prep = NULL;
}

static int capture_next_live(struct capture *c, struct capture_pkt *p, char *err, size_t errlen)
{
    struct capture_input *in = &c->in[0];
    struct pcap_pkthdr *hdr;
    const u_char *data;
    struct pollfd pfd;
    int r;

    for (;;) {
        if (c->stop)
            return 0;
        r = pcap_next_ex(in->pcap, &hdr, &data);
        if (r == 1) {
            in->frame++;
            c->frames_read++;
            in->hdr = hdr;
            in->data = data;
            in->pend_ts = ts_usec(&hdr->ts);
            in->pend_frame = in->frame;
            fill_pkt(p, in, 0);
            return 1;
        }
        if (r == PCAP_ERROR_BREAK)
            return 0;
        if (r != 0) {
            set_err(err, errlen, "capture: %s: %s", in->name, pcap_geterr(in->pcap));
            return TW_ERR_IO;
        }
        if (c->live_fd < 0)
            return c->stop ? 0 : 2;
        pfd.fd = c->live_fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        r = poll(&pfd, 1, c->timeout_ms);
        if (r == 0)
            return c->stop ? 0 : 2;
        if (r < 0 && errno != EINTR) {
            set_err(err, errlen, "capture: %s: poll: %s", in->name, strerror(errno));
            return TW_ERR_IO;
        }
        /* readable, an error condition for libpcap to report, or a signal */
    }
}

static int capture_next_direct(struct capture *c, struct capture_pkt *p, char *err, size_t errlen)
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
        if (r < 0)
            return r;
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


/* ------------------------------------------------------------------------ */
/* Reader thread                                                             */
/*
 * capture_start_reader() moves the reading of files (libpcap's record
 * parsing, the kernel's copy into its buffer, zlib) to a thread of its own,
 * which copies each record into a message ring (ring.h) of
 * CAPTURE_RING_BYTES; capture_next() then hands out packets from the ring,
 * in place. The analysis thread no longer pays for reading, and the order,
 * frame numbers, errors (with their offsets) and end of the packets are
 * exactly those of the direct path, which the thread runs unchanged
 * (capture_next_direct()). A packet's bytes stay valid until the next
 * capture_next(), as in the direct path: the ring releases a message when the
 * next is asked.
 */
static void capture_progress_direct(const struct capture *c, uint64_t *done, uint64_t *total);

#define CAPTURE_RING_BYTES (8u << 20)    /* >= 4 * the largest record (262144 + header) */
#define CAPTURE_REF_RING_BYTES (1u << 20) /* the same when every input is mapped (RK_REF only) */
#define CAPTURE_RING_WAKE (128u << 10)   /* bytes ready before a sleeping consumer is woken */

enum rkind { RK_PKT = 1, RK_REF, RK_END, RK_ERR };

struct rentry {
    uint32_t kind;              /* enum rkind */
    int32_t rc;                 /* RK_ERR: the TW_ERR_* */
    uint32_t caplen, wirelen, file;
    int32_t linktype;
    tw_time ts;
    uint64_t frame;
    const uint8_t *ref;         /* RK_REF: the frame in its input's mapping */
    /* then the prepare hook's bytes (RK_PKT, RK_REF), then for RK_PKT the frame
     * (ref points to it); RK_ERR: the error text */
};

struct reader {
    struct capture *c;
    capture_prepare_fn prep;    /* hook run on each packet, or NULL */
    void *prep_ctx;
    size_t prep_size;           /* bytes it writes, 8-aligned */
    pthread_t thread;
    struct ring *ring;
    /* the consumer's, written per packet: a cache line of their own */
    _Alignas(64) int ended;     /* RK_END seen */
    uint64_t last_frame;        /* frame number handed out last */
    unsigned faults_seen;       /* capture_map_faults when the inputs' slots were last looked at */
    /* what the accessors report while the thread runs (updated by it) */
    _Alignas(64) atomic_uint_least64_t frames_read, frames_filtered, bytes_done, bytes_total;
};

static void reader_snapshot(struct reader *r)
{
    uint64_t done = 0, total = 0;
    capture_progress_direct(r->c, &done, &total);
    atomic_store(&r->frames_read, r->c->frames_read);
    atomic_store(&r->frames_filtered, r->c->frames_filtered);
    atomic_store(&r->bytes_done, done);
    atomic_store(&r->bytes_total, total);
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct capture *c = r->c;
    char err[512];
    uint64_t n = 0;

    pthread_setname_np(pthread_self(), "twscope-read");
    for (;;) {
        struct capture_pkt p;
        struct rentry *e;
        size_t tlen;
        int rc;

        err[0] = '\0';
        rc = capture_next_direct(c, &p, err, sizeof err);
        if (rc == 1) {
            int mapped = c->in[p.file].map != NULL;
            /* entry, then the prepared bytes, then the frame (not mapped) */
            e = ring_reserve(r->ring, sizeof(*e) + r->prep_size + (mapped ? 0 : p.caplen));
            if (!e)
                break;
            e->kind = mapped ? RK_REF : RK_PKT;
            e->ref = mapped ? p.data : (const uint8_t *)(e + 1) + r->prep_size;
            e->ts = p.ts;
            e->caplen = p.caplen;
            e->wirelen = p.wirelen;
            e->frame = p.frame;
            e->file = p.file;
            e->linktype = p.linktype;
            if (!mapped)
                memcpy((void *)(uintptr_t)e->ref, p.data, p.caplen);
            if (r->prep) {
                p.data = e->ref; /* what the consumer will see */
                r->prep(r->prep_ctx, &p, e + 1);
            }
            if ((++n & 1023) == 0)
                reader_snapshot(r);
            ring_commit(r->ring, 0);
            continue;
        }
        /* the end, or an error (the other inputs go on after it, as in the direct path) */
        reader_snapshot(r);
        tlen = rc < 0 ? strlen(err) + 1 : 0;
        e = ring_reserve(r->ring, sizeof(*e) + tlen);
        if (!e)
            break;
        e->kind = rc < 0 ? RK_ERR : RK_END;
        e->rc = rc;
        memcpy(e + 1, err, tlen);
        ring_commit(r->ring, 1);
        if (rc >= 0)
            break;
    }
    ring_close(r->ring);
    return NULL;
}

int capture_start_reader(struct capture *c)
{
    return capture_start_reader_prep(c, NULL, NULL, 0);
}

int capture_start_reader_prep(struct capture *c, capture_prepare_fn fn, void *ctx, size_t size)
{
    struct reader *r;
    int all_mapped = 1;
    if (c->live || c->rd)
        return 0;
    r = aligned_alloc(64, sizeof(*r)); /* its cache-line groups */
    if (!r)
        return TW_ERR_NOMEM;
    memset(r, 0, sizeof(*r));
    r->c = c;
    r->prep = fn;
    r->prep_ctx = ctx;
    r->prep_size = fn ? (size + 7) & ~(size_t)7 : 0;
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->in[i].state == IN_NEED)
            capture_map_try(&c->in[i]);
        all_mapped &= c->in[i].map != NULL;
    }
    /* references to mapped packets are small: a smaller ring keeps the reader
     * (and the pages it maps) about CAPTURE_REF_RING_BYTES / 64 packets ahead */
    r->ring = ring_create(all_mapped ? CAPTURE_REF_RING_BYTES : CAPTURE_RING_BYTES,
                          CAPTURE_RING_WAKE);
    if (!r->ring) {
        free(r);
        return TW_ERR_NOMEM;
    }
    reader_snapshot(r);
    if (pthread_create(&r->thread, NULL, reader_main, r)) {
        ring_destroy(r->ring);
        free(r);
        return TW_ERR_NOMEM;
    }
    c->rd = r;
    return 0;
}

static void capture_reader_stop(struct capture *c)
{
    struct reader *r = c->rd;
    if (!r)
        return;
    c->stop = 1;                /* capture_next_direct() gives up at its next record */
    ring_quit(r->ring);         /* and a full ring lets it go */
    pthread_join(r->thread, NULL);
    ring_destroy(r->ring);
    free(r);
    c->rd = NULL;
}

static int capture_next_ring(struct capture *c, struct capture_pkt *p, char *err, size_t errlen)
{
    struct reader *r = c->rd;
    const struct rentry *e;
    unsigned faults;
    size_t len;

    if (c->stop || r->ended)
        return 0;
    e = ring_next(r->ring, &len);
    /* after ring_next(): a fault on the reader thread before it published e
     * is seen with e; one of ours (on the packet before) is seen anyway */
    faults = atomic_load_explicit(&capture_map_faults, memory_order_relaxed);
    if (faults != r->faults_seen) {
        r->faults_seen = faults;
        for (uint32_t i = 0; i < c->n; i++) {
            if (c->in[i].map != NULL && capture_map_faulted(&c->in[i])) {
                r->ended = 1;
                set_err(err, errlen, "%s: " SHRANK " (at frame %llu)", c->in[i].name,
                        (unsigned long long)r->last_frame);
                return TW_ERR_FORMAT;
            }
        }
    }
    if (!e || e->kind == RK_END) {
        r->ended = 1;
        /* bytes past a new end inside its last page read as zeros, no fault:
         * if a file shrank after the reader's own last look, say so now */
        for (uint32_t i = 0; i < c->n; i++) {
            if (c->in[i].map != NULL && capture_input_shrank(&c->in[i])) {
                set_err(err, errlen, "%s: " SHRANK " (at frame %llu)", c->in[i].name,
                        (unsigned long long)r->last_frame);
                return TW_ERR_FORMAT;
            }
        }
        return 0;
    }
    if (e->kind == RK_ERR) {
        set_err(err, errlen, "%s", (const char *)(e + 1));
        return e->rc;
    }
    p->ts = e->ts;
    p->prep = r->prep ? (void *)(uintptr_t)(e + 1) : NULL;
    if (e->kind == RK_REF) {
        struct capture_input *in = &c->in[e->file];
        p->data = e->ref;
        atomic_store_explicit(&in->used_off, (size_t)(e->ref - in->used_base),
                              memory_order_relaxed);
    } else {
        p->data = e->ref;
    }
    p->caplen = e->caplen;
    p->wirelen = e->wirelen;
    p->frame = e->frame;
    p->file = e->file;
    p->linktype = e->linktype;
    r->last_frame = e->frame;
    return 1;
}

int capture_next(struct capture *c, struct capture_pkt *p, char *err, size_t errlen)
{
    return c->rd ? capture_next_ring(c, p, err, errlen) : capture_next_direct(c, p, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* Public: accessors                                                         */

int capture_linktype(const struct capture *c, uint32_t i)
{
    return i < c->n ? c->in[i].linktype : -1;
}

uint32_t capture_count(const struct capture *c)
{
    return c->n;
}

uint64_t capture_frames_read(const struct capture *c)
{
    return c->rd ? atomic_load(&c->rd->frames_read) : c->frames_read;
}

uint64_t capture_frames_filtered(const struct capture *c)
{
    return c->rd ? atomic_load(&c->rd->frames_filtered) : c->frames_filtered;
}

static void capture_progress_direct(const struct capture *c, uint64_t *done, uint64_t *total)
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

void capture_progress(const struct capture *c, uint64_t *done, uint64_t *total)
{
    if (c->rd == NULL) {
        capture_progress_direct(c, done, total);
        return;
    }
    if (done != NULL)
        *done = atomic_load(&c->rd->bytes_done);
    if (total != NULL)
        *total = atomic_load(&c->rd->bytes_total);
}

void capture_stats(const struct capture *c, int64_t *recv, int64_t *drop)
{
    struct pcap_stat ps;
    int64_t r = -1, d = -1;

    if (c->live && c->in[0].pcap != NULL && pcap_stats(c->in[0].pcap, &ps) == 0) {
        r = (int64_t)ps.ps_recv;
        d = (int64_t)ps.ps_drop + (int64_t)ps.ps_ifdrop;
    }
    if (recv != NULL)
        *recv = r;
    if (drop != NULL)
        *drop = d;
}

void capture_break(struct capture *c)
{
    c->stop = 1;
    if (c->live && c->in[0].pcap != NULL)
        pcap_breakloop(c->in[0].pcap);  /* wakes a blocking read (no selectable fd) */
}

void capture_close(struct capture *c)
{
    if (c == NULL)
        return;
    capture_reader_stop(c);
    for (uint32_t i = 0; i < c->n; i++) {
        struct capture_input *in = &c->in[i];

        if (in->pcap != NULL)
            pcap_close(in->pcap);
        if (in->have_prog)
            pcap_freecode(&in->prog);
        if (in->map != NULL)
            capture_map_release(in);
        free(in->name);
    }
    free(c->in);
    free(c);
}

int capture_list_interfaces(FILE *out, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_if_t *devs = NULL;
    int rc = 0;

    if (pcap_findalldevs(&devs, ebuf) != 0) {
        set_err(err, errlen, "capture: cannot list interfaces: %s", ebuf);
        return TW_ERR_IO;
    }
    if (devs == NULL) {
        set_err(err, errlen,
                "capture: no interfaces available (run as root or grant "
                "CAP_NET_RAW,CAP_NET_ADMIN)");
        return TW_ERR_IO;
    }
    for (pcap_if_t *d = devs; d != NULL; d = d->next) {
        char flags[64];

        snprintf(flags, sizeof flags, "%s%s%s%s", d->flags & PCAP_IF_UP ? "up" : "down",
                 d->flags & PCAP_IF_RUNNING ? ",running" : "",
                 d->flags & PCAP_IF_LOOPBACK ? ",loopback" : "",
                 d->flags & PCAP_IF_WIRELESS ? ",wireless" : "");
        if (d->description != NULL && d->description[0] != '\0')
            fprintf(out, "%-16s %-24s %s\n", d->name, flags, d->description);
        else
            fprintf(out, "%-16s %s\n", d->name, flags);
    }
    pcap_freealldevs(devs);
    if (fflush(out) != 0 || ferror(out)) {
        set_err(err, errlen, "capture: cannot write the interface list: %s", strerror(errno));
        rc = TW_ERR_IO;
    }
    return rc;
}
