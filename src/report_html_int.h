/*
 * report_html_int.h -- what the parts of the HTML report share: report_html.c
 * (the page's text and the driver), report_html_data.c (the SQL helpers and
 * what is loaded before the page is written) and report_svg.c (the charts).
 * Only those include it; the contract is in report_html.h.
 *
 * Errors: the first one is kept in h->ret, with one line printed to h->err;
 * once it is set, html_prep() returns NULL and html_row() 0, so every loop
 * over a statement ends and the driver returns it.
 *
 * Thread: the main thread of `twscope report`.
 */
#ifndef TWSCOPE_REPORT_HTML_INT_H
#define TWSCOPE_REPORT_HTML_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "twscope/report.h"

#define TIMELINE_COLOR "#d9480f"     /* total concurrent TIME_WAIT: unique on the page */
#define CLIENT_COLOR "#1971c2"
#define SERVER_COLOR "#2f9e44"
#define MAX_KINDS 8                  /* finding kinds with their own color; more: "other" */

struct cap_info {
    int64_t id;
    char *source, *error, *profile; /* malloc'd copies, or NULL */
    int64_t files, packets, tcp_packets, conns, tws, finds;
    double first_ts, last_ts;
    int complete;
    int64_t peak;                    /* most TIME_WAIT periods at once */
    double peak_ts;                  /* when first reached */
    int charted;                     /* gets time charts */
    /* chart data, charted captures only */
    int nb;                          /* buckets */
    double t0, w;                    /* first bucket start, width (s) */
    int64_t *tot, *cli, *srv, *started; /* per bucket: peak total/client/server, started */
    int64_t *kinds;                  /* nb * (MAX_KINDS + 1) finding counts */
};

struct html {
    FILE *o;
    sqlite3 *db;
    FILE *err;
    int ret;                         /* first error, TW_ERR_* */
    struct report_opts opts;
    struct cap_info *caps;
    size_t ncaps;
    char *kind[MAX_KINDS];           /* finding kinds by count, malloc'd */
    int nkinds;
    int other_kinds;                 /* 1 if some kind is beyond MAX_KINDS */
    int64_t total_findings;
    int64_t *ladder_conn;            /* connections drawn in the ladders, sorted; malloc'd */
    int64_t *ladder_first;           /* the ladder each is in (its 4-tuple's first id) */
    size_t nladder;
};

/* report_html.c */

/* Text or attribute value, escaped (see esc_cut()), written to o. */
void html_esc(FILE *o, const char *s);
/* t as UTC with strftime format fmt and `digits` (0, 3, 6) fraction digits. */
void html_fmt_time(char *buf, size_t n, double t, const char *fmt, int digits);

/* report_html_data.c */

sqlite3_stmt *html_prep(struct html *h, const char *sql);
int html_row(struct html *h, sqlite3_stmt *s);
const char *html_col_text(sqlite3_stmt *s, int i);
char *html_dup_col(struct html *h, sqlite3_stmt *s, int i);
void html_load(struct html *h);
void html_caps_free(struct html *h);

/* report_svg.c */

double html_nice_time_step(double span, int n);
const char *html_kind_color(const struct html *h, int k);
int html_kind_index(const struct html *h, const char *kind);
void html_chart_timeline(struct html *h, const struct cap_info *c);
void html_chart_findings_time(struct html *h, const struct cap_info *c);
void html_chart_end_reasons(struct html *h);
void html_chart_durations(struct html *h);

#endif /* TWSCOPE_REPORT_HTML_INT_H */
