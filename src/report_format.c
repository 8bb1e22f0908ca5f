/*
 * report_format.c -- how `twscope query` prints: any sqlite3_stmt as an
 * aligned table (the summary report as sections), as CSV (RFC 4180) or as
 * JSON (report_emit()), and the UTF-8 check the HTML report shares
 * (report_utf8_len()).
 *
 * The table printer buffers the whole result (column widths depend on every
 * row); CSV and JSON stream row by row. The first row is fetched before any
 * output, so a statement that fails at once (a write on the read-only
 * connection) prints nothing but its error.
 *
 * Thread: the main thread of `twscope query` (report_run_opts());
 * report_utf8_len() also that of `twscope report`.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "twscope/common.h"
#include "twscope/report.h"

#include "report_int.h"

/* ---- value rendering ---- */

/* Shortest %g that reads back as the same double (JSON, CSV). */
static void fmt_real_exact(char *buf, size_t n, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
}

/* Table display: times/seconds to the microsecond, milliseconds to 3 places. */
static void fmt_real_table(char *buf, size_t n, double v, const char *col)
{
    size_t len = col ? strlen(col) : 0;

    if (!isfinite(v) || fabs(v) >= 1e15)
        snprintf(buf, n, "%g", v);
    else if (len >= 3 && strcmp(col + len - 3, "_ms") == 0)
        snprintf(buf, n, "%.3f", v);
    else if (len >= 4 && strcmp(col + len - 4, "_pct") == 0)
        snprintf(buf, n, "%.3f", v);
    else
        snprintf(buf, n, "%.6f", v);
}

/*
 * A column holding an instant (seconds since the epoch): "ts", "*_ts",
 * "bucket_start", "started_at". --utc / --local show those as dates.
 */
static int is_time_col(const char *col)
{
    size_t len = col ? strlen(col) : 0;

    return len && (strcmp(col, "ts") == 0 || (len > 3 && strcmp(col + len - 3, "_ts") == 0) ||
                   strcmp(col, "bucket_start") == 0 || strcmp(col, "started_at") == 0);
}

/*
 * v as a date in mode (REPORT_TIME_UTC / _LOCAL), to the microsecond: for a
 * table "2026-11-27 13:38:24.198019 UTC" (or "+0100"), else ISO 8601
 * "2026-11-27T13:38:24.198019Z" (or "+01:00"). 0, or -1 if v is no date.
 */
static int fmt_time(char *buf, size_t n, double v, int mode, int for_table)
{
    double whole = floor(v);
    long us = lround((v - whole) * 1e6);
    time_t t;
    struct tm tm;
    char day[40], zone[16];

    if (!isfinite(v) || v < 0 || v > 253402300799.0)
        return -1;
    if (us >= 1000000) {
        us -= 1000000;
        whole += 1;
    }
    t = (time_t)whole;
    if (mode == REPORT_TIME_LOCAL ? !localtime_r(&t, &tm) : !gmtime_r(&t, &tm))
        return -1;
    strftime(day, sizeof day, for_table ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%dT%H:%M:%S", &tm);
    if (mode == REPORT_TIME_UTC)
        snprintf(zone, sizeof zone, "%s", for_table ? " UTC" : "Z");
    else {
        long off = tm.tm_gmtoff, a = off < 0 ? -off : off;
        snprintf(zone, sizeof zone, for_table ? " %c%02ld%02ld" : "%c%02ld:%02ld",
                 off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
    }
    snprintf(buf, n, "%s.%06ld%s", day, us, zone);
    return 0;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char *hex_blob(const unsigned char *b, int n)
{
    static const char digits[] = "0123456789abcdef";
    char *p = malloc((size_t)n * 2 + 1);

    if (!p)
        return NULL;
    for (int i = 0; i < n; i++) {
        p[2 * i] = digits[b[i] >> 4];
        p[2 * i + 1] = digits[b[i] & 15];
    }
    p[2 * n] = '\0';
    return p;
}

/*
 * Column i of the current row as a malloc'd string (the caller frees it), or
 * NULL with *isnull set for SQL NULL. Reals use the table or the exact form.
 * Returns 0, or TW_ERR_NOMEM.
 */
static int cell_string(sqlite3_stmt *s, int i, int for_table, int time_mode, const char *name,
                       char **out, int *isnull)
{
    char num[64];
    const char *src = num;
    size_t len;

    *out = NULL;
    *isnull = 0;
    switch (sqlite3_column_type(s, i)) {
    case SQLITE_NULL:
        *isnull = 1;
        return 0;
    case SQLITE_INTEGER:
        snprintf(num, sizeof num, "%lld", (long long)sqlite3_column_int64(s, i));
        len = strlen(num);
        break;
    case SQLITE_FLOAT:
        if (time_mode && is_time_col(name ? name : sqlite3_column_name(s, i)) &&
            fmt_time(num, sizeof num, sqlite3_column_double(s, i), time_mode, for_table) == 0)
            ;
        else if (for_table)
            fmt_real_table(num, sizeof num, sqlite3_column_double(s, i),
                           sqlite3_column_name(s, i));
        else
            fmt_real_exact(num, sizeof num, sqlite3_column_double(s, i));
        len = strlen(num);
        break;
    case SQLITE_BLOB: {
        const void *b = sqlite3_column_blob(s, i);
        *out = hex_blob(b, sqlite3_column_bytes(s, i));
        return *out ? 0 : TW_ERR_NOMEM;
    }
    default:
        src = (const char *)sqlite3_column_text(s, i);
        len = (size_t)sqlite3_column_bytes(s, i);
        if (!src)
            return TW_ERR_NOMEM;
        break;
    }
    *out = xstrndup(src, len);
    return *out ? 0 : TW_ERR_NOMEM;
}

/* Terminal columns taken by s: UTF-8 code points (not bytes). */
static size_t display_width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

/* Control characters would break the table layout: show them as spaces. */
static void sanitize_for_table(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

static void pad(FILE *out, size_t n)
{
    while (n--)
        fputc(' ', out);
}

/* ---- table ---- */

/* A buffered result: ncol names, then rows of ncol cells (NULL = SQL NULL). */
struct rows {
    int ncol;
    char **names;                    /* ncol column names */
    char **cells;                    /* nrows * ncol, row-major */
    size_t nrows, cap;               /* rows held / allocated */
    int *numeric;                    /* per column: no TEXT/BLOB value seen */
};

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->nrows * (size_t)r->ncol; i++)
        free(r->cells[i]);
    if (r->names)
        for (int c = 0; c < r->ncol; c++)
            free(r->names[c]);
    free(r->cells);
    free(r->names);
    free(r->numeric);
}

/*
 * Read every row of s into r, starting from a row already stepped (*rc is the
 * result of that step). Leaves the final step result in *rc. Returns 0 or
 * TW_ERR_NOMEM.
 */
static int rows_load(struct rows *r, sqlite3_stmt *s, int *rc, int time_mode, int sections)
{
    int ncol = sqlite3_column_count(s);

    memset(r, 0, sizeof *r);
    r->ncol = ncol;
    r->names = calloc((size_t)ncol + 1, sizeof *r->names);
    r->numeric = calloc((size_t)ncol + 1, sizeof *r->numeric);
    if (!r->names || !r->numeric)
        return TW_ERR_NOMEM;
    for (int c = 0; c < ncol; c++) {
        const char *name = sqlite3_column_name(s, c);
        r->names[c] = xstrndup(name ? name : "", name ? strlen(name) : 0);
        if (!r->names[c])
            return TW_ERR_NOMEM;
        sanitize_for_table(r->names[c]);
        r->numeric[c] = 1;
    }
    for (; *rc == SQLITE_ROW; *rc = sqlite3_step(s)) {
        if (r->nrows == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 64;
            char **cells = realloc(r->cells, cap * (size_t)ncol * sizeof *cells + 1);
            if (!cells)
                return TW_ERR_NOMEM;
            r->cells = cells;
            r->cap = cap;
        }
        char **row = &r->cells[r->nrows * (size_t)ncol];
        /* The row counts before it is filled, so rows_free() sees every cell. */
        for (int c = 0; c < ncol; c++)
            row[c] = NULL;
        r->nrows++;
        for (int c = 0; c < ncol; c++) {
            char **cell = &row[c];
            int type = sqlite3_column_type(s, c), isnull;
            /* the summary's values are named by their key (column 1) */
            const char *name = sections && c == 2 ? (const char *)sqlite3_column_text(s, 1) : NULL;
            if (cell_string(s, c, 1, time_mode, name, cell, &isnull))
                return TW_ERR_NOMEM;
            if (type == SQLITE_TEXT || type == SQLITE_BLOB)
                r->numeric[c] = 0;
            if (*cell)
                sanitize_for_table(*cell);
        }
    }
    return 0;
}

#define TABLE_NULL "-"

static int print_table(FILE *out, const struct rows *r)
{
    size_t *w = calloc((size_t)r->ncol + 1, sizeof *w);

    if (!w)
        return TW_ERR_NOMEM;
    for (int c = 0; c < r->ncol; c++)
        w[c] = display_width(r->names[c]);
    for (size_t i = 0; i < r->nrows; i++)
        for (int c = 0; c < r->ncol; c++) {
            const char *v = r->cells[i * (size_t)r->ncol + (size_t)c];
            size_t vw = display_width(v ? v : TABLE_NULL);
            if (vw > w[c])
                w[c] = vw;
        }

    /* header, rule, rows; numeric columns right-aligned, no trailing blanks */
    for (size_t line = 0; line < r->nrows + 2; line++) {
        for (int c = 0; c < r->ncol; c++) {
            const char *v;
            size_t vw;
            int last = c == r->ncol - 1;
            if (line == 0)
                v = r->names[c];
            else if (line == 1)
                v = NULL;
            else
                v = r->cells[(line - 2) * (size_t)r->ncol + (size_t)c];
            if (c > 0)
                fputs("  ", out);
            if (line == 1) {
                for (size_t k = 0; k < w[c]; k++)
                    fputc('-', out);
                continue;
            }
            if (!v)
                v = TABLE_NULL;
            vw = display_width(v);
            if (r->numeric[c]) {
                pad(out, w[c] - vw);
                fputs(v, out);
            } else {
                fputs(v, out);
                if (!last)
                    pad(out, w[c] - vw);
            }
        }
        fputc('\n', out);
    }
    if (r->nrows == 0)
        fputs("(no rows)\n", out);
    free(w);
    return 0;
}

/*
 * Summary rows (section, key, value) as sections:
 *   capture 1
 *     packets      1234
 */
static void print_sections(FILE *out, const struct rows *r)
{
    size_t i = 0;

    if (r->ncol != 3)
        return;
    while (i < r->nrows) {
        const char *section = r->cells[i * 3] ? r->cells[i * 3] : "";
        size_t end = i, kw = 0;
        while (end < r->nrows) {
            const char *s = r->cells[end * 3] ? r->cells[end * 3] : "";
            const char *k = r->cells[end * 3 + 1] ? r->cells[end * 3 + 1] : "";
            if (strcmp(s, section) != 0)
                break;
            if (display_width(k) > kw)
                kw = display_width(k);
            end++;
        }
        if (i > 0)
            fputc('\n', out);
        fprintf(out, "%s\n", section);
        for (; i < end; i++) {
            const char *k = r->cells[i * 3 + 1] ? r->cells[i * 3 + 1] : "";
            const char *v = r->cells[i * 3 + 2] ? r->cells[i * 3 + 2] : TABLE_NULL;
            fprintf(out, "  %s", k);
            pad(out, kw - display_width(k) + 2);
            fprintf(out, "%s\n", v);
        }
    }
}

/* ---- CSV (RFC 4180) ---- */

static void csv_field(FILE *out, const char *s, size_t n)
{
    int quote = 0;

    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n') {
            quote = 1;
            break;
        }
    if (!quote) {
        fwrite(s, 1, n, out);
        return;
    }
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            fputc('"', out);
        fputc(s[i], out);
    }
    fputc('"', out);
}

static int print_csv(FILE *out, sqlite3_stmt *s, int *rc, int time_mode)
{
    int ncol = sqlite3_column_count(s);

    for (int c = 0; c < ncol; c++) {
        const char *name = sqlite3_column_name(s, c);
        if (c)
            fputc(',', out);
        csv_field(out, name ? name : "", name ? strlen(name) : 0);
    }
    fputs("\r\n", out);
    for (; *rc == SQLITE_ROW; *rc = sqlite3_step(s)) {
        for (int c = 0; c < ncol; c++) {
            char *v;
            int isnull;
            if (c)
                fputc(',', out);
            if (cell_string(s, c, 0, time_mode, NULL, &v, &isnull))
                return TW_ERR_NOMEM;
            if (v)
                csv_field(out, v, strlen(v));
            free(v);
        }
        fputs("\r\n", out);
    }
    return 0;
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
int report_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    int len;
    unsigned lo = 0x80, hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if ((size_t)len > n)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (int k = 2; k < len; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* A JSON string literal; invalid UTF-8 bytes become U+FFFD. */
static void json_string(FILE *out, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    fputc('"', out);
    while (i < n) {
        unsigned c = s[i];
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc((int)c, out);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            fputc((int)c, out);
            i++;
        } else {
            int len = report_utf8_len(s + i, n - i);
            if (len) {
                fwrite(s + i, 1, (size_t)len, out);
                i += (size_t)len;
            } else {
                fputs("\\ufffd", out);
                i++;
            }
        }
    }
    fputc('"', out);
}

/* 1 if text is a JSON object SQLite accepts (json_valid), so it can go in raw. */
static int is_json_object(sqlite3_stmt *valid, const char *text, int n)
{
    int ok = 0;

    if (!valid || n < 2 || text[0] != '{')
        return 0;
    if (sqlite3_bind_text(valid, 1, text, n, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(valid) == SQLITE_ROW)
        ok = sqlite3_column_int(valid, 0) == 1;
    sqlite3_reset(valid);
    sqlite3_clear_bindings(valid);
    return ok;
}

static int print_json(FILE *out, sqlite3 *db, sqlite3_stmt *s, int *rc, int time_mode)
{
    int ncol = sqlite3_column_count(s);
    sqlite3_stmt *valid = NULL;
    size_t row = 0;

    /* Without it, detail is printed as a plain string: still valid JSON. */
    if (sqlite3_prepare_v2(db, "SELECT json_valid(?1)", -1, &valid, NULL) != SQLITE_OK)
        valid = NULL;
    fputc('[', out);
    for (; *rc == SQLITE_ROW; *rc = sqlite3_step(s), row++) {
        fputs(row ? ",\n{" : "\n{", out);
        for (int c = 0; c < ncol; c++) {
            const char *name = sqlite3_column_name(s, c);
            char num[64];
            if (c)
                fputs(", ", out);
            json_string(out, name ? name : "", name ? strlen(name) : 0);
            fputs(": ", out);
            switch (sqlite3_column_type(s, c)) {
            case SQLITE_NULL:
                fputs("null", out);
                break;
            case SQLITE_INTEGER:
                fprintf(out, "%lld", (long long)sqlite3_column_int64(s, c));
                break;
            case SQLITE_FLOAT: {
                double v = sqlite3_column_double(s, c);
                if (!isfinite(v)) {
                    fputs("null", out);
                    break;
                }
                if (time_mode && is_time_col(name) &&
                    fmt_time(num, sizeof num, v, time_mode, 0) == 0) {
                    json_string(out, num, strlen(num));
                    break;
                }
                fmt_real_exact(num, sizeof num, v);
                fputs(num, out);
                break;
            }
            case SQLITE_BLOB: {
                char *hex = hex_blob(sqlite3_column_blob(s, c), sqlite3_column_bytes(s, c));
                if (!hex) {
                    sqlite3_finalize(valid);
                    return TW_ERR_NOMEM;
                }
                json_string(out, hex, strlen(hex));
                free(hex);
                break;
            }
            default: {
                const char *t = (const char *)sqlite3_column_text(s, c);
                int n = sqlite3_column_bytes(s, c);
                if (!t) {
                    sqlite3_finalize(valid);
                    return TW_ERR_NOMEM;
                }
                if (name && strcmp(name, "detail") == 0 && is_json_object(valid, t, n))
                    fwrite(t, 1, (size_t)n, out);
                else
                    json_string(out, t, (size_t)n);
                break;
            }
            }
        }
        fputc('}', out);
    }
    fputs(row ? "\n]\n" : "]\n", out);
    sqlite3_finalize(valid);
    return 0;
}

/* ---- a statement, in the format asked ---- */

int report_emit(FILE *out, FILE *err, sqlite3 *db, sqlite3_stmt *s, enum report_format fmt,
                int sections, int time_mode)
{
    struct rows r;
    int rc, ret = 0;

    /* Fetch the first row before printing anything. */
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto sqlerr;
    if (sqlite3_column_count(s) == 0) {
        /* A statement without a result set (a pragma setting): run it out. */
        while (rc == SQLITE_ROW)
            rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            return 0;
        goto sqlerr;
    }
    switch (fmt) {
    case REPORT_TABLE:
        ret = rows_load(&r, s, &rc, time_mode, sections);
        if (ret == 0 && rc == SQLITE_DONE) {
            if (sections)
                print_sections(out, &r);
            else
                ret = print_table(out, &r);
        }
        rows_free(&r);
        break;
    case REPORT_CSV:
        ret = print_csv(out, s, &rc, time_mode);
        break;
    case REPORT_JSON:
        ret = print_json(out, db, s, &rc, time_mode);
        break;
    }
    if (ret) {
        fprintf(err, "twscope: query: out of memory\n");
        return ret;
    }
    if (rc == SQLITE_DONE)
        return 0;
sqlerr:
    fprintf(err, "twscope: query: %s\n", sqlite3_errmsg(db));
    return (rc & 0xff) == SQLITE_NOMEM ? TW_ERR_NOMEM : TW_ERR_DB;
}
