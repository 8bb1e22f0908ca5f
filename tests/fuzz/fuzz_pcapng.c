/*
 * fuzz_pcapng.c -- differential libFuzzer target: the mapped pcapng reader
 * (src/capture_pcapng.c) against libpcap, on the same bytes.
 *
 * The input is written to a memfd and opened twice as /proc/self/fd/N: by
 * libpcap itself (pcap_open_offline_with_tstamp_precision(), microseconds,
 * as capture_file.c asks), and by capture_open_files(), whose input is then
 * mapped by capture_map_try() as capture_start_reader() does. When the
 * mapping takes the file (a pcapng file it reads itself), both are read to
 * their end, record by record, and any difference aborts:
 *   - the result of each read (packet, end, error);
 *   - for a packet: ts.tv_sec, ts.tv_usec, caplen, len, and every data byte;
 *   - for an error: libpcap's text (pcap_geterr()) is the mapped reader's,
 *     which must read "PATH: TEXT (at byte offset N)" with N where libpcap's
 *     stream stood before the failing pcap_next_ex() (what capture_file.c
 *     reports on the libpcap path);
 *   - the link type and snapshot length.
 * Files the mapping leaves to libpcap (classic pcap is compared elsewhere,
 * gzip, other link types) are only opened and closed; whether both opens
 * agree is checked too.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "capture_int.h"
#include "fuzz_common.h"

#define FZ_MAX_RECORDS 100000   /* bound the work per input */

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

static void compare(pcap_t *ref, struct capture_input *in, const char *path)
{
    char err[1024], want[1024];
    FILE *rf = pcap_file(ref);

    if (pcap_datalink(ref) != in->linktype)
        fz_fail("link type %d (libpcap) != %d (mapped)", pcap_datalink(ref), in->linktype);
    if ((uint32_t)pcap_snapshot(ref) != in->snapshot)
        fz_fail("snapshot %d (libpcap) != %u (mapped)", pcap_snapshot(ref), in->snapshot);
    for (uint64_t n = 1; n <= FZ_MAX_RECORDS; n++) {
        struct pcap_pkthdr *h;
        const u_char *d;
        long at = ftell(rf);
        int r1 = pcap_next_ex(ref, &h, &d);
        int r2;

        err[0] = '\0';
        r2 = capture_pcapng_next(in, err, sizeof err);
        if (r1 == 1) {
            if (r2 != 1)
                fz_fail("record %llu: libpcap has a packet, mapped returned %d (%s)",
                        (unsigned long long)n, r2, err);
            if (h->ts.tv_sec != in->hdr->ts.tv_sec || h->ts.tv_usec != in->hdr->ts.tv_usec)
                fz_fail("record %llu: ts %lld.%06ld (libpcap) != %lld.%06ld (mapped)",
                        (unsigned long long)n, (long long)h->ts.tv_sec, (long)h->ts.tv_usec,
                        (long long)in->hdr->ts.tv_sec, (long)in->hdr->ts.tv_usec);
            if (h->caplen != in->hdr->caplen || h->len != in->hdr->len)
                fz_fail("record %llu: caplen/len %u/%u (libpcap) != %u/%u (mapped)",
                        (unsigned long long)n, h->caplen, h->len, in->hdr->caplen,
                        in->hdr->len);
            if (h->caplen && memcmp(d, in->data, h->caplen) != 0)
                fz_fail("record %llu: packet bytes differ", (unsigned long long)n);
            continue;
        }
        if (r1 == PCAP_ERROR_BREAK) {
            if (r2 != 0)
                fz_fail("record %llu: libpcap at the end, mapped returned %d (%s)",
                        (unsigned long long)n, r2, err);
            return;
        }
        if (r2 != TW_ERR_FORMAT)
            fz_fail("record %llu: libpcap error '%s', mapped returned %d", (unsigned long long)n,
                    pcap_geterr(ref), r2);
        /* the mapped reader's text goes through set_err(): one line, no trailing blank */
        set_err(want, sizeof want, "%s: %s (at byte offset %ld)", path, pcap_geterr(ref), at);
        if (strcmp(want, err) != 0)
            fz_fail("record %llu: error '%s' (libpcap) != '%s' (mapped)", (unsigned long long)n,
                    want, err);
        return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], ebuf[PCAP_ERRBUF_SIZE], err[512];
    const char *pp[1] = {path};
    struct capture *c = NULL;
    pcap_t *ref;
    int fd, rc;

    fd = memfd_create("fuzz_pcapng", MFD_CLOEXEC);
    if (fd < 0 || write_all(fd, data, size) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ref = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    rc = capture_open_files(pp, 1, NULL, &c, err, sizeof err);
    /* capture_open_files() also reads gzip, which libpcap does not */
    if (ref != NULL ? rc != 0 : rc == 0 && !(size >= 2 && data[0] == 0x1f && data[1] == 0x8b))
        fz_fail("libpcap %s the file, capture_open_files() %s (%s)", ref ? "opens" : "refuses",
                rc ? "refuses" : "opens", rc ? err : ebuf);
    if (ref != NULL && c != NULL) {
        struct capture_input *in = &c->in[0];
        capture_map_try(in);
        if (in->map != NULL && in->ng != NULL)
            compare(ref, in, path);
    }
    if (ref != NULL)
        pcap_close(ref);
    capture_close(c);
    close(fd);
    return 0;
}
