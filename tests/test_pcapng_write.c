/*
 * test_pcapng_write.c -- the pcapng writer: files it writes are read back by
 * libpcap (every packet's interface link type, timestamp at the interface's
 * resolution and offset, lengths and bytes) and, when tshark is installed, by
 * tshark (comments, interface names, raw options, the section's application);
 * a section copied in the other byte order is continued in that order; errors
 * name the path.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "twscope/common.h"
#include "twscope/config.h"
#include "twscope/pcapng_write.h"

static char dir[] = "/tmp/twscope-pcapng-XXXXXX";
static char path_main[256], path_be[256];
static int have_tshark;

static uint8_t pkt1[60], pkt2[61], pkt3[1];

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 13u);
}

static const char *c1 = "twscope: first comment";
static const char *c2a = "second packet, comment one: é ünïcode";
static const char *c2b = "second packet, comment two";

/* epb_flags (code 2, 4 bytes): direction inbound (bits 0-1 = 01) */
static const uint8_t raw_flags[8] = {2, 0, 4, 0, 1, 0, 0, 0};

static int write_main(void)
{
    struct pcapng_writer *w;
    char err[512];
    uint32_t if0 = 99, if1 = 99;
    struct pcapng_if a = {.linktype = DLT_EN10MB, .snaplen = 65535,
                          .tsresol = PCAPNG_TSRESOL_USEC, .name = "eth0"};
    struct pcapng_if b = {.linktype = DLT_EN10MB, .snaplen = 65535, /* libpcap wants one link type and snaplen in a file */
                          .tsresol = PCAPNG_TSRESOL_NSEC, .name = "veth-twscope",
                          .has_tsoffset = 1, .tsoffset = 100};
    const char *cm2[] = {c2a, c2b};
    struct pcapng_epb e1 = {.ifid = 0, .ts = 1700000000123456ULL, .caplen = 60, .origlen = 60,
                            .data = pkt1, .comments = &c1, .ncomments = 1};
    struct pcapng_epb e2 = {.ifid = 1, .ts = 1700000000123456789ULL, .caplen = 61,
                            .origlen = 1514, .data = pkt2, .comments = cm2, .ncomments = 2,
                            .opts = raw_flags, .opts_len = sizeof raw_flags};
    struct pcapng_epb e3 = {.ifid = 0, .ts = 1700000001000001ULL, .caplen = 1, .origlen = 1,
                            .data = pkt3};

    FAIL_IF(pcapng_writer_open(path_main, &w, err, sizeof err) != 0);
    FAIL_IF(pcapng_write_shb(w, NULL) != 0);
    FAIL_IF(pcapng_write_interface(w, &a, &if0) != 0);
    FAIL_IF(pcapng_write_interface(w, &b, &if1) != 0);
    FAIL_UNLESS(if0 == 0 && if1 == 1 && pcapng_writer_interfaces(w) == 2);
    FAIL_IF(pcapng_write_epb(w, &e1) != 0);
    FAIL_IF(pcapng_write_epb(w, &e2) != 0);
    FAIL_IF(pcapng_write_epb(w, &e3) != 0);
    FAIL_IF(pcapng_writer_flush(w) != 0);
    FAIL_IF(pcapng_writer_close(w, err, sizeof err) != 0);
    PASS;
}

/* Read path back with libpcap at nanosecond precision; check the three packets. */
static int check_libpcap(const char *path, int with_offset)
{
    char eb[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h;
    const u_char *d;
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, eb);
    if (!p)
        fprintf(stderr, "%s\n", eb);
    FAIL_UNLESS(p);
    FAIL_UNLESS(pcap_datalink(p) == DLT_EN10MB);

    FAIL_UNLESS(pcap_next_ex(p, &h, &d) == 1);
    FAIL_UNLESS(h->ts.tv_sec == 1700000000 && h->ts.tv_usec == 123456000);
    FAIL_UNLESS(h->caplen == 60 && h->len == 60 && memcmp(d, pkt1, 60) == 0);

    FAIL_UNLESS(pcap_next_ex(p, &h, &d) == 1);
    FAIL_UNLESS(h->ts.tv_sec == 1700000000 + (with_offset ? 100 : 0) &&
                h->ts.tv_usec == 123456789);
    FAIL_UNLESS(h->caplen == 61 && h->len == 1514 && memcmp(d, pkt2, 61) == 0);

    FAIL_UNLESS(pcap_next_ex(p, &h, &d) == 1);
    FAIL_UNLESS(h->ts.tv_sec == 1700000001 && h->ts.tv_usec == 1000);
    FAIL_UNLESS(h->caplen == 1 && h->len == 1 && d[0] == pkt3[0]);

    FAIL_UNLESS(pcap_next_ex(p, &h, &d) == PCAP_ERROR_BREAK);
    pcap_close(p);
    PASS;
}

static int test_libpcap_reads_back(void)
{
    FAIL_IF(write_main());
    FAIL_IF(check_libpcap(path_main, 1));
    PASS;
}

/* Run cmd, compare its whole standard output with want. */
static int output_is(const char *cmd, const char *want)
{
    char got[4096];
    size_t n;
    FILE *f = popen(cmd, "r");
    FAIL_UNLESS(f);
    n = fread(got, 1, sizeof got - 1, f);
    got[n] = 0;
    FAIL_IF(pclose(f) != 0);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "%s\n--- got:\n%s--- want:\n%s", cmd, got, want);
    FAIL_UNLESS(strcmp(got, want) == 0);
    PASS;
}

static int test_tshark_reads_back(void)
{
    char cmd[1024], want[1024];
    if (!have_tshark) {
        printf("PARTIAL-SKIP: tshark is not installed: comments and interface names not checked\n");
        PASS;
    }
    /* frame.comment joins repeated comments with ',' */
    snprintf(cmd, sizeof cmd,
             "tshark -r %s -T fields -E separator='|' -e frame.number -e frame.interface_id "
             "-e frame.interface_name -e frame.comment -e frame.len -e frame.cap_len "
             "-e frame.time_epoch -e frame.packet_flags_direction 2>/dev/null",
             path_main);
    snprintf(want, sizeof want,
             "1|0|eth0|%s|60|60|1700000000.123456000|\n"
             "2|1|veth-twscope|%s,%s|1514|61|1700000100.123456789|0x00000001\n"
             "3|0|eth0||1|1|1700000001.000001000|\n",
             c1, c2a, c2b);
    FAIL_IF(output_is(cmd, want));
    snprintf(cmd, sizeof cmd, "capinfos -F %s 2>/dev/null | grep -c 'twscope %s'", path_main,
             TWSCOPE_VERSION);
    if (system("command -v capinfos >/dev/null 2>&1") == 0) /* comes with tshark */
        FAIL_IF(output_is(cmd, "1\n"));
    PASS;
}

/*
 * A big-endian SHB copied from elsewhere: the interface and packets built
 * after it must be big-endian too, or readers see garbage.
 */
static int test_swapped_section(void)
{
    static const uint8_t be_shb[28] = {
        0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28};
    struct pcapng_writer *w;
    char err[512];
    struct pcapng_if a = {.linktype = DLT_EN10MB, .tsresol = PCAPNG_TSRESOL_USEC, .name = "eth0"};
    struct pcapng_if b = {.linktype = DLT_EN10MB, .tsresol = PCAPNG_TSRESOL_NSEC,
                          .has_tsoffset = 1, .tsoffset = 100};
    const char *cm2[] = {c2a, c2b};
    struct pcapng_epb e1 = {.ifid = 0, .ts = 1700000000123456ULL, .caplen = 60, .origlen = 60,
                            .data = pkt1, .comments = &c1, .ncomments = 1};
    struct pcapng_epb e2 = {.ifid = 1, .ts = 1700000000123456789ULL, .caplen = 61,
                            .origlen = 1514, .data = pkt2, .comments = cm2, .ncomments = 2};
    struct pcapng_epb e3 = {.ifid = 0, .ts = 1700000001000001ULL, .caplen = 1, .origlen = 1,
                            .data = pkt3};
    FILE *f;
    uint8_t head[4];

    FAIL_IF(pcapng_writer_open(path_be, &w, err, sizeof err) != 0);
    FAIL_IF(pcapng_write_block(w, be_shb, sizeof be_shb) != 0);
    FAIL_UNLESS(pcapng_writer_swapped(w) == 1 && pcapng_writer_interfaces(w) == 0);
    FAIL_IF(pcapng_write_interface(w, &a, NULL) != 0);
    FAIL_IF(pcapng_write_interface(w, &b, NULL) != 0);
    FAIL_IF(pcapng_write_epb(w, &e1) || pcapng_write_epb(w, &e2) || pcapng_write_epb(w, &e3));
    FAIL_IF(pcapng_writer_close(w, err, sizeof err) != 0);
    /* the IDB after the 28-byte SHB starts with type 1 in big-endian */
    f = fopen(path_be, "rb");
    FAIL_UNLESS(f && fseek(f, 28, SEEK_SET) == 0 && fread(head, 1, 4, f) == 4);
    fclose(f);
    FAIL_UNLESS(head[0] == 0 && head[3] == 1);
    FAIL_IF(check_libpcap(path_be, 1));
    if (have_tshark) {
        char cmd[512], want[512];
        snprintf(cmd, sizeof cmd,
                 "tshark -r %s -T fields -E separator='|' -e frame.comment 2>/dev/null", path_be);
        snprintf(want, sizeof want, "%s\n%s,%s\n\n", c1, c2a, c2b);
        FAIL_IF(output_is(cmd, want));
    }
    PASS;
}

/* Copied blocks are checked, counted (IDB) and written byte for byte. */
static int test_copy_blocks(void)
{
    char p[300], err[512];
    struct pcapng_writer *w;
    uint8_t shb[28], idb[20] = {0};
    uint32_t v;
    FILE *f;
    uint8_t back[48];

    snprintf(p, sizeof p, "%s/copy.pcapng", dir);
    FAIL_IF(pcapng_writer_open(p, &w, err, sizeof err) != 0);
    /* an IDB before any SHB is refused */
    v = PCAPNG_BT_IDB; memcpy(idb, &v, 4);
    v = 20; memcpy(idb + 4, &v, 4); memcpy(idb + 16, &v, 4);
    idb[8] = 1;                        /* linktype 1, little-endian host assumed below */
    FAIL_UNLESS(pcapng_write_block(w, idb, sizeof idb) == TW_ERR_USAGE);
    FAIL_UNLESS(strstr(pcapng_writer_error(w), p) != NULL);
    pcapng_writer_close(w, NULL, 0);

    FAIL_IF(pcapng_writer_open(p, &w, err, sizeof err) != 0);
    v = PCAPNG_BT_SHB; memcpy(shb, &v, 4);
    v = 28; memcpy(shb + 4, &v, 4); memcpy(shb + 24, &v, 4);
    v = PCAPNG_BYTE_ORDER_MAGIC; memcpy(shb + 8, &v, 4);
    shb[12] = 1; shb[13] = 0; shb[14] = 0; shb[15] = 0;
    memset(shb + 16, 0xff, 8);
    FAIL_IF(pcapng_write_block(w, shb, sizeof shb) != 0);
    FAIL_UNLESS(pcapng_writer_swapped(w) == 0);
    FAIL_IF(pcapng_write_block(w, idb, sizeof idb) != 0);
    FAIL_UNLESS(pcapng_writer_interfaces(w) == 1);
    /* lengths that disagree: refused, and the error sticks */
    idb[16] = 24;
    FAIL_UNLESS(pcapng_write_block(w, idb, sizeof idb) == TW_ERR_FORMAT);
    FAIL_UNLESS(pcapng_write_shb(w, NULL) == TW_ERR_FORMAT);
    FAIL_UNLESS(pcapng_writer_close(w, err, sizeof err) == TW_ERR_FORMAT);
    FAIL_UNLESS(strncmp(err, p, strlen(p)) == 0 && strstr(err, "lengths 20/24"));
    f = fopen(p, "rb");
    FAIL_UNLESS(f && fread(back, 1, sizeof back, f) == 48);
    fclose(f);
    idb[16] = 20;
    FAIL_UNLESS(memcmp(back, shb, 28) == 0 && memcmp(back + 28, idb, 20) == 0);
    PASS;
}

/*
 * A copied SHB marked as ours (pcapng_write_shb_marked): its options kept, our
 * comment after them, in its byte order; pcapng_head_is_ours() knows the files
 * this writer starts and no others.
 */
static int test_marked_section(void)
{
    /* big-endian SHB with one option: shb_comment "abc" (padded to 4) */
    static const uint8_t be_shb[36] = {
        0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 36, 0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 3, 'a', 'b', 'c', 0,
        0, 0, 0, 36};
    static const char mark[] = PCAPNG_OURS_COMMENT " " TWSCOPE_VERSION;
    struct pcapng_writer *w;
    char p[300], err[512];
    uint8_t back[256], foreign[64];
    size_t n, want = 24 + 8 + 4 + ((sizeof mark - 1 + 3) & ~(size_t)3) + 4 + 4;
    FILE *f;

    snprintf(p, sizeof p, "%s/marked.pcapng", dir);
    FAIL_IF(pcapng_writer_open(p, &w, err, sizeof err) != 0);
    FAIL_IF(pcapng_write_shb_marked(w, be_shb, sizeof be_shb) != 0);
    FAIL_UNLESS(pcapng_writer_swapped(w) == 1);
    FAIL_IF(pcapng_writer_close(w, err, sizeof err) != 0);
    f = fopen(p, "rb");
    FAIL_UNLESS(f != NULL);
    n = fread(back, 1, sizeof back, f);
    fclose(f);
    FAIL_UNLESS(n == want);
    FAIL_UNLESS(memcmp(back, be_shb, 4) == 0 && back[7] == want && back[n - 1] == want);
    FAIL_UNLESS(memcmp(back + 8, be_shb + 8, 16) == 0);       /* magic, version, length */
    FAIL_UNLESS(memcmp(back + 24, be_shb + 24, 8) == 0);      /* its comment, as it was */
    FAIL_UNLESS(back[32] == 0 && back[33] == 1 && back[35] == sizeof mark - 1); /* ours, BE */
    FAIL_UNLESS(memcmp(back + 36, mark, sizeof mark - 1) == 0);
    FAIL_UNLESS(pcapng_head_is_ours(back, n) == 1);
    FAIL_UNLESS(pcapng_head_is_ours(back, 30) == 0);          /* cut before our option */
    FAIL_UNLESS(pcapng_head_is_ours(be_shb, sizeof be_shb) == 0);
    if (have_tshark) {
        char cmd[512], want_c[256];
        snprintf(cmd, sizeof cmd, "capinfos -k %s 2>/dev/null | grep -c 'comment'", p);
        snprintf(want_c, sizeof want_c, "2\n");
        FAIL_IF(output_is(cmd, want_c));
    }

    /* files the plain writer starts are ours; a little-endian SHB of someone else is not */
    f = fopen(path_main, "rb");
    FAIL_UNLESS(f != NULL);
    n = fread(back, 1, sizeof back, f);
    fclose(f);
    FAIL_UNLESS(pcapng_head_is_ours(back, n) == 1);
    memcpy(foreign, be_shb, sizeof be_shb);
    FAIL_UNLESS(pcapng_head_is_ours(foreign, sizeof be_shb) == 0);
    memset(foreign, 0, sizeof foreign);
    FAIL_UNLESS(pcapng_head_is_ours(foreign, sizeof foreign) == 0);
    memcpy(foreign, "\xd4\xc3\xb2\xa1", 4);                    /* a classic pcap file */
    FAIL_UNLESS(pcapng_head_is_ours(foreign, sizeof foreign) == 0);
    PASS;
}

static int test_errors_name_the_path(void)
{
    char err[512] = "", p[300];
    struct pcapng_writer *w = (void *)1;
    struct pcapng_if a = {.linktype = DLT_EN10MB, .tsresol = PCAPNG_TSRESOL_USEC};
    struct pcapng_epb e = {.ifid = 1, .caplen = 1, .origlen = 1, .data = pkt3};

    snprintf(p, sizeof p, "%s/no/such/dir/x.pcapng", dir);
    FAIL_UNLESS(pcapng_writer_open(p, &w, err, sizeof err) == TW_ERR_IO && w == NULL);
    FAIL_UNLESS(strncmp(err, p, strlen(p)) == 0 && strstr(err, "No such file"));

    /* a packet on an interface the section does not have */
    snprintf(p, sizeof p, "%s/bad-if.pcapng", dir);
    FAIL_IF(pcapng_writer_open(p, &w, err, sizeof err) != 0);
    FAIL_UNLESS(pcapng_write_interface(w, &a, NULL) == TW_ERR_USAGE); /* no SHB yet */
    pcapng_writer_close(w, NULL, 0);
    FAIL_IF(pcapng_writer_open(p, &w, err, sizeof err) != 0);
    FAIL_IF(pcapng_write_shb(w, "a section comment") || pcapng_write_interface(w, &a, NULL));
    FAIL_UNLESS(pcapng_write_epb(w, &e) == TW_ERR_USAGE);
    FAIL_UNLESS(pcapng_writer_close(w, err, sizeof err) == TW_ERR_USAGE);
    FAIL_UNLESS(strncmp(err, p, strlen(p)) == 0 && strstr(err, "interface 1"));

    /* a full disk is reported at close at the latest */
    if (access("/dev/full", W_OK) == 0) {
        e.ifid = 0;
        FAIL_IF(pcapng_writer_open("/dev/full", &w, err, sizeof err) != 0);
        pcapng_write_shb(w, NULL);
        pcapng_write_interface(w, &a, NULL);
        for (int i = 0; i < 10000; i++)
            pcapng_write_epb(w, &e);
        FAIL_UNLESS(pcapng_writer_close(w, err, sizeof err) == TW_ERR_IO);
        FAIL_UNLESS(strcmp(err, "/dev/full: No space left on device") == 0);
    }
    PASS;
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    snprintf(path_main, sizeof path_main, "%s/main.pcapng", dir);
    snprintf(path_be, sizeof path_be, "%s/be.pcapng", dir);
    fill(pkt1, sizeof pkt1, 1);
    fill(pkt2, sizeof pkt2, 77);
    pkt3[0] = 0xab;
    have_tshark = system("tshark -v >/dev/null 2>&1") == 0;

    RUN(test_libpcap_reads_back);
    RUN(test_tshark_reads_back);
    RUN(test_swapped_section);
    RUN(test_copy_blocks);
    RUN(test_marked_section);
    RUN(test_errors_name_the_path);

    if (!test_failures) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    } else {
        fprintf(stderr, "files kept in %s\n", dir);
    }
    TEST_EXIT();
}
