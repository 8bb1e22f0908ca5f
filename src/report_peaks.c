/*
 * report_peaks.c -- the peaks of the ports and timeline reports (`twscope
 * query`, the HTML report), computed in one sorted pass instead of SQL window
 * functions (which took 24 s and 4.7 s on a million connections), as
 * table-valued functions: twscope_ports() and twscope_timeline() (below).
 *
 * twscope_ports(lo, hi, capture) is a table-valued function (an eponymous
 * virtual table, allowed on the query_only connection) with one row per
 * client scope group (capture, client IP, server IP, server port) and per
 * server scope group (capture, server IP, server port), each with its peak.
 * report.c's sql_ports selects from it and formats the rows. The columns are
 * defined as the SQL this replaced defined them (that SQL is kept in
 * tests/test_report.c as the oracle the results are compared with):
 *
 * Client scope: a 4-tuple is busy while its connection is open [first_ts,
 * last_ts] and while the client holds it in TIME_WAIT [start_ts, end]; its
 * intervals are merged into islands (an interval starting after every
 * earlier one ended starts a new island); each island is +1 at its start and
 * -1 at its end, +1 before -1 at equal times (closed intervals); the peak is
 * the largest running sum, at its earliest time. tuples: client ports with an
 * island; outside: those outside [lo, hi]; conns: connections of the group;
 * tws: the client TIME_WAIT rows of the group.
 *
 * Server scope: the server-side TIME_WAIT periods of (capture, server IP,
 * server port), each +1/-1 as they are (no merging); tuples: distinct
 * (client IP, client port); conns: connections to that server endpoint;
 * tws: the periods.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "twscope/report.h"

#define TW_END REPORT_TW_END

enum { COL_O, COL_CAP, COL_CIP, COL_SIP, COL_SPORT, COL_N, COL_T, COL_TUPLES, COL_CONNS,
       COL_TWS, COL_OUTSIDE, COL_PMIN, COL_PMAX, COL_LO, COL_HI, COL_CAPTURE };

struct prow {                        /* one result row */
    int o;
    sqlite3_int64 cap, sport, n, tuples, conns, tws, outside;
    sqlite3_int64 pmin, pmax;        /* client scope: lowest and highest client port in use */
    double t;
    char *cip, *sip;                 /* cip NULL for server rows */
};

struct ev {
    double t;
    int d;                           /* +1 or -1 */
};

struct evbuf {                       /* events of the group being summed */
    struct ev *ev;
    size_t n, cap;
};

struct pcur {
    sqlite3_vtab_cursor base;
    void *rows;                      /* struct prow or struct trow, by function */
    size_t size, n, cap, i;          /* size: bytes of a row */
    struct evbuf eb;
};

/* A text column compared as SQLite's BINARY collation does (NULL first). */
struct key_text {
    char *s;                         /* NULL: SQL NULL */
    size_t len, cap;
};

static int kt_set(struct key_text *k, sqlite3_stmt *s, int col)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    size_t len = (size_t)sqlite3_column_bytes(s, col);
    if (!v) {
        free(k->s);
        k->s = NULL;
        k->len = k->cap = 0;
        return 0;
    }
    if (!k->s || k->cap < len + 1) {
        char *n = realloc(k->s, len + 1);
        if (!n)
            return -1;
        k->s = n;
        k->cap = len + 1;
    }
    memcpy(k->s, v, len);
    k->s[len] = 0;
    k->len = len;
    return 0;
}

static int kt_eq(const struct key_text *k, sqlite3_stmt *s, int col)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    if (!v || !k->s)
        return !v && !k->s;
    return (size_t)sqlite3_column_bytes(s, col) == k->len && memcmp(v, k->s, k->len) == 0;
}

static char *kt_dup(const struct key_text *k)
{
    char *d;
    if (!k->s)
        return NULL;
    d = malloc(k->len + 1);
    if (d)
        memcpy(d, k->s, k->len + 1);
    return d;
}

static int ev_add(struct evbuf *b, double t, int d)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        struct ev *n = realloc(b->ev, cap * sizeof(*n));
        if (!n)
            return -1;
        b->ev = n;
        b->cap = cap;
    }
    b->ev[b->n].t = t;
    b->ev[b->n].d = d;
    b->n++;
    return 0;
}

static int ev_cmp(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return y->d - x->d; /* +1 before -1 */
}

/* The largest running sum of the group's events, at its earliest time; empties b. */
static void ev_peak(struct evbuf *b, sqlite3_int64 *n_out, double *t_out)
{
    sqlite3_int64 n = 0, best = 0;
    double bt = 0;
    int have = 0;
    qsort(b->ev, b->n, sizeof(*b->ev), ev_cmp);
    for (size_t i = 0; i < b->n; i++) {
        n += b->ev[i].d;
        if (!have || n > best) {
            best = n;
            bt = b->ev[i].t;
            have = 1;
        }
    }
    *n_out = best;
    *t_out = bt;
    b->n = 0;
}

/* A new zeroed row at the end of the cursor's rows, or NULL. */
static void *row_add(struct pcur *c)
{
    char *r;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        void *n = realloc(c->rows, cap * c->size);
        if (!n)
            return NULL;
        c->rows = n;
        c->cap = cap;
    }
    r = (char *)c->rows + c->n++ * c->size;
    memset(r, 0, c->size);
    return r;
}

/*
 * Client scope, from rows sorted by (capture, client IP, server IP, server
 * port, client port, start, end): kind 0 a connection, 1 a client TIME_WAIT;
 * start NULL: counted, no interval.
 */
static int client_scope(struct pcur *c, sqlite3 *db, int lo, int hi, sqlite3_int64 capture)
{
    static const char sql[] =
        "SELECT capture_id, client_ip, server_ip, server_port, client_port, first_ts,"
        " max(coalesce(last_ts, first_ts), first_ts), 0 FROM connections"
        " WHERE ?1 = 0 OR capture_id = ?1"
        " UNION ALL"
        " SELECT c.capture_id, c.client_ip, c.server_ip, c.server_port, c.client_port,"
        " t.start_ts, " TW_END ", 1"
        " FROM time_waits t JOIN connections c ON c.id = t.connection_id"
        " WHERE t.side = 'client' AND (?1 = 0 OR c.capture_id = ?1)"
        " ORDER BY 1, 2, 3, 4, 5, 6, 7";
    struct key_text cip = {0}, sip = {0};
    sqlite3_int64 gcap = 0, gsport = 0, cport = 0, conns = 0, tws = 0, tuples = 0, outside = 0;
    sqlite3_int64 pmin = 0, pmax = 0;
    double is = 0, ie = 0, pe = 0;
    int in_group = 0, have_port = 0, have_island = 0, port_busy = 0, rc;
    sqlite3_stmt *s;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    sqlite3_bind_int64(s, 1, capture);
    for (;;) {
        int more = (rc = sqlite3_step(s)) == SQLITE_ROW;
        int same_group = more && in_group && sqlite3_column_int64(s, 0) == gcap &&
                         kt_eq(&cip, s, 1) && kt_eq(&sip, s, 2) &&
                         sqlite3_column_int64(s, 3) == gsport;
        int same_port = same_group && have_port && sqlite3_column_int64(s, 4) == cport;

        if (!same_port && have_island) { /* close the open island */
            if (ev_add(&c->eb, is, 1) || ev_add(&c->eb, ie, -1))
                goto oom;
            have_island = 0;
        }
        if (!same_port && have_port && port_busy) {
            if (!tuples || cport < pmin)
                pmin = cport;
            if (!tuples || cport > pmax)
                pmax = cport;
            tuples++;
            outside += cport < lo || cport > hi;
        }
        if (!same_group && in_group && tuples) {
            struct prow *r = row_add(c);
            if (!r)
                goto oom;
            r->o = 0;
            r->cap = gcap;
            r->cip = kt_dup(&cip);
            r->sip = kt_dup(&sip);
            if ((cip.s && !r->cip) || (sip.s && !r->sip))
                goto oom;
            r->sport = gsport;
            ev_peak(&c->eb, &r->n, &r->t);
            r->tuples = tuples;
            r->conns = conns;
            r->tws = tws;
            r->outside = outside;
            r->pmin = pmin;
            r->pmax = pmax;
        }
        if (!more)
            break;
        if (!same_group) {
            in_group = 1;
            gcap = sqlite3_column_int64(s, 0);
            if (kt_set(&cip, s, 1) || kt_set(&sip, s, 2))
                goto oom;
            gsport = sqlite3_column_int64(s, 3);
            conns = tws = tuples = outside = 0;
            c->eb.n = 0;
        }
        if (!same_port) {
            have_port = 1;
            cport = sqlite3_column_int64(s, 4);
            port_busy = 0;
        }
        if (sqlite3_column_int(s, 7) == 0)
            conns++;
        else
            tws++;
        if (sqlite3_column_type(s, 5) != SQLITE_NULL) {
            double st = sqlite3_column_double(s, 5), en = sqlite3_column_double(s, 6);
            if (!have_island || st > pe) { /* a new island */
                if (have_island && (ev_add(&c->eb, is, 1) || ev_add(&c->eb, ie, -1)))
                    goto oom;
                is = st;
                ie = en;
                pe = en;
                have_island = 1;
            } else {
                if (en > ie)
                    ie = en;
                if (en > pe)
                    pe = en;
            }
            port_busy = 1;
        }
    }
    sqlite3_finalize(s);
    free(cip.s);
    free(sip.s);
    return rc == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
oom:
    sqlite3_finalize(s);
    free(cip.s);
    free(sip.s);
    return SQLITE_NOMEM;
}

/*
 * Server scope, from the server TIME_WAIT rows sorted by (capture, server IP,
 * server port, client IP, client port), merged with the connection counts per
 * server endpoint (sorted the same way).
 */
static int server_scope(struct pcur *c, sqlite3 *db, sqlite3_int64 capture)
{
    static const char sql[] =
        "SELECT c.capture_id, t.ip, t.port, c.client_ip, c.client_port, t.start_ts, " TW_END
        " FROM time_waits t JOIN connections c ON c.id = t.connection_id"
        " WHERE t.side = 'server' AND t.start_ts IS NOT NULL"
        " AND (?1 = 0 OR c.capture_id = ?1) ORDER BY 1, 2, 3, 4, 5";
    static const char sql_conns[] =
        "SELECT capture_id, server_ip, server_port, count(*) FROM connections"
        " WHERE ?1 = 0 OR capture_id = ?1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
    struct key_text sip = {0}, cip = {0};
    sqlite3_int64 gcap = 0, gport = 0, cport = 0, tws = 0, tuples = 0;
    int in_group = 0, have_pair = 0, rc, crc = SQLITE_ROW, ret = SQLITE_OK;
    sqlite3_stmt *s = NULL, *sc = NULL;
    size_t first = c->n;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql_conns, -1, &sc, NULL) != SQLITE_OK) {
        ret = SQLITE_ERROR;
        goto out;
    }
    sqlite3_bind_int64(s, 1, capture);
    sqlite3_bind_int64(sc, 1, capture);
    for (;;) {
        int more = (rc = sqlite3_step(s)) == SQLITE_ROW;
        int same_group = more && in_group && sqlite3_column_int64(s, 0) == gcap &&
                         kt_eq(&sip, s, 1) && sqlite3_column_int64(s, 2) == gport;

        if (!same_group && in_group) {
            struct prow *r = row_add(c);
            if (!r)
                goto oom;
            r->o = 1;
            r->cap = gcap;
            r->sip = kt_dup(&sip);
            if (sip.s && !r->sip)
                goto oom;
            r->sport = gport;
            ev_peak(&c->eb, &r->n, &r->t);
            r->tuples = tuples;
            r->tws = tws;
        }
        if (!more)
            break;
        if (!same_group) {
            in_group = 1;
            gcap = sqlite3_column_int64(s, 0);
            if (kt_set(&sip, s, 1))
                goto oom;
            gport = sqlite3_column_int64(s, 2);
            tws = tuples = 0;
            have_pair = 0;
            c->eb.n = 0;
        }
        tws++;
        /* count(DISTINCT client_ip || ' ' || client_port): NULL parts count nothing */
        if (sqlite3_column_type(s, 3) != SQLITE_NULL && sqlite3_column_type(s, 4) != SQLITE_NULL &&
            !(have_pair && kt_eq(&cip, s, 3) && sqlite3_column_int64(s, 4) == cport)) {
            if (kt_set(&cip, s, 3))
                goto oom;
            cport = sqlite3_column_int64(s, 4);
            have_pair = 1;
            tuples++;
        }
        if (ev_add(&c->eb, sqlite3_column_double(s, 5), 1) ||
            ev_add(&c->eb, sqlite3_column_double(s, 6), -1))
            goto oom;
    }
    if (rc != SQLITE_DONE) {
        ret = SQLITE_ERROR;
        goto out;
    }
    /* connections per server endpoint: both lists are in the same order */
    crc = sqlite3_step(sc);
    for (size_t i = first; i < c->n && crc == SQLITE_ROW; i++) {
        struct prow *r = (struct prow *)c->rows + i;
        for (;;) {
            sqlite3_int64 kc = sqlite3_column_int64(sc, 0), kp;
            const unsigned char *ks = sqlite3_column_text(sc, 1);
            int cmp = kc < r->cap ? -1 : kc > r->cap;
            if (!cmp) {
                if (!ks || !r->sip)
                    cmp = !ks ? (r->sip ? -1 : 0) : 1;
                else
                    cmp = strcmp((const char *)ks, r->sip);
            }
            if (!cmp) {
                kp = sqlite3_column_int64(sc, 2);
                cmp = kp < r->sport ? -1 : kp > r->sport;
            }
            if (cmp > 0)
                break;
            if (cmp == 0)
                r->conns = sqlite3_column_int64(sc, 3);
            crc = sqlite3_step(sc);
            if (crc != SQLITE_ROW || cmp == 0)
                break;
        }
    }
    if (crc != SQLITE_ROW && crc != SQLITE_DONE)
        ret = SQLITE_ERROR;
    goto out;
oom:
    ret = SQLITE_NOMEM;
out:
    sqlite3_finalize(s);
    sqlite3_finalize(sc);
    free(sip.s);
    free(cip.s);
    return ret;
}

/* ---- twscope_timeline(cap, t0, w, nb, by) --------------------------------------- */

/*
 * One capture's timeline buckets, per series: for each (key, bucket b) that
 * has events, the highest number of TIME_WAIT periods open at an event inside
 * it (mx) and the earliest time it was reached (mt), its net change (net)
 * and the periods that started in it (started).
 * Each period is +1 at its start and -1 at its end, +1 first at equal times;
 * an event at time t falls in bucket max(0, min(nb - 1, (t - t0) / w)).
 * report.c's TIMELINE_REST calls it once per capture with that capture's
 * axis (steps) and fills in the buckets without events.
 */
struct trow {
    char *key;
    sqlite3_int64 b, mx, net, started;
    double mt;                       /* earliest time the level was mx */
};

enum { TCOL_KEY, TCOL_B, TCOL_MX, TCOL_NET, TCOL_STARTED, TCOL_MT, TCOL_CAP, TCOL_T0, TCOL_W,
       TCOL_NB, TCOL_BY };

static const char *const timeline_keys[] = {
    [REPORT_BY_NONE] = REPORT_KEY_NONE,
    [REPORT_BY_SIDE] = REPORT_KEY_SIDE,
    [REPORT_BY_HOST] = REPORT_KEY_HOST,
    [REPORT_BY_APP] = REPORT_KEY_APP,
};

/* The buckets of one series: its events, sorted, summed, cut by bucket. */
static int series_rows(struct pcur *c, const struct key_text *key, double t0, double w,
                       sqlite3_int64 nb)
{
    sqlite3_int64 n = 0;
    struct trow *r = NULL;
    qsort(c->eb.ev, c->eb.n, sizeof(*c->eb.ev), ev_cmp);
    for (size_t i = 0; i < c->eb.n; i++) {
        const struct ev *e = &c->eb.ev[i];
        double x = (e->t - t0) / w;
        /* max(0, min(nb - 1, CAST(x AS INTEGER))), CAST truncating toward zero */
        sqlite3_int64 b = x <= 0 ? 0 : x >= (double)(nb - 1) ? nb - 1 : (sqlite3_int64)x;
        n += e->d;
        if (!r || r->b != b) {
            r = row_add(c);
            if (!r)
                return SQLITE_NOMEM;
            r->key = kt_dup(key);
            if (key->s && !r->key)
                return SQLITE_NOMEM;
            r->b = b;
            r->mx = n;
            r->mt = e->t;
        }
        if (n > r->mx) {
            r->mx = n;
            r->mt = e->t;
        }
        r->net += e->d;
        r->started += e->d > 0;
    }
    c->eb.n = 0;
    return SQLITE_OK;
}

static int timeline_rows(struct pcur *c, sqlite3 *db, sqlite3_int64 cap, double t0, double w,
                         sqlite3_int64 nb, int by)
{
    char sql[512];
    struct key_text key = {0};
    sqlite3_stmt *s = NULL;
    int in_series = 0, rc, ret = SQLITE_OK;

    if (by < REPORT_BY_NONE || by > REPORT_BY_APP || !(w > 0) || nb < 1)
        return SQLITE_ERROR;
    snprintf(sql, sizeof sql,
             "SELECT %s, t.start_ts, " TW_END " FROM time_waits t"
             " JOIN connections c ON c.id = t.connection_id"
             " WHERE t.start_ts IS NOT NULL AND c.capture_id = ?1 ORDER BY 1",
             timeline_keys[by]);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    sqlite3_bind_int64(s, 1, cap);
    for (;;) {
        int more = (rc = sqlite3_step(s)) == SQLITE_ROW;
        if (in_series && (!more || !kt_eq(&key, s, 0))) {
            ret = series_rows(c, &key, t0, w, nb);
            if (ret)
                break;
            in_series = 0;
        }
        if (!more) {
            if (rc != SQLITE_DONE)
                ret = SQLITE_ERROR;
            break;
        }
        if (!in_series) {
            if (kt_set(&key, s, 0)) {
                ret = SQLITE_NOMEM;
                break;
            }
            in_series = 1;
        }
        if (ev_add(&c->eb, sqlite3_column_double(s, 1), 1) ||
            ev_add(&c->eb, sqlite3_column_double(s, 2), -1)) {
            ret = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(s);
    free(key.s);
    return ret;
}

/* ---- the table-valued functions ------------------------------------------------ */

/* What distinguishes the functions; the virtual table callbacks below are shared. */
struct peaks_fn {
    const char *name;
    const char *schema;              /* the rows' columns, then the arguments (HIDDEN) */
    int first_arg, nargs;            /* column of the first argument; how many (all required) */
    size_t row_size;
    int (*compute)(struct pcur *c, sqlite3 *db, sqlite3_value **argv);
    void (*column)(const void *row, sqlite3_context *ctx, int col);
    void (*free_row)(void *row);
};

static void result_text(sqlite3_context *ctx, const char *s)
{
    if (s)
        sqlite3_result_text(ctx, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(ctx);
}

static int ports_compute(struct pcur *c, sqlite3 *db, sqlite3_value **argv)
{
    int rc = client_scope(c, db, sqlite3_value_int(argv[0]), sqlite3_value_int(argv[1]),
                          sqlite3_value_int64(argv[2]));
    return rc == SQLITE_OK ? server_scope(c, db, sqlite3_value_int64(argv[2])) : rc;
}

static void ports_column(const void *row, sqlite3_context *ctx, int col)
{
    const struct prow *r = row;
    switch (col) {
    case COL_O: sqlite3_result_int(ctx, r->o); break;
    case COL_CAP: sqlite3_result_int64(ctx, r->cap); break;
    case COL_CIP: result_text(ctx, r->cip); break;
    case COL_SIP: result_text(ctx, r->sip); break;
    case COL_SPORT: sqlite3_result_int64(ctx, r->sport); break;
    case COL_N: sqlite3_result_int64(ctx, r->n); break;
    case COL_T: sqlite3_result_double(ctx, r->t); break;
    case COL_TUPLES: sqlite3_result_int64(ctx, r->tuples); break;
    case COL_CONNS: sqlite3_result_int64(ctx, r->conns); break;
    case COL_TWS: sqlite3_result_int64(ctx, r->tws); break;
    case COL_OUTSIDE: sqlite3_result_int64(ctx, r->outside); break;
    case COL_PMIN:
        if (r->o == 0)
            sqlite3_result_int64(ctx, r->pmin);
        else
            sqlite3_result_null(ctx);
        break;
    case COL_PMAX:
        if (r->o == 0)
            sqlite3_result_int64(ctx, r->pmax);
        else
            sqlite3_result_null(ctx);
        break;
    default: sqlite3_result_null(ctx); break;
    }
}

static void ports_free(void *row)
{
    struct prow *r = row;
    free(r->cip);
    free(r->sip);
}

static int timeline_compute(struct pcur *c, sqlite3 *db, sqlite3_value **argv)
{
    return timeline_rows(c, db, sqlite3_value_int64(argv[0]), sqlite3_value_double(argv[1]),
                         sqlite3_value_double(argv[2]), sqlite3_value_int64(argv[3]),
                         sqlite3_value_int(argv[4]));
}

static void timeline_column(const void *row, sqlite3_context *ctx, int col)
{
    const struct trow *r = row;
    switch (col) {
    case TCOL_KEY: result_text(ctx, r->key); break;
    case TCOL_B: sqlite3_result_int64(ctx, r->b); break;
    case TCOL_MX: sqlite3_result_int64(ctx, r->mx); break;
    case TCOL_NET: sqlite3_result_int64(ctx, r->net); break;
    case TCOL_STARTED: sqlite3_result_int64(ctx, r->started); break;
    case TCOL_MT: sqlite3_result_double(ctx, r->mt); break;
    default: sqlite3_result_null(ctx); break;
    }
}

static void timeline_free(void *row) { free(((struct trow *)row)->key); }

static const struct peaks_fn fn_ports = {
    "twscope_ports",
    "CREATE TABLE x(o INTEGER, cap INTEGER, cip TEXT, sip TEXT, sport INTEGER, n INTEGER,"
    " t REAL, tuples INTEGER, conns INTEGER, tws INTEGER, outside INTEGER,"
    " pmin INTEGER, pmax INTEGER, lo HIDDEN, hi HIDDEN, capture HIDDEN)",
    COL_LO, 3, sizeof(struct prow), ports_compute, ports_column, ports_free,
};

static const struct peaks_fn fn_timeline = {
    "twscope_timeline",
    "CREATE TABLE x(key TEXT, b INTEGER, mx INTEGER, net INTEGER, started INTEGER, mt REAL,"
    " cap HIDDEN, t0 HIDDEN, w HIDDEN, nb HIDDEN, by HIDDEN)",
    TCOL_CAP, 5, sizeof(struct trow), timeline_compute, timeline_column, timeline_free,
};

struct pvtab {
    sqlite3_vtab base;
    sqlite3 *db;
    const struct peaks_fn *fn;
};

static int f_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **out, char **err)
{
    const struct peaks_fn *fn = aux;
    struct pvtab *v;
    int rc = sqlite3_declare_vtab(db, fn->schema);
    (void)argc;
    (void)argv;
    (void)err;
    if (rc != SQLITE_OK)
        return rc;
    v = sqlite3_malloc(sizeof(*v));
    if (!v)
        return SQLITE_NOMEM;
    memset(v, 0, sizeof(*v));
    v->db = db;
    v->fn = fn;
    *out = &v->base;
    return SQLITE_OK;
}

static int f_disconnect(sqlite3_vtab *v)
{
    sqlite3_free(v);
    return SQLITE_OK;
}

/* Every argument is required, as an equality constraint on its hidden column. */
static int f_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    const struct peaks_fn *fn = ((struct pvtab *)vt)->fn;
    int seen = 0;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *k = &info->aConstraint[i];
        int arg = k->iColumn - fn->first_arg;
        if (arg < 0 || arg >= fn->nargs)
            continue;
        if (!k->usable || k->op != SQLITE_INDEX_CONSTRAINT_EQ)
            return SQLITE_CONSTRAINT;
        info->aConstraintUsage[i].argvIndex = arg + 1;
        info->aConstraintUsage[i].omit = 1;
        seen |= 1 << arg;
    }
    if (seen != (1 << fn->nargs) - 1)
        return SQLITE_CONSTRAINT;
    info->estimatedCost = 1e6;
    return SQLITE_OK;
}

static int f_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    struct pcur *c = sqlite3_malloc(sizeof(*c));
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof(*c));
    c->size = ((struct pvtab *)vt)->fn->row_size;
    *out = &c->base;
    return SQLITE_OK;
}

static void rows_clear(struct pcur *c)
{
    const struct peaks_fn *fn = ((struct pvtab *)c->base.pVtab)->fn;
    for (size_t i = 0; i < c->n; i++)
        fn->free_row((char *)c->rows + i * c->size);
    c->n = c->i = 0;
    c->eb.n = 0;
}

static int f_close(sqlite3_vtab_cursor *cur)
{
    struct pcur *c = (struct pcur *)cur;
    rows_clear(c);
    free(c->rows);
    free(c->eb.ev);
    sqlite3_free(c);
    return SQLITE_OK;
}

static int f_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
                    sqlite3_value **argv)
{
    struct pcur *c = (struct pcur *)cur;
    const struct pvtab *v = (const struct pvtab *)cur->pVtab;
    int rc;
    (void)idx;
    (void)idxstr;
    rows_clear(c);
    if (argc != v->fn->nargs)
        return SQLITE_ERROR;
    rc = v->fn->compute(c, v->db, argv);
    if (rc != SQLITE_OK) {
        rows_clear(c);
        if (rc == SQLITE_ERROR) {
            sqlite3_free(cur->pVtab->zErrMsg);
            cur->pVtab->zErrMsg = sqlite3_mprintf("%s: %s", v->fn->name, sqlite3_errmsg(v->db));
        }
    }
    return rc;
}

static int f_next(sqlite3_vtab_cursor *cur)
{
    ((struct pcur *)cur)->i++;
    return SQLITE_OK;
}

static int f_eof(sqlite3_vtab_cursor *cur)
{
    const struct pcur *c = (const struct pcur *)cur;
    return c->i >= c->n;
}

static int f_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    const struct pcur *c = (const struct pcur *)cur;
    ((const struct pvtab *)cur->pVtab)->fn->column((const char *)c->rows + c->i * c->size, ctx,
                                                   col);
    return SQLITE_OK;
}

static int f_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    *rowid = (sqlite3_int64)((struct pcur *)cur)->i + 1;
    return SQLITE_OK;
}

/* Eponymous only (no xCreate): used as twscope_ports(...), twscope_timeline(...). */
static const sqlite3_module peaks_module = {
    .iVersion = 0,
    .xConnect = f_connect,
    .xBestIndex = f_best_index,
    .xDisconnect = f_disconnect,
    .xOpen = f_open,
    .xClose = f_close,
    .xFilter = f_filter,
    .xNext = f_next,
    .xEof = f_eof,
    .xColumn = f_column,
    .xRowid = f_rowid,
};

int report_peaks_register(struct sqlite3 *db)
{
    if (sqlite3_create_module(db, fn_ports.name, &peaks_module, (void *)&fn_ports) != SQLITE_OK ||
        sqlite3_create_module(db, fn_timeline.name, &peaks_module, (void *)&fn_timeline) !=
            SQLITE_OK)
        return -1;
    return 0;
}
