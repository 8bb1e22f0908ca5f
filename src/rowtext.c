/*
 * rowtext.c -- results in words (see rowtext.h). The JSON keys are a contract
 * with users' queries (json_extract(detail, '$.loss')): the README lists them.
 */
#include "twscope/rowtext.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const char *tf(int b) { return b ? "true" : "false"; }

static double usec_to_ms(tw_time t) { return (double)t / 1000.0; }

int rowtext_finding(const struct tw_verdict *v, char *buf, size_t n)
{
    static const char *const phases[] = {"time_wait", "new_incarnation"};
    static const char *const roles[] = {"active", "passive", "both"};
    uint32_t b = v->bits;
    int k;

    switch ((enum tw_finding)v->kind) {
    case TWF_FIN_REXMIT:
        k = snprintf(buf, n,
                     "{\"copy\":%u,\"interval_ms\":%.3f,\"first_frame\":%llu,\"closer\":\"%s\","
                     "\"peer_acked_fin\":%s,\"capture_duplicate\":%s,\"loss\":\"%s\"}",
                     v->copy, usec_to_ms(v->t1), (unsigned long long)v->first_frame,
                     roles[v->phase % 3], tf(b & TWV_PEER_ACKED), tf(b & TWV_CAPTURE_DUP),
                     /* where the peer's ACK of this FIN was lost: it passed the capture
                      * point (lost after it), or not (before it: had the tap only missed
                      * it, the FIN would not have been sent again); a peer never seen
                      * (one direction only) tells nothing */
                     b & TWV_PEER_UNSEEN  ? "unknown"
                     : b & TWV_PEER_ACKED ? "after_capture_point"
                                          : "before_capture_point");
        break;
    case TWF_FINAL_ACK_REXMIT:
        k = snprintf(buf, n,
                     "{\"copy\":%u,\"interval_ms\":%.3f,\"interval_from\":\"%s\","
                     "\"original_seen\":%s,\"peer_fin_copies\":%u,\"loss\":\"%s\"}",
                     v->copy, usec_to_ms(v->t1), b & TWV_FROM_PREV_ACK ? "previous_ack" : "peer_fin",
                     tf(b & TWV_ORIGINAL_SEEN), v->peer_copies,
                     b & TWV_ORIGINAL_SEEN ? "after_capture_point" : "before_capture_point");
        break;
    case TWF_TW_RST: {
        /* killed: true or false when a later segment showed it (evidence_frame), else
         * "unknown", and the period then ended as the profile's stack would have it */
        char ev[32] = "null";
        if (b & TWV_KILL_SEEN && v->first_frame)
            snprintf(ev, sizeof ev, "%llu", (unsigned long long)v->first_frame);
        k = snprintf(buf, n,
                     "{\"tw_side\":\"%s\",\"in_window\":%s,\"rcv_nxt\":%u,\"in_tw_s\":%.6f,"
                     "\"left_s\":%.6f,\"killed\":%s,\"evidence_frame\":%s,\"assumed\":%s}",
                     tw_who_name((enum tw_who)v->who), tf(b & TWV_IN_WINDOW), v->rcv_nxt,
                     tw_time_to_sec(v->t1), tw_time_to_sec(v->t2),
                     b & TWV_KILL_SEEN ? tf(b & TWV_KILLED) : "\"unknown\"", ev,
                     b & TWV_KILL_SEEN ? "null"
                     : b & TWV_KILLED  ? "\"ended at the RST (the profile's stack kills on it)\""
                                       : "\"survived (the profile's stack ignores it)\"");
        break;
    }
    case TWF_TW_REUSE: {
        /* an old ISN or a TSval that was never seen is null */
        char oi[16] = "null", ot[16] = "null", nt[16] = "null";
        if (b & TWV_OLD_ISN)
            snprintf(oi, sizeof oi, "%u", v->old_isn);
        if (b & TWV_OLD_TS)
            snprintf(ot, sizeof ot, "%u", v->old_tsval);
        if (b & TWV_NEW_TS)
            snprintf(nt, sizeof nt, "%u", v->new_tsval);
        k = snprintf(buf, n,
                     "{\"prior_connection_id\":%lld,\"tw_side\":\"%s\",\"tw_endpoint\":\"%s\","
                     "\"old_isn\":%s,\"old_next_seq\":%u,\"new_isn\":%u,"
                     "\"old_tsval\":%s,\"new_tsval\":%s,"
                     "\"since_close_s\":%.6f,\"time_left_s\":%.6f,\"rule\":\"%s\","
                     "\"isn_above\":%s,\"ts_newer\":%s,\"paws_reject\":%s,\"linux_accept\":%s}",
                     (long long)v->prior_id, tw_who_name((enum tw_who)v->who),
                     b & TWV_RECEIVER ? "syn_receiver" : "syn_sender", oi, v->old_next_seq,
                     v->new_isn, ot, nt, tw_time_to_sec(v->t1), tw_time_to_sec(v->t2),
                     b & TWV_RECEIVER ? "syn_to_timewait" : "tcp_tw_reuse", tf(b & TWV_ISN_ABOVE),
                     tf(b & TWV_TS_NEWER), tf(b & TWV_PAWS_REJECT), tf(b & TWV_LINUX_ACCEPT));
        break;
    }
    case TWF_LATE_SEGMENT:
        if (v->phase != TWPH_NEW_INCARNATION) {
            const char *side = tw_who_name((enum tw_who)v->who);
            k = snprintf(buf, n, "{\"phase\":\"%s\",\"tw_side\":%s%s%s}", phases[v->phase % 2],
                         side ? "\"" : "", side ? side : "null", side ? "\"" : "");
            break;
        }
        k = snprintf(buf, n,
                     "{\"phase\":\"%s\",\"prior_connection_id\":%lld,\"prior_direction\":\"%s\","
                     "\"in_window\":%s,\"ack_acceptable\":%s,\"paws_applicable\":%s,"
                     "\"paws_reject\":%s,\"accepted\":%s,\"rcv_nxt\":%u,\"rcv_wnd\":%u}",
                     phases[TWPH_NEW_INCARNATION], (long long)v->prior_id,
                     v->prior_dir ? "server" : "client", tf(b & TWV_IN_WINDOW),
                     tf(b & TWV_ACK_OK), tf(b & TWV_PAWS_APPLICABLE), tf(b & TWV_PAWS_REJECT),
                     tf(b & TWV_ACCEPTED), v->rcv_nxt, v->rcv_wnd);
        break;
    case TWF_STALE_STATE_RST:
        k = snprintf(buf, n,
                     "{\"prior_connection_id\":%lld,\"held_by\":\"%s\",\"foreign_ack\":%u,"
                     "\"expected_ack\":%u,\"ack_frame\":%llu,\"rst_frame\":%llu,"
                     "\"retry_delay_s\":%.6f,\"same_isn\":%s}",
                     (long long)v->prior_id, tw_who_name((enum tw_who)v->who), v->rcv_nxt,
                     v->old_isn + 1, (unsigned long long)v->first_frame,
                     (unsigned long long)v->rst_frame, tw_time_to_sec(v->t1),
                     tf(v->new_isn == v->old_isn));
        break;
    default:
        return -1;
    }
    return k < 0 ? -1 : (size_t)k >= n ? (int)n - 1 : k;
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
