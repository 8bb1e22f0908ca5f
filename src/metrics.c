/*
 * metrics.c -- the /metrics endpoint of a live capture (see metrics.h).
 */
#include "twscope/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "twscope/common.h"
#include "twscope/report.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#define METRICS_SLOTS (2 * METRICS_MAX_KEYS) /* open addressing: at most half full */

/* One aggregation key: an address, an endpoint, or a (local, remote endpoint) pair. */
struct mkey {
    uint8_t a[16];             /* local address (local and pair tables) */
    uint8_t b[16];             /* remote address (remote and pair tables) */
    uint16_t port;             /* remote port (remote and pair tables) */
    uint8_t v;                 /* IP version; 0 = free slot */
    uint8_t pad;
    uint32_t n;                /* periods counted */
};

struct mtable {
    struct mkey *slot;         /* METRICS_SLOTS */
    struct mkey **sorted;      /* METRICS_MAX_KEYS: the used slots, by n descending */
    uint32_t used;
    uint64_t other;            /* periods whose key did not fit */
};

struct mbuf {
    char *p;
    size_t len, cap;
};

struct metrics {
    struct metrics_opts o;
    unsigned lo, hi;                  /* ephemeral range */
    /* the pass (analysis thread) */
    uint64_t open, tw[2];
    struct mtable local, remote, pair;
    int alerting;                     /* a pair is above --alert-port-use */
    struct mbuf build[2];             /* 0: Prometheus text, 1: OpenMetrics */
    /* published (shared with the HTTP thread under mu) */
    pthread_mutex_t mu;
    struct mbuf pub[2];
    uint64_t skipped;                 /* snapshots not published: a scrape held the lock */
    struct MHD_Daemon *d;
    int fd;                           /* listening socket, owned by us */
};

/* ---- listen address -------------------------------------------------------- */

struct listen_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int v6;
};

static int parse_listen(const char *s, struct listen_addr *la, char *err, size_t errlen)
{
    char host[64];
    const char *colon, *hs = s, *he;
    unsigned long port;
    char *end;

    memset(la, 0, sizeof(*la));
    if (s[0] == '[') {
        he = strchr(s, ']');
        if (!he || he[1] != ':')
            goto bad;
        hs = s + 1;
        colon = he + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            goto bad;
        he = colon;
    }
    if ((size_t)(he - hs) >= sizeof(host))
        goto bad;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = 0;
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port == 0 || port > 65535)
        goto bad;
    if (host[0] == 0)
        strcpy(host, "127.0.0.1"); /* only :PORT: loopback, never every interface */
    if (s[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&la->ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            goto bad;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        la->len = sizeof(*a6);
        la->v6 = 1;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&la->ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            goto bad;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        la->len = sizeof(*a4);
    }
    return 0;
bad:
    set_err(err, errlen,
            "--metrics '%s': want ADDR:PORT, :PORT (loopback) or [IPV6]:PORT, with a "
            "numeric address and a port 1-65535", s);
    return -1;
}

int metrics_parse_listen(const char *s, char *err, size_t errlen)
{
    struct listen_addr la;
    return parse_listen(s, &la, err, errlen);
}

/* ---- text ---------------------------------------------------------------- */

static void mb_reserve(struct mbuf *b, size_t more)
{
    size_t cap;
    char *p;
    if (b->len + more + 1 <= b->cap)
        return;
    cap = b->cap ? b->cap : 16384;
    while (cap < b->len + more + 1)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p)
        return; /* out of memory: mb_printf() drops text; the next pass tries again */
    b->p = p;
    b->cap = cap;
}

static void mb_printf(struct mbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    mb_reserve(b, (size_t)n);
    if (b->len + (size_t)n + 1 > b->cap)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* A label value with \, " and newline escaped (both formats), into out. */
static void label_value(const char *s, char *out, size_t n)
{
    size_t j = 0;
    for (; *s && j + 3 < n; s++) {
        if (*s == '\\' || *s == '"') {
            out[j++] = '\\';
            out[j++] = *s;
        } else if (*s == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = *s;
        }
    }
    out[j] = 0;
}

/* HELP and TYPE of a metric, in both texts: a counter's samples end in _total. */
static void family(struct metrics *m, const char *name, const char *type, const char *help)
{
    int counter = strcmp(type, "counter") == 0;
    mb_printf(&m->build[0], "# HELP %s%s %s\n# TYPE %s%s %s\n", name, counter ? "_total" : "",
              help, name, counter ? "_total" : "", type);
    mb_printf(&m->build[1], "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample in both texts; labels: "" or `a="x",b="y"` (the iface label is added). */
static void sample(struct metrics *m, const char *name, int counter, const char *labels,
                   double v)
{
    char iface[96];
    label_value(m->o.iface ? m->o.iface : "", iface, sizeof(iface));
    char num[40];
    if (v == (double)(int64_t)v && v < 9007199254740992.0 && v > -9007199254740992.0)
        snprintf(num, sizeof(num), "%lld", (long long)v); /* counts: exact */
    else
        snprintf(num, sizeof(num), "%.15g", v);
    for (int i = 0; i < 2; i++)
        mb_printf(&m->build[i], "%s%s{iface=\"%s\"%s%s} %s\n", name, counter ? "_total" : "",
                  iface, labels[0] ? "," : "", labels, num);
}

static void addr_text(int v, const uint8_t *a, char *out, size_t n)
{
    if (!inet_ntop(v == 6 ? AF_INET6 : AF_INET, a, out, (socklen_t)n))
        snprintf(out, n, "?");
}

static void endpoint_text(int v, const uint8_t *a, uint16_t port, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN];
    addr_text(v, a, ip, sizeof(ip));
    snprintf(out, n, v == 6 ? "[%s]:%u" : "%s:%u", ip, (unsigned)port);
}

/* ---- aggregation ------------------------------------------------------------ */

static int table_init(struct mtable *t)
{
    t->slot = calloc(METRICS_SLOTS, sizeof(*t->slot));
    t->sorted = calloc(METRICS_MAX_KEYS, sizeof(*t->sorted));
    return t->slot && t->sorted ? 0 : -1;
}

static void table_free(struct mtable *t)
{
    free(t->slot);
    free(t->sorted);
}

static void table_clear(struct mtable *t)
{
    for (uint32_t i = 0; i < t->used; i++)
        t->sorted[i]->v = 0; /* only the used slots: no sweep of the whole table */
    t->used = 0;
    t->other = 0;
}

static uint32_t key_hash(const struct mkey *k)
{
    const uint8_t *p = (const uint8_t *)k;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < offsetof(struct mkey, pad); i++)
        h = (h ^ p[i]) * 16777619u; /* FNV-1a over a, b, port, v */
    return h;
}

static void table_add(struct mtable *t, const struct mkey *k)
{
    uint32_t i = key_hash(k) & (METRICS_SLOTS - 1);
    for (;;) {
        struct mkey *s = &t->slot[i];
        if (s->v == 0) {
            if (t->used == METRICS_MAX_KEYS) {
                t->other++;
                return;
            }
            *s = *k;
            s->n = 1;
            t->sorted[t->used++] = s;
            return;
        }
        if (memcmp(s, k, offsetof(struct mkey, pad)) == 0) {
            s->n++;
            return;
        }
        i = (i + 1) & (METRICS_SLOTS - 1);
    }
}

static int by_count_desc(const void *a, const void *b)
{
    const struct mkey *x = *(const struct mkey *const *)a, *y = *(const struct mkey *const *)b;
    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    return memcmp(x, y, offsetof(struct mkey, pad)); /* stable order between equals */
}

static void table_sort(struct mtable *t)
{
    qsort(t->sorted, t->used, sizeof(*t->sorted), by_count_desc);
}

void metrics_begin(struct metrics *m)
{
    m->open = m->tw[0] = m->tw[1] = 0;
    table_clear(&m->local);
    table_clear(&m->remote);
    table_clear(&m->pair);
}

void metrics_add_open(struct metrics *m) { m->open++; }

void metrics_add_tw(struct metrics *m, int side, int ip_version, const uint8_t *local,
                    uint16_t lport, const uint8_t *remote, uint16_t rport)
{
    size_t alen = ip_version == 6 ? 16 : 4;
    struct mkey k;

    m->tw[side & 1]++;
    memset(&k, 0, sizeof(k));
    k.v = (uint8_t)ip_version;
    memcpy(k.a, local, alen);
    table_add(&m->local, &k);
    memset(k.a, 0, sizeof(k.a));
    memcpy(k.b, remote, alen);
    k.port = rport;
    table_add(&m->remote, &k);
    /* port use: the client's ephemeral ports toward one server endpoint */
    if (side == 0 && lport >= m->lo && lport <= m->hi) {
        memcpy(k.a, local, alen);
        table_add(&m->pair, &k);
    }
}

/* ---- the snapshot ----------------------------------------------------------- */

static void build_texts(struct metrics *m, const struct metrics_counters *c)
{
    char lab[256], a[INET6_ADDRSTRLEN], e[INET6_ADDRSTRLEN + 8], help[256];
    unsigned k = m->o.top_k ? m->o.top_k : METRICS_DEFAULT_TOP;
    double span = (double)(m->hi - m->lo + 1), max_ratio = 0;
    struct timespec now;
    uint64_t rest;

    m->build[0].len = m->build[1].len = 0;
    family(m, "twscope_packets", "counter", "Frames read from the interface.");
    sample(m, "twscope_packets", 1, "", (double)c->packets);
    family(m, "twscope_tcp_packets", "counter", "Frames decoded to a TCP segment.");
    sample(m, "twscope_tcp_packets", 1, "", (double)c->tcp_packets);
    if (c->ps_recv >= 0) {
        family(m, "twscope_pcap_received", "counter",
               "Packets the kernel passed to the capture (libpcap ps_recv).");
        sample(m, "twscope_pcap_received", 1, "", (double)c->ps_recv);
        family(m, "twscope_pcap_dropped", "counter",
               "Packets the kernel dropped, its capture buffer full (libpcap ps_drop).");
        sample(m, "twscope_pcap_dropped", 1, "", (double)(c->ps_drop > 0 ? c->ps_drop : 0));
    }
    family(m, "twscope_connections", "counter", "TCP connections (incarnations) seen.");
    sample(m, "twscope_connections", 1, "", (double)c->conns);
    family(m, "twscope_connections_open", "gauge",
           "Connections in memory that are not closed (no FIN exchange or RST yet).");
    sample(m, "twscope_connections_open", 0, "", (double)m->open);
    family(m, "twscope_evicted_flows", "counter",
           "Connections dropped from memory by --max-flows before they ended.");
    sample(m, "twscope_evicted_flows", 1, "", (double)c->evicted);

    family(m, "twscope_time_wait", "gauge",
           "TIME_WAIT periods running now, by side of the connection in TIME_WAIT.");
    sample(m, "twscope_time_wait", 0, "side=\"client\"", (double)m->tw[0]);
    sample(m, "twscope_time_wait", 0, "side=\"server\"", (double)m->tw[1]);

    table_sort(&m->local);
    snprintf(help, sizeof(help), "TIME_WAIT periods running now per local address (the "
             "endpoint in TIME_WAIT), the top %u; address other sums the rest.", k);
    family(m, "twscope_time_wait_local", "gauge", help);
    rest = m->local.other;
    for (uint32_t i = 0; i < m->local.used; i++) {
        const struct mkey *x = m->local.sorted[i];
        if (i >= k) {
            rest += x->n;
            continue;
        }
        addr_text(x->v, x->a, a, sizeof(a));
        snprintf(lab, sizeof(lab), "address=\"%s\"", a);
        sample(m, "twscope_time_wait_local", 0, lab, x->n);
    }
    sample(m, "twscope_time_wait_local", 0, "address=\"other\"", (double)rest);

    table_sort(&m->remote);
    snprintf(help, sizeof(help), "TIME_WAIT periods running now per remote address:port (the "
             "peer of the endpoint in TIME_WAIT), the top %u; endpoint other sums the rest.", k);
    family(m, "twscope_time_wait_remote", "gauge", help);
    rest = m->remote.other;
    for (uint32_t i = 0; i < m->remote.used; i++) {
        const struct mkey *x = m->remote.sorted[i];
        if (i >= k) {
            rest += x->n;
            continue;
        }
        endpoint_text(x->v, x->b, x->port, e, sizeof(e));
        snprintf(lab, sizeof(lab), "endpoint=\"%s\"", e);
        sample(m, "twscope_time_wait_remote", 0, lab, x->n);
    }
    sample(m, "twscope_time_wait_remote", 0, "endpoint=\"other\"", (double)rest);

    table_sort(&m->pair);
    snprintf(help, sizeof(help), "Fraction of the ephemeral port range %u-%u (--port-range of "
             "the capture, else 32768-60999) held by client-side TIME_WAIT periods of one "
             "(local address, remote address:port) pair, the top %u pairs.", m->lo, m->hi, k);
    family(m, "twscope_port_use_ratio", "gauge", help);
    for (uint32_t i = 0; i < m->pair.used && i < k; i++) {
        const struct mkey *x = m->pair.sorted[i];
        addr_text(x->v, x->a, a, sizeof(a));
        endpoint_text(x->v, x->b, x->port, e, sizeof(e));
        snprintf(lab, sizeof(lab), "local=\"%s\",remote=\"%s\"", a, e);
        sample(m, "twscope_port_use_ratio", 0, lab, x->n / span);
    }
    if (m->pair.used)
        max_ratio = m->pair.sorted[0]->n / span;
    snprintf(help, sizeof(help), "The highest twscope_port_use_ratio of any pair now (range "
             "%u-%u).", m->lo, m->hi);
    family(m, "twscope_port_use_max_ratio", "gauge", help);
    sample(m, "twscope_port_use_max_ratio", 0, "", max_ratio);
    if (m->o.alert_pct > 0) {
        const struct mkey *x = m->pair.used ? m->pair.sorted[0] : NULL;
        int above = x && 100.0 * max_ratio >= m->o.alert_pct;
        if (above && !m->alerting) {
            addr_text(x->v, x->a, a, sizeof(a));
            endpoint_text(x->v, x->b, x->port, e, sizeof(e));
            fprintf(stderr, "twscope: port use alert: %s -> %s holds %u ports of %u-%u in "
                            "TIME_WAIT (%.1f%%, --alert-port-use %g)\n", a, e, x->n, m->lo,
                    m->hi, 100.0 * max_ratio, m->o.alert_pct);
        }
        m->alerting = above;
        family(m, "twscope_port_use_alert", "gauge",
               "1 while a pair's port use is at or above --alert-port-use, else 0.");
        sample(m, "twscope_port_use_alert", 0, "", m->alerting);
        family(m, "twscope_port_use_alert_threshold_ratio", "gauge",
               "The --alert-port-use threshold, as a fraction.");
        sample(m, "twscope_port_use_alert_threshold_ratio", 0, "", m->o.alert_pct / 100.0);
    }

    family(m, "twscope_findings", "counter", "Findings of the TIME_WAIT rules, by kind.");
    for (int i = 1; i < TWF_COUNT; i++) {
        snprintf(lab, sizeof(lab), "kind=\"%s\"", tw_finding_name((enum tw_finding)i));
        sample(m, "twscope_findings", 1, lab, (double)c->findings[i]);
    }
    family(m, "twscope_db_write_lag_rows", "gauge",
           "Rows handed to the database writer thread and not yet written to SQLite.");
    sample(m, "twscope_db_write_lag_rows", 0, "", (double)c->db_queued);
    family(m, "twscope_snapshot_skipped", "counter",
           "Snapshots not published because a scrape was copying the previous one.");
    sample(m, "twscope_snapshot_skipped", 1, "", (double)m->skipped);
    clock_gettime(CLOCK_REALTIME, &now);
    family(m, "twscope_snapshot_timestamp_seconds", "gauge",
           "Wall time this snapshot was taken (published about once a second).");
    sample(m, "twscope_snapshot_timestamp_seconds", 0, "",
           (double)now.tv_sec + now.tv_nsec / 1e9);
    mb_printf(&m->build[1], "# EOF\n");
}

const char *metrics_last_text(const struct metrics *m, int openmetrics)
{
    const struct mbuf *b = &m->build[openmetrics ? 1 : 0];
    return m->d || !b->p ? "" : b->p;
}

void metrics_publish(struct metrics *m, const struct metrics_counters *c)
{
    build_texts(m, c);
    if (!m->d)
        return;
    /* never wait for the HTTP thread: if it is copying, keep the old snapshot */
    if (pthread_mutex_trylock(&m->mu) != 0) {
        m->skipped++;
        return;
    }
    for (int i = 0; i < 2; i++) {
        struct mbuf t = m->pub[i];
        m->pub[i] = m->build[i];
        m->build[i] = t; /* the old published buffer is the next pass's to fill */
    }
    pthread_mutex_unlock(&m->mu);
}

/* ---- HTTP ------------------------------------------------------------------- */

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned code, const char *text)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
                                                             MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

/* libmicrohttpd's request handler (its thread). */
static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **con_cls)
{
    struct metrics *m = cls;
    struct MHD_Response *r;
    const char *accept;
    enum MHD_Result ret;
    int om;

    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n");
    if (strcmp(url, "/metrics") != 0)
        return answer_text(conn, MHD_HTTP_NOT_FOUND, "not found: twscope serves /metrics only\n");
    accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    om = accept && strstr(accept, "application/openmetrics-text") != NULL;
    pthread_mutex_lock(&m->mu);
    r = MHD_create_response_from_buffer(m->pub[om].len, m->pub[om].p, MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&m->mu);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                               : "text/plain; version=0.0.4; charset=utf-8");
    ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

int metrics_create(const struct metrics_opts *o, struct metrics **out, char *err, size_t errlen)
{
    struct metrics *m = calloc(1, sizeof(*m));
    struct metrics_counters zero;
    struct listen_addr la;
    int one = 1;

    *out = NULL;
    if (!m) {
        set_err(err, errlen, "out of memory");
        return TW_ERR_NOMEM;
    }
    m->o = *o;
    m->fd = -1;
    m->lo = o->port_lo ? o->port_lo : REPORT_PORT_LO_DEFAULT;
    m->hi = o->port_hi ? o->port_hi : REPORT_PORT_HI_DEFAULT;
    pthread_mutex_init(&m->mu, NULL);
    if (table_init(&m->local) || table_init(&m->remote) || table_init(&m->pair)) {
        set_err(err, errlen, "out of memory");
        metrics_destroy(m);
        return TW_ERR_NOMEM;
    }
    if (o->listen) {
        if (parse_listen(o->listen, &la, err, errlen)) {
            metrics_destroy(m);
            return TW_ERR_USAGE;
        }
        /* our own socket, for an error that says why (libmicrohttpd's would not) */
        m->fd = socket(la.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (m->fd < 0 || setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
            bind(m->fd, (struct sockaddr *)&la.ss, la.len) || listen(m->fd, 16)) {
            set_err(err, errlen, "--metrics %s: cannot listen: %s", o->listen, strerror(errno));
            metrics_destroy(m);
            return TW_ERR_IO;
        }
        m->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | (la.v6 ? MHD_USE_IPv6 : 0), 0,
                                NULL, NULL, serve, m, MHD_OPTION_LISTEN_SOCKET, m->fd,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_CONN_TIMEOUT_S,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONN_LIMIT,
                                MHD_OPTION_END);
        if (!m->d) {
            set_err(err, errlen, "--metrics %s: cannot start the HTTP server", o->listen);
            metrics_destroy(m);
            return TW_ERR_IO;
        }
        m->fd = -1; /* the daemon's now: MHD_stop_daemon() closes it */
    }
    /* something to serve before the first pass */
    memset(&zero, 0, sizeof(zero));
    zero.ps_recv = zero.ps_drop = -1;
    metrics_begin(m);
    metrics_publish(m, &zero);
    *out = m;
    return TW_OK;
}

void metrics_destroy(struct metrics *m)
{
    if (!m)
        return;
    if (m->d)
        MHD_stop_daemon(m->d); /* joins its thread */
    if (m->fd >= 0)
        close(m->fd);
    table_free(&m->local);
    table_free(&m->remote);
    table_free(&m->pair);
    for (int i = 0; i < 2; i++) {
        free(m->build[i].p);
        free(m->pub[i].p);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}
