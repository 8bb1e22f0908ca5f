/*
 * report_int.h -- what report.c shares with report_format.c, its printer.
 * Only src/report*.c include it.
 *
 * Thread: the main thread of `twscope query`.
 */
#ifndef TWSCOPE_REPORT_INT_H
#define TWSCOPE_REPORT_INT_H

#include <stdio.h>

#include <sqlite3.h>

#include "twscope/report.h"

/*
 * Print the result of s, not stepped yet, to out in format fmt (sections: the
 * summary's table layout). The first row is fetched before anything is
 * printed, so a statement that fails at once prints only its error. time_mode
 * (REPORT_TIME_*) shows the instants of time columns as dates. s stays
 * the caller's. Returns 0, or a TW_ERR_* with a one-line message printed to
 * err.
 */
int report_emit(FILE *out, FILE *err, sqlite3 *db, sqlite3_stmt *s, enum report_format fmt,
                int sections, int time_mode);

#endif /* TWSCOPE_REPORT_INT_H */
