/*
 * test_capture.c -- capture module: files written here byte by byte (pcap,
 * pcapng, gzip, truncated, not-a-capture), read back through capture_*.
 * Live capture is only tested for its error on a missing interface (the rest
 * needs privileges and real interfaces).
 */
#include "twscope/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>
#include <zlib.h>

#include "test.h"
#include "../src/capture_int.h" /* test_pcapng_shrinks: is the file mapped? */

#define LT_ETHERNET 1           /* LINKTYPE_ values as stored in files */
#define LT_RAW 101
#define LT_LINUX_SLL 113
#define LT_USER0 147

static char tmpdir[64];
static char err[512];
static int use_reader;          /* second pass: every capture read by the reader thread */

/* capture_open_files(), then in the second pass capture_start_reader(). */
static int open_files(const char *const *paths, int n, const struct capture_opts *o,
                      struct capture **c, char *e, size_t elen)
{
    int rc = capture_open_files(paths, n, o, c, e, elen);
    if (rc == 0 && use_reader && capture_start_reader(*c) != 0) {
        capture_close(*c);
        *c = NULL;
        return TW_ERR_NOMEM;
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Building blocks                                                           */

static void put16le(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

static void put32le(uint8_t *b, uint32_t v)
{
    put16le(b, (uint16_t)v);
    put16le(b + 2, (uint16_t)(v >> 16));
}

static void put16be(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static void tpath(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

/*
 * An IPv4 packet (proto 6 = TCP, 17 = UDP) with the given ports and payload
 * length, preceded by an Ethernet header when eth is set. The last byte is
 * `mark` so a test can tell frames apart. Returns the frame length.
 */
static size_t build_ip(uint8_t *b, int eth, uint8_t proto, uint16_t sport, uint16_t dport,
                       size_t payload, uint8_t mark)
{
    size_t l4 = proto == 6 ? 20 : 8;
    size_t off = 0;
    size_t iplen = 20 + l4 + payload;

    memset(b, 0, (eth ? 14 : 0) + iplen);
    if (eth) {
        memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
        put16be(b + 12, 0x0800);
        off = 14;
    }
    b[off] = 0x45;
    put16be(b + off + 2, (uint16_t)iplen);
    put16be(b + off + 6, 0x4000);           /* DF, fragment offset 0 */
    b[off + 8] = 64;
    b[off + 9] = proto;
    memcpy(b + off + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    off += 20;
    put16be(b + off, sport);
    put16be(b + off + 2, dport);
    if (proto == 6) {
        b[off + 12] = 5 << 4;
        b[off + 13] = 0x10;                 /* ACK */
    } else {
        put16be(b + off + 4, (uint16_t)(8 + payload));
    }
    off += l4 + payload;
    b[off - 1] = mark;
    return off;
}

struct rec {
    uint32_t sec, usec;
    const uint8_t *data;
    uint32_t caplen, len;
};

/* A classic little-endian microsecond pcap image of the records. */
static size_t pcap_image(uint8_t *img, uint32_t linktype, const struct rec *r, int n)
{
    size_t off = 24;

    put32le(img, 0xa1b2c3d4);
    put16le(img + 4, 2);
    put16le(img + 6, 4);
    put32le(img + 8, 0);
    put32le(img + 12, 0);
    put32le(img + 16, 65535);
    put32le(img + 20, linktype);
    for (int i = 0; i < n; i++) {
        put32le(img + off, r[i].sec);
        put32le(img + off + 4, r[i].usec);
        put32le(img + off + 8, r[i].caplen);
        put32le(img + off + 12, r[i].len);
        memcpy(img + off + 16, r[i].data, r[i].caplen);
        off += 16 + r[i].caplen;
    }
    return off;
}

static int write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL)
        return -1;
    if (len > 0 && fwrite(buf, 1, len, f) != len) {
        fclose(f);
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int write_gz(const char *path, const void *buf, size_t len)
{
    gzFile gz = gzopen(path, "wb");

    if (gz == NULL)
        return -1;
    if (len > 0 && gzwrite(gz, buf, (unsigned)len) != (int)len) {
        gzclose(gz);
        return -1;
    }
    return gzclose(gz) == Z_OK ? 0 : -1;
}

static long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* What a test remembers of each packet returned. */
struct got {
    tw_time ts;
    uint32_t caplen, wirelen, file;
    uint64_t frame;
    int linktype;
    uint8_t last;               /* last captured byte (the frame's mark) */
};

/*
 * Read until the end or an error; returns the last capture_next() result
 * (0 at a clean end) and the packets in g[0..*n).
 */
static int read_all(struct capture *c, struct got *g, int max, int *n)
{
    struct capture_pkt p;
    int r;

    *n = 0;
    while ((r = capture_next(c, &p, err, sizeof err)) == 1) {
        if (*n < max) {
            g[*n].ts = p.ts;
            g[*n].caplen = p.caplen;
            g[*n].wirelen = p.wirelen;
            g[*n].file = p.file;
            g[*n].frame = p.frame;
            g[*n].linktype = p.linktype;
            g[*n].last = p.caplen ? p.data[p.caplen - 1] : 0;
        }
        (*n)++;
    }
    return r;
}

static int open1(const char *path, const char *bpf, struct capture **c)
{
    const char *paths[1] = { path };
    struct capture_opts o = { .bpf = bpf };

    err[0] = '\0';
    return open_files(paths, 1, &o, c, err, sizeof err);
}

static int one_line(const char *s)
{
    return s[0] != '\0' && strchr(s, '\n') == NULL;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The three-frame Ethernet file most tests use. */
static uint8_t f1[128], f2[128], f3[128];
static struct rec std_recs[3];

static void std_frames(void)
{
    size_t l1 = build_ip(f1, 1, 6, 1234, 80, 10, 0xa1);
    size_t l2 = build_ip(f2, 1, 17, 5353, 53, 4, 0xa2);
    size_t l3 = build_ip(f3, 1, 6, 80, 1234, 30, 0xa3);

    std_recs[0] = (struct rec){ 1000, 1, f1, (uint32_t)l1, (uint32_t)l1 };
    std_recs[1] = (struct rec){ 1000, 999999, f2, (uint32_t)l2, (uint32_t)l2 };
    /* snaplen-cut frame: caplen < wire length */
    std_recs[2] = (struct rec){ 1001, 0, f3, 40, (uint32_t)l3 };
}

/* The expectations for std_recs read back from file index `file`. */
static int check_std(const struct got *g, int n, uint32_t file)
{
    FAIL_UNLESS(n == 3);
    for (int i = 0; i < 3; i++) {
        FAIL_UNLESS(g[i].frame == (uint64_t)i + 1);
        FAIL_UNLESS(g[i].file == file);
        FAIL_UNLESS(g[i].linktype == DLT_EN10MB);
        FAIL_UNLESS(g[i].ts == (tw_time)std_recs[i].sec * TW_USEC + std_recs[i].usec);
        FAIL_UNLESS(g[i].caplen == std_recs[i].caplen);
        FAIL_UNLESS(g[i].wirelen == std_recs[i].len);
        FAIL_UNLESS(g[i].last == std_recs[i].data[std_recs[i].caplen - 1]);
    }
    FAIL_UNLESS(g[2].caplen == 40 && g[2].wirelen == 14 + 20 + 20 + 30);
    PASS;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */

static int test_single_file(void)
{
    static uint8_t img[4096];
    char path[256];
    struct capture *c = NULL;
    struct capture_pkt p;
    struct got g[8];
    uint64_t done, total;
    int64_t recv, drop;
    int n;
    size_t len = pcap_image(img, LT_ETHERNET, std_recs, 3);

    tpath(path, sizeof path, "single.pcap");
    FAIL_IF(write_file(path, img, len) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == 0 && c != NULL);
    FAIL_UNLESS(capture_count(c) == 1);
    FAIL_UNLESS(capture_linktype(c, 0) == DLT_EN10MB);
    FAIL_UNLESS(capture_linktype(c, 1) == -1);
    capture_progress(c, &done, &total);
    FAIL_UNLESS(total == len && done <= total);
    capture_stats(c, &recv, &drop);
    FAIL_UNLESS(recv == -1 && drop == -1);

    FAIL_UNLESS(read_all(c, g, 8, &n) == 0);
    FAIL_IF(check_std(g, n, 0));
    FAIL_UNLESS(capture_next(c, &p, err, sizeof err) == 0);    /* stays at the end */
    FAIL_UNLESS(capture_frames_read(c) == 3 && capture_frames_filtered(c) == 0);
    capture_progress(c, &done, &total);
    FAIL_UNLESS(done == len && total == len);
    capture_close(c);
    PASS;
}

static int test_header_only(void)
{
    static uint8_t img[64];
    char path[256];
    struct capture *c = NULL;
    struct got g[2];
    int n;
    size_t len = pcap_image(img, LT_ETHERNET, NULL, 0);

    tpath(path, sizeof path, "header-only.pcap");
    FAIL_IF(write_file(path, img, len) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == 0);
    FAIL_UNLESS(read_all(c, g, 2, &n) == 0 && n == 0);
    capture_close(c);
    PASS;
}

/* Three files: a (1,3,5 us), b (2,3,4,6 us), c (3 us): tie at 3 -> a, b, c. */
static int test_merge(void)
{
    static uint8_t img[4096], fr[8][128];
    static const uint32_t ts_a[] = { 1, 3, 5 }, ts_b[] = { 2, 3, 4, 6 }, ts_c[] = { 3 };
    static const struct { uint32_t file, frame, us; } want[] = {
        { 0, 1, 1 }, { 1, 1, 2 }, { 0, 2, 3 }, { 1, 2, 3 }, { 2, 1, 3 },
        { 1, 3, 4 }, { 0, 3, 5 }, { 1, 4, 6 },
    };
    const uint32_t *ts[3] = { ts_a, ts_b, ts_c };
    const int cnt[3] = { 3, 4, 1 };
    char path[3][256];
    const char *paths[3] = { path[0], path[1], path[2] };
    struct capture *c = NULL;
    struct got g[16];
    int n;

    for (int f = 0; f < 3; f++) {
        struct rec r[4];

        for (int i = 0; i < cnt[f]; i++) {
            size_t l = build_ip(fr[f * 3 + i], 1, 6, 1000, 2000, 8,
                                (uint8_t)(f << 4 | (i + 1)));
            r[i] = (struct rec){ 50, ts[f][i], fr[f * 3 + i], (uint32_t)l, (uint32_t)l };
        }
        snprintf(path[f], sizeof path[f], "%s/merge-%c.pcap", tmpdir, 'a' + f);
        FAIL_IF(write_file(path[f], img, pcap_image(img, LT_ETHERNET, r, cnt[f])) != 0);
    }
    FAIL_UNLESS(open_files(paths, 3, NULL, &c, err, sizeof err) == 0);
    FAIL_UNLESS(capture_count(c) == 3);
    FAIL_UNLESS(read_all(c, g, 16, &n) == 0);
    FAIL_UNLESS(n == 8);
    for (int i = 0; i < n; i++) {
        FAIL_UNLESS(g[i].file == want[i].file);
        FAIL_UNLESS(g[i].frame == want[i].frame);
        FAIL_UNLESS(g[i].ts == 50 * TW_USEC + want[i].us);
        /* the bytes are those of that frame: pending buffers stayed valid */
        FAIL_UNLESS(g[i].last == (uint8_t)(want[i].file << 4 | want[i].frame));
    }
    FAIL_UNLESS(capture_frames_read(c) == 8);
    capture_close(c);
    PASS;
}

static int test_gzip(void)
{
    static uint8_t img[4096];
    char plain[256], gzp[256];
    struct capture *c = NULL;
    struct got g[8], h[8];
    uint64_t done, total;
    int n, m;
    size_t len = pcap_image(img, LT_ETHERNET, std_recs, 3);

    tpath(plain, sizeof plain, "gz-plain.pcap");
    tpath(gzp, sizeof gzp, "gz.pcap.gz");
    FAIL_IF(write_file(plain, img, len) != 0);
    FAIL_IF(write_gz(gzp, img, len) != 0);

    FAIL_UNLESS(open1(plain, NULL, &c) == 0);
    FAIL_UNLESS(read_all(c, g, 8, &n) == 0);
    capture_close(c);

    FAIL_UNLESS(open1(gzp, NULL, &c) == 0);
    capture_progress(c, &done, &total);
    FAIL_UNLESS(total == (uint64_t)file_size(gzp));
    FAIL_UNLESS(read_all(c, h, 8, &m) == 0);
    FAIL_IF(check_std(h, m, 0));
    FAIL_UNLESS(n == m);
    for (int i = 0; i < n; i++) {
        FAIL_UNLESS(g[i].ts == h[i].ts && g[i].frame == h[i].frame);
        FAIL_UNLESS(g[i].caplen == h[i].caplen && g[i].wirelen == h[i].wirelen);
        FAIL_UNLESS(g[i].last == h[i].last && g[i].linktype == h[i].linktype);
    }
    capture_progress(c, &done, &total);
    FAIL_UNLESS(done == total && total == (uint64_t)file_size(gzp));
    capture_close(c);
    PASS;
}

/* Files written by libpcap itself, microsecond and nanosecond flavours. */
static int test_pcap_dump(void)
{
    char path[256], npath[256];
    struct capture *c = NULL;
    struct got g[4];
    int n;
    pcap_t *dead;
    pcap_dumper_t *d;
    struct pcap_pkthdr h = { .caplen = std_recs[0].caplen, .len = std_recs[0].len };

    tpath(path, sizeof path, "dump.pcap");
    dead = pcap_open_dead(DLT_EN10MB, 65535);
    FAIL_IF(dead == NULL);
    d = pcap_dump_open(dead, path);
    FAIL_IF(d == NULL);
    h.ts.tv_sec = 1700000000;
    h.ts.tv_usec = 123456;
    pcap_dump((u_char *)d, &h, f1);
    h.ts.tv_usec = 123457;
    pcap_dump((u_char *)d, &h, f1);
    pcap_dump_close(d);
    pcap_close(dead);

    tpath(npath, sizeof npath, "dump-nsec.pcap");
    dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    FAIL_IF(dead == NULL);
    d = pcap_dump_open(dead, npath);
    FAIL_IF(d == NULL);
    h.ts.tv_usec = 987654321;       /* nanoseconds in this flavour */
    pcap_dump((u_char *)d, &h, f1);
    pcap_dump_close(d);
    pcap_close(dead);

    FAIL_UNLESS(open1(path, NULL, &c) == 0);
    FAIL_UNLESS(read_all(c, g, 4, &n) == 0 && n == 2);
    FAIL_UNLESS(g[0].ts == 1700000000LL * TW_USEC + 123456);
    FAIL_UNLESS(g[1].ts == 1700000000LL * TW_USEC + 123457 && g[1].frame == 2);
    FAIL_UNLESS(g[0].caplen == std_recs[0].caplen && g[0].last == 0xa1);
    capture_close(c);

    FAIL_UNLESS(open1(npath, NULL, &c) == 0);
    FAIL_UNLESS(read_all(c, g, 4, &n) == 0 && n == 1);
    FAIL_UNLESS(g[0].ts == 1700000000LL * TW_USEC + 987654);   /* scaled to microseconds */
    capture_close(c);
    PASS;
}

/* In place: the little-endian image from pcap_image() as a big-endian file. */
static void to_big_endian(uint8_t *img, size_t len)
{
    size_t off = 24;
    uint16_t v16;
    uint32_t v, caplen;
    for (size_t i = 0; i < 24; i += 4) {
        if (i == 4) {                       /* two 16-bit version numbers */
            for (size_t k = 4; k < 8; k += 2) {
                memcpy(&v16, img + k, 2);
                v16 = __builtin_bswap16(v16);
                memcpy(img + k, &v16, 2);
            }
            continue;
        }
        memcpy(&v, img + i, 4);
        v = __builtin_bswap32(v);
        memcpy(img + i, &v, 4);
    }
    while (off + 16 <= len) {
        memcpy(&caplen, img + off + 8, 4);
        for (size_t i = 0; i < 16; i += 4) {
            memcpy(&v, img + off + i, 4);
            v = __builtin_bswap32(v);
            memcpy(img + off + i, &v, 4);
        }
        off += 16 + caplen;
    }
}

/*
 * Big-endian files; a record longer than the file's snapshot length (cut to
 * it, the next record still found); a record longer than any snapshot (an
 * error at its offset).
 */
static int test_byte_order_and_lengths(void)
{
    static uint8_t img[4096];
    char path[256], want[64];
    struct capture *c = NULL;
    struct got g[8];
    struct rec r[3];
    int n;
    size_t len = pcap_image(img, LT_ETHERNET, std_recs, 3);

    tpath(path, sizeof path, "bigendian.pcap");
    to_big_endian(img, len);
    FAIL_IF(write_file(path, img, len) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == 0);
    FAIL_UNLESS(read_all(c, g, 8, &n) == 0);
    FAIL_IF(check_std(g, n, 0));
    capture_close(c);

    /* snapshot length 40 in the header, a 64-byte record in the middle */
    memcpy(r, std_recs, sizeof r);
    len = pcap_image(img, LT_ETHERNET, r, 3);
    put32le(img + 16, 40);
    FAIL_IF(write_file(path, img, len) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == 0);
    FAIL_UNLESS(read_all(c, g, 8, &n) == 0 && n == 3);
    FAIL_UNLESS(g[0].caplen == 40 && g[0].wirelen == std_recs[0].len);
    FAIL_UNLESS(g[0].last == std_recs[0].data[39]);
    FAIL_UNLESS(g[2].frame == 3 && g[2].caplen == 40 && g[2].last == std_recs[2].data[39]);
    capture_close(c);

    /* the second record claims 300000 captured bytes */
    len = pcap_image(img, LT_ETHERNET, std_recs, 3);
    put32le(img + 24 + 16 + std_recs[0].caplen + 8, 300000);
    FAIL_IF(write_file(path, img, len) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == 0);
    FAIL_UNLESS(read_all(c, g, 8, &n) == TW_ERR_FORMAT && n == 1);
    snprintf(want, sizeof want, "(at byte offset %zu)", (size_t)(24 + 16 + std_recs[0].caplen));
    FAIL_UNLESS(starts_with(err, path) && strstr(err, "invalid packet capture length 300000") &&
                strstr(err, want) && one_line(err));
    capture_close(c);
    PASS;
}

/*
 * A file that shrinks while it is read (a rotation truncating it): an error
 * naming the file, no crash. With the reader thread the file is mapped and the
 * truncated pages would raise SIGBUS; libpcap's stdio path just sees a
 * shorter file, so this is checked on the reader pass.
 */
static int test_file_shrinks(void)
{
    static uint8_t img[4 << 20], fr[600];
    static struct rec r[6000];
    char path[256];
    struct capture *c = NULL;
    struct got g[8000];
    size_t len;
    int n, rc;

    if (!use_reader)
        PASS;
    for (int i = 0; i < 6000; i++)
        r[i] = (struct rec){ 1000 + (uint32_t)i, 0, fr, sizeof fr, sizeof fr };
    build_ip(fr, 1, 6, 1234, 80, sizeof fr - 54, 0x5a);
    len = pcap_image(img, LT_ETHERNET, r, 6000);
    tpath(path, sizeof path, "shrinks.pcap");
    FAIL_IF(write_file(path, img, len) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == 0);
    {
        struct capture_pkt p;
        FAIL_UNLESS(capture_next(c, &p, err, sizeof err) == 1);
    }
    FAIL_IF(truncate(path, 8192) != 0);
    rc = read_all(c, g, 8000, &n);
    FAIL_UNLESS(rc == TW_ERR_FORMAT);
    FAIL_UNLESS(starts_with(err, path) && strstr(err, "shrank") && one_line(err));
    FAIL_UNLESS(n < 5999);
    capture_close(c);
    PASS;
}

/*
 * Shrinking files, the whole class (issue 16). A capture is opened, then
 * shrinks before it is mapped (a rotation with copytruncate while twscope
 * waits for the database lock), or at any moment while it is read. The only
 * outcomes allowed are every packet intact and a clean end, or the "shrank"
 * error naming the file; never a crash, never a clean end short of the file.
 */

/* A file of n Ethernet frames of 600 bytes; frame i ends with mark i & 0xff. */
static size_t shrink_image(uint8_t *img, struct rec *r, int n)
{
    static uint8_t fr[256][600];

    for (int i = 0; i < 256; i++)
        build_ip(fr[i], 1, 6, 1234, 80, sizeof fr[i] - 54, (uint8_t)i);
    for (int i = 0; i < n; i++)
        r[i] = (struct rec){ 1000 + (uint32_t)i, 0, fr[(i + 1) & 0xff], 600, 600 };
    return pcap_image(img, LT_ETHERNET, r, n);
}

/* Open one file without starting the reader thread, whatever the pass. */
static int open_plain(const char *path, struct capture **c)
{
    const char *paths[1] = { path };

    err[0] = '\0';
    return capture_open_files(paths, 1, NULL, c, err, sizeof err);
}

/* The prepare hook reads every byte on the reader thread, as decoding would. */
static void touch_hook(void *ctx, const struct capture_pkt *p, void *out)
{
    uint32_t sum = 0;
    (void)ctx;
    for (uint32_t i = 0; i < p->caplen; i++)
        sum += p->data[i];
    memcpy(out, &sum, sizeof sum);
}

struct shrink_run {
    int rc;                     /* last capture_next() */
    int n;                      /* packets handed out */
    int damaged;                /* of them, not the file's bytes (read after the cut) */
    int out_of_order;           /* frame numbers not 1, 2, 3... */
};

/* Read every packet of c, touching every byte again as the analysis does. */
static void shrink_read(struct capture *c, struct shrink_run *sr)
{
    struct capture_pkt p;
    uint32_t sum = 0;

    memset(sr, 0, sizeof *sr);
    while ((sr->rc = capture_next(c, &p, err, sizeof err)) == 1) {
        sr->n++;
        for (uint32_t i = 0; i < p.caplen; i++)
            sum += p.data[i];
        if (p.frame != (uint64_t)sr->n)
            sr->out_of_order++;
        if (p.caplen != 600 || p.data[599] != (uint8_t)(p.frame & 0xff) || p.data[12] != 0x08)
            sr->damaged++;
    }
    if (sum == 1)               /* keep the reads */
        fprintf(stderr, " ");
}

/* 0 if the run ended as allowed for a file of nrec records; else says why. */
static int shrink_ok(const struct shrink_run *sr, const char *path, int nrec, int must_shrink)
{
    int shrank = sr->rc == TW_ERR_FORMAT && starts_with(err, path) && strstr(err, "shrank") &&
                 one_line(err);

    if (sr->out_of_order || (sr->rc == 0 && (sr->n != nrec || sr->damaged)) ||
        (sr->rc != 0 && !shrank) || (must_shrink && !shrank)) {
        fprintf(stderr, "shrink: rc %d, %d of %d packets, %d damaged, %d out of order: %s\n",
                sr->rc, sr->n, nrec, sr->damaged, sr->out_of_order, sr->rc ? err : "(no error)");
        return 1;
    }
    return 0;
}

/*
 * Truncated between capture_open_files() and the mapping, to each length: the
 * first read of the mapping (the magic) must already be covered. Each case
 * runs in a child process, so that a SIGBUS is a failure of this test rather
 * than the end of the test program. Also with the libpcap path (no reader
 * thread) and with a pcapng file (never mapped): the same error.
 */
static int test_shrinks_before_map(void)
{
    static uint8_t img[5000 * 616 + 24];
    static struct rec r[5000];
    const long cuts[] = { 0, 3, 10, 24, 100, 4095, 4096, 5000, 8192, 2 << 20, -1 };
    char path[256];
    size_t len = shrink_image(img, r, 5000);
    int failed = 0;

    tpath(path, sizeof path, "shrink-before-map.pcap");
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        for (int reader = 0; reader <= 1; reader++) {
            long cut = cuts[k] < 0 ? (long)len - 1 : cuts[k];
            pid_t pid;
            int status = 0;

            FAIL_IF(write_file(path, img, len) != 0);
            pid = fork();
            FAIL_IF(pid < 0);
            if (pid == 0) {
                struct capture *c = NULL;
                struct shrink_run sr;
                int bad;
                if (open_plain(path, &c) != 0 || truncate(path, cut) != 0)
                    _exit(2);
                if (reader && capture_start_reader_prep(c, touch_hook, NULL, 8) != 0)
                    _exit(2);
                shrink_read(c, &sr);
                bad = shrink_ok(&sr, path, 5000, 1) || (reader && sr.n != 0);
                capture_close(c);
                _exit(bad);
            }
            FAIL_IF(waitpid(pid, &status, 0) != pid);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "cut at %ld (%s): %s %d\n", cut,
                        reader ? "reader thread" : "libpcap",
                        WIFSIGNALED(status) ? "killed by signal" : "exit",
                        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
                failed++;
            }
        }
    }
    FAIL_IF(failed);

    /* two files, the second cut: the error names it, whatever came from the first */
    {
        char path2[256];
        const char *paths[2] = { path, path2 };
        struct capture *c = NULL;
        struct shrink_run sr;

        tpath(path2, sizeof path2, "shrink-before-map-2.pcap");
        FAIL_IF(write_file(path, img, len) != 0 || write_file(path2, img, len) != 0);
        FAIL_UNLESS(capture_open_files(paths, 2, NULL, &c, err, sizeof err) == 0);
        FAIL_IF(truncate(path2, 0) != 0);
        FAIL_UNLESS(capture_start_reader(c) == 0);
        shrink_read(c, &sr);
        capture_close(c);
        FAIL_UNLESS(sr.rc == TW_ERR_FORMAT && starts_with(err, path2) && strstr(err, "shrank"));
    }

    /* a pcapng file that shrank before the mapping is left to libpcap: the same error */
    {
        static uint8_t ng[1 << 20];
        struct capture *c = NULL;
        struct shrink_run sr;
        size_t off = 0;
        uint8_t fr[600];
        size_t flen = build_ip(fr, 1, 6, 1234, 80, 600 - 54, 1);
        uint8_t shb[28] = { 0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0 };
        uint8_t idb[20] = { 1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0 };

        memcpy(ng, shb, sizeof shb);
        off = sizeof shb;
        memcpy(ng + off, idb, sizeof idb);
        off += sizeof idb;
        while (off + 32 + flen + 4 <= sizeof ng) {
            uint32_t blen = (uint32_t)(32 + flen + 4);
            put32le(ng + off, 6);
            put32le(ng + off + 4, blen);
            memset(ng + off + 8, 0, 12);
            put32le(ng + off + 20, (uint32_t)flen);
            put32le(ng + off + 24, (uint32_t)flen);
            memcpy(ng + off + 28, fr, flen);
            put32le(ng + off + 28 + flen, blen);
            off += blen;
        }
        tpath(path, sizeof path, "shrink-before-read.pcapng");
        FAIL_IF(write_file(path, ng, off) != 0);
        FAIL_UNLESS(open_plain(path, &c) == 0);
        FAIL_IF(truncate(path, 4096) != 0);
        FAIL_UNLESS(capture_start_reader(c) == 0);
        shrink_read(c, &sr);
        capture_close(c);
        FAIL_UNLESS(sr.rc == TW_ERR_FORMAT && starts_with(err, path) && strstr(err, "shrank") &&
                    one_line(err));
    }
    PASS;
}

/*
 * A mapped pcapng file (capture_pcapng.c) that shrinks while it is read, cut
 * at a page boundary, inside a page, and inside a block's header: the
 * "shrank" error naming the file, no crash (each cut in a child, so a SIGBUS
 * fails the test), every packet handed out before it intact and in order.
 */
static int test_pcapng_shrinks(void)
{
    static uint8_t ng[6000 * 632 + 48];
    static uint8_t fr[256][600];
    const long cuts[] = { 0, 40, 4096, 8192, 8192 + 333, 65536 + 4, 2 << 20 };
    uint8_t shb[28] = { 0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0 };
    uint8_t idb[20] = { 1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0 };
    char path[256];
    size_t off;
    int failed = 0;

    for (int i = 0; i < 256; i++)
        build_ip(fr[i], 1, 6, 1234, 80, sizeof fr[i] - 54, (uint8_t)i);
    memcpy(ng, shb, sizeof shb);
    memcpy(ng + sizeof shb, idb, sizeof idb);
    off = sizeof shb + sizeof idb;
    for (int i = 0; i < 6000; i++) {
        uint32_t blen = 8 + 20 + 600 + 4; /* header, fixed part, frame, trailer */
        put32le(ng + off, 6);
        put32le(ng + off + 4, blen);
        put32le(ng + off + 8, 0);
        put32le(ng + off + 12, 0);
        put32le(ng + off + 16, 1000000u * (uint32_t)i);
        put32le(ng + off + 20, 600);
        put32le(ng + off + 24, 600);
        memcpy(ng + off + 28, fr[(i + 1) & 0xff], 600);
        put32le(ng + off + 28 + 600, blen);
        off += blen;
    }
    tpath(path, sizeof path, "shrinks-mapped.pcapng");
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        pid_t pid;
        int status = 0;

        FAIL_IF(write_file(path, ng, off) != 0);
        pid = fork();
        FAIL_IF(pid < 0);
        if (pid == 0) {
            struct capture *c = NULL;
            struct shrink_run sr;
            int bad;
            /* mapped by capture_start_reader_prep(), cut while its thread reads */
            if (open_plain(path, &c) != 0 || capture_start_reader_prep(c, touch_hook, NULL, 8) != 0)
                _exit(2);
            if (c->in[0].ng == NULL || truncate(path, cuts[k]) != 0)
                _exit(3);
            shrink_read(c, &sr);
            bad = shrink_ok(&sr, path, 6000, 1);
            capture_close(c);
            _exit(bad);
        }
        FAIL_IF(waitpid(pid, &status, 0) != pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "pcapng cut at %ld: %s %d\n", cuts[k],
                    WIFSIGNALED(status) ? "killed by signal" : "exit",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            failed++;
        }
    }
    FAIL_IF(failed);
    PASS;
}

/* Truncates a file after a delay, on a thread of its own. */
struct cutter {
    const char *path;
    off_t at;
    long delay_us;
};

static void *cutter_main(void *arg)
{
    const struct cutter *k = arg;
    struct timespec ts = { k->delay_us / 1000000, (k->delay_us % 1000000) * 1000 };

    nanosleep(&ts, NULL);
    if (truncate(k->path, k->at) != 0)
        perror("truncate");
    return NULL;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/*
 * Stress: many times, a file of a random size is truncated to a random length,
 * either between opening and mapping or by another thread after a random
 * delay while the reader thread and the consumer read it (both touch every
 * byte). TWSCOPE_SHRINK_RUNS and TWSCOPE_SHRINK_SEED change the defaults.
 */
static int test_shrink_stress(void)
{
    static uint8_t img[6000 * 616 + 24];
    static struct rec r[6000];
    const char *e_runs = getenv("TWSCOPE_SHRINK_RUNS"), *e_seed = getenv("TWSCOPE_SHRINK_SEED");
    int runs = e_runs ? atoi(e_runs) : 500, shrank = 0, whole = 0;
    uint64_t seed = e_seed ? strtoull(e_seed, NULL, 0) : 0x7477736331360001ull;
    char path[256];

    shrink_image(img, r, 6000);
    tpath(path, sizeof path, "shrink-stress.pcap");
    fprintf(stderr, "# shrink stress: %d runs, seed 0x%llx\n", runs, (unsigned long long)seed);
    for (int run = 0; run < runs; run++) {
        int nrec = 1 + (int)(xorshift(&seed) % 6000);
        size_t len = 24 + (size_t)nrec * 616;
        uint64_t pick = xorshift(&seed);
        struct cutter k = { path, 0, 0 };
        struct capture *c = NULL;
        struct shrink_run sr;
        pthread_t th;
        int before = pick % 4 == 0;     /* a quarter: cut between open and map */

        /* a length: 0, within the first page, or anywhere */
        switch ((pick >> 2) % 8) {
        case 0: k.at = 0; break;
        case 1: k.at = (off_t)(xorshift(&seed) % (len < 4096 ? len : 4096)); break;
        default: k.at = (off_t)(xorshift(&seed) % len); break;
        }
        k.delay_us = (long)(xorshift(&seed) % 3000);
        FAIL_IF(write_file(path, img, len) != 0);
        FAIL_UNLESS(open_plain(path, &c) == 0);
        if (before)
            FAIL_IF(truncate(path, k.at) != 0);
        FAIL_UNLESS(capture_start_reader_prep(c, touch_hook, NULL, 8) == 0);
        if (!before)
            FAIL_IF(pthread_create(&th, NULL, cutter_main, &k) != 0);
        shrink_read(c, &sr);
        if (!before)
            pthread_join(th, NULL);
        capture_close(c);
        if (shrink_ok(&sr, path, nrec, before)) {
            fprintf(stderr, "run %d: %d records, cut to %lld %s (%ld us)\n", run, nrec,
                    (long long)k.at, before ? "before mapping" : "while reading", k.delay_us);
            FAIL_IF(1);
        }
        shrank += sr.rc != 0;
        whole += sr.rc == 0;
    }
    fprintf(stderr, "# shrink stress: %d runs shrank, %d read whole\n", shrank, whole);
    FAIL_UNLESS(shrank > runs / 4);     /* the error path was taken, many times */
    PASS;
}

/* The prepare hook runs on the reader thread on every packet, in order; its bytes come along. */
struct prep_out {
    uint64_t frame;
    uint32_t caplen;
    uint8_t last;
    const uint8_t *data;
};

static void prep_hook(void *ctx, const struct capture_pkt *p, void *out)
{
    struct prep_out *o = out;
    (*(int *)ctx)++;
    o->frame = p->frame;
    o->caplen = p->caplen;
    o->last = p->caplen ? p->data[p->caplen - 1] : 0;
    o->data = p->data;
}

static int test_prepare_hook(void)
{
    static uint8_t img[4096];
    char path[256], gzp[256];
    const char *paths[2] = { path, gzp };
    struct capture *c = NULL;
    struct capture_pkt p;
    size_t len = pcap_image(img, LT_ETHERNET, std_recs, 3);
    int calls = 0, n = 0;

    tpath(path, sizeof path, "prep.pcap");
    tpath(gzp, sizeof gzp, "prep.pcap.gz");
    FAIL_IF(write_file(path, img, len) != 0);
    FAIL_IF(write_gz(gzp, img, len) != 0);  /* a mapped input and a copied one */
    FAIL_UNLESS(capture_open_files(paths, 2, NULL, &c, err, sizeof err) == 0);
    FAIL_UNLESS(capture_start_reader_prep(c, prep_hook, &calls, sizeof(struct prep_out)) == 0);
    while (capture_next(c, &p, err, sizeof err) == 1) {
        const struct prep_out *o = p.prep;
        FAIL_UNLESS(o != NULL);
        FAIL_UNLESS(o->frame == p.frame && o->caplen == p.caplen && o->data == p.data);
        FAIL_UNLESS(o->last == p.data[p.caplen - 1]);
        n++;
    }
    FAIL_UNLESS(n == 6 && calls == 6);
    capture_close(c);
    PASS;
}

static int test_bpf_keeps_frame_numbers(void)
{
    static uint8_t img[4096], fr[4][128];
    struct rec r[4];
    char path[256];
    struct capture *c = NULL;
    struct got g[8];
    int n;
    size_t l;

    l = build_ip(fr[0], 1, 6, 40000, 80, 0, 1);         /* tcp to 80: kept */
    r[0] = (struct rec){ 1, 0, fr[0], (uint32_t)l, (uint32_t)l };
    l = build_ip(fr[1], 1, 17, 40000, 80, 4, 2);        /* udp port 80: dropped */
    r[1] = (struct rec){ 2, 0, fr[1], (uint32_t)l, (uint32_t)l };
    l = build_ip(fr[2], 1, 6, 40000, 443, 0, 3);        /* tcp 443: dropped */
    r[2] = (struct rec){ 3, 0, fr[2], (uint32_t)l, (uint32_t)l };
    l = build_ip(fr[3], 1, 6, 80, 40000, 5, 4);         /* tcp from 80: kept */
    r[3] = (struct rec){ 4, 0, fr[3], (uint32_t)l, (uint32_t)l };
    tpath(path, sizeof path, "bpf.pcap");
    FAIL_IF(write_file(path, img, pcap_image(img, LT_ETHERNET, r, 4)) != 0);

    FAIL_UNLESS(open1(path, "tcp port 80", &c) == 0);
    FAIL_UNLESS(read_all(c, g, 8, &n) == 0);
    FAIL_UNLESS(n == 2);
    FAIL_UNLESS(g[0].frame == 1 && g[0].last == 1);
    FAIL_UNLESS(g[1].frame == 4 && g[1].last == 4);
    FAIL_UNLESS(capture_frames_read(c) == 4 && capture_frames_filtered(c) == 2);
    capture_close(c);

    /* an empty expression is no filter */
    FAIL_UNLESS(open1(path, "", &c) == 0);
    FAIL_UNLESS(read_all(c, g, 8, &n) == 0 && n == 4);
    capture_close(c);
    PASS;
}

/* The filter is compiled per input: Ethernet and raw-IP files in one run. */
static int test_bpf_per_linktype(void)
{
    static uint8_t img[4096], fe[2][128], fr[2][128];
    struct rec re[2], rr[2];
    char pe[256], pr[256];
    const char *paths[2] = { pe, pr };
    struct capture_opts o = { .bpf = "tcp port 80" };
    struct capture *c = NULL;
    struct got g[8];
    int n;
    size_t l;

    l = build_ip(fe[0], 1, 6, 1, 80, 0, 0x01);
    re[0] = (struct rec){ 1, 0, fe[0], (uint32_t)l, (uint32_t)l };
    l = build_ip(fe[1], 1, 6, 1, 22, 0, 0x02);
    re[1] = (struct rec){ 3, 0, fe[1], (uint32_t)l, (uint32_t)l };
    l = build_ip(fr[0], 0, 6, 1, 22, 0, 0x11);
    rr[0] = (struct rec){ 2, 0, fr[0], (uint32_t)l, (uint32_t)l };
    l = build_ip(fr[1], 0, 6, 80, 1, 0, 0x12);
    rr[1] = (struct rec){ 4, 0, fr[1], (uint32_t)l, (uint32_t)l };
    tpath(pe, sizeof pe, "bpf-eth.pcap");
    tpath(pr, sizeof pr, "bpf-raw.pcap");
    FAIL_IF(write_file(pe, img, pcap_image(img, LT_ETHERNET, re, 2)) != 0);
    FAIL_IF(write_file(pr, img, pcap_image(img, LT_RAW, rr, 2)) != 0);

    FAIL_UNLESS(open_files(paths, 2, &o, &c, err, sizeof err) == 0);
    FAIL_UNLESS(read_all(c, g, 8, &n) == 0 && n == 2);
    FAIL_UNLESS(g[0].file == 0 && g[0].frame == 1 && g[0].linktype == DLT_EN10MB);
    FAIL_UNLESS(g[1].file == 1 && g[1].frame == 2 && g[1].linktype == DLT_RAW);
    FAIL_UNLESS(g[1].last == 0x12);
    FAIL_UNLESS(capture_frames_read(c) == 4 && capture_frames_filtered(c) == 2);
    capture_close(c);
    PASS;
}

static int test_bad_filter(void)
{
    static uint8_t img[4096];
    char path[256];
    struct capture *c = (struct capture *)&c;   /* must be reset to NULL */

    tpath(path, sizeof path, "badfilter.pcap");
    FAIL_IF(write_file(path, img, pcap_image(img, LT_ETHERNET, std_recs, 3)) != 0);
    FAIL_UNLESS(open1(path, "tcp port", &c) == TW_ERR_USAGE);
    FAIL_UNLESS(c == NULL);
    FAIL_UNLESS(starts_with(err, "filter 'tcp port': "));
    FAIL_UNLESS(strlen(err) > strlen("filter 'tcp port': ") && one_line(err));

    FAIL_UNLESS(open1(path, "tcp and (", &c) == TW_ERR_USAGE && c == NULL);
    FAIL_UNLESS(starts_with(err, "filter 'tcp and (': ") && one_line(err));
    PASS;
}

/*
 * A file cut inside record 3: frames 1 and 2 come out, then TW_ERR_FORMAT
 * naming the file and the offset where record 3 starts.
 */
static int test_truncated_record(void)
{
    static uint8_t img[4096];
    char path[256], gzp[256], want[64];
    struct capture *c = NULL;
    struct capture_pkt p;
    struct got g[8];
    int n;
    size_t len = pcap_image(img, LT_ETHERNET, std_recs, 3);
    size_t off3 = 24 + 16 + std_recs[0].caplen + 16 + std_recs[1].caplen;

    tpath(path, sizeof path, "trunc.pcap");
    FAIL_IF(write_file(path, img, len - 7) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == 0);
    FAIL_UNLESS(read_all(c, g, 8, &n) == TW_ERR_FORMAT);
    FAIL_UNLESS(n == 2 && g[0].frame == 1 && g[1].frame == 2);
    FAIL_UNLESS(starts_with(err, path) && err[strlen(path)] == ':' && one_line(err));
    snprintf(want, sizeof want, "(at byte offset %zu)", off3);
    FAIL_UNLESS(strstr(err, want) != NULL);
    FAIL_UNLESS(capture_next(c, &p, err, sizeof err) == 0);   /* that input has ended */
    FAIL_UNLESS(capture_frames_read(c) == 2);
    capture_close(c);

    /* cut inside the record header */
    FAIL_IF(write_file(path, img, off3 + 8) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == 0);
    FAIL_UNLESS(read_all(c, g, 8, &n) == TW_ERR_FORMAT && n == 2);
    FAIL_UNLESS(starts_with(err, path) && strstr(err, want) != NULL && one_line(err));
    capture_close(c);

    /* same, gzip: the offset is into the uncompressed data */
    tpath(gzp, sizeof gzp, "trunc.pcap.gz");
    FAIL_IF(write_gz(gzp, img, len - 7) != 0);
    FAIL_UNLESS(open1(gzp, NULL, &c) == 0);
    FAIL_UNLESS(read_all(c, g, 8, &n) == TW_ERR_FORMAT && n == 2);
    snprintf(want, sizeof want, "(at uncompressed offset %zu)", off3);
    FAIL_UNLESS(starts_with(err, gzp) && strstr(err, want) != NULL && one_line(err));
    capture_close(c);
    PASS;
}

/* A read error ends its input only; the caller may go on with the others. */
static int test_error_then_continue(void)
{
    static uint8_t img[4096];
    char good[256], bad[256];
    const char *paths[2] = { bad, good };
    struct capture *c = NULL;
    struct got g[8];
    struct rec late[3];
    int n;
    size_t len;

    memcpy(late, std_recs, sizeof late);
    for (int i = 0; i < 3; i++)
        late[i].sec += 10;                  /* the good file comes after */
    tpath(bad, sizeof bad, "cont-bad.pcap");
    tpath(good, sizeof good, "cont-good.pcap");
    len = pcap_image(img, LT_ETHERNET, std_recs, 3);
    FAIL_IF(write_file(bad, img, len - 7) != 0);
    FAIL_IF(write_file(good, img, pcap_image(img, LT_ETHERNET, late, 3)) != 0);

    FAIL_UNLESS(open_files(paths, 2, NULL, &c, err, sizeof err) == 0);
    FAIL_UNLESS(read_all(c, g, 8, &n) == TW_ERR_FORMAT && n == 2);
    FAIL_UNLESS(starts_with(err, bad));
    FAIL_UNLESS(read_all(c, g, 8, &n) == 0 && n == 3);
    FAIL_UNLESS(g[0].file == 1 && g[2].frame == 3);
    capture_close(c);
    PASS;
}

/* Compressed data cut short: zlib's "unexpected end of file" is an error. */
static int test_gzip_cut(void)
{
    static uint8_t img[64 * 1024], z[64 * 1024], fr[150][128];
    static struct rec r[150];
    char full[256], cut[256];
    struct capture *c = NULL;
    struct got g[4];
    uint32_t x = 12345;
    size_t len, zlen;
    int n;
    FILE *f;

    /* random payloads, so the compressed stream is long enough to cut */
    for (int i = 0; i < 150; i++) {
        size_t l = build_ip(fr[i], 1, 6, 1, 2, 60, 0x55);

        for (size_t k = 54; k < l - 1; k++) {
            x = x * 1103515245 + 12345;
            fr[i][k] = (uint8_t)(x >> 16);
        }
        r[i] = (struct rec){ (uint32_t)i, 0, fr[i], (uint32_t)l, (uint32_t)l };
    }
    len = pcap_image(img, LT_ETHERNET, r, 150);
    tpath(full, sizeof full, "cut-full.pcap.gz");
    tpath(cut, sizeof cut, "cut.pcap.gz");
    FAIL_IF(write_gz(full, img, len) != 0);
    f = fopen(full, "rb");
    FAIL_IF(f == NULL);
    zlen = fread(z, 1, sizeof z, f);
    fclose(f);
    FAIL_IF(zlen < 4096);
    FAIL_IF(write_file(cut, z, zlen * 6 / 10) != 0);

    FAIL_UNLESS(open1(cut, NULL, &c) == 0);
    FAIL_UNLESS(read_all(c, g, 4, &n) == TW_ERR_FORMAT);
    FAIL_UNLESS(n > 0 && n < 150);
    FAIL_UNLESS(starts_with(err, cut) && strstr(err, "gzip") != NULL && one_line(err));
    capture_close(c);
    PASS;
}

static int test_open_errors(void)
{
    static uint8_t img[4096];
    char path[256], want[512];
    struct capture *c = NULL;
    const char *paths[2];

    tpath(path, sizeof path, "empty.pcap");
    FAIL_IF(write_file(path, "", 0) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == TW_ERR_FORMAT && c == NULL);
    snprintf(want, sizeof want, "%s: not a pcap or pcapng file (empty file)", path);
    FAIL_UNLESS(strcmp(err, want) == 0);

    tpath(path, sizeof path, "short.pcap");
    FAIL_IF(write_file(path, "\xd4\xc3", 2) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == TW_ERR_FORMAT && c == NULL);
    snprintf(want, sizeof want, "%s: not a pcap or pcapng file (only 2 bytes)", path);
    FAIL_UNLESS(strcmp(err, want) == 0);

    tpath(path, sizeof path, "notes.txt");
    FAIL_IF(write_file(path, "hello, world\n", 13) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == TW_ERR_FORMAT && c == NULL);
    snprintf(want, sizeof want, "%s: not a pcap or pcapng file (unknown magic 0x68656c6c)",
             path);
    FAIL_UNLESS(strcmp(err, want) == 0);

    tpath(path, sizeof path, "notes.txt.gz");
    FAIL_IF(write_gz(path, "hello, world\n", 13) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == TW_ERR_FORMAT && c == NULL);
    snprintf(want, sizeof want,
             "%s: not a pcap or pcapng file (unknown magic 0x68656c6c, after gunzip)", path);
    FAIL_UNLESS(strcmp(err, want) == 0);

    tpath(path, sizeof path, "x.pcap.xz");
    FAIL_IF(write_file(path, "\xfd" "7zXZ\0\0", 7) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == TW_ERR_FORMAT && c == NULL);
    FAIL_UNLESS(starts_with(err, path) && strstr(err, "xz-compressed") && one_line(err));

    /* right magic, header cut: libpcap's words, our prefix */
    tpath(path, sizeof path, "cuthdr.pcap");
    pcap_image(img, LT_ETHERNET, NULL, 0);
    FAIL_IF(write_file(path, img, 10) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) < 0 && c == NULL);
    snprintf(want, sizeof want, "%s: ", path);
    FAIL_UNLESS(starts_with(err, want) && strlen(err) > strlen(want) && one_line(err));

    FAIL_UNLESS(open1(tmpdir, NULL, &c) == TW_ERR_IO && c == NULL);
    snprintf(want, sizeof want, "%s: is a directory", tmpdir);
    FAIL_UNLESS(strcmp(err, want) == 0);

    tpath(path, sizeof path, "missing.pcap");
    FAIL_UNLESS(open1(path, NULL, &c) == TW_ERR_IO && c == NULL);
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    FAIL_UNLESS(strcmp(err, want) == 0);

    /* the failing file is named even when it is not the first */
    tpath(want, sizeof want, "ok-first.pcap");
    FAIL_IF(write_file(want, img, pcap_image(img, LT_ETHERNET, std_recs, 3)) != 0);
    paths[0] = want;
    paths[1] = path;
    FAIL_UNLESS(open_files(paths, 2, NULL, &c, err, sizeof err) == TW_ERR_IO);
    FAIL_UNLESS(c == NULL && starts_with(err, path));

    paths[0] = "-";
    paths[1] = "-";
    FAIL_UNLESS(open_files(paths, 2, NULL, &c, err, sizeof err) == TW_ERR_USAGE);
    FAIL_UNLESS(c == NULL && starts_with(err, "-: ") && one_line(err));
    FAIL_UNLESS(open_files(paths, 0, NULL, &c, err, sizeof err) == TW_ERR_USAGE);
    PASS;
}

/* pcapng block helpers */
static size_t png_shb(uint8_t *b)
{
    put32le(b, 0x0a0d0d0a);
    put32le(b + 4, 28);
    put32le(b + 8, 0x1a2b3c4d);
    put16le(b + 12, 1);
    put16le(b + 14, 0);
    memset(b + 16, 0xff, 8);                /* section length unknown */
    put32le(b + 24, 28);
    return 28;
}

/* IDB; tsresol != 0 adds an if_tsresol option (10^-tsresol seconds). */
static size_t png_idb(uint8_t *b, uint16_t linktype, uint8_t tsresol)
{
    uint32_t len = tsresol ? 32 : 20;

    put32le(b, 1);
    put32le(b + 4, len);
    put16le(b + 8, linktype);
    put16le(b + 10, 0);
    put32le(b + 12, 0);                     /* snaplen: no limit */
    if (tsresol) {
        put16le(b + 16, 9);                 /* if_tsresol */
        put16le(b + 18, 1);
        b[20] = tsresol;
        memset(b + 21, 0, 3);
        put32le(b + 24, 0);                 /* opt_endofopt */
    }
    put32le(b + len - 4, len);
    return len;
}

static size_t png_epb(uint8_t *b, uint64_t ts, const uint8_t *data, uint32_t caplen,
                      uint32_t origlen)
{
    uint32_t pad = (4 - caplen % 4) % 4;
    uint32_t len = 32 + caplen + pad;

    put32le(b, 6);
    put32le(b + 4, len);
    put32le(b + 8, 0);
    put32le(b + 12, (uint32_t)(ts >> 32));
    put32le(b + 16, (uint32_t)ts);
    put32le(b + 20, caplen);
    put32le(b + 24, origlen);
    memcpy(b + 28, data, caplen);
    memset(b + 28 + caplen, 0, pad);
    put32le(b + len - 4, len);
    return len;
}

static int test_pcapng(void)
{
    static uint8_t img[4096];
    char path[256], npath[256];
    struct capture *c = NULL;
    struct got g[4];
    int n;
    size_t off;
    const uint64_t t1 = 1700000000123456ULL, t2 = 1700000001000001ULL;

    off = png_shb(img);
    off += png_idb(img + off, LT_ETHERNET, 0);
    off += png_epb(img + off, t1, f1, std_recs[0].caplen, std_recs[0].len);
    off += png_epb(img + off, t2, f3, 41, std_recs[2].len);     /* odd caplen: padding */
    tpath(path, sizeof path, "two.pcapng");
    FAIL_IF(write_file(path, img, off) != 0);

    FAIL_UNLESS(open1(path, NULL, &c) == 0);
    FAIL_UNLESS(capture_linktype(c, 0) == DLT_EN10MB);
    FAIL_UNLESS(read_all(c, g, 4, &n) == 0 && n == 2);
    FAIL_UNLESS(g[0].frame == 1 && g[0].ts == (tw_time)t1);
    FAIL_UNLESS(g[0].caplen == std_recs[0].caplen && g[0].last == 0xa1);
    FAIL_UNLESS(g[1].frame == 2 && g[1].ts == (tw_time)t2);
    FAIL_UNLESS(g[1].caplen == 41 && g[1].wirelen == std_recs[2].len);
    FAIL_UNLESS(g[1].last == f3[40] && g[1].linktype == DLT_EN10MB);
    capture_close(c);

    /* nanosecond resolution (if_tsresol = 9), raw IP: scaled to microseconds */
    off = png_shb(img);
    off += png_idb(img + off, LT_RAW, 9);
    off += png_epb(img + off, 1700000000123456789ULL, f1 + 14, 40, 40);
    tpath(npath, sizeof npath, "nsec.pcapng");
    FAIL_IF(write_file(npath, img, off) != 0);
    FAIL_UNLESS(open1(npath, NULL, &c) == 0);
    FAIL_UNLESS(capture_linktype(c, 0) == DLT_RAW);
    FAIL_UNLESS(read_all(c, g, 4, &n) == 0 && n == 1);
    FAIL_UNLESS(g[0].ts == 1700000000123456LL && g[0].caplen == 40);
    capture_close(c);

    /* a pcapng cut inside its second packet block */
    off = png_shb(img);
    off += png_idb(img + off, LT_ETHERNET, 0);
    off += png_epb(img + off, t1, f1, std_recs[0].caplen, std_recs[0].len);
    {
        char want[64];
        size_t at = off;

        off += png_epb(img + off, t2, f3, 41, std_recs[2].len);
        FAIL_IF(write_file(path, img, off - 10) != 0);
        FAIL_UNLESS(open1(path, NULL, &c) == 0);
        FAIL_UNLESS(read_all(c, g, 4, &n) == TW_ERR_FORMAT && n == 1);
        snprintf(want, sizeof want, "(at byte offset %zu)", at);
        FAIL_UNLESS(starts_with(err, path) && strstr(err, want) != NULL);
        capture_close(c);
    }
    PASS;
}

static int test_linktypes(void)
{
    static uint8_t img[4096], fr[4][128];
    static const uint32_t lts[4] = { LT_ETHERNET, LT_RAW, LT_LINUX_SLL, LT_USER0 };
    static const int dlts[4] = { DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL, DLT_USER0 };
    char path[4][256];
    const char *paths[4] = { path[0], path[1], path[2], path[3] };
    struct capture *c = NULL;
    struct got g[8];
    int n;

    for (int i = 0; i < 4; i++) {
        size_t l = build_ip(fr[i], i == 0, 6, 1, 2, 3, (uint8_t)i);
        struct rec r = { 10, (uint32_t)(4 - i), fr[i], (uint32_t)l, (uint32_t)l };

        snprintf(path[i], sizeof path[i], "%s/lt-%u.pcap", tmpdir, (unsigned)lts[i]);
        FAIL_IF(write_file(path[i], img, pcap_image(img, lts[i], &r, 1)) != 0);
    }
    /* an unsupported link type is not an error here (the decoder counts it) */
    FAIL_UNLESS(open_files(paths, 4, NULL, &c, err, sizeof err) == 0);
    for (uint32_t i = 0; i < 4; i++)
        FAIL_UNLESS(capture_linktype(c, i) == dlts[i]);
    FAIL_UNLESS(read_all(c, g, 8, &n) == 0 && n == 4);
    for (int i = 0; i < 4; i++) {
        FAIL_UNLESS(g[i].file == (uint32_t)(3 - i));    /* timestamps run backwards */
        FAIL_UNLESS(g[i].linktype == dlts[g[i].file]);
        FAIL_UNLESS(g[i].last == g[i].file);
    }
    capture_close(c);
    PASS;
}

/* "-": plain and gzip data on stdin (a regular file here), then a FIFO. */
static int read_stdin(const char *path, struct got *g, int max, int *n, uint64_t *total)
{
    struct capture *c = NULL;
    int saved = dup(STDIN_FILENO);          /* -1 if the runner closed stdin */
    int fd = open(path, O_RDONLY);
    int rc = -100;

    if (fd < 0 || (fd != STDIN_FILENO && dup2(fd, STDIN_FILENO) < 0))
        goto out;
    rc = open1("-", NULL, &c);
    if (rc == 0) {
        rc = read_all(c, g, max, n);
        capture_progress(c, NULL, total);
        capture_close(c);
    }
out:
    if (fd > STDIN_FILENO)
        close(fd);
    if (saved >= 0) {
        dup2(saved, STDIN_FILENO);
        close(saved);
    } else {
        close(STDIN_FILENO);
    }
    return rc;
}

static int test_stdin(void)
{
    static uint8_t img[4096];
    char plain[256], gzp[256];
    struct got g[8];
    uint64_t total = 0;
    int n;
    size_t len = pcap_image(img, LT_ETHERNET, std_recs, 3);

    tpath(plain, sizeof plain, "stdin.pcap");
    tpath(gzp, sizeof gzp, "stdin.pcap.gz");
    FAIL_IF(write_file(plain, img, len) != 0);
    FAIL_IF(write_gz(gzp, img, len) != 0);

    FAIL_UNLESS(read_stdin(plain, g, 8, &n, &total) == 0);
    FAIL_IF(check_std(g, n, 0));
    FAIL_UNLESS(total == len);
    FAIL_UNLESS(read_stdin(gzp, g, 8, &n, &total) == 0);
    FAIL_IF(check_std(g, n, 0));
    FAIL_UNLESS(total == (uint64_t)file_size(gzp));

    /* truncated on stdin: plain data through zlib's copy mode, byte offset */
    FAIL_IF(write_file(plain, img, len - 7) != 0);
    FAIL_UNLESS(read_stdin(plain, g, 8, &n, &total) == TW_ERR_FORMAT && n == 2);
    FAIL_UNLESS(starts_with(err, "-: ") && strstr(err, "(at byte offset ") && one_line(err));
    PASS;
}

static int test_fifo(void)
{
    static uint8_t img[4096];
    char path[256];
    struct capture *c = NULL;
    struct got g[8];
    uint64_t done, total;
    int n, rc, status;
    size_t len = pcap_image(img, LT_ETHERNET, std_recs, 3);
    pid_t pid;

    tpath(path, sizeof path, "fifo");
    unlink(path);                           /* left by the first pass */
    FAIL_IF(mkfifo(path, 0600) != 0);
    pid = fork();
    FAIL_IF(pid < 0);
    if (pid == 0) {
        int fd;

        alarm(10);                          /* never outlive a broken parent */
        fd = open(path, O_WRONLY);
        _exit(fd >= 0 && write(fd, img, len) == (ssize_t)len ? 0 : 1);
    }
    rc = open1(path, NULL, &c);
    if (rc == 0) {
        rc = read_all(c, g, 8, &n);
        capture_progress(c, &done, &total);
        capture_close(c);
    }
    FAIL_IF(waitpid(pid, &status, 0) != pid);
    FAIL_UNLESS(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    FAIL_UNLESS(rc == 0);
    FAIL_IF(check_std(g, n, 0));
    FAIL_UNLESS(total == 0 && done == len);     /* size of a pipe is unknown */
    PASS;
}

static int test_break(void)
{
    static uint8_t img[4096];
    char path[256];
    struct capture *c = NULL;
    struct capture_pkt p;

    tpath(path, sizeof path, "break.pcap");
    FAIL_IF(write_file(path, img, pcap_image(img, LT_ETHERNET, std_recs, 3)) != 0);
    FAIL_UNLESS(open1(path, NULL, &c) == 0);
    FAIL_UNLESS(capture_next(c, &p, err, sizeof err) == 1 && p.frame == 1);
    capture_break(c);
    FAIL_UNLESS(capture_next(c, &p, err, sizeof err) == 0);
    FAIL_UNLESS(capture_next(c, &p, err, sizeof err) == 0);
    capture_close(c);
    PASS;
}

static int test_live_no_such_interface(void)
{
    struct capture *c = (struct capture *)&c;
    struct capture_opts o = { .bpf = "tcp" };
    int rc;

    rc = capture_open_live("twsnosuch0", &o, &c, err, sizeof err);
    FAIL_UNLESS(rc < 0 && c == NULL);
    FAIL_UNLESS(starts_with(err, "capture: twsnosuch0: ") && one_line(err));
    FAIL_UNLESS(strstr(err, "No such device exists") || strstr(err, "permission denied"));
    PASS;
}

static int test_list_interfaces(void)
{
    char buf[8192];
    FILE *f = tmpfile();
    size_t n;
    int rc;

    FAIL_IF(f == NULL);
    rc = capture_list_interfaces(f, err, sizeof err);
    rewind(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    if (rc != 0) {                              /* no capture devices in this sandbox */
        FAIL_UNLESS(starts_with(err, "capture: ") && one_line(err));
        PASS;
    }
    FAIL_UNLESS(n > 0 && buf[n - 1] == '\n');
    FAIL_UNLESS(strstr(buf, "up") != NULL || strstr(buf, "down") != NULL);
    PASS;
}

/* ------------------------------------------------------------------------ */

static void rm_tree(const char *dir)
{
    char cmd[128];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/twscope-capture-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    std_frames();

    for (use_reader = 0; use_reader < 2; use_reader++) {
        if (use_reader)
            fprintf(stderr, "# again, with the reader thread\n");
        RUN(test_single_file);
        RUN(test_header_only);
        RUN(test_merge);
        RUN(test_gzip);
        RUN(test_pcap_dump);
        RUN(test_byte_order_and_lengths);
        RUN(test_file_shrinks);
        RUN(test_prepare_hook);
        RUN(test_bpf_keeps_frame_numbers);
        RUN(test_bpf_per_linktype);
        RUN(test_bad_filter);
        RUN(test_truncated_record);
        RUN(test_error_then_continue);
        RUN(test_gzip_cut);
        RUN(test_open_errors);
        RUN(test_pcapng);
        RUN(test_linktypes);
        RUN(test_stdin);
        RUN(test_fifo);
        RUN(test_break);
        RUN(test_live_no_such_interface);
        RUN(test_list_interfaces);
    }
    RUN(test_shrinks_before_map);
    RUN(test_pcapng_shrinks);
    RUN(test_shrink_stress);

    if (!test_failures && getenv("TWSCOPE_KEEP_TMP") == NULL)
        rm_tree(tmpdir);
    else
        fprintf(stderr, "files kept in %s\n", tmpdir);
    TEST_EXIT();
}
