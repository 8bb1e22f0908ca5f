/*
 * annotate.c -- `twscope annotate` (see annotate.h): what to say about which
 * frame (from the database), then one pass over each source file copying its
 * packets to pcapng with the comments attached (annotate_copy.c).
 *
 * The comments are built before any file is read: one sorted array of
 * (file, frame, order, text), walked with a cursor while the files are
 * copied, so the copy itself allocates nothing (one block buffer, grown only
 * for a block larger than any before).
 */
#include "twscope/annotate.h"
#include "twscope/words.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "annotate_int.h"
#include "twscope/common.h"
#include "twscope/store.h"

int ann_say(struct annot *a, int rc, const char *fmt, ...)
{
    va_list ap;
    fputs("twscope: annotate: ", a->msg);
    va_start(ap, fmt);
    vfprintf(a->msg, fmt, ap);
    va_end(ap);
    fputc('\n', a->msg);
    return rc;
}

char *ann_strdup(const char *s)
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
    a->anns[a->nanns] = (struct ann){file, frame, order, (uint32_t)a->nanns, ann_strdup(text)};
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
        return ann_say(a, TW_ERR_DB, "%s: %s", a->o->db_path, sqlite3_errmsg(a->db));
    sqlite3_bind_int64(*st, 1, a->capture_id);
    return 0;
}

static int step_done(struct annot *a, sqlite3_stmt *st, int rc)
{
    int ret = rc == SQLITE_DONE ? 0 : ann_say(a, TW_ERR_DB, "%s: %s", a->o->db_path,
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
        return ann_say(a, TW_ERR_DB, "%s: %s", a->o->db_path, sqlite3_errmsg(a->db));
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
        return ann_say(a, TW_ERR_USAGE, "%s: the database holds no capture", a->o->db_path);
    if (a->o->capture_id) {
        if (!found)
            return ann_say(a, TW_ERR_USAGE, "--capture %lld: no such capture in %s (captures: %s)",
                       (long long)a->o->capture_id, a->o->db_path, ids);
        a->capture_id = a->o->capture_id;
    } else if (n > 1) {
        return ann_say(a, TW_ERR_USAGE, "%s holds %lld captures (%s): choose one with --capture ID",
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
        f->path = ann_strdup(col_text(st, 1));
        slash = strrchr(f->path, '/');
        f->name = ann_strdup(slash ? slash + 1 : f->path);
        f->known = sqlite3_column_type(st, 2) != SQLITE_NULL;
        f->size = (uint64_t)sqlite3_column_int64(st, 2);
        snprintf(f->fingerprint, sizeof f->fingerprint, "%s", col_text(st, 3));
    }
    if ((rc = step_done(a, st, rc)) != 0)
        return rc;
    if (a->nfiles == 0) {
        if (a->o->file >= 0)
            return ann_say(a, TW_ERR_USAGE, "--file %lld: capture %lld has no such file (files are "
                       "numbered from 0, as in the file column of the database)",
                       (long long)a->o->file, (long long)a->capture_id);
        return ann_say(a, TW_ERR_USAGE, "capture %lld of %s records no source file",
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
    if ((rc = ann_check_sources(&a)) || (!o->merge && (rc = ann_plan_outputs(&a))))
        goto out;
    if ((rc = ann_write_outputs(&a)) == 0)
        ann_summary(&a);
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
