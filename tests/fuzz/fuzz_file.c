/*
 * fuzz_file.c -- libFuzzer target for a whole file analysis without SQLite:
 * the input bytes are a capture file (pcap, pcapng, gzip, or anything else)
 * read through capture_open_files(), decode_packet() and the TCP engine,
 * with the analyzer's once-a-second sweep and capture-end finish.
 *
 * The file lives in a memfd and is opened as /proc/self/fd/N (a regular file
 * to the capture module). The input's last byte picks variants, so the same corpus
 * exercises more of the capture module (src/capture*.c):
 *   bit 0  open the file twice: two inputs merged by timestamp
 *   bit 1  BPF filter "tcp" (compiled per input, applied offline)
 *   bit 2  hand the bytes over a pipe instead (the zlib "transparent" path
 *          capture_file.c uses for non-regular files); inputs up to 64 KiB only
 *   bit 3  --max-flows 3 (evictions)
 *   bit 4  the reader thread (capture_start_reader), as `analyze` reads files:
 *          plain pcap inputs are then mapped and parsed by capture_map.c itself
 * Contract checks: every error message is one non-empty line naming the
 * input (or the filter); after a read error the other input goes on.
 * TWSCOPE_FUZZ_DPI=1 in the environment adds nDPI (classify.c) like
 * `analyze` does without --no-dpi.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "twscope/capture.h"
#include "twscope/classify.h"

#define FZ_PIPE_MAX 65536

static struct fz_check chk;
static struct classifier *cl;

static void on_done(void *ctx, struct conn *c)
{
    char proto[64];
    if (cl) {
        classify_finish(cl, c);
        const char *n = classify_name(cl, c, proto, sizeof(proto));
        if (n)
            chk.sink += strlen(n);
    }
    fz_check_conn(ctx, c);
}

static void on_closed(void *ctx, struct conn *c)
{
    fz_check_closed(ctx, c);
}

static void on_finding(void *ctx, const struct finding_ev *f)
{
    fz_check_finding(ctx, f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dpi = getenv("TWSCOPE_FUZZ_DPI");
    (void)argc;
    (void)argv;
    if (dpi && dpi[0] == '1') {
        cl = classify_create();
        if (!cl)
            fz_fail("classify_create failed");
    }
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A message of the capture contract: one line, not empty, naming an input or the filter. */
static void check_err(const char *err, char paths[][64], int n, const char *when)
{
    int named = strncmp(err, "filter '", 8) == 0;
    if (!err[0])
        fz_fail("%s: empty error message", when);
    if (strchr(err, '\n') || strchr(err, '\r'))
        fz_fail("%s: error message of more than one line: %s", when, err);
    for (int i = 0; i < n && !named; i++)
        named = strncmp(err, paths[i], strlen(paths[i])) == 0;
    if (!named)
        fz_fail("%s: error message does not start with the file name: %s", when, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode = size ? data[size - 1] : 0;
    int use_pipe = (mode & 4) && size <= FZ_PIPE_MAX;
    int nin = (mode & 1) && !use_pipe ? 2 : 1;
    char paths[2][64];
    const char *pp[2] = {paths[0], paths[1]};
    struct capture_opts co;
    struct capture *cap = NULL;
    struct tcp_engine_opts eo;
    struct tcp_sinks s = {.ctx = &chk, .conn_done = on_done, .conn_closed = on_closed,
                          .finding = on_finding};
    struct tcp_engine *e = NULL;
    struct capture_pkt p;
    char err[512];
    tw_time first_ts = 0, last_ts = 0, next_sweep = 0;
    uint64_t packets = 0;
    int fd = -1, wfd = -1, rc;

    if (use_pipe) {
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) != 0)
            return 0;
        fd = pfd[0];
        wfd = pfd[1];
        fcntl(wfd, F_SETPIPE_SZ, FZ_PIPE_MAX);
        if (write_all(wfd, data, size) != 0) {
            close(fd);
            close(wfd);
            return 0;
        }
        close(wfd);
    } else {
        fd = memfd_create("fuzz_file", MFD_CLOEXEC);
        if (fd < 0 || write_all(fd, data, size) != 0) {
            if (fd >= 0)
                close(fd);
            return 0;
        }
    }
    snprintf(paths[0], sizeof(paths[0]), "/proc/self/fd/%d", fd);
    snprintf(paths[1], sizeof(paths[1]), "/proc/self/fd/%d", fd);

    memset(&co, 0, sizeof(co));
    co.bpf = (mode & 2) ? "tcp" : NULL;
    err[0] = 0;
    rc = capture_open_files(pp, nin, &co, &cap, err, sizeof(err));
    if (rc) {
        if (cap)
            fz_fail("capture_open_files failed but returned a handle");
        check_err(err, paths, nin, "open");
        close(fd);
        return 0;
    }
    if (!cap)
        fz_fail("capture_open_files returned 0 without a handle");
    close(fd); /* each input opened its own descriptor */
    /* the reader thread: plain pcap files (the memfd) are then mapped and parsed by twscope */
    if ((mode & 16) && capture_start_reader(cap) != 0)
        fz_fail("capture_start_reader failed");

    memset(&chk, 0, sizeof(chk));
    memset(&eo, 0, sizeof(eo));
    eo.tw.profile = TWP_AUTO;
    eo.max_flows = (mode & 8) ? 3 : 0;
    eo.hash_seed = 0x5eed;
    eo.first_id = 1;
    chk.tw = eo.tw;
    e = tcp_engine_create(&eo, &s);
    if (!e) {
        capture_close(cap);
        return 0;
    }

    for (;;) {
        struct pkt_view pv;
        enum decode_result dr;
        err[0] = 0;
        rc = capture_next(cap, &p, err, sizeof(err));
        if (rc == 0)
            break;
        if (rc < 0) {
            check_err(err, paths, nin, "read");
            if (nin == 1)
                break;
            continue; /* the contract: the other inputs go on */
        }
        if (rc != 1)
            fz_fail("capture_next returned %d for a file", rc);
        if (p.file >= (uint32_t)nin)
            fz_fail("packet of input %u", p.file);
        if (p.caplen && !p.data)
            fz_fail("caplen %u without data", p.caplen);
        packets++;
        if (!first_ts)
            first_ts = p.ts;
        if (p.ts > last_ts)
            last_ts = p.ts;
        dr = decode_packet(p.linktype, p.data, p.caplen, &pv);
        if (dr == DECODE_OK) {
            struct pkt_meta m = {p.ts, p.frame, p.file};
            int dir;
            struct conn *c = tcp_engine_packet(e, &m, &pv, &dir);
            if (c && cl && !c->dpi.done)
                classify_packet(cl, c, &pv, p.ts);
        }
        if (last_ts >= next_sweep) {
            if (next_sweep)
                tcp_engine_sweep(e, last_ts);
            next_sweep = last_ts + (tw_time)FLOW_SWEEP_INTERVAL_SEC * TW_USEC;
        }
        if ((packets & 255) == 0) {
            uint64_t done, total;
            capture_progress(cap, &done, &total);
        }
    }
    if (capture_frames_read(cap) < packets)
        fz_fail("%llu packets handed out, %llu frames read", (unsigned long long)packets,
                (unsigned long long)capture_frames_read(cap));
    tcp_engine_finish(e, last_ts);
    fz_check_finished(&chk, e);
    tcp_engine_destroy(e);
    capture_close(cap);
    fz_check_free(&chk);
    return 0;
}
