/*
 * annotate.c -- `twscope annotate` (see annotate.h): what to say about which
 * frame (from the database), then one pass over each source file copying its
 * packets to pcapng with the comments attached.
 *
 * The comments are built before any file is read: one sorted array of
 * (file, frame, order, text), walked with a cursor while the files are
 * copied, so the copy itself allocates nothing (one block buffer, grown only
 * for a block larger than any before).
 */
#include "twscope/annotate.h"
#include "twscope/words.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zlib.h>

#include "twscope/common.h"
#include "twscope/fileid.h"
#include "twscope/outfile.h"
#include "twscope/pcapng_write.h"
#include "twscope/store.h"

#define EP_MAX (STORE_IP_LEN + 10)     /* "[v6]:port" */

struct ann {                           /* one comment on one frame */
    uint32_t file;
    uint64_t frame;
    uint32_t order;                    /* findings, then TIME_WAIT end, start, incarnation */
    uint32_t seq;                      /* insertion order, to sort stably */
    char *text;
};

struct conn {
    int64_t id, prev;                  /* prev: 0 when none */
    uint32_t inc;
    char client[EP_MAX], server[EP_MAX];
    uint64_t first_frame, last_frame;
    uint32_t first_file, last_file;
    int syn_seen;
    double first_ts, last_ts;
};

struct tw {
    int64_t cid;
    char side[8], ep[EP_MAX], reason[16], profile[16];
    double start_ts, end_ts, dur;
    uint64_t start_frame;
    uint32_t start_file;
    int inferred;
    uint64_t end_frame;                /* 0: no packet ended it */
    uint32_t end_file;
};

struct infile {
    uint32_t index;
    char *path;
    char *name;                        /* basename, for "frame 10 of NAME" */
    int known;
    uint64_t size;
    char fingerprint[17];
    char *out;                         /* final output path (per-file mode) */
    char *tmp;                         /* temporary output path, NULL once renamed */
    uint64_t packets, commented, comments, dropped;
};

struct annot {
    const struct annotate_opts *o;
    FILE *msg;
    sqlite3 *db;
    int64_t capture_id;
    struct conn *conns;
    size_t nconns;
    struct tw *tws;
    size_t ntws;
    struct ann *anns;
    size_t nanns, capanns;
    struct infile *files;
    size_t nfiles;
    uint8_t *blk;                      /* block buffer of the copy */
    size_t blkcap;
    int section;                       /* the output's current section: 0 none yet,
                                          1 host byte order, 2 the other (--merge) */
};

static int say(struct annot *a, int rc, const char *fmt, ...)
{
    va_list ap;
    fputs("twscope: annotate: ", a->msg);
    va_start(ap, fmt);
    vfprintf(a->msg, fmt, ap);
    va_end(ap);
    fputc('\n', a->msg);
    return rc;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        fputs("twscope: out of memory\n", stderr);
        abort();
    }
    return d;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static void endpoint(char *buf, const char *ip, int port)
{
    snprintf(buf, EP_MAX, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
}

static int conn_cmp(const void *x, const void *y)
{
    const struct conn *p = x, *q = y;
    return (p->id > q->id) - (p->id < q->id);
}

static const struct conn *conn_find(const struct annot *a, int64_t id)
{
    struct conn key = {.id = id};
    return a->nconns ? bsearch(&key, a->conns, a->nconns, sizeof key, conn_cmp) : NULL;
}

static void add_ann(struct annot *a, uint32_t file, uint64_t frame, uint32_t order,
                    const char *text)
{
    if (frame == 0)
        return;                        /* no frame recorded */
    if (a->nanns == a->capanns) {
        size_t cap = a->capanns ? a->capanns * 2 : 256;
        struct ann *n = realloc(a->anns, cap * sizeof *n);
        if (!n) {
            fputs("twscope: out of memory\n", stderr);
            abort();
        }
        a->anns = n;
        a->capanns = cap;
    }
    a->anns[a->nanns] = (struct ann){file, frame, order, (uint32_t)a->nanns, xstrdup(text)};
    a->nanns++;
}

static int ann_cmp(const void *x, const void *y)
{
    const struct ann *p = x, *q = y;
    if (p->file != q->file)
        return p->file < q->file ? -1 : 1;
    if (p->frame != q->frame)
        return p->frame < q->frame ? -1 : 1;
    if (p->order != q->order)
        return p->order < q->order ? -1 : 1;
    return (p->seq > q->seq) - (p->seq < q->seq);
}

/* "frame 10", or "frame 10 of NAME" when it is in another file than `here`. */
static void frame_ref(const struct annot *a, char *buf, size_t n, uint64_t frame, uint32_t file,
                      uint32_t here)
{
    const char *name = NULL;
    for (size_t i = 0; i < a->nfiles; i++)
        if (a->files[i].index == file)
            name = a->files[i].name;
    if (file == here)
        snprintf(buf, n, "frame %llu", (unsigned long long)frame);
    else
        snprintf(buf, n, "frame %llu of %s", (unsigned long long)frame, name ? name : "?");
}

/* ---- what the database says ------------------------------------------------ */

static int prepare(struct annot *a, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(a->db, sql, -1, st, NULL) != SQLITE_OK)
        return say(a, TW_ERR_DB, "%s: %s", a->o->db_path, sqlite3_errmsg(a->db));
    sqlite3_bind_int64(*st, 1, a->capture_id);
    return 0;
}

static int step_done(struct annot *a, sqlite3_stmt *st, int rc)
{
    int ret = rc == SQLITE_DONE ? 0 : say(a, TW_ERR_DB, "%s: %s", a->o->db_path,
                                          sqlite3_errmsg(a->db));
    sqlite3_finalize(st);
    return ret;
}

static int pick_capture(struct annot *a)
{
    sqlite3_stmt *st;
    int64_t n = 0, last = 0, found = 0;
    char ids[256] = "";
    size_t used = 0;
    int rc;

    if (sqlite3_prepare_v2(a->db, "SELECT id FROM captures ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK)
        return say(a, TW_ERR_DB, "%s: %s", a->o->db_path, sqlite3_errmsg(a->db));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (id == a->o->capture_id)
            found = 1;
        if (used < sizeof ids - 24)
            used += (size_t)snprintf(ids + used, sizeof ids - used, "%s%lld", n ? ", " : "",
                                     (long long)id);
        last = id;
        n++;
    }
    if ((rc = step_done(a, st, rc)) != 0)
        return rc;
    if (n == 0)
        return say(a, TW_ERR_USAGE, "%s: the database holds no capture", a->o->db_path);
    if (a->o->capture_id) {
        if (!found)
            return say(a, TW_ERR_USAGE, "--capture %lld: no such capture in %s (captures: %s)",
                       (long long)a->o->capture_id, a->o->db_path, ids);
        a->capture_id = a->o->capture_id;
    } else if (n > 1) {
        return say(a, TW_ERR_USAGE, "%s holds %lld captures (%s): choose one with --capture ID",
                   a->o->db_path, (long long)n, ids);
    } else {
        a->capture_id = last;
    }
    return 0;
}

static int load_files(struct annot *a)
{
    sqlite3_stmt *st;
    int rc;
    if ((rc = prepare(a, "SELECT file_index, path, size, fingerprint FROM files"
                         " WHERE capture_id = ?1 ORDER BY file_index", &st)))
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct infile *f;
        const char *slash;
        int64_t idx = sqlite3_column_int64(st, 0);
        if (a->o->file >= 0 && idx != a->o->file)
            continue;
        f = realloc(a->files, (a->nfiles + 1) * sizeof *f);
        if (!f)
            abort();
        a->files = f;
        f = &a->files[a->nfiles++];
        memset(f, 0, sizeof *f);
        f->index = (uint32_t)idx;
        f->path = xstrdup(col_text(st, 1));
        slash = strrchr(f->path, '/');
        f->name = xstrdup(slash ? slash + 1 : f->path);
        f->known = sqlite3_column_type(st, 2) != SQLITE_NULL;
        f->size = (uint64_t)sqlite3_column_int64(st, 2);
        snprintf(f->fingerprint, sizeof f->fingerprint, "%s", col_text(st, 3));
    }
    if ((rc = step_done(a, st, rc)) != 0)
        return rc;
    if (a->nfiles == 0) {
        if (a->o->file >= 0)
            return say(a, TW_ERR_USAGE, "--file %lld: capture %lld has no such file (files are "
                       "numbered from 0, as in the file column of the database)",
                       (long long)a->o->file, (long long)a->capture_id);
        return say(a, TW_ERR_USAGE, "capture %lld of %s records no source file",
                   (long long)a->capture_id, a->o->db_path);
    }
    return 0;
}

static int load_conns(struct annot *a)
{
    sqlite3_stmt *st;
    int rc;
    if ((rc = prepare(a, "SELECT id, incarnation, client_ip, client_port, server_ip, server_port,"
                         " first_frame, first_file, last_frame, last_file, syn_seen,"
                         " prev_connection_id, first_ts, last_ts"
                         " FROM connections WHERE capture_id = ?1 ORDER BY id", &st)))
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct conn *c;
        if ((a->nconns & (a->nconns - 1)) == 0) {
            c = realloc(a->conns, (a->nconns ? a->nconns * 2 : 1) * sizeof *c);
            if (!c)
                abort();
            a->conns = c;
        }
        c = &a->conns[a->nconns++];
        c->id = sqlite3_column_int64(st, 0);
        c->inc = (uint32_t)sqlite3_column_int64(st, 1);
        endpoint(c->client, col_text(st, 2), sqlite3_column_int(st, 3));
        endpoint(c->server, col_text(st, 4), sqlite3_column_int(st, 5));
        c->first_frame = (uint64_t)sqlite3_column_int64(st, 6);
        c->first_file = (uint32_t)sqlite3_column_int64(st, 7);
        c->last_frame = (uint64_t)sqlite3_column_int64(st, 8);
        c->last_file = (uint32_t)sqlite3_column_int64(st, 9);
        c->syn_seen = sqlite3_column_int(st, 10);
        c->prev = sqlite3_column_int64(st, 11);
        c->first_ts = sqlite3_column_double(st, 12);
        c->last_ts = sqlite3_column_double(st, 13);
    }
    return step_done(a, st, rc);
}

/* The TIME_WAIT periods, by connection id (tw_context() and end_frames() search them). */
static int load_tws(struct annot *a)
{
    sqlite3_stmt *st;
    int rc;
    if ((rc = prepare(a,
            "SELECT t.connection_id, t.side, t.ip, t.port, t.start_ts, t.end_ts, t.duration_s,"
            " t.start_frame, t.start_file, t.inferred, t.end_reason, t.profile"
            " FROM time_waits t JOIN connections c ON c.id = t.connection_id"
            " WHERE c.capture_id = ?1 ORDER BY t.connection_id, t.id", &st)))
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct tw *t;
        if ((a->ntws & (a->ntws - 1)) == 0) {
            t = realloc(a->tws, (a->ntws ? a->ntws * 2 : 1) * sizeof *t);
            if (!t)
                abort();
            a->tws = t;
        }
        t = &a->tws[a->ntws++];
        memset(t, 0, sizeof *t);
        t->cid = sqlite3_column_int64(st, 0);
        snprintf(t->side, sizeof t->side, "%s", col_text(st, 1));
        endpoint(t->ep, col_text(st, 2), sqlite3_column_int(st, 3));
        t->start_ts = sqlite3_column_double(st, 4);
        t->end_ts = sqlite3_column_double(st, 5);
        t->dur = sqlite3_column_double(st, 6);
        t->start_frame = (uint64_t)sqlite3_column_int64(st, 7);
        t->start_file = (uint32_t)sqlite3_column_int64(st, 8);
        t->inferred = sqlite3_column_int(st, 9);
        snprintf(t->reason, sizeof t->reason, "%s", col_text(st, 10));
        snprintf(t->profile, sizeof t->profile, "%s", col_text(st, 11));
    }
    return step_done(a, st, rc);
}

/* Index of the first TIME_WAIT period of connection cid (tws sorted by cid), or ntws. */
static size_t tw_first(const struct annot *a, int64_t cid)
{
    size_t lo = 0, hi = a->ntws;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->tws[mid].cid < cid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* "; TIME_WAIT server 10.0.0.2:80 since frame 10" for the periods of cid started by ts. */
static size_t tw_context(const struct annot *a, char *buf, size_t n, int64_t cid, double ts,
                         uint32_t here)
{
    size_t used = 0;
    for (size_t i = tw_first(a, cid); i < a->ntws && a->tws[i].cid == cid && used < n; i++) {
        const struct tw *t = &a->tws[i];
        char fr[300];
        if (t->start_ts > ts + 1e-6)
            continue;
        frame_ref(a, fr, sizeof fr, t->start_frame, t->start_file, here);
        used += (size_t)snprintf(buf + used, n - used, "; TIME_WAIT %s %s since %s", t->side,
                                 t->ep, fr);
    }
    return used < n ? used : n - 1;
}

/*
 * One comment per finding. The "what" part is the finding's sentence
 * (words.h: the same the HTML report, explain and findings_named.words
 * give), the TIME_WAIT context and the ids in C.
 */
#define J(f) "json_extract(f.detail, '$." f "')"
static const char sql_findings[] =
    "SELECT f.connection_id, f.frame, f.file, f.ts, f.kind,"
    " " WORDS_KIND("f") " || ': ' || " WORDS_FINDING("f") ","
    " CASE WHEN f.kind IN ('tw_reuse', 'stale_state_rst') OR " J("phase") " = 'new_incarnation'"
    " THEN " J("prior_connection_id") " END, " J("tw_side")
    " FROM findings f JOIN connections c ON c.id = f.connection_id"
    " WHERE c.capture_id = ?1 ORDER BY f.id";
#undef J

/* A tw_reuse or tw_rst finding (kind) on frame: the end of a period of connection cid? */
static void end_frame_of(struct annot *a, const char *kind, int64_t cid, const char *side,
                         double ts, uint64_t frame, uint32_t file)
{
    int reuse = strcmp(kind, "tw_reuse") == 0;
    if (!reuse && strcmp(kind, "tw_rst") != 0)
        return;
    for (size_t j = tw_first(a, cid); j < a->ntws && a->tws[j].cid == cid; j++) {
        struct tw *t = &a->tws[j];
        if (t->end_frame || strcmp(t->reason, reuse ? "reused" : "rst") != 0 ||
            !(t->end_ts - ts < 1e-6 && ts - t->end_ts < 1e-6))
            continue;
        if (!reuse && strcmp(side, t->side) != 0 && strcmp(side, "both") != 0)
            continue;
        t->end_frame = frame;
        t->end_file = file;
    }
}

static int build_findings(struct annot *a)
{
    sqlite3_stmt *st;
    int rc;
    if ((rc = prepare(a, sql_findings, &st)))
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t cid = sqlite3_column_int64(st, 0), prior = sqlite3_column_int64(st, 6);
        uint64_t frame = (uint64_t)sqlite3_column_int64(st, 1);
        uint32_t file = (uint32_t)sqlite3_column_int64(st, 2);
        double ts = sqlite3_column_double(st, 3);
        char text[2048];
        size_t used = (size_t)snprintf(text, sizeof text, "twscope: %s", col_text(st, 5));
        if (used >= sizeof text)
            used = sizeof text - 1;
        used += tw_context(a, text + used, sizeof text - used, prior ? prior : cid, ts, file);
        if (prior && prior != cid)
            snprintf(text + used, sizeof text - used, "; connection %lld (previous: %lld)",
                     (long long)cid, (long long)prior);
        else
            snprintf(text + used, sizeof text - used, "; connection %lld", (long long)cid);
        add_ann(a, file, frame, 0, text);
        end_frame_of(a, col_text(st, 4), prior ? prior : cid, col_text(st, 7), ts, frame, file);
    }
    return step_done(a, st, rc);
}

/*
 * The periods that a packet ended: `reused` ones end at the SYN of the next
 * incarnation (its tw_reuse finding; else that connection's first frame),
 * `rst` ones at the tw_rst finding of that side dated at the end.
 */
static void end_frames(struct annot *a)
{
    for (size_t i = 0; i < a->nconns; i++) {
        const struct conn *c = &a->conns[i];
        if (!c->prev)
            continue;
        for (size_t j = tw_first(a, c->prev); j < a->ntws && a->tws[j].cid == c->prev; j++) {
            struct tw *t = &a->tws[j];
            if (strcmp(t->reason, "reused") == 0 && !t->end_frame) {
                t->end_frame = c->first_frame;
                t->end_file = c->first_file;
            }
        }
    }
}

/* Comments at the start and, when a packet ended it, the end of each TIME_WAIT period. */
static void build_tws(struct annot *a)
{
    for (size_t i = 0; i < a->ntws; i++) {
        const struct tw *t = &a->tws[i];
        double held = t->end_ts - t->start_ts;
        char text[1024], how[512], fr[300];

        if (t->end_frame) {
            frame_ref(a, fr, sizeof fr, t->end_frame, t->end_file, t->start_file);
            snprintf(how, sizeof how, "it ended after %.3f s: %s at %s", held,
                     strcmp(t->reason, "rst") == 0 ? "killed by the RST" : "reused by the SYN",
                     fr);
        } else if (strcmp(t->reason, "expired") == 0) {
            snprintf(how, sizeof how, "it expired after %.3f s", held);
        } else if (strcmp(t->reason, "capture_end") == 0) {
            snprintf(how, sizeof how, "still in TIME_WAIT when the capture ended, %.3f s later",
                     held);
        } else {
            snprintf(how, sizeof how, "it ended (%s) after %.3f s", t->reason, held);
        }
        snprintf(text, sizeof text,
                 "twscope: TIME_WAIT starts for the %s %s (%s profile, %g s%s); %s; connection %lld",
                 t->side, t->ep, t->profile, t->dur,
                 t->inferred ? "; start inferred from the peer's FIN, the final ACK was not seen"
                             : "",
                 how, (long long)t->cid);
        add_ann(a, t->start_file, t->start_frame, 2, text);
        if (!t->end_frame)
            continue;
        frame_ref(a, fr, sizeof fr, t->start_frame, t->start_file, t->end_file);
        snprintf(text, sizeof text,
                 "twscope: TIME_WAIT of the %s %s (since %s) ends here: %s after %.3f s, "
                 "%.3f s before its %g s were up; connection %lld",
                 t->side, t->ep, fr,
                 strcmp(t->reason, "rst") == 0 ? "killed by this RST" : "reused by this SYN", held,
                 t->dur - held, t->dur, (long long)t->cid);
        add_ann(a, t->end_file, t->end_frame, 1, text);
    }
}

/* The first frame of every connection that is a new incarnation of its 4-tuple. */
static void build_incarnations(struct annot *a)
{
    for (size_t i = 0; i < a->nconns; i++) {
        const struct conn *c = &a->conns[i], *p;
        char text[1024], prev[512], fr[300];
        if (!c->prev && c->inc <= 1)
            continue;
        p = c->prev ? conn_find(a, c->prev) : NULL;
        if (p) {
            frame_ref(a, fr, sizeof fr, p->last_frame, p->last_file, c->first_file);
            snprintf(prev, sizeof prev, "%.3f s after the previous one (connection %lld) was last"
                     " seen at %s", c->first_ts - p->last_ts, (long long)p->id, fr);
        } else {
            snprintf(prev, sizeof prev, "the previous one is not in this capture");
        }
        snprintf(text, sizeof text,
                 "twscope: incarnation %u of %s -> %s starts with this %s, %s; connection %lld",
                 c->inc, c->client, c->server,
                 c->syn_seen ? "SYN" : "packet (its SYN was not captured)", prev,
                 (long long)c->id);
        add_ann(a, c->first_file, c->first_frame, 3, text);
    }
}

/* ---- sources and outputs ------------------------------------------------------ */

static int check_sources(struct annot *a)
{
    for (size_t i = 0; i < a->nfiles; i++) {
        struct infile *f = &a->files[i];
        struct fileid id;
        char err[1200];
        if (!f->known || strcmp(f->path, "-") == 0)
            return say(a, TW_ERR_IO, "file %u of capture %lld was read from '%s' (standard "
                       "input or a pipe): there is no file to annotate",
                       f->index, (long long)a->capture_id, f->path);
        if (fileid_of(f->path, &id, err, sizeof err)) {
            /* a relative path is the analysis' working directory's: try beside the database */
            const char *slash = strrchr(a->o->db_path, '/');
            char alt[PATH_MAX];
            struct fileid id2;
            char err2[16];
            if (f->path[0] == '/' || !slash ||
                snprintf(alt, sizeof alt, "%.*s/%s", (int)(slash - a->o->db_path),
                         a->o->db_path, f->path) >= (int)sizeof alt ||
                fileid_of(alt, &id2, err2, sizeof err2))
                return say(a, TW_ERR_IO, "%s (file %u of capture %lld): source file not found "
                           "as recorded", err, f->index, (long long)a->capture_id);
            free(f->path);
            f->path = xstrdup(alt);
            id = id2;
        }
        if (!id.known)
            return say(a, TW_ERR_IO, "%s: not a regular file any more", f->path);
        if (id.size != f->size)
            return say(a, TW_ERR_FORMAT, "%s: changed since it was analyzed (%llu bytes then, "
                       "%llu now): its frames may not be the database's",
                       f->path, (unsigned long long)f->size, (unsigned long long)id.size);
        if (strcmp(id.fingerprint, f->fingerprint) != 0)
            return say(a, TW_ERR_FORMAT, "%s: changed since it was analyzed (fingerprint %s "
                       "then, %s now): its frames may not be the database's",
                       f->path, f->fingerprint, id.fingerprint);
    }
    return 0;
}

/* NAME without ".gz" and a capture extension. */
static void stem_of(const char *name, char *buf, size_t n)
{
    static const char *const exts[] = {".gz", ".pcapng", ".pcap", ".cap", ".dmp", ".ntar"};
    size_t len;
    snprintf(buf, n, "%s", name);
    len = strlen(buf);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t e = strlen(exts[i]);
        if (len > e && strcmp(buf + len - e, exts[i]) == 0) {
            len -= e;
            buf[len] = 0;
            if (i == 0)
                continue;      /* x.pcap.gz: the capture extension too */
            break;
        }
    }
}

/* Expand pattern p (%f stem, %i file index, %% a percent sign) for file f. */
static int expand(struct annot *a, const char *p, const struct infile *f, char *buf, size_t n)
{
    char stem[PATH_MAX];
    size_t used = 0;
    stem_of(f->name, stem, sizeof stem);
    for (; *p; p++) {
        int k;
        if (*p != '%') {
            k = snprintf(buf + used, n - used, "%c", *p);
        } else if (p[1] == 'f') {
            k = snprintf(buf + used, n - used, "%s", stem);
            p++;
        } else if (p[1] == 'i') {
            k = snprintf(buf + used, n - used, "%u", f->index);
            p++;
        } else if (p[1] == '%') {
            k = snprintf(buf + used, n - used, "%%");
            p++;
        } else {
            return say(a, TW_ERR_USAGE, "-o %s: unknown '%%%c' (patterns know %%f, the input's "
                       "name without extension, %%i, its file number, and %%%%)",
                       a->o->out, p[1] ? p[1] : ' ');
        }
        if (k < 0 || (size_t)k >= n - used)
            return say(a, TW_ERR_USAGE, "-o %s: path too long", a->o->out);
        used += (size_t)k;
    }
    return 0;
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Decide every output path (per-file mode). */
static int plan_outputs(struct annot *a)
{
    const char *o = a->o->out;
    size_t ol = strlen(o);
    int pattern = strchr(o, '%') != NULL;
    int dir = !pattern && (is_dir(o) || (ol && o[ol - 1] == '/'));
    char buf[PATH_MAX];
    int rc;

    if (dir && !is_dir(o))
        return say(a, TW_ERR_USAGE, "-o %s: no such directory", o);
    if (!pattern && !dir && a->nfiles > 1)
        return say(a, TW_ERR_USAGE, "-o %s: capture %lld has %zu files: give a directory, a "
                   "pattern with %%f or %%i, or --merge for one output", o,
                   (long long)a->capture_id, a->nfiles);
    for (size_t i = 0; i < a->nfiles; i++) {
        struct infile *f = &a->files[i];
        if (pattern) {
            if ((rc = expand(a, o, f, buf, sizeof buf)))
                return rc;
        } else if (dir) {
            char stem[PATH_MAX];
            stem_of(f->name, stem, sizeof stem);
            if (snprintf(buf, sizeof buf, "%s%s%s.pcapng", o, o[ol - 1] == '/' ? "" : "/",
                         stem) >= (int)sizeof buf)
                return say(a, TW_ERR_USAGE, "-o %s: path too long", o);
        } else {
            snprintf(buf, sizeof buf, "%s", o);
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(a->files[j].out, buf) == 0)
                return say(a, TW_ERR_USAGE, "-o %s: files %u and %u would both be written to %s "
                           "(use a pattern with %%i)", o, a->files[j].index, f->index, buf);
        f->out = xstrdup(buf);
    }
    return 0;
}

/* Refuse an output that is one of the sources, or any file twscope did not write (outfile.h). */
static int not_a_source(struct annot *a, const char *out)
{
    struct stat so, si;
    char why[300];
    if (stat(out, &so) != 0)
        return 0;
    if (S_ISDIR(so.st_mode))
        return say(a, TW_ERR_USAGE, "-o: %s is a directory", out);
    for (size_t i = 0; i < a->nfiles; i++)
        if (stat(a->files[i].path, &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
            return say(a, TW_ERR_USAGE, "-o: %s is the source file %u itself", out,
                       a->files[i].index);
    if (outfile_check(out, pcapng_head_is_ours, "a pcapng file twscope wrote", why, sizeof why))
        return say(a, TW_ERR_IO, "-o %s: %s; left as it is, use another -o", out, why);
    return 0;
}

/* Create a temporary file next to out; *tmp gets its name. */
static int open_tmp(struct annot *a, const char *out, char **tmp, struct pcapng_writer **w)
{
    char err[1300];
    size_t n = strlen(out) + 32;
    char *t = malloc(n);
    mode_t um;
    int fd;
    if (!t)
        abort();
    snprintf(t, n, "%s.twscope-tmp-XXXXXX", out);
    fd = mkstemp(t);
    if (fd < 0) {
        int e = errno;
        free(t);
        return say(a, TW_ERR_IO, "-o %s: cannot create it: %s", out, strerror(e));
    }
    um = umask(0);
    umask(um);
    if (fchmod(fd, 0666 & ~um) != 0) { /* mkstemp makes it 0600 */
        /* not fatal: the file is ours */
    }
    close(fd);
    if (pcapng_writer_open(t, w, err, sizeof err)) {
        unlink(t);
        free(t);
        return say(a, TW_ERR_IO, "%s", err);
    }
    *tmp = t;
    return 0;
}

/* ---- the copy ----------------------------------------------------------------- */

struct src {
    gzFile gz;
    const struct infile *f;
    uint64_t off;                      /* uncompressed bytes consumed */
};

/* Read exactly n bytes: 1, 0 at a clean end (nothing read), -1 short or error. */
static int src_read(struct src *s, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        int r = gzread(s->gz, (uint8_t *)buf + got, (unsigned)(n - got > (1u << 30) ? 1u << 30
                                                                                  : n - got));
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    s->off += got;
    if (got == n)
        return 1;
    return got == 0 ? 0 : -1;
}

static int grow(struct annot *a, size_t n)
{
    uint8_t *b;
    if (n <= a->blkcap)
        return 0;
    b = realloc(a->blk, n);
    if (!b)
        return TW_ERR_NOMEM;
    a->blk = b;
    a->blkcap = n;
    return 0;
}

static uint32_t rd32s(const uint8_t *p, int swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

static uint16_t rd16s(const uint8_t *p, int swap)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return swap ? (uint16_t)((v >> 8) | (v << 8)) : v;
}

static void wr32s(uint8_t *p, uint32_t v, int swap)
{
    if (swap)
        v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
}

static void wr16s(uint8_t *p, uint16_t v, int swap)
{
    if (swap)
        v = (uint16_t)((v >> 8) | (v << 8));
    memcpy(p, &v, 2);
}

/* Gather the comments for (file, frame) from the cursor; returns how many. */
static unsigned take(struct annot *a, size_t *cur, uint32_t file, uint64_t frame,
                     const char **out, struct infile *f)
{
    unsigned n = 0;
    while (*cur < a->nanns && a->anns[*cur].file == file && a->anns[*cur].frame == frame) {
        if (n < ANNOTATE_MAX_COMMENTS)
            out[n++] = a->anns[*cur].text;
        else
            f->dropped++;
        (*cur)++;
    }
    return n;
}

/*
 * Make sure the output has a section to add the blocks of an input section
 * to: without --merge every input section starts its own (from its SHB shb,
 * or ours for a pcap: shb NULL); with --merge the inputs share one section
 * of ours, in host byte order. A pcapng section of the other byte order
 * cannot join it (its blocks would have to be re-encoded, option by option),
 * nor be a section of its own (libpcap cannot read a file whose sections
 * differ in byte order): with --merge it is an error. Returns 0 or an error.
 */
static int section_for(struct annot *a, struct pcapng_writer *w, int swapped, uint8_t *shb,
                       size_t shb_len, const struct infile *f)
{
    int rc;
    if (a->o->merge && swapped)
        return say(a, TW_ERR_USAGE, "--merge: %s has a pcapng section in the other byte order "
                   "(%s-endian), which cannot join the merged output: annotate it without "
                   "--merge", f->path, __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? "big"
                                                                              : "little");
    if (a->o->merge && a->section)
        return 0;                      /* keep adding to the merged section */
    if (shb && !a->o->merge) {
        memset(shb + 16, 0xff, 8);     /* section length: not given any more */
        rc = pcapng_write_shb_marked(w, shb, shb_len); /* + a comment: a file of ours */
    } else {
        rc = pcapng_write_shb(w, a->o->merge ? "merged by twscope annotate" : NULL);
        swapped = 0;
    }
    if (rc)
        return say(a, TW_ERR_IO, "%s", pcapng_writer_error(w));
    a->section = 1 + swapped;
    return 0;
}

/* Classic pcap: one section, one interface, one EPB per record. */
static int copy_pcap(struct annot *a, struct src *s, const uint8_t *hdr24, int swap, int nsec,
                     int kuznetzov, struct pcapng_writer *w, size_t *cur, struct infile *f)
{
    const char *cm[ANNOTATE_MAX_COMMENTS];
    struct pcapng_if itf = {.linktype = (int)(rd32s(hdr24 + 20, swap) & 0xffff),
                            .snaplen = rd32s(hdr24 + 16, swap),
                            .tsresol = nsec ? PCAPNG_TSRESOL_NSEC : PCAPNG_TSRESOL_USEC};
    uint8_t rh[24];
    size_t rhl = kuznetzov ? 24 : 16;
    uint64_t frame = 0;
    int r;

    uint32_t ifid;

    if ((r = section_for(a, w, 0, NULL, 0, f)))
        return r;
    if (pcapng_write_interface(w, &itf, &ifid))
        return say(a, TW_ERR_IO, "%s", pcapng_writer_error(w));
    for (;;) {
        struct pcapng_epb e = {0};
        uint64_t at = s->off;
        uint32_t caplen;
        r = src_read(s, rh, rhl);
        if (r == 0)
            break;
        if (r < 0) {
            say(a, 0, "warning: %s: truncated record header at offset %llu, after frame %llu: "
                "copied what came before", f->path, (unsigned long long)at,
                (unsigned long long)frame);
            break;
        }
        caplen = rd32s(rh + 8, swap);
        if (caplen > ANNOTATE_MAX_BLOCK) {
            say(a, 0, "warning: %s: record of %u bytes at offset %llu, after frame %llu: "
                "copied what came before", f->path, caplen, (unsigned long long)at,
                (unsigned long long)frame);
            break;
        }
        if (grow(a, caplen))
            return say(a, TW_ERR_NOMEM, "out of memory");
        if (caplen && src_read(s, a->blk, caplen) != 1) {
            say(a, 0, "warning: %s: truncated record at offset %llu, after frame %llu: "
                "copied what came before", f->path, (unsigned long long)at,
                (unsigned long long)frame);
            break;
        }
        frame++;
        e.ifid = ifid;
        e.ts = (uint64_t)rd32s(rh, swap) * (nsec ? 1000000000ULL : 1000000ULL) +
               rd32s(rh + 4, swap);
        e.caplen = caplen;
        e.origlen = rd32s(rh + 12, swap);
        e.data = a->blk;
        e.comments = cm;
        e.ncomments = take(a, cur, f->index, frame, cm, f);
        if (pcapng_write_epb(w, &e))
            return say(a, TW_ERR_IO, "%s", pcapng_writer_error(w));
        f->packets++;
        if (e.ncomments) {
            f->commented++;
            f->comments += e.ncomments;
        }
    }
    return 0;
}

/* Length of an option list without its opt_endofopt (and what follows it). */
static size_t opts_len(const uint8_t *p, size_t n, int swap)
{
    size_t at = 0;
    while (at + 4 <= n) {
        uint16_t code = rd16s(p + at, swap), len = rd16s(p + at + 2, swap);
        size_t step = 4 + (size_t)len + ((4 - (len & 3)) & 3);
        if (code == PCAPNG_OPT_ENDOFOPT || at + step > n)
            break;
        at += step;
    }
    return at;
}

/*
 * Rebuild packet block b (EPB, SPB or PB, len bytes, section order) as an
 * EPB with its options and the comments cm.
 */
static int rebuild(struct annot *a, struct pcapng_writer *w, const uint8_t *b, size_t len,
                   uint32_t type, int swap, uint32_t base, uint32_t snap0, const char **cm,
                   unsigned ncm, const struct infile *f, uint64_t at)
{
    struct pcapng_epb e = {.comments = cm, .ncomments = ncm};
    uint8_t extra[12];                 /* PB drops_count as epb_dropcount */
    size_t body = len - 12, dlen;
    if (type == PCAPNG_BT_EPB || type == PCAPNG_BT_PB) {
        if (body < 20)
            goto bad;
        if (type == PCAPNG_BT_EPB)
            e.ifid = rd32s(b + 8, swap);
        else
            e.ifid = rd16s(b + 8, swap);
        e.ts = (uint64_t)rd32s(b + 12, swap) << 32 | rd32s(b + 16, swap);
        e.caplen = rd32s(b + 20, swap);
        e.origlen = rd32s(b + 24, swap);
        dlen = (size_t)e.caplen + ((4 - (e.caplen & 3)) & 3);
        if (e.caplen > body - 20 || dlen > body - 20)
            goto bad;
        e.data = b + 28;
        e.opts = b + 28 + dlen;
        e.opts_len = opts_len(e.opts, body - 20 - dlen, swap);
        if (type == PCAPNG_BT_PB && rd16s(b + 10, swap) != 0xffff && e.opts_len == 0) {
            uint16_t code = 4, olen = 8;
            uint64_t drops = rd16s(b + 10, swap);
            if (swap) {
                code = (uint16_t)(code << 8);
                olen = (uint16_t)(olen << 8);
                drops = __builtin_bswap64(drops);
            }
            memcpy(extra, &code, 2);
            memcpy(extra + 2, &olen, 2);
            memcpy(extra + 4, &drops, 8);
            e.opts = extra;
            e.opts_len = 12;
        }
    } else {                           /* SPB: interface 0, no timestamp (libpcap gives 0) */
        if (body < 4)
            goto bad;
        e.origlen = rd32s(b + 8, swap);
        e.caplen = e.origlen;
        if (snap0 && e.caplen > snap0)
            e.caplen = snap0;
        if (e.caplen > body - 4)
            e.caplen = (uint32_t)(body - 4);
        e.data = b + 12;
    }
    e.ifid += base;
    if (pcapng_write_epb(w, &e))
        return say(a, TW_ERR_IO, "%s", pcapng_writer_error(w));
    return 0;
bad:
    return say(a, TW_ERR_FORMAT, "%s: malformed packet block at offset %llu", f->path,
               (unsigned long long)at);
}

/* pcapng: every block verbatim, commented packet blocks rebuilt as EPBs. */
static int copy_pcapng(struct annot *a, struct src *s, const uint8_t *first4,
                       struct pcapng_writer *w, size_t *cur, struct infile *f)
{
    const char *cm[ANNOTATE_MAX_COMMENTS];
    uint8_t hd[12];
    uint64_t frame = 0;
    uint32_t snap0 = 0;                /* snaplen of the section's interface 0 (SPB) */
    uint32_t base = 0;                 /* output id of the section's interface 0 */
    uint32_t nif = 0;                  /* interfaces of the input's section */
    int swap = 0, have_first = 1, r;

    for (;;) {
        uint64_t at = s->off - (have_first ? 4 : 0);
        uint32_t type, len;
        if (have_first) {
            memcpy(hd, first4, 4);
            r = src_read(s, hd + 4, 4);
            have_first = 0;
            if (r == 0)
                r = -1;
        } else {
            r = src_read(s, hd, 8);
        }
        if (r == 0)
            break;
        if (r < 0)
            goto trunc;
        memcpy(&type, hd, 4);
        if (type == PCAPNG_BT_SHB) {
            uint32_t bom;
            if (src_read(s, hd + 8, 4) != 1)
                goto trunc;
            memcpy(&bom, hd + 8, 4);
            if (bom == PCAPNG_BYTE_ORDER_MAGIC)
                swap = 0;
            else if (bom == __builtin_bswap32(PCAPNG_BYTE_ORDER_MAGIC))
                swap = 1;
            else
                return say(a, TW_ERR_FORMAT, "%s: section header at offset %llu has a bad "
                           "byte-order magic", f->path, (unsigned long long)at);
        }
        type = rd32s(hd, swap);
        len = rd32s(hd + 4, swap);
        if (len < 12 || (len & 3) || len > ANNOTATE_MAX_BLOCK ||
            (type == PCAPNG_BT_SHB && len < 28)) {
            say(a, 0, "warning: %s: block of length %u at offset %llu, after frame %llu: copied "
                "what came before", f->path, len, (unsigned long long)at,
                (unsigned long long)frame);
            break;
        }
        if (grow(a, len))
            return say(a, TW_ERR_NOMEM, "out of memory");
        memcpy(a->blk, hd, type == PCAPNG_BT_SHB ? 12 : 8);
        {
            size_t have = type == PCAPNG_BT_SHB ? 12 : 8;
            if (src_read(s, a->blk + have, len - have) != 1)
                goto trunc;
        }
        if (rd32s(a->blk + len - 4, swap) != len)
            return say(a, TW_ERR_FORMAT, "%s: block at offset %llu: trailing length %u is not "
                       "its length %u", f->path, (unsigned long long)at,
                       rd32s(a->blk + len - 4, swap), len);
        switch (type) {
        case PCAPNG_BT_SHB:
            if ((r = section_for(a, w, swap, a->blk, len, f)))
                return r;
            base = pcapng_writer_interfaces(w);
            snap0 = nif = 0;
            continue;
        case PCAPNG_BT_IDB:
            if (nif++ == 0 && len >= 20)
                snap0 = rd32s(a->blk + 12, swap);
            break;
        case PCAPNG_BT_EPB:
        case PCAPNG_BT_SPB:
        case PCAPNG_BT_PB: {
            unsigned n;
            frame++;
            f->packets++;
            n = take(a, cur, f->index, frame, cm, f);
            if (n || (type == PCAPNG_BT_SPB && base)) { /* an SPB means interface 0 */
                f->commented += n != 0;
                f->comments += n;
                if ((r = rebuild(a, w, a->blk, len, type, swap, base, snap0, cm, n, f, at)))
                    return r;
                continue;
            }
            if (base && type == PCAPNG_BT_EPB && len >= 12)
                wr32s(a->blk + 8, rd32s(a->blk + 8, swap) + base, swap);
            if (base && type == PCAPNG_BT_PB && len >= 12)
                wr16s(a->blk + 8, (uint16_t)(rd16s(a->blk + 8, swap) + base), swap);
            break;
        }
        case PCAPNG_BT_ISB:            /* statistics of an interface */
            if (base && len >= 16)
                wr32s(a->blk + 8, rd32s(a->blk + 8, swap) + base, swap);
            break;
        default:
            break;
        }
        if (pcapng_write_block(w, a->blk, len))
            return say(a, TW_ERR_IO, "%s", pcapng_writer_error(w));
    }
    return 0;
trunc:
    say(a, 0, "warning: %s: truncated block at offset %llu, after frame %llu: copied what came "
        "before", f->path, (unsigned long long)s->off, (unsigned long long)frame);
    return 0;
}

/* Copy file f into w, with its comments (cursor *cur at its first one). */
static int copy_file(struct annot *a, struct infile *f, struct pcapng_writer *w, size_t *cur)
{
    struct src s = {.f = f};
    uint8_t hdr[24];
    uint32_t m;
    int rc = 0;

    s.gz = gzopen(f->path, "rb");      /* transparent for a file that is not gzip */
    if (!s.gz)
        return say(a, TW_ERR_IO, "%s: %s", f->path, strerror(errno ? errno : ENOMEM));
    gzbuffer(s.gz, 128 * 1024);
    if (src_read(&s, hdr, 4) != 1) {
        rc = say(a, TW_ERR_FORMAT, "%s: not a pcap or pcapng file (too short)", f->path);
        goto out;
    }
    memcpy(&m, hdr, 4);
    m = __builtin_bswap32(m);          /* the first 4 bytes, big-endian */
    if (m == PCAPNG_BT_SHB) {
        rc = copy_pcapng(a, &s, hdr, w, cur, f);
    } else {
        int swap, nsec, kuz;
        switch (m) {
        case 0xd4c3b2a1: swap = 0; nsec = 0; kuz = 0; break; /* little-endian file */
        case 0xa1b2c3d4: swap = 1; nsec = 0; kuz = 0; break;
        case 0x4d3cb2a1: swap = 0; nsec = 1; kuz = 0; break;
        case 0xa1b23c4d: swap = 1; nsec = 1; kuz = 0; break;
        case 0x34cdb2a1: swap = 0; nsec = 0; kuz = 1; break;
        case 0xa1b2cd34: swap = 1; nsec = 0; kuz = 1; break;
        default:
            rc = say(a, TW_ERR_FORMAT, "%s: not a pcap or pcapng file (magic 0x%08x)", f->path,
                     m);
            goto out;
        }
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        swap = !swap;
#endif
        if (src_read(&s, hdr + 4, 20) != 1) {
            rc = say(a, TW_ERR_FORMAT, "%s: truncated pcap file header", f->path);
            goto out;
        }
        rc = copy_pcap(a, &s, hdr, swap, nsec, kuz, w, cur, f);
    }
    if (rc == 0 && *cur < a->nanns && a->anns[*cur].file == f->index)
        rc = say(a, TW_ERR_FORMAT, "%s: has %llu frames, but the database comments on frame %llu",
                 f->path, (unsigned long long)f->packets,
                 (unsigned long long)a->anns[*cur].frame);
out:
    gzclose(s.gz);
    return rc;
}

static int finish_writer(struct annot *a, struct pcapng_writer *w)
{
    char err[1300];
    if (pcapng_writer_close(w, err, sizeof err))
        return say(a, TW_ERR_IO, "%s", err);
    return 0;
}

static int write_outputs(struct annot *a)
{
    struct pcapng_writer *w = NULL;
    char *merged_tmp = NULL;
    size_t cur = 0;
    int rc = 0;

    if (a->o->merge) {
        if ((rc = not_a_source(a, a->o->out)) || (rc = open_tmp(a, a->o->out, &merged_tmp, &w)))
            return rc;
    } else {
        for (size_t i = 0; i < a->nfiles; i++)
            if ((rc = not_a_source(a, a->files[i].out)))
                return rc;
    }
    for (size_t i = 0; i < a->nfiles && rc == 0; i++) {
        struct infile *f = &a->files[i];
        while (cur < a->nanns && a->anns[cur].file < f->index)
            cur++;                     /* comments on files not selected (--file) */
        if (!a->o->merge && (rc = open_tmp(a, f->out, &f->tmp, &w)))
            break;
        rc = copy_file(a, f, w, &cur);
        if (!a->o->merge) {
            int rc2 = finish_writer(a, w);
            w = NULL;
            if (!rc)
                rc = rc2;
        }
    }
    if (a->o->merge) {
        int rc2 = finish_writer(a, w);
        if (!rc)
            rc = rc2;
    }
    /* all or nothing */
    if (rc == 0) {
        if (a->o->merge) {
            if (rename(merged_tmp, a->o->out) != 0)
                rc = say(a, TW_ERR_IO, "%s: %s", a->o->out, strerror(errno));
        } else {
            for (size_t i = 0; i < a->nfiles && rc == 0; i++) {
                if (rename(a->files[i].tmp, a->files[i].out) != 0) {
                    rc = say(a, TW_ERR_IO, "%s: %s", a->files[i].out, strerror(errno));
                    break;
                }
                free(a->files[i].tmp);
                a->files[i].tmp = NULL;
            }
        }
    }
    if (merged_tmp) {
        if (rc)
            unlink(merged_tmp);
        free(merged_tmp);
    }
    for (size_t i = 0; i < a->nfiles; i++)
        if (a->files[i].tmp) {
            unlink(a->files[i].tmp);
            free(a->files[i].tmp);
            a->files[i].tmp = NULL;
        }
    return rc;
}

static void summary(struct annot *a)
{
    uint64_t p = 0, c = 0, n = 0, d = 0;
    for (size_t i = 0; i < a->nfiles; i++) {
        struct infile *f = &a->files[i];
        p += f->packets;
        c += f->commented;
        n += f->comments;
        d += f->dropped;
        if (!a->o->merge && !a->o->quiet)
            fprintf(a->msg, "twscope: annotate: %s -> %s: %llu packets, %llu with comments "
                    "(%llu comments)\n", f->path, f->out, (unsigned long long)f->packets,
                    (unsigned long long)f->commented, (unsigned long long)f->comments);
    }
    if (a->o->merge && !a->o->quiet)
        fprintf(a->msg, "twscope: annotate: %zu files -> %s: %llu packets, %llu with comments "
                "(%llu comments)\n", a->nfiles, a->o->out, (unsigned long long)p,
                (unsigned long long)c, (unsigned long long)n);
    if (d)
        fprintf(a->msg, "twscope: annotate: warning: %llu comments left out (more than %d on "
                "one packet)\n", (unsigned long long)d, ANNOTATE_MAX_COMMENTS);
}

int annotate_run(const struct annotate_opts *o, FILE *msg)
{
    struct annot a = {.o = o, .msg = msg};
    char err[1200];
    int rc;

    if (store_open_readonly(o->db_path, &a.db, err, sizeof err)) {
        fprintf(msg, "twscope: annotate: %s\n", err);
        return TW_ERR_IO;
    }
    if ((rc = pick_capture(&a)) || (rc = load_files(&a)) || (rc = load_conns(&a)) ||
        (rc = load_tws(&a)) || (rc = build_findings(&a)))
        goto out;
    end_frames(&a);
    build_tws(&a);
    build_incarnations(&a);
    if (a.nanns)
        qsort(a.anns, a.nanns, sizeof *a.anns, ann_cmp);
    if ((rc = check_sources(&a)) || (!o->merge && (rc = plan_outputs(&a))))
        goto out;
    if ((rc = write_outputs(&a)) == 0)
        summary(&a);
out:
    sqlite3_close(a.db);
    for (size_t i = 0; i < a.nanns; i++)
        free(a.anns[i].text);
    for (size_t i = 0; i < a.nfiles; i++) {
        free(a.files[i].path);
        free(a.files[i].name);
        free(a.files[i].out);
    }
    free(a.anns);
    free(a.files);
    free(a.conns);
    free(a.tws);
    free(a.blk);
    return rc;
}
