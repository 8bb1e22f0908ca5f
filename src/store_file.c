/*
 * store_file.c -- whose database file it is, and opening it (see store.h).
 *
 * Whose file it is comes first (db_classify()): a database is written only
 * when it is ours (PRAGMA application_id = TWSCOPE_APPLICATION_ID, our
 * user_version and exactly our tables) or has nothing in it; any other file
 * is refused with one line and not a byte of it changes, not even its
 * journal mode. user_version alone cannot say whose a file is: other
 * programs use small numbers too. The schema lives here too: what a new
 * database gets, and what an older twscope's looked like.
 *
 * Thread: the analysis thread opens the writer connection (store_open());
 * `query` and `report` open the read-only one on their main thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "twscope/words.h"

#include "store_int.h"
#include "twscope/config.h"
#include "twscope/store.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_PAGE_SIZE 16384           /* bytes per page of a new database */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS captures ("
    " id INTEGER PRIMARY KEY, source TEXT, linktype INTEGER, first_ts REAL,"
    " last_ts REAL, packets INTEGER, tcp_packets INTEGER, skipped INTEGER,"
    " skip_reasons TEXT, files INTEGER, complete INTEGER NOT NULL DEFAULT 0,"
    " error TEXT, started_at REAL, tw_profile TEXT, dpi INTEGER, bpf TEXT,"
    " ps_recv INTEGER, ps_drop INTEGER, evicted INTEGER);"
    "CREATE TABLE IF NOT EXISTS connections ("
    " id INTEGER PRIMARY KEY, capture_id INTEGER, incarnation INTEGER,"
    " client_ip TEXT, client_port INTEGER, server_ip TEXT, server_port INTEGER,"
    " ip_version INTEGER, vlan_outer INTEGER, vlan_inner INTEGER,"
    " syn_seen INTEGER, client_isn INTEGER, server_isn INTEGER,"
    " first_frame INTEGER, first_file INTEGER, last_frame INTEGER,"
    " last_file INTEGER, first_ts REAL, last_ts REAL, close_kind TEXT,"
    " active_closer TEXT, client_pkts INTEGER, server_pkts INTEGER,"
    " client_bytes INTEGER, server_bytes INTEGER, rtt_ms REAL,"
    " app_protocol TEXT, client_fin_frame INTEGER, server_fin_frame INTEGER,"
    " rst_frame INTEGER, prev_connection_id INTEGER, app_guessed INTEGER);"
    "CREATE TABLE IF NOT EXISTS time_waits ("
    " id INTEGER PRIMARY KEY, connection_id INTEGER, side TEXT, ip TEXT,"
    " port INTEGER, start_ts REAL, start_frame INTEGER, start_file INTEGER,"
    " expected_end_ts REAL, end_ts REAL, end_reason TEXT, inferred INTEGER,"
    " profile TEXT, profile_reason TEXT, duration_s REAL, answers INTEGER);"
    "CREATE TABLE IF NOT EXISTS findings ("
    " id INTEGER PRIMARY KEY, connection_id INTEGER, kind TEXT, frame INTEGER,"
    " file INTEGER, ts REAL, direction TEXT, seq INTEGER, ack INTEGER,"
    " payload_len INTEGER, flags INTEGER, detail TEXT);";

/*
 * What each schema version added to version 2, the last one made without an
 * application_id (an older twscope's database, read but never written).
 */
#define STORE_OLD_SCHEMA_VERSION 2
static const char schema_v3_sql[] =
    "ALTER TABLE connections ADD COLUMN after_close INTEGER;"
    "ALTER TABLE captures ADD COLUMN shard TEXT;"
    "ALTER TABLE connections ADD COLUMN merge_source INTEGER;"
    "CREATE TABLE IF NOT EXISTS merge_sources ("
    " id INTEGER PRIMARY KEY, capture_id INTEGER, db TEXT, db_capture_id INTEGER,"
    " shard TEXT, started_at REAL);"
    "ALTER TABLE connections ADD COLUMN capture_dups INTEGER;"
    "ALTER TABLE connections ADD COLUMN vantage_dups INTEGER;"
    "ALTER TABLE connections ADD COLUMN closer_evidence TEXT;"
    "ALTER TABLE connections ADD COLUMN closer_rule TEXT;"
    "ALTER TABLE connections ADD COLUMN closer_frames TEXT;"
    "ALTER TABLE time_waits ADD COLUMN side_evidence TEXT;"
    "ALTER TABLE time_waits ADD COLUMN start_evidence TEXT;"
    "ALTER TABLE time_waits ADD COLUMN start_rule TEXT;"
    "ALTER TABLE time_waits ADD COLUMN end_evidence TEXT;"
    "ALTER TABLE time_waits ADD COLUMN end_rule TEXT;"
    "CREATE TABLE IF NOT EXISTS files ("
    " id INTEGER PRIMARY KEY, capture_id INTEGER, file_index INTEGER, path TEXT,"
    " size INTEGER, mtime REAL, fingerprint TEXT, error TEXT);"
    "CREATE VIEW IF NOT EXISTS findings_named AS SELECT f.*,"
    " " STORE_FLAG_LETTERS("f.flags") " AS flag_letters,"
    " 'frame.number == ' || f.frame AS wireshark, fl.path AS file_path,"
    " " WORDS_FINDING("f") " AS words"
    " FROM findings f LEFT JOIN connections c ON c.id = f.connection_id"
    " LEFT JOIN files fl ON fl.capture_id = c.capture_id AND fl.file_index = f.file;";

/* Create the tables of schema `version` (2 or 3) in db. */
static int schema_create(sqlite3 *db, int version)
{
    int rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK && version >= 3)
        rc = sqlite3_exec(db, schema_v3_sql, NULL, NULL, NULL);
    return rc;
}

/* Children first, in case someone turns foreign keys on later. */
static const char wipe_sql[] = "DROP INDEX IF EXISTS connections_capture;"
                               " DROP INDEX IF EXISTS connections_tuple;"
                               " DROP INDEX IF EXISTS time_waits_connection;"
                               " DROP INDEX IF EXISTS findings_connection;"
                               " DROP INDEX IF EXISTS findings_kind;"
                               " DELETE FROM findings; DELETE FROM time_waits; DELETE FROM files;"
                               " DELETE FROM merge_sources;"
                               " DELETE FROM connections; DELETE FROM captures;";

void store_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/*
 * Process-wide SQLite settings, before its first use: no memory statistics
 * (they take a global mutex on every allocation, and each row allocates).
 * sqlite3_config() only works before SQLite initializes itself, which any of
 * its functions does (sqlite3_mprintf() too): call this first.
 */
static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static void sqlite_ready(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, sqlite_setup);
}

/*
 * Whose file is it? Nothing may be written to a database before it is proven
 * empty or ours, and a normal SQLite connection can write as soon as it reads
 * (it rolls back a hot journal, creates -wal and -shm files), so a file is
 * first classified without one:
 *   - no file, or an empty one: DBK_NEW, created by create_new();
 *   - not "SQLite format 3": not a database;
 *   - the header's application_id (bytes 68..71) is ours: DBK_OURS, whose
 *     version and tables check_ours() checks again on a real connection
 *     before anything is written; another nonzero one: DBK_FOREIGN;
 *   - application_id 0: an immutable read-only connection (no lock, no
 *     journal, no WAL: the main file is only read) looks at the schema.
 *     Nothing at all in it (no schema object, user_version 0, rollback
 *     journal mode, no -wal file with content): DBK_EMPTY, taken like a new
 *     file; exactly our tables: DBK_OLD, a database of a twscope from before
 *     the application_id; anything else: DBK_FOREIGN.
 * create_new() sets the application_id in the transaction that creates the
 * tables, before the file goes to WAL mode: it is always in the main file's
 * header, never only in a -wal file.
 */
enum db_kind { DBK_NEW, DBK_EMPTY, DBK_OURS, DBK_OLD, DBK_FOREIGN };

struct db_class {
    enum db_kind kind;
    uint32_t app_id;                 /* the header's application_id */
};

/* What a real or immutable connection reads of a database. */
struct db_info {
    int version;                     /* PRAGMA user_version */
    uint32_t app_id;                 /* PRAGMA application_id */
    int objects;                     /* rows of sqlite_master: tables, indexes, views... */
};

#define STORE_RETRY 1                /* internal: the file changed under us, classify again */
#define STORE_OPEN_TRIES 4

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/*
 * Read the database's user_version, application_id and number of schema
 * objects. Returns a SQLite result code; SQLITE_NOTADB surfaces here (at
 * prepare or step) because a connection only reads the file on its first
 * statement.
 */
static int db_info_read(sqlite3 *db, struct db_info *di)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = sqlite3_prepare_v2(db,
                            "SELECT (SELECT user_version FROM pragma_user_version),"
                            " (SELECT application_id FROM pragma_application_id),"
                            " (SELECT count(*) FROM sqlite_master)",
                            -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        di->version = sqlite3_column_int(s, 0);
        di->app_id = (uint32_t)sqlite3_column_int(s, 1);
        di->objects = sqlite3_column_int(s, 2);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Turn a failed probe into a TW_ERR_* and a message naming the path. */
static int probe_error(sqlite3 *db, int rc, const char *path, char *err, size_t errlen)
{
    int sys = db ? sqlite3_system_errno(db) : 0;

    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        store_set_err(err, errlen, "%s: not a SQLite database", path);
        return TW_ERR_FORMAT;
    case SQLITE_NOMEM:
        store_set_err(err, errlen, "%s: out of memory", path);
        return TW_ERR_NOMEM;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
        if (sys)
            store_set_err(err, errlen, "%s: cannot open database: %s (%s)", path,
                    sqlite3_errmsg(db), strerror(sys));
        else
            store_set_err(err, errlen, "%s: cannot open database: %s", path,
                    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        return TW_ERR_IO;
    default:
        store_set_err(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        return TW_ERR_DB;
    }
}

/*
 * Columns of table t in db, one "name type notnull default pk;" each in
 * order, or NULL when db has no table t (or on error: *rc says which). The
 * caller frees the string with sqlite3_free().
 */
static char *table_signature(sqlite3 *db, const char *t, int *rc)
{
    sqlite3_stmt *s = NULL;
    sqlite3_str *out;

    *rc = sqlite3_prepare_v2(db,
                             "SELECT p.name, p.type, p.\"notnull\", coalesce(p.dflt_value, ''), p.pk"
                             " FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p"
                             " WHERE m.type = 'table' AND m.name = ?1 ORDER BY p.cid",
                             -1, &s, NULL);
    if (*rc != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(s, 1, t, -1, SQLITE_STATIC);
    out = sqlite3_str_new(db);
    while ((*rc = sqlite3_step(s)) == SQLITE_ROW)
        sqlite3_str_appendf(out, "%s %s %d %s %d;", (const char *)sqlite3_column_text(s, 0),
                            (const char *)sqlite3_column_text(s, 1), sqlite3_column_int(s, 2),
                            (const char *)sqlite3_column_text(s, 3), sqlite3_column_int(s, 4));
    if (*rc == SQLITE_DONE)
        *rc = SQLITE_OK;
    sqlite3_finalize(s);
    return sqlite3_str_finish(out);   /* NULL when nothing was appended */
}

/*
 * Compare db's tables with schema_sql's, which is run on a private in-memory
 * database so that the schema is written down once. Returns a SQLite result
 * code; differs gets "" when every table of ours is in db with the same
 * columns in the same order, else the name of the first that is not. Other
 * tables of db are not looked at.
 */
static int schema_diff(sqlite3 *db, int version, char *differs, size_t dlen)
{
    sqlite3 *ref = NULL;
    sqlite3_stmt *s = NULL;
    int rc;

    differs[0] = '\0';
    rc = sqlite3_open_v2(":memory:", &ref, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK)
        rc = schema_create(ref, version);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ref, "SELECT name FROM sqlite_master WHERE type = 'table'"
                                     " ORDER BY name", -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        int rc2 = SQLITE_OK;
        char *want = table_signature(ref, t, &rc);
        char *have = rc == SQLITE_OK ? table_signature(db, t, &rc2) : NULL;

        if (rc == SQLITE_OK)
            rc = rc2;
        if (rc == SQLITE_OK && (!want || !have || strcmp(want, have) != 0)) {
            snprintf(differs, dlen, "%s", t);
            rc = SQLITE_DONE;
        }
        sqlite3_free(want);
        sqlite3_free(have);
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(s);
    sqlite3_close(ref);
    return rc;
}

/* 1 if PATH-wal exists with content (SQLite deletes it next to an empty file). */
int store_file_wal_has_data(const char *path)
{
    char *wal = sqlite3_mprintf("%s-wal", path);
    struct stat sb;
    int r = !wal || (stat(wal, &sb) == 0 && sb.st_size > 0);

    sqlite3_free(wal);
    return r;
}

char *store_file_uri(const char *path, const char *query)
{
    sqlite3_str *u = sqlite3_str_new(NULL);

    /* "file://" + "/abs" is an empty authority then the path; "file:rel" is relative */
    sqlite3_str_appendall(u, path[0] == '/' ? "file://" : "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/._-~", *p))
            sqlite3_str_appendchar(u, 1, (char)*p);
        else
            sqlite3_str_appendf(u, "%%%02X", *p);
    }
    sqlite3_str_appendf(u, "?%s", query);
    return sqlite3_str_finish(u);
}

/* The schema of a SQLite file with application_id 0, read without side effects. */
static int db_peek(const char *path, int wal_mode, struct db_class *cls, char *err,
                   size_t errlen)
{
    char *uri = store_file_uri(path, "immutable=1");
    sqlite3 *db = NULL;
    struct db_info di = {0};
    char differs[64];
    int rc, ret = 0;

    if (!uri) {
        store_set_err(err, errlen, "%s: out of memory", path);
        return TW_ERR_NOMEM;
    }
    rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    sqlite3_free(uri);
    if (rc == SQLITE_OK)
        rc = db_info_read(db, &di);
    if (rc == SQLITE_OK && di.objects == 0 && di.version == 0 && di.app_id == 0 && !wal_mode &&
        !store_file_wal_has_data(path)) {
        cls->kind = DBK_EMPTY;
    } else if (rc == SQLITE_OK) {
        rc = schema_diff(db, STORE_OLD_SCHEMA_VERSION, differs, sizeof differs);
        cls->kind = rc == SQLITE_OK && !differs[0] && di.app_id == 0 ? DBK_OLD : DBK_FOREIGN;
    }
    if (rc != SQLITE_OK)
        ret = probe_error(db, rc, path, err, errlen);
    sqlite3_close(db);
    return ret;
}

/* Classify path (see DBK_*). Returns 0, or a TW_ERR_* with err set. */
static int db_classify(const char *path, struct db_class *cls, char *err, size_t errlen)
{
    unsigned char h[100];
    struct stat sb;
    ssize_t n;
    int fd, missing;

    sqlite_ready();
    memset(cls, 0, sizeof *cls);
    missing = stat(path, &sb) != 0;
    if (missing && errno != ENOENT) {
        store_set_err(err, errlen, "%s: cannot open database: %s", path, strerror(errno));
        return TW_ERR_IO;
    }
    if (missing || (S_ISREG(sb.st_mode) && sb.st_size == 0)) {
        if (store_file_wal_has_data(path)) {
            store_set_err(err, errlen, "%s: empty, but %s-wal beside it holds data; left as it is",
                    path, path);
            return TW_ERR_SCHEMA;
        }
        cls->kind = DBK_NEW;
        return 0;
    }
    if (S_ISDIR(sb.st_mode)) {
        store_set_err(err, errlen, "%s: cannot open database: is a directory", path);
        return TW_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        store_set_err(err, errlen, "%s: cannot open database: not a regular file", path);
        return TW_ERR_IO;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        store_set_err(err, errlen, "%s: cannot open database: %s", path, strerror(errno));
        return TW_ERR_IO;
    }
    n = pread(fd, h, sizeof h, 0);
    if (n < 0)
        store_set_err(err, errlen, "%s: cannot read database: %s", path, strerror(errno));
    close(fd);
    if (n < 0)
        return TW_ERR_IO;
    if ((size_t)n < sizeof h || memcmp(h, "SQLite format 3", 16) != 0) {
        store_set_err(err, errlen, "%s: not a SQLite database", path);
        return TW_ERR_FORMAT;
    }
    cls->app_id = be32(h + 68);
    if (cls->app_id == TWSCOPE_APPLICATION_ID) {
        cls->kind = DBK_OURS;
        return 0;
    }
    if (cls->app_id != 0) {
        cls->kind = DBK_FOREIGN;
        return 0;
    }
    /* bytes 18 and 19: file format versions, 2 = WAL mode */
    return db_peek(path, h[18] == 2 || h[19] == 2, cls, err, errlen);
}

/*
 * The one-line refusal of a database that is not ours, or 0. When reading
 * (query, report), an older twscope's database is fine.
 */
static int refuse(const struct db_class *cls, const char *path, int writing, char *err,
                  size_t errlen)
{
    const char *hint = writing ? "; left as it is, use another -o" : "";

    if (cls->kind == DBK_OLD && writing) {
        store_set_err(err, errlen,
                "%s: made by an older twscope (no application_id); delete it or use another -o",
                path);
        return TW_ERR_SCHEMA;
    }
    if (cls->kind != DBK_FOREIGN)
        return 0;
    if (cls->app_id)
        store_set_err(err, errlen, "%s: not a twscope database (application_id 0x%08x)%s", path,
                (unsigned)cls->app_id, hint);
    else
        store_set_err(err, errlen, "%s: not a twscope database%s", path, hint);
    return TW_ERR_SCHEMA;
}

/*
 * On a real connection to a file classified as ours (app_id ours), or as an
 * older twscope's (app_id 0, reading only): the application_id, the
 * user_version and the tables must be what they were said to be. Returns 0,
 * STORE_RETRY when the application_id changed since, or a TW_ERR_* with err
 * set.
 */
static int check_ours(sqlite3 *db, uint32_t app_id, const char *path, int writing, char *err,
                      size_t errlen)
{
    struct db_info di = {0};
    char differs[64];
    int rc = db_info_read(db, &di);
    int want = app_id ? TWSCOPE_SCHEMA_VERSION : STORE_OLD_SCHEMA_VERSION;

    if (rc == SQLITE_OK && di.app_id != app_id)
        return STORE_RETRY;
    if (rc == SQLITE_OK && di.version != want) {
        store_set_err(err, errlen, "%s: database schema version %d, this twscope needs %d", path,
                di.version, want);
        return TW_ERR_SCHEMA;
    }
    if (rc == SQLITE_OK)
        rc = schema_diff(db, want, differs, sizeof differs);
    if (rc != SQLITE_OK)
        return probe_error(db, rc, path, err, errlen);
    if (differs[0]) {
        store_set_err(err, errlen, "%s: %s but not twscope's tables (%s differs)%s", path,
                app_id ? "twscope's application_id" : "no application_id", differs,
                writing ? "; left as it is, use another -o" : "");
        return TW_ERR_SCHEMA;
    }
    return 0;
}

/* Open with flags; on failure close the handle and fill err. */
static int db_open_at(const char *path, const char *target, int flags, sqlite3 **out, char *err,
                      size_t errlen)
{
    sqlite3 *db = NULL;
    int rc, ret;

    *out = NULL;
    sqlite_ready();
    rc = sqlite3_open_v2(target, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        if (!db) {
            store_set_err(err, errlen, "%s: out of memory", path);
            return TW_ERR_NOMEM;
        }
        ret = probe_error(db, rc == SQLITE_NOTADB ? rc : SQLITE_CANTOPEN, path, err, errlen);
        sqlite3_close(db);
        return ret;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    *out = db;
    return 0;
}

/* db_open_at() of path itself (errors name it either way). */
static int db_open(const char *path, int flags, sqlite3 **out, char *err, size_t errlen)
{
    return db_open_at(path, path, flags, out, err, errlen);
}

/*
 * The read-only connection. With no write-ahead log holding data (no writer
 * at work, none killed midway), the file is opened immutable: no lock, no
 * -wal or -shm is made, so a database on a read-only place (a mount, a
 * directory of someone else's) can be read and nothing is left beside it.
 * Otherwise the log must be read, through its -shm index, which SQLite has to
 * be able to create and write.
 */
static int open_for_reading(const char *path, sqlite3 **out, char *err, size_t errlen)
{
    char *uri;
    int ret;

    if (store_file_wal_has_data(path))
        return db_open(path, SQLITE_OPEN_READONLY, out, err, errlen);
    uri = store_file_uri(path, "immutable=1");
    if (!uri) {
        store_set_err(err, errlen, "%s: out of memory", path);
        return TW_ERR_NOMEM;
    }
    ret = db_open_at(path, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, out, err, errlen);
    sqlite3_free(uri);
    return ret;
}

int store_open_readonly(const char *path, struct sqlite3 **out, char *err, size_t errlen)
{
    struct db_class cls;
    sqlite3 *db = NULL;
    struct stat sb;
    int rc, ret = STORE_RETRY;

    *out = NULL;
    if (!path || !*path) {
        store_set_err(err, errlen, "no database path given");
        return TW_ERR_USAGE;
    }
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        store_set_err(err, errlen, "%s: no such database", path);
        return TW_ERR_IO;
    }
    for (int tries = 0; ret == STORE_RETRY; tries++) {
        if (tries == STORE_OPEN_TRIES) {
            store_set_err(err, errlen, "%s: changed while being opened; try again", path);
            return TW_ERR_DB;
        }
        ret = db_classify(path, &cls, err, errlen);
        if (ret == 0 && (cls.kind == DBK_NEW || cls.kind == DBK_EMPTY)) {
            store_set_err(err, errlen, "%s: empty database, not written by twscope", path);
            ret = TW_ERR_SCHEMA;
        }
        if (ret == 0)
            ret = refuse(&cls, path, 0, err, errlen);
        if (ret)
            return ret;
        ret = open_for_reading(path, &db, err, errlen);
        if (ret)
            return ret;
        ret = check_ours(db, cls.app_id, path, 0, err, errlen);
        if (ret) {
            sqlite3_close(db);
            db = NULL;
        }
    }
    if (ret)
        return ret;
    rc = sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        ret = probe_error(db, rc, path, err, errlen);
        sqlite3_close(db);
        return ret;
    }
    *out = db;
    return 0;
}

/*
 * Connection settings of the writer; journal_mode = WAL writes, so only on our
 * files. The rows go in rowid order and the indexes are built at the end, so
 * a 2 MB page cache (SQLite's default) is as fast on trace-2m as 64 MB was
 * (the page an update needs again comes from the OS page cache) and 32 MB
 * smaller (bench/RESULTS.md, session 8).
 */
static int db_settings(sqlite3 *db)
{
    return sqlite3_exec(db,
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -2048;"
                        " PRAGMA wal_autocheckpoint = 16384;"
                        " PRAGMA foreign_keys = OFF",
                        NULL, NULL, NULL);
}

/*
 * Make path (DBK_NEW or DBK_EMPTY) a twscope database: under the write lock,
 * if it is still empty, set our application_id, create the tables and set
 * the user_version in one transaction (rollback journal), then go to WAL
 * mode. STORE_RETRY when another process got there first.
 */
static int create_new(const char *path, sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    struct db_info di = {0};
    int rc, ret, in_txn = 0;

    *out = NULL;
    ret = db_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, &db, err,
                  errlen);
    if (ret)
        return ret;
    if (sqlite3_db_readonly(db, "main") == 1) {
        store_set_err(err, errlen, "%s: cannot open database: file is not writable", path);
        ret = TW_ERR_IO;
        goto fail;
    }
    /* 16 KB pages (fewer B-tree pages to split and write per row, 5% faster
     * here than the default 4 KB), taken only by a file not written yet: the
     * size cannot change once in WAL mode */
    rc = sqlite3_exec(db, "PRAGMA page_size = " STR(STORE_PAGE_SIZE) "; BEGIN IMMEDIATE", NULL, NULL,
                      NULL);
    if (rc != SQLITE_OK)
        goto fail_probe;
    in_txn = 1;
    rc = db_info_read(db, &di);
    if (rc != SQLITE_OK)
        goto fail_probe;
    if (di.objects || di.version || di.app_id) {
        ret = STORE_RETRY;      /* another process made it meanwhile */
        goto fail;
    }
    rc = sqlite3_exec(db, "PRAGMA application_id = " STR(TWSCOPE_APPLICATION_ID), NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = schema_create(db, TWSCOPE_SCHEMA_VERSION);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA user_version = " STR(TWSCOPE_SCHEMA_VERSION) "; COMMIT", NULL,
                          NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail_probe;
    in_txn = 0;
    rc = db_settings(db);
    if (rc != SQLITE_OK)
        goto fail_probe;
    *out = db;
    return 0;

fail_probe:
    ret = probe_error(db, rc, path, err, errlen);
fail:
    if (in_txn)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return ret;
}

/*
 * Open path (DBK_OURS) for writing: its version and tables are checked before
 * anything is written, then again under the write lock, where overwrite
 * deletes every row. STORE_RETRY when it is no longer ours.
 */
static int open_ours(const char *path, int overwrite, sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc, ret, in_txn = 0;

    *out = NULL;
    ret = db_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, &db, err, errlen);
    if (ret)
        return ret;
    ret = check_ours(db, TWSCOPE_APPLICATION_ID, path, 1, err, errlen);
    if (ret)
        goto fail;
    if (sqlite3_db_readonly(db, "main") == 1) {
        store_set_err(err, errlen, "%s: cannot open database: file is not writable", path);
        ret = TW_ERR_IO;
        goto fail;
    }
    rc = db_settings(db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail_probe;
    in_txn = 1;
    ret = check_ours(db, TWSCOPE_APPLICATION_ID, path, 1, err, errlen);
    if (ret)
        goto fail;
    rc = overwrite ? sqlite3_exec(db, wipe_sql, NULL, NULL, NULL) : SQLITE_OK;
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail_probe;
    *out = db;
    return 0;

fail_probe:
    ret = probe_error(db, rc, path, err, errlen);
fail:
    if (in_txn)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return ret;
}

int store_file_open_write(const char *path, int overwrite, sqlite3 **out, char *err, size_t errlen)
{
    struct db_class cls;
    int ret = STORE_RETRY;

    *out = NULL;
    if (!path || !*path) {
        store_set_err(err, errlen, "no database path given");
        return TW_ERR_USAGE;
    }
    /* Look before touching anything: a database not ours is left as it was. */
    for (int tries = 0; ret == STORE_RETRY; tries++) {
        if (tries == STORE_OPEN_TRIES) {
            store_set_err(err, errlen, "%s: changed while being opened; try again", path);
            return TW_ERR_DB;
        }
        ret = db_classify(path, &cls, err, errlen);
        if (ret == 0)
            ret = refuse(&cls, path, 1, err, errlen);
        if (ret)
            return ret;
        if (cls.kind == DBK_OURS)
            ret = open_ours(path, overwrite, out, err, errlen);
        else
            ret = create_new(path, out, err, errlen);
    }
    return ret;
}
