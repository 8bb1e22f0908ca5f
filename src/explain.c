/*
 * explain.c -- the ladder diagram of one 4-tuple (see explain.h): which
 * 4-tuple the user means, then the lines explain_build.c gathers printed as a
 * ladder and a story, or drawn as SVG for the HTML report.
 *
 * Not a hot path: it allocates freely.
 */
#include "twscope/explain.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "explain_int.h"
#include "twscope/common.h"
#include "twscope/store.h"

/* ------------------------------------------------------------------ output */

static void fmt_frame(const struct xl *x, const struct xev *e, char *buf, size_t n)
{
    if (!e->frame)
        snprintf(buf, n, "-");
    else if (x->multi_file)
        snprintf(buf, n, "%u:%llu", e->file, (unsigned long long)e->frame);
    else
        snprintf(buf, n, "%llu", (unsigned long long)e->frame);
}

static void put_arrow(FILE *out, int dir, const char *label)
{
    char a[XARROW + 1];
    size_t len = strlen(label), inner = XARROW - 4;

    if (len > inner)
        len = inner;
    memset(a, '-', XARROW);
    a[XARROW] = 0;
    if (dir == XD_AB) {
        a[0] = '|';
        memcpy(a + 2, label, len);
        a[XARROW - 2] = '>';
        a[XARROW - 1] = '|';
    } else if (dir == XD_BA) {
        a[0] = '|';
        a[1] = '<';
        memcpy(a + XARROW - 2 - len, label, len);
        a[XARROW - 1] = '|';
    } else {
        memset(a, ' ', XARROW);
        a[0] = '|';
        a[XARROW - 1] = '|';
        memcpy(a + (XARROW - len) / 2, label, len);
    }
    fputs(a, out);
}

static void fmt_abs_time(double t, char *buf, size_t n)
{
    time_t s = (time_t)floor(t);
    struct tm tm;
    char day[32];

    gmtime_r(&s, &tm);
    strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, n, "%s.%06d UTC", day, (int)lround((t - floor(t)) * 1e6) % 1000000);
}

static double t_zero(const struct xl *x)
{
    for (size_t i = 0; i < x->nev; i++)
        if (!isnan(x->ev[i].ts) && x->ev[i].ts > 0)
            return x->ev[i].ts;
    return 0;
}

static void print_fold(FILE *out, const struct xl *x, const struct xev *from, size_t n)
{
    uint64_t bytes[3] = {0}, segs[3] = {0};
    char f0[32], f1[32], text[XARROW + 1];

    for (size_t i = 0; i < n; i++) {
        bytes[from[i].dir] += from[i].len;
        segs[from[i].dir]++;
    }
    fmt_frame(x, &from[0], f0, sizeof f0);
    fmt_frame(x, &from[n - 1], f1, sizeof f1);
    snprintf(text, sizeof text, "%zu segments", n);
    fprintf(out, "%9s %12s  ", "", "");
    put_arrow(out, XD_NONE, text);
    fprintf(out, "  frames %s-%s: %llu -> (%llu bytes), %llu <- (%llu bytes)\n", f0, f1,
            (unsigned long long)segs[XD_AB], (unsigned long long)bytes[XD_AB],
            (unsigned long long)segs[XD_BA], (unsigned long long)bytes[XD_BA]);
}

static void print_ladder(FILE *out, const struct xl *x, int all_packets)
{
    double t0 = t_zero(x);
    char ends[2][96];
    size_t i = 0;

    snprintf(ends[0], sizeof ends[0], x->ipv == 6 ? "[%s]:%u" : "%s:%u", x->a_ip, x->a_port);
    snprintf(ends[1], sizeof ends[1], x->ipv == 6 ? "[%s]:%u" : "%s:%u", x->b_ip, x->b_port);
    fprintf(out, "%9s %12s  %-*s%*s\n", "frame", "time (s)", XARROW / 2, ends[0],
            XARROW - XARROW / 2, ends[1]);
    while (i < x->nev) {
        const struct xev *e = &x->ev[i];
        char fr[32], ts[32];

        if (!all_packets && e->pkt && !e->keep) {
            size_t j = i;
            while (j < x->nev && x->ev[j].pkt && !x->ev[j].keep)
                j++;
            if (j - i >= 3) {
                print_fold(out, x, e, j - i);
                i = j;
                continue;
            }
        }
        fmt_frame(x, e, fr, sizeof fr);
        if (isnan(e->ts) || e->ts_guess)
            ts[0] = 0;
        else
            snprintf(ts, sizeof ts, "%.6f", e->ts - t0);
        fprintf(out, "%9s %12s  ", fr, ts);
        put_arrow(out, e->dir, e->label);
        fprintf(out, "%s%s\n", e->note[0] ? "  " : "", e->note);
        i++;
    }
}

/* The next packet from the other side than dir after line i: what the segment drew. */
static const struct xev *answer_after(const struct xl *x, uint32_t file, uint64_t frame, int dir)
{
    size_t i;

    for (i = 0; i < x->nev; i++)
        if (x->ev[i].file == file && x->ev[i].frame == frame)
            break;
    for (i++; i < x->nev; i++)
        if (x->ev[i].pkt && x->ev[i].dir != dir && x->ev[i].dir != XD_NONE)
            return &x->ev[i];
    return NULL;
}

static void print_story(FILE *out, struct xl *x)
{
    sqlite3_stmt *s;
    sqlite3_stmt *t = NULL;
    double t0 = t_zero(x);

    fprintf(out, "\nWhat happened:\n");
    for (size_t i = 0; i < x->ninc; i++) {
        const struct xinc *c = &x->inc[i];
        fprintf(out, "- incarnation %lld (connection %lld): %s at +%.6f s%s%s%s; closed by %s,"
                     " active closer %s.\n",
                (long long)c->incarnation, (long long)c->id,
                c->syn_seen ? "SYN" : "picked up mid-stream", c->first_ts - t0,
                c->flip ? " (roles reversed: its client is on the right)" : "",
                c->app[0] ? ", " : "", c->app, c->close_kind[0] ? c->close_kind : "nothing seen",
                c->closer[0] ? c->closer : "unknown");
    }
    if (sqlite3_prepare_v2(x->db, "SELECT t.connection_id, t.side, t.start_frame, t.start_ts,"
                                  " t.end_ts, t.end_reason, t.inferred, t.start_file"
                                  " FROM time_waits t JOIN connections c ON c.id = t.connection_id"
                                  " WHERE c.capture_id = ?5 AND " TUPLE_MATCH
                                  " ORDER BY t.start_ts",
                           -1, &t, NULL) == SQLITE_OK) {
        ex_bind_tuple(t, x);
        sqlite3_bind_int64(t, 5, x->capture);
        while (sqlite3_step(t) == SQLITE_ROW) {
            int ci = ex_inc_of_id(x, sqlite3_column_int64(t, 0));
            char who[128], fr[32];
            const char *why = ex_col_text(t, 5);
            struct xev tmp;
            if (ci < 0)
                continue;
            ex_who_name(x, &x->inc[ci], ex_col_text(t, 1), who, sizeof who);
            tmp.file = (uint32_t)sqlite3_column_int(t, 7);
            tmp.frame = (uint64_t)sqlite3_column_int64(t, 2);
            fmt_frame(x, &tmp, fr, sizeof fr);
            if (sqlite3_column_type(t, 4) == SQLITE_NULL) {
                fprintf(out, "- the %s is in TIME_WAIT since %s%s (+%.6f s): still open (a live"
                             " capture is writing it).\n", who,
                        sqlite3_column_int(t, 6) ? "about frame " : "frame ", fr,
                        sqlite3_column_double(t, 3) - t0);
                continue;
            }
            fprintf(out, "- the %s was in TIME_WAIT from %s%s (+%.6f s) for %.6f s: %s.\n", who,
                    sqlite3_column_int(t, 6) ? "about frame " : "frame ", fr,
                    sqlite3_column_double(t, 3) - t0,
                    sqlite3_column_double(t, 4) - sqlite3_column_double(t, 3),
                    strcmp(why, "expired") == 0     ? "it expired"
                    : strcmp(why, "reused") == 0    ? "a new SYN reused the 4-tuple"
                    : strcmp(why, "rst") == 0       ? "a RST ended it"
                    : strcmp(why, "capture_end") == 0 ? "still open when the capture ended"
                                                     : why);
        }
        sqlite3_finalize(t);
    }
    s = ex_findings_stmt(x);
    if (!s)
        return;
    /* a run of the same kind of finding in one connection (FIN copies) is told once */
    {
        int rc = sqlite3_step(s);
        while (rc == SQLITE_ROW) {
            int64_t conn = sqlite3_column_int64(s, 0);
            int ci = ex_inc_of_id(x, conn);
            char kind[32], fr[32], more[160] = "";
            uint32_t file = (uint32_t)sqlite3_column_int(s, 3), lfile = file;
            uint64_t frame = (uint64_t)sqlite3_column_int64(s, 2), lframe = frame;
            double lts = sqlite3_column_double(s, 4);
            int dir = ci >= 0 ? ex_dir_of(&x->inc[ci], ex_col_text(s, 5)) : XD_NONE, n = 0;
            int has_ev = sqlite3_column_type(s, 7) == SQLITE_INTEGER;
            uint64_t evf = has_ev ? (uint64_t)sqlite3_column_int64(s, 7) : 0;
            const struct xev *ans = NULL;
            struct xev tmp;
            size_t used = 0;

            tmp.file = file;
            tmp.frame = frame;
            fmt_frame(x, &tmp, fr, sizeof fr);
            snprintf(kind, sizeof kind, "%s", ex_col_text(s, 1));
            fprintf(out, "- frame %s: %s", fr, ex_col_text(s, 6));
            while ((rc = sqlite3_step(s)) == SQLITE_ROW && !has_ev &&
                   sqlite3_column_int64(s, 0) == conn &&
                   strcmp(ex_col_text(s, 1), kind) == 0 &&
                   sqlite3_column_type(s, 7) != SQLITE_INTEGER) {
                tmp.file = lfile = (uint32_t)sqlite3_column_int(s, 3);
                tmp.frame = lframe = (uint64_t)sqlite3_column_int64(s, 2);
                lts = sqlite3_column_double(s, 4);
                fmt_frame(x, &tmp, fr, sizeof fr);
                if (used < sizeof more)
                    used += (size_t)snprintf(more + used, sizeof more - used, "%s%s",
                                             n ? ", " : "", fr);
                n++;
            }
            if (n)
                fprintf(out, "; then %d more the same way (frame%s %s)", n, n > 1 ? "s" : "",
                        more);
            fputs(".\n", out);
            if (ci < 0)
                continue;
            if (has_ev)
                ans = ex_ev_find(x, file, evf);
            else if (x->packets_read)
                ans = answer_after(x, lfile, lframe, dir);
            if (ans) {
                int left = ans->dir == XD_AB;
                fmt_frame(x, ans, fr, sizeof fr);
                fprintf(out, "  -> frame %s, %.6f s later: %s%s%s:%u sent %s%s%s%s\n", fr,
                        ans->ts - lts, x->ipv == 6 ? "[" : "", left ? x->a_ip : x->b_ip,
                        x->ipv == 6 ? "]" : "", left ? x->a_port : x->b_port, ans->label,
                        ans->note[0] ? " (" : "", ans->note, ans->note[0] ? ")" : "");
            }
        }
    }
    sqlite3_finalize(s);
}

/* ------------------------------------------------------------------ target */

/* "A:P-B:Q" (IPv6 in brackets) into x's endpoints, addresses in the database's spelling. */
static int parse_endpoint(const char *s, size_t n, char *ip, size_t iplen, unsigned *port,
                          int *ipv, uint8_t *bytes)
{
    char buf[96];
    const char *colon;
    char *end;
    unsigned long p;

    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close || close[1] != ':')
            return -1;
        *close = 0;
        colon = close + 1;
        if (inet_pton(AF_INET6, buf + 1, bytes) != 1)
            return -1;
        *ipv = 6;
        inet_ntop(AF_INET6, bytes, ip, (socklen_t)iplen);
    } else {
        char *c = strrchr(buf, ':');
        if (!c)
            return -1;
        *c = 0;
        colon = c;
        if (inet_pton(AF_INET, buf, bytes) != 1)
            return -1;
        *ipv = 4;
        inet_ntop(AF_INET, bytes, ip, (socklen_t)iplen);
    }
    p = strtoul(colon + 1, &end, 10);
    if (!isdigit((unsigned char)colon[1]) || *end || p > 65535)
        return -1;
    *port = (unsigned)p;
    return 0;
}

static int parse_tuple(struct xl *x, const char *t)
{
    int v1 = 0, v2 = 0;
    /* the dash between the endpoints: after the first port (IPv6 addresses have no dash) */
    const char *dash = strchr(t[0] == '[' ? strchr(t, ']') ? strchr(t, ']') : t : t, '-');

    if (!dash ||
        parse_endpoint(t, (size_t)(dash - t), x->a_ip, sizeof x->a_ip, &x->a_port, &v1,
                       x->a_bytes) ||
        parse_endpoint(dash + 1, strlen(dash + 1), x->b_ip, sizeof x->b_ip, &x->b_port, &v2,
                       x->b_bytes) ||
        v1 != v2)
        return -1;
    x->ipv = v1;
    return 0;
}

/* Endpoints of connection id; 1 found, 0 not, -1 SQLite failed. */
static int tuple_of_conn(struct xl *x, int64_t id, int64_t *capture)
{
    sqlite3_stmt *s = NULL;
    int rc, found = 0;

    if (sqlite3_prepare_v2(x->db, "SELECT capture_id, client_ip, client_port, server_ip,"
                                  " server_port, ip_version FROM connections WHERE id = ?",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(s, 1, id);
    if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char t[256];
        int v6 = sqlite3_column_int(s, 5) == 6;
        *capture = sqlite3_column_int64(s, 0);
        snprintf(t, sizeof t, v6 ? "[%s]:%d-[%s]:%d" : "%s:%d-%s:%d", ex_col_text(s, 1),
                 sqlite3_column_int(s, 2), ex_col_text(s, 3), sqlite3_column_int(s, 4));
        found = parse_tuple(x, t) == 0;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : -1;
}

/* Build and print the ladder of x's 4-tuple in capture x->capture. */
/* The lines of x's 4-tuple in capture x->capture; 0, or a TW_ERR_*. */
static int explain_build(struct xl *x, int db_only)
{
    if (ex_load_incarnations(x) != 0)
        return TW_ERR_DB;
    if (!x->ninc)
        return 0;
    /* endpoint A is the first incarnation's client */
    if (x->inc[0].flip) {
        char ip[64];
        unsigned p = x->a_port;
        uint8_t b[16];
        memcpy(ip, x->a_ip, sizeof ip);
        memcpy(x->a_ip, x->b_ip, sizeof ip);
        memcpy(x->b_ip, ip, sizeof ip);
        x->a_port = x->b_port;
        x->b_port = p;
        memcpy(b, x->a_bytes, 16);
        memcpy(x->a_bytes, x->b_bytes, 16);
        memcpy(x->b_bytes, b, 16);
        for (size_t i = 0; i < x->ninc; i++)
            x->inc[i].flip = !x->inc[i].flip;
    }
    {
        uint32_t lo = UINT32_MAX, hi = 0;
        for (size_t i = 0; i < x->ninc; i++) {
            lo = x->inc[i].first_file < lo ? x->inc[i].first_file : lo;
            hi = x->inc[i].last_file > hi ? x->inc[i].last_file : hi;
        }
        x->multi_file = lo != hi;
    }
    if (db_only)
        snprintf(x->no_packets, sizeof x->no_packets, "--db-only");
    else
        ex_read_packets(x);
    ex_db_connections(x);
    ex_db_findings(x);                  /* before the periods: a RST's finding ends one */
    ex_db_timewaits(x);
    return ex_ev_sort(x) != 0 ? TW_ERR_NOMEM : 0;
}

static int explain_capture(struct xl *x, const struct explain_opts *o, FILE *out)
{
    char t[64];
    int ret = explain_build(x, o->db_only);

    if (ret || !x->ninc)
        return ret;
    fmt_abs_time(t_zero(x), t, sizeof t);
    fprintf(out, "capture %lld: %zu incarnation%s of %s%s%s:%u <-> %s%s%s:%u, from %s\n",
            (long long)x->capture, x->ninc, x->ninc == 1 ? "" : "s", x->ipv == 6 ? "[" : "",
            x->a_ip, x->ipv == 6 ? "]" : "", x->a_port, x->ipv == 6 ? "[" : "", x->b_ip,
            x->ipv == 6 ? "]" : "", x->b_port, t);
    if (x->packets_read)
        fprintf(out, "every packet of the 4-tuple, read again from the capture%s (runs of plain"
                     " segments folded; --all-packets shows them)\n\n",
                x->multi_file ? " files (frame = file:frame)" : " file");
    else
        fprintf(out, "packets not read (%s): the frames the database holds only\n\n",
                x->no_packets);
    print_ladder(out, x, o->all_packets);
    print_story(out, x);
    return 0;
}

static void xl_reset(struct xl *x)
{
    free(x->inc);
    free(x->ev);
    x->inc = NULL;
    x->ev = NULL;
    x->ninc = x->nev = x->cap = 0;
    x->packets_read = x->multi_file = 0;
    x->no_packets[0] = 0;
}

int explain_run(const char *path, const char *target, const struct explain_opts *o, FILE *out,
                FILE *err)
{
    struct xl x;
    char msg[512];
    int64_t conn_capture = 0, cap;
    sqlite3_stmt *s = NULL;
    int ret = 0, n = 0, rc;
    const char *p;

    memset(&x, 0, sizeof x);
    {
        const char *slash = strrchr(path, '/');
        if (slash && (size_t)(slash - path) < sizeof x.db_dir)
            snprintf(x.db_dir, sizeof x.db_dir, "%.*s", (int)(slash - path), path);
        else if (!slash)
            snprintf(x.db_dir, sizeof x.db_dir, ".");
    }
    for (p = target; *p && isdigit((unsigned char)*p); p++)
        ;
    ret = store_open_readonly(path, &x.db, msg, sizeof msg);
    if (ret) {
        fprintf(err, "twscope: %s\n", msg);
        return ret;
    }
    if (!*p && p != target) {
        rc = tuple_of_conn(&x, strtoll(target, NULL, 10), &conn_capture);
        if (rc <= 0) {
            fprintf(err, "twscope: explain: %s: %s\n", path,
                    rc < 0 ? sqlite3_errmsg(x.db) : "no connection with that id");
            sqlite3_close(x.db);
            return rc < 0 ? TW_ERR_DB : TW_ERR_USAGE;
        }
    } else if (parse_tuple(&x, target) != 0) {
        fprintf(err, "twscope: explain: '%s': want a connection id or IP:PORT-IP:PORT"
                     " (IPv6 as [ADDR]:PORT)\n", target);
        sqlite3_close(x.db);
        return TW_ERR_USAGE;
    }
    if (sqlite3_prepare_v2(x.db, "SELECT DISTINCT capture_id FROM connections WHERE " TUPLE_MATCH
                                 " AND (?5 = 0 OR capture_id = ?5) ORDER BY capture_id",
                           -1, &s, NULL) != SQLITE_OK) {
        fprintf(err, "twscope: explain: %s: %s\n", path, sqlite3_errmsg(x.db));
        sqlite3_close(x.db);
        return TW_ERR_DB;
    }
    ex_bind_tuple(s, &x);
    sqlite3_bind_int64(s, 5, conn_capture ? conn_capture : o->capture_id);
    while (ret == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct xl one = x;
        cap = sqlite3_column_int64(s, 0);
        one.capture = cap;
        if (n++)
            fputc('\n', out);
        ret = explain_capture(&one, o, out);
        xl_reset(&one);
    }
    sqlite3_finalize(s);
    if (ret == 0 && n == 0) {
        fprintf(err, "twscope: explain: %s: no connection %s %s%s%s:%u <-> %s%s%s:%u\n", path,
                o->capture_id ? "in that capture between" : "between", x.ipv == 6 ? "[" : "",
                x.a_ip, x.ipv == 6 ? "]" : "", x.a_port, x.ipv == 6 ? "[" : "", x.b_ip,
                x.ipv == 6 ? "]" : "", x.b_port);
        ret = TW_ERR_USAGE;
    }
    sqlite3_close(x.db);
    return ret;
}

/* ------------------------------------------------------------------- SVG */

static void svg_esc(FILE *o, const char *s, size_t max)
{
    size_t n = 0;

    for (; *s && n < max; s++, n++) {
        switch (*s) {
        case '<': fputs("&lt;", o); break;
        case '>': fputs("&gt;", o); break;
        case '&': fputs("&amp;", o); break;
        case '"': fputs("&quot;", o); break;
        default:
            if ((unsigned char)*s >= 0x20)
                fputc(*s, o);
        }
    }
    if (*s)
        fputs("...", o);
}

#define SVG_ROW 20
#define SVG_AX 150                   /* x of endpoint A's line */
#define SVG_BX 430                   /* x of endpoint B's line */
#define SVG_MAX_LINES 400

int explain_svg(sqlite3 *db, int64_t conn_id, FILE *out)
{
    struct xl x;
    int64_t cap = 0;
    size_t n, i;
    double t0;
    int h, y;

    memset(&x, 0, sizeof x);
    x.db = db;
    if (tuple_of_conn(&x, conn_id, &cap) != 1)
        return -1;
    x.capture = cap;
    if (explain_build(&x, 1) != 0 || !x.ninc) {
        xl_reset(&x);
        return -1;
    }
    n = x.nev < SVG_MAX_LINES ? x.nev : SVG_MAX_LINES;
    h = (int)(n + 2) * SVG_ROW + 10;
    t0 = t_zero(&x);
    fprintf(out, "<svg class=\"ladder\" width=\"1000\" height=\"%d\" viewBox=\"0 0 1000 %d\""
                 " font-family=\"sans-serif\" font-size=\"11\">\n",
            h, h);
    fprintf(out, "<text x=\"%d\" y=\"14\" text-anchor=\"middle\" font-weight=\"bold\">%s",
            SVG_AX, x.ipv == 6 ? "[" : "");
    svg_esc(out, x.a_ip, 64);
    fprintf(out, "%s:%u</text><text x=\"%d\" y=\"14\" text-anchor=\"middle\""
                 " font-weight=\"bold\">%s",
            x.ipv == 6 ? "]" : "", x.a_port, SVG_BX, x.ipv == 6 ? "[" : "");
    svg_esc(out, x.b_ip, 64);
    fprintf(out, "%s:%u</text>\n<text x=\"4\" y=\"14\" fill=\"#868e96\">frame</text>"
                 "<text x=\"50\" y=\"14\" fill=\"#868e96\">+s</text>\n",
            x.ipv == 6 ? "]" : "", x.b_port);
    fprintf(out, "<line x1=\"%d\" y1=\"20\" x2=\"%d\" y2=\"%d\" stroke=\"#adb5bd\"/>"
                 "<line x1=\"%d\" y1=\"20\" x2=\"%d\" y2=\"%d\" stroke=\"#adb5bd\"/>\n",
            SVG_AX, SVG_AX, h - 4, SVG_BX, SVG_BX, h - 4);
    for (i = 0, y = 20 + SVG_ROW; i < n; i++, y += SVG_ROW) {
        const struct xev *e = &x.ev[i];
        char fr[32];
        int finding = strstr(e->note, "! ") != NULL;

        fmt_frame(&x, e, fr, sizeof fr);
        fprintf(out, "<g><title>frame %s: ", fr);
        svg_esc(out, e->label, sizeof e->label);
        fputs(e->note[0] ? " - " : "", out);
        svg_esc(out, e->note, sizeof e->note);
        fprintf(out, "</title><text x=\"4\" y=\"%d\">%s</text>", y, fr);
        if (!e->ts_guess)
            fprintf(out, "<text x=\"50\" y=\"%d\" fill=\"#868e96\">%.6f</text>", y, e->ts - t0);
        if (e->dir == XD_NONE)
            fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#868e96\""
                         " stroke-dasharray=\"4 3\"/>",
                    SVG_AX, y - 4, SVG_BX, y - 4);
        else {
            /* the head drawn as a triangle at the receiving end (no marker: no url()) */
            int x2 = e->dir == XD_AB ? SVG_BX : SVG_AX, back = e->dir == XD_AB ? -8 : 8;
            const char *col = finding ? "#e03131" : "#343a40";
            fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\""
                         " stroke-width=\"1.3\"/><polygon points=\"%d,%d %d,%d %d,%d\""
                         " fill=\"%s\"/>",
                    e->dir == XD_AB ? SVG_AX : SVG_BX, y - 10, x2, y - 2, col, x2, y - 2,
                    x2 + back, y - 6, x2 + back, y + 1, col);
        }
        fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\"%s>", (SVG_AX + SVG_BX) / 2,
                y - 8, finding ? " fill=\"#e03131\"" : "");
        svg_esc(out, e->label, sizeof e->label);
        fprintf(out, "</text><text x=\"%d\" y=\"%d\"%s>", SVG_BX + 8, y,
                finding ? " fill=\"#e03131\"" : "");
        svg_esc(out, e->note, 95);
        fputs("</text></g>\n", out);
    }
    if (x.nev > n)
        fprintf(out, "<text x=\"4\" y=\"%d\" fill=\"#868e96\">... %zu more lines (twscope explain"
                     " DB %lld)</text>\n",
                y, x.nev - n, (long long)conn_id);
    fputs("</svg>\n", out);
    xl_reset(&x);
    return 0;
}
