/*
 * report.h -- `twscope query`: built-in reports and raw SQL over a database.
 *
 * The database is opened read-only (SQLITE_OPEN_READONLY, plus PRAGMA
 * query_only), so `query sql` cannot modify it. Output formats:
 *   table -- aligned columns for a terminal,
 *   csv   -- RFC 4180 (CRLF line ends, quotes doubled, header row),
 *   json  -- an array of objects with typed values (numbers stay numbers,
 *            NULL is null).
 *
 * Every report is one SELECT, so every report prints in every format. Two
 * reports compute over time with window functions (+1/-1 events and running
 * sums), entirely in SQL, so they scale with the database, not with memory:
 *   ports    -- per (client IP, server IP, server port): the peak number of
 *               4-tuples tied up at once (connection open, or the client in
 *               TIME_WAIT; a 4-tuple counts once when both overlap), when, and
 *               the share of the ephemeral port range; plus per server
 *               endpoint the peak of concurrent server-side TIME_WAITs. One
 *               result set, told apart by the `scope` column.
 *   timeline -- per capture and time bucket: the maximum number of TIME_WAIT
 *               periods open at any instant of the bucket, optionally split
 *               by side, host or application.
 * Intervals are closed: a period [start, end] counts at both ends, so a
 * zero-length period (cut by the capture end) still counts once, and a
 * period starting at the instant another ends overlaps it.
 *
 * Thread: the main thread of `twscope query` and `twscope report`, on a
 * read-only connection of its own; never used while analyzing.
 */
#ifndef TWSCOPE_REPORT_H
#define TWSCOPE_REPORT_H

#include <stdint.h>
#include <stdio.h>

enum report_format { REPORT_TABLE, REPORT_CSV, REPORT_JSON };

/* Series of the timeline report. */
enum report_by {
    REPORT_BY_NONE,                  /* one series: every TIME_WAIT period */
    REPORT_BY_SIDE,                  /* time_waits.side: client / server */
    REPORT_BY_HOST,                  /* time_waits.ip: the endpoint in TIME_WAIT */
    REPORT_BY_APP,                   /* connections.app_protocol ('unknown' if NULL) */
};

#define REPORT_PORT_LO_DEFAULT 32768 /* Linux net.ipv4.ip_local_port_range */
#define REPORT_PORT_HI_DEFAULT 60999
#define REPORT_TIMELINE_BUCKETS 60   /* auto bucket: a round width giving at most ~60 */
#define REPORT_TIMELINE_MAX_BUCKETS 100000 /* sum over captures, with --bucket */
#define REPORT_TIMELINE_MAX_ROWS 5000000 /* --by host: hosts x buckets, summed over captures */

/* How instants print (columns ts, *_ts, bucket_start, started_at). */
enum report_time {
    REPORT_TIME_EPOCH,               /* seconds since the epoch, as stored */
    REPORT_TIME_UTC,                 /* --utc: 2026-11-27 13:38:24.198019 UTC (ISO 8601 in csv/json) */
    REPORT_TIME_LOCAL,               /* --local: the same in the local time zone (TZ) */
};

/* Options of the reports that take any; zero (memset) means the defaults. */
struct report_opts {
    unsigned port_lo, port_hi;       /* ports: ephemeral range; 0,0 = 32768-60999 */
    double bucket_s;                 /* timeline: bucket width in seconds; 0 = auto */
    enum report_by by;               /* timeline: series */
    int64_t capture_id;              /* ports, timeline: only this capture; 0 = all */
    enum report_time time_mode;      /* every report, sql too */
};

/*
 * Run report `name` ("summary", "connections", "timewaits", "findings",
 * "reuse", "ports", "timeline", or "sql" with arg = the statement) on database
 * `path`, printing to out. opts may be NULL (defaults); a port range given to
 * another report than ports, or a bucket/series to another than timeline, is a
 * usage error. Returns 0, or a TW_ERR_* with a one-line message printed to err.
 */
int report_run_opts(const char *path, const char *name, const char *arg, enum report_format fmt,
                    const struct report_opts *opts, FILE *out, FILE *err);

/* report_run_opts() with the default options. */
int report_run(const char *path, const char *name, const char *arg, enum report_format fmt,
               FILE *out, FILE *err);

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
int report_utf8_len(const unsigned char *s, size_t n);

/* Parse "table"/"csv"/"json"; -1 if unknown. */
int report_parse_format(const char *s);

/* Parse "side"/"host"/"app"; -1 if unknown. */
int report_parse_by(const char *s);

/* Parse "LO-HI" (1 <= LO <= HI <= 65535) into *lo, *hi; 0, or -1 if invalid. */
int report_parse_port_range(const char *s, unsigned *lo, unsigned *hi);

struct sqlite3;
struct sqlite3_stmt;

/* SQL: the end of a TIME_WAIT period t, when it ended, else when it would have. */
#define REPORT_TW_END "max(coalesce(t.end_ts, t.expected_end_ts, t.start_ts), t.start_ts)"

/*
 * The client ports seen fill a band much narrower than the range asked (a
 * quarter or less): the host may use a narrower ephemeral range, or its
 * connections to this server a band of their own; the share of the range
 * would then understate how close it came to running out.
 */
#define REPORT_PORTS_NOTE(n, tuples, pmin, pmax)                                                 \
    "CASE WHEN o = 0 AND " tuples " >= 2 AND (" pmax " - " pmin " + 1) * 4 <= (?2 - ?1 + 1)" \
    " THEN 'client ports seen only in ' || " pmin " || '-' || " pmax " || ' (' ||"          \
    " printf('%.1f', 100.0 * " n " / (" pmax " - " pmin " + 1)) || '% of that band at the"   \
    " peak): is the ephemeral range narrower than ' || ?1 || '-' || ?2 || '?' END"


/*
 * Prepare built-in report `name` (not "sql") on an open database, with its
 * parameters bound from opts (NULL = defaults), for a caller that steps the
 * rows itself (report_html.c). The caller finalizes *out. Returns 0, or a
 * TW_ERR_* with a one-line message printed to err (*out is then NULL).
 */
int report_prepare(struct sqlite3 *db, const char *name, const struct report_opts *opts,
                   struct sqlite3_stmt **out, FILE *err);

/* SQL: the timeline's series key for each --by (over time_waits t, connections c). */
#define REPORT_KEY_NONE "'all'"
#define REPORT_KEY_SIDE "coalesce(t.side, 'unknown')"
#define REPORT_KEY_HOST "coalesce(t.ip, 'unknown')"
#define REPORT_KEY_APP "coalesce(c.app_protocol, 'unknown')"

/*
 * Make the table-valued functions of report_peaks.c available on db:
 * twscope_ports(lo, hi, capture), the per-group port peaks the ports report
 * formats, and twscope_timeline(cap, t0, w, nb, by), one capture's
 * per-series, per-bucket levels the timeline report completes (with nb = 1:
 * the capture's peak and its instant). Returns 0, or
 * -1 if SQLite refused a module.
 */
int report_peaks_register(struct sqlite3 *db);
/* The same once per connection: 0 if they are there or now registered, else -1. */
int report_peaks_ready(struct sqlite3 *db);

#endif /* TWSCOPE_REPORT_H */
