/*
 * fuzz_seeds.c -- seed corpora for the harnesses, made from real captures
 * (run.sh gives it the samples/ captures and the shared corpus). Not a fuzzer.
 *
 *   fuzz_seeds decode OUTDIR FILE...   frames of each capture as fuzz_decode
 *                                      inputs (selector byte + frame): the
 *                                      first frames, and a few per decode result
 *   fuzz_seeds engine OUTDIR FILE...   the TCP segments of each capture (first
 *                                      FZ_TUPLES connections) as one fuzz_engine
 *                                      input, plus built-in scenarios
 * Files that do not open are skipped (the corpus has non-capture files on purpose).
 * Exit 0, or 1 when OUTDIR cannot be written.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "twscope/capture.h"

#define SEED_FIRST_FRAMES 8       /* decode: first frames of each file */
#define SEED_PER_RESULT 4         /* decode: frames per decode result */
#define SEED_MAX_RECORDS 3000     /* engine: records per capture (60 KB) */

static int write_seed(const char *dir, const char *name, const uint8_t *a, size_t na,
                      const uint8_t *b, size_t nb)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "fuzz_seeds: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if ((na && fwrite(a, 1, na, f) != na) || (nb && fwrite(b, 1, nb, f) != nb)) {
        fclose(f);
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int seeds_decode(const char *dir, int fi, const char *file)
{
    struct capture *cap;
    struct capture_pkt p;
    char err[512], name[64];
    int per_result[DECODE_RESULT_COUNT] = {0};
    uint64_t n = 0;
    int written = 0;

    if (capture_open_files(&file, 1, NULL, &cap, err, sizeof(err)))
        return 0;
    while (capture_next(cap, &p, err, sizeof(err)) == 1) {
        struct pkt_view pv;
        enum decode_result r = decode_packet(p.linktype, p.data, p.caplen, &pv);
        int sel = fz_link_selector(p.linktype);
        uint8_t b;
        n++;
        if (sel < 0)
            sel = fz_link_selector(FZ_LINK_UNSUPPORTED);
        if (n > SEED_FIRST_FRAMES && per_result[r] >= SEED_PER_RESULT)
            continue;
        per_result[r]++;
        b = (uint8_t)sel;
        snprintf(name, sizeof(name), "d%04d_%06llu", fi, (unsigned long long)n);
        if (write_seed(dir, name, &b, 1, p.data, p.caplen))
            return -1;
        written++;
    }
    capture_close(cap);
    return written;
}

/* Turn the TCP segments of a capture into one fuzz_engine input. */
static int seeds_engine(const char *dir, int fi, const char *file)
{
    struct capture *cap;
    struct capture_pkt p;
    struct flow_key keys[FZ_TUPLES];
    int nkeys = 0, nrec = 0;
    struct fz_sim sim;
    uint8_t *buf = malloc(1 + (size_t)SEED_MAX_RECORDS * FZ_REC_LEN);
    char err[512], name[64];
    tw_time next_sweep = 0;
    int rc = 0;

    if (!buf)
        return -1;
    if (capture_open_files(&file, 1, NULL, &cap, err, sizeof(err))) {
        free(buf);
        return 0;
    }
    fz_sim_init(&sim);
    buf[0] = 0; /* linux profile */
    while (nrec < SEED_MAX_RECORDS && capture_next(cap, &p, err, sizeof(err)) == 1) {
        struct pkt_view pv;
        struct flow_key k;
        int ep, t;
        if (decode_packet(p.linktype, p.data, p.caplen, &pv) != DECODE_OK)
            continue;
        ep = flow_key_from_pkt(&pv, 0, &k);
        for (t = 0; t < nkeys; t++)
            if (!memcmp(&keys[t], &k, sizeof(k)))
                break;
        if (t == nkeys) {
            if (nkeys == FZ_TUPLES)
                continue;
            keys[nkeys++] = k;
        }
        if (nrec == 0)
            sim.now = p.ts; /* first record: dt 0 */
        fz_sim_encode(&sim, t, ep, &pv, p.ts, p.ts >= next_sweep, buf + 1 + nrec * FZ_REC_LEN);
        if (p.ts >= next_sweep)
            next_sweep = p.ts + TW_USEC;
        nrec++;
    }
    capture_close(cap);
    if (nrec) {
        snprintf(name, sizeof(name), "e%04d", fi);
        rc = write_seed(dir, name, buf, 1 + (size_t)nrec * FZ_REC_LEN, NULL, 0) ? -1 : 1;
        if (rc > 0) {
            buf[0] = 7; /* the same segments with the auto profile */
            snprintf(name, sizeof(name), "e%04d_auto", fi);
            rc = write_seed(dir, name, buf, 1 + (size_t)nrec * FZ_REC_LEN, NULL, 0) ? -1 : 2;
        }
    }
    free(buf);
    return rc;
}

/* Hand-written scenarios: close with TIME_WAIT and its findings, reuse, RST, simultaneous close. */
static int seeds_engine_builtin(const char *dir)
{
    enum { C = 0, S = 1 };
    static const struct {
        int side;
        uint8_t flags;
        uint32_t seq, ack, len, tsval;
        uint32_t dt_ms;
    } scen[] = {
        {C, TCPF_SYN, 1000, 0, 0, 1, 1},
        {S, TCPF_SYN | TCPF_ACK, 5000, 1001, 0, 7, 1},
        {C, TCPF_ACK, 1001, 5001, 0, 2, 1},
        {C, TCPF_ACK | TCPF_PSH, 1001, 5001, 64, 3, 1},
        {S, TCPF_ACK | TCPF_PSH, 5001, 1065, 256, 8, 1},
        {C, TCPF_FIN | TCPF_ACK, 1065, 5257, 0, 4, 1},
        {S, TCPF_FIN | TCPF_ACK, 5257, 1066, 0, 9, 1},
        {S, TCPF_FIN | TCPF_ACK, 5257, 1066, 0, 10, 200},  /* FIN retransmission */
        {C, TCPF_ACK, 1066, 5258, 0, 5, 1},                 /* final ACK */
        {C, TCPF_ACK, 1066, 5258, 0, 6, 1},                 /* re-ACK */
        {S, TCPF_RST, 5258, 0, 0, 0, 100},                  /* RST into TIME_WAIT */
        {C, TCPF_SYN, 90000, 0, 0, 20, 10000},              /* reuse */
        {S, TCPF_SYN | TCPF_ACK, 70000, 90001, 0, 30, 1},
        {C, TCPF_ACK, 90001, 70001, 0, 21, 1},
        {S, TCPF_ACK, 5258, 1066, 0, 11, 1},                /* late segment, old incarnation */
        {C, TCPF_FIN | TCPF_ACK, 90001, 70001, 0, 22, 1},   /* simultaneous close */
        {S, TCPF_FIN | TCPF_ACK, 70001, 90001, 0, 31, 0},
        {C, TCPF_ACK, 90002, 70002, 0, 23, 1},
        {S, TCPF_ACK, 70002, 90002, 0, 32, 1},
        {C, TCPF_SYN, 90000, 0, 0, 24, 61000},               /* old SYN after TIME_WAIT */
    };
    size_t n = sizeof(scen) / sizeof(scen[0]);
    uint8_t buf[1 + sizeof(scen) / sizeof(scen[0]) * FZ_REC_LEN];
    char name[32];

    for (int variant = 0; variant < 4; variant++) {
        struct fz_sim sim;
        fz_sim_init(&sim);
        buf[0] = (uint8_t[]){0, 7, 0x08 | 3, 0x30 | 4}[variant];
        for (size_t i = 0; i < n; i++) {
            struct pkt_view pv;
            int t = variant == 3 ? 3 : 0;
            memset(&pv, 0, sizeof(pv));
            pv.flags = scen[i].flags;
            pv.seq = scen[i].seq;
            pv.ack = scen[i].ack;
            pv.payload_len = scen[i].len;
            pv.has_ts = variant != 0;
            pv.tsval = scen[i].tsval;
            pv.ttl = 64;
            pv.wscale = (pv.flags & TCPF_SYN) ? 7 : 0xff;
            fz_sim_encode(&sim, t, scen[i].side, &pv, sim.now + (tw_time)scen[i].dt_ms * 1000,
                          0, buf + 1 + i * FZ_REC_LEN);
        }
        snprintf(name, sizeof(name), "builtin%d", variant);
        if (write_seed(dir, name, buf, sizeof(buf), NULL, 0))
            return -1;
    }
    return 4;
}

int main(int argc, char **argv)
{
    long total = 0;
    int decode;
    if (argc < 3 || (strcmp(argv[1], "decode") && strcmp(argv[1], "engine"))) {
        fprintf(stderr, "usage: fuzz_seeds decode|engine OUTDIR [CAPTURE...]\n");
        return 2;
    }
    decode = !strcmp(argv[1], "decode");
    fz_links_init();
    if (!decode) {
        int r = seeds_engine_builtin(argv[2]);
        if (r < 0)
            return 1;
        total += r;
    }
    for (int i = 3; i < argc; i++) {
        int r = decode ? seeds_decode(argv[2], i - 3, argv[i])
                       : seeds_engine(argv[2], i - 3, argv[i]);
        if (r < 0)
            return 1;
        total += r;
    }
    printf("fuzz_seeds: %ld %s seeds in %s\n", total, argv[1], argv[2]);
    return 0;
}
