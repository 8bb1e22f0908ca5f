/*
 * report.c -- `twscope query`: built-in reports and raw SQL over a database:
 * the reports' statements, preparing them with their parameters
 * (report_prepare(), which report_html.c uses too), running a report or a
 * statement (report_run_opts()), and parsing the options.
 *
 * Every report is one SELECT; one generic printer (report_format.c) turns any
 * sqlite3_stmt into table, CSV or JSON output, so `query sql` and the built-in
 * reports print the same way. The summary report is a (section, key, value)
 * result set: CSV and JSON print it as rows, the table format groups it into
 * readable sections.
 *
 * `ports` and `timeline` are parameterized SELECTs (the range, the bucket
 * width, the capture) over +1/-1 events; the running sums over every event
 * come from the table-valued functions twscope_ports() and
 * twscope_timeline() (report_peaks.c, one sorted pass each), the rest is SQL.
 * The timeline's statement is assembled from fixed text for the series asked
 * (--by), never from user input. report_prepare() hands these statements to
 * report_html.c, so the HTML page and `query` always agree.
 *
 * Thread: the main thread of `twscope query`, and of `twscope report`
 * (report_prepare(), report_peaks_ready()).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "twscope/common.h"
#include "twscope/report.h"
#include "twscope/store.h"

#include "report_int.h"

/* "ip:port", or "[ip]:port" for an IPv6 address (it contains a colon). */
#define EP(ip, port)                                                                   \
    "(CASE WHEN instr(" ip ", ':') > 0 THEN '[' || " ip " || ']:' ELSE " ip              \
    " || ':' END || " port ")"

/* TCP flag bits as letters, lowest bit first: FIN|ACK -> "FA". */
#define FLAG_LETTERS(f) STORE_FLAG_LETTERS(f)

static const char sql_connections[] =
    "SELECT id, capture_id, incarnation,"
    " " EP("client_ip", "client_port") " AS client,"
    " " EP("server_ip", "server_port") " AS server,"
    " close_kind, active_closer, syn_seen,"
    " client_pkts + server_pkts AS pkts, client_bytes + server_bytes AS bytes,"
    " first_frame, last_frame, first_ts, last_ts - first_ts AS duration, rtt_ms,"
    " app_protocol"
    " FROM connections ORDER BY first_ts, id";

static const char sql_timewaits[] =
    "SELECT t.id, t.connection_id, t.side, " EP("t.ip", "t.port") " AS endpoint,"
    " CASE WHEN t.side = 'server' THEN " EP("c.client_ip", "c.client_port")
    " ELSE " EP("c.server_ip", "c.server_port") " END AS peer,"
    " t.start_frame, t.start_ts, t.expected_end_ts, t.end_ts, t.end_reason,"
    " t.inferred, t.profile, t.duration_s, t.end_ts - t.start_ts AS held_s, t.answers"
    " FROM time_waits t LEFT JOIN connections c ON c.id = t.connection_id"
    " ORDER BY t.start_ts, t.id";

static const char sql_findings[] =
    "SELECT id, connection_id, kind, frame, file, ts, direction, seq, ack,"
    " payload_len, " FLAG_LETTERS("flags") " AS flags, detail,"
    " 'frame.number == ' || frame AS wireshark"
    " FROM findings ORDER BY ts, id";

/*
 * The tw_reuse finding may name the new incarnation or the old one; prefer the
 * new, else one on the old connection dated at or after the new first packet
 * (so the old incarnation's own reuse finding is not picked up).
 */
static const char sql_reuse[] =
    "SELECT c.id, c.capture_id, " EP("c.client_ip", "c.client_port") " AS client,"
    " " EP("c.server_ip", "c.server_port") " AS server,"
    " c.incarnation, c.prev_connection_id AS prev_id, p.last_ts AS prev_last_ts,"
    " c.first_ts, c.first_ts - p.last_ts AS gap_s, p.close_kind AS prev_close_kind,"
    " p.active_closer AS prev_active_closer, f.frame AS reuse_frame, f.detail AS detail"
    " FROM connections c"
    " LEFT JOIN connections p ON p.id = c.prev_connection_id"
    " LEFT JOIN findings f ON f.id = coalesce("
    "  (SELECT f2.id FROM findings f2 WHERE f2.kind = 'tw_reuse'"
    "   AND f2.connection_id = c.id ORDER BY f2.ts, f2.id LIMIT 1),"
    "  (SELECT f2.id FROM findings f2 WHERE f2.kind = 'tw_reuse'"
    "   AND f2.connection_id = p.id AND f2.ts >= c.first_ts ORDER BY f2.ts, f2.id LIMIT 1))"
    " WHERE c.incarnation > 1 ORDER BY c.first_ts, c.id";

/* A time as UTC text with milliseconds. */
#define UTC(t) "strftime('%Y-%m-%d %H:%M:%f', " t ", 'unixepoch')"

#define TW_END REPORT_TW_END

/*
 * Port exhaustion. ?1..?2: the ephemeral range, ?3: capture id or 0. The
 * peaks come from twscope_ports() (report_peaks.c: one sorted pass in C; the
 * same definition in SQL window functions took 24 s on a million
 * connections); this statement formats and orders them.
 *
 * Client scope: a 4-tuple is tied up while its connection is open
 * [first_ts, last_ts] and while the client holds it in TIME_WAIT [start_ts,
 * end]. Each 4-tuple's intervals are merged first (gaps and islands: an
 * interval starting after every earlier one has ended starts a new island),
 * so a 4-tuple counts once when its connection and TIME_WAIT overlap. Then
 * each island is a +1 at its start and a -1 at its end; the running sum per
 * (capture, client IP, server IP, server port), with +1 before -1 at equal
 * times (closed intervals), is the number of 4-tuples in use at that instant.
 * The peak row is its maximum, earliest first.
 *
 * Server scope: the same running sum over the server-side TIME_WAIT periods
 * of each (capture, server IP, server port) -- the HTTP/1.0-style close that
 * leaves the server holding the TIME_WAITs.
 */
static const char sql_ports[] =
    "SELECT CASE o WHEN 0 THEN 'client' ELSE 'server_tw' END AS scope, cap AS capture_id,"
    " cip AS client_ip, " EP("sip", "sport") " AS server, n AS peak, t AS peak_ts,"
    " " UTC("t") " AS peak_utc,"
    " CASE o WHEN 0 THEN 100.0 * n / (?2 - ?1 + 1) END AS share_pct,"
    " CASE o WHEN 0 THEN ?1 || '-' || ?2 END AS port_range, tuples, conns AS connections,"
    " tws AS time_waits, CASE o WHEN 0 THEN outside END AS outside_range,"
    " CASE o WHEN 0 THEN pmin || '-' || pmax END AS ports_seen,"
    " CASE o WHEN 0 THEN 100.0 * n / (pmax - pmin + 1) END AS share_of_seen_pct,"
    " " REPORT_PORTS_NOTE("n", "tuples", "pmin", "pmax") " AS note"
    " FROM twscope_ports(?1, ?2, ?3)"
    " ORDER BY o, peak DESC, peak_ts, capture_id, client_ip, server";

/*
 * Timeline: the part shared by the report and its bucket-count check. %s is
 * the series key over time_waits t / connections c. ?1: bucket width or 0
 * (auto), ?2: capture id or 0, ?3: buckets wanted in auto mode.
 *
 * A capture's time axis runs from its first packet (or first TIME_WAIT) to
 * its last packet (or last TIME_WAIT end), cut in buckets aligned on
 * multiples of the width. In auto mode the width is the smallest round value
 * (1-2-5 steps, then minutes, hours, days) giving at most ?3 buckets.
 */
#define TIMELINE_CTES                                                                   \
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
 * The rest: twscope_timeline() (report_peaks.c) gives, per capture, series
 * and bucket with events, the highest number of periods open at an event in
 * it, its net change and the periods started (each period +1 at its start,
 * -1 at its end, +1 first at equal times). Per bucket the peak is the larger
 * of the level carried in from earlier buckets (the sum of their net
 * changes) and that highest level. Every (series, bucket) is generated, so
 * empty buckets carry the level of the last event. ?4: the --by value. First
 * %s: ", key AS <name>" or "", second: the filter dropping zero rows of split
 * series (or "").
 */
#define TIMELINE_REST                                                                   \
    ","                                                                                 \
    " seq(b) AS (SELECT 0 UNION ALL SELECT b + 1 FROM seq"                              \
    "  WHERE b + 1 < (SELECT max(nb) FROM steps)),"                                     \
    " pb AS (SELECT st.cap AS cap, p.key AS key, p.b AS b, p.mx AS mx, p.net AS net,"   \
    "  p.started AS started FROM steps st,"                                             \
    "  twscope_timeline(st.cap, st.t0, st.w, st.nb, ?4) p),"                            \
    " series AS (SELECT DISTINCT cap, key FROM pb),"                                    \
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

/* Grouped counts of one column as summary rows, biggest first. */
#define COUNT_BY(o1, section, expr, table, limit)                                     \
    " UNION ALL SELECT * FROM (SELECT " #o1 ", -count(*), 0, " expr ", '" section     \
    "', " expr ", count(*) FROM " table " GROUP BY " expr " ORDER BY count(*) DESC, " \
    expr " LIMIT " #limit ")"

/* One key of every capture: o3 orders keys inside the capture's section. */
#define CAPTURE_KEY(o3, key, expr, cond)                                               \
    " UNION ALL SELECT 1, id, " #o3 ", '', 'capture ' || id, '" key "', " expr        \
    " FROM captures WHERE " cond

/*
 * Columns o1..o4 order the rows; they are not printed. AFTER_CLOSE: the row
 * of connections.after_close, which an older twscope's database (schema
 * version 2, read but never written) does not have.
 */
#define SUMMARY_SQL(AFTER_CLOSE) \
    "WITH peak AS MATERIALIZED (SELECT p.id, t.mx, t.mt" \
    "  FROM captures p, twscope_timeline(p.id, 0, 1, 1, 0) t WHERE t.mx > 0)" \
    "SELECT section, key, value FROM (" \
    " SELECT 0 AS o1, 0 AS o2, 0 AS o3, '' AS o4, 'captures' AS section," \
    "  'count' AS key, count(*) AS value FROM captures" \
    CAPTURE_KEY(1, "source", "source", "1") \
    CAPTURE_KEY(2, "files", "files", "1") \
    CAPTURE_KEY(3, "linktype", "linktype", "1") \
    CAPTURE_KEY(4, "started_at", \
                "strftime('%Y-%m-%d %H:%M:%S', started_at, 'unixepoch') || ' UTC'", \
                "started_at IS NOT NULL") \
    CAPTURE_KEY(5, "first_ts", "first_ts", "1") \
    CAPTURE_KEY(6, "last_ts", "last_ts", "1") \
    CAPTURE_KEY(7, "duration_s", "last_ts - first_ts", "1") \
    CAPTURE_KEY(8, "packets", "packets", "1") \
    CAPTURE_KEY(9, "tcp_packets", "tcp_packets", "1") \
    CAPTURE_KEY(10, "skipped", "skipped", "1") \
    " UNION ALL SELECT 1, c.id, 11, j.key, 'capture ' || c.id, 'skipped.' || j.key, j.value" \
    "  FROM captures c, json_each(CASE WHEN json_valid(c.skip_reasons)" \
    "   THEN c.skip_reasons ELSE '{}' END) j" \
    CAPTURE_KEY(12, "complete", "CASE WHEN complete THEN 'yes' ELSE 'no' END", "1") \
    CAPTURE_KEY(13, "error", "error", "error IS NOT NULL") \
    CAPTURE_KEY(14, "tw_profile", "tw_profile", "1") \
    CAPTURE_KEY(15, "dpi", "CASE WHEN dpi THEN 'on' ELSE 'off' END", "1") \
    CAPTURE_KEY(16, "bpf", "bpf", "bpf IS NOT NULL") \
    CAPTURE_KEY(17, "evicted", "evicted", "1") \
    CAPTURE_KEY(18, "ps_recv", "ps_recv", "ps_recv IS NOT NULL") \
    CAPTURE_KEY(19, "ps_drop", "ps_drop", "ps_drop IS NOT NULL") \
    /* the exact peak of concurrent TIME_WAIT periods (peak: one bucket of twscope_timeline()) */ \
    " UNION ALL SELECT 1, id, 20, '', 'capture ' || id, 'time_wait_peak', mx FROM peak" \
    " UNION ALL SELECT 1, id, 21, '', 'capture ' || id, 'time_wait_peak_at'," \
    "  strftime('%Y-%m-%d %H:%M:%f', mt, 'unixepoch') || ' UTC (' || printf('%.6f', mt) || ')'" \
    "  FROM peak" \
    " UNION ALL SELECT 2, 0, 1, '', 'connections', 'total', count(*) FROM connections" \
    " UNION ALL SELECT 2, 0, 2, '', 'connections', 'syn_not_seen'," \
    "  coalesce(sum(syn_seen = 0), 0) FROM connections" \
    " UNION ALL SELECT 2, 0, 3, '', 'connections', 'reused_4tuples'," \
    "  count(DISTINCT CASE WHEN incarnation > 1 THEN client_ip || ' ' || client_port || ' '" \
    "   || server_ip || ' ' || server_port || ' ' || coalesce(vlan_outer, 0) || ' '" \
    "   || coalesce(vlan_inner, 0) END) FROM connections" \
    " UNION ALL SELECT 2, 0, 4, '', 'connections', 'reuses'," \
    "  coalesce(sum(incarnation > 1), 0) FROM connections" \
    AFTER_CLOSE \
    COUNT_BY(3, "close_kind", "coalesce(close_kind, 'unknown')", "connections", -1) \
    COUNT_BY(4, "active_closer", "coalesce(active_closer, 'none')", "connections", -1) \
    " UNION ALL SELECT 5, 0, 1, '', 'time_waits', 'total', count(*) FROM time_waits" \
    " UNION ALL SELECT 5, 0, 2, '', 'time_waits', 'inferred'," \
    "  coalesce(sum(inferred <> 0), 0) FROM time_waits" \
    COUNT_BY(6, "time_wait_side", "coalesce(side, 'unknown')", "time_waits", -1) \
    COUNT_BY(7, "time_wait_end_reason", "coalesce(end_reason, 'unknown')", "time_waits", -1) \
    " UNION ALL SELECT 8, 0, 1, '', 'findings', 'total', count(*) FROM findings" \
    COUNT_BY(9, "finding_kind", "coalesce(kind, 'unknown')", "findings", -1) \
    COUNT_BY(10, "app_protocol", "coalesce(app_protocol, 'unknown')", "connections", 10) \
    ") ORDER BY o1, o2, o3, o4"
static const char sql_summary[] = SUMMARY_SQL(
    " UNION ALL SELECT 2, 0, 5, '', 'connections', 'after_close_segments',"
    "  coalesce(sum(after_close), 0) FROM connections"
    " UNION ALL SELECT 2, 0, 6, '', 'connections', 'capture_duplicates',"
    "  coalesce(sum(capture_dups), 0) FROM connections"
    " UNION ALL SELECT 2, 0, 7, '', 'connections', 'vantage_copies',"
    "  coalesce(sum(vantage_dups), 0) FROM connections"
    /* what the capture could not tell (closer_evidence, time_waits.*_evidence, findings' loss) */
    " UNION ALL SELECT 11, 0, 1, '', 'unknown', 'active_closer',"
    "  coalesce(sum(closer_evidence = 'unknown'), 0) FROM connections"
    " UNION ALL SELECT 11, 0, 2, '', 'unknown', 'time_wait_end',"
    "  coalesce(sum(end_evidence = 'unknown'), 0) FROM time_waits"
    " UNION ALL SELECT 11, 0, 3, '', 'unknown', 'loss_location',"
    "  count(*) FROM findings WHERE json_valid(detail) AND json_extract(detail, '$.loss') = 'unknown'"
    " UNION ALL SELECT 12, 0, 1, '', 'inferred', 'active_closer',"
    "  coalesce(sum(closer_evidence = 'inferred'), 0) FROM connections"
    " UNION ALL SELECT 12, 0, 2, '', 'inferred', 'time_wait_start',"
    "  coalesce(sum(start_evidence = 'inferred'), 0) FROM time_waits"
    " UNION ALL SELECT 12, 0, 3, '', 'inferred', 'time_wait_end',"
    "  coalesce(sum(end_evidence = 'inferred'), 0) FROM time_waits");
static const char sql_summary_v2[] = SUMMARY_SQL("");

enum report_kind {
    RK_STATIC,                       /* sql is the whole statement, no parameter */
    RK_PORTS,                        /* sql_ports with the range and capture bound */
    RK_TIMELINE,                     /* built from TIMELINE_* for the series asked */
    RK_SQL,                          /* the statement is the argument */
};

struct report_def {
    const char *name;
    const char *sql;                 /* RK_STATIC, RK_PORTS */
    enum report_kind kind;
};

static const struct report_def reports[] = {
    {"summary", sql_summary, RK_STATIC},   {"connections", sql_connections, RK_STATIC},
    {"timewaits", sql_timewaits, RK_STATIC}, {"findings", sql_findings, RK_STATIC},
    {"reuse", sql_reuse, RK_STATIC},       {"ports", sql_ports, RK_PORTS},
    {"timeline", NULL, RK_TIMELINE},       {"sql", NULL, RK_SQL},
};

#define NREPORTS (sizeof reports / sizeof reports[0])

/* ---- driver ---- */

/* 1 if only blanks, semicolons and SQL comments remain in s. */
static int only_trailer(const char *s)
{
    while (*s) {
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == ';' || *s == '\f' ||
            *s == '\v') {
            s++;
        } else if (s[0] == '-' && s[1] == '-') {
            s += strcspn(s, "\n");
        } else if (s[0] == '/' && s[1] == '*') {
            const char *e = strstr(s + 2, "*/");
            if (!e)
                return 1;
            s = e + 2;
        } else {
            return 0;
        }
    }
    return 1;
}

static const struct report_def *find_report(const char *name)
{
    for (size_t i = 0; name && i < NREPORTS; i++)
        if (strcmp(name, reports[i].name) == 0)
            return &reports[i];
    return NULL;
}

static void opts_fill(struct report_opts *o, const struct report_opts *given)
{
    if (given)
        *o = *given;
    else
        memset(o, 0, sizeof *o);
    if (o->port_lo == 0 && o->port_hi == 0) {
        o->port_lo = REPORT_PORT_LO_DEFAULT;
        o->port_hi = REPORT_PORT_HI_DEFAULT;
    }
}

static int prepare_msg(sqlite3 *db, const char *sql, sqlite3_stmt **s, FILE *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, s, NULL) != SQLITE_OK) {
        fprintf(err, "twscope: query: %s\n", sqlite3_errmsg(db));
        sqlite3_finalize(*s);
        *s = NULL;
        return TW_ERR_DB;
    }
    return 0;
}

int report_peaks_ready(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM twscope_ports(1, 1, 0) WHERE 0", -1, &s, NULL) ==
        SQLITE_OK) {
        sqlite3_finalize(s);
        return 0;
    }
    return report_peaks_register(db);
}

/* The one number a TIMELINE_CTES query in sql counts, with the timeline's parameters. */
static int timeline_count(sqlite3 *db, const char *sql, const struct report_opts *o,
                          sqlite3_int64 *n, FILE *err)
{
    sqlite3_stmt *s = NULL;
    int ret = prepare_msg(db, sql, &s, err);
    if (ret)
        return ret;
    sqlite3_bind_double(s, 1, o->bucket_s);
    sqlite3_bind_int64(s, 2, o->capture_id);
    sqlite3_bind_int(s, 3, REPORT_TIMELINE_BUCKETS);
    if (sqlite3_step(s) == SQLITE_ROW) {
        *n = sqlite3_column_int64(s, 0);
    } else {
        fprintf(err, "twscope: query: %s\n", sqlite3_errmsg(db));
        ret = TW_ERR_DB;
    }
    sqlite3_finalize(s);
    return ret;
}

/*
 * The timeline statement for o->by, after checking that a fixed bucket width
 * does not ask for more than REPORT_TIMELINE_MAX_BUCKETS buckets in all, and
 * that one series per host does not ask for more than
 * REPORT_TIMELINE_MAX_ROWS (hosts x buckets) rows.
 */
static int prepare_timeline(sqlite3 *db, const struct report_opts *o, sqlite3_stmt **out,
                            FILE *err)
{
    static const char *const keys[] = {
        [REPORT_BY_NONE] = REPORT_KEY_NONE,
        [REPORT_BY_SIDE] = REPORT_KEY_SIDE,
        [REPORT_BY_HOST] = REPORT_KEY_HOST,
        [REPORT_BY_APP] = REPORT_KEY_APP,
    };
    static const char *const cols[] = {
        [REPORT_BY_NONE] = "", [REPORT_BY_SIDE] = ", r.key AS side",
        [REPORT_BY_HOST] = ", r.key AS host", [REPORT_BY_APP] = ", r.key AS app",
    };
    const char *filter = o->by == REPORT_BY_NONE ? "" : " WHERE r.peak > 0";
    sqlite3_stmt *s = NULL;
    char *sql = NULL;
    size_t len;
    int ret = 0;

    *out = NULL;
    if ((unsigned)o->by > REPORT_BY_APP || !(o->bucket_s >= 0) || !isfinite(o->bucket_s)) {
        fprintf(err, "twscope: query: bad timeline options\n");
        return TW_ERR_USAGE;
    }
    len = sizeof(TIMELINE_CTES TIMELINE_REST) + 256;
    sql = malloc(len);
    if (!sql) {
        fprintf(err, "twscope: query: out of memory\n");
        return TW_ERR_NOMEM;
    }
    if (o->bucket_s > 0) {
        sqlite3_int64 nb = 0;
        snprintf(sql, len, TIMELINE_CTES " SELECT coalesce(sum(nb), 0) FROM steps", "'all'");
        ret = timeline_count(db, sql, o, &nb, err);
        if (ret)
            goto out;
        if (nb > REPORT_TIMELINE_MAX_BUCKETS) {
            fprintf(err,
                    "query: --bucket %g makes %lld buckets (at most %d); choose a larger"
                    " bucket\n",
                    o->bucket_s, (long long)nb, REPORT_TIMELINE_MAX_BUCKETS);
            ret = TW_ERR_USAGE;
            goto out;
        }
    }
    if (o->by == REPORT_BY_HOST) {
        sqlite3_int64 rows = 0;
        snprintf(sql, len,
                 TIMELINE_CTES " SELECT coalesce(sum(st.nb * (SELECT count(DISTINCT tw.key) FROM tw"
                 " WHERE tw.cap = st.cap)), 0) FROM steps st",
                 keys[o->by]);
        ret = timeline_count(db, sql, o, &rows, err);
        if (ret)
            goto out;
        if (rows > REPORT_TIMELINE_MAX_ROWS) {
            fprintf(err,
                    "query: --by host makes %lld rows (hosts x buckets, at most %d); choose a"
                    " larger --bucket, or --by side\n",
                    (long long)rows, REPORT_TIMELINE_MAX_ROWS);
            ret = TW_ERR_USAGE;
            goto out;
        }
    }
    snprintf(sql, len, TIMELINE_CTES TIMELINE_REST, keys[o->by], cols[o->by], filter);
    if (report_peaks_ready(db)) {
        fprintf(err, "twscope: query: %s\n", sqlite3_errmsg(db));
        ret = TW_ERR_DB;
        goto out;
    }
    ret = prepare_msg(db, sql, &s, err);
    if (ret)
        goto out;
    sqlite3_bind_double(s, 1, o->bucket_s);
    sqlite3_bind_int64(s, 2, o->capture_id);
    sqlite3_bind_int(s, 3, REPORT_TIMELINE_BUCKETS);
    sqlite3_bind_int(s, 4, (int)o->by);
    *out = s;
    s = NULL;
out:
    sqlite3_finalize(s);
    free(sql);
    return ret;
}

/* PRAGMA user_version: 2 for an older twscope's database, 0 if unreadable. */
static int schema_version(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int v = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Prepare a built-in report (not RK_SQL) with its parameters bound. */
static int prepare_def(sqlite3 *db, const struct report_def *def, const struct report_opts *o,
                       sqlite3_stmt **out, FILE *err)
{
    int ret;

    *out = NULL;
    switch (def->kind) {
    case RK_STATIC:
        if (def->sql == sql_summary) {
            if (report_peaks_ready(db)) {
                fprintf(err, "twscope: query: %s\n", sqlite3_errmsg(db));
                return TW_ERR_DB;
            }
            if (schema_version(db) < 3)
                return prepare_msg(db, sql_summary_v2, out, err);
        }
        return prepare_msg(db, def->sql, out, err);
    case RK_PORTS:
        if (o->port_lo < 1 || o->port_lo > o->port_hi || o->port_hi > 65535) {
            fprintf(err, "twscope: query: bad port range %u-%u\n", o->port_lo, o->port_hi);
            return TW_ERR_USAGE;
        }
        if (report_peaks_ready(db)) {
            fprintf(err, "twscope: query: %s\n", sqlite3_errmsg(db));
            return TW_ERR_DB;
        }
        ret = prepare_msg(db, def->sql, out, err);
        if (ret)
            return ret;
        sqlite3_bind_int(*out, 1, (int)o->port_lo);
        sqlite3_bind_int(*out, 2, (int)o->port_hi);
        sqlite3_bind_int64(*out, 3, o->capture_id);
        return 0;
    case RK_TIMELINE:
        return prepare_timeline(db, o, out, err);
    case RK_SQL:
        break;
    }
    fprintf(err, "twscope: query: not a built-in report: %s\n", def->name);
    return TW_ERR_USAGE;
}

int report_prepare(struct sqlite3 *db, const char *name, const struct report_opts *opts,
                   struct sqlite3_stmt **out, FILE *err)
{
    const struct report_def *def = find_report(name);
    struct report_opts o;

    *out = NULL;
    if (!def || def->kind == RK_SQL) {
        fprintf(err, "twscope: query: unknown report '%s'\n", name ? name : "");
        return TW_ERR_USAGE;
    }
    opts_fill(&o, opts);
    return prepare_def(db, def, &o, out, err);
}

int report_run_opts(const char *path, const char *name, const char *arg, enum report_format fmt,
                    const struct report_opts *opts, FILE *out, FILE *err)
{
    const struct report_def *def = find_report(name);
    struct report_opts o;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    const char *tail = NULL;
    char msg[512];
    int rc, ret;

    if (!def) {
        fprintf(err,
                "query: unknown report '%s' (summary, connections, timewaits, findings,"
                " reuse, ports, timeline, sql)\n",
                name ? name : "");
        return TW_ERR_USAGE;
    }
    if (fmt != REPORT_TABLE && fmt != REPORT_CSV && fmt != REPORT_JSON) {
        fprintf(err, "twscope: query: unknown output format\n");
        return TW_ERR_USAGE;
    }
    if (opts && (opts->port_lo || opts->port_hi) && def->kind != RK_PORTS) {
        fprintf(err, "twscope: query: --port-range applies to the ports report only\n");
        return TW_ERR_USAGE;
    }
    if (opts && (opts->bucket_s != 0 || opts->by != REPORT_BY_NONE) &&
        def->kind != RK_TIMELINE) {
        fprintf(err, "twscope: query: --bucket and --by apply to the timeline report only\n");
        return TW_ERR_USAGE;
    }
    if (def->kind == RK_SQL && (!arg || only_trailer(arg))) {
        fprintf(err, "twscope: query: sql needs a statement\n");
        return TW_ERR_USAGE;
    }
    opts_fill(&o, opts);

    ret = store_open_readonly(path, &db, msg, sizeof msg);
    if (ret) {
        fprintf(err, "twscope: %s\n", msg);
        return ret;
    }
    if (def->kind != RK_SQL) {
        ret = prepare_def(db, def, &o, &s, err);
        if (ret)
            goto out;
    } else {
        rc = sqlite3_prepare_v2(db, arg, -1, &s, &tail);
        if (rc != SQLITE_OK) {
            fprintf(err, "twscope: query: %s\n", sqlite3_errmsg(db));
            ret = TW_ERR_DB;
            goto out;
        }
        if (!s) {
            fprintf(err, "twscope: query: sql needs a statement\n");
            ret = TW_ERR_USAGE;
            goto out;
        }
        if (tail && !only_trailer(tail)) {
            fprintf(err, "twscope: query: only one SQL statement is allowed\n");
            ret = TW_ERR_USAGE;
            goto out;
        }
    }
    ret = report_emit(out, err, db, s, fmt, def->sql == sql_summary && fmt == REPORT_TABLE,
                      opts ? opts->time_mode : REPORT_TIME_EPOCH);
    if (ret == 0 && (fflush(out) != 0 || ferror(out))) {
        fprintf(err, "twscope: query: write error: %s\n", strerror(errno));
        ret = TW_ERR_IO;
    }
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    return ret;
}

int report_run(const char *path, const char *name, const char *arg, enum report_format fmt,
               FILE *out, FILE *err)
{
    return report_run_opts(path, name, arg, fmt, NULL, out, err);
}

int report_parse_format(const char *s)
{
    if (!s)
        return -1;
    if (strcmp(s, "table") == 0)
        return REPORT_TABLE;
    if (strcmp(s, "csv") == 0)
        return REPORT_CSV;
    if (strcmp(s, "json") == 0)
        return REPORT_JSON;
    return -1;
}

int report_parse_by(const char *s)
{
    if (!s)
        return -1;
    if (strcmp(s, "side") == 0)
        return REPORT_BY_SIDE;
    if (strcmp(s, "host") == 0)
        return REPORT_BY_HOST;
    if (strcmp(s, "app") == 0)
        return REPORT_BY_APP;
    return -1;
}

/* A decimal port number 1..65535 at *s; advances *s. -1 if none. */
static long parse_port(const char **s)
{
    long v = 0;
    int digits = 0;

    while (**s >= '0' && **s <= '9' && digits < 6) {
        v = v * 10 + (**s - '0');
        (*s)++;
        digits++;
    }
    return digits && v >= 1 && v <= 65535 ? v : -1;
}

int report_parse_port_range(const char *s, unsigned *lo, unsigned *hi)
{
    long a, b;

    if (!s)
        return -1;
    a = parse_port(&s);
    if (a < 0 || *s++ != '-')
        return -1;
    b = parse_port(&s);
    if (b < 0 || *s || a > b)
        return -1;
    *lo = (unsigned)a;
    *hi = (unsigned)b;
    return 0;
}
