/*
 * rowtext.c -- results in words (see rowtext.h). The JSON keys are a contract
 * with users' queries (json_extract(detail, '$.loss')): the README lists them.
 * The detail objects are lists of typed keys; SQLite's json_object() writes
 * the JSON (store.c), so no JSON text is made by hand here.
 */
#include "twscope/rowtext.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Appending typed keys to a detail object (store_kv: json_object() builds it). */
struct kvs {
    struct store_kv *kv;
    int n;
};

static void put(struct kvs *o, const char *key, enum store_kv_type t, int64_t i, double r,
                const char *str)
{
    struct store_kv *k;

    if (o->n >= STORE_MAX_KV)
        return;
    k = &o->kv[o->n++];
    k->key = key;
    k->type = t;
    k->i = i;
    k->r = r;
    k->s = str;
}

static void k_int(struct kvs *o, const char *key, int64_t v) { put(o, key, KV_INT, v, 0, NULL); }
static void k_real(struct kvs *o, const char *key, double v) { put(o, key, KV_REAL, 0, v, NULL); }
static void k_text(struct kvs *o, const char *key, const char *v)
{
    put(o, key, v ? KV_TEXT : KV_NULL, 0, 0, v);
}
static void k_bool(struct kvs *o, const char *key, int v) { put(o, key, KV_BOOL, !!v, 0, NULL); }
static void k_null(struct kvs *o, const char *key) { put(o, key, KV_NULL, 0, 0, NULL); }

/* An integer that may be absent (never seen): null then. */
static void k_int_or_null(struct kvs *o, const char *key, int present, int64_t v)
{
    if (present)
        k_int(o, key, v);
    else
        k_null(o, key);
}

/* Milliseconds to the microsecond, seconds to the microsecond: as the capture has them. */
static double usec_to_ms(tw_time t) { return (double)t / 1000.0; }
static double usec_to_s(tw_time t) { return round(tw_time_to_sec(t) * 1e6) / 1e6; }

int rowtext_finding(const struct tw_verdict *v, struct store_kv *kv)
{
    static const char *const phases[] = {"time_wait", "new_incarnation"};
    static const char *const roles[] = {"active", "passive", "both"};
    struct kvs o = {kv, 0};
    uint32_t b = v->bits;

    switch ((enum tw_finding)v->kind) {
    case TWF_FIN_REXMIT:
        k_int(&o, "copy", v->copy);
        k_real(&o, "interval_ms", usec_to_ms(v->t1));
        k_int(&o, "first_frame", (int64_t)v->first_frame);
        k_text(&o, "closer", roles[v->phase % 3]);
        k_bool(&o, "peer_acked_fin", b & TWV_PEER_ACKED);
        k_bool(&o, "capture_duplicate", b & TWV_CAPTURE_DUP);
        /* where the peer's ACK of this FIN was lost: it passed the capture point
         * (lost after it), or not (before it: had the tap only missed it, the FIN
         * would not have been sent again); a peer never seen (one direction only)
         * tells nothing */
        k_text(&o, "loss", b & TWV_PEER_UNSEEN  ? "unknown"
                           : b & TWV_PEER_ACKED ? "after_capture_point"
                                                : "before_capture_point");
        break;
    case TWF_FINAL_ACK_REXMIT:
        k_int(&o, "copy", v->copy);
        k_real(&o, "interval_ms", usec_to_ms(v->t1));
        k_text(&o, "interval_from", b & TWV_FROM_PREV_ACK ? "previous_ack" : "peer_fin");
        k_bool(&o, "original_seen", b & TWV_ORIGINAL_SEEN);
        k_int(&o, "peer_fin_copies", v->peer_copies);
        k_text(&o, "loss", b & TWV_ORIGINAL_SEEN ? "after_capture_point" : "before_capture_point");
        break;
    case TWF_TW_RST:
        /* killed: true or false when a later segment showed it (evidence_frame), else
         * "unknown", and the period then ended as the profile's stack would have it */
        k_text(&o, "tw_side", tw_who_name((enum tw_who)v->who));
        k_bool(&o, "in_window", b & TWV_IN_WINDOW);
        k_int(&o, "rcv_nxt", v->rcv_nxt);
        k_real(&o, "in_tw_s", usec_to_s(v->t1));
        k_real(&o, "left_s", usec_to_s(v->t2));
        if (b & TWV_KILL_SEEN)
            k_bool(&o, "killed", b & TWV_KILLED);
        else
            k_text(&o, "killed", "unknown");
        k_int_or_null(&o, "evidence_frame", b & TWV_KILL_SEEN && v->first_frame,
                      (int64_t)v->first_frame);
        k_text(&o, "assumed", b & TWV_KILL_SEEN ? NULL
                              : b & TWV_KILLED  ? "ended at the RST (the profile's stack kills on it)"
                                                : "survived (the profile's stack ignores it)");
        break;
    case TWF_TW_REUSE:
        /* an old ISN or a TSval that was never seen is null */
        k_int(&o, "prior_connection_id", v->prior_id);
        k_text(&o, "tw_side", tw_who_name((enum tw_who)v->who));
        k_text(&o, "tw_endpoint", b & TWV_RECEIVER ? "syn_receiver" : "syn_sender");
        k_int_or_null(&o, "old_isn", b & TWV_OLD_ISN, v->old_isn);
        k_int(&o, "old_next_seq", v->old_next_seq);
        k_int(&o, "new_isn", v->new_isn);
        k_int_or_null(&o, "old_tsval", b & TWV_OLD_TS, v->old_tsval);
        k_int_or_null(&o, "new_tsval", b & TWV_NEW_TS, v->new_tsval);
        k_real(&o, "since_close_s", usec_to_s(v->t1));
        k_real(&o, "time_left_s", usec_to_s(v->t2));
        k_text(&o, "rule", b & TWV_RECEIVER ? "syn_to_timewait" : "tcp_tw_reuse");
        k_bool(&o, "isn_above", b & TWV_ISN_ABOVE);
        k_bool(&o, "ts_newer", b & TWV_TS_NEWER);
        k_bool(&o, "paws_reject", b & TWV_PAWS_REJECT);
        k_bool(&o, "linux_accept", b & TWV_LINUX_ACCEPT);
        break;
    case TWF_LATE_SEGMENT:
        if (v->phase != TWPH_NEW_INCARNATION) {
            k_text(&o, "phase", phases[v->phase % 2]);
            k_text(&o, "tw_side", tw_who_name((enum tw_who)v->who));
            break;
        }
        k_text(&o, "phase", phases[TWPH_NEW_INCARNATION]);
        k_int(&o, "prior_connection_id", v->prior_id);
        k_text(&o, "prior_direction", v->prior_dir ? "server" : "client");
        k_bool(&o, "in_window", b & TWV_IN_WINDOW);
        k_bool(&o, "ack_acceptable", b & TWV_ACK_OK);
        k_bool(&o, "paws_applicable", b & TWV_PAWS_APPLICABLE);
        k_bool(&o, "paws_reject", b & TWV_PAWS_REJECT);
        k_bool(&o, "accepted", b & TWV_ACCEPTED);
        k_int(&o, "rcv_nxt", v->rcv_nxt);
        k_int(&o, "rcv_wnd", v->rcv_wnd);
        break;
    case TWF_STALE_STATE_RST:
        k_int(&o, "prior_connection_id", v->prior_id);
        k_text(&o, "held_by", tw_who_name((enum tw_who)v->who));
        k_int(&o, "foreign_ack", v->rcv_nxt);
        k_int(&o, "expected_ack", (uint32_t)(v->old_isn + 1));
        k_int(&o, "ack_frame", (int64_t)v->first_frame);
        k_int(&o, "rst_frame", (int64_t)v->rst_frame);
        k_real(&o, "retry_delay_s", usec_to_s(v->t1));
        k_bool(&o, "same_isn", v->new_isn == v->old_isn);
        break;
    default:
        return -1;
    }
    return o.n;
}

/* Dotted quad without printf (a row per connection); IPv6 through inet_ntop(). */
void rowtext_addr(const uint8_t *a, int ip_version, char *buf)
{
    char *o = buf;
    if (ip_version == 6) {
        inet_ntop(AF_INET6, a, buf, ROWTEXT_ADDR_MAX);
        return;
    }
    for (int i = 0; i < 4; i++) {
        unsigned x = a[i];
        if (i)
            *o++ = '.';
        if (x >= 100)
            *o++ = (char)('0' + x / 100);
        if (x >= 10)
            *o++ = (char)('0' + x / 10 % 10);
        *o++ = (char)('0' + x % 10);
    }
    *o = 0;
}

void rowtext_profile(const struct tw_profile_seen *w, char *buf, size_t n)
{
    static const char *const opt_names[] = {"eol", "nop", "mss", "ws", "sackok", "sack",
                                            "6", "7", "ts"};
    size_t used;
    if (!w->is_auto) {
        static const char opt[] = "option";
        size_t k = sizeof(opt) - 1;
        if (!n)
            return;
        if (k > n - 1)
            k = n - 1;
        memcpy(buf, opt, k); /* once per TIME_WAIT row: no printf */
        buf[k] = 0;
        return;
    }
    used = (size_t)snprintf(buf, n, "auto: initial TTL %d (seen %u)", tw_initial_ttl(w->ttl),
                            w->ttl);
    if (!w->syn || used >= n) {
        if (used < n)
            snprintf(buf + used, n - used, ", no SYN seen from this host");
        return;
    }
    used += (size_t)snprintf(buf + used, n - used, ", SYN options ");
    for (int i = 0; i < w->opt_count && used < n; i++) {
        uint8_t k = w->opt_sig[i];
        if (k < sizeof(opt_names) / sizeof(opt_names[0]))
            used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? "," : "", opt_names[k]);
        else
            used += (size_t)snprintf(buf + used, n - used, "%s%u", i ? "," : "", k);
    }
}
