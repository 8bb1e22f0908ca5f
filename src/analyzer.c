/*
 * analyzer.c -- the analysis loop (see analyzer.h).
 */
#include "twscope/analyzer.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "twscope/classify.h"
#include "twscope/decode.h"
#include "twscope/fileid.h"
#include "twscope/store.h"
#include "twscope/tcpstate.h"
#include "twscope/writer.h"

struct run {
    const struct analyze_opts *o;
    struct store *st;
    struct writer *w;          /* owns st between begin and finish of the capture */
    struct classifier *cl;
    struct tcp_engine *eng;
    struct tcp_keyer *keyer;   /* how the engine keys flows, for the reader thread */
    struct capture *cap;
    struct rec_capture rec;
    int db_failed;             /* a store call failed: stop */
    char db_err[512];
    tw_time first_ts, last_ts;
    int live;
    uint64_t n_conns, n_tw, n_findings;   /* rows handed to the writer */
    /* files cut short in a multi-file run: the others go on (tshark does too) */
    char **file_err;           /* per input, what cut it short, or NULL */
    uint32_t nfile_err;
    char summary_err[256];     /* the last line about them, when there were several files */
};

static volatile sig_atomic_t g_stop;
static struct capture *volatile g_cap;

static void on_signal(int sig)
{
    if (g_stop) {
        /* second signal: leave now; SQLite's journal keeps the database consistent */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop = 1;
    if (g_cap)
        capture_break(g_cap);
}

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

_Static_assert(DECODE_RESULT_COUNT <= STORE_MAX_REASONS, "store counts every decode result");

static const char *reason_name(int i) { return decode_result_name((enum decode_result)i); }

static void db_fail(struct run *r, int rc)
{
    if (rc && !r->db_failed) {
        r->db_failed = 1;
        snprintf(r->db_err, sizeof(r->db_err), "%s: %s", r->o->db_path,
                 r->w ? writer_error(r->w) : store_errmsg(r->st));
    }
}

/* ---- sinks ------------------------------------------------------------------ */

/*
 * The connections row of c (strings point into rc and proto). nDPI's verdict
 * is taken now (given up if undecided).
 */
static void conn_record(struct run *r, struct conn *c, struct rec_connection *out, char *proto,
                        size_t plen)
{
    struct rec_connection rc;
    int ce = c->client_ep, se = !c->client_ep;

    if (r->cl)
        classify_finish(r->cl, c);

    memset(&rc, 0, sizeof(rc));
    rc.id = c->id;
    rc.capture_id = r->rec.id;
    rc.incarnation = c->incarnation;
    rc.ip_version = c->key.ip_version;
    rc.client_port = c->key.port[ce];
    rc.server_port = c->key.port[se];
    rc.vlan_outer = c->key.vlan[0];
    rc.vlan_inner = c->key.vlan[1];
    rc.syn_seen = c->syn_seen;
    rc.has_client_isn = c->tcp.d[0].syn;
    rc.client_isn = c->tcp.d[0].isn;
    rc.has_server_isn = c->tcp.d[1].syn;
    rc.server_isn = c->tcp.d[1].isn;
    rc.first_frame = c->first_frame;
    rc.first_file = c->first_file;
    rc.last_frame = c->last_frame;
    rc.last_file = c->last_file;
    rc.first_ts = tw_time_to_sec(c->first_ts);
    rc.last_ts = tw_time_to_sec(c->last_ts);
    rc.close_kind = close_kind_name(c->tcp.close_kind);
    rc.active_closer = conn_active_closer(c);
    rc.client_pkts = c->tcp.d[0].pkts;
    rc.server_pkts = c->tcp.d[1].pkts;
    rc.client_bytes = c->tcp.d[0].bytes;
    rc.server_bytes = c->tcp.d[1].bytes;
    rc.rtt_ms = c->rtt >= 0 ? (double)c->rtt / 1000.0 : -1.0;
    rc.app_protocol = r->cl ? classify_name(r->cl, c, proto, plen) : NULL;
    rc.app_guessed = c->dpi.guessed;
    rc.client_fin_frame = c->tcp.d[0].fin ? c->tcp.d[0].fin_frame : 0;
    rc.server_fin_frame = c->tcp.d[1].fin ? c->tcp.d[1].fin_frame : 0;
    rc.rst_frame = c->tcp.rst_frame;
    rc.prev_connection_id = conn_prev_id(c);
    rc.after_close = c->after_close;
    rc.capture_dups = c->capture_dups;
    rc.vantage_dups = c->vantage_dups;
    {
        struct tw_evidence ev;
        tw_closer_evidence(&c->tcp, &ev);
        rc.closer_evidence = ev.how;
        rc.closer_rule = ev.rule;
        /* the frames: the FINs seen, and for a FIN unseen (R14, R17) the segment
         * whose numbers showed it, where the TIME_WAIT it implies began */
        for (int s = 0; ev.how && s < 2; s++) {
            const struct tcp_dir *d = &c->tcp.d[s];
            const struct tw_state *w = c->tcp.tw[c->tcp.tw[0]->entered ? 0 : 1];
            rc.closer_frames[s] = d->fin ? d->fin_frame : 0;
            if (d->fin_missed && w->entered)
                rc.closer_frames[s] = w->start_frame;
        }
    }
    rc.renumber = c->renumber;
    *out = rc;
}

/*
 * A connection just closed (RST, or a TIME_WAIT began): its row is written
 * now, while the writer thread has time, instead of when it leaves memory
 * (after its TIME_WAIT and linger, or at the end of the capture, when every
 * row would come at once). nDPI's verdict is taken now: no new payload comes
 * after a close. conn_done() writes the row again only if packets came since.
 */
/* What changes the row after it was written: packets, and the copies of them dropped (R15). */
static uint32_t row_pkts(const struct conn *c)
{
    return c->tcp.d[0].pkts + c->tcp.d[1].pkts + c->capture_dups + c->vantage_dups;
}

static void sink_conn_closed(void *ctx, struct conn *c)
{
    struct run *r = ctx;
    struct rec_connection rc;
    char proto[64];

    conn_record(r, c, &rc, proto, sizeof(proto));
    db_fail(r, writer_add_connection(r->w, &rc, c->key.addr[c->client_ep], c->key.addr[!c->client_ep]));
    c->row_pkts = row_pkts(c);
}

static void sink_conn_done(void *ctx, struct conn *c)
{
    struct run *r = ctx;
    struct rec_connection rc;
    char proto[64];

    conn_record(r, c, &rc, proto, sizeof(proto));
    if (!c->closed_reported || c->row_pkts != row_pkts(c))
        db_fail(r, writer_add_connection(r->w, &rc, c->key.addr[c->client_ep],
                                         c->key.addr[!c->client_ep]));
    r->n_conns++;

    for (int s = 0; s < 2; s++) {
        const struct tw_state *t = c->tcp.tw[s];
        struct rec_timewait tw;
        struct tw_profile_seen why;
        int ep = s == 0 ? c->client_ep : !c->client_ep;
        if (!t->entered)
            continue;
        memset(&tw, 0, sizeof(tw));
        tw.connection_id = c->id;
        tw.side = s ? "server" : "client";
        tw.port = s == 0 ? rc.client_port : rc.server_port;
        tw.start_ts = tw_time_to_sec(t->start_ts);
        tw.start_frame = t->start_frame;
        tw.start_file = t->start_file;
        tw.expected_end_ts = tw_time_to_sec(t->last_answer_ts + t->dur);
        tw.end_ts = tw_time_to_sec(t->end_ts);
        tw.end_reason = tw_end_reason_name((enum tw_end_reason)t->end_reason);
        tw.inferred = t->inferred;
        tw.profile = tw_profile_name((enum tw_profile_id)t->profile);
        tw_profile_seen_of(&r->o->tw, &c->tcp.d[s], &why);
        tw.duration_s = tw_time_to_sec(t->dur);
        tw.answers = t->answers;
        {
            struct tw_evidence side, start, end;
            tw_closer_evidence(&c->tcp, &side);
            tw_period_evidence(&c->tcp, s, &start, &end);
            tw.side_evidence = side.how;
            tw.start_evidence = start.how;
            tw.start_rule = start.rule;
            tw.end_evidence = end.how;
            tw.end_rule = end.rule;
        }
        db_fail(r, writer_add_timewait(r->w, &tw, c->key.addr[ep], c->key.ip_version, &why));
        r->n_tw++;
    }
}

static void sink_finding(void *ctx, const struct finding_ev *f)
{
    struct run *r = ctx;
    struct rec_finding rf;
    memset(&rf, 0, sizeof(rf));
    rf.connection_id = f->conn->id;
    rf.frame = f->at->frame;
    rf.file = f->at->file;
    rf.ts = tw_time_to_sec(f->at->ts);
    rf.direction = f->v->dir ? "server" : "client";
    rf.seq = f->pv->seq;
    rf.ack = f->pv->ack;
    rf.payload_len = f->pv->payload_len;
    rf.flags = f->pv->flags;
    db_fail(r, writer_add_verdict(r->w, &rf, f->v));
    r->n_findings++;
}

/* ---- progress ----------------------------------------------------------------- */

static void show_progress(struct run *r, double t0, int final)
{
    uint64_t done = 0, total = 0;
    double el = now_wall() - t0;
    double pps = el > 0 ? (double)r->rec.packets / el : 0;
    capture_progress(r->cap, &done, &total);
    if (total) {
        double frac = (double)done / (double)total;
        double left = frac > 0 ? el * (1 - frac) / frac : 0;
        fprintf(stderr, "\r%6.1f%%  %llu/%llu MB  %llu packets  %.0f pkt/s  %.0fs left   ",
                100.0 * frac, (unsigned long long)(done >> 20), (unsigned long long)(total >> 20),
                (unsigned long long)r->rec.packets, pps, left);
    } else {
        fprintf(stderr, "\r%llu packets  %.0f pkt/s   ", (unsigned long long)r->rec.packets, pps);
    }
    if (final)
        fputc('\n', stderr);
}

/* ---- the loop ----------------------------------------------------------------- */

/*
 * What depends on the packet alone: its decoding and its tuple key. With the
 * capture's reader thread this is made there (prepare()), ahead of the loop.
 */
struct prepared {
    enum decode_result dr;
    struct pkt_view pv;
    struct tcp_key key;        /* when dr == DECODE_OK */
};

static void prepare(void *ctx, const struct capture_pkt *p, void *out)
{
    const struct tcp_keyer *ky = ctx;
    struct prepared *x = out;
    x->dr = decode_packet(p->linktype, p->data, p->caplen, &x->pv);
    if (x->dr == DECODE_OK) {
        decode_wire_len(&x->pv, p->caplen, p->wirelen);
        tcp_key_of(ky, &x->pv, &x->key);
    }
}

static int run_loop(struct run *r, char *err, size_t errlen)
{
    const struct analyze_opts *o = r->o;
    struct capture_pkt p;
    struct prepared own;
    const struct prepared *prep;
    tw_time next_sweep = 0;
    int swept = 0;
    double t0 = now_wall(), next_ui = t0 + 0.5, next_commit = t0 + 1.0;
    int rc;

    while (!g_stop) {
        rc = capture_next(r->cap, &p, err, errlen);
        if (rc == 0)
            break;
        if (rc == TW_ERR_FORMAT && r->file_err) {
            /* one file of several is cut short: keep what it had, go on with the others */
            int f = capture_error_file(r->cap);
            if (f >= 0 && (uint32_t)f < capture_count(r->cap) && !r->file_err[f]) {
                r->file_err[f] = strdup(err);
                r->nfile_err++;
                if (capture_count(r->cap) > 1)
                    fprintf(stderr, "twscope: %s; going on with the other files\n", err);
                continue;
            }
        }
        if (rc < 0)
            return rc;
        if (rc == 1) {
            enum decode_result dr;
            struct pkt_meta m;
            struct conn *c;
            int dir;

            if (!r->rec.packets++)
                r->first_ts = r->last_ts = p.ts; /* time 0 and negative times are times too */
            if (p.ts > r->last_ts)
                r->last_ts = p.ts;
            if (p.prep) {
                /* decoded and keyed on the reader thread */
                prep = p.prep;
            } else {
                prep = &own;
                own.dr = decode_packet(p.linktype, p.data, p.caplen, &own.pv);
                if (own.dr == DECODE_OK) {
                    decode_wire_len(&own.pv, p.caplen, p.wirelen);
                    tcp_key_of(r->keyer, &own.pv, &own.key);
                }
            }
            dr = prep->dr;
            if (dr != DECODE_OK) {
                r->rec.reasons[dr]++;
                if (dr >= DECODE_UNSUPPORTED_LINK)
                    r->rec.skipped++;
                goto housekeeping;
            }
            r->rec.tcp_packets++;
            m.ts = p.ts;
            m.frame = p.frame;
            m.file = p.file;
            c = tcp_engine_packet_keyed(r->eng, &m, &prep->pv, &prep->key, &dir);
            /* nDPI needs the handshake and the payload, not every bare ACK */
            if (c && r->cl && !c->dpi.done &&
                (prep->pv.payload_len || (prep->pv.flags & (TCPF_SYN | TCPF_FIN | TCPF_RST)) ||
                 c->dpi.pkts < 3))
                classify_packet(r->cl, c, &prep->pv, p.ts);
        housekeeping:
            if (!swept || r->last_ts >= next_sweep) {
                if (swept)
                    tcp_engine_sweep(r->eng, r->last_ts);
                swept = 1;
                next_sweep = r->last_ts + (tw_time)FLOW_SWEEP_INTERVAL_SEC * TW_USEC;
            }
            if (r->db_failed)
                return TW_ERR_DB;
            if (o->count && r->rec.packets >= o->count)
                break;
        }
        if ((r->rec.packets & 1023) == 0 || rc == 2) {
            double now = now_wall();
            if (o->progress && now >= next_ui) {
                show_progress(r, t0, 0);
                next_ui = now + 0.5;
            }
            if (r->live) {
                if (now >= next_commit) {
                    /* live: TIME_WAIT periods end in wall time too, and rows show up within 1 s */
                    struct timespec ts;
                    clock_gettime(CLOCK_REALTIME, &ts);
                    tcp_engine_sweep(r->eng, (tw_time)ts.tv_sec * TW_USEC + ts.tv_nsec / 1000);
                    db_fail(r, writer_commit(r->w));
                    next_commit = now + 1.0;
                }
                if (o->duration_s > 0 && now - t0 >= o->duration_s)
                    break;
            }
        }
    }
    if (o->progress)
        show_progress(r, t0, 1);
    return TW_OK;
}

static char *join_sources(const char *const *files, int n)
{
    size_t len = 1;
    char *s;
    for (int i = 0; i < n; i++)
        len += strlen(files[i]) + 2;
    s = malloc(len);
    if (!s)
        return NULL;
    s[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(s, ", ");
        strcat(s, files[i]);
    }
    return s;
}

/* The input files of a run, as the files table records them (none when live). */
struct run_files {
    const char *const *paths;
    const struct fileid *ids;
    int n;
};

static void file_record(const struct run_files *in, int i, struct rec_file *f)
{
    f->index = (uint32_t)i;
    f->path = in->paths[i];
    f->known = in->ids[i].known;
    f->size = in->ids[i].size;
    f->mtime = in->ids[i].mtime;
    f->fingerprint = in->ids[i].fingerprint;
}

/*
 * Refuse a file this database already holds (the same size and fingerprint),
 * so that counts are not doubled by mistake; --append analyzes it again.
 */
static int refuse_known_files(struct run *r, const struct run_files *in, FILE *errf)
{
    for (int i = 0; i < in->n && !r->o->append; i++) {
        struct rec_file f;
        char earlier[512];
        int64_t cap;
        file_record(in, i, &f);
        cap = store_find_file(r->st, &f, earlier, sizeof(earlier));
        if (cap < 0) {
            fprintf(errf, "twscope: %s: %s\n", r->o->db_path, store_errmsg(r->st));
            return (int)cap;
        }
        if (cap > 0) {
            fprintf(errf,
                    "twscope: %s: already analyzed into %s (capture %lld, as %s); --append "
                    "analyzes it again, --overwrite starts the database afresh\n",
                    f.path, r->o->db_path, (long long)cap, earlier);
            return TW_ERR_SCHEMA;
        }
    }
    return TW_OK;
}

static int run_analysis(const struct analyze_opts *o, struct capture *cap, const char *source,
                        const struct run_files *in, FILE *errf)
{
    int live = in == NULL;
    struct run r;
    struct tcp_engine_opts eo;
    struct tcp_sinks sinks = {0};
    struct sigaction sa, old_int, old_term;
    char err[512] = "";
    double t[6];
    int rc, loop_rc;

    memset(&r, 0, sizeof(r));
    r.o = o;
    r.cap = cap;
    r.live = live;
    rc = store_open(o->db_path, o->overwrite, &r.st, err, sizeof(err));
    if (rc) {
        fprintf(errf, "twscope: %s\n", err);
        capture_close(cap);
        return rc;
    }
    if (o->dpi) {
        r.cl = classify_create();
        if (!r.cl) {
            fprintf(errf, "twscope: nDPI failed to initialize\n");
            store_close(r.st);
            capture_close(cap);
            return TW_ERR_NOMEM;
        }
    }
    r.rec.source = source;
    r.rec.linktype = capture_linktype(cap, 0);
    r.rec.files = capture_count(cap);
    r.rec.tw_profile = o->tw.profile == TWP_CUSTOM ? "custom" : tw_profile_name(o->tw.profile);
    r.rec.dpi = o->dpi;
    r.rec.reason_name = reason_name;
    r.rec.bpf = o->bpf;
    r.rec.ps_recv = r.rec.ps_drop = -1;
    rc = in ? refuse_known_files(&r, in, errf) : TW_OK;
    if (rc) {
        classify_destroy(r.cl);
        store_close(r.st);
        capture_close(cap);
        return rc;
    }
    rc = store_begin_capture(r.st, &r.rec);
    for (int i = 0; in && i < in->n && rc == TW_OK; i++) {
        struct rec_file f;
        file_record(in, i, &f);
        rc = store_add_file(r.st, &f);
    }
    if (rc) {
        fprintf(errf, "twscope: %s: %s\n", o->db_path, store_errmsg(r.st));
        classify_destroy(r.cl);
        store_close(r.st);
        capture_close(cap);
        return rc;
    }
    memset(&eo, 0, sizeof(eo));
    eo.tw = o->tw;
    eo.ignore_vlan = o->ignore_vlan;
    eo.max_flows = o->max_flows;
    eo.idle_timeout = o->idle_timeout_s * TW_USEC;
    eo.first_id = store_next_connection_id(r.st);
    sinks.ctx = &r;
    sinks.conn_done = sink_conn_done;
    sinks.conn_closed = sink_conn_closed;
    sinks.finding = sink_finding;
    if (live)
        eo.closed_linger = 5 * TW_USEC; /* live: memory goes as soon as a period is over */
    r.eng = tcp_engine_create(&eo, &sinks);
    /* files: read, decode and key on a thread of its own; if it cannot start,
     * the direct path reads the same packets and the loop does the rest */
    if (r.eng) {
        /* its own cache line: the reader thread reads it for every packet */
        r.keyer = aligned_alloc(64, 64);
        if (r.keyer)
            tcp_engine_keyer(r.eng, r.keyer);
    }
    if (r.keyer && !live)
        (void)capture_start_reader_prep(cap, prepare, r.keyer, sizeof(struct prepared));
    if (!r.eng || !r.keyer || writer_start(r.st, &r.w)) {
        capture_close(cap); /* first: its reader thread reads the keyer */
        free(r.keyer);
        tcp_engine_destroy(r.eng);
        fprintf(errf, "twscope: out of memory\n");
        classify_destroy(r.cl);
        store_close(r.st);
        return TW_ERR_NOMEM;
    }

    g_stop = 0;
    g_cap = cap;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    if (!live)
        r.file_err = calloc(capture_count(cap), sizeof(*r.file_err)); /* NULL: stop at the first */
    t[0] = now_wall();
    loop_rc = run_loop(&r, err, sizeof(err));
    t[1] = now_wall();
    if (loop_rc == 0 && r.nfile_err) {
        uint32_t first = 0;
        while (!r.file_err[first])
            first++;
        if (r.nfile_err == 1)
            snprintf(err, sizeof(err), "%s", r.file_err[first]);
        else
            snprintf(err, sizeof(err), "%u of %u files cut short; the first: %s", r.nfile_err,
                     capture_count(cap), r.file_err[first]);
        if (capture_count(cap) > 1) /* each was said when it happened */
            snprintf(r.summary_err, sizeof(r.summary_err),
                     "%u of %u files cut short (see files.error); everything else they and "
                     "the other files held is in %s", r.nfile_err, capture_count(cap), o->db_path);
        loop_rc = TW_ERR_FORMAT;
    }

    /* whatever happened, write what was analyzed */
    tcp_engine_finish(r.eng, r.last_ts);
    t[2] = now_wall();
    {
        char werr[256] = "";
        int wrc = writer_stop(r.w, werr, sizeof(werr));
        r.w = NULL;
        if (wrc && !r.db_failed) {
            r.db_failed = 1;
            snprintf(r.db_err, sizeof(r.db_err), "%s: %s", o->db_path, werr);
        }
    }
    {
        struct tcp_engine_stats es;
        tcp_engine_stats(r.eng, &es);
        r.rec.evicted = es.evicted;
        if (es.vantage_far)
            fprintf(errf, "twscope: warning: %llu segments are in two files more than %d ms "
                          "apart: capture points whose clocks differ? Merged, their copies count "
                          "as retransmissions; analyze them with --per-file\n",
                    (unsigned long long)es.vantage_far, TW_VANTAGE_COPY_USEC / 1000);
    }
    t[3] = now_wall();
    for (uint32_t i = 0; r.file_err && i < capture_count(cap) && !r.db_failed; i++)
        if (r.file_err[i] && store_file_error(r.st, i, r.file_err[i]))
            db_fail(&r, TW_ERR_DB);
    if (!r.db_failed && store_number_incarnations(r.st, r.rec.id))
        db_fail(&r, TW_ERR_DB);
    t[4] = now_wall();
    capture_stats(cap, &r.rec.ps_recv, &r.rec.ps_drop);
    r.rec.first_ts = tw_time_to_sec(r.first_ts);
    r.rec.last_ts = tw_time_to_sec(r.last_ts);
    if (loop_rc == TW_ERR_DB || r.db_failed) {
        /* also a failure after the loop (the last rows, the writer's drain) */
        r.rec.complete = 0;
        r.rec.error = r.db_err;
    } else if (loop_rc) {
        r.rec.complete = 0;
        r.rec.error = err;
    } else if (g_stop && !live) {
        r.rec.complete = 0;
        r.rec.error = "interrupted";
    } else {
        r.rec.complete = 1;
    }
    rc = store_finish_capture(r.st, &r.rec);
    t[5] = now_wall();
    if (o->verbose)
        fprintf(errf,
                "twscope: time: packets %.3f s, flush open connections %.3f s, writer drain "
                "%.3f s, incarnation numbering %.3f s, indexes and commit %.3f s\n",
                t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3], t[5] - t[4]);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    g_cap = NULL;

    if (loop_rc == TW_ERR_DB || r.db_failed)
        fprintf(errf, "twscope: %s\n", r.db_err);
    else if (loop_rc)
        fprintf(errf, "twscope: %s\n", r.summary_err[0] ? r.summary_err : err);
    else if (rc)
        fprintf(errf, "twscope: %s: %s\n", o->db_path, store_errmsg(r.st));
    else if (g_stop && !live)
        fprintf(errf, "twscope: interrupted; what was read so far is in %s\n", o->db_path);
    if (!o->quiet && !r.db_failed && !loop_rc && !rc && !(g_stop && !live))
        fprintf(errf,
                "twscope: %llu packets (%llu TCP, %llu skipped): %llu connections, %llu TIME_WAIT "
                "periods, %llu findings -> %s (capture %lld)\n",
                (unsigned long long)r.rec.packets, (unsigned long long)r.rec.tcp_packets,
                (unsigned long long)r.rec.skipped, (unsigned long long)r.n_conns,
                (unsigned long long)r.n_tw, (unsigned long long)r.n_findings, o->db_path,
                (long long)r.rec.id);

    for (uint32_t i = 0; r.file_err && i < capture_count(cap); i++)
        free(r.file_err[i]);
    free(r.file_err);
    capture_close(cap); /* stops the reader thread, which reads the keyer */
    free(r.keyer);
    tcp_engine_destroy(r.eng);
    classify_destroy(r.cl);
    store_close(r.st);
    if (loop_rc)
        return loop_rc;
    if (r.db_failed)
        return TW_ERR_DB;
    if (rc)
        return rc;
    return (g_stop && !live) ? TW_ERR_IO : TW_OK;
}

static int analyze_set(const struct analyze_opts *o, const char *const *files, int nfiles,
                       FILE *err);

int analyze_files(const struct analyze_opts *o, const char *const *files, int nfiles, FILE *err)
{
    struct analyze_opts one;
    int rc = TW_OK;

    if (!o->per_file || nfiles < 2)
        return analyze_set(o, files, nfiles, err);
    /* --per-file: each file its own capture, one after the other into the database */
    one = *o;
    for (int i = 0; i < nfiles; i++) {
        int frc = analyze_set(&one, files + i, 1, err);
        one.overwrite = 0;
        if (frc && !rc)
            rc = frc;
        if (frc == TW_ERR_DB || frc == TW_ERR_SCHEMA || frc == TW_ERR_NOMEM || frc == TW_ERR_USAGE)
            break; /* the database or the options, not the file: the next would fail alike */
    }
    return rc;
}

static int analyze_set(const struct analyze_opts *o, const char *const *files, int nfiles,
                       FILE *err)
{
    struct capture *cap;
    struct run_files in = {files, NULL, nfiles};
    struct fileid *ids = calloc((size_t)nfiles, sizeof(*ids));
    char msg[512];
    char *source;
    int rc = ids ? capture_open_files(files, nfiles, &o->cap, &cap, msg, sizeof(msg))
                 : TW_ERR_NOMEM;

    /* after the capture module opened them: its messages name what is wrong with a file */
    for (int i = 0; i < nfiles && rc == TW_OK; i++) {
        rc = fileid_of(files[i], &ids[i], msg, sizeof(msg));
        if (rc)
            capture_close(cap);
    }
    if (rc) {
        fprintf(err, "twscope: %s\n", !ids ? "out of memory" : msg);
        free(ids);
        return rc;
    }
    in.ids = ids;
    source = join_sources(files, nfiles);
    rc = run_analysis(o, cap, source ? source : "?", &in, err);
    free(source);
    free(ids);
    return rc;
}

int analyze_live(const struct analyze_opts *o, const char *iface, FILE *err)
{
    struct capture *cap;
    char msg[512], source[300];
    int rc = capture_open_live(iface, &o->cap, &cap, msg, sizeof(msg));
    if (rc) {
        fprintf(err, "twscope: %s\n", msg);
        return rc;
    }
    snprintf(source, sizeof(source), "iface:%s", iface);
    return run_analysis(o, cap, source, NULL, err);
}
