/*
 * capture_map.c -- plain classic pcap files mapped and parsed in place
 * (capture_map_try(), capture_map_next()), and the SIGBUS registry that
 * covers every access to a mapping from before its first byte is read until
 * it is unmapped (capture_map_release()). Both are explained below.
 *
 * Thread: capture_map_try() on the caller's, from capture_start_reader()
 * before the reader thread starts; capture_map_next() on the reader thread;
 * capture_map_faulted() and capture_input_shrank() on the reader thread and
 * on the consumer's (capture_next_ring()); the SIGBUS handler on whichever
 * thread touched a mapping; capture_map_release() from capture_close(), once
 * the reader thread is joined.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture_int.h"

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
 * that libpcap would byte-swap; anything else is read by libpcap. pcapng
 * files are mapped here too and parsed by capture_pcapng.c.
 */
#define MAP_CHUNK (2u << 20)            /* pages mapped ahead at once */
#define MAP_KEEP (2u << 20)             /* bytes kept mapped behind the analysis (the
                                           pages behind are given back: RSS, issue 15) */
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
atomic_uint capture_map_faults;  /* faults handled so far (a consumer's cue to look) */
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

int capture_map_faulted(const struct capture_input *in)
{
    return atomic_load_explicit(&map_slot[in->map_slot].faulted, memory_order_relaxed);
}

/*
 * 1 if the file is now shorter than when it was opened (or cannot be looked
 * at). A mapped input keeps an fd of its own: its stream is closed when the
 * reader is done with it, and the consumer looks again at the end.
 */
int capture_input_shrank(const struct capture_input *in)
{
    struct stat st;
    int fd = in->map != NULL ? in->map_fd : in->fp != NULL && in->gzc == NULL ? fileno(in->fp) : -1;
    if (in->size == 0 || fd < 0)
        return 0;
    return fstat(fd, &st) != 0 || (uint64_t)st.st_size < in->size;
}

/*
 * Map input in if it is a plain classic pcap file we parse the same as
 * libpcap, or a pcapng file capture_pcapng_setup() takes. TWSCOPE_NO_MAP=1
 * in the environment leaves every file to libpcap (the tests compare the two
 * ways of reading).
 */
void capture_map_try(struct capture_input *in)
{
    const char *nomap = getenv("TWSCOPE_NO_MAP");
    const uint8_t *m;
    uint32_t magic;
    int lt = in->linktype, ng;
    size_t start = 24;
    void *p;

    if (nomap != NULL && nomap[0] != '\0' && strcmp(nomap, "0") != 0)
        return;
    if (in->gzc != NULL || in->fp == NULL || in->size < 24 || in->frame != 0 ||
        in->size > SIZE_MAX / 2)
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
    memcpy(&magic, m, 4);       /* zeros if the file is now shorter: then read as pcap */
    in->map_shrunk = capture_map_faulted(in) || capture_input_shrank(in); /* before map is set */
    ng = magic == 0x0a0d0d0a;   /* the SHB type reads the same in both byte orders */
    if (!ng && lt != DLT_EN10MB && lt != DLT_RAW && lt != DLT_IPV4 && lt != DLT_IPV6 &&
        lt != DLT_NULL && lt != DLT_LOOP)
        goto refuse;
    in->map = m;                /* what capture_pcapng_setup() reads */
    in->map_len = (size_t)in->size;
    in->populated = 0;
    in->dropped = 0;
    atomic_init(&in->used_off, 0);
    if (ng) {
        /* a file that shrank is left to libpcap, which reports it too */
        if (in->map_shrunk || capture_pcapng_setup(in, &start) != 0)
            goto refuse;
    } else {
        in->swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
        in->nsec = magic == 0xa1b23c4d || magic == 0x4d3cb2a1;
        if (!in->map_shrunk &&
            ((magic != 0xa1b2c3d4 && magic != 0xa1b23c4d && !in->swapped) ||
             (rd32(m + 4, in->swapped) & 0xffff) != 2 || rd32(m + 4, in->swapped) >> 16 != 4 ||
             (rd32(m + 20, in->swapped) & 0xffff0000u) != 0 || pcap_snapshot(in->pcap) <= 0))
            goto refuse;
    }
    in->map_fd = fcntl(fileno(in->fp), F_DUPFD_CLOEXEC, 0);
    if (in->map_fd < 0)
        goto refuse;
    madvise(p, (size_t)in->size, MADV_SEQUENTIAL);
    in->used_base = m;
    in->moff = start;
    in->snapshot = (uint32_t)pcap_snapshot(in->pcap);
    return;
refuse:
    capture_pcapng_free(in);
    map_unregister(in->map_slot);
    munmap(p, (size_t)in->size);
    in->map = NULL;
    in->populated = 0;
}

/* Unmap input in (capture_close()): out of the registry before the munmap(). */
void capture_map_release(struct capture_input *in)
{
    map_unregister(in->map_slot);
    munmap((void *)(uintptr_t)in->map, in->map_len);
    close(in->map_fd);
    capture_pcapng_free(in);
}

/*
 * Make [0, end) mapped; 0, or -1 if the file shrank under us. What the
 * analysis is done with is given back once per chunk, not per record: the
 * analysis thread writes used_off for every packet, and reading it here as
 * often would bounce its cache line between the two cores.
 */
int capture_map_populate(struct capture_input *in, size_t end)
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
        if (upto > in->dropped + (size_t)MAP_CHUNK) {
            madvise((void *)(uintptr_t)(in->map + in->dropped), upto - in->dropped, MADV_DONTNEED);
            in->dropped = upto;
        }
    }
    return 0;
}

/* capture_map_next() failed: the error names the file and the record's offset. */
int capture_map_error(struct capture_input *in, char *err, size_t errlen, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    set_err(err, errlen, "%s: %s (at byte offset %lld)", in->name, what, (long long)in->rec_off);
    return TW_ERR_FORMAT;
}

/*
 * Next record of a mapped input, as pcap_next_ex() would return it: 1, 0 at
 * the end, or error. Any error, the end, and a record header of zeros (what
 * the bytes after a new end read as) are checked against the file's size, so
 * that a file that shrank says so.
 */
int capture_map_next(struct capture_input *in, char *err, size_t errlen)
{
    size_t off = in->moff, left = in->map_len - off;
    uint32_t caplen, len, sec, frac, full;

    in->rec_off = (int64_t)off;
    if (in->map_shrunk || capture_map_faulted(in))
        return capture_map_error(in, err, errlen, SHRANK);
    if (left == 0)
        return capture_input_shrank(in) ? capture_map_error(in, err, errlen, SHRANK) : 0;
    if (capture_map_populate(in, off + (left < 16 ? left : 16)) != 0 ||
        (left < 16 && capture_input_shrank(in)))
        return capture_map_error(in, err, errlen, SHRANK);
    if (left < 16)
        return capture_map_error(in, err, errlen,
                         "truncated dump file; tried to read 16 header bytes, only got %zu", left);
    sec = rd32(in->map + off, in->swapped);
    frac = rd32(in->map + off + 4, in->swapped);
    caplen = rd32(in->map + off + 8, in->swapped);
    len = rd32(in->map + off + 12, in->swapped);
    if (capture_map_faulted(in) || ((sec | frac | caplen | len) == 0 && capture_input_shrank(in)))
        return capture_map_error(in, err, errlen, SHRANK);
    if (caplen > MAP_MAX_CAPLEN && capture_input_shrank(in))
        return capture_map_error(in, err, errlen, SHRANK);
    if (caplen > MAP_MAX_CAPLEN) {
        if (caplen > in->snapshot)
            return capture_map_error(in, err, errlen,
                             "invalid packet capture length %u, bigger than snaplen of %u", caplen,
                             in->snapshot);
        return capture_map_error(in, err, errlen,
                         "invalid packet capture length %u, bigger than maximum of %u", caplen,
                         MAP_MAX_CAPLEN);
    }
    full = caplen;
    if (caplen > in->snapshot)
        caplen = in->snapshot; /* libpcap hands out the snapshot length, skips the rest */
    if (left - 16 < full && capture_input_shrank(in))
        return capture_map_error(in, err, errlen, SHRANK);
    if (left - 16 < full)
        return capture_map_error(in, err, errlen,
                         "truncated dump file; tried to read %u captured bytes, only got %zu", full,
                         left - 16);
    if (capture_map_populate(in, off + 16 + full) != 0)
        return capture_map_error(in, err, errlen, SHRANK);
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
