/*
 * rawloop.c -- the floor for twscope's packet rate: libpcap reading a file
 * and touching the first byte of every packet, nothing else.
 *
 *   rawloop FILE.pcap   ->  "packets=N seconds=S pps=R"
 *
 * The time covers pcap_open_offline() through the last pcap_next_ex(), on the
 * monotonic clock. The checksum of first bytes is printed so the compiler
 * cannot drop the loads.
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t packets = 0, sum = 0;
    double t0, dt;
    pcap_t *p;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: rawloop FILE.pcap\n");
        return 2;
    }
    t0 = now_s();
    p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "rawloop: %s\n", err);
        return 1;
    }
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        if (h->caplen)
            sum += data[0];
        packets++;
    }
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "rawloop: %s\n", pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    dt = now_s() - t0;
    printf("packets=%llu seconds=%.6f pps=%.0f firstbyte_sum=%llu\n", (unsigned long long)packets,
           dt, dt > 0 ? (double)packets / dt : 0.0, (unsigned long long)sum);
    return 0;
}
