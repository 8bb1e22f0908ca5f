/*
 * words.h -- a finding in plain words, as one SQL expression.
 *
 * Every place that shows a finding to a person (the findings_named view, the
 * HTML report's findings table, `twscope explain`) evaluates the same
 * expression over the findings row, so the sentence is written once and a
 * user's own SQL gets it too (`SELECT words FROM findings_named`). It reads
 * only the row's own columns and its JSON detail (json_extract), so it works
 * on any database the reports read, read-only or immutable.
 *
 * WORDS_FINDING(f): f is the alias of the findings table in the query, e.g.
 * WORDS_FINDING("f") over "FROM findings f". The sender of the segment is
 * f.direction (client / server).
 */
#ifndef TWSCOPE_WORDS_H
#define TWSCOPE_WORDS_H

#define WORDS_J(f, key) "json_extract(" f ".detail, '$." key "')"
#define WORDS_YES(f, key) "coalesce(" WORDS_J(f, key) ", 0)"

#define WORDS_FINDING(f)                                                                         \
    "(CASE WHEN NOT json_valid(" f ".detail) THEN " f ".kind || coalesce(' ' || " f ".detail, '')" \
    " ELSE CASE " f ".kind"                                                                     \
    " WHEN 'fin_retransmission' THEN CASE WHEN " WORDS_YES(f, "capture_duplicate") " THEN"     \
    "  printf('the same FIN from the %s captured again (copy %d, %.3f ms later): a capture"    \
    " duplicate, not a retransmission', " f ".direction, " WORDS_J(f, "copy") ", "             \
    WORDS_J(f, "interval_ms") ")"                                                               \
    "  ELSE printf('the %s (%s closer) sent its FIN again (copy %d, %.3f ms after the"        \
    " previous one; first at frame %d): %s', " f ".direction, " WORDS_J(f, "closer") ", "      \
    WORDS_J(f, "copy") ", " WORDS_J(f, "interval_ms") ", " WORDS_J(f, "first_frame") ","      \
    "  CASE WHEN " WORDS_J(f, "loss") " = 'unknown' THEN 'the peer is not in this capture"   \
    " (one direction only): where its ACK was lost is unknown'"                                \
    "  WHEN " WORDS_YES(f, "peer_acked_fin") " THEN 'the peer''s ACK of it was seen"           \
    " here, so it was lost after this capture point'"                                          \
    "  ELSE 'no ACK of it had been seen: the final ACK was lost, or not sent yet' END) END"     \
    " WHEN 'final_ack_retransmission' THEN printf('the %s, in TIME_WAIT, ACKed the peer''s'"    \
    " || ' FIN again (copy %d, %.3f ms after the %s; %d FIN copies seen): its first final ACK'" \
    " || ' was lost %s', " f ".direction, " WORDS_J(f, "copy") ", " WORDS_J(f, "interval_ms")   \
    ", CASE " WORDS_J(f, "interval_from") " WHEN 'previous_ack' THEN 'previous ACK' ELSE"       \
    " 'peer''s FIN' END, " WORDS_J(f, "peer_fin_copies") ", CASE " WORDS_J(f, "loss")          \
    " WHEN 'before_capture_point' THEN 'before this capture point (the capture' ||"              \
    " ' never saw it)' WHEN 'after_capture_point' THEN 'after this capture point (it'"  \
    " || ' passed here but not the peer)' ELSE 'somewhere: ' || coalesce(" WORDS_J(f, "loss")  \
    ", 'unknown') END)"                                                                        \
    " WHEN 'tw_rst' THEN printf('RST from the %s into the %s''s TIME_WAIT (%s, %.3f s into'"    \
    " || ' it, %.3f s left): %s', " f ".direction, " WORDS_J(f, "tw_side") ","                 \
    " CASE WHEN " WORDS_YES(f, "in_window") " THEN 'in window' ELSE 'out of window' END, "     \
    WORDS_J(f, "in_tw_s") ", " WORDS_J(f, "left_s") ","                                        \
    " CASE " WORDS_J(f, "killed") " WHEN 1 THEN 'it killed the TIME_WAIT (frame ' ||"          \
    " " WORDS_J(f, "evidence_frame") " || ' shows it)' WHEN 0 THEN 'the TIME_WAIT survived it"  \
    " (RFC 1337; frame ' || " WORDS_J(f, "evidence_frame") " || ' shows it)' ELSE 'no later"   \
    " segment shows whether it killed the TIME_WAIT; ' || " WORDS_J(f, "assumed") " END)"       \
    " WHEN 'tw_reuse' THEN printf('new SYN on the same 4-tuple %.3f s after connection %d'"     \
    " || ' closed, while the %s was still in TIME_WAIT (%.3f s left; %s): %s%s', "             \
    WORDS_J(f, "since_close_s") ", " WORDS_J(f, "prior_connection_id") ", "                    \
    WORDS_J(f, "tw_side") ", " WORDS_J(f, "time_left_s") ","                                   \
    " CASE " WORDS_J(f, "rule") " WHEN 'tcp_tw_reuse' THEN 'the TIME_WAIT side itself"        \
    " reconnected (tcp_tw_reuse)' ELSE 'the SYN reached the TIME_WAIT socket' END,"            \
    " CASE WHEN " WORDS_YES(f, "linux_accept") " THEN 'Linux accepts it' ELSE 'Linux would"    \
    " not accept it' END,"                                                                     \
    " CASE WHEN " WORDS_YES(f, "paws_reject") " THEN ' (PAWS: its timestamp is older)'"        \
    " WHEN " WORDS_J(f, "isn_above") " = 0 THEN ' (its ISN is not above the old sequence)'"    \
    " ELSE '' END)"                                                                            \
    " WHEN 'late_segment' THEN CASE " WORDS_J(f, "phase")                                      \
    "  WHEN 'new_incarnation' THEN printf('a segment of connection %d (sent by its %s)"        \
    " arrived in the new incarnation: %s', " WORDS_J(f, "prior_connection_id") ", "            \
    WORDS_J(f, "prior_direction") ","                                                          \
    "  CASE WHEN " WORDS_YES(f, "accepted") " THEN 'in window and acceptable, the new"         \
    " connection would have taken it as its own data'"                                         \
    "  ELSE 'the new connection would have rejected it (' || rtrim("                            \
    "   CASE WHEN " WORDS_YES(f, "in_window") " THEN '' ELSE 'out of window, ' END ||"         \
    "   CASE WHEN " WORDS_YES(f, "ack_acceptable") " THEN '' ELSE 'ACK not acceptable, ' END ||"\
    "   CASE WHEN " WORDS_YES(f, "paws_reject") " THEN 'PAWS: older timestamp, ' ELSE '' END,"  \
    "   ', ') || ')' END)"                                                                     \
    "  ELSE printf('a segment from the %s arrived while the %s was in TIME_WAIT (a late'"       \
    " || ' copy of the closed connection)', " f ".direction, coalesce(" WORDS_J(f, "tw_side")   \
    ", 'peer')) END"                                                                           \
    " WHEN 'stale_state_rst' THEN printf('the SYN was answered at frame %d by an ACK of a'"     \
    " || ' foreign number (%d, not %d): the %s still held connection %d''s state; the client'"  \
    " || ' reset at frame %d and retried after %.3f s%s', " WORDS_J(f, "ack_frame") ", "       \
    WORDS_J(f, "foreign_ack") ", " WORDS_J(f, "expected_ack") ", " WORDS_J(f, "held_by") ", "  \
    WORDS_J(f, "prior_connection_id") ", " WORDS_J(f, "rst_frame") ", "                        \
    WORDS_J(f, "retry_delay_s") ", CASE WHEN " WORDS_YES(f, "same_isn") " THEN ' (same ISN)'"  \
    " ELSE '' END)"                                                                            \
    " ELSE " f ".kind || ' ' || coalesce(" f ".detail, '') END END)"

/* The kind of a finding as a short title ("final ACK retransmission"). */
#define WORDS_KIND(f)                                                                            \
    "(CASE " f ".kind WHEN 'fin_retransmission' THEN 'FIN retransmission'"                       \
    " WHEN 'final_ack_retransmission' THEN 'final ACK retransmission'"                          \
    " WHEN 'tw_rst' THEN 'RST into TIME_WAIT' WHEN 'tw_reuse' THEN 'TIME_WAIT reuse'"           \
    " WHEN 'late_segment' THEN 'late segment' WHEN 'stale_state_rst' THEN 'stale-state RST'"    \
    " ELSE " f ".kind END)"

#endif /* TWSCOPE_WORDS_H */
