/*
 * test_report.c -- report.c and report_html.c on a small database written
 * through the store API: option parsing, option/report mismatches, the ports
 * and timeline peaks of a tiny constructed case (closed intervals, a 4-tuple
 * counted once), report_prepare(), and the HTML writer's error paths. The
 * end-to-end checks (every format, brute-force agreement, the browser) are in
 * t_report.sh and t_html.sh.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "test.h"
#include "twscope/common.h"
#include "twscope/report.h"
#include "twscope/report_html.h"
#include "twscope/store.h"

static char tmpdir[64];
static char dbfile[128];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

struct out {
    int ret;
    char *out, *err;
    size_t outlen, errlen;
};

static struct out run(const char *name, const char *arg, enum report_format fmt,
                      const struct report_opts *o)
{
    struct out r = {0};
    FILE *out = open_memstream(&r.out, &r.outlen);
    FILE *err = open_memstream(&r.err, &r.errlen);

    r.ret = report_run_opts(dbfile, name, arg, fmt, o, out, err);
    fclose(out);
    fclose(err);
    return r;
}

static void out_free(struct out *r)
{
    free(r->out);
    free(r->err);
}

static void conn(struct rec_connection *r, int64_t id, const char *cip, uint16_t cport,
                 const char *sip, uint16_t sport, double first, double last)
{
    memset(r, 0, sizeof *r);
    r->id = id;
    r->capture_id = 1;
    r->incarnation = 1;
    snprintf(r->client_ip, sizeof r->client_ip, "%s", cip);
    snprintf(r->server_ip, sizeof r->server_ip, "%s", sip);
    r->client_port = cport;
    r->server_port = sport;
    r->ip_version = 4;
    r->syn_seen = 1;
    r->first_frame = (uint64_t)id;
    r->last_frame = (uint64_t)id + 3;
    r->first_ts = first;
    r->last_ts = last;
    r->close_kind = "fin";
    r->active_closer = "client";
    r->rtt_ms = -1;
}

static void timewait(struct rec_timewait *t, int64_t cid, const char *side, const char *ip,
                     uint16_t port, double start, double end)
{
    memset(t, 0, sizeof *t);
    t->connection_id = cid;
    t->side = side;
    snprintf(t->ip, sizeof t->ip, "%s", ip);
    t->port = port;
    t->start_ts = start;
    t->start_frame = (uint64_t)cid + 2;
    t->expected_end_ts = start + 60;
    t->end_ts = end;
    t->end_reason = "expired";
    t->profile = "linux";
    t->profile_reason = "option";
    t->duration_s = 60;
}

/*
 * Client 10.0.0.1 -> 10.0.0.2:80:
 *   port 1000: connection [100, 110], TIME_WAIT [105, 165] (overlap: counts once)
 *   port 1001: connection [165, 170] (starts the instant 1000's TIME_WAIT ends)
 *   port 1002: connection [120, 130], TIME_WAIT [130, 190]
 * => 2 at once from 120 (1000 and 1002), 3 at 165 (closed intervals).
 * Server 10.0.0.3:8080 (server-side TIME_WAIT): [200, 260] [230, 290] => 2 at 230.
 */
static int build_db(void)
{
    char err[256];
    struct store *st = NULL;
    struct rec_capture c;
    struct rec_connection r;
    struct rec_timewait t;
    int ret;

    snprintf(dbfile, sizeof dbfile, "%s/r.db", tmpdir);
    ret = store_open(dbfile, 1, &st, err, sizeof err);
    if (ret) {
        fprintf(stderr, "%s\n", err);
        return ret;
    }
    memset(&c, 0, sizeof c);
    c.source = "unit";
    c.linktype = 1;
    c.files = 1;
    c.tw_profile = "linux";
    c.ps_recv = c.ps_drop = -1;
    c.first_ts = 100;
    c.last_ts = 300;
    c.complete = 1;
    ret = store_begin_capture(st, &c);
    conn(&r, 1, "10.0.0.1", 1000, "10.0.0.2", 80, 100, 110);
    ret = ret ? ret : store_add_connection(st, &r);
    timewait(&t, 1, "client", "10.0.0.1", 1000, 105, 165);
    ret = ret ? ret : store_add_timewait(st, &t);
    conn(&r, 2, "10.0.0.1", 1001, "10.0.0.2", 80, 165, 170);
    ret = ret ? ret : store_add_connection(st, &r);
    conn(&r, 3, "10.0.0.1", 1002, "10.0.0.2", 80, 120, 130);
    ret = ret ? ret : store_add_connection(st, &r);
    timewait(&t, 3, "client", "10.0.0.1", 1002, 130, 190);
    ret = ret ? ret : store_add_timewait(st, &t);
    conn(&r, 4, "10.0.1.1", 2000, "10.0.0.3", 8080, 190, 200);
    ret = ret ? ret : store_add_connection(st, &r);
    timewait(&t, 4, "server", "10.0.0.3", 8080, 200, 260);
    ret = ret ? ret : store_add_timewait(st, &t);
    conn(&r, 5, "10.0.1.2", 2001, "10.0.0.3", 8080, 225, 230);
    ret = ret ? ret : store_add_connection(st, &r);
    timewait(&t, 5, "server", "10.0.0.3", 8080, 230, 290);
    ret = ret ? ret : store_add_timewait(st, &t);
    ret = ret ? ret : store_finish_capture(st, &c);
    store_close(st);
    return ret;
}

static int test_parse_port_range(void)
{
    unsigned lo = 0, hi = 0;

    FAIL_UNLESS(report_parse_port_range("32768-60999", &lo, &hi) == 0);
    FAIL_UNLESS(lo == 32768 && hi == 60999);
    FAIL_UNLESS(report_parse_port_range("1-65535", &lo, &hi) == 0);
    FAIL_UNLESS(lo == 1 && hi == 65535);
    FAIL_UNLESS(report_parse_port_range("80-80", &lo, &hi) == 0);
    FAIL_UNLESS(lo == 80 && hi == 80);
    static const char *const bad[] = {"0-10", "10-9", "1-65536", "a-b", "", "10", "10-",
                                      "-10", "10-20x", " 10-20", "10--20", "1000000-2",
                                      "10:20"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        FAIL_UNLESS(report_parse_port_range(bad[i], &lo, &hi) == -1);
    FAIL_UNLESS(report_parse_port_range(NULL, &lo, &hi) == -1);
    PASS;
}

static int test_parse_by(void)
{
    FAIL_UNLESS(report_parse_by("side") == REPORT_BY_SIDE);
    FAIL_UNLESS(report_parse_by("host") == REPORT_BY_HOST);
    FAIL_UNLESS(report_parse_by("app") == REPORT_BY_APP);
    FAIL_UNLESS(report_parse_by("none") == -1);
    FAIL_UNLESS(report_parse_by("") == -1);
    FAIL_UNLESS(report_parse_by(NULL) == -1);
    PASS;
}

static int test_option_mismatch(void)
{
    struct report_opts o;
    struct out r;
    int ok;

    memset(&o, 0, sizeof o);
    o.port_lo = 1024;
    o.port_hi = 2048;
    r = run("summary", NULL, REPORT_TABLE, &o);
    ok = r.ret == TW_ERR_USAGE && strstr(r.err, "--port-range") && r.outlen == 0;
    out_free(&r);
    FAIL_UNLESS(ok);

    memset(&o, 0, sizeof o);
    o.by = REPORT_BY_SIDE;
    r = run("ports", NULL, REPORT_CSV, &o);
    ok = r.ret == TW_ERR_USAGE && strstr(r.err, "--by");
    out_free(&r);
    FAIL_UNLESS(ok);

    memset(&o, 0, sizeof o);
    o.bucket_s = 0.001;              /* 200 s of capture: 200000 buckets */
    r = run("timeline", NULL, REPORT_JSON, &o);
    ok = r.ret == TW_ERR_USAGE && strstr(r.err, "buckets (at most") && r.outlen == 0;
    out_free(&r);
    FAIL_UNLESS(ok);

    r = run("nosuch", NULL, REPORT_TABLE, NULL);
    ok = r.ret == TW_ERR_USAGE && strstr(r.err, "ports") && strstr(r.err, "timeline");
    out_free(&r);
    FAIL_UNLESS(ok);
    PASS;
}

static int test_ports_peaks(void)
{
    struct out r = run("ports", NULL, REPORT_CSV, NULL);
    int ok;

    ok = r.ret == 0 && r.errlen == 0 && r.out &&
         strstr(r.out, "scope,capture_id,client_ip,server,peak,peak_ts,peak_utc,share_pct,"
                       "port_range,tuples,connections,time_waits,outside_range,ports_seen,"
                       "share_of_seen_pct,note\r\n") == r.out;
    if (ok)
        /* 3 of 28232 ports at 165; the 3 client ports are below the range */
        ok = strstr(r.out, "\r\nclient,1,10.0.0.1,10.0.0.2:80,3,165,1970-01-01 00:02:45.000,"
                           "0.010626239727"
                           ) != NULL &&
             strstr(r.out, ",32768-60999,3,3,2,3,1000-1002,100,client ports seen only in 1000-1002"
                           " (100.0% of that band at the peak): is the ephemeral range narrower"
                           " than 32768-60999?\r\n") != NULL &&
             /* one port: no band to speak of */
             strstr(r.out, ",1,1,0,1,2000-2000,100,\r\n") != NULL &&
             strstr(r.out, "\r\nserver_tw,1,,10.0.0.3:8080,2,230,1970-01-01 00:03:50.000,,,2,2,2,,,,\r\n");
    if (!ok)
        fprintf(stderr, "%s%s", r.out ? r.out : "", r.err ? r.err : "");
    out_free(&r);
    FAIL_UNLESS(ok);
    PASS;
}

/* ---- ports: report_peaks.c against the definition in SQL ------------------------ */

/* "ip:port", "[ip]:port" for IPv6; a time as UTC text (as report.c). */
#define EP(ip, port)                                                                   \
    "(CASE WHEN instr(" ip ", ':') > 0 THEN '[' || " ip " || ']:' ELSE " ip              \
    " || ':' END || " port ")"
#define UTC(t) "strftime('%Y-%m-%d %H:%M:%f', " t ", 'unixepoch')"
#define TW_END REPORT_TW_END

/*
 * The ports report as report.c computed it with SQL window functions before
 * report_peaks.c replaced them (24 s on a million connections): the oracle.
 */
static const char oracle_ports_sql[] =
    "WITH"
    " iv(cap, cip, cport, sip, sport, s, e) AS ("
    "  SELECT capture_id, client_ip, client_port, server_ip, server_port, first_ts,"
    "   max(coalesce(last_ts, first_ts), first_ts)"
    "  FROM connections WHERE first_ts IS NOT NULL AND (?3 = 0 OR capture_id = ?3)"
    "  UNION ALL"
    "  SELECT c.capture_id, c.client_ip, c.client_port, c.server_ip, c.server_port,"
    "   t.start_ts, " TW_END
    "  FROM time_waits t JOIN connections c ON c.id = t.connection_id"
    "  WHERE t.side = 'client' AND t.start_ts IS NOT NULL AND (?3 = 0 OR c.capture_id = ?3)),"
    " ov AS (SELECT *, max(e) OVER (PARTITION BY cap, cip, cport, sip, sport ORDER BY s, e"
    "  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS pe FROM iv),"
    " isl AS (SELECT *, sum(pe IS NULL OR s > pe) OVER (PARTITION BY cap, cip, cport, sip, sport"
    "  ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS k FROM ov),"
    " busy AS (SELECT cap, cip, cport, sip, sport, min(s) AS s, max(e) AS e FROM isl"
    "  GROUP BY cap, cip, cport, sip, sport, k),"
    " cev AS (SELECT cap, cip, sip, sport, s AS t, 1 AS d FROM busy"
    "  UNION ALL SELECT cap, cip, sip, sport, e, -1 FROM busy),"
    " clv AS (SELECT cap, cip, sip, sport, t, sum(d) OVER (PARTITION BY cap, cip, sip, sport"
    "  ORDER BY t, d DESC ROWS UNBOUNDED PRECEDING) AS n FROM cev),"
    " cpk AS (SELECT cap, cip, sip, sport, t, n, row_number() OVER"
    "  (PARTITION BY cap, cip, sip, sport ORDER BY n DESC, t) AS rn FROM clv),"
    " cagg AS (SELECT cap, cip, sip, sport, count(DISTINCT cport) AS tuples,"
    "  count(DISTINCT CASE WHEN cport < ?1 OR cport > ?2 THEN cport END) AS outside,"
    "  min(cport) AS pmin, max(cport) AS pmax"
    "  FROM busy GROUP BY cap, cip, sip, sport),"
    " cconn AS (SELECT capture_id AS cap, client_ip AS cip, server_ip AS sip,"
    "  server_port AS sport, count(*) AS n FROM connections"
    "  WHERE ?3 = 0 OR capture_id = ?3 GROUP BY 1, 2, 3, 4),"
    " ctw AS (SELECT c.capture_id AS cap, c.client_ip AS cip, c.server_ip AS sip,"
    "  c.server_port AS sport, count(*) AS n"
    "  FROM time_waits t JOIN connections c ON c.id = t.connection_id"
    "  WHERE t.side = 'client' AND (?3 = 0 OR c.capture_id = ?3) GROUP BY 1, 2, 3, 4),"
    " sv(cap, sip, sport, cip, cport, s, e) AS ("
    "  SELECT c.capture_id, t.ip, t.port, c.client_ip, c.client_port, t.start_ts, " TW_END
    "  FROM time_waits t JOIN connections c ON c.id = t.connection_id"
    "  WHERE t.side = 'server' AND t.start_ts IS NOT NULL AND (?3 = 0 OR c.capture_id = ?3)),"
    " sev AS (SELECT cap, sip, sport, s AS t, 1 AS d FROM sv"
    "  UNION ALL SELECT cap, sip, sport, e, -1 FROM sv),"
    " slv AS (SELECT cap, sip, sport, t, sum(d) OVER (PARTITION BY cap, sip, sport"
    "  ORDER BY t, d DESC ROWS UNBOUNDED PRECEDING) AS n FROM sev),"
    " spk AS (SELECT cap, sip, sport, t, n, row_number() OVER"
    "  (PARTITION BY cap, sip, sport ORDER BY n DESC, t) AS rn FROM slv),"
    " sagg AS (SELECT cap, sip, sport, count(*) AS tws,"
    "  count(DISTINCT cip || ' ' || cport) AS tuples FROM sv GROUP BY cap, sip, sport),"
    " sconn AS (SELECT capture_id AS cap, server_ip AS sip, server_port AS sport,"
    "  count(*) AS n FROM connections WHERE ?3 = 0 OR capture_id = ?3 GROUP BY 1, 2, 3)"
    " SELECT scope, capture_id, client_ip, server, peak, peak_ts, peak_utc, share_pct,"
    "  port_range, tuples, connections, time_waits, outside_range, ports_seen,"
    "  share_of_seen_pct, " REPORT_PORTS_NOTE("peak", "tuples", "pmin", "pmax") " AS note FROM ("
    "  SELECT 0 AS o, 'client' AS scope, p.cap AS capture_id, p.cip AS client_ip,"
    "   " EP("p.sip", "p.sport") " AS server, p.n AS peak, p.t AS peak_ts,"
    "   " UTC("p.t") " AS peak_utc, 100.0 * p.n / (?2 - ?1 + 1) AS share_pct,"
    "   ?1 || '-' || ?2 AS port_range, a.tuples AS tuples, coalesce(cc.n, 0) AS connections,"
    "   coalesce(w.n, 0) AS time_waits, a.outside AS outside_range,"
    "   a.pmin || '-' || a.pmax AS ports_seen, 100.0 * p.n / (a.pmax - a.pmin + 1) AS share_of_seen_pct,"
    "   a.pmin AS pmin, a.pmax AS pmax"
    "  FROM cpk p JOIN cagg a ON a.cap = p.cap AND a.cip = p.cip AND a.sip = p.sip"
    "   AND a.sport = p.sport"
    "  LEFT JOIN cconn cc ON cc.cap = p.cap AND cc.cip = p.cip AND cc.sip = p.sip"
    "   AND cc.sport = p.sport"
    "  LEFT JOIN ctw w ON w.cap = p.cap AND w.cip = p.cip AND w.sip = p.sip"
    "   AND w.sport = p.sport"
    "  WHERE p.rn = 1"
    "  UNION ALL"
    "  SELECT 1, 'server_tw', p.cap, NULL, " EP("p.sip", "p.sport") ", p.n, p.t,"
    "   " UTC("p.t") ", NULL, NULL, a.tuples, coalesce(sc.n, 0), a.tws, NULL, NULL, NULL, NULL, NULL"
    "  FROM spk p JOIN sagg a ON a.cap = p.cap AND a.sip = p.sip AND a.sport = p.sport"
    "  LEFT JOIN sconn sc ON sc.cap = p.cap AND sc.sip = p.sip AND sc.sport = p.sport"
    "  WHERE p.rn = 1)"
    " ORDER BY o, peak DESC, peak_ts, capture_id, client_ip, server";

static uint32_t lcg(uint32_t *x)
{
    *x = *x * 1664525u + 1013904223u;
    return *x >> 8;
}

/*
 * A database of random rows meant to hit the edges: intervals that overlap,
 * touch or repeat, NULL times, TIME_WAITs of unknown connections, IPv6, three
 * captures, ports inside and outside the ranges asked.
 */
static int build_random_db(const char *path, uint32_t seed)
{
    static const char *const cips[] = {"10.0.0.1", "10.0.0.2", "2001:db8::1", "2001:db8::2"};
    static const char *const sips[] = {"10.1.0.1", "10.1.0.2", "2001:db8:1::1"};
    static const int cports[] = {1, 1000, 1001, 40000, 40001, 65535};
    char err[256];
    struct store *st = NULL;
    struct rec_capture c;
    sqlite3 *db = NULL;
    sqlite3_stmt *ic = NULL, *it = NULL;
    int ret;

    ret = store_open(path, 1, &st, err, sizeof err);
    memset(&c, 0, sizeof c);
    c.source = "random";
    c.files = 1;
    c.tw_profile = "linux";
    c.ps_recv = c.ps_drop = -1;
    c.complete = 1;
    ret = ret ? ret : store_begin_capture(st, &c);
    ret = ret ? ret : store_finish_capture(st, &c);
    store_close(st);
    if (ret || sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_prepare_v2(db,
                       "INSERT INTO connections (id, capture_id, incarnation, client_ip, client_port,"
                       " server_ip, server_port, first_ts, last_ts) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?)",
                       -1, &ic, NULL);
    sqlite3_prepare_v2(db,
                       "INSERT INTO time_waits (connection_id, side, ip, port, start_ts,"
                       " expected_end_ts, end_ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       -1, &it, NULL);
    for (int id = 1; id <= 3000 && ic && it; id++) {
        const char *cip = cips[lcg(&seed) % 4], *sip = sips[lcg(&seed) % 3];
        int cport = cports[lcg(&seed) % 6], sport = lcg(&seed) % 2 ? 80 : 443;
        double s0 = (double)(lcg(&seed) % 50);

        sqlite3_bind_int(ic, 1, id);
        sqlite3_bind_int(ic, 2, 1 + (int)(lcg(&seed) % 3));
        sqlite3_bind_text(ic, 3, cip, -1, SQLITE_STATIC);
        sqlite3_bind_int(ic, 4, cport);
        sqlite3_bind_text(ic, 5, sip, -1, SQLITE_STATIC);
        sqlite3_bind_int(ic, 6, sport);
        if (lcg(&seed) % 20 == 0)
            sqlite3_bind_null(ic, 7);
        else
            sqlite3_bind_double(ic, 7, s0);
        if (lcg(&seed) % 10 == 0)
            sqlite3_bind_null(ic, 8);
        else
            sqlite3_bind_double(ic, 8, s0 + (double)(lcg(&seed) % 4 * 3));
        sqlite3_step(ic);
        sqlite3_reset(ic);
        for (int side = 0; side < 2; side++) {
            double ts = (double)(lcg(&seed) % 60);
            if (lcg(&seed) % 2)
                continue;
            sqlite3_bind_int(it, 1, lcg(&seed) % 50 ? id : id + 100000);
            sqlite3_bind_text(it, 2, side ? "server" : "client", -1, SQLITE_STATIC);
            sqlite3_bind_text(it, 3, side ? sip : cip, -1, SQLITE_STATIC);
            sqlite3_bind_int(it, 4, side ? sport : cport);
            if (lcg(&seed) % 20 == 0)
                sqlite3_bind_null(it, 5);
            else
                sqlite3_bind_double(it, 5, ts);
            if (lcg(&seed) % 2)
                sqlite3_bind_null(it, 6);
            else
                sqlite3_bind_double(it, 6, ts + 60);
            switch (lcg(&seed) % 4) {
            case 0: sqlite3_bind_null(it, 7); break;
            case 1: sqlite3_bind_double(it, 7, ts); break;
            default: sqlite3_bind_double(it, 7, ts + (double)(lcg(&seed) % 4 * 7)); break;
            }
            sqlite3_step(it);
            sqlite3_reset(it);
        }
    }
    ret = ic && it ? 0 : -1;
    sqlite3_finalize(ic);
    sqlite3_finalize(it);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return ret;
}

/*
 * Step two statements together: 0 when they give the same rows, cell by cell
 * (type and text); else the number of differences, the first printed.
 */
static int stmts_agree(sqlite3_stmt *a, sqlite3_stmt *b, const char *what, long *rows)
{
    int bad = 0;
    for (;;) {
        int ra = sqlite3_step(a), rb = sqlite3_step(b);
        if (ra != rb) {
            fprintf(stderr, "%s: rows end apart after %ld\n", what, *rows);
            return bad + 1;
        }
        if (ra != SQLITE_ROW)
            return bad;
        ++*rows;
        for (int i = 0; i < sqlite3_column_count(a); i++) {
            const unsigned char *x = sqlite3_column_text(a, i);
            const unsigned char *y = sqlite3_column_text(b, i);
            if (sqlite3_column_type(a, i) != sqlite3_column_type(b, i) || (!x) != (!y) ||
                (x && strcmp((const char *)x, (const char *)y) != 0)) {
                if (!bad++)
                    fprintf(stderr, "%s: row %ld %s: %s != %s\n", what, *rows,
                            sqlite3_column_name(a, i), x ? (const char *)x : "NULL",
                            y ? (const char *)y : "NULL");
            }
        }
    }
}

/* Every row and cell of the ports report equals the oracle's, for a few ranges and captures. */
static int ports_agree(const char *path, long *rows_out)
{
    static const unsigned ranges[][2] = {{32768, 60999}, {1, 65535}, {1000, 1001}};
    sqlite3 *db = NULL;
    char msg[256];
    FILE *err = fopen("/dev/null", "w");
    long rows = 0;
    int bad = 0;

    FAIL_IF(err == NULL);
    FAIL_IF(store_open_readonly(path, &db, msg, sizeof msg) != 0);
    for (int cap = 0; cap <= 2; cap++) {
        for (int r = 0; r < 3; r++) {
            struct report_opts o;
            sqlite3_stmt *a = NULL, *b = NULL;
            memset(&o, 0, sizeof o);
            o.port_lo = ranges[r][0];
            o.port_hi = ranges[r][1];
            o.capture_id = cap;
            FAIL_UNLESS(sqlite3_prepare_v2(db, oracle_ports_sql, -1, &a, NULL) == SQLITE_OK);
            sqlite3_bind_int(a, 1, (int)o.port_lo);
            sqlite3_bind_int(a, 2, (int)o.port_hi);
            sqlite3_bind_int64(a, 3, cap);
            FAIL_UNLESS(report_prepare(db, "ports", &o, &b, err) == 0);
            bad += stmts_agree(a, b, "ports", &rows);
            sqlite3_finalize(a);
            sqlite3_finalize(b);
        }
    }
    sqlite3_close(db);
    fclose(err);
    *rows_out = rows;
    FAIL_UNLESS(bad == 0);
    PASS;
}

static int test_ports_oracle(void)
{
    char path[160];
    long rows = 0;

    FAIL_IF(ports_agree(dbfile, &rows));
    FAIL_UNLESS(rows > 0);
    for (uint32_t seed = 1; seed <= 3; seed++) {
        snprintf(path, sizeof path, "%s/rand%u.db", tmpdir, seed);
        FAIL_IF(build_random_db(path, seed) != 0);
        FAIL_IF(ports_agree(path, &rows));
        FAIL_UNLESS(rows > 100); /* groups of every capture, both scopes */
    }
    PASS;
}

/* ---- timeline: report_peaks.c against the definition in SQL ---------------------- */

/* The timeline report as report.c computed it with SQL window functions before
 * report_peaks.c (4.7 s per series on a million connections): the oracle. */
#define ORACLE_TIMELINE_CTES                                                                   \
    "WITH"                                                                              \
    " nice(v) AS (VALUES (0.001), (0.002), (0.005), (0.01), (0.02), (0.05), (0.1),"     \
    "  (0.2), (0.5), (1), (2), (5), (10), (15), (30), (60), (120), (300), (600), (900)," \
    "  (1800), (3600), (7200), (10800), (21600), (43200), (86400), (172800), (604800)),"  \
    " tw(cap, key, s, e) AS (SELECT c.capture_id, %s, t.start_ts, " TW_END              \
    "  FROM time_waits t JOIN connections c ON c.id = t.connection_id"                  \
    "  WHERE t.start_ts IS NOT NULL AND (?2 = 0 OR c.capture_id = ?2)),"                \
    " span AS (SELECT tw.cap AS cap,"                                                   \
    "  coalesce(min(min(tw.s), nullif(p.first_ts, 0)), min(tw.s)) AS t0,"               \
    "  coalesce(max(max(tw.e), nullif(p.last_ts, 0)), max(tw.e)) AS t1"                 \
    "  FROM tw LEFT JOIN captures p ON p.id = tw.cap GROUP BY tw.cap),"                 \
    " st0 AS (SELECT cap, t0, t1, CASE WHEN ?1 > 0 THEN ?1 ELSE coalesce("              \
    "  (SELECT min(v) FROM nice WHERE v >= (t1 - t0) / ?3),"                             \
    "  86400.0 * (CAST((t1 - t0) / ?3 / 86400 AS INTEGER) + 1)) END AS w FROM span),"    \
    " st1 AS (SELECT cap, CAST(t0 / w AS INTEGER) * w AS t0, t1, w FROM st0),"          \
    " steps AS (SELECT cap, t0, w, max(1, CAST((t1 - t0) / w AS INTEGER)"               \
    "  + ((t1 - t0) / w > CAST((t1 - t0) / w AS INTEGER))) AS nb FROM st1)"

/*
 * The rest: each period is a +1 at its start and a -1 at its end; the running
 * sum per (capture, series), +1 first at equal times, is the number open at
 * that instant. Per bucket: the level carried in from earlier buckets (the sum
 * of their net changes) and the highest level reached inside; the peak is the
 * larger. Every (series, bucket) is generated, so empty buckets carry the
 * level of the last event. First %s: ", key AS <name>" or "", second: the
 * filter dropping zero rows of split series (or "").
 */
#define ORACLE_TIMELINE_REST                                                                   \
    ","                                                                                 \
    " seq(b) AS (SELECT 0 UNION ALL SELECT b + 1 FROM seq"                              \
    "  WHERE b + 1 < (SELECT max(nb) FROM steps)),"                                     \
    " ev AS (SELECT cap, key, s AS t, 1 AS d FROM tw"                                   \
    "  UNION ALL SELECT cap, key, e, -1 FROM tw),"                                      \
    " lv AS (SELECT e.cap, e.key, e.d,"                                                 \
    "  max(0, min(st.nb - 1, CAST((e.t - st.t0) / st.w AS INTEGER))) AS b,"             \
    "  sum(e.d) OVER (PARTITION BY e.cap, e.key ORDER BY e.t, e.d DESC"                 \
    "   ROWS UNBOUNDED PRECEDING) AS n"                                                 \
    "  FROM ev e JOIN steps st ON st.cap = e.cap),"                                     \
    " pb AS (SELECT cap, key, b, max(n) AS mx, sum(d) AS net, sum(d > 0) AS started"    \
    "  FROM lv GROUP BY cap, key, b),"                                                  \
    " series AS (SELECT DISTINCT cap, key FROM tw),"                                    \
    " dense AS (SELECT s.cap, s.key, q.b, pb.mx, coalesce(pb.net, 0) AS net,"           \
    "  coalesce(pb.started, 0) AS started"                                              \
    "  FROM series s JOIN steps st ON st.cap = s.cap JOIN seq q ON q.b < st.nb"         \
    "  LEFT JOIN pb ON pb.cap = s.cap AND pb.key = s.key AND pb.b = q.b),"              \
    " res AS (SELECT cap, key, b, started, max(c, coalesce(mx, c)) AS peak FROM"        \
    "  (SELECT *, coalesce(sum(net) OVER (PARTITION BY cap, key ORDER BY b"             \
    "   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS c FROM dense))"        \
    " SELECT r.cap AS capture_id, st.t0 + r.b * st.w AS bucket_start,"                  \
    "  strftime(CASE WHEN st.w < 1 THEN '%%Y-%%m-%%d %%H:%%M:%%f'"                      \
    "   ELSE '%%Y-%%m-%%d %%H:%%M:%%S' END, st.t0 + r.b * st.w, 'unixepoch') AS bucket_utc," \
    "  CASE WHEN st.w = CAST(st.w AS INTEGER) THEN CAST(st.w AS INTEGER) ELSE st.w END"  \
    "  AS bucket_s%s, r.peak AS peak, r.started AS started"                             \
    " FROM res r JOIN steps st ON st.cap = r.cap%s"                                     \
    " ORDER BY r.cap, r.b, r.key"


static int timeline_agree(const char *path, long *rows_out)
{
    static const char *const keys[] = {REPORT_KEY_NONE, REPORT_KEY_SIDE, REPORT_KEY_HOST,
                                       REPORT_KEY_APP};
    static const char *const cols[] = {"", ", r.key AS side", ", r.key AS host", ", r.key AS app"};
    static const double buckets[] = {0, 7.5, 1};
    static char sql[sizeof(ORACLE_TIMELINE_CTES ORACLE_TIMELINE_REST) + 256];
    sqlite3 *db = NULL;
    char msg[256];
    FILE *err = fopen("/dev/null", "w");
    long rows = 0;
    int bad = 0;

    FAIL_IF(err == NULL);
    FAIL_IF(store_open_readonly(path, &db, msg, sizeof msg) != 0);
    for (int by = REPORT_BY_NONE; by <= REPORT_BY_APP; by++) {
        for (int k = 0; k < 3; k++) {
            for (int cap = 0; cap <= 2; cap++) {
                struct report_opts o;
                sqlite3_stmt *a = NULL, *b = NULL;
                memset(&o, 0, sizeof o);
                o.by = (enum report_by)by;
                o.bucket_s = buckets[k];
                o.capture_id = cap;
                snprintf(sql, sizeof sql, ORACLE_TIMELINE_CTES ORACLE_TIMELINE_REST, keys[by],
                         cols[by], by == REPORT_BY_NONE ? "" : " WHERE r.peak > 0");
                FAIL_UNLESS(sqlite3_prepare_v2(db, sql, -1, &a, NULL) == SQLITE_OK);
                sqlite3_bind_double(a, 1, o.bucket_s);
                sqlite3_bind_int64(a, 2, cap);
                sqlite3_bind_int(a, 3, REPORT_TIMELINE_BUCKETS);
                FAIL_UNLESS(report_prepare(db, "timeline", &o, &b, err) == 0);
                bad += stmts_agree(a, b, "timeline", &rows);
                sqlite3_finalize(a);
                sqlite3_finalize(b);
            }
        }
    }
    sqlite3_close(db);
    fclose(err);
    *rows_out = rows;
    FAIL_UNLESS(bad == 0);
    PASS;
}

/* --by host with many hosts and narrow buckets: refused before it makes millions of rows. */
static int test_timeline_host_rows(void)
{
    char path[128], saved[128], err[256];
    struct store *st = NULL;
    struct rec_capture c;
    struct rec_connection r;
    struct rec_timewait t;
    struct report_opts o;
    struct out res;
    int ret, ok;

    snprintf(path, sizeof path, "%s/hosts.db", tmpdir);
    FAIL_IF(store_open(path, 1, &st, err, sizeof err) != 0);
    memset(&c, 0, sizeof c);
    c.source = "hosts";
    c.files = 1;
    c.tw_profile = "linux";
    c.ps_recv = c.ps_drop = -1;
    c.complete = 1;
    ret = store_begin_capture(st, &c);
    for (int i = 1; !ret && i <= 60; i++) { /* 60 clients in TIME_WAIT over 1000 s */
        char ip[32];
        snprintf(ip, sizeof ip, "10.9.0.%d", i);
        conn(&r, i, ip, 40000, "10.0.0.2", 80, 10.0 * i, 10.0 * i + 1);
        ret = store_add_connection(st, &r);
        timewait(&t, i, "client", ip, 40000, 10.0 * i + 1, 10.0 * i + 400);
        ret = ret ? ret : store_add_timewait(st, &t);
    }
    ret = ret ? ret : store_finish_capture(st, &c);
    store_close(st);
    FAIL_IF(ret);

    snprintf(saved, sizeof saved, "%s", dbfile);
    snprintf(dbfile, sizeof dbfile, "%s", path);
    memset(&o, 0, sizeof o);
    o.by = REPORT_BY_HOST;
    o.bucket_s = 0.011;              /* ~90000 buckets x 60 hosts: over 5 million rows */
    res = run("timeline", NULL, REPORT_CSV, &o);
    ok = res.ret == TW_ERR_USAGE && strstr(res.err, "hosts x buckets") && res.outlen == 0;
    out_free(&res);
    o.bucket_s = 1;                  /* ~1000 buckets x 60 hosts: fine */
    res = run("timeline", NULL, REPORT_CSV, &o);
    ok = ok && res.ret == 0 && res.outlen > 0;
    out_free(&res);
    snprintf(dbfile, sizeof dbfile, "%s", saved);
    FAIL_UNLESS(ok);
    PASS;
}

/*
 * The HTML report's peak per capture and its instant, from twscope_timeline()
 * with one bucket, against the SQL it used before (the oracle).
 */
static int capture_peaks_agree(const char *path)
{
    static const char oracle[] =
        "WITH tw AS (SELECT c.capture_id AS cap, t.start_ts AS s,"
        "  max(coalesce(t.end_ts, t.expected_end_ts, t.start_ts), t.start_ts) AS e"
        "  FROM time_waits t JOIN connections c ON c.id = t.connection_id"
        "  WHERE t.start_ts IS NOT NULL),"
        " ev AS (SELECT cap, s AS t, 1 AS d FROM tw UNION ALL SELECT cap, e, -1 FROM tw),"
        " lv AS (SELECT cap, t, sum(d) OVER (PARTITION BY cap ORDER BY t, d DESC"
        "  ROWS UNBOUNDED PRECEDING) AS n FROM ev),"
        " pk AS (SELECT cap, t, n, row_number() OVER (PARTITION BY cap ORDER BY n DESC, t)"
        "  AS rn FROM lv)"
        " SELECT cap, n, t FROM pk WHERE rn = 1 ORDER BY cap";
    static const char fast[] =
        "SELECT p.id, t.mx, t.mt FROM (SELECT DISTINCT capture_id AS id FROM connections) p,"
        " twscope_timeline(p.id, 0, 1, 1, 0) t ORDER BY 1";
    sqlite3 *db = NULL;
    sqlite3_stmt *a = NULL, *b = NULL;
    char msg[256];
    long rows = 0;
    int bad;

    FAIL_IF(store_open_readonly(path, &db, msg, sizeof msg) != 0);
    FAIL_UNLESS(report_peaks_ready(db) == 0);
    FAIL_UNLESS(sqlite3_prepare_v2(db, oracle, -1, &a, NULL) == SQLITE_OK);
    FAIL_UNLESS(sqlite3_prepare_v2(db, fast, -1, &b, NULL) == SQLITE_OK);
    bad = stmts_agree(a, b, "capture peaks", &rows);
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    sqlite3_close(db);
    FAIL_UNLESS(bad == 0 && rows > 0);
    PASS;
}

static int test_timeline_oracle(void)
{
    char path[160];
    long rows = 0;

    FAIL_IF(timeline_agree(dbfile, &rows));
    FAIL_UNLESS(rows > 0);
    FAIL_IF(capture_peaks_agree(dbfile));
    for (uint32_t seed = 1; seed <= 3; seed++) {
        snprintf(path, sizeof path, "%s/rand%u.db", tmpdir, seed);
        FAIL_IF(timeline_agree(path, &rows)); /* made by test_ports_oracle */
        FAIL_UNLESS(rows > 100);
        FAIL_IF(capture_peaks_agree(path));
    }
    PASS;
}

static int test_timeline_peaks(void)
{
    struct report_opts o;
    struct out r;
    int ok;

    memset(&o, 0, sizeof o);
    o.bucket_s = 50;                 /* [100,150) [150,200) [200,250) [250,300] */
    o.by = REPORT_BY_SIDE;
    r = run("timeline", NULL, REPORT_CSV, &o);
    ok = r.ret == 0 &&
         strstr(r.out, "capture_id,bucket_start,bucket_utc,bucket_s,side,peak,started\r\n") == r.out &&
         strstr(r.out, "\r\n1,100,1970-01-01 00:01:40,50,client,2,2\r\n") &&
         strstr(r.out, "\r\n1,150,1970-01-01 00:02:30,50,client,2,0\r\n") &&
         strstr(r.out, "\r\n1,200,1970-01-01 00:03:20,50,server,2,2\r\n") &&
         strstr(r.out, "\r\n1,250,1970-01-01 00:04:10,50,server,2,0\r\n") &&
         !strstr(r.out, ",client,0,");          /* zero rows of split series left out */
    if (!ok)
        fprintf(stderr, "%s%s", r.out ? r.out : "", r.err ? r.err : "");
    out_free(&r);
    FAIL_UNLESS(ok);

    r = run("timeline", NULL, REPORT_JSON, NULL);   /* auto: 200 s -> 5 s buckets */
    ok = r.ret == 0 && strstr(r.out, "\"bucket_s\": 5,") &&
         strstr(r.out, "{\"capture_id\": 1, \"bucket_start\": 100, \"bucket_utc\": "
                       "\"1970-01-01 00:01:40\", \"bucket_s\": 5, \"peak\": 0, \"started\": 0}") &&
         strstr(r.out, "{\"capture_id\": 1, \"bucket_start\": 105, \"bucket_utc\": "
                       "\"1970-01-01 00:01:45\", \"bucket_s\": 5, \"peak\": 1, \"started\": 1}");
    if (!ok)
        fprintf(stderr, "%s%s", r.out ? r.out : "", r.err ? r.err : "");
    out_free(&r);
    FAIL_UNLESS(ok);
    PASS;
}

static int test_prepare(void)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    char msg[256];
    FILE *err = fopen("/dev/null", "w");
    int rows = 0;

    FAIL_IF(err == NULL);
    FAIL_IF(store_open_readonly(dbfile, &db, msg, sizeof msg) != 0);
    FAIL_UNLESS(report_prepare(db, "sql", NULL, &s, err) == TW_ERR_USAGE && s == NULL);
    FAIL_UNLESS(report_prepare(db, "nosuch", NULL, &s, err) == TW_ERR_USAGE && s == NULL);
    FAIL_UNLESS(report_prepare(db, "ports", NULL, &s, err) == 0 && s != NULL);
    while (sqlite3_step(s) == SQLITE_ROW)
        rows++;
    sqlite3_finalize(s);
    FAIL_UNLESS(rows == 4);          /* 3 client triples + 1 server endpoint */
    fclose(err);
    sqlite3_close(db);
    PASS;
}

static int test_html_errors(void)
{
    char path[160], bad[160];
    FILE *err = fopen("/dev/null", "w");
    struct stat sb;

    FAIL_IF(err == NULL);
    snprintf(path, sizeof path, "%s/out.html", tmpdir);
    FAIL_UNLESS(report_html_write(dbfile, path, NULL, err) == 0);
    FAIL_UNLESS(stat(path, &sb) == 0 && sb.st_size > 1000);
    snprintf(bad, sizeof bad, "%s/missing.db", tmpdir);
    FAIL_UNLESS(report_html_write(bad, path, NULL, err) == TW_ERR_IO);
    snprintf(bad, sizeof bad, "%s/no/dir/out.html", tmpdir);
    FAIL_UNLESS(report_html_write(dbfile, bad, NULL, err) == TW_ERR_IO);
    fclose(err);
    PASS;
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/twscope_test_report.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (build_db()) {
        fprintf(stderr, "cannot build the test database\n");
        nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        return 1;
    }
    RUN(test_parse_port_range);
    RUN(test_parse_by);
    RUN(test_option_mismatch);
    RUN(test_ports_peaks);
    RUN(test_ports_oracle);
    RUN(test_timeline_oracle);
    RUN(test_timeline_host_rows);
    RUN(test_timeline_peaks);
    RUN(test_prepare);
    RUN(test_html_errors);
    nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    TEST_EXIT();
}
