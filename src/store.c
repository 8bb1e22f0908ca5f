/*
 * store.c -- the SQLite database: batched writes of the rows.
 *
 * One writer connection per store. Every INSERT/UPDATE is prepared once at
 * open (SQLITE_PREPARE_PERSISTENT) and reused with bind/step/reset. Rows go
 * into explicit BEGIN IMMEDIATE ... COMMIT transactions of STORE_BATCH_ROWS
 * rows; the captures row alone is committed on its own at store_begin_capture()
 * so that a run killed midway leaves a capture marked complete = 0.
 *
 * Records are plain copies owned by the caller; text is bound SQLITE_STATIC
 * because every statement is stepped before the add function returns (SQLite
 * reads bound text only while stepping, and each add binds every parameter).
 *
 * Which file may be written, the schema and the opening are in store_file.c;
 * this file writes rows on the connection it returns.
 *
 * Thread: the analysis thread until writer_start(), then the writer thread
 * only, then the analysis thread again to finish and close.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store_int.h"
#include "twscope/config.h"
#include "twscope/store.h"

/*
 * Indexes are built when a capture is finished, not maintained row by row
 * during the bulk load (a third of the insert cost); --overwrite drops them.
 */
static const char index_sql[] =
    "CREATE INDEX IF NOT EXISTS connections_tuple"
    " ON connections(client_ip, server_ip, server_port);"
    "CREATE INDEX IF NOT EXISTS time_waits_connection ON time_waits(connection_id);"
    "CREATE INDEX IF NOT EXISTS findings_connection ON findings(connection_id);"
    "CREATE INDEX IF NOT EXISTS findings_kind ON findings(kind);";

int store_build_indexes(sqlite3 *db)
{
    return sqlite3_exec(db, index_sql, NULL, NULL, NULL);
}

enum store_stmt {
    SS_BEGIN,
    SS_COMMIT,
    SS_INS_CAPTURE,
    SS_UPD_CAPTURE,
    SS_INS_CONNECTION,
    SS_INS_TIMEWAIT,
    SS_UPD_TIMEWAIT,
    SS_DEL_TIMEWAIT,
    SS_INS_FINDING,
    SS_NEXT_CONN_ID,
    SS_INS_FILE,
    SS_FIND_FILE,
    SS_FILE_ERROR,
    SS_COUNT
};

/* The 17 capture fields bound by bind_capture(), in this order. */
#define CAPTURE_FIELDS                                                                 \
    "source, linktype, first_ts, last_ts, packets, tcp_packets, skipped,"             \
    " skip_reasons, files, complete, error, tw_profile, dpi, bpf, ps_recv,"           \
    " ps_drop, evicted"

static const char *const stmt_sql[SS_COUNT] = {
    [SS_BEGIN] = "BEGIN IMMEDIATE",
    [SS_COMMIT] = "COMMIT",
    [SS_INS_CAPTURE] = "INSERT INTO captures (" CAPTURE_FIELDS ", started_at, shard)"
                       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [SS_UPD_CAPTURE] = "UPDATE captures SET source=?1, linktype=?2, first_ts=?3,"
                       " last_ts=?4, packets=?5, tcp_packets=?6, skipped=?7,"
                       " skip_reasons=?8, files=?9, complete=?10, error=?11,"
                       " tw_profile=?12, dpi=?13, bpf=?14, ps_recv=?15, ps_drop=?16,"
                       " evicted=?17 WHERE id=?18",
    [SS_INS_CONNECTION] =
        "INSERT OR REPLACE INTO connections (id, capture_id, incarnation, client_ip,"
        " client_port, server_ip, server_port, ip_version, vlan_outer, vlan_inner,"
        " syn_seen, client_isn, server_isn, first_frame, first_file, last_frame,"
        " last_file, first_ts, last_ts, close_kind, active_closer, client_pkts,"
        " server_pkts, client_bytes, server_bytes, rtt_ms, app_protocol,"
        " client_fin_frame, server_fin_frame, rst_frame, prev_connection_id,"
        " app_guessed, after_close, capture_dups, vantage_dups, closer_evidence,"
        " closer_rule, closer_frames)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [SS_INS_TIMEWAIT] =
        "INSERT INTO time_waits (connection_id, side, ip, port, start_ts,"
        " start_frame, start_file, expected_end_ts, end_ts, end_reason, inferred,"
        " profile, profile_reason, duration_s, answers, side_evidence, start_evidence,"
        " start_rule, end_evidence, end_rule)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    /* live: the row of a period written open (end_reason 'open') gets its end */
    [SS_UPD_TIMEWAIT] =
        "UPDATE time_waits SET ip=?3, port=?4, start_ts=?5, start_frame=?6, start_file=?7,"
        " expected_end_ts=?8, end_ts=?9, end_reason=?10, inferred=?11, profile=?12,"
        " profile_reason=?13, duration_s=?14, answers=?15, side_evidence=?16,"
        " start_evidence=?17, start_rule=?18, end_evidence=?19, end_rule=?20"
        " WHERE connection_id=?1 AND side=?2 AND end_reason='open'",
    [SS_DEL_TIMEWAIT] = "DELETE FROM time_waits WHERE connection_id=?1 AND side=?2"
                        " AND end_reason='open'",
    [SS_INS_FINDING] = "INSERT INTO findings (connection_id, kind, frame, file, ts,"
                       " direction, seq, ack, payload_len, flags, detail)"
                       " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    [SS_NEXT_CONN_ID] = "SELECT coalesce(max(id), 0) + 1 FROM connections",
    [SS_INS_FILE] = "INSERT INTO files (capture_id, file_index, path, size, mtime, fingerprint)"
                    " VALUES (?,?,?,?,?,?)",
    [SS_FILE_ERROR] = "UPDATE files SET error = ?1 WHERE capture_id = ?2 AND file_index = ?3",
    [SS_FIND_FILE] = "SELECT capture_id, path FROM files WHERE size = ?1 AND fingerprint = ?2"
                     " ORDER BY capture_id LIMIT 1",
};

#define STORE_MAX_SHAPES 24          /* detail shapes kept prepared (a handful per kind) */
#define STORE_SHAPE_SIG 400

struct store {
    sqlite3 *db;                     /* writer connection */
    sqlite3_stmt *stmt[SS_COUNT];    /* prepared at open, finalized at close */
    int in_txn;                      /* a BEGIN of ours is open */
    unsigned rows;                   /* rows written in the open transaction */
    int64_t capture_id;              /* last store_begin_capture() row */
    int tw_indexed;                  /* time_waits_connection exists (open rows get updated) */
    int64_t *renumber;               /* ids of connections added with renumber set */
    size_t nrenumber, renumber_cap;
    char errbuf[256];                /* last error, "" if none */
    struct store_shape {             /* an INSERT of findings with json_object() of keys */
        char sig[STORE_SHAPE_SIG];   /* key:type,... of the kv list; "" = unused */
        sqlite3_stmt *s;
    } shape[STORE_MAX_SHAPES];
    unsigned next_shape;             /* the slot a new shape takes when all are used */
};

/* ---- writer ---- */

static int fail_db(struct store *st, int rc)
{
    snprintf(st->errbuf, sizeof st->errbuf, "%s", sqlite3_errmsg(st->db));
    return (rc & 0xff) == SQLITE_NOMEM ? TW_ERR_NOMEM : TW_ERR_DB;
}

/*
 * Step a statement that returns no row, then reset it. Its bindings are left:
 * every caller binds all parameters before each step, and SQLite reads a
 * SQLITE_STATIC text only while stepping.
 */
static int run_stmt(struct store *st, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    int ret = 0;

    if (rc != SQLITE_DONE)
        ret = fail_db(st, rc);
    sqlite3_reset(s);
    return ret;
}

static int txn_begin(struct store *st)
{
    int ret;

    if (st->in_txn)
        return 0;
    ret = run_stmt(st, st->stmt[SS_BEGIN]);
    if (ret == 0) {
        st->in_txn = 1;
        st->rows = 0;
    }
    return ret;
}

static int txn_commit(struct store *st)
{
    int ret;

    if (!st->in_txn)
        return 0;
    ret = run_stmt(st, st->stmt[SS_COMMIT]);
    if (ret == 0) {
        st->in_txn = 0;
        st->rows = 0;
    } else {
        /* a failed COMMIT may have rolled back (disk full, I/O error) or not
         * (busy): the connection knows which */
        st->in_txn = !sqlite3_get_autocommit(st->db);
    }
    return ret;
}

/* Count one written row; a full batch is committed and a new one begun. */
static int row_written(struct store *st)
{
    int ret;

    if (++st->rows < STORE_BATCH_ROWS)
        return 0;
    ret = txn_commit(st);
    if (ret)
        return ret;
    return txn_begin(st);
}

/* Positional binder: each b_*() binds the next parameter; the first error sticks. */
struct binder {
    sqlite3_stmt *s;
    int i;
    int rc;
};

static void b_int(struct binder *b, int64_t v)
{
    b->i++;
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_int64(b->s, b->i, v);
}

static void b_real(struct binder *b, double v)
{
    b->i++;
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_double(b->s, b->i, v);
}

static void b_null(struct binder *b)
{
    b->i++;
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_null(b->s, b->i);
}

/* NULL pointer -> SQL NULL. The text must live until the statement is reset. */
static void b_text(struct binder *b, const char *v)
{
    b->i++;
    if (b->rc != SQLITE_OK)
        return;
    if (v)
        b->rc = sqlite3_bind_text(b->s, b->i, v, -1, SQLITE_STATIC);
    else
        b->rc = sqlite3_bind_null(b->s, b->i);
}

static void b_int_or_null(struct binder *b, int present, int64_t v)
{
    if (present)
        b_int(b, v);
    else
        b_null(b);
}

static int b_done(struct store *st, struct binder *b)
{
    if (b->rc != SQLITE_OK)
        return fail_db(st, b->rc);
    assert(b->i == sqlite3_bind_parameter_count(b->s));
    return 0;
}

/* ---- JSON through SQLite's json_object() ---- */

/* "key:t,..." of kv; 0, or -1 if it does not fit (or a key has a quote). */
static int kv_sig(const struct store_kv *kv, int n, char *sig, size_t len)
{
    size_t used = 0;

    sig[0] = 0;
    for (int i = 0; i < n; i++) {
        int k = snprintf(sig + used, len - used, "%s:%d,", kv[i].key, (int)kv[i].type);
        if (k < 0 || (size_t)k >= len - used || strchr(kv[i].key, '\''))
            return -1;
        used += (size_t)k;
    }
    return 0;
}

/*
 * The statement "PREFIX json_object('k1', ?, 'k2', json(...), ...) SUFFIX"
 * for kv's keys and types, prepared once per shape. A boolean is bound as an
 * integer and made true/false by json(); NULL, numbers and text bind as they
 * are. Returns NULL with st->errbuf set on failure.
 */
static sqlite3_stmt *kv_stmt(struct store *st, const char *prefix, const char *suffix,
                             const struct store_kv *kv, int n)
{
    char sig[STORE_SHAPE_SIG];
    struct store_shape *sh;
    sqlite3_str *sql;
    char *text;
    int rc;

    if (n > STORE_MAX_KV || kv_sig(kv, n, sig, sizeof sig) != 0) {
        snprintf(st->errbuf, sizeof st->errbuf, "detail object too large");
        return NULL;
    }
    /* the prefix tells apart the statements of one key list */
    if (strlen(sig) + 2 < sizeof sig)
        strcat(sig, prefix[0] == 'I' ? "I" : "S");
    for (unsigned i = 0; i < STORE_MAX_SHAPES; i++)
        if (st->shape[i].s && strcmp(st->shape[i].sig, sig) == 0)
            return st->shape[i].s;
    sql = sqlite3_str_new(st->db);
    sqlite3_str_appendf(sql, "%s json_object(", prefix);
    for (int i = 0; i < n; i++)
        sqlite3_str_appendf(sql, "%s'%s', %s", i ? ", " : "", kv[i].key,
                            kv[i].type == KV_BOOL ? "json(CASE ? WHEN 0 THEN 'false' ELSE 'true' END)"
                                                  : "?");
    sqlite3_str_appendf(sql, ")%s", suffix);
    text = sqlite3_str_finish(sql);
    if (!text) {
        snprintf(st->errbuf, sizeof st->errbuf, "out of memory");
        return NULL;
    }
    sh = &st->shape[st->next_shape++ % STORE_MAX_SHAPES];
    sqlite3_finalize(sh->s);
    sh->s = NULL;
    rc = sqlite3_prepare_v3(st->db, text, -1, SQLITE_PREPARE_PERSISTENT, &sh->s, NULL);
    sqlite3_free(text);
    if (rc != SQLITE_OK) {
        fail_db(st, rc);
        sh->s = NULL;
        return NULL;
    }
    snprintf(sh->sig, sizeof sh->sig, "%s", sig);
    return sh->s;
}

static void b_kv(struct binder *b, const struct store_kv *kv, int n)
{
    for (int i = 0; i < n; i++)
        switch (kv[i].type) {
        case KV_INT:
        case KV_BOOL: b_int(b, kv[i].i); break;
        case KV_REAL: b_real(b, kv[i].r); break;
        case KV_TEXT: b_text(b, kv[i].s); break;
        default: b_null(b); break;
        }
}

/*
 * {"name": count, ...} of the nonzero reasons (index 0 excluded), made by
 * json_object(). Returns a string the caller frees with sqlite3_free(), or
 * NULL (out of memory, or SQLite failed: st->errbuf says).
 */
static char *skip_reasons_json(struct store *st, const struct rec_capture *c)
{
    struct store_kv kv[STORE_MAX_KV];
    sqlite3_stmt *s;
    struct binder b;
    char *out = NULL;
    int n = 0;

    for (int i = 1; i < STORE_MAX_REASONS && n < STORE_MAX_KV; i++) {
        const char *name;
        if (!c->reasons[i])
            continue;
        name = c->reason_name ? c->reason_name(i) : NULL;
        kv[n].key = name && !strchr(name, '\'') ? name : "unknown";
        kv[n].type = KV_INT;
        kv[n++].i = (int64_t)c->reasons[i];
    }
    s = kv_stmt(st, "SELECT", "", kv, n);
    if (!s)
        return NULL;
    b.s = s;
    b.i = 0;
    b.rc = SQLITE_OK;
    b_kv(&b, kv, n);
    if (b.rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        out = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(s, 0));
    else
        fail_db(st, b.rc);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return out;
}

/* Bind the CAPTURE_FIELDS of c (17 parameters). */
static void bind_capture(struct binder *b, const struct rec_capture *c, const char *reasons,
                         int complete)
{
    int have_times = c->packets > 0 || c->first_ts != 0 || c->last_ts != 0;

    b_text(b, c->source);
    b_int(b, c->linktype);
    if (have_times) {
        b_real(b, c->first_ts);
        b_real(b, c->last_ts);
    } else {
        b_null(b);
        b_null(b);
    }
    b_int(b, (int64_t)c->packets);
    b_int(b, (int64_t)c->tcp_packets);
    b_int(b, (int64_t)c->skipped);
    b_text(b, reasons);
    b_int(b, c->files);
    b_int(b, complete);
    b_text(b, c->error);
    b_text(b, c->tw_profile);
    b_int(b, c->dpi);
    b_text(b, c->bpf);
    b_int_or_null(b, c->ps_recv >= 0, c->ps_recv);
    b_int_or_null(b, c->ps_drop >= 0, c->ps_drop);
    b_int(b, (int64_t)c->evicted);
}

static double wall_clock(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (double)time(NULL);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int store_open(const char *path, int overwrite, struct store **out, char *err, size_t errlen)
{
    struct store *st = NULL;
    sqlite3 *db = NULL;
    int rc, ret;

    *out = NULL;
    ret = store_file_open_write(path, overwrite, &db, err, errlen);
    if (ret)
        return ret;

    st = calloc(1, sizeof *st);
    if (!st) {
        store_set_err(err, errlen, "%s: out of memory", path);
        ret = TW_ERR_NOMEM;
        goto fail;
    }
    st->db = db;
    for (int i = 0; i < SS_COUNT; i++) {
        rc = sqlite3_prepare_v3(db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                                NULL);
        if (rc != SQLITE_OK) {
            store_set_err(err, errlen, "%s: cannot prepare statement: %s", path, sqlite3_errmsg(db));
            ret = TW_ERR_DB;
            goto fail;
        }
    }
    *out = st;
    return 0;

fail:
    if (st) {
        for (int i = 0; i < SS_COUNT; i++)
            sqlite3_finalize(st->stmt[i]);
        free(st);
    }
    sqlite3_close(db);
    return ret;
}

int64_t store_next_connection_id(struct store *st)
{
    sqlite3_stmt *s = st->stmt[SS_NEXT_CONN_ID];
    int64_t id = -1;
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW)
        id = sqlite3_column_int64(s, 0);
    else
        fail_db(st, rc);
    sqlite3_reset(s);
    return id;
}

static int insert_row(struct store *st, struct binder *b);

int64_t store_find_file(struct store *st, const struct rec_file *f, char *path, size_t n)
{
    sqlite3_stmt *s = st->stmt[SS_FIND_FILE];
    int64_t id = 0;
    int rc;

    if (!f->known)
        return 0;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)f->size);
    sqlite3_bind_text(s, 2, f->fingerprint, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(s, 1);
        id = sqlite3_column_int64(s, 0);
        snprintf(path, n, "%s", p ? p : "?");
    } else if (rc != SQLITE_DONE) {
        id = fail_db(st, rc);
    }
    sqlite3_reset(s);
    return id;
}

int store_add_file(struct store *st, const struct rec_file *f)
{
    struct binder b = {st->stmt[SS_INS_FILE], 0, SQLITE_OK};
    b_int(&b, st->capture_id);
    b_int(&b, f->index);
    b_text(&b, f->path);
    b_int_or_null(&b, f->known, (int64_t)f->size);
    if (f->known)
        b_real(&b, f->mtime);
    else
        b_null(&b);
    b_text(&b, f->known ? f->fingerprint : NULL);
    return insert_row(st, &b);
}

int store_file_error(struct store *st, uint32_t index, const char *error)
{
    struct binder b = {st->stmt[SS_FILE_ERROR], 0, SQLITE_OK};
    b_text(&b, error);
    b_int(&b, st->capture_id);
    b_int(&b, index);
    return insert_row(st, &b);
}

int store_begin_capture(struct store *st, struct rec_capture *c)
{
    struct binder b = {st->stmt[SS_INS_CAPTURE], 0, SQLITE_OK};
    char *reasons = NULL;
    int ret;

    /* The captures row is committed alone, so a killed run leaves it (complete = 0). */
    ret = txn_commit(st);
    if (ret)
        goto out;
    reasons = skip_reasons_json(st, c);
    if (!reasons) {
        snprintf(st->errbuf, sizeof st->errbuf, "out of memory");
        ret = TW_ERR_NOMEM;
        goto out;
    }
    bind_capture(&b, c, reasons, 0);
    b_real(&b, wall_clock());
    b_text(&b, c->shard);
    ret = b_done(st, &b);
    if (ret) {
        sqlite3_clear_bindings(b.s);
        goto out;
    }
    ret = run_stmt(st, b.s);
    if (ret)
        goto out;
    c->id = sqlite3_last_insert_rowid(st->db);
    st->capture_id = c->id;
    ret = txn_begin(st);
out:
    sqlite3_free(reasons);
    return ret;
}

int store_update_capture(struct store *st, const struct rec_capture *c)
{
    struct binder b = {st->stmt[SS_UPD_CAPTURE], 0, SQLITE_OK};
    int64_t id = c->id > 0 ? c->id : st->capture_id;
    char *reasons;
    int ret = txn_begin(st);

    if (ret)
        return ret;
    reasons = skip_reasons_json(st, c);
    if (!reasons) {
        snprintf(st->errbuf, sizeof st->errbuf, "out of memory");
        return TW_ERR_NOMEM;
    }
    bind_capture(&b, c, reasons, 0);
    b_int(&b, id);
    ret = b_done(st, &b);
    if (ret)
        sqlite3_clear_bindings(b.s);
    else
        ret = run_stmt(st, b.s);
    sqlite3_free(reasons);
    return ret;
}

int store_finish_capture(struct store *st, const struct rec_capture *c)
{
    struct binder b = {st->stmt[SS_UPD_CAPTURE], 0, SQLITE_OK};
    int64_t id = c->id > 0 ? c->id : st->capture_id;
    char *reasons = NULL;
    int ret;

    if (id <= 0) {
        snprintf(st->errbuf, sizeof st->errbuf, "no capture begun");
        return TW_ERR_USAGE;
    }
    reasons = skip_reasons_json(st, c);
    if (!reasons) {
        snprintf(st->errbuf, sizeof st->errbuf, "out of memory");
        ret = TW_ERR_NOMEM;
        goto out;
    }
    bind_capture(&b, c, reasons, c->complete ? 1 : 0);
    b_int(&b, id);
    ret = b_done(st, &b);
    if (ret) {
        sqlite3_clear_bindings(b.s);
        goto out;
    }
    ret = run_stmt(st, b.s);
    if (ret)
        goto out;
    if (sqlite3_changes(st->db) != 1) {
        snprintf(st->errbuf, sizeof st->errbuf, "capture %lld not found", (long long)id);
        ret = TW_ERR_DB;
        goto out;
    }
    if (sqlite3_exec(st->db, index_sql, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(st->errbuf, sizeof st->errbuf, "%s", sqlite3_errmsg(st->db));
        ret = TW_ERR_DB;
        goto out;
    }
    ret = txn_commit(st);
out:
    sqlite3_free(reasons);
    return ret;
}

/* Run a bound INSERT and count the row toward the batch. */
static int insert_row(struct store *st, struct binder *b)
{
    int ret = b_done(st, b);
    if (ret) {
        sqlite3_clear_bindings(b->s);
        return ret;
    }
    ret = run_stmt(st, b->s);
    return ret ? ret : row_written(st);
}

/* Remember a connection whose tuple store_number_incarnations() must number. */
static int note_renumber(struct store *st, int64_t id)
{
    if (st->nrenumber == st->renumber_cap) {
        size_t cap = st->renumber_cap ? st->renumber_cap * 2 : 256;
        int64_t *n = realloc(st->renumber, cap * sizeof(*n));
        if (!n) {
            snprintf(st->errbuf, sizeof st->errbuf, "out of memory");
            return TW_ERR_NOMEM;
        }
        st->renumber = n;
        st->renumber_cap = cap;
    }
    st->renumber[st->nrenumber++] = id;
    return 0;
}

int store_add_connection(struct store *st, const struct rec_connection *r)
{
    struct binder b = {st->stmt[SS_INS_CONNECTION], 0, SQLITE_OK};
    char fr[48] = "";
    int ret;

    ret = txn_begin(st);
    if (ret)
        return ret;
    if (r->renumber && r->id > 0) {
        ret = note_renumber(st, r->id);
        if (ret)
            return ret;
    }
    b_int_or_null(&b, r->id > 0, r->id);
    b_int(&b, r->capture_id);
    b_int(&b, r->incarnation);
    b_text(&b, r->client_ip);
    b_int(&b, r->client_port);
    b_text(&b, r->server_ip);
    b_int(&b, r->server_port);
    b_int(&b, r->ip_version);
    b_int(&b, r->vlan_outer);
    b_int(&b, r->vlan_inner);
    b_int(&b, r->syn_seen ? 1 : 0);
    b_int_or_null(&b, r->has_client_isn, r->client_isn);
    b_int_or_null(&b, r->has_server_isn, r->server_isn);
    b_int(&b, (int64_t)r->first_frame);
    b_int(&b, r->first_file);
    b_int(&b, (int64_t)r->last_frame);
    b_int(&b, r->last_file);
    b_real(&b, r->first_ts);
    b_real(&b, r->last_ts);
    b_text(&b, r->close_kind);
    b_text(&b, r->active_closer);
    b_int(&b, (int64_t)r->client_pkts);
    b_int(&b, (int64_t)r->server_pkts);
    b_int(&b, (int64_t)r->client_bytes);
    b_int(&b, (int64_t)r->server_bytes);
    if (r->rtt_ms >= 0)
        b_real(&b, r->rtt_ms);
    else
        b_null(&b);
    b_text(&b, r->app_protocol);
    b_int_or_null(&b, r->client_fin_frame != 0, (int64_t)r->client_fin_frame);
    b_int_or_null(&b, r->server_fin_frame != 0, (int64_t)r->server_fin_frame);
    b_int_or_null(&b, r->rst_frame != 0, (int64_t)r->rst_frame);
    b_int_or_null(&b, r->prev_connection_id != 0, r->prev_connection_id);
    b_int_or_null(&b, r->app_protocol != NULL, r->app_guessed);
    b_int(&b, (int64_t)r->after_close);
    b_int(&b, (int64_t)r->capture_dups);
    b_int(&b, (int64_t)r->vantage_dups);
    b_text(&b, r->closer_evidence);
    b_text(&b, r->closer_rule);
    /* bound SQLITE_STATIC: fr lives until insert_row() has stepped */
    if (r->closer_frames[0] && r->closer_frames[1])
        snprintf(fr, sizeof fr, "%llu,%llu", (unsigned long long)r->closer_frames[0],
                 (unsigned long long)r->closer_frames[1]);
    else if (r->closer_frames[0] || r->closer_frames[1])
        snprintf(fr, sizeof fr, "%llu",
                 (unsigned long long)(r->closer_frames[0] | r->closer_frames[1]));
    b_text(&b, fr[0] ? fr : NULL);
    return insert_row(st, &b);
}

/*
 * Live mode writes a period twice: open when it starts, then its end. The
 * UPDATE finds the open row by (connection_id, side) through the index that
 * an offline bulk load only builds at the end: it is made at the first open row.
 */
static int timewait_index(struct store *st)
{
    if (st->tw_indexed)
        return TW_OK;
    if (sqlite3_exec(st->db, "CREATE INDEX IF NOT EXISTS time_waits_connection"
                             " ON time_waits(connection_id)", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(st->errbuf, sizeof st->errbuf, "%s", sqlite3_errmsg(st->db));
        return TW_ERR_DB;
    }
    st->tw_indexed = 1;
    return TW_OK;
}

int store_add_timewait(struct store *st, const struct rec_timewait *r)
{
    int row = r->row;
    struct binder b = {st->stmt[row == TWROW_END ? SS_UPD_TIMEWAIT : SS_INS_TIMEWAIT], 0,
                       SQLITE_OK};
    int ret;

    ret = txn_begin(st);
    if (ret)
        return ret;
    if (row != TWROW_FULL && (ret = timewait_index(st)) != TW_OK)
        return ret;
    if (row == TWROW_RETRACT) {
        b.s = st->stmt[SS_DEL_TIMEWAIT];
        b_int(&b, r->connection_id);
        b_text(&b, r->side);
        return insert_row(st, &b);
    }
    b_int(&b, r->connection_id);
    b_text(&b, r->side);
    b_text(&b, r->ip);
    b_int(&b, r->port);
    b_real(&b, r->start_ts);
    b_int(&b, (int64_t)r->start_frame);
    b_int(&b, r->start_file);
    b_real(&b, r->expected_end_ts);
    if (row == TWROW_OPEN) {
        b_null(&b);
        b_text(&b, "open");
    } else {
        b_real(&b, r->end_ts);
        b_text(&b, r->end_reason);
    }
    b_int(&b, r->inferred ? 1 : 0);
    b_text(&b, r->profile);
    b_text(&b, r->profile_reason);
    b_real(&b, r->duration_s);
    b_int(&b, r->answers);
    b_text(&b, r->side_evidence);
    b_text(&b, r->start_evidence);
    b_text(&b, r->start_rule);
    b_text(&b, r->end_evidence);
    b_text(&b, r->end_rule);
    ret = insert_row(st, &b);
    if (ret == TW_OK && row == TWROW_END && sqlite3_changes(st->db) == 0) {
        /* no open row (it was never written): insert the whole period */
        struct rec_timewait full = *r;
        full.row = TWROW_FULL;
        return store_add_timewait(st, &full);
    }
    return ret;
}

int store_add_finding(struct store *st, const struct rec_finding *r)
{
    struct binder b = {st->stmt[SS_INS_FINDING], 0, SQLITE_OK};
    int ret;

    ret = txn_begin(st);
    if (ret)
        return ret;
    if (r->kv) {
        b.s = kv_stmt(st, "INSERT INTO findings (connection_id, kind, frame, file, ts, direction,"
                          " seq, ack, payload_len, flags, detail) VALUES (?,?,?,?,?,?,?,?,?,?,",
                      ")", r->kv, r->nkv);
        if (!b.s)
            return TW_ERR_DB;
    }
    b_int(&b, r->connection_id);
    b_text(&b, r->kind);
    b_int(&b, (int64_t)r->frame);
    b_int(&b, r->file);
    b_real(&b, r->ts);
    b_text(&b, r->direction);
    b_int(&b, r->seq);
    b_int(&b, r->ack);
    b_int(&b, r->payload_len);
    b_int(&b, r->flags);
    if (r->kv)
        b_kv(&b, r->kv, r->nkv);
    else
        b_text(&b, r->detail);
    return insert_row(st, &b);
}

/*
 * Number the incarnations of each 4-tuple (VLAN IDs included, either
 * orientation) 1, 2, ... by first packet, and link each to the previous one,
 * for the tuples of the connections noted by note_renumber(). The engine
 * numbers incarnations while a tuple stays in memory; this covers a tuple that
 * came back after leaving it. Most captures have none: then nothing runs.
 */
#define TUPLE_KEY                                                                        \
    "ip_version, vlan_outer, vlan_inner,"                                                \
    " min(client_ip || '|' || client_port, server_ip || '|' || server_port),"             \
    " max(client_ip || '|' || client_port, server_ip || '|' || server_port)"

int store_number_incarnations(struct store *st, int64_t capture_id)
{
    static const char sql[] =
        "UPDATE connections AS c SET incarnation = n.inc, prev_connection_id = n.prev"
        " FROM (SELECT id, row_number() OVER w AS inc, lag(id) OVER w AS prev"
        "       FROM connections WHERE capture_id = ?1 AND (" TUPLE_KEY ") IN"
        "         (SELECT " TUPLE_KEY " FROM connections WHERE id IN"
        "            (SELECT id FROM temp.twscope_renumber))"
        "       WINDOW w AS (PARTITION BY " TUPLE_KEY " ORDER BY first_ts, id)) AS n"
        " WHERE c.id = n.id AND (c.incarnation IS NOT n.inc"
        "   OR c.prev_connection_id IS NOT n.prev)";
    sqlite3_stmt *s = NULL, *ins = NULL;
    int ret = 0;

    if (!st->nrenumber)
        return 0;
    ret = txn_begin(st);
    if (ret)
        return ret;
    if (sqlite3_exec(st->db, "CREATE TEMP TABLE IF NOT EXISTS twscope_renumber"
                             " (id INTEGER PRIMARY KEY); DELETE FROM temp.twscope_renumber",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, "INSERT OR IGNORE INTO temp.twscope_renumber VALUES (?)", -1,
                           &ins, NULL) != SQLITE_OK)
        goto fail;
    for (size_t i = 0; i < st->nrenumber; i++) {
        if (sqlite3_bind_int64(ins, 1, st->renumber[i]) != SQLITE_OK ||
            sqlite3_step(ins) != SQLITE_DONE)
            goto fail;
        sqlite3_reset(ins);
    }
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(s, 1, capture_id) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE)
        goto fail;
    st->nrenumber = 0;
    goto out;
fail:
    snprintf(st->errbuf, sizeof st->errbuf, "%s", sqlite3_errmsg(st->db));
    ret = TW_ERR_DB;
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(s);
    return ret;
}

int store_commit(struct store *st)
{
    int ret = txn_commit(st);

    return ret ? ret : txn_begin(st);
}

const char *store_errmsg(struct store *st)
{
    if (!st)
        return "no store";
    if (st->errbuf[0])
        return st->errbuf;
    return sqlite3_errmsg(st->db);
}

void store_close(struct store *st)
{
    if (!st)
        return;
    /* A failed COMMIT leaves the transaction open; closing rolls it back. */
    txn_commit(st);
    for (int i = 0; i < SS_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    for (int i = 0; i < STORE_MAX_SHAPES; i++)
        sqlite3_finalize(st->shape[i].s);
    sqlite3_close_v2(st->db);
    free(st->renumber);
    free(st);
}
