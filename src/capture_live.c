/*
 * capture_live.c -- live interfaces: opening one (capture_open_live()),
 * reading it (capture_next_live(), which capture_next() reaches through the
 * direct path), and listing them (capture_list_interfaces()).
 *
 * Live capture. pcap_create + options + pcap_activate. Immediate mode is left
 * OFF: with TPACKET_V3 the kernel hands over whole blocks, which costs far less
 * CPU and drops fewer packets under load; the read timeout (200 ms default)
 * bounds the latency, which is all an analyzer working on packet time needs.
 * On Linux, libpcap 1.10's pcap_next_ex() never returns 0 on an idle link: it
 * blocks until a packet comes (TPACKET_V3 polls forever; immediate mode loops
 * over its poll timeouts). So the handle is put in non-blocking mode and we
 * poll() its selectable fd ourselves with the read timeout: an idle timeout
 * makes capture_next() return 2, letting the caller check signals, print
 * progress, etc., and capture_break() takes effect within one timeout (at
 * once if the signal interrupts poll()). Where there is no selectable fd the
 * handle stays blocking and relies on pcap_breakloop().
 *
 * Thread: the caller's; a live capture never gets a reader thread
 * (capture_start_reader() leaves it as it is).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>

#include <pcap/pcap.h>

#include "capture_int.h"

/* Local tunables (candidates for config.h). */
#define CAPTURE_DEFAULT_SNAPLEN 262144   /* live snaplen when opts say 0 */
#define CAPTURE_DEFAULT_TIMEOUT_MS 200   /* live read timeout when opts say 0 */

/* 1 if libpcap lists an interface of that name (pseudo-devices included). */
static int iface_exists(const char *name)
{
    char ebuf[PCAP_ERRBUF_SIZE];
    pcap_if_t *devs = NULL;
    int found = 0;

    if (pcap_findalldevs(&devs, ebuf) != 0)
        return 1;       /* cannot tell: do not claim it is missing */
    for (pcap_if_t *d = devs; d != NULL && !found; d = d->next)
        found = strcmp(d->name, name) == 0;
    pcap_freealldevs(devs);
    return found;
}

/* One-line message for a failed pcap_activate(). */
static void activate_error(pcap_t *p, const char *iface, int status, char *err, size_t errlen)
{
    const char *detail = pcap_geterr(p);

    if (detail == NULL || detail[0] == '\0')
        detail = pcap_statustostr(status);
    switch (status) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
        set_err(err, errlen, "capture: %s: No such device exists", iface);
        break;
    case PCAP_ERROR_PERM_DENIED:
        /* Unprivileged, libpcap fails on the socket before it looks at the name. */
        if (!iface_exists(iface))
            set_err(err, errlen, "capture: %s: No such device exists", iface);
        else
            set_err(err, errlen,
                    "capture: %s: permission denied (run as root or grant "
                    "CAP_NET_RAW,CAP_NET_ADMIN)", iface);
        break;
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        set_err(err, errlen,
                "capture: %s: permission denied for promiscuous mode (run as root, "
                "or capture without promiscuous mode)", iface);
        break;
    case PCAP_ERROR_IFACE_NOT_UP:
        set_err(err, errlen, "capture: %s: interface is down", iface);
        break;
    default:
        set_err(err, errlen, "capture: %s: %s", iface, detail);
        break;
    }
}

int capture_open_live(const char *iface, const struct capture_opts *o, struct capture **out,
                      char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    const char *bpf = o != NULL && o->bpf != NULL && o->bpf[0] != '\0' ? o->bpf : NULL;
    int snaplen = o != NULL && o->snaplen > 0 ? o->snaplen : CAPTURE_DEFAULT_SNAPLEN;
    int timeout = o != NULL && o->timeout_ms > 0 ? o->timeout_ms : CAPTURE_DEFAULT_TIMEOUT_MS;
    int buffer_mb = o != NULL ? o->buffer_mb : 0;
    struct capture *c = NULL;
    struct capture_input *in;
    pcap_t *p;
    int status;
    int rc;

    *out = NULL;
    if (iface == NULL || iface[0] == '\0') {
        set_err(err, errlen, "capture: no interface name");
        return TW_ERR_USAGE;
    }
    if (buffer_mb < 0 || buffer_mb > INT_MAX / (1024 * 1024)) {
        set_err(err, errlen, "capture: %s: buffer size %d MB out of range (0..%d)", iface,
                buffer_mb, INT_MAX / (1024 * 1024));
        return TW_ERR_USAGE;
    }
    c = capture_alloc(1);
    if (c == NULL) {
        set_err(err, errlen, "capture: out of memory");
        return TW_ERR_NOMEM;
    }
    c->live = 1;
    in = &c->in[0];
    in->rec_off = -1;
    in->name = strdup(iface);
    if (in->name == NULL) {
        set_err(err, errlen, "capture: out of memory");
        rc = TW_ERR_NOMEM;
        goto fail;
    }

    p = pcap_create(iface, ebuf);
    if (p == NULL) {
        set_err(err, errlen, "capture: %s: %s", iface, ebuf);
        rc = TW_ERR_IO;
        goto fail;
    }
    in->pcap = p;
    pcap_set_snaplen(p, snaplen);
    pcap_set_promisc(p, o != NULL && o->promisc);
    pcap_set_timeout(p, timeout);
    if (buffer_mb > 0)
        pcap_set_buffer_size(p, buffer_mb * 1024 * 1024);
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_MICRO);  /* the default anyway */
    status = pcap_activate(p);
    if (status < 0) {
        activate_error(p, iface, status, err, errlen);
        rc = TW_ERR_IO;
        goto fail;
    }
    /* status > 0 is a warning (e.g. promiscuous mode unsupported): go on. */
    in->linktype = pcap_datalink(p);
    c->timeout_ms = timeout;
    c->live_fd = pcap_get_selectable_fd(p);
    if (c->live_fd >= 0 && pcap_setnonblock(p, 1, ebuf) != 0)
        c->live_fd = -1;        /* blocking reads; pcap_breakloop() still wakes them */

    if (bpf != NULL) {
        bpf_u_int32 net = 0, mask = 0;
        struct bpf_program prog;

        if (pcap_lookupnet(iface, &net, &mask, ebuf) != 0)
            mask = PCAP_NETMASK_UNKNOWN;
        if (pcap_compile(p, &prog, bpf, 1, mask) != 0) {
            set_err(err, errlen, "filter '%s': %s", bpf, pcap_geterr(p));
            rc = TW_ERR_USAGE;
            goto fail;
        }
        status = pcap_setfilter(p, &prog);
        pcap_freecode(&prog);
        if (status != 0) {
            set_err(err, errlen, "capture: %s: cannot set filter '%s': %s", iface, bpf,
                    pcap_geterr(p));
            rc = TW_ERR_IO;
            goto fail;
        }
    }
    *out = c;
    return 0;
fail:
    capture_close(c);
    return rc;
}

int capture_next_live(struct capture *c, struct capture_pkt *p, char *err, size_t errlen)
{
    struct capture_input *in = &c->in[0];
    struct pcap_pkthdr *hdr;
    const u_char *data;
    struct pollfd pfd;
    int r;

    for (;;) {
        if (c->stop)
            return 0;
        r = pcap_next_ex(in->pcap, &hdr, &data);
        if (r == 1) {
            in->frame++;
            c->frames_read++;
            in->hdr = hdr;
            in->data = data;
            in->pend_ts = ts_usec(&hdr->ts);
            in->pend_frame = in->frame;
            fill_pkt(p, in, 0);
            return 1;
        }
        if (r == PCAP_ERROR_BREAK)
            return 0;
        if (r != 0) {
            set_err(err, errlen, "capture: %s: %s", in->name, pcap_geterr(in->pcap));
            return TW_ERR_IO;
        }
        if (c->live_fd < 0)
            return c->stop ? 0 : 2;
        pfd.fd = c->live_fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        r = poll(&pfd, 1, c->timeout_ms);
        if (r == 0)
            return c->stop ? 0 : 2;
        if (r < 0 && errno != EINTR) {
            set_err(err, errlen, "capture: %s: poll: %s", in->name, strerror(errno));
            return TW_ERR_IO;
        }
        /* readable, an error condition for libpcap to report, or a signal */
    }
}

int capture_list_interfaces(FILE *out, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_if_t *devs = NULL;
    int rc = 0;

    if (pcap_findalldevs(&devs, ebuf) != 0) {
        set_err(err, errlen, "capture: cannot list interfaces: %s", ebuf);
        return TW_ERR_IO;
    }
    if (devs == NULL) {
        set_err(err, errlen,
                "capture: no interfaces available (run as root or grant "
                "CAP_NET_RAW,CAP_NET_ADMIN)");
        return TW_ERR_IO;
    }
    for (pcap_if_t *d = devs; d != NULL; d = d->next) {
        char flags[64];

        snprintf(flags, sizeof flags, "%s%s%s%s", d->flags & PCAP_IF_UP ? "up" : "down",
                 d->flags & PCAP_IF_RUNNING ? ",running" : "",
                 d->flags & PCAP_IF_LOOPBACK ? ",loopback" : "",
                 d->flags & PCAP_IF_WIRELESS ? ",wireless" : "");
        if (d->description != NULL && d->description[0] != '\0')
            fprintf(out, "%-16s %-24s %s\n", d->name, flags, d->description);
        else
            fprintf(out, "%-16s %s\n", d->name, flags);
    }
    pcap_freealldevs(devs);
    if (fflush(out) != 0 || ferror(out)) {
        set_err(err, errlen, "capture: cannot write the interface list: %s", strerror(errno));
        rc = TW_ERR_IO;
    }
    return rc;
}
