/*
 * test_metrics.c -- metrics.c without its server: the --metrics argument, the
 * bounded cardinality (top K + "other"), port use of a pair, the alert gauge,
 * both text formats and label escaping. The HTTP side (Prometheus, promtool,
 * slow clients) is tests/t_metrics.sh.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "twscope/metrics.h"

static const uint8_t *ip4(const char *s, uint8_t out[16])
{
    memset(out, 0, 16);
    inet_pton(AF_INET, s, out);
    return out;
}

static int has(const char *text, const char *line)
{
    return strstr(text, line) != NULL;
}

static int test_listen_arguments(void)
{
    char e[256];
    FAIL_IF(metrics_parse_listen(":9100", e, sizeof(e)));
    FAIL_IF(metrics_parse_listen("0.0.0.0:1", e, sizeof(e)));
    FAIL_IF(metrics_parse_listen("[::1]:80", e, sizeof(e)));
    FAIL_UNLESS(metrics_parse_listen("9100", e, sizeof(e)));
    FAIL_UNLESS(strstr(e, "--metrics '9100'") != NULL);
    FAIL_UNLESS(metrics_parse_listen(":0", e, sizeof(e)));
    FAIL_UNLESS(metrics_parse_listen(":70000", e, sizeof(e)));
    FAIL_UNLESS(metrics_parse_listen("localhost:80", e, sizeof(e)));
    FAIL_UNLESS(metrics_parse_listen("::1:80", e, sizeof(e)));
    FAIL_UNLESS(metrics_parse_listen("[::1]80", e, sizeof(e)));
    FAIL_UNLESS(metrics_parse_listen(":80x", e, sizeof(e)));
    PASS;
}

/* 5 local addresses with 5, 4, 3, 2, 1 periods, K = 3: three series and other = 3. */
static int test_top_k_and_other(void)
{
    struct metrics_opts o = {NULL, 3, 40000, 40009, 30, "eth0"};
    struct metrics_counters c;
    struct metrics *m;
    uint8_t a[16], b[16];
    char err[256], name[32];
    const char *t;

    FAIL_IF(metrics_create(&o, &m, err, sizeof(err)));
    metrics_begin(m);
    for (int h = 1; h <= 5; h++) {
        snprintf(name, sizeof(name), "10.0.0.%d", h);
        for (int n = 0; n < 6 - h; n++) /* client side, ports 40000.. of the range */
            metrics_add_tw(m, 0, 4, ip4(name, a), (uint16_t)(40000 + n), ip4("10.9.9.9", b), 443);
    }
    /* one more pair whose port is outside the range, and a server-side period */
    metrics_add_tw(m, 0, 4, ip4("10.0.0.1", a), 50000, ip4("10.9.9.9", b), 443);
    metrics_add_tw(m, 1, 4, ip4("10.9.9.9", a), 443, ip4("10.0.0.7", b), 40001);
    metrics_add_open(m);
    memset(&c, 0, sizeof(c));
    c.packets = 1234;
    c.ps_recv = c.ps_drop = -1;
    c.findings[1] = 7;
    metrics_publish(m, &c);
    t = metrics_last_text(m, 0);
    FAIL_UNLESS(has(t, "twscope_time_wait{iface=\"eth0\",side=\"client\"} 16\n"));
    FAIL_UNLESS(has(t, "twscope_time_wait{iface=\"eth0\",side=\"server\"} 1\n"));
    FAIL_UNLESS(has(t, "twscope_time_wait_local{iface=\"eth0\",address=\"10.0.0.1\"} 6\n"));
    FAIL_UNLESS(has(t, "twscope_time_wait_local{iface=\"eth0\",address=\"10.0.0.2\"} 4\n"));
    FAIL_UNLESS(has(t, "twscope_time_wait_local{iface=\"eth0\",address=\"10.0.0.3\"} 3\n"));
    FAIL_IF(has(t, "address=\"10.0.0.4\""));   /* beyond K */
    FAIL_IF(has(t, "address=\"10.9.9.9\""));   /* 1 period: in other */
    FAIL_UNLESS(has(t, "twscope_time_wait_local{iface=\"eth0\",address=\"other\"} 4\n"));
    FAIL_UNLESS(has(t, "twscope_time_wait_remote{iface=\"eth0\",endpoint=\"10.9.9.9:443\"} 16\n"));
    FAIL_UNLESS(has(t, "twscope_time_wait_remote{iface=\"eth0\",endpoint=\"10.0.0.7:40001\"} 1\n"));
    FAIL_UNLESS(has(t, "twscope_time_wait_remote{iface=\"eth0\",endpoint=\"other\"} 0\n"));
    /* port use: 5 of the 10 ports 40000-40009 for 10.0.0.1 -> 10.9.9.9:443 (50000 is outside) */
    FAIL_UNLESS(has(t, "twscope_port_use_ratio{iface=\"eth0\",local=\"10.0.0.1\",remote=\"10.9.9.9:443\"} 0.5\n"));
    FAIL_UNLESS(has(t, "twscope_port_use_max_ratio{iface=\"eth0\"} 0.5\n"));
    FAIL_IF(has(t, "local=\"10.0.0.4\""));
    FAIL_UNLESS(has(t, "twscope_port_use_alert{iface=\"eth0\"} 1\n"));
    FAIL_UNLESS(has(t, "range 40000-40009"));
    FAIL_UNLESS(has(t, "twscope_connections_open{iface=\"eth0\"} 1\n"));
    FAIL_UNLESS(has(t, "# TYPE twscope_packets_total counter\ntwscope_packets_total{iface=\"eth0\"} 1234\n"));
    FAIL_UNLESS(has(t, "twscope_findings_total{iface=\"eth0\",kind=\"fin_retransmission\"} 7\n"));
    FAIL_IF(has(t, "twscope_pcap_dropped")); /* unknown: not exposed */
    FAIL_IF(has(t, "# EOF"));
    t = metrics_last_text(m, 1);
    FAIL_UNLESS(has(t, "# TYPE twscope_packets counter\ntwscope_packets_total{iface=\"eth0\"} 1234\n"));
    FAIL_UNLESS(strlen(t) > 6 && strcmp(t + strlen(t) - 6, "# EOF\n") == 0);
    /* the next pass starts from nothing: below the threshold, the alert clears */
    metrics_begin(m);
    metrics_add_tw(m, 0, 4, ip4("10.0.0.1", a), 40000, ip4("10.9.9.9", b), 443);
    metrics_publish(m, &c);
    t = metrics_last_text(m, 0);
    FAIL_UNLESS(has(t, "twscope_time_wait_local{iface=\"eth0\",address=\"10.0.0.1\"} 1\n"));
    FAIL_IF(has(t, "address=\"10.0.0.2\""));
    FAIL_UNLESS(has(t, "twscope_port_use_alert{iface=\"eth0\"} 0\n"));
    metrics_destroy(m);
    PASS;
}

/* More distinct keys than the tables hold: the rest is counted in other, nothing lost. */
static int test_table_overflow(void)
{
    struct metrics_opts o = {NULL, 2, 0, 0, 0, "x\"y\\z"};
    struct metrics_counters c;
    struct metrics *m;
    uint8_t a[16], b[16];
    char err[256], line[128];
    const char *t;
    unsigned n = METRICS_MAX_KEYS + 100;

    FAIL_IF(metrics_create(&o, &m, err, sizeof(err)));
    metrics_begin(m);
    for (unsigned i = 0; i < n; i++) {
        memset(a, 0, sizeof(a));
        a[0] = 10;
        a[1] = (uint8_t)(i >> 16);
        a[2] = (uint8_t)(i >> 8);
        a[3] = (uint8_t)i;
        metrics_add_tw(m, 0, 4, a, 33000, ip4("10.9.9.9", b), 80);
    }
    memset(&c, 0, sizeof(c));
    c.ps_recv = c.ps_drop = -1;
    metrics_publish(m, &c);
    t = metrics_last_text(m, 0);
    /* label escaping: x"y\z */
    FAIL_UNLESS(has(t, "twscope_time_wait{iface=\"x\\\"y\\\\z\",side=\"client\"}"));
    snprintf(line, sizeof(line), "address=\"other\"} %u\n", n - 2);
    FAIL_UNLESS(has(t, line));
    FAIL_UNLESS(has(t, "range 32768-60999"));
    metrics_destroy(m);
    PASS;
}

int main(void)
{
    RUN(test_listen_arguments);
    RUN(test_top_k_and_other);
    RUN(test_table_overflow);
    TEST_EXIT();
}
