/*
 * explain.h -- `twscope explain DB (CONN_ID | IP:PORT-IP:PORT)`: the story of
 * one 4-tuple as a ladder diagram.
 *
 * Every incarnation of the 4-tuple (in one capture, or each capture that has
 * it), its packets and its TIME_WAIT periods in time order, one line per
 * frame: an arrow between the two endpoints (labelled with the TCP flags and
 * length, the frame number on the left), and on the right what the database
 * says happened there (incarnation boundaries, FINs, the TIME_WAIT start and
 * end, each finding in words). When the capture files recorded in the
 * `files` table are still there (same size and fingerprint), every packet of
 * the 4-tuple is read from them; runs of plain data/ACK segments are folded
 * into one line. Otherwise the ladder is drawn from the frames the database
 * holds, and says so. A second part, "What happened", gives cause and effect
 * in words: each finding, and the answer it drew from the other side.
 *
 * The same events drawn as SVG (explain_svg()) go into the HTML report, one
 * ladder per connection with findings, linked from its findings table.
 *
 * Thread: the main thread of `twscope explain` / `twscope report`, on a
 * read-only connection.
 */
#ifndef TWSCOPE_EXPLAIN_H
#define TWSCOPE_EXPLAIN_H

#include <stdint.h>
#include <stdio.h>

struct sqlite3;

struct explain_opts {
    int64_t capture_id;              /* only this capture; 0 = every capture that has it */
    int db_only;                     /* 1: never read the capture files */
    int all_packets;                 /* 1: one line per packet, no folding */
};

/*
 * Print the ladder of `target` (a connection id, or "A:P-B:Q" with IPv6
 * addresses in brackets, either order) from database `path`. Returns 0, or
 * a TW_ERR_* with one line on err (unknown connection, bad target...).
 */
int explain_run(const char *path, const char *target, const struct explain_opts *o, FILE *out,
                FILE *err);

/*
 * The ladder of connection `conn_id`'s 4-tuple in its capture as one SVG
 * element (no file reading: the database's frames only), written to out.
 * Returns 0, or -1 if the connection is unknown or SQLite fails.
 */
int explain_svg(struct sqlite3 *db, int64_t conn_id, FILE *out);

#endif /* TWSCOPE_EXPLAIN_H */
