/*
 * report_svg.c -- the charts of the HTML report, as inline SVG: per charted
 * capture its concurrent TIME_WAIT periods and its findings over time; for
 * the database the end reasons and the durations of the TIME_WAIT periods;
 * with their scales, axes, legends and colors.
 *
 * Charts are inline SVG in a fixed coordinate space (viewBox), scaled by the
 * browser. Time charts use the buckets of the `timeline` report (a round
 * width, at most ~60 per capture); each capture gets its own time axis, and
 * only the REPORT_HTML_MAX_CHARTED captures with the most TIME_WAIT periods
 * and findings are charted (the page says so).
 *
 * The timeline is drawn in TIMELINE_COLOR and nothing else uses that color, so
 * a test can find the chart in a screenshot.
 *
 * Thread: the main thread of `twscope report`.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "report_html_int.h"

/* ---- numbers and times ---- */

/* A duration in seconds as an axis label: "90 s", "5 min", "2 h", "3 d". */
static void fmt_secs_label(char *buf, size_t n, double s)
{
    if (s != 0 && fabs(s) < 1)
        snprintf(buf, n, "%g ms", s * 1000);
    else if (fabs(s) < 120)
        snprintf(buf, n, "%g s", s);
    else if (fabs(s) < 7200)
        snprintf(buf, n, "%g min", s / 60);
    else if (fabs(s) < 172800)
        snprintf(buf, n, "%g h", s / 3600);
    else
        snprintf(buf, n, "%g d", s / 86400);
}

/* Smallest 1, 2 or 5 times a power of ten that is >= v (1 for v <= 0). */
static double nice125(double v)
{
    double p;

    if (!(v > 0) || !isfinite(v))
        return 1;
    p = pow(10, floor(log10(v)));
    if (v <= p * 1.000001)
        return p;
    if (v <= 2 * p * 1.000001)
        return 2 * p;
    if (v <= 5 * p * 1.000001)
        return 5 * p;
    return 10 * p;
}

/* Round time step >= span/n: the timeline report's auto bucket rule. */
double html_nice_time_step(double span, int n)
{
    static const double steps[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
                                   0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
                                   1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
                                   604800};
    double want = span / n;

    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (steps[i] >= want)
            return steps[i];
    return 86400.0 * (floor(want / 86400) + 1);
}

/* ---- colors ---- */

static const char *reason_color(const char *r)
{
    static const struct { const char *name, *color; } map[] = {
        {"expired", "#5c7cfa"}, {"reused", "#f59f00"},  {"rst", "#e03131"},
        {"capture_end", "#adb5bd"}, {"evicted", "#845ef7"},
    };

    for (size_t i = 0; r && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(r, map[i].name) == 0)
            return map[i].color;
    return "#495057";
}

/* Color of finding kind index k (MAX_KINDS = "other"). */
const char *html_kind_color(const struct html *h, int k)
{
    static const struct { const char *name, *color; } map[] = {
        {"fin_retransmission", "#1c7ed6"}, {"final_ack_retransmission", "#0ca678"},
        {"late_segment", "#fab005"},       {"tw_reuse", "#ae3ec9"},
        {"tw_rst", "#e03131"},
    };
    static const char *const spare[] = {"#15aabf", "#82c91e", "#f06595", "#7950f2",
                                        "#66a80f", "#1098ad", "#e64980", "#5f3dc4"};

    if (k >= MAX_KINDS || k >= h->nkinds)
        return "#868e96";
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(h->kind[k], map[i].name) == 0)
            return map[i].color;
    return spare[k % 8];
}

int html_kind_index(const struct html *h, const char *kind)
{
    for (int k = 0; kind && k < h->nkinds; k++)
        if (strcmp(kind, h->kind[k]) == 0)
            return k;
    return MAX_KINDS;
}

/* ---- SVG ---- */

/* Plot area of a chart inside a W x H viewBox. */
struct plot {
    double W, H;                     /* viewBox size */
    double x0, x1, y0, y1;           /* plot area: left, right, top, bottom */
    double ymax, ystep;              /* value axis */
};

static void plot_init(struct plot *p, double W, double H, double ymax)
{
    p->W = W;
    p->H = H;
    p->x0 = 58;
    p->x1 = W - 14;
    p->y0 = 14;
    p->y1 = H - 40;
    if (ymax < 1)
        ymax = 1;
    p->ystep = nice125(ymax / 5);
    if (p->ystep < 1)
        p->ystep = 1;
    p->ymax = ceil(ymax / p->ystep) * p->ystep;
    {
        /* room for the widest value label */
        char b[32];
        int len = snprintf(b, sizeof b, "%.0f", p->ymax);
        if (len > 4)
            p->x0 = 30 + 7 * len;
    }
}

static double py(const struct plot *p, double v)
{
    return p->y1 - v * (p->y1 - p->y0) / p->ymax;
}

static void svg_open(FILE *o, const struct plot *p, const char *label)
{
    fprintf(o, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"",
            p->W, p->H);
    html_esc(o, label);
    fputs("\">\n", o);
}

/* Horizontal grid lines and value labels; label = axis title (vertical). */
static void axis_values(FILE *o, const struct plot *p, const char *label)
{
    for (double v = 0; v <= p->ymax + 1e-9; v += p->ystep) {
        double y = py(p, v);
        fprintf(o, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                   "<text class=\"yl\" x=\"%.1f\" y=\"%.1f\">%.0f</text>\n",
                p->x0, y, p->x1, y, p->x0 - 6, y + 4, v);
    }
    fprintf(o, "<text class=\"at\" transform=\"translate(13 %.1f) rotate(-90)\">", (p->y0 + p->y1) / 2);
    html_esc(o, label);
    fputs("</text>\n", o);
    fprintf(o, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
               "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
            p->x0, p->y0, p->x0, p->y1, p->x0, p->y1, p->x1, p->y1);
}

/* Time ticks under the plot for [t0, t1], and the axis caption. */
static void axis_time(FILE *o, const struct plot *p, double t0, double t1, double w)
{
    double span = t1 - t0, step, first;
    const char *fmt;
    int digits = 0, ticks = 0;
    char buf[64], from[64], wb[32];

    if (!(span > 0))
        span = 1;
    step = html_nice_time_step(span, 7);
    if (step < 1) {
        fmt = "%H:%M:%S";
        digits = 3;
    } else if (span <= 1.5 * 86400) {
        fmt = step >= 60 ? "%H:%M" : "%H:%M:%S";
    } else if (step < 86400) {
        fmt = "%m-%d %H:%M";
    } else {
        fmt = "%Y-%m-%d";
    }
    first = ceil(t0 / step - 1e-9) * step;
    for (double t = first; t <= t1 + 1e-9 && ticks < 24; t += step, ticks++) {
        double x = p->x0 + (t - t0) * (p->x1 - p->x0) / span;
        html_fmt_time(buf, sizeof buf, t, fmt, digits);
        fprintf(o, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                   "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                x, p->y1, x, p->y1 + 5, x, p->y1 + 17, buf);
    }
    html_fmt_time(from, sizeof from, t0, "%Y-%m-%d %H:%M:%S", step < 1 ? 3 : 0);
    fmt_secs_label(wb, sizeof wb, w);
    fprintf(o, "<text class=\"at\" x=\"%.1f\" y=\"%.1f\">time (UTC) from %s, buckets of %s</text>\n",
            (p->x0 + p->x1) / 2, p->H - 6, from, wb);
}

static void svg_empty(FILE *o, const struct plot *p, const char *msg)
{
    fprintf(o, "<rect class=\"empty\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>"
               "<text class=\"none\" x=\"%.1f\" y=\"%.1f\">",
            p->x0, p->y0, p->x1 - p->x0, p->y1 - p->y0, (p->x0 + p->x1) / 2,
            (p->y0 + p->y1) / 2 + 5);
    html_esc(o, msg);
    fputs("</text>\n", o);
}

/* A step line (and, with fill, the area under it) of v[0..nb-1]. */
static void step_path(FILE *o, const struct plot *p, const int64_t *v, int nb, const char *cls,
                      int area)
{
    double bw = (p->x1 - p->x0) / nb;

    fprintf(o, "<path class=\"%s\" d=\"M%.1f %.1f", cls, p->x0, area ? p->y1 : py(p, (double)v[0]));
    for (int i = 0; i < nb; i++)
        fprintf(o, "V%.1fH%.1f", py(p, (double)v[i]), p->x0 + (i + 1) * bw);
    if (area)
        fprintf(o, "V%.1fZ", p->y1);
    fputs("\"/>\n", o);
}

static void legend_item(FILE *o, const char *color, const char *label, int line)
{
    fprintf(o, "<span class=\"li\"><span class=\"%s\" style=\"background:%s\"></span>",
            line ? "sw ln" : "sw", color);
    html_esc(o, label);
    fputs("</span>", o);
}

void html_chart_timeline(struct html *h, const struct cap_info *c)
{
    FILE *o = h->o;
    struct plot p;
    int64_t ymax = 0;
    int any_cli = 0, any_srv = 0;
    double bw;

    for (int i = 0; c && i < c->nb; i++) {
        if (c->tot[i] > ymax)
            ymax = c->tot[i];
        any_cli |= c->cli[i] > 0;
        any_srv |= c->srv[i] > 0;
    }
    plot_init(&p, 1100, c && c->tws ? 300 : 130, (double)ymax);
    svg_open(o, &p, "concurrent TIME_WAIT periods over time");
    axis_values(o, &p, "TIME_WAIT at once");
    if (!c || !c->tws || c->nb == 0) {
        svg_empty(o, &p, "no TIME_WAIT periods");
        fputs("</svg>\n", o);
        return;
    }
    axis_time(o, &p, c->t0, c->t0 + c->nb * c->w, c->w);
    step_path(o, &p, c->tot, c->nb, "tla", 1);
    if (any_cli)
        step_path(o, &p, c->cli, c->nb, "tlc", 0);
    if (any_srv)
        step_path(o, &p, c->srv, c->nb, "tls", 0);
    step_path(o, &p, c->tot, c->nb, "tl", 0);
    /* hover boxes: one per bucket */
    bw = (p.x1 - p.x0) / c->nb;
    for (int i = 0; i < c->nb; i++) {
        char a[64];
        html_fmt_time(a, sizeof a, c->t0 + i * c->w, "%Y-%m-%d %H:%M:%S", c->w < 1 ? 3 : 0);
        fprintf(o, "<rect class=\"hov\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
                   "<title>%s UTC: at most %lld at once (client %lld, server %lld), %lld started"
                   "</title></rect>\n",
                p.x0 + i * bw, p.y0, bw, p.y1 - p.y0, a, (long long)c->tot[i],
                (long long)c->cli[i], (long long)c->srv[i], (long long)c->started[i]);
    }
    fputs("</svg>\n<div class=\"legend\">", o);
    legend_item(o, TIMELINE_COLOR, "all TIME_WAIT periods (most at once per bucket)", 0);
    if (any_cli)
        legend_item(o, CLIENT_COLOR, "client side", 1);
    if (any_srv)
        legend_item(o, SERVER_COLOR, "server side", 1);
    fputs("</div>\n", o);
}

void html_chart_findings_time(struct html *h, const struct cap_info *c)
{
    FILE *o = h->o;
    struct plot p;
    int64_t ymax = 0;
    double bw;
    int used[MAX_KINDS + 1] = {0};

    for (int i = 0; i < c->nb; i++) {
        int64_t sum = 0;
        for (int k = 0; k <= MAX_KINDS; k++) {
            int64_t v = c->kinds[(size_t)i * (MAX_KINDS + 1) + (size_t)k];
            sum += v;
            used[k] |= v > 0;
        }
        if (sum > ymax)
            ymax = sum;
    }
    plot_init(&p, 1100, 200, (double)ymax);
    svg_open(o, &p, "findings over time by kind");
    axis_values(o, &p, "findings");
    if (ymax == 0) {
        svg_empty(o, &p, "no findings");
        fputs("</svg>\n", o);
        return;
    }
    axis_time(o, &p, c->t0, c->t0 + c->nb * c->w, c->w);
    bw = (p.x1 - p.x0) / c->nb;
    for (int i = 0; i < c->nb; i++) {
        double base = 0;
        for (int k = 0; k <= MAX_KINDS; k++) {
            int64_t v = c->kinds[(size_t)i * (MAX_KINDS + 1) + (size_t)k];
            char a[64];
            if (!v)
                continue;
            html_fmt_time(a, sizeof a, c->t0 + i * c->w, "%Y-%m-%d %H:%M:%S", c->w < 1 ? 3 : 0);
            fprintf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                       "<title>%s UTC: %lld ",
                    p.x0 + i * bw + (bw > 3 ? 0.5 : 0), py(&p, base + (double)v),
                    bw > 3 ? bw - 1 : bw, py(&p, base) - py(&p, base + (double)v),
                    html_kind_color(h, k), a, (long long)v);
            html_esc(o, k < h->nkinds ? h->kind[k] : "other");
            fputs("</title></rect>\n", o);
            base += (double)v;
        }
    }
    fputs("</svg>\n<div class=\"legend\">", o);
    for (int k = 0; k <= MAX_KINDS; k++)
        if (used[k])
            legend_item(o, html_kind_color(h, k), k < h->nkinds ? h->kind[k] : "other", 0);
    fputs("</div>\n", o);
}

/* Horizontal bars: TIME_WAIT periods by end reason, client and server stacked. */
void html_chart_end_reasons(struct html *h)
{
    static const char sql[] =
        "SELECT coalesce(end_reason, 'unknown') AS r, sum(side = 'client'),"
        " sum(side = 'server'), count(*) FROM time_waits GROUP BY r"
        " ORDER BY count(*) DESC, r LIMIT 12";
    sqlite3_stmt *s = html_prep(h, sql);
    FILE *o = h->o;
    char *names[12];
    int64_t cl[12], sv[12], tot[12], max = 0;
    int n = 0;
    struct plot p;

    while (html_row(h, s) && n < 12) {
        names[n] = html_dup_col(h, s, 0);
        cl[n] = sqlite3_column_int64(s, 1);
        sv[n] = sqlite3_column_int64(s, 2);
        tot[n] = sqlite3_column_int64(s, 3);
        if (tot[n] > max)
            max = tot[n];
        n++;
    }
    sqlite3_finalize(s);
    plot_init(&p, 540, 60 + 30 * (n ? n : 3), 1);
    p.x0 = 110;
    p.x1 = 470;
    svg_open(o, &p, "TIME_WAIT periods by end reason");
    if (n == 0) {
        svg_empty(o, &p, "no TIME_WAIT periods");
    } else {
        double scale = (p.x1 - p.x0) / (double)max;
        for (int i = 0; i < n; i++) {
            double y = p.y0 + 6 + i * 30, wc = (double)cl[i] * scale, ws = (double)sv[i] * scale;
            double wo = (double)(tot[i] - cl[i] - sv[i]) * scale;
            fprintf(o, "<text class=\"yl\" x=\"%.1f\" y=\"%.1f\">", p.x0 - 8, y + 15);
            html_esc(o, names[i]);
            fputs("</text>", o);
            fprintf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"20\" fill=\"%s\">"
                       "<title>client side: %lld</title></rect>",
                    p.x0, y, wc, CLIENT_COLOR, (long long)cl[i]);
            fprintf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"20\" fill=\"%s\">"
                       "<title>server side: %lld</title></rect>",
                    p.x0 + wc, y, ws, SERVER_COLOR, (long long)sv[i]);
            if (wo > 0)
                fprintf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"20\" fill=\"#868e96\">"
                           "<title>other side: %lld</title></rect>",
                        p.x0 + wc + ws, y, wo, (long long)(tot[i] - cl[i] - sv[i]));
            fprintf(o, "<text class=\"vl\" x=\"%.1f\" y=\"%.1f\">%lld</text>\n",
                    p.x0 + wc + ws + (wo > 0 ? wo : 0) + 5, y + 15, (long long)tot[i]);
        }
        fprintf(o, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                p.x0, p.y0, p.x0, p.y0 + 12 + 30 * n);
    }
    fputs("</svg>\n<div class=\"legend\">", o);
    legend_item(o, CLIENT_COLOR, "client side", 0);
    legend_item(o, SERVER_COLOR, "server side", 0);
    fputs("</div>\n", o);
    for (int i = 0; i < n; i++)
        free(names[i]);
}

/* Histogram of how long TIME_WAIT periods lasted, stacked by end reason. */
void html_chart_durations(struct html *h)
{
#define DUR "max(0, coalesce(end_ts, expected_end_ts, start_ts) - start_ts)"
    static const char sql_max[] = "SELECT max(" DUR "), count(*) FROM time_waits"
                                  " WHERE start_ts IS NOT NULL";
    static const char sql_bins[] =
        "SELECT CAST(" DUR " / ?1 AS INTEGER) AS b, coalesce(end_reason, 'unknown') AS r,"
        " count(*) FROM time_waits WHERE start_ts IS NOT NULL GROUP BY b, r";
    static const char sql_msl[] =
        "SELECT duration_s, count(*) FROM time_waits WHERE duration_s > 0"
        " GROUP BY duration_s ORDER BY count(*) DESC LIMIT 3";
#undef DUR
    static const char *const reasons[] = {"expired", "reused", "rst", "capture_end", "evicted",
                                          "other"};
    enum { NR = 6, MAXBINS = 40 };
    int64_t bins[MAXBINS][NR], ymax = 0, n = 0;
    int used[NR] = {0}, nb = 0;
    double maxd = 0, w;
    sqlite3_stmt *s = html_prep(h, sql_max);
    FILE *o = h->o;
    struct plot p;

    memset(bins, 0, sizeof bins);
    if (html_row(h, s)) {
        maxd = sqlite3_column_double(s, 0);
        n = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    w = nice125(maxd / 30);
    if (maxd > 0 && w > maxd)
        w = maxd;
    nb = n ? (int)floor(maxd / w) + 1 : 0;
    if (nb > MAXBINS)
        nb = MAXBINS;
    s = html_prep(h, sql_bins);
    if (s)
        sqlite3_bind_double(s, 1, w);
    while (html_row(h, s)) {
        int b = sqlite3_column_int(s, 0), r = NR - 1;
        const char *name = html_col_text(s, 1);
        for (int k = 0; name && k < NR - 1; k++)
            if (strcmp(name, reasons[k]) == 0)
                r = k;
        if (b < 0)
            b = 0;
        if (b >= nb)
            b = nb - 1;
        if (b >= 0) {
            bins[b][r] += sqlite3_column_int64(s, 2);
            used[r] = 1;
        }
    }
    sqlite3_finalize(s);
    for (int b = 0; b < nb; b++) {
        int64_t sum = 0;
        for (int r = 0; r < NR; r++)
            sum += bins[b][r];
        if (sum > ymax)
            ymax = sum;
    }
    plot_init(&p, 540, 260, (double)ymax);
    svg_open(o, &p, "histogram of TIME_WAIT durations");
    axis_values(o, &p, "TIME_WAIT periods");
    if (nb == 0) {
        svg_empty(o, &p, "no TIME_WAIT periods");
        fputs("</svg>\n", o);
        return;
    }
    {
        double span = nb * w, bw = (p.x1 - p.x0) / nb, lstep = nice125(span / 6);
        for (int b = 0; b < nb; b++) {
            double base = 0;
            for (int r = 0; r < NR; r++) {
                int64_t v = bins[b][r];
                char lo[32], hi[32];
                if (!v)
                    continue;
                fmt_secs_label(lo, sizeof lo, b * w);
                fmt_secs_label(hi, sizeof hi, (b + 1) * w);
                fprintf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                           "<title>%s to %s: %lld %s</title></rect>\n",
                        p.x0 + b * bw + (bw > 3 ? 0.5 : 0), py(&p, base + (double)v),
                        bw > 3 ? bw - 1 : bw, py(&p, base) - py(&p, base + (double)v),
                        reason_color(reasons[r]), lo, hi, (long long)v, reasons[r]);
                base += (double)v;
            }
        }
        for (double v = 0; v <= span + 1e-9; v += lstep) {
            double x = p.x0 + v * (p.x1 - p.x0) / span;
            char l[32];
            fmt_secs_label(l, sizeof l, v);
            fprintf(o, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                       "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                    x, p.y1, x, p.y1 + 5, x, p.y1 + 17, l);
        }
        /* the 2*MSL values used: where "expired" periods end */
        s = html_prep(h, sql_msl);
        while (html_row(h, s)) {
            double d = sqlite3_column_double(s, 0), x;
            char l[32];
            if (d > span)
                continue;
            x = p.x0 + d * (p.x1 - p.x0) / span;
            fmt_secs_label(l, sizeof l, d);
            fprintf(o, "<line class=\"msl\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                       "<text class=\"ml\" x=\"%.1f\" y=\"%.1f\">2MSL %s</text>\n",
                    x, p.y0, x, p.y1, x - 3, p.y0 + 10, l);
        }
        sqlite3_finalize(s);
        fprintf(o, "<text class=\"at\" x=\"%.1f\" y=\"%.1f\">time spent in TIME_WAIT (end - start)"
                   "</text>\n",
                (p.x0 + p.x1) / 2, p.H - 6);
    }
    fputs("</svg>\n<div class=\"legend\">", o);
    for (int r = 0; r < NR; r++)
        if (used[r])
            legend_item(o, reason_color(reasons[r]), reasons[r], 0);
    fputs("</div>\n", o);
}
