/*
 * tcpgen.c -- make the real Linux TCP stack act out teardown / TIME_WAIT
 * scenarios, for twscope's end-to-end tests and the samples/ captures.
 *
 * This is a test tool, not part of twscope: it has no dependency beyond libc
 * and the Linux UAPI headers. gen.sh drives it inside two network namespaces
 * joined by a veth pair and captures the result with tcpdump.
 *
 * Roles (first argument):
 *   server       listen on --addr/--port, serve --count connections, and end
 *                each one as --mode says (who closes first, RST, timed
 *                shutdown).
 *   client       connect --count times, optionally always from --bind-port
 *                (SO_REUSEADDR), and end each connection as --mode says.
 *   inject       re-send one segment through a raw socket: a frame picked
 *                from a pcap (as is, or turned into an in-window RST), or a
 *                hand-built segment. IPv4 uses IPPROTO_RAW (implies
 *                IP_HDRINCL), IPv6 uses AF_INET6/IPPROTO_RAW (implies
 *                IPV6_HDRINCL); --ifname sends the whole Ethernet frame on
 *                an AF_PACKET socket instead.
 *   offload-off  turn TX checksum offload off on --ifname (SIOCETHTOOL), so
 *                the checksums in a veth capture are real ones.
 *
 * Wire protocol between client and server: the client sends exactly
 * --request-size bytes, the server answers with exactly --reply-size bytes.
 *
 * Every step prints one line "tcpgen role=R event=E key=value..." on stdout
 * (flushed at once): gen.sh waits on those lines and derives the truth files
 * from them. Every role arms alarm(--timeout) so that nothing hangs; socket
 * reads and writes also carry SO_RCVTIMEO/SO_SNDTIMEO.
 *
 * Exit status: 0 done, 1 runtime failure, 2 usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GEN_DEFAULT_TIMEOUT_S 20       /* alarm() for every role           */
#define GEN_IO_TIMEOUT_S      10       /* SO_RCVTIMEO / SO_SNDTIMEO        */
#define GEN_DEFAULT_REQUEST   64       /* bytes client -> server           */
#define GEN_DEFAULT_REPLY     256      /* bytes server -> client           */
#define GEN_MAX_MSG           65536    /* cap for request / reply sizes    */
#define GEN_CONNECT_RETRIES   100      /* bind/connect retries, 20 ms each */
#define GEN_MAX_PKT           65535    /* largest L3 packet we rebuild     */

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10

enum gen_mode {
    MODE_CLOSE_FIRST,                  /* this side closes first           */
    MODE_WAIT_CLOSE,                   /* wait for the peer's FIN, then close */
    MODE_RST,                          /* abort: SO_LINGER {1,0} + close   */
    MODE_SHUTDOWN_AT                   /* shutdown(SHUT_WR) at --at-ms     */
};

struct gen_opts {
    const char *role;                  /* server|client|inject|offload-off */
    const char *addr;                  /* server address (client/server)   */
    unsigned port;                     /* server port                      */
    unsigned bind_port;                /* client: fixed local port, 0=any  */
    unsigned count;                    /* connections to make / serve      */
    enum gen_mode mode;                /* how each connection ends         */
    unsigned request_size;             /* bytes client -> server           */
    unsigned reply_size;               /* bytes server -> client           */
    unsigned close_delay_ms;           /* server: pause before close()     */
    unsigned gap_ms;                   /* client: pause between connections */
    unsigned hold_ms;                  /* client: pause before the last request */
    long long at_ms;                   /* shutdown-at: CLOCK_REALTIME ms   */
    unsigned timeout_s;                /* alarm()                          */
    /* inject */
    const char *pcap;                  /* --from-pcap                      */
    unsigned frame;                    /* --frame N (1-based), 0 = use pick */
    const char *pick;                  /* data|fin|syn|rst|any             */
    unsigned nth;                      /* n-th match (1-based)             */
    int last;                          /* take the last match              */
    int as_rst;                        /* turn the picked frame into a RST */
    int m_sport, m_dport;              /* pick filters, -1 = any           */
    const char *ifname;                /* AF_PACKET / offload-off device   */
    /* hand-built segment */
    const char *src, *dst;             /* addresses                        */
    int sport, dport;                  /* ports, -1 = unset                */
    unsigned long seq, ack;            /* sequence / ack numbers           */
    const char *flags;                 /* e.g. "RA", "PA", "F"             */
    unsigned payload_len;              /* bytes of 'x' payload             */
};

/* A TCP segment found in a pcap: offsets into the file buffer. */
struct gen_seg {
    unsigned frame;                    /* 1-based record number            */
    const uint8_t *l2;                 /* Ethernet header or NULL          */
    const uint8_t *l3;                 /* IP header                        */
    size_t l3_len;                     /* IP total length (trimmed)        */
    int family;                        /* AF_INET / AF_INET6               */
    size_t ip_hlen;                    /* IP header length                 */
    size_t tcp_hlen;                   /* TCP header length                */
    size_t payload_len;                /* TCP payload bytes                */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
};

static const char *gen_role = "tcpgen";

/* ---------------------------------------------------------------- utils -- */

static void gen_emit(const char *fmt, ...)
{
    va_list ap;

    printf("tcpgen role=%s ", gen_role);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void gen_fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "tcpgen %s: ", gen_role);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void on_alarm(int sig)
{
    static const char msg[] = "tcpgen: timeout, giving up\n";

    (void)sig;
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(1);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static long long now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Sleep until CLOCK_REALTIME reaches at_ms: both namespaces share the clock,
 * so two processes meet at the same instant. The last 2 ms are spun to take
 * the scheduler's wake-up latency out of the rendezvous.
 */
static void sleep_until_ms(long long at_ms)
{
    struct timespec ts;
    long long coarse = at_ms - 2;

    ts.tv_sec = (time_t)(coarse / 1000);
    ts.tv_nsec = (long)(coarse % 1000) * 1000000L;
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
    for (;;) {
        clock_gettime(CLOCK_REALTIME, &ts);
        if ((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec >= at_ms * 1000000LL)
            break;
    }
}

static int parse_addr(const char *s, unsigned port, struct sockaddr_storage *ss,
                      socklen_t *len)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return 0;
    }
    return -1;
}

static unsigned sock_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void sock_set_timeouts(int fd)
{
    struct timeval tv = { GEN_IO_TIMEOUT_S, 0 };

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read exactly len bytes. Returns 0, or -1 on error / early EOF. */
static int read_exact(int fd, uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read and discard until EOF. Returns bytes read, or -1 on error. */
static long read_to_eof(int fd)
{
    uint8_t buf[4096];
    long total = 0;

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return total;
        total += n;
    }
}

static void fill_pattern(uint8_t *buf, size_t len, const char *tag, unsigned idx)
{
    char head[64];
    size_t i, hl;

    hl = (size_t)snprintf(head, sizeof(head), "tcpgen %s %u ", tag, idx);
    for (i = 0; i < len; i++)
        buf[i] = i < hl ? (uint8_t)head[i] : (uint8_t)('a' + i % 26);
    if (len > 0)
        buf[len - 1] = '\n';
}

static int sock_abort(int fd)
{
    struct linger lg = { 1, 0 };

    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
        return -1;
    return close(fd);
}

/*
 * End one established connection according to mode. For MODE_CLOSE_FIRST
 * and MODE_RST the caller has already read the peer's message.
 */
static int conn_finish(int fd, const struct gen_opts *o, unsigned idx, unsigned delay_ms)
{
    long long late_us;
    long n;

    switch (o->mode) {
    case MODE_CLOSE_FIRST:
        if (delay_ms)
            sleep_ms(delay_ms);
        if (close(fd) < 0)
            return -1;
        gen_emit("event=closed idx=%u first=1", idx);
        return 0;
    case MODE_WAIT_CLOSE:
        n = read_to_eof(fd);
        if (n < 0 && errno == ECONNRESET) {
            gen_emit("event=peer_rst idx=%u", idx);
            close(fd);
            return 0;
        }
        if (n < 0) {
            gen_fail("conn %u: waiting for peer FIN: %s", idx, strerror(errno));
            close(fd);
            return -1;
        }
        gen_emit("event=peer_fin idx=%u", idx);
        if (delay_ms)
            sleep_ms(delay_ms);
        if (close(fd) < 0)
            return -1;
        gen_emit("event=closed idx=%u first=0", idx);
        return 0;
    case MODE_RST:
        if (delay_ms)
            sleep_ms(delay_ms);
        if (sock_abort(fd) < 0)
            return -1;
        gen_emit("event=reset idx=%u", idx);
        return 0;
    case MODE_SHUTDOWN_AT:
        sleep_until_ms(o->at_ms);
        late_us = now_us() - o->at_ms * 1000;
        if (shutdown(fd, SHUT_WR) < 0)
            return -1;
        gen_emit("event=shutdown idx=%u late_us=%lld", idx, late_us);
        n = read_to_eof(fd);
        if (n < 0) {
            gen_fail("conn %u: waiting for peer FIN: %s", idx, strerror(errno));
            close(fd);
            return -1;
        }
        if (close(fd) < 0)
            return -1;
        gen_emit("event=closed idx=%u", idx);
        return 0;
    }
    return -1;
}

/* --------------------------------------------------------------- server -- */

static int run_server(const struct gen_opts *o)
{
    struct sockaddr_storage sa, peer;
    socklen_t sl, pl;
    uint8_t *req = NULL, *rep = NULL;
    int lfd = -1, one = 1, rc = 1;
    unsigned i;

    if (parse_addr(o->addr, o->port, &sa, &sl) < 0) {
        gen_fail("bad --addr %s", o->addr);
        return 2;
    }
    req = malloc(o->request_size + 1);
    rep = malloc(o->reply_size + 1);
    if (!req || !rep)
        goto out;
    lfd = socket(sa.ss_family, SOCK_STREAM, 0);
    if (lfd < 0) {
        gen_fail("socket: %s", strerror(errno));
        goto out;
    }
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&sa, sl) < 0 || listen(lfd, 64) < 0) {
        gen_fail("bind/listen %s:%u: %s", o->addr, o->port, strerror(errno));
        goto out;
    }
    gen_emit("event=listening addr=%s port=%u", o->addr, o->port);

    for (i = 1; i <= o->count; i++) {
        int fd;

        pl = sizeof(peer);
        fd = accept(lfd, (struct sockaddr *)&peer, &pl);
        if (fd < 0) {
            if (errno == EINTR) {
                i--;
                continue;
            }
            gen_fail("accept: %s", strerror(errno));
            goto out;
        }
        sock_set_timeouts(fd);
        gen_emit("event=accepted idx=%u rport=%u", i, sock_port(&peer));
        if (read_exact(fd, req, o->request_size) < 0) {
            gen_fail("conn %u: short request", i);
            close(fd);
            goto out;
        }
        fill_pattern(rep, o->reply_size, "reply", i);
        if (write_all(fd, rep, o->reply_size) < 0) {
            gen_fail("conn %u: write reply: %s", i, strerror(errno));
            close(fd);
            goto out;
        }
        gen_emit("event=replied idx=%u bytes=%u", i, o->reply_size);
        if (conn_finish(fd, o, i, o->close_delay_ms) < 0) {
            gen_fail("conn %u: finish: %s", i, strerror(errno));
            goto out;
        }
    }
    gen_emit("event=done count=%u", o->count);
    rc = 0;
out:
    if (lfd >= 0)
        close(lfd);
    free(req);
    free(rep);
    return rc;
}

/* --------------------------------------------------------------- client -- */

/*
 * Open one connection, from o->bind_port if set. A fixed port can be briefly
 * unavailable (the previous incarnation still in LAST_ACK on our side), so
 * bind/connect failures with EADDRINUSE / EADDRNOTAVAIL are retried.
 */
static int client_connect(const struct gen_opts *o, const struct sockaddr_storage *sa,
                          socklen_t sl)
{
    unsigned attempt;

    for (attempt = 0; attempt < GEN_CONNECT_RETRIES; attempt++) {
        int fd = socket(sa->ss_family, SOCK_STREAM, 0), one = 1, err;

        if (fd < 0)
            return -1;
        sock_set_timeouts(fd);
        if (o->bind_port) {
            struct sockaddr_storage la;
            socklen_t ll;

            parse_addr(sa->ss_family == AF_INET ? "0.0.0.0" : "::", o->bind_port, &la,
                       &ll);
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(fd, (struct sockaddr *)&la, ll) < 0) {
                err = errno;
                close(fd);
                if (err == EADDRINUSE || err == EADDRNOTAVAIL) {
                    sleep_ms(20);
                    continue;
                }
                errno = err;
                return -1;
            }
        }
        if (connect(fd, (const struct sockaddr *)sa, sl) == 0)
            return fd;
        err = errno;
        close(fd);
        if (err != EADDRINUSE && err != EADDRNOTAVAIL) {
            errno = err;
            return -1;
        }
        sleep_ms(20);
    }
    errno = EADDRNOTAVAIL;
    return -1;
}

static int run_client(const struct gen_opts *o)
{
    struct sockaddr_storage sa, la;
    socklen_t sl, ll;
    uint8_t *req = NULL, *rep = NULL;
    int rc = 1;
    unsigned i;

    if (parse_addr(o->addr, o->port, &sa, &sl) < 0) {
        gen_fail("bad --addr %s", o->addr);
        return 2;
    }
    req = malloc(o->request_size + 1);
    rep = malloc(o->reply_size + 1);
    if (!req || !rep)
        goto out;

    for (i = 1; i <= o->count; i++) {
        int fd = client_connect(o, &sa, sl);

        if (fd < 0) {
            gen_fail("conn %u: connect %s:%u: %s", i, o->addr, o->port, strerror(errno));
            goto out;
        }
        ll = sizeof(la);
        getsockname(fd, (struct sockaddr *)&la, &ll);
        gen_emit("event=connected idx=%u lport=%u", i, sock_port(&la));
        if (i == o->count && o->hold_ms)
            sleep_ms(o->hold_ms);
        fill_pattern(req, o->request_size, "request", i);
        if (write_all(fd, req, o->request_size) < 0) {
            gen_fail("conn %u: write request: %s", i, strerror(errno));
            close(fd);
            goto out;
        }
        if (o->mode != MODE_WAIT_CLOSE && read_exact(fd, rep, o->reply_size) < 0) {
            gen_fail("conn %u: short reply", i);
            close(fd);
            goto out;
        }
        if (conn_finish(fd, o, i, 0) < 0) {
            gen_fail("conn %u: finish: %s", i, strerror(errno));
            goto out;
        }
        if (o->gap_ms && i < o->count)
            sleep_ms(o->gap_ms);
    }
    gen_emit("event=done count=%u", o->count);
    rc = 0;
out:
    free(req);
    free(rep);
    return rc;
}

/* --------------------------------------------------------------- inject -- */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i += 2)
        sum += rd16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Recompute the IPv4 header checksum (if v4) and the TCP checksum in place. */
static void pkt_fix_checksums(uint8_t *pkt, size_t len, int family, size_t ip_hlen)
{
    uint8_t *tcp = pkt + ip_hlen;
    size_t tlen = len - ip_hlen;
    uint32_t sum = 0;

    if (family == AF_INET) {
        wr16(pkt + 10, 0);
        wr16(pkt + 10, csum_fold(csum_add(0, pkt, ip_hlen)));
        sum = csum_add(sum, pkt + 12, 8);                       /* src + dst */
        sum += 6 + (uint32_t)tlen;
    } else {
        sum = csum_add(sum, pkt + 8, 32);                       /* src + dst */
        sum += (uint32_t)(tlen >> 16) + (uint32_t)(tlen & 0xffff) + 6;
    }
    wr16(tcp + 16, 0);
    wr16(tcp + 16, csum_fold(csum_add(sum, tcp, tlen)));
}

/*
 * Decode one captured frame down to TCP. Returns 0 if it is an unfragmented
 * TCP segment that fits the capture, -1 otherwise (not an error: skip it).
 */
static int seg_decode(struct gen_seg *s, unsigned linktype, const uint8_t *p, size_t len)
{
    size_t off = 0;
    uint16_t etype = 0;
    const uint8_t *ip, *tcp;
    size_t iplen;

    s->l2 = NULL;
    if (linktype == 1) {                                        /* Ethernet */
        if (len < 14)
            return -1;
        s->l2 = p;
        etype = rd16(p + 12);
        off = 14;
        while ((etype == 0x8100 || etype == 0x88a8) && len >= off + 4) {
            etype = rd16(p + off + 2);
            off += 4;
        }
    } else if (linktype == 113) {                               /* Linux SLL */
        if (len < 16)
            return -1;
        etype = rd16(p + 14);
        off = 16;
    } else if (linktype == 101 || linktype == 12) {             /* raw IP */
        if (len < 1)
            return -1;
        etype = (p[0] >> 4) == 6 ? 0x86dd : 0x0800;
    } else {
        return -1;
    }
    ip = p + off;
    iplen = len - off;
    if (etype == 0x0800) {
        size_t ihl, tot;

        if (iplen < 20 || (ip[0] >> 4) != 4)
            return -1;
        ihl = (size_t)(ip[0] & 15) * 4;
        tot = rd16(ip + 2);
        if (ihl < 20 || tot < ihl + 20 || tot > iplen || ip[9] != 6)
            return -1;
        if (rd16(ip + 6) & 0x3fff)                              /* fragment */
            return -1;
        s->family = AF_INET;
        s->ip_hlen = ihl;
        s->l3_len = tot;
    } else if (etype == 0x86dd) {
        size_t tot;

        if (iplen < 40 || (ip[0] >> 4) != 6 || ip[6] != 6)   /* no ext headers */
            return -1;
        tot = 40 + (size_t)rd16(ip + 4);
        if (tot < 60 || tot > iplen)
            return -1;
        s->family = AF_INET6;
        s->ip_hlen = 40;
        s->l3_len = tot;
    } else {
        return -1;
    }
    s->l3 = ip;
    tcp = ip + s->ip_hlen;
    s->tcp_hlen = (size_t)(tcp[12] >> 4) * 4;
    if (s->tcp_hlen < 20 || s->ip_hlen + s->tcp_hlen > s->l3_len)
        return -1;
    s->payload_len = s->l3_len - s->ip_hlen - s->tcp_hlen;
    s->sport = rd16(tcp);
    s->dport = rd16(tcp + 2);
    s->seq = rd32(tcp + 4);
    s->ack = rd32(tcp + 8);
    s->flags = tcp[13];
    return 0;
}

static int seg_matches(const struct gen_seg *s, const struct gen_opts *o)
{
    const char *k = o->pick ? o->pick : "any";

    if (o->m_sport >= 0 && s->sport != o->m_sport)
        return 0;
    if (o->m_dport >= 0 && s->dport != o->m_dport)
        return 0;
    if (!strcmp(k, "data"))
        return s->payload_len > 0;
    if (!strcmp(k, "fin"))
        return (s->flags & TCPF_FIN) != 0;
    if (!strcmp(k, "syn"))
        return (s->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN;
    if (!strcmp(k, "rst"))
        return (s->flags & TCPF_RST) != 0;
    return 1;
}

static uint8_t *file_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f)
        return NULL;
    for (;;) {
        size_t got;

        if (n == cap) {
            uint8_t *nb = realloc(buf, cap ? cap * 2 : 65536);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = cap ? cap * 2 : 65536;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

/*
 * Find the wanted segment in a classic pcap file (the file may still be
 * written by tcpdump -U: a truncated last record just ends the scan).
 * Returns 0 and fills *out (pointing into buf), -1 if not found.
 */
static int pcap_find(const uint8_t *buf, size_t len, const struct gen_opts *o,
                     struct gen_seg *out)
{
    uint32_t magic;
    int swap;
    unsigned linktype, frame = 0, matches = 0, found = 0;
    size_t off = 24;

    if (len < 24)
        return -1;
    magic = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
            (uint32_t)buf[3] << 24;
    if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d)
        swap = 0;
    else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1)
        swap = 1;
    else {
        gen_fail("%s: not a classic pcap file", o->pcap);
        return -1;
    }
#define PCAP_U32(p) (swap ? rd32(p) : ((uint32_t)(p)[0] | (uint32_t)(p)[1] << 8 | \
                     (uint32_t)(p)[2] << 16 | (uint32_t)(p)[3] << 24))
    linktype = PCAP_U32(buf + 20) & 0xffff;
    while (off + 16 <= len) {
        uint32_t incl = PCAP_U32(buf + off + 8);
        struct gen_seg s;

        if (incl > len - off - 16)
            break;
        frame++;
        memset(&s, 0, sizeof(s));
        if (seg_decode(&s, linktype, buf + off + 16, incl) == 0) {
            s.frame = frame;
            if (o->frame ? frame == o->frame : seg_matches(&s, o)) {
                matches++;
                if (o->frame || o->last || matches == o->nth) {
                    *out = s;
                    found = 1;
                    if (!o->last)
                        break;
                }
            }
        } else if (o->frame == frame) {
            gen_fail("frame %u is not a TCP segment", frame);
            return -1;
        }
        off += 16 + incl;
    }
#undef PCAP_U32
    return found ? 0 : -1;
}

/* Build a bare TCP segment (no options) with the given fields into pkt. */
static size_t pkt_build(uint8_t *pkt, int family, const uint8_t *saddr,
                        const uint8_t *daddr, uint16_t sport, uint16_t dport,
                        uint32_t seq, uint32_t ack, uint8_t flags, size_t plen,
                        size_t *ip_hlen)
{
    size_t hl = family == AF_INET ? 20 : 40, len = hl + 20 + plen;
    uint8_t *tcp = pkt + hl;

    memset(pkt, 0, len);
    if (family == AF_INET) {
        pkt[0] = 0x45;
        wr16(pkt + 2, (uint16_t)len);
        wr16(pkt + 6, 0x4000);                                  /* DF */
        pkt[8] = 64;
        pkt[9] = 6;
        memcpy(pkt + 12, saddr, 4);
        memcpy(pkt + 16, daddr, 4);
    } else {
        pkt[0] = 0x60;
        wr16(pkt + 4, (uint16_t)(20 + plen));
        pkt[6] = 6;
        pkt[7] = 64;
        memcpy(pkt + 8, saddr, 16);
        memcpy(pkt + 24, daddr, 16);
    }
    wr16(tcp, sport);
    wr16(tcp + 2, dport);
    wr32(tcp + 4, seq);
    wr32(tcp + 8, ack);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    wr16(tcp + 14, flags & TCPF_RST ? 0 : 502);
    memset(tcp + 20, 'x', plen);
    *ip_hlen = hl;
    return len;
}

static int parse_flags(const char *s, uint8_t *out)
{
    uint8_t f = 0;

    for (; *s; s++) {
        switch (*s) {
        case 'F': f |= TCPF_FIN; break;
        case 'S': f |= TCPF_SYN; break;
        case 'R': f |= TCPF_RST; break;
        case 'P': f |= TCPF_PSH; break;
        case 'A': f |= TCPF_ACK; break;
        default: return -1;
        }
    }
    *out = f;
    return 0;
}

static void flags_str(uint8_t f, char *buf)
{
    char *p = buf;

    if (f & TCPF_SYN) *p++ = 'S';
    if (f & TCPF_FIN) *p++ = 'F';
    if (f & TCPF_RST) *p++ = 'R';
    if (f & TCPF_PSH) *p++ = 'P';
    if (f & TCPF_ACK) *p++ = 'A';
    if (p == buf) *p++ = '.';
    *p = 0;
}

/* Send an L3 packet (IP header onwards), or a whole frame on --ifname. */
static int pkt_send(const struct gen_opts *o, const uint8_t *l2, const uint8_t *pkt,
                    size_t len, int family)
{
    int fd, rc = -1;

    if (o->ifname) {
        static uint8_t frame[14 + GEN_MAX_PKT];
        struct sockaddr_ll sll;

        if (!l2) {
            gen_fail("--ifname needs an Ethernet frame from --from-pcap");
            return -1;
        }
        memcpy(frame, l2, 12);
        wr16(frame + 12, family == AF_INET ? 0x0800 : 0x86dd);
        memcpy(frame + 14, pkt, len);
        fd = socket(AF_PACKET, SOCK_RAW, 0);
        if (fd < 0) {
            gen_fail("AF_PACKET socket: %s", strerror(errno));
            return -1;
        }
        memset(&sll, 0, sizeof(sll));
        sll.sll_family = AF_PACKET;
        sll.sll_ifindex = (int)if_nametoindex(o->ifname);
        sll.sll_halen = 6;
        memcpy(sll.sll_addr, frame, 6);
        if (sll.sll_ifindex == 0)
            gen_fail("no interface %s", o->ifname);
        else if (sendto(fd, frame, len + 14, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
            gen_fail("AF_PACKET sendto: %s", strerror(errno));
        else
            rc = 0;
        close(fd);
        return rc;
    }

    fd = socket(family, SOCK_RAW, IPPROTO_RAW);
    if (fd < 0) {
        gen_fail("raw socket: %s", strerror(errno));
        return -1;
    }
    if (family == AF_INET) {
        struct sockaddr_in dst;
        int one = 1;

        setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one));
        memset(&dst, 0, sizeof(dst));
        dst.sin_family = AF_INET;
        memcpy(&dst.sin_addr, pkt + 16, 4);
        if (sendto(fd, pkt, len, 0, (struct sockaddr *)&dst, sizeof(dst)) < 0)
            gen_fail("sendto: %s", strerror(errno));
        else
            rc = 0;
    } else {
        struct sockaddr_in6 dst;

        memset(&dst, 0, sizeof(dst));
        dst.sin6_family = AF_INET6;
        memcpy(&dst.sin6_addr, pkt + 24, 16);
        if (sendto(fd, pkt, len, 0, (struct sockaddr *)&dst, sizeof(dst)) < 0)
            gen_fail("sendto: %s", strerror(errno));
        else
            rc = 0;
    }
    close(fd);
    return rc;
}

static int run_inject(const struct gen_opts *o)
{
    static uint8_t pkt[GEN_MAX_PKT];
    uint8_t *buf = NULL;
    size_t blen = 0, len, ip_hlen;
    const uint8_t *l2 = NULL;
    struct gen_seg s;
    int family, rc = 1;
    unsigned frame = 0;
    char fl[8];

    memset(&s, 0, sizeof(s));
    if (o->pcap) {
        buf = file_slurp(o->pcap, &blen);
        if (!buf) {
            gen_fail("cannot read %s: %s", o->pcap, strerror(errno));
            return 1;
        }
        if (pcap_find(buf, blen, o, &s) < 0) {
            gen_fail("%s: no segment matches", o->pcap);
            goto out;
        }
        family = s.family;
        frame = s.frame;
        l2 = s.l2;
        ip_hlen = s.ip_hlen;
        if (o->as_rst) {
            uint32_t seq = s.seq + (uint32_t)s.payload_len + !!(s.flags & TCPF_FIN) +
                           !!(s.flags & TCPF_SYN);
            const uint8_t *sa = s.l3 + (family == AF_INET ? 12 : 8);
            const uint8_t *da = s.l3 + (family == AF_INET ? 16 : 24);

            len = pkt_build(pkt, family, sa, da, s.sport, s.dport, seq, s.ack,
                            TCPF_RST | TCPF_ACK, 0, &ip_hlen);
        } else {
            len = s.l3_len;
            memcpy(pkt, s.l3, len);
        }
    } else {
        struct sockaddr_storage a, b;
        socklen_t al;
        uint8_t f;

        if (!o->src || !o->dst || o->sport < 0 || o->dport < 0 || !o->flags) {
            gen_fail("hand-built segment needs --src --dst --sport --dport --flags");
            rc = 2;
            goto out;
        }
        if (parse_addr(o->src, 0, &a, &al) < 0 || parse_addr(o->dst, 0, &b, &al) < 0 ||
            a.ss_family != b.ss_family || parse_flags(o->flags, &f) < 0 ||
            o->payload_len > 1400) {
            gen_fail("bad --src/--dst/--flags/--payload-len");
            rc = 2;
            goto out;
        }
        family = a.ss_family;
        if (family == AF_INET)
            len = pkt_build(pkt, family,
                            (uint8_t *)&((struct sockaddr_in *)&a)->sin_addr,
                            (uint8_t *)&((struct sockaddr_in *)&b)->sin_addr,
                            (uint16_t)o->sport, (uint16_t)o->dport, (uint32_t)o->seq,
                            (uint32_t)o->ack, f, o->payload_len, &ip_hlen);
        else
            len = pkt_build(pkt, family,
                            (uint8_t *)&((struct sockaddr_in6 *)&a)->sin6_addr,
                            (uint8_t *)&((struct sockaddr_in6 *)&b)->sin6_addr,
                            (uint16_t)o->sport, (uint16_t)o->dport, (uint32_t)o->seq,
                            (uint32_t)o->ack, f, o->payload_len, &ip_hlen);
    }
    pkt_fix_checksums(pkt, len, family, ip_hlen);
    if (pkt_send(o, l2, pkt, len, family) < 0)
        goto out;
    flags_str(pkt[ip_hlen + 13], fl);
    gen_emit("event=injected frame=%u family=%d sport=%u dport=%u seq=%u ack=%u "
             "len=%zu flags=%s",
             frame, family == AF_INET ? 4 : 6, rd16(pkt + ip_hlen), rd16(pkt + ip_hlen + 2),
             rd32(pkt + ip_hlen + 4), rd32(pkt + ip_hlen + 8),
             len - ip_hlen - (size_t)(pkt[ip_hlen + 12] >> 4) * 4, fl);
    rc = 0;
out:
    free(buf);
    return rc;
}

/* ---------------------------------------------------------- offload-off -- */

static int run_offload_off(const struct gen_opts *o)
{
    struct ethtool_value ev = { ETHTOOL_STXCSUM, 0 };
    struct ifreq ifr;
    int fd, rc = 1;

    if (!o->ifname) {
        gen_fail("offload-off needs --ifname");
        return 2;
    }
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return 1;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", o->ifname);
    ifr.ifr_data = (char *)&ev;
    if (ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
        gen_fail("%s: ETHTOOL_STXCSUM: %s", o->ifname, strerror(errno));
    } else {
        gen_emit("event=offload_off ifname=%s", o->ifname);
        rc = 0;
    }
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------ cli -- */

static void usage(void)
{
    fputs("usage:\n"
          "  tcpgen server --addr A --port P [--mode close-first|wait-close|rst|shutdown-at]\n"
          "                [--count N] [--close-delay-ms MS] [--at-ms EPOCH_MS]\n"
          "  tcpgen client --addr A --port P [--mode ...] [--count N] [--bind-port N]\n"
          "                [--gap-ms MS] [--hold-ms MS] [--at-ms EPOCH_MS]\n"
          "  tcpgen inject --from-pcap FILE (--frame N | --pick data|fin|syn|rst|any\n"
          "                [--sport P] [--dport P] [--nth K | --last]) [--as-rst]\n"
          "                [--ifname IF]\n"
          "  tcpgen inject --src A --dst B --sport P --dport Q --flags RA|PA|F|S..\n"
          "                [--seq N] [--ack N] [--payload-len N]\n"
          "  tcpgen offload-off --ifname IF\n"
          "common: [--request-size N] [--reply-size N] [--timeout S]\n",
          stderr);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 0);
    if (errno || end == s || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

enum {
    OPT_ADDR = 256, OPT_PORT, OPT_BIND_PORT, OPT_COUNT, OPT_MODE, OPT_REQ, OPT_REP,
    OPT_CLOSE_DELAY, OPT_GAP, OPT_HOLD, OPT_AT, OPT_TIMEOUT, OPT_PCAP, OPT_FRAME,
    OPT_PICK, OPT_NTH, OPT_LAST, OPT_AS_RST, OPT_SPORT, OPT_DPORT, OPT_IFNAME,
    OPT_SRC, OPT_DST, OPT_SEQ, OPT_ACK, OPT_FLAGS, OPT_PLEN
};

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "addr", required_argument, NULL, OPT_ADDR },
        { "port", required_argument, NULL, OPT_PORT },
        { "bind-port", required_argument, NULL, OPT_BIND_PORT },
        { "count", required_argument, NULL, OPT_COUNT },
        { "mode", required_argument, NULL, OPT_MODE },
        { "request-size", required_argument, NULL, OPT_REQ },
        { "reply-size", required_argument, NULL, OPT_REP },
        { "close-delay-ms", required_argument, NULL, OPT_CLOSE_DELAY },
        { "gap-ms", required_argument, NULL, OPT_GAP },
        { "hold-ms", required_argument, NULL, OPT_HOLD },
        { "at-ms", required_argument, NULL, OPT_AT },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "from-pcap", required_argument, NULL, OPT_PCAP },
        { "frame", required_argument, NULL, OPT_FRAME },
        { "pick", required_argument, NULL, OPT_PICK },
        { "nth", required_argument, NULL, OPT_NTH },
        { "last", no_argument, NULL, OPT_LAST },
        { "as-rst", no_argument, NULL, OPT_AS_RST },
        { "sport", required_argument, NULL, OPT_SPORT },
        { "dport", required_argument, NULL, OPT_DPORT },
        { "ifname", required_argument, NULL, OPT_IFNAME },
        { "src", required_argument, NULL, OPT_SRC },
        { "dst", required_argument, NULL, OPT_DST },
        { "seq", required_argument, NULL, OPT_SEQ },
        { "ack", required_argument, NULL, OPT_ACK },
        { "flags", required_argument, NULL, OPT_FLAGS },
        { "payload-len", required_argument, NULL, OPT_PLEN },
        { NULL, 0, NULL, 0 }
    };
    struct gen_opts o;
    unsigned long v;
    int c, rc;

    memset(&o, 0, sizeof(o));
    o.count = 1;
    o.mode = MODE_CLOSE_FIRST;
    o.request_size = GEN_DEFAULT_REQUEST;
    o.reply_size = GEN_DEFAULT_REPLY;
    o.timeout_s = GEN_DEFAULT_TIMEOUT_S;
    o.nth = 1;
    o.m_sport = o.m_dport = o.sport = o.dport = -1;

    if (argc < 2 || argv[1][0] == '-') {
        usage();
        return 2;
    }
    o.role = gen_role = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
        int bad = 0;

        switch (c) {
        case OPT_ADDR: o.addr = optarg; break;
        case OPT_PCAP: o.pcap = optarg; break;
        case OPT_PICK: o.pick = optarg; break;
        case OPT_IFNAME: o.ifname = optarg; break;
        case OPT_SRC: o.src = optarg; break;
        case OPT_DST: o.dst = optarg; break;
        case OPT_FLAGS: o.flags = optarg; break;
        case OPT_LAST: o.last = 1; break;
        case OPT_AS_RST: o.as_rst = 1; break;
        case OPT_MODE:
            if (!strcmp(optarg, "close-first"))
                o.mode = MODE_CLOSE_FIRST;
            else if (!strcmp(optarg, "wait-close"))
                o.mode = MODE_WAIT_CLOSE;
            else if (!strcmp(optarg, "rst"))
                o.mode = MODE_RST;
            else if (!strcmp(optarg, "shutdown-at"))
                o.mode = MODE_SHUTDOWN_AT;
            else
                bad = 1;
            break;
        case OPT_AT:
            bad = parse_uint(optarg, ~0UL, &v);
            o.at_ms = (long long)v;
            break;
        case OPT_SEQ:
            bad = parse_uint(optarg, 0xffffffffUL, &v);
            o.seq = v;
            break;
        case OPT_ACK:
            bad = parse_uint(optarg, 0xffffffffUL, &v);
            o.ack = v;
            break;
        default:
            if (c == '?' || parse_uint(optarg, c == OPT_PORT || c == OPT_BIND_PORT ||
                                       c == OPT_SPORT || c == OPT_DPORT ? 65535
                                       : c == OPT_REQ || c == OPT_REP ? GEN_MAX_MSG
                                       : 3600000, &v) < 0) {
                bad = 1;
                break;
            }
            switch (c) {
            case OPT_PORT: o.port = (unsigned)v; break;
            case OPT_BIND_PORT: o.bind_port = (unsigned)v; break;
            case OPT_COUNT: o.count = (unsigned)v; break;
            case OPT_REQ: o.request_size = (unsigned)v; break;
            case OPT_REP: o.reply_size = (unsigned)v; break;
            case OPT_CLOSE_DELAY: o.close_delay_ms = (unsigned)v; break;
            case OPT_GAP: o.gap_ms = (unsigned)v; break;
            case OPT_HOLD: o.hold_ms = (unsigned)v; break;
            case OPT_TIMEOUT: o.timeout_s = (unsigned)v; break;
            case OPT_FRAME: o.frame = (unsigned)v; break;
            case OPT_NTH: o.nth = (unsigned)v; break;
            case OPT_SPORT: o.sport = o.m_sport = (int)v; break;
            case OPT_DPORT: o.dport = o.m_dport = (int)v; break;
            case OPT_PLEN: o.payload_len = (unsigned)v; break;
            default: bad = 1; break;
            }
        }
        if (bad) {
            fprintf(stderr, "tcpgen: bad option or value near '%s'\n", argv[optind - 1]);
            usage();
            return 2;
        }
    }
    if (optind != argc) {
        usage();
        return 2;
    }

    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    if (o.timeout_s)
        alarm(o.timeout_s);

    if (!strcmp(o.role, "server") || !strcmp(o.role, "client")) {
        if (!o.addr || !o.port || !o.count || o.request_size == 0 || o.reply_size == 0 ||
            (o.mode == MODE_SHUTDOWN_AT && !o.at_ms)) {
            usage();
            return 2;
        }
        rc = o.role[0] == 's' ? run_server(&o) : run_client(&o);
    } else if (!strcmp(o.role, "inject")) {
        if (o.pcap && !o.frame && !o.pick)
            o.pick = "any";
        if (o.nth == 0) {
            usage();
            return 2;
        }
        rc = run_inject(&o);
    } else if (!strcmp(o.role, "offload-off")) {
        rc = run_offload_off(&o);
    } else {
        usage();
        rc = 2;
    }
    return rc;
}
