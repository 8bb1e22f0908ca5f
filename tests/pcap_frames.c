/*
 * pcap_frames.c -- print what libpcap reads from a capture file, one line per
 * packet: "N SEC.NANOSEC CAPLEN LEN HASH" (HASH: FNV-1a 64 of the bytes),
 * after a first line "linktype L". t_annotate.sh diffs this for a source and
 * its annotated copy: same packets, timestamps (nanoseconds), lengths, bytes.
 * Usage: pcap_frames FILE   (exit 1 with libpcap's message if it cannot read)
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char eb[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h;
    const u_char *d;
    unsigned long long n = 0;
    pcap_t *p;
    int r;

    if (argc != 2) {
        fprintf(stderr, "usage: pcap_frames FILE\n");
        return 2;
    }
    p = pcap_open_offline_with_tstamp_precision(argv[1], PCAP_TSTAMP_PRECISION_NANO, eb);
    if (!p) {
        fprintf(stderr, "%s\n", eb);
        return 1;
    }
    printf("linktype %d\n", pcap_datalink(p));
    while ((r = pcap_next_ex(p, &h, &d)) == 1) {
        uint64_t x = 0xcbf29ce484222325ULL;
        for (uint32_t i = 0; i < h->caplen; i++) {
            x ^= d[i];
            x *= 0x100000001b3ULL;
        }
        printf("%llu %ld.%09ld %u %u %016llx\n", ++n, (long)h->ts.tv_sec, (long)h->ts.tv_usec,
               h->caplen, h->len, (unsigned long long)x);
    }
    if (r != PCAP_ERROR_BREAK) {
        fprintf(stderr, "%s: %s\n", argv[1], pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    return 0;
}
