/*
 * explain_build.c -- the lines of `twscope explain`'s ladder (explain.c
 * prints them).
 *
 * Built in three steps over one capture: the incarnations of the 4-tuple
 * from `connections`; its packets, when the capture files are still those
 * the database recorded (size and fingerprint, fileid.h), read again and
 * decoded like the analysis does; then what the database says happened at
 * each frame (incarnation start, FINs, RST, TIME_WAIT start and end,
 * findings) attached to those frames, or added as lines of their own where
 * no packet was read (a TIME_WAIT expiry has no packet at all: it is placed
 * by its time). The lines are sorted by file and frame (capture order), the
 * frameless ones inserted by time.
 *
 * Not a hot path: it allocates freely.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "explain_int.h"
#include "twscope/capture.h"
#include "twscope/common.h"
#include "twscope/decode.h"
#include "twscope/fileid.h"
#include "twscope/words.h"

/* ---------------------------------------------------------------- events */

static struct xev *ev_add(struct xl *x, uint32_t file, uint64_t frame, double ts, int dir,
                          int inc)
{
    struct xev *e;

    if (x->nev == x->cap) {
        size_t n = x->cap ? x->cap * 2 : 64;
        struct xev *p = realloc(x->ev, n * sizeof *p);
        if (!p)
            return NULL;
        x->ev = p;
        x->cap = n;
    }
    e = &x->ev[x->nev++];
    memset(e, 0, sizeof *e);
    e->file = file;
    e->frame = frame;
    e->ts = ts;
    e->dir = dir;
    e->inc = inc;
    return e;
}

struct xev *ex_ev_find(struct xl *x, uint32_t file, uint64_t frame)
{
    if (!frame)
        return NULL;
    for (size_t i = 0; i < x->nev; i++)
        if (x->ev[i].frame == frame && x->ev[i].file == file)
            return &x->ev[i];
    return NULL;
}

/* The line of frame (file, frame), made from the database when no packet was read. */
static struct xev *ev_at(struct xl *x, uint32_t file, uint64_t frame, double ts, int dir,
                         int inc, const char *label)
{
    struct xev *e = ex_ev_find(x, file, frame);

    if (!e && (e = ev_add(x, file, frame, ts, dir, inc)) != NULL)
        snprintf(e->label, sizeof e->label, "%s", label);
    if (e) {
        e->keep = 1;
        if (isnan(e->ts))
            e->ts = ts;
        if (e->inc < 0)
            e->inc = inc;
    }
    return e;
}

static void ev_note(struct xev *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ev_note(struct xev *e, const char *fmt, ...)
{
    size_t used;
    va_list ap;

    if (!e)
        return;
    used = strlen(e->note);
    if (used && used + 2 < sizeof e->note) {
        memcpy(e->note + used, "; ", 3);
        used += 2;
    }
    va_start(ap, fmt);
    vsnprintf(e->note + used, sizeof e->note - used, fmt, ap);
    va_end(ap);
    e->keep = 1;
}

static int ev_cmp(const void *pa, const void *pb)
{
    const struct xev *a = pa, *b = pb;

    if (a->file != b->file)
        return a->file < b->file ? -1 : 1;
    return a->frame < b->frame ? -1 : a->frame > b->frame;
}

/* Time order (the analysis merges several files by time); a file's own order breaks ties. */
static int ev_cmp_time(const void *pa, const void *pb)
{
    const struct xev *a = pa, *b = pb;

    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (!a->frame != !b->frame)
        return a->frame ? -1 : 1;    /* a frame before an expiry at the same instant */
    return ev_cmp(pa, pb);
}

/*
 * Sort the lines in time order. A frame whose time the database does not
 * hold (a FIN when the packets were not read) takes the time of the frame
 * before it in its file, so it keeps its place in that file.
 */
int ex_ev_sort(struct xl *x)
{
    qsort(x->ev, x->nev, sizeof *x->ev, ev_cmp);
    for (size_t i = 0; i < x->nev; i++) {
        struct xev *e = &x->ev[i];
        if (!e->frame || !isnan(e->ts))
            continue;
        for (size_t j = i; j-- > 0;)
            if (x->ev[j].frame && x->ev[j].file == e->file && !isnan(x->ev[j].ts)) {
                e->ts = x->ev[j].ts;
                break;
            }
        for (size_t j = i + 1; isnan(e->ts) && j < x->nev; j++)
            if (x->ev[j].frame && x->ev[j].file == e->file && !isnan(x->ev[j].ts))
                e->ts = x->ev[j].ts;
        if (isnan(e->ts))
            e->ts = 0;
        e->ts_guess = 1;
    }
    qsort(x->ev, x->nev, sizeof *x->ev, ev_cmp_time);
    return 0;
}

/* -------------------------------------------------------------- database */

int ex_dir_of(const struct xinc *c, const char *sender)
{
    int from_client = sender && strcmp(sender, "client") == 0;

    if (!sender || (!from_client && strcmp(sender, "server") != 0))
        return XD_NONE;
    return from_client != c->flip ? XD_AB : XD_BA;
}

const char *ex_col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

void ex_bind_tuple(sqlite3_stmt *s, const struct xl *x)
{
    sqlite3_bind_text(s, 1, x->a_ip, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 2, (int)x->a_port);
    sqlite3_bind_text(s, 3, x->b_ip, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 4, (int)x->b_port);
}

int ex_load_incarnations(struct xl *x)
{
    sqlite3_stmt *s = NULL;
    const char *sql = "SELECT id, incarnation, prev_connection_id, client_ip, client_port,"
                      " syn_seen, first_frame, last_frame, client_fin_frame, server_fin_frame,"
                      " rst_frame, first_file, last_file, first_ts, last_ts, close_kind,"
                      " active_closer, app_protocol FROM connections WHERE capture_id = ?5"
                      " AND " TUPLE_MATCH " ORDER BY first_ts, first_file, first_frame, id";
    int rc;

    if (sqlite3_prepare_v2(x->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    ex_bind_tuple(s, x);
    sqlite3_bind_int64(s, 5, x->capture);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct xinc *p = realloc(x->inc, (x->ninc + 1) * sizeof *p), *c;
        if (!p) {
            rc = SQLITE_NOMEM;
            break;
        }
        x->inc = p;
        c = &x->inc[x->ninc++];
        memset(c, 0, sizeof *c);
        c->id = sqlite3_column_int64(s, 0);
        c->incarnation = sqlite3_column_int64(s, 1);
        c->prev_id = sqlite3_column_int64(s, 2);
        c->flip = !(strcmp(ex_col_text(s, 3), x->a_ip) == 0 &&
                    (unsigned)sqlite3_column_int(s, 4) == x->a_port);
        c->syn_seen = sqlite3_column_int(s, 5);
        c->first_frame = (uint64_t)sqlite3_column_int64(s, 6);
        c->last_frame = (uint64_t)sqlite3_column_int64(s, 7);
        c->cfin = (uint64_t)sqlite3_column_int64(s, 8);
        c->sfin = (uint64_t)sqlite3_column_int64(s, 9);
        c->rst = (uint64_t)sqlite3_column_int64(s, 10);
        c->first_file = (uint32_t)sqlite3_column_int(s, 11);
        c->last_file = (uint32_t)sqlite3_column_int(s, 12);
        c->first_ts = sqlite3_column_double(s, 13);
        c->last_ts = sqlite3_column_double(s, 14);
        snprintf(c->close_kind, sizeof c->close_kind, "%s", ex_col_text(s, 15));
        snprintf(c->closer, sizeof c->closer, "%s", ex_col_text(s, 16));
        snprintf(c->app, sizeof c->app, "%s", ex_col_text(s, 17));
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The file a frame of incarnation c is in (the database keeps files for its ends only). */
static uint32_t frame_file(const struct xinc *c, uint64_t frame)
{
    if (c->first_file == c->last_file)
        return c->first_file;
    return frame <= c->last_frame ? c->last_file : c->first_file;
}

int ex_inc_of_id(const struct xl *x, int64_t id)
{
    for (size_t i = 0; i < x->ninc; i++)
        if (x->inc[i].id == id)
            return (int)i;
    return -1;
}

/* ----------------------------------------------------------------- packets */

static void flags_label(uint8_t f, uint32_t len, char *buf, size_t n)
{
    static const struct { uint8_t bit; const char *name; } names[] = {
        {TCPF_SYN, "SYN"}, {TCPF_FIN, "FIN"}, {TCPF_RST, "RST"},
        {TCPF_PSH, "PSH"}, {TCPF_ACK, "ACK"}, {TCPF_URG, "URG"},
    };
    size_t used = 0;

    buf[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (f & names[i].bit)
            used += (size_t)snprintf(buf + used, used < n ? n - used : 0, "%s%s",
                                     used ? "," : "", names[i].name);
    if (len && used < n)
        snprintf(buf + used, n - used, " len=%u", len);
}

/* The incarnation a packet of frame (file, frame) belongs to: the last one begun by then. */
static int inc_at(const struct xl *x, uint32_t file, uint64_t frame)
{
    int best = -1;

    for (size_t i = 0; i < x->ninc; i++) {
        const struct xinc *c = &x->inc[i];
        if (c->first_file < file || (c->first_file == file && c->first_frame <= frame))
            best = (int)i;
    }
    return best;
}

/* Read the 4-tuple's packets from one recorded file; 0, or -1 with x->no_packets set. */
static int read_file(struct xl *x, uint32_t index, const char *path, int64_t size,
                     const char *fp)
{
    char alt[4096];
    struct fileid id;
    struct capture *cap = NULL;
    struct capture_opts co;
    struct capture_pkt p;
    char err[256];
    int rc;

    /* a relative name is as the analysis was given it: from there, or beside the database */
    if (path[0] != '/' && access(path, F_OK) != 0 && x->db_dir[0] &&
        (size_t)snprintf(alt, sizeof alt, "%s/%s", x->db_dir, path) < sizeof alt &&
        access(alt, F_OK) == 0)
        path = alt;
    if (fileid_of(path, &id, err, sizeof err) != 0) {
        snprintf(x->no_packets, sizeof x->no_packets, "%s", err);
        return -1;
    }
    if (!id.known || (int64_t)id.size != size || strcmp(id.fingerprint, fp) != 0) {
        snprintf(x->no_packets, sizeof x->no_packets,
                 "%s: not the file analyzed (size or content changed)", path);
        return -1;
    }
    memset(&co, 0, sizeof co);
    if (capture_open_files(&path, 1, &co, &cap, err, sizeof err) != 0) {
        snprintf(x->no_packets, sizeof x->no_packets, "%s", err);
        return -1;
    }
    while ((rc = capture_next(cap, &p, err, sizeof err)) == 1) {
        struct pkt_view pv;
        size_t alen = x->ipv == 6 ? 16 : 4;
        int dir;
        struct xev *e;

        if (decode_packet(p.linktype, p.data, p.caplen, &pv) != DECODE_OK ||
            pv.ip_version != x->ipv)
            continue;
        if (pv.sport == x->a_port && pv.dport == x->b_port &&
            memcmp(pv.src, x->a_bytes, alen) == 0 && memcmp(pv.dst, x->b_bytes, alen) == 0)
            dir = XD_AB;
        else if (pv.sport == x->b_port && pv.dport == x->a_port &&
                 memcmp(pv.src, x->b_bytes, alen) == 0 && memcmp(pv.dst, x->a_bytes, alen) == 0)
            dir = XD_BA;
        else
            continue;
        e = ev_add(x, index, p.frame, (double)p.ts / 1e6, dir, inc_at(x, index, p.frame));
        if (!e) {
            capture_close(cap);
            return -1;
        }
        e->pkt = 1;
        e->flags = pv.flags;
        e->len = pv.payload_len;
        e->keep = (pv.flags & (TCPF_SYN | TCPF_FIN | TCPF_RST)) != 0;
        flags_label(pv.flags, pv.payload_len, e->label, sizeof e->label);
    }
    capture_close(cap);
    if (rc < 0) {
        snprintf(x->no_packets, sizeof x->no_packets, "%s", err);
        return -1;
    }
    return 0;
}

int ex_read_packets(struct xl *x)
{
    uint32_t lo = UINT32_MAX, hi = 0;
    sqlite3_stmt *s = NULL;
    int rc, nfiles = 0;

    for (size_t i = 0; i < x->ninc; i++) {
        if (x->inc[i].first_file < lo)
            lo = x->inc[i].first_file;
        if (x->inc[i].last_file > hi)
            hi = x->inc[i].last_file;
    }
    if (sqlite3_prepare_v2(x->db, "SELECT file_index, path, size, fingerprint FROM files"
                                  " WHERE capture_id = ?1 AND file_index BETWEEN ?2 AND ?3"
                                  " ORDER BY file_index",
                           -1, &s, NULL) != SQLITE_OK) {
        snprintf(x->no_packets, sizeof x->no_packets,
                 "the database does not record its capture files");
        return -1;
    }
    sqlite3_bind_int64(s, 1, x->capture);
    sqlite3_bind_int64(s, 2, lo);
    sqlite3_bind_int64(s, 3, hi);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        nfiles++;
        if (read_file(x, (uint32_t)sqlite3_column_int(s, 0), ex_col_text(s, 1),
                      sqlite3_column_int64(s, 2), ex_col_text(s, 3)) != 0)
            break;
    }
    sqlite3_finalize(s);
    if (x->no_packets[0] || rc != SQLITE_DONE) {
        size_t keep = 0;
        for (size_t i = 0; i < x->nev; i++)      /* all or nothing: drop what was read */
            if (!x->ev[i].pkt)
                x->ev[keep++] = x->ev[i];
        x->nev = keep;
        if (!x->no_packets[0])
            snprintf(x->no_packets, sizeof x->no_packets, "%s", sqlite3_errmsg(x->db));
        return -1;
    }
    if (nfiles != (int)(hi - lo + 1)) {
        snprintf(x->no_packets, sizeof x->no_packets,
                 "the database does not record the capture file (live capture or standard input)");
        return -1;
    }
    x->packets_read = 1;
    return 0;
}

/* ---------------------------------------------------- what the database says */

const char *ex_who_name(const struct xl *x, const struct xinc *c, const char *side,
                            char *buf, size_t n)
{
    int a = (strcmp(side, "client") == 0) != c->flip;

    snprintf(buf, n, x->ipv == 6 ? "%s [%s]:%u" : "%s %s:%u", side, a ? x->a_ip : x->b_ip,
             a ? x->a_port : x->b_port);
    return buf;
}

void ex_db_connections(struct xl *x)
{
    for (size_t i = 0; i < x->ninc; i++) {
        struct xinc *c = &x->inc[i];
        int ab_client = c->flip ? XD_BA : XD_AB, ab_server = c->flip ? XD_AB : XD_BA;
        struct xev *e;
        int cfirst = c->cfin && (!c->sfin || c->cfin < c->sfin);

        e = ev_at(x, c->first_file, c->first_frame, c->first_ts,
                  c->syn_seen ? ab_client : XD_NONE, (int)i, c->syn_seen ? "SYN" : "...");
        ev_note(e, "incarnation %lld begins (connection %lld%s%s%s)", (long long)c->incarnation,
                (long long)c->id, c->syn_seen ? "" : ", picked up mid-stream",
                c->app[0] ? ", " : "", c->app);
        if (c->cfin) {
            e = ev_at(x, frame_file(c, c->cfin), c->cfin, NAN, ab_client, (int)i, "FIN");
            ev_note(e, "client FIN%s", cfirst && strcmp(c->closer, "client") == 0
                                           ? ": the client closes first"
                                           : "");
        }
        if (c->sfin) {
            e = ev_at(x, frame_file(c, c->sfin), c->sfin, NAN, ab_server, (int)i, "FIN");
            ev_note(e, "server FIN%s", !cfirst && strcmp(c->closer, "server") == 0
                                           ? ": the server closes first"
                                           : "");
        }
        if (c->rst) {
            e = ev_at(x, frame_file(c, c->rst), c->rst, NAN, XD_NONE, (int)i, "RST");
            ev_note(e, "RST closes connection %lld", (long long)c->id);
        }
        if (c->last_frame && c->last_frame != c->first_frame) {
            e = ex_ev_find(x, c->last_file, c->last_frame);
            if (e)
                e->keep = 1;
        }
    }
}

/* The period's 2*MSL setting (time_waits.duration_s). */
static double c_msl(const struct xl *x, sqlite3_stmt *s)
{
    (void)x;
    return sqlite3_column_double(s, 12) + 1e-6;
}

void ex_db_timewaits(struct xl *x)
{
    sqlite3_stmt *s = NULL;
    const char *sql =
        "SELECT t.connection_id, t.side, t.start_frame, t.start_file, t.start_ts, t.end_ts,"
        " t.end_reason, t.inferred, t.expected_end_ts,"
        " (SELECT n.id FROM connections n WHERE n.prev_connection_id = t.connection_id),"
        " (SELECT f.frame FROM findings f WHERE f.connection_id = t.connection_id AND"
        "  f.kind = 'tw_rst' ORDER BY f.file DESC, f.frame DESC LIMIT 1),"
        " (SELECT f.file FROM findings f WHERE f.connection_id = t.connection_id AND"
        "  f.kind = 'tw_rst' ORDER BY f.file DESC, f.frame DESC LIMIT 1), t.duration_s"
        " FROM time_waits t JOIN connections c ON c.id = t.connection_id"
        " WHERE c.capture_id = ?5 AND " TUPLE_MATCH " ORDER BY t.start_ts";

    if (sqlite3_prepare_v2(x->db, sql, -1, &s, NULL) != SQLITE_OK)
        return;
    ex_bind_tuple(s, x);
    sqlite3_bind_int64(s, 5, x->capture);
    while (sqlite3_step(s) == SQLITE_ROW) {
        int ci = ex_inc_of_id(x, sqlite3_column_int64(s, 0));
        const char *side = ex_col_text(s, 1), *why = ex_col_text(s, 6);
        double start = sqlite3_column_double(s, 4), end = sqlite3_column_double(s, 5);
        double nominal = sqlite3_column_double(s, 8) - start;
        char who[128];
        struct xinc *c;
        struct xev *e;

        if (ci < 0)
            continue;
        c = &x->inc[ci];
        ex_who_name(x, c, side, who, sizeof who);
        if (sqlite3_column_type(s, 2) != SQLITE_NULL && sqlite3_column_int64(s, 2)) {
            e = ev_at(x, (uint32_t)sqlite3_column_int(s, 3),
                      (uint64_t)sqlite3_column_int64(s, 2), start,
                      ex_dir_of(c, side), ci, "ACK");
            ev_note(e, "%s enters TIME_WAIT%s; 2*MSL ends it at +%.3f s (%.3f s later%s)", who,
                    sqlite3_column_int(s, 7) ? " (inferred: its ACK of the last FIN is not in"
                                               " the capture)"
                                             : "",
                    sqlite3_column_double(s, 8) - x->inc[0].first_ts, nominal,
                    nominal > c_msl(x, s) ? ", re-armed by a later ACK" : "");
        } else {
            e = ev_add(x, 0, 0, start, XD_NONE, ci);
            if (e) {
                snprintf(e->label, sizeof e->label, "TIME_WAIT");
                ev_note(e, "%s enters TIME_WAIT (inferred, no frame)", who);
            }
        }
        if (strcmp(why, "open") == 0 || sqlite3_column_type(s, 5) == SQLITE_NULL) {
            ev_note(e, "still open (a live capture is writing it)");
            continue;
        }
        if (strcmp(why, "reused") == 0 && sqlite3_column_type(s, 9) != SQLITE_NULL) {
            int ni = ex_inc_of_id(x, sqlite3_column_int64(s, 9));
            if (ni >= 0) {
                e = ex_ev_find(x, x->inc[ni].first_file, x->inc[ni].first_frame);
                ev_note(e, "this SYN ends the %s's TIME_WAIT after %.3f s (reused)", side,
                        end - start);
                continue;
            }
        }
        if (strcmp(why, "rst") == 0 && sqlite3_column_type(s, 10) != SQLITE_NULL) {
            e = ex_ev_find(x, (uint32_t)sqlite3_column_int(s, 11),
                        (uint64_t)sqlite3_column_int64(s, 10));
            if (e) {
                ev_note(e, "the %s's TIME_WAIT ends at this RST after %.3f s", side, end - start);
                continue;
            }
        }
        e = ev_add(x, 0, 0, end, XD_NONE, ci);
        if (!e)
            continue;
        if (strcmp(why, "expired") == 0) {
            snprintf(e->label, sizeof e->label, "2*MSL");
            ev_note(e, "the %s's TIME_WAIT expires (%.3f s)", side, end - start);
        } else if (strcmp(why, "capture_end") == 0) {
            snprintf(e->label, sizeof e->label, "capture ends");
            ev_note(e, "the %s is still in TIME_WAIT (%.3f s of %.3f s; %.3f s left)", side,
                    end - start, nominal, nominal - (end - start));
        } else {
            snprintf(e->label, sizeof e->label, "%s", why[0] ? why : "end");
            ev_note(e, "the %s's TIME_WAIT ends (%s) after %.3f s", side, why[0] ? why : "?",
                    end - start);
        }
    }
    sqlite3_finalize(s);
}

/* Prepare the findings of the 4-tuple, with their sentence, in capture order. */
sqlite3_stmt *ex_findings_stmt(struct xl *x)
{
    sqlite3_stmt *s = NULL;
    const char *sql = "SELECT f.connection_id, f.kind, f.frame, f.file, f.ts, f.direction, "
        WORDS_FINDING("f") ", json_extract(f.detail, '$.evidence_frame'), f.flags,"
        " f.payload_len"
        " FROM findings f JOIN connections c ON c.id = f.connection_id"
        " WHERE c.capture_id = ?5 AND " TUPLE_MATCH " ORDER BY f.file, f.frame, f.id";

    if (sqlite3_prepare_v2(x->db, sql, -1, &s, NULL) != SQLITE_OK)
        return NULL;
    ex_bind_tuple(s, x);
    sqlite3_bind_int64(s, 5, x->capture);
    return s;
}

void ex_db_findings(struct xl *x)
{
    sqlite3_stmt *s = ex_findings_stmt(x);

    if (!s)
        return;
    while (sqlite3_step(s) == SQLITE_ROW) {
        int ci = ex_inc_of_id(x, sqlite3_column_int64(s, 0));
        struct xev *e;
        char label[40];

        if (ci < 0)
            continue;
        flags_label((uint8_t)sqlite3_column_int(s, 8), (uint32_t)sqlite3_column_int(s, 9), label,
                    sizeof label);
        e = ev_at(x, (uint32_t)sqlite3_column_int(s, 3), (uint64_t)sqlite3_column_int64(s, 2),
                  sqlite3_column_double(s, 4), ex_dir_of(&x->inc[ci], ex_col_text(s, 5)), ci, label);
        ev_note(e, "! %s", ex_col_text(s, 1));
    }
    sqlite3_finalize(s);
}
