/*
 * report_html_data.c -- what the HTML report loads before it writes the page
 * (html_load()): the captures and their counts, the finding kinds, which
 * captures get charts, and their peaks, timelines and findings per bucket,
 * all into struct html; and the SQL helpers every part of the report uses.
 *
 * Thread: the main thread of `twscope report`.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "twscope/common.h"
#include "twscope/report.h"
#include "twscope/report_html.h"

#include "report_html_int.h"

/* ---- errors and SQL helpers ---- */

static void fail_db(struct html *h)
{
    if (!h->ret) {
        fprintf(h->err, "report: %s\n", sqlite3_errmsg(h->db));
        h->ret = TW_ERR_DB;
    }
}

static void fail_nomem(struct html *h)
{
    if (!h->ret) {
        fprintf(h->err, "report: out of memory\n");
        h->ret = TW_ERR_NOMEM;
    }
}

/* Prepared statement, or NULL after an error (then h->ret is set). */
sqlite3_stmt *html_prep(struct html *h, const char *sql)
{
    sqlite3_stmt *s = NULL;

    if (h->ret)
        return NULL;
    if (sqlite3_prepare_v2(h->db, sql, -1, &s, NULL) != SQLITE_OK) {
        fail_db(h);
        sqlite3_finalize(s);
        return NULL;
    }
    return s;
}

/* 1 while s has a row; 0 at the end or after an error (h->ret set). */
int html_row(struct html *h, sqlite3_stmt *s)
{
    int rc;

    if (!s || h->ret)
        return 0;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        fail_db(h);
    return 0;
}

const char *html_col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

char *html_dup_col(struct html *h, sqlite3_stmt *s, int i)
{
    const char *t = html_col_text(s, i);
    char *p;

    if (!t)
        return NULL;
    p = strdup(t);
    if (!p)
        fail_nomem(h);
    return p;
}

/* ---- loading ---- */

void html_caps_free(struct html *h)
{
    for (size_t i = 0; i < h->ncaps; i++) {
        struct cap_info *c = &h->caps[i];
        free(c->source);
        free(c->error);
        free(c->profile);
        free(c->tot);
        free(c->cli);
        free(c->srv);
        free(c->started);
        free(c->kinds);
    }
    free(h->caps);
    for (int k = 0; k < h->nkinds; k++)
        free(h->kind[k]);
    free(h->ladder_conn);
    free(h->ladder_first);
}

static struct cap_info *cap_by_id(struct html *h, int64_t id)
{
    for (size_t i = 0; i < h->ncaps; i++)
        if (h->caps[i].id == id)
            return &h->caps[i];
    return NULL;
}

static void load_captures(struct html *h)
{
    static const char sql[] =
        "WITH cc AS (SELECT capture_id AS cap, count(*) AS n FROM connections GROUP BY 1),"
        " tc AS (SELECT c.capture_id AS cap, count(*) AS n FROM time_waits t"
        "  JOIN connections c ON c.id = t.connection_id GROUP BY 1),"
        " fc AS (SELECT c.capture_id AS cap, count(*) AS n FROM findings f"
        "  JOIN connections c ON c.id = f.connection_id GROUP BY 1)"
        " SELECT p.id, p.source, p.files, p.first_ts, p.last_ts, p.packets, p.tcp_packets,"
        "  p.complete, p.error, p.tw_profile, coalesce(cc.n, 0), coalesce(tc.n, 0),"
        "  coalesce(fc.n, 0)"
        " FROM captures p LEFT JOIN cc ON cc.cap = p.id LEFT JOIN tc ON tc.cap = p.id"
        " LEFT JOIN fc ON fc.cap = p.id ORDER BY p.id";
    sqlite3_stmt *s = html_prep(h, sql);
    size_t cap = 0;

    while (html_row(h, s)) {
        struct cap_info *c;
        if (h->ncaps == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct cap_info *p = realloc(h->caps, ncap * sizeof *p);
            if (!p) {
                fail_nomem(h);
                break;
            }
            h->caps = p;
            cap = ncap;
        }
        c = &h->caps[h->ncaps++];
        memset(c, 0, sizeof *c);
        c->id = sqlite3_column_int64(s, 0);
        c->source = html_dup_col(h, s, 1);
        c->files = sqlite3_column_int64(s, 2);
        c->first_ts = sqlite3_column_double(s, 3);
        c->last_ts = sqlite3_column_double(s, 4);
        c->packets = sqlite3_column_int64(s, 5);
        c->tcp_packets = sqlite3_column_int64(s, 6);
        c->complete = sqlite3_column_int(s, 7);
        c->error = html_dup_col(h, s, 8);
        c->profile = html_dup_col(h, s, 9);
        c->conns = sqlite3_column_int64(s, 10);
        c->tws = sqlite3_column_int64(s, 11);
        c->finds = sqlite3_column_int64(s, 12);
    }
    sqlite3_finalize(s);
}

static void load_kinds(struct html *h)
{
    sqlite3_stmt *s = html_prep(h, "SELECT coalesce(kind, 'unknown'), count(*) FROM findings"
                                   " GROUP BY 1 ORDER BY 2 DESC, 1");

    while (html_row(h, s)) {
        h->total_findings += sqlite3_column_int64(s, 1);
        if (h->nkinds == MAX_KINDS) {
            h->other_kinds = 1;
            continue;
        }
        h->kind[h->nkinds] = html_dup_col(h, s, 0);
        if (h->kind[h->nkinds])
            h->nkinds++;
    }
    sqlite3_finalize(s);
}

/* The REPORT_HTML_MAX_CHARTED captures with the most TIME_WAITs + findings. */
static void choose_charted(struct html *h)
{
    for (int k = 0; k < REPORT_HTML_MAX_CHARTED; k++) {
        struct cap_info *best = NULL;
        for (size_t i = 0; i < h->ncaps; i++) {
            struct cap_info *c = &h->caps[i];
            if (c->charted || c->tws + c->finds == 0)
                continue;
            if (!best || c->tws + c->finds > best->tws + best->finds)
                best = c;
        }
        if (!best)
            break;
        best->charted = 1;
    }
}

static int alloc_buckets(struct html *h, struct cap_info *c, int nb, double t0, double w)
{
    c->nb = nb;
    c->t0 = t0;
    c->w = w;
    c->tot = calloc((size_t)nb, sizeof *c->tot);
    c->cli = calloc((size_t)nb, sizeof *c->cli);
    c->srv = calloc((size_t)nb, sizeof *c->srv);
    c->started = calloc((size_t)nb, sizeof *c->started);
    c->kinds = calloc((size_t)nb * (MAX_KINDS + 1), sizeof *c->kinds);
    if (!c->tot || !c->cli || !c->srv || !c->started || !c->kinds) {
        fail_nomem(h);
        return -1;
    }
    return 0;
}

/*
 * Timeline rows of every capture, kept for the charted ones. The total series is dense (one row per bucket), so its
 * first pass gives each capture's t0, width and bucket count.
 */
static void load_timeline(struct html *h)
{
    struct report_opts o = h->opts;
    sqlite3_stmt *s = NULL;
    struct cap_info *c = NULL;
    int64_t cur = -1;
    int n = 0;

    o.bucket_s = 0;
    o.by = REPORT_BY_NONE;
    o.capture_id = 0;
    /* first pass: count buckets per capture, peaks */
    if (h->ret || report_prepare(h->db, "timeline", &o, &s, h->err)) {
        if (!h->ret)
            h->ret = TW_ERR_DB;
        return;
    }
    while (html_row(h, s)) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (id != cur) {
            if (c && c->charted && alloc_buckets(h, c, n, c->t0, c->w))
                break;
            cur = id;
            n = 0;
            c = cap_by_id(h, id);
            if (c) {
                c->t0 = sqlite3_column_double(s, 1);
                c->w = sqlite3_column_double(s, 3);
            }
        }
        n++;
    }
    if (!h->ret && c && c->charted && !c->tot)
        alloc_buckets(h, c, n, c->t0, c->w);
    sqlite3_reset(s);
    /* second pass: fill the charted captures */
    while (html_row(h, s)) {
        c = cap_by_id(h, sqlite3_column_int64(s, 0));
        if (c && c->tot) {
            long b = lround((sqlite3_column_double(s, 1) - c->t0) / c->w);
            if (b >= 0 && b < c->nb) {
                c->tot[b] = sqlite3_column_int64(s, 4);
                c->started[b] = sqlite3_column_int64(s, 5);
            }
        }
    }
    sqlite3_finalize(s);
    s = NULL;

    o.by = REPORT_BY_SIDE;
    if (h->ret || report_prepare(h->db, "timeline", &o, &s, h->err)) {
        if (!h->ret)
            h->ret = TW_ERR_DB;
        return;
    }
    while (html_row(h, s)) {
        const char *side;
        long b;
        c = cap_by_id(h, sqlite3_column_int64(s, 0));
        if (!c || !c->tot)
            continue;
        b = lround((sqlite3_column_double(s, 1) - c->t0) / c->w);
        side = html_col_text(s, 4);
        if (b < 0 || b >= c->nb || !side)
            continue;
        if (strcmp(side, "client") == 0)
            c->cli[b] = sqlite3_column_int64(s, 5);
        else if (strcmp(side, "server") == 0)
            c->srv[b] = sqlite3_column_int64(s, 5);
    }
    sqlite3_finalize(s);
}

/*
 * The exact peak of concurrent TIME_WAIT periods of each capture and its
 * instant: the timeline's running sum without buckets (the timeline's largest
 * bucket peak is the same number).
 */
static void load_peaks(struct html *h)
{
    /* one bucket per capture (report_peaks.c): its highest level and when */
    static const char sql[] = "SELECT p.id, t.mx, t.mt FROM captures p,"
                              " twscope_timeline(p.id, 0, 1, 1, 0) t";
    sqlite3_stmt *s;

    if (!h->ret && report_peaks_ready(h->db))
        fail_db(h);
    s = html_prep(h, sql);

    while (html_row(h, s)) {
        struct cap_info *c = cap_by_id(h, sqlite3_column_int64(s, 0));
        if (c) {
            c->peak = sqlite3_column_int64(s, 1);
            c->peak_ts = sqlite3_column_double(s, 2);
        }
    }
    sqlite3_finalize(s);
}

/* Findings per bucket and kind for the charted captures. */
static void load_finding_buckets(struct html *h)
{
    static const char sql[] =
        "SELECT max(0, min(?3 - 1, CAST((f.ts - ?1) / ?2 AS INTEGER))),"
        " coalesce(f.kind, 'unknown'), count(*)"
        " FROM findings f JOIN connections c ON c.id = f.connection_id"
        " WHERE c.capture_id = ?4 AND f.ts IS NOT NULL GROUP BY 1, 2";
    sqlite3_stmt *s = html_prep(h, sql);

    for (size_t i = 0; s && i < h->ncaps && !h->ret; i++) {
        struct cap_info *c = &h->caps[i];
        if (!c->charted)
            continue;
        if (!c->tot) {
            /* no TIME_WAIT: an axis over the capture, as the timeline would cut it */
            double span = c->last_ts - c->first_ts, w, t0;
            int nb;
            if (span < 0)
                span = 0;
            w = html_nice_time_step(span, REPORT_TIMELINE_BUCKETS);
            t0 = floor(c->first_ts / w) * w;
            nb = (int)ceil((c->last_ts - t0) / w);
            if (nb < 1)
                nb = 1;
            if (nb > 4 * REPORT_TIMELINE_BUCKETS)
                nb = 4 * REPORT_TIMELINE_BUCKETS;
            if (alloc_buckets(h, c, nb, t0, w))
                break;
        }
        sqlite3_bind_double(s, 1, c->t0);
        sqlite3_bind_double(s, 2, c->w);
        sqlite3_bind_int(s, 3, c->nb);
        sqlite3_bind_int64(s, 4, c->id);
        while (html_row(h, s)) {
            int b = sqlite3_column_int(s, 0);
            int k = html_kind_index(h, html_col_text(s, 1));
            if (b >= 0 && b < c->nb)
                c->kinds[(size_t)b * (MAX_KINDS + 1) + (size_t)k] += sqlite3_column_int64(s, 2);
        }
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
}

/*
 * What the page needs before its first byte is written: the captures, the
 * finding kinds, which captures get charts, and their peaks, timelines and
 * findings per bucket. An error is left in h->ret.
 */
void html_load(struct html *h)
{
    load_captures(h);
    load_kinds(h);
    choose_charted(h);
    load_peaks(h);
    load_timeline(h);
    load_finding_buckets(h);
}
