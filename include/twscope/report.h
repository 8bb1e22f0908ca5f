/*
 * report.h -- `twscope query`: built-in reports and raw SQL over a database.
 *
 * The database is opened read-only (SQLITE_OPEN_READONLY, plus PRAGMA
 * query_only), so `query sql` cannot modify it. Output formats:
 *   table -- aligned columns for a terminal,
 *   csv   -- RFC 4180 (CRLF line ends, quotes doubled, header row),
 *   json  -- an array of objects with typed values (numbers stay numbers,
 *            NULL is null).
 */
#ifndef TWSCOPE_REPORT_H
#define TWSCOPE_REPORT_H

#include <stdio.h>

enum report_format { REPORT_TABLE, REPORT_CSV, REPORT_JSON };

/*
 * Run report `name` ("summary", "connections", "timewaits", "findings",
 * "reuse", or "sql" with arg = the statement) on database `path`, printing to
 * out. Returns 0, or a TW_ERR_* with a one-line message printed to err.
 */
int report_run(const char *path, const char *name, const char *arg, enum report_format fmt,
               FILE *out, FILE *err);

/* Parse "table"/"csv"/"json"; -1 if unknown. */
int report_parse_format(const char *s);

#endif /* TWSCOPE_REPORT_H */
