/*
 * rawmap.c -- reading a pcap file the way twscope's reader thread does (a
 * memory mapping walked record by record, pages mapped ahead with
 * MADV_POPULATE_READ), touching the first byte of every packet, nothing else,
 * on one thread. bench/run reports it next to rawloop (libpcap's read loop,
 * which the issue's targets are measured against) so both floors are known.
 *
 *   rawmap FILE.pcap   ->  "packets=N seconds=S pps=R"
 *
 * Classic pcap only, native or swapped byte order (what twscope maps).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#define CHUNK (2u << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rd32(const uint8_t *b, int swapped)
{
    uint32_t v;
    memcpy(&v, b, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

int main(int argc, char **argv)
{
    uint64_t packets = 0, sum = 0;
    size_t off = 24, populated = 0, size;
    const uint8_t *m;
    struct stat sb;
    uint32_t magic;
    double t0, dt;
    int fd, swapped;

    if (argc != 2) {
        fprintf(stderr, "usage: rawmap FILE.pcap\n");
        return 2;
    }
    t0 = now_s();
    fd = open(argv[1], O_RDONLY);
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size < 24) {
        fprintf(stderr, "rawmap: %s: cannot open or too short\n", argv[1]);
        return 1;
    }
    size = (size_t)sb.st_size;
    m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        perror("rawmap: mmap");
        return 1;
    }
    madvise((void *)m, size, MADV_SEQUENTIAL);
    memcpy(&magic, m, 4);
    swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
    if (!swapped && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
        fprintf(stderr, "rawmap: %s: not a classic pcap file\n", argv[1]);
        return 1;
    }
    while (off + 16 <= size) {
        uint32_t caplen = rd32(m + off + 8, swapped);
        while (populated < off + 16 + caplen && populated < size) {
            size_t n = size - populated < CHUNK ? size - populated : CHUNK;
            madvise((void *)(m + populated), n, MADV_POPULATE_READ);
            populated += n;
        }
        if (off + 16 + caplen > size)
            break;
        if (caplen)
            sum += m[off + 16];
        packets++;
        off += 16 + caplen;
    }
    dt = now_s() - t0;
    printf("packets=%llu seconds=%.6f pps=%.0f firstbyte_sum=%llu\n", (unsigned long long)packets,
           dt, dt > 0 ? (double)packets / dt : 0.0, (unsigned long long)sum);
    munmap((void *)m, size);
    close(fd);
    return 0;
}
