/*
 * store_merge.c -- twscope merge: several databases into a new one (see store.h).
 *
 * Each source is checked as `query` checks a database (ours, this schema
 * version, exactly our tables), attached read-only (immutable when no writer
 * is at work) and copied into temporary staging tables of the output's
 * connection (temp.m_*), one source at a time, so that there is no limit on
 * the number of sources (SQLite attaches at most 10 databases at once).
 * Then the captures are grouped (shards of one capture become one capture,
 * see group_of()) and everything is written to the output in one
 * transaction, with new ids:
 *   - captures: one per group, in the order the sources were given; a group
 *     of shards gets the counters summed, the earliest first_ts and
 *     started_at, the latest last_ts, complete only when every shard was,
 *     skip_reasons added key by key, shard NULL when every shard of N is
 *     there (else the shards present, "1,3/4");
 *   - merge_sources: one row per source capture (database path as given,
 *     its capture id there, its shard); connections.merge_source names it;
 *   - files: those of the group's first source capture (every shard records
 *     the same files: that is how shards are recognized);
 *   - connections: a capture that came from one source keeps its order of
 *     ids; the shards of a group are interleaved in the order a one-pass run
 *     creates connections (by first frame in a one-file capture; by first_ts,
 *     first_file, first_frame across files), so that ids and every report
 *     ordered by id come out as a one-pass analysis's; prev_connection_id and
 *     the prior_connection_id of a finding's detail follow their connection;
 *   - time_waits and findings: in their source's order for one source; for a
 *     group by start time (time_waits) or frame (findings), then source order.
 * Columns are listed from the output's own tables, so that a column another
 * version adds is copied as it is (only the id columns above are renumbered).
 *
 * Thread: the main thread of `twscope merge`; nothing else runs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store_int.h"
#include "twscope/config.h"
#include "twscope/store.h"

#define MERGE_MAX_SHARDS 1024         /* as analyze --shard */

/* One capture of the output: a source capture, or the shards of one capture. */
struct mgroup {
    char *files_sig;                  /* file_index:size:fingerprint,... ; NULL: not recognisable */
    char *opts_sig;                   /* linktype, tw_profile, dpi, bpf */
    uint32_t n;                       /* shards of N; 0: a whole capture */
    unsigned char have[MERGE_MAX_SHARDS / 8]; /* shards present (bit k-1) */
    int first_src;                    /* source index and capture id of its first member */
    int64_t first_cap;
    int members;
};

struct merge {
    sqlite3 *db;                      /* the output's connection */
    const char *out;
    const char *const *srcs;
    struct mgroup *g;
    size_t ng, gcap;
    char *err;
    size_t errlen;
};

static int fail_sql(struct merge *m, const char *what)
{
    store_set_err(m->err, m->errlen, "%s: %s: %s", m->out, what, sqlite3_errmsg(m->db));
    return TW_ERR_DB;
}

/* Run SQL made with sqlite3_vmprintf() (%q, %Q, %lld...). */
static int execf(struct merge *m, const char *what, const char *fmt, ...)
{
    va_list ap;
    char *sql;
    int rc;

    va_start(ap, fmt);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (!sql) {
        store_set_err(m->err, m->errlen, "%s: out of memory", m->out);
        return TW_ERR_NOMEM;
    }
    rc = sqlite3_exec(m->db, sql, NULL, NULL, NULL);
    sqlite3_free(sql);
    return rc == SQLITE_OK ? 0 : fail_sql(m, what);
}

/*
 * The columns of main.table but those in skip (NULL-terminated), each as
 * prefix.name, joined with ", " (prefix NULL: the bare names). The caller
 * frees it with sqlite3_free(); NULL on error.
 */
static char *col_list(struct merge *m, const char *table, const char *prefix,
                      const char *const *skip)
{
    sqlite3_stmt *s = NULL;
    sqlite3_str *out = sqlite3_str_new(m->db);
    int first = 1, rc;

    rc = sqlite3_prepare_v2(m->db, "SELECT name FROM pragma_table_info(?1, 'main') ORDER BY cid",
                            -1, &s, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        const char *c;
        int skipped = 0;
        if ((rc = sqlite3_step(s)) != SQLITE_ROW)
            break;
        c = (const char *)sqlite3_column_text(s, 0);
        for (const char *const *k = skip; k && *k && !skipped; k++)
            skipped = strcmp(c, *k) == 0;
        if (skipped)
            continue;
        sqlite3_str_appendf(out, "%s%s%s\"%w\"", first ? "" : ", ", prefix ? prefix : "",
                            prefix ? "." : "", c);
        first = 0;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        sqlite3_free(sqlite3_str_finish(out));
        fail_sql(m, "reading the schema");
        return NULL;
    }
    return sqlite3_str_finish(out);
}

/* "K/N" or "K,L,.../N" into n and the bit set; 0, or -1 when it is not one. */
static int parse_shard_set(const char *s, uint32_t *n, unsigned char *have)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    char *end;
    unsigned long v;

    memset(have, 0, MERGE_MAX_SHARDS / 8);
    if (!slash)
        return -1;
    v = strtoul(slash + 1, &end, 10);
    if (*end || v < 1 || v > MERGE_MAX_SHARDS)
        return -1;
    *n = (uint32_t)v;
    for (const char *p = s; p < slash; p = end + 1) {
        v = strtoul(p, &end, 10);
        if (end == p || v < 1 || v > *n || (end != slash && *end != ','))
            return -1;
        have[(v - 1) / 8] |= (unsigned char)(1u << ((v - 1) % 8));
        if (end == slash)
            break;
    }
    return 0;
}

/* The shard text of g: NULL when every shard of N is present (a whole capture). */
static char *shard_text(const struct mgroup *g)
{
    sqlite3_str *out;
    int all = 1, first = 1;

    for (uint32_t k = 0; k < g->n; k++)
        all &= (g->have[k / 8] >> (k % 8)) & 1;
    if (all)
        return NULL;
    out = sqlite3_str_new(NULL);
    for (uint32_t k = 0; k < g->n; k++)
        if ((g->have[k / 8] >> (k % 8)) & 1) {
            sqlite3_str_appendf(out, "%s%u", first ? "" : ",", k + 1);
            first = 0;
        }
    sqlite3_str_appendf(out, "/%u", g->n);
    return sqlite3_str_finish(out);
}

static int overlaps(const struct mgroup *g, uint32_t n, const unsigned char *have)
{
    if (!g->n || !n || g->n != n)
        return 1;
    for (size_t i = 0; i < MERGE_MAX_SHARDS / 8; i++)
        if (g->have[i] & have[i])
            return 1;
    return 0;
}

/*
 * The group of source capture (src, cap): the group of the shards of the
 * same files (same sizes and fingerprints, in the same order) analyzed with
 * the same options, or a new one. The same files twice otherwise (a whole
 * capture and a shard of it, a shard twice, shards of different N) would be
 * counted twice: refused. Returns the group index, or -1 with the error set.
 */
static long group_of(struct merge *m, int src, int64_t cap, const char *shard,
                     const char *files_sig, const char *opts_sig)
{
    unsigned char have[MERGE_MAX_SHARDS / 8];
    uint32_t n = 0;
    struct mgroup *g;

    if (shard && parse_shard_set(shard, &n, have)) {
        store_set_err(m->err, m->errlen, "%s: capture %lld: bad shard '%s'", m->srcs[src],
                      (long long)cap, shard);
        return -1;
    }
    if (!shard)
        memset(have, 0, sizeof have);
    for (size_t i = 0; files_sig && i < m->ng; i++) {
        g = &m->g[i];
        if (!g->files_sig || strcmp(g->files_sig, files_sig) != 0)
            continue;
        if (overlaps(g, n, have)) {
            char *theirs = g->n ? shard_text(g) : NULL;
            char every[32] = "whole";
            if (g->n)
                snprintf(every, sizeof every, "every shard of %u", g->n);
            store_set_err(m->err, m->errlen,
                          "%s: capture %lld (%s) holds the same files as %s: capture %lld"
                          " (with the shards merged into it so far: %s); merging both would"
                          " count their connections twice",
                          m->srcs[src], (long long)cap, shard ? shard : "whole",
                          m->srcs[g->first_src], (long long)g->first_cap,
                          theirs ? theirs : every);
            sqlite3_free(theirs);
            return -1;
        }
        if (strcmp(g->opts_sig, opts_sig) != 0) {
            store_set_err(m->err, m->errlen,
                          "%s: capture %lld: a shard of the same files as %s: capture %lld, "
                          "analyzed with other options (linktype, tw_profile, dpi or bpf)",
                          m->srcs[src], (long long)cap, m->srcs[g->first_src],
                          (long long)g->first_cap);
            return -1;
        }
        for (size_t b = 0; b < sizeof have; b++)
            g->have[b] |= have[b];
        g->members++;
        return (long)i;
    }
    if (m->ng == m->gcap) {
        size_t nc = m->gcap ? m->gcap * 2 : 16;
        struct mgroup *ng = realloc(m->g, nc * sizeof(*ng));
        if (!ng) {
            store_set_err(m->err, m->errlen, "%s: out of memory", m->out);
            return -1;
        }
        m->g = ng;
        m->gcap = nc;
    }
    g = &m->g[m->ng];
    memset(g, 0, sizeof(*g));
    g->files_sig = files_sig ? strdup(files_sig) : NULL;
    g->opts_sig = strdup(opts_sig);
    g->n = n;
    memcpy(g->have, have, sizeof have);
    g->first_src = src;
    g->first_cap = cap;
    g->members = 1;
    if ((files_sig && !g->files_sig) || !g->opts_sig) {
        store_set_err(m->err, m->errlen, "%s: out of memory", m->out);
        return -1;
    }
    return (long)m->ng++;
}

/* Check source i as `query` would, and that it is of this schema version exactly. */
static int check_source(struct merge *m, int i)
{
    sqlite3 *ro = NULL;
    sqlite3_stmt *s = NULL;
    int ret, app = 0, ver = 0;

    ret = store_open_readonly(m->srcs[i], &ro, m->err, m->errlen);
    if (ret)
        return ret;
    if (sqlite3_prepare_v2(ro, "SELECT (SELECT application_id FROM pragma_application_id),"
                               " (SELECT user_version FROM pragma_user_version)",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        app = sqlite3_column_int(s, 0);
        ver = sqlite3_column_int(s, 1);
    }
    sqlite3_finalize(s);
    sqlite3_close(ro);
    if ((uint32_t)app != TWSCOPE_APPLICATION_ID || ver != TWSCOPE_SCHEMA_VERSION) {
        store_set_err(m->err, m->errlen,
                      "%s: database schema version %d%s, merge needs version %d", m->srcs[i], ver,
                      app ? "" : " (an older twscope's)", TWSCOPE_SCHEMA_VERSION);
        return TW_ERR_SCHEMA;
    }
    return 0;
}

/* Copy source i into the staging tables (its own transaction on temp). */
static int stage_source(struct merge *m, int i)
{
    char *uri = store_file_uri(m->srcs[i],
                               store_file_wal_has_data(m->srcs[i]) ? "mode=ro" : "immutable=1");
    int ret;

    if (!uri) {
        store_set_err(m->err, m->errlen, "%s: out of memory", m->out);
        return TW_ERR_NOMEM;
    }
    ret = execf(m, "attaching a source", "ATTACH %Q AS src", uri);
    sqlite3_free(uri);
    if (ret) {
        store_set_err(m->err, m->errlen, "%s: cannot attach: %s", m->srcs[i],
                      sqlite3_errmsg(m->db));
        return ret;
    }
    ret = execf(m, "staging a source",
                "BEGIN;"
                "INSERT INTO temp.m_cap SELECT %d, -1, 0, 0, 0, %Q, * FROM src.captures;"
                "INSERT INTO temp.m_files SELECT %d, * FROM src.files;"
                "INSERT INTO temp.m_conn SELECT %d, * FROM src.connections;"
                "INSERT INTO temp.m_tw SELECT %d, * FROM src.time_waits;"
                "INSERT INTO temp.m_find SELECT %d, * FROM src.findings;"
                "COMMIT",
                i, m->srcs[i], i, i, i, i);
    if (ret) {
        store_set_err(m->err, m->errlen, "%s: reading it: %s", m->srcs[i], sqlite3_errmsg(m->db));
        sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_exec(m->db, "DETACH src", NULL, NULL, NULL);
    return ret;
}

/* Assign every staged capture to its group (temp.m_cap.grp). */
static int assign_groups(struct merge *m)
{
    static const char sql[] =
        "SELECT src, id, shard,"
        " CASE WHEN files > 0 AND (SELECT count(*) FROM temp.m_files f WHERE f.src = c.src"
        "   AND f.capture_id = c.id AND f.fingerprint IS NOT NULL) = files"
        " THEN (SELECT group_concat(k, ',') FROM (SELECT f.file_index || ':' || f.size || ':'"
        "   || f.fingerprint AS k FROM temp.m_files f WHERE f.src = c.src AND f.capture_id = c.id"
        "   ORDER BY f.file_index)) END,"
        " quote(linktype) || ' ' || quote(tw_profile) || ' ' || quote(dpi) || ' ' || quote(bpf)"
        " FROM temp.m_cap c ORDER BY src, id";
    sqlite3_stmt *s = NULL, *u = NULL;
    int rc, ret = 0;

    rc = sqlite3_prepare_v2(m->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(m->db, "UPDATE temp.m_cap SET grp = ?1 WHERE src = ?2 AND id = ?3",
                                -1, &u, NULL);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int src = sqlite3_column_int(s, 0);
        int64_t cap = sqlite3_column_int64(s, 1);
        long g = group_of(m, src, cap, (const char *)sqlite3_column_text(s, 2),
                          (const char *)sqlite3_column_text(s, 3),
                          (const char *)sqlite3_column_text(s, 4));
        if (g < 0) {
            ret = TW_ERR_SCHEMA;
            break;
        }
        sqlite3_bind_int64(u, 1, g);
        sqlite3_bind_int(u, 2, src);
        sqlite3_bind_int64(u, 3, cap);
        if (sqlite3_step(u) != SQLITE_DONE) {
            rc = SQLITE_ERROR;
            break;
        }
        sqlite3_reset(u);
    }
    if (!ret && rc != SQLITE_DONE)
        ret = fail_sql(m, "grouping the captures");
    sqlite3_finalize(s);
    sqlite3_finalize(u);
    return ret;
}

/* Write the captures row, provenance and files of group gi. */
static int write_group(struct merge *m, size_t gi, const char *cap_cols, const char *file_cols)
{
    const struct mgroup *g = &m->g[gi];
    char *shard = g->members > 1 ? shard_text(g) : NULL;
    long long id, gl = (long long)gi;  /* sqlite3_mprintf() has no %zu */
    int ret;

    ret = execf(m, "writing a capture",
                "INSERT INTO main.captures (%s) SELECT %s FROM temp.m_cap"
                " WHERE src = %d AND id = %lld",
                cap_cols, cap_cols, g->first_src, (long long)g->first_cap);
    if (ret)
        goto out;
    id = (long long)sqlite3_last_insert_rowid(m->db);
    if (g->members > 1) {
        ret = execf(m, "summing the shards",
                    "UPDATE main.captures SET"
                    " first_ts = (SELECT min(first_ts) FROM temp.m_cap WHERE grp = %lld),"
                    " last_ts = (SELECT max(last_ts) FROM temp.m_cap WHERE grp = %lld),"
                    " started_at = (SELECT min(started_at) FROM temp.m_cap WHERE grp = %lld),"
                    " packets = (SELECT sum(packets) FROM temp.m_cap WHERE grp = %lld),"
                    " tcp_packets = (SELECT sum(tcp_packets) FROM temp.m_cap WHERE grp = %lld),"
                    " skipped = (SELECT sum(skipped) FROM temp.m_cap WHERE grp = %lld),"
                    " evicted = (SELECT sum(evicted) FROM temp.m_cap WHERE grp = %lld),"
                    " complete = (SELECT min(complete) FROM temp.m_cap WHERE grp = %lld),"
                    " error = (SELECT error FROM temp.m_cap WHERE grp = %lld AND error IS NOT NULL"
                    "   ORDER BY src, id LIMIT 1),"
                    " skip_reasons = (SELECT json_group_object(key, n) FROM"
                    "   (SELECT j.key, sum(j.value) AS n FROM temp.m_cap c,"
                    "     json_each(CASE WHEN json_valid(c.skip_reasons) THEN c.skip_reasons"
                    "       ELSE '{}' END) j"
                    "    WHERE c.grp = %lld GROUP BY j.key ORDER BY min(c.src * 1000000000 + c.id * 1000 + j.id))),"
                    " shard = %Q WHERE id = %lld",
                    gl, gl, gl, gl, gl, gl, gl, gl, gl, gl, shard, id);
        if (ret)
            goto out;
    }
    ret = execf(m, "writing the provenance",
                "UPDATE temp.m_cap SET new_id = %lld, nsrc = %d WHERE grp = %lld;"
                "INSERT INTO main.merge_sources (capture_id, db, db_capture_id, shard, started_at)"
                " SELECT %lld, srcdb, id, shard, started_at FROM temp.m_cap WHERE grp = %lld"
                " ORDER BY src, id;"
                "UPDATE temp.m_cap SET ms = (SELECT s.id FROM main.merge_sources s"
                " WHERE s.capture_id = %lld AND s.db = m_cap.srcdb AND s.db_capture_id = m_cap.id)"
                " WHERE grp = %lld;"
                "INSERT INTO main.files (capture_id, %s) SELECT %lld, %s FROM temp.m_files"
                " WHERE src = %d AND capture_id = %lld ORDER BY id",
                id, g->members, gl, id, gl, id, gl, file_cols, id, file_cols, g->first_src,
                (long long)g->first_cap);
out:
    sqlite3_free(shard);
    return ret;
}

/* Connections, TIME_WAIT periods and findings, with new ids (see the top). */
static int write_rows(struct merge *m)
{
    static const char *const conn_skip[] = {"id", "capture_id", "prev_connection_id",
                                            "merge_source", NULL};
    static const char *const child_skip[] = {"id", "connection_id", "detail", NULL};
    char *conn_cols = col_list(m, "connections", NULL, conn_skip);
    char *conn_sel = col_list(m, "connections", "c", conn_skip);
    char *tw_cols = col_list(m, "time_waits", NULL, child_skip);
    char *tw_sel = col_list(m, "time_waits", "t", child_skip);
    char *f_cols = col_list(m, "findings", NULL, child_skip);
    char *f_sel = col_list(m, "findings", "f", child_skip);
    int ret = TW_ERR_DB;

    if (!conn_cols || !conn_sel || !tw_cols || !tw_sel || !f_cols || !f_sel)
        goto out;
    ret = execf(m, "numbering the connections",
                "INSERT INTO temp.m_cid (src, old_id, new_id, cap, nsrc, files)"
                " SELECT c.src, c.id, (SELECT coalesce(max(id), 0) FROM main.connections)"
                "   + row_number() OVER (ORDER BY m.new_id,"
                "     CASE WHEN m.nsrc = 1 THEN c.id ELSE 0 END,"
                "     CASE WHEN m.files > 1 THEN c.first_ts ELSE 0 END, c.first_file,"
                "     c.first_frame, c.src, c.id),"
                "   m.new_id, m.nsrc, m.files"
                " FROM temp.m_conn c JOIN temp.m_cap m ON m.src = c.src AND m.id = c.capture_id;"
                "INSERT INTO main.connections (id, capture_id, prev_connection_id, merge_source, %s)"
                " SELECT x.new_id, x.cap, p.new_id, m.ms, %s FROM temp.m_conn c"
                " JOIN temp.m_cid x ON x.src = c.src AND x.old_id = c.id"
                " JOIN temp.m_cap m ON m.src = c.src AND m.id = c.capture_id"
                " LEFT JOIN temp.m_cid p ON p.src = c.src AND p.old_id = c.prev_connection_id"
                " ORDER BY x.new_id",
                conn_cols, conn_sel);
    if (ret)
        goto out;
    ret = execf(m, "copying the TIME_WAIT periods",
                "INSERT INTO main.time_waits (connection_id, %s)"
                " SELECT x.new_id, %s FROM temp.m_tw t"
                " JOIN temp.m_cid x ON x.src = t.src AND x.old_id = t.connection_id"
                " ORDER BY x.cap, CASE WHEN x.nsrc = 1 THEN t.id ELSE 0 END, t.start_ts,"
                "   x.new_id, t.side, t.src, t.id",
                tw_cols, tw_sel);
    if (ret)
        goto out;
    ret = execf(m, "copying the findings",
                "INSERT INTO main.findings (connection_id, detail, %s)"
                " SELECT x.new_id, CASE WHEN p.new_id IS NULL THEN f.detail ELSE"
                "   json_set(f.detail, '$.prior_connection_id', p.new_id) END, %s"
                " FROM temp.m_find f"
                " JOIN temp.m_cid x ON x.src = f.src AND x.old_id = f.connection_id"
                " LEFT JOIN temp.m_cid p ON p.src = f.src AND json_valid(f.detail)"
                "   AND p.old_id = json_extract(f.detail, '$.prior_connection_id')"
                " ORDER BY x.cap, CASE WHEN x.nsrc = 1 THEN f.id ELSE 0 END,"
                "   CASE WHEN x.files > 1 THEN f.ts ELSE 0 END, f.file, f.frame, f.src, f.id",
                f_cols, f_sel);
out:
    sqlite3_free(conn_cols);
    sqlite3_free(conn_sel);
    sqlite3_free(tw_cols);
    sqlite3_free(tw_sel);
    sqlite3_free(f_cols);
    sqlite3_free(f_sel);
    return ret;
}

/* The output: a new (or --overwrite emptied) twscope database, opened with URIs allowed. */
static int open_output(struct merge *m, int overwrite)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    char *uri;
    long long held = 0;
    int ret = store_file_open_write(m->out, overwrite, &db, m->err, m->errlen);

    if (ret)
        return ret;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM captures", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        held = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    if (held) {
        store_set_err(m->err, m->errlen,
                      "%s: already holds %lld capture(s); merge writes a new database (use"
                      " another -o, or --overwrite)", m->out, held);
        return TW_ERR_SCHEMA;
    }
    /* ATTACH of a read-only or immutable source needs URI file names */
    uri = store_file_uri(m->out, "mode=rw");
    if (!uri) {
        store_set_err(m->err, m->errlen, "%s: out of memory", m->out);
        return TW_ERR_NOMEM;
    }
    if (sqlite3_open_v2(uri, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        store_set_err(m->err, m->errlen, "%s: cannot open database: %s", m->out,
                      m->db ? sqlite3_errmsg(m->db) : "out of memory");
        sqlite3_free(uri);
        return TW_ERR_IO;
    }
    sqlite3_free(uri);
    sqlite3_busy_timeout(m->db, 5000);
    return execf(m, "setting up",
                 "PRAGMA synchronous = OFF; PRAGMA cache_size = -65536; PRAGMA temp_store = FILE;"
                 "CREATE TEMP TABLE m_cap AS SELECT 0 AS src, 0 AS grp, 0 AS new_id, 0 AS ms,"
                 "  0 AS nsrc, '' AS srcdb, * FROM main.captures WHERE 0;"
                 "CREATE TEMP TABLE m_files AS SELECT 0 AS src, * FROM main.files WHERE 0;"
                 "CREATE TEMP TABLE m_conn AS SELECT 0 AS src, * FROM main.connections WHERE 0;"
                 "CREATE TEMP TABLE m_tw AS SELECT 0 AS src, * FROM main.time_waits WHERE 0;"
                 "CREATE TEMP TABLE m_find AS SELECT 0 AS src, * FROM main.findings WHERE 0;"
                 "CREATE TEMP TABLE m_cid (src INTEGER, old_id INTEGER, new_id INTEGER,"
                 "  cap INTEGER, nsrc INTEGER, files INTEGER, PRIMARY KEY (src, old_id)) WITHOUT ROWID;");
}

/* Sources that are the output, or given twice, would be read while written or counted twice. */
static int check_distinct(struct merge *m, int n)
{
    struct stat so, a, b;
    int have_out = stat(m->out, &so) == 0;

    for (int i = 0; i < n; i++) {
        if (stat(m->srcs[i], &a) != 0) {
            store_set_err(m->err, m->errlen, "%s: %s", m->srcs[i],
                          errno == ENOENT ? "no such database" : strerror(errno));
            return TW_ERR_IO;
        }
        if (have_out && a.st_dev == so.st_dev && a.st_ino == so.st_ino) {
            store_set_err(m->err, m->errlen, "%s: is the output (-o); merge writes a new database",
                          m->srcs[i]);
            return TW_ERR_USAGE;
        }
        for (int j = 0; j < i; j++)
            if (stat(m->srcs[j], &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
                store_set_err(m->err, m->errlen, "%s: given twice (also as %s)", m->srcs[i],
                              m->srcs[j]);
                return TW_ERR_USAGE;
            }
    }
    return 0;
}

static int64_t count_rows(sqlite3 *db, const char *table)
{
    sqlite3_stmt *s = NULL;
    char *sql = sqlite3_mprintf("SELECT count(*) FROM main.\"%w\"", table);
    int64_t n = -1;

    if (sql && sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_free(sql);
    return n;
}

/*
 * After a failure, the output is put back as it was when it was missing or
 * empty (merge made its tables); a database of ours stays, consistent: the
 * merge's one transaction was rolled back.
 */
static void undo_output(const char *out, int was)
{
    char *side;

    if (was == 0)
        return;
    if (was == 1)
        (void)unlink(out);
    else
        (void)truncate(out, 0);
    for (int i = 0; i < 2; i++) {
        side = sqlite3_mprintf("%s%s", out, i ? "-shm" : "-wal");
        if (side)
            (void)unlink(side);
        sqlite3_free(side);
    }
}

int store_merge(const char *out, int overwrite, const char *const *srcs, int n,
                struct store_merge_stats *stats, char *err, size_t errlen)
{
    static const char *const cap_skip[] = {"id", NULL};
    static const char *const file_skip[] = {"id", "capture_id", NULL};
    struct merge m;
    char *cap_cols = NULL, *file_cols = NULL;
    int ret, in_txn = 0;

    struct stat sb;
    /* 1: missing, 2: an empty file, 0: a database (whose is checked at opening) */
    int was = stat(out, &sb) != 0 ? (errno == ENOENT) : (S_ISREG(sb.st_mode) && sb.st_size == 0) * 2;
    int opened = 0;

    memset(&m, 0, sizeof m);
    m.out = out;
    m.srcs = srcs;
    m.err = err;
    m.errlen = errlen;
    if (stats)
        memset(stats, 0, sizeof *stats);
    ret = check_distinct(&m, n);
    for (int i = 0; i < n && !ret; i++)
        ret = check_source(&m, i);
    if (!ret) {
        ret = open_output(&m, overwrite);
        opened = ret == 0 || m.db != NULL;
    }
    for (int i = 0; i < n && !ret; i++)
        ret = stage_source(&m, i);
    if (!ret)
        ret = execf(&m, "indexing the staged rows",
                    "CREATE INDEX temp.m_conn_i ON m_conn (src, id);"
                    "CREATE INDEX temp.m_cap_g ON m_cap (grp);");
    if (!ret)
        ret = assign_groups(&m);
    if (!ret) {
        cap_cols = col_list(&m, "captures", NULL, cap_skip);
        file_cols = col_list(&m, "files", NULL, file_skip);
        ret = cap_cols && file_cols ? 0 : TW_ERR_DB;
    }
    if (!ret) {
        ret = execf(&m, "beginning", "BEGIN IMMEDIATE");
        in_txn = !ret;
    }
    for (size_t g = 0; g < m.ng && !ret; g++)
        ret = write_group(&m, g, cap_cols, file_cols);
    if (!ret)
        ret = write_rows(&m);
    if (!ret && store_build_indexes(m.db) != SQLITE_OK)
        ret = fail_sql(&m, "building the indexes");
    if (!ret) {
        ret = execf(&m, "committing", "COMMIT");
        in_txn = ret != 0 && !sqlite3_get_autocommit(m.db);
    }
    if (in_txn)
        sqlite3_exec(m.db, "ROLLBACK", NULL, NULL, NULL);
    if (!ret && stats) {
        stats->sources = 0;
        for (size_t g = 0; g < m.ng; g++)
            stats->sources += m.g[g].members;
        stats->captures = count_rows(m.db, "captures");
        stats->connections = count_rows(m.db, "connections");
        stats->time_waits = count_rows(m.db, "time_waits");
        stats->findings = count_rows(m.db, "findings");
    }
    sqlite3_free(cap_cols);
    sqlite3_free(file_cols);
    for (size_t g = 0; g < m.ng; g++) {
        free(m.g[g].files_sig);
        free(m.g[g].opts_sig);
    }
    free(m.g);
    sqlite3_close(m.db);
    if (ret && opened)
        undo_output(out, was);
    return ret;
}
