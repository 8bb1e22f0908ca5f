/*
 * analyzer.c -- the analysis loop (see analyzer.h).
 */
#include "twscope/analyzer.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twscope/classify.h"
#include "twscope/decode.h"
#include "twscope/fileid.h"
#include "twscope/flowtab.h"
#include "twscope/metrics.h"
#include "twscope/pcapng_write.h"
#include "twscope/store.h"
#include "twscope/tcpstate.h"
#include "twscope/writer.h"

#include "analyzer_int.h"

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

void analyzer_db_fail(struct run *r, int rc)
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
    analyzer_db_fail(r, writer_add_connection(r->w, &rc, c->key.addr[c->client_ep],
                                              c->key.addr[!c->client_ep]));
    c->row_pkts = row_pkts(c);
}

/* The row of side s's TIME_WAIT period of c (entered), as it stands now. */
static void tw_record(struct run *r, const struct conn *c, int s, struct rec_timewait *tw,
                      struct tw_profile_seen *why)
{
    const struct tw_state *t = c->tcp.tw[s];
    memset(tw, 0, sizeof(*tw));
    tw->connection_id = c->id;
    tw->side = s ? "server" : "client";
    tw->port = c->key.port[s == 0 ? c->client_ep : !c->client_ep];
    tw->start_ts = tw_time_to_sec(t->start_ts);
    tw->start_frame = t->start_frame;
    tw->start_file = t->start_file;
    tw->expected_end_ts = tw_time_to_sec(t->last_answer_ts + t->dur);
    tw->end_ts = tw_time_to_sec(t->end_ts);
    tw->end_reason = tw_end_reason_name((enum tw_end_reason)t->end_reason);
    tw->inferred = t->inferred;
    tw->profile = tw_profile_name((enum tw_profile_id)t->profile);
    tw_profile_seen_of(&r->o->tw, &c->tcp.d[s], why);
    tw->duration_s = tw_time_to_sec(t->dur);
    tw->answers = t->answers;
    {
        /* how each part was decided (timewait.c: observed, inferred by a rule, unknown) */
        struct tw_evidence side, start, end;
        tw_closer_evidence(&c->tcp, &side);
        tw_period_evidence(&c->tcp, s, &start, &end);
        tw->side_evidence = side.how;
        tw->start_evidence = start.how;
        tw->start_rule = start.rule;
        tw->end_evidence = end.how;
        tw->end_rule = end.rule;
    }
}

static void sink_conn_done(void *ctx, struct conn *c)
{
    struct run *r = ctx;
    struct rec_connection rc;
    char proto[64];

    conn_record(r, c, &rc, proto, sizeof(proto));
    if (!c->closed_reported || c->row_pkts != row_pkts(c))
        analyzer_db_fail(r, writer_add_connection(r->w, &rc, c->key.addr[c->client_ep],
                                         c->key.addr[!c->client_ep]));
    r->n_conns++;

    for (int s = 0; s < 2; s++) {
        struct tw_state *t = c->tcp.tw[s];
        struct rec_timewait tw;
        struct tw_profile_seen why;
        int ep = s == 0 ? c->client_ep : !c->client_ep;
        if (!t->entered && !t->row_open)
            continue;
        tw_record(r, c, s, &tw, &why);
        if (!t->entered) {
            tw.row = TWROW_RETRACT; /* R10: it answered the FIN with a RST after all */
        } else {
            tw.row = t->row_open ? TWROW_END : TWROW_FULL;
            r->n_tw++;
        }
        t->row_open = 0;
        analyzer_db_fail(r, writer_add_timewait(r->w, &tw, c->key.addr[ep], c->key.ip_version,
                                                &why));
    }
}

/*
 * Live: a running period is written open (end_ts NULL, end_reason 'open'),
 * with its connection's row, at the first per-second pass after it started,
 * i.e. before the commit that makes it visible: `query` shows it now rather
 * than when it ends, and its final ACK (an RTT after the FIN that started an
 * inferred period) has usually come by then. sink_conn_done() writes its end
 * over it.
 */
void analyzer_write_open_tw(struct run *r, struct conn *c, int side)
{
    struct tw_state *t = c->tcp.tw[side];
    struct rec_timewait tw;
    struct tw_profile_seen why;
    int ep = side == 0 ? c->client_ep : !c->client_ep;

    if (!c->closed_reported) {
        /* its row first (the engine's conn_closed() call, made now); conn_done()
         * writes it again at the end if packets came since */
        c->closed_reported = 1;
        sink_conn_closed(r, c);
    }
    tw_record(r, c, side, &tw, &why);
    tw.row = TWROW_OPEN;
    t->row_open = 1;
    analyzer_db_fail(r, writer_add_timewait(r->w, &tw, c->key.addr[ep], c->key.ip_version, &why));
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
    analyzer_db_fail(r, writer_add_verdict(r->w, &rf, f->v));
    r->n_findings++;
    if (f->v->kind < TWF_COUNT)
        r->findings_kind[f->v->kind]++;
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

            if (r->dump) {
                /* buffered stdio: flushed at the per-second commit */
                struct pcapng_epb e = {0, (uint64_t)p.ts, p.caplen, p.wirelen, p.data,
                                       NULL, 0, NULL, 0};
                if (pcapng_write_epb(r->dump, &e)) {
                    snprintf(err, errlen, "%s", pcapng_writer_error(r->dump));
                    return TW_ERR_IO;
                }
            }
            /* every frame moves packet time, whichever shard it belongs to, so that
             * each shard sweeps and expires exactly when a one-pass run does */
            if (!r->frames++)
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
            /* --shard: a connection's packets go to the shard of its key; the others
             * (not TCP, undecodable) are counted by shard 1 only, so that the counts of
             * the N shards add up to those of a one-pass run */
            if (o->shard_n &&
                (dr == DECODE_OK ? flow_shard_hash(&prep->key.k) % o->shard_n != o->shard_k - 1
                                 : o->shard_k != 1))
                goto housekeeping;
            r->rec.packets++;
            if (dr != DECODE_OK) {
                r->rec.reasons[dr]++;
                if (dr >= DECODE_UNSUPPORTED_LINK)
                    r->rec.skipped++;
                goto housekeeping;
            }
            r->rec.tcp_packets++;
            if (r->nlanes) {
                /* -j N: the segment's lane does the rest */
                lanes_packet(r, prep->key.hash, &p);
                goto housekeeping;
            }
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
                if (swept && r->nlanes)
                    lanes_sweep(r, r->last_ts);
                else if (swept)
                    tcp_engine_sweep(r->eng, r->last_ts);
                swept = 1;
                next_sweep = r->last_ts + (tw_time)FLOW_SWEEP_INTERVAL_SEC * TW_USEC;
            }
            if (r->db_failed || (r->nlanes && writer_failed(r->w)))
                return TW_ERR_DB;
            if (o->count && r->frames >= o->count)
                break;
        }
        /* live: the clock is read at every packet (vDSO, tens of ns), so a steady
         * trickle of packets cannot hold the per-second commit back */
        if (r->live || (r->frames & 1023) == 0 || rc == 2) {
            double now = now_wall();
            if (o->progress && !r->live && now >= next_ui) {
                show_progress(r, t0, 0);
                next_ui = now + 0.5;
            }
            if (r->live) {
                if (now >= next_commit) {
                    /* live: TIME_WAIT periods end in wall time too, and rows show up within 1 s */
                    tcp_engine_sweep(r->eng, live_wall_now());
                    live_tick(r);
                    analyzer_db_fail(r, writer_commit(r->w));
                    next_commit = now + 1.0;
                }
                if (o->duration_s > 0 && now - t0 >= o->duration_s)
                    break;
            }
        }
    }
    if (r->live)
        r->stop_ts = live_wall_now();
    if (o->progress && !r->live)
        show_progress(r, t0, 1);
    if (r->status_shown)
        fputc('\n', stderr);
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

/*
 * *dumpp: the -w file of a live capture, or NULL; closed (and *dumpp set to
 * NULL) once the packets are all read, so that its error is the run's.
 */
static int run_analysis_in(const struct analyze_opts *o, struct capture *cap, const char *source,
                           const struct run_files *in, struct pcapng_writer **dumpp,
                           struct metrics *metrics, FILE *errf)
{
    struct pcapng_writer *dump = *dumpp;
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
    r.dump = dump;
    r.metrics = metrics;
    rc = store_open(o->db_path, o->overwrite, &r.st, err, sizeof(err));
    if (rc) {
        fprintf(errf, "twscope: %s\n", err);
        capture_close(cap);
        return rc;
    }
    if (o->dpi && !(o->jobs > 1 && !live)) { /* -j N: each lane has its own */
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
    if (o->shard_n) {
        snprintf(r.shard, sizeof(r.shard), "%u/%u", o->shard_k, o->shard_n);
        r.rec.shard = r.shard;
    }
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
    if (live) {
        eo.closed_linger = 5 * TW_USEC; /* live: memory goes as soon as a period is over */
        r.pending = malloc(LIVE_PENDING_MAX * sizeof(*r.pending));
        if (r.pending)
            sinks.tw_started = live_sink_tw_started; /* else: every pass visits (pending_lost) */
        r.pending_lost = !r.pending;
    }
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
    if (!r.eng || !r.keyer || writer_start(r.st, &r.w) ||
        (o->jobs > 1 && !live && lanes_start(&r, &eo, &sinks))) {
        if (r.w) {
            writer_stop(r.w, NULL, 0);
            r.w = NULL;
        }
        capture_close(cap); /* first: its reader thread reads the keyer */
        free(r.keyer);
        free(r.pending);
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
    else /* tests and scripts wait for this line instead of sleeping */
        fprintf(errf, "twscope: capturing on %s into %s%s%s%s%s\n", source + strlen("iface:"),
                o->db_path, o->metrics ? "; metrics on http://" : "",
                o->metrics ? (o->metrics[0] == ':' ? "127.0.0.1" : "") : "",
                o->metrics ? o->metrics : "", o->metrics ? "/metrics" : "");
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

    if (r.dump) {
        char derr[256] = "";
        r.dump = NULL;
        *dumpp = NULL;
        if (pcapng_writer_close(dump, derr, sizeof(derr)) && loop_rc == 0) {
            snprintf(err, sizeof(err), "%s", derr);
            loop_rc = TW_ERR_IO;
        }
    }
    /* whatever happened, write what was analyzed; live, what still runs is cut
     * at the stop (SIGINT, --duration...), not at the last packet */
    if (r.nlanes)
        lanes_stop(&r, r.last_ts);
    else
        tcp_engine_finish(r.eng, live && r.stop_ts > r.last_ts ? r.stop_ts : r.last_ts);
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
        r.rec.evicted += es.evicted;  /* lanes_stop() added the lanes' */
        if (es.vantage_far)
            fprintf(errf, "twscope: warning: %llu segments are in two files more than %d ms "
                          "apart: capture points whose clocks differ? Merged, their copies count "
                          "as retransmissions; analyze them with --per-file\n",
                    (unsigned long long)es.vantage_far, TW_VANTAGE_COPY_USEC / 1000);
    }
    t[3] = now_wall();
    for (uint32_t i = 0; r.file_err && i < capture_count(cap) && !r.db_failed; i++)
        if (r.file_err[i] && store_file_error(r.st, i, r.file_err[i]))
            analyzer_db_fail(&r, TW_ERR_DB);
    if (!r.db_failed && store_number_incarnations(r.st, r.rec.id))
        analyzer_db_fail(&r, TW_ERR_DB);
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
    lanes_destroy(&r);
    free(r.pending);
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

/* Owns dump and metrics: closes them whatever happens. */
static int run_analysis(const struct analyze_opts *o, struct capture *cap, const char *source,
                        const struct run_files *in, struct pcapng_writer *dump,
                        struct metrics *metrics, FILE *errf)
{
    int rc = run_analysis_in(o, cap, source, in, &dump, metrics, errf);
    pcapng_writer_close(dump, NULL, 0); /* NULL when the run closed it */
    metrics_destroy(metrics);
    return rc;
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
    rc = run_analysis(o, cap, source ? source : "?", &in, NULL, NULL, err);
    free(source);
    free(ids);
    return rc;
}

int analyze_live(const struct analyze_opts *o, const char *iface, FILE *err)
{
    struct capture *cap;
    struct pcapng_writer *dump = NULL;
    struct metrics *metrics = NULL;
    char msg[512], source[300];
    int rc = capture_open_live(iface, &o->cap, &cap, msg, sizeof(msg));
    if (rc) {
        fprintf(err, "twscope: %s\n", msg);
        return rc;
    }
    snprintf(source, sizeof(source), "iface:%s", iface);
    if (o->metrics || o->alert_port_use > 0) {
        struct metrics_opts mo = {o->metrics, o->metrics_top, o->port_lo, o->port_hi,
                                  o->alert_port_use, iface};
        rc = metrics_create(&mo, &metrics, msg, sizeof(msg));
        if (rc) {
            fprintf(err, "twscope: %s\n", msg);
            capture_close(cap);
            return rc;
        }
    }
    if (o->write_path) {
        /* timestamps in microseconds (capture_open_live() asks libpcap for them);
         * DLT_ and LINKTYPE_ values agree for the link types Linux gives */
        struct pcapng_if itf = {capture_linktype(cap, 0),
                                (uint32_t)(o->cap.snaplen > 0 ? o->cap.snaplen : 262144),
                                PCAPNG_TSRESOL_USEC, iface, 0, 0};
        uint32_t ifid;
        rc = pcapng_writer_open(o->write_path, &dump, msg, sizeof(msg));
        if (!rc && (pcapng_write_shb(dump, NULL) || pcapng_write_interface(dump, &itf, &ifid))) {
            snprintf(msg, sizeof(msg), "%s", pcapng_writer_error(dump));
            rc = TW_ERR_IO;
        }
        if (rc) {
            fprintf(err, "twscope: %s\n", msg);
            pcapng_writer_close(dump, NULL, 0);
            metrics_destroy(metrics);
            capture_close(cap);
            return rc;
        }
    }
    return run_analysis(o, cap, source, NULL, dump, metrics, err);
}
