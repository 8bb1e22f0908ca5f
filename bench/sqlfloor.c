/*
 * sqlfloor -- what SQLite alone costs for one analysis' output (bench/run).
 *
 *   sqlfloor SOURCE.db OUT.db
 *
 * Loads every connection, TIME_WAIT and finding row of SOURCE.db (a database
 * twscope wrote) into memory, then writes them again into a new OUT.db with
 * twscope's own store module, on one thread, exactly as the writer thread and
 * the end of `twscope analyze` do: store_open (new file), store_begin_capture,
 * the store_add_* calls (prepared statements in batched transactions),
 * store_finish_capture (index builds, commit), store_close (WAL checkpoint).
 * Only that second part is timed. Rows are written in id order, the cheapest
 * order for the tables' B-trees, so the result is a lower bound on what
 * storing that output costs, whatever thread or design does it.
 *
 * Prints one line: "rows=N wall_s=W cpu_s=C end_s=E" (cpu = user + system;
 * end = the part that cannot start before the last row: store_finish_capture()
 * and store_close(), wall time).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "twscope/store.h"

struct rows {
    struct rec_connection *conn;
    struct rec_timewait *tw;
    struct rec_finding *fnd;
    size_t nconn, ntw, nfnd;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 +
           (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

static void die(const char *what, sqlite3 *db)
{
    fprintf(stderr, "sqlfloor: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
    exit(1);
}

/* A copy of a text column (NULL stays NULL); never freed: the process is short. */
static const char *text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    char *c;
    if (!t)
        return NULL;
    c = strdup((const char *)t);
    if (!c)
        die("strdup", NULL);
    return c;
}

static void ip(sqlite3_stmt *s, int i, char *out)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(out, STORE_IP_LEN, "%s", t ? (const char *)t : "");
}

static int64_t i64(sqlite3_stmt *s, int i) { return sqlite3_column_int64(s, i); }
static double dbl(sqlite3_stmt *s, int i) { return sqlite3_column_double(s, i); }
static int null(sqlite3_stmt *s, int i) { return sqlite3_column_type(s, i) == SQLITE_NULL; }

static size_t count(sqlite3 *db, const char *table)
{
    char sql[128];
    sqlite3_stmt *s;
    size_t n = 0;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        die(sql, db);
    if (sqlite3_step(s) == SQLITE_ROW)
        n = (size_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

static sqlite3_stmt *query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        die(sql, db);
    return s;
}

static void load(const char *path, struct rows *r)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    size_t k;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        die(path, db);
    r->nconn = count(db, "connections");
    r->ntw = count(db, "time_waits");
    r->nfnd = count(db, "findings");
    r->conn = calloc(r->nconn + 1, sizeof(*r->conn));
    r->tw = calloc(r->ntw + 1, sizeof(*r->tw));
    r->fnd = calloc(r->nfnd + 1, sizeof(*r->fnd));
    if (!r->conn || !r->tw || !r->fnd)
        die("calloc", NULL);

    s = query(db, "SELECT id, incarnation, client_ip, client_port, server_ip, server_port,"
                  " ip_version, vlan_outer, vlan_inner, syn_seen, client_isn, server_isn,"
                  " first_frame, first_file, last_frame, last_file, first_ts, last_ts,"
                  " close_kind, active_closer, client_pkts, server_pkts, client_bytes,"
                  " server_bytes, rtt_ms, app_protocol, client_fin_frame, server_fin_frame,"
                  " rst_frame, prev_connection_id, app_guessed FROM connections ORDER BY id");
    for (k = 0; k < r->nconn && sqlite3_step(s) == SQLITE_ROW; k++) {
        struct rec_connection *c = &r->conn[k];
        c->id = i64(s, 0);
        c->incarnation = (uint32_t)i64(s, 1);
        ip(s, 2, c->client_ip);
        c->client_port = (uint16_t)i64(s, 3);
        ip(s, 4, c->server_ip);
        c->server_port = (uint16_t)i64(s, 5);
        c->ip_version = (uint8_t)i64(s, 6);
        c->vlan_outer = (uint16_t)i64(s, 7);
        c->vlan_inner = (uint16_t)i64(s, 8);
        c->syn_seen = (int)i64(s, 9);
        c->has_client_isn = !null(s, 10);
        c->client_isn = (uint32_t)i64(s, 10);
        c->has_server_isn = !null(s, 11);
        c->server_isn = (uint32_t)i64(s, 11);
        c->first_frame = (uint64_t)i64(s, 12);
        c->first_file = (uint32_t)i64(s, 13);
        c->last_frame = (uint64_t)i64(s, 14);
        c->last_file = (uint32_t)i64(s, 15);
        c->first_ts = dbl(s, 16);
        c->last_ts = dbl(s, 17);
        c->close_kind = text(s, 18);
        c->active_closer = text(s, 19);
        c->client_pkts = (uint64_t)i64(s, 20);
        c->server_pkts = (uint64_t)i64(s, 21);
        c->client_bytes = (uint64_t)i64(s, 22);
        c->server_bytes = (uint64_t)i64(s, 23);
        c->rtt_ms = null(s, 24) ? -1.0 : dbl(s, 24);
        c->app_protocol = text(s, 25);
        c->client_fin_frame = (uint64_t)i64(s, 26);
        c->server_fin_frame = (uint64_t)i64(s, 27);
        c->rst_frame = (uint64_t)i64(s, 28);
        c->prev_connection_id = i64(s, 29);
        c->app_guessed = (int)i64(s, 30);
    }
    r->nconn = k;
    sqlite3_finalize(s);

    s = query(db, "SELECT connection_id, side, ip, port, start_ts, start_frame, start_file,"
                  " expected_end_ts, end_ts, end_reason, inferred, profile, profile_reason,"
                  " duration_s, answers FROM time_waits ORDER BY id");
    for (k = 0; k < r->ntw && sqlite3_step(s) == SQLITE_ROW; k++) {
        struct rec_timewait *t = &r->tw[k];
        t->connection_id = i64(s, 0);
        t->side = text(s, 1);
        ip(s, 2, t->ip);
        t->port = (uint16_t)i64(s, 3);
        t->start_ts = dbl(s, 4);
        t->start_frame = (uint64_t)i64(s, 5);
        t->start_file = (uint32_t)i64(s, 6);
        t->expected_end_ts = dbl(s, 7);
        t->end_ts = dbl(s, 8);
        t->end_reason = text(s, 9);
        t->inferred = (int)i64(s, 10);
        t->profile = text(s, 11);
        t->profile_reason = text(s, 12);
        t->duration_s = dbl(s, 13);
        t->answers = (uint32_t)i64(s, 14);
    }
    r->ntw = k;
    sqlite3_finalize(s);

    s = query(db, "SELECT connection_id, kind, frame, file, ts, direction, seq, ack,"
                  " payload_len, flags, detail FROM findings ORDER BY id");
    for (k = 0; k < r->nfnd && sqlite3_step(s) == SQLITE_ROW; k++) {
        struct rec_finding *f = &r->fnd[k];
        f->connection_id = i64(s, 0);
        f->kind = text(s, 1);
        f->frame = (uint64_t)i64(s, 2);
        f->file = (uint32_t)i64(s, 3);
        f->ts = dbl(s, 4);
        f->direction = text(s, 5);
        f->seq = (uint32_t)i64(s, 6);
        f->ack = (uint32_t)i64(s, 7);
        f->payload_len = (uint32_t)i64(s, 8);
        f->flags = (uint8_t)i64(s, 9);
        f->detail = text(s, 10);
    }
    r->nfnd = k;
    sqlite3_finalize(s);
    sqlite3_close(db);
}

int main(int argc, char **argv)
{
    struct rows r;
    struct rec_capture cap;
    struct store *st;
    char err[512];
    double w0, c0, e0;
    int rc = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: sqlfloor SOURCE.db OUT.db\n");
        return 2;
    }
    memset(&r, 0, sizeof(r));
    load(argv[1], &r);

    memset(&cap, 0, sizeof(cap));
    cap.source = argv[1];
    cap.files = 1;
    cap.tw_profile = "linux";
    cap.dpi = 1;
    cap.ps_recv = cap.ps_drop = -1;

    w0 = now_s();
    c0 = cpu_s();
    if (store_open(argv[2], 1, &st, err, sizeof err)) {
        fprintf(stderr, "sqlfloor: %s\n", err);
        return 1;
    }
    rc = store_begin_capture(st, &cap);
    for (size_t i = 0; !rc && i < r.nconn; i++) {
        r.conn[i].capture_id = cap.id;
        rc = store_add_connection(st, &r.conn[i]);
    }
    for (size_t i = 0; !rc && i < r.ntw; i++)
        rc = store_add_timewait(st, &r.tw[i]);
    for (size_t i = 0; !rc && i < r.nfnd; i++)
        rc = store_add_finding(st, &r.fnd[i]);
    cap.complete = 1;
    e0 = now_s();
    if (!rc)
        rc = store_finish_capture(st, &cap);
    if (rc) {
        fprintf(stderr, "sqlfloor: %s: %s\n", argv[2], store_errmsg(st));
        store_close(st);
        return 1;
    }
    store_close(st);
    printf("rows=%zu wall_s=%.6f cpu_s=%.6f end_s=%.6f\n", r.nconn + r.ntw + r.nfnd,
           now_s() - w0, cpu_s() - c0, now_s() - e0);
    return 0;
}
