/*
 * annotate.h -- `twscope annotate`: the findings of a database written back
 * into a pcapng copy of the capture it was analyzed from, as packet comments
 * (EPB opt_comment), so that Wireshark's `frame.comment contains "twscope"`
 * lists them next to the packets.
 *
 * Which packets: the frame of every finding, the frame where a TIME_WAIT
 * period starts and, when a packet ended it, the frame that did (the SYN of a
 * reuse, the RST), and the first frame (the SYN) of every connection that is
 * a new incarnation of its 4-tuple. Each gets one comment per reason, in
 * plain words, starting with "twscope: " and naming the connection id.
 *
 * How frames are found: a frame in the database is the 1-based position of a
 * packet record in its input file (as Wireshark numbers it, and as libpcap
 * returns them: pcapng EPB, SPB and obsolete PB blocks), and `file` is the
 * 0-based position of the file in the analysis (files.file_index). The source
 * files are those recorded in the files table (a relative path is tried from
 * the working directory, then from the database's directory); each is checked
 * against the size and fingerprint recorded then (fileid.h) before anything
 * is written.
 *
 * What is kept: a pcap input becomes one pcapng section with one interface of
 * the file's link type, snaplen and resolution (6 or 9), its packets in order
 * with their timestamps unchanged. A pcapng input is copied block by block,
 * verbatim, except the packet blocks that get a comment: they are rebuilt as
 * an EPB with their original options (existing comments included) followed
 * by ours (an SPB or PB becomes an EPB, the only block that carries
 * comments); the SHB's section length is set to "not given" since the section
 * grows. gzip-compressed inputs are read through zlib; outputs are plain
 * pcapng.
 *
 * --merge: the inputs one after the other (in file order, so frame k of file
 * i is frame k + the frames of the files before it) in one section of ours,
 * with every input's interfaces: IDBs copied verbatim, the interface ids of
 * the packet and statistics blocks offset by the interfaces before them (an
 * SPB, which means interface 0, becomes an EPB). The inputs' own section
 * headers are dropped. A pcapng section of the other byte order cannot join
 * ours and is an error (annotate that file on its own).
 *
 * Outputs are written to temporary names next to their final names and
 * renamed only once every output is complete: an error leaves nothing behind.
 *
 * Thread: the main thread of `twscope annotate`.
 */
#ifndef TWSCOPE_ANNOTATE_H
#define TWSCOPE_ANNOTATE_H

#include <stdint.h>
#include <stdio.h>

#define ANNOTATE_MAX_COMMENTS 64       /* comments one packet may get (the rest are counted) */
#define ANNOTATE_MAX_BLOCK (64u << 20) /* largest pcapng block or pcap record read */

struct annotate_opts {
    const char *db_path;
    const char *out;                   /* -o: a file, a directory, or a pattern with %f/%i */
    int64_t capture_id;                /* 0: the database's only capture */
    int64_t file;                      /* files.file_index to annotate, -1: every file */
    int merge;                         /* all files into one output (one section) */
    int quiet;                         /* no summary line */
};

/*
 * Run it. Messages (errors, one line each, and the summary) go to msg.
 * Returns 0, TW_ERR_USAGE (bad option value: exit 2) or another TW_ERR_*.
 */
int annotate_run(const struct annotate_opts *o, FILE *msg);

#endif /* TWSCOPE_ANNOTATE_H */
