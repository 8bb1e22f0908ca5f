/*
 * store.h -- the SQLite database: schema, batched writes, read-only opening.
 *
 * The store is the single writer. It receives finished records (plain copies,
 * never pointers into packet buffers), binds them to statements prepared once
 * at open, and groups rows in explicit transactions of STORE_BATCH_ROWS rows.
 * store_commit() ends the current transaction early (live capture calls it once
 * a second). Connection ids are chosen by the caller (store_next_ids() tells
 * the first free ones) so findings can name a connection before it is written.
 *
 * Whose database: PRAGMA application_id = TWSCOPE_APPLICATION_ID ('twsc'),
 * set when the tables are created. Only such a database (with our
 * user_version and exactly our tables), an empty file or an empty SQLite
 * database is ever written; anything else is refused and left as it was.
 *
 * Schema (PRAGMA user_version = TWSCOPE_SCHEMA_VERSION; this is a contract):
 *   captures(id INTEGER PRIMARY KEY, source TEXT, linktype INTEGER, first_ts REAL,
 *            last_ts REAL, packets INTEGER, tcp_packets INTEGER, skipped INTEGER,
 *            skip_reasons TEXT (JSON object name->count), files INTEGER,
 *            complete INTEGER (0 while running or if cut short), error TEXT,
 *            started_at REAL (wall clock), tw_profile TEXT, dpi INTEGER,
 *            bpf TEXT, ps_recv INTEGER, ps_drop INTEGER, evicted INTEGER,
 *            shard TEXT ("K/N" of analyze --shard; NULL: every connection; a
 *            merge of some shards only: "K,L/N"))
 *   connections(id INTEGER PRIMARY KEY, capture_id, incarnation, client_ip,
 *            client_port, server_ip, server_port, ip_version, vlan_outer,
 *            vlan_inner, syn_seen, client_isn, server_isn, first_frame,
 *            first_file, last_frame, last_file, first_ts, last_ts, close_kind,
 *            active_closer, client_pkts, server_pkts, client_bytes, server_bytes,
 *            rtt_ms, app_protocol, client_fin_frame, server_fin_frame,
 *            rst_frame, prev_connection_id, app_guessed (1: nDPI guessed the
 *            protocol from ports after giving up, 0: detected from payload),
 *            after_close (segments seen after it was over: after its RST, or
 *            once every TIME_WAIT period ended; counted, not findings),
 *            capture_dups (copies of its segments made at the tap: -i any,
 *            SPAN; dropped, counted), vantage_dups (its segments seen again in
 *            another file: a second capture point; dropped, counted),
 *            closer_evidence, closer_rule, closer_frames (how active_closer was
 *            decided: observed / inferred / unknown, the rule, the frames))
 *   time_waits(id INTEGER PRIMARY KEY, connection_id, side, ip, port, start_ts,
 *            start_frame, start_file, expected_end_ts, end_ts, end_reason,
 *            inferred, profile, profile_reason, duration_s, answers,
 *            side_evidence, start_evidence, start_rule, end_evidence, end_rule)
 *   findings(id INTEGER PRIMARY KEY, connection_id, kind, frame, file, ts,
 *            direction, seq, ack, payload_len, flags, detail)
 *   findings_named (view): every findings column, then flag_letters, wireshark
 *            (the display filter) and file_path (files.path of its file)
 *   merge_sources(id INTEGER PRIMARY KEY, capture_id (of this database), db
 *            (the source database, as given to twscope merge), db_capture_id
 *            (its capture id there), shard, started_at): one row per source
 *            capture of a merged capture; connections.merge_source names one
 *            (NULL: analyzed into this database)
 *   files(id INTEGER PRIMARY KEY, capture_id, file_index (the file column of
 *            the other tables), path, size, mtime, fingerprint (fileid.h),
 *            error (what cut it short, NULL when it was read to its end))
 *
 * Thread: one at a time. The analysis thread opens the store and begins the
 * capture; between writer_start() and writer_stop() only the writer thread
 * uses it; then the analysis thread ends the capture and closes it.
 */
#ifndef TWSCOPE_STORE_H
#define TWSCOPE_STORE_H

#include <stdint.h>

#include "twscope/common.h"

#define STORE_IP_LEN 46              /* INET6_ADDRSTRLEN */

/* SQL: TCP flag bits f (an expression) as letters, FSRPAUEC order (tcpdump's). */
#define STORE_FLAG_LETTERS(f)                                                                \
    "(CASE WHEN " f " & 1 THEN 'F' ELSE '' END || CASE WHEN " f " & 2 THEN 'S' ELSE '' END"   \
    " || CASE WHEN " f " & 4 THEN 'R' ELSE '' END || CASE WHEN " f " & 8 THEN 'P' ELSE '' END" \
    " || CASE WHEN " f " & 16 THEN 'A' ELSE '' END || CASE WHEN " f " & 32 THEN 'U' ELSE '' END" \
    " || CASE WHEN " f " & 64 THEN 'E' ELSE '' END || CASE WHEN " f " & 128 THEN 'C' ELSE '' END)"

#define STORE_MAX_REASONS 32         /* skip reasons a capture row counts */

struct rec_capture {
    int64_t id;                      /* set by store_begin_capture() */
    const char *source;              /* file names joined with ", " or "iface:NAME" */
    int linktype;                    /* DLT_* of the (first) input */
    double first_ts, last_ts;        /* packet times, 0 if no packet */
    uint64_t packets;                /* frames read */
    uint64_t tcp_packets;            /* frames decoded to a TCP segment */
    uint64_t skipped;                /* frames not analyzed, errors only (sum of reasons) */
    uint64_t reasons[STORE_MAX_REASONS]; /* frames skipped per reason i (0 unused) */
    const char *(*reason_name)(int i); /* name of reason i in skip_reasons, NULL if none */
    uint32_t files;                  /* input files */
    int complete;                    /* 1 when the run ended normally */
    const char *error;               /* NULL, or what cut the run short */
    const char *tw_profile;          /* profile option as given */
    int dpi;                         /* nDPI enabled */
    const char *bpf;                 /* filter or NULL */
    int64_t ps_recv, ps_drop;        /* live capture counters, -1 = not applicable */
    uint64_t evicted;                /* connections evicted by --max-flows */
    const char *shard;               /* "K/N" (analyze --shard), NULL: every connection */
};

struct rec_connection {
    int64_t id, capture_id;
    uint32_t incarnation;            /* 1, 2, ... per 4-tuple */
    char client_ip[STORE_IP_LEN], server_ip[STORE_IP_LEN];
    uint16_t client_port, server_port;
    uint8_t ip_version;
    uint16_t vlan_outer, vlan_inner;
    int syn_seen;
    int has_client_isn, has_server_isn;
    uint32_t client_isn, server_isn;
    uint64_t first_frame, last_frame;
    uint32_t first_file, last_file;  /* 0-based input file index */
    double first_ts, last_ts;
    const char *close_kind;          /* "fin", "half", "rst", "open" */
    const char *active_closer;       /* "client", "server", "both" or NULL */
    uint64_t client_pkts, server_pkts, client_bytes, server_bytes;
    double rtt_ms;                   /* < 0: NULL */
    const char *app_protocol;        /* NULL when unknown / DPI off */
    uint64_t client_fin_frame, server_fin_frame, rst_frame; /* 0: NULL */
    int64_t prev_connection_id;      /* previous incarnation, 0: NULL */
    int app_guessed;                 /* app_protocol is nDPI's guess, not a detection */
    uint32_t after_close;            /* segments after it was over, counted not judged */
    uint32_t capture_dups;           /* copies of its segments made at the tap, dropped */
    uint32_t vantage_dups;           /* its segments seen again at another capture point */
    const char *closer_evidence;     /* "observed", "inferred", "unknown" or NULL (no FIN) */
    const char *closer_rule;         /* "R1", "R14", "R17" or NULL */
    uint64_t closer_frames[2];       /* frames that decided it (0: none); closer_frames text */
    int renumber;                    /* incarnation/prev_connection_id are not certain:
                                        store_number_incarnations() recomputes its tuple */
};

struct rec_timewait {
    int64_t connection_id;
    const char *side;                /* "client" or "server" */
    char ip[STORE_IP_LEN];
    uint16_t port;
    double start_ts;
    uint64_t start_frame;
    uint32_t start_file;
    double expected_end_ts, end_ts;
    const char *end_reason;          /* "expired", "reused", "rst", "capture_end" */
    int inferred;
    const char *profile;             /* "linux", "windows", ... */
    const char *profile_reason;      /* why this profile (auto) or "option" */
    double duration_s;               /* 2*MSL used */
    uint32_t answers;                /* segments the endpoint answered in TIME_WAIT */
    int row;                         /* enum tw_row: what store_add_timewait() does */
    const char *side_evidence;       /* how the TIME_WAIT side was decided (as the closer) */
    const char *start_evidence, *start_rule; /* "observed"/"inferred", "R2", "R14", "R17" */
    const char *end_evidence, *end_rule;     /* "observed"/"inferred"/"unknown", "R4", "R7", "R8" */
};

/*
 * One key and typed value of a JSON object that SQLite's json_object() builds
 * (findings.detail): never JSON text made by hand. key is a static string of
 * ours (no quote in it); text values may be anything.
 */
enum store_kv_type { KV_NULL, KV_INT, KV_REAL, KV_TEXT, KV_BOOL };
struct store_kv {
    const char *key;
    enum store_kv_type type;
    int64_t i;                       /* KV_INT, KV_BOOL (0 = false) */
    double r;                        /* KV_REAL */
    const char *s;                   /* KV_TEXT */
};
#define STORE_MAX_KV 16              /* keys of one detail object */
/*
 * Live capture writes a period when it starts (TWROW_OPEN: end_ts NULL,
 * end_reason 'open'), then its end over that row (TWROW_END: an UPDATE of the
 * open row of (connection_id, side); an insert if there is none), or takes it
 * back (TWROW_RETRACT: the endpoint turned out not to enter TIME_WAIT, R10).
 * Offline analysis writes each period once, ended (TWROW_FULL).
 */
enum tw_row { TWROW_FULL = 0, TWROW_OPEN, TWROW_END, TWROW_RETRACT };

struct rec_finding {
    int64_t connection_id;
    const char *kind;                /* "fin_retransmission", "final_ack_retransmission",
                                        "late_segment", "tw_reuse", "tw_rst", ... */
    uint64_t frame;
    uint32_t file;
    double ts;
    const char *direction;           /* "client" (client->server) or "server" */
    uint32_t seq, ack, payload_len;
    uint8_t flags;
    const struct store_kv *kv;       /* detail as keys and values (json_object()), or NULL: */
    int nkv;
    const char *detail;              /* then this text is stored as it is (or NULL) */
};

struct store;

/*
 * Open (creating if needed) a database for writing. overwrite: delete every
 * row first. A missing or empty file, or a SQLite database with nothing in
 * it, becomes ours. Any other file that is not ours fails before anything is
 * written to it, with TW_ERR_SCHEMA ("PATH: not a twscope database; left as
 * it is, use another -o", "PATH: made by an older twscope (no
 * application_id); delete it or use another -o", "PATH: database schema
 * version N, this twscope needs M") or TW_ERR_FORMAT ("PATH: not a SQLite
 * database"). On failure *out is NULL and err holds a one-line message naming
 * the path. The caller frees the store with store_close().
 */
int store_open(const char *path, int overwrite, struct store **out, char *err, size_t errlen);

/* First connection id not yet used in the database. */
int64_t store_next_connection_id(struct store *st);

/* Insert the captures row (complete = 0) and start a transaction; sets c->id. */
int store_begin_capture(struct store *st, struct rec_capture *c);
/*
 * Live: the counters of c so far (packets, drops...) into its captures row,
 * complete = 0, in the open transaction (store_commit() makes them visible).
 */
int store_update_capture(struct store *st, const struct rec_capture *c);

/* One input file of a capture (files table); size, mtime, fingerprint valid if known. */
struct rec_file {
    uint32_t index;                  /* 0-based position in the run, as in frames' file */
    const char *path;                /* as given */
    int known;                       /* 0: standard input or not a regular file */
    uint64_t size;
    double mtime;
    const char *fingerprint;         /* fileid.h */
};
/* Record f for the capture begun last. Returns 0 or a TW_ERR_*. */
int store_add_file(struct store *st, const struct rec_file *f);
/* Input `index` of that capture was cut short by error (files.error). */
int store_file_error(struct store *st, uint32_t index, const char *error);
/*
 * The capture that already analyzed a file of f's size and fingerprint into
 * this database (its path copied to path), 0 if none (or f not known), or a
 * negative TW_ERR_*.
 */
int64_t store_find_file(struct store *st, const struct rec_file *f, char *path, size_t n);
/* Update the captures row from c (counters, times, complete, error) and commit. */
int store_finish_capture(struct store *st, const struct rec_capture *c);

int store_add_connection(struct store *st, const struct rec_connection *r);
int store_add_timewait(struct store *st, const struct rec_timewait *r);
int store_add_finding(struct store *st, const struct rec_finding *r);

/*
 * Renumber the incarnations of the 4-tuples of a capture that have a
 * connection added with `renumber` set, by first packet, and set their
 * prev_connection_id accordingly (call before store_finish_capture()). Other
 * tuples keep the numbers they were added with.
 */
int store_number_incarnations(struct store *st, int64_t capture_id);

/* Commit the open transaction and begin a new one. */
int store_commit(struct store *st);

/* Last SQLite error text of this store (valid until the next call). */
const char *store_errmsg(struct store *st);

/* Commit what is pending and close. NULL is a no-op. */
void store_close(struct store *st);

struct sqlite3;

/*
 * Open an existing database for reading only (SQLITE_OPEN_READONLY, then
 * PRAGMA query_only = 1) and check it as store_open() does, except that a
 * database of an older twscope (our tables, no application_id) is read.
 * A database that is not ours is refused before SQLite opens it for real.
 * Errors name the path: "PATH: no such database", "PATH: not a SQLite
 * database", "PATH: not a twscope database", "PATH: database schema version
 * N, this twscope needs M" (also TW_ERR_SCHEMA for an empty database). On
 * failure *out is NULL. The caller closes *out with sqlite3_close(). Used by
 * report.c.
 */
int store_open_readonly(const char *path, struct sqlite3 **out, char *err, size_t errlen);

/*
 * twscope merge: copy the databases srcs[0..n-1] (twscope's, this schema
 * version) into the new database out (missing, empty, or a twscope database
 * without captures; overwrite empties one that has some), in one
 * transaction, with new ids. Shards of one capture (analyze --shard: the
 * same files by size and fingerprint, the same options, different shards of
 * the same N) become one capture whose counts are the sum; anything else
 * stays a capture of its own. merge_sources and connections.merge_source
 * keep which source database and capture each came from. Refused with one
 * line in err (naming the database): a source that is not a twscope
 * database of this version, a source given twice or that is the output, and
 * the same files twice (a shard twice, a whole capture and a shard of it).
 * The sources are only read. Returns 0 or a TW_ERR_*; stats (optional) get
 * the output's row counts.
 */
struct store_merge_stats {
    int64_t sources;                 /* source captures */
    int64_t captures, connections, time_waits, findings;  /* rows written */
};
int store_merge(const char *out, int overwrite, const char *const *srcs, int n,
                struct store_merge_stats *stats, char *err, size_t errlen);

#endif /* TWSCOPE_STORE_H */
