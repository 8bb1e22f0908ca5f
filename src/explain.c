/*
 * explain.c -- the ladder diagram of one 4-tuple (see explain.h).
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
#include "twscope/explain.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "twscope/capture.h"
#include "twscope/common.h"
#include "twscope/decode.h"
#include "twscope/fileid.h"
#include "twscope/store.h"
#include "twscope/words.h"

#define XNOTE 320                    /* note text beside one line */
#define XARROW 34                    /* width of the arrow between the two endpoints */

enum { XD_NONE, XD_AB, XD_BA };      /* endpoint A (first incarnation's client) to B, or back */

struct xinc {                        /* one incarnation of the 4-tuple */
    int64_t id, incarnation, prev_id;
    int flip;                        /* its client is endpoint B */
    int syn_seen;
    uint64_t first_frame, last_frame, cfin, sfin, rst;
    uint32_t first_file, last_file;
    double first_ts, last_ts;
    char close_kind[16], closer[16], app[64];
};

struct xev {                         /* one line of the ladder */
    uint32_t file;
    uint64_t frame;                  /* 0: no packet (a TIME_WAIT expiry, the capture end) */
    double ts;                       /* NAN if unknown */
    int dir;                         /* XD_* */
    int inc;                         /* index in incs, -1 if none */
    int pkt;                         /* read from the capture file */
    int keep;                        /* never folded into a run */
    int ts_guess;                    /* ts borrowed from the frame before (not shown) */
    uint8_t flags;                   /* TCP flags when pkt */
    uint32_t len;                    /* payload bytes when pkt */
    char label[40];                  /* written on the arrow */
    char note[XNOTE];                /* written right of it */
};

struct xl {
    sqlite3 *db;
    int64_t capture;
    char a_ip[64], b_ip[64];
    unsigned a_port, b_port;
    int ipv;
    uint8_t a_bytes[16], b_bytes[16];
    struct xinc *inc;
    size_t ninc;
    struct xev *ev;
    size_t nev, cap;
    int packets_read;
    int multi_file;
    char db_dir[2048];               /* directory of the database, "" if none */
    char no_packets[300];            /* why the packets were not read, "" if they were */
};

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

static struct xev *ev_find(struct xl *x, uint32_t file, uint64_t frame)
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
    struct xev *e = ev_find(x, file, frame);

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
static int ev_sort(struct xl *x)
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

static int dir_of(const struct xinc *c, const char *sender)
{
    int from_client = sender && strcmp(sender, "client") == 0;

    if (!sender || (!from_client && strcmp(sender, "server") != 0))
        return XD_NONE;
    return from_client != c->flip ? XD_AB : XD_BA;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

#define TUPLE_MATCH                                                                     \
    "((client_ip = ?1 AND client_port = ?2 AND server_ip = ?3 AND server_port = ?4) OR" \
    " (client_ip = ?3 AND client_port = ?4 AND server_ip = ?1 AND server_port = ?2))"

static void bind_tuple(sqlite3_stmt *s, const struct xl *x)
{
    sqlite3_bind_text(s, 1, x->a_ip, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 2, (int)x->a_port);
    sqlite3_bind_text(s, 3, x->b_ip, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 4, (int)x->b_port);
}

static int load_incarnations(struct xl *x)
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
    bind_tuple(s, x);
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
        c->flip = !(strcmp(col_text(s, 3), x->a_ip) == 0 &&
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
        snprintf(c->close_kind, sizeof c->close_kind, "%s", col_text(s, 15));
        snprintf(c->closer, sizeof c->closer, "%s", col_text(s, 16));
        snprintf(c->app, sizeof c->app, "%s", col_text(s, 17));
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

static int inc_of_id(const struct xl *x, int64_t id)
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

static int read_packets(struct xl *x)
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
        if (read_file(x, (uint32_t)sqlite3_column_int(s, 0), col_text(s, 1),
                      sqlite3_column_int64(s, 2), col_text(s, 3)) != 0)
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

static const char *who_name(const struct xl *x, const struct xinc *c, const char *side,
                            char *buf, size_t n)
{
    int a = (strcmp(side, "client") == 0) != c->flip;

    snprintf(buf, n, x->ipv == 6 ? "%s [%s]:%u" : "%s %s:%u", side, a ? x->a_ip : x->b_ip,
             a ? x->a_port : x->b_port);
    return buf;
}

static void db_connections(struct xl *x)
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
            e = ev_find(x, c->last_file, c->last_frame);
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

static void db_timewaits(struct xl *x)
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
    bind_tuple(s, x);
    sqlite3_bind_int64(s, 5, x->capture);
    while (sqlite3_step(s) == SQLITE_ROW) {
        int ci = inc_of_id(x, sqlite3_column_int64(s, 0));
        const char *side = col_text(s, 1), *why = col_text(s, 6);
        double start = sqlite3_column_double(s, 4), end = sqlite3_column_double(s, 5);
        double nominal = sqlite3_column_double(s, 8) - start;
        char who[128];
        struct xinc *c;
        struct xev *e;

        if (ci < 0)
            continue;
        c = &x->inc[ci];
        who_name(x, c, side, who, sizeof who);
        if (sqlite3_column_type(s, 2) != SQLITE_NULL && sqlite3_column_int64(s, 2)) {
            e = ev_at(x, (uint32_t)sqlite3_column_int(s, 3),
                      (uint64_t)sqlite3_column_int64(s, 2), start,
                      dir_of(c, side), ci, "ACK");
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
            int ni = inc_of_id(x, sqlite3_column_int64(s, 9));
            if (ni >= 0) {
                e = ev_find(x, x->inc[ni].first_file, x->inc[ni].first_frame);
                ev_note(e, "this SYN ends the %s's TIME_WAIT after %.3f s (reused)", side,
                        end - start);
                continue;
            }
        }
        if (strcmp(why, "rst") == 0 && sqlite3_column_type(s, 10) != SQLITE_NULL) {
            e = ev_find(x, (uint32_t)sqlite3_column_int(s, 11),
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
static sqlite3_stmt *findings_stmt(struct xl *x)
{
    sqlite3_stmt *s = NULL;
    const char *sql = "SELECT f.connection_id, f.kind, f.frame, f.file, f.ts, f.direction, "
        WORDS_FINDING("f") ", json_extract(f.detail, '$.evidence_frame'), f.flags,"
        " f.payload_len"
        " FROM findings f JOIN connections c ON c.id = f.connection_id"
        " WHERE c.capture_id = ?5 AND " TUPLE_MATCH " ORDER BY f.file, f.frame, f.id";

    if (sqlite3_prepare_v2(x->db, sql, -1, &s, NULL) != SQLITE_OK)
        return NULL;
    bind_tuple(s, x);
    sqlite3_bind_int64(s, 5, x->capture);
    return s;
}

static void db_findings(struct xl *x)
{
    sqlite3_stmt *s = findings_stmt(x);

    if (!s)
        return;
    while (sqlite3_step(s) == SQLITE_ROW) {
        int ci = inc_of_id(x, sqlite3_column_int64(s, 0));
        struct xev *e;
        char label[40];

        if (ci < 0)
            continue;
        flags_label((uint8_t)sqlite3_column_int(s, 8), (uint32_t)sqlite3_column_int(s, 9), label,
                    sizeof label);
        e = ev_at(x, (uint32_t)sqlite3_column_int(s, 3), (uint64_t)sqlite3_column_int64(s, 2),
                  sqlite3_column_double(s, 4), dir_of(&x->inc[ci], col_text(s, 5)), ci, label);
        ev_note(e, "! %s", col_text(s, 1));
    }
    sqlite3_finalize(s);
}

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
        bind_tuple(t, x);
        sqlite3_bind_int64(t, 5, x->capture);
        while (sqlite3_step(t) == SQLITE_ROW) {
            int ci = inc_of_id(x, sqlite3_column_int64(t, 0));
            char who[128], fr[32];
            const char *why = col_text(t, 5);
            struct xev tmp;
            if (ci < 0)
                continue;
            who_name(x, &x->inc[ci], col_text(t, 1), who, sizeof who);
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
    s = findings_stmt(x);
    if (!s)
        return;
    /* a run of the same kind of finding in one connection (FIN copies) is told once */
    {
        int rc = sqlite3_step(s);
        while (rc == SQLITE_ROW) {
            int64_t conn = sqlite3_column_int64(s, 0);
            int ci = inc_of_id(x, conn);
            char kind[32], fr[32], more[160] = "";
            uint32_t file = (uint32_t)sqlite3_column_int(s, 3), lfile = file;
            uint64_t frame = (uint64_t)sqlite3_column_int64(s, 2), lframe = frame;
            double lts = sqlite3_column_double(s, 4);
            int dir = ci >= 0 ? dir_of(&x->inc[ci], col_text(s, 5)) : XD_NONE, n = 0;
            int has_ev = sqlite3_column_type(s, 7) == SQLITE_INTEGER;
            uint64_t evf = has_ev ? (uint64_t)sqlite3_column_int64(s, 7) : 0;
            const struct xev *ans = NULL;
            struct xev tmp;
            size_t used = 0;

            tmp.file = file;
            tmp.frame = frame;
            fmt_frame(x, &tmp, fr, sizeof fr);
            snprintf(kind, sizeof kind, "%s", col_text(s, 1));
            fprintf(out, "- frame %s: %s", fr, col_text(s, 6));
            while ((rc = sqlite3_step(s)) == SQLITE_ROW && !has_ev &&
                   sqlite3_column_int64(s, 0) == conn &&
                   strcmp(col_text(s, 1), kind) == 0 &&
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
                ans = ev_find(x, file, evf);
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
        snprintf(t, sizeof t, v6 ? "[%s]:%d-[%s]:%d" : "%s:%d-%s:%d", col_text(s, 1),
                 sqlite3_column_int(s, 2), col_text(s, 3), sqlite3_column_int(s, 4));
        found = parse_tuple(x, t) == 0;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : -1;
}

/* Build and print the ladder of x's 4-tuple in capture x->capture. */
/* The lines of x's 4-tuple in capture x->capture; 0, or a TW_ERR_*. */
static int explain_build(struct xl *x, int db_only)
{
    if (load_incarnations(x) != 0)
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
        read_packets(x);
    db_connections(x);
    db_findings(x);                  /* before the periods: a RST's finding ends one */
    db_timewaits(x);
    return ev_sort(x) != 0 ? TW_ERR_NOMEM : 0;
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
    bind_tuple(s, &x);
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
