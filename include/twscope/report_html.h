/*
 * report_html.h -- `twscope report`: one self-contained HTML file per database.
 *
 * The file needs nothing but a browser: CSS is inline, every chart is an
 * inline SVG drawn here, and a Content-Security-Policy meta tag forbids any
 * fetch (no fonts, images, scripts or styles from elsewhere). A few lines of
 * inline JavaScript add "copy" buttons to the Wireshark filters; without
 * JavaScript the filters are still selectable with one click (user-select).
 *
 * Every aggregate is computed in SQL (the `ports` and `timeline` reports of
 * report.h, grouped counts for the rest), so the size of the page depends on
 * the caps below, not on the size of the database: charts have at most about
 * REPORT_TIMELINE_BUCKETS bars or steps, tables are cut and say so.
 *
 * Every string that comes from the database (file names, addresses,
 * application names, finding details) is HTML-escaped, and invalid UTF-8 is
 * replaced by U+FFFD, so a hostile capture cannot inject markup.
 *
 * Thread: the main thread of `twscope report` (read-only connection).
 */
#ifndef TWSCOPE_REPORT_HTML_H
#define TWSCOPE_REPORT_HTML_H

#include <stdio.h>

#include "twscope/report.h"

#define REPORT_HTML_DEFAULT_PATH "twscope-report.html"
#define REPORT_HTML_MAX_FINDINGS 5000 /* rows of the findings table */
#define REPORT_HTML_MAX_CHARTED 6     /* captures given their own time charts */
#define REPORT_HTML_TOP 25            /* rows of the top endpoints/applications tables */
#define REPORT_HTML_MAX_PORT_ROWS 50  /* rows of each port exhaustion table */
#define REPORT_HTML_MAX_CAPTURES 500  /* rows of the captures table */

/*
 * Write the report of database db_path to out_path ("-" = standard output).
 * A file is written under a temporary name next to out_path and renamed when
 * complete, so a failed run leaves no half-written report. An existing
 * out_path is replaced only when it is empty or a twscope report (it begins
 * with the marker comment every report carries on its second line, or as
 * reports did before the marker); any other file, directory, symbolic link
 * or device is left as it is (TW_ERR_IO, "report: PATH: exists and is not a
 * twscope report; left as it is, use another -o"). opts (NULL = defaults)
 * gives the ephemeral port range of the port exhaustion table.
 * Returns 0, or a TW_ERR_* with a one-line message printed to err.
 */
int report_html_write(const char *db_path, const char *out_path, const struct report_opts *opts,
                      FILE *err);

#endif /* TWSCOPE_REPORT_HTML_H */
