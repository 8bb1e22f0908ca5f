/*
 * fuzz_decode.c -- libFuzzer target for decode_packet().
 *
 * Input: one selector byte (link type fz_links[b % fz_nlinks]: every type
 * decode_linktype_supported() accepts, plus one it does not), then the frame.
 * The frame is copied into a buffer of exactly its size so that ASan sees a
 * read one byte past the captured length. On DECODE_OK every pointer of the
 * view must lie inside the frame and its bytes are read; the canonical flow
 * key is built as the engine would.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static volatile uint32_t sink;

static void in_frame(const uint8_t *p, size_t n, const uint8_t *buf, size_t len, const char *what)
{
    if (n == 0)
        return;
    if (!p)
        fz_fail("%s: NULL with %zu bytes", what, n);
    if (p < buf || p + n > buf + len || p + n < p)
        fz_fail("%s: %zu bytes at offset %td outside the %zu-byte frame", what, n, p - buf, len);
    for (size_t i = 0; i < n; i++)
        sink += p[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pkt_view pv;
    struct flow_key k;
    enum decode_result r;
    uint8_t *buf;
    size_t len;
    int lt;

    if (size < 1)
        return 0;
    fz_links_init();
    lt = fz_links[data[0] % fz_nlinks];
    len = size - 1;
    buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, len);

    memset(&pv, 0xa5, sizeof(pv)); /* decode_packet() must overwrite all of it */
    r = decode_packet(lt, len ? buf : NULL, (uint32_t)len, &pv);
    if ((unsigned)r >= DECODE_RESULT_COUNT)
        fz_fail("result %d out of range", (int)r);
    if (!decode_result_name(r) || !strcmp(decode_result_name(r), "unknown"))
        fz_fail("result %d has no name", (int)r);
    if (lt == FZ_LINK_UNSUPPORTED && r != DECODE_UNSUPPORTED_LINK)
        fz_fail("unsupported link type %d gave %s", lt, decode_result_name(r));
    if (lt != FZ_LINK_UNSUPPORTED && r == DECODE_UNSUPPORTED_LINK)
        fz_fail("supported link type %d gave unsupported_link", lt);

    if (r == DECODE_OK) {
        size_t alen = pv.ip_version == 6 ? 16 : 4;
        if (pv.ip_version != 4 && pv.ip_version != 6)
            fz_fail("ip_version %u", pv.ip_version);
        in_frame(pv.src, alen, buf, len, "src");
        in_frame(pv.dst, alen, buf, len, "dst");
        in_frame(pv.l3, pv.l3_caplen, buf, len, "l3");
        if (pv.payload_caplen)
            in_frame(pv.payload, pv.payload_caplen, buf, len, "payload");
        if (pv.payload_caplen > pv.payload_len)
            fz_fail("payload_caplen %u > payload_len %u", pv.payload_caplen, pv.payload_len);
        if (pv.tcp_hdr_len < 20 || pv.tcp_hdr_len > 60 || (pv.tcp_hdr_len & 3))
            fz_fail("tcp_hdr_len %u", pv.tcp_hdr_len);
        if (pv.opt_count > DECODE_OPT_SIG_LEN)
            fz_fail("opt_count %u", pv.opt_count);
        if (pv.wscale != 0xff && pv.wscale > 14)
            fz_fail("wscale %u", pv.wscale);
        if (pv.l3 && pv.payload_caplen &&
            (pv.payload < pv.l3 || pv.payload + pv.payload_caplen > pv.l3 + pv.l3_caplen))
            fz_fail("payload outside the IP packet");
        if (!pv.truncated && pv.payload_caplen != pv.payload_len)
            fz_fail("payload cut (%u of %u) but not marked truncated", pv.payload_caplen,
                    pv.payload_len);
        if (flow_key_from_pkt(&pv, 0, &k) > 1)
            fz_fail("flow_key_from_pkt endpoint");
        sink += k.port[0];
    }
    free(buf);
    return 0;
}
