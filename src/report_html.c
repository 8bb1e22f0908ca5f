/*
 * report_html.c -- `twscope report`: one self-contained HTML file per database.
 *
 * The page is written top to bottom in one pass, after the little that must
 * be known first (captures, finding kinds, the timeline rows of the charted
 * captures) has been loaded (report_html_data.c). Everything else streams
 * from SQL to the file. This file holds the page's text (escaping, times, the
 * style sheet, the sections in page order) and the driver,
 * report_html_write(): where the file goes and what it may replace. The
 * charts are drawn by report_svg.c; what the parts share is in
 * report_html_int.h.
 *
 * Thread: the main thread of `twscope report`.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "twscope/common.h"
#include "twscope/config.h"
#include "twscope/explain.h"
#include "twscope/outfile.h"
#include "twscope/report.h"
#include "twscope/report_html.h"
#include "twscope/store.h"
#include "twscope/words.h"

#include "report_html_int.h"

#define SOURCE_CUT 160               /* characters of a capture source shown in titles */
#define DETAIL_CUT 1000              /* characters of a finding detail shown */
#define MAX_LADDERS 50               /* 4-tuples drawn as ladders (those with findings) */

#define STR_(x) #x
#define STR(x) STR_(x)

/* ---- escaping ---- */

/*
 * Text or attribute value: the five markup characters as entities, control
 * characters as spaces, invalid UTF-8 as U+FFFD. At most max characters
 * (code points) are written, then an ellipsis; max 0 = no limit.
 */
static void esc_cut(FILE *o, const char *str, size_t max)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    size_t n = strlen((const char *)s), i = 0, chars = 0;

    while (i < n) {
        unsigned c = s[i];
        if (max && chars++ == max) {
            fputs("\xe2\x80\xa6", o);
            return;
        }
        switch (c) {
        case '&': fputs("&amp;", o); i++; continue;
        case '<': fputs("&lt;", o); i++; continue;
        case '>': fputs("&gt;", o); i++; continue;
        case '"': fputs("&quot;", o); i++; continue;
        case '\'': fputs("&#39;", o); i++; continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7f) {
            fputc(c == '\n' || c == '\t' ? (int)c : ' ', o);
            i++;
        } else if (c < 0x80) {
            fputc((int)c, o);
            i++;
        } else {
            int len = report_utf8_len(s + i, n - i);
            if (len) {
                fwrite(s + i, 1, (size_t)len, o);
                i += (size_t)len;
            } else {
                fputs("\xef\xbf\xbd", o);
                i++;
            }
        }
    }
}

void html_esc(FILE *o, const char *s)
{
    esc_cut(o, s, 0);
}

/* ---- numbers and times ---- */

/* t as UTC with strftime format fmt and `digits` (0, 3, 6) fraction digits. */
void html_fmt_time(char *buf, size_t n, double t, const char *fmt, int digits)
{
    double fl = floor(t);
    time_t sec = (time_t)fl;
    struct tm tm;
    size_t len;

    if (!isfinite(t) || fabs(t) > 1e14 || !gmtime_r(&sec, &tm)) {
        snprintf(buf, n, "?");
        return;
    }
    len = strftime(buf, n, fmt, &tm);
    if (digits > 0 && len < n) {
        long scale = digits >= 6 ? 1000000 : 1000;
        long frac = (long)((t - fl) * (double)scale + 0.5);
        if (frac >= scale)
            frac = scale - 1;
        snprintf(buf + len, n - len, ".%0*ld", digits >= 6 ? 6 : 3, frac);
    }
}

static void fmt_duration(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, n, "-");
    else if (s < 1)
        snprintf(buf, n, "%.0f ms", s * 1000);
    else if (s < 60)
        snprintf(buf, n, "%.1f s", s);
    else if (s < 3600)
        snprintf(buf, n, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
    else if (s < 86400)
        snprintf(buf, n, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
    else
        snprintf(buf, n, "%.1f days", s / 86400);
}

static const char *flag_letters(int f, char *buf)
{
    static const char letters[] = "FSRPAUEC";
    int k = 0;

    for (int i = 0; i < 8; i++)
        if (f & (1 << i))
            buf[k++] = letters[i];
    buf[k] = '\0';
    return buf;
}

/* ---- page parts ---- */

/* The first column of the first row of sql (0 if none, or after an error). */
static int64_t scalar_int(struct html *h, const char *sql)
{
    sqlite3_stmt *s = html_prep(h, sql);
    int64_t v = 0;

    if (html_row(h, s))
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static const char page_style[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#212529;"
    "background:#f8f9fa;margin:0}"
    "main{max-width:1180px;margin:0 auto;padding:16px 20px 40px}"
    "h1{font-size:24px;margin:8px 0 2px}h2{font-size:19px;margin:28px 0 8px;"
    "border-bottom:2px solid #dee2e6;padding-bottom:4px}h3{font-size:15px;margin:18px 0 4px}"
    ".meta{color:#495057;margin:0 0 12px}.muted{color:#868e96}"
    ".cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}"
    ".card{background:#fff;border:1px solid #dee2e6;border-radius:6px;padding:8px 14px;"
    "min-width:130px}.card b{display:block;font-size:20px}.card span{color:#495057;font-size:12px}"
    ".chart{display:block;width:100%;height:auto;background:#fff;border:1px solid #dee2e6;"
    "border-radius:6px;margin:4px 0}"
    ".chart text{font-size:11px;fill:#495057}.chart .yl{text-anchor:end}"
    ".chart .xl{text-anchor:middle}.chart .at{text-anchor:middle;font-size:11px;fill:#343a40}"
    ".chart .vl{fill:#212529}.chart .none{text-anchor:middle;font-size:16px;fill:#868e96}"
    ".chart .ml{text-anchor:end;font-size:10px;fill:#343a40}"
    ".grid{stroke:#e9ecef;stroke-width:1}.axis{stroke:#868e96;stroke-width:1}"
    ".msl{stroke:#343a40;stroke-width:1;stroke-dasharray:4 3}"
    ".empty{fill:#f8f9fa;stroke:#dee2e6}"
    ".tla{fill:#fbe3d6;stroke:none}.tl{fill:none;stroke:" TIMELINE_COLOR ";stroke-width:2.5}"
    ".tlc{fill:none;stroke:" CLIENT_COLOR ";stroke-width:1.5;stroke-dasharray:5 3}"
    ".tls{fill:none;stroke:" SERVER_COLOR ";stroke-width:1.5;stroke-dasharray:2 2}"
    ".hov{fill:transparent}.hov:hover{fill:rgba(0,0,0,.06)}"
    ".legend{font-size:12px;color:#495057;margin:0 0 8px}.li{margin-right:16px;white-space:nowrap}"
    ".sw{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px;"
    "border-radius:2px}.sw.ln{height:3px;vertical-align:3px}"
    ".two{display:grid;grid-template-columns:1fr 1fr;gap:16px}"
    "@media (max-width:900px){.two{grid-template-columns:1fr}}"
    "table{border-collapse:collapse;background:#fff;width:100%;font-size:12.5px;margin:4px 0}"
    "th,td{border:1px solid #dee2e6;padding:3px 6px;text-align:left;vertical-align:top}"
    "th{background:#f1f3f5;position:sticky;top:0}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums;white-space:nowrap}"
    ".src{word-break:break-all}.detail{font-family:ui-monospace,Menlo,Consolas,monospace;"
    "font-size:11.5px;word-break:break-all;color:#343a40}"
    "code.wf{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11.5px;"
    "background:#f1f3f5;padding:1px 3px;user-select:all;-webkit-user-select:all;"
    "white-space:nowrap}.wfl{overflow-x:auto}.lad{overflow-x:auto}"
    "button.cp{font-size:10.5px;padding:0 5px;margin:0 0 0 4px;cursor:pointer}"
    ".wfl{margin:1px 0}.note{background:#fff9db;border:1px solid #ffe066;padding:6px 10px;"
    "border-radius:4px;margin:6px 0}"
    ".bar{display:inline-block;width:90px;height:9px;background:#e9ecef;margin-right:6px;"
    "vertical-align:0}.bar i{display:block;height:100%;background:#1971c2}"
    ".bar i.warn{background:#f59f00}.bar i.bad{background:#e03131}"
    ".nw{white-space:nowrap}.k{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:4px}"
    "details summary{cursor:pointer;color:#1971c2}footer{color:#868e96;font-size:12px;"
    "margin-top:30px}";

/* Copy buttons; the page works without it (the filters select on click). */
static const char page_script[] =
    "document.addEventListener('click',function(e){"
    "var b=e.target.closest&&e.target.closest('button[data-copy]');if(!b)return;"
    "var t=b.getAttribute('data-copy'),done=function(){b.textContent='copied';"
    "setTimeout(function(){b.textContent='copy'},1200)};"
    "if(navigator.clipboard&&navigator.clipboard.writeText){"
    "navigator.clipboard.writeText(t).then(done,function(){})}else{"
    "var r=document.createRange();r.selectNodeContents(b.previousElementSibling);"
    "var s=getSelection();s.removeAllRanges();s.addRange(r);"
    "try{document.execCommand('copy');done()}catch(x){}}});";

static void card(FILE *o, const char *value, const char *label)
{
    fputs("<div class=\"card\"><b>", o);
    html_esc(o, value);
    fputs("</b><span>", o);
    html_esc(o, label);
    fputs("</span></div>\n", o);
}

/*
 * How a report begins. PAGE_MARK, on the second line, is what tells a file
 * `twscope report` may replace (report_html_write()); reports written before
 * it began PAGE_DOCTYPE PAGE_HEAD, which is recognized too.
 */
#define PAGE_DOCTYPE "<!DOCTYPE html>\n"
#define PAGE_MARK "<!-- twscope report: twscope overwrites only files that begin like this -->\n"
#define PAGE_HEAD                                                                          \
    "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"                                \
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"            \
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"             \
    " style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"                             \
    "<meta name=\"generator\" content=\"twscope "

static void page_head(struct html *h, const char *db_path)
{
    FILE *o = h->o;

    fputs(PAGE_DOCTYPE PAGE_MARK PAGE_HEAD TWSCOPE_VERSION "\">\n<title>twscope report: ", o);
    html_esc(o, db_path);
    fprintf(o, "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n", page_style);
}

static void page_header(struct html *h, const char *db_path)
{
    FILE *o = h->o;
    int64_t packets = 0, conns, reused, tws, tw_cli, tw_srv, incomplete = 0, best_peak = 0;
    double first = 0, last = 0, best_ts = 0;
    int64_t best_cap = 0;
    char buf[128], b2[160], now[64];
    time_t t = time(NULL);
    struct tm tm;

    conns = scalar_int(h, "SELECT count(*) FROM connections");
    reused = scalar_int(h, "SELECT count(*) FROM connections WHERE incarnation > 1");
    tws = scalar_int(h, "SELECT count(*) FROM time_waits");
    tw_cli = scalar_int(h, "SELECT count(*) FROM time_waits WHERE side = 'client'");
    tw_srv = scalar_int(h, "SELECT count(*) FROM time_waits WHERE side = 'server'");
    for (size_t i = 0; i < h->ncaps; i++) {
        const struct cap_info *c = &h->caps[i];
        packets += c->packets;
        incomplete += !c->complete;
        if (c->first_ts > 0 && (first == 0 || c->first_ts < first))
            first = c->first_ts;
        if (c->first_ts > 0 && c->last_ts > last)
            last = c->last_ts;
        if (c->peak > best_peak) {
            best_peak = c->peak;
            best_ts = c->peak_ts;
            best_cap = c->id;
        }
    }
    if (gmtime_r(&t, &tm))
        strftime(now, sizeof now, "%Y-%m-%d %H:%M:%S UTC", &tm);
    else
        snprintf(now, sizeof now, "?");

    fputs("<header>\n<h1>twscope report</h1>\n<p class=\"meta\">Database <b>", o);
    html_esc(o, db_path);
    fprintf(o, "</b>, written %s by twscope " TWSCOPE_VERSION ".", now);
    if (first > 0) {
        char a[64], b[64];
        html_fmt_time(a, sizeof a, first, "%Y-%m-%d %H:%M:%S", 0);
        html_fmt_time(b, sizeof b, last, "%Y-%m-%d %H:%M:%S", 0);
        fprintf(o, " Packets from %s to %s UTC.", a, b);
    }
    fputs("</p>\n<div class=\"cards\">\n", o);
    snprintf(buf, sizeof buf, "%zu", h->ncaps);
    snprintf(b2, sizeof b2, "captures%s", incomplete ? " (some cut short)" : "");
    card(o, buf, b2);
    snprintf(buf, sizeof buf, "%lld", (long long)packets);
    card(o, buf, "packets");
    snprintf(buf, sizeof buf, "%lld", (long long)conns);
    snprintf(b2, sizeof b2, "connections, %lld reusing a 4-tuple", (long long)reused);
    card(o, buf, b2);
    snprintf(buf, sizeof buf, "%lld", (long long)tws);
    snprintf(b2, sizeof b2, "TIME_WAIT periods (client %lld, server %lld)", (long long)tw_cli,
             (long long)tw_srv);
    card(o, buf, b2);
    snprintf(buf, sizeof buf, "%lld", (long long)best_peak);
    if (best_peak) {
        char a[64];
        html_fmt_time(a, sizeof a, best_ts, "%Y-%m-%d %H:%M:%S", 3);
        snprintf(b2, sizeof b2, "most TIME_WAIT at once (capture %lld, %s)", (long long)best_cap,
                 a);
    } else {
        snprintf(b2, sizeof b2, "most TIME_WAIT at once");
    }
    card(o, buf, b2);
    snprintf(buf, sizeof buf, "%lld", (long long)h->total_findings);
    card(o, buf, "findings");
    fputs("</div>\n", o);

    /* the captures table, folded when long */
    fprintf(o, "<details%s><summary>Captures (%zu)</summary>\n", h->ncaps <= 5 ? " open" : "",
            h->ncaps);
    fputs("<table><tr><th>#</th><th>source</th><th>first packet (UTC)</th><th>duration</th>"
          "<th>packets</th><th>TCP</th><th>connections</th><th>TIME_WAIT</th>"
          "<th>most at once</th><th>findings</th><th>2MSL profile</th><th>status</th></tr>\n",
          o);
    for (size_t i = 0; i < h->ncaps && i < REPORT_HTML_MAX_CAPTURES; i++) {
        const struct cap_info *c = &h->caps[i];
        char a[64], d[64];
        html_fmt_time(a, sizeof a, c->first_ts, "%Y-%m-%d %H:%M:%S", 3);
        fmt_duration(d, sizeof d, c->last_ts - c->first_ts);
        fprintf(o, "<tr><td class=\"n\">%lld</td><td class=\"src\">", (long long)c->id);
        esc_cut(o, c->source, 600);
        if (c->files > 1)
            fprintf(o, " <span class=\"muted\">(%lld files)</span>", (long long)c->files);
        fprintf(o, "</td><td>%s</td><td class=\"n\">%s</td><td class=\"n\">%lld</td>"
                   "<td class=\"n\">%lld</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
                   "<td class=\"n\">%lld</td><td class=\"n\">%lld</td><td>",
                c->first_ts > 0 ? a : "-", c->first_ts > 0 ? d : "-", (long long)c->packets,
                (long long)c->tcp_packets, (long long)c->conns, (long long)c->tws,
                (long long)c->peak, (long long)c->finds);
        html_esc(o, c->profile);
        fputs("</td><td>", o);
        if (c->complete)
            fputs("complete", o);
        else {
            fputs("<b>cut short</b>", o);
            if (c->error) {
                fputs(": ", o);
                esc_cut(o, c->error, 300);
            }
        }
        fputs("</td></tr>\n", o);
    }
    fputs("</table>\n", o);
    if (h->ncaps > REPORT_HTML_MAX_CAPTURES)
        fprintf(o, "<p class=\"note\">Showing the first %d of %zu captures.</p>\n",
                REPORT_HTML_MAX_CAPTURES, h->ncaps);
    fputs("</details>\n</header>\n", o);
}

static void section_timelines(struct html *h)
{
    FILE *o = h->o;
    size_t charted = 0, with_data = 0;

    fputs("<section id=\"timeline\">\n<h2>Concurrent TIME_WAIT over time</h2>\n"
          "<p class=\"muted\">Per capture and time bucket, the most TIME_WAIT periods open at"
          " the same instant during the bucket (a period counts from the final ACK, or the"
          " inferred start, to its end). Below each: the findings of that capture per"
          " bucket.</p>\n",
          o);
    for (size_t i = 0; i < h->ncaps; i++) {
        const struct cap_info *c = &h->caps[i];
        with_data += c->tws + c->finds > 0;
        if (!c->charted || !c->tot)
            continue;
        charted++;
        fprintf(o, "<h3>Capture %lld: ", (long long)c->id);
        esc_cut(o, c->source, SOURCE_CUT);
        fprintf(o, " <span class=\"muted\">(%lld TIME_WAIT periods, at most %lld at once;"
                   " %lld findings)</span></h3>\n",
                (long long)c->tws, (long long)c->peak, (long long)c->finds);
        html_chart_timeline(h, c);
        html_chart_findings_time(h, c);
    }
    if (charted == 0)
        html_chart_timeline(h, NULL);
    if (with_data > charted)
        fprintf(o, "<p class=\"note\">Charted: the %zu captures with the most TIME_WAIT periods"
                   " and findings; %zu more have some (twscope query DB timeline lists them"
                   " all).</p>\n",
                charted, with_data - charted);
    fputs("</section>\n", o);
}

static void section_distributions(struct html *h)
{
    FILE *o = h->o;

    fputs("<section id=\"endings\">\n<h2>How TIME_WAIT periods ended, and how long they"
          " lasted</h2>\n<div class=\"two\">\n<div>\n<h3>End reasons</h3>\n",
          o);
    html_chart_end_reasons(h);
    fputs("<p class=\"muted\">expired: ran out (2MSL); reused: a new SYN took the 4-tuple;"
          " rst: ended by an RST (TIME_WAIT assassination); capture_end: still running when"
          " the capture ended.</p>\n</div>\n<div>\n<h3>Durations</h3>\n",
          o);
    html_chart_durations(h);
    fputs("</div>\n</div>\n</section>\n", o);
}

static void share_bar(FILE *o, double pct)
{
    double w = pct > 100 ? 100 : pct < 0 ? 0 : pct;
    const char *cls = pct >= 50 ? "bad" : pct >= 10 ? "warn" : "";

    fprintf(o, "<span class=\"bar\"><i class=\"%s\" style=\"width:%.1f%%\"></i></span>", cls,
            w < 0.5 && pct > 0 ? 0.5 : w);
}

static void section_ports(struct html *h)
{
    struct report_opts o2 = h->opts;
    sqlite3_stmt *s = NULL;
    FILE *o = h->o;
    size_t ncli = 0, nsrv = 0;
    int in_srv = 0;

    o2.capture_id = 0;
    o2.by = REPORT_BY_NONE;
    o2.bucket_s = 0;
    if (o2.port_lo == 0 && o2.port_hi == 0) {
        o2.port_lo = REPORT_PORT_LO_DEFAULT;
        o2.port_hi = REPORT_PORT_HI_DEFAULT;
    }
    fprintf(o, "<section id=\"ports\">\n<h2>Port exhaustion</h2>\n"
               "<h3>Client ephemeral ports per (client, server endpoint)</h3>\n"
               "<p class=\"muted\">A 4-tuple is tied up while its connection is open and while"
               " the client holds it in TIME_WAIT (counted once when both overlap). Share: the"
               " peak against the ephemeral range %u-%u (%u ports).</p>\n",
            o2.port_lo, o2.port_hi, o2.port_hi - o2.port_lo + 1);
    if (report_prepare(h->db, "ports", &o2, &s, h->err)) {
        if (!h->ret)
            h->ret = TW_ERR_DB;
        return;
    }
    fputs("<table><tr><th>capture</th><th>client</th><th>server</th><th>4-tuples at once"
          "</th><th>when (UTC)</th><th>share of range</th><th>4-tuples</th><th>connections</th>"
          "<th>client TIME_WAIT</th><th>ports outside range</th></tr>\n",
          o);
    while (html_row(h, s)) {
        const char *scope = html_col_text(s, 0);
        int srv = scope && strcmp(scope, "server_tw") == 0;
        if (srv && !in_srv) {
            in_srv = 1;
            if (ncli == 0)
                fputs("<tr><td colspan=\"10\" class=\"muted\">no client connections</td></tr>\n", o);
            fputs("</table>\n", o);
            if (ncli > REPORT_HTML_MAX_PORT_ROWS)
                fprintf(o, "<p class=\"note\">Showing the %d riskiest of %zu rows"
                           " (twscope query DB ports lists them all).</p>\n",
                        REPORT_HTML_MAX_PORT_ROWS, ncli);
            fputs("<h3>Server-side TIME_WAIT per server endpoint</h3>\n"
                  "<p class=\"muted\">The server closed first (HTTP/1.0 style) and holds the"
                  " TIME_WAITs.</p>\n<table><tr><th>capture</th><th>server</th>"
                  "<th>TIME_WAIT at once</th><th>when (UTC)</th><th>client 4-tuples</th>"
                  "<th>connections</th><th>server TIME_WAIT</th></tr>\n",
                  o);
        }
        if (srv ? nsrv++ >= REPORT_HTML_MAX_PORT_ROWS : ncli++ >= REPORT_HTML_MAX_PORT_ROWS)
            continue;
        fprintf(o, "<tr><td class=\"n\">%lld</td>", (long long)sqlite3_column_int64(s, 1));
        if (!srv) {
            fputs("<td>", o);
            html_esc(o, html_col_text(s, 2));
            fputs("</td>", o);
        }
        fputs("<td>", o);
        html_esc(o, html_col_text(s, 3));
        fprintf(o, "</td><td class=\"n\"><b>%lld</b></td><td class=\"nw\">",
                (long long)sqlite3_column_int64(s, 4));
        html_esc(o, html_col_text(s, 6));
        fputs("</td>", o);
        if (!srv) {
            double pct = sqlite3_column_double(s, 7);
            fputs("<td class=\"n\">", o);
            share_bar(o, pct);
            fprintf(o, "%.3f%%</td>", pct);
        }
        fprintf(o, "<td class=\"n\">%lld</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td>",
                (long long)sqlite3_column_int64(s, 9), (long long)sqlite3_column_int64(s, 10),
                (long long)sqlite3_column_int64(s, 11));
        if (!srv)
            fprintf(o, "<td class=\"n\">%lld</td>", (long long)sqlite3_column_int64(s, 12));
        fputs("</tr>\n", o);
    }
    sqlite3_finalize(s);
    if (!in_srv) {
        if (ncli == 0)
            fputs("<tr><td colspan=\"10\" class=\"muted\">no client connections</td></tr>\n", o);
        fputs("</table>\n", o);
        if (ncli > REPORT_HTML_MAX_PORT_ROWS)
            fprintf(o, "<p class=\"note\">Showing the %d riskiest of %zu rows"
                       " (twscope query DB ports lists them all).</p>\n",
                    REPORT_HTML_MAX_PORT_ROWS, ncli);
        fputs("<h3>Server-side TIME_WAIT per server endpoint</h3>\n"
              "<p class=\"muted\">No server-side TIME_WAIT periods.</p>\n",
              o);
    } else {
        fputs("</table>\n", o);
        if (nsrv > REPORT_HTML_MAX_PORT_ROWS)
            fprintf(o, "<p class=\"note\">Showing the %d largest of %zu rows.</p>\n",
                    REPORT_HTML_MAX_PORT_ROWS, nsrv);
    }
    fputs("</section>\n", o);
}

static void section_top(struct html *h)
{
    static const char sql_hosts[] =
        "SELECT t.ip, count(*) AS n, sum(t.side = 'client'), sum(t.side = 'server'),"
        " count(DISTINCT t.port), count(DISTINCT CASE WHEN t.side = 'client'"
        "  THEN c.server_ip || ' ' || c.server_port ELSE c.client_ip END),"
        " sum(t.end_reason = 'reused'), sum(t.end_reason = 'rst')"
        " FROM time_waits t LEFT JOIN connections c ON c.id = t.connection_id"
        " GROUP BY t.ip ORDER BY n DESC, t.ip LIMIT " STR(REPORT_HTML_TOP);
    static const char sql_apps[] =
        "WITH a AS (SELECT coalesce(app_protocol, 'unknown') AS app, count(*) AS n"
        "  FROM connections GROUP BY 1),"
        " w AS (SELECT coalesce(c.app_protocol, 'unknown') AS app, count(*) AS n,"
        "  sum(t.side = 'client') AS cl, sum(t.side = 'server') AS sv"
        "  FROM time_waits t JOIN connections c ON c.id = t.connection_id GROUP BY 1)"
        " SELECT w.app, w.n, w.cl, w.sv, coalesce(a.n, 0) FROM w LEFT JOIN a ON a.app = w.app"
        " ORDER BY w.n DESC, w.app LIMIT " STR(REPORT_HTML_TOP);
    FILE *o = h->o;
    sqlite3_stmt *s;
    int n = 0;

    fputs("<section id=\"top\">\n<h2>Who holds the TIME_WAITs</h2>\n<div class=\"two\">\n"
          "<div>\n<h3>Endpoints by TIME_WAIT periods</h3>\n"
          "<table><tr><th>endpoint IP</th><th>TIME_WAIT</th><th>as client</th><th>as server"
          "</th><th>ports</th><th>peers</th><th>reused</th><th>RST</th></tr>\n",
          o);
    s = html_prep(h, sql_hosts);
    while (html_row(h, s)) {
        fputs("<tr><td>", o);
        html_esc(o, html_col_text(s, 0));
        fputs("</td>", o);
        for (int i = 1; i <= 7; i++)
            fprintf(o, "<td class=\"n\">%lld</td>", (long long)sqlite3_column_int64(s, i));
        fputs("</tr>\n", o);
        n++;
    }
    sqlite3_finalize(s);
    if (n == 0)
        fputs("<tr><td colspan=\"8\" class=\"muted\">no TIME_WAIT periods</td></tr>\n", o);
    fprintf(o, "</table>\n<p class=\"muted\">Top %d. ports: distinct local ports in TIME_WAIT;"
               " peers: distinct servers (as client) or clients (as server).</p>\n</div>\n",
            REPORT_HTML_TOP);

    fputs("<div>\n<h3>Applications by TIME_WAIT periods</h3>\n"
          "<table><tr><th>application (nDPI)</th><th>TIME_WAIT</th><th>client side</th>"
          "<th>server side</th><th>connections</th></tr>\n",
          o);
    n = 0;
    s = html_prep(h, sql_apps);
    while (html_row(h, s)) {
        fputs("<tr><td>", o);
        html_esc(o, html_col_text(s, 0));
        fputs("</td>", o);
        for (int i = 1; i <= 4; i++)
            fprintf(o, "<td class=\"n\">%lld</td>", (long long)sqlite3_column_int64(s, i));
        fputs("</tr>\n", o);
        n++;
    }
    sqlite3_finalize(s);
    if (n == 0)
        fputs("<tr><td colspan=\"5\" class=\"muted\">no TIME_WAIT periods</td></tr>\n", o);
    fprintf(o, "</table>\n<p class=\"muted\">Top %d; 'unknown' when nDPI found nothing or ran"
               " with --no-dpi.</p>\n</div>\n</div>\n</section>\n",
            REPORT_HTML_TOP);
}

/* A Wireshark filter in a selectable code element, plus its copy button. */
static void filter_line(FILE *o, const char *filter)
{
    fputs("<div class=\"wfl\"><code class=\"wf\">", o);
    html_esc(o, filter);
    fputs("</code><button type=\"button\" class=\"cp\" data-copy=\"", o);
    html_esc(o, filter);
    fputs("\">copy</button></div>", o);
}

static void ep(FILE *o, const char *ip, int64_t port)
{
    int v6 = ip && strchr(ip, ':');

    fputs(v6 ? "[" : "", o);
    html_esc(o, ip ? ip : "?");
    fprintf(o, "%s:%lld", v6 ? "]" : "", (long long)port);
}

/*
 * The 4-tuples with findings (the first MAX_LADDERS, by their first finding)
 * are drawn as ladders (explain_svg(): the database's frames). Their
 * connections are picked first, so that the findings table links only to
 * ladders that are on the page (the connection is opened read-only: no
 * temporary table).
 */
static void ladders_pick(struct html *h)
{
    static const char sql[] =
        "WITH t AS (SELECT c.capture_id AS cap, min(c.client_ip, c.server_ip) AS ip1,"
        "  max(c.client_ip, c.server_ip) AS ip2, min(c.client_port, c.server_port) AS p1,"
        "  max(c.client_port, c.server_port) AS p2, min(c.id) AS first, min(f.ts) AS ts"
        "  FROM findings f JOIN connections c ON c.id = f.connection_id"
        "  GROUP BY 1, 2, 3, 4, 5 ORDER BY ts LIMIT " STR(MAX_LADDERS) ")"
        " SELECT c.id, (SELECT min(c2.id) FROM connections c2 WHERE c2.capture_id = t.cap AND"
        "  min(c2.client_ip, c2.server_ip) = t.ip1 AND max(c2.client_ip, c2.server_ip) = t.ip2"
        "  AND min(c2.client_port, c2.server_port) = t.p1 AND"
        "  max(c2.client_port, c2.server_port) = t.p2)"
        " FROM connections c JOIN t ON c.capture_id = t.cap AND"
        " min(c.client_ip, c.server_ip) = t.ip1 AND max(c.client_ip, c.server_ip) = t.ip2 AND"
        " min(c.client_port, c.server_port) = t.p1 AND max(c.client_port, c.server_port) = t.p2"
        " ORDER BY c.id";
    sqlite3_stmt *s = html_prep(h, sql);
    size_t cap = 0;

    while (html_row(h, s)) {
        if (h->nladder == cap) {
            size_t n = cap ? cap * 2 : 64;
            int64_t *a = realloc(h->ladder_conn, n * sizeof *a);
            int64_t *b = a ? realloc(h->ladder_first, n * sizeof *b) : NULL;
            if (a)
                h->ladder_conn = a;
            if (!b) {
                h->ret = TW_ERR_NOMEM;
                break;
            }
            h->ladder_first = b;
            cap = n;
        }
        h->ladder_conn[h->nladder] = sqlite3_column_int64(s, 0);
        h->ladder_first[h->nladder++] = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int ladder_has(const struct html *h, int64_t conn)
{
    return h->nladder && bsearch(&conn, h->ladder_conn, h->nladder, sizeof conn, cmp_i64);
}

static void section_ladders(struct html *h)
{
    FILE *o = h->o;
    int64_t *firsts = h->nladder ? malloc(h->nladder * sizeof *firsts) : NULL;
    size_t nf = 0;

    fputs("<section id=\"ladders\">\n<h2>Ladders</h2>\n<p class=\"muted\">Each 4-tuple with"
          " findings (the first " STR(MAX_LADDERS) "), every incarnation in time order: the"
          " frames the database holds (SYN, FINs, RST, TIME_WAIT start and end; findings in"
          " red; hover a line for all of it). <code>twscope explain DB CONNECTION</code> draws"
          " the same with every packet, and the cause and effect in words.</p>\n", o);
    for (size_t i = 0; firsts && i < h->nladder; i++) {
        size_t j;
        for (j = 0; j < nf && firsts[j] != h->ladder_first[i]; j++)
            ;
        if (j == nf)
            firsts[nf++] = h->ladder_first[i];
    }
    for (size_t k = 0; k < nf && !h->ret; k++) {
        fputs("<div class=\"lad\">", o);
        for (size_t i = 0; i < h->nladder; i++)
            if (h->ladder_first[i] == firsts[k])
                fprintf(o, "<a id=\"c%lld\"></a>", (long long)h->ladder_conn[i]);
        fprintf(o, "<h3>connection %lld and its 4-tuple</h3>\n", (long long)firsts[k]);
        if (explain_svg(h->db, firsts[k], o) != 0)
            fputs("<p class=\"muted\">(could not be drawn)</p>", o);
        fputs("</div>\n", o);
    }
    if (nf == 0)
        fputs("<p class=\"muted\">no findings, no ladders</p>\n", o);
    free(firsts);
    fputs("</section>\n", o);
}

static void section_findings(struct html *h)
{
    static const char sql[] =
        "SELECT f.id, c.capture_id, f.file, f.frame, f.ts, coalesce(f.kind, 'unknown'),"
        " f.direction, f.flags, f.detail, c.client_ip, c.client_port, c.server_ip,"
        " c.server_port, c.app_protocol, c.id, p.files, f.seq, f.ack, f.payload_len, "
        WORDS_FINDING("f")
        " FROM findings f LEFT JOIN connections c ON c.id = f.connection_id"
        " LEFT JOIN captures p ON p.id = c.capture_id"
        " ORDER BY f.ts, f.id LIMIT " STR(REPORT_HTML_MAX_FINDINGS);
    FILE *o = h->o;
    sqlite3_stmt *s;
    int64_t n = 0;

    fprintf(o, "<section id=\"findings\">\n<h2>Findings (%lld)</h2>\n", (long long)h->total_findings);
    if (h->total_findings > REPORT_HTML_MAX_FINDINGS)
        fprintf(o, "<p class=\"note\">Showing the first %d of %lld findings, by time"
                   " (twscope query DB findings lists them all).</p>\n",
                REPORT_HTML_MAX_FINDINGS, (long long)h->total_findings);
    fputs("<p class=\"muted\">Frame numbers are those of the capture file (the n-th file of a"
          " capture when it has several). Click a filter to select it, or use copy, then paste"
          " it in Wireshark's display filter bar.</p>\n"
          "<table><tr><th>#</th><th>capture</th><th>frame</th><th>time (UTC)</th><th>kind</th>"
          "<th>connection</th><th>dir</th><th>flags</th><th>what happened</th>"
          "<th>Wireshark filters</th></tr>\n",
          o);
    s = html_prep(h, sql);
    while (html_row(h, s)) {
        const char *kind = html_col_text(s, 5);
        int k = html_kind_index(h, kind);
        char t[64], fl[16], filt[400];
        int has_conn = sqlite3_column_type(s, 9) != SQLITE_NULL;
        int64_t frame = sqlite3_column_int64(s, 3);
        n++;
        html_fmt_time(t, sizeof t, sqlite3_column_double(s, 4), "%Y-%m-%d %H:%M:%S", 6);
        fprintf(o, "<tr><td class=\"n\">%lld</td><td class=\"n\">", (long long)sqlite3_column_int64(s, 0));
        if (sqlite3_column_type(s, 1) != SQLITE_NULL)
            fprintf(o, "%lld", (long long)sqlite3_column_int64(s, 1));
        fprintf(o, "</td><td class=\"n\">%lld", (long long)frame);
        if (sqlite3_column_int64(s, 15) > 1)
            fprintf(o, "<br><span class=\"muted\">file %lld</span>", /* 0-based, as everywhere */
                    (long long)sqlite3_column_int64(s, 2));
        fprintf(o, "</td><td class=\"n\">%s</td><td class=\"nw\"><span class=\"k\""
                   " style=\"background:%s\"></span>",
                t, html_kind_color(h, k));
        html_esc(o, kind);
        fputs("</td><td>", o);
        if (has_conn) {
            ep(o, html_col_text(s, 9), sqlite3_column_int64(s, 10));
            fputs(" &#8594; ", o);
            ep(o, html_col_text(s, 11), sqlite3_column_int64(s, 12));
            if (ladder_has(h, sqlite3_column_int64(s, 14)))
                fprintf(o, "<br><a href=\"#c%lld\">connection %lld</a><span class=\"muted\">",
                        (long long)sqlite3_column_int64(s, 14),
                        (long long)sqlite3_column_int64(s, 14));
            else
                fprintf(o, "<br><span class=\"muted\">connection %lld",
                        (long long)sqlite3_column_int64(s, 14));
            if (sqlite3_column_type(s, 13) != SQLITE_NULL) {
                fputs(", ", o);
                html_esc(o, html_col_text(s, 13));
            }
            fputs("</span>", o);
        }
        fputs("</td><td>", o);
        html_esc(o, html_col_text(s, 6));
        fprintf(o, "</td><td>%s</td><td>", flag_letters(sqlite3_column_int(s, 7), fl));
        esc_cut(o, html_col_text(s, 19), DETAIL_CUT);
        fputs("<details><summary class=\"muted\">detail</summary><div class=\"detail\">", o);
        esc_cut(o, html_col_text(s, 8), DETAIL_CUT);
        fputs("</div></details></td><td>", o);
        snprintf(filt, sizeof filt, "frame.number == %lld", (long long)frame);
        filter_line(o, filt);
        if (has_conn) {
            const char *cip = html_col_text(s, 9);
            const char *sip = html_col_text(s, 11);
            const char *fam = cip && strchr(cip, ':') ? "ipv6" : "ip";
            /* the addresses come from the database: filter_line() escapes them */
            snprintf(filt, sizeof filt, "%s.addr==%s && tcp.port==%lld && %s.addr==%s"
                                        " && tcp.port==%lld",
                     fam, cip ? cip : "", (long long)sqlite3_column_int64(s, 10), fam,
                     sip ? sip : "", (long long)sqlite3_column_int64(s, 12));
            filter_line(o, filt);
        }
        fputs("</td></tr>\n", o);
    }
    sqlite3_finalize(s);
    if (n == 0)
        fputs("<tr><td colspan=\"10\" class=\"muted\">no findings</td></tr>\n", o);
    fputs("</table>\n</section>\n", o);
}

static void page_end(struct html *h)
{
    fprintf(h->o,
            "<footer>twscope " TWSCOPE_VERSION ". All data above comes from the database;"
            " nothing on this page is fetched from elsewhere.</footer>\n</main>\n"
            "<script>%s</script>\n</body>\n</html>\n",
            page_script);
}

/* ---- driver ---- */

static int write_page(struct html *h, const char *db_path)
{
    html_load(h);
    if (h->ret)
        return h->ret;
    page_head(h, db_path);
    page_header(h, db_path);
    section_timelines(h);
    section_distributions(h);
    section_ports(h);
    section_top(h);
    ladders_pick(h);
    section_findings(h);
    section_ladders(h);
    page_end(h);
    return h->ret;
}

/* Is head (n bytes) the start of one of our reports, or one written before the marker? */
static int report_is_ours(const uint8_t *head, size_t n)
{
    static const char ours[] = PAGE_DOCTYPE PAGE_MARK, older[] = PAGE_DOCTYPE PAGE_HEAD;
    return (n >= sizeof ours - 1 && memcmp(head, ours, sizeof ours - 1) == 0) ||
           (n >= sizeof older - 1 && memcmp(head, older, sizeof older - 1) == 0);
}

/*
 * 0 if out_path may be replaced: it does not exist, is empty, or is one of
 * our reports. Anything else (another file, a directory, a symbolic link, a
 * device) is left as it is: TW_ERR_IO with one line printed to err.
 */
static int check_output(const char *out_path, FILE *err)
{
    char why[300];
    if (outfile_check(out_path, report_is_ours, "a twscope report", why, sizeof why) == 0)
        return 0;
    fprintf(err, "twscope: report: %s: %s; left as it is, use another -o\n", out_path, why);
    return TW_ERR_IO;
}

int report_html_write(const char *db_path, const char *out_path, const struct report_opts *opts,
                      FILE *err)
{
    struct html h;
    char msg[512], *tmp = NULL;
    int ret, to_stdout = out_path && strcmp(out_path, "-") == 0;
    FILE *fp = NULL;

    memset(&h, 0, sizeof h);
    h.err = err;
    if (opts)
        h.opts = *opts;
    if (!out_path || !*out_path)
        out_path = REPORT_HTML_DEFAULT_PATH;
    ret = store_open_readonly(db_path, &h.db, msg, sizeof msg);
    if (ret) {
        fprintf(err, "twscope: %s\n", msg);
        return ret;
    }
    if (to_stdout) {
        fp = stdout;
    } else {
        size_t len = strlen(out_path) + 16;
        int fd;
        ret = check_output(out_path, err);
        if (ret)
            goto out;
        tmp = malloc(len);
        if (!tmp) {
            fprintf(err, "twscope: report: out of memory\n");
            ret = TW_ERR_NOMEM;
            goto out;
        }
        snprintf(tmp, len, "%s.tmpXXXXXX", out_path);
        fd = mkstemp(tmp);
        if (fd < 0 || !(fp = fdopen(fd, "w"))) {
            fprintf(err, "twscope: report: %s: cannot write: %s\n", out_path, strerror(errno));
            if (fd >= 0) {
                close(fd);
                unlink(tmp);
            }
            free(tmp);
            tmp = NULL;
            ret = TW_ERR_IO;
            goto out;
        }
        {
            mode_t um = umask(0);
            umask(um);
            fchmod(fd, 0666 & ~um);
        }
    }
    h.o = fp;
    ret = write_page(&h, db_path);
    if (fflush(fp) != 0 || ferror(fp)) {
        if (!ret) {
            fprintf(err, "twscope: report: %s: write error: %s\n", to_stdout ? "stdout" : out_path,
                    strerror(errno));
            ret = TW_ERR_IO;
        }
    }
    if (!to_stdout) {
        if (fclose(fp) != 0 && !ret) {
            fprintf(err, "twscope: report: %s: write error: %s\n", out_path, strerror(errno));
            ret = TW_ERR_IO;
        }
        if (!ret && rename(tmp, out_path) != 0) {
            fprintf(err, "twscope: report: %s: cannot write: %s\n", out_path, strerror(errno));
            ret = TW_ERR_IO;
        }
        if (ret)
            unlink(tmp);
    }
out:
    free(tmp);
    html_caps_free(&h);
    sqlite3_close(h.db);
    return ret;
}
