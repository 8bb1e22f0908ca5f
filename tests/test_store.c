/*
 * test_store.c -- store.c and report.c against real SQLite databases in a
 * temporary directory: schema and NULL mapping, batching, version checks,
 * overwrite, bad paths, every report in every format, read-only `sql`, and
 * other programs' databases left byte for byte as they were.
 */
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "test.h"
#include "twscope/config.h"
#include "twscope/decode.h"
#include "twscope/report.h"
#include "twscope/store.h"

static char tmpdir[64];

static const char *reason_name(int i) { return decode_result_name((enum decode_result)i); }

static void db_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* One integer from a query on a separate connection, -1 on any error. */
static long long q_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    long long v = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    if (!s && db)
        fprintf(stderr, "q_int(%s): %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* One text value (copied into buf, "" if NULL, "<error>" on error). */
static const char *q_text(const char *path, const char *sql, char *buf, size_t n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;

    snprintf(buf, n, "<error>");
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(buf, n, "%s", t ? (const char *)t : "");
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return buf;
}

static int exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);

    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static void fill_capture(struct rec_capture *c)
{
    memset(c, 0, sizeof *c);
    c->source = "a.pcap, b.pcap";
    c->linktype = 1;
    c->files = 2;
    c->tw_profile = "auto";
    c->dpi = 1;
    c->ps_recv = -1;
    c->ps_drop = -1;
}

static void fill_connection(struct rec_connection *r, int64_t id, int64_t capture_id)
{
    memset(r, 0, sizeof *r);
    r->id = id;
    r->capture_id = capture_id;
    r->incarnation = 1;
    snprintf(r->client_ip, sizeof r->client_ip, "10.0.0.1");
    snprintf(r->server_ip, sizeof r->server_ip, "10.0.0.2");
    r->client_port = (uint16_t)(1024 + id % 60000);
    r->server_port = 80;
    r->ip_version = 4;
    r->syn_seen = 1;
    r->first_frame = (uint64_t)id * 10;
    r->last_frame = (uint64_t)id * 10 + 9;
    r->first_ts = 1700000000.0 + (double)id;
    r->last_ts = r->first_ts + 0.5;
    r->close_kind = "fin";
    r->client_pkts = 5;
    r->server_pkts = 4;
    r->client_bytes = 500;
    r->server_bytes = 4000;
    r->rtt_ms = -1;
}

/* ---- store ---- */

static int test_write_and_read_back(void)
{
    char path[128], buf[512], err[256] = "";
    char expect[256];
    struct store *st = NULL;
    struct rec_capture c;
    struct rec_connection r;
    struct rec_timewait tw;
    struct rec_finding f;

    db_path(path, sizeof path, "write.db");
    FAIL_IF(store_open(path, 0, &st, err, sizeof err) != 0);
    FAIL_IF(st == NULL);
    FAIL_UNLESS(store_next_connection_id(st) == 1);

    fill_capture(&c);
    FAIL_IF(store_begin_capture(st, &c) != 0);
    FAIL_UNLESS(c.id == 1);
    /* killed-run view: the capture row is already committed, marked incomplete */
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM captures WHERE complete = 0") == 1);
    FAIL_UNLESS(q_int(path, "PRAGMA user_version") == TWSCOPE_SCHEMA_VERSION);
    FAIL_UNLESS(q_int(path, "PRAGMA application_id") == TWSCOPE_APPLICATION_ID);
    FAIL_UNLESS(q_int(path, "PRAGMA page_size") == 16384);
    FAIL_UNLESS(strcmp(q_text(path, "PRAGMA journal_mode", buf, sizeof buf), "wal") == 0);

    /* Exactly one batch is committed by itself; the next row waits. */
    for (int64_t id = 1; id <= STORE_BATCH_ROWS; id++) {
        fill_connection(&r, id, c.id);
        if (store_add_connection(st, &r) != 0) {
            fprintf(stderr, "add_connection: %s\n", store_errmsg(st));
            return 1;
        }
    }
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM connections") == STORE_BATCH_ROWS);

    /* A connection with every optional field present (IPv6). */
    fill_connection(&r, STORE_BATCH_ROWS + 1, c.id);
    snprintf(r.client_ip, sizeof r.client_ip, "2001:db8::1");
    snprintf(r.server_ip, sizeof r.server_ip, "2001:db8::2");
    r.ip_version = 6;
    r.incarnation = 2;
    r.has_client_isn = r.has_server_isn = 1;
    r.client_isn = 4294967295u;
    r.server_isn = 7;
    r.active_closer = "client";
    r.rtt_ms = 12.5;
    r.app_protocol = "TLS";
    r.client_fin_frame = 11;
    r.server_fin_frame = 12;
    r.rst_frame = 13;
    r.prev_connection_id = 1;
    r.vlan_outer = 100;
    FAIL_IF(store_add_connection(st, &r) != 0);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM connections") == STORE_BATCH_ROWS);
    FAIL_IF(store_commit(st) != 0);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM connections") == STORE_BATCH_ROWS + 1);
    FAIL_UNLESS(store_next_connection_id(st) == STORE_BATCH_ROWS + 2);

    memset(&tw, 0, sizeof tw);
    tw.connection_id = 1;
    tw.side = "client";
    snprintf(tw.ip, sizeof tw.ip, "10.0.0.1");
    tw.port = 1025;
    tw.start_ts = 1700000001.5;
    tw.start_frame = 19;
    tw.expected_end_ts = 1700000061.5;
    tw.end_ts = 1700000061.5;
    tw.end_reason = "expired";
    tw.profile = "linux";
    tw.profile_reason = "option";
    tw.duration_s = 60;
    tw.answers = 2;
    FAIL_IF(store_add_timewait(st, &tw) != 0);

    memset(&f, 0, sizeof f);
    f.connection_id = 1;
    f.kind = "fin_retransmission";
    f.frame = 18;
    f.ts = 1700000001.25;
    f.direction = "server";
    f.seq = 4000000000u;
    f.ack = 1;
    f.flags = TCPF_FIN | TCPF_ACK;
    FAIL_IF(store_add_finding(st, &f) != 0);

    c.packets = 1234;
    c.tcp_packets = 1200;
    c.reason_name = reason_name;
    c.reasons[DECODE_NOT_TCP] = 30;
    c.reasons[DECODE_TRUNC_IP] = 4;
    c.skipped = 4;
    c.first_ts = 1700000000.125;
    c.last_ts = 1700020001.5;
    c.complete = 1;
    c.evicted = 3;
    FAIL_IF(store_finish_capture(st, &c) != 0);
    /* Rows after finish start a new transaction lazily. */
    fill_connection(&r, STORE_BATCH_ROWS + 2, c.id);
    FAIL_IF(store_add_connection(st, &r) != 0);
    store_close(st);

    FAIL_UNLESS(q_int(path, "PRAGMA user_version") == TWSCOPE_SCHEMA_VERSION);
    FAIL_UNLESS(strcmp(q_text(path, "PRAGMA journal_mode", buf, sizeof buf), "wal") == 0);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                            " AND name NOT LIKE 'sqlite%'") == 4); /* built at finish */
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM connections") == STORE_BATCH_ROWS + 2);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM time_waits") == 1);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM findings") == 1);

    /* capture row */
    FAIL_UNLESS(q_int(path, "SELECT complete FROM captures WHERE id = 1") == 1);
    FAIL_UNLESS(q_int(path, "SELECT packets FROM captures") == 1234);
    FAIL_UNLESS(q_int(path, "SELECT evicted FROM captures") == 3);
    FAIL_UNLESS(q_int(path, "SELECT ps_recv IS NULL AND ps_drop IS NULL AND error IS NULL"
                            " AND bpf IS NULL FROM captures") == 1);
    FAIL_UNLESS(q_int(path, "SELECT typeof(first_ts) = 'real' AND first_ts = 1700000000.125"
                            " AND started_at > 1600000000 FROM captures") == 1);
    snprintf(expect, sizeof expect, "{\"%s\":30,\"%s\":4}", decode_result_name(DECODE_NOT_TCP),
             decode_result_name(DECODE_TRUNC_IP));
    FAIL_UNLESS(strcmp(q_text(path, "SELECT skip_reasons FROM captures", buf, sizeof buf),
                       expect) == 0);
    FAIL_UNLESS(strcmp(q_text(path, "SELECT source FROM captures", buf, sizeof buf),
                       "a.pcap, b.pcap") == 0);

    /* NULL mapping of a sparse connection */
    FAIL_UNLESS(q_int(path, "SELECT rtt_ms IS NULL AND app_protocol IS NULL AND active_closer"
                            " IS NULL AND client_isn IS NULL AND server_isn IS NULL AND"
                            " client_fin_frame IS NULL AND server_fin_frame IS NULL AND"
                            " rst_frame IS NULL AND prev_connection_id IS NULL"
                            " FROM connections WHERE id = 1") == 1);
    /* ... and of a full one */
    FAIL_UNLESS(q_int(path, "SELECT client_isn FROM connections WHERE id = 20001") ==
                4294967295LL);
    FAIL_UNLESS(q_int(path, "SELECT rtt_ms = 12.5 AND app_protocol = 'TLS' AND active_closer"
                            " = 'client' AND server_isn = 7 AND client_fin_frame = 11 AND"
                            " server_fin_frame = 12 AND rst_frame = 13 AND"
                            " prev_connection_id = 1 AND vlan_outer = 100 AND ip_version = 6"
                            " AND client_ip = '2001:db8::1' AND incarnation = 2"
                            " FROM connections WHERE id = 20001") == 1);
    FAIL_UNLESS(q_int(path, "SELECT typeof(client_port) = 'integer' AND typeof(first_ts) ="
                            " 'real' AND typeof(client_ip) = 'text' FROM connections"
                            " WHERE id = 2") == 1);
    FAIL_UNLESS(q_int(path, "SELECT seq FROM findings") == 4000000000LL);
    FAIL_UNLESS(q_int(path, "SELECT flags = 17 AND detail IS NULL AND kind ="
                            " 'fin_retransmission' FROM findings") == 1);
    FAIL_UNLESS(q_int(path, "SELECT end_reason = 'expired' AND duration_s = 60 AND answers = 2"
                            " AND profile_reason = 'option' AND inferred = 0 FROM time_waits") ==
                1);
    PASS;
}

static int add_some(const char *path, int overwrite, int nconn)
{
    char err[256];
    struct store *st = NULL;
    struct rec_capture c;
    struct rec_connection r;
    struct rec_finding f;
    int ret;

    ret = store_open(path, overwrite, &st, err, sizeof err);
    if (ret) {
        fprintf(stderr, "%s\n", err);
        return ret;
    }
    fill_capture(&c);
    ret = store_begin_capture(st, &c);
    for (int i = 0; ret == 0 && i < nconn; i++) {
        int64_t id = store_next_connection_id(st);
        fill_connection(&r, id, c.id);
        memset(&f, 0, sizeof f);
        f.connection_id = id;
        f.kind = "late_segment";
        ret = store_add_connection(st, &r);
        if (ret == 0)
            ret = store_add_finding(st, &f);
    }
    if (ret == 0) {
        c.complete = 1;
        ret = store_finish_capture(st, &c);
    }
    store_close(st);
    return ret;
}

static int test_schema_version_mismatch(void)
{
    char path[128], err[512] = "", expect[512];
    struct store *st = NULL;

    /* ours (application_id and tables), but another schema version */
    db_path(path, sizeof path, "v99.db");
    FAIL_IF(store_open(path, 0, &st, err, sizeof err) != 0);
    store_close(st);
    st = NULL;
    FAIL_IF(exec_sql(path, "PRAGMA user_version = 99;") != SQLITE_OK);
    FAIL_UNLESS(store_open(path, 0, &st, err, sizeof err) == TW_ERR_SCHEMA);
    FAIL_UNLESS(st == NULL);
    snprintf(expect, sizeof expect, "%s: database schema version 99, this twscope needs %d",
             path, TWSCOPE_SCHEMA_VERSION);
    FAIL_UNLESS(strcmp(err, expect) == 0);
    FAIL_UNLESS(store_open(path, 1, &st, err, sizeof err) == TW_ERR_SCHEMA);
    FAIL_UNLESS(q_int(path, "PRAGMA user_version") == 99);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'") == 6);
    PASS;
}

/* The whole file, malloc'd (NULL if it cannot be read); *len its size. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;

    *len = 0;
    if (!fp)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL && fread(buf, 1, (size_t)n, fp) == (size_t)n) {
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    return buf;
}

/* How many of PATH-wal, PATH-shm, PATH-journal exist. */
static int side_files(const char *path)
{
    static const char *const sfx[] = {"-wal", "-shm", "-journal"};
    char p[256];
    int n = 0;

    for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        n += access(p, F_OK) == 0;
    }
    return n;
}

static int one_line(const char *s)
{
    return s[0] != '\0' && strchr(s, '\n') == NULL;
}

/*
 * Other programs' databases (issue 16): neither analyze (with or without
 * --overwrite) nor a reader changes a byte of them, nor leaves a journal, WAL
 * or shared-memory file next to them, and each is refused with one line
 * naming it.
 */
static int test_foreign_untouched(void)
{
    static const struct {
        const char *sql;        /* what the other program did */
        const char *says;       /* in the writer's message */
    } cases[] = {
        /* the case: a table named connections and a common user_version */
        {"CREATE TABLE connections(a, b); INSERT INTO connections VALUES (1, 'keep me');"
         " PRAGMA user_version = 2;", "not a twscope database; left as it is"},
        /* all four of our table names, other columns */
        {"CREATE TABLE captures(x); CREATE TABLE connections(x); CREATE TABLE time_waits(x);"
         " CREATE TABLE findings(x); INSERT INTO findings VALUES (1); PRAGMA user_version = 2;",
         "not a twscope database"},
        /* another program's application_id, with or without tables */
        {"PRAGMA application_id = 1234567; CREATE TABLE t(x); INSERT INTO t VALUES (1);",
         "(application_id 0x0012d687)"},
        {"PRAGMA application_id = 42;", "(application_id 0x0000002a)"},
        /* no table, but not empty either */
        {"PRAGMA user_version = 5;", "not a twscope database"},
        {"CREATE VIEW v AS SELECT 1 AS one;", "not a twscope database"},
        /* WAL mode (its -wal and -shm files are gone once the program closed it) */
        {"PRAGMA journal_mode = WAL; CREATE TABLE connections(a, b);"
         " INSERT INTO connections VALUES (1, 2); PRAGMA user_version = 2;",
         "not a twscope database"},
        {"PRAGMA journal_mode = WAL; PRAGMA user_version = 0;", "not a twscope database"},
        /* our application_id on tables that are not ours */
        {"PRAGMA application_id = 1953985379; CREATE TABLE connections(a, b);"
         " INSERT INTO connections VALUES (1, 2); PRAGMA user_version = 3;",
         "not twscope's tables (captures differs)"},
    };
    char path[128], err[512], name[32];
    struct store *st;
    sqlite3 *ro;

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsigned char *before, *after;
        size_t nb, na;

        snprintf(name, sizeof name, "foreign%zu.db", i);
        db_path(path, sizeof path, name);
        FAIL_IF(exec_sql(path, cases[i].sql) != SQLITE_OK);
        before = slurp(path, &nb);
        FAIL_IF(before == NULL || nb == 0);
        FAIL_UNLESS(side_files(path) == 0);
        for (int overwrite = 0; overwrite <= 1; overwrite++) {
            st = NULL;
            err[0] = '\0';
            FAIL_UNLESS(store_open(path, overwrite, &st, err, sizeof err) == TW_ERR_SCHEMA);
            FAIL_UNLESS(st == NULL);
            if (strncmp(err, path, strlen(path)) != 0 || !strstr(err, cases[i].says) ||
                !one_line(err)) {
                fprintf(stderr, "case %zu: got [%s], want [%s]\n", i, err, cases[i].says);
                FAIL_IF(1);
            }
            after = slurp(path, &na);
            FAIL_UNLESS(after != NULL && na == nb && memcmp(before, after, nb) == 0);
            free(after);
            FAIL_UNLESS(side_files(path) == 0);
        }
        /* query and report refuse it too, and leave nothing behind */
        ro = NULL;
        FAIL_UNLESS(store_open_readonly(path, &ro, err, sizeof err) == TW_ERR_SCHEMA);
        if (ro != NULL || !one_line(err) ||
            (!strstr(err, "not a twscope database") && !strstr(err, "not twscope's tables"))) {
            fprintf(stderr, "case %zu, reading: got [%s]\n", i, err);
            FAIL_IF(1);
        }
        after = slurp(path, &na);
        FAIL_UNLESS(after != NULL && na == nb && memcmp(before, after, nb) == 0);
        free(after);
        FAIL_UNLESS(side_files(path) == 0);
        free(before);
    }
    PASS;
}

/*
 * A database of an older twscope (our tables, no application_id) is refused
 * with its own message and left as it is; query and report still read it.
 */
static int test_older_twscope(void)
{
    char path[128], err[512] = "", expect[512];
    unsigned char *before, *after;
    size_t nb, na;
    struct store *st = NULL;
    sqlite3 *ro = NULL;

    db_path(path, sizeof path, "older.db");
    FAIL_IF(store_open(path, 0, &st, err, sizeof err) != 0);
    store_close(st);
    st = NULL;
    /* what the previous twscope made: schema version 2, no application_id */
    FAIL_IF(exec_sql(path, "PRAGMA application_id = 0; PRAGMA user_version = 2;"
                           " ALTER TABLE connections DROP COLUMN after_close;"
                           " ALTER TABLE captures DROP COLUMN shard;"
                           " ALTER TABLE connections DROP COLUMN merge_source;"
                           " ALTER TABLE connections DROP COLUMN capture_dups;"
                           " ALTER TABLE connections DROP COLUMN vantage_dups;"
                           " ALTER TABLE connections DROP COLUMN closer_evidence;"
                           " ALTER TABLE connections DROP COLUMN closer_rule;"
                           " ALTER TABLE connections DROP COLUMN closer_frames;"
                           " ALTER TABLE time_waits DROP COLUMN side_evidence;"
                           " ALTER TABLE time_waits DROP COLUMN start_evidence;"
                           " ALTER TABLE time_waits DROP COLUMN start_rule;"
                           " ALTER TABLE time_waits DROP COLUMN end_evidence;"
                           " ALTER TABLE time_waits DROP COLUMN end_rule;"
                           " INSERT INTO captures (source) VALUES ('old.pcap');") != SQLITE_OK);
    before = slurp(path, &nb);
    FAIL_IF(before == NULL);
    snprintf(expect, sizeof expect,
             "%s: made by an older twscope (no application_id); delete it or use another -o",
             path);
    for (int overwrite = 0; overwrite <= 1; overwrite++) {
        FAIL_UNLESS(store_open(path, overwrite, &st, err, sizeof err) == TW_ERR_SCHEMA);
        FAIL_UNLESS(st == NULL && strcmp(err, expect) == 0);
        after = slurp(path, &na);
        FAIL_UNLESS(after != NULL && na == nb && memcmp(before, after, nb) == 0);
        free(after);
        FAIL_UNLESS(side_files(path) == 0);
    }
    free(before);
    FAIL_IF(store_open_readonly(path, &ro, err, sizeof err) != 0);
    sqlite3_close(ro);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM captures") == 1);
    PASS;
}

/* Empty files and empty SQLite databases have nothing to lose: they become ours. */
static int test_empty_adopted(void)
{
    char path[128], err[512] = "";
    struct store *st = NULL;
    FILE *fp;

    db_path(path, sizeof path, "zero.db");
    fp = fopen(path, "w");
    FAIL_IF(fp == NULL);
    fclose(fp);
    FAIL_IF(add_some(path, 0, 2) != 0);
    FAIL_UNLESS(q_int(path, "PRAGMA application_id") == TWSCOPE_APPLICATION_ID);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM connections") == 2);

    /* a SQLite database whose only table was dropped again */
    db_path(path, sizeof path, "emptied.db");
    FAIL_IF(exec_sql(path, "CREATE TABLE t(x); DROP TABLE t;") != SQLITE_OK);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM sqlite_master") == 0);
    FAIL_IF(store_open(path, 1, &st, err, sizeof err) != 0);
    store_close(st);
    FAIL_UNLESS(q_int(path, "PRAGMA application_id") == TWSCOPE_APPLICATION_ID);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'") == 6);
    PASS;
}

/* Several processes creating the same new database at once: each gets it, none fails. */
static int test_concurrent_create(void)
{
    enum { NPROC = 4 };
    char path[128];
    pid_t pid[NPROC];
    int ok = 1;

    db_path(path, sizeof path, "race.db");
    for (int i = 0; i < NPROC; i++) {
        pid[i] = fork();
        FAIL_IF(pid[i] < 0);
        if (pid[i] == 0)
            _exit(add_some(path, 0, 50) == 0 ? 0 : 1);
    }
    for (int i = 0; i < NPROC; i++) {
        int status = 0;
        if (waitpid(pid[i], &status, 0) != pid[i] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            ok = 0;
    }
    FAIL_UNLESS(ok);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM captures WHERE complete = 1") == NPROC);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM connections") == NPROC * 50);
    FAIL_UNLESS(q_int(path, "PRAGMA application_id") == TWSCOPE_APPLICATION_ID);
    PASS;
}

/*
 * Incarnations are renumbered per 4-tuple (either orientation) by first
 * packet, for the tuples with a connection marked renumber; other tuples keep
 * their numbers.
 */
static int test_number_incarnations(void)
{
    char path[128], err[256] = "";
    struct store *st = NULL;
    struct rec_capture c;
    struct rec_connection r;
    db_path(path, sizeof path, "incarnations.db");
    FAIL_IF(store_open(path, 1, &st, err, sizeof err) != 0);
    memset(&c, 0, sizeof c);
    c.source = "x";
    c.ps_recv = c.ps_drop = -1;
    FAIL_IF(store_begin_capture(st, &c) != 0);
    /* tuple A: ids 1, 3, 4 (4 with the endpoints swapped); tuple B: id 2 */
    for (int64_t id = 1; id <= 4; id++) {
        fill_connection(&r, id, c.id);
        r.client_port = id == 2 ? 5555 : 40000;
        r.incarnation = id == 2 ? 7 : 1;      /* tuple B: not marked, kept as given */
        r.renumber = id == 3;
        if (id == 4) {
            snprintf(r.client_ip, sizeof r.client_ip, "10.0.0.2");
            snprintf(r.server_ip, sizeof r.server_ip, "10.0.0.1");
            r.client_port = 80;
            r.server_port = 40000;
        }
        FAIL_IF(store_add_connection(st, &r) != 0);
    }
    FAIL_IF(store_number_incarnations(st, c.id) != 0);
    c.complete = 1;
    FAIL_IF(store_finish_capture(st, &c) != 0);
    store_close(st);
    FAIL_UNLESS(q_int(path, "SELECT incarnation FROM connections WHERE id = 1") == 1);
    FAIL_UNLESS(q_int(path, "SELECT incarnation FROM connections WHERE id = 2") == 7);
    FAIL_UNLESS(q_int(path, "SELECT incarnation FROM connections WHERE id = 3") == 2);
    FAIL_UNLESS(q_int(path, "SELECT incarnation FROM connections WHERE id = 4") == 3);
    FAIL_UNLESS(q_int(path, "SELECT prev_connection_id FROM connections WHERE id = 4") == 3);
    FAIL_UNLESS(q_int(path, "SELECT prev_connection_id FROM connections WHERE id = 3") == 1);
    FAIL_UNLESS(q_int(path, "SELECT count(prev_connection_id) FROM connections") == 2);
    PASS;
}

static int test_overwrite(void)
{
    char path[128];

    db_path(path, sizeof path, "overwrite.db");
    FAIL_IF(add_some(path, 0, 3) != 0);
    FAIL_IF(add_some(path, 0, 2) != 0);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM captures") == 2);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM connections") == 5);
    FAIL_UNLESS(q_int(path, "SELECT max(id) FROM connections") == 5);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM connections WHERE capture_id = 2") == 2);

    FAIL_IF(add_some(path, 1, 1) != 0);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM captures") == 1);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM connections") == 1);
    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM findings") == 1);
    FAIL_UNLESS(q_int(path, "SELECT id FROM connections") == 1);
    FAIL_UNLESS(q_int(path, "SELECT id FROM captures") == 1);
    FAIL_UNLESS(q_int(path, "PRAGMA user_version") == TWSCOPE_SCHEMA_VERSION);
    PASS;
}

static int test_not_a_database(void)
{
    static const char junk[] = "this is not a database, just some text that is long enough\n";
    char path[128], err[512] = "", expect[512], back[128] = "";
    struct store *st = NULL;
    FILE *fp;
    size_t n;

    db_path(path, sizeof path, "junk.db");
    fp = fopen(path, "w");
    FAIL_IF(fp == NULL);
    for (int i = 0; i < 100; i++)
        fputs(junk, fp);
    fclose(fp);

    FAIL_UNLESS(store_open(path, 0, &st, err, sizeof err) == TW_ERR_FORMAT);
    FAIL_UNLESS(st == NULL);
    snprintf(expect, sizeof expect, "%s: not a SQLite database", path);
    FAIL_UNLESS(strcmp(err, expect) == 0);
    /* untouched */
    fp = fopen(path, "r");
    FAIL_IF(fp == NULL);
    n = fread(back, 1, sizeof junk - 1, fp);
    fclose(fp);
    FAIL_UNLESS(n == sizeof junk - 1 && memcmp(back, junk, n) == 0);
    PASS;
}

static int test_unwritable_path(void)
{
    char path[192], err[512] = "", prefix[256];
    struct store *st = NULL;

    snprintf(path, sizeof path, "%s/no/such/dir/x.db", tmpdir);
    FAIL_UNLESS(store_open(path, 0, &st, err, sizeof err) == TW_ERR_IO);
    FAIL_UNLESS(st == NULL);
    snprintf(prefix, sizeof prefix, "%s: cannot open database: ", path);
    FAIL_UNLESS(strncmp(err, prefix, strlen(prefix)) == 0);
    FAIL_UNLESS(strlen(err) > strlen(prefix));
    /* a directory is not a database either */
    FAIL_IF(store_open(tmpdir, 0, &st, err, sizeof err) == 0);
    FAIL_UNLESS(st == NULL);
    FAIL_UNLESS(strncmp(err, tmpdir, strlen(tmpdir)) == 0);
    PASS;
}

/* ---- reports ---- */

struct run {
    int ret;
    char *out, *err;
    size_t outlen, errlen;
};

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

static struct run run(const char *path, const char *name, const char *arg,
                      enum report_format fmt)
{
    struct run r = {0};
    FILE *out = open_memstream(&r.out, &r.outlen);
    FILE *err = open_memstream(&r.err, &r.errlen);

    r.ret = report_run(path, name, arg, fmt, out, err);
    fclose(out);
    fclose(err);
    return r;
}

/* A small database with known content for the report tests. */
static int build_report_db(const char *path)
{
    char err[256];
    struct store *st = NULL;
    struct rec_capture c;
    struct rec_connection r;
    struct rec_timewait tw;
    struct rec_finding f;
    int ret;

    ret = store_open(path, 1, &st, err, sizeof err);
    if (ret) {
        fprintf(stderr, "%s\n", err);
        return ret;
    }
    fill_capture(&c);
    c.source = "in,\"quoted\".pcap";
    ret = store_begin_capture(st, &c);

    /* 1: IPv4, client closes, TIME_WAIT on the client */
    fill_connection(&r, 1, c.id);
    r.first_ts = 1700000000.25;
    r.last_ts = 1700000001.0;
    r.active_closer = "client";
    r.rtt_ms = 1.5;
    r.app_protocol = "HTTP";
    r.client_port = 40000;
    if (ret == 0)
        ret = store_add_connection(st, &r);
    /* 2: IPv6, reset, nothing known */
    fill_connection(&r, 2, c.id);
    snprintf(r.client_ip, sizeof r.client_ip, "2001:db8::1");
    snprintf(r.server_ip, sizeof r.server_ip, "2001:db8::2");
    r.ip_version = 6;
    r.client_port = 50000;
    r.server_port = 443;
    r.first_ts = 1700000000.5;
    r.last_ts = 1700000000.75;
    r.close_kind = "rst";
    r.syn_seen = 0;
    if (ret == 0)
        ret = store_add_connection(st, &r);
    /* 3: reuse of connection 1's 4-tuple 2.5 s after it ended */
    fill_connection(&r, 3, c.id);
    r.client_port = 40000;
    r.incarnation = 2;
    r.prev_connection_id = 1;
    r.first_ts = 1700000003.5;
    r.last_ts = 1700000004.0;
    r.active_closer = "server";
    r.app_protocol = "HTTP";
    if (ret == 0)
        ret = store_add_connection(st, &r);

    memset(&tw, 0, sizeof tw);
    tw.connection_id = 1;
    tw.side = "client";
    snprintf(tw.ip, sizeof tw.ip, "10.0.0.1");
    tw.port = 40000;
    tw.start_ts = 1700000001.0;
    tw.start_frame = 19;
    tw.expected_end_ts = 1700000061.0;
    tw.end_ts = 1700000003.5;
    tw.end_reason = "reused";
    tw.profile = "linux";
    tw.profile_reason = "option";
    tw.duration_s = 60;
    tw.answers = 1;
    if (ret == 0)
        ret = store_add_timewait(st, &tw);

    memset(&f, 0, sizeof f);
    f.connection_id = 1;
    f.kind = "fin_retransmission";
    f.frame = 7;
    f.ts = 1700000000.875;
    f.direction = "server";
    f.seq = 1000;
    f.ack = 2000;
    f.flags = TCPF_FIN | TCPF_ACK;
    f.detail = "say \"hi\", bye";
    if (ret == 0)
        ret = store_add_finding(st, &f);
    f.connection_id = 3;
    f.kind = "tw_reuse";
    f.frame = 30;
    f.ts = 1700000003.5;
    f.direction = "client";
    f.flags = TCPF_SYN;
    f.seq = 5;
    f.ack = 0;
    f.detail = "{\"gap_s\":2.5,\"acceptable\":true}";
    if (ret == 0)
        ret = store_add_finding(st, &f);

    c.packets = 40;
    c.tcp_packets = 38;
    c.skipped = 2;
    c.reason_name = reason_name;
    c.reasons[DECODE_TRUNC_TCP] = 2;
    c.first_ts = 1700000000.25;
    c.last_ts = 1700000004.0;
    c.complete = 1;
    if (ret == 0)
        ret = store_finish_capture(st, &c);
    if (ret)
        fprintf(stderr, "build_report_db: %s\n", store_errmsg(st));
    store_close(st);
    return ret;
}

/* Path of the report database, built on first use; NULL if that failed. */
static const char *report_db(void)
{
    static char path[128];
    static int state; /* 0 not built, 1 built, -1 failed */

    if (state == 0) {
        db_path(path, sizeof path, "report.db");
        state = build_report_db(path) == 0 ? 1 : -1;
    }
    return state == 1 ? path : NULL;
}

static int test_report_every_name_and_format(void)
{
    static const char *const names[] = {"summary", "connections", "timewaits", "findings",
                                        "reuse"};
    static const enum report_format fmts[] = {REPORT_TABLE, REPORT_CSV, REPORT_JSON};
    const char *path = report_db();

    FAIL_IF(path == NULL);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        for (size_t k = 0; k < 3; k++) {
            struct run r = run(path, names[i], NULL, fmts[k]);
            int bad = r.ret != 0 || r.outlen == 0 || r.errlen != 0;
            if (bad)
                fprintf(stderr, "%s/%zu: ret %d err %s\n", names[i], k, r.ret, r.err);
            if (fmts[k] == REPORT_JSON && !bad)
                bad = r.out[0] != '[' || strcmp(r.out + r.outlen - 2, "]\n") != 0;
            run_free(&r);
            FAIL_IF(bad);
        }
    PASS;
}

static int test_report_connections(void)
{
    const char *path = report_db();
    struct run r;
    int ok;

    FAIL_IF(path == NULL);
    r = run(path, "connections", NULL, REPORT_CSV);
    ok = r.ret == 0 &&
         strncmp(r.out,
                 "id,capture_id,incarnation,client,server,close_kind,active_closer,syn_seen,"
                 "pkts,bytes,first_frame,last_frame,first_ts,duration,rtt_ms,app_protocol\r\n",
                 strlen("id,capture_id,incarnation,client,server,close_kind,active_closer,"
                        "syn_seen,pkts,bytes,first_frame,last_frame,first_ts,duration,rtt_ms,"
                        "app_protocol\r\n")) == 0 &&
         strstr(r.out, "\r\n1,1,1,10.0.0.1:40000,10.0.0.2:80,fin,client,1,9,4500,10,19,"
                       "1700000000.25,0.75,1.5,HTTP\r\n") &&
         strstr(r.out, "\r\n2,1,1,[2001:db8::1]:50000,[2001:db8::2]:443,rst,,0,") &&
         /* ordered by first_ts: 1, 2, 3 */
         strstr(r.out, "\r\n1,") < strstr(r.out, "\r\n2,") &&
         strstr(r.out, "\r\n2,") < strstr(r.out, "\r\n3,");
    if (!ok)
        fprintf(stderr, "%s", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);

    r = run(path, "connections", NULL, REPORT_JSON);
    ok = r.ret == 0 &&
         strstr(r.out, "{\"id\": 1, \"capture_id\": 1, \"incarnation\": 1, \"client\":"
                       " \"10.0.0.1:40000\", \"server\": \"10.0.0.2:80\", \"close_kind\":"
                       " \"fin\", \"active_closer\": \"client\", \"syn_seen\": 1, \"pkts\": 9,"
                       " \"bytes\": 4500, \"first_frame\": 10, \"last_frame\": 19, \"first_ts\":"
                       " 1700000000.25, \"duration\": 0.75, \"rtt_ms\": 1.5, \"app_protocol\":"
                       " \"HTTP\"}") &&
         strstr(r.out, "\"active_closer\": null") && strstr(r.out, "\"rtt_ms\": null");
    if (!ok)
        fprintf(stderr, "%s", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);

    /* table: 6 decimals for times, "-" for NULL, numbers right-aligned */
    r = run(path, "connections", NULL, REPORT_TABLE);
    ok = r.ret == 0 && strstr(r.out, "1700000000.250000") && strstr(r.out, "  0.750000") &&
         strstr(r.out, "1.500") && strstr(r.out, " - ") &&
         strncmp(r.out, "id  capture_id  incarnation  client ", 36) == 0;
    if (!ok)
        fprintf(stderr, "%s", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);
    PASS;
}

static int test_report_timewaits_findings_reuse(void)
{
    const char *path = report_db();
    struct run r;
    int ok;

    FAIL_IF(path == NULL);
    r = run(path, "timewaits", NULL, REPORT_CSV);
    ok = r.ret == 0 &&
         strstr(r.out, "id,connection_id,side,endpoint,peer,start_frame,start_ts,"
                       "expected_end_ts,end_ts,end_reason,inferred,profile,duration_s,held_s,"
                       "answers\r\n"
                       "1,1,client,10.0.0.1:40000,10.0.0.2:80,19,1700000001,1700000061,"
                       "1700000003.5,reused,0,linux,60,2.5,1\r\n") == r.out;
    if (!ok)
        fprintf(stderr, "%s", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);

    /* csv quoting of a value with a comma and quotes; flags as letters */
    r = run(path, "findings", NULL, REPORT_CSV);
    ok = r.ret == 0 &&
         strstr(r.out, "id,connection_id,kind,frame,file,ts,direction,seq,ack,payload_len,"
                       "flags,detail,wireshark\r\n") == r.out &&
         strstr(r.out, "\r\n1,1,fin_retransmission,7,0,1700000000.875,server,1000,2000,0,FA,"
                       "\"say \"\"hi\"\", bye\",frame.number == 7\r\n") &&
         strstr(r.out, ",tw_reuse,30,") && strstr(r.out, ",S,\"{\"\"gap_s\"\":2.5,");
    if (!ok)
        fprintf(stderr, "%s", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);

    /* json: detail object embedded raw, plain detail escaped */
    r = run(path, "findings", NULL, REPORT_JSON);
    ok = r.ret == 0 && strstr(r.out, "\"detail\": {\"gap_s\":2.5,\"acceptable\":true}") &&
         strstr(r.out, "\"detail\": \"say \\\"hi\\\", bye\"") &&
         strstr(r.out, "\"seq\": 1000, \"ack\": 2000,") && strstr(r.out, "\"flags\": \"FA\"");
    if (!ok)
        fprintf(stderr, "%s", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);

    r = run(path, "reuse", NULL, REPORT_CSV);
    ok = r.ret == 0 &&
         strstr(r.out, "id,capture_id,client,server,incarnation,prev_id,prev_last_ts,first_ts,"
                       "gap_s,prev_close_kind,prev_active_closer,reuse_frame,detail\r\n"
                       "3,1,10.0.0.1:40000,10.0.0.2:80,2,1,1700000001,1700000003.5,2.5,fin,"
                       "client,30,\"{\"\"gap_s\"\":2.5,\"\"acceptable\"\":true}\"\r\n") == r.out &&
         r.outlen == strlen(r.out) && strchr(strstr(r.out, "\r\n3,") + 2, '\n') ==
                                          r.out + r.outlen - 1;
    if (!ok)
        fprintf(stderr, "%s", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);
    PASS;
}

static int test_report_summary(void)
{
    const char *path = report_db();
    char line[256];
    struct run r;
    int ok;

    FAIL_IF(path == NULL);
    r = run(path, "summary", NULL, REPORT_CSV);
    snprintf(line, sizeof line, "capture 1,skipped.%s,2\r\n", decode_result_name(DECODE_TRUNC_TCP));
    ok = r.ret == 0 && strstr(r.out, "section,key,value\r\n") == r.out &&
         strstr(r.out, "captures,count,1\r\n") &&
         strstr(r.out, "capture 1,source,\"in,\"\"quoted\"\".pcap\"\r\n") &&
         strstr(r.out, "capture 1,packets,40\r\n") && strstr(r.out, line) &&
         strstr(r.out, "capture 1,complete,yes\r\n") &&
         strstr(r.out, "connections,total,3\r\n") &&
         strstr(r.out, "connections,syn_not_seen,1\r\n") &&
         strstr(r.out, "connections,reused_4tuples,1\r\n") &&
         strstr(r.out, "close_kind,fin,2\r\nclose_kind,rst,1\r\n") &&
         strstr(r.out, "active_closer,client,1\r\n") && strstr(r.out, "active_closer,none,1\r\n") &&
         strstr(r.out, "time_waits,total,1\r\n") && strstr(r.out, "time_waits,inferred,0\r\n") &&
         strstr(r.out, "time_wait_side,client,1\r\n") &&
         strstr(r.out, "time_wait_end_reason,reused,1\r\n") &&
         strstr(r.out, "findings,total,2\r\n") &&
         strstr(r.out, "finding_kind,fin_retransmission,1\r\n") &&
         strstr(r.out, "app_protocol,HTTP,2\r\napp_protocol,unknown,1\r\n") &&
         /* sections in order */
         strstr(r.out, "captures,") < strstr(r.out, "capture 1,") &&
         strstr(r.out, "capture 1,") < strstr(r.out, "connections,") &&
         strstr(r.out, "connections,") < strstr(r.out, "time_waits,") &&
         strstr(r.out, "time_waits,") < strstr(r.out, "findings,") &&
         strstr(r.out, "findings,") < strstr(r.out, "app_protocol,");
    if (!ok)
        fprintf(stderr, "%s", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);

    r = run(path, "summary", NULL, REPORT_JSON);
    ok = r.ret == 0 &&
         strstr(r.out, "{\"section\": \"capture 1\", \"key\": \"packets\", \"value\": 40}") &&
         strstr(r.out, "{\"section\": \"capture 1\", \"key\": \"first_ts\", \"value\":"
                       " 1700000000.25}");
    if (!ok)
        fprintf(stderr, "%s", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);

    r = run(path, "summary", NULL, REPORT_TABLE);
    ok = r.ret == 0 && strncmp(r.out, "captures\n  count  1\n\ncapture 1\n", 31) == 0 &&
         strstr(r.out, "\n  first_ts ") && strstr(r.out, " 1700000000.250000\n") &&
         strstr(r.out, "\n\nconnections\n  total                 3\n") &&
         strstr(r.out, "\n  time_wait_peak     1\n") &&
         strstr(r.out, "\n  skipped  ") && strstr(r.out, "\n\nclose_kind\n  fin  2\n  rst  1\n");
    if (!ok)
        fprintf(stderr, "%s", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);
    PASS;
}

static int test_report_generic_formats(void)
{
    const char *path = report_db();
    struct run r;
    int ok;

    FAIL_IF(path == NULL);
    /* table: widths over all rows, numbers right, text left, NULL as "-" */
    r = run(path, "sql",
            "SELECT 1 AS n, 'a' AS s, NULL AS z UNION ALL SELECT 100, 'bbb', 2.5", REPORT_TABLE);
    ok = r.ret == 0 && strcmp(r.out, "  n  s           z\n"
                                     "---  ---  --------\n"
                                     "  1  a           -\n"
                                     "100  bbb  2.500000\n") == 0;
    if (!ok)
        fprintf(stderr, "[%s]\n", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);

    r = run(path, "sql", "SELECT 1 AS n WHERE 0", REPORT_TABLE);
    ok = r.ret == 0 && strcmp(r.out, "n\n-\n(no rows)\n") == 0;
    run_free(&r);
    FAIL_UNLESS(ok);

    /* csv: CR/LF and quotes inside values; NULL is an empty field */
    r = run(path, "sql", "SELECT 'a' || char(10) || 'b' AS \"x,y\", NULL AS n, 'p\"q' AS q",
            REPORT_CSV);
    ok = r.ret == 0 && strcmp(r.out, "\"x,y\",n,q\r\n\"a\nb\",,\"p\"\"q\"\r\n") == 0;
    if (!ok)
        fprintf(stderr, "[%s]\n", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);

    /* json: typed numbers, null, escapes; reals round-trip */
    r = run(path, "sql",
            "SELECT 42 AS i, 0.1 AS r, 1700000000.123456 AS t, NULL AS z,"
            " char(1) || 'x\"\\' || char(10) AS s, -9223372036854775807 - 1 AS big,"
            " '{not json' AS detail, 'é' AS u",
            REPORT_JSON);
    ok = r.ret == 0 &&
         strcmp(r.out, "[\n{\"i\": 42, \"r\": 0.1, \"t\": 1700000000.123456, \"z\": null,"
                       " \"s\": \"\\u0001x\\\"\\\\\\u000a\", \"big\": -9223372036854775808,"
                       " \"detail\": \"{not json\", \"u\": \"é\"}\n]\n") == 0;
    if (!ok)
        fprintf(stderr, "[%s]\n", r.out);
    run_free(&r);
    FAIL_UNLESS(ok);

    r = run(path, "sql", "SELECT 1 WHERE 0", REPORT_JSON);
    ok = r.ret == 0 && strcmp(r.out, "[]\n") == 0;
    run_free(&r);
    FAIL_UNLESS(ok);

    r = run(path, "sql", "SELECT x'00ff' AS b", REPORT_CSV);
    ok = r.ret == 0 && strcmp(r.out, "b\r\n00ff\r\n") == 0;
    run_free(&r);
    FAIL_UNLESS(ok);
    PASS;
}

static int test_report_sql_is_read_only(void)
{
    const char *path = report_db();
    struct run r;
    int ok;
    long long before;

    FAIL_IF(path == NULL);
    before = q_int(path, "SELECT count(*) FROM findings");
    FAIL_UNLESS(before == 2);

    r = run(path, "sql", "INSERT INTO findings (kind) VALUES ('x')", REPORT_TABLE);
    ok = r.ret == TW_ERR_DB && r.outlen == 0 && strstr(r.err, "twscope: query: ") == r.err &&
         strstr(r.err, "readonly database");
    if (!ok)
        fprintf(stderr, "ret %d err [%s] out [%s]\n", r.ret, r.err, r.out);
    run_free(&r);
    FAIL_UNLESS(ok);

    r = run(path, "sql", "DELETE FROM findings", REPORT_JSON);
    ok = r.ret != 0 && r.outlen == 0;
    run_free(&r);
    FAIL_UNLESS(ok);

    /* a second statement would escape the one-statement rule */
    r = run(path, "sql", "SELECT 1; DELETE FROM findings", REPORT_CSV);
    ok = r.ret == TW_ERR_USAGE && r.outlen == 0;
    run_free(&r);
    FAIL_UNLESS(ok);

    r = run(path, "sql", "SELECT 1; -- trailing comment\n", REPORT_CSV);
    ok = r.ret == 0 && strcmp(r.out, "1\r\n1\r\n") == 0;
    run_free(&r);
    FAIL_UNLESS(ok);

    FAIL_UNLESS(q_int(path, "SELECT count(*) FROM findings") == before);
    PASS;
}

static int test_report_errors(void)
{
    char path[128], junk[128], old[128], expect[512];
    struct run r;
    int ok;
    FILE *fp;

    db_path(path, sizeof path, "missing.db");
    r = run(path, "summary", NULL, REPORT_TABLE);
    snprintf(expect, sizeof expect, "twscope: %s: no such database\n", path);
    ok = r.ret == TW_ERR_IO && strcmp(r.err, expect) == 0 && r.outlen == 0;
    run_free(&r);
    FAIL_UNLESS(ok);
    FAIL_UNLESS(access(path, F_OK) != 0);

    db_path(junk, sizeof junk, "junk2.db");
    fp = fopen(junk, "w");
    FAIL_IF(fp == NULL);
    for (int i = 0; i < 200; i++)
        fputs("not sqlite at all ", fp);
    fclose(fp);
    r = run(junk, "summary", NULL, REPORT_TABLE);
    snprintf(expect, sizeof expect, "twscope: %s: not a SQLite database\n", junk);
    ok = r.ret == TW_ERR_FORMAT && strcmp(r.err, expect) == 0;
    run_free(&r);
    FAIL_UNLESS(ok);

    db_path(old, sizeof old, "v7.db");
    FAIL_IF(exec_sql(old, "CREATE TABLE t(x); PRAGMA user_version = 7;") != SQLITE_OK);
    r = run(old, "connections", NULL, REPORT_CSV);
    snprintf(expect, sizeof expect, "twscope: %s: not a twscope database\n", old);
    ok = r.ret == TW_ERR_SCHEMA && strcmp(r.err, expect) == 0;
    run_free(&r);
    FAIL_UNLESS(ok);

    FAIL_IF(report_db() == NULL);
    snprintf(path, sizeof path, "%s", report_db());
    r = run(path, "nosuch", NULL, REPORT_TABLE);
    ok = r.ret == TW_ERR_USAGE && strstr(r.err, "unknown report");
    run_free(&r);
    FAIL_UNLESS(ok);
    r = run(path, "sql", NULL, REPORT_TABLE);
    ok = r.ret == TW_ERR_USAGE;
    run_free(&r);
    FAIL_UNLESS(ok);
    r = run(path, "sql", "SELEKT 1", REPORT_TABLE);
    ok = r.ret == TW_ERR_DB && strstr(r.err, "twscope: query: ") == r.err && r.outlen == 0;
    run_free(&r);
    FAIL_UNLESS(ok);
    PASS;
}

static int test_parse_format(void)
{
    FAIL_UNLESS(report_parse_format("table") == REPORT_TABLE);
    FAIL_UNLESS(report_parse_format("csv") == REPORT_CSV);
    FAIL_UNLESS(report_parse_format("json") == REPORT_JSON);
    FAIL_UNLESS(report_parse_format("xml") == -1);
    FAIL_UNLESS(report_parse_format("") == -1);
    FAIL_UNLESS(report_parse_format(NULL) == -1);
    PASS;
}

/* A reader sees a store's database while the writer still holds it open. */
static int test_report_while_writing(void)
{
    char path[128], err[256];
    struct store *st = NULL;
    struct rec_capture c;
    struct run r;
    int ok;

    db_path(path, sizeof path, "live.db");
    FAIL_IF(store_open(path, 0, &st, err, sizeof err) != 0);
    fill_capture(&c);
    FAIL_IF(store_begin_capture(st, &c) != 0);
    r = run(path, "sql", "SELECT id, complete FROM captures", REPORT_CSV);
    ok = r.ret == 0 && strcmp(r.out, "id,complete\r\n1,0\r\n") == 0;
    if (!ok)
        fprintf(stderr, "ret %d err [%s] out [%s]\n", r.ret, r.err, r.out);
    run_free(&r);
    store_close(st);
    FAIL_UNLESS(ok);
    PASS;
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/twscope_test_store.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_write_and_read_back);
    RUN(test_schema_version_mismatch);
    RUN(test_foreign_untouched);
    RUN(test_older_twscope);
    RUN(test_empty_adopted);
    RUN(test_concurrent_create);
    RUN(test_overwrite);
    RUN(test_number_incarnations);
    RUN(test_not_a_database);
    RUN(test_unwritable_path);
    RUN(test_report_every_name_and_format);
    RUN(test_report_connections);
    RUN(test_report_timewaits_findings_reuse);
    RUN(test_report_summary);
    RUN(test_report_generic_formats);
    RUN(test_report_sql_is_read_only);
    RUN(test_report_errors);
    RUN(test_parse_format);
    RUN(test_report_while_writing);
    /* TWSCOPE_TEST_KEEP=1 keeps the databases for a look */
    if (!getenv("TWSCOPE_TEST_KEEP"))
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_EXIT();
}
